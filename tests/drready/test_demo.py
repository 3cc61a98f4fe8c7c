"""`echonet demo` headless (the PNG and the JSON results), `echonet serve` over UDP, and the watchdog example."""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import json
import os
import pty
import random
import shutil
import signal
import socket
import struct
import subprocess
import sys
import termios
import time
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
    # x7200 (13 s): the day runs through the local OpenADR VTN and the gateway, whose XML messages hold the event
    # loop for tens of milliseconds; at x20000 that is a quarter of the devices' 30-minute DR duration.
    done = echonet_cli(
        "demo", "--speed", "7200", "--no-progress", "--bind-base", base, "--port", "0",
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
    assert len({d["host"] for d in devices.values()}) == 3
    assert {d["class"] for d in devices.values()} == {"0x026B", "0x02A6", "0x027D"}


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
        assert record["devices"][0]["class"] == "0x027D" and record["devices"][0]["class_name"] == "Storage battery"
        host, port = record["addresses"][0]["host"], record["addresses"][0]["port"]

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
        assert address["host"] == "::1"  # JSON: the address without brackets, the port apart
        port = address["port"]

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
        (["demo", "--port", "70000"], "out of range"),
        (["demo", "--speed", "0"], "positive"),
        (["serve", "--device", "battery", "--duration", "-1"], "positive number of seconds"),
        (["serve", "--device", "battery", "--speed", "-2"], "positive"),
        (["serve", "--device", "battery", "--bind", "nonsense"], "not an IP address"),
        (["serve", "--device", "battery", "--bind", "192.0.2.123", "--duration", "1"], "an address of this host"),
        (["serve", "--device", "battery", "--bind", "127.0.0.1:3611", "--port", "3612"], "give one"),
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


# demo: arguments and output paths checked before the run, results before files, the status line ---------------------


def _read_only_directory(tmp_path: Path) -> Path:
    """A directory where no file can be created (root creates files anywhere chmod allows nothing: then /sys)."""
    if os.geteuid() == 0:
        return Path("/sys")
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o555)
    return ro


@pytest.mark.parametrize("case", ["plot-is-a-directory", "plot-below-a-file", "json-is-a-directory", "read-only-cwd"])
def test_an_output_path_that_cannot_be_written_is_refused_before_the_run(tmp_path: Path, case: str) -> None:
    (tmp_path / "file").write_text("x")
    argv, cwd, needle = {
        "plot-is-a-directory": (["--plot", str(tmp_path)], ROOT, "is a directory"),
        "plot-below-a-file": (["--plot", str(tmp_path / "file" / "day.png")], ROOT, "is not a directory"),
        "json-is-a-directory": (["--plot", "", "--json", str(tmp_path)], ROOT, "is a directory"),
        "read-only-cwd": ([], _read_only_directory(tmp_path), "cannot write --plot echonet-demo.png"),
    }[case]
    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-m", "echonet", "demo", "--no-progress", "--bind-base", loopback(), *argv],
        cwd=cwd, capture_output=True, text=True, timeout=60, env={**os.environ, "PYTHONPATH": str(ROOT)},
    )  # fmt: skip
    assert time.monotonic() - started < 15  # the day takes 26 s at the default speed: it never started
    assert done.returncode == 2 and done.stdout == "" and "Traceback" not in done.stderr
    [line] = done.stderr.splitlines()
    assert needle in line


def test_demo_json_without_a_file_prints_the_results_on_stdout_in_the_json_vocabulary() -> None:
    done = echonet_cli("demo", "--json", "--plot", "", "--speed", "20000", "--port", "0", "--bind-base", loopback())
    assert done.returncode == 0, done.stderr
    [line] = done.stdout.splitlines()
    data = json.loads(line)
    assert {d["kind"] for d in data["devices"]} == {"water_heater", "hybrid_water_heater", "battery"}
    battery = next(d for d in data["devices"] if d["kind"] == "battery")
    assert battery["eoj"] == "027D01" and battery["class"] == "0x027D" and battery["class_name"] == "Storage battery"
    assert battery["host"].startswith("127.") and isinstance(battery["port"], int)
    assert len(battery["identification"]) == 34
    assert data["sim_start"].startswith("2026-01-14T22:00") and "sim_time" in data["samples"][0]
    assert "error" not in data and "plot" not in data


def test_a_results_file_that_cannot_be_written_after_the_run_is_one_line_after_the_results_table(
    tmp_path: Path,
) -> None:
    out = tmp_path / "out"
    out.mkdir()
    proc = subprocess.Popen(
        [sys.executable, "-m", "echonet", "demo", "--speed", "20000", "--port", "0", "--bind-base", loopback(),
         "--plot", "", "--json", str(out / "results.json")],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline().startswith("echonet demo:")  # the paths were checked: the run has begun
        shutil.rmtree(out)  # ... and now the results cannot be written
        stdout, stderr = proc.communicate(timeout=90)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 1 and "Traceback" not in stderr
    assert "requested" in stdout and "delivered" in stdout and "downward DR (evening peak)" in stdout
    [line] = stderr.splitlines()
    assert line.startswith(f"echonet: cannot write the results {out / 'results.json'}")


def test_the_status_line_fits_an_80_column_terminal_and_is_redrawn_a_few_times_a_second() -> None:
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 80, 0, 0))
    env = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "LINES")}
    started = time.monotonic()
    proc = subprocess.Popen(
        [sys.executable, "-m", "echonet", "demo", "--speed", "20000", "--port", "0", "--bind-base", loopback(),
         "--plot", ""],
        cwd=ROOT, stdin=slave, stdout=slave, stderr=slave, env=env,
    )  # fmt: skip
    os.close(slave)
    chunks = []
    try:
        while True:
            try:
                chunk = os.read(master, 65536)
            except OSError:  # EIO: the demo ended and closed the terminal
                break
            if not chunk:
                break
            chunks.append(chunk)
        assert proc.wait(timeout=90) == 0
    finally:
        os.close(master)
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    wall = time.monotonic() - started
    text = b"".join(chunks).decode()
    status = [s for line in text.split("\n") for s in line.split("\r") if s.startswith("[")]
    assert status, text
    assert max(len(s) for s in status) <= 79  # never wraps in 80 columns, so it never scrolls
    assert len(status) <= 4 * wall + 2  # at most every 0.25 s (the demo polls 150 times in a few seconds)
