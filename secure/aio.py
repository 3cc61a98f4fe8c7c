"""Thin asyncio adapters: a secured :class:`~echonet.aio.Controller` and :class:`~echonet.aio.DeviceServer`.

The sockets are :class:`echonet.aio.NodeRunner`'s; the runner drives a :class:`~secure.session.SecureLayer` in place
of the node (:meth:`~echonet.aio.NodeRunner.use_layer`), so every protocol decision stays in the pure layer.

::

    ctl = await open_secure_controller(Endpoints(bind_v4="0.0.0.0"), config, policy=store, audit=log)
    result = await ctl.get("192.168.1.20", EOJ.parse("027D01"), [0xE4])
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from echonet.aio import (
    Controller,
    DeviceServer,
    EchonetTimeoutError,
    Endpoints,
    GetResult,
    NodeRunner,
    SetResult,
    _answer_of,
    _get_result,
    _props_of,
    _result,
)
from echonet.errors import EchonetError
from echonet.frame import EOJ, ESV, Property
from echonet.node import DeviceObject, Node, NodeConfig
from echonet.node.events import Addr, Event
from secure.audit import AuditLog
from secure.errors import SecureError
from secure.policy import Decision, Policy, PolicyStore
from secure.session import SecureConfig, SecureLayer

_GET = ESV.GET

__all__ = [
    "PolicyDeniedError",
    "SecureController",
    "SecureDeviceServer",
    "SecureSessionError",
    "open_secure_controller",
    "open_secure_server",
]


class PolicyDeniedError(SecureError, EchonetError):
    """The policy refuses this request (for instance a write to a legacy device without consent)."""

    def __init__(self, decision: Decision) -> None:
        super().__init__(f"policy denies {decision.direction.value} request to {decision.peer}: {decision.reason}")
        self.decision = decision


class SecureSessionError(SecureError, EchonetError):
    """A request got no answer because no secure session could be set up with the peer (the handshake failed or
    went unanswered, or the identity cross-check failed). ``reason`` is the layer's last failure for the peer."""

    def __init__(self, peer: str, reason: str) -> None:
        super().__init__(
            f"no secure session with {peer}: {reason} (see the audit log; a plain ECHONET Lite device must be "
            "classified as legacy, e.g. with 'echonet secure consent grant')"
        )
        self.peer = peer
        self.reason = reason


class _SecureRunner(NodeRunner):
    """A :class:`~echonet.aio.NodeRunner` driving a :class:`SecureLayer` whose verified data records may take the
    node's fast lane: the layer opens the record (:meth:`SecureLayer.open_datagram`: replay window, tag, usage
    counters, identity check, audit), then the plain frame goes to ``Node.take_answer`` / ``Node.answer_repeat``
    (each proved to behave as ``Node.receive_datagram``) and an answer back through :meth:`SecureLayer.seal`, with
    the rules :meth:`SecureLayer.datagrams_to_send` applies to it. Anything else: the general path. Proved equal to
    the general path by tests/secure/test_session_fast_lane.py (``fast_lane = False`` turns it off)."""

    layer: SecureLayer | None = None
    fast_lane = True

    def use_layer(self, layer: Any) -> None:
        self.layer = layer if isinstance(layer, SecureLayer) else None
        super().use_layer(layer)

    def feed(self, data: bytes, addr: Addr) -> None:
        layer = self.layer
        if layer is None or self._core is not layer or not self.fast_lane:
            super().feed(data, addr)
            return
        now = self._time()
        frame = layer.open_datagram(data, addr, now)
        if frame is not None:
            node = self.node
            if node._pending:  # the awaited answer to a one-answer request ends it before anything else
                taken = node.take_answer(frame, addr, now)
                if taken is not None:
                    handle, answer_frame = taken
                    get = self._gets.pop(handle, None)
                    if get is not None:
                        if not get.done():
                            get.set_result(_result(answer_frame, addr, answer_frame[3]))
                    else:
                        self._answered(handle, answer_frame, addr)
                    if layer._out or node._out or node._timer_seq + layer._serial != self._timer_serial:
                        self._settle(layer, node, now)  # (no event and no announcement come from take_answer)
                    return
            elif node._answers:  # a Get answered before: the same answer, its TID patched in, then protected
                answer = node.answer_repeat(frame, addr)
                if answer is not None:  # (the node changed nothing but its counters)
                    dest = answer[1]
                    record = layer.seal(answer[0], dest, now)
                    if record is None:
                        pass  # (the layer took it: sent by _settle)
                    elif self._v4 is not None and ":" not in dest[0]:  # (_sendto's common case inline)
                        try:
                            self._v4.sendto(record, dest)
                        except (OSError, ValueError, TypeError):
                            self.socket_errors += 1
                    else:
                        self._sendto(record, dest)
                    if layer._out or node._timer_seq + layer._serial != self._timer_serial:
                        self._settle(layer, node, now)
                    return
            node.receive_datagram(frame, addr, now)
        self._pump(now)

    def _settle(self, layer: SecureLayer, node: Node, now: float) -> None:
        """After a fast-lane step: what the layer queued goes out; the rest as :meth:`_pump` would do it."""
        if layer._out:
            sendto = self._sendto
            for data, addr in layer.take_output():
                sendto(data, addr)
        # (dirty objects of a node not started are announced only once it starts: pumping for them does nothing)
        if (
            node._out
            or node._events
            or (node._dirty and node._started)
            or node._timer_seq + layer._serial != self._timer_serial
        ):
            self._pump(now)


