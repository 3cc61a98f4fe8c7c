"""Whatever arrives on port 3610, the node never raises from receive_datagram: garbage becomes a Dropped event."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from echonet import EOJ, ESV, Frame, FrameDecodeError, Property, decode, encode
from echonet.node import Dropped, Node, TrailingBytes

from ..strategies import any_bytes, frames
from .util import BATTERY, DEVICE_IP, battery, device_node, events


def busy_node() -> Node:
    """A node that hosts objects and has requests of its own waiting, so that every code path can be reached."""
    node = device_node(battery(1), battery(2), one_in_flight=True)
    node.start(0.0)
    node.request(DEVICE_IP, BATTERY, ESV.GET, [0x80, 0x81, 0xE4], now=0.0)
    node.request(DEVICE_IP, BATTERY, ESV.GET, [0xE4], now=0.0)
    node.request("224.0.23.0", BATTERY.with_instance(0), ESV.GET, [0x80], now=0.0)
    node.request(DEVICE_IP, BATTERY, ESV.SETI, [Property(0x80, b"\x30")], now=0.0)
    node.datagrams_to_send(0.0)
    events(node)
    return node


def check_one(node: Node, data: bytes) -> None:
    node.receive_datagram(data, (DEVICE_IP, 3610), 1.0)
    got = events(node)
    try:
        decode(data)
    except FrameDecodeError as exc:
        if exc.field == "trailing":  # taken as the frame before the extra bytes, which are reported first
            assert isinstance(got[0], TrailingBytes) and got[0].extra == data[exc.offset :]
            assert got[0].addr == (DEVICE_IP, 3610) and node.stats.trailing == 1
        else:
            (event,) = got
            assert isinstance(event, Dropped) and event.addr == (DEVICE_IP, 3610) and event.size == len(data)
            assert event.reason.startswith("malformed: ")
    for event in got:
        assert not (isinstance(event, Dropped) and event.reason.startswith("internal error")), event
    node.datagrams_to_send(1.0)
    node.handle_timer(10.0)
    node.get_timer()
    node.datagrams_to_send(10.0)


@given(st.binary(max_size=300))
def test_random_bytes_never_raise_and_become_dropped_events(data: bytes) -> None:
    check_one(busy_node(), data)


@given(any_bytes)
def test_damaged_frames_never_raise_and_become_dropped_events(data: bytes) -> None:
    check_one(busy_node(), data)


@given(st.lists(frames(), max_size=6))
def test_well_formed_frames_of_any_service_never_raise(sequence: list[Frame]) -> None:
    node = busy_node()
    for frame in sequence:
        check_one(node, encode(frame))


def test_a_stream_of_garbage_leaves_the_node_answering() -> None:
    node = device_node()
    for i in range(2000):
        node.receive_datagram(bytes([i % 256]) * (i % 50), ("192.0.2.99", 40000 + i % 100), 0.0)
    node.receive_datagram(bytes.fromhex("1081000105ff01027d0162018000"), ("192.0.2.10", 3610), 0.0)
    out = node.datagrams_to_send(0.0)
    assert out == [(bytes.fromhex("10810001027d0105ff0172018001" + "30"), ("192.0.2.10", 3610))]
    assert node.stats.dropped == 2000
    assert sum(isinstance(e, Dropped) for e in events(node)) == 2000


ours = st.sampled_from([BATTERY, BATTERY.with_instance(0), BATTERY.with_instance(2), EOJ(0x0E, 0xF0, 0x01)])
props = st.lists(st.builds(Property, st.integers(0x80, 0xFF), st.binary(max_size=6)), max_size=5)


@given(st.integers(0, 0xFFFF), ours, st.sampled_from([int(e) for e in ESV]), props, props)
def test_any_service_addressed_to_our_objects_never_raises(
    tid: int, deoj: EOJ, esv: int, first: list[Property], second: list[Property]
) -> None:
    node = busy_node()
    frame = Frame.make(tid, EOJ(0x05, 0xFF, 0x01), deoj, esv, first, second if esv in (0x6E, 0x7E, 0x5E) else [])
    check_one(node, encode(frame))
