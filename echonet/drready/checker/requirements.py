"""The DRready requirement table, as data (DESIGN.md section 2).

:data:`REQUIREMENTS` lists, for each requirement and each of the three device classes (0x026B, 0x02A6, 0x027D), the
ways a device can show that it meets it (each way a set of :class:`Probe` that must all pass), the properties that
only support the evidence, and the table's own note. :func:`requirement_table` gives it as JSON-ready rows.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from ...errors import ValueDecodeError
from ...spec.identity import IDENTIFICATION_NUMBER, IDENTIFICATION_SIZE
from ..extensions import HYBRID_WATER_HEATER, STORAGE_BATTERY, WATER_HEATER

#: The DR-relevant device classes: electric water heater, hybrid water heater, storage battery.
DR_CLASSES: tuple[int, ...] = (WATER_HEATER, HYBRID_WATER_HEATER, STORAGE_BATTERY)
CLASS_NAMES: Mapping[int, str] = {
    WATER_HEATER: "electric water heater",
    HYBRID_WATER_HEATER: "hybrid water heater",
    STORAGE_BATTERY: "storage battery",
}


class CheckKind(enum.StrEnum):
    """How one property is checked."""

    READABLE = "readable"  #: a Get answers a value that fits its definition, and the EPC is in the Get map 0x9F
    SETTABLE = "settable"  #: the EPC is in the Set map 0x9E (with ``probe_set``: a SetC writing back is accepted)
    VALUE = "value"  #: readable, and the value passes a named check (``Probe.value_check``)
    ANNOUNCED = "announced"  #: the EPC is in the status-change announcement map 0x9D


def _identification_check(edt: bytes) -> str | None:
    if len(edt) != IDENTIFICATION_SIZE:
        return f"identification number of {len(edt)} byte(s), expected {IDENTIFICATION_SIZE}"
    try:
        IDENTIFICATION_NUMBER.decode(edt)
    except ValueDecodeError as exc:
        return exc.reason
    return None


def _maker_check(edt: bytes) -> str | None:
    return None if len(edt) == 3 else f"manufacturer code of {len(edt)} byte(s), expected 3"


#: Named value checks of :attr:`CheckKind.VALUE` probes: a description and a function giving why an EDT fails.
VALUE_CHECKS: Mapping[str, tuple[str, Callable[[bytes], str | None]]] = {
    "identification": ("17 bytes starting with 0xFE", _identification_check),
    "maker_code": ("3 bytes", _maker_check),
}


@dataclass(frozen=True)
class Probe:
    """One property check: ``epc`` of the device object (or of the node profile when ``profile``)."""

    epc: int
    kind: CheckKind
    profile: bool = False
    value_check: str | None = None

    @property
    def extension(self) -> bool:
        """A project extension EPC (non-standard, 0xF0-0xFF): judged only on the project's simulations."""
        return not self.profile and self.epc >= 0xF0

    @property
    def text(self) -> str:
        where = "node profile " if self.profile else ""
        extra = f" ({VALUE_CHECKS[self.value_check][0]})" if self.value_check else ""
        mark = " [non-standard]" if self.extension else ""
        return f"{where}0x{self.epc:02X} {self.kind.value}{extra}{mark}"


@dataclass(frozen=True)
class Way:
    """One way of meeting a requirement: every probe must pass."""

    probes: tuple[Probe, ...]
    label: str = ""

    @property
    def extension(self) -> bool:
        return any(p.extension for p in self.probes)


@dataclass(frozen=True)
class ClassRule:
    """What a requirement asks of one device class."""

    class_id: int
    ways: tuple[Way, ...]
    supporting: tuple[Probe, ...] = ()
    note: str = ""  #: the DESIGN table's cell

    @property
    def standard(self) -> bool:
        """Release R has a property for it (some way uses standard EPCs only)."""
        return any(not w.extension for w in self.ways)


@dataclass(frozen=True)
class Requirement:
    """One DRready requirement and its rule for each class it applies to (the others: not applicable)."""

    id: str
    text: str
    rules: tuple[ClassRule, ...]

    def rule_for(self, class_id: int) -> ClassRule | None:
        for rule in self.rules:
            if rule.class_id == class_id:
                return rule
        return None


