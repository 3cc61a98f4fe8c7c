"""Hybrid water heater (0x02A6), Release R: heat pump plus an auxiliary heat source (added in Release L).

0xB8 links the heater to solar generation: household self-consumption (0x42) raises daytime demand, prioritising
electricity sales (0x43) lowers it.
"""

from __future__ import annotations

from ..model import NA, ClassDef, M, O, prop
from ..types import Time, enum, obj
from .superclass import FUNCTION_ON_OFF, LITRES
from .water_heater import AUTOMATIC_HEATING, HEATING, SUPPLYING

_SOLAR_LINKAGE = enum(
    {
        0x41: "modeOff",
        0x42: "householdConsumption",
        0x43: "prioritizingElectricitySales",
        0x44: "economicEfficiency",
    }
)
_TIME_WINDOW = obj(("startTime", Time(2)), ("endTime", Time(2)))


# fmt: off
HYBRID_WATER_HEATER = ClassDef.build(0x02A6, "Hybrid water heater", "hybridWaterHeater", since="L", props=[
    # Heating and supply status
    prop(0xB0, "Automatic water heating setting", "automaticWaterHeating", AUTOMATIC_HEATING, O, O, M, "L"),
    prop(0xB2, "Water heating status", "waterHeatingStatus", HEATING, O, NA, M, "L"),
    prop(0xB3, "Heater status", "heaterStatus", HEATING, O, NA, M, "L"),
    prop(0xC3, "Hot water supply status", "hotWaterSupplyStatus", SUPPLYING, O, NA, M, "L"),
    # Auxiliary heat source
    prop(0xB6, "Hot water supply mode setting for auxiliary heat source machine",
         "hotWaterSupplyModeForAuxiliaryHeatSourceMachine", FUNCTION_ON_OFF, O, O, O, "L",
         note="on: hot water from the auxiliary heat source only"),
    prop(0xB7, "Heater mode setting for auxiliary heat source machine", "heaterModeForAuxiliaryHeatSourceMachine",
         FUNCTION_ON_OFF, O, O, O, "L", note="on: heating from the auxiliary heat source only"),
    # Solar power linkage
    prop(0xB8, "Linkage mode setting for solar power generation", "linkageModeForSolarPowerGeneration",
         _SOLAR_LINKAGE, M, M, M, "L"),
    prop(0xB9, "Solar power generations utilization time", "solarPowerGenerationsUtilizationTime", _TIME_WINDOW,
         O, O, O, "L"),
    # Tank
    prop(0xE1, "Measured amount of hot water remaining in tank", "remainingWater", LITRES, O, NA, O, "L"),
    prop(0xE2, "Tank capacity", "tankCapacity", LITRES, O, NA, O, "L"),
])
# fmt: on
