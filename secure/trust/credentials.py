"""X.509 credentials of the secure overlay: CAs, device and controller certificates, chain checks, CRLs.

Everything is P-256 with ECDSA-SHA256: ``manufacturer root CA -> device CA -> device/controller``.

Identity binding
================

A leaf certificate binds the node's ECHONET Lite identification number (node profile EPC 0x83, 17 bytes:
``0xFE`` + 3-byte manufacturer code + 13 unique bytes) and the manufacturer code (EPC 0x8A, 3 bytes) twice:

1. **subjectAltName** (non-critical) holds exactly one URI ``urn:echonet:id:<34 lowercase hex digits>`` (the
   0x83 value), e.g. ``urn:echonet:id:fe00007b0102030405060708090a0b0c0d``. Generic tools show it (``openssl
   x509 -text``). The ``echonet`` URN namespace is *not* registered with IANA; it only has to be unique here.
2. A **private extension** (non-critical, so generic verifiers still accept the certificate) with OID
   ``ECHONET_BINDING_OID`` = ``2.25.96137619419465418826202588011548948213.1`` (an ITU-T X.667 UUID-based OID,
   which needs no registration) and the DER value::

       EchonetBinding ::= SEQUENCE {
           version               INTEGER (1),
           manufacturerCode      OCTET STRING (SIZE (3)),     -- EPC 0x8A
           identificationNumber  OCTET STRING (SIZE (17)) OPTIONAL  -- EPC 0x83, absent in CA certificates
       }

:func:`bound_identity` requires both, requires them to agree, and requires ``identificationNumber[1:4] ==
manufacturerCode``. A CA certificate carrying the extension *without* an identification number is constrained
to its manufacturer code: :func:`verify_chain` rejects any certificate below it that binds a different code.

The role of a leaf is an extendedKeyUsage purpose under the same arc: ``...2.1`` device, ``...2.2``
controller. The controller cross-checks the bound values against EPC 0x83/0x8A read after the handshake
(:func:`cross_check_node_profile`).

Chain validation (:func:`verify_chain`) checks, for every certificate up to and including the trusted root:
P-256 key and ECDSA-SHA256 signature, validity period against the injected ``now`` (inclusive bounds), no
unknown critical extension; for every issuer: basicConstraints CA (critical), keyUsage keyCertSign,
pathLenConstraint; for the leaf: not a CA, keyUsage digitalSignature, the binding, and the role if asked. CRLs
issued by a CA in the path are checked (signature by that CA, cRLSign, lastUpdate <= now <= nextUpdate, serial
not listed); a stale or badly signed CRL fails closed.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import itertools
import os
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Literal

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtensionOID, NameOID, SignatureAlgorithmOID

from secure import store
from secure.errors import CertificateError, SecureUsageError, StoreError

__all__ = [
    "ECHONET_ARC",
    "ECHONET_BINDING_OID",
    "KP_CONTROLLER_OID",
    "KP_DEVICE_OID",
    "URN_PREFIX",
    "CaPaths",
    "CertificateError",  # defined in secure.errors; named here too, as the error verify_chain raises
    "EchonetIdentity",
    "RevokedEntry",
    "Role",
    "VerifiedPeer",
    "bound_identity",
    "bound_role",
    "create_device_ca",
    "create_root_ca",
    "cross_check_node_profile",
    "format_fingerprint",
    "generate_private_key",
    "init_ca_directory",
    "is_revoked",
    "issue_certificate",
    "issue_crl",
    "load_ca",
    "load_certificate",
    "load_certificates",
    "load_crl",
    "load_private_key",
    "load_revoked",
    "parse_fingerprint",
    "parse_maker_code",
    "publish_crl",
    "revoke_certificate",
    "save_certificates",
    "save_crl",
    "save_private_key",
    "spki_sha256",
    "verify_chain",
]

ECHONET_ARC = "2.25.96137619419465418826202588011548948213"
ECHONET_BINDING_OID = x509.ObjectIdentifier(ECHONET_ARC + ".1")
KP_DEVICE_OID = x509.ObjectIdentifier(ECHONET_ARC + ".2.1")
KP_CONTROLLER_OID = x509.ObjectIdentifier(ECHONET_ARC + ".2.2")
URN_PREFIX = "urn:echonet:id:"

ID_NUMBER_LEN = 17
MAKER_CODE_LEN = 3
_BINDING_VERSION = 1
_MAX_CHAIN = 6
_HASH = hashes.SHA256()

_KNOWN_CRITICAL = frozenset(
    {
        ExtensionOID.BASIC_CONSTRAINTS,
        ExtensionOID.KEY_USAGE,
        ExtensionOID.EXTENDED_KEY_USAGE,
        ExtensionOID.SUBJECT_ALTERNATIVE_NAME,
        ECHONET_BINDING_OID,
    }
)


class Role(StrEnum):
    """What a leaf certificate may be used as (extendedKeyUsage purpose)."""

    DEVICE = "device"
    CONTROLLER = "controller"


_ROLE_OID = {Role.DEVICE: KP_DEVICE_OID, Role.CONTROLLER: KP_CONTROLLER_OID}


# ------------------------------------------------------------------------------------ identity binding


@dataclass(frozen=True)
class EchonetIdentity:
    """ECHONET Lite identification number (EPC 0x83) and manufacturer code (EPC 0x8A) of one node."""

    id_number: bytes
    maker_code: bytes

    def __post_init__(self) -> None:
        if len(self.maker_code) != MAKER_CODE_LEN:
            raise SecureUsageError(f"manufacturer code must be {MAKER_CODE_LEN} bytes, got {len(self.maker_code)}")
        if len(self.id_number) != ID_NUMBER_LEN:
            raise SecureUsageError(f"identification number must be {ID_NUMBER_LEN} bytes, got {len(self.id_number)}")
        if self.id_number[0] != 0xFE:
            raise SecureUsageError("identification number must start with 0xFE (manufacturer-assigned)")
        if self.id_number[1:4] != self.maker_code:
            raise SecureUsageError(
                f"identification number carries manufacturer code {self.id_number[1:4].hex()},"
                f" not {self.maker_code.hex()}"
            )

    @classmethod
    def from_hex(cls, id_hex: str, maker_hex: str | None = None) -> EchonetIdentity:
        """Parse hex (``0x`` prefix and ``:``/space/``-`` separators allowed); maker defaults to id[1:4]."""
        id_number = _parse_hex(id_hex, ID_NUMBER_LEN, "identification number")
        maker = id_number[1:4] if maker_hex is None else _parse_hex(maker_hex, MAKER_CODE_LEN, "manufacturer code")
        return cls(id_number, maker)

    @property
    def uri(self) -> str:
        return URN_PREFIX + self.id_number.hex()

    def __str__(self) -> str:
        return f"id {self.id_number.hex()} maker {self.maker_code.hex()}"


def parse_maker_code(text: str) -> bytes:
    """A manufacturer code (EPC 0x8A) from 6 hex digits (``0x`` prefix and separators allowed)."""
    return _parse_hex(text, MAKER_CODE_LEN, "manufacturer code")


def _parse_hex(text: str, length: int, what: str) -> bytes:
    cleaned = re.sub(r"[\s:\-]", "", text.strip().lower())
    cleaned = cleaned.removeprefix("0x")
    if not re.fullmatch(r"[0-9a-f]*", cleaned) or len(cleaned) != 2 * length:
        raise SecureUsageError(f"{what} must be {length} bytes of hex ({2 * length} hex digits), got {text!r}")
    return bytes.fromhex(cleaned)


def _der(tag: int, body: bytes) -> bytes:
    assert len(body) < 0x80
    return bytes([tag, len(body)]) + body


def _encode_binding(maker_code: bytes, id_number: bytes | None) -> bytes:
    body = _der(0x02, bytes([_BINDING_VERSION])) + _der(0x04, maker_code)
    if id_number is not None:
        body += _der(0x04, id_number)
    return _der(0x30, body)


def _decode_binding(value: bytes) -> tuple[bytes, bytes | None]:
    """Strict DER decoder of EchonetBinding: returns (maker code, identification number or None)."""

    def take(data: bytes, tag: int) -> tuple[bytes, bytes]:
        if len(data) < 2 or data[0] != tag or data[1] >= 0x80 or len(data) < 2 + data[1]:
            raise CertificateError("binding", "malformed ECHONET binding extension")
        return data[2 : 2 + data[1]], data[2 + data[1] :]

    body, rest = take(value, 0x30)
    if rest:
        raise CertificateError("binding", "trailing bytes after ECHONET binding extension")
    version, body = take(body, 0x02)
    if version != bytes([_BINDING_VERSION]):
        raise CertificateError("binding", "unsupported ECHONET binding version")
    maker, body = take(body, 0x04)
    id_number: bytes | None = None
    if body:
        id_number, body = take(body, 0x04)
    if body:
        raise CertificateError("binding", "unexpected fields in ECHONET binding extension")
    if len(maker) != MAKER_CODE_LEN or (id_number is not None and len(id_number) != ID_NUMBER_LEN):
        raise CertificateError("binding", "wrong field size in ECHONET binding extension")
    return maker, id_number


def _binding_ext(cert: x509.Certificate) -> tuple[bytes, bytes | None] | None:
    try:
        ext = cert.extensions.get_extension_for_oid(ECHONET_BINDING_OID)
    except x509.ExtensionNotFound:
        return None
    value = ext.value
    if not isinstance(value, x509.UnrecognizedExtension):
        raise CertificateError("binding", "unexpected ECHONET binding extension type")
    return _decode_binding(value.value)


def bound_identity(cert: x509.Certificate) -> EchonetIdentity:
    """The identification number and manufacturer code bound by a leaf (both encodings must agree)."""
    binding = _binding_ext(cert)
    if binding is None or binding[1] is None:
        raise CertificateError("binding", "certificate carries no ECHONET identification number")
    maker, id_number = binding[0], binding[1]
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        raise CertificateError("binding", "certificate has no subjectAltName URI") from None
    uris = [u for u in san.get_values_for_type(x509.UniformResourceIdentifier) if u.startswith(URN_PREFIX)]
    if len(uris) != 1:
        raise CertificateError("binding", "certificate must have exactly one urn:echonet:id URI")
    if uris[0] != URN_PREFIX + id_number.hex():
        raise CertificateError("binding", "subjectAltName URI and ECHONET extension disagree")
    try:
        return EchonetIdentity(id_number, maker)
    except SecureUsageError as exc:
        raise CertificateError("binding", str(exc)) from None


def bound_role(cert: x509.Certificate) -> Role | None:
    """The ECHONET role in the certificate's extendedKeyUsage, or None if it has none (or both)."""
    try:
        eku = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    except x509.ExtensionNotFound:
        return None
    roles = [role for role, oid in _ROLE_OID.items() if oid in eku]
    return roles[0] if len(roles) == 1 else None


