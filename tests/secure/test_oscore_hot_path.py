"""The record hot paths prove equal to the general ones they shortcut.

Both with the compiled record module (secure/records/_aead.c) where it was built, and with cryptography's AEADs
under ECHONET_PURE_PYTHON (CI runs this file both ways).

* :meth:`SecurityContext.protect`'s common case (record k numbered k, no sequence source) gives the same bytes as
  the general sealing path (a context with a :class:`MemorySequence` from 0, which always takes it), checked
  against an independent cbor2 computation across the partial IV lengths 1, 2 and 3;
* :meth:`SecurityContext.open_data` (the layer parsed the kid) gives the same frames, the same errors with the
  same reasons (audited) and the same replay window and usage counters as the call it replaced in the layer,
  :meth:`SecurityContext.unprotect_parts` on the parts the layer parsed, on any
  sequence of genuine, replayed, reordered, damaged and forged records, expiry and the failed-decryption limit
  included.
"""

from __future__ import annotations

import os
import subprocess
import sys
from typing import Any

import cbor2
import pytest
from cryptography.hazmat.primitives.ciphers.aead import AESCCM, AESGCM, ChaCha20Poly1305
from hypothesis import given, settings
from hypothesis import strategies as st

from secure.errors import RecordError, SecureUsageError, SenderKeyLimitError
from secure.records.framing import FLAG_KID, MAX_PIV_LEN
from secure.records.oscore import (
    AeadAlgorithm,
    KeyLimits,
    SecurityContext,
    build_nonce,
    derive_keys,
)
from secure.records.sequence import MemorySequence

SECRET = bytes.fromhex("00112233445566778899aabbccddeeff")
SALT = bytes.fromhex("9e7ca92223786340")
ALGS = list(AeadAlgorithm)


def _context(alg: AeadAlgorithm, sender: bytes, recipient: bytes, **kw: Any) -> SecurityContext:
    return SecurityContext(SECRET, SALT, sender_id=sender, recipient_id=recipient, alg=alg, now=0.0, **kw)


def _independent(alg: AeadAlgorithm, sender: bytes, recipient: bytes, record: bytes) -> bytes:
    """The frame of ``record`` computed from RFC 8613's definitions with cbor2 (no code of the context)."""
    n = record[2] & 0x07
    partial_iv = record[3 : 3 + n]
    kid_len = record[3 + n]
    assert record[4 + n : 4 + n + kid_len] == sender
    keys = derive_keys(SECRET, SALT, sender, recipient, None, alg)
    aad = cbor2.dumps(["Encrypt0", b"", cbor2.dumps([1, [int(alg)], sender, partial_iv, record[:3]])])
    nonce = build_nonce(keys.common_iv, sender, partial_iv)
    aead = {  # cryptography's own, not the records' (which may be the compiled module)
        AeadAlgorithm.AES_CCM_16_64_128: lambda key: AESCCM(key, tag_length=8),
        AeadAlgorithm.A128GCM: AESGCM,
        AeadAlgorithm.CHACHA20_POLY1305: ChaCha20Poly1305,
    }[alg](keys.sender_key)
    return aead.decrypt(nonce, record[4 + n + kid_len :], aad)


