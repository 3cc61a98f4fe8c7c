"""The sans-I/O node: bytes and ``now`` in; datagrams, events and the next deadline out.

One :class:`Node` is both sides of ECHONET Lite:

* device side: it hosts :class:`~echonet.node.device.DeviceObject` instances plus its node profile (0x0EF001) and
  answers every request as ECHONET Lite Part 2 chapter 4 says (answers keep the TID, swap SEOJ/DEOJ and go to the
  request's source address and port, or to port 3610 with ``reply_to_3610``); requests to missing objects are
  dropped silently; instance 0x00 addresses every instance of the class, each answering separately; a start-up INF of
  0xD5 and INF of status-change properties when they change are sent by multicast.
* controller side: :meth:`Node.request` sends a request with a fresh TID and returns a handle; answers are matched on
  (peer IP, TID, EOJ), never on the source port; timeouts and retries run on :meth:`Node.handle_timer`; an optional
  one-request-in-flight-per-device queue; Gets that a device answers only in part (or not at all) are split.

Nothing here touches sockets, the event loop or the clock: the adapter (:mod:`echonet.aio`) feeds datagrams with
:meth:`Node.receive_datagram`, sends :meth:`Node.datagrams_to_send`, calls :meth:`Node.handle_timer` at
:meth:`Node.get_timer` and reads :meth:`Node.next_event`. ``receive_datagram`` never raises: whatever cannot be used
becomes a :class:`~echonet.node.events.Dropped` event.

The fast lane (``Node.fast_lane``, on by default) shortcuts the common cases with the same outcome: a unicast Get /
INF_REQ to one object that needs no splitting or queueing is validated once and later sent from a template with only
its TID patched in (:meth:`Node.start_fast` hands the bytes to an adapter directly; the request is one small record
until its deadline or an unexpected answer turns it into the general path's request), its expected answer is
recognised by one lookup before any other processing (:meth:`Node.receive_answer` returns the final event directly,
:meth:`Node.take_answer` its handle and frame), and a device answers a repeated Get with its precomputed Get_Res
(:meth:`Node.answer_repeat`). Each returns ``None`` when the input does not fit, having done nothing;
``fast_lane = False`` sends everything through the general path, which ``tests/node/test_fast_lane.py`` checks it
against.
"""

from __future__ import annotations

import heapq
import ipaddress
import struct
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, cast

from ..codec import decode, encode
from ..constants import EHD1_ECHONET_LITE
from ..errors import EchonetUsageError, FrameDecodeError
from ..frame import AFTER_TID, EHD2, EOJ, ESV, Frame, Property, unchecked
from ..spec.registry import Registry, default_registry
from .config import NODE_PROFILE_EOJ, NodeConfig
from .device import DeviceObject
from .events import (
    Addr,
    Dropped,
    Event,
    NotificationReceived,
    PropertySet,
    RequestFinished,
    RequestTimedOut,
    ResponseReceived,
    TrailingBytes,
)
from .limits import InputBudget
from .profile import INSTANCE_LIST_NOTIFICATION, NodeProfile

_EMPTY = b""
_GET, _INF_REQ, _SETC, _SETI, _SETGET, _INF, _INFC = (
    ESV.GET,
    ESV.INF_REQ,
    ESV.SETC,
    ESV.SETI,
    ESV.SETGET,
    ESV.INF,
    ESV.INFC,
)
_REQUEST_ESVS = frozenset({ESV.SETI, ESV.SETC, ESV.GET, ESV.INF_REQ, ESV.SETGET, ESV.INFC})
#: Answers (success and SNA) mapped to the request they answer.
_ANSWER_OF: dict[int, int] = {
    int(a): int(a.request) for a in ESV if a.request is not None and (a.is_sna or a.is_response or a is ESV.INF)
}
_MAX_ALIVE = 4096
_SPECIFIED_HEAD = b"\x10\x81"
#: The longest Get / INF_REQ without EDTs (255 EPCs): only datagrams up to this long get a precomputed answer, so
#: that a longer one is never sliced nor hashed to look for one.
_MAX_READ_DATAGRAM = 12 + 2 * 255
#: Datagrams up to this long (one Ethernet frame's UDP payload) are remembered decoded; longer ones are decoded
#: every time rather than hashed (and kept) at every arrival.
_MAX_MEMO_DATAGRAM = 1472
_new = unchecked
_new_instance = object.__new__
_SPECIFIED = EHD2.SPECIFIED


def _frame(
    tid: int, seoj: EOJ, deoj: EOJ, esv: int, props: tuple[Property, ...], get_props: tuple[Property, ...] = ()
) -> Frame:
    """``Frame.make`` without its conversions, for values already of the right types."""
    return _new(Frame, (EHD1_ECHONET_LITE, _SPECIFIED, tid, seoj, deoj, esv, props, get_props, None))


_NO_TEMPLATES: dict[tuple[Any, ...], Any] = {}
_NO_LAST: tuple[Any, ...] = (object(),) * 8  # (its first item is no host)

#: Answer to a Get (True) or INF_REQ (False), success (True) or not (False).
_READ_ANSWER = {True: {True: ESV.GET_RES, False: ESV.GET_SNA}, False: {True: ESV.INF, False: ESV.INF_SNA}}


@lru_cache(maxsize=1024)
def host_key(host: str) -> str:
    """The peer identity used for matching: the IP without IPv6 scope, IPv4-mapped IPv6 as IPv4, lower case."""
    text = str(host).split("%", 1)[0].lower()
    if text.startswith("::ffff:") and "." in text:
        return text[7:]
    return text


@lru_cache(maxsize=256)
def is_multicast(host: str) -> bool:
    try:
        return ipaddress.ip_address(str(host).split("%", 1)[0]).is_multicast
    except ValueError:
        return False


@dataclass
class NodeStats:
    """Counters of a node (mutable, for monitoring)."""

    received: int = 0
    sent: int = 0
    dropped: int = 0
    answered: int = 0
    to_missing_object: int = 0
    events_lost: int = 0
    internal_errors: int = 0
    timeouts: int = 0
    retries: int = 0
    splits: int = 0
    trailing: int = 0
    rate_limited: int = 0  #: datagrams dropped unread because their source, or all sources, were over budget
    oversized: int = 0  #: datagrams dropped unread for being longer than ``NodeConfig.max_datagram``


class _Request:
    """A request of ours, from :meth:`Node.request` until its final event."""

    __slots__ = (
        "addr",
        "answers",
        "asked",
        "deoj",
        "done",
        "esv",
        "fanout",
        "first_tid",
        "handle",
        "host",
        "merge",
        "multicast",
        "open_wires",
        "retries",
        "seoj",
        "split",
        "timeout",
    )

    def __init__(
        self,
        handle: int,
        addr: Addr,
        deoj: EOJ,
        esv: int,
        seoj: EOJ,
        timeout: float,
        retries: int,
        fanout: bool,
        multicast: bool,
        split: bool,
    ) -> None:
        self.handle = handle
        self.addr = addr
        self.host = host_key(addr[0])
        self.deoj = deoj
        self.esv = esv
        self.seoj = seoj
        self.timeout = timeout
        self.retries = retries
        self.fanout = fanout
        self.multicast = multicast
        self.split = split
        self.merge: _Merge | None = None
        self.done = False
        self.answers = 0
        self.open_wires = 0
        self.first_tid = -1
        self.asked: tuple[Property, ...] = ()

    def merging(self) -> _Merge:
        """Start (or continue) assembling a Get answered in pieces."""
        if self.merge is None:
            self.merge = _Merge(self.addr, self.deoj)
        return self.merge


class _Merge:
    """The pieces of a split Get collected so far."""

    __slots__ = ("heard", "last_addr", "last_seoj", "refused", "unanswered", "values")

    def __init__(self, addr: Addr, deoj: EOJ) -> None:
        self.heard = False  #: some piece got an answer
        self.values: dict[int, bytes] = {}
        self.refused: set[int] = set()
        self.unanswered: list[int] = []
        self.last_addr: Addr = addr
        self.last_seoj: EOJ = deoj


