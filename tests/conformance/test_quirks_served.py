"""Negative controls from the field quirks (echonet.apps.quirks) on emulated and replayed nodes: ``echonet serve
--class CLASS --quirk Q`` and ``echonet serve --replay CAPTURE --host IP --quirk Q`` (real subprocesses on loopback)
make the check that quirk breaks fail, and no other."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from echonet.cli import main
from echonet.conformance import Report, conformance
from echonet.drready.sim import sim_registry
from echonet.spec.registry import Registry, builtin_registry, default_registry

from ..conftest import mra_dir
from .helpers import LOOPBACK, failing, flagged, go

ROOT = Path(__file__).resolve().parents[2]


@contextmanager
def served(*args: str) -> Iterator[int]:
    """``echonet serve ARGS`` on 127.0.0.1, an ephemeral port, announcements kept on lo; yields the port."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    command = [sys.executable, "-m", "echonet", *args, "--bind", LOOPBACK, "--port", "0", "--interface", "lo"]
    server = subprocess.Popen(
        [*command, "--duration", "120", "--json"],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        assert server.stdout is not None
        line = server.stdout.readline()
        if not line:
            raise AssertionError(server.communicate(timeout=10)[1])
        first = json.loads(line)
        assert first["event"] == "serving"
        yield int(first["addresses"][0]["port"])
    finally:
        server.terminate()
        server.communicate(timeout=20)


def _run(port: int, registry: Registry) -> Report:
    return go(conformance(LOOPBACK, port=port, timeout=0.5, probe_set=True, robustness=True, registry=registry))


def _mra_registry() -> Registry:
    return default_registry(str(mra_dir()))


@pytest.mark.timeout(120)
@pytest.mark.parametrize(("spec", "tables"), [("0x0130", "mra"), ("0x027D,all", "builtin")])
def test_an_emulated_class_with_no_identification_fails_id_83_and_no_other(spec: str, tables: str) -> None:
    registry = _mra_registry() if tables == "mra" else builtin_registry()
    mra = ("--mra", str(mra_dir())) if tables == "mra" else ()
    with served(*mra, "serve", "--class", spec) as port:
        clean = _run(port, registry)
    with served(*mra, "serve", "--class", spec, "--quirk", "no-identification") as port:
        broken = _run(port, registry)
    assert flagged(clean) == {}
    assert set(flagged(broken)) == {("ID-83", "0EF001")}  # (MANDATORY leaves the 0x83 that ID-83 failed to it)
    assert "0x83 is mandatory and not readable" in flagged(broken)[("ID-83", "0EF001")]


@pytest.mark.timeout(120)
def test_trailing_bytes_fail_nothing_but_header_warns_so_only_strict_mode_fails(
    capsys: pytest.CaptureFixture[str],
) -> None:
    registry = _mra_registry()
    with served("--mra", str(mra_dir()), "serve", "--class", "0x0130", "--quirk", "trailing-bytes") as port:
        report = _run(port, registry)
        base = ["--mra", str(mra_dir()), "conformance", f"{LOOPBACK}:{port}", "--bind", LOOPBACK]
        base += ["--local-port", "0", "--timeout", "0.5", "--probe-set"]
        lenient = main(base)
        lenient_err = capsys.readouterr().err
        strict = main([*base, "--strict"])
        strict_err = capsys.readouterr().err
    assert failing(report) == set()
    found = flagged(report)
    assert set(found) == {("HEADER", "node")}  # a warning, not a failure: the frames were read without them
    assert "carry bytes after their last property (2 byte(s))" in found[("HEADER", "node")]
    assert lenient == 0, lenient_err
    assert strict == 3 and strict_err.strip() == "echonet: 1 check(s) warned (--strict)"


@pytest.mark.timeout(180)
def test_a_replayed_node_takes_the_quirks_too(tmp_path: Path) -> None:
    from .test_replay import _record

    capture = tmp_path / "battery.pcap"
    _, _, ip = go(_record(capture))
    registry = sim_registry()
    with served("serve", "--replay", str(capture), "--host", ip) as port:
        clean = go(conformance(LOOPBACK, port=port, timeout=0.5, registry=registry))
    with served("serve", "--replay", str(capture), "--host", ip, "--quirk", "no-identification") as port:
        broken = go(conformance(LOOPBACK, port=port, timeout=0.5, registry=registry))
    assert failing(clean) == set()
    assert failing(broken) == {"ID-83"} and set(flagged(broken)) == {("ID-83", "0EF001")}


def test_an_unknown_quirk_with_class_is_bad_usage_before_anything_is_bound(capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["serve", "--class", "0x027D", "--quirk", "no-such", "--bind", LOOPBACK, "--port", "0"])
    err = capsys.readouterr().err
    assert code == 2 and err.startswith("echonet: unknown quirk 'no-such'") and err.count("\n") == 1
