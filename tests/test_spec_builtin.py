"""The built-in class tables: cross-checked against the Machine Readable Appendix where it is present (../shared/mra
or $ECHONET_MRA_DIR), and exercised with real bytes everywhere."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from echonet.spec.builtin import (
    BUILTIN_CLASSES,
    CONTROLLER,
    ELECTRIC_WATER_HEATER,
    HYBRID_WATER_HEATER,
    NODE_PROFILE,
    STORAGE_BATTERY,
    SUPER_CLASS,
)
from echonet.spec.identity import AppendixReleaseType, IdentificationType, ProtocolVersionType
from echonet.spec.model import CURRENT_RELEASE, RELEASES, ClassDef, PropertyDef, Rule
from echonet.spec.mra import load_mra
from echonet.spec.registry import builtin_registry
from echonet.spec.types import (
    PROPERTY_MAP,
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
    enum,
    u8,
)

#: MRA short names that cannot serve as keys, with the key the tables use instead. "DEL" marks properties that the
#: ECHONET Web API leaves out (so they have no Web API name); "manufacturer(MC)" is not an identifier.
KEYS_FOR_UNUSABLE_MRA_NAMES: dict[tuple[int, int], tuple[str, str]] = {
    (0x0000, 0x97): ("DEL", "currentTime"),  # the name the storage battery's MRA entry for 0x97 uses
    (0x0000, 0x9D): ("DEL", "statusChangeAnnouncementPropertyMap"),
    (0x0000, 0x9E): ("DEL", "setPropertyMap"),
    (0x0000, 0x9F): ("DEL", "getPropertyMap"),
    (0x0EF0, 0x8A): ("manufacturer(MC)", "manufacturer"),
    (0x0EF0, 0x9D): ("DEL", "statusChangeAnnouncementPropertyMap"),
    (0x0EF0, 0x9E): ("DEL", "setPropertyMap"),
    (0x0EF0, 0x9F): ("DEL", "getPropertyMap"),
}
#: Class keys that differ from the MRA's: the super class's MRA short name "common" says nothing on a command line.
CLASS_KEYS_FOR_UNUSABLE_MRA_NAMES = {0x0000: ("common", "superClass")}

#: Types that refine what the MRA gives as raw bytes (or, for the node-profile lists, as a count plus raw items);
#: they are equivalent when the size range is the same. The version information (0x82) and identification number
#: (0x83) follow the MRA's notes on the raw bytes.
REFINEMENTS: dict[type[ValueType], tuple[type[ValueType], ...]] = {
    PropertyMapType: (Raw,),
    InstanceListType: (Raw, Object),
    ClassListType: (Raw, Object),
    Text: (Raw,),
    ProtocolVersionType: (Raw,),
    AppendixReleaseType: (Raw,),
    IdentificationType: (Raw,),
}


def _mra_dir() -> Path:
    env = os.environ.get("ECHONET_MRA_DIR")
    return Path(env) if env else Path(__file__).resolve().parents[1].parent / "shared" / "mra"


@pytest.fixture(scope="module")
def mra() -> dict[int, ClassDef]:
    directory = _mra_dir()
    if not (directory / "definitions" / "definitions.json").is_file():
        pytest.skip(f"no Machine Readable Appendix at {directory} (set ECHONET_MRA_DIR or provide ../shared/mra)")
    return load_mra(directory)


def equivalent(ours: ValueType, theirs: ValueType, path: str = "value") -> list[str]:
    """Every structural difference between one of our types and the MRA's; empty when they are equivalent."""
    problems: list[str] = []
    if (ours.min_size, ours.max_size) != (theirs.min_size, theirs.max_size):
        problems.append(f"{path}: size {ours.size_text}, MRA {theirs.size_text}")
    refines = REFINEMENTS.get(type(ours))
    if refines is not None and type(theirs) is not type(ours):
        if not isinstance(theirs, refines):
            problems.append(
                f"{path}: {ours.kind} may refine only {'/'.join(t.__name__ for t in refines)}, MRA has {theirs.kind}"
            )
        return problems
    if type(ours) is not type(theirs):
        return [*problems, f"{path}: {ours.kind}, MRA {theirs.kind} ({theirs.describe()})"]

    def differ(what: str, a: object, b: object) -> None:
        if a != b:
            problems.append(f"{path}: {what} {a!r}, MRA {b!r}")

    if isinstance(ours, Number) and isinstance(theirs, Number):
        differ("format", ours.format, theirs.format)
        differ("minimum", ours.minimum, theirs.minimum)
        differ("maximum", ours.maximum, theirs.maximum)
        differ("scale", ours.scale, theirs.scale)
        differ("unit", ours.unit, theirs.unit)
        differ("allowed", ours.allowed, theirs.allowed)
        differ("special codes", [(s.code, str(s)) for s in ours.specials], [(s.code, str(s)) for s in theirs.specials])
        differ("coefficient EPCs", ours.coefficients, theirs.coefficients)
    elif isinstance(ours, Enum) and isinstance(theirs, Enum):
        differ("size", ours.size, theirs.size)
        differ("codes", sorted(ours.values), sorted(theirs.values))
        differ("read-only codes", sorted(ours.read_only), sorted(theirs.read_only))
        differ("code ranges", sorted(r[:2] for r in ours.ranges), sorted(r[:2] for r in theirs.ranges))
    elif isinstance(ours, NumericCode) and isinstance(theirs, NumericCode):
        differ("size", ours.size, theirs.size)
        differ("numeric codes", dict(ours.values), dict(theirs.values))
    elif isinstance(ours, Level) and isinstance(theirs, Level):
        differ("level base", ours.base, theirs.base)
        differ("level maximum", ours.maximum, theirs.maximum)
    elif isinstance(ours, Date | DateTime) and isinstance(theirs, Date | DateTime):
        differ("size", ours.size, theirs.size)
    elif isinstance(ours, Time) and isinstance(theirs, Time):
        differ("size", ours.size, theirs.size)
        differ("maximum hour", ours.max_hour, theirs.max_hour)
    elif isinstance(ours, Bitmap) and isinstance(theirs, Bitmap):
        differ("size", ours.size, theirs.size)

        def bit_fields(b: Bitmap) -> list[tuple[int, int, list[int] | None]]:
            return sorted((f.index, f.mask, None if f.values is None else sorted(f.values)) for f in b.fields)

        differ("bit fields (index, mask, codes)", bit_fields(ours), bit_fields(theirs))
    elif isinstance(ours, Array) and isinstance(theirs, Array):
        differ("item size", ours.item_size, theirs.item_size)
        differ("minimum items", ours.min_items, theirs.min_items)
        differ("maximum items", ours.max_items, theirs.max_items)
        problems += equivalent(ours.item, theirs.item, f"{path}[]")
    elif isinstance(ours, Object) and isinstance(theirs, Object):
        differ("field names", [f.name for f in ours.fields], [f.name for f in theirs.fields])
        for mine, other in zip(ours.fields, theirs.fields, strict=False):
            problems += equivalent(mine.type, other.type, f"{path}.{mine.name}")
    elif isinstance(ours, OneOf) and isinstance(theirs, OneOf):
        unmatched = list(theirs.options)
        for option in ours.options:
            match = next((o for o in unmatched if not equivalent(option, o)), None)
            if match is None:
                problems.append(f"{path}: option {option.describe()} has no equivalent in the MRA")
            else:
                unmatched.remove(match)
        problems += [f"{path}: MRA option {o.describe()} has no equivalent here" for o in unmatched]
    return problems


