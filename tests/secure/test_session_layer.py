"""The secure layer as a pure state machine (no sockets, injected clock): DoS limits, cookies, queues, timers."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from session_support import BATTERY, FAST, certificate_sides, device_node, wall

from echonet.node import Node
from secure.handshake.edhoc import Initiator
from secure.handshake.messages import Method
from secure.layer.config import SecureConfig
from secure.layer.core import SecureLayer
from secure.records.framing import CookieRecord, HandshakeRecord, decode, encode_cookie, encode_handshake
from secure.records.oscore import KeyLimits

CTL = ("127.0.0.1", 40000)
DEV = ("127.0.0.2", 3610)


def layers(
    tmp: Path, ctl_overrides: dict[str, object] | None = None, dev_overrides: dict[str, object] | None = None
) -> tuple[SecureLayer, SecureLayer]:
    ctl, dev = certificate_sides(tmp)
    ctl_cfg: SecureConfig = replace(ctl.config, **(ctl_overrides or {}))
    dev_cfg: SecureConfig = replace(dev.config, **(dev_overrides or {}))
    return (
        SecureLayer(Node(config=FAST), ctl_cfg, policy=ctl.policy, audit=ctl.audit, wall_clock=wall),
        SecureLayer(device_node(), dev_cfg, policy=dev.policy, audit=dev.audit, wall_clock=wall),
    )


def pump(ctl: SecureLayer, dev: SecureLayer, now: float, rounds: int = 20) -> None:
    for _ in range(rounds):
        moved = False
        for data, _ in ctl.datagrams_to_send(now):
            dev.receive_datagram(data, CTL, now)
            moved = True
        for data, _ in dev.datagrams_to_send(now):
            ctl.receive_datagram(data, DEV, now)
            moved = True
        if not moved:
            return


def message_1(layer: SecureLayer) -> bytes:
    return Initiator(
        method=Method.SIG_SIG, credential=layer.config.credential, verify_peer=lambda c: None
    ).create_message_1(c_i=b"\x07")


def test_cookie_is_bound_to_the_source_address_and_expires_with_its_secret(tmp_path: Path) -> None:
    ctl, dev = layers(tmp_path, dev_overrides={"cookie_lifetime": 10.0})
    m1 = message_1(ctl)
    dev.receive_datagram(encode_handshake(b"", m1), CTL, 100.0)
    [(challenge, _)] = dev.datagrams_to_send(100.0)
    cookie = decode(challenge)
    assert isinstance(cookie, CookieRecord)
    dev.receive_datagram(encode_cookie(cookie.cookie, m1), ("127.0.0.1", 40001), 101.0)  # another port
    dev.receive_datagram(encode_cookie(cookie.cookie, m1), CTL, 125.0)  # two secrets later
    assert dev.datagrams_to_send(125.0) == []
    assert dev.stats.cookies_rejected == 2 and dev.stats.responder_runs == 0
    dev.receive_datagram(encode_handshake(b"", m1), CTL, 126.0)
    [(challenge, _)] = dev.datagrams_to_send(126.0)
    fresh = decode(challenge)
    assert isinstance(fresh, CookieRecord)
    dev.receive_datagram(encode_cookie(fresh.cookie, m1), CTL, 127.0)
    [(answer, _)] = dev.datagrams_to_send(127.0)
    assert isinstance(decode(answer), HandshakeRecord) and dev.stats.responder_runs == 1


def test_no_answer_exceeds_three_times_the_bytes_received_before_the_cookie(tmp_path: Path) -> None:
    _, dev = layers(tmp_path)
    tiny = encode_handshake(b"", b"\x03")  # 4 bytes: even a cookie challenge (20 bytes) would amplify 5x
    dev.receive_datagram(tiny, ("127.0.0.9", 5000), 1.0)
    assert dev.datagrams_to_send(1.0) == []
    assert dev.stats.amplification_refused == 1
    dev.receive_datagram(tiny, ("127.0.0.9", 5000), 1.1)
    [(challenge, _)] = dev.datagrams_to_send(1.1)  # 8 bytes received so far: 24 allowed, 20 sent
    assert len(challenge) <= 3 * 2 * len(tiny)


def _half_open_attempt(
    ctl: SecureLayer, dev: SecureLayer, addr: tuple[str, int], now: float, m1: bytes | None = None
) -> bytes | None:
    """message_1, the cookie, the echo: the message_2 record the device answers with (``None``: nothing)."""
    m1 = message_1(ctl) if m1 is None else m1
    dev.receive_datagram(encode_handshake(b"", m1), addr, now)
    [(challenge, _)] = dev.datagrams_to_send(now)
    record = decode(challenge)
    assert isinstance(record, CookieRecord)
    dev.receive_datagram(encode_cookie(record.cookie, m1), addr, now)
    out = dev.datagrams_to_send(now)
    return out[0][0] if out else None


def _evicted(side_log: Path) -> list[str]:
    import json

    return [
        e["fields"]["peer"]
        for e in map(json.loads, side_log.read_text().splitlines())
        if e["event"] == "handshake_failed" and e["fields"]["reason"].startswith("half-open-")
    ]


def test_at_the_half_open_caps_the_oldest_run_of_the_busiest_source_gives_way_and_the_newcomer_is_served(
    tmp_path: Path,
) -> None:
    ctl, dev = layers(
        tmp_path,
        dev_overrides={
            "max_half_open": 4,
            "max_half_open_per_source": 2,
            "half_open_reserved": 1,
            "cookie": "always",
            "source_burst": 100.0,
            "global_burst": 100.0,
        },
    )
    a, b, c, d, known = (("127.0.0.5", 1), ("127.0.0.6", 1), ("127.0.0.7", 1), ("127.0.0.9", 1), ("127.0.0.8", 1))
    dev.policy_source.enrol_secure(known[0], now=wall(), fingerprint=b"\x01" * 32)
    assert _half_open_attempt(ctl, dev, a, 1.0) and _half_open_attempt(ctl, dev, a, 1.1)
    assert _half_open_attempt(ctl, dev, a, 1.2)  # a third from one source replaces its own oldest run
    assert _half_open_attempt(ctl, dev, b, 1.3)  # strangers now hold their share: 3 of 4
    assert _half_open_attempt(ctl, dev, c, 1.4)  # a's oldest gives way (a holds the most)
    assert _half_open_attempt(ctl, dev, known, 1.5)  # the reserved slot
    assert _half_open_attempt(ctl, dev, d, 1.6)  # a stranger takes a stranger's slot, never the known peer's
    assert dev.stats.half_open_refused == 0 and dev.stats.half_open_evicted == 3 and dev.stats.responder_runs == 7
    assert _evicted(dev.audit.path if dev.audit else tmp_path) == ["127.0.0.5", "127.0.0.5", "127.0.0.5"]
    # Under pressure a run lives two handshake timeouts (0.3 s here), not the whole retry schedule.
    timer = dev.get_timer()
    assert timer is not None and timer <= 1.6 + 2 * 0.3
    dev.handle_timer(1.6 + 2 * 0.3)
    assert _half_open_attempt(ctl, dev, a, 2.5)


def test_a_retransmitted_message_1_gets_the_same_message_2_without_a_new_run(tmp_path: Path) -> None:
    ctl, dev = layers(tmp_path, dev_overrides={"cookie": "always"})
    m1 = message_1(ctl)
    first = _half_open_attempt(ctl, dev, CTL, 1.0, m1)
    again = _half_open_attempt(ctl, dev, CTL, 1.5, m1)
    assert first is not None and first == again
    assert dev.stats.responder_runs == 1 and dev.stats.message_2_resent == 1
    # The same message_1 from another port is another run (validation is per address and port).
    assert _half_open_attempt(ctl, dev, ("127.0.0.1", 40001), 1.6, m1) not in (None, first)
    assert dev.stats.responder_runs == 2


def test_frames_wait_in_a_bounded_queue_and_are_dropped_and_audited_when_the_handshake_times_out(
    tmp_path: Path,
) -> None:
    ctl, _ = layers(tmp_path, ctl_overrides={"max_queue": 2, "handshake_retries": 1})
    for _ in range(3):
        ctl.node.request(DEV, BATTERY, 0x62, [0x80], now=0.0)
    sent = ctl.datagrams_to_send(0.0)
    assert [decode(d) for d, _ in sent] and all(isinstance(decode(d), HandshakeRecord) for d, _ in sent)
    assert ctl.stats.queued == 2 and ctl.stats.queue_dropped == 1
    deadline = ctl.get_timer()
    assert deadline is not None and deadline <= ctl.config.handshake_timeout
    t = 0.0
    while ctl.stats.handshakes_failed == 0 and t < 30:
        t += 0.25
        ctl.handle_timer(t)  # the node retries its requests too: they queue (or overflow) again
        sent += ctl.datagrams_to_send(t)
    assert ctl.stats.handshakes_failed == 1
    # Every frame that was queued is dropped with the handshake, on top of those that overflowed the queue.
    assert ctl.stats.queued == 2 and ctl.stats.queue_dropped >= ctl.stats.queued + 1
    assert all(d[0] == 0x21 for d, _ in sent)
    assert ctl.audit is not None
    assert '"reason":"timeout"' in ctl.audit.path.read_text()
    assert ctl.peer_status(DEV[0]) == "unknown"  # no fallback to plaintext


def test_node_multicast_is_not_sent_in_plain_and_junk_is_dropped(tmp_path: Path) -> None:
    _, dev = layers(tmp_path)
    dev.node.start(0.0)  # announces its instance list by multicast
    assert dev.datagrams_to_send(0.0) == []
    assert dev.stats.multicast_suppressed >= 1
    dev.receive_datagram(b"\x99garbage", CTL, 0.0)
    dev.receive_datagram(b"", CTL, 0.0)
    assert dev.stats.junk == 2 and dev.node.stats.received == 0


def test_responder_near_its_limit_asks_the_initiator_to_rekey(tmp_path: Path) -> None:
    ctl, dev = layers(tmp_path, dev_overrides={"limits": KeyLimits(limit_q=8, rekey_margin=0.5)})
    now = 0.0
    for _ in range(8):
        ctl.node.request(DEV, BATTERY, 0x62, [0x80], now=now)
        pump(ctl, dev, now)
        ctl.node.take_events()
        now += 0.01
    assert dev.stats.closes_sent >= 1 and ctl.stats.closes_received >= 1
    assert ctl.stats.rekeys >= 1 and dev.stats.rekeys >= 1
    assert ctl.has_session(DEV[0])


def test_layer_timer_merges_the_nodes_deadlines(tmp_path: Path) -> None:
    ctl, dev = layers(
        tmp_path, ctl_overrides={"limits": KeyLimits(max_age=50.0), "recheck_interval": 80.0, "trust_poll": None}
    )
    ctl.node.request(DEV, BATTERY, 0x62, [0x80], now=0.0)
    pump(ctl, dev, 0.0)
    assert ctl.has_session(DEV[0])
    ctl.node.take_events()
    assert ctl.get_timer() == 50.0  # the session's age (the node has nothing pending)
    ctl.node.request(DEV, BATTERY, 0x62, [0x80], now=1.0)
    node_deadline = ctl.node.get_timer()
    assert node_deadline is not None and ctl.get_timer() == node_deadline < 50.0


def test_answer_under_the_new_keys_before_message_4_completes_a_rekey_without_loss(tmp_path: Path) -> None:
    from echonet.node.events import ResponseReceived

    ctl, dev = layers(tmp_path, ctl_overrides={"limits": KeyLimits(max_age=10.0)})
    ctl.node.request(DEV, BATTERY, 0x62, [0x80], now=0.0)
    pump(ctl, dev, 0.0)
    ctl.node.take_events()
    now = 11.0
    ctl.handle_timer(now)  # the session's age: a rekey handshake starts

    def hop(src: SecureLayer, dst: SecureLayer, addr: tuple[str, int]) -> None:
        for data, _ in src.datagrams_to_send(now):
            dst.receive_datagram(data, addr, now)

    hop(ctl, dev, CTL)  # message_1 (the address is validated: no cookie this time)
    hop(dev, ctl, DEV)  # message_2
    hop(ctl, dev, CTL)  # message_3: the device switches to the new keys
    held = dev.datagrams_to_send(now)  # message_4, delayed in the network
    assert dev.stats.rekeys == 1 and ctl.stats.rekeys == 0
    handle = ctl.node.request(DEV, BATTERY, 0x62, [0x80], now=now)
    hop(ctl, dev, CTL)  # the Get, still under the old keys
    hop(dev, ctl, DEV)  # the answer, under the new keys
    answers = [e for e in ctl.node.take_events() if isinstance(e, ResponseReceived) and e.handle == handle]
    assert answers and ctl.stats.rekeys == 1
    for data, _ in held:
        ctl.receive_datagram(data, DEV, now)  # the late message_4 changes nothing
    assert ctl.stats.handshakes_failed == 0 and ctl.has_session(DEV[0])


def test_mutated_records_never_raise_and_never_reach_the_node(tmp_path: Path) -> None:
    import random

    ctl, dev = layers(tmp_path)
    ctl.node.request(DEV, BATTERY, 0x62, [0x80], now=0.0)
    pump(ctl, dev, 0.0)
    ctl.node.request(DEV, BATTERY, 0x62, [0x80], now=0.0)
    [(record, _)] = ctl.datagrams_to_send(0.0)
    received = dev.node.stats.received
    rng = random.Random(7)
    for i in range(2000):
        data = bytearray(record)
        for _ in range(rng.randint(1, 3)):
            kind = rng.randrange(3)
            if kind == 0 and data:
                data[rng.randrange(len(data))] = rng.randrange(256)
            elif kind == 1 and data:
                del data[rng.randrange(len(data)) :]
            else:
                data.insert(rng.randrange(len(data) + 1), rng.randrange(256))
        if bytes(data) == record:
            continue
        dev.receive_datagram(bytes(data), CTL, 0.001 * i)
        dev.datagrams_to_send(0.001 * i)
    assert dev.node.stats.received == received  # not one mutation got through
    dev.receive_datagram(record, CTL, 3.0)
    assert dev.node.stats.received == received + 1  # the untouched record still does


def test_removing_a_peer_from_the_allow_list_ends_its_session_at_the_next_recheck(tmp_path: Path) -> None:
    ctl_side, dev_side = certificate_sides(tmp_path, recheck_interval=5.0)
    ctl = SecureLayer(Node(config=FAST), ctl_side.config, policy=ctl_side.policy, audit=ctl_side.audit, wall_clock=wall)
    dev = SecureLayer(device_node(), dev_side.config, policy=dev_side.policy, audit=dev_side.audit, wall_clock=wall)
    ctl.node.request(DEV, BATTERY, 0x62, [0x80], now=0.0)
    pump(ctl, dev, 0.0)
    assert ctl.has_session(DEV[0]) and dev.has_session(CTL[0])
    ctl.handle_timer(5.0)
    pump(ctl, dev, 5.0)
    assert ctl.has_session(DEV[0])  # still allowed at the first recheck
    ctl_side.allowlist.remove(ctl_side.allowlist.entries()[0].fingerprint, now=wall())
    ctl.handle_timer(10.0)
    pump(ctl, dev, 10.0)
    assert not ctl.has_session(DEV[0]) and not dev.has_session(CTL[0])  # the close record reached the device
    assert '"reason":"peer-no-longer-allowed"' in ctl_side.audit.path.read_text()
    assert ctl.peer_status(DEV[0]) == "secure-enrolled"  # still secure for good: no plaintext fallback


def test_a_hint_naming_the_session_while_a_request_waits_starts_a_handshake_next_to_it_and_the_session_stays(
    tmp_path: Path,
) -> None:
    from echonet.node.events import ResponseReceived
    from secure.records.framing import encode_unknown_context

    ctl, dev = layers(tmp_path)
    ctl.node.request(DEV, BATTERY, 0x62, [0x80], now=0.0)
    pump(ctl, dev, 0.0)
    assert ctl.has_session(DEV[0])
    ctl.node.take_events()
    ctl.node.request(DEV, BATTERY, 0x62, [0x80], now=1.0)
    [(record, _)] = ctl.datagrams_to_send(1.0)  # the request, held back for now
    n = record[2] & 0x07
    kid = record[4 + n : 4 + n + record[3 + n]]
    ctl.receive_datagram(encode_unknown_context(b"\x7f"), DEV, 1.0)  # names no session of ours: ignored
    ctl.receive_datagram(encode_unknown_context(kid), DEV, 1.0)  # names ours while the request waits
    out = ctl.datagrams_to_send(1.0)
    assert [type(decode(d)) for d, _ in out] == [HandshakeRecord]  # message_1, next to the session
    assert ctl.stats.rehandshakes == 1 and ctl.stats.hints_ignored == 1 and ctl.has_session(DEV[0])
    dev.receive_datagram(record, CTL, 1.0)  # the hint was forged: the device has the session and answers
    for data, _ in dev.datagrams_to_send(1.0):
        ctl.receive_datagram(data, DEV, 1.0)
    assert any(isinstance(e, ResponseReceived) for e in ctl.node.take_events())
    for data, _ in out:
        dev.receive_datagram(data, CTL, 1.0)
    pump(ctl, dev, 1.0)  # the new handshake completes: a rekey, nothing lost
    assert ctl.stats.rekeys == 1 and ctl.stats.handshakes_failed == 0 and ctl.has_session(DEV[0])
