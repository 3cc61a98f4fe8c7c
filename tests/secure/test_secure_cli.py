"""``echonet secure ...`` in-process through a parser built with ``register``, and once via a subprocess."""

from __future__ import annotations

import argparse
import asyncio
import io
import json
import random
import socket
import stat
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from echonet import EOJ
from echonet.aio import DeviceServer, Endpoints
from echonet.aio import run as aio_run
from echonet.cli.secure import register
from echonet.node import DeviceObject
from secure import audit
from secure.policy.rules import PolicyStore
from secure.trust import credentials
from secure.trust.allowlist import AllowList

REPO = Path(__file__).resolve().parents[2]
DEVICE_ID = "FE00007B0102030405060708090A0B0C0D"
CONTROLLER_ID = "FE00007B00000000000000000000000001"


def run(argv: list[str]) -> int:
    """Build the main CLI's way (ArgumentParser + register) and dispatch like it does."""
    parser = argparse.ArgumentParser(prog="echonet")
    register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["secure", *argv])
    code = args.func(args)
    assert isinstance(code, int)
    return code


def one_error_line(capsys: pytest.CaptureFixture[str], *, quiet_stdout: bool = False) -> str:
    captured = capsys.readouterr()
    err = captured.err
    assert "Traceback" not in err
    if quiet_stdout:
        assert captured.out == ""
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    return lines[0]


