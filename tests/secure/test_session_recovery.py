"""Dead sessions and forged hints, with the real asyncio layer on real sockets on loopback (127.0.75.x).

* A device that restarts answers the dead session's records with an unknown-context hint: never more bytes than
  it received, at most ``hint_rate`` per second per source; the controller handshakes again next to the session.
* Without hints (a device that sends none), the controller still recovers: records unanswered for a while start
  the same handshake.
* A forged hint costs a handshake, never the session: the old session keeps working until the new one completes,
  and a hint that names no session of ours, or comes while nothing of ours is waiting for an answer, is ignored.
* Spoofing message_1 from another port of a validated address gets a cookie, not a 1,290-byte message_2.
* Malformed records, a replayed message_3 and handshakes given up at close are audited.
"""

from __future__ import annotations

import asyncio
import json
import socket
from dataclasses import replace
from pathlib import Path
from typing import Any

from session_support import (
    BATTERY,
    FAST,
    RawPeer,
    Side,
    audit_events,
    certificate_sides,
    device_node,
    endpoints,
    secured_pair,
    wall,
)

from echonet.errors import EchonetError
from secure.handshake.edhoc import Initiator
from secure.handshake.messages import Method
from secure.layer.aio import SecureController, SecureDeviceServer, open_secure_controller, open_secure_server
from secure.records.framing import (
    CookieRecord,
    HandshakeRecord,
    UnknownContextRecord,
    decode,
    encode_handshake,
    encode_unknown_context,
)


def run(coro: Any, limit: float = 60) -> Any:
    return asyncio.run(asyncio.wait_for(coro, limit))


async def device(side: Side, ip: str, port: int = 0, **overrides: Any) -> SecureDeviceServer:
    config = replace(side.config, **overrides) if overrides else side.config
    return await open_secure_server(
        device_node(), replace(endpoints(ip), port=port), config, policy=side.policy, audit=side.audit, wall_clock=wall
    )


async def controller(side: Side, ip: str, **node: Any) -> SecureController:
    return await open_secure_controller(
        endpoints(ip),
        side.config,
        node_config=replace(FAST, **node),
        policy=side.policy,
        audit=side.audit,
        wall_clock=wall,
    )


async def get_ok(ctl: SecureController, addr: tuple[str, int]) -> bool:
    try:
        return (await ctl.get(addr, BATTERY, [0x80])).values == {0x80: b"\x30"}
    except EchonetError:
        return False


def test_a_restarted_device_hints_at_most_once_per_record_and_never_with_more_bytes_than_it_received(
    tmp_path: Path,
) -> None:
    ctl_side, dev_side = certificate_sides(tmp_path)

    async def scenario() -> None:
        first = await device(dev_side, "127.0.75.2")
        addr = first.runner.local_addresses[socket.AF_INET][:2]
        ctl = await controller(ctl_side, "127.0.75.1", timeout=1.0, retries=1)
        try:
            assert await get_ok(ctl, addr)
            first.runner.close()  # gone without a close record: as after kill -9
            await asyncio.sleep(0.1)  # (the sockets close on the next loop iterations)
            again = await device(dev_side, "127.0.75.2", port=addr[1])
            try:
                # A stale record from a sniffer's copy: answered with a hint no longer than itself.
                stale = RawPeer("127.0.75.3")
                record = bytes((0x21, 0x03, 0x09, 0x05, 0x01)) + b"\x17" + b"\x00" * 12
                for _ in range(10):
                    stale.send(record, addr)
                hints = await stale.collect(0.3)
                stale.close()
                assert 1 <= len(hints) <= 3  # the per-source budget (burst 3), not one per record
                assert all(isinstance(decode(h), UnknownContextRecord) and len(h) <= len(record) for h in hints)
                # The controller's next request: one attempt lost, the retry answered under the new session.
                assert await get_ok(ctl, addr)
                assert ctl.layer.stats.rehandshakes == 1
            finally:
                await again.close()
        finally:
            await ctl.close()

    run(scenario())


def test_without_hints_a_controller_recovers_once_its_records_go_unanswered_for_a_while(tmp_path: Path) -> None:
    ctl_side, dev_side = certificate_sides(tmp_path)

    async def scenario() -> None:
        first = await device(dev_side, "127.0.75.5")
        addr = first.runner.local_addresses[socket.AF_INET][:2]
        ctl = await controller(ctl_side, "127.0.75.4", timeout=1.0, retries=1)
        try:
            assert await get_ok(ctl, addr)
            first.runner.close()
            await asyncio.sleep(0.1)
            mute = await device(dev_side, "127.0.75.5", port=addr[1], unknown_context_hints=False)
            try:
                outcomes = [await get_ok(ctl, addr) for _ in range(3)]  # 3 records unanswered, the first 2 s ago
                assert outcomes[-1], outcomes
                assert mute.layer.stats.hints_sent == 0 and ctl.layer.stats.rehandshakes == 1
            finally:
                await mute.close()
        finally:
            await ctl.close()

    run(scenario())
    rekeys = [e for e in audit_events(ctl_side.audit) if e["event"] == "rekey"]
    assert [e["fields"]["reason"] for e in rekeys] == ["unanswered"]


