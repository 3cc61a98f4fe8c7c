"""DRready conformance checker: probe one device over the network, judge it requirement by requirement.

The requirement table (DESIGN.md section 2) is data: :data:`REQUIREMENTS` lists, for each requirement and each of
the three device classes (0x026B, 0x02A6, 0x027D), the ways a device can show that it meets it (each way a set of
:class:`Probe` that must all pass), the properties that only support the evidence, and the table's own note.

:func:`check` reads the node profile (0x82 version, 0x83 identification, 0x8A manufacturer, 0xD6 instance list),
then for each DR-relevant object its 0x82 release, identity, property maps (0x9D / 0x9E / 0x9F) and every EPC a
requirement names, and judges each requirement ``met`` / ``partially met`` / ``not met`` / ``unknown`` with the
evidence (EPC, the value decoded through the registry, the ESV that answered, or the timeout). Nothing here
changes device state unless ``probe_set`` asks for a SetC that writes back the value just read. Last, it offers a
secure-overlay handshake (EHD1 0x21, EDHOC message_1, suite 2) and reports whether an overlay record came back;
that probe comes last because some plain stacks stop receiving after a datagram they cannot parse (uecho).

The project's extension EPCs (0xF0-0xF9, :mod:`.extensions`, non-standard) are judged only on devices recognised
as the project's DRready simulations (manufacturer code 0xFFFFFF and their identification pattern); on any other
device a requirement that Release R has no property for is ``unknown``: the device may implement it, but not in a
way a controller can see.

Every odd answer (timeouts, SNAs, malformed or wrongly sized EDTs, a missing node profile) becomes ``unknown`` or
``not met`` with a reason; the checker returns a :class:`Report` and never prints.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import socket
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from ..aio import Controller, EchonetTimeoutError, GetResult
from ..errors import EchonetError, ValueDecodeError
from ..frame import EOJ, esv_name
from ..node.config import ECHONET_PORT, NODE_PROFILE_EOJ
from ..node.events import Addr
from ..propmap import decode_instance_list, decode_property_map
from ..spec.registry import Registry, default_registry
from .extensions import (
    DR_COMMANDS,
    DR_INACTIVE,
    DR_STATE,
    EXTENSIONS,
    HYBRID_WATER_HEATER,
    STORAGE_BATTERY,
    WATER_HEATER,
    with_extensions,
)

DR_CLASSES: tuple[int, ...] = (WATER_HEATER, HYBRID_WATER_HEATER, STORAGE_BATTERY)
CLASS_NAMES: Mapping[int, str] = {
    WATER_HEATER: "electric water heater",
    HYBRID_WATER_HEATER: "hybrid water heater",
    STORAGE_BATTERY: "storage battery",
}
#: Manufacturer code of the project's simulations ("unregistered").
SIMULATION_MAKER = b"\xff\xff\xff"
#: The overlay's default EHD1 (secure/records.py, DESIGN.md section 5).
OVERLAY_EHD1 = 0x21

LEGACY_RISK = (
    "plain ECHONET Lite only: frames are neither authenticated nor encrypted, so anyone on the network can read "
    "and control the device; treat it as read-only unless control is consented to (scoped, time-limited, "
    "recorded, revocable)"
)

_IDENTITY_EPCS = (0x82, 0x83, 0x8A, 0x8C, 0x8D, 0x9D, 0x9E, 0x9F)
_PROFILE_EPCS = (0x82, 0x83, 0x8A, 0xD6)


# The requirement table ------------------------------------------------------------------------------------------


class Status(enum.StrEnum):
    """The verdict on one requirement for one object."""

    MET = "met"
    PARTIAL = "partially met"
    NOT_MET = "not met"
    UNKNOWN = "unknown"
    NOT_APPLICABLE = "not applicable"


class CheckKind(enum.StrEnum):
    """How one property is checked."""

    READABLE = "readable"  #: a Get answers a value that fits its definition, and the EPC is in the Get map 0x9F
    SETTABLE = "settable"  #: the EPC is in the Set map 0x9E (with ``probe_set``: a SetC writing back is accepted)
    VALUE = "value"  #: readable, and the value passes a named check (``Probe.value_check``)
    ANNOUNCED = "announced"  #: the EPC is in the status-change announcement map 0x9D


class Outcome(enum.StrEnum):
    """The result of one probe."""

    PASS = "pass"
    DEGRADED = "degraded"  #: works, but not as the maps say (readable yet missing from 0x9F, ...)
    FAIL = "fail"
    UNKNOWN = "unknown"


def _identification_check(edt: bytes) -> str | None:
    if len(edt) != 17:
        return f"identification number of {len(edt)} byte(s), expected 17"
    if edt[0] != 0xFE:
        return f"identification number starts with 0x{edt[0]:02X}, expected 0xFE"
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


# The report -----------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Evidence:
    """What one probe saw."""

    probe: Probe
    outcome: Outcome
    reason: str
    target: str  #: EOJ probed
    name: str = ""
    standard: bool = True
    esv: str | None = None  #: the ESV that answered (Get_Res, Get_SNA, Set_Res, ...) or "timeout"
    edt: bytes | None = None
    value: str | None = None  #: the value decoded through the registry
    in_map: bool | None = None  #: membership in the map the check relies on (None: map unreadable)

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "target": self.target,
            "epc": f"0x{self.probe.epc:02X}",
            "name": self.name,
            "check": self.probe.kind.value,
            "outcome": self.outcome.value,
            "reason": self.reason,
            "standard": self.standard,
            "esv": self.esv,
            "edt": self.edt.hex() if self.edt is not None else None,
            "value": self.value,
            "in_map": self.in_map,
        }
        return out


@dataclass(frozen=True)
class RequirementResult:
    requirement: Requirement
    status: Status
    reason: str
    evidence: tuple[Evidence, ...] = ()
    supporting: tuple[Evidence, ...] = ()
    extension: bool = False  #: met (or judged) through the project's non-standard extension EPCs
    note: str = ""

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.requirement.id,
            "text": self.requirement.text,
            "status": self.status.value,
            "reason": self.reason,
            "non_standard": self.extension,
            "note": self.note,
            "evidence": [e.to_json() for e in self.evidence],
            "supporting": [e.to_json() for e in self.supporting],
        }


@dataclass(frozen=True)
class NodeInfo:
    """The node profile as read (every field ``None`` when it could not be read)."""

    answered: bool
    esv: str | None = None
    version: bytes | None = None
    identification: bytes | None = None
    manufacturer: bytes | None = None
    instances: tuple[EOJ, ...] | None = None
    problems: tuple[str, ...] = ()

    @property
    def version_text(self) -> str:
        return version_text(self.version)

    def to_json(self) -> dict[str, Any]:
        return {
            "answered": self.answered,
            "esv": self.esv,
            "version": _hex(self.version),
            "version_text": self.version_text,
            "identification": _hex(self.identification),
            "manufacturer": _hex(self.manufacturer),
            "instances": None if self.instances is None else [str(e) for e in self.instances],
            "problems": list(self.problems),
        }


@dataclass(frozen=True)
class ObjectReport:
    """One DR-relevant object: identity, release, maps and the verdict on every requirement."""

    eoj: EOJ
    answered: bool
    release: bytes | None = None
    identification: bytes | None = None
    manufacturer: bytes | None = None
    product_code: bytes | None = None
    serial_number: bytes | None = None
    simulation: bool = False
    get_map: frozenset[int] | None = None
    set_map: frozenset[int] | None = None
    announce_map: frozenset[int] | None = None
    requirements: tuple[RequirementResult, ...] = ()
    problems: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()

    @property
    def class_name(self) -> str:
        return CLASS_NAMES.get(self.eoj.class_id, f"class 0x{self.eoj.class_id:04X}")

    @property
    def release_text(self) -> str:
        return release_text(self.release)

    def to_json(self) -> dict[str, Any]:
        return {
            "eoj": str(self.eoj),
            "class": self.class_name,
            "answered": self.answered,
            "release": _hex(self.release),
            "release_text": self.release_text,
            "identification": _hex(self.identification),
            "manufacturer": _hex(self.manufacturer),
            "product_code": _text(self.product_code),
            "serial_number": _text(self.serial_number),
            "drready_simulation": self.simulation,
            "maps": {
                "9d": _map_json(self.announce_map),
                "9e": _map_json(self.set_map),
                "9f": _map_json(self.get_map),
            },
            "requirements": [r.to_json() for r in self.requirements],
            "problems": list(self.problems),
            "notes": list(self.notes),
        }


@dataclass(frozen=True)
class OverlayResult:
    """Whether the device answered a secure-overlay handshake record with an overlay record of its own."""

    offered: bool | None  #: None: the probe could not be made
    detail: str
    answer_kind: str | None = None  #: "handshake", "cookie" or another record kind that came back

    @property
    def text(self) -> str:
        if self.offered is None:
            return "secure overlay: not probed"
        return "secure overlay: offered" if self.offered else "secure overlay: not offered"

    @property
    def legacy(self) -> bool:
        return self.offered is False

    def to_json(self) -> dict[str, Any]:
        return {
            "offered": self.offered,
            "answer_kind": self.answer_kind,
            "detail": self.detail,
            "mode": "secure" if self.offered else ("legacy" if self.offered is False else "unknown"),
            "risk": LEGACY_RISK if self.offered is False else None,
        }


@dataclass(frozen=True)
class Report:
    host: str
    port: int
    node: NodeInfo
    objects: tuple[ObjectReport, ...]
    overlay: OverlayResult
    probe_set: bool = False
    problems: tuple[str, ...] = ()

    @property
    def answered(self) -> bool:
        """Whether the device answered anything at all (node profile, an object, or the overlay handshake)."""
        return self.node.answered or any(o.answered for o in self.objects) or self.overlay.offered is True

    @property
    def results(self) -> list[RequirementResult]:
        return [r for o in self.objects for r in o.requirements if r.status is not Status.NOT_APPLICABLE]

    @property
    def all_met(self) -> bool:
        results = self.results
        return bool(results) and all(r.status is Status.MET for r in results)

    def to_json(self) -> dict[str, Any]:
        return {
            "host": self.host,
            "port": self.port,
            "answered": self.answered,
            "all_met": self.all_met,
            "probe_set": self.probe_set,
            "node": self.node.to_json(),
            "secure_overlay": self.overlay.to_json(),
            "objects": [o.to_json() for o in self.objects],
            "problems": list(self.problems),
        }


def _hex(data: bytes | None) -> str | None:
    return None if data is None else data.hex()


def _text(data: bytes | None) -> str | None:
    if data is None:
        return None
    try:
        return data.decode("ascii").rstrip("\x00 ")
    except UnicodeDecodeError:
        return data.hex()


def _map_json(epcs: frozenset[int] | None) -> list[str] | None:
    return None if epcs is None else [f"0x{e:02X}" for e in sorted(epcs)]


def version_text(edt: bytes | None) -> str:
    """Node profile 0x82 (major, minor, message-format bitmap, 0) for a person."""
    if edt is None:
        return "unknown"
    if len(edt) != 4:
        return f"malformed ({len(edt)} byte(s): {edt.hex()})"
    formats = [name for bit, name in ((0, "specified"), (1, "arbitrary")) if edt[2] & (1 << bit)]
    return f"{edt[0]}.{edt[1]:02d} (message format: {', '.join(formats) or 'none stated'})"


def release_text(edt: bytes | None) -> str:
    """Device object 0x82 (0, 0, release letter, revision) for a person."""
    if edt is None:
        return "unknown"
    if len(edt) != 4 or not 0x41 <= edt[2] <= 0x5A:
        return f"malformed ({edt.hex()})"
    return f"Release {chr(edt[2])} rev. {edt[3]}"


# Reading the device ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Read:
    """What a Get gave for one EPC."""

    esv: str  #: Get_Res, Get_SNA, "timeout", "no answer"
    edt: bytes | None  #: None when the device gave no value (PDC=0, refused, unanswered)


@dataclass(frozen=True)
class _SetProbe:
    esv: str | None  #: Set_Res, SetC_SNA, SetI_SNA, "timeout"; None when skipped
    detail: str


@dataclass
class _ObjectData:
    eoj: EOJ
    answered: bool = False
    reads: dict[int, _Read] = field(default_factory=dict)
    maps: dict[int, frozenset[int] | None] = field(default_factory=dict)
    sets: dict[int, _SetProbe] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def value(self, epc: int) -> bytes | None:
        read = self.reads.get(epc)
        return read.edt if read is not None else None


def _absorb(data: _ObjectData, result: GetResult, asked: Iterable[int]) -> None:
    frame = result.frame
    esv = esv_name(frame.esv) if frame is not None and frame.esv is not None else "answer"
    unanswered = set(result.unanswered)
    for epc in asked:
        edt = result.values.get(epc)
        if epc in unanswered:
            data.reads[epc] = _Read("no answer", None)
        elif edt:
            data.reads[epc] = _Read(esv, bytes(edt))
        elif edt is not None:
            data.reads[epc] = _Read(f"{esv} with PDC=0", None)
        else:
            data.reads[epc] = _Read(esv if epc in result.refused else f"{esv} without it", None)


async def _get(
    controller: Controller,
    addr: Addr,
    eoj: EOJ,
    epcs: Sequence[int],
    data: _ObjectData,
    timeout: float | None,
    *,
    split: bool = True,
    **options: Any,
) -> bool:
    """Get ``epcs`` into ``data``; False when the object did not answer at all. ``split=False`` asks once (no
    smaller Gets when nothing comes back): for the first, small Get of an object that may not exist."""
    if not epcs:
        return True
    try:
        result = await controller.get(addr, eoj, epcs, timeout=timeout, split=split, **options)
    except EchonetTimeoutError:
        for epc in epcs:
            data.reads.setdefault(epc, _Read("timeout", None))
        return False
    data.answered = True
    _absorb(data, result, epcs)
    return True


def _decode_map(data: _ObjectData, epc: int) -> None:
    edt = data.value(epc)
    if edt is None:
        data.maps[epc] = None
        read = data.reads.get(epc)
        data.problems.append(f"map 0x{epc:02X} not readable ({read.esv if read else 'not asked'})")
        return
    try:
        data.maps[epc] = decode_property_map(edt)
    except ValueDecodeError as exc:
        data.maps[epc] = _lenient_map(edt)
        how = "read as the EPCs it carries" if data.maps[epc] is not None else "unusable"
        data.problems.append(f"map 0x{epc:02X} malformed ({edt.hex()}): {exc}; {how}")


def _lenient_map(edt: bytes) -> frozenset[int] | None:
    """The EPCs a malformed property map still carries: a 17-byte bitmap whatever its count byte says, or the list
    bytes from 0x80 up; ``None`` when neither form fits."""
    if len(edt) == 17 and edt[0] >= 16:
        return frozenset(0x80 + 0x10 * bit + low for low in range(16) for bit in range(8) if edt[low + 1] & (1 << bit))
    if 1 <= len(edt) <= 16 and edt[0] < 16:
        return frozenset(e for e in edt[1:] if e >= 0x80)
    return None


def is_simulation(identification: bytes | None, manufacturer: bytes | None, product_code: bytes | None) -> bool:
    """Whether an object is one of the project's DRready simulations (only these carry the extension EPCs)."""
    if manufacturer != SIMULATION_MAKER:
        return False
    if identification is not None and len(identification) == 17 and identification[4:7] == b"DRR":
        return True
    return product_code is not None and product_code.startswith(b"DRREADY")


