"""Certification status in device certificates, and its withdrawal.

A device certificate may carry a **certification attribute**: which certification programme the product passed
(for example JC-STAR), at which level, under which certificate identifier, and on which date. It is a
non-critical X.509 extension under the project's OID arc (``2.25.96137619419465418826202588011548948213.3``,
next to the ECHONET binding ``.1`` and the key purposes ``.2.x``), DER-encoded as::

    EchonetCertification ::= SEQUENCE {
        version     INTEGER (1),
        programme   UTF8String,   -- "JC-STAR"
        level       UTF8String,   -- "1", "2", ... (compared as numbers when both are digits)
        identifier  UTF8String,   -- the programme's certificate number
        date        UTF8String    -- ISO 8601 date the certification was granted, YYYY-MM-DD
    }

A programme can **withdraw** a certification (the product no longer meets it). A withdrawal is published like a
revocation: a withdrawal list, signed by an issuer the node trusts (the manufacturer's CA, as for CRLs), numbered
(a list with a lower number than the one in use is refused), listing the withdrawn identifiers. The verifier
re-reads its file when it changes, so live sessions are checked again at once (see
:meth:`secure.trust.verifiers.CertificateVerifier.trust_version`).

:class:`CertificationPolicy` says what a node demands: nothing (status only shown), or a programme at a minimum
level, which a withdrawn certification no longer meets.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec

from secure import store
from secure.errors import CertificateError, CredentialRejectedError, SecureUsageError, StoreError
from secure.trust.credentials import ECHONET_ARC

__all__ = [
    "CERTIFICATION_OID",
    "Certification",
    "CertificationPolicy",
    "Withdrawal",
    "WithdrawalList",
    "certification_extension",
    "certification_of",
    "issue_withdrawals",
    "load_withdrawals",
]

CERTIFICATION_OID = x509.ObjectIdentifier(ECHONET_ARC + ".3")
_VERSION = 1
_MAX_FIELD = 120


@dataclass(frozen=True)
class Certification:
    """The certification attribute of a device certificate."""

    programme: str
    level: str
    identifier: str
    date: str

    def __post_init__(self) -> None:
        for name in ("programme", "level", "identifier", "date"):
            value = getattr(self, name)
            if not isinstance(value, str) or not value or len(value.encode()) > _MAX_FIELD:
                raise SecureUsageError(f"certification {name} must be 1-{_MAX_FIELD} bytes of text")
        try:
            dt.date.fromisoformat(self.date)
        except ValueError:
            raise SecureUsageError("certification date must be YYYY-MM-DD") from None

    def describe(self) -> str:
        """``JC-STAR level 1 (JCS-0001, 2026-04-01)``."""
        return f"{self.programme} level {self.level} ({self.identifier}, {self.date})"

    def to_document(self) -> dict[str, str]:
        return {"programme": self.programme, "level": self.level, "identifier": self.identifier, "date": self.date}

    def meets(self, programme: str, level: str) -> bool:
        """Whether this certification is of ``programme`` at ``level`` or above."""
        if self.programme.casefold() != programme.casefold():
            return False
        if self.level.isdigit() and level.isdigit():
            return int(self.level) >= int(level)
        return self.level == level


def _tlv(tag: int, body: bytes) -> bytes:
    n = len(body)
    if n < 0x80:
        return bytes((tag, n)) + body
    if n < 0x100:
        return bytes((tag, 0x81, n)) + body
    return bytes((tag, 0x82, n >> 8, n & 0xFF)) + body


def _take(data: bytes, tag: int) -> tuple[bytes, bytes]:
    """One DER TLV of ``tag`` (definite, minimal length) and the rest; :class:`CertificateError` otherwise."""
    if len(data) < 2 or data[0] != tag:
        raise CertificateError("malformed", "malformed certification extension")
    first = data[1]
    if first < 0x80:
        n, pos = first, 2
    elif first == 0x81 and len(data) >= 3 and data[2] >= 0x80:
        n, pos = data[2], 3
    elif first == 0x82 and len(data) >= 4 and data[2] != 0:
        n, pos = (data[2] << 8) | data[3], 4
    else:
        raise CertificateError("malformed", "malformed certification extension length")
    if len(data) < pos + n:
        raise CertificateError("malformed", "truncated certification extension")
    return data[pos : pos + n], data[pos + n :]


def encode_certification(certification: Certification) -> bytes:
    """The DER value of the extension (see the module documentation)."""
    body = _tlv(0x02, bytes((_VERSION,)))
    for text in (certification.programme, certification.level, certification.identifier, certification.date):
        body += _tlv(0x0C, text.encode())
    return _tlv(0x30, body)


def decode_certification(value: bytes) -> Certification:
    """Strict DER decoding of the extension value."""
    body, rest = _take(value, 0x30)
    if rest:
        raise CertificateError("malformed", "trailing bytes after the certification extension")
    version, body = _take(body, 0x02)
    if version != bytes((_VERSION,)):
        raise CertificateError("malformed", "unsupported certification extension version")
    fields = []
    for _ in range(4):
        raw, body = _take(body, 0x0C)
        try:
            fields.append(raw.decode())
        except UnicodeDecodeError:
            raise CertificateError("malformed", "certification text is not UTF-8") from None
    if body:
        raise CertificateError("malformed", "unexpected fields in the certification extension")
    try:
        return Certification(*fields)
    except SecureUsageError as exc:
        raise CertificateError("malformed", str(exc)) from None


def certification_extension(certification: Certification) -> x509.UnrecognizedExtension:
    """The extension to add (non-critical) to a certificate being issued."""
    return x509.UnrecognizedExtension(CERTIFICATION_OID, encode_certification(certification))


def certification_of(cert: x509.Certificate) -> Certification | None:
    """The certification attribute of ``cert``, ``None`` without one; :class:`CertificateError` if malformed."""
    try:
        ext = cert.extensions.get_extension_for_oid(CERTIFICATION_OID)
    except x509.ExtensionNotFound:
        return None
    value = ext.value
    if not isinstance(value, x509.UnrecognizedExtension):
        raise CertificateError("malformed", "unexpected certification extension type")
    return decode_certification(value.value)


# ------------------------------------------------------------------------------------------ withdrawal


@dataclass(frozen=True)
class Withdrawal:
    identifier: str
    date: str
    reason: str = ""


@dataclass(frozen=True)
class WithdrawalList:
    """A verified withdrawal list: its number, when it was issued, and the withdrawn certificate identifiers."""

    number: int
    issued: float
    entries: tuple[Withdrawal, ...]

    def find(self, identifier: str) -> Withdrawal | None:
        for entry in self.entries:
            if entry.identifier == identifier:
                return entry
        return None


def _signed_part(number: int, issued: float, entries: Iterable[Withdrawal]) -> bytes:
    document = {
        "number": number,
        "issued": issued,
        "withdrawn": [{"identifier": e.identifier, "date": e.date, "reason": e.reason} for e in entries],
    }
    return json.dumps(document, sort_keys=True, separators=(",", ":")).encode()


def issue_withdrawals(
    *,
    ca_key: ec.EllipticCurvePrivateKey,
    ca_cert: x509.Certificate,
    entries: Sequence[Withdrawal],
    number: int,
    now: float,
) -> bytes:
    """A signed withdrawal list (JSON) to publish next to the CRL."""
    if number < 1:
        raise SecureUsageError("a withdrawal list number starts at 1")
    payload = _signed_part(number, float(int(now)), entries)
    signature = ca_key.sign(payload, ec.ECDSA(hashes.SHA256()))
    document = json.loads(payload)
    document["issuer"] = ca_cert.subject.rfc4514_string()
    document["signature"] = base64.b64encode(signature).decode()
    return json.dumps(document, indent=1, sort_keys=True).encode() + b"\n"


def load_withdrawals(data: bytes, issuers: Iterable[x509.Certificate]) -> WithdrawalList:
    """Parse and verify a withdrawal list against ``issuers``; :class:`CertificateError` when it does not verify."""
    try:
        document = json.loads(data)
        number = document["number"]
        issued = document["issued"]
        raw = document["withdrawn"]
        signature = base64.b64decode(document["signature"], validate=True)
        entries = tuple(
            Withdrawal(str(item["identifier"]), str(item["date"]), str(item.get("reason", ""))) for item in raw
        )
    except (ValueError, KeyError, TypeError):
        raise CertificateError("malformed", "unreadable certification withdrawal list") from None
    if type(number) is not int or number < 1 or not isinstance(issued, int | float):
        raise CertificateError("malformed", "bad number or date in the withdrawal list")
    payload = _signed_part(number, float(issued), entries)
    for issuer in issuers:
        key = issuer.public_key()
        if not isinstance(key, ec.EllipticCurvePublicKey):
            continue
        try:
            key.verify(signature, payload, ec.ECDSA(hashes.SHA256()))
        except InvalidSignature:
            continue
        return WithdrawalList(number, float(issued), entries)
    raise CertificateError("crl_bad_signature", "the withdrawal list is not signed by a trusted issuer")


class CertificationPolicy:
    """What a node demands of its peers' certification, and the withdrawal list it watches.

    ``require``: ``(programme, level)`` a peer's certificate must carry (``None``: nothing required, the status is
    only shown). ``withdrawals``: a withdrawal list file (re-read when it changes; a replacement that does not
    verify or is older is refused and the one in use kept). ``issuers``: who may sign it.
    """

    def __init__(
        self,
        *,
        require: tuple[str, str] | None = None,
        withdrawals: str | os.PathLike[str] | None = None,
        issuers: Sequence[x509.Certificate] = (),
    ) -> None:
        self.require = require
        self.path = None if withdrawals is None else Path(withdrawals)
        self.issuers = tuple(issuers)
        self._stamp: object = None
        self._list: WithdrawalList | None = None
        #: Why the last replacement of the list was refused (``None``: it was not).
        self.rejected: str | None = None

    def current(self) -> WithdrawalList | None:
        """The withdrawal list in use, re-read first if its file changed."""
        if self.path is None:
            return None
        stamp = store.file_stamp(self.path)
        if stamp != self._stamp:
            self._stamp = stamp
            if stamp is not None:
                try:
                    candidate = load_withdrawals(store.read_file(self.path), self.issuers)
                except (CertificateError, StoreError, OSError) as exc:
                    self.rejected = str(exc)
                else:
                    if self._list is not None and candidate.number < self._list.number:
                        self.rejected = (
                            f"withdrawal list number {candidate.number} is older than {self._list.number} in use"
                        )
                    else:
                        self._list = candidate
                        self.rejected = None
        return self._list

    def version(self) -> object:
        """Changes when the withdrawal list file changes (see :func:`secure.trust.verifiers.trust_version`)."""
        return None if self.path is None else store.file_stamp(self.path)

    def status(self, certification: Certification | None) -> str:
        """``certified``, ``withdrawn`` or ``none``."""
        if certification is None:
            return "none"
        listed = self.current()
        if listed is not None and listed.find(certification.identifier) is not None:
            return "withdrawn"
        return "certified"

    def check(self, certification: Certification | None) -> str:
        """The status; :class:`CredentialRejectedError` when the policy requires a certification this does not
        meet (missing, another programme or a lower level, or withdrawn)."""
        status = self.status(certification)
        if self.require is None:
            return status
        programme, level = self.require
        if certification is None:
            raise CredentialRejectedError(f"certification required ({programme} level {level}); the peer has none")
        if not certification.meets(programme, level):
            raise CredentialRejectedError(
                f"certification required ({programme} level {level}); the peer has {certification.describe()}"
            )
        if status == "withdrawn":
            raise CredentialRejectedError(f"certification {certification.identifier} was withdrawn")
        return status
