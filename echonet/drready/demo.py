"""The DR day demo: three simulated devices and an aggregator on loopback, talking ECHONET Lite over UDP.

:func:`run_demo` (async) starts a water heater (0x026B), a hybrid water heater (0x02A6) and a storage battery
(0x027D), each on a node of its own bound to its own loopback address, and an aggregator-style controller that
discovers them over UDP (unicast discovery: multicast does not reach sockets bound to loopback addresses), then runs
a simulated day on a shared :class:`~.clock.SimClock`:

* the evening before (22:00): the aggregator reads the water heater's shift estimates (0xCB) and asks for daytime
  boiling from 10:00 (0xC7 participating, 0xCA 10:00): the DR start time is known a day ahead, as the heater plans
  its boiling per cycle (23:00 to 23:00);
* upward DR, 10:00-15:00 (solar hours): the hybrid heater switches its solar linkage to household consumption
  (0xB8 0x42, window 0xB9 10:00-15:00); the battery charges at a designated power up to an AC amount (0xC1 0x03,
  0xEB, 0xAA, 0xDA charging) under a 30-minute DR duration (0xF0) the aggregator renews while it polls;
* downward DR, 17:00-20:00 (evening peak): the battery discharges at a designated power (0xC2 0x03, 0xEC, 0xDA
  discharging), never below its backup reserve (0xF4); both heaters stop boiling (0xB0 manual no heating);
* at each DR end the aggregator ends the battery's DR with 0xF2 = inactive (the battery returns to its pre-DR
  mode, auto) and gives the heaters their settings back.

The aggregator polls measurements over UDP (0x84 / 0x85 of the heaters, 0xD3 / 0xE4 / 0xA8 / 0xA9 of the battery)
and reads the cumulative counters at each DR start and end: delivered energy is what those counters moved.
:func:`plot_demo` draws the PNG (matplotlib, no pyplot state). Nothing here prints: progress goes to a callback.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import importlib.util
import ipaddress
import socket
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Protocol

from ..aio import Controller, DiscoveredNode, Endpoints, NodeRunner
from ..constants import ECHONET_PORT
from ..errors import EchonetError, EchonetUsageError
from ..frame import EOJ
from ..node.config import NodeConfig
from ..node.events import Addr
from ..spec.registry import Registry
from .battery import StorageBattery
from .clock import HOUR, MINUTE, SimClock, sim_time, wall_time
from .host import SimHost
from .profiles import Household
from .sim import KINDS, SimulatedDevice, sim_registry, simulated_device

WATER_HEATER, HYBRID, BATTERY = "water_heater", "hybrid_water_heater", "battery"
LABELS = {WATER_HEATER: "water heater", HYBRID: "hybrid heater", BATTERY: "battery"}

#: The demo day: starts the evening before (the heater's DR start time is sent a day ahead) and ends at midnight.
DEFAULT_START = "2026-01-14T22:00"
DEFAULT_HOURS = 26.0
#: Default speed: the 26 simulated hours take 26 s of real time.
DEFAULT_SPEED = 3600.0

#: What the DR day writes (SetC) to each water heater: a secured aggregator needs consent for exactly these EPCs.
HEATER_WRITES: dict[str, tuple[int, ...]] = {
    WATER_HEATER: (0xC7, 0xCA, 0xB0),
    HYBRID: (0xB9, 0xB8, 0xF2, 0xB0),
}
#: Each device's offset from ``bind_base``.
OFFSETS = {WATER_HEATER: 1, HYBRID: 2, BATTERY: 3}

_MEASURE = {
    WATER_HEATER: (0x84, 0x85, 0xE1),
    HYBRID: (0x84, 0x85, 0xE1),
    BATTERY: (0xD3, 0xE4, 0xE2, 0xA8, 0xA9, 0xCF, 0xF2),
}


@dataclass(frozen=True)
class DemoConfig:
    """How to run the demo. ``bind_base`` is the aggregator's loopback address; the devices take the next three.
    ``port`` is the devices' port (3610; 0 or a port in use falls back to ephemeral ports)."""

    speed: float = DEFAULT_SPEED
    start: str = DEFAULT_START
    hours: float = DEFAULT_HOURS
    bind_base: str = "127.0.0.100"
    port: int = ECHONET_PORT
    poll_minutes: float = 10.0
    tick_interval: float = 0.05
    battery_reserve_wh: int = 2450
    up_charge_w: int = 1500
    up_charge_wh: int = 2000
    down_discharge_w: int = 2500
    heater_shift_hour: int = 10
    up_window: tuple[int, int] = (10, 15)
    down_window: tuple[int, int] = (17, 20)
    #: Run the day through a local OpenADR VTN and ``echonet gateway`` (openleadr installed); False, or openleadr
    #: missing: the direct aggregator (docs/gateway.md).
    vtn: bool = True

    def __post_init__(self) -> None:
        if not self.speed > 0:
            raise EchonetUsageError("the speed must be positive")
        if not self.hours > 0 or self.poll_minutes <= 0:
            raise EchonetUsageError("the day length and the poll interval must be positive")
        if isinstance(self.port, bool) or not isinstance(self.port, int) or not 0 <= self.port <= 0xFFFF:
            raise EchonetUsageError(f"--port {self.port!r} out of range 0-65535")
        try:
            base = ipaddress.ip_address(self.bind_base)
        except ValueError:
            raise EchonetUsageError(f"--bind-base {self.bind_base!r} is not an IP address") from None
        if base.version != 4 or not base.is_loopback or int(base) & 0xFF > 251:
            raise EchonetUsageError("--bind-base is a loopback IPv4 address 127.x.y.z with z at most 251")


