"""The asyncio adapter: UDP endpoints that run a :class:`~echonet.node.Node`, a high-level :class:`Controller` and a
:class:`DeviceServer`.

This module (with the CLI) is the only one that touches sockets and the event loop; all protocol decisions stay in
the pure core. A :class:`NodeRunner` owns the datagram endpoints (IPv4 and/or IPv6, bound where asked, joined to the
ECHONET Lite multicast groups on the chosen interfaces), feeds every datagram to the node, sends what the node
produces after each input and on the node's timer, and routes the node's events to waiting callers.

::

    async with await Controller.open(Endpoints(bind_v4="0.0.0.0")) as ctl:
        for node in await ctl.discover(window=1.0):
            ...
        result = await ctl.get("192.168.1.20", EOJ.parse("027D01"), [0x80, 0xE4])

``use_uvloop=True`` in :func:`run` uses uvloop when it is installed.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import struct
import time
from collections.abc import AsyncGenerator, Callable, Coroutine, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Self, TypeVar

from .errors import EchonetTimeoutError, EchonetUsageError, ValueDecodeError
from .frame import EOJ, ESV, Frame, Property
from .node.config import NODE_PROFILE_EOJ, NodeConfig
from .node.core import Node, host_key, is_multicast
from .node.device import DeviceObject
from .node.events import (
    Addr,
    Event,
    NotificationReceived,
    PropertySet,
    RequestFinished,
    RequestTimedOut,
    ResponseReceived,
    answer_values,
    refused_epcs,
)
from .propmap import decode_instance_list, decode_property_map

T = TypeVar("T")

_GET_MAPS = (0x9D, 0x9E, 0x9F)
_GET, _GET_RES = ESV.GET, ESV.GET_RES
_new_object = object.__new__
_new_tuple = tuple.__new__
_AF_INET = socket.AF_INET
_FINAL_KINDS = frozenset({ResponseReceived, RequestTimedOut, RequestFinished})


# Event loop ---------------------------------------------------------------------------------------------------------


def new_event_loop(use_uvloop: bool = False) -> asyncio.AbstractEventLoop:
    """A new event loop: uvloop's when requested and installed, asyncio's otherwise."""
    if use_uvloop:
        try:
            import uvloop
        except ImportError:
            pass
        else:
            loop: asyncio.AbstractEventLoop = uvloop.new_event_loop()
            return loop
    return asyncio.new_event_loop()


def run(main: Coroutine[Any, Any, T], *, use_uvloop: bool = False) -> T:
    """Run a coroutine to completion on a new loop (uvloop's when requested and installed)."""
    with asyncio.Runner(loop_factory=lambda: new_event_loop(use_uvloop)) as runner:
        return runner.run(main)


# Endpoints ----------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Endpoints:
    """Where a node's sockets bind and which multicast groups they join.

    * ``bind_v4`` / ``bind_v6``: local address per family (``None`` disables the family). Binding to the wildcard
      (``0.0.0.0`` / ``::``) receives multicast; binding to one's own loopback address (``127.0.0.2``) lets two
      stacks share port 3610 on one host (unicast only).
    * ``port``: 3610, or 0 for an ephemeral port.
    * ``interfaces``: interface names or addresses (see :mod:`echonet.netif`) on which to join the groups and out
      of which to send multicast (the first through the main socket, each further one through a sending socket of
      its own); empty: the system's choice.
    * ``join_multicast``: ``None`` joins when bound to the wildcard address.
    * ``multicast_loop``: receive our own multicast (needed for two stacks on one host).
    * ``reuse_address``: SO_REUSEADDR; ``None`` sets it for wildcard binds only (several programs may then share
      port 3610 for multicast), so that a second bind of the same unicast address fails loudly instead of
      silently splitting the traffic.
    * ``rcvbuf``: socket receive buffer to ask for (bursts of answers to a discovery or a flood need room; the
      kernel caps it at ``net.core.rmem_max``).
    """

    bind_v4: str | None = "0.0.0.0"
    bind_v6: str | None = None
    port: int = 3610
    interfaces: tuple[str, ...] = ()
    join_multicast: bool | None = None
    multicast_loop: bool = True
    multicast_hops: int = 1
    reuse_address: bool | None = None
    reuse_port: bool = False
    rcvbuf: int | None = 1 << 20
    group_v4: str = "224.0.23.0"
    group_v6: str = "ff02::1"


@dataclass(frozen=True)
class _Iface:
    name: str
    index: int
    ipv4: str | None


def _resolve_interfaces(specs: Sequence[str]) -> list[_Iface]:
    if not specs:
        return []
    from . import netif

    out = []
    for spec in specs:
        iface = netif.select(spec)
        out.append(_Iface(iface.name, iface.index, iface.ipv4[0] if iface.ipv4 else None))
    return out


def _common_options(sock: socket.socket, ep: Endpoints, wildcard: bool) -> None:
    if ep.reuse_address if ep.reuse_address is not None else wildcard:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if ep.reuse_port and hasattr(socket, "SO_REUSEPORT"):
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    if ep.rcvbuf:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, ep.rcvbuf)


