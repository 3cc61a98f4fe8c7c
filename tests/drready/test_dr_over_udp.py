"""Each DR path of the simulated devices over real UDP sockets on loopback: our controller, our device node.

The simulated clock is manual here (it moves only when a test advances it), so the physics are deterministic; the
network is real. Loopback addresses are picked at random (127.0.0.100-250) with ephemeral ports, so that concurrent
runs do not collide.
"""

from __future__ import annotations

import asyncio
import random
import socket
from collections.abc import AsyncIterator, Callable, Coroutine
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any, TypeVar

from echonet import EOJ, ESV
from echonet.aio import Controller, Endpoints, run
from echonet.drready import HOUR, MINUTE, SimClock, sim_time, simulated_device
from echonet.drready.host import SimHost
from echonet.drready.sim import SimulatedDevice
from echonet.frame import Frame
from echonet.node import Addr, NodeConfig

T = TypeVar("T")


def go(coro: Coroutine[Any, Any, T]) -> T:
    async def bounded() -> T:
        return await asyncio.wait_for(coro, 20)

    return run(bounded())


@dataclass
class Rig:
    clock: SimClock
    device: SimulatedDevice
    host: SimHost
    ctl: Controller
    addr: Addr
    infs: list[Frame] = field(default_factory=list)

    @property
    def eoj(self) -> EOJ:
        return self.device.eoj

    async def get(self, *epcs: int) -> dict[int, bytes]:
        result = await self.ctl.get(self.addr, self.eoj, epcs)
        assert result.ok, result
        return dict(result.values)

    async def set(self, *props: tuple[int, bytes]) -> tuple[int, ...]:
        result = await self.ctl.set(self.addr, self.eoj, list(props))
        return result.refused

    async def later(self, seconds: float) -> None:
        """Move simulated time on and let the device's own timer see it (no request: the watchdog stays hungry)."""
        self.clock.advance(seconds)
        self.host.tick()
        await asyncio.sleep(0.01)

    async def wait_inf(self, pred: Callable[[Frame], bool]) -> Frame:
        for _ in range(500):
            for frame in self.infs:
                if pred(frame):
                    return frame
            await asyncio.sleep(0.01)
        raise AssertionError(f"no such INF among {self.infs}")


@asynccontextmanager
async def rig(kind: str, start: str = "2026-01-15T10:00", **params: Any) -> AsyncIterator[Rig]:
    ip = f"127.0.0.{random.randint(100, 250)}"
    clock = SimClock.manual(sim_time(start))
    ctl = await Controller.open(Endpoints(bind_v4=ip, port=0), config=NodeConfig(timeout=2.0, retries=1))
    ctl_addr = ctl.runner.local_addresses[socket.AF_INET]
    device = simulated_device(kind, clock=clock, **params)
    # multicast does not reach a socket bound to a loopback address: the device announces to the controller
    config = NodeConfig(multicast_v4=ip, multicast_v6=None, port=ctl_addr[1])
    host = await SimHost.open([device], Endpoints(bind_v4=ip, port=0), config=config, tick_interval=0.05)
    r = Rig(clock, device, host, ctl, host.address())

    async def collect() -> None:
        async for note in ctl.notifications():
            r.infs.append(note.frame)

    task = asyncio.get_running_loop().create_task(collect())
    await asyncio.sleep(0)
    try:
        yield r
    finally:
        task.cancel()
        await host.close()
        await ctl.close()


def u(value: int, size: int) -> bytes:
    return value.to_bytes(size, "big")


def plan(edt: bytes) -> list[int]:
    return [int.from_bytes(edt[i : i + 2], "big") for i in range(0, 48, 2)]


def test_water_heater_dr_start_time_moves_the_boiling_plan_into_the_day() -> None:
    async def scenario() -> None:
        async with rig("water_heater", start="2026-01-14T21:00") as r:
            before = plan((await r.get(0xF7))[0xF7])
            assert await r.set((0xC7, b"\x01"), (0xCA, b"\x0d")) == ()  # participating, shift at 13:00
            after = plan((await r.get(0xF7))[0xF7])
            assert before[13] == 0 and after[13] > 0
            assert sum(after[0:7]) + sum(after[23:]) < sum(before[0:7]) + sum(before[23:])  # less night boiling
            await r.later(3 * HOUR)  # 00:00: the cycle fixed at 23:00 holds the shift
            await r.later(13 * HOUR)  # 13:00: the daytime boiling starts
            used_before = int.from_bytes((await r.get(0x85))[0x85], "big")
            assert int.from_bytes((await r.get(0x84))[0x84], "big") > 0
            await r.later(HOUR)
            used = int.from_bytes((await r.get(0x85))[0x85], "big") - used_before  # 0.001 kWh units
            assert used >= after[13] - 1  # the hour's plan was delivered

    go(scenario())


def test_hybrid_household_consumption_linkage_raises_daytime_demand() -> None:
    async def scenario() -> None:
        async with rig("hybrid_water_heater", start="2026-01-15T06:30") as r:
            before = plan((await r.get(0xF6))[0xF6])
            assert await r.set((0xB8, b"\x42")) == ()  # household consumption (self-consumption)
            after = plan((await r.get(0xF6))[0xF6])
            assert sum(after[9:15]) > sum(before[9:15])
            assert (await r.get(0xF2))[0xF2] == b"\x01"  # a DR command: DR active
            await r.later(4 * HOUR)  # 10:30, inside the solar window
            assert int.from_bytes((await r.get(0x84))[0x84], "big") > 0

    go(scenario())