@dataclass(frozen=True)
class DemoDevice:
    kind: str
    label: str
    eoj: str
    address: str
    port: int
    identification: str
    discovered: bool


@dataclass(frozen=True)
class DrWindow:
    name: str
    direction: str  #: "up" (consume more) or "down" (consume less)
    start: float  #: simulated seconds
    end: float


@dataclass(frozen=True)
class Delivery:
    """Requested vs delivered energy of one device in one DR window (Wh, from the device's own counters)."""

    event: str
    device: str
    requested_wh: float
    delivered_wh: float
    measured: str  #: what "delivered" counts, e.g. "AC charged (0xA8)"
    basis: str  #: where "requested" comes from
    note: str = ""

    @property
    def ratio(self) -> float | None:
        return self.delivered_wh / self.requested_wh if self.requested_wh > 0 else None


@dataclass(frozen=True)
class Sample:
    t: float  #: simulated seconds
    power_w: dict[str, float]
    soc_percent: float | None
    dr_state: int | None


@dataclass(frozen=True)
class Command:
    t: float
    device: str
    description: str
    ok: bool
    refused: tuple[str, ...] = ()


@dataclass(frozen=True)
class Progress:
    """What the live view shows after each poll."""

    t: float
    start: float
    end: float
    power_w: dict[str, float]
    soc_percent: float | None
    active: str | None
    notifications: int


@dataclass(frozen=True)
class DemoResult:
    start: float
    end: float
    speed: float
    wall_seconds: float
    discovery: str
    devices: tuple[DemoDevice, ...]
    windows: tuple[DrWindow, ...]
    deliveries: tuple[Delivery, ...]
    samples: tuple[Sample, ...]
    commands: tuple[Command, ...]
    notifications: int
    pv_w: tuple[tuple[float, float], ...] = field(default=())
    #: Through the VTN: what the VTN asked, the gateway's opts and the reports the VTN received (None: direct).
    openadr: dict[str, Any] | None = None

    def openadr_lines(self) -> list[str]:
        """The OpenADR side for the table: per event and device, what the VTN asked and got back."""
        if self.openadr is None:
            return ["aggregator: direct (no OpenADR VTN; openleadr not installed or vtn=False)"]
        o = self.openadr
        lines = [f"OpenADR: local VTN {o['vtn_url']} -> gateway VEN {o['ven_id']} (openleadr {o['openleadr']})"]
        for ev in o["events"]:
            lines.append(f"  event {ev['event_id']}: {ev['asked']}; VTN got {ev['response']}")
            for d in ev["devices"]:
                lines.append(
                    f"    {d['device']:<14} opt {d['opt']} ({d['reason']}); commanded: {d['commanded']}; "
                    f"reported delivered {d['reported_delivered_wh']:,.0f} Wh"
                )
        lines.append(f"  reports received by the VTN: {o['reports_received']} values ({o['report_rounds']} rounds)")
        return lines

    def delivery(self, event: str, device: str) -> Delivery:
        for d in self.deliveries:
            if d.event == event and d.device == device:
                return d
        raise KeyError((event, device))

    def to_json(self) -> dict[str, Any]:
        def clock(t: float) -> str:
            return wall_time(t).isoformat(timespec="seconds")

        return {
            "start": clock(self.start),
            "end": clock(self.end),
            "speed": self.speed,
            "wall_seconds": round(self.wall_seconds, 3),
            "discovery": self.discovery,
            "devices": [asdict(d) for d in self.devices],
            "dr_events": [
                {"name": w.name, "direction": w.direction, "start": clock(w.start), "end": clock(w.end)}
                for w in self.windows
            ],
            "deliveries": [
                {
                    "event": d.event,
                    "device": d.device,
                    "requested_wh": round(d.requested_wh, 1),
                    "delivered_wh": round(d.delivered_wh, 1),
                    "measured": d.measured,
                    "requested_from": d.basis,
                    **({"note": d.note} if d.note else {}),
                }
                for d in self.deliveries
            ],
            "commands": [
                {"time": clock(c.t), "device": c.device, "command": c.description, "ok": c.ok}
                | ({"refused": list(c.refused)} if c.refused else {})
                for c in self.commands
            ],
            "samples": [
                {
                    "time": clock(s.t),
                    "power_w": {k: round(v, 1) for k, v in s.power_w.items()},
                    "soc_percent": s.soc_percent,
                }
                for s in self.samples
            ],
            "notifications_received": self.notifications,
            **({"openadr": self.openadr} if self.openadr is not None else {}),
        }


# Setting up --------------------------------------------------------------------------------------------------------


class DemoOverlay(Protocol):
    """What ``echonet demo --secure`` plugs into :func:`run_demo` (implemented in :mod:`secure.demo`): how the
    aggregator's node opens, what runs on each device's runner before its node starts, what happens between
    discovery and the day, and after the day (before the aggregator closes)."""

    async def open_controller(self, endpoints: Endpoints, config: NodeConfig) -> Controller: ...

    def prepare(self, kind: str) -> Callable[[NodeRunner], object] | None: ...

    async def before_day(self, ctl: Controller, targets: Mapping[str, tuple[Addr, EOJ]]) -> None: ...

    async def after_day(self, ctl: Controller) -> None: ...


def _address(base: str, offset: int) -> str:
    return str(ipaddress.ip_address(base) + offset)


