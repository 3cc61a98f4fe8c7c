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
    Special,
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


def test_enum_decodes_names_refuses_unknown_codes_and_refuses_read_only_codes() -> None:
    mode = enum({0x41: "rapidCharging", 0x42: "charging", 0x47: "readOnlyThing"}, read_only=frozenset({0x47}))
    assert mode.decode(b"\x42") == "charging"
    with pytest.raises(ValueDecodeError, match="not a defined code"):
        mode.decode(b"\x99")
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


# Values tell the truth ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fmt", "overflow", "underflow"),
    [
        ("uint8", "ff", "fe"),
        ("uint16", "ffff", "fffe"),
        ("uint32", "ffffffff", "fffffffe"),
        ("int8", "7f", "80"),
        ("int16", "7fff", "8000"),
        ("int32", "7fffffff", "80000000"),
    ],
)
def test_each_number_format_has_the_appendix_overflow_and_underflow_codes_outside_its_range(
    fmt: str, overflow: str, underflow: str
) -> None:
    size = len(overflow) // 2
    number = Number(fmt, 0, 100)
    over, under = number.decode(bytes.fromhex(overflow)), number.decode(bytes.fromhex(underflow))
    assert isinstance(over, Special) and (str(over), over.code, over.size) == ("overflow", int(overflow, 16), size)
    assert (
        isinstance(under, Special) and str(under) == "underflow" and under.text == f"underflow (0x{underflow.upper()})"
    )
    assert number.encode("overflow") == bytes.fromhex(overflow)


def test_a_number_without_overflow_codes_reads_them_as_out_of_range() -> None:
    counter = Number("uint32", 0, 99_999_999, "kWh", overflow=False, underflow=False)
    with pytest.raises(ValueDecodeError, match=r"out of range 0-99999999 kWh"):
        counter.decode(bytes.fromhex("ffffffff"))
    assert counter.specials == ()


def test_a_code_inside_the_range_is_a_value_not_a_special_code() -> None:
    assert Number("uint8", 0, 255).decode(b"\xff") == 255


def test_out_of_range_numbers_raise_with_the_range_as_people_write_it() -> None:
    with pytest.raises(ValueDecodeError, match=r"^out of range 0-100 %$"):
        u8(0, 100, "%").decode(b"\x65")
    with pytest.raises(ValueDecodeError, match=r"^out of range -999999999\.\.999999999 W$"):
        s32(-999_999_999, 999_999_999, "W").decode((1_000_000_000).to_bytes(4, "big"))
    with pytest.raises(ValueDecodeError, match=r"^out of range 0\.0-3276\.6 A$"):
        u16(0, 32766, "A", 0.1).decode(bytes.fromhex("7fff"))
    with pytest.raises(ValueDecodeError, match=r"one of 1, 20, 24"):
        Number("uint8", 1, 24, allowed=frozenset({1, 20, 24})).decode(b"\x15")


def test_special_codes_are_refused_for_a_set() -> None:
    assert u8(0, 100, "%").check(b"\xff") == "overflow (0xFF) is a code a device reports, not a value to set"
    energy = one_of(u32(0, 999_999_999, "Wh"), enum({0xFFFFFFFE: "noData"}, size=4, read_only=frozenset({0xFFFFFFFE})))
    assert energy.check(bytes.fromhex("fffffffe")) is not None


def test_one_of_prefers_a_value_any_option_reads_over_a_numbers_limit_code() -> None:
    signed_amount = one_of(u32(1, 999_999_999, "Wh"), s32(-999_999_999, -1, "Wh"))
    assert signed_amount.decode(bytes.fromhex("ffffffff")) == -1  # the uint32 overflow code is -1 Wh signed
    assert str(signed_amount.decode(bytes.fromhex("80000000"))) == "underflow"
    with pytest.raises(ValueDecodeError, match=r"out of range 1-999999999 Wh; out of range -999999999\.\.-1 Wh"):
        signed_amount.decode(bytes(4))


def test_named_codes_beside_a_value_decode_to_special_codes() -> None:
    stop_days = one_of(u8(0, 252, "days"), enum({0xFD: "infinite"}))
    infinite = stop_days.decode(b"\xfd")
    assert isinstance(infinite, Special) and infinite == "infinite" and infinite.code_text == "0xFD"
    assert stop_days.encode("infinite") == b"\xfd"
    two_enums = one_of(enum({0x09: "at0900"}), enum({0x00: "cleared"}))
    assert not isinstance(two_enums.decode(b"\x00"), Special)  # codes with no value beside them are plain names


def test_special_codes_compare_hash_and_pickle_as_their_names() -> None:
    import pickle

    code = Special("noData", 0xFFFE, 2)
    assert code == "noData" and hash(code) == hash("noData") and {code: 1}["noData"] == 1
    again = pickle.loads(pickle.dumps(code))
    assert isinstance(again, Special) and again.text == "noData (0xFFFE)"


