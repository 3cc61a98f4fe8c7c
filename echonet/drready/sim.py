"""Simulated DRready devices on the node: a :class:`~echonet.node.DeviceObject` backed by a :class:`~.base.DrModel`.

The node core passes no time to :meth:`DeviceObject.on_set` (its ``now`` is the adapter's monotonic clock, not the
simulated one), so a :class:`SimulatedDevice` keeps a reference to the :class:`~.clock.SimClock` of its world and
asks it whenever it needs the time:

* a peer's Get (or INF_REQ, or the Get half of a SetGet) advances the model to the clock's time, refreshes the stored
  EDTs and feeds the watchdog (any request counts), then answers from the refreshed values;
* a peer's Set goes to ``model.write(epc, edt, clock.now())`` after the node's access and value checks; the model's
  reason to refuse becomes the SNA;
* :meth:`SimulatedDevice.tick` (called on a timer by the host, :class:`~.host.SimHost`) advances the model without
  a request, so that a DR deadline or the watchdog fires on time and changed status properties (the 0x9D map) are
  announced: every refreshed EDT goes through :meth:`DeviceObject.update`, which records the INF.

:func:`simulated_device` builds one from a kind name (``"water_heater"``, ``"hybrid_water_heater"``,
``"battery"``, or a class code such as ``"0x027D"``) and model parameters; :func:`simulated_node` puts devices on a
sans-I/O :class:`~echonet.node.Node` with a node profile of their own, whose identification number (0x83) is
given or derived from the devices and a seed (the bound address and port, for :class:`~.host.SimHost`).
"""

from __future__ import annotations

import hashlib
import inspect
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from ..errors import EchonetUsageError
from ..frame import EOJ, Property
from ..node.config import NodeConfig
from ..node.core import Node
from ..node.device import DeviceObject
from ..node.profile import NodeProfile, identification_number
from ..propmap import PROPERTY_MAP_EPCS
from ..spec.registry import Registry, default_registry
from .base import DrModel, Identity
from .battery import StorageBattery
from .clock import SimClock
from .extensions import with_extensions
from .hybrid import HybridWaterHeater
from .water_heater import ElectricWaterHeater

#: Canonical kind names and their models.
KINDS: dict[str, type[DrModel]] = {
    "water_heater": ElectricWaterHeater,
    "hybrid_water_heater": HybridWaterHeater,
    "battery": StorageBattery,
}

#: Other accepted spellings (lower case, ``-`` read as ``_``): class codes and short names.
ALIASES: dict[str, str] = {
    "0x026b": "water_heater",
    "026b": "water_heater",
    "heater": "water_heater",
    "electric_water_heater": "water_heater",
    "ecocute": "water_heater",
    "0x02a6": "hybrid_water_heater",
    "02a6": "hybrid_water_heater",
    "hybrid": "hybrid_water_heater",
    "0x027d": "battery",
    "027d": "battery",
    "storage_battery": "battery",
}

#: Model constructor arguments that are not simple values (objects built in code, or supplied by the factory).
_NOT_PARAMETERS = frozenset({"self", "start", "identity", "registry", "household", "tank", "heat_pump"})

AnnounceListener = Callable[["SimulatedDevice", tuple[Property, ...]], None]
RefusalListener = Callable[["SimulatedDevice", int, bytes, str], None]


def resolve_kind(kind: str) -> str:
    """The canonical kind name for ``kind`` (a name, an alias or a class code); :class:`EchonetUsageError` if none."""
    key = kind.strip().lower().replace("-", "_")
    key = ALIASES.get(key, key)
    if key not in KINDS:
        names = ", ".join(KINDS)
        raise EchonetUsageError(
            f"unknown device kind {kind!r}: use one of {names} (or a class code 0x026B/0x02A6/0x027D)"
        )
    return key


def kind_of_class(class_id: int) -> str:
    for name, cls in KINDS.items():
        if cls.class_id == class_id:
            return name
    raise EchonetUsageError(f"no simulated device of class 0x{class_id:04X}")


def model_parameters(kind: str) -> dict[str, Any]:
    """The simple (number, bool, pair of numbers) constructor parameters of a kind's model with their defaults."""
    cls = KINDS[resolve_kind(kind)]
    out: dict[str, Any] = {}
    for name, param in inspect.signature(cls.__init__).parameters.items():
        if name in _NOT_PARAMETERS or param.kind not in (param.KEYWORD_ONLY, param.POSITIONAL_OR_KEYWORD):
            continue
        if isinstance(param.default, bool | int | float | tuple):
            out[name] = param.default
    return out


