"""The controller side: fresh TIDs, matching on (peer IP, TID, EOJ) but never the port, timeouts and retries,
fan-out collection, one request in flight per device, adaptive splitting of Gets, and refused misuse."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from echonet import EOJ, ESV, EchonetUsageError, Frame, Property, decode, encode
from echonet.node import (
    Addr,
    Dropped,
    Node,
    NotificationReceived,
    RequestFinished,
    RequestTimedOut,
    ResponseReceived,
)

from .util import BATTERY, CONTROLLER, DEVICE_IP, battery, controller_node, device_node, events, h

Transform = Callable[[bytes], bytes | None]
DEVICE: Addr = (DEVICE_IP, 3610)
ME: Addr = ("192.0.2.10", 3610)


class Net:
    """Carries datagrams between a controller node and device nodes by IP, with an optional transform of what each
    device sends (to make it misbehave) and a source port of the device's choosing."""

    def __init__(self, ctl: Node, devices: dict[str, Node], *, port: int = 3610, transform: Transform | None = None):
        self.ctl = ctl
        self.devices = devices
        self.port = port
        self.transform = transform
        self.sent: list[bytes] = []
        self.now = 0.0

    def pump(self) -> None:
        for _ in range(20):
            moved = False
            for data, addr in self.ctl.datagrams_to_send(self.now):
                self.sent.append(data)
                targets = self.devices.values() if addr[0] == "224.0.23.0" else [self.devices.get(addr[0])]
                for dev in targets:
                    if dev is not None:
                        dev.receive_datagram(data, ME, self.now)
                moved = True
            for ip, dev in self.devices.items():
                for data, addr in dev.datagrams_to_send(self.now):
                    if addr != ME:
                        continue
                    answer = self.transform(data) if self.transform else data
                    if answer is not None:
                        self.ctl.receive_datagram(answer, (ip, self.port), self.now)
                    moved = True
            if not moved:
                return

    def advance(self, seconds: float) -> None:
        self.now += seconds
        self.ctl.handle_timer(self.now)
        self.pump()


def test_requests_get_fresh_tids_and_answers_keep_them() -> None:
    ctl = controller_node()
    net = Net(ctl, {DEVICE_IP: device_node()})
    first = ctl.request(DEVICE_IP, BATTERY, ESV.GET, [0x80], now=0.0)
    second = ctl.request(DEVICE_IP, BATTERY, ESV.GET, [0xE4], now=0.0)
    net.pump()
    assert net.sent == [h("1081 0001 05ff01 027d01 62 01 8000"), h("1081 0002 05ff01 027d01 62 01 e400")]
    got = {e.handle: e for e in events(ctl) if isinstance(e, ResponseReceived)}
    assert got[first].frame.tid == 1 and got[first].values == {0x80: b"\x30"} and got[first].final
    assert got[second].frame.tid == 2 and got[second].values == {0xE4: b"\x32"}


def test_answer_from_a_source_port_other_than_3610_is_matched() -> None:
    ctl = controller_node()
    net = Net(ctl, {DEVICE_IP: device_node()}, port=49152)
    handle = ctl.request(DEVICE_IP, BATTERY, ESV.GET, [0x80], now=0.0)
    net.pump()
    (event,) = events(ctl)
    assert isinstance(event, ResponseReceived) and event.handle == handle and event.addr == (DEVICE_IP, 49152)
    assert ctl.get_timer() is None


def test_answer_from_another_ip_or_object_or_service_is_not_matched() -> None:
    ctl = controller_node()
    ctl.request(DEVICE_IP, BATTERY, ESV.GET, [0x80], now=0.0)
    good = h("1081 0001 027d01 05ff01 72 01 800130")
    ctl.receive_datagram(good, ("192.0.2.99", 3610), 0.1)  # other IP
    ctl.receive_datagram(h("1081 0001 027d02 05ff01 72 01 800130"), DEVICE, 0.1)  # other instance
    ctl.receive_datagram(h("1081 0001 027d01 05ff01 71 01 8000"), DEVICE, 0.1)  # Set_Res to a Get
    ctl.receive_datagram(h("1081 0009 027d01 05ff01 72 01 800130"), DEVICE, 0.1)  # other TID
    dropped = events(ctl)
    assert len(dropped) == 4 and all(isinstance(e, Dropped) and "unexpected answer" in e.reason for e in dropped)
    ctl.receive_datagram(good, ("192.0.2.20", 61000), 0.2)
    (event,) = events(ctl)
    assert isinstance(event, ResponseReceived)


