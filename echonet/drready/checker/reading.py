"""Reading a device through the controller: the node profile, each object's identity, maps and probed EPCs.

Nothing here changes device state unless ``probe_set`` asks for a SetC that writes back the value just read. What a
Get gave is kept per EPC as a :class:`PropertyRead` (the ESV that answered, or why there is no value) in an
:class:`ObjectData`; the judging reads that.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from ...aio import Controller, EchonetTimeoutError, GetResult
from ...errors import ValueDecodeError
from ...frame import EOJ, esv_name
from ...node.config import NODE_PROFILE_EOJ
from ...node.events import Addr
from ...propmap import decode_instance_list, decode_property_map
from ...spec.registry import Registry
from ..extensions import DR_COMMANDS, DR_INACTIVE, DR_STATE, EXTENSIONS
from .report import NodeInfo
from .requirements import CheckKind, probes_of, rules_for

#: Manufacturer code of the project's simulations ("unregistered").
SIMULATION_MAKER = b"\xff\xff\xff"

_IDENTITY_EPCS = (0x82, 0x83, 0x8A, 0x8C, 0x8D, 0x9D, 0x9E, 0x9F)
_PROFILE_EPCS = (0x82, 0x83, 0x8A, 0xD6)


@dataclass(frozen=True)
class PropertyRead:
    """What a Get gave for one EPC."""

    esv: str  #: Get_Res, Get_SNA, "timeout", "no answer"
    edt: bytes | None  #: None when the device gave no value (PDC=0, refused, unanswered)


@dataclass(frozen=True)
class SetProbe:
    """What a SetC writing back the value read gave for one EPC (``probe_set``)."""

    esv: str | None  #: Set_Res, SetC_SNA, SetI_SNA, "timeout"; None when skipped
    detail: str


@dataclass
class ObjectData:
    """Everything read of one object (or of the node profile): per EPC, the read, the decoded maps, the write-backs."""

    eoj: EOJ
    answered: bool = False
    reads: dict[int, PropertyRead] = field(default_factory=dict)
    maps: dict[int, frozenset[int] | None] = field(default_factory=dict)
    sets: dict[int, SetProbe] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def value(self, epc: int) -> bytes | None:
        read = self.reads.get(epc)
        return read.edt if read is not None else None


def _absorb(data: ObjectData, result: GetResult, asked: Iterable[int]) -> None:
    frame = result.frame
    esv = esv_name(frame.esv) if frame is not None and frame.esv is not None else "answer"
    unanswered = set(result.unanswered)
    for epc in asked:
        edt = result.values.get(epc)
        if epc in unanswered:
            data.reads[epc] = PropertyRead("no answer", None)
        elif edt:
            data.reads[epc] = PropertyRead(esv, bytes(edt))
        elif edt is not None:
            data.reads[epc] = PropertyRead(f"{esv} with PDC=0", None)
        else:
            data.reads[epc] = PropertyRead(esv if epc in result.refused else f"{esv} without it", None)


async def _get(
    controller: Controller,
    addr: Addr,
    eoj: EOJ,
    epcs: Sequence[int],
    data: ObjectData,
    timeout: float | None,
    *,
    split: bool = True,
    **options: Any,
) -> bool:
    """Get ``epcs`` into ``data``; False when the object did not answer at all. ``split=False`` asks once (no
    smaller Gets when nothing comes back): for the first, small Get of an object that may not exist."""
    if not epcs:
        return True
    try:
        result = await controller.get(addr, eoj, epcs, timeout=timeout, split=split, **options)
    except EchonetTimeoutError:
        for epc in epcs:
            data.reads.setdefault(epc, PropertyRead("timeout", None))
        return False
    data.answered = True
    _absorb(data, result, epcs)
    return True


def decode_map(data: ObjectData, epc: int) -> None:
    """Decode the property map ``epc`` (0x9D / 0x9E / 0x9F) read into ``data``; a malformed one leniently, noted."""
    edt = data.value(epc)
    if edt is None:
        data.maps[epc] = None
        read = data.reads.get(epc)
        data.problems.append(f"map 0x{epc:02X} not readable ({read.esv if read else 'not asked'})")
        return
    try:
        data.maps[epc] = decode_property_map(edt)
    except ValueDecodeError as exc:
        data.maps[epc] = _lenient_map(edt)
        how = "read as the EPCs it carries" if data.maps[epc] is not None else "unusable"
        data.problems.append(f"map 0x{epc:02X} malformed ({edt.hex()}): {exc}; {how}")


def _lenient_map(edt: bytes) -> frozenset[int] | None:
    """The EPCs a malformed property map still carries: a 17-byte bitmap whatever its count byte says, or the list
    bytes from 0x80 up; ``None`` when neither form fits."""
    if len(edt) == 17 and edt[0] >= 16:
        return frozenset(0x80 + 0x10 * bit + low for low in range(16) for bit in range(8) if edt[low + 1] & (1 << bit))
    if 1 <= len(edt) <= 16 and edt[0] < 16:
        return frozenset(e for e in edt[1:] if e >= 0x80)
    return None


def is_simulation(identification: bytes | None, manufacturer: bytes | None, product_code: bytes | None) -> bool:
    """Whether an object is one of the project's DRready simulations (only these carry the extension EPCs)."""
    if manufacturer != SIMULATION_MAKER:
        return False
    if identification is not None and len(identification) == 17 and identification[4:7] == b"DRR":
        return True
    return product_code is not None and product_code.startswith(b"DRREADY")


