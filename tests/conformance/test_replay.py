"""``echonet serve --replay``: a capture of real traffic with our battery (recorded on loopback with the runner's
wiretap and written with echonet.pcap), replayed, gives the same conformance and DRready check results as the
battery itself; and the command line serves a replayed node."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from echonet.aio import Controller, DeviceServer, Endpoints
from echonet.apps.replay import capture_of, replay_node
from echonet.conformance import conformance
from echonet.drready import SimClock, simulated_device
from echonet.drready.checker import check
from echonet.drready.host import SimHost
from echonet.drready.sim import sim_registry
from echonet.frame import EOJ
from echonet.node import NodeConfig
from echonet.pcap import Datagram, write_capture

from .helpers import DEVICE_ENDPOINTS, LOOPBACK, go, port_of

REGISTRY = sim_registry()


async def _both_checks(port: int) -> tuple[dict[tuple[str, str], str], dict[str, dict[str, str]]]:
    report = await conformance(LOOPBACK, port=port, timeout=0.5, registry=REGISTRY, probe_set=True)
    ctl = await Controller.open(
        Endpoints(bind_v4=LOOPBACK, port=0, join_multicast=False), config=NodeConfig(timeout=0.5, retries=1)
    )
    try:
        dr = await check(LOOPBACK, controller=ctl, port=port, timeout=0.5, overlay_wait=0.3, registry=REGISTRY)
    finally:
        await ctl.close()
    requirements = {str(o.eoj): {r.requirement.id: r.status.value for r in o.requirements} for o in dr.objects}
    return report.verdicts(), requirements


async def _record(path: Path) -> tuple[Any, Any, str]:
    """Run both checks against our battery while its runner's wiretap records every datagram; write the capture."""
    clock = SimClock.at("2026-01-15T06:00")
    host = await SimHost.open([simulated_device("battery", clock=clock)], DEVICE_ENDPOINTS)
    here = host.address()
    seen: list[Datagram] = []

    def tap(direction: str, data: bytes, addr: Any) -> None:
        peer = (str(addr[0]), int(addr[1]))
        if ":" in peer[0]:
            return  # (the IPv6 group of the announcements: a capture of the IPv4 traffic is enough)
        src, dst = (peer, here) if direction == "in" else (here, peer)
        seen.append(Datagram(time.time(), src[0], dst[0], src[1], dst[1], bytes(data)))

    host.server.runner.wiretap(tap)
    try:
        verdicts, requirements = await _both_checks(here[1])
    finally:
        await host.close()
    assert write_capture(path, seen) == len(seen) > 100
    return verdicts, requirements, here[0]


async def _replayed(path: Path, ip: str) -> tuple[Any, Any]:
    rebuilt = replay_node(path, ip, registry=REGISTRY)
    server = await DeviceServer.open(rebuilt.node, DEVICE_ENDPOINTS)
    try:
        return await _both_checks(port_of(server))
    finally:
        await server.close()


@pytest.fixture(scope="module")
def recorded(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Any, Any, str]:
    """Our battery checked by both checkers while the capture is recorded: (capture, verdicts, requirements, IP)."""
    capture = tmp_path_factory.mktemp("replay") / "battery.pcap"
    verdicts, requirements, ip = go(_record(capture))
    return capture, verdicts, requirements, ip


@pytest.mark.timeout(120)
def test_a_replayed_capture_of_our_battery_gives_the_same_conformance_and_drready_results(
    recorded: tuple[Path, Any, Any, str],
) -> None:
    capture, verdicts, requirements, ip = recorded
    assert "fail" not in verdicts.values()
    seen = capture_of(capture, ip)
    assert {str(e) for e in seen} == {"0EF001", "027D01"}
    battery = seen[EOJ(0x02, 0x7D, 0x01)]
    assert {0x80, 0x9D, 0x9E, 0x9F, 0xDA} <= set(battery.values) and battery.accepted and battery.refused
    replay_verdicts, replay_requirements = go(_replayed(capture, ip))
    assert replay_verdicts == verdicts
    assert replay_requirements == requirements


