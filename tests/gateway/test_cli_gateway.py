"""`echonet gateway` as a process against openleadr's VTN, and `echonet gateway status` on its state file."""

from __future__ import annotations

import asyncio
import json
import random
import signal
import socket
import subprocess
import sys
import urllib.request
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from echonet.aio import Endpoints, run
from echonet.cli import main
from echonet.drready.clock import SimClock, sim_time
from echonet.drready.host import SimHost
from echonet.drready.sim import simulated_device
from echonet.gateway.timeline import JST
from echonet.node.config import NodeConfig

from ..conftest import ROOT
from .home import until

pytest.importorskip("openleadr", reason="openleadr is not installed (pip install -e '.[test]')")
pytestmark = pytest.mark.timeout(120)


def test_the_gateway_command_runs_an_event_and_stops_cleanly_with_the_device_back_in_its_mode(tmp_path: Path) -> None:
    from echonet.gateway.vtn import LocalVtn, Signal

    state = tmp_path / "gateway.json"

    async def go() -> dict[str, object]:
        now = datetime.now(JST).replace(tzinfo=None)
        clock = SimClock(sim_time(now), 1.0)  # a real gateway runs on the machine's clock: so do these devices
        battery = simulated_device("battery", 1, clock=clock)
        ip = f"127.0.{random.randint(20, 250)}.11"
        host = await SimHost.open(
            [battery], Endpoints(bind_v4=ip, port=0), clock=clock, config=NodeConfig(multicast_v6=None)
        )
        vtn = LocalVtn()
        await vtn.start()
        start = datetime.now(UTC) + timedelta(seconds=2)
        vtn.add_event([Signal("LOAD_DISPATCH", "setpoint", ((start, timedelta(minutes=10), 900.0),))], event_id="cli")
        address = f"{ip}:{host.address()[1]}"
        status_port = free_port()
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "echonet", "gateway", "--vtn", vtn.url, "--ven", "cli-test",
            "--target", address, "--bind", ip.rsplit(".", 1)[0] + ".10", "--state", str(state), "--json",
            "--status-port", str(status_port),
            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        )  # fmt: skip
        try:
            model = battery.model

            def mode() -> int:
                model.advance_to(clock.now())
                return int(model.mode)

            await until(lambda: mode() == 0x42, 30, "the battery charging")
            assert model.charge_power_w == 900
            await until(lambda: vtn.record.responses.get("cli") == "optIn", 10)
            # the status over HTTP on loopback (a real request) is the document 'status --json' prints
            served = await asyncio.to_thread(http_status, status_port)
            for _ in range(100):  # live: the VEN's registration (its reports) as it stands now
                if served["vtn"].startswith("registered"):
                    break
                await asyncio.sleep(0.1)
                served = await asyncio.to_thread(http_status, status_port)
            assert served["vtn"].startswith("registered")
            saved = await asyncio.to_thread(status_json, state)
            assert set(served) == set(saved) == {"time", "vtn", "devices", "events", "reports_sent"}
            assert [d["resource_id"] for d in served["devices"]] == [d["resource_id"] for d in saved["devices"]]
            [ev] = served["events"]
            assert ev["event_id"] == "cli"
            same = ("event_id", "modification_number", "status", "start", "end", "asks", "signals")
            assert {k: ev[k] for k in same} == {k: saved["events"][0][k] for k in same}
            [device_run] = ev["devices"].values()
            assert device_run["opt"] == "optIn" and device_run["state"] == "executing"
            proc.send_signal(signal.SIGINT)  # the gateway stops: the running DR ends, the battery back in auto
            out, err = await asyncio.wait_for(proc.communicate(), 30)
            assert proc.returncode == 0, err.decode()
            assert err.decode() == ""
            assert mode() == 0x46
            return json.loads(out.decode().splitlines()[-1])
        finally:
            if proc.returncode is None:
                proc.kill()
            await vtn.stop()
            await host.close()

    status = run(go())
    [event] = status["events"]  # type: ignore[misc]
    assert event["event_id"] == "cli" and event["signals"] == ["LOAD_DISPATCH"]
    [device_run] = event["devices"].values()
    assert device_run["opt"] == "optIn" and device_run["state"] == "cancelled"
    # ... and the state file tells the same, in text and JSON
    done = subprocess.run(
        [sys.executable, "-m", "echonet", "gateway", "status", "--state", str(state), "--json"],
        cwd=ROOT, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    saved = json.loads(done.stdout)
    assert saved["events"][0]["event_id"] == "cli" and saved["devices"][0]["kind"] == "battery"
    text = subprocess.run(
        [sys.executable, "-m", "echonet", "gateway", "status", "--state", str(state)],
        cwd=ROOT, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert "cli (mod 0)" in text.stdout and "battery" in text.stdout


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def http_status(port: int) -> dict[str, Any]:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/status", timeout=10) as answer:
        assert answer.status == 200 and answer.headers["Content-Type"].startswith("application/json")
        return dict(json.loads(answer.read()))


def status_json(state: Path) -> dict[str, Any]:
    done = subprocess.run(
        [sys.executable, "-m", "echonet", "gateway", "status", "--state", str(state), "--json"],
        cwd=ROOT, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    return dict(json.loads(done.stdout))


def test_a_gateway_process_killed_mid_event_leaves_the_battery_to_its_own_mode_and_a_restart_ends_it_safely(
    tmp_path: Path,
) -> None:
    """SIGKILL, no clean-up: the battery's DR lapses by itself (0xF0 not renewed; the devices run at x600, so its 30
    minutes are 3 s); the water heater's 0xB0 has no fall-back, and the gateway restarted on the same state file
    after the event's end writes it back."""
    from echonet.gateway.vtn import LocalVtn, Signal

    state = tmp_path / "gateway.json"

    async def go() -> None:
        clock = SimClock(sim_time(datetime.now(JST).replace(tzinfo=None)), 600.0)
        battery = simulated_device("battery", 1, clock=clock)
        heater = simulated_device("water_heater", 1, clock=clock)
        base = f"127.0.{random.randint(20, 250)}."
        hosts = [
            await SimHost.open(
                [device], Endpoints(bind_v4=base + str(11 + i), port=0), clock=clock,
                config=NodeConfig(multicast_v6=None), tick_interval=0.05,
            )
            for i, device in enumerate((battery, heater))
        ]  # fmt: skip
        vtn = LocalVtn()
        await vtn.start()
        config = tmp_path / "gateway.toml"
        targets = ", ".join(f'"{h.address()[0]}:{h.address()[1]}"' for h in hosts)
        config.write_text(
            f'vtn_url = "{vtn.url}"\nven_name = "kill-test"\ntargets = [{targets}]\nbind = "{base}10"\n'
            f'state_file = "{state}"\npoll_interval = 1\nrenew_interval = 1\nwatchdog_s = 36000\n'
        )

        def value(device: Any, epc: int) -> Any:
            device.model.advance_to(clock.now())
            return device.model.value(epc)

        async def gateway(*extra: str) -> asyncio.subprocess.Process:
            return await asyncio.create_subprocess_exec(
                sys.executable, "-m", "echonet", "gateway", "--config", str(config), "--json", *extra,
                cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            )  # fmt: skip

        start = datetime.now(UTC) + timedelta(seconds=3)
        length = timedelta(seconds=25)
        vtn.add_event(
            [
                Signal("LOAD_DISPATCH", "setpoint", ((start, length, -1000.0),)),
                Signal("SIMPLE", "level", ((start, length, 1.0),)),
            ],
            event_id="kill",
        )
        procs: list[asyncio.subprocess.Process] = []
        try:
            procs.append(await gateway())
            await until(lambda: value(battery, 0xDA) == "discharging", 30, "the battery discharging")
            await until(lambda: value(heater, 0xB0) == "manualNoHeating", 10, "the heater stopped")
            assert value(battery, 0xF2) == "active"
            procs[0].kill()  # SIGKILL mid-event: no clean-up writes
            await procs[0].wait()
            assert procs[0].returncode == -signal.SIGKILL
            # the battery's DR lapses (not renewed within 0xF0): back to its pre-DR (and own) mode, auto
            await until(lambda: value(battery, 0xF2) == "inactive", 15, "the battery's DR lapsing")
            assert value(battery, 0xDA) == "auto"
            assert value(heater, 0xB0) == "manualNoHeating"  # no fall-back on the device
            saved = json.loads(state.read_text())
            assert saved["events"][0]["event_id"] == "kill"
            # the event ends while the gateway is down; the restarted one (same state file) ends it safely
            end = start + length
            await asyncio.sleep(max(0.0, (end - datetime.now(UTC)).total_seconds()) + 0.5)
            procs.append(await gateway("--duration", "6"))
            out, err = await asyncio.wait_for(procs[1].communicate(), 60)
            assert procs[1].returncode == 0, err.decode()
            assert value(heater, 0xB0) == "auto" and value(battery, 0xDA) == "auto"
            status = json.loads(out.decode().splitlines()[-1])
            [event] = status["events"]
            assert event["event_id"] == "kill" and event["status"] == "completed"
            assert {r["state"] for r in event["devices"].values()} == {"completed"}
        finally:
            for proc in procs:
                if proc.returncode is None:
                    proc.kill()
                    await proc.wait()
            await vtn.stop()
            for host in hosts:
                await host.close()

    run(go())


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["gateway", "--ven", "x"], "needs the VTN's URL"),
        (["gateway", "status"], "needs --state FILE"),
        (["gateway", "status", "--state", "/nonexistent/gw.json"], "cannot read the state file"),
        (["gateway", "--config", "/nonexistent/gateway.toml"], "cannot read config"),
    ],
)
def test_bad_usage_is_one_line(argv: list[str], message: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(argv) in (1, 2)
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err and len(err.strip().splitlines()) == 1


def test_a_toml_config_is_read(tmp_path: Path) -> None:
    from echonet.gateway.service import load_config

    path = tmp_path / "gateway.toml"
    path.write_text(
        'vtn_url = "http://127.0.0.1:8080/OpenADR2/Simple/2.0b"\nven_name = "home-1"\n'
        'targets = ["127.0.0.2", "127.0.0.3:3611"]\nconsent = ["127.0.0.2"]\npoll_interval = 120\n'
        'backup_reserve_wh = 3000\nstate_file = "gw.json"\n[openadr]\nvtn_fingerprint = "AA:BB"\n'
    )
    config = load_config(path, ven_name="override")
    assert config.ven.vtn_url.endswith("/2.0b") and config.ven.ven_name == "override"
    assert config.ven.vtn_fingerprint == "AA:BB" and config.targets == ("127.0.0.2", "127.0.0.3:3611")
    assert config.gateway.consent == ("127.0.0.2",) and config.gateway.poll_interval == 120
    assert config.gateway.backup_reserve_wh == 3000 and config.gateway.state_file == "gw.json"
