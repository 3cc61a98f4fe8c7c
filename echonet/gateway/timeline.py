"""The gateway's time: one timeline for its events, its device commands and its reports.

Gateway time is a float number of seconds counted from 1970-01-01 00:00 *local* time, as in :mod:`echonet.drready.clock`
(so the hour of the day that the water heaters' shift times name is ``t % 86400 // 3600``). OpenADR carries aware
date-times (UTC on the wire); :class:`Timeline` converts between the two at the one boundary where they meet, the VEN.

* :meth:`Timeline.wall` is the timeline of a real gateway: the machine's clock in a time zone (Japan by default);
* :meth:`Timeline.simulated` runs on a :class:`~echonet.drready.clock.SimClock` (``echonet demo``: a simulated day at
  3600x). Its OpenADR date-times are the simulated ones moved by whole days (``day_offset``) so that they lie ahead of
  the machine's clock: openleadr judges an event's status (and whether to answer it) by the machine's clock, and the
  hour of the day, the only thing the devices are told, stays the same. docs/gateway.md explains why.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta, timezone

from ..drready.clock import DAY, SimClock, sim_time, wall_time

#: Japan Standard Time (no daylight saving): the default time zone of the devices' clock-time properties.
JST = timezone(timedelta(hours=9), "JST")


class Timeline:
    """A clock in gateway time plus its mapping onto OpenADR date-times; see the module documentation."""

    def __init__(self, clock: SimClock, zone: timezone = JST, day_offset: int = 0) -> None:
        self.clock = clock
        self.zone = zone
        self.day_offset = int(day_offset)

    @classmethod
    def wall(cls, zone: timezone = JST) -> Timeline:
        """The machine's clock, as local time of ``zone``."""
        local = datetime.now(zone).replace(tzinfo=None)
        return cls(SimClock(sim_time(local), 1.0, real=time.monotonic), zone)

    @classmethod
    def simulated(cls, clock: SimClock, zone: timezone = JST, *, ahead_of: datetime | None = None) -> Timeline:
        """A timeline on ``clock`` whose OpenADR date-times are moved by whole days to lie at least two days after
        ``ahead_of`` (default: now), whatever the simulated date."""
        now = (ahead_of or datetime.now(UTC)).astimezone(zone).replace(tzinfo=None)
        days = max(0, int((sim_time(now) - clock.now()) // DAY) + 2)
        return cls(clock, zone, days)

    def now(self) -> float:
        """Gateway time now."""
        return self.clock.now()

    @property
    def speed(self) -> float:
        """Gateway seconds per real second (1 for a real gateway)."""
        return self.clock.speed or 1.0

    def real_seconds(self, seconds: float) -> float:
        """How long ``seconds`` of gateway time take in real time."""
        return max(0.0, seconds / self.speed)

    def to_openadr(self, t: float) -> datetime:
        """Gateway time as an aware UTC date-time of the OpenADR timeline."""
        local = wall_time(t + self.day_offset * DAY)
        return local.replace(tzinfo=self.zone).astimezone(UTC)

    def from_openadr(self, when: datetime) -> float:
        """An OpenADR date-time (aware; a naive one is taken as UTC) as gateway time."""
        aware = when if when.tzinfo is not None else when.replace(tzinfo=UTC)
        local = aware.astimezone(self.zone).replace(tzinfo=None)
        return sim_time(local) - self.day_offset * DAY

    def text(self, t: float) -> str:
        """Gateway time as local ISO text (seconds)."""
        return wall_time(t).isoformat(timespec="seconds")


__all__ = ["JST", "Timeline"]
