"""The heat-pump water heater (0x026B): energy balance, the boiling plan, and the Release R energy shift."""

from __future__ import annotations

import pytest

from echonet.drready import DAY, HOUR, MINUTE, ElectricWaterHeater
from echonet.drready.extensions import BOILING_PLAN, DR_AVAILABLE_ENERGY, DR_DURATION, DR_STATE, NEXT_BOILING_PLAN

AT_1300 = b"\x0d"


def _kwh(heater: ElectricWaterHeater) -> float:
    """0x85 read through the table (kWh, 0.001 steps)."""
    value = heater.value(0x85)
    assert isinstance(value, float | int)
    return float(value)


def _energy_between(heater: ElectricWaterHeater, t0: float, t1: float) -> float:
    """Wh measured by 0x85 from ``t0`` to ``t1``."""
    heater.advance_to(t0)
    before = _kwh(heater)
    heater.advance_to(t1)
    return (_kwh(heater) - before) * 1000


def _ask_for_shift(heater: ElectricWaterHeater, now: float, *codes: bytes) -> None:
    assert heater.write(0xC7, b"\x01", now) is None
    assert heater.write(0xCA, codes[0], now) is None
    if len(codes) > 1:
        assert heater.write(0xCD, codes[1], now) is None


def test_energy_balance_over_a_day_within_one_percent() -> None:
    heater = ElectricWaterHeater(0.0)
    heater.advance_to(DAY)  # settle into the daily rhythm
    q0 = heater.q
    counters = dict(heater.counters.values)
    electric = _energy_between(heater, DAY, 2 * DAY)
    delivered = heater.counters["delivered_tank"] - counters["delivered_tank"]
    losses = heater.counters["loss"] - counters["loss"]
    heat_in = electric * heater.heat_pump.cop
    assert electric > 2000
    assert heat_in == pytest.approx((heater.q - q0) + delivered + losses, rel=0.01)
    assert heater.counters["shortage"] == 0
    assert delivered == pytest.approx(heater.household.daily_draw_litres * heater.tank.wh_per_supply_litre, rel=1e-6)


def test_night_boiling_follows_the_plan_and_power_reads_back() -> None:
    heater = ElectricWaterHeater(0.0)
    heater.advance_to(23 * HOUR)  # a cycle starts at the standard time 23:00
    start_kwh = _kwh(heater)
    plan = heater.value(BOILING_PLAN)
    assert sum(plan[7:23]) == 0 and sum(plan[0:7]) > 2000
    running = [h for h in range(7) if plan[h] >= heater.heat_pump.elec_w]
    heater.advance_to(DAY + running[0] * HOUR + 30 * MINUTE)
    assert heater.value(0x84) == heater.heat_pump.elec_w
    assert heater.value(0xB2) == "heating"
    heater.advance_to(DAY + 7 * HOUR)
    assert (_kwh(heater) - start_kwh) * 1000 == pytest.approx(sum(plan), rel=0.01)
    heater.advance_to(DAY + 10 * HOUR)
    assert heater.value(0x84) == 0 and heater.value(0xB2) == "notHeating"


def test_dr_start_time_moves_boiling_into_the_daytime_slot() -> None:
    own, shifted = ElectricWaterHeater(0.0), ElectricWaterHeater(0.0)
    for heater in (own, shifted):
        heater.advance_to(21 * HOUR)
    _ask_for_shift(shifted, 21 * HOUR, AT_1300)
    expected = shifted.value(0xCB)["at1300"]
    nights = [_energy_between(h, 23 * HOUR, DAY + 7 * HOUR) for h in (own, shifted)]
    days = [_energy_between(h, DAY + 13 * HOUR, DAY + 23 * HOUR) for h in (own, shifted)]
    assert days[0] == 0 and nights[1] < 0.5 * nights[0]
    assert days[1] == pytest.approx(expected, rel=0.01)
    assert shifted.counters["shortage"] == own.counters["shortage"] == 0
    # the day's total is about the same, only moved
    assert nights[1] + days[1] == pytest.approx(nights[0], rel=0.1)


def test_expected_energies_match_the_plan() -> None:
    heater = ElectricWaterHeater(0.0, energy_shifts=1)
    heater.advance_to(21 * HOUR)
    _ask_for_shift(heater, 21 * HOUR, AT_1300)
    expected, first_hour = heater.value(0xCB)["at1300"], heater.value(0xCC)["at1300"]
    projected = heater.value(NEXT_BOILING_PLAN)
    assert sum(projected[13:23]) == expected
    assert projected[13] == first_hour == heater.heat_pump.elec_w
    heater.advance_to(23 * HOUR)  # the standard time fixes the plan
    plan = heater.value(BOILING_PLAN)
    assert plan[13:23] == projected[13:23]
    assert sum(plan[13:23]) == expected and plan[13] == first_hour
    assert heater.value(0xC7) == "participating"


def test_two_shifts_split_the_daytime_boiling() -> None:
    heater = ElectricWaterHeater(0.0)
    heater.advance_to(21 * HOUR)
    _ask_for_shift(heater, 21 * HOUR, b"\x0a", b"\x0f")  # 10:00 and 15:00
    heater.advance_to(23 * HOUR)
    plan = heater.value(BOILING_PLAN)
    assert plan[10] > 0 and plan[15] == heater.value(0xCF)["at1500"] > 0
    assert sum(plan[15:23]) == heater.value(0xCE)["at1500"]
    assert sum(plan[10:23]) == pytest.approx(heater.value(0xCB)["at1000"], abs=2)
    assert plan[9] == 0 and sum(plan[7:10]) == 0


