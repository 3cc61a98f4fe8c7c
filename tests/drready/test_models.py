"""What the three DRready models share: the binding interface, values that decode through the tables, the extension
table, time stepping that does not depend on how time is advanced, and DR / watchdog behaviour of the heaters."""

from __future__ import annotations

import json
import random
from collections.abc import Callable
from pathlib import Path

import pytest

from echonet.drready import (
    DAY,
    DR_COMMANDS,
    EXTENSIONS,
    HOUR,
    MINUTE,
    DrModel,
    ElectricWaterHeater,
    HybridWaterHeater,
    StorageBattery,
    with_extensions,
)
from echonet.drready.extensions import DR_DURATION, DR_REMAINING, DR_STATE, WATCHDOG_TIMEOUT
from echonet.spec import Rule, default_registry
from echonet.spec.model import PropertyDef

from ..conftest import ROOT, mra_dir

MODELS: dict[str, Callable[[], DrModel]] = {
    "water_heater": lambda: ElectricWaterHeater(0.0),
    "hybrid": lambda: HybridWaterHeater(0.0),
    "battery": lambda: StorageBattery(0.0),
}
PROPERTY_MAPS = {0x9D, 0x9E, 0x9F}


def _decode_all(model: DrModel) -> None:
    registry = with_extensions(default_registry())
    for epc in model.readable_epcs():
        edt = model.read(epc)
        decoded = registry.decode_value(model.class_id, epc, edt)
        assert decoded.definition is not None, f"0x{epc:02X}"
        assert decoded.error is None, f"0x{model.class_id:04X} 0x{epc:02X} {edt.hex()}: {decoded.error}"
        if epc < 0xF0:
            plain = default_registry().decode_value(model.class_id, epc, edt)
            assert plain.error is None and plain.standard


# Interface ------------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", MODELS)
def test_every_value_read_decodes_through_the_tables_all_day(name: str) -> None:
    model = MODELS[name]()
    for hour in range(0, 49, 3):
        model.advance_to(hour * HOUR)
        _decode_all(model)


def test_every_value_read_decodes_in_every_mode_of_the_dr_commands() -> None:
    battery = StorageBattery(0.0)
    for mode in (0x41, 0x42, 0x43, 0x44, 0x46):
        assert battery.write(0xDA, bytes((mode,)), battery.now) is None
        battery.advance_to(battery.now + 2 * HOUR)
        _decode_all(battery)
    hybrid = HybridWaterHeater(0.0)
    for mode in (0x41, 0x42, 0x43, 0x44):
        assert hybrid.write(0xB8, bytes((mode,)), hybrid.now) is None
        hybrid.advance_to(hybrid.now + 5 * HOUR)
        _decode_all(hybrid)
    heater = ElectricWaterHeater(0.0)
    assert heater.write(0xC7, b"\x01", 20 * HOUR) is None
    assert heater.write(0xCA, b"\x0a", 20 * HOUR) is None
    assert heater.write(0xCD, b"\x0f", 20 * HOUR) is None
    for hour in range(21, 48):
        heater.advance_to(hour * HOUR)
        _decode_all(heater)


@pytest.mark.parametrize("name", MODELS)
def test_standard_property_defs_are_the_registry_definitions(name: str) -> None:
    model = MODELS[name]()
    known = default_registry().properties(model.class_id)
    for epc, definition in model.property_defs().items():
        if definition.standard:
            reference = known[epc]
            assert (definition.name, definition.key, definition.type) == (reference.name, reference.key, reference.type)
            readable = epc in model.readable_epcs()
            assert definition.access.get == (reference.access.get if readable else Rule.NOT_APPLICABLE)
            if definition.access.set.applicable:
                assert reference.access.set.applicable
        else:
            assert 0xF0 <= epc <= 0xFF
    assert not PROPERTY_MAPS & set(model.property_defs()), "the device object derives the maps"


@pytest.mark.parametrize("name", MODELS)
def test_every_mandatory_property_of_the_class_is_implemented(name: str) -> None:
    model = MODELS[name]()
    defs = model.property_defs()
    for epc, reference in default_registry().properties(model.class_id).items():
        if epc in PROPERTY_MAPS:
            continue
        if reference.access.get is Rule.REQUIRED:
            assert epc in model.readable_epcs(), f"Get-mandatory 0x{epc:02X} {reference.name}"
        if reference.access.set is Rule.REQUIRED:
            assert defs[epc].access.set is Rule.REQUIRED, f"Set-mandatory 0x{epc:02X} {reference.name}"


