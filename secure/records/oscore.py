"""OSCORE-style protection of whole ECHONET Lite frames (RFC 8613 key schedule, nonce, AAD and AEAD).

Pure code: bytes and ``now`` (float seconds) in, bytes out.  No key, master secret or plaintext ever reaches a
``repr``, an exception message or a log.

Key schedule (RFC 8613 section 3.2.1): ``HKDF-SHA-256(salt=master_salt, IKM=master_secret, info, L)`` with
``info = [id, id_context / nil, alg_aead, "Key" / "IV", L]`` gives the Sender Key (id = Sender ID), the
Recipient Key (id = Recipient ID) and the Common IV (id = h'').

Nonce (section 5.2): ``Common IV XOR (len(ID) | ID left-padded to nonce_len - 6 | PIV left-padded to 5)``,
where ID is the Sender ID of the endpoint that generated the partial IV.  Each side protects *every* record
with its own Sender ID and sequence number (every record is an OSCORE "request"), so the two directions never
share a nonce and each uses its own key.

AAD (section 5.4): ``["Encrypt0", h'', bstr .cbor [1, [alg_aead], request_kid, request_piv, options]]`` with
``request_kid`` = the Sender ID of the record's sender, ``request_piv`` = its partial IV as sent and
``options`` = the three record header bytes (EHD1, type, flags).  See :mod:`secure.records.framing` for the datagram
layout.

Algorithms: AES-CCM-16-64-128 (COSE 10, mandatory and default), A128GCM (1) and ChaCha20/Poly1305 (24).

Key usage limits (draft-ietf-core-oscore-key-limits): AES-CCM-16-64-128 has an 8-byte tag (AEAD_AES_128_CCM_8
in the draft), hence q = 2^20 encryptions, v = 2^14 failed decryptions and l = 2^8 blocks per message; A128GCM
and ChaCha20/Poly1305 use q = v = 2^20 and l = 2^10 blocks.  ``count_q`` is incremented before each encryption
and protection is refused once ``limit_q`` encryptions were made; every failed tag check increments
``count_v`` and verification is refused once ``limit_v`` failures happened (replays and malformed records are
not decrypted and do not count).  :meth:`SecurityContext.needs_rekey` turns true a margin before either limit,
after ``max_age`` seconds and shortly before the sequence numbers run out.  An optional hard ``lifetime`` (the
draft's 'exp') makes the context refuse both directions.

A :class:`SecurityContext` is not thread-safe (use it from the event loop) and cannot be copied or pickled: a
copy would reuse nonces.
"""

from __future__ import annotations

import enum
import math
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import NamedTuple, NoReturn, TypeAlias

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESCCM, AESGCM, ChaCha20Poly1305
from cryptography.hazmat.primitives.hashes import SHA256
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from secure.errors import (
    IntegrityError,
    MalformedRecordError,
    RecipientKeyLimitError,
    RejectReason,
    SecureUsageError,
    SenderKeyLimitError,
    SequenceExhaustedError,
)
from secure.records.framing import (
    DEFAULT_FORMAT,
    FLAG_KID,
    MAX_PIV_LEN,
    CloseReason,
    ProtectedRecord,
    RecordFormat,
    encode_close_reason,
    split_protected,
)
from secure.records.replay import DEFAULT_WINDOW_SIZE, ReplayWindow
from secure.records.sequence import MAX_SEQUENCE_NUMBER, SequenceSource

__all__ = [
    "ALGORITHMS",
    "OSCORE_VERSION",
    "AeadAlgorithm",
    "AlgorithmParams",
    "DerivedKeys",
    "KeyLimits",
    "KeyUsage",
    "RekeyReason",
    "SecurityContext",
    "aead_decrypt",
    "aead_encrypt",
    "build_aad",
    "build_nonce",
    "derive_keys",
    "hkdf_info",
]

OSCORE_VERSION = 1
_AeadPrimitive: TypeAlias = AESCCM | AESGCM | ChaCha20Poly1305
_HeaderTable: TypeAlias = tuple[tuple[bytes, bytes], ...]


class AeadAlgorithm(enum.IntEnum):
    """COSE algorithm identifiers of the supported AEADs."""

    A128GCM = 1
    AES_CCM_16_64_128 = 10
    CHACHA20_POLY1305 = 24


