"""The class registry: built-in tables, plus every class of the Machine Readable Appendix when one is configured."""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from ..errors import EchonetUsageError, ValueDecodeError
from .model import ClassDef, PropertyDef
from .types import Number, OneOf

SUPER_CLASS_ID = 0x0000
NODE_PROFILE_ID = 0x0EF0
#: Class groups whose objects inherit the device super class (0x00-0x06); the profile group 0x0E does not.
DEVICE_GROUPS = range(0x00, 0x07)


@dataclass(frozen=True)
class DecodedValue:
    """The outcome of decoding one EDT through the tables."""

    epc: int
    edt: bytes
    definition: PropertyDef | None
    value: Any  #: the typed value, or the raw EDT when there is no definition or it did not decode
    error: str | None = None  #: why the EDT does not fit its definition

    @property
    def name(self) -> str:
        if self.definition is not None:
            return self.definition.name
        return f"vendor-specific 0x{self.epc:02X}" if self.epc >= 0xF0 else f"unknown 0x{self.epc:02X}"

    @property
    def standard(self) -> bool:
        return self.definition.standard if self.definition is not None else self.epc < 0xF0

    @property
    def unit(self) -> str:
        """The unit of the value; for alternatives (a number range or special codes), the unit of the number
        option the EDT decoded as, and none for a special code."""
        if self.definition is None or self.error is not None:
            return ""
        t = self.definition.type
        if not isinstance(t, OneOf):
            return str(getattr(t, "unit", ""))
        if isinstance(self.value, str):  # a special code's name, not a number
            return ""
        for option in t.options:
            if isinstance(option, Number) and option.unit and option.check(self.edt) is None:
                return option.unit
        return ""

    def json_value(self) -> Any:
        if self.definition is None or self.error is not None:
            return self.edt.hex()
        return self.definition.type.to_json(self.value)


class Registry:
    """Class definitions by code, with super-class inheritance and lookup by name."""

    def __init__(self, classes: Iterable[ClassDef]) -> None:
        self._classes: dict[int, ClassDef] = {}
        for cls in classes:
            self._classes[cls.class_id] = cls
        self._merged: dict[int, dict[int, PropertyDef]] = {}

    def with_classes(self, classes: Iterable[ClassDef], *, override: bool = False) -> Registry:
        """A new registry adding ``classes``; existing (built-in) classes win unless ``override``."""
        merged = dict(self._classes)
        for cls in classes:
            if override or cls.class_id not in merged:
                merged[cls.class_id] = cls
        return Registry(merged.values())

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

    def decode_value(self, class_id: int, epc: int, edt: bytes) -> DecodedValue:
        """Decode one EDT; unknown classes and EPCs (vendor 0xF0-0xFF included) come back as raw bytes."""
        definition = self.property(class_id, epc)
        if definition is None:
            return DecodedValue(epc, edt, None, bytes(edt))
        try:
            return DecodedValue(epc, edt, definition, definition.decode(edt))
        except ValueDecodeError as exc:
            return DecodedValue(epc, edt, definition, bytes(edt), str(exc))


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

            registry = registry.with_classes(load_mra(directory).values())
        _DEFAULT, _DEFAULT_MRA = registry, directory
    return _DEFAULT