class _Wire:
    """One frame of a request on the wire (a request split into pieces has several), with its own TID."""

    __slots__ = ("active", "attempts", "data", "deadline", "get_props", "props", "request", "tid")

    def __init__(self, request: _Request, props: tuple[Property, ...], get_props: tuple[Property, ...] = ()) -> None:
        self.request = request
        self.props = props
        self.get_props = get_props
        self.tid = -1
        self.data = _EMPTY
        self.attempts = 0
        self.deadline = 0.0
        self.active = True


class _FastTemplate:
    """A fast-lane request validated once: what every request of the same key shares (see :meth:`Node.start_fast`).

    ``answers`` remembers the answers already recognised as the awaited one (bytes after the TID -> the frame's
    fields after its TID): a repeated answer is recognised by one lookup."""

    __slots__ = (
        "addr",
        "answers",
        "deoj",
        "epcs",
        "esv",
        "fifo",
        "host",
        "one_in_flight",
        "pack",
        "props",
        "retries",
        "seoj",
        "split",
        "success",
        "tail",
        "timeout",
    )

    def __init__(
        self,
        addr: Addr,
        deoj: EOJ,
        esv: int,
        seoj: EOJ,
        timeout: float,
        retries: int,
        split: bool,
        one_in_flight: bool,
        epcs: bytes,
        props: tuple[Property, ...],
        tail: bytes,
    ) -> None:
        self.addr = addr
        self.host = host_key(addr[0])
        self.deoj = deoj
        self.esv = esv
        self.success = _SUCCESS_OF[esv]
        self.seoj = seoj
        self.timeout = timeout
        self.retries = retries
        self.split = split
        self.one_in_flight = one_in_flight
        self.epcs = epcs
        self.props = props
        self.tail = tail  # the datagram is one struct.pack of EHD, the TID and this tail
        self.pack = struct.Struct(f">HH{len(tail)}s").pack
        self.answers: dict[bytes, tuple[Any, ...]] = {}
        #: The node's deadline FIFO for ``timeout`` (``None``: the heap).
        self.fifo: deque[tuple[float, int, _Wire | _Fast]] | None = None


class _Fast:
    """A fast-lane request on the wire: one frame, one answer awaited (a :class:`_Request` and its only
    :class:`_Wire` in one record). Its deadline, or an answer that the fast lane does not take, first turns it into
    the pair (:meth:`Node._promote`); a cancel just ends it."""

    __slots__ = ("active", "data", "deadline", "handle", "template", "tid")

    active: bool
    data: bytes
    deadline: float
    handle: int
    template: _FastTemplate
    tid: int
    # What the general path's answer matching reads of a request (see Node._on_answer):
    multicast = False

    @property
    def host(self) -> str:
        return self.template.host

    @property
    def deoj(self) -> EOJ:
        return self.template.deoj

    @property
    def esv(self) -> int:
        return self.template.esv


