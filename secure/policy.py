"""Coexistence policy between secured and plain (legacy) ECHONET Lite peers: default deny, pure, takes now.

Peers are keyed by their normalised IP address and are in one of three states:

* **unknown** (never classified): every decision is DENY ``unknown_peer``, in both directions.
* **secure** (enrolled after a successful handshake with an allow-listed key): secured traffic is allowed;
  plaintext *from* it is DROP ``downgrade`` (to be audited as ``downgrade_dropped``) and plaintext *to* it is
  DENY ``downgrade``. Secure is forever: :meth:`Policy.classify_legacy` refuses a secure peer and nothing in
  this module turns a secure peer back into a legacy one. There is no automatic fallback.
* **legacy** (classified explicitly by the operator, or by granting consent): plaintext only, read-only by
  default. Get (0x62), INF_REQ (0x63), INF (0x73), INFC (0x74) and response ESVs (0x50-0x53, 0x5E, 0x71, 0x72,
  0x7A, 0x7E) are allowed. SetI (0x60), SetC (0x61) and SetGet (0x6E) need an active consent grant whose
  scope covers (peer, EOJ, ESV, every EPC written, direction). Any other ESV is DENY ``unknown_esv``.

A consent grant records who granted it, when, why, and the device's protocol version (node profile 0x82) as
shown to the user; it is active while ``granted_at <= now < expires_at`` (so it is already expired *at*
``expires_at``) and until revoked; revocation is effective at once, whatever ``now`` says. ``outgoing`` grants
let this node write to the legacy device (EOJ = destination object); ``incoming`` grants let the legacy peer
write to one of this node's objects (EOJ = our destination object).

:class:`Policy` is in-memory and pure; :class:`PolicyStore` persists it (``policy.json``, atomic, 0o600),
re-reads it when another process changed it, and audits changes. Decisions name the audit event the caller
must record (:meth:`Decision.audit_event`, :meth:`Decision.audit_fields`).
"""

from __future__ import annotations

import ipaddress
import os
import re
import secrets
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from enum import StrEnum
from pathlib import Path

from echonet.errors import ValueDecodeError
from echonet.spec.identity import PROTOCOL_VERSION
from secure import store
from secure.audit import AuditEvent, AuditLog
from secure.errors import SecureUsageError

__all__ = [
    "DEFAULT_MAX_CONSENT_SECONDS",
    "ESV_NAMES",
    "READ_ONLY_ESVS",
    "SET_ESVS",
    "Action",
    "ConsentGrant",
    "ConsentScope",
    "Decision",
    "Direction",
    "PeerKind",
    "PeerRecord",
    "Policy",
    "PolicyStore",
    "describe_version",
    "esv_name",
    "normalize_peer",
    "parse_duration",
    "parse_eoj",
    "parse_epcs",
    "parse_esvs",
    "risk_text",
]

SETI, SETC, GET, INF_REQ, SETGET, INF, INFC = 0x60, 0x61, 0x62, 0x63, 0x6E, 0x73, 0x74
SET_ESVS = frozenset({SETI, SETC, SETGET})
READ_ONLY_ESVS = frozenset({GET, INF_REQ, INF, INFC})
RESPONSE_ESVS = frozenset({0x50, 0x51, 0x52, 0x53, 0x5E, 0x71, 0x72, 0x7A, 0x7E})
ESV_NAMES: Mapping[str, int] = {
    "SetI": SETI,
    "SetC": SETC,
    "Get": GET,
    "INF_REQ": INF_REQ,
    "SetGet": SETGET,
    "INF": INF,
    "INFC": INFC,
}
DEFAULT_MAX_CONSENT_SECONDS = 7 * 86400.0
_VERSION = 1


class Action(StrEnum):
    ALLOW = "allow"
    DENY = "deny"
    DROP = "drop"


class PeerKind(StrEnum):
    SECURE = "secure"
    LEGACY = "legacy"


class Direction(StrEnum):
    OUTGOING = "outgoing"
    INCOMING = "incoming"


def esv_name(esv: int) -> str:
    for name, code in ESV_NAMES.items():
        if code == esv:
            return name
    return f"0x{esv:02X}"


# -------------------------------------------------------------------------------------------------- parsing


