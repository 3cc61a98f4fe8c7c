"""The conformance report: a verdict per check and target, with the frames behind it.

A :class:`Report` holds the node's identity as read, one :class:`Result` per check and target (the node, or one
object), and every :class:`Exchange` the suite made (what it sent, what came back, each datagram as hex and as
decoded text). Every type has ``to_json`` (docs/json.md vocabulary); :mod:`.export` writes the JUnit XML and the
HTML report from the same objects.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from ..codec import decode
from ..describe import frame_lines
from ..errors import FrameDecodeError
from ..frame import EOJ
from ..spec.registry import Registry
from .checks import CHECKS_BY_ID, Check


class Verdict(enum.StrEnum):
    """The verdict of one check on one target."""

    PASS = "pass"
    FAIL = "fail"
    WARN = "warn"  #: the rule holds, but not in the way a controller would rely on, or could not be fully seen
    NOT_APPLICABLE = "not applicable"


@dataclass(frozen=True)
class Datagram:
    """One datagram of an exchange: its direction, the peer's port, the bytes and their decoded text."""

    direction: str  #: "sent" or "received"
    port: int  #: the peer's port (sent: the port it went to; received: the port it came from)
    local_port: int  #: our port (sent: the one it left from; received: the one it reached)
    data: bytes
    text: tuple[str, ...]

    @classmethod
    def of(cls, direction: str, data: bytes, port: int, local_port: int, registry: Registry) -> Datagram:
        return cls(direction, port, local_port, bytes(data), tuple(describe_datagram(data, registry)))

    def to_json(self) -> dict[str, Any]:
        return {
            "direction": self.direction,
            "port": self.port,
            "local_port": self.local_port,
            "hex": self.data.hex(),
            "decoded": list(self.text),
        }


def describe_datagram(data: bytes, registry: Registry) -> list[str]:
    """A datagram decoded for a person; a malformed one as the decode error, a frame with trailing bytes with them."""
    try:
        return frame_lines(decode(data), registry)
    except FrameDecodeError as exc:
        if exc.field == "trailing":
            try:
                lines = frame_lines(decode(data[: exc.offset]), registry)
            except FrameDecodeError:
                return [f"malformed: {exc}"]
            return [*lines, f"  (+ {len(data) - exc.offset} trailing byte(s): {data[exc.offset :].hex()})"]
        return [f"malformed: {exc}"]


@dataclass
class Exchange:
    """One request (or datagram sent) and what came back within the wait."""

    label: str
    datagrams: list[Datagram] = field(default_factory=list)
    timed_out: bool = False
    attempts: int = 1

    @property
    def answers(self) -> list[Datagram]:
        return [d for d in self.datagrams if d.direction == "received"]

    def to_json(self) -> dict[str, Any]:
        return {
            "label": self.label,
            "attempts": self.attempts,
            "timed_out": self.timed_out,
            "datagrams": [d.to_json() for d in self.datagrams],
        }


@dataclass(frozen=True)
class Result:
    """The verdict of one check on one target, why, and the exchanges that show it."""

    check: Check
    target: str  #: "node" or an EOJ
    verdict: Verdict
    reason: str
    evidence: tuple[Exchange, ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.check.id,
            "title": self.check.title,
            "clause": self.check.clause,
            "target": self.target,
            "verdict": self.verdict.value,
            "reason": self.reason,
            "evidence": [e.to_json() for e in self.evidence],
        }


def result(check_id: str, target: str, verdict: Verdict, reason: str, evidence: Iterable[Exchange] = ()) -> Result:
    """A :class:`Result` of the check of that id."""
    return Result(CHECKS_BY_ID[check_id], target, verdict, reason, tuple(evidence))


@dataclass(frozen=True)
class ObjectIdentity:
    """What the report shows of an object: class, release (0x82), identification (0x83), manufacturer (0x8A), maps."""

    eoj: EOJ
    class_name: str
    answered: bool
    version: bytes | None = None  #: 0x82
    identification: bytes | None = None  #: 0x83
    manufacturer: bytes | None = None  #: 0x8A
    get_map: frozenset[int] | None = None
    set_map: frozenset[int] | None = None
    announce_map: frozenset[int] | None = None

    def to_json(self) -> dict[str, Any]:
        def hexed(data: bytes | None) -> str | None:
            return None if data is None else data.hex()

        def listed(epcs: frozenset[int] | None) -> list[str] | None:
            return None if epcs is None else [f"0x{e:02X}" for e in sorted(epcs)]

        return {
            "eoj": str(self.eoj),
            "class": f"0x{self.eoj.class_id:04X}",
            "class_name": self.class_name,
            "answered": self.answered,
            "version_edt": hexed(self.version),
            "identification": hexed(self.identification),
            "manufacturer": hexed(self.manufacturer),
            "get_map": listed(self.get_map),
            "set_map": listed(self.set_map),
            "announce_map": listed(self.announce_map),
        }


@dataclass(frozen=True)
class Report:
    """Everything one run of the suite found on one node."""

    host: str
    port: int
    answered: bool
    objects: tuple[ObjectIdentity, ...]
    results: tuple[Result, ...]
    options: tuple[str, ...] = ()  #: "probe-set", "robustness"
    problems: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()

    def of(self, verdict: Verdict) -> list[Result]:
        return [r for r in self.results if r.verdict is verdict]

    @property
    def failed(self) -> bool:
        return not self.answered or any(r.verdict is Verdict.FAIL for r in self.results)

    def counts(self) -> dict[str, int]:
        return {v.value: sum(1 for r in self.results if r.verdict is v) for v in Verdict}

    def verdicts(self) -> dict[tuple[str, str], str]:
        """(check id, target) -> verdict: what two runs are compared on."""
        return {(r.check.id, r.target): r.verdict.value for r in self.results}

    def to_json(self) -> dict[str, Any]:
        return {
            "host": self.host,
            "port": self.port,
            "answered": self.answered,
            "ok": not self.failed,
            "options": list(self.options),
            "counts": self.counts(),
            "objects": [o.to_json() for o in self.objects],
            "results": [r.to_json() for r in self.results],
            "problems": list(self.problems),
            "notes": list(self.notes),
        }


__all__ = [
    "Datagram",
    "Exchange",
    "ObjectIdentity",
    "Report",
    "Result",
    "Verdict",
    "describe_datagram",
    "result",
]