@pytest.mark.parametrize("name", MODELS)
def test_the_standard_epcs_exist_in_the_machine_readable_appendix(name: str) -> None:
    model = MODELS[name]()
    directory = mra_dir()
    spec_epcs: set[int] = set()
    paths = (Path(directory, "devices", f"0x{model.class_id:04X}.json"), Path(directory, "superClass", "0x0000.json"))
    for path in paths:
        for prop in json.loads(path.read_text(encoding="utf-8"))["elProperties"]:
            if prop["validRelease"]["to"] == "latest":
                spec_epcs.add(int(prop["epc"], 16))
    standard = {epc for epc, d in model.property_defs().items() if d.standard}
    assert standard <= spec_epcs, sorted(hex(e) for e in standard - spec_epcs)


@pytest.mark.parametrize("name", MODELS)
def test_a_set_is_checked_against_the_table_first(name: str) -> None:
    model = MODELS[name]()
    defs = model.property_defs()
    assert model.write(0x80, b"\x30\x30", 0.0) == defs[0x80].check_set(b"\x30\x30") is not None
    assert model.write(0x80, b"\x32", 0.0) == defs[0x80].check_set(b"\x32") is not None
    assert model.write(0x88, b"\x42", 0.0) == "not settable"
    assert model.write(0x9D, b"\x00", 0.0) == "not implemented"
    assert model.write(DR_STATE, b"\x01", 0.0) == defs[DR_STATE].check_set(b"\x01") is not None
    assert model.write(DR_DURATION, b"\x1f", 0.0) is not None  # 31 minutes: longer than the programme allows
    assert model.write(0x81, b"\x08", 0.0) is None
    assert model.read(0x81) == b"\x08"


@pytest.mark.parametrize("name", MODELS)
def test_changed_epcs_reports_each_change_once(name: str) -> None:
    model = MODELS[name]()
    assert model.changed_epcs() == []
    assert model.write(0x80, b"\x31", 0.0) is None
    assert 0x80 in model.changed_epcs()
    assert 0x80 not in model.changed_epcs()
    assert model.write(0x80, b"\x31", 0.0) is None
    assert 0x80 not in model.changed_epcs()


@pytest.mark.parametrize("name", MODELS)
def test_status_properties_are_announced_and_extensions_are_passed_as_definitions(name: str) -> None:
    model = MODELS[name]()
    announced = model.announce_epcs()
    assert {0x80, 0x81, 0x88, DR_STATE} <= announced
    assert all(not d.standard for d in model.extension_defs())
    assert {d.epc for d in model.extension_defs()} == {d.epc for d in EXTENSIONS[model.class_id]}
    assert model.settable_epcs() >= DR_COMMANDS[model.class_id] & set(model.property_defs())


def test_identification_numbers_are_unique_and_carry_the_manufacturer_code() -> None:
    a, b = StorageBattery(0.0), StorageBattery(0.0)
    assert a.read(0x83) != b.read(0x83)
    assert a.read(0x83)[0] == 0xFE and a.read(0x83)[1:4] == a.read(0x8A) == b"\xff\xff\xff"
    assert len(a.read(0x83)) == 17


# Time stepping --------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", MODELS)
def test_a_simulated_day_takes_one_step_per_minute(name: str) -> None:
    """The cost of a day is fixed: 1,440 integration steps, however the day is advanced (a 1 s pace costs no more
    than the grid). Wall-clock time is measured by the benchmark, not asserted here."""
    model = MODELS[name]()
    model.advance_to(DAY)
    assert model.steps == 1440


@pytest.mark.parametrize("name", MODELS)
def test_totals_do_not_depend_on_how_time_is_advanced(name: str) -> None:
    whole, pieces = MODELS[name](), MODELS[name]()
    whole.advance_to(2 * DAY)
    rnd = random.Random(7)
    t = 0.0
    while t < 2 * DAY:
        t = min(2 * DAY, t + rnd.uniform(0.5, 4000.0))
        pieces.advance_to(t)
    assert whole.counters.values.keys() == pieces.counters.values.keys()
    for key, value in whole.counters.values.items():
        assert pieces.counters[key] == pytest.approx(value, rel=1e-3, abs=0.5), key


# DR duration, DR state and watchdog on the heaters (the battery's are in test_battery.py) -----------------------------