def _rules_for(class_id: int) -> list[tuple[Requirement, ClassRule]]:
    out = []
    for req in REQUIREMENTS:
        rule = req.rule_for(class_id)
        if rule is not None:
            out.append((req, rule))
    return out


def _probes_of(rule: ClassRule) -> list[Probe]:
    return [p for way in rule.ways for p in way.probes] + list(rule.supporting)


async def _read_object(
    controller: Controller,
    addr: Addr,
    eoj: EOJ,
    *,
    timeout: float | None,
    probe_set: bool,
    registry: Registry,
    first_retries: int | None = None,
) -> _ObjectData:
    data = _ObjectData(eoj)
    retries = {} if first_retries is None else {"retries": first_retries}
    if not await _get(controller, addr, eoj, _IDENTITY_EPCS, data, timeout, split=False, **retries):
        data.problems.append(f"{eoj} did not answer a Get of 0x82, 0x83, 0x8A, 0x8C, 0x8D and the maps")
        return data
    for epc in (0x9D, 0x9E, 0x9F):
        _decode_map(data, epc)
    sim = is_simulation(data.value(0x83), data.value(0x8A), data.value(0x8C))
    wanted: list[int] = []
    for _, rule in _rules_for(eoj.class_id):
        for probe in _probes_of(rule):
            if probe.profile or probe.epc in data.reads or probe.epc in wanted:
                continue
            if probe.extension and not sim:
                continue
            if probe.kind is CheckKind.ANNOUNCED:
                continue
            wanted.append(probe.epc)
    if sim and DR_STATE not in wanted and any(d.epc == DR_STATE for d in EXTENSIONS.get(eoj.class_id, ())):
        wanted.append(DR_STATE)  # read before any write-back, to end a DR the write-backs may start
    await _get(controller, addr, eoj, sorted(wanted), data, timeout)
    if probe_set:
        await _probe_sets(controller, addr, eoj, data, sim, timeout, registry)
    return data


