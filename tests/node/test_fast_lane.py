"""The controller's fast lane (``Node.fast_lane``) behaves exactly like the general path it shortcuts.

Two controller nodes with the same configuration, one with the fast lane and one without, are fed the same random
sequences of requests (Get, INF_REQ, SetC; strings or socket addresses; instance 1, 2 or 0; lists, tuples and
refused EPC lists; several timeouts and retries), answers to what they sent (in full, in part, reordered, SNA, from
the wrong peer, from another source port, with the wrong TID or object, duplicated, truncated or garbage), cancels,
timer runs and clock jumps (back too). They must send the same bytes, report the same events, ask for the same
deadlines and count the same statistics. A second test drives the fast node the way the asyncio adapter does
(:meth:`Node.start_fast` and :meth:`Node.receive_answer` first, the general calls when they decline). Directed
cases make sure the rare paths are met (learned Get limits, one request in flight, new configurations, answers from
the wrong peer or object), and the device side's :meth:`Node.answer_repeat` is checked against
:meth:`Node.receive_datagram` on random Gets, Sets, value changes and hosting changes.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from echonet import EOJ, ESV, EchonetUsageError, Frame, Property, decode, encode
from echonet.node import Addr, Node, NodeConfig, core

from .test_fast_paths import _device_step, device_ops
from .util import BATTERY, REGISTRY, battery, device_node, profile

HOSTS = ("192.0.2.1", "192.0.2.2", "::ffff:192.0.2.3")
EPC_LISTS = ([0x80], [0x80, 0xE4], (0xE4, 0xDA, 0x80), [0xDA, 0xAA, 0xE4, 0x80], [], [0x80, 300], [0x80] * 3)

requests = st.tuples(
    st.just("request"),
    st.sampled_from(HOSTS),
    st.sampled_from(("str", "tuple", "port")),
    st.sampled_from((1, 1, 2, 0)),  # instance (0: fan-out, the general path)
    st.sampled_from((ESV.GET, ESV.GET, 0x62, ESV.INF_REQ, ESV.SETC)),
    st.sampled_from(EPC_LISTS),
    st.sampled_from((None, None, 0.5, 1.0, 2, -1.0)),
    st.sampled_from((None, None, 0, 2)),
    st.booleans(),  # the same host and DEOJ objects as before (the fast lane's last-request shortcut), or new ones
)
#: Objects reused across requests (``reuse``): hosts as socket addresses, and DEOJs.
SAME_TARGETS: dict[tuple[str, int], tuple[str, int]] = {}
SAME_EOJS = {i: BATTERY.with_instance(i) for i in (0, 1, 2)}
answers = st.tuples(
    st.just("answer"),
    st.integers(0, 6),  # counted back from the latest datagram sent
    st.sampled_from(
        (
            "full",
            "full",
            "partial",
            "reordered",
            "sna",
            "empty sna",
            "wrong host",
            "other port",
            "mapped host",
            "wrong tid",
            "wrong eoj",
            "wrong class",
            "wrong group",
            "instance 0",
            "duplicate",
            "truncated",
            "garbage",
            "request esv",
        )
    ),
)
advances = st.tuples(st.just("advance"), st.sampled_from((-0.7, 0.0, 0.2, 0.5, 1.0, 1.1, 2.5, 7.0)))
cancels = st.tuples(st.just("cancel"), st.integers(0, 30))
reconfigures = st.tuples(st.just("config"), st.sampled_from(({"port": 3611}, {"timeout": 0.5}, {"split_gets": False})))
operations = st.lists(
    st.one_of(requests, answers, answers, advances, cancels, reconfigures, st.tuples(st.just("timer"))),
    min_size=4,
    max_size=50,
)
configs = st.fixed_dictionaries(
    {
        "one_in_flight": st.booleans(),
        "split_gets": st.booleans(),
        "max_get_epcs": st.sampled_from((None, None, 2)),
        "learn_get_limit": st.sampled_from((True, True, False)),
        "retries": st.sampled_from((0, 1)),
        "timeout": st.sampled_from((1.0, 3.0)),
    }
)


def _answer(data: bytes, how: str) -> bytes | None:
    """An answer of a peer to a request we sent (or something like one)."""
    if how == "garbage":
        return b"\x10\x81" + data[2:4] + b"\x02\x7d"
    try:
        frame = decode(data)
    except Exception:
        return None
    if frame.esv is None or frame.deoj is None or frame.seoj is None:
        return None
    esv, props = frame.esv, list(frame.properties)
    if esv in (ESV.GET, ESV.INF_REQ):
        sna = how in ("sna", "empty sna")
        kind = (ESV.GET_SNA if sna else ESV.GET_RES) if esv == ESV.GET else (ESV.INF_SNA if sna else ESV.INF)
        props = [
            Property(p.epc, b"" if sna and (how == "empty sna" or p.epc & 1) else bytes((p.epc & 0x7F,))) for p in props
        ]
        if how == "partial" and len(props) > 1:
            props = props[: len(props) // 2]
        elif how == "reordered":
            props = props[::-1]
    elif esv == ESV.SETC:
        kind = ESV.SETC_SNA if how in ("sna", "empty sna") else ESV.SET_RES
        props = [Property(p.epc) for p in props]
    else:
        return None
    if how == "request esv":
        kind = esv
    seoj = frame.deoj if frame.deoj.instance else frame.deoj.with_instance(1)
    if how == "wrong eoj":
        seoj = seoj.with_instance(seoj.instance % 3 + 1)
    elif how == "wrong class":
        seoj = EOJ(seoj.class_group, seoj.class_code ^ 1, seoj.instance)
    elif how == "wrong group":
        seoj = EOJ(seoj.class_group ^ 1, seoj.class_code, seoj.instance)
    elif how == "instance 0":
        seoj = seoj.with_instance(0)
    tid = frame.tid ^ 0x0101 if how == "wrong tid" else frame.tid
    out = encode(Frame.make(tid, seoj, frame.seoj, kind, props))
    return out[:-1] if how == "truncated" else out


class Driver:
    """One node and how it is driven (``adapter``: the way :mod:`echonet.aio` drives it)."""

    def __init__(self, config: dict[str, Any], fast: bool, adapter: bool = False) -> None:
        self.node = Node(config=NodeConfig(**config), registry=REGISTRY, profile=profile())
        self.node.fast_lane = fast
        self.adapter = adapter
        self.now = 0.0
        self.handles: list[int] = []
        self.sent: list[tuple[bytes, Addr]] = []  # by start_fast (the adapter's own sends)
        self.events: list[Any] = []  # returned by receive_answer

    def step(self, op: tuple[Any, ...], sent: list[tuple[bytes, Addr]]) -> str | None:
        node, kind = self.node, op[0]
        if kind == "request":
            _, host, form, instance, esv, epcs, timeout, retries, reuse = op
            target: Any = host if form == "str" else (host, 3610 if form == "tuple" else 40000)
            props: Any = epcs if esv != ESV.SETC else [Property(e, b"\x41") for e in epcs if 0 <= e <= 0xFF]
            deoj = BATTERY.with_instance(instance)
            if reuse:
                deoj = SAME_EOJS[instance]
                if type(target) is tuple:
                    target = SAME_TARGETS.setdefault(target, target)
            try:
                if self.adapter and retries is None:
                    started = node.start_fast(target, deoj, esv, props, self.now, timeout)
                    if started is not None:
                        handle, data, addr, deadline = started
                        self.handles.append(handle)
                        self.sent.append((data, addr))
                        assert deadline > self.now
                        return None
                handle = node.request(target, deoj, esv, props, now=self.now, timeout=timeout, retries=retries)
            except EchonetUsageError as exc:
                return str(exc)
            self.handles.append(handle)
        elif kind == "answer":
            if not sent:
                return None
            data, addr = sent[-1 - op[1] % len(sent)]
            how = op[2]
            answer = _answer(data, how)
            if answer is None:
                return None
            host = addr[0]
            if how == "wrong host":
                host = HOSTS[(HOSTS.index(host) + 1) % len(HOSTS)]
            elif how == "mapped host" and ":" not in host:
                host = "::ffff:" + host
            source = (host, 40001 if how == "other port" else 3610)
            for _ in range(2 if how == "duplicate" else 1):
                self.receive(answer, source)
        elif kind == "advance":
            self.now = max(0.0, self.now + op[1])
            node.handle_timer(self.now)
        elif kind == "config":
            node.config = dataclasses.replace(node.config, **op[1])
        elif kind == "cancel":
            if self.handles:
                node.cancel(self.handles[op[1] % len(self.handles)])
        else:
            deadline = node.get_timer()
            if deadline is not None:
                self.now = max(self.now, deadline)
                node.handle_timer(self.now)
        return None

    def receive(self, data: bytes, addr: Addr) -> None:
        if self.adapter:
            event = self.node.receive_answer(data, addr, self.now)
            if event is not None:
                assert not self.node._send_later  # what it lets go is ready in datagrams_to_send
                self.events.append(event)
                return
        self.node.receive_datagram(data, addr, self.now)

    def output(self) -> list[tuple[bytes, Addr]]:
        out = self.sent + self.node.datagrams_to_send(self.now)
        self.sent = []
        return out

    def take_events(self) -> list[Any]:
        events = self.events + self.node.take_events()
        self.events = []
        return events


def _run(ops: list[tuple[Any, ...]], config: dict[str, Any], adapter: bool) -> Driver:
    fast, general = Driver(config, True, adapter), Driver(config, False)
    sent: list[tuple[bytes, Addr]] = []
    for op in ops:
        assert fast.step(op, sent) == general.step(op, sent)
        assert fast.now == general.now
        out = fast.output()
        assert out == general.output()
        sent.extend(out)
        assert fast.take_events() == general.take_events()
        assert fast.node.get_timer() == general.node.get_timer()
        assert fast.node.open_requests == general.node.open_requests
        assert fast.handles == general.handles
        assert dataclasses.asdict(fast.node.stats) == dataclasses.asdict(general.node.stats)
    # the rest of the story: every deadline run out (split Gets to one-in-flight devices take a while)
    for _ in range(500):
        if general.node.get_timer() is None:
            break
        fast.step(("timer",), sent)
        general.step(("timer",), sent)
        assert fast.now == general.now
        assert fast.output() == general.output()
        assert fast.take_events() == general.take_events()
    assert fast.node.open_requests == general.node.open_requests == 0
    assert not fast.node._pending and not general.node._pending
    assert not general.node._templates
    assert not core._NO_TEMPLATES  # the shared empty is never written
    return fast


@settings(max_examples=300, deadline=None)
@given(operations, configs)
def test_fast_lane_behaves_like_the_general_path(ops: list[tuple[Any, ...]], config: dict[str, Any]) -> None:
    _run(ops, config, adapter=False)


@settings(max_examples=300, deadline=None)
@given(operations, configs)
def test_adapter_calls_behave_like_the_general_path(ops: list[tuple[Any, ...]], config: dict[str, Any]) -> None:
    _run(ops, config, adapter=True)


def test_the_fast_lane_is_taken() -> None:
    """The common Get is sent and answered by the fast lane (so that the tests above compare something)."""
    driver = Driver({}, True, adapter=True)
    node = driver.node
    started = node.start_fast("192.0.2.1", BATTERY, ESV.GET, [0x80, 0xE4], 0.0)
    assert started is not None
    handle, data, addr, deadline = started
    assert (addr, deadline) == (("192.0.2.1", 3610), 3.0)
    assert node._templates
    answer = _answer(data, "full")
    assert answer is not None
    event = node.receive_answer(answer, ("192.0.2.1", 40000), 0.5)
    assert event is not None and event.handle == handle and event.final
    assert event.frame == decode(answer) and not node.take_events()
    assert node.open_requests == 0 and node.stats.received == 1 and node.stats.sent == 1
    # declined: a fan-out, a SetC, a partial answer (the general path merges it)
    assert node.start_fast("192.0.2.1", BATTERY.with_instance(0), ESV.GET, [0x80], 0.0) is None
    assert node.start_fast("192.0.2.1", BATTERY, ESV.SETC, [0x80], 0.0) is None
    started = node.start_fast("192.0.2.1", BATTERY, ESV.GET, [0x80, 0xE4], 0.0)
    assert started is not None
    partial = _answer(started[1], "partial")
    assert partial is not None
    assert node.receive_answer(partial, ("192.0.2.1", 3610), 0.5) is None
    assert node.stats.received == 1
    node.fast_lane = False
    assert node.start_fast("192.0.2.1", BATTERY, ESV.GET, [0x80, 0xE4], 0.0) is None


def test_the_last_request_shortcut_sees_every_change() -> None:
    """A request with the same objects as the last one reuses its template: unless its EPC list changed in place,
    the configuration changed, or the fast lane was turned off."""
    node = Driver({}, True, adapter=True).node
    host, epcs = ("192.0.2.1", 3610), [0x80, 0xE4]
    first = node.start_fast(host, BATTERY, ESV.GET, epcs, 0.0)
    again = node.start_fast(host, BATTERY, ESV.GET, epcs, 0.0)
    assert first is not None and again is not None and first[1][4:] == again[1][4:]
    epcs.append(0xDA)  # the same list object, changed
    changed = node.start_fast(host, BATTERY, ESV.GET, epcs, 0.0)
    assert changed is not None and decode(changed[1]).properties == tuple(Property(e) for e in (0x80, 0xE4, 0xDA))
    same_tuple = node.start_fast(host, BATTERY, ESV.GET, (0x80, 0xE4, 0xDA), 0.0)
    assert same_tuple is not None and same_tuple[1][4:] == changed[1][4:]
    node.config = dataclasses.replace(node.config, port=3611, timeout=0.5)
    moved = node.start_fast("192.0.2.1", BATTERY, ESV.GET, epcs, 0.0)
    assert moved is not None and moved[2:] == (("192.0.2.1", 3611), 0.5)
    node.fast_lane = False
    assert node.start_fast("192.0.2.1", BATTERY, ESV.GET, epcs, 0.0) is None


@pytest.mark.parametrize("adapter", [False, True])
@pytest.mark.parametrize("config", [{"learn_get_limit": True}, {"one_in_flight": True}])
def test_limits_queues_and_new_configs(config: dict[str, Any], adapter: bool) -> None:
    """A Get above the limit learned for a device is split up front, one behind a request in flight waits and is
    sent when the answer comes, and a new configuration is followed."""
    if True:
        fast, general = Driver(config, True, adapter), Driver(config, False)
        sent: list[tuple[bytes, Addr]] = []
        ops: list[tuple[Any, ...]] = [
            ("request", HOSTS[0], "str", 1, ESV.GET, [0x80, 0xE4, 0xDA], None, None, True),
            ("answer", 0, "partial"),
            ("request", HOSTS[0], "str", 1, ESV.GET, [0xDA, 0xAA, 0xE4, 0x80], None, None, True),
            ("request", HOSTS[0], "tuple", 1, ESV.GET, [0x80, 0xE4], None, None, True),
            ("answer", 1, "full"),
            ("answer", 0, "full"),
            ("request", HOSTS[1], "str", 1, ESV.GET, [0x80], None, None, True),
            ("answer", 0, "wrong host"),
            ("answer", 0, "wrong eoj"),
            ("answer", 0, "wrong class"),
            ("answer", 0, "wrong group"),
            ("answer", 0, "instance 0"),
            ("answer", 0, "wrong tid"),
            ("answer", 0, "sna"),
            ("request", HOSTS[1], "str", 1, ESV.INF_REQ, [0x80], None, None, True),
            ("answer", 0, "mapped host"),
            ("request", HOSTS[1], "str", 2, ESV.GET, [0x80, 0xE4], None, None, True),
            ("answer", 0, "other port"),
            ("config", {"port": 3611, "controller_eoj": BATTERY.with_instance(3)}),
            ("request", HOSTS[1], "str", 1, ESV.GET, [0x80], None, None, True),
            ("answer", 0, "full"),
        ]
        for op in ops:
            fast.step(op, sent)
            general.step(op, sent)
            out = fast.output()
            assert out == general.output()
            sent.extend(out)
            assert fast.take_events() == general.take_events()


class _AdapterDevice:
    """A device node fed the way the asyncio adapter feeds it: :meth:`Node.answer_repeat` first."""

    def __init__(self, node: Node) -> None:
        self.node = node
        self.sent: list[tuple[bytes, Addr]] = []

    def receive_datagram(self, data: bytes, addr: Addr, now: float) -> None:
        answer = self.node.answer_repeat(data, addr)
        if answer is not None:
            self.sent.append(answer)
        else:
            self.node.receive_datagram(data, addr, now)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.node, name)


@settings(max_examples=300, deadline=None)
@given(device_ops, st.booleans())
def test_repeated_gets_answered_by_the_adapter_path(ops: list[tuple[Any, ...]], reply_to_3610: bool) -> None:
    """``answer_repeat`` (the device side's fast lane) answers, counts and declines like ``receive_datagram``."""
    fast = _AdapterDevice(device_node(battery(1), battery(2), reply_to_3610=reply_to_3610))
    general = device_node(battery(1), battery(2), reply_to_3610=reply_to_3610)
    general.fast_lane = False
    for node in (fast.node, general):
        node.start(0.0)
        node.datagrams_to_send(0.0)
    repeats = 0
    for op in ops:
        _device_step(fast, op)  # type: ignore[arg-type]
        _device_step(general, op)
        repeats += len(fast.sent)
        assert fast.sent + fast.node.datagrams_to_send(1.0) == general.datagrams_to_send(1.0)
        fast.sent = []
        assert fast.node.take_events() == general.take_events()
        assert fast.node.stats == general.stats
    assert general.answer_repeat(b"\x10\x81", ("192.0.2.9", 3610)) is None
