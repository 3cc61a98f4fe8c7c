"""The device side answers every ESV exactly as ECHONET Lite Part 2 chapter 4 says, byte for byte."""

from __future__ import annotations

from echonet import ESV, Property
from echonet.node import DeviceObject, Dropped, NotificationReceived, PropertySet

from .util import BATTERY, PEER, ask, battery, device_node, events, h

# Request and answer frames below: EHD 1081, TID 1234, SEOJ 05FF01 (controller), DEOJ 027D01 (battery).


def test_get_answers_get_res_with_the_values() -> None:
    node = device_node()
    out = ask(node, h("1081 1234 05ff01 027d01 62 02 8000 e400"))
    assert out == [(h("1081 1234 027d01 05ff01 72 02 800130 e40132"), PEER)]


def test_get_sna_carries_readable_values_and_pdc_0_for_the_rest() -> None:
    node = device_node()
    out = ask(node, h("1081 1234 05ff01 027d01 62 03 8000 eb00 b000"))  # 0xEB set-only, 0xB0 not implemented
    assert out == [(h("1081 1234 027d01 05ff01 52 03 800130 eb00 b000"), PEER)]


def test_setc_answers_set_res_with_every_epc_at_pdc_0_and_applies_the_values() -> None:
    node = device_node()
    out = ask(node, h("1081 1234 05ff01 027d01 61 02 da0142 aa0400000064"))
    assert out[0] == (h("1081 1234 027d01 05ff01 71 02 da00 aa00"), PEER)
    obj = node.object(BATTERY)
    assert obj is not None and obj.value(0xDA) == b"\x42" and obj.value(0xAA) == h("00000064")


def test_setc_sna_keeps_rejected_pdc_and_edt_and_applies_the_accepted_ones() -> None:
    node = device_node()
    out = ask(node, h("1081 1234 05ff01 027d01 61 03 da0142 e40110 800199"))
    assert out[0] == (h("1081 1234 027d01 05ff01 51 03 da00 e40110 800199"), PEER)
    obj = node.object(BATTERY)
    assert obj is not None and obj.value(0xDA) == b"\x42" and obj.value(0x80) == b"\x30"


def test_seti_success_is_silent() -> None:
    node = device_node()
    out = ask(node, h("1081 1234 05ff01 027d01 60 01 da0143"))
    assert [d for d, a in out if a == PEER] == []
    obj = node.object(BATTERY)
    assert obj is not None and obj.value(0xDA) == b"\x43"


def test_seti_sna_keeps_rejected_pdc_and_edt() -> None:
    node = device_node()
    out = ask(node, h("1081 1234 05ff01 027d01 60 02 da0143 e40110"))
    assert [(d, a) for d, a in out if a == PEER] == [(h("1081 1234 027d01 05ff01 50 02 da00 e40110"), PEER)]


def test_seti_to_a_missing_object_gets_no_answer() -> None:
    node = device_node()
    assert ask(node, h("1081 1234 05ff01 027d09 60 01 e40110")) == []
    assert events(node) == []


def test_every_request_to_a_missing_object_is_dropped_silently() -> None:
    node = device_node()
    for esv in ("61 01 da0142", "62 01 8000", "63 01 8000", "6e 01 da0142 01 8000"):
        assert ask(node, h(f"1081 1234 05ff01 013001 {esv}")) == []
    assert node.stats.to_missing_object == 4


def test_inf_req_answers_inf_to_the_requester() -> None:
    node = device_node()
    out = ask(node, h("1081 1234 05ff01 027d01 63 01 8000"))
    assert out == [(h("1081 1234 027d01 05ff01 73 01 800130"), PEER)]


def test_inf_req_of_an_unreadable_epc_answers_inf_sna() -> None:
    node = device_node()
    out = ask(node, h("1081 1234 05ff01 027d01 63 02 8000 eb00"))
    assert out == [(h("1081 1234 027d01 05ff01 53 02 800130 eb00"), PEER)]


def test_inf_req_can_be_answered_by_multicast() -> None:
    node = device_node(inf_req_multicast=True)
    out = ask(node, h("1081 1234 05ff01 027d01 63 01 8000"))
    assert [a for _, a in out] == [("224.0.23.0", 3610), ("ff02::1", 3610)]


def test_setget_answers_set_part_at_pdc_0_and_get_part_with_values() -> None:
    node = device_node()
    out = ask(node, h("1081 1234 05ff01 027d01 6e 01 da0142 02 da00 e400"))
    assert out[0] == (h("1081 1234 027d01 05ff01 7e 01 da00 02 da0142 e40132"), PEER)


