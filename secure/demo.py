"""``echonet demo --secure``: the demo's three devices with the battery secured and the two water heaters legacy.

A throwaway CA issues the battery a device certificate that binds its node's identification number (0x83) and a
controller certificate for the aggregator; each side enrols the other. The aggregator then reads every device:

* the battery over the secure overlay (cookie, EDHOC method 0, 0x83 cross-check, OSCORE);
* the water heaters in plain ECHONET Lite, read-only, because the operator classified them as legacy.

It then tries a write to a legacy device without consent, which the policy refuses at once. The result lists
which devices are secured and which are legacy, with the audit log's counts. Everything runs on loopback with
ephemeral ports, in a temporary directory.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import tempfile
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization

from echonet.aio import DeviceServer, Endpoints
from echonet.errors import EchonetError
from echonet.node import NodeConfig
from secure import audit, credentials
from secure.aio import PolicyDeniedError, open_secure_controller, open_secure_server
from secure.allowlist import AllowList
from secure.cose import Credential, LocalCredential
from secure.policy import Policy
from secure.session import CertificateVerifier, SecureConfig

__all__ = ["DeviceStatus", "SecureOverview", "secure_overview"]

_KINDS = (("water_heater", "water heater", False), ("hybrid_water_heater", "hybrid heater", False),
          ("battery", "battery", True))
_LEGACY_VERSION = "01 0e 01 00"


@dataclass(frozen=True)
class DeviceStatus:
    label: str
    eoj: str
    address: str
    overlay: str  # "secure" or "legacy"
    detail: str


@dataclass(frozen=True)
class SecureOverview:
    devices: tuple[DeviceStatus, ...]
    refused_write: str
    audit_counts: dict[str, int]
    audit_ok: bool

    def lines(self) -> list[str]:
        out = ["secure overlay (--secure): the aggregator and the demo's devices"]
        for d in self.devices:
            out.append(f"  {d.eoj}  {d.label:<14} {d.address:<22} {d.overlay:<7} {d.detail}")
        out.append(f"  write to a legacy device without consent: {self.refused_write}")
        counts = ", ".join(f"{k} {v}" for k, v in sorted(self.audit_counts.items()))
        out.append(f"  aggregator audit log: {counts}; hash chain {'verified' if self.audit_ok else 'BROKEN'}")
        return out


def _der(cert: Any) -> bytes:
    data: bytes = cert.public_bytes(serialization.Encoding.DER)
    return data


async def secure_overview(bind_base: str = "127.0.0.100", *, workdir: Path | None = None) -> SecureOverview:
    """Run the overview (see the module documentation)."""
    with contextlib.ExitStack() as stack:
        tmp = workdir if workdir is not None else Path(stack.enter_context(tempfile.TemporaryDirectory()))
        return await _overview(bind_base, tmp)
    raise AssertionError("unreachable")  # pragma: no cover


async def _overview(bind_base: str, tmp: Path) -> SecureOverview:
    from echonet.drready.clock import SimClock
    from echonet.drready.sim import simulated_device, simulated_node

    base = [int(part) for part in bind_base.split(".")]
    ips = [".".join(str(x) for x in (*base[:3], base[3] + i)) for i in (1, 2, 3)]
    now = time.time()
    clock = SimClock(now)
    config = NodeConfig(timeout=1.0, retries=1, multicast_v6=None)
    nodes = [simulated_node([simulated_device(kind, 1, clock=clock)], config=config) for kind, _, _ in _KINDS]
    battery_node = nodes[2]
    battery_id = battery_node.profile.value(0x83) or b""
    maker = battery_id[1:4]

    root_key, root = credentials.create_root_ca(common_name="Demo Root", now=now, maker_code=maker)
    ca_key, ca = credentials.create_device_ca(root_key=root_key, root_cert=root, common_name="Demo CA", now=now)

    def leaf(id_number: bytes, role: credentials.Role) -> tuple[LocalCredential, Any]:
        key = credentials.generate_private_key()
        cert = credentials.issue_certificate(ca_key=ca_key, ca_cert=ca, public_key=key.public_key(),
                                             identity=credentials.EchonetIdentity(id_number, maker), role=role,
                                             now=now)
        return LocalCredential(Credential.from_x509(_der(cert), chain=[_der(ca)]), key), cert

    dev_local, dev_cert = leaf(battery_id, credentials.Role.DEVICE)
    ctl_local, ctl_cert = leaf(b"\xfe" + maker + b"AGGREGATOR000", credentials.Role.CONTROLLER)
    ctl_log = audit.AuditLog(tmp / "aggregator.audit.jsonl")
    dev_log = audit.AuditLog(tmp / "battery.audit.jsonl")
    ctl_allow = AllowList(tmp / "aggregator.allow.json", audit=ctl_log)
    ctl_allow.enrol_certificate(dev_cert, now=now, label="demo battery")
    dev_allow = AllowList(tmp / "battery.allow.json", audit=dev_log)
    dev_allow.enrol_certificate(ctl_cert, now=now, label="demo aggregator")
    ctl_policy = Policy()
    for ip in ips[:2]:
        ctl_policy.classify_legacy(ip, now=now, version=_LEGACY_VERSION)

    def endpoints(ip: str) -> Endpoints:
        return Endpoints(bind_v4=ip, port=0, join_multicast=False)

    servers: list[Any] = []
    statuses: list[DeviceStatus] = []
    refused = "not tried"
    try:
        for (kind, label, secured), node, ip in zip(_KINDS, nodes, ips, strict=True):
            del kind, label
            if secured:
                dev_cfg = SecureConfig(credential=dev_local, respond=True,
                                       verifier=CertificateVerifier([root], allowlist=dev_allow,
                                                                    role=credentials.Role.CONTROLLER))
                servers.append(await open_secure_server(node, endpoints(ip), dev_cfg, policy=Policy(),
                                                        audit=dev_log))
            else:
                servers.append(await DeviceServer.open(node, endpoints(ip)))
        ctl_cfg = SecureConfig(credential=ctl_local, initiate=True, respond=False,
                               verifier=CertificateVerifier([root], allowlist=ctl_allow,
                                                            role=credentials.Role.DEVICE))
        controller = await open_secure_controller(endpoints(bind_base), ctl_cfg, node_config=config,
                                                  policy=ctl_policy, audit=ctl_log)
        try:
            for (_, label, secured), node, server, ip in zip(_KINDS, nodes, servers, ips, strict=True):
                eoj = next(o.eoj for o in node.objects if o is not node.profile)
                addr = server.runner.local_addresses[socket.AF_INET][:2]
                try:
                    got = await controller.get(addr, eoj, [0x80])
                    reading = f"0x80={got.values.get(0x80, b'').hex()}"
                except EchonetError as exc:
                    reading = f"read failed: {exc}"
                status = controller.peer_status(ip)
                if secured:
                    info = controller.layer.session_info(ip) or {}
                    detail = (f"EDHOC method 0, OSCORE; 0x83 {str(info.get('id_number', '?')).upper()} "
                              f"{'checked' if info.get('identity_checked') else 'NOT checked'}; {reading}")
                else:
                    detail = f"plain ECHONET Lite, read-only without consent; {reading}"
                statuses.append(DeviceStatus(label, str(eoj), f"{addr[0]}:{addr[1]}",
                                             "secure" if status == "secure" else status, detail))
            legacy_node, legacy_server = nodes[0], servers[0]
            eoj = next(o.eoj for o in legacy_node.objects if o is not legacy_node.profile)
            try:
                await controller.set(legacy_server.runner.local_addresses[socket.AF_INET][:2], eoj,
                                     {0x80: b"\x31"})
                refused = "ACCEPTED (unexpected)"
            except PolicyDeniedError as exc:
                refused = f"refused ({exc.decision.reason})"
        finally:
            await controller.close()
    finally:
        for server in servers:
            await server.close()
        await asyncio.sleep(0)
    counts = Counter(line.split('"event":"', 1)[1].split('"', 1)[0]
                     for line in ctl_log.path.read_text().splitlines() if '"event":"' in line)
    verdict = audit.verify(ctl_log.path)
    ctl_log.close()
    dev_log.close()
    return SecureOverview(tuple(statuses), refused, dict(counts), verdict.ok)
