"""Node benchmark, side by side in one run: our controller and device against a bare asyncio UDP echo.

    python tools/bench_node.py [--quick] [--rounds N] [--requests N] [--devices N] [--nodes N] [--json] [--general]
                               [--discovery-rounds N] [--discovery-only]

Rows (targets of the "Node" issue):

* Get round trips per second, one request outstanding, our ``Controller.get`` answered by our ``DeviceServer`` on
  loopback, against a bare asyncio client sending the same Get bytes to a bare server that answers with the same
  precomputed Get_Res bytes (only the TID is patched in). Target >= 0.8x. Run on asyncio's loop and, when it is
  installed, on uvloop's. Diagnostic rows: ``FieldController.get`` (the controller that learns each device, its
  defaults) against the same device, which needs no care: its ratio should be that of ``Controller.get``; and the
  cost split: our device answering the bare client, our controller asking the bare server, and the bare pair with
  one timer pending in the loop (as any client with timeouts has).
* The same with 64 requests in flight (64 workers each keeping one request outstanding).
* The sequential round trips again with both servers (ours and the bare one) in a second process, as when the
  device is another host: each side then has an interpreter (and, CPUs allowing, a core) of its own. Wake-ups across
  processes then dominate the round trip and vary with the machine's load, so these rows are shown, not judged.
* Memory per simulated device (a battery object with 40 properties, maps included) for 10,000 devices in one
  process, measured with tracemalloc; every multi-byte value is a bytes object of its own. Target <= 4 KB/device.
  A second row counts a whole simulated node (a Node with its node profile and one battery).
* Time for our controller to discover 10,000 nodes: 10,000 DeviceServers (with the nodes' fast lane) in a child
  process, as real devices are other hosts, each on a loopback address of its own (127.77.x.y, ephemeral port),
  all listening before the first round is timed; the controller, in this process, finds them through
  ``Controller.discover(targets=...)`` with its defaults: a Get of 0xD6 (with the node profile's 0x83/0x8A/0x82
  and maps) to every address, at most 512 at once, each ended by its answer, those whose answer was lost asked
  again (window 1 s, then 2 s, 4 s); then the property maps of every device object, all over real UDP. The time
  is the controller's, from its first request to the last node found (maps read); each round is a fresh
  controller against the same nodes. Every node must be found in every round (the row counts them, and the
  objects whose maps were read); target: median < 10 s over ``--discovery-rounds`` rounds (the range is shown;
  ``--nodes`` sets the count, ``--discovery-only`` skips the other rows).

``--general`` turns the nodes' fast lane off (``Node.fast_lane = False``: every request and answer takes the general
path), to see what the fast lane is worth.

Machines are noisy: rounds alternate the contenders (the order flips every round). Each round gives one ratio per
contender (its rate over the bare pair's rate in the same round); the table shows the median of those ratios and
their range (lowest-highest) over the rounds, and the median rates. Not the best round: a best round says how fast
the machine can be, not how fast the code usually is.
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import gc
import json
import statistics
import subprocess
import sys
import time
import tracemalloc
from collections.abc import Awaitable, Callable
from typing import Any

from echonet import EOJ, ESV, Frame, Property, encode
from echonet.aio import Controller, DeviceServer, Endpoints, new_event_loop
from echonet.aio.field import FieldController
from echonet.node import DeviceObject, Node, NodeConfig, NodeProfile
from echonet.spec.registry import default_registry

BATTERY = EOJ(0x02, 0x7D, 0x01)
CONTROLLER = EOJ(0x05, 0xFF, 0x01)
GET_EPCS = (0x80, 0xE4, 0xE2, 0xD3)
LOCAL = "127.0.0.1"
_MAPS = (0x9D, 0x9E, 0x9F)
_FILLS = (0x00, 0x30, 0x41, 0x42, 0x01, 0xFF)
#: Values no repeated fill byte makes valid: the standard version information (Release R, revision 1).
_FIXED = {0x82: b"\x00\x00R\x01"}
#: ``Node.fast_lane`` of the benchmarked nodes (``--general``: off).
FAST_LANE = True


def _loop_kinds() -> list[str]:
    kinds = ["asyncio"]
    try:
        import uvloop  # noqa: F401
    except ImportError:
        pass
    else:
        kinds.append("uvloop")
    return kinds


# Simulated devices ----------------------------------------------------------------------------------------------


def battery_values(count: int, seed: int = 0) -> dict[int, bytes]:
    """``count`` valid values of class 0x027D (the first EPCs in order), every multi-byte EDT a fresh object."""
    defs = default_registry().properties(0x027D)
    values: dict[int, bytes] = {}
    chosen = [*GET_EPCS, *(e for e in sorted(defs) if e not in GET_EPCS and e not in _MAPS)][:count]
    for epc in chosen:
        d = defs[epc]
        edt = b"\xfe\x00\x00\x77" + seed.to_bytes(13, "big") if epc == 0x83 else _FIXED.get(epc)
        for n in range(1, 20):
            if edt is not None:
                break
            edt = next((bytes((f,)) * n for f in _FILLS if d.type.check(bytes((f,)) * n) is None), None)
        assert edt is not None, hex(epc)
        if epc != 0x83 and len(edt) > 1:
            edt = bytes(bytearray(edt))  # a distinct object, as values decoded or computed per device are
        values[epc] = edt
    return values


def battery(seed: int = 0, count: int = 37, instance: int = 1) -> DeviceObject:
    return DeviceObject(BATTERY.with_instance(instance), battery_values(count, seed))


def _get_bytes(tid: int) -> bytes:
    return encode(Frame.make(tid, CONTROLLER, BATTERY, ESV.GET, [Property(e) for e in GET_EPCS]))


def _get_res_bytes(obj: DeviceObject, tid: int) -> bytes:
    props = []
    for epc in GET_EPCS:
        value = obj.read(epc)
        assert value is not None
        props.append(Property(epc, value))
    return encode(Frame.make(tid, BATTERY, CONTROLLER, ESV.GET_RES, props))


# Bare asyncio contenders ----------------------------------------------------------------------------------------


class _BareServer(asyncio.DatagramProtocol):
    """Answers every datagram with the precomputed Get_Res, the request's TID patched in."""

    def __init__(self, answer: bytes) -> None:
        self.head, self.tail = answer[:2], answer[4:]
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def datagram_received(self, data: bytes, addr: tuple[Any, ...]) -> None:
        assert self.transport is not None
        self.transport.sendto(self.head + data[2:4] + self.tail, addr)


