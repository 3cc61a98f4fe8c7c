"""Protect/unprotect of whole ECHONET Lite frames: round trips, tampering, truncation, replay, wrong keys."""

from __future__ import annotations

import contextlib
import copy
import pickle
import random
from typing import Any

import cbor2
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from secure.errors import (
    IntegrityError,
    MalformedRecordError,
    ProtocolError,
    RecordError,
    RejectReason,
    ReplayError,
    SecureUsageError,
)
from secure.records.framing import (
    FLAG_KID,
    MAX_PIV,
    CloseReason,
    ProtectedRecord,
    RecordFormat,
    RecordKind,
    decode,
    decode_close_reason,
)
from secure.records.oscore import (
    ALGORITHMS,
    AeadAlgorithm,
    SecurityContext,
    aead_decrypt,
    build_aad,
    build_nonce,
    derive_keys,
)
from secure.records.sequence import MemorySequence

SECRET = bytes.fromhex("5f0a3c9e21b84d7763e0aa1f09c2d45e")
SALT = bytes.fromhex("a1b2c3d4")
ALGS = list(AeadAlgorithm)
# Get of the operating status (0x80) of a storage battery 0x027D01 from a controller 0x05FF01.
GET_FRAME = bytes.fromhex("1081002a05ff01027d01620180 00".replace(" ", ""))
INF_FRAME = bytes.fromhex("1081000a027d0105ff0173 01 80 01 30".replace(" ", ""))


def pair(
    alg: AeadAlgorithm = AeadAlgorithm.AES_CCM_16_64_128,
    a_id: bytes = b"\x01",
    b_id: bytes = b"\x02",
    **kw: Any,
) -> tuple[SecurityContext, SecurityContext]:
    a = SecurityContext(SECRET, SALT, sender_id=a_id, recipient_id=b_id, alg=alg, now=0.0, **kw)
    b = SecurityContext(SECRET, SALT, sender_id=b_id, recipient_id=a_id, alg=alg, now=0.0, **kw)
    return a, b


def frame_of(size: int) -> bytes:
    """A format-2 ECHONET Lite frame of exactly ``size`` bytes."""
    return bytes.fromhex("10820001") + bytes(random.Random(size).getrandbits(8) for _ in range(size - 4))


# ------------------------------------------------------------------------------------------------ round trips


@pytest.mark.parametrize("alg", ALGS, ids=lambda a: a.name)
@settings(max_examples=60)
@given(
    frames=st.lists(st.binary(min_size=0, max_size=600), min_size=1, max_size=8),
    ids=st.lists(st.binary(max_size=6), min_size=2, max_size=2, unique=True),
    send_kid=st.booleans(),
)
def test_random_frames_round_trip_in_both_directions(
    alg: AeadAlgorithm, frames: list[bytes], ids: list[bytes], send_kid: bool
) -> None:
    a, b = pair(alg, ids[0], ids[1], send_kid=send_kid)
    for frame in frames:
        assert b.unprotect(a.protect(frame, 1.0), 1.0) == frame
        assert a.unprotect(b.protect(frame, 1.0), 1.0) == frame


@pytest.mark.parametrize("alg", ALGS, ids=lambda a: a.name)
def test_data_record_matches_documented_layout(alg: AeadAlgorithm) -> None:
    """Rebuild nonce and AAD independently (cbor2, RFC 8613 formulas) from docs/records.md and decrypt."""
    a, _ = pair(alg, b"\x01", b"\x02")
    for _ in range(300):  # reach a 2-byte partial IV
        record = a.protect(INF_FRAME, 0.0)
    assert record[0] == 0x21 and record[1] == 0x03
    flags = record[2]
    assert flags == 0x02 | FLAG_KID
    piv = record[3:5]
    assert int.from_bytes(piv, "big") == 299
    assert record[5] == 1 and record[6:7] == b"\x01"  # kid length, kid
    keys = derive_keys(SECRET, SALT, b"\x01", b"\x02", None, alg)
    external_aad = cbor2.dumps([1, [int(alg)], b"\x01", piv, record[:3]])
    aad = cbor2.dumps(["Encrypt0", b"", external_aad])
    assert aad == build_aad(alg, b"\x01", piv, record[:3])
    nonce = build_nonce(keys.common_iv, b"\x01", piv)
    assert aead_decrypt(alg, keys.sender_key, nonce, record[7:], aad) == INF_FRAME
    assert len(record) == 7 + len(INF_FRAME) + ALGORITHMS[alg].tag_len


