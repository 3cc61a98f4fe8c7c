"""tools/bench_capture.py runs and prints its table (a smoke run; no timing assertions)."""

from __future__ import annotations

import subprocess
import sys

from ..conftest import ROOT


def test_capture_benchmark_quick_run_prints_its_table() -> None:
    result = subprocess.run(
        [sys.executable, "tools/bench_capture.py", "--sizes", "300", "--rounds", "1"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert [line.split()[1] for line in lines[1:]] == ["json", "summary", "parquet"]
