"""Availability under a half-open attack, on real sockets on loopback with the real asyncio layer: many source
addresses (127.0.74.x) that receive replies fetch cookies, echo them, take message_2 and never send message_3.

The device runs the default denial-of-service budgets (32 half-open runs, 2 per source, the full retry schedule of
a 1 s handshake timeout: 16 s per run). Before the fix, 16 such addresses at a few datagrams per second held every
slot, and every new handshake failed until the attack stopped; now a full table gives way to the newcomer, and
legitimate handshakes succeed while the attack goes on."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from session_support import BATTERY, FAST, certificate_sides, device_node, endpoints, wall

from echonet.node import NodeConfig
from secure.errors import SecureSessionError
from secure.handshake.edhoc import Initiator
from secure.handshake.messages import Method
from secure.layer.aio import SecureDeviceServer, open_secure_controller, open_secure_server
from secure.policy.rules import Policy
from secure.records.framing import CookieRecord, HandshakeRecord, decode, encode_cookie, encode_handshake

DEVICE_IP = "127.0.74.1"


def run(coro: Any, limit: float = 60) -> Any:
    return asyncio.run(asyncio.wait_for(coro, limit))


def message_1s(local: Any) -> Iterator[bytes]:
    """Fresh message_1s (each its own ephemeral key, as a real initiator's)."""
    while True:
        yield Initiator(method=Method.SIG_SIG, credential=local, verify_peer=lambda c: None).create_message_1()


class HalfOpener:
    """One attacking address: message_1, echo the cookie, take message_2, never send message_3; again every
    ``interval`` seconds."""

    def __init__(self, ip: str, target: tuple[str, int], source: Iterator[bytes], interval: float) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind((ip, 0))
        self.sock.setblocking(False)
        self.target, self.source, self.interval = target, source, interval
        self.message_2 = 0

    async def _receive(self, timeout: float) -> bytes | None:
        loop = asyncio.get_running_loop()
        try:
            return await asyncio.wait_for(loop.sock_recv(self.sock, 65535), timeout)
        except TimeoutError:
            return None

    async def run(self, stop: asyncio.Event) -> None:
        try:
            while not stop.is_set():
                m1 = next(self.source)
                self.sock.sendto(encode_handshake(b"", m1), self.target)
                reply = await self._receive(0.5)
                record = None if reply is None else decode(reply)
                if isinstance(record, CookieRecord):
                    self.sock.sendto(encode_cookie(record.cookie, m1), self.target)
                    answer = await self._receive(0.5)
                    if answer is not None and isinstance(decode(answer), HandshakeRecord):
                        self.message_2 += 1
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), self.interval)
        finally:
            self.sock.close()


async def _attack(
    server: SecureDeviceServer, ips: list[str], local: Any, interval: float, legit: Any, *, fill: bool = True
) -> tuple[list[bool], int, int]:
    """Run the attack; once the table is as full as strangers may fill it (or, without ``fill``, once the global
    budget ran dry), run ``legit()`` (a coroutine returning a list of outcomes) while the attack goes on.
    (outcomes, fullest table seen, message_2 the attackers got)."""
    target = server.runner.local_addresses[socket.AF_INET][:2]
    source = message_1s(local)
    attackers = [HalfOpener(ip, target, source, interval) for ip in ips]
    stop = asyncio.Event()
    tasks = [asyncio.create_task(a.run(stop)) for a in attackers]
    layer = server.layer
    fullest = 0
    limited = layer.stats.rate_limited
    try:
        strangers_share = layer.config.max_half_open - layer.config.reserved_half_open
        for _ in range(200):  # until the attack holds the strangers' whole share (the machine may be busy)
            fullest = max(fullest, layer.half_open_count)
            if fullest >= strangers_share if fill else layer.stats.rate_limited - limited >= 50:
                break
            await asyncio.sleep(0.05)
        if fill:
            assert fullest >= strangers_share, f"the attack never filled the table ({fullest})"
        else:
            assert layer.stats.rate_limited - limited >= 50, "the attack never spent the global budget"
        outcomes: list[bool] = await legit()
        fullest = max(fullest, layer.half_open_count)
    finally:
        stop.set()
        await asyncio.gather(*tasks)
    return outcomes, fullest, sum(a.message_2 for a in attackers)


def test_new_controllers_from_new_addresses_complete_handshakes_while_16_addresses_hold_half_open_runs(
    tmp_path: Path,
) -> None:
    ctl, dev = certificate_sides(tmp_path, handshake_timeout=1.0, handshake_retries=3)  # the device's: 16 s runs

    async def scenario() -> None:
        server = await open_secure_server(
            device_node(), endpoints(DEVICE_IP), dev.config, policy=dev.policy, audit=dev.audit, wall_clock=wall
        )
        addr = server.runner.local_addresses[socket.AF_INET][:2]

        async def legit() -> list[bool]:
            outcomes = []
            for n in range(6):  # each a fresh controller from an address the device has never seen: a stranger
                controller = await open_secure_controller(
                    endpoints(f"127.0.74.{200 + n}"),
                    replace(ctl.config, handshake_timeout=0.3),
                    node_config=NodeConfig(timeout=3.0, retries=0, multicast_v6=None),
                    policy=Policy(),
                    audit=ctl.audit,
                    wall_clock=wall,
                )
                try:
                    got = await controller.get(addr, BATTERY, [0x80])
                    outcomes.append(got.values == {0x80: b"\x30"})
                except SecureSessionError:
                    outcomes.append(False)
                finally:
                    await controller.close()
                await asyncio.sleep(0.3)
            return outcomes

        try:
            outcomes, fullest, stolen = await _attack(
                server, [f"127.0.74.{10 + i}" for i in range(16)], ctl.local, 0.4, legit
            )
        finally:
            await server.close()
        assert outcomes == [True] * 6, outcomes
        assert fullest >= 24 and stolen > 32  # the attack was real: the table full, runs churned
        assert server.layer.stats.half_open_evicted > 0 and server.layer.stats.half_open_refused == 0

    run(scenario())


