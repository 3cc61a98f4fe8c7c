"""What a controller's requests give back: results of Get, Set and SetGet, and the nodes discovery finds."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum

from ..frame import EOJ, ESV, Frame, Property
from ..node.events import Addr, ResponseReceived, answer_values, refused_epcs

_GET_RES = ESV.GET_RES


class WriteOutcome(StrEnum):
    """What became of one EPC of a Set (docs/controller.md)."""

    ACCEPTED = "accepted"  #: Set_Res, or accepted within a SetC_SNA (PDC=0)
    REJECTED = "rejected"  #: refused by the device (SNA, the request's EDT echoed)
    UNANSWERED = "unanswered"  #: no answer at all (and a SetI, whose success is silent)
    APPLIED = "applied"  #: accepted, and read back with the value written (``verify=True``)
    NOT_APPLIED = "not-applied"  #: accepted, but read back with another value: acknowledged but not applied


@dataclass(frozen=True)
class GetResult:
    """Values read from one object; ``refused`` EPCs came back with PDC=0 (a Get_SNA keeps the values it carries),
    ``unanswered`` EPCs of a split Get got no answer at all.

    ``attempts`` (requests sent, retries included), ``latency`` (seconds, the last answer's round trip) and
    ``batch`` (EPCs per Get used) are filled in by :class:`~echonet.aio.field.FieldController`."""

    addr: Addr
    eoj: EOJ
    values: Mapping[int, bytes]
    refused: tuple[int, ...] = ()
    unanswered: tuple[int, ...] = ()
    frame: Frame | None = None
    attempts: int = 1
    latency: float | None = None
    batch: int | None = None

    @property
    def host(self) -> str:
        return str(self.addr[0])

    @property
    def ok(self) -> bool:
        return not self.refused and not self.unanswered

    def __getitem__(self, epc: int) -> bytes:
        return self.values[epc]


@dataclass(frozen=True)
class SetResult:
    """The outcome of a Set: ``refused`` EPCs were rejected by the device. ``confirmed`` is False for a SetI that
    got no answer (its success is silent). ``outcomes``: what became of each EPC (:class:`WriteOutcome`; filled in
    by :class:`~echonet.aio.field.FieldController`, and by :meth:`Controller.set` for what the answer says);
    ``attempts`` and ``latency`` as in :class:`GetResult`."""

    addr: Addr
    eoj: EOJ
    refused: tuple[int, ...] = ()
    confirmed: bool = True
    frame: Frame | None = None
    outcomes: Mapping[int, WriteOutcome] = field(default_factory=dict)
    attempts: int = 1
    latency: float | None = None

    @property
    def ok(self) -> bool:
        """Nothing refused, and (where outcomes are known) nothing unanswered or not applied."""
        if self.refused:
            return False
        return all(o in (WriteOutcome.ACCEPTED, WriteOutcome.APPLIED) for o in self.outcomes.values()) or (
            not self.confirmed and all(o is WriteOutcome.UNANSWERED for o in self.outcomes.values())
        )


def set_outcomes(epcs: Iterable[int], frame: Frame | None) -> dict[int, WriteOutcome]:
    """The outcome of each EPC written, from the answer ``frame`` (``None``: no answer)."""
    if frame is None:
        return dict.fromkeys(epcs, WriteOutcome.UNANSWERED)
    refused = set(refused_epcs(frame))
    answered = {p.epc for p in frame.properties}
    out = {}
    for epc in epcs:
        if epc in refused:
            out[epc] = WriteOutcome.REJECTED
        elif epc in answered or frame.esv == ESV.SET_RES:
            out[epc] = WriteOutcome.ACCEPTED
        else:
            out[epc] = WriteOutcome.UNANSWERED
    return out


@dataclass(frozen=True)
class SetGetResult:
    addr: Addr
    eoj: EOJ
    values: Mapping[int, bytes]
    refused_set: tuple[int, ...] = ()
    refused_get: tuple[int, ...] = ()
    frame: Frame | None = None

    @property
    def ok(self) -> bool:
        return not self.refused_set and not self.refused_get


@dataclass(frozen=True)
class DiscoveredObject:
    """One object of a discovered node with its property maps (``None`` when they could not be read)."""

    eoj: EOJ
    get_map: frozenset[int] | None = None
    set_map: frozenset[int] | None = None
    announce_map: frozenset[int] | None = None
    error: str | None = None


@dataclass(frozen=True)
class DiscoveredNode:
    """A node found by :meth:`Controller.discover`, deduplicated by identification number (0x83) when it has one."""

    address: Addr
    addresses: tuple[str, ...]
    identification: bytes | None
    maker_code: bytes | None
    version: bytes | None
    instances: tuple[EOJ, ...]
    objects: tuple[DiscoveredObject, ...] = field(default=())

    @property
    def host(self) -> str:
        return str(self.address[0])


#: The properties of the last Get_Res turned into a GetResult, and their values (a private copy, copied for each
#: result): the values of a repeated answer are a copy of a small dict instead of a walk over its properties.
_last_values: tuple[tuple[Property, ...], dict[int, bytes]] = ((), {})
_new_object = object.__new__


def full_answer(frame: Frame, addr: Addr, eoj: EOJ | None) -> GetResult:
    """The result of a Get_Res that answers every EPC asked (the common answer, and the only one the node's fast
    lane ends a request with; ``eoj`` is the object that answered)."""
    global _last_values
    props = frame.properties
    last = _last_values
    if last[0] is props:  # the same answer as last time (the fast lane's answer memo shares its properties)
        values = last[1].copy()
    else:
        values = {p.epc: p.edt for p in props}  # (faster than dict() of NamedTuples)
        _last_values = (props, values.copy())
    result: GetResult = _new_object(GetResult)
    # A frozen dataclass's __init__ costs one object.__setattr__ per field: the fields go into its __dict__.
    fields = result.__dict__
    fields["addr"] = addr
    fields["eoj"] = eoj
    fields["values"] = values
    fields["refused"] = fields["unanswered"] = ()
    fields["frame"] = frame
    fields["attempts"] = 1
    fields["latency"] = fields["batch"] = None
    return result


def get_result(event: ResponseReceived, eoj: EOJ) -> GetResult:
    """The result of the answer that ended a Get or an INF_REQ to ``eoj``."""
    frame = event.frame
    if frame.esv == _GET_RES and not event.unanswered:  # the common answer (Get_Res, nothing unanswered): every value
        return full_answer(frame, event.addr, frame.seoj or eoj)
    return GetResult(
        event.addr,
        frame.seoj or eoj,
        answer_values(frame),
        refused_epcs(frame),
        event.unanswered,
        frame,
    )


def sna_split(frame: Frame) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """The Set and Get EPCs a SetGet_SNA refused."""
    if frame.esv != ESV.SETGET_SNA:
        return (), ()
    return (
        tuple(p.epc for p in frame.properties if p.edt),
        tuple(p.epc for p in frame.get_properties if not p.edt),
    )


def bitmap_epcs(edt: bytes) -> frozenset[int] | None:
    """The EPCs of a 17-byte property-map bitmap whatever its count byte says (uecho always writes 16), or None
    when ``edt`` is not a bitmap."""
    if len(edt) != 17 or edt[0] < 16:
        return None
    return frozenset(0x80 + 0x10 * bit + low for low in range(16) for bit in range(8) if edt[low + 1] & (1 << bit))


def properties_of(props: Mapping[int, bytes] | Iterable[Property | tuple[int, bytes]]) -> list[Property]:
    """Properties to write, from a mapping EPC -> EDT or from pairs."""
    items = props.items() if isinstance(props, Mapping) else props
    return [Property(epc, bytes(edt)) for epc, edt in items]


__all__ = [
    "DiscoveredNode",
    "DiscoveredObject",
    "GetResult",
    "SetGetResult",
    "SetResult",
    "WriteOutcome",
    "bitmap_epcs",
    "full_answer",
    "get_result",
    "properties_of",
    "set_outcomes",
    "sna_split",
]
