"""Per-peer roles: what an enrolled (secured) peer may ask of this node, checked per ESV and EPC.

An authenticated session says *who* the peer is; its role says what that peer may do. A role has

* ``read``: the data classes (:mod:`echonet.spec.dataclasses_table`) it may read with Get and INF_REQ;
* ``write``: the EPCs it may write with SetI, SetC and SetGet, per class (``"all"`` for everything);

and the built-in roles are

* ``installer``: full control (every ESV, every EPC);
* ``hems``: reads everything, writes the comfort properties (on/off, modes, target temperatures, the bath);
* ``aggregator``: reads control, identity and operating data (not usage data, which reveals presence), writes
  the demand-response commands (battery operation mode and power, water heater automatic heating, ...);
* ``viewer``: reads control, identity and operating data, writes nothing.

A :class:`RoleTable` assigns roles to peers by identity (0x83 in hex, or ``fp:`` and the first 16 hex digits of
the key fingerprint, as :mod:`secure.layer.core` names peers) or by full fingerprint, with a default for peers it
does not list (``installer`` unless set: a node without a role file behaves as before). It is stored as JSON
(``roles.json`` in the identity directory)::

    {"default": "hems",
     "peers": {"fe00007b...": "installer", "fp:0123456789abcdef": "aggregator"},
     "roles": {"night-owl": {"read": ["control", "operating"], "write": {"027D": ["DA"]}}}}

A request a role does not cover is refused by the secure layer with the SNA the specification prescribes for that
ESV (SetI_SNA 0x50, SetC_SNA 0x51, Get_SNA 0x52, INF_SNA 0x53, SetGet_SNA 0x5E) and recorded as ``role_denied``.
Answers and notifications (ESV 0x5x, 0x7x) are never refused by a role.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from echonet.spec.dataclasses_table import DataClass, data_class
from secure import store
from secure.errors import SecureUsageError, StoreError

__all__ = [
    "BUILTIN_ROLES",
    "COMFORT_EPCS",
    "DR_EPCS",
    "SNA_OF",
    "AccessRole",
    "RoleDenial",
    "RoleTable",
]

_SETI, _SETC, _GET, _INF_REQ, _SETGET = 0x60, 0x61, 0x62, 0x63, 0x6E
#: The SNA (service not available) answer of each request ESV.
SNA_OF: Mapping[int, int] = {_SETI: 0x50, _SETC: 0x51, _GET: 0x52, _INF_REQ: 0x53, _SETGET: 0x5E}
_READS = frozenset({_GET, _INF_REQ})
_WRITES = frozenset({_SETI, _SETC, _SETGET})

#: Comfort properties per class (class group << 8 | class code): what a HEMS may set.
COMFORT_EPCS: Mapping[int, frozenset[int]] = {
    0x0130: frozenset({0x80, 0x8F, 0xA0, 0xA1, 0xA3, 0xB0, 0xB3, 0xB4, 0xB5, 0xB6, 0xB7}),  # home air conditioner
    0x0290: frozenset({0x80, 0xB0, 0xB1, 0xB6}),  # general lighting
    0x0291: frozenset({0x80, 0xB0}),  # mono-function lighting
    0x02A3: frozenset({0x80, 0xC0}),  # lighting system
    0x026B: frozenset({0x80, 0xB3, 0xD1, 0xD3, 0xE3, 0xE4, 0xE5, 0xE6, 0xE9}),  # electric water heater
    0x0272: frozenset({0x80, 0xD1, 0xE1, 0xE3}),  # instantaneous water heater
    0x027B: frozenset({0x80, 0xE0, 0xE1}),  # floor heater
    0x02A6: frozenset({0x80, 0xB6, 0xB7}),  # hybrid water heater
}

#: Demand-response commands per class: what an aggregator gateway may set.
DR_EPCS: Mapping[int, frozenset[int]] = {
    0x027D: frozenset({0xAA, 0xAB, 0xC1, 0xC2, 0xDA, 0xE7, 0xE8, 0xEB, 0xEC, 0xED, 0xEE}),  # storage battery
    0x027E: frozenset({0xAA, 0xAB, 0xDA, 0xE7, 0xEB, 0xEC}),  # EV charger/discharger
    0x02A1: frozenset({0xDA, 0xEB}),  # EV charger
    0x0279: frozenset({0xA0, 0xA1, 0xA2}),  # residential solar power generation (output restraint)
    0x026B: frozenset({0xB0, 0xC0, 0xC7, 0xCA, 0xCD}),  # electric water heater (heating, energy shift)
    0x02A6: frozenset({0xB0}),  # hybrid water heater
    0x0130: frozenset({0x80, 0xB0, 0xB3}),  # home air conditioner
}

_ALL_CLASSES = frozenset(DataClass)
_NOT_USAGE = frozenset({DataClass.CONTROL, DataClass.IDENTITY, DataClass.OPERATING})


@dataclass(frozen=True)
class AccessRole:
    """One role: the data classes it may read, and the EPCs it may write per class (``None``: every EPC)."""

    name: str
    read: frozenset[DataClass] = _ALL_CLASSES
    write: Mapping[int, frozenset[int]] | None = field(default_factory=dict)

    @property
    def full(self) -> bool:
        """Everything allowed: no check needed."""
        return self.read == _ALL_CLASSES and self.write is None

    def denied(self, esv: int, class_id: int, epcs: Iterable[int]) -> tuple[int, ...]:
        """The EPCs of a request this role does not cover (all of them for an ESV it may not use); empty when the
        request is allowed. Answers and notifications are always allowed."""
        epcs = tuple(epcs)
        if esv in _READS:
            if self.read == _ALL_CLASSES:
                return ()
            return tuple(e for e in epcs if data_class(class_id, e) not in self.read)
        if esv in _WRITES:
            if self.write is None:
                return ()
            allowed = self.write.get(class_id, frozenset())
            return tuple(e for e in epcs if e not in allowed)
        if 0x60 <= esv <= 0x6F:  # another request ESV: only a full role
            return () if self.full else epcs or (0,)
        return ()

    def to_document(self) -> dict[str, object]:
        write: object = (
            "all"
            if self.write is None
            else {f"{k:04X}": [f"{e:02X}" for e in sorted(v)] for k, v in sorted(self.write.items())}
        )
        return {"read": sorted(c.value for c in self.read), "write": write}

    @classmethod
    def from_document(cls, name: str, item: object) -> AccessRole:
        if not isinstance(item, Mapping):
            raise SecureUsageError(f"role {name!r} must be an object with 'read' and 'write'")
        read_raw = item.get("read", "all")
        try:
            read = _ALL_CLASSES if read_raw == "all" else frozenset(DataClass(str(c)) for c in read_raw)
        except (ValueError, TypeError):
            raise SecureUsageError(
                f"role {name!r}: 'read' lists data classes ({', '.join(c.value for c in DataClass)}) or 'all'"
            ) from None
        write_raw = item.get("write", {})
        if write_raw == "all":
            return cls(name, read, None)
        if not isinstance(write_raw, Mapping):
            raise SecureUsageError(f"role {name!r}: 'write' maps class codes (e.g. '027D') to EPC lists, or 'all'")
        try:
            write = {int(str(k), 16): frozenset(int(str(e), 16) for e in v) for k, v in write_raw.items()}
        except (ValueError, TypeError):
            raise SecureUsageError(f"role {name!r}: class codes and EPCs are hex (e.g. '027D': ['DA'])") from None
        return cls(name, read, write)


def _merge(*tables: Mapping[int, frozenset[int]]) -> dict[int, frozenset[int]]:
    merged: dict[int, frozenset[int]] = {}
    for table in tables:
        for class_id, epcs in table.items():
            merged[class_id] = merged.get(class_id, frozenset()) | epcs
    return merged


BUILTIN_ROLES: Mapping[str, AccessRole] = {
    "installer": AccessRole("installer", _ALL_CLASSES, None),
    "hems": AccessRole("hems", _ALL_CLASSES, dict(COMFORT_EPCS)),
    "aggregator": AccessRole("aggregator", _NOT_USAGE, dict(DR_EPCS)),
    "viewer": AccessRole("viewer", _NOT_USAGE, {}),
    "hems+dr": AccessRole("hems+dr", _ALL_CLASSES, _merge(COMFORT_EPCS, DR_EPCS)),
}


@dataclass(frozen=True)
class RoleDenial:
    """A request a peer's role does not cover (for the SNA and the ``role_denied`` audit record)."""

    role: str
    esv: int
    class_id: int
    epcs: tuple[int, ...]

    def audit_fields(self) -> dict[str, object]:
        return {
            "role": self.role,
            "esv": f"0x{self.esv:02X}",
            "class": f"{self.class_id:04X}",
            "epcs": [f"0x{e:02X}" for e in self.epcs],
            "answer": f"0x{SNA_OF.get(self.esv, 0):02X}",
        }