def device_address(config: DemoConfig, kind: str) -> str:
    """The loopback address the demo binds ``kind``'s node to."""
    return _address(config.bind_base, OFFSETS[kind])


async def _open_controller(config: DemoConfig, overlay: DemoOverlay | None = None) -> Controller:
    """The aggregator's node (with ``overlay``: as the overlay opens it, e.g. a secured controller)."""
    endpoints = Endpoints(bind_v4=config.bind_base, port=0)
    node_config = NodeConfig(timeout=1.0, retries=2, multicast_v6=None)
    if overlay is not None:
        return await overlay.open_controller(endpoints, node_config)
    return await Controller.open(endpoints, config=node_config)


async def _open_device(
    kind: str,
    address: str,
    config: DemoConfig,
    clock: SimClock,
    announce_to: Addr,
    prepare: Callable[[NodeRunner], object] | None = None,
) -> tuple[SimHost, SimulatedDevice]:
    """One simulated device on a node of its own (``prepare`` runs on its runner before the node starts, e.g. to
    put it behind a secure layer). Its announcements go to the aggregator: multicast does not reach sockets bound
    to loopback addresses."""
    device = simulated_device(kind, 1, clock=clock)
    node_config = NodeConfig(multicast_v4=announce_to[0], multicast_v6=None, port=announce_to[1])
    ports = [config.port, 0] if config.port else [0]
    for i, port in enumerate(ports):
        try:
            host = await SimHost.open(
                [device],
                Endpoints(bind_v4=address, port=port),
                clock=clock,
                config=node_config,
                tick_interval=config.tick_interval,
                prepare=prepare,
            )
        except OSError as exc:
            if i + 1 < len(ports) and exc.errno == errno.EADDRINUSE:
                continue
            raise EchonetUsageError(f"cannot bind {address} port {port}: {exc.strerror or exc}") from None
        return host, device
    raise AssertionError("unreachable")  # pragma: no cover


# The aggregator ---------------------------------------------------------------------------------------------------


class _Aggregator:
    def __init__(
        self,
        ctl: Controller,
        clock: SimClock,
        config: DemoConfig,
        targets: dict[str, tuple[Addr, EOJ]],
        registry: Registry,
    ) -> None:
        self.ctl = ctl
        self.clock = clock
        self.config = config
        self.targets = targets
        self.registry = registry
        self.commands: list[Command] = []
        self.samples: list[Sample] = []
        self.deliveries: list[Delivery] = []
        self.counters: dict[tuple[str, str], dict[str, float]] = {}
        self.requested: dict[tuple[str, str], tuple[float, str, str]] = {}
        self.active: str | None = None
        self.battery_dr = False
        self.notifications = 0
        self.last_read: dict[int, Any] = {}

    def edt(self, kind: str, epc: int, value: Any) -> bytes:
        definition = self.registry.property(self.targets[kind][1].class_id, epc)
        assert definition is not None
        return definition.encode(value)

    async def set(self, kind: str, description: str, values: list[tuple[int, Any]], read: tuple[int, ...] = ()) -> bool:
        """SetC of typed values; with ``read``, a SetGet that also reads those EPCs at the same simulated instant
        (a command and the meter reading that goes with it in one frame), kept in ``last_read``."""
        addr, eoj = self.targets[kind]
        props = [(epc, self.edt(kind, epc, v)) for epc, v in values]
        t = self.clock.now()
        try:
            if read:
                both = await self.ctl.setget(addr, eoj, props, read)
                refused_epcs, ok = both.refused_set, not both.refused_set
                self.last_read = self.decode(eoj, both.values)
            else:
                result = await self.ctl.set(addr, eoj, props)
                refused_epcs, ok = result.refused, result.ok
        except EchonetError as exc:
            self.commands.append(Command(t, kind, f"{description}: {exc}", False))
            return False
        refused = tuple(f"0x{e:02X}" for e in refused_epcs)
        self.commands.append(Command(t, kind, description, ok, refused))
        return ok

    def decode(self, eoj: EOJ, values: Mapping[int, bytes]) -> dict[int, Any]:
        out: dict[int, Any] = {}
        for epc, edt in values.items():
            definition = self.registry.property(eoj.class_id, epc)
            if definition is not None and edt:
                with contextlib.suppress(EchonetError, ValueError):
                    out[epc] = definition.decode(edt)
        return out

    def battery_counters(self) -> dict[str, float]:
        v = self.last_read
        return {"battery_in": float(v.get(0xA8, 0.0)) * 1000, "battery_out": float(v.get(0xA9, 0.0)) * 1000}

    async def get(self, kind: str, epcs: tuple[int, ...]) -> dict[int, Any]:
        addr, eoj = self.targets[kind]
        result = await self.ctl.get(addr, eoj, epcs)
        return self.decode(eoj, result.values)

    async def poll(self) -> Sample:
        t = self.clock.now()
        readings = await asyncio.gather(*(self.get(kind, _MEASURE[kind]) for kind in self.targets))
        values = dict(zip(self.targets, readings, strict=True))
        power = {kind: float(v.get(0xD3 if kind == BATTERY else 0x84, 0.0)) for kind, v in values.items()}
        battery = values.get(BATTERY, {})
        soc = battery.get(0xE4)
        sample = Sample(t, power, float(soc) if soc is not None else None, battery.get(0xF2))
        self.samples.append(sample)
        if self.battery_dr:  # renew the battery's DR within its 30-minute duration
            await self.set(BATTERY, "renew DR (0xF0 = 30 min)", [(0xF0, 30)])
        return sample

    async def read_counters(self) -> dict[str, float]:
        """Cumulative Wh of the heaters (0x85); the battery's (0xA8 / 0xA9) come with its commands (SetGet)."""
        out: dict[str, float] = {}
        for kind in self.targets:
            if kind != BATTERY:
                v = await self.get(kind, (0x85,))
                out[kind] = float(v.get(0x85, 0.0)) * 1000
        return out

    def settle(self, event: str, before: dict[str, float], after: dict[str, float]) -> None:
        for kind in self.targets:
            requested, measured, basis = self.requested.get((event, kind), (0.0, "", ""))
            key = kind
            if kind == BATTERY:
                key = "battery_in" if "0xA8" in measured else "battery_out"
            delivered = after.get(key, 0.0) - before.get(key, 0.0)
            note = ""
            if kind == BATTERY and requested and delivered < 0.95 * requested:
                note = "stopped at the backup reserve" if key == "battery_out" else "stopped at the upper limit"
            self.deliveries.append(Delivery(event, LABELS[kind], requested, delivered, measured, basis, note))


