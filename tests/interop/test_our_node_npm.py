"""The npm stack echonet-lite both ways against OUR stack: its controller (tools/interop/el_controller.js) against
our DeviceServer (tools/interop/our_device.py) and its device (el_device.js) against our Controller
(tools/interop/our_controller.py).

The library sends from port 23610 and listens on 3610 only: it hears our device only with our ``reply_to_3610``
option, and our controller must ask it again on 3610, not on the port its answers come from.

Every test runs in its own network namespace (tools/interop/interop_harness.py: needs root), the device on
127.0.0.2:3610, the controller on 127.0.0.4 (npm) or 127.0.0.3 (ours).
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "tools" / "interop"))

from interop_common import hx, load_profile
from interop_harness import (
    LoopbackHost,
    Peer,
    our_controller_argv,
    our_device_argv,
    require_npm_peer,
    tagged,
)

pytestmark = [pytest.mark.interop, pytest.mark.timeout(60)]

DEVICE = "127.0.0.2"
OUR_CONTROLLER = "127.0.0.3"
NPM_CONTROLLER = "127.0.0.4"
OBJECTS = ["027d01", "026b01", "02a601"]
PROFILE = load_profile("027D")
EL_DEVICE = ["node", "tools/interop/el_device.js", "--bind", DEVICE, "--multicast"]


@pytest.fixture
def host() -> Iterator[LoopbackHost]:
    require_npm_peer()
    with LoopbackHost() as h:
        yield h


def el_controller(host: LoopbackHost, *extra: str) -> tuple[int, dict[str, Any]]:
    argv = ["node", "tools/interop/el_controller.js", "--host", DEVICE, "--bind", NPM_CONTROLLER, "--timeout", "1"]
    return host.run_json([*argv, *extra], timeout=45)


def our_controller(host: LoopbackHost, *extra: str) -> tuple[int, dict[str, Any]]:
    return host.run_json(our_controller_argv(OUR_CONTROLLER, "--host", DEVICE, "--multicast", *extra), timeout=45)


def finished(peer: Peer, timeout: float = 30) -> tuple[int, dict[str, Any]]:
    peer.proc.wait(timeout=timeout)
    code = peer.stop()
    doc: dict[str, Any] = json.loads([line for line in peer.stdout if line.startswith("{")][-1])
    return code, doc


def value(epc: int) -> str:
    return next(p.edt.hex() for p in PROFILE.properties if p.epc == epc)


# npm controller -> our device ----------------------------------------------------------------------------------------


def test_npm_controller_loses_our_answers_sent_back_to_its_source_port(host: LoopbackHost) -> None:
    device, _ = host.start(our_device_argv(DEVICE))
    code, doc = el_controller(host, "--set", "027D01:DA=42")
    device.stop()
    assert code == 1 and "no answer from the node profile" in doc["errors"]
    [done] = tagged(device, "DONE")
    requests = [f for f in done["frames"] if f["dir"] == "in"]
    answers = [f for f in done["frames"] if f["dir"] == "out" and f["peer"].startswith(NPM_CONTROLLER)]
    # our node answered every request, to the port it came from (our default, docs/architecture.md field rules),
    # where the library hears nothing
    assert requests and len(answers) == len(requests)
    assert {a["peer"] for a in answers} == {r["peer"] for r in requests} == {f"{NPM_CONTROLLER}:23610"}
    # its SetC was applied all the same
    assert tagged(device, "SET") == [{"eoj": "027d01", "epc": "da", "edt": "42", "peer": NPM_CONTROLLER}]


def test_npm_controller_discovers_reads_and_sets_our_devices_with_reply_to_3610(host: LoopbackHost) -> None:
    device, ready = host.start(our_device_argv(DEVICE, "--multicast", "--reply-to-3610"))
    code, doc = el_controller(host, "--search", "--set", "027D01:DA=42", "--set", "027D01:DA=99")
    device.stop()
    assert doc["responders"] == [f"{DEVICE}:3610"]  # found by its multicast search
    assert doc["instances"] == OBJECTS
    assert doc["node_profile"]["83"] == ready["identification"]
    for eoj in OBJECTS:
        ours, theirs = ready["objects"][eoj], doc["objects"][eoj]
        assert theirs["maps"] == theirs["spec_maps"], eoj  # the library decodes our maps as the spec says
        assert theirs["maps"] == {"9d": ours["announce_map"], "9e": ours["set_map"], "9f": ours["get_map"]}, eoj
        assert theirs["values"] == {e: ours["values"][e] for e in ours["get_map"] if e not in ("9d", "9e", "9f")}
        assert theirs["unreadable"] == []
    accepted, refused = doc["sets"]
    assert (accepted["answer_esv"], accepted["readback"]) == ("71", "42")
    assert (refused["answer_esv"], refused["readback"]) == ("51", "42")
    assert code == 0, doc["errors"]  # (the runner counts an answered SetC_SNA as an answer)
    assert tagged(device, "SET") == [{"eoj": "027d01", "epc": "da", "edt": "42", "peer": NPM_CONTROLLER}]


# npm device -> our controller ----------------------------------------------------------------------------------------


def test_our_controller_hears_the_npm_device_start_up_inf_and_discovers_it_although_it_answers_from_23610(
    host: LoopbackHost,
) -> None:
    controller = host.popen(
        our_controller_argv(
            OUR_CONTROLLER, "--multicast", "--ready", "--linger", "3", "--notifications", "1", "--deadline", "20"
        )
    )
    controller.wait_ready()
    _, ready = host.start(EL_DEVICE)
    code, doc = finished(controller)
    [inf] = doc["notifications"]
    assert (inf["from"], inf["seoj"], inf["esv"], inf["props"]) == (
        f"{DEVICE}:23610",
        "0ef001",
        "73",
        {"d5": "01027d01"},
    )

    code, doc = our_controller(host, "--discover")
    assert code == 0, doc["errors"]
    [node] = doc["nodes"]
    # its answers come from 23610, where it does not listen: the node's address keeps port 3610 (asked there)
    assert node["from"] == f"{DEVICE}:3610"
    assert node["identification"] == ready["node_profile"]["83"]
    assert node["instances"] == ["027d01"]
    battery = node["objects"]["027d01"]
    assert battery["error"] is None
    assert battery["get_map"] == [hx(e) for e in PROFILE.epcs("get")]
    assert battery["set_map"] == [hx(e) for e in PROFILE.epcs("set")]


def test_our_controller_gets_sets_and_hears_the_npm_device_announce_the_change(host: LoopbackHost) -> None:
    host.start(EL_DEVICE)
    code, doc = our_controller(
        host,
        "--get",
        "027D01:80,DA,E4",
        "--set",
        "027D01:DA=42",
        "--set",
        "027D01:DA=99",
        "--linger",
        "3",
        "--notifications",
        "1",
    )
    assert code == 0, doc["errors"]
    [got] = doc["gets"]
    assert got["values"] == {"80": value(0x80), "da": value(0xDA), "e4": value(0xE4)}
    assert got["from"] == f"{DEVICE}:23610"  # matched on (IP, TID, EOJ), not on the port
    accepted, refused = doc["sets"]
    assert (accepted["esv"], accepted["ok"], accepted["readback"]) == ("71", True, "42")
    assert (refused["esv"], refused["refused"], refused["readback"]) == ("51", ["da"], "42")
    [inf] = [n for n in doc["notifications"] if n["seoj"] == "027d01"]  # (not the node profile's start-up INF)
    assert (inf["from"], inf["esv"], inf["props"]) == (f"{DEVICE}:23610", "73", {"da": "42"})


def test_our_controller_reports_a_clear_timeout_for_the_inf_req_the_npm_device_ignores(host: LoopbackHost) -> None:
    host.start(EL_DEVICE)
    code, doc = our_controller(host, "--inf-req", "027D01:80", "--retries", "0")
    assert code == 1 and doc["inf_reqs"] == []
    assert doc["errors"] == ["inf_req 027d01: no answer from 127.0.0.2 port 3610 (027D01, ESV 0x63) after 1 attempt(s)"]
