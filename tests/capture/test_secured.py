"""Records of the secure overlay in captures: recognised (handshake by message, cookie, data, close), never shown as
malformed; the key log (secure/keylog.py): format, file mode, off by default; decode --keylog decrypts data records
and decodes the inner frames. The proof on real traffic: `echonet demo --secure` captured on loopback with
`echonet sniff`, decoded with and without its key log."""

from __future__ import annotations

import json
import os
import signal
import socket
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest

from echonet.capture.overlay import OverlayReader
from echonet.capture.stream import decode_datagram
from echonet.codec import encode
from echonet.frame import EOJ, ESV, Frame, Property
from echonet.pcap import Datagram, write_capture
from secure import keylog
from secure.errors import SecureUsageError
from secure.records.framing import CloseReason, encode_cookie, encode_handshake, encode_unknown_context
from secure.records.oscore import SecurityContext

from ..conftest import ROOT

SECRET = bytes(range(16))
SALT = bytes.fromhex("9e7ca92223786340")
A, B = "10.1.0.1", "10.1.0.2"
GET = encode(Frame.make(7, EOJ(5, 0xFF, 1), EOJ(2, 0x7D, 1), ESV.GET, [Property(0xE4)]))


def contexts() -> tuple[SecurityContext, SecurityContext]:
    a = SecurityContext(SECRET, SALT, sender_id=b"\x01", recipient_id=b"\x02", now=0.0)
    b = SecurityContext(SECRET, SALT, sender_id=b"\x02", recipient_id=b"\x01", now=0.0)
    return a, b


def entry() -> keylog.KeyLogEntry:
    return keylog.KeyLogEntry(10, b"\x01", b"\x02", SALT, SECRET)


def records() -> list[tuple[str, str, bytes]]:
    a, b = contexts()
    message_1 = bytes([0x03, 0x02]) + b"\x58\x20" + bytes(32) + b"\x37"
    return [
        (A, B, encode_handshake(b"", message_1)),
        (B, A, encode_cookie(b"\xaa" * 8)),
        (A, B, encode_cookie(b"\xaa" * 8, message_1)),
        (B, A, encode_handshake(b"\x37", b"\x59\x01\x00" + bytes(256))),
        (A, B, encode_handshake(b"\x01", b"\x58\x40" + bytes(64))),
        (B, A, encode_handshake(b"\x37", b"\x48" + bytes(8))),
        (A, B, a.protect(GET, 0.0)),
        (B, A, b.protect(GET, 0.0)),
        (A, B, encode_unknown_context(b"\x09")),
        (A, B, a.protect_close(CloseReason.SHUTDOWN, 0.0)),
    ]


def test_records_are_recognised_by_kind_without_keys() -> None:
    reader = OverlayReader()
    seen = [reader.describe(src, dst, data).to_json() for src, dst, data in records()]
    assert [r["record"] for r in seen] == ["handshake", "cookie", "cookie", "handshake", "handshake", "handshake",
                                           "data", "data", "unknown_context", "close"]  # fmt: skip
    assert [r.get("message") for r in seen[:6]] == ["message_1", None, "message_1", "message_2", "message_3",
                                                    "message_4"]  # fmt: skip
    assert seen[1]["cookie"] == "aa" * 8
    assert seen[6] == {"record": "data", "kid": "01", "partial_iv": "00", "sequence": 0, "length": len(GET) + 8,
                       "decrypted": False}  # fmt: skip
    assert seen[8] == {"record": "unknown_context", "kid": "09"}
    assert all("error" not in r for r in seen)


def test_data_records_open_with_the_key_log_entry_of_either_side() -> None:
    for e in (entry(), keylog.KeyLogEntry(10, b"\x02", b"\x01", SALT, SECRET)):
        reader = OverlayReader([e])
        items = [decode_datagram(Datagram(1.0, s, d, 3610, 3610, data), reader) for s, d, data in records()]
        data = [i for i in items if i.overlay is not None and i.overlay.kind == "data"]
        assert len(data) == 2
        for item in data:
            assert item.overlay.fields["decrypted"] is True
            assert item.frame is not None and encode(item.frame) == GET
        close = items[-1].overlay
        assert close.fields["reason"] == "shutdown"
    wrong = OverlayReader([keylog.KeyLogEntry(10, b"\x01", b"\x02", SALT, bytes(16))])
    item = decode_datagram(Datagram(1.0, A, B, 3610, 3610, records()[6][2]), wrong)
    assert item.frame is None and item.failure is None and item.overlay.fields["decrypted"] is False


