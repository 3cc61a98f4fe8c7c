"""RFC 8613 Appendix C test vectors, hard-coded (section numbers cited per test), byte exact.

C.1-C.3 exercise the key schedule (HKDF info, Sender/Recipient Key, Common IV, nonces for partial IV 0)
through both :func:`derive_keys` and :class:`SecurityContext`; C.4-C.8 exercise the AAD, nonce and AEAD path
with the CoAP-specific inputs exactly as the appendix lists them.
"""

from __future__ import annotations

from typing import NamedTuple

import cbor2
import pytest

from secure.records.oscore import (
    AeadAlgorithm,
    SecurityContext,
    aead_decrypt,
    aead_encrypt,
    build_aad,
    build_nonce,
    derive_keys,
    hkdf_info,
)

h = bytes.fromhex
MASTER_SECRET = h("0102030405060708090a0b0c0d0e0f10")
MASTER_SALT = h("9e7ca92223786340")
ID_CONTEXT = h("37cbf3210017a2d3")
CCM = AeadAlgorithm.AES_CCM_16_64_128


class KeyVector(NamedTuple):
    section: str
    salt: bytes
    sender_id: bytes
    recipient_id: bytes
    id_context: bytes | None
    info_sender_key: bytes
    info_recipient_key: bytes
    info_common_iv: bytes
    sender_key: bytes
    recipient_key: bytes
    common_iv: bytes
    sender_nonce: bytes
    recipient_nonce: bytes


KEY_VECTORS = [
    KeyVector(  # RFC 8613 C.1.1
        "C.1.1 client", MASTER_SALT, h(""), h("01"), None,
        h("8540f60a634b657910"), h("854101f60a634b657910"), h("8540f60a6249560d"),
        h("f0910ed7295e6ad4b54fc793154302ff"), h("ffb14e093c94c9cac9471648b4f98710"),
        h("4622d4dd6d944168eefb54987c"), h("4622d4dd6d944168eefb54987c"), h("4722d4dd6d944169eefb54987c"),
    ),
    KeyVector(  # RFC 8613 C.1.2
        "C.1.2 server", MASTER_SALT, h("01"), h(""), None,
        h("854101f60a634b657910"), h("8540f60a634b657910"), h("8540f60a6249560d"),
        h("ffb14e093c94c9cac9471648b4f98710"), h("f0910ed7295e6ad4b54fc793154302ff"),
        h("4622d4dd6d944168eefb54987c"), h("4722d4dd6d944169eefb54987c"), h("4622d4dd6d944168eefb54987c"),
    ),
    KeyVector(  # RFC 8613 C.2.1 (no master salt)
        "C.2.1 client", b"", h("00"), h("01"), None,
        h("854100f60a634b657910"), h("854101f60a634b657910"), h("8540f60a6249560d"),
        h("321b26943253c7ffb6003b0b64d74041"), h("e57b5635815177cd679ab4bcec9d7dda"),
        h("be35ae297d2dace910c52e99f9"), h("bf35ae297d2dace910c52e99f9"), h("bf35ae297d2dace810c52e99f9"),
    ),
    KeyVector(  # RFC 8613 C.2.2
        "C.2.2 server", b"", h("01"), h("00"), None,
        h("854101f60a634b657910"), h("854100f60a634b657910"), h("8540f60a6249560d"),
        h("e57b5635815177cd679ab4bcec9d7dda"), h("321b26943253c7ffb6003b0b64d74041"),
        h("be35ae297d2dace910c52e99f9"), h("bf35ae297d2dace810c52e99f9"), h("bf35ae297d2dace910c52e99f9"),
    ),
    KeyVector(  # RFC 8613 C.3.1 (ID context)
        "C.3.1 client", MASTER_SALT, h(""), h("01"), ID_CONTEXT,
        h("85404837cbf3210017a2d30a634b657910"), h("8541014837cbf3210017a2d30a634b657910"),
        h("85404837cbf3210017a2d30a6249560d"),
        h("af2a1300a5e95788b356336eeecd2b92"), h("e39a0c7c77b43f03b4b39ab9a268699f"),
        h("2ca58fb85ff1b81c0b7181b85e"), h("2ca58fb85ff1b81c0b7181b85e"), h("2da58fb85ff1b81d0b7181b85e"),
    ),
    KeyVector(  # RFC 8613 C.3.2
        "C.3.2 server", MASTER_SALT, h("01"), h(""), ID_CONTEXT,
        h("8541014837cbf3210017a2d30a634b657910"), h("85404837cbf3210017a2d30a634b657910"),
        h("85404837cbf3210017a2d30a6249560d"),
        h("e39a0c7c77b43f03b4b39ab9a268699f"), h("af2a1300a5e95788b356336eeecd2b92"),
        h("2ca58fb85ff1b81c0b7181b85e"), h("2da58fb85ff1b81d0b7181b85e"), h("2ca58fb85ff1b81c0b7181b85e"),
    ),
]  # fmt: skip


