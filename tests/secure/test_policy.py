"""Coexistence policy: default deny, secure forever, legacy read-only, scoped/expiring/revocable consent."""

from __future__ import annotations

import dataclasses
import json
import stat
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from secure import audit
from secure.audit import AuditEvent
from secure.errors import SecureUsageError
from secure.policy.consent import ConsentGrant, ConsentScope, risk_text
from secure.policy.rules import Decision, Policy, PolicyStore
from secure.policy.values import (
    SET_ESVS,
    Action,
    Direction,
    PeerKind,
    describe_version,
    parse_duration,
    parse_eoj,
    parse_epcs,
    parse_esvs,
)

T0 = 1_800_000_000.0
LEGACY = "192.168.1.20"
SECURE = "192.168.1.30"
BATTERY = bytes.fromhex("027d01")
VERSION = "010D0100"
SETI, SETC, GET, INF_REQ, SETGET, INF, INFC = 0x60, 0x61, 0x62, 0x63, 0x6E, 0x73, 0x74


def policy_with_peers() -> Policy:
    policy = Policy()
    policy.enrol_secure(SECURE, now=T0, fingerprint=b"\x11" * 32)
    policy.classify_legacy(LEGACY, now=T0, version=VERSION)
    return policy


def grant_battery(
    policy: Policy, *, epcs: frozenset[int] | None = frozenset({0xDA, 0xEB}), duration: float = 1800
) -> ConsentGrant:
    scope = ConsentScope(peer=LEGACY, eoj=BATTERY, esvs=frozenset({SETC}), epcs=epcs)
    return policy.grant(scope, now=T0, duration=duration, who="alice", why="DR trial", version=VERSION)


# ------------------------------------------------------------------------------------------ unknown peers


@pytest.mark.parametrize("secured", [False, True])
def test_unknown_peer_is_denied_in_both_directions(secured: bool) -> None:
    policy = Policy()
    out = policy.decide_outgoing("192.0.2.99", BATTERY, GET, now=T0, secured=secured)
    inc = policy.decide_incoming("192.0.2.99", INF, now=T0, secured=secured)
    for decision in (out, inc):
        assert decision.action is Action.DENY and not decision.allowed
        assert decision.reason == "unknown_peer"
        assert decision.audit_event() is AuditEvent.POLICY_DENIED


# ---------------------------------------------------------------------------------------- secure forever


def test_plaintext_from_a_secure_peer_is_dropped_as_downgrade_and_audited(tmp_path: Path) -> None:
    policy = policy_with_peers()
    for esv in (GET, INF, SETC, 0x72):
        decision = policy.decide_incoming(SECURE, esv, BATTERY, [0x80], now=T0 + 10, secured=False)
        assert decision.action is Action.DROP
        assert decision.reason == "downgrade"
        assert decision.audit_event() is AuditEvent.DOWNGRADE_DROPPED
    path = tmp_path / "audit.jsonl"
    with audit.AuditLog(path) as log:
        event = decision.audit_event()
        assert event is not None
        log.append(event, decision.audit_fields(), now=T0 + 10)
    record = json.loads(path.read_text())
    assert record["event"] == "downgrade_dropped"
    assert record["fields"]["peer"] == SECURE and record["fields"]["reason"] == "downgrade"


def test_plaintext_to_a_secure_peer_is_denied_without_fallback() -> None:
    policy = policy_with_peers()
    decision = policy.decide_outgoing(SECURE, BATTERY, GET, now=T0, secured=False)
    assert decision.action is Action.DENY and decision.reason == "downgrade"


def test_secured_traffic_with_a_secure_peer_is_allowed() -> None:
    policy = policy_with_peers()
    assert policy.decide_outgoing(SECURE, BATTERY, SETC, [0xDA], now=T0, secured=True).allowed
    assert policy.decide_incoming(SECURE, INF, now=T0, secured=True).allowed


