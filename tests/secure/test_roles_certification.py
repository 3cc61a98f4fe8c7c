"""Per-peer roles checked per ESV and EPC (with the SNA the spec prescribes and an audit record), the certification
attribute of device certificates (shown, required by policy, withdrawn like a revocation), and the data classes of
the spec tables that the roles read in. Over real UDP on loopback where a session is involved."""

from __future__ import annotations

import asyncio
import os
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from session_support import (
    BATTERY,
    CONTROLLER_ID,
    DEVICE_ID,
    MAKER,
    audit_events,
    certificate_sides,
    der,
    secured_pair,
    settle,
    site,
    wall,
)

from echonet.frame import ESV
from echonet.spec import builtin_registry
from echonet.spec.dataclasses_table import RISK, DataClass, data_class, data_classes
from secure.errors import CertificateError, CredentialRejectedError, SecureUsageError
from secure.handshake.cose import Credential, LocalCredential
from secure.policy.roles import BUILTIN_ROLES, SNA_OF, AccessRole, RoleTable
from secure.trust import credentials as cred
from secure.trust.certification import (
    Certification,
    CertificationPolicy,
    Withdrawal,
    certification_extension,
    certification_of,
    decode_certification,
    encode_certification,
    issue_withdrawals,
)
from secure.trust.verifiers import CertificateVerifier

JCSTAR = Certification("JC-STAR", "1", "JCS-2026-0042", "2026-04-01")


def run(coro: Any) -> Any:
    return asyncio.run(asyncio.wait_for(coro, 30))


# ------------------------------------------------------------------------------------------ data classes


def test_every_epc_of_the_spec_tables_has_a_data_class() -> None:
    registry = builtin_registry()
    table = data_classes(registry)
    expected = {(c.class_id, e) for c in registry for e in registry.properties(c.class_id)}
    assert set(table) == expected and len(table) > 200
    assert set(table.values()) == set(DataClass)
    assert table[(0x027D, 0xDA)] is DataClass.CONTROL  # battery operation mode
    assert table[(0x027D, 0x83)] is DataClass.IDENTITY
    assert table[(0x027D, 0xE4)] is DataClass.USAGE  # remaining capacity over time: presence
    assert table[(0x026B, 0x84)] is DataClass.USAGE  # instantaneous power consumption
    assert table[(0x026B, 0xEA)] is DataClass.USAGE  # bath operation status: someone is bathing
    assert table[(0x027D, 0x88)] is DataClass.OPERATING  # fault status
    assert table[(0x0EF0, 0xD6)] is DataClass.IDENTITY  # the node's instance list
    assert data_class(0x0130, 0xB3, settable=True) is DataClass.CONTROL  # a class the table does not list
    assert data_class(0x0130, 0xF5, settable=True) is DataClass.OPERATING  # manufacturer range
    assert all(RISK[c] for c in DataClass)


def test_every_epc_of_the_machine_readable_appendix_has_a_data_class() -> None:
    import os

    from echonet.spec import default_registry

    path = os.environ.get("ECHONET_MRA_DIR") or str(Path(__file__).resolve().parents[3] / "shared" / "mra")
    if not Path(path).is_dir():
        pytest.skip(f"{path} is absent (no Machine Readable Appendix here)")
    registry = default_registry(path)
    table = data_classes(registry)
    assert len(table) == sum(len(registry.properties(c.class_id)) for c in registry) > 1000
    assert table[(0x0007, 0xB1)] is DataClass.USAGE  # human detection sensor: presence itself
    assert table[(0x0288, 0xE7)] is DataClass.USAGE  # smart meter: instantaneous power
    assert table[(0x0130, 0xB3)] is DataClass.CONTROL  # air conditioner: target temperature
    assert table[(0x0130, 0x83)] is DataClass.IDENTITY


# ------------------------------------------------------------------------------------------ roles (pure)


def test_builtin_roles_check_per_esv_and_epc() -> None:
    hems, agg, inst, viewer = (BUILTIN_ROLES[n] for n in ("hems", "aggregator", "installer", "viewer"))
    assert inst.full and not hems.full
    assert hems.denied(ESV.GET, 0x027D, [0x80, 0xE4, 0x83]) == ()  # reads everything
    assert hems.denied(ESV.SETC, 0x026B, [0xD1, 0xE3]) == ()  # comfort: hot water and bath temperatures
    assert hems.denied(ESV.SETC, 0x027D, [0xDA]) == (0xDA,)  # a DR command is not comfort
    assert agg.denied(ESV.SETC, 0x027D, [0xDA, 0xEB]) == ()
    assert agg.denied(ESV.SETI, 0x026B, [0xB0]) == ()  # water heater automatic heating (the DR day's write)
    assert agg.denied(ESV.SETC, 0x026B, [0xD1]) == (0xD1,)
    assert agg.denied(ESV.GET, 0x027D, [0x80, 0xE4]) == (0xE4,)  # usage data reveals presence
    assert viewer.denied(ESV.SETC, 0x027D, [0x80]) == (0x80,)
    assert viewer.denied(ESV.INF_REQ, 0x027D, [0x88]) == ()
    for role in (hems, agg, viewer):
        assert role.denied(0x72, 0x027D, [0xE4]) == ()  # answers and notifications are never refused
        assert role.denied(0x73, 0x027D, [0xE4]) == ()
    assert SNA_OF == {0x60: 0x50, 0x61: 0x51, 0x62: 0x52, 0x63: 0x53, 0x6E: 0x5E}


