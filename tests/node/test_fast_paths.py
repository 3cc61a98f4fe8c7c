"""The performance fast paths behave exactly like the general paths they shortcut.

* Timer FIFOs per timeout value in the sans-I/O core against the plain heap (``_max_fifos = 0``): two controller
  nodes fed the same random request / answer / clock sequences (the clock sometimes going back) send the same bytes,
  report the same events and ask for the same deadlines.
* The memo of decoded frames (datagrams that repeat but for their TID) against decoding every datagram, in both.
* The precomputed Get_Res of the device side against answers built afresh (``_max_answers = 0``): two device nodes
  fed the same random Gets (repeated with new TIDs), Sets, local updates, object changes and garbage answer alike.
* The Get / INF_REQ encoder against :func:`echonet.encode`.
* The adapter's one-answer request path (``Controller.get`` and friends) against ``NodeRunner.request``, and the
  Get_Res shortcut of ``GetResult`` against the dataclass constructor.
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any, TypeVar

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from echonet import EOJ, ESV, EchonetTimeoutError, Frame, Property, decode, encode
from echonet.aio import Controller, DeviceServer, Endpoints, GetResult, run
from echonet.aio import EchonetTimeoutError as AioTimeoutError
from echonet.aio.results import get_result
from echonet.errors import EchonetTimeoutError as ErrorsTimeoutError
from echonet.errors import EchonetUsageError
from echonet.node import Addr, Node, NodeConfig, ResponseReceived, answer_values, refused_epcs
from echonet.node.core import _encode_read, _properties

from .util import BATTERY, REGISTRY, battery, device_node, profile

T = TypeVar("T")
HOSTS = ("192.0.2.1", "192.0.2.2", "192.0.2.3")
TIMEOUTS = (0.5, 0.7, 1.0, 1.5, 2.0, 2.5, 3.0, 0.3, 0.9, 1.1)  # more than the FIFOs: the heap takes the rest

requests = st.tuples(
    st.just("request"),
    st.sampled_from(HOSTS),
    st.sampled_from(TIMEOUTS),
    st.integers(0, 2),
    st.lists(st.integers(0x80, 0xFF), min_size=1, max_size=4),
    st.sampled_from((0, 1, 2)),  # instance (0: fan-out)
    st.sampled_from((ESV.GET, ESV.INF_REQ, ESV.SETC)),
)
advances = st.tuples(st.just("advance"), st.sampled_from((-0.4, 0.0, 0.05, 0.3, 0.7, 1.2, 3.5)))
answers = st.tuples(st.just("answer"), st.integers(0, 50), st.sampled_from(("full", "partial", "sna", "wrong host")))
operations = st.lists(st.one_of(requests, advances, answers, st.tuples(st.just("timer"))), min_size=6, max_size=40)


def _answer(data: bytes, how: str) -> tuple[bytes, str] | None:
    frame = decode(data)
    assert frame.esv is not None and frame.deoj is not None and frame.seoj is not None
    esv = frame.esv
    if esv == ESV.GET:
        kind = ESV.GET_SNA if how == "sna" else ESV.GET_RES
        props = [Property(p.epc, b"" if how == "sna" else bytes((p.epc & 0x7F,))) for p in frame.properties]
        if how == "partial" and len(props) > 1:
            props = props[: len(props) // 2]
    elif esv == ESV.INF_REQ:
        kind = ESV.INF
        props = [Property(p.epc, b"\x01") for p in frame.properties]
    elif esv == ESV.SETC:
        kind = ESV.SET_RES
        props = [Property(p.epc) for p in frame.properties]
    else:
        return None
    deoj = frame.deoj if frame.deoj.instance else frame.deoj.with_instance(1)
    return encode(Frame.make(frame.tid, deoj, frame.seoj, kind, props)), how


def _step(node: Node, op: tuple[Any, ...], now: float, sent: list[tuple[bytes, Addr]]) -> float:
    kind = op[0]
    if kind == "request":
        _, host, timeout, retries, epcs, instance, esv = op
        props: list[Property | int] = list(epcs) if esv != ESV.SETC else [Property(e, b"\x30") for e in epcs]
        node.request(host, BATTERY.with_instance(instance), esv, props, now=now, timeout=timeout, retries=retries)
    elif kind == "advance":
        now = max(0.0, now + op[1])
        node.handle_timer(now)
    elif kind == "answer":
        if sent:
            data, addr = sent[op[1] % len(sent)]
            answer = _answer(data, op[2])
            if answer is not None:
                host = HOSTS[(HOSTS.index(addr[0]) + 1) % len(HOSTS)] if op[2] == "wrong host" else addr[0]
                node.receive_datagram(answer[0], (host, 3610), now)
    else:
        deadline = node.get_timer()
        if deadline is not None:
            now = max(now, deadline)
            node.handle_timer(now)
    return now


def _controller(**config: Any) -> Node:
    return Node(config=NodeConfig(**config), registry=REGISTRY, profile=profile())


@settings(max_examples=150, deadline=None)
@given(operations, st.booleans(), st.booleans())
def test_timer_fifos_behave_like_the_heap(ops: list[tuple[Any, ...]], one_in_flight: bool, split: bool) -> None:
    fast = _controller(one_in_flight=one_in_flight, split_gets=split)
    general = _controller(one_in_flight=one_in_flight, split_gets=split)
    general._max_fifos = general._max_decoded = 0
    now_fast = now_general = 0.0
    sent: list[tuple[bytes, Addr]] = []
    for op in ops:
        now_fast = _step(fast, op, now_fast, sent)
        now_general = _step(general, op, now_general, sent)
        assert now_fast == now_general
        out = fast.datagrams_to_send(now_fast)
        assert out == general.datagrams_to_send(now_general)
        sent.extend(out)
        assert fast.take_events() == general.take_events()
        assert fast.get_timer() == general.get_timer()
        assert fast.open_requests == general.open_requests
    assert not general._fifos and not general._decoded


CONTROLLER = EOJ(0x05, 0xFF, 0x01)
device_ops = st.lists(
    st.one_of(
        st.tuples(
            st.just("get"),
            st.integers(0, 0xFFFF),
            st.sampled_from((1, 1, 2, 3)),
            st.sampled_from(([0xE4, 0xDA], [0xDA], [0x80, 0xE4, 0xAA], [0xEB, 0x80], [0xF0, 0x81])),
            st.sampled_from((3610, 40000)),
        ),
        st.tuples(
            st.just("set"), st.integers(0, 0xFFFF), st.sampled_from((0xDA, 0x81)), st.binary(min_size=1, max_size=1)
        ),
        st.tuples(st.just("update"), st.sampled_from((1, 2)), st.sampled_from((0xE4, 0xDA)), st.integers(0, 100)),
        st.tuples(st.just("host"), st.sampled_from((2, 3))),
        st.tuples(st.just("garbage"), st.binary(max_size=16)),
    ),
    min_size=6,
    max_size=30,
)


def _device_step(node: Node, op: tuple[Any, ...]) -> None:
    kind = op[0]
    if kind == "get":
        _, tid, instance, epcs, port = op
        data = encode(
            Frame.make(tid, CONTROLLER, BATTERY.with_instance(instance), ESV.GET, [Property(e) for e in epcs])
        )
        node.receive_datagram(data, ("192.0.2.9", port), 1.0)
    elif kind == "set":
        _, tid, epc, edt = op
        data = encode(Frame.make(tid, CONTROLLER, BATTERY, ESV.SETC, [Property(epc, edt)]))
        node.receive_datagram(data, ("192.0.2.9", 3610), 1.0)
    elif kind == "update":
        obj = node.object(BATTERY.with_instance(op[1]))
        if obj is not None:
            obj.update(op[2], bytes((op[3],)) if op[2] == 0xE4 else (b"\x42" if op[3] % 2 else b"\x44"))
    elif kind == "host":
        eoj = BATTERY.with_instance(op[1])
        if node.object(eoj) is None:
            node.add(battery(op[1]))
        else:
            node.remove(eoj)
    else:
        node.receive_datagram(b"\x10\x81" + op[1], ("192.0.2.9", 3610), 1.0)


@settings(max_examples=300, deadline=None)
@given(device_ops, st.booleans())
def test_precomputed_get_res_behaves_like_answering_afresh(ops: list[tuple[Any, ...]], reply_to_3610: bool) -> None:
    fast = device_node(battery(1), battery(2), reply_to_3610=reply_to_3610)
    general = device_node(battery(1), battery(2), reply_to_3610=reply_to_3610)
    general._max_answers = general._max_decoded = 0
    for node in (fast, general):
        node.start(0.0)
        node.datagrams_to_send(0.0)
    for op in ops:
        for node in (fast, general):
            _device_step(node, op)
        assert fast.datagrams_to_send(1.0) == general.datagrams_to_send(1.0)
        assert fast.take_events() == general.take_events()
        assert fast.stats == general.stats
    assert not general._answers and not general._decoded


def test_precomputed_get_res_follows_value_changes_and_hosting() -> None:
    node = device_node(battery(1))
    for op, expected in (
        (("get", 1, 1, [0xE4, 0xDA], 3610), "e40132da0144"),
        (("get", 2, 1, [0xE4, 0xDA], 3610), "e40132da0144"),  # precomputed, new TID
        (("update", 1, 0xE4, 7), None),
        (("get", 3, 1, [0xE4, 0xDA], 3610), "e40107da0144"),
        (("set", 4, 0xDA, b"\x42"), None),
        (("get", 5, 1, [0xE4, 0xDA], 40000), "e40107da0142"),
        (("host", 2), None),
        (("get", 6, 2, [0xE4, 0xDA], 3610), "e40132da0144"),
        (("host", 2), None),
        (("get", 7, 2, [0xE4, 0xDA], 3610), None),  # removed: no answer
    ):
        _device_step(node, op)
        out = [d for d, a in node.datagrams_to_send(1.0) if a[0] == "192.0.2.9"]
        if op[0] == "get":
            assert [d[12:].hex() for d in out] == ([expected] if expected else [])
            assert all(d[2:4] == op[1].to_bytes(2, "big") for d in out)


@given(
    st.integers(0, 0xFFFF),
    st.tuples(st.integers(0, 255), st.integers(0, 255), st.integers(0, 255)),
    st.tuples(st.integers(0, 255), st.integers(0, 255), st.integers(0, 255)),
    st.sampled_from((ESV.GET, ESV.INF_REQ)),
    st.lists(st.integers(0, 255), min_size=1, max_size=255),
)
def test_read_request_encoder_matches_encode(
    tid: int, seoj: tuple[int, int, int], deoj: tuple[int, int, int], esv: ESV, epcs: list[int]
) -> None:
    props = tuple(Property(e) for e in epcs)
    assert _encode_read(tid, EOJ(*seoj), EOJ(*deoj), esv, props) == encode(
        Frame.make(tid, EOJ(*seoj), EOJ(*deoj), esv, props)
    )


def test_get_result_shortcut_equals_the_constructor() -> None:
    frame = Frame.make(7, BATTERY, EOJ(0x05, 0xFF, 0x01), ESV.GET_RES, [Property(0x80, b"\x30"), Property(0xE4, b"2")])
    event = ResponseReceived(1, frame, ("192.0.2.1", 3610))
    general = GetResult(event.addr, BATTERY, answer_values(frame), refused_epcs(frame), (), frame)
    fast = get_result(event, BATTERY)
    assert fast == general and repr(fast) == repr(general) and fast.ok and fast.__dict__ == general.__dict__


def test_timeout_error_lives_in_errors_and_is_re_exported() -> None:
    assert EchonetTimeoutError is AioTimeoutError is ErrorsTimeoutError
    assert issubclass(EchonetTimeoutError, TimeoutError)


def go(coro: Coroutine[Any, Any, T]) -> T:
    async def bounded() -> T:
        return await asyncio.wait_for(coro, 20)

    return run(bounded())


def test_one_answer_path_equals_the_general_request_path_over_udp() -> None:
    async def scenario() -> None:
        node = Node([battery(1)], config=NodeConfig(), registry=REGISTRY, profile=profile())
        server = await DeviceServer.open(node, Endpoints(bind_v4="127.0.0.46", port=0))
        ctl = await Controller.open(Endpoints(bind_v4="127.0.0.47", port=0), config=NodeConfig(timeout=1.0))
        device = server.runner.local_addresses[2][:2]
        try:
            for epcs in ([0x80], [0x80, 0xE4, 0xDA], [0x80, 0xEB], [0x9F, 0x9E, 0x9D]):
                got = await ctl.get(device, BATTERY, epcs)
                final, responses = await ctl.runner.request(device, BATTERY, ESV.GET, epcs)
                assert isinstance(final, ResponseReceived) and responses == [final]
                general = GetResult(
                    final.addr,
                    final.frame.seoj or BATTERY,
                    answer_values(final.frame),
                    refused_epcs(final.frame),
                    final.unanswered,
                    final.frame,
                )
                assert got.frame is not None and got.frame.tid != final.frame.tid
                assert got.values == general.values and got.refused == general.refused and got.ok == general.ok
                assert got.frame.esv == general.frame.esv and got.addr == general.addr and got.eoj == general.eoj
            info = await ctl.inf_req(device, BATTERY, [0x80])
            assert info.values == {0x80: b"\x30"}
            done = await ctl.set(device, BATTERY, {0xDA: b"\x42"})
            assert done.ok and (await ctl.get(device, BATTERY, [0xDA])).values == {0xDA: b"\x42"}
            assert not ctl.runner.waiting and not ctl.node.open_requests
            silent = ("127.0.0.48", device[1])
            try:
                await ctl.get(silent, BATTERY, [0x80], timeout=0.05, retries=1)
            except EchonetTimeoutError as exc:
                assert exc.attempts == 2
            else:
                raise AssertionError("no timeout")
            assert not ctl.runner.waiting and not ctl.node.open_requests
        finally:
            await ctl.close()
            await server.close()

    go(scenario())


def test_fast_gets_end_by_timeout_and_let_queued_requests_go_over_udp() -> None:
    """A fast-lane Get with no answer raises the timeout after its retries (the general path ends it); with one
    request in flight per device, Gets queued behind a fast one are sent when its answer comes, and all complete."""

    async def scenario() -> None:
        node = Node([battery(1)], config=NodeConfig(), registry=REGISTRY, profile=profile())
        server = await DeviceServer.open(node, Endpoints(bind_v4="127.0.0.51", port=0))
        config = NodeConfig(timeout=0.05, retries=1, one_in_flight=True)
        ctl = await Controller.open(Endpoints(bind_v4="127.0.0.52", port=0), config=config)
        device = server.runner.local_addresses[2][:2]
        try:
            with pytest.raises(EchonetTimeoutError) as caught:
                await ctl.get(("127.0.0.53", device[1]), BATTERY, [0x80])
            assert caught.value.attempts == 2 and ctl.node.stats.retries == 1
            results = await asyncio.gather(*(ctl.get(device, BATTERY, [0x80, 0xE4][: 1 + i % 2]) for i in range(6)))
            assert [sorted(r.values) for r in results] == [[0x80], [0x80, 0xE4]] * 3
            assert all(r.frame is not None and r.addr == device for r in results)
            assert not ctl.runner.waiting and not ctl.node.open_requests
        finally:
            await ctl.close()
            await server.close()

    go(scenario())


@pytest.mark.parametrize("fast", [True, False])
def test_a_get_queued_behind_a_cancelled_one_leaves_at_once(fast: bool) -> None:
    """One request in flight per device: when the caller of the request in flight gives up, the Get queued behind
    it is sent right away, not at the cancelled request's deadline."""

    async def scenario() -> None:
        config = NodeConfig(timeout=5.0, retries=0, one_in_flight=True)
        ctl = await Controller.open(Endpoints(bind_v4="127.0.0.56", port=0), config=config)
        ctl.node.fast_lane = fast
        sent: list[bytes] = []
        ctl.runner.wiretap(lambda direction, data, addr: sent.append(data) if direction == "out" else None)
        silent = ("127.0.0.57", 3610)
        try:
            first = asyncio.ensure_future(ctl.get(silent, BATTERY, [0x80]))
            second = asyncio.ensure_future(ctl.get(silent, BATTERY, [0xE4]))
            await asyncio.sleep(0.05)
            assert [decode(d).properties[0].epc for d in sent] == [0x80]  # the second waits its turn
            first.cancel()
            await asyncio.sleep(0.05)
            assert [decode(d).properties[0].epc for d in sent] == [0x80, 0xE4]
            second.cancel()
            await asyncio.gather(first, second, return_exceptions=True)
            assert not ctl.node.open_requests and not ctl.runner.waiting
        finally:
            await ctl.close()

    go(scenario())