def cross_check_node_profile(identity: EchonetIdentity, epc_0x83: bytes, epc_0x8a: bytes | None) -> None:
    """After the handshake: the values the peer reports in its node profile must equal the certificate's."""
    if epc_0x83 != identity.id_number:
        raise CertificateError("binding_mismatch", "node profile 0x83 differs from the certificate")
    if epc_0x8a is not None and epc_0x8a != identity.maker_code:
        raise CertificateError("binding_mismatch", "node profile 0x8A differs from the certificate")


# ---------------------------------------------------------------------------------------- fingerprints


def spki_sha256(subject: x509.Certificate | ec.EllipticCurvePublicKey) -> bytes:
    """SHA-256 over the DER SubjectPublicKeyInfo (the pinned value of the allow-list)."""
    public = subject.public_key() if isinstance(subject, x509.Certificate) else subject
    der = public.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return hashlib.sha256(der).digest()


def format_fingerprint(fingerprint: bytes, style: Literal["colon", "groups"] = "colon") -> str:
    """``ab:cd:...`` (colon) or ``abcd ef01 ...`` (groups of 4 hex digits) for showing to users."""
    text = fingerprint.hex()
    if style == "colon":
        return ":".join(text[i : i + 2] for i in range(0, len(text), 2))
    return " ".join(text[i : i + 4] for i in range(0, len(text), 4))