class RoleTable:
    """Which role each peer has (see the module documentation). Pure once built; :meth:`load` reads the file."""

    def __init__(
        self,
        peers: Mapping[str, str] | None = None,
        *,
        default: str = "installer",
        roles: Mapping[str, AccessRole] | None = None,
    ) -> None:
        self.roles: dict[str, AccessRole] = dict(BUILTIN_ROLES)
        if roles:
            self.roles.update(roles)
        self.peers = {k.lower(): v for k, v in (peers or {}).items()}
        self.default = default
        for name in (default, *self.peers.values()):
            if name not in self.roles:
                raise SecureUsageError(f"unknown role {name!r} (known: {', '.join(sorted(self.roles))})")

    def role_of(self, identity: str, fingerprint: bytes | None = None) -> AccessRole:
        """The role of the peer named ``identity`` (or with key ``fingerprint``)."""
        name = self.peers.get(identity.lower())
        if name is None and fingerprint is not None:
            name = self.peers.get(fingerprint.hex())
        return self.roles[name or self.default]

    def assign(self, identity: str, role: str) -> None:
        if role not in self.roles:
            raise SecureUsageError(f"unknown role {role!r} (known: {', '.join(sorted(self.roles))})")
        self.peers[identity.lower()] = role

    def to_document(self) -> dict[str, object]:
        custom = {n: r.to_document() for n, r in self.roles.items() if BUILTIN_ROLES.get(n) != r}
        return {"default": self.default, "peers": dict(sorted(self.peers.items())), "roles": custom}

    @classmethod
    def from_document(cls, document: object) -> RoleTable:
        if not isinstance(document, Mapping):
            raise SecureUsageError("a role file holds a JSON object")
        raw_roles = document.get("roles", {})
        if not isinstance(raw_roles, Mapping):
            raise SecureUsageError("'roles' must map role names to role definitions")
        roles = {str(n): AccessRole.from_document(str(n), item) for n, item in raw_roles.items()}
        peers = document.get("peers", {})
        if not isinstance(peers, Mapping):
            raise SecureUsageError("'peers' must map peer identities to role names")
        return cls(
            {str(k): str(v) for k, v in peers.items()}, default=str(document.get("default", "installer")), roles=roles
        )

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> RoleTable:
        """Read a role file; a missing file is the default table (everybody ``installer``)."""
        p = Path(path)
        if not p.exists():
            return cls()
        try:
            return cls.from_document(store.read_json(p))
        except StoreError:
            raise
        except SecureUsageError as exc:
            raise SecureUsageError(f"{p}: {exc}") from None

    def save(self, path: str | os.PathLike[str]) -> None:
        store.write_json(path, self.to_document())