def compare_class(ours: ClassDef, theirs: ClassDef) -> list[str]:
    """Every difference between a built-in class and the MRA's (EPCs, keys, rules, releases, types)."""
    problems: list[str] = []
    mra_key, our_key = CLASS_KEYS_FOR_UNUSABLE_MRA_NAMES.get(ours.class_id, (theirs.key, theirs.key))
    if (ours.key, theirs.key) != (our_key, mra_key):
        problems.append(f"class key {ours.key!r}, MRA {theirs.key!r}")
    if ours.since != theirs.since:
        problems.append(f"class since {ours.since}, MRA {theirs.since}")
    for epc in sorted(set(theirs.properties) - set(ours.properties)):
        problems.append(f"0x{epc:02X} {theirs.properties[epc].key}: missing here")
    for epc in sorted(set(ours.properties) - set(theirs.properties)):
        problems.append(f"0x{epc:02X} {ours.properties[epc].key}: not in the MRA at Release {CURRENT_RELEASE}")
    for epc in sorted(set(ours.properties) & set(theirs.properties)):
        p, q = ours.properties[epc], theirs.properties[epc]
        where = f"0x{epc:02X} {p.key}"
        mra_key, our_key = KEYS_FOR_UNUSABLE_MRA_NAMES.get((ours.class_id, epc), (q.key, q.key))
        if (p.key, q.key) != (our_key, mra_key):
            problems.append(f"{where}: key {p.key!r}, MRA {q.key!r} (expected here {our_key!r})")
        if p.access != q.access:
            problems.append(f"{where}: access {p.access.text}, MRA {q.access.text}")
        if p.since != q.since:
            problems.append(f"{where}: since {p.since}, MRA {q.since}")
        problems += equivalent(p.type, q.type, where)
    return problems


