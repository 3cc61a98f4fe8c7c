"""Frame codec throughput, side by side in one run: ours vs a hand-written struct reference vs pychonet vs construct.

    python tools/bench_codec.py [--rounds N] [--json]

Each contender decodes (or encodes) the same frame; rounds are interleaved so that machine noise hits all of them
alike. Each round gives each contender a ratio to the struct reference of the same round; printed are the median
frames/s, the median ratio and its range over the rounds (not the best round). Targets (issue
#2): ours >= 0.5x the struct reference for decode and encode on both frames, and faster than pychonet.

The struct reference is the minimal hand-written decoder a careful engineer would write: one ``unpack_from`` for the
header, a loop slicing properties into plain tuples, and a final length check. Ours does more (typed EOJ/ESV/
Property values, SetGet, exact error offsets), so the ratio measures what that costs.
"""

from __future__ import annotations

import argparse
import json
import statistics
import struct
import sys
import time
from collections.abc import Callable
from typing import Any

from echonet import EOJ, Frame, Property, decode, encode
from echonet.wire import reference_decode, reference_encode

_HEADER = struct.Struct(">BBH3s3sBB")


def struct_decode(data: bytes) -> tuple[Any, ...]:
    ehd1, ehd2, tid, seoj, deoj, esv, opc = _HEADER.unpack_from(data)
    pos = 12
    props = []
    for _ in range(opc):
        pdc = data[pos + 1]
        props.append((data[pos], data[pos + 2 : pos + 2 + pdc]))
        pos += 2 + pdc
    if pos != len(data):
        raise ValueError("length mismatch")
    return (ehd1, ehd2, tid, seoj, deoj, esv, props)


def struct_encode(t: tuple[Any, ...]) -> bytes:
    ehd1, ehd2, tid, seoj, deoj, esv, props = t
    out = [_HEADER.pack(ehd1, ehd2, tid, seoj, deoj, esv, len(props))]
    for epc, edt in props:
        out.append(bytes((epc, len(edt))))
        out.append(edt)
    return b"".join(out)


def frames() -> dict[str, Frame]:
    three = Frame.make(
        0x0102,
        EOJ(0x02, 0x7D, 0x01),
        EOJ(0x05, 0xFF, 0x01),
        0x72,
        [Property(0xE2, bytes.fromhex("00001388")), Property(0xD3, bytes.fromhex("fffffa24")), Property(0xDA, b"\x42")],
    )
    many = Frame.make(
        0x0103,
        EOJ(0x02, 0x7D, 0x01),
        EOJ(0x05, 0xFF, 0x01),
        0x72,
        [Property(0x80 + i * 4, bytes((i,)) * (1 + i % 4)) for i in range(24)],
    )
    return {"3 properties": three, "24 properties": many}


def _pychonet() -> tuple[Callable[[bytes], Any], Callable[[dict[str, Any]], Any]] | None:
    try:
        from pychonet.lib.functions import buildEchonetMsg, decodeEchonetMsg
    except ImportError:
        return None
    return decodeEchonetMsg, buildEchonetMsg


def _pychonet_request(frame: Frame) -> dict[str, Any]:
    # pychonet builds requests from controller 05FF01 to a device: the same bytes apart from SEOJ/DEOJ order.
    assert frame.deoj is not None and frame.esv is not None
    return {
        "TID": frame.tid,
        "DEOJGC": 0x02,
        "DEOJCC": 0x7D,
        "DEOJCI": 0x01,
        "ESV": 0x61,
        "OPC": [{"EPC": p.epc, "PDC": len(p.edt), "EDT": int.from_bytes(p.edt, "big")} for p in frame.properties],
    }


def _rate(fn: Callable[[], Any], seconds: float) -> float:
    """Operations per second: the median of three short batches."""
    n = 1
    while True:
        start = time.perf_counter()
        for _ in range(n):
            fn()
        elapsed = time.perf_counter() - start
        if elapsed > seconds / 4:
            break
        n *= 2
    times = []
    for _ in range(3):
        start = time.perf_counter()
        for _ in range(n):
            fn()
        times.append((time.perf_counter() - start) / n)
    return 1.0 / statistics.median(times)


def run(rounds: int, seconds: float) -> list[dict[str, Any]]:
    py = _pychonet()
    results: list[dict[str, Any]] = []
    for label, frame in frames().items():
        data = encode(frame)
        as_tuple = struct_decode(data)
        contenders: dict[str, dict[str, Callable[[], Any]]] = {
            "decode": {
                "echonet": lambda d=data: decode(d),
                "struct reference": lambda d=data: struct_decode(d),
                "construct (oracle)": lambda d=data: reference_decode(d),
            },
            "encode": {
                "echonet": lambda f=frame: encode(f),
                "struct reference": lambda t=as_tuple: struct_encode(t),
                "construct (oracle)": lambda f=frame: reference_encode(f),
            },
        }
        if py is not None:
            py_decode, py_build = py
            request = _pychonet_request(frame)
            contenders["decode"]["pychonet"] = lambda d=data, fn=py_decode: fn(d)
            contenders["encode"]["pychonet"] = lambda r=request, fn=py_build: fn(dict(r))
        for op, table in contenders.items():
            rates: dict[str, list[float]] = {name: [] for name in table}
            for _ in range(rounds):  # interleaved: every contender once per round
                for name, fn in table.items():
                    rates[name].append(_rate(fn, seconds))
            refs = rates["struct reference"]
            for name, measured in rates.items():
                ratios = sorted(r / ref for r, ref in zip(measured, refs, strict=True))
                results.append(
                    {
                        "frame": label,
                        "op": op,
                        "impl": name,
                        "frames_per_s": round(statistics.median(measured)),
                        "ratio": statistics.median(ratios),
                        "range": [ratios[0], ratios[-1]],
                    }
                )
    return results


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--seconds", type=float, default=0.2, help="time per batch")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    results = run(args.rounds, args.seconds)
    if args.json:
        print(json.dumps(results, indent=1))
        return 0
    print(f"{'frame':<14} {'op':<7} {'implementation':<20} {'frames/s':>12} {'vs struct':>10} {'range':>11}")
    for r in results:
        spread = f"{r['range'][0]:.2f}-{r['range'][1]:.2f}"
        print(
            f"{r['frame']:<14} {r['op']:<7} {r['impl']:<20} {r['frames_per_s']:>12,} {r['ratio']:>9.2f}x {spread:>11}"
        )
    ok = all(r["ratio"] >= 0.5 for r in results if r["impl"] == "echonet")
    faster = all(
        next(
            x["frames_per_s"]
            for x in results
            if x["frame"] == r["frame"] and x["op"] == r["op"] and x["impl"] == "echonet"
        )
        > r["frames_per_s"]
        for r in results
        if r["impl"] == "pychonet"
    )
    print(
        f"\ntargets: >= 0.5x struct {'met' if ok else 'NOT met'}; faster than pychonet {'met' if faster else 'NOT met'}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
