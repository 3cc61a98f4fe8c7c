"""A peer that cannot be installed costs seconds, not minutes: every test that needs it skips, saying why.

Each check runs the peer's tests in a pytest of its own, with the peer made unavailable for that run only:

* npm: the registry unreachable (``npm_config_registry`` pointing at a closed port of 127.0.0.1, or at a listening
  socket that never answers), an empty npm cache and an empty install prefix (``ECHONET_INTEROP_NPM_PREFIX``), so
  nothing installed beside tools/interop counts;
* pychonet, uecho, lakers: made unimportable in that run (``sys.modules[name] = None``), the npm registry
  unreachable as above (some of their tests need the npm peer too).
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

pytestmark = [pytest.mark.interop, pytest.mark.timeout(120)]

ROOT = Path(__file__).resolve().parents[2]
NPM_TESTS = ["tests/interop/test_peers_npm.py", "tests/interop/test_our_node_npm.py"]
PYTHON_PEER_TESTS = [
    "tests/interop/test_peers_pychonet.py",
    "tests/interop/test_our_node_pychonet.py",
    "tests/interop/test_peers_uecho.py",
    "tests/interop/test_our_node_uecho.py",
    "tests/secure/test_edhoc_interop_lakers.py",
]
#: Well under the 60 s one npm test used to wait before erroring; the registry probe alone is bounded at 10 s.
QUICK = 30.0


CLOSED_PORT = "http://127.0.0.1:9/"


def run_without(
    tmp_path: Path, tests: list[str], hidden: tuple[str, ...] = (), registry: str = CLOSED_PORT
) -> tuple[str, float]:
    env = {
        **os.environ,
        "npm_config_registry": registry,
        "npm_config_cache": str(tmp_path / "npm-cache"),
        "ECHONET_INTEROP_NPM_PREFIX": str(tmp_path / "npm-prefix"),
    }
    code = (
        "import sys\n"
        f"sys.modules.update(dict.fromkeys({list(hidden)!r}))\n"
        "import pytest\n"
        "raise SystemExit(pytest.main(sys.argv[1:]))\n"
    )
    argv = [sys.executable, "-c", code, "-q", "-rs", "-p", "no:cacheprovider", "-o", "addopts=", *tests]
    started = time.monotonic()
    done = subprocess.run(argv, cwd=ROOT, env=env, capture_output=True, text=True, timeout=QUICK * 3)
    elapsed = time.monotonic() - started
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
    return done.stdout, elapsed


def summary(out: str) -> dict[str, int]:
    last = out.strip().splitlines()[-1]
    return {word: int(n) for n, word in re.findall(r"(\d+) (\w+)", last)}


def skip_reasons(out: str) -> list[str]:
    return [m.group(1) for m in re.finditer(r"^SKIPPED \[\d+\] [^:]+:\d+: (.*)$", out, re.MULTILINE)]


@pytest.fixture(params=["refused", "silent"])
def registry(request: pytest.FixtureRequest) -> Iterator[str]:
    """An npm registry address that refuses connections, or one that accepts them and never answers."""
    if request.param == "refused":
        yield CLOSED_PORT
        return
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(64)
        yield f"http://127.0.0.1:{silent.getsockname()[1]}/"


def test_without_the_npm_registry_every_npm_test_skips_within_seconds_saying_why(tmp_path: Path, registry: str) -> None:
    out, elapsed = run_without(tmp_path, NPM_TESTS, registry=registry)
    counts = summary(out)
    assert set(counts) == {"skipped"} and counts["skipped"] >= 10, out[-3000:]
    assert elapsed < QUICK, f"the npm tests took {elapsed:.1f} s to skip"
    reasons = set(skip_reasons(out))
    if shutil.which("node") and shutil.which("npm"):
        assert len(reasons) == 1 and "registry is unreachable" in reasons.pop()
    else:
        assert reasons == {"node and npm are not installed"}


def test_without_pychonet_uecho_and_lakers_their_tests_skip_within_seconds_naming_the_package(tmp_path: Path) -> None:
    out, elapsed = run_without(tmp_path, PYTHON_PEER_TESTS, hidden=("pychonet", "uecho", "lakers"))
    counts = summary(out)
    assert set(counts) == {"skipped"}, out[-3000:]
    assert elapsed < QUICK, f"the Python peers' tests took {elapsed:.1f} s to skip"
    reasons = skip_reasons(out)
    for name in ("pychonet", "uecho", "lakers"):
        assert any(name in r for r in reasons), reasons
    allowed = ("is not installed", "registry is unreachable", "node and npm are not installed")
    assert all(any(a in r for a in allowed) for r in reasons), reasons
