"""A Lua dissector for Wireshark generated from the spec tables (``echonet wireshark-export DIR``).

The dissector (one file, ``echonet.lua``) registers on UDP port 3610 and shows, field for field, what
``echonet decode --json`` prints: the header (``echonet.ehd1``, ``ehd2``, ``tid``), the objects with their class
names (``seoj``, ``seoj_class``, ``deoj``, ``deoj_class``), the service (``esv``, ``esv_code``), and one subtree
per property (``echonet.property``) with ``epc``, ``name``, ``key``, ``standard``, ``pdc``, ``edt`` and the typed
value: ``valid``, ``value`` (the value as the JSON text ``decode --json`` gives it), ``unit``, ``special``,
``error``; SetGet's two lists are marked by ``echonet.half`` (``set``, ``get``); EHD2 0x82 is ``echonet.edata``
(opaque). Records of the secure overlay (EHD1 0x21) are shown by kind (``echonet.secure.record``: handshake,
cookie, data, close, unknown_context) with their framing fields (connection id, cookie, kid, partial IV,
sequence number, length) and, for handshake records, the EDHOC message by name (``echonet.secure.message``, named
as ``decode`` names it: from the CBOR form and what the same pair of addresses sent before).

Typed values are generated from the tables, so that they are the decoder's own:

- a property whose EDT is one byte (enumerations, levels, one-byte numbers and bitmaps) gets a table of all 256
  EDTs, each decoded here by the Python decoder;
- every other type of the tables (numbers of any size with their range, special codes, scale and unit;
  enumerations and codes of several bytes; levels; bitmaps; dates, times and date-times; text; raw data; records
  of fields; arrays; alternatives such as a number or codes; property maps in both forms; instance and class
  lists; version information; identification numbers) is described to the dissector as data (``_type_lua``: the
  type's sizes, ranges, names and codes, its fields or options) and decoded in Lua by one function per kind that
  follows the Python decoder, reasons for an invalid EDT included;
- EPCs no table defines are shown as hex;
- numbers scaled by other properties (the Appendix's coefficients; none in the built-in tables) are shown with
  their EDT and without a typed value (``echonet.typed`` = ``no``).

Install: copy ``echonet.lua`` into Wireshark's personal plugin folder (``~/.local/lib/wireshark/plugins/`` on
Linux, ``%APPDATA%\\Wireshark\\plugins`` on Windows; Help > About Wireshark > Folders shows it), or run
``tshark -X lua_script:echonet.lua``.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from ..describe import class_name, decode_properties, property_json
from ..frame import EOJ, ESV, Property, esv_name
from ..propmap import MAX_LISTED_CLASSES, MAX_LISTED_INSTANCES
from ..spec.identity import (
    IDENTIFICATION_SIZE,
    MANUFACTURER_FORM,
    MESSAGE_FORMATS,
    RELEASE_A_BYTE,
    AppendixReleaseType,
    IdentificationType,
    ProtocolVersionType,
)
from ..spec.registry import Registry
from ..spec.types import (
    Array,
    Bitmap,
    ClassListType,
    Date,
    DateTime,
    Enum,
    InstanceListType,
    Level,
    Number,
    NumericCode,
    Object,
    OneOf,
    PropertyMapType,
    Raw,
    Text,
    Time,
    ValueType,
)

__all__ = ["PLUGIN_NAME", "generate_dissector", "write_dissector"]

PLUGIN_NAME = "echonet.lua"
_UNKNOWN_CLASS = 0x0999  # a class no table defines: the names of the EPCs of such a class


def _lua_str(text: str) -> str:
    """A Lua string literal (decimal escapes for every byte outside printable ASCII)."""
    out = []
    for byte in text.encode("utf-8"):
        ch = chr(byte)
        if ch in '\\"' or byte < 0x20 or byte > 0x7E:
            out.append(f"\\{byte:03d}")
        else:
            out.append(ch)
    return '"' + "".join(out) + '"'


def _json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def _prop(registry: Registry, class_id: int, epc: int, edt: bytes) -> dict[str, Any]:
    eoj = EOJ(class_id >> 8, class_id & 0xFF, 1)
    return property_json(decode_properties(registry, eoj, [Property(epc, edt)])[0])


def _typed(doc: dict[str, Any]) -> str:
    """The Lua table of what a property record says about its value: {valid, value, unit, special, error}."""
    parts = [f"v={'true' if doc.get('valid') else 'false'}"]
    if "value" in doc:
        parts.append(f"j={_lua_str(_json(doc['value']))}")
    for name, key in (("unit", "u"), ("error", "e")):
        if name in doc:
            parts.append(f"{key}={_lua_str(str(doc[name]))}")
    if doc.get("special"):
        parts.append("s=true")
    if "unscaled" in doc:
        return ""
    return "{" + ",".join(parts) + "}"


def _lua_bytes(data: bytes) -> str:
    """A Lua string literal holding ``data`` byte for byte."""
    return '"' + "".join(f"\\{b:03d}" for b in data) + '"'


def _js(value: Any) -> str:
    """A value's JSON text (as ``decode --json`` prints it) as a Lua string literal."""
    return _lua_str(_json(value))