def test_secure_peer_can_never_be_reclassified_legacy() -> None:
    policy = policy_with_peers()
    with pytest.raises(SecureUsageError, match="never downgraded"):
        policy.classify_legacy(SECURE, now=T0 + 1, version=VERSION)
    scope = ConsentScope(peer=SECURE, eoj=BATTERY, esvs=frozenset({SETC}))
    with pytest.raises(SecureUsageError):
        policy.grant(scope, now=T0, duration=60, who="alice", why="x", version=VERSION)
    assert policy.decide_incoming(SECURE, INF, now=T0 + 1, secured=False).action is Action.DROP


def test_secure_is_forever_across_a_restart(tmp_path: Path) -> None:
    path = tmp_path / "policy.json"
    PolicyStore(path).enrol_secure(SECURE, now=T0, fingerprint=b"\x22" * 32)
    restarted = PolicyStore(path)
    assert restarted.current().decide_incoming(SECURE, INF, now=T0 + 9, secured=False).action is Action.DROP
    with pytest.raises(SecureUsageError):
        restarted.classify_legacy(SECURE, now=T0, version=VERSION)


def test_legacy_peer_upgrades_to_secure() -> None:
    policy = policy_with_peers()
    policy.enrol_secure(LEGACY, now=T0 + 5)
    peer = policy.peer(LEGACY)
    assert peer is not None and peer.kind is PeerKind.SECURE
    assert policy.decide_incoming(LEGACY, INF, now=T0 + 6, secured=False).reason == "downgrade"


# ------------------------------------------------------------------------------------------- legacy read-only


@pytest.mark.parametrize("esv", [GET, INF_REQ, INF, INFC])
def test_legacy_peer_allows_reads_and_notifications(esv: int) -> None:
    policy = policy_with_peers()
    out = policy.decide_outgoing(LEGACY, BATTERY, esv, now=T0, secured=False)
    inc = policy.decide_incoming(LEGACY, esv, now=T0, secured=False)
    assert out.allowed and inc.allowed
    assert out.consent_id is None and out.audit_event() is None


@pytest.mark.parametrize("esv", [0x71, 0x72, 0x7A, 0x7E, 0x51, 0x52])
def test_legacy_responses_are_allowed(esv: int) -> None:
    assert policy_with_peers().decide_incoming(LEGACY, esv, now=T0, secured=False).allowed


@pytest.mark.parametrize("esv", [SETI, SETC, SETGET])
def test_legacy_peer_is_read_only_without_consent(esv: int) -> None:
    policy = policy_with_peers()
    decision = policy.decide_outgoing(LEGACY, BATTERY, esv, [0xDA], now=T0, secured=False)
    assert decision.action is Action.DENY and decision.reason == "consent_required"
    assert decision.audit_event() is AuditEvent.POLICY_DENIED
    incoming = policy.decide_incoming(LEGACY, esv, BATTERY, [0xDA], now=T0, secured=False)
    assert incoming.action is Action.DENY and incoming.reason == "consent_required"


@pytest.mark.parametrize("esv", [0x00, 0x64, 0x6F, 0x7F, 0xFF])
def test_unknown_esv_to_a_legacy_peer_is_denied(esv: int) -> None:
    decision = policy_with_peers().decide_outgoing(LEGACY, BATTERY, esv, now=T0, secured=False)
    assert decision.action is Action.DENY and decision.reason == "unknown_esv"


def test_secured_frame_from_a_legacy_peer_is_denied() -> None:
    decision = policy_with_peers().decide_incoming(LEGACY, INF, now=T0, secured=True)
    assert decision.action is Action.DENY and decision.reason == "not_enrolled_secure"


# --------------------------------------------------------------------------------------------------- consent


