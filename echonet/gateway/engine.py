"""The gateway's core: OpenADR events in, ECHONET Lite writes out, opt decisions, telemetry and persisted state.

:class:`Gateway` holds the devices (found by unicast discovery of a host list) and the events the VEN hands it
(:meth:`Gateway.accept`, a parsed oadrEvent as openleadr gives it). Every event gets one :class:`DeviceRun` per
device it targets, with the device's opt (optIn, or optOut and a reason) decided at once. :meth:`Gateway.step` then
drives each run towards where the event should be at that moment (ahead, running in interval *i*, ended), writing the
rule's EPCs (:mod:`.rules`) over UDP; a write that fails is retried at the next steps and, after ``retries``
attempts, the device is marked offline and the run opted out (the VEN sends the opt-out). Nothing here depends on
the VTN being reachable: an event accepted runs to its end, and a cancelled one ends at once. The state is written
to a small JSON file after every change, so that a gateway restarted mid-event resumes (or ends safely) what it was
doing. Every DR write to a plain device is recorded as ``legacy_use`` in the secure overlay's audit log.

A user override is detected (:meth:`Gateway.observe`): a watched setting (:data:`WATCHED`) that a telemetry read or
an INF (:meth:`Gateway.watch_notifications`) shows different from what the gateway wrote ends that run as an
opt-out ("user override") without any further write, the device left as the user set it. Behind the secure overlay
a device with a session is secure (no consent needed); the others are legacy and need the overlay's consent too.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
import os
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..aio import Controller, SetResult
from ..errors import EchonetError, EchonetUsageError
from ..frame import EOJ
from ..node.events import Addr
from ..spec.registry import Registry
from .rules import (
    AMOUNT,
    BATTERY,
    HYBRID,
    KIND_OF_CLASS,
    POWER,
    RULES,
    SHIFT_HOUR,
    UP,
    WATER_HEATER,
    WINDOW,
    Ask,
    ClassRule,
    Write,
    asks,
    rule_for,
)
from .timeline import Timeline

if TYPE_CHECKING:
    from secure.audit import AuditLog

#: Opt reasons: the gateway's reason -> the OpenADR optReason it is sent as (the enumeration has no finer codes).
OPT_REASONS: Mapping[str, str] = {
    "participating": "participating",
    "device offline": "outageRunStatus",
    "device failed during the event": "outageRunStatus",
    "legacy device without consent": "notParticipating",
    "target outside the device's limits": "mustRun",
    "user override": "overrideStatus",
    "committed to another event": "notParticipating",
}

#: Run states (the event status per device in the reports, as these codes).
STATE_CODES: Mapping[str, int] = {
    "scheduled": 1,
    "executing": 2,
    "completed": 3,
    "cancelled": 4,
    "opted_out": 5,
    "failed": 6,
}

_SETC = 0x61

_TELEMETRY: Mapping[int, tuple[int, ...]] = {
    BATTERY: (0xD3, 0xE4, 0xE2, 0xA4, 0xA5, 0xA8, 0xA9, 0xF4, 0xF2, 0xDA, 0xEB, 0xEC),
    WATER_HEATER: (0x84, 0x85, 0xF8, 0xF2, 0xB0),
    HYBRID: (0x84, 0x85, 0xF8, 0xF2, 0xB0, 0xB8),
}

#: The settings the gateway watches during a run (in its telemetry reads and in the INFs it receives): one of them
#: found different from what the gateway wrote means the user changed the device locally (a user override).
WATCHED: Mapping[int, frozenset[int]] = {
    BATTERY: frozenset({0xDA, 0xEB, 0xEC}),
    WATER_HEATER: frozenset({0xB0}),
    HYBRID: frozenset({0xB0, 0xB8}),
}


@dataclass
class Device:
    """A device the gateway controls. ``key`` is its identification number 0x83 in hex (the OpenADR resource ID)."""

    key: str
    kind: str
    addr: Addr
    eoj: EOJ
    class_id: int
    set_map: frozenset[int] = frozenset()
    get_map: frozenset[int] = frozenset()
    legacy: bool = True
    consent: bool = True
    online: bool = True
    override: bool = False
    limits: dict[str, list[float]] = field(default_factory=dict)
    telemetry: dict[str, float | None] = field(default_factory=dict)
    failures: int = 0
    last_error: str = ""

    def has(self, epc: int) -> bool:
        return epc in self.set_map

    def to_json(self) -> dict[str, Any]:
        return {
            "resource_id": self.key,
            "kind": self.kind,
            "host": str(self.addr[0]),
            "port": int(self.addr[1]),
            "eoj": str(self.eoj),
            "legacy": self.legacy,
            "consent": self.consent,
            "online": self.online,
            "override": self.override,
            "limits": self.limits,
            "telemetry": self.telemetry,
            "last_error": self.last_error,
        }


@dataclass
class Command:
    """One write the gateway made (or tried)."""

    t: float
    device: str
    event: str
    description: str
    ok: bool
    epcs: tuple[int, ...] = ()
    error: str = ""


@dataclass
class DeviceRun:
    """One event on one device: the opt, where the gateway has brought the device, and the energy."""

    device: str
    opt: str
    reason: str
    direction: str | None
    state: str = "scheduled"
    applied: str = "none"  #: "none", "ahead", "starting" (the start was sent), "interval:N", "ended"
    attempts: int = 0
    snapshot: dict[str, str] = field(default_factory=dict)  #: EPC hex -> EDT hex, read before the start
    counters_before: float | None = None
    requested_wh: float = 0.0
    delivered_wh: float = 0.0
    requested_basis: str = ""
    last_renew: float = -math.inf
    commanded: list[str] = field(default_factory=list)
    opt_sent: bool = False
    expected: dict[str, Any] = field(default_factory=dict)  #: watched EPC hex -> the value the gateway wrote
    override: str = ""  #: what showed the user override ("0xDA = standby (read)"), when there was one


@dataclass
class GatewayEvent:
    """An OpenADR event as the gateway runs it (times in gateway time)."""

    event_id: str
    modification: int
    priority: int
    start: float
    end: float
    status: str  #: far / near / active (as received), cancelled, completed
    asks: list[Ask]
    targets: tuple[str, ...]
    signals: tuple[str, ...]
    runs: dict[str, DeviceRun] = field(default_factory=dict)
    received: float = 0.0

    @property
    def direction(self) -> str | None:
        return next((a.direction for a in self.asks if a.direction), None)

    def ask_at(self, t: float) -> tuple[int, Ask] | None:
        for i, ask in enumerate(self.asks):
            if ask.start <= t < ask.end:
                return i, ask
        return None


@dataclass(frozen=True)
class GatewayConfig:
    """What the gateway does; see docs/gateway.md for the TOML file."""

    poll_interval: float = 600.0  #: gateway seconds between telemetry reads
    renew_interval: float = 600.0  #: gateway seconds between renewals of a running DR command (< 0xF0's 30 min)
    watchdog_s: int = 3600  #: 0xF3 written to devices that have it (device seconds; 0: leave it)
    retries: int = 3  #: attempts at a transition before the device is taken as failed
    backup_reserve_wh: int | None = None  #: 0xF4 written to batteries that have it
    consent: tuple[str, ...] = ("*",)  #: legacy devices (host or resource ID) the user consented to control; * all
    state_file: str | None = None


# Values ------------------------------------------------------------------------------------------------------------


def _number(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value)
    return None


def _kwh(value: Any) -> float | None:
    number = _number(value)
    return number * 1000.0 if number is not None else None


class Gateway:
    """See the module documentation. ``on_opt(event_id, modification, device_key, opt, reason)`` is awaited for
    each per-device opt (the VEN sends it as an oadrCreateOpt)."""

    def __init__(
        self,
        ctl: Controller,
        registry: Registry,
        timeline: Timeline,
        config: GatewayConfig | None = None,
        *,
        audit: AuditLog | None = None,
        on_opt: Callable[[str, int, str, str, str], Awaitable[None]] | None = None,
    ) -> None:
        self.ctl = ctl
        self.registry = registry
        self.timeline = timeline
        self.config = config if config is not None else GatewayConfig()
        self.audit = audit
        self.on_opt = on_opt
        self.devices: dict[str, Device] = {}
        self.events: dict[str, GatewayEvent] = {}
        self.commands: list[Command] = []
        self.samples: list[tuple[float, dict[str, dict[str, float | None]]]] = []
        self.last_poll = -math.inf
        self.reports_sent: list[dict[str, Any]] = []
        self.vtn_status = "not connected"
        self._lock = asyncio.Lock()
        self.last_read: dict[str, dict[int, Any]] = {}  #: per device: what its last SetGet read
        self._opt_queue: list[tuple[str, int, str, str, str]] = []
        self._writing: dict[str, int] = {}  #: per device: writes in flight (their answers are not overrides)

    # Devices ----------------------------------------

    async def discover(self, hosts: Sequence[str | Addr] | None, *, window: float = 0.5) -> list[Device]:
        """Find the DRready objects (0x027D, 0x026B, 0x02A6) of ``hosts`` by unicast discovery (``None``: by
        multicast); read each object's 0x83 (its resource ID), its power limits, and set its watchdog and backup
        reserve where configured."""
        found = await self.ctl.discover(window=window, rescans=1, targets=list(hosts) if hosts is not None else None)
        for node in found:
            for obj in node.objects or ():
                kind = KIND_OF_CLASS.get(obj.eoj.class_id)
                if kind is None:
                    continue
                await self.add_device(node.address, obj.eoj, obj.set_map or frozenset(), obj.get_map or frozenset())
        return list(self.devices.values())

    async def add_device(
        self, addr: Addr, eoj: EOJ, set_map: frozenset[int] = frozenset(), get_map: frozenset[int] = frozenset()
    ) -> Device:
        """Add one object; its identification number 0x83 is read (the address and EOJ stand in without one)."""
        ident = ""
        limits: dict[str, list[float]] = {}
        epcs = [0x83] + ([0xC8, 0xC9] if eoj.class_id == BATTERY else [])
        with contextlib.suppress(EchonetError):
            got = await self.ctl.get(addr, eoj, epcs)
            ident = got.values.get(0x83, b"").hex()
            for epc, name in ((0xC8, "charge_w"), (0xC9, "discharge_w")):
                value = self._decode(eoj.class_id, epc, got.values.get(epc))
                if isinstance(value, dict):
                    limits[name] = [float(value.get("minValue", 0)), float(value.get("maxValue", 0))]
        key = ident or f"{addr[0]}/{eoj}"
        host = str(addr[0])
        secured = self._secured(host)
        consent = secured or (
            ("*" in self.config.consent or host in self.config.consent or key in self.config.consent)
            and self._overlay_consents(host, eoj, set_map)
        )
        device = Device(
            key,
            KIND_OF_CLASS[eoj.class_id],
            addr,
            eoj,
            eoj.class_id,
            set_map,
            get_map,
            legacy=not secured,
            consent=consent,
            limits=limits,
        )
        self.devices[key] = device
        setup: list[tuple[int, Any]] = []
        if self.config.watchdog_s and device.has(0xF3):
            setup.append((0xF3, self.config.watchdog_s))
        if eoj.class_id == BATTERY and self.config.backup_reserve_wh is not None and device.has(0xF4):
            setup.append((0xF4, self.config.backup_reserve_wh))
        if setup and device.consent:
            await self._write(device, "", "setup: " + ", ".join(f"0x{e:02X}={v}" for e, v in setup), setup)
        return device

    def _secured(self, host: str) -> bool:
        """Whether the controller reaches ``host`` over the secure overlay (a session, or an enrolled peer)."""
        peer_status = getattr(self.ctl, "peer_status", None)
        return callable(peer_status) and peer_status(host) in ("secure", "secure-enrolled")

    def _overlay_consents(self, host: str, eoj: EOJ, set_map: frozenset[int]) -> bool:
        """Behind the secure overlay, a legacy device takes part only when the overlay's policy lets the gateway's
        SetC writes to it through (a consent scoped to that peer, object and EPCs); a plain controller: True."""
        layer = getattr(self.ctl, "layer", None)
        check = getattr(layer, "check_outgoing", None)
        if not callable(check):
            return True
        epcs: set[int] = set()
        for (class_id, _), rule in RULES.items():
            if class_id != eoj.class_id:
                continue
            writes = rule.ahead + rule.start + rule.interval + rule.renew
            epcs.update(w.epc for w in writes if not w.extension or w.epc in set_map)
            epcs.update(rule.restore)
            if rule.end == "drstate" and 0xF2 in set_map:
                epcs.add(0xF2)
        decision = check(host, bytes(eoj), _SETC, sorted(epcs))
        return decision is None or bool(decision.allowed)

    def device_by_host(self, host: str) -> Device | None:
        return next((d for d in self.devices.values() if str(d.addr[0]) == host), None)

    def _decode(self, class_id: int, epc: int, edt: bytes | None) -> Any:
        if not edt:
            return None
        definition = self.registry.property(class_id, epc)
        if definition is None:
            return None
        try:
            return definition.decode(edt)
        except (EchonetError, ValueError):
            return None

    def _encode(self, class_id: int, epc: int, value: Any) -> bytes:
        if isinstance(value, bytes):
            return value
        definition = self.registry.property(class_id, epc)
        if definition is None:
            raise EchonetUsageError(f"class 0x{class_id:04X} has no EPC 0x{epc:02X} in the tables")
        return definition.encode(value)

    async def _write(
        self,
        device: Device,
        event: str,
        description: str,
        values: Sequence[tuple[int, Any]],
        read: Sequence[int] = (),
    ) -> bool:
        """SetC of typed values to one device, recorded (and audited as legacy use); False when it failed. With
        ``read``, a SetGet that reads those EPCs at the same instant (kept in ``last_read``)."""
        t = self.timeline.now()
        epcs = tuple(epc for epc, _ in values)
        self._writing[device.key] = self._writing.get(device.key, 0) + 1
        try:
            props = [(epc, self._encode(device.class_id, epc, v)) for epc, v in values]
            if read:
                both = await self.ctl.setget(device.addr, device.eoj, props, list(read))
                result = SetResult(both.addr, both.eoj, both.refused_set)
                self.last_read[device.key] = {e: self._decode(device.class_id, e, v) for e, v in both.values.items()}
            else:
                result = await self.ctl.set(device.addr, device.eoj, props)
        except EchonetError as exc:
            device.failures += 1
            device.last_error = str(exc)
            self.commands.append(Command(t, device.key, event, description, False, epcs, str(exc)))
            return False
        finally:
            self._writing[device.key] -= 1
        device.failures = 0
        ok = result.ok
        if not ok:
            device.last_error = "refused " + ", ".join(f"0x{e:02X}" for e in result.refused)
        error = "" if ok else "refused " + ", ".join(f"0x{e:02X}" for e in result.refused)
        self.commands.append(Command(t, device.key, event, description, ok, epcs, error))
        if self.audit is not None and device.legacy:
            with contextlib.suppress(Exception):  # the audit log's own errors never stop a DR action
                self.audit.append(
                    "legacy_use",
                    {
                        "peer": str(device.addr[0]),
                        "eoj": str(device.eoj),
                        "epcs": [f"0x{e:02X}" for e in epcs],
                        "dr_event": event,
                        "action": description,
                        "consent": "gateway configuration",
                        "accepted": ok,
                    },
                    now=_real_now(),
                )
        return ok

    async def read(self, device: Device, epcs: Sequence[int]) -> dict[int, Any]:
        """Typed values of ``epcs`` (those the device lists in its Get map, when it has one)."""
        wanted = [e for e in epcs if not device.get_map or e in device.get_map]
        if not wanted:
            return {}
        got = await self.ctl.get(device.addr, device.eoj, wanted)
        return {epc: self._decode(device.class_id, epc, edt) for epc, edt in got.values.items()}

    # Events ----------------------------------------

    def accept(self, event: Mapping[str, Any]) -> str:
        """Take an event (new, modified or cancelled) as openleadr parsed it; returns the event-level opt: optIn when
        at least one device takes part."""
        descriptor = event.get("event_descriptor", {})
        event_id = str(descriptor.get("event_id"))
        modification = int(descriptor.get("modification_number", 0) or 0)
        status = str(descriptor.get("event_status", "far"))
        old = self.events.get(event_id)
        if old is not None and status == "cancelled":
            old.status = "cancelled"
            old.modification = modification
            self._save()
            return "optIn" if any(r.opt == "optIn" for r in old.runs.values()) else "optOut"
        parsed = self._parse(event, event_id, modification, status)
        if old is not None:
            if modification <= old.modification:
                return "optIn" if any(r.opt == "optIn" for r in old.runs.values()) else "optOut"
            # a modified event: the runs keep what was done; the intervals, times and targets are the new ones
            for key, run in old.runs.items():
                if key in parsed.runs:
                    new = parsed.runs[key]
                    new.applied, new.snapshot, new.counters_before = run.applied, run.snapshot, run.counters_before
                    new.state = run.state if new.opt == "optIn" else "opted_out"
                    new.commanded, new.expected = run.commanded, run.expected
                    if run.applied.startswith("interval") and new.opt == "optIn":
                        new.applied = "interval:-1"  # re-apply the (new) interval now
                elif run.applied.startswith("interval"):
                    parsed.runs[key] = run  # no longer targeted: ended at the next step
                    run.opt, run.reason = "optOut", "no longer targeted"
        self.events[event_id] = parsed
        for run in parsed.runs.values():
            self._opt_queue.append((event_id, modification, run.device, run.opt, run.reason))
        self._save()
        return "optIn" if any(r.opt == "optIn" for r in parsed.runs.values()) else "optOut"

    def _parse(self, event: Mapping[str, Any], event_id: str, modification: int, status: str) -> GatewayEvent:
        active = event.get("active_period", {})
        start = self.timeline.from_openadr(active["dtstart"])
        duration = active.get("duration") or timedelta(0)
        signals = event.get("event_signals") or []
        if isinstance(signals, Mapping):
            signals = signals.get("event_signals", [])
        spans: list[tuple[float, float]] = []
        first = signals[0].get("intervals", []) if signals else []
        t = start
        for interval in first:
            begin = self.timeline.from_openadr(interval["dtstart"]) if interval.get("dtstart") else t
            length = (interval.get("duration") or timedelta(0)).total_seconds()
            spans.append((begin, begin + length))
            t = begin + length
        end = start + duration.total_seconds() if duration.total_seconds() > 0 else (spans[-1][1] if spans else start)
        if not spans:
            spans = [(start, end)]
        targets = tuple(
            str(t["resource_id"])
            for t in (event.get("targets") or [])
            if isinstance(t, Mapping) and t.get("resource_id")
        )
        priority = int(event.get("event_descriptor", {}).get("priority", 0) or 0)
        ev = GatewayEvent(
            event_id,
            modification,
            priority,
            start,
            end,
            status,
            asks(signals, spans),
            targets,
            tuple(str(s.get("signal_name")) for s in signals),
            received=self.timeline.now(),
        )
        for device in self.devices.values():
            if targets and device.key not in targets and str(device.addr[0]) not in targets:
                continue
            rule = rule_for(device.class_id, ev.direction)
            if rule is None:
                continue
            opt, reason = self._decide(device, ev, rule)
            ev.runs[device.key] = DeviceRun(
                device.key, opt, reason, ev.direction, state="scheduled" if opt == "optIn" else "opted_out"
            )
        return ev

    def _priority(self, ev: GatewayEvent) -> float:
        return float(ev.priority) if ev.priority > 0 else math.inf  # 0 is the lowest priority (OpenADR)

    def _decide(self, device: Device, ev: GatewayEvent, rule: ClassRule) -> tuple[str, str]:
        if not device.online:
            return "optOut", "device offline"
        if device.legacy and not device.consent:
            return "optOut", "legacy device without consent"
        if device.override:
            return "optOut", "user override"
        for ask in ev.asks:
            if ask.power_w is None or device.class_id != BATTERY:
                continue
            limits = device.limits.get("charge_w" if ask.direction == UP else "discharge_w")
            if limits and not ask.power_w <= limits[1]:
                return "optOut", "target outside the device's limits"
        if device.class_id == WATER_HEATER and rule.ahead:
            # the shift time is fixed at the plan cycle's start (0xC8, 23:00 the evening before) and is a whole hour
            cycle_start = ev.start - ev.start % 86400 - 3600
            if self.timeline.now() >= cycle_start or not 9 <= int(ev.start % 86400 // 3600) <= 17:
                return "optOut", "target outside the device's limits"
        for other in self.events.values():
            if other.event_id == ev.event_id or other.status in ("cancelled", "completed"):
                continue
            run = other.runs.get(device.key)
            overlaps = other.start < ev.end and ev.start < other.end
            if run is not None and run.opt == "optIn" and overlaps:
                if self._priority(other) <= self._priority(ev):
                    return "optOut", "committed to another event"
                run.opt, run.reason = "optOut", "committed to another event"  # superseded by a higher priority
                self._opt_queue.append((other.event_id, other.modification, device.key, run.opt, run.reason))
        return "optIn", "participating"

    def override(self, key: str, on: bool = True) -> None:
        """The user took the device over (``on``) or gave it back: its running and coming events are opted out."""
        device = self.devices[key]
        device.override = on
        if not on:
            return
        for ev in self.events.values():
            run = ev.runs.get(key)
            if run is not None and run.opt == "optIn" and run.state in ("scheduled", "executing"):
                run.opt, run.reason = "optOut", "user override"
                self._opt_queue.append((ev.event_id, ev.modification, key, run.opt, run.reason))

    def observe(self, device: Device, values: Mapping[int, Any], source: str) -> list[str]:
        """Compare what a device holds (typed values from a read or an INF) with what the gateway wrote to it for its
        executing runs: a watched setting that differs was changed by someone else (the user, locally or with another
        controller), and that run ends as a user override. Returns the event IDs overridden.

        Not while a write to the device is in flight (its effects are the gateway's own), nor when the same values
        show the device's DR state 0xF2 no longer active for a run that set it (the DR lapsed on the device)."""
        if self._writing.get(device.key):
            return []
        lapsed = values.get(0xF2) not in (None, "active") and device.has(0xF2)
        overridden: list[str] = []
        for ev in self.events.values():
            run = ev.runs.get(device.key)
            if run is None or run.opt != "optIn" or run.state != "executing" or not run.applied.startswith("interval"):
                continue
            rule = rule_for(device.class_id, run.direction)
            if lapsed and rule is not None and rule.end == "drstate":
                continue
            for epc_hex, wanted in run.expected.items():
                epc = int(epc_hex, 16)
                got = values.get(epc)
                if got is not None and got != wanted:
                    self._user_override(ev, run, device, f"0x{epc:02X} = {_text(got)} ({source})")
                    overridden.append(ev.event_id)
                    break
        return overridden

    def _user_override(self, ev: GatewayEvent, run: DeviceRun, device: Device, what: str) -> None:
        """The user changed the device during the run: opted out with the override reason, and left as the user
        set it (no end writes, no renewals)."""
        run.opt, run.reason, run.state = "optOut", "user override", "opted_out"
        run.applied, run.override = "ended", what
        self.commands.append(
            Command(self.timeline.now(), device.key, ev.event_id, f"user override detected: {what}; released", True)
        )
        self._opt_queue.append((ev.event_id, ev.modification, device.key, run.opt, run.reason))
        self._save()

    async def watch_notifications(self) -> None:
        """Watch the INFs the controller receives (until cancelled): each device's announced settings go through
        :meth:`observe` (a battery announces 0xDA, the heaters 0xB0 and 0xB8, when they change)."""
        async for note in self.ctl.notifications():
            seoj = note.seoj
            device = next(
                (d for d in self.devices.values() if d.addr[0] == note.addr[0] and d.eoj == seoj),
                None,
            )
            if device is None:
                continue
            values = {p.epc: self._decode(device.class_id, p.epc, p.edt) for p in note.properties}
            self.observe(device, values, "INF")

    # Driving the devices ----------------------------------------

    def _values(self, device: Device, ev: GatewayEvent, ask: Ask, writes: Sequence[Write]) -> list[tuple[int, Any]]:
        out: list[tuple[int, Any]] = []
        for w in writes:
            if w.extension and not device.has(w.epc):
                continue
            value = w.value
            if value == POWER:
                limits = device.limits.get("charge_w" if ask.direction == UP else "discharge_w", [0, 3000])
                value = round(ask.power_w if ask.power_w is not None else limits[1])
            elif value == AMOUNT:
                if ask.amount_wh is None:
                    continue  # no energy limit: the amount is left as it is
                value = max(1, round(ask.amount_wh))
            elif value == SHIFT_HOUR:
                value = f"at{int(ev.start % 86400 // 3600):02d}00"
            elif value == WINDOW:
                start = ev.start % 86400
                end = ev.end % 86400
                value = {
                    "startTime": f"{int(start // 3600):02d}:{int(start % 3600 // 60):02d}",
                    "endTime": f"{int(end // 3600):02d}:{int(end % 3600 // 60):02d}",
                }
            out.append((w.epc, value))
        return out

    def _target(self, ev: GatewayEvent, run: DeviceRun, now: float) -> str:
        """Where the run should be now."""
        if run.opt != "optIn" or ev.status == "cancelled" or now >= ev.end:
            return "ended"
        hit = ev.ask_at(now)
        if hit is not None and now >= ev.start:
            return f"interval:{hit[0]}"
        return "ahead" if now < ev.start else "ended"

    async def step(self) -> None:
        """Bring every run to where its event should be now, renew running DR commands, read telemetry when due, and
        send the opts decided since the last step."""
        async with self._lock:
            now = self.timeline.now()
            for ev in sorted(self.events.values(), key=lambda e: e.start):
                # the devices of one event at once (each device's own writes stay in order)
                drives = [
                    self._drive(ev, run, self.devices[run.device], now)
                    for run in list(ev.runs.values())
                    if run.device in self.devices
                ]
                await asyncio.gather(*drives)
                ended = all(r.applied in ("ended", "none") or r.opt != "optIn" for r in ev.runs.values())
                if ev.status not in ("cancelled", "completed") and now >= ev.end and ended:
                    ev.status = "completed"
                    self._save()
            if now - self.last_poll >= self.config.poll_interval:
                self.last_poll = now
                await self.poll_telemetry()
        await self._send_opts()

    async def _send_opts(self) -> None:
        queue, self._opt_queue = self._opt_queue, []
        for item in queue:
            ev = self.events.get(item[0])
            if ev is not None and item[2] in ev.runs:
                ev.runs[item[2]].opt_sent = True
            if self.on_opt is not None:
                with contextlib.suppress(Exception):  # a VTN that does not take opts: the status shows the opt
                    await self.on_opt(*item)

    async def _drive(self, ev: GatewayEvent, run: DeviceRun, device: Device, now: float) -> None:
        rule = rule_for(device.class_id, run.direction)
        if rule is None:
            return
        target = self._target(ev, run, now)
        if target == run.applied:
            if target.startswith("interval") and rule.renew and now - run.last_renew >= self.config.renew_interval:
                values = self._values(device, ev, ev.asks[int(target.split(":")[1])], rule.renew)
                if not values:
                    return
                if await self._write(device, ev.event_id, "renew the DR command (0xF0)", values):
                    run.last_renew, run.attempts = now, 0
                else:
                    run.attempts += 1
                    if run.attempts >= self.config.retries:
                        self._fail(ev, run, device)
            return
        if target == "ended" and run.applied in ("none", "ahead") and not (run.applied == "ahead" and rule.ahead):
            # never started: nothing to undo
            run.applied = "ended"
            run.state = run.state if run.state in ("opted_out", "failed") else _final(ev)
            self._save()
            return
        ok = await self._transition(ev, run, device, rule, target, now)
        if ok:
            run.applied, run.attempts = target, 0
            self._save()
            return
        run.attempts += 1
        if device.last_error.startswith("refused") and run.opt == "optIn":
            # the device answered and refused: the target is not one it takes
            run.opt, run.reason, run.state = "optOut", "target outside the device's limits", "opted_out"
            self._opt_queue.append((ev.event_id, ev.modification, device.key, run.opt, run.reason))
            run.applied = "ended" if not run.applied.startswith("interval") else run.applied
            self._save()
            return
        if run.attempts >= self.config.retries:
            self._fail(ev, run, device)
            if target == "ended":
                run.applied = "ended"

    def _fail(self, ev: GatewayEvent, run: DeviceRun, device: Device) -> None:
        """The device stopped answering during the event: offline, and opted out (the VEN says so)."""
        device.online = False
        if run.opt == "optIn":
            run.opt, run.reason, run.state = "optOut", "device failed during the event", "failed"
            self._opt_queue.append((ev.event_id, ev.modification, device.key, run.opt, run.reason))
        self._save()

    async def _transition(
        self, ev: GatewayEvent, run: DeviceRun, device: Device, rule: ClassRule, target: str, now: float
    ) -> bool:
        if target == "ahead":
            values = self._values(device, ev, ev.asks[0], rule.ahead)
            if not values:
                return True
            ok = await self._write(device, ev.event_id, _describe("ahead of the event", values), values)
            if ok:
                run.commanded.append(_describe("ahead", values))
                await self._requested_ahead(ev, run, device)
            return ok
        if target.startswith("interval"):
            index = int(target.split(":")[1])
            ask = ev.asks[index]
            first = not run.applied.startswith("interval")
            if first and rule.ahead and run.applied != "ahead":
                # accepted after the start: the ahead writes first (a heater's shift cannot start any more: opted out)
                values = self._values(device, ev, ask, rule.ahead)
                if values and not await self._write(device, ev.event_id, _describe("late ahead", values), values):
                    return False
            if first:
                if rule.restore and not run.snapshot:
                    with contextlib.suppress(EchonetError):
                        got = await self.ctl.get(device.addr, device.eoj, list(rule.restore))
                        run.snapshot = {f"{e:02X}": v.hex() for e, v in got.values.items() if v}
                # persisted before the write: a gateway that dies between the device taking the command and the
                # answer reaching it still knows, when it restarts, that there may be something to undo
                run.applied = "starting"
                self._save()
                writes = rule.start
            else:
                writes = rule.interval
            values = self._values(device, ev, ask, writes)
            if not values:
                if first and run.counters_before is None:
                    run.counters_before = await self._counter(device, rule)
                run.state = "executing"
                return True
            read = rule.delivered if first and run.counters_before is None else ()
            ok = await self._write(device, ev.event_id, _describe(f"interval {index + 1}", values), values, read)
            if ok and read:
                run.counters_before = _kwh(self.last_read.get(device.key, {}).get(read[0]))
            if ok:
                watched = WATCHED.get(device.class_id, frozenset())
                for epc, value in values:
                    if epc in watched:
                        written = self._encode(device.class_id, epc, value)
                        run.expected[f"{epc:02X}"] = self._decode(device.class_id, epc, written)
                run.state = "executing"
                run.last_renew = now
                run.commanded.append(_describe(f"interval {index + 1}", values))
                if device.class_id == BATTERY:
                    run.requested_wh = self._battery_requested(ev, device)
                    run.requested_basis = "power x duration (0xEB/0xEC), capped by the amount (0xAA/0xAB)"
                elif device.class_id == HYBRID and first and run.direction == UP:
                    await self._requested_hybrid(ev, run, device)
            return ok
        # ended: the counters read at the instant the device goes back to its own settings
        ok = await self._end(ev, run, device, rule)
        if ok:
            last = self.last_read.get(device.key, {})
            after = _kwh(last.get(rule.delivered[0])) if rule.delivered else None
            if after is not None and run.counters_before is not None:
                run.delivered_wh = max(0.0, after - run.counters_before)
            if run.state not in ("opted_out", "failed"):
                run.state = _final(ev)
        return ok

    async def _end(self, ev: GatewayEvent, run: DeviceRun, device: Device, rule: ClassRule) -> bool:
        self.last_read[device.key] = {}
        read = rule.delivered
        if rule.end == "none" or run.applied in ("none",):
            with contextlib.suppress(EchonetError):
                self.last_read[device.key] = await self.read(device, read) if read else {}
            return True
        if rule.end == "drstate" and device.has(0xF2):
            values: list[tuple[int, Any]] = [(0xF2, "inactive")]
            ok = await self._write(
                device, ev.event_id, "end: back to the pre-event settings (0xF2 inactive)", values, read
            )
        else:
            restore = [(int(e, 16), bytes.fromhex(v)) for e, v in run.snapshot.items()]
            if device.class_id == BATTERY:  # the mode last
                restore.sort(key=lambda item: item[0] == 0xDA)
            if not restore:
                return True
            ok = await self._write(device, ev.event_id, _describe("end: restore", restore), restore, read)
        if ok:
            run.commanded.append("end")
        return ok

    async def _counter(self, device: Device, rule: ClassRule) -> float | None:
        if not rule.delivered:
            return None
        try:
            values = await self.read(device, rule.delivered)
        except EchonetError:
            return None
        value = _number(values.get(rule.delivered[0]))
        return value * 1000.0 if value is not None else None

    def _battery_requested(self, ev: GatewayEvent, device: Device) -> float:
        total = 0.0
        for ask in ev.asks:
            if ask.direction is None:
                continue
            limits = device.limits.get("charge_w" if ask.direction == UP else "discharge_w", [0, 3000])
            power = ask.power_w if ask.power_w is not None else limits[1]
            wh = power * (ask.end - ask.start) / 3600.0
            total += min(wh, ask.amount_wh) if ask.amount_wh is not None else wh
        return total

    async def _requested_ahead(self, ev: GatewayEvent, run: DeviceRun, device: Device) -> None:
        if device.class_id != WATER_HEATER:
            return
        with contextlib.suppress(EchonetError):
            values = await self.read(device, (0xCB,))
            quoted = values.get(0xCB)
            hour = int(ev.start % 86400 // 3600)
            if isinstance(quoted, dict):
                run.requested_wh = float(quoted.get(f"at{hour:02d}00", 0) or 0)
                run.requested_basis = f"the heater's estimate 0xCB for {hour:02d}:00"

    async def _requested_hybrid(self, ev: GatewayEvent, run: DeviceRun, device: Device) -> None:
        with contextlib.suppress(EchonetError):
            values = await self.read(device, (0xF6,))
            plan = values.get(0xF6)
            if isinstance(plan, list):
                first, last = int(ev.start % 86400 // 3600), math.ceil(ev.end % 86400 / 3600)
                run.requested_wh = float(sum(plan[first:last]))
                run.requested_basis = "the boiling plan 0xF6 in the window (non-standard)"

    # Telemetry ----------------------------------------

    async def poll_telemetry(self) -> None:
        """Read every device's measurements (its DR-available amounts, power, SoC and reserve)."""
        now = self.timeline.now()
        snapshot: dict[str, dict[str, float | None]] = {}

        async def one(device: Device) -> None:
            try:
                values = await self.read(device, _TELEMETRY.get(device.class_id, ()))
            except EchonetError as exc:
                device.last_error = str(exc)
                device.failures += 1
                if device.failures >= self.config.retries:
                    device.online = False
                return
            device.online = True
            device.failures = 0
            self.observe(device, values, "read")
            t: dict[str, float | None]
            if device.class_id == BATTERY:
                t = {
                    "power_w": _number(values.get(0xD3)),
                    "soc_percent": _number(values.get(0xE4)),
                    "stored_wh": _number(values.get(0xE2)),
                    "chargeable_wh": _number(values.get(0xA4)),
                    "dischargeable_wh": _number(values.get(0xA5)),
                    "backup_reserve_wh": _number(values.get(0xF4)),
                }
                t["dr_available_wh"] = t["dischargeable_wh"]
                t["energy_in_wh"] = _kwh(values.get(0xA8))
                t["energy_out_wh"] = _kwh(values.get(0xA9))
            else:
                t = {
                    "power_w": _number(values.get(0x84)),
                    "dr_available_wh": _number(values.get(0xF8)),
                    "energy_wh": _kwh(values.get(0x85)),
                }
            device.telemetry = t
            snapshot[device.key] = dict(t)

        await asyncio.gather(*(one(d) for d in self.devices.values()))
        self.samples.append((now, snapshot))

    def event_state(self, key: str) -> tuple[str | None, DeviceRun | None]:
        """The event that concerns a device most now and its run: the one executing, else the one that ended last
        (within two hours, so that its final delivered energy is reported), else the next one scheduled."""
        now = self.timeline.now()
        executing = [(ev, ev.runs[key]) for ev in self.events.values() if key in ev.runs]
        for ev, run in executing:
            if run.state == "executing":
                return ev.event_id, run
        ended = [(ev, run) for ev, run in executing if ev.end <= now < ev.end + 7200 or run.applied == "ended"]
        ended = [(ev, run) for ev, run in ended if ev.end <= now + 1 and now - ev.end < 7200]
        if ended:
            ev, run = max(ended, key=lambda item: item[0].end)
            return ev.event_id, run
        coming = sorted(((ev, run) for ev, run in executing if run.state == "scheduled"), key=lambda i: i[0].start)
        if coming:
            return coming[0][0].event_id, coming[0][1]
        return (executing[-1][0].event_id, executing[-1][1]) if executing else (None, None)

    # Persisted state ----------------------------------------

    def status(self) -> dict[str, Any]:
        """Events, devices and last reports (``echonet gateway status``)."""
        tl = self.timeline
        return {
            "time": tl.text(tl.now()),
            "vtn": self.vtn_status,
            "devices": [d.to_json() for d in self.devices.values()],
            "events": [
                {
                    "event_id": ev.event_id,
                    "modification_number": ev.modification,
                    "priority": ev.priority,
                    "status": ev.status,
                    "start": tl.text(ev.start),
                    "end": tl.text(ev.end),
                    "start_openadr": tl.to_openadr(ev.start).isoformat(),
                    "signals": list(ev.signals),
                    "asks": [
                        {
                            "start": tl.text(a.start),
                            "end": tl.text(a.end),
                            "direction": a.direction,
                            "power_w": a.power_w,
                            "amount_wh": a.amount_wh,
                        }
                        for a in ev.asks
                    ],
                    "targets": list(ev.targets),
                    "devices": {k: asdict(r) | {"last_renew": None} for k, r in ev.runs.items()},
                }
                for ev in self.events.values()
            ],
            "reports_sent": self.reports_sent[-10:],
        }

    def _save(self) -> None:
        path = self.config.state_file
        if not path:
            return
        data = self.status()
        data["saved_events"] = {
            ev.event_id: {
                "modification": ev.modification,
                "priority": ev.priority,
                "start": ev.start,
                "end": ev.end,
                "status": ev.status,
                "asks": [asdict(a) for a in ev.asks],
                "targets": list(ev.targets),
                "signals": list(ev.signals),
                "runs": {k: asdict(r) | {"last_renew": None} for k, r in ev.runs.items()},
            }
            for ev in self.events.values()
        }
        tmp = Path(f"{path}.tmp")
        tmp.write_text(json.dumps(data, indent=1, default=str))
        os.replace(tmp, path)

    def resume(self) -> list[str]:
        """Load the persisted events (after the devices are known): runs of events still under way carry on where
        they were; the others are brought to their end at the next :meth:`step`. Returns the event IDs loaded."""
        path = self.config.state_file
        if not path or not Path(path).exists():
            return []
        try:
            data = json.loads(Path(path).read_text())
        except (OSError, ValueError):
            return []
        loaded: list[str] = []
        for event_id, saved in (data.get("saved_events") or {}).items():
            if saved.get("status") == "completed":
                continue
            ev = GatewayEvent(
                event_id,
                int(saved["modification"]),
                int(saved["priority"]),
                float(saved["start"]),
                float(saved["end"]),
                str(saved["status"]),
                [Ask(**{**a, "signals": tuple(a.get("signals", ()))}) for a in saved["asks"]],
                tuple(saved["targets"]),
                tuple(saved["signals"]),
            )
            for key, r in saved["runs"].items():
                r = dict(r)
                r["last_renew"] = -math.inf
                ev.runs[key] = DeviceRun(**r)
            self.events[event_id] = ev
            loaded.append(event_id)
        return loaded

    async def close(self) -> None:
        """End every run now (the gateway stops): each device goes back to its pre-event settings."""
        async with self._lock:
            for ev in self.events.values():
                for run in ev.runs.values():
                    device = self.devices.get(run.device)
                    rule = rule_for(device.class_id, run.direction) if device else None
                    if device is None or rule is None or not run.applied.startswith(("interval", "starting")):
                        continue
                    if await self._end(ev, run, device, rule):
                        run.applied = "ended"
                        run.state = "cancelled"
            self._save()


def _final(ev: GatewayEvent) -> str:
    return "cancelled" if ev.status == "cancelled" else "completed"


def _describe(what: str, values: Sequence[tuple[int, Any]]) -> str:
    def text(v: Any) -> str:
        if isinstance(v, bytes):
            return "0x" + v.hex()
        if isinstance(v, dict):
            return "-".join(str(x) for x in v.values())
        return str(v)

    return f"{what}: " + ", ".join(f"0x{e:02X}={text(v)}" for e, v in values)


def _text(value: Any) -> str:
    if isinstance(value, dict):
        return "-".join(str(x) for x in value.values())
    return str(value)


def _real_now() -> float:
    import time

    return time.time()


__all__ = [
    "OPT_REASONS",
    "STATE_CODES",
    "WATCHED",
    "Command",
    "Device",
    "DeviceRun",
    "Gateway",
    "GatewayConfig",
    "GatewayEvent",
]
