"""Sessions belong to the peer's authenticated identity and connection identifiers, not to its IP address: over real
UDP on loopback (127.0.0.x models an address change), a controller whose address changes keeps its session, a device
that moved is found again as the same identity, two nodes behind one address are kept apart, and status, policy and
audit name the identity with the address as an attribute."""

from __future__ import annotations

import asyncio
import socket
from pathlib import Path
from typing import Any

from session_support import (
    BATTERY,
    CONTROLLER_ID,
    DEVICE_ID,
    audit_events,
    certificate_sides,
    device_node,
    endpoints,
    secured_pair,
    settle,
    site,
    wall,
)

from echonet.frame import EOJ, ESV, Property
from secure.audit import AuditLog
from secure.layer.aio import open_secure_server
from secure.layer.config import SecureConfig
from secure.policy.rules import Policy
from secure.trust import credentials as cred
from secure.trust.allowlist import AllowList
from secure.trust.verifiers import CertificateVerifier

CONTROLLER_EOJ = EOJ(0x05, 0xFF, 0x01)
SECOND_ID = bytes.fromhex("fe00007b1111111111111111111111111111")[:17]


def run(coro: Any) -> Any:
    return asyncio.run(asyncio.wait_for(coro, 30))


async def move(runner: Any, ip: str) -> None:
    """The node's address changes (DHCP): its socket is bound anew on ``ip`` and the old one closed."""
    old = runner.transports[socket.AF_INET]
    await runner.bind(endpoints(ip))
    old.close()


def test_a_controller_whose_address_changes_keeps_its_session(tmp_path: Path) -> None:
    ctl, dev = certificate_sides(tmp_path)

    async def scenario() -> None:
        async with secured_pair(ctl, dev, "127.0.63.1", "127.0.63.2") as pair:
            got = await pair.controller.get(pair.device_addr, BATTERY, [0xE4])
            assert got.values == {0xE4: b"\x32"}
            await move(pair.controller.runner, "127.0.63.3")
            # No manual step: the next request goes out from the new address under the same session, the device
            # follows it there (the record verified and is the newest), and the answer comes back.
            got = await pair.controller.get(pair.device_addr, BATTERY, [0x80])
            assert got.values == {0x80: b"\x30"}
            assert pair.device.layer.stats.handshakes_ok == 1
            assert pair.controller.layer.stats.handshakes_ok == 1
            [info] = pair.device.layer.sessions()
            assert info["identity"] == CONTROLLER_ID.hex()
            assert info["peer"] == "127.0.63.3" and info["moves"] == 1
            assert pair.device.layer.peer_status("127.0.63.3") == "secure"
            # The policy names the identity at the new address too.
            record = dev.policy.peer("127.0.63.3")
            assert record is not None and record.identity == CONTROLLER_ID.hex()
            assert [p.address for p in dev.policy.peers_of(CONTROLLER_ID.hex())] == ["127.0.63.1", "127.0.63.3"]

    run(scenario())
    [moved] = [e for e in audit_events(dev.audit) if e["event"] == "peer_moved"]
    assert moved["fields"]["identity"] == CONTROLLER_ID.hex()
    assert moved["fields"]["peer"] == "127.0.63.3"
    assert moved["fields"]["from"].startswith("127.0.63.1:")


def test_a_replayed_record_from_another_address_moves_nothing(tmp_path: Path) -> None:
    ctl, dev = certificate_sides(tmp_path)

    async def scenario() -> None:
        async with secured_pair(ctl, dev, "127.0.63.11", "127.0.63.12") as pair:
            sent: list[bytes] = []
            layer = pair.controller.layer
            original = layer.seal

            def tapped(data: bytes, addr: Any, now: float) -> bytes | None:
                record = original(data, addr, now)
                if record is not None:
                    sent.append(record)
                return record

            layer.seal = tapped  # type: ignore[method-assign]
            await pair.controller.get(pair.device_addr, BATTERY, [0xE4])
            await pair.controller.get(pair.device_addr, BATTERY, [0xE4])
            assert sent
            raw = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            raw.bind(("127.0.63.13", 0))
            raw.sendto(sent[-1], pair.device_addr)  # the attacker replays it from its own address
            await settle(0.2)
            raw.close()
            [info] = pair.device.layer.sessions()
            assert info["peer"] == "127.0.63.11" and info["moves"] == 0
            assert pair.device.layer.stats.replays == 1
            got = await pair.controller.get(pair.device_addr, BATTERY, [0x80])
            assert got.values == {0x80: b"\x30"}

    run(scenario())
    assert not [e for e in audit_events(dev.audit) if e["event"] == "peer_moved"]


