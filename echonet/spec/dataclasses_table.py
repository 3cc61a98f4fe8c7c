"""What kind of information each property holds: control, identity, operating data, or usage/sensor data.

JC-STAR smart-home level 2 counts a device's operating information and its sensor data as protected assets, not
only its control commands. This table gives every EPC of the spec tables one **data class**, so that a policy and
its consents can speak in those classes (a read of usage data from a legacy device over plain ECHONET Lite is a
consented act, shown with its risk):

* ``control``: what changes the device's behaviour when written (operation status, modes, target values, timers);
* ``identity``: what identifies the device, its maker and model (identification number, maker code, product and
  serial numbers, the protocol version, property maps);
* ``operating``: the device's state and configuration that says little about the people at home (fault status,
  capacities, ratings, the clock);
* ``usage``: measurements and sensor data that reveal presence and habits (power consumption, energy counters,
  remaining hot water or battery charge over time, bath status).

The classes are spec data: this module holds them as a table per class group/class (with the super class's EPCs
shared by every class) and a rule for EPCs the table does not list: settable EPCs are ``control``; what a sensor
(class group 0x00) senses and a meter measures (0xB0-0xEF, not settable) is ``usage``; the rest, the manufacturer
range 0xF0-0xFF included, is ``operating``. Read them with :func:`data_class`; every
EPC of a registry with :func:`data_classes`.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from enum import StrEnum

from .registry import Registry, builtin_registry

__all__ = ["RISK", "DataClass", "data_class", "data_classes"]


class DataClass(StrEnum):
    CONTROL = "control"
    IDENTITY = "identity"
    OPERATING = "operating"
    USAGE = "usage"


#: What reading (or, for control, writing) a class of data over plain ECHONET Lite exposes: shown to the user before
#: a consent.
RISK: Mapping[DataClass, str] = {
    DataClass.CONTROL: "anyone on the network can change what the device does (no authentication)",
    DataClass.IDENTITY: "the device's maker, model and serial number are readable by anyone on the network",
    DataClass.OPERATING: "the device's state and settings are readable by anyone on the network",
    DataClass.USAGE: "measurements that reveal when people are at home and their habits are readable by anyone "
    "on the network, and travel unencrypted",
}

_C, _I, _O, _U = DataClass.CONTROL, DataClass.IDENTITY, DataClass.OPERATING, DataClass.USAGE

#: The device super class (0x0000): its EPCs for every device class.
_SUPER: dict[int, DataClass] = {
    0x80: _C,  # operation status
    0x81: _C,  # installation location
    0x82: _I,  # protocol version
    0x83: _I,  # identification number
    0x84: _U,  # instantaneous power consumption
    0x85: _U,  # cumulative energy
    0x86: _O,  # manufacturer fault code
    0x87: _C,  # current limit
    0x88: _O,  # fault status
    0x89: _O,  # fault description
    0x8A: _I,  # manufacturer code
    0x8B: _I,  # business facility code
    0x8C: _I,  # product code
    0x8D: _I,  # serial number
    0x8E: _I,  # production date
    0x8F: _C,  # power saving
    0x93: _C,  # remote control setting
    0x97: _O,  # current time
    0x98: _O,  # current date
    0x99: _C,  # power limit
    0x9A: _U,  # hour meter (how long it has been used)
    0x9D: _I,  # property maps
    0x9E: _I,
    0x9F: _I,
}

#: The node profile (0x0EF0).
_NODE_PROFILE: dict[int, DataClass] = {
    0x80: _O,
    0x82: _I,
    0x83: _I,
    0x88: _O,
    0x89: _O,
    0x8A: _I,
    0x8B: _I,
    0x8C: _I,
    0x8D: _I,
    0x8E: _I,
    0x9D: _I,
    0x9E: _I,
    0x9F: _I,
    0xBF: _I,
    0xD3: _I,
    0xD4: _I,
    0xD5: _I,
    0xD6: _I,
    0xD7: _I,
}

#: Per class: the EPCs whose class differs from the default rule.
_TABLE: dict[int, dict[int, DataClass]] = {
    0x0EF0: _NODE_PROFILE,
    # Electric water heater: remaining hot water, bath state and consumption show when people bathe.
    0x026B: {
        0xB2: _O,
        0xC1: _U,
        0xC2: _O,
        0xC3: _U,
        0xC7: _C,
        0xCB: _U,
        0xCC: _U,
        0xCE: _U,
        0xCF: _U,
        0xD8: _U,
        0xE1: _U,
        0xE2: _O,
        0xEA: _U,
        0xD9: _O,
        0xDB: _O,
        0xDC: _O,
        0xDD: _O,
    },
    0x02A6: {0xB2: _O, 0xB3: _O, 0xC3: _U, 0xE1: _U, 0xE2: _O},
    # Storage battery: charge and discharge over time follow the household's consumption.
    0x027D: {
        0xA2: _O,
        0xA3: _O,
        0xA4: _U,
        0xA5: _U,
        0xA8: _U,
        0xA9: _U,
        0xCF: _O,
        0xD3: _U,
        0xD4: _U,
        0xD5: _O,
        0xD6: _U,
        0xD8: _U,
        0xDB: _O,
        0xE2: _U,
        0xE3: _U,
        0xE4: _U,
        0xE5: _O,
        0xE6: _I,
    },
    # Controller: its device list names what the home has.
    0x05FF: {0xC0: _I, 0xC1: _O, 0xC3: _I, 0xC4: _I, 0xC5: _I, 0xC6: _U, 0xCC: _I, 0xE0: _I},
}


#: Meters: what they measure (their class-specific EPCs that cannot be written) is usage data.
_METERS = frozenset(
    {
        0x0280,  # electric energy meter
        0x0281,  # water flow meter
        0x0282,  # gas meter
        0x0287,  # power distribution board metering
        0x0288,  # low-voltage smart electric energy meter
        0x028D,  # smart electric energy sub-meter
    }
)


def data_class(class_id: int, epc: int, *, settable: bool | None = None) -> DataClass:
    """The data class of ``epc`` in class ``class_id`` (class group << 8 | class code, e.g. 0x027D).

    ``settable``: whether the class lets the EPC be written (the spec table's Set rule), for EPCs the table does
    not list; ``None``: as the built-in spec tables say (an EPC they do not know counts as ``operating``)."""
    own = _TABLE.get(class_id)
    if own is not None:
        found = own.get(epc)
        if found is not None:
            return found
    if class_id != 0x0EF0:
        found = _SUPER.get(epc)
        if found is not None:
            return found
    if settable is None:
        settable = _settable(class_id, epc)
    if settable and epc < 0xF0:
        return DataClass.CONTROL
    if 0xB0 <= epc < 0xF0 and (class_id >> 8 == 0x00 or class_id in _METERS):
        return DataClass.USAGE  # what a sensor senses, what a meter measures
    return DataClass.OPERATING


@functools.lru_cache(maxsize=4096)
def _settable(class_id: int, epc: int) -> bool:
    """Whether the built-in spec tables let ``epc`` of ``class_id`` be written (False when they do not know it)."""
    prop = builtin_registry().properties(class_id).get(epc)
    return prop is not None and prop.access.set.applicable


def data_classes(registry: Registry) -> dict[tuple[int, int], DataClass]:
    """Every EPC of every class of ``registry`` (the super class's merged in, as the registry shows them) with its
    data class, keyed by (class id, EPC)."""
    result: dict[tuple[int, int], DataClass] = {}
    for cls in registry:
        for epc, prop in registry.properties(cls.class_id).items():
            result[(cls.class_id, epc)] = data_class(cls.class_id, epc, settable=prop.access.set.applicable)
    return result