# Cross-check against the MRA --------------------------------------------------------------------------------------


@pytest.mark.parametrize("cls", BUILTIN_CLASSES, ids=lambda c: f"{c.code_text}-{c.key}")
def test_table_equals_the_mra_at_release_r(cls: ClassDef, mra: dict[int, ClassDef]) -> None:
    theirs = mra.get(cls.class_id)
    assert theirs is not None, f"the MRA has no class {cls.code_text}"
    problems = compare_class(cls, theirs)
    report = "\n".join(problems)
    assert not problems, f"{cls.code_text} {cls.name}: {len(problems)} difference(s) from the MRA:\n{report}"


def special_codes(t: ValueType, path: str = "") -> set[tuple[str, int, int, str]]:
    """Every special code of a type (path, size, code, name): numbers' overflow / underflow codes and the named
    codes beside a value in a one-of type, at any depth."""
    found: set[tuple[str, int, int, str]] = set()
    if isinstance(t, Number):
        found |= {(path, s.size, s.code, str(s)) for s in t.specials}
    elif isinstance(t, OneOf):
        found |= {(path, s.size, s.code, str(s)) for s in t.specials}
        for option in t.options:
            found |= special_codes(option, path)
    elif isinstance(t, Array):
        found |= special_codes(t.item, path + "[]")
    elif isinstance(t, Object):
        for f in t.fields:
            found |= special_codes(f.type, f"{path}.{f.name}")
    return found


@pytest.mark.parametrize("cls", BUILTIN_CLASSES, ids=lambda c: f"{c.code_text}-{c.key}")
def test_tables_have_every_special_code_of_the_mra_and_no_other(cls: ClassDef, mra: dict[int, ClassDef]) -> None:
    theirs = mra[cls.class_id]
    problems = []
    for epc in sorted(set(cls.properties) & set(theirs.properties)):
        ours_codes = special_codes(cls.properties[epc].type)
        mra_codes = special_codes(theirs.properties[epc].type)
        problems += [f"0x{epc:02X}: missing here {c}" for c in sorted(mra_codes - ours_codes)]
        problems += [f"0x{epc:02X}: not in the MRA {c}" for c in sorted(ours_codes - mra_codes)]
    assert not problems, "\n".join(problems)


def test_special_code_comparison_sees_overflow_codes_and_named_codes() -> None:
    temperature = ELECTRIC_WATER_HEATER.properties[0xB3].type
    assert special_codes(temperature) == {
        ("", 1, 0xFD, "undefined"),
        ("", 1, 0xFE, "underflow"),
        ("", 1, 0xFF, "overflow"),
    }


def test_key_exceptions_name_only_unusable_mra_names(mra: dict[int, ClassDef]) -> None:
    for (class_id, epc), (mra_key, _) in KEYS_FOR_UNUSABLE_MRA_NAMES.items():
        assert mra[class_id].properties[epc].key == mra_key