class _BareClient(asyncio.DatagramProtocol):
    """Sends the Get bytes with a fresh TID and resolves the future waiting for that TID."""

    def __init__(self, request: bytes, dest: tuple[str, int]) -> None:
        self.head, self.tail = request[:2], request[4:]
        self.dest = dest
        self.waiting: dict[bytes, asyncio.Future[bytes]] = {}
        self.tid = 0
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def datagram_received(self, data: bytes, addr: tuple[Any, ...]) -> None:
        future = self.waiting.pop(data[2:4], None)
        if future is not None and not future.done():
            future.set_result(data)

    async def get(self) -> bytes:
        assert self.transport is not None
        self.tid = (self.tid + 1) & 0xFFFF
        key = self.tid.to_bytes(2, "big")
        future: asyncio.Future[bytes] = asyncio.get_running_loop().create_future()
        self.waiting[key] = future
        self.transport.sendto(self.head + key + self.tail, self.dest)
        return await future


def _nothing() -> None:
    pass


# Round trips ----------------------------------------------------------------------------------------------------


async def _rate(ask: Callable[[], Awaitable[Any]], requests: int, inflight: int) -> float:
    """Requests per second with ``inflight`` workers each keeping one request outstanding."""
    per_worker = max(1, requests // inflight)

    async def worker() -> None:
        for _ in range(per_worker):
            await ask()

    start = time.perf_counter()
    if inflight == 1:
        await worker()
    else:
        await asyncio.gather(*(worker() for _ in range(inflight)))
    return per_worker * inflight / (time.perf_counter() - start)


async def _servers() -> tuple[DeviceServer, asyncio.DatagramTransport]:
    """Our device server and the bare echo server, on loopback ephemeral ports."""
    obj = battery()
    ep = Endpoints(bind_v4=LOCAL, port=0, join_multicast=False)
    server = await DeviceServer.open([obj], ep, config=NodeConfig(multicast_v6=None), start=False)
    server.node.fast_lane = FAST_LANE
    answer = _get_res_bytes(obj, 1)
    bare_t, _ = await asyncio.get_running_loop().create_datagram_endpoint(
        lambda: _BareServer(answer), local_addr=(LOCAL, 0)
    )
    return server, bare_t


async def _serve_until_stdin_closes() -> None:
    """``--serve``: both servers in this process (the device side of the two-process rows)."""
    server, bare_t = await _servers()
    print(server.runner.local_addresses[2][1], bare_t.get_extra_info("sockname")[1], flush=True)
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)
    bare_t.close()
    await server.close()