def test_decode_pcap_shows_records_not_malformed(tmp_path: Path) -> None:
    pcap = tmp_path / "s.pcap"
    write_capture(pcap, [Datagram(1e9 + i, s, d, 3610, 3610, data) for i, (s, d, data) in enumerate(records())])
    plain = _cli("decode", "--pcap", str(pcap), "--json")
    assert plain.returncode == 0, plain.stderr
    docs = [json.loads(line) for line in plain.stdout.splitlines()]
    assert len(docs) == 10
    assert all("error" not in d and "secure" in d for d in docs)
    text = _cli("decode", "--pcap", str(pcap))
    assert "MALFORMED" not in text.stdout and "secured data (kid 01" in text.stdout
    log = tmp_path / "keys.log"
    log.write_text(keylog.format_entry(entry()))
    opened = _cli("decode", "--pcap", str(pcap), "--json", "--keylog", str(log))
    assert opened.returncode == 0, opened.stderr
    docs = [json.loads(line) for line in opened.stdout.splitlines()]
    inner = [d for d in docs if "frame" in d]
    assert len(inner) == 2 and all(d["frame"]["esv"] == "Get" and d["secure"]["decrypted"] for d in inner)
    missing = _cli("decode", "--pcap", str(pcap), "--keylog", str(tmp_path / "absent.log"))
    assert missing.returncode == 2 and missing.stderr.count("\n") == 1 and "cannot read the key log" in missing.stderr


def test_key_log_file_format_and_mode(tmp_path: Path) -> None:
    path = tmp_path / "keys.log"
    assert keylog.enabled_path() is None  # off by default
    keylog.enable(path)
    try:
        keylog.log_session(_Params())
    finally:
        keylog.disable()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    lines = path.read_text().splitlines()
    assert lines[0].startswith("# ")
    assert lines[1] == f"ECHONET_OSCORE 10 01 02 {SALT.hex()} {SECRET.hex()}"
    assert keylog.read_keylog(path) == ([entry()], 0)
    keylog.log_session(_Params())  # disabled: nothing written
    assert len(path.read_text().splitlines()) == 2
    open_to_all = tmp_path / "open.log"
    open_to_all.write_text("")
    open_to_all.chmod(0o644)
    with pytest.raises(SecureUsageError, match="readable by others"):
        keylog.enable(open_to_all)


class _Params:
    master_secret = SECRET
    master_salt = SALT
    sender_id = b"\x01"
    recipient_id = b"\x02"
    aead_alg = 10


def _cli(*args: str, **kw: object) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != keylog.ENV_VAR}
    return subprocess.run(
        [sys.executable, "-m", "echonet", *args], capture_output=True, text=True, cwd=ROOT, timeout=180, env=env, **kw
    )


def _eoj(value: object) -> str:
    """An EOJ of a frame record: ``"027D01"`` or ``{"eoj": "027D01", ...}``."""
    return str(value["eoj"] if isinstance(value, dict) else value)


