"""The sans-I/O ECHONET Lite node: hosted device objects, the node profile, the request/answer state machine.

::

    from echonet.node import DeviceObject, Node, NodeConfig

    battery = DeviceObject(EOJ(0x02, 0x7D, 0x01), {0x80: b"\\x30", ...})
    node = Node([battery], config=NodeConfig(timeout=2.0))
    node.start(now)
    node.receive_datagram(data, addr, now)
    for payload, addr in node.datagrams_to_send(now): ...
    while (event := node.next_event()) is not None: ...

Only :mod:`echonet.aio` adds sockets and the event loop.
"""

from ..constants import ECHONET_PORT, MULTICAST_V4, MULTICAST_V6
from .config import CONTROLLER_EOJ, NODE_PROFILE_EOJ, NodeConfig
from .core import FAST_DECLINED, FAST_DONE, FAST_PUMP, Node, NodeStats, host_key, is_multicast
from .device import DeviceObject, ObjectLayout, object_layout
from .events import (
    Addr,
    Dropped,
    Event,
    EventKind,
    NotificationReceived,
    PropertySet,
    RequestFinished,
    RequestTimedOut,
    ResponseReceived,
    TrailingBytes,
    answer_values,
    refused_epcs,
)
from .profile import NodeProfile, identification_number

__all__ = [
    "CONTROLLER_EOJ",
    "ECHONET_PORT",
    "FAST_DECLINED",
    "FAST_DONE",
    "FAST_PUMP",
    "MULTICAST_V4",
    "MULTICAST_V6",
    "NODE_PROFILE_EOJ",
    "Addr",
    "DeviceObject",
    "Dropped",
    "Event",
    "EventKind",
    "Node",
    "NodeConfig",
    "NodeProfile",
    "NodeStats",
    "NotificationReceived",
    "ObjectLayout",
    "PropertySet",
    "RequestFinished",
    "RequestTimedOut",
    "ResponseReceived",
    "TrailingBytes",
    "answer_values",
    "host_key",
    "identification_number",
    "is_multicast",
    "object_layout",
    "refused_epcs",
]