async def _round_trips(
    rounds: int, requests: int, inflight: int, remote: tuple[int, int] | None = None
) -> dict[str, list[float]]:
    """Rates per contender; ``remote``: the ports of our device and the bare server in another process."""
    loop = asyncio.get_running_loop()
    obj = battery()
    request = _get_bytes(1)
    ep = Endpoints(bind_v4=LOCAL, port=0, join_multicast=False)
    config = NodeConfig(multicast_v6=None)
    ctl = await Controller.open(ep, config=config)
    ctl.node.fast_lane = FAST_LANE
    # The controller that learns each device, with its defaults: a device that needs no care costs it nothing
    field = await FieldController.open(ep)
    field.node.fast_lane = FAST_LANE
    local: tuple[DeviceServer, asyncio.DatagramTransport] | None = None
    if remote is None:
        local = await _servers()
        ours_addr = local[0].runner.local_addresses[2]
        bare_addr = local[1].get_extra_info("sockname")
    else:
        ours_addr, bare_addr = (LOCAL, remote[0]), (LOCAL, remote[1])
    clients = []
    for dest in (bare_addr, ours_addr):
        t, p = await loop.create_datagram_endpoint(functools.partial(_BareClient, request, dest), local_addr=(LOCAL, 0))
        clients.append((t, p))
    (bare_ct, bare_client), (dev_ct, dev_client) = clients
    epcs = list(GET_EPCS)
    ours = functools.partial(ctl.get, ours_addr, BATTERY, epcs)

    async def bare_with_timer() -> bytes:
        return await bare_client.get()

    contenders: dict[str, Callable[[], Awaitable[Any]]] = {
        "bare": bare_client.get,
        "ours": ours,
        "field controller": functools.partial(field.get, ours_addr, BATTERY, epcs),
        "device only": dev_client.get,
        "controller only": functools.partial(ctl.get, bare_addr, BATTERY, epcs),
        "bare + a pending timer": bare_with_timer,
    }
    check = await ours()
    assert check.values == {e: obj.read(e) for e in GET_EPCS}, check
    for ask in contenders.values():  # warm up
        await _rate(ask, min(requests, 500), inflight)
    rates: dict[str, list[float]] = {name: [] for name in contenders}
    names = list(contenders)
    for r in range(rounds):
        for name in names if r % 2 == 0 else reversed(names):
            gc.collect()
            # A client with timeouts keeps a timer pending in the loop (ours: the node's next deadline), which
            # costs every loop iteration a little: this bare variant shows that cost alone.
            timer = loop.call_later(3600, _nothing) if name == "bare + a pending timer" else None
            rates[name].append(await _rate(contenders[name], requests, inflight))
            if timer is not None:
                timer.cancel()
    for t in (bare_ct, dev_ct):
        t.close()
    await ctl.close()
    await field.close()
    if local is not None:
        local[1].close()
        await local[0].close()
    return rates


# Memory ---------------------------------------------------------------------------------------------------------


def _memory(count: int, whole_node: bool) -> float:
    """Bytes per simulated device (or node), tracemalloc's count of what stays allocated."""
    registry = default_registry()
    battery(0)  # the shared layout and tables are built once, outside the measurement
    if whole_node:
        Node([battery(0)], registry=registry, profile=NodeProfile(registry, unique_id=bytes(13)))
    gc.collect()
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    keep: list[Any] = []
    for i in range(count):
        obj = battery(i)
        if whole_node:
            keep.append(Node([obj], registry=registry, profile=NodeProfile(registry, unique_id=i.to_bytes(13, "big"))))
        else:
            keep.append(obj)
    gc.collect()
    used = tracemalloc.get_traced_memory()[0] - before
    tracemalloc.stop()
    assert len(keep) == count and len(keep[0].epcs if not whole_node else keep[0].objects[1].epcs) == 40
    return used / count


# Discovery ------------------------------------------------------------------------------------------------------


def _node_host(i: int) -> str:
    return f"127.77.{1 + i // 250}.{1 + i % 250}"


async def _serve_nodes_until_stdin_closes(nodes: int) -> None:
    """``--serve-nodes N``: the simulated nodes of the discovery row, in this (child) process, as real devices are
    other hosts: N DeviceServers, each on a loopback address of its own, with the nodes' fast lane. Prints their
    ports (one JSON line) once every one is listening."""
    config = NodeConfig(multicast_v6=None, multicast_v4=None)
    servers = []
    for i in range(nodes):
        profile = NodeProfile(unique_id=i.to_bytes(13, "big"))
        node = Node([battery(i, count=12)], config=config, profile=profile)
        node.fast_lane = FAST_LANE
        ep = Endpoints(bind_v4=_node_host(i), port=0, join_multicast=False, rcvbuf=None)
        servers.append(await DeviceServer.open(node, ep, start=False))
    print(json.dumps([s.runner.local_addresses[2][1] for s in servers]), flush=True)
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)
    for s in servers:
        await s.close()


