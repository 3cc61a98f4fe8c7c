"""Hybrid water heater (class 0x02A6): a small heat-pump tank with a gas back-up burner.

The tank (160 L by default) cannot hold a day's hot water, so the heat pump boils in two blocks a day ("split
boiling") and the gas burner heats whatever the tank cannot supply (tracked as gas heat, fuel energy and volume,
extension 0xF9). The tank physics are those of :class:`~.water_heater.StorageHeater`; a plan cycle is a calendar
day, re-planned at midnight and, for the hours still ahead, whenever a setting that shapes it changes.

Solar linkage (0xB8) and the solar utilisation window (0xB9, whole hours: the start and end are rounded up):

* ``modeOff`` (0x41): a morning block ready by 06:00 for the draws until 14:00, an afternoon block ready by 17:00
  for the rest of the day;
* ``householdConsumption`` (0x42): the afternoon block starts when the window opens and boils to a higher tank
  temperature (80 Celsius) for the rest of the day: more electricity by day, less gas in the evening;
* ``prioritizingElectricitySales`` (0x43): no boiling inside the window (the solar power is sold); the morning
  block covers the draws until the window closes, the afternoon block starts when it closes;
* ``economicEfficiency`` (0x44): like 0x42 at the normal tank temperature.

0xB6 (hot water supply from the auxiliary heat source only) stops the heat pump and supplies all hot water by gas.
"""

from __future__ import annotations

import math

from ..errors import EchonetUsageError
from ..spec.registry import Registry
from .base import Identity
from .clock import DAY, HOUR
from .extensions import CUMULATIVE_GAS
from .profiles import Household
from .water_heater import (
    FUNCTION_OFF,
    FUNCTION_ON,
    NOT_HEATING,
    HeatPumpSpec,
    StorageHeater,
    TankSpec,
)

MODE_OFF, SELF_CONSUMPTION, SELL_PRIORITY, ECONOMIC = 0x41, 0x42, 0x43, 0x44

_BACKWARD, _FORWARD = 0, 1


