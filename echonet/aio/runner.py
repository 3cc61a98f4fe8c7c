"""The runner: UDP endpoints that drive a sans-I/O core (a :class:`~echonet.node.Node`, or a layer wrapping one).

Its datagram path has the three steps of every sans-I/O adapter: hand the datagram to the core, send what the core
wants to send, re-arm the one timer at the core's next deadline. The core's fast lane (bound once, see
:meth:`echonet.node.Node.fast_receiver`) may take a datagram first; it says whether anything is left to pump.
Nothing here knows the core's internals: it uses the interface :class:`Core` describes. See docs/architecture.md.
"""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import AsyncGenerator, Callable, Iterable
from typing import Any, Protocol

from ..errors import EchonetUsageError
from ..frame import EOJ, Frame, Property, unchecked
from ..node.core import FAST_DECLINED, FAST_PUMP, Node, is_multicast
from ..node.events import (
    Addr,
    Event,
    NotificationReceived,
    PropertySet,
    RequestFinished,
    RequestTimedOut,
    ResponseReceived,
)
from .sockets import Endpoints, open_sender, open_v4, open_v6, resolve_interfaces

_AF_INET = socket.AF_INET
#: Datagrams read at once from a socket while the node's input budget refuses some (see :meth:`NodeRunner.feed`).
_DRAIN_BATCH = 64
_MAX_DATAGRAM = 0xFFFF
_FINAL_KINDS = frozenset({ResponseReceived, RequestTimedOut, RequestFinished})


class Core(Protocol):
    """What a runner drives: the sans-I/O interface of :class:`~echonet.node.Node`, which a layer wrapping a node
    (such as :class:`secure.layer.SecureLayer`) offers too."""

    @property
    def timer_serial(self) -> int: ...

    def receive_datagram(self, data: bytes, addr: Addr, now: float) -> None: ...

    def datagrams_to_send(self, now: float) -> list[tuple[bytes, Addr]]: ...

    def take_events(self) -> list[Event]: ...

    def get_timer(self) -> float | None: ...

    def handle_timer(self, now: float) -> None: ...

    def fast_receiver(
        self, answered: Callable[[int, Frame, Addr], None], send: Callable[[bytes, Addr], Any]
    ) -> Callable[[bytes, Addr, float], int]: ...

    def start_fast(
        self,
        host: str | Addr,
        deoj: EOJ,
        esv: int,
        props: Iterable[Property | int],
        now: float,
        timeout: float | None = None,
    ) -> tuple[int, bytes | None, Addr, float] | None: ...


class _Protocol(asyncio.DatagramProtocol):
    def __init__(self, runner: NodeRunner) -> None:
        self.runner = runner
        self.datagram_received = runner.feed  # type: ignore[method-assign]  # (see docs/performance.md)

    def datagram_received(self, data: bytes, addr: Addr) -> None:
        self.runner.feed(data, addr)

    def error_received(self, exc: Exception) -> None:
        self.runner.socket_errors += 1


class _Waiter:
    """Collects the events of one request until its end."""

    __slots__ = ("future", "responses")

    def __init__(self, future: asyncio.Future[Event]) -> None:
        self.future = future
        self.responses: list[ResponseReceived] = []


def _declined(data: bytes, addr: Addr, now: float) -> int:
    return FAST_DECLINED


