"""A home on loopback for the gateway tests: three simulated DRready devices (real UDP), the gateway with its VEN,
and openleadr's VTN (real HTTP), on a simulated clock that runs at ``speed``."""

from __future__ import annotations

import asyncio
import contextlib
import random
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import pytest

pytest.importorskip("openleadr", reason="openleadr is not installed (pip install -e '.[test]')")

from echonet.aio import Controller, Endpoints
from echonet.drready.clock import MINUTE, SimClock, sim_time
from echonet.drready.host import SimHost
from echonet.drready.sim import SimulatedDevice, sim_registry, simulated_device
from echonet.gateway.engine import Device, Gateway, GatewayConfig
from echonet.gateway.timeline import Timeline
from echonet.gateway.ven import GatewayVen, VenConfig
from echonet.gateway.vtn import LocalVtn, Signal
from echonet.node.config import NodeConfig

KINDS = ("battery", "water_heater", "hybrid_water_heater")


@dataclass
class Home:
    clock: SimClock
    timeline: Timeline
    devices: dict[str, SimulatedDevice]
    hosts: dict[str, SimHost]
    ctl: Controller
    gateway: Gateway
    vtn: LocalVtn
    ven: GatewayVen
    stop: asyncio.Event
    tasks: list[asyncio.Task[Any]] = field(default_factory=list)

    def key(self, kind: str) -> str:
        return next(d.key for d in self.gateway.devices.values() if d.kind == kind)

    def device(self, kind: str) -> Device:
        return self.gateway.devices[self.key(kind)]

    def value(self, kind: str, epc: int) -> Any:
        model = self.devices[kind].model
        model.advance_to(self.clock.now())
        return model.value(epc)

    def at(self, minutes_from_now: float) -> Any:
        return self.timeline.to_openadr(self.clock.now() + minutes_from_now * MINUTE)

    def event(self, event_id: str, signals: list[tuple[str, str, float]], start_min: float, minutes: float) -> str:
        start = self.at(start_min)
        length = timedelta(minutes=minutes)
        return self.vtn.add_event(
            [Signal(name, kind, ((start, length, value),)) for name, kind, value in signals], event_id=event_id
        )


async def until(check: Callable[[], bool], timeout: float = 10.0, what: str = "") -> None:
    """Wait (real seconds) until ``check()`` holds."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not check():
        if loop.time() > deadline:
            raise AssertionError(f"timed out waiting for {what or check}")
        await asyncio.sleep(0.02)


@contextlib.asynccontextmanager
async def home(
    *,
    speed: float = 60.0,
    start: str = "2026-01-15T09:00",
    consent: tuple[str, ...] = ("*",),
    state_file: str | None = None,
    poll_interval: float = 60.0,
    kinds: tuple[str, ...] = KINDS,
    run_ven: bool = True,
    clock: SimClock | None = None,
    devices: dict[str, SimulatedDevice] | None = None,
    audit: Any = None,
    base: str | None = None,
    open_controller: Callable[[Endpoints, NodeConfig], Awaitable[Controller]] | None = None,
    prepare: Mapping[str, Callable[[Any], object]] | None = None,
) -> AsyncIterator[Home]:
    """``base``: the first three bytes of the loopback addresses (``127.0.N.``; the gateway is ``.10``, the devices
    ``.11`` on); ``open_controller``: opens the gateway's controller (a secured one); ``prepare``: per kind, run on the
    device's runner before its node starts (a secure layer)."""
    clock = clock if clock is not None else SimClock(sim_time(start), speed)
    timeline = Timeline.simulated(clock)
    base = base if base is not None else f"127.0.{random.randint(20, 250)}."
    made: dict[str, SimulatedDevice] = devices if devices is not None else {}
    hosts: dict[str, SimHost] = {}
    ctl_endpoints = Endpoints(bind_v4=base + "10", port=0)
    ctl_config = NodeConfig(timeout=0.5, retries=1, multicast_v6=None)
    if open_controller is not None:
        ctl = await open_controller(ctl_endpoints, ctl_config)
    else:
        ctl = await Controller.open(ctl_endpoints, config=ctl_config)
    vtn = LocalVtn(granularity=timedelta(minutes=5))
    stop = asyncio.Event()
    try:
        for i, kind in enumerate(kinds):
            device = made.get(kind) or simulated_device(kind, 1, clock=clock)
            made[kind] = device
            hosts[kind] = await SimHost.open(
                [device],
                Endpoints(bind_v4=base + str(11 + i), port=0),
                clock=clock,
                config=NodeConfig(multicast_v6=None),
                tick_interval=0.05,
                prepare=(prepare or {}).get(kind),
            )
        config = GatewayConfig(
            poll_interval=poll_interval,
            renew_interval=5 * MINUTE,
            consent=consent,
            state_file=state_file,
            backup_reserve_wh=2000,
            retries=2,
        )
        gw = Gateway(ctl, sim_registry(), timeline, config, audit=audit)
        await gw.discover([h.address() for h in hosts.values()], window=0.3)
        gw.resume()
        await vtn.start()
        ven = GatewayVen(gw, VenConfig(vtn.url, "test-gateway", retry_s=0.3))
        h = Home(clock, timeline, made, hosts, ctl, gw, vtn, ven, stop)
        if run_ven:
            h.tasks.append(asyncio.get_running_loop().create_task(ven.run(stop)))

        async def stepper() -> None:
            while not stop.is_set():
                await gw.step()
                await asyncio.sleep(0.05)

        h.tasks.append(asyncio.get_running_loop().create_task(stepper()))
        watcher = asyncio.get_running_loop().create_task(gw.watch_notifications())
        if run_ven:
            await until(lambda: gw.vtn_status.startswith("registered"), 15, "the VEN's registration")
        yield h
    finally:
        stop.set()
        if "watcher" in locals():
            watcher.cancel()
            with contextlib.suppress(Exception, asyncio.CancelledError):
                await watcher
        for task in locals().get("h", None).tasks if "h" in locals() else []:
            with contextlib.suppress(Exception, asyncio.CancelledError):
                await asyncio.wait_for(task, 10)
        await vtn.stop()
        for host in hosts.values():
            await host.close()
        await ctl.close()
