"""One set of names for the same meaning: the built-in names of codes everywhere, the Appendix's as aliases.

The built-in tables name the codes of their enumerations (``on`` / ``off`` for operation status 0x30 / 0x31,
``manualNoHeating`` for 0xB0 = 0x43 of the water heaters); the Machine Readable Appendix sometimes names the same
codes otherwise (``true`` / ``false``, ``manualNotHeating``). When the Appendix is loaded,
:meth:`.registry.Registry.with_appendix` builds the registry so that a value has one name whatever class it is read
from, with the functions here:

* a built-in class keeps its names and accepts the Appendix's names of the same codes as aliases (when parsing a
  value for ``echonet set``, ``--force`` or a device object built from typed values);
* an Appendix class takes the built-in names where it defines an EPC that the built-in super class (device
  objects) or node profile defines, for the codes both define; its own names become aliases.

The loader (:mod:`.mra`) already names ``on`` / ``off`` the Appendix's ``true`` / ``false`` states that say ON / OFF.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from .model import ClassDef, PropertyDef
from .types import Array, Enum, Field, Object, OneOf, ValueType

_EnumMap = Callable[[Enum, Enum], Enum]


def _alike(a: ValueType, b: ValueType) -> bool:
    """Whether two options of a one-of type stand for the same thing (same kind; enums sharing a code)."""
    if type(a) is not type(b) or (a.min_size, a.max_size) != (b.min_size, b.max_size):
        return False
    if isinstance(a, Enum) and isinstance(b, Enum):
        return bool(set(a.values) & set(b.values))
    return True


def _walk(t: ValueType, ref: ValueType, fn: _EnumMap) -> ValueType:
    """``t`` with ``fn(enum, ref_enum)`` applied to each enumeration that has a counterpart in ``ref``."""
    if isinstance(t, Enum) and isinstance(ref, Enum):
        return fn(t, ref) if t.size == ref.size else t
    if isinstance(t, OneOf) and isinstance(ref, OneOf):
        free = list(ref.options)
        options = []
        for option in t.options:
            match = next((r for r in free if _alike(option, r)), None)
            if match is None:
                options.append(option)
            else:
                free.remove(match)
                options.append(_walk(option, match, fn))
        changed = any(a is not b for a, b in zip(options, t.options, strict=True))
        return OneOf(tuple(options)) if changed else t
    if isinstance(t, Object) and isinstance(ref, Object) and len(t.fields) == len(ref.fields):
        fields = [Field(f.name, _walk(f.type, g.type, fn)) for f, g in zip(t.fields, ref.fields, strict=True)]
        changed = any(a.type is not b.type for a, b in zip(fields, t.fields, strict=True))
        return Object(tuple(fields)) if changed else t
    if isinstance(t, Array) and isinstance(ref, Array):
        item = _walk(t.item, ref.item, fn)
        return Array(item, t.item_size, t.min_items, t.max_items) if item is not t.item else t
    return t


def _names_of(ref: Enum, t: Enum) -> Enum:
    """``t`` under the names ``ref`` gives the codes both define; ``t``'s own names become aliases."""
    renamed = t.renamed({code: name for code, name in ref.values.items() if code in t.values})
    return renamed.with_aliases(ref.aliases)


def _unique_names(e: Enum) -> dict[str, int]:
    """Each name of ``e`` (aliases included) that stands for one code only."""
    seen: dict[str, set[int]] = {}
    for code, name in e.values.items():
        seen.setdefault(name, set()).add(code)
    for name, code in e.aliases.items():
        seen.setdefault(name, set()).add(code)
    return {name: next(iter(codes)) for name, codes in seen.items() if len(codes) == 1}


def _aliases_of(other: Enum, t: Enum) -> Enum:
    """``t`` accepting the names ``other`` gives the codes both define (names that mean one code only)."""
    return t.with_aliases(_unique_names(other))


def with_names_of(t: ValueType, ref: ValueType) -> ValueType:
    """``t`` with the names of ``ref`` for the codes both define (``t``'s names become aliases)."""
    return _walk(t, ref, lambda mine, theirs: _names_of(theirs, mine))


def with_aliases_of(t: ValueType, other: ValueType) -> ValueType:
    """``t`` accepting ``other``'s names of the codes both define as aliases (its own names unchanged)."""
    return _walk(t, other, lambda mine, theirs: _aliases_of(theirs, mine))


def with_types(cls: ClassDef, types: Mapping[int, ValueType]) -> ClassDef:
    """``cls`` with the value types of ``types`` (EPC -> type); ``cls`` itself when none changed."""
    if all(types[epc] is p.type for epc, p in cls.properties.items()):
        return cls
    props = [_with_type(p, types[epc]) for epc, p in cls.properties.items()]
    return ClassDef.build(cls.class_id, cls.name, cls.key, props, cls.since, cls.source)


def _with_type(p: PropertyDef, t: ValueType) -> PropertyDef:
    if t is p.type:
        return p
    return PropertyDef(p.epc, p.name, p.key, t, p.access, p.since, p.standard, p.note)


def aliased_class(ours: ClassDef, theirs: ClassDef) -> ClassDef:
    """A built-in class accepting the Appendix's names (of its class ``theirs``) as aliases."""
    types = {
        epc: with_aliases_of(p.type, theirs.properties[epc].type) if epc in theirs.properties else p.type
        for epc, p in ours.properties.items()
    }
    return with_types(ours, types)


def renamed_class(theirs: ClassDef, shared: Mapping[int, PropertyDef]) -> ClassDef:
    """An Appendix class under the built-in names of the properties ``shared`` defines (the super class's or the
    node profile's), its own names kept as aliases."""
    types = {
        epc: with_names_of(p.type, shared[epc].type) if epc in shared else p.type
        for epc, p in theirs.properties.items()
    }
    return with_types(theirs, types)
