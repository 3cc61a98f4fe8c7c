"""Capture decoding side by side, in one run: ``echonet decode --pcap`` against scapy, dpkt and tshark.

    python tools/bench_pcap.py [--sizes 10000,100000] [--million] [--rounds 3] [--dissect 100000] [--keep DIR]
                               [--echonet-root DIR] [--json]

The capture is ECHONET Lite traffic written by :func:`echonet.pcap.write_capture` from the sample session of
``tools/make_sample_capture.py`` (discovery, Get / Get_Res, SetC / Set_Res, INF, SetGet, Get_SNA, IPv6, a
malformed frame, a datagram that is not ECHONET Lite, an arbitrary-format frame, an SSDP datagram on another port)
repeated with fresh TIDs, times and measured values (remaining energy, power, hot water), so that no two cycles are
the same bytes. Sizes are counted in datagrams (packets); 1M is behind ``--million`` (about a minute a round).

Every contender runs in a process of its own, reading the same file, its output thrown away; the rounds interleave
them (every contender once a round, the order flipped every other round) and each row gives the median wall and CPU
time (user + system, which other processes on a shared machine disturb far less than the wall time; all contenders
are single-threaded) and the median and range over the rounds of its speed, by CPU time, against scapy's full
dissection and against ours (``echonet decode --pcap --json``):

* ``echonet decode --pcap --json`` / ``echonet decode --pcap``: the command line, JSON and text, every record
  written (``--echonet-root`` runs it from another source tree, e.g. a copy before a change);
* ``echonet decode --pcap --summary --json`` and ``echonet decode --pcap --parquet OUT``: the capture analysis
  (conversations; Parquet rows), each to be at least as fast as ``--json`` (its ``x ours`` at least 1);
* ``echonet reader only``: ``iter_datagrams`` (the UDP payloads, no frame decoding); ``scapy raw + ours``: the same
  over scapy's raw reader;
* ``dpkt UDP payloads``: dpkt's pcap reader and Ethernet / IP / UDP dissection, the payloads of port 3610 only;
* ``tshark UDP payloads``: ``tshark -n -r FILE -Y "udp.port == 3610" -T fields -e udp.payload`` (when installed);
* ``scapy PcapReader (full dissection)``: scapy's streaming reader, every packet dissected, the UDP payloads of port
  3610 taken; it is timed on the first ``--dissect`` packets of the same file (0: all) and its rate extrapolated.

Peak memory (maximum resident set size of the process) is shown for each contender at each size. The contenders
run without ``PYTHONUNBUFFERED`` (set in some sandboxes), with their output buffered as from a user's shell, and
with their modules' bytecode cached as in an installed package (a temporary ``PYTHONPYCACHEPREFIX``, filled by an
untimed run of each contender first, even where ``PYTHONDONTWRITEBYTECODE`` is set).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # run as a script from anywhere
    sys.path.insert(0, str(ROOT))

PORT = 3610


# -- the capture -----------------------------------------------------------------------------------------------------


def _varying(payload: bytes) -> list[tuple[int, int, bool]]:
    """Where a template's measured values are: (offset, size, signed) of each 2- or 4-byte number EDT of a Get_Res,
    SetGet_Res, INF or Get_SNA answer (the TID at offset 2 is always renewed)."""
    from echonet import decode
    from echonet.errors import FrameDecodeError

    try:
        frame = decode(payload)
    except FrameDecodeError:
        return []
    if frame.esv not in (0x72, 0x73, 0x7E, 0x52):
        return []
    spots = []
    pos = 12
    for half in (frame.properties, frame.get_properties):
        for prop in half:
            if len(prop.edt) in (2, 4) and prop.epc in (0xE1, 0xE2, 0xD3):
                spots.append((pos + 2, len(prop.edt), prop.epc == 0xD3))
            pos += 2 + len(prop.edt)
        pos += 1
    return spots


def capture_datagrams(count: int) -> Iterator[Any]:
    """``count`` datagrams of the sample session, cycle after cycle, with fresh TIDs, times and values."""
    from make_sample_capture import BASE_TIME, SESSION

    from echonet.pcap import Datagram

    templates = [(p, _varying(p.payload)) for p in SESSION]
    cycle_us = SESSION[-1].micros + 100_000
    for n in range(count):
        cycle, i = divmod(n, len(templates))
        packet, spots = templates[i]
        payload = bytearray(packet.payload)
        if payload[:2] == b"\x10\x81":
            payload[2:4] = ((cycle * 16 + i) & 0xFFFF).to_bytes(2, "big")
        for offset, size, signed in spots:
            value = (cycle * 7919 + offset) % 3000 - (1500 if signed else 0)
            payload[offset : offset + size] = value.to_bytes(size, "big", signed=signed)
        when = BASE_TIME + (cycle * cycle_us + packet.micros) / 1e6
        yield Datagram(when, packet.src, packet.dst, packet.sport, packet.dport, bytes(payload))


def write(path: Path, count: int) -> Path:
    from echonet.pcap import write_capture

    if not path.exists():
        tmp = path.with_suffix(".part")
        write_capture(tmp, capture_datagrams(count))
        tmp.rename(path)
    return path


# -- the contenders, each a process ----------------------------------------------------------------------------------

_SCAPY = """
import itertools, sys
from scapy.layers.inet import UDP
from scapy.utils import PcapReader
limit = int(sys.argv[2]) or None
n = 0
with PcapReader(sys.argv[1]) as reader:
    for packet in itertools.islice(reader, limit):
        if UDP in packet:
            udp = packet[UDP]
            if udp.sport == 3610 or udp.dport == 3610:
                bytes(udp.payload)
                n += 1
