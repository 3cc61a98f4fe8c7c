"""The node profile (0x0EF001) follows the hosted objects; 0xD5 is announced at start-up, split above 84 objects."""

from __future__ import annotations

import pytest

from echonet import EOJ, EchonetUsageError
from echonet.node import DeviceObject, Node, NodeConfig, NodeProfile
from echonet.propmap import decode_instance_list

from .util import REGISTRY, UNIQUE, ask, battery, device_node, h, profile

AIRCON = EOJ(0x01, 0x30, 0x01)


def aircon() -> DeviceObject:
    return DeviceObject(AIRCON, {0x80: b"\x30", 0x81: b"\x00", 0x88: b"\x42", 0x8A: b"\x00\x00\x77"}, REGISTRY)


def test_profile_values_describe_the_hosted_objects() -> None:
    node = device_node(battery(1), battery(2), aircon())
    p = node.profile
    assert p.value(0x80) == b"\x30"
    assert p.value(0x82) == h("01 0e 01 00")
    assert p.value(0x83) == h("fe 000077") + UNIQUE
    assert p.value(0x8A) == h("000077")
    assert p.value(0xD3) == h("000003")  # instances, the profile excluded
    assert p.value(0xD4) == h("0003")  # classes, the profile included
    assert p.value(0xD5) == h("03 027d01 027d02 013001")
    assert p.value(0xD6) == h("03 027d01 027d02 013001")
    assert p.value(0xD7) == h("02 0130 027d")
    assert p.value(0x9F) == h("0c 80 82 83 8a 9d 9e 9f d3 d4 d5 d6 d7")
    assert p.value(0x9E) == h("00")
    assert p.value(0x9D) == h("02 80 d5")


def test_profile_answers_a_get_of_its_lists() -> None:
    node = device_node(battery(1), aircon())
    out = ask(node, h("1081 0042 05ff01 0ef001 62 03 d300 d600 d700"))
    assert out[0][0] == h("1081 0042 0ef001 05ff01 72 03 d303000002 d60702 027d01 013001 d70502 0130 027d")


def test_start_announces_the_instance_list_by_multicast() -> None:
    node = device_node(battery(1))
    node.start(0.0)
    assert node.datagrams_to_send(0.0) == [
        (h("1081 0001 0ef001 0ef001 73 01 d504 01 027d01"), ("224.0.23.0", 3610)),
        (h("1081 0001 0ef001 0ef001 73 01 d504 01 027d01"), ("ff02::1", 3610)),
    ]


def test_start_splits_the_instance_list_above_84_objects() -> None:
    objects = [battery(i) for i in range(1, 101)]
    node = Node(objects, config=NodeConfig(multicast_v6=None), registry=REGISTRY, profile=profile())
    node.start(0.0)
    frames = [d for d, _ in node.datagrams_to_send(0.0)]
    assert len(frames) == 2
    first, second = (decode_instance_list(d[14:]) for d in frames)
    assert first.total == 84 and first.eojs == tuple(o.eoj for o in objects[:84])
    assert second.total == 16 and second.eojs == tuple(o.eoj for o in objects[84:])
    listed = decode_instance_list(node.profile.value(0xD6) or b"")
    assert listed.total == 100 and len(listed.eojs) == 84
    assert node.profile.value(0xD3) == h("000064")


def test_adding_an_object_after_start_announces_the_new_instance_list() -> None:
    node = device_node(battery(1))
    node.start(0.0)
    node.datagrams_to_send(0.0)
    node.add(battery(2))
    out = node.datagrams_to_send(1.0)
    assert out[0] == (h("1081 0002 0ef001 0ef001 73 01 d507 02 027d01 027d02"), ("224.0.23.0", 3610))
    node.remove(EOJ(0x02, 0x7D, 0x02))
    assert node.datagrams_to_send(2.0)[0][0] == h("1081 0003 0ef001 0ef001 73 01 d504 01 027d01")


def test_identification_number_is_configurable() -> None:
    ident = h("fe 123456") + bytes(13)
    p = NodeProfile(REGISTRY, identification=ident)
    assert p.identification == ident and p.value(0x8A) == h("123456")
    with pytest.raises(EchonetUsageError):
        NodeProfile(REGISTRY, identification=b"\xfe")
    random_a, random_b = NodeProfile(REGISTRY), NodeProfile(REGISTRY)
    assert random_a.identification != random_b.identification  # 13 random unique bytes by default


def test_hosting_the_same_eoj_twice_is_refused() -> None:
    with pytest.raises(EchonetUsageError):
        device_node(battery(1), battery(1))