def _coerce(name: str, default: Any, value: Any) -> Any:
    what = f"parameter {name}={value!r}"
    if isinstance(default, bool):
        if isinstance(value, bool):
            return value
        text = str(value).strip().lower()
        if text in ("1", "true", "yes", "on"):
            return True
        if text in ("0", "false", "no", "off"):
            return False
        raise EchonetUsageError(f"{what}: expected true or false")
    if isinstance(default, int):
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        if isinstance(value, float) and value.is_integer():
            return int(value)
        try:
            return int(str(value).strip(), 0)
        except ValueError:
            raise EchonetUsageError(f"{what}: expected a whole number") from None
    if isinstance(default, float):
        if isinstance(value, int | float) and not isinstance(value, bool):
            return float(value)
        try:
            return float(str(value).strip())
        except ValueError:
            raise EchonetUsageError(f"{what}: expected a number") from None
    if isinstance(default, tuple):
        items = value if isinstance(value, list | tuple) else str(value).replace("-", " ").replace("/", " ").split()
        if len(items) != len(default):
            raise EchonetUsageError(f"{what}: expected {len(default)} values (e.g. 9-15)")
        return tuple(_coerce(name, d, v) for d, v in zip(default, items, strict=True))
    return value


def coerce_parameters(kind: str, params: Mapping[str, Any]) -> dict[str, Any]:
    """Model parameters from text or JSON/TOML values, converted to the types of the defaults; unknown names are
    refused with the list of known ones."""
    known = model_parameters(kind)
    out: dict[str, Any] = {}
    for name, value in params.items():
        key = name.strip().replace("-", "_")
        if key not in known:
            raise EchonetUsageError(
                f"{resolve_kind(kind)} has no parameter {name!r}; known: {', '.join(sorted(known))}"
            )
        out[key] = _coerce(key, known[key], value)
    return out


class SimulatedDevice(DeviceObject):
    """A hosted ECHONET object whose values come from a DRready model running on a simulated clock.

    ``resolution`` (simulated seconds): a request closer than this to the last refresh answers from the values
    already stored (a Get of many EPCs refreshes once). ``on_announce`` (attribute) is called with the properties of
    every announcement the node takes from the object (the INFs it sends), ``on_refused`` with every Set refused
    (EPC, EDT, reason).
    """

    __slots__ = ("_synced", "clock", "kind", "model", "on_announce", "on_refused", "resolution")

    def __init__(
        self,
        model: DrModel,
        instance: int = 1,
        *,
        clock: SimClock,
        registry: Registry | None = None,
        resolution: float = 1.0,
    ) -> None:
        defs = model.property_defs()
        readable = set(model.readable_epcs())
        values: dict[int, bytes] = {}
        for epc, definition in defs.items():
            # write-only EPCs (0xD7 / 0xD9 resets) are never read: any placeholder of the right size will do
            values[epc] = model.read(epc) if epc in readable else bytes(definition.type.min_size)
        class_id = model.class_id
        super().__init__(
            EOJ(class_id >> 8, class_id & 0xFF, instance),
            values,
            registry,
            settable=model.settable_epcs(),
            announce=model.announce_epcs(),
            definitions=defs.values(),
            check=False,
        )
        self.model = model
        self.clock = clock
        self.kind = kind_of_class(class_id)
        self.resolution = resolution
        self.on_announce: AnnounceListener | None = None
        self.on_refused: RefusalListener | None = None
        self._synced = model.now
        model.changed_epcs()  # start change tracking from the values stored now

    @property
    def identification(self) -> bytes:
        """0x83 of the object."""
        return self.model.identity.id_number

    # Time -----------------------------------------------------------------------------------------------------

    def tick(self, now: float | None = None) -> list[int]:
        """Advance the model to ``now`` (the clock's time by default) and store what changed; returns the EPCs
        whose stored EDT changed (the announced ones among them go out as INF)."""
        t = self.clock.now() if now is None else now
        self.model.advance_to(t)
        self._synced = t
        return self._refresh()

    def _refresh(self, also: int | None = None) -> list[int]:
        model = self.model
        slots = self.layout.slots
        changed = [epc for epc in model.changed_epcs() if epc in slots]
        if also is not None and also not in changed and also in slots and also in model.readable_epcs():
            changed.append(also)
        out = []
        for epc in changed:
            if self.update(epc, model.read(epc), check=False):
                out.append(epc)
        return out

    def _request_seen(self) -> None:
        t = self.clock.now()
        self.model.touch(t)  # every request feeds the watchdog
        if t - self._synced >= self.resolution or t < self._synced:
            self._synced = t
            self._refresh()

    # Access as the node uses it ---------------------------------------------------------------------------------

    def read(self, epc: int) -> bytes | None:
        if epc not in PROPERTY_MAP_EPCS:
            self._request_seen()
        return super().read(epc)

    def on_set(self, epc: int, edt: bytes) -> str | None:
        return self.model.write(epc, edt, self.clock.now())

    def write(self, epc: int, edt: bytes) -> str | None:
        reason = super().write(epc, edt)
        if reason is not None and self.on_refused is not None:
            self.on_refused(self, epc, bytes(edt), reason)
        self._synced = self.model.now
        # the model may have moved other properties (a mode change turns 0xCF, a DR command 0xF2): store them all,
        # and the Set EPC as the model reads it back
        self._refresh(also=epc if reason is None else None)
        return reason

    def take_announcements(self) -> tuple[Property, ...]:
        props = super().take_announcements()
        listener = self.on_announce
        if props and listener is not None:
            listener(self, props)
        return props

    def __repr__(self) -> str:
        return f"SimulatedDevice({self.eoj}, {self.model!r})"


