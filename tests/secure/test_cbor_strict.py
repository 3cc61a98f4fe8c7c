"""The strict CBOR codec used by EDHOC: deterministic encoding in, anything else refused."""

from __future__ import annotations

import cbor2
import pytest

from secure.errors import ProtocolError
from secure.handshake import cbor

# RFC 8949 appendix A examples that are in deterministic (preferred) encoding
RFC8949_EXAMPLES: list[tuple[object, str]] = [
    (0, "00"),
    (23, "17"),
    (24, "1818"),
    (100, "1864"),
    (1000, "1903e8"),
    (1000000, "1a000f4240"),
    (1000000000000, "1b000000e8d4a51000"),
    (18446744073709551615, "1bffffffffffffffff"),
    (-18446744073709551616, "3bffffffffffffffff"),
    (-1, "20"),
    (-10, "29"),
    (-100, "3863"),
    (-1000, "3903e7"),
    (0.0, "f90000"),
    (-0.0, "f98000"),
    (1.0, "f93c00"),
    (1.1, "fb3ff199999999999a"),
    (1.5, "f93e00"),
    (65504.0, "f97bff"),
    (100000.0, "fa47c35000"),
    (3.4028234663852886e38, "fa7f7fffff"),
    (1.0e300, "fb7e37e43c8800759c"),
    (-4.0, "f9c400"),
    (False, "f4"),
    (True, "f5"),
    (None, "f6"),
    (cbor.UNDEFINED, "f7"),
    (cbor.Simple(16), "f0"),
    (cbor.Simple(255), "f8ff"),
    (b"", "40"),
    (b"\x01\x02\x03\x04", "4401020304"),
    ("", "60"),
    ("a", "6161"),
    ("IETF", "6449455446"),
    ("\u00fc", "62c3bc"),
    ([], "80"),
    ([1, 2, 3], "83010203"),
    ([1, [2, 3], [4, 5]], "8301820203820405"),
    ({}, "a0"),
    ({1: 2, 3: 4}, "a201020304"),
    ({"a": 1, "b": [2, 3]}, "a26161016162820203"),
    (cbor.Tag(1, 1363896240), "c11a514b67b0"),
]


@pytest.mark.parametrize(("value", "encoded"), RFC8949_EXAMPLES)
def test_rfc8949_examples_encode_and_decode_exactly(value: object, encoded: str) -> None:
    assert cbor.encode(value).hex() == encoded
    assert cbor.encode(cbor.decode(bytes.fromhex(encoded))).hex() == encoded


@pytest.mark.parametrize(("value", "encoded"), RFC8949_EXAMPLES[:27])
def test_encoding_agrees_with_cbor2_canonical(value: object, encoded: str) -> None:
    if isinstance(value, cbor.Simple):
        return
    assert cbor2.dumps(value, canonical=True).hex() == encoded


@pytest.mark.parametrize(
    ("encoded", "why"),
    [
        ("1817", "shortest"),  # 23 in two bytes
        ("190003", "shortest"),  # RFC 9529 invalid trace: METHOD = 3 in three bytes
        ("1a0000ffff", "shortest"),
        ("1b00000000ffffffff", "shortest"),
        ("3817", "shortest"),
        ("5801aa", "shortest"),
        ("7801" + "61", "shortest"),
        ("9800", "shortest"),
        ("b800", "shortest"),
        ("d80101", "shortest"),  # tag 1 in two bytes
        ("f814", "shortest"),  # simple value 20 in two bytes
        ("fa3fc00000", "preferred"),  # 1.5 as single precision
        ("fb3ff8000000000000", "preferred"),  # 1.5 as double precision
        ("f97e01", "preferred"),  # NaN with payload
        ("5f4101ff", "indefinite"),
        ("7f6161ff", "indefinite"),
        ("9f0102ff", "indefinite"),  # RFC 9529 invalid trace style
        ("bf0102ff", "indefinite"),
        ("1c", "reserved"),
        ("ff", "indefinite"),
        ("a20101" + "0102", "duplicate"),
        ("62c3", "past the end"),
        ("43", "past the end"),
        ("83", "longer than the input"),
        ("a1", "longer than the input"),
        ("19", "truncated"),
        ("62fffe", "UTF-8"),
        ("81" * 17 + "00", "too deep"),
        ("a18001", "key type"),
    ],
)
def test_non_deterministic_or_malformed_cbor_is_refused(encoded: str, why: str) -> None:
    with pytest.raises(cbor.CborError, match=why):
        cbor.decode(bytes.fromhex(encoded))


def test_cbor_errors_are_protocol_errors() -> None:
    assert issubclass(cbor.CborError, ProtocolError)


def test_decode_refuses_trailing_bytes_but_sequences_keep_raw_items() -> None:
    with pytest.raises(cbor.CborError, match="trailing"):
        cbor.decode(bytes.fromhex("0102"))
    items = cbor.decode_sequence(bytes.fromhex("03820602412b"))
    assert [item.value for item in items] == [3, [6, 2], b"+"]
    assert [item.raw.hex() for item in items] == ["03", "820602", "412b"]
    assert cbor.decode_sequence(b"") == []


def test_sequence_item_limit() -> None:
    with pytest.raises(cbor.CborError, match="too many"):
        cbor.decode_sequence(bytes(300))
    assert len(cbor.decode_sequence(bytes(256))) == 256


def test_unsorted_map_keys_are_accepted_and_kept_in_order() -> None:
    # RFC 9528 section 3.5.3: ID_CRED labels need not be sorted.
    value = cbor.decode(bytes.fromhex("a2182141ff0441aa"))
    assert list(value) == [33, 4] if isinstance(value, dict) else False
    assert cbor.encode(value).hex() == "a2182141ff0441aa"


def test_is_int_excludes_booleans() -> None:
    assert cbor.is_int(0) and cbor.is_int(-5) and not cbor.is_int(True) and not cbor.is_int(1.0)


def test_encoder_refuses_unencodable_values() -> None:
    with pytest.raises(ValueError):
        cbor.encode(object())
    with pytest.raises(ValueError):
        cbor.encode(2**64)
    with pytest.raises(ValueError):
        cbor.encode_uint(-1)
