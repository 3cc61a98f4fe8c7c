"""Household profiles the models run on: hot-water draws, electric load and solar generation over the day.

Every profile is a function of simulated time only (no randomness), so two runs of a model agree bit for bit.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from ..errors import EchonetUsageError
from .clock import DAY, HOUR

#: Hot water drawn per hour of the day (litres at the supply temperature, 42 Celsius by default): a small morning
#: peak (06:00-09:00) and the evening peak of baths and showers (18:00-22:00); 455 L a day.
DRAW_LITRES: tuple[float, ...] = (
    0, 0, 0, 0, 0, 5, 30, 45, 25, 10, 5, 5, 10, 5, 5, 5, 10, 20, 40, 60, 80, 60, 25, 10,
)  # fmt: skip

#: Household electric load per hour of the day (W, the water heater and battery excluded); 13.8 kWh a day.
LOAD_WATTS: tuple[float, ...] = (
    300, 250, 250, 250, 250, 300, 500, 800, 700, 500, 400, 400,
    500, 400, 400, 450, 600, 900, 1200, 1300, 1200, 1000, 700, 400,
)  # fmt: skip


def hourly_integral(values: Sequence[float], t0: float, t1: float) -> float:
    """Integral of an hourly step profile (value per hour) from ``t0`` to ``t1`` (in value x hours)."""
    if t1 <= t0:
        return 0.0
    total = 0.0
    t = t0
    while t < t1:
        hour_end = (math.floor(t / HOUR + 1e-9) + 1) * HOUR
        end = min(hour_end, t1)
        total += values[int(t % DAY // HOUR)] * (end - t) / HOUR
        t = end
    return total


@dataclass(frozen=True)
class Household:
    """The household a simulated device lives in.

    ``draw_litres`` (hourly hot-water draw), ``load_watts`` (hourly electric load) and a clear-sky solar array of
    ``pv_peak_w`` producing between ``sunrise`` and ``sunset`` (hours) along a half sine wave.
    """

    draw_litres_per_hour: tuple[float, ...] = DRAW_LITRES
    load_watts: tuple[float, ...] = LOAD_WATTS
    pv_peak_w: float = 4000.0
    sunrise: float = 6.0
    sunset: float = 18.0

    def __post_init__(self) -> None:
        if len(self.draw_litres_per_hour) != 24 or len(self.load_watts) != 24:
            raise EchonetUsageError("hourly profiles have 24 values")
        if any(v < 0 for v in (*self.draw_litres_per_hour, *self.load_watts)) or self.pv_peak_w < 0:
            raise EchonetUsageError("profiles cannot be negative")

    def draw_litres(self, t0: float, t1: float) -> float:
        """Hot water drawn from ``t0`` to ``t1`` (litres at the supply temperature)."""
        return hourly_integral(self.draw_litres_per_hour, t0, t1)

    def draw_rate(self, t: float) -> float:
        """Litres per hour being drawn at ``t``."""
        return self.draw_litres_per_hour[int(t % DAY // HOUR)]

    def load(self, t: float) -> float:
        """Household load (W) at ``t``."""
        return self.load_watts[int(t % DAY // HOUR)]

    def pv(self, t: float) -> float:
        """Solar generation (W) at ``t``."""
        h = t % DAY / HOUR
        if not self.sunrise < h < self.sunset:
            return 0.0
        return self.pv_peak_w * math.sin(math.pi * (h - self.sunrise) / (self.sunset - self.sunrise))

    @property
    def daily_draw_litres(self) -> float:
        return float(sum(self.draw_litres_per_hour))
