"""The simulation clock maps real time onto simulated time, or moves only by hand; calendars follow local time."""

from __future__ import annotations

from datetime import datetime

import pytest

from echonet import EchonetUsageError
from echonet.drready import DAY, HOUR, SimClock, sim_time, wall_time
from echonet.drready.clock import day_start, hour_of_day, seconds_of_day


class FakeReal:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


def test_manual_clock_moves_only_when_advanced() -> None:
    clock = SimClock.manual(5.0)
    assert clock.now() == 5.0
    assert clock.advance(HOUR) == 5.0 + HOUR
    assert clock.now() == 5.0 + HOUR


def test_clock_runs_at_its_speed_against_the_real_time_source() -> None:
    real = FakeReal()
    clock = SimClock(100.0, speed=1440.0, real=real)  # a day in a minute
    real.t += 60.0
    assert clock.now() == pytest.approx(100.0 + DAY)


def test_changing_the_speed_does_not_make_simulated_time_jump() -> None:
    real = FakeReal()
    clock = SimClock(0.0, speed=10.0, real=real)
    real.t += 5.0
    clock.speed = 100.0
    assert clock.now() == pytest.approx(50.0)
    real.t += 1.0
    assert clock.now() == pytest.approx(150.0)


def test_manual_advance_adds_to_a_running_clock() -> None:
    real = FakeReal()
    clock = SimClock(0.0, speed=2.0, real=real)
    clock.advance(30.0)
    real.t += 10.0
    assert clock.now() == pytest.approx(50.0)


def test_time_does_not_run_backwards() -> None:
    with pytest.raises(EchonetUsageError):
        SimClock.manual().advance(-1.0)
    with pytest.raises(EchonetUsageError):
        SimClock(0.0, speed=-1.0)


def test_simulated_time_is_local_wall_time_since_1970() -> None:
    t = sim_time("2026-01-15T13:30")
    assert wall_time(t) == datetime(2026, 1, 15, 13, 30)
    assert hour_of_day(t) == 13
    assert seconds_of_day(t) == 13.5 * HOUR
    assert wall_time(day_start(t)) == datetime(2026, 1, 15)
    assert SimClock.at("2026-01-15T00:00", speed=0).wall() == datetime(2026, 1, 15)


def test_aware_date_times_are_refused() -> None:
    with pytest.raises(EchonetUsageError):
        sim_time("2026-01-15T00:00+09:00")
