"""``echonet demo --secure``: the demo's three devices with the battery secured and the two water heaters legacy.

A throwaway CA (:mod:`echonet.drready.secure_setup`) issues the battery a device certificate that binds its node's
identification number (0x83) and a controller certificate for the aggregator; each side enrols the other.

* :class:`SecureDemoDay` plugs into :func:`echonet.drready.demo.run_demo` (:func:`run_secure_demo`): the battery's
  node is behind the secure layer from before its first datagram, the aggregator is a
  :class:`~secure.aio.SecureController` that reaches the battery over EDHOC + OSCORE only (discovery included) and
  the water heaters in plain ECHONET Lite as legacy devices, with operator consent scoped to the SetC writes the
  DR day makes (peer, object, EPCs) and limited in time. Before the day a write outside that scope is refused.
* :func:`secure_overview` is the short version: every device read once, one refused write, no DR day.

The audit logs, allow-lists and policy live in a temporary directory.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import tempfile
import time
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from secure import audit
from secure.errors import PolicyDeniedError, SecureUsageError
from secure.layer.aio import SecureController, open_secure_controller, open_secure_server
from secure.layer.core import SecureLayer
from secure.policy.consent import ConsentGrant, ConsentScope
from secure.policy.rules import Policy, PolicyStore
from secure.policy.values import describe_version

from ..aio import Controller, DeviceServer, Endpoints, NodeRunner
from ..errors import EchonetError
from ..frame import EOJ, ESV
from ..node import NodeConfig
from ..node.events import Addr
from .secure_setup import LEGACY_VERSION, DemoCredentials, audit_counts, demo_credentials

if TYPE_CHECKING:
    from .demo import DemoConfig, DemoResult, Progress

__all__ = [
    "DayDevice",
    "DeviceStatus",
    "SecureDayReport",
    "SecureDemoDay",
    "SecureOverview",
    "run_secure_demo",
    "secure_overview",
]

_KINDS = (
    ("water_heater", "water heater", False),
    ("hybrid_water_heater", "hybrid heater", False),
    ("battery", "battery", True),
)


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


async def secure_overview(bind_base: str = "127.0.0.100", *, workdir: Path | None = None) -> SecureOverview:
    """Run the overview (see the module documentation)."""
    with contextlib.ExitStack() as stack:
        tmp = workdir if workdir is not None else Path(stack.enter_context(tempfile.TemporaryDirectory()))
        return await _overview(bind_base, tmp)
    raise AssertionError("unreachable")  # pragma: no cover


async def _overview(bind_base: str, tmp: Path) -> SecureOverview:
    from .clock import SimClock
    from .sim import simulated_device, simulated_node

    base = [int(part) for part in bind_base.split(".")]
    ips = [".".join(str(x) for x in (*base[:3], base[3] + i)) for i in (1, 2, 3)]
    now = time.time()
    clock = SimClock(now)
    config = NodeConfig(timeout=1.0, retries=1, multicast_v6=None)
    nodes = [simulated_node([simulated_device(kind, 1, clock=clock)], config=config) for kind, _, _ in _KINDS]
    battery_node = nodes[2]
    battery_id = battery_node.profile.value(0x83) or b""

    creds = demo_credentials(battery_id, tmp, now=now)
    ctl_log = creds.controller_audit
    dev_log, dev_config = creds.device_audit, creds.device_config
    assert dev_log is not None and dev_config is not None
    ctl_policy = Policy()
    for ip in ips[:2]:
        ctl_policy.classify_legacy(ip, now=now, version=LEGACY_VERSION)

    def endpoints(ip: str) -> Endpoints:
        return Endpoints(bind_v4=ip, port=0, join_multicast=False)

    servers: list[Any] = []
    statuses: list[DeviceStatus] = []
    refused = "not tried"
    try:
        for (kind, label, secured), node, ip in zip(_KINDS, nodes, ips, strict=True):
            del kind, label
            if secured:
                servers.append(
                    await open_secure_server(node, endpoints(ip), dev_config, policy=Policy(), audit=dev_log)
                )
            else:
                servers.append(await DeviceServer.open(node, endpoints(ip)))
        controller = await open_secure_controller(
            endpoints(bind_base), creds.controller_config, node_config=config, policy=ctl_policy, audit=ctl_log
        )
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
                    detail = (
                        f"EDHOC method 0, OSCORE; 0x83 {str(info.get('id_number', '?')).upper()} "
                        f"{'checked' if info.get('identity_checked') else 'NOT checked'}; {reading}"
                    )
                else:
                    detail = f"plain ECHONET Lite, read-only without consent; {reading}"
                statuses.append(
                    DeviceStatus(
                        label, str(eoj), f"{addr[0]}:{addr[1]}", "secure" if status == "secure" else status, detail
                    )
                )
            legacy_node, legacy_server = nodes[0], servers[0]
            eoj = next(o.eoj for o in legacy_node.objects if o is not legacy_node.profile)
            try:
                await controller.set(legacy_server.runner.local_addresses[socket.AF_INET][:2], eoj, {0x80: b"\x31"})
                refused = "ACCEPTED (unexpected)"
            except PolicyDeniedError as exc:
                refused = f"refused ({exc.decision.reason})"
        finally:
            await controller.close()
    finally:
        for server in servers:
            await server.close()
        await asyncio.sleep(0)
    counts = audit_counts(ctl_log.path)
    verdict = audit.verify(ctl_log.path)
    creds.close()
    return SecureOverview(tuple(statuses), refused, counts, verdict.ok)


# The secured DR day --------------------------------------------------------------------------------------------------

_STAT_KEYS = (
    "handshakes_ok",
    "handshakes_failed",
    "protected",
    "unprotected",
    "plain_in",
    "plain_out",
    "downgrade_dropped",
    "policy_denied",
)


@dataclass(frozen=True)
class DayDevice:
    kind: str
    label: str
    eoj: str
    address: str
    overlay: str  #: "secure" or "legacy" (as the aggregator's layer sees the peer after the day)
    detail: str
    consent_id: str | None = None


@dataclass(frozen=True)
class SecureDayReport:
    """What the secured DR day did on the secure side (see :class:`SecureDemoDay`)."""

    devices: tuple[DayDevice, ...]
    consents: tuple[dict[str, Any], ...]
    refused_write: str
    audit_counts: dict[str, int]
    audit_ok: bool
    battery_audit_counts: dict[str, int]
    battery_audit_ok: bool
    battery_layer: dict[str, int]
    aggregator_layer: dict[str, int]
    session: dict[str, Any]

    def device_lines(self) -> list[str]:
        out = ["secure overlay (--secure): the aggregator is a secured controller; audit log in a temporary directory"]
        for d in self.devices:
            out.append(f"  {d.eoj}  {d.label:<14} {d.address:<21} {d.overlay:<7} {d.detail}")
        out.append(f"  write outside the consent (SetC 0x80 to the water heater): {self.refused_write}")
        return out

    def audit_lines(self) -> list[str]:
        def counts(c: Mapping[str, int]) -> str:
            return ", ".join(f"{k} {v}" for k, v in sorted(c.items()))

        b = self.battery_layer
        return [
            f"aggregator audit log: {counts(self.audit_counts)}; hash chain "
            f"{'verified' if self.audit_ok else 'BROKEN'}",
            f"battery audit log: {counts(self.battery_audit_counts)}; hash chain "
            f"{'verified' if self.battery_audit_ok else 'BROKEN'}",
            f"battery's secure layer: {b['protected']} record(s) sent protected, {b['unprotected']} opened, "
            f"{b['plain_in']} plain frame(s) in, {b['plain_out']} out",
        ]

    def to_json(self) -> dict[str, Any]:
        return {
            "devices": [asdict(d) for d in self.devices],
            "consents": list(self.consents),
            "refused_write": self.refused_write,
            "audit": {"counts": self.audit_counts, "chain_verified": self.audit_ok},
            "battery_audit": {"counts": self.battery_audit_counts, "chain_verified": self.battery_audit_ok},
            "battery_layer": self.battery_layer,
            "aggregator_layer": self.aggregator_layer,
            "battery_session": self.session,
        }


def _battery_id() -> bytes:
    """The 0x83 of a demo battery's node as :func:`~echonet.drready.demo.run_demo` builds it (the manufacturer code
    is the same for every one; the serial part is not)."""
    from .clock import SimClock
    from .sim import simulated_device, simulated_node

    node = simulated_node([simulated_device("battery", 1, clock=SimClock(0.0))])
    return node.profile.value(0x83) or b""


class SecureDemoDay:
    """The secure overlay of ``echonet demo --secure``: a :class:`echonet.drready.demo.DemoOverlay`.

    Call :meth:`finish` after :func:`~echonet.drready.demo.run_demo` (it verifies and closes the audit logs)."""

    def __init__(self, config: DemoConfig, workdir: Path) -> None:
        self.config = config
        self.workdir = workdir
        # the maker code the battery's node shows (its identification number follows from the device: issued later)
        self.creds = DemoCredentials(workdir, now=time.time(), maker=_battery_id()[1:4])
        self.policy = PolicyStore(workdir / "aggregator.policy.json", audit=self.creds.controller_audit)
        #: Consent lasts the run's expected wall time and ten minutes more.
        self.consent_seconds = 600.0 + config.hours * 3600.0 / config.speed
        self.battery_layer: SecureLayer | None = None
        self.controller: SecureController | None = None
        self.grants: dict[str, ConsentGrant] = {}
        self.targets: dict[str, tuple[Addr, EOJ]] = {}
        self.refused_write = "not tried"
        self.devices: tuple[DayDevice, ...] = ()
        self.session: dict[str, Any] = {}

    async def open_controller(self, endpoints: Endpoints, config: NodeConfig) -> Controller:
        from .demo import HEATER_WRITES, device_address

        now = time.time()
        for kind in HEATER_WRITES:  # before discovery: a plain Get to an unknown peer would start a handshake
            self.policy.classify_legacy(device_address(self.config, kind), now=now, version=LEGACY_VERSION)
        self.controller = await open_secure_controller(
            endpoints,
            self.creds.controller_config,
            node_config=config,
            policy=self.policy,
            audit=self.creds.controller_audit,
        )
        return self.controller

    def prepare(self, kind: str) -> Callable[[NodeRunner], object] | None:
        from .demo import BATTERY

        if kind != BATTERY:
            return None

        def attach(runner: NodeRunner) -> SecureLayer:
            node = runner.node
            config = self.creds.add_device(node.profile.value(0x83) or b"")  # the certificate binds the node's 0x83
            layer = SecureLayer(node, config, policy=Policy(), audit=self.creds.device_audit)
            runner.use_layer(layer)
            self.battery_layer = layer
            return layer

        return attach

    async def before_day(self, ctl: Controller, targets: Mapping[str, tuple[Addr, EOJ]]) -> None:
        """Consent for the DR day's writes to each heater, then one write outside it (refused)."""
        from .demo import BATTERY, HEATER_WRITES, WATER_HEATER

        if not isinstance(ctl, SecureController):
            raise SecureUsageError("the secure demo needs a secured controller")
        self.targets = dict(targets)
        status = ctl.peer_status(str(targets[BATTERY][0][0]))
        if status != "secure":
            raise EchonetError(f"the battery was not discovered over the secure overlay (status: {status})")
        for kind, epcs in HEATER_WRITES.items():
            addr, eoj = targets[kind]
            version = LEGACY_VERSION
            with contextlib.suppress(EchonetError):  # the version shown to the operator: the device's own 0x82
                got = (await ctl.get(addr, EOJ(0x0E, 0xF0, 0x01), [0x82])).values.get(0x82)
                version = describe_version(got) if got else version
            scope = ConsentScope(
                peer=str(addr[0]), eoj=bytes(eoj), esvs=frozenset({int(ESV.SETC)}), epcs=frozenset(epcs)
            )
            self.grants[kind] = self.policy.grant(
                scope,
                now=time.time(),
                duration=self.consent_seconds,
                who="demo operator",
                why="echonet demo --secure: the DR day's writes to this water heater",
                version=version,
            )
        addr, eoj = targets[WATER_HEATER]
        try:
            await ctl.set(addr, eoj, {0x80: b"\x31"})
            self.refused_write = "ACCEPTED (unexpected)"
        except PolicyDeniedError as exc:
            self.refused_write = f"refused ({exc.decision.reason})"

    async def after_day(self, ctl: Controller) -> None:
        from .demo import LABELS

        assert isinstance(ctl, SecureController)
        devices = []
        for kind, (addr, eoj) in self.targets.items():
            ip = str(addr[0])
            status = ctl.peer_status(ip)
            grant = self.grants.get(kind)
            if grant is not None:
                epcs = ",".join(f"0x{e:02X}" for e in sorted(grant.scope.epcs or ()))
                detail = (
                    f"plain ECHONET Lite; consent {grant.id[:8]}: SetC of {epcs} for "
                    f"{(grant.expires_at - grant.granted_at) / 60:.0f} min"
                )
            else:
                info = dict(ctl.layer.session_info(ip) or {})
                self.session = info
                checked = "checked" if info.get("identity_checked") else "NOT checked"
                detail = (
                    f"EDHOC + OSCORE; 0x83 {str(info.get('id_number', '?')).upper()} {checked}; "
                    f"{info.get('encryptions', 0)} request(s) protected"
                )
            devices.append(
                DayDevice(
                    kind,
                    LABELS[kind],
                    str(eoj),
                    f"{addr[0]}:{addr[1]}",
                    status,
                    detail,
                    grant.id if grant is not None else None,
                )
            )
        self.devices = tuple(devices)

    def finish(self) -> SecureDayReport:
        """Verify the audit chains and close the logs."""
        ctl_log, dev_log = self.creds.controller_audit, self.creds.device_audit
        self.creds.close()
        dev_counts, dev_ok = (
            ({}, False) if dev_log is None else (audit_counts(dev_log.path), audit.verify(dev_log.path).ok)
        )
        battery = asdict(self.battery_layer.stats) if self.battery_layer is not None else {}
        aggregator = asdict(self.controller.layer.stats) if self.controller is not None else {}
        consents = tuple(
            {
                "device": kind,
                "consent_id": g.id,
                "scope": g.scope.describe(),
                "granted_by": g.granted_by,
                "why": g.why,
                "seconds": round(g.expires_at - g.granted_at, 1),
            }
            for kind, g in self.grants.items()
        )
        return SecureDayReport(
            self.devices,
            consents,
            self.refused_write,
            audit_counts(ctl_log.path),
            audit.verify(ctl_log.path).ok,
            dev_counts,
            dev_ok,
            {k: int(battery.get(k, 0)) for k in _STAT_KEYS},
            {k: int(aggregator.get(k, 0)) for k in _STAT_KEYS},
            self.session,
        )


async def run_secure_demo(
    config: DemoConfig,
    *,
    progress: Callable[[Progress], None] | None = None,
    workdir: Path | None = None,
) -> tuple[DemoResult, SecureDayReport]:
    """The DR day with the battery secured and the water heaters legacy (with consent)."""
    from .demo import run_demo

    with contextlib.ExitStack() as stack:
        tmp = workdir if workdir is not None else Path(stack.enter_context(tempfile.TemporaryDirectory()))
        day = SecureDemoDay(config, tmp)
        try:
            result = await run_demo(config, progress=progress, overlay=day)
        finally:
            report = day.finish()
        return result, report
    raise AssertionError("unreachable")  # pragma: no cover