async def read_object(
    controller: Controller,
    addr: Addr,
    eoj: EOJ,
    *,
    timeout: float | None,
    probe_set: bool,
    registry: Registry,
    first_retries: int | None = None,
) -> ObjectData:
    """Read one object: 0x82, 0x83, 0x8A, 0x8C, 0x8D and the maps first, then every EPC a requirement names (the
    extension EPCs only on the project's simulations), then the write-backs when ``probe_set``."""
    data = ObjectData(eoj)
    retries = {} if first_retries is None else {"retries": first_retries}
    if not await _get(controller, addr, eoj, _IDENTITY_EPCS, data, timeout, split=False, **retries):
        data.problems.append(f"{eoj} did not answer a Get of 0x82, 0x83, 0x8A, 0x8C, 0x8D and the maps")
        return data
    for epc in (0x9D, 0x9E, 0x9F):
        decode_map(data, epc)
    sim = is_simulation(data.value(0x83), data.value(0x8A), data.value(0x8C))
    wanted: list[int] = []
    for _, rule in rules_for(eoj.class_id):
        for probe in probes_of(rule):
            if probe.profile or probe.epc in data.reads or probe.epc in wanted:
                continue
            if probe.extension and not sim:
                continue
            if probe.kind is CheckKind.ANNOUNCED:
                continue
            wanted.append(probe.epc)
    if sim and DR_STATE not in wanted and any(d.epc == DR_STATE for d in EXTENSIONS.get(eoj.class_id, ())):
        wanted.append(DR_STATE)  # read before any write-back, to end a DR the write-backs may start
    await _get(controller, addr, eoj, sorted(wanted), data, timeout)
    if probe_set:
        await probe_sets(controller, addr, eoj, data, sim, timeout, registry)
    return data


async def probe_sets(
    controller: Controller,
    addr: Addr,
    eoj: EOJ,
    data: ObjectData,
    sim: bool,
    timeout: float | None,
    registry: Registry,
) -> None:
    """SetC of the value just read, one EPC at a time, for every settable probe (state stays as it was read)."""
    epcs: list[int] = []
    for _, rule in rules_for(eoj.class_id):
        for probe in probes_of(rule):
            if probe.kind is CheckKind.SETTABLE and probe.epc not in epcs and (sim or not probe.extension):
                epcs.append(probe.epc)
    for epc in epcs:
        edt = data.value(epc)
        if edt is None:
            data.sets[epc] = SetProbe(None, "write-back skipped: no value was read to write back")
            continue
        definition = registry.property(eoj.class_id, epc)
        reason = definition.type.check(edt) if definition is not None else None
        if reason is not None:
            data.sets[epc] = SetProbe(None, f"write-back skipped: the value read ({edt.hex()}) cannot be set: {reason}")
            continue
        try:
            result = await controller.set(addr, eoj, {epc: edt}, timeout=timeout)
        except EchonetTimeoutError:
            data.sets[epc] = SetProbe("timeout", f"no answer to a SetC of {edt.hex()}")
            continue
        frame = result.frame
        esv = esv_name(frame.esv) if frame is not None and frame.esv is not None else "answer"
        if result.refused:
            data.sets[epc] = SetProbe(esv, f"SetC writing back {edt.hex()} refused ({esv})")
        else:
            data.sets[epc] = SetProbe(esv, f"SetC writing back {edt.hex()} accepted ({esv})")
    if (
        sim
        and data.value(DR_STATE) == bytes((DR_INACTIVE,))
        and any(e in DR_COMMANDS.get(eoj.class_id, ()) for e in epcs)
    ):
        # the simulations take any Set of a DR-command EPC as a DR command: end the DR the write-backs started
        try:
            await controller.set(addr, eoj, {DR_STATE: bytes((DR_INACTIVE,))}, timeout=timeout)
        except EchonetTimeoutError:
            data.notes.append("could not end the DR the write-backs started (no answer to a SetC of 0xF2 = 0x00)")
        else:
            data.notes.append("the write-backs started a DR on the simulation; ended it again with 0xF2 = 0x00")


async def read_profile(controller: Controller, addr: Addr, timeout: float | None) -> tuple[ObjectData, NodeInfo]:
    """Read the node profile's 0x82, 0x83, 0x8A and 0xD6: what was read, and the node as the report shows it."""
    data = ObjectData(NODE_PROFILE_EOJ)
    answered = await _get(controller, addr, NODE_PROFILE_EOJ, _PROFILE_EPCS, data, timeout, split=False)
    if not answered:
        return data, NodeInfo(False, "timeout", problems=("the node profile 0x0EF001 did not answer",))
    problems: list[str] = []
    instances: tuple[EOJ, ...] | None = None
    listing = data.value(0xD6)
    if listing is None:
        problems.append(f"instance list 0xD6 not readable ({data.reads[0xD6].esv})")
    else:
        try:
            instances = tuple(decode_instance_list(listing).eojs)
        except ValueDecodeError as exc:
            problems.append(f"instance list 0xD6 malformed ({listing.hex()}): {exc}")
    for epc, what in ((0x82, "version"), (0x83, "identification number"), (0x8A, "manufacturer code")):
        if data.value(epc) is None:
            problems.append(f"node profile 0x{epc:02X} ({what}) not readable ({data.reads[epc].esv})")
    esvs = sorted({r.esv for r in data.reads.values()})
    return data, NodeInfo(
        True,
        "/".join(esvs),
        data.value(0x82),
        data.value(0x83),
        data.value(0x8A),
        instances,
        tuple(problems),
    )


__all__ = [
    "SIMULATION_MAKER",
    "ObjectData",
    "PropertyRead",
    "SetProbe",
    "decode_map",
    "is_simulation",
    "probe_sets",
    "read_object",
    "read_profile",
]
