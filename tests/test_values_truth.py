"""Values tell the truth, through the real command line (`echonet decode`, `decode --json`, `set`, `spec`):
special codes are named as such, values outside their definition are flagged and never shown as measurements,
numbers scaled by other properties are scaled (or say which unit is unknown), and one code has one name.

The JSON shape is the one docs/json-values.md defines. Tests that need the Machine Readable Appendix skip cleanly
where it is absent."""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any

import pytest

from echonet import EOJ, ESV, Frame, Property, encode
from echonet.cli import main

from .conftest import ROOT, mra_dir

CONTROLLER = EOJ(0x05, 0xFF, 0x01)


def frame(class_id: int, *props: tuple[int, bytes], esv: ESV = ESV.GET_RES) -> str:
    """A Get_Res from object CLASS:1 to a controller carrying ``props``, as the hex `echonet decode` takes."""
    return encode(Frame.make(1, EOJ.of(class_id, 1), CONTROLLER, esv, [Property(e, d) for e, d in props])).hex()


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def decoded_line(capsys: pytest.CaptureFixture[str], class_id: int, epc: int, edt: bytes, *mra: str) -> str:
    """The text line `echonet decode` prints for one property."""
    code, out, err = run(capsys, *mra, "decode", frame(class_id, (epc, edt)))
    assert code == 0 and err == "", err
    lines = [line.strip() for line in out.splitlines() if line.strip().startswith(f"0x{epc:02X} ")]
    assert len(lines) == 1, out
    return lines[0]


def decoded_json(
    capsys: pytest.CaptureFixture[str], class_id: int, *props: tuple[int, bytes], mra: bool = False
) -> Any:
    """The JSON records `echonet decode --json` prints for the properties of one frame."""
    options = ("--mra", str(mra_dir())) if mra else ()
    code, out, err = run(capsys, *options, "decode", "--json", frame(class_id, *props))
    assert code == 0 and err == "", err
    return json.loads(out)["properties"]


def mra_options() -> tuple[str, str]:
    return ("--mra", str(mra_dir()))


# Special codes ----------------------------------------------------------------------------------------------------


def test_battery_power_0x7fffffff_is_the_overflow_code_not_2147483647_w(capsys: pytest.CaptureFixture[str]) -> None:
    line = decoded_line(capsys, 0x027D, 0xD3, bytes.fromhex("7fffffff"))
    assert line == "0xD3 Measured instantaneous charging/discharging power = overflow (0x7FFFFFFF)"
    (record,) = decoded_json(capsys, 0x027D, (0xD3, bytes.fromhex("7fffffff")))
    assert record["value"] == "overflow" and record["special"] is True and record["valid"] is True
    assert "unit" not in record and record["edt"] == "7fffffff"


def test_signed_power_0x80000000_is_the_underflow_code(capsys: pytest.CaptureFixture[str]) -> None:
    line = decoded_line(capsys, 0x027D, 0xD3, bytes.fromhex("80000000"))
    assert line.endswith("= underflow (0x80000000)")


def test_remaining_energy_0xfffffffe_is_the_underflow_code_not_4294967294_wh(
    capsys: pytest.CaptureFixture[str],
) -> None:
    line = decoded_line(capsys, 0x027D, 0xE2, bytes.fromhex("fffffffe"))
    assert line == "0xE2 Remaining stored electricity 1 = underflow (0xFFFFFFFE)"
    assert "4294967294" not in line and "Wh" not in line


