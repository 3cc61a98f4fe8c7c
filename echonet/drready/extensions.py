"""The DRready extension properties: the one table of the project's manufacturer-specific EPCs (0xF0-0xFF).

Release R of the Appendix has no property for several things the DRready programme asks of water heaters, hybrid
water heaters and storage batteries (DR duration, backup reserve, the boiling plan, the return to the device's own
mode when the controller goes silent, ...). The simulated devices expose them in the manufacturer-specific range,
defined here once, as :class:`~echonet.spec.model.PropertyDef` with ``standard=False`` so that every tool that
shows them marks them non-standard. ``docs/drready-extensions.md`` documents the same table.

A real product would use its manufacturer's own EPCs; a controller must only use these with devices it knows to
be these simulations (identification number, manufacturer code 0xFFFFFF "unregistered").
"""

from __future__ import annotations

from types import MappingProxyType

from ..spec.model import NA, ClassDef, M, O, PropertyDef, Rule, prop
from ..spec.registry import Registry
from ..spec.types import ValueType, array, enum, u8, u16, u32

WATER_HEATER = 0x026B
HYBRID_WATER_HEATER = 0x02A6
STORAGE_BATTERY = 0x027D

# EPCs -------------------------------------------------------------------------------------------------------------

DR_DURATION = 0xF0
DR_REMAINING = 0xF1
DR_STATE = 0xF2
WATCHDOG_TIMEOUT = 0xF3
BACKUP_RESERVE = 0xF4
GRID_STATUS = 0xF5
BOILING_PLAN = 0xF6
NEXT_BOILING_PLAN = 0xF7
DR_AVAILABLE_ENERGY = 0xF8
CUMULATIVE_GAS = 0xF9

#: 0xF2 codes.
DR_INACTIVE, DR_ACTIVE, DR_FALLBACK = 0x00, 0x01, 0x02
#: 0xF5 codes.
GRID_CONNECTED, GRID_POWER_CUT = 0x00, 0x01

#: Longest DR duration: the programme asks for DR commands at most 30 minutes apart.
MAX_DR_MINUTES = 30

# Value types ------------------------------------------------------------------------------------------------------

_DR_MINUTES = u8(0, MAX_DR_MINUTES, "min")
_DR_SECONDS = u16(0, MAX_DR_MINUTES * 60, "s")
_DR_STATE = enum(
    {DR_INACTIVE: "inactive", DR_ACTIVE: "active", DR_FALLBACK: "ownModeAfterTimeout"},
    read_only=frozenset({DR_ACTIVE, DR_FALLBACK}),
)
_WATCHDOG = u16(0, 65533, "s")
_WH = u32(0, 999_999_999, "Wh")
_GRID = enum({GRID_CONNECTED: "connected", GRID_POWER_CUT: "powerCut"})
#: 24 hourly expected energies (Wh), element i for the hour starting at i:00.
_PLAN = array(u16(0, 65533, "Wh"), 2, 24, 24)
_GAS_M3 = u32(0, 999_999_999, "m3", 0.001)

_NS = "non-standard (DRready simulation extension); "


def _x(epc: int, name: str, key: str, type_: ValueType, get: Rule, set_: Rule, anno: Rule, note: str) -> PropertyDef:
    return prop(epc, name, key, type_, get, set_, anno, "R", note=_NS + note, standard=False)


# fmt: off
_COMMON: tuple[PropertyDef, ...] = (
    _x(DR_DURATION, "DR duration", "drDuration", _DR_MINUTES, O, O, NA,
       "minutes a DR command stands without renewal (0: until changed); a DR command or a Set of this EPC "
       "renews it; on expiry the device returns to its pre-DR settings"),
    _x(DR_REMAINING, "DR remaining time", "drRemainingTime", _DR_SECONDS, O, NA, NA,
       "seconds until the running DR ends for want of renewal (0: no DR, or no duration)"),
    _x(DR_STATE, "DR state", "drState", _DR_STATE, O, O, M,
       "inactive / active (a DR command is in force) / ownModeAfterTimeout (the watchdog returned the device to its "
       "own mode); Set inactive (0x00) ends the DR now and restores the pre-DR settings"),
    _x(WATCHDOG_TIMEOUT, "Communication watchdog timeout", "watchdogTimeout", _WATCHDOG, O, O, NA,
       "seconds without any request from a controller after which the device ends any DR and returns to its own "
       "mode (0: off)"),
)

_HEATER: tuple[PropertyDef, ...] = (
    _x(BOILING_PLAN, "Boiling plan (current cycle)", "boilingPlan", _PLAN, O, NA, NA,
       "expected electric energy of the heat pump per hour of the cycle in force, element i = hour i:00"),
    _x(NEXT_BOILING_PLAN, "Boiling plan (next cycle)", "nextBoilingPlan", _PLAN, O, NA, NA,
       "the same for the next cycle, projected with the settings now in force (DR requests included)"),
    _x(DR_AVAILABLE_ENERGY, "DR-available energy", "drAvailableEnergy", _WH, O, NA, NA,
       "electric energy of a day's boiling that the device can move into the daytime DR window"),
)

EXTENSIONS: MappingProxyType[int, tuple[PropertyDef, ...]] = MappingProxyType({
    WATER_HEATER: (*_COMMON, *_HEATER),
    HYBRID_WATER_HEATER: (
        *_COMMON,
        *_HEATER,
        _x(CUMULATIVE_GAS, "Cumulative gas consumption", "cumulativeGasConsumption", _GAS_M3, O, NA, NA,
           "gas burnt by the auxiliary (back-up) heat source since installation"),
    ),
    STORAGE_BATTERY: (
        *_COMMON,
        _x(BACKUP_RESERVE, "Backup reserve energy", "backupReserveEnergy", _WH, O, O, NA,
           "stored energy (Wh, DC) kept for a power cut: never discharged below outside a power cut, in any mode"),
        _x(GRID_STATUS, "Grid status", "gridStatus", _GRID, O, NA, M,
           "connected / powerCut (independent operation; the reserve may be used)"),
    ),
})
# fmt: on

#: The DR-command EPCs of each class: a Set of one starts (or renews) a DR.
DR_COMMANDS: MappingProxyType[int, frozenset[int]] = MappingProxyType(
    {
        WATER_HEATER: frozenset({0xC7, 0xCA, 0xCD}),
        HYBRID_WATER_HEATER: frozenset({0xB8, 0xB9}),
        STORAGE_BATTERY: frozenset({0xDA, 0xC1, 0xC2, 0xAA, 0xAB, 0xEB, 0xEC, 0xED, 0xEE}),
    }
)


def extension_defs(class_id: int) -> tuple[PropertyDef, ...]:
    """The extension properties of one class (empty for classes without any)."""
    return EXTENSIONS.get(class_id, ())


def with_extensions(registry: Registry) -> Registry:
    """A registry whose classes 0x026B, 0x02A6 and 0x027D also define the extension EPCs (marked non-standard).

    Tools decode the simulations' vendor EPCs through it; with the plain registry they stay raw bytes.
    """
    classes: list[ClassDef] = []
    for class_id, extra in EXTENSIONS.items():
        base = registry.get_class(class_id)
        if base is None:
            continue
        props = {**base.properties, **{d.epc: d for d in extra}}
        classes.append(ClassDef.build(base.class_id, base.name, base.key, props.values(), base.since, base.source))
    return registry.with_classes(classes, override=True)