def normalize_peer(address: str) -> str:
    """Canonical text of an IPv4/IPv6 address (raises :class:`SecureUsageError` otherwise)."""
    try:
        return str(ipaddress.ip_address(address.strip()))
    except ValueError:
        raise SecureUsageError(f"not an IP address: {address!r}") from None


def parse_eoj(value: str | bytes | int) -> bytes:
    """EOJ as 3 bytes, from ``"027D01"``/``"0x027D01"``, 3 bytes, or an int."""
    if isinstance(value, bytes):
        eoj = value
    elif isinstance(value, int):
        if not 0 <= value <= 0xFFFFFF:
            raise SecureUsageError(f"EOJ out of range: {value:#x}")
        eoj = value.to_bytes(3, "big")
    else:
        text = value.strip().lower().removeprefix("0x")
        if not re.fullmatch(r"[0-9a-f]{6}", text):
            raise SecureUsageError(f"an EOJ is 6 hex digits (class group, class, instance), got {value!r}")
        eoj = bytes.fromhex(text)
    if len(eoj) != 3:
        raise SecureUsageError("an EOJ is 3 bytes")
    return eoj


def parse_esvs(text: str) -> frozenset[int]:
    """Comma-separated Set-type ESVs by name (SetI, SetC, SetGet; any case) or code (0x61)."""
    names = {name.lower(): code for name, code in ESV_NAMES.items()}
    result: set[int] = set()
    for part in (p.strip() for p in text.split(",")):
        if not part:
            continue
        if part.lower() in names:
            code = names[part.lower()]
        else:
            try:
                code = int(part, 16)
            except ValueError:
                raise SecureUsageError(f"unknown ESV {part!r} (use SetI, SetC or SetGet)") from None
        if code not in SET_ESVS:
            raise SecureUsageError(f"consent is only needed for SetI, SetC and SetGet, not {esv_name(code)}")
        result.add(code)
    if not result:
        raise SecureUsageError("no ESV given")
    return frozenset(result)


def parse_epcs(text: str) -> frozenset[int]:
    """Comma-separated EPCs in hex (``0xDA,0xEB`` or ``DA,EB``), each 0x80-0xFF."""
    result: set[int] = set()
    for part in (p.strip() for p in text.split(",")):
        if not part:
            continue
        try:
            code = int(part, 16)
        except ValueError:
            raise SecureUsageError(f"not an EPC: {part!r}") from None
        if not 0x80 <= code <= 0xFF:
            raise SecureUsageError(f"EPCs lie in 0x80-0xFF, got {part!r}")
        result.add(code)
    if not result:
        raise SecureUsageError("no EPC given")
    return frozenset(result)


_DURATION_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_duration(text: str) -> float:
    """``90s``, ``30m``, ``2h``, ``1d``, ``1h30m`` -> seconds (positive)."""
    cleaned = text.strip().lower().replace(" ", "")
    if not re.fullmatch(r"(\d+[smhd])+", cleaned):
        raise SecureUsageError(f"duration must look like 30m, 2h, 1d or 1h30m, got {text!r}")
    total = sum(int(n) * _DURATION_UNITS[u] for n, u in re.findall(r"(\d+)([smhd])", cleaned))
    if total <= 0:
        raise SecureUsageError("duration must be positive")
    return float(total)


def describe_version(value: bytes | str) -> str:
    """Human text of node profile EPC 0x82 (major, minor, format bitmap, 0), from 4 bytes or 8 hex digits.

    Any other text is taken as already formatted (as shown to the user) and returned stripped.
    """
    raw: bytes | None = None
    if isinstance(value, bytes):
        raw = value
    else:
        text = value.strip()
        compact = text.lower().removeprefix("0x").replace(" ", "")
        if re.fullmatch(r"[0-9a-f]{8}", compact):
            raw = bytes.fromhex(compact)
        else:
            if not text or len(text) > 200 or not text.isprintable():
                raise SecureUsageError("the protocol version must be 1-200 printable characters")
            return text
    try:
        version = PROTOCOL_VERSION.decode(raw)
    except ValueDecodeError:
        raise SecureUsageError("node profile 0x82 is 4 bytes") from None
    formats = version.format_names
    shown = " and ".join(formats) if formats else "no"
    plural = "s" if len(formats) > 1 else ""
    return f"ECHONET Lite Ver. {version.major}.{version.minor} ({shown} message format{plural})"