def test_wiretap_sees_every_datagram_of_the_fast_lane() -> None:
    """A runner's wiretap records the datagrams in and out even where the fast lane sends inline."""

    async def scenario() -> None:
        node = Node([battery(1)], config=NodeConfig(), registry=REGISTRY, profile=profile())
        server = await DeviceServer.open(node, Endpoints(bind_v4="127.0.0.54", port=0), start=False)
        ctl = await Controller.open(Endpoints(bind_v4="127.0.0.55", port=0), config=NodeConfig(timeout=1.0))
        device, me = server.runner.local_addresses[2][:2], ctl.runner.local_addresses[2][:2]
        seen: dict[str, list[tuple[str, bytes, Addr]]] = {"device": [], "controller": []}
        server.runner.wiretap(lambda *record: seen["device"].append(record))
        ctl.runner.wiretap(lambda *record: seen["controller"].append(record))
        try:
            for _ in range(3):  # the first Get takes the general path, the next ones the fast lane
                await ctl.get(device, BATTERY, [0x80, 0xE4])
        finally:
            await ctl.close()
            await server.close()
        for side, peer in (("controller", device), ("device", me)):
            assert [(d, a) for d, _, a in seen[side]] == [
                ("out" if side == "controller" else "in", peer),
                ("in" if side == "controller" else "out", peer),
            ] * 3
        assert [data for _, data, _ in seen["controller"]] == [data for _, data, _ in seen["device"]]

    go(scenario())


def test_cancelled_one_answer_request_is_forgotten() -> None:
    async def scenario() -> None:
        ctl = await Controller.open(Endpoints(bind_v4="127.0.0.49", port=0), config=NodeConfig(timeout=5.0))
        try:
            task = asyncio.ensure_future(ctl.get(("127.0.0.50", 3610), BATTERY, [0x80]))
            await asyncio.sleep(0.01)
            assert ctl.node.open_requests == 1
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
            assert not ctl.runner.waiting and not ctl.node.open_requests
        finally:
            await ctl.close()

    go(scenario())


@given(st.lists(st.one_of(st.integers(-3, 300), st.builds(Property, st.integers(0x80, 0xFF))), min_size=1, max_size=8))
def test_list_of_epcs_shortcut_matches_the_general_conversion(items: list[int | Property]) -> None:
    def outcome(value: Any) -> Any:
        try:
            return _properties(value, True, "property")
        except EchonetUsageError as exc:
            return str(exc)

    general = outcome(iter(items))  # an iterator takes the general path
    assert outcome(items) == general and outcome(tuple(items)) == general
    if not isinstance(general, str):
        assert all(type(p.epc) is int and p.edt == b"" for p in outcome(items))
