"""The fast frame codec: :func:`decode` and :func:`encode`.

Hand-written for speed from the declaration in :mod:`echonet.wire` (the header layout comes from it); the
property-based tests in ``tests/test_codec_oracle.py`` prove that this code and the construct declaration agree on
every frame and on every malformed input (same error offset and field).

:func:`decode` raises :class:`~echonet.errors.FrameDecodeError` and nothing else, whatever the input.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from typing import cast

from .constants import EHD1_ECHONET_LITE
from .errors import EchonetUsageError, FrameDecodeError
from .frame import EHD2, EOJ, ESV_BY_CODE, SETGET_CODES, Frame, Property
from .wire import HEADER_LAYOUT

_new = tuple.__new__
_SPECIFIED = EHD2.SPECIFIED
_ARBITRARY = EHD2.ARBITRARY
_ESV = ESV_BY_CODE
_SETGET = SETGET_CODES
_HEADER_SIZE = HEADER_LAYOUT[-1][1] + HEADER_LAYOUT[-1][2]  # 12: up to and including OPC
_PACK_HEADER = struct.Struct(">BBHBBBBBBBB").pack
_PACK_PROPERTY = struct.Struct("BB").pack
_JOIN = b"".join
_COUNT = tuple(bytes((n,)) for n in range(256))  # OPCGet bytes

_UNPACK_HEADER = struct.Struct(">HH7sB").unpack_from
_MAGIC_SPECIFIED = (EHD1_ECHONET_LITE << 8) | EHD2.SPECIFIED

# EOJ values seen on the wire are few; caching them saves building a tuple per frame. Bounded so that a flood of
# random source objects cannot grow it without limit.
_EOJ_CACHE: dict[bytes, EOJ] = {}
_EOJ_CACHE_MAX = 4096


def _eoj(raw: bytes) -> EOJ:
    eoj = _EOJ_CACHE.get(raw)
    if eoj is None:
        eoj = _new(EOJ, (raw[0], raw[1], raw[2]))
        if len(_EOJ_CACHE) < _EOJ_CACHE_MAX:
            _EOJ_CACHE[raw] = eoj
    return eoj


# (SEOJ, DEOJ, ESV, is-SetGet) keyed by their 7 wire bytes: one slice and one lookup per frame on the fast path.
_HEADS: dict[bytes, tuple[EOJ, EOJ, int, bool]] = {}


def _head(raw: bytes) -> tuple[EOJ, EOJ, int, bool]:
    code = raw[6]
    head = (_eoj(raw[0:3]), _eoj(raw[3:6]), _ESV.get(code, code), code in _SETGET)
    if len(_HEADS) < _EOJ_CACHE_MAX:
        _HEADS[raw] = head
    return head


def _truncated_header(data: bytes) -> FrameDecodeError:
    n = len(data)
    for field, offset, size in HEADER_LAYOUT:
        if offset + size > n:
            return FrameDecodeError(
                offset,
                field,
                f"truncated header: {field.upper()} needs {size} byte(s) at offset {offset}, {max(n - offset, 0)} left",
            )
    raise AssertionError("header is complete")  # pragma: no cover


def _properties(data: bytes, pos: int, count: int, n: int, what: str) -> tuple[list[Property], int]:
    props: list[Property] = []
    append = props.append
    for index in range(count):
        if pos + 2 > n:
            if pos >= n:
                raise FrameDecodeError(pos, "epc", f"truncated: {what} {index + 1} of {count} is missing (no EPC)")
            raise FrameDecodeError(pos + 1, "pdc", f"truncated: {what} {index + 1} of {count} has no PDC")
        pdc = data[pos + 1]
        end = pos + 2 + pdc
        if end > n:
            raise FrameDecodeError(
                pos + 2,
                "edt",
                f"PDC {pdc} of EPC 0x{data[pos]:02X} overruns the datagram: EDT needs {pdc} byte(s) at offset "
                f"{pos + 2}, {n - pos - 2} left",
            )
        append(_new(Property, (data[pos], data[pos + 2 : end])))
        pos = end
    return props, pos


def _generate_decoder(opc: int | None) -> Callable[[bytes, int, tuple[EOJ, EOJ, int, bool]], Frame | None]:
    """Generate the fast decoder of format-1 frames with ``opc`` properties (``None``: any OPC, with a loop).

    The generated code computes every property boundary first (``p0`` .. ``pN``), checks that the last one is the
    end of the datagram, and only then slices. A PDC that overruns makes a later index raise ``IndexError`` or the
    final position differ from the length; the caller then falls back to the field-by-field decoder. Frames of
    SetGet ESVs go to ``_setget`` with their OPCSet properties as soon as the first property list is walked.
    """
    first = _HEADER_SIZE
    lines = ["def decoder(data, tid, head):", f"    p0 = {first}"]
    if opc is None:
        lines += [
            "    bounds = [p0]",
            "    for _ in range(data[11]):",
            "        p0 += 2 + data[p0 + 1]",
            "        bounds.append(p0)",
            "    end = p0",
        ]
        props = "tuple([_new(Property, (data[s], data[s + 2 : e])) for s, e in zip(bounds, bounds[1:])])"
    else:
        lines += [f"    p{i + 1} = p{i} + 2 + data[p{i} + 1]" for i in range(opc)]
        lines.append(f"    end = p{opc}")
        items = "".join(f"_new(Property, (data[p{i}], data[p{i} + 2 : p{i + 1}])), " for i in range(opc))
        props = f"({items})"
    lines += [
        "    if head[3]:",
        f"        return _setget(data, end, head, tid, {props})",
        "    if end != len(data):",
        "        return None",
        f"    return _new(Frame, (EHD1, SPECIFIED, tid, head[0], head[1], head[2], {props}, (), None))",
    ]
    namespace = {
        "_new": _new,
        "Property": Property,
        "Frame": Frame,
        "EHD1": EHD1_ECHONET_LITE,
        "SPECIFIED": _SPECIFIED,
        "_setget": _setget,
    }
    exec("\n".join(lines), namespace)
    return cast(Callable[[bytes, int, tuple[EOJ, EOJ, int, bool]], Frame | None], namespace["decoder"])


def _generate_get_half(count: int | None) -> Callable[[bytes, int], tuple[tuple[Property, ...], int]]:
    """Generate the walk of a SetGet frame's OPCGet list of ``count`` properties (``None``: any, with a loop) from
    ``p0``, the position after OPCGet: the properties and the position after the last. As in
    :func:`_generate_decoder`, an overrun raises ``IndexError`` or ends elsewhere than the datagram's end."""
    lines = ["def half(data, p0):"]
    if count is None:
        lines += [
            "    bounds = [p0]",
            "    for _ in range(data[p0 - 1]):",
            "        p0 += 2 + data[p0 + 1]",
            "        bounds.append(p0)",
            "    return tuple([_new(Property, (data[s], data[s + 2 : e])) for s, e in zip(bounds, bounds[1:])]), p0",
        ]
    else:
        lines += [f"    p{i + 1} = p{i} + 2 + data[p{i} + 1]" for i in range(count)]
        items = "".join(f"_new(Property, (data[p{i}], data[p{i} + 2 : p{i + 1}])), " for i in range(count))
        lines.append(f"    return ({items}), p{count}")
    namespace = {"_new": _new, "Property": Property}
    exec("\n".join(lines), namespace)
    return cast(Callable[[bytes, int], tuple[tuple[Property, ...], int]], namespace["half"])