def test_a_known_controller_completes_handshakes_while_32_addresses_spend_the_whole_global_budget(
    tmp_path: Path,
) -> None:
    ctl, dev = certificate_sides(tmp_path, handshake_timeout=1.0, handshake_retries=3)
    controller_ip = "127.0.74.250"
    # A global budget of 5 records/s, so that the attack below spends it many times over on any machine.
    budget = replace(dev.config, global_rate=5.0, global_burst=5.0)

    async def scenario() -> None:
        server = await open_secure_server(
            device_node(), endpoints(DEVICE_IP), budget, policy=dev.policy, audit=dev.audit, wall_clock=wall
        )
        addr = server.runner.local_addresses[socket.AF_INET][:2]

        async def one_get() -> bool:
            controller = await open_secure_controller(
                endpoints(controller_ip),
                ctl.config,
                node_config=NodeConfig(timeout=3.0, retries=0, multicast_v6=None),
                policy=Policy(),
                audit=ctl.audit,
                wall_clock=wall,
            )
            try:
                return (await controller.get(addr, BATTERY, [0x80])).values == {0x80: b"\x30"}
            except SecureSessionError:
                return False
            finally:
                await controller.close()

        assert await one_get()  # before the attack: the device now knows this address

        async def legit() -> list[bool]:
            outcomes = []
            for _ in range(5):
                outcomes.append(await one_get())
                await asyncio.sleep(0.3)
            return outcomes

        rate_limited_before = server.layer.stats.rate_limited
        try:
            # 32 addresses, each at up to its per-source budget (5 records/s): up to 160 records/s against 5/s.
            outcomes, _, _ = await _attack(
                server, [f"127.0.74.{40 + i}" for i in range(32)], ctl.local, 0.2, legit, fill=False
            )
        finally:
            await server.close()
        assert outcomes == [True] * 5, outcomes
        assert server.layer.stats.rate_limited > rate_limited_before  # the shared budget ran dry

    run(scenario())


def test_a_failed_attempt_from_the_controllers_address_does_not_lock_out_its_next_handshake(tmp_path: Path) -> None:
    ctl, dev = certificate_sides(tmp_path, handshake_timeout=1.0, handshake_retries=3)

    async def scenario() -> None:
        server = await open_secure_server(
            device_node(), endpoints(DEVICE_IP), dev.config, policy=dev.policy, audit=dev.audit, wall_clock=wall
        )
        addr = server.runner.local_addresses[socket.AF_INET][:2]
        try:
            # The failed attempt: two runs from the controller's own address that never send message_3.
            source = message_1s(ctl.local)
            for _ in range(2):
                opener = HalfOpener("127.0.74.251", addr, source, 0.0)
                once = asyncio.Event()
                task = asyncio.create_task(opener.run(once))
                await asyncio.sleep(0.3)
                once.set()
                await task
            assert server.layer.half_open_count >= 2
            controller = await open_secure_controller(
                endpoints("127.0.74.251"),
                ctl.config,
                node_config=FAST,
                policy=ctl.policy,
                audit=ctl.audit,
                wall_clock=wall,
            )
            try:
                assert (await controller.get(addr, BATTERY, [0x80])).values == {0x80: b"\x30"}
            finally:
                await controller.close()
        finally:
            await server.close()

    run(scenario())


@pytest.mark.parametrize(
    ("device_overrides", "says", "legacy_hint"),
    [
        ({"source_burst": 1.0, "source_rate": 0.001}, "a cookie came back, then no message_2", False),
        (None, "no cookie and no message_2 came back", True),
    ],
)
def test_a_controller_whose_handshake_goes_unanswered_says_how_far_it_got_and_hints_at_legacy_only_without_a_cookie(
    tmp_path: Path, device_overrides: dict[str, float] | None, says: str, legacy_hint: bool
) -> None:
    ctl, dev = certificate_sides(tmp_path)

    async def scenario() -> None:
        server = None
        if device_overrides is not None:  # a secured device that lets the cookie out, then rate-limits the echo
            server = await open_secure_server(
                device_node(),
                endpoints(DEVICE_IP),
                replace(dev.config, **device_overrides),
                policy=dev.policy,
                audit=dev.audit,
                wall_clock=wall,
            )
            target = server.runner.local_addresses[socket.AF_INET][:2]
        else:  # nobody answers there
            target = ("127.0.74.99", 3610)
        controller = await open_secure_controller(
            endpoints("127.0.74.252"), ctl.config, node_config=FAST, policy=ctl.policy, audit=ctl.audit, wall_clock=wall
        )
        try:
            with pytest.raises(SecureSessionError) as failure:
                await controller.get(target, BATTERY, [0x80], timeout=0.8)
        finally:
            await controller.close()
            if server is not None:
                await server.close()
        text = str(failure.value)
        assert says in text, text
        assert ("consent grant" in text) is legacy_hint, text

    run(scenario())
