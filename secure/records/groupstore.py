"""Group key state on disk (``group.json`` in the identity directory, mode 0600): what a node needs to seal and open
group records after a restart, so that a one-shot controller command (``echonet discover --secure``) and a device
that restarted keep the group.

* ``role`` ``manager``: the group manager's epochs (keys), member table, rotation reasons and schedule;
* ``role`` ``member``: the update the manager handed out, and who the manager is (identity and key fingerprint;
  later updates are taken from it only);
* ``next_sequence``: the first sequence number this node may use after a restart. It is saved ahead of use
  (:data:`SEQUENCE_RESERVE` at a time), so a crash skips numbers but never reuses a nonce under a held epoch.

The file holds secrets (the epoch keys): written atomically with mode 0600, read through
:func:`secure.store.read_private` (refused if group or others may read it).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from secure import store
from secure.errors import SecureUsageError, StoreError
from secure.records.group import GroupEpoch, GroupMember, GroupUpdate, sender_id_of

__all__ = ["SEQUENCE_RESERVE", "GroupState", "GroupStore"]

SEQUENCE_RESERVE = 1024
_VERSION = 1


@dataclass
class GroupState:
    """One node's group state (see the module documentation)."""

    role: str  # "manager" or "member"
    update: GroupUpdate
    reasons: list[str] = field(default_factory=list)
    rotate_every: float = 86400.0
    manager_identity: str | None = None
    manager_fingerprint: bytes | None = None
    next_sequence: int = 0


class GroupStore:
    """Reads and writes one ``group.json``."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)

    def load(self) -> GroupState | None:
        """The saved state, ``None`` when there is none; :class:`~secure.errors.StoreError` when it is unreadable."""
        if not self.path.exists():
            return None
        raw = store.read_private(self.path)
        try:
            doc = json.loads(raw)
            if doc.get("version") != _VERSION or doc.get("role") not in ("manager", "member"):
                raise ValueError("unknown version or role")
            epochs = tuple(GroupEpoch(int(n), bytes.fromhex(k), float(c)) for n, k, c in doc["epochs"])
            members = []
            for point, identity in doc["members"]:
                key = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), bytes.fromhex(point))
                members.append(GroupMember(sender_id_of(key), key, str(identity)))
            fp = doc.get("manager_fingerprint")
            return GroupState(
                role=doc["role"],
                update=GroupUpdate(epochs, tuple(members)),
                reasons=[str(r) for r in doc.get("reasons", [])],
                rotate_every=float(doc.get("rotate_every", 86400.0)),
                manager_identity=doc.get("manager_identity"),
                manager_fingerprint=None if fp is None else bytes.fromhex(fp),
                next_sequence=int(doc.get("next_sequence", 0)),
            )
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise StoreError(f"{self.path} is not a group state file ({exc})") from None

    def save(self, state: GroupState) -> None:
        if state.role not in ("manager", "member"):
            raise SecureUsageError("a group state's role is manager or member")
        doc = {
            "version": _VERSION,
            "role": state.role,
            "epochs": [[e.number, e.key.hex(), e.created] for e in state.update.epochs],
            "members": [
                [m.public_key.public_bytes(Encoding.X962, PublicFormat.UncompressedPoint).hex(), m.identity]
                for m in state.update.members
            ],
            "reasons": state.reasons,
            "rotate_every": state.rotate_every,
            "manager_identity": state.manager_identity,
            "manager_fingerprint": None if state.manager_fingerprint is None else state.manager_fingerprint.hex(),
            "next_sequence": state.next_sequence,
        }
        store.write_json(self.path, doc)