def test_shift_settings_and_estimates_are_cleared_at_the_shift_time_and_estimated_again() -> None:
    heater = ElectricWaterHeater(0.0)
    _ask_for_shift(heater, 21 * HOUR, AT_1300)
    assert heater.value(DR_STATE) == "active"
    heater.advance_to(DAY + 13 * HOUR + MINUTE)
    assert heater.value(0xC7) == "notParticipating" and heater.value(0xCA) == "cleared"
    assert set(heater.value(0xCB).values()) == {0} and set(heater.value(0xCC).values()) == {0}
    assert heater.value(DR_STATE) == "inactive"
    assert heater.value(0x84) == heater.heat_pump.elec_w  # the shift runs on
    heater.advance_to(DAY + 20 * HOUR + MINUTE)  # estimate hour: three hours before the standard time
    assert heater.value(0xCB)["at1300"] > 0


def test_a_request_for_the_next_day_survives_the_shift_time() -> None:
    heater = ElectricWaterHeater(0.0)
    _ask_for_shift(heater, 21 * HOUR, AT_1300)
    _ask_for_shift(heater, DAY + 8 * HOUR, b"\x0f")  # already asking for 15:00 the day after
    heater.advance_to(DAY + 14 * HOUR)
    assert heater.value(0xC7) == "participating" and heater.value(0xCA) == "at1500"
    assert heater.value(NEXT_BOILING_PLAN)[15] > 0


def test_dr_available_amount_is_at_least_half_of_the_days_boiling() -> None:
    heater = ElectricWaterHeater(0.0)
    heater.advance_to(DAY)
    day = heater.day_boiling_wh()
    assert heater.value(DR_AVAILABLE_ENERGY) >= 0.5 * day
    for hour, wh in heater.value(0xCB).items():
        assert wh >= 0.5 * day, hour


def test_seventeen_hundred_is_not_a_first_shift_of_a_two_shift_device() -> None:
    twice, once = ElectricWaterHeater(0.0), ElectricWaterHeater(0.0, energy_shifts=1)
    assert twice.write(0xCA, b"\x11", HOUR) is not None
    assert once.write(0xCA, b"\x11", HOUR) is None
    assert 0xCD in twice.property_defs() and 0xCD not in once.property_defs()
    assert twice.value(0xC9) == 2 and once.value(0xC9) == 1


def test_dr_expiry_before_the_standard_time_withdraws_the_shift() -> None:
    heater = ElectricWaterHeater(0.0)
    assert heater.write(DR_DURATION, bytes((30,)), 20 * HOUR) is None
    _ask_for_shift(heater, 20 * HOUR, AT_1300)
    assert heater.value(NEXT_BOILING_PLAN)[13] > 0
    heater.advance_to(20 * HOUR + 31 * MINUTE)
    assert heater.value(0xC7) == "notParticipating" and heater.value(0xCA) == "cleared"
    assert sum(heater.value(NEXT_BOILING_PLAN)[9:18]) == 0


def test_dr_expiry_after_the_plan_was_fixed_cancels_the_daytime_boiling_and_hot_water_stays() -> None:
    heater = ElectricWaterHeater(0.0)
    assert heater.write(DR_DURATION, bytes((30,)), 22 * HOUR + 45 * MINUTE) is None
    _ask_for_shift(heater, 22 * HOUR + 45 * MINUTE, AT_1300)
    heater.advance_to(23 * HOUR + MINUTE)
    assert heater.value(BOILING_PLAN)[13] > 0
    heater.advance_to(23 * HOUR + 16 * MINUTE)
    assert sum(heater.value(BOILING_PLAN)[9:18]) == 0
    heater.advance_to(2 * DAY)
    assert heater.counters["shortage"] == 0  # the heater reheats by day (0xC0 permits it)


def test_without_daytime_reheating_a_cancelled_shift_runs_out_of_hot_water() -> None:
    heater = ElectricWaterHeater(0.0)
    assert heater.write(0xC0, b"\x42", 20 * HOUR) is None
    _ask_for_shift(heater, 20 * HOUR, AT_1300)
    heater.advance_to(23 * HOUR + MINUTE)
    assert heater.write(0xC7, b"\x00", heater.now) is None  # participation withdrawn
    alarms = set()
    for minute in range(0, 23 * 60, 10):
        heater.advance_to(DAY + minute * MINUTE)
        alarms.add(heater.read(0xC2)[0] & 1)
    assert heater.counters["shortage"] > 0
    assert alarms == {0, 1}  # bit 0 of 0xC2: no hot water


def test_manual_no_heating_stops_the_heat_pump_and_the_tank_runs_dry() -> None:
    heater = ElectricWaterHeater(0.0, initial_fill=0.2)
    assert heater.write(0xB0, b"\x43", 0.0) is None
    energy = _energy_between(heater, 0.0, DAY)
    assert energy == 0
    heater.advance_to(DAY + 20 * HOUR + 30 * MINUTE)
    assert heater.value(0xE1) == 0 and heater.value(0xD8) == 0
    assert heater.read(0xC2)[0] & 1 == 1  # no hot water alarm


def test_remaining_hot_water_falls_with_the_evening_draws() -> None:
    heater = ElectricWaterHeater(0.0)
    heater.advance_to(DAY + 17 * HOUR)
    before = heater.value(0xE1)
    heater.advance_to(DAY + 22 * HOUR)
    after = heater.value(0xE1)
    assert before > after > 0
    assert heater.value(0xE2) == 370
    assert heater.value(0xC1) == 65


def test_manual_heating_fills_the_tank_whatever_the_plan() -> None:
    heater = ElectricWaterHeater(0.0, initial_fill=0.1)
    assert heater.write(0xB0, b"\x42", 10 * HOUR) is None
    heater.advance_to(16 * HOUR)
    assert heater.q == pytest.approx(heater.q_max, rel=0.05)