class AlgorithmParams(NamedTuple):
    key_len: int
    nonce_len: int
    tag_len: int
    block_len: int  # cipher block size used by the key-limits draft's 'l'
    max_blocks: int  # 'l': maximum message size (plaintext + tag + padding) in blocks
    limit_q: int  # maximum encryptions per key
    limit_v: int  # maximum failed decryptions per key

    @property
    def max_plaintext(self) -> int:
        """Largest plaintext such that plaintext + tag + padding stays within l blocks."""
        return self.max_blocks * self.block_len - self.tag_len

    @property
    def max_id_len(self) -> int:
        """RFC 8613 3.3: Sender/Recipient IDs are at most nonce length - 6 bytes."""
        return self.nonce_len - 6


ALGORITHMS: dict[AeadAlgorithm, AlgorithmParams] = {
    # key-limits draft: AEAD_AES_128_CCM_8 (q, v, l) = (2^20, 2^14, 2^8)
    AeadAlgorithm.AES_CCM_16_64_128: AlgorithmParams(16, 13, 8, 16, 1 << 8, 1 << 20, 1 << 14),
    # key-limits draft: AEAD_AES_128_GCM and AEAD_CHACHA20_POLY1305 (q, v, l) = (2^20, 2^20, 2^10)
    AeadAlgorithm.A128GCM: AlgorithmParams(16, 12, 16, 16, 1 << 10, 1 << 20, 1 << 20),
    AeadAlgorithm.CHACHA20_POLY1305: AlgorithmParams(32, 12, 16, 64, 1 << 10, 1 << 20, 1 << 20),
}


def _params(alg: AeadAlgorithm | int) -> tuple[AeadAlgorithm, AlgorithmParams]:
    try:
        a = AeadAlgorithm(alg)
    except ValueError:
        raise SecureUsageError(f"unsupported AEAD algorithm {alg!r}") from None
    return a, ALGORITHMS[a]


# ------------------------------------------------------------------------------------------- CBOR bits


def _cbor_head(major: int, value: int) -> bytes:
    """Head of a CBOR item (RFC 8949 3.1) for a non-negative argument."""
    mt = major << 5
    if value < 24:
        return bytes((mt | value,))
    if value < 0x100:
        return bytes((mt | 24, value))
    if value < 0x10000:
        return bytes((mt | 25,)) + value.to_bytes(2, "big")
    if value < 0x100000000:
        return bytes((mt | 26,)) + value.to_bytes(4, "big")
    return bytes((mt | 27,)) + value.to_bytes(8, "big")


def _cbor_bstr(value: bytes) -> bytes:
    return _cbor_head(2, len(value)) + bytes(value)


def _cbor_tstr(value: str) -> bytes:
    raw = value.encode()
    return _cbor_head(3, len(raw)) + raw


_CBOR_NULL = b"\xf6"
_ENC0_PREFIX = b"\x83" + _cbor_tstr("Encrypt0") + _cbor_bstr(b"")  # ["Encrypt0", h'', ...


def hkdf_info(id_: bytes, id_context: bytes | None, alg: AeadAlgorithm | int, type_: str, length: int) -> bytes:
    """CBOR ``info`` of RFC 8613 section 3.2.1: ``[id, id_context / nil, alg_aead, type, L]``."""
    if type_ not in ("Key", "IV"):
        raise SecureUsageError("type must be 'Key' or 'IV'")
    ctx = _CBOR_NULL if id_context is None else _cbor_bstr(id_context)
    return b"\x85" + _cbor_bstr(id_) + ctx + _cbor_head(0, int(alg)) + _cbor_tstr(type_) + _cbor_head(0, length)


def build_aad(alg: AeadAlgorithm | int, request_kid: bytes, request_piv: bytes, options: bytes) -> bytes:
    """AAD of RFC 8613 section 5.4: ``Enc_structure = ["Encrypt0", h'', external_aad]``."""
    aad_array = (
        b"\x85"
        + _cbor_head(0, OSCORE_VERSION)
        + b"\x81"
        + _cbor_head(0, int(alg))
        + _cbor_bstr(request_kid)
        + _cbor_bstr(request_piv)
        + _cbor_bstr(options)
    )
    return _ENC0_PREFIX + _cbor_bstr(aad_array)


