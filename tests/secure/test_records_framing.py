"""Datagram framing: the non-data record types, header validation and configurable constants."""

from __future__ import annotations

import contextlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from secure.errors import MalformedRecordError, SecureUsageError
from secure.records.framing import (
    DEFAULT_FORMAT,
    CloseReason,
    CookieRecord,
    HandshakeRecord,
    ProtectedRecord,
    RecordFormat,
    RecordKind,
    decode,
    decode_close_reason,
    encode_close_reason,
    encode_cookie,
    encode_handshake,
    encode_partial_iv,
    encode_protected_header,
    is_secure_datagram,
)

ECHONET_GET = bytes.fromhex("1081000105ff01027d0162018000")
TAG = bytes(8)


def test_handshake_record_round_trips_connection_id_and_payload() -> None:
    wire = encode_handshake(b"\x37", b"\x03\x02\x58\x20" + bytes(32))
    assert wire[:4] == b"\x21\x01\x01\x37"
    assert decode(wire) == HandshakeRecord(b"\x37", b"\x03\x02\x58\x20" + bytes(32))
    assert decode(encode_handshake(b"", b"\xf5")) == HandshakeRecord(b"", b"\xf5")


def test_cookie_record_round_trips_challenge_and_echo() -> None:
    cookie = bytes(range(32))
    assert decode(encode_cookie(cookie)) == CookieRecord(cookie, b"")
    assert decode(encode_cookie(cookie, b"message_1")) == CookieRecord(cookie, b"message_1")
    assert encode_cookie(b"\xaa")[:4] == b"\x21\x02\x01\xaa"


def test_protected_header_layout() -> None:
    assert encode_protected_header(RecordKind.DATA, b"\x14", None) == b"\x21\x03\x01\x14"
    assert encode_protected_header(RecordKind.DATA, b"\x01\x00", b"\x42") == b"\x21\x03\x0a\x01\x00\x01\x42"
    assert encode_protected_header(RecordKind.CLOSE, b"\x00", b"") == b"\x21\x04\x09\x00\x00"
    rec = decode(b"\x21\x03\x0a\x01\x00\x01\x42" + b"ct" + TAG)
    assert rec == ProtectedRecord(RecordKind.DATA, b"\x21\x03\x0a", b"\x01\x00", b"\x42", b"ct" + TAG)
    assert isinstance(rec, ProtectedRecord) and rec.piv == 256


def test_partial_iv_encoding_drops_leading_zeros() -> None:
    assert encode_partial_iv(0) == b"\x00"
    assert encode_partial_iv(0x14) == b"\x14"
    assert encode_partial_iv(0x100) == b"\x01\x00"
    assert encode_partial_iv(2**40 - 1) == b"\xff" * 5
    for bad in (-1, 2**40):
        with pytest.raises(SecureUsageError):
            encode_partial_iv(bad)


def test_close_reason_round_trips_and_unknown_codes_still_close() -> None:
    for reason in CloseReason:
        assert decode_close_reason(encode_close_reason(reason)) is reason
    assert decode_close_reason(b"\xee") is CloseReason.UNSPECIFIED
    for bad in (b"", b"\x01\x02"):
        with pytest.raises(MalformedRecordError):
            decode_close_reason(bad)


