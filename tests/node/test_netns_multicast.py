"""Multicast over a real link, and what leaves a host: two network namespaces joined by one veth cable
(:class:`tests.netns.LinkedPair`). Side ``a`` is "this machine" (lo, and eth0 with a default route, as a LAN host
has), side ``b`` "the LAN". Our processes run there through tests/node/netns_drivers (multicast.py, node.py).

* Where a runner joins 224.0.23.0 / ff02::1 and sends multicast, read from the kernel (``/proc/net/igmp``,
  ``/proc/net/igmp6``, ``IP_MULTICAST_IF``): the rule documented on :class:`echonet.aio.Endpoints`.
* Discovery by multicast across the link, from an address of the host and through every chosen interface (these
  ran on the machine's first real interface before; now the network is the test's own).
* The examples and the UDP tests, run on side ``a``, put nothing on the LAN: a listener on side ``b`` sees no
  ECHONET Lite datagram and no IGMP report for 224.0.23.0, while a wildcard controller naming no interface (the
  control) is seen at once.

Needs root and iproute2: skips with the reason otherwise, in well under a second.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.netns import LinkedPair, require_netns

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "tools" / "interop"))

from interop_harness import Peer

ROOT = Path(__file__).resolve().parents[2]

pytestmark = [pytest.mark.netns, pytest.mark.timeout(120)]

DRIVER = [sys.executable, "-m", "tests.node.netns_drivers.multicast"]
DEVICE = [sys.executable, "-m", "tests.node.netns_drivers.node", "device"]
UNIQUE = "4e4f44452d4c414e0000000002"
IDENTIFICATION = "feffffff" + UNIQUE


@pytest.fixture
def pair() -> Iterator[LinkedPair]:
    require_netns()
    with LinkedPair() as linked:
        yield linked


def driver(pair: LinkedPair, side: str, *argv: str, timeout: float = 40) -> dict[str, Any]:
    done = pair.run(side, [*DRIVER, *argv], timeout=timeout, cwd=ROOT)
    assert done.returncode == 0, done.stderr[-3000:]
    doc: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return doc


def start(pair: LinkedPair, side: str, argv: list[str]) -> tuple[Peer, dict[str, Any]]:
    peer = Peer(argv, pair.popen(side, argv, cwd=ROOT))
    return peer, peer.wait_ready(timeout=20)


def joins(pair: LinkedPair, **endpoints: Any) -> dict[str, Any]:
    return driver(pair, "a", "joins", json.dumps(endpoints))


# Where a runner joins and sends ------------------------------------------------------------------------------------


def test_a_loopback_bound_runner_asked_to_join_joins_and_sends_multicast_on_lo_only(pair: LinkedPair) -> None:
    doc = joins(pair, bind_v4="127.0.0.5", bind_v6="::1", join_multicast=True)
    assert doc["warnings"] == []
    assert doc["joined_v4"] == {"lo": 1} and doc["joined_v6"] == {"lo": 1}
    assert doc["multicast_if_v4"] == "127.0.0.5" and doc["multicast_if_v6"] == doc["indexes"]["lo"]


def test_a_loopback_bound_runner_joins_nothing_by_default(pair: LinkedPair) -> None:
    doc = joins(pair, bind_v4="127.0.0.5", bind_v6="::1")
    assert doc["joined_v4"] == {} and doc["joined_v6"] == {}
    assert doc["multicast_if_v4"] == "127.0.0.5" and doc["multicast_if_v6"] == doc["indexes"]["lo"]


def test_a_runner_bound_to_an_address_of_the_lan_interface_keeps_its_multicast_there(pair: LinkedPair) -> None:
    doc = joins(pair, bind_v4=pair.address("a"), bind_v6=pair.address_v6("a"), join_multicast=True)
    assert doc["joined_v4"] == {"eth0": 1} and doc["joined_v6"] == {"eth0": 1}
    assert doc["multicast_if_v4"] == pair.address("a") and doc["multicast_if_v6"] == doc["indexes"]["eth0"]


def test_a_wildcard_runner_naming_lo_joins_and_sends_on_lo_only(pair: LinkedPair) -> None:
    doc = joins(pair, bind_v4="0.0.0.0", bind_v6="::", interfaces=["lo"])
    assert doc["joined_v4"] == {"lo": 1} and doc["joined_v6"] == {"lo": 1}
    assert doc["multicast_if_v4"] == "127.0.0.1" and doc["multicast_if_v6"] == doc["indexes"]["lo"]


def test_a_wildcard_runner_naming_no_interface_joins_where_the_default_route_goes(pair: LinkedPair) -> None:
    # The third case of the rule: the system's choice, which is the LAN. This is why tests and examples never
    # bind the wildcard without naming lo.
    doc = joins(pair, bind_v4="0.0.0.0", bind_v6="::")
    assert doc["joined_v4"] == {"eth0": 1} and doc["joined_v6"] == {"eth0": 1}
    assert doc["multicast_if_v4"] == "0.0.0.0" and doc["multicast_if_v6"] == 0


# Discovery over the link -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("v6", [False, True], ids=["ipv4", "ipv6"])
def test_discover_by_multicast_from_an_own_address_finds_the_node_across_the_link(pair: LinkedPair, v6: bool) -> None:
    start(pair, "b", [*DEVICE, "--unique", UNIQUE, *(["--v6"] if v6 else [])])
    own = {"bind_v4": None, "bind_v6": pair.address_v6("a")} if v6 else {"bind_v4": pair.address("a")}
    doc = driver(pair, "a", "discover", json.dumps({**own, "interfaces": ["eth0"]}), *(["--v6"] if v6 else []))
    assert doc["warnings"] == []
    [node] = doc["nodes"]
    assert node["identification"] == IDENTIFICATION
    assert node["address"] == (pair.address_v6("b") if v6 else pair.address("b"))
    assert node["instances"] == ["027d01", "026b01"]
    assert node["objects"] == ["026b01", "027d01", "0ef001"]


def test_multicast_goes_out_of_every_chosen_interface(pair: LinkedPair) -> None:
    start(pair, "b", [*DEVICE, "--unique", UNIQUE])
    # The first interface (lo) does not reach the device: only the extra sending socket on eth0 does.
    both = {"bind_v4": "0.0.0.0", "interfaces": ["lo", "eth0"], "join_multicast": False}
    doc = driver(pair, "a", "discover", json.dumps(both), "--rescans", "0", "--no-maps")
    assert [n["identification"] for n in doc["nodes"]] == [IDENTIFICATION]
    alone = driver(pair, "a", "discover", json.dumps({**both, "interfaces": ["lo"]}), "--rescans", "0", "--no-maps")
    assert alone["nodes"] == []


# Nothing leaves the machine ----------------------------------------------------------------------------------------


def leaks(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """ECHONET Lite datagrams, datagrams to its groups, and reports of membership of its groups."""
    groups = {"224.0.23.0", "ff02::1"}
    out = []
    for r in records:
        if r["proto"] == "udp":
            if r["echonet"] or r["dst"] in groups or 3610 in (r["sport"], r["dport"]):
                out.append(r)
        elif groups & set(r.get("groups", ())):
            out.append(r)
    return out


def wait_for_line(peer: Peer, line: str, timeout: float = 15) -> None:
    deadline = time.monotonic() + timeout
    while line not in peer.stdout:
        assert time.monotonic() < deadline and peer.proc.poll() is None, (peer.stdout, peer.stderr[-20:])
        time.sleep(0.02)


def heard(listener: Peer, settle: float = 0.5) -> list[dict[str, Any]]:
    time.sleep(settle)  # let the last frames reach the capture socket
    return [json.loads(line) for line in list(listener.stdout) if line.startswith("{")]


def test_the_examples_and_the_udp_tests_put_nothing_on_the_lan(pair: LinkedPair) -> None:
    listener, _ = start(pair, "b", [*DRIVER, "watch", "--iface", "eth0"])
    argv = [sys.executable, "-u", "examples/library_device.py"]
    device = Peer(argv, pair.popen("a", argv, cwd=ROOT))
    wait_for_line(device, "storage battery 027D01 on 127.0.0.2 port 3610")
    example = pair.run("a", [sys.executable, "examples/library_controller.py"], cwd=ROOT, timeout=30)
    assert example.returncode == 0 and "set accepted" in example.stdout, example.stderr[-2000:]
    device.stop()
    watchdog = pair.run("a", [sys.executable, "examples/watchdog.py"], cwd=ROOT, timeout=60)
    assert watchdog.returncode == 0, watchdog.stderr[-2000:]
    tests = pair.run(
        "a",
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            "tests/node/test_udp.py",
            "tests/node/test_readme_snippets.py::test_library_controller_reads_and_sets_the_library_device",
        ],
        cwd=ROOT,
        timeout=90,
    )
    assert tests.returncode == 0, tests.stdout[-3000:]
    assert leaks(heard(listener)) == []
    # The control: a controller on the wildcard naming no interface joins and asks on the LAN, and is heard.
    driver(pair, "a", "discover", json.dumps({"bind_v4": "0.0.0.0"}), "--rescans", "0", "--window", "0.2")
    seen = leaks(heard(listener))
    assert any(r["proto"] == "udp" and r["dst"] == "224.0.23.0" and r["echonet"] for r in seen), seen
    assert any(r["proto"].startswith("igmp") and "224.0.23.0" in r["groups"] for r in seen), seen
