"""OUR stack as a device node: an ``echonet.aio.DeviceServer`` hosting DRready models, for the peers to drive.

    python tools/interop/our_device.py --bind 127.0.0.2 [--objects battery,water-heater,hybrid] [--multicast]
        [--reply-to-3610] [--seconds 3600]

Hosts a storage battery 0x027D01, an electric water heater 0x026B01 and a hybrid water heater 0x02A601 (or the
``--objects`` chosen) whose values come from the DRready models at a fixed simulated time, on UDP ``--bind``:3610.
``--multicast`` adds a socket bound to 224.0.23.0:3610 (joined on ``--iface``, default lo) that feeds the same node,
so that a node bound to one loopback address also hears multicast. ``--reply-to-3610`` sets the node's option of
that name (answers to the requester's port 3610 whatever the request's source port).

Prints ``READY {json}`` (node profile, objects with maps and values, as hex) once listening and announced (INF of
0xD5 by multicast), then one line per thing the server saw: ``SET {json}`` for every Set our objects accepted (from
``DeviceServer.property_sets()``), ``DROP {json}`` for every datagram the node dropped. On SIGTERM/SIGINT (or after
``--seconds``) prints ``DONE {json}`` (node counters and every frame received and sent) and exits 0.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import contextlib

from our_stack import MAKER, MODELS, Recorder, build_object, listen_multicast

from echonet.aio import DeviceServer, Endpoints
from echonet.node import Dropped, Event, Node, NodeConfig, NodeProfile


def emit(tag: str, doc: dict[str, Any]) -> None:
    sys.stdout.write(f"{tag} {json.dumps(doc, sort_keys=True)}\n")
    sys.stdout.flush()


def describe(node: Node) -> dict[str, Any]:
    objects: dict[str, Any] = {}
    for obj in node.objects:
        objects[bytes(obj.eoj).hex()] = {
            "get_map": sorted(f"{e:02x}" for e in obj.get_map),
            "set_map": sorted(f"{e:02x}" for e in obj.set_map),
            "announce_map": sorted(f"{e:02x}" for e in obj.announce_map),
            "values": {f"{e:02x}": v.hex() for e, v in sorted(obj.values().items())},
        }
    return {"identification": node.profile.identification.hex(), "objects": objects}


async def serve(args: argparse.Namespace) -> int:
    names = [n for n in args.objects.split(",") if n]
    objects = [build_object(name, i + 1) for i, name in enumerate(names)]
    profile = NodeProfile(maker_code=MAKER, unique_id=bytes.fromhex(args.unique))
    node = Node(objects, config=NodeConfig(reply_to_3610=args.reply_to_3610), profile=profile)
    server = await DeviceServer.open(
        node, Endpoints(bind_v4=args.bind, port=args.port, reuse_address=True), start=False
    )
    recorder = Recorder(server.runner)
    transports = []
    if args.multicast:
        transports.append(await listen_multicast(server.runner, port=args.port, iface=args.iface))

    def on_event(event: Event) -> None:
        if isinstance(event, Dropped):
            emit("DROP", {"peer": f"{event.addr[0]}:{event.addr[1]}", "reason": event.reason, "size": event.size})

    server.runner.on_event = on_event
    sets = server.property_sets()

    async def report_sets() -> None:
        async for item in sets:
            emit(
                "SET",
                {
                    "eoj": f"{bytes(item.eoj).hex()}",
                    "epc": f"{item.epc:02x}",
                    "edt": item.edt.hex(),
                    "peer": item.addr[0],
                },
            )

    reporter = asyncio.ensure_future(report_sets())
    await asyncio.sleep(0)  # the Set queue exists before anything can arrive
    server.runner.start_node()
    emit("READY", {"bind": args.bind, **describe(node), "warnings": server.runner.warnings})

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    loop.add_signal_handler(signal.SIGINT, stop.set)
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), args.seconds)
    await asyncio.sleep(0.05)  # let the last Set reports out
    reporter.cancel()
    await asyncio.gather(reporter, return_exceptions=True)
    stats = node.stats
    emit(
        "DONE",
        {
            "received": stats.received,
            "answered": stats.answered,
            "dropped": stats.dropped,
            "to_missing_object": stats.to_missing_object,
            "frames": recorder.frames,
            "now": describe(node),
        },
    )
    for transport in transports:
        transport.close()
    await server.close()
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--bind", required=True, help="local address for UDP 3610, e.g. 127.0.0.2")
    parser.add_argument("--port", type=int, default=3610)
    parser.add_argument("--objects", default="battery,water-heater,hybrid", help=f"comma list of {sorted(MODELS)}")
    parser.add_argument("--multicast", action="store_true", help="also hear 224.0.23.0 (a socket joined on --iface)")
    parser.add_argument("--iface", default="lo", help="interface for --multicast (default lo)")
    parser.add_argument("--reply-to-3610", action="store_true", help="answer to port 3610 whatever the source port")
    parser.add_argument("--unique", default="4f55524e4f44450000000000aa", help="13 bytes (hex) of 0x83 after the code")
    parser.add_argument("--seconds", type=float, default=3600.0, help="stop after this long (default 3600)")
    args = parser.parse_args(argv)
    unknown = [n for n in args.objects.split(",") if n and n not in MODELS]
    if unknown or len(bytes.fromhex(args.unique)) != 13:
        parser.error(f"unknown objects {unknown} or --unique not 13 bytes")
    return asyncio.run(serve(args))


if __name__ == "__main__":
    sys.exit(main())