async def _day(
    agg: _Aggregator,
    windows: tuple[DrWindow, DrWindow],
    start: float,
    end: float,
    progress: Callable[[Progress], None] | None,
) -> None:
    cfg, clock = agg.config, agg.clock
    up, down = windows
    actions: list[tuple[float, Callable[[], Awaitable[None]]]] = []
    before: dict[str, dict[str, float]] = {}

    async def day_ahead() -> None:
        if WATER_HEATER in agg.targets:
            estimates = await agg.get(WATER_HEATER, (0xCB,))
            shift = cfg.heater_shift_hour
            quoted = estimates.get(0xCB, {})
            wh = float(quoted.get(f"at{shift:02d}00", 0)) if isinstance(quoted, dict) else 0.0
            agg.requested[(up.name, WATER_HEATER)] = (
                wh,
                "electricity used (0x85)",
                f"0xCB estimate for {shift:02d}:00",
            )
            await agg.set(
                WATER_HEATER,
                f"daytime boiling from {shift:02d}:00 (0xC7 participating, 0xCA)",
                [(0xC7, "participating"), (0xCA, f"at{shift:02d}00")],
            )
        if BATTERY in agg.targets:
            await agg.set(
                BATTERY, f"backup reserve {cfg.battery_reserve_wh} Wh (0xF4)", [(0xF4, cfg.battery_reserve_wh)]
            )

    async def up_start() -> None:
        before[up.name] = await agg.read_counters()
        agg.active = up.name
        if HYBRID in agg.targets:
            ws, we = cfg.up_window
            await agg.set(
                HYBRID,
                f"solar linkage: household consumption, window {ws:02d}:00-{we:02d}:00 (0xB9, 0xB8)",
                [(0xB9, {"startTime": f"{ws:02d}:00", "endTime": f"{we:02d}:00"}), (0xB8, "householdConsumption")],
            )
            plan = await agg.get(HYBRID, (0xF6,))
            hours = plan.get(0xF6, [0] * 24)
            planned = float(sum(hours[ws:we])) if isinstance(hours, list) else 0.0
            agg.requested[(up.name, HYBRID)] = (
                planned,
                "electricity used (0x85)",
                "boiling plan 0xF6 in the window",
            )
        if BATTERY in agg.targets:
            hours_long = (up.end - up.start) / HOUR
            wh = min(float(cfg.up_charge_wh), cfg.up_charge_w * hours_long)
            agg.requested[(up.name, BATTERY)] = (wh, "AC charged (0xA8)", "0xAA amount at 0xEB power")
            ok = await agg.set(
                BATTERY,
                f"charge at {cfg.up_charge_w} W up to {cfg.up_charge_wh} Wh (0xF0, 0xC1, 0xEB, 0xAA, 0xDA)",
                [
                    (0xF0, 30),
                    (0xC1, "designatedPower"),
                    (0xEB, cfg.up_charge_w),
                    (0xAA, cfg.up_charge_wh),
                    (0xDA, "charging"),
                ],
                read=(0xA8, 0xA9),
            )
            before[up.name].update(agg.battery_counters())
            agg.battery_dr = ok

    async def end_battery_dr_and_settle(event: str) -> None:
        after = await agg.read_counters()
        if BATTERY in agg.targets:
            agg.battery_dr = False
            await agg.set(
                BATTERY, "end DR: back to the pre-DR mode (0xF2 inactive)", [(0xF2, "inactive")], read=(0xA8, 0xA9)
            )
            after.update(agg.battery_counters())
        agg.settle(event, before[event], after)

    async def up_end() -> None:
        await end_battery_dr_and_settle(up.name)
        if HYBRID in agg.targets:
            await agg.set(HYBRID, "end DR: back to the pre-DR linkage (0xF2 inactive)", [(0xF2, "inactive")])
        agg.active = None

    async def down_start() -> None:
        before[down.name] = await agg.read_counters()
        agg.active = down.name
        hours_long = (down.end - down.start) / HOUR
        for kind in (WATER_HEATER, HYBRID):
            if kind in agg.targets:
                agg.requested[(down.name, kind)] = (0.0, "electricity used (0x85)", "no boiling (0xB0)")
                await agg.set(kind, "no boiling in the peak (0xB0 manual no heating)", [(0xB0, "manualNoHeating")])
        if BATTERY in agg.targets:
            agg.requested[(down.name, BATTERY)] = (
                cfg.down_discharge_w * hours_long,
                "AC discharged (0xA9)",
                "0xEC power x window",
            )
            ok = await agg.set(
                BATTERY,
                f"discharge at {cfg.down_discharge_w} W (0xF0, 0xC2, 0xEC, 0xDA)",
                [(0xF0, 30), (0xC2, "designatedPower"), (0xEC, cfg.down_discharge_w), (0xDA, "discharging")],
                read=(0xA8, 0xA9),
            )
            before[down.name].update(agg.battery_counters())
            agg.battery_dr = ok

    async def down_end() -> None:
        await end_battery_dr_and_settle(down.name)
        for kind in (WATER_HEATER, HYBRID):
            if kind in agg.targets:
                await agg.set(kind, "boiling allowed again (0xB0 auto)", [(0xB0, "auto")])
        agg.active = None

    actions = [
        (clock.now(), day_ahead),
        (up.start, up_start),
        (up.end, up_end),
        (down.start, down_start),
        (down.end, down_end),
    ]
    step = cfg.poll_minutes * MINUTE
    next_poll = clock.now()
    while True:
        now = clock.now()
        while actions and actions[0][0] <= now:
            _, action = actions.pop(0)
            await action()
        if now >= end:
            break
        if now >= next_poll:
            sample = await agg.poll()
            while next_poll <= now:
                next_poll += step
            if progress is not None:
                progress(Progress(now, start, end, sample.power_w, sample.soc_percent, agg.active, agg.notifications))
        wake = min(next_poll, end, actions[0][0] if actions else end)
        await asyncio.sleep(max(0.0, (wake - clock.now()) / clock.speed))
    await agg.poll()


