"""uecho (PyPI) as a device against OUR controller (tools/interop/our_controller.py: echonet.aio.Controller):
discovery by multicast, Get, SetC accepted and refused, INF_REQ and notifications, with uecho's departures from the
spec (tools/interop/README.md) absorbed where a user would expect it.

Every test runs in its own network namespace (tools/interop/interop_harness.py: needs root), uecho on
127.0.0.2:3610 (and 0.0.0.0:3610 for multicast), our controller on 127.0.0.3:3610 (plus a socket on
224.0.23.0:3610 feeding it).
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "tools" / "interop"))

from interop_common import hx, load_profile
from interop_harness import PYTHON, LoopbackHost, our_controller_argv, require_python_peer

pytestmark = [pytest.mark.interop, pytest.mark.timeout(60)]

DEVICE = "127.0.0.2"
CONTROLLER = "127.0.0.3"
PROFILE = load_profile("027D")
UECHO_DEVICE = [PYTHON, "tools/interop/uecho_device.py", "--bind", DEVICE]


@pytest.fixture
def host() -> Iterator[LoopbackHost]:
    require_python_peer("uecho")
    with LoopbackHost() as h:
        yield h


def our_controller(host: LoopbackHost, *extra: str) -> tuple[int, dict[str, Any]]:
    return host.run_json(our_controller_argv(CONTROLLER, "--host", DEVICE, "--multicast", *extra), timeout=45)


def value(epc: int) -> str:
    return next(p.edt.hex() for p in PROFILE.properties if p.epc == epc)


def test_our_controller_discovers_the_uecho_device_by_multicast_despite_its_bitmap_count(host: LoopbackHost) -> None:
    _, ready = host.start(UECHO_DEVICE)
    code, doc = our_controller(host, "--discover")
    assert code == 0, doc["errors"]
    [node] = doc["nodes"]  # our own node answered our multicast Get too, and was left out by its 0x83
    assert node["addresses"] == [DEVICE] and node["from"] == f"{DEVICE}:3610"
    assert node["identification"] == ready["node_profile"]["83"]
    assert node["instances"] == ["027d01"]
    battery = node["objects"]["027d01"]
    assert battery["set_map"] == [hx(e) for e in PROFILE.epcs("set")]
    assert battery["announce_map"] == [hx(e) for e in PROFILE.epcs("inf")]
    # uecho's bitmap: count byte 16, EPCs from 0xC0 lost; we read its bits (and say the count was wrong)
    assert battery["get_map"] == [hx(e) for e in PROFILE.epcs("get") if e < 0xC0]
    assert "count byte says 16" in battery["error"]


def test_our_controller_gets_and_sets_the_uecho_device_and_takes_its_seti_sna_as_the_refusal(
    host: LoopbackHost,
) -> None:
    host.start(UECHO_DEVICE)
    code, doc = our_controller(host, "--get", "027D01:80,DA,E4,C1", "--set", "027D01:DA=42", "--set", "027D01:DA=99")
    assert code == 0, doc["errors"]
    [before] = doc["gets"]
    assert before["values"] == {"80": value(0x80), "c1": value(0xC1), "da": value(0xDA), "e4": value(0xE4)}
    assert (before["esv"], before["from"]) == ("72", f"{DEVICE}:3610")
    accepted, refused = doc["sets"]
    assert (accepted["esv"], accepted["ok"], accepted["refused"], accepted["readback"]) == ("71", True, [], "42")
    # uecho answers a refused SetC with SetI_SNA (0x50); we take it as the refusal instead of waiting it out
    assert (refused["esv"], refused["ok"], refused["refused"], refused["readback"]) == ("50", False, ["da"], "42")
    assert doc["dropped"] == []


def test_our_controller_gets_inf_sna_for_inf_req_and_the_uecho_device_notifications(host: LoopbackHost) -> None:
    host.start([*UECHO_DEVICE, "--announce", "80,DA"])
    code, doc = our_controller(host, "--inf-req", "027D01:80,DA", "--linger", "5", "--notifications", "1")
    assert code == 0, doc["errors"]
    [answer] = doc["inf_reqs"]
    # uecho answers every INF_REQ with INF_SNA and PDC=0 (the spec wants INF with the values)
    assert (answer["esv"], answer["refused"], answer["values"]) == ("53", ["80", "da"], {})
    inf = doc["notifications"][0]
    assert (inf["from"], inf["esv"], inf["seoj"], inf["deoj"]) == (f"{DEVICE}:3610", "73", "027d01", "0ef001")
    assert inf["props"] == {"80": value(0x80), "da": value(0xDA)}
