"""Loader for the ECHONET Consortium's Machine Readable Appendix (MRA, JSON).

Point ``ECHONET_MRA_DIR`` (or ``echonet --mra DIR``) at the MRA directory (the one holding ``metaData.json``,
``definitions/``, ``devices/``, ``superClass/`` and ``nodeProfile/``) and every class it defines becomes known. The
MRA is not shipped with this project; the built-in tables are written here and checked against it by the tests.

For each EPC the loader keeps the definition valid at the requested release (Release R by default) and records the
first release in which the EPC appeared. It keeps what the Appendix says of a number beside its ``$ref``: the EPCs
whose values multiply it (``"coefficient": ["0xE2"]``) and whether it has overflow and underflow codes
(``"overflowCode": false`` where it has none, e.g. counters that wrap to 0).

Names: a state named ``true`` / ``false`` whose descriptions say ON / OFF is named ``on`` / ``off`` (the Appendix's
names stay accepted as aliases), as the built-in tables name ON / OFF everywhere;
:meth:`.registry.Registry.with_appendix` gives the other classes the built-in names where they share the meaning.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ..errors import EchonetUsageError
from .model import CURRENT_RELEASE, RELEASES, Access, ClassDef, PropertyDef, Rule
from .types import (
    PROPERTY_MAP,
    Array,
    BitField,
    Bitmap,
    ClassListType,
    Date,
    DateTime,
    Enum,
    Field,
    InstanceListType,
    Level,
    Number,
    NumericCode,
    Object,
    OneOf,
    Raw,
    Time,
    ValueType,
)

_PROPERTY_MAPS = {0x9D, 0x9E, 0x9F}
_NODE_PROFILE_LISTS = {0xD5: InstanceListType(), 0xD6: InstanceListType(), 0xD7: ClassListType()}


def _release_index(letter: str) -> int:
    return len(RELEASES) if letter == "latest" else RELEASES.index(letter.upper())


def _valid_at(entry: Mapping[str, Any], release: str) -> bool:
    valid = entry.get("validRelease", {"from": "A", "to": "latest"})
    return _release_index(valid["from"]) <= _release_index(release) <= _release_index(valid["to"])


def _hex(text: str) -> int:
    return int(text, 16)


class _Converter:
    def __init__(self, definitions: Mapping[str, Any]) -> None:
        self.definitions = definitions

    def resolve(self, node: Mapping[str, Any]) -> Mapping[str, Any]:
        """The definition a ``$ref`` points at, with the keys written beside the ``$ref`` (coefficient, overflow
        and underflow codes) added."""
        ref = node.get("$ref")
        if ref:
            target = self.resolve(self.definitions[ref.rsplit("/", 1)[-1]])
            extra = {k: v for k, v in node.items() if k != "$ref"}
            return {**target, **extra} if extra else target
        return node

    def convert(self, node: Mapping[str, Any]) -> ValueType:
        node = self.resolve(node)
        if "oneOf" in node:
            return OneOf(tuple(self.convert(o) for o in node["oneOf"]))
        kind = node["type"]
        if kind == "number":
            overflow = node.get("overflowCode", True) is not False
            underflow = node.get("underflowCode", True) is not False
            coefficients = tuple(_hex(epc) for epc in node.get("coefficient", ()))
            unit = node.get("unit", "")
            if "enum" in node:  # a number restricted to listed values: keep it a number with the range of them
                listed = [int(v) for v in node["enum"]]
                allowed = frozenset(listed)
                return Number(
                    node["format"], min(listed), max(listed), unit, 1, allowed, overflow, underflow, coefficients
                )
            scale = node.get("multiple", node.get("multipleOf", 1))
            lo, hi = node.get("minimum"), node.get("maximum")
            return Number(node["format"], lo, hi, unit, scale, None, overflow, underflow, coefficients)
        if kind == "state":
            size = node.get("size", 1)
            values = {_hex(e["edt"]): e["name"] for e in node["enum"] if "..." not in e["edt"]}
            ranges = tuple(
                (_hex(lo), _hex(hi), e["name"])
                for e in node["enum"]
                if "..." in e["edt"]
                for lo, hi in [e["edt"].split("...")]
            )
            read_only = frozenset(_hex(e["edt"]) for e in node["enum"] if e.get("readOnly") and "..." not in e["edt"])
            state = Enum(size, values, read_only, ranges)
            on_off = _on_off_names(node["enum"])
            return state.renamed(on_off) if on_off else state
        if kind == "numericValue":
            return NumericCode(node.get("size", 1), {_hex(e["edt"]): e["numericValue"] for e in node["enum"]})
        if kind == "level":
            if "base" in node:
                return Level(_hex(node["base"]), node["maximum"])
            return Level(node.get("minimum", 1), node["maximum"] - node.get("minimum", 1) + 1)
        if kind == "raw":
            return Raw(node.get("minSize", 0), node.get("maxSize", 255))
        if kind == "bitmap":
            fields = []
            for bm in node["bitmaps"]:
                value = self.resolve(bm["value"])
                names = {_hex(e["edt"]): e["name"] for e in value["enum"]} if value.get("type") == "state" else None
                fields.append(BitField(bm["name"], bm["position"]["index"], int(bm["position"]["bitMask"], 2), names))
            return Bitmap(node["size"], tuple(fields))
        if kind == "date":
            return Date(node.get("size", 4))
        if kind == "time":
            return Time(node.get("size", 2), node.get("maximumOfHour", 23))
        if kind == "date-time":
            return DateTime(node.get("size", 7))
        if kind == "array":
            return Array(
                self.convert(node["items"]),
                node["itemSize"],
                node.get("minItems", 0),
                node.get("maxItems", 255),
            )
        if kind == "object":
            return Object(tuple(Field(p["shortName"], self.convert(p["element"])) for p in node["properties"]))
        raise EchonetUsageError(f"MRA data type {kind!r} is not supported")


def _last_word(entry: Mapping[str, Any]) -> str:
    """The last word of a state's English description, lower case, without parenthesised remarks."""
    text = re.sub(r"\([^)]*\)", " ", str(entry.get("descriptions", {}).get("en", ""))).lower()
    words = re.findall(r"[a-z]+", text)
    return words[-1] if words else ""


