"""The secure layer end to end over real UDP on loopback: a controller and a battery pair with EDHOC and talk
OSCORE-protected ECHONET Lite; downgrades, replays, forgeries, unknown peers and floods are refused and audited."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from session_support import (
    BATTERY,
    FAST,
    RawPeer,
    audit_events,
    battery,
    certificate_sides,
    device_node,
    endpoints,
    secured_pair,
    static_dh_sides,
    wall,
)

import secure.layer.core as layer_core
from echonet.aio import DeviceServer
from echonet.codec import encode
from echonet.frame import EOJ, ESV, Frame, Property
from echonet.node import Node
from secure import audit as audit_mod
from secure.errors import PolicyDeniedError, SecureSessionError
from secure.handshake.edhoc import Initiator, Responder
from secure.handshake.messages import Method
from secure.layer.core import SecureLayer
from secure.policy.consent import ConsentScope
from secure.policy.values import Direction
from secure.records.framing import CookieRecord, HandshakeRecord, decode, encode_cookie, encode_handshake
from secure.records.oscore import KeyLimits, SecurityContext, derive_keys

CONTROLLER_EOJ = EOJ(0x05, 0xFF, 0x01)


def run(coro: Any) -> Any:
    return asyncio.run(asyncio.wait_for(coro, 30))


class ContextSpy:
    """Records the OSCORE inputs of every context the layer derives (to prove they never reach the audit log)."""

    def __init__(self) -> None:
        self.secrets: list[bytes] = []

    def install(self, monkeypatch: pytest.MonkeyPatch) -> None:
        spy = self

        class Spied(SecurityContext):
            __slots__ = ()

            def __init__(self, master_secret: bytes, master_salt: bytes = b"", **kwargs: Any) -> None:
                keys = derive_keys(
                    master_secret,
                    master_salt,
                    kwargs["sender_id"],
                    kwargs["recipient_id"],
                    kwargs.get("id_context"),
                    kwargs.get("alg", 10),
                )
                spy.secrets += [master_secret, master_salt, keys.sender_key, keys.recipient_key, keys.common_iv]
                super().__init__(master_secret, master_salt, **kwargs)

        monkeypatch.setattr(layer_core, "SecurityContext", Spied)


class ResponderSpy:
    """Counts the responder's public-key work (message_1 processed, message_2 created)."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.created = 0
        self.message_2 = 0
        spy = self

        class Spied(Responder):
            def __init__(self, **kwargs: Any) -> None:
                spy.created += 1
                super().__init__(**kwargs)

            def create_message_2(self, **kwargs: Any) -> bytes:
                spy.message_2 += 1
                return super().create_message_2(**kwargs)

        monkeypatch.setattr(layer_core, "Responder", Spied)


class Tap:
    """Keeps a copy of every datagram a layer sends."""

    def __init__(self, layer: SecureLayer) -> None:
        self.sent: list[tuple[bytes, Any]] = []
        original = layer.datagrams_to_send

        def tapped(now: float) -> list[tuple[bytes, Any]]:
            out = original(now)
            self.sent.extend(out)
            return out

        layer.datagrams_to_send = tapped  # type: ignore[method-assign]

    def data_records(self) -> list[bytes]:
        return [d for d, _ in self.sent if d[:2] == b"\x21\x03"]


