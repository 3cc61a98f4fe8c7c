"""The suite's own UDP endpoints: requests built frame by frame, every datagram kept as evidence.

The suite does not go through :class:`~echonet.aio.Controller`: it sends frames a controller never sends (EHD2
0x82, OPC 0, trailing bytes, malformed datagrams), waits for silence where silence is the right answer, and keeps
every datagram it sent and received. Like the DRready checker's overlay probe it opens its sockets itself (asyncio
datagram endpoints).

An answer is the datagram from the node's address whose TID is the request's; a datagram whose TID differs but
whose ESV answers the request is taken too (so that the other checks can still run) and the ``HEADER`` check
counts it against the node.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import socket
import struct
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, cast

from ..codec import decode, encode
from ..constants import ECHONET_PORT, MULTICAST_V4
from ..errors import FrameDecodeError
from ..frame import EOJ, ESV, Frame, Property
from ..node.config import CONTROLLER_EOJ
from ..node.core import host_key
from ..node.events import Addr
from ..spec.registry import Registry
from .report import Datagram, Exchange

if TYPE_CHECKING:
    from .overlay import LayerFactory, SecureChannel


def decoded(data: bytes) -> Frame | None:
    """The frame of ``data``, read without any bytes after its last property; ``None`` when it is not a frame."""
    try:
        return decode(data)
    except FrameDecodeError as exc:
        if exc.field == "trailing":
            try:
                return decode(data[: exc.offset])
            except FrameDecodeError:
                return None
        return None


def trailing_bytes(data: bytes) -> int:
    """How many bytes follow the last property of the frame ``data`` (0 for a whole frame, or not a frame)."""
    try:
        decode(data)
    except FrameDecodeError as exc:
        if exc.field == "trailing":
            return len(data) - exc.offset
    return 0


class _Inbox(asyncio.DatagramProtocol):
    """Keeps every datagram from the node's host, and wakes who waits."""

    def __init__(self, host: str) -> None:
        self.host = host
        self.items: list[tuple[bytes, Addr, float]] = []
        self.arrived = asyncio.Event()
        #: With the secure overlay: the channel that opens what arrives (and hands the frames to :meth:`keep`).
        self.channel: SecureChannel | None = None
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.DatagramTransport, transport)

    def datagram_received(self, data: bytes, addr: Addr) -> None:
        if host_key(str(addr[0])) == self.host:
            if self.channel is not None:
                self.channel.receive(bytes(data), addr, self.transport, self.keep)
            else:
                self.keep(bytes(data), addr)

    def keep(self, data: bytes, addr: Addr) -> None:
        """One datagram (with the overlay: one frame opened) from the node's host."""
        self.items.append((data, addr, time.monotonic()))
        self.arrived.set()

    def error_received(self, exc: Exception) -> None:
        pass


@dataclass
class Endpoint:
    """One local UDP socket of the suite."""

    transport: asyncio.DatagramTransport
    inbox: _Inbox
    local_port: int
    channel: SecureChannel | None = None

    def send(self, data: bytes, addr: Addr) -> None:
        """Send ``data`` to ``addr``: as it is, or sealed by the secure channel (from this socket)."""
        if self.channel is not None:
            self.channel.send(data, addr, self.transport)
        else:
            self.transport.sendto(data, addr)


@dataclass(frozen=True)
class Answered:
    """A request and one frame that answered it (what ``HEADER`` judges)."""

    request: Frame
    answer: Frame
    exchange: Exchange
    #: Bytes the answer carried after its last property (read without them).
    trailing: int = 0


