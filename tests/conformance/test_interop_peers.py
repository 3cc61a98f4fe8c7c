"""The conformance suite against the independent stacks used for interop (uecho from PyPI, echonet-lite from npm),
each run by its runner in a network namespace of its own with only loopback (tools/interop/interop_harness.py):
the suite runs to the end, and the deviations verified by hand from the spec and the peers' code are reported as
failures of the right checks (tools/interop/README.md lists them)."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "tools" / "interop"))

DEVICE_IP = "127.0.0.2"
SUITE_IP = "127.0.0.5"


def _suite(host: Any) -> tuple[int, dict[str, Any]]:
    from interop_harness import PYTHON

    argv = [
        PYTHON,
        "-m",
        "echonet",
        "conformance",
        DEVICE_IP,
        "--bind",
        SUITE_IP,
        "--timeout",
        "1",
        "--json",
        "--probe-set",
        "--robustness",
    ]
    done = host.run(argv, timeout=150)
    assert done.stdout.strip(), done.stderr
    doc: dict[str, Any] = json.loads(done.stdout)
    return done.returncode, doc


def _verdicts(doc: dict[str, Any]) -> dict[tuple[str, str], str]:
    return {(r["id"], r["target"]): r["verdict"] for r in doc["results"]}


def _ran_to_the_end(doc: dict[str, Any]) -> None:
    from echonet.conformance import CHECKS

    assert doc["answered"] and doc["error"]["kind"] == "not_met"
    ran = {r["id"] for r in doc["results"]}
    assert ran == {c.id for c in CHECKS}
    assert [o["eoj"] for o in doc["objects"]] == ["0EF001", "027D01"]


@pytest.mark.interop
@pytest.mark.netns
@pytest.mark.timeout(180)
def test_uecho_runs_to_the_end_and_its_verified_deviations_fail() -> None:
    from interop_harness import PYTHON, LoopbackHost, require_python_peer

    require_python_peer("uecho")
    with LoopbackHost() as host:
        host.start([PYTHON, "tools/interop/uecho_device.py", "--bind", DEVICE_IP])
        code, doc = _suite(host)
    assert code == 3
    _ran_to_the_end(doc)
    verdicts = _verdicts(doc)
    for deviation in [
        ("NP-D7", "node"),  # 0xD7 counts the node profile: 02 027d
        ("MAP-FORMAT", "0EF001"),  # bitmap count byte always 16
        ("MAP-FORMAT", "027D01"),
        ("INSTANCE-0", "027D01"),  # objects are looked up by their exact EOJ: instance 0x00 is never answered
        ("INF-REQ", "027D01"),  # INF_SNA with PDC 0 for a readable property
        ("INFC", "027D01"),  # INFC counts no property as handled, so nothing is sent
        ("SET-INVALID", "027D01"),  # a refused SetC gets 0x50 SetI_SNA
        ("ODD-EHD2", "node"),  # one datagram it cannot parse ends its receiving thread
    ]:
        assert verdicts[deviation] == "fail", deviation
    for kept in [
        ("NP-D3", "node"),
        ("NP-D4", "node"),
        ("NP-D6", "node"),
        ("ODD-OPC0", "node"),
        ("ODD-TRAILING", "node"),
        ("REPLY-PORT", "node"),
        ("HEADER", "node"),
        ("ID-83", "0EF001"),
    ]:
        assert verdicts[kept] == "pass", kept
    # after the datagram that silenced it, the burst cannot be judged
    assert verdicts[("ROBUST-BURST", "node")] == "not applicable"
    setc = next(r for r in doc["results"] if r["id"] == "SET-INVALID" and r["target"] == "027D01")
    received = [d for e in setc["evidence"] for d in e["datagrams"] if d["direction"] == "received"]
    assert bytes.fromhex(received[0]["hex"])[10] == 0x50


@pytest.mark.interop
@pytest.mark.netns
@pytest.mark.timeout(180)
def test_npm_echonet_lite_runs_to_the_end_and_its_verified_deviations_fail() -> None:
    from interop_harness import LoopbackHost, require_npm_peer

    require_npm_peer()
    with LoopbackHost() as host:
        host.start(["node", "tools/interop/el_device.js", "--bind", DEVICE_IP])
        code, doc = _suite(host)
    assert code == 3
    _ran_to_the_end(doc)
    verdicts = _verdicts(doc)
    # the node profile is the library's own (the device object's answers are partly the runner's, see the README)
    for deviation in [
        ("REPLY-PORT", "node"),  # every answer goes to port 3610, whatever the request's source port
        ("SETGET", "0EF001"),  # SetGet to the node profile: no answer
        ("INF-REQ", "0EF001"),  # INF_REQ with PDC 0: no answer
        ("INFC", "0EF001"),  # INFC to the node profile: no answer
    ]:
        assert verdicts[deviation] == "fail", deviation
    for kept in [
        ("NP-D3", "node"),
        ("NP-D4", "node"),
        ("NP-D6", "node"),
        ("NP-D7", "node"),
        ("HEADER", "node"),
        ("GET-SNA-KEEPS", "027D01"),
        ("MAP-FORMAT", "027D01"),
        ("ODD-EHD2", "node"),
        ("ROBUST-BURST", "node"),
    ]:
        assert verdicts[kept] == "pass", kept
