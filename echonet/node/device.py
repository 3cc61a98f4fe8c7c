"""Device objects hosted by a node: stored EDTs, access rules, property maps and announcements.

A :class:`DeviceObject` holds the EDT of every EPC it implements. What it may do with them comes from the
registry's :class:`~echonet.spec.model.PropertyDef` access rules, resolved once per class and EPC set into an
:class:`ObjectLayout` that all objects of the same shape share (so a thousand simulated batteries cost one table and
a thousand small lists of EDT references).

* Get: the EPC is implemented and its Get rule is applicable.
* Set: the EPC is implemented, its Set rule is applicable (and it is listed in ``settable`` when given),
  :meth:`~echonet.spec.model.PropertyDef.check_set` finds nothing wrong with the EDT and :meth:`DeviceObject.on_set`
  (a hook for models) does not refuse it.
* Announcement: the EPC is in the status-change map 0x9D (implemented EPCs whose announcement rule is applicable,
  unless ``announce`` says otherwise); a change of value, whether by a peer's Set or by :meth:`DeviceObject.update`,
  records an INF for the node to send.

The maps 0x9D (announced), 0x9E (settable) and 0x9F (gettable, the three maps included) are derived from this.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from ..errors import EchonetUsageError
from ..frame import EOJ, Property
from ..propmap import PROPERTY_MAP_EPCS, encode_property_map
from ..spec.model import NA, M, O, PropertyDef, prop
from ..spec.registry import SUPER_CLASS_ID, Registry, default_registry
from ..spec.types import PROPERTY_MAP

ANNO_MAP, SET_MAP, GET_MAP = 0x9D, 0x9E, 0x9F
_MAP_DEFS = {
    ANNO_MAP: prop(
        ANNO_MAP,
        "Status change announcement property map",
        "statusChangeAnnouncementPropertyMap",
        PROPERTY_MAP,
        M,
        NA,
        O,
    ),
    SET_MAP: prop(SET_MAP, "Set property map", "setPropertyMap", PROPERTY_MAP, M, NA, O),
    GET_MAP: prop(GET_MAP, "Get property map", "getPropertyMap", PROPERTY_MAP, M, NA, O),
}


class ObjectLayout:
    """What an object of one class with one set of EPCs may do; shared by every object of that shape."""

    __slots__ = (
        "__weakref__",
        "announced",
        "class_id",
        "definitions",
        "epcs",
        "get_slots",
        "gettable",
        "maps",
        "set_defs",
        "settable",
        "slots",
    )

    def __init__(
        self,
        class_id: int,
        definitions: Mapping[int, PropertyDef],
        settable: frozenset[int],
        announced: frozenset[int],
    ) -> None:
        self.class_id = class_id
        self.definitions: dict[int, PropertyDef] = dict(sorted(definitions.items()))
        self.epcs: tuple[int, ...] = tuple(self.definitions)
        self.slots: dict[int, int] = {epc: i for i, epc in enumerate(self.epcs)}
        self.gettable = frozenset(e for e, d in self.definitions.items() if d.access.get.applicable)
        self.settable = settable
        self.announced = announced
        self.get_slots: dict[int, int] = {e: self.slots[e] for e in self.epcs if e in self.gettable}
        self.set_defs: dict[int, PropertyDef] = {e: self.definitions[e] for e in self.epcs if e in settable}
        self.maps: dict[int, bytes] = {
            ANNO_MAP: encode_property_map(announced),
            SET_MAP: encode_property_map(settable),
            GET_MAP: encode_property_map(self.gettable),
        }


_LAYOUTS: weakref.WeakKeyDictionary[Registry, dict[tuple[Any, ...], ObjectLayout]] = weakref.WeakKeyDictionary()


def object_layout(
    registry: Registry,
    class_id: int,
    epcs: Iterable[int],
    *,
    settable: Iterable[int] | None = None,
    announce: Iterable[int] | None = None,
    definitions: Iterable[PropertyDef] = (),
) -> ObjectLayout:
    """The (cached) layout of an object of ``class_id`` implementing ``epcs`` (the three maps are always added)."""
    extra = {d.epc: d for d in definitions}
    implemented = frozenset(epcs) | PROPERTY_MAP_EPCS
    chosen_set = None if settable is None else frozenset(settable)
    chosen_anno = None if announce is None else frozenset(announce)
    key = (
        class_id,
        implemented,
        chosen_set,
        chosen_anno,
        tuple(sorted((epc, id(d)) for epc, d in extra.items())),  # the cached layout keeps these objects alive
    )
    per_registry = _LAYOUTS.setdefault(registry, {})
    layout = per_registry.get(key)
    if layout is not None:
        return layout
    known = registry.properties(class_id)
    defs: dict[int, PropertyDef] = {}
    for epc in implemented:
        if not 0x80 <= epc <= 0xFF:
            raise EchonetUsageError(f"EPC 0x{epc:02X} out of range 0x80-0xFF")
        definition = extra.get(epc) or known.get(epc)
        if definition is None and epc in PROPERTY_MAP_EPCS:  # every object has the maps, whatever its class group
            definition = registry.property(SUPER_CLASS_ID, epc) or _MAP_DEFS[epc]
        if definition is None:
            raise EchonetUsageError(
                f"class 0x{class_id:04X} has no definition for EPC 0x{epc:02X}: pass a PropertyDef in definitions"
            )
        defs[epc] = definition
    if chosen_set is None:
        can_set = frozenset(e for e, d in defs.items() if d.access.set.applicable)
    else:
        can_set = chosen_set
        wrong = sorted(e for e in can_set if e not in defs or not defs[e].access.set.applicable)
        if wrong:
            raise EchonetUsageError(
                "settable lists EPCs that are not implemented or not settable: "
                + ", ".join(f"0x{e:02X}" for e in wrong)
            )
    if chosen_anno is None:
        announced = frozenset(e for e, d in defs.items() if d.access.anno.applicable)
    else:
        announced = chosen_anno
        wrong = sorted(e for e in announced if e not in defs)
        if wrong:
            raise EchonetUsageError(
                "announce lists EPCs that are not implemented: " + ", ".join(f"0x{e:02X}" for e in wrong)
            )
    layout = ObjectLayout(class_id, defs, can_set, announced)
    per_registry[key] = layout
    return layout


class DeviceObject:
    """One hosted ECHONET object (any class, instance 0x01-0x7F).

    ``values`` maps every implemented EPC (the maps 0x9D-0x9F excluded: they are derived) to its initial EDT.
    ``settable`` and ``announce`` narrow (or, for announcements, choose) the EPCs of the Set and status-change maps;
    ``definitions`` supplies PropertyDefs for EPCs the registry does not know (vendor EPCs of unknown classes).

    Models subclass it and override :meth:`on_set` (accept or refuse a peer's Set) and :meth:`read` (values computed
    on demand); they change values with :meth:`update`, which records an announcement when an announced value changes.
    """

    __slots__ = ("_layout", "_pending", "_sink", "_values", "changes", "eoj")

    def __init__(
        self,
        eoj: EOJ,
        values: Mapping[int, bytes],
        registry: Registry | None = None,
        *,
        settable: Iterable[int] | None = None,
        announce: Iterable[int] | None = None,
        definitions: Iterable[PropertyDef] = (),
        check: bool = True,
    ) -> None:
        if not isinstance(eoj, EOJ):
            eoj = EOJ(*eoj)
        if not 0x01 <= eoj.instance <= 0x7F:
            raise EchonetUsageError(f"instance 0x{eoj.instance:02X} of {eoj} out of range 0x01-0x7F")
        derived = PROPERTY_MAP_EPCS.intersection(values)
        if derived:
            raise EchonetUsageError("the property maps 0x9D-0x9F are derived: leave them out of values")
        layout = object_layout(
            registry if registry is not None else default_registry(),
            eoj.class_id,
            values,
            settable=settable,
            announce=announce,
            definitions=definitions,
        )
        stored: list[bytes] = []
        for epc in layout.epcs:
            edt = layout.maps.get(epc)
            if edt is None:
                edt = bytes(values[epc])
                if check:
                    reason = layout.definitions[epc].type.why_invalid(edt)
                    if reason is not None:
                        raise EchonetUsageError(f"{eoj} EPC 0x{epc:02X} initial value {edt.hex()}: {reason}")
            stored.append(edt)
        self.eoj = eoj
        self._layout = layout
        self._values = stored
        self._pending: list[int] | None = None
        self._sink: Callable[[DeviceObject], None] | None = None
        #: Counts the changes of stored values: an answer built from them (the node's precomputed Get_Res) stays
        #: valid while this has not moved.
        self.changes = 0

    @classmethod
    def from_typed(
        cls,
        eoj: EOJ,
        values: Mapping[int, Any] | Mapping[str, Any] | Mapping[int | str, Any],
        registry: Registry | None = None,
        **kwargs: Any,
    ) -> DeviceObject:
        """Build from typed values (``{"operationStatus": "on", 0xE4: 50}``) encoded through the registry."""
        reg = registry if registry is not None else default_registry()
        known = reg.properties(eoj.class_id)
        by_key = {d.key: d for d in known.values()}
        extra = {d.epc: d for d in kwargs.get("definitions", ())}
        raw: dict[int, bytes] = {}
        items: Iterable[tuple[int | str, Any]] = values.items()
        for name, value in items:
            d = (extra.get(name) or known.get(name)) if isinstance(name, int) else by_key.get(name)
            if d is None:
                raise EchonetUsageError(f"class 0x{eoj.class_id:04X} has no property {name!r}")
            raw[d.epc] = value if isinstance(value, bytes) else d.encode(value)
        return cls(eoj, raw, reg, **kwargs)

    # Introspection --------------------------------------------------------------------------------------------

    @property
    def layout(self) -> ObjectLayout:
        return self._layout

    @property
    def class_id(self) -> int:
        return self._layout.class_id

    @property
    def epcs(self) -> tuple[int, ...]:
        """Implemented EPCs, maps included, sorted."""
        return self._layout.epcs

    @property
    def get_map(self) -> frozenset[int]:
        return self._layout.gettable

    @property
    def set_map(self) -> frozenset[int]:
        return self._layout.settable

    @property
    def announce_map(self) -> frozenset[int]:
        return self._layout.announced

    def definition(self, epc: int) -> PropertyDef | None:
        return self._layout.definitions.get(epc)

    def value(self, epc: int) -> bytes | None:
        """The stored EDT of an implemented EPC (whatever its Get rule), or ``None``."""
        slot = self._layout.slots.get(epc)
        return None if slot is None else self._values[slot]

    def values(self) -> dict[int, bytes]:
        return dict(zip(self._layout.epcs, self._values, strict=True))

    # Access as the node uses it ---------------------------------------------------------------------------------

    def read(self, epc: int) -> bytes | None:
        """EDT for a peer's Get (``None``: not readable). Models may override to compute values on demand."""
        slot = self._layout.get_slots.get(epc)
        return None if slot is None else self._values[slot]

    def write(self, epc: int, edt: bytes) -> str | None:
        """A peer's Set of one EPC: apply it and return ``None``, or return why it is refused."""
        definition = self._layout.set_defs.get(epc)
        if definition is None:
            return "not settable" if epc in self._layout.slots else "not implemented"
        reason = definition.check_set(edt)
        if reason is None:
            reason = self.on_set(epc, edt)
            if reason is None:
                self._store(epc, edt)
        return reason

    def on_set(self, epc: int, edt: bytes) -> str | None:
        """Hook called for a peer's Set that passed the access and value checks; return a reason to refuse it.

        The default accepts everything. A model may also call :meth:`update` here for properties that follow.
        """
        return None

    def update(self, epc: int, edt: bytes, *, check: bool = True) -> bool:
        """Change a value locally (the device's own doing); returns whether it changed.

        A change of an EPC of the status-change map records an INF for the node to send.
        """
        slot = self._layout.slots.get(epc)
        if slot is None:
            raise EchonetUsageError(f"{self.eoj} does not implement EPC 0x{epc:02X}")
        if epc in PROPERTY_MAP_EPCS:
            raise EchonetUsageError("the property maps 0x9D-0x9F are derived and cannot be updated")
        edt = bytes(edt)
        if check:
            reason = self._layout.definitions[epc].type.why_invalid(edt)
            if reason is not None:
                raise EchonetUsageError(f"{self.eoj} EPC 0x{epc:02X} value {edt.hex()}: {reason}")
        return self._store(epc, edt)

    def _store(self, epc: int, edt: bytes) -> bool:
        slot = self._layout.slots[epc]
        if self._values[slot] == edt:
            return False
        self._values[slot] = edt
        self.changes += 1
        if epc in self._layout.announced:
            pending = self._pending
            if pending is None:
                self._pending = [epc]
                if self._sink is not None:
                    self._sink(self)
            elif epc not in pending:
                pending.append(epc)
        return True

    # Announcements --------------------------------------------------------------------------------------------

    @property
    def has_announcements(self) -> bool:
        return self._pending is not None

    def take_announcements(self) -> tuple[Property, ...]:
        """The properties to announce (current values of the changed announced EPCs), and forget them."""
        pending, self._pending = self._pending, None
        if not pending:
            return ()
        slots, values = self._layout.slots, self._values
        return tuple(Property(epc, values[slots[epc]]) for epc in pending)

    def attach(self, sink: Callable[[DeviceObject], None] | None) -> None:
        """Called by the node: ``sink(self)`` is called when the object gets announcements to send."""
        self._sink = sink
        if sink is not None and self._pending is not None:
            sink(self)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.eoj}, {len(self._layout.epcs)} EPCs)"