def _bool(flag: bool) -> str:
    return "true" if flag else "false"


def _number_lua(t: Number) -> str:
    size, signed = t.min_size, t.signed
    lowest, highest = (-(1 << (8 * size - 1)), (1 << (8 * size - 1)) - 1) if signed else (0, (1 << (8 * size)) - 1)
    lo = lowest if t.minimum is None else t.minimum
    hi = highest if t.maximum is None else t.maximum
    specials = []
    for special in t.specials:
        raw = int.from_bytes(special.code.to_bytes(size, "big"), "big", signed=signed)
        specials.append(f"[{raw}]={_js(str(special))}")
    allowed = "" if t.allowed is None else ",al={" + ",".join(f"[{v}]=true" for v in sorted(t.allowed)) + "}"
    return (
        f"{{k='n',n={size},sg={_bool(signed)},lo={lo},hi={hi},sc={t.scale!r},d={t.decimals},"
        f"f={_bool(isinstance(t.scale, float))},sp={{{','.join(specials)}}},u={_lua_str(t.unit)},"
        f"oor={_lua_str(f'out of range {t.span_text}')}{allowed}}}"
    )


def _type_lua(t: ValueType) -> str | None:
    """The Lua description of a value type for the dissector's decoder (``dec``); ``None`` for a type it lacks."""
    kind = type(t)
    st = _lua_str(t.size_text)
    if kind is Number:
        assert isinstance(t, Number)
        return None if t.coefficients else _number_lua(t)
    if kind is Enum:
        assert isinstance(t, Enum)
        values = ",".join(f"[{c}]={_js(n)}" for c, n in t.values.items())
        ranges = ",".join(f"{{{lo},{hi},{_lua_str(_json(n)[1:-1])}}}" for lo, hi, n in t.ranges)
        return f"{{k='e',n={t.size},st={st},v={{{values}}},rg={{{ranges}}}}}"
    if kind is NumericCode:
        assert isinstance(t, NumericCode)
        values = ",".join(f"[{c}]={_js(v)}" for c, v in t.values.items())
        return f"{{k='c',n={t.size},st={st},v={{{values}}}}}"
    if kind is Level:
        assert isinstance(t, Level)
        error = f"not a level (0x{t.base:02X}-0x{t.base + t.maximum - 1:02X} are levels 1-{t.maximum})"
        return f"{{k='l',b={t.base},m={t.maximum},e={_lua_str(error)}}}"
    if kind is Raw:
        return f"{{k='r',a={t.min_size},b={t.max_size},st={st}}}"
    if kind is Text:
        return f"{{k='tx',a={t.min_size},b={t.max_size},st={st}}}"
    if kind is Bitmap:
        assert isinstance(t, Bitmap)
        masks = [0] * t.size
        for f in t.fields:
            if 0 <= f.index < t.size:
                masks[f.index] |= f.mask
        fields = []
        for f in t.fields:
            shift = (f.mask & -f.mask).bit_length() - 1
            values = "" if f.values is None else ",v={" + ",".join(f"[{b}]={_js(n)}" for b, n in f.values.items()) + "}"
            fields.append(f"{{nm={_js(f.name)},raw={_lua_str(f.name)},i={f.index},m={f.mask},sh={shift}{values}}}")
        return f"{{k='bm',n={t.size},st={st},mk={{{','.join(map(str, masks))}}},f={{{','.join(fields)}}}}}"
    if kind is Date:
        return f"{{k='d',n={t.min_size},st={st}}}"
    if kind is Time:
        assert isinstance(t, Time)
        return f"{{k='tm',n={t.size},h={t.max_hour},st={st}}}"
    if kind is DateTime:
        return f"{{k='dt',n={t.min_size},st={st}}}"
    if kind is Array:
        assert isinstance(t, Array)
        item = _type_lua(t.item)
        return None if item is None else f"{{k='a',it={item},is={t.item_size},mn={t.min_items},mx={t.max_items}}}"
    if kind is Object:
        assert isinstance(t, Object)
        fields = []
        for member in t.fields:
            inner = _type_lua(member.type)
            if inner is None:
                return None
            mn, mx = member.type.min_size, member.type.max_size
            fields.append(f"{{nm={_js(member.name)},raw={_lua_str(member.name)},t={inner},mn={mn},mx={mx}}}")
        return f"{{k='o',mn={t.min_size},mx={t.max_size},st={st},f={{{','.join(fields)}}}}}"
    if kind is OneOf:
        assert isinstance(t, OneOf)
        order = sorted(t.options, key=lambda o: 0 if isinstance(o, Enum | NumericCode) else 1)
        options = []
        for o in order:
            inner = _type_lua(o)
            if inner is None:
                return None
            options.append(inner[:-1] + f",cd={_bool(isinstance(o, Enum | NumericCode))}}}")
        specials = t.specials
        sp = ",".join(f"[{_lua_bytes(s.code.to_bytes(s.size, 'big'))}]={_js(str(s))}" for s in specials)
        listed = ""
        if specials:
            text = " or ".join(s.text for s in specials[:3]) + (
                f" or {len(specials) - 3} more" if len(specials) > 3 else ""
            )
            listed = f",ls={_lua_str(text)}"
        units = {o.unit for o in t.options if isinstance(o, Number)}
        unit = f",u1={_lua_str(units.pop())}" if len(units) == 1 else ""
        return f"{{k='u',o={{{','.join(options)}}},sp={{{sp}}}{listed}{unit}}}"
    if kind is PropertyMapType:
        return "{k='m'}"
    if kind is InstanceListType:
        return f"{{k='il',mx={MAX_LISTED_INSTANCES}}}"
    if kind is ClassListType:
        return f"{{k='cl',mx={MAX_LISTED_CLASSES}}}"
    if kind is ProtocolVersionType:
        formats = ",".join(f"{{{bit},{_js(name)}}}" for bit, name in sorted(MESSAGE_FORMATS.items()))
        return f"{{k='pv',st={st},fm={{{formats}}}}}"
    if kind is AppendixReleaseType:
        return f"{{k='ar',st={st},a={RELEASE_A_BYTE}}}"
    if kind is IdentificationType:
        return f"{{k='id',st={st},n={IDENTIFICATION_SIZE},fe={MANUFACTURER_FORM}}}"
    return None