def parse_fingerprint(text: str) -> bytes:
    """Parse a SHA-256 fingerprint in either display style (optional ``sha256:`` prefix, any case)."""
    cleaned = text.strip().lower()
    cleaned = cleaned.removeprefix("sha256:").removeprefix("sha256/")
    cleaned = re.sub(r"[\s:\-]", "", cleaned)
    if not re.fullmatch(r"[0-9a-f]{64}", cleaned):
        raise SecureUsageError(f"not a SHA-256 fingerprint (64 hex digits): {text!r}")
    return bytes.fromhex(cleaned)


# ---------------------------------------------------------------------------------------- key handling


def generate_private_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def _require_p256(key: object, what: str) -> None:
    if not isinstance(key, ec.EllipticCurvePublicKey | ec.EllipticCurvePrivateKey) or not isinstance(
        key.curve, ec.SECP256R1
    ):
        raise SecureUsageError(f"{what} must be a P-256 key")


def save_private_key(
    path: str | os.PathLike[str], key: ec.EllipticCurvePrivateKey, password: bytes | None = None
) -> None:
    """Write a PKCS#8 PEM key atomically with mode 0o600 (encrypted if a password is given)."""
    encryption: serialization.KeySerializationEncryption = (
        serialization.BestAvailableEncryption(password) if password else serialization.NoEncryption()
    )
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption)
    store.atomic_write(path, pem)