def _setget(
    data: bytes, pos: int, head: tuple[EOJ, EOJ, int, bool], tid: int, props: tuple[Property, ...]
) -> Frame | None:
    """The OPCGet half of a SetGet frame whose OPCSet half ends at ``pos``; ``None`` (or ``IndexError``) for one
    that does not end where the datagram does, which the field-by-field decoder then reports."""
    gets, end = _GET_HALF_BY_OPC[data[pos]](data, pos + 1)
    if end != len(data):
        return None
    return _new(Frame, (EHD1_ECHONET_LITE, _SPECIFIED, tid, head[0], head[1], head[2], props, gets, None))


#: Unrolled decoders for small OPCs (the common case), a loop for the rest.
_UNROLLED_MAX = 32
_ANY_OPC = _generate_decoder(None)
_DECODER_BY_OPC = tuple(_generate_decoder(k) if k <= _UNROLLED_MAX else _ANY_OPC for k in range(256))
_ANY_GET_HALF = _generate_get_half(None)
_GET_HALF_BY_OPC = tuple(_generate_get_half(k) if k <= _UNROLLED_MAX else _ANY_GET_HALF for k in range(256))


#: The largest datagram (the UDP payload of an IPv4 datagram; IPv6 jumbograms are not ECHONET Lite).
MAX_DATAGRAM = 0xFFFF


