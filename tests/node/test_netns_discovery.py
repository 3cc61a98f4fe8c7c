"""Discovery across hosts for real: three network namespaces on one bridge (tests/netns.py), our device nodes on hosts
2 and 3 and our controller on host 1, each a process of its own (tests/node/netns_drivers/node.py) bound to the
wildcard address and joined on ``eth0`` only.

The controller hears each device's start-up INF of 0xD5 by multicast, then ``Controller.discover()`` finds both by
a multicast Get of 0xD6 to 224.0.23.0 (and ff02::1), deduplicates each node seen over IPv4 and IPv6 by its
identification number, and reads every object's property maps. Needs root and iproute2 (skips otherwise).
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.netns import Topology, require_netns

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "tools" / "interop"))

from interop_harness import Peer

pytestmark = pytest.mark.timeout(60)

ROOT = Path(__file__).resolve().parents[2]
DRIVER = [sys.executable, "-m", "tests.node.netns_drivers.node"]
UNIQUE = {2: "4e4f44452d54574f0000000002", 3: "4e4f44452d5448524545000003"}
BATTERY_GET = ["80", "81", "82", "88", "8a", "9d", "9e", "9f", "da", "e4"]
HEATER_GET = ["80", "81", "82", "88", "8a", "9d", "9e", "9f", "b0", "b2", "c0"]


@pytest.fixture
def net() -> Iterator[Topology]:
    require_netns()
    with Topology(3) as topology:
        yield topology


def start(net: Topology, host: int, *argv: str) -> tuple[Peer, dict[str, Any]]:
    full = [*DRIVER, *argv]
    peer = Peer(full, net.popen(host, full, cwd=ROOT))
    return peer, peer.wait_ready(timeout=20)


def result(peer: Peer, timeout: float = 40) -> dict[str, Any]:
    peer.proc.wait(timeout=timeout)
    peer.stop()
    lines = [line for line in peer.stdout if line.startswith("{")]
    assert lines, f"no result: {peer.stderr[-20:]}"
    doc: dict[str, Any] = json.loads(lines[-1])
    return doc


def discover_across_hosts(net: Topology, *family: str) -> dict[str, Any]:
    # The library's default window and rescans (1 s, 2): a busy machine delays answers past a shorter window.
    controller, ready = start(
        net, 1, "controller", "--expect-inf", "2", "--linger", "8", "--window", "1.0", "--rescans", "2", *family
    )
    assert ready["warnings"] == []
    for host in (2, 3):
        _, device = start(net, host, "device", "--unique", UNIQUE[host], *family)
        assert device["identification"] == "feffffff" + UNIQUE[host]
    return result(controller)


def check_nodes(doc: dict[str, Any], addresses: dict[int, list[str]]) -> None:
    by_id = {n["identification"]: n for n in doc["nodes"]}
    assert sorted(by_id) == sorted("feffffff" + UNIQUE[h] for h in (2, 3))
    for host in (2, 3):
        node = by_id["feffffff" + UNIQUE[host]]
        assert node["addresses"] == sorted(addresses[host])
        assert node["instances"] == ["027d01", "026b01"]
        assert node["objects"]["027d01"]["get_map"] == BATTERY_GET
        assert node["objects"]["026b01"]["get_map"] == HEATER_GET
        assert all(o["error"] is None for o in node["objects"].values())


def test_controller_hears_start_up_inf_and_discovers_two_nodes_on_other_hosts_by_ipv4_multicast(
    net: Topology,
) -> None:
    doc = discover_across_hosts(net)
    announced = {i["from"]: i["props"]["d5"] for i in doc["inf"] if "d5" in i["props"]}
    assert announced == {net.address(2): "02027d01026b01", net.address(3): "02027d01026b01"}
    check_nodes(doc, {h: [net.address(h)] for h in (2, 3)})
    for node in doc["nodes"]:
        assert node["address"][1] == 3610


def test_discovery_over_ipv4_and_ipv6_link_local_deduplicates_each_node_by_its_identification(
    net: Topology,
) -> None:
    doc = discover_across_hosts(net, "--v6")
    assert len(doc["nodes"]) == 2  # each node answered over both families: one entry, two addresses
    link_local = {h: [a for a in n["addresses"] if a.startswith("fe80:")] for h, n in _by_host(net, doc).items()}
    assert all(len(v) == 1 for v in link_local.values()), doc["nodes"]
    check_nodes(doc, {h: [net.address(h), *link_local[h]] for h in (2, 3)})
    inf_from = {i["from"].split("%")[0] for i in doc["inf"] if "d5" in i["props"]}
    assert {net.address(2), net.address(3)} <= inf_from


def _by_host(net: Topology, doc: dict[str, Any]) -> dict[int, dict[str, Any]]:
    out = {}
    for node in doc["nodes"]:
        for host in (2, 3):
            if net.address(host) in node["addresses"]:
                out[host] = node
    return out