async def _probe_sets(
    controller: Controller,
    addr: Addr,
    eoj: EOJ,
    data: _ObjectData,
    sim: bool,
    timeout: float | None,
    registry: Registry,
) -> None:
    """SetC of the value just read, one EPC at a time, for every settable probe (state stays as it was read)."""
    epcs: list[int] = []
    for _, rule in _rules_for(eoj.class_id):
        for probe in _probes_of(rule):
            if probe.kind is CheckKind.SETTABLE and probe.epc not in epcs and (sim or not probe.extension):
                epcs.append(probe.epc)
    for epc in epcs:
        edt = data.value(epc)
        if edt is None:
            data.sets[epc] = _SetProbe(None, "write-back skipped: no value was read to write back")
            continue
        definition = registry.property(eoj.class_id, epc)
        reason = definition.type.check(edt) if definition is not None else None
        if reason is not None:
            data.sets[epc] = _SetProbe(
                None, f"write-back skipped: the value read ({edt.hex()}) cannot be set: {reason}"
            )
            continue
        try:
            result = await controller.set(addr, eoj, {epc: edt}, timeout=timeout)
        except EchonetTimeoutError:
            data.sets[epc] = _SetProbe("timeout", f"no answer to a SetC of {edt.hex()}")
            continue
        frame = result.frame
        esv = esv_name(frame.esv) if frame is not None and frame.esv is not None else "answer"
        if result.refused:
            data.sets[epc] = _SetProbe(esv, f"SetC writing back {edt.hex()} refused ({esv})")
        else:
            data.sets[epc] = _SetProbe(esv, f"SetC writing back {edt.hex()} accepted ({esv})")
    if (
        sim
        and data.value(DR_STATE) == bytes((DR_INACTIVE,))
        and any(e in DR_COMMANDS.get(eoj.class_id, ()) for e in epcs)
    ):
        # the simulations take any Set of a DR-command EPC as a DR command: end the DR the write-backs started
        try:
            await controller.set(addr, eoj, {DR_STATE: bytes((DR_INACTIVE,))}, timeout=timeout)
        except EchonetTimeoutError:
            data.notes.append("could not end the DR the write-backs started (no answer to a SetC of 0xF2 = 0x00)")
        else:
            data.notes.append("the write-backs started a DR on the simulation; ended it again with 0xF2 = 0x00")