def _too_long(size: int) -> FrameDecodeError:
    return FrameDecodeError(
        MAX_DATAGRAM, "datagram", f"{size} bytes: longer than the largest datagram ({MAX_DATAGRAM} bytes)"
    )


def _as_bytes(data: object) -> bytes:
    """The bytes of a bytes-like object; a longer one than a datagram, or anything else, is refused before a copy."""
    try:
        view = memoryview(data)  # type: ignore[arg-type]  # (anything may come: it is checked here)
    except (TypeError, ValueError, BufferError):
        raise FrameDecodeError(0, "ehd1", f"not bytes: {type(data).__name__}") from None
    with view:
        if view.nbytes > MAX_DATAGRAM:
            raise _too_long(view.nbytes)
        return view.tobytes()


def decode(data: bytes | bytearray | memoryview) -> Frame:
    """Decode one ECHONET Lite frame. Raises :class:`FrameDecodeError` (with the byte offset) and nothing else:
    for a malformed frame, for an input longer than a datagram (:data:`MAX_DATAGRAM`, at that offset, field
    ``datagram``) and for an input that is not bytes-like (offset 0, field ``ehd1``)."""
    if type(data) is not bytes:
        data = _as_bytes(data)
    elif len(data) > MAX_DATAGRAM:
        raise _too_long(len(data))
    # Fast path: a well-formed format-1 frame, decoded by a function generated for its OPC (see
    # _generate_decoder). Anything irregular (short header, other EHD1/EHD2, a PDC that overruns, trailing bytes)
    # falls through to _slow_decode, which walks the frame field by field and reports the first offending field.
    try:
        magic, tid, key, opc = _UNPACK_HEADER(data)
    except struct.error:
        return _slow_decode(data)
    if magic == _MAGIC_SPECIFIED:
        head = _HEADS.get(key) or _head(key)
        frame: Frame | None
        try:
            frame = _DECODER_BY_OPC[opc](data, tid, head)
        except IndexError:
            frame = None
        if frame is not None:
            return frame
    return _slow_decode(data)


def _finish_setget(data: bytes, pos: int, n: int, code: int, set_props: list[Property]) -> Frame:
    if pos >= n:
        raise FrameDecodeError(pos, "opc_get", "truncated: OPCGet of a SetGet frame is missing")
    get_props, pos = _properties(data, pos + 1, data[pos], n, "OPCGet property")
    if pos != n:
        raise FrameDecodeError(pos, "trailing", f"{n - pos} trailing byte(s) after the last property")
    return _specified(data, code, set_props, get_props)


def _specified(data: bytes, code: int, props: list[Property], get_props: list[Property]) -> Frame:
    frame: Frame = _new(
        Frame,
        (
            EHD1_ECHONET_LITE,
            _SPECIFIED,
            (data[2] << 8) | data[3],
            _eoj(data[4:7]),
            _eoj(data[7:10]),
            _ESV.get(code, code),
            tuple(props),
            tuple(get_props),
            None,
        ),
    )
    return frame


