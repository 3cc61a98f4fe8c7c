"""Peer verifiers: what the secure layer asks, for every peer credential an EDHOC handshake brings (and again every
``SecureConfig.recheck_interval`` seconds while the session lasts), whether that peer may have a session.

* :class:`CertificateVerifier`: X.509 peers (method 0); the chain must validate to a trusted root with the expected
  role (:func:`secure.trust.credentials.verify_chain`: validity, CRLs, identity binding), and the leaf's key must be
  on the allow-list (:mod:`secure.trust.allowlist`), unrevoked there.
* :class:`PinnedKeyVerifier`: raw-key peers (CCS, method 3); the key's fingerprint must be on the allow-list.

A verifier returns a :class:`VerifiedCredential` or raises :class:`~secure.errors.ProtocolError`: a
:class:`~secure.errors.CertificateError` for a chain that does not validate, a
:class:`~secure.errors.CredentialRejectedError` for the rest. The allow-list is asked at every call (it re-reads its
file when that changed, and its CRL files the same way), so a removal or a revocation made there takes effect at
the next handshake or re-check. :func:`trust_version` tells a caller (the secure layer, every
``SecureConfig.trust_poll`` seconds) when those inputs changed, so that it re-checks its sessions at once.
"""

from __future__ import annotations

import hashlib
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from secure.errors import CredentialRejectedError, SecureUsageError
from secure.handshake.cose import Credential, CredentialKind
from secure.handshake.suites import PublicKey
from secure.trust import credentials
from secure.trust.allowlist import AllowList
from secure.trust.certification import Certification, CertificationPolicy, certification_of

__all__ = [
    "CertificateVerifier",
    "PeerVerifier",
    "PinnedKeyVerifier",
    "VerifiedCredential",
    "key_fingerprint",
    "trust_version",
]


def key_fingerprint(public_key: PublicKey) -> bytes:
    """SHA-256 over the DER SubjectPublicKeyInfo of any supported public key (the allow-list's pin)."""
    der = public_key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return hashlib.sha256(der).digest()


@dataclass(frozen=True)
class VerifiedCredential:
    """What the application established about a peer credential; nothing secret."""

    public_key: PublicKey = field(repr=False)
    fingerprint: bytes
    identity: credentials.EchonetIdentity | None = None
    role: credentials.Role | None = None
    #: The certification attribute of the peer's certificate (:mod:`secure.trust.certification`), if any.
    certification: Certification | None = None
    #: ``certified``, ``withdrawn`` or ``none`` (``None``: not a certificate peer).
    certification_status: str | None = None


class PeerVerifier(Protocol):
    """Validates a peer credential at wall-clock time ``now``; raises :class:`~secure.errors.ProtocolError` to
    reject it."""

    def __call__(self, credential: Credential, now: float) -> VerifiedCredential: ...


def trust_version(verifier: object) -> object:
    """A value that changes whenever ``verifier``'s trust inputs (allow-list file, CRL files) change; ``None`` for a
    verifier without such inputs. Reading it re-reads what changed."""
    version = getattr(verifier, "trust_version", None)
    return version() if callable(version) else None


class CertificateVerifier:
    """X.509 peers: the chain must validate to one of ``roots`` with the expected ``role``, and the leaf's key must
    be on the allow-list (when one is given; ``None`` trusts every valid certificate, for tests and demos).

    The CRLs checked with the chain are ``crls`` and those the allow-list holds now (:meth:`AllowList.crls`, which
    re-reads a watched CRL file when it changed), so a CRL published while the node runs counts at once."""

    def __init__(
        self,
        roots: Sequence[x509.Certificate],
        *,
        allowlist: AllowList | None,
        role: credentials.Role | None,
        intermediates: Sequence[x509.Certificate] = (),
        crls: Sequence[x509.CertificateRevocationList] = (),
        certification: CertificationPolicy | None = None,
    ) -> None:
        if not roots:
            raise SecureUsageError("a certificate verifier needs at least one trusted root")
        self.roots = tuple(roots)
        self.allowlist = allowlist
        self.role = role
        self.intermediates = tuple(intermediates)
        self.crls = tuple(crls)
        #: What is demanded of the peer's certification, and the withdrawal list watched (``None``: shown only).
        self.certification = certification

    def __call__(self, credential: Credential, now: float) -> VerifiedCredential:
        if credential.kind is not CredentialKind.X509:
            raise CredentialRejectedError("an X.509 certificate is required")
        try:
            leaf = x509.load_der_x509_certificate(credential.value)
            chain = [x509.load_der_x509_certificate(der) for der in credential.chain]
        except ValueError:
            raise CredentialRejectedError("unparsable certificate") from None
        crls = self.crls if self.allowlist is None else (*self.crls, *self.allowlist.crls())
        verified = credentials.verify_chain(
            leaf,
            roots=self.roots,
            intermediates=[*chain, *self.intermediates],
            crls=crls,
            now=now,
            role=self.role,
        )
        if self.allowlist is not None:
            if not self.allowlist.is_allowed(verified.fingerprint):
                raise CredentialRejectedError("certificate key is not on the allow-list")
            if self.allowlist.is_revoked(leaf):
                raise CredentialRejectedError("certificate is revoked")
        attribute = certification_of(leaf)
        if self.certification is None:
            status = "none" if attribute is None else "certified"
        else:
            status = self.certification.check(attribute)
        return VerifiedCredential(
            credential.public_key, verified.fingerprint, verified.identity, verified.role, attribute, status
        )

    def trust_version(self) -> object:
        """Changes with the allow-list file, its CRL files and the certification withdrawal list (see
        :func:`trust_version`)."""
        allow = None if self.allowlist is None else self.allowlist.version()
        if self.certification is None:
            return allow
        return (allow, self.certification.version())


class PinnedKeyVerifier:
    """Raw-key peers (CCS, method 3): the public key's fingerprint must be on the allow-list."""

    def __init__(self, allowlist: AllowList | Collection[bytes]) -> None:
        self.allowlist = allowlist

    def __call__(self, credential: Credential, now: float) -> VerifiedCredential:
        fingerprint = key_fingerprint(credential.public_key)
        allowed = (
            self.allowlist.is_allowed(fingerprint)
            if isinstance(self.allowlist, AllowList)
            else fingerprint in self.allowlist
        )
        if not allowed:
            raise CredentialRejectedError("peer key is not on the allow-list")
        return VerifiedCredential(credential.public_key, fingerprint)

    def trust_version(self) -> object:
        """Changes with the allow-list file (see :func:`trust_version`)."""
        return self.allowlist.version() if isinstance(self.allowlist, AllowList) else None