async def _discover_once(targets: list[tuple[str, int]], window: float, rescans: int) -> tuple[float, int, int]:
    """One discovery by a fresh controller: (seconds from the first request to the last node found, nodes found,
    objects whose maps were read)."""
    config = NodeConfig(multicast_v6=None, multicast_v4=None)
    ctl = await Controller.open(Endpoints(bind_v4=LOCAL, port=0, join_multicast=False), config=config)
    try:
        gc.collect()
        start = time.perf_counter()
        found = await ctl.discover(targets=targets, window=window, rescans=rescans)
        elapsed = time.perf_counter() - start
    finally:
        await ctl.close()
    maps = sum(1 for n in found for o in n.objects if o.get_map is not None and o.error is None)
    ids = {n.identification for n in found if n.identification is not None}
    assert len(ids) == len(found), "every node has an identification number of its own"
    return elapsed, len(found), maps


def _discovery(nodes: int, window: float, rounds: int, rescans: int) -> list[tuple[float, int, int]]:
    """Discovery rounds against ``nodes`` simulated nodes served by a child process (started, and every node
    listening, before the first round is timed)."""
    child = subprocess.Popen(
        [sys.executable, __file__, "--serve-nodes", str(nodes), *([] if FAST_LANE else ["--general"])],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert child.stdout is not None
        line = child.stdout.readline()
        if not line:
            raise SystemExit("bench_node: the process serving the simulated nodes did not start")
        ports = json.loads(line)
        targets = [(_node_host(i), port) for i, port in enumerate(ports)]
        return [_run_loop("asyncio", _discover_once(targets, window, rescans)) for _ in range(rounds)]
    finally:
        if child.stdin is not None:
            child.stdin.close()
        child.wait(60)


# Report ---------------------------------------------------------------------------------------------------------


def _row(
    rows: list[dict[str, Any]],
    metric: str,
    ours: float,
    ref: float | None,
    ratio: tuple[float, float, float] | None,
    unit: str,
    target: str,
    passed: bool | None,
) -> None:
    rows.append(
        {
            "metric": metric,
            "ours": ours,
            "reference": ref,
            "ratio": None if ratio is None else ratio[0],
            "range": None if ratio is None else ratio[1:],
            "unit": unit,
            "target": target,
            "result": "-" if passed is None else ("PASS" if passed else "MISS"),
        }
    )


def _ratios(rates: dict[str, list[float]], name: str) -> tuple[float, float, float]:
    """(median, lowest, highest) of the per-round ratios of ``name`` to the bare pair of the same round."""
    per_round = sorted(ours / bare for ours, bare in zip(rates[name], rates["bare"], strict=True))
    return statistics.median(per_round), per_round[0], per_round[-1]


def _remote_round_trips(kind: str, rounds: int, requests: int) -> dict[str, list[float]]:
    """Sequential round trips with both servers in a second process (on its own loop of the same kind)."""
    child = subprocess.Popen(
        [sys.executable, __file__, "--serve", kind, *([] if FAST_LANE else ["--general"])],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert child.stdout is not None
        ours_port, bare_port = (int(x) for x in child.stdout.readline().split())
        rates: dict[str, list[float]] = _run_loop(kind, _round_trips(rounds, requests, 1, (ours_port, bare_port)))
        return rates
    finally:
        if child.stdin is not None:
            child.stdin.close()
        child.wait(10)


def run(args: argparse.Namespace) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    for kind in [] if args.discovery_only else _loop_kinds():
        for inflight, label in (
            (1, "Get round trips/s"),
            (64, "Get pipelined x64 /s"),
            (0, "Get round trips/s, device in 2nd process"),
        ):
            requests = args.requests if inflight <= 1 else args.requests * 4
            if inflight == 0:
                rates = _remote_round_trips(kind, args.rounds, requests)
            else:
                rates = _run_loop(kind, _round_trips(args.rounds, requests, inflight))
            bare = statistics.median(rates["bare"])
            ratio = _ratios(rates, "ours")
            ours = statistics.median(rates["ours"])
            if inflight:
                _row(rows, f"{label} ({kind})", ours, bare, ratio, "req/s", ">= 0.8x", ratio[0] >= 0.8)
            else:  # cross-process wake-ups dominate and vary with the machine's load: shown, not judged
                _row(rows, f"{label} ({kind})", ours, bare, ratio, "req/s", "-", None)
            for name in ("field controller", "device only", "controller only", "bare + a pending timer"):
                median = statistics.median(rates[name])
                _row(rows, f"  {name} ({kind})", median, bare, _ratios(rates, name), "req/s", "-", None)
    for whole, metric in (
        ()
        if args.discovery_only
        else ((False, "memory per device (40 props)"), (True, "memory per node (profile + device)"))
    ):
        per = _memory(args.devices, whole)
        _row(
            rows,
            f"{metric}, {args.devices:,}",
            per / 1024,
            None,
            None,
            "KB",
            "<= 4 KB" if not whole else "-",
            per <= 4096 if not whole else None,
        )
    runs = _discovery(args.nodes, args.window, args.discovery_rounds, args.rescans)
    times = sorted(r[0] for r in runs)
    every = all(r[1] == args.nodes for r in runs)
    found = "/".join(sorted({str(r[1]) for r in runs}))
    maps = "/".join(sorted({str(r[2]) for r in runs}))
    _row(
        rows,
        f"discover {args.nodes:,} nodes ({found} found, {maps} maps)",
        statistics.median(times),
        None,
        None,
        "s",
        "< 10 s",
        statistics.median(times) < 10 and every,
    )
    rows[-1]["range"] = (times[0], times[-1])
    rows[-1]["rounds"] = len(runs)
    return rows


def _run_loop(kind: str, main: Awaitable[Any]) -> Any:
    loop = new_event_loop(kind == "uvloop")
    try:
        return loop.run_until_complete(main)
    finally:
        loop.close()


def _fmt(value: float | None, unit: str) -> str:
    if value is None:
        return "-"
    if unit in ("KB", "s"):
        return f"{value:,.2f}"
    return f"{value:,.0f}"


def table(rows: list[dict[str, Any]]) -> str:
    lines = [
        f"{'metric':<50} {'ours':>12} {'bare asyncio':>13} {'ratio':>7} {'range':>11} {'unit':>6} {'target':>9}"
        f" {'result':>6}"
    ]
    for r in rows:
        ratio = "-" if r["ratio"] is None else f"{r['ratio']:.2f}x"
        spread = "-" if r.get("range") is None else f"{r['range'][0]:.2f}-{r['range'][1]:.2f}"
        lines.append(
            f"{r['metric']:<50} {_fmt(r['ours'], r['unit']):>12} {_fmt(r['reference'], r['unit']):>13} {ratio:>7}"
            f" {spread:>11} {r['unit']:>6} {r['target']:>9} {r['result']:>6}"
        )
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a smoke run: few requests, devices and nodes")
    parser.add_argument("--rounds", type=int, default=None)
    parser.add_argument("--requests", type=int, default=None, help="requests per round (x4 pipelined)")
    parser.add_argument("--devices", type=int, default=None)
    parser.add_argument("--nodes", type=int, default=None)
    parser.add_argument("--window", type=float, default=None, help="discovery window (s)")
    parser.add_argument("--rescans", type=int, default=None)
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--general", action="store_true", help="the nodes' fast lane off (Node.fast_lane = False)")
    parser.add_argument("--discovery-rounds", type=int, default=None, help="discovery rounds (median and range)")
    parser.add_argument("--discovery-only", action="store_true", help="the discovery row alone")
    parser.add_argument("--serve", metavar="LOOP", help=argparse.SUPPRESS)  # the second process of a remote row
    parser.add_argument("--serve-nodes", type=int, help=argparse.SUPPRESS)  # the simulated nodes of discovery
    args = parser.parse_args()
    global FAST_LANE
    FAST_LANE = not args.general
    if args.serve:
        _run_loop(args.serve, _serve_until_stdin_closes())
        return 0
    if args.serve_nodes is not None:
        _run_loop("asyncio", _serve_nodes_until_stdin_closes(args.serve_nodes))
        return 0
    quick = {
        "rounds": 1,
        "requests": 200,
        "devices": 200,
        "nodes": 20,
        "window": 0.2,
        "rescans": 0,
        "discovery_rounds": 1,
    }
    full = {
        "rounds": 15,
        "requests": 1500,
        "devices": 10_000,
        "nodes": 10_000,
        "window": 1.0,
        "rescans": 2,
        "discovery_rounds": 5,
    }
    for key, value in (quick if args.quick else full).items():
        if getattr(args, key) is None:
            setattr(args, key, value)
    rows = run(args)
    if args.json:
        print(json.dumps(rows, indent=1))
    else:
        print(table(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
