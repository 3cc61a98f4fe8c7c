"""The binding of the DRready models to the node (sans-I/O): reads come from the model at the simulated clock's time,
Sets go to the model with that time, refusals become SNAs, ticks record announcements, and the factory."""

from __future__ import annotations

import pytest

from echonet import EOJ, ESV, decode, encode
from echonet.drready import HOUR, MINUTE, SimClock, StorageBattery, sim_time, simulated_device, simulated_node
from echonet.drready.sim import SimulatedDevice, coerce_parameters, model_parameters, resolve_kind
from echonet.errors import EchonetUsageError
from echonet.frame import Frame, Property
from echonet.node import Node

START = sim_time("2026-01-15T10:00")
CONTROLLER = EOJ(0x05, 0xFF, 0x01)
BATTERY = EOJ(0x02, 0x7D, 0x01)
PEER = ("192.0.2.1", 3610)


def request(esv: int, deoj: EOJ, props: list[Property], tid: int = 1) -> bytes:
    return encode(Frame.make(tid, CONTROLLER, deoj, esv, props))


def answer(node_out: list[tuple[bytes, tuple[str, int]]]) -> Frame:
    frames = [decode(data) for data, addr in node_out if addr == PEER]
    assert len(frames) == 1
    return frames[0]


def battery_node(clock: SimClock, **params: object) -> tuple[SimulatedDevice, Node]:
    device = simulated_device("battery", clock=clock, **params)
    node = simulated_node([device])
    node.start(0.0)
    node.datagrams_to_send(0.0)
    return device, node


def test_factory_accepts_kind_names_aliases_and_class_codes() -> None:
    clock = SimClock.manual(START)
    for kind, class_id in (("water_heater", 0x026B), ("0x02A6", 0x02A6), ("027D", 0x027D), ("Storage-Battery", 0x027D)):
        device = simulated_device(kind, 3, clock=clock)
        assert device.eoj == EOJ(class_id >> 8, class_id & 0xFF, 3)
        assert device.model.class_id == class_id
    assert resolve_kind("hybrid") == "hybrid_water_heater"


def test_factory_refuses_unknown_kinds_and_parameters_with_the_known_ones() -> None:
    clock = SimClock.manual(START)
    with pytest.raises(EchonetUsageError, match="water_heater, hybrid_water_heater, battery"):
        simulated_device("toaster", clock=clock)
    with pytest.raises(EchonetUsageError, match="capacity_wh"):
        simulated_device("battery", clock=clock, capacity=5)
    with pytest.raises(EchonetUsageError, match="whole number"):
        coerce_parameters("battery", {"max_charge_w": "lots"})


def test_parameters_from_text_take_the_types_of_the_defaults() -> None:
    params = coerce_parameters("hybrid", {"initial_fill": "0.5", "window": "10-16", "split_hour": "13"})
    assert params == {"initial_fill": 0.5, "window": (10, 16), "split_hour": 13}
    assert "capacity_wh" in model_parameters("battery") and "household" not in model_parameters("battery")
    device = simulated_device("battery", clock=SimClock.manual(START), capacity_wh="12000", initial_soc="0.25")
    assert isinstance(device.model, StorageBattery) and device.model.soc_wh == pytest.approx(3000)


def test_objects_expose_the_model_maps_and_extension_definitions() -> None:
    device = simulated_device("battery", clock=SimClock.manual(START))
    model = device.model
    assert device.set_map == model.settable_epcs()
    assert device.announce_map == model.announce_epcs()
    assert set(model.readable_epcs()) <= device.get_map
    definition = device.definition(0xF4)
    assert definition is not None and not definition.standard


def test_get_answers_from_the_model_advanced_to_the_clock() -> None:
    clock = SimClock.manual(START)
    device, node = battery_node(clock, initial_soc=0.5)
    node.receive_datagram(request(ESV.SETC, BATTERY, [Property(0xDA, b"\x42")]), PEER, 0.0)  # charging, maximum
    assert answer(node.datagrams_to_send(0.0)).esv == ESV.SET_RES
    clock.advance(HOUR)
    node.receive_datagram(request(ESV.GET, BATTERY, [Property(0xE2), Property(0xD3)], tid=2), PEER, 1.0)
    got = answer(node.datagrams_to_send(1.0))
    assert got.esv == ESV.GET_RES
    stored = int.from_bytes(got.properties[0].edt, "big")
    assert stored == round(device.model.soc_wh) and stored > 4900 + 2000  # an hour at 3 kW, 95 % efficient
    assert int.from_bytes(got.properties[1].edt, "big", signed=True) == 3000
    assert device.model.now == clock.now()