def test_ipv6_answers_match_whatever_their_scope_or_mapping() -> None:
    ctl = controller_node()
    ctl.request(("fe80::20", 3610, 0, 4), BATTERY, ESV.GET, [0x80], now=0.0)
    ctl.receive_datagram(h("1081 0001 027d01 05ff01 72 01 800130"), ("fe80::20%eth0", 3610, 0, 4), 0.1)
    ctl.request("192.0.2.20", BATTERY, ESV.GET, [0x80], now=0.0)
    ctl.receive_datagram(h("1081 0002 027d01 05ff01 72 01 800130"), ("::ffff:192.0.2.20", 3610, 0, 0), 0.1)
    assert [type(e) for e in events(ctl)] == [ResponseReceived, ResponseReceived]


def test_timeout_after_retries_resends_the_same_frame_then_reports() -> None:
    ctl = controller_node(timeout=2.0, retries=2)
    handle = ctl.request(DEVICE_IP, BATTERY, ESV.GET, [0x80], now=10.0)
    first = ctl.datagrams_to_send(10.0)
    assert ctl.get_timer() == 12.0
    ctl.handle_timer(11.9)
    assert ctl.datagrams_to_send(11.9) == [] and events(ctl) == []
    ctl.handle_timer(12.0)
    assert ctl.datagrams_to_send(12.0) == first
    ctl.handle_timer(14.0)
    assert ctl.datagrams_to_send(14.0) == first
    ctl.handle_timer(16.0)
    assert events(ctl) == [RequestTimedOut(handle, DEVICE, BATTERY, ESV.GET, 3)]
    assert ctl.get_timer() is None and ctl.open_requests == 0


def test_a_late_answer_to_the_first_attempt_is_accepted() -> None:
    ctl = controller_node(timeout=1.0, retries=1)
    ctl.request(DEVICE_IP, BATTERY, ESV.GET, [0x80], now=0.0)
    ctl.handle_timer(1.0)  # retry sent with the same TID
    ctl.receive_datagram(h("1081 0001 027d01 05ff01 72 01 800130"), DEVICE, 1.5)
    (event,) = events(ctl)
    assert isinstance(event, ResponseReceived)
    ctl.receive_datagram(h("1081 0001 027d01 05ff01 72 01 800130"), DEVICE, 1.6)  # answer to the retry: surplus
    assert [type(e) for e in events(ctl)] == [Dropped]


def test_get_with_opc_0_is_never_sent() -> None:
    ctl = controller_node()
    for esv in (ESV.GET, ESV.INF_REQ, ESV.SETC, ESV.SETI):
        with pytest.raises(EchonetUsageError):
            ctl.request(DEVICE_IP, BATTERY, esv, [], now=0.0)
    with pytest.raises(EchonetUsageError):
        ctl.request(DEVICE_IP, BATTERY, ESV.SETGET, [Property(0x80, b"\x30")], [], now=0.0)
    with pytest.raises(EchonetUsageError):
        ctl.request(DEVICE_IP, BATTERY, ESV.GET, [Property(0x80, b"\x30")], now=0.0)  # a Get carries no EDT
    with pytest.raises(EchonetUsageError):
        ctl.request(DEVICE_IP, BATTERY, ESV.GET_RES, [0x80], now=0.0)
    assert ctl.datagrams_to_send(0.0) == [] and ctl.open_requests == 0


def test_get_sna_keeps_the_values_it_carries_and_says_what_was_refused() -> None:
    ctl = controller_node()
    net = Net(ctl, {DEVICE_IP: device_node()})
    ctl.request(DEVICE_IP, BATTERY, ESV.GET, [0x80, 0xEB, 0xE4], now=0.0)
    net.pump()
    (event,) = events(ctl)
    assert isinstance(event, ResponseReceived) and event.frame.esv == ESV.GET_SNA
    assert event.values == {0x80: b"\x30", 0xE4: b"\x32"} and event.refused == (0xEB,) and not event.ok


def test_set_sna_says_which_epcs_were_refused() -> None:
    ctl = controller_node()
    net = Net(ctl, {DEVICE_IP: device_node()})
    ctl.request(DEVICE_IP, BATTERY, ESV.SETC, [Property(0xDA, b"\x42"), Property(0xE4, b"\x10")], now=0.0)
    net.pump()
    (event,) = events(ctl)
    assert isinstance(event, ResponseReceived) and event.frame.esv == ESV.SETC_SNA and event.refused == (0xE4,)


