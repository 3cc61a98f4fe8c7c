"""The compiled AES-128-CCM of the record hot path (secure/records/_aead.c) is cryptography's AESCCM, faster.

Same ciphertexts and tags for any key, nonce, frame and associated data; the same InvalidTag for any damage; the
same refusals of bad arguments; bytes-like arguments taken as bytes; a context that keeps working after a
failure. And the records pick it up (or, with ECHONET_PURE_PYTHON set or without the build, cryptography's).
"""

from __future__ import annotations

import copy
import os
import pickle
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESCCM
from hypothesis import given, settings
from hypothesis import strategies as st

from secure.records import oscore

ROOT = Path(__file__).resolve().parents[2]

try:
    from secure.records._aead import AesCcm  # type: ignore[import-not-found,unused-ignore]
except ImportError:  # pragma: no cover - a build without a C compiler or OpenSSL headers
    pytestmark = pytest.mark.skip(reason="secure.records._aead was not built (no C compiler or libssl-dev)")

KEYS = st.binary(min_size=16, max_size=16)
NONCES = st.binary(min_size=13, max_size=13)
TAGS = st.sampled_from([8, 16])


@settings(max_examples=300, deadline=None)
@given(key=KEYS, nonce=NONCES, tag=TAGS, data=st.binary(max_size=300), aad=st.binary(max_size=100))
def test_the_same_records_as_cryptography(key: bytes, nonce: bytes, tag: int, data: bytes, aad: bytes) -> None:
    native, reference = AesCcm(key, tag), AESCCM(key, tag_length=tag)
    sealed = native.encrypt(nonce, data, aad)
    assert sealed == reference.encrypt(nonce, data, aad)
    assert native.decrypt(nonce, sealed, aad) == data == reference.decrypt(nonce, sealed, aad)


@settings(max_examples=200, deadline=None)
@given(
    key=KEYS,
    nonce=NONCES,
    tag=TAGS,
    data=st.binary(max_size=80),
    aad=st.binary(max_size=40),
    where=st.integers(min_value=0),
    bit=st.integers(min_value=0, max_value=7),
    part=st.sampled_from(["record", "nonce", "aad", "truncate", "extend"]),
)
def test_every_damage_is_invalid_tag_and_the_context_goes_on(
    key: bytes, nonce: bytes, tag: int, data: bytes, aad: bytes, where: int, bit: int, part: str
) -> None:
    native, reference = AesCcm(key, tag), AESCCM(key, tag_length=tag)
    sealed = reference.encrypt(nonce, data, aad)

    def flip(value: bytes) -> bytes:
        if not value:
            return b"\x00"
        at = where % len(value)
        return value[:at] + bytes((value[at] ^ (1 << bit),)) + value[at + 1 :]

    args = {
        "record": (nonce, flip(sealed), aad),
        "nonce": (flip(nonce), sealed, aad),
        "aad": (nonce, sealed, flip(aad) if aad else b"\x00"),
        "truncate": (nonce, sealed[: where % len(sealed)], aad),
        "extend": (nonce, sealed + bytes((bit,)), aad),
    }[part]
    for aead in (native, reference):
        with pytest.raises(InvalidTag):
            aead.decrypt(*args)
    assert native.decrypt(nonce, sealed, aad) == data  # (a failure leaves nothing behind)
    assert native.encrypt(nonce, data, aad) == sealed


def test_bytes_like_arguments_and_refusals_as_cryptography() -> None:
    key, nonce, data, aad = bytes(range(16)), bytes(13), b"\x10\x81\x00\x01", b"aad"
    native, reference = AesCcm(key, 8), AESCCM(key, tag_length=8)
    sealed = reference.encrypt(nonce, data, aad)
    assert native.encrypt(bytearray(nonce), memoryview(data), bytearray(aad)) == sealed
    assert native.decrypt(memoryview(nonce), bytearray(sealed), aad) == data
    for bad in (bytes(12), bytes(14), b""):  # (13 bytes only: the records' nonce; cryptography takes 7 to 13)
        with pytest.raises(ValueError):
            native.encrypt(bad, data, aad)
        with pytest.raises(ValueError):
            native.decrypt(bad, sealed, aad)
    with pytest.raises(TypeError):
        native.encrypt(nonce, [1, 2, 3], aad)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        native.encrypt(nonce, data)  # type: ignore[call-arg]
    with pytest.raises(ValueError):
        native.encrypt(nonce, bytes(65536), aad)
    for bad_key, bad_tag in ((bytes(15), 8), (bytes(32), 8), (bytes(16), 12), (bytes(16), 4)):
        with pytest.raises(ValueError):
            AesCcm(bad_key, bad_tag)


def test_the_key_cannot_leave_by_pickling_or_copying() -> None:
    native = AesCcm(bytes(16), 8)
    with pytest.raises(TypeError):
        pickle.dumps(native)
    with pytest.raises(TypeError):
        copy.copy(native)
    assert bytes(16).hex() not in repr(native)