def test_a_device_that_moved_is_the_same_identity_at_its_new_address(tmp_path: Path) -> None:
    ctl, dev = certificate_sides(tmp_path)

    async def scenario() -> None:
        async with secured_pair(ctl, dev, "127.0.63.21", "127.0.63.22") as pair:
            await pair.controller.get(pair.device_addr, BATTERY, [0xE4])
            layer = pair.controller.layer
            assert layer.address_of(DEVICE_ID.hex()) == pair.device_addr
            await move(pair.device.runner, "127.0.63.23")
            new_addr = pair.device_addr
            # The device speaks first from its new address (an INFC under the session): the controller's session
            # follows it, so the controller finds it by identity, with no new handshake.
            pair.device.runner.send_request(
                pair.controller_addr, CONTROLLER_EOJ, ESV.INFC, [Property(0x80, b"\x30")], seoj=BATTERY
            )
            await settle(0.3)
            assert layer.address_of(DEVICE_ID.hex()) == new_addr
            got = await pair.controller.get(new_addr, BATTERY, [0xE4])
            assert got.values == {0xE4: b"\x32"}
            assert layer.stats.handshakes_ok == 1
            assert layer.peer_status(new_addr[0]) == "secure"

    run(scenario())
    assert any(
        e["event"] == "peer_moved" and e["fields"]["identity"] == DEVICE_ID.hex() for e in audit_events(ctl.audit)
    )


def test_a_device_reached_at_a_new_address_before_it_spoke_is_one_peer_not_two(tmp_path: Path) -> None:
    ctl, dev = certificate_sides(tmp_path)

    async def scenario() -> None:
        async with secured_pair(ctl, dev, "127.0.63.31", "127.0.63.32") as pair:
            await pair.controller.get(pair.device_addr, BATTERY, [0xE4])
            await move(pair.device.runner, "127.0.63.33")
            # The operator's next request names the new address: a handshake there authenticates the same identity,
            # so its session replaces the one at the old address (one peer, one session).
            got = await pair.controller.get(pair.device_addr, BATTERY, [0xE4])
            assert got.values == {0xE4: b"\x32"}
            sessions = pair.controller.layer.sessions()
            assert [(s["identity"], s["peer"]) for s in sessions] == [(DEVICE_ID.hex(), "127.0.63.33")]
            assert not pair.controller.layer.is_secured("127.0.63.32")

    run(scenario())
    [rekey] = [e for e in audit_events(ctl.audit) if e["event"] == "rekey"]
    assert rekey["fields"]["identity"] == DEVICE_ID.hex() and rekey["fields"]["from"].startswith("127.0.63.32:")


def test_two_nodes_behind_one_address_are_kept_apart(tmp_path: Path) -> None:
    s = site()
    ctl, dev = certificate_sides(tmp_path, handshake_timeout=0.3)
    # A second battery, with its own identity, behind the same IP as the first (another port).
    dev2_local, dev2_cert = s.leaf(SECOND_ID, cred.Role.DEVICE)
    ctl.allowlist.enrol_certificate(dev2_cert, now=wall(), label="second battery")
    log2 = AuditLog(tmp_path / "device2.audit.jsonl")
    allow2 = AllowList(tmp_path / "device2.allow.json", audit=log2)
    for entry in dev.allowlist.entries():
        allow2.enrol_fingerprint(entry.fingerprint, now=wall(), label=entry.label)
    config2 = SecureConfig(
        credential=dev2_local,
        verifier=CertificateVerifier([s.root], allowlist=allow2, role=cred.Role.CONTROLLER),
        handshake_timeout=0.3,
    )

    async def scenario() -> None:
        second = await open_secure_server(
            device_node(SECOND_ID), endpoints("127.0.63.42"), config2, policy=Policy(), audit=log2, wall_clock=wall
        )
        try:
            async with secured_pair(ctl, dev, "127.0.63.41", "127.0.63.42") as pair:
                second.node.object(BATTERY).update(0xE4, b"\x10")  # type: ignore[union-attr]
                addr2 = second.runner.local_addresses[socket.AF_INET][:2]
                one = await pair.controller.get(pair.device_addr, BATTERY, [0xE4, 0x83])
                two = await pair.controller.get(addr2, BATTERY, [0xE4])
                again = await pair.controller.get(pair.device_addr, BATTERY, [0xE4])
                assert one.values[0xE4] == b"\x32" and again.values[0xE4] == b"\x32"
                assert two.values[0xE4] == b"\x10"
                named = {(str(i["identity"]), int(str(i["port"]))) for i in pair.controller.layer.sessions()}
                assert named == {(DEVICE_ID.hex(), pair.device_addr[1]), (SECOND_ID.hex(), addr2[1])}
                assert pair.controller.layer.stats.handshakes_ok == 2
        finally:
            await second.close()

    run(scenario())