class Node:
    """An ECHONET Lite node (device side and controller side), without I/O.

    ``objects`` are the device objects to host (more can be added with :meth:`add`); the node profile is built from
    them unless ``profile`` is given. ``registry`` defaults to :func:`~echonet.spec.registry.default_registry`.
    ``wakeup`` (settable attribute) is called when the node gets something to send outside
    :meth:`receive_datagram` / :meth:`handle_timer` (a model updated an announced value), so that an adapter can
    flush :meth:`datagrams_to_send`.

    ``fast_lane`` (settable attribute, ``True`` by default): see :meth:`start_fast`, :meth:`receive_answer` and
    :meth:`answer_repeat`; ``False`` sends every request and answer through the general path (the reference the fast
    lane is tested against).
    """

    # Slots: smaller nodes, and attribute reads that stay fast however many attributes there are (an instance
    # dictionary stops sharing its keys beyond 30 of them).
    __slots__ = (
        "_alive",
        "_answers",
        "_budget",
        "_budget_config",
        "_by_class",
        "_decoded",
        "_dirty",
        "_events",
        "_fifos",
        "_handles",
        "_inflight",
        "_last_fast",
        "_limits",
        "_max_answers",
        "_max_decoded",
        "_max_fifos",
        "_objects",
        "_out",
        "_pending",
        "_queues",
        "_requests",
        "_send_later",
        "_started",
        "_templates",
        "_templates_config",
        "_tid",
        "_timer_seq",
        "_timers",
        "config",
        "fast_lane",
        "profile",
        "registry",
        "stats",
        "wakeup",
    )

    def __init__(
        self,
        objects: Iterable[DeviceObject] = (),
        *,
        config: NodeConfig | None = None,
        registry: Registry | None = None,
        profile: NodeProfile | None = None,
    ) -> None:
        self.config = config if config is not None else NodeConfig()
        self.registry = registry if registry is not None else default_registry()
        self.stats = NodeStats()
        self.fast_lane = True
        self.wakeup: Callable[[], None] | None = None
        self._objects: dict[EOJ, DeviceObject] = {}
        self._by_class: dict[tuple[int, int], list[DeviceObject]] = {}
        self._dirty: list[DeviceObject] = []
        self._out: list[tuple[bytes, Addr]] = []
        self._events: deque[Event] = deque()
        self._started = False
        self._tid = self.config.first_tid
        self._handles = 0
        self._pending: dict[int, _Wire | _Fast] = {}
        self._requests: dict[int, _Request | _Fast] = {}
        self._timers: list[tuple[float, int, _Wire | _Fast]] = []
        self._fifos: dict[float, deque[tuple[float, int, _Wire | _Fast]]] = {}
        self._max_fifos = _MAX_FIFOS  # 0: every deadline goes to the heap (the general path, for tests)
        #: Precomputed Get_Res: request bytes after the TID -> (the object, its ``changes`` when built, answer after
        #: the TID).
        self._answers: dict[bytes, tuple[DeviceObject, int, bytes]] = {}
        self._max_answers = _MAX_ANSWERS  # 0: no precomputed answers (the general path, for tests)
        #: Frames decoded lately: bytes after the TID -> the frame's fields after its TID.
        self._decoded: dict[bytes, tuple[object, ...]] = {}
        self._max_decoded = _MAX_DECODED  # 0: decode every datagram (the general path, for tests)
        self._timer_seq = 0
        self._inflight: dict[str, _Wire | _Fast] = {}
        self._queues: dict[str, deque[_Wire]] = {}
        self._alive: set[str] = set()
        self._limits: dict[str, int] = {}
        self._send_later: list[_Wire] = []
        #: The input budget (built for ``_budget_config``; ``None``: every rate is off).
        self._budget: InputBudget | None = None
        self._budget_config: NodeConfig | None = None
        # The fast lane's caches start as shared empties (never written) until the node first uses them:
        #: Fast-lane requests already validated: key -> template, valid for ``_templates_config``.
        self._templates: dict[tuple[Any, ...], _FastTemplate] = _NO_TEMPLATES
        self._templates_config: NodeConfig | None = None
        #: The last fast-lane request's (host, DEOJ, ESV, EPCs, timeout, retries, template, type of the EPCs): the
        #: next request with the same objects (and equal EPCs) takes its template without building the key.
        self._last_fast: tuple[Any, ...] = _NO_LAST
        self.profile = profile if profile is not None else NodeProfile(self.registry)
        self._host(self.profile)
        for obj in objects:
            self._host(obj)
        self._refresh_profile()

    # Hosted objects ---------------------------------------------------------------------------------------------

    def _host(self, obj: DeviceObject) -> None:
        self._answers.clear()
        if obj.eoj in self._objects:
            raise EchonetUsageError(f"object {obj.eoj} is already hosted")
        self._objects[obj.eoj] = obj
        self._by_class.setdefault((obj.eoj.class_group, obj.eoj.class_code), []).append(obj)
        obj.attach(self._mark_dirty)

    def _refresh_profile(self) -> None:
        self.profile.refresh(e for e in self._objects if not e.is_node_profile)

    def add(self, obj: DeviceObject) -> None:
        """Host one more object; the node profile lists follow (and announce 0xD5 once started)."""
        self._host(obj)
        self._refresh_profile()

    def remove(self, eoj: EOJ) -> DeviceObject:
        self._answers.clear()
        obj = self._objects.pop(eoj, None)
        if obj is None or obj is self.profile:
            if obj is not None:
                self._objects[eoj] = obj
            raise EchonetUsageError(f"object {eoj} is not hosted (or is the node profile)")
        self._by_class[(eoj.class_group, eoj.class_code)].remove(obj)
        obj.attach(None)
        self._refresh_profile()
        return obj

    def object(self, eoj: EOJ) -> DeviceObject | None:
        return self._objects.get(eoj)

    @property
    def objects(self) -> tuple[DeviceObject, ...]:
        return tuple(self._objects.values())

    def _mark_dirty(self, obj: DeviceObject) -> None:
        first = not self._dirty
        self._dirty.append(obj)
        if first and self._started and self.wakeup is not None:
            self.wakeup()

    # Start-up and announcements -----------------------------------------------------------------------------------

    def start(self, now: float) -> None:
        """Announce the node: INF of node-profile 0xD5 by multicast (one frame per 84 objects)."""
        for obj in self._dirty:
            obj.take_announcements()
        self._dirty.clear()
        self._started = True
        self._announce_instance_list()

    @property
    def started(self) -> bool:
        return self._started

    def _multicast(self, data: bytes) -> None:
        port = self.config.port
        for group in self.config.multicast_groups:
            self._out.append((data, (group, port)))

    def _announce_instance_list(self) -> None:
        seoj = self.profile.eoj
        for edt in self.profile.instance_list_notifications():
            frame = Frame.make(
                self._next_tid(), seoj, NODE_PROFILE_EOJ, _INF, (Property(INSTANCE_LIST_NOTIFICATION, edt),)
            )
            self._multicast(encode(frame))

    def announce(self, eoj: EOJ, epcs: Iterable[int], dest: Addr | None = None) -> None:
        """Send INF of these EPCs of a hosted object now (by multicast, or to ``dest``)."""
        obj = self._objects.get(eoj)
        if obj is None:
            raise EchonetUsageError(f"object {eoj} is not hosted")
        props = []
        for epc in epcs:
            value = obj.value(epc)
            if value is None:
                raise EchonetUsageError(f"{eoj} does not implement EPC 0x{epc:02X}")
            props.append(Property(epc, value))
        if not props:
            raise EchonetUsageError("an INF needs at least one property")
        data = encode(Frame.make(self._next_tid(), eoj, NODE_PROFILE_EOJ, _INF, props))
        if dest is None:
            self._multicast(data)
        else:
            self._out.append((data, dest))

    def _flush_announcements(self) -> None:
        dirty, self._dirty = self._dirty, []
        for obj in dirty:
            props = obj.take_announcements()
            if not props or self._objects.get(obj.eoj) is not obj or not self.config.announce:
                continue
            if obj is self.profile and any(p.epc == INSTANCE_LIST_NOTIFICATION for p in props):
                props = tuple(p for p in props if p.epc != INSTANCE_LIST_NOTIFICATION)
                self._announce_instance_list()
                if not props:
                    continue
            self._multicast(encode(Frame.make(self._next_tid(), obj.eoj, NODE_PROFILE_EOJ, _INF, props)))

    # The I/O interface ------------------------------------------------------------------------------------------

    def datagrams_to_send(self, now: float) -> list[tuple[bytes, Addr]]:
        """Everything to send now, as ``(payload, address)``; multicast goes to ``(group, port)``."""
        if self._send_later:
            self._flush_later(now)
        if self._dirty and self._started:
            self._flush_announcements()
        out, self._out = self._out, []
        self.stats.sent += len(out)
        return out

    def next_event(self) -> Event | None:
        events = self._events
        return events.popleft() if events else None

    def take_events(self) -> list[Event]:
        """Every queued event at once (adapters use this instead of a :meth:`next_event` loop)."""
        if not self._events:
            return []
        events = list(self._events)
        self._events.clear()
        return events

    @property
    def timer_serial(self) -> int:
        """Changes whenever a deadline is added: an adapter need only call :meth:`get_timer` when it changed
        (deadlines that go away only make a scheduled wake-up early, which is harmless)."""
        return self._timer_seq

    def _emit(self, event: Event) -> None:
        self._events.append(event)

    def _emit_soft(self, event: Event) -> None:
        """Events nobody asked for (drops, notifications, Sets): kept up to ``max_events`` queued, then counted."""
        if len(self._events) < self.config.max_events:
            self._events.append(event)
        else:
            self.stats.events_lost += 1

    def _drop(self, addr: Addr, reason: str, size: int) -> None:
        self.stats.dropped += 1
        self._emit_soft(Dropped(addr, reason, size))

    def _limited(self, addr: Addr, reason: str, size: int) -> None:
        """A datagram the input budget refused: counted; a notice (``reason`` not empty) becomes a Dropped event."""
        stats = self.stats
        stats.dropped += 1
        stats.rate_limited += 1
        if reason:
            self._emit_soft(Dropped(addr, reason, size))

    def _build_budget(self) -> None:
        cfg = self._budget_config = self.config
        if cfg.source_rate is None and cfg.total_rate is None:
            self._budget = None
        else:
            self._budget = InputBudget(
                cfg.source_rate, cfg.source_burst, cfg.total_rate, cfg.total_burst, cfg.max_sources, cfg.priority_rate
            )

    @property
    def input_budget(self) -> InputBudget | None:
        """The node's input budget (see :class:`~echonet.node.config.NodeConfig`), ``None`` when it is off."""
        if self._budget_config is not self.config:
            self._build_budget()
        return self._budget

    def _awaited(self, data: bytes, addr: Addr) -> bool:
        """Whether ``data`` may be the answer awaited by one of our requests: its TID is pending, from that peer
        (any peer for a request by multicast). Such a datagram is not charged to the input budget."""
        if len(data) < 4:
            return False
        found = self._pending.get((data[2] << 8) | data[3])
        if found is None:
            return False
        target = found.request if isinstance(found, _Wire) else found
        return target.multicast or host_key(addr[0]) == target.host

    def receive_datagram(self, data: bytes, addr: Addr, now: float) -> None:
        """Feed one received datagram. Never raises: unusable input becomes a :class:`Dropped` event."""
        if self._pending and self.fast_lane:
            event = self.receive_answer(data, addr, now)
            if event is not None:
                self._events.append(event)
                return
        self.stats.received += 1
        known = None
        padded = False
        size = len(data) if type(data) is bytes else _length(data)
        # Only short datagrams are sliced and hashed to look for a precomputed answer or a decoded frame: a long
        # one is charged to the input budget first, before any work that grows with its size.
        body = (
            data[4:]
            if size <= _MAX_MEMO_DATAGRAM and type(data) is bytes and data.startswith(_SPECIFIED_HEAD)
            else None
        )
        if body is not None and self._answers and size <= _MAX_READ_DATAGRAM:
            # A Get whose bytes after the TID we answered before, no stored value having changed since: the
            # same answer with this TID (the frame decoded fine then, and only its TID differs now).
            hit = self._answers.get(body)
            if hit is not None and hit[0].changes == hit[1]:
                self._out.append((data[:4] + hit[2], self._reply_addr(addr)))  # (EHD and the TID kept)
                self.stats.answered += 1
                if self._send_later:
                    self._flush_later(now)
                return
        if self._budget_config is not self.config:
            self._build_budget()
        if self._budget is not None and not (self._pending and type(data) is bytes and self._awaited(data, addr)):
            reason = self._budget.charge(addr[0], size, now)
            if reason is not None:
                self._limited(addr, reason, size)
                return
        if size > self.config.max_datagram:
            self.stats.oversized += 1
            self._drop(addr, f"oversized: {size} bytes, over max_datagram ({self.config.max_datagram})", size)
            return
        if body is not None:
            known = self._decoded.get(body)
        if known is not None:  # decoded before, only the TID differs: decode is a pure function of the bytes
            frame = _new(Frame, (0x10, _SPECIFIED, (data[2] << 8) | data[3], *known))
        else:
            try:
                frame = decode(data)
            except FrameDecodeError as exc:
                if exc.field != "trailing" or self.config.strict:
                    self._drop(addr, f"malformed: {exc}", len(data))
                    return
                # Bytes after the last property: the frame before them is whole (tolerated, and reported).
                try:
                    frame = decode(data[: exc.offset])
                except FrameDecodeError:  # (cannot happen: kept so that a datagram never raises)
                    self._drop(addr, f"malformed: {exc}", len(data))
                    return
                self.stats.trailing += 1
                self._emit_soft(TrailingBytes(frame, addr, bytes(data[exc.offset :])))
                padded = True  # (neither cached nor answered from a cache: the event comes every time)
            if self._max_decoded and body is not None and frame.ehd2 == _SPECIFIED and not padded:
                decoded = self._decoded
                if len(decoded) >= self._max_decoded:
                    decoded.clear()
                decoded[body] = cast(tuple[Any, ...], frame[AFTER_TID])
        esv = frame.esv
        try:
            if esv is None:
                self._drop(addr, "format 2 (arbitrary) message: not handled", len(data))
            elif 0x60 <= esv <= 0x6F:
                if esv in _REQUEST_ESVS:
                    self._serve(frame, addr, None if padded else data)
                else:
                    self._drop(addr, f"unknown request ESV 0x{esv:02X}", len(data))
            elif esv in _ANSWER_OF:
                if not self._on_answer(frame, addr, now):
                    if esv == _INF:
                        self._emit_soft(NotificationReceived(frame, addr))
                    else:
                        self._drop(
                            addr,
                            f"unexpected answer (ESV 0x{esv:02X}, TID 0x{frame.tid:04X}): no such request",
                            len(data),
                        )
            elif esv == _INFC:
                self._emit_soft(NotificationReceived(frame, addr))
                self._serve(frame, addr)
            else:
                self._drop(addr, f"unknown ESV 0x{esv:02X}", len(data))
        except Exception as exc:  # a model hook or a bug must not stop the node from receiving
            self.stats.internal_errors += 1
            self._drop(addr, f"internal error: {type(exc).__name__}: {exc}", len(data))
        if self._send_later:
            self._flush_later(now)

    # Device side --------------------------------------------------------------------------------------------------

    def _reply_addr(self, addr: Addr) -> Addr:
        if self.config.reply_to_3610 and addr[1] != self.config.port:
            return (addr[0], self.config.port, *addr[2:])
        return addr

    def _serve(self, frame: Frame, addr: Addr, data: bytes | None = None) -> None:
        deoj, src = frame.deoj, frame.seoj
        assert deoj is not None and src is not None
        if deoj[2] == 0:
            targets: Iterable[DeviceObject] | None = self._by_class.get((deoj[0], deoj[1]))
            if not targets:
                self.stats.to_missing_object += 1
                return
        else:
            obj = self._objects.get(deoj)
            if obj is None:
                self.stats.to_missing_object += 1
                return
            targets = (obj,)
        reply = self._reply_addr(addr)
        esv = frame.esv
        out = self._out
        if esv == _GET and deoj[2]:  # the hot path: a Get to one object, answered without building a Frame
            obj = targets[0]  # type: ignore[index]
            get_res = _get_res(frame, obj, src)
            if get_res is not None:
                out.append((get_res, reply))
                self.stats.answered += 1
                if (
                    type(data) is bytes
                    and self._max_answers
                    and len(data) <= _MAX_READ_DATAGRAM
                    and type(obj).read is DeviceObject.read
                ):
                    answers = self._answers
                    if len(answers) >= self._max_answers:
                        answers.clear()
                    answers[data[4:]] = (obj, obj.changes, get_res[4:])
                return
        for obj in targets:
            if esv in (_GET, _INF_REQ):
                answer = self._answer_get(obj, frame, src)
                if esv == _INF_REQ and answer.esv == _INF and self.config.inf_req_multicast:
                    self._multicast(encode(answer))
                    self.stats.answered += 1
                    continue
            elif esv in (_SETC, _SETI):
                answer_or_none = self._answer_set(obj, frame, src, addr)
                if answer_or_none is None:
                    continue
                answer = answer_or_none
            elif esv == _SETGET:
                answer = self._answer_setget(obj, frame, src, addr)
            else:  # INFC: acknowledge every EPC with PDC=0
                answer = Frame.make(
                    frame.tid, obj.eoj, src, ESV.INFC_RES, tuple(Property(p.epc, _EMPTY) for p in frame.properties)
                )
            out.append((encode(answer), reply))
            self.stats.answered += 1

    @staticmethod
    def _read(obj: DeviceObject, request: tuple[Property, ...]) -> tuple[list[Property], bool]:
        props: list[Property] = []
        ok = bool(request)
        read = obj.read
        for epc, _ in request:
            value = read(epc)
            if value is None:
                ok = False
                props.append(_new(Property, (epc, _EMPTY)))
            else:
                props.append(_new(Property, (epc, value)))
        return props, ok

    def _write(self, obj: DeviceObject, request: tuple[Property, ...], addr: Addr) -> tuple[list[Property], bool]:
        props: list[Property] = []
        ok = bool(request)
        for prop in request:
            epc, edt = prop
            if obj.write(epc, edt) is None:
                props.append(_new(Property, (epc, _EMPTY)))
                self._emit_soft(PropertySet(obj.eoj, epc, edt, addr))
            else:
                ok = False
                props.append(prop)
        return props, ok

    def _answer_get(self, obj: DeviceObject, frame: Frame, src: EOJ) -> Frame:
        props, ok = self._read(obj, frame.properties)
        esv = _READ_ANSWER[frame.esv == _GET][ok]
        return _frame(frame.tid, obj.eoj, src, esv, tuple(props))

    def _answer_set(self, obj: DeviceObject, frame: Frame, src: EOJ, addr: Addr) -> Frame | None:
        props, ok = self._write(obj, frame.properties, addr)
        if frame.esv == _SETI:
            return None if ok else _frame(frame.tid, obj.eoj, src, ESV.SETI_SNA, tuple(props))
        return _frame(frame.tid, obj.eoj, src, ESV.SET_RES if ok else ESV.SETC_SNA, tuple(props))

    def _answer_setget(self, obj: DeviceObject, frame: Frame, src: EOJ, addr: Addr) -> Frame:
        set_props, set_ok = self._write(obj, frame.properties, addr)
        get_props, get_ok = self._read(obj, frame.get_properties)
        esv = ESV.SETGET_RES if set_ok and get_ok else ESV.SETGET_SNA
        return _frame(frame.tid, obj.eoj, src, esv, tuple(set_props), tuple(get_props))

    # Controller side ----------------------------------------------------------------------------------------------

    def _next_tid(self) -> int:
        tid = self._tid
        pending = self._pending
        while tid in pending:
            tid = (tid + 1) & 0xFFFF
        self._tid = (tid + 1) & 0xFFFF
        return tid

    def request(
        self,
        host: str | Addr,
        deoj: EOJ,
        esv: int,
        props: Iterable[Property | int] = (),
        get_props: Iterable[Property | int] = (),
        *,
        now: float,
        timeout: float | None = None,
        retries: int | None = None,
        seoj: EOJ | None = None,
        split: bool | None = None,
        fanout: bool | None = None,
    ) -> int:
        """Send a request (SetI, SetC, Get, INF_REQ, SetGet or INFC) and return its handle.

        ``host`` is an IP (the port is the configured one) or a socket address. Get and INF_REQ take EPCs (ints or
        ``Property(epc)``); a Get with no EPC is refused (:class:`EchonetUsageError`), as is any request with no
        property. A request to instance 0x00 or to a multicast address is a fan-out: every answer is reported until
        the window (``timeout`` per attempt) closes. ``split`` overrides ``config.split_gets`` for this request.
        """
        if self.fast_lane and seoj is None and split is None and fanout is None and not get_props:
            started = self._start_fast(host, deoj, esv, props, now, timeout, retries)
            if started is not None:
                self.stats.sent -= 1  # counted when datagrams_to_send hands it out
                self._out.append((started[1], started[2]))
                return started[0]
        code = esv if type(esv) is int else int(esv)
        if code not in _REQUEST_ESVS:
            raise EchonetUsageError(f"ESV 0x{code:02X} is not a request a controller sends")
        if not isinstance(deoj, EOJ):
            deoj = EOJ(*deoj)
        reading = code in (_GET, _INF_REQ)
        first = _properties(props, reading, "property")
        second = _properties(get_props, True, "OPCGet property") if get_props else ()
        if not first:
            what = "a Get with OPC=0 is never sent" if reading else "a request needs at least one property"
            raise EchonetUsageError(f"{what}: give at least one EPC")
        if code == _SETGET:
            if not second:
                raise EchonetUsageError("a SetGet needs at least one EPC in its Get part")
        elif second:
            raise EchonetUsageError("get_props is only for SetGet")
        if len(first) > 255 or len(second) > 255:
            raise EchonetUsageError("at most 255 properties fit in a frame")
        addr: Addr = (host, self.config.port) if isinstance(host, str) else tuple(host)
        cfg = self.config
        multicast = is_multicast(addr[0])
        is_fanout = fanout if fanout is not None else (multicast or deoj.instance == 0)
        do_split = (cfg.split_gets if split is None else split) and code == _GET and not is_fanout
        self._handles += 1
        req = _Request(
            self._handles,
            addr,
            deoj,
            code,
            seoj if seoj is not None else cfg.controller_eoj,
            cfg.timeout if timeout is None else timeout,
            0 if code == _SETI else (cfg.retries if retries is None else retries),
            is_fanout,
            multicast,
            do_split,
        )
        if req.timeout <= 0 or req.retries < 0:
            raise EchonetUsageError("timeout must be positive and retries 0 or more")
        self._requests[req.handle] = req
        if not do_split:
            self._submit(_Wire(req, first, second), now)
            return req.handle
        req.asked = first
        limit = cfg.max_get_epcs
        if cfg.learn_get_limit and self._limits:
            learned = self._limits.get(req.host)
            if learned is not None and (limit is None or learned < limit):
                limit = learned
        if limit is not None and len(first) > limit:
            req.merging()
            self.stats.splits += 1
            for i in range(0, len(first), limit):
                self._submit(_Wire(req, first[i : i + limit]), now)
        else:
            self._submit(_Wire(req, first), now)
        return req.handle

    # The fast lane ----------------------------------------------------------------------------------------------
    #
    # The common request, a Get / INF_REQ to one object at a unicast address that needs no splitting up front and
    # no queueing, is validated once per distinct (address, object, ESV, EPCs, timeout, retries) and kept as a
    # template: later ones only take a TID, patch it into the template's bytes and arm their deadline. Its answer
    # (the success ESV from the right peer and object, every EPC asked answered in order) is recognised from its
    # header bytes before anything else and ends the request at once. Everything else takes the general path;
    # ``fast_lane = False`` sends everything there (tests check that both give the same bytes, events, deadlines).

    def _template(self, key: tuple[Any, ...]) -> _FastTemplate | None:
        """Validate a request for the fast lane once (``None``: it takes the general path)."""
        cfg = self.config
        if self._templates_config is not cfg or len(self._templates) >= _MAX_TEMPLATES:
            self._templates = {}  # (never the class-level empty one)
            self._templates_config = cfg
            self._last_fast = _NO_LAST  # (its template was validated for another config)
        host, deoj, esv, epcs, timeout, retries = key
        if (esv != _GET and esv != _INF_REQ) or type(deoj) is not EOJ or not deoj[2] or not epcs or len(epcs) > 255:
            return None
        if type(host) is str:
            addr: Addr = (host, cfg.port)
        elif type(host) is tuple and len(host) in (2, 4) and all(type(x) is int for x in host[1:]):
            addr = host
        else:
            return None
        if type(addr[0]) is not str or is_multicast(addr[0]):
            return None
        code = int(esv)
        timeout = cfg.timeout if timeout is None else timeout
        retries = cfg.retries if retries is None else retries
        if type(timeout) not in (int, float) or not timeout > 0 or type(retries) is not int or retries < 0:
            return None
        split = cfg.split_gets and code == _GET
        if split and cfg.max_get_epcs is not None and len(epcs) > cfg.max_get_epcs:
            return None
        props = _read_properties(epcs)
        seoj = cfg.controller_eoj
        try:
            data = _encode_read(0, seoj, deoj, code, props)
        except EchonetUsageError:
            return None
        template = _FastTemplate(
            addr, deoj, code, seoj, timeout, retries, split, cfg.one_in_flight, epcs, props, data[4:]
        )
        template.fifo = self._fifo(timeout)
        self._templates[key] = template
        return template

    def start_fast(
        self,
        host: str | Addr,
        deoj: EOJ,
        esv: int,
        props: Iterable[Property | int],
        now: float,
        timeout: float | None = None,
        retries: int | None = None,
    ) -> tuple[int, bytes, Addr, float] | None:
        """:meth:`request` for an adapter that sends the datagram itself: when the request fits the fast lane it is
        started as :meth:`request` would start it, and ``(handle, datagram, address, deadline)`` comes back instead
        of the datagram being queued for :meth:`datagrams_to_send` (it counts as sent). ``None``: nothing was done
        (the request does not fit, the fast lane is off, or :meth:`datagrams_to_send` has something waiting, which
        must leave first): use :meth:`request`."""
        if self._out:
            return None
        return self._start_fast(host, deoj, esv, props, now, timeout, retries)

    def fast_receiver(
        self, answered: Callable[[int, Frame, Addr], None], send: Callable[[bytes, Addr], Any]
    ) -> Callable[[bytes, Addr, float], int]:
        """The fast lane's input, bound once by an adapter: ``receive(data, addr, now)`` takes the datagrams that
        the fast lane handles with the same outcome as :meth:`receive_datagram` and returns

        * :data:`FAST_DECLINED` (0): nothing was done; hand the datagram to :meth:`receive_datagram`;
        * :data:`FAST_DONE` (1): taken, and there is nothing to send, no event and no new deadline;
        * :data:`FAST_PUMP` (2): taken, and the node may have something to send, events or a new deadline.

        The awaited answer to a one-answer request (see :meth:`take_answer`) is given to ``answered(handle, frame,
        addr)``, which stands for ``ResponseReceived(handle, frame, addr, final=True)``; a Get answered before gets
        its answer through ``send(datagram, addr)`` (see :meth:`answer_repeat`), whose true result means that
        sending it left something to pump."""
        take_answer, answer_repeat = self.take_answer, self.answer_repeat

        def receive(data: bytes, addr: Addr, now: float) -> int:
            if self._pending:  # the awaited answer to a one-answer request ends it before anything else
                taken = take_answer(data, addr, now)
                if taken is None:
                    return FAST_DECLINED
                answered(taken[0], taken[1], addr)
                return FAST_PUMP if self._out else FAST_DONE  # (requests queued behind the one that ended)
            if self._answers:  # a Get answered before: the same answer, its TID patched in
                answer = answer_repeat(data, addr)
                if answer is not None:
                    return FAST_PUMP if send(answer[0], answer[1]) else FAST_DONE
            return FAST_DECLINED

        return receive

    def _start_fast(
        self,
        host: str | Addr,
        deoj: EOJ,
        esv: int,
        props: Iterable[Property | int],
        now: float,
        timeout: float | None,
        retries: int | None,
    ) -> tuple[int, bytes, Addr, float] | None:
        last = self._last_fast  # the same request as the last one (same objects, equal EPCs): its template
        if (
            host is last[0]
            and deoj is last[1]
            and type(props) is last[7]  # (a list or a tuple: compared with == below)
            and esv == last[2]
            and timeout is last[4]
            and retries is last[5]
            and props == last[3]
            and self._templates_config is self.config
            and self.fast_lane
        ):
            template: _FastTemplate = last[6]
        else:
            if (type(props) is not list and type(props) is not tuple) or not self.fast_lane:
                return None
            try:
                key = (host, deoj, esv, bytes(props), timeout, retries)
                found = self._templates.get(key)
            except (TypeError, ValueError):  # not EPCs (the general path says what is wrong), or unhashable
                return None
            if found is None or self._templates_config is not self.config:
                found = self._template(key)
                if found is None:
                    return None
            template = found
            # (a private copy of a list: the caller may change it before the next request)
            self._last_fast = (
                host,
                deoj,
                esv,
                props.copy() if type(props) is list else props,
                timeout,
                retries,
                template,
                type(props),
            )
        if template.split and self._limits:
            learned = self._limits.get(template.host)
            if learned is not None and len(template.props) > learned:
                return None  # split up front: the general path
        one_in_flight = template.one_in_flight
        if one_in_flight and template.host in self._inflight:
            return None  # queued behind the request in flight: the general path
        self._handles = handle = self._handles + 1
        fast = _new_instance(_Fast)
        fast.handle, fast.template, fast.active = handle, template, True
        self._requests[handle] = fast
        if one_in_flight:
            self._inflight[template.host] = fast
        tid = self._tid
        pending = self._pending
        if tid in pending:
            tid = self._next_tid()
        else:
            self._tid = (tid + 1) & 0xFFFF
        fast.tid = tid
        fast.data = data = template.pack(0x1081, tid, template.tail)
        pending[tid] = fast
        fast.deadline = deadline = now + template.timeout
        self._timer_seq = seq = self._timer_seq + 1
        fifo = template.fifo
        if fifo and fifo[-1][0] <= deadline and len(fifo) & 0x3F:  # the common case (see _arm)
            fifo.append((deadline, seq, fast))
        else:
            self._arm((deadline, seq, fast), template.timeout)
        self.stats.sent += 1
        return handle, data, template.addr, deadline

    def _arm(self, entry: tuple[float, int, _Wire | _Fast], timeout: float) -> None:
        """Queue a deadline: on the FIFO of its timeout value while they come in order, else on the heap."""
        deadline = entry[0]
        fifo = self._fifo(timeout)
        if fifo is not None and (not fifo or fifo[-1][0] <= deadline):
            # An adapter need not ask get_timer after every fast request: now and then, entries of requests that
            # ended are dropped from the front here (get_timer and handle_timer skip them anyway).
            while fifo:
                first = fifo[0]
                if first[2].active and first[2].deadline == first[0]:
                    break
                fifo.popleft()
            fifo.append(entry)
        else:
            heapq.heappush(self._timers, entry)

    def _fifo(self, timeout: float) -> deque[tuple[float, int, _Wire | _Fast]] | None:
        """The deadline FIFO of a timeout value (``None``: too many distinct values, or FIFOs off: the heap)."""
        fifo = self._fifos.get(timeout)
        if fifo is None and len(self._fifos) < self._max_fifos:
            fifo = self._fifos[timeout] = deque()
        return fifo

    def receive_answer(self, data: bytes, addr: Addr, now: float) -> ResponseReceived | None:
        """:meth:`receive_datagram` for the expected answer to a pending one-answer request: when ``data`` is one,
        it is taken as :meth:`receive_datagram` would take it, and its final event is returned instead of queued.
        ``None``: nothing was done (not such an answer, or the fast lane is off): use :meth:`receive_datagram`."""
        taken = self.take_answer(data, addr, now)
        if taken is None:
            return None
        return _new(ResponseReceived, (taken[0], taken[1], addr, True, ()))

    def take_answer(self, data: bytes, addr: Addr, now: float) -> tuple[int, Frame] | None:
        """:meth:`receive_answer` without building the event: ``(handle, frame)`` of the
        ``ResponseReceived(handle, frame, addr, final=True)`` it stands for."""
        if type(data) is not bytes or len(data) < 12 or data[0] != 0x10 or data[1] != 0x81 or not self.fast_lane:
            return None
        tid = (data[2] << 8) | data[3]
        pending = self._pending
        fast = pending.get(tid)
        if type(fast) is not _Fast:  # (a request of the general path, or none)
            return None
        template = fast.template
        host = template.host
        if addr[0] != template.addr[0] and host_key(addr[0]) != host:
            return None
        fields = template.answers.get(data[4:])
        if fields is None:
            fields = self._recognise(template, data)
            if fields is None:
                return None
        self.stats.received += 1
        if host not in self._alive:
            if len(self._alive) >= _MAX_ALIVE:
                self._alive.clear()
            self._alive.add(host)
        del pending[tid]
        fast.active = False
        handle = fast.handle
        del self._requests[handle]
        if template.one_in_flight:
            self._release(host, fast)
        if self._send_later:
            self._flush_later(now)
        return handle, _new(Frame, (0x10, _SPECIFIED, tid) + fields)  # noqa: RUF005 (faster than unpacking)

    def _recognise(self, template: _FastTemplate, data: bytes) -> tuple[Any, ...] | None:
        """The frame's fields after its TID when ``data`` is the answer a fast-lane request awaits (the success
        ESV from the object asked, and for a Get that may be split every EPC asked, in order), else ``None``."""
        deoj = template.deoj
        if data[10] != template.success or data[4] != deoj[0] or data[5] != deoj[1] or data[6] != deoj[2]:
            return None
        try:
            frame = decode(data)
        except FrameDecodeError:
            return None
        if template.split and bytes([p[0] for p in frame.properties]) != template.epcs:
            return None  # answered in part or out of order: the general path merges the pieces
        fields = cast(tuple[Any, ...], frame[AFTER_TID])
        if self._max_decoded:
            answers = template.answers
            if len(answers) >= _MAX_TEMPLATE_ANSWERS:
                answers.clear()
            answers[data[4:]] = fields
        return fields

    def _promote(self, fast: _Fast) -> _Wire:
        """Turn a fast-lane request into the general path's request and wire, in its place everywhere but on the
        timers: it is promoted only when its answer or its deadline has come, and either ends it or re-arms it."""
        t = fast.template
        req = _Request(fast.handle, t.addr, t.deoj, t.esv, t.seoj, t.timeout, t.retries, False, False, t.split)
        req.open_wires, req.first_tid = 1, fast.tid
        if t.split:
            req.asked = t.props
        wire = _Wire(req, t.props)
        wire.tid, wire.data, wire.attempts, wire.deadline = fast.tid, fast.data, 1, fast.deadline
        fast.active = False
        self._requests[fast.handle] = req
        self._pending[fast.tid] = wire
        if self._inflight.get(t.host) is fast:
            self._inflight[t.host] = wire
        return wire

    def answer_repeat(self, data: bytes, addr: Addr) -> tuple[bytes, Addr] | None:
        """:meth:`receive_datagram` for a Get answered before (the device side's precomputed Get_Res): when ``data``
        is one, it is taken as :meth:`receive_datagram` would take it and ``(answer, address)`` comes back instead
        of being queued for :meth:`datagrams_to_send` (it counts as sent). ``None``: nothing was done. (No ``now``:
        it declines whenever something time-dependent is pending, and changes nothing but the counters.)"""
        if (
            not self._answers
            or type(data) is not bytes
            or len(data) > _MAX_READ_DATAGRAM  # (no precomputed answer is that long: not sliced nor hashed)
            or self._send_later
            or self._out
            or not self.fast_lane
        ):
            return None
        hit = self._answers.get(data[4:])
        if hit is None or hit[0].changes != hit[1] or not data.startswith(_SPECIFIED_HEAD):
            return None
        stats = self.stats
        stats.received += 1
        stats.answered += 1
        stats.sent += 1
        config = self.config
        if config.reply_to_3610 and addr[1] != config.port:
            addr = self._reply_addr(addr)
        return data[:4] + hit[2], addr  # (EHD and the TID kept)

    def cancel(self, handle: int) -> bool:
        """Forget a request (no more events for it). Returns whether it was still open."""
        req = self._requests.pop(handle, None)
        if req is None:
            return False
        if type(req) is _Fast:
            del self._pending[req.tid]
            req.active = False
            self._release(req.template.host, req)
            return True
        assert isinstance(req, _Request)
        req.done = True
        queue = self._queues.get(req.host)
        if queue:
            for wire in [w for w in queue if w.request is req]:
                queue.remove(wire)
        for tid, open_wire in list(self._pending.items()):
            if isinstance(open_wire, _Wire) and open_wire.request is req:
                self._close_wire(open_wire)
                del self._pending[tid]
        return True

    @property
    def open_requests(self) -> int:
        return len(self._requests)

    def _submit(self, wire: _Wire, now: float) -> None:
        req = wire.request
        req.open_wires += 1
        if self.config.one_in_flight and not req.fanout:
            if req.host in self._inflight:
                self._queues.setdefault(req.host, deque()).append(wire)
                return
            if req.esv != _SETI:
                self._inflight[req.host] = wire
        self._send(wire, now)

    def _send(self, wire: _Wire, now: float) -> None:
        req = wire.request
        if wire.tid < 0:
            tid = self._tid
            pending = self._pending
            if tid in pending:
                tid = self._next_tid()
            else:
                self._tid = (tid + 1) & 0xFFFF
            wire.tid = tid
            if req.first_tid < 0:
                req.first_tid = tid
            esv = req.esv
            if esv in (_GET, _INF_REQ):  # PDC=0 everywhere: header + a cached run of (EPC, 0) pairs
                wire.data = _encode_read(tid, req.seoj, req.deoj, esv, wire.props)
            else:
                wire.data = encode(
                    _new(Frame, (0x10, _SPECIFIED, tid, req.seoj, req.deoj, esv, wire.props, wire.get_props, None))
                )
            pending[tid] = wire
        wire.attempts += 1
        wire.deadline = deadline = now + req.timeout
        self._timer_seq += 1
        # Deadlines of one timeout value arrive in order while ``now`` does not go back: a FIFO per timeout value
        # (O(1) both ways) holds them; anything out of order (or beyond a few distinct timeouts) goes to the heap.
        self._arm((deadline, self._timer_seq, wire), req.timeout)
        self._out.append((wire.data, req.addr))

    def _close_wire(self, wire: _Wire) -> None:
        """Take a wire off the air and let the next queued request to the same device go."""
        wire.active = False
        req = wire.request
        req.open_wires -= 1
        self._release(req.host, wire)

    def _release(self, host: str, wire: _Wire | _Fast) -> None:
        """A wire is off the air: when it held the device's one-in-flight slot, the next queued request goes."""
        if self._inflight.get(host) is wire:
            del self._inflight[host]
            queue = self._queues.get(host)
            while queue:
                nxt = queue.popleft()
                if nxt.active and not nxt.request.done:
                    if nxt.request.esv != _SETI:
                        self._inflight[host] = nxt
                    self._send_later.append(nxt)
                    break
            if queue is not None and not queue:
                del self._queues[host]

    def _finish(self, req: _Request, event: Event) -> None:
        req.done = True
        self._requests.pop(req.handle, None)
        self._emit(event)

    def _on_answer(self, frame: Frame, addr: Addr, now: float) -> bool:
        """Match an answer to a pending wire on (peer IP, TID, EOJ); ``False`` when it matches nothing."""
        found = self._pending.get(frame.tid)
        if found is None:
            return False
        target = found if isinstance(found, _Fast) else found.request
        if not target.multicast and host_key(addr[0]) != target.host:
            return False
        seoj, deoj = frame.seoj, target.deoj
        assert seoj is not None
        if seoj[0] != deoj[0] or seoj[1] != deoj[1] or (deoj[2] and seoj[2] != deoj[2]):
            return False
        if _ANSWER_OF.get(frame.esv) != target.esv and not (  # type: ignore[arg-type]
            target.esv == _SETC and frame.esv == ESV.SETI_SNA
        ):  # (uecho answers a refused SetC with SetI_SNA 0x50: taken as the SetC_SNA it means)
            return False
        wire = self._promote(found) if isinstance(found, _Fast) else found
        req = wire.request
        peer = req.host if not req.multicast else host_key(addr[0])
        if peer not in self._alive:
            if len(self._alive) >= _MAX_ALIVE:
                self._alive.clear()
            self._alive.add(peer)
        if req.fanout:
            req.answers += 1
            self._emit(_new(ResponseReceived, (req.handle, frame, addr, False, ())))
            return True
        del self._pending[frame.tid]
        if self._inflight:
            self._close_wire(wire)
        else:  # _close_wire without a queue to serve
            wire.active = False
            req.open_wires -= 1
        if req.esv == _GET and req.split:
            answered, asked = frame.properties, wire.props
            if req.merge is None and len(answered) == len(asked):  # the common case: answered in full, in order
                for asked_prop, answer in zip(asked, answered):  # noqa: B905 (same lengths)
                    if asked_prop[0] != answer[0]:
                        break
                else:
                    self._finish(req, _new(ResponseReceived, (req.handle, frame, addr, True, ())))
                    return True
            self._merge_get(wire, frame, addr, now)
        elif not req.done:
            self._finish(req, _new(ResponseReceived, (req.handle, frame, addr, True, ())))
        return True

    def _flush_later(self, now: float) -> None:
        later, self._send_later = self._send_later, []
        for wire in later:
            self._send(wire, now)

    def _merge_get(self, wire: _Wire, frame: Frame, addr: Addr, now: float) -> None:
        req = wire.request
        answered = frame.properties
        if req.merge is None and len(answered) == len(wire.props):
            for asked_prop, answer in zip(wire.props, answered, strict=True):
                if asked_prop[0] != answer[0]:
                    break
            else:  # everything answered in one piece: the device's own frame is the answer
                self._finish(req, _new(ResponseReceived, (req.handle, frame, addr, True, ())))
                return
        asked = [p.epc for p in wire.props]
        got = {p.epc: p.edt for p in answered if p.epc in asked}
        missing = [epc for epc in asked if epc not in got]
        if req.merge is None and not missing:
            self._finish(req, _new(ResponseReceived, (req.handle, frame, addr, True, ())))
            return
        merge = req.merging()
        merge.heard = True
        merge.last_addr, merge.last_seoj = addr, frame.seoj or req.deoj
        sna = frame.esv == ESV.GET_SNA
        for epc, edt in got.items():
            if sna and not edt:
                merge.refused.add(epc)
            else:
                merge.values[epc] = edt
        if missing:
            self.stats.splits += 1
            if got:
                self._learn_limit(req.host, len(got))
                self._submit(_Wire(req, tuple(Property(e) for e in missing)), now)
            elif len(missing) > 1:  # answered nothing of what we asked: halves
                self._split_halves(req, tuple(Property(e) for e in missing), now)
            else:  # a device that answers a Get of one EPC without it: give up on that EPC
                merge.unanswered.extend(missing)
        self._complete_split(req)

    def _learn_limit(self, host: str, limit: int) -> None:
        if self.config.learn_get_limit:
            if len(self._limits) >= _MAX_ALIVE and host not in self._limits:
                self._limits.clear()
            self._limits[host] = limit

    def _split_halves(self, req: _Request, props: tuple[Property, ...], now: float) -> None:
        half = (len(props) + 1) // 2
        self._submit(_Wire(req, props[:half]), now)
        self._submit(_Wire(req, props[half:]), now)

    def _complete_split(self, req: _Request) -> None:
        if req.open_wires or req.done:
            return
        merge = req.merging()
        if not merge.heard:
            self._finish(req, RequestTimedOut(req.handle, req.addr, req.deoj, req.esv, req.retries + 1))
            return
        props = tuple(Property(p.epc, merge.values.get(p.epc, _EMPTY)) for p in req.asked)
        esv = ESV.GET_RES if not merge.refused and not merge.unanswered else ESV.GET_SNA
        merged = Frame.make(req.first_tid, merge.last_seoj, req.seoj, esv, props)
        missing = frozenset(merge.unanswered)
        unanswered = tuple(p.epc for p in req.asked if p.epc in missing)  # in the order asked
        self._finish(req, ResponseReceived(req.handle, merged, merge.last_addr, True, unanswered))

    def get_timer(self) -> float | None:
        """The next deadline (``now`` values), or ``None`` when nothing waits."""
        timers = self._timers
        best: float | None = None
        while timers:
            deadline, _, wire = timers[0]
            if wire.active and wire.deadline == deadline:
                best = deadline
                break
            heapq.heappop(timers)
        for fifo in self._fifos.values():
            while fifo:
                deadline, _, wire = fifo[0]
                if wire.active and wire.deadline == deadline:
                    if best is None or deadline < best:
                        best = deadline
                    break
                fifo.popleft()
        return best

    def handle_timer(self, now: float) -> None:
        """Run every deadline due at ``now``: retries, split retries, timeouts, closing fan-out windows."""
        due: list[tuple[float, int, _Wire | _Fast]] = []
        timers = self._timers
        while timers and timers[0][0] <= now:
            due.append(heapq.heappop(timers))
        sources = 1 if due else 0
        for fifo in self._fifos.values():
            if fifo and fifo[0][0] <= now:
                sources += 1
                while fifo and fifo[0][0] <= now:
                    due.append(fifo.popleft())
        if sources > 1:  # in deadline order, as one heap would give them
            due.sort(key=_deadline_order)
        for deadline, _, wire in due:  # deadlines set while expiring are later than ``now``: none of them is due
            if not wire.active or wire.deadline != deadline:
                continue
            self._expire(self._promote(wire) if isinstance(wire, _Fast) else wire, now)
        if self._send_later:
            self._flush_later(now)

    def _expire(self, wire: _Wire, now: float) -> None:
        req = wire.request
        if req.done:
            self._pending.pop(wire.tid, None)
            self._close_wire(wire)
            return
        if req.fanout and req.answers:
            self._pending.pop(wire.tid, None)
            self._close_wire(wire)
            self._finish(req, RequestFinished(req.handle, req.answers))
            return
        if wire.attempts <= req.retries:
            self.stats.retries += 1
            self._send(wire, now)
            return
        self._pending.pop(wire.tid, None)
        self._close_wire(wire)
        if req.esv == _SETI:
            self._finish(req, RequestFinished(req.handle, req.answers))
            return
        self.stats.timeouts += 1
        if not req.split:
            self._finish(req, RequestTimedOut(req.handle, req.addr, req.deoj, req.esv, wire.attempts))
            return
        if len(wire.props) > 1 and req.host in self._alive:
            req.merging()
            self.stats.splits += 1
            self._learn_limit(req.host, (len(wire.props) + 1) // 2)
            self._split_halves(req, wire.props, now)
            return
        req.merging().unanswered.extend(p.epc for p in wire.props)
        self._complete_split(req)


#: What the receiver of :meth:`Node.fast_receiver` did with a datagram.
FAST_DECLINED = 0  #: nothing: the datagram goes to :meth:`Node.receive_datagram`
FAST_DONE = 1  #: taken; nothing to send, no event, no new deadline
FAST_PUMP = 2  #: taken; the node may have datagrams, events or a deadline to hand out
#: Fast-lane templates kept per node (a full cache is emptied).
_MAX_TEMPLATES = 256
#: Answers remembered per fast-lane template (a full memo is emptied).
_MAX_TEMPLATE_ANSWERS = 8
#: The success answer the fast lane takes for each request it sends.
_SUCCESS_OF = {int(ESV.GET): int(ESV.GET_RES), int(ESV.INF_REQ): int(ESV.INF)}
_PACK_HEAD = struct.Struct(">BBHBBBBBBBB").pack
_PACK_PROPERTY = struct.Struct("BB").pack
#: Distinct timeout values that get a timer FIFO of their own (more go to the heap).
_MAX_FIFOS = 8
#: Precomputed Get_Res kept per node (a full cache is emptied).
_MAX_ANSWERS = 64
#: Decoded frames kept per node for datagrams that repeat but for their TID (a full cache is emptied).
_MAX_DECODED = 64


def _length(data: object) -> int:
    """The length of a datagram that is not ``bytes`` (0 for what has none: decode says what is wrong with it)."""
    try:
        return len(data)  # type: ignore[arg-type]
    except TypeError:
        return 0


def _deadline_order(entry: tuple[float, int, _Wire | _Fast]) -> tuple[float, int]:
    return entry[0], entry[1]


def _encode_read(tid: int, seoj: EOJ, deoj: EOJ, esv: int, props: tuple[Property, ...]) -> bytes:
    """``encode`` of a Get / INF_REQ frame (every PDC 0), without building the Frame."""
    try:
        return _PACK_HEAD(
            0x10, 0x81, tid, seoj[0], seoj[1], seoj[2], deoj[0], deoj[1], deoj[2], esv, len(props)
        ) + _read_body(props)
    except (struct.error, TypeError, IndexError, ValueError):  # let encode say what is wrong
        return encode(_new(Frame, (0x10, _SPECIFIED, tid, seoj, deoj, esv, props, (), None)))


@lru_cache(maxsize=1024)
def _read_properties(epcs: bytes) -> tuple[Property, ...]:
    """The properties of a Get / INF_REQ of these EPCs (shared: Property tuples are immutable)."""
    return tuple(_new(Property, (epc, _EMPTY)) for epc in epcs)


@lru_cache(maxsize=512)
def _read_body(props: tuple[Property, ...]) -> bytes:
    """The (EPC, PDC=0) pairs of a Get / INF_REQ, as :func:`~echonet.codec.encode` writes them."""
    return bytes(b for p in props for b in (p[0], 0))


def _get_res(frame: Frame, obj: DeviceObject, src: EOJ) -> bytes | None:
    """The Get_Res bytes when every EPC is readable (``None`` otherwise: the general path builds the Get_SNA)."""
    props = frame.properties
    if not props:
        return None
    eoj = obj.eoj
    parts = [_PACK_HEAD(0x10, 0x81, frame.tid, eoj[0], eoj[1], eoj[2], src[0], src[1], src[2], 0x72, len(props))]
    append = parts.append
    read = obj.read
    for prop in props:
        value = read(prop[0])
        if value is None:
            return None
        append(_PACK_PROPERTY(prop[0], len(value)))
        append(value)
    return b"".join(parts)


def _properties(items: Iterable[Property | int], reading: bool, what: str) -> tuple[Property, ...]:
    if not items:
        return ()
    if reading and type(items) in (list, tuple):  # the common case: a list of EPCs
        try:
            epcs = bytes(items)  # type: ignore[arg-type]  # integers 0-255 only, or it raises
        except (TypeError, ValueError):
            pass  # Property items, or something to refuse below
        else:
            return _read_properties(epcs)
    out: list[Property] = []
    for item in items:
        prop = Property(item, _EMPTY) if isinstance(item, int) else Property(item[0], bytes(item[1]))
        if not 0 <= prop.epc <= 0xFF:
            raise EchonetUsageError(f"{what} EPC {prop.epc!r} is not a byte")
        if reading and prop.edt:
            raise EchonetUsageError(f"{what} 0x{prop.epc:02X}: a Get asks with PDC=0 (no EDT)")
        out.append(prop)
    return tuple(out)
