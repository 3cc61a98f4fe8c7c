"""The communication watchdog of a simulated DRready battery, over ECHONET Lite / UDP on loopback.

A controller arms the battery's watchdog (extension EPC 0xF3, non-standard: Release R has no such property for
0x027D), starts a DR (discharge at 2000 W), polls it for an hour and then stops talking, as a crashed aggregator
would. When the watchdog runs out the battery ends the DR by itself and returns to its *own* mode (auto); its DR
state 0xF2 reads ``ownModeAfterTimeout``. A passive monitor prints the battery's announcements (INF) as they come.

Run: ``python examples/watchdog.py [--bind 127.0.0.50] [--speed 3600]`` (a simulated hour per second: about 3 s).
Exit code 0 when the battery returned to its own mode, 1 otherwise.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import socket
import sys

from echonet import EOJ
from echonet.aio import Controller, Endpoints, GetResult
from echonet.drready import MINUTE, SimClock, sim_time, simulated_device, wall_time
from echonet.drready.host import SimHost
from echonet.drready.sim import sim_registry
from echonet.node import NodeConfig

REGISTRY = sim_registry()
BATTERY = EOJ(0x02, 0x7D, 0x01)
WATCHDOG_S = 1800


def typed(result_values: dict[int, bytes]) -> str:
    parts = []
    for epc, edt in result_values.items():
        dv = REGISTRY.decode_value(BATTERY.class_id, epc, edt)
        key = dv.definition.key if dv.definition is not None else f"0x{epc:02X}"
        unit = f" {dv.unit}" if dv.unit else ""
        parts.append(f"{key}={dv.json_value()}{unit}")
    return ", ".join(parts)


async def scenario(bind: str, speed: float) -> bool:
    clock = SimClock(sim_time("2026-01-15T17:00"), 0.0)  # held still until everything is up

    def log(text: str) -> None:
        print(f"{wall_time(clock.now()):%H:%M}  {text}", flush=True)

    monitor = await Controller.open(Endpoints(bind_v4=bind, port=0))
    monitor_port = monitor.runner.local_addresses[socket.AF_INET][1]
    device = simulated_device("battery", clock=clock, initial_soc=0.8)
    # multicast does not reach loopback-bound sockets: the battery announces to the monitor
    host = await SimHost.open(
        [device],
        Endpoints(bind_v4=bind, port=0),
        config=NodeConfig(multicast_v4=bind, multicast_v6=None, port=monitor_port),
        tick_interval=0.02,
    )
    battery = host.address()

    async def watch() -> None:
        async for note in monitor.notifications():
            if note.frame.seoj != BATTERY:  # the node profile's start-up INF (instance list)
                continue
            log(f"INF from the battery: {typed({p.epc: p.edt for p in note.frame.properties})}")

    watcher = asyncio.get_running_loop().create_task(watch())
    ctl = await Controller.open(Endpoints(bind_v4=bind, port=0), config=NodeConfig(timeout=1.0, retries=2))
    try:
        clock.speed = speed
        log(f"controller: watchdog 0xF3 = {WATCHDOG_S} s [non-standard], DR: discharge at 2000 W")
        await ctl.set(battery, BATTERY, [(0xF3, WATCHDOG_S.to_bytes(2, "big"))])
        await ctl.set(battery, BATTERY, [(0xC2, b"\x03"), (0xEC, (2000).to_bytes(4, "big")), (0xDA, b"\x43")])
        silent_from = clock.now() + 60 * MINUTE
        while clock.now() < silent_from:
            await asyncio.sleep(10 * MINUTE / speed)
            got: GetResult = await ctl.get(battery, BATTERY, [0xDA, 0xD3, 0xE4])
            log(f"controller polls: {typed(dict(got.values))}")
        await ctl.close()
        log(
            f"controller stops talking (crashed); the battery's watchdog runs out at "
            f"{wall_time(clock.now() + WATCHDOG_S):%H:%M}"
        )
        await asyncio.sleep((WATCHDOG_S + 15 * MINUTE) / speed)
        back = await monitor.get(battery, BATTERY, [0xDA, 0xF2, 0xD3])
        log(f"a controller looks again: {typed(dict(back.values))}")
        returned = back.values.get(0xDA) == b"\x46" and back.values.get(0xF2) == b"\x02"
        log("the battery returned to its own mode (auto)" if returned else "the battery did NOT return to its own mode")
        return returned
    finally:
        watcher.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await watcher
        await ctl.close()
        await host.close()
        await monitor.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--bind", default="127.0.0.50", help="loopback address for all three nodes (ephemeral ports)")
    parser.add_argument("--speed", type=float, default=3600.0, help="simulated seconds per second")
    args = parser.parse_args(argv)
    return 0 if asyncio.run(scenario(args.bind, args.speed)) else 1


if __name__ == "__main__":
    sys.exit(main())