def build_nonce(common_iv: bytes, id_piv: bytes, partial_iv: bytes) -> bytes:
    """AEAD nonce of RFC 8613 section 5.2 (Figure 8)."""
    nonce_len = len(common_iv)
    if nonce_len < 7 or len(id_piv) > nonce_len - 6 or len(partial_iv) > MAX_PIV_LEN:
        raise SecureUsageError("ID or partial IV too long for this nonce length")
    return (_nonce_base(common_iv, id_piv) ^ int.from_bytes(partial_iv, "big")).to_bytes(nonce_len, "big")


def _nonce_base(common_iv: bytes, id_piv: bytes) -> int:
    nonce_len = len(common_iv)
    return (
        int.from_bytes(common_iv, "big")
        ^ (len(id_piv) << (8 * (nonce_len - 1)))
        ^ (int.from_bytes(id_piv, "big") << (8 * MAX_PIV_LEN))
    )


def _native_ccm() -> type | None:
    """The compiled AES-128-CCM of the record hot path (``secure/records/_aead.c``, built by ``pip install``), or
    ``None``: not built (no C compiler or OpenSSL headers), or ``ECHONET_PURE_PYTHON`` set. Equal results either
    way (tests/secure/test_native_aead.py); the compiled one costs about a third per record."""
    if os.environ.get("ECHONET_PURE_PYTHON"):
        return None
    try:
        from secure.records._aead import AesCcm  # type: ignore[import-not-found,unused-ignore]
    except ImportError:
        return None
    return AesCcm  # type: ignore[no-any-return,unused-ignore]


#: :func:`_native_ccm`, once: what every new context's AES-CCM uses (:data:`NATIVE_AEAD` says which)
_NATIVE_CCM = _native_ccm()
#: True when AES-CCM-16-64-128 records are sealed and opened by the compiled module, False with cryptography's
NATIVE_AEAD = _NATIVE_CCM is not None


def _primitive(alg: AeadAlgorithm, key: bytes) -> _AeadPrimitive:
    if alg is AeadAlgorithm.AES_CCM_16_64_128:
        if _NATIVE_CCM is not None:
            return _NATIVE_CCM(key, 8)  # type: ignore[no-any-return]
        return AESCCM(key, tag_length=8)
    if alg is AeadAlgorithm.A128GCM:
        return AESGCM(key)
    return ChaCha20Poly1305(key)


def aead_encrypt(alg: AeadAlgorithm | int, key: bytes, nonce: bytes, plaintext: bytes, aad: bytes) -> bytes:
    """One-shot AEAD encryption (ciphertext || tag), e.g. for test vectors."""
    a, p = _params(alg)
    if len(key) != p.key_len or len(nonce) != p.nonce_len:
        raise SecureUsageError("key or nonce length does not match the algorithm")
    return _primitive(a, key).encrypt(nonce, plaintext, aad)


def aead_decrypt(alg: AeadAlgorithm | int, key: bytes, nonce: bytes, ciphertext: bytes, aad: bytes) -> bytes:
    """One-shot AEAD decryption; raises :class:`IntegrityError` when the tag does not verify."""
    a, p = _params(alg)
    if len(key) != p.key_len or len(nonce) != p.nonce_len:
        raise SecureUsageError("key or nonce length does not match the algorithm")
    try:
        return _primitive(a, key).decrypt(nonce, ciphertext, aad)
    except InvalidTag:
        raise IntegrityError("authentication tag does not verify") from None


# ------------------------------------------------------------------------------------------ derivation


@dataclass(frozen=True, slots=True)
class DerivedKeys:
    """Output of the RFC 8613 key schedule.  Secret fields are kept out of ``repr``."""

    alg: AeadAlgorithm
    sender_key: bytes = field(repr=False)
    recipient_key: bytes = field(repr=False)
    common_iv: bytes = field(repr=False)


def _check_id(name: str, value: bytes, max_len: int) -> bytes:
    if not isinstance(value, bytes | bytearray):
        raise SecureUsageError(f"{name} must be bytes")
    if len(value) > max_len:
        raise SecureUsageError(f"{name} is longer than {max_len} bytes")
    return bytes(value)


