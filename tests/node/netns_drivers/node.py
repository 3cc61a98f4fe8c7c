"""A node of ours inside a network namespace, for tests/node/test_netns_discovery.py.

    python -m tests.node.netns_drivers.node device --unique HEX [--v6] [--seconds 30]
    python -m tests.node.netns_drivers.node controller [--v6] [--expect-inf N] [--linger 5] [--window 0.5]

Both bind the wildcard address(es) on port 3610 and join the ECHONET Lite groups on ``eth0`` only.

* device: hosts a storage battery 0x027D01 and a water heater 0x026B01 beside its node profile (identification
  ``fe`` + maker ``ffffff`` + ``--unique``), announces 0xD5 at start-up, prints ``READY {json}`` and serves until
  SIGTERM or ``--seconds``.
* controller: prints ``READY {json}`` once listening, collects notifications, waits up to ``--linger`` seconds until
  ``--expect-inf`` INF of 0xD5 came from distinct addresses, then runs ``Controller.discover()`` by multicast and
  prints one JSON document: the INF heard, the nodes found (addresses, identification, instances, maps).

Everything has a time limit; the exit code is 0 unless something raised.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import signal
import sys
import time
from typing import Any

from echonet.aio import Controller, DeviceServer, Endpoints
from echonet.frame import EOJ
from echonet.node import DeviceObject, Event, Node, NodeConfig, NodeProfile, NotificationReceived

BATTERY = EOJ(0x02, 0x7D, 0x01)
WATER_HEATER = EOJ(0x02, 0x6B, 0x01)


def emit(line: str) -> None:
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


def endpoints(v6: bool) -> Endpoints:
    return Endpoints(bind_v4="0.0.0.0", bind_v6="::" if v6 else None, interfaces=("eth0",))


def objects() -> list[DeviceObject]:
    battery = DeviceObject(
        BATTERY,
        {
            0x80: b"\x30",
            0x81: b"\x00",
            0x82: b"\x00\x00R\x01",
            0x88: b"\x42",
            0x8A: b"\xff\xff\xff",
            0xDA: b"\x44",
            0xE4: b"\x32",
        },
    )
    heater = DeviceObject(
        WATER_HEATER,
        {
            0x80: b"\x30",
            0x81: b"\x00",
            0x82: b"\x00\x00R\x01",
            0x88: b"\x42",
            0x8A: b"\xff\xff\xff",
            0xB0: b"\x41",
            0xB2: b"\x42",
            0xC0: b"\x41",
        },
    )
    return [battery, heater]


async def device(args: argparse.Namespace) -> None:
    profile = NodeProfile(unique_id=bytes.fromhex(args.unique))
    config = NodeConfig(multicast_v6="ff02::1" if args.v6 else None)
    server = await DeviceServer.open(Node(objects(), config=config, profile=profile), endpoints(args.v6))
    emit("READY " + json.dumps({"identification": profile.identification.hex(), "warnings": server.runner.warnings}))
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    loop.add_signal_handler(signal.SIGINT, stop.set)
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), args.seconds)
    await server.close()


async def controller(args: argparse.Namespace) -> None:
    config = NodeConfig(timeout=1.0, multicast_v6="ff02::1" if args.v6 else None)
    ctl = await Controller.open(endpoints(args.v6), config=config)
    heard: list[dict[str, Any]] = []
    senders: set[str] = set()
    enough = asyncio.Event()

    def on_event(event: Event) -> None:
        if isinstance(event, NotificationReceived) and event.seoj == EOJ(0x0E, 0xF0, 0x01):
            props = {f"{p.epc:02x}": p.edt.hex() for p in event.properties}
            heard.append({"from": str(event.addr[0]), "props": props})
            if "d5" in props:
                senders.add(str(event.addr[0]).split("%")[0])
                if len(senders) >= args.expect_inf:
                    enough.set()

    ctl.runner.on_event = on_event
    emit("READY " + json.dumps({"warnings": ctl.runner.warnings}))
    started = time.monotonic()
    if args.expect_inf:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(enough.wait(), args.linger)
    nodes = await ctl.discover(window=args.window, rescans=args.rescans)
    out = {
        "inf": heard,
        "seconds": round(time.monotonic() - started, 3),
        "nodes": [
            {
                "address": [str(n.address[0]), n.address[1]],
                "addresses": sorted(a.split("%")[0] for a in n.addresses),
                "identification": n.identification.hex() if n.identification else None,
                "instances": [bytes(e).hex() for e in n.instances],
                "objects": {
                    bytes(o.eoj).hex(): {
                        "get_map": sorted(f"{e:02x}" for e in o.get_map or ()),
                        "set_map": sorted(f"{e:02x}" for e in o.set_map or ()),
                        "error": o.error,
                    }
                    for o in n.objects
                },
            }
            for n in nodes
        ],
    }
    await ctl.close()
    emit(json.dumps(out, sort_keys=True))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("role", choices=["device", "controller"])
    parser.add_argument("--unique", default="00" * 13)
    parser.add_argument("--v6", action="store_true", help="IPv6 too (ff02::1 on eth0)")
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--expect-inf", type=int, default=0)
    parser.add_argument("--linger", type=float, default=5.0)
    parser.add_argument("--window", type=float, default=0.5)
    parser.add_argument("--rescans", type=int, default=1)
    args = parser.parse_args()
    run = device if args.role == "device" else controller
    asyncio.run(asyncio.wait_for(run(args), args.seconds + 20))
    return 0


if __name__ == "__main__":
    sys.exit(main())
