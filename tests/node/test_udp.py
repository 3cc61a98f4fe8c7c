"""Our controller and our device over real UDP sockets on loopback only (multicast over a real link, in network
namespaces of the test's own: tests/node/test_netns_multicast.py)."""

from __future__ import annotations

import asyncio
import errno
import socket
from collections.abc import Coroutine
from typing import Any, TypeVar

import pytest

from echonet import EOJ, ESV
from echonet.aio import Controller, DeviceServer, EchonetTimeoutError, Endpoints, run
from echonet.node import Addr, Node, NodeConfig, NodeProfile, NotificationReceived, PropertySet

from .util import BATTERY, REGISTRY, UNIQUE, battery, h, profile

T = TypeVar("T")
DEVICE_IP = "127.0.0.42"
CONTROLLER_IP = "127.0.0.43"


def go(coro: Coroutine[Any, Any, T], *, use_uvloop: bool = False) -> T:
    async def bounded() -> T:
        return await asyncio.wait_for(coro, 20)

    return run(bounded(), use_uvloop=use_uvloop)


def device_node(*objects: Any, **config: Any) -> Node:
    return Node(objects or (battery(1),), config=NodeConfig(**config), registry=REGISTRY, profile=profile())


async def open_pair(
    device_ip: str = DEVICE_IP, controller_ip: str = CONTROLLER_IP, **config: Any
) -> tuple[DeviceServer, Controller, Addr]:
    v6 = ":" in device_ip
    server = await DeviceServer.open(
        device_node(**config),
        Endpoints(bind_v4=None if v6 else device_ip, bind_v6=device_ip if v6 else None, port=0),
    )
    ctl = await Controller.open(
        Endpoints(bind_v4=None if v6 else controller_ip, bind_v6=controller_ip if v6 else None, port=0),
        config=NodeConfig(timeout=2.0, retries=0, **config),
    )
    family = socket.AF_INET6 if v6 else socket.AF_INET
    return server, ctl, server.runner.local_addresses[family][:2]


def test_controller_gets_sets_and_setgets_our_device_over_udp() -> None:
    async def scenario() -> None:
        server, ctl, device = await open_pair()
        try:
            got = await ctl.get(device, BATTERY, [0x80, 0xE4])
            assert got.ok and got.values == {0x80: b"\x30", 0xE4: b"\x32"} and got.eoj == BATTERY
            done = await ctl.set(device, BATTERY, {0xDA: b"\x42"})
            assert done.ok and done.confirmed
            both = await ctl.setget(device, BATTERY, {0xDA: b"\x43"}, [0xDA])
            assert both.ok and both.values == {0xDA: b"\x43"}
            note = await ctl.inf_req(device, BATTERY, [0xDA])
            assert note.values == {0xDA: b"\x43"}
            quiet = await ctl.set(device, BATTERY, {0xDA: b"\x44"}, confirm=False)
            assert quiet.ok and not quiet.confirmed
            assert (await ctl.get(device, BATTERY, [0xDA])).values == {0xDA: b"\x44"}
        finally:
            await ctl.close()
            await server.close()

    go(scenario())


def test_refusals_come_back_as_results_not_exceptions() -> None:
    async def scenario() -> None:
        server, ctl, device = await open_pair()
        try:
            got = await ctl.get(device, BATTERY, [0x80, 0xEB, 0xE4])
            assert not got.ok and got.refused == (0xEB,) and got.values == {0x80: b"\x30", 0xE4: b"\x32"}
            done = await ctl.set(device, BATTERY, {0xDA: b"\x42", 0xE4: b"\x10"})
            assert not done.ok and done.refused == (0xE4,)
            both = await ctl.setget(device, BATTERY, {0xE4: b"\x10"}, [0x80])
            assert both.refused_set == (0xE4,) and both.refused_get == () and both.values == {0x80: b"\x30"}
            silent = await ctl.set(device, BATTERY, {0xE4: b"\x10"}, confirm=False, wait_sna=True, timeout=1.0)
            assert silent.refused == (0xE4,)
        finally:
            await ctl.close()
            await server.close()

    go(scenario())


def test_a_silent_device_raises_a_clear_timeout() -> None:
    async def scenario() -> None:
        ctl = await Controller.open(Endpoints(bind_v4=CONTROLLER_IP, port=0), config=NodeConfig(timeout=0.2))
        try:
            with pytest.raises(EchonetTimeoutError, match=r"no answer from 127\.0\.0\.45 .*after 2 attempt"):
                await ctl.get("127.0.0.45", BATTERY, [0x80])
        finally:
            await ctl.close()

    go(scenario())