def test_percentage_0xfe_and_0xff_are_its_underflow_and_overflow_codes_not_254_and_255_percent(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert decoded_line(capsys, 0x027D, 0xE4, b"\xfe").endswith("= underflow (0xFE)")
    assert decoded_line(capsys, 0x027D, 0xE4, b"\xff").endswith("= overflow (0xFF)")


def test_named_codes_beside_a_number_are_special_codes_with_their_code(capsys: pytest.CaptureFixture[str]) -> None:
    assert decoded_line(capsys, 0x027D, 0xAA, bytes(4)).endswith("= noSetting (0x00000000)")
    assert decoded_line(capsys, 0x026B, 0xB3, b"\xfd").endswith("= undefined (0xFD)")
    (record,) = decoded_json(capsys, 0x026B, (0xB3, b"\xfd"))
    assert (record["value"], record["special"], "unit" in record) == ("undefined", True, False)
    (number,) = decoded_json(capsys, 0x026B, (0xB3, b"\x3c"))
    assert (number["value"], number["unit"], "special" in number) == (60, "Celsius", False)


def test_special_codes_inside_an_array_are_their_names(capsys: pytest.CaptureFixture[str]) -> None:
    prediction = bytes((11, 23, 9)) + b"\x80\x00" + b"\x00\x64" * 23  # hour 0 has no prediction
    (record,) = decoded_json(capsys, 0x026B, (0xD9, prediction))
    assert record["valid"] is True
    assert record["value"]["surplusEnergyPredictionValue"][:2] == ["invalid", 1000]


# Invalid EDTs ----------------------------------------------------------------------------------------------------


def test_percentage_above_100_is_flagged_invalid_and_has_no_value_in_json(capsys: pytest.CaptureFixture[str]) -> None:
    line = decoded_line(capsys, 0x027D, 0xE4, b"\x65")
    assert line == "0xE4 Remaining stored electricity 3 = invalid 0x65: out of range 0-100 %"
    (record,) = decoded_json(capsys, 0x027D, (0xE4, b"\x65"))
    assert record["valid"] is False and record["error"] == "out of range 0-100 %" and record["edt"] == "65"
    assert "value" not in record and "unit" not in record


def test_a_code_the_definition_lacks_is_flagged_invalid_not_shown_as_a_number(
    capsys: pytest.CaptureFixture[str],
) -> None:
    line = decoded_line(capsys, 0x027D, 0xDA, b"\x99")
    assert line == "0xDA Operation mode setting = invalid 0x99: not a defined code"
    (record,) = decoded_json(capsys, 0x027D, (0xDA, b"\x99"))
    assert record["valid"] is False and "value" not in record


def test_a_number_between_its_range_and_its_codes_says_both(capsys: pytest.CaptureFixture[str]) -> None:
    line = decoded_line(capsys, 0x026B, 0xB3, b"\x65")  # 101 degrees; the only code is 0xFD undefined
    assert line.endswith("= invalid 0x65: out of range 0-100 Celsius, and not undefined (0xFD)")


def test_an_out_of_range_field_makes_the_object_invalid_and_names_the_field(capsys: pytest.CaptureFixture[str]) -> None:
    limits = (0).to_bytes(4, "big") + (1_000_000_000).to_bytes(4, "big")  # maxValue above 999,999,999 W
    (record,) = decoded_json(capsys, 0x027D, (0xC8, limits))
    assert record["valid"] is False and "value" not in record
    assert record["error"] == "maxValue (0x3B9ACA00): out of range 0-999999999 W"


def test_a_level_outside_its_levels_is_invalid(capsys: pytest.CaptureFixture[str]) -> None:
    assert decoded_line(capsys, 0x026B, 0xE8, b"\x38").endswith("= 8")
    line = decoded_line(capsys, 0x026B, 0xE8, b"\x40")
    assert line.endswith("= invalid 0x40: not a level (0x31-0x38 are levels 1-8)")


def test_a_bitmap_with_undefined_bits_is_invalid(capsys: pytest.CaptureFixture[str]) -> None:
    assert decoded_line(capsys, 0x026B, 0xC2, bytes.fromhex("01000000")).endswith(
        "= noHotWater=alarm, leaking=normal, freezing=normal"
    )
    line = decoded_line(capsys, 0x026B, 0xC2, bytes.fromhex("09000000"))
    assert line.endswith("= invalid 0x09000000: bits 0b00001000 of byte 0 are not defined")


def test_dates_and_times_that_are_none_are_invalid(capsys: pytest.CaptureFixture[str]) -> None:
    assert decoded_line(capsys, 0x027D, 0x98, bytes.fromhex("07ea0217")).endswith("= 2026-02-23")
    month = decoded_line(capsys, 0x027D, 0x98, bytes.fromhex("07ea0d01"))
    assert month.endswith("= invalid 0x07EA0D01: 2026-13-01 is not a date: month 13 is not a month")
    day = decoded_line(capsys, 0x027D, 0x98, bytes.fromhex("07e9021d"))  # 2025 is no leap year
    assert day.endswith("is not a date: day 29 is not a day of 2025-02")
    time = decoded_line(capsys, 0x027D, 0x97, bytes.fromhex("1900"))
    assert time.endswith("= invalid 0x1900: not a time: hour 25 is above 23")


def test_text_with_bytes_that_are_not_printable_ascii_is_invalid(capsys: pytest.CaptureFixture[str]) -> None:
    assert decoded_line(capsys, 0x027D, 0x8C, b"EL-0123\x00\x00\x00\x00\x00").endswith("= EL-0123")
    line = decoded_line(capsys, 0x027D, 0x8C, b"EL-\xff123\x00\x00\x00\x00\x00")
    assert line.endswith(": byte 0xFF at offset 3 is not printable ASCII")
    assert "invalid 0x454C2DFF" in line


def test_a_wrong_size_is_invalid_with_the_edt_shown(capsys: pytest.CaptureFixture[str]) -> None:
    line = decoded_line(capsys, 0x027D, 0xD3, b"\x00\x01")
    assert line.endswith("= invalid 0x0001: EDT of 2 byte(s), expected 4")


def test_decode_of_an_invalid_value_exits_0_without_a_traceback_from_a_real_process() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "echonet", "decode", frame(0x027D, (0xE4, b"\x65"), (0xD3, bytes.fromhex("7fffffff")))],
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    assert result.returncode == 0 and result.stderr == ""
    assert "= invalid 0x65: out of range 0-100 %" in result.stdout
    assert "= overflow (0x7FFFFFFF)" in result.stdout