@dataclass
class Prober:
    """Talks to one node: ``host``:``port``, from ``main`` (and other endpoints opened on demand)."""

    host: str
    port: int
    registry: Registry
    main: Endpoint
    timeout: float = 2.0
    retries: int = 1
    seoj: EOJ = CONTROLLER_EOJ
    answered: list[Answered] = field(default_factory=list)
    extra: list[Endpoint] = field(default_factory=list)
    _tid: int = 0x4C00

    @classmethod
    async def open(
        cls,
        host: str,
        port: int,
        registry: Registry,
        *,
        bind: str | None = None,
        local_port: int = 0,
        timeout: float = 2.0,
        retries: int = 1,
        overlay: LayerFactory | None = None,
    ) -> Prober:
        channel = None
        if overlay is not None:
            from .overlay import SecureChannel

            channel = SecureChannel(overlay)
        main = await open_endpoint(host, bind=bind, local_port=local_port, channel=channel)
        return cls(host, port, registry, main, timeout, retries)

    @property
    def addr(self) -> Addr:
        return (self.host, self.port)

    async def close(self) -> None:
        if self.main.channel is not None:
            self.main.channel.close()  # (the session's close record goes out first)
        for endpoint in (self.main, *self.extra):
            endpoint.transport.close()
        await asyncio.sleep(0)

    def session_error(self) -> Exception | None:
        """With the secure overlay and no session with the node: the error that says why (else ``None``)."""
        channel = self.main.channel
        if channel is None or channel.secured(self.host):
            return None
        return channel.session_error(self.host)

    def next_tid(self) -> int:
        self._tid = (self._tid + 1) & 0xFFFF
        return self._tid

    def frame(
        self,
        deoj: EOJ,
        esv: int,
        props: Iterable[Property | tuple[int, bytes]] = (),
        get_props: Iterable[Property | tuple[int, bytes]] = (),
    ) -> Frame:
        """A format-1 frame from the suite's controller object with a fresh TID."""
        return Frame.make(
            self.next_tid(),
            self.seoj,
            deoj,
            esv,
            tuple(Property(*p) for p in props),
            tuple(Property(*p) for p in get_props),
        )

    def record(self, exchange: Exchange, direction: str, data: bytes, port: int, local_port: int) -> None:
        exchange.datagrams.append(Datagram.of(direction, data, port, local_port, self.registry))

    def send_raw(self, data: bytes, exchange: Exchange, endpoint: Endpoint | None = None) -> None:
        where = endpoint or self.main
        where.send(data, self.addr)
        self.record(exchange, "sent", data, self.port, where.local_port)

    def _matches(self, request: Frame | None, frame: Frame | None, tid: int | None) -> bool:
        if frame is None:
            return False
        if tid is not None and frame.tid == tid:
            return True
        if request is None or request.esv is None or frame.esv is None:
            return False
        wanted = {e for e in (ESV_ANSWERS.get(int(request.esv), ())) if e is not None}
        return (
            int(frame.esv) in wanted
            and frame.seoj is not None
            and request.deoj is not None
            and (frame.seoj.class_id == request.deoj.class_id)
        )

    async def exchange(
        self,
        label: str,
        request: Frame | bytes,
        *,
        wait: float | None = None,
        collect: bool = False,
        retries: int | None = None,
        endpoint: Endpoint | None = None,
        watch: Sequence[Endpoint] = (),
    ) -> tuple[Exchange, list[Frame]]:
        """Send ``request`` and return the exchange and the frames that answered it.

        Without ``collect`` the first answer ends the wait (a timeout resends the same bytes ``retries`` times);
        with it every answer within ``wait`` seconds is kept (instance 0x00, silence checks). ``watch`` lists other
        endpoints whose answers count too (an answer sent to another port than the request's)."""
        where = endpoint or self.main
        data = encode(request) if isinstance(request, Frame) else bytes(request)
        frame = request if isinstance(request, Frame) else decoded(data)
        tid = frame.tid if frame is not None and frame.ehd2 == 0x81 else None
        seconds = self.timeout if wait is None else wait
        attempts = 1 + (self.retries if retries is None else retries)
        if collect:
            attempts = 1
        exchange = Exchange(label)
        answers: list[Frame] = []
        inboxes = [where, *watch]
        seen = {id(e): len(e.inbox.items) for e in inboxes}
        for attempt in range(attempts):
            exchange.attempts = attempt + 1
            self.send_raw(data, exchange, where)
            deadline = time.monotonic() + seconds
            while True:
                for e in inboxes:
                    items = e.inbox.items
                    for got, addr, _ in items[seen[id(e)] :]:
                        answer = decoded(got)
                        if self._matches(frame, answer, tid):
                            self.record(exchange, "received", got, int(addr[1]), e.local_port)
                            assert answer is not None
                            answers.append(answer)
                            if frame is not None:
                                self.answered.append(Answered(frame, answer, exchange, trailing_bytes(got)))
                    seen[id(e)] = len(items)
                if answers and not collect:
                    return exchange, answers
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                for e in inboxes:
                    e.inbox.arrived.clear()
                waiters = [asyncio.ensure_future(e.inbox.arrived.wait()) for e in inboxes]
                try:
                    await asyncio.wait(waiters, timeout=left, return_when=asyncio.FIRST_COMPLETED)
                finally:
                    for w in waiters:
                        w.cancel()
            if answers:
                break
        exchange.timed_out = not answers
        return exchange, answers

    async def other_endpoint(self) -> Endpoint:
        """A fresh socket on an ephemeral port of the main socket's address."""
        sockname = self.main.transport.get_extra_info("sockname")
        endpoint = await open_endpoint(self.host, bind=str(sockname[0]), local_port=0, channel=self.main.channel)
        self.extra.append(endpoint)
        return endpoint


