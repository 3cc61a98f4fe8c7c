"""The npm stack echonet-lite (tools/interop/el_device.js, el_controller.js) works peer to peer, and its departures
from the spec recorded in tools/interop/README.md are what it really puts on the wire.

Every test runs in its own network namespace (tools/interop/interop_harness.py: needs root) with the peers on
127.0.0.x:3610; npm's packages are installed into tools/interop on first use.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "tools" / "interop"))

from interop_common import hx, load_profile
from interop_harness import (
    PYTHON,
    LoopbackHost,
    esv_of,
    frames_between,
    props_of,
    require_npm_peer,
    require_python_peer,
    tid_of,
    wire,
)

pytestmark = [pytest.mark.interop, pytest.mark.timeout(60)]

DEVICE = "127.0.0.2"
CONTROLLER = "127.0.0.4"
PROBE = "127.0.0.9"
PROFILE = load_profile("027D")
EL_DEVICE = ["node", "tools/interop/el_device.js", "--bind", DEVICE]


@pytest.fixture
def host() -> Iterator[LoopbackHost]:
    require_npm_peer()
    with LoopbackHost() as h:
        yield h


def el_controller(host: LoopbackHost, *extra: str) -> tuple[int, dict[str, Any]]:
    return host.run_json(["node", "tools/interop/el_controller.js", "--bind", CONTROLLER, "--timeout", "1", *extra])


def readable_values() -> dict[str, str]:
    return {hx(p.epc): p.edt.hex() for p in PROFILE.properties if p.get}


def test_npm_controller_discovers_the_npm_device_reads_every_value_and_sets_one(host: LoopbackHost) -> None:
    host.start(EL_DEVICE)
    code, doc = el_controller(host, "--host", DEVICE, "--set", "027D01:DA=42")
    assert code == 0, doc["errors"]
    assert doc["instances"] == ["027d01"]
    obj = doc["objects"]["027d01"]
    assert obj["spec_maps"]["9f"] == [hx(e) for e in PROFILE.epcs("get")]
    assert obj["maps"] == obj["spec_maps"]  # the library decodes both map forms as the spec says
    assert obj["values"] == readable_values()
    [setc] = doc["sets"]
    assert (setc["answer_esv"], setc["readback"]) == ("71", "42")


def test_npm_controller_search_finds_the_npm_device_by_multicast(host: LoopbackHost) -> None:
    host.start([*EL_DEVICE, "--multicast"])
    code, doc = el_controller(host, "--search", "--get", "027D01:80,E4")
    assert code == 0, doc["errors"]
    assert doc["responders"] == [f"{DEVICE}:23610"]
    assert doc["objects"]["027d01"]["values"] == {"80": "30", "e4": "3c"}


def test_npm_library_discovers_the_npm_device_by_itself(host: LoopbackHost) -> None:
    host.start(EL_DEVICE)
    code, doc = el_controller(host, "--host", DEVICE, "--auto", "3")
    assert code == 0, doc["errors"]
    learned = doc["facilities"][DEVICE]["027d01"]
    assert {epc: learned.get(epc) for epc in ("80", "da", "e4")} == {"80": "30", "da": "44", "e4": "3c"}


def test_npm_device_announces_its_instance_list_at_start_up(host: LoopbackHost) -> None:
    host.start_sniffer()
    host.start(EL_DEVICE)
    records = host.stop_sniffer()
    [inf] = frames_between(records, DEVICE, "224.0.23.0")
    assert (inf["sport"], inf["dport"]) == (23610, 3610)
    assert inf["hex"] == wire("1081 0001 0ef001 0ef001 73 01 d5 04 01027d01")


def test_npm_device_answers_from_port_23610_to_port_3610_whatever_the_source_port(host: LoopbackHost) -> None:
    host.start(EL_DEVICE)
    host.start_sniffer()
    get80 = wire("1081 0101 05ff01 027d01 62 01 8000")
    from_3610 = host.probe(PROBE, DEVICE, [get80])
    from_ephemeral = host.probe(PROBE, DEVICE, [get80], port=40000)
    records = host.stop_sniffer()
    answer = wire("1081 0101 027d01 05ff01 72 01 8001 30")
    assert [(r["from"], r["hex"]) for r in from_3610] == [(f"{DEVICE}:23610", answer)]
    assert from_ephemeral == []  # the answer went to port 3610, not to the request's port 40000
    answers = frames_between(records, DEVICE, PROBE)
    assert [(a["sport"], a["dport"]) for a in answers] == [(23610, 3610), (23610, 3610)]


def test_npm_device_setc_sna_carries_a_pdc_with_one_byte_of_edt(host: LoopbackHost) -> None:
    host.start(EL_DEVICE)
    # SetC of 0xA0 (not settable, 4 bytes) and 0x97 (settable, but 4 bytes where 2 are due): both rejected
    setc = wire("1081 0102 05ff01 027d01 61 02 a004 00000001 9704 aabbccdd")
    [answer] = host.probe(PROBE, DEVICE, [setc])
    assert esv_of(answer["hex"]) == "51"
    # the spec echoes each rejected EPC with its PDC and EDT; the library sends the PDC and only the EDT's last byte
    assert answer["hex"].endswith(wire("51 02 9704 dd a004 01"))


def test_npm_device_leaves_seti_failures_inf_req_and_setget_unanswered(host: LoopbackHost) -> None:
    host.start(EL_DEVICE)
    seti_rejected = wire("1081 0103 05ff01 027d01 60 01 a004 00000001")
    inf_req = wire("1081 0104 05ff01 0ef001 63 01 d500")
    setget = wire("1081 0105 05ff01 0ef001 6e 01 bf028001 01 8200")
    assert host.probe(PROBE, DEVICE, [seti_rejected, inf_req, setget]) == []


def test_npm_device_answers_an_inf_req_carrying_an_edt_with_a_new_tid_by_multicast(host: LoopbackHost) -> None:
    host.start(EL_DEVICE)
    host.start_sniffer()
    host.probe(PROBE, DEVICE, [wire("1081 0106 05ff01 0ef001 63 01 d501 00")])
    records = host.stop_sniffer()
    [inf] = frames_between(records, DEVICE, "224.0.23.0")
    assert esv_of(inf["hex"]) == "73" and tid_of(inf["hex"]) != "0106"


def test_npm_device_answers_a_get_to_instance_0_as_instance_0_with_get_sna(host: LoopbackHost) -> None:
    host.start(EL_DEVICE)
    [answer] = host.probe(PROBE, DEVICE, [wire("1081 0107 05ff01 027d00 62 01 8000")])
    assert answer["hex"] == wire("1081 0107 027d00 05ff01 52 01 8000")


def test_npm_device_lists_answers_in_its_own_order(host: LoopbackHost) -> None:
    host.start(EL_DEVICE)
    [answer] = host.probe(PROBE, DEVICE, [wire("1081 0108 05ff01 027d01 62 03 da00 e400 8000")])
    assert [epc for epc, _, _ in props_of(answer["hex"])] == ["80", "da", "e4"]


def test_npm_controller_loses_answers_sent_back_to_its_source_port(host: LoopbackHost) -> None:
    require_python_peer("uecho")
    host.start([PYTHON, "tools/interop/uecho_device.py", "--bind", DEVICE])
    host.start_sniffer()
    code, doc = el_controller(host, "--host", DEVICE)
    records = host.stop_sniffer()
    assert code == 1 and "no answer from the node profile" in doc["errors"]
    answers = frames_between(records, DEVICE, CONTROLLER)
    assert answers and {(a["sport"], a["dport"]) for a in answers} == {(3610, 23610)}

    # with the runner's workaround (the library's sending socket kept open), the same flow works
    code, doc = el_controller(host, "--host", DEVICE, "--listen-send-port", "--set", "027D01:DA=42")
    assert code == 0, doc["errors"]
    assert doc["instances"] == ["027d01"]
    [setc] = doc["sets"]
    assert (setc["answer_esv"], setc["readback"]) == ("71", "42")


def test_npm_device_runner_announces_a_changed_property_of_its_status_change_map(host: LoopbackHost) -> None:
    host.start(EL_DEVICE)
    host.start_sniffer()
    [answer] = host.probe(PROBE, DEVICE, [wire("1081 0109 05ff01 027d01 61 01 da0142")])
    records = host.stop_sniffer()
    assert answer["hex"] == wire("1081 0109 027d01 05ff01 71 01 da00")
    [inf] = frames_between(records, DEVICE, "224.0.23.0")
    assert inf["hex"][8:] == wire("027d01 0ef001 73 01 da0142")
