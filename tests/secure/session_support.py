"""Helpers for the secure layer tests: a small PKI, a battery, and secured pairs on loopback UDP."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from echonet.aio import Endpoints
from echonet.frame import EOJ
from echonet.node import DeviceObject, Node, NodeConfig, NodeProfile
from secure.audit import AuditLog
from secure.handshake.cose import Credential, LocalCredential, make_ccs
from secure.handshake.messages import Method
from secure.layer.aio import SecureController, SecureDeviceServer, open_secure_controller, open_secure_server
from secure.layer.config import SecureConfig
from secure.policy.rules import Policy
from secure.trust import credentials as cred
from secure.trust.allowlist import AllowList
from secure.trust.verifiers import CertificateVerifier, PinnedKeyVerifier, key_fingerprint

T0 = 1_800_000_000.0
MAKER = bytes.fromhex("00007b")
DEVICE_ID = bytes.fromhex("fe00007b0102030405060708090a0b0c0d")
CONTROLLER_ID = bytes.fromhex("fe00007b0d0c0b0a090807060504030201")
BATTERY = EOJ(0x02, 0x7D, 0x01)
FAST = NodeConfig(timeout=1.0, retries=1, multicast_v6=None)


def wall() -> float:
    return T0 + 3600.0


def battery() -> DeviceObject:
    values = {
        0x80: b"\x30",
        0x81: b"\x00",
        0x82: b"\x00\x00R\x01",
        0x88: b"\x42",
        0x8A: MAKER,
        0xDA: b"\x44",
        0xE4: b"\x32",
    }
    return DeviceObject(BATTERY, values, settable=[0xDA])


def device_node(identification: bytes = DEVICE_ID) -> Node:
    return Node([battery()], config=FAST, profile=NodeProfile(identification=identification))


def der(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.DER)


class Site:
    """A manufacturer root, a device CA, and leaf credentials."""

    def __init__(self) -> None:
        self.root_key, self.root = cred.create_root_ca(common_name="Test Root", now=T0, maker_code=MAKER)
        self.ca_key, self.ca = cred.create_device_ca(
            root_key=self.root_key, root_cert=self.root, common_name="Test Device CA", now=T0
        )

    def leaf(self, id_number: bytes, role: cred.Role) -> tuple[LocalCredential, x509.Certificate]:
        key = cred.generate_private_key()
        cert = cred.issue_certificate(
            ca_key=self.ca_key,
            ca_cert=self.ca,
            public_key=key.public_key(),
            identity=cred.EchonetIdentity(id_number, MAKER),
            role=role,
            now=T0,
        )
        return LocalCredential(Credential.from_x509(der(cert), chain=[der(self.ca)]), key), cert


_SITE: Site | None = None


def site() -> Site:
    global _SITE
    if _SITE is None:
        _SITE = Site()
    return _SITE


@dataclass
class Side:
    config: SecureConfig
    allowlist: AllowList
    audit: AuditLog
    policy: Policy = field(default_factory=Policy)
    local: LocalCredential | None = None


def certificate_sides(tmp: Path, **overrides: Any) -> tuple[Side, Side]:
    """(controller side, device side) with method 0 certificates, each allow-listing the other."""
    s = site()
    dev_cred, dev_cert = s.leaf(DEVICE_ID, cred.Role.DEVICE)
    ctl_cred, ctl_cert = s.leaf(CONTROLLER_ID, cred.Role.CONTROLLER)
    sides = []
    for name, local, peer_cert, peer_role, initiate in (
        ("controller", ctl_cred, dev_cert, cred.Role.DEVICE, True),
        ("device", dev_cred, ctl_cert, cred.Role.CONTROLLER, False),
    ):
        log = AuditLog(tmp / f"{name}.audit.jsonl")
        allow = AllowList(tmp / f"{name}.allow.json", audit=log)
        allow.enrol_certificate(peer_cert, now=wall(), label=f"test {peer_role.value}")
        verifier = CertificateVerifier([s.root], allowlist=allow, role=peer_role)
        config = SecureConfig(
            credential=local, verifier=verifier, initiate=initiate, respond=not initiate, handshake_timeout=0.3
        )
        config = replace(config, **overrides)
        sides.append(Side(config, allow, log, local=local))
    return sides[0], sides[1]


def static_dh_sides(tmp: Path) -> tuple[Side, Side]:
    """(controller side, device side) with method 3 (static DH keys in CCS), pinned by fingerprint."""
    keys = {name: ec.generate_private_key(ec.SECP256R1()) for name in ("controller", "device")}
    locals_ = {
        name: LocalCredential(
            Credential.from_ccs(make_ccs(key.public_key(), kid=bytes((i + 0x10,)), subject=name)), key
        )
        for i, (name, key) in enumerate(keys.items())
    }
    sides = []
    for name, peer, initiate in (("controller", "device", True), ("device", "controller", False)):
        log = AuditLog(tmp / f"{name}.audit.jsonl")
        allow = AllowList(tmp / f"{name}.allow.json", audit=log)
        allow.enrol_fingerprint(key_fingerprint(keys[peer].public_key()), now=wall(), label=peer)
        config = SecureConfig(
            credential=locals_[name],
            verifier=PinnedKeyVerifier(allow),
            initiate=initiate,
            respond=not initiate,
            method=Method.STATIC_STATIC,
            handshake_timeout=0.3,
            cross_check=False,
        )
        sides.append(Side(config, allow, log, local=locals_[name]))
    return sides[0], sides[1]


@dataclass
class Pair:
    controller: SecureController
    device: SecureDeviceServer
    ctl_side: Side
    dev_side: Side

    @property
    def device_addr(self) -> tuple[str, int]:
        host, port = self.device.runner.local_addresses[socket.AF_INET][:2]
        return str(host), int(port)

    @property
    def controller_addr(self) -> tuple[str, int]:
        host, port = self.controller.runner.local_addresses[socket.AF_INET][:2]
        return str(host), int(port)


def endpoints(ip: str) -> Endpoints:
    return Endpoints(bind_v4=ip, port=0, join_multicast=False)


@contextlib.asynccontextmanager
async def secured_pair(
    ctl_side: Side,
    dev_side: Side,
    ctl_ip: str,
    dev_ip: str,
    *,
    node: Callable[[], Node] = device_node,
) -> AsyncIterator[Pair]:
    device = await open_secure_server(
        node(), endpoints(dev_ip), dev_side.config, policy=dev_side.policy, audit=dev_side.audit, wall_clock=wall
    )
    controller = await open_secure_controller(
        endpoints(ctl_ip),
        ctl_side.config,
        node_config=FAST,
        policy=ctl_side.policy,
        audit=ctl_side.audit,
        wall_clock=wall,
    )
    try:
        yield Pair(controller, device, ctl_side, dev_side)
    finally:
        await controller.close()
        await device.close()


class RawPeer:
    """A plain UDP socket on loopback for injecting datagrams and counting what comes back."""

    def __init__(self, ip: str) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind((ip, 0))
        self.sock.setblocking(False)
        self.sent = 0
        self.received: list[bytes] = []

    def send(self, data: bytes, addr: tuple[str, int]) -> None:
        self.sock.sendto(data, addr)
        self.sent += len(data)

    async def collect(self, seconds: float = 0.15) -> list[bytes]:
        await asyncio.sleep(seconds)
        got = []
        while True:
            try:
                data, _ = self.sock.recvfrom(65535)
            except BlockingIOError:
                break
            got.append(data)
        self.received.extend(got)
        return got

    @property
    def bytes_received(self) -> int:
        return sum(len(d) for d in self.received)

    def close(self) -> None:
        self.sock.close()


def audit_events(log: AuditLog) -> list[dict[str, Any]]:
    import json

    return [json.loads(line) for line in log.path.read_text().splitlines() if line.strip()]


async def settle(seconds: float = 0.1) -> None:
    await asyncio.sleep(seconds)