class HybridWaterHeater(StorageHeater):
    """A hybrid (heat pump + gas) water heater; see the module documentation."""

    class_id = 0x02A6
    cycle_hour = 0

    def __init__(
        self,
        start: float = 0.0,
        *,
        tank: TankSpec | None = None,
        heat_pump: HeatPumpSpec | None = None,
        household: Household | None = None,
        initial_fill: float = 0.3,
        boil_high_c: float = 80.0,
        burner_efficiency: float = 0.95,
        gas_kwh_per_m3: float = 12.5,
        window: tuple[int, int] = (9, 15),
        morning_ready_hour: int = 6,
        evening_ready_hour: int = 17,
        split_hour: int = 14,
        identity: Identity | None = None,
        registry: Registry | None = None,
    ) -> None:
        tank = tank or TankSpec(litres=160.0, ua_w_per_k=1.2)
        if not tank.boil_c <= boil_high_c <= 95:
            raise EchonetUsageError("the raised tank temperature is between the boiling temperature and 95 Celsius")
        if not 0 < burner_efficiency <= 1 or gas_kwh_per_m3 <= 0:
            raise EchonetUsageError("burner efficiency in (0, 1], gas energy per m3 positive")
        if not 0 < morning_ready_hour < split_hour < evening_ready_hour < 24:
            raise EchonetUsageError("0 < morning ready hour < split hour < evening ready hour < 24")
        self.boil_high_c = boil_high_c
        self.burner_efficiency = burner_efficiency
        self.gas_kwh_per_m3 = gas_kwh_per_m3
        self.morning_ready_hour = morning_ready_hour
        self.evening_ready_hour = evening_ready_hour
        self.split_hour = split_hour
        self.linkage = MODE_OFF
        self.window = (int(window[0]) * 60, int(window[1]) * 60)  # minutes of the day
        self.aux_hot_water = FUNCTION_OFF
        super().__init__(
            start,
            tank=tank,
            heat_pump=heat_pump or HeatPumpSpec(elec_w=625, cop=4.0),
            household=household,
            initial_fill=initial_fill,
            identity=identity,
            registry=registry,
        )
        self._replan(self._t)
        self._register(0xB3, lambda: NOT_HEATING)  # no space-heating circuit in this model
        self._register(0xB6, lambda: self.aux_hot_water, self._set_aux_hot_water)
        self._register(0xB8, lambda: self.linkage, self._set_linkage)
        self._register(0xB9, self._window_edt, self._set_window)
        self._register(CUMULATIVE_GAS, lambda: self.gas_m3)
        self._ready()

    # Typed accessors ------------------------------------------------------------------------------------------------

    @property
    def gas_heat_wh(self) -> float:
        """Heat the gas burner delivered."""
        return self.counters["backup_heat"]

    @property
    def gas_fuel_wh(self) -> float:
        """Gas burnt, as energy (higher heating value)."""
        return self.counters["backup_heat"] / self.burner_efficiency

    @property
    def gas_m3(self) -> float:
        return self.gas_fuel_wh / 1000.0 / self.gas_kwh_per_m3

    @property
    def window_hours(self) -> tuple[int, int]:
        """The solar window in whole hours (start and end rounded up)."""
        return math.ceil(self.window[0] / 60), math.ceil(self.window[1] / 60)

    @property
    def dr_available_wh(self) -> int:
        """Electric energy the solar linkage can move into the window: household consumption vs mode off."""
        q0 = self.q_reserve
        raised = self._plan_day(0.0, q0, SELF_CONSUMPTION)
        normal = self._plan_day(0.0, q0, MODE_OFF)
        ws, we = self.window_hours
        return max(0, round(sum(raised[ws:we]) - sum(normal[ws:we])))

    # Physics hooks ------------------------------------------------------------------------------------------------

    def _boil_c(self) -> float:
        return self.boil_high_c if self.linkage == SELF_CONSUMPTION else self.tank.boil_c

    def _q_limit(self) -> float:
        return self.tank.q_max(self._boil_c())

    def _hp_enabled(self) -> bool:
        return super()._hp_enabled() and self.aux_hot_water != FUNCTION_ON

    def _supply_from_tank(self) -> bool:
        return self.aux_hot_water != FUNCTION_ON

    def _backup(self, heat_wh: float) -> float:
        return heat_wh  # the burner covers every shortage

    # Plan ----------------------------------------------------------------------------------------------------------

    def _blocks(self, linkage: int) -> list[tuple[int, int, int, int]]:
        """(direction, anchor hour, first hour covered, end hour covered) of the day's boiling blocks."""
        ws, we = self.window_hours
        m, e = self.morning_ready_hour, self.evening_ready_hour
        if linkage == MODE_OFF or ws >= we:
            return [(_BACKWARD, m, m, self.split_hour), (_BACKWARD, e, self.split_hour, 24)]
        if linkage == SELL_PRIORITY:
            return [(_BACKWARD, m, m, we), (_FORWARD, we, we, 24)]
        return [(_BACKWARD, m, m, ws), (_FORWARD, ws, ws, 24)]

    def _plan_day(self, from_h: float, q: float, linkage: int, day: float = 0.0) -> list[float]:
        """Electric Wh per hour of a day starting at ``day``, planned from hour ``from_h`` with ``q`` stored."""
        plan = [0.0] * 24
        cop = self.heat_pump.cop
        q_limit = self.tank.q_max(self.boil_high_c if linkage == SELF_CONSUMPTION else self.tank.boil_c)
        cur = from_h

        def drained(q_: float, h0: float, h1: float) -> float:
            return max(0.0, q_ - self._draw_heat(day + h0 * HOUR, day + h1 * HOUR) - self._loss_estimate(h1 - h0))

        for direction, anchor, first, end in self._blocks(linkage):
            if end <= first:
                continue
            if direction == _BACKWARD:
                if anchor <= cur:
                    continue
                q_at = drained(q, cur, anchor)
                need = self._draw_heat(day + first * HOUR, day + end * HOUR) + self._loss_estimate(end - first)
                heat = min(max(0.0, need + self.q_reserve - q_at), max(0.0, q_limit - q_at))
                self._place_backward(plan, heat / cop, anchor, math.floor(cur))
                q, cur = q_at + heat, float(anchor)
            else:
                begin = max(float(anchor), cur)
                if begin >= end:
                    continue
                q_at = drained(q, cur, begin)
                need = self._draw_heat(day + begin * HOUR, day + end * HOUR) + self._loss_estimate(end - begin)
                fill_hours = max(0.0, q_limit - q_at) / self.heat_pump.heat_w
                room = q_limit - q_at + self._draw_heat(day + begin * HOUR, day + (begin + fill_hours) * HOUR)
                heat = min(max(0.0, need + self.q_reserve - q_at), max(0.0, room))
                self._place_forward(plan, heat / cop, math.floor(begin))
                done = begin + heat / self.heat_pump.heat_w
                q = max(0.0, q_at + heat - self._draw_heat(day + begin * HOUR, day + done * HOUR))
                cur = done
        return plan

    def _replan(self, t: float) -> None:
        """Plan the rest of the day from ``t`` (the hours gone by keep their plan)."""
        k = self._offset(t)
        from_h = (t - self._cycle_start) / HOUR
        fresh = self._plan_day(from_h, self.q, self.linkage, self._cycle_start)
        for i in range(k, 24):
            self._plan_base[i] = fresh[i] + (self._used[i] if i == k else 0.0)
            self._plan_extra[i] = 0.0

    def _next_cycle_plan(self) -> list[float]:
        next_start = self._cycle_start + DAY
        return self._plan_day(0.0, self._projected_q(next_start), self.linkage, next_start)

    def _on_grid(self, t: float) -> None:
        if t >= self._cycle_start + DAY - 1e-6:
            self._cycle_start += DAY
            self._used = [0.0] * 24
            self._plan_base = [0.0] * 24
            self._plan_extra = [0.0] * 24
            self._replan(self._cycle_start)

    # Settings -----------------------------------------------------------------------------------------------------

    def _own_settings(self) -> dict[int, bytes]:
        return {0xB8: bytes((MODE_OFF,)), 0xB9: self._window_edt()}

    def _window_edt(self) -> bytes:
        (sh, sm), (eh, em) = divmod(self.window[0], 60), divmod(self.window[1], 60)
        return bytes((sh, sm, eh, em))

    def _set_linkage(self, edt: bytes, t: float) -> str | None:
        self.linkage = edt[0]
        self._replan(t)
        return None

    def _set_window(self, edt: bytes, t: float) -> str | None:
        start, end = edt[0] * 60 + edt[1], edt[2] * 60 + edt[3]
        if end <= start:
            return "the window ends before it starts"
        self.window = (start, end)
        self._replan(t)
        return None

    def _set_aux_hot_water(self, edt: bytes, t: float) -> str | None:
        self.aux_hot_water = edt[0]
        return None

    def _set_automatic(self, edt: bytes, t: float) -> str | None:
        super()._set_automatic(edt, t)
        self._replan(t)
        return None

    def __repr__(self) -> str:
        return (
            f"HybridWaterHeater(q={self.q:.0f} Wh, power={self.power_w:.0f} W, electric={self.electric_wh:.0f} Wh, "
            f"gas={self.gas_heat_wh:.0f} Wh heat)"
        )