def simulated_device(
    kind: str,
    instance: int = 1,
    *,
    clock: SimClock,
    registry: Registry | None = None,
    identity: Identity | None = None,
    **params: Any,
) -> SimulatedDevice:
    """A simulated device of ``kind`` (``water_heater``, ``hybrid_water_heater``, ``battery`` or an alias such as
    ``0x027D``) starting at the clock's time; ``params`` go to the model (see :func:`model_parameters`;
    strings are converted)."""
    name = resolve_kind(kind)
    cls = KINDS[name]
    args = coerce_parameters(name, params)
    try:
        model = cls(clock.now(), identity=identity, registry=registry, **args)
    except TypeError as exc:  # pragma: no cover - coerce_parameters filters unknown names first
        raise EchonetUsageError(f"{name}: {exc}") from None
    return SimulatedDevice(model, instance, clock=clock, registry=registry)


def node_identity(devices: Iterable[SimulatedDevice], seed: str = "") -> bytes:
    """13 unique bytes for the node profile's 0x83: ``DRN`` and the first 10 bytes of the SHA-256 of ``seed`` and the
    hosted objects (each one's EOJ and manufacturer code, in order).

    The same devices with the same ``seed`` give the same bytes in every run (the devices' own serial numbers are
    left out: they count up within a process). :class:`~.host.SimHost` passes the endpoints it binds (addresses and
    port as configured), so that two simulated nodes on different addresses are two nodes to a controller, which
    merges what it discovers by 0x83."""
    items = list(devices)
    if not items:
        raise EchonetUsageError("a simulated node needs at least one device")
    digest = hashlib.sha256(b"echonet-da simulated node\0" + seed.encode() + b"\0")
    for device in items:
        digest.update(bytes(device.eoj) + device.model.identity.maker_code)
    return b"DRN" + digest.digest()[:10]


def node_identification(
    devices: Iterable[SimulatedDevice], identification: bytes | None = None, seed: str = ""
) -> bytes:
    """The node profile's 0x83 (17 bytes) for ``devices``: ``identification`` as given (17 bytes: the whole number;
    13 bytes: the unique part, after 0xFE and the first device's manufacturer code), or derived from ``seed`` and
    the devices (:func:`node_identity`)."""
    items = list(devices)
    maker = items[0].model.identity.maker_code if items else b"\xff\xff\xff"
    if identification is None:
        return identification_number(maker, node_identity(items, seed))
    if len(identification) == 17:
        return bytes(identification)
    if len(identification) == 13:
        return identification_number(maker, bytes(identification))
    raise EchonetUsageError(f"an identification number is 17 bytes (or its 13 unique bytes), got {len(identification)}")


def simulated_node(
    devices: Iterable[SimulatedDevice],
    *,
    config: NodeConfig | None = None,
    registry: Registry | None = None,
    identification: bytes | None = None,
    seed: str = "",
) -> Node:
    """A sans-I/O node hosting ``devices``, with a node profile (the first device's manufacturer code, by default
    0xFFFFFF, unregistered) whose identification number 0x83 is ``identification`` (17 bytes, or the 13 unique
    ones) or else derived from ``seed`` and the devices (:func:`node_identity`: stable for the same devices and
    seed, different for another seed)."""
    items = list(devices)
    if not items:
        raise EchonetUsageError("a simulated node needs at least one device")
    reg = registry if registry is not None else default_registry()
    profile = NodeProfile(reg, identification=node_identification(items, identification, seed))
    return Node(items, config=config, registry=reg, profile=profile)


def sim_registry(registry: Registry | None = None) -> Registry:
    """The registry that decodes the simulations' extension EPCs (marked non-standard)."""
    return with_extensions(registry if registry is not None else default_registry())


__all__ = [
    "ALIASES",
    "KINDS",
    "SimulatedDevice",
    "coerce_parameters",
    "kind_of_class",
    "model_parameters",
    "node_identification",
    "node_identity",
    "resolve_kind",
    "sim_registry",
    "simulated_device",
    "simulated_node",
]
