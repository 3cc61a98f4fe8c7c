"""The hybrid water heater (0x02A6): energy balance with gas back-up, and the solar linkage modes 0xB8 / 0xB9."""

from __future__ import annotations

import pytest

from echonet.drready import DAY, HOUR, HybridWaterHeater
from echonet.drready.extensions import BOILING_PLAN, CUMULATIVE_GAS, DR_AVAILABLE_ENERGY, NEXT_BOILING_PLAN

MODE_OFF, SELF_CONSUMPTION, SELL_PRIORITY = b"\x41", b"\x42", b"\x43"


def _kwh(heater: HybridWaterHeater) -> float:
    value = heater.value(0x85)
    assert isinstance(value, float | int)
    return float(value)


def _day_in_mode(mode: bytes, window: tuple[int, int] = (9, 15)) -> tuple[float, float, float]:
    """(Wh inside the solar window, Wh over the day, gas heat Wh) of the second day in ``mode``."""
    heater = HybridWaterHeater(0.0)
    assert heater.write(0xB9, bytes((window[0], 0, window[1], 0)), 0.0) is None
    assert heater.write(0xB8, mode, 0.0) is None
    heater.advance_to(DAY)
    day_start, gas_start = _kwh(heater), heater.gas_heat_wh
    heater.advance_to(DAY + window[0] * HOUR)
    inside = _kwh(heater)
    heater.advance_to(DAY + window[1] * HOUR)
    inside = _kwh(heater) - inside
    heater.advance_to(2 * DAY)
    return inside * 1000, (_kwh(heater) - day_start) * 1000, heater.gas_heat_wh - gas_start


def test_energy_balance_with_gas_over_a_day_within_one_percent() -> None:
    heater = HybridWaterHeater(0.0)
    heater.advance_to(DAY)
    q0, before = heater.q, dict(heater.counters.values)
    electric_kwh = _kwh(heater)
    heater.advance_to(2 * DAY)
    electric = (_kwh(heater) - electric_kwh) * 1000

    def delta(key: str) -> float:
        return heater.counters[key] - before.get(key, 0.0)

    heat_in = electric * heater.heat_pump.cop + delta("backup_heat")
    delivered = delta("delivered_tank") + delta("backup_heat")
    assert heat_in == pytest.approx((heater.q - q0) + delivered + delta("loss"), rel=0.01)
    assert delivered == pytest.approx(delta("demand"), rel=1e-9)  # every litre supplied, by tank or burner
    assert heater.counters["shortage"] == 0


def test_household_consumption_raises_daytime_electric_demand_vs_mode_off() -> None:
    off_inside, _, off_gas = _day_in_mode(MODE_OFF)
    self_inside, _, self_gas = _day_in_mode(SELF_CONSUMPTION)
    assert self_inside > off_inside + 1000
    assert self_gas <= off_gas  # the hotter tank covers more of the evening


def test_sell_priority_lowers_daytime_electric_demand_vs_mode_off() -> None:
    off_inside, _, _ = _day_in_mode(MODE_OFF)
    sell_inside, sell_total, _ = _day_in_mode(SELL_PRIORITY)
    assert off_inside > 0
    assert sell_inside == 0
    assert sell_total > 0


def test_solar_window_moves_the_electric_plan() -> None:
    heater = HybridWaterHeater(0.0)
    assert heater.write(0xB8, SELF_CONSUMPTION, 0.0) is None
    early = heater.value(BOILING_PLAN)
    assert heater.write(0xB9, bytes((11, 0, 14, 0)), 0.0) is None
    late = heater.value(BOILING_PLAN)
    assert early[9] > 0 and late[9] == late[10] == 0 and late[11] > 0
    assert heater.value(NEXT_BOILING_PLAN)[11] > 0
    assert heater.write(0xB9, bytes((14, 0, 11, 0)), 0.0) is not None  # ends before it starts
    assert heater.write(0xB9, bytes((24, 0, 11, 0)), 0.0) is not None  # not a time


def test_sell_priority_keeps_boiling_out_of_a_window_that_starts_mid_hour() -> None:
    heater = HybridWaterHeater(0.0)
    assert heater.write(0xB9, bytes((9, 30, 15, 30)), 0.0) is None
    assert heater.write(0xB8, SELL_PRIORITY, 0.0) is None
    plan = heater.value(BOILING_PLAN)
    assert sum(plan[9:16]) == 0 and plan[16] > 0


def test_gas_backup_heats_when_the_tank_is_empty() -> None:
    heater = HybridWaterHeater(0.0, initial_fill=0.5)
    assert heater.write(0xB0, b"\x43", 0.0) is None  # no heat-pump boiling
    heater.advance_to(DAY)
    assert heater.q == 0 and heater.value(0xE1) == 0
    assert heater.gas_heat_wh > 0.5 * heater.counters["demand"]
    assert heater.counters["shortage"] == 0
    assert heater.value(CUMULATIVE_GAS) == pytest.approx(heater.gas_m3, abs=0.001)
    assert _kwh(heater) == 0


def test_auxiliary_only_hot_water_supplies_everything_by_gas() -> None:
    heater = HybridWaterHeater(0.0)
    assert heater.write(0xB6, b"\x41", 0.0) is None
    heater.advance_to(DAY)
    assert heater.gas_heat_wh == pytest.approx(heater.counters["demand"])
    assert heater.electric_wh == 0


def test_power_and_energy_follow_the_plan() -> None:
    heater = HybridWaterHeater(0.0)
    plan = heater.value(BOILING_PLAN)
    hour = next(h for h in range(24) if plan[h] >= heater.heat_pump.elec_w)
    heater.advance_to(hour * HOUR + 60)
    assert heater.value(0x84) == heater.heat_pump.elec_w and heater.value(0xB2) == "heating"
    start = _kwh(heater)
    heater.advance_to(DAY)
    assert (_kwh(heater) - start) * 1000 == pytest.approx(sum(plan[hour:]) - 625 / 60, rel=0.02)


def test_dr_available_energy_is_what_the_linkage_can_move_into_the_window() -> None:
    heater = HybridWaterHeater(0.0)
    available = heater.value(DR_AVAILABLE_ENERGY)
    self_inside, _, _ = _day_in_mode(SELF_CONSUMPTION)
    off_inside, _, _ = _day_in_mode(MODE_OFF)
    assert available > 0
    assert available == pytest.approx(self_inside - off_inside, rel=0.05)