# Judging --------------------------------------------------------------------------------------------------------


def _value_text(registry: Registry, class_id: int, epc: int, edt: bytes) -> tuple[str, str | None, str, bool]:
    """(value text, decode error, name, standard) of one EDT through the registry."""
    try:
        dv = registry.decode_value(class_id, epc, edt)
        if dv.definition is None or dv.error is not None:
            return edt.hex(), dv.error, dv.name, dv.standard
        value = dv.definition.type.to_json(dv.value)
    except Exception as exc:  # remote bytes a value type did not foresee must not stop the check
        return edt.hex(), f"{type(exc).__name__}: {exc}", f"0x{epc:02X}", epc < 0xF0
    if isinstance(value, list):
        text = "[" + ", ".join(str(v) for v in value) + "]"
    elif isinstance(value, dict):
        text = ", ".join(f"{k}={v}" for k, v in value.items())
    else:
        text = str(value)
    unit = dv.unit
    if unit and not isinstance(value, list | dict):
        text = f"{text} {unit}"
    return text, None, dv.name, dv.standard


@dataclass(frozen=True)
class _Who:
    target: str
    name: str
    standard: bool


def _ev(who: _Who, probe: Probe, outcome: Outcome, reason: str, **details: Any) -> Evidence:
    return Evidence(probe, outcome, reason, who.target, who.name, who.standard, **details)


