"""The device server: device objects hosted on UDP endpoints, announced once open."""

from __future__ import annotations

from collections.abc import AsyncGenerator, Iterable
from typing import Any

from ..node.config import NodeConfig
from ..node.core import Node
from ..node.device import DeviceObject
from ..node.events import PropertySet
from .controller import Opened
from .runner import NodeRunner
from .sockets import Endpoints


class DeviceServer(Opened):
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


__all__ = ["DeviceServer", "serve"]
