"""Device objects: access rules, derived property maps, Set hooks, local updates and their announcements, memory."""

from __future__ import annotations

import tracemalloc

import pytest

from echonet import EOJ, EchonetUsageError, Property
from echonet.node import DeviceObject
from echonet.propmap import decode_property_map
from echonet.spec.model import NA, ClassDef, O, prop
from echonet.spec.types import raw

from .util import BATTERY, REGISTRY, battery, battery_values, h


def test_maps_are_derived_from_what_the_object_implements() -> None:
    obj = battery()
    assert obj.value(0x9F) == h("0c 80 81 82 88 8a 9d 9e 9f aa da e4 f0")  # Get map includes the maps themselves
    assert obj.value(0x9E) == h("06 80 81 aa da eb f0")  # settable, set-only 0xEB included
    assert obj.value(0x9D) == h("07 80 81 82 88 aa da e4")  # announcement rule applicable (0x8A, 0xF0 are NA)


def test_maps_of_sixteen_or_more_epcs_use_the_17_byte_bitmap_with_high_epcs_right() -> None:
    epcs = [0xB0, 0xC0, 0xC7, 0xCF, 0xD0, 0xE0, 0xE9, 0xF0, 0xF5, 0xFF]
    cls = ClassDef.build(0x0F01, "Wide", "wide", [prop(e, f"p{e:02X}", f"p{e:02X}", raw(1), O, NA, NA) for e in epcs])
    base = {0x80: b"\x30", 0x81: b"\x00", 0x82: b"\x00\x00R\x01", 0x88: b"\x42", 0x8A: b"\x00\x00\x77"}
    registry = REGISTRY.with_classes([cls])
    # Class group 0x0F does not inherit the super class: borrow its definitions for the first EPCs.
    extra = [REGISTRY.properties(0x027D)[e] for e in base]
    obj = DeviceObject(EOJ(0x0F, 0x01, 0x01), {**base, **dict.fromkeys(epcs, b"\x00")}, registry, definitions=extra)
    get_map = obj.value(0x9F)
    assert get_map == h("12 f9 01 01 00 00 80 00 10 01 40 01 00 00 02 02 92")
    assert decode_property_map(get_map) == frozenset(obj.epcs)


def test_get_is_refused_for_set_only_and_unimplemented_epcs() -> None:
    obj = battery()
    assert obj.read(0x80) == b"\x30"
    assert obj.read(0xEB) is None  # Get rule not applicable
    assert obj.read(0xB0) is None  # not implemented


def test_set_checks_access_value_and_the_model_hook() -> None:
    class Picky(DeviceObject):
        def on_set(self, epc: int, edt: bytes) -> str | None:
            return "mode locked" if epc == 0xDA and edt == b"\x41" else None

    obj = battery(cls=Picky)
    assert obj.write(0xDA, b"\x42") is None and obj.value(0xDA) == b"\x42"
    assert obj.write(0xDA, b"\x41") == "mode locked" and obj.value(0xDA) == b"\x42"
    assert obj.write(0xE4, b"\x10") == "not settable"
    assert obj.write(0xB0, b"\x10") == "not implemented"
    assert obj.write(0x80, b"\x99") is not None  # not an ON/OFF code
    assert obj.write(0x80, b"") is not None  # wrong size
    assert obj.value(0x80) == b"\x30"


def test_settable_and_announce_can_be_narrowed() -> None:
    obj = DeviceObject(BATTERY, battery_values(), REGISTRY, settable=[0xDA], announce=[0x80])
    assert obj.value(0x9E) == h("01 da") and obj.value(0x9D) == h("01 80")
    assert obj.write(0x80, b"\x31") == "not settable"
    with pytest.raises(EchonetUsageError):
        DeviceObject(BATTERY, battery_values(), REGISTRY, settable=[0xE4])  # 0xE4 has no Set rule


def test_update_records_an_announcement_only_for_announced_epcs_that_change() -> None:
    obj = battery()
    assert obj.update(0x80, b"\x30") is False
    assert not obj.has_announcements
    assert obj.update(0x8A, b"\x00\x00\x78") is True  # changed, but 0x8A is not announced
    assert not obj.has_announcements
    obj.update(0x80, b"\x31")
    obj.update(0xE4, b"\x33")
    obj.update(0x80, b"\x30")
    assert obj.take_announcements() == (Property(0x80, b"\x30"), Property(0xE4, b"\x33"))
    assert obj.take_announcements() == ()


def test_update_validates_values_and_refuses_maps() -> None:
    obj = battery()
    with pytest.raises(EchonetUsageError):
        obj.update(0xE4, b"\x65")  # above 100 % and no special code
    assert obj.update(0xE4, b"\xff")  # the overflow code: a value a device may report (never one a peer may set)
    assert obj.write(0xE4, b"\xff") is not None
    with pytest.raises(EchonetUsageError):
        obj.update(0x9F, b"\x00")
    with pytest.raises(EchonetUsageError):
        obj.update(0xB0, b"\x00")


def test_construction_refuses_bad_instances_values_and_unknown_epcs() -> None:
    with pytest.raises(EchonetUsageError):
        DeviceObject(BATTERY.with_instance(0), battery_values(), REGISTRY)
    with pytest.raises(EchonetUsageError):
        DeviceObject(BATTERY.with_instance(0x80), battery_values(), REGISTRY)
    with pytest.raises(EchonetUsageError):
        DeviceObject(BATTERY, {**battery_values(), 0xE4: b"\x65"}, REGISTRY)  # above 100 %, no special code
    with pytest.raises(EchonetUsageError):
        DeviceObject(BATTERY, {**battery_values(), 0xB0: b"\x00"}, REGISTRY)  # no definition
    with pytest.raises(EchonetUsageError):
        DeviceObject(BATTERY, {**battery_values(), 0x9F: b"\x00"}, REGISTRY)  # maps are derived


def test_from_typed_encodes_through_the_registry() -> None:
    values: dict[int | str, object] = {"operationMode": "charging", 0xE4: 75}
    values.update((epc, edt) for epc, edt in battery_values().items() if epc not in (0xDA, 0xE4))
    obj = DeviceObject.from_typed(BATTERY, values, REGISTRY)
    assert obj.value(0xDA) == b"\x42" and obj.value(0xE4) == bytes([75])


def test_objects_of_the_same_shape_share_one_layout() -> None:
    assert battery(1).layout is battery(2).layout


def test_a_device_of_40_properties_costs_less_than_4_kb() -> None:
    epcs = list(range(0xB0, 0xB0 + 35))
    defs = [prop(e, f"p{e:02X}", f"p{e:02X}", raw(1, 8), O, O, O) for e in epcs]
    cls = ClassDef.build(0x0F02, "Forty", "forty", defs)
    registry = REGISTRY.with_classes([cls])
    count = 500
    tracemalloc.start()
    before = tracemalloc.take_snapshot()
    objects = [
        DeviceObject(
            EOJ(0x0F, 0x02, 1 + i % 127),
            {e: (i * 1000 + e).to_bytes(4, "big") for e in epcs},  # distinct values: nothing shared by accident
            registry,
        )
        for i in range(count)
    ]
    after = tracemalloc.take_snapshot()
    tracemalloc.stop()
    size = sum(stat.size_diff for stat in after.compare_to(before, "filename"))
    assert len(objects[0].epcs) == 38  # 35 + the three maps
    assert size / count < 4096, f"{size / count:.0f} bytes per device"