def _value_spec(registry: Registry, class_id: int, epc: int) -> str:
    """The Lua description of how to show the typed value of (class, EPC)."""
    definition = registry.property(class_id, epc)
    if definition is None:
        return "{k='x'}"  # raw hex, any size
    t = definition.type
    if definition.coefficients:
        return "{k='-'}"
    if t.min_size == 1 and t.max_size == 1:
        rows = []
        for b in range(256):
            typed = _typed(_prop(registry, class_id, epc, bytes((b,))))
            if not typed:
                return "{k='-'}"
            rows.append(typed)
        other = _type_lua(t)  # (an EDT of another size: the reason from the type's decoder)
        table = ",".join(f"[{i}]={r}" for i, r in enumerate(rows))
        return "{k='t',t={" + table + "}" + ("" if other is None else f",g={other}") + "}"
    spec = _type_lua(t)
    return spec if spec is not None else "{k='-'}"


def _class_table(registry: Registry, class_id: int) -> str:
    entries = []
    for epc in range(256):
        doc = _prop(registry, class_id, epc, b"")
        name = doc["name"]
        fields = [f"nm={_lua_str(name)}"]
        if "key" in doc:
            fields.append(f"ky={_lua_str(doc['key'])}")
        if doc.get("standard") is False:
            fields.append("ns=true")
        fields.append(f"ty={_value_spec(registry, class_id, epc)}")
        entries.append(f"[{epc}]={{{','.join(fields)}}}")
    return "{\n  " + ",\n  ".join(entries) + "\n}"


def generate_dissector(registry: Registry) -> str:
    """The text of ``echonet.lua`` for the classes of ``registry``."""
    classes = sorted(c.class_id for c in registry)
    class_tables = [f"CLASSES[{cid}] = {_class_table(registry, cid)}" for cid in classes]
    names = ",\n  ".join(f"[{cid}]={_lua_str(class_name(registry, EOJ(cid >> 8, cid & 0xFF, 1)))}" for cid in classes)
    esvs = ",".join(f"[{int(e)}]={_lua_str(esv_name(e))}" for e in ESV)
    return _TEMPLATE.replace("@CLASS_NAMES@", names).replace("@ESV_NAMES@", esvs).replace(
        "@CLASS_TABLES@", "\n".join(class_tables)
    ).replace("@UNKNOWN@", _class_table(registry, _UNKNOWN_CLASS)).replace("@SETGET@", ",".join(
        str(int(e)) for e in (ESV.SETGET, ESV.SETGET_RES, ESV.SETGET_SNA)
    ))  # fmt: skip


def write_dissector(directory: str | os.PathLike[str], registry: Registry) -> Path:
    """Write ``echonet.lua`` into ``directory`` (created if needed); return its path."""
    folder = Path(directory)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / PLUGIN_NAME
    path.write_text(generate_dissector(registry), encoding="utf-8")
    return path


