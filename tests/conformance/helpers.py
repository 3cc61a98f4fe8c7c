"""Helpers of the conformance tests: run a coroutine with a bound, serve a node in a thread (for the command line,
which runs its own loop), and the verdicts of a report by check."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import threading
from collections.abc import Callable, Coroutine, Iterator
from typing import Any, TypeVar

from echonet.aio import DeviceServer, Endpoints, run
from echonet.apps.emulate import emulated_node, emulated_objects, parse_class_spec
from echonet.conformance import Report, Verdict
from echonet.drready import SimClock, simulated_device
from echonet.drready.host import SimHost
from echonet.spec.registry import Registry

T = TypeVar("T")
LOOPBACK = "127.0.0.1"
#: Devices bind loopback and send their multicast announcements out of it (never out of a real interface).
DEVICE_ENDPOINTS = Endpoints(bind_v4=LOOPBACK, port=0, join_multicast=False, interfaces=("lo",))


def go(coro: Coroutine[Any, Any, T], limit: float = 120) -> T:
    async def bounded() -> T:
        return await asyncio.wait_for(coro, limit)

    return run(bounded())


async def our_devices() -> SimHost:
    """The three DRready simulations on one node."""
    clock = SimClock.at("2026-01-15T06:00")
    devices = [simulated_device(kind, clock=clock) for kind in ("water_heater", "hybrid_water_heater", "battery")]
    return await SimHost.open(devices, DEVICE_ENDPOINTS)


async def emulated(registry: Registry, *specs: str) -> DeviceServer:
    objects = emulated_objects(registry, [parse_class_spec(s, registry) for s in specs])
    return await DeviceServer.open(emulated_node(objects, registry), DEVICE_ENDPOINTS)


def port_of(server: DeviceServer) -> int:
    return int(server.runner.local_addresses[socket.AF_INET][1])


def flagged(report: Report) -> dict[tuple[str, str], str]:
    """(check, target) -> reason of every failure and warning."""
    return {(r.check.id, r.target): r.reason for r in report.results if r.verdict in (Verdict.FAIL, Verdict.WARN)}


def failing(report: Report) -> set[str]:
    return {r.check.id for r in report.results if r.verdict is Verdict.FAIL}


@contextlib.contextmanager
def served_in_thread(open_server: Callable[[], Coroutine[Any, Any, Any]]) -> Iterator[Any]:
    """A server opened by ``open_server`` on a loop of its own thread; yields it."""
    loop = asyncio.new_event_loop()
    ready: list[Any] = []
    started = threading.Event()

    def serve() -> None:
        asyncio.set_event_loop(loop)
        ready.append(loop.run_until_complete(open_server()))
        started.set()
        loop.run_forever()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    assert started.wait(10)
    server = ready[0]
    try:
        yield server
    finally:
        asyncio.run_coroutine_threadsafe(server.close(), loop).result(5)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(5)
        loop.close()
