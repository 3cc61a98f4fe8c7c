"""Node profile (0x0EF0), Release R: the object that describes a whole node (it does not inherit the super class)."""

from __future__ import annotations

from ..identity import IDENTIFICATION_NUMBER, PROTOCOL_VERSION
from ..model import NA, ClassDef, M, O, prop
from ..types import FAULT, ON_OFF, PROPERTY_MAP, ClassListType, Date, InstanceListType, raw, u16
from .superclass import MANUFACTURER_CODE, PRODUCT_CODE

#: 0xD5 / 0xD6: count, then up to 84 three-byte EOJs (the MRA spells it as an object of a count and raw items).
INSTANCE_LIST = InstanceListType()
#: 0xD7: count of classes, then up to 8 two-byte class codes.
CLASS_LIST = ClassListType()

# fmt: off
NODE_PROFILE = ClassDef.build(0x0EF0, "Node profile", "nodeProfile", [
    # Status and identification
    prop(0x80, "Operating status", "operatingStatus", ON_OFF, M, NA, M),
    prop(0x82, "Version information", "version", PROTOCOL_VERSION, M, NA, O,
         note="major version, minor version, bitmap of supported message formats, 0x00"),
    prop(0x83, "Identification number", "id", IDENTIFICATION_NUMBER, M, NA, O),
    prop(0xBF, "Unique identifier data", "uid", raw(2), O, O, O),
    # Faults
    prop(0x88, "Fault status", "faultStatus", FAULT, O, NA, O),
    prop(0x89, "Fault description", "faultDescription", u16(0, 1004), O, NA, O, note="fault code 0-1004"),
    # Manufacturer data
    prop(0x8A, "Manufacturer code", "manufacturer", MANUFACTURER_CODE, M, NA, O),
    prop(0x8B, "Business facility code", "businessFacilityCode", raw(3), O, NA, O),
    prop(0x8C, "Product code", "productCode", PRODUCT_CODE, O, NA, O),
    prop(0x8D, "Production number", "serialNumber", PRODUCT_CODE, O, NA, O),
    prop(0x8E, "Production date", "productionDate", Date(), O, NA, O),
    # Property maps
    prop(0x9D, "Status change announcement property map", "statusChangeAnnouncementPropertyMap", PROPERTY_MAP,
         M, NA, O),
    prop(0x9E, "Set property map", "setPropertyMap", PROPERTY_MAP, M, NA, O),
    prop(0x9F, "Get property map", "getPropertyMap", PROPERTY_MAP, M, NA, O),
    # Objects of the node
    prop(0xD3, "Number of self-node instances", "selfNodeInstances", raw(3), M, NA, O,
         note="3-byte unsigned count of device objects, the node profile excluded"),
    prop(0xD4, "Number of self-node classes", "selfNodeClasses", u16(1, 253), M, NA, O,
         note="the node profile class included"),
    prop(0xD5, "Instance list notification", "instanceListNotification", INSTANCE_LIST, O, NA, M),
    prop(0xD6, "Self-node instance list S", "selfNodeInstanceListS", INSTANCE_LIST, M, NA, O),
    prop(0xD7, "Self-node class list S", "selfNodeClassListS", CLASS_LIST, M, NA, O,
         note="the node profile class excluded"),
])
# fmt: on
