"""Shared test helpers: location of ../shared (the workplace's spec material), skipped cleanly where absent."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

# A test run started in the background by a non-interactive shell (`python -m pytest &`) inherits SIGINT ignored,
# and so would every program the tests start, which then ignore the Ctrl-C some tests press: as from a terminal,
# the programs start with the default (a handler of ours is reset to the default in a child; "ignored" is not).
if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"

settings.register_profile("ci", max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("dev", max_examples=100, deadline=None)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci" if os.environ.get("CI") else "dev"))


def shared_path(*parts: str) -> Path:
    """A path under ../shared, or skip the test with the reason."""
    path = SHARED.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"{path} is absent (a clone outside the workplace has no ../shared)")
    return path


def mra_dir() -> Path:
    env = os.environ.get("ECHONET_MRA_DIR")
    if env:
        return Path(env)
    return shared_path("mra")