def _judge_probe(
    probe: Probe,
    obj: _ObjectData,
    profile: _ObjectData,
    sim: bool,
    registry: Registry,
) -> Evidence:
    data = profile if probe.profile else obj
    class_id = data.eoj.class_id
    target = str(data.eoj)
    definition = registry.property(class_id, probe.epc)
    name = (
        definition.name
        if definition is not None
        else (f"vendor-specific 0x{probe.epc:02X}" if probe.epc >= 0xF0 else f"unknown 0x{probe.epc:02X}")
    )
    standard = definition.standard if definition is not None else probe.epc < 0xF0
    base = _Who(target, name, standard)
    if probe.extension and not sim:
        return _ev(
            base,
            probe,
            Outcome.UNKNOWN,
            "vendor EPC: its meaning is defined only for the project's DRready simulations, not for this device",
        )
    if not data.answered:
        read = data.reads.get(probe.epc)
        return _ev(base, probe, Outcome.UNKNOWN, "the object did not answer", esv=read.esv if read else None)
    if probe.kind is CheckKind.SETTABLE:
        evidence = _judge_set(probe, data, base)
    elif probe.kind is CheckKind.ANNOUNCED:
        anno = data.maps.get(0x9D)
        if anno is None:
            return _ev(base, probe, Outcome.UNKNOWN, "status-change map 0x9D unreadable")
        if probe.epc in anno:
            return _ev(base, probe, Outcome.PASS, "in the status-change map 0x9D", in_map=True)
        evidence = _ev(base, probe, Outcome.FAIL, "not in the status-change map 0x9D", in_map=False)
    else:
        evidence = _judge_read(probe, data, base, registry)
    if evidence.outcome is Outcome.FAIL and not probe.profile and definition is not None:
        older = _older_release(data.value(0x82), definition.since)
        if older is not None:
            evidence = replace(evidence, reason=f"{evidence.reason}; {older}")
    return evidence


def _older_release(edt: bytes | None, since: str | None) -> str | None:
    """Why a property can be missing: the object declares (0x82) a release older than the one that added it."""
    if edt is None or since is None or len(since) != 1 or len(edt) != 4 or not 0x41 <= edt[2] <= 0x5A:
        return None
    declared = chr(edt[2])
    if declared >= since.upper():
        return None
    return f"Release {since.upper()} added it, and the object declares Release {declared} (0x82)"


def _judge_read(probe: Probe, data: _ObjectData, base: _Who, registry: Registry) -> Evidence:
    get_map = data.maps.get(0x9F) if not probe.profile else None
    in_map = None if get_map is None else probe.epc in get_map
    read = data.reads.get(probe.epc)
    if read is None:
        return _ev(base, probe, Outcome.UNKNOWN, "not read", in_map=in_map)
    if read.edt is None:
        if read.esv in ("timeout", "no answer"):
            return _ev(base, probe, Outcome.UNKNOWN, f"no answer ({read.esv})", esv=read.esv, in_map=in_map)
        listed = " although listed in the Get map 0x9F" if in_map else ""
        return _ev(base, probe, Outcome.FAIL, f"no value ({read.esv}){listed}", esv=read.esv, in_map=in_map)
    edt = read.edt
    text, error, _, _ = _value_text(registry, data.eoj.class_id, probe.epc, edt)
    if error is not None:
        return _ev(
            base,
            probe,
            Outcome.FAIL,
            f"value {edt.hex()} does not fit its definition: {error}",
            esv=read.esv,
            edt=edt,
            value=text,
            in_map=in_map,
        )
    if probe.value_check is not None:
        what, check = VALUE_CHECKS[probe.value_check]
        reason = check(edt)
        if reason is not None:
            return _ev(
                base,
                probe,
                Outcome.FAIL,
                f"{reason} ({what} expected)",
                esv=read.esv,
                edt=edt,
                value=text,
                in_map=in_map,
            )
    if in_map is False:
        return _ev(
            base,
            probe,
            Outcome.DEGRADED,
            "answered, but missing from the Get map 0x9F (a controller that follows the map never reads it)",
            esv=read.esv,
            edt=edt,
            value=text,
            in_map=False,
        )
    note = "" if in_map or probe.profile else " (Get map 0x9F unreadable)"
    return _ev(base, probe, Outcome.PASS, f"read{note}", esv=read.esv, edt=edt, value=text, in_map=in_map)


