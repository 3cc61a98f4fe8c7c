"""An interface that gains an address while the controller runs: the multicast group is joined on it and discovery
runs again, without restarting the controller. Two network namespaces on a bridge (tests/netns.py); the device runs
``echonet serve`` on one, the controller (tests/controller/netns_driver.py) on the other, whose eth0 starts with no
address. Needs root and iproute2: skips with the reason otherwise."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.netns import Topology, require_netns

ROOT = Path(__file__).resolve().parents[2]
pytestmark = [pytest.mark.netns, pytest.mark.timeout(120)]


def _line(proc: subprocess.Popen[str]) -> dict[str, object]:
    assert proc.stdout is not None
    text = proc.stdout.readline()
    if not text:
        assert proc.stderr is not None
        raise AssertionError(f"the process ended: {proc.stderr.read()[-2000:]}")
    doc: dict[str, object] = json.loads(text)
    return doc


def test_an_interface_that_gains_an_address_is_joined_and_discovered_on_without_a_restart() -> None:
    require_netns()
    with Topology(2) as net:
        ns = net.ns(2)
        subprocess.run(["ip", "-n", ns, "addr", "flush", "dev", "eth0"], check=True, capture_output=True)
        device = net.popen(
            1,
            [sys.executable, "-m", "echonet", "serve", "--device", "battery", "--bind", "0.0.0.0",
             "--interface", "eth0", "--duration", "60", "--json"],
            cwd=ROOT,
        )  # fmt: skip
        assert _line(device)["event"] == "serving"
        ctl = net.popen(2, [sys.executable, "-m", "tests.controller.netns_driver"], cwd=ROOT)
        ready = _line(ctl)
        assert ready["ready"] and "224.0.23.0" not in ready["igmp"]  # type: ignore[operator]
        subprocess.run(
            ["ip", "-n", ns, "addr", "add", f"{net.address(2)}/24", "dev", "eth0"], check=True, capture_output=True
        )
        subprocess.run(
            ["ip", "-n", ns, "route", "replace", "224.0.0.0/4", "dev", "eth0"], check=True, capture_output=True
        )
        changes = _line(ctl)
        assert ["eth0", "gained", ["224.0.23.0"]] in changes["changes"]  # type: ignore[operator]
        assert "224.0.23.0" in changes["igmp"]  # type: ignore[operator]
        assert _line(ctl)["found"] == [net.address(1)]
