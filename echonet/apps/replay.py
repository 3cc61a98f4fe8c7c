"""A node rebuilt from a capture: ``echonet serve --replay CAPTURE.pcap --host IP``.

:func:`replay_node` reads every ECHONET Lite datagram to and from ``IP`` in a pcap / pcapng capture and rebuilds the
node that address was: the objects that answered (and those its instance list names), for each object the last
value it gave for every EPC (the property maps and the node profile's lists as they were on the wire, malformed ones
included), the EPCs it refused (Get_SNA with PDC 0 reads as refused again), the Sets it accepted and refused, and
the services it never answered (a request of that ESV to that object stays unanswered). Everything else is the
project's node: the same header handling, SNAs, instance 0x00 and timing. So a controller can be tested against a
device the tester does not own.

What a capture cannot show stays out: a value the device was never asked for reads as refused, and a Set of a
value never seen is accepted only when the device accepted a Set of that EPC before and the value fits the
definition in the tables.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..codec import decode
from ..errors import EchonetUsageError, FrameDecodeError
from ..frame import EOJ, ESV, Frame
from ..node.config import NODE_PROFILE_EOJ, NodeConfig
from ..node.core import FAST_DONE, Node, host_key
from ..node.device import DeviceObject
from ..node.events import Addr
from ..node.profile import NodeProfile
from ..pcap import iter_datagrams
from ..propmap import PROPERTY_MAP_EPCS, decode_instance_list, decode_property_map
from ..spec.model import Access, PropertyDef, Rule
from ..spec.registry import Registry, default_registry
from ..spec.types import Raw

_ANY = Access(Rule.OPTIONAL, Rule.OPTIONAL, Rule.OPTIONAL)
_READS = frozenset({ESV.GET_RES, ESV.GET_SNA, ESV.INF, ESV.INF_SNA, ESV.INFC, ESV.SETGET_RES, ESV.SETGET_SNA})


@dataclass
class Captured:
    """What a capture showed of one object."""

    eoj: EOJ
    values: dict[int, bytes] = field(default_factory=dict)
    refused_reads: set[int] = field(default_factory=set)
    accepted: dict[int, set[bytes]] = field(default_factory=dict)  #: EPC -> EDTs a Set of which was accepted
    refused: dict[int, set[bytes]] = field(default_factory=dict)  #: EPC -> EDTs a Set of which was refused
    asked: set[int] = field(default_factory=set)  #: request ESVs sent to it
    answered: set[int] = field(default_factory=set)  #: request ESVs it answered

    @property
    def silent_to(self) -> frozenset[int]:
        """The request ESVs it was sent and never answered."""
        return frozenset(self.asked - self.answered)


def _raw_definition(epc: int) -> PropertyDef:
    return PropertyDef(epc, f"replayed 0x{epc:02X}", f"replayed{epc:02X}", Raw(0, 255), _ANY, standard=epc < 0xF0)


class ReplayObject(DeviceObject):
    """An object answering what the captured one answered (see the module's documentation)."""

    def __init__(self, captured: Captured, registry: Registry) -> None:
        stored = {e: v for e, v in captured.values.items() if e not in PROPERTY_MAP_EPCS}
        implemented = set(stored) | set(captured.accepted) | set(captured.refused)
        for epc in implemented - set(stored):
            stored[epc] = b""  # written-only EPCs: nothing was ever read of them
        announce = _map(captured.values.get(0x9D))
        super().__init__(
            captured.eoj,
            stored,
            registry,
            announce=(announce or frozenset()) & set(stored),
            definitions=[_raw_definition(e) for e in stored],
            check=False,
        )
        self.captured = captured
        self.registry = registry

    def read(self, epc: int) -> bytes | None:
        if epc in PROPERTY_MAP_EPCS:
            return self.captured.values.get(epc)
        if epc in self.captured.refused_reads and epc not in self.captured.values:
            return None
        value = self.value(epc)
        return value if value else None

    def write(self, epc: int, edt: bytes) -> str | None:
        captured = self.captured
        edt = bytes(edt)
        if edt in captured.refused.get(epc, ()):
            return "refused in the capture"
        if edt not in captured.accepted.get(epc, ()):
            if epc not in captured.accepted:
                return "no Set of it was accepted in the capture"
            definition = self.registry.property(self.eoj.class_id, epc)
            reason = definition.check_set(edt) if definition is not None else None
            if reason is not None:
                return reason
        self.update(epc, edt, check=False)
        return None


class ReplayProfile(NodeProfile):
    """The node profile as captured: every EPC it gave reads as it was (0x83, the lists, the maps)."""

    def __init__(self, captured: Captured, registry: Registry) -> None:
        ident = captured.values.get(0x83)
        super().__init__(registry, identification=ident if ident is not None and len(ident) == 17 else None)
        self.captured = captured

    def read(self, epc: int) -> bytes | None:
        if epc in self.captured.values:
            return self.captured.values[epc]
        if epc in self.captured.refused_reads:
            return None
        return super().read(epc)


class ReplayNode(Node):
    """The project's node, but silent where the captured node was: requests of an ESV an object never answered."""

    def __init__(self, objects: Iterable[DeviceObject], silences: dict[EOJ, frozenset[int]], **kwargs: Any) -> None:
        super().__init__(objects, **kwargs)
        self.silences = silences

    def silenced(self, data: bytes) -> bool:
        """Whether the captured node left a request like this one unanswered."""
        if len(data) < 12 or data[:2] != b"\x10\x81":
            return False
        deoj = EOJ(data[7], data[8], data[9])
        targets = [deoj] if deoj.instance else [e for e in self.silences if e.class_id == deoj.class_id]
        return bool(targets) and all(data[10] in self.silences.get(e, ()) for e in targets)

    def receive_datagram(self, data: bytes, addr: Addr, now: float) -> None:
        if self.silenced(bytes(data)):
            return
        super().receive_datagram(data, addr, now)

    def fast_receiver(
        self, answered: Callable[[int, Frame, Addr], None], send: Callable[[bytes, Addr], Any]
    ) -> Callable[[bytes, Addr, float], int]:
        inner = super().fast_receiver(answered, send)

        def receive(data: bytes, addr: Addr, now: float) -> int:
            return FAST_DONE if self.silenced(bytes(data)) else inner(data, addr, now)

        return receive


@dataclass
class Rebuilt:
    """The node rebuilt from a capture, and what to tell the user about it."""

    node: ReplayNode
    captured: dict[EOJ, Captured]
    notes: list[str]


def _map(edt: bytes | None) -> frozenset[int] | None:
    if not edt:
        return None
    try:
        return decode_property_map(edt)
    except Exception:  # a malformed map on the wire: replayed as it was, without announcements
        return None


def _frame(data: bytes) -> Frame | None:
    try:
        return decode(data)
    except FrameDecodeError as exc:
        if exc.field == "trailing":
            try:
                return decode(data[: exc.offset])
            except FrameDecodeError:
                return None
        return None


def capture_of(path: str | Path, host: str) -> dict[EOJ, Captured]:
    """What the capture shows of every object of the node at ``host``."""
    key = host_key(host)
    objects: dict[EOJ, Captured] = {}
    requests: dict[tuple[str, int], Frame] = {}

    def of(eoj: EOJ) -> Captured:
        found = objects.get(eoj)
        if found is None:
            found = objects[eoj] = Captured(eoj)
        return found

    for datagram in iter_datagrams(str(path), ports=None):
        frame = _frame(datagram.payload)
        if frame is None or frame.ehd2 != 0x81 or frame.esv is None:
            continue
        to_host = host_key(datagram.dst) == key
        if to_host and (0x60 <= frame.esv <= 0x6F or frame.esv == ESV.INFC):
            requests[(host_key(datagram.src), frame.tid)] = frame
            if frame.deoj is not None and frame.deoj.instance:
                of(frame.deoj).asked.add(int(frame.esv))
            continue
        if host_key(datagram.src) != key or frame.seoj is None:
            continue
        obj = of(frame.seoj)
        request = requests.get((host_key(datagram.dst), frame.tid))
        if request is not None and request.esv is not None:
            obj.answered.add(int(request.esv))
            if request.deoj is not None and not request.deoj.instance:
                of(frame.seoj).asked.add(int(request.esv))
        if frame.esv in _READS:
            half = frame.get_properties if frame.esv in (ESV.SETGET_RES, ESV.SETGET_SNA) else frame.properties
            for prop in half:
                if prop.edt:
                    obj.values[prop.epc] = prop.edt
                elif frame.esv in (ESV.GET_SNA, ESV.INF_SNA, ESV.SETGET_SNA):
                    obj.refused_reads.add(prop.epc)
        if request is not None and frame.esv in (
            ESV.SET_RES,
            ESV.SETC_SNA,
            ESV.SETI_SNA,
            ESV.SETGET_RES,
            ESV.SETGET_SNA,
        ):
            asked = {p.epc: p.edt for p in request.properties}
            for prop in frame.properties:
                if prop.epc not in asked:
                    continue
                target = obj.accepted if not prop.edt else obj.refused
                target.setdefault(prop.epc, set()).add(asked[prop.epc])
    return objects


def replay_node(
    path: str | Path, host: str, *, registry: Registry | None = None, config: NodeConfig | None = None
) -> Rebuilt:
    """The node ``host`` was in the capture at ``path``, ready to serve (:class:`~echonet.aio.DeviceServer`)."""
    reg = registry if registry is not None else default_registry()
    captured = capture_of(path, host)
    profile_data = captured.pop(NODE_PROFILE_EOJ, None)
    if profile_data is None or not profile_data.values:
        if not any(c.values for c in captured.values()):
            raise EchonetUsageError(f"{path}: no ECHONET Lite answer from {host} in the capture")
        profile_data = Captured(NODE_PROFILE_EOJ)
    notes = []
    listed: tuple[EOJ, ...] = ()
    if profile_data.values.get(0xD6):
        try:
            listed = decode_instance_list(profile_data.values[0xD6]).eojs
        except Exception:  # a malformed list is replayed as it was
            listed = ()
    objects: list[DeviceObject] = []
    silences: dict[EOJ, frozenset[int]] = {}
    for eoj, data in sorted(captured.items()):
        if eoj.is_node_profile or not 0x01 <= eoj.instance <= 0x7F:
            continue
        if not data.values and not data.answered:
            if eoj in listed:
                notes.append(f"{eoj} is listed but never answered in the capture: it stays silent")
            continue
        objects.append(ReplayObject(data, reg))
        silences[eoj] = data.silent_to
    for eoj in listed:
        if eoj not in captured:
            notes.append(f"{eoj} is listed but the capture has nothing of it: it stays silent")
    silences[NODE_PROFILE_EOJ] = profile_data.silent_to
    profile = ReplayProfile(profile_data, reg)
    node = ReplayNode(objects, silences, config=config, registry=reg, profile=profile)
    notes.insert(0, f"rebuilt {host} from {path}: {len(objects)} object(s) besides the node profile")
    captured[NODE_PROFILE_EOJ] = profile_data
    return Rebuilt(node, captured, notes)


__all__ = ["Captured", "Rebuilt", "ReplayNode", "ReplayObject", "ReplayProfile", "capture_of", "replay_node"]