_TEMPLATE = r"""-- ECHONET Lite dissector generated by `echonet wireshark-export` from the spec tables of echonet-da.
-- Field for field what `echonet decode --json` prints (see echonet/capture/wireshark.py). Do not edit: regenerate.
local proto = Proto("echonet", "ECHONET Lite")
local F = {}
local function sf(name, label) F[name] = ProtoField.string("echonet." .. name, label) end
for _, n in ipairs({"ehd1", "ehd2", "tid", "seoj", "seoj_class", "deoj", "deoj_class", "esv", "esv_code", "opc",
    "edata", "property", "half", "epc", "name", "key", "standard", "pdc", "edt", "valid", "value", "unit", "special",
    "error", "typed", "malformed"}) do sf(n, n) end
for _, n in ipairs({"record", "message", "connection_id", "cookie", "kid", "partial_iv", "sequence", "length"}) do
  F["secure." .. n] = ProtoField.string("echonet.secure." .. n, n)
end
local fields = {}
for _, f in pairs(F) do fields[#fields + 1] = f end
proto.fields = fields

local CLASS_NAMES = {
  @CLASS_NAMES@
}
local ESV_NAMES = {@ESV_NAMES@}
local SETGET = {}
for _, e in ipairs({@SETGET@}) do SETGET[e] = true end
local CLASSES = {}
@CLASS_TABLES@
local UNKNOWN = @UNKNOWN@

-- (Lua 5.2 to 5.4: no bitwise operators, numbers may be floats)
local function has_bit(x, n) return math.floor(x / 2 ^ n) % 2 == 1 end
local function hex(bytes) return (bytes:gsub(".", function(c) return string.format("%02x", c:byte()) end)) end
local function eoj_text(g, c, i) return string.format("%02X%02X%02X", g, c, i) end
local function class_text(g, c)
  local cid = g * 256 + c
  if CLASS_NAMES[cid] then return CLASS_NAMES[cid] end
  if g == 0x0F then return "user-defined class" end
  return string.format("unknown class 0x%04X", cid)
end
local function json_str(s) return '"' .. s .. '"' end

local function scaled_text(v, t)
  -- Python: round(raw * scale, decimals) as a float, shown as its shortest repr (no exponent in these ranges)
  local s = string.format("%." .. t.d .. "f", v)
  if s:find("%.") then s = s:gsub("0+$", ""):gsub("%.$", ".0") else s = s .. ".0" end
  if s == "-0.0" then s = "-0.0" end
  return s
end

local function fmt(...) return string.format(...) end
local function uint(b) local v = 0 for i = 1, #b do v = v * 256 + b:byte(i) end return v end
local function band(a, m)  -- a AND m for bytes (no bitwise operators in Lua 5.2)
  local r, bit = 0, 1
  for _ = 0, 7 do
    if a % 2 == 1 and m % 2 == 1 then r = r + bit end
    a, m, bit = math.floor(a / 2), math.floor(m / 2), bit * 2
  end
  return r
end
local function bin8(x) local s = "" for i = 7, 0, -1 do s = s .. (has_bit(x, i) and "1" or "0") end return s end
local function jtext(s) return '"' .. (s:gsub('[\\"]', '\\%0')) .. '"' end
local function piece(p) if #p > 0 and #p <= 8 then return " (0x" .. hex(p):upper() .. ")" end return "" end
local function size_err(n, st) return "EDT of " .. n .. " byte(s), expected " .. st end
local function d2(b) return fmt("%02d", b) end

-- dec(t, b): the typed value of EDT b for type t, as decode --json gives it:
-- true, JSON text, is a special code, is a number  |  false, the reason it is no value
local D = {}
local function dec(t, b) return D[t.k](t, b) end

D.x = function(t, b) return true, jtext(hex(b)) end
D.r = function(t, b)
  if #b < t.a or #b > t.b then return false, size_err(#b, t.st) end
  return true, jtext(hex(b))
end
D.n = function(t, b)
  if #b ~= t.n then return false, size_err(#b, t.n) end
  local raw = uint(b)
  if t.sg and raw >= 2 ^ (8 * t.n - 1) then raw = raw - 2 ^ (8 * t.n) end
  if raw >= t.lo and raw <= t.hi and (t.al == nil or t.al[raw]) then
    if t.f then return true, scaled_text(raw * t.sc, t), false, true end
    return true, fmt("%.0f", raw * t.sc), false, true
  end
  if t.sp[raw] then return true, t.sp[raw], true, false end
  return false, t.oor
end
local function num_ok(t, b)
  if #b ~= t.n then return false end
  local raw = uint(b)
  if t.sg and raw >= 2 ^ (8 * t.n - 1) then raw = raw - 2 ^ (8 * t.n) end
  return raw >= t.lo and raw <= t.hi and (t.al == nil or t.al[raw] == true)
end
D.e = function(t, b)
  if #b ~= t.n then return false, size_err(#b, t.st) end
  local code = uint(b)
  if t.v[code] then return true, t.v[code] end
  for _, r in ipairs(t.rg) do
    if code >= r[1] and code <= r[2] then return true, '"' .. r[3] .. fmt(":0x%0" .. (2 * t.n) .. "X", code) .. '"' end
  end
  return false, "not a defined code"
end
D.c = function(t, b)
  if #b ~= t.n then return false, size_err(#b, t.st) end
  local v = t.v[uint(b)]
  if v then return true, v, false, true end
  return false, "not a defined code"
end
D.l = function(t, b)
  if #b ~= 1 then return false, size_err(#b, "1") end
  local level = b:byte(1) - t.b + 1
  if level < 1 or level > t.m then return false, t.e end
  return true, tostring(level), false, true
end
D.tx = function(t, b)
  if #b < t.a or #b > t.b then return false, size_err(#b, t.st) end
  local n = #b
  while n > 0 and (b:byte(n) == 0 or b:byte(n) == 32) do n = n - 1 end
  for i = 1, n do
    local c = b:byte(i)
    if c < 0x20 or c > 0x7E then return false, fmt("byte 0x%02X at offset %d is not printable ASCII", c, i - 1) end
  end
  return true, jtext(b:sub(1, n))
end
D.bm = function(t, b)
  if #b ~= t.n then return false, size_err(#b, t.st) end
  for i = 1, t.n do
    local extra = band(b:byte(i), 255 - t.mk[i])
    if extra ~= 0 then return false, fmt("bits 0b%s of byte %d are not defined", bin8(extra), i - 1) end
  end
  local out = {}
  for _, f in ipairs(t.f) do
    local bits = math.floor(band(b:byte(f.i + 1), f.m) / 2 ^ f.sh)
    local v
    if f.v == nil then v = fmt("%d", bits) else
      v = f.v[bits]
      if v == nil then return false, fmt("%s: %d is not a defined value", f.raw, bits) end
    end
    out[#out + 1] = f.nm .. ":" .. v
  end
  return true, "{" .. table.concat(out, ",") .. "}"
end
local DAYS = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31}
local function date_problem(year, month, day)
  if month < 1 or month > 12 then return fmt("month %d is not a month", month) end
  if day == nil then return nil end
  local leap = year % 4 == 0 and (year % 100 ~= 0 or year % 400 == 0)
  local days = (month == 2 and not leap) and 28 or DAYS[month]
  if day >= 1 and day <= days then return nil end
  return fmt("day %d is not a day of %04d-%02d", day, year, month)
end
local function time_problem(b, max_hour)
  if b:byte(1) > max_hour then return fmt("hour %d is above %d", b:byte(1), max_hour) end
  local parts, over = {}, false
  for i = 1, #b do parts[i] = d2(b:byte(i)); if i > 1 and b:byte(i) > 59 then over = true end end
  if over then return table.concat(parts, ":") .. " has minutes or seconds above 59" end
  return nil
end
D.d = function(t, b)
  if #b ~= t.n then return false, size_err(#b, t.st) end
  local year = b:byte(1) * 256 + b:byte(2)
  local text = fmt("%04d-%02d", year, b:byte(3)) .. (t.n == 4 and fmt("-%02d", b:byte(4)) or "")
  local problem = date_problem(year, b:byte(3), t.n == 4 and b:byte(4) or nil)
  if problem then return false, text .. " is not a date: " .. problem end
  return true, '"' .. text .. '"'
end
D.tm = function(t, b)
  if #b ~= t.n then return false, size_err(#b, t.st) end
  local problem = time_problem(b, t.h)
  if problem then return false, "not a time: " .. problem end
  local parts = {}
  for i = 1, #b do parts[i] = d2(b:byte(i)) end
  return true, '"' .. table.concat(parts, ":") .. '"'
end
D.dt = function(t, b)
  if #b ~= t.n then return false, size_err(#b, t.st) end
  local year = b:byte(1) * 256 + b:byte(2)
  local parts = {}
  for i = 5, #b do parts[#parts + 1] = d2(b:byte(i)) end
  local text = fmt("%04d-%02d-%02dT", year, b:byte(3), b:byte(4)) .. table.concat(parts, ":")
  local problem = date_problem(year, b:byte(3), b:byte(4)) or time_problem(b:sub(5), 23)
  if problem then return false, text .. " is not a date and time: " .. problem end
  return true, '"' .. text .. '"'
end
D.a = function(t, b)
  local size = t.is
  if #b % size ~= 0 then return false, fmt("EDT of %d byte(s) is not a whole number of %d-byte items", #b, size) end
  local count = #b / size
  if count < t.mn or count > t.mx then return false, fmt("%d items, expected %d..%d", count, t.mn, t.mx) end
  local out = {}
  for i = 0, count - 1 do
    local part = b:sub(i * size + 1, (i + 1) * size)
    local ok, j = dec(t.it, part)
    if not ok then return false, fmt("item %d", i) .. piece(part) .. ": " .. j end
    out[#out + 1] = j
  end
  return true, "[" .. table.concat(out, ",") .. "]"
end
D.o = function(t, b)
  if #b < t.mn or #b > t.mx then return false, size_err(#b, t.st) end
  local out, pos, nf = {}, 0, #t.f
  for i, f in ipairs(t.f) do
    local size
    if i < nf then
      size = f.mn
      if f.mn ~= f.mx then
        local rest = 0
        for k = i + 1, nf do rest = rest + t.f[k].mn end
        size = math.min(f.mx, #b - pos - rest)
      end
    else
      size = #b - pos
    end
    local part = b:sub(pos + 1, pos + size)
    local ok, j = dec(f.t, part)
    if not ok then return false, f.raw .. piece(part) .. ": " .. j end
    out[#out + 1] = f.nm .. ":" .. j
    pos = pos + #part
  end
  return true, "{" .. table.concat(out, ",") .. "}"
end
D.u = function(t, b)
  if t.sp[b] then return true, t.sp[b], true, false end
  local limit
  local reasons, seen = {}, {}
  for _, o in ipairs(t.o) do
    local ok, j, sp, num = dec(o, b)
    if not ok then
      if not o.cd and not seen[j] then seen[j] = true; reasons[#reasons + 1] = j end
    elseif sp and o.k == "n" then
      if limit == nil then limit = j end
    else
      return true, j, sp, num
    end
  end
  if limit then return true, limit, true, false end
  if #reasons == 0 then return false, "not a defined code" end
  local text = table.concat(reasons, "; ")
  if t.ls then text = text .. ", and not " .. t.ls end
  return false, text
end
D.m = function(t, b)
  local n = #b
  if n == 0 then return false, "empty property map (at least the count byte is needed)" end
  local count = b:byte(1)
  local set, epcs = {}, {}
  if count < 16 then
    if n ~= count + 1 then
      return false, fmt("property map lists %d EPCs but carries %d byte(s) after the count", count, n - 1)
    end
    local low
    for i = 2, n do
      local e = b:byte(i)
      if not set[e] then set[e] = true; epcs[#epcs + 1] = e; if low == nil or e < low then low = e end end
    end
    if #epcs ~= count then return false, "property map lists an EPC twice" end
    if low and low < 0x80 then return false, fmt("property map lists EPC 0x%02X, below 0x80", low) end
  else
    if n ~= 17 then return false, fmt("property map of %d EPCs must be a 17-byte bitmap, got %d bytes", count, n) end
    for i = 0, 15 do
      local byte = b:byte(2 + i)
      for bit = 0, 7 do
        if has_bit(byte, bit) then epcs[#epcs + 1] = 0x80 + bit * 16 + i end
      end
    end
    if #epcs ~= count then
      return false, fmt("property map bitmap holds %d EPCs but its count byte says %d", #epcs, count)
    end
  end
  table.sort(epcs)
  local out = {}
  for i, e in ipairs(epcs) do out[i] = fmt('"0x%02X"', e) end
  return true, "[" .. table.concat(out, ",") .. "]"
end
D.il = function(t, b)
  local n = #b
  if n == 0 then return false, "empty instance list (at least the count byte is needed)" end
  if (n - 1) % 3 ~= 0 then return false, fmt("instance list of %d bytes is not a count plus 3-byte EOJs", n) end
  local k = (n - 1) / 3
  if k > t.mx then return false, fmt("instance list holds %d EOJs, more than %d", k, t.mx) end
  local c = b:byte(1)
  if c ~= k and not (k == t.mx and c > k) then
    return false, fmt("instance list count %d does not match the %d EOJs listed", c, k)
  end
  local out = {}
  for i = 0, k - 1 do out[#out + 1] = '"' .. hex(b:sub(2 + 3 * i, 4 + 3 * i)):upper() .. '"' end
  return true, "[" .. table.concat(out, ",") .. "]"
end
D.cl = function(t, b)
  local n = #b
  if n == 0 then return false, "empty class list (at least the count byte is needed)" end
  if (n - 1) % 2 ~= 0 then return false, fmt("class list of %d bytes is not a count plus 2-byte class codes", n) end
  local k = (n - 1) / 2
  if k > t.mx then return false, fmt("class list holds %d classes, more than %d", k, t.mx) end
  if b:byte(1) < k then return false, fmt("class list count %d is below the %d classes listed", b:byte(1), k) end
  local out = {}
  for i = 0, k - 1 do out[#out + 1] = '"' .. hex(b:sub(2 + 2 * i, 3 + 2 * i)):upper() .. '"' end
  return true, "[" .. table.concat(out, ",") .. "]"
end
D.pv = function(t, b)
  if #b ~= 4 then return false, size_err(#b, t.st) end
  local names = {}
  for _, f in ipairs(t.fm) do if has_bit(b:byte(3), f[1]) then names[#names + 1] = f[2] end end
  return true, fmt('{"major":%d,"minor":%d,"formats":[', b:byte(1), b:byte(2)) .. table.concat(names, ",") .. "]}"
end
D.ar = function(t, b)
  if #b ~= 4 then return false, size_err(#b, t.st) end
  local code = b:byte(3)
  if code == t.a or (code >= 0x41 and code <= 0x5A) then
    return true, fmt('{"letter":"%s","revision":%d}', string.char(code):upper(), b:byte(4))
  end
  return false, fmt("release byte 0x%02X is not a release letter (A-Z, 'a' for Release A)", code)
end
D.id = function(t, b)
  if #b ~= t.n then return false, size_err(#b, t.st) end
  if b:byte(1) ~= t.fe then return false, fmt("identification number starts with 0x%02X, expected 0xFE", b:byte(1)) end
  return true, jtext(hex(b))
end

local function add_typed(tree, t, b)
  -- the typed value of a non-empty EDT: valid, then value (unit, special) or error; or typed = no
  if t.k == "-" then tree:add(F.typed, "no"); return end
  local r
  if t.k == "t" and #b == 1 then
    r = t.t[b:byte(1)]
  elseif t.k == "t" and t.g == nil then
    tree:add(F.typed, "no"); return
  else
    if t.k == "t" then t = t.g end
    local ok, j, sp, num = dec(t, b)
    if not ok then
      r = {v = false, e = j}
    else
      r = {v = true, j = j, s = sp}
      if num and not sp then
        if t.k == "n" then r.u = t.u
        elseif t.k == "u" then
          if t.u1 then r.u = t.u1 else
            for _, o in ipairs(t.o) do
              if o.k == "n" and o.u ~= "" and num_ok(o, b) then r.u = o.u; break end
            end
          end
        end
      end
    end
  end
  tree:add(F.valid, r.v and "true" or "false")
  if r.e then tree:add(F.error, r.e) end
  if r.j then tree:add(F.value, r.j) end
  if r.s then tree:add(F.special, "true") end
  if r.u and r.u ~= "" and not r.s then tree:add(F.unit, r.u) end
end

local function add_properties(tree, buf, pos, count, owner_class, half, carries)
  for _ = 1, count do
    if pos + 2 > buf:len() then return nil end
    local epc = buf(pos, 1):uint()
    local pdc = buf(pos + 1, 1):uint()
    if pos + 2 + pdc > buf:len() then return nil end
    local edt = buf:raw(pos + 2, pdc)
    local defs = CLASSES[owner_class] or UNKNOWN
    local d = defs[epc]
    local st = tree:add(F.property, buf(pos, 2 + pdc), string.format("0x%02X %s", epc, d.nm))
    if half then st:add(F.half, half) end
    st:add(F.epc, string.format("0x%02X", epc))
    st:add(F.name, d.nm)
    if d.ky then st:add(F.key, d.ky) end
    if d.ns then st:add(F.standard, "false") end
    st:add(F.pdc, tostring(pdc))
    st:add(F.edt, hex(edt))
    if pdc > 0 then add_typed(st, d.ty, edt) end
    pos = pos + 2 + pdc
  end
  return pos
end

local KINDS = {[1] = "handshake", [2] = "cookie", [3] = "data", [4] = "close", [5] = "unknown_context"}

-- EDHOC messages are named from their CBOR form and from what the same pair of addresses sent before (as
-- echonet/capture/overlay.py names them): a message_1 starts a flow; the byte strings after it are message_2
-- (responder), message_3 (initiator), message_4 (responder).
local FLOWS = {}  -- address pair -> {initiator, messages seen}
local NAMED = {}  -- packet number -> message name (Wireshark dissects a packet again when it is shown)
function proto.init() FLOWS = {}; NAMED = {} end
local HEAD = {[24] = 1, [25] = 2, [26] = 4, [27] = 8}
local function cbor_kind(p, at)
  if #p < at then return -1, 0 end
  local b = p:byte(at)
  return math.floor(b / 32), 1 + (HEAD[b % 32] or 0)
end
local FOLLOWING = {"message_2", "message_3", "message_4"}
local function message_name(src, dst, p)
  local major, head = cbor_kind(p, 1)
  local pair = src < dst and (src .. " " .. dst) or (dst .. " " .. src)
  if major == 0 then
    local second = cbor_kind(p, 1 + head)
    if p:byte(1) <= 3 and #p > 34 and (second == 0 or second == 1 or second == 4) then
      FLOWS[pair] = {src, 1}
      return "message_1"
    end
    return "error"
  end
  if major == 1 then return "error" end
  if major == 2 then
    local flow = FLOWS[pair]
    if flow == nil then return "message_2_3_or_4" end
    local want = FOLLOWING[flow[2]]
    if want == nil or (src == flow[1]) ~= (flow[2] == 2) then return "message_2_3_or_4" end
    FLOWS[pair] = {flow[1], flow[2] + 1}
    return want
  end
  return "unknown"
end
local function named(pinfo, payload)
  local key = pinfo.number
  if not pinfo.visited or NAMED[key] == nil then
    NAMED[key] = message_name(tostring(pinfo.src), tostring(pinfo.dst), payload)
  end
  return NAMED[key]
end

local function dissect_secure(buf, pinfo, tree)
  local t = tree:add(proto, buf(), "ECHONET Lite secure overlay record")
  local n = buf:len()
  local kind = n > 1 and KINDS[buf(1, 1):uint()] or "unknown"
  t:add(F["secure.record"], kind)
  if n < 3 then return end
  if kind == "handshake" or kind == "cookie" then
    local l = buf(2, 1):uint()
    if 3 + l > n then return end
    local id = l > 0 and hex(buf:raw(3, l)) or ""
    local payload = n > 3 + l and buf:raw(3 + l, n - 3 - l) or ""
    if kind == "handshake" or #payload > 0 then t:add(F["secure.message"], named(pinfo, payload)) end
    t:add(F[kind == "handshake" and "secure.connection_id" or "secure.cookie"], id)
    t:add(F["secure.length"], tostring(n - 3 - l))
  elseif kind == "data" or kind == "close" then
    local flags = buf(2, 1):uint()
    local piv_len = flags % 8
    local pos = 3 + piv_len
    if pos > n then return end
    local piv = buf:raw(3, piv_len)
    local seq = 0
    for i = 1, #piv do seq = seq * 256 + piv:byte(i) end
    if has_bit(flags, 3) then
      local kl = buf(pos, 1):uint()
      t:add(F["secure.kid"], kl > 0 and hex(buf:raw(pos + 1, kl)) or "")
      pos = pos + 1 + kl
    end
    t:add(F["secure.partial_iv"], hex(piv))
    t:add(F["secure.sequence"], tostring(seq))
    t:add(F["secure.length"], tostring(n - pos))
  elseif kind == "unknown_context" then
    local l = buf(2, 1):uint()
    t:add(F["secure.kid"], l > 0 and hex(buf:raw(3, l)) or "")
  end
end

function proto.dissector(buf, pinfo, tree)
  local n = buf:len()
  if n < 1 then return 0 end
  if buf(0, 1):uint() == 0x21 then
    pinfo.cols.protocol = "ECHONET-SEC"
    dissect_secure(buf, pinfo, tree)
    return n
  end
  if n < 4 or buf(0, 1):uint() ~= 0x10 then return 0 end
  pinfo.cols.protocol = "ECHONET Lite"
  local t = tree:add(proto, buf(), "ECHONET Lite")
  local ehd2 = buf(1, 1):uint()
  t:add(F.ehd1, "0x10")
  t:add(F.ehd2, string.format("0x%02X", ehd2))
  t:add(F.tid, tostring(buf(2, 2):uint()))
  if ehd2 == 0x82 then
    t:add(F.edata, hex(buf:raw(4, n - 4)))
    return n
  end
  if ehd2 ~= 0x81 or n < 12 then t:add(F.malformed, "true"); return n end
  local s1, s2, s3 = buf(4, 1):uint(), buf(5, 1):uint(), buf(6, 1):uint()
  local d1, d2, d3 = buf(7, 1):uint(), buf(8, 1):uint(), buf(9, 1):uint()
  local esv = buf(10, 1):uint()
  t:add(F.seoj, eoj_text(s1, s2, s3))
  t:add(F.seoj_class, class_text(s1, s2))
  t:add(F.deoj, eoj_text(d1, d2, d3))
  t:add(F.deoj_class, class_text(d1, d2))
  t:add(F.esv, ESV_NAMES[esv] or string.format("0x%02X", esv))
  t:add(F.esv_code, string.format("0x%02X", esv))
  local owner = (esv >= 0x60 and esv <= 0x6F) and (d1 * 256 + d2) or (s1 * 256 + s2)
  local opc = buf(11, 1):uint()
  if SETGET[esv] then
    local pos = add_properties(t, buf, 12, opc, owner, "set")
    if pos and pos < n then add_properties(t, buf, pos + 1, buf(pos, 1):uint(), owner, "get") end
  else
    add_properties(t, buf, 12, opc, owner, nil)
  end
  pinfo.cols.info = string.format("%s %s -> %s", ESV_NAMES[esv] or string.format("0x%02X", esv),
    eoj_text(s1, s2, s3), eoj_text(d1, d2, d3))
  return n
end

DissectorTable.get("udp.port"):add(3610, proto)
"""
