"""The suite through the secure overlay (``echonet conformance HOST --secure``).

A :class:`SecureChannel` puts one of the suite's UDP endpoints behind a :class:`secure.layer.core.SecureLayer`
(the sans-I/O overlay of ``secure``): what the suite sends, odd frames and malformed datagrams included, is sealed
in a data record of the session (the handshake starts with the first request), and what comes back is opened; the
suite sees, and keeps as evidence, the ECHONET Lite frames inside. So every check judges the node behind the
overlay. The layer is the caller's (``make_layer``, e.g. from an identity directory: see
:mod:`echonet.cli.secure_support`). The suite's sockets share one channel, so one session: a record sent from the
second socket of ``REPLY-PORT`` moves the session to that port on the node's side (the overlay's rule for a peer that
moved), so the answer shows which port the node answers; the next record from the main socket moves it back. A second
handshake from that port would have the node retire the first session instead.

The adapter does three things: it hands each datagram from the node's host to the layer, sends what the layer wants
sent (on the socket the traffic came in or went out on), and keeps one ``call_at`` timer armed at the layer's next
deadline.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from ..node import Node
from ..node.config import NodeConfig
from ..node.events import Addr

if TYPE_CHECKING:
    from secure.layer.core import SecureLayer

#: Builds the layer that wraps a node (the suite's sink, below): ``SecureLayer(node, config, policy=..., audit=...)``.
LayerFactory = Callable[[Node], "SecureLayer"]


class _Sink(Node):
    """The node behind the suite's layer: every frame the layer opens goes to the suite (``deliver``) and then to
    the node, which answers a request made to it as a controller node does (the node's own answers are sealed)."""

    def __init__(self, deliver: Callable[[bytes, Addr], None], config: NodeConfig | None = None) -> None:
        super().__init__(config=config)
        self.deliver = deliver

    def receive_datagram(self, data: bytes, addr: Addr, now: float) -> None:
        self.deliver(bytes(data), addr)
        super().receive_datagram(data, addr, now)


class SecureChannel:
    """The suite's datagrams through one secure layer. Each opened frame goes to the ``keep`` of the socket it came
    in on (the main socket's when the layer hands one over on a timer)."""

    def __init__(self, make_layer: LayerFactory) -> None:
        self._keep: Callable[[bytes, Addr], None] | None = None
        self.node = _Sink(self._deliver)
        self.layer = make_layer(self.node)
        self.transport: asyncio.DatagramTransport | None = None
        self.keep: Callable[[bytes, Addr], None] | None = None
        self._loop = asyncio.get_running_loop()
        self._timer: asyncio.TimerHandle | None = None
        self._armed: float | None = None

    def attach(self, transport: asyncio.DatagramTransport, keep: Callable[[bytes, Addr], None]) -> None:
        """The main socket: where the layer's own datagrams go out, and who keeps the frames it opens."""
        self.transport = transport
        self.keep = keep

    def _deliver(self, data: bytes, addr: Addr) -> None:
        keep = self._keep or self.keep
        if keep is not None:
            keep(data, addr)

    def send(self, data: bytes, addr: Addr, transport: asyncio.DatagramTransport | None = None) -> None:
        """Seal ``data`` (any bytes: the node behind the overlay judges them) for ``addr`` and send what can go, on
        ``transport`` (the main socket by default)."""
        self.layer.send_frame(bytes(data), addr, self._loop.time())
        self.flush(transport)

    def receive(
        self,
        data: bytes,
        addr: Addr,
        transport: asyncio.DatagramTransport | None = None,
        keep: Callable[[bytes, Addr], None] | None = None,
    ) -> None:
        """One datagram from the node's host, on ``transport``: the layer opens it (the frame goes to ``keep``) or
        takes it (the handshake, the overlay's own records; what it answers goes out on ``transport``)."""
        now = self._loop.time()
        self._keep = keep
        try:
            frame = self.layer.open_datagram(data, addr, now)
            if frame is not None:
                self.node.receive_datagram(frame, addr, now)
        finally:
            self._keep = None
        self.flush(transport)

    def flush(self, transport: asyncio.DatagramTransport | None = None) -> None:
        """Send what the layer (and the node behind it) wants sent, and re-arm the timer."""
        now = self._loop.time()
        out = self.layer.datagrams_to_send(now)
        self.layer.take_events()  # (the node's events: the suite judges the frames it was delivered)
        where = transport if transport is not None and not transport.is_closing() else self.transport
        if where is not None and not where.is_closing():
            for data, addr in out:
                where.sendto(data, addr)
        deadline = self.layer.get_timer()
        if deadline == self._armed:
            return
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._armed = deadline
        if deadline is not None:
            self._timer = self._loop.call_at(deadline, self._fire)

    def _fire(self) -> None:
        self._timer = None
        self._armed = None
        self.layer.handle_timer(self._loop.time())
        self.flush()

    def secured(self, host: str) -> bool:
        """Whether a session with ``host`` is up."""
        return bool(self.layer.has_session(host))

    def failure(self, host: str) -> tuple[str, str | None]:
        """Why no session with ``host`` is up: the layer's last failure for it and its advice, or how far the
        handshake got."""
        reason = self.layer.last_failure.get(host)
        advice = self.layer.failure_advice.get(host)
        if reason is None:
            progress = self.layer.handshake_progress(host)
            if progress is not None:
                missing, advice = progress
                reason = f"the handshake got no answer in time ({missing} so far)"
            else:
                reason = "the handshake did not complete"
        return reason, advice

    def session_error(self, host: str) -> Exception:
        """The :class:`secure.errors.SecureSessionError` that says why no session with ``host`` is up."""
        from secure.errors import SecureSessionError

        reason, advice = self.failure(host)
        return SecureSessionError(host, reason, advice)

    def close(self) -> None:
        """Close the sessions (their close records go out) and stop the timer."""
        self.layer.close_all(self._loop.time())
        self.flush()
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None


def secure_layer_factory(config: Any, *, policy: Any = None, audit: Any = None) -> LayerFactory:
    """A :data:`LayerFactory` for a :class:`secure.layer.config.SecureConfig` (``initiate`` true), its policy and
    its audit log."""
    from secure.layer.core import SecureLayer

    def make(node: Node) -> SecureLayer:
        return SecureLayer(node, config, policy=policy, audit=audit)

    return make


__all__ = ["LayerFactory", "SecureChannel", "secure_layer_factory"]