def test_equivalence_check_reports_each_difference_and_allows_documented_refinements() -> None:
    assert equivalent(u8(0, 100, "%"), u8(0, 100, "%")) == []
    assert len(equivalent(u8(0, 100, "%"), u8(1, 101, "W"))) == 3
    assert equivalent(enum({0x41: "a", 0x42: "b"}), enum({0x41: "x", 0x43: "y"})) == [
        "value: codes [65, 66], MRA [65, 67]"
    ]
    assert equivalent(PROPERTY_MAP, Raw(1, 17)) == []
    assert equivalent(Text(12, 12), Raw(12, 12)) == []
    assert equivalent(Text(1, 12), Raw(12, 12)) == ["value: size 1-12, MRA 12"]
    assert equivalent(Raw(12, 12), Text(12, 12)) == ["value: raw, MRA text (ASCII 12 byte(s))"]


# The tables at work, without the MRA ------------------------------------------------------------------------------


def _prop(cls: ClassDef, epc: int) -> PropertyDef:
    return cls.properties[epc]


def test_battery_instantaneous_power_is_signed_32_bit_watts() -> None:
    decoded = builtin_registry().decode_value(0x027D, 0xD3, bytes.fromhex("fffffa24"))
    assert decoded.error is None
    assert decoded.value == -1500
    assert decoded.unit == "W"
    assert _prop(STORAGE_BATTERY, 0xD3).encode(-1500) == bytes.fromhex("fffffa24")


def test_water_heater_expected_energy_decodes_four_unsigned_32_bit_wh_values() -> None:
    edt = bytes.fromhex("00000001000005dc80000000fffffffd")
    value = _prop(ELECTRIC_WATER_HEATER, 0xCB).decode(edt)
    assert value == {"at1000": 1, "at1300": 1500, "at1500": 0x80000000, "at1700": 4294967293}
    assert _prop(ELECTRIC_WATER_HEATER, 0xCB).encode(value) == edt


def test_hybrid_solar_linkage_0x42_is_household_self_consumption() -> None:
    assert _prop(HYBRID_WATER_HEATER, 0xB8).decode(b"\x42") == "householdConsumption"
    assert _prop(HYBRID_WATER_HEATER, 0xB8).encode("prioritizingElectricitySales") == b"\x43"


def test_operation_status_0x30_is_on_for_every_device_class() -> None:
    assert _prop(SUPER_CLASS, 0x80).decode(b"\x30") == "on"
    registry = builtin_registry()
    for class_id in (0x026B, 0x02A6, 0x027D, 0x05FF):
        assert registry.decode_value(class_id, 0x80, b"\x31").value == "off"


def test_set_refuses_out_of_range_battery_charging_power() -> None:
    charging_power = _prop(STORAGE_BATTERY, 0xEB)
    assert charging_power.check_set((3000).to_bytes(4, "big")) is None
    reason = charging_power.check_set((1_000_000_000).to_bytes(4, "big"))
    assert reason is not None and "outside" in reason
    assert charging_power.check_set(b"\x00\x00\x0b") is not None  # 3 bytes for a 4-byte value


def test_set_refuses_read_only_properties_and_read_only_codes() -> None:
    assert _prop(STORAGE_BATTERY, 0xD3).check_set(bytes(4)) == "not settable"
    assert _prop(SUPER_CLASS, 0x88).check_set(b"\x42") == "not settable"
    target_temperature = _prop(ELECTRIC_WATER_HEATER, 0xB3)
    assert target_temperature.check_set(b"\x3c") is None
    assert target_temperature.check_set(b"\xfd") is not None  # "undefined" is reported, never set
    assert target_temperature.decode(b"\xfd") == "undefined"


def test_set_only_reset_properties_cannot_be_read() -> None:
    reset = _prop(STORAGE_BATTERY, 0xD7)
    assert (reset.access.get, reset.access.set, reset.access.anno) == (
        Rule.NOT_APPLICABLE,
        Rule.OPTIONAL,
        Rule.NOT_APPLICABLE,
    )
    assert reset.check_set(b"\x00") is None