def _open_v4(ep: Endpoints, ifaces: list[_Iface], warnings: list[str]) -> socket.socket:
    assert ep.bind_v4 is not None
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        _common_options(sock, ep, ep.bind_v4 in ("0.0.0.0", "", ep.group_v4))
        sock.bind((ep.bind_v4, ep.port))
        sock.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_LOOP, int(ep.multicast_loop))
        sock.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_TTL, ep.multicast_hops)
        addresses = [i.ipv4 for i in ifaces if i.ipv4] or ["0.0.0.0"]
        if ifaces and addresses[0] != "0.0.0.0":
            sock.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_IF, socket.inet_aton(addresses[0]))
        join = ep.join_multicast if ep.join_multicast is not None else ep.bind_v4 in ("0.0.0.0", "", ep.group_v4)
        if join:
            for address in addresses:
                mreq = socket.inet_aton(ep.group_v4) + socket.inet_aton(address)
                try:
                    sock.setsockopt(socket.IPPROTO_IP, socket.IP_ADD_MEMBERSHIP, mreq)
                except OSError as exc:
                    warnings.append(f"cannot join {ep.group_v4} on {address}: {exc.strerror or exc}")
        sock.setblocking(False)
    except BaseException:
        sock.close()
        raise
    return sock


def _open_v6(ep: Endpoints, ifaces: list[_Iface], warnings: list[str]) -> socket.socket:
    assert ep.bind_v6 is not None
    sock = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
    try:
        host, _, scope = ep.bind_v6.partition("%")
        _common_options(sock, ep, host in ("::", "", ep.group_v6))
        sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
        scope_id = (int(scope) if scope.isdigit() else socket.if_nametoindex(scope)) if scope else 0
        sock.bind((host, ep.port, 0, scope_id))
        sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_LOOP, int(ep.multicast_loop))
        sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_HOPS, ep.multicast_hops)
        indexes = [i.index for i in ifaces] or [0]
        if ifaces:
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_IF, struct.pack("@I", indexes[0]))
        join = ep.join_multicast if ep.join_multicast is not None else host in ("::", "", ep.group_v6)
        if join:
            group = socket.inet_pton(socket.AF_INET6, ep.group_v6)
            for index in indexes:
                try:
                    sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_JOIN_GROUP, group + struct.pack("@I", index))
                except OSError as exc:
                    warnings.append(f"cannot join {ep.group_v6} on interface index {index}: {exc.strerror or exc}")
        sock.setblocking(False)
    except BaseException:
        sock.close()
        raise
    return sock


def _open_sender(family: int, iface: _Iface, ep: Endpoints) -> socket.socket:
    """A socket that sends multicast out of one more interface (answers to it come back on its own port)."""
    sock = socket.socket(family, socket.SOCK_DGRAM)
    try:
        if family == socket.AF_INET:
            assert iface.ipv4 is not None
            sock.bind((iface.ipv4, 0))
            sock.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_IF, socket.inet_aton(iface.ipv4))
            sock.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_LOOP, int(ep.multicast_loop))
            sock.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_TTL, ep.multicast_hops)
        else:
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            sock.bind(("::", 0))
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_IF, struct.pack("@I", iface.index))
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_LOOP, int(ep.multicast_loop))
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_HOPS, ep.multicast_hops)
        sock.setblocking(False)
    except BaseException:
        sock.close()
        raise
    return sock


class _Protocol(asyncio.DatagramProtocol):
    def __init__(self, runner: NodeRunner) -> None:
        self.runner = runner
        self.datagram_received = runner.feed  # type: ignore[method-assign]  # (one call less per datagram)

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


