"""Value types decode, encode and validate EDTs as the Appendix defines them; the MRA loader reads every class."""

from __future__ import annotations

import pytest

from echonet import EchonetUsageError, ValueDecodeError
from echonet.spec.types import (
    Array,
    BitField,
    Bitmap,
    Date,
    DateTime,
    Enum,
    Level,
    Number,
    NumericCode,
    Raw,
    Text,
    Time,
    ValueType,
    array,
    enum,
    obj,
    one_of,
    s32,
    u8,
    u16,
    u32,
)

from .conftest import mra_dir


def test_signed_32_bit_watts_decode_negative_values() -> None:
    power = s32(-999_999_999, 999_999_999, "W")
    assert power.decode(bytes.fromhex("fffffa24")) == -1500
    assert power.encode(-1500) == bytes.fromhex("fffffa24")
    assert power.check(bytes.fromhex("fffffa24")) is None


def test_scaled_number_reads_tenths_and_refuses_values_out_of_range() -> None:
    temp = Number("int16", -2732, 32766, "Cel", 0.1)
    assert temp.decode(b"\x01\x05") == 26.1
    assert temp.encode(26.1) == b"\x01\x05"
    with pytest.raises(EchonetUsageError, match="outside"):
        temp.encode(-300)


def test_number_check_gives_the_reason_a_device_refuses_a_set() -> None:
    percent = u8(0, 100, "%")
    assert percent.check(b"\x64") is None
    assert "outside" in (percent.check(b"\x65") or "")
    assert "expected 1" in (percent.check(b"\x00\x01") or "")


def test_enum_decodes_names_unknown_codes_as_ints_and_refuses_read_only_codes() -> None:
    mode = enum({0x41: "rapidCharging", 0x42: "charging", 0x47: "readOnlyThing"}, read_only=frozenset({0x47}))
    assert mode.decode(b"\x42") == "charging"
    assert mode.decode(b"\x99") == 0x99
    assert mode.encode("charging") == b"\x42"
    assert "not one of" in (mode.check(b"\x99") or "")
    assert "cannot be set" in (mode.check(b"\x47") or "")
    with pytest.raises(EchonetUsageError, match="not one of"):
        mode.encode("flying")


def test_enum_code_ranges_keep_the_exact_code() -> None:
    fault = Enum(2, {0x0000: "noFault"}, ranges=((0x000A, 0x0013, "abnormalEventOrSafety"),))
    assert fault.decode(b"\x00\x0b") == "abnormalEventOrSafety:0x000B"
    assert fault.encode("abnormalEventOrSafety:0x000B") == b"\x00\x0b"
    assert fault.check(b"\x00\x14") is not None


def test_one_of_prefers_special_codes_over_the_number_range() -> None:
    energy = one_of(u32(0, 999_999_999, "Wh"), enum({0xFFFFFFFE: "noData"}, size=4))
    assert energy.decode(bytes.fromhex("fffffffe")) == "noData"
    assert energy.decode(bytes.fromhex("000003e8")) == 1000
    assert energy.encode("noData") == bytes.fromhex("fffffffe")
    assert energy.encode(1000) == bytes.fromhex("000003e8")
    assert energy.check(bytes.fromhex("ffffffff")) is not None


def test_object_splits_fixed_fields_like_the_water_heater_shift_energy() -> None:
    cb = obj(*((f"at{h}00", u32(0, 4_294_967_293, "Wh")) for h in (10, 13, 15, 17)))
    value = cb.decode(bytes.fromhex("00000064000000c80000012c00000190"))
    assert value == {"at1000": 100, "at1300": 200, "at1500": 300, "at1700": 400}
    assert cb.encode(value) == bytes.fromhex("00000064000000c80000012c00000190")
    with pytest.raises(ValueDecodeError):
        cb.decode(b"\x00" * 15)


def test_array_counts_items_and_checks_each() -> None:
    arr = array(u16(0, 1000), 2, max_items=3)
    assert arr.decode(bytes.fromhex("000a0014")) == [10, 20]
    assert "item 1" in (arr.check(bytes.fromhex("000a2000")) or "")
    with pytest.raises(ValueDecodeError):
        arr.decode(b"\x00\x01\x02")