@pytest.mark.parametrize("alg", ALGS, ids=lambda a: a.name)
@settings(max_examples=40)
@given(
    start=st.integers(min_value=0, max_value=MAX_PIV),
    ids=st.lists(st.binary(max_size=6), min_size=2, max_size=2, unique=True),
    send_kid=st.booleans(),
    frame=st.binary(max_size=100),
)
def test_records_match_an_independent_cbor2_computation_for_every_partial_iv_length(
    alg: AeadAlgorithm, start: int, ids: list[bytes], send_kid: bool, frame: bytes
) -> None:
    sender = SecurityContext(
        SECRET, sender_id=ids[0], recipient_id=ids[1], alg=alg, now=0.0, send_kid=send_kid,
        sequence=MemorySequence(start=start),
    )  # fmt: skip
    record = sender.protect(frame, 0.0)
    rec = decode(record)
    assert isinstance(rec, ProtectedRecord)
    assert rec.piv == start and rec.kid == (ids[0] if send_kid else None)
    keys = derive_keys(SECRET, b"", ids[0], ids[1], None, alg)
    aad = cbor2.dumps(["Encrypt0", b"", cbor2.dumps([1, [int(alg)], ids[0], rec.partial_iv, record[:3]])])
    nonce = build_nonce(keys.common_iv, ids[0], rec.partial_iv)
    assert aead_decrypt(alg, keys.sender_key, nonce, rec.ciphertext, aad) == frame


def test_partial_ivs_count_up_from_zero_and_both_directions_use_distinct_nonces() -> None:
    a, b = pair()
    keys_a = derive_keys(SECRET, SALT, b"\x01", b"\x02")
    pivs_a = [decode(a.protect(GET_FRAME, 0.0)) for _ in range(3)]
    pivs_b = [decode(b.protect(INF_FRAME, 0.0)) for _ in range(3)]
    assert [r.piv for r in pivs_a if isinstance(r, ProtectedRecord)] == [0, 1, 2]
    assert [r.piv for r in pivs_b if isinstance(r, ProtectedRecord)] == [0, 1, 2]
    nonces_a = {build_nonce(keys_a.common_iv, b"\x01", bytes((i,))) for i in range(3)}
    nonces_b = {build_nonce(keys_a.common_iv, b"\x02", bytes((i,))) for i in range(3)}
    assert not nonces_a & nonces_b
    assert keys_a.sender_key != keys_a.recipient_key


# ------------------------------------------------------------------------------------------------ tampering


@pytest.mark.parametrize("alg", ALGS, ids=lambda a: a.name)
@pytest.mark.parametrize("send_kid", [True, False], ids=["kid", "nokid"])
def test_every_single_bit_or_byte_change_anywhere_in_the_record_is_rejected(alg: AeadAlgorithm, send_kid: bool) -> None:
    a, b = pair(alg, send_kid=send_kid)
    record = a.protect(frame_of(64), 0.0)
    integrity_failures = 0
    for i in range(len(record)):
        for mask in (*(1 << bit for bit in range(8)), 0xFF):
            tampered = bytearray(record)
            tampered[i] ^= mask
            with pytest.raises(RecordError) as info:
                b.unprotect(bytes(tampered), 0.0)
            integrity_failures += info.value.reason is RejectReason.INTEGRITY
    # nothing moved the replay window; only real tag failures were counted
    assert b.usage(0.0).failed_decryptions == integrity_failures > 0
    assert b.unprotect(record, 0.0) == frame_of(64)


@pytest.mark.parametrize("alg", ALGS, ids=lambda a: a.name)
def test_every_truncation_and_any_extension_is_rejected(alg: AeadAlgorithm) -> None:
    a, b = pair(alg)
    record = a.protect(GET_FRAME, 0.0)
    for cut in range(len(record)):
        with pytest.raises(RecordError):
            b.unprotect(record[:cut], 0.0)
    for extra in (b"\x00", b"\xff" * 7):
        with pytest.raises(IntegrityError):
            b.unprotect(record + extra, 0.0)
    assert b.unprotect(record, 0.0) == GET_FRAME


def test_turning_a_data_record_into_a_close_record_fails_the_tag() -> None:
    a, b = pair()
    record = bytearray(a.protect(b"\x01", 0.0))  # plaintext is also a valid close reason
    record[1] = 0x04
    rec = decode(bytes(record))
    assert isinstance(rec, ProtectedRecord) and rec.kind is RecordKind.CLOSE
    with pytest.raises(IntegrityError):
        b.unprotect_record(rec, 0.0)


def test_stripping_the_kid_is_detected_by_the_tag() -> None:
    a, b = pair()
    record = a.protect(GET_FRAME, 0.0)
    stripped = record[:2] + bytes((record[2] & ~FLAG_KID,)) + record[3:4] + record[6:]
    with pytest.raises(IntegrityError):
        b.unprotect(stripped, 0.0)


