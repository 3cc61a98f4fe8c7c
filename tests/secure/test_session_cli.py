"""``echonet serve --secure`` and ``echonet get/set --secure`` as subprocesses, with identity directories made by
``echonet secure init-ca / issue / enrol``: the battery is read and written over the overlay, and a controller
without ``--secure`` gets nothing from the secured device."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DEVICE_IP, CONTROLLER_IP = "127.0.66.2", "127.0.66.1"
DEVICE_ID = "FE00007B42415454455259303030303031"
CONTROLLER_ID = "FE00007B434F4E54524F4C4C4552303031"


def echonet(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run(
        [sys.executable, "-m", "echonet", *args], cwd=ROOT, capture_output=True, text=True, timeout=timeout, env=env
    )


@pytest.fixture(scope="module")
def identities(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    base = tmp_path_factory.mktemp("secure-cli")
    ca, device, controller = base / "ca", base / "battery", base / "controller"
    for args in (
        ("secure", "init-ca", str(ca), "--org", "Test Co", "--maker", "00007B"),
        ("secure", "issue", "--ca", str(ca), "--out", str(device), "--role", "device", "--id", DEVICE_ID),
        ("secure", "issue", "--ca", str(ca), "--out", str(controller), "--role", "controller", "--id", CONTROLLER_ID),
        ("secure", "enrol", "--node", str(device), "--cert", str(controller / "node.cert.pem"), "--label", "ctl"),
        ("secure", "enrol", "--node", str(controller), "--cert", str(device / "node.cert.pem"), "--label", "bat"),
    ):
        result = echonet(*args)
        assert result.returncode == 0, result.stderr
    return device, controller


def test_secure_serve_and_secure_get_set_talk_over_the_overlay_and_never_fall_back_to_plain(
    identities: tuple[Path, Path],
) -> None:
    device, controller = identities
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "echonet",
            "serve",
            "--device",
            "battery",
            "--bind",
            DEVICE_IP,
            "--port",
            "3610",
            "--duration",
            "30",
            "--json",
            "--secure",
            "--identity",
            str(device),
        ],
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
        common = ("--bind", CONTROLLER_IP, "--local-port", "0", "--timeout", "2", "--json")
        got = echonet("get", DEVICE_IP, "027D01", "0x80", *common, "--secure", "--identity", str(controller))
        assert got.returncode == 0, got.stderr
        assert "0x80" in got.stdout.lower() or "80" in got.stdout
        plain = echonet(
            "get",
            DEVICE_IP,
            "027D01",
            "0x80",
            "--bind",
            CONTROLLER_IP,
            "--local-port",
            "0",
            "--timeout",
            "0.5",
            "--retries",
            "0",
        )
        assert plain.returncode != 0  # the secured device drops plaintext from an enrolled-secure peer
        written = echonet(
            "set", DEVICE_IP, "027D01", "operationMode=charging", *common, "--secure", "--identity", str(controller)
        )
        assert written.returncode == 0, written.stderr
        again = echonet("get", DEVICE_IP, "027D01", "0xDA", *common, "--secure", "--identity", str(controller))
        assert again.returncode == 0 and "42" in again.stdout
        bad = echonet("get", DEVICE_IP, "027D01", "0x80", *common, "--secure")
        assert bad.returncode == 2 and "--identity" in bad.stderr
        silent = echonet(
            "get",
            "127.0.66.9",
            "027D01",
            "0x80",
            "--bind",
            CONTROLLER_IP,
            "--local-port",
            "0",
            "--timeout",
            "0.5",
            "--retries",
            "0",
            "--secure",
            "--identity",
            str(controller),
        )
        assert silent.returncode == 1 and "no secure session with 127.0.66.9" in silent.stderr
        assert "no cookie and no message_2 came back" in silent.stderr  # it says how far the handshake got
    finally:
        server.terminate()
        server.communicate(timeout=20)
    log = (device / "audit.jsonl").read_text()
    assert '"event":"handshake_ok"' in log and '"event":"downgrade_dropped"' in log
    assert echonet("secure", "audit", "verify", str(device / "audit.jsonl")).returncode == 0


def test_attach_secure_server_puts_a_running_simulated_node_behind_the_overlay(identities: tuple[Path, Path]) -> None:
    import argparse
    import asyncio
    import socket

    from echonet.aio import Endpoints
    from echonet.cli.secure_support import add_secure_arguments, attach_secure_server, open_secure_controller
    from echonet.drready.clock import SimClock
    from echonet.drready.host import SimHost
    from echonet.drready.sim import simulated_device
    from echonet.frame import EOJ
    from echonet.node import NodeConfig

    device, controller = identities
    parser = argparse.ArgumentParser()
    add_secure_arguments(parser)
    dev_args = parser.parse_args(["--secure", "--identity", str(device), "--audit", str(device / "attach.jsonl")])
    ctl_args = parser.parse_args(
        ["--secure", "--identity", str(controller), "--audit", str(controller / "attach.jsonl")]
    )

    async def scenario() -> None:
        clock = SimClock(0.0)
        host = await SimHost.open(
            [simulated_device("battery", 1, clock=clock)],
            Endpoints(bind_v4="127.0.66.3", port=0, join_multicast=False),
            clock=clock,
        )
        ctl = await open_secure_controller(
            ctl_args,
            Endpoints(bind_v4="127.0.66.4", port=0, join_multicast=False),
            node_config=NodeConfig(timeout=1.0, multicast_v6=None),
        )
        try:
            layer = attach_secure_server(dev_args, host.server.runner)
            assert host.server.node.profile.value(0x83) == bytes.fromhex(DEVICE_ID)
            addr = host.server.runner.local_addresses[socket.AF_INET][:2]
            got = await ctl.get(addr, EOJ(0x02, 0x7D, 0x01), [0x80])
            assert 0x80 in got.values
            assert layer.stats.unprotected >= 2 and ctl.layer.has_session("127.0.66.3")
        finally:
            await ctl.close()
            await host.close()

    asyncio.run(asyncio.wait_for(scenario(), 30))
