"""The asyncio transport: UDP endpoints that run a :class:`~echonet.node.Node`, a high-level :class:`Controller` and
a :class:`DeviceServer`.

Only this package touches sockets and the event loop; every protocol decision stays in the pure core. By job:

* :mod:`echonet.aio.sockets`: where sockets bind, which groups they join (:class:`Endpoints`);
* :mod:`echonet.aio.runner`: :class:`NodeRunner`, which feeds datagrams to the core, sends what it produces and
  runs its timer;
* :mod:`echonet.aio.controller` and :mod:`echonet.aio.results`: :class:`Controller`, discovery and their results;
* :mod:`echonet.aio.server`: :class:`DeviceServer`;
* :mod:`echonet.aio.loop`: :func:`run` and :func:`new_event_loop` (uvloop's when asked for and installed).

::

    async with await Controller.open(Endpoints(bind_v4="0.0.0.0")) as ctl:
        for node in await ctl.discover(window=1.0):
            ...
        result = await ctl.get("192.168.1.20", EOJ.parse("027D01"), [0x80, 0xE4])
"""

from ..errors import EchonetTimeoutError
from .controller import Controller, Opened
from .loop import new_event_loop, run
from .results import DiscoveredNode, DiscoveredObject, GetResult, SetGetResult, SetResult
from .runner import Core, NodeRunner
from .server import DeviceServer, serve
from .sockets import Endpoints

__all__ = [
    "Controller",
    "Core",
    "DeviceServer",
    "DiscoveredNode",
    "DiscoveredObject",
    "EchonetTimeoutError",
    "Endpoints",
    "GetResult",
    "NodeRunner",
    "Opened",
    "SetGetResult",
    "SetResult",
    "new_event_loop",
    "run",
    "serve",
]