def derive_keys(
    master_secret: bytes,
    master_salt: bytes = b"",
    sender_id: bytes = b"",
    recipient_id: bytes = b"",
    id_context: bytes | None = None,
    alg: AeadAlgorithm | int = AeadAlgorithm.AES_CCM_16_64_128,
) -> DerivedKeys:
    """Sender Key, Recipient Key and Common IV of RFC 8613 section 3.2.1 (HKDF SHA-256)."""
    a, p = _params(alg)
    if not isinstance(master_secret, bytes | bytearray) or not master_secret:
        raise SecureUsageError("master secret must be non-empty bytes")
    if not isinstance(master_salt, bytes | bytearray):
        raise SecureUsageError("master salt must be bytes")
    if id_context is not None and not isinstance(id_context, bytes | bytearray):
        raise SecureUsageError("ID context must be bytes or None")
    sid = _check_id("sender ID", sender_id, p.max_id_len)
    rid = _check_id("recipient ID", recipient_id, p.max_id_len)
    ctx = None if id_context is None else bytes(id_context)

    def hkdf(id_: bytes, type_: str, length: int) -> bytes:
        # RFC 8613 3.2.1: the default (empty) salt is HKDF's string of zeros; None means exactly that.
        kdf = HKDF(SHA256(), length, bytes(master_salt) or None, hkdf_info(id_, ctx, a, type_, length))
        return kdf.derive(bytes(master_secret))

    return DerivedKeys(a, hkdf(sid, "Key", p.key_len), hkdf(rid, "Key", p.key_len), hkdf(b"", "IV", p.nonce_len))


# ---------------------------------------------------------------------------------------------- limits


@dataclass(frozen=True, slots=True)
class KeyLimits:
    """Usage limits of one security context.  ``None`` limits take the key-limits draft's value for the AEAD.

    ``rekey_margin``: fraction of a limit (at least one unit) left when :meth:`SecurityContext.needs_rekey`
    turns true.  ``max_age``: seconds after which a rekey is wanted (None: never).  ``lifetime``: seconds
    after which the context refuses to protect and verify (None: no hard expiry).  Limits above the draft's
    are refused.
    """

    limit_q: int | None = None
    limit_v: int | None = None
    rekey_margin: float = 1 / 16
    max_age: float | None = 24 * 3600.0
    lifetime: float | None = None

    def __post_init__(self) -> None:
        for name in ("limit_q", "limit_v"):
            value = getattr(self, name)
            if value is not None and (not isinstance(value, int) or value < 1):
                raise SecureUsageError(f"{name} must be a positive integer")
        if not 0.0 <= self.rekey_margin < 1.0:
            raise SecureUsageError("rekey_margin must lie in [0, 1)")
        for name in ("max_age", "lifetime"):
            value = getattr(self, name)
            if value is not None and not (value > 0 and math.isfinite(value)):
                raise SecureUsageError(f"{name} must be a positive number of seconds or None")


class RekeyReason(enum.StrEnum):
    """Why :meth:`SecurityContext.needs_rekey` is true (stable strings for audit records)."""

    ENCRYPTIONS = "encryption-limit"
    FAILED_DECRYPTIONS = "failed-decryption-limit"
    SEQUENCE = "sequence-numbers"
    AGE = "age"


class KeyUsage(NamedTuple):
    """Counters of a context; nothing secret."""

    encryptions: int
    failed_decryptions: int
    limit_q: int
    limit_v: int
    sequence_remaining: int
    age: float


def _soft(limit: int, margin: float) -> int:
    return max(0, limit - max(1, int(limit * margin)))


# --------------------------------------------------------------------------------------------- context


