"""Thin asyncio adapters: a secured :class:`~echonet.aio.Controller` and :class:`~echonet.aio.DeviceServer`.

The sockets are :class:`echonet.aio.NodeRunner`'s; the runner drives a :class:`~secure.layer.core.SecureLayer` in
place of the node (:meth:`~echonet.aio.NodeRunner.use_layer`), so every protocol decision stays in the pure layer,
the layer's fast lane included (:meth:`~secure.layer.core.SecureLayer.fast_receiver`). A request that fails for
the overlay's reasons raises :class:`~secure.errors.PolicyDeniedError` or :class:`~secure.errors.SecureSessionError`.

::

    ctl = await open_secure_controller(Endpoints(bind_v4="0.0.0.0"), config, policy=store, audit=log)
    result = await ctl.get("192.168.1.20", EOJ.parse("027D01"), [0xE4])
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable

from echonet.aio import Controller, DeviceServer, Endpoints, NodeRunner
from echonet.frame import EOJ
from echonet.node import DeviceObject, Node, NodeConfig
from echonet.node.events import Addr, RequestTimedOut
from secure.audit import AuditLog
from secure.errors import PolicyDeniedError, SecureSessionError
from secure.layer.config import SecureConfig
from secure.layer.core import SecureLayer
from secure.policy.rules import Policy, PolicyStore

__all__ = ["SecureController", "SecureDeviceServer", "open_secure_controller", "open_secure_server"]


async def _send_closes(layer: SecureLayer, runner: NodeRunner) -> None:
    layer.close_all(runner.loop.time())
    if layer.node.wakeup is not None:
        layer.node.wakeup()  # the runner flushes the close records on the next loop iteration
    for _ in range(2):
        await asyncio.sleep(0)


class SecureController(Controller):
    """A :class:`~echonet.aio.Controller` whose traffic goes through a :class:`SecureLayer`.

    Writes the policy refuses raise :class:`PolicyDeniedError` at once instead of timing out; a request that got
    no answer because no session could be set up raises :class:`SecureSessionError`.
    """

    _checks = True

    def __init__(self, runner: NodeRunner, layer: SecureLayer) -> None:
        super().__init__(runner)
        self.layer = layer
        self._secured = layer.secured_peers

    def _check(self, host: str | Addr, eoj: EOJ, esv: int, epcs: Iterable[int]) -> None:
        ip = host if type(host) is str else str(host[0])
        if ip in self._secured:  # a session: nothing to refuse (the common case, kept cheap)
            return
        decision = self.layer.check_outgoing(ip, bytes(eoj), esv, tuple(epcs))
        if decision is not None and not decision.allowed:
            self.layer.audit_decision(decision, self.runner.loop.time())
            raise PolicyDeniedError(decision)

    def _timeout_error(self, final: RequestTimedOut) -> Exception:
        """:class:`SecureSessionError` when the missing session is the reason, else the timeout."""
        ip = str(final.addr[0])
        layer = self.layer
        if not layer.has_session(ip):
            reason = layer.last_failure.pop(ip, None)
            advice = layer.failure_advice.pop(ip, None)
            progress = layer.handshake_progress(ip)
            if reason is None and progress is not None:
                missing, advice = progress
                reason = f"the handshake got no answer in time ({missing} so far)"
            if reason is not None:
                return SecureSessionError(ip, reason, advice)
        return super()._timeout_error(final)

    def peer_status(self, host: str) -> str:
        return self.layer.peer_status(host)

    async def close(self) -> None:
        if not self.runner.closed:
            await _send_closes(self.layer, self.runner)
        await super().close()


class SecureDeviceServer(DeviceServer):
    """A :class:`~echonet.aio.DeviceServer` whose traffic goes through a :class:`SecureLayer`."""

    def __init__(self, runner: NodeRunner, layer: SecureLayer) -> None:
        super().__init__(runner)
        self.layer = layer

    async def close(self) -> None:
        if not self.runner.closed:
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
    runner = await NodeRunner.open(node, endpoints)
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
    runner = await NodeRunner.open(node, endpoints)
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