def load_private_key(path: str | os.PathLike[str], password: bytes | None = None) -> ec.EllipticCurvePrivateKey:
    """Load a P-256 private key, refusing files accessible by group or others."""
    data = store.read_private(path)
    try:
        key = serialization.load_pem_private_key(data, password)
    except (ValueError, TypeError) as exc:
        raise SecureUsageError(f"{path}: not a usable PEM private key ({exc})") from None
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        raise SecureUsageError(f"{path}: not an elliptic-curve private key")
    _require_p256(key, str(path))
    return key


def save_certificates(path: str | os.PathLike[str], *certs: x509.Certificate) -> None:
    store.atomic_write(path, b"".join(c.public_bytes(serialization.Encoding.PEM) for c in certs))


def load_certificates(path: str | os.PathLike[str]) -> list[x509.Certificate]:
    """All certificates of a PEM file, or the single certificate of a DER file."""
    data = store.read_file(path)
    try:
        if b"-----BEGIN" in data:
            certs = x509.load_pem_x509_certificates(data)
        else:
            certs = [x509.load_der_x509_certificate(data)]
    except ValueError as exc:
        raise SecureUsageError(f"{path}: not a certificate ({exc})") from None
    return certs


def load_certificate(path: str | os.PathLike[str]) -> x509.Certificate:
    return load_certificates(path)[0]


def save_crl(path: str | os.PathLike[str], crl: x509.CertificateRevocationList) -> None:
    store.atomic_write(path, crl.public_bytes(serialization.Encoding.PEM))


def load_crl(path: str | os.PathLike[str]) -> x509.CertificateRevocationList:
    data = store.read_file(path)
    try:
        if b"-----BEGIN" in data:
            return x509.load_pem_x509_crl(data)
        return x509.load_der_x509_crl(data)
    except ValueError as exc:
        raise SecureUsageError(f"{path}: not a revocation list ({exc})") from None


# -------------------------------------------------------------------------------- issuing certificates


def _time(now: float) -> dt.datetime:
    return dt.datetime.fromtimestamp(now, tz=dt.UTC)


def _whole_seconds(now: float) -> dt.datetime:
    return dt.datetime.fromtimestamp(int(now), tz=dt.UTC)


def _name(common_name: str, organization: str | None) -> x509.Name:
    attributes = [x509.NameAttribute(NameOID.COMMON_NAME, common_name)]
    if organization:
        attributes.insert(0, x509.NameAttribute(NameOID.ORGANIZATION_NAME, organization))
    return x509.Name(attributes)


def _ski(key: ec.EllipticCurvePublicKey) -> x509.SubjectKeyIdentifier:
    return x509.SubjectKeyIdentifier.from_public_key(key)


def _ca_key_usage() -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=False,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=True,
        crl_sign=True,
        encipher_only=False,
        decipher_only=False,
    )


def _check_issuer(ca_key: ec.EllipticCurvePrivateKey, ca_cert: x509.Certificate) -> None:
    _require_p256(ca_key, "CA key")
    if spki_sha256(ca_key.public_key()) != spki_sha256(ca_cert):
        raise SecureUsageError("the CA key does not belong to the CA certificate")
    if not _is_ca(ca_cert):
        raise SecureUsageError("the issuing certificate is not a CA")


def _is_ca(cert: x509.Certificate) -> bool:
    try:
        return cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    except x509.ExtensionNotFound:
        return False


def create_root_ca(
    *,
    common_name: str,
    now: float,
    organization: str | None = None,
    maker_code: bytes | None = None,
    days: int = 20 * 365,
    path_length: int | None = 1,
    key: ec.EllipticCurvePrivateKey | None = None,
) -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
    """A self-signed manufacturer root CA (optionally constrained to one manufacturer code)."""
    key = key or generate_private_key()
    _require_p256(key, "root key")
    name = _name(common_name, organization)
    builder = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(_whole_seconds(now))
        .not_valid_after(_whole_seconds(now + days * 86400))
        .add_extension(x509.BasicConstraints(ca=True, path_length=path_length), critical=True)
        .add_extension(_ca_key_usage(), critical=True)
        .add_extension(_ski(key.public_key()), critical=False)
    )
    if maker_code is not None:
        builder = builder.add_extension(_maker_constraint(maker_code), critical=False)
    return key, builder.sign(key, _HASH)


def _maker_constraint(maker_code: bytes) -> x509.UnrecognizedExtension:
    if len(maker_code) != MAKER_CODE_LEN:
        raise SecureUsageError(f"manufacturer code must be {MAKER_CODE_LEN} bytes")
    return x509.UnrecognizedExtension(ECHONET_BINDING_OID, _encode_binding(maker_code, None))