def test_records_use_it_unless_pure_python_is_asked_for() -> None:
    assert oscore.NATIVE_AEAD
    context = oscore.SecurityContext(b"\x01" * 16, sender_id=b"\x01", recipient_id=b"\x02", now=0.0)
    pure = subprocess.run(
        [sys.executable, "-c", "from secure.records import oscore; print(oscore.NATIVE_AEAD)"],
        env={**os.environ, "ECHONET_PURE_PYTHON": "1"},
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert pure.stdout.strip() == "False"
    record = context.protect(b"\x10\x81\x00\x01", 0.0)
    peer = oscore.SecurityContext(b"\x01" * 16, sender_id=b"\x02", recipient_id=b"\x01", now=0.0)
    assert peer.unprotect(record, 0.0) == b"\x10\x81\x00\x01"


# ------------------------------------------------------------------------------------------------ records

TABLE = st.lists(st.binary(max_size=40), min_size=6, max_size=6).map(tuple)


@settings(max_examples=300, deadline=None)
@given(
    key=KEYS,
    base=NONCES,
    piv=st.integers(min_value=0, max_value=2**40 - 1),
    frame=st.binary(max_size=120),
    prefixes=TABLE,
    suffixes=TABLE,
    kid=st.binary(max_size=8),
)
def test_seal_and_open_build_records_as_their_definition(
    key: bytes,
    base: bytes,
    piv: int,
    frame: bytes,
    prefixes: tuple[bytes, ...],
    suffixes: tuple[bytes, ...],
    kid: bytes,
) -> None:
    headers = tuple(bytes((0x21, 0x03, 0x08 | n)) for n in range(6))
    sealer, opener, reference = AesCcm(key, 8), AesCcm(key, 8), AESCCM(key, tag_length=8)
    sealer.bind(base, prefixes, headers, suffixes, kid, 1032)
    opener.bind(base, prefixes, headers, suffixes, b"", 1032)
    n = max(1, (piv.bit_length() + 7) // 8)
    partial_iv = piv.to_bytes(n, "big")
    nonce = (int.from_bytes(base, "big") ^ piv).to_bytes(13, "big")
    ciphertext = reference.encrypt(nonce, frame, prefixes[n] + partial_iv + suffixes[n])
    record = sealer.seal(piv, frame)
    assert record == headers[n] + partial_iv + kid + ciphertext
    # open: the AAD from the record's own header and partial IV
    wire = headers[n] + partial_iv + bytes((len(kid),)) + kid
    sealed = reference.encrypt(nonce, frame, prefixes[n] + partial_iv + b"\x43" + wire[:3])
    assert opener.open(wire + sealed, n, len(wire), piv) == frame
    with pytest.raises(InvalidTag):
        opener.open(wire + sealed, n, len(wire), piv ^ 1)  # another nonce
    with pytest.raises(InvalidTag):
        opener.open(wire[:3] + bytes((wire[3] ^ 1,)) + wire[4:] + sealed, n, len(wire), piv)  # another AAD
    assert opener.open(wire + sealed[:7], n, len(wire), piv) is None  # shorter than the tag: malformed
    assert opener.open(wire + bytes(1033), n, len(wire), piv) is None  # above the limit: malformed
    assert opener.open(wire, n, len(wire) + 5, piv) is None  # (an end past the record: nothing)


def test_seal_and_open_refuse_what_is_not_theirs() -> None:
    aead = AesCcm(bytes(16), 8)
    with pytest.raises(TypeError):
        aead.seal(0, b"\x10\x81")  # not bound
    tables = tuple(bytes(3) for _ in range(6))
    for bad in (
        (bytes(12), tables, tables, tables, b"", 100),
        (bytes(13), tables[:5], tables, tables, b"", 100),
        (bytes(13), tables, tuple(bytes(2) for _ in range(6)), tables, b"", 100),
        (bytes(13), tables, tables, tables, b"", 4),
        (bytes(13), (bytes(1025), *tables[1:]), tables, tables, b"", 100),
        (bytes(13), tables, tables, tables, bytes(1025), 100),
    ):
        with pytest.raises((TypeError, ValueError)):
            aead.bind(*bad)
    aead.bind(bytes(13), tables, tables, tables, b"", 100)
    with pytest.raises(TypeError):
        aead.bind(bytes((1,)) * 13, tables, tables, tables, b"", 100)  # once: another nonce base could repeat one
    for piv in (-1, 2**40):
        with pytest.raises((OverflowError, ValueError)):
            aead.seal(piv, b"\x10\x81")
    with pytest.raises(TypeError):
        aead.seal(0, bytearray(b"\x10\x81"))  # (protect hands bytes only; others take the general path)
    for n, end in ((0, 4), (6, 10), (2, 4)):
        with pytest.raises(ValueError):
            aead.open(bytes(20), n, end, 0)