def _judge_set(probe: Probe, data: _ObjectData, base: _Who) -> Evidence:
    set_map = data.maps.get(0x9E)
    in_map = None if set_map is None else probe.epc in set_map
    read = data.reads.get(probe.epc)
    edt = read.edt if read is not None else None
    tried = data.sets.get(probe.epc)
    accepted = tried is not None and tried.esv in ("Set_Res",)
    refused = tried is not None and tried.esv is not None and tried.esv.endswith("_SNA")
    extra = f"; {tried.detail}" if tried is not None else ""
    esv = tried.esv if tried is not None else None
    if in_map is None:
        if accepted:
            return _ev(base, probe, Outcome.PASS, f"Set map 0x9E unreadable{extra}", esv=esv, edt=edt)
        if refused:
            return _ev(base, probe, Outcome.FAIL, f"Set map 0x9E unreadable{extra}", esv=esv, edt=edt)
        return _ev(base, probe, Outcome.UNKNOWN, f"Set map 0x9E unreadable{extra}", esv=esv, edt=edt)
    if in_map:
        if refused:
            return _ev(base, probe, Outcome.FAIL, f"in the Set map 0x9E{extra}", esv=esv, edt=edt, in_map=True)
        if tried is not None and tried.esv == "timeout":
            return _ev(base, probe, Outcome.DEGRADED, f"in the Set map 0x9E{extra}", esv=esv, edt=edt, in_map=True)
        return _ev(base, probe, Outcome.PASS, f"in the Set map 0x9E{extra}", esv=esv, edt=edt, in_map=True)
    if accepted:
        return _ev(
            base, probe, Outcome.DEGRADED, f"missing from the Set map 0x9E{extra}", esv=esv, edt=edt, in_map=False
        )
    return _ev(base, probe, Outcome.FAIL, f"not in the Set map 0x9E{extra}", esv=esv, edt=edt, in_map=False)


def _judge(
    req: Requirement, rule: ClassRule, obj: _ObjectData, profile: _ObjectData, sim: bool, registry: Registry
) -> RequirementResult:
    cache: dict[Probe, Evidence] = {}

    def ev(probe: Probe) -> Evidence:
        found = cache.get(probe)
        if found is None:
            found = cache[probe] = _judge_probe(probe, obj, profile, sim, registry)
        return found

    way_outcomes = [(way, [ev(p) for p in way.probes]) for way in rule.ways]
    supporting = tuple(ev(p) for p in rule.supporting if sim or not p.extension)
    evidence = tuple(cache[p] for p in dict.fromkeys(p for way in rule.ways for p in way.probes))
    extension = not rule.standard

    def outcomes(evs: list[Evidence]) -> set[Outcome]:
        return {e.outcome for e in evs}

    def result(status: Status, reason: str, *, ext: bool = extension) -> RequirementResult:
        return RequirementResult(req, status, reason, evidence, supporting, ext, rule.note)

    if not rule.ways:
        return result(Status.UNKNOWN, "no property can show it")
    for way, evs in way_outcomes:
        if outcomes(evs) == {Outcome.PASS}:
            how = f"via {way.label}" if way.label else "every check passed"
            if way.extension:
                how += " (non-standard extension: Release R has no property for it)"
            return result(Status.MET, how, ext=way.extension)
    for way, evs in way_outcomes:
        if outcomes(evs) <= {Outcome.PASS, Outcome.DEGRADED}:
            bad = ", ".join(f"0x{e.probe.epc:02X}" for e in evs if e.outcome is Outcome.DEGRADED)
            return result(Status.PARTIAL, f"via {way.label or 'one way'}, but not as its maps say ({bad})")
    if all(e.probe.extension and e.outcome is Outcome.UNKNOWN for _, evs in way_outcomes for e in evs):
        what = "Release R has no property for it" if not rule.standard else "only a vendor EPC shows it"
        return result(
            Status.UNKNOWN,
            f"{what} ({rule.note}); this device is not one of the project's simulations, whose extension EPCs "
            "are the only ones the checker can interpret",
        )
    undecided = [way for way, evs in way_outcomes if Outcome.FAIL not in outcomes(evs)]
    if undecided:
        missing = sorted(
            {
                f"0x{e.probe.epc:02X}"
                for way, evs in way_outcomes
                if way in undecided
                for e in evs
                if e.outcome is Outcome.UNKNOWN
            }
        )
        return result(Status.UNKNOWN, f"could not be decided: no usable answer for {', '.join(missing)}")
    passed = [e for _, evs in way_outcomes for e in evs if e.outcome in (Outcome.PASS, Outcome.DEGRADED)]
    failed = sorted(
        {f"0x{e.probe.epc:02X} ({e.reason})" for _, evs in way_outcomes for e in evs if e.outcome is Outcome.FAIL}
    )
    if passed:
        return result(Status.PARTIAL, "some checks passed, but every way has a failure: " + "; ".join(failed))
    return result(Status.NOT_MET, "; ".join(failed))


def _object_report(obj: _ObjectData, profile: _ObjectData, registry: Registry, sim_registry: Registry) -> ObjectReport:
    sim = obj.answered and is_simulation(obj.value(0x83), obj.value(0x8A), obj.value(0x8C))
    reg = sim_registry if sim else registry
    results = []
    for req in REQUIREMENTS:
        rule = req.rule_for(obj.eoj.class_id)
        if rule is None:
            results.append(RequirementResult(req, Status.NOT_APPLICABLE, "the table asks nothing of this class"))
            continue
        if not obj.answered:
            results.append(RequirementResult(req, Status.UNKNOWN, "the object did not answer", note=rule.note))
            continue
        results.append(_judge(req, rule, obj, profile, sim, reg))
    return ObjectReport(
        obj.eoj,
        obj.answered,
        obj.value(0x82),
        obj.value(0x83),
        obj.value(0x8A),
        obj.value(0x8C),
        obj.value(0x8D),
        sim,
        obj.maps.get(0x9F),
        obj.maps.get(0x9E),
        obj.maps.get(0x9D),
        tuple(results),
        tuple(obj.problems),
        tuple(obj.notes),
    )


