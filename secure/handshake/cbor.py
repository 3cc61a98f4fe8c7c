"""A small, strict CBOR codec for EDHOC (RFC 8949, RFC 8742 sequences).

EDHOC messages are CBOR sequences that must be deterministically encoded (RFC 9528 section 3.1). The decoder
here rejects what a generic decoder would silently accept: non-shortest integer and length arguments,
indefinite lengths, trailing bytes, duplicate map keys, excessive nesting and lengths that run past the input.
It only ever raises :class:`~secure.errors.CborError`, a :class:`~secure.errors.ProtocolError`.

Decoded values map to Python as: unsigned/negative integers -> ``int``, byte strings -> ``bytes``, text
strings -> ``str``, arrays -> ``list``, maps -> ``dict`` (key order preserved), ``false``/``true`` ->
``bool``, ``null`` -> ``None``, ``undefined`` -> :data:`UNDEFINED`, other simple values -> :class:`Simple`,
floats -> ``float`` and tags -> :class:`Tag`. Remember that ``bool`` is a subclass of ``int``; use
:func:`is_int` for CBOR integers.

Map key order is not enforced: RFC 9528 section 3.5.3 allows ID_CRED maps whose labels are not sorted.
"""

from __future__ import annotations

import math
import struct
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import TypeAlias

from secure.errors import CborError, SecureUsageError

__all__ = [
    "MAX_DEPTH",
    "UNDEFINED",
    "CborKey",
    "CborValue",
    "Item",
    "Simple",
    "Tag",
    "decode",
    "decode_sequence",
    "encode",
    "encode_bstr",
    "encode_int",
    "encode_uint",
    "is_int",
    "iter_sequence",
]

MAX_DEPTH = 16
"""Maximum nesting of arrays, maps and tags accepted by the decoder."""


@dataclass(frozen=True)
class Tag:
    """A tagged data item (major type 6)."""

    tag: int
    value: CborValue


@dataclass(frozen=True)
class Simple:
    """A simple value other than false, true, null (major type 7)."""

    value: int


UNDEFINED = Simple(23)

CborValue: TypeAlias = (
    "int | bytes | str | bool | float | list[CborValue] | dict[CborKey, CborValue] | Tag | Simple | None"
)
CborKey: TypeAlias = "int | bytes | str | bool | float | Simple | None"


def is_int(value: object) -> bool:
    """True for a CBOR integer (a Python ``int`` that is not a ``bool``)."""
    return isinstance(value, int) and not isinstance(value, bool)


# -------------------------------------------------------------------------------------------- encoding


def _head(major: int, arg: int) -> bytes:
    if arg < 24:
        return bytes([(major << 5) | arg])
    if arg < 0x100:
        return bytes([(major << 5) | 24, arg])
    if arg < 0x10000:
        return bytes([(major << 5) | 25]) + arg.to_bytes(2, "big")
    if arg < 0x100000000:
        return bytes([(major << 5) | 26]) + arg.to_bytes(4, "big")
    if arg < 0x10000000000000000:
        return bytes([(major << 5) | 27]) + arg.to_bytes(8, "big")
    raise SecureUsageError("CBOR argument does not fit in 64 bits")


def encode_uint(value: int) -> bytes:
    """Encode a non-negative integer."""
    if value < 0:
        raise SecureUsageError("negative value for a CBOR uint")
    return _head(0, value)


def encode_int(value: int) -> bytes:
    """Encode an integer (major type 0 or 1)."""
    return _head(0, value) if value >= 0 else _head(1, -1 - value)


def encode_bstr(value: bytes) -> bytes:
    """Encode a byte string."""
    return _head(2, len(value)) + bytes(value)


def _encode_float(value: float) -> bytes:
    # Preferred serialization: the shortest of half/single/double that represents the value exactly.
    if math.isnan(value):
        return b"\xf9\x7e\x00"
    for fmt, head in (("e", 0xF9), ("f", 0xFA)):
        try:
            packed = struct.pack(">" + fmt, value)
        except OverflowError:
            continue
        if struct.unpack(">" + fmt, packed)[0] == value:
            return bytes([head]) + packed
    return b"\xfb" + struct.pack(">d", value)


def encode(value: object) -> bytes:
    """Encode one data item deterministically (maps keep the insertion order of the given mapping)."""
    if value is False:
        return b"\xf4"
    if value is True:
        return b"\xf5"
    if value is None:
        return b"\xf6"
    if isinstance(value, int):
        return encode_int(value)
    if isinstance(value, bytes | bytearray | memoryview):
        return encode_bstr(bytes(value))
    if isinstance(value, str):
        raw = value.encode("utf-8")
        return _head(3, len(raw)) + raw
    if isinstance(value, float):
        return _encode_float(value)
    if isinstance(value, Sequence):
        return _head(4, len(value)) + b"".join(encode(v) for v in value)
    if isinstance(value, Mapping):
        return _head(5, len(value)) + b"".join(encode(k) + encode(v) for k, v in value.items())
    if isinstance(value, Tag):
        return _head(6, value.tag) + encode(value.value)
    if isinstance(value, Simple):
        if value.value < 24:
            return bytes([0xE0 | value.value])
        return bytes([0xF8, value.value])
    raise SecureUsageError(f"cannot CBOR-encode a {type(value).__name__}")