def _packet_socket_allowed() -> str | None:
    try:
        socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(3)).close()
    except (PermissionError, AttributeError, OSError) as exc:
        return f"no AF_PACKET socket here ({exc})"
    return None


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_secure_demo_captured_and_decoded_with_and_without_the_key_log(tmp_path: Path) -> None:
    reason = _packet_socket_allowed()
    if reason:
        pytest.skip(reason)
    port = _free_port()
    pcapng = tmp_path / "demo.pcapng"
    log = tmp_path / "keys.log"
    sniff = subprocess.Popen(
        [sys.executable, "-m", "echonet", "sniff", "-i", "lo", "--port", str(port), "--write", str(pcapng),
         "--duration", "120", "--json"],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert sniff.stderr is not None
        assert "capturing" in sniff.stderr.readline()
        demo = _cli("demo", "--secure", "--plot", "", "--no-progress", "--speed", "20000", "--port", str(port),
                    "--bind-base", "127.0.0.170", "--keylog", str(log))  # fmt: skip
        assert demo.returncode == 0, demo.stderr
        assert "warning: the key log is on" in demo.stderr
        time.sleep(0.5)
    finally:
        sniff.send_signal(signal.SIGINT)
        live, _ = sniff.communicate(timeout=30)
    assert sniff.returncode == 0
    assert stat.S_IMODE(log.stat().st_mode) == 0o600
    entries, bad = keylog.read_keylog(log)
    assert entries and not bad
    plain = _cli("decode", "--pcap", str(pcapng), "--port", str(port), "--json")
    assert plain.returncode == 0, plain.stderr
    docs = [json.loads(line) for line in plain.stdout.splitlines()]
    assert [json.loads(line) for line in live.splitlines()] == docs  # sniff showed what it wrote
    secured = [d for d in docs if "secure" in d]
    kinds = {d["secure"]["record"] for d in secured}
    assert {"handshake", "data"} <= kinds  # (and "close" when the demo's shutdown got it out before exiting)
    assert not [d for d in docs if "error" in d]  # no record is malformed
    data = [d for d in secured if d["secure"]["record"] == "data"]
    assert data and all(not d["secure"]["decrypted"] and "frame" not in d for d in data)
    messages = [d["secure"].get("message") for d in secured if d["secure"]["record"] == "handshake"]
    assert {"message_1", "message_2", "message_3"} <= set(messages)
    opened = _cli("decode", "--pcap", str(pcapng), "--port", str(port), "--json", "--keylog", str(log))
    assert opened.returncode == 0, opened.stderr
    docs = [json.loads(line) for line in opened.stdout.splitlines()]
    data = [d for d in docs if d.get("secure", {}).get("record") == "data"]
    assert data and all(d["secure"]["decrypted"] and "frame" in d for d in data)
    closes = [d for d in docs if d.get("secure", {}).get("record") == "close"]
    assert all(d["secure"]["decrypted"] and d["secure"]["reason"] for d in closes)
    classes = {_eoj(d["frame"]["seoj"])[:4] for d in data} | {_eoj(d["frame"]["deoj"])[:4] for d in data}
    assert "027D" in classes  # the secured battery's own traffic, now readable
    summary = _cli("decode", "--pcap", str(pcapng), "--port", str(port), "--summary", "--json", "--keylog", str(log))
    doc = json.loads(summary.stdout)
    battery = [n for n in doc["nodes"] if any(o["class"] == "0x027D" for o in n["objects"])]
    assert battery and battery[0]["answers_sent"] > 0


def test_a_secured_session_logs_its_keys_and_never_to_the_audit_log(tmp_path: Path) -> None:
    """A real session (EDHOC then OSCORE over UDP on loopback) with the key log on: both ends log the session's
    keys, the key log opens the records the session sent, and no key reaches either audit log."""
    import asyncio

    sys.path.insert(0, str(ROOT / "tests" / "secure"))
    try:
        from session_support import BATTERY, certificate_sides, secured_pair  # type: ignore[import-not-found]
    finally:
        sys.path.pop(0)
    ctl, dev = certificate_sides(tmp_path)
    log = tmp_path / "keys.log"
    keylog.enable(log)

    async def scenario() -> None:
        async with secured_pair(ctl, dev, "127.0.62.1", "127.0.62.2") as pair:
            got = await pair.controller.get(pair.device_addr, BATTERY, [0x80, 0xE4])
            assert got.values[0x80] == b"\x30"

    try:
        asyncio.run(asyncio.wait_for(scenario(), 30))
    finally:
        keylog.disable()
    entries, bad = keylog.read_keylog(log)
    assert len(entries) == 2 and not bad
    a, b = entries
    assert (a.sender_id, a.recipient_id) == (b.recipient_id, b.sender_id) and a.master_secret == b.master_secret
    for audit in (ctl.audit, dev.audit):
        text = audit.path.read_text()
        assert text and all(e.master_secret.hex() not in text and e.master_salt.hex() not in text for e in entries)
    # the key log is what a capture of this session needs
    a_ctx = SecurityContext(a.master_secret, a.master_salt, sender_id=a.sender_id, recipient_id=a.recipient_id, now=0.0)
    record = a_ctx.protect(GET, 0.0)
    item = decode_datagram(Datagram(1.0, A, B, 3610, 3610, record), OverlayReader([b]))
    assert item.frame is not None and encode(item.frame) == GET


def test_get_set_and_discover_secure_log_their_session_keys(tmp_path: Path) -> None:
    """``get``/``set``/``discover --secure --keylog FILE`` (as demo and serve): the controller logs the keys of
    the session it sets up, the device (serve --keylog) logs the same session with the IDs swapped; ``--keylog``
    without ``--secure`` is a usage error; ``$ECHONET_KEYLOG`` does the same as ``--keylog``."""
    device_id, controller_id = "FE00007B42415454455259303030303032", "FE00007B434F4E54524F4C4C4552303032"
    ca, device, controller = tmp_path / "ca", tmp_path / "battery", tmp_path / "controller"
    for args in (
        ("secure", "init-ca", str(ca), "--org", "Test Co", "--maker", "00007B"),
        ("secure", "issue", "--ca", str(ca), "--out", str(device), "--role", "device", "--id", device_id),
        ("secure", "issue", "--ca", str(ca), "--out", str(controller), "--role", "controller", "--id", controller_id),
        ("secure", "enrol", "--node", str(device), "--cert", str(controller / "node.cert.pem"), "--label", "ctl"),
        ("secure", "enrol", "--node", str(controller), "--cert", str(device / "node.cert.pem"), "--label", "bat"),
    ):
        result = _cli(*args)
        assert result.returncode == 0, result.stderr
    dev_ip, ctl_ip = "127.0.67.2", "127.0.67.1"
    dev_log, ctl_log = tmp_path / "device.keys", tmp_path / "controller.keys"
    env = {k: v for k, v in os.environ.items() if k != keylog.ENV_VAR}
    server = subprocess.Popen(
        [sys.executable, "-m", "echonet", "serve", "--device", "battery", "--bind", dev_ip, "--port", "3610",
         "--share-port", "--duration", "60", "--json", "--secure", "--identity", str(device), "--keylog", str(dev_log)],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
    )  # fmt: skip
    common = ("--bind", ctl_ip, "--local-port", "0", "--timeout", "2", "--json", "--secure", "--identity")
    try:
        assert server.stdout is not None
        assert json.loads(server.stdout.readline())["event"] == "serving"
        got = _cli("get", dev_ip, "027D01", "0x80", *common, str(controller), "--keylog", str(ctl_log))
        assert got.returncode == 0, got.stderr
        assert "warning: the key log is on" in got.stderr
        assert stat.S_IMODE(ctl_log.stat().st_mode) == 0o600
        after_get = keylog.read_keylog(ctl_log)
        assert len(after_get[0]) == 1 and not after_get[1]
        put = subprocess.run(
            [sys.executable, "-m", "echonet", "set", dev_ip, "027D01", "operationMode=charging", *common,
             str(controller)],
            capture_output=True, text=True, cwd=ROOT, timeout=180, env={**env, keylog.ENV_VAR: str(ctl_log)},
        )  # fmt: skip
        assert put.returncode == 0, put.stderr
        assert "warning: the key log is on" in put.stderr
        found = _cli("discover", "--target", dev_ip, *common, str(controller), "--keylog", str(ctl_log))
        assert found.returncode == 0, found.stderr
        plain = _cli("get", dev_ip, "027D01", "0x80", "--timeout", "0.2", "--keylog", str(ctl_log))
        assert plain.returncode == 2 and "--keylog needs --secure" in plain.stderr
    finally:
        server.terminate()
        server.communicate(timeout=20)
    entries, bad = keylog.read_keylog(ctl_log)
    assert len(entries) == 3 and not bad  # one session per command
    served, bad = keylog.read_keylog(dev_log)
    assert not bad
    mine = {(e.sender_id, e.recipient_id, e.master_secret) for e in entries}
    theirs = {(e.recipient_id, e.sender_id, e.master_secret) for e in served}
    assert mine <= theirs  # the device logged the same sessions, IDs swapped