@pytest.mark.parametrize("v", KEY_VECTORS, ids=lambda v: v.section)
def test_hkdf_info_matches_rfc8613_appendix_c(v: KeyVector) -> None:
    assert hkdf_info(v.sender_id, v.id_context, CCM, "Key", 16) == v.info_sender_key
    assert hkdf_info(v.recipient_id, v.id_context, CCM, "Key", 16) == v.info_recipient_key
    assert hkdf_info(b"", v.id_context, CCM, "IV", 13) == v.info_common_iv
    assert cbor2.dumps([v.sender_id, v.id_context, 10, "Key", 16]) == v.info_sender_key


@pytest.mark.parametrize("v", KEY_VECTORS, ids=lambda v: v.section)
def test_key_derivation_matches_rfc8613_appendix_c(v: KeyVector) -> None:
    keys = derive_keys(MASTER_SECRET, v.salt, v.sender_id, v.recipient_id, v.id_context, CCM)
    assert keys.sender_key == v.sender_key
    assert keys.recipient_key == v.recipient_key
    assert keys.common_iv == v.common_iv


@pytest.mark.parametrize("v", KEY_VECTORS, ids=lambda v: v.section)
def test_nonces_for_partial_iv_zero_match_rfc8613_appendix_c(v: KeyVector) -> None:
    assert build_nonce(v.common_iv, v.sender_id, b"\x00") == v.sender_nonce
    assert build_nonce(v.common_iv, v.recipient_id, b"\x00") == v.recipient_nonce


@pytest.mark.parametrize("v", KEY_VECTORS, ids=lambda v: v.section)
def test_security_context_uses_the_rfc8613_keys_and_nonces(v: KeyVector) -> None:
    """A context built from the appendix inputs encrypts exactly like the vector keys and nonces (piv 0)."""
    ctx = SecurityContext(
        MASTER_SECRET, v.salt, sender_id=v.sender_id, recipient_id=v.recipient_id, id_context=v.id_context,
        now=0.0, send_kid=False,
    )  # fmt: skip
    frame = b"\x10\x81\x00\x01\x05\xff\x01\x0e\xf0\x01\x62\x01\x80\x00"
    record = ctx.protect(frame, 0.0)
    header = record[:3]
    assert record[3:4] == b"\x00"  # first partial IV
    aad = build_aad(CCM, v.sender_id, b"\x00", header)
    assert record[4:] == aead_encrypt(CCM, v.sender_key, v.sender_nonce, frame, aad)
    # and the mirrored context (the peer) verifies with its recipient half
    peer = SecurityContext(
        MASTER_SECRET, v.salt, sender_id=v.recipient_id, recipient_id=v.sender_id, id_context=v.id_context,
        now=0.0,
    )  # fmt: skip
    assert peer.unprotect(record, 0.0) == frame


class MessageVector(NamedTuple):
    section: str
    key: bytes
    common_iv: bytes
    id_piv: bytes  # Sender ID of the endpoint that generated the partial IV used in the nonce
    nonce_piv: bytes
    request_kid: bytes
    request_piv: bytes
    aad_array: bytes
    aad: bytes
    plaintext: bytes
    nonce: bytes
    ciphertext: bytes


