"""`echonet demo` headless (the PNG and the JSON results), `echonet serve` over UDP, and the watchdog example."""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from echonet import EOJ
from echonet.aio import Controller, Endpoints, run
from echonet.cli import main

from ..conftest import ROOT

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def loopback() -> str:
    return f"127.0.0.{random.randint(100, 250)}"


def echonet_cli(*args: str, timeout: float = 90) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "echonet", *args], cwd=ROOT, capture_output=True, text=True, timeout=timeout
    )


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[subprocess.CompletedProcess[str], Path, dict[str, Any]]:
    out = tmp_path_factory.mktemp("demo")
    plot, results = out / "day.png", out / "results.json"
    base = f"127.0.0.{random.randint(100, 240)}"
    done = echonet_cli(
        "demo", "--speed", "20000", "--no-progress", "--bind-base", base, "--port", "0",
        "--plot", str(plot), "--json", str(results),
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    return done, plot, json.loads(results.read_text())


def test_demo_writes_a_valid_png_plot(demo_run: tuple[Any, Path, dict[str, Any]]) -> None:
    _, plot, data = demo_run
    assert plot.stat().st_size > 0 and plot.read_bytes()[:8] == PNG_SIGNATURE
    from matplotlib import image

    pixels = image.imread(str(plot))
    assert pixels.shape[0] > 100 and pixels.shape[1] > 100
    assert data["plot"] == str(plot)


def test_demo_discovers_the_three_devices_over_udp(demo_run: tuple[Any, Path, dict[str, Any]]) -> None:
    _, _, data = demo_run
    devices = {d["kind"]: d for d in data["devices"]}
    assert set(devices) == {"water_heater", "hybrid_water_heater", "battery"}
    assert all(d["discovered"] for d in devices.values())
    assert len({d["identification"] for d in devices.values()}) == 3
    assert len({d["address"] for d in devices.values()}) == 3


def test_demo_delivers_the_requested_energy_within_bounds(demo_run: tuple[Any, Path, dict[str, Any]]) -> None:
    _, _, data = demo_run
    rows = {(d["event"].split()[0], d["device"]): d for d in data["deliveries"]}
    assert all(c["ok"] for c in data["commands"])
    for heater in ("water heater", "hybrid heater"):
        up = rows[("upward", heater)]
        assert up["requested_wh"] > 1000  # the heater moved at least a kWh of boiling into the solar hours
        assert 0.8 * up["requested_wh"] <= up["delivered_wh"] <= 1.1 * up["requested_wh"]
        assert rows[("downward", heater)]["delivered_wh"] == 0  # no boiling in the evening peak
    charge = rows[("upward", "battery")]
    assert 0.9 * charge["requested_wh"] <= charge["delivered_wh"] <= 1.01 * charge["requested_wh"]
    discharge = rows[("downward", "battery")]
    assert 0.5 * discharge["requested_wh"] <= discharge["delivered_wh"] <= 1.01 * discharge["requested_wh"]
    socs = [s["soc_percent"] for s in data["samples"] if s["soc_percent"] is not None]
    assert min(socs) >= 24  # the 2450 Wh backup reserve of 9800 Wh (25 %) held, rounding aside


def test_demo_prints_the_table_of_requested_and_delivered_energy(demo_run: tuple[Any, Path, Any]) -> None:
    done, plot, _ = demo_run
    assert "requested" in done.stdout and "delivered" in done.stdout
    assert "upward DR (solar hours)" in done.stdout and "downward DR (evening peak)" in done.stdout
    assert f"plot: {plot}" in done.stdout


@contextlib.contextmanager
def serving(*argv: str) -> Iterator[tuple[subprocess.Popen[str], dict[str, Any]]]:
    """``echonet serve ARGV --port 0 --json`` in a process of its own, with its first record ("serving")."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "echonet", "serve", *argv, "--port", "0", "--json", "--duration", "60"],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert proc.stdout is not None
        yield proc, json.loads(proc.stdout.readline())
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_serve_hosts_devices_that_answer_a_get_over_udp() -> None:
    ip = loopback()
    with serving("--device", "battery:2,capacity_wh=12000", "--bind", ip) as (proc, record):
        assert proc.stdout is not None
        assert record["event"] == "serving" and record["devices"][0]["eoj"] == "027D02"
        host, port = record["addresses"][0].rsplit(":", 1)

        async def ask() -> tuple[dict[int, bytes], tuple[int, ...]]:
            async with await Controller.open(Endpoints(bind_v4=ip, port=0)) as ctl:
                got = await ctl.get((host, int(port)), EOJ.parse("027D02"), [0xD0, 0x80])
                refused = await ctl.set((host, int(port)), EOJ.parse("027D02"), [(0xF0, b"\x40")])
                return dict(got.values), refused.refused

        values, refused = run(asyncio.wait_for(ask(), 20))
        assert int.from_bytes(values[0xD0], "big") == 12000 and values[0x80] == b"\x30"
        assert refused == (0xF0,)
        event = json.loads(proc.stdout.readline())
        assert event["event"] == "set_refused" and event["property"]["epc"] == "0xF0"
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=20) == 0  # Ctrl-C is a clean exit


def _ipv6_loopback() -> bool:
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_DGRAM) as sock:
            sock.bind(("::1", 0))
    except OSError:
        return False
    return True


@pytest.mark.skipif(not _ipv6_loopback(), reason="no IPv6 loopback (::1) on this machine")
def test_serve_bound_to_an_ipv6_address_answers_over_ipv6() -> None:
    with serving("--device", "water_heater", "--bind", "::1") as (proc, record):
        [address] = record["addresses"]
        assert address.startswith("[::1]:")  # IPv6 written with brackets
        port = int(address.rsplit(":", 1)[1])

        async def ask() -> dict[int, bytes]:
            async with await Controller.open(Endpoints(bind_v4=None, bind_v6="::1", port=0)) as ctl:
                got = await ctl.get(("::1", port), EOJ.parse("026B01"), [0x80, 0x8A])
                return dict(got.values)

        values = run(asyncio.wait_for(ask(), 20))
        assert values[0x80] == b"\x30" and len(values[0x8A]) == 3
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=20) == 0


def test_serve_reads_a_toml_config(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = tmp_path / "devices.toml"
    config.write_text(
        f'bind = "{loopback()}"\nport = 0\nspeed = 60\nstart = "2026-01-15T06:00"\n'
        '[[devices]]\nkind = "water_heater"\n\n[[devices]]\nkind = "0x027D"\ninstance = 5\ninitial_soc = 0.2\n'
    )
    assert main(["serve", "--config", str(config), "--json", "--duration", "0.2"]) == 0
    serving = json.loads(capsys.readouterr().out.splitlines()[0])
    assert [d["eoj"] for d in serving["devices"]] == ["026B01", "027D05"]
    assert serving["sim_time"].startswith("2026-01-15T06:00")


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["serve", "--device", "toaster"], "unknown device kind"),
        (["serve", "--device", "battery,capacity=1"], "has no parameter"),
        (["serve", "--device", "battery,max_charge_w=lots"], "whole number"),
        (["serve", "--device", "battery:1", "--device", "battery:1"], "given twice"),
        (["serve"], "nothing to serve"),
        (["serve", "--config", "/nonexistent/devices.toml"], "cannot read config"),
        (["demo", "--bind-base", "10.0.0.1"], "loopback"),
    ],
)
def test_bad_usage_is_one_line_and_exit_code_2(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err and len(err.strip().splitlines()) == 1


def test_watchdog_example_returns_the_battery_to_its_own_mode() -> None:
    done = subprocess.run(
        [sys.executable, str(ROOT / "examples" / "watchdog.py"), "--bind", loopback(), "--speed", "7200"],
        cwd=ROOT, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    assert "drState=ownModeAfterTimeout" in done.stdout and "operationMode=auto" in done.stdout
    assert "controller stops talking" in done.stdout
