"""OUR stack as a controller: ``echonet.aio.Controller`` driven through discovery, Get, Set, INF_REQ and
notifications against one peer, printed as JSON.

    python tools/interop/our_controller.py --bind 127.0.0.3 [--host 127.0.0.2] [--multicast]
        [--discover] [--get EOJ:EPC,EPC ...] [--set EOJ:EPC=HEX ...] [--inf-req EOJ:EPC,EPC ...]
        [--linger SECONDS] [--notifications N] [--timeout 1] [--retries 1] [--deadline 25] [--ready]

Steps, in this order: ``--discover`` (``Controller.discover()``: a Get of 0xD6 to 224.0.23.0, or to ``--host`` by
unicast with ``--unicast``, then 0x83/0x8A/0x82 and the maps of every object), each ``--get``, each ``--set`` (SetC,
then a Get of the EPC to read it back), each ``--inf-req``; then up to ``--linger`` seconds more for notifications
(until ``--notifications`` of them came). ``--multicast`` adds a socket bound to 224.0.23.0:3610 joined on
``--iface`` (default lo) that feeds the same node, so that a controller bound to one loopback address hears INF sent
by multicast. Notifications (INF/INFC that are not answers to our requests) are collected for the whole run.

With ``--ready`` it prints ``READY {json}`` once its sockets are open (to start a device after it). Prints one JSON
document last (discovered nodes, each answer with its source address, notifications, dropped datagrams,
errors, every frame) and exits 0 when every step was answered, 1 otherwise, 2 on bad arguments, 143 on SIGTERM.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import contextlib

from interop_common import drive, emit, hx, parse_get, parse_set
from our_stack import Recorder, listen_multicast

from echonet.aio import Controller, EchonetTimeoutError, Endpoints, GetResult
from echonet.frame import EOJ
from echonet.node import Dropped, Event, NodeConfig, NotificationReceived
from echonet.node.events import Addr


def eoj_of(value: int) -> EOJ:
    return EOJ(value >> 16, (value >> 8) & 0xFF, value & 0xFF)


def peer(addr: Addr) -> str:
    return f"{addr[0]}:{addr[1]}"


def get_doc(result: GetResult) -> dict[str, Any]:
    frame = result.frame
    return {
        "from": peer(result.addr),
        "seoj": bytes(result.eoj).hex(),
        "esv": hx(int(frame.esv)) if frame is not None and frame.esv is not None else None,
        "values": {hx(e): v.hex() for e, v in sorted(result.values.items())},
        "refused": [hx(e) for e in result.refused],
        "unanswered": [hx(e) for e in result.unanswered],
    }


class Run:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.result: dict[str, Any] = {
            "bind": args.bind,
            "host": args.host,
            "nodes": [],
            "gets": [],
            "sets": [],
            "inf_reqs": [],
            "notifications": [],
            "dropped": [],
            "errors": [],
            "frames": [],
        }
        self.ctl: Controller | None = None
        self.recorder: Recorder | None = None
        self.heard = asyncio.Event()

    def on_event(self, event: Event) -> None:
        if isinstance(event, NotificationReceived):
            frame = event.frame
            self.result["notifications"].append(
                {
                    "from": peer(event.addr),
                    "tid": f"{frame.tid:04x}",
                    "seoj": bytes(frame.seoj).hex() if frame.seoj is not None else None,
                    "deoj": bytes(frame.deoj).hex() if frame.deoj is not None else None,
                    "esv": hx(int(frame.esv)) if frame.esv is not None else None,
                    "props": {hx(p.epc): p.edt.hex() for p in frame.properties},
                }
            )
            if len(self.result["notifications"]) >= self.args.notifications > 0:
                self.heard.set()
        elif isinstance(event, Dropped):
            self.result["dropped"].append({"from": peer(event.addr), "reason": event.reason})

    async def run(self) -> None:
        args = self.args
        config = NodeConfig(timeout=args.timeout, retries=args.retries, multicast_v6=None)
        self.ctl = ctl = await Controller.open(
            Endpoints(bind_v4=args.bind, port=args.port, reuse_address=True), config=config
        )
        self.recorder = Recorder(ctl.runner)
        ctl.runner.on_event = self.on_event
        if args.multicast:
            await listen_multicast(ctl.runner, port=args.port, iface=args.iface)
        if args.ready:
            emit("READY " + json.dumps({"bind": args.bind}))
        if args.discover:
            await self.discover()
        for eoj, epcs in args.get:
            try:
                self.result["gets"].append(get_doc(await ctl.get(args.host, eoj_of(eoj), epcs)))
            except EchonetTimeoutError as exc:
                self.result["errors"].append(f"get {hx(eoj, 6)}: {exc}")
        for eoj, epc, edt in args.set:
            try:
                res = await ctl.set(args.host, eoj_of(eoj), {epc: edt})
            except EchonetTimeoutError as exc:
                self.result["errors"].append(f"set {hx(eoj, 6)}:{hx(epc)}: {exc}")
                continue
            esv = res.frame.esv if res.frame is not None else None
            try:
                readback = (await ctl.get(args.host, eoj_of(eoj), [epc])).values.get(epc)
            except EchonetTimeoutError as exc:
                readback = None
                self.result["errors"].append(f"reading {hx(eoj, 6)}:{hx(epc)} back: {exc}")
            self.result["sets"].append(
                {
                    "from": peer(res.addr),
                    "eoj": hx(eoj, 6),
                    "epc": hx(epc),
                    "edt": edt.hex(),
                    "ok": res.ok,
                    "esv": hx(int(esv)) if esv is not None else None,
                    "refused": [hx(e) for e in res.refused],
                    "readback": readback.hex() if readback else None,
                }
            )
        for eoj, epcs in args.inf_req:
            try:
                self.result["inf_reqs"].append(get_doc(await ctl.inf_req(args.host, eoj_of(eoj), epcs)))
            except EchonetTimeoutError as exc:
                self.result["errors"].append(f"inf_req {hx(eoj, 6)}: {exc}")
        if args.linger > 0 and not self.heard.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.heard.wait(), args.linger)

    async def discover(self) -> None:
        assert self.ctl is not None
        targets = [self.args.host] if self.args.unicast else None
        nodes = await self.ctl.discover(window=self.args.window, rescans=self.args.rescans, targets=targets)
        if not nodes:
            self.result["errors"].append("discover() found no node")
        for node in nodes:
            self.result["nodes"].append(
                {
                    "from": peer(node.address),
                    "addresses": list(node.addresses),
                    "identification": node.identification.hex() if node.identification is not None else None,
                    "maker_code": node.maker_code.hex() if node.maker_code is not None else None,
                    "version": node.version.hex() if node.version is not None else None,
                    "instances": [bytes(e).hex() for e in node.instances],
                    "objects": {
                        bytes(o.eoj).hex(): {
                            "get_map": sorted(hx(e) for e in o.get_map) if o.get_map is not None else None,
                            "set_map": sorted(hx(e) for e in o.set_map) if o.set_map is not None else None,
                            "announce_map": sorted(hx(e) for e in o.announce_map)
                            if o.announce_map is not None
                            else None,
                            "error": o.error,
                        }
                        for o in node.objects
                    },
                }
            )

    async def close(self) -> None:
        if self.recorder is not None:
            self.result["frames"] = self.recorder.frames
        if self.ctl is not None:
            await self.ctl.close()


async def _main(args: argparse.Namespace) -> int:
    run = Run(args)
    terminated = await drive(run.run(), args.deadline, run.result["errors"], run.close)
    emit(json.dumps(run.result, sort_keys=True))
    if terminated:
        return 143
    return 1 if run.result["errors"] else 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--bind", required=True, help="local address for UDP 3610, e.g. 127.0.0.3")
    parser.add_argument("--host", default="", help="the peer for --get/--set/--inf-req (and --discover --unicast)")
    parser.add_argument("--port", type=int, default=3610)
    parser.add_argument("--multicast", action="store_true", help="also hear 224.0.23.0 (a socket joined on --iface)")
    parser.add_argument("--iface", default="lo")
    parser.add_argument("--discover", action="store_true")
    parser.add_argument("--unicast", action="store_true", help="discover --host by unicast instead of multicast")
    parser.add_argument("--window", type=float, default=0.5, help="seconds per discovery round (default 0.5)")
    parser.add_argument("--rescans", type=int, default=1)
    parser.add_argument("--get", action="append", default=[], metavar="EOJ:EPC,EPC")
    parser.add_argument("--set", action="append", default=[], metavar="EOJ:EPC=HEX")
    parser.add_argument("--inf-req", action="append", default=[], metavar="EOJ:EPC,EPC")
    parser.add_argument("--linger", type=float, default=0.0, help="seconds to wait for notifications at the end")
    parser.add_argument("--notifications", type=int, default=0, help="stop lingering after this many")
    parser.add_argument("--timeout", type=float, default=1.0, help="seconds per attempt (default 1)")
    parser.add_argument("--retries", type=int, default=1)
    parser.add_argument("--deadline", type=float, default=25.0)
    parser.add_argument("--ready", action="store_true", help="print READY {json} once listening")
    args = parser.parse_args(argv)
    try:
        args.get = [parse_get(g) for g in args.get]
        args.inf_req = [parse_get(g) for g in args.inf_req]
        args.set = [parse_set(s) for s in args.set]
    except ValueError as exc:
        parser.error(str(exc))
    if (args.get or args.set or args.inf_req or args.unicast) and not args.host:
        parser.error("--host is needed for --get, --set, --inf-req and --unicast")
    return asyncio.run(_main(args))


if __name__ == "__main__":
    sys.exit(main())
