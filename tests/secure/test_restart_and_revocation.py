"""Real processes on loopback: a secured device (``echonet serve --secure``) and a long-running secured controller
(``secure_poller.py``, built like ``echonet get --secure``), with identity directories from the CLI.

* After the device is killed (-9) and started again, the running controller's next request succeeds within one
  retry (the device answers the dead session's record with an unknown-context hint, the controller handshakes
  again next to it); the same after the controller is killed and started again while the device keeps its old
  session.
* After ``secure revoke`` and a new CRL, the running device ends the revoked controller's live session and refuses
  its new handshakes within seconds, with no restart.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent
DEVICE_ID = "FE00007B42415454455259303030303031"
CONTROLLER_ID = "FE00007B434F4E54524F4C4C4552303031"
ENV = {**os.environ, "PYTHONPATH": str(ROOT)}


def echonet(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "echonet", *args], cwd=ROOT, capture_output=True, text=True, timeout=timeout, env=ENV
    )


@pytest.fixture
def pki(tmp_path: Path) -> tuple[Path, Path, Path]:
    ca, device, controller = tmp_path / "ca", tmp_path / "battery", tmp_path / "controller"
    for args in (
        ("secure", "init-ca", str(ca), "--org", "Test Co", "--maker", "00007B"),
        ("secure", "issue", "--ca", str(ca), "--out", str(device), "--role", "device", "--id", DEVICE_ID),
        ("secure", "issue", "--ca", str(ca), "--out", str(controller), "--role", "controller", "--id", CONTROLLER_ID),
        ("secure", "enrol", "--node", str(device), "--cert", str(controller / "node.cert.pem"), "--label", "ctl"),
        ("secure", "enrol", "--node", str(controller), "--cert", str(device / "node.cert.pem"), "--label", "bat"),
    ):
        result = echonet(*args)
        assert result.returncode == 0, result.stderr
    return ca, device, controller


class Device:
    """``echonet serve --device battery --secure`` on a fixed address and port 3610."""

    def __init__(self, identity: Path, ip: str) -> None:
        self.identity, self.ip = identity, ip
        self.process: subprocess.Popen[str] | None = None

    def start(self) -> None:
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "echonet",
                "serve",
                "--device",
                "battery",
                "--bind",
                self.ip,
                "--port",
                "3610",
                "--duration",
                "60",
                "--json",
                "--secure",
                "--identity",
                str(self.identity),
            ],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=ENV,
        )
        assert self.process.stdout is not None
        first = self.process.stdout.readline()
        assert json.loads(first)["event"] == "serving", first

    def kill(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.communicate(timeout=20)
        self.process = None

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.communicate(timeout=20)
            self.process = None

    def audit(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in (self.identity / "audit.jsonl").read_text().splitlines()]


class Controller:
    """``secure_poller.py``: a running secured controller that does one Get per line it is sent."""

    def __init__(self, identity: Path, ip: str, timeout: float = 1.0, retries: int = 1) -> None:
        self.process = subprocess.Popen(
            [
                sys.executable,
                str(HERE / "secure_poller.py"),
                "--identity",
                str(identity),
                "--bind",
                ip,
                "--timeout",
                str(timeout),
                "--retries",
                str(retries),
                "--lifetime",
                "90",
            ],
            cwd=ROOT,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=ENV,
        )
        assert self.process.stdout is not None
        line = self.process.stdout.readline()
        assert json.loads(line) == {"ready": True}, (line, self.stderr())

    def stderr(self) -> str:
        if self.process.poll() is None or self.process.stderr is None:
            return ""
        return self.process.stderr.read()

    def get(self, ip: str, epc: int = 0x80) -> dict[str, Any]:
        assert self.process.stdin is not None and self.process.stdout is not None
        self.process.stdin.write(f"get {ip} 3610 {epc:#x}\n")
        self.process.stdin.flush()
        line = self.process.stdout.readline()
        assert line, self.stderr()
        result: dict[str, Any] = json.loads(line)
        return result

    def kill(self) -> None:
        self.process.send_signal(signal.SIGKILL)
        self.process.communicate(timeout=20)

    def close(self) -> None:
        if self.process.poll() is None:
            assert self.process.stdin is not None
            self.process.stdin.close()
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=20)


@contextlib.contextmanager
def running(device: Device, *controllers: Controller) -> Iterator[None]:
    try:
        yield
    finally:
        for ctl in controllers:
            ctl.close()
        device.stop()


def test_a_running_controller_gets_an_answer_within_one_retry_after_the_device_is_killed_and_restarted(
    pki: tuple[Path, Path, Path],
) -> None:
    _, device_dir, controller_dir = pki
    device = Device(device_dir, "127.0.73.2")
    device.start()
    ctl = Controller(controller_dir, "127.0.73.1", timeout=1.0, retries=1)
    with running(device, ctl):
        assert ctl.get(device.ip)["ok"]
        for restart in range(2):  # twice: the second restart hits the session made after the first
            device.kill()
            device.start()
            after = ctl.get(device.ip)
            assert after["ok"], after  # one attempt is lost to the dead session; its retry is answered
            assert after["stats"]["rehandshakes"] == restart + 1
            assert after["stats"]["hints_received"] >= restart + 1
            assert ctl.get(device.ip)["ok"]
    reasons = [e["fields"].get("reason") for e in device.audit() if e["event"] == "integrity_failure"]
    assert "unknown-context" in reasons
    assert echonet("secure", "audit", "verify", str(device_dir / "audit.jsonl")).returncode == 0


def test_a_restarted_controller_gets_an_answer_within_one_retry_while_the_device_keeps_its_old_session(
    pki: tuple[Path, Path, Path],
) -> None:
    _, device_dir, controller_dir = pki
    device = Device(device_dir, "127.0.73.4")
    device.start()
    first = Controller(controller_dir, "127.0.73.3")
    with running(device, first):
        assert first.get(device.ip)["ok"]
        first.kill()  # the device still holds the session of the dead controller
        second = Controller(controller_dir, "127.0.73.3", timeout=1.0, retries=1)
        with running(device, second):
            again = second.get(device.ip)
            assert again["ok"], again
            assert second.get(device.ip)["ok"]
    handshakes = [e for e in device.audit() if e["event"] == "handshake_ok"]
    assert len(handshakes) == 2
    assert any(e["event"] == "rekey" for e in device.audit())  # the old session gave way to the new one


def test_a_revoked_controller_loses_its_live_session_and_its_handshakes_within_seconds_of_the_new_crl(
    pki: tuple[Path, Path, Path],
) -> None:
    ca, device_dir, controller_dir = pki
    assert echonet("secure", "crl", "--ca", str(ca), "--out", str(device_dir)).returncode == 0  # nobody revoked yet
    device = Device(device_dir, "127.0.73.6")
    device.start()
    ctl = Controller(controller_dir, "127.0.73.5", timeout=0.5, retries=0)
    with running(device, ctl):
        for _ in range(5):
            assert ctl.get(device.ip)["ok"]
        assert echonet("secure", "revoke", "--ca", str(ca), str(controller_dir / "node.cert.pem")).returncode == 0
        assert echonet("secure", "crl", "--ca", str(ca), "--out", str(device_dir)).returncode == 0
        published = time.monotonic()
        outcomes = []
        while time.monotonic() - published < 8.0:  # the device looks at its CRL file every second
            outcome = ctl.get(device.ip)
            outcomes.append(outcome)
            if not outcome["ok"]:
                break
            time.sleep(0.2)
        assert not outcomes[-1]["ok"], "the revoked controller was still served 8 s after the new CRL"
        assert time.monotonic() - published < 6.0
        refused = ctl.get(device.ip)  # a new handshake: refused at message_3, and the controller is told so
        assert not refused["ok"] and "revoked" in refused["error"], refused
        assert "consent" not in refused["error"]
    events = device.audit()
    names = [e["event"] for e in events]
    assert "crl_updated" in names
    [denied] = [
        e for e in events if e["event"] == "policy_denied" and e["fields"]["reason"] == "peer-no-longer-allowed"
    ]
    assert "revoked" in denied["fields"]["detail"]
    assert any(e["event"] == "session_closed" and e["fields"]["reason"] == "policy" for e in events)
    assert any(e["event"] == "handshake_failed" and "revoked" in str(e["fields"].get("reason")) for e in events)
