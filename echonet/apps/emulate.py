"""Emulated objects of any class the spec tables know (the built-in ones, or every class of the Machine Readable
Appendix with ``--mra DIR``): ``echonet serve --class 0x0130[:INSTANCE]``.

An :class:`EmulatedObject` implements every property whose Get or Set rule is mandatory for its class, plus the
optional ones asked for (or all of them), each starting from a plausible value inside its definition's range
(:func:`.values.initial_value`; the identity properties 0x80, 0x82, 0x83, 0x88 and 0x8A get values of their own).
What it does with them is :class:`~echonet.node.DeviceObject`'s: a Set is validated by the definition (size, range,
codes) and refused with SetC_SNA otherwise, a change of a status-change property (those whose announcement rule is
mandatory) records an INF, and the maps 0x9D, 0x9E and 0x9F are derived from the EPCs implemented. No model runs
behind the values: an accepted Set is kept and read back, nothing else moves.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from ..errors import EchonetUsageError
from ..frame import EOJ
from ..node.config import NodeConfig
from ..node.core import Node
from ..node.device import DeviceObject
from ..node.profile import UNREGISTERED_MAKER, NodeProfile, identification_number
from ..propmap import PROPERTY_MAP_EPCS
from ..spec.model import CURRENT_RELEASE, RELEASES, PropertyDef
from ..spec.registry import Registry
from .values import initial_value

#: Values of the super-class properties an emulated object starts with, where the definition accepts them:
#: operation status on, installation location not set, no fault.
_PRESET = {0x80: b"\x30", 0x81: b"\x00", 0x88: b"\x42"}


@dataclass(frozen=True)
class ClassSpec:
    """One ``--class`` entry: the class, the instance and the optional EPCs asked for (``all_optional``: every one)."""

    class_id: int
    instance: int | None = None
    optional: tuple[int, ...] = ()
    all_optional: bool = False

    @property
    def text(self) -> str:
        inst = "" if self.instance is None else f":{self.instance}"
        extra = ",all" if self.all_optional else "".join(f",0x{e:02X}" for e in self.optional)
        return f"0x{self.class_id:04X}{inst}{extra}"


def parse_class_spec(text: str, registry: Registry) -> ClassSpec:
    """``CLASS[:INSTANCE][,EPC...|,all]``: ``0x0130``, ``0x0130:2``, ``0x0130:1,0xB3,0xBB``, ``airConditioner,all``.
    CLASS is a code or a name the tables know."""
    head, *extras = [part.strip() for part in text.split(",")]
    name, _, instance_text = head.partition(":")
    if not name:
        raise EchonetUsageError(f"--class {text!r}: give a class (0x0130, or a name such as 'home air conditioner')")
    definition = registry.find_class(name)
    if definition.class_id == 0x0EF0:
        raise EchonetUsageError(f"--class {text!r}: the node profile is part of every node, not an object to host")
    instance: int | None = None
    if instance_text:
        try:
            instance = int(instance_text, 0)
        except ValueError:
            raise EchonetUsageError(f"--class {text!r}: instance {instance_text!r} is not a number") from None
        if not 1 <= instance <= 0x7F:
            raise EchonetUsageError(f"--class {text!r}: instance {instance} out of range 1-127")
    optional: list[int] = []
    every = False
    known = registry.properties(definition.class_id)
    for extra in extras:
        if extra.lower() == "all":
            every = True
            continue
        try:
            epc = int(extra, 16) if not extra.lower().startswith("0x") else int(extra, 0)
        except ValueError:
            by_key = {d.key.lower(): d.epc for d in known.values()}
            if extra.lower() not in by_key:
                raise EchonetUsageError(
                    f"--class {text!r}: {extra!r} is neither an EPC (0xB3) nor a property of {definition.name}"
                ) from None
            epc = by_key[extra.lower()]
        if epc not in known:
            raise EchonetUsageError(f"--class {text!r}: {definition.name} has no property 0x{epc:02X}")
        optional.append(epc)
    return ClassSpec(definition.class_id, instance, tuple(dict.fromkeys(optional)), every)


def _mandatory(definition: PropertyDef) -> bool:
    access = definition.access
    # an announcement rule "required" binds only where the property is implemented
    return access.get.mandatory or access.set.mandatory


def _release_of(registry: Registry, class_id: int, epcs: Iterable[int]) -> str:
    """The Appendix release an object of these EPCs declares: the tables' release, and never one older than the
    newest EPC it implements."""
    letters = [CURRENT_RELEASE]
    for epc in epcs:
        definition = registry.property(class_id, epc)
        if definition is not None and len(definition.since) == 1 and definition.since.upper() in RELEASES:
            letters.append(definition.since.upper())
    return max(letters)


class EmulatedObject(DeviceObject):
    """A hosted object of any class: the values of :func:`emulated_object`, Sets validated by the definition."""

    __slots__ = ("skipped",)

    def __init__(
        self,
        eoj: EOJ,
        values: dict[int, bytes],
        registry: Registry,
        skipped: Sequence[int] = (),
        *,
        announce: Iterable[int] | None = None,
        check: bool = True,
    ) -> None:
        super().__init__(eoj, values, registry, announce=announce, check=check)
        #: EPCs the class has but the object leaves out: no value of their definition could be made up.
        self.skipped = tuple(skipped)

    @property
    def identification(self) -> bytes | None:
        return self.value(0x83)


def emulated_object(
    registry: Registry,
    spec: ClassSpec | int,
    *,
    instance: int | None = None,
    seed: str = "",
    maker_code: bytes = UNREGISTERED_MAKER,
) -> EmulatedObject:
    """An object of ``spec`` (a :class:`ClassSpec` or a class code) at ``instance`` (the spec's, else 1).

    Its identification number (0x83) is derived from ``seed``, the class and the instance, so that the same command
    line gives the same number and two objects never share one."""
    if isinstance(spec, int):
        spec = ClassSpec(spec)
    class_id = spec.class_id
    number = instance if instance is not None else (spec.instance if spec.instance is not None else 1)
    eoj = EOJ.of(class_id, number)
    known = registry.properties(class_id)
    if not known:
        raise EchonetUsageError(f"class 0x{class_id:04X} has no properties in the tables (give --mra DIR)")
    wanted = [
        epc
        for epc, d in known.items()
        if epc not in PROPERTY_MAP_EPCS and (_mandatory(d) or spec.all_optional or epc in spec.optional)
    ]
    for epc in (0x80, 0x82, 0x83, 0x8A):  # what a controller reads first, whatever the class's rules say
        if epc in known and epc not in wanted:
            wanted.append(epc)
    digest = hashlib.sha256(f"echonet-da emulated\0{seed}\0{class_id:04X}\0{number}".encode()).digest()
    presets = dict(_PRESET)
    presets[0x82] = b"\x00\x00" + _release_of(registry, class_id, wanted).encode("ascii") + b"\x00"
    presets[0x83] = identification_number(maker_code, b"EMU" + digest[:10])
    presets[0x8A] = bytes(maker_code)
    values: dict[int, bytes] = {}
    skipped: list[int] = []
    for epc in sorted(wanted):
        definition = known[epc]
        edt = presets.get(epc)
        if edt is None or definition.type.why_invalid(edt) is not None:
            edt = initial_value(definition.type)
        if edt is None:
            skipped.append(epc)
            continue
        values[epc] = edt
    # status-change announcements: the properties whose announcement rule is mandatory
    announced = [e for e in values if known[e].access.anno.mandatory]
    return EmulatedObject(eoj, values, registry, skipped, announce=announced)


def emulated_objects(registry: Registry, specs: Iterable[ClassSpec], *, seed: str = "") -> list[EmulatedObject]:
    """One object per spec; an instance left out takes the next free one of its class."""
    taken: dict[int, set[int]] = {}
    objects = []
    for spec in specs:
        used = taken.setdefault(spec.class_id, set())
        number = spec.instance
        if number is None:
            number = next(i for i in range(1, 0x80) if i not in used)
        if number in used:
            raise EchonetUsageError(f"class 0x{spec.class_id:04X}: instance {number} given twice")
        used.add(number)
        objects.append(emulated_object(registry, spec, instance=number, seed=seed))
    return objects


def emulated_node(
    objects: Iterable[DeviceObject],
    registry: Registry,
    *,
    config: NodeConfig | None = None,
    identification: bytes | None = None,
    seed: str = "",
) -> Node:
    """A sans-I/O node hosting ``objects`` with a node profile of its own (0x83 ``identification``, or derived from
    ``seed`` and the objects)."""
    items = list(objects)
    if identification is None:
        digest = hashlib.sha256(b"echonet-da emulated node\0" + seed.encode() + b"\0")
        for obj in items:
            digest.update(bytes(obj.eoj))
        identification = identification_number(UNREGISTERED_MAKER, b"EMN" + digest.digest()[:10])
    profile = NodeProfile(registry, identification=identification)
    return Node(items, config=config, registry=registry, profile=profile)


__all__ = [
    "ClassSpec",
    "EmulatedObject",
    "emulated_node",
    "emulated_object",
    "emulated_objects",
    "parse_class_spec",
]