def _host(host: str | Addr) -> str:
    return host if isinstance(host, str) else str(host[0])


async def _send_closes(layer: SecureLayer, runner: NodeRunner) -> None:
    layer.close_all(runner.loop.time())
    if layer.node.wakeup is not None:
        layer.node.wakeup()  # the runner flushes the close records on the next loop iteration
    for _ in range(2):
        await asyncio.sleep(0)


class SecureController(Controller):
    """A :class:`~echonet.aio.Controller` whose traffic goes through a :class:`SecureLayer`.

    Writes the policy refuses raise :class:`PolicyDeniedError` at once instead of timing out.
    """

    def __init__(self, runner: NodeRunner, layer: SecureLayer) -> None:
        super().__init__(runner)
        self.layer = layer
        self._secured = layer.secured_peers

    def _check(self, host: str | Addr, eoj: EOJ, esv: int, epcs: Iterable[int]) -> None:
        ip = host if isinstance(host, str) else str(host[0])
        if ip in self._secured:  # a session: nothing to refuse (the common case, kept cheap)
            return
        decision = self.layer.check_outgoing(ip, bytes(eoj), esv, tuple(epcs))
        if decision is not None and not decision.allowed:
            self.layer.audit_decision(decision, self.runner.loop.time())
            raise PolicyDeniedError(decision)

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
        items = _props_of(props)
        self._check(host, eoj, ESV.SETC if confirm else ESV.SETI, [p.epc for p in items])
        try:
            return await super().set(host, eoj, items, confirm=confirm, wait_sna=wait_sna, timeout=timeout,
                                     **options)
        except EchonetTimeoutError:
            self._explain(host)
            raise

    async def get(
        self, host: str | Addr, eoj: EOJ, epcs: Iterable[int], *, timeout: float | None = None, **options: Any
    ) -> GetResult:
        if (host if type(host) is str else host[0]) not in self._secured:  # (_check says what a bad host is)
            self._check(host, eoj, ESV.GET, ())
        elif not options:
            started = self._start_fast_get(host, eoj, epcs, timeout)
            if started is not None:  # awaited here: one coroutine less on the hot path
                handle, future = started
                gets = self.runner._gets
                try:
                    outcome = await future  # (whoever resolves it has taken it out of the runner's gets)
                except BaseException:
                    if gets.pop(handle, None) is not None:
                        self.runner._cancel(handle)
                    raise
                if isinstance(outcome, GetResult):  # ended by the fast lane
                    return outcome
                try:
                    answer = _answer_of(outcome)  # (else ended by the general path: its final event)
                except EchonetTimeoutError:
                    self._explain(host)
                    raise
                return _get_result(answer, eoj)
        try:
            return await super().get(host, eoj, epcs, timeout=timeout, **options)
        except EchonetTimeoutError:
            self._explain(host)
            raise

    def _start_fast_get(
        self, host: str | Addr, eoj: EOJ, epcs: Iterable[int], timeout: float | None
    ) -> tuple[int, asyncio.Future[GetResult | Event]] | None:
        """The node's fast lane (``Node.start_fast``) for a Get to a secured peer: the request's bytes go through
        :meth:`SecureLayer.seal` with the rules :meth:`SecureLayer.datagrams_to_send` applies to them. ``None``: the
        general path (the request does not fit, or something is queued before it)."""
        runner, node, layer = self.runner, self.node, self.layer
        if (
            runner._core is not layer
            or not isinstance(runner, _SecureRunner)
            or not runner.fast_lane
            or runner._closed
            or node._out
        ):  # (start_fast itself refuses EPCs that are not a list or tuple, without iterating them)
            return None
        now = runner._time()
        started = node.start_fast(host, eoj, _GET, epcs, now, timeout)
        if started is None:
            return None
        handle, data, addr, deadline = started
        record = layer.seal(data, addr, now)
        if record is not None:
            if runner._v4 is not None and ":" not in addr[0]:  # (NodeRunner._sendto's common case inline)
                try:
                    runner._v4.sendto(record, addr)
                except (OSError, ValueError, TypeError):
                    runner.socket_errors += 1
            else:
                runner._sendto(record, addr)
        elif layer._out:
            for out_data, out_addr in layer.take_output():
                runner._sendto(out_data, out_addr)
        future: asyncio.Future[GetResult | Event] = runner.loop.create_future()
        runner._gets[handle] = future
        serial, when = node._timer_seq + layer._serial, runner._timer_when  # layer.timer_serial
        if serial == runner._timer_serial + 1 and when is not None and deadline >= when:
            runner._timer_serial = serial  # the wake-up already scheduled comes first: nothing to change
        else:
            runner._timer_serial = serial
            runner._schedule()
        return handle, future

    def _explain(self, host: str | Addr) -> None:
        """After a timeout: raise :class:`SecureSessionError` when the missing session is the reason."""
        ip = _host(host)
        if self.layer.has_session(ip):
            return
        reason = self.layer.last_failure.pop(ip, None)
        if reason is None and self.layer.peer_status(ip) == "handshaking":
            reason = "the handshake got no answer in time"
        if reason is not None:
            raise SecureSessionError(ip, reason) from None

    def peer_status(self, host: str) -> str:
        return self.layer.peer_status(host)

    async def close(self) -> None:
        if not self.runner._closed:
            await _send_closes(self.layer, self.runner)
        await super().close()