class SecurityContext:
    """One endpoint's OSCORE security context towards one peer: sender and recipient halves, usage counters,
    sequence numbers and the replay window for the peer's partial IVs.

    ``now`` is the creation time used for ``max_age`` and ``lifetime``.  ``sequence`` defaults to an in-memory
    counter starting at 0, which is only safe for a context that never outlives the process; pass a
    :class:`secure.records.sequence.SequenceStore` for a context that does.  ``send_kid`` puts the Sender ID in every
    record so the receiver can tell contexts apart (for example old and new keys during a rekey).
    """

    __slots__ = (
        "_alg",
        "_close_headers",
        "_count_q",
        "_count_v",
        "_created_at",
        "_data_headers",
        "_expires_at",
        "_fast_q",
        "_fmt",
        "_id_context",
        "_kid_field",
        "_limit_q",
        "_limit_v",
        "_limits",
        "_max_ciphertext",
        "_max_plaintext",
        "_next_sequence_number",
        "_nonce_len",
        "_open_until",
        "_r_aad_prefix",
        "_r_aead",
        "_r_nonce_base",
        "_r_open",
        "_recipient_id",
        "_replay",
        "_s_aad_prefix",
        "_s_aead",
        "_s_data",
        "_s_nonce_base",
        "_s_seal",
        "_sender_id",
        "_sequence",
        "_soft_q",
        "_soft_v",
        "_tag_len",
    )

    def __init__(
        self,
        master_secret: bytes,
        master_salt: bytes = b"",
        *,
        sender_id: bytes,
        recipient_id: bytes,
        id_context: bytes | None = None,
        alg: AeadAlgorithm | int = AeadAlgorithm.AES_CCM_16_64_128,
        now: float,
        limits: KeyLimits | None = None,
        sequence: SequenceSource | None = None,
        replay_window: ReplayWindow | None = None,
        fmt: RecordFormat = DEFAULT_FORMAT,
        send_kid: bool = True,
    ) -> None:
        keys = derive_keys(master_secret, master_salt, sender_id, recipient_id, id_context, alg)
        if bytes(sender_id) == bytes(recipient_id):
            raise SecureUsageError("sender ID and recipient ID must differ")
        if not math.isfinite(now):
            raise SecureUsageError("now must be a finite number")
        a, p = keys.alg, ALGORITHMS[keys.alg]
        limits = KeyLimits() if limits is None else limits
        limit_q = p.limit_q if limits.limit_q is None else limits.limit_q
        limit_v = p.limit_v if limits.limit_v is None else limits.limit_v
        if limit_q > p.limit_q or limit_v > p.limit_v:
            raise SecureUsageError("usage limits above the key-limits draft's values for this AEAD")
        self._alg = a
        self._fmt = fmt
        self._sender_id = bytes(sender_id)
        self._recipient_id = bytes(recipient_id)
        self._id_context = None if id_context is None else bytes(id_context)
        self._limits = limits
        self._limit_q = limit_q
        self._limit_v = limit_v
        self._soft_q = _soft(limit_q, limits.rekey_margin)
        self._soft_v = _soft(limit_v, limits.rekey_margin)
        self._count_q = 0
        self._count_v = 0
        self._created_at = float(now)
        self._expires_at = math.inf if limits.lifetime is None else self._created_at + limits.lifetime
        # Without a sequence source of its own, record k is numbered k (as a fresh MemorySequence would number
        # it): the count of records sealed is the next partial IV, and nothing is called per record for it.
        self._sequence: SequenceSource | None = sequence
        self._replay = ReplayWindow(DEFAULT_WINDOW_SIZE) if replay_window is None else replay_window
        self._nonce_len = p.nonce_len
        self._tag_len = p.tag_len
        self._max_plaintext = p.max_plaintext
        self._max_ciphertext = p.max_plaintext + p.tag_len
        self._next_sequence_number = None if sequence is None else sequence.next
        # protect's common case stops below _fast_q: the encryption limit, or at once with a sequence source
        self._fast_q = limit_q if sequence is None else 0
        self._open_until = self._expires_at if limit_v > 0 else -math.inf
        kid_flag = FLAG_KID if send_kid else 0
        self._data_headers = self._header_table(fmt.data, kid_flag)
        self._close_headers = self._header_table(fmt.close, kid_flag)
        self._kid_field = bytes((len(self._sender_id),)) + self._sender_id if send_kid else b""
        # Precomputed parts: nonce = (base ^ piv) and AAD = prefix[len(piv)] + piv + 0x43 + header.
        self._s_nonce_base = _nonce_base(keys.common_iv, self._sender_id)
        self._r_nonce_base = _nonce_base(keys.common_iv, self._recipient_id)
        self._s_aad_prefix = self._aad_prefixes(self._sender_id)
        self._r_aad_prefix = self._aad_prefixes(self._recipient_id)
        self._s_data = tuple(
            (header, prefix, suffix)
            for (header, suffix), prefix in zip(self._data_headers, self._s_aad_prefix, strict=True)
        )
        self._s_aead = _primitive(a, keys.sender_key)
        self._r_aead = _primitive(a, keys.recipient_key)
        # The compiled module's record paths, when it seals this algorithm: protect's common case and open_data
        # in one call each (the same bytes, proved by tests/secure/test_oscore_hot_path.py), else None.
        self._s_seal: Callable[[int, bytes], bytes] | None = None
        self._r_open: Callable[[bytes, int, int, int], bytes | None] | None = None
        if _NATIVE_CCM is not None and type(self._s_aead) is _NATIVE_CCM:
            nonce_len = self._nonce_len
            headers = tuple(header for header, _ in self._data_headers)
            suffixes = tuple(suffix for _, suffix in self._data_headers)
            self._s_aead.bind(  # type: ignore[union-attr]
                self._s_nonce_base.to_bytes(nonce_len, "big"), self._s_aad_prefix, headers, suffixes,
                self._kid_field, self._max_ciphertext,
            )  # fmt: skip
            self._r_aead.bind(  # type: ignore[union-attr]
                self._r_nonce_base.to_bytes(nonce_len, "big"), self._r_aad_prefix, headers, suffixes, b"",
                self._max_ciphertext,
            )  # fmt: skip
            self._s_seal = self._s_aead.seal  # type: ignore[union-attr]
            self._r_open = self._r_aead.open  # type: ignore[union-attr]

    def _header_table(self, type_byte: int, kid_flag: int) -> _HeaderTable:
        """Per partial IV length n: the 3 header bytes and the AAD options (bstr head 0x43 + header)."""
        table = [(b"", b"")]
        for n in range(1, MAX_PIV_LEN + 1):
            header = bytes((self._fmt.ehd1, type_byte, n | kid_flag))
            table.append((header, _cbor_bstr(header)))
        return tuple(table)

    def _aad_prefixes(self, kid: bytes) -> tuple[bytes, ...]:
        prefixes = [b""]
        for n in range(1, MAX_PIV_LEN + 1):
            sample = build_aad(self._alg, kid, b"\x01" * n, b"\x00\x00\x00")
            prefixes.append(sample[: len(sample) - n - 4])  # drop piv, options head (0x43) and 3 option bytes
        return tuple(prefixes)

    # -- no copies: a copy would reuse sequence numbers, hence nonces

    def __reduce_ex__(self, protocol: object) -> NoReturn:
        raise SecureUsageError("a SecurityContext cannot be copied or pickled (nonce reuse)")

    def __copy__(self) -> NoReturn:
        raise SecureUsageError("a SecurityContext cannot be copied (nonce reuse)")

    def __deepcopy__(self, memo: object) -> NoReturn:
        raise SecureUsageError("a SecurityContext cannot be copied (nonce reuse)")

    def __repr__(self) -> str:
        return (
            f"SecurityContext(alg={self._alg.name}, sender_id={self._sender_id.hex()!r}, "
            f"recipient_id={self._recipient_id.hex()!r}, encryptions={self._count_q}, "
            f"failed_decryptions={self._count_v})"
        )

    # -- read-only properties (nothing secret)

    @property
    def alg(self) -> AeadAlgorithm:
        return self._alg

    @property
    def sender_id(self) -> bytes:
        return self._sender_id

    @property
    def recipient_id(self) -> bytes:
        return self._recipient_id

    @property
    def id_context(self) -> bytes | None:
        return self._id_context

    @property
    def record_format(self) -> RecordFormat:
        return self._fmt

    @property
    def replay_window(self) -> ReplayWindow:
        return self._replay

    def _remaining(self) -> int:
        """Sequence numbers left for this sender key."""
        if self._sequence is None:
            return MAX_SEQUENCE_NUMBER + 1 - self._count_q
        return self._sequence.remaining()

    @property
    def max_frame_len(self) -> int:
        """Largest frame :meth:`protect` accepts (the key-limits draft's 'l')."""
        return self._max_plaintext

    def usage(self, now: float) -> KeyUsage:
        return KeyUsage(
            self._count_q,
            self._count_v,
            self._limit_q,
            self._limit_v,
            self._remaining(),
            now - self._created_at,
        )

    def rekey_reason(self, now: float) -> RekeyReason | None:
        """The first reason a new handshake is due, or None."""
        if self._count_q >= self._soft_q:
            return RekeyReason.ENCRYPTIONS
        if self._count_v >= self._soft_v:
            return RekeyReason.FAILED_DECRYPTIONS
        if self._remaining() <= self._limit_q - self._soft_q:
            return RekeyReason.SEQUENCE
        age = now - self._created_at
        limits = self._limits
        if limits.max_age is not None and age >= limits.max_age:
            return RekeyReason.AGE
        if limits.lifetime is not None and age >= limits.lifetime * (1.0 - limits.rekey_margin):
            return RekeyReason.AGE
        return None

    def encryptions_before_rekey(self) -> int:
        """How many more records may be protected before a count-based rekey reason (encryptions or sequence
        numbers) turns true; an adapter can count down instead of calling :meth:`rekey_reason` per record."""
        by_count = self._soft_q - self._count_q
        by_sequence = self._remaining() - (self._limit_q - self._soft_q)
        return max(0, min(by_count, by_sequence))

    def needs_rekey(self, now: float) -> bool:
        """True once a new handshake should replace this context (before any hard limit is reached)."""
        return self.rekey_reason(now) is not None

    # -- protect

    def protect(self, frame: bytes, now: float) -> bytes:
        """Protect one ECHONET Lite frame (opaque bytes) into a data record datagram."""
        count = self._count_q
        if count >= self._fast_q or now >= self._expires_at or len(frame) > self._max_plaintext:
            return self._seal(frame, now, self._data_headers)  # (a limit, a sequence source, a long frame)
        # The common case, the same bytes as _seal: record k numbered k, the key-limit checks just made.
        self._count_q = count + 1  # counted before encrypting (key-limits draft)
        seal = self._s_seal
        if seal is not None and type(frame) is bytes:
            return seal(count, frame)
        n = (count.bit_length() + 7) >> 3 or 1
        partial_iv = count.to_bytes(n, "big")
        header, prefix, suffix = self._s_data[n]
        nonce = (self._s_nonce_base ^ count).to_bytes(self._nonce_len, "big")
        return b"".join(
            (header, partial_iv, self._kid_field, self._s_aead.encrypt(nonce, frame, prefix + partial_iv + suffix))
        )

    def _seal(self, frame: bytes, now: float, headers: _HeaderTable) -> bytes:
        """Every record is sealed here but for :meth:`protect`'s common case, so the key-limit checks stand in one
        place (and there, in the same order)."""
        if self._count_q >= self._limit_q:
            raise SenderKeyLimitError("encryption limit of this sender key reached", advice="rekey")
        if now >= self._expires_at:
            raise SenderKeyLimitError("security context expired", advice="rekey")
        if len(frame) > self._max_plaintext:
            raise SecureUsageError(f"frame longer than {self._max_plaintext} bytes")
        next_number = self._next_sequence_number
        if next_number is None:
            piv = self._count_q  # (below limit_q, itself below 2^40: never exhausted)
        else:
            try:
                piv = next_number()
            except SequenceExhaustedError as exc:
                raise SenderKeyLimitError("sender sequence numbers exhausted", advice="rekey") from exc
        self._count_q += 1  # counted before encrypting (key-limits draft)
        n = (piv.bit_length() + 7) >> 3 or 1
        partial_iv = piv.to_bytes(n, "big")
        header, aad_suffix = headers[n]
        aad = self._s_aad_prefix[n] + partial_iv + aad_suffix
        nonce = (self._s_nonce_base ^ piv).to_bytes(self._nonce_len, "big")
        return b"".join((header, partial_iv, self._kid_field, self._s_aead.encrypt(nonce, frame, aad)))

    def protect_close(self, reason: CloseReason, now: float) -> bytes:
        """A protected close record carrying ``reason``."""
        return self._seal(encode_close_reason(reason), now, self._close_headers)

    # -- unprotect

    def unprotect(self, datagram: bytes, now: float) -> bytes:
        """Verify and decrypt a data record datagram; return the ECHONET Lite frame.

        Raises a :class:`~secure.errors.RecordError` (a ``ProtocolError``) with a ``reason`` for anything
        received that is not acceptable: malformed, wrong kid, replayed, too old, forged, or key retired.
        """
        if type(datagram) is not bytes:
            datagram = bytes(datagram)
        if len(datagram) < 3 or datagram[0] != self._fmt.ehd1 or datagram[1] != self._fmt.data:
            raise MalformedRecordError("not a data record of this format")
        header, partial_iv, kid, ciphertext = split_protected(datagram, self._tag_len)
        return self._open(header, partial_iv, kid, ciphertext, now)

    def unprotect_record(self, record: ProtectedRecord, now: float) -> bytes:
        """Verify and decrypt a decoded data or close record (see :func:`secure.records.framing.decode`)."""
        if len(record.header) != 3 or not 0 < len(record.partial_iv) <= MAX_PIV_LEN:
            raise MalformedRecordError("bad record header")
        return self._open(record.header, record.partial_iv, record.kid, record.ciphertext, now)

    def _open(self, header: bytes, partial_iv: bytes, kid: bytes | None, ciphertext: bytes, now: float) -> bytes:
        # Order: refuse if the key is retired; cheap checks; replay check; AEAD verification (a failure counts
        # towards limit_v); replay window update only after the tag verified.
        if self._count_v >= self._limit_v:
            raise RecipientKeyLimitError("failed-decryption limit of this recipient key reached")
        if now >= self._expires_at:
            raise RecipientKeyLimitError("security context expired", RejectReason.EXPIRED)
        if kid is not None and kid != self._recipient_id:
            raise MalformedRecordError("kid does not belong to this context", RejectReason.WRONG_KID)
        if not self._tag_len <= len(ciphertext) <= self._max_ciphertext:
            raise MalformedRecordError("ciphertext length out of range")
        piv = int.from_bytes(partial_iv, "big")
        replay = self._replay
        if replay.top >= piv:  # (a partial IV above the window's top is always new: nothing to check)
            replay.check(piv)
        aad = b"".join((self._r_aad_prefix[len(partial_iv)], partial_iv, b"\x43", header))
        nonce = (self._r_nonce_base ^ piv).to_bytes(self._nonce_len, "big")
        try:
            plaintext = self._r_aead.decrypt(nonce, ciphertext, aad)
        except InvalidTag:
            self._failed_decryption()
            raise IntegrityError("authentication tag does not verify") from None
        replay.update(piv)  # (takes the common case, a partial IV above the top, first)
        return plaintext

    def _failed_decryption(self) -> None:
        self._count_v += 1
        if self._count_v >= self._limit_v:
            self._open_until = -math.inf  # (open_data then takes _open, which refuses)

    def open_data(self, data: bytes, n: int, end: int, now: float) -> bytes:
        """:meth:`unprotect` of a data record datagram whose layout the caller parsed, for an adapter that read the
        kid to find this context: ``data[:3]`` is a data record header with the kid flag and partial IV length
        ``n``, the partial IV has no leading zero, the kid ``data[4 + n:end]`` is this context's Recipient ID.
        The same checks, result and errors as :meth:`unprotect` (ciphertext ``data[end:]``)."""
        if now >= self._open_until:  # (expired, or the failed-decryption limit reached)
            return self._open(data[:3], data[3 : 3 + n], None, data[end:], now)
        partial_iv = data[3 : 3 + n]
        piv = int.from_bytes(partial_iv, "big")
        replay = self._replay
        if replay.top >= piv:
            replay.check(piv)
        open_ = self._r_open
        try:
            if open_ is not None and type(data) is bytes:
                plaintext = open_(data, n, end, piv)  # (None: the ciphertext's length is out of range)
            else:
                ciphertext = data[end:]
                plaintext = None
                if self._tag_len <= len(ciphertext) <= self._max_ciphertext:
                    nonce = (self._r_nonce_base ^ piv).to_bytes(self._nonce_len, "big")
                    aad = self._r_aad_prefix[n] + partial_iv + b"\x43" + data[:3]
                    plaintext = self._r_aead.decrypt(nonce, ciphertext, aad)
        except InvalidTag:
            self._failed_decryption()
            raise IntegrityError("authentication tag does not verify") from None
        if plaintext is None:
            raise MalformedRecordError("ciphertext length out of range")
        replay.update(piv)
        return plaintext

    #: :meth:`unprotect` for a data record the caller already split into its 3 header bytes, partial IV (1-5 bytes
    #: without leading zeros), kid and ciphertext exactly as :func:`secure.records.framing.split_protected` does: an
    #: adapter that parsed the kid to find the context saves the second parse. (An alias: no extra call on the hot
    #: path.)
    unprotect_parts = _open
