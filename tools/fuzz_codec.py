"""Fuzz harness for the frame codec. Invariant: ``decode`` returns a Frame or raises FrameDecodeError, nothing else;
a decoded frame re-encodes to the same bytes; and the fast codec agrees with the construct oracle.

    python tools/fuzz_codec.py                      # built-in mutational fuzzer, 200,000 inputs
    python tools/fuzz_codec.py --iterations 5000    # a short run (the test suite does this)
    python tools/fuzz_codec.py --atheris -- -max_total_time=600   # coverage-guided, if `pip install atheris`

The built-in fuzzer mutates a corpus of real frames (tests/vectors/real_frames.json) and spec-shaped frames with
byte flips, cuts, insertions, PDC/OPC tweaks and splices. A failing input is written to ``fuzz-crash-<n>.bin`` and
the run exits non-zero.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from pathlib import Path

from echonet import Frame, FrameDecodeError, decode, encode
from echonet.wire import reference_decode

ROOT = Path(__file__).resolve().parents[1]
SEEDS = [
    "1081000105ff010ef0016201d600",
    "10810007027d0105ff017e01da0001d304fffffa24",
    "1081000105ff01027d016e01da014202e200d300",
    "108200420102030405",
    "1081000105ff01027d017203e20400001388d304fffffa24da0142",
]


class InvariantBroken(Exception):
    pass


def check(data: bytes) -> None:
    """Raise InvariantBroken if the codec misbehaves on ``data``."""
    try:
        frame = decode(data)
    except FrameDecodeError as exc:
        fast: object = ("error", exc.offset, exc.field)
    except Exception as exc:  # the invariant: nothing else escapes
        raise InvariantBroken(f"decode raised {type(exc).__name__}: {exc}") from exc
    else:
        if not isinstance(frame, Frame):
            raise InvariantBroken(f"decode returned {type(frame).__name__}")
        if encode(frame) != data:
            raise InvariantBroken("decoded frame does not re-encode to the same bytes")
        fast = frame
    try:
        oracle: object = reference_decode(data)
    except FrameDecodeError as exc:
        oracle = ("error", exc.offset, exc.field)
    if fast != oracle:
        raise InvariantBroken(f"fast codec {fast!r} != construct oracle {oracle!r}")


def corpus() -> list[bytes]:
    seeds = [bytes.fromhex(h) for h in SEEDS]
    vectors = ROOT / "tests" / "vectors" / "real_frames.json"
    if vectors.exists():
        seeds += [bytes.fromhex(e["hex"]) for e in json.loads(vectors.read_text())["frames"]]
    return seeds


def mutate(rng: random.Random, data: bytes, pool: list[bytes]) -> bytes:
    buf = bytearray(data)
    for _ in range(rng.randint(1, 4)):
        op = rng.randrange(8)
        if op == 0 and buf:
            buf[rng.randrange(len(buf))] = rng.randrange(256)
        elif op == 1 and buf:
            del buf[rng.randrange(len(buf)) :]
        elif op == 2:
            buf.insert(rng.randint(0, len(buf)), rng.randrange(256))
        elif op == 3 and buf:
            del buf[rng.randrange(len(buf))]
        elif op == 4 and len(buf) > 11:
            buf[11] = rng.choice((0, 1, (buf[11] + 1) % 256, (buf[11] - 1) % 256, 255))  # OPC
        elif op == 5 and len(buf) > 13:
            buf[13] = rng.choice((0, 1, 4, 255, (buf[13] + 1) % 256))  # first PDC
        elif op == 6:
            other = rng.choice(pool)
            cut = rng.randint(0, len(other))
            buf = buf[: rng.randint(0, len(buf))] + bytearray(other[cut:])
        else:
            buf += bytes(rng.randrange(256) for _ in range(rng.randint(1, 3)))
    return bytes(buf)


def run_builtin(iterations: int, seed: int, quiet: bool) -> int:
    rng = random.Random(seed)
    pool = corpus()
    start = time.monotonic()
    errors = frames = 0
    for i in range(iterations):
        data = mutate(rng, rng.choice(pool), pool)
        try:
            check(data)
        except InvariantBroken as exc:
            path = Path(f"fuzz-crash-{i}.bin")
            path.write_bytes(data)
            print(f"invariant broken on input {data.hex()} (saved to {path}): {exc}", file=sys.stderr)
            return 1
        try:
            decode(data)
            frames += 1
            if len(pool) < 5000 and rng.random() < 0.01:
                pool.append(data)  # keep some valid mutants as new seeds
        except FrameDecodeError:
            errors += 1
        if not quiet and (i + 1) % 50000 == 0:
            print(f"{i + 1:,} inputs, {time.monotonic() - start:.1f}s", file=sys.stderr)
    if not quiet:
        print(f"ok: {iterations:,} inputs ({frames:,} valid frames, {errors:,} malformed), invariant held")
    return 0


def run_atheris(extra: list[str]) -> int:  # pragma: no cover - needs atheris
    import atheris

    def one(data: bytes) -> None:
        check(data)

    atheris.Setup([sys.argv[0], *extra], one)
    atheris.Fuzz()
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description="Fuzz the ECHONET Lite frame codec")
    parser.add_argument("--iterations", type=int, default=200_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--quiet", action="store_true")
    parser.add_argument("--atheris", action="store_true", help="coverage-guided fuzzing with atheris")
    parser.add_argument("extra", nargs="*", help="arguments for libFuzzer (after --)")
    args = parser.parse_args()
    if args.atheris:
        return run_atheris(args.extra)
    return run_builtin(args.iterations, args.seed, args.quiet)


if __name__ == "__main__":
    sys.exit(main())
