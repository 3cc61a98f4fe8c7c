"""Human- and machine-readable descriptions of frames (pure: returns strings and dicts, never prints)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from .frame import EHD2, EOJ, ESV, Frame, Property, esv_name
from .spec.registry import DecodedValue, Registry
from .spec.types import Special


def owner_of_properties(frame: Frame) -> EOJ | None:
    """The object whose properties a frame carries: DEOJ for requests (Set, Get, ...), SEOJ otherwise."""
    if frame.esv is not None and 0x60 <= frame.esv <= 0x6F:
        return frame.deoj
    return frame.seoj


def class_name(registry: Registry, eoj: EOJ | None) -> str:
    if eoj is None:
        return ""
    cls = registry.get_class(eoj.class_id)
    if cls is not None:
        return cls.name
    if eoj.class_group == 0x0F:
        return "user-defined class"
    return f"unknown class 0x{eoj.class_id:04X}"


def _carries_values(frame: Frame) -> bool:
    """Get and INF_REQ requests (and the Get half of SetGet) carry PDC=0 by definition."""
    return frame.esv not in (ESV.GET, ESV.INF_REQ)


def decode_properties(
    registry: Registry, eoj: EOJ | None, props: Iterable[Property], others: Iterable[Property] = ()
) -> list[DecodedValue]:
    """Decode the properties of one object. A number scaled by other properties (coefficients) is scaled with the
    EDTs of ``props`` and ``others`` (the rest of the frame) when they are there."""
    class_id = eoj.class_id if eoj is not None else -1
    props = list(props)
    context: dict[int, bytes] | None = None
    out = []
    for p in props:
        if not p.edt:
            out.append(DecodedValue(p.epc, p.edt, registry.property(class_id, p.epc), None))
            continue
        if context is None:
            definition = registry.property(class_id, p.epc)
            if definition is not None and definition.coefficients:
                context = {q.epc: q.edt for q in (*props, *others) if q.edt}
        out.append(registry.decode_value(class_id, p.epc, p.edt, context))
    return out


def _edt_text(edt: bytes) -> str:
    """``0x0102``, shortened after 24 bytes (the whole EDT is in the JSON form)."""
    text = edt[:24].hex().upper()
    return f"0x{text}" if len(edt) <= 24 else f"0x{text}... ({len(edt)} bytes)"


def value_text(dv: DecodedValue) -> str:
    """A decoded value for a person, the one text form every command prints (docs/json-values.md):

    ``80 %`` (a value and its unit), ``overflow (0xFFFFFFFF)`` (a special code), ``invalid 0xFE: out of range
    0-100 %`` (an EDT that means no value of its definition), ``29206 (unit 0xE2 unknown)`` (a number whose
    coefficient properties were not at hand), ``01 02  (raw)`` (no table defines the EPC), and nothing for an
    empty EDT.
    """
    if not dv.edt:
        return ""
    if dv.definition is None:
        return f"{dv.edt.hex(' ')}  (raw)"
    if dv.error is not None:
        return f"invalid {_edt_text(dv.edt)}: {dv.error}"
    value = dv.value
    if isinstance(value, Special):
        return value.text
    shown = dv.definition.type.value_text(value)
    if shown is not None:  # a value with a text of its own (version information, identification number)
        return shown
    value = dv.definition.type.to_json(value)
    if isinstance(value, list):
        text = ", ".join(str(v) for v in value) if value else "(none)"
    elif isinstance(value, dict):
        text = ", ".join(f"{k}={v}" for k, v in value.items())
    else:
        text = str(value)
    if dv.note is not None:
        return f"{text} ({dv.note})"
    unit = dv.unit
    return f"{text} {unit}" if unit and not isinstance(value, list | dict) else text


def property_line(dv: DecodedValue) -> str:
    marker = "" if dv.standard else "  [non-standard]"
    value = value_text(dv)
    return f"0x{dv.epc:02X} {dv.name}" + (f" = {value}" if value else "") + marker


def frame_lines(frame: Frame, registry: Registry) -> list[str]:
    """A few lines describing a frame for a person."""
    if frame.ehd2 == EHD2.ARBITRARY:
        return [
            f"TID 0x{frame.tid:04X}  arbitrary-format frame (EHD2 0x82), EDATA {len(frame.edata or b'')} bytes: "
            f"{(frame.edata or b'').hex(' ')}"
        ]
    assert frame.seoj is not None and frame.deoj is not None and frame.esv is not None
    head = (
        f"TID 0x{frame.tid:04X}  {esv_name(frame.esv)}  {frame.seoj} {class_name(registry, frame.seoj)}"
        f" -> {frame.deoj} {class_name(registry, frame.deoj)}"
    )
    lines = [head]
    owner = owner_of_properties(frame)
    if frame.esv in (ESV.SETGET, ESV.SETGET_RES, ESV.SETGET_SNA):
        set_half = decode_properties(registry, owner, frame.properties, frame.get_properties)
        get_half = decode_properties(registry, owner, frame.get_properties, frame.properties)
        lines.append("  set:")
        lines += [f"    {property_line(dv)}" for dv in set_half]
        lines.append("  get:")
        lines += [f"    {property_line(dv)}" for dv in get_half]
    else:
        lines += [f"  {property_line(dv)}" for dv in decode_properties(registry, owner, frame.properties)]
        if not frame.properties:
            lines.append("  (no properties)")
    return lines


def property_json(dv: DecodedValue) -> dict[str, Any]:
    """One property as JSON, the one shape every command prints (docs/json-values.md).

    Always ``epc``, ``name``, ``pdc`` and ``edt`` (hex), ``key`` where a table defines the EPC and
    ``"standard": false`` for the project's extension EPCs. With an EDT, ``valid`` and then one of: ``value``
    (the typed value) and ``unit`` (numbers); ``value`` (the code's name) and ``"special": true`` for a special
    code; ``"valid": false`` with ``error`` and no value for an EDT that means no value; ``unscaled`` (the number
    before its coefficients) with ``note`` and no value when coefficient properties were not at hand.
    """
    out: dict[str, Any] = {"epc": f"0x{dv.epc:02X}", "name": dv.name, "pdc": len(dv.edt), "edt": dv.edt.hex()}
    if dv.definition is not None:
        out["key"] = dv.definition.key
    if not dv.standard:
        out["standard"] = False
    if not dv.edt:
        return out
    if dv.error is not None:
        out["valid"] = False
        out["error"] = dv.error
        return out
    out["valid"] = True
    if dv.missing:
        out["unscaled"] = dv.json_value()
        out["note"] = dv.note
        return out
    out["value"] = dv.json_value()
    if isinstance(dv.value, Special):
        out["special"] = True
        return out
    unit = dv.unit
    if unit:
        out["unit"] = unit
    return out


def frame_json(frame: Frame, registry: Registry) -> dict[str, Any]:
    """A JSON-serialisable dict describing a frame."""
    out: dict[str, Any] = {"ehd1": f"0x{frame.ehd1:02X}", "ehd2": f"0x{frame.ehd2:02X}", "tid": frame.tid}
    if frame.ehd2 == EHD2.ARBITRARY:
        out["edata"] = (frame.edata or b"").hex()
        return out
    assert frame.seoj is not None and frame.deoj is not None and frame.esv is not None
    owner = owner_of_properties(frame)
    out.update(
        {
            "seoj": str(frame.seoj),
            "seoj_class": class_name(registry, frame.seoj),
            "deoj": str(frame.deoj),
            "deoj_class": class_name(registry, frame.deoj),
            "esv": esv_name(frame.esv),
            "esv_code": f"0x{frame.esv:02X}",
            "properties": [
                property_json(dv) for dv in decode_properties(registry, owner, frame.properties, frame.get_properties)
            ],
        }
    )
    if frame.esv in (ESV.SETGET, ESV.SETGET_RES, ESV.SETGET_SNA):
        get_half = decode_properties(registry, owner, frame.get_properties, frame.properties)
        out["get_properties"] = [property_json(dv) for dv in get_half]
    return out
