"""Shared helpers for the EDHOC tests: the RFC 9529 trace parser and credential factories.

The traces are read at test time from ``../shared/rfc/rfc9529-edhoc-traces.md`` beside the repository; tests that
need them skip cleanly where that directory is absent (``test_edhoc_traces.py`` also hard-codes the trace 2
values of one test so that it proves something without ``shared/``).
"""

from __future__ import annotations

import datetime
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from cryptography.x509.oid import NameOID

from secure.handshake.cose import Credential, LocalCredential

SHARED = Path(__file__).resolve().parents[2].parent / "shared"
TRACES_MD = SHARED / "rfc" / "rfc9529-edhoc-traces.md"

TRACE_1 = "Authentication with Signatures, X.509 Certificates Identified by 'x5t'"
TRACE_2 = "Authentication with Static DH, CCS Identified by 'kid'"
INVALID = "Invalid Traces"

_HEX_ROW = re.compile(r"^(?:[0-9a-fA-F]{2})(?: [0-9a-fA-F]{2})*$")
_SIZE = re.compile(r"^(?P<name>.*?)\s*\((?P<n>\d+) bytes?\)$")


@dataclass(frozen=True)
class TraceValue:
    section: str
    subsection: str
    title: str  # e.g. "TH_2 (Raw Value)"
    header: str  # every header line of the block joined, e.g. "Initiator's ephemeral private key X (Raw Value)"
    data: bytes


class Traces:
    """Every ``~~~~~~~~`` block of RFC 9529 that carries a byte count, indexed by section and title."""

    def __init__(self, text: str) -> None:
        self.values: list[TraceValue] = list(self._parse(text))

    @staticmethod
    def _parse(text: str) -> Iterator[TraceValue]:
        section = subsection = ""
        block: list[str] | None = None
        for line in text.splitlines():
            if block is None:
                if line.startswith("# "):
                    section, subsection = line[2:].split("{#")[0].strip(" #"), ""
                elif line.startswith("## ") or line.startswith("### "):
                    subsection = line.lstrip("#").split("{#")[0].strip()
                elif line.strip() == "~~~~~~~~":
                    block = []
                continue
            if line.strip() != "~~~~~~~~":
                block.append(line.strip())
                continue
            header = [row for row in block if row and not _HEX_ROW.match(row)]
            rows = [row for row in block if row and _HEX_ROW.match(row)]
            block = None
            if not header:
                continue
            match = _SIZE.match(header[-1])
            if match is None:
                continue
            data = bytes.fromhex("".join(rows))
            if len(data) != int(match.group("n")):
                raise AssertionError(f"trace block {header!r} has {len(data)} bytes, says {match.group('n')}")
            yield TraceValue(
                section, subsection, match.group("name"), " ".join([*header[:-1], match.group("name")]), data
            )

    def get(self, section: str, title: str, subsection: str | None = None) -> bytes:
        """The unique value titled ``title`` (case-insensitive) in ``section`` (and ``subsection`` prefix)."""
        found = [
            v
            for v in self.values
            if v.section == section
            and v.title.casefold() == title.casefold()
            and (subsection is None or v.subsection.startswith(subsection))
        ]
        if len(found) != 1:
            raise KeyError(f"{len(found)} trace values titled {title!r} in {section!r}/{subsection!r}")
        return found[0].data

    def in_subsection(self, section: str, subsection: str) -> list[TraceValue]:
        return [v for v in self.values if v.section == section and v.subsection == subsection]


def load_traces() -> Traces:
    if not TRACES_MD.is_file():
        pytest.skip(f"RFC 9529 traces not found at {TRACES_MD} (../shared is absent)")
    return Traces(TRACES_MD.read_text(encoding="utf-8"))


# --------------------------------------------------------------------------------------------- credentials


@dataclass(frozen=True)
class Pki:
    """A two-level test PKI: root CA -> end-entity certificates."""

    root_key: ec.EllipticCurvePrivateKey
    root_der: bytes

    @classmethod
    def create(cls) -> Pki:
        key = ec.generate_private_key(ec.SECP256R1())
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Test Root P-256")])
        now = datetime.datetime(2024, 1, 1, tzinfo=datetime.UTC)
        cert = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(key.public_key())
            .serial_number(1)
            .not_valid_before(now)
            .not_valid_after(now + datetime.timedelta(days=3650))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256())
        )
        return cls(key, cert.public_bytes(serialization.Encoding.DER))

    def issue(
        self, common_name: str, key: ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey, serial: int
    ) -> bytes:
        root = x509.load_der_x509_certificate(self.root_der)
        now = datetime.datetime(2024, 1, 1, tzinfo=datetime.UTC)
        cert = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)]))
            .issuer_name(root.subject)
            .public_key(key.public_key())
            .serial_number(serial)
            .not_valid_before(now)
            .not_valid_after(now + datetime.timedelta(days=365))
            .sign(self.root_key, hashes.SHA256())
        )
        return cert.public_bytes(serialization.Encoding.DER)

    def device(self, common_name: str, serial: int) -> LocalCredential:
        key = ec.generate_private_key(ec.SECP256R1())
        der = self.issue(common_name, key, serial)
        return LocalCredential(Credential.from_x509(der, chain=[self.root_der]), key)

    def verifier(self) -> ChainVerifier:
        return ChainVerifier(self.root_der)


@dataclass
class ChainVerifier:
    """A stand-in for the chain validation module: checks that the end-entity certificate is signed by the root.

    Records every credential it was asked about, so tests can see by-value vs by-reference resolution.
    """

    root_der: bytes
    seen: list[Credential] | None = None

    def __call__(self, cred: Credential) -> ec.EllipticCurvePublicKey | None:
        if self.seen is None:
            self.seen = []
        self.seen.append(cred)
        root = x509.load_der_x509_certificate(self.root_der)
        cert = x509.load_der_x509_certificate(cred.value)
        try:
            cert.verify_directly_issued_by(root)
        except (ValueError, TypeError, InvalidSignature):
            return None
        key = cred.public_key
        return key if isinstance(key, ec.EllipticCurvePublicKey) else None
