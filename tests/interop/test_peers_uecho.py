"""uecho (PyPI) as a device and as a controller (tools/interop/uecho_device.py, uecho_controller.py) works peer to
peer, and its departures from the spec recorded in tools/interop/README.md are what it really puts on the wire.

Every test runs in its own network namespace (tools/interop/interop_harness.py: needs root) with the peers on
127.0.0.x:3610.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "tools" / "interop"))

from interop_common import decode_map, encode_map, hx, load_profile
from interop_harness import PYTHON, LoopbackHost, esv_of, props_of, require_npm_peer, require_python_peer, wire

pytestmark = [pytest.mark.interop, pytest.mark.timeout(60)]

DEVICE = "127.0.0.2"
CONTROLLER = "127.0.0.5"
PROBE = "127.0.0.9"
PROFILE = load_profile("027D")
UECHO_DEVICE = [PYTHON, "tools/interop/uecho_device.py", "--bind", DEVICE]
BELOW_C0 = [e for e in PROFILE.epcs("get") if e < 0xC0]


@pytest.fixture
def host() -> Iterator[LoopbackHost]:
    require_python_peer("uecho")
    with LoopbackHost() as h:
        yield h


def uecho_controller(host: LoopbackHost, *extra: str) -> tuple[int, dict[str, Any]]:
    argv = [PYTHON, "tools/interop/uecho_controller.py", "--host", DEVICE, "--bind", CONTROLLER, "--timeout", "1"]
    return host.run_json([*argv, *extra])


def test_uecho_controller_discovers_the_uecho_device_and_sets_a_property(host: LoopbackHost) -> None:
    host.start(UECHO_DEVICE)
    code, doc = uecho_controller(host, "--set", "027D01:DA=42")
    assert code == 0, doc["errors"]
    assert doc["instances"] == ["027d01"]
    obj = doc["objects"]["027d01"]
    assert sorted(obj["spec_maps"]["9e"]) == [hx(e) for e in PROFILE.epcs("set")]  # under 16: the list form is right
    # uecho's decoder stops after the count byte's 16 EPCs, 5 short of the 21 its own bitmap carries
    assert len(obj["maps"]["9f"]) == 16 and sorted(obj["spec_maps"]["9f"]) == [hx(e) for e in BELOW_C0]
    read = {int(e, 16) for e in obj["maps"]["9f"]} - {0x9D, 0x9E, 0x9F}
    assert obj["values"] == {hx(p.epc): p.edt.hex() for p in PROFILE.properties if p.epc in read}
    [setc] = doc["sets"]
    assert (setc["answer"]["esv"], setc["readback"]) == ("71", "42")


def test_uecho_property_map_bitmap_drops_epcs_from_0xc0_and_counts_16(host: LoopbackHost) -> None:
    _, ready = host.start(UECHO_DEVICE)
    [answer] = host.probe(PROBE, DEVICE, [wire("1081 0201 05ff01 027d01 62 01 9f00")])
    [(_, _, bitmap)] = props_of(answer["hex"])
    assert bitmap == ready["properties"]["9f"]
    edt = bytes.fromhex(bitmap)
    assert len(PROFILE.epcs("get")) == 38 and edt[0] == 16  # the count byte is always 16 in the bitmap form
    assert decode_map(edt) == BELOW_C0  # bits 4-7 of every bitmap byte (EPCs 0xC0-0xFF) are never set
    assert edt[1:] != encode_map(PROFILE.epcs("get"))[1:]


def test_uecho_decodes_a_right_bitmap_without_epcs_from_0xc0_and_pads_with_zeros(host: LoopbackHost) -> None:
    require_npm_peer()
    host.start(["node", "tools/interop/el_device.js", "--bind", DEVICE, "--multicast"])
    code, doc = uecho_controller(host, "--get", "027D01:9F")
    assert code == 0, doc["errors"]
    raw = doc["objects"]["027d01"]["values"]["9f"]
    assert raw == encode_map(PROFILE.epcs("get")).hex()  # the npm device's runner sends a spec bitmap
    import uecho  # the decoding the controller's flow relies on

    codes = uecho.Property(0x9F, bytes.fromhex(raw)).property_map_codes
    assert sorted(c for c in codes if c) == BELOW_C0
    assert len(codes) == len(PROFILE.epcs("get")) and codes.count(0) == len(PROFILE.epcs("get")) - len(BELOW_C0)


def test_uecho_controller_reads_the_npm_device_only_after_its_multicast_search_found_it(
    host: LoopbackHost,
) -> None:
    require_npm_peer()
    device = host.start(["node", "tools/interop/el_device.js", "--bind", DEVICE])[0]
    code, doc = uecho_controller(host, "--get", "027D01:80")
    # the answer arrived (its first property is 0x83: the npm library reorders), but uecho registers a node only
    # from an answer that starts with an instance list, and its receive thread dies on the unregistered node's answer
    assert code == 1 and doc["errors"][0].startswith("no answer to ESV 62 0ef001")
    assert any(f["dir"] == "in" and f["peer"] == f"{DEVICE}:23610" for f in doc["frames"])
    device.stop()

    host.start(["node", "tools/interop/el_device.js", "--bind", DEVICE, "--multicast"])
    code, doc = uecho_controller(host, "--get", "027D01:80,DA")
    assert code == 0, doc["errors"]
    assert DEVICE in doc["found_nodes"]
    assert doc["objects"]["027d01"]["values"] == {"80": "30", "da": "44"}


def test_uecho_answers_a_rejected_setc_with_seti_sna(host: LoopbackHost) -> None:
    host.start(UECHO_DEVICE)
    [answer] = host.probe(PROBE, DEVICE, [wire("1081 0202 05ff01 027d01 61 02 da0142 a00400000001")])
    assert esv_of(answer["hex"]) == "50"  # 0x51 SetC_SNA is due
    assert props_of(answer["hex"]) == [("da", 0, ""), ("a0", 4, "00000001")]


def test_uecho_answers_get_with_opc_0_inf_req_with_inf_sna_and_not_instance_0(host: LoopbackHost) -> None:
    host.start(UECHO_DEVICE)
    get_opc0 = wire("1081 0203 05ff01 027d01 62 00")
    inf_req = wire("1081 0204 05ff01 027d01 63 01 8000")
    get_instance0 = wire("1081 0205 05ff01 027d00 62 01 8000")
    answers = host.probe(PROBE, DEVICE, [get_opc0, inf_req, get_instance0])
    assert [(a["after"], a["hex"]) for a in answers] == [
        (0, wire("1081 0203 027d01 05ff01 72 00")),
        (1, wire("1081 0204 027d01 05ff01 53 01 8000")),
    ]


def test_uecho_answers_to_the_source_port_from_3610(host: LoopbackHost) -> None:
    host.start(UECHO_DEVICE)
    [answer] = host.probe(PROBE, DEVICE, [wire("1081 0206 05ff01 027d01 62 01 8000")], port=40000)
    assert answer["from"] == f"{DEVICE}:3610" and esv_of(answer["hex"]) == "72"


def test_uecho_stops_receiving_on_a_socket_after_one_malformed_datagram(host: LoopbackHost) -> None:
    host.start(UECHO_DEVICE)
    get80 = wire("1081 0207 05ff01 027d01 62 01 8000")
    assert [esv_of(a["hex"]) for a in host.probe(PROBE, DEVICE, ["00112233", get80])] == []
    # the unicast socket's thread has ended; the multicast socket still answers, until it meets a bad frame too
    assert [esv_of(a["hex"]) for a in host.probe(PROBE, "224.0.23.0", [get80])] == ["72"]
    truncated = wire("1081 0208 05ff01 027d01 62 02 80")
    assert host.probe(PROBE, "224.0.23.0", [truncated, get80]) == []


def test_uecho_stops_receiving_after_a_setget_of_an_unknown_epc(host: LoopbackHost) -> None:
    host.start(UECHO_DEVICE)
    setget = wire("1081 0209 05ff01 027d01 6e 01 da0141 01 b100")
    get80 = wire("1081 020a 05ff01 027d01 62 01 8000")
    assert host.probe(PROBE, DEVICE, [setget, get80]) == []


def test_uecho_node_profile_counts_itself_in_its_class_list_and_lacks_a_manufacturer_code(
    host: LoopbackHost,
) -> None:
    host.start(UECHO_DEVICE)
    [answer] = host.probe(PROBE, DEVICE, [wire("1081 020b 05ff01 0ef001 62 04 d400 d700 8a00 d600")])
    # a Get_Res (not Get_SNA) that carries 0x8A with PDC=0; 0xD7 says two classes and lists one
    assert esv_of(answer["hex"]) == "72"
    assert props_of(answer["hex"]) == [("d4", 2, "0002"), ("d7", 3, "02027d"), ("8a", 0, ""), ("d6", 4, "01027d01")]


def test_uecho_device_announces_neither_its_instance_list_nor_a_changed_property(host: LoopbackHost) -> None:
    host.start_sniffer()
    host.start(UECHO_DEVICE)
    [answer] = host.probe(PROBE, DEVICE, [wire("1081 020c 05ff01 027d01 61 01 da0142")])
    records = host.stop_sniffer()
    assert esv_of(answer["hex"]) == "71"
    # 0xDA is in the status-change map (0x9D) and changed from 0x44; uecho sent only the Set_Res
    assert [r["dst"] for r in records if r["src"] == DEVICE] == [PROBE]