async def run_demo(
    config: DemoConfig | None = None,
    *,
    progress: Callable[[Progress], None] | None = None,
    overlay: DemoOverlay | None = None,
) -> DemoResult:
    """Run the DR day (see the module documentation) and return what happened. ``overlay``: see
    :class:`DemoOverlay` (``echonet demo --secure``)."""
    cfg = config if config is not None else DemoConfig()
    if overlay is None and cfg.vtn and importlib.util.find_spec("openleadr") is not None:
        return await run_vtn_demo(cfg, progress=progress)
    registry = sim_registry()
    start = sim_time(cfg.start)
    end = start + cfg.hours * HOUR
    day = start - start % (24 * HOUR) + (24 * HOUR if start % (24 * HOUR) >= 12 * HOUR else 0.0)
    windows = (
        DrWindow("upward DR (solar hours)", "up", day + cfg.up_window[0] * HOUR, day + cfg.up_window[1] * HOUR),
        DrWindow(
            "downward DR (evening peak)", "down", day + cfg.down_window[0] * HOUR, day + cfg.down_window[1] * HOUR
        ),
    )
    clock = SimClock(start, 0.0)  # held still until everything is up
    wall0 = time.monotonic()
    ctl = await _open_controller(cfg, overlay)
    hosts: list[SimHost] = []
    try:
        ctl_addr = ctl.runner.local_addresses[socket.AF_INET]
        announce_to: Addr = (str(ctl_addr[0]), int(ctl_addr[1]))
        devices: dict[str, tuple[SimHost, SimulatedDevice]] = {}
        for kind in (WATER_HEATER, HYBRID, BATTERY):
            prepare = overlay.prepare(kind) if overlay is not None else None
            host, device = await _open_device(kind, device_address(cfg, kind), cfg, clock, announce_to, prepare)
            hosts.append(host)
            devices[kind] = (host, device)
        # discovery over UDP: a Get of node-profile 0xD6 to each device address, then 0x83 / 0x8A / maps
        found = await ctl.discover(window=0.3, rescans=1, targets=[h.address() for h, _ in devices.values()])
        targets, listed = _targets(found)
        if set(targets) != set(KINDS):
            missing = ", ".join(sorted(set(KINDS) - set(targets)))
            raise EchonetError(f"discovery did not find every device (missing: {missing})")
        if overlay is not None:
            await overlay.before_day(ctl, targets)
        agg = _Aggregator(ctl, clock, cfg, targets, registry)

        async def count_notifications() -> None:
            async for _ in ctl.notifications():
                agg.notifications += 1

        counter = asyncio.get_running_loop().create_task(count_notifications())
        clock.speed = cfg.speed
        try:
            await _day(agg, windows, start, end, progress)
        finally:
            counter.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await counter
        if overlay is not None:
            await overlay.after_day(ctl)
        demo_devices = tuple(
            DemoDevice(
                kind,
                LABELS[kind],
                str(device.eoj),
                host.address()[0],
                host.address()[1],
                device.identification.hex(),
                kind in listed,
            )
            for kind, (host, device) in devices.items()
        )
        battery = devices[BATTERY][1].model
        pv = _pv_curve(battery.household if isinstance(battery, StorageBattery) else Household(), start, end)
        return DemoResult(
            start,
            end,
            cfg.speed,
            time.monotonic() - wall0,
            "unicast Get of 0x0EF001 0xD6 to each device address (multicast does not reach loopback binds)",
            demo_devices,
            windows,
            tuple(agg.deliveries),
            tuple(agg.samples),
            tuple(agg.commands),
            agg.notifications,
            pv,
        )
    finally:
        for host in hosts:
            await host.close()
        await ctl.close()


# The day through a VTN -----------------------------------------------------------------------------------------------