def test_setget_sna_when_a_set_or_a_get_fails() -> None:
    node = device_node()
    out = ask(node, h("1081 1234 05ff01 027d01 6e 01 e40110 02 8000 eb00"))
    assert out[0] == (h("1081 1234 027d01 05ff01 5e 01 e40110 02 800130 eb00"), PEER)


def test_infc_is_acknowledged_with_infc_res_echoing_epcs_at_pdc_0_and_reported() -> None:
    node = device_node()
    infc = h("1081 0007 027d05 0ef001 74 02 800130 e40132")
    out = ask(node, infc)
    assert out == [(h("1081 0007 0ef001 027d05 7a 02 8000 e400"), PEER)]
    (event,) = events(node)
    assert isinstance(event, NotificationReceived) and event.frame.esv == ESV.INFC and event.addr == PEER


def test_inf_received_is_only_an_event() -> None:
    node = device_node()
    inf = h("1081 0008 027d05 0ef001 73 01 800131")
    assert ask(node, inf) == []
    (event,) = events(node)
    assert isinstance(event, NotificationReceived) and event.frame.properties == (Property(0x80, b"\x31"),)


def test_instance_0_addresses_every_instance_and_each_answers_separately() -> None:
    node = device_node(battery(1), battery(2))
    out = ask(node, h("1081 1234 05ff01 027d00 62 01 8000"))
    assert sorted(out) == [
        (h("1081 1234 027d01 05ff01 72 01 800130"), PEER),
        (h("1081 1234 027d02 05ff01 72 01 800130"), PEER),
    ]


def test_answers_go_to_the_request_source_port() -> None:
    node = device_node()
    out = ask(node, h("1081 1234 05ff01 027d01 62 01 8000"), addr=("192.0.2.10", 50123))
    assert out[0][1] == ("192.0.2.10", 50123)


def test_reply_to_3610_sends_answers_to_port_3610() -> None:
    node = device_node(reply_to_3610=True)
    out = ask(node, h("1081 1234 05ff01 027d01 62 01 8000"), addr=("fe80::1", 50123, 0, 4))
    assert out[0][1] == ("fe80::1", 3610, 0, 4)


def test_a_set_by_a_peer_is_reported_and_announced_when_the_value_changes() -> None:
    node = device_node()
    node.start(0.0)
    node.datagrams_to_send(0.0)
    out = ask(node, h("1081 1234 05ff01 027d01 61 01 da0142"))
    assert (h("1081 1234 027d01 05ff01 71 01 da00"), PEER) in out
    inf = [d for d, a in out if a == ("224.0.23.0", 3610)]
    assert inf == [h("1081 0002 027d01 0ef001 73 01 da0142")]  # TID 0001 went to the start-up INF
    assert events(node) == [PropertySet(BATTERY, 0xDA, b"\x42", PEER)]
    out = ask(node, h("1081 1235 05ff01 027d01 61 01 da0142"))  # same value again: no INF
    assert [a for _, a in out] == [PEER]


def test_model_updates_are_announced_by_multicast_once_started() -> None:
    node = device_node()
    obj = node.object(BATTERY)
    assert obj is not None
    obj.update(0x80, b"\x31")  # before start: not announced (the start-up INF of 0xD5 announces the node)
    node.start(0.0)
    node.datagrams_to_send(0.0)
    woken = []
    node.wakeup = lambda: woken.append(True)
    obj.update(0x80, b"\x30")
    obj.update(0xE4, b"\x31")
    assert woken == [True]
    assert node.datagrams_to_send(1.0) == [
        (h("1081 0002 027d01 0ef001 73 02 800130 e40131"), ("224.0.23.0", 3610)),
        (h("1081 0002 027d01 0ef001 73 02 800130 e40131"), ("ff02::1", 3610)),
    ]


def test_a_failing_model_hook_becomes_a_drop_and_the_node_keeps_answering() -> None:
    class Broken(DeviceObject):
        def on_set(self, epc: int, edt: bytes) -> str | None:
            raise RuntimeError("model bug")

    node = device_node(battery(cls=Broken))
    assert ask(node, h("1081 1234 05ff01 027d01 61 01 da0142")) == []
    (event,) = events(node)
    assert isinstance(event, Dropped) and "internal error: RuntimeError: model bug" in event.reason
    assert ask(node, h("1081 1235 05ff01 027d01 62 01 8000"))[0][0] == h("1081 1235 027d01 05ff01 72 01 800130")


def test_unknown_request_esv_and_format_2_are_dropped_with_a_reason() -> None:
    node = device_node()
    assert ask(node, h("1081 1234 05ff01 027d01 65 01 8000")) == []
    assert ask(node, h("1082 1234 deadbeef")) == []
    reasons = [e.reason for e in events(node) if isinstance(e, Dropped)]
    assert reasons == ["unknown request ESV 0x65", "format 2 (arbitrary) message: not handled"]