def test_dates_and_times_read_as_iso_text() -> None:
    assert Date().decode(bytes.fromhex("07ea0b17")) == "2026-11-23"
    assert Date().encode("2026-11-23") == bytes.fromhex("07ea0b17")
    assert Time().decode(b"\x0c\x1e") == "12:30"
    assert Time().check(b"\x18\x00") is not None
    assert Time(2, 255).check(b"\x30\x00") is None  # hour counters may exceed 23 where the spec says so
    assert DateTime(7).decode(bytes.fromhex("07ea0b170c1e05")) == "2026-11-23T12:30:05"
    assert DateTime(7).encode("2026-11-23T12:30:05") == bytes.fromhex("07ea0b170c1e05")


def test_bitmap_level_numeric_code_text_and_raw() -> None:
    bm = Bitmap(1, (BitField("heater", 0, 0b1, {1: "on", 0: "off"}), BitField("stage", 0, 0b110)))
    assert bm.decode(b"\x05") == {"heater": "on", "stage": 2}
    assert bm.encode({"heater": "on", "stage": 2}) == b"\x05"
    level = Level(0x31, 8)
    assert level.decode(b"\x31") == 1 and level.encode(8) == b"\x38" and level.check(b"\x39") is not None
    unit = NumericCode(1, {0x00: 1, 0x01: 0.1, 0x0A: 10})
    assert unit.decode(b"\x01") == 0.1 and unit.encode(10) == b"\x0a"
    assert Text(12, 12).decode(b"ABC-123\x00\x00\x00\x00\x00") == "ABC-123"
    assert Raw(3, 3).decode(b"\x00\x00\x77") == b"\x00\x00\x77"


def sample_edt(t: ValueType) -> bytes:
    """A valid EDT for a type (the smallest in-range value, first code, ...)."""
    from echonet.spec.types import (
        ClassListType,
        Field,
        InstanceListType,
        Object,
        OneOf,
        PropertyMapType,
    )

    if isinstance(t, Number):
        raw = t.minimum if t.minimum is not None else 0
        return raw.to_bytes(t.min_size, "big", signed=t.signed)
    if isinstance(t, Enum):
        code = next(iter(t.values), t.ranges[0][0] if t.ranges else 0)
        return code.to_bytes(t.size, "big")
    if isinstance(t, NumericCode):
        return next(iter(t.values)).to_bytes(t.size, "big")
    if isinstance(t, Level):
        return bytes((t.base,))
    if isinstance(t, Raw | Text):
        return b"A" * max(t.min_size, 1 if t.max_size else 0)
    if isinstance(t, Bitmap):
        return bytes(t.size)
    if isinstance(t, Date):
        return bytes.fromhex("07ea0b17")[: t.size]
    if isinstance(t, Time):
        return bytes((12, 30, 5)[: t.size])
    if isinstance(t, DateTime):
        return bytes.fromhex("07ea0b170c1e05")[: t.size]
    if isinstance(t, Array):
        return sample_edt(t.item) * max(t.min_items, 1)
    if isinstance(t, Object):
        return b"".join(sample_edt(f.type) for f in t.fields if isinstance(f, Field))
    if isinstance(t, OneOf):
        return sample_edt(t.options[0])
    if isinstance(t, PropertyMapType):
        return bytes((2, 0x80, 0x9F))
    if isinstance(t, InstanceListType):
        return bytes.fromhex("01027d01")
    if isinstance(t, ClassListType):
        return bytes.fromhex("01027d")
    raise AssertionError(f"no sample for {t!r}")


def test_every_property_of_every_mra_class_round_trips_a_sample_value() -> None:
    from echonet.spec.mra import load_mra

    classes = load_mra(mra_dir())
    assert len(classes) >= 50
    failures = []
    count = 0
    for cls in classes.values():
        for prop in cls.properties.values():
            edt = sample_edt(prop.type)
            try:
                value = prop.decode(edt)
                again = prop.encode(value)
            except Exception as exc:  # collect every failure, report them together
                failures.append(f"{cls.code_text} 0x{prop.epc:02X} {prop.name}: {type(exc).__name__}: {exc}")
                continue
            count += 1
            if again != edt:
                failures.append(
                    f"{cls.code_text} 0x{prop.epc:02X} {prop.name}: {edt.hex()} -> {value!r} -> {again.hex()}"
                )
            prop.type.describe()
    assert not failures, "\n".join(failures)
    assert count > 900


def test_mra_loader_refuses_a_directory_that_is_not_an_appendix(tmp_path: object) -> None:
    from pathlib import Path

    from echonet.spec.mra import load_mra

    with pytest.raises(EchonetUsageError, match="not a Machine Readable Appendix"):
        load_mra(Path(str(tmp_path)))
