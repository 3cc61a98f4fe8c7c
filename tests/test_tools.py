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


def test_node_benchmark_quick_run_prints_its_table() -> None:
    result = subprocess.run(
        [sys.executable, "tools/bench_node.py", "--quick"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].split()[:2] == ["metric", "ours"] and "target" in lines[0] and "result" in lines[0]
    for metric in ("Get round trips/s (asyncio)", "Get pipelined x64 /s (asyncio)", "memory per device", "discover"):
        assert any(line.startswith(metric) for line in lines), metric
    assert all(line.rstrip().endswith(("PASS", "MISS", "-")) for line in lines[1:])


def test_secure_benchmark_quick_run_reports_the_three_ratios_with_targets() -> None:
    result = subprocess.run(
        [sys.executable, "tools/bench_secure.py", "--quick", "--json"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    rows = json.loads(result.stdout)
    assert [r["unit"] for r in rows] == ["us", "x", "ms"]
    assert all(r["value"] > 0 and isinstance(r["pass"], bool) and r["target"] for r in rows)
