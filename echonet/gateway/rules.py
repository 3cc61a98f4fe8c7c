"""How an OpenADR event becomes ECHONET Lite writes: the signal interpretation and the mapping rules per class, as data.

An event's signals are read into one :class:`Ask` per interval (:func:`asks`):

* ``LOAD_DISPATCH`` (``setpoint`` or ``delta``, W): a positive value raises consumption (upward DR: the battery
  charges at that power), a negative one lowers it (downward DR: the battery discharges at that power);
* ``CHARGE_STATE`` (``delta``, Wh): the battery's energy for the interval (charge if positive, discharge if
  negative), written as the AC charge / discharge amount 0xAA / 0xAB;
* ``SIMPLE`` (``level``): 0 normal (nothing asked), 1-3 moderate / high / special: downward DR (the battery
  discharges at its maximum power 0xC9, the heaters stop boiling).

Each class has one :class:`ClassRule` per direction (:data:`RULES`): the writes made ahead of the event, at its start,
at each interval change, to renew the command during the event, and how it ends (``drstate``: 0xF2 = inactive where
the device has it, which restores its pre-DR settings, else the ``restore`` EPCs read before the start are written
back). ``docs/gateway.md`` has the same table. Values are the tables' typed values; :data:`POWER`, :data:`AMOUNT`,
:data:`SHIFT_HOUR` and :data:`WINDOW` stand for what the event asks. Writes marked ``extension`` use the DRready
simulations' non-standard EPCs (0xF0 DR duration, docs/drready-extensions.md) and are made only to a device whose
Set property map has them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

BATTERY, WATER_HEATER, HYBRID = 0x027D, 0x026B, 0x02A6
KIND_OF_CLASS = MappingProxyType({BATTERY: "battery", WATER_HEATER: "water_heater", HYBRID: "hybrid_water_heater"})

UP, DOWN = "up", "down"

#: Placeholders in a rule's values.
POWER, AMOUNT, SHIFT_HOUR, WINDOW = "{power}", "{amount}", "{shift_hour}", "{window}"

#: 0xF0 minutes a DR command stands without renewal (the programme's longest step); renewed well within it.
DR_MINUTES = 30


@dataclass(frozen=True)
class Write:
    """One EPC written with a typed value (or a placeholder)."""

    epc: int
    value: Any
    extension: bool = False


@dataclass(frozen=True)
class ClassRule:
    """What one class is sent for one DR direction (see the module documentation)."""

    class_id: int
    direction: str
    ahead: tuple[Write, ...] = ()  #: when the event is accepted (before the device's plan cycle starts)
    start: tuple[Write, ...] = ()  #: at the event's start
    interval: tuple[Write, ...] = ()  #: at each later interval whose target differs
    renew: tuple[Write, ...] = ()  #: every renewal period while the event runs
    end: str = "restore"  #: "drstate" (0xF2 inactive where present, else restore), "restore" or "none"
    restore: tuple[int, ...] = ()  #: EPCs read before the start and written back at the end
    delivered: tuple[int, ...] = ()  #: cumulative counters (kWh) whose movement is the delivered energy
    note: str = ""


_DURATION = Write(0xF0, DR_MINUTES, extension=True)

# fmt: off
RULES: Mapping[tuple[int, str], ClassRule] = MappingProxyType({
    (BATTERY, UP): ClassRule(
        BATTERY, UP,
        start=(_DURATION, Write(0xC1, "designatedPower"), Write(0xEB, POWER), Write(0xAA, AMOUNT),
               Write(0xDA, "charging")),
        interval=(Write(0xEB, POWER),),
        renew=(_DURATION,),
        end="drstate", restore=(0xC1, 0xEB, 0xAA, 0xDA), delivered=(0xA8,),
        note="charges at the designated power 0xEB up to the AC amount 0xAA; the device stops at its upper limit",
    ),
    (BATTERY, DOWN): ClassRule(
        BATTERY, DOWN,
        start=(_DURATION, Write(0xC2, "designatedPower"), Write(0xEC, POWER), Write(0xAB, AMOUNT),
               Write(0xDA, "discharging")),
        interval=(Write(0xEC, POWER),),
        renew=(_DURATION,),
        end="drstate", restore=(0xC2, 0xEC, 0xAB, 0xDA), delivered=(0xA9,),
        note="discharges at the designated power 0xEC; never below the backup reserve (0xF4, held by the device)",
    ),
    (WATER_HEATER, UP): ClassRule(
        WATER_HEATER, UP,
        ahead=(Write(0xC7, "participating"), Write(0xCA, SHIFT_HOUR)),
        end="none", delivered=(0x85,),
        note="daytime boiling from the event's start hour; set before the plan cycle starts (0xC8, 23:00)",
    ),
    (WATER_HEATER, DOWN): ClassRule(
        WATER_HEATER, DOWN,
        start=(Write(0xB0, "manualNoHeating"),),
        end="restore", restore=(0xB0,), delivered=(0x85,),
        note="no boiling in the window (0xB0 manual no heating), the previous setting back at the end",
    ),
    (HYBRID, UP): ClassRule(
        HYBRID, UP,
        start=(_DURATION, Write(0xB9, WINDOW), Write(0xB8, "householdConsumption")),
        renew=(_DURATION,),
        end="drstate", restore=(0xB8, 0xB9), delivered=(0x85,),
        note="solar linkage: household consumption (raise demand) in the window 0xB9",
    ),
    (HYBRID, DOWN): ClassRule(
        HYBRID, DOWN,
        start=(Write(0xB0, "manualNoHeating"),),
        end="restore", restore=(0xB0,), delivered=(0x85,),
        note="no boiling in the window (0xB0 manual no heating), the previous setting back at the end",
    ),
})
# fmt: on


@dataclass(frozen=True)
class Ask:
    """What an event asks for one interval: a direction, and for the battery a power (W) and an energy (Wh)."""

    start: float  #: gateway time
    end: float
    direction: str | None  #: UP, DOWN or None (normal operation)
    power_w: float | None = None  #: battery AC power, a magnitude; None: the device's maximum
    amount_wh: float | None = None  #: battery AC energy for the interval, a magnitude; None: no limit
    signals: tuple[str, ...] = field(default=())


SUPPORTED_SIGNALS = frozenset({"LOAD_DISPATCH", "CHARGE_STATE", "SIMPLE", "simple"})


def asks(signals: Sequence[Mapping[str, Any]], starts: Sequence[tuple[float, float]]) -> list[Ask]:
    """One :class:`Ask` per interval of the event (``starts``: each interval's start and end in gateway time),
    combining every signal's value for that interval."""
    out: list[Ask] = []
    for i, (start, end) in enumerate(starts):
        direction: str | None = None
        power: float | None = None
        amount: float | None = None
        names: list[str] = []
        for signal in signals:
            name = str(signal.get("signal_name", ""))
            intervals = signal.get("intervals") or []
            if i >= len(intervals):
                continue
            value = float(intervals[i].get("signal_payload", 0.0) or 0.0)
            names.append(name)
            if name == "LOAD_DISPATCH" and value:
                direction = UP if value > 0 else DOWN
                power = abs(value)
            elif name == "CHARGE_STATE" and value:
                amount = abs(value)
                direction = direction or (UP if value > 0 else DOWN)
            elif name.upper() == "SIMPLE" and value >= 1:
                direction = direction or DOWN
        out.append(Ask(start, end, direction, power, amount, tuple(names)))
    return out


def rule_for(class_id: int, direction: str | None) -> ClassRule | None:
    """The rule of ``class_id`` for ``direction`` (None: the class takes no part in such an event)."""
    if direction is None:
        return None
    return RULES.get((class_id, direction))


__all__ = [
    "AMOUNT",
    "BATTERY",
    "DOWN",
    "DR_MINUTES",
    "HYBRID",
    "KIND_OF_CLASS",
    "POWER",
    "RULES",
    "SHIFT_HOUR",
    "SUPPORTED_SIGNALS",
    "UP",
    "WATER_HEATER",
    "WINDOW",
    "Ask",
    "ClassRule",
    "Write",
    "asks",
    "rule_for",
]
