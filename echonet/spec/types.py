"""Value types of property data (EDT), as data.

Each type knows its size, decodes an EDT to a Python value, encodes a value back, validates an EDT for a Set (range,
size, read-only codes) and describes itself for documentation. The same objects serve the decoder, the device
objects (which refuse a bad Set with the reason :meth:`ValueType.check` gives), ``echonet spec`` and the MRA loader.

Python values: numbers are ``int`` (``float`` where a scale such as 0.1 applies), enumerations are their name
(``str``; an unknown code decodes to its ``int``), raw data is ``bytes``, dates and times are ISO-like strings
(``"2026-11-23"``, ``"12:30"``), arrays are lists and objects and bitmaps are dicts. The version information
(0x82) and identification number (0x83) decode to frozen dataclasses of their own (:mod:`.identity`).
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
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
        """EDT to value; raises :class:`ValueDecodeError` when the bytes do not fit the type's shape."""
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

    def describe(self) -> str:
        raise NotImplementedError

    def parse_text(self, text: str) -> Any:
        """A value from command-line text; ``0x..`` hex is always accepted as the raw EDT."""
        return _hex_edt(text)

    def to_json(self, value: Any) -> Any:
        return value.hex() if isinstance(value, bytes | bytearray) else value

    def value_text(self, value: Any) -> str | None:
        """A decoded value as text for a person, for types whose values have one (``None``: show the JSON form)."""
        return None

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


@dataclass(frozen=True)
class Number(ValueType):
    """Signed or unsigned integer with optional unit and scale (value = raw * scale)."""

    format: str
    minimum: int | None = None  #: raw minimum
    maximum: int | None = None  #: raw maximum
    unit: str = ""
    scale: float = 1
    allowed: frozenset[int] | None = None  #: raw values allowed inside the range, where the spec lists them
    kind: str = field(default="number", init=False)

    def __post_init__(self) -> None:
        if self.format not in _FORMATS:
            raise EchonetUsageError(f"unknown number format {self.format!r}")

    @property
    def min_size(self) -> int:
        return _FORMATS[self.format][0]

    @property
    def max_size(self) -> int:
        return _FORMATS[self.format][0]

    @property
    def signed(self) -> bool:
        return _FORMATS[self.format][1]

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
        return 0 if self.scale >= 1 else max(0, round(-math.log10(self.scale) + 0.4999))

    def scaled(self, raw: int) -> int | float:
        return raw if self.scale == 1 else round(raw * self.scale, self.decimals)

    def decode(self, edt: bytes) -> int | float:
        return self.scaled(self.raw(edt))

    def check(self, edt: bytes) -> str | None:
        try:
            raw = self.raw(edt)
        except ValueDecodeError as exc:
            return exc.reason
        if not self.in_range(raw):
            return f"{self._fmt(raw)} is outside {self.range_text}"
        return None

    def _fmt(self, raw: int) -> str:
        value = self.scaled(raw)
        return f"{value}{' ' + self.unit if self.unit else ''}"

    @property
    def range_text(self) -> str:
        if self.allowed is not None:
            return "{" + ", ".join(self._fmt(v) for v in sorted(self.allowed)) + "}"
        lo = "" if self.minimum is None else self._fmt(self.minimum)
        hi = "" if self.maximum is None else self._fmt(self.maximum)
        return f"{lo}..{hi}"

    def encode(self, value: Any) -> bytes:
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
            return self.decode(_hex_edt(t))
        if self.unit and t.lower().endswith(self.unit.lower()):
            t = t[: -len(self.unit)]
        return _int_text(t)

    def describe(self) -> str:
        scale = f" x{self.scale:g}" if self.scale != 1 else ""
        unit = f" {self.unit}" if self.unit else ""
        return f"{self.format}{scale}{unit} {self.range_text}"