def _slow_decode(data: bytes) -> Frame:
    """Field by field, in wire order, so that the first offending field is the one reported."""
    n = len(data)
    if n < 1:
        raise FrameDecodeError(0, "ehd1", "empty datagram: EHD1 missing")
    if data[0] != EHD1_ECHONET_LITE:
        raise FrameDecodeError(0, "ehd1", f"EHD1 is 0x{data[0]:02X}, not 0x10 (not an ECHONET Lite frame)")
    if n < 2:
        raise _truncated_header(data)
    ehd2 = data[1]
    if ehd2 != _SPECIFIED and ehd2 != _ARBITRARY:
        raise FrameDecodeError(1, "ehd2", f"unknown EHD2 0x{ehd2:02X} (expected 0x81 or 0x82)")
    if n < 4:
        raise _truncated_header(data)
    tid = (data[2] << 8) | data[3]
    if ehd2 == _ARBITRARY:
        return _new(Frame, (EHD1_ECHONET_LITE, _ARBITRARY, tid, None, None, None, (), (), data[4:]))
    if n < _HEADER_SIZE:
        raise _truncated_header(data)
    code = data[10]
    props, pos = _properties(data, 12, data[11], n, "property")
    if code in _SETGET:
        return _finish_setget(data, pos, n, code, props)
    if pos != n:
        raise FrameDecodeError(pos, "trailing", f"{n - pos} trailing byte(s) after the last property")
    return _specified(data, code, props, [])


def encode(frame: Frame) -> bytes:
    """Encode a frame. Raises :class:`EchonetUsageError` for a frame that cannot be put on the wire."""
    ehd1, ehd2, tid, seoj, deoj, esv, props, get_props, _ = frame
    if ehd2 == _SPECIFIED and ehd1 == EHD1_ECHONET_LITE:
        try:
            if esv not in _SETGET:
                if not get_props:
                    # (objects and ESV that are None or out of range raise, and the checks say so)
                    return _ENCODER_BY_OPC[len(props)](tid, seoj, deoj, esv, props)  # type: ignore[arg-type]
            else:
                parts = [_PACK_HEADER(EHD1_ECHONET_LITE, _SPECIFIED, tid, *seoj, *deoj, esv, len(props))]  # type: ignore[misc]
                for prop in props:
                    edt = prop[1]
                    parts += (_PACK_PROPERTY(prop[0], len(edt)), edt)
                parts.append(_COUNT[len(get_props)])
                for prop in get_props:
                    edt = prop[1]
                    parts += (_PACK_PROPERTY(prop[0], len(edt)), edt)
                return _JOIN(parts)
        except (struct.error, TypeError, ValueError, IndexError):
            pass  # fall through to the checks below, which say what is wrong
    return _checked_encode(frame)


def _generate_encoder(opc: int | None) -> Callable[[int, EOJ, EOJ, int, tuple[Property, ...]], bytes]:
    """Generate the encoder of format-1 frames (not SetGet) with ``opc`` properties (``None``: any, with a loop):
    the header and every property's EPC, PDC and EDT joined at once. Anything that does not fit (a value out of
    range, an EDT that is not bytes) raises ``struct.error``, ``TypeError`` or ``ValueError``, and
    :func:`_checked_encode` then says what is wrong."""
    header = "_PACK_HEADER(EHD1, SPECIFIED, tid, *seoj, *deoj, esv, len(props))"
    lines = ["def encoder(tid, seoj, deoj, esv, props):"]
    if opc is None:
        lines += [
            f"    parts = [{header}]",
            "    for prop in props:",
            "        edt = prop[1]",
            "        parts += (_PACK_PROPERTY(prop[0], len(edt)), edt)",
            "    return _JOIN(parts)",
        ]
    elif opc == 0:
        lines.append(f"    return {header}")
    else:
        lines.append("    " + "".join(f"p{i}, " for i in range(opc)) + "= props")
        lines += [f"    d{i} = p{i}[1]" for i in range(opc)]
        items = "".join(f", _PACK_PROPERTY(p{i}[0], len(d{i})), d{i}" for i in range(opc))
        lines.append(f"    return _JOIN(({header}{items}))")
    namespace = {
        "_PACK_HEADER": _PACK_HEADER,
        "_PACK_PROPERTY": _PACK_PROPERTY,
        "_JOIN": _JOIN,
        "EHD1": EHD1_ECHONET_LITE,
        "SPECIFIED": _SPECIFIED,
    }
    exec("\n".join(lines), namespace)
    return cast(Callable[[int, EOJ, EOJ, int, tuple[Property, ...]], bytes], namespace["encoder"])


