"""Every simulated node has an identification number (0x83) of its own: derived from its endpoints and devices
(stable for the same configuration, across restarts), or given. Discovery merges nodes by 0x83, so two simulated
nodes on two addresses must be two nodes to a controller. Over real UDP on loopback (127.0.0.x, ephemeral ports)."""

from __future__ import annotations

import asyncio
import random
import subprocess
import sys
from collections.abc import Coroutine
from typing import Any, TypeVar

import pytest

from echonet import EOJ, EchonetUsageError
from echonet.aio import Controller, Endpoints, run
from echonet.drready import SimClock, sim_time, simulated_device
from echonet.drready.host import SimHost
from echonet.drready.sim import node_identity, simulated_node
from echonet.node import NodeConfig

from ..conftest import ROOT

pytestmark = pytest.mark.timeout(90)

T = TypeVar("T")
PROFILE = EOJ(0x0E, 0xF0, 0x01)
START = sim_time("2026-01-15T06:00")


def go(coro: Coroutine[Any, Any, T]) -> T:
    async def bounded() -> T:
        return await asyncio.wait_for(coro, 20)

    return run(bounded())


def loopback_addresses(n: int) -> list[str]:
    third = random.randint(1, 254)
    return [f"127.{third}.{random.randint(1, 254)}.{i}" for i in random.sample(range(10, 250), n)]


def devices(*kinds: str) -> list[Any]:
    clock = SimClock.manual(START)
    return [simulated_device(kind, clock=clock) for kind in kinds]


async def open_host(ip: str, *kinds: str, **kwargs: Any) -> SimHost:
    return await SimHost.open(devices(*kinds), Endpoints(bind_v4=ip, port=0), **kwargs)


async def read_0x83(ctl: Controller, host: SimHost) -> bytes:
    got = await ctl.get(host.address(), PROFILE, [0x83])
    return got.values[0x83]


#: A simulated node in a process of its own, as `echonet serve` runs one: prints its port, serves until stdin closes.
SERVE = """
import asyncio, sys
from echonet.aio import Endpoints
from echonet.drready import SimClock, sim_time, simulated_device
from echonet.drready.host import SimHost

async def main():
    clock = SimClock.manual(sim_time("2026-01-15T06:00"))
    host = await SimHost.open([simulated_device("battery", clock=clock)], Endpoints(bind_v4=sys.argv[1], port=0))
    print(host.address()[1], flush=True)
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)
    await host.close()

asyncio.run(main())
"""


def port_of(proc: subprocess.Popen[str]) -> int:
    assert proc.stdout is not None
    line = proc.stdout.readline()
    assert line.strip().isdigit(), f"the simulated node did not start (exit {proc.poll()})"
    return int(line)


def test_two_simulated_nodes_in_two_processes_on_two_loopback_addresses_are_discovered_as_two_nodes() -> None:
    first_ip, second_ip, ctl_ip = loopback_addresses(3)
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", SERVE, ip], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, cwd=ROOT
        )
        for ip in (first_ip, second_ip)
    ]
    try:
        targets = [(ip, port_of(p)) for ip, p in zip((first_ip, second_ip), procs, strict=True)]

        async def scenario() -> None:
            ctl = await Controller.open(Endpoints(bind_v4=ctl_ip, port=0), config=NodeConfig(timeout=1.0))
            try:
                found = await ctl.discover(window=0.3, rescans=0, targets=targets)
                assert sorted(n.host for n in found) == sorted([first_ip, second_ip])
                assert len({n.identification for n in found}) == 2
                assert all(n.identification and n.identification[:4] == b"\xfe\xff\xff\xff" for n in found)
            finally:
                await ctl.close()

        go(scenario())
    finally:
        for proc in procs:
            proc.communicate(timeout=20)


def test_the_same_configuration_gives_the_same_identification_after_a_restart() -> None:
    ip, ctl_ip = loopback_addresses(2)

    async def scenario() -> list[bytes]:
        ctl = await Controller.open(Endpoints(bind_v4=ctl_ip, port=0), config=NodeConfig(timeout=1.0))
        seen = []
        try:
            for _ in range(2):
                host = await open_host(ip, "battery", "water_heater")  # fresh devices each time, as after a restart
                try:
                    seen.append(await read_0x83(ctl, host))
                finally:
                    await host.close()
        finally:
            await ctl.close()
        return seen

    first, again = go(scenario())
    assert first == again and len(first) == 17
    # and in another process, as `echonet serve` restarted with the same configuration
    code = (
        "from echonet.aio import Endpoints\n"
        "from echonet.drready import SimClock, sim_time, simulated_device\n"
        "from echonet.drready.host import endpoint_seed\n"
        "from echonet.drready.sim import simulated_node\n"
        "clock = SimClock.manual(sim_time('2026-01-15T06:00'))\n"
        "items = [simulated_device(k, clock=clock) for k in ('battery', 'water_heater')]\n"
        f"seed = endpoint_seed(Endpoints(bind_v4={ip!r}, port=0))\n"
        "print(simulated_node(items, seed=seed).profile.identification.hex())\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, cwd=ROOT)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == first.hex()


def test_another_address_port_or_set_of_devices_gives_another_identification() -> None:
    items = devices("battery")
    base = node_identity(items, "v4=127.0.0.2 v6=None port=3610")
    assert len(base) == 13 and base.startswith(b"DRN")
    assert node_identity(devices("battery"), "v4=127.0.0.2 v6=None port=3610") == base
    others = {
        node_identity(items, "v4=127.0.0.3 v6=None port=3610"),
        node_identity(items, "v4=127.0.0.2 v6=None port=3611"),
        node_identity(devices("water_heater"), "v4=127.0.0.2 v6=None port=3610"),
        node_identity(devices("battery", "water_heater"), "v4=127.0.0.2 v6=None port=3610"),
    }
    assert len(others) == 4 and base not in others


def test_an_identification_given_is_the_one_the_node_answers() -> None:
    ip, other_ip, ctl_ip = loopback_addresses(3)
    whole = bytes.fromhex("fe00007b") + b"SIMULATED-0001"[:13]
    unique = b"SECOND-NODE-2"

    async def scenario() -> None:
        ctl = await Controller.open(Endpoints(bind_v4=ctl_ip, port=0), config=NodeConfig(timeout=1.0))
        first = await open_host(ip, "battery", identification=whole)
        second = await open_host(other_ip, "battery", identification=unique)
        try:
            assert await read_0x83(ctl, first) == whole
            assert (await ctl.get(first.address(), PROFILE, [0x8A])).values[0x8A] == bytes.fromhex("00007b")
            assert await read_0x83(ctl, second) == b"\xfe\xff\xff\xff" + unique
        finally:
            await ctl.close()
            await first.close()
            await second.close()

    go(scenario())
    with pytest.raises(EchonetUsageError, match="17 bytes"):
        simulated_node(devices("battery"), identification=b"\x01\x02")