def _r(epc: int, *, profile: bool = False) -> Probe:
    return Probe(epc, CheckKind.READABLE, profile)


def _s(epc: int) -> Probe:
    return Probe(epc, CheckKind.SETTABLE)


def _v(epc: int, check: str, *, profile: bool = False) -> Probe:
    return Probe(epc, CheckKind.VALUE, profile, check)


def _identification_rule(class_id: int) -> ClassRule:
    return ClassRule(
        class_id,
        (Way((_v(0x83, "identification", profile=True), _v(0x83, "identification"), _v(0x8A, "maker_code"))),),
        (_v(0x8A, "maker_code", profile=True), _r(0x8C), _r(0x8D)),
        "0x83 (node profile and object), 0x8A, 0x8C, 0x8D",
    )


def _current_power_heater(class_id: int) -> ClassRule:
    return ClassRule(class_id, (Way((_r(0x84),), "0x84 instantaneous power (W)"),), (_r(0x85),), "0x84 W, 0x85 kWh")


# fmt: off
REQUIREMENTS: tuple[Requirement, ...] = (
    Requirement("dr-amount", "send the DR-available amount", (
        ClassRule(WATER_HEATER,
                  (Way((_r(0xC9), _r(0xCB), _r(0xCC)), "energy shift estimates 0xC9, 0xCB, 0xCC"),),
                  (_r(0xCE), _r(0xCF), _r(0xF8)),
                  "0xC7-0xCF energy shift (expected Wh per shift slot)"),
        ClassRule(HYBRID_WATER_HEATER,
                  (Way((_r(0xF8),), "DR-available energy 0xF8"),),
                  note="none in Release R"),
        ClassRule(STORAGE_BATTERY,
                  (Way((_r(0xA4), _r(0xA5)), "AC chargeable / dischargeable energy 0xA4, 0xA5"),),
                  (_r(0xA2), _r(0xA3), _r(0xC8), _r(0xC9), _r(0xE2), _r(0xE4)),
                  "0xA2-0xA5 chargeable / dischargeable Wh, 0xC8/0xC9 power limits, 0xE2-0xE4 remaining"),
    )),
    Requirement("dr-command", "receive the DR start time / target", (
        ClassRule(WATER_HEATER,
                  (Way((_s(0xC7), _s(0xCA)), "participation 0xC7 + shift time 0xCA"),),
                  (_s(0xCD),),
                  "0xCA/0xCD daytime heating shift time (hourly), 0xC7 participation"),
        ClassRule(HYBRID_WATER_HEATER,
                  (Way((_s(0xB8), _s(0xB9)), "solar linkage mode 0xB8 + utilisation time 0xB9"),),
                  note="0xB8 solar linkage mode (0x42 raise demand, 0x43 lower), 0xB9 solar utilisation time"),
        ClassRule(STORAGE_BATTERY,
                  (Way((_s(0xDA), _s(0xC1), _s(0xC2), _s(0xEB), _s(0xEC)), "mode + methods + power (W)"),
                   Way((_s(0xDA), _s(0xC1), _s(0xC2), _s(0xAA), _s(0xAB)), "mode + methods + energy (Wh)")),
                  note="0xDA mode + 0xC1/0xC2 method + 0xEB/0xEC power (W), or + 0xAA/0xAB energy (Wh)"),
    )),
    Requirement("dr-duration", "receive the DR duration (renewed at least every 30 min)", (
        ClassRule(STORAGE_BATTERY,
                  (Way((_s(0xF0), _r(0xF1)), "DR duration 0xF0 + remaining time 0xF1"),),
                  note="none in Release R"),
    )),
    Requirement("dr-plan", "plan honouring the DR request; send the plan", (
        ClassRule(WATER_HEATER, (Way((_r(0xF6), _r(0xF7)), "boiling plans 0xF6, 0xF7"),),
                  note="device-internal; no property"),
        ClassRule(HYBRID_WATER_HEATER, (Way((_r(0xF6), _r(0xF7)), "boiling plans 0xF6, 0xF7"),), note="none"),
    )),
    Requirement("current-power", "current power, measured or estimated", (
        _current_power_heater(WATER_HEATER),
        _current_power_heater(HYBRID_WATER_HEATER),
        ClassRule(STORAGE_BATTERY,
                  (Way((_r(0xD3),), "0xD3 charging / discharging power (W)"),),
                  (_r(0xA8), _r(0xA9), _r(0xD6), _r(0xD8)),
                  "0xD3 W (signed), 0xA8/0xA9, 0xD6/0xD8 cumulative"),
    )),
    Requirement("backup-reserve", "backup reserve energy", (
        ClassRule(STORAGE_BATTERY,
                  (Way((_r(0xF4), _s(0xF4)), "backup reserve energy 0xF4"),),
                  (_r(0xA7),),
                  "none in Release R (0xA7 discharge lower limit % is the nearest)"),
    )),
    Requirement("return-after-dr", "return to the pre-DR mode when the DR ends", (
        ClassRule(STORAGE_BATTERY,
                  (Way((_s(0xF0), _r(0xF2), _s(0xF2)), "DR duration 0xF0 + DR state 0xF2 (Set 0x00 ends the DR)"),),
                  note="no property: device behaviour"),
    )),
    Requirement("comm-loss-fallback", "return to own mode when communication is lost", (
        ClassRule(STORAGE_BATTERY,
                  (Way((_s(0xF3),), "communication watchdog 0xF3"),),
                  (_r(0xF2),),
                  "none in 0x027D (0x02A7 has a watchdog timer)"),
    )),
    Requirement("identification", "individual identification", (
        _identification_rule(WATER_HEATER),
        _identification_rule(HYBRID_WATER_HEATER),
        _identification_rule(STORAGE_BATTERY),
    )),
)
# fmt: on