MESSAGE_VECTORS = [
    MessageVector(  # RFC 8613 C.4: request, client, context of C.1, sequence number 20
        "C.4 request", h("f0910ed7295e6ad4b54fc793154302ff"), h("4622d4dd6d944168eefb54987c"), h(""), h("14"),
        h(""), h("14"), h("8501810a40411440"), h("8368456e63727970743040488501810a40411440"),
        h("01b3747631"), h("4622d4dd6d944168eefb549868"), h("612f1092f1776f1c1668b3825e"),
    ),
    MessageVector(  # RFC 8613 C.5: request, client, context of C.2, Sender ID 0x00
        "C.5 request", h("321b26943253c7ffb6003b0b64d74041"), h("be35ae297d2dace910c52e99f9"),
        h("00"), h("14"),
        h("00"), h("14"), h("8501810a4100411440"), h("8368456e63727970743040498501810a4100411440"),
        h("01b3747631"), h("bf35ae297d2dace910c52e99ed"), h("4ed339a5a379b0b8bc731fffb0"),
    ),
    MessageVector(  # RFC 8613 C.6: request with kid context, context of C.3
        "C.6 request", h("af2a1300a5e95788b356336eeecd2b92"), h("2ca58fb85ff1b81c0b7181b85e"), h(""), h("14"),
        h(""), h("14"), h("8501810a40411440"), h("8368456e63727970743040488501810a40411440"),
        h("01b3747631"), h("2ca58fb85ff1b81c0b7181b84a"), h("72cd7273fd331ac45cffbe55c3"),
    ),
    MessageVector(  # RFC 8613 C.7: response without partial IV: request's nonce and AAD
        "C.7 response", h("ffb14e093c94c9cac9471648b4f98710"), h("4622d4dd6d944168eefb54987c"),
        h(""), h("14"),
        h(""), h("14"), h("8501810a40411440"), h("8368456e63727970743040488501810a40411440"),
        h("45ff48656c6c6f20576f726c6421"), h("4622d4dd6d944168eefb549868"),
        h("dbaad1e9a7e7b2a813d3c31524378303cdafae119106"),
    ),
    MessageVector(  # RFC 8613 C.8: response with the server's own partial IV 0
        "C.8 response", h("ffb14e093c94c9cac9471648b4f98710"), h("4622d4dd6d944168eefb54987c"),
        h("01"), h("00"),
        h(""), h("14"), h("8501810a40411440"), h("8368456e63727970743040488501810a40411440"),
        h("45ff48656c6c6f20576f726c6421"), h("4722d4dd6d944169eefb54987c"),
        h("4d4c13669384b67354b2b6175ff4b8658c666a6cf88e"),
    ),
]  # fmt: skip


@pytest.mark.parametrize("v", MESSAGE_VECTORS, ids=lambda v: v.section)
def test_aad_matches_rfc8613_appendix_c(v: MessageVector) -> None:
    aad = build_aad(CCM, v.request_kid, v.request_piv, b"")
    assert aad == v.aad
    assert aad == cbor2.dumps(["Encrypt0", b"", v.aad_array])
    assert cbor2.dumps([1, [10], v.request_kid, v.request_piv, b""]) == v.aad_array


@pytest.mark.parametrize("v", MESSAGE_VECTORS, ids=lambda v: v.section)
def test_nonce_matches_rfc8613_appendix_c(v: MessageVector) -> None:
    assert build_nonce(v.common_iv, v.id_piv, v.nonce_piv) == v.nonce


@pytest.mark.parametrize("v", MESSAGE_VECTORS, ids=lambda v: v.section)
def test_ciphertext_matches_rfc8613_appendix_c(v: MessageVector) -> None:
    assert aead_encrypt(CCM, v.key, v.nonce, v.plaintext, v.aad) == v.ciphertext
    assert aead_decrypt(CCM, v.key, v.nonce, v.ciphertext, v.aad) == v.plaintext


def test_section_5_4_aad_example_is_reproduced() -> None:
    """RFC 8613 5.4: request_kid 0x00, request_piv 0x25, no options."""
    assert build_aad(CCM, h("00"), h("25"), b"") == h("8368456e63727970743040498501810a4100412540")