def _aki(issuer: x509.Certificate) -> x509.AuthorityKeyIdentifier:
    try:
        ski = issuer.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
        return x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ski)
    except x509.ExtensionNotFound:
        public = issuer.public_key()
        assert isinstance(public, ec.EllipticCurvePublicKey)
        return x509.AuthorityKeyIdentifier.from_issuer_public_key(public)


def _issuer_maker(cert: x509.Certificate) -> bytes | None:
    binding = _binding_ext(cert)
    return None if binding is None else binding[0]


def create_device_ca(
    *,
    root_key: ec.EllipticCurvePrivateKey,
    root_cert: x509.Certificate,
    common_name: str,
    now: float,
    organization: str | None = None,
    maker_code: bytes | None = None,
    days: int = 10 * 365,
    path_length: int | None = 0,
    key: ec.EllipticCurvePrivateKey | None = None,
) -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
    """A manufacturer device CA signed by the root (issues device and controller certificates and the CRL)."""
    _check_issuer(root_key, root_cert)
    key = key or generate_private_key()
    _require_p256(key, "device CA key")
    maker_code = maker_code if maker_code is not None else _issuer_maker(root_cert)
    root_maker = _issuer_maker(root_cert)
    if root_maker is not None and maker_code != root_maker:
        raise SecureUsageError("the root is constrained to another manufacturer code")
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(common_name, organization))
        .issuer_name(root_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(_whole_seconds(now))
        .not_valid_after(_whole_seconds(now + days * 86400))
        .add_extension(x509.BasicConstraints(ca=True, path_length=path_length), critical=True)
        .add_extension(_ca_key_usage(), critical=True)
        .add_extension(_ski(key.public_key()), critical=False)
        .add_extension(_aki(root_cert), critical=False)
    )
    if maker_code is not None:
        builder = builder.add_extension(_maker_constraint(maker_code), critical=False)
    return key, builder.sign(root_key, _HASH)


def issue_certificate(
    *,
    ca_key: ec.EllipticCurvePrivateKey,
    ca_cert: x509.Certificate,
    public_key: ec.EllipticCurvePublicKey,
    identity: EchonetIdentity,
    role: Role,
    now: float,
    days: int = 10 * 365,
    extensions: Sequence[x509.UnrecognizedExtension] = (),
) -> x509.Certificate:
    """A device or controller certificate binding ``identity`` (see the module documentation). ``extensions``:
    further non-critical extensions, e.g. the certification attribute
    (:func:`secure.trust.certification.certification_extension`)."""
    _check_issuer(ca_key, ca_cert)
    _require_p256(public_key, "subject key")
    ca_maker = _issuer_maker(ca_cert)
    if ca_maker is not None and ca_maker != identity.maker_code:
        raise SecureUsageError(
            f"this CA may only issue for manufacturer code {ca_maker.hex()}, not {identity.maker_code.hex()}"
        )
    usage = x509.KeyUsage(
        digital_signature=True,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=False,
        crl_sign=False,
        encipher_only=False,
        decipher_only=False,
    )
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(f"ECHONET Lite {role.value} {identity.id_number.hex()}", None))
        .issuer_name(ca_cert.subject)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(_whole_seconds(now))
        .not_valid_after(_whole_seconds(now + days * 86400))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(usage, critical=True)
        .add_extension(x509.ExtendedKeyUsage([_ROLE_OID[role]]), critical=False)
        .add_extension(x509.SubjectAlternativeName([x509.UniformResourceIdentifier(identity.uri)]), critical=False)
        .add_extension(
            x509.UnrecognizedExtension(ECHONET_BINDING_OID, _encode_binding(identity.maker_code, identity.id_number)),
            critical=False,
        )
        .add_extension(_ski(public_key), critical=False)
        .add_extension(_aki(ca_cert), critical=False)
    )
    for extension in extensions:
        builder = builder.add_extension(extension, critical=False)
    return builder.sign(ca_key, _HASH)


# ------------------------------------------------------------------------------------------ revocation


@dataclass(frozen=True)
class RevokedEntry:
    serial: int
    revoked_at: float
    reason: x509.ReasonFlags | None = None