# Overlay probe ------------------------------------------------------------------------------------------------------

#: Sends one datagram to an address and collects what comes back: ``(payload, addr, wait) -> [(data, from)]``; it
#: may return early once an overlay record has arrived.
Exchange = Callable[[bytes, Addr, float], Awaitable[list[tuple[bytes, Addr]]]]


def overlay_hello(suite: int = 2) -> bytes:
    """A handshake record (EHD1 0x21, type 0x01, empty connection id) carrying a fresh EDHOC message_1 of a
    throwaway static-DH credential (method 3) for ``suite``."""
    from cryptography.hazmat.primitives.asymmetric import ec

    from secure.cose import Credential, LocalCredential, make_ccs
    from secure.edhoc import Initiator
    from secure.edhoc_messages import Method
    from secure.records import encode_handshake

    key = ec.generate_private_key(ec.SECP256R1())
    credential = LocalCredential(Credential.from_ccs(make_ccs(key.public_key(), kid=b"\x2c")), key)
    initiator = Initiator(
        method=Method.STATIC_STATIC, credential=credential, verify_peer=lambda _: None, suites=(suite,)
    )
    return encode_handshake(b"", initiator.create_message_1())


async def udp_exchange(payload: bytes, addr: Addr, wait: float, *, bind: str | None = None) -> list[tuple[bytes, Addr]]:
    """Send ``payload`` from a throwaway UDP socket and collect datagrams from ``addr``'s host for up to ``wait``
    seconds (stops early at the first one whose EHD1 is the overlay's)."""
    loop = asyncio.get_running_loop()
    received: list[tuple[bytes, Addr]] = []
    done: asyncio.Future[None] = loop.create_future()
    family = socket.AF_INET6 if ":" in str(addr[0]) else socket.AF_INET

    class _Collect(asyncio.DatagramProtocol):
        def datagram_received(self, data: bytes, source: Addr) -> None:
            received.append((bytes(data), source))
            if data[:1] == bytes((OVERLAY_EHD1,)) and not done.done():
                done.set_result(None)

        def error_received(self, exc: Exception) -> None:
            pass

    local = (bind or ("::" if family == socket.AF_INET6 else "0.0.0.0"), 0)
    transport, _ = await loop.create_datagram_endpoint(_Collect, local_addr=local, family=family)
    try:
        transport.sendto(payload, addr)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(asyncio.shield(done), wait)
    finally:
        transport.close()
    return received


async def probe_overlay(
    addr: Addr, *, wait: float = 1.0, exchange: Exchange | None = None, bind: str | None = None
) -> OverlayResult:
    """Offer a secure-overlay handshake to ``addr``; whether an overlay record (EHD1 0x21) came back in time."""
    try:
        hello = overlay_hello()
    except Exception as exc:  # the optional secure package missing or broken must not stop the check
        return OverlayResult(None, f"could not build an EDHOC message_1: {type(exc).__name__}: {exc}")

    async def default(payload: bytes, to: Addr, seconds: float) -> list[tuple[bytes, Addr]]:
        return await udp_exchange(payload, to, seconds, bind=bind)

    try:
        answers = await (exchange or default)(hello, addr, wait)
    except OSError as exc:
        return OverlayResult(None, f"could not send the handshake record: {exc.strerror or exc}")
    host = str(addr[0])
    overlay = [(d, a) for d, a in answers if d[:1] == bytes((OVERLAY_EHD1,)) and str(a[0]) == host]
    if overlay:
        data, source = overlay[0]
        kind = _record_kind(data)
        return OverlayResult(
            True,
            f"answered the handshake record with an overlay {kind} record ({len(data)} bytes from "
            f"{source[0]} port {source[1]})",
            kind,
        )
    others = [d for d, a in answers if str(a[0]) == host]
    if others:
        detail = (
            f"answered the handshake record with {len(others)} datagram(s) that are not overlay records "
            f"(first bytes {others[0][:4].hex()})"
        )
    else:
        detail = f"no overlay record (EHD1 0x{OVERLAY_EHD1:02X}) came back within {wait:g} s"
    return OverlayResult(False, detail)


def _record_kind(data: bytes) -> str:
    try:
        from secure.records import CookieRecord, HandshakeRecord, decode

        record = decode(data)
    except Exception as exc:  # remote garbage: MalformedRecordError, or anything the decoder did not foresee
        return f"malformed ({type(exc).__name__})"
    if isinstance(record, HandshakeRecord):
        return "handshake"
    if isinstance(record, CookieRecord):
        return "cookie"
    return str(record.kind.name.lower())


# The check --------------------------------------------------------------------------------------------------------