def test_special_codes_decode_beside_numbers() -> None:
    battery_target = _prop(STORAGE_BATTERY, 0xAA)
    assert battery_target.decode(bytes(4)) == "noSetting"
    assert battery_target.decode((2000).to_bytes(4, "big")) == 2000
    amount = _prop(STORAGE_BATTERY, 0xE0)
    assert amount.decode(bytes.fromhex("fffffc18")) == -1000
    assert amount.encode(1000) == bytes.fromhex("000003e8")
    prediction = _prop(ELECTRIC_WATER_HEATER, 0xD9).decode(bytes((11, 23, 9)) + b"\x80\x00" + b"\x00\x64" * 23)
    assert prediction["surplusEnergyPredictionValue"][:2] == ["invalid", 1000]


def test_fault_description_ranges_keep_the_exact_code() -> None:
    fault = _prop(SUPER_CLASS, 0x89)
    assert fault.decode(b"\x00\x1f") == "sensorSystem:0x001F"
    assert fault.encode("sensorSystem:0x001F") == b"\x00\x1f"
    assert fault.decode(b"\x00\x00") == "noFault"


def test_node_profile_lists_decode_as_objects_and_classes() -> None:
    assert _prop(NODE_PROFILE, 0xD5).decode(bytes.fromhex("02027d01026b01")) == ["027D01", "026B01"]
    assert _prop(NODE_PROFILE, 0xD7).decode(bytes.fromhex("02026b027d")) == ["026B", "027D"]
    assert _prop(CONTROLLER, 0xCE).decode(bytes.fromhex("0280b0")) == [0x80, 0xB0]


def test_registry_merges_the_super_class_into_device_classes_only() -> None:
    registry = builtin_registry()
    battery = registry.properties(0x027D)
    assert battery[0x80] is _prop(SUPER_CLASS, 0x80)
    assert battery[0x89] is _prop(STORAGE_BATTERY, 0x89)  # the battery makes the fault description mandatory
    assert battery[0x89].access.get is Rule.REQUIRED
    assert 0x84 not in registry.properties(0x0EF0)
    assert registry.find_class("storageBattery") is STORAGE_BATTERY