@pytest.fixture
def pki(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> Path:
    assert run(["init-ca", str(tmp_path / "ca"), "--maker", "00007B", "--org", "Acme"]) == 0
    assert (
        run(
            [
                "issue",
                "--ca",
                str(tmp_path / "ca"),
                "--id",
                DEVICE_ID,
                "--maker",
                "00007B",
                "--out",
                str(tmp_path / "dev"),
            ]
        )
        == 0
    )
    assert (
        run(
            [
                "issue",
                "--ca",
                str(tmp_path / "ca"),
                "--role",
                "controller",
                "--id",
                CONTROLLER_ID,
                "--out",
                str(tmp_path / "ctl"),
            ]
        )
        == 0
    )
    capsys.readouterr()
    return tmp_path


def test_init_ca_and_issue_create_private_files_with_a_valid_chain(pki: Path) -> None:
    for directory in (pki / "ca", pki / "dev", pki / "ctl"):
        assert stat.S_IMODE(directory.stat().st_mode) == 0o700
        for f in directory.iterdir():
            assert stat.S_IMODE(f.stat().st_mode) == 0o600, f
    leaf = credentials.load_certificate(pki / "dev" / "node.cert.pem")
    peer = credentials.verify_chain(
        leaf,
        roots=credentials.load_certificates(pki / "dev" / "trust.pem"),
        intermediates=credentials.load_certificates(pki / "dev" / "chain.pem"),
        now=leaf.not_valid_before_utc.timestamp() + 1,
        role=credentials.Role.DEVICE,
    )
    assert peer.identity.id_number.hex().upper() == DEVICE_ID
    assert peer.identity.maker_code.hex().upper() == "00007B"


def test_issue_again_reuses_the_existing_key(pki: Path, capsys: pytest.CaptureFixture[str]) -> None:
    before = credentials.spki_sha256(credentials.load_certificate(pki / "dev" / "node.cert.pem"))
    assert run(["issue", "--ca", str(pki / "ca"), "--id", DEVICE_ID, "--out", str(pki / "dev")]) == 0
    assert "reusing" in capsys.readouterr().out
    assert credentials.spki_sha256(credentials.load_certificate(pki / "dev" / "node.cert.pem")) == before


def test_fingerprint_shows_both_styles_and_the_binding(pki: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cert = credentials.load_certificate(pki / "dev" / "node.cert.pem")
    fp = credentials.spki_sha256(cert)
    assert run(["fingerprint", str(pki / "dev" / "node.cert.pem")]) == 0
    out = capsys.readouterr().out
    assert credentials.format_fingerprint(fp, "colon") in out
    assert credentials.format_fingerprint(fp, "groups") in out
    assert DEVICE_ID in out and "00007B" in out
    assert run(["fingerprint", str(pki / "dev" / "node.key.pem")]) == 0
    assert credentials.format_fingerprint(fp, "colon") in capsys.readouterr().out


def test_enrol_and_remove_by_certificate_and_fingerprint(pki: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cert_path = pki / "dev" / "node.cert.pem"
    fp = credentials.spki_sha256(credentials.load_certificate(cert_path))
    allow = AllowList(pki / "ctl" / "allowlist.json")
    assert run(["enrol", "--node", str(pki / "ctl"), "--cert", str(cert_path), "--label", "heater"]) == 0
    assert credentials.format_fingerprint(fp, "groups") in capsys.readouterr().out
    assert allow.is_allowed(fp)
    assert run(["remove", "--node", str(pki / "ctl"), "--fingerprint", credentials.format_fingerprint(fp)]) == 0
    assert not allow.is_allowed(fp)
    assert run(["enrol", "--node", str(pki / "ctl"), "--fingerprint", fp.hex()]) == 0
    assert allow.is_allowed(fp)
    assert run(["remove", "--node", str(pki / "ctl"), "--cert", str(cert_path)]) == 0
    assert not allow.is_allowed(fp)
    events = [json.loads(line)["event"] for line in (pki / "ctl" / "audit.jsonl").read_text().splitlines()]
    assert events == ["allowlist_added", "allowlist_removed"] * 2


def test_revoke_and_publish_crl_blocks_enrolment(pki: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cert_path = pki / "dev" / "node.cert.pem"
    assert run(["revoke", "--ca", str(pki / "ca"), str(cert_path), "--reason", "keyCompromise"]) == 0
    assert run(["crl", "--ca", str(pki / "ca"), "--out", str(pki / "ctl")]) == 0
    crl = credentials.load_crl(pki / "ctl" / "crl.pem")
    assert credentials.is_revoked(crl, credentials.load_certificate(cert_path))
    capsys.readouterr()
    assert run(["enrol", "--node", str(pki / "ctl"), "--cert", str(cert_path)]) == 2  # a certificate that cannot be
    assert "revoked" in one_error_line(capsys)


def test_consent_grant_shows_risk_and_version_and_needs_confirmation(
    pki: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    argv = [
        "consent", "grant", "--node", str(pki / "ctl"), "--peer", "192.168.1.20", "--eoj", "027D01",
        "--esv", "SetC", "--epc", "0xDA,0xEB", "--for", "30m", "--version", "Ver. 1.13 (as read from 0x82)",
        "--why", "DR trial", "--who", "alice",
    ]  # fmt: skip
    monkeypatch.setattr(sys, "stdin", io.StringIO("no\n"))
    assert run(argv) == 1
    captured = capsys.readouterr()
    assert "no authentication and no encryption" in captured.out
    assert "Ver. 1.13 (as read from 0x82)" in captured.out
    assert "Type 'yes'" in captured.out
    assert "consent not granted" in captured.err
    assert PolicyStore(pki / "ctl" / "policy.json").current().grants() == ()

    monkeypatch.setattr(sys, "stdin", io.StringIO("yes\n"))
    assert run(argv) == 0
    (grant,) = PolicyStore(pki / "ctl" / "policy.json").current().grants()
    assert grant.granted_by == "alice" and grant.why == "DR trial"
    assert grant.device_version == "Ver. 1.13 (as read from 0x82)"
    assert grant.expires_at - grant.granted_at == 1800
    assert grant.scope.epcs == frozenset({0xDA, 0xEB}) and grant.scope.esvs == frozenset({0x61})
    assert grant.id in capsys.readouterr().out


def test_consent_grant_without_a_terminal_answer_is_refused(
    pki: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sys, "stdin", io.StringIO(""))
    argv = ["consent", "grant", "--node", str(pki / "ctl"), "--peer", "192.168.1.20", "--eoj", "027D01",
            "--esv", "SetC", "--for", "5m", "--version", "010D0100", "--why", "x", "--who", "a"]  # fmt: skip
    assert run(argv) == 1
    assert PolicyStore(pki / "ctl" / "policy.json").current().grants() == ()


def test_consent_list_and_revoke(pki: Path, capsys: pytest.CaptureFixture[str]) -> None:
    node = str(pki / "ctl")
    argv = ["consent", "grant", "--node", node, "--peer", "192.168.1.20", "--eoj", "027D01", "--epc", "0xDA",
            "--for", "1h", "--version", "010D0100", "--why", "DR", "--who", "alice", "--yes"]  # fmt: skip
    assert run(argv) == 0
    (grant,) = PolicyStore(pki / "ctl" / "policy.json").current().grants()
    capsys.readouterr()
    assert run(["consent", "list", "--node", node]) == 0
    out = capsys.readouterr().out
    assert grant.id in out and "active" in out and "ECHONET Lite Ver. 1.13" in out
    assert run(["consent", "revoke", "--node", node, grant.id, "--who", "bob", "--why", "done"]) == 0
    assert run(["consent", "list", "--node", node]) == 0
    assert "no active consent grants" in capsys.readouterr().out
    assert run(["consent", "list", "--node", node, "--all"]) == 0
    assert "revoked" in capsys.readouterr().out
    result = audit.verify(pki / "ctl" / "audit.jsonl")
    assert result.ok and result.records == 2


def test_audit_verify_exit_codes(pki: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cert_path = pki / "dev" / "node.cert.pem"
    assert run(["enrol", "--node", str(pki / "ctl"), "--cert", str(cert_path)]) == 0
    assert run(["remove", "--node", str(pki / "ctl"), "--cert", str(cert_path)]) == 0
    log_path = pki / "ctl" / "audit.jsonl"
    capsys.readouterr()
    assert run(["audit", "verify", str(log_path)]) == 0
    assert "ok, 2 record(s)" in capsys.readouterr().out
    lines = log_path.read_bytes().splitlines(keepends=True)
    log_path.write_bytes(lines[0].replace(b"allowlist_added", b"allowlist_removed") + lines[1])
    assert run(["audit", "verify", str(log_path)]) == 1
    assert one_error_line(capsys).endswith("audit.jsonl:1: hash mismatch (the record was edited)")


def test_audit_verify_with_the_nodes_key_catches_a_forged_line_an_emptied_log_and_a_deleted_one(
    pki: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cert_path = pki / "dev" / "node.cert.pem"
    assert run(["enrol", "--node", str(pki / "ctl"), "--cert", str(cert_path)]) == 0
    log_path = pki / "ctl" / "audit.jsonl"
    capsys.readouterr()
    assert run(["audit", "verify", str(log_path)]) == 0  # the key next to the log is used
    assert "MACs verified" in capsys.readouterr().out
    last = json.loads(log_path.read_bytes().splitlines()[-1])
    body = {
        "seq": last["seq"] + 1,
        "time": last["time"],
        "event": "allowlist_added",
        "fields": {"label": "x"},
        "prev": last["hash"],
    }
    forged = audit.canonical_json({**body, "hash": audit.record_hash(body), "mac": last["mac"]}) + b"\n"
    original = log_path.read_bytes()
    log_path.write_bytes(original + forged)
    assert run(["audit", "verify", str(log_path)]) == 1
    assert one_error_line(capsys).endswith(
        "audit.jsonl:2: MAC does not verify (the record was forged or edited without the node's key)"
    )
    log_path.write_bytes(b"")
    audit.head_path(log_path).unlink()
    assert run(["audit", "verify", str(log_path)]) == 1
    assert "emptied" in one_error_line(capsys)
    log_path.unlink()
    assert run(["audit", "verify", str(log_path)]) == 1
    assert "missing" in one_error_line(capsys)
    log_path.write_bytes(original)
    assert run(["audit", "verify", str(log_path), "--key", str(pki / "nowhere.key")]) == 2
    assert "audit key" in one_error_line(capsys)


def test_audit_rotate_moves_the_records_out_and_verify_checks_the_chain_across_both_files(
    pki: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cert_path = pki / "dev" / "node.cert.pem"
    assert run(["enrol", "--node", str(pki / "ctl"), "--cert", str(cert_path)]) == 0
    log_path = pki / "ctl" / "audit.jsonl"
    capsys.readouterr()
    assert run(["audit", "rotate", str(log_path)]) == 0
    assert "audit.jsonl.1" in capsys.readouterr().out
    assert run(["remove", "--node", str(pki / "ctl"), "--cert", str(cert_path)]) == 0
    capsys.readouterr()
    assert run(["audit", "verify", str(log_path)]) == 0
    out = capsys.readouterr().out
    assert "ok, 2 record(s)" in out and "1 rotated file(s)" in out
    (pki / "ctl" / "audit.jsonl.1").unlink()
    assert run(["audit", "verify", str(log_path)]) == 1
    assert "audit.jsonl.1, rotated out of this log, is missing" in one_error_line(capsys)


@pytest.mark.parametrize(
    ("target", "mode", "fix"),
    [
        ("allowlist.json", 0o666, "chmod go-w"),
        ("trust.pem", 0o646, "chmod go-w"),
        ("audit.jsonl", 0o622, "chmod go-w"),
        (".", 0o755, "chmod 700"),
    ],
)
def test_a_node_store_others_can_tamper_with_is_refused_in_one_line_naming_the_file_and_the_fix(
    pki: Path, capsys: pytest.CaptureFixture[str], target: str, mode: int, fix: str
) -> None:
    echonet_cli = pytest.importorskip("echonet.cli")
    node = pki / "ctl"
    assert run(["enrol", "--node", str(node), "--cert", str(pki / "dev" / "node.cert.pem")]) == 0
    capsys.readouterr()
    path = (node / target).resolve()
    path.chmod(mode)
    try:
        code = echonet_cli.main(
            ["get", "127.0.0.1", "027D01", "0x80", "--timeout", "0.2", "--secure", "--identity", str(node)]
        )
    finally:
        path.chmod(0o700 if path.is_dir() else 0o600)
    assert code == 2
    line = one_error_line(capsys)
    assert str(path) in line and f"{fix} {path}" in line, line


@pytest.mark.parametrize(
    "argv",
    [
        ["issue", "--ca", "{ca}", "--id", "FE00", "--out", "{tmp}/x"],
        ["issue", "--ca", "{ca}", "--id", DEVICE_ID, "--maker", "000005", "--out", "{tmp}/x"],
        ["issue", "--ca", "{tmp}/nowhere", "--id", DEVICE_ID, "--out", "{tmp}/x"],
        ["init-ca", "{ca}", "--maker", "00007B", "--org", "Again"],
        ["init-ca", "{tmp}/ca2", "--maker", "7B", "--org", "Acme"],
        ["fingerprint", "{tmp}/missing.pem"],
        ["enrol", "--node", "{ctl}", "--fingerprint", "12:34"],
        ["enrol", "--node", "{tmp}/no-node", "--fingerprint", "00" * 32],
        ["remove", "--node", "{ctl}", "--fingerprint", "00" * 32],
        ["revoke", "--ca", "{ca}", "{tmp}/missing.pem"],
        ["consent", "grant", "--node", "{ctl}", "--peer", "192.168.1.300", "--eoj", "027D01", "--esv", "SetC",
         "--for", "30m", "--version", "1", "--why", "x", "--yes"],
        ["consent", "grant", "--node", "{ctl}", "--peer", "192.168.1.20", "--eoj", "toaster", "--esv", "SetC",
         "--for", "30m", "--version", "1", "--why", "x", "--yes"],
        ["consent", "grant", "--node", "{ctl}", "--peer", "192.168.1.20", "--eoj", "027D01", "--esv", "Get",
         "--for", "30m", "--version", "1", "--why", "x", "--yes"],
        ["consent", "grant", "--node", "{ctl}", "--peer", "192.168.1.20", "--eoj", "027D01", "--epc", "0x10",
         "--for", "30m", "--version", "1", "--why", "x", "--yes"],
        ["consent", "grant", "--node", "{ctl}", "--peer", "192.168.1.20", "--eoj", "027D01", "--esv", "SetC",
         "--for", "30 minutes", "--version", "1", "--why", "x", "--yes"],
        ["consent", "grant", "--node", "{ctl}", "--peer", "192.168.1.20", "--eoj", "027D01", "--esv", "SetC",
         "--for", "30d", "--version", "1", "--why", "x", "--yes"],
        ["consent", "grant", "--node", "{ctl}", "--peer", "192.168.1.20", "--eoj", "027D01",
         "--for", "30m", "--version", "1", "--why", "x", "--yes"],
        ["consent", "revoke", "--node", "{ctl}", "deadbeef"],
        ["audit", "verify", "{tmp}/missing.jsonl"],
    ],
)  # fmt: skip
def test_bad_input_prints_one_clear_line_and_exits_2(
    pki: Path, capsys: pytest.CaptureFixture[str], argv: list[str]
) -> None:
    values = {"tmp": str(pki), "ca": str(pki / "ca"), "ctl": str(pki / "ctl")}
    assert run([a.format(**values) for a in argv]) == 2  # bad usage, as everywhere in echonet
    line = one_error_line(capsys, quiet_stdout=True)
    assert line.startswith("echonet secure: error: ")


def test_consent_for_a_secure_peer_is_refused(pki: Path, capsys: pytest.CaptureFixture[str]) -> None:
    PolicyStore(pki / "ctl" / "policy.json").enrol_secure("192.168.1.30", now=1.0)
    argv = ["consent", "grant", "--node", str(pki / "ctl"), "--peer", "192.168.1.30", "--eoj", "027D01",
            "--esv", "SetC", "--for", "5m", "--version", "1", "--why", "x", "--yes"]  # fmt: skip
    assert run(argv) == 2  # refused before anything is recorded, like a bad value
    assert "secure" in one_error_line(capsys)


def test_argument_errors_are_one_line_without_traceback(pki: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as excinfo:
        run(["issue", "--ca", str(pki / "ca")])
    assert excinfo.value.code == 2
    assert "required" in one_error_line(capsys)


def test_subprocess_bad_input_exits_non_zero_without_traceback(tmp_path: Path) -> None:
    code = (
        "import argparse, sys\n"
        "from echonet.cli.secure import register\n"
        "p = argparse.ArgumentParser(prog='echonet')\n"
        "register(p.add_subparsers(dest='command', required=True))\n"
        "a = p.parse_args(sys.argv[1:])\n"
        "sys.exit(a.func(a))\n"
    )
    ok = subprocess.run(
        [sys.executable, "-c", code, "secure", "init-ca", str(tmp_path / "ca"), "--maker", "00007B", "--org", "A"],
        cwd=REPO, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert ok.returncode == 0, ok.stderr
    bad = subprocess.run(
        [sys.executable, "-c", code, "secure", "issue", "--ca", str(tmp_path / "ca"), "--id", "nonsense",
         "--out", str(tmp_path / "x")],
        cwd=REPO, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert bad.returncode == 2  # bad usage
    assert "Traceback" not in bad.stderr
    assert bad.stderr.strip().splitlines() == [
        "echonet secure: error: identification number must be 17 bytes of hex (34 hex digits), got 'nonsense'"
    ]
    module = subprocess.run(
        [sys.executable, "-m", "echonet.cli.secure", "secure", "audit", "verify", str(tmp_path / "none.jsonl")],
        cwd=REPO, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert module.returncode == 2 and "Traceback" not in module.stderr  # a missing file is bad usage


def test_mounted_under_the_main_echonet_cli(pki: Path, capsys: pytest.CaptureFixture[str]) -> None:
    echonet_cli = pytest.importorskip("echonet.cli")
    code = echonet_cli.main(["secure", "fingerprint", str(pki / "dev" / "node.cert.pem")])
    assert code == 0
    assert DEVICE_ID in capsys.readouterr().out
    assert echonet_cli.main(["secure", "audit", "verify", str(pki / "missing.jsonl")]) == 2
    assert one_error_line(capsys).startswith("echonet secure: error: ")


def _device_in_a_thread(ip: str, port: int, stop: threading.Event) -> threading.Thread:
    """A plain (legacy) storage battery served over real UDP until ``stop`` is set."""

    async def serve() -> None:
        battery = DeviceObject(EOJ(0x02, 0x7D, 0x01), {0x80: b"\x30", 0x81: b"\x00", 0xE4: b"\x32"})
        async with await DeviceServer.open([battery], Endpoints(bind_v4=ip, port=port)):
            while not stop.is_set():
                await asyncio.sleep(0.01)

    thread = threading.Thread(target=aio_run, args=(serve(),), daemon=True)
    thread.start()
    return thread


def test_consent_grant_reads_the_protocol_version_from_the_device_itself(
    pki: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ip = f"127.0.{random.randint(1, 254)}.{random.randint(100, 250)}"
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.bind((ip, 0))
        port = probe.getsockname()[1]
    stop = threading.Event()
    thread = _device_in_a_thread(ip, port, stop)
    try:
        time.sleep(0.3)
        argv = ["consent", "grant", "--node", str(pki / "ctl"), "--peer", ip, "--port", str(port),
                "--bind", "127.0.0.1", "--eoj", "027D01", "--epc", "0xDA", "--for", "10m", "--why", "DR",
                "--who", "alice", "--yes"]  # fmt: skip
        assert run(argv) == 0
    finally:
        stop.set()
        thread.join(5)
    out = capsys.readouterr().out
    assert "ECHONET Lite Ver. 1.14" in out  # what our node profile's 0x82 says, shown before the grant
    (grant,) = PolicyStore(pki / "ctl" / "policy.json").current().grants()
    assert grant.device_version.startswith("ECHONET Lite Ver. 1.14")


def test_consent_grant_for_a_silent_device_without_version_is_refused_with_one_line(
    pki: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ip = f"127.0.{random.randint(1, 254)}.{random.randint(100, 250)}"
    argv = ["consent", "grant", "--node", str(pki / "ctl"), "--peer", ip, "--port", "9", "--bind", "127.0.0.1",
            "--timeout", "0.2", "--eoj", "027D01", "--epc", "0xDA", "--for", "10m", "--why", "DR", "--yes"]  # fmt: skip
    assert run(argv) != 0
    assert "give --version" in one_error_line(capsys)
    assert PolicyStore(pki / "ctl" / "policy.json").current().grants() == ()


# --json ------------------------------------------------------------------------------------------------------------


def json_of(capsys: pytest.CaptureFixture[str], argv: list[str], code: int = 0) -> dict[str, object]:
    """Run with ``--json``: the exit code, and stdout as exactly one JSON document."""
    assert run([*argv, "--json"]) == code
    [line] = capsys.readouterr().out.splitlines()
    doc = json.loads(line)
    assert isinstance(doc, dict)
    return doc


def test_every_secure_subcommand_with_json_prints_one_document_in_the_json_vocabulary(
    pki: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cert = str(pki / "dev" / "node.cert.pem")
    fp = credentials.spki_sha256(credentials.load_certificate(cert)).hex()
    made = json_of(capsys, ["init-ca", str(pki / "ca2"), "--maker", "00007B", "--org", "Acme"])
    assert made["manufacturer"] == "00007b" and len(made["root_ca"]["fingerprint"]) == 64  # type: ignore[index]
    issued = json_of(capsys, ["issue", "--ca", str(pki / "ca"), "--id", DEVICE_ID, "--out", str(pki / "dev")])
    assert issued["key_reused"] is True and issued["identification"] == DEVICE_ID.lower()
    assert str(issued["not_after"]).endswith("Z") and issued["fingerprint"] == fp
    shown = json_of(capsys, ["fingerprint", cert])
    assert (shown["fingerprint"], shown["identification"], shown["manufacturer"], shown["role"]) == (
        fp, DEVICE_ID.lower(), "00007b", "device"
    )  # fmt: skip
    node = str(pki / "ctl")
    assert json_of(capsys, ["enrol", "--node", node, "--cert", cert])["already_enrolled"] is False
    assert json_of(capsys, ["remove", "--node", node, "--fingerprint", fp]) == {
        "allow_list": str(pki / "ctl" / "allowlist.json"), "removed": True, "fingerprint": fp
    }  # fmt: skip
    granted = json_of(capsys, ["consent", "grant", "--node", node, "--peer", "[::1]:3610", "--eoj", "storage_battery:1",
                               "--epc", "0xDA", "--for", "1h", "--version", "010D0100", "--why", "DR", "--who", "alice",
                               "--yes"])["consent"]  # fmt: skip
    assert isinstance(granted, dict)
    assert granted["scope"]["eoj"] == "027D01" and granted["scope"]["peer"] == "::1"
    assert granted["scope"]["epcs"] == ["0xDA"] and granted["state"] == "active"
    assert str(granted["expires_at"]).endswith("Z") and 3590 <= granted["seconds_left"] <= 3600
    listed = json_of(capsys, ["consent", "list", "--node", node])["grants"]
    assert isinstance(listed, list) and [g["id"] for g in listed] == [granted["id"]]
    revoked = json_of(capsys, ["consent", "revoke", "--node", node, str(granted["id"]), "--who", "bob"])["consent"]
    assert isinstance(revoked, dict) and revoked["state"] == "revoked" and revoked["revoked_by"] == "bob"
    assert json_of(capsys, ["revoke", "--ca", str(pki / "ca"), cert])["reason"] == "unspecified"
    crl = json_of(capsys, ["crl", "--ca", str(pki / "ca")])
    assert crl["revoked_certificates"] == 1 and str(crl["next_update"]).endswith("Z")
    verified = json_of(capsys, ["audit", "verify", str(pki / "ctl" / "audit.jsonl")])
    assert verified["ok"] is True and verified["records"] == 4


def test_with_json_a_failure_is_a_document_with_its_error_and_the_line_on_stderr(
    pki: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(["enrol", "--node", str(pki / "ctl"), "--cert", str(pki / "dev" / "node.cert.pem")]) == 0
    log = pki / "ctl" / "audit.jsonl"
    log.write_bytes(log.read_bytes().replace(b"allowlist_added", b"allowlist_removed"))
    capsys.readouterr()
    assert run(["audit", "verify", str(log), "--json"]) == 1
    captured = capsys.readouterr()
    doc = json.loads(captured.out)
    assert doc["ok"] is False and doc["first_bad_line"] == 1
    assert doc["error"] == {"code": 1, "kind": "failed", "message": f"{log}:1: hash mismatch (the record was edited)"}
    assert captured.err == f"echonet secure: error: {doc['error']['message']}\n"
    assert run(["fingerprint", str(pki / "missing.pem"), "--json"]) == 2
    bad = json.loads(capsys.readouterr().out)
    assert bad["error"]["kind"] == "usage" and "missing.pem" in bad["error"]["message"]


def test_consent_grant_with_json_asks_on_stderr_and_keeps_stdout_for_the_document(
    pki: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sys, "stdin", io.StringIO("yes\n"))
    argv = ["consent", "grant", "--node", str(pki / "ctl"), "--peer", "192.168.1.20", "--eoj", "027D01",
            "--esv", "SetC", "--for", "5m", "--version", "010D0100", "--why", "x", "--who", "a", "--json"]  # fmt: skip
    assert run(argv) == 0
    captured = capsys.readouterr()
    assert "Type 'yes'" in captured.err and "no authentication and no encryption" in captured.err
    assert json.loads(captured.out)["consent"]["scope"]["esvs"] == ["SetC"]
