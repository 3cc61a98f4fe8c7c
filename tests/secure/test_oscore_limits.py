"""Per-key usage limits (draft-ietf-core-oscore-key-limits), age and sequence exhaustion."""

from __future__ import annotations

from typing import Any

import pytest

from secure.errors import (
    KeyLimitError,
    ProtocolError,
    RecipientKeyLimitError,
    RejectReason,
    SecureError,
    SecureUsageError,
    SenderKeyLimitError,
)
from secure.records.framing import MAX_PIV
from secure.records.oscore import ALGORITHMS, AeadAlgorithm, KeyLimits, RekeyReason, SecurityContext
from secure.records.sequence import MemorySequence

SECRET = bytes(range(16))
FRAME = bytes.fromhex("1081000105ff01027d0162018000")


def pair(limits: KeyLimits, **kw: Any) -> tuple[SecurityContext, SecurityContext]:
    a = SecurityContext(SECRET, sender_id=b"A", recipient_id=b"B", now=1000.0, limits=limits, **kw)
    b = SecurityContext(SECRET, sender_id=b"B", recipient_id=b"A", now=1000.0, limits=limits)
    return a, b


def forged(record: bytes) -> bytes:
    return record[:-1] + bytes((record[-1] ^ 1,))


def test_default_limits_follow_the_key_limits_draft() -> None:
    ccm = ALGORITHMS[AeadAlgorithm.AES_CCM_16_64_128]  # AEAD_AES_128_CCM_8: (q, v, l) = (2^20, 2^14, 2^8)
    assert (ccm.limit_q, ccm.limit_v, ccm.max_blocks) == (2**20, 2**14, 2**8)
    assert ccm.max_plaintext + ccm.tag_len == 4096
    for alg in (AeadAlgorithm.A128GCM, AeadAlgorithm.CHACHA20_POLY1305):  # (2^20, 2^20, 2^10)
        p = ALGORITHMS[alg]
        assert (p.limit_q, p.limit_v, p.max_blocks) == (2**20, 2**20, 2**10)
    assert ALGORITHMS[AeadAlgorithm.CHACHA20_POLY1305].max_plaintext + 16 == 65536
    ctx = SecurityContext(SECRET, sender_id=b"A", recipient_id=b"B", now=0.0)
    usage = ctx.usage(0.0)
    assert (usage.limit_q, usage.limit_v) == (2**20, 2**14)


def test_encryption_counter_asks_for_rekey_before_the_limit_and_refuses_at_it() -> None:
    a, b = pair(KeyLimits(limit_q=10, rekey_margin=0.2))
    for i in range(10):
        assert a.needs_rekey(1000.0) == (i >= 8)  # margin: 2 encryptions before the limit
        b.unprotect(a.protect(FRAME, 1000.0), 1000.0)
    assert a.rekey_reason(1000.0) is RekeyReason.ENCRYPTIONS
    assert a.usage(1000.0).encryptions == 10
    with pytest.raises(SenderKeyLimitError) as info:
        a.protect(FRAME, 1000.0)
    assert isinstance(info.value, SecureUsageError) and isinstance(info.value, KeyLimitError)
    assert a.usage(1000.0).encryptions == 10
    with pytest.raises(SenderKeyLimitError):
        a.protect_close(0, 1000.0)  # type: ignore[arg-type]


def test_failed_decryptions_ask_for_rekey_before_the_limit_and_retire_the_key_at_it() -> None:
    a, b = pair(KeyLimits(limit_v=5, rekey_margin=0.2))
    for i in range(5):
        assert b.needs_rekey(1000.0) == (i >= 4)
        with pytest.raises(ProtocolError):
            b.unprotect(forged(a.protect(FRAME, 1000.0)), 1000.0)
    assert b.rekey_reason(1000.0) is RekeyReason.FAILED_DECRYPTIONS
    genuine = a.protect(FRAME, 1000.0)
    with pytest.raises(RecipientKeyLimitError) as info:
        b.unprotect(genuine, 1000.0)
    assert info.value.reason is RejectReason.KEY_LIMIT
    assert isinstance(info.value, ProtocolError) and isinstance(info.value, KeyLimitError)
    assert b.usage(1000.0).failed_decryptions == 5


