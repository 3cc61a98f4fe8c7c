"""Home storage battery (class 0x027D) with the DRready controls.

State: the stored energy ``soc_wh`` (DC side), never outside [0, capacity]. Charging stores ``AC energy x charge
efficiency``; discharging takes ``AC energy / discharge efficiency`` from the cells. Powers are limited to
0xC8 / 0xC9 (a non-zero power below the minimum runs at the minimum).

Operation (0xDA sets the mode; 0xCF reports what the battery is doing now: charging, discharging or standby):

* charging (0x42) / rapid charging (0x41) with the charging method 0xC1: maximum power, solar surplus, designated
  power 0xEB (W) or designated current 0xED (A, times the rated voltage 0xD2);
* discharging (0x43) with 0xC2: maximum, load following, designated power 0xEC or designated current 0xEE;
* an AC charge / discharge amount 0xAA / 0xAB (Wh, 0 = no setting) stops the run when that much AC energy has gone
  in / out since the amount or the mode was set (the mode setting stays; 0xCF turns to standby);
* standby (0x44); auto (0x46) follows the household: solar surplus charges, the rest of the load discharges.

Limits: charging stops at the upper limit 0xA6 (% of capacity); outside a power cut, discharging stops at the
larger of the lower limit 0xA7 (%) and the backup reserve (extension 0xF4, Wh), in every mode. In a power cut
(:meth:`StorageBattery.set_power_cut`, extension 0xF5) the battery runs independently: it supplies the household
load down to empty and charges from solar surplus, whatever the mode.

Measured values: 0xD3 is the AC power the battery runs at now (signed: + charging, - discharging); 0xA8 / 0xA9
cumulative AC energy in / out; 0xD8 / 0xD6 cumulative DC energy into / out of the cells (0xD9 / 0xD7 reset them).
"""

from __future__ import annotations

from ..errors import EchonetUsageError
from ..spec.registry import Registry
from .base import DrModel, Identity
from .clock import HOUR
from .extensions import BACKUP_RESERVE, GRID_CONNECTED, GRID_POWER_CUT, GRID_STATUS
from .profiles import Household

RAPID_CHARGING, CHARGING, DISCHARGING, STANDBY, AUTO = 0x41, 0x42, 0x43, 0x44, 0x46
SUPPORTED_MODES = frozenset({RAPID_CHARGING, CHARGING, DISCHARGING, STANDBY, AUTO})
#: 0xC1 / 0xC2 methods (Release R codes: 0x03 designated power, 0x04 designated current).
MAXIMUM, SURPLUS, DESIGNATED_POWER, DESIGNATED_CURRENT, OTHER = 0x01, 0x02, 0x03, 0x04, 0x00
LOAD_FOLLOWING = 0x02
NO_SETTING = 0
LITHIUM_ION = 0x04
REVERSE_POWER_FLOW_ACCEPTABLE = 0x00


