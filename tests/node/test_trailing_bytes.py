"""Frames padded after their last property are taken, and the extra bytes reported, as pychonet, uecho, the npm
echonet-lite stack and pyhems take them; ``NodeConfig(strict=True)`` drops them (the letter of Part 2)."""

from __future__ import annotations

import asyncio
from typing import Any

from echonet import ESV
from echonet.aio import Controller, Endpoints
from echonet.node import Addr, Dropped, ResponseReceived, TrailingBytes

from .test_udp import CONTROLLER_IP, go
from .util import BATTERY, DEVICE_IP, ask, controller_node, device_node, events, h

GET = h("1081 0001 05ff01 027d01 62 01 80 00")
PADDING = b"\x00\x00\x00"


def test_a_padded_request_is_answered_and_its_extra_bytes_reported() -> None:
    node = device_node()
    for _ in range(2):  # (every time: a padded datagram is neither cached nor answered from a cache)
        out = ask(node, GET + PADDING)
        assert [data for data, _ in out] == [h("1081 0001 027d01 05ff01 72 01 80 01 30")]
        (event,) = events(node)
        assert isinstance(event, TrailingBytes) and event.extra == PADDING
        assert event.frame.esv == ESV.GET and event.frame.properties[0].epc == 0x80
    assert node.stats.trailing == 2 and node.stats.dropped == 0


def test_a_strict_node_drops_a_padded_request() -> None:
    node = device_node(strict=True)
    assert ask(node, GET + PADDING) == []
    (event,) = events(node)
    assert isinstance(event, Dropped) and "trailing" in event.reason
    assert node.stats.trailing == 0 and node.stats.dropped == 1


def test_a_padded_answer_ends_the_request_with_its_values() -> None:
    ctl = controller_node()
    handle = ctl.request(DEVICE_IP, BATTERY, ESV.GET, [0x80], now=0.0)
    ctl.datagrams_to_send(0.0)
    ctl.receive_datagram(h("1081 0001 027d01 05ff01 72 01 80 01 30") + PADDING, (DEVICE_IP, 3610), 0.1)
    trailing, answer = events(ctl)
    assert isinstance(trailing, TrailingBytes) and trailing.extra == PADDING
    assert isinstance(answer, ResponseReceived) and answer.handle == handle and answer.values == {0x80: b"\x30"}
    assert ctl.open_requests == 0


class _PaddingDevice(asyncio.DatagramProtocol):
    """A device that answers every Get of 0x80 with a Get_Res padded with three zero bytes."""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport: Any = transport

    def datagram_received(self, data: bytes, addr: Addr) -> None:
        answer = data[:4] + h("027d01 05ff01 72 01 80 01 30") + PADDING
        self.transport.sendto(answer, addr)


def test_our_controller_reads_a_padding_device_over_udp() -> None:
    async def scenario() -> None:
        loop = asyncio.get_running_loop()
        transport, _ = await loop.create_datagram_endpoint(_PaddingDevice, local_addr=("127.0.0.44", 0))
        device = transport.get_extra_info("sockname")[:2]
        ctl = await Controller.open(Endpoints(bind_v4=CONTROLLER_IP, port=0))
        try:
            for _ in range(3):  # the first answer and repeated ones (the fast lane declines, the general path takes)
                result = await ctl.get(device, BATTERY, [0x80], timeout=1.0)
                assert result.values == {0x80: b"\x30"} and result.ok
            assert ctl.node.stats.trailing == 3 and ctl.node.stats.timeouts == 0
        finally:
            await ctl.close()
            transport.close()

    go(scenario())