class NodeRunner:
    """Runs a node on UDP endpoints: feeds datagrams, sends output, runs the node's timer, routes events.

    Create with :meth:`open`. ``on_event`` (attribute) is called with every event that no request waits for
    (notifications, Sets by peers, dropped datagrams) in addition to the iterators. ``fast_lane`` (settable,
    ``True`` by default) lets the core's fast lane take what it can; ``False`` sends everything through the
    general path (the reference the fast lane is tested against).
    """

    def __init__(
        self,
        node: Node,
        loop: asyncio.AbstractEventLoop | None = None,
        *,
        clock: Callable[[], float] | None = None,
        send: Callable[[bytes, Addr], None] | None = None,
    ) -> None:
        """A runner without sockets until :meth:`open` binds them. ``clock`` replaces the loop's clock and ``send``
        the sockets (a runner driven by hand: tests, simulations)."""
        self.node = node
        self.loop = loop or asyncio.get_running_loop()
        self.transports: dict[int, asyncio.DatagramTransport] = {}
        self.local_addresses: dict[int, Addr] = {}
        self.warnings: list[str] = []
        self.socket_errors = 0
        self.unroutable = 0
        self.on_event: Callable[[Event], None] | None = None
        self._waiters: dict[int, _Waiter] = {}
        #: Requests that end with one answer (unicast, one instance): the future gets the final event directly.
        self._futures: dict[int, asyncio.Future[Event]] = {}
        self._notification_queues: set[asyncio.Queue[NotificationReceived]] = set()
        self._set_queues: set[asyncio.Queue[PropertySet]] = set()
        self._timer: asyncio.TimerHandle | None = None
        self._timer_when: float | None = None
        self._timer_serial = -1
        self._flush_scheduled = False
        self._v6_scope = 0
        self._senders: dict[int, list[tuple[asyncio.DatagramTransport, int]]] = {}
        #: The one socket every IPv4 unicast datagram leaves through (no sender sockets of further interfaces).
        self._v4: asyncio.DatagramTransport | None = None
        self._closed = False
        self._tap: Callable[[str, bytes, Addr], None] | None = None
        #: The bound sockets by family, read directly while a flood is being drained (see :meth:`feed`).
        self._socks: dict[int, socket.socket] = {}
        self._draining = False
        #: Receives datagrams and timers: the node itself, or a layer wrapping it (see :meth:`use_layer`).
        self._core: Core = node
        if send is not None:
            self._sendto = send  # type: ignore[method-assign,assignment]
        self._fast_lane = True
        self._fast: Callable[[bytes, Addr, float], int] = node.fast_receiver(self._answered, self._sendto)
        # asyncio's own loop.time() is time.monotonic() behind a method call: the clock is read directly then
        plain = type(self.loop).time is asyncio.BaseEventLoop.time and "time" not in vars(self.loop)
        self._time: Callable[[], float] = clock or (time.monotonic if plain else self.loop.time)
        node.wakeup = self._wake

    @classmethod
    async def open(cls, node: Node, endpoints: Endpoints | None = None) -> NodeRunner:
        ep = endpoints or Endpoints()
        if ep.bind_v4 is None and ep.bind_v6 is None:
            raise EchonetUsageError("bind at least one of bind_v4 / bind_v6")
        runner = cls(node)
        await runner.bind(ep)
        return runner

    async def bind(self, ep: Endpoints) -> None:
        """Open the sockets of ``ep`` and the sending sockets of further interfaces (what :meth:`open` does once it
        has made the runner)."""
        ifaces = resolve_interfaces(ep.interfaces)
        if ifaces:
            self._v6_scope = ifaces[0].index
        socks: list[tuple[int, socket.socket]] = []
        try:
            if ep.bind_v4 is not None:
                socks.append((socket.AF_INET, open_v4(ep, ifaces, self.warnings)))
            if ep.bind_v6 is not None:
                socks.append((socket.AF_INET6, open_v6(ep, ifaces, self.warnings)))
        except BaseException:
            for _, s in socks:
                s.close()
            raise
        for family, sock in socks:
            transport, _ = await self.loop.create_datagram_endpoint(lambda: _Protocol(self), sock=sock)
            self.transports[family] = transport
            self.local_addresses[family] = sock.getsockname()
            self._socks[family] = sock
        # Multicast leaves through one interface per socket: one more sending socket per further interface.
        for iface in ifaces[1:]:
            for family in self.transports:
                if family == socket.AF_INET and iface.ipv4 is None:
                    continue
                try:
                    sender = open_sender(family, iface, ep)
                except OSError as exc:
                    self.warnings.append(f"cannot send multicast on {iface.name}: {exc.strerror or exc}")
                    continue
                transport, _ = await self.loop.create_datagram_endpoint(lambda: _Protocol(self), sock=sender)
                self._senders.setdefault(family, []).append((transport, iface.index))
        if not self._senders:
            self._v4 = self.transports.get(_AF_INET)

    def use_layer(self, layer: Core) -> None:
        """Route datagrams and timers through ``layer``, which wraps :attr:`node` with the node's own sans-I/O
        interface (:class:`Core`), e.g. :class:`secure.layer.SecureLayer`. Without a layer the node is driven
        directly."""
        self._core = layer
        self._bind_fast_lane()
        self._timer_serial = -1
        self._pump(self._time())

    @property
    def fast_lane(self) -> bool:
        return self._fast_lane

    @fast_lane.setter
    def fast_lane(self, on: bool) -> None:
        self._fast_lane = bool(on)
        self._bind_fast_lane()

    def _bind_fast_lane(self) -> None:
        self._fast = self._core.fast_receiver(self._answered, self._sendto) if self._fast_lane else _declined

    @property
    def closed(self) -> bool:
        return self._closed

    @property
    def waiting(self) -> int:
        """How many requests callers wait on (0 once every request ended or was given up)."""
        return len(self._futures) + len(self._waiters)

    def wiretap(self, record: Callable[[str, bytes, Addr], None]) -> None:
        """Call ``record("in" or "out", datagram, address)`` for every datagram received and sent from now on (traces
        of interop runs, debugging). Every datagram then takes one more call."""
        self._tap = record
        self._v4 = None  # (no IPv4 shortcut in _sendto: every datagram goes past the tap)
        for transport in [*self.transports.values(), *(t for senders in self._senders.values() for t, _ in senders)]:
            protocol = transport.get_protocol()
            if isinstance(protocol, _Protocol):
                protocol.datagram_received = self.feed  # type: ignore[method-assign]

    # Input and output ---------------------------------------------------------------------------------------------

    def feed(self, data: bytes, addr: Addr) -> None:
        """One received datagram (also usable to inject datagrams in tests).

        When the node's input budget refused it (a flood: ``NodeStats.rate_limited`` moved), the socket of its
        family is read at once, up to 64 datagrams, each fed here in turn: one wake-up of the event loop then
        takes many datagrams, so that a flood is drained at the speed of the node's refusal rather than of the
        loop (the datagrams of other peers waiting behind it are reached sooner, and fewer are lost when the
        socket's buffer overflows)."""
        if self._tap is not None:
            self._tap("in", data, addr)
        now = self._time()
        taken = self._fast(data, addr, now)
        if taken:
            if taken == FAST_PUMP:
                self._pump(now)
            return
        stats = self.node.stats
        limited = stats.rate_limited
        self._core.receive_datagram(data, addr, now)
        self._pump(now)
        if stats.rate_limited != limited and not self._draining and self._socks:
            self._drain(socket.AF_INET6 if ":" in addr[0] else _AF_INET)

    def _drain(self, family: int) -> None:
        """Feed what the socket of ``family`` holds, up to :data:`_DRAIN_BATCH` datagrams."""
        sock = self._socks.get(family)
        if sock is None:
            return
        self._draining = True
        try:
            recvfrom, feed = sock.recvfrom, self.feed
            for _ in range(_DRAIN_BATCH):
                if self._closed:
                    break
                try:
                    data, addr = recvfrom(_MAX_DATAGRAM)
                except (BlockingIOError, InterruptedError):
                    break
                except OSError:  # (what the transport would report to error_received)
                    self.socket_errors += 1
                    break
                feed(data, addr)
        finally:
            self._draining = False

    def _answered(self, handle: int, frame: Frame, addr: Addr) -> None:
        """The fast lane ended one-answer request ``handle`` with this answer."""
        event: ResponseReceived = unchecked(ResponseReceived, (handle, frame, addr, True, ()))
        future = self._futures.pop(handle, None)
        if future is None:
            self._route(event)
        elif not future.done():
            future.set_result(event)

    def _sendto(self, data: bytes, addr: Addr) -> None:
        host = addr[0]
        if self._v4 is not None and ":" not in host:  # IPv4 through the main socket: the common case
            try:
                self._v4.sendto(data, addr)
            except (OSError, ValueError, TypeError):
                self.socket_errors += 1
            return
        if self._tap is not None:
            self._tap("out", data, addr)
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        transport = self.transports.get(family)
        if transport is None:
            self.unroutable += 1
            return
        if self._senders and is_multicast(host):
            for sender, index in self._senders.get(family, ()):
                dest = (host, addr[1], 0, index) if family == socket.AF_INET6 else addr
                self._send_one(sender, data, dest)
        if family == socket.AF_INET6 and len(addr) == 2 and self._v6_scope and is_multicast(host):
            addr = (host, addr[1], 0, self._v6_scope)
        self._send_one(transport, data, addr)

    def _send_one(self, transport: asyncio.DatagramTransport, data: bytes, addr: Addr) -> None:
        try:
            transport.sendto(data, addr)
        except (OSError, ValueError, TypeError):  # a bad address must not lose the rest of the output
            self.socket_errors += 1

    def _pump(self, now: float) -> None:
        core = self._core
        out = core.datagrams_to_send(now)
        if out:
            sendto = self._sendto
            for data, addr in out:
                sendto(data, addr)
        events = core.take_events()
        if events:
            route = self._route
            for event in events:
                route(event)
        serial = core.timer_serial
        if serial != self._timer_serial:
            self._timer_serial = serial
            self._schedule()

    def _schedule(self) -> None:
        deadline = self._core.get_timer()
        if deadline is not None and (self._timer_when is None or deadline < self._timer_when):
            if self._timer is not None:
                self._timer.cancel()
            self._timer_when = deadline
            self._timer = self.loop.call_at(deadline, self._on_timer)

    def _on_timer(self) -> None:
        self._timer = None
        self._timer_when = None
        if self._closed:
            return
        now = self._time()
        self._core.handle_timer(now)
        self._pump(now)
        self._schedule()

    def _wake(self) -> None:
        if not self._flush_scheduled and not self._closed:
            self._flush_scheduled = True
            self.loop.call_soon(self.flush)

    def flush(self) -> None:
        """Send what the core has to send now, route its events and re-arm the timer (what every input ends with;
        the node asks for it through its ``wakeup`` when a model changed an announced value)."""
        self._flush_scheduled = False
        if not self._closed:
            self._pump(self._time())

    def _route(self, event: Event) -> None:
        if self._futures and type(event) in _FINAL_KINDS:
            future = self._futures.get(event.handle)  # type: ignore[union-attr]
            if future is not None and (type(event) is not ResponseReceived or event.final):
                del self._futures[event.handle]  # type: ignore[union-attr]
                if not future.done():
                    future.set_result(event)
                return
        if isinstance(event, ResponseReceived):
            waiter = self._waiters.get(event.handle)
            if waiter is not None:
                waiter.responses.append(event)
                if event.final:
                    self._resolve(event.handle, event)
                return
        elif isinstance(event, RequestFinished | RequestTimedOut):
            if self._resolve(event.handle, event):
                return
        elif isinstance(event, NotificationReceived):
            for queue in self._notification_queues:
                _offer(queue, event)
        elif isinstance(event, PropertySet):
            for set_queue in self._set_queues:
                _offer(set_queue, event)
        if self.on_event is not None:
            self.on_event(event)

    def _resolve(self, handle: int, event: Event) -> bool:
        waiter = self._waiters.pop(handle, None)
        if waiter is None:
            return False
        if not waiter.future.done():
            waiter.future.set_result(event)
        return True

    # Requests -----------------------------------------------------------------------------------------------------

    async def request(
        self,
        host: str | Addr,
        deoj: EOJ,
        esv: int,
        props: Iterable[Property | int] = (),
        get_props: Iterable[Property | int] = (),
        **options: Any,
    ) -> tuple[Event, list[ResponseReceived]]:
        """Send a request through the node and wait for its end: ``(final event, every answer)``."""
        if self._closed:
            raise EchonetUsageError("the runner is closed")
        now = self._time()
        handle = self.node.request(host, deoj, esv, props, get_props, now=now, **options)
        waiter = _Waiter(self.loop.create_future())
        self._waiters[handle] = waiter
        self._pump(now)
        try:
            final = await waiter.future
        finally:
            if self._waiters.pop(handle, None) is not None:
                self._cancel(handle)
        return final, waiter.responses

    async def ask(
        self,
        host: str | Addr,
        deoj: EOJ,
        esv: int,
        props: Iterable[Property | int] = (),
        get_props: Iterable[Property | int] = (),
        **options: Any,
    ) -> Event:
        """:meth:`request` for a request that ends with one answer: only its final event, without collecting."""
        if options.get("fanout"):
            final, _ = await self.request(host, deoj, esv, props, get_props, **options)
            return final
        handle, future = self.start(host, deoj, esv, props, get_props, options)
        try:
            return await future
        finally:
            self.forget(handle)

    def start(
        self,
        host: str | Addr,
        deoj: EOJ,
        esv: int,
        props: Iterable[Property | int],
        get_props: Iterable[Property | int],
        options: dict[str, Any],
    ) -> tuple[int, asyncio.Future[Event]]:
        """Send a request that ends with one answer (not a fan-out); its final event resolves the future. The
        caller calls :meth:`forget` once the future is done or given up."""
        if self._closed:
            raise EchonetUsageError("the runner is closed")
        now = self._time()
        handle = self.node.request(host, deoj, esv, props, get_props, now=now, **options)
        future: asyncio.Future[Event] = self.loop.create_future()
        self._futures[handle] = future
        self._pump(now)
        return handle, future

    def start_fast(
        self, host: str | Addr, deoj: EOJ, esv: int, props: Iterable[Property | int], timeout: float | None
    ) -> tuple[int, asyncio.Future[Event]] | None:
        """:meth:`start` through the core's fast lane (:meth:`echonet.node.Node.start_fast`): the request's datagram
        leaves at once. ``None``: nothing was done (the request does not fit the fast lane); use :meth:`start`.
        The caller calls :meth:`forget` when it gives up on the future."""
        if self._closed or not self._fast_lane:
            return None
        now = self._time()
        core = self._core
        started = core.start_fast(host, deoj, esv, props, now, timeout)
        if started is None:
            return None
        handle, data, addr, deadline = started
        future: asyncio.Future[Event] = self.loop.create_future()
        self._futures[handle] = future
        if data is None:  # the core queued it behind something of its own
            self._pump(now)
            return handle, future
        self._sendto(data, addr)
        serial, when = core.timer_serial, self._timer_when
        if serial == self._timer_serial + 1 and when is not None and deadline >= when:
            self._timer_serial = serial  # the wake-up already scheduled comes first: nothing to change
        else:
            self._timer_serial = serial
            self._schedule()
        return handle, future

    def forget(self, handle: int) -> None:
        """After :meth:`start`'s future is done or abandoned: a request still open is cancelled."""
        if self._futures.pop(handle, None) is not None:
            self._cancel(handle)

    def _cancel(self, handle: int) -> None:
        """Cancel a request its caller gave up on; what that lets go (a request queued behind it for the same
        device) leaves now rather than at the next datagram or deadline."""
        self.node.cancel(handle)
        if not self._closed:
            self._pump(self._time())

    def send_request(
        self,
        host: str | Addr,
        deoj: EOJ,
        esv: int,
        props: Iterable[Property | int] = (),
        **options: Any,
    ) -> int:
        """Send a request without waiting for anything (its events go to ``on_event``)."""
        now = self._time()
        handle = self.node.request(host, deoj, esv, props, now=now, **options)
        self._pump(now)
        return handle

    def start_node(self) -> None:
        """Announce the node (INF of 0xD5 by multicast)."""
        now = self._time()
        self.node.start(now)
        self._pump(now)

    async def notifications(self, maxsize: int = 1000) -> AsyncGenerator[NotificationReceived, None]:
        queue: asyncio.Queue[NotificationReceived] = asyncio.Queue(maxsize)
        self._notification_queues.add(queue)
        try:
            while True:
                yield await queue.get()
        finally:
            self._notification_queues.discard(queue)

    async def property_sets(self, maxsize: int = 1000) -> AsyncGenerator[PropertySet, None]:
        queue: asyncio.Queue[PropertySet] = asyncio.Queue(maxsize)
        self._set_queues.add(queue)
        try:
            while True:
                yield await queue.get()
        finally:
            self._set_queues.discard(queue)

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._v4 = None
        if self._timer is not None:
            self._timer.cancel()
        for transport in self.transports.values():
            transport.close()
        for senders in self._senders.values():
            for sender, _ in senders:
                sender.close()
        for waiter in self._waiters.values():
            if not waiter.future.done():
                waiter.future.cancel()
        self._waiters.clear()
        for future in self._futures.values():
            if not future.done():
                future.cancel()
        self._futures.clear()
        self.node.wakeup = None


def _offer(queue: asyncio.Queue[Any], item: Any) -> None:
    if not queue.full():
        queue.put_nowait(item)


__all__ = ["Core", "NodeRunner"]