def test_consent_allows_the_scoped_write_and_names_itself() -> None:
    policy = policy_with_peers()
    grant = grant_battery(policy)
    decision = policy.decide_outgoing(LEGACY, BATTERY, SETC, [0xDA, 0xEB], now=T0 + 1, secured=False)
    assert decision.allowed and decision.reason == "consent"
    assert decision.consent_id == grant.id
    assert decision.audit_event() is AuditEvent.LEGACY_USE
    assert decision.audit_fields()["consent_id"] == grant.id


def test_consent_is_scoped_to_its_epcs() -> None:
    policy = policy_with_peers()
    grant_battery(policy)
    assert policy.decide_outgoing(LEGACY, BATTERY, SETC, [0xDA], now=T0 + 1, secured=False).allowed
    outside = policy.decide_outgoing(LEGACY, BATTERY, SETC, [0xDA, 0xC1], now=T0 + 1, secured=False)
    assert not outside.allowed and outside.reason == "consent_required"


def test_consent_is_scoped_to_its_eoj() -> None:
    policy = policy_with_peers()
    grant_battery(policy)
    for eoj in ("027D02", "026B01", "027D00"):
        assert not policy.decide_outgoing(LEGACY, parse_eoj(eoj), SETC, [0xDA], now=T0 + 1, secured=False).allowed


def test_consent_is_scoped_to_its_peer() -> None:
    policy = policy_with_peers()
    policy.classify_legacy("192.168.1.21", now=T0, version=VERSION)
    grant_battery(policy)
    decision = policy.decide_outgoing("192.168.1.21", BATTERY, SETC, [0xDA], now=T0 + 1, secured=False)
    assert not decision.allowed


def test_consent_is_scoped_to_its_esv() -> None:
    policy = policy_with_peers()
    grant_battery(policy)
    assert not policy.decide_outgoing(LEGACY, BATTERY, SETI, [0xDA], now=T0 + 1, secured=False).allowed
    assert not policy.decide_outgoing(LEGACY, BATTERY, SETGET, [0xDA], now=T0 + 1, secured=False).allowed


def test_consent_is_scoped_to_its_direction() -> None:
    policy = policy_with_peers()
    grant_battery(policy)
    incoming = policy.decide_incoming(LEGACY, SETC, BATTERY, [0xDA], now=T0 + 1, secured=False)
    assert not incoming.allowed
    scope = ConsentScope(peer=LEGACY, eoj=BATTERY, esvs=frozenset({SETC}), direction=Direction.INCOMING)
    policy.grant(scope, now=T0, duration=60, who="alice", why="let the HEMS write", version=VERSION)
    assert policy.decide_incoming(LEGACY, SETC, BATTERY, [0xDA], now=T0 + 1, secured=False).allowed


def test_consent_without_epc_list_covers_every_epc_of_its_esvs() -> None:
    policy = policy_with_peers()
    grant_battery(policy, epcs=None)
    assert policy.decide_outgoing(LEGACY, BATTERY, SETC, [0x80, 0xDA, 0xFF], now=T0 + 1, secured=False).allowed


def test_consent_expires_at_the_exact_boundary() -> None:
    policy = policy_with_peers()
    grant = grant_battery(policy, duration=1800)
    assert grant.expires_at == T0 + 1800
    assert policy.decide_outgoing(LEGACY, BATTERY, SETC, [0xDA], now=T0, secured=False).allowed
    just_before = policy.decide_outgoing(LEGACY, BATTERY, SETC, [0xDA], now=T0 + 1799.999, secured=False)
    assert just_before.allowed
    at = policy.decide_outgoing(LEGACY, BATTERY, SETC, [0xDA], now=T0 + 1800, secured=False)
    assert not at.allowed and at.reason == "consent_expired" and at.consent_id == grant.id
    assert not policy.decide_outgoing(LEGACY, BATTERY, SETC, [0xDA], now=T0 + 1801, secured=False).allowed