# -------------------------------------------------------------------------------------------- decoding


@dataclass(frozen=True)
class Item:
    """One decoded data item of a sequence and the exact bytes it was decoded from."""

    value: CborValue
    raw: bytes


def _arg(data: bytes, pos: int, info: int) -> tuple[int, int]:
    """Read the argument of a head whose additional information is ``info``; enforce shortest form."""
    if info < 24:
        return info, pos
    if info > 27:
        raise CborError("indefinite length or reserved additional information")
    size = 1 << (info - 24)
    end = pos + size
    if end > len(data):
        raise CborError("truncated CBOR head")
    arg = int.from_bytes(data[pos:end], "big")
    minimum = 24 if size == 1 else 1 << (4 * size)
    if arg < minimum:
        raise CborError("CBOR argument not in shortest form")
    return arg, end


def _decode(data: bytes, pos: int, depth: int) -> tuple[CborValue, int]:
    if pos >= len(data):
        raise CborError("truncated CBOR item")
    initial = data[pos]
    major, info = initial >> 5, initial & 0x1F
    pos += 1
    if major == 7:
        return _decode_simple(data, pos, info)
    arg, pos = _arg(data, pos, info)
    if major == 0:
        return arg, pos
    if major == 1:
        return -1 - arg, pos
    if major in (2, 3):
        end = pos + arg
        if end > len(data):
            raise CborError("CBOR string runs past the end of the input")
        chunk = data[pos:end]
        if major == 2:
            return bytes(chunk), end
        try:
            return chunk.decode("utf-8"), end
        except UnicodeDecodeError:
            raise CborError("text string is not valid UTF-8") from None
    if depth >= MAX_DEPTH:
        raise CborError("CBOR nesting too deep")
    if major == 4:
        if arg > len(data) - pos:
            raise CborError("CBOR array longer than the input")
        items: list[CborValue] = []
        for _ in range(arg):
            item, pos = _decode(data, pos, depth + 1)
            items.append(item)
        return items, pos
    if major == 5:
        if arg > (len(data) - pos) // 2:
            raise CborError("CBOR map longer than the input")
        mapping: dict[CborKey, CborValue] = {}
        for _ in range(arg):
            key, pos = _decode(data, pos, depth + 1)
            if not isinstance(key, int | bytes | str | float | Simple) and key is not None:
                raise CborError("unsupported CBOR map key type")
            if key in mapping:
                raise CborError("duplicate CBOR map key")
            value, pos = _decode(data, pos, depth + 1)
            mapping[key] = value
        return mapping, pos
    # major == 6
    value, pos = _decode(data, pos, depth + 1)
    return Tag(arg, value), pos


def _decode_simple(data: bytes, pos: int, info: int) -> tuple[CborValue, int]:
    if info < 20:
        return Simple(info), pos
    if info == 20:
        return False, pos
    if info == 21:
        return True, pos
    if info == 22:
        return None, pos
    if info == 23:
        return UNDEFINED, pos
    if info == 24:
        if pos >= len(data):
            raise CborError("truncated simple value")
        if data[pos] < 32:
            raise CborError("simple value not in shortest form")
        return Simple(data[pos]), pos + 1
    if info in (25, 26, 27):
        size = 1 << (info - 24)
        end = pos + size
        if end > len(data):
            raise CborError("truncated float")
        fmt = {2: ">e", 4: ">f", 8: ">d"}[size]
        value = float(struct.unpack(fmt, data[pos:end])[0])
        if _encode_float(value) != data[pos - 1 : end]:
            raise CborError("float not in preferred (shortest) serialization")
        return value, end
    raise CborError("indefinite length or reserved simple value")


def decode(data: bytes) -> CborValue:
    """Decode exactly one data item; trailing bytes are an error."""
    value, end = _decode(bytes(data), 0, 0)
    if end != len(data):
        raise CborError("trailing bytes after CBOR item")
    return value


def iter_sequence(data: bytes) -> Iterator[Item]:
    """Decode a CBOR sequence item by item (RFC 8742), yielding each value with its raw encoding."""
    data = bytes(data)
    pos = 0
    while pos < len(data):
        value, end = _decode(data, pos, 0)
        yield Item(value, data[pos:end])
        pos = end


def decode_sequence(data: bytes, max_items: int = 256) -> list[Item]:
    """Decode a whole CBOR sequence; more than ``max_items`` items is an error."""
    items: list[Item] = []
    for item in iter_sequence(data):
        if len(items) >= max_items:
            raise CborError("too many items in CBOR sequence")
        items.append(item)
    return items