def requirement_table() -> list[dict[str, Any]]:
    """The requirement table as JSON-ready rows (what ``echonet drready requirements`` shows)."""
    rows: list[dict[str, Any]] = []
    for req in REQUIREMENTS:
        classes = []
        for class_id in DR_CLASSES:
            rule = req.rule_for(class_id)
            if rule is None:
                classes.append({"class": f"0x{class_id:04X}", "applies": False})
                continue
            classes.append(
                {
                    "class": f"0x{class_id:04X}",
                    "applies": True,
                    "standard": rule.standard,
                    "note": rule.note,
                    "ways": [
                        {
                            "label": w.label,
                            "extension": w.extension,
                            "checks": [_probe_json(p) for p in w.probes],
                        }
                        for w in rule.ways
                    ],
                    "supporting": [_probe_json(p) for p in rule.supporting],
                }
            )
        rows.append({"id": req.id, "text": req.text, "classes": classes})
    return rows


def _probe_json(p: Probe) -> dict[str, Any]:
    out: dict[str, Any] = {"epc": f"0x{p.epc:02X}", "check": p.kind.value}
    if p.profile:
        out["object"] = "node profile"
    if p.value_check:
        out["value_check"] = VALUE_CHECKS[p.value_check][0]
    if p.extension:
        out["standard"] = False
    return out


def rules_for(class_id: int) -> list[tuple[Requirement, ClassRule]]:
    """The requirements that apply to a class, each with its rule for that class."""
    out = []
    for req in REQUIREMENTS:
        rule = req.rule_for(class_id)
        if rule is not None:
            out.append((req, rule))
    return out


def probes_of(rule: ClassRule) -> list[Probe]:
    """Every probe of a rule: those of each way, then the supporting ones."""
    return [p for way in rule.ways for p in way.probes] + list(rule.supporting)


__all__ = [
    "CLASS_NAMES",
    "DR_CLASSES",
    "REQUIREMENTS",
    "VALUE_CHECKS",
    "CheckKind",
    "ClassRule",
    "Probe",
    "Requirement",
    "Way",
    "probes_of",
    "requirement_table",
    "rules_for",
]
