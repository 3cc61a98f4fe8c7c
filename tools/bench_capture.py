"""Benchmark: ``decode --pcap --summary`` and ``decode --pcap --parquet`` against ``decode --pcap --json`` on the same
captures, as whole commands (subprocesses, output to /dev/null or a temporary file).

Captures of N datagrams (default 10k and 100k; ``--sizes 10000,100000,1000000`` for the issue's three) of a
controller polling three devices (Get, Get_Res with typed values, a SetC now and then, INFs). For each size the three
commands run in interleaved rounds (json, summary, parquet, then parquet, summary, json, ...), and the report
gives, per mode, the median wall time, the ratio to ``--json`` of the same round (median and range over the rounds)
by wall time and by CPU time (user + system: what the machine's other load disturbs far less), the CPU time per
datagram (to see that time is linear in size) and the peak resident memory of the process (to see that it stays
flat).

The commands run as an installed package runs: with its modules' bytecode cached (in a temporary
``PYTHONPYCACHEPREFIX``, filled by one untimed run of each mode first), even where ``PYTHONDONTWRITEBYTECODE`` is
set, which would otherwise charge every run the compilation of each module it imports.

    python tools/bench_capture.py [--sizes 10000,100000] [--rounds 3]
    python tools/bench_capture.py --sizes 1000000 --rounds 2
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from echonet.codec import encode  # noqa: E402
from echonet.frame import EOJ, ESV, Frame, Property  # noqa: E402
from echonet.pcap import Datagram, write_capture  # noqa: E402

MODES = {
    "json": ["--json"],
    "summary": ["--summary", "--json"],
    "parquet": ["--parquet", "{out}"],
}


def make_capture(path: Path, n: int) -> None:
    ctrl, c = "192.168.0.1", EOJ(5, 0xFF, 1)
    devices = [("192.168.0.2", EOJ(2, 0x7D, 1)), ("192.168.0.3", EOJ(2, 0x6B, 1)), ("192.168.0.4", EOJ(2, 0xA6, 1))]

    def datagrams():
        t = 1.7e9
        for i in range(n):
            host, eoj = devices[(i // 2) % 3]
            tid = (i // 2) & 0xFFFF
            t += 0.002
            if i % 50 == 49:
                yield Datagram(t, host, "224.0.23.0", 3610, 3610, encode(Frame.make(tid, eoj, EOJ(0x0E, 0xF0, 1),
                               ESV.INF, [Property(0x80, b"\x30")])))  # fmt: skip
            elif i % 2 == 0:
                yield Datagram(t, ctrl, host, 3610, 3610, encode(Frame.make(tid, c, eoj, ESV.GET,
                               [Property(0x80), Property(0xE2 if eoj.class_code == 0x7D else 0xE1)])))  # fmt: skip
            else:
                edt = (i * 7 % 5000).to_bytes(4, "big") if eoj.class_code == 0x7D else bytes([i % 100])
                props = [Property(0x80, b"\x30"), Property(0xE2 if eoj.class_code == 0x7D else 0xE1, edt)]
                yield Datagram(t, host, ctrl, 3610, 3610, encode(Frame.make(tid, eoj, c, ESV.GET_RES, props)))

    write_capture(path, datagrams())


_ENV = dict(os.environ)


def run(capture: Path, mode: str, out: Path) -> tuple[float, float, int]:
    """(wall seconds, CPU seconds, peak RSS in KiB) of one command."""
    argv = [sys.executable, "-m", "echonet", "decode", "--pcap", str(capture), "--no-progress"]
    argv += [a.replace("{out}", str(out)) for a in MODES[mode]]
    start = time.perf_counter()
    with open(os.devnull, "wb") as null:
        proc = subprocess.Popen(argv, stdout=null, stderr=null, cwd=ROOT, env=_ENV)
        _, status, usage = os.wait4(proc.pid, 0)
    elapsed = time.perf_counter() - start
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"{mode} failed on {capture}")
    return elapsed, usage.ru_utime + usage.ru_stime, usage.ru_maxrss


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10000,100000")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    with tempfile.TemporaryDirectory() as tmp:
        _ENV.pop("PYTHONDONTWRITEBYTECODE", None)
        _ENV["PYTHONPYCACHEPREFIX"] = str(Path(tmp) / "pycache")
        print(f"{'datagrams':>10} {'mode':>8} {'wall s':>7} {'CPU us/dgram':>12} {'wall / json':>18} "
              f"{'CPU / json':>18} {'peak RSS MiB':>12}")  # fmt: skip
        for n in sizes:
            capture = Path(tmp) / f"c{n}.pcap"
            make_capture(capture, n)
            times: dict[str, list[float]] = {m: [] for m in MODES}
            cpus: dict[str, list[float]] = {m: [] for m in MODES}
            rss: dict[str, int] = {m: 0 for m in MODES}
            if n == sizes[0]:
                for mode in MODES:  # untimed: the bytecode cache filled
                    run(capture, mode, Path(tmp) / "out.parquet")
            for r in range(args.rounds):
                order = list(MODES) if r % 2 == 0 else list(reversed(MODES))  # (flipped every round: no mode
                for mode in order:  # always runs first or last) interleaved: the rounds see the same machine load
                    seconds, cpu, peak = run(capture, mode, Path(tmp) / "out.parquet")
                    times[mode].append(seconds)
                    cpus[mode].append(cpu)
                    rss[mode] = max(rss[mode], peak)
            for mode in MODES:
                cells = []
                for series in (times, cpus):
                    ratios = [t / j for t, j in zip(series[mode], series["json"], strict=True)]
                    cells.append(f"{statistics.median(ratios):.2f} ({min(ratios):.2f}-{max(ratios):.2f})")
                print(f"{n:>10} {mode:>8} {statistics.median(times[mode]):>7.2f} "
                      f"{statistics.median(cpus[mode]) / n * 1e6:>12.1f} {cells[0]:>18} {cells[1]:>18} "
                      f"{rss[mode] / 1024:>12.1f}")  # fmt: skip


if __name__ == "__main__":
    main()
