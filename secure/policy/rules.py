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

Consent grants and their semantics: :mod:`secure.policy.consent`; the terms and their parsing:
:mod:`secure.policy.values`.

:class:`Policy` is in-memory and pure; :class:`PolicyStore` persists it (``policy.json``, atomic, 0o600),
re-reads it when another process changed it, and audits changes. Decisions name the audit event the caller
must record (:meth:`Decision.audit_event`, :meth:`Decision.audit_fields`).
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path

from echonet.spec.dataclasses_table import DataClass, data_class
from secure import store
from secure.audit import AuditEvent, AuditLog
from secure.errors import SecureUsageError, StoreError
from secure.policy.consent import DEFAULT_MAX_CONSENT_SECONDS, ConsentGrant, ConsentScope
from secure.policy.values import (
    CONSENT_READ_ESVS,
    READ_ONLY_ESVS,
    RESPONSE_ESVS,
    SET_ESVS,
    Action,
    Direction,
    PeerKind,
    describe_version,
    document_number,
    esv_name,
    normalize_peer,
    parse_eoj,
)

__all__ = ["Decision", "PeerRecord", "Policy", "PolicyStore"]

_VERSION = 1


# --------------------------------------------------------------------------------------------------- values


@dataclass(frozen=True)
class PeerRecord:
    address: str
    kind: PeerKind
    since: float
    fingerprint: bytes | None = None
    version: str | None = None
    #: The authenticated identity last seen at this address (0x83 in hex, or ``fp:`` and a fingerprint prefix).
    identity: str | None = None

    def to_document(self) -> dict[str, object]:
        document: dict[str, object] = {
            "address": self.address,
            "kind": self.kind.value,
            "since": self.since,
            "fingerprint": None if self.fingerprint is None else self.fingerprint.hex(),
            "version": self.version,
        }
        if self.identity is not None:
            document["identity"] = self.identity
        return document

    @classmethod
    def from_document(cls, item: Mapping[str, object]) -> PeerRecord:
        fingerprint = item.get("fingerprint")
        version = item.get("version")
        identity = item.get("identity")
        return cls(
            address=normalize_peer(str(item["address"])),
            kind=PeerKind(str(item["kind"])),
            since=document_number(item["since"]),
            fingerprint=None if fingerprint is None else bytes.fromhex(str(fingerprint)),
            version=None if version is None else str(version),
            identity=None if identity is None else str(identity),
        )


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
    #: For a read of protected data: the data classes that made it need consent.
    classes: tuple[str, ...] = field(default=())

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
        if self.classes:
            fields["data_classes"] = list(self.classes)
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
        protected_reads: Iterable[DataClass | str] = (),
    ) -> None:
        self._peers = {p.address: p for p in peers}
        self._grants = {g.id: g for g in grants}
        self.max_consent_seconds = max_consent_seconds
        #: Data classes whose reads from a legacy device over plain ECHONET Lite need a consent (privacy-aware
        #: policy); empty: every read of a legacy device is allowed, as before.
        self.protected_reads: frozenset[DataClass] = _classes(protected_reads)

    def set_protected_reads(self, classes: Iterable[DataClass | str]) -> frozenset[DataClass]:
        self.protected_reads = _classes(classes)
        return self.protected_reads

    # ---------------------------------------------------------------------------------------------- peers

    def peer(self, address: str) -> PeerRecord | None:
        return self._peers.get(normalize_peer(address))

    def peers(self) -> tuple[PeerRecord, ...]:
        return tuple(self._peers.values())

    def enrol_secure(
        self, address: str, *, now: float, fingerprint: bytes | None = None, identity: str | None = None
    ) -> PeerRecord:
        """Mark a peer secure (after a handshake with an allow-listed key). Irreversible by design. ``identity``:
        who authenticated there (see :attr:`PeerRecord.identity`)."""
        key = normalize_peer(address)
        existing = self._peers.get(key)
        if existing is not None and existing.kind is PeerKind.SECURE:
            updated = existing
            if fingerprint is not None and fingerprint != updated.fingerprint:
                updated = replace(updated, fingerprint=fingerprint)
            if identity is not None and identity != updated.identity:
                updated = replace(updated, identity=identity)
            if updated is not existing:
                self._peers[key] = updated
            return updated
        record = PeerRecord(key, PeerKind.SECURE, now, fingerprint, None, identity)
        self._peers[key] = record
        return record

    def peers_of(self, identity: str) -> tuple[PeerRecord, ...]:
        """The addresses where ``identity`` (0x83 hex, or ``fp:...``) authenticated, most recent last."""
        return tuple(sorted((p for p in self._peers.values() if p.identity == identity), key=lambda p: p.since))

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
                f"a consent grant may last at most {self.max_consent_seconds / 3600:g} h", advice="grant again later"
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
        if esv in CONSENT_READ_ESVS and direction is Direction.OUTGOING and self.protected_reads and eoj is not None:
            class_id = (eoj[0] << 8) | eoj[1]
            protected = sorted({data_class(class_id, e) for e in epcs} & self.protected_reads)
            if protected:
                return self._consented(address, eoj, esv, epcs, now, direction, tuple(c.value for c in protected))
        if esv in READ_ONLY_ESVS or esv in RESPONSE_ESVS:
            return decision(Action.ALLOW, "legacy_read_only")
        if esv not in SET_ESVS:
            return decision(Action.DENY, "unknown_esv")
        if eoj is None:
            return decision(Action.DENY, "consent_required")
        return self._consented(address, eoj, esv, epcs, now, direction, ())

    def _consented(
        self,
        address: str,
        eoj: bytes,
        esv: int,
        epcs: tuple[int, ...],
        now: float,
        direction: Direction,
        classes: tuple[str, ...],
    ) -> Decision:
        def decision(action: Action, reason: str, consent_id: str | None = None) -> Decision:
            return Decision(action, reason, consent_id, address, direction, esv, eoj, epcs, classes)

        matching = [g for g in self._grants.values() if g.scope.covers(address, eoj, esv, epcs, direction)]
        active = [g for g in matching if g.is_active(now)]
        if active:
            chosen = max(active, key=lambda g: (g.expires_at, g.id))
            return decision(Action.ALLOW, "consent", chosen.id)
        stale = [g for g in matching if g.state(now) in ("revoked", "expired")]
        if stale:  # the most recent grant that covered this says why it no longer does
            latest = max(stale, key=lambda g: (g.granted_at, g.expires_at, g.id))
            return decision(Action.DENY, f"consent_{latest.state(now)}", latest.id)
        return decision(Action.DENY, "consent_required")

    # ------------------------------------------------------------------------------------------ persistence

    def to_document(self) -> dict[str, object]:
        document: dict[str, object] = {
            "version": _VERSION,
            "peers": [p.to_document() for p in sorted(self._peers.values(), key=lambda p: p.address)],
            "grants": [g.to_document() for g in self.grants()],
        }
        if self.protected_reads:
            document["protected_reads"] = sorted(c.value for c in self.protected_reads)
        return document

    @classmethod
    def from_document(cls, document: object, *, max_consent_seconds: float = DEFAULT_MAX_CONSENT_SECONDS) -> Policy:
        if not isinstance(document, dict) or document.get("version") != _VERSION:
            raise ValueError("unsupported policy document")
        peers, grants = document.get("peers", []), document.get("grants", [])
        if not isinstance(peers, list) or not isinstance(grants, list):
            raise ValueError("peers and grants must be lists")
        if not all(isinstance(p, dict) for p in peers) or not all(isinstance(g, dict) for g in grants):
            raise ValueError("peers and grants must be objects")
        protected = document.get("protected_reads", [])
        if not isinstance(protected, list):
            raise ValueError("protected_reads must be a list")
        return cls(
            (PeerRecord.from_document(p) for p in peers),
            (ConsentGrant.from_document(g) for g in grants),
            max_consent_seconds=max_consent_seconds,
            protected_reads=protected,
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
                raise StoreError(f"{self._path} is not a valid policy file ({exc})") from None
        self._stamp = stamp

    def _save(self) -> None:
        store.write_json(self._path, self._policy.to_document())
        self._stamp = store.file_stamp(self._path)

    def current(self) -> Policy:
        """The policy, re-read first if the file changed. Treat it as read-only; change it via this store."""
        if store.file_stamp(self._path) != self._stamp:
            self._load()
        return self._policy

    def enrol_secure(
        self, address: str, *, now: float, fingerprint: bytes | None = None, identity: str | None = None
    ) -> PeerRecord:
        with store.locked(self._path):
            self._load()
            record = self._policy.enrol_secure(address, now=now, fingerprint=fingerprint, identity=identity)
            self._save()
        return record

    def set_protected_reads(self, classes: Iterable[DataClass | str]) -> frozenset[DataClass]:
        """Which data classes need a consent to be read from a legacy device (saved at once)."""
        with store.locked(self._path):
            self._load()
            result = self._policy.set_protected_reads(classes)
            self._save()
        return result

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


def _classes(classes: Iterable[DataClass | str]) -> frozenset[DataClass]:
    try:
        return frozenset(DataClass(str(c)) for c in classes)
    except ValueError:
        raise SecureUsageError(f"data classes are {', '.join(c.value for c in DataClass)}") from None