def _windows(cfg: DemoConfig, start: float) -> tuple[DrWindow, DrWindow]:
    day = start - start % (24 * HOUR) + (24 * HOUR if start % (24 * HOUR) >= 12 * HOUR else 0.0)
    return (
        DrWindow("upward DR (solar hours)", "up", day + cfg.up_window[0] * HOUR, day + cfg.up_window[1] * HOUR),
        DrWindow(
            "downward DR (evening peak)", "down", day + cfg.down_window[0] * HOUR, day + cfg.down_window[1] * HOUR
        ),
    )


_MEASURED = {
    ("up", BATTERY): "AC charged (0xA8)",
    ("down", BATTERY): "AC discharged (0xA9)",
}


async def run_vtn_demo(cfg: DemoConfig, *, progress: Callable[[Progress], None] | None = None) -> DemoResult:
    """The DR day through OpenADR: a local openleadr VTN issues the day's two events (a day ahead), the gateway
    (:mod:`echonet.gateway`) receives them as a VEN and drives the devices over UDP, and reports flow back."""
    from datetime import timedelta

    from ..gateway.engine import Gateway, GatewayConfig
    from ..gateway.timeline import Timeline
    from ..gateway.ven import GatewayVen, VenConfig
    from ..gateway.vtn import LocalVtn, Signal

    registry = sim_registry()
    start = sim_time(cfg.start)
    end = start + cfg.hours * HOUR
    windows = _windows(cfg, start)
    clock = SimClock(start, 0.0)  # held still until everything is up and the day's events are in
    timeline = Timeline.simulated(clock)
    wall0 = time.monotonic()
    ctl = await _open_controller(cfg)
    hosts: list[SimHost] = []
    vtn = LocalVtn(host="127.0.0.1", granularity=timedelta(minutes=30))
    stop = asyncio.Event()
    ven_task: asyncio.Task[None] | None = None
    try:
        ctl_addr = ctl.runner.local_addresses[socket.AF_INET]
        announce_to: Addr = (str(ctl_addr[0]), int(ctl_addr[1]))
        devices: dict[str, tuple[SimHost, SimulatedDevice]] = {}
        for kind in (WATER_HEATER, HYBRID, BATTERY):
            host, device = await _open_device(kind, device_address(cfg, kind), cfg, clock, announce_to)
            hosts.append(host)
            devices[kind] = (host, device)
        gw_config = GatewayConfig(
            poll_interval=cfg.poll_minutes * MINUTE,
            renew_interval=min(cfg.poll_minutes, 5.0) * MINUTE,
            backup_reserve_wh=cfg.battery_reserve_wh,
        )
        gw = Gateway(ctl, registry, timeline, gw_config)
        await gw.discover([h.address() for h, _ in devices.values()], window=0.3)
        kinds = {d.kind for d in gw.devices.values()}
        if kinds != set(KINDS):
            missing = ", ".join(sorted(set(KINDS) - kinds))
            raise EchonetError(f"discovery did not find every device (missing: {missing})")
        await vtn.start()
        up, down = windows
        at = timeline.to_openadr
        vtn.add_event(
            [
                Signal(
                    "LOAD_DISPATCH",
                    "setpoint",
                    ((at(up.start), timedelta(seconds=up.end - up.start), cfg.up_charge_w),),
                ),
                Signal(
                    "CHARGE_STATE", "delta", ((at(up.start), timedelta(seconds=up.end - up.start), cfg.up_charge_wh),)
                ),
            ],
            event_id="upward-solar",
        )
        vtn.add_event(
            [
                Signal(
                    "LOAD_DISPATCH",
                    "setpoint",
                    ((at(down.start), timedelta(seconds=down.end - down.start), -cfg.down_discharge_w),),
                ),
                Signal("SIMPLE", "level", ((at(down.start), timedelta(seconds=down.end - down.start), 2.0),)),
            ],
            event_id="downward-peak",
        )
        ven = GatewayVen(gw, VenConfig(vtn.url, "echonet-gateway", retry_s=0.5))
        ven_task = asyncio.get_running_loop().create_task(ven.run(stop))
        deadline = time.monotonic() + 30
        while len(vtn.record.responses) < 2 or len(gw.events) < 2:
            if time.monotonic() > deadline:
                raise EchonetError("the gateway did not get the day's events from the VTN within 30 s")
            await asyncio.sleep(0.05)
        await gw.step()  # the day-ahead writes (the water heater's shift) before the clock runs
        clock.speed = cfg.speed
        step = cfg.poll_minutes * MINUTE
        while True:
            now = clock.now()
            await gw.step()
            if gw.samples and gw.samples[-1][0] >= now - 1 and progress is not None:
                _, snap = gw.samples[-1]
                power = {d.kind: float(snap.get(k, {}).get("power_w") or 0.0) for k, d in gw.devices.items()}
                battery = next((snap.get(k, {}) for k, d in gw.devices.items() if d.kind == BATTERY), {})
                soc = battery.get("soc_percent")
                active = next((w.name for w in windows if w.start <= now < w.end), None)
                progress(Progress(now, start, end, power, soc, active, 0))
            if now >= end:
                break
            boundaries = [w.start for w in windows] + [w.end for w in windows] + [gw.last_poll + step, end]
            wake = min([b for b in boundaries if b > now] or [end])
            await asyncio.sleep(min(0.02, max(0.0, (wake - clock.now()) / clock.speed)))
        await gw.poll_telemetry()
        return _vtn_result(cfg, gw, vtn, devices, windows, start, end, time.monotonic() - wall0, _openleadr_version())
    finally:
        stop.set()
        if ven_task is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(ven_task, 5)
        await vtn.stop()
        for host in hosts:
            await host.close()
        await ctl.close()


