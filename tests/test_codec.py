"""Frame codec behaviour on spec-shaped frames, every ESV and each malformed-input case, with exact offsets."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from echonet import EHD2, EOJ, ESV, EchonetUsageError, Frame, FrameDecodeError, Property, decode, encode
from echonet.wire import reference_decode

VECTORS = Path(__file__).parent / "vectors" / "real_frames.json"


def test_discovery_get_of_node_profile_d6_decodes_field_by_field() -> None:
    # The multicast discovery request every controller sends: Get 0xD6 of node profile 0x0EF001 from 0x05FF01.
    frame = decode(bytes.fromhex("1081000105ff010ef0016201d600"))
    assert frame.ehd1 == 0x10 and frame.ehd2 is EHD2.SPECIFIED and frame.tid == 1
    assert frame.seoj == EOJ(0x05, 0xFF, 0x01) and frame.deoj == EOJ(0x0E, 0xF0, 0x01)
    assert frame.esv is ESV.GET
    assert frame.properties == (Property(0xD6, b""),)
    assert bytes(frame.deoj) == b"\x0e\xf0\x01"


def test_every_known_esv_round_trips() -> None:
    for esv in ESV:
        props = [Property(0x80, b"\x30"), Property(0xE2, b"\x00\x00\x10\x00")]
        get_props = [Property(0xD3, b"")] if esv.is_setget else []
        frame = Frame.make(0x1234, EOJ(5, 0xFF, 1), EOJ(2, 0x7D, 1), esv, props, get_props)
        data = encode(frame)
        assert decode(data) == frame
        assert decode(data).esv is esv


def test_setget_keeps_set_and_get_lists_apart() -> None:
    # SetGet 0x6E: OPCSet 1 (0xDA = 0x42 charging), OPCGet 2 (0xE2, 0xD3), Get half with PDC=0.
    data = bytes.fromhex("1081000705ff01027d016e01da014202e200d300")
    frame = decode(data)
    assert frame.esv is ESV.SETGET
    assert frame.properties == (Property(0xDA, b"\x42"),)
    assert frame.get_properties == (Property(0xE2, b""), Property(0xD3, b""))
    assert encode(frame) == data


def test_setget_response_with_empty_set_list_and_values_in_get_list() -> None:
    data = bytes.fromhex("10810007027d0105ff017e01da0001d304fffffa24")
    frame = decode(data)
    assert frame.esv is ESV.SETGET_RES
    assert frame.get_properties == (Property(0xD3, bytes.fromhex("fffffa24")),)


def test_opc_zero_frame_decodes_with_no_properties() -> None:
    frame = decode(bytes.fromhex("1081000105ff01027d016200"))
    assert frame.properties == ()


def test_unknown_esv_epc_and_class_are_plain_values() -> None:
    data = bytes.fromhex("1081abcd0fff057f7f7f9902f3030102030000")
    frame = decode(data)
    assert frame.esv == 0x99 and not isinstance(frame.esv, ESV)
    assert frame.seoj == EOJ(0x0F, 0xFF, 0x05)
    assert frame.properties == (Property(0xF3, b"\x01\x02\x03"), Property(0x00, b""))
    assert encode(frame) == data


def test_arbitrary_format_frame_keeps_edata_opaque() -> None:
    data = bytes.fromhex("10820042") + b"any bytes at all \x00\xff"
    frame = decode(data)
    assert frame.ehd2 is EHD2.ARBITRARY and frame.tid == 0x42
    assert frame.edata == b"any bytes at all \x00\xff"
    assert frame.seoj is None and frame.esv is None
    assert encode(frame) == data


def test_arbitrary_format_frame_with_empty_edata() -> None:
    assert decode(b"\x10\x82\x00\x01").edata == b""


@pytest.mark.parametrize(
    ("hex_data", "offset", "field"),
    [
        ("", 0, "ehd1"),  # empty datagram
        ("10", 1, "ehd2"),  # truncated header
        ("1081", 2, "tid"),
        ("108100", 2, "tid"),
        ("10810001", 4, "seoj"),
        ("1081000105ff", 4, "seoj"),
        ("1081000105ff010ef0", 7, "deoj"),
        ("1081000105ff010ef001", 10, "esv"),
        ("1081000105ff010ef00162", 11, "opc"),
        ("1081000105ff010ef0016201", 12, "epc"),  # OPC 1 but no property
        ("1081000105ff010ef0016201d6", 13, "pdc"),
        ("1081000105ff01027d017201e204000010", 14, "edt"),  # truncated EDT (3 of 4 bytes)
        ("1081000105ff01027d017201e2ff00", 14, "edt"),  # PDC 255 overruns the datagram
        ("1081000105ff010ef0016201d600ff", 14, "trailing"),  # trailing bytes
        ("2081000105ff010ef0016201d600", 0, "ehd1"),  # EHD1 not 0x10 (e.g. a secured or foreign datagram)
        ("0081000105ff010ef0016201d600", 0, "ehd1"),
        ("1083000105ff010ef0016201d600", 1, "ehd2"),  # unknown EHD2
        ("1081000105ff010ef0016e01da0142", 15, "opc_get"),  # SetGet without OPCGet
        ("1081000105ff010ef0016e01da014202e200", 18, "epc"),  # OPCGet 2 but one property
    ],
)
def test_malformed_frame_is_rejected_at_the_exact_offset(hex_data: str, offset: int, field: str) -> None:
    data = bytes.fromhex(hex_data)
    with pytest.raises(FrameDecodeError) as info:
        decode(data)
    assert (info.value.offset, info.value.field) == (offset, field)
    assert f"offset {offset}" in str(info.value)
    with pytest.raises(FrameDecodeError) as oracle:
        reference_decode(data)
    assert (oracle.value.offset, oracle.value.field) == (offset, field)


def test_decode_rejects_non_bytes_with_frame_decode_error() -> None:
    with pytest.raises(FrameDecodeError):
        decode("1081")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("frame", "message"),
    [
        (Frame.make(1, EOJ(5, 0xFF, 1), EOJ(2, 0x7D, 1), 0x62, [Property(0x80, b"x" * 256)]), "at most 255"),
        (Frame.make(1, EOJ(5, 0xFF, 1), EOJ(2, 0x7D, 1), 0x62, [Property(0x100, b"")]), "not a byte"),
        (Frame.make(0x10000, EOJ(5, 0xFF, 1), EOJ(2, 0x7D, 1), 0x62), "TID"),
        (Frame.make(1, EOJ(5, 0xFF, 1), EOJ(2, 0x7D, 1), 0x62, get_properties=[Property(0x80)]), "SetGet"),
        (Frame.make(1, EOJ(5, 0xFF, 1), EOJ(2, 0x7D, 1), 0x62, [Property(0x80, "text")]), "bytes"),  # type: ignore[list-item]
        (Frame.make(1, EOJ(5, 0xFF, 1), EOJ(2, 0x7D, 1), 0x62, [Property(0x80)] * 256), "at most 255"),
        (Frame(0x11, 0x81, 1, EOJ(5, 0xFF, 1), EOJ(2, 0x7D, 1), 0x62), "EHD1"),
        (Frame(0x10, 0x81, 1, EOJ(5, 0xFF, 1), EOJ(2, 0x7D, 0x100), 0x62), "DEOJ"),
    ],
)
def test_encode_refuses_frames_that_cannot_be_put_on_the_wire(frame: Frame, message: str) -> None:
    with pytest.raises(EchonetUsageError, match=message):
        encode(frame)


def test_eoj_parses_the_spellings_users_type() -> None:
    for text in ("027D01", "0x027d01", "02-7D-01", "02:7d:01"):
        assert EOJ.parse(text) == EOJ(0x02, 0x7D, 0x01)
    assert str(EOJ(0x02, 0x7D, 0x1F)) == "027D1F"
    assert EOJ.of(0x027D, 0x1F).class_id == 0x027D
    with pytest.raises(EchonetUsageError):
        EOJ.parse("027D")


def test_esv_relations_pair_requests_with_answers() -> None:
    assert ESV.GET.response is ESV.GET_RES and ESV.GET.sna is ESV.GET_SNA
    assert ESV.SETI.response is None and ESV.SETI.sna is ESV.SETI_SNA
    assert ESV.SETC.response is ESV.SET_RES and ESV.SETC_SNA.request is ESV.SETC
    assert ESV.INF_REQ.response is ESV.INF and ESV.INFC.response is ESV.INFC_RES
    assert ESV.SETGET.sna is ESV.SETGET_SNA and ESV.SETGET_RES.request is ESV.SETGET
    assert ESV.GET.is_request and ESV.GET_SNA.is_sna and ESV.GET_RES.is_response
    assert ESV.INF.is_notification and not ESV.INF.is_request


def _real_frames() -> list[dict[str, object]]:
    return list(json.loads(VECTORS.read_text())["frames"])


@pytest.mark.parametrize("entry", _real_frames(), ids=lambda e: str(e["description"])[:60])
def test_frames_captured_from_real_devices(entry: dict[str, object]) -> None:
    data = bytes.fromhex(str(entry["hex"]))
    if entry.get("malformed"):
        with pytest.raises(FrameDecodeError):
            decode(data)
        return
    frame = decode(data)
    assert encode(frame) == data
    assert reference_decode(data) == frame
