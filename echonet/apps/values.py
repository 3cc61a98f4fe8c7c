"""Values of a property type made up for a purpose: a plausible initial value, other values a controller may set,
and a value a device must refuse.

An emulated object (:mod:`.emulate`) starts from :func:`initial_value`; the conformance suite
(:mod:`echonet.conformance`) writes :func:`settable_values` and :func:`refused_value`. Every value is checked with
the type itself (``why_invalid`` / ``check``) before it is returned, so a type these functions do not know still
gets a value when any of the generic candidates fits, and ``None`` otherwise.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from ..spec.types import (
    Array,
    Bitmap,
    Date,
    DateTime,
    Enum,
    Level,
    Number,
    NumericCode,
    Object,
    OneOf,
    Raw,
    Text,
    Time,
    ValueType,
)


def _number_edt(t: Number, raw: int) -> bytes:
    return raw.to_bytes(t.min_size, "big", signed=t.signed)


def _number_bounds(t: Number) -> tuple[int, int]:
    size, signed = t.min_size, t.signed
    lowest, highest = (-(1 << (8 * size - 1)), (1 << (8 * size - 1)) - 1) if signed else (0, (1 << (8 * size)) - 1)
    lo = lowest if t.minimum is None else t.minimum
    hi = highest if t.maximum is None else t.maximum
    if t.minimum is None and t.maximum is None:
        hi = min(hi, highest - 2)  # the top codes are overflow / underflow
        lo = max(lo, lowest + 1) if signed else lo
    return lo, hi


def _number_candidates(t: Number) -> Iterator[bytes]:
    if t.allowed:
        for raw in sorted(t.allowed):
            yield _number_edt(t, raw)
        return
    lo, hi = _number_bounds(t)
    for raw in (0 if lo <= 0 <= hi else lo, lo, hi, lo + 1, (lo + hi) // 2):
        if lo <= raw <= hi:
            yield _number_edt(t, raw)


def _candidates(t: ValueType) -> Iterator[bytes]:
    """EDTs that may be values of ``t``, the most plausible first (the caller checks each)."""
    if isinstance(t, Number):
        yield from _number_candidates(t)
    elif isinstance(t, Enum):
        for code in sorted(t.values, key=lambda c: (c in t.read_only, c)):
            yield code.to_bytes(t.size, "big")
        for lo, _, _ in t.ranges:
            yield lo.to_bytes(t.size, "big")
    elif isinstance(t, NumericCode):
        for code in sorted(t.values):
            yield code.to_bytes(t.size, "big")
    elif isinstance(t, Level):
        for code in (t.base, t.base + t.maximum - 1):
            if 0 <= code <= 0xFF:
                yield bytes((code,))
    elif isinstance(t, Text):
        size = max(t.min_len, min(8, t.max_len))
        yield b"EMULATED"[:size].ljust(size, b"\x00")
        yield b"0" * t.min_len
    elif isinstance(t, Raw):
        yield b"\x00" * max(t.min_len, min(1, t.max_len))
    elif isinstance(t, Bitmap):
        yield bytes(t.size)
        with contextlib.suppress(Exception):  # a field layout the encoder refuses: the zero bytes are a candidate
            yield t.encode({f.name: (0 if f.values is None else next(iter(f.values))) for f in t.fields})
    elif isinstance(t, DateTime):
        yield b"\x07\xea\x01\x0f\x06\x00\x00"[: t.size]
    elif isinstance(t, Date):
        yield b"\x07\xea\x01\x0f"[: t.size]
    elif isinstance(t, Time):
        yield bytes(t.size)
    elif isinstance(t, Array):
        count = max(t.min_items, min(1, t.max_items))
        for item in _candidates(t.item):
            if t.item.why_invalid(item) is None:
                yield item * count
                break
    elif isinstance(t, Object):
        parts: list[bytes] = []
        for f in t.fields:
            chosen = initial_value(f.type)
            if chosen is None:
                break
            parts.append(chosen)
        else:
            yield b"".join(parts)
    elif isinstance(t, OneOf):
        options = sorted(t.options, key=lambda o: isinstance(o, Enum | NumericCode))
        for option in options:
            yield from _candidates(option)
    for size in dict.fromkeys((max(t.min_size, 1), t.min_size, t.max_size)):
        if 0 <= size <= 255:
            yield bytes(size)
            yield b"\x01" * size
            yield b"\x30" * size


def _safe(t: ValueType) -> list[bytes]:
    """The candidates of ``t`` up to the first a type's data made impossible to build (a code above a byte)."""
    found: list[bytes] = []
    try:
        for edt in _candidates(t):
            found.append(edt)
    except (ValueError, OverflowError, TypeError):
        pass
    return found