def test_setget_round_trip() -> None:
    ctl = controller_node()
    net = Net(ctl, {DEVICE_IP: device_node()})
    ctl.request(DEVICE_IP, BATTERY, ESV.SETGET, [Property(0xDA, b"\x42")], [0xDA, 0xE4], now=0.0)
    net.pump()
    assert net.sent == [h("1081 0001 05ff01 027d01 6e 01 da0142 02 da00 e400")]
    (event,) = events(ctl)
    assert isinstance(event, ResponseReceived) and event.frame.esv == ESV.SETGET_RES
    assert event.values == {0xDA: b"\x42", 0xE4: b"\x32"} and event.ok


def test_seti_success_finishes_silently_after_the_window_and_sna_is_an_answer() -> None:
    ctl = controller_node(timeout=1.0)
    net = Net(ctl, {DEVICE_IP: device_node()})
    quiet = ctl.request(DEVICE_IP, BATTERY, ESV.SETI, [Property(0xDA, b"\x42")], now=0.0)
    refused = ctl.request(DEVICE_IP, BATTERY, ESV.SETI, [Property(0xE4, b"\x10")], now=0.0)
    net.pump()
    (sna,) = events(ctl)
    assert isinstance(sna, ResponseReceived) and sna.handle == refused and sna.refused == (0xE4,)
    net.advance(1.0)
    assert events(ctl) == [RequestFinished(quiet, 0)]
    assert net.sent.count(h("1081 0001 05ff01 027d01 60 01 da0142")) == 1  # a SetI is never retried


def test_instance_0_fan_out_reports_each_answer_then_finishes() -> None:
    ctl = controller_node(timeout=1.0)
    net = Net(ctl, {DEVICE_IP: device_node(battery(1), battery(2)), "192.0.2.21": device_node(battery(7))})
    handle = ctl.request("224.0.23.0", BATTERY.with_instance(0), ESV.GET, [0x80], now=0.0)
    net.pump()
    answers = events(ctl)
    assert len(answers) == 3 and all(isinstance(a, ResponseReceived) and not a.final for a in answers)
    seojs = sorted(a.frame.seoj for a in answers if isinstance(a, ResponseReceived) and a.frame.seoj)
    assert [s.instance for s in seojs] == [1, 2, 7]
    net.advance(1.0)
    assert events(ctl) == [RequestFinished(handle, 3)]


def test_fan_out_without_any_answer_times_out() -> None:
    ctl = controller_node(timeout=1.0, retries=0)
    handle = ctl.request("224.0.23.0", BATTERY.with_instance(0), ESV.GET, [0x80], now=0.0)
    ctl.handle_timer(1.0)
    assert [type(e) for e in events(ctl)] == [RequestTimedOut]
    assert ctl.open_requests == 0 and handle == 1


def test_one_in_flight_mode_queues_requests_per_device() -> None:
    ctl = controller_node(one_in_flight=True)
    a = ctl.request(DEVICE_IP, BATTERY, ESV.GET, [0x80], now=0.0)
    ctl.request(DEVICE_IP, BATTERY, ESV.GET, [0xE4], now=0.0)
    ctl.request("192.0.2.21", BATTERY, ESV.GET, [0x80], now=0.0)  # another device is not held up
    assert [(d[2:4], addr[0]) for d, addr in ctl.datagrams_to_send(0.0)] == [
        (b"\x00\x01", DEVICE_IP),
        (b"\x00\x02", "192.0.2.21"),
    ]
    ctl.receive_datagram(h("1081 0001 027d01 05ff01 72 01 800130"), DEVICE, 0.5)
    assert [e.handle for e in events(ctl) if isinstance(e, ResponseReceived)] == [a]
    assert ctl.datagrams_to_send(0.5) == [(h("1081 0003 05ff01 027d01 62 01 e400"), DEVICE)]


def test_one_in_flight_mode_moves_on_after_a_timeout() -> None:
    ctl = controller_node(one_in_flight=True, timeout=1.0, retries=0)
    ctl.request(DEVICE_IP, BATTERY, ESV.GET, [0x80], now=0.0)
    ctl.request(DEVICE_IP, BATTERY, ESV.GET, [0xE4], now=0.0)
    assert len(ctl.datagrams_to_send(0.0)) == 1
    ctl.handle_timer(1.0)
    assert [type(e) for e in events(ctl)] == [RequestTimedOut]
    assert ctl.datagrams_to_send(1.0) == [(h("1081 0002 05ff01 027d01 62 01 e400"), DEVICE)]
    assert ctl.get_timer() == 2.0


