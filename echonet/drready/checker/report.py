"""The checker's report: verdicts, evidence, what was read of the node and each object, and their JSON form.

A :class:`Report` holds the node profile as read (:class:`NodeInfo`), one :class:`ObjectReport` per DR-relevant
object with a :class:`RequirementResult` per requirement and the :class:`Evidence` behind it, and the secure-overlay
probe's :class:`OverlayResult`. Every type has ``to_json``; the command line (``echonet drready check``) writes the
text form from these.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Any

from ...frame import EOJ
from ...spec.identity import release_of, release_text, version_of, version_text
from ...spec.registry import default_registry
from .requirements import CLASS_NAMES, Probe, Requirement

LEGACY_RISK = (
    "plain ECHONET Lite only: frames are neither authenticated nor encrypted, so anyone on the network can read "
    "and control the device; treat it as read-only unless control is consented to (scoped, time-limited, "
    "recorded, revocable)"
)


class Status(enum.StrEnum):
    """The verdict on one requirement for one object."""

    MET = "met"
    PARTIAL = "partially met"
    NOT_MET = "not met"
    UNKNOWN = "unknown"
    NOT_APPLICABLE = "not applicable"


class Outcome(enum.StrEnum):
    """The result of one probe."""

    PASS = "pass"
    DEGRADED = "degraded"  #: works, but not as the maps say (readable yet missing from 0x9F, ...)
    FAIL = "fail"
    UNKNOWN = "unknown"


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
            "version": _typed(version_of(self.version)),
            "version_edt": _hex(self.version),
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
            "class": f"0x{self.eoj.class_id:04X}",
            "class_name": _table_name(self.eoj.class_id, self.class_name),
            "answered": self.answered,
            "release": _typed(release_of(self.release)),
            "release_edt": _hex(self.release),
            "release_text": self.release_text,
            "identification": _hex(self.identification),
            "manufacturer": _hex(self.manufacturer),
            "product_code": _text(self.product_code),
            "serial_number": _text(self.serial_number),
            "drready_simulation": self.simulation,
            "get_map": _map_json(self.get_map),
            "set_map": _map_json(self.set_map),
            "announce_map": _map_json(self.announce_map),
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


def _table_name(class_id: int, fallback: str) -> str:
    """The class's name in the spec tables (docs/json.md: ``class_name``)."""
    found = default_registry().get_class(class_id)
    return fallback if found is None else found.name


def _typed(value: Any) -> Any:
    """A typed 0x82 value in its JSON form (docs/json.md), or ``None`` when it was not read or is malformed."""
    return None if value is None else value.to_json()


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


__all__ = [
    "LEGACY_RISK",
    "Evidence",
    "NodeInfo",
    "ObjectReport",
    "Outcome",
    "OverlayResult",
    "Report",
    "RequirementResult",
    "Status",
    "release_text",
    "version_text",
]