def _sample_edts(t: ValueType) -> list[bytes]:
    """Valid EDTs of a type, built from its definition (bounds, every code, each option)."""
    if isinstance(t, Number):
        lo = t.minimum if t.minimum is not None else 0
        hi = t.maximum if t.maximum is not None else lo
        raws = sorted(t.allowed) if t.allowed is not None else list(dict.fromkeys((lo, (lo + hi) // 2, hi)))
        return [r.to_bytes(t.min_size, "big", signed=t.signed) for r in raws]
    if isinstance(t, Enum):
        codes = [*t.values, *(c for lo, hi, _ in t.ranges for c in (lo, hi))]
        return [c.to_bytes(t.size, "big") for c in codes]
    if isinstance(t, NumericCode):
        return [c.to_bytes(t.size, "big") for c in t.values]
    if isinstance(t, Level):
        return [bytes((t.base,)), bytes((t.base + t.maximum - 1,))]
    if isinstance(t, Text):
        text = b"EL-0123"[: t.max_len]
        return [text.ljust(t.min_len, b"\x00")]
    if isinstance(t, Raw):
        return [bytes((7 * i + 1) & 0xFF for i in range(n)) for n in dict.fromkeys((t.min_len, t.max_len))]
    if isinstance(t, Date):
        return [bytes((0x07, 0xEA, 11, 23))[: t.size]]
    if isinstance(t, Time):
        return [bytes((min(t.max_hour, 21), 30, 15))[: t.size]]
    if isinstance(t, DateTime):
        return [bytes((0x07, 0xEA, 11, 23, 21, 30, 15))[: t.size]]
    if isinstance(t, Bitmap):
        every_bit = bytearray(t.size)
        for f in t.fields:
            every_bit[f.index] |= f.mask
        return [bytes(t.size), bytes(every_bit)]
    if isinstance(t, Array):
        items = _sample_edts(t.item)
        count = min(max(t.min_items, 1), t.max_items)
        return [b"".join(items[i % len(items)] for i in range(count))]
    if isinstance(t, Object):
        per_field = [_sample_edts(f.type) for f in t.fields]
        return [b"".join(s[0] for s in per_field), b"".join(s[-1] for s in per_field)]
    if isinstance(t, OneOf):
        return [edt for option in t.options for edt in _sample_edts(option)]
    if isinstance(t, PropertyMapType):
        # 20 EPCs (0x80-0x83, 0x88, 0x8A, 0x9D-0x9F, 0xA0, 0xA4, 0xC1, 0xC2, 0xCF, 0xD3, 0xDA, 0xE2, 0xE4, 0xEB, 0xF0)
        bitmap_form = bytes.fromhex("1485115121440000000100214000020212")
        return [bytes.fromhex("0380889f"), bitmap_form]
    if isinstance(t, InstanceListType):
        return [bytes.fromhex("02027d01026b01")]
    if isinstance(t, ClassListType):
        return [bytes.fromhex("02026b027d")]
    if isinstance(t, ProtocolVersionType):
        return [bytes.fromhex("010e0100"), bytes.fromhex("010d0300"), bytes.fromhex("01000000")]
    if isinstance(t, AppendixReleaseType):
        return [b"\x00\x00R\x01", b"\x00\x00a\x00", b"\x00\x00Z\xff"]
    if isinstance(t, IdentificationType):
        return [b"\xfe\x00\x00\x77" + bytes(range(13)), b"\xfe" + b"\xff" * 16]
    raise AssertionError(f"no sample for {t!r}")


def test_every_property_type_round_trips_valid_edts() -> None:
    failures = []
    checked = 0
    for cls in BUILTIN_CLASSES:
        for p in cls.properties.values():
            for edt in _sample_edts(p.type):
                try:
                    again = p.encode(p.decode(edt))
                except Exception as exc:  # collect, so that one run reports every failing property
                    failures.append(f"{cls.code_text} 0x{p.epc:02X} {edt.hex()}: {exc}")
                    continue
                checked += 1
                if again != edt:
                    failures.append(f"{cls.code_text} 0x{p.epc:02X} {edt.hex()} -> {p.decode(edt)!r} -> {again.hex()}")
    assert not failures, "\n".join(failures)
    assert checked > 300


def test_names_and_keys_are_unique_within_each_class() -> None:
    for cls in BUILTIN_CLASSES:
        names = [p.name for p in cls.properties.values()]
        keys = [p.key for p in cls.properties.values()]
        assert len(set(names)) == len(names), cls.name
        assert len(set(keys)) == len(keys), cls.name
        assert all(k.isidentifier() for k in keys), cls.name


def test_every_epc_is_a_standard_epc_from_0x80_to_0xff_added_by_release_r() -> None:
    up_to_r = RELEASES[: RELEASES.index(CURRENT_RELEASE) + 1]
    for cls in BUILTIN_CLASSES:
        assert cls.source == "builtin"
        for epc, p in cls.properties.items():
            assert epc == p.epc and 0x80 <= epc <= 0xFF, f"{cls.name} 0x{epc:02X}"
            assert p.standard and p.since in up_to_r and p.since >= cls.since, f"{cls.name} 0x{epc:02X}"


def test_tables_cover_all_six_classes_with_every_release_r_property() -> None:
    counts = {cls.class_id: len(cls.properties) for cls in BUILTIN_CLASSES}
    assert counts == {0x0000: 24, 0x0EF0: 19, 0x026B: 46, 0x02A6: 10, 0x027D: 60, 0x05FF: 17}


def test_a_number_with_special_codes_has_the_numbers_unit_and_a_special_code_has_none() -> None:
    registry = builtin_registry()
    temperature = registry.decode_value(0x026B, 0xB3, b"\x3c")  # 60 degrees, a number option of a one-of type
    assert (temperature.value, temperature.unit) == (60, "Celsius")
    unset = registry.decode_value(0x026B, 0xB3, b"\xfd")  # the 'no setting' code
    assert isinstance(unset.value, str) and unset.unit == ""
    assert registry.decode_value(0x026B, 0xF5, b"\x01").unit == ""  # vendor EPC: raw bytes, no unit