def test_a_role_file_round_trips_and_refuses_unknown_roles(tmp_path: Path) -> None:
    table = RoleTable(
        {CONTROLLER_ID.hex(): "hems"},
        default="viewer",
        roles={"battery-only": AccessRole.from_document("battery-only", {"read": "all", "write": {"027D": ["DA"]}})},
    )
    table.assign("fp:0123456789abcdef", "battery-only")
    path = tmp_path / "roles.json"
    table.save(path)
    again = RoleTable.load(path)
    assert again.role_of(CONTROLLER_ID.hex()).name == "hems"
    assert again.role_of("fp:0123456789ABCDEF").denied(ESV.SETC, 0x027D, [0xDA]) == ()
    assert again.role_of("somebody").name == "viewer"
    assert RoleTable.load(tmp_path / "missing.json").role_of("x").full
    with pytest.raises(SecureUsageError, match="unknown role"):
        RoleTable({"x": "overlord"})
    with pytest.raises(SecureUsageError, match="data classes"):
        AccessRole.from_document("bad", {"read": ["everything"]})


# ------------------------------------------------------------------------------------------ roles (sockets)


def test_a_hems_reads_everything_and_sets_comfort_but_a_dr_command_gets_setc_sna(tmp_path: Path) -> None:
    ctl, dev = certificate_sides(tmp_path)
    dev.config = replace(dev.config, roles=RoleTable({CONTROLLER_ID.hex(): "hems"}))

    async def scenario() -> None:
        async with secured_pair(ctl, dev, "127.0.64.1", "127.0.64.2") as pair:
            got = await pair.controller.get(pair.device_addr, BATTERY, [0x80, 0xE4, 0x88])
            assert got.values == {0x80: b"\x30", 0xE4: b"\x32", 0x88: b"\x42"}
            result = await pair.controller.set(pair.device_addr, BATTERY, {0xDA: b"\x42"})
            assert not result.ok
            assert result.frame is not None and result.frame.esv == 0x51  # SetC_SNA
            assert [(p.epc, p.edt) for p in result.frame.properties] == [(0xDA, b"\x42")]  # not accepted
            assert pair.device.node.object(BATTERY).value(0xDA) == b"\x44"  # type: ignore[union-attr]
            assert pair.device.layer.stats.role_denied == 1

    run(scenario())
    [denied] = [e["fields"] for e in audit_events(dev.audit) if e["event"] == "role_denied"]
    assert denied["identity"] == CONTROLLER_ID.hex() and denied["role"] == "hems"
    assert denied["esv"] == "0x61" and denied["epcs"] == ["0xDA"] and denied["answer"] == "0x51"
    assert denied["eoj"] == "027d01"


def test_an_aggregator_runs_dr_commands_but_cannot_read_usage_data(tmp_path: Path) -> None:
    ctl, dev = certificate_sides(tmp_path)
    dev.config = replace(dev.config, roles=RoleTable(default="aggregator"))

    async def scenario() -> None:
        async with secured_pair(ctl, dev, "127.0.64.3", "127.0.64.4") as pair:
            result = await pair.controller.set(pair.device_addr, BATTERY, {0xDA: b"\x42"})
            assert result.ok
            assert pair.device.node.object(BATTERY).value(0xDA) == b"\x42"  # type: ignore[union-attr]
            got = await pair.controller.get(pair.device_addr, BATTERY, [0xE4], split=False)
            assert got.values == {} and got.frame is not None and got.frame.esv == 0x52  # Get_SNA
            assert [(p.epc, p.edt) for p in got.frame.properties] == [(0xE4, b"")]
            got = await pair.controller.get(pair.device_addr, BATTERY, [0x80])
            assert got.values == {0x80: b"\x30"}

    run(scenario())
    denied = [e["fields"] for e in audit_events(dev.audit) if e["event"] == "role_denied"]
    assert [(d["role"], d["esv"], d["epcs"]) for d in denied] == [("aggregator", "0x62", ["0xE4"])]


# ------------------------------------------------------------------------------------------ certification


def _certified_leaf(certification: Certification | None) -> tuple[LocalCredential, Any]:
    s = site()
    key = cred.generate_private_key()
    cert = cred.issue_certificate(
        ca_key=s.ca_key,
        ca_cert=s.ca,
        public_key=key.public_key(),
        identity=cred.EchonetIdentity(DEVICE_ID, MAKER),
        role=cred.Role.DEVICE,
        now=wall() - 3000,
        extensions=() if certification is None else (certification_extension(certification),),
    )
    return LocalCredential(Credential.from_x509(der(cert), chain=[der(s.ca)]), key), cert