def test_replays_and_malformed_records_do_not_count_as_failed_decryptions() -> None:
    a, b = pair(KeyLimits(limit_v=2))
    record = a.protect(FRAME, 1000.0)
    b.unprotect(record, 1000.0)
    for _ in range(5):
        with pytest.raises(ProtocolError):
            b.unprotect(record, 1000.0)
        with pytest.raises(ProtocolError):
            b.unprotect(record[:5], 1000.0)
    assert b.usage(1000.0).failed_decryptions == 0
    assert b.unprotect(a.protect(FRAME, 1000.0), 1000.0) == FRAME


def test_margin_of_zero_still_asks_one_operation_before_the_limit() -> None:
    a, _ = pair(KeyLimits(limit_q=3, rekey_margin=0.0))
    a.protect(FRAME, 1000.0)
    assert not a.needs_rekey(1000.0)
    a.protect(FRAME, 1000.0)
    assert a.needs_rekey(1000.0)
    a.protect(FRAME, 1000.0)
    with pytest.raises(SenderKeyLimitError):
        a.protect(FRAME, 1000.0)


def test_age_triggers_rekey_after_max_age() -> None:
    a, b = pair(KeyLimits(max_age=3600.0))
    assert not a.needs_rekey(1000.0 + 3599.9)
    assert a.rekey_reason(1000.0 + 3600.0) is RekeyReason.AGE
    # max_age alone does not refuse: it asks
    assert b.unprotect(a.protect(FRAME, 1000.0 + 7200.0), 1000.0 + 7200.0) == FRAME


def test_hard_lifetime_refuses_both_directions_and_is_announced_before() -> None:
    a, b = pair(KeyLimits(max_age=None, lifetime=100.0, rekey_margin=0.1))
    assert not a.needs_rekey(1089.0)
    assert a.needs_rekey(1090.0)
    record = a.protect(FRAME, 1099.0)
    with pytest.raises(SenderKeyLimitError):
        a.protect(FRAME, 1100.0)
    with pytest.raises(RecipientKeyLimitError) as info:
        b.unprotect(record, 1100.0)
    assert info.value.reason is RejectReason.EXPIRED


def test_sequence_exhaustion_refuses_protection_and_is_announced_before() -> None:
    a, b = pair(KeyLimits(limit_q=100, rekey_margin=0.05), sequence=MemorySequence(start=MAX_PIV - 5))
    assert not a.needs_rekey(1000.0)
    a.protect(FRAME, 1000.0)
    assert a.rekey_reason(1000.0) is RekeyReason.SEQUENCE  # 5 left <= margin of 5
    last = b""
    for _ in range(5):
        last = a.protect(FRAME, 1000.0)
    assert last[2] & 0x07 == 5 and last[3:8] == b"\xff" * 5  # partial IV 2^40 - 1
    assert b.unprotect(last, 1000.0) == FRAME
    with pytest.raises(SenderKeyLimitError):
        a.protect(FRAME, 1000.0)


@pytest.mark.parametrize(
    "kw",
    [
        {"limit_q": 0},
        {"limit_v": -1},
        {"rekey_margin": 1.0},
        {"max_age": 0.0},
        {"lifetime": float("inf")},
    ],
)
def test_invalid_limits_are_usage_errors(kw: dict[str, object]) -> None:
    with pytest.raises(SecureUsageError):
        KeyLimits(**kw)  # type: ignore[arg-type]


def test_limits_above_the_draft_are_refused() -> None:
    with pytest.raises(SecureUsageError):
        SecurityContext(SECRET, sender_id=b"A", recipient_id=b"B", now=0.0, limits=KeyLimits(limit_v=2**15))
    gcm, limits = AeadAlgorithm.A128GCM, KeyLimits(limit_v=2**15)
    SecurityContext(SECRET, sender_id=b"A", recipient_id=b"B", now=0.0, alg=gcm, limits=limits)


def test_all_key_limit_errors_share_the_secure_root() -> None:
    assert issubclass(SenderKeyLimitError, SecureError)
    assert issubclass(RecipientKeyLimitError, SecureError)
    assert not issubclass(SenderKeyLimitError, ProtocolError)
    assert not issubclass(RecipientKeyLimitError, SecureUsageError)
