"""Hosting simulated devices on UDP: a :class:`~echonet.aio.DeviceServer` plus a timer that ticks the models.

This is an asyncio adapter (like :mod:`echonet.aio`): the models and :class:`~.sim.SimulatedDevice` stay pure.

::

    clock = SimClock.at("2026-01-15T06:00", speed=60)
    host = await SimHost.open([simulated_device("battery", clock=clock)], Endpoints(bind_v4="127.0.0.5", port=0))
    ...
    await host.close()
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import Callable, Iterable

from ..aio import DeviceServer, Endpoints, NodeRunner
from ..aio.sockets import open_aside
from ..apps.quirks import QuirkLayer, Quirks
from ..errors import EchonetUsageError
from ..node.config import NodeConfig
from ..node.events import Addr
from ..spec.registry import Registry
from .clock import SimClock
from .sim import SimulatedDevice, simulated_node


def endpoint_seed(endpoints: Endpoints) -> str:
    """What of ``endpoints`` tells one simulated node from another on the same devices: the addresses and the port."""
    return f"v4={endpoints.bind_v4} v6={endpoints.bind_v6} port={endpoints.port}"


class SimHost:
    """Simulated devices served on one node, ticked every ``tick_interval`` seconds of real time."""

    def __init__(
        self, server: DeviceServer, devices: list[SimulatedDevice], clock: SimClock, tick_interval: float
    ) -> None:
        self.server = server
        self.devices = devices
        self.clock = clock
        self.tick_interval = tick_interval
        self.ticks = 0
        self._task: asyncio.Task[None] | None = None
        #: The layer that applies the node's field quirks (``None`` without quirks), see :mod:`echonet.apps.quirks`.
        self.quirks: QuirkLayer | None = None
        self._aside: asyncio.DatagramTransport | None = None

    @classmethod
    async def open(
        cls,
        devices: Iterable[SimulatedDevice],
        endpoints: Endpoints | None = None,
        *,
        clock: SimClock | None = None,
        config: NodeConfig | None = None,
        registry: Registry | None = None,
        tick_interval: float = 0.05,
        prepare: Callable[[NodeRunner], object] | None = None,
        identification: bytes | None = None,
        quirks: Quirks | None = None,
    ) -> SimHost:
        """Open the sockets, announce the node (INF of 0xD5) and start ticking.

        ``prepare`` runs on the open runner before the node starts, so that e.g. a secure layer is in place before
        the node's first datagram (its start-up announcement) leaves.

        ``identification``: the node profile's 0x83, 17 bytes (or its 13 unique bytes). By default it is derived
        from the endpoints as configured (the bind address of each family and the port) and the devices' EOJs, see
        :func:`~.sim.node_identity`: the same configuration gives the same number after a restart, and two hosts
        on different addresses, or with other devices, give different ones (a controller merges by 0x83).

        ``quirks``: field behaviours the node reproduces (:mod:`echonet.apps.quirks`, docs/quirks.md), applied by a
        :class:`~echonet.apps.quirks.QuirkLayer` put in place after ``prepare`` (they cannot be combined with a
        layer of ``prepare``'s own, such as the secure overlay)."""
        items = list(devices)
        if not items:
            raise EchonetUsageError("nothing to serve: give at least one simulated device")
        if tick_interval <= 0:
            raise EchonetUsageError("the tick interval must be positive")
        sim_clock = clock if clock is not None else items[0].clock
        seed = endpoint_seed(endpoints if endpoints is not None else Endpoints())
        node = simulated_node(items, config=config, registry=registry, identification=identification, seed=seed)
        server = await DeviceServer.open(node, endpoints, start=False)
        if prepare is not None:
            try:
                prepare(server.runner)
            except BaseException:
                await server.close()
                raise
        host = cls(server, items, sim_clock, tick_interval)
        if quirks is not None and quirks.active:
            try:
                await host.apply_quirks(quirks)
            except BaseException:
                await server.close()
                raise
        server.runner.start_node()
        host.start()
        return host

    async def apply_quirks(self, quirks: Quirks) -> None:
        """Put a :class:`~echonet.apps.quirks.QuirkLayer` with ``quirks`` in front of the node (what ``open(...,
        quirks=...)`` does before the node starts)."""
        runner = self.server.runner
        send_aside = None
        if quirks.reply_port_ephemeral:
            bound = next(iter(runner.local_addresses.values()))
            sock = open_aside(str(bound[0]))
            transport, _ = await runner.loop.create_datagram_endpoint(asyncio.DatagramProtocol, sock=sock)
            self._aside = transport
            send_aside = transport.sendto
        self.quirks = QuirkLayer(runner.node, quirks, send_aside=send_aside)
        runner.use_layer(self.quirks)

    def start(self) -> None:
        """Tick once now, then every ``tick_interval`` seconds until :meth:`close`."""
        self.tick()
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run())

    def tick(self) -> None:
        """Advance every device to the clock's time now (the node sends the INFs this records)."""
        now = self.clock.now()
        for device in self.devices:
            device.tick(now)
        self.ticks += 1

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self.tick_interval)
            self.tick()

    def address(self, family: int = socket.AF_INET) -> Addr:
        """The bound (host, port) of one family."""
        addr = self.server.runner.local_addresses.get(family)
        if addr is None:
            raise EchonetUsageError("not bound for that address family")
        return (str(addr[0]), int(addr[1]))

    @property
    def addresses(self) -> list[Addr]:
        return [(str(a[0]), int(a[1])) for a in self.server.runner.local_addresses.values()]

    async def close(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if self._aside is not None:
            self._aside.close()
            self._aside = None
        await self.server.close()

    async def __aenter__(self) -> SimHost:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()
