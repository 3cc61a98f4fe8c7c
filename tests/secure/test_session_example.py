"""The secure pairing example runs: secured control works, replayed and tampered records are refused in the
battery's audit log, and the audit chain verifies."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_secure_pairing_example_shows_replay_and_tampering_refused_and_a_verified_audit_chain() -> None:
    result = subprocess.run(
        [sys.executable, "examples/secure_pairing.py"], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout
    assert "set operation mode 0xDA=0x42: accepted" in out
    assert " replay " in out and "reason=replay" in out
    assert "integrity_failure" in out and "reason=integrity" in out
    assert "audit chain: verified" in out
    assert "battery operation mode is now 0x43" in out
