"""The ECHONET Lite wire format, declared once with ``construct``.

This module is the single source of truth for the frame layout and the test oracle for the hand-written fast codec
in :mod:`echonet.codec`: property-based tests prove that both agree on every frame and every malformed input,
including the byte offset and field of each error. It is not used on the hot path (construct's declarative parser
is tens of times slower than ``struct`` code).

Every field is wrapped in :class:`Located`, which records the stream offset where the field starts; when parsing
fails, the innermost field's offset and name become the :class:`~echonet.errors.FrameDecodeError`'s.
"""

from __future__ import annotations

import io
from typing import Any

from construct import (
    Array,
    Byte,
    Bytes,
    Const,
    ConstructError,
    Container,
    GreedyBytes,
    If,
    Int16ub,
    ListContainer,
    OneOf,
    Rebuild,
    Struct,
    Subconstruct,
    Switch,
    Terminated,
    len_,
    this,
)
from construct.core import stream_tell

from .constants import EHD1_ECHONET_LITE
from .errors import EchonetUsageError, FrameDecodeError
from .frame import EHD2, EOJ, ESV_BY_CODE, SETGET_CODES, Frame, Property


class Located(Subconstruct):  # type: ignore[misc]
    """Wraps a field so that a parse failure inside it carries the field's name and start offset."""

    def __init__(self, field: str, subcon: Any) -> None:
        super().__init__(subcon)
        self.field = field

    def _parse(self, stream: Any, context: Any, path: str) -> Any:
        start = stream_tell(stream, path)
        try:
            return self.subcon._parsereport(stream, context, path)
        except ConstructError as exc:
            if not hasattr(exc, "echonet_field"):
                exc.echonet_field = self.field
                exc.echonet_offset = start
            raise

    def _build(self, obj: Any, stream: Any, context: Any, path: str) -> Any:
        return self.subcon._build(obj, stream, context, path)

    def _sizeof(self, context: Any, path: str) -> int:
        return int(self.subcon._sizeof(context, path))


EOJ_STRUCT = Struct("class_group" / Byte, "class_code" / Byte, "instance" / Byte)

PROPERTY = Struct(
    "epc" / Located("epc", Byte),
    "pdc" / Located("pdc", Rebuild(Byte, len_(this.edt))),
    "edt" / Located("edt", Bytes(this.pdc)),
)

#: Fixed part of a format-1 frame after EHD1/EHD2/TID, in wire order: (field name, construct).
SPECIFIED_HEADER_FIELDS = (
    ("seoj", EOJ_STRUCT),
    ("deoj", EOJ_STRUCT),
    ("esv", Byte),
    ("opc", Byte),
)

SPECIFIED_EDATA = Struct(
    "seoj" / Located("seoj", EOJ_STRUCT),
    "deoj" / Located("deoj", EOJ_STRUCT),
    "esv" / Located("esv", Byte),
    "opc" / Located("opc", Rebuild(Byte, len_(this.properties))),
    "properties" / Array(this.opc, PROPERTY),
    "opc_get" / If(lambda ctx: ctx.esv in SETGET_CODES, Located("opc_get", Rebuild(Byte, len_(this.get_properties)))),
    "get_properties" / If(lambda ctx: ctx.esv in SETGET_CODES, Array(this.opc_get, PROPERTY)),
)

FRAME = Struct(
    "ehd1" / Located("ehd1", Const(EHD1_ECHONET_LITE, Byte)),
    "ehd2" / Located("ehd2", OneOf(Byte, [EHD2.SPECIFIED, EHD2.ARBITRARY])),
    "tid" / Located("tid", Int16ub),
    "edata" / Switch(this.ehd2, {EHD2.SPECIFIED: SPECIFIED_EDATA, EHD2.ARBITRARY: GreedyBytes}),
    "end" / Located("trailing", Terminated),
)


def _header_layout() -> tuple[tuple[str, int, int], ...]:
    fields = [("ehd1", Byte.sizeof()), ("ehd2", Byte.sizeof()), ("tid", Int16ub.sizeof())]
    fields += [(name, con.sizeof()) for name, con in SPECIFIED_HEADER_FIELDS]
    layout, offset = [], 0
    for name, size in fields:
        layout.append((name, offset, size))
        offset += size
    return tuple(layout)


#: (field, offset, size) of the fixed header of a format-1 frame, derived from the declaration above; the fast codec
#: uses it to locate errors in truncated headers.
HEADER_LAYOUT = _header_layout()

_REASONS = {
    "ehd1": "EHD1 is not 0x10 (not an ECHONET Lite frame)",
    "ehd2": "unknown EHD2 (expected 0x81 or 0x82)",
    "trailing": "trailing bytes after the last property",
}


def _error_from(exc: ConstructError, data: bytes) -> FrameDecodeError:
    field = getattr(exc, "echonet_field", "ehd1")
    offset = getattr(exc, "echonet_offset", 0)
    if field in _REASONS and offset < len(data):
        return FrameDecodeError(offset, field, _REASONS[field])
    return FrameDecodeError(offset, field, f"truncated {field}")


def _eoj(c: Container) -> EOJ:
    return EOJ(c.class_group, c.class_code, c.instance)


def _props(items: ListContainer | None) -> tuple[Property, ...]:
    return tuple(Property(p.epc, p.edt) for p in items or ())


def reference_decode(data: bytes) -> Frame:
    """Decode with the construct declaration (the oracle). Raises only :class:`FrameDecodeError`."""
    data = bytes(data)
    try:
        parsed = FRAME.parse_stream(io.BytesIO(data))
    except ConstructError as exc:
        raise _error_from(exc, data) from None
    if parsed.ehd2 == EHD2.ARBITRARY:
        return Frame(parsed.ehd1, EHD2.ARBITRARY, parsed.tid, edata=parsed.edata)
    ed = parsed.edata
    return Frame(
        parsed.ehd1,
        EHD2.SPECIFIED,
        parsed.tid,
        _eoj(ed.seoj),
        _eoj(ed.deoj),
        ESV_BY_CODE.get(ed.esv, ed.esv),
        _props(ed.properties),
        _props(ed.get_properties),
        None,
    )


def reference_encode(frame: Frame) -> bytes:
    """Encode with the construct declaration (the oracle). Raises :class:`EchonetUsageError` on bad input."""
    try:
        if frame.ehd2 == EHD2.ARBITRARY:
            edata: Any = bytes(frame.edata or b"")
        else:
            if frame.seoj is None or frame.deoj is None or frame.esv is None:
                raise EchonetUsageError("a format-1 frame needs seoj, deoj and esv")
            setget = frame.esv in SETGET_CODES
            if frame.get_properties and not setget:
                raise EchonetUsageError("get_properties is only for SetGet ESVs (0x6E, 0x7E, 0x5E)")
            edata = {
                "seoj": frame.seoj._asdict(),
                "deoj": frame.deoj._asdict(),
                "esv": int(frame.esv),
                "properties": [{"epc": p.epc, "edt": bytes(p.edt)} for p in frame.properties],
                "opc_get": None,
                "get_properties": [{"epc": p.epc, "edt": bytes(p.edt)} for p in frame.get_properties]
                if setget
                else None,
            }
        return bytes(FRAME.build({"ehd1": frame.ehd1, "ehd2": frame.ehd2, "tid": frame.tid, "edata": edata}))
    except ConstructError as exc:
        raise EchonetUsageError(f"cannot encode frame: {exc}") from None
