"""Human- and machine-readable descriptions of frames (pure: returns strings and dicts, never prints)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from .frame import EHD2, EOJ, ESV, Frame, Property, esv_name
from .spec.registry import DecodedValue, Registry


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


def decode_properties(registry: Registry, eoj: EOJ | None, props: Iterable[Property]) -> list[DecodedValue]:
    class_id = eoj.class_id if eoj is not None else -1
    out = []
    for p in props:
        if not p.edt:
            out.append(DecodedValue(p.epc, p.edt, registry.property(class_id, p.epc), None))
        else:
            out.append(registry.decode_value(class_id, p.epc, p.edt))
    return out


def _value_text(dv: DecodedValue) -> str:
    if not dv.edt:
        return ""
    if dv.definition is None or dv.error is not None:
        raw = dv.edt.hex(" ")
        return f"{raw}" + (f"  (does not fit its definition: {dv.error})" if dv.error else "  (raw)")
    shown = dv.definition.type.value_text(dv.value)
    if shown is not None:  # a value with a text of its own (version information, identification number)
        return shown
    value = dv.definition.type.to_json(dv.value)
    if isinstance(value, list):
        text = ", ".join(str(v) for v in value) if value else "(none)"
    elif isinstance(value, dict):
        text = ", ".join(f"{k}={v}" for k, v in value.items())
    else:
        text = str(value)
    unit = dv.unit
    return f"{text} {unit}" if unit and not isinstance(value, list | dict) else text


def property_line(dv: DecodedValue) -> str:
    marker = "" if dv.standard else "  [non-standard]"
    value = _value_text(dv)
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
        lines.append("  set:")
        lines += [f"    {property_line(dv)}" for dv in decode_properties(registry, owner, frame.properties)]
        lines.append("  get:")
        lines += [f"    {property_line(dv)}" for dv in decode_properties(registry, owner, frame.get_properties)]
    else:
        lines += [f"  {property_line(dv)}" for dv in decode_properties(registry, owner, frame.properties)]
        if not frame.properties:
            lines.append("  (no properties)")
    return lines


def property_json(dv: DecodedValue) -> dict[str, Any]:
    out: dict[str, Any] = {"epc": f"0x{dv.epc:02X}", "name": dv.name, "pdc": len(dv.edt), "edt": dv.edt.hex()}
    if dv.definition is not None:
        out["key"] = dv.definition.key
    if not dv.standard:
        out["standard"] = False
    if dv.edt:
        out["value"] = dv.json_value()
        if dv.unit:
            out["unit"] = dv.unit
        if dv.error:
            out["error"] = dv.error
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
            "properties": [property_json(dv) for dv in decode_properties(registry, owner, frame.properties)],
        }
    )
    if frame.esv in (ESV.SETGET, ESV.SETGET_RES, ESV.SETGET_SNA):
        out["get_properties"] = [property_json(dv) for dv in decode_properties(registry, owner, frame.get_properties)]
    return out
