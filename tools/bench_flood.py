"""Flood benchmark: a device under a bounded garbage flood, and how many Gets of a legitimate controller it answers.

    python tools/bench_flood.py [--quick] [--rounds N] [--duration S] [--rate R] [--legit-rate R] [--pin]
                                [--rcvbuf BYTES] [--loop asyncio|uvloop] [--rows NAME,...]
                                [--compare NAME=TREE ...] [--compare-rcvbuf NAME=BYTES ...] [--json]

Three kinds of processes, all on loopback (addresses of 127.66.0.0/16, ephemeral ports):

* the device: a :class:`echonet.aio.DeviceServer` hosting a battery (as ``tools/bench_node.py`` builds it), with an
  ``on_event`` like ``echonet serve``'s, in a process of its own (``--loop``: asyncio's loop, as ``echonet serve``
  runs, or uvloop's), default ``NodeConfig`` (so the default input budget). It reports its CPU time
  (``resource.getrusage``), its node's counters and its socket's kernel drops (``/proc/net/udp``) when asked.
* the attacker: a process of its own that sends a flood for ``--duration`` seconds at a set rate (or as fast as it
  can), from one or more source addresses, then exits. Its datagrams are drawn from a pool of mixes:
  ``random`` (random bytes, sizes log-uniform from 1 to 65,507), ``truncated`` (valid Gets and Sets cut short),
  ``bad-pdc`` (a valid header whose PDCs overrun the datagram), ``set-65k`` (valid SetC frames of 255 properties,
  65,037 bytes, to the battery), ``missing`` (valid Gets to objects the device does not host). The ``small`` mix
  leaves out what is over 1,472 bytes (no ``set-65k``, random sizes up to 1,472).
* the legitimate controller, in this process: sequential ``Controller.get`` with a 1 s timeout and no retry, from
  an address of its own, ``--legit-rate`` Gets per second (100 by default; 0: back to back) for the same
  ``--duration`` while the flood runs (it has talked to the device for 1.2 s before the first row). In turn a
  repeated Get of four EPCs (the device answers it from its precomputed answer, before any budget) and a fresh one
  (four EPCs and two more, 190 lists in turn, so that no precomputed answer fits: decoded and charged every time,
  as every Get is when the values change between Gets); the table shows both together and the fresh ones alone.

Rows (``--rows``; the default is all): ``baseline`` (no flood), ``mixed@10k`` and ``small@10k`` (10,000 datagrams/s,
one source), ``mixed@10k/64src`` and ``mixed@10k/1000src`` (10,000/s spread over 64 or 1,000 source addresses),
``mixed@max`` and ``small@max`` (as fast as the attacker gets, one source). Rounds alternate the rows (the order
flips every round) and, with ``--compare``, the devices: every ``--compare NAME=TREE`` starts one more device from
the source tree ``TREE`` (``PYTHONPATH``), e.g. the code before a change (``--compare-rcvbuf NAME=BYTES``: one more
device of this tree with that receive buffer), and each row runs against each device in turn within the round.
The table shows, per row and device, the median over the rounds and the range (lowest-highest): the flood rate
the attacker reached, the Gets sent and the share answered (all, and the fresh ones), their latency (median, p95,
max), the device's CPU use and what it dropped (kernel: its socket's receive queue was full; node:
``NodeStats.dropped``; limited: ``NodeStats.rate_limited`` where the node has it).
Everything is bounded: each attacker stops after its duration (and at the latest ``duration + 5`` seconds), the
device when its standard input closes.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import random
import resource
import select
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Sequence
from typing import Any

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from bench_node import BATTERY, GET_EPCS, battery  # (tools/ is not a package: found through sys.path)

CONTROLLER = (0x05, 0xFF, 0x01)
DEVICE_HOST = "127.66.0.{}"  # device n: 127.66.0.(10 + n)
CONTROLLER_HOST = "127.66.0.2"
ATTACKER_HOST = "127.66.{}.{}"  # source n: 127.66.(1 + n // 250).(1 + n % 250)
MAX_UDP = 65_507
SMALL = 1_472
POOL = 4096
#: The attacker's niceness: on a machine of few cores it must not take the CPU of the two it is measured against.
NICE = 10
ROWS: dict[str, tuple[str, float, int]] = {  # name -> (mix, rate (0: as fast as it gets, -1: no flood), sources)
    "baseline": ("", -1, 0),
    "mixed@10k": ("mixed", 10_000, 1),
    "small@10k": ("small", 10_000, 1),
    "mixed@10k/64src": ("mixed", 10_000, 64),
    "mixed@10k/1000src": ("mixed", 10_000, 1000),
    "mixed@max": ("mixed", 0, 1),
    "small@max": ("small", 0, 1),
}


# The flood ------------------------------------------------------------------------------------------------------


def _header(rng: random.Random, deoj: Sequence[int], esv: int, opc: int) -> bytes:
    return bytes([0x10, 0x81, rng.randrange(256), rng.randrange(256), *CONTROLLER, *deoj, esv, opc])


def _get(rng: random.Random, deoj: Sequence[int]) -> bytes:
    epcs = rng.sample(range(0x80, 0x100), rng.randint(1, 8))
    return _header(rng, deoj, 0x62, len(epcs)) + bytes(b for e in epcs for b in (e, 0))


def _set(rng: random.Random, count: int, size: int) -> bytes:
    body = b"".join(bytes([rng.randrange(0x80, 0x100), size]) + rng.randbytes(size) for _ in range(count))
    return _header(rng, BATTERY, 0x61, count) + body


def payloads(mix: str, count: int, seed: int = 1) -> list[bytes]:
    """``count`` datagrams of the mix, in a shuffled order (the attacker cycles through them)."""
    rng = random.Random(seed)
    limit = MAX_UDP if mix == "mixed" else SMALL
    kinds = ["random", "truncated", "bad-pdc", "missing"] + (["set-65k"] if mix == "mixed" else [])
    out: list[bytes] = []
    for i in range(count):
        kind = kinds[i % len(kinds)]
        if kind == "random":
            out.append(rng.randbytes(max(1, int(limit ** rng.random()))))
        elif kind == "truncated":
            whole = _get(rng, BATTERY) if rng.random() < 0.5 else _set(rng, rng.randint(1, 6), rng.randint(1, 40))
            out.append(whole[: rng.randrange(1, len(whole))])
        elif kind == "bad-pdc":
            pdc = rng.randint(1, 255)  # the first property's PDC overruns the datagram
            body = bytes([rng.randrange(0x80, 0x100), pdc]) + rng.randbytes(rng.randrange(pdc))
            esv = rng.choice((0x60, 0x61, 0x62, 0x63, 0x6E))
            out.append(_header(rng, BATTERY, esv, rng.randint(1, 255)) + body)
        elif kind == "missing":
            out.append(_get(rng, (0x01, 0x30, rng.randint(1, 9)) if rng.random() < 0.5 else (0x02, 0x7D, 0x05)))
        else:
            out.append(_set(rng, 255, 253))  # 12 + 255 * 255 = 65,037 bytes
    rng.shuffle(out)
    return out


def _pin(cpus: str | None) -> None:
    if cpus and hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {int(c) for c in cpus.split(",")})


def attack(target: tuple[str, int], mix: str, rate: float, duration: float, sources: int) -> None:
    """``--attack``: wait for a line on stdin, flood ``target`` for ``duration`` s, print what was sent."""
    duration = min(duration, 60.0)
    os.nice(NICE)  # another host, in effect: it takes the CPU the device and the controller leave
    pool = payloads(mix, POOL)
    socks = []
    for n in range(sources):
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # the answers it provokes are not read
        s.bind((ATTACKER_HOST.format(1 + n // 250, 1 + n % 250), 0))
        socks.append(s.sendto)
    print("ready", flush=True)
    sys.stdin.readline()
    sent = nbytes = errors = 0
    mask = POOL - 1
    start = time.perf_counter()
    hard_stop = start + duration + 5
    ns = len(socks)
    while True:
        elapsed = time.perf_counter() - start
        if elapsed >= duration or time.perf_counter() > hard_stop:
            break
        due = int(elapsed * rate) if rate > 0 else sent + 64
        if sent >= due:
            time.sleep(0.0002)
            continue
        while sent < due:
            data = pool[sent & mask]
            try:
                socks[sent % ns](data, target)
            except OSError:
                errors += 1
            nbytes += len(data)
            sent += 1
    elapsed = time.perf_counter() - start
    print(json.dumps({"sent": sent, "bytes": nbytes, "elapsed": elapsed, "errors": errors}), flush=True)


# The device -----------------------------------------------------------------------------------------------------


def _kernel_drops(inode: int) -> int:
    """The drops counter of the UDP socket with this inode (``/proc/net/udp``), or -1."""
    try:
        with open("/proc/net/udp") as f:
            for line in f.readlines()[1:]:
                fields = line.split()
                if len(fields) >= 13 and fields[9] == str(inode):
                    return int(fields[-1])
    except OSError:
        pass
    return -1


async def _device(host: str, rcvbuf: int | None) -> None:
    from echonet.aio import DeviceServer, Endpoints
    from echonet.node import NodeConfig, PropertySet

    server = await DeviceServer.open(
        [battery()],
        Endpoints(bind_v4=host, port=0, join_multicast=False)
        if rcvbuf is None
        else Endpoints(bind_v4=host, port=0, join_multicast=False, rcvbuf=rcvbuf),
        config=NodeConfig(multicast_v4=None, multicast_v6=None),
        start=False,
    )
    sets = 0

    def on_event(event: Any) -> None:  # what `echonet serve` does with events: Sets are printed, the rest ignored
        nonlocal sets
        if isinstance(event, PropertySet):
            sets += 1

    server.runner.on_event = on_event
    transport = server.runner.transports[socket.AF_INET]
    inode = os.fstat(transport.get_extra_info("socket").fileno()).st_ino
    print(server.runner.local_addresses[socket.AF_INET][1], flush=True)
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    while line := await reader.readline():
        if line.strip() == b"stats":
            usage = resource.getrusage(resource.RUSAGE_SELF)
            stats = dict(vars(server.node.stats))
            stats.update(cpu=usage.ru_utime + usage.ru_stime, kernel_drops=_kernel_drops(inode), sets=sets)
            print(json.dumps(stats), flush=True)
    await server.close()


class Device:
    """A device process (of this tree, or of another one through ``PYTHONPATH``)."""

    def __init__(
        self, name: str, tree: str | None, index: int, loop: str, cpus: str | None, rcvbuf: int | None
    ) -> None:
        self.name = name
        self.host = DEVICE_HOST.format(10 + index)
        env = dict(os.environ)
        if tree:
            env["PYTHONPATH"] = os.path.abspath(tree) + os.pathsep + env.get("PYTHONPATH", "")
        self.proc = subprocess.Popen(
            [sys.executable, os.path.abspath(__file__), "--device", self.host, "--loop", loop, *_cpus(cpus)]
            + (["--rcvbuf", str(rcvbuf)] if rcvbuf else []),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            env=env,
        )
        self.addr = (self.host, int(self._line(30)))

    def _line(self, timeout: float) -> str:
        assert self.proc.stdout is not None
        ready, _, _ = select.select([self.proc.stdout], [], [], timeout)
        line = self.proc.stdout.readline() if ready else ""
        if not line:
            raise RuntimeError(f"device {self.name} did not answer")
        return line

    def stats(self) -> dict[str, Any]:
        assert self.proc.stdin is not None
        self.proc.stdin.write("stats\n")
        self.proc.stdin.flush()
        result: dict[str, Any] = json.loads(self._line(10))
        return result

    def close(self) -> None:
        if self.proc.stdin is not None:
            self.proc.stdin.close()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


# The legitimate controller ----------------------------------------------------------------------------------------


def fresh_gets() -> list[list[int]]:
    """EPC lists for Gets no precomputed answer fits: the four of ``GET_EPCS`` and two more of the battery's, 190
    lists asked in turn (more than the node remembers answers for, so each is decoded and charged every time)."""
    others = [e for e in sorted(battery().epcs) if e not in GET_EPCS and e < 0x9D][:20]
    return [[*GET_EPCS, a, b] for i, a in enumerate(others) for b in others[i + 1 :]]


async def _legitimate(
    ctl: Any, dest: tuple[str, int], duration: float, rate: float
) -> dict[str, tuple[int, list[float]]]:
    """Sequential Gets for ``duration`` s, ``rate`` per second at most (0: back to back), in turn a repeated one
    (``GET_EPCS``, answered from the device's precomputed answer) and a fresh one (see :func:`fresh_gets`): per
    kind, (sent, latencies of those answered)."""
    from echonet.aio import EchonetTimeoutError

    out: dict[str, tuple[int, list[float]]] = {"repeat": (0, []), "fresh": (0, [])}
    kinds = ("repeat", list(GET_EPCS)), ("fresh", None)
    fresh = fresh_gets()
    n = 0
    begin = time.perf_counter()
    end = begin + duration
    while (start := time.perf_counter()) < end:
        if rate > 0 and (due := begin + n / rate) > start:
            await asyncio.sleep(due - start)
            start = time.perf_counter()
        kind, epcs = kinds[n % 2]
        if epcs is None:
            epcs = fresh[(n // 2) % len(fresh)]
        n += 1
        sent, latencies = out[kind]
        out[kind] = (sent + 1, latencies)
        try:
            result = await ctl.get(dest, BATTERY, epcs)
        except EchonetTimeoutError:
            continue
        if result.ok and len(result.values) == len(epcs):
            latencies.append(time.perf_counter() - start)
    return out


def _cpus(cpus: str | None) -> list[str]:
    return ["--cpus", cpus] if cpus else []


def _attacker(
    target: tuple[str, int], mix: str, rate: float, duration: float, sources: int, cpus: str | None
) -> subprocess.Popen[str]:
    args = [sys.executable, os.path.abspath(__file__), "--attack", f"{target[0]}:{target[1]}", "--mix", mix]
    args += ["--rate", str(rate), "--duration", str(duration), "--sources", str(sources), *_cpus(cpus)]
    proc = subprocess.Popen(args, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    if proc.stdout.readline().strip() != "ready":
        proc.kill()
        raise RuntimeError("the attacker did not start")
    return proc


async def _one(ctl: Any, device: Device, row: str, args: argparse.Namespace) -> dict[str, Any]:
    mix, rate, sources = ROWS[row]
    duration = args.duration
    if rate > 0:
        rate = args.rate
    proc = _attacker(device.addr, mix, rate, duration + 0.3, sources, args.others_cpus) if rate >= 0 else None
    before = device.stats()
    if proc is not None:
        assert proc.stdin is not None
        proc.stdin.write("go\n")
        proc.stdin.flush()
        await asyncio.sleep(0.2)  # the flood is on before the first Get
    wall = time.perf_counter()
    legit = await _legitimate(ctl, device.addr, duration, args.legit_rate)
    wall = time.perf_counter() - wall
    after = device.stats()
    flood = {"sent": 0, "elapsed": 1.0, "bytes": 0}
    if proc is not None:
        out, _ = await asyncio.get_running_loop().run_in_executor(None, proc.communicate, None, duration + 10)
        flood = json.loads(out.strip().splitlines()[-1])
    sent = legit["repeat"][0] + legit["fresh"][0]
    latencies = sorted(legit["repeat"][1] + legit["fresh"][1])
    answered = len(latencies)
    fresh_sent, fresh_answered = legit["fresh"][0], len(legit["fresh"][1])
    return {
        "row": row,
        "device": device.name,
        "flood_rate": flood["sent"] / flood["elapsed"],
        "flood_mb_s": flood["bytes"] / flood["elapsed"] / 1e6,
        "gets": sent,
        "answered": answered,
        "answered_pct": 100.0 * answered / sent if sent else 0.0,
        "fresh_pct": 100.0 * fresh_answered / fresh_sent if fresh_sent else math.nan,
        "lat_median_ms": 1000 * statistics.median(latencies) if latencies else math.nan,
        "lat_p95_ms": 1000 * latencies[min(answered - 1, int(0.95 * answered))] if latencies else math.nan,
        "lat_max_ms": 1000 * latencies[-1] if latencies else math.nan,
        "cpu_pct": 100.0 * (after["cpu"] - before["cpu"]) / wall,
        "kernel_drops": after["kernel_drops"] - before["kernel_drops"],
        "node_dropped": after["dropped"] - before["dropped"],
        "limited": after.get("rate_limited", 0) - before.get("rate_limited", 0),
    }


async def _bench(args: argparse.Namespace, devices: list[Device]) -> list[dict[str, Any]]:
    from echonet.aio import Controller, Endpoints
    from echonet.node import NodeConfig

    ctl = await Controller.open(
        Endpoints(bind_v4=CONTROLLER_HOST, port=0, join_multicast=False),
        config=NodeConfig(timeout=1.0, retries=0, multicast_v4=None, multicast_v6=None),
    )
    try:
        for device in devices:  # warm up: the device answers (and has precomputed its answer), and knows us
            await _legitimate(ctl, device.addr, 1.2, args.legit_rate)
        results = []
        pairs = [(row, device) for row in args.rows for device in devices]
        for r in range(args.rounds):
            for row, device in pairs if r % 2 == 0 else reversed(pairs):
                results.append(await _one(ctl, device, row, args))
                await asyncio.sleep(0.3)  # the device's queue drains before the next row
        return results
    finally:
        await ctl.close()


# Report ---------------------------------------------------------------------------------------------------------

COLUMNS = (
    ("flood_rate", "flood/s", "{:,.0f}"),
    ("gets", "Gets", "{:,.0f}"),
    ("answered_pct", "answered %", "{:.1f}"),
    ("fresh_pct", "fresh %", "{:.1f}"),
    ("lat_median_ms", "median ms", "{:.2f}"),
    ("lat_p95_ms", "p95 ms", "{:.2f}"),
    ("lat_max_ms", "max ms", "{:.1f}"),
    ("cpu_pct", "device CPU %", "{:.0f}"),
    ("kernel_drops", "kernel drops", "{:,.0f}"),
    ("node_dropped", "node drops", "{:,.0f}"),
    ("limited", "limited", "{:,.0f}"),
)


def summarise(results: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per (row, device): median, lowest and highest of every column over the rounds."""
    groups: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for r in results:
        groups.setdefault((r["row"], r["device"]), []).append(r)
    out = []
    for (row, device), rs in groups.items():
        entry: dict[str, Any] = {"row": row, "device": device, "rounds": len(rs)}
        for key, _, _ in COLUMNS:
            values = sorted(x[key] for x in rs if not math.isnan(x[key]))
            entry[key] = (statistics.median(values), values[0], values[-1]) if values else None
        out.append(entry)
    return out


def table(summary: list[dict[str, Any]]) -> str:
    def cell(value: tuple[float, float, float] | None, fmt: str) -> str:
        if value is None:
            return "-"
        median, low, high = (fmt.format(v) for v in value)
        return median if low == high else f"{median} ({low}-{high})"

    head = ["row", "device", *(title for _, title, _ in COLUMNS)]
    rows = [[s["row"], s["device"], *(cell(s[key], fmt) for key, _, fmt in COLUMNS)] for s in summary]
    widths = [max(len(str(x)) for x in col) for col in zip(head, *rows, strict=True)]
    lines = []
    for r in [head, *rows]:
        cells = zip(r, widths, strict=True)
        lines.append("  ".join(str(x).rjust(w) if i > 1 else str(x).ljust(w) for i, (x, w) in enumerate(cells)))
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a smoke run: 1 round of 1 s, three rows")
    parser.add_argument("--rounds", type=int, default=None)
    parser.add_argument("--duration", type=float, default=None, help="seconds of flood per row and round")
    parser.add_argument("--rate", type=float, default=10_000, help="the set rate of the @10k rows (datagrams/s)")
    parser.add_argument(
        "--legit-rate", type=float, default=100.0, help="the legitimate controller's Gets per second (0: back to back)"
    )
    parser.add_argument(
        "--rcvbuf", type=int, default=None, help="the devices' Endpoints.rcvbuf (bytes; default: Endpoints' own)"
    )
    parser.add_argument("--loop", choices=("asyncio", "uvloop"), default="asyncio", help="the device's event loop")
    parser.add_argument("--rows", default=None, help="comma-separated: " + ", ".join(ROWS))
    parser.add_argument("--compare", action="append", default=[], metavar="NAME=TREE", help="one more device")
    parser.add_argument(
        "--compare-rcvbuf",
        action="append",
        default=[],
        metavar="NAME=BYTES",
        help="one more device of this tree, with this Endpoints.rcvbuf",
    )
    parser.add_argument(
        "--pin",
        action="store_true",
        help="give the device a CPU of its own (on a machine of 2 CPUs or more: CPU 0 for the device, CPU 1 for"
        " the attacker and the controller); off by default: on a shared machine other work may hold that CPU",
    )
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--cpus", help=argparse.SUPPRESS)
    parser.add_argument("--device", metavar="HOST", help=argparse.SUPPRESS)
    parser.add_argument("--attack", metavar="HOST:PORT", help=argparse.SUPPRESS)
    parser.add_argument("--mix", default="mixed", help=argparse.SUPPRESS)
    parser.add_argument("--sources", type=int, default=1, help=argparse.SUPPRESS)
    args = parser.parse_args()
    _pin(args.cpus)
    if args.device:
        from echonet.aio import run

        run(_device(args.device, args.rcvbuf), use_uvloop=args.loop == "uvloop")
        return 0
    if args.attack:
        host, port = args.attack.rsplit(":", 1)
        attack((host, int(port)), args.mix, args.rate, args.duration, args.sources)
        return 0
    if args.rounds is None:
        args.rounds = 1 if args.quick else 3
    if args.duration is None:
        args.duration = 1.0 if args.quick else 5.0
    args.duration = min(args.duration, 30.0)
    if args.rows is None:
        args.rows = "baseline,mixed@10k,mixed@max" if args.quick else ",".join(ROWS)
    args.rows = [r for r in args.rows.split(",") if r]
    unknown = [r for r in args.rows if r not in ROWS]
    if unknown:
        parser.error(f"unknown rows: {', '.join(unknown)}")
    pin = args.pin and hasattr(os, "sched_setaffinity") and len(os.sched_getaffinity(0)) >= 2
    args.device_cpus, args.others_cpus = ("0", "1") if pin else (None, None)
    _pin(args.others_cpus)  # (the controller)
    specs: list[tuple[str, str | None, int | None]] = [("this tree", None, args.rcvbuf)]
    for spec in args.compare:
        name, _, tree = spec.partition("=")
        if not tree:
            parser.error(f"--compare {spec!r}: NAME=TREE expected")
        specs.append((name, tree, args.rcvbuf))
    for spec in args.compare_rcvbuf:
        name, _, size = spec.partition("=")
        if not size.isdigit():
            parser.error(f"--compare-rcvbuf {spec!r}: NAME=BYTES expected")
        specs.append((name, None, int(size)))
    devices: list[Device] = []
    try:
        for i, (name, tree, rcvbuf) in enumerate(specs):
            devices.append(Device(name, tree, i, args.loop, args.device_cpus, rcvbuf))
        from echonet.aio import run

        results = run(_bench(args, devices))
    finally:
        for device in devices:
            device.close()
    summary = summarise(results)
    if args.json:
        print(json.dumps({"rounds": results, "summary": summary}, indent=1))
    else:
        where = "the device on CPU 0, attacker and controller on CPU 1" if pin else "no CPU pinning"
        print(
            f"device loop: {args.loop}; {where}; {args.rounds} round(s) of {args.duration:g} s per row; median (range)"
        )
        print(table(summary))
    return 0


if __name__ == "__main__":
    sys.exit(main())
