"""The fuzz harness and the codec benchmark run and hold their invariants (smoke runs; no timing assertions)."""

from __future__ import annotations

import json
import subprocess
import sys

from .conftest import ROOT


def test_fuzz_harness_holds_its_invariant_on_mutated_real_frames() -> None:
    result = subprocess.run(
        [sys.executable, "tools/fuzz_codec.py", "--iterations", "3000", "--seed", "7"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert "invariant held" in result.stdout


def test_codec_benchmark_reports_every_contender_as_json() -> None:
    result = subprocess.run(
        [sys.executable, "tools/bench_codec.py", "--rounds", "1", "--seconds", "0.01", "--json"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    rows = json.loads(result.stdout)
    impls = {(r["frame"], r["op"], r["impl"]) for r in rows}
    for frame in ("3 properties", "24 properties"):
        for op in ("decode", "encode"):
            assert (frame, op, "echonet") in impls and (frame, op, "struct reference") in impls
