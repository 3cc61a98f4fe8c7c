"""The class registry: built-in tables, plus every class of the Machine Readable Appendix when one is configured."""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from ..errors import EchonetUsageError, ValueDecodeError
from ..frame import Frame
from .compiled import FrameDecoder, PropertyDecoders
from .decoded import DecodedValue, TypedFrame
from .model import ClassDef, PropertyDef
from .names import aliased_class, renamed_class
from .types import Special, ValueType

__all__ = [
    "DEVICE_GROUPS",
    "NODE_PROFILE_ID",
    "SUPER_CLASS_ID",
    "DecodedValue",
    "Registry",
    "TypedFrame",
    "builtin_registry",
    "default_registry",
]

SUPER_CLASS_ID = 0x0000
NODE_PROFILE_ID = 0x0EF0
#: Class groups whose objects inherit the device super class (0x00-0x06); the profile group 0x0E does not.
DEVICE_GROUPS = range(0x00, 0x07)


class Registry:
    """Class definitions by code, with super-class inheritance and lookup by name.

    Values decode through decoders compiled from the definitions at first use (:mod:`.compiled`), equal to the
    table-driven :meth:`reference_decode_value` by construction and by test.
    """

    def __init__(self, classes: Iterable[ClassDef]) -> None:
        self._classes: dict[int, ClassDef] = {}
        for cls in classes:
            self._classes[cls.class_id] = cls
        self._merged: dict[int, dict[int, PropertyDef]] = {}
        self._rescaled: dict[tuple[int, int, tuple[tuple[int, float], ...]], ValueType] = {}
        self._decoders: dict[int, PropertyDecoders] = {}  # by class code, shared by the classes of no table
        self._shared: dict[str, PropertyDecoders] = {}
        self._frames: FrameDecoder | None = None
        #: What other layers derive from this registry's tables and keep with it (the renderers of describe).
        self.derived: dict[str, Any] = {}

    def with_classes(self, classes: Iterable[ClassDef], *, override: bool = False) -> Registry:
        """A new registry adding ``classes``; existing (built-in) classes win unless ``override``."""
        merged = dict(self._classes)
        for cls in classes:
            if override or cls.class_id not in merged:
                merged[cls.class_id] = cls
        return Registry(merged.values())

    def with_appendix(self, appendix: Mapping[int, ClassDef]) -> Registry:
        """A new registry adding the Appendix's classes under one set of names (:mod:`.names`): the classes of this
        registry win and accept the Appendix's names of their codes as aliases; an Appendix class takes this
        registry's names of the super class's (device groups) or node profile's codes it shares."""
        classes = [
            aliased_class(cls, appendix[cls.class_id]) if cls.class_id in appendix else cls
            for cls in self._classes.values()
        ]
        ours = Registry(classes)
        for class_id, cls in sorted(appendix.items()):
            if ours.get_class(class_id) is not None:
                continue
            if (class_id >> 8) in DEVICE_GROUPS and class_id != SUPER_CLASS_ID:
                shared = ours.get_class(SUPER_CLASS_ID)
            else:
                shared = ours.get_class(NODE_PROFILE_ID) if class_id == NODE_PROFILE_ID else None
            classes.append(renamed_class(cls, shared.properties) if shared is not None else cls)
        return Registry(classes)

    def __iter__(self) -> Iterator[ClassDef]:
        return iter(sorted(self._classes.values(), key=lambda c: c.class_id))

    def __len__(self) -> int:
        return len(self._classes)

    def get_class(self, class_id: int) -> ClassDef | None:
        return self._classes.get(class_id)

    def find_class(self, text: str) -> ClassDef:
        """A class by code (``0x027D``, ``027D``) or name / key (``storage battery``, ``storageBattery``)."""
        t = text.strip()
        hexpart = t[2:] if t.lower().startswith("0x") else t
        if len(hexpart) == 4:
            try:
                cls = self._classes.get(int(hexpart, 16))
            except ValueError:
                cls = None
            if cls is not None:
                return cls
        folded = t.lower().replace("_", " ").replace("-", " ")
        for cls in self._classes.values():
            if folded in (cls.name.lower(), cls.key.lower()) or t.lower() == cls.key.lower():
                return cls
        matches = [c for c in self._classes.values() if folded in c.name.lower()]
        if len(matches) == 1:
            return matches[0]
        if matches:
            names = ", ".join(f"{c.code_text} {c.name}" for c in matches[:6])
            raise EchonetUsageError(f"{text!r} matches several classes: {names}")
        raise EchonetUsageError(f"no class {text!r} is known (use a code such as 0x027D, or --mra DIR)")

    def properties(self, class_id: int) -> dict[int, PropertyDef]:
        """Every property of a class: the super class's (for device groups) overridden by the class's own."""
        merged = self._merged.get(class_id)
        if merged is None:
            merged = {}
            if (class_id >> 8) in DEVICE_GROUPS and class_id != SUPER_CLASS_ID:
                sup = self._classes.get(SUPER_CLASS_ID)
                if sup is not None:
                    merged.update(sup.properties)
            own = self._classes.get(class_id)
            if own is not None:
                merged.update(own.properties)
            merged = dict(sorted(merged.items()))
            self._merged[class_id] = merged
        return merged

    def property(self, class_id: int, epc: int) -> PropertyDef | None:
        return self.properties(class_id).get(epc)

    def decoders(self, class_id: int) -> PropertyDecoders:
        """The compiled decoders of a class by EPC (``decoders[epc](edt, others)``): one table per class the
        registry defines, one shared by the unknown classes of the device groups (they have the super class's
        properties) and one by every other unknown class (no properties)."""
        found = self._decoders.get(class_id)
        if found is None:
            if class_id in self._classes:
                found = PropertyDecoders(self, class_id)
            else:
                kind = "device" if (class_id >> 8) in DEVICE_GROUPS and class_id != SUPER_CLASS_ID else "none"
                found = self._shared.get(kind)
                if found is None:
                    found = self._shared[kind] = PropertyDecoders(self, class_id)
            if len(self._decoders) < 0x10000:
                self._decoders[class_id] = found
        return found

    def decode_value(
        self, class_id: int, epc: int, edt: bytes, others: Mapping[int, bytes] | None = None
    ) -> DecodedValue:
        """Decode one EDT; unknown classes and EPCs (vendor 0xF0-0xFF included) come back as raw bytes.

        ``others`` are the other EDTs at hand for the same object (the rest of the frame, or the values read
        before): a number the Appendix scales by other properties (a watt-hour meter's 0xE0 by its unit 0xE2) is
        scaled only when they are there; otherwise it comes back unscaled with :attr:`DecodedValue.missing` set.
        """
        decoders = self._decoders.get(class_id) or self.decoders(class_id)
        if type(edt) is bytes:
            return decoders[epc](edt, others)
        return self.reference_decode_value(class_id, epc, edt, others)

    def frame_decoder(self) -> FrameDecoder:
        """The decoder of whole frames behind :meth:`decode_frame` and :meth:`typed` (its compiled layouts)."""
        frames = self._frames
        if frames is None:
            frames = self._frames = FrameDecoder(self)
        return frames

    def decode_frame(self, data: bytes) -> TypedFrame:
        """Decode a datagram and every property of it (:class:`TypedFrame`); raises
        :class:`~echonet.errors.FrameDecodeError` as :func:`echonet.codec.decode` does. The layouts the traffic
        repeats are decoded by functions compiled for them (:class:`.compiled.FrameDecoder`)."""
        frames = self._frames
        if frames is None:
            frames = self._frames = FrameDecoder(self)
        return frames.decode(data)

    def typed(self, frame: Frame) -> TypedFrame:
        """Every property of a frame decoded (:class:`TypedFrame`), as :func:`echonet.describe` shows them."""
        frames = self._frames
        if frames is None:
            frames = self._frames = FrameDecoder(self)
        return frames.typed(frame)

    def reference_decode_value(
        self, class_id: int, epc: int, edt: bytes, others: Mapping[int, bytes] | None = None
    ) -> DecodedValue:
        """:meth:`decode_value` through the tables, object by object: the oracle the compiled decoders equal."""
        definition = self.property(class_id, epc)
        if definition is None:
            return DecodedValue(epc, edt, None, bytes(edt))
        t = definition.type
        missing: tuple[int, ...] = ()
        if definition.coefficients:
            t, missing = self._scaled_type(class_id, definition, others)
        try:
            return DecodedValue(epc, edt, definition, t.decode(edt), None, missing)
        except ValueDecodeError as exc:
            return DecodedValue(epc, edt, definition, bytes(edt), exc.reason)

    def decode_values(self, class_id: int, values: Mapping[int, bytes]) -> dict[int, DecodedValue]:
        """Decode every EDT of one object (EPC -> EDT), each with the others at hand for its coefficients."""
        return {epc: self.decode_value(class_id, epc, edt, values) for epc, edt in values.items()}

    def _scaled_type(
        self, class_id: int, definition: PropertyDef, others: Mapping[int, bytes] | None
    ) -> tuple[ValueType, tuple[int, ...]]:
        """The definition's type with its coefficient properties' values applied, or the type as it is with the
        EPCs that were not at hand (or did not hold a number)."""
        factors: dict[int, float] = {}
        missing: list[int] = []
        for epc in definition.coefficients:
            edt = others.get(epc) if others else None
            factor_def = self.property(class_id, epc)
            factor: Any = None
            if edt and factor_def is not None:
                try:
                    factor = factor_def.type.decode(edt)
                except ValueDecodeError:
                    factor = None
            if isinstance(factor, bool) or not isinstance(factor, int | float) or isinstance(factor, Special):
                missing.append(epc)
            else:
                factors[epc] = factor
        if missing:
            return definition.type, tuple(missing)
        key = (class_id, definition.epc, tuple(sorted(factors.items())))
        scaled = self._rescaled.get(key)
        if scaled is None:
            if len(self._rescaled) >= 4096:  # meters change their unit rarely: a bound, not an eviction policy
                self._rescaled.clear()
            scaled = self._rescaled[key] = definition.type.rescaled(factors)
        return scaled, ()


_DEFAULT: Registry | None = None
_DEFAULT_MRA: str | None = None


def builtin_registry() -> Registry:
    from .builtin import BUILTIN_CLASSES

    return Registry(BUILTIN_CLASSES)


def default_registry(mra_dir: str | None = None) -> Registry:
    """Built-in classes, plus the MRA classes from ``mra_dir`` or ``$ECHONET_MRA_DIR`` (cached per directory)."""
    global _DEFAULT, _DEFAULT_MRA
    directory = mra_dir or os.environ.get("ECHONET_MRA_DIR") or None
    if _DEFAULT is None or directory != _DEFAULT_MRA:
        registry = builtin_registry()
        if directory:
            from .mra import load_mra

            registry = registry.with_appendix(load_mra(directory))
        _DEFAULT, _DEFAULT_MRA = registry, directory
    return _DEFAULT
