"""Onboarding with a setup code over real UDP on loopback: a device in setup mode (``echonet serve --secure
--setup-code``'s layer) and ``echonet secure pair HOST --code ...``; the certificates are pinned on both sides and a
secured Get works at once; a wrong code is refused and audited, with a limit on attempts."""

from __future__ import annotations

import argparse
import asyncio
import io
import json
import socket
import threading
from pathlib import Path
from typing import Any

import pytest

from echonet.aio import run as aio_run
from echonet.cli.secure import register
from echonet.cli.secure_support import load_node_security, open_secure_controller, pairing_side, show_setup_code
from echonet.frame import EOJ
from echonet.node import DeviceObject, Node, NodeConfig, NodeProfile
from secure.layer.aio import open_secure_server
from secure.trust.onboarding import SetupCode, encode_pairing

DEVICE_ID = "FE00007B0102030405060708090A0B0C0D"
CONTROLLER_ID = "FE00007B00000000000000000000000001"
BATTERY = EOJ(0x02, 0x7D, 0x01)


def run_cli(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="echonet")
    register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["secure", *argv])
    code = args.func(args)
    assert isinstance(code, int)
    return code


@pytest.fixture
def pki(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> Path:
    ca = str(tmp_path / "ca")
    assert run_cli(["init-ca", ca, "--maker", "00007B", "--org", "Acme"]) == 0
    assert run_cli(["issue", "--ca", ca, "--id", DEVICE_ID, "--out", str(tmp_path / "dev")]) == 0
    ctl = ["issue", "--ca", ca, "--role", "controller", "--id", CONTROLLER_ID, "--out", str(tmp_path / "ctl")]
    assert run_cli(ctl) == 0
    capsys.readouterr()
    return tmp_path


class SetupModeDevice:
    """A battery behind the secure layer in setup mode, on its own loop in a thread (nothing enrolled)."""

    def __init__(self, directory: Path, ip: str, code: SetupCode, max_attempts: int = 5) -> None:
        self.security = load_node_security(directory, "device")
        self.code = code
        self.ip = ip
        self.max_attempts = max_attempts
        self.addr: tuple[str, int] | None = None
        self.layer: Any = None
        self._ready = threading.Event()
        self._stop: asyncio.Event | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread = threading.Thread(target=lambda: asyncio.run(self._main()), daemon=True)

    async def _main(self) -> None:
        values = {
            0x80: b"\x30",
            0x81: b"\x00",
            0x82: b"\x00\x00R\x01",
            0x88: b"\x42",
            0x8A: bytes.fromhex("00007B"),
            0xE4: b"\x32",
        }
        node = Node(
            [DeviceObject(BATTERY, values)],
            config=NodeConfig(multicast_v6=None),
            profile=NodeProfile(identification=bytes.fromhex(DEVICE_ID)),
        )
        from echonet.aio import Endpoints

        server = await open_secure_server(
            node,
            Endpoints(bind_v4=self.ip, port=0, join_multicast=False),
            self.security.config,
            policy=self.security.policy,
            audit=self.security.audit,
        )
        device = pairing_side(self.security, self.code, "device")
        device.max_attempts = self.max_attempts
        server.layer.pairing = device
        self.layer = server.layer
        self.addr = server.runner.local_addresses[socket.AF_INET][:2]
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        self._ready.set()
        await self._stop.wait()
        await server.close()

    def __enter__(self) -> SetupModeDevice:
        self._thread.start()
        assert self._ready.wait(10)
        return self

    def __exit__(self, *exc: object) -> None:
        assert self._loop is not None and self._stop is not None
        self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(10)
        self.security.close()


def _events(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def test_pair_with_the_setup_code_then_a_secured_get_works(pki: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = SetupCode.generate(bytes.fromhex(DEVICE_ID))
    with SetupModeDevice(pki / "dev", "127.0.67.2", code) as device:
        assert device.addr is not None
        host, port = device.addr
        argv = ["pair", host, "--port", str(port), "--code", code.numeric, "--node", str(pki / "ctl")]
        assert run_cli([*argv, "--bind", "127.0.67.1", "--json"]) == 0
        doc = json.loads(capsys.readouterr().out)
        assert doc["identification"].upper() == DEVICE_ID
        assert device.layer.pairing.paired is not None and device.layer.pairing.locked

        ns = argparse.Namespace(secure=True, identity=str(pki / "ctl"), allow_list=None, audit=None)

        async def read() -> Any:
            from echonet.aio import Endpoints

            ctl = await open_secure_controller(ns, Endpoints(bind_v4="127.0.67.1", port=0, join_multicast=False))
            try:
                return await ctl.get((host, port), BATTERY, [0xE4])
            finally:
                await ctl.close()

        got = aio_run(read())
        assert got.values == {0xE4: b"\x32"}
    events = _events(pki / "dev" / "audit.jsonl")
    [ok] = [e["fields"] for e in events if e["event"] == "pairing_ok"]
    assert ok["identity"].upper() == CONTROLLER_ID
    assert any(e["event"] == "allowlist_added" for e in events)


def test_a_wrong_code_is_refused_in_one_line_and_the_device_locks_after_the_limit(
    pki: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = SetupCode.generate(bytes.fromhex(DEVICE_ID))
    wrong_pass = "23456789" if code.passcode != "23456789" else "34567890"
    wrong = SetupCode(code.discriminator, wrong_pass)
    with SetupModeDevice(pki / "dev", "127.0.67.12", code, max_attempts=2) as device:
        assert device.addr is not None
        host, port = device.addr
        base = ["pair", host, "--port", str(port), "--node", str(pki / "ctl"), "--bind", "127.0.67.11"]
        for _ in range(2):
            assert run_cli([*base, "--code", wrong.numeric, "--timeout", "0.5"]) == 1
            err = capsys.readouterr().err.strip().splitlines()
            assert len(err) == 1 and "confirmation does not verify" in err[0]
        # A guesser sends its own confirmation anyway: each wrong one counts, and at the limit the device leaves
        # setup mode, so even the right code is refused from then on.
        raw = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        raw.bind(("127.0.67.13", 0))
        raw.settimeout(2)
        guesser = pairing_side(load_node_security(pki / "ctl", "controller"), wrong, "controller")
        for _ in range(2):
            raw.sendto(encode_pairing(1, guesser.message_1()), (host, port))
            assert raw.recv(4096)[2] == 2
            raw.sendto(encode_pairing(3, b'{"confirm_p":"' + b"00" * 32 + b'","chain":"00"}'), (host, port))
            assert raw.recv(4096)[2] == 0xFF
            guesser = pairing_side(load_node_security(pki / "ctl", "controller"), wrong, "controller")
        raw.close()
        assert device.layer.pairing.failures == 2 and device.layer.pairing.locked
        assert run_cli([*base, "--code", "not-a-code"]) == 2
        assert "13 digits" in capsys.readouterr().err
        assert run_cli([*base, "--code", code.qr_payload, "--timeout", "0.5"]) == 1
        assert "not in setup mode" in capsys.readouterr().err
    failed = [e["fields"] for e in _events(pki / "dev" / "audit.jsonl") if e["event"] == "pairing_failed"]
    assert [f["failures"] for f in failed if f["step"] == 3] == [1, 2]
    assert not any(e["event"] == "pairing_ok" for e in _events(pki / "dev" / "audit.jsonl"))


def test_the_setup_code_is_shown_as_text_and_qr() -> None:
    code = SetupCode.generate(bytes.fromhex(DEVICE_ID))
    out = io.StringIO()
    show_setup_code(code, out)
    text = out.getvalue()
    assert f"setup code: {code.numeric}" in text and code.qr_payload in text
    pytest.importorskip("qrcode")
    assert "█" in text or "▀" in text