def test_a_forged_hint_costs_a_handshake_and_never_the_session(tmp_path: Path) -> None:
    ctl_side, dev_side = certificate_sides(tmp_path)

    async def scenario() -> None:
        async with secured_pair(ctl_side, dev_side, "127.0.75.6", "127.0.75.7") as pair:
            ctl = pair.controller
            assert await get_ok(ctl, pair.device_addr)
            session = ctl.layer.session_info("127.0.75.7")
            assert session is not None
            ctl_addr = pair.controller_addr
            forger = RawPeer("127.0.75.7")  # the device's IP, another port: what an off-path forger can send
            # A hint while nothing of ours waits for an answer: ignored.
            sender_id = bytes.fromhex(session["cid"])  # (our cid is not what the device knows us by)
            for kid in (sender_id, b"\x00", b"\x21"):
                forger.send(encode_unknown_context(kid), ctl_addr)
            await asyncio.sleep(0.2)
            assert ctl.layer.stats.hints_received == 3 and ctl.layer.stats.hints_ignored == 3
            assert ctl.layer.stats.rehandshakes == 0
            # Even a hint that names our session at a bad moment only starts a handshake next to it.
            stats_before = ctl.layer.stats.handshakes_ok
            for _ in range(20):  # hints for every one-byte kid (one of them ours) while a Get is on its way
                pending = asyncio.create_task(get_ok(ctl, pair.device_addr))
                await asyncio.sleep(0)
                for kid in range(0x38):
                    forger.send(encode_unknown_context(bytes((kid,))), ctl_addr)
                assert await pending
            forger.close()
            assert ctl.layer.has_session("127.0.75.7")
            assert ctl.layer.stats.handshakes_ok - stats_before <= ctl.layer.stats.rehandshakes
            assert await get_ok(ctl, pair.device_addr)
            assert pair.device.layer.stats.handshakes_failed == 0

    run(scenario())


def test_message_1_spoofed_from_another_port_of_a_validated_address_gets_a_cookie_not_a_message_2(
    tmp_path: Path,
) -> None:
    ctl_side, dev_side = certificate_sides(tmp_path)

    async def scenario() -> None:
        async with secured_pair(ctl_side, dev_side, "127.0.75.8", "127.0.75.9") as pair:
            assert await get_ok(pair.controller, pair.device_addr)  # 127.0.75.8 is validated now (one port)
            spoofer = RawPeer("127.0.75.8")
            m1 = Initiator(
                method=Method.SIG_SIG, credential=ctl_side.local, verify_peer=lambda c: None
            ).create_message_1()
            spoofer.send(encode_handshake(b"", m1), pair.device_addr)
            replies = await spoofer.collect(0.3)
            spoofer.close()
            assert [type(decode(r)) for r in replies] == [CookieRecord]
            assert spoofer.bytes_received <= 3 * spoofer.sent
            assert not any(isinstance(decode(r), HandshakeRecord) for r in replies)

    run(scenario())


def test_malformed_records_a_replayed_message_3_and_abandoned_handshakes_are_audited(tmp_path: Path) -> None:
    ctl_side, dev_side = certificate_sides(tmp_path)

    async def scenario() -> None:
        async with secured_pair(ctl_side, dev_side, "127.0.75.10", "127.0.75.11") as pair:
            from session_support import RawPeer as Peer

            tap: list[bytes] = []
            original = pair.controller.layer.datagrams_to_send

            def tapped(now: float) -> list[tuple[bytes, Any]]:
                out = original(now)
                tap.extend(d for d, _ in out)
                return out

            pair.controller.layer.datagrams_to_send = tapped  # type: ignore[method-assign]
            assert await get_ok(pair.controller, pair.device_addr)
            [message_3] = [d for d in tap if d[:2] == b"\x21\x01" and d[2] == 1 and len(d) > 100][-1:]
            raw = Peer("127.0.75.10")
            raw.send(message_3, pair.device_addr)  # the handshake is over: a replay
            raw.send(b"\x21\x03\x0f", pair.device_addr)  # a data record header with reserved bits set
            raw.send(b"\x21\x07\x00\x00", pair.device_addr)  # no such record type
            answers = await raw.collect(0.3)
            raw.close()
            assert len(answers) == 1 and isinstance(decode(answers[0]), HandshakeRecord)  # message_4 again
        lonely = await controller(ctl_side, "127.0.75.12")
        try:
            with_no_device = asyncio.create_task(lonely.get(("127.0.75.13", 3610), BATTERY, [0x80], timeout=5.0))
            await asyncio.sleep(0.2)
        finally:
            await lonely.close()  # like a CLI run that ends while its handshake is unanswered
        with_no_device.cancel()

    run(scenario())
    dev_events = audit_events(dev_side.audit)
    assert any(e["event"] == "replay" and e["fields"].get("record") == "message_3" for e in dev_events)
    malformed = [e for e in dev_events if e["event"] == "integrity_failure" and e["fields"]["reason"] == "malformed"]
    assert len(malformed) == 2
    abandoned = [
        e
        for e in audit_events(ctl_side.audit)
        if e["event"] == "handshake_failed" and e["fields"]["reason"] == "abandoned"
    ]
    assert [e["fields"]["peer"] for e in abandoned] == ["127.0.75.13"]
    assert abandoned[0]["fields"]["stage"] == "cookie-or-message_2"
    assert json.dumps(dev_events)  # (plain JSON, nothing but counters and names)