def _openleadr_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("openleadr")
    except PackageNotFoundError:
        return "?"


def _vtn_result(
    cfg: DemoConfig,
    gw: Any,
    vtn: Any,
    devices: Mapping[str, tuple[SimHost, SimulatedDevice]],
    windows: tuple[DrWindow, DrWindow],
    start: float,
    end: float,
    wall: float,
    version: str,
) -> DemoResult:
    by_key = {d.key: d for d in gw.devices.values()}
    names = {"upward-solar": windows[0].name, "downward-peak": windows[1].name}
    deliveries: list[Delivery] = []
    events_json: list[dict[str, Any]] = []
    for ev in gw.events.values():
        name = names.get(ev.event_id, ev.event_id)
        rows = []
        for key, run in ev.runs.items():
            kind = by_key[key].kind
            measured = _MEASURED.get((run.direction or "", kind), "electricity used (0x85)")
            note = ""
            if kind == BATTERY and run.requested_wh and run.delivered_wh < 0.95 * run.requested_wh:
                note = "stopped at the backup reserve" if run.direction == "down" else "stopped at the upper limit"
            basis = run.requested_basis or ("no boiling in the window (0xB0)" if run.direction == "down" else "-")
            deliveries.append(Delivery(name, LABELS[kind], run.requested_wh, run.delivered_wh, measured, basis, note))
            t0, t1 = gw.timeline.to_openadr(ev.start), gw.timeline.to_openadr(ev.end + 2 * HOUR)
            reported = [v for t, v in vtn.reports_for(key, "drDeliveredEnergy") if t0 <= t <= t1]
            rows.append(
                {
                    "device": LABELS[kind],
                    "resource_id": key,
                    "opt": run.opt,
                    "reason": run.reason,
                    "opt_received_by_vtn": [
                        o["opt_type"]
                        for o in vtn.record.opts
                        if o["event_id"] == ev.event_id and o["resource_id"] == key
                    ],
                    "commanded": "; ".join(run.commanded) or "-",
                    "state": run.state,
                    "requested_wh": round(run.requested_wh, 1),
                    "delivered_wh": round(run.delivered_wh, 1),
                    "reported_delivered_wh": round(max(reported) if reported else 0.0, 1),
                }
            )
        asked = ", ".join(
            f"{a.direction or 'normal'} {a.power_w:.0f} W" if a.power_w else f"{a.direction or 'normal'}"
            for a in ev.asks
        )
        asked += "".join(f", {a.amount_wh:.0f} Wh" for a in ev.asks if a.amount_wh)
        events_json.append(
            {
                "event_id": ev.event_id,
                "name": name,
                "signals": list(ev.signals),
                "asked": f"{', '.join(ev.signals)}: {asked} {wall_time(ev.start):%H:%M}-{wall_time(ev.end):%H:%M}",
                "openadr_start": gw.timeline.to_openadr(ev.start).isoformat(),
                "response": vtn.record.responses.get(ev.event_id, "none"),
                "devices": rows,
            }
        )
    order = {w.name: i for i, w in enumerate(windows)}
    kind_order = {LABELS[k]: i for i, k in enumerate((WATER_HEATER, HYBRID, BATTERY))}
    deliveries.sort(key=lambda d: (order.get(d.event, 9), kind_order.get(d.device, 9)))
    events_json.sort(key=lambda e: order.get(e["name"], 9))
    samples = []
    for t, snap in gw.samples:
        power = {by_key[k].kind: float(v.get("power_w") or 0.0) for k, v in snap.items() if k in by_key}
        reading: dict[str, Any] = next((v for k, v in snap.items() if k in by_key and by_key[k].kind == BATTERY), {})
        soc = reading.get("soc_percent")
        samples.append(Sample(t, power, float(soc) if soc is not None else None, None))
    commands = tuple(
        Command(c.t, by_key[c.device].kind if c.device in by_key else c.device, c.description, c.ok, ())
        for c in gw.commands
    )
    listed = {d.kind for d in gw.devices.values()}
    demo_devices = tuple(
        DemoDevice(
            kind, LABELS[kind], str(device.eoj), host.address()[0], host.address()[1], device.identification.hex(),
            kind in listed,
        )
        for kind, (host, device) in devices.items()
    )  # fmt: skip
    battery = devices[BATTERY][1].model
    pv = _pv_curve(battery.household if isinstance(battery, StorageBattery) else Household(), start, end)
    rounds = sum(1 for r in vtn.record.reports if r["measurement"] == "drEventState") // max(1, len(by_key))
    openadr = {
        "vtn_url": vtn.url,
        "ven_id": vtn.ven_id,
        "openleadr": version,
        "events": events_json,
        "opts_received": len(vtn.record.opts),
        "reports_received": len(vtn.record.reports),
        "report_rounds": rounds,
        "reports": [
            {
                "resource_id": r["resource_id"],
                "device": LABELS.get(by_key[r["resource_id"]].kind, "") if r["resource_id"] in by_key else "",
                "measurement": r["measurement"],
                "time": r["time"].isoformat(),
                "sim_seconds": round(gw.timeline.from_openadr(r["time"]), 1),
                "value": r["value"],
            }
            for r in vtn.record.reports
        ],
    }
    return DemoResult(
        start,
        end,
        cfg.speed,
        wall,
        "unicast Get of 0x0EF001 0xD6 to each device address, by the gateway (multicast does not reach loopback binds)",
        demo_devices,
        windows,
        tuple(deliveries),
        tuple(samples),
        commands,
        0,
        pv,
        openadr,
    )