def test_the_certification_attribute_is_strict_der_and_round_trips() -> None:
    value = encode_certification(JCSTAR)
    assert decode_certification(value) == JCSTAR
    _, cert = _certified_leaf(JCSTAR)
    assert certification_of(cert) == JCSTAR
    assert JCSTAR.meets("jc-star", "1") and not JCSTAR.meets("JC-STAR", "2")
    for bad in (value + b"\x00", value[:-1], b"\x30\x00", value.replace(b"\x02\x01\x01", b"\x02\x01\x02")):
        with pytest.raises(CertificateError):
            decode_certification(bad)
    with pytest.raises(SecureUsageError, match="YYYY-MM-DD"):
        Certification("JC-STAR", "1", "x", "April 2026")


def test_a_policy_can_require_a_certification_and_a_withdrawal_ends_the_session(tmp_path: Path) -> None:
    s = site()
    withdrawals = tmp_path / "withdrawn.json"
    policy = CertificationPolicy(require=("JC-STAR", "1"), withdrawals=withdrawals, issuers=[s.ca, s.root])
    ctl, dev = certificate_sides(tmp_path)
    dev_local, dev_cert = _certified_leaf(JCSTAR)
    ctl.allowlist.enrol_certificate(dev_cert, now=wall(), label="certified battery")
    ctl.config = replace(
        ctl.config,
        verifier=CertificateVerifier([s.root], allowlist=ctl.allowlist, role=cred.Role.DEVICE, certification=policy),
        recheck_interval=None,
        trust_poll=0.1,
    )
    dev.config = replace(dev.config, credential=dev_local)

    async def scenario() -> None:
        async with secured_pair(ctl, dev, "127.0.64.5", "127.0.64.6") as pair:
            got = await pair.controller.get(pair.device_addr, BATTERY, [0x80])
            assert got.values == {0x80: b"\x30"}
            info = pair.controller.layer.session_info(pair.device_addr)
            assert info is not None
            assert info["certification"] == JCSTAR.to_document() and info["certification_status"] == "certified"
            # The programme withdraws the certification: published like a CRL, signed by the CA.
            withdrawals.write_bytes(
                issue_withdrawals(
                    ca_key=s.ca_key,
                    ca_cert=s.ca,
                    entries=[Withdrawal(JCSTAR.identifier, "2026-11-30")],
                    number=1,
                    now=wall(),
                )
            )
            os.chmod(withdrawals, 0o600)
            await settle(0.5)
            assert not pair.controller.layer.is_secured("127.0.64.6")

    run(scenario())
    events = audit_events(ctl.audit)
    [denied] = [
        e["fields"] for e in events if e["event"] == "policy_denied" and "withdrawn" in e["fields"].get("detail", "")
    ]
    assert denied["reason"] == "peer-no-longer-allowed"
    assert any(e["event"] == "session_closed" for e in events)


def test_an_uncertified_peer_is_refused_where_certification_is_required() -> None:
    s = site()
    policy = CertificationPolicy(require=("JC-STAR", "1"))
    _, plain_cert = _certified_leaf(None)
    local, _ = _certified_leaf(None)
    verifier = CertificateVerifier([s.root], allowlist=None, role=cred.Role.DEVICE, certification=policy)
    with pytest.raises(CredentialRejectedError, match="has none"):
        verifier(local.credential, wall())
    local2, _ = _certified_leaf(Certification("JC-STAR", "1", "JCS-1", "2026-01-01"))
    assert verifier(local2.credential, wall()).certification_status == "certified"
    shown = CertificateVerifier([s.root], allowlist=None, role=cred.Role.DEVICE)
    assert shown(local.credential, wall()).certification_status == "none"
    del plain_cert


def test_a_forged_or_older_withdrawal_list_is_refused(tmp_path: Path) -> None:
    s = site()
    path = tmp_path / "withdrawn.json"
    policy = CertificationPolicy(withdrawals=path, issuers=[s.ca])
    path.write_bytes(
        issue_withdrawals(ca_key=s.ca_key, ca_cert=s.ca, entries=[Withdrawal("A", "2026-01-01")], number=2, now=wall())
    )
    assert policy.status(Certification("JC-STAR", "1", "A", "2025-01-01")) == "withdrawn"
    other_key = cred.generate_private_key()
    forged = issue_withdrawals(ca_key=other_key, ca_cert=s.ca, entries=[], number=3, now=wall())
    path.write_bytes(forged)
    os.utime(path, ns=(1, 1))
    assert policy.status(Certification("JC-STAR", "1", "A", "2025-01-01")) == "withdrawn"  # still the old list
    assert policy.rejected is not None and "not signed" in policy.rejected
    path.write_bytes(issue_withdrawals(ca_key=s.ca_key, ca_cert=s.ca, entries=[], number=1, now=wall()))
    os.utime(path, ns=(2, 2))
    assert policy.status(Certification("JC-STAR", "1", "A", "2025-01-01")) == "withdrawn"
    assert policy.rejected is not None and "older" in policy.rejected
