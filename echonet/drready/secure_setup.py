"""Credentials for ``echonet demo --secure``: a throwaway CA, a device certificate binding a node's 0x83, a controller
certificate, each side's allow-list enrolling the other, and each side's audit log (all in a working directory).

Used by :func:`echonet.drready.secure_demo.secure_overview` and by the secured DR day
(:class:`echonet.drready.secure_demo.SecureDemoDay`).
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from secure import audit
from secure.handshake.cose import Credential, LocalCredential
from secure.layer.config import SecureConfig
from secure.trust import credentials
from secure.trust.allowlist import AllowList
from secure.trust.verifiers import CertificateVerifier

__all__ = ["LEGACY_VERSION", "DemoCredentials", "audit_counts", "demo_credentials"]

#: The protocol version (node profile 0x82) the operator is shown when classifying a demo heater as legacy.
LEGACY_VERSION = "01 0e 01 00"


class DemoCredentials:
    """A throwaway CA for manufacturer code ``maker``, the controller's certificate, secure configuration, allow-list
    and audit log, and (:meth:`add_device`) the device's. Close the logs with :meth:`close`."""

    def __init__(self, workdir: Path, *, now: float, maker: bytes, controller: str = "aggregator") -> None:
        self.workdir = workdir
        self.now = now
        self.maker = maker
        root_key, self.root = credentials.create_root_ca(common_name="Demo Root", now=now, maker_code=maker)
        self._ca_key, self._ca = credentials.create_device_ca(
            root_key=root_key, root_cert=self.root, common_name="Demo CA", now=now
        )
        ctl_local, self.controller_cert = self._leaf(b"\xfe" + maker + b"AGGREGATOR000", credentials.Role.CONTROLLER)
        self.controller_audit = audit.AuditLog(workdir / f"{controller}.audit.jsonl")
        self.controller_allow = AllowList(workdir / f"{controller}.allow.json", audit=self.controller_audit)
        self.controller_config = SecureConfig(
            credential=ctl_local,
            initiate=True,
            respond=False,
            verifier=CertificateVerifier([self.root], allowlist=self.controller_allow, role=credentials.Role.DEVICE),
        )
        self.device_id = b""
        self.device_config: SecureConfig | None = None
        self.device_cert: x509.Certificate | None = None
        self.device_audit: audit.AuditLog | None = None
        self.device_allow: AllowList | None = None

    def _leaf(self, id_number: bytes, role: credentials.Role) -> tuple[LocalCredential, x509.Certificate]:
        key = credentials.generate_private_key()
        cert = credentials.issue_certificate(
            ca_key=self._ca_key,
            ca_cert=self._ca,
            public_key=key.public_key(),
            identity=credentials.EchonetIdentity(id_number, self.maker),
            role=role,
            now=self.now,
        )
        return LocalCredential(Credential.from_x509(_der(cert), chain=[_der(self._ca)]), key), cert

    def add_device(self, device_id: bytes, *, name: str = "battery") -> SecureConfig:
        """Issue the device a certificate binding its node's 0x83 ``device_id``, enrol it with the controller and the
        controller with it; the device's secure configuration (its audit log: :attr:`device_audit`)."""
        local, cert = self._leaf(device_id, credentials.Role.DEVICE)
        self.device_audit = audit.AuditLog(self.workdir / f"{name}.audit.jsonl")
        self.device_allow = AllowList(self.workdir / f"{name}.allow.json", audit=self.device_audit)
        self.device_allow.enrol_certificate(self.controller_cert, now=self.now, label="demo aggregator")
        self.controller_allow.enrol_certificate(cert, now=self.now, label=f"demo {name}")
        self.device_id, self.device_cert = device_id, cert
        self.device_config = SecureConfig(
            credential=local,
            respond=True,
            verifier=CertificateVerifier([self.root], allowlist=self.device_allow, role=credentials.Role.CONTROLLER),
        )
        return self.device_config

    def close(self) -> None:
        self.controller_audit.close()
        if self.device_audit is not None:
            self.device_audit.close()


def _der(cert: Any) -> bytes:
    data: bytes = cert.public_bytes(serialization.Encoding.DER)
    return data


def demo_credentials(device_id: bytes, workdir: Path, *, now: float, device: str = "battery") -> DemoCredentials:
    """Credentials for a controller and one device whose node's 0x83 is ``device_id`` (see :class:`DemoCredentials`)."""
    creds = DemoCredentials(workdir, now=now, maker=device_id[1:4])
    creds.add_device(device_id, name=device)
    return creds


def audit_counts(path: Path) -> dict[str, int]:
    """Records per event type in an audit log."""
    counts = Counter(
        line.split('"event":"', 1)[1].split('"', 1)[0] for line in path.read_text().splitlines() if '"event":"' in line
    )
    return dict(counts)