def test_an_expired_consent_is_denied_as_expired_naming_itself_not_an_older_revoked_grant() -> None:
    policy = policy_with_peers()
    old = grant_battery(policy)
    policy.revoke(old.id, now=T0 + 10, who="bob", why="replaced")
    scope = ConsentScope(peer=LEGACY, eoj=BATTERY, esvs=frozenset({SETC}), epcs=frozenset({0xDA}))
    newer = policy.grant(scope, now=T0 + 20, duration=60, who="alice", why="again", version=VERSION)
    decision = policy.decide_outgoing(LEGACY, BATTERY, SETC, [0xDA], now=T0 + 100, secured=False)
    assert not decision.allowed
    assert (decision.reason, decision.consent_id) == ("consent_expired", newer.id)
    assert decision.audit_fields()["reason"] == "consent_expired"


def test_consent_is_not_valid_before_it_was_granted() -> None:
    policy = policy_with_peers()
    grant_battery(policy)
    assert not policy.decide_outgoing(LEGACY, BATTERY, SETC, [0xDA], now=T0 - 1, secured=False).allowed


def test_revocation_is_effective_at_once() -> None:
    policy = policy_with_peers()
    grant = grant_battery(policy)
    assert policy.decide_outgoing(LEGACY, BATTERY, SETC, [0xDA], now=T0 + 10, secured=False).allowed
    revoked = policy.revoke(grant.id, now=T0 + 10, who="bob", why="trial over")
    assert revoked.revoked_at == T0 + 10 and revoked.revoked_by == "bob"
    decision = policy.decide_outgoing(LEGACY, BATTERY, SETC, [0xDA], now=T0 + 10, secured=False)
    assert not decision.allowed and decision.reason == "consent_revoked"
    # Revoked is revoked, whatever the clock says afterwards.
    assert not policy.decide_outgoing(LEGACY, BATTERY, SETC, [0xDA], now=T0 + 5, secured=False).allowed
    with pytest.raises(SecureUsageError, match="already revoked"):
        policy.revoke(grant.id, now=T0 + 11, who="bob")


def test_revoking_one_grant_leaves_another_active() -> None:
    policy = policy_with_peers()
    first = grant_battery(policy)
    second = grant_battery(policy, epcs=frozenset({0xDA}))
    policy.revoke(first.id, now=T0 + 1, who="bob")
    decision = policy.decide_outgoing(LEGACY, BATTERY, SETC, [0xDA], now=T0 + 2, secured=False)
    assert decision.allowed and decision.consent_id == second.id


def test_grant_records_who_when_why_and_the_version_shown() -> None:
    policy = policy_with_peers()
    grant = grant_battery(policy)
    assert grant.granted_by == "alice" and grant.why == "DR trial"
    assert grant.granted_at == T0
    assert grant.device_version == "ECHONET Lite Ver. 1.13 (specified message format)"
    assert grant in policy.grants()
    assert policy.grants(now=T0 + 1, active_only=True) == (grant,)
    assert policy.grants(now=T0 + 1800, active_only=True) == ()


def test_grant_classifies_an_unknown_peer_as_legacy() -> None:
    policy = Policy()
    scope = ConsentScope(peer="192.0.2.5", eoj=BATTERY, esvs=frozenset({SETC}))
    policy.grant(scope, now=T0, duration=60, who="alice", why="x", version="Ver. 1.12")
    peer = policy.peer("192.0.2.5")
    assert peer is not None and peer.kind is PeerKind.LEGACY and peer.version == "Ver. 1.12"


