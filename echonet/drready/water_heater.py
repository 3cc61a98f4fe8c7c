"""Heat-pump storage water heater ("EcoCute", class 0x026B) with the energy shift of Release R (0xC7-0xCF).

Physics (shared with the hybrid water heater, :mod:`.hybrid`): a stratified tank holds hot water at the boiling
temperature above cold water; the state is the stored heat ``q`` (Wh above the cold-water temperature). Each step
the heat pump adds ``electric energy x COP`` (never more than the tank has room for), the tank loses
``UA x (mean tank temperature - ambient)``, and the household draws hot water (litres at the supply temperature,
:class:`~.profiles.Household`). What the tank cannot supply is a shortage (alarm 0xC2 bit "noHotWater").

Boiling plan: the device works in 24-hour *cycles* starting at the standard time to start heating (0xC8, 23:00 by
default). At a cycle's start it fixes an hourly plan of heat-pump energy: night boiling that ends at 07:00 and
covers the draws until the first daytime shift (or the whole cycle) plus a reserve, and, when the controller asked
for the energy shift (0xC7 participating + 0xCA / 0xCD shift times), daytime boiling that starts at each shift hour
and covers the draws from there on. The heat pump runs at its rated power while the current hour's plan still has
energy left; besides the plan it reheats when the tank runs low (at night, or by day where 0xC0 permits it).

Energy shift properties (see the Appendix, Release I on): 0xCB / 0xCE give, for each candidate shift hour, the
electric energy the daytime boiling would take if the (last) shift started at that hour, and 0xCC / 0xCF the energy
of its first hour (the heat pump's hourly consumption); they are determined at the estimate hour (three hours
before the standard time) and cleared at the shift time, as are 0xC7 and the shift time itself. A shift request
written during a cycle applies to the next one (fixed at the next standard time); the extension EPC 0xF7 shows that
projected plan at once, 0xF6 the plan in force.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from ..errors import EchonetUsageError
from ..spec.registry import Registry
from .base import DrModel, Identity, hourly
from .clock import DAY, HOUR, hour_of_day
from .extensions import BOILING_PLAN, DR_AVAILABLE_ENERGY, NEXT_BOILING_PLAN
from .profiles import Household

#: Heat capacity of water, Wh per litre and kelvin.
WATER_WH_PER_L_K = 1.163

AUTO, MANUAL_HEATING, MANUAL_NO_HEATING = 0x41, 0x42, 0x43
HEATING, NOT_HEATING = 0x41, 0x42
SUPPLYING, NOT_SUPPLYING = 0x41, 0x42
PERMITTED, PROHIBITED = 0x41, 0x42
FUNCTION_ON, FUNCTION_OFF = 0x41, 0x42
PARTICIPATING, NOT_PARTICIPATING = 0x01, 0x00
CLEARED = 0x00
HP_OFF, HP_MANUAL, HP_PLAN, HP_REHEAT = 0, 1, 2, 3

#: Candidate shift hours reported by 0xCB / 0xCC (shift 1) and 0xCE / 0xCF (shift 2).
ESTIMATE_HOURS_1 = (10, 13, 15, 17)
ESTIMATE_HOURS_2 = (13, 15, 17)


@dataclass(frozen=True)
class TankSpec:
    """The storage tank: volume, temperatures (Celsius), heat loss coefficient and the reserve kept for safety."""

    litres: float = 370.0
    boil_c: float = 65.0
    supply_c: float = 42.0
    cold_c: float = 15.0
    ambient_c: float = 20.0
    ua_w_per_k: float = 2.0
    reserve_fraction: float = 0.1

    def __post_init__(self) -> None:
        if not self.cold_c < self.supply_c < self.boil_c <= 95:
            raise EchonetUsageError("tank temperatures: cold < supply < boiling <= 95 Celsius")
        if self.litres <= 0 or self.ua_w_per_k < 0 or not 0 <= self.reserve_fraction < 0.5:
            raise EchonetUsageError("tank: positive volume, UA >= 0, reserve fraction in [0, 0.5)")

    def q_max(self, boil_c: float | None = None) -> float:
        """Heat (Wh above the cold water) of a tank full of water at the boiling temperature."""
        return self.litres * WATER_WH_PER_L_K * ((boil_c if boil_c is not None else self.boil_c) - self.cold_c)

    @property
    def wh_per_supply_litre(self) -> float:
        return WATER_WH_PER_L_K * (self.supply_c - self.cold_c)


@dataclass(frozen=True)
class HeatPumpSpec:
    """The heat pump: rated electric input (W) and coefficient of performance (heat out / electricity in)."""

    elec_w: int = 1300
    cop: float = 3.5

    def __post_init__(self) -> None:
        if self.elec_w <= 0 or self.cop <= 0:
            raise EchonetUsageError("heat pump: positive power and COP")

    @property
    def heat_w(self) -> float:
        return self.elec_w * self.cop


class StorageHeater(DrModel):
    """What the electric and the hybrid water heater share: tank physics, heat pump, hourly plan, common EPCs."""

    #: Hour of the day a plan cycle starts at.
    cycle_hour: int = 0

    def __init__(
        self,
        start: float,
        *,
        tank: TankSpec,
        heat_pump: HeatPumpSpec,
        household: Household | None,
        initial_fill: float,
        identity: Identity | None,
        registry: Registry | None,
    ) -> None:
        super().__init__(start, identity=identity, registry=registry)
        if not 0 <= initial_fill <= 1:
            raise EchonetUsageError("initial fill is a fraction of the tank, 0..1")
        self.tank = tank
        self.heat_pump = heat_pump
        self.household = household if household is not None else Household()
        self.q = initial_fill * tank.q_max()
        self.automatic = AUTO
        self._cycle_start = self._last_cycle_start(self._t)
        self._plan_base = [0.0] * 24  # by cycle offset (hours since the cycle start)
        self._plan_extra = [0.0] * 24  # the DR part (daytime shift) of the plan, by cycle offset
        self._used = [0.0] * 24
        self._shortage = False
        self._register(0x84, lambda: self.power_w)
        self._register(0x85, lambda: self.counters["electric"] / 1000.0)
        self._register(0xB0, lambda: self.automatic, self._set_automatic)
        self._register(0xB2, lambda: HEATING if self.power_w > 0 else NOT_HEATING)
        self._register(0xC3, lambda: SUPPLYING if self.household.draw_rate(self._t) > 0 else NOT_SUPPLYING)
        self._register(0xE1, lambda: self.hot_litres)
        self._register(0xE2, lambda: self.tank.litres)
        self._register(BOILING_PLAN, lambda: self.plan)
        self._register(NEXT_BOILING_PLAN, lambda: self.next_plan)
        self._register(DR_AVAILABLE_ENERGY, lambda: self.dr_available_wh)

    # Typed accessors ------------------------------------------------------------------------------------------------

    @property
    def q_max(self) -> float:
        return self.tank.q_max()

    @property
    def q_reserve(self) -> float:
        return self.tank.reserve_fraction * self.tank.q_max()

    @property
    def power_w(self) -> float:
        """Electric power the heat pump draws now (W)."""
        return self._hp_power(self._t)

    @property
    def electric_wh(self) -> float:
        return self.counters["electric"]

    @property
    def hot_litres(self) -> float:
        """Hot water at the boiling temperature in the tank (0xE1)."""
        return min(self.tank.litres, self.q / (WATER_WH_PER_L_K * (self._boil_c() - self.tank.cold_c)))

    @property
    def supply_litres(self) -> float:
        """Water the tank can still supply at the supply temperature (0xD8)."""
        return self.q / self.tank.wh_per_supply_litre

    @property
    def mean_temperature_c(self) -> float:
        return self.tank.cold_c + self.q / (WATER_WH_PER_L_K * self.tank.litres)

    @property
    def plan(self) -> list[int]:
        """The plan in force: expected heat-pump electric energy (Wh) per hour of the day (element i = i:00)."""
        return self._by_clock_hour([b + e for b, e in zip(self._plan_base, self._plan_extra, strict=True)])

    @property
    def next_plan(self) -> list[int]:
        """The next cycle's plan, projected with the settings in force."""
        return self._by_clock_hour(self._next_cycle_plan())

    @property
    def dr_available_wh(self) -> int:
        raise NotImplementedError

    @property
    def cycle_start(self) -> float:
        return self._cycle_start

    # Plan helpers -------------------------------------------------------------------------------------------------

    def _boil_c(self) -> float:
        return self.tank.boil_c

    def _last_cycle_start(self, t: float) -> float:
        start = t - t % DAY + self.cycle_hour * HOUR
        return start if start <= t + 1e-6 else start - DAY

    def _by_clock_hour(self, by_offset: list[float]) -> list[int]:
        out = [0.0] * 24
        for offset, wh in enumerate(by_offset):
            out[(self.cycle_hour + offset) % 24] = wh
        return hourly(out)

    def _draw_heat(self, t0: float, t1: float) -> float:
        return self.household.draw_litres(t0, t1) * self.tank.wh_per_supply_litre

    def _loss_estimate(self, hours: float) -> float:
        mean = (self._boil_c() + self.tank.cold_c) / 2
        return self.tank.ua_w_per_k * max(0.0, mean - self.tank.ambient_c) * hours

    def _loss_w(self) -> float:
        return self.tank.ua_w_per_k * max(0.0, self.mean_temperature_c - self.tank.ambient_c)

    def _offset(self, t: float) -> int:
        return min(23, max(0, int((t - self._cycle_start) // HOUR)))

    def _budget_left(self, t: float) -> float:
        k = self._offset(t)
        return self._plan_base[k] + self._plan_extra[k] - self._used[k]

    def _place_backward(self, plan: list[float], wh: float, end: int, first: int = 0) -> None:
        """Put ``wh`` at the rated power into the hours before offset ``end`` (not before ``first``)."""
        k = end - 1
        while wh > 1e-9 and k >= first:
            put = min(float(self.heat_pump.elec_w), wh)
            plan[k] += put
            wh -= put
            k -= 1

    def _place_forward(self, plan: list[float], wh: float, begin: int) -> None:
        k = begin
        while wh > 1e-9 and k < 24:
            put = min(float(self.heat_pump.elec_w), wh)
            plan[k] += put
            wh -= put
            k += 1

    def _remaining_plan_heat(self) -> float:
        k = self._offset(self._t)
        left = sum(self._plan_base[i] + self._plan_extra[i] - self._used[i] for i in range(k, 24))
        return max(0.0, left) * self.heat_pump.cop

    def _projected_q(self, at: float) -> float:
        """Stored heat expected at ``at`` (the next cycle start) if the plan in force runs to its end."""
        hours = (at - self._t) / HOUR
        q = self.q + self._remaining_plan_heat() - self._draw_heat(self._t, at) - self._loss_estimate(hours)
        return min(self.q_max, max(0.0, q))

    def _next_cycle_plan(self) -> list[float]:
        raise NotImplementedError

    # Control ------------------------------------------------------------------------------------------------------

    def _update_controls(self, t: float) -> None:
        """Update control state (hysteresis) at the start of a step."""

    def _reheat_wanted(self, t: float) -> bool:
        return False

    def _hp_enabled(self) -> bool:
        return self.operating and self.automatic != MANUAL_NO_HEATING

    def _hp_mode(self, t: float) -> int:
        """Why the heat pump runs from ``t``: OFF, MANUAL (0xB0 manual heating), PLAN or REHEAT."""
        if not self._hp_enabled() or self.q >= self._q_limit() - 1e-6:
            return HP_OFF
        if self.automatic == MANUAL_HEATING:
            return HP_MANUAL
        if self._budget_left(t) > 1e-6:
            return HP_PLAN
        return HP_REHEAT if self._reheat_wanted(t) else HP_OFF

    def _hp_power(self, t: float) -> float:
        """Electric power the heat pump runs at from ``t`` (decided on the state at ``t``)."""
        return 0.0 if self._hp_mode(t) == HP_OFF else float(self.heat_pump.elec_w)

    def _q_limit(self) -> float:
        return self.q_max

    def _supply_from_tank(self) -> bool:
        return True

    def _backup(self, heat_wh: float) -> float:
        """Cover a shortage of ``heat_wh`` by other means; returns the heat covered (the electric heater has none)."""
        return 0.0

    def _integrate(self, t: float, dt: float) -> None:
        c = self.counters
        self._update_controls(t)
        mode = self._hp_mode(t)
        elec = 0.0 if mode == HP_OFF else self.heat_pump.elec_w * dt / HOUR
        if mode == HP_PLAN:
            elec = min(elec, self._budget_left(t))
        heat = elec * self.heat_pump.cop
        room = max(0.0, self._q_limit() - self.q)
        if heat > room:
            heat = room
            elec = heat / self.heat_pump.cop
        self.q += heat
        if mode == HP_PLAN:
            self._used[self._offset(t)] += elec
        loss = min(self.q, self._loss_w() * dt / HOUR)
        self.q -= loss
        demand = self._draw_heat(t, t + dt)
        from_tank = min(demand, self.q) if self._supply_from_tank() else 0.0
        self.q -= from_tank
        backup = self._backup(demand - from_tank)
        short = demand - from_tank - backup
        self._shortage = short > 1e-9
        c.add("electric", elec)
        c.add("hp_heat", heat)
        c.add("loss", loss)
        c.add("demand", demand)
        c.add("delivered_tank", from_tank)
        c.add("backup_heat", backup)
        c.add("shortage", short)

    def _set_automatic(self, edt: bytes, t: float) -> str | None:
        self.automatic = edt[0]
        return None


class ElectricWaterHeater(StorageHeater):
    """A heat-pump storage water heater (EcoCute) with the Release R energy shift; see the module documentation.

    ``standard_hour`` is 0xC8 (20-24 or 1; 24 = midnight), ``night_end_hour`` the hour night boiling finishes by,
    ``energy_shifts`` 0xC9 (1 or 2; with 2, 0xCD-0xCF are implemented and 17:00 is not a valid shift time 1).
    """

    class_id = 0x026B

    def __init__(
        self,
        start: float = 0.0,
        *,
        tank: TankSpec | None = None,
        heat_pump: HeatPumpSpec | None = None,
        household: Household | None = None,
        initial_fill: float = 0.3,
        standard_hour: int = 23,
        night_end_hour: int = 7,
        energy_shifts: int = 2,
        identity: Identity | None = None,
        registry: Registry | None = None,
    ) -> None:
        if standard_hour not in (20, 21, 22, 23, 24, 1):
            raise EchonetUsageError("standard time to start heating (0xC8) is one of 20, 21, 22, 23, 24, 1")
        if energy_shifts not in (1, 2):
            raise EchonetUsageError("number of energy shifts (0xC9) is 1 or 2")
        self.standard_hour = standard_hour
        self.cycle_hour = standard_hour % 24
        self.night_end_hour = night_end_hour
        self.energy_shifts = energy_shifts
        self.estimate_hour = (self.cycle_hour - 3) % 24
        super().__init__(
            start,
            tank=tank or TankSpec(),
            heat_pump=heat_pump or HeatPumpSpec(),
            household=household,
            initial_fill=initial_fill,
            identity=identity,
            registry=registry,
        )
        if not 0 < self._night_end_offset() <= 12:
            raise EchonetUsageError("night boiling ends 1 to 12 hours after the standard time")
        # settings
        self.participation = NOT_PARTICIPATING
        self.shift_codes = [CLEARED, CLEARED]
        self.daytime_reheat = PERMITTED
        self.bath_auto = FUNCTION_OFF
        # cycle
        self._estimates_valid = [True, True]
        self._settings_version = self._fixed_version = 0
        self._pending: dict[int, int] = {}  # slot (0, 1) -> shift hour fixed in the cycle in force
        self._reheating = False
        self._fix_cycle(self._cycle_start, shifts={})
        tank_ = self.tank
        self._register(0xB3, lambda: round(tank_.boil_c))
        self._register(0xC0, lambda: self.daytime_reheat, self._set_daytime_reheat)
        self._register(0xC1, lambda: round(self.top_temperature_c))
        self._register(0xC2, lambda: bytes((1 if self._shortage else 0, 0, 0, 0)))  # bit 0: no hot water
        self._register(0xC7, lambda: self.participation, self._set_participation)
        self._register(0xC8, lambda: self.standard_hour)
        self._register(0xC9, lambda: self.energy_shifts)
        self._register(0xCA, lambda: self.shift_codes[0], self._set_shift_1)
        self._register(0xCB, lambda: self._estimates(0, ESTIMATE_HOURS_1, hourly=False))
        self._register(0xCC, lambda: self._estimates(0, ESTIMATE_HOURS_1, hourly=True))
        if energy_shifts == 2:
            self._register(0xCD, lambda: self.shift_codes[1], self._set_shift_2)
            self._register(0xCE, lambda: self._estimates(1, ESTIMATE_HOURS_2, hourly=False))
            self._register(0xCF, lambda: self._estimates(1, ESTIMATE_HOURS_2, hourly=True))
        self._register(0xD1, lambda: round(tank_.supply_c))
        self._register(0xD8, lambda: self.supply_litres)
        self._register(0xDB, lambda: self.heat_pump.elec_w)
        self._register(0xDC, lambda: self.heat_pump.elec_w)
        self._register(0xDD, lambda: self.heat_pump.elec_w)
        self._register(0xE3, lambda: self.bath_auto, self._set_bath_auto)
        self._ready()

    # Typed accessors ------------------------------------------------------------------------------------------------

    @property
    def top_temperature_c(self) -> float:
        """Temperature at the top of the tank (0xC1): boiling temperature while hot water is left."""
        return self.tank.boil_c if self.hot_litres >= 1.0 else self.mean_temperature_c

    def shift_estimate_wh(self, hour: int) -> int:
        """Electric energy (Wh) of daytime boiling that starts at ``hour`` and covers the rest of the cycle."""
        offset = self._hour_offset(hour)
        return round(self._shift_heat(self._cycle_start + DAY, offset, 24) / self.heat_pump.cop)

    def shift_first_hour_wh(self, hour: int) -> int:
        return min(self.heat_pump.elec_w, self.shift_estimate_wh(hour))

    @property
    def dr_available_wh(self) -> int:
        """The most energy a daytime shift can take (the earliest shift hour covers the most)."""
        last = 17 if self.energy_shifts == 1 else 16
        return max(self.shift_estimate_wh(h) for h in range(9, last + 1))

    def day_boiling_wh(self) -> float:
        """Electric energy of the next cycle's plan without any shift (the day's boiling energy)."""
        next_start = self._cycle_start + DAY
        base, extra = self._make_plan(next_start, self._projected_q(next_start), [])
        return sum(base) + sum(extra)

    # Plan ----------------------------------------------------------------------------------------------------------

    def _hour_offset(self, hour: int) -> int:
        return (hour - self.cycle_hour) % 24

    def _night_end_offset(self) -> int:
        return self._hour_offset(self.night_end_hour)

    def _shift_heat(self, cycle_start: float, first: int, last: int) -> float:
        """Heat daytime boiling from offset ``first`` must provide for the draws until offset ``last``."""
        heat = self._draw_heat(cycle_start + first * HOUR, cycle_start + last * HOUR)
        heat += self._loss_estimate(last - first)
        return min(heat, self.q_max - 2 * self.q_reserve)

    def _requested_shifts(self) -> dict[int, int]:
        """Slot -> shift hour the settings ask for (shift 2 only if it is later than shift 1)."""
        if self.participation != PARTICIPATING:
            return {}
        out: dict[int, int] = {}
        if self.shift_codes[0]:
            out[0] = self.shift_codes[0]
        if self.energy_shifts == 2 and self.shift_codes[1] and self.shift_codes[1] > out.get(0, 0):
            out[1] = self.shift_codes[1]
        return out

    def _make_plan(self, cycle_start: float, q0: float, hours: list[int]) -> tuple[list[float], list[float]]:
        """Night and daytime (shift) plans of a cycle starting at ``cycle_start`` with ``q0`` stored."""
        base = [0.0] * 24
        extra = [0.0] * 24
        night_end = self._night_end_offset()
        offsets = sorted({self._hour_offset(h) for h in hours if self._hour_offset(h) >= night_end})
        first = offsets[0] if offsets else 24
        need = self._draw_heat(cycle_start, cycle_start + first * HOUR) + self._loss_estimate(first) + self.q_reserve
        room = self.q_max - q0 + self._draw_heat(cycle_start, cycle_start + night_end * HOUR)
        night_heat = min(max(0.0, need - q0), max(0.0, room))
        self._place_backward(base, night_heat / self.heat_pump.cop, night_end)
        for i, offset in enumerate(offsets):
            until = offsets[i + 1] if i + 1 < len(offsets) else 24
            wh = round(self._shift_heat(cycle_start, offset, until) / self.heat_pump.cop)
            self._place_forward(extra, float(wh), offset)
        return base, extra

    def _fix_cycle(self, cycle_start: float, shifts: dict[int, int]) -> None:
        self._cycle_start = cycle_start
        self._fixed_version = self._settings_version
        self._plan_base, self._plan_extra = self._make_plan(cycle_start, self.q, list(shifts.values()))
        self._used = [0.0] * 24
        self._pending = dict(shifts)

    def _next_cycle_plan(self) -> list[float]:
        next_start = self._cycle_start + DAY
        shifts = self._requested_shifts()
        base, extra = self._make_plan(next_start, self._projected_q(next_start), list(shifts.values()))
        return [b + e for b, e in zip(base, extra, strict=True)]

    def _cancel_pending_shifts(self) -> None:
        """Drop the not yet started daytime boiling of the cycle in force (the DR behind it ended)."""
        k = self._offset(self._t)
        for i in range(k, 24):
            self._plan_extra[i] = max(0.0, self._used[i] - self._plan_base[i]) if i == k else 0.0
        self._pending = {}

    def _estimates(self, slot: int, hours: tuple[int, ...], *, hourly: bool) -> list[int]:
        if not self._estimates_valid[slot]:
            return [0] * len(hours)
        if hourly:
            return [self.shift_first_hour_wh(h) for h in hours]
        return [self.shift_estimate_wh(h) for h in hours]

    # Time ---------------------------------------------------------------------------------------------------------

    def _on_grid(self, t: float) -> None:
        if abs(t % HOUR) > 1e-6 and abs(t % HOUR - HOUR) > 1e-6:
            return
        hour = hour_of_day(t + 1)
        if t >= self._cycle_start + DAY - 1e-6:
            self._fix_cycle(self._cycle_start + DAY, self._requested_shifts())
        if hour == self.estimate_hour:
            self._estimates_valid = [True, True]
        for slot, shift_hour in sorted(self._pending.items()):
            if shift_hour == hour:
                self._shift_started(slot, shift_hour)

    def _shift_started(self, slot: int, hour: int) -> None:
        """At a shift time: clear the shift settings and estimates, as the Appendix describes.

        Settings a controller wrote after the cycle was fixed (a request for the next cycle) are left alone.
        """
        del self._pending[slot]
        self._estimates_valid[slot] = False
        if self._settings_version == self._fixed_version:
            self.shift_codes[slot] = CLEARED
            self.participation = NOT_PARTICIPATING
            if not self._pending:
                self.end_dr(restore=False)

    def _update_controls(self, t: float) -> None:
        if self.q < 0.5 * self.q_reserve:
            self._reheating = True
        elif self.q >= 2 * self.q_reserve:
            self._reheating = False

    def _reheat_wanted(self, t: float) -> bool:
        """Reheat a nearly empty tank: at night always, by day where 0xC0 permits it."""
        if not self._reheating or self.automatic != AUTO:
            return False
        return self._offset(t) < self._night_end_offset() or self.daytime_reheat == PERMITTED

    # Settings -----------------------------------------------------------------------------------------------------

    def _dr_settings(self) -> dict[int, bytes]:
        return {0xC7: bytes((self.participation,)), 0xCA: bytes((self.shift_codes[0],))} | (
            {0xCD: bytes((self.shift_codes[1],))} if self.energy_shifts == 2 else {}
        )

    def _own_settings(self) -> dict[int, bytes]:
        return {0xC7: bytes((NOT_PARTICIPATING,)), 0xCA: bytes((CLEARED,))} | (
            {0xCD: bytes((CLEARED,))} if self.energy_shifts == 2 else {}
        )

    def _apply_settings(self, settings: Mapping[int, bytes]) -> None:
        super()._apply_settings(settings)
        if self.participation != PARTICIPATING and self._pending:
            self._cancel_pending_shifts()

    def _set_participation(self, edt: bytes, t: float) -> str | None:
        self._settings_version += 1
        self.participation = edt[0]
        if self.participation != PARTICIPATING and self._pending:
            self._cancel_pending_shifts()
        return None

    def _set_shift_1(self, edt: bytes, t: float) -> str | None:
        self._settings_version += 1
        if self.energy_shifts == 2 and edt[0] == 17:
            return "17:00 is not a shift time 1 of a device that shifts twice"
        self.shift_codes[0] = edt[0]
        return None

    def _set_shift_2(self, edt: bytes, t: float) -> str | None:
        self._settings_version += 1
        self.shift_codes[1] = edt[0]
        return None

    def _set_daytime_reheat(self, edt: bytes, t: float) -> str | None:
        self.daytime_reheat = edt[0]
        return None

    def _set_bath_auto(self, edt: bytes, t: float) -> str | None:
        self.bath_auto = edt[0]
        return None

    def __repr__(self) -> str:
        return (
            f"ElectricWaterHeater(q={self.q:.0f} Wh of {self.q_max:.0f}, power={self.power_w:.0f} W, "
            f"energy={self.electric_wh:.0f} Wh)"
        )