def test_adding_a_kid_to_a_record_sent_without_one_is_detected_by_the_tag() -> None:
    a, b = pair(send_kid=False)
    record = a.protect(GET_FRAME, 0.0)
    with_kid = record[:2] + bytes((record[2] | FLAG_KID,)) + record[3:4] + b"\x01\x01" + record[4:]
    with pytest.raises(IntegrityError):
        b.unprotect(with_kid, 0.0)


def test_reencoding_the_partial_iv_with_a_leading_zero_is_malformed() -> None:
    a, b = pair()
    record = a.protect(GET_FRAME, 0.0)
    padded = record[:2] + bytes((record[2] + 1,)) + b"\x00" + record[3:]
    with pytest.raises(MalformedRecordError):
        b.unprotect(padded, 0.0)


def test_changing_ehd1_to_echonet_lite_makes_the_record_foreign() -> None:
    a, b = pair()
    record = a.protect(GET_FRAME, 0.0)
    with pytest.raises(MalformedRecordError):
        b.unprotect(b"\x10" + record[1:], 0.0)


def test_a_record_reflected_back_to_its_sender_is_rejected() -> None:
    a, _ = pair()
    with pytest.raises(MalformedRecordError) as info:
        a.unprotect(a.protect(GET_FRAME, 0.0), 0.0)
    assert info.value.reason is RejectReason.WRONG_KID
    a2, _ = pair(send_kid=False)
    with pytest.raises(IntegrityError):
        a2.unprotect(a2.protect(GET_FRAME, 0.0), 0.0)


@settings(max_examples=300)
@given(st.sampled_from([b"", b"\x21", b"\x21\x03", b"\x21\x03\x09", b"\x21\x04"]), st.binary(max_size=40))
def test_unprotect_of_arbitrary_bytes_raises_only_record_errors(prefix: bytes, wire: bytes) -> None:
    _, b = pair()
    with contextlib.suppress(RecordError):
        b.unprotect(prefix + wire, 0.0)
    record = decode(b"\x21\x03\x09\x00\x01\x01" + bytes(8))
    assert isinstance(record, ProtectedRecord)
    with contextlib.suppress(RecordError):
        b.unprotect_record(record._replace(partial_iv=wire[:7], header=wire[:3]), 0.0)


# ------------------------------------------------------------------------------------------------ wrong keys


@pytest.mark.parametrize(
    "other",
    [
        {"master_secret": bytes(16)},
        {"master_salt": b""},
        {"id_context": b"\x00"},
        {"alg": AeadAlgorithm.A128GCM},
        {"alg": AeadAlgorithm.CHACHA20_POLY1305},
    ],
    ids=["secret", "salt", "id-context", "gcm", "chacha"],
)
def test_a_record_under_another_context_is_rejected(other: dict[str, object]) -> None:
    a, _ = pair()
    params: dict[str, object] = {"master_secret": SECRET, "master_salt": SALT, "alg": AeadAlgorithm(10)}
    params.update(other)
    b = SecurityContext(sender_id=b"\x02", recipient_id=b"\x01", now=0.0, **params)  # type: ignore[arg-type]
    record = a.protect(GET_FRAME, 0.0)
    with pytest.raises(RecordError) as info:
        b.unprotect(record, 0.0)
    assert info.value.reason in (RejectReason.INTEGRITY, RejectReason.MALFORMED)
    assert isinstance(info.value, ProtocolError)


def test_swapped_ids_are_rejected() -> None:
    a, _ = pair()
    wrong = SecurityContext(SECRET, SALT, sender_id=b"\x01", recipient_id=b"\x03", now=0.0, send_kid=False)
    record = a.protect(GET_FRAME, 0.0)
    with pytest.raises(MalformedRecordError):
        wrong.unprotect(record, 0.0)  # kid 0x01 is not its peer 0x03


# ------------------------------------------------------------------------------------------------ replay


def test_the_same_record_twice_is_a_replay_and_does_not_count_as_a_forgery() -> None:
    a, b = pair()
    record = a.protect(GET_FRAME, 0.0)
    assert b.unprotect(record, 0.0) == GET_FRAME
    with pytest.raises(ReplayError) as info:
        b.unprotect(record, 0.0)
    assert info.value.reason is RejectReason.REPLAY
    assert b.usage(0.0).failed_decryptions == 0


def test_reordered_records_within_the_window_are_each_accepted_once() -> None:
    a, b = pair()
    records = [a.protect(bytes((i,)) * 20, 0.0) for i in range(64)]
    order = list(range(64))
    random.Random(7).shuffle(order)
    for i in order:
        assert b.unprotect(records[i], 0.0) == bytes((i,)) * 20
    for i in order:
        with pytest.raises(ReplayError):
            b.unprotect(records[i], 0.0)


