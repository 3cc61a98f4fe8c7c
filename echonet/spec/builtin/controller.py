"""Controller (0x05FF), Release R: a controller publishing the list of devices it controls.

0xC2 selects an entry of that list; 0xC3-0xCF and 0xE0 then describe the selected device.
"""

from __future__ import annotations

from ..model import NA, ClassDef, O, prop
from ..types import FAULT, PROPERTY_MAP, Date, enum, raw, u16

_CONNECTION = enum({0x41: "connected", 0x42: "disconnected", 0x43: "notRegistered", 0x44: "deleted"})


# fmt: off
CONTROLLER = ClassDef.build(0x05FF, "Controller", "controller", [
    # The controller itself
    prop(0xC0, "Controller ID", "controllerId", raw(1, 40), O, NA, O, "G"),
    prop(0xC1, "Number of devices controlled", "numberOfDevices", u16(), O, NA, O, "G"),
    prop(0xC2, "Index", "deviceListIndex", u16(), O, O, O, "G", note="selects the device that 0xC3-0xE0 describe"),
    # The selected device
    prop(0xC3, "Device ID", "deviceId", raw(1, 40), O, NA, O, "G"),
    prop(0xC4, "Device type", "deviceType", raw(2), O, NA, O, "G", note="class group code and class code"),
    prop(0xC5, "Name", "name", raw(1, 64), O, NA, O, "G", note="UTF-8 text"),
    prop(0xC6, "Connection status", "connectionStatus", _CONNECTION, O, NA, O, "G"),
    prop(0xC7, "Business code of the device to be controlled", "businessCode", raw(3), O, NA, O, "G"),
    prop(0xC8, "Product code of the device to be controlled", "productCode", raw(1, 12), O, NA, O, "G"),
    prop(0xC9, "Manufacture date of the device to be controlled", "manufactureDate", Date(), O, NA, O, "G"),
    prop(0xCA, "Registered information renewal date of the device to be controlled", "renewalDate", Date(),
         O, NA, O, "G"),
    prop(0xCB, "Registered information renewal version information of the device to be controlled",
         "renewalVersionInformation", u16(), O, NA, O, "G"),
    prop(0xCC, "Place to install device to be controlled", "place", raw(1), O, NA, O, "I",
         note="installation location code, as in 0x81"),
    prop(0xCD, "Fault status of device to be controlled", "faultStatusOfDevice", FAULT, O, NA, O, "I"),
    prop(0xCE, "Set property map for device to be controlled", "setPropertyMapForDevice", PROPERTY_MAP,
         O, NA, O, "I"),
    prop(0xCF, "Get property map for device to be controlled", "getPropertyMapForDevice", PROPERTY_MAP,
         O, NA, O, "I"),
    prop(0xE0, "Address of installation location", "address", raw(1, 255), O, NA, O, "I", note="UTF-8 text"),
])
# fmt: on
