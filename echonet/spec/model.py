"""Property and class definitions: what each EPC of each class is, as data."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from types import MappingProxyType
from typing import Any

from ..errors import EchonetUsageError
from .types import Raw, ValueType

#: Appendix releases in order (Release R is the one the built-in tables follow).
RELEASES = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
CURRENT_RELEASE = "R"


class Rule(StrEnum):
    """Access rule of a property for one service (Get, Set or announcement)."""

    REQUIRED = "required"  #: mandatory
    REQUIRED_CONDITIONAL = "required_c"  #: mandatory where the device has the function
    REQUIRED_ONE_OF = "required_o"  #: one of a group is mandatory
    OPTIONAL = "optional"
    NOT_APPLICABLE = "notApplicable"

    @property
    def applicable(self) -> bool:
        return self is not Rule.NOT_APPLICABLE

    @property
    def mandatory(self) -> bool:
        return self is Rule.REQUIRED

    @property
    def short(self) -> str:
        return _RULE_SHORT[self]


_RULE_SHORT = {
    Rule.REQUIRED: "M",
    Rule.REQUIRED_CONDITIONAL: "M*",
    Rule.REQUIRED_ONE_OF: "M1",
    Rule.OPTIONAL: "O",
    Rule.NOT_APPLICABLE: "-",
}

M, MC, MO, O, NA = (
    Rule.REQUIRED,
    Rule.REQUIRED_CONDITIONAL,
    Rule.REQUIRED_ONE_OF,
    Rule.OPTIONAL,
    Rule.NOT_APPLICABLE,
)


@dataclass(frozen=True)
class Access:
    get: Rule
    set: Rule
    anno: Rule

    @property
    def text(self) -> str:
        """``Get:M Set:O Anno:M`` in short form."""
        return f"Get:{self.get.short} Set:{self.set.short} Anno:{self.anno.short}"


@dataclass(frozen=True)
class PropertyDef:
    """One property of a class: EPC, names, value type, access rules and the Appendix release that added it."""

    epc: int
    name: str  #: English name
    key: str  #: short identifier (camelCase), usable on the command line
    type: ValueType
    access: Access
    since: str = "A"  #: first Appendix release that has this EPC
    standard: bool = True  #: False for the project's manufacturer-specific extensions (0xF0-0xFF)
    note: str = ""
    #: EPCs whose values scale this property's numbers (computed from the type once).
    coefficients: tuple[int, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "coefficients", self.type.coefficients)

    @property
    def size_text(self) -> str:
        return self.type.size_text

    def decode(self, edt: bytes) -> Any:
        return self.type.decode(edt)

    def encode(self, value: Any) -> bytes:
        try:
            return self.type.encode(value)
        except EchonetUsageError as exc:
            raise EchonetUsageError(f"{self.name} (0x{self.epc:02X}): {exc}") from None

    def check_set(self, edt: bytes) -> str | None:
        """Why a Set of this EDT must be refused, or ``None``."""
        if not self.access.set.applicable:
            return "not settable"
        return self.type.check(edt)


def prop(
    epc: int,
    name: str,
    key: str,
    type_: ValueType,
    get: Rule,
    set_: Rule,
    anno: Rule,
    since: str = "A",
    *,
    note: str = "",
    standard: bool = True,
) -> PropertyDef:
    """Compact constructor for the tables: ``prop(0x80, "Operation status", "operationStatus", ON_OFF, M, O, M)``."""
    return PropertyDef(epc, name, key, type_, Access(get, set_, anno), since, standard, note)


@dataclass(frozen=True)
class ClassDef:
    """One class: code, names and its own properties (the super class's are merged by the registry)."""

    class_id: int
    name: str
    key: str
    properties: Mapping[int, PropertyDef]
    since: str = "A"
    source: str = "builtin"  #: ``builtin``, ``mra`` or ``vendor``

    @staticmethod
    def build(
        class_id: int,
        name: str,
        key: str,
        props: Iterable[PropertyDef],
        since: str = "A",
        source: str = "builtin",
    ) -> ClassDef:
        table: dict[int, PropertyDef] = {}
        for p in props:
            if p.epc in table:
                raise EchonetUsageError(f"class 0x{class_id:04X}: EPC 0x{p.epc:02X} defined twice")
            table[p.epc] = p
        return ClassDef(class_id, name, key, MappingProxyType(dict(sorted(table.items()))), since, source)

    @property
    def code_text(self) -> str:
        return f"0x{self.class_id:04X}"


@dataclass(frozen=True)
class UnknownProperty:
    """Stand-in definition for an EPC no table knows: decodes as raw bytes."""

    epc: int
    type: ValueType = field(default_factory=lambda: Raw(0, 255))

    @property
    def name(self) -> str:
        return f"unknown 0x{self.epc:02X}" if self.epc < 0xF0 else f"vendor-specific 0x{self.epc:02X}"