print(n, file=sys.stderr)
"""

_DPKT = """
import sys
import dpkt
n = 0
with open(sys.argv[1], "rb") as f:
    for _ts, buf in dpkt.pcap.Reader(f):
        udp = dpkt.ethernet.Ethernet(buf).data.data
        if isinstance(udp, dpkt.udp.UDP) and (udp.sport == 3610 or udp.dport == 3610):
            bytes(udp.data)
            n += 1
print(n, file=sys.stderr)
"""

_READER = """
import sys
from echonet.pcap import iter_datagrams
n = sum(1 for _ in iter_datagrams(sys.argv[1], (3610,), backend=sys.argv[2]))
print(n, file=sys.stderr)
"""


def contenders(path: Path, dissect: int) -> dict[str, list[str]]:
    py = sys.executable
    cli = [py, "-m", "echonet", "decode", "--pcap", str(path), "--no-progress"]
    out = {
        "echonet decode --pcap --json": [*cli, "--json"],
        "echonet decode --pcap (text)": cli,
        "echonet decode --pcap --summary --json": [*cli, "--summary", "--json"],
        "echonet decode --pcap --parquet OUT": [*cli, "--parquet", str(path.with_suffix(".out.parquet"))],
        "echonet reader only": [py, "-c", _READER, str(path), "native"],
        "scapy raw reader + ours": [py, "-c", _READER, str(path), "scapy"],
    }
    try:
        import dpkt  # noqa: F401
    except ImportError:
        pass
    else:
        out["dpkt UDP payloads"] = [py, "-c", _DPKT, str(path)]
    tshark = shutil.which("tshark")
    if tshark is not None:
        out["tshark UDP payloads"] = [tshark, "-n", "-r", str(path), "-Y", "udp.port == 3610", "-T", "fields"]
        out["tshark UDP payloads"] += ["-e", "udp.payload"]
    out["scapy PcapReader (full dissection)"] = [py, "-c", _SCAPY, str(path), str(dissect)]
    return out


def run_one(argv: list[str], env: dict[str, str]) -> tuple[float, float, float]:
    """Wall seconds, CPU seconds (user + system) and peak resident memory (MB) of one process, its output thrown
    away."""
    start = time.perf_counter()
    with open(os.devnull, "wb") as sink:
        # run from a directory of no source tree: ``python -m echonet`` imports the one PYTHONPATH or the install names
        proc = subprocess.Popen(argv, stdout=sink, stderr=subprocess.PIPE, env=env, cwd=tempfile.gettempdir())
        assert proc.stderr is not None
        err = proc.stderr.read()
        _pid, status, usage = os.wait4(proc.pid, 0)
    elapsed = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode not in (0,):
        raise SystemExit(f"{argv[:4]} exited {proc.returncode}: {err.decode(errors='replace')[-500:]}")
    return elapsed, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024


def bench(path: Path, packets: int, rounds: int, dissect: int, roots: list[Path]) -> list[dict[str, Any]]:
    table = contenders(path, dissect)
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONUNBUFFERED", "PYTHONDONTWRITEBYTECODE")}
    env["PYTHONPYCACHEPREFIX"] = str(path.parent / "pycache")  # (bytecode cached, as installed)
    envs = dict.fromkeys(table, env)
    for root in roots:  # the command line of other source trees
        for fmt in ("--json", "(text)"):
            name = f"echonet decode --pcap {fmt} [{root.name}]"
            table[name] = [*table[f"echonet decode --pcap {fmt}"]]
            envs[name] = dict(env, PYTHONPATH=str(root))
    counted = {name: (min(dissect, packets) if "scapy PcapReader" in name and dissect else packets) for name in table}
    per_packet: dict[str, list[float]] = {name: [] for name in table}
    memory: dict[str, float] = dict.fromkeys(table, 0.0)
    seconds: dict[str, list[float]] = {name: [] for name in table}
    cpu_seconds: dict[str, list[float]] = {name: [] for name in table}
    for name in table:  # untimed: the bytecode cache filled (every Python contender: the prefix replaces the
        if table[name][0] == sys.executable:  # __pycache__ of installed packages too)
            run_one(table[name], envs[name])
    for r in range(rounds):
        names = list(table) if r % 2 == 0 else list(reversed(table))  # the order flips every round
        for name in names:
            elapsed, cpu, rss = run_one(table[name], envs[name])
            seconds[name].append(elapsed)
            cpu_seconds[name].append(cpu)
            per_packet[name].append(cpu / counted[name])
            memory[name] = max(memory[name], rss)
    scapy = per_packet["scapy PcapReader (full dissection)"]
    ours = per_packet["echonet decode --pcap --json"]
    rows = []
    for name in table:
        mine = per_packet[name]
        vs_scapy = sorted(s / m for s, m in zip(scapy, mine, strict=True))
        vs_ours = sorted(o / m for o, m in zip(ours, mine, strict=True))
        rows.append(
            {
                "packets": packets,
                "contender": name,
                "timed_packets": counted[name],
                "seconds": statistics.median(seconds[name]),
                "cpu_seconds": statistics.median(cpu_seconds[name]),
                "per_s": counted[name] / statistics.median(cpu_seconds[name]),
                "x_scapy": statistics.median(vs_scapy),
                "x_scapy_range": [vs_scapy[0], vs_scapy[-1]],
                "x_ours": statistics.median(vs_ours),
                "x_ours_range": [vs_ours[0], vs_ours[-1]],
                "max_rss_mb": memory[name],
            }
        )
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10000,100000", help="capture sizes in datagrams, comma-separated")
    parser.add_argument("--million", action="store_true", help="also 1,000,000 datagrams (about a minute a round)")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--dissect", type=int, default=100_000, help="packets scapy dissects (0: the whole file)")
    parser.add_argument("--keep", type=Path, help="directory to keep (and reuse) the captures in")
    parser.add_argument(
        "--echonet-root", type=Path, action="append", default=[], help="also run the command line of this source tree"
    )
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    sizes = [int(s) for s in args.sizes.split(",") if s]
    if args.million:
        sizes.append(1_000_000)
    work = Path(tempfile.mkdtemp(prefix="bench_pcap_")) if args.keep is None else args.keep
    work.mkdir(parents=True, exist_ok=True)
    sys.path.insert(0, str(ROOT / "tools"))
    results = []
    try:
        for size in sizes:
            path = write(work / f"echonet-{size}.pcap", size)
            rows = bench(path, size, args.rounds, args.dissect, args.echonet_root)
            results += rows
            if not args.json:
                _print(path, rows)
    finally:
        if args.keep is None:
            shutil.rmtree(work, ignore_errors=True)
    if args.json:
        print(json.dumps(results, indent=1))
    else:
        _targets(results)
    return 0


def _print(path: Path, rows: list[dict[str, Any]]) -> None:
    print(f"\n{path.name}: {rows[0]['packets']:,} datagrams, {path.stat().st_size / 1e6:.1f} MB")
    print(
        f"  {'contender':42} {'timed':>9} {'wall s':>7} {'CPU s':>7} {'per CPU s':>10} {'x scapy':>8} {'range':>12} ",
        end="",
    )
    print(f"{'x ours':>7} {'range':>11} {'max RSS':>8}")
    for r in rows:
        lo, hi = r["x_scapy_range"]
        olo, ohi = r["x_ours_range"]
        print(
            f"  {r['contender']:42} {r['timed_packets']:9,} {r['seconds']:7.2f} {r['cpu_seconds']:7.2f} "
            f"{r['per_s']:10,.0f} {r['x_scapy']:7.1f}x {lo:5.1f}-{hi:<6.1f} {r['x_ours']:6.2f}x {olo:4.2f}-{ohi:<6.2f} "
            f"{r['max_rss_mb']:6.0f} MB"
        )


def _targets(results: list[dict[str, Any]]) -> None:
    print("\nx scapy / x ours: how many times faster than scapy's full dissection / our --json (medians of the rounds)")
    for size in sorted({r["packets"] for r in results}):
        rows = {r["contender"]: r for r in results if r["packets"] == size}
        ours, text = rows["echonet decode --pcap --json"], rows["echonet decode --pcap (text)"]
        tshark = rows.get("tshark UDP payloads")
        line = f"{size:>9,} datagrams: --json {ours['x_scapy']:.1f}x scapy (target >= 10x)"
        if tshark is not None:
            line += f", {tshark['x_ours']:.2f}x tshark's time (target < 1)"  # (tshark's speed / ours = our time / its)
        line += f"; text {text['x_ours']:.2f}x the speed of --json (target >= 1)"
        print(line)
    mems = [r["max_rss_mb"] for r in results if r["contender"] == "echonet decode --pcap --json"]
    print(f"--json peak memory by size: {', '.join(f'{m:.0f} MB' for m in mems)} (target: flat)")


_Run = Callable[[], int]

if __name__ == "__main__":
    raise SystemExit(main())
