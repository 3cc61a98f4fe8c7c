"""Simulation time: an injectable clock, and the calendar helpers the models use.

Simulated time is a float number of seconds counted from 1970-01-01 00:00 *local* time (the simulation has one time
zone and no daylight-saving shifts, as in Japan), so the time of day is ``t % 86400``. A :class:`SimClock` maps real
time onto simulated time (``start + real elapsed * speed``) or is driven by hand (:meth:`SimClock.advance`); the
models never read a clock themselves: they are given ``now`` (``advance_to(now)``, ``write(..., now)``).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import datetime, timedelta

from ..errors import EchonetUsageError

MINUTE = 60.0
HOUR = 3600.0
DAY = 86400.0

_EPOCH = datetime(1970, 1, 1)


def seconds_of_day(t: float) -> float:
    """Seconds since the last local midnight."""
    return t % DAY


def hour_of_day(t: float) -> int:
    """The hour of the day (0-23) that ``t`` falls in."""
    return int(t % DAY // HOUR)


def day_start(t: float) -> float:
    """The local midnight at or before ``t``."""
    return t - t % DAY


def wall_time(t: float) -> datetime:
    """Simulated time as a naive local :class:`~datetime.datetime` (for 0x97 current time and 0x98 date)."""
    return _EPOCH + timedelta(seconds=t)


def sim_time(when: datetime | str) -> float:
    """A naive local date-time (or ISO text, ``"2026-01-15T00:00"``) as simulated seconds."""
    dt = datetime.fromisoformat(when) if isinstance(when, str) else when
    if dt.tzinfo is not None:
        raise EchonetUsageError("simulated time is local time: pass a naive date-time")
    return (dt - _EPOCH).total_seconds()


class SimClock:
    """Simulated time = ``start`` + (real time elapsed) x ``speed`` + manual advances.

    ``SimClock.manual(start)`` never moves by itself (speed 0): only :meth:`advance` moves it, so a test runs a day in
    as many steps as it likes. ``real`` is the real-time source (``time.monotonic`` unless injected).
    """

    __slots__ = ("_anchor_real", "_anchor_sim", "_real", "_speed")

    def __init__(self, start: float = 0.0, speed: float = 1.0, *, real: Callable[[], float] = time.monotonic) -> None:
        if speed < 0:
            raise EchonetUsageError(f"clock speed {speed} is negative")
        self._real = real
        self._speed = float(speed)
        self._anchor_real = real()
        self._anchor_sim = float(start)

    @classmethod
    def manual(cls, start: float = 0.0) -> SimClock:
        """A clock that only moves when :meth:`advance` is called."""
        return cls(start, 0.0)

    @classmethod
    def at(cls, when: datetime | str, speed: float = 1.0) -> SimClock:
        """A clock starting at a local date-time."""
        return cls(sim_time(when), speed)

    def now(self) -> float:
        """Current simulated time (seconds)."""
        if self._speed == 0.0:
            return self._anchor_sim
        return self._anchor_sim + (self._real() - self._anchor_real) * self._speed

    @property
    def speed(self) -> float:
        return self._speed

    @speed.setter
    def speed(self, speed: float) -> None:
        """Change the speed from now on (simulated time does not jump)."""
        if speed < 0:
            raise EchonetUsageError(f"clock speed {speed} is negative")
        self._anchor_sim = self.now()
        self._anchor_real = self._real()
        self._speed = float(speed)

    def advance(self, seconds: float) -> float:
        """Move simulated time forward by ``seconds`` (in any mode); returns the new time."""
        if seconds < 0:
            raise EchonetUsageError("simulated time does not run backwards")
        self._anchor_sim += seconds
        return self.now()

    def wall(self) -> datetime:
        return wall_time(self.now())

    def __repr__(self) -> str:
        return f"SimClock({self.wall().isoformat(timespec='seconds')}, speed={self._speed:g})"