#: Unrolled encoders for small OPCs, a loop for the rest (OPC above 255 raises IndexError: the checks say why).
_ANY_ENCODER = _generate_encoder(None)
_ENCODER_BY_OPC = tuple(_generate_encoder(k) if k <= 8 else _ANY_ENCODER for k in range(256))


def _checked_encode(frame: Frame) -> bytes:
    ehd1, ehd2, tid, seoj, deoj, esv, props, get_props, edata = frame
    if ehd1 != EHD1_ECHONET_LITE:
        raise EchonetUsageError(f"EHD1 must be 0x10 for ECHONET Lite, got {ehd1!r}")
    if not isinstance(tid, int) or not 0 <= tid <= 0xFFFF:
        raise EchonetUsageError(f"TID {tid!r} out of range 0-65535")
    if ehd2 == _ARBITRARY:
        if not isinstance(edata, bytes | bytearray | memoryview):
            raise EchonetUsageError("a format-2 frame (EHD2 0x82) needs edata bytes")
        return bytes((EHD1_ECHONET_LITE, _ARBITRARY, tid >> 8, tid & 0xFF)) + bytes(edata)
    if ehd2 != _SPECIFIED:
        raise EchonetUsageError(f"EHD2 must be 0x81 or 0x82, got {ehd2!r}")
    if seoj is None or deoj is None or esv is None:
        raise EchonetUsageError("a format-1 frame needs seoj, deoj and esv")
    for name, eoj in (("SEOJ", seoj), ("DEOJ", deoj)):
        if len(eoj) != 3 or not all(isinstance(b, int) and 0 <= b <= 255 for b in eoj):
            raise EchonetUsageError(f"{name} {eoj!r} is not three bytes")
    if not isinstance(esv, int) or not 0 <= esv <= 255:
        raise EchonetUsageError(f"ESV {esv!r} is not a byte")
    setget = esv in _SETGET
    if get_props and not setget:
        raise EchonetUsageError("get_properties is only for SetGet ESVs (0x6E, 0x7E, 0x5E)")
    out = bytearray(_PACK_HEADER(EHD1_ECHONET_LITE, _SPECIFIED, tid, *seoj, *deoj, esv, 0)[:-1])  # OPC follows
    _append_properties(out, props, "property")
    if setget:
        _append_properties(out, get_props, "OPCGet property")
    return bytes(out)


def _append_properties(out: bytearray, props: tuple[Property, ...], what: str) -> None:
    if len(props) > 255:
        raise EchonetUsageError(f"{len(props)} {what} entries: at most 255 fit (OPC is one byte)")
    out.append(len(props))
    for epc, edt in props:
        if not isinstance(epc, int) or not 0 <= epc <= 255:
            raise EchonetUsageError(f"{what} EPC {epc!r} is not a byte")
        if not isinstance(edt, bytes | bytearray | memoryview):
            raise EchonetUsageError(f"{what} EPC 0x{epc:02X}: EDT must be bytes, not {type(edt).__name__}")
        if len(edt) > 255:
            raise EchonetUsageError(f"{what} EPC 0x{epc:02X}: EDT of {len(edt)} bytes does not fit PDC (at most 255)")
        out.append(epc)
        out.append(len(edt))
        out += edt
