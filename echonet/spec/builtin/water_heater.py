"""Electric water heater (0x026B), Release R: heat-pump (EcoCute) and other electric storage water heaters.

The energy-shift properties 0xC7-0xCF (Release I) carry the daytime heating shift used for demand response.
"""

from __future__ import annotations

from ..model import MO, NA, ClassDef, M, O, prop
from ..types import ON_OFF, BitField, Bitmap, Level, Number, Object, Time, array, enum, obj, one_of, s16, u8, u16, u32
from .superclass import CELSIUS, FUNCTION_ON_OFF, LITRES, PERCENT, PERMISSION, WATTS

# Value types shared with the hybrid water heater ----------------------------------------------------------------

#: 0xB0 automatic water heating: automatic, or manual with heating on or stopped.
AUTOMATIC_HEATING = enum({0x41: "auto", 0x42: "manualHeating", 0x43: "manualNoHeating"})
#: Whether water (or the heater circuit) is being heated now.
HEATING = enum({0x41: "heating", 0x42: "notHeating"})
#: Whether hot water is being supplied now.
SUPPLYING = enum({0x41: "supplying", 0x42: "notSupplying"})

# Value types of this class --------------------------------------------------------------------------------------

#: 0xB3: 0xFD is reported while no temperature is set; a controller cannot set it.
_UNDEFINED = enum({0xFD: "undefined"}, read_only=frozenset({0xFD}))
_STOP_DAYS = one_of(u8(0, 252, "days"), enum({0xFD: "infinite"}))
_TANK_MODE = enum({0x41: "standard", 0x42: "saving", 0x43: "extra"})
_BATH_OPERATION = enum({0x41: "runningHotWater", 0x42: "noOperation", 0x43: "keepingTemperature"})

#: 0xC2: one bit per alarm in the first of four bytes (1 = alarm).
_ALARM = {0x01: "alarm", 0x00: "normal"}
_ALARM_STATUS = Bitmap(
    4,
    (
        BitField("noHotWater", 0, 0b001, _ALARM),
        BitField("leaking", 0, 0b010, _ALARM),
        BitField("freezing", 0, 0b100, _ALARM),
    ),
)

# Energy shift (daytime heating shift): the hour a shift starts at, 0x00 when cleared.
_PARTICIPATION = enum({0x01: "participating", 0x00: "notParticipating"})
#: 0xC8: the hour heating normally starts, one of 20-24 (24 = midnight) or 1.
_START_HOUR = Number("uint8", 1, 24, allowed=frozenset({1, 20, 21, 22, 23, 24}))
_CLEARED = enum({0x00: "cleared"})
_SHIFT_HOURS_2 = {hour: f"at{hour:02d}00" for hour in range(10, 18)}  # 0x0A-0x11: 10:00-17:00
_SHIFT_TIME_1 = one_of(enum({0x09: "at0900", **_SHIFT_HOURS_2}), _CLEARED)
_SHIFT_TIME_2 = one_of(enum(_SHIFT_HOURS_2), _CLEARED)


def _expected_wh(*hours: int) -> Object:
    """Expected energy (Wh, 4 bytes) if the shift starts at each of ``hours``."""
    return obj(*((f"at{hour:02d}00", u32(0, 4_294_967_293, "Wh")) for hour in hours))


def _hourly_wh(*hours: int) -> Object:
    """Energy consumed per hour (Wh, 2 bytes) if the shift starts at each of ``hours``."""
    return obj(*((f"at{hour:02d}00", u16(0, 65533, "Wh")) for hour in hours))


#: 0xD9: base month, day and hour, then 24 hourly predictions in 10 Wh steps (0x8000: no prediction for that hour).
_SURPLUS_PREDICTION = obj(
    ("month", u8(1, 12)),
    ("day", u8(1, 31)),
    ("hour", u8(0, 23)),
    (
        "surplusEnergyPredictionValue",
        array(one_of(s16(unit="Wh", scale=10), enum({0x8000: "invalid"}, size=2)), 2, 24, 24),
    ),
)