async def _read_profile(controller: Controller, addr: Addr, timeout: float | None) -> tuple[_ObjectData, NodeInfo]:
    data = _ObjectData(NODE_PROFILE_EOJ)
    answered = await _get(controller, addr, NODE_PROFILE_EOJ, _PROFILE_EPCS, data, timeout, split=False)
    if not answered:
        return data, NodeInfo(False, "timeout", problems=("the node profile 0x0EF001 did not answer",))
    problems: list[str] = []
    instances: tuple[EOJ, ...] | None = None
    listing = data.value(0xD6)
    if listing is None:
        problems.append(f"instance list 0xD6 not readable ({data.reads[0xD6].esv})")
    else:
        try:
            instances = tuple(decode_instance_list(listing).eojs)
        except ValueDecodeError as exc:
            problems.append(f"instance list 0xD6 malformed ({listing.hex()}): {exc}")
    for epc, what in ((0x82, "version"), (0x83, "identification number"), (0x8A, "manufacturer code")):
        if data.value(epc) is None:
            problems.append(f"node profile 0x{epc:02X} ({what}) not readable ({data.reads[epc].esv})")
    esvs = sorted({r.esv for r in data.reads.values()})
    return data, NodeInfo(
        True,
        "/".join(esvs),
        data.value(0x82),
        data.value(0x83),
        data.value(0x8A),
        instances,
        tuple(problems),
    )


async def check(
    host: str,
    *,
    controller: Controller,
    port: int = ECHONET_PORT,
    eojs: Sequence[EOJ] | None = None,
    timeout: float | None = None,
    probe_set: bool = False,
    overlay: bool = True,
    overlay_wait: float = 1.0,
    overlay_exchange: Exchange | None = None,
    bind: str | None = None,
    registry: Registry | None = None,
) -> Report:
    """Probe the device at ``host``:``port`` through ``controller`` and judge every DRready requirement.

    ``eojs`` checks these objects instead of the DR-relevant ones of the node profile's instance list (0xD6).
    ``timeout`` is per request attempt (the controller's retries apply). ``probe_set`` adds a SetC writing back the
    value just read for each settable EPC; that is not free of side effects on devices that take any Set of a
    command EPC as a command (the project's simulations start a DR). ``overlay`` offers a secure-overlay handshake
    last (``overlay_exchange`` replaces the UDP exchange, for tests).
    """
    reg = registry if registry is not None else default_registry()
    sim_reg = with_extensions(reg)
    addr: Addr = (host, port)
    problems: list[str] = []
    profile, node = await _read_profile(controller, addr, timeout)
    targets: list[EOJ]
    fallback = False
    if eojs:
        targets = list(dict.fromkeys(eojs))
    elif node.instances is not None:
        targets = [e for e in node.instances if e.class_id in DR_CLASSES]
        if not targets:
            listed = ", ".join(str(e) for e in node.instances) or "none"
            problems.append(f"no DRready object (0x026B, 0x02A6, 0x027D) in the instance list (0xD6: {listed})")
    else:
        targets, fallback = [EOJ.of(c, 1) for c in DR_CLASSES], True

    async def read(eoj: EOJ) -> _ObjectData:
        try:
            return await _read_object(
                controller,
                addr,
                eoj,
                timeout=timeout,
                probe_set=probe_set,
                registry=sim_reg,
                # a node without a node profile is most likely no node at all: one attempt per guess
                first_retries=0 if fallback and not node.answered else None,
            )
        except (EchonetError, OSError) as exc:
            return _ObjectData(eoj, problems=[f"{type(exc).__name__}: {exc}"])

    if fallback:
        # no instance list: guess instance 0x01 of each DRready class, all at once, and keep those that answer
        guessed = await asyncio.gather(*(read(eoj) for eoj in targets))
        objects = [o for o in guessed if o.answered]
        if objects:
            found = ", ".join(str(o.eoj) for o in objects)
            problems.append(f"no usable instance list: found {found} by trying instance 0x01 of each DRready class")
        else:
            problems.append("no usable instance list, and no DRready class answered at instance 0x01")
    else:
        objects = [await read(eoj) for eoj in targets]
    reports = tuple(_object_report(o, profile, reg, sim_reg) for o in objects)
    if not overlay:
        overlay_result = OverlayResult(None, "not asked")
    else:
        overlay_result = await probe_overlay(addr, wait=overlay_wait, exchange=overlay_exchange, bind=bind)
        if overlay_result.offered and not node.answered:
            problems.append(
                "the device answers the secure overlay but not plain ECHONET Lite requests: its properties can only "
                "be read through a secure session, which needs credentials it trusts (not probed)"
            )
    return Report(host, port, node, reports, overlay_result, probe_set, tuple(problems))


__all__ = [
    "CLASS_NAMES",
    "DR_CLASSES",
    "LEGACY_RISK",
    "REQUIREMENTS",
    "VALUE_CHECKS",
    "CheckKind",
    "ClassRule",
    "Evidence",
    "Exchange",
    "NodeInfo",
    "ObjectReport",
    "Outcome",
    "OverlayResult",
    "Probe",
    "Report",
    "Requirement",
    "RequirementResult",
    "Status",
    "Way",
    "check",
    "is_simulation",
    "overlay_hello",
    "probe_overlay",
    "release_text",
    "requirement_table",
    "udp_exchange",
    "version_text",
]