class _OddDevice(asyncio.DatagramProtocol):
    """A device that receives on one port and answers from another (as many gateways do)."""

    def __init__(self, node: Node, reply: asyncio.DatagramTransport) -> None:
        self.node = node
        self.reply = reply

    def datagram_received(self, data: bytes, addr: Addr) -> None:
        self.node.receive_datagram(data, addr, 0.0)
        for payload, dest in self.node.datagrams_to_send(0.0):
            self.reply.sendto(payload, dest)


def test_answers_from_a_source_port_other_than_the_one_asked_are_matched() -> None:
    async def scenario() -> None:
        loop = asyncio.get_running_loop()
        reply, _ = await loop.create_datagram_endpoint(asyncio.DatagramProtocol, local_addr=("127.0.0.44", 0))
        listen, _ = await loop.create_datagram_endpoint(
            lambda: _OddDevice(device_node(), reply), local_addr=("127.0.0.44", 0)
        )
        asked, answering = listen.get_extra_info("sockname"), reply.get_extra_info("sockname")
        assert asked[1] != answering[1]
        ctl = await Controller.open(Endpoints(bind_v4=CONTROLLER_IP, port=0), config=NodeConfig(timeout=2.0))
        try:
            got = await ctl.get(asked, BATTERY, [0x80])
            assert got.values == {0x80: b"\x30"} and got.addr == answering
        finally:
            await ctl.close()
            listen.close()
            reply.close()

    go(scenario())


def test_two_stacks_share_port_3610_on_their_own_loopback_addresses() -> None:
    async def scenario() -> None:
        try:
            server = await DeviceServer.open(device_node(), Endpoints(bind_v4=DEVICE_IP, port=3610))
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                pytest.skip("port 3610 is taken on all addresses by another program")
            raise
        try:
            ctl = await Controller.open(Endpoints(bind_v4=CONTROLLER_IP, port=3610), config=NodeConfig(timeout=2.0))
        except OSError:
            await server.close()
            raise
        try:
            got = await ctl.get(DEVICE_IP, BATTERY, [0x80])  # default port 3610
            assert got.addr == (DEVICE_IP, 3610) and got.values == {0x80: b"\x30"}
        finally:
            await ctl.close()
            await server.close()

    go(scenario())


def test_ipv6_loopback_round_trip() -> None:
    if not socket.has_ipv6:
        pytest.skip("no IPv6")

    async def scenario() -> None:
        try:
            server, ctl, device = await open_pair("::1", "::1")
        except OSError as exc:
            pytest.skip(f"IPv6 loopback unusable: {exc}")
        try:
            got = await ctl.get(device, BATTERY, [0x80])
            assert got.values == {0x80: b"\x30"} and got.host == "::1"
        finally:
            await ctl.close()
            await server.close()

    go(scenario())


def test_sets_by_peers_reach_the_device_server_and_notifications_reach_the_controller() -> None:
    async def scenario() -> None:
        server, ctl, device = await open_pair()
        sets = server.property_sets()
        notes = ctl.notifications()
        try:
            next_set = asyncio.ensure_future(anext(sets))
            next_note = asyncio.ensure_future(anext(notes))
            await asyncio.sleep(0)
            await ctl.set(device, BATTERY, {0xDA: b"\x42"})
            event = await next_set
            assert isinstance(event, PropertySet) and (event.eoj, event.epc, event.edt) == (BATTERY, 0xDA, b"\x42")
            server.node.announce(BATTERY, [0x80], dest=ctl.runner.local_addresses[socket.AF_INET])
            server.runner.flush()
            note = await next_note
            assert isinstance(note, NotificationReceived) and note.frame.esv == ESV.INF
            assert note.properties[0].epc == 0x80
        finally:
            await sets.aclose()
            await notes.aclose()
            await ctl.close()
            await server.close()

    go(scenario())


class _NoIdProfile(NodeProfile):
    def read(self, epc: int) -> bytes | None:
        return None if epc == 0x83 else super().read(epc)