def first_n(n: int) -> Transform:
    """A device that answers a Get with its first ``n`` properties only."""

    def transform(data: bytes) -> bytes:
        frame = decode(data)
        if frame.esv in (ESV.GET_RES, ESV.GET_SNA) and len(frame.properties) > n:
            frame = frame._replace(properties=frame.properties[:n])
        return encode(frame)

    return transform


def test_get_is_split_adaptively_when_a_device_answers_only_the_first_n_properties() -> None:
    ctl = controller_node()
    net = Net(ctl, {DEVICE_IP: device_node()}, transform=first_n(2))
    epcs = [0x80, 0x81, 0x82, 0x88, 0x8A, 0xDA, 0xE4]
    handle = ctl.request(DEVICE_IP, BATTERY, ESV.GET, epcs, now=0.0)
    net.pump()
    (event,) = events(ctl)
    assert isinstance(event, ResponseReceived) and event.handle == handle and event.final and event.complete
    assert event.frame.esv == ESV.GET_RES and [p.epc for p in event.frame.properties] == epcs
    assert event.values[0xE4] == b"\x32" and event.values[0x8A] == h("000077")
    assert len(net.sent) == 4  # 7 EPCs: 2 answered, then 2 of 5, 2 of 3, the last one
    net.sent.clear()
    ctl.request(DEVICE_IP, BATTERY, ESV.GET, epcs, now=1.0)  # the limit was learned: split up front
    net.pump()
    assert [decode(d).properties.__len__() for d in net.sent] == [2, 2, 2, 1]
    assert isinstance(events(ctl)[0], ResponseReceived)


def test_split_get_keeps_refusals_in_the_merged_answer() -> None:
    ctl = controller_node()
    net = Net(ctl, {DEVICE_IP: device_node()}, transform=first_n(1))
    ctl.request(DEVICE_IP, BATTERY, ESV.GET, [0x80, 0xEB, 0xE4], now=0.0)
    net.pump()
    (event,) = events(ctl)
    assert isinstance(event, ResponseReceived) and event.frame.esv == ESV.GET_SNA
    assert event.values == {0x80: b"\x30", 0xE4: b"\x32"} and event.refused == (0xEB,)


def silent_above(n: int) -> Transform:
    """A device that drops its answer to any Get of more than ``n`` properties (an oversized answer lost)."""

    def transform(data: bytes) -> bytes | None:
        frame = decode(data)
        return None if frame.esv == ESV.GET_RES and len(frame.properties) > n else data

    return transform


def test_get_is_split_in_halves_when_a_known_device_does_not_answer_a_large_get() -> None:
    ctl = controller_node(timeout=1.0, retries=0)
    net = Net(ctl, {DEVICE_IP: device_node()}, transform=silent_above(2))
    ctl.request(DEVICE_IP, BATTERY, ESV.GET, [0x80], now=0.0)  # the device is known to answer
    net.pump()
    events(ctl)
    epcs = [0x80, 0x81, 0x82, 0x88, 0x8A, 0xDA]
    ctl.request(DEVICE_IP, BATTERY, ESV.GET, epcs, now=0.0)
    net.pump()
    net.advance(1.0)  # 6 -> 3 + 3, silent again
    net.advance(1.0)  # 3 -> 2 + 1 each: answered
    (event,) = events(ctl)
    assert isinstance(event, ResponseReceived) and event.complete and set(event.values) == set(epcs)


def test_get_to_an_unknown_silent_device_times_out_without_splitting() -> None:
    ctl = controller_node(timeout=1.0, retries=0)
    handle = ctl.request(DEVICE_IP, BATTERY, ESV.GET, [0x80, 0x81, 0x82, 0x88], now=0.0)
    assert len(ctl.datagrams_to_send(0.0)) == 1
    ctl.handle_timer(1.0)
    assert ctl.datagrams_to_send(1.0) == []
    assert events(ctl) == [RequestTimedOut(handle, DEVICE, BATTERY, ESV.GET, 1)]