def test_records_older_than_the_window_are_rejected_as_too_old() -> None:
    a, b = pair()
    records = [a.protect(GET_FRAME, 0.0) for _ in range(66)]
    b.unprotect(records[65], 0.0)
    assert b.unprotect(records[2], 0.0) == GET_FRAME  # 63 behind: still inside the window of 64
    for old in (records[1], records[0]):  # 64 and 65 behind
        with pytest.raises(ReplayError) as info:
            b.unprotect(old, 0.0)
        assert info.value.reason is RejectReason.TOO_OLD


def test_a_forged_record_with_a_fresh_partial_iv_does_not_advance_the_window() -> None:
    a, b = pair()
    records = [a.protect(GET_FRAME, 0.0) for _ in range(100)]
    forged = bytearray(records[99])
    forged[-1] ^= 1
    with pytest.raises(IntegrityError):
        b.unprotect(bytes(forged), 0.0)
    assert b.replay_window.highest is None
    assert b.unprotect(records[0], 0.0) == GET_FRAME  # would be too old had the forgery moved the window
    assert b.unprotect(records[99], 0.0) == GET_FRAME


# -------------------------------------------------------------------------------------------- close, format


def test_close_records_carry_a_protected_reason() -> None:
    a, b = pair()
    record = decode(a.protect_close(CloseReason.REKEY, 0.0))
    assert isinstance(record, ProtectedRecord) and record.kind is RecordKind.CLOSE
    assert decode_close_reason(b.unprotect_record(record, 0.0)) is CloseReason.REKEY
    with pytest.raises(MalformedRecordError):
        b.unprotect(a.protect_close(CloseReason.NORMAL, 0.0), 0.0)  # unprotect() takes data records only


def test_a_custom_record_format_is_used_and_enforced() -> None:
    fmt = RecordFormat(ehd1=0x3A, handshake=0x11, cookie=0x12, data=0x13, close=0x14)
    a, b = pair(fmt=fmt)
    record = a.protect(GET_FRAME, 0.0)
    assert record[:2] == b"\x3a\x13"
    assert b.unprotect(record, 0.0) == GET_FRAME
    _, default_b = pair()
    with pytest.raises(MalformedRecordError):
        default_b.unprotect(a.protect(GET_FRAME, 0.0), 0.0)


@pytest.mark.parametrize("alg", ALGS, ids=lambda a: a.name)
def test_frames_up_to_the_per_message_limit_are_accepted_and_longer_ones_refused(alg: AeadAlgorithm) -> None:
    a, b = pair(alg)
    limit = a.max_frame_len
    p = ALGORITHMS[alg]
    assert limit == p.max_blocks * p.block_len - p.tag_len
    assert b.unprotect(a.protect(bytes(limit), 0.0), 0.0) == bytes(limit)
    with pytest.raises(SecureUsageError):
        a.protect(bytes(limit + 1), 0.0)


# ------------------------------------------------------------------------------------------------ hygiene


def test_nothing_secret_appears_in_reprs_or_exception_messages() -> None:
    a, b = pair()
    keys = derive_keys(SECRET, SALT, b"\x01", b"\x02")
    secrets = [SECRET, keys.sender_key, keys.recipient_key, keys.common_iv, GET_FRAME]
    record = bytearray(a.protect(GET_FRAME, 0.0))
    record[-1] ^= 1
    texts = [repr(a), repr(b), repr(keys), str(b.replay_window), repr(b.usage(0.0))]
    with pytest.raises(IntegrityError) as info:
        b.unprotect(bytes(record), 0.0)
    texts += [str(info.value), repr(info.value)]
    assert info.value.__cause__ is None and info.value.__suppress_context__
    for text in texts:
        for secret in secrets:
            assert secret.hex() not in text.lower()
            assert repr(secret) not in text


def test_a_context_cannot_be_copied_or_pickled() -> None:
    a, _ = pair()
    for attempt in (lambda: copy.copy(a), lambda: copy.deepcopy(a), lambda: pickle.dumps(a)):
        with pytest.raises(SecureUsageError):
            attempt()


@pytest.mark.parametrize(
    "kw",
    [
        {"sender_id": b"\x01", "recipient_id": b"\x01"},
        {"sender_id": bytes(8), "recipient_id": b"\x01"},
        {"sender_id": b"\x01", "recipient_id": bytes(7), "alg": AeadAlgorithm.A128GCM},
        {"sender_id": b"\x01", "recipient_id": b"\x02", "alg": 3},
        {"sender_id": b"\x01", "recipient_id": b"\x02", "master_secret": b""},
    ],
    ids=["same-ids", "id-too-long", "id-too-long-gcm", "unknown-alg", "empty-secret"],
)
def test_invalid_context_parameters_are_usage_errors(kw: dict[str, object]) -> None:
    params: dict[str, object] = {"master_secret": SECRET}
    params.update(kw)
    with pytest.raises(SecureUsageError):
        SecurityContext(now=0.0, **params)  # type: ignore[arg-type]