def test_discover_deduplicates_by_identification_and_keeps_nodes_without_one() -> None:
    async def scenario() -> None:
        # One node seen at two addresses (same identification number, as over IPv4 and IPv6), one without 0x83.
        first = await DeviceServer.open(device_node(), Endpoints(bind_v4="127.0.0.46", port=0))
        second = await DeviceServer.open(device_node(), Endpoints(bind_v4="127.0.0.48", port=0))
        plain = Node([battery(3)], registry=REGISTRY, profile=_NoIdProfile(REGISTRY, unique_id=bytes(13)))
        anonymous = await DeviceServer.open(plain, Endpoints(bind_v4="127.0.0.47", port=0))
        ctl = await Controller.open(Endpoints(bind_v4=CONTROLLER_IP, port=0), config=NodeConfig(timeout=1.0))
        targets: list[str | Addr] = [s.runner.local_addresses[socket.AF_INET] for s in (first, second, anonymous)]
        try:
            found = await ctl.discover(window=0.3, rescans=1, targets=targets)
            assert len(found) == 2
            known = next(n for n in found if n.identification is not None)
            assert known.identification == h("fe 000077") + UNIQUE
            assert sorted(known.addresses) == ["127.0.0.46", "127.0.0.48"]
            assert known.instances == (BATTERY,)
            maps = {o.eoj: o for o in known.objects}
            assert maps[BATTERY].get_map == frozenset(battery().get_map)
            assert maps[BATTERY].set_map == frozenset({0x80, 0x81, 0xAA, 0xDA, 0xEB, 0xF0})
            assert maps[EOJ(0x0E, 0xF0, 0x01)].announce_map == frozenset({0x80, 0xD5})
            unknown = next(n for n in found if n.identification is None)
            assert unknown.addresses == ("127.0.0.47",) and unknown.instances == (BATTERY.with_instance(3),)
        finally:
            await ctl.close()
            for server in (first, second, anonymous):
                await server.close()

    go(scenario())


def test_a_loopback_bound_runner_sends_multicast_out_of_lo_even_when_asked_to_join() -> None:
    async def scenario() -> None:
        try:
            ctl = await Controller.open(
                Endpoints(bind_v4=CONTROLLER_IP, bind_v6="::1", port=0, join_multicast=True), config=NodeConfig()
            )
        except OSError as exc:
            pytest.skip(f"IPv6 loopback unusable: {exc}")
        try:
            v4 = ctl.runner.transports[socket.AF_INET].get_extra_info("socket")
            v6 = ctl.runner.transports[socket.AF_INET6].get_extra_info("socket")
            assert socket.inet_ntoa(v4.getsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_IF, 4)) == CONTROLLER_IP
            loopback = [i for i, name in socket.if_nameindex() if name == "lo"]
            assert [v6.getsockopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_IF)] == loopback
            assert ctl.runner.warnings == []
        finally:
            await ctl.close()

    go(scenario())


def test_uvloop_round_trip() -> None:
    pytest.importorskip("uvloop")

    async def scenario() -> None:
        server, ctl, device = await open_pair()
        try:
            assert (await ctl.get(device, BATTERY, [0x80])).values == {0x80: b"\x30"}
        finally:
            await ctl.close()
            await server.close()

    go(scenario(), use_uvloop=True)


def test_a_flood_of_malformed_datagrams_does_not_stop_the_device_answering() -> None:
    garbage = [
        b"",
        b"\x00",
        b"GET / HTTP/1.1\r\n\r\n",
        h("1081 0001 05ff01 027d01 62 05 8000"),  # OPC says 5, one property present
        h("1082"),
        h("1081 0001 05ff01"),
        bytes(range(256)),
        h("21 00 0102030405"),  # a secure-overlay-looking datagram
    ]

    async def scenario() -> None:
        server, ctl, device = await open_pair()
        flooder = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)  # a plain socket: asyncio skips empty datagrams
        flooder.bind(("127.0.0.49", 0))
        flooder.setblocking(False)
        sent = 0

        async def flood() -> None:
            nonlocal sent
            while sent < 10_000:
                try:
                    flooder.sendto(garbage[sent % len(garbage)], device)
                except BlockingIOError:
                    await asyncio.sleep(0.001)
                    continue
                sent += 1
                # Keep within what the socket buffer holds: the kernel drops what overflows it, before any code of
                # ours sees it (and it would drop our Gets alike).
                while server.node.stats.received < sent - 200:
                    await asyncio.sleep(0)

        async def ask() -> int:
            answered = 0
            while sent < 10_000:
                got = await ctl.get(device, BATTERY, [0x80, 0xE4])
                assert got.values == {0x80: b"\x30", 0xE4: b"\x32"}
                answered += 1
            return answered

        try:
            flooding = asyncio.ensure_future(flood())
            answered = sum(await asyncio.gather(*(ask() for _ in range(4))))
            await flooding
            for _ in range(100):
                if server.dropped >= 10_000:
                    break
                await asyncio.sleep(0.01)
            assert answered > 10
            assert server.dropped == 10_000
            assert server.node.stats.internal_errors == 0
        finally:
            flooder.close()
            await ctl.close()
            await server.close()

    go(scenario())