def issue_crl(
    *,
    ca_key: ec.EllipticCurvePrivateKey,
    ca_cert: x509.Certificate,
    revoked: Iterable[RevokedEntry],
    now: float,
    number: int,
    valid_for: float = 7 * 86400,
) -> x509.CertificateRevocationList:
    """An X.509 v2 CRL signed by ``ca_cert`` (thisUpdate = now, nextUpdate = now + valid_for)."""
    _check_issuer(ca_key, ca_cert)
    builder = (
        x509.CertificateRevocationListBuilder()
        .issuer_name(ca_cert.subject)
        .last_update(_whole_seconds(now))
        .next_update(_whole_seconds(now + valid_for))
        .add_extension(x509.CRLNumber(number), critical=False)
        .add_extension(_aki(ca_cert), critical=False)
    )
    for entry in revoked:
        item = (
            x509.RevokedCertificateBuilder()
            .serial_number(entry.serial)
            .revocation_date(_whole_seconds(entry.revoked_at))
        )
        if entry.reason is not None:
            item = item.add_extension(x509.CRLReason(entry.reason), critical=False)
        builder = builder.add_revoked_certificate(item.build())
    return builder.sign(ca_key, _HASH)


def is_revoked(crl: x509.CertificateRevocationList, cert: x509.Certificate) -> bool:
    """True if ``crl`` lists ``cert`` (same issuer name and serial); the CRL's signature is not checked."""
    if crl.issuer != cert.issuer:
        return False
    return crl.get_revoked_certificate_by_serial_number(cert.serial_number) is not None


# ------------------------------------------------------------------------------------ chain validation


@dataclass(frozen=True)
class VerifiedPeer:
    """What a successful :func:`verify_chain` establishes about the leaf."""

    identity: EchonetIdentity
    role: Role | None
    fingerprint: bytes
    serial: int
    not_after: float


def _label(cert: x509.Certificate, position: int) -> str:
    kind = "leaf" if position == 0 else "CA"
    names = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    name = str(names[0].value) if names else cert.subject.rfc4514_string()
    return f"{kind} {name!r}"


def _check_common(cert: x509.Certificate, position: int, when: dt.datetime) -> None:
    label = _label(cert, position)
    try:
        public = cert.public_key()
    except (ValueError, TypeError):
        raise CertificateError("bad_key", f"{label} has an unusable public key") from None
    if not isinstance(public, ec.EllipticCurvePublicKey) or not isinstance(public.curve, ec.SECP256R1):
        raise CertificateError("bad_key", f"{label} does not have a P-256 key")
    if cert.signature_algorithm_oid != SignatureAlgorithmOID.ECDSA_WITH_SHA256:
        raise CertificateError("bad_signature", f"{label} is not signed with ECDSA-SHA256")
    if when < cert.not_valid_before_utc:
        raise CertificateError("not_yet_valid", f"{label} is valid from {cert.not_valid_before_utc.isoformat()}")
    if when > cert.not_valid_after_utc:
        raise CertificateError("expired", f"{label} expired at {cert.not_valid_after_utc.isoformat()}")
    try:
        extensions = cert.extensions
    except ValueError as exc:
        raise CertificateError("malformed", f"{label} has malformed extensions ({exc})") from None
    for ext in extensions:
        if ext.critical and ext.oid not in _KNOWN_CRITICAL:
            raise CertificateError(
                "unknown_critical_extension",
                f"{label} has unknown critical extension {ext.oid.dotted_string}",
            )


def _key_usage(cert: x509.Certificate) -> x509.KeyUsage | None:
    try:
        return cert.extensions.get_extension_for_class(x509.KeyUsage).value
    except x509.ExtensionNotFound:
        return None


def _check_issuer_cert(issuer: x509.Certificate, position: int, cas_below: int) -> None:
    label = _label(issuer, position)
    try:
        bc_ext = issuer.extensions.get_extension_for_class(x509.BasicConstraints)
    except x509.ExtensionNotFound:
        raise CertificateError("not_a_ca", f"{label} has no basicConstraints") from None
    if not bc_ext.value.ca or not bc_ext.critical:
        raise CertificateError("not_a_ca", f"{label} is not a CA certificate")
    usage = _key_usage(issuer)
    if usage is None or not usage.key_cert_sign:
        raise CertificateError("key_usage", f"{label} may not sign certificates (keyUsage)")
    limit = bc_ext.value.path_length
    if limit is not None and cas_below > limit:
        raise CertificateError("path_length", f"{label} allows {limit} CA(s) below it, found {cas_below}")


def _verify_signature(cert: x509.Certificate, issuer: x509.Certificate) -> bool:
    try:
        cert.verify_directly_issued_by(issuer)
    except (InvalidSignature, ValueError, TypeError):
        return False
    return True