def test_set_refuses_a_special_code_and_an_out_of_range_value_before_sending(
    capsys: pytest.CaptureFixture[str],
) -> None:
    # Nothing listens on 127.0.0.9: a value the tables refuse stops the command before anything is sent.
    for value, reason in (
        ("overflow", "overflow (0xFF) is a code a device reports, not a value to set"),
        ("0xff", "overflow (0xFF) is a code a device reports, not a value to set"),
        ("101", "101 % is outside 0 %..100 %"),
    ):
        code, out, err = run(capsys, "set", "127.0.0.9", "027D01", f"acChargeUpperLimit={value}", "--timeout", "0.2")
        assert code == 2 and out == "", (value, err)
        assert err.count("\n") == 1 and reason in err and "Traceback" not in err, err


# Numbers scaled by other properties (MRA) ------------------------------------------------------------------------


def test_watt_hour_meter_energy_is_scaled_by_its_unit_in_the_same_frame(capsys: pytest.CaptureFixture[str]) -> None:
    energy, unit = (0xE0, (29206).to_bytes(4, "big")), (0xE2, b"\x02")  # 0x02: x0.01 kWh
    code, out, _ = run(capsys, *mra_options(), "decode", frame(0x0280, energy, unit))
    assert code == 0
    assert "0xE0 Cumulative amounts of electric energy measurement value = 292.06 kWh" in out
    for props in ((energy, unit), (unit, energy)):  # the unit may come before or after the value
        records = {r["epc"]: r for r in decoded_json(capsys, 0x0280, *props, mra=True)}
        assert (records["0xE0"]["value"], records["0xE0"]["unit"]) == (292.06, "kWh")


def test_flowmeter_volume_is_scaled_by_its_unit(capsys: pytest.CaptureFixture[str]) -> None:
    records = decoded_json(capsys, 0x0281, (0xE0, (63587).to_bytes(4, "big")), (0xE1, b"\x03"), mra=True)
    assert (records[0]["value"], records[0]["unit"]) == (63.587, "m3")


def test_a_number_without_its_unit_property_is_unscaled_with_a_note_and_no_value(
    capsys: pytest.CaptureFixture[str],
) -> None:
    line = decoded_line(capsys, 0x0280, 0xE0, (29206).to_bytes(4, "big"), *mra_options())
    assert line.endswith("= 29206 (unit 0xE2 unknown)") and "kWh" not in line
    (record,) = decoded_json(capsys, 0x0280, (0xE0, (29206).to_bytes(4, "big")), mra=True)
    assert record["unscaled"] == 29206 and record["note"] == "unit 0xE2 unknown"
    assert "value" not in record and "unit" not in record


def test_smart_meter_energy_multiplies_coefficient_and_unit(capsys: pytest.CaptureFixture[str]) -> None:
    props = ((0xE0, (1234).to_bytes(4, "big")), (0xD3, (3).to_bytes(4, "big")), (0xE1, b"\x01"))  # x3 x0.1 kWh
    records = {r["epc"]: r for r in decoded_json(capsys, 0x0288, *props, mra=True)}
    assert (records["0xE0"]["value"], records["0xE0"]["unit"]) == (370.2, "kWh")
    partial = decoded_json(capsys, 0x0288, props[0], props[2], mra=True)  # no 0xD3
    assert partial[0]["note"] == "unit 0xD3 unknown"


def test_a_log_of_readings_is_scaled_item_by_item_and_keeps_no_data_codes(capsys: pytest.CaptureFixture[str]) -> None:
    log = (1000).to_bytes(4, "big") + bytes.fromhex("fffffffe") * 47
    records = decoded_json(capsys, 0x0280, (0xE3, log), (0xE2, b"\x01"), mra=True)
    assert records[0]["value"][:2] == [100.0, "noData"] and len(records[0]["value"]) == 48


def test_a_setget_answer_scales_with_the_unit_from_either_half(capsys: pytest.CaptureFixture[str]) -> None:
    answer = Frame.make(
        1, EOJ.of(0x0280, 1), CONTROLLER, ESV.SETGET_RES, [Property(0xE2, b"")],
        get_properties=[Property(0xE0, (29206).to_bytes(4, "big")), Property(0xE2, b"\x02")],
    )  # fmt: skip
    code, out, _ = run(capsys, *mra_options(), "decode", "--json", encode(answer).hex())
    assert code == 0
    assert json.loads(out)["get_properties"][0]["value"] == 292.06