@pytest.mark.timeout(60)
def test_cli_serve_replay_serves_the_captured_node(recorded: tuple[Path, Any, Any, str]) -> None:
    capture, _, _, ip = recorded
    argv = [
        sys.executable,
        "-m",
        "echonet",
        "serve",
        "--replay",
        str(capture),
        "--host",
        ip,
        "--bind",
        LOOPBACK,
        "--port",
        "0",
        "--interface",
        "lo",
        "--duration",
        "3",
        "--json",
    ]
    with subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) as served:
        assert served.stdout is not None
        first = json.loads(served.stdout.readline())
        _, err = served.communicate(timeout=20)
    assert served.returncode == 0, err
    assert first["event"] == "serving" and [d["eoj"] for d in first["devices"]] == ["027D01"]
    assert "rebuilt" in err


def test_a_replayed_node_keeps_malformed_maps_refusals_and_silences(tmp_path: Path) -> None:
    from echonet.codec import encode
    from echonet.frame import ESV, Frame, Property

    device, controller = "192.0.2.20", "192.0.2.10"
    battery, ctl, profile = EOJ(0x02, 0x7D, 0x01), EOJ(0x05, 0xFF, 0x01), EOJ(0x0E, 0xF0, 0x01)
    bad_map = bytes.fromhex("1005050505040400020704050400020202")  # uecho's: count 16, 21 EPCs
    exchanges = [
        (
            Frame.make(1, ctl, profile, ESV.GET, [Property(0xD6)]),
            Frame.make(1, profile, ctl, ESV.GET_RES, [Property(0xD6, b"\x01" + bytes(battery))]),
        ),
        (
            Frame.make(2, ctl, battery, ESV.GET, [Property(0x80), Property(0x9F), Property(0x8C)]),
            Frame.make(
                2, battery, ctl, ESV.GET_SNA, [Property(0x80, b"\x30"), Property(0x9F, bad_map), Property(0x8C)]
            ),
        ),
        (Frame.make(3, ctl, battery, ESV.INFC, [Property(0x80, b"\x30")]), None),
        (
            Frame.make(4, ctl, battery, ESV.SETC, [Property(0xDA, b"\x42")]),
            Frame.make(4, battery, ctl, ESV.SET_RES, [Property(0xDA)]),
        ),
        (
            Frame.make(5, ctl, battery, ESV.SETC, [Property(0xDA, b"\x99")]),
            Frame.make(5, battery, ctl, ESV.SETC_SNA, [Property(0xDA, b"\x99")]),
        ),
    ]
    datagrams = []
    for request, answer in exchanges:
        datagrams.append(Datagram(1.0, controller, device, 3610, 3610, encode(request)))
        if answer is not None:
            datagrams.append(Datagram(1.1, device, controller, 3610, 3610, encode(answer)))
    capture = tmp_path / "synthetic.pcap"
    write_capture(capture, datagrams)
    node = replay_node(capture, device, registry=REGISTRY).node
    node.start(0.0)
    node.datagrams_to_send(0.0)

    def ask(frame: Frame) -> list[Frame]:
        from echonet.codec import decode

        node.receive_datagram(encode(frame), (controller, 3610), 1.0)
        return [decode(data) for data, to in node.datagrams_to_send(1.0) if not str(to[0]).startswith(("224.", "ff"))]

    [answer] = ask(Frame.make(9, ctl, battery, ESV.GET, [Property(0x9F), Property(0x80), Property(0x8C)]))
    assert answer.esv == ESV.GET_SNA
    assert [(p.epc, p.edt) for p in answer.properties] == [(0x9F, bad_map), (0x80, b"\x30"), (0x8C, b"")]
    assert ask(Frame.make(10, ctl, battery, ESV.INFC, [Property(0x80, b"\x30")])) == []  # never answered: silent
    [refused] = ask(Frame.make(11, ctl, battery, ESV.SETC, [Property(0xDA, b"\x99")]))
    assert refused.esv == ESV.SETC_SNA and refused.properties == (Property(0xDA, b"\x99"),)
    [accepted] = ask(Frame.make(12, ctl, battery, ESV.SETC, [Property(0xDA, b"\x44")]))  # fits the definition
    assert accepted.esv == ESV.SET_RES
    [read] = ask(Frame.make(13, ctl, battery, ESV.GET, [Property(0xDA)]))
    assert read.properties == (Property(0xDA, b"\x44"),)
    [listing] = ask(Frame.make(14, ctl, profile, ESV.GET, [Property(0xD6)]))
    assert listing.properties == (Property(0xD6, b"\x01" + bytes(battery)),)