@dataclass(frozen=True)
class Enum(FixedSize):
    """A code with named values (``state`` in the Appendix). Unknown codes decode to their ``int``.

    ``ranges`` name whole code ranges (e.g. fault codes 0x000A-0x0013); a code in a range decodes to
    ``"name:0x000B"`` so that the exact code is kept.
    """

    size: int
    values: Mapping[int, str]
    read_only: frozenset[int] = frozenset()  #: codes a device reports but a controller may not set
    ranges: tuple[tuple[int, int, str], ...] = ()
    kind: str = field(default="enum", init=False)

    def _code_text(self, code: int) -> str:
        return f"0x{code:0{2 * self.size}X}"

    def name_of(self, code: int) -> str | None:
        name = self.values.get(code)
        if name is None:
            for lo, hi, range_name in self.ranges:
                if lo <= code <= hi:
                    return f"{range_name}:{self._code_text(code)}"
        return name

    def decode(self, edt: bytes) -> str | int:
        self._need_size(edt)
        code = int.from_bytes(edt, "big")
        name = self.name_of(code)
        return code if name is None else name

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
            for code, name in self.values.items():
                if name == value:
                    return code
            head, sep, tail = value.partition(":")
            if sep and any(head == r[2] for r in self.ranges):
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

    def describe(self) -> str:
        items = [f"{self._code_text(c)}={n}" for c, n in self.values.items()]
        items += [f"{self._code_text(lo)}..{self._code_text(hi)}={n}" for lo, hi, n in self.ranges]
        return "enum " + ", ".join(items)


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
            raise ValueDecodeError(f"code 0x{code:X} stands for no number")
        return self.values[code]

    def encode(self, value: Any) -> bytes:
        for code, number in self.values.items():
            if number == value:
                return code.to_bytes(self.size, "big")
        raise EchonetUsageError(f"{value!r} is not one of {sorted(self.values.values())}")

    def parse_text(self, text: str) -> Any:
        return _int_text(text)

    def describe(self) -> str:
        return "code for " + ", ".join(f"0x{c:02X}={v:g}" for c, v in self.values.items())


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
        return edt[0] - self.base + 1

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
    """ASCII text of a size range, NUL/space padded (product codes, serial numbers)."""

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
        return edt.rstrip(b"\x00 ").decode("ascii", errors="backslashreplace")

    def encode(self, value: Any) -> bytes:
        if not isinstance(value, str):
            raise EchonetUsageError(f"{value!r} is not text")
        try:
            data = value.encode("ascii")
        except UnicodeEncodeError:
            raise EchonetUsageError(f"{value!r} is not ASCII") from None
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
    size: int
    fields: Sequence[BitField]
    kind: str = field(default="bitmap", init=False)

    @staticmethod
    def _shift(mask: int) -> int:
        return (mask & -mask).bit_length() - 1

    def decode(self, edt: bytes) -> dict[str, Any]:
        self._need_size(edt)
        out: dict[str, Any] = {}
        for f in self.fields:
            bits = (edt[f.index] & f.mask) >> self._shift(f.mask)
            out[f.name] = f.values.get(bits, bits) if f.values is not None else bits
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


_DATE_RE = re.compile(r"^(\d{1,4})-(\d{1,2})-(\d{1,2})$")
_TIME_RE = re.compile(r"^(\d{1,3}):(\d{1,2})(?::(\d{1,2}))?$")


