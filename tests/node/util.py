"""Shared fixtures of the node tests: a small battery class of our own (so the expected bytes do not move when the
built-in tables change), device and node factories and helpers to feed a node and read its output."""

from __future__ import annotations

from echonet import EOJ
from echonet.node import Addr, DeviceObject, Event, Node, NodeConfig, NodeProfile
from echonet.spec.model import NA, ClassDef, M, O, prop
from echonet.spec.registry import Registry, builtin_registry
from echonet.spec.types import FAULT, ON_OFF, PROPERTY_MAP, enum, raw, u8, u32

MODE = enum({0x41: "rapidCharging", 0x42: "charging", 0x43: "discharging", 0x44: "standby", 0x46: "auto"})

# fmt: off
TEST_BATTERY = ClassDef.build(0x027D, "Test battery", "testBattery", [
    prop(0x80, "Operation status", "operationStatus", ON_OFF, M, O, M),
    prop(0x81, "Installation location", "installationLocation", raw(1), M, M, M),
    prop(0x82, "Standard version information", "protocol", raw(4), M, NA, O),
    prop(0x88, "Fault status", "faultStatus", FAULT, M, NA, M),
    prop(0x8A, "Manufacturer code", "manufacturer", raw(3), M, NA, NA),
    prop(0x9D, "Status change announcement property map", "anno", PROPERTY_MAP, M, NA, NA),
    prop(0x9E, "Set property map", "setMap", PROPERTY_MAP, M, NA, NA),
    prop(0x9F, "Get property map", "getMap", PROPERTY_MAP, M, NA, NA),
    prop(0xAA, "AC charge amount setting value", "acTarget", u32(0, 999_999_999, "Wh"), M, M, M),
    prop(0xDA, "Operation mode setting", "operationMode", MODE, M, M, M),
    prop(0xE4, "Remaining stored electricity 3", "remainingCapacity3", u8(0, 100, "%"), M, NA, O),
    prop(0xEB, "Charging power setting", "chargingPower", u32(0, 999_999_999, "W"), NA, M, NA),
    prop(0xF0, "Vendor data", "vendor", raw(1, 8), O, O, NA, standard=False),
])
# fmt: on

#: Built-in tables (node profile, super class) with our battery table in place of the built-in one.
REGISTRY: Registry = builtin_registry().with_classes([TEST_BATTERY], override=True)

BATTERY = EOJ(0x02, 0x7D, 0x01)
CONTROLLER = EOJ(0x05, 0xFF, 0x01)
PROFILE = EOJ(0x0E, 0xF0, 0x01)
PEER: Addr = ("192.0.2.10", 3610)
DEVICE_IP = "192.0.2.20"
UNIQUE = bytes(range(1, 14))


def battery_values() -> dict[int, bytes]:
    return {
        0x80: b"\x30",
        0x81: b"\x00",
        0x82: b"\x00\x00R\x01",
        0x88: b"\x42",
        0x8A: b"\x00\x00\x77",
        0xAA: b"\x00\x00\x03\xe8",
        0xDA: b"\x44",
        0xE4: b"\x32",
        0xEB: b"\x00\x00\x00\x00",
        0xF0: b"\x01\x02",
    }


def battery(instance: int = 1, cls: type[DeviceObject] = DeviceObject) -> DeviceObject:
    return cls(BATTERY.with_instance(instance), battery_values(), REGISTRY)


def profile() -> NodeProfile:
    return NodeProfile(REGISTRY, maker_code=b"\x00\x00\x77", unique_id=UNIQUE)


def device_node(*objects: DeviceObject, **config: object) -> Node:
    return Node(objects or (battery(),), config=NodeConfig(**config), registry=REGISTRY, profile=profile())  # type: ignore[arg-type]


def controller_node(**config: object) -> Node:
    return Node(config=NodeConfig(**config), registry=REGISTRY, profile=profile())  # type: ignore[arg-type]


def h(text: str) -> bytes:
    """Hex with spaces allowed: ``h("10 81 00 01")``."""
    return bytes.fromhex(text.replace(" ", ""))


def ask(node: Node, data: bytes, addr: Addr = PEER, now: float = 0.0) -> list[tuple[bytes, Addr]]:
    """Feed one datagram and return what the node sends at once."""
    node.receive_datagram(data, addr, now)
    return node.datagrams_to_send(now)


def events(node: Node) -> list[Event]:
    out = []
    while (event := node.next_event()) is not None:
        out.append(event)
    return out