def _targets(found: list[DiscoveredNode]) -> tuple[dict[str, tuple[Addr, EOJ]], set[str]]:
    targets: dict[str, tuple[Addr, EOJ]] = {}
    for node in found:
        for eoj in node.instances:
            for kind, cls in KINDS.items():
                if eoj.class_id == cls.class_id and kind not in targets:
                    targets[kind] = (node.address, eoj)
    return targets, set(targets)


def _pv_curve(household: Household, start: float, end: float) -> tuple[tuple[float, float], ...]:
    points = []
    t = start
    while t <= end:
        points.append((t, household.pv(t)))
        t += 15 * MINUTE
    return tuple(points)


# The plot ------------------------------------------------------------------------------------------------------------


def plot_demo(result: DemoResult, path: str | Path) -> Path:
    """Power per device (and the household's solar generation) and the battery's state of charge over the day, DR
    windows shaded; written as a PNG with matplotlib's Agg canvas (no pyplot, no display needed)."""
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError:
        raise EchonetUsageError("the plot needs matplotlib: pip install matplotlib") from None
    out = Path(path)
    t0 = result.start - result.start % (24 * HOUR)

    def hours(t: float) -> float:
        return (t - t0) / HOUR

    fig = Figure(figsize=(9, 5.5), dpi=80)
    FigureCanvasAgg(fig)
    ax_p, ax_s = fig.subplots(2, 1, sharex=True, gridspec_kw={"height_ratios": [3, 2]})
    xs = [hours(s.t) for s in result.samples]
    colours = {"water_heater": "tab:red", "hybrid_water_heater": "tab:orange", "battery": "tab:blue"}
    for kind, colour in colours.items():
        ys = [s.power_w.get(kind, 0.0) for s in result.samples]
        ax_p.step(xs, ys, where="post", color=colour, label=f"{LABELS[kind]} (W)", linewidth=1.4)
    if result.pv_w:
        ax_p.plot(
            [hours(t) for t, _ in result.pv_w],
            [w for _, w in result.pv_w],
            color="tab:green",
            linestyle="--",
            linewidth=1,
            label="household solar (W)",
        )
    ax_p.axhline(0, color="black", linewidth=0.5)
    ax_p.set_ylabel("power (W); battery + charging")
    ax_p.legend(loc="upper left", fontsize=8, ncol=2)
    soc = [(hours(s.t), s.soc_percent) for s in result.samples if s.soc_percent is not None]
    ax_s.plot([x for x, _ in soc], [y for _, y in soc], color="tab:blue", label="battery state of charge (%)")
    if result.openadr is not None:  # what the VTN received: the battery's reports
        reported = [r for r in result.openadr["reports"] if r.get("device") == LABELS[BATTERY]]
        soc_r = [(hours(r["sim_seconds"]), r["value"]) for r in reported if r["measurement"] == "stateOfCharge"]
        pow_r = [(hours(r["sim_seconds"]), r["value"]) for r in reported if r["measurement"] == "RealPower"]
        if soc_r:
            ax_s.scatter(*zip(*soc_r, strict=True), s=9, color="black", zorder=3, label="SoC reported to the VTN")
            ax_s.legend(loc="upper left", fontsize=7)
        if pow_r:
            ax_p.scatter(*zip(*pow_r, strict=True), s=9, color="navy", zorder=3, label="battery W reported to the VTN")
            ax_p.legend(loc="upper left", fontsize=8, ncol=2)
        for ev in result.openadr["events"]:
            window = next((w for w in result.windows if w.name == ev["name"]), None)
            if window is not None:
                ax_s.text(hours(window.start), 5, " VTN: " + ev["asked"].split(":")[0], fontsize=6, va="bottom")
    ax_s.set_ylim(0, 100)
    ax_s.set_ylabel("SoC (%)")
    ax_s.set_xlabel("simulated time of day (the demo starts the evening before)")
    for w in result.windows:
        colour = "tab:green" if w.direction == "up" else "tab:purple"
        for ax in (ax_p, ax_s):
            ax.axvspan(hours(w.start), hours(w.end), color=colour, alpha=0.12)
        ax_p.text(hours(w.start), ax_p.get_ylim()[1] * 0.92, " " + w.name, fontsize=8, color=colour, va="top")
    ticks = list(range(int(hours(result.start)) // 2 * 2, int(hours(result.end)) + 1, 2))
    ax_s.set_xticks(ticks)
    ax_s.set_xticklabels([f"{t % 24:02d}:00" for t in ticks], fontsize=8)
    via = "OpenADR VTN -> gateway -> ECHONET Lite / UDP" if result.openadr is not None else "ECHONET Lite / UDP"
    fig.suptitle(f"DR day: {wall_time(result.start + 12 * HOUR):%Y-%m-%d} (simulated, {via})")
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, format="png")
    return out


__all__ = [
    "DEFAULT_HOURS",
    "DEFAULT_SPEED",
    "DEFAULT_START",
    "HEATER_WRITES",
    "Command",
    "Delivery",
    "DemoConfig",
    "DemoDevice",
    "DemoOverlay",
    "DemoResult",
    "DrWindow",
    "Progress",
    "Sample",
    "device_address",
    "plot_demo",
    "run_demo",
]