def initial_value(t: ValueType) -> bytes | None:
    """A plausible value of ``t`` for an object to start with (never a special code such as "no data" where a
    plain value exists), or ``None`` when no candidate fits."""
    candidates = _safe(t)
    for edt in candidates:
        if edt and t.why_invalid(edt) is None and t.check(edt) is None:
            return edt
    for edt in candidates:
        if edt and t.why_invalid(edt) is None:
            return edt
    return None


def settable_values(t: ValueType, current: bytes | None = None) -> list[bytes]:
    """Values of ``t`` a controller may set (``check`` finds nothing wrong), other than ``current``."""
    found: list[bytes] = []
    for edt in _safe(t):
        if edt and edt != current and edt not in found and t.check(edt) is None:
            found.append(edt)
    return found


def refused_value(t: ValueType) -> tuple[bytes, str] | None:
    """An EDT a device must refuse in a Set of ``t``, and why (see :func:`_refused`); ``None`` when none is found."""
    try:
        return _refused(t)
    except (ValueError, OverflowError, TypeError):
        return None


def _refused(t: ValueType) -> tuple[bytes, str] | None:
    """An EDT a device must refuse in a Set of ``t``, and why: out of range at the right size where the type has
    a range or a set of codes, else of a size the type does not have; ``None`` when every EDT would do."""
    if isinstance(t, Number):
        size_lo, size_hi = _number_bounds(Number(t.format))
        lo, hi = _number_bounds(t)
        for raw in (hi + 1, lo - 1):
            if size_lo <= raw <= size_hi or (t.minimum is not None or t.maximum is not None):
                try:
                    edt = _number_edt(t, raw)
                except OverflowError:
                    continue
                if t.check(edt) is not None:
                    return edt, f"{raw} is outside the range of the definition"
    if isinstance(t, Enum | NumericCode):
        size = t.size
        for code in [*range(0x00, 0x100), *range(0xFF00, 0x10000)]:
            if code >= 1 << (8 * size):
                continue
            edt = code.to_bytes(size, "big")
            if t.check(edt) is not None:
                return edt, f"code 0x{code:0{2 * size}X} is not one of the definition's codes"
    if isinstance(t, Level):
        for code in (t.base + t.maximum, t.base - 1):
            if 0 <= code <= 0xFF and t.check(bytes((code,))) is not None:
                return bytes((code,)), "a level outside the definition's levels"
    if isinstance(t, Time | Date | DateTime):
        edt = b"\xff" * t.min_size
        if t.check(edt) is not None:
            return edt, "not a date or time"
    if isinstance(t, OneOf):
        for option in t.options:
            found = _refused(option)
            if found is not None and t.check(found[0]) is not None:
                return found
    size = t.max_size + 1
    if size <= 255:
        edt = b"\x00" * size
        if t.check(edt) is not None:
            return edt, f"{size} byte(s), the definition has {t.size_text}"
    if t.min_size > 1:
        edt = b"\x00" * (t.min_size - 1)
        if t.check(edt) is not None:
            return edt, f"{len(edt)} byte(s), the definition has {t.size_text}"
    return None


__all__ = ["initial_value", "refused_value", "settable_values"]
