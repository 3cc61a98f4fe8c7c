"""Our controller copes with what the peers of tools/interop/README.md ("Peers against our stack") really send:
a refused SetC answered with SetI_SNA (uecho), a node that answers from a port it does not listen on (npm
echonet-lite answers from 23610), a property-map bitmap whose count byte disagrees with its bits (uecho)."""

from __future__ import annotations

import asyncio
from typing import Any

from echonet import ESV, Property
from echonet.aio import Controller, Endpoints
from echonet.frame import EOJ
from echonet.node import Addr, DeviceObject, Dropped, Node, NodeConfig, ResponseReceived
from echonet.propmap import encode_property_map

from .test_udp import CONTROLLER_IP, go
from .util import BATTERY, DEVICE_IP, REGISTRY, UNIQUE, battery, battery_values, controller_node, events, h, profile

DEVICE: Addr = (DEVICE_IP, 3610)


def test_a_setc_refused_with_seti_sna_is_taken_as_its_refusal() -> None:
    ctl = controller_node()
    handle = ctl.request(DEVICE_IP, BATTERY, ESV.SETC, [Property(0xDA, b"\x99")], now=0.0)
    ctl.datagrams_to_send(0.0)
    ctl.receive_datagram(h("1081 0001 027d01 05ff01 50 01 da0199"), DEVICE, 0.1)  # uecho's answer: SetI_SNA
    (event,) = events(ctl)
    assert isinstance(event, ResponseReceived) and event.handle == handle
    assert event.refused == (0xDA,) and not event.ok
    assert ctl.get_timer() is None and ctl.open_requests == 0


def test_a_seti_sna_answers_no_other_request_than_a_set() -> None:
    ctl = controller_node()
    ctl.request(DEVICE_IP, BATTERY, ESV.GET, [0xDA], now=0.0)
    ctl.datagrams_to_send(0.0)
    ctl.receive_datagram(h("1081 0001 027d01 05ff01 50 01 da0199"), DEVICE, 0.1)
    (event,) = events(ctl)
    assert isinstance(event, Dropped) and "unexpected answer" in event.reason
    assert ctl.open_requests == 1


class _AnswersFromElsewhere(asyncio.DatagramProtocol):
    """A node that listens on one port and answers from another it does not listen on (the npm stack)."""

    def __init__(self, node: Node, reply: asyncio.DatagramTransport) -> None:
        self.node = node
        self.reply = reply

    def datagram_received(self, data: bytes, addr: Addr) -> None:
        self.node.receive_datagram(data, addr, 0.0)
        for payload, dest in self.node.datagrams_to_send(0.0):
            self.reply.sendto(payload, dest)


class _CountsSixteen(DeviceObject):
    """Serves its Get map as uecho does: a bitmap whose count byte always says 16."""

    def read(self, epc: int) -> bytes | None:
        if epc == 0x9F:
            return b"\x10" + encode_property_map(range(0x80, 0x95))[1:]  # 21 EPCs in the bits
        return super().read(epc)


def _discover_one(node: Node, ip: str) -> Any:
    async def scenario() -> Any:
        loop = asyncio.get_running_loop()
        reply, _ = await loop.create_datagram_endpoint(asyncio.DatagramProtocol, local_addr=(ip, 0))
        listen, _ = await loop.create_datagram_endpoint(lambda: _AnswersFromElsewhere(node, reply), local_addr=(ip, 0))
        asked = listen.get_extra_info("sockname")
        ctl = await Controller.open(Endpoints(bind_v4=CONTROLLER_IP, port=0), config=NodeConfig(timeout=0.5, retries=0))
        try:
            return asked, reply.get_extra_info("sockname"), await ctl.discover(window=0.3, rescans=0, targets=[asked])
        finally:
            await ctl.close()
            listen.close()
            reply.close()

    return go(scenario())


def test_discover_asks_a_node_again_where_it_was_asked_not_where_its_answer_came_from() -> None:
    node = Node([battery()], registry=REGISTRY, profile=profile())
    asked, answering, found = _discover_one(node, "127.0.0.51")
    assert asked[1] != answering[1]
    (only,) = found
    assert only.address == asked
    assert only.identification == h("fe 000077") + UNIQUE  # read by a second request, to the port asked
    assert {o.eoj: o.error for o in only.objects} == {EOJ(0x0E, 0xF0, 0x01): None, BATTERY: None}


def test_discover_reads_a_property_map_bitmap_whose_count_byte_is_wrong_from_its_bits() -> None:
    obj = _CountsSixteen(BATTERY, battery_values(), REGISTRY)
    node = Node([obj], registry=REGISTRY, profile=profile())
    _, _, found = _discover_one(node, "127.0.0.52")
    (only,) = found
    [battery_maps] = [o for o in only.objects if o.eoj == BATTERY]
    assert battery_maps.get_map == frozenset(range(0x80, 0x95))
    assert battery_maps.error is not None and "count byte says 16" in battery_maps.error
