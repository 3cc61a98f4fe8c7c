"""Property maps (0x9D/0x9E/0x9F) in both forms, and the node-profile lists 0xD5/0xD6/0xD7."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from echonet import EOJ, EchonetUsageError, ValueDecodeError, decode
from echonet.propmap import (
    decode_class_list,
    decode_instance_list,
    decode_property_map,
    encode_class_list,
    encode_instance_list,
    encode_property_map,
    split_instance_lists,
)

epc_sets = st.frozensets(st.integers(0x80, 0xFF), max_size=128)


@given(epc_sets)
def test_property_map_round_trips_every_epc_set(epcs: frozenset[int]) -> None:
    edt = encode_property_map(epcs)
    assert len(edt) == (len(epcs) + 1 if len(epcs) < 16 else 17)
    assert decode_property_map(edt) == epcs


def test_fifteen_epcs_are_listed_and_sixteen_become_a_bitmap() -> None:
    fifteen = set(range(0x80, 0x8F))
    assert encode_property_map(fifteen) == bytes([15, *sorted(fifteen)])
    assert len(encode_property_map(fifteen | {0xF0})) == 17


def test_bitmap_places_high_epcs_by_low_nibble_then_high_nibble_bit() -> None:
    # Byte i+1 holds the EPCs whose low nibble is i; bit b is EPC 0x80 + 0x10*b + i. Several stacks get 0xC0-0xFF
    # wrong, so pin them down: 0xC0 -> byte 1 bit 4, 0xFF -> byte 16 bit 7, 0x9F -> byte 16 bit 1.
    epcs = {0x80, 0x9F, 0xC0, 0xFF, 0xD3, 0xE2, *range(0x81, 0x8B)}
    edt = encode_property_map(epcs)
    assert edt[0] == 16
    assert edt[1] == 0b0001_0001  # 0x80 (bit 0) and 0xC0 (bit 4)
    assert edt[16] == 0b1000_0010  # 0x9F (bit 1) and 0xFF (bit 7)
    assert edt[4] & (1 << 5)  # 0xD3: low nibble 3, bit (0xD - 8) = 5
    assert edt[3] & (1 << 6)  # 0xE2: low nibble 2, bit 6


def test_get_map_of_a_real_storage_battery_in_bitmap_form() -> None:
    # Storage battery 0x027D1F behind an RC-307A gateway (tests/vectors/real_frames.json): 64 readable EPCs.
    frame = decode(bytes.fromhex("10810001027d1f05ff0172019f1140a595d5a7c4c4c5869795a7e471339392"))
    epcs = decode_property_map(frame.properties[0].edt)
    assert len(epcs) == 64
    assert {0x80, 0x82, 0x83, 0x88, 0x8A, 0x9D, 0x9E, 0x9F, 0xD3, 0xDA, 0xE2, 0xE4}.issubset(epcs)
    assert encode_property_map(epcs) == frame.properties[0].edt


def test_set_map_of_a_real_light_in_list_form() -> None:
    # Koizumi general lighting 0x029005 (pychonet issue #26): 0x9E lists 15 EPCs including vendor 0xF0/0xF8.
    edt = bytes.fromhex("0f8081909194959798b0b1b2b3b6f0f8")
    epcs = decode_property_map(edt)
    assert len(epcs) == 15 and {0xF0, 0xF8} <= epcs
    assert encode_property_map(epcs) == edt


@pytest.mark.parametrize(
    ("hex_edt", "reason"),
    [
        ("", "empty"),
        ("0380", "carries 1"),  # count 3, one EPC
        ("028080", "twice"),
        ("0170", "below 0x80"),
        ("10" + "00" * 15, "17-byte"),
        ("11" + "ff" + "00" * 15, "count byte says 17"),
    ],
)
def test_malformed_property_maps_are_refused_with_a_reason(hex_edt: str, reason: str) -> None:
    with pytest.raises(ValueDecodeError, match=reason):
        decode_property_map(bytes.fromhex(hex_edt))


def test_property_map_refuses_epcs_below_0x80() -> None:
    with pytest.raises(EchonetUsageError):
        encode_property_map({0x7F})


def test_instance_list_round_trips_and_splits_at_84() -> None:
    eojs = [EOJ(0x02, 0x7D, i) for i in range(1, 101)]
    chunks = split_instance_lists(eojs)
    assert [c[0] for c in chunks] == [84, 16]
    assert decode_instance_list(chunks[0]).eojs == tuple(eojs[:84])
    assert decode_instance_list(encode_instance_list(eojs[:2])).eojs == (EOJ(2, 0x7D, 1), EOJ(2, 0x7D, 2))
    with pytest.raises(EchonetUsageError):
        encode_instance_list(eojs)


def test_real_instance_list_answer_decodes() -> None:
    # 0xD6 of a node with a storage battery and a solar unit.
    lst = decode_instance_list(bytes.fromhex("02027d1f027901"))
    assert lst.eojs == (EOJ(0x02, 0x7D, 0x1F), EOJ(0x02, 0x79, 0x01))


def test_class_list_lists_at_most_eight_but_counts_all() -> None:
    classes = list(range(0x0260, 0x026A))
    edt = encode_class_list(classes)
    assert edt[0] == 10 and len(edt) == 1 + 2 * 8
    decoded = decode_class_list(edt)
    assert decoded.total == 10 and decoded.classes == tuple(classes[:8])


@pytest.mark.parametrize("hex_edt", ["", "0102", "02027d01", "010102"])
def test_malformed_node_profile_lists_are_refused(hex_edt: str) -> None:
    with pytest.raises(ValueDecodeError):
        decode_instance_list(bytes.fromhex(hex_edt))