def _hex_of_private_keys(*creds: Any) -> list[str]:
    out = []
    for local in creds:
        raw = local.private_key.private_bytes(
            serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
        out.append(raw.hex()[-64:])  # the private scalar sits at the end of a PKCS#8 P-256 key without public key
        out.append(local.private_key.private_numbers().private_value.to_bytes(32, "big").hex())
    return out


@pytest.fixture
def tmp(tmp_path: Path) -> Iterator[Path]:
    yield tmp_path


def test_controller_gets_and_sets_a_battery_over_a_method_0_certificate_session(
    tmp: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    spy = ContextSpy()
    spy.install(monkeypatch)
    ctl, dev = certificate_sides(tmp)

    async def scenario() -> None:
        async with secured_pair(ctl, dev, "127.0.61.1", "127.0.61.2") as pair:
            tap = Tap(pair.controller.layer)
            got = await pair.controller.get(pair.device_addr, BATTERY, [0x80, 0xE4])
            assert got.values == {0x80: b"\x30", 0xE4: b"\x32"}
            result = await pair.controller.set(pair.device_addr, BATTERY, {0xDA: b"\x42"})
            assert result.ok
            assert (await pair.controller.get(pair.device_addr, BATTERY, [0xDA])).values[0xDA] == b"\x42"
            assert pair.controller.peer_status("127.0.61.2") == "secure"
            info = pair.controller.layer.session_info("127.0.61.2")
            assert info is not None and info["identity_checked"]
            assert info["id_number"] == "fe00007b0102030405060708090a0b0c0d"
            # Nothing left the controller in plain: every datagram was a secured record.
            assert tap.sent and all(d[0] == 0x21 for d, _ in tap.sent)
            assert pair.device.node.stats.received == pair.device.layer.stats.unprotected

    run(scenario())
    for side, role in ((ctl, "initiator"), (dev, "responder")):
        events = audit_events(side.audit)
        assert any(e["event"] == "handshake_ok" and e["fields"]["role"] == role for e in events)
        assert audit_mod.verify(side.audit.path).ok
        text = side.audit.path.read_text().lower()
        assert spy.secrets
        for secret in spy.secrets:
            assert secret.hex() not in text
        for private in _hex_of_private_keys(ctl.local, dev.local):
            assert private not in text
    assert any(e["event"] == "identity_checked" for e in audit_events(ctl.audit))


def test_controller_reads_a_battery_over_a_method_3_static_dh_session(tmp: Path) -> None:
    ctl, dev = static_dh_sides(tmp)

    async def scenario() -> None:
        async with secured_pair(ctl, dev, "127.0.61.3", "127.0.61.4") as pair:
            got = await pair.controller.get(pair.device_addr, BATTERY, [0xE4])
            assert got.values == {0xE4: b"\x32"}

    run(scenario())
    [ok] = [e for e in audit_events(dev.audit) if e["event"] == "handshake_ok"]
    assert ok["fields"]["method"] == int(Method.STATIC_STATIC)


def test_plaintext_from_a_peer_enrolled_as_secure_is_dropped_and_audited(tmp: Path) -> None:
    ctl, dev = certificate_sides(tmp)

    async def scenario() -> None:
        async with secured_pair(ctl, dev, "127.0.61.5", "127.0.61.6") as pair:
            await pair.controller.get(pair.device_addr, BATTERY, [0x80])
            received_before = pair.device.node.stats.received
            # The controller's IP now sends plaintext (a downgrade attempt from another port of that host).
            raw = RawPeer("127.0.61.5")
            plain = encode(Frame.make(7, CONTROLLER_EOJ, BATTERY, ESV.SETC, [Property(0xDA, b"\x43")]))
            raw.send(plain, pair.device_addr)
            replies = await raw.collect()
            raw.close()
            assert replies == []
            assert pair.device.layer.stats.downgrade_dropped == 1
            assert pair.device.node.stats.received == received_before  # the node never saw it
            assert pair.device.node.object(BATTERY).value(0xDA) == b"\x44"  # type: ignore[union-attr]

    run(scenario())
    [dropped] = [e for e in audit_events(dev.audit) if e["event"] == "downgrade_dropped"]
    assert dropped["fields"]["peer"] == "127.0.61.5"


def test_replayed_and_tampered_records_are_refused_and_audited(tmp: Path) -> None:
    ctl, dev = certificate_sides(tmp)

    async def scenario() -> None:
        async with secured_pair(ctl, dev, "127.0.61.7", "127.0.61.8") as pair:
            tap = Tap(pair.controller.layer)
            await pair.controller.set(pair.device_addr, BATTERY, {0xDA: b"\x42"})
            record = tap.data_records()[-1]  # the Set (the identity check went first)
            await pair.controller.set(pair.device_addr, BATTERY, {0xDA: b"\x41"})
            handled = pair.device.node.stats.received
            raw = RawPeer("127.0.61.7")
            raw.send(record, pair.device_addr)  # replay of the first Set
            tampered = bytearray(record)
            tampered[-1] ^= 0x01  # a tampered copy: its partial IV was used, so the window refuses it first
            raw.send(bytes(tampered), pair.device_addr)
            assert await raw.collect() == []
            raw.close()
            assert pair.device.layer.stats.replays == 2
            assert pair.device.node.stats.received == handled
            assert pair.device.node.object(BATTERY).value(0xDA) == b"\x41"  # type: ignore[union-attr]
            # A forged record with a fresh partial IV reaches the AEAD and fails there.
            forged = bytearray(record)
            forged[3] = 0x7F  # partial IV 127, never used
            raw = RawPeer("127.0.61.7")
            raw.send(bytes(forged), pair.device_addr)
            await raw.collect()
            raw.close()
            assert pair.device.layer.stats.integrity_failures == 1
            # The session is unharmed.
            assert (await pair.controller.get(pair.device_addr, BATTERY, [0xDA])).values[0xDA] == b"\x41"

    run(scenario())
    events = audit_events(dev.audit)
    assert [e["fields"]["reason"] for e in events if e["event"] == "replay"] == ["replay", "replay"]
    assert [e["fields"]["reason"] for e in events if e["event"] == "integrity_failure"] == ["integrity"]
    assert audit_mod.verify(dev.audit.path).ok


def _message_1(ctl_local: Any) -> bytes:
    initiator = Initiator(method=Method.SIG_SIG, credential=ctl_local, verify_peer=lambda cred: None)
    return initiator.create_message_1(c_i=b"\x05")


def test_unknown_peer_gets_a_cookie_before_any_public_key_work_and_at_most_3x_its_bytes(
    tmp: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    spy = ResponderSpy(monkeypatch)
    ctl, dev = certificate_sides(tmp)

    async def scenario() -> None:
        server = await session_module_open_server(dev, "127.0.61.10")
        try:
            addr = server.runner.local_addresses[socket.AF_INET][:2]
            attacker = RawPeer("127.0.61.11")
            message_1 = _message_1(ctl.local)
            attacker.send(encode_handshake(b"", message_1), addr)
            [challenge] = await attacker.collect()
            record = decode(challenge)
            assert isinstance(record, CookieRecord) and record.payload == b""
            assert spy.created == 0 and spy.message_2 == 0 and server.layer.stats.responder_runs == 0
            assert attacker.bytes_received <= 3 * attacker.sent
            # A forged cookie buys nothing either.
            attacker.send(encode_cookie(b"\x00" * 17, message_1), addr)
            assert await attacker.collect() == []
            assert spy.created == 0 and server.layer.stats.cookies_rejected == 1
            # Echoing the real cookie proves the address: now the responder does the work and answers.
            attacker.send(encode_cookie(record.cookie, message_1), addr)
            [answer] = await attacker.collect()
            assert isinstance(decode(answer), HandshakeRecord)
            assert spy.message_2 == 1
            attacker.close()
        finally:
            await server.close()

    run(scenario())
    assert any(e["fields"].get("reason") == "bad-cookie" for e in audit_events(dev.audit))


async def session_module_open_server(side: Any, ip: str) -> Any:
    from secure.layer.aio import open_secure_server

    return await open_secure_server(
        device_node(), endpoints(ip), side.config, policy=side.policy, audit=side.audit, wall_clock=wall
    )


def test_flood_of_message_1_is_cut_by_the_per_source_token_bucket(tmp: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    spy = ResponderSpy(monkeypatch)
    ctl, dev = certificate_sides(tmp, source_burst=5.0, source_rate=0.01)  # refills are negligible here

    async def scenario() -> None:
        server = await session_module_open_server(dev, "127.0.61.12")
        try:
            addr = server.runner.local_addresses[socket.AF_INET][:2]
            attacker = RawPeer("127.0.61.13")
            message_1 = _message_1(ctl.local)
            for _ in range(40):
                attacker.send(encode_handshake(b"", message_1), addr)
            stats = server.layer.stats
            for _ in range(100):  # wait until the layer has seen all 40 (the machine may be busy)
                if stats.rate_limited + stats.cookies_sent >= 40:
                    break
                await asyncio.sleep(0.05)
            answers = await attacker.collect()
            assert stats.rate_limited + stats.cookies_sent == 40
            assert len(answers) == stats.cookies_sent <= 6  # the bucket (5, plus a refill at most) answered
            assert stats.rate_limited >= 34
            assert spy.created == 0
            assert attacker.bytes_received <= 3 * attacker.sent
            # Another source is not starved by the first one's flood.
            other = RawPeer("127.0.61.14")
            other.send(encode_handshake(b"", message_1), addr)
            assert len(await other.collect()) == 1
            attacker.close()
            other.close()
        finally:
            await server.close()

    run(scenario())


def test_traffic_continues_across_a_rekey_at_the_encryption_limit(tmp: Path) -> None:
    ctl, dev = certificate_sides(tmp, limits=KeyLimits(limit_q=12, rekey_margin=0.25))

    async def scenario() -> None:
        async with secured_pair(ctl, dev, "127.0.61.15", "127.0.61.16") as pair:
            for i in range(30):
                value = bytes((0x41 + i % 3,))
                assert (await pair.controller.set(pair.device_addr, BATTERY, {0xDA: value})).ok
            assert pair.controller.layer.stats.rekeys >= 2
            assert pair.device.layer.stats.rekeys >= 2
            assert pair.controller.layer.stats.handshakes_failed == 0

    run(scenario())
    rekeys = [e for e in audit_events(ctl.audit) if e["event"] == "rekey"]
    assert rekeys and all(e["fields"]["reason"] in ("encryption-limit", "peer-requested") for e in rekeys)


def test_session_is_rekeyed_after_its_configured_age(tmp: Path) -> None:
    ctl, dev = certificate_sides(tmp, limits=KeyLimits(max_age=0.3))

    async def scenario() -> None:
        async with secured_pair(ctl, dev, "127.0.61.17", "127.0.61.18") as pair:
            await pair.controller.get(pair.device_addr, BATTERY, [0x80])
            await asyncio.sleep(0.5)
            await pair.controller.get(pair.device_addr, BATTERY, [0x80])
            assert pair.controller.layer.stats.rekeys >= 1

    run(scenario())
    assert any(e["event"] == "rekey" and e["fields"]["reason"] == "age" for e in audit_events(ctl.audit))


def test_legacy_device_is_read_only_until_a_scoped_consent_and_again_after_revocation(tmp: Path) -> None:
    ctl, _ = certificate_sides(tmp)
    legacy_ip = "127.0.61.20"

    async def scenario() -> None:
        from secure.layer.aio import open_secure_controller

        legacy = await DeviceServer.open(Node([battery()], config=FAST), endpoints(legacy_ip))
        controller = await open_secure_controller(
            endpoints("127.0.61.19"), ctl.config, node_config=FAST, policy=ctl.policy, audit=ctl.audit, wall_clock=wall
        )
        try:
            addr = legacy.runner.local_addresses[socket.AF_INET][:2]
            ctl.policy.classify_legacy(legacy_ip, now=wall(), version="01 0e 01 00")
            assert controller.peer_status(legacy_ip) == "legacy"
            assert (await controller.get(addr, BATTERY, [0xE4])).values == {0xE4: b"\x32"}
            with pytest.raises(PolicyDeniedError, match="consent_required"):
                await controller.set(addr, BATTERY, {0xDA: b"\x42"})
            grant = ctl.policy.grant(
                ConsentScope(legacy_ip, bytes(BATTERY), frozenset({0x61}), frozenset({0xDA}), Direction.OUTGOING),
                now=wall(),
                duration=600,
                who="tester",
                why="test",
                version="01 0e 01 00",
            )
            assert (await controller.set(addr, BATTERY, {0xDA: b"\x42"})).ok
            with pytest.raises(PolicyDeniedError):  # outside the scope: another EPC
                await controller.set(addr, BATTERY, {0x80: b"\x31"})
            ctl.policy.revoke(grant.id, now=wall(), who="tester")
            with pytest.raises(PolicyDeniedError, match="consent_revoked"):
                await controller.set(addr, BATTERY, {0xDA: b"\x41"})
            assert legacy.node.object(BATTERY).value(0xDA) == b"\x42"  # type: ignore[union-attr]
        finally:
            await controller.close()
            await legacy.close()

    run(scenario())
    events = audit_events(ctl.audit)
    assert [e["fields"]["reason"] for e in events if e["event"] == "policy_denied"] == [
        "consent_required",
        "consent_required",
        "consent_revoked",
    ]
    assert [e["event"] for e in events].count("legacy_use") == 1


def test_device_whose_node_profile_id_differs_from_its_certificate_is_refused(tmp: Path) -> None:
    ctl, dev = certificate_sides(tmp, identity_timeout=1.0)
    impostor_id = bytes.fromhex("fe00007b" + "ee" * 13)

    async def scenario() -> None:
        async with secured_pair(ctl, dev, "127.0.61.21", "127.0.61.22", node=lambda: device_node(impostor_id)) as pair:
            with pytest.raises(SecureSessionError, match="identity cross-check failed"):
                await pair.controller.get(pair.device_addr, BATTERY, [0x80], timeout=0.5)
            assert pair.controller.layer.stats.identity_mismatches >= 1
            assert not pair.controller.layer.has_session("127.0.61.22")

    run(scenario())
    assert any(
        e["event"] == "handshake_failed" and e["fields"]["reason"] == "binding-mismatch"
        for e in audit_events(ctl.audit)
    )


def test_device_not_on_the_allow_list_fails_the_handshake_and_nothing_is_sent_in_plain(tmp: Path) -> None:
    ctl, dev = certificate_sides(tmp)
    ctl.allowlist.remove(ctl.allowlist.entries()[0].fingerprint, now=wall())

    async def scenario() -> None:
        async with secured_pair(ctl, dev, "127.0.61.23", "127.0.61.24") as pair:
            tap = Tap(pair.controller.layer)
            with pytest.raises(SecureSessionError, match="allow-list"):
                await pair.controller.get(pair.device_addr, BATTERY, [0x80], timeout=0.4)
            assert all(d[0] == 0x21 for d, _ in tap.sent)
            assert pair.controller.layer.stats.handshakes_failed >= 1
            assert pair.device.node.stats.received == 0

    run(scenario())
    failures = [e for e in audit_events(ctl.audit) if e["event"] == "handshake_failed"]
    assert failures and "allow-list" in failures[0]["fields"]["reason"]


def test_conformance_checker_reports_the_overlay_of_a_secured_device_and_not_of_a_legacy_one(tmp: Path) -> None:
    from echonet.drready.checker import probe_overlay

    _, dev = certificate_sides(tmp)

    async def scenario() -> None:
        secured = await session_module_open_server(dev, "127.0.61.25")
        legacy = await DeviceServer.open(Node([battery()], config=FAST), endpoints("127.0.61.26"))
        try:
            on = await probe_overlay(secured.runner.local_addresses[socket.AF_INET][:2], wait=1.0, bind="127.0.61.27")
            off = await probe_overlay(legacy.runner.local_addresses[socket.AF_INET][:2], wait=0.3, bind="127.0.61.27")
            assert on.offered is True and "cookie" in on.detail
            assert off.offered is not True
            assert secured.layer.stats.cookies_sent == 1 and secured.layer.stats.responder_runs == 0
        finally:
            await secured.close()
            await legacy.close()

    run(scenario())


def _ipv6_loopback() -> bool:
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_DGRAM) as probe:
            probe.bind(("::1", 0))
    except OSError:
        return False
    return True


@pytest.mark.skipif(not _ipv6_loopback(), reason="no IPv6 loopback here")
def test_controller_reads_a_battery_securely_over_ipv6(tmp: Path) -> None:
    from echonet.aio import Endpoints
    from secure.layer.aio import open_secure_controller, open_secure_server

    ctl, dev = certificate_sides(tmp)

    async def scenario() -> None:
        ep = Endpoints(bind_v4=None, bind_v6="::1", port=0, join_multicast=False)
        device = await open_secure_server(
            device_node(), ep, dev.config, policy=dev.policy, audit=dev.audit, wall_clock=wall
        )
        controller = await open_secure_controller(
            ep, ctl.config, node_config=FAST, policy=ctl.policy, audit=ctl.audit, wall_clock=wall
        )
        try:
            addr = device.runner.local_addresses[socket.AF_INET6][:2]
            assert (await controller.get(addr, BATTERY, [0xE4])).values == {0xE4: b"\x32"}
            assert controller.peer_status("::1") == "secure"
        finally:
            await controller.close()
            await device.close()

    run(scenario())
