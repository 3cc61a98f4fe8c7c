"""What every DRready model shares: property plumbing through the spec tables, time stepping, DR and watchdog.

A model is a pure simulation: no sockets, no event loop, no clock of its own. The node's device object (or a test)
drives it:

* ``advance_to(now)`` integrates the physics up to ``now`` in steps on a fixed one-minute grid (cut short at DR and
  watchdog deadlines). Every step books all the energy it moves, so energy is conserved however time is advanced;
  a day advanced in one call or minute by minute gives the same result, and other chunkings differ only by the
  controls being decided again inside a minute;
* ``write(epc, edt, now)`` applies a Set from the network (after :meth:`PropertyDef.check_set`); it returns why
  it is refused, or ``None``;
* ``read(epc)`` gives the current EDT, encoded through the tables;
* ``touch(now)`` tells the model a controller request was seen (it feeds the watchdog);
* ``changed_epcs()`` lists the EPCs whose EDT changed since the last call (for announcements).

DR handling (extension EPCs 0xF0-0xF3, see :mod:`.extensions`): a Set of one of the class's DR-command EPCs starts
a DR, remembering the settings it replaced (the pre-DR mode); the DR ends when it is not renewed within the DR
duration (0xF0) or when 0xF2 is set to ``inactive``, and the device goes back to the pre-DR settings. When no
request at all arrives within the watchdog timeout (0xF3), the device ends any DR and returns to its *own* settings.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, ClassVar

from ..errors import EchonetUsageError
from ..spec.model import NA, Access, PropertyDef, Rule
from ..spec.registry import Registry, default_registry
from ..spec.types import Array, Enum, Number, Object, OneOf, ValueType
from .clock import MINUTE, wall_time
from .extensions import (
    DR_ACTIVE,
    DR_COMMANDS,
    DR_DURATION,
    DR_FALLBACK,
    DR_INACTIVE,
    DR_REMAINING,
    DR_STATE,
    MAX_DR_MINUTES,
    WATCHDOG_TIMEOUT,
    extension_defs,
)

#: Placeholder manufacturer code for experiments (the same as the node profile's default).
UNREGISTERED_MAKER = b"\xff\xff\xff"
#: 0x82 of a device object: 0x00 0x00, Appendix release letter, revision.
RELEASE_R_VERSION = b"\x00\x00R\x00"

ON, OFF = 0x30, 0x31
NO_FAULT = 0x42

_SERIALS = itertools.count(1)

Getter = Callable[[], Any]
Setter = Callable[[bytes, float], str | None]


@dataclass(frozen=True)
class Identity:
    """Who the simulated device is: 0x83 identification number, 0x8A manufacturer code, 0x8C, 0x8D."""

    unique: bytes  #: 13 bytes unique to the object (the tail of 0x83)
    maker_code: bytes = UNREGISTERED_MAKER
    product_code: str = "DRREADY-SIM"
    serial_number: str = "000000000001"

    def __post_init__(self) -> None:
        if len(self.maker_code) != 3 or len(self.unique) != 13:
            raise EchonetUsageError("identity: maker code is 3 bytes and the unique part 13 bytes")

    @property
    def id_number(self) -> bytes:
        """0x83: 0xFE, the manufacturer code, the 13 unique bytes."""
        return b"\xfe" + self.maker_code + self.unique

    @classmethod
    def next_for(cls, class_id: int) -> Identity:
        """A fresh identity: ``DRR`` + class code + a process-wide serial (deterministic in one run)."""
        serial = next(_SERIALS)
        return cls(b"DRR" + class_id.to_bytes(2, "big") + serial.to_bytes(8, "big"), serial_number=f"{serial:012d}")


# Encoding model values through the tables ---------------------------------------------------------------------------


def _number(t: Number, value: float) -> bytes:
    raw = round(value / t.scale) if t.scale != 1 else round(value)
    if t.minimum is not None and raw < t.minimum:
        raw = t.minimum
    if t.maximum is not None and raw > t.maximum:
        # cumulative counters wrap around like a meter; other values saturate
        raw = raw % (t.maximum + 1) if t.unit == "kWh" else t.maximum
    return int(raw).to_bytes(t.min_size, "big", signed=t.signed)


def encode_value(t: ValueType, value: Any) -> bytes:
    """A model value as EDT of type ``t``.

    Numbers are rounded to the type's scale and kept inside its range (cumulative kWh counters wrap like a meter);
    enumerations take their code (``int``) so that the models do not depend on value names; objects take their
    field values in order (a sequence) or by name (a mapping); ``bytes`` pass unchanged.
    """
    if isinstance(value, bytes | bytearray):
        return bytes(value)
    if isinstance(t, Number) and isinstance(value, int | float) and not isinstance(value, bool):
        return _number(t, value)
    if isinstance(t, Enum) and isinstance(value, int) and not isinstance(value, bool):
        return value.to_bytes(t.size, "big")
    if isinstance(t, OneOf) and isinstance(value, int | float) and not isinstance(value, bool):
        for option in t.options:
            if isinstance(option, Enum) and value in option.values:
                return int(value).to_bytes(option.size, "big")
        for option in t.options:
            if isinstance(option, Number):
                raw = round(value / option.scale)
                if option.in_range(raw):
                    return _number(option, value)
        return t.encode(value)
    if isinstance(t, Object) and isinstance(value, list | tuple):
        if len(value) != len(t.fields):
            raise EchonetUsageError(f"{len(value)} values for {len(t.fields)} fields")
        return b"".join(encode_value(f.type, v) for f, v in zip(t.fields, value, strict=True))
    if isinstance(t, Array) and isinstance(value, list | tuple):
        return b"".join(encode_value(t.item, v) for v in value)
    return t.encode(value)


# The base model -----------------------------------------------------------------------------------------------------


@dataclass
class EnergyCounters:
    """Running totals of a model (Wh); what the energy-balance checks add up."""

    values: dict[str, float] = field(default_factory=dict)

    def add(self, name: str, wh: float) -> None:
        self.values[name] = self.values.get(name, 0.0) + wh

    def __getitem__(self, name: str) -> float:
        return self.values.get(name, 0.0)


class DrModel:
    """Base of the DRready models (see the module documentation for the interface)."""

    class_id: ClassVar[int]
    #: Integration grid (seconds); steps are cut at grid points and at DR / watchdog deadlines.
    STEP: ClassVar[float] = MINUTE

    def __init__(self, start: float, *, identity: Identity | None = None, registry: Registry | None = None) -> None:
        self._registry = registry if registry is not None else default_registry()
        self._t = float(start)
        self.identity = identity if identity is not None else Identity.next_for(self.class_id)
        self.counters = EnergyCounters()
        #: Integration steps taken so far (deterministic; what the speed tests count).
        self.steps = 0
        self._getters: dict[int, Getter] = {}
        self._setters: dict[int, Setter] = {}
        self._defs: dict[int, PropertyDef] = {}
        self._readable: tuple[int, ...] = ()
        self._last_edts: dict[int, bytes] = {}
        # common settings
        self.operating = True
        self._location = b"\x00"
        # DR and watchdog
        self._dr_commands = DR_COMMANDS.get(self.class_id, frozenset())
        self._dr_minutes = 0
        self._dr_active = False
        self._dr_deadline: float | None = None
        self._pre_dr: dict[int, bytes] = {}
        self._dr_state = DR_INACTIVE
        self._watchdog_s = 0
        self._last_request = self._t
        self._watchdog_fired = False
        self._register_common()

    # Registration (subclasses) ------------------------------------------------------------------------------------

    def _register(self, epc: int, getter: Getter | None, setter: Setter | None = None) -> None:
        if getter is not None:
            self._getters[epc] = getter
        if setter is not None:
            self._setters[epc] = setter

    def _register_common(self) -> None:
        ident = self.identity
        self._register(0x80, lambda: ON if self.operating else OFF, self._set_operation)
        self._register(0x81, lambda: self._location, self._set_location)
        self._register(0x82, lambda: RELEASE_R_VERSION)
        self._register(0x83, lambda: ident.id_number)
        self._register(0x88, lambda: NO_FAULT)
        self._register(0x8A, lambda: ident.maker_code)
        self._register(0x8C, lambda: ident.product_code)
        self._register(0x8D, lambda: ident.serial_number)
        self._register(0x97, lambda: wall_time(self._t).strftime("%H:%M"))
        self._register(0x98, lambda: wall_time(self._t).strftime("%Y-%m-%d"))
        self._register(DR_DURATION, lambda: self._dr_minutes, self._set_dr_duration)
        self._register(DR_REMAINING, self._dr_remaining)
        self._register(DR_STATE, lambda: self._dr_state, self._set_dr_state)
        self._register(WATCHDOG_TIMEOUT, lambda: self._watchdog_s, self._set_watchdog)

    def _ready(self) -> None:
        """Resolve the property definitions (called at the end of a subclass's ``__init__``)."""
        known = self._registry.properties(self.class_id)
        extra = {d.epc: d for d in extension_defs(self.class_id)}
        defs: dict[int, PropertyDef] = {}
        for epc in sorted(set(self._getters) | set(self._setters)):
            base = extra.get(epc) or known.get(epc)
            if base is None:
                continue  # the class table does not (yet) define it: the model does not offer it
            get = base.access.get if epc in self._getters and base.access.get.applicable else NA
            set_ = base.access.set if epc in self._setters and base.access.set.applicable else NA
            if get is NA and set_ is NA:
                continue
            access = Access(get, set_, base.access.anno)
            defs[epc] = base if access == base.access else replace(base, access=access)
        self._defs = defs
        self._readable = tuple(e for e, d in defs.items() if d.access.get.applicable)
        self._last_edts = {epc: self.read(epc) for epc in self._readable}

    # The model interface ------------------------------------------------------------------------------------------

    @property
    def now(self) -> float:
        """The simulated time the model has been advanced to."""
        return self._t

    def property_defs(self) -> dict[int, PropertyDef]:
        """Every property the model implements: the registry's standard ones (with the Set rule of the properties
        the model does not let a controller change turned to not-applicable) plus the class's extension EPCs."""
        return dict(self._defs)

    def extension_defs(self) -> tuple[PropertyDef, ...]:
        """The non-standard (0xF0-0xFF) definitions, for a device object's ``definitions``."""
        return tuple(d for d in self._defs.values() if not d.standard)

    def announce_epcs(self) -> frozenset[int]:
        """EPCs whose announcement rule is mandatory (status properties), the natural status-change map 0x9D."""
        return frozenset(e for e, d in self._defs.items() if d.access.anno is Rule.REQUIRED)

    def settable_epcs(self) -> frozenset[int]:
        return frozenset(e for e, d in self._defs.items() if d.access.set.applicable)

    def readable_epcs(self) -> tuple[int, ...]:
        return self._readable

    def read(self, epc: int) -> bytes:
        """The current EDT of a readable EPC (as of the last :meth:`advance_to`)."""
        getter = self._getters.get(epc)
        definition = self._defs.get(epc)
        if getter is None or definition is None or not definition.access.get.applicable:
            raise EchonetUsageError(f"class 0x{self.class_id:04X} model has no readable EPC 0x{epc:02X}")
        return encode_value(definition.type, getter())

    def value(self, epc: int) -> Any:
        """The current value of an EPC decoded through its definition (for tests and tools)."""
        return self._defs[epc].decode(self.read(epc))

    def write(self, epc: int, edt: bytes, now: float) -> str | None:
        """Apply a Set from the network at ``now``; returns why it is refused, or ``None``.

        The model is advanced to ``now`` first; a Set also counts as a controller request for the watchdog.
        """
        definition = self._defs.get(epc)
        if definition is None:
            return "not implemented"
        edt = bytes(edt)
        reason = definition.check_set(edt)
        if reason is not None:
            return reason
        setter = self._setters.get(epc)
        if setter is None:
            return "not settable"
        self.advance_to(now)
        t = self._t
        self._feed_watchdog(t)
        is_dr = epc in self._dr_commands
        snapshot = self._dr_settings() if is_dr and not self._dr_active else None
        reason = setter(edt, t)
        if reason is None and is_dr:
            self._start_dr(t, snapshot)
        return reason

    def touch(self, now: float) -> None:
        """A controller request was seen at ``now``: feeds the watchdog (after advancing to ``now``)."""
        self.advance_to(now)
        self._feed_watchdog(self._t)

    def changed_epcs(self) -> list[int]:
        """Readable EPCs whose EDT changed since the previous call (or since the model was built)."""
        changed: list[int] = []
        last = self._last_edts
        for epc in self._readable:
            edt = self.read(epc)
            if last.get(epc) != edt:
                last[epc] = edt
                changed.append(epc)
        return changed

    def advance_to(self, now: float) -> None:
        """Integrate the model up to ``now`` (no effect when ``now`` is not later than the model's time)."""
        step = self.STEP
        t = self._t
        while t < now:
            grid = (math.floor(t / step + 1e-9) + 1) * step
            nxt = min(now, grid)
            event = self._next_event()
            if event is not None and t < event < nxt:
                nxt = event
            self._integrate(t, nxt - t)
            self.steps += 1
            t = self._t = nxt
            self._handle_events(t)
            if abs(t - grid) < 1e-6:
                self._on_grid(t)

    # Physics hooks (subclasses) -----------------------------------------------------------------------------------

    def _integrate(self, t: float, dt: float) -> None:
        """Move the state from ``t`` to ``t + dt`` with the controls decided at ``t``."""
        raise NotImplementedError

    def _on_grid(self, t: float) -> None:
        """Called at every grid point (minute) reached, after the step that ends there."""

    def _set_operation(self, edt: bytes, t: float) -> str | None:
        self.operating = edt[0] == ON
        return None

    def _set_location(self, edt: bytes, t: float) -> str | None:
        self._location = edt
        return None

    # DR settings (subclasses) -------------------------------------------------------------------------------------

    def _dr_settings(self) -> dict[int, bytes]:
        """The EDTs of the DR-command EPCs now (what a DR end restores)."""
        return {epc: self.read(epc) for epc in sorted(self._dr_commands) if epc in self._defs}

    def _own_settings(self) -> dict[int, bytes]:
        """The device's own settings of the DR-command EPCs (what the watchdog returns to)."""
        raise NotImplementedError

    def _apply_settings(self, settings: Mapping[int, bytes]) -> None:
        for epc, edt in settings.items():
            setter = self._setters.get(epc)
            if setter is not None:
                setter(edt, self._t)

    # DR and watchdog ----------------------------------------------------------------------------------------------

    @property
    def dr_active(self) -> bool:
        return self._dr_active

    @property
    def dr_state(self) -> int:
        """0xF2 code: 0x00 inactive, 0x01 active, 0x02 own mode after a watchdog timeout."""
        return self._dr_state

    @property
    def pre_dr_settings(self) -> dict[int, bytes]:
        return dict(self._pre_dr)

    def _start_dr(self, t: float, snapshot: dict[int, bytes] | None) -> None:
        if not self._dr_active:
            self._dr_active = True
            self._pre_dr = snapshot or {}
            self._dr_state = DR_ACTIVE
        self._dr_deadline = t + self._dr_minutes * MINUTE if self._dr_minutes else None

    def end_dr(self, *, restore: bool = True) -> None:
        """End a running DR; with ``restore`` the pre-DR settings come back."""
        if not self._dr_active:
            return
        pre = self._pre_dr
        self._dr_active = False
        self._pre_dr = {}
        self._dr_deadline = None
        self._dr_state = DR_INACTIVE
        if restore and pre:
            self._apply_settings(pre)

    def _feed_watchdog(self, t: float) -> None:
        self._last_request = t
        self._watchdog_fired = False

    def _watchdog_deadline(self) -> float | None:
        if self._watchdog_s <= 0 or self._watchdog_fired:
            return None
        return self._last_request + self._watchdog_s

    def _next_event(self) -> float | None:
        events = [e for e in (self._dr_deadline, self._watchdog_deadline()) if e is not None]
        return min(events) if events else None

    def _handle_events(self, t: float) -> None:
        if self._dr_deadline is not None and t >= self._dr_deadline - 1e-6:
            self.end_dr(restore=True)
        watchdog = self._watchdog_deadline()
        if watchdog is not None and t >= watchdog - 1e-6:
            self._watchdog_fired = True
            own = self._own_settings()
            if self._dr_active or self._dr_settings() != own:
                self.end_dr(restore=False)
                self._apply_settings(own)
                self._dr_state = DR_FALLBACK

    def _dr_remaining(self) -> int:
        if not self._dr_active or self._dr_deadline is None:
            return 0
        return max(0, min(MAX_DR_MINUTES * 60, math.ceil(self._dr_deadline - self._t - 1e-9)))

    def _set_dr_duration(self, edt: bytes, t: float) -> str | None:
        self._dr_minutes = edt[0]
        if self._dr_active:
            self._dr_deadline = t + self._dr_minutes * MINUTE if self._dr_minutes else None
        return None

    def _set_dr_state(self, edt: bytes, t: float) -> str | None:
        # check_set lets only 0x00 (inactive) through
        self.end_dr(restore=True)
        self._dr_state = DR_INACTIVE
        return None

    def _set_watchdog(self, edt: bytes, t: float) -> str | None:
        self._watchdog_s = int.from_bytes(edt, "big")
        self._feed_watchdog(t)
        return None


def hourly(values: Sequence[float]) -> list[int]:
    """Hourly Wh as whole numbers for a plan read-back."""
    return [max(0, round(v)) for v in values]