def test_battery_charges_at_the_designated_power_up_to_the_amount() -> None:
    async def scenario() -> None:
        async with rig("battery", initial_soc=0.3) as r:
            start_in = int.from_bytes((await r.get(0xA8))[0xA8], "big")
            refused = await r.set((0xC1, b"\x03"), (0xEB, u(1000, 4)), (0xAA, u(500, 4)), (0xDA, b"\x42"))
            assert refused == ()
            await r.later(15 * MINUTE)
            got = await r.get(0xD3, 0xCF)
            assert int.from_bytes(got[0xD3], "big", signed=True) == 1000 and got[0xCF] == b"\x42"
            await r.later(HOUR)
            got = await r.get(0xD3, 0xA8, 0xCF)
            assert int.from_bytes(got[0xD3], "big", signed=True) == 0 and got[0xCF] == b"\x44"  # amount reached
            assert int.from_bytes(got[0xA8], "big") - start_in == 500  # 0.001 kWh units

    go(scenario())


def test_battery_discharge_at_the_target_stops_at_the_backup_reserve() -> None:
    async def scenario() -> None:
        async with rig("battery", capacity_wh=10000, initial_soc=0.5) as r:
            assert await r.set((0xF4, u(4000, 4))) == ()
            assert await r.set((0xC2, b"\x03"), (0xEC, u(2000, 4)), (0xDA, b"\x43")) == ()
            await r.later(10 * MINUTE)
            assert int.from_bytes((await r.get(0xD3))[0xD3], "big", signed=True) == -2000
            await r.later(2 * HOUR)
            got = await r.get(0xD3, 0xE2, 0xA5)
            assert int.from_bytes(got[0xD3], "big", signed=True) == 0
            assert int.from_bytes(got[0xE2], "big") == 4000  # stopped exactly at the reserve
            assert int.from_bytes(got[0xA5], "big") == 0  # nothing left to discharge above it

    go(scenario())


def test_battery_returns_to_the_pre_dr_mode_when_the_dr_ends_and_announces_it() -> None:
    async def scenario() -> None:
        async with rig("battery") as r:
            assert (await r.get(0xDA))[0xDA] == b"\x46"  # auto
            assert await r.set((0xF0, b"\x0a"), (0xDA, b"\x42")) == ()  # a DR of 10 minutes without renewal
            await r.wait_inf(lambda f: any(p.epc == 0xDA and p.edt == b"\x42" for p in f.properties))
            await r.later(11 * MINUTE)
            inf = await r.wait_inf(lambda f: any(p.epc == 0xF2 and p.edt == b"\x00" for p in f.properties))
            assert inf.esv == ESV.INF and inf.seoj == r.eoj
            assert (await r.get(0xDA, 0xF2)) == {0xDA: b"\x46", 0xF2: b"\x00"}
            # ended by the controller: 0xF2 = inactive restores the pre-DR mode at once
            assert await r.set((0xF0, b"\x00"), (0xDA, b"\x43")) == ()
            assert await r.set((0xF2, b"\x00")) == ()
            assert (await r.get(0xDA, 0xF2)) == {0xDA: b"\x46", 0xF2: b"\x00"}

    go(scenario())


def test_watchdog_returns_the_battery_to_its_own_mode_when_the_controller_goes_silent() -> None:
    async def scenario() -> None:
        async with rig("battery", own_mode="0x44") as r:
            assert await r.set((0xF3, u(600, 2)), (0xDA, b"\x43")) == ()  # watchdog 10 min; discharge
            await r.later(5 * MINUTE)
            assert (await r.get(0xDA))[0xDA] == b"\x43"  # the Get feeds the watchdog
            await r.later(9 * MINUTE)
            assert (await r.get(0xDA))[0xDA] == b"\x43"
            await r.later(11 * MINUTE)  # silence
            await r.wait_inf(lambda f: any(p.epc == 0xF2 and p.edt == b"\x02" for p in f.properties))
            assert (await r.get(0xDA, 0xF2)) == {0xDA: b"\x44", 0xF2: b"\x02"}  # own mode, ownModeAfterTimeout

    go(scenario())


def test_sets_out_of_range_or_refused_by_the_model_get_an_sna() -> None:
    async def scenario() -> None:
        async with rig("battery", capacity_wh=5000) as r:
            assert await r.set((0xF0, b"\x1f")) == (0xF0,)  # 31 minutes: above the 30-minute limit
            assert await r.set((0xDA, b"\x45")) == (0xDA,)  # test mode: not supported by the model
            assert await r.set((0xF4, u(6000, 4)), (0xF3, u(60, 2))) == (0xF4,)  # reserve above the capacity
            assert (await r.get(0xF3))[0xF3] == u(60, 2)  # the accepted half of the request applied
            quiet = await r.ctl.set(r.addr, r.eoj, [(0xE4, b"\x10")], confirm=False, wait_sna=True, timeout=0.5)
            assert quiet.confirmed and quiet.refused == (0xE4,)  # SetI of a read-only EPC: SetI_SNA
            assert (await r.get(0xDA))[0xDA] == b"\x46"

    go(scenario())


def test_sim_host_prepares_the_runner_before_the_node_sends_its_first_datagram() -> None:
    seen: list[tuple[bool, int]] = []

    def prepare(runner: Any) -> None:  # e.g. where `echonet serve --secure` puts the secure layer
        seen.append((runner.node.started, runner.node.stats.sent))

    async def scenario() -> tuple[bool, int]:
        device = simulated_device("battery", clock=SimClock(sim_time("2026-01-15T12:00"), speed=60.0))
        ip = f"127.0.{random.randint(1, 254)}.{random.randint(100, 250)}"
        host = await SimHost.open([device], Endpoints(bind_v4=ip, port=0), prepare=prepare)
        try:
            return host.server.node.started, host.server.node.stats.sent
        finally:
            await host.close()

    started, sent = run(scenario())
    assert seen == [(False, 0)]
    assert started and sent >= 1  # the start-up announcement left after prepare
