"""Value types of property data (EDT), as data.

Each type knows its size, decodes an EDT to a Python value, encodes a value back, validates an EDT for a Set (range,
size, read-only codes) and describes itself for documentation. The same objects serve the decoder, the device
objects (which refuse a bad Set with the reason :meth:`ValueType.check` gives), ``echonet spec`` and the MRA loader.

Python values: numbers are ``int`` (``float`` where a scale such as 0.1 applies), enumerations are their name
(``str``), raw data is ``bytes``, dates and times are ISO-like strings (``"2026-11-23"``, ``"12:30"``), arrays are
lists and objects and bitmaps are dicts. The version information (0x82) and identification number (0x83) decode to
frozen dataclasses of their own (:mod:`.identity`).

Values tell the truth: ``decode`` returns a value only for an EDT that means one. A special code (a number's
overflow or underflow code, a code such as "no data" beside a number) decodes to a :class:`Special`, a ``str``
holding the code's name that also keeps the code; anything else the definition does not allow (a number out of its
range, a code the type lacks, a date that is no date, undefined bits of a bitmap, text that is not ASCII) raises
:class:`ValueDecodeError` with the reason. ``check`` refuses, in addition, what a device reports but a controller may
not set (read-only codes, special codes). docs/json-values.md shows how the command line renders each case.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from ..errors import EchonetUsageError, ValueDecodeError
from ..frame import EOJ
from ..propmap import (
    decode_class_list,
    decode_instance_list,
    decode_property_map,
    encode_class_list,
    encode_instance_list,
    encode_property_map,
)

_FORMATS: dict[str, tuple[int, bool]] = {
    "uint8": (1, False),
    "uint16": (2, False),
    "uint32": (4, False),
    "uint64": (8, False),
    "int8": (1, True),
    "int16": (2, True),
    "int32": (4, True),
    "int64": (8, True),
}


class Special(str):
    """A special code standing where a value would be: its name (``overflow``, ``noData``, ...) as a ``str``, with
    the code itself in ``code`` (unsigned, as on the wire) and its size in bytes in ``size``.

    The types build their special codes once, so decoding one allocates nothing.
    """

    code: int
    size: int

    def __new__(cls, name: str, code: int, size: int) -> Special:
        self = super().__new__(cls, name)
        self.code = code
        self.size = size
        return self

    @property
    def code_text(self) -> str:
        """The code in hex, ``0xFFFFFFFE``."""
        return f"0x{self.code:0{2 * self.size}X}"

    @property
    def text(self) -> str:
        """Name and code for a person: ``overflow (0xFFFFFFFF)``."""
        return f"{self} ({self.code_text})"

    def __reduce__(self) -> tuple[Any, ...]:
        return (Special, (str(self), self.code, self.size))


class ValueType:
    """Base of all value types."""

    kind: str = "raw"

    @property
    def min_size(self) -> int:
        raise NotImplementedError

    @property
    def max_size(self) -> int:
        raise NotImplementedError

    def decode(self, edt: bytes) -> Any:
        """EDT to value (a :class:`Special` for a special code); raises :class:`ValueDecodeError` with the reason
        when the bytes mean no value of the type (wrong size, out of range, a code the type lacks)."""
        raise NotImplementedError

    def encode(self, value: Any) -> bytes:
        """Value to EDT; raises :class:`EchonetUsageError` for a value the type cannot hold."""
        raise NotImplementedError

    def check(self, edt: bytes) -> str | None:
        """Why a device must refuse this EDT in a Set (``None`` when it is acceptable)."""
        try:
            self.decode(edt)
        except ValueDecodeError as exc:
            return exc.reason
        return None

    def why_invalid(self, edt: bytes) -> str | None:
        """Why the EDT means no value of the type, or ``None`` for a value or a special code: what a device may
        report, where :meth:`check` says what a controller may set."""
        try:
            self.decode(edt)
        except ValueDecodeError as exc:
            return exc.reason
        return None

    def describe(self) -> str:
        raise NotImplementedError

    def schema(self) -> dict[str, Any]:
        """The type as JSON (``echonet spec --json``): its kind and size, plus what the kind adds (range, unit,
        special codes, named codes and their aliases, fields, options)."""
        return {"kind": self.kind, "size": self.size_text}

    def parse_text(self, text: str) -> Any:
        """A value from command-line text; ``0x..`` hex is always accepted as the raw EDT."""
        return _hex_edt(text)

    def to_json(self, value: Any) -> Any:
        return value.hex() if isinstance(value, bytes | bytearray) else value

    def value_text(self, value: Any) -> str | None:
        """A decoded value as text for a person, for types whose values have one (``None``: show the JSON form)."""
        return None

    @property
    def coefficients(self) -> tuple[int, ...]:
        """EPCs of the other properties whose values multiply this type's numbers (the Appendix's coefficient
        properties, e.g. 0xE2 of a watt-hour meter), in order; empty for most types."""
        return ()

    def rescaled(self, factors: Mapping[int, float]) -> ValueType:
        """This type with every number that depends on coefficient EPCs multiplied by their values (``factors``
        maps each EPC of :attr:`coefficients` to its value)."""
        return self

    @property
    def size_text(self) -> str:
        lo, hi = self.min_size, self.max_size
        return str(lo) if lo == hi else f"{lo}-{hi}"

    def _need_size(self, edt: bytes) -> None:
        if not self.min_size <= len(edt) <= self.max_size:
            raise ValueDecodeError(f"EDT of {len(edt)} byte(s), expected {self.size_text}")


class FixedSize(ValueType):
    """Types whose EDT is always ``size`` bytes."""

    size: int

    @property
    def min_size(self) -> int:
        return self.size

    @property
    def max_size(self) -> int:
        return self.size


def _hex_edt(text: str) -> bytes:
    cleaned = text.strip().lower()
    if cleaned.startswith("0x"):
        cleaned = cleaned[2:]
    cleaned = cleaned.replace(" ", "").replace(":", "")
    try:
        return bytes.fromhex(cleaned)
    except ValueError:
        raise EchonetUsageError(f"{text!r} is not hex data") from None


def _int_text(text: str) -> int | float:
    t = text.strip().replace("_", "")
    try:
        return int(t, 0)
    except ValueError:
        pass
    try:
        return float(t)
    except ValueError:
        raise EchonetUsageError(f"{text!r} is not a number") from None


def _decoded_hex(t: ValueType, text: str) -> Any:
    """``0x..`` text decoded through ``t``; an EDT that means no value is a usage error naming the reason."""
    try:
        return t.decode(_hex_edt(text))
    except ValueDecodeError as exc:
        raise EchonetUsageError(f"{text.strip()}: {exc.reason}") from None


def _piece(part: bytes) -> str:
    """`` (0x0102)`` for a short part of an EDT named in a reason; nothing for a long one."""
    return f" (0x{part.hex().upper()})" if 0 < len(part) <= 8 else ""


def _limit_codes(fmt: str) -> tuple[int, int]:
    """The overflow and underflow codes of a number format, as values of the format.

    The Appendix's general rule: an unsigned format's largest code is its overflow code and the one below it its
    underflow code (0xFF / 0xFE, 0xFFFF / 0xFFFE, ...); a signed format's largest positive code is its overflow
    code and its most negative one its underflow code (0x7F / 0x80, 0x7FFF / 0x8000, ...).
    """
    size, signed = _FORMATS[fmt]
    if signed:
        return (1 << (8 * size - 1)) - 1, -(1 << (8 * size - 1))
    top = (1 << (8 * size)) - 1
    return top, top - 1


@dataclass(frozen=True)
class Number(ValueType):
    """Signed or unsigned integer with optional unit and scale (value = raw * scale).

    Outside its range, the format's overflow and underflow codes (see :func:`_limit_codes`) decode to the
    :class:`Special` ``overflow`` / ``underflow`` unless the definition says it has none (``overflow=False``,
    ``underflow=False``: the Appendix's ``"overflowCode": false``, e.g. counters that wrap to 0). ``coefficients``
    names the EPCs whose values multiply the number (the Appendix's ``"coefficient"``); the registry applies them.
    """

    format: str
    minimum: int | None = None  #: raw minimum
    maximum: int | None = None  #: raw maximum
    unit: str = ""
    scale: float = 1
    allowed: frozenset[int] | None = None  #: raw values allowed inside the range, where the spec lists them
    overflow: bool = True  #: the format's overflow code is reported when the value is too large to measure
    underflow: bool = True  #: the format's underflow code is reported when the value is too small to measure
    coefficients: tuple[int, ...] = ()  #: EPCs whose values multiply the number (a property on other types)
    kind: str = field(default="number", init=False)
    # Precomputed by __post_init__ for the hot path (decode):
    _size: int = field(init=False, repr=False, compare=False)
    _signed: bool = field(init=False, repr=False, compare=False)
    _lo: int = field(init=False, repr=False, compare=False)
    _hi: int = field(init=False, repr=False, compare=False)
    _decimals: int = field(init=False, repr=False, compare=False)
    _specials: dict[int, Special] = field(init=False, repr=False, compare=False)
    _special_raw: dict[str, int] = field(init=False, repr=False, compare=False)
    _out_of_range: str = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.format not in _FORMATS:
            raise EchonetUsageError(f"unknown number format {self.format!r}")
        size, signed = _FORMATS[self.format]
        lowest, highest = (-(1 << (8 * size - 1)), (1 << (8 * size - 1)) - 1) if signed else (0, (1 << (8 * size)) - 1)
        lo = lowest if self.minimum is None else self.minimum
        hi = highest if self.maximum is None else self.maximum
        decimals = 0 if self.scale >= 1 else max(0, round(-math.log10(self.scale) + 0.4999))
        specials: dict[int, Special] = {}
        by_name: dict[str, int] = {}
        over, under = _limit_codes(self.format)
        for wanted, raw, name in ((self.overflow, over, "overflow"), (self.underflow, under, "underflow")):
            if wanted and not lo <= raw <= hi:
                code = raw & ((1 << (8 * size)) - 1)
                specials[raw] = Special(name, code, size)
                by_name[name] = raw
        setattr_ = object.__setattr__
        setattr_(self, "_size", size)
        setattr_(self, "_signed", signed)
        setattr_(self, "_lo", lo)
        setattr_(self, "_hi", hi)
        setattr_(self, "_decimals", decimals)
        setattr_(self, "_specials", specials)
        setattr_(self, "_special_raw", by_name)
        setattr_(self, "_out_of_range", f"out of range {self.span_text}")

    @property
    def min_size(self) -> int:
        return _FORMATS[self.format][0]

    @property
    def max_size(self) -> int:
        return _FORMATS[self.format][0]

    @property
    def signed(self) -> bool:
        return _FORMATS[self.format][1]

    @property
    def specials(self) -> tuple[Special, ...]:
        """The special codes this number reports beside its range (overflow, underflow), in code order."""
        return tuple(sorted(self._specials.values(), key=lambda s: s.code))

    def raw(self, edt: bytes) -> int:
        self._need_size(edt)
        return int.from_bytes(edt, "big", signed=self.signed)

    def in_range(self, raw: int) -> bool:
        if self.allowed is not None and raw not in self.allowed:
            return False
        return (self.minimum is None or raw >= self.minimum) and (self.maximum is None or raw <= self.maximum)

    @property
    def decimals(self) -> int:
        """Decimal places the scale gives values (0.1 -> 1, 0.001 -> 3)."""
        return self._decimals

    def scaled(self, raw: int) -> int | float:
        return raw if self.scale == 1 else round(raw * self.scale, self._decimals)

    def decode(self, edt: bytes) -> int | float | Special:
        if len(edt) != self._size:
            raise ValueDecodeError(f"EDT of {len(edt)} byte(s), expected {self._size}")
        raw = int.from_bytes(edt, "big", signed=self._signed)
        if self._lo <= raw <= self._hi and (self.allowed is None or raw in self.allowed):
            return raw if self.scale == 1 else round(raw * self.scale, self._decimals)
        special: Special | None = self._specials.get(raw)
        if special is not None:
            return special
        raise ValueDecodeError(self._out_of_range)

    def check(self, edt: bytes) -> str | None:
        try:
            raw = self.raw(edt)
        except ValueDecodeError as exc:
            return exc.reason
        if not self.in_range(raw):
            special: Special | None = self._specials.get(raw)
            if special is not None:
                return f"{special.text} is a code a device reports, not a value to set"
            return f"{self._fmt(raw)} is outside {self.range_text}"
        return None

    def _fmt(self, raw: int) -> str:
        value = self.scaled(raw)
        return f"{value}{' ' + self.unit if self.unit else ''}"

    def _plain(self, raw: int) -> str:
        value = self.scaled(raw)
        return f"{value:.{self.decimals}f}" if self.decimals else str(value)

    @property
    def range_text(self) -> str:
        if self.allowed is not None:
            return "{" + ", ".join(self._fmt(v) for v in sorted(self.allowed)) + "}"
        lo = "" if self.minimum is None else self._fmt(self.minimum)
        hi = "" if self.maximum is None else self._fmt(self.maximum)
        return f"{lo}..{hi}"

    @property
    def span_text(self) -> str:
        """The range as people write it: ``0-100 %``, ``-999999999..999999999 W``, ``one of 1, 20, 21``."""
        unit = f" {self.unit}" if self.unit else ""
        if self.allowed is not None:
            return "one of " + ", ".join(self._plain(v) for v in sorted(self.allowed)) + unit
        lo, hi = self._lo, self._hi
        sep = "-" if lo >= 0 else ".."
        return f"{self._plain(lo)}{sep}{self._plain(hi)}{unit}"

    def encode(self, value: Any) -> bytes:
        if isinstance(value, str) and value in self._special_raw:
            raw_code: int = self._special_raw[value]
            return raw_code.to_bytes(self.min_size, "big", signed=self.signed)
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise EchonetUsageError(f"{value!r} is not a number")
        raw = round(value / self.scale) if self.scale != 1 else value
        if isinstance(raw, float):
            if not raw.is_integer():
                raise EchonetUsageError(f"{value} is not a whole number")
            raw = int(raw)
        if not self.in_range(raw):
            raise EchonetUsageError(f"{value}{' ' + self.unit if self.unit else ''} is outside {self.range_text}")
        try:
            return raw.to_bytes(self.min_size, "big", signed=self.signed)
        except OverflowError:
            raise EchonetUsageError(f"{value} does not fit {self.format}") from None

    def parse_text(self, text: str) -> Any:
        t = text.strip()
        if t.lower().startswith("0x") and len(t) > 2 and len(t) - 2 == 2 * self.min_size:
            return _decoded_hex(self, t)
        if t in self._special_raw:
            return t
        if self.unit and t.lower().endswith(self.unit.lower()):
            t = t[: -len(self.unit)]
        return _int_text(t)

    def describe(self) -> str:
        scale = f" x{self.scale:g}" if self.scale != 1 else ""
        text = f"{self.format}{scale} {self.span_text}"
        if self.coefficients:
            text += " times " + " x ".join(f"0x{epc:02X}" for epc in self.coefficients)
        codes = ", ".join(f"{s.code_text} {s}" for s in self.specials)
        return f"{text}; {codes}" if codes else text

    def schema(self) -> dict[str, Any]:
        out: dict[str, Any] = {"kind": self.kind, "size": self.size_text, "format": self.format}
        if self.minimum is not None:
            out["minimum"] = self.scaled(self.minimum)
        if self.maximum is not None:
            out["maximum"] = self.scaled(self.maximum)
        if self.allowed is not None:
            out["allowed"] = [self.scaled(v) for v in sorted(self.allowed)]
        if self.unit:
            out["unit"] = self.unit
        if self.scale != 1:
            out["scale"] = self.scale
        if self.coefficients:
            out["coefficients"] = [f"0x{epc:02X}" for epc in self.coefficients]
        if self.specials:
            out["special"] = [{"code": s.code_text, "name": str(s)} for s in self.specials]
        return out

    def rescaled(self, factors: Mapping[int, float]) -> ValueType:
        if not self.coefficients:
            return self
        factor = 1.0
        for epc in self.coefficients:
            factor *= factors[epc]
        scale = self.scale * factor
        return Number(
            self.format,
            self.minimum,
            self.maximum,
            self.unit,
            int(scale) if float(scale).is_integer() and scale >= 1 else scale,
            self.allowed,
            self.overflow,
            self.underflow,
        )


@dataclass(frozen=True)
class Enum(FixedSize):
    """A code with named values (``state`` in the Appendix). A code the type lacks decodes to no value.

    ``ranges`` name whole code ranges (e.g. fault codes 0x000A-0x0013); a code in a range decodes to
    ``"name:0x000B"`` so that the exact code is kept. ``aliases`` are other names accepted for codes when a value is
    parsed or encoded (the Appendix's names where the project names a code differently); values always decode to
    the names of ``values``. Names and aliases are also accepted in any case.
    """

    size: int
    values: Mapping[int, str]
    read_only: frozenset[int] = frozenset()  #: codes a device reports but a controller may not set
    ranges: tuple[tuple[int, int, str], ...] = ()
    aliases: Mapping[str, int] = field(default_factory=dict)
    kind: str = field(default="enum", init=False)
    _by_name: dict[str, int] = field(init=False, repr=False, compare=False)
    _folded: dict[str, int] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        by_name: dict[str, int] = {}
        for code, name in self.values.items():
            by_name.setdefault(name, code)
        for name, code in self.aliases.items():
            by_name.setdefault(name, code)
        folded: dict[str, int] = {}
        for name, code in by_name.items():
            folded.setdefault(name.lower(), code)
        object.__setattr__(self, "_by_name", by_name)
        object.__setattr__(self, "_folded", folded)

    def _code_text(self, code: int) -> str:
        return f"0x{code:0{2 * self.size}X}"

    def name_of(self, code: int) -> str | None:
        name = self.values.get(code)
        if name is None:
            for lo, hi, range_name in self.ranges:
                if lo <= code <= hi:
                    return f"{range_name}:{self._code_text(code)}"
        return name

    def decode(self, edt: bytes) -> str:
        if len(edt) != self.size:
            raise ValueDecodeError(f"EDT of {len(edt)} byte(s), expected {self.size}")
        code = int.from_bytes(edt, "big")
        name = self.values.get(code)
        if name is None:
            name = self.name_of(code)
            if name is None:
                raise ValueDecodeError("not a defined code")
        return name

    def has(self, edt: bytes) -> bool:
        return len(edt) == self.size and self.name_of(int.from_bytes(edt, "big")) is not None

    def check(self, edt: bytes) -> str | None:
        if len(edt) != self.size:
            return f"EDT of {len(edt)} byte(s), expected {self.size}"
        code = int.from_bytes(edt, "big")
        name = self.name_of(code)
        if name is None:
            return f"{self._code_text(code)} is not one of the defined codes"
        if code in self.read_only:
            return f"{name} ({self._code_text(code)}) cannot be set"
        return None

    def code_of(self, value: Any) -> int:
        if isinstance(value, str):
            code = self._by_name.get(value)
            if code is None:
                code = self._folded.get(value.lower())
            if code is not None:
                return code
            head, sep, tail = value.partition(":")
            if sep and any(head.lower() == r[2].lower() for r in self.ranges):
                value = tail
            if value.strip().lower().startswith("0x"):
                try:
                    return int(value, 16)
                except ValueError:
                    pass
            raise EchonetUsageError(f"{value!r} is not one of: {', '.join(self.values.values())}")
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        raise EchonetUsageError(f"{value!r} is not one of: {', '.join(self.values.values())}")

    def encode(self, value: Any) -> bytes:
        code = self.code_of(value)
        try:
            return code.to_bytes(self.size, "big")
        except OverflowError:
            raise EchonetUsageError(f"code 0x{code:X} does not fit {self.size} byte(s)") from None

    def parse_text(self, text: str) -> Any:
        t = text.strip()
        return int(t, 16) if t.lower().startswith("0x") else t

    def aliases_of(self, code: int) -> list[str]:
        """The other names accepted for ``code``."""
        return [name for name, c in self.aliases.items() if c == code and name != self.values.get(code)]

    def renamed(self, names: Mapping[int, str]) -> Enum:
        """The same codes under the names of ``names`` where it has one; the replaced names become aliases."""
        values = {code: names.get(code, name) for code, name in self.values.items()}
        if len(set(values.values())) != len(values):  # two codes would share a name: keep the type as it is
            return self
        aliases = {name: code for code, name in self.values.items() if values[code] != name}
        aliases.update(self.aliases)
        return replace(self, values=values, aliases=_clean_aliases(values, aliases))

    def with_aliases(self, more: Mapping[str, int]) -> Enum:
        """The same type accepting the names of ``more`` as well (none that is another code's name)."""
        aliases = {**self.aliases, **more}
        cleaned = _clean_aliases(self.values, aliases)
        return self if cleaned == dict(self.aliases) else replace(self, aliases=cleaned)

    def describe(self) -> str:
        items = [f"{self._code_text(c)}={n}" for c, n in self.values.items()]
        items += [f"{self._code_text(lo)}..{self._code_text(hi)}={n}" for lo, hi, n in self.ranges]
        return "enum " + ", ".join(items)

    def schema(self) -> dict[str, Any]:
        values: list[dict[str, Any]] = []
        for code, name in self.values.items():
            item: dict[str, Any] = {"code": self._code_text(code), "name": name}
            aliases = self.aliases_of(code)
            if aliases:
                item["aliases"] = aliases
            if code in self.read_only:
                item["settable"] = False
            values.append(item)
        out: dict[str, Any] = {"kind": self.kind, "size": self.size_text, "values": values}
        if self.ranges:
            out["ranges"] = [
                {"from": self._code_text(lo), "to": self._code_text(hi), "name": name} for lo, hi, name in self.ranges
            ]
        return out


def _clean_aliases(values: Mapping[int, str], aliases: Mapping[str, int]) -> dict[str, int]:
    """Aliases that name a code of ``values`` and are no code's own name."""
    names = set(values.values())
    return {name: code for name, code in aliases.items() if code in values and name not in names}


@dataclass(frozen=True)
class NumericCode(FixedSize):
    """A code standing for a number (``numericValue`` in the Appendix, e.g. 0x01 = x0.1)."""

    size: int
    values: Mapping[int, float]
    kind: str = field(default="numeric-code", init=False)

    def decode(self, edt: bytes) -> float | int:
        self._need_size(edt)
        code = int.from_bytes(edt, "big")
        if code not in self.values:
            raise ValueDecodeError("not a defined code")
        return self.values[code]

    def check(self, edt: bytes) -> str | None:
        if len(edt) == self.size and int.from_bytes(edt, "big") not in self.values:
            return f"code 0x{int.from_bytes(edt, 'big'):X} stands for no number"
        return super().check(edt)

    def encode(self, value: Any) -> bytes:
        for code, number in self.values.items():
            if number == value:
                return code.to_bytes(self.size, "big")
        raise EchonetUsageError(f"{value!r} is not one of {sorted(self.values.values())}")

    def parse_text(self, text: str) -> Any:
        return _int_text(text)

    def describe(self) -> str:
        return "code for " + ", ".join(f"0x{c:02X}={v:g}" for c, v in self.values.items())

    def schema(self) -> dict[str, Any]:
        values = [{"code": f"0x{c:0{2 * self.size}X}", "number": v} for c, v in self.values.items()]
        return {"kind": self.kind, "size": self.size_text, "values": values}


@dataclass(frozen=True)
class Level(ValueType):
    """A one-byte level: code ``base`` is level 1 ... ``base + maximum - 1`` is level ``maximum``."""

    base: int
    maximum: int
    kind: str = field(default="level", init=False)

    @property
    def min_size(self) -> int:
        return 1

    @property
    def max_size(self) -> int:
        return 1

    def decode(self, edt: bytes) -> int:
        self._need_size(edt)
        level = edt[0] - self.base + 1
        if not 1 <= level <= self.maximum:
            raise ValueDecodeError(
                f"not a level (0x{self.base:02X}-0x{self.base + self.maximum - 1:02X} are levels 1-{self.maximum})"
            )
        return level

    def check(self, edt: bytes) -> str | None:
        if len(edt) != 1:
            return f"EDT of {len(edt)} byte(s), expected 1"
        level = edt[0] - self.base + 1
        return None if 1 <= level <= self.maximum else f"level {level} outside 1..{self.maximum}"

    def encode(self, value: Any) -> bytes:
        if not isinstance(value, int) or not 1 <= value <= self.maximum:
            raise EchonetUsageError(f"level {value!r} outside 1..{self.maximum}")
        return bytes((self.base + value - 1,))

    def parse_text(self, text: str) -> Any:
        return _int_text(text)

    def describe(self) -> str:
        return f"level 1..{self.maximum} (0x{self.base:02X}..0x{self.base + self.maximum - 1:02X})"

    def schema(self) -> dict[str, Any]:
        return {"kind": self.kind, "size": self.size_text, "levels": self.maximum, "base": f"0x{self.base:02X}"}


@dataclass(frozen=True)
class Raw(ValueType):
    """Opaque bytes of a size range (vendor EPCs, identification numbers, unknown data)."""

    min_len: int = 0
    max_len: int = 255
    kind: str = field(default="raw", init=False)

    @property
    def min_size(self) -> int:
        return self.min_len

    @property
    def max_size(self) -> int:
        return self.max_len

    def decode(self, edt: bytes) -> bytes:
        self._need_size(edt)
        return bytes(edt)

    def encode(self, value: Any) -> bytes:
        if isinstance(value, str):
            value = _hex_edt(value)
        if not isinstance(value, bytes | bytearray):
            raise EchonetUsageError(f"{value!r} is not bytes")
        if not self.min_len <= len(value) <= self.max_len:
            raise EchonetUsageError(f"{len(value)} byte(s), expected {self.size_text}")
        return bytes(value)

    def describe(self) -> str:
        return f"raw {self.size_text} byte(s)"


@dataclass(frozen=True)
class Text(ValueType):
    """Printable ASCII text of a size range, padded at the end with NUL or space (product codes, serial numbers)."""

    min_len: int = 0
    max_len: int = 255
    kind: str = field(default="text", init=False)

    @property
    def min_size(self) -> int:
        return self.min_len

    @property
    def max_size(self) -> int:
        return self.max_len

    def decode(self, edt: bytes) -> str:
        self._need_size(edt)
        text = edt.rstrip(b"\x00 ")
        if text.isascii() and text.decode("ascii").isprintable():
            return text.decode("ascii")
        at = next(i for i, b in enumerate(text) if not 0x20 <= b <= 0x7E)
        raise ValueDecodeError(f"byte 0x{text[at]:02X} at offset {at} is not printable ASCII", at)

    def encode(self, value: Any) -> bytes:
        if not isinstance(value, str):
            raise EchonetUsageError(f"{value!r} is not text")
        if not (value.isascii() and value.isprintable()):
            raise EchonetUsageError(f"{value!r} is not printable ASCII")
        data = value.encode("ascii")
        if len(data) > self.max_len:
            raise EchonetUsageError(f"{value!r} is longer than {self.max_len} bytes")
        return data.ljust(self.min_len, b"\x00")

    def parse_text(self, text: str) -> Any:
        return text

    def describe(self) -> str:
        return f"ASCII {self.size_text} byte(s)"


@dataclass(frozen=True)
class BitField:
    """One named field of a :class:`Bitmap`: byte index, mask, and the value type of the extracted bits."""

    name: str
    index: int
    mask: int
    values: Mapping[int, str] | None = None  #: named values of the shifted field; ``None``: a number


@dataclass(frozen=True)
class Bitmap(FixedSize):
    """Named bit fields of a fixed-size EDT. Bits no field defines must be 0; a field with named values must hold
    one of them."""

    size: int
    fields: Sequence[BitField]
    kind: str = field(default="bitmap", init=False)
    _masks: tuple[int, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        masks = [0] * self.size
        for f in self.fields:
            if 0 <= f.index < self.size:
                masks[f.index] |= f.mask
        object.__setattr__(self, "_masks", tuple(masks))

    @staticmethod
    def _shift(mask: int) -> int:
        return (mask & -mask).bit_length() - 1

    def decode(self, edt: bytes) -> dict[str, Any]:
        self._need_size(edt)
        for i, defined in enumerate(self._masks):
            if edt[i] & ~defined:
                raise ValueDecodeError(f"bits 0b{edt[i] & ~defined & 0xFF:08b} of byte {i} are not defined", i)
        out: dict[str, Any] = {}
        for f in self.fields:
            bits = (edt[f.index] & f.mask) >> self._shift(f.mask)
            if f.values is None:
                out[f.name] = bits
            else:
                name = f.values.get(bits)
                if name is None:
                    raise ValueDecodeError(f"{f.name}: {bits} is not a defined value", f.index)
                out[f.name] = name
        return out

    def encode(self, value: Any) -> bytes:
        if not isinstance(value, Mapping):
            raise EchonetUsageError(f"{value!r} is not a mapping of bit fields")
        data = bytearray(self.size)
        known = {f.name: f for f in self.fields}
        for name, v in value.items():
            f = known.get(name)
            if f is None:
                raise EchonetUsageError(f"no bit field {name!r} (fields: {', '.join(known)})")
            if isinstance(v, str) and f.values is not None:
                codes = [c for c, n in f.values.items() if n == v]
                if not codes:
                    raise EchonetUsageError(f"{v!r} is not a value of bit field {name!r}")
                v = codes[0]
            shift = self._shift(f.mask)
            if not isinstance(v, int) or (v << shift) & ~f.mask:
                raise EchonetUsageError(f"{v!r} does not fit bit field {name!r}")
            data[f.index] |= v << shift
        return bytes(data)

    def describe(self) -> str:
        return f"bitmap {self.size} byte(s): " + ", ".join(f.name for f in self.fields)

    def schema(self) -> dict[str, Any]:
        fields: list[dict[str, Any]] = []
        for f in self.fields:
            item: dict[str, Any] = {"name": f.name, "byte": f.index, "mask": f"0b{f.mask:08b}"}
            if f.values is not None:
                item["values"] = [{"bits": bits, "name": name} for bits, name in f.values.items()]
            fields.append(item)
        return {"kind": self.kind, "size": self.size_text, "fields": fields}


_DATE_RE = re.compile(r"^(\d{1,4})-(\d{1,2})-(\d{1,2})$")
_TIME_RE = re.compile(r"^(\d{1,3}):(\d{1,2})(?::(\d{1,2}))?$")
_DAYS = (31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)


def _date_problem(year: int, month: int, day: int | None) -> str | None:
    """Why YYYY-MM(-DD) is no calendar date, or ``None``."""
    if not 1 <= month <= 12:
        return f"month {month} is not a month"
    if day is None:
        return None
    leap = year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)
    days = 28 if month == 2 and not leap else _DAYS[month - 1]
    return None if 1 <= day <= days else f"day {day} is not a day of {year:04d}-{month:02d}"


def _time_problem(parts: bytes, max_hour: int) -> str | None:
    """Why HH MM (SS) is no time of day (hour at most ``max_hour``), or ``None``."""
    if parts[0] > max_hour:
        return f"hour {parts[0]} is above {max_hour}"
    if any(b > 59 for b in parts[1:]):
        return f"{':'.join(f'{b:02d}' for b in parts)} has minutes or seconds above 59"
    return None


@dataclass(frozen=True)
class Date(FixedSize):
    """YYYY (2 bytes) MM DD, as ``"YYYY-MM-DD"``; size 3 is YYYY MM (``"YYYY-MM"``)."""

    size: int = 4
    kind: str = field(default="date", init=False)

    def _text(self, edt: bytes) -> str:
        year = (edt[0] << 8) | edt[1]
        return f"{year:04d}-{edt[2]:02d}" + (f"-{edt[3]:02d}" if self.size == 4 else "")

    def decode(self, edt: bytes) -> str:
        self._need_size(edt)
        problem = _date_problem((edt[0] << 8) | edt[1], edt[2], edt[3] if self.size == 4 else None)
        if problem is not None:
            raise ValueDecodeError(f"{self._text(edt)} is not a date: {problem}", 2)
        return self._text(edt)

    def check(self, edt: bytes) -> str | None:
        if len(edt) != self.size:
            return f"EDT of {len(edt)} byte(s), expected {self.size}"
        if _date_problem((edt[0] << 8) | edt[1], edt[2], edt[3] if self.size == 4 else None) is not None:
            return f"{self._text(edt)} is not a date"
        return None

    def encode(self, value: Any) -> bytes:
        text = value.isoformat() if hasattr(value, "isoformat") else str(value)
        parts = text.split("-")
        try:
            nums = [int(p) for p in parts]
        except ValueError:
            raise EchonetUsageError(f"{value!r} is not a date YYYY-MM-DD") from None
        if len(nums) != self.size - 1 or not 0 <= nums[0] <= 0xFFFF or not all(0 <= n <= 255 for n in nums[1:]):
            raise EchonetUsageError(f"{value!r} is not a date YYYY-MM{'-DD' if self.size == 4 else ''}")
        return nums[0].to_bytes(2, "big") + bytes(nums[1:])

    def parse_text(self, text: str) -> Any:
        return text.strip()

    def describe(self) -> str:
        return "date YYYY-MM-DD" if self.size == 4 else "date YYYY-MM"


@dataclass(frozen=True)
class Time(FixedSize):
    """HH MM (size 2) or HH MM SS (size 3), as ``"HH:MM"`` / ``"HH:MM:SS"``; ``max_hour`` 23 unless stated."""

    size: int = 2
    max_hour: int = 23
    kind: str = field(default="time", init=False)

    def decode(self, edt: bytes) -> str:
        self._need_size(edt)
        problem = _time_problem(edt, self.max_hour)
        if problem is not None:
            raise ValueDecodeError(f"not a time: {problem}")
        return ":".join(f"{b:02d}" for b in edt)

    def check(self, edt: bytes) -> str | None:
        if len(edt) != self.size:
            return f"EDT of {len(edt)} byte(s), expected {self.size}"
        if _time_problem(edt, self.max_hour) is not None:
            text = ":".join(f"{b:02d}" for b in edt)
            return f"{text} is not a time (hour at most {self.max_hour})"
        return None

    def encode(self, value: Any) -> bytes:
        text = value.isoformat() if hasattr(value, "isoformat") else str(value)
        m = _TIME_RE.match(text.strip())
        if not m:
            raise EchonetUsageError(f"{value!r} is not a time HH:MM")
        nums = [int(g) for g in m.groups() if g is not None][: self.size]
        nums += [0] * (self.size - len(nums))
        if nums[0] > self.max_hour or any(n > 59 for n in nums[1:]):
            raise EchonetUsageError(f"{value!r} is not a valid time")
        return bytes(nums)

    def parse_text(self, text: str) -> Any:
        return text.strip()

    def describe(self) -> str:
        return "time HH:MM" if self.size == 2 else "time HH:MM:SS"


@dataclass(frozen=True)
class DateTime(FixedSize):
    """YYYY (2) MM DD hh mm ss (7 bytes) or without seconds (6 bytes), as ``"YYYY-MM-DDThh:mm[:ss]"``."""

    size: int = 7
    kind: str = field(default="date-time", init=False)

    def decode(self, edt: bytes) -> str:
        self._need_size(edt)
        year = (edt[0] << 8) | edt[1]
        tail = ":".join(f"{b:02d}" for b in edt[4:])
        text = f"{year:04d}-{edt[2]:02d}-{edt[3]:02d}T{tail}"
        problem = _date_problem(year, edt[2], edt[3]) or _time_problem(edt[4:], 23)
        if problem is not None:
            raise ValueDecodeError(f"{text} is not a date and time: {problem}", 2)
        return text

    def encode(self, value: Any) -> bytes:
        text = value.isoformat() if hasattr(value, "isoformat") else str(value)
        date_part, _, time_part = text.replace(" ", "T").partition("T")
        data = Date(4).encode(date_part) + Time(self.size - 4, 23).encode(time_part or "00:00")
        return data

    def parse_text(self, text: str) -> Any:
        return text.strip()

    def describe(self) -> str:
        return "date-time YYYY-MM-DDThh:mm:ss" if self.size == 7 else "date-time YYYY-MM-DDThh:mm"


@dataclass(frozen=True)
class Array(ValueType):
    """A repeated item of fixed size, optionally with a bound on the count."""

    item: ValueType
    item_size: int
    min_items: int = 0
    max_items: int = 255
    kind: str = field(default="array", init=False)

    @property
    def min_size(self) -> int:
        return self.item_size * self.min_items

    @property
    def max_size(self) -> int:
        return min(255, self.item_size * self.max_items)

    def decode(self, edt: bytes) -> list[Any]:
        size = self.item_size
        if len(edt) % size:
            raise ValueDecodeError(f"EDT of {len(edt)} byte(s) is not a whole number of {size}-byte items")
        count = len(edt) // size
        if not self.min_items <= count <= self.max_items:
            raise ValueDecodeError(f"{count} items, expected {self.min_items}..{self.max_items}")
        item = self.item
        try:
            return [item.decode(edt[i : i + size]) for i in range(0, len(edt), size)]
        except ValueDecodeError:
            pass
        for i in range(0, len(edt), size):  # say which item
            part = edt[i : i + size]
            try:
                item.decode(part)
            except ValueDecodeError as exc:
                raise ValueDecodeError(f"item {i // size}{_piece(part)}: {exc.reason}", i + exc.offset) from None
        raise AssertionError("unreachable")  # pragma: no cover

    def check(self, edt: bytes) -> str | None:
        try:
            self.decode(edt)
        except ValueDecodeError as exc:
            return exc.reason
        for i in range(0, len(edt), self.item_size):
            reason = self.item.check(edt[i : i + self.item_size])
            if reason:
                return f"item {i // self.item_size}: {reason}"
        return None

    def encode(self, value: Any) -> bytes:
        if not isinstance(value, list | tuple):
            raise EchonetUsageError(f"{value!r} is not a list")
        if not self.min_items <= len(value) <= self.max_items:
            raise EchonetUsageError(f"{len(value)} items, expected {self.min_items}..{self.max_items}")
        return b"".join(self.item.encode(v) for v in value)

    def to_json(self, value: Any) -> Any:
        return [self.item.to_json(v) for v in value]

    def describe(self) -> str:
        return f"array of {self.min_items}..{self.max_items} x ({self.item.describe()})"

    def schema(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "size": self.size_text,
            "item_size": self.item_size,
            "min_items": self.min_items,
            "max_items": self.max_items,
            "item": self.item.schema(),
        }

    @property
    def coefficients(self) -> tuple[int, ...]:
        return self.item.coefficients

    def rescaled(self, factors: Mapping[int, float]) -> ValueType:
        if not self.coefficients:
            return self
        return replace(self, item=self.item.rescaled(factors))


@dataclass(frozen=True)
class Field:
    """One field of an :class:`Object`."""

    name: str
    type: ValueType


@dataclass(frozen=True)
class Object(ValueType):
    """Fields one after another; only the last may vary in size."""

    fields: Sequence[Field]
    kind: str = field(default="object", init=False)

    @property
    def min_size(self) -> int:
        return sum(f.type.min_size for f in self.fields)

    @property
    def max_size(self) -> int:
        return min(255, sum(f.type.max_size for f in self.fields))

    def _split(self, edt: bytes) -> list[tuple[Field, bytes]]:
        parts: list[tuple[Field, bytes]] = []
        pos = 0
        for i, f in enumerate(self.fields):
            size = f.type.min_size if i < len(self.fields) - 1 else len(edt) - pos
            if f.type.min_size != f.type.max_size and i < len(self.fields) - 1:
                size = min(f.type.max_size, len(edt) - pos - sum(g.type.min_size for g in self.fields[i + 1 :]))
            parts.append((f, edt[pos : pos + size]))
            pos += size
        return parts

    def decode(self, edt: bytes) -> dict[str, Any]:
        self._need_size(edt)
        out: dict[str, Any] = {}
        pos = 0
        for f, part in self._split(edt):
            try:
                out[f.name] = f.type.decode(part)
            except ValueDecodeError as exc:
                raise ValueDecodeError(f"{f.name}{_piece(part)}: {exc.reason}", pos + exc.offset) from None
            pos += len(part)
        return out

    def check(self, edt: bytes) -> str | None:
        if not self.min_size <= len(edt) <= self.max_size:
            return f"EDT of {len(edt)} byte(s), expected {self.size_text}"
        for f, part in self._split(edt):
            reason = f.type.check(part)
            if reason:
                return f"{f.name}: {reason}"
        return None

    def encode(self, value: Any) -> bytes:
        if not isinstance(value, Mapping):
            raise EchonetUsageError(f"{value!r} is not a mapping of fields")
        missing = [f.name for f in self.fields if f.name not in value]
        extra = set(value) - {f.name for f in self.fields}
        if missing or extra:
            raise EchonetUsageError(
                f"fields {', '.join(f.name for f in self.fields)} expected"
                + (f"; missing {', '.join(missing)}" if missing else "")
                + (f"; unknown {', '.join(sorted(extra))}" if extra else "")
            )
        return b"".join(f.type.encode(value[f.name]) for f in self.fields)

    def to_json(self, value: Any) -> Any:
        types = {f.name: f.type for f in self.fields}
        return {k: types[k].to_json(v) if k in types else v for k, v in value.items()}

    def describe(self) -> str:
        return "{" + "; ".join(f"{f.name}: {f.type.describe()}" for f in self.fields) + "}"

    def schema(self) -> dict[str, Any]:
        fields = [{"name": f.name, **f.type.schema()} for f in self.fields]
        return {"kind": self.kind, "size": self.size_text, "fields": fields}

    @property
    def coefficients(self) -> tuple[int, ...]:
        return tuple(dict.fromkeys(epc for f in self.fields for epc in f.type.coefficients))

    def rescaled(self, factors: Mapping[int, float]) -> ValueType:
        if not self.coefficients:
            return self
        return replace(self, fields=tuple(Field(f.name, f.type.rescaled(factors)) for f in self.fields))


_CODE_TYPES = (Enum, NumericCode)


@dataclass(frozen=True)
class OneOf(ValueType):
    """Alternatives sharing one EDT, typically a number range plus special codes (e.g. 0xFFFFFFFE "no data").

    Exact codes are tried first, so that a special code inside a number's raw range still reads as the code. Where
    a value option (a number, a time, ...) stands beside code options, the codes are special codes and decode to
    :class:`Special`; a number's own overflow or underflow code counts only when no option reads the EDT as a value.
    """

    options: Sequence[ValueType]
    kind: str = field(default="one-of", init=False)
    _order: tuple[ValueType, ...] = field(init=False, repr=False, compare=False)
    _specials: dict[bytes, Special] = field(init=False, repr=False, compare=False)
    _unit: str | None = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        order = tuple(sorted(self.options, key=lambda o: 0 if isinstance(o, _CODE_TYPES) else 1))
        specials: dict[bytes, Special] = {}
        if any(not isinstance(o, _CODE_TYPES) for o in self.options):
            for option in self.options:
                if isinstance(option, Enum):
                    for code, name in option.values.items():
                        edt = code.to_bytes(option.size, "big")
                        specials.setdefault(edt, Special(name, code, option.size))
        units = {o.unit for o in self.options if isinstance(o, Number)}
        object.__setattr__(self, "_order", order)
        object.__setattr__(self, "_specials", specials)
        object.__setattr__(self, "_unit", units.pop() if len(units) == 1 else None)

    @property
    def min_size(self) -> int:
        return min(o.min_size for o in self.options)

    @property
    def max_size(self) -> int:
        return max(o.max_size for o in self.options)

    @property
    def specials(self) -> tuple[Special, ...]:
        """The special codes of the code options (named codes beside a value option), in code order."""
        return tuple(sorted(self._specials.values(), key=lambda s: (s.size, s.code)))

    def unit_of(self, value: Any, edt: bytes) -> str:
        """The unit of a value this type decoded from ``edt``: the number option's, none for a code."""
        if isinstance(value, str | bool) or not isinstance(value, int | float):
            return ""
        if self._unit is not None:
            return self._unit
        for option in self.options:
            if isinstance(option, Number) and option.unit and option.check(edt) is None:
                return option.unit
        return ""

    def decode(self, edt: bytes) -> Any:
        special = self._specials.get(bytes(edt))
        if special is not None:
            return special
        limit: Special | None = None
        value_reasons: list[str] = []
        for option in self._order:
            try:
                value = option.decode(edt)
            except ValueDecodeError as exc:
                if not isinstance(option, _CODE_TYPES):
                    value_reasons.append(exc.reason)
                continue
            if isinstance(value, Special) and isinstance(option, Number):
                if limit is None:
                    limit = value
                continue
            return value
        if limit is not None:
            return limit
        raise ValueDecodeError(self._reason(value_reasons))

    def _reason(self, value_reasons: list[str]) -> str:
        codes = [s for s in self.specials]
        if not value_reasons:
            return "not a defined code"
        text = "; ".join(dict.fromkeys(value_reasons))
        if not codes:
            return text
        listed = " or ".join(s.text for s in codes[:3]) + (f" or {len(codes) - 3} more" if len(codes) > 3 else "")
        return f"{text}, and not {listed}"

    def check(self, edt: bytes) -> str | None:
        reasons = []
        for option in self._order:
            reason = option.check(edt)
            if reason is None:
                return None
            reasons.append(reason)
        return "; ".join(dict.fromkeys(reasons))

    def encode(self, value: Any) -> bytes:
        errors = []
        for option in self._order:
            if isinstance(option, Enum) and not isinstance(value, str):
                continue
            try:
                return option.encode(value)
            except EchonetUsageError as exc:
                errors.append(str(exc))
        raise EchonetUsageError(" / ".join(errors) or f"{value!r} fits none of: {self.describe()}")

    def parse_text(self, text: str) -> Any:
        t = text.strip()
        if t.lower().startswith("0x"):
            return _decoded_hex(self, t)
        try:
            return _int_text(t)
        except EchonetUsageError:
            return t

    def to_json(self, value: Any) -> Any:
        return value.hex() if isinstance(value, bytes) else value

    def describe(self) -> str:
        return " | ".join(o.describe() for o in self.options)

    def schema(self) -> dict[str, Any]:
        return {"kind": self.kind, "size": self.size_text, "options": [o.schema() for o in self.options]}

    @property
    def coefficients(self) -> tuple[int, ...]:
        return tuple(dict.fromkeys(epc for o in self.options for epc in o.coefficients))

    def rescaled(self, factors: Mapping[int, float]) -> ValueType:
        if not self.coefficients:
            return self
        return OneOf(tuple(o.rescaled(factors) for o in self.options))


@dataclass(frozen=True)
class PropertyMapType(ValueType):
    """0x9D / 0x9E / 0x9F: a set of EPCs, listed below 16 and as a bitmap from 16."""

    kind: str = field(default="property-map", init=False)

    @property
    def min_size(self) -> int:
        return 1

    @property
    def max_size(self) -> int:
        return 17

    def decode(self, edt: bytes) -> list[int]:
        return sorted(decode_property_map(edt))

    def encode(self, value: Any) -> bytes:
        return encode_property_map(value)

    def to_json(self, value: Any) -> Any:
        return [f"0x{epc:02X}" for epc in value]

    def describe(self) -> str:
        return "property map (count + EPC list, or 17-byte bitmap from 16 EPCs)"


@dataclass(frozen=True)
class InstanceListType(ValueType):
    """Node profile 0xD5 / 0xD6: count + 3-byte EOJs (at most 84)."""

    kind: str = field(default="instance-list", init=False)

    @property
    def min_size(self) -> int:
        return 1

    @property
    def max_size(self) -> int:
        return 253

    def decode(self, edt: bytes) -> list[str]:
        return [str(e) for e in decode_instance_list(edt).eojs]

    def encode(self, value: Any) -> bytes:
        return encode_instance_list(EOJ.parse(v) if isinstance(v, str) else v for v in value)

    def describe(self) -> str:
        return "instance list (count + 3-byte EOJs, at most 84)"


@dataclass(frozen=True)
class ClassListType(ValueType):
    """Node profile 0xD7: count + 2-byte class codes (at most 8 listed)."""

    kind: str = field(default="class-list", init=False)

    @property
    def min_size(self) -> int:
        return 1

    @property
    def max_size(self) -> int:
        return 17

    def decode(self, edt: bytes) -> list[str]:
        return [f"{c:04X}" for c in decode_class_list(edt).classes]

    def encode(self, value: Any) -> bytes:
        return encode_class_list(int(v, 16) if isinstance(v, str) else v for v in value)

    def describe(self) -> str:
        return "class list (count + 2-byte class codes, at most 8)"


# Short constructors used by the built-in tables -------------------------------------------------------------------


def u8(lo: int = 0, hi: int = 0xFD, unit: str = "", scale: float = 1) -> Number:
    return Number("uint8", lo, hi, unit, scale)


def u16(lo: int = 0, hi: int = 0xFFFD, unit: str = "", scale: float = 1) -> Number:
    return Number("uint16", lo, hi, unit, scale)


def u32(lo: int = 0, hi: int = 0xFFFFFFFD, unit: str = "", scale: float = 1) -> Number:
    return Number("uint32", lo, hi, unit, scale)


def s8(lo: int = -127, hi: int = 125, unit: str = "", scale: float = 1) -> Number:
    return Number("int8", lo, hi, unit, scale)


def s16(lo: int = -32767, hi: int = 32765, unit: str = "", scale: float = 1) -> Number:
    return Number("int16", lo, hi, unit, scale)


def s32(lo: int = -2147483647, hi: int = 2147483645, unit: str = "", scale: float = 1) -> Number:
    return Number("int32", lo, hi, unit, scale)


def enum(
    values: Mapping[int, str],
    size: int = 1,
    read_only: frozenset[int] = frozenset(),
    ranges: tuple[tuple[int, int, str], ...] = (),
    aliases: Mapping[str, int] | None = None,
) -> Enum:
    return Enum(size, dict(values), read_only, ranges, dict(aliases or {}))


def raw(lo: int, hi: int | None = None) -> Raw:
    return Raw(lo, lo if hi is None else hi)


def obj(*fields: tuple[str, ValueType]) -> Object:
    return Object(tuple(Field(name, t) for name, t in fields))


def one_of(*options: ValueType) -> OneOf:
    return OneOf(tuple(options))


def array(item: ValueType, item_size: int, max_items: int = 255, min_items: int = 0) -> Array:
    return Array(item, item_size, min_items, max_items)


#: Common types shared by many classes.
#: Operation status and other ON/OFF states (0x30 / 0x31); the Appendix calls them ``true`` / ``false``.
ON_OFF = enum({0x30: "on", 0x31: "off"}, aliases={"true": 0x30, "false": 0x31})
FAULT = enum({0x41: "fault", 0x42: "noFault"})
PROPERTY_MAP = PropertyMapType()