@pytest.mark.parametrize(
    "wire",
    [
        b"",
        b"\x21",
        b"\x21\x03",
        b"\x10\x81\x00\x01",  # plain ECHONET Lite
        b"\x22\x03\x01\x00" + TAG,  # other EHD1
        b"\x21\x09\x01\x00" + TAG,  # unknown type
        b"\x21\x03\x00" + TAG,  # no partial IV
        b"\x21\x03\x06" + bytes(6) + TAG,  # partial IV length 6 reserved
        b"\x21\x03\x07" + bytes(7) + TAG,
        b"\x21\x03\x11\x00" + TAG,  # kid context flag (reserved here)
        b"\x21\x03\x81\x00" + TAG,  # reserved bit 7
        b"\x21\x03\x02\x00\x01" + TAG,  # leading zero in partial IV
        b"\x21\x03\x02",  # partial IV missing
        b"\x21\x03\x05\x01\x02",  # partial IV truncated
        b"\x21\x03\x09\x00\x08" + bytes(8) + TAG,  # kid longer than 7
        b"\x21\x03\x09\x00",  # kid length missing
        b"\x21\x03\x09\x00\x05\x01\x02",  # kid truncated
        b"\x21\x03\x01\x00" + bytes(7),  # shorter than the tag
        b"\x21\x01\x00",  # handshake without payload
        b"\x21\x01\x05\x01\x02",  # handshake connection id truncated
        b"\x21\x02\x00",  # empty cookie
        b"\x21\x02\x04\x01",  # cookie truncated
    ],
)
def test_malformed_datagrams_are_rejected(wire: bytes) -> None:
    with pytest.raises(MalformedRecordError):
        decode(wire)


@settings(max_examples=500)
@given(st.sampled_from([b"", b"\x21", b"\x21\x01", b"\x21\x02", b"\x21\x03", b"\x21\x04"]), st.binary(max_size=40))
def test_decode_raises_nothing_but_malformed_record_error(prefix: bytes, wire: bytes) -> None:
    with contextlib.suppress(MalformedRecordError):
        decode(prefix + wire)


def test_only_the_overlay_ehd1_marks_a_secure_datagram() -> None:
    assert not is_secure_datagram(ECHONET_GET)
    assert not is_secure_datagram(b"")
    assert is_secure_datagram(encode_cookie(b"c"))
    assert is_secure_datagram(b"\x33\x03", RecordFormat(ehd1=0x33))


@pytest.mark.parametrize("ehd1", [0x00, 0x10, 0x80, 0x81, 0xFE, 0x100, -1])
def test_ehd1_outside_the_reserved_range_is_refused(ehd1: int) -> None:
    with pytest.raises(SecureUsageError):
        RecordFormat(ehd1=ehd1)


def test_record_type_bytes_must_be_distinct() -> None:
    with pytest.raises(SecureUsageError):
        RecordFormat(cookie=0x03)


def test_custom_format_constants_are_used_for_every_record_type() -> None:
    fmt = RecordFormat(ehd1=0x7E, handshake=0xA0, cookie=0xA1, data=0xA2, close=0xA3)
    assert decode(encode_handshake(b"c", b"m", fmt), fmt) == HandshakeRecord(b"c", b"m")
    assert decode(encode_cookie(b"k", b"", fmt), fmt) == CookieRecord(b"k", b"")
    wire = encode_protected_header(RecordKind.CLOSE, b"\x05", None, fmt) + TAG
    rec = decode(wire, fmt)
    assert isinstance(rec, ProtectedRecord) and rec.kind is RecordKind.CLOSE and rec.header == b"\x7e\xa3\x01"
    with pytest.raises(MalformedRecordError):
        decode(wire, DEFAULT_FORMAT)


@pytest.mark.parametrize(
    "call",
    [
        lambda: encode_handshake(b"c", b""),
        lambda: encode_handshake(bytes(256), b"m"),
        lambda: encode_cookie(b""),
        lambda: encode_cookie(bytes(256)),
        lambda: encode_protected_header(RecordKind.HANDSHAKE, b"\x00", None),
        lambda: encode_protected_header(RecordKind.DATA, b"", None),
        lambda: encode_protected_header(RecordKind.DATA, b"\x00\x01", None),
        lambda: encode_protected_header(RecordKind.DATA, bytes(6), None),
        lambda: encode_protected_header(RecordKind.DATA, b"\x01", bytes(8)),
    ],
)
def test_bad_local_arguments_are_usage_errors(call: object) -> None:
    with pytest.raises(SecureUsageError):
        call()  # type: ignore[operator]