def test_hybrid_dr_without_renewal_returns_to_the_pre_dr_linkage_mode() -> None:
    hybrid = HybridWaterHeater(0.0)
    assert hybrid.write(DR_DURATION, bytes((20,)), 8 * HOUR) is None
    assert hybrid.write(0xB8, b"\x42", 8 * HOUR) is None
    assert hybrid.value(DR_STATE) == "active"
    assert hybrid.value(DR_REMAINING) == 20 * 60
    hybrid.advance_to(8 * HOUR + 15 * MINUTE)
    assert hybrid.write(0xB8, b"\x42", hybrid.now) is None  # renewal
    hybrid.advance_to(8 * HOUR + 34 * MINUTE)
    assert hybrid.read(0xB8) == b"\x42"
    hybrid.advance_to(8 * HOUR + 36 * MINUTE)
    assert hybrid.read(0xB8) == b"\x41"
    assert hybrid.value(DR_STATE) == "inactive"
    assert hybrid.value(DR_REMAINING) == 0


def test_setting_dr_state_inactive_ends_the_dr_and_restores_the_settings() -> None:
    hybrid = HybridWaterHeater(0.0)
    assert hybrid.write(0xB8, b"\x43", HOUR) is None
    assert hybrid.write(0xB9, bytes((10, 0, 14, 0)), HOUR) is None
    assert hybrid.dr_active and hybrid.value(DR_REMAINING) == 0  # no duration: stands until changed
    assert hybrid.write(DR_STATE, b"\x00", 2 * HOUR) is None
    assert hybrid.read(0xB8) == b"\x41"
    assert hybrid.read(0xB9) == bytes((9, 0, 15, 0))


def test_heater_watchdog_returns_to_own_settings_when_the_controller_goes_silent() -> None:
    heater = ElectricWaterHeater(0.0)
    assert heater.write(WATCHDOG_TIMEOUT, (600).to_bytes(2, "big"), 20 * HOUR) is None
    assert heater.write(0xC7, b"\x01", 20 * HOUR) is None
    assert heater.write(0xCA, b"\x0d", 20 * HOUR) is None
    heater.touch(20 * HOUR + 500)
    heater.advance_to(20 * HOUR + 1000)
    assert heater.read(0xC7) == b"\x01"  # fed at +500 s
    heater.advance_to(20 * HOUR + 1101)
    assert heater.read(0xC7) == b"\x00" and heater.read(0xCA) == b"\x00"
    assert heater.value(DR_STATE) == "ownModeAfterTimeout"
    assert sum(heater.next_plan[9:18]) == 0


def test_the_watchdog_fires_once_per_silence_and_leaves_a_device_in_its_own_mode_alone() -> None:
    battery = StorageBattery(0.0)
    assert battery.write(WATCHDOG_TIMEOUT, (60).to_bytes(2, "big"), 0.0) is None
    battery.advance_to(HOUR)
    assert battery.value(DR_STATE) == "inactive"  # nothing to return from


def _extension_table_rows(text: str) -> dict[int, str]:
    rows: dict[int, str] = {}
    for line in text.splitlines():
        if line.startswith("| 0xF"):
            rows[int(line.split("|")[1].strip(), 16)] = line
    return rows


def test_the_extension_table_is_documented_and_marked_non_standard() -> None:
    text = (ROOT / "docs" / "drready-extensions.md").read_text(encoding="utf-8")
    assert "NON-STANDARD" in text
    rows = _extension_table_rows(text)
    every: dict[int, PropertyDef] = {}
    for class_defs in EXTENSIONS.values():
        for definition in class_defs:
            assert not definition.standard and 0xF0 <= definition.epc <= 0xFF
            assert definition.note.startswith("non-standard")
            every.setdefault(definition.epc, definition)
    assert set(rows) == set(every)
    for epc, definition in every.items():
        assert f"`{definition.key}`" in rows[epc] and definition.name.split(" (")[0] in rows[epc]


def test_tools_see_extension_values_as_non_standard() -> None:
    battery = StorageBattery(0.0, reserve_wh=2000)
    registry = with_extensions(default_registry())
    decoded = registry.decode_value(0x027D, 0xF4, battery.read(0xF4))
    assert decoded.value == 2000 and decoded.unit == "Wh" and decoded.standard is False
    plain = default_registry().decode_value(0x027D, 0xF4, battery.read(0xF4))
    assert plain.definition is None and plain.value == (2000).to_bytes(4, "big")