def _build_path(
    leaf: x509.Certificate, intermediates: Sequence[x509.Certificate], roots: Sequence[x509.Certificate]
) -> list[x509.Certificate]:
    """leaf, intermediates..., trusted root (by name and signature)."""
    path = [leaf]
    unused = list(intermediates)
    while len(path) <= _MAX_CHAIN:
        current = path[-1]
        named_roots = [r for r in roots if r.subject == current.issuer]
        for root in named_roots:
            if _verify_signature(current, root):
                return [*path, root]
        candidates = [c for c in unused if c.subject == current.issuer]
        if not candidates:
            if named_roots:
                raise CertificateError(
                    "untrusted_root", f"{_label(current, len(path) - 1)} is not signed by the trusted root"
                )
            raise CertificateError("untrusted_root", "no path from the certificate to a trusted root")
        issuer = candidates[0]
        unused.remove(issuer)
        if not _verify_signature(current, issuer):
            raise CertificateError("bad_signature", f"signature of {_label(current, len(path) - 1)} is invalid")
        path.append(issuer)
    raise CertificateError("path_length", "certificate chain is too long")


def _check_crls(
    path: Sequence[x509.Certificate],
    crls: Sequence[x509.CertificateRevocationList],
    when: dt.datetime,
    require_crl: bool,
) -> None:
    for position, (cert, issuer) in enumerate(itertools.pairwise(path)):
        relevant = [crl for crl in crls if crl.issuer == issuer.subject]
        if not relevant:
            if require_crl and position == 0:
                raise CertificateError("crl_missing", "no revocation list from the leaf's issuer")
            continue
        usage = _key_usage(issuer)
        if usage is None or not usage.crl_sign:
            raise CertificateError("key_usage", f"{_label(issuer, position + 1)} may not sign revocation lists")
        issuer_key = issuer.public_key()
        assert isinstance(issuer_key, ec.EllipticCurvePublicKey)
        for crl in relevant:
            if not crl.is_signature_valid(issuer_key):
                raise CertificateError("crl_bad_signature", f"revocation list of {_label(issuer, position + 1)}")
            next_update = crl.next_update_utc
            if when < crl.last_update_utc or next_update is None or when > next_update:
                raise CertificateError("crl_stale", f"revocation list of {_label(issuer, position + 1)} is stale")
            if crl.get_revoked_certificate_by_serial_number(cert.serial_number) is not None:
                raise CertificateError("revoked", f"{_label(cert, position)} is revoked")


def verify_chain(
    leaf: x509.Certificate,
    *,
    roots: Sequence[x509.Certificate],
    now: float,
    intermediates: Sequence[x509.Certificate] = (),
    crls: Sequence[x509.CertificateRevocationList] = (),
    role: Role | None = None,
    require_crl: bool = False,
) -> VerifiedPeer:
    """Validate ``leaf`` up to one of ``roots`` at ``now`` (see the module documentation for the checks)."""
    when = _time(now)
    path = _build_path(leaf, intermediates, roots)
    for position, cert in enumerate(path):
        _check_common(cert, position, when)
    for position in range(1, len(path)):
        _check_issuer_cert(path[position], position, cas_below=position - 1)
    if _is_ca(leaf):
        raise CertificateError("leaf_is_ca", "the end-entity certificate is a CA certificate")
    usage = _key_usage(leaf)
    if usage is None or not usage.digital_signature:
        raise CertificateError("key_usage", "the end-entity certificate may not sign (keyUsage)")
    identity = bound_identity(leaf)
    for position in range(len(path) - 1, 0, -1):
        maker = _issuer_maker(path[position])
        if maker is None:
            continue
        for below in range(position):
            binding = _binding_ext(path[below])
            if binding is None or binding[0] != maker:
                raise CertificateError(
                    "maker_constraint",
                    f"{_label(path[below], below)} is outside manufacturer code {maker.hex()}"
                    f" of {_label(path[position], position)}",
                )
    leaf_role = bound_role(leaf)
    if role is not None and leaf_role != role:
        raise CertificateError("wrong_role", f"certificate is not a {role.value} certificate")
    _check_crls(path, crls, when, require_crl)
    return VerifiedPeer(
        identity=identity,
        role=leaf_role,
        fingerprint=spki_sha256(leaf),
        serial=leaf.serial_number,
        not_after=leaf.not_valid_after_utc.timestamp(),
    )


# -------------------------------------------------------------------------------------- CA directories


@dataclass(frozen=True)
class CaPaths:
    """Files of a CA directory made by :func:`init_ca_directory` (mode 0o700, files 0o600)."""

    directory: Path

    @property
    def root_key(self) -> Path:
        return self.directory / "root.key.pem"

    @property
    def root_cert(self) -> Path:
        return self.directory / "root.cert.pem"

    @property
    def ca_key(self) -> Path:
        return self.directory / "device-ca.key.pem"

    @property
    def ca_cert(self) -> Path:
        return self.directory / "device-ca.cert.pem"

    @property
    def revoked(self) -> Path:
        """JSON list of revoked serials and the last CRL number."""
        return self.directory / "revoked.json"

    @property
    def crl(self) -> Path:
        return self.directory / "crl.pem"