def test_unanswered_pieces_make_a_partial_answer() -> None:
    def drop_e4(data: bytes) -> bytes | None:
        frame = decode(data)
        return None if frame.property(0xE4) is not None else data

    ctl = controller_node(timeout=1.0, retries=0, max_get_epcs=2)
    net = Net(ctl, {DEVICE_IP: device_node()}, transform=drop_e4)
    ctl.request(DEVICE_IP, BATTERY, ESV.GET, [0x80, 0x81, 0xE4], now=0.0)  # pieces [80 81] and [E4]
    net.pump()
    assert events(ctl) == []
    net.advance(1.0)
    (event,) = events(ctl)
    assert isinstance(event, ResponseReceived) and event.unanswered == (0xE4,) and not event.complete
    assert event.values == {0x80: b"\x30", 0x81: b"\x00"} and not event.ok


def test_splitting_can_be_turned_off() -> None:
    ctl = controller_node(split_gets=False)
    net = Net(ctl, {DEVICE_IP: device_node()}, transform=first_n(1))
    ctl.request(DEVICE_IP, BATTERY, ESV.GET, [0x80, 0xE4], now=0.0)
    net.pump()
    (event,) = events(ctl)
    assert isinstance(event, ResponseReceived) and event.values == {0x80: b"\x30"} and len(net.sent) == 1


def test_inf_answering_our_inf_req_is_a_response_and_other_inf_a_notification() -> None:
    ctl = controller_node()
    handle = ctl.request(DEVICE_IP, BATTERY, ESV.INF_REQ, [0x80], now=0.0)
    # The device answers by multicast: the INF still carries our TID and comes from the device's IP.
    ctl.receive_datagram(h("1081 0001 027d01 0ef001 73 01 800130"), DEVICE, 0.1)
    ctl.receive_datagram(h("1081 0077 027d01 0ef001 73 01 800131"), DEVICE, 0.2)
    answer, notification = events(ctl)
    assert isinstance(answer, ResponseReceived) and answer.handle == handle
    assert isinstance(notification, NotificationReceived) and notification.frame.tid == 0x77


def test_cancel_forgets_a_request_and_releases_the_device_queue() -> None:
    ctl = controller_node(one_in_flight=True)
    a = ctl.request(DEVICE_IP, BATTERY, ESV.GET, [0x80], now=0.0)
    ctl.request(DEVICE_IP, BATTERY, ESV.GET, [0xE4], now=0.0)
    ctl.datagrams_to_send(0.0)
    assert ctl.cancel(a) and not ctl.cancel(a)
    assert ctl.datagrams_to_send(0.1) == [(h("1081 0002 05ff01 027d01 62 01 e400"), DEVICE)]


def test_tids_wrap_around() -> None:
    ctl = controller_node(first_tid=0xFFFF)
    ctl.request(DEVICE_IP, BATTERY, ESV.GET, [0x80], now=0.0)  # 0xFFFF stays pending
    ctl.request(DEVICE_IP, BATTERY, ESV.GET, [0x80], now=0.0)
    tids = [decode(d).tid for d, _ in ctl.datagrams_to_send(0.0)]
    assert tids == [0xFFFF, 0x0000]


def test_requests_use_the_configured_controller_eoj() -> None:
    ctl = controller_node(controller_eoj=EOJ(0x05, 0xFF, 0x02))
    ctl.request(DEVICE_IP, BATTERY, ESV.GET, [0x80], now=0.0, seoj=CONTROLLER)
    ctl.request(DEVICE_IP, BATTERY, ESV.GET, [0x80], now=0.0)
    first, second = (decode(d) for d, _ in ctl.datagrams_to_send(0.0))
    assert first.seoj == CONTROLLER and second.seoj == EOJ(0x05, 0xFF, 0x02)
    assert isinstance(first, Frame)


def test_a_device_answering_gets_without_the_properties_ends_with_everything_unanswered() -> None:
    def empty(data: bytes) -> bytes:
        frame = decode(data)
        return encode(frame._replace(properties=())) if frame.esv in (ESV.GET_RES, ESV.GET_SNA) else data

    ctl = controller_node()
    net = Net(ctl, {DEVICE_IP: device_node()}, transform=empty)
    handle = ctl.request(DEVICE_IP, BATTERY, ESV.GET, [0x80, 0x81, 0xE4], now=0.0)
    net.pump()
    assert all(decode(d).properties for d in net.sent)  # never a Get with OPC=0
    (event,) = events(ctl)
    assert isinstance(event, ResponseReceived) and event.handle == handle and event.frame.esv == ESV.GET_SNA
    assert event.unanswered == (0x80, 0x81, 0xE4) and event.values == {} and not event.complete
