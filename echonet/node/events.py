"""Events a :class:`~echonet.node.Node` reports: answers, timeouts, notifications, Sets by peers, dropped datagrams.

Events are ``NamedTuple`` subclasses (they are built on the hot path) with a ``kind`` (:class:`EventKind`) so that
callers can dispatch with ``match``/``isinstance`` or on the kind.
"""

from __future__ import annotations

from enum import IntEnum
from typing import Any, NamedTuple

from ..frame import EOJ, ESV, Frame, Property

#: A socket address as the event loop gives it: ``(host, port)`` or ``(host, port, flowinfo, scope_id)``.
Addr = tuple[Any, ...]


class EventKind(IntEnum):
    RESPONSE = 1  #: an answer to one of our requests
    FINISHED = 2  #: the collection window of a fan-out request (instance 0x00, multicast, SetI) closed
    TIMEOUT = 3  #: a request got no answer at all, retries included
    NOTIFICATION = 4  #: INF / INFC received (not an answer to one of our INF_REQ)
    PROPERTY_SET = 5  #: a peer set a property of one of our objects
    DROPPED = 6  #: a datagram we could not use (malformed, not ECHONET Lite, unexpected)
    TRAILING_BYTES = 7  #: a frame taken although bytes followed its last property (see NodeConfig.strict)


_SNA_SET = frozenset({ESV.SETI_SNA, ESV.SETC_SNA})
_SNA_GET = frozenset({ESV.GET_SNA, ESV.INF_SNA})


def refused_epcs(frame: Frame) -> tuple[int, ...]:
    """The EPCs an SNA answer refused: Set parts keep their EDT (PDC != 0), Get parts carry PDC = 0."""
    esv = frame.esv
    if esv in _SNA_SET:
        return tuple(p.epc for p in frame.properties if p.edt)
    if esv in _SNA_GET:
        return tuple(p.epc for p in frame.properties if not p.edt)
    if esv == ESV.SETGET_SNA:
        return tuple(p.epc for p in frame.properties if p.edt) + tuple(p.epc for p in frame.get_properties if not p.edt)
    return ()


def answer_values(frame: Frame) -> dict[int, bytes]:
    """The property values an answer carries (a Get_SNA's readable values included; PDC=0 entries of SNAs left out)."""
    esv = frame.esv
    if esv is not None and 0x50 <= esv <= 0x5F:
        props = frame.get_properties if esv == ESV.SETGET_SNA else frame.properties
        if esv in _SNA_SET:
            return {}
        return {p.epc: p.edt for p in props if p.edt}
    if esv == ESV.SETGET_RES:
        return {p.epc: p.edt for p in frame.get_properties}
    if esv in (ESV.SET_RES, ESV.INFC_RES):
        return {}
    return {p.epc: p.edt for p in frame.properties}


class ResponseReceived(NamedTuple):
    """An answer to request ``handle`` from ``addr``.

    ``final`` is True when no more events follow for this handle (a unicast request to one instance); answers to a
    fan-out request (instance 0x00 or a multicast address) come with ``final=False`` and the handle ends with
    :class:`RequestFinished`. When a Get was split, ``frame`` is the merged answer (a Get_Res, or a Get_SNA if any
    EPC was refused) and ``unanswered`` lists EPCs no piece got an answer for (the answer is then partial).
    """

    handle: int
    frame: Frame
    addr: Addr
    final: bool = True
    unanswered: tuple[int, ...] = ()

    @property
    def kind(self) -> EventKind:
        return EventKind.RESPONSE

    @property
    def complete(self) -> bool:
        """True unless some EPCs of a split Get never got an answer."""
        return not self.unanswered

    @property
    def ok(self) -> bool:
        """A success answer (not an SNA) covering everything asked."""
        esv = self.frame.esv
        return esv is not None and not 0x50 <= esv <= 0x5F and not self.unanswered

    @property
    def refused(self) -> tuple[int, ...]:
        return refused_epcs(self.frame)

    @property
    def values(self) -> dict[int, bytes]:
        return answer_values(self.frame)


class RequestFinished(NamedTuple):
    """The collection window of fan-out request ``handle`` closed after ``answers`` answers (at least one, or none
    for a SetI, whose success is silent)."""

    handle: int
    answers: int

    @property
    def kind(self) -> EventKind:
        return EventKind.FINISHED


class RequestTimedOut(NamedTuple):
    """Request ``handle`` to ``addr`` got no answer in ``attempts`` attempts."""

    handle: int
    addr: Addr
    deoj: EOJ
    esv: int
    attempts: int

    @property
    def kind(self) -> EventKind:
        return EventKind.TIMEOUT


class NotificationReceived(NamedTuple):
    """An INF or INFC from ``addr`` (INF answers to our own INF_REQ come as :class:`ResponseReceived`)."""

    frame: Frame
    addr: Addr

    @property
    def kind(self) -> EventKind:
        return EventKind.NOTIFICATION

    @property
    def seoj(self) -> EOJ | None:
        return self.frame.seoj

    @property
    def properties(self) -> tuple[Property, ...]:
        return self.frame.properties


class PropertySet(NamedTuple):
    """A peer at ``addr`` set ``epc`` of our object ``eoj`` to ``edt`` (the object accepted it)."""

    eoj: EOJ
    epc: int
    edt: bytes
    addr: Addr

    @property
    def kind(self) -> EventKind:
        return EventKind.PROPERTY_SET


class Dropped(NamedTuple):
    """A datagram of ``size`` bytes from ``addr`` that the node could not use, and why."""

    addr: Addr
    reason: str
    size: int

    @property
    def kind(self) -> EventKind:
        return EventKind.DROPPED


class TrailingBytes(NamedTuple):
    """A frame from ``addr`` was taken although ``extra`` bytes followed its last property (devices that pad their
    frames; several stacks accept them, so a strict node would find such a device dead). ``frame`` is what came
    before them; :attr:`NodeConfig.strict <echonet.node.config.NodeConfig.strict>` drops such datagrams instead."""

    frame: Frame
    addr: Addr
    extra: bytes

    @property
    def kind(self) -> EventKind:
        return EventKind.TRAILING_BYTES


Event = (
    ResponseReceived | RequestFinished | RequestTimedOut | NotificationReceived | PropertySet | Dropped | TrailingBytes
)
