"""``echonet secure`` commands of the DA upgrade path: a certification attribute at issue, its withdrawal published
like a revocation, a certification requirement, per-peer roles and the privacy-aware policy, all loaded by the
node's identity directory (``load_node_security``)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pytest

from echonet.cli.secure import register
from echonet.cli.secure_support import load_node_security
from echonet.spec.dataclasses_table import DataClass
from secure.policy.rules import PolicyStore
from secure.trust import credentials
from secure.trust.certification import certification_of

DEVICE_ID = "FE00007B0102030405060708090A0B0C0D"
CONTROLLER_ID = "FE00007B00000000000000000000000001"


def run(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="echonet")
    register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["secure", *argv])
    code = args.func(args)
    assert isinstance(code, int)
    return code


@pytest.fixture
def pki(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> Path:
    ca = str(tmp_path / "ca")
    assert run(["init-ca", ca, "--maker", "00007B", "--org", "Acme"]) == 0
    issue = ["issue", "--ca", ca, "--id", DEVICE_ID, "--out", str(tmp_path / "dev")]
    assert run([*issue, "--certification", "JC-STAR:1:JCS-2026-0042:2026-04-01"]) == 0
    assert "certification JC-STAR level 1 (JCS-2026-0042, 2026-04-01)" in capsys.readouterr().out
    ctl = ["issue", "--ca", ca, "--role", "controller", "--id", CONTROLLER_ID, "--out", str(tmp_path / "ctl")]
    assert run(ctl) == 0
    capsys.readouterr()
    return tmp_path


def test_issue_writes_the_certification_attribute(pki: Path) -> None:
    cert = credentials.load_certificate(pki / "dev" / "node.cert.pem")
    attribute = certification_of(cert)
    assert attribute is not None and attribute.identifier == "JCS-2026-0042"
    assert certification_of(credentials.load_certificate(pki / "ctl" / "node.cert.pem")) is None


def test_a_bad_certification_argument_is_one_line(pki: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = run(["issue", "--ca", str(pki / "ca"), "--id", DEVICE_ID, "--out", str(pki / "x"), "--certification", "x"])
    assert code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "PROGRAMME:LEVEL:IDENTIFIER" in err[0]


def test_withdrawal_requirement_roles_and_privacy_reach_the_node(pki: Path, capsys: pytest.CaptureFixture[str]) -> None:
    ctl = str(pki / "ctl")
    assert run(["require-certification", "--node", ctl, "--programme", "JC-STAR", "--level", "1"]) == 0
    assert run(["withdraw", "--ca", str(pki / "ca"), "--certification", "JCS-2026-0042", "--out", ctl]) == 0
    assert "list number 1" in capsys.readouterr().out
    assert run(["withdraw", "--ca", str(pki / "ca"), "--certification", "JCS-2026-0042"]) == 2  # already
    capsys.readouterr()
    dev = str(pki / "dev")
    assert run(["roles", "--node", dev, "--assign", f"{CONTROLLER_ID.lower()}=hems", "--default", "viewer"]) == 0
    assert "default role: viewer" in capsys.readouterr().out
    assert run(["roles", "--node", dev, "--assign", "x=overlord"]) == 2
    capsys.readouterr()
    assert run(["privacy", "--node", ctl, "--protect", "usage", "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["protected_reads"] == ["usage"] and "usage" in doc["risks"]
    assert PolicyStore(pki / "ctl" / "policy.json").current().protected_reads == {DataClass.USAGE}

    controller = load_node_security(ctl, "controller")
    device = load_node_security(dev, "device")
    try:
        verifier = controller.config.verifier
        assert verifier.certification.require == ("JC-STAR", "1")  # type: ignore[attr-defined]
        withdrawn = verifier.certification.current()  # type: ignore[attr-defined]
        assert withdrawn is not None and withdrawn.find("JCS-2026-0042") is not None
        roles = device.config.roles
        assert roles is not None and roles.role_of(CONTROLLER_ID.lower()).name == "hems"
        assert roles.role_of("someone").name == "viewer"
    finally:
        controller.close()
        device.close()


def test_a_read_consent_in_data_classes(pki: Path, capsys: pytest.CaptureFixture[str]) -> None:
    ctl = str(pki / "ctl")
    argv = ["consent", "grant", "--node", ctl, "--peer", "192.0.2.9", "--eoj", "027D01", "--esv", "Get"]
    argv += ["--class", "usage", "--for", "1h", "--why", "energy report", "--version", "01 0e 01 00", "--yes"]
    assert run(argv) == 0
    out = capsys.readouterr().out
    assert "unprotected reads" in out and "usage data:" in out
    [grant] = PolicyStore(pki / "ctl" / "policy.json").current().grants()
    assert grant.scope.classes == {DataClass.USAGE} and grant.scope.esvs == {0x62}
    bad = ["consent", "grant", "--node", ctl, "--peer", "192.0.2.9", "--eoj", "027D01", "--esv", "Get"]
    bad += ["--class", "presence", "--for", "1h", "--why", "x", "--version", "01 0e 01 00", "--yes"]
    assert run(bad) == 2
    assert "unknown data class" in capsys.readouterr().err
