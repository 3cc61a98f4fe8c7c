"""The quirk options of a simulated device: parsed from ``NAME[=VALUE]``, each refused clearly when malformed, and
each doing what docs/quirks.md says on real UDP (seen through the plain controller, which learns nothing)."""

from __future__ import annotations

import pytest

from echonet.aio import Controller, Endpoints
from echonet.apps.quirks import QUIRKS, SHARED_IDENTIFICATION, Quirks, parse_quirks
from echonet.errors import EchonetTimeoutError, EchonetUsageError
from echonet.node.config import NODE_PROFILE_EOJ, NodeConfig

from .util import CONTROLLER_IP, go, quirk_host

ALL_QUIRKS = [
    "delay=0.2:0.05",
    "max-get=5",
    "oversize-silent=200",
    "drop-concurrent",
    "reply-port=ephemeral",
    "no-identification",
    "shared-identification",
    "set-ack-no-apply",
    "silent-after=1000",
    "loss=0.05",
    "trailing-bytes",
]


def test_every_quirk_the_issue_lists_is_known_and_documented() -> None:
    assert set(QUIRKS) == {s.split("=")[0] for s in ALL_QUIRKS}
    with open("docs/quirks.md", encoding="utf-8") as doc:
        text = doc.read()
    for name, quirk in QUIRKS.items():
        assert f"`{name}" in text, f"docs/quirks.md does not list {name}"
        assert quirk.report and quirk.summary


def test_quirks_read_back_as_they_were_given() -> None:
    quirks = parse_quirks(ALL_QUIRKS)
    assert parse_quirks(quirks.names()) == quirks
    assert quirks.delay == 0.2 and quirks.jitter == 0.05 and quirks.max_get == 5 and quirks.oversize_silent == 200
    assert quirks.shared_identification == SHARED_IDENTIFICATION and quirks.trailing_bytes == 2
    assert parse_quirks(["silent-after=3:1.5"]).silent_for == 1.5
    assert parse_quirks(["drop-concurrent=0.5"]).hold == 0.5
    assert not Quirks().active and parse_quirks(["loss=0.1"]).active


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("slow", "unknown quirk 'slow'"),
        ("delay", "needs a value"),
        ("delay=-1", "out of range"),
        ("max-get=0", "out of range"),
        ("max-get=two", "not an integer"),
        ("reply-port=3610", "takes 'ephemeral'"),
        ("no-identification=1", "takes no value"),
        ("loss=1", "out of range"),
        ("shared-identification=fe00", "34 hex digits"),
    ],
)
def test_a_bad_quirk_is_refused_with_its_name(spec: str, message: str) -> None:
    with pytest.raises(EchonetUsageError, match=message):
        parse_quirks([spec])


def test_quirk_devices_answer_as_documented_over_udp() -> None:
    async def scenario() -> None:
        plain = await Controller.open(
            Endpoints(bind_v4=CONTROLLER_IP, port=0), config=NodeConfig(timeout=0.5, retries=0, split_gets=False)
        )
        hosts = []
        try:
            # max-get: 5 properties of 8 asked
            host = await quirk_host(["max-get=5"], "127.0.0.181")
            hosts.append(host)
            epcs = sorted(host.devices[0].get_map)[:8]
            got = await plain.get(host.address(), host.devices[0].eoj, epcs)
            assert len(got.values) == 5 and host.quirks is not None and host.quirks.stats.truncated == 1
            # oversize-silent: nothing at all for a long answer, a short one answered
            host = await quirk_host(["oversize-silent=40"], "127.0.0.182")
            hosts.append(host)
            eoj = host.devices[0].eoj
            with pytest.raises(EchonetTimeoutError):
                await plain.get(host.address(), eoj, sorted(host.devices[0].get_map))
            assert (await plain.get(host.address(), eoj, [0x80])).values
            # reply-port=ephemeral: the answer comes from another port, and is still taken
            host = await quirk_host(["reply-port=ephemeral"], "127.0.0.183")
            hosts.append(host)
            assert (await plain.get(host.address(), NODE_PROFILE_EOJ, [0x8A])).values
            assert host.quirks is not None and host.quirks.stats.sent_aside == 1
            # no-identification: 0x83 refused, and not in the Get map
            host = await quirk_host(["no-identification"], "127.0.0.184")
            hosts.append(host)
            got = await plain.get(host.address(), NODE_PROFILE_EOJ, [0x83, 0x9F])
            assert got.refused == (0x83,) and 0x9F in got.values
            # shared-identification: the fixed number
            host = await quirk_host(["shared-identification"], "127.0.0.185")
            hosts.append(host)
            got = await plain.get(host.address(), NODE_PROFILE_EOJ, [0x83])
            assert got.values[0x83] == SHARED_IDENTIFICATION
            # set-ack-no-apply: Set_Res, value unchanged
            host = await quirk_host(["set-ack-no-apply"], "127.0.0.186")
            hosts.append(host)
            eoj = host.devices[0].eoj
            before = (await plain.get(host.address(), eoj, [0xDA])).values[0xDA]
            new = b"\x44" if before != b"\x44" else b"\x42"
            done = await plain.set(host.address(), eoj, {0xDA: new})
            assert done.ok and (await plain.get(host.address(), eoj, [0xDA])).values[0xDA] == before
            # silent-after: two answers, then silence until restarted
            host = await quirk_host(["silent-after=2"], "127.0.0.187")
            hosts.append(host)
            for _ in range(2):
                await plain.get(host.address(), NODE_PROFILE_EOJ, [0x8A])
            with pytest.raises(EchonetTimeoutError):
                await plain.get(host.address(), NODE_PROFILE_EOJ, [0x8A])
            assert host.quirks is not None and host.quirks.silent
            host.quirks.restart()
            assert (await plain.get(host.address(), NODE_PROFILE_EOJ, [0x8A])).values
            # trailing-bytes: the padded answer is taken (and reported by the node)
            host = await quirk_host(["trailing-bytes=3"], "127.0.0.188")
            hosts.append(host)
            assert (await plain.get(host.address(), NODE_PROFILE_EOJ, [0x8A])).values
            assert plain.node.stats.trailing >= 1
        finally:
            await plain.close()
            for host in hosts:
                await host.close()

    go(scenario())