class NodeRunner:
    """Runs a node on UDP endpoints: feeds datagrams, sends output, runs the node's timer, routes events.

    Create with :meth:`open`. ``on_event`` (attribute) is called with every event that no request waits for
    (notifications, Sets by peers, dropped datagrams) in addition to the iterators.
    """

    def __init__(self, node: Node, loop: asyncio.AbstractEventLoop | None = None) -> None:
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
        #: Gets of the fast lane (:meth:`Controller.get`): the future gets the result when the fast lane ends the
        #: request, else its final event.
        self._gets: dict[int, asyncio.Future[GetResult | Event]] = {}
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
        #: Receives datagrams and timers: the node itself, or a layer wrapping it (see :meth:`use_layer`).
        self._core: Any = node
        # asyncio's own loop.time() is time.monotonic() behind a method call: the clock is read directly then
        plain = type(self.loop).time is asyncio.BaseEventLoop.time and "time" not in vars(self.loop)
        self._time: Callable[[], float] = time.monotonic if plain else self.loop.time
        node.wakeup = self._wake

    @classmethod
    async def open(cls, node: Node, endpoints: Endpoints | None = None) -> NodeRunner:
        ep = endpoints or Endpoints()
        if ep.bind_v4 is None and ep.bind_v6 is None:
            raise EchonetUsageError("bind at least one of bind_v4 / bind_v6")
        runner = cls(node)
        ifaces = _resolve_interfaces(ep.interfaces)
        if ifaces:
            runner._v6_scope = ifaces[0].index
        socks: list[tuple[int, socket.socket]] = []
        try:
            if ep.bind_v4 is not None:
                socks.append((socket.AF_INET, _open_v4(ep, ifaces, runner.warnings)))
            if ep.bind_v6 is not None:
                socks.append((socket.AF_INET6, _open_v6(ep, ifaces, runner.warnings)))
        except BaseException:
            for _, s in socks:
                s.close()
            raise
        for family, sock in socks:
            transport, _ = await runner.loop.create_datagram_endpoint(lambda: _Protocol(runner), sock=sock)
            runner.transports[family] = transport
            runner.local_addresses[family] = sock.getsockname()
        # Multicast leaves through one interface per socket: one more sending socket per further interface.
        for iface in ifaces[1:]:
            for family in runner.transports:
                if family == socket.AF_INET and iface.ipv4 is None:
                    continue
                try:
                    sender = _open_sender(family, iface, ep)
                except OSError as exc:
                    runner.warnings.append(f"cannot send multicast on {iface.name}: {exc.strerror or exc}")
                    continue
                transport, _ = await runner.loop.create_datagram_endpoint(lambda: _Protocol(runner), sock=sender)
                runner._senders.setdefault(family, []).append((transport, iface.index))
        if not runner._senders:
            runner._v4 = runner.transports.get(_AF_INET)
        return runner

    def use_layer(self, layer: Any) -> None:
        """Route datagrams and timers through ``layer``, which wraps :attr:`node` with the node's own sans-I/O
        interface (``receive_datagram``, ``datagrams_to_send``, ``get_timer``, ``handle_timer``, ``timer_serial``),
        e.g. :class:`secure.session.SecureLayer`. Without a layer the node is driven directly."""
        self._core = layer
        self._timer_serial = -1
        self._pump(self.loop.time())

    def wiretap(self, record: Callable[[str, bytes, Addr], None]) -> None:
        """Call ``record("in" or "out", datagram, address)`` for every datagram received and sent from now on (traces
        of interop runs, debugging). Every datagram then takes one more call, and every send the general path."""
        feed, sendto = self.feed, self._sendto

        def tapped_feed(data: bytes, addr: Addr) -> None:
            record("in", data, addr)
            feed(data, addr)

        def tapped_sendto(data: bytes, addr: Addr) -> None:
            record("out", data, addr)
            sendto(data, addr)

        self.feed = tapped_feed  # type: ignore[method-assign]
        self._sendto = tapped_sendto  # type: ignore[method-assign]
        self._v4 = None  # (no send inline: all through _sendto)
        for transport in [*self.transports.values(), *(t for senders in self._senders.values() for t, _ in senders)]:
            protocol = transport.get_protocol()
            if isinstance(protocol, _Protocol):
                protocol.datagram_received = tapped_feed  # type: ignore[method-assign]

    # Input and output ---------------------------------------------------------------------------------------------

    def feed(self, data: bytes, addr: Addr) -> None:
        """One received datagram (also usable to inject datagrams in tests)."""
        node = self.node
        if self._core is node:  # the node's fast lane (see Node.take_answer and Node.answer_repeat)
            # Between two calls of the runner the node has nothing to send, no event and no new deadline (every
            # call ends with _pump, or is one of these): only what the fast call itself did needs looking at.
            if node._pending:  # the awaited answer to a one-answer request ends it before anything else
                now = self._time()
                taken = node.take_answer(data, addr, now)
                if taken is not None:
                    handle, frame = taken
                    get = self._gets.pop(handle, None)
                    if get is not None:
                        if not get.done():
                            get.set_result(_result(frame, addr, frame[3]))  # (a Get_Res: see take_answer)
                    else:
                        self._answered(handle, frame, addr)
                    if node._out:  # (requests queued behind the one that ended)
                        self._pump(now)
                    return
            elif node._answers:  # a Get answered before: the same answer, its TID patched in
                answer = node.answer_repeat(data, addr)
                if answer is not None:  # (and the node changed nothing but its counters)
                    data, addr = answer
                    if self._v4 is not None and ":" not in addr[0]:  # (_sendto's common case inline)
                        try:
                            self._v4.sendto(data, addr)
                        except (OSError, ValueError, TypeError):
                            self.socket_errors += 1
                    else:
                        self._sendto(data, addr)
                    return
        now = self._time()
        self._core.receive_datagram(data, addr, now)
        self._pump(now)

    def _answered(self, handle: int, frame: Frame, addr: Addr) -> None:
        """The final answer to a request of the fast lane that no :meth:`Controller.get` waits for."""
        event: ResponseReceived = _new_tuple(ResponseReceived, (handle, frame, addr, True, ()))
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
        node, core = self.node, self._core
        out = core.datagrams_to_send(now)
        if out:
            sendto = self._sendto
            for data, addr in out:
                sendto(data, addr)
        if node._events:
            route = self._route
            for event in node.take_events():
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
        now = self.loop.time()
        self._core.handle_timer(now)
        self._pump(now)
        self._schedule()

    def _wake(self) -> None:
        if not self._flush_scheduled and not self._closed:
            self._flush_scheduled = True
            self.loop.call_soon(self._flush)

    def _flush(self) -> None:
        self._flush_scheduled = False
        if not self._closed:
            self._pump(self.loop.time())

    def _route(self, event: Event) -> None:
        if self._gets and type(event) in _FINAL_KINDS:  # a fast-lane Get that the general path ended
            get = self._gets.get(event.handle)  # type: ignore[union-attr]
            if get is not None and (type(event) is not ResponseReceived or event.final):
                del self._gets[event.handle]  # type: ignore[union-attr]
                if not get.done():
                    get.set_result(event)
                return
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
        now = self.loop.time()
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

    async def _ask(
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
        handle, future = self._start(host, deoj, esv, props, get_props, options)
        try:
            return await future
        finally:
            self._forget(handle)

    def _start(
        self,
        host: str | Addr,
        deoj: EOJ,
        esv: int,
        props: Iterable[Property | int],
        get_props: Iterable[Property | int],
        options: dict[str, Any],
    ) -> tuple[int, asyncio.Future[Event]]:
        """Send a request that ends with one answer (not a fan-out); its final event resolves the future."""
        if self._closed:
            raise EchonetUsageError("the runner is closed")
        loop = self.loop
        now = loop.time()
        handle = self.node.request(host, deoj, esv, props, get_props, now=now, **options)
        future: asyncio.Future[Event] = loop.create_future()
        self._futures[handle] = future
        self._pump(now)
        return handle, future

    def _forget(self, handle: int) -> None:
        """After :meth:`_start`'s future is done or abandoned: a request still open is cancelled."""
        if self._futures.pop(handle, None) is not None:
            self._cancel(handle)

    def _cancel(self, handle: int) -> None:
        """Cancel a request its caller gave up on; what that lets go (a request queued behind it for the same
        device) leaves now rather than at the next datagram or deadline."""
        node = self.node
        node.cancel(handle)
        if (node._send_later or node._out) and not self._closed:
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
        now = self.loop.time()
        handle = self.node.request(host, deoj, esv, props, now=now, **options)
        self._pump(now)
        return handle

    def start_node(self) -> None:
        """Announce the node (INF of 0xD5 by multicast)."""
        now = self.loop.time()
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
        for get in self._gets.values():
            if not get.done():
                get.cancel()
        self._gets.clear()
        self.node.wakeup = None


def _offer(queue: asyncio.Queue[Any], item: Any) -> None:
    if not queue.full():
        queue.put_nowait(item)


# Results ------------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class GetResult:
    """Values read from one object; ``refused`` EPCs came back with PDC=0 (a Get_SNA keeps the values it carries),
    ``unanswered`` EPCs of a split Get got no answer at all."""

    addr: Addr
    eoj: EOJ
    values: Mapping[int, bytes]
    refused: tuple[int, ...] = ()
    unanswered: tuple[int, ...] = ()
    frame: Frame | None = None

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
    got no answer (its success is silent)."""

    addr: Addr
    eoj: EOJ
    refused: tuple[int, ...] = ()
    confirmed: bool = True
    frame: Frame | None = None

    @property
    def ok(self) -> bool:
        return not self.refused


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


def _result(frame: Frame, addr: Addr, eoj: EOJ | None) -> GetResult:
    """The result of a Get_Res that answers every EPC asked (the common answer; for the fast lane's answers, which
    are always that, ``eoj`` is their SEOJ, never ``None``)."""
    global _last_values
    props = frame[6]
    last = _last_values
    if last[0] is props:  # the same answer as last time (the fast lane's answer memo shares its properties)
        values = last[1].copy()
    else:
        values = {p[0]: p[1] for p in props}  # faster than dict() of NamedTuples
        _last_values = (props, values.copy())
    result: GetResult = _new_object(GetResult)
    # A frozen dataclass's __init__ costs one object.__setattr__ per field: the fields go into its __dict__.
    fields = result.__dict__
    fields["addr"] = addr
    fields["eoj"] = eoj
    fields["values"] = values
    fields["refused"] = fields["unanswered"] = ()
    fields["frame"] = frame
    return result


def _get_result(event: ResponseReceived, eoj: EOJ) -> GetResult:
    frame = event[1]
    if frame[5] == _GET_RES and not event[4]:  # the common answer (ESV Get_Res, nothing unanswered): every value
        return _result(frame, event[2], frame[3] or eoj)
    return GetResult(
        event.addr,
        frame.seoj or eoj,
        answer_values(frame),
        refused_epcs(frame),
        event.unanswered,
        frame,
    )


def _sna_split(frame: Frame) -> tuple[tuple[int, ...], tuple[int, ...]]:
    if frame.esv != ESV.SETGET_SNA:
        return (), ()
    return (
        tuple(p.epc for p in frame.properties if p.edt),
        tuple(p.epc for p in frame.get_properties if not p.edt),
    )


def _bitmap_epcs(edt: bytes) -> frozenset[int] | None:
    """The EPCs of a 17-byte property-map bitmap whatever its count byte says (uecho always writes 16), or None
    when ``edt`` is not a bitmap."""
    if len(edt) != 17 or edt[0] < 16:
        return None
    return frozenset(0x80 + 0x10 * bit + low for low in range(16) for bit in range(8) if edt[low + 1] & (1 << bit))


def _answer_of(final: Event) -> ResponseReceived:
    """The answer that ended a one-answer request; :class:`EchonetTimeoutError` when it timed out instead."""
    if isinstance(final, RequestTimedOut):
        raise EchonetTimeoutError(final.addr, final.deoj, final.esv, final.attempts)
    assert isinstance(final, ResponseReceived)
    return final


def _props_of(props: Mapping[int, bytes] | Iterable[Property | tuple[int, bytes]]) -> list[Property]:
    items = props.items() if isinstance(props, Mapping) else props
    return [Property(epc, bytes(edt)) for epc, edt in items]


# Controller ---------------------------------------------------------------------------------------------------------


class _Opened:
    """What a controller and a device server share: a :class:`NodeRunner` that closes with them."""

    def __init__(self, runner: NodeRunner) -> None:
        self.runner = runner
        self.node = runner.node

    async def close(self) -> None:
        self.runner.close()
        await asyncio.sleep(0)

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()


class Controller(_Opened):
    """High-level async controller over a :class:`NodeRunner`."""

    @classmethod
    async def open(
        cls,
        endpoints: Endpoints | None = None,
        *,
        config: NodeConfig | None = None,
        node: Node | None = None,
    ) -> Controller:
        """Open sockets for a controller node (a node profile and no device object unless ``node`` has some)."""
        if node is None:
            node = Node(config=config)
        return cls(await NodeRunner.open(node, endpoints))

    @staticmethod
    def _unicast(host: str | Addr, eoj: EOJ, what: str) -> None:
        ip = host if isinstance(host, str) else host[0]
        if eoj.instance == 0 or is_multicast(ip):
            raise EchonetUsageError(f"{what} addresses one object: use get_all() for instance 0x00 or multicast")

    async def get(
        self, host: str | Addr, eoj: EOJ, epcs: Iterable[int], *, timeout: float | None = None, **options: Any
    ) -> GetResult:
        """Get properties of one object; raises :class:`EchonetTimeoutError` when it does not answer."""
        runner = self.runner
        node = runner.node
        if not options and runner._core is node and not runner._closed and not node._out:
            # The node's fast lane (Node.start_fast): the request's bytes come back and go straight out.
            started = node.start_fast(host, eoj, _GET, epcs, runner._time(), timeout)
            if started is not None:
                handle, data, addr, deadline = started
                if runner._v4 is not None and ":" not in addr[0]:  # (NodeRunner._sendto's common case inline)
                    try:
                        runner._v4.sendto(data, addr)
                    except (OSError, ValueError, TypeError):
                        runner.socket_errors += 1
                else:
                    runner._sendto(data, addr)
                waiting: asyncio.Future[GetResult | Event] = runner.loop.create_future()
                gets = runner._gets
                gets[handle] = waiting
                serial, when = node._timer_seq, runner._timer_when
                if serial == runner._timer_serial + 1 and when is not None and deadline >= when:
                    runner._timer_serial = serial  # the wake-up already scheduled comes first: nothing to change
                else:
                    runner._timer_serial = serial
                    runner._schedule()
                try:
                    outcome = await waiting  # (whoever resolves it has taken it out of the runner's gets)
                except BaseException:
                    if gets.pop(handle, None) is not None:
                        runner._cancel(handle)
                    raise
                if isinstance(outcome, GetResult):  # ended by the fast lane
                    return outcome
                return _get_result(_answer_of(outcome), eoj)  # (else ended by the general path: its final event)
        self._unicast(host, eoj, "get()")
        if options.get("fanout"):
            final = await runner._ask(host, eoj, _GET, list(epcs), timeout=timeout, **options)
        else:  # _ask inlined: one coroutine less on the hot path
            options["timeout"] = timeout
            handle, future = runner._start(host, eoj, _GET, list(epcs), (), options)
            try:
                final = await future
            finally:
                runner._forget(handle)
        return _get_result(_answer_of(final), eoj)

    async def get_all(
        self, host: str | Addr, eoj: EOJ, epcs: Iterable[int], *, timeout: float | None = None, **options: Any
    ) -> list[GetResult]:
        """Get from every object that answers within the window (instance 0x00 and/or a multicast address)."""
        final, responses = await self.runner.request(
            host, eoj, ESV.GET, list(epcs), timeout=timeout, fanout=True, **options
        )
        if isinstance(final, RequestTimedOut):
            return []
        return [_get_result(r, eoj) for r in responses]

    async def set(
        self,
        host: str | Addr,
        eoj: EOJ,
        props: Mapping[int, bytes] | Iterable[Property | tuple[int, bytes]],
        *,
        confirm: bool = True,
        wait_sna: bool = False,
        timeout: float | None = None,
        **options: Any,
    ) -> SetResult:
        """SetC (``confirm=True``: waits for Set_Res / SetC_SNA) or SetI (returns at once, or after the window
        when ``wait_sna`` to catch a SetI_SNA)."""
        self._unicast(host, eoj, "set()")
        items = _props_of(props)
        if not confirm:
            if not wait_sna:
                handle = self.runner.send_request(host, eoj, ESV.SETI, items, timeout=timeout, **options)
                del handle
                return SetResult(_addr(host, self.node), eoj, (), False, None)
            final, responses = await self.runner.request(host, eoj, ESV.SETI, items, timeout=timeout, **options)
            if responses:
                frame = responses[0].frame
                return SetResult(responses[0].addr, eoj, refused_epcs(frame), True, frame)
            return SetResult(_addr(host, self.node), eoj, (), False, None)
        final = _answer_of(await self.runner._ask(host, eoj, ESV.SETC, items, timeout=timeout, **options))
        return SetResult(final.addr, final.frame.seoj or eoj, refused_epcs(final.frame), True, final.frame)

    async def setget(
        self,
        host: str | Addr,
        eoj: EOJ,
        props: Mapping[int, bytes] | Iterable[Property | tuple[int, bytes]],
        epcs: Iterable[int],
        *,
        timeout: float | None = None,
        **options: Any,
    ) -> SetGetResult:
        self._unicast(host, eoj, "setget()")
        final = _answer_of(
            await self.runner._ask(host, eoj, ESV.SETGET, _props_of(props), list(epcs), timeout=timeout, **options)
        )
        frame = final.frame
        refused_set, refused_get = _sna_split(frame)
        return SetGetResult(final.addr, frame.seoj or eoj, answer_values(frame), refused_set, refused_get, frame)

    async def inf_req(
        self, host: str | Addr, eoj: EOJ, epcs: Iterable[int], *, timeout: float | None = None, **options: Any
    ) -> GetResult:
        """Ask for a notification (INF_REQ); the INF (or INF_SNA) comes back as a :class:`GetResult`."""
        self._unicast(host, eoj, "inf_req()")
        final = await self.runner._ask(host, eoj, ESV.INF_REQ, list(epcs), timeout=timeout, **options)
        return _get_result(_answer_of(final), eoj)

    def notifications(self, maxsize: int = 1000) -> AsyncGenerator[NotificationReceived, None]:
        """INF and INFC received from now on (new ones are dropped while ``maxsize`` are waiting)."""
        return self.runner.notifications(maxsize)

    async def discover(
        self,
        *,
        window: float = 1.0,
        rescans: int = 2,
        targets: Sequence[str | Addr] | None = None,
        read_maps: bool = True,
        include_self: bool = False,
        concurrency: int = 16,
    ) -> list[DiscoveredNode]:
        """Find nodes: Get of node-profile 0xD6 to the multicast groups (or ``targets``), over ``window`` seconds,
        ``1 + rescans`` rounds; then read each node's 0x83 / 0x8A / 0x82 and, with ``read_maps``, the property maps
        of every object. Nodes are deduplicated by identification number; nodes without one appear once per
        address. A node's ``address`` is its IP with the port it was asked on, not the source port of its answer.
        A property-map bitmap whose count byte disagrees with its bits is read from its bits (and reported in the
        object's ``error``)."""
        if targets is None:
            targets = self._groups()
        responders: dict[str, tuple[Addr, EOJ, tuple[EOJ, ...]]] = {}
        for _ in range(1 + rescans):
            rounds = [
                self.runner.request(t, NODE_PROFILE_EOJ, ESV.GET, [0xD6], timeout=window, retries=0, fanout=True)
                for t in targets
            ]
            for target, (_, responses) in zip(targets, await asyncio.gather(*rounds), strict=True):
                # A node listens where it was asked (3610), whatever port its answer came from (DESIGN 3): the
                # npm echonet-lite stack answers from 23610 and hears nothing there.
                port = self.node.config.port if isinstance(target, str) else target[1]
                for response in responses:
                    peer = host_key(response.addr[0])
                    if peer in responders:
                        continue
                    edt = answer_values(response.frame).get(0xD6)
                    try:
                        instances = decode_instance_list(edt).eojs if edt else ()
                    except ValueDecodeError:
                        instances = ()
                    addr = (response.addr[0], port, *response.addr[2:])
                    responders[peer] = (addr, response.frame.seoj or NODE_PROFILE_EOJ, instances)
        limit = asyncio.Semaphore(concurrency)

        async def identify(addr: Addr, profile: EOJ) -> GetResult | None:
            async with limit:
                try:
                    return await self.get(addr, profile, [0x83, 0x8A, 0x82], split=False)
                except EchonetTimeoutError:
                    return None

        infos = await asyncio.gather(*(identify(a, p) for a, p, _ in responders.values()))
        own = self.node.profile.identification
        nodes: dict[bytes | str, dict[str, Any]] = {}
        for (addr, _, instances), info in zip(responders.values(), infos, strict=True):
            values = info.values if info is not None else {}
            ident = values.get(0x83)
            if ident is not None and len(ident) != 17:
                ident = None
            if ident == own and not include_self:
                continue
            key: bytes | str = ident if ident is not None else host_key(addr[0])
            entry = nodes.get(key)
            if entry is None:
                nodes[key] = {
                    "address": addr,
                    "addresses": [str(addr[0])],
                    "identification": ident,
                    "maker_code": values.get(0x8A),
                    "version": values.get(0x82),
                    "instances": instances,
                }
            elif str(addr[0]) not in entry["addresses"]:
                entry["addresses"].append(str(addr[0]))
        result = []
        for entry in nodes.values():
            objects: tuple[DiscoveredObject, ...] = ()
            if read_maps:
                eojs = (NODE_PROFILE_EOJ, *entry["instances"])
                objects = tuple(await asyncio.gather(*(self._read_maps(entry["address"], e, limit) for e in eojs)))
            result.append(
                DiscoveredNode(
                    entry["address"],
                    tuple(entry["addresses"]),
                    entry["identification"],
                    entry["maker_code"],
                    entry["version"],
                    tuple(entry["instances"]),
                    objects,
                )
            )
        return result

    async def _read_maps(self, addr: Addr, eoj: EOJ, limit: asyncio.Semaphore) -> DiscoveredObject:
        async with limit:
            try:
                result = await self.get(addr, eoj, _GET_MAPS)
            except EchonetTimeoutError as exc:
                return DiscoveredObject(eoj, error=str(exc))
        maps: list[frozenset[int] | None] = []
        errors = []
        for epc in _GET_MAPS:
            edt = result.values.get(epc)
            try:
                maps.append(decode_property_map(edt) if edt else None)
            except ValueDecodeError as exc:
                assert edt is not None
                maps.append(_bitmap_epcs(edt))
                errors.append(f"0x{epc:02X}: {exc}" + ("" if maps[-1] is None else " (the bitmap's EPCs are used)"))
            if edt is None:
                errors.append(f"0x{epc:02X} not readable")
        return DiscoveredObject(eoj, maps[2], maps[1], maps[0], "; ".join(errors) or None)

    def _groups(self) -> list[str | Addr]:
        cfg = self.node.config
        groups: list[str | Addr] = []
        if socket.AF_INET in self.runner.transports and cfg.multicast_v4:
            groups.append(cfg.multicast_v4)
        if socket.AF_INET6 in self.runner.transports and cfg.multicast_v6:
            groups.append(cfg.multicast_v6)
        return groups


def _addr(host: str | Addr, node: Node) -> Addr:
    return (host, node.config.port) if isinstance(host, str) else tuple(host)


# Device server ------------------------------------------------------------------------------------------------------


class DeviceServer(_Opened):
    """Hosts device objects on UDP endpoints and announces them (INF of 0xD5) once open."""

    @classmethod
    async def open(
        cls,
        objects: Node | Iterable[DeviceObject],
        endpoints: Endpoints | None = None,
        *,
        config: NodeConfig | None = None,
        start: bool = True,
    ) -> DeviceServer:
        node = objects if isinstance(objects, Node) else Node(objects, config=config)
        server = cls(await NodeRunner.open(node, endpoints))
        if start:
            server.runner.start_node()
        return server

    def property_sets(self, maxsize: int = 1000) -> AsyncGenerator[PropertySet, None]:
        """Sets accepted from peers, from now on."""
        return self.runner.property_sets(maxsize)

    @property
    def dropped(self) -> int:
        return self.node.stats.dropped


async def serve(
    objects: Node | Iterable[DeviceObject], endpoints: Endpoints | None = None, **options: Any
) -> DeviceServer:
    """Shorthand for :meth:`DeviceServer.open`."""
    return await DeviceServer.open(objects, endpoints, **options)


__all__ = [
    "Controller",
    "DeviceServer",
    "DiscoveredNode",
    "DiscoveredObject",
    "EchonetTimeoutError",
    "Endpoints",
    "GetResult",
    "NodeRunner",
    "SetGetResult",
    "SetResult",
    "new_event_loop",
    "run",
    "serve",
]