@dataclass(frozen=True)
class Date(FixedSize):
    """YYYY (2 bytes) MM DD, as ``"YYYY-MM-DD"``; size 3 is YYYY MM (``"YYYY-MM"``)."""

    size: int = 4
    kind: str = field(default="date", init=False)

    def decode(self, edt: bytes) -> str:
        self._need_size(edt)
        year = (edt[0] << 8) | edt[1]
        return f"{year:04d}-{edt[2]:02d}" + (f"-{edt[3]:02d}" if self.size == 4 else "")

    def check(self, edt: bytes) -> str | None:
        if len(edt) != self.size:
            return f"EDT of {len(edt)} byte(s), expected {self.size}"
        if not 1 <= edt[2] <= 12 or (self.size == 4 and not 1 <= edt[3] <= 31):
            return f"{self.decode(edt)} is not a date"
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
        return ":".join(f"{b:02d}" for b in edt)

    def check(self, edt: bytes) -> str | None:
        if len(edt) != self.size:
            return f"EDT of {len(edt)} byte(s), expected {self.size}"
        if edt[0] > self.max_hour or any(b > 59 for b in edt[1:]):
            return f"{self.decode(edt)} is not a time (hour at most {self.max_hour})"
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
        return f"{year:04d}-{edt[2]:02d}-{edt[3]:02d}T{tail}"

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
        if len(edt) % self.item_size:
            raise ValueDecodeError(f"EDT of {len(edt)} byte(s) is not a whole number of {self.item_size}-byte items")
        count = len(edt) // self.item_size
        if not self.min_items <= count <= self.max_items:
            raise ValueDecodeError(f"{count} items, expected {self.min_items}..{self.max_items}")
        return [self.item.decode(edt[i : i + self.item_size]) for i in range(0, len(edt), self.item_size)]

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
                raise ValueDecodeError(f"{f.name}: {exc.reason}", pos + exc.offset) from None
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


@dataclass(frozen=True)
class OneOf(ValueType):
    """Alternatives sharing one EDT, typically a number range plus special codes (e.g. 0xFFFFFFFE "no data")."""

    options: Sequence[ValueType]
    kind: str = field(default="one-of", init=False)

    @property
    def min_size(self) -> int:
        return min(o.min_size for o in self.options)

    @property
    def max_size(self) -> int:
        return max(o.max_size for o in self.options)

    def _ordered(self) -> list[ValueType]:
        # Exact codes first, so that a special code inside a number's raw range still reads as the code.
        return sorted(self.options, key=lambda o: 0 if isinstance(o, Enum | NumericCode) else 1)

    def decode(self, edt: bytes) -> Any:
        for option in self._ordered():
            if option.check(edt) is None or (isinstance(option, Enum) and _enum_has(option, edt)):
                return option.decode(edt)
        for option in self.options:
            try:
                return option.decode(edt)
            except ValueDecodeError:
                continue
        raise ValueDecodeError(f"EDT {edt.hex()} fits none of: {self.describe()}")

    def check(self, edt: bytes) -> str | None:
        reasons = []
        for option in self._ordered():
            reason = option.check(edt)
            if reason is None:
                return None
            reasons.append(reason)
        return "; ".join(dict.fromkeys(reasons))

    def encode(self, value: Any) -> bytes:
        errors = []
        for option in self._ordered():
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
            return self.decode(_hex_edt(t))
        try:
            return _int_text(t)
        except EchonetUsageError:
            return t

    def to_json(self, value: Any) -> Any:
        return value.hex() if isinstance(value, bytes) else value

    def describe(self) -> str:
        return " | ".join(o.describe() for o in self.options)


def _enum_has(option: Enum, edt: bytes) -> bool:
    return option.has(edt)


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
) -> Enum:
    return Enum(size, dict(values), read_only, ranges)


def raw(lo: int, hi: int | None = None) -> Raw:
    return Raw(lo, lo if hi is None else hi)


def obj(*fields: tuple[str, ValueType]) -> Object:
    return Object(tuple(Field(name, t) for name, t in fields))


def one_of(*options: ValueType) -> OneOf:
    return OneOf(tuple(options))


def array(item: ValueType, item_size: int, max_items: int = 255, min_items: int = 0) -> Array:
    return Array(item, item_size, min_items, max_items)


#: Common types shared by many classes.
ON_OFF = enum({0x30: "on", 0x31: "off"})
FAULT = enum({0x41: "fault", 0x42: "noFault"})
PROPERTY_MAP = PropertyMapType()
