"""EDHOC cipher suites (RFC 9528 section 3.6 and 10.2) and the cryptographic primitives they name.

Implemented suites: 0, 1, 2, 3, 4, 5, 6 and 24 (everything registered except 25, which needs SHAKE256/KMAC and
X448/Ed448). Suite 2 (AES-CCM-16-64-128, SHA-256, 8, P-256, ES256, AES-CCM-16-64-128, SHA-256) is the default.

Everything here is pure: keys in, bytes out. Failures caused by received data (an invalid public key, a failed
tag check, an all-zero X25519 output) raise :class:`~secure.errors.ProtocolError`; failures caused by local
arguments raise :class:`~secure.errors.SecureUsageError`.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable
from dataclasses import dataclass
from enum import IntEnum
from typing import TypeAlias

from cryptography.exceptions import InvalidSignature, InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, x25519
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature, encode_dss_signature
from cryptography.hazmat.primitives.ciphers.aead import AESCCM, AESGCM, ChaCha20Poly1305

from secure.errors import ProtocolError, SecureUsageError
from secure.handshake.cbor import encode_bstr, encode_int, encode_uint

__all__ = [
    "DEFAULT_SUITE",
    "SUITES",
    "AeadAlg",
    "CipherSuite",
    "Curve",
    "EphemeralKey",
    "HashAlg",
    "PrivateKey",
    "PublicKey",
    "SigAlg",
    "aead_decrypt",
    "aead_encrypt",
    "ecdh",
    "edhoc_expand",
    "edhoc_extract",
    "edhoc_kdf",
    "get_suite",
    "hash_bytes",
    "kdf_info",
    "key_fits_dh",
    "key_fits_signature",
    "public_key_from_compact",
    "sign",
    "verify_signature",
]

PublicKey: TypeAlias = ed25519.Ed25519PublicKey | x25519.X25519PublicKey | ec.EllipticCurvePublicKey
PrivateKey: TypeAlias = ed25519.Ed25519PrivateKey | x25519.X25519PrivateKey | ec.EllipticCurvePrivateKey


class AeadAlg(IntEnum):
    """COSE AEAD algorithm identifiers used by EDHOC suites."""

    A128GCM = 1
    A256GCM = 3
    AES_CCM_16_64_128 = 10
    CHACHA20_POLY1305 = 24
    AES_CCM_16_128_128 = 30


class HashAlg(IntEnum):
    """COSE hash algorithm identifiers."""

    SHA_256_64 = -15
    SHA_256 = -16
    SHA_384 = -43
    SHA_512 = -44


class Curve(IntEnum):
    """COSE elliptic curve identifiers."""

    P_256 = 1
    P_384 = 2
    X25519 = 4
    ED25519 = 6


class SigAlg(IntEnum):
    """COSE signature algorithm identifiers."""

    EDDSA = -8
    ES256 = -7
    ES384 = -35


@dataclass(frozen=True)
class _AeadParams:
    key_length: int
    iv_length: int
    tag_length: int


_AEAD: dict[AeadAlg, _AeadParams] = {
    AeadAlg.AES_CCM_16_64_128: _AeadParams(16, 13, 8),
    AeadAlg.AES_CCM_16_128_128: _AeadParams(16, 13, 16),
    AeadAlg.A128GCM: _AeadParams(16, 12, 16),
    AeadAlg.A256GCM: _AeadParams(32, 12, 16),
    AeadAlg.CHACHA20_POLY1305: _AeadParams(32, 12, 16),
}

_HASH_LEN: dict[HashAlg, int] = {HashAlg.SHA_256: 32, HashAlg.SHA_384: 48}
_HASHLIB: dict[HashAlg, str] = {HashAlg.SHA_256: "sha256", HashAlg.SHA_384: "sha384"}
_COORD_LEN: dict[Curve, int] = {Curve.X25519: 32, Curve.P_256: 32, Curve.P_384: 48}
_SIG_LEN: dict[SigAlg, int] = {SigAlg.EDDSA: 64, SigAlg.ES256: 64, SigAlg.ES384: 96}
_EC_CURVES: dict[Curve, Callable[[], ec.EllipticCurve]] = {
    Curve.P_256: ec.SECP256R1,
    Curve.P_384: ec.SECP384R1,
}
_FIELD_PRIME: dict[Curve, int] = {
    Curve.P_256: 2**256 - 2**224 + 2**192 + 2**96 - 1,
    Curve.P_384: 2**384 - 2**128 - 2**96 + 2**32 - 1,
}


@dataclass(frozen=True)
class CipherSuite:
    """One EDHOC cipher suite: an ordered set of COSE algorithms plus the EDHOC MAC length."""

    label: int
    aead: AeadAlg
    hash: HashAlg
    mac_length: int
    dh_curve: Curve
    sig_alg: SigAlg
    app_aead: AeadAlg
    app_hash: HashAlg

    @property
    def hash_length(self) -> int:
        return _HASH_LEN[self.hash]

    @property
    def key_length(self) -> int:
        """Key length of the EDHOC AEAD algorithm."""
        return _AEAD[self.aead].key_length

    @property
    def iv_length(self) -> int:
        """Nonce length of the EDHOC AEAD algorithm."""
        return _AEAD[self.aead].iv_length

    @property
    def tag_length(self) -> int:
        return _AEAD[self.aead].tag_length

    @property
    def app_key_length(self) -> int:
        """Key length of the application AEAD algorithm (the default OSCORE master secret length)."""
        return _AEAD[self.app_aead].key_length

    @property
    def ephemeral_length(self) -> int:
        """Length of G_X / G_Y (compact representation, RFC 9528 appendix B)."""
        return _COORD_LEN[self.dh_curve]

    @property
    def signature_length(self) -> int:
        return _SIG_LEN[self.sig_alg]


SUITES: dict[int, CipherSuite] = {
    0: CipherSuite(
        0,
        AeadAlg.AES_CCM_16_64_128,
        HashAlg.SHA_256,
        8,
        Curve.X25519,
        SigAlg.EDDSA,
        AeadAlg.AES_CCM_16_64_128,
        HashAlg.SHA_256,
    ),
    1: CipherSuite(
        1,
        AeadAlg.AES_CCM_16_128_128,
        HashAlg.SHA_256,
        16,
        Curve.X25519,
        SigAlg.EDDSA,
        AeadAlg.AES_CCM_16_64_128,
        HashAlg.SHA_256,
    ),
    2: CipherSuite(
        2,
        AeadAlg.AES_CCM_16_64_128,
        HashAlg.SHA_256,
        8,
        Curve.P_256,
        SigAlg.ES256,
        AeadAlg.AES_CCM_16_64_128,
        HashAlg.SHA_256,
    ),
    3: CipherSuite(
        3,
        AeadAlg.AES_CCM_16_128_128,
        HashAlg.SHA_256,
        16,
        Curve.P_256,
        SigAlg.ES256,
        AeadAlg.AES_CCM_16_64_128,
        HashAlg.SHA_256,
    ),
    4: CipherSuite(
        4,
        AeadAlg.CHACHA20_POLY1305,
        HashAlg.SHA_256,
        16,
        Curve.X25519,
        SigAlg.EDDSA,
        AeadAlg.CHACHA20_POLY1305,
        HashAlg.SHA_256,
    ),
    5: CipherSuite(
        5,
        AeadAlg.CHACHA20_POLY1305,
        HashAlg.SHA_256,
        16,
        Curve.P_256,
        SigAlg.ES256,
        AeadAlg.CHACHA20_POLY1305,
        HashAlg.SHA_256,
    ),
    6: CipherSuite(
        6, AeadAlg.A128GCM, HashAlg.SHA_256, 16, Curve.X25519, SigAlg.ES256, AeadAlg.A128GCM, HashAlg.SHA_256
    ),
    24: CipherSuite(
        24, AeadAlg.A256GCM, HashAlg.SHA_384, 16, Curve.P_384, SigAlg.ES384, AeadAlg.A256GCM, HashAlg.SHA_384
    ),
}

DEFAULT_SUITE = 2


def get_suite(label: int) -> CipherSuite:
    """Return an implemented suite; an unknown label is a local usage error."""
    try:
        return SUITES[label]
    except KeyError:
        raise SecureUsageError(f"cipher suite {label} is not implemented") from None


# ------------------------------------------------------------------------------------------ hash / KDF


def hash_bytes(suite: CipherSuite, data: bytes) -> bytes:
    """H() - the EDHOC hash algorithm of the suite."""
    return hashlib.new(_HASHLIB[suite.hash], data).digest()


def edhoc_extract(suite: CipherSuite, salt: bytes, ikm: bytes) -> bytes:
    """EDHOC_Extract = HKDF-Extract(salt, IKM) for SHA-2 suites (RFC 9528 section 4.1.1)."""
    return hmac.new(salt, ikm, _HASHLIB[suite.hash]).digest()


def edhoc_expand(suite: CipherSuite, prk: bytes, info: bytes, length: int) -> bytes:
    """EDHOC_Expand = HKDF-Expand(PRK, info, length) for SHA-2 suites (RFC 5869 section 2.3)."""
    hash_len = suite.hash_length
    if length < 0 or length > 255 * hash_len:
        raise SecureUsageError(f"HKDF-Expand length {length} out of range")
    name = _HASHLIB[suite.hash]
    okm = b""
    block = b""
    counter = 1
    while len(okm) < length:
        block = hmac.new(prk, block + info + bytes([counter]), name).digest()
        okm += block
        counter += 1
    return okm[:length]


def kdf_info(label: int, context: bytes, length: int) -> bytes:
    """info = (info_label : int, context : bstr, length : uint) as a CBOR sequence (section 4.1.2)."""
    return encode_int(label) + encode_bstr(context) + encode_uint(length)


def edhoc_kdf(suite: CipherSuite, prk: bytes, label: int, context: bytes, length: int) -> bytes:
    """EDHOC_KDF(PRK, info_label, context, length) = EDHOC_Expand(PRK, info, length) (section 4.1.2)."""
    return edhoc_expand(suite, prk, kdf_info(label, context, length), length)


# ------------------------------------------------------------------------------------------------ AEAD


def _aead(alg: AeadAlg, key: bytes) -> AESCCM | AESGCM | ChaCha20Poly1305:
    params = _AEAD[alg]
    if len(key) != params.key_length:
        raise SecureUsageError("AEAD key has the wrong length")
    if alg in (AeadAlg.AES_CCM_16_64_128, AeadAlg.AES_CCM_16_128_128):
        return AESCCM(key, tag_length=params.tag_length)
    if alg in (AeadAlg.A128GCM, AeadAlg.A256GCM):
        return AESGCM(key)
    return ChaCha20Poly1305(key)


def aead_encrypt(alg: AeadAlg, key: bytes, nonce: bytes, plaintext: bytes, aad: bytes) -> bytes:
    """Encrypt and append the tag."""
    return _aead(alg, key).encrypt(nonce, plaintext, aad)


def aead_decrypt(alg: AeadAlg, key: bytes, nonce: bytes, ciphertext: bytes, aad: bytes) -> bytes:
    """Verify the tag and decrypt; a bad tag raises :class:`ProtocolError`."""
    if len(ciphertext) < _AEAD[alg].tag_length:
        raise ProtocolError("ciphertext shorter than the AEAD tag")
    try:
        return _aead(alg, key).decrypt(nonce, ciphertext, aad)
    except InvalidTag:
        raise ProtocolError("AEAD tag verification failed") from None


# ------------------------------------------------------------------------------------------------ ECDH


class EphemeralKey:
    """An ephemeral ECDH key pair; ``public`` is its compact representation (G_X or G_Y)."""

    __slots__ = ("_private", "curve", "public")

    def __init__(self, curve: Curve, private: x25519.X25519PrivateKey | ec.EllipticCurvePrivateKey) -> None:
        self.curve = curve
        self._private = private
        self.public = compact_public_bytes(private.public_key())

    @classmethod
    def generate(cls, curve: Curve) -> EphemeralKey:
        if curve is Curve.X25519:
            return cls(curve, x25519.X25519PrivateKey.generate())
        if curve in _EC_CURVES:
            return cls(curve, ec.generate_private_key(_EC_CURVES[curve]()))
        raise SecureUsageError(f"curve {curve!r} cannot be used for ECDH")

    @classmethod
    def from_private_bytes(cls, curve: Curve, raw: bytes) -> EphemeralKey:
        """Load a raw private key (X25519 scalar or big-endian EC scalar), e.g. to reproduce a trace."""
        return cls(curve, dh_private_from_bytes(curve, raw))

    def exchange(self, peer_public: bytes) -> bytes:
        """ECDH with a compact peer public key; an invalid key raises :class:`ProtocolError`."""
        return ecdh(self._private, public_key_from_compact(self.curve, peer_public))

    def exchange_key(self, peer_public: PublicKey) -> bytes:
        """ECDH with a loaded public key (e.g. a peer's static DH key G_R or G_I)."""
        return ecdh(self._private, peer_public)

    def __repr__(self) -> str:
        return f"EphemeralKey(curve={self.curve.name}, public={self.public.hex()})"


def dh_private_from_bytes(curve: Curve, raw: bytes) -> x25519.X25519PrivateKey | ec.EllipticCurvePrivateKey:
    """Load a raw ECDH private key of ``curve``."""
    try:
        if curve is Curve.X25519:
            return x25519.X25519PrivateKey.from_private_bytes(raw)
        if curve in _EC_CURVES and len(raw) == _COORD_LEN[curve]:
            return ec.derive_private_key(int.from_bytes(raw, "big"), _EC_CURVES[curve]())
    except ValueError:
        pass
    raise SecureUsageError("invalid raw private key for the curve")


def compact_public_bytes(key: PublicKey) -> bytes:
    """Compact representation of a DH public key: raw X25519 bytes or the EC x-coordinate."""
    if isinstance(key, x25519.X25519PublicKey):
        return key.public_bytes_raw()
    if isinstance(key, ec.EllipticCurvePublicKey):
        size = (key.curve.key_size + 7) // 8
        return key.public_numbers().x.to_bytes(size, "big")
    raise SecureUsageError("not an ECDH public key")


def public_key_from_compact(curve: Curve, data: bytes) -> x25519.X25519PublicKey | ec.EllipticCurvePublicKey:
    """Validate and load a compact public key received from the peer (RFC 9528 appendix B, section 9.2)."""
    expected = _COORD_LEN.get(curve)
    if expected is None or curve is Curve.ED25519:
        raise SecureUsageError(f"curve {curve!r} cannot be used for ECDH")
    if len(data) != expected:
        raise ProtocolError(f"ephemeral public key must be {expected} bytes, got {len(data)}")
    if curve is Curve.X25519:
        return x25519.X25519PublicKey.from_public_bytes(data)
    if int.from_bytes(data, "big") >= _FIELD_PRIME[curve]:
        raise ProtocolError("EC x-coordinate is not smaller than the field prime")
    try:
        # Any y works for ECDH with compact output; 0x02 picks the even one and validates the point.
        return ec.EllipticCurvePublicKey.from_encoded_point(_EC_CURVES[curve](), b"\x02" + data)
    except ValueError:
        raise ProtocolError("EC x-coordinate is not on the curve") from None


def ecdh(private: PrivateKey, public: PublicKey) -> bytes:
    """ECDH shared secret (X25519 output or the EC x-coordinate); all-zero / invalid results are refused."""
    try:
        if isinstance(private, x25519.X25519PrivateKey) and isinstance(public, x25519.X25519PublicKey):
            shared = private.exchange(public)
        elif isinstance(private, ec.EllipticCurvePrivateKey) and isinstance(public, ec.EllipticCurvePublicKey):
            if private.curve.name != public.curve.name:
                raise ProtocolError("ECDH keys are on different curves")
            shared = private.exchange(ec.ECDH(), public)
        else:
            raise ProtocolError("ECDH key types do not match")
    except ValueError:
        raise ProtocolError("ECDH failed (low-order or invalid public key)") from None
    if not any(shared):
        raise ProtocolError("ECDH produced an all-zero shared secret")
    return shared


def key_fits_dh(curve: Curve, key: PublicKey | PrivateKey) -> bool:
    """True if ``key`` is a static DH key usable with the suite's ECDH curve."""
    if curve is Curve.X25519:
        return isinstance(key, x25519.X25519PublicKey | x25519.X25519PrivateKey)
    if curve in _EC_CURVES and isinstance(key, ec.EllipticCurvePublicKey | ec.EllipticCurvePrivateKey):
        return key.curve.name == _EC_CURVES[curve]().name
    return False


# ------------------------------------------------------------------------------------------ signatures

_SIG_CURVE: dict[SigAlg, Callable[[], ec.EllipticCurve]] = {
    SigAlg.ES256: ec.SECP256R1,
    SigAlg.ES384: ec.SECP384R1,
}
_SIG_HASH: dict[SigAlg, Callable[[], hashes.HashAlgorithm]] = {
    SigAlg.ES256: hashes.SHA256,
    SigAlg.ES384: hashes.SHA384,
}


def key_fits_signature(alg: SigAlg, key: PublicKey | PrivateKey) -> bool:
    """True if ``key`` is a signature key for the suite's signature algorithm."""
    if alg is SigAlg.EDDSA:
        return isinstance(key, ed25519.Ed25519PublicKey | ed25519.Ed25519PrivateKey)
    if isinstance(key, ec.EllipticCurvePublicKey | ec.EllipticCurvePrivateKey):
        return key.curve.name == _SIG_CURVE[alg]().name
    return False


def sign(alg: SigAlg, key: PrivateKey, message: bytes) -> bytes:
    """COSE signature (EdDSA, or ECDSA as r || s of fixed length)."""
    if not key_fits_signature(alg, key):
        raise SecureUsageError(f"private key does not fit signature algorithm {alg.name}")
    if isinstance(key, ed25519.Ed25519PrivateKey):
        return key.sign(message)
    assert isinstance(key, ec.EllipticCurvePrivateKey)
    der = key.sign(message, ec.ECDSA(_SIG_HASH[alg]()))
    r, s = decode_dss_signature(der)
    half = _SIG_LEN[alg] // 2
    return r.to_bytes(half, "big") + s.to_bytes(half, "big")


def verify_signature(alg: SigAlg, key: PublicKey, signature: bytes, message: bytes) -> bool:
    """Verify a COSE signature; returns False on any mismatch (wrong length included)."""
    if not key_fits_signature(alg, key) or len(signature) != _SIG_LEN[alg]:
        return False
    try:
        if isinstance(key, ed25519.Ed25519PublicKey):
            key.verify(signature, message)
            return True
        assert isinstance(key, ec.EllipticCurvePublicKey)
        half = _SIG_LEN[alg] // 2
        r, s = int.from_bytes(signature[:half], "big"), int.from_bytes(signature[half:], "big")
        key.verify(encode_dss_signature(r, s), message, ec.ECDSA(_SIG_HASH[alg]()))
        return True
    except (InvalidSignature, ValueError):
        return False
