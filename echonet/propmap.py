"""Property maps (EPC 0x9D status change, 0x9E Set, 0x9F Get) and node-profile lists (0xD5, 0xD6, 0xD7).

Property map layout (ECHONET Lite Appendix, annex 1): byte 0 is the number of properties N. If N < 16, the N EPCs
follow. If N >= 16, a 16-byte bitmap follows (17 bytes in all): byte ``i + 1`` (``i`` = 0..15) holds the EPCs whose
low nibble is ``i``, and its bit ``b`` (bit 0 least significant) stands for EPC ``0x80 + 0x10 * b + i``.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import NamedTuple

from .errors import EchonetUsageError, ValueDecodeError
from .frame import EOJ

PROPERTY_MAP_EPCS = frozenset({0x9D, 0x9E, 0x9F})
MAX_LISTED_INSTANCES = 84
MAX_LISTED_CLASSES = 8


def decode_property_map(edt: bytes) -> frozenset[int]:
    """The EPCs of a property map, in either form. Raises :class:`ValueDecodeError` for a malformed map."""
    if not edt:
        raise ValueDecodeError("empty property map (at least the count byte is needed)")
    count = edt[0]
    if count < 16:
        if len(edt) != count + 1:
            raise ValueDecodeError(
                f"property map lists {count} EPCs but carries {len(edt) - 1} byte(s) after the count", 1
            )
        epcs = frozenset(edt[1:])
        if len(epcs) != count:
            raise ValueDecodeError("property map lists an EPC twice", 1)
        if min(epcs, default=0x80) < 0x80:
            raise ValueDecodeError(f"property map lists EPC 0x{min(epcs):02X}, below 0x80", 1)
        return epcs
    if len(edt) != 17:
        raise ValueDecodeError(f"property map of {count} EPCs must be a 17-byte bitmap, got {len(edt)} bytes")
    epcs = frozenset(0x80 + 0x10 * bit + low for low in range(16) for bit in range(8) if edt[low + 1] & (1 << bit))
    if len(epcs) != count:
        raise ValueDecodeError(f"property map bitmap holds {len(epcs)} EPCs but its count byte says {count}")
    return epcs


def encode_property_map(epcs: Iterable[int]) -> bytes:
    """Encode a set of EPCs (0x80-0xFF) as a property map: a list below 16 EPCs, the 17-byte bitmap from 16."""
    unique = sorted(set(epcs))
    for epc in unique:
        if not 0x80 <= epc <= 0xFF:
            raise EchonetUsageError(f"EPC 0x{epc:X} cannot be in a property map (0x80-0xFF only)")
    if len(unique) < 16:
        return bytes((len(unique), *unique))
    bitmap = bytearray(17)
    bitmap[0] = len(unique)
    for epc in unique:
        bitmap[(epc & 0x0F) + 1] |= 1 << ((epc - 0x80) >> 4)
    return bytes(bitmap)


class InstanceList(NamedTuple):
    """Node profile 0xD5 / 0xD6: the number of instances and the listed EOJs (at most 84 per list)."""

    total: int
    eojs: tuple[EOJ, ...]


class ClassList(NamedTuple):
    """Node profile 0xD7: the number of classes and the listed class codes (at most 8 are listed)."""

    total: int
    classes: tuple[int, ...]


def decode_instance_list(edt: bytes) -> InstanceList:
    if not edt:
        raise ValueDecodeError("empty instance list (at least the count byte is needed)")
    if (len(edt) - 1) % 3:
        raise ValueDecodeError(f"instance list of {len(edt)} bytes is not a count plus 3-byte EOJs")
    eojs = tuple(EOJ(edt[i], edt[i + 1], edt[i + 2]) for i in range(1, len(edt), 3))
    if len(eojs) > MAX_LISTED_INSTANCES:
        raise ValueDecodeError(f"instance list holds {len(eojs)} EOJs, more than {MAX_LISTED_INSTANCES}")
    if edt[0] != len(eojs) and not (len(eojs) == MAX_LISTED_INSTANCES and edt[0] > len(eojs)):
        raise ValueDecodeError(f"instance list count {edt[0]} does not match the {len(eojs)} EOJs listed")
    return InstanceList(edt[0], eojs)


def encode_instance_list(eojs: Iterable[EOJ]) -> bytes:
    items = list(eojs)
    if len(items) > MAX_LISTED_INSTANCES:
        raise EchonetUsageError(f"an instance list holds at most {MAX_LISTED_INSTANCES} EOJs, got {len(items)}")
    return bytes((len(items),)) + b"".join(bytes(e) for e in items)


def decode_class_list(edt: bytes) -> ClassList:
    if not edt:
        raise ValueDecodeError("empty class list (at least the count byte is needed)")
    if (len(edt) - 1) % 2:
        raise ValueDecodeError(f"class list of {len(edt)} bytes is not a count plus 2-byte class codes")
    classes = tuple((edt[i] << 8) | edt[i + 1] for i in range(1, len(edt), 2))
    if len(classes) > MAX_LISTED_CLASSES:
        raise ValueDecodeError(f"class list holds {len(classes)} classes, more than {MAX_LISTED_CLASSES}")
    if edt[0] < len(classes):
        raise ValueDecodeError(f"class list count {edt[0]} is below the {len(classes)} classes listed")
    return ClassList(edt[0], classes)


def encode_class_list(class_ids: Iterable[int]) -> bytes:
    """Count of all classes, then at most the first 8 class codes (the spec lists at most 8)."""
    items = sorted(set(class_ids))
    if len(items) > 255:
        raise EchonetUsageError("more than 255 classes")
    listed = items[:MAX_LISTED_CLASSES]
    return bytes((len(items),)) + b"".join(c.to_bytes(2, "big") for c in listed)


def split_instance_lists(eojs: Iterable[EOJ]) -> list[bytes]:
    """EDTs for 0xD5 announcements, split into lists of at most 84 EOJs."""
    items = list(eojs)
    chunks = [items[i : i + MAX_LISTED_INSTANCES] for i in range(0, len(items), MAX_LISTED_INSTANCES)] or [[]]
    return [encode_instance_list(chunk) for chunk in chunks]
