"""EDHOC wire formats (RFC 9528 sections 3, 5 and 6; CDDL in appendix C.2): pure encode/decode, no crypto.

Decoders take untrusted bytes and raise only :class:`~secure.errors.ProtocolError` (mostly its subclass
:class:`~secure.errors.CborError`). They enforce the CDDL and deterministic CBOR, including the rules that the
invalid traces of RFC 9529 section 4 exercise: a message is a CBOR sequence (not an array), a connection
identifier or compact 'kid' that has a one-byte integer form must use it, a single suite is an int and an
array of suites has at least two elements, and ``{4: kid}`` in a plaintext must be sent in compact form.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from enum import IntEnum

from secure.errors import CborError, ProtocolError, SecureUsageError
from secure.handshake.cbor import CborValue, Item, decode_sequence, encode, encode_bstr, encode_int, is_int
from secure.handshake.cose import IdCred

__all__ = [
    "EAD_PADDING",
    "EadItem",
    "ErrCode",
    "ErrorMessage",
    "Message1",
    "Method",
    "Plaintext2",
    "Plaintext3",
    "decode_cid",
    "decode_message_2",
    "decode_plaintext_4",
    "decode_single_bstr",
    "encode_cid",
    "encode_ead",
    "encode_suites",
    "is_error_message",
]

EAD_PADDING = 0


class Method(IntEnum):
    """EDHOC authentication methods (RFC 9528 section 3.2): initiator key / responder key."""

    SIG_SIG = 0
    SIG_STATIC = 1
    STATIC_SIG = 2
    STATIC_STATIC = 3

    @property
    def initiator_static_dh(self) -> bool:
        return self in (Method.STATIC_SIG, Method.STATIC_STATIC)

    @property
    def responder_static_dh(self) -> bool:
        return self in (Method.SIG_STATIC, Method.STATIC_STATIC)


class ErrCode(IntEnum):
    """EDHOC error codes (RFC 9528 section 6)."""

    SUCCESS = 0
    UNSPECIFIED = 1
    WRONG_SELECTED_CIPHER_SUITE = 2
    UNKNOWN_CREDENTIAL_REFERENCED = 3


# ----------------------------------------------------------------------------------------- identifiers


def _one_byte_int(raw: int) -> bool:
    """True if the byte is the one-byte CBOR encoding of an integer in -24..23 (0x00-0x17, 0x20-0x37)."""
    return raw <= 0x17 or 0x20 <= raw <= 0x37


def encode_cid(cid: bytes) -> bytes:
    """Encode a connection identifier or compact kid (section 3.3.2): one-byte int if possible, else bstr."""
    cid = bytes(cid)
    if len(cid) == 1 and _one_byte_int(cid[0]):
        return cid
    return encode_bstr(cid)


def decode_cid(item: Item, what: str = "connection identifier") -> bytes:
    """Decode ``bstr / -24..23`` back to the identifier bytes, refusing the non-canonical bstr form."""
    if is_int(item.value):
        if len(item.raw) != 1:
            raise CborError(f"{what} integer outside -24..23")
        return item.raw
    if isinstance(item.value, bytes):
        if len(item.value) == 1 and _one_byte_int(item.value[0]):
            raise CborError(f"{what} 0x{item.value.hex()} must be encoded as a CBOR integer")
        return item.value
    raise CborError(f"{what} is neither a byte string nor an integer")


def _encode_id_cred_plaintext(id_cred: IdCred) -> bytes:
    if id_cred.is_compact_kid:
        kid = id_cred.kid
        assert kid is not None
        return encode_cid(kid)
    return id_cred.encoded


def _decode_id_cred_plaintext(item: Item) -> IdCred:
    if isinstance(item.value, dict):
        id_cred = IdCred.from_peer(item.raw)
        if id_cred.is_compact_kid:
            raise CborError("ID_CRED {4: kid} must use the compact kid encoding")
        return id_cred
    kid = decode_cid(item, "compact kid")
    return IdCred.by_kid(kid)


# ------------------------------------------------------------------------------------------------- EAD


@dataclass(frozen=True)
class EadItem:
    """One External Authorization Data item (section 3.8): a label, an optional value and a criticality.

    ``label`` is the registered absolute value; a critical item travels with the negated label. Label 0 is
    padding and is never critical.
    """

    label: int
    value: bytes | None = None
    critical: bool = False

    def __post_init__(self) -> None:
        if not is_int(self.label) or self.label < 0:
            raise SecureUsageError("EAD label must be a non-negative int (criticality is a separate flag)")
        if self.critical and self.label == EAD_PADDING:
            raise SecureUsageError("padding (EAD label 0) cannot be critical")
        if self.value is not None and not isinstance(self.value, bytes):
            raise SecureUsageError("EAD value must be bytes")

    def encode(self) -> bytes:
        wire = encode_int(-self.label if self.critical else self.label)
        return wire if self.value is None else wire + encode_bstr(self.value)

    @classmethod
    def padding(cls, value: bytes = b"") -> EadItem:
        return cls(EAD_PADDING, value)


def encode_ead(items: Iterable[EadItem]) -> bytes:
    return b"".join(item.encode() for item in items)


def _decode_ead(items: Sequence[Item]) -> tuple[EadItem, ...]:
    out: list[EadItem] = []
    index = 0
    while index < len(items):
        label = items[index].value
        if not is_int(label):
            raise CborError("EAD label is not an integer")
        assert isinstance(label, int)
        index += 1
        value: bytes | None = None
        if index < len(items) and isinstance(items[index].value, bytes):
            raw_value = items[index].value
            assert isinstance(raw_value, bytes)
            value = raw_value
            index += 1
        out.append(EadItem(abs(label), value, critical=label < 0))
    return tuple(out)


# ---------------------------------------------------------------------------------------------- suites


def encode_suites(suites: Sequence[int]) -> bytes:
    """``suites = [2* int] / int``: a single suite is an int, several are an array."""
    if not suites:
        raise SecureUsageError("at least one cipher suite is needed")
    return encode_int(suites[0]) if len(suites) == 1 else encode(list(suites))


def _decode_suites(value: CborValue, what: str) -> tuple[int, ...]:
    if is_int(value):
        assert isinstance(value, int)
        return (value,)
    if isinstance(value, list):
        if len(value) < 2:
            raise CborError(f"{what}: an array of suites needs at least two elements")
        suites: list[int] = []
        for suite in value:
            if not is_int(suite):
                raise CborError(f"{what}: suite is not an integer")
            assert isinstance(suite, int)
            suites.append(suite)
        return tuple(suites)
    raise CborError(f"{what} is neither an int nor an array")


# -------------------------------------------------------------------------------------------- messages


@dataclass(frozen=True)
class Message1:
    """message_1 = (METHOD, SUITES_I, G_X, C_I, ? EAD_1) (section 5.2.1)."""

    method: int
    suites_i: tuple[int, ...]
    g_x: bytes
    c_i: bytes
    ead: tuple[EadItem, ...] = ()

    @property
    def selected_suite(self) -> int:
        return self.suites_i[-1]

    def encode(self) -> bytes:
        return (
            encode_int(self.method)
            + encode_suites(self.suites_i)
            + encode_bstr(self.g_x)
            + encode_cid(self.c_i)
            + encode_ead(self.ead)
        )

    @classmethod
    def decode(cls, data: bytes) -> Message1:
        items = decode_sequence(data)
        if len(items) < 4:
            raise CborError("message_1 has fewer than four elements")
        method, suites, g_x = items[0].value, items[1].value, items[2].value
        if not is_int(method):
            raise CborError("METHOD is not an integer")
        assert isinstance(method, int)
        if not isinstance(g_x, bytes):
            raise CborError("G_X is not a byte string")
        return cls(method, _decode_suites(suites, "SUITES_I"), g_x, decode_cid(items[3], "C_I"), _decode_ead(items[4:]))


def decode_single_bstr(data: bytes, what: str) -> bytes:
    """message_2/3/4 are a CBOR sequence of exactly one byte string."""
    items = decode_sequence(data, max_items=2)
    if len(items) != 1:
        raise CborError(f"{what} must be exactly one CBOR data item, got {len(items)}")
    value = items[0].value
    if not isinstance(value, bytes):
        raise CborError(f"{what} is not a byte string")
    return value


def decode_message_2(data: bytes, g_y_length: int) -> tuple[bytes, bytes]:
    """Split message_2 into (G_Y, CIPHERTEXT_2)."""
    g_y_ciphertext = decode_single_bstr(data, "message_2")
    if len(g_y_ciphertext) <= g_y_length:
        raise ProtocolError("G_Y_CIPHERTEXT_2 is too short")
    return g_y_ciphertext[:g_y_length], g_y_ciphertext[g_y_length:]


@dataclass(frozen=True)
class Plaintext2:
    """PLAINTEXT_2 = (C_R, ID_CRED_R / bstr / -24..23, Signature_or_MAC_2, ? EAD_2) (section 5.3.2)."""

    c_r: bytes
    id_cred_r: IdCred
    signature_or_mac_2: bytes
    ead: tuple[EadItem, ...] = ()

    def encode(self) -> bytes:
        return (
            encode_cid(self.c_r)
            + _encode_id_cred_plaintext(self.id_cred_r)
            + encode_bstr(self.signature_or_mac_2)
            + encode_ead(self.ead)
        )

    @classmethod
    def decode(cls, data: bytes) -> Plaintext2:
        items = decode_sequence(data)
        if len(items) < 3:
            raise CborError("PLAINTEXT_2 has fewer than three elements")
        sig = items[2].value
        if not isinstance(sig, bytes):
            raise CborError("Signature_or_MAC_2 is not a byte string")
        return cls(decode_cid(items[0], "C_R"), _decode_id_cred_plaintext(items[1]), sig, _decode_ead(items[3:]))


@dataclass(frozen=True)
class Plaintext3:
    """PLAINTEXT_3 = (ID_CRED_I / bstr / -24..23, Signature_or_MAC_3, ? EAD_3) (section 5.4.2)."""

    id_cred_i: IdCred
    signature_or_mac_3: bytes
    ead: tuple[EadItem, ...] = ()

    def encode(self) -> bytes:
        return _encode_id_cred_plaintext(self.id_cred_i) + encode_bstr(self.signature_or_mac_3) + encode_ead(self.ead)

    @classmethod
    def decode(cls, data: bytes) -> Plaintext3:
        items = decode_sequence(data)
        if len(items) < 2:
            raise CborError("PLAINTEXT_3 has fewer than two elements")
        sig = items[1].value
        if not isinstance(sig, bytes):
            raise CborError("Signature_or_MAC_3 is not a byte string")
        return cls(_decode_id_cred_plaintext(items[0]), sig, _decode_ead(items[2:]))


def decode_plaintext_4(data: bytes) -> tuple[EadItem, ...]:
    """PLAINTEXT_4 = (? EAD_4)."""
    return _decode_ead(decode_sequence(data))


# ---------------------------------------------------------------------------------------------- errors


def is_error_message(data: bytes) -> bool:
    """True if ``data`` starts like an EDHOC error (an int ERR_CODE) rather than message_2/3/4 (a bstr)."""
    return len(data) > 0 and data[0] >> 5 in (0, 1)


@dataclass(frozen=True)
class ErrorMessage:
    """error = (ERR_CODE : int, ERR_INFO : any) (section 6)."""

    err_code: int
    err_info: CborValue

    @classmethod
    def unspecified(cls, text: str) -> ErrorMessage:
        return cls(ErrCode.UNSPECIFIED, text)

    @classmethod
    def wrong_selected_cipher_suite(cls, suites_r: Sequence[int]) -> ErrorMessage:
        suites: list[CborValue] = list(suites_r)
        return cls(ErrCode.WRONG_SELECTED_CIPHER_SUITE, suites[0] if len(suites) == 1 else suites)

    @classmethod
    def unknown_credential_referenced(cls) -> ErrorMessage:
        return cls(ErrCode.UNKNOWN_CREDENTIAL_REFERENCED, True)

    @property
    def suites_r(self) -> tuple[int, ...]:
        """SUITES_R of an ERR_CODE 2 error (empty for other codes)."""
        if self.err_code != ErrCode.WRONG_SELECTED_CIPHER_SUITE:
            return ()
        return _decode_suites(self.err_info, "SUITES_R")

    @property
    def diagnostic(self) -> str:
        """A printable summary (ERR_INFO text for code 1 is truncated and stripped of control characters)."""
        if self.err_code == ErrCode.UNSPECIFIED and isinstance(self.err_info, str):
            text = "".join(ch if ch.isprintable() else "?" for ch in self.err_info[:200])
            return f"unspecified error: {text}"
        if self.err_code == ErrCode.WRONG_SELECTED_CIPHER_SUITE:
            return f"wrong selected cipher suite, SUITES_R={list(self.suites_r)}"
        if self.err_code == ErrCode.UNKNOWN_CREDENTIAL_REFERENCED:
            return "unknown credential referenced"
        return f"error code {self.err_code}"

    def encode(self) -> bytes:
        if self.err_code == ErrCode.UNSPECIFIED and not isinstance(self.err_info, str):
            raise SecureUsageError("ERR_INFO of error code 1 must be a text string")
        return encode_int(self.err_code) + encode(self.err_info)

    @classmethod
    def decode(cls, data: bytes) -> ErrorMessage:
        items = decode_sequence(data, max_items=3)
        if len(items) != 2:
            raise CborError("an EDHOC error message has exactly two elements")
        code, info = items[0].value, items[1].value
        if not is_int(code):
            raise CborError("ERR_CODE is not an integer")
        assert isinstance(code, int)
        if code == ErrCode.UNSPECIFIED and not isinstance(info, str):
            raise CborError("ERR_INFO of error code 1 is not a text string")
        if code == ErrCode.WRONG_SELECTED_CIPHER_SUITE:
            _decode_suites(info, "SUITES_R")
        if code == ErrCode.UNKNOWN_CREDENTIAL_REFERENCED and info is not True:
            raise CborError("ERR_INFO of error code 3 is not true")
        return cls(code, info)