# --------------------------------------------------------------------------------------------------- values


@dataclass(frozen=True)
class PeerRecord:
    address: str
    kind: PeerKind
    since: float
    fingerprint: bytes | None = None
    version: str | None = None

    def to_document(self) -> dict[str, object]:
        return {
            "address": self.address,
            "kind": self.kind.value,
            "since": self.since,
            "fingerprint": None if self.fingerprint is None else self.fingerprint.hex(),
            "version": self.version,
        }

    @classmethod
    def from_document(cls, item: Mapping[str, object]) -> PeerRecord:
        fingerprint = item.get("fingerprint")
        version = item.get("version")
        return cls(
            address=normalize_peer(str(item["address"])),
            kind=PeerKind(str(item["kind"])),
            since=_number(item["since"]),
            fingerprint=None if fingerprint is None else bytes.fromhex(str(fingerprint)),
            version=None if version is None else str(version),
        )


def _number(value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError("not a number")
    return float(value)


@dataclass(frozen=True)
class ConsentScope:
    """What a consent grant covers. ``epcs`` None means every EPC (must be chosen explicitly)."""

    peer: str
    eoj: bytes
    esvs: frozenset[int] = SET_ESVS
    epcs: frozenset[int] | None = None
    direction: Direction = Direction.OUTGOING

    def __post_init__(self) -> None:
        object.__setattr__(self, "peer", normalize_peer(self.peer))
        object.__setattr__(self, "eoj", parse_eoj(self.eoj))
        object.__setattr__(self, "esvs", frozenset(self.esvs))
        if not self.esvs or not self.esvs <= SET_ESVS:
            raise SecureUsageError("a consent scope names one or more of SetI, SetC, SetGet")
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
        )

    def describe(self) -> str:
        esvs = ",".join(esv_name(e) for e in sorted(self.esvs))
        epcs = "any EPC" if self.epcs is None else "EPC " + ",".join(f"0x{e:02X}" for e in sorted(self.epcs))
        arrow = "to" if self.direction is Direction.OUTGOING else "from"
        return f"{esvs} {arrow} {self.peer} object {self.eoj.hex().upper()}, {epcs}"

    def to_document(self) -> dict[str, object]:
        return {
            "peer": self.peer,
            "eoj": self.eoj.hex(),
            "esvs": sorted(self.esvs),
            "epcs": None if self.epcs is None else sorted(self.epcs),
            "direction": self.direction.value,
        }

    @classmethod
    def from_document(cls, item: Mapping[str, object]) -> ConsentScope:
        esvs = item["esvs"]
        epcs = item.get("epcs")
        if not isinstance(esvs, list) or not (epcs is None or isinstance(epcs, list)):
            raise ValueError("bad scope")
        return cls(
            peer=str(item["peer"]),
            eoj=bytes.fromhex(str(item["eoj"])),
            esvs=frozenset(int(e) for e in esvs),
            epcs=None if epcs is None else frozenset(int(e) for e in epcs),
            direction=Direction(str(item.get("direction", Direction.OUTGOING.value))),
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
            granted_at=_number(item["granted_at"]),
            expires_at=_number(item["expires_at"]),
            granted_by=str(item["granted_by"]),
            why=str(item["why"]),
            device_version=str(item["device_version"]),
            revoked_at=None if revoked_at is None else _number(revoked_at),
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


@dataclass(frozen=True)
class Decision:
    """The outcome for one outgoing request or incoming frame.

    ``consent_id`` is the grant that allowed a legacy write (or, for ``consent_expired``/``consent_revoked``,
    the grant that no longer does). The remaining fields describe the frame for the audit record: no EDT.
    """

    action: Action
    reason: str
    consent_id: str | None = None
    peer: str = ""
    direction: Direction = Direction.OUTGOING
    esv: int | None = None
    eoj: bytes | None = None
    epcs: tuple[int, ...] = field(default=())

    @property
    def allowed(self) -> bool:
        return self.action is Action.ALLOW

    def audit_event(self) -> AuditEvent | None:
        """The event to record: downgrade_dropped, policy_denied, legacy_use (consented write) or None."""
        if self.action is Action.DROP:
            return AuditEvent.DOWNGRADE_DROPPED
        if self.action is Action.DENY:
            return AuditEvent.POLICY_DENIED
        if self.consent_id is not None:
            return AuditEvent.LEGACY_USE
        return None

    def audit_fields(self) -> dict[str, object]:
        fields: dict[str, object] = {
            "action": self.action.value,
            "reason": self.reason,
            "peer": self.peer,
            "direction": self.direction.value,
        }
        if self.esv is not None:
            fields["esv"] = esv_name(self.esv)
        if self.eoj is not None:
            fields["eoj"] = self.eoj.hex()
        if self.epcs:
            fields["epcs"] = [f"0x{e:02X}" for e in self.epcs]
        if self.consent_id is not None:
            fields["consent_id"] = self.consent_id
        return fields


# --------------------------------------------------------------------------------------------------- policy


class Policy:
    """Peer classification and consent grants, with pure decision functions (no I/O, injected ``now``)."""

    def __init__(
        self,
        peers: Iterable[PeerRecord] = (),
        grants: Iterable[ConsentGrant] = (),
        *,
        max_consent_seconds: float = DEFAULT_MAX_CONSENT_SECONDS,
    ) -> None:
        self._peers = {p.address: p for p in peers}
        self._grants = {g.id: g for g in grants}
        self.max_consent_seconds = max_consent_seconds

    # ---------------------------------------------------------------------------------------------- peers

    def peer(self, address: str) -> PeerRecord | None:
        return self._peers.get(normalize_peer(address))

    def peers(self) -> tuple[PeerRecord, ...]:
        return tuple(self._peers.values())

    def enrol_secure(self, address: str, *, now: float, fingerprint: bytes | None = None) -> PeerRecord:
        """Mark a peer secure (after a handshake with an allow-listed key). Irreversible by design."""
        key = normalize_peer(address)
        existing = self._peers.get(key)
        if existing is not None and existing.kind is PeerKind.SECURE:
            if fingerprint is not None and fingerprint != existing.fingerprint:
                existing = replace(existing, fingerprint=fingerprint)
                self._peers[key] = existing
            return existing
        record = PeerRecord(key, PeerKind.SECURE, now, fingerprint, None)
        self._peers[key] = record
        return record

    def classify_legacy(self, address: str, *, now: float, version: str) -> PeerRecord:
        """Mark a peer as plain ECHONET Lite (read-only until consent). Refused for a secure peer."""
        key = normalize_peer(address)
        existing = self._peers.get(key)
        if existing is not None and existing.kind is PeerKind.SECURE:
            raise SecureUsageError(
                f"{key} is enrolled as secure; a secure peer is never downgraded to plain ECHONET Lite"
            )
        shown = describe_version(version)
        if existing is not None and existing.version == shown:
            return existing
        record = PeerRecord(key, PeerKind.LEGACY, existing.since if existing else now, None, shown)
        self._peers[key] = record
        return record

    # ---------------------------------------------------------------------------------------------- consent

    def grant(
        self,
        scope: ConsentScope,
        *,
        now: float,
        duration: float,
        who: str,
        why: str,
        version: str,
        consent_id: str | None = None,
    ) -> ConsentGrant:
        """Record a consent grant (an unknown peer becomes legacy). ``version``: as shown to the user."""
        if not who.strip() or not why.strip():
            raise SecureUsageError("a consent grant records who grants it and why")
        if not duration > 0:
            raise SecureUsageError("a consent grant must expire after a positive duration")
        if duration > self.max_consent_seconds:
            raise SecureUsageError(
                f"a consent grant may last at most {self.max_consent_seconds / 3600:g} h; grant again later"
            )
        shown = describe_version(version)
        self.classify_legacy(scope.peer, now=now, version=shown)
        grant_id = consent_id or secrets.token_hex(8)
        if grant_id in self._grants:
            raise SecureUsageError(f"consent id {grant_id} exists already")
        grant = ConsentGrant(
            id=grant_id,
            scope=scope,
            granted_at=now,
            expires_at=now + duration,
            granted_by=who.strip(),
            why=why.strip(),
            device_version=shown,
        )
        self._grants[grant_id] = grant
        return grant

    def find_grant(self, consent_id: str) -> ConsentGrant:
        """A grant by id or unique id prefix (at least 4 characters)."""
        wanted = consent_id.strip().lower()
        if wanted in self._grants:
            return self._grants[wanted]
        matches = [g for i, g in self._grants.items() if len(wanted) >= 4 and i.startswith(wanted)]
        if len(matches) != 1:
            raise SecureUsageError(f"no consent grant {consent_id!r}" if not matches else "ambiguous consent id")
        return matches[0]

    def revoke(self, consent_id: str, *, now: float, who: str, why: str = "") -> ConsentGrant:
        """Revoke a grant; from now on it allows nothing."""
        grant = self.find_grant(consent_id)
        if grant.revoked_at is not None:
            raise SecureUsageError(f"consent {grant.id} is already revoked")
        if not who.strip():
            raise SecureUsageError("a revocation records who revokes")
        revoked = replace(grant, revoked_at=now, revoked_by=who.strip(), revoke_reason=why.strip())
        self._grants[grant.id] = revoked
        return revoked

    def grants(self, *, now: float | None = None, active_only: bool = False) -> tuple[ConsentGrant, ...]:
        if active_only and now is None:
            raise SecureUsageError("active_only needs now")
        result = sorted(self._grants.values(), key=lambda g: (g.granted_at, g.id))
        if active_only:
            assert now is not None
            result = [g for g in result if g.is_active(now)]
        return tuple(result)

    # -------------------------------------------------------------------------------------------- decisions

    def decide_outgoing(
        self,
        peer: str,
        deoj: bytes | int,
        esv: int,
        epcs: Iterable[int] = (),
        *,
        now: float,
        secured: bool,
    ) -> Decision:
        """May this node send ``esv`` to ``deoj`` at ``peer``? ``epcs``: the EPCs written (Set half)."""
        return self._decide(peer, parse_eoj(deoj), esv, tuple(epcs), now, secured, Direction.OUTGOING)

    def decide_incoming(
        self,
        peer: str,
        esv: int,
        deoj: bytes | int | None = None,
        epcs: Iterable[int] = (),
        *,
        now: float,
        secured: bool,
    ) -> Decision:
        """May this node accept a frame from ``peer``? For Set-type ESVs pass our ``deoj`` and the EPCs."""
        eoj = None if deoj is None else parse_eoj(deoj)
        return self._decide(peer, eoj, esv, tuple(epcs), now, secured, Direction.INCOMING)

    def _decide(
        self,
        peer: str,
        eoj: bytes | None,
        esv: int,
        epcs: tuple[int, ...],
        now: float,
        secured: bool,
        direction: Direction,
    ) -> Decision:
        address = normalize_peer(peer)

        def decision(action: Action, reason: str, consent_id: str | None = None) -> Decision:
            return Decision(action, reason, consent_id, address, direction, esv, eoj, epcs)

        record = self._peers.get(address)
        if record is None:
            return decision(Action.DENY, "unknown_peer")
        if record.kind is PeerKind.SECURE:
            if secured:
                return decision(Action.ALLOW, "secure_session")
            return decision(Action.DROP if direction is Direction.INCOMING else Action.DENY, "downgrade")
        if secured:
            return decision(Action.DENY, "not_enrolled_secure")
        if esv in READ_ONLY_ESVS or esv in RESPONSE_ESVS:
            return decision(Action.ALLOW, "legacy_read_only")
        if esv not in SET_ESVS:
            return decision(Action.DENY, "unknown_esv")
        if eoj is None:
            return decision(Action.DENY, "consent_required")
        matching = [g for g in self._grants.values() if g.scope.covers(address, eoj, esv, epcs, direction)]
        active = [g for g in matching if g.is_active(now)]
        if active:
            chosen = max(active, key=lambda g: (g.expires_at, g.id))
            return decision(Action.ALLOW, "consent", chosen.id)
        for state in ("revoked", "expired"):
            stale = [g for g in matching if g.state(now) == state]
            if stale:
                latest = max(stale, key=lambda g: (g.expires_at, g.id))
                return decision(Action.DENY, f"consent_{state}", latest.id)
        return decision(Action.DENY, "consent_required")

    # ------------------------------------------------------------------------------------------ persistence

    def to_document(self) -> dict[str, object]:
        return {
            "version": _VERSION,
            "peers": [p.to_document() for p in sorted(self._peers.values(), key=lambda p: p.address)],
            "grants": [g.to_document() for g in self.grants()],
        }

    @classmethod
    def from_document(cls, document: object, *, max_consent_seconds: float = DEFAULT_MAX_CONSENT_SECONDS) -> Policy:
        if not isinstance(document, dict) or document.get("version") != _VERSION:
            raise ValueError("unsupported policy document")
        peers, grants = document.get("peers", []), document.get("grants", [])
        if not isinstance(peers, list) or not isinstance(grants, list):
            raise ValueError("peers and grants must be lists")
        if not all(isinstance(p, dict) for p in peers) or not all(isinstance(g, dict) for g in grants):
            raise ValueError("peers and grants must be objects")
        return cls(
            (PeerRecord.from_document(p) for p in peers),
            (ConsentGrant.from_document(g) for g in grants),
            max_consent_seconds=max_consent_seconds,
        )


class PolicyStore:
    """A :class:`Policy` persisted in a JSON file; each change is saved at once and audited if a log is given.

    :meth:`current` re-reads the file when another process changed it, so a revocation made by the CLI takes
    effect in a running node at its next decision.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        audit: AuditLog | None = None,
        max_consent_seconds: float = DEFAULT_MAX_CONSENT_SECONDS,
    ) -> None:
        self._path = Path(path)
        self._audit = audit
        self._max = max_consent_seconds
        self._stamp: store.FileStamp | None = None
        self._policy = Policy(max_consent_seconds=max_consent_seconds)
        self._load()

    @property
    def path(self) -> Path:
        return self._path

    def _load(self) -> None:
        stamp = store.file_stamp(self._path)
        if stamp is None:
            self._policy = Policy(max_consent_seconds=self._max)
        else:
            document = store.read_json(self._path)
            try:
                self._policy = Policy.from_document(document, max_consent_seconds=self._max)
            except (KeyError, TypeError, ValueError, SecureUsageError) as exc:
                raise store.StoreError(f"{self._path} is not a valid policy file ({exc})") from None
        self._stamp = stamp

    def _save(self) -> None:
        store.write_json(self._path, self._policy.to_document())
        self._stamp = store.file_stamp(self._path)

    def current(self) -> Policy:
        """The policy, re-read first if the file changed. Treat it as read-only; change it via this store."""
        if store.file_stamp(self._path) != self._stamp:
            self._load()
        return self._policy

    def enrol_secure(self, address: str, *, now: float, fingerprint: bytes | None = None) -> PeerRecord:
        with store.locked(self._path):
            self._load()
            record = self._policy.enrol_secure(address, now=now, fingerprint=fingerprint)
            self._save()
        return record

    def classify_legacy(self, address: str, *, now: float, version: str) -> PeerRecord:
        with store.locked(self._path):
            self._load()
            record = self._policy.classify_legacy(address, now=now, version=version)
            self._save()
        return record

    def grant(
        self, scope: ConsentScope, *, now: float, duration: float, who: str, why: str, version: str
    ) -> ConsentGrant:
        with store.locked(self._path):
            self._load()
            grant = self._policy.grant(scope, now=now, duration=duration, who=who, why=why, version=version)
            self._save()
        if self._audit is not None:
            self._audit.append(AuditEvent.CONSENT_GRANTED, grant.audit_fields(), now=now)
        return grant

    def revoke(self, consent_id: str, *, now: float, who: str, why: str = "") -> ConsentGrant:
        with store.locked(self._path):
            self._load()
            grant = self._policy.revoke(consent_id, now=now, who=who, why=why)
            self._save()
        if self._audit is not None:
            self._audit.append(AuditEvent.CONSENT_REVOKED, grant.audit_fields(), now=now)
        return grant


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
        lines.append(
            f"Granting consent allows unprotected writes ({scope.describe()}){until}, until it expires or is revoked."
        )
    return "\n".join(lines)


def _human_duration(seconds: float) -> str:
    remaining = int(seconds)
    parts = []
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        if remaining >= size:
            parts.append(f"{remaining // size}{unit}")
            remaining %= size
    return "".join(parts) or "0s"
