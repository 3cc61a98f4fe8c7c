"""``echonet discover --secure`` labels every node: secured now (with the peer's identity and certification status),
or legacy under which consent; with the ECHONET Lite version (0x82). Subprocesses on loopback."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DEVICE_IP, LEGACY_IP, CONTROLLER_IP = "127.0.68.2", "127.0.68.3", "127.0.68.1"
DEVICE_ID = "FE00007B42415454455259303030303031"
CONTROLLER_ID = "FE00007B434F4E54524F4C4C4552303031"


def echonet(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run(
        [sys.executable, "-m", "echonet", *args], cwd=ROOT, capture_output=True, text=True, timeout=timeout, env=env
    )


def serve(*args: str) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    server = subprocess.Popen(
        [sys.executable, "-m", "echonet", "serve", "--port", "3610", "--duration", "40", "--json", *args],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    assert server.stdout is not None
    assert json.loads(server.stdout.readline())["event"] == "serving"
    return server


@pytest.fixture(scope="module")
def identities(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    base = tmp_path_factory.mktemp("labels")
    ca, device, controller = base / "ca", base / "battery", base / "controller"
    cert = "JC-STAR:1:JCS-2026-0042:2026-04-01"
    for args in (
        ("secure", "init-ca", str(ca), "--org", "Test Co", "--maker", "00007B"),
        ("secure", "issue", "--ca", str(ca), "--out", str(device), "--id", DEVICE_ID, "--certification", cert),
        ("secure", "issue", "--ca", str(ca), "--out", str(controller), "--role", "controller", "--id", CONTROLLER_ID),
        ("secure", "enrol", "--node", str(device), "--cert", str(controller / "node.cert.pem"), "--label", "ctl"),
        ("secure", "enrol", "--node", str(controller), "--cert", str(device / "node.cert.pem"), "--label", "bat"),
    ):
        result = echonet(*args)
        assert result.returncode == 0, result.stderr
    return device, controller


def test_discover_secure_labels_secured_and_legacy_nodes(identities: tuple[Path, Path]) -> None:
    device, controller = identities
    grant = echonet(
        "secure", "consent", "grant", "--node", str(controller), "--peer", LEGACY_IP, "--eoj", "026B01",
        "--esv", "SetC", "--epc", "0xB0", "--for", "1h", "--why", "DR", "--version", "01 0e 01 00", "--yes", "--json",
    )  # fmt: skip
    assert grant.returncode == 0, grant.stderr
    consent_id = json.loads(grant.stdout)["consent"]["id"]
    secured = serve("--device", "battery", "--bind", DEVICE_IP, "--secure", "--identity", str(device))
    legacy = serve("--device", "water_heater", "--bind", LEGACY_IP)
    try:
        common = ("--bind", CONTROLLER_IP, "--local-port", "0", "--timeout", "2", "--secure", "--identity")
        targets = ("--target", DEVICE_IP, "--target", LEGACY_IP)
        found = echonet("discover", *targets, *common, str(controller), "--json")
        assert found.returncode == 0, found.stderr
        nodes = {n["host"]: n for n in json.loads(found.stdout)["nodes"]}
        assert set(nodes) == {DEVICE_IP, LEGACY_IP}
        sec = nodes[DEVICE_IP]["security"]
        assert sec["state"] == "secured" and sec["overlay"] is True and sec["identity"] == DEVICE_ID.lower()
        assert sec["certification"]["programme"] == "JC-STAR" and sec["certification_status"] == "certified"
        leg = nodes[LEGACY_IP]["security"]
        assert leg == {"state": "legacy", "overlay": False, "consents": [consent_id]}
        assert nodes[LEGACY_IP]["version"] is not None
        text = echonet("discover", *targets, *common, str(controller))
        assert text.returncode == 0, text.stderr
        assert "secured now (identity " + DEVICE_ID.lower() in text.stdout
        assert "JC-STAR level 1 (JCS-2026-0042): certified" in text.stdout
        assert f"legacy, plain ECHONET Lite (under consent {consent_id})" in text.stdout
        # Without --target, discovery goes by multicast sealed with the group key, which the controller handed to
        # the device over their pairwise session above (loopback may carry no multicast: then nobody answers, in
        # one line; tests/secure/test_group_netns.py shows multicast between namespaces).
        assert (controller / "group.json").exists() and (device / "group.json").exists()
        no_target = echonet("discover", *common, str(controller))
        assert no_target.returncode in (0, 1) and "needs --target" not in no_target.stderr
        assert len(no_target.stderr.strip().splitlines()) <= 1
        plain = echonet("discover", "--target", LEGACY_IP, "--bind", CONTROLLER_IP, "--local-port", "0", "--json")
        assert plain.returncode == 0 and "security" not in json.loads(plain.stdout)["nodes"][0]
    finally:
        for server in (secured, legacy):
            server.terminate()
            server.communicate(timeout=20)