def _on_off_names(entries: list[Mapping[str, Any]]) -> dict[int, str]:
    """``{code: "on", code: "off"}`` for a state of the two names ``true`` / ``false`` whose descriptions end in
    ON / OFF ("On", "Reservation OFF", "ON (permitted)"); empty for any other state."""
    if len(entries) != 2 or sorted(str(e["name"]) for e in entries) != ["false", "true"]:
        return {}
    by_name = {e["name"]: e for e in entries}
    if (_last_word(by_name["true"]), _last_word(by_name["false"])) != ("on", "off"):
        return {}
    return {_hex(by_name["true"]["edt"]): "on", _hex(by_name["false"]["edt"]): "off"}


def _property(conv: _Converter, entry: Mapping[str, Any], since: str) -> PropertyDef:
    epc = _hex(entry["epc"])
    rules = entry["accessRule"]
    value_type: ValueType
    if epc in _PROPERTY_MAPS:
        value_type = PROPERTY_MAP
    elif entry.get("_node_profile") and epc in _NODE_PROFILE_LISTS:
        value_type = _NODE_PROFILE_LISTS[epc]
    else:
        value_type = conv.convert(entry["data"])
    return PropertyDef(
        epc=epc,
        name=entry["propertyName"]["en"],
        key=entry["shortName"],
        type=value_type,
        access=Access(Rule(rules["get"]), Rule(rules["set"]), Rule(rules["inf"])),
        since=since,
    )


def load_class_file(path: Path, definitions: Mapping[str, Any], release: str = CURRENT_RELEASE) -> ClassDef | None:
    """One class from an MRA JSON file, as valid at ``release`` (``None`` when the class did not exist yet)."""
    data = json.loads(path.read_text(encoding="utf-8"))
    if not _valid_at(data, release):
        return None
    conv = _Converter(definitions)
    node_profile = data["eoj"].upper() == "0X0EF0"
    first_seen: dict[str, str] = {}
    for entry in data["elProperties"]:
        letter = entry["validRelease"]["from"]
        if entry["epc"] not in first_seen or _release_index(letter) < _release_index(first_seen[entry["epc"]]):
            first_seen[entry["epc"]] = letter
    props = []
    for entry in data["elProperties"]:
        if _valid_at(entry, release):
            if node_profile:
                entry = {**entry, "_node_profile": True}
            props.append(_property(conv, entry, first_seen[entry["epc"]]))
    return ClassDef.build(
        _hex(data["eoj"]),
        data["className"]["en"],
        data["shortName"],
        props,
        since=data.get("validRelease", {}).get("from", "A"),
        source="mra",
    )


def load_mra(directory: str | Path, release: str = CURRENT_RELEASE) -> dict[int, ClassDef]:
    """Every class of the MRA directory, keyed by class code."""
    root = Path(directory)
    defs_file = root / "definitions" / "definitions.json"
    if not defs_file.is_file():
        raise EchonetUsageError(f"{root}: not a Machine Readable Appendix directory (no definitions/definitions.json)")
    try:
        definitions = json.loads(defs_file.read_text(encoding="utf-8"))["definitions"]
        classes: dict[int, ClassDef] = {}
        for sub in ("superClass", "nodeProfile", "devices"):
            for path in sorted((root / sub).glob("*.json")):
                cls = load_class_file(path, definitions, release)
                if cls is not None:
                    classes[cls.class_id] = cls
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise EchonetUsageError(f"{root}: cannot read the Machine Readable Appendix: {exc}") from None
    return classes
