"""``echonet conformance HOST --secure --identity DIR`` against a real secured ``echonet serve --device battery
--secure`` on loopback (subprocesses, identity directories made by ``echonet secure init-ca / issue / enrol``): every
check runs through the overlay and passes; a controller the device has not enrolled gets one line and exit 1, never a
plain run."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DEVICE_IP, CONTROLLER_IP = "127.0.68.2", "127.0.68.1"
DEVICE_ID = "FE00007B42415454455259303030303031"
CONTROLLER_ID = "FE00007B434F4E54524F4C4C4552303031"
STRANGER_ID = "FE00007B535452414E4745523030303031"


SERVE = (sys.executable, "-m", "echonet", "serve", "--device", "battery", "--json")


def echonet(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run(
        [sys.executable, "-m", "echonet", *args], cwd=ROOT, capture_output=True, text=True, timeout=timeout, env=env
    )


@pytest.fixture(scope="module")
def identities(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    base = tmp_path_factory.mktemp("conformance-secure")
    ca, device, controller, stranger = base / "ca", base / "battery", base / "controller", base / "stranger"
    for args in (
        ("secure", "init-ca", str(ca), "--org", "Test Co", "--maker", "00007B"),
        ("secure", "issue", "--ca", str(ca), "--out", str(device), "--role", "device", "--id", DEVICE_ID),
        ("secure", "issue", "--ca", str(ca), "--out", str(controller), "--role", "controller", "--id", CONTROLLER_ID),
        ("secure", "issue", "--ca", str(ca), "--out", str(stranger), "--role", "controller", "--id", STRANGER_ID),
        ("secure", "enrol", "--node", str(device), "--cert", str(controller / "node.cert.pem"), "--label", "ctl"),
        ("secure", "enrol", "--node", str(controller), "--cert", str(device / "node.cert.pem"), "--label", "bat"),
        ("secure", "enrol", "--node", str(stranger), "--cert", str(device / "node.cert.pem"), "--label", "bat"),
    ):
        result = echonet(*args)
        assert result.returncode == 0, result.stderr
    return {"device": device, "controller": controller, "stranger": stranger}


@pytest.fixture(scope="module")
def secured_battery(identities: dict[str, Path]) -> Iterator[Path]:
    """``echonet serve --device battery --secure`` on 127.0.68.2 port 3610; yields its identity directory."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    device = identities["device"]
    server = subprocess.Popen(
        [*SERVE, "--bind", DEVICE_IP, "--port", "3610", "--duration", "240", "--secure", "--identity", str(device)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        assert server.stdout is not None
        first = json.loads(server.stdout.readline())
        assert first["event"] == "serving"
        yield device
    finally:
        server.terminate()
        server.communicate(timeout=20)


COMMON = ("--bind", CONTROLLER_IP, "--local-port", "0", "--timeout", "2")


@pytest.mark.timeout(180)
def test_the_suite_runs_every_check_through_the_overlay_and_a_secured_battery_passes(
    identities: dict[str, Path], secured_battery: Path
) -> None:
    done = echonet(
        "conformance",
        DEVICE_IP,
        *COMMON,
        "--probe-set",
        "--robustness",
        "--json",
        "--secure",
        "--identity",
        str(identities["controller"]),
    )
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["answered"] and report["ok"]
    assert [o["eoj"] for o in report["objects"]] == ["0EF001", "027D01"]
    assert report["objects"][0]["identification"] == DEVICE_ID.lower()  # (the number the certificate binds)
    verdicts = {(r["id"], r["target"]): r["verdict"] for r in report["results"]}
    assert "fail" not in verdicts.values()
    # the only warning: a secured node keeps its multicast announcements in (plain_multicast off), so the change
    # of a 0x9D property cannot be heard
    assert {key for key, v in verdicts.items() if v == "warn"} == {("INF-CHANGE", "027D01")}
    for check in ("REPLY-PORT", "ODD-OPC0", "ODD-TRAILING", "ODD-EHD2", "ROBUST-BURST", "HEADER"):
        assert verdicts[(check, "node")] == "pass", check
    for check in ("MAP-GET", "GET-VALUE", "SET-VALID", "SET-INVALID", "SETI-SILENT", "INSTANCE-0", "INF-REQ", "INFC"):
        assert verdicts[(check, "027D01")] == "pass", check
    # the evidence is the ECHONET Lite frames inside the records, decoded
    gets = [
        d for r in report["results"] for e in r["evidence"] if e["label"].startswith("Get of") for d in e["datagrams"]
    ]
    assert len(gets) > 20 and all(d["hex"].startswith("1081") and d["decoded"][0].startswith("TID") for d in gets)
    log = (secured_battery / "audit.jsonl").read_text()
    assert '"event":"handshake_ok"' in log
    assert '"event":"downgrade_dropped"' not in log  # nothing of the run went out in plain


@pytest.mark.timeout(120)
def test_without_enrolment_the_suite_fails_in_one_line_and_never_falls_back_to_plain(
    identities: dict[str, Path], secured_battery: Path
) -> None:
    refused = echonet("conformance", DEVICE_IP, *COMMON, "--secure", "--identity", str(identities["stranger"]))
    assert refused.returncode == 1
    assert refused.stdout == ""  # no report: not a plain run, not a "silent node"
    lines = refused.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"echonet: no secure session with {DEVICE_IP}:"), refused.stderr
    assert "allow-list" in lines[0]
    as_json = echonet(
        "conformance", DEVICE_IP, *COMMON, "--json", "--secure", "--identity", str(identities["stranger"])
    )
    assert as_json.returncode == 1 and as_json.stderr.count("\n") == 1


def test_secure_without_an_identity_is_bad_usage_before_anything_is_sent() -> None:
    env_free = echonet("conformance", DEVICE_IP, *COMMON, "--secure", timeout=30)
    assert env_free.returncode == 2
    assert env_free.stderr.strip() == "echonet: --secure needs --identity DIR (or $ECHONET_IDENTITY)"
