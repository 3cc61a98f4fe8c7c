"""Helpers of the controller tests: simulated devices with field quirks on loopback, and a controller to meet them."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine, Iterable
from typing import Any, TypeVar

from echonet.aio import Endpoints
from echonet.aio.field import FieldConfig, FieldController
from echonet.apps.quirks import parse_quirks
from echonet.drready.clock import SimClock
from echonet.drready.host import SimHost
from echonet.drready.sim import SimulatedDevice, simulated_device

T = TypeVar("T")

#: Where these tests' controllers bind (devices take 127.0.0.181 and up).
CONTROLLER_IP = "127.0.0.180"


def go(coro: Coroutine[Any, Any, T], limit: float = 120.0) -> T:
    """Run a scenario on a new loop, failing (not hanging) after ``limit`` seconds."""
    return asyncio.run(asyncio.wait_for(coro, limit))


def battery() -> SimulatedDevice:
    return simulated_device("battery", clock=SimClock.at("2026-01-15T10:00", speed=1))


async def quirk_host(
    specs: Iterable[str], ip: str, *, port: int = 0, identification: bytes | None = None, seed: int = 7
) -> SimHost:
    """A simulated battery on its own node at ``ip`` with the quirks ``specs`` (``NAME[=VALUE]``)."""
    return await SimHost.open(
        [battery()],
        Endpoints(bind_v4=ip, port=port, reuse_address=True if port else None),
        quirks=parse_quirks(specs, seed=seed),
        identification=identification,
    )


async def field_controller(**settings: Any) -> FieldController:
    """Our controller with its default settings (``settings`` only where a test needs other timings)."""
    return await FieldController.open(Endpoints(bind_v4=CONTROLLER_IP, port=0), field=FieldConfig(**settings))
