"""Storage battery (0x027D), Release R.

Signs: instantaneous power, current and the combined amount settings are positive while charging and negative while
discharging. "AC" properties are measured at the AC side of the power conditioner.
"""

from __future__ import annotations

from ..identity import IDENTIFICATION_NUMBER
from ..model import MC, NA, ClassDef, M, O, prop
from ..types import Date, Time, enum, obj, one_of, s16, s32, u16, u32
from .superclass import CUMULATIVE_KWH, FAULT_DESCRIPTION, PERCENT, PERMISSION, PRODUCT_CODE

WH = u32(0, 999_999_999, "Wh")
W = u32(0, 999_999_999, "W")
#: Capacity in 0.1 Ah steps, 0-3,276.6 Ah.
AH = u16(0, 32766, "Ah", 0.1)
VOLTS = u16(0, 32766, "V")
#: Current settings in 0.1 A steps, 0-6,553.3 A.
AMPS = u16(0, 65533, "A", 0.1)
#: Current limits in 0.1 A steps, 0-3,276.6 A.
_AMPS_LIMIT = u16(0, 32766, "A", 0.1)

_MIN_MAX_W = obj(("minValue", W), ("maxValue", W))
_MIN_MAX_A = obj(("minValue", _AMPS_LIMIT), ("maxValue", _AMPS_LIMIT))
#: 0xAA / 0xAB AC charge / discharge amount: 1 Wh upwards, or 0 when not set.
_TARGET_WH = one_of(u32(1, 999_999_999, "Wh"), enum({0x00000000: "noSetting"}, size=4))
#: 0xE0 / 0xE1: one signed amount, positive to charge and negative to discharge (zero is not allowed).
_SIGNED_WH = one_of(u32(1, 999_999_999, "Wh"), s32(-999_999_999, -1, "Wh"))
_SIGNED_AH = one_of(s16(1, 32766, "Ah", 0.1), s16(-32767, -1, "Ah", 0.1))
#: 0xD7 / 0xD9: writing 0x00 resets the cumulative counter.
_RESET = enum({0x00: "reset"})

#: 0xDA operation mode (set) and 0xCF working operation status (actual).
OPERATION_MODE = enum(
    {
        0x41: "rapidCharging",
        0x42: "charging",
        0x43: "discharging",
        0x44: "standby",
        0x45: "test",
        0x46: "auto",
        0x48: "restart",
        0x49: "capacityRecalculation",
        0x40: "other",
    }
)
_CHARGING_METHOD = enum(
    {0x01: "maximum", 0x02: "surplus", 0x03: "designatedPower", 0x04: "designatedCurrent", 0x00: "other"}
)
_DISCHARGING_METHOD = enum(
    {0x01: "maximum", 0x02: "loadFollowing", 0x03: "designatedPower", 0x04: "designatedCurrent", 0x00: "other"}
)
_INTERCONNECTION = enum(
    {0x00: "reversePowerFlowAcceptable", 0x01: "independent", 0x02: "reversePowerFlowNotAcceptable"}
)
_BATTERY_TYPE = enum(
    {
        0x00: "unknown",
        0x01: "lead",
        0x02: "ni_mh",
        0x03: "ni_cd",
        0x04: "lib",
        0x05: "zinc",
        0x06: "alkaline",
    }
)


