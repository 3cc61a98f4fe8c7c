"""``echonet drready check --secure --identity DIR`` labels the device as ``discover --secure`` does: secured now
(with its identity and certification status) or legacy under which consents, beside the plain checks. Real
subprocesses on loopback addresses of their own."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from ..secure.test_discover_labels import echonet, serve  # (real processes, PYTHONPATH set)

ROOT = Path(__file__).resolve().parents[2]
DEVICE_IP, LEGACY_IP, CONTROLLER_IP = "127.0.69.2", "127.0.69.3", "127.0.69.1"
DEVICE_ID = "FE00007B42415454455259303030303032"
CONTROLLER_ID = "FE00007B434F4E54524F4C4C4552303032"


@pytest.fixture(scope="module")
def identities(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    base = tmp_path_factory.mktemp("check-labels")
    ca, device, controller = base / "ca", base / "battery", base / "controller"
    for args in (
        ("secure", "init-ca", str(ca), "--org", "Test Co", "--maker", "00007B"),
        (
            "secure", "issue", "--ca", str(ca), "--out", str(device), "--id", DEVICE_ID,
            "--certification", "JC-STAR:1:JCS-2026-0043:2026-04-01",
        ),
        ("secure", "issue", "--ca", str(ca), "--out", str(controller), "--role", "controller", "--id", CONTROLLER_ID),
        ("secure", "enrol", "--node", str(device), "--cert", str(controller / "node.cert.pem"), "--label", "ctl"),
        ("secure", "enrol", "--node", str(controller), "--cert", str(device / "node.cert.pem"), "--label", "bat"),
    ):  # fmt: skip
        result = echonet(*args)
        assert result.returncode == 0, result.stderr
    return device, controller


def _check(host: str, controller: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    return echonet(
        "drready", "check", host, "--bind", CONTROLLER_IP, "--local-port", "0", "--timeout", "2",
        "--secure", "--identity", str(controller), *extra,
    )  # fmt: skip


def test_check_labels_a_secured_device_with_its_identity_and_certification(identities: tuple[Path, Path]) -> None:
    device, controller = identities
    server = serve("--device", "battery", "--bind", DEVICE_IP, "--secure", "--identity", str(device))
    try:
        done = _check(DEVICE_IP, controller, "--json")
        assert "Traceback" not in done.stderr
        doc = json.loads(done.stdout)
        sec = doc["security"]
        assert sec["state"] == "secured" and sec["overlay"] is True and sec["identity"] == DEVICE_ID.lower()
        assert sec["certification"]["programme"] == "JC-STAR" and sec["certification_status"] == "certified"
        text = _check(DEVICE_IP, controller)
        [line] = [x for x in text.stdout.splitlines() if x.startswith("security with identity")]
        assert "secured now" in line and DEVICE_ID.lower() in line and "JC-STAR" in line
    finally:
        server.terminate()
        server.wait(10)


def test_check_labels_a_plain_device_as_legacy_with_the_consents_for_it(identities: tuple[Path, Path]) -> None:
    _, controller = identities
    grant = echonet(
        "secure", "consent", "grant", "--node", str(controller), "--peer", LEGACY_IP, "--eoj", "027D01",
        "--esv", "Get", "--epc", "0xE4", "--for", "1h", "--why", "DR check", "--version", "01 0e 01 00", "--yes",
        "--json",
    )  # fmt: skip
    assert grant.returncode == 0, grant.stderr
    consent_id = json.loads(grant.stdout)["consent"]["id"]
    server = serve("--device", "battery", "--bind", LEGACY_IP)
    try:
        done = _check(LEGACY_IP, controller, "--json")
        assert "Traceback" not in done.stderr
        doc = json.loads(done.stdout)
        assert doc["security"]["state"] == "legacy" and doc["security"]["overlay"] is False
        assert doc["security"]["consents"] == [consent_id]
        text = _check(LEGACY_IP, controller)
        [line] = [x for x in text.stdout.splitlines() if x.startswith("security with identity")]
        assert "legacy" in line and consent_id in line
    finally:
        server.terminate()
        server.wait(10)


def test_secure_without_an_identity_is_one_line_and_exit_2() -> None:
    env = {k: v for k, v in os.environ.items() if k != "ECHONET_IDENTITY"}
    env["PYTHONPATH"] = str(ROOT)
    done = subprocess.run(
        [sys.executable, "-m", "echonet", "drready", "check", "127.0.69.9", "--secure", "--timeout", "0.5"],
        cwd=ROOT, capture_output=True, text=True, timeout=60, env=env,
    )  # fmt: skip
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1 and "--identity" in done.stderr
