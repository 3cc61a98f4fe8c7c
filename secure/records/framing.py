"""Datagram framing of the secure overlay on UDP 3610 (pure code: bytes in, bytes out).

The consortium's wire format is not public, so every constant below lives in a :class:`RecordFormat` and can
be changed.  A secured datagram starts with an EHD1 value from the range ECHONET Lite Part 2 leaves reserved
(default ``0x21``) so that plain ECHONET Lite parsers (which require EHD1 = 0x10) drop it, followed by one
type byte::

    +------+------+---------------------------------------------------------------+
    | EHD1 | type | body                                                          |
    +------+------+---------------------------------------------------------------+
      0x21   0x01   handshake: cid_len(1) | connection id | EDHOC message (>= 1 byte)
             0x02   cookie:    cookie_len(1) | cookie (>= 1 byte) | payload (may be empty)
             0x03   data:      protected ECHONET Lite frame (layout below)
             0x04   close:     protected 1-byte reason code (same layout as data)
             0x05   unknown:   kid_len(1) | kid    (unauthenticated: "no context for this kid here")

Protected records (data and close) follow the compressed COSE object of RFC 8613 section 6.1::

    +------+------+-------+--------------------+---------------------------+----------------------+
    | EHD1 | type | flags | partial IV (n B)   | kid_len(1) | kid (if k=1) | ciphertext || tag    |
    +------+------+-------+--------------------+---------------------------+----------------------+

    flags:  bit 7..4  reserved, MUST be 0 (bit 4 is OSCORE's 'kid context' flag, not used here)
            bit 3     k: the kid (the sender's Sender ID) is present, prefixed by its length
            bit 2..0  n: length of the partial IV, 1..5 (0, 6 and 7 are rejected)

The partial IV is the sender's sequence number, big-endian, without leading zero bytes (0 is ``0x00``).  Every
protected record is treated as an OSCORE *request* for nonce and AAD purposes: the nonce is built from the
sender's own Sender ID and partial IV, and the AAD is the COSE ``Enc_structure``::

    AAD          = ["Encrypt0", h'', external_aad]
    external_aad = bstr .cbor [1, [alg_aead], kid, partial_iv, options]
    options      = EHD1 || type || flags                       (the 3 header bytes)

so every header byte is authenticated: the three leading bytes through ``options``, the partial IV through
``request_piv`` and the nonce, the kid through ``request_kid`` (the receiver always uses the Sender ID of its
peer there, whether or not the kid is sent) and the nonce.  The AEAD work lives in :mod:`secure.records.oscore`.

The *unknown-context* record is the one record that is neither a handshake step nor protected: a receiver that
holds no context for the kid of a data record (it restarted, or it dropped the session) answers with the kid it
did not know, so that the sender starts a new handshake instead of sealing into the void.  It is never longer
than the data record it answers (its body is that record's kid, without partial IV or tag), and since anybody can
forge it, it is only ever a reason to start a handshake, never to drop a session.

Decoding never raises anything but :class:`~secure.errors.MalformedRecordError` on remote bytes; encoding raises
:class:`~secure.errors.SecureUsageError` on bad local arguments.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import NamedTuple

from echonet.constants import EHD1_ECHONET_LITE, OVERLAY_EHD1
from secure.errors import MalformedRecordError, SecureUsageError

__all__ = [
    "DEFAULT_EHD1",
    "DEFAULT_FORMAT",
    "FLAG_KID",
    "FLAG_RESERVED_MASK",
    "MAX_KID_LEN",
    "MAX_PIV",
    "MAX_PIV_LEN",
    "PIV_LEN_MASK",
    "CloseReason",
    "CookieRecord",
    "HandshakeRecord",
    "ProtectedRecord",
    "Record",
    "RecordFormat",
    "RecordKind",
    "UnknownContextRecord",
    "decode",
    "decode_close_reason",
    "encode_close_reason",
    "encode_cookie",
    "encode_handshake",
    "encode_partial_iv",
    "encode_protected_header",
    "encode_unknown_context",
    "is_secure_datagram",
    "split_protected",
]

DEFAULT_EHD1 = OVERLAY_EHD1
MAX_PIV_LEN = 5
MAX_PIV = (1 << 40) - 1  # RFC 8613 7.2.1: sequence numbers stay below 2^40
MAX_KID_LEN = 7  # RFC 8613 3.3: nonce length - 6; 13-byte nonces (AES-CCM-16-64-128) allow 7
PIV_LEN_MASK = 0x07
FLAG_KID = 0x08
FLAG_RESERVED_MASK = 0xF0
_ECHONET_LITE_EHD1 = EHD1_ECHONET_LITE


# --------------------------------------------------------------------------------------------------- format


class RecordKind(enum.IntEnum):
    """The five record kinds; the values are the default type bytes."""

    HANDSHAKE = 0x01
    COOKIE = 0x02
    DATA = 0x03
    CLOSE = 0x04
    UNKNOWN_CONTEXT = 0x05


class CloseReason(enum.IntEnum):
    """Reason code carried (protected) by a close record.  Unknown codes decode as ``UNSPECIFIED``."""

    UNSPECIFIED = 0x00
    NORMAL = 0x01
    REKEY = 0x02
    KEY_LIMIT = 0x03
    EXPIRED = 0x04
    POLICY = 0x05
    SHUTDOWN = 0x06


@dataclass(frozen=True, slots=True)
class RecordFormat:
    """Wire constants: the EHD1 marking secured datagrams and the five type bytes."""

    ehd1: int = DEFAULT_EHD1
    handshake: int = 0x01
    cookie: int = 0x02
    data: int = 0x03
    close: int = 0x04
    unknown_context: int = 0x05

    def __post_init__(self) -> None:
        # ECHONET Lite Part 2: 0x10 is ECHONET Lite, 1xxxxxxx the older full ECHONET, 0x00 unusable; the rest
        # (0x01-0x0F, 0x11-0x7F) is reserved, which is where the secure overlay must live.
        if not 0x01 <= self.ehd1 <= 0x7F or self.ehd1 == _ECHONET_LITE_EHD1:
            raise SecureUsageError(f"EHD1 0x{self.ehd1:02x} is outside the reserved range 0x01-0x7f, 0x10")
        types = (self.handshake, self.cookie, self.data, self.close, self.unknown_context)
        if any(not 0 <= t <= 0xFF for t in types) or len(set(types)) != len(types):
            raise SecureUsageError("record type bytes must be five distinct values 0x00-0xff")

    def type_byte(self, kind: RecordKind) -> int:
        if kind is RecordKind.HANDSHAKE:
            return self.handshake
        if kind is RecordKind.COOKIE:
            return self.cookie
        if kind is RecordKind.DATA:
            return self.data
        if kind is RecordKind.CLOSE:
            return self.close
        return self.unknown_context

    def kind_of(self, type_byte: int) -> RecordKind | None:
        if type_byte == self.data:
            return RecordKind.DATA
        if type_byte == self.handshake:
            return RecordKind.HANDSHAKE
        if type_byte == self.cookie:
            return RecordKind.COOKIE
        if type_byte == self.close:
            return RecordKind.CLOSE
        if type_byte == self.unknown_context:
            return RecordKind.UNKNOWN_CONTEXT
        return None


DEFAULT_FORMAT = RecordFormat()


# --------------------------------------------------------------------------------------------------- records


class HandshakeRecord(NamedTuple):
    """An EDHOC message and the connection identifier it is addressed to (opaque to this module)."""

    connection_id: bytes
    payload: bytes


class CookieRecord(NamedTuple):
    """A stateless cookie challenge (empty payload) or its echo (payload, e.g. the retried message_1)."""

    cookie: bytes
    payload: bytes


class ProtectedRecord(NamedTuple):
    """A data or close record as parsed, before any cryptographic check.  Nothing here is secret."""

    kind: RecordKind
    header: bytes  # EHD1, type, flags: the AAD 'options'
    partial_iv: bytes  # as sent (minimal big-endian); the AAD 'request_piv'
    kid: bytes | None  # the sender's Sender ID when sent
    ciphertext: bytes  # ciphertext || tag

    @property
    def piv(self) -> int:
        return int.from_bytes(self.partial_iv, "big")


class UnknownContextRecord(NamedTuple):
    """The receiver holds no context for ``kid`` (unauthenticated; see the module documentation)."""

    kid: bytes

    @property
    def kind(self) -> RecordKind:
        return RecordKind.UNKNOWN_CONTEXT


Record = HandshakeRecord | CookieRecord | ProtectedRecord | UnknownContextRecord


def is_secure_datagram(datagram: bytes, fmt: RecordFormat = DEFAULT_FORMAT) -> bool:
    """True when ``datagram`` claims to be a secured record (first byte is the overlay's EHD1)."""
    return len(datagram) > 0 and datagram[0] == fmt.ehd1


def _check_bytes(name: str, value: bytes, low: int, high: int) -> None:
    if not isinstance(value, bytes | bytearray | memoryview):
        raise SecureUsageError(f"{name} must be bytes")
    if not low <= len(value) <= high:
        raise SecureUsageError(f"{name} length {len(value)} is outside {low}..{high}")


def encode_handshake(connection_id: bytes, payload: bytes, fmt: RecordFormat = DEFAULT_FORMAT) -> bytes:
    """``EHD1 | type | len(cid) | cid | payload``; the payload (an EDHOC message) must not be empty."""
    _check_bytes("connection_id", connection_id, 0, 255)
    _check_bytes("handshake payload", payload, 1, 65535)
    return bytes((fmt.ehd1, fmt.handshake, len(connection_id))) + bytes(connection_id) + bytes(payload)


def encode_cookie(cookie: bytes, payload: bytes = b"", fmt: RecordFormat = DEFAULT_FORMAT) -> bytes:
    """``EHD1 | type | len(cookie) | cookie | payload``; cookie of 1..255 bytes, payload may be empty."""
    _check_bytes("cookie", cookie, 1, 255)
    _check_bytes("cookie payload", payload, 0, 65535)
    return bytes((fmt.ehd1, fmt.cookie, len(cookie))) + bytes(cookie) + bytes(payload)


def encode_unknown_context(kid: bytes, fmt: RecordFormat = DEFAULT_FORMAT) -> bytes:
    """``EHD1 | type | len(kid) | kid``: "I hold no context for this kid" (the kid of the data record answered)."""
    _check_bytes("kid", kid, 0, MAX_KID_LEN)
    return bytes((fmt.ehd1, fmt.unknown_context, len(kid))) + bytes(kid)


def encode_partial_iv(sequence_number: int) -> bytes:
    """RFC 8613 section 5: big-endian without leading zero bytes; 0 is encoded as ``0x00``."""
    if not 0 <= sequence_number <= MAX_PIV:
        raise SecureUsageError("sequence number outside 0..2^40-1")
    return sequence_number.to_bytes(max(1, (sequence_number.bit_length() + 7) >> 3), "big")


def encode_protected_header(
    kind: RecordKind, partial_iv: bytes, kid: bytes | None, fmt: RecordFormat = DEFAULT_FORMAT
) -> bytes:
    """Header of a data or close record up to the ciphertext; its first 3 bytes are the AAD options."""
    if kind is not RecordKind.DATA and kind is not RecordKind.CLOSE:
        raise SecureUsageError("only data and close records are protected")
    n = len(partial_iv)
    if not 1 <= n <= MAX_PIV_LEN or (n > 1 and partial_iv[0] == 0):
        raise SecureUsageError("partial IV must be 1..5 bytes without leading zero bytes")
    if kid is None:
        return bytes((fmt.ehd1, fmt.type_byte(kind), n)) + partial_iv
    if len(kid) > MAX_KID_LEN:
        raise SecureUsageError(f"kid longer than {MAX_KID_LEN} bytes")
    return bytes((fmt.ehd1, fmt.type_byte(kind), n | FLAG_KID)) + partial_iv + bytes((len(kid),)) + kid


def encode_close_reason(reason: CloseReason) -> bytes:
    """The 1-byte plaintext of a close record."""
    return bytes((int(reason),))


def decode_close_reason(plaintext: bytes) -> CloseReason:
    """Decode a verified close plaintext; unknown codes become ``UNSPECIFIED`` (still a close)."""
    if len(plaintext) != 1:
        raise MalformedRecordError("close record plaintext must be exactly one byte")
    try:
        return CloseReason(plaintext[0])
    except ValueError:
        return CloseReason.UNSPECIFIED


def decode(datagram: bytes, fmt: RecordFormat = DEFAULT_FORMAT, *, min_tag_len: int = 8) -> Record:
    """Parse one secured datagram.  Raises :class:`MalformedRecordError` on anything that does not parse.

    ``min_tag_len`` is the shortest authentication tag of any algorithm in use; protected records whose
    ciphertext is shorter are rejected here, before any cryptographic work.
    """
    if type(datagram) is not bytes:
        datagram = bytes(datagram)
    length = len(datagram)
    if length < 3:
        raise MalformedRecordError("datagram shorter than a record header")
    if datagram[0] != fmt.ehd1:
        raise MalformedRecordError("EHD1 does not mark a secured record")
    type_byte = datagram[1]
    if type_byte == fmt.data:
        return _decode_protected(datagram, _DATA, min_tag_len)
    if type_byte == fmt.close:
        return _decode_protected(datagram, _CLOSE, min_tag_len)
    if type_byte == fmt.handshake:
        end = 3 + datagram[2]
        if end >= length:
            raise MalformedRecordError("handshake record truncated or without payload")
        return HandshakeRecord(datagram[3:end], datagram[end:])
    if type_byte == fmt.cookie:
        end = 3 + datagram[2]
        if datagram[2] == 0 or end > length:
            raise MalformedRecordError("cookie record truncated or with an empty cookie")
        return CookieRecord(datagram[3:end], datagram[end:])
    if type_byte == fmt.unknown_context:
        if datagram[2] > MAX_KID_LEN or length != 3 + datagram[2]:
            raise MalformedRecordError("unknown-context record with a bad kid length")
        return UnknownContextRecord(datagram[3:])
    raise MalformedRecordError("unknown record type")


_DATA = RecordKind.DATA
_CLOSE = RecordKind.CLOSE
_make_protected = ProtectedRecord._make


def split_protected(datagram: bytes, min_tag_len: int) -> tuple[bytes, bytes, bytes | None, bytes]:
    """Split a protected record whose EHD1 and type byte were already checked into (header, partial IV, kid,
    ciphertext).  The one parser of the protected layout; raises :class:`MalformedRecordError`."""
    flags = datagram[2]
    n = flags & PIV_LEN_MASK
    if flags & FLAG_RESERVED_MASK or not 0 < n <= MAX_PIV_LEN:
        raise MalformedRecordError("reserved flag bits set or partial IV length outside 1..5")
    pos = 3 + n
    if pos > len(datagram):
        raise MalformedRecordError("record truncated in partial IV")
    partial_iv = datagram[3:pos]
    if n > 1 and partial_iv[0] == 0:
        raise MalformedRecordError("partial IV has leading zero bytes")
    kid: bytes | None = None
    if flags & FLAG_KID:
        if pos >= len(datagram):
            raise MalformedRecordError("record truncated in kid")
        kid_len = datagram[pos]
        if kid_len > MAX_KID_LEN:
            raise MalformedRecordError("kid too long")
        kid = datagram[pos + 1 : pos + 1 + kid_len]
        pos += 1 + kid_len
    if len(datagram) - pos < min_tag_len:
        raise MalformedRecordError("record truncated: ciphertext shorter than the tag")
    return datagram[:3], partial_iv, kid, datagram[pos:]


def _decode_protected(datagram: bytes, kind: RecordKind, min_tag_len: int) -> ProtectedRecord:
    return _make_protected((kind, *split_protected(datagram, min_tag_len)))
