"""Human- and machine-readable descriptions of frames (pure: returns strings and dicts, never prints)."""

from __future__ import annotations

import json
import time as _time
from collections.abc import Callable, Iterable, Mapping
from json.encoder import encode_basestring
from typing import Any, NamedTuple, cast

from .frame import EHD2, EOJ, ESV, Frame, Property, esv_name
from .spec.compiled import Plan, PropertyDecoders, Source
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


def eoj_json(eoj: EOJ, registry: Registry) -> dict[str, str]:
    """An object as the JSON vocabulary writes it (docs/json.md): ``{"eoj": "027D01", "class": "0x027D",
    "class_name": "Storage battery"}``."""
    return {"eoj": str(eoj), "class": f"0x{eoj.class_id:04X}", "class_name": class_name(registry, eoj)}


def frame_json(frame: Frame, registry: Registry) -> dict[str, Any]:
    """A JSON-serialisable dict describing a frame, in the vocabulary of docs/json.md: ``ehd1``, ``ehd2``, ``tid``,
    then (format 1) ``seoj`` and ``deoj`` as objects (:func:`eoj_json`), ``esv`` (its name), ``esv_code``,
    ``properties`` (property records) and, for SetGet ESVs, ``get_properties``; (format 2) ``edata`` in hex."""
    out: dict[str, Any] = {"ehd1": f"0x{frame.ehd1:02X}", "ehd2": f"0x{frame.ehd2:02X}", "tid": frame.tid}
    if frame.ehd2 == EHD2.ARBITRARY:
        out["edata"] = (frame.edata or b"").hex()
        return out
    assert frame.seoj is not None and frame.deoj is not None and frame.esv is not None
    owner = owner_of_properties(frame)
    out.update(
        {
            "seoj": eoj_json(frame.seoj, registry),
            "deoj": eoj_json(frame.deoj, registry),
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


# Fast renderers -------------------------------------------------------------------------------------------------
#
# The JSON text and the lines of a frame, equal to ``json.dumps(frame_json(...))`` and ``frame_lines`` (proved by
# tests/test_typed_fast.py), built from fragments compiled per class and EPC from the plans of the value decoders
# (:mod:`echonet.spec.compiled`): the fragment of a defined code, of a special code and of the property without EDT
# is rendered once, by the functions above; a number's, a time's, a text's or raw data's fragment is its constant
# parts around its value; everything else (an invalid EDT, coefficients, the rarer types) is rendered by the
# functions above from the compiled decoder's value.

_dumps = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode
#: A ``str`` as JSON, as ``json.dumps(..., ensure_ascii=False)`` writes it (quotes included).
_json_str: Callable[[str], str] = encode_basestring
_Fragment = Callable[[bytes, "Mapping[int, bytes] | None"], str]
_HEADS_MAX = 4096
_MEMO_MAX = 64  # rendered fragments kept per EPC


def _fast_lines(plan: Plan, src: Source, text: bool) -> list[str]:
    """The lines of a property's fragment for the EDTs of its fast form (JSON, or the text line with ``text``);
    none where the form is not one of a number, a time, text or raw data."""
    form = plan.form(src)
    if form is None or form.kind not in ("number", "text", "bytes"):
        return []
    lo, hi = max(form.sizes[0], 1), form.sizes[1]  # (no EDT: the table)
    if lo > hi:
        return []
    sample = plan.empty  # its name, key and standard are those of every EDT of the EPC
    prelude, cond, value = form.lines("e", "")
    size = f"len(e) == {lo}" if lo == hi else f"{lo} <= len(e) <= {hi}"
    lines = [f"    if {size}:"] + [f"        {line}" for line in prelude]
    lines.append(f"        if {cond or 'True'}:")
    lines.append(f"            v = {value}")
    ret = "            return "
    if text:
        line = src.const(f"0x{plan.epc:02X} {sample.name} = ")
        marker = "" if sample.standard else "  [non-standard]"
        if plan.definition is None:
            lines.append(f"{ret}f'{{{line}}}{{e.hex(\" \")}}{{{src.const('  (raw)' + marker)}}}'")
        elif form.kind == "number":
            unit = f" {form.unit}" if form.unit else ""
            lines.append(f"{ret}f'{{{line}}}{{v}}{{{src.const(unit + marker)}}}'")
        elif form.kind == "text":
            bare = src.const(f"0x{plan.epc:02X} {sample.name}{marker}")
            lines.append(f"{ret}f'{{{line}}}{{v}}{{{src.const(marker)}}}' if v else {bare}")
        else:
            lines.append(f"{ret}f'{{{line}}}{{e.hex()}}{{{src.const(marker)}}}'")
        return lines
    head = f'{{"epc":"0x{plan.epc:02X}","name":{_json_str(sample.name)},"pdc":'
    middle = '"'
    if plan.definition is not None:
        middle += f',"key":{_json_str(plan.definition.key)}'
    if not sample.standard:
        middle += ',"standard":false'
    middle += ',"valid":true,"value":'
    if form.kind == "number":
        shown = "{v}"
        end = f',"unit":{_json_str(form.unit)}}}' if form.unit and plan.definition is not None else "}"
    elif form.kind == "text":
        src.ns["_enc"] = _json_str
        shown, end = "{_enc(v)}", "}"
    else:
        shown, end = '"{e.hex()}"', "}"
    if lo == hi:
        before = "{" + src.const(head + str(lo) + ',"edt":"') + "}"
    else:
        before = "{" + src.const(head) + '}{len(e)},"edt":"'
    lines.append(f"{ret}f'{before}{{e.hex()}}{{{src.const(middle)}}}{shown}{{{src.const(end)}}}'")
    return lines


class _Fragments(dict[int, _Fragment]):
    """One class's property fragments (JSON, or text lines) by EPC, each compiled at first use. A fragment takes
    the EDT (``bytes``; empty for a property without EDT) and the EDTs at hand for coefficients."""

    def __init__(self, decoders: PropertyDecoders, text: bool) -> None:
        super().__init__()
        self.decoders = decoders
        self.text = text

    def render(self, dv: DecodedValue) -> str:
        return property_line(dv) if self.text else _dumps(property_json(dv))

    def __missing__(self, epc: int) -> _Fragment:
        decoders = self.decoders
        plan = decoders.plan(epc)
        src = Source()
        src.ns["_render"] = self.render
        src.ns["_decode"] = decoders[epc]
        table = {edt: self.render(dv) for edt, dv in plan.table.items()}
        table[b""] = self.render(plan.empty)
        lines = [
            "def fragment(e, ctx=None):",
            f"    t = {src.const(table.get)}(e)",
            "    if t is not None:",
            "        return t",
        ]
        if plan.reference:  # scaled by other properties: rendered each time (the context changes the value)
            lines.append("    return _render(_decode(e, ctx))")
        else:
            # The rest is rendered by the functions above; the last fragments so rendered are kept by EDT (bounded),
            # as the values of the rarer types (instance lists, identification numbers, property maps) repeat.
            memo: dict[bytes, str] = {}
            lines += _fast_lines(plan, src, self.text)
            lines += [
                f"    t = {src.const(memo.get)}(e)",
                "    if t is None:",
                "        t = _render(_decode(e, ctx))",
                f"        if len({src.const(memo)}) >= {_MEMO_MAX}:",
                f"            {src.const(memo)}.clear()",
                f"        {src.const(memo)}[e] = t",
                "    return t",
            ]
        src.lines = lines
        fragment = cast(_Fragment, src.function("fragment"))
        self[epc] = fragment
        return fragment


def _fragments(decoders: PropertyDecoders, text: bool) -> _Fragments:
    key = "describe text" if text else "describe json"
    found = decoders.derived.get(key)
    if found is None:
        found = decoders.derived[key] = _Fragments(decoders, text)
    return cast(_Fragments, found)


class _Head(NamedTuple):
    """What a frame's JSON and lines share with every frame of the same objects and ESV."""

    json_before_tid: str
    json_after_tid: str
    text_after_tid: str
    json: _Fragments
    text: _Fragments
    scaled: frozenset[int]  #: EPCs of the class whose numbers other properties scale
    setget: bool


class _Renderer:
    """A registry's frame heads (by SEOJ, DEOJ and ESV, bounded) and, through its decoders, property fragments."""

    def __init__(self, registry: Registry) -> None:
        self.registry = registry
        self.heads: dict[tuple[Any, ...], _Head] = {}

    def head(self, frame: Frame) -> _Head | None:
        """The head of a format-1 frame of EHD1 0x10 (``None`` for another frame: the functions above render it)."""
        if frame.ehd1 != 0x10 or frame.ehd2 != EHD2.SPECIFIED or frame.seoj is None or frame.deoj is None:
            return None
        if frame.esv is None:
            return None
        registry = self.registry
        owner = owner_of_properties(frame)
        decoders = registry.decoders(owner.class_id if owner is not None else -1)
        bare = frame._replace(tid=0, properties=(), get_properties=())
        sample = frame_json(bare, registry)
        before = _dumps({"ehd1": sample["ehd1"], "ehd2": sample["ehd2"]})[:-1] + ',"tid":'
        rest = {k: v for k, v in sample.items() if k not in ("ehd1", "ehd2", "tid", "properties", "get_properties")}
        after = "," + _dumps(rest)[1:-1] + ',"properties":['
        head = _Head(
            before,
            after,
            frame_lines(bare, registry)[0][len("TID 0x0000") :],
            _fragments(decoders, False),
            _fragments(decoders, True),
            decoders.scaled,
            frame.esv in (ESV.SETGET, ESV.SETGET_RES, ESV.SETGET_SNA),
        )
        if len(self.heads) >= _HEADS_MAX:
            self.heads.clear()
        self.heads[frame[3:6]] = head
        return head


def _renderer(registry: Registry) -> _Renderer:
    found = registry.derived.get("describe")
    if found is None:
        found = registry.derived["describe"] = _Renderer(registry)
    return cast(_Renderer, found)


def _context(
    props: tuple[Property, ...], others: tuple[Property, ...], scaled: frozenset[int]
) -> dict[int, bytes] | None:
    """The EDTs at hand for the coefficients of one half, as :func:`decode_properties` gathers them (``None`` when
    no property of the half with an EDT is scaled)."""
    if any(p[1] and p[0] in scaled for p in props):
        return {q[0]: q[1] for q in (*props, *others) if q[1]}
    return None


def _half(
    fragments: _Fragments, props: tuple[Property, ...], others: tuple[Property, ...], scaled: frozenset[int]
) -> list[str]:
    ctx = _context(props, others, scaled) if scaled else None
    return [fragments[p[0]](p[1], ctx) for p in props]


def _frame_json(frame: Frame, registry: Registry) -> str:
    head = _renderer(registry).heads.get(frame[3:6]) if frame[1] == 0x81 and frame[0] == 0x10 else None
    if head is None:
        head = _renderer(registry).head(frame)
        if head is None:
            return _dumps(frame_json(frame, registry))
    props, gets = frame[6], frame[7]
    fragments = head.json
    try:
        if head.scaled:
            body = ",".join(_half(fragments, props, gets, head.scaled))
        else:
            body = ",".join([fragments[p[0]](p[1], None) for p in props])
        if head.setget:
            body += '],"get_properties":[' + ",".join(_half(fragments, gets, props, head.scaled))
    except TypeError:  # an EDT that is not bytes (a frame built by hand): the functions above
        return _dumps(frame_json(frame, registry))
    return f"{head.json_before_tid}{frame[2]}{head.json_after_tid}{body}]}}"


def frame_json_text(frame: Frame, registry: Registry) -> str:
    """``json.dumps(frame_json(frame, registry), ensure_ascii=False, separators=(",", ":"))``, the compact JSON
    line every command prints, built from compiled fragments."""
    return _frame_json(frame, registry)


def _frame_text(frame: Frame, registry: Registry, prefix: str) -> str:
    """``prefix`` and ``"\\n".join(frame_lines(frame, registry))``, built from compiled fragments."""
    head = _renderer(registry).heads.get(frame[3:6]) if frame[1] == 0x81 and frame[0] == 0x10 else None
    if head is None:
        head = _renderer(registry).head(frame)
        if head is None:
            return prefix + "\n".join(frame_lines(frame, registry))
    props, gets = frame[6], frame[7]
    fragments = head.text
    try:
        if head.setget:
            sets = "".join(["\n    " + line for line in _half(fragments, props, gets, head.scaled)])
            got = "".join(["\n    " + line for line in _half(fragments, gets, props, head.scaled)])
            lines = f"\n  set:{sets}\n  get:{got}"
        elif not props:
            lines = "\n  (no properties)"
        elif head.scaled:
            lines = "\n  " + "\n  ".join(_half(fragments, props, gets, head.scaled))
        else:
            lines = "\n  " + "\n  ".join([fragments[p[0]](p[1], None) for p in props])
    except TypeError:  # an EDT that is not bytes (a frame built by hand): the functions above
        return prefix + "\n".join(frame_lines(frame, registry))
    tid = "%04X" % frame[2]  # noqa: UP031 (twice as fast as the format spec, on every line)
    return f"{prefix}TID 0x{tid}{head.text_after_tid}{lines}"


def frame_text(frame: Frame, registry: Registry) -> str:
    """``"\\n".join(frame_lines(frame, registry))``, built from compiled fragments."""
    return _frame_text(frame, registry, "")


# Capture records ------------------------------------------------------------------------------------------------
#
# ``echonet decode --pcap`` prints one record per datagram: its time, its two ends and the frame. The dict forms
# (:func:`capture_record`) are the reference; the text forms (:func:`capture_record_json`, :func:`capture_record_text`)
# are built from the fast renderers above and equal them (tests/test_typed_fast.py).

_MICRO = 1_000_000
#: The minute of the last time shown: its first and last second + 1, its date and time up to the minute as text
#: (``2025-06-01 10:00:``) and in ISO 8601 (``2025-06-01T10:00:``). Captures are in time order, so most records
#: fall in the minute of the one before.
_minute: tuple[int, int, str, str] = (0, 0, "", "")
_SECONDS = tuple(f"{n:02d}" for n in range(60))


def _minute_of(whole: int) -> tuple[int, int, str, str] | None:
    """The minute holding the second ``whole`` (kept for the next call); ``None`` outside the years 1-9999."""
    global _minute
    start = whole - whole % 60
    try:
        when = _time.gmtime(start)
    except (OverflowError, OSError, ValueError):
        return None
    if not 1 <= when.tm_year <= 9999:
        return None
    text = _time.strftime("%Y-%m-%d %H:%M:", when)
    _minute = (start, start + 60, text, text.replace(" ", "T"))
    return _minute


def _split(seconds: float) -> tuple[int, int] | None:
    """A capture time as whole seconds since the epoch and microseconds (rounded to the nearest microsecond, as
    pcap stores them); ``None`` for a time that is no number."""
    try:
        return divmod(round(seconds * 1e6), _MICRO)
    except (OverflowError, ValueError):
        return None


def capture_time_json(seconds: float) -> str | None:
    """A capture time (seconds since the epoch) as the JSON vocabulary writes a moment (docs/json.md): ISO 8601 in
    UTC with ``Z``, to the microsecond a capture keeps (``"2025-06-01T10:00:01.034512Z"``); ``None`` for a time
    the calendar cannot show."""
    split = _split(seconds)
    if split is None:
        return None
    whole, micros = split
    minute = _minute
    if not minute[0] <= whole < minute[1]:
        found = _minute_of(whole)
        if found is None:
            return None
        minute = found
    return f"{minute[3]}{_SECONDS[whole - minute[0]]}.{micros:06d}Z"


def capture_time_text(seconds: float) -> str:
    """A capture time for a person: UTC date and time to the microsecond (``2025-06-01 10:00:01.034512``); a time
    the calendar cannot show, as seconds (``1e+20 s since 1970``)."""
    split = _split(seconds)
    if split is not None:
        whole, micros = split
        minute = _minute if _minute[0] <= whole < _minute[1] else _minute_of(whole)
        if minute is not None:
            return f"{minute[2]}{_SECONDS[whole - minute[0]]}.{micros:06d}"
    return f"{seconds:.6g} s since 1970"


def endpoint_json(host: str, port: int) -> dict[str, Any]:
    """One end of a datagram: ``{"host": "192.168.1.5", "port": 3610}`` (docs/json.md: a peer or local address)."""
    return {"host": host, "port": port}


def capture_record(
    time: float, src: str, dst: str, sport: int, dport: int, frame: Frame | None, registry: Registry
) -> dict[str, Any]:
    """The record of ``echonet decode --pcap --json`` for a datagram: ``time`` (:func:`capture_time_json`),
    ``src`` and ``dst`` (:func:`endpoint_json`) and, when its payload decoded, ``frame`` (:func:`frame_json`). The
    command line adds what else it knows (a decode error, bytes after the last property)."""
    out: dict[str, Any] = {
        "time": capture_time_json(time),
        "src": endpoint_json(src, sport),
        "dst": endpoint_json(dst, dport),
    }
    if frame is not None:
        out["frame"] = frame_json(frame, registry)
    return out


#: ``"src":{...},"dst":{...}`` by source, source port, destination and destination port (bounded).
_ENDS: dict[tuple[str, int, str, int], str] = {}


def capture_record_json(
    time: float, src: str, dst: str, sport: int, dport: int, frame: Frame, registry: Registry
) -> str:
    """``json.dumps(capture_record(...))`` (compact, as every command prints JSON) for a datagram whose payload
    decoded to ``frame``, built from the fast renderers."""
    key = (src, sport, dst, dport)
    ends = _ENDS.get(key)
    if ends is None:
        if len(_ENDS) >= 4096:
            _ENDS.clear()
        ends = _ENDS[key] = f'"src":{_dumps(endpoint_json(src, sport))},"dst":{_dumps(endpoint_json(dst, dport))}'
    minute = _minute
    try:
        whole, micros = divmod(round(time * 1e6), _MICRO)
    except (OverflowError, ValueError):
        whole, micros = 0, -1
    if micros >= 0 and minute[0] <= whole < minute[1]:  # capture_time_json, inline
        shown = f'"{minute[3]}{_SECONDS[whole - minute[0]]}.{micros:06d}Z"'
    else:
        when = capture_time_json(time)
        shown = "null" if when is None else f'"{when}"'
    return f'{{"time":{shown},{ends},"frame":{_frame_json(frame, registry)}}}'


_WHERE: dict[tuple[str, int, str, int], str] = {}


def capture_record_text(
    time: float, src: str, dst: str, sport: int, dport: int, frame: Frame, registry: Registry
) -> str:
    """The lines of ``echonet decode --pcap`` for a datagram whose payload decoded to ``frame``, without the final
    newline: the time (:func:`capture_time_text`), addresses and ports, then the frame's lines (:func:`frame_lines`)."""
    key = (src, sport, dst, dport)
    where = _WHERE.get(key)
    if where is None:
        if len(_WHERE) >= 4096:
            _WHERE.clear()
        where = _WHERE[key] = f"  {src}:{sport} -> {dst}:{dport}  "
    minute = _minute
    try:
        whole, micros = divmod(round(time * 1e6), _MICRO)
    except (OverflowError, ValueError):
        return _frame_text(frame, registry, capture_time_text(time) + where)
    if minute[0] <= whole < minute[1]:  # capture_time_text, inline
        return _frame_text(frame, registry, f"{minute[2]}{_SECONDS[whole - minute[0]]}.{micros:06d}{where}")
    return _frame_text(frame, registry, capture_time_text(time) + where)