@pytest.mark.parametrize("alg", ALGS, ids=lambda a: a.name)
def test_protect_common_case_matches_the_general_path_and_an_independent_computation(alg: AeadAlgorithm) -> None:
    fast = _context(alg, b"\x01", b"\x02")
    general = _context(alg, b"\x01", b"\x02", sequence=MemorySequence(start=0))
    checked = {0, 1, 254, 255, 256, 257, 65535, 65536, 65537}
    for k in range(65538):
        frame = bytes((0x10, 0x81, k & 0xFF, k >> 8 & 0xFF)) + b"\x05\xff\x01\x02\x7d\x01\x62\x01\xe4\x00"
        record = fast.protect(frame, 0.0)
        assert record == general.protect(frame, 0.0)
        if k in checked:
            assert record[2] & 0x07 == max(1, (k.bit_length() + 7) // 8)
            assert _independent(alg, b"\x01", b"\x02", record) == frame
    assert fast.usage(0.0).encryptions == general.usage(0.0).encryptions == 65538


def test_protect_common_case_stops_at_the_encryption_limit_and_at_expiry() -> None:
    limited = _context(AeadAlgorithm.AES_CCM_16_64_128, b"\x01", b"\x02", limits=KeyLimits(limit_q=3))
    for _ in range(3):
        limited.protect(b"\x10\x81", 0.0)
    with pytest.raises(SenderKeyLimitError, match="encryption limit"):
        limited.protect(b"\x10\x81", 0.0)
    expiring = _context(AeadAlgorithm.AES_CCM_16_64_128, b"\x01", b"\x02", limits=KeyLimits(lifetime=10.0))
    expiring.protect(b"\x10\x81", 9.9)
    with pytest.raises(SenderKeyLimitError, match="expired"):
        expiring.protect(b"\x10\x81", 10.0)
    with pytest.raises(SecureUsageError, match="longer than"):
        expiring.protect(bytes(expiring.max_frame_len + 1), 0.0)


# ------------------------------------------------------------------------------------------------ open_data

#: what happens to each record before it is offered: delivered, held back and released later, damaged in one
#: byte, truncated, an older one delivered again (also one left of the window, and one with a damaged tag)
KINDS = ["send", "hold", "release", "flip", "cut", "replay", "late", "forge-old"]
ACTIONS = st.lists(st.tuples(st.sampled_from(KINDS), st.integers(0, 255)), max_size=60)


def _layout(record: bytes) -> tuple[int, int] | None:
    """What the layer's hot path parses (a data record header with a kid, no leading zero): (n, end), or None
    when the layer would take its general path instead."""
    if len(record) < 4 or record[0] != 0x21 or record[1] != 0x03:
        return None
    flags = record[2]
    n = flags & 0x07
    if flags != FLAG_KID | n or not 0 < n <= MAX_PIV_LEN or (n > 1 and record[3] == 0) or len(record) <= 3 + n:
        return None
    end = 4 + n + record[3 + n]
    if record[4 + n : end] != b"\x02":  # (the sender's ID: the receiving contexts' Recipient ID)
        return None
    return n, end


def _outcome(call: Any, *args: Any) -> tuple[str, object]:
    try:
        return "frame", call(*args)
    except RecordError as exc:
        return type(exc).__name__, exc.reason  # (the wording may differ: unprotect splits the record itself)


@pytest.mark.parametrize("alg", [AeadAlgorithm.AES_CCM_16_64_128, AeadAlgorithm.A128GCM], ids=lambda a: a.name)
@settings(max_examples=80, deadline=None)
@given(actions=ACTIONS, limit_v=st.sampled_from([None, 2, 5]), lifetime=st.sampled_from([None, 30.0]))
def test_open_data_behaves_as_unprotect(
    alg: AeadAlgorithm, actions: list[tuple[str, int]], limit_v: int | None, lifetime: float | None
) -> None:
    limits = KeyLimits(limit_v=limit_v, lifetime=lifetime)
    sender = _context(alg, b"\x02", b"\x01")
    general = _context(alg, b"\x01", b"\x02", limits=limits)
    fast = _context(alg, b"\x01", b"\x02", limits=limits)
    sent: list[bytes] = []
    held: list[bytes] = []
    hot = 0
    now = 0.0
    for i, (action, byte) in enumerate(actions):
        now += 1.0
        record = sender.protect(bytes((0x10, 0x81, i, byte)), now)
        sent.append(record)
        if action == "hold":
            held.append(record)
            continue
        if action == "release" and held:
            record = held.pop(0)
        elif action == "flip":
            at = byte % len(record)
            record = record[:at] + bytes((record[at] ^ (1 << (byte % 8)),)) + record[at + 1 :]
        elif action == "cut":
            record = record[: byte % len(record)]
        elif action == "replay":
            record = sent[byte % len(sent)]
        elif action == "forge-old":  # a replayed partial IV under a damaged tag: a replay, not a forgery
            old = sent[byte % len(sent)]
            record = old[:-1] + bytes((old[-1] ^ 0x01,))
        elif action == "late":
            record = sent[max(0, len(sent) - 70)]
        layout = _layout(record)
        if layout is None:  # the layer's general path
            expected = _outcome(general.unprotect, record, now)
            got = _outcome(fast.unprotect, record, now)
        else:  # what the layer called before open_data: unprotect_parts on the parts it parsed
            n, end = layout
            hot += 1
            parts = (record[:3], record[3 : 3 + n], record[4 + n : end], record[end:])
            expected = _outcome(general.unprotect_parts, *parts, now)
            got = _outcome(fast.open_data, record, n, end, now)
        assert got == expected, (action, record.hex())
        assert fast.replay_window.top == general.replay_window.top
        assert fast.usage(now) == general.usage(now)
        assert fast.replay_window.is_acceptable(0) == general.replay_window.is_acceptable(0)
    assert hot or not any(action == "send" for action, _ in actions)


def test_the_same_with_cryptographys_aeads_alone() -> None:
    """This file's other tests again, under ECHONET_PURE_PYTHON (no compiled record module)."""
    if os.environ.get("ECHONET_PURE_PYTHON"):
        pytest.skip("already running without the compiled record module")
    run = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", __file__, "-k", "not alone"],
        env={**os.environ, "ECHONET_PURE_PYTHON": "1"},
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-2000:]
