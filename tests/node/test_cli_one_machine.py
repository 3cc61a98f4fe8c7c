"""Several programs on one machine, as a new user first tries it: `echonet serve` in one terminal, `echonet get`,
`discover` and `watch` in another, every one a real process talking real UDP.

`serve --bind 0.0.0.0` holds port 3610 of every address (with SO_REUSEADDR, as ECHONET Lite stacks do); its
multicast stays on this machine (`--interface lo`) and the commands ask it by unicast only (`127.0.0.1`,
`--target`), so nothing leaves the loopback interface."""

from __future__ import annotations

import contextlib
import json
import random
import socket
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import pytest

from ..conftest import ROOT


def echonet(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "echonet", *args], cwd=ROOT, capture_output=True, text=True, timeout=timeout
    )


def own_ip() -> str:
    return f"127.0.{random.randint(1, 254)}.{random.randint(2, 250)}"


@contextlib.contextmanager
def serving(*argv: str, duration: str = "20") -> Iterator[tuple[subprocess.Popen[str], dict[str, Any]]]:
    """``echonet serve ARGV --json`` in a process of its own, with its first record (``serving``)."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "echonet", "serve", *argv, "--json", "--duration", duration],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert proc.stdout is not None and proc.stderr is not None
        line = proc.stdout.readline()
        if not line:
            proc.wait(10)
            raise AssertionError(f"serve ended with {proc.returncode}: {proc.stderr.read()}")
        yield proc, json.loads(line)
    finally:
        if proc.poll() is None:
            proc.terminate()
        proc.communicate(timeout=20)


@pytest.fixture(scope="module")
def wildcard_serve() -> Iterator[dict[str, Any]]:
    """``echonet serve --bind 0.0.0.0`` on port 3610, multicast kept on ``lo``."""
    try:
        with serving("--device", "battery", "--bind", "0.0.0.0", "--interface", "lo", duration="60") as (_, record):
            yield record
    except AssertionError as exc:
        if "Address already in use" in str(exc):
            pytest.skip(f"another program holds UDP 3610 without SO_REUSEADDR here: {exc}")
        raise


# get, discover and watch next to a simulator on 0.0.0.0:3610 -----------------------------------------------------


def test_get_with_default_options_reaches_serve_bound_to_the_wildcard_address_of_the_same_machine(
    wildcard_serve: dict[str, Any],
) -> None:
    assert {"host": "0.0.0.0", "port": 3610} in wildcard_serve["addresses"]
    done = echonet("get", "127.0.0.1", "battery", "E4", "operationMode")
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("027D01 Storage battery at 127.0.0.1 port 3610")
    [line] = done.stderr.splitlines()  # what happened, in one line: the simulator holds 3610, so ...
    assert "UDP port 3610 of every address is held by pid" in line and "echonet serve" in line
    assert "sending from an ephemeral port, where answers come back" in line  # ... the request went from another
    done = echonet("get", "127.0.0.1:3610", "storage battery", "remainingCapacity3", "--json")
    assert done.returncode == 0, done.stderr
    doc = json.loads(done.stdout)
    assert (doc["host"], doc["port"], doc["eoj"], doc["ok"]) == ("127.0.0.1", 3610, "027D01", True)


def test_set_with_default_options_reaches_it_too(wildcard_serve: dict[str, Any]) -> None:
    done = echonet("set", "127.0.0.1", "battery", "operationMode=auto")
    assert done.returncode == 0, done.stderr
    assert "accepted" in done.stdout


def test_discover_by_target_with_default_options_finds_it_with_its_identification(
    wildcard_serve: dict[str, Any],
) -> None:
    done = echonet("discover", "--target", "127.0.0.1", "--rescans", "0", "--json")
    assert done.returncode == 0, done.stderr
    (node,) = json.loads(done.stdout)["nodes"]
    assert node["identification"] == wildcard_serve["identification"]
    assert node["version"]["major"] == 1 and "027D01" in node["instances"]


def test_watch_says_in_one_line_that_another_program_holds_3610_and_what_that_costs(
    wildcard_serve: dict[str, Any],
) -> None:
    done = echonet("watch", "--interface", "lo", "--duration", "0.5")
    assert done.returncode == 0, done.stderr
    [shared] = [line for line in done.stderr.splitlines() if "held by" in line]
    assert "UDP port 3610 of every address is held by pid" in shared and "echonet serve" in shared
    assert "notifications sent by unicast to port 3610 may go to it instead" in shared


def test_a_request_from_3610_next_to_it_is_told_in_one_line_why_answers_may_not_come_and_the_fix(
    wildcard_serve: dict[str, Any],
) -> None:
    done = echonet("get", "127.0.0.1", "battery", "E4", "--local-port", "3610", "--timeout", "0.5", "--retries", "0")
    assert done.returncode in (0, 4) and "Traceback" not in done.stderr  # (which socket the answer reaches varies)
    shared = done.stderr.splitlines()[0]
    assert "UDP port 3610 of every address is held by pid" in shared and "leave out --local-port" in shared


def test_a_second_serve_on_an_address_of_its_own_needs_share_port_and_says_so(
    wildcard_serve: dict[str, Any],
) -> None:
    ip = own_ip()
    refused = echonet("serve", "--device", "battery", "--bind", ip, "--interface", "lo", "--duration", "1")
    assert refused.returncode == 1 and "Traceback" not in refused.stderr
    [line] = refused.stderr.splitlines()
    assert f"cannot bind {ip} port 3610" in line and "--share-port" in line
    with serving("--device", "battery", "--bind", ip, "--share-port", "--interface", "lo") as (_, second):
        assert second["identification"] != wildcard_serve["identification"]  # every node its own 0x83
        done = echonet("discover", "--target", ip, "--rescans", "0", "--json")
        assert done.returncode == 0, done.stderr
        (node,) = json.loads(done.stdout)["nodes"]
        assert (node["host"], node["port"], node["identification"]) == (ip, 3610, second["identification"])


# identification numbers -----------------------------------------------------------------------------------------


def test_every_serve_node_has_its_own_identification_number_even_on_ephemeral_ports() -> None:
    ip = own_ip()
    args = ("--device", "battery", "--bind", ip, "--port", "0", "--interface", "lo")
    with (
        serving(*args) as (_, first),
        serving(*args) as (_, second),
        serving(*args[:3], own_ip(), *args[4:]) as (
            _,
            third,
        ),
    ):
        numbers = {first["identification"], second["identification"], third["identification"]}
    assert len(numbers) == 3 and all(len(n) == 34 and n.startswith("feffffff") for n in numbers)


def test_identification_sets_the_number_discovery_sees() -> None:
    ip, number = own_ip(), "fe00007b" + "0102030405060708090a0b0c0d"
    with serving("--device", "water_heater", "--bind", ip, "--port", "0", "--identification", number.upper()) as (
        _,
        record,
    ):
        assert record["identification"] == number
        port = record["addresses"][0]["port"]
        done = echonet("discover", "--target", f"{ip}:{port}", "--rescans", "0", "--json")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["nodes"][0]["identification"] == number


@pytest.mark.parametrize("number", ["FE00", "0100007B0102030405060708090A0B0C0D", "not hex"])
def test_a_bad_identification_is_one_line_and_exit_2(number: str) -> None:
    done = echonet("serve", "--device", "battery", "--bind", own_ip(), "--identification", number, "--duration", "1")
    assert done.returncode == 2 and done.stdout == ""
    [line] = done.stderr.splitlines()
    assert "--identification" in line


# hosts as people write them ---------------------------------------------------------------------------------------


def _ipv6_loopback() -> bool:
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_DGRAM) as sock:
            sock.bind(("::1", 0))
    except OSError:
        return False
    return True


def test_a_host_with_its_port_is_taken_by_get_set_discover_and_drready_check() -> None:
    ip = own_ip()
    with serving("--device", "water_heater", "--bind", ip, "--port", "0", "--interface", "lo") as (_, record):
        port = record["addresses"][0]["port"]
        got = echonet("get", f"{ip}:{port}", "electric_water_heater", "0x80", "--json")
        assert got.returncode == 0, got.stderr
        assert json.loads(got.stdout)["port"] == port
        put = echonet("set", f"{ip}:{port}", "026B01", "automaticWaterHeating=auto")
        assert put.returncode == 0, put.stderr
        found = echonet("discover", "--target", f"{ip}:{port}", "--rescans", "0")
        assert found.returncode == 0 and f"{ip} port {port}" in found.stdout, found.stderr
        checked = echonet("drready", "check", f"{ip}:{port}", "--eoj", "electric water heater:1", "--no-overlay")
        assert checked.returncode == 0, checked.stdout + checked.stderr
        clash = echonet("get", f"{ip}:{port}", "026B01", "0x80", "--port", "3610")
    assert clash.returncode == 2 and "give one" in clash.stderr and len(clash.stderr.splitlines()) == 1


@pytest.mark.skipif(not _ipv6_loopback(), reason="no IPv6 loopback (::1) on this machine")
def test_the_ipv6_address_serve_prints_is_taken_by_get_in_brackets_with_or_without_a_port() -> None:
    with serving("--device", "water_heater", "--bind", "[::1]", "--port", "0", "--interface", "lo") as (_, record):
        port = record["addresses"][0]["port"]
        for host, extra in (("[::1]", ["--port", str(port)]), (f"[::1]:{port}", []), ("::1", ["--port", str(port)])):
            done = echonet("get", host, "026B01", "0x80", *extra)
            assert done.returncode == 0, (host, done.stderr)
            assert f"at ::1 port {port}" in done.stdout
        found = echonet("discover", "--target", f"[::1]:{port}", "--rescans", "0", "--json")
        assert found.returncode == 0, found.stderr
        assert json.loads(found.stdout)["nodes"][0]["host"] == "::1"
