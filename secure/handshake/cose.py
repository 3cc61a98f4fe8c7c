"""The COSE pieces EDHOC uses: credentials (X.509, CCS), ID_CRED header maps, Sig_structure, Enc_structure.

* CRED_x (RFC 9528 section 3.5.2): an X.509 certificate is the DER bytes wrapped in a CBOR bstr; a CWT Claims
  Set (CCS) is the CCS map itself. :class:`Credential` holds either and yields that CBOR item as
  ``Credential.cbor``.
* ID_CRED_x (section 3.5.3): a COSE header map. Supported parameters: 'kid' (4), 'kccs' (14, a CCS by value),
  'x5chain' (33, certificates by value) and 'x5t' (34, a certificate by hash; SHA-256/64 by default).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from enum import IntEnum

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, x25519

from secure.errors import CborError, ProtocolError, SecureUsageError
from secure.handshake.cbor import CborKey, CborValue, decode, encode, is_int
from secure.handshake.suites import Curve, HashAlg, PrivateKey, PublicKey

__all__ = [
    "HEADER_KCCS",
    "HEADER_KID",
    "HEADER_X5CHAIN",
    "HEADER_X5T",
    "Credential",
    "CredentialKind",
    "IdCred",
    "LocalCredential",
    "enc_structure",
    "lookup_in",
    "make_ccs",
    "sig_structure",
]

HEADER_KID = 4
HEADER_KCWT = 13
HEADER_KCCS = 14
HEADER_X5BAG = 32
HEADER_X5CHAIN = 33
HEADER_X5T = 34

_X5T_HASHES: dict[int, Callable[[bytes], bytes]] = {
    HashAlg.SHA_256_64: lambda data: hashlib.sha256(data).digest()[:8],
    HashAlg.SHA_256: lambda data: hashlib.sha256(data).digest(),
    HashAlg.SHA_384: lambda data: hashlib.sha384(data).digest(),
    HashAlg.SHA_512: lambda data: hashlib.sha512(data).digest(),
}

_CWT_CNF = 8
_CNF_COSE_KEY = 1
_KEY_KTY, _KEY_KID, _KEY_CRV, _KEY_X, _KEY_Y = 1, 2, -1, -2, -3
_KTY_OKP, _KTY_EC2 = 1, 2


class CredentialKind(IntEnum):
    X509 = 1
    CCS = 2


# ------------------------------------------------------------------------------------------------ keys


def _ec_curve(crv: int) -> ec.EllipticCurve:
    if crv == Curve.P_256:
        return ec.SECP256R1()
    if crv == Curve.P_384:
        return ec.SECP384R1()
    raise ProtocolError(f"unsupported EC2 curve {crv}")


def _key_from_cose_key(cose_key: CborValue) -> PublicKey:
    """Public key of a COSE_Key map (OKP X25519/Ed25519 or EC2 P-256/P-384)."""
    if not isinstance(cose_key, dict):
        raise ProtocolError("COSE_Key is not a map")
    kty, crv, x = cose_key.get(_KEY_KTY), cose_key.get(_KEY_CRV), cose_key.get(_KEY_X)
    if not isinstance(x, bytes) or not is_int(crv):
        raise ProtocolError("COSE_Key lacks crv or x")
    assert isinstance(crv, int)
    try:
        if kty == _KTY_OKP:
            if len(x) != 32:
                raise ProtocolError("OKP key must have a 32-byte x")
            if crv == Curve.X25519:
                return x25519.X25519PublicKey.from_public_bytes(x)
            if crv == Curve.ED25519:
                return ed25519.Ed25519PublicKey.from_public_bytes(x)
            raise ProtocolError(f"unsupported OKP curve {crv}")
        if kty == _KTY_EC2:
            curve = _ec_curve(crv)
            size = (curve.key_size + 7) // 8
            y = cose_key.get(_KEY_Y)
            if len(x) != size:
                raise ProtocolError("EC2 x has the wrong length")
            if isinstance(y, bytes):
                if len(y) != size:
                    raise ProtocolError("EC2 y has the wrong length")
                point = b"\x04" + x + y
            elif isinstance(y, bool):
                point = (b"\x03" if y else b"\x02") + x
            elif y is None and _KEY_Y not in cose_key:
                point = b"\x02" + x
            else:
                raise ProtocolError("EC2 y has an unsupported type")
            return ec.EllipticCurvePublicKey.from_encoded_point(curve, point)
    except ValueError:
        raise ProtocolError("COSE_Key is not a valid public key") from None
    raise ProtocolError(f"unsupported COSE_Key type {kty!r}")


def _public_key_of_certificate(der: bytes) -> PublicKey:
    try:
        cert = x509.load_der_x509_certificate(der)
        key = cert.public_key()
    except UnsupportedAlgorithm:
        raise ProtocolError("X.509 certificate public key is not supported") from None
    except Exception:  # untrusted DER: ValueError, x509.InvalidVersion, ... all mean "garbage"
        raise ProtocolError("X.509 certificate does not parse") from None
    if isinstance(key, ed25519.Ed25519PublicKey | x25519.X25519PublicKey):
        return key
    if isinstance(key, ec.EllipticCurvePublicKey) and key.curve.name in ("secp256r1", "secp384r1"):
        return key
    raise ProtocolError("X.509 certificate public key is not Ed25519, X25519, P-256 or P-384")


def _public_raw(key: PublicKey | PrivateKey) -> bytes:
    if not isinstance(key, ed25519.Ed25519PublicKey | x25519.X25519PublicKey | ec.EllipticCurvePublicKey):
        key = key.public_key()
    if isinstance(key, ec.EllipticCurvePublicKey):
        return key.public_bytes(serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint)
    return key.public_bytes_raw()


def make_ccs(public_key: PublicKey, *, kid: bytes | None = None, subject: str | None = None) -> bytes:
    """Encode an RPK as a deterministic CWT Claims Set ``{2: sub, 8: {1: COSE_Key}}`` (RFC 9528 figure 4)."""
    cose_key: dict[CborKey, CborValue] = {}
    if isinstance(public_key, ec.EllipticCurvePublicKey):
        numbers = public_key.public_numbers()
        size = (public_key.curve.key_size + 7) // 8
        crv = Curve.P_256 if public_key.curve.name == "secp256r1" else Curve.P_384
        if public_key.curve.name not in ("secp256r1", "secp384r1"):
            raise SecureUsageError("only P-256 and P-384 EC keys can be put in a CCS")
        cose_key[_KEY_KTY] = _KTY_EC2
        if kid is not None:
            cose_key[_KEY_KID] = kid
        cose_key[_KEY_CRV] = int(crv)
        cose_key[_KEY_X] = numbers.x.to_bytes(size, "big")
        cose_key[_KEY_Y] = numbers.y.to_bytes(size, "big")
    else:
        cose_key[_KEY_KTY] = _KTY_OKP
        if kid is not None:
            cose_key[_KEY_KID] = kid
        crv = Curve.X25519 if isinstance(public_key, x25519.X25519PublicKey) else Curve.ED25519
        cose_key[_KEY_CRV] = int(crv)
        cose_key[_KEY_X] = public_key.public_bytes_raw()
    claims: dict[CborKey, CborValue] = {}
    if subject is not None:
        claims[2] = subject
    claims[_CWT_CNF] = {_CNF_COSE_KEY: cose_key}
    return encode(claims)


# ----------------------------------------------------------------------------------------- credentials


@dataclass(frozen=True)
class Credential:
    """An authentication credential CRED_x: an X.509 certificate (DER) or a CWT Claims Set (encoded CBOR map).

    ``chain`` holds the issuer certificates that came with an 'x5chain' (end-entity excluded), for the
    application's chain validation. ``public_key`` is the authentication key the credential carries; ``kid``
    is the COSE_Key 'kid' of a CCS (if any). Build with :meth:`from_x509` or :meth:`from_ccs`.
    """

    kind: CredentialKind
    value: bytes
    chain: tuple[bytes, ...] = ()
    public_key: PublicKey = field(init=False, repr=False, compare=False)
    kid: bytes | None = field(init=False, default=None, compare=False)

    def __post_init__(self) -> None:
        try:
            key, kid = self._parse()
        except ProtocolError as exc:
            raise SecureUsageError(f"invalid credential: {exc}") from None
        object.__setattr__(self, "public_key", key)
        object.__setattr__(self, "kid", kid)

    def _parse(self) -> tuple[PublicKey, bytes | None]:
        if self.kind is CredentialKind.X509:
            return _public_key_of_certificate(self.value), None
        if self.chain:
            raise ProtocolError("a CCS has no certificate chain")
        ccs = decode(self.value)
        if not isinstance(ccs, dict):
            raise ProtocolError("CCS is not a map")
        cnf = ccs.get(_CWT_CNF)
        if not isinstance(cnf, dict) or _CNF_COSE_KEY not in cnf:
            raise ProtocolError("CCS lacks a cnf claim with a COSE_Key")
        cose_key = cnf[_CNF_COSE_KEY]
        key = _key_from_cose_key(cose_key)
        assert isinstance(cose_key, dict)
        kid = cose_key.get(_KEY_KID)
        return key, kid if isinstance(kid, bytes) else None

    @classmethod
    def from_x509(cls, der: bytes, chain: Iterable[bytes] = ()) -> Credential:
        """An X.509 credential from the DER end-entity certificate (and optional issuer certificates)."""
        return cls(CredentialKind.X509, bytes(der), tuple(bytes(c) for c in chain))

    @classmethod
    def from_ccs(cls, encoded: bytes) -> Credential:
        """A CCS credential from its CBOR encoding (used as is in transcripts, never re-encoded)."""
        return cls(CredentialKind.CCS, bytes(encoded))

    @classmethod
    def from_peer(cls, kind: CredentialKind, value: bytes, chain: tuple[bytes, ...] = ()) -> Credential:
        """A credential a peer sent (by value in ID_CRED): content that does not make a credential raises
        :class:`~secure.errors.ProtocolError` (the peer's fault), where the constructor raises
        :class:`~secure.errors.SecureUsageError`."""
        try:
            return cls(kind, value, chain)
        except SecureUsageError as exc:
            raise ProtocolError(str(exc)) from None

    @property
    def cbor(self) -> bytes:
        """CRED_x as the CBOR item that enters context_2/3 and the transcript hashes."""
        if self.kind is CredentialKind.X509:
            return encode(self.value)
        return self.value

    def x5t(self, alg: int = HashAlg.SHA_256_64) -> bytes:
        """The certificate hash used by 'x5t' (X.509 only)."""
        if self.kind is not CredentialKind.X509:
            raise SecureUsageError("x5t applies to X.509 credentials only")
        if alg not in _X5T_HASHES:
            raise SecureUsageError(f"unsupported x5t hash algorithm {alg}")
        return _X5T_HASHES[alg](self.value)

    @property
    def public_key_bytes(self) -> bytes:
        """Raw public key (Ed25519/X25519 32 bytes, EC uncompressed point), e.g. for pinning."""
        return _public_raw(self.public_key)


@dataclass(frozen=True)
class IdCred:
    """ID_CRED_x: a COSE header map identifying (or carrying) a credential.

    ``encoded`` is the CBOR map exactly as sent or received. Build with :meth:`by_kid`, :meth:`by_x5t`,
    :meth:`by_x5chain`, :meth:`by_kccs` or :meth:`from_encoded`.
    """

    encoded: bytes
    params: Mapping[int | str, CborValue] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        try:
            params = self._parse(self.encoded)
        except ProtocolError as exc:
            raise SecureUsageError(f"invalid ID_CRED: {exc}") from None
        object.__setattr__(self, "params", params)

    @staticmethod
    def _parse(encoded: bytes) -> dict[int | str, CborValue]:
        value = decode(encoded)
        if not isinstance(value, dict) or not value:
            raise CborError("ID_CRED is not a non-empty map")
        params: dict[int | str, CborValue] = {}
        for label, param in value.items():
            if not (is_int(label) or isinstance(label, str)):
                raise CborError("ID_CRED label is not an int or text string")
            assert isinstance(label, int | str)
            params[label] = param
        if HEADER_KID in params and not isinstance(params[HEADER_KID], bytes):
            raise CborError("kid is not a byte string")
        return params

    @classmethod
    def from_encoded(cls, encoded: bytes) -> IdCred:
        return cls(bytes(encoded))

    @classmethod
    def from_peer(cls, encoded: bytes) -> IdCred:
        """An ID_CRED map as a peer sent it: a map that is not a valid ID_CRED raises
        :class:`~secure.errors.ProtocolError` (the peer's fault), where :meth:`from_encoded` raises
        :class:`~secure.errors.SecureUsageError`."""
        try:
            return cls(encoded)
        except SecureUsageError as exc:
            raise ProtocolError(str(exc)) from None

    @classmethod
    def by_kid(cls, kid: bytes) -> IdCred:
        return cls(encode({HEADER_KID: bytes(kid)}))

    @classmethod
    def by_x5t(cls, credential: Credential, alg: int = HashAlg.SHA_256_64) -> IdCred:
        return cls(encode({HEADER_X5T: [int(alg), credential.x5t(alg)]}))

    @classmethod
    def by_x5chain(cls, credential: Credential) -> IdCred:
        if credential.kind is not CredentialKind.X509:
            raise SecureUsageError("x5chain carries X.509 certificates only")
        certs = (credential.value, *credential.chain)
        return cls(encode({HEADER_X5CHAIN: certs[0] if len(certs) == 1 else list(certs)}))

    @classmethod
    def by_kccs(cls, credential: Credential) -> IdCred:
        if credential.kind is not CredentialKind.CCS:
            raise SecureUsageError("kccs carries a CWT Claims Set only")
        return cls(encode({HEADER_KCCS: decode(credential.value)}))

    @property
    def kid(self) -> bytes | None:
        kid = self.params.get(HEADER_KID)
        return kid if isinstance(kid, bytes) else None

    @property
    def is_compact_kid(self) -> bool:
        """True if the map is exactly ``{4: kid}`` (sent as the compact encoding in PLAINTEXT_2/3)."""
        return len(self.params) == 1 and self.kid is not None

    @property
    def x5t(self) -> tuple[int, bytes] | None:
        """(hash algorithm, hash value) of an 'x5t' parameter, if present and well-formed."""
        value = self.params.get(HEADER_X5T)
        if isinstance(value, list) and len(value) == 2 and is_int(value[0]) and isinstance(value[1], bytes):
            alg = value[0]
            assert isinstance(alg, int)
            return alg, value[1]
        return None

    @property
    def by_value(self) -> bool:
        """True if the map transports the credential itself ('x5chain' or 'kccs')."""
        return HEADER_X5CHAIN in self.params or HEADER_KCCS in self.params

    def credential(self) -> Credential | None:
        """The credential carried by value ('x5chain' or 'kccs'), or None if it is only referenced.

        Malformed content raises :class:`ProtocolError`.
        """
        if HEADER_X5CHAIN in self.params:
            chain = self.params[HEADER_X5CHAIN]
            if isinstance(chain, bytes):
                certs: tuple[bytes, ...] = (chain,)
            elif isinstance(chain, list) and len(chain) >= 2 and all(isinstance(c, bytes) for c in chain):
                certs = tuple(c for c in chain if isinstance(c, bytes))
            else:
                raise ProtocolError("x5chain must be a bstr or an array of two or more bstr")
            return Credential.from_peer(CredentialKind.X509, certs[0], certs[1:])
        if HEADER_KCCS in self.params:
            return Credential.from_peer(CredentialKind.CCS, encode(self.params[HEADER_KCCS]))
        return None

    def matches(self, credential: Credential) -> bool:
        """True if this reference ('kid' or 'x5t', or a by-value map) designates ``credential``."""
        try:
            carried = self.credential()
        except ProtocolError:
            return False
        if carried is not None:
            return carried.kind is credential.kind and carried.value == credential.value
        x5t = self.x5t
        if x5t is not None:
            alg, digest = x5t
            return (
                credential.kind is CredentialKind.X509
                and alg in _X5T_HASHES
                and _X5T_HASHES[alg](credential.value) == digest
            )
        kid = self.kid
        return kid is not None and credential.kid == kid

    @property
    def description(self) -> str:
        """A short non-secret description for diagnostics and audit records."""
        if self.kid is not None and self.is_compact_kid:
            return f"kid={self.kid.hex()}"
        if self.x5t is not None:
            return f"x5t={self.x5t[1].hex()}"
        if HEADER_X5CHAIN in self.params:
            return "x5chain"
        if HEADER_KCCS in self.params:
            return "kccs"
        return "labels=" + ",".join(str(label) for label in self.params)


def lookup_in(credentials: Iterable[Credential]) -> Callable[[IdCred], tuple[Credential, ...]]:
    """A simple ID_CRED resolver over a fixed collection of known peer credentials (all matches, in order)."""
    known = tuple(credentials)

    def lookup(id_cred: IdCred) -> tuple[Credential, ...]:
        return tuple(cred for cred in known if id_cred.matches(cred))

    return lookup


@dataclass(frozen=True)
class LocalCredential:
    """The local endpoint's credential and its private authentication key.

    ``id_cred_by_reference`` defaults to 'x5t' (SHA-256/64) for a certificate and to 'kid' (the COSE_Key kid)
    for a CCS; ``id_cred_by_value`` defaults to 'x5chain' or 'kccs'. The private key never appears in
    ``repr``.
    """

    credential: Credential
    private_key: PrivateKey = field(repr=False)
    id_cred_by_reference: IdCred | None = None
    id_cred_by_value: IdCred | None = None

    def __post_init__(self) -> None:
        if _public_raw(self.private_key) != _public_raw(self.credential.public_key):
            raise SecureUsageError("private key does not belong to the credential's public key")
        if self.id_cred_by_reference is None:
            if self.credential.kind is CredentialKind.X509:
                ref = IdCred.by_x5t(self.credential)
            elif self.credential.kid is not None:
                ref = IdCred.by_kid(self.credential.kid)
            else:
                raise SecureUsageError("a CCS without a COSE_Key kid needs an explicit id_cred_by_reference")
            object.__setattr__(self, "id_cred_by_reference", ref)
        if self.id_cred_by_value is None:
            if self.credential.kind is CredentialKind.X509:
                val = IdCred.by_x5chain(self.credential)
            else:
                val = IdCred.by_kccs(self.credential)
            object.__setattr__(self, "id_cred_by_value", val)

    @classmethod
    def from_private_bytes(cls, credential: Credential, raw: bytes, **kwargs: IdCred) -> LocalCredential:
        """Load a raw private key whose type follows the credential's public key type."""
        public = credential.public_key
        key: PrivateKey
        try:
            if isinstance(public, ed25519.Ed25519PublicKey):
                key = ed25519.Ed25519PrivateKey.from_private_bytes(raw)
            elif isinstance(public, x25519.X25519PublicKey):
                key = x25519.X25519PrivateKey.from_private_bytes(raw)
            else:
                key = ec.derive_private_key(int.from_bytes(raw, "big"), public.curve)
        except ValueError:
            raise SecureUsageError("raw private key does not fit the credential's key type") from None
        return cls(credential, key, **kwargs)

    def __repr__(self) -> str:
        ref = self.id_cred_by_reference.description if self.id_cred_by_reference else "?"
        return f"LocalCredential(kind={self.credential.kind.name}, id_cred={ref}, private_key=<hidden>)"


# ------------------------------------------------------------------------------------------ structures


def sig_structure(protected: bytes, external_aad: bytes, payload: bytes) -> bytes:
    """COSE Sig_structure for COSE_Sign1: ``["Signature1", protected, external_aad, payload]``."""
    return encode(["Signature1", protected, external_aad, payload])


def enc_structure(external_aad: bytes) -> bytes:
    """COSE Enc_structure for COSE_Encrypt0 with an empty protected header: ``["Encrypt0", h'', aad]``."""
    return encode(["Encrypt0", b"", external_aad])