#: For each request ESV, the ESVs that answer it.
ESV_ANSWERS: dict[int, tuple[ESV | None, ...]] = {
    int(e): (e.response, e.sna) for e in (ESV.SETI, ESV.SETC, ESV.GET, ESV.INF_REQ, ESV.SETGET, ESV.INFC)
}


async def open_endpoint(
    host: str, *, bind: str | None = None, local_port: int = 0, channel: SecureChannel | None = None
) -> Endpoint:
    """A UDP endpoint that keeps what ``host`` sends it; with ``channel``, through that secure channel
    (:class:`~.overlay.SecureChannel`: the endpoint keeps the frames opened). The channel's first endpoint is its
    main socket."""
    loop = asyncio.get_running_loop()
    v6 = ":" in host
    family = socket.AF_INET6 if v6 else socket.AF_INET
    local = (bind or ("::" if v6 else "0.0.0.0"), local_port)
    inbox = _Inbox(host_key(host))
    inbox.channel = channel
    transport, _ = await loop.create_datagram_endpoint(lambda: inbox, local_addr=local, family=family)
    if channel is not None and channel.transport is None:
        channel.attach(transport, inbox.keep)
    port = int(transport.get_extra_info("sockname")[1])
    return Endpoint(transport, inbox, port, channel)


@dataclass
class Announcements:
    """INF frames from the node's host heard on the multicast group (status-change announcements)."""

    inbox: _Inbox
    transport: asyncio.DatagramTransport | None
    problem: str | None = None

    def frames_since(self, index: int) -> list[tuple[bytes, Frame]]:
        out = []
        for data, _, _ in self.inbox.items[index:]:
            frame = decoded(data)
            if frame is not None:
                out.append((data, frame))
        return out

    @property
    def count(self) -> int:
        return len(self.inbox.items)

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()


async def listen_announcements(host: str, *, bind: str | None = None, port: int = ECHONET_PORT) -> Announcements:
    """Join the ECHONET Lite IPv4 group (224.0.23.0) on port ``port`` to hear the node's INFs: on the loopback
    interface for a loopback node, on the interface of ``bind`` when given, else where the kernel routes it.
    A group that cannot be joined is a ``problem`` (the checks that need it say so), not an error."""
    inbox = _Inbox(host_key(host))
    if ":" in host:
        return Announcements(inbox, None, "announcements are heard on IPv4 only (224.0.23.0)")
    ip = ipaddress.ip_address(host)
    interface = "127.0.0.1" if ip.is_loopback else (bind if bind and bind != "0.0.0.0" else "0.0.0.0")
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        with contextlib.suppress(AttributeError, OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        sock.bind((MULTICAST_V4, port))
        membership = struct.pack("4s4s", socket.inet_aton(MULTICAST_V4), socket.inet_aton(interface))
        sock.setsockopt(socket.IPPROTO_IP, socket.IP_ADD_MEMBERSHIP, membership)
        sock.setblocking(False)
        loop = asyncio.get_running_loop()
        transport, _ = await loop.create_datagram_endpoint(lambda: inbox, sock=sock)
    except OSError as exc:
        sock.close()
        return Announcements(inbox, None, f"cannot listen on {MULTICAST_V4} port {port}: {exc.strerror or exc}")
    return Announcements(inbox, transport)


__all__ = [
    "ESV_ANSWERS",
    "Announcements",
    "Answered",
    "Endpoint",
    "Prober",
    "decoded",
    "listen_announcements",
    "open_endpoint",
    "trailing_bytes",
]
