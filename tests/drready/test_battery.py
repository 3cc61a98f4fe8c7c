"""The storage battery (0x027D): methods and targets, limits, reserve, power cut, DR duration and watchdog."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from echonet.drready import DAY, HOUR, MINUTE, StorageBattery, with_extensions
from echonet.drready.extensions import (
    BACKUP_RESERVE,
    DR_DURATION,
    DR_REMAINING,
    DR_STATE,
    GRID_STATUS,
    WATCHDOG_TIMEOUT,
)
from echonet.spec import default_registry

CHARGING, DISCHARGING, STANDBY, AUTO = b"\x42", b"\x43", b"\x44", b"\x46"
DESIGNATED_POWER, DESIGNATED_CURRENT = b"\x03", b"\x04"


def u32(value: int) -> bytes:
    return value.to_bytes(4, "big")


def _set(battery: StorageBattery, now: float, *items: tuple[int, bytes]) -> None:
    for epc, edt in items:
        assert battery.write(epc, edt, now) is None, f"0x{epc:02X}"


def _value(battery: StorageBattery, epc: int) -> float:
    value = battery.value(epc)
    assert isinstance(value, int | float)
    return float(value)


def test_designated_charging_power_gives_that_measured_power() -> None:
    battery = StorageBattery(0.0, initial_soc=0.2)
    _set(battery, HOUR, (0xDA, CHARGING), (0xC1, DESIGNATED_POWER), (0xEB, u32(1500)))
    assert battery.value(0xCF) == "charging"
    a8 = _value(battery, 0xA8)
    battery.advance_to(HOUR + 20 * MINUTE)
    assert battery.value(0xD3) == 1500
    assert (_value(battery, 0xA8) - a8) * 1000 == pytest.approx(500, abs=1)


def test_designated_discharging_power_gives_negative_measured_power() -> None:
    battery = StorageBattery(0.0, initial_soc=0.8)
    battery.advance_to(HOUR)
    a9 = _value(battery, 0xA9)
    _set(battery, HOUR, (0xDA, DISCHARGING), (0xC2, DESIGNATED_POWER), (0xEC, u32(2000)))
    battery.advance_to(2 * HOUR)
    assert battery.value(0xD3) == -2000 and battery.value(0xCF) == "discharging"
    assert (_value(battery, 0xA9) - a9) * 1000 == pytest.approx(2000, abs=1)


def test_designated_power_is_held_within_the_power_limits() -> None:
    battery = StorageBattery(0.0, initial_soc=0.2)
    limits = battery.value(0xC8)
    _set(battery, 0.0, (0xDA, CHARGING), (0xC1, DESIGNATED_POWER), (0xEB, u32(5000)))
    assert battery.value(0xD3) == limits["maxValue"] == 3000
    _set(battery, 0.0, (0xEB, u32(20)))
    assert battery.value(0xD3) == limits["minValue"] == 100
    _set(battery, 0.0, (0xEB, u32(0)))
    assert battery.value(0xD3) == 0 and battery.value(0xCF) == "standby"


def test_designated_current_runs_at_the_current_times_the_rated_voltage() -> None:
    battery = StorageBattery(0.0, initial_soc=0.2)
    _set(battery, 0.0, (0xDA, CHARGING), (0xC1, DESIGNATED_CURRENT), (0xED, (75).to_bytes(2, "big")))
    assert battery.value(0xED) == 7.5
    assert battery.value(0xD3) == 7.5 * battery.value(0xD2) == 1500


def test_energy_target_stops_charging_when_reached() -> None:
    battery = StorageBattery(0.0, initial_soc=0.2)
    a8 = _value(battery, 0xA8)
    _set(battery, HOUR, (0xDA, CHARGING), (0xC1, b"\x01"), (0xAA, u32(1000)))
    battery.advance_to(3 * HOUR)
    assert (_value(battery, 0xA8) - a8) * 1000 == pytest.approx(1000, abs=1)
    assert battery.value(0xD3) == 0 and battery.value(0xCF) == "standby"
    assert battery.value(0xDA) == "charging" and battery.value(0xAA) == 1000


def test_energy_target_stops_discharging_when_reached() -> None:
    battery = StorageBattery(0.0, initial_soc=0.9)
    _set(battery, 0.0, (0xAB, u32(700)), (0xDA, DISCHARGING), (0xC2, b"\x01"))
    battery.advance_to(HOUR)
    assert _value(battery, 0xA9) * 1000 == pytest.approx(700, abs=1)
    assert battery.value(0xCF) == "standby"
    _set(battery, HOUR, (0xAB, u32(0)))  # no setting: discharge on
    assert battery.value(0xCF) == "discharging"


def test_charging_stops_at_the_upper_limit_and_discharging_at_the_lower_limit() -> None:
    battery = StorageBattery(0.0, initial_soc=0.5)
    _set(battery, 0.0, (0xA6, b"\x5a"), (0xDA, CHARGING))  # 90 %
    battery.advance_to(5 * HOUR)
    assert battery.value(0xE4) == 90 and battery.value(0xA4) == 0 and battery.value(0xCF) == "standby"
    _set(battery, battery.now, (0xA7, b"\x14"), (0xDA, DISCHARGING))  # 20 %
    battery.advance_to(battery.now + 5 * HOUR)
    assert battery.value(0xE4) == 20 and battery.value(0xA5) == 0
    assert battery.write(0xA7, b"\x5b", battery.now) is not None  # above the upper limit


def test_backup_reserve_is_kept_in_every_mode_outside_a_power_cut() -> None:
    for mode in (DISCHARGING, AUTO):
        battery = StorageBattery(0.0, initial_soc=0.6)
        _set(battery, 0.0, (BACKUP_RESERVE, u32(3000)), (0xDA, mode))
        battery.advance_to(2 * DAY)
        assert battery.soc_wh >= 3000 - 1e-6
        assert battery.value(0xE2) >= 3000
    assert battery.write(BACKUP_RESERVE, u32(20000), battery.now) is not None


def test_a_power_cut_may_use_the_reserve_and_the_battery_keeps_it_afterwards() -> None:
    battery = StorageBattery(0.0, initial_soc=0.5, reserve_wh=4000)
    battery.advance_to(18 * HOUR)
    assert battery.soc_wh >= 4000 - 1e-6
    battery.set_power_cut(True, 18 * HOUR)
    assert battery.value(GRID_STATUS) == "powerCut"
    _set(battery, 18 * HOUR, (0xDA, STANDBY))  # whatever the mode, the household is supplied
    battery.advance_to(DAY + 5 * HOUR)
    assert battery.soc_wh < 4000 and battery.counters["dc_out_power_cut"] > 0
    battery.set_power_cut(False, DAY + 5 * HOUR)
    low = battery.soc_wh
    _set(battery, DAY + 5 * HOUR, (0xDA, DISCHARGING))
    battery.advance_to(DAY + 8 * HOUR)
    assert battery.soc_wh == low and battery.value(0xCF) == "standby"


def test_dischargeable_amounts_exclude_the_reserve() -> None:
    battery = StorageBattery(0.0, capacity_wh=10000, initial_soc=0.5, reserve_wh=2000)
    assert battery.value(0xA5) == round((5000 - 2000) * 0.95)
    assert battery.value(0xA4) == round(5000 / 0.95)
    assert battery.value(0xA3) == round(8000 * 0.95)
    assert battery.value(0xE2) == 5000 and battery.value(0xE4) == 50


def test_energy_balance_over_a_day_in_auto_mode_within_one_percent() -> None:
    battery = StorageBattery(0.0, initial_soc=0.3)
    e2, a8, a9, d8, d6 = (_value(battery, e) for e in (0xE2, 0xA8, 0xA9, 0xD8, 0xD6))
    battery.advance_to(DAY)
    stored = _value(battery, 0xE2) - e2
    ac_in, ac_out = (_value(battery, 0xA8) - a8) * 1000, (_value(battery, 0xA9) - a9) * 1000
    dc_in, dc_out = (_value(battery, 0xD8) - d8) * 1000, (_value(battery, 0xD6) - d6) * 1000
    assert ac_in > 1000 and ac_out > 1000
    assert dc_in - dc_out == pytest.approx(stored, abs=3)
    assert ac_in - ac_out == pytest.approx(stored + battery.counters["loss"], rel=0.01, abs=3)


def test_cumulative_counters_reset_on_request() -> None:
    battery = StorageBattery(0.0)
    battery.advance_to(DAY)
    assert _value(battery, 0xD8) > 0
    _set(battery, DAY, (0xD9, b"\x00"), (0xD7, b"\x00"))
    assert _value(battery, 0xD8) == _value(battery, 0xD6) == 0
    assert _value(battery, 0xA8) > 0  # the AC counters are not reset


def test_unsupported_modes_and_methods_are_refused_with_a_reason() -> None:
    battery = StorageBattery(0.0)
    reason = battery.write(0xDA, b"\x45", 0.0)  # test mode
    assert reason is not None and "not supported" in reason
    assert battery.write(0xC1, b"\x00", 0.0) is not None
    assert battery.value(0xDA) == "auto" and not battery.dr_active


def test_dr_duration_expiry_returns_to_the_pre_dr_mode() -> None:
    battery = StorageBattery(0.0, initial_soc=0.8)
    _set(battery, HOUR, (DR_DURATION, bytes((30,))))
    _set(battery, HOUR, (0xDA, DISCHARGING), (0xC2, DESIGNATED_POWER), (0xEC, u32(2000)))
    assert battery.value(DR_STATE) == "active" and battery.value(DR_REMAINING) == 1800
    assert battery.pre_dr_settings[0xDA] == AUTO
    battery.advance_to(HOUR + 29 * MINUTE)
    _set(battery, battery.now, (0xEC, u32(1800)))  # renewal, 29 minutes after the command
    battery.advance_to(HOUR + 58 * MINUTE)
    assert battery.value(0xDA) == "discharging" and battery.value(0xD3) == -1800
    battery.advance_to(HOUR + 59 * MINUTE + 1)
    assert battery.value(0xDA) == "auto"
    assert battery.value(0xC2) == "maximum" and battery.value(0xEC) == 0
    assert battery.value(DR_STATE) == "inactive" and battery.value(DR_REMAINING) == 0


def test_renewing_the_dr_duration_alone_keeps_the_dr_running() -> None:
    battery = StorageBattery(0.0, initial_soc=0.2)
    _set(battery, 0.0, (0xDA, CHARGING), (DR_DURATION, bytes((10,))))
    for minute in range(9, 61, 9):  # the last renewal at 00:54 runs to 01:04
        battery.advance_to(minute * MINUTE)
        _set(battery, battery.now, (DR_DURATION, bytes((10,))))
    battery.advance_to(HOUR + 3 * MINUTE)
    assert battery.value(0xDA) == "charging"
    battery.advance_to(HOUR + 5 * MINUTE)
    assert battery.value(0xDA) == "auto"


def test_watchdog_expiry_returns_to_own_auto_mode() -> None:
    battery = StorageBattery(0.0, initial_soc=0.5)
    _set(battery, HOUR, (WATCHDOG_TIMEOUT, (900).to_bytes(2, "big")), (0xDA, CHARGING), (0xAA, u32(500)))
    battery.touch(HOUR + 800)
    battery.advance_to(HOUR + 1600)
    assert battery.value(0xDA) == "charging"
    battery.advance_to(HOUR + 1701)
    assert battery.value(0xDA) == "auto" and battery.value(0xAA) == "noSetting"
    assert battery.value(DR_STATE) == "ownModeAfterTimeout"
    _set(battery, battery.now, (0xDA, STANDBY))  # the controller is back: a new DR
    assert battery.value(DR_STATE) == "active"


def test_a_dr_ended_by_hand_restores_the_pre_dr_settings() -> None:
    battery = StorageBattery(0.0)
    _set(battery, 0.0, (0xDA, STANDBY))
    _set(battery, 0.0, (DR_STATE, b"\x00"))
    assert battery.value(0xDA) == "auto" and battery.value(DR_STATE) == "inactive"


# Random command sequences ---------------------------------------------------------------------------------------------

_EDTS: dict[int, st.SearchStrategy[bytes]] = {
    0xDA: st.sampled_from([b"\x41", b"\x42", b"\x43", b"\x44", b"\x45", b"\x46"]),
    0xC1: st.sampled_from([b"\x00", b"\x01", b"\x02", b"\x03", b"\x04"]),
    0xC2: st.sampled_from([b"\x00", b"\x01", b"\x02", b"\x03", b"\x04"]),
    0xEB: st.integers(0, 8000).map(u32),
    0xEC: st.integers(0, 8000).map(u32),
    0xED: st.integers(0, 400).map(lambda a: a.to_bytes(2, "big")),
    0xEE: st.integers(0, 400).map(lambda a: a.to_bytes(2, "big")),
    0xAA: st.integers(0, 12000).map(u32),
    0xAB: st.integers(0, 12000).map(u32),
    0xA6: st.integers(0, 100).map(lambda p: bytes((p,))),
    0xA7: st.integers(0, 100).map(lambda p: bytes((p,))),
    BACKUP_RESERVE: st.integers(0, 11000).map(u32),
    DR_DURATION: st.integers(0, 31).map(lambda m: bytes((m,))),
    DR_STATE: st.sampled_from([b"\x00", b"\x01"]),
    WATCHDOG_TIMEOUT: st.integers(0, 7200).map(lambda s: s.to_bytes(2, "big")),
    0x80: st.sampled_from([b"\x30", b"\x31"]),
}

_ACTIONS = st.one_of(
    st.tuples(st.just("write"), st.sampled_from(sorted(_EDTS))).flatmap(
        lambda a: st.tuples(st.just(a[0]), st.just(a[1]), _EDTS[a[1]])
    ),
    st.tuples(st.just("advance"), st.floats(1.0, 3 * HOUR), st.just(b"")),
    st.tuples(st.just("power_cut"), st.booleans(), st.just(b"")),
    st.tuples(st.just("touch"), st.just(0), st.just(b"")),
)


@settings(max_examples=150, deadline=None)
@given(
    soc=st.floats(0.0, 1.0),
    start=st.floats(0.0, DAY),
    actions=st.lists(_ACTIONS, max_size=30),
)
def test_random_commands_never_cross_soc_limits_nor_use_the_reserve_outside_a_power_cut(
    soc: float, start: float, actions: list[tuple[str, object, bytes]]
) -> None:
    battery = StorageBattery(start, initial_soc=soc, reserve_wh=1000)
    registry = with_extensions(default_registry())
    for kind, arg, edt in actions:
        if kind == "write":
            assert isinstance(arg, int)
            battery.write(arg, edt, battery.now)
        elif kind == "power_cut":
            battery.set_power_cut(bool(arg), battery.now)
        elif kind == "touch":
            battery.touch(battery.now + 1)
        else:
            assert isinstance(arg, float)
            before, floor, cut = battery.soc_wh, battery.floor_wh(power_cut=False), battery.power_cut
            upper = battery.upper_wh
            battery.advance_to(battery.now + arg)
            assert 0.0 <= battery.soc_wh <= battery.capacity_wh
            if not cut and not battery.power_cut:
                # outside a power cut: never below the reserve (or the lower limit) unless already below
                assert battery.soc_wh >= min(before, floor) - 1e-6
                # never charged above the upper limit (a lowered limit does not force a discharge)
                assert battery.soc_wh <= max(before, upper) + 1e-6
        assert 0.0 <= battery.soc_wh <= battery.capacity_wh
    for epc in battery.readable_epcs():
        assert registry.decode_value(0x027D, epc, battery.read(epc)).error is None
