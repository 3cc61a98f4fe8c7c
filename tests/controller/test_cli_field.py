"""The command line over the quirks: ``echonet serve --quirk``, ``echonet get --json`` showing attempts, latency and
batch, and ``echonet set --verify`` reporting a Set acknowledged but not applied (exit 3)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DEVICE_IP, CONTROLLER_IP = "127.0.0.230", "127.0.0.231"


def echonet(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "echonet", *args], cwd=ROOT, capture_output=True, text=True, timeout=60, check=False
    )


def test_serve_quirks_then_get_json_and_set_verify() -> None:
    serve = subprocess.Popen(
        [sys.executable, "-m", "echonet", "serve", "--device", "battery", "--bind", DEVICE_IP, "--port", "0",
         "--quirk", "delay=0.2", "--quirk", "set-ack-no-apply", "--duration", "40", "--json"],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert serve.stdout is not None
        serving = json.loads(serve.stdout.readline())
        port = str(serving["addresses"][0]["port"])
        net = ["--port", port, "--bind", CONTROLLER_IP, "--local-port", "0"]
        got = echonet("get", DEVICE_IP, "027D01", "80", "DA", "E4", *net, "--json")
        assert got.returncode == 0, got.stderr
        doc = json.loads(got.stdout)
        assert doc["ok"] and doc["attempts"] == 1 and doc["latency"] >= 0.1 and "batch" in doc
        done = echonet("set", DEVICE_IP, "027D01", "operationMode=standby", *net, "--verify", "--json")
        assert done.returncode == 3, done.stderr
        doc = json.loads(done.stdout)
        assert doc["properties"][0]["status"] == "not-applied" and doc["esv"] == "Set_Res"
        assert doc["error"]["kind"] == "refused" and "not applied" in doc["error"]["message"]
        assert done.stderr.count("\n") == 1 and "Traceback" not in done.stderr
    finally:
        serve.terminate()
        serve.communicate(timeout=10)


def test_a_bad_quirk_is_one_line_and_exit_2() -> None:
    bad = echonet("serve", "--device", "battery", "--bind", DEVICE_IP, "--quirk", "max-get=none")
    assert bad.returncode == 2 and bad.stderr.strip() == "echonet: quirk max-get=none: not an integer"
