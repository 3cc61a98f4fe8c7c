"""A Lua dissector for Wireshark generated from the spec tables (``echonet wireshark-export DIR``).

The dissector (one file, ``echonet.lua``) registers on UDP port 3610 and shows, field for field, what
``echonet decode --json`` prints: the header (``echonet.ehd1``, ``ehd2``, ``tid``), the objects with their class
names (``seoj``, ``seoj_class``, ``deoj``, ``deoj_class``), the service (``esv``, ``esv_code``), and one subtree
per property (``echonet.property``) with ``epc``, ``name``, ``key``, ``standard``, ``pdc``, ``edt`` and the typed
value: ``valid``, ``value`` (the value as the JSON text ``decode --json`` gives it), ``unit``, ``special``,
``error``; SetGet's two lists are marked by ``echonet.half`` (``set``, ``get``); EHD2 0x82 is ``echonet.edata``
(opaque). Records of the secure overlay (EHD1 0x21) are shown by kind (``echonet.secure.record``: handshake,
cookie, data, close, unknown_context) with their framing fields (connection id, cookie, kid, partial IV,
sequence number, length).

Typed values are generated from the tables, so that they are the decoder's own:

- a property whose EDT is one byte (enumerations, levels, one-byte numbers and bitmaps) gets a table of all 256
  EDTs, each decoded here by the Python decoder;
- a number of 2 to 4 bytes (no coefficients, no list of allowed values) is decoded in Lua from its format, range,
  special codes, scale and unit, with the texts (out of range, the special codes) taken from the Python decoder;
- property maps are decoded in both forms (list below 16 EPCs, bitmap from 16);
- raw data and EPCs no table defines are shown as hex;
- the rest (records, arrays, dates, times, text, identification numbers, numbers scaled by other properties) are
  shown with their EDT and without a typed value (``echonet.typed`` = ``no``).

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
from ..spec.registry import Registry
from ..spec.types import Number, PropertyMapType, Raw

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


def _number_spec(registry: Registry, class_id: int, epc: int, t: Number) -> str | None:
    size = t.min_size
    if size not in (2, 3, 4) or t.allowed is not None or t.coefficients:
        return None
    signed = t.signed
    lowest, highest = (-(1 << (8 * size - 1)), (1 << (8 * size - 1)) - 1) if signed else (0, (1 << (8 * size)) - 1)
    lo = lowest if t.minimum is None else t.minimum
    hi = highest if t.maximum is None else t.maximum
    sample = _prop(registry, class_id, epc, max(lo, min(hi, 0)).to_bytes(size, "big", signed=signed))
    if sample.get("valid") is not True or "value" not in sample:
        return None
    specials = []
    for special in t.specials:
        raw = special.code
        doc = _prop(registry, class_id, epc, raw.to_bytes(size, "big"))
        specials.append(f"[{int.from_bytes(raw.to_bytes(size, 'big'), 'big', signed=signed)}]={_typed(doc)}")
    error = None
    for raw in (hi + 1, lo - 1):
        if lowest <= raw <= highest:
            doc = _prop(registry, class_id, epc, raw.to_bytes(size, "big", signed=signed))
            if doc.get("valid") is False:
                error = doc["error"]
                break
    unit = sample.get("unit")
    is_float = t.scale != 1
    return (
        f"{{k='n',n={size},sg={'true' if signed else 'false'},lo={lo},hi={hi},sc={t.scale!r},d={t.decimals},"
        f"f={'true' if is_float else 'false'},sp={{{','.join(specials)}}}"
        + (f",u={_lua_str(unit)}" if unit else "")
        + (f",e={_lua_str(error)}" if error else "")
        + "}"
    )


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
        return "{k='t',t={" + ",".join(f"[{i}]={r}" for i, r in enumerate(rows)) + "}}"
    if isinstance(t, Number):
        spec = _number_spec(registry, class_id, epc, t)
        return spec if spec is not None else "{k='-'}"
    if isinstance(t, PropertyMapType):
        return "{k='m'}"
    if isinstance(t, Raw):
        return f"{{k='r',a={t.min_size},b={t.max_size}}}"
    return "{k='-'}"


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

local function map_json(b)
  local epcs = {}
  local n = #b
  if n < 1 then return nil end
  local count = b:byte(1)
  if count < 16 then
    if n ~= 1 + count then return nil end
    for i = 2, n do epcs[#epcs + 1] = b:byte(i) end
  else
    if n ~= 17 then return nil end
    for i = 0, 15 do
      local byte = b:byte(2 + i)
      for bit = 0, 7 do
        if has_bit(byte, bit) then epcs[#epcs + 1] = 0x80 + bit * 16 + i end
      end
    end
  end
  table.sort(epcs)
  local out = {}
  for i, e in ipairs(epcs) do
    -- (what the decoder refuses, a count that disagrees, a repeated or low EPC, is left untyped here)
    if e < 0x80 or (i > 1 and epcs[i - 1] == e) then return nil end
    out[#out + 1] = string.format('"0x%02X"', e)
  end
  if #out ~= count then return nil end
  return "[" .. table.concat(out, ",") .. "]"
end

local function add_typed(tree, t, b)
  -- the typed value of a non-empty EDT: {valid, value, unit, special, error}, or nothing (typed = no)
  local r
  if t.k == "x" then
    r = {v = true, j = json_str(hex(b))}
  elseif t.k == "t" then
    if #b == 1 then r = t.t[b:byte(1)] end
  elseif t.k == "r" then
    if #b >= t.a and #b <= t.b then r = {v = true, j = json_str(hex(b))} end
  elseif t.k == "m" then
    local j = map_json(b)
    if j then r = {v = true, j = j} end
  elseif t.k == "n" then
    if #b == t.n then
      local raw = 0
      for i = 1, #b do raw = raw * 256 + b:byte(i) end
      if t.sg and raw >= 2 ^ (8 * t.n - 1) then raw = raw - 2 ^ (8 * t.n) end
      if raw >= t.lo and raw <= t.hi then
        local j
        if t.f then j = scaled_text(raw * t.sc, t) else j = string.format("%.0f", raw) end
        r = {v = true, j = j, u = t.u}
      elseif t.sp[raw] then
        r = t.sp[raw]
      elseif t.e then
        r = {v = false, e = t.e}
      end
    end
  end
  if r == nil then tree:add(F.typed, "no"); return end
  tree:add(F.valid, r.v and "true" or "false")
  if r.e then tree:add(F.error, r.e) end
  if r.j then tree:add(F.value, r.j) end
  if r.s then tree:add(F.special, "true") end
  if r.u and not r.s then tree:add(F.unit, r.u) end
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

local function dissect_secure(buf, tree)
  local t = tree:add(proto, buf(), "ECHONET Lite secure overlay record")
  local n = buf:len()
  local kind = n > 1 and KINDS[buf(1, 1):uint()] or "unknown"
  t:add(F["secure.record"], kind)
  if n < 3 then return end
  if kind == "handshake" or kind == "cookie" then
    local l = buf(2, 1):uint()
    if 3 + l > n then return end
    local id = l > 0 and hex(buf:raw(3, l)) or ""
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
    dissect_secure(buf, tree)
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
