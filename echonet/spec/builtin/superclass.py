"""Device super class (0x0000), Release R: the properties every device object inherits.

The shared value types of the built-in tables are defined here as well, since the device classes build on this one.
"""

from __future__ import annotations

from ..identity import APPENDIX_RELEASE, IDENTIFICATION_NUMBER
from ..model import NA, ClassDef, M, O, prop
from ..types import FAULT, ON_OFF, PROPERTY_MAP, Date, Text, Time, enum, obj, one_of, raw, u8, u16, u32

# Shared value types ------------------------------------------------------------------------------------------------

#: A function switched on (0x41) or off (0x42); distinct from ON_OFF (0x30 / 0x31, operation status). The Appendix
#: calls them ``true`` / ``false``.
FUNCTION_ON_OFF = enum({0x41: "on", 0x42: "off"}, aliases={"true": 0x41, "false": 0x42})
#: A permission setting.
PERMISSION = enum({0x41: "permitted", 0x42: "prohibited"})

PERCENT = u8(0, 100, "%")
CELSIUS = u8(0, 100, "Celsius")
WATTS = u16(0, 65533, "W")
LITRES = u16(0, 65533, "L")
#: Cumulative energy in 0.001 kWh steps, 0-999,999.999 kWh.
CUMULATIVE_KWH = u32(0, 999_999_999, "kWh", 0.001)

#: 0x89 fault description: single codes plus ranges of codes per fault family.
FAULT_DESCRIPTION = enum(
    {
        0x0000: "noFault",
        0x0001: "turnOffOrUnplug",
        0x0002: "resetButton",
        0x0003: "setIncorrectly",
        0x0004: "supply",
        0x0005: "cleaning",
        0x0006: "changingBattery",
        0x0007: "recoverOperationNotRequired",
        0x0009: "userDefinable",
        0x03E9: "repairLocationUnknown",
        0x03FF: "fault",
    },
    size=2,
    ranges=(
        (0x000A, 0x0013, "abnormalEventOrSafety"),
        (0x0014, 0x001D, "switch"),
        (0x001E, 0x003B, "sensorSystem"),
        (0x003C, 0x0059, "component"),
        (0x005A, 0x006E, "controlCircuitBoard"),
        (0x006F, 0x03E8, "userDefinable"),
    ),
)

# 0x82 (APPENDIX_RELEASE) and 0x83 (IDENTIFICATION_NUMBER: 0xFE, manufacturer code, 13 unique bytes): ..identity.
MANUFACTURER_CODE = raw(3)
#: Product code and serial number (0x8C / 0x8D): 12 ASCII characters (the MRA only says 12 raw bytes).
PRODUCT_CODE = Text(12, 12)

_POWER_SAVING = enum({0x41: "powerSaving", 0x42: "normal"})
_REMOTE_CONTROL = enum(
    {
        0x41: "notThroughPublicNetwork",
        0x42: "throughPublicNetwork",
        0x61: "lineNormalPublicNetworkUnusable",
        0x62: "lineNormalPublicNetworkUsable",
    }
)
_TIME_UNIT = enum({0x41: "second", 0x42: "minute", 0x43: "hour", 0x44: "day"})


# fmt: off
SUPER_CLASS = ClassDef.build(0x0000, "Device super class", "superClass", [
    # Operation and identification
    prop(0x80, "Operation status", "operationStatus", ON_OFF, M, O, M),
    prop(0x81, "Installation location", "installationLocation", one_of(raw(1), raw(17)), M, M, M,
         note="1-byte location code (0x00 = not set), or 17 bytes starting with 0x01 (position information)"),
    prop(0x82, "Standard version information", "protocol", APPENDIX_RELEASE, M, NA, O,
         note="0x00 0x00, Appendix release letter (ASCII), revision number"),
    prop(0x83, "Identification number", "id", IDENTIFICATION_NUMBER, O, NA, O),
    # Power and energy
    prop(0x84, "Measured instantaneous power consumption", "instantaneousElectricPowerConsumption", WATTS, O, NA, O),
    prop(0x85, "Measured cumulative electric energy consumption", "consumedCumulativeElectricEnergy",
         CUMULATIVE_KWH, O, NA, O),
    prop(0x87, "Current limit setting", "currentLimit", PERCENT, O, O, O),
    prop(0x99, "Power limit setting", "powerLimit", WATTS, O, O, O),
    # Faults
    prop(0x86, "Manufacturer's fault code", "manufacturerFaultCode", raw(1, 255), O, NA, O),
    prop(0x88, "Fault status", "faultStatus", FAULT, M, NA, M),
    prop(0x89, "Fault description", "faultDescription", FAULT_DESCRIPTION, O, NA, O),
    # Manufacturer data
    prop(0x8A, "Manufacturer code", "manufacturer", MANUFACTURER_CODE, M, NA, O),
    prop(0x8B, "Business facility code", "businessFacilityCode", raw(3), O, NA, O),
    prop(0x8C, "Product code", "productCode", PRODUCT_CODE, O, NA, O),
    prop(0x8D, "Production number", "serialNumber", PRODUCT_CODE, O, NA, O),
    prop(0x8E, "Production date", "productionDate", Date(), O, NA, O),
    # Settings
    prop(0x8F, "Power-saving operation setting", "powerSaving", _POWER_SAVING, O, O, O),
    prop(0x93, "Remote control setting", "remoteControl", _REMOTE_CONTROL, O, O, O,
         note="0x41 / 0x42: control not via / via a public network; 0x61 / 0x62: the same, line normal"),
    prop(0x97, "Current time setting", "currentTime", Time(2), O, O, O),
    prop(0x98, "Current date setting", "currentDateAndTime", Date(), O, O, O),
    prop(0x9A, "Cumulative operating time", "hourMeter", obj(("unit", _TIME_UNIT), ("time", u32(0, 0xFFFFFFFF))),
         O, NA, O),
    # Property maps
    prop(0x9D, "Status change announcement property map", "statusChangeAnnouncementPropertyMap", PROPERTY_MAP,
         M, NA, O),
    prop(0x9E, "Set property map", "setPropertyMap", PROPERTY_MAP, M, NA, O),
    prop(0x9F, "Get property map", "getPropertyMap", PROPERTY_MAP, M, NA, O),
])
# fmt: on