def init_ca_directory(
    directory: str | os.PathLike[str],
    *,
    organization: str,
    maker_code: bytes,
    now: float,
    root_days: int = 20 * 365,
    ca_days: int = 10 * 365,
) -> CaPaths:
    """Create a root CA and a device CA (both constrained to ``maker_code``) in a new or empty directory."""
    paths = CaPaths(Path(directory))
    for existing in (paths.root_key, paths.root_cert, paths.ca_key, paths.ca_cert):
        if existing.exists():
            raise SecureUsageError(f"{existing} already exists; refusing to overwrite a CA")
    store.ensure_private_dir(paths.directory)
    root_key, root_cert = create_root_ca(
        common_name=f"{organization} ECHONET Lite Root CA",
        organization=organization,
        maker_code=maker_code,
        now=now,
        days=root_days,
    )
    ca_key, ca_cert = create_device_ca(
        root_key=root_key,
        root_cert=root_cert,
        common_name=f"{organization} ECHONET Lite Device CA",
        organization=organization,
        now=now,
        days=ca_days,
    )
    save_private_key(paths.root_key, root_key)
    save_certificates(paths.root_cert, root_cert)
    save_private_key(paths.ca_key, ca_key)
    save_certificates(paths.ca_cert, ca_cert)
    store.write_json(paths.revoked, {"version": 1, "crl_number": 0, "revoked": []})
    return paths


def load_ca(
    directory: str | os.PathLike[str],
) -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate, x509.Certificate]:
    """(device CA key, device CA certificate, root certificate) of a CA directory."""
    paths = CaPaths(Path(directory))
    return load_private_key(paths.ca_key), load_certificate(paths.ca_cert), load_certificate(paths.root_cert)


def load_revoked(directory: str | os.PathLike[str]) -> tuple[int, list[RevokedEntry]]:
    """(last CRL number, revoked entries) of a CA directory."""
    paths = CaPaths(Path(directory))
    if not paths.revoked.exists():
        return 0, []
    document = store.read_json(paths.revoked)
    try:
        assert isinstance(document, dict)
        number = int(document["crl_number"])
        entries = [
            RevokedEntry(
                serial=int(item["serial"], 16),
                revoked_at=float(item["revoked_at"]),
                reason=None if item.get("reason") is None else x509.ReasonFlags(item["reason"]),
            )
            for item in document["revoked"]
        ]
    except (AssertionError, KeyError, TypeError, ValueError):
        raise StoreError(f"{paths.revoked} is corrupt") from None
    return number, entries


def _save_revoked(paths: CaPaths, number: int, entries: Sequence[RevokedEntry]) -> None:
    store.write_json(
        paths.revoked,
        {
            "version": 1,
            "crl_number": number,
            "revoked": [
                {
                    "serial": format(e.serial, "x"),
                    "revoked_at": e.revoked_at,
                    "reason": None if e.reason is None else e.reason.value,
                }
                for e in entries
            ],
        },
    )


def revoke_certificate(
    directory: str | os.PathLike[str],
    cert: x509.Certificate,
    *,
    now: float,
    reason: x509.ReasonFlags | None = None,
) -> RevokedEntry:
    """Record the revocation of a certificate issued by this directory's device CA (see publish_crl)."""
    _ca_key, ca_cert, _root = load_ca(directory)
    if not _verify_signature(cert, ca_cert):
        raise SecureUsageError("that certificate was not issued by this device CA")
    number, entries = load_revoked(directory)
    if any(e.serial == cert.serial_number for e in entries):
        raise SecureUsageError(f"certificate serial {cert.serial_number:x} is already revoked")
    entry = RevokedEntry(cert.serial_number, now, reason)
    _save_revoked(CaPaths(Path(directory)), number, [*entries, entry])
    return entry


def publish_crl(
    directory: str | os.PathLike[str], *, now: float, valid_for: float = 7 * 86400
) -> x509.CertificateRevocationList:
    """Issue the next CRL of this directory's device CA and write it to ``crl.pem``."""
    paths = CaPaths(Path(directory))
    ca_key, ca_cert, _root = load_ca(directory)
    number, entries = load_revoked(directory)
    crl = issue_crl(ca_key=ca_key, ca_cert=ca_cert, revoked=entries, now=now, number=number + 1, valid_for=valid_for)
    _save_revoked(paths, number + 1, entries)
    save_crl(paths.crl, crl)
    return crl