class StorageBattery(DrModel):
    """A home storage battery; see the module documentation.

    ``own_mode`` is the mode the device returns to when the controller goes silent (the watchdog), auto by default.
    """

    class_id = 0x027D

    def __init__(
        self,
        start: float = 0.0,
        *,
        capacity_wh: float = 9800.0,
        initial_soc: float = 0.5,
        charge_efficiency: float = 0.95,
        discharge_efficiency: float = 0.95,
        max_charge_w: int = 3000,
        max_discharge_w: int = 3000,
        min_charge_w: int = 100,
        min_discharge_w: int = 100,
        rated_voltage: int = 200,
        reserve_wh: float = 0.0,
        own_mode: int = AUTO,
        household: Household | None = None,
        identity: Identity | None = None,
        registry: Registry | None = None,
    ) -> None:
        super().__init__(start, identity=identity, registry=registry)
        if capacity_wh <= 0 or not 0 <= initial_soc <= 1:
            raise EchonetUsageError("capacity is positive and the initial state of charge a fraction 0..1")
        if not (0 < charge_efficiency <= 1 and 0 < discharge_efficiency <= 1):
            raise EchonetUsageError("efficiencies are in (0, 1]")
        if not (0 <= min_charge_w <= max_charge_w and 0 <= min_discharge_w <= max_discharge_w) or rated_voltage <= 0:
            raise EchonetUsageError("power limits: 0 <= minimum <= maximum; rated voltage positive")
        if not 0 <= reserve_wh <= capacity_wh:
            raise EchonetUsageError("the backup reserve is within the capacity")
        if own_mode not in SUPPORTED_MODES:
            raise EchonetUsageError(f"own mode 0x{own_mode:02X} is not one the model supports")
        self.capacity_wh = float(capacity_wh)
        self.soc_wh = initial_soc * self.capacity_wh
        self.eta_charge = charge_efficiency
        self.eta_discharge = discharge_efficiency
        self.max_charge_w = max_charge_w
        self.max_discharge_w = max_discharge_w
        self.min_charge_w = min_charge_w
        self.min_discharge_w = min_discharge_w
        self.rated_voltage = rated_voltage
        self.reserve_wh = float(reserve_wh)
        self.own_mode = own_mode
        self.household = household if household is not None else Household()
        # settings
        self.mode = own_mode
        self.charging_method = MAXIMUM
        self.discharging_method = MAXIMUM
        self.charge_power_w = 0
        self.discharge_power_w = 0
        self.charge_current_a = 0.0
        self.discharge_current_a = 0.0
        self.charge_target_wh = NO_SETTING
        self.discharge_target_wh = NO_SETTING
        self.upper_limit_pct = 100
        self.lower_limit_pct = 0
        self.power_cut = False
        # progress towards the amount settings (AC Wh since the amount or the mode was set)
        self._charged_run = 0.0
        self._discharged_run = 0.0
        self._reset_charge_counter = 0.0  # DC Wh already counted when 0xD9 reset the counter
        self._reset_discharge_counter = 0.0
        self._register_properties()
        self._ready()

    def _register_properties(self) -> None:
        r = self._register
        r(0x89, lambda: 0x0000)
        r(0xA0, lambda: self.capacity_wh / self.eta_charge)
        r(0xA1, lambda: self.capacity_wh * self.eta_discharge)
        r(0xA2, lambda: max(0.0, self.upper_wh - self.floor_wh(power_cut=False)) / self.eta_charge)
        r(0xA3, lambda: max(0.0, self.upper_wh - self.floor_wh(power_cut=False)) * self.eta_discharge)
        r(0xA4, lambda: self.chargeable_wh)
        r(0xA5, lambda: self.dischargeable_wh)
        r(0xA6, lambda: self.upper_limit_pct, self._set_upper_limit)
        r(0xA7, lambda: self.lower_limit_pct, self._set_lower_limit)
        r(0xA8, lambda: self.counters["ac_in"] / 1000.0)
        r(0xA9, lambda: self.counters["ac_out"] / 1000.0)
        r(0xAA, lambda: self.charge_target_wh, self._set_charge_target)
        r(0xAB, lambda: self.discharge_target_wh, self._set_discharge_target)
        r(0xC1, lambda: self.charging_method, self._set_charging_method)
        r(0xC2, lambda: self.discharging_method, self._set_discharging_method)
        r(0xC8, lambda: (self.min_charge_w, self.max_charge_w))
        r(0xC9, lambda: (self.min_discharge_w, self.max_discharge_w))
        r(0xCF, lambda: self.working_status)
        r(0xD0, lambda: self.capacity_wh)
        r(0xD2, lambda: self.rated_voltage)
        r(0xD3, lambda: self.power_w)
        r(0xD6, lambda: (self.counters["dc_out"] - self._reset_discharge_counter) / 1000.0)
        r(0xD7, None, self._reset_discharge)
        r(0xD8, lambda: (self.counters["dc_in"] - self._reset_charge_counter) / 1000.0)
        r(0xD9, None, self._reset_charge)
        r(0xDA, lambda: self.mode, self._set_mode)
        r(0xDB, lambda: REVERSE_POWER_FLOW_ACCEPTABLE)
        r(0xE2, lambda: self.soc_wh)
        r(0xE4, lambda: self.soc_percent)
        r(0xE6, lambda: LITHIUM_ION)
        r(0xEB, lambda: self.charge_power_w, self._set_charge_power)
        r(0xEC, lambda: self.discharge_power_w, self._set_discharge_power)
        r(0xED, lambda: self.charge_current_a, self._set_charge_current)
        r(0xEE, lambda: self.discharge_current_a, self._set_discharge_current)
        r(BACKUP_RESERVE, lambda: self.reserve_wh, self._set_reserve)
        r(GRID_STATUS, lambda: GRID_POWER_CUT if self.power_cut else GRID_CONNECTED)

    # Typed accessors ------------------------------------------------------------------------------------------------

    @property
    def upper_wh(self) -> float:
        return self.capacity_wh * self.upper_limit_pct / 100.0

    def floor_wh(self, *, power_cut: bool | None = None) -> float:
        """The stored energy discharging stops at: 0 in a power cut, else the lower limit or the reserve."""
        cut = self.power_cut if power_cut is None else power_cut
        if cut:
            return 0.0
        return max(self.reserve_wh, self.capacity_wh * self.lower_limit_pct / 100.0)

    @property
    def soc_percent(self) -> float:
        return 100.0 * self.soc_wh / self.capacity_wh

    @property
    def chargeable_wh(self) -> float:
        """AC energy that can be charged now (0xA4)."""
        return max(0.0, self.upper_wh - self.soc_wh) / self.eta_charge

    @property
    def dischargeable_wh(self) -> float:
        """AC energy that can be discharged now (0xA5): down to the reserve (to empty in a power cut)."""
        return max(0.0, self.soc_wh - self.floor_wh()) * self.eta_discharge

    @property
    def power_w(self) -> float:
        """AC power now (W): positive while charging, negative while discharging (0xD3)."""
        return self._effective_power(self._t)

    @property
    def working_status(self) -> int:
        """0xCF: what the battery is doing now."""
        p = self.power_w
        if p > 0:
            return RAPID_CHARGING if self.mode == RAPID_CHARGING and not self.power_cut else CHARGING
        return DISCHARGING if p < 0 else STANDBY

    def set_power_cut(self, on: bool, now: float) -> None:
        """Simulate a power cut (``on``) or its end, at ``now``."""
        self.advance_to(now)
        self.power_cut = on

    # Control ------------------------------------------------------------------------------------------------------

    def _clip(self, watts: float, low: int, high: int) -> float:
        return 0.0 if watts <= 0 else float(min(high, max(low, watts)))

    def _requested_power(self, t: float) -> float:
        """AC power the settings ask for at ``t`` (signed), before the state-of-charge limits."""
        if not self.operating:
            return 0.0
        surplus = self.household.pv(t) - self.household.load(t)
        if self.power_cut or self.mode == AUTO:
            if surplus >= 0:
                return self._clip(surplus, self.min_charge_w, self.max_charge_w)
            return -self._clip(-surplus, self.min_discharge_w, self.max_discharge_w)
        if self.mode in (CHARGING, RAPID_CHARGING):
            if self.charge_target_wh and self._charged_run >= self.charge_target_wh - 1e-6:
                return 0.0
            method = MAXIMUM if self.mode == RAPID_CHARGING else self.charging_method
            if method == SURPLUS:
                want = max(0.0, surplus)
            elif method == DESIGNATED_POWER:
                want = float(self.charge_power_w)
            elif method == DESIGNATED_CURRENT:
                want = self.charge_current_a * self.rated_voltage
            else:
                want = float(self.max_charge_w)
            return self._clip(want, self.min_charge_w, self.max_charge_w)
        if self.mode == DISCHARGING:
            if self.discharge_target_wh and self._discharged_run >= self.discharge_target_wh - 1e-6:
                return 0.0
            method = self.discharging_method
            if method == LOAD_FOLLOWING:
                want = max(0.0, -surplus)
            elif method == DESIGNATED_POWER:
                want = float(self.discharge_power_w)
            elif method == DESIGNATED_CURRENT:
                want = self.discharge_current_a * self.rated_voltage
            else:
                want = float(self.max_discharge_w)
            return -self._clip(want, self.min_discharge_w, self.max_discharge_w)
        return 0.0

    def _effective_power(self, t: float) -> float:
        p = self._requested_power(t)
        if p > 0 and self.soc_wh >= self.upper_wh - 1e-9:
            return 0.0
        if p < 0 and self.soc_wh <= self.floor_wh() + 1e-9:
            return 0.0
        return p

    def _integrate(self, t: float, dt: float) -> None:
        p = self._effective_power(t)
        c = self.counters
        if p > 0:
            ac = p * dt / HOUR
            if self.charge_target_wh and not self.power_cut and self.mode != AUTO:
                ac = min(ac, max(0.0, self.charge_target_wh - self._charged_run))
            dc = min(ac * self.eta_charge, max(0.0, self.upper_wh - self.soc_wh))
            ac = dc / self.eta_charge
            self.soc_wh = min(self.capacity_wh, self.soc_wh + dc)
            self._charged_run += ac
            c.add("ac_in", ac)
            c.add("dc_in", dc)
            c.add("loss", ac - dc)
        elif p < 0:
            ac = -p * dt / HOUR
            if self.discharge_target_wh and not self.power_cut and self.mode != AUTO:
                ac = min(ac, max(0.0, self.discharge_target_wh - self._discharged_run))
            dc = min(ac / self.eta_discharge, max(0.0, self.soc_wh - self.floor_wh()))
            ac = dc * self.eta_discharge
            self.soc_wh = max(0.0, self.soc_wh - dc)
            self._discharged_run += ac
            c.add("ac_out", ac)
            c.add("dc_out", dc)
            c.add("loss", dc - ac)
            if self.power_cut:
                c.add("dc_out_power_cut", dc)

    # Settings -----------------------------------------------------------------------------------------------------

    def _own_settings(self) -> dict[int, bytes]:
        own = {
            0xDA: bytes((self.own_mode,)),
            0xC1: bytes((MAXIMUM,)),
            0xC2: bytes((MAXIMUM,)),
            0xAA: bytes(4),
            0xAB: bytes(4),
            0xEB: bytes(4),
            0xEC: bytes(4),
            0xED: bytes(2),
            0xEE: bytes(2),
        }
        return {epc: edt for epc, edt in own.items() if epc in self._defs}

    def _dr_settings(self) -> dict[int, bytes]:
        # the mode last, so that restoring it restarts the amount counters after the amounts are back
        settings = super()._dr_settings()
        mode = settings.pop(0xDA, None)
        if mode is not None:
            settings[0xDA] = mode
        return settings

    def _set_mode(self, edt: bytes, t: float) -> str | None:
        if edt[0] not in SUPPORTED_MODES:
            return f"operation mode 0x{edt[0]:02X} is not supported by this battery"
        self.mode = edt[0]
        self._charged_run = self._discharged_run = 0.0
        return None

    def _set_charging_method(self, edt: bytes, t: float) -> str | None:
        if edt[0] == OTHER:
            return "charging method 'other' is not supported"
        self.charging_method = edt[0]
        return None

    def _set_discharging_method(self, edt: bytes, t: float) -> str | None:
        if edt[0] == OTHER:
            return "discharging method 'other' is not supported"
        self.discharging_method = edt[0]
        return None

    def _set_charge_target(self, edt: bytes, t: float) -> str | None:
        self.charge_target_wh = int.from_bytes(edt, "big")
        self._charged_run = 0.0
        return None

    def _set_discharge_target(self, edt: bytes, t: float) -> str | None:
        self.discharge_target_wh = int.from_bytes(edt, "big")
        self._discharged_run = 0.0
        return None

    def _set_charge_power(self, edt: bytes, t: float) -> str | None:
        self.charge_power_w = int.from_bytes(edt, "big")
        return None

    def _set_discharge_power(self, edt: bytes, t: float) -> str | None:
        self.discharge_power_w = int.from_bytes(edt, "big")
        return None

    def _set_charge_current(self, edt: bytes, t: float) -> str | None:
        self.charge_current_a = int.from_bytes(edt, "big") / 10.0
        return None

    def _set_discharge_current(self, edt: bytes, t: float) -> str | None:
        self.discharge_current_a = int.from_bytes(edt, "big") / 10.0
        return None

    def _set_upper_limit(self, edt: bytes, t: float) -> str | None:
        if edt[0] <= self.lower_limit_pct:
            return f"the upper limit must be above the lower limit ({self.lower_limit_pct} %)"
        self.upper_limit_pct = edt[0]
        return None

    def _set_lower_limit(self, edt: bytes, t: float) -> str | None:
        if edt[0] >= self.upper_limit_pct:
            return f"the lower limit must be below the upper limit ({self.upper_limit_pct} %)"
        self.lower_limit_pct = edt[0]
        return None

    def _set_reserve(self, edt: bytes, t: float) -> str | None:
        wh = int.from_bytes(edt, "big")
        if wh > self.capacity_wh:
            return f"the reserve exceeds the capacity ({self.capacity_wh:.0f} Wh)"
        self.reserve_wh = float(wh)
        return None

    def _reset_charge(self, edt: bytes, t: float) -> str | None:
        self._reset_charge_counter = self.counters["dc_in"]
        return None

    def _reset_discharge(self, edt: bytes, t: float) -> str | None:
        self._reset_discharge_counter = self.counters["dc_out"]
        return None

    def __repr__(self) -> str:
        return (
            f"StorageBattery(soc={self.soc_wh:.0f}/{self.capacity_wh:.0f} Wh, mode=0x{self.mode:02X}, "
            f"power={self.power_w:.0f} W)"
        )