@pytest.mark.parametrize(
    ("duration", "who", "why"),
    [(0, "alice", "x"), (-5, "alice", "x"), (8 * 86400, "alice", "x"), (60, "", "x"), (60, "alice", " ")],
)
def test_grant_must_be_time_limited_and_attributed(duration: float, who: str, why: str) -> None:
    policy = policy_with_peers()
    scope = ConsentScope(peer=LEGACY, eoj=BATTERY, esvs=frozenset({SETC}))
    with pytest.raises(SecureUsageError):
        policy.grant(scope, now=T0, duration=duration, who=who, why=why, version=VERSION)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"esvs": frozenset({GET})},
        {"esvs": frozenset()},
        {"epcs": frozenset({0x10})},
        {"epcs": frozenset()},
        {"eoj": b"\x02\x7d"},
        {"peer": "not-an-ip"},
    ],
)
def test_bad_consent_scopes_are_refused(kwargs: dict[str, object]) -> None:
    base: dict[str, object] = {"peer": LEGACY, "eoj": BATTERY, "esvs": frozenset({SETC})}
    base.update(kwargs)
    with pytest.raises(SecureUsageError):
        ConsentScope(**base)  # type: ignore[arg-type]


def test_peer_addresses_are_normalised() -> None:
    policy = Policy()
    policy.classify_legacy("fe80:0:0::1", now=T0, version=VERSION)
    assert policy.decide_outgoing("FE80::1", BATTERY, GET, now=T0, secured=False).allowed


def test_decision_is_a_frozen_value() -> None:
    decision = policy_with_peers().decide_outgoing(LEGACY, BATTERY, GET, now=T0, secured=False)
    assert isinstance(decision, Decision)
    with pytest.raises(dataclasses.FrozenInstanceError):
        decision.reason = "other"  # type: ignore[misc]


def test_decision_audit_fields_pass_the_secret_guard() -> None:
    policy = policy_with_peers()
    grant_battery(policy)
    decision = policy.decide_outgoing(LEGACY, BATTERY, SETC, [0xDA], now=T0 + 1, secured=False)
    fields = audit.check_fields(decision.audit_fields())
    assert fields["eoj"] == "027d01" and fields["epcs"] == ["0xDA"] and fields["esv"] == "SetC"


# ----------------------------------------------------------------------------------------------- persistence


def test_consent_grants_persist_privately_and_revocation_reaches_a_running_node(tmp_path: Path) -> None:
    path = tmp_path / "node" / "policy.json"
    log_path = tmp_path / "node" / "audit.jsonl"
    running = PolicyStore(path)
    with audit.AuditLog(log_path) as log:
        cli = PolicyStore(path, audit=log)
        scope = ConsentScope(peer=LEGACY, eoj=BATTERY, esvs=frozenset({SETC}), epcs=frozenset({0xDA}))
        grant = cli.grant(scope, now=T0, duration=600, who="alice", why="DR", version=VERSION)
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        assert running.current().decide_outgoing(LEGACY, BATTERY, SETC, [0xDA], now=T0 + 1, secured=False).allowed
        PolicyStore(path, audit=log).revoke(grant.id[:6], now=T0 + 2, who="bob", why="done")
    assert not running.current().decide_outgoing(LEGACY, BATTERY, SETC, [0xDA], now=T0 + 2, secured=False).allowed
    reloaded = PolicyStore(path).current().grants()
    assert len(reloaded) == 1 and reloaded[0].revoked_by == "bob" and reloaded[0].scope == scope
    events = [json.loads(line)["event"] for line in log_path.read_text().splitlines()]
    assert events == ["consent_granted", "consent_revoked"]
    assert audit.verify(log_path).ok


def test_corrupt_policy_file_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "policy.json"
    path.write_text('{"version": 1, "peers": [{"address": "x"}], "grants": []}')
    with pytest.raises(SecureUsageError, match="not a valid policy"):
        PolicyStore(path)


