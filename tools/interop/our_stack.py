"""Glue shared by the runners of OUR stack (our_device.py, our_controller.py): the DRready models as hosted device
objects, a multicast listener beside a socket bound to one loopback address, and a frame recorder.

Unlike interop_common.py (which the peers' runners use and which stays independent of ``echonet``), this module is
our side: it imports the project's package.
"""

from __future__ import annotations

import asyncio
import socket
import struct
import time
from collections.abc import Callable
from typing import Any

from echonet.aio import NodeRunner
from echonet.drready import ElectricWaterHeater, HybridWaterHeater, Identity, StorageBattery
from echonet.drready.base import DrModel
from echonet.drready.clock import sim_time
from echonet.frame import EOJ
from echonet.node import DeviceObject
from echonet.node.events import Addr
from echonet.propmap import PROPERTY_MAP_EPCS

#: The maker code our test devices carry in 0x8A and 0x83 (a placeholder, as experiments use).
MAKER = b"\xff\xff\xfe"
#: When the simulated devices live (a summer morning: the water heaters heat, the battery idles at half charge).
SIM_START = "2026-07-01T10:00:00"
MODELS: dict[str, tuple[type[DrModel], int]] = {
    "battery": (StorageBattery, 0x027D01),
    "water-heater": (ElectricWaterHeater, 0x026B01),
    "hybrid": (HybridWaterHeater, 0x02A601),
}


class ModelObject(DeviceObject):
    """A hosted object whose values come from a DRready model (frozen at the model's time: values do not drift
    while a peer reads them); a peer's Set goes through the model, which may refuse it, and every value the Set
    changed follows (announced when in the status-change map)."""

    def __init__(self, eoj: EOJ, model: DrModel) -> None:
        defs = {e: d for e, d in model.property_defs().items() if e not in PROPERTY_MAP_EPCS}
        readable = set(model.readable_epcs())
        values = {
            epc: model.read(epc) if epc in readable else bytes(max(1, d.type.min_size)) for epc, d in defs.items()
        }
        super().__init__(
            eoj,
            values,
            settable=model.settable_epcs(),
            announce=model.announce_epcs() & set(defs),
            definitions=defs.values(),
        )
        self.model = model
        model.changed_epcs()  # start the change tracking from the values above

    def on_set(self, epc: int, edt: bytes) -> str | None:
        reason = self.model.write(epc, edt, self.model.now)
        if reason is None:
            for other in self.model.changed_epcs():
                if other != epc and self.value(other) is not None:
                    self.update(other, self.model.read(other), check=False)
        return reason


def build_object(name: str, serial: int) -> ModelObject:
    """One of :data:`MODELS` with a fixed identity (so 0x83 is known to the tests)."""
    cls, eoj = MODELS[name]
    unique = b"OURS" + (eoj >> 8).to_bytes(2, "big") + serial.to_bytes(7, "big")
    identity = Identity(unique, maker_code=MAKER, serial_number=f"{serial:012d}")
    model = cls(sim_time(SIM_START), identity=identity)
    return ModelObject(EOJ(eoj >> 16, (eoj >> 8) & 0xFF, eoj & 0xFF), model)


class _Feed(asyncio.DatagramProtocol):
    def __init__(self, sink: Callable[[bytes, Addr], None]) -> None:
        self.sink = sink

    def datagram_received(self, data: bytes, addr: Addr) -> None:
        self.sink(data, addr)


async def listen_multicast(
    runner: NodeRunner, group: str = "224.0.23.0", port: int = 3610, iface: str = "lo"
) -> asyncio.DatagramTransport:
    """A socket bound to ``group:port`` (shared with the other stacks on the host) joined on ``iface``, feeding the
    runner: a runner bound to one loopback address gets the multicast it cannot receive itself, and answers from
    its own address."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((group, port))
        mreqn = socket.inet_aton(group) + socket.inet_aton("0.0.0.0") + struct.pack("@i", socket.if_nametoindex(iface))
        sock.setsockopt(socket.IPPROTO_IP, socket.IP_ADD_MEMBERSHIP, mreqn)
        sock.setblocking(False)
    except BaseException:
        sock.close()
        raise
    transport, _ = await runner.loop.create_datagram_endpoint(
        lambda: _Feed(lambda data, addr: runner.feed(data, addr)), sock=sock
    )
    return transport


class Recorder:
    """Every datagram the runner receives and sends, as ``{t, dir, peer, hex}`` records."""

    def __init__(self, runner: NodeRunner) -> None:
        self.start = time.monotonic()
        self.frames: list[dict[str, Any]] = []
        runner.wiretap(self._add)

    def _add(self, direction: str, data: bytes, addr: Addr) -> None:
        self.frames.append(
            {
                "t": round(time.monotonic() - self.start, 4),
                "dir": direction,
                "peer": f"{addr[0]}:{addr[1]}",
                "hex": bytes(data).hex(),
            }
        )
