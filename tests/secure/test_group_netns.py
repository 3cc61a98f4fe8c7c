"""Protected multicast for real: five network namespaces on one bridge (tests/netns.py). Host 1 is the controller
(the group manager), hosts 2-4 enrolled devices (``echonet serve --secure``), host 5 a legacy device (plain
``echonet serve``). Each node is a process of its own.

* The controller's first secured request to each device makes the pairwise session, over which it hands out the
  group key (``group.json`` on both sides).
* ``echonet discover --secure --identity DIR`` with no ``--target`` finds the three by multicast sealed with the group
  key; with ``--legacy`` the plain answer of host 5 is listed apart as legacy, never merged.
* ``echonet secure group --remove`` drops host 2 and hands the new epoch to hosts 3 and 4; the start-up INF of host 2
  (restarted, still holding the old epoch's key) is then refused by the others (``group_refused``, not a member),
  where before the removal the same INF was taken.

Needs root and iproute2 (skips otherwise).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.netns import Topology, require_netns

pytestmark = pytest.mark.timeout(240)

ROOT = Path(__file__).resolve().parents[2]
ECHONET = [sys.executable, "-m", "echonet"]
CONTROLLER_ID = "FE00007B434F4E54524F4C4C4552303031"
DEVICE_IDS = {h: f"FE00007B4241545445525930303030303{h}" for h in (2, 3, 4)}


def echonet(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run([*ECHONET, *args], cwd=ROOT, capture_output=True, text=True, timeout=timeout, env=env)


def in_ns(net: Topology, host: int, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run(
        ["ip", "netns", "exec", net.ns(host), *ECHONET, *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
    )


def serve(net: Topology, host: int, *args: str) -> subprocess.Popen[str]:
    proc = net.popen(host, [*ECHONET, "serve", "--duration", "120", "--json", *args], cwd=ROOT)
    assert proc.stdout is not None
    line = proc.stdout.readline()
    assert line and json.loads(line).get("event") == "serving", (line, proc.stderr.read() if proc.stderr else "")
    return proc


def stop(proc: subprocess.Popen[str]) -> None:
    proc.terminate()
    proc.communicate(timeout=20)


def refused_from(audit: Path, ip: str) -> int:
    if not audit.exists():
        return 0
    return sum(
        1
        for line in audit.read_text().splitlines()
        if '"group_refused"' in line and f'"{ip}"' in line and "not a member" in line
    )


def wait_for(check: object, timeout: float = 15.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():  # type: ignore[operator]
            return True
        time.sleep(0.2)
    return False


@pytest.fixture
def identities(tmp_path: Path) -> dict[str, Path]:
    dirs = {"ca": tmp_path / "ca", "controller": tmp_path / "controller"}
    dirs.update({f"d{h}": tmp_path / f"device{h}" for h in DEVICE_IDS})
    steps = [
        ("secure", "init-ca", str(dirs["ca"]), "--org", "Test Co", "--maker", "00007B"),
        ("secure", "issue", "--ca", str(dirs["ca"]), "--out", str(dirs["controller"]), "--role", "controller",
         "--id", CONTROLLER_ID),
    ]  # fmt: skip
    for h, id_number in DEVICE_IDS.items():
        d = str(dirs[f"d{h}"])
        steps += [
            ("secure", "issue", "--ca", str(dirs["ca"]), "--out", d, "--id", id_number),
            ("secure", "enrol", "--node", d, "--cert", str(dirs["controller"] / "node.cert.pem"), "--label", "ctl"),
            ("secure", "enrol", "--node", str(dirs["controller"]), "--cert", d + "/node.cert.pem", "--label", f"d{h}"),
        ]
    for step in steps:
        result = echonet(*step)
        assert result.returncode == 0, (step, result.stderr)
    return dirs


@pytest.fixture
def net() -> Iterator[Topology]:
    require_netns()
    with Topology(5) as topology:
        yield topology


def test_secured_multicast_discovery_legacy_apart_and_a_removed_members_inf_refused(
    net: Topology, identities: dict[str, Path]
) -> None:
    ctl = str(identities["controller"])
    devices = {
        h: serve(net, h, "--device", "battery", "--secure", "--identity", str(identities[f"d{h}"])) for h in DEVICE_IDS
    }
    serve(net, 5, "--device", "water_heater")
    # Enrolment traffic: one secured read each makes the pairwise session, which carries the group key.
    for h in DEVICE_IDS:
        got = in_ns(net, 1, "get", net.address(h), "0EF001", "0x83", "--secure", "--identity", ctl, "--timeout", "3")
        assert got.returncode == 0, got.stderr
    assert all(wait_for(lambda h=h: (identities[f"d{h}"] / "group.json").exists()) for h in DEVICE_IDS)

    found = in_ns(net, 1, "discover", "--secure", "--identity", ctl, "--legacy", "--timeout", "2", "--json")
    assert found.returncode == 0, found.stderr
    doc = json.loads(found.stdout)
    nodes = {n["host"]: n for n in doc["nodes"]}
    assert set(nodes) == {net.address(h) for h in DEVICE_IDS}  # the legacy node is not merged in
    for h in DEVICE_IDS:
        security = nodes[net.address(h)]["security"]
        assert security["state"] == "secured" and security["identity"] == DEVICE_IDS[h].lower()
    assert [item["host"] for item in doc.get("legacy", [])] == [net.address(5)]
    assert doc["legacy"][0]["state"] == "legacy"
    text = in_ns(net, 1, "discover", "--secure", "--identity", ctl, "--timeout", "2")
    assert text.returncode == 0, text.stderr
    assert text.stdout.count("secured now") == 3 and net.address(5) not in text.stdout

    # Positive control: before the removal, host 2's start-up INF is taken by the others.
    audit3 = identities["d3"] / "audit.jsonl"
    stop(devices[2])
    devices[2] = serve(net, 2, "--device", "battery", "--secure", "--identity", str(identities["d2"]))
    time.sleep(2.0)
    assert refused_from(audit3, net.address(2)) == 0

    removed = in_ns(net, 1, "secure", "group", "--node", ctl, "--remove", DEVICE_IDS[2], "--json")
    assert removed.returncode == 0, removed.stderr
    group = json.loads(removed.stdout)
    assert group["epochs"][-1] == 2 and DEVICE_IDS[2].lower() not in group["members"]
    for h in (3, 4):
        assert group["reached"][DEVICE_IDS[h].lower()].startswith("new key sent"), group["reached"]
    member3 = json.loads((identities["d3"] / "group.json").read_text())
    assert wait_for(lambda: max(e[0] for e in json.loads((identities["d3"] / "group.json").read_text())["epochs"]) == 2)
    del member3

    stop(devices[2])
    devices[2] = serve(net, 2, "--device", "battery", "--secure", "--identity", str(identities["d2"]))
    assert wait_for(lambda: refused_from(audit3, net.address(2)) >= 1)
    assert wait_for(lambda: refused_from(identities["d4"] / "audit.jsonl", net.address(2)) >= 1)

    after = in_ns(net, 1, "discover", "--secure", "--identity", ctl, "--timeout", "2", "--json")
    assert after.returncode == 0, after.stderr
    hosts = {n["host"] for n in json.loads(after.stdout)["nodes"]}
    assert hosts == {net.address(3), net.address(4)}  # the removed member's answers are refused too