# fmt: off
ELECTRIC_WATER_HEATER = ClassDef.build(0x026B, "Electric water heater", "electricWaterHeater", [
    # Timer
    prop(0x90, "ON timer reservation setting", "onTimerReservation", FUNCTION_ON_OFF, O, O, O),
    prop(0x91, "ON timer time setting", "onTimerTime", Time(2), O, O, O),
    # Water heating
    prop(0xB0, "Automatic water heating setting", "automaticWaterHeating", AUTOMATIC_HEATING, M, M, M),
    prop(0xB1, "Automatic water temperature control setting", "automaticWaterHeatingTemperatureControl",
         FUNCTION_ON_OFF, O, O, O),
    prop(0xB2, "Water heater status", "waterHeatingStatus", HEATING, M, NA, M),
    prop(0xB3, "Water heating temperature setting", "targetWaterHeatingTemperature", one_of(CELSIUS, _UNDEFINED),
         O, O, O),
    prop(0xB4, "Manual water heating stop days setting", "heatingStopDays", _STOP_DAYS, O, O, O, "D"),
    prop(0xB5, "Relative time setting value for manual water heating OFF", "relativeTimeHeatingOff", Time(2),
         O, O, O, "D"),
    prop(0xB6, "Tank operation mode setting", "tankOperationMode", _TANK_MODE, O, O, O, "D"),
    prop(0xC0, "Daytime reheating permission setting", "daytimeReheatingPermission", PERMISSION, M, M, O),
    prop(0xC1, "Measured temperature of water in water heater", "tankWaterTemperature", CELSIUS, O, NA, O),
    prop(0xC2, "Alarm status", "alarmStatus", _ALARM_STATUS, O, NA, M, "C"),
    prop(0xC3, "Hot water supply status", "hotWaterSupplyStatus", SUPPLYING, M, NA, M, "D"),
    prop(0xD1, "Temperature of supplied water setting", "targetSuppliedWaterTemperature", CELSIUS, O, O, O),
    # Energy shift (daytime heating shift)
    prop(0xC7, "Participation in energy shift", "energyShiftParticipation", _PARTICIPATION, M, M, O, "I"),
    prop(0xC8, "Standard time to start heating", "standardTimeToStartHeating", _START_HOUR, M, NA, O, "I",
         note="hour of day: 20, 21, 22, 23, 24 (midnight) or 1"),
    prop(0xC9, "Number of energy shifts", "numberOfEnergyShifts", u8(1, 2), M, NA, O, "I"),
    prop(0xCA, "Daytime heating shift time 1", "waterHeatingShiftTime1", _SHIFT_TIME_1, M, M, O, "I"),
    prop(0xCB, "Expected electric energy at daytime heating shift time 1", "estimatedElectricEnergyAtShiftTime1",
         _expected_wh(10, 13, 15, 17), M, NA, O, "I", note="expected energy if shift 1 starts at each hour"),
    prop(0xCC, "Consumption of electric energy per hour 1", "electricEnergyConsumptionRate1",
         _hourly_wh(10, 13, 15, 17), M, NA, O, "I"),
    prop(0xCD, "Daytime heating shift time 2", "waterHeatingShiftTime2", _SHIFT_TIME_2, M, M, O, "I"),
    prop(0xCE, "Expected electric energy at daytime heating shift time 2", "estimatedElectricEnergyAtShiftTime2",
         _expected_wh(13, 15, 17), M, NA, O, "I", note="expected energy if shift 2 starts at each hour"),
    prop(0xCF, "Consumption of electric energy per hour 2", "electricEnergyConsumptionRate2",
         _hourly_wh(13, 15, 17), M, NA, O, "I"),
    prop(0xD9, "Surplus electric energy prediction value", "surplusPowerPrediction", _SURPLUS_PREDICTION,
         O, O, O, "H"),
    # Heat pump ratings
    prop(0xDB, "Rated power consumption of H/P unit in wintertime", "winterRatedPower", WATTS, O, NA, O),
    prop(0xDC, "Rated power consumption of H/P unit in in-between seasons", "betweenSeasonRatedPower", WATTS,
         O, NA, O),
    prop(0xDD, "Rated power consumption of H/P unit in summertime", "summerRatedPower", WATTS, O, NA, O),
    # Tank
    prop(0xE1, "Measured amount of water remaining in tank", "remainingWater", LITRES, O, NA, O),
    prop(0xE2, "Tank capacity", "tankCapacity", LITRES, O, NA, O),
    prop(0xD8, "Remaining hot water volume", "remainingWaterVolume", LITRES, O, NA, O, "F"),
    # Bath
    prop(0xD3, "Bath water temperature setting", "targetBathWaterTemperature", CELSIUS, O, O, O),
    prop(0xE0, "Bath water volume setting", "targetWaterHeatingVolume", PERCENT, O, O, O),
    prop(0xE7, "Bath water volume setting 1", "bathWaterVolume1", u8(0, 253, "L"), O, O, O),
    prop(0xE8, "Bath water volume setting 2", "bathWaterVolume2", Level(0x31, 8), O, O, O),
    prop(0xEE, "Bath water volume setting 3", "bathWaterVolume3", LITRES, O, O, O),
    prop(0xD4, "Bath water volume setting 4", "bathWaterVolume4", u8(1, 255), O, O, O, "C",
         note="step 1 up to the maximum that 0xD5 reports"),
    prop(0xD5, "Bath water volume setting 4 maximum settable level", "maximumAllowableWaterVolume4", u8(1, 255),
         O, NA, O, "C"),
    prop(0xE3, "Automatic bath water heating mode setting", "automaticBathOperation", FUNCTION_ON_OFF, MO, MO, O),
    prop(0xE4, "Manual bath reheating operation setting", "bathReheatingOperation", FUNCTION_ON_OFF, O, O, O, "D"),
    prop(0xE5, "Manual bath hot water addition function setting", "bathHotWaterAddition", FUNCTION_ON_OFF,
         O, O, O),
    prop(0xE6, "Manual lukewarm water temperature lowering function setting", "bathLukewarmWaterFunction",
         FUNCTION_ON_OFF, O, O, O),
    prop(0xE9, "Bathroom priority setting", "bathroomPriority", FUNCTION_ON_OFF, O, NA, O, "D"),
    prop(0xEA, "Bath operation status monitor", "bathOperationStatusMonitor", _BATH_OPERATION, O, NA, M, "D"),
    prop(0xC4, "Relative time setting for keeping bath temperature", "relativeTimeKeepingTemperature", Time(2),
         O, O, O, "D"),
    # Sound
    prop(0xD6, "Volume setting", "volume", PERCENT, O, O, O, "F"),
    prop(0xD7, "Mute setting", "mute", ON_OFF, O, O, O, "F"),
])
# fmt: on