def test_set_refused_by_the_model_comes_back_as_setc_sna_with_the_request_value() -> None:
    clock = SimClock.manual(START)
    device, node = battery_node(clock, capacity_wh=5000)
    refused: list[tuple[int, str]] = []
    device.on_refused = lambda d, epc, edt, reason: refused.append((epc, reason))
    too_much = (6000).to_bytes(4, "big")
    node.receive_datagram(request(ESV.SETC, BATTERY, [Property(0xF4, too_much), Property(0xF3, b"\x00\x3c")]), PEER, 0)
    got = answer(node.datagrams_to_send(0.0))
    assert got.esv == ESV.SETC_SNA
    assert got.properties == (Property(0xF4, too_much), Property(0xF3, b""))
    assert refused and refused[0][0] == 0xF4 and "capacity" in refused[0][1]
    assert device.model.reserve_wh == 0 and device.value(0xF3) == b"\x00\x3c"


def test_set_reaches_the_model_at_the_simulated_time_and_stores_what_followed() -> None:
    clock = SimClock.manual(START)
    device, node = battery_node(clock)
    clock.advance(30 * MINUTE)
    node.receive_datagram(request(ESV.SETC, BATTERY, [Property(0xDA, b"\x43")]), PEER, 5.0)
    node.datagrams_to_send(5.0)
    assert device.model.now == clock.now()
    # the mode change moved the working status and started a DR: the stored values follow the model
    assert device.value(0xCF) == b"\x43" and device.value(0xF2) == b"\x01"


def test_tick_records_announcements_of_status_changes_only() -> None:
    clock = SimClock.manual(START)
    device, node = battery_node(clock)
    announced: list[tuple[int, ...]] = []
    device.on_announce = lambda d, props: announced.append(tuple(p.epc for p in props))
    device.model.write(0xF0, b"\x01", clock.now())  # a DR lasting one minute without renewal
    device.model.write(0xDA, b"\x44", clock.now())
    device.tick()
    node.datagrams_to_send(0.0)
    clock.advance(2 * MINUTE)
    changed = device.tick()
    infs = [decode(data) for data, _ in node.datagrams_to_send(0.0)]
    assert 0xE2 in changed or 0xF2 in changed
    assert infs and all(f.esv == ESV.INF for f in infs)
    sent = {p.epc for f in infs for p in f.properties}
    assert 0xF2 in sent and sent <= device.announce_map
    assert device.value(0xF2) == b"\x00"  # the DR ran out: back to inactive
    assert announced


def test_a_get_feeds_the_watchdog() -> None:
    clock = SimClock.manual(START)
    device, node = battery_node(clock)
    node.receive_datagram(request(ESV.SETC, BATTERY, [Property(0xF3, b"\x02\x58"), Property(0xDA, b"\x43")]), PEER, 0)
    node.datagrams_to_send(0.0)
    for i in range(3):  # a Get every 5 minutes keeps the 10-minute watchdog quiet
        clock.advance(5 * MINUTE)
        node.receive_datagram(request(ESV.GET, BATTERY, [Property(0xDA)], tid=10 + i), PEER, 0)
        assert answer(node.datagrams_to_send(0.0)).properties[0].edt == b"\x43"
    clock.advance(11 * MINUTE)
    device.tick()
    assert device.value(0xDA) == b"\x46" and device.value(0xF2) == b"\x02"  # own mode (auto) after the timeout


def test_write_only_epcs_are_settable_but_not_readable() -> None:
    clock = SimClock.manual(START)
    device, node = battery_node(clock)
    assert 0xD9 in device.set_map and 0xD9 not in device.get_map
    node.receive_datagram(request(ESV.SETC, BATTERY, [Property(0xD9, b"\x00")]), PEER, 0)
    assert answer(node.datagrams_to_send(0.0)).esv == ESV.SET_RES
    node.receive_datagram(request(ESV.GET, BATTERY, [Property(0xD9)], tid=2), PEER, 0)
    assert answer(node.datagrams_to_send(0.0)).esv == ESV.GET_SNA


def test_node_profile_lists_the_devices_with_an_identification_of_its_own() -> None:
    clock = SimClock.manual(START)
    devices = [simulated_device(k, clock=clock) for k in ("water_heater", "hybrid", "battery")]
    node = simulated_node(devices)
    assert {d.eoj for d in devices} <= {o.eoj for o in node.objects}
    ids = {node.profile.identification, *(d.identification for d in devices)}
    assert len(ids) == 4 and all(len(i) == 17 and i[0] == 0xFE for i in ids)
