"""Built-in class tables, written for this project (Release R), checked against the MRA by the tests.

Each table has one ``prop(epc, name, key, type, get, set, anno[, since])`` per property: the key is the MRA short
name (the ECHONET Web API name), the rules are M (required), MC (required where the function exists), MO (one of a
group required), O (optional) and NA (not applicable), and ``since`` is the first Appendix release that has the EPC
in that class (A when omitted). Value types refine the MRA where the spec says more than the MRA's raw bytes:
property maps, instance and class lists, ASCII product codes and serial numbers, and the version information (0x82)
and identification number (0x83). The tables are laid out by hand, one property per call, so the formatter leaves
them alone (``# fmt: off``).
"""

from ..model import ClassDef
from .controller import CONTROLLER
from .hybrid_water_heater import HYBRID_WATER_HEATER
from .node_profile import NODE_PROFILE
from .storage_battery import STORAGE_BATTERY
from .superclass import SUPER_CLASS
from .water_heater import ELECTRIC_WATER_HEATER

BUILTIN_CLASSES: tuple[ClassDef, ...] = (
    SUPER_CLASS,
    NODE_PROFILE,
    ELECTRIC_WATER_HEATER,
    STORAGE_BATTERY,
    HYBRID_WATER_HEATER,
    CONTROLLER,
)

__all__ = [
    "BUILTIN_CLASSES",
    "CONTROLLER",
    "ELECTRIC_WATER_HEATER",
    "HYBRID_WATER_HEATER",
    "NODE_PROFILE",
    "STORAGE_BATTERY",
    "SUPER_CLASS",
]