def test_enum_aliases_are_accepted_for_parsing_but_never_decoded() -> None:
    status = enum({0x30: "on", 0x31: "off"}, aliases={"true": 0x30, "false": 0x31})
    assert status.encode("true") == status.encode("TRUE") == status.encode("On") == b"\x30"
    assert status.decode(b"\x30") == "on"
    assert status.aliases_of(0x30) == ["true"]
    renamed = enum({0x41: "true", 0x42: "false"}).renamed({0x41: "on", 0x42: "off"})
    assert renamed.values == {0x41: "on", 0x42: "off"} and renamed.encode("false") == b"\x42"


def test_levels_bitmaps_dates_times_and_text_outside_their_definition_raise() -> None:
    with pytest.raises(ValueDecodeError, match="not a level"):
        Level(0x31, 8).decode(b"\x39")
    alarm = Bitmap(1, (BitField("heater", 0, 0b1, {1: "on", 0: "off"}), BitField("stage", 0, 0b110, {0: "idle"})))
    with pytest.raises(ValueDecodeError, match="bits 0b10000000 of byte 0 are not defined"):
        alarm.decode(b"\x80")
    with pytest.raises(ValueDecodeError, match="stage: 1 is not a defined value"):
        alarm.decode(b"\x02")
    assert Date().decode(bytes.fromhex("07e8021d")) == "2024-02-29"  # a leap year
    with pytest.raises(ValueDecodeError, match="day 29 is not a day of 2023-02"):
        Date().decode(bytes.fromhex("07e7021d"))
    with pytest.raises(ValueDecodeError, match="month 0"):
        Date(3).decode(bytes.fromhex("07e700"))
    with pytest.raises(ValueDecodeError, match="minutes or seconds above 59"):
        Time(3).decode(bytes((12, 30, 60)))
    with pytest.raises(ValueDecodeError, match="not a date and time: hour 24"):
        DateTime(7).decode(bytes.fromhex("07ea0b17181e05"))
    with pytest.raises(ValueDecodeError, match="byte 0x07 at offset 2"):
        Text(4, 4).decode(b"AB\x07D")
    with pytest.raises(EchonetUsageError, match="not printable ASCII"):
        Text(4, 4).encode("AB\tD")


def test_arrays_and_objects_name_the_item_or_field_that_is_invalid() -> None:
    with pytest.raises(ValueDecodeError) as item:
        array(u16(0, 1000), 2, max_items=3).decode(bytes.fromhex("000a2000"))
    assert (item.value.reason, item.value.offset) == ("item 1 (0x2000): out of range 0-1000", 2)
    with pytest.raises(ValueDecodeError) as field:
        obj(("min", u8(0, 100)), ("max", u8(0, 100))).decode(b"\x00\x65")
    assert (field.value.reason, field.value.offset) == ("max (0x65): out of range 0-100", 1)


def test_coefficients_rescale_numbers_wherever_they_sit() -> None:
    energy = Number("uint32", 0, 99_999_999, "kWh", coefficients=(0xE2,))
    log = array(one_of(energy, enum({0xFFFFFFFE: "noData"}, size=4)), 4, 2, 2)
    assert log.coefficients == (0xE2,)
    scaled = log.rescaled({0xE2: 0.01})
    assert scaled.decode((12345).to_bytes(4, "big") + bytes.fromhex("fffffffe")) == [123.45, "noData"]
    assert scaled.coefficients == () and log.decode((12345).to_bytes(4, "big") * 2) == [12345, 12345]
    assert "times 0xE2" in energy.describe() and energy.schema()["coefficients"] == ["0xE2"]


def test_the_mra_loader_keeps_coefficients_and_the_absence_of_overflow_codes() -> None:
    from echonet.spec.mra import load_mra

    classes = load_mra(mra_dir())
    meter = classes[0x0280].properties[0xE0].type
    assert isinstance(meter, Number) and meter.coefficients == (0xE2,) and meter.specials == ()
    smart = classes[0x0288].properties[0xE0].type
    assert smart.coefficients == (0xD3, 0xE1)
    battery = classes[0x027D].properties[0xD3].type
    assert isinstance(battery, Number) and [str(s) for s in battery.specials] == ["overflow", "underflow"]


def test_why_invalid_accepts_what_a_device_may_report_and_check_what_a_controller_may_set() -> None:
    target = one_of(u8(0, 100, "Celsius"), enum({0xFD: "undefined"}, read_only=frozenset({0xFD})))
    assert target.why_invalid(b"\xfd") is None and target.check(b"\xfd") is not None  # reported, never set
    assert target.why_invalid(b"\xff") is None and target.check(b"\xff") is not None  # the overflow code
    assert target.why_invalid(b"\x65") == "out of range 0-100 Celsius, and not undefined (0xFD)"
