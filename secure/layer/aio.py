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
import socket
from collections.abc import Callable, Iterable, Sequence

from echonet.aio import Controller, DeviceServer, DiscoveredNode, Endpoints, NodeRunner
from echonet.errors import EchonetUsageError
from echonet.frame import EOJ
from echonet.node import DeviceObject, Node, NodeConfig
from echonet.node.events import Addr, RequestTimedOut
from secure.audit import AuditLog
from secure.errors import PolicyDeniedError, ProtocolError, SecureSessionError
from secure.layer.config import SecureConfig
from secure.layer.core import SecureLayer
from secure.policy.rules import Policy, PolicyStore
from secure.trust.onboarding import PairingController, PairingResult, decode_pairing, encode_pairing

__all__ = ["SecureController", "SecureDeviceServer", "open_secure_controller", "open_secure_server", "pair_device"]


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
        """Refuse at once what the policy would refuse (a read of protected data from a legacy device without a
        consent among them, :class:`PolicyDeniedError`), instead of timing out."""
        ip = host if type(host) is str else str(host[0])
        if ip in self._secured:  # a session: nothing to refuse (the common case, kept cheap)
            return
        decision = self.layer.check_outgoing(ip, bytes(eoj), esv, tuple(epcs))
        if decision is not None and not decision.allowed:
            self.layer.audit_decision(decision, self.runner.loop.time())
            raise PolicyDeniedError(decision)

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
        """:meth:`Controller.discover` under the overlay: multicast only sealed as group records (the group key
        this controller manages, :meth:`SecureLayer.use_group_store`), else by unicast to ``targets``. Plain answers
        (legacy nodes) are never merged: the layer keeps them apart (:attr:`SecureLayer.plain_refused`)."""
        if not targets and self.layer.group_status()["sending_epoch"] is None:
            raise EchonetUsageError(
                "secured discovery by multicast needs the group key (this node is not a group member yet); ask "
                "by unicast with --target HOST"
            )
        return await super().discover(
            window=window,
            rescans=rescans,
            targets=targets,
            read_maps=read_maps,
            include_self=include_self,
            concurrency=concurrency,
        )

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


class _PairingProtocol(asyncio.DatagramProtocol):
    def __init__(self) -> None:
        self.replies: asyncio.Queue[bytes] = asyncio.Queue()

    def datagram_received(self, data: bytes, addr: Addr) -> None:
        self.replies.put_nowait(data)


async def pair_device(
    addr: Addr,
    controller: PairingController,
    *,
    bind: str = "0.0.0.0",
    timeout: float = 2.0,
    attempts: int = 3,
) -> PairingResult:
    """Onboard the device at ``addr`` in setup mode with ``controller`` (made from its setup code): the four pairing
    messages over UDP (each sent again after ``timeout`` seconds, ``attempts`` times in all). Raises
    :class:`~secure.errors.ProtocolError` (wrong code, refused) or :class:`SecureSessionError` (no answer)."""
    loop = asyncio.get_running_loop()
    family = socket.AF_INET6 if ":" in str(addr[0]) else socket.AF_INET
    transport, protocol = await loop.create_datagram_endpoint(_PairingProtocol, local_addr=(bind, 0), family=family)
    try:

        async def exchange(step: int, message: bytes) -> bytes:
            record = encode_pairing(step, message)
            for _ in range(attempts):
                transport.sendto(record, addr)
                deadline = loop.time() + timeout
                while (left := deadline - loop.time()) > 0:
                    try:
                        data = await asyncio.wait_for(protocol.replies.get(), left)
                    except TimeoutError:
                        break
                    parsed = decode_pairing(data)
                    if parsed is None:
                        continue
                    got, payload = parsed
                    if got == 0xFF:
                        raise ProtocolError("the device refused the pairing: " + payload.decode(errors="replace"))
                    if got == step + 1:
                        return payload
            raise SecureSessionError(
                str(addr[0]), f"no answer to pairing message {step}", "is the device in setup mode?"
            )

        message_2 = await exchange(1, controller.message_1())
        message_4 = await exchange(3, controller.message_2(message_2))
        return controller.message_4(message_4)
    finally:
        transport.close()


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
