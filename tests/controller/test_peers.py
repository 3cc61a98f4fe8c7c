"""What the controller learns per device, as pure state (no sockets, times given): the latency estimate and the
timeouts it sets, backoff, the batch size (shrinks on partial or missing answers, grows back carefully, never up to
a size that failed), per-manufacturer starting rules, one request in flight learned from a loss beside another,
the rate limit, the loss rate and the attempts it asks for, and health."""

from __future__ import annotations

import pytest

from echonet.aio.peers import MAKER_RULES, FieldConfig, Health, MakerRule, PeerState
from echonet.errors import EchonetUsageError


def test_the_latency_estimate_sets_the_timeout_within_its_bounds() -> None:
    peer = PeerState("192.0.2.1", FieldConfig())
    assert peer.timeout() == 3.0  # never timed: the configured first timeout
    for _ in range(20):
        peer.observe(2.0, now=1.0)
    assert peer.srtt == pytest.approx(2.0) and 2.0 <= peer.timeout() < 2.5
    fast = PeerState("192.0.2.2", FieldConfig())
    for _ in range(20):
        fast.observe(0.001, now=1.0)
    assert fast.timeout() == 1.0  # the floor (min_timeout)


def test_failures_in_a_row_back_off_and_an_answer_resets_them() -> None:
    peer = PeerState("192.0.2.1", FieldConfig())
    peer.observe(0.01, now=0.0)
    base = peer.timeout()
    peer.timed_out(concurrent=False)
    peer.timed_out(concurrent=False)
    assert peer.timeout() == pytest.approx(base * 4) and peer.timeout(backoff=False) == base
    for _ in range(10):
        peer.timed_out(concurrent=False)
    assert peer.timeout() == pytest.approx(base * 8)  # at most 8 times
    peer.observe(0.01, now=1.0)
    assert peer.failures == 0 and peer.timeout() == base


def test_a_large_get_unanswered_is_no_failure_of_the_device() -> None:
    peer = PeerState("192.0.2.1", FieldConfig())
    for _ in range(5):
        peer.timed_out(concurrent=False, minimal=False)
    assert peer.failures == 0 and peer.judge(0.0) is not Health.OFFLINE


def test_the_batch_shrinks_to_what_was_answered_and_grows_back_below_the_size_that_failed() -> None:
    cfg = FieldConfig(grow_after=2, retry_failed_after=1000)
    peer = PeerState("192.0.2.1", cfg)
    assert peer.chunk(40) == 40  # no batch: everything in one Get
    peer.answered_part(asked=40, answered=10)
    assert peer.batch == 10 and peer.chunk(40) == 10 and peer.chunk(4) == 4
    for _ in range(200):
        peer.answered_all(peer.batch or 0)
    assert peer.batch == 39  # grown one at a time, never back to the 40 that failed
    peer.too_large(39)
    assert peer.batch == 19 and peer.failed_batch == 39


def test_a_size_that_failed_is_tried_again_after_long_success() -> None:
    peer = PeerState("192.0.2.1", FieldConfig(grow_after=1, retry_failed_after=5, max_batch=30))
    peer.answered_part(asked=12, answered=10)
    for _ in range(50):
        peer.answered_all(peer.batch or 0)
    assert peer.failed_batch is None and peer.batch == 30  # (capped by max_batch)


def test_manufacturer_rules_are_starting_points_and_data() -> None:
    panasonic = MAKER_RULES[0x00000B]
    assert panasonic.source and panasonic.batch == 10 and panasonic.one_in_flight
    peer = PeerState("192.0.2.1", FieldConfig())
    peer.apply_maker(b"\x00\x00\x0b")
    assert peer.batch == 10 and peer.one_in_flight and peer.careful and peer.timeout() == 5.0
    custom = FieldConfig(maker_rules={0x123456: MakerRule(batch=4, min_interval=0.5, source="test")})
    other = PeerState("192.0.2.2", custom)
    other.apply_maker(bytes.fromhex("123456"))
    assert other.batch == 4 and other.min_interval == 0.5 and not other.one_in_flight
    plain = PeerState("192.0.2.3", FieldConfig())
    plain.apply_maker(b"\xff\xff\xff")
    assert plain.batch is None and not plain.careful


def test_one_in_flight_is_learned_from_a_loss_beside_another_request() -> None:
    peer = PeerState("192.0.2.1", FieldConfig())
    peer.timed_out(concurrent=False)
    assert not peer.one_in_flight
    peer.timed_out(concurrent=True)
    assert peer.one_in_flight


def test_the_rate_limit_says_how_long_to_wait() -> None:
    peer = PeerState("192.0.2.1", FieldConfig(min_interval=0.5))
    assert peer.send_delay(10.0) == 0.0
    peer.last_sent = 10.0
    assert peer.send_delay(10.2) == pytest.approx(0.3) and peer.send_delay(11.0) == 0.0


def test_a_lossy_device_gets_more_attempts() -> None:
    peer = PeerState("192.0.2.1", FieldConfig())
    for _ in range(10):
        peer.observe(0.01, now=0.0)
    assert peer.attempts() == 3
    for i in range(400):  # one attempt in five lost
        if i % 5 == 0:
            peer.timed_out(concurrent=False)
        else:
            peer.observe(0.01, now=0.0)
    assert 5 <= peer.attempts() <= 8


def test_health_follows_failures_silence_and_latency() -> None:
    peer = PeerState("192.0.2.1", FieldConfig(offline_after=2, offline_silence=60.0, slow_latency=1.0))
    assert peer.judge(0.0) is Health.UNKNOWN
    peer.observe(0.05, now=0.0)
    assert peer.judge(1.0) is Health.ONLINE
    assert peer.judge(61.0) is Health.OFFLINE  # nothing heard for a minute
    peer.timed_out(concurrent=False)
    peer.timed_out(concurrent=False)
    assert peer.judge(1.0) is Health.OFFLINE
    for _ in range(30):
        peer.observe(1.5, now=2.0)
    assert peer.judge(2.0) is Health.SLOW


def test_settings_are_checked_and_shown() -> None:
    with pytest.raises(EchonetUsageError):
        FieldConfig(timeout=0)
    with pytest.raises(EchonetUsageError):
        FieldConfig(attempts=9)
    shown = FieldConfig(hosts=("192.0.2.1",)).as_dict()
    assert shown["timeout"] == 3.0 and shown["hosts"] == ["192.0.2.1"] and "maker_rules" not in shown
    cli = FieldConfig.for_requests(0.2, 1)
    assert cli.attempts == 2 and cli.min_timeout == 0.2
