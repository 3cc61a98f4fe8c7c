"""The part of the checker that uses the secure overlay (:mod:`secure`): the handshake record it offers, and what
kind of record came back.

``secure`` (and ``cryptography``) are imported inside the functions, when a probe is made: importing the checker
loads neither.
"""

from __future__ import annotations


def overlay_hello(suite: int = 2) -> bytes:
    """A handshake record (EHD1 0x21, type 0x01, empty connection id) carrying a fresh EDHOC message_1 of a
    throwaway static-DH credential (method 3) for ``suite``."""
    from cryptography.hazmat.primitives.asymmetric import ec

    from secure.handshake.cose import Credential, LocalCredential, make_ccs
    from secure.handshake.edhoc import Initiator
    from secure.handshake.messages import Method
    from secure.records.framing import encode_handshake

    key = ec.generate_private_key(ec.SECP256R1())
    credential = LocalCredential(Credential.from_ccs(make_ccs(key.public_key(), kid=b"\x2c")), key)
    initiator = Initiator(
        method=Method.STATIC_STATIC, credential=credential, verify_peer=lambda _: None, suites=(suite,)
    )
    return encode_handshake(b"", initiator.create_message_1())


def record_kind(data: bytes) -> str:
    """The kind of overlay record ``data`` is (``handshake``, ``cookie``, ...), or ``malformed (...)``."""
    try:
        from secure.records.framing import CookieRecord, HandshakeRecord, decode

        record = decode(data)
    except Exception as exc:  # remote garbage: MalformedRecordError, or anything the decoder did not foresee
        return f"malformed ({type(exc).__name__})"
    if isinstance(record, HandshakeRecord):
        return "handshake"
    if isinstance(record, CookieRecord):
        return "cookie"
    return str(record.kind.name.lower())


__all__ = ["overlay_hello", "record_kind"]
