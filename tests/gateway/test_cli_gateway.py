"""`echonet gateway` as a process against openleadr's VTN, and `echonet gateway status` on its state file."""

from __future__ import annotations

import asyncio
import json
import random
import signal
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

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
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "echonet", "gateway", "--vtn", vtn.url, "--ven", "cli-test",
            "--target", address, "--bind", ip.rsplit(".", 1)[0] + ".10", "--state", str(state), "--json",
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
