"""DRready device models: simulated heat-pump water heater (0x026B), hybrid water heater (0x02A6) and storage
battery (0x027D) that take demand-response commands the way the DRready programme asks.

The models are pure simulations (no sockets, no event loop; time is injected, see :mod:`.clock`). Each exposes
``class_id``, ``property_defs()``, ``read(epc)``, ``write(epc, edt, now)``, ``advance_to(now)``, ``touch(now)`` and
``changed_epcs()`` for binding to the node's device objects, plus typed accessors for tests. The DR behaviour that
Release R has no property for lives in manufacturer-specific EPCs, one table in :mod:`.extensions`
(``docs/drready-extensions.md``), all marked non-standard.

:mod:`.sim` binds a model to the node (:class:`SimulatedDevice`, :func:`simulated_device`), :mod:`.host` serves
simulated devices over UDP and ticks them, :mod:`.demo` runs the DR day of ``echonet demo``.
"""

from .base import DrModel, EnergyCounters, Identity, encode_value
from .battery import StorageBattery
from .clock import DAY, HOUR, MINUTE, SimClock, sim_time, wall_time
from .extensions import DR_COMMANDS, EXTENSIONS, extension_defs, with_extensions
from .hybrid import HybridWaterHeater
from .profiles import Household
from .sim import KINDS, SimulatedDevice, simulated_device, simulated_node
from .water_heater import ElectricWaterHeater, HeatPumpSpec, TankSpec

__all__ = [
    "DAY",
    "DR_COMMANDS",
    "EXTENSIONS",
    "HOUR",
    "KINDS",
    "MINUTE",
    "DrModel",
    "ElectricWaterHeater",
    "EnergyCounters",
    "HeatPumpSpec",
    "Household",
    "HybridWaterHeater",
    "Identity",
    "SimClock",
    "SimulatedDevice",
    "StorageBattery",
    "TankSpec",
    "encode_value",
    "extension_defs",
    "sim_time",
    "simulated_device",
    "simulated_node",
    "wall_time",
    "with_extensions",
]