class SecureDeviceServer(DeviceServer):
    """A :class:`~echonet.aio.DeviceServer` whose traffic goes through a :class:`SecureLayer`."""

    def __init__(self, runner: NodeRunner, layer: SecureLayer) -> None:
        super().__init__(runner)
        self.layer = layer

    async def close(self) -> None:
        if not self.runner._closed:
            await _send_closes(self.layer, self.runner)
        await super().close()


async def open_secure_controller(
    endpoints: Endpoints | None,
    config: SecureConfig,
    *,
    node: Node | None = None,
    node_config: NodeConfig | None = None,
    policy: PolicyStore | Policy | None = None,
    audit: AuditLog | None = None,
    wall_clock: Callable[[], float] | None = None,
) -> SecureController:
    """Open sockets for a controller whose requests are secured (``config.initiate`` should be true)."""
    if node is None:
        node = Node(config=node_config)
    runner = await _SecureRunner.open(node, endpoints)
    layer = _layer(node, config, policy, audit, wall_clock)
    runner.use_layer(layer)
    return SecureController(runner, layer)


async def open_secure_server(
    objects: Node | Iterable[DeviceObject],
    endpoints: Endpoints | None,
    config: SecureConfig,
    *,
    node_config: NodeConfig | None = None,
    policy: PolicyStore | Policy | None = None,
    audit: AuditLog | None = None,
    wall_clock: Callable[[], float] | None = None,
    start: bool = True,
) -> SecureDeviceServer:
    """Host device objects behind the secure layer (``config.respond`` should be true)."""
    node = objects if isinstance(objects, Node) else Node(objects, config=node_config)
    runner = await _SecureRunner.open(node, endpoints)
    layer = _layer(node, config, policy, audit, wall_clock)
    runner.use_layer(layer)
    server = SecureDeviceServer(runner, layer)
    if start:
        runner.start_node()
    return server


def _layer(
    node: Node,
    config: SecureConfig,
    policy: PolicyStore | Policy | None,
    audit: AuditLog | None,
    wall_clock: Callable[[], float] | None,
) -> SecureLayer:
    if wall_clock is None:
        return SecureLayer(node, config, policy=policy, audit=audit)
    return SecureLayer(node, config, policy=policy, audit=audit, wall_clock=wall_clock)
