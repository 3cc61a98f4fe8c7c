"""Privacy-aware policy: the policy and its consents speak in the data classes of the spec tables; reading usage data
from a legacy device over plain ECHONET Lite is a consented act, shown with its risk, audited as legacy use."""

from __future__ import annotations

import asyncio
import socket
from pathlib import Path
from typing import Any

import pytest
from session_support import BATTERY, FAST, audit_events, battery, certificate_sides, endpoints, wall

from echonet.aio import DeviceServer
from echonet.node import Node
from echonet.spec.dataclasses_table import DataClass
from secure.errors import PolicyDeniedError, SecureUsageError
from secure.layer.aio import open_secure_controller
from secure.policy.consent import ConsentScope, risk_text
from secure.policy.rules import Policy, PolicyStore
from secure.policy.values import Action, Direction, parse_esvs

LEGACY = "192.0.2.7"
T = 1_800_000_000.0


def run(coro: Any) -> Any:
    return asyncio.run(asyncio.wait_for(coro, 30))


def _policy() -> Policy:
    policy = Policy(protected_reads=["usage"])
    policy.classify_legacy(LEGACY, now=T, version="01 0e 01 00")
    return policy


def test_reading_usage_data_from_a_legacy_device_needs_a_consent_in_data_classes() -> None:
    policy = _policy()
    denied = policy.decide_outgoing(LEGACY, bytes(BATTERY), 0x62, [0x80, 0xE4], now=T, secured=False)
    assert denied.action is Action.DENY and denied.reason == "consent_required"
    assert denied.classes == ("usage",) and denied.audit_fields()["data_classes"] == ["usage"]
    # control, identity and operating data stay readable
    assert policy.decide_outgoing(LEGACY, bytes(BATTERY), 0x62, [0x80, 0x83, 0x88], now=T, secured=False).allowed
    grant = policy.grant(
        ConsentScope(LEGACY, bytes(BATTERY), frozenset({0x62}), classes=frozenset({DataClass.USAGE})),
        now=T,
        duration=600,
        who="tester",
        why="energy report",
        version="01 0e 01 00",
    )
    ok = policy.decide_outgoing(LEGACY, bytes(BATTERY), 0x62, [0xE4, 0xE2], now=T + 1, secured=False)
    assert ok.allowed and ok.consent_id == grant.id and ok.audit_event() == "legacy_use"
    # the grant covers usage data only: a Get that mixes in control data is not covered by it
    mixed = policy.decide_outgoing(LEGACY, bytes(BATTERY), 0x62, [0xE4, 0x80], now=T + 1, secured=False)
    assert not mixed.allowed
    expired = policy.decide_outgoing(LEGACY, bytes(BATTERY), 0x62, [0xE4], now=T + 601, secured=False)
    assert expired.reason == "consent_expired" and expired.consent_id == grant.id
    # INF_REQ is a read too
    assert not policy.decide_outgoing(LEGACY, bytes(BATTERY), 0x63, [0xE4], now=T, secured=False).allowed


def test_without_protected_classes_reads_stay_free_as_before() -> None:
    policy = Policy()
    policy.classify_legacy(LEGACY, now=T, version="01 0e 01 00")
    assert policy.decide_outgoing(LEGACY, bytes(BATTERY), 0x62, [0xE4], now=T, secured=False).allowed


def test_protected_classes_and_class_scopes_persist(tmp_path: Path) -> None:
    store = PolicyStore(tmp_path / "policy.json")
    store.classify_legacy(LEGACY, now=T, version="01 0e 01 00")
    assert store.set_protected_reads(["usage", "operating"]) == {DataClass.USAGE, DataClass.OPERATING}
    store.grant(
        ConsentScope(LEGACY, bytes(BATTERY), frozenset({0x62}), classes=frozenset({DataClass.USAGE})),
        now=T,
        duration=60,
        who="t",
        why="w",
        version="01 0e 01 00",
    )
    again = PolicyStore(tmp_path / "policy.json").current()
    assert again.protected_reads == {DataClass.USAGE, DataClass.OPERATING}
    [grant] = again.grants()
    assert grant.scope.classes == {DataClass.USAGE}
    assert "of usage data" in grant.scope.describe()
    with pytest.raises(SecureUsageError, match="data classes"):
        store.set_protected_reads(["presence"])


def test_a_read_consent_names_its_classes_and_shows_their_risk() -> None:
    with pytest.raises(SecureUsageError, match="names the EPCs or the data classes"):
        ConsentScope(LEGACY, bytes(BATTERY), frozenset({0x62}))
    with pytest.raises(SecureUsageError, match="--class"):
        parse_esvs("Get")
    assert parse_esvs("Get,INF_REQ", reads=True) == {0x62, 0x63}
    scope = ConsentScope(LEGACY, bytes(BATTERY), frozenset({0x62}), classes=frozenset({DataClass.USAGE}))
    text = risk_text(LEGACY, "01 0e 01 00", scope=scope, duration=3600)
    assert "unprotected reads" in text and "reveal when people are at home" in text
    write = ConsentScope(LEGACY, bytes(BATTERY), frozenset({0x61}), frozenset({0xDA}), Direction.OUTGOING)
    assert "control data: anyone on the network can change" in risk_text(LEGACY, "01 0e 01 00", scope=write)


def test_a_secured_controller_refuses_an_unconsented_usage_read_at_once_and_reads_under_consent(
    tmp_path: Path,
) -> None:
    ctl, _ = certificate_sides(tmp_path)
    ctl.policy.set_protected_reads(["usage"])
    legacy_ip = "127.0.65.2"

    async def scenario() -> None:
        legacy = await DeviceServer.open(Node([battery()], config=FAST), endpoints(legacy_ip))
        controller = await open_secure_controller(
            endpoints("127.0.65.1"), ctl.config, node_config=FAST, policy=ctl.policy, audit=ctl.audit, wall_clock=wall
        )
        try:
            addr = legacy.runner.local_addresses[socket.AF_INET][:2]
            ctl.policy.classify_legacy(legacy_ip, now=wall(), version="01 0e 01 00")
            assert (await controller.get(addr, BATTERY, [0x80])).values == {0x80: b"\x30"}
            with pytest.raises(PolicyDeniedError, match="consent_required"):
                await controller.get(addr, BATTERY, [0xE4])
            ctl.policy.grant(
                ConsentScope(legacy_ip, bytes(BATTERY), frozenset({0x62}), classes=frozenset({DataClass.USAGE})),
                now=wall(),
                duration=600,
                who="tester",
                why="monthly energy report",
                version="01 0e 01 00",
            )
            assert (await controller.get(addr, BATTERY, [0xE4])).values == {0xE4: b"\x32"}
        finally:
            await controller.close()
            await legacy.close()

    run(scenario())
    events = audit_events(ctl.audit)
    [denied] = [e["fields"] for e in events if e["event"] == "policy_denied"]
    assert denied["data_classes"] == ["usage"] and denied["esv"] == "Get"
    [use] = [e["fields"] for e in events if e["event"] == "legacy_use"]
    assert use["data_classes"] == ["usage"] and use["epcs"] == ["0xE4"]