# One name per code (MRA) ----------------------------------------------------------------------------------------


def test_operation_status_is_on_and_off_in_every_class_with_the_appendix(capsys: pytest.CaptureFixture[str]) -> None:
    for class_id in (0x0130, 0x0290, 0x027D, 0x026B, 0x0280):  # classes of the Appendix and built-in ones
        (record,) = decoded_json(capsys, class_id, (0x80, b"\x30"), mra=True)
        assert record["value"] == "on", hex(class_id)


def test_an_appendix_class_takes_the_built_in_names_of_the_super_class_codes(
    capsys: pytest.CaptureFixture[str],
) -> None:
    (saving,) = decoded_json(capsys, 0x0130, (0x8F, b"\x41"), mra=True)  # the Appendix: "true"
    assert saving["value"] == "powerSaving"
    (fault,) = decoded_json(capsys, 0x0263, (0x89, b"\x00\x00"), mra=True)  # the Appendix: "NoFault"
    assert fault["value"] == "noFault"


def test_the_built_in_name_wins_over_the_appendix_name_for_hybrid_heater_0xb0(
    capsys: pytest.CaptureFixture[str],
) -> None:
    (record,) = decoded_json(capsys, 0x02A6, (0xB0, b"\x43"), mra=True)
    assert record["value"] == "manualNoHeating"


# echonet spec shows what get and set take ------------------------------------------------------------------------


def test_spec_text_shows_the_key_of_every_property_and_the_names_of_the_codes(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, text, _ = run(capsys, "spec", "0x027D")
    assert code == 0
    rows = {line.split()[0]: line.split() for line in text.splitlines() if line.startswith("0x")}
    assert rows["0x80"][1] == "operationStatus" and rows["0xDA"][1] == "operationMode"
    assert rows["0xE4"][1] == "remainingCapacity3"
    code, out, _ = run(capsys, "spec", "--json", "0x027D")
    keys = {p["epc"]: p["key"] for p in json.loads(out)["properties"]}
    assert len(keys) == 79 and all(rows[epc][1] == key for epc, key in keys.items())
    assert "0x42=charging" in text and "0x44=standby" in text


def test_spec_wraps_a_long_type_instead_of_cutting_off_code_names(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "spec", "0x027D")
    assert code == 0 and "..." not in out
    assert "0x005A..0x006E=controlCircuitBoard" in out  # the 0x89 fault description's last ranges
    assert "0x49=capacityRecalculation" in out


def test_spec_json_lists_every_code_with_its_name_and_special_codes_with_theirs(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, out, _ = run(capsys, "spec", "--json", "0x027D")
    assert code == 0
    props = {p["epc"]: p for p in json.loads(out)["properties"]}
    mode = props["0xDA"]["schema"]
    assert mode["kind"] == "enum" and {"code": "0x42", "name": "charging"} in mode["values"]
    percent = props["0xE4"]["schema"]
    assert (percent["minimum"], percent["maximum"], percent["unit"]) == (0, 100, "%")
    assert percent["special"] == [{"code": "0xFE", "name": "underflow"}, {"code": "0xFF", "name": "overflow"}]
    target = props["0xAA"]["schema"]
    assert [o["kind"] for o in target["options"]] == ["number", "enum"]


def test_spec_json_lists_the_appendix_names_as_aliases(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, *mra_options(), "spec", "--json", "0x02A6")
    assert code == 0
    props = {p["epc"]: p for p in json.loads(out)["properties"]}
    values = {v["code"]: v for v in props["0xB0"]["schema"]["values"]}
    assert values["0x43"] == {"code": "0x43", "name": "manualNoHeating", "aliases": ["manualNotHeating"]}
    assert {v["code"]: v.get("aliases") for v in props["0x80"]["schema"]["values"]} == {
        "0x30": ["true"],
        "0x31": ["false"],
    }


def test_spec_shows_which_properties_scale_a_number(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, *mra_options(), "spec", "0x0280")
    assert code == 0
    (row,) = [line for line in out.splitlines() if line.startswith("0xE0 ")]
    assert "cumulativeElectricEnergy" in row and "times 0xE2" in row
    code, out, _ = run(capsys, *mra_options(), "spec", "--json", "0x0280")
    e0 = next(p for p in json.loads(out)["properties"] if p["epc"] == "0xE0")
    assert e0["schema"]["coefficients"] == ["0xE2"] and "special" not in e0["schema"]  # "overflowCode": false
