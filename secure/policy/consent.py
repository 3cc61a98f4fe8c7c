"""Consent to control a plain (legacy) ECHONET Lite device: what a grant covers, its record, and the warning shown
before one is given.

A consent grant records who granted it, when, why, and the device's protocol version (node profile 0x82) as
shown to the user; it is active while ``granted_at <= now < expires_at`` (so it is already expired *at*
``expires_at``) and until revoked; revocation is effective at once, whatever ``now`` says. ``outgoing`` grants
let this node write to the legacy device (EOJ = destination object); ``incoming`` grants let the legacy peer
write to one of this node's objects (EOJ = our destination object). :class:`~secure.policy.rules.Policy` keeps
the grants and decides with them.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from echonet.spec.dataclasses_table import RISK, DataClass, data_class
from secure.errors import SecureUsageError
from secure.policy.values import (
    CONSENT_READ_ESVS,
    SET_ESVS,
    Direction,
    describe_version,
    document_number,
    esv_name,
    normalize_peer,
    parse_eoj,
)

__all__ = ["DEFAULT_MAX_CONSENT_SECONDS", "ConsentGrant", "ConsentScope", "risk_text"]

DEFAULT_MAX_CONSENT_SECONDS = 7 * 86400.0


@dataclass(frozen=True)
class ConsentScope:
    """What a consent grant covers. ``epcs`` None means every EPC (must be chosen explicitly)."""

    peer: str
    eoj: bytes
    esvs: frozenset[int] = SET_ESVS
    epcs: frozenset[int] | None = None
    direction: Direction = Direction.OUTGOING
    #: Data classes (:mod:`echonet.spec.dataclasses_table`) every EPC covered must be of; ``None``: any.
    classes: frozenset[DataClass] | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "peer", normalize_peer(self.peer))
        object.__setattr__(self, "eoj", parse_eoj(self.eoj))
        object.__setattr__(self, "esvs", frozenset(self.esvs))
        if self.classes is not None:
            try:
                object.__setattr__(self, "classes", frozenset(DataClass(str(c)) for c in self.classes))
            except ValueError:
                raise SecureUsageError(f"data classes are {', '.join(c.value for c in DataClass)}") from None
            if not self.classes:
                raise SecureUsageError("a consent scope's data classes may not be empty")
        if not self.esvs or not self.esvs <= SET_ESVS | CONSENT_READ_ESVS:
            raise SecureUsageError("a consent scope names one or more of SetI, SetC, SetGet (or Get, INF_REQ)")
        if self.esvs & CONSENT_READ_ESVS and self.epcs is None and self.classes is None:
            raise SecureUsageError("a consent to read names the EPCs or the data classes it covers")
        if self.epcs is not None:
            object.__setattr__(self, "epcs", frozenset(self.epcs))
            if not self.epcs or not all(0x80 <= e <= 0xFF for e in self.epcs):
                raise SecureUsageError("a consent scope's EPCs lie in 0x80-0xFF")

    def covers(self, peer: str, eoj: bytes, esv: int, epcs: Iterable[int], direction: Direction) -> bool:
        return (
            peer == self.peer
            and eoj == self.eoj
            and esv in self.esvs
            and direction == self.direction
            and (self.epcs is None or set(epcs) <= self.epcs)
            and (self.classes is None or self._classes_cover(epcs))
        )

    def _classes_cover(self, epcs: Iterable[int]) -> bool:
        assert self.classes is not None
        class_id = (self.eoj[0] << 8) | self.eoj[1]
        return all(data_class(class_id, e) in self.classes for e in epcs)

    def describe(self) -> str:
        esvs = ",".join(esv_name(e) for e in sorted(self.esvs))
        epcs = "any EPC" if self.epcs is None else "EPC " + ",".join(f"0x{e:02X}" for e in sorted(self.epcs))
        if self.classes is not None:
            epcs += " of " + "/".join(sorted(c.value for c in self.classes)) + " data"
        arrow = "to" if self.direction is Direction.OUTGOING else "from"
        return f"{esvs} {arrow} {self.peer} object {self.eoj.hex().upper()}, {epcs}"

    def to_document(self) -> dict[str, object]:
        return {
            "peer": self.peer,
            "eoj": self.eoj.hex(),
            "esvs": sorted(self.esvs),
            "epcs": None if self.epcs is None else sorted(self.epcs),
            "direction": self.direction.value,
            **({} if self.classes is None else {"classes": sorted(c.value for c in self.classes)}),
        }

    @classmethod
    def from_document(cls, item: Mapping[str, object]) -> ConsentScope:
        esvs = item["esvs"]
        epcs = item.get("epcs")
        classes = item.get("classes")
        if not isinstance(esvs, list) or not (epcs is None or isinstance(epcs, list)):
            raise ValueError("bad scope")
        if not (classes is None or isinstance(classes, list)):
            raise ValueError("bad scope")
        return cls(
            peer=str(item["peer"]),
            eoj=bytes.fromhex(str(item["eoj"])),
            esvs=frozenset(int(e) for e in esvs),
            epcs=None if epcs is None else frozenset(int(e) for e in epcs),
            direction=Direction(str(item.get("direction", Direction.OUTGOING.value))),
            classes=None if classes is None else frozenset(DataClass(str(c)) for c in classes),
        )


@dataclass(frozen=True)
class ConsentGrant:
    """A recorded, scoped, time-limited, revocable consent to control a legacy device."""

    id: str
    scope: ConsentScope
    granted_at: float
    expires_at: float
    granted_by: str
    why: str
    device_version: str
    revoked_at: float | None = None
    revoked_by: str | None = None
    revoke_reason: str | None = None

    def state(self, now: float) -> str:
        """``active``, ``expired``, ``revoked`` or ``pending`` (now before granted_at)."""
        if self.revoked_at is not None:
            return "revoked"
        if now < self.granted_at:
            return "pending"
        if now >= self.expires_at:
            return "expired"
        return "active"

    def is_active(self, now: float) -> bool:
        return self.state(now) == "active"

    def to_document(self) -> dict[str, object]:
        return {
            "id": self.id,
            "scope": self.scope.to_document(),
            "granted_at": self.granted_at,
            "expires_at": self.expires_at,
            "granted_by": self.granted_by,
            "why": self.why,
            "device_version": self.device_version,
            "revoked_at": self.revoked_at,
            "revoked_by": self.revoked_by,
            "revoke_reason": self.revoke_reason,
        }

    @classmethod
    def from_document(cls, item: Mapping[str, object]) -> ConsentGrant:
        scope = item["scope"]
        if not isinstance(scope, dict):
            raise ValueError("bad scope")
        revoked_at = item.get("revoked_at")
        revoked_by = item.get("revoked_by")
        revoke_reason = item.get("revoke_reason")
        return cls(
            id=str(item["id"]),
            scope=ConsentScope.from_document(scope),
            granted_at=document_number(item["granted_at"]),
            expires_at=document_number(item["expires_at"]),
            granted_by=str(item["granted_by"]),
            why=str(item["why"]),
            device_version=str(item["device_version"]),
            revoked_at=None if revoked_at is None else document_number(revoked_at),
            revoked_by=None if revoked_by is None else str(revoked_by),
            revoke_reason=None if revoke_reason is None else str(revoke_reason),
        )

    def audit_fields(self) -> dict[str, object]:
        fields: dict[str, object] = {
            "consent_id": self.id,
            "peer": self.scope.peer,
            "eoj": self.scope.eoj.hex(),
            "esvs": [esv_name(e) for e in sorted(self.scope.esvs)],
            "epcs": None if self.scope.epcs is None else [f"0x{e:02X}" for e in sorted(self.scope.epcs)],
            "direction": self.scope.direction.value,
            "granted_at": self.granted_at,
            "expires_at": self.expires_at,
            "granted_by": self.granted_by,
            "why": self.why,
            "device_version": self.device_version,
        }
        if self.revoked_at is not None:
            fields.update(revoked_at=self.revoked_at, revoked_by=self.revoked_by, revoke_reason=self.revoke_reason)
        return fields


def risk_text(peer: str, version: str, *, scope: ConsentScope | None = None, duration: float | None = None) -> str:
    """The warning shown before asking for consent to control a plain ECHONET Lite device."""
    shown = describe_version(version)
    lines = [
        f"WARNING: {peer} speaks plain ECHONET Lite (device protocol version: {shown}).",
        "Plain ECHONET Lite has no authentication and no encryption:",
        "  - anyone who can reach this network can read every value this device sends or receives;",
        "  - anyone who can reach this network can forge commands to the device, and forge answers and",
        "    notifications from it; neither side can tell forged messages from real ones.",
        "Do not assume a closed or home network is safe: a compromised appliance, a guest or Wi-Fi client,",
        "or a misconfigured router on the same network can do all of the above.",
    ]
    if scope is not None:
        until = "" if duration is None else f" for {_human_duration(duration)}"
        kind = "reads" if scope.esvs <= CONSENT_READ_ESVS else "writes"
        lines.append(
            f"Granting consent allows unprotected {kind} ({scope.describe()}){until}, until it expires or is revoked."
        )
        classes = sorted(scope.classes) if scope.classes is not None else []
        if not classes and scope.epcs is not None:
            class_id = (scope.eoj[0] << 8) | scope.eoj[1]
            classes = sorted({data_class(class_id, e) for e in scope.epcs})
        for cls in classes:
            lines.append(f"  {cls.value} data: {RISK[cls]}.")
    return "\n".join(lines)


def _human_duration(seconds: float) -> str:
    remaining = int(seconds)
    parts = []
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        if remaining >= size:
            parts.append(f"{remaining // size}{unit}")
            remaining %= size
    return "".join(parts) or "0s"