@given(
    epcs_granted=st.frozensets(st.integers(0x80, 0xFF), min_size=1, max_size=5),
    esvs_granted=st.frozensets(st.sampled_from(sorted(SET_ESVS)), min_size=1),
    epcs_asked=st.frozensets(st.integers(0x80, 0xFF), max_size=5),
    esv_asked=st.sampled_from(sorted(SET_ESVS)),
    instance=st.integers(0, 3),
    offset=st.floats(-10, 2000),
)
def test_write_allowed_exactly_when_covered_and_active(
    epcs_granted: frozenset[int],
    esvs_granted: frozenset[int],
    epcs_asked: frozenset[int],
    esv_asked: int,
    instance: int,
    offset: float,
) -> None:
    policy = policy_with_peers()
    scope = ConsentScope(peer=LEGACY, eoj=BATTERY, esvs=esvs_granted, epcs=epcs_granted)
    policy.grant(scope, now=T0, duration=1000, who="a", why="b", version=VERSION)
    eoj = bytes([0x02, 0x7D, instance])
    decision = policy.decide_outgoing(LEGACY, eoj, esv_asked, epcs_asked, now=T0 + offset, secured=False)
    expected = (
        eoj == BATTERY and esv_asked in esvs_granted and epcs_asked <= epcs_granted and T0 <= T0 + offset < T0 + 1000
    )
    assert decision.allowed == expected


# ----------------------------------------------------------------------------------------- parsing and text


def test_risk_text_warns_about_no_authentication_no_encryption_and_closed_networks() -> None:
    scope = ConsentScope(peer=LEGACY, eoj=BATTERY, esvs=frozenset({SETC}), epcs=frozenset({0xDA}))
    text = risk_text(LEGACY, VERSION, scope=scope, duration=1800)
    lowered = text.lower()
    assert LEGACY in text
    assert "ECHONET Lite Ver. 1.13" in text
    assert "no authentication" in lowered and "no encryption" in lowered
    assert "anyone" in lowered and "read" in lowered and "forge" in lowered
    assert "closed" in lowered and "do not assume" in lowered
    assert "30m" in text and "027D01" in text and "0xDA" in text


def test_describe_version_of_node_profile_0x82() -> None:
    assert describe_version(bytes([1, 13, 1, 0])) == "ECHONET Lite Ver. 1.13 (specified message format)"
    assert describe_version("01 0E 03 00") == ("ECHONET Lite Ver. 1.14 (specified and arbitrary message formats)")
    assert describe_version("Ver. 1.12 (from the label)") == "Ver. 1.12 (from the label)"
    with pytest.raises(SecureUsageError):
        describe_version("")


def test_describe_version_reads_the_bytes_through_the_spec_and_keeps_its_inputs_and_errors() -> None:
    from echonet.spec.identity import PROTOCOL_VERSION

    # the spec refuses these in a Set (reserved bits, a 4th byte other than 0x00), and they still describe
    assert PROTOCOL_VERSION.check(bytes([1, 14, 0xFD, 7])) is not None
    assert describe_version(bytes([1, 14, 0xFD, 7])) == "ECHONET Lite Ver. 1.14 (specified message format)"
    assert describe_version("0x01010000") == "ECHONET Lite Ver. 1.1 (no message format)"
    for wrong in (b"", bytes([1, 14, 1]), bytes(5)):
        with pytest.raises(SecureUsageError, match=r"^node profile 0x82 is 4 bytes$"):
            describe_version(wrong)
    with pytest.raises(SecureUsageError, match="1-200 printable characters"):
        describe_version("x" * 201)


def test_parsers_for_the_cli() -> None:
    assert parse_esvs("SetC,seti") == frozenset({SETC, SETI})
    assert parse_esvs("0x6E") == frozenset({SETGET})
    with pytest.raises(SecureUsageError):
        parse_esvs("Get")
    assert parse_epcs("0xDA, eb") == frozenset({0xDA, 0xEB})
    with pytest.raises(SecureUsageError):
        parse_epcs("0x7F")
    assert parse_eoj("0x027D01") == BATTERY and parse_eoj(0x027D01) == BATTERY
    assert parse_duration("30m") == 1800 and parse_duration("1h30m") == 5400 and parse_duration("1d") == 86400
    for bad in ("", "30", "m", "0m", "1w"):
        with pytest.raises(SecureUsageError):
            parse_duration(bad)