# fmt: off
STORAGE_BATTERY = ClassDef.build(0x027D, "Storage battery", "storageBattery", [
    # Super class properties with other rules in this class
    prop(0x83, "Identification number", "id", IDENTIFICATION_NUMBER, O, NA, O, "H"),
    prop(0x89, "Fault description", "faultDescription", FAULT_DESCRIPTION, M, NA, O, "R"),
    prop(0x8C, "Product code", "productCode", PRODUCT_CODE, M, NA, O, "R"),
    prop(0x97, "Current time setting", "currentTime", Time(2), M, O, O, "H"),
    prop(0x98, "Current date setting", "currentDate", Date(), M, O, O, "H"),
    # Operation
    prop(0xDA, "Operation mode setting", "operationMode", OPERATION_MODE, M, M, M,
         note="reads back the mode set; 0xCF reports the actual status"),
    prop(0xCF, "Working operation status", "actualOperationMode", OPERATION_MODE, M, NA, M, "D"),
    prop(0xC1, "Charging method", "chargingMethod", _CHARGING_METHOD, M, O, M, "M", note="used while 0xDA is charging"),
    prop(0xC2, "Discharging method", "dischargingMethod", _DISCHARGING_METHOD, M, O, M, "M",
         note="used while 0xDA is discharging"),
    prop(0xCC, "Re-interconnection permission setting", "reInterconnectionPermission", PERMISSION, O, O, O, "H"),
    prop(0xCD, "Operation permission setting", "operationPermission", PERMISSION, O, O, O, "H"),
    prop(0xCE, "Independent operation permission setting", "independentOperationPermission", PERMISSION,
         O, O, O, "H"),
    prop(0xDB, "System-interconnected type", "powerSystemInterconnectionStatus", _INTERCONNECTION, M, NA, O, "B"),
    # AC side: capacities, energies and amount settings
    prop(0xA0, "AC effective capacity (charging)", "acEffectiveChargingCapacity", WH, M, NA, O, "H"),
    prop(0xA1, "AC effective capacity (discharging)", "acEffectiveDischargingCapacity", WH, M, NA, O, "H"),
    prop(0xA2, "AC chargeable capacity", "acChargeableCapacity", WH, M, NA, O, "H"),
    prop(0xA3, "AC dischargeable capacity", "acDischargeableCapacity", WH, M, NA, O, "H"),
    prop(0xA4, "AC chargeable electric energy", "acChargeableElectricEnergy", WH, M, NA, O, "H"),
    prop(0xA5, "AC dischargeable electric energy", "acDischargeableElectricEnergy", WH, M, NA, O, "H"),
    prop(0xA6, "AC charge upper limit setting", "acChargeUpperLimit", PERCENT, O, O, O, "H"),
    prop(0xA7, "AC discharge lower limit setting", "acDischargeLowerLimit", PERCENT, O, O, O, "H"),
    prop(0xA8, "AC measured cumulative charging electric energy", "acCumulativeChargingElectricEnergy",
         CUMULATIVE_KWH, M, NA, O, "H"),
    prop(0xA9, "AC measured cumulative discharging electric energy", "acCumulativeDischargingElectricEnergy",
         CUMULATIVE_KWH, M, NA, O, "H"),
    prop(0xAA, "AC charge amount setting value", "acTargetChargingElectricEnergy", _TARGET_WH, M, M, M, "H"),
    prop(0xAB, "AC discharge amount setting value", "acTargetDischargingElectricEnergy", _TARGET_WH, M, M, M, "H"),
    prop(0xC7, "AC rated electric energy", "acRatedElectricEnergy", WH, O, NA, O, "H"),
    # Power and current limits of the device
    prop(0xC8, "Minimum/maximum charging electric power", "minimumAndMaximumChargingElectricPower",
         _MIN_MAX_W, M, NA, O, "B"),
    prop(0xC9, "Minimum/maximum discharging electric power", "minimumAndMaximumDischargingElectricPower",
         _MIN_MAX_W, M, NA, O, "B"),
    prop(0xCA, "Minimum/maximum charging current", "minimumAndMaximumChargingCurrent", _MIN_MAX_A, O, NA, O, "B"),
    prop(0xCB, "Minimum/maximum discharging current", "minimumAndMaximumDischargingCurrent",
         _MIN_MAX_A, O, NA, O, "B"),
    prop(0xDC, "Minimum/maximum charging power (independent)", "minimumAndMaximumChargingPowerAtIndependent",
         _MIN_MAX_W, O, NA, O, "C"),
    prop(0xDD, "Minimum/maximum discharging power (independent)", "minimumAndMaximumDischargingPowerAtIndependent",
         _MIN_MAX_W, O, NA, O, "C"),
    prop(0xDE, "Minimum/maximum charging current (independent)", "minimumAndMaximumChargingCurrentAtIndependent",
         _MIN_MAX_A, O, NA, O, "C"),
    prop(0xDF, "Minimum/maximum discharging current (independent)",
         "minimumAndMaximumDischargingCurrentAtIndependent", _MIN_MAX_A, O, NA, O, "C"),
    # Ratings
    prop(0xD0, "Rated electric energy", "ratedElectricEnergy", WH, O, NA, O),
    prop(0xD1, "Rated capacity", "ratedCapacity", AH, O, NA, O),
    prop(0xD2, "Rated voltage", "ratedVoltage", VOLTS, O, NA, O),
    prop(0xEF, "Rated voltage (independent)", "ratedVoltageAtIndependent", VOLTS, O, NA, O, "C"),
    # Measurements (positive while charging, negative while discharging)
    prop(0xD3, "Measured instantaneous charging/discharging power", "instantaneousChargingAndDischargingElectricPower",
         s32(-999_999_999, 999_999_999, "W"), O, NA, O),
    prop(0xD4, "Measured instantaneous charging/discharging current", "instantaneousChargingAndDischargingCurrent",
         s16(-32767, 32766, "A", 0.1), O, NA, O),
    prop(0xD5, "Measured instantaneous charging/discharging voltage", "instantaneousChargingAndDischargingVoltage",
         s16(-32767, 32766, "V"), O, NA, O),
    prop(0xD6, "Measured cumulative discharging electric energy", "cumulativeDischargingElectricEnergy",
         CUMULATIVE_KWH, O, NA, O),
    prop(0xD7, "Measured cumulative discharging electric energy reset setting",
         "resetCumulativeDischargingElectricEnergy", _RESET, NA, O, NA, note="Set only"),
    prop(0xD8, "Measured cumulative charging electric energy", "cumulativeChargingElectricEnergy",
         CUMULATIVE_KWH, O, NA, O),
    prop(0xD9, "Measured cumulative charging electric energy reset setting", "resetCumulativeChargingElectricEnergy",
         _RESET, NA, O, NA, note="Set only"),
    # Remaining energy and health (0xE2, 0xE3 or 0xE4 is mandatory)
    prop(0xE2, "Remaining stored electricity 1", "remainingCapacity1", WH, MC, NA, O),
    prop(0xE3, "Remaining stored electricity 2", "remainingCapacity2", AH, MC, NA, O),
    prop(0xE4, "Remaining stored electricity 3", "remainingCapacity3", PERCENT, MC, NA, O),
    prop(0xE5, "Battery state of health", "batteryHealthState", PERCENT, O, NA, O),
    prop(0xE6, "Battery type", "batteryType", _BATTERY_TYPE, M, NA, O),
    # Amount settings: either the signed 0xE0 / 0xE1, or the separate 0xE7-0xEA
    prop(0xE0, "Charging/discharging amount setting 1", "chargingAndDischargingAmount1", _SIGNED_WH, O, O, O,
         note="positive: charge, negative: discharge"),
    prop(0xE1, "Charging/discharging amount setting 2", "chargingAndDischargingAmount2", _SIGNED_AH, O, O, O,
         note="positive: charge, negative: discharge"),
    prop(0xE7, "Charging amount setting 1", "chargingAmount1", WH, O, O, O, "B"),
    prop(0xE8, "Discharging amount setting 1", "dischargingAmount1", WH, O, O, O, "B"),
    prop(0xE9, "Charging amount setting 2", "chargingAmount2", AH, O, O, O, "B"),
    prop(0xEA, "Discharging amount setting 2", "dischargingAmount2", AH, O, O, O, "B"),
    # Power and current settings (charging / discharging method "designated power" or "designated current")
    prop(0xEB, "Charging power setting", "chargingPower", W, O, O, O, "B"),
    prop(0xEC, "Discharging power setting", "dischargingPower", W, O, O, O, "B"),
    prop(0xED, "Charging current setting", "chargingCurrent", AMPS, O, O, O, "B"),
    prop(0xEE, "Discharging current setting", "dischargingCurrent", AMPS, O, O, O, "B"),
])
# fmt: on
