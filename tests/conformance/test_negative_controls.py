"""Negative controls: for each conformance check, a device made to break that one rule makes that check fail and no
other check (over real UDP on loopback, with ``--probe-set --robustness``).

The misbehaving device is our node (an emulated storage battery of the built-in tables) behind a small adapter of
this file, :class:`MisbehavingDevice`, that drops requests, rewrites answers or adds datagrams the way one broken
rule would; a few misbehaviours are values or access rules of the object itself (a :class:`Quirky` object).
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from typing import Any

import pytest

from echonet.apps.emulate import EmulatedObject, emulated_node, emulated_object
from echonet.codec import decode, encode
from echonet.conformance import CHECKS, Report, Verdict, conformance
from echonet.errors import FrameDecodeError
from echonet.frame import EOJ, ESV, Frame, Property
from echonet.node import Node, NodeConfig
from echonet.node.events import Addr
from echonet.propmap import encode_class_list, encode_instance_list
from echonet.spec.registry import builtin_registry

from .helpers import LOOPBACK, failing, flagged, go

REGISTRY = builtin_registry()
BATTERY = EOJ(0x02, 0x7D, 0x01)
GHOST = EOJ(0x02, 0x7D, 0x02)


class Quirky(EmulatedObject):
    """An emulated battery whose reads and writes a misbehaviour may bend."""

    def __init__(self, base: EmulatedObject, misbehaviour: Misbehaviour, values: dict[int, bytes]) -> None:
        super().__init__(base.eoj, values, REGISTRY, announce=base.announce_map & set(values), check=False)
        self.misbehaviour = misbehaviour

    def read(self, epc: int) -> bytes | None:
        value = super().read(epc)
        bent = self.misbehaviour.read
        return bent(epc, value) if bent is not None else value

    def write(self, epc: int, edt: bytes) -> str | None:
        bent = self.misbehaviour.write
        if bent is not None:
            done = bent(self, epc, edt)
            if done is not _DEFAULT:
                return done  # type: ignore[return-value]
        return super().write(epc, edt)


_DEFAULT = object()


@dataclass
class Misbehaviour:
    """One broken rule: what the object, the node or the adapter does differently."""

    values: Callable[[dict[int, bytes]], None] | None = None  #: changes the object's values before it is built
    read: Callable[[int, bytes | None], bytes | None] | None = None
    write: Callable[[Quirky, int, bytes], object] | None = None  #: returns _DEFAULT to write as usual
    node: Callable[[Node], None] | None = None  #: changes the node once built
    config: dict[str, Any] = field(default_factory=dict)
    drop: Callable[[MisbehavingDevice, bytes, Frame | None], bool] | None = None
    rewrite: Callable[[Frame], Frame] | None = None  #: applied to every unicast answer
    extra: Callable[[Frame], list[Frame]] | None = None  #: more answers to a request
    reply_port: bool = False  #: every answer goes to the suite's main port, whatever the request's source port


def _decoded(data: bytes) -> Frame | None:
    try:
        return decode(data)
    except FrameDecodeError:
        return None


class MisbehavingDevice(asyncio.DatagramProtocol):
    """Drives a sans-I/O node on one loopback socket, bending what goes in and out as a :class:`Misbehaviour` says."""

    def __init__(self, node: Node, misbehaviour: Misbehaviour, main_port: int | None) -> None:
        self.node = node
        self.misbehaviour = misbehaviour
        self.main_port = main_port
        self.transport: asyncio.DatagramTransport | None = None
        self.skip_next = False
        self.malformed = 0
        self.silent_until = 0.0

    @classmethod
    async def open(
        cls, node: Node, misbehaviour: Misbehaviour, main_port: int | None = None, address: str = LOOPBACK
    ) -> MisbehavingDevice:
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        sock.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_IF, socket.inet_aton(LOOPBACK))
        sock.bind((address, 0))
        sock.setblocking(False)
        loop = asyncio.get_running_loop()
        device = cls(node, misbehaviour, main_port)
        await loop.create_datagram_endpoint(lambda: device, sock=sock)
        node.start(time.monotonic())
        device.flush(None)
        return device

    @property
    def port(self) -> int:
        assert self.transport is not None
        return int(self.transport.get_extra_info("sockname")[1])

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def datagram_received(self, data: bytes, addr: Addr) -> None:
        frame = _decoded(data)
        drop = self.misbehaviour.drop
        if drop is not None and drop(self, data, frame):
            return
        now = time.monotonic()
        self.node.receive_datagram(data, addr, now)
        self.flush(frame, addr)

    def flush(self, request: Frame | None, addr: Addr | None = None) -> None:
        assert self.transport is not None
        m = self.misbehaviour
        out = self.node.datagrams_to_send(time.monotonic())
        if request is not None and m.extra is not None and addr is not None:
            out += [(encode(f), addr) for f in m.extra(request)]
        for payload, to in out:
            multicast = str(to[0]).startswith("224.")
            if not multicast:
                if m.rewrite is not None:
                    frame = _decoded(payload)
                    if frame is not None:
                        payload = encode(m.rewrite(frame))
                if m.reply_port and self.main_port is not None:
                    to = (to[0], self.main_port)
            self.transport.sendto(payload, to)

    async def close(self) -> None:
        if self.transport is not None:
            self.transport.close()
        await asyncio.sleep(0)


def _after(kind: Callable[[bytes, Frame | None], bool]) -> Callable[[MisbehavingDevice, bytes, Frame | None], bool]:
    """Drops the datagram that comes after one of ``kind``."""

    def drop(device: MisbehavingDevice, data: bytes, frame: Frame | None) -> bool:
        if device.skip_next:
            device.skip_next = False
            return True
        if kind(data, frame):
            device.skip_next = True
        return False

    return drop


def _trailing(data: bytes, frame: Frame | None) -> bool:
    try:
        decode(data)
    except FrameDecodeError as exc:
        return exc.field == "trailing"
    return False


def _burst_silences(device: MisbehavingDevice, data: bytes, frame: Frame | None) -> bool:
    now = time.monotonic()
    if now < device.silent_until:
        return True
    if frame is None and not _trailing(data, frame) and data[:2] != b"\x10\x82":
        device.malformed += 1
        if device.malformed >= 20:
            device.silent_until = now + 3
    return False


def _only(esv: int) -> Callable[[MisbehavingDevice, bytes, Frame | None], bool]:
    return lambda device, data, frame: frame is not None and frame.esv == esv


def _profile(epc: int, edt: bytes) -> Callable[[Node], None]:
    def change(node: Node) -> None:
        node.profile.update(epc, edt, check=False)

    return change


def _set(epc: int, edt: bytes) -> Callable[[dict[int, bytes]], None]:
    def change(values: dict[int, bytes]) -> None:
        values[epc] = edt

    return change


def _ghost(node: Node) -> None:
    listing = encode_instance_list([BATTERY, GHOST])
    node.profile.update(0xD6, listing, check=False)
    node.profile.update(0xD5, listing, check=False)


def _shared_number(node: Node) -> None:
    obj = node.object(BATTERY)
    assert obj is not None
    obj.update(0x83, node.profile.identification, check=False)


def _bad_anno_map(frame: Frame) -> Frame:
    props = tuple(
        Property(p.epc, bytes((p.edt[0] + 1,)) + p.edt[1:]) if p.epc == 0x9D and p.edt else p for p in frame.properties
    )
    return frame._replace(properties=props) if frame.seoj == BATTERY else frame


def _sna_drops_values(frame: Frame) -> Frame:
    if frame.esv != ESV.GET_SNA:
        return frame
    return frame._replace(properties=tuple(Property(p.epc, b"") for p in frame.properties))


def _setget_without_get_half(frame: Frame) -> Frame:
    if frame.esv not in (ESV.SETGET_RES, ESV.SETGET_SNA):
        return frame
    return frame._replace(get_properties=())


def _wrong_deoj(frame: Frame) -> Frame:
    return frame._replace(deoj=EOJ(0x05, 0xFF, 0x7F)) if frame.esv == ESV.GET_RES else frame


def _drop_instance_zero(device: MisbehavingDevice, data: bytes, frame: Frame | None) -> bool:
    return frame is not None and frame.deoj == EOJ(0x02, 0x7D, 0x00)


def _without(epc: int) -> Callable[[dict[int, bytes]], None]:
    def change(values: dict[int, bytes]) -> None:
        values.pop(epc)

    return change


def _not_applied(obj: Quirky, epc: int, edt: bytes) -> object:
    if epc in obj.set_map and epc not in obj.announce_map:
        definition = obj.definition(epc)
        assert definition is not None
        return definition.check_set(edt)  # acknowledged, never stored
    return _DEFAULT


def _accepts_anything(obj: Quirky, epc: int, edt: bytes) -> object:
    if epc in obj.set_map:
        obj.update(epc, edt, check=False)
        return None
    return _DEFAULT


def _answers_seti(frame: Frame) -> list[Frame]:
    if frame.esv != ESV.SETI or frame.seoj is None or frame.deoj is None:
        return []
    return [Frame.make(frame.tid, frame.deoj, frame.seoj, ESV.SET_RES, [Property(p.epc) for p in frame.properties])]


#: For each check, the device that breaks its rule.
MISBEHAVIOURS: dict[str, Misbehaviour] = {
    "NP-D3": Misbehaviour(node=_profile(0xD3, b"\x00\x00\x07")),
    "NP-D4": Misbehaviour(node=_profile(0xD4, b"\x00\x05")),
    "NP-D5": Misbehaviour(node=_profile(0xD5, b"\x00")),
    "NP-D6": Misbehaviour(node=_ghost),
    "NP-D7": Misbehaviour(node=_profile(0xD7, encode_class_list([0x027D, 0x0130]))),
    "NP-83-UNIQUE": Misbehaviour(node=_shared_number),
    "ID-82": Misbehaviour(values=_set(0x82, b"\x00\x00\x00\x00")),
    "ID-83": Misbehaviour(values=_set(0x83, b"\xfe\x00\x00\x77" + bytes(13))),
    "MAP-FORMAT": Misbehaviour(rewrite=_bad_anno_map),
    "MAP-GET": Misbehaviour(read=lambda epc, value: None if epc == 0x88 else value),
    "GET-VALUE": Misbehaviour(read=lambda epc, value: b"\x00" if epc == 0x88 else value),
    "GET-UNMAPPED": Misbehaviour(read=lambda epc, value: b"\x01" if value is None else value),
    "GET-SNA-KEEPS": Misbehaviour(rewrite=_sna_drops_values),
    "SETGET": Misbehaviour(rewrite=_setget_without_get_half),
    "INSTANCE-0": Misbehaviour(drop=_drop_instance_zero),
    "INF-REQ": Misbehaviour(drop=_only(ESV.INF_REQ)),
    "INFC": Misbehaviour(drop=_only(ESV.INFC)),
    "MANDATORY": Misbehaviour(values=_without(0x88)),
    "RELEASE": Misbehaviour(values=_set(0x82, b"\x00\x00a\x00")),
    "HEADER": Misbehaviour(rewrite=_wrong_deoj),
    "REPLY-PORT": Misbehaviour(reply_port=True),
    "ODD-EHD2": Misbehaviour(drop=_after(lambda data, frame: data[:2] == b"\x10\x82")),
    "ODD-OPC0": Misbehaviour(
        drop=_after(lambda data, frame: frame is not None and frame.esv == ESV.GET and not frame.properties)
    ),
    "ODD-TRAILING": Misbehaviour(drop=_after(_trailing)),
    "SET-VALID": Misbehaviour(write=_not_applied),
    "SET-INVALID": Misbehaviour(write=_accepts_anything),
    "SETI-SILENT": Misbehaviour(extra=_answers_seti),
    "INF-CHANGE": Misbehaviour(config={"announce": False}),
    "ROBUST-BURST": Misbehaviour(drop=_burst_silences),
}


def build_node(misbehaviour: Misbehaviour) -> Node:
    base = emulated_object(REGISTRY, 0x027D, seed="negative control")
    values = base.values()
    for epc in (0x9D, 0x9E, 0x9F):
        values.pop(epc)
    if misbehaviour.values is not None:
        misbehaviour.values(values)
    obj = Quirky(base, misbehaviour, values)
    node = emulated_node([obj], REGISTRY, config=NodeConfig(**misbehaviour.config), seed="negative control")
    if misbehaviour.node is not None:
        misbehaviour.node(node)
    return node


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind((LOOPBACK, 0))
        return int(s.getsockname()[1])


async def _run(misbehaviour: Misbehaviour, address: str = LOOPBACK) -> Report:
    main_port = _free_port() if misbehaviour.reply_port else 0
    device = await MisbehavingDevice.open(build_node(misbehaviour), misbehaviour, main_port or None, address)
    try:
        return await conformance(
            address,
            port=device.port,
            local_port=main_port,
            timeout=0.5,
            retries=0,
            probe_set=True,
            robustness=True,
            burst=60,
            registry=REGISTRY,
        )
    finally:
        await device.close()


async def _run_all() -> dict[str, Report]:
    """One run per misbehaviour (and one of the well-behaved device, ``""``), a few at a time, each device on a
    loopback address of its own (the suite keeps what comes from its device's address only)."""
    limit = asyncio.Semaphore(6)
    cases = {"": Misbehaviour(), **MISBEHAVIOURS}

    async def one(index: int, misbehaviour: Misbehaviour) -> Report:
        async with limit:
            return await _run(misbehaviour, f"127.0.0.{40 + index}")

    reports = await asyncio.gather(*(one(i, m) for i, m in enumerate(cases.values())))
    return dict(zip(cases, reports, strict=True))


@pytest.fixture(scope="module")
def reports() -> dict[str, Report]:
    return go(_run_all(), limit=300)


def test_every_check_has_a_negative_control() -> None:
    assert set(MISBEHAVIOURS) == {c.id for c in CHECKS}


@pytest.mark.timeout(300)
def test_the_well_behaved_harness_device_passes_every_check(reports: dict[str, Report]) -> None:
    report = reports[""]
    assert flagged(report) == {}
    assert {r.check.id for r in report.results} == {c.id for c in CHECKS}


@pytest.mark.timeout(300)
@pytest.mark.parametrize("check_id", [c.id for c in CHECKS])
def test_breaking_one_rule_fails_that_check_and_no_other(check_id: str, reports: dict[str, Report]) -> None:
    report = reports[check_id]
    assert failing(report) == {check_id}, flagged(report)
    assert not report.of(Verdict.WARN), flagged(report)


@contextlib.contextmanager
def misbehaving_in_thread(check_id: str) -> Iterator[int]:
    """A device breaking the rule of ``check_id`` on a loop of its own thread (for the command line); yields its
    port."""
    misbehaviour = replace(MISBEHAVIOURS[check_id])
    loop = asyncio.new_event_loop()
    ready: list[MisbehavingDevice] = []
    started = threading.Event()

    def serve() -> None:
        asyncio.set_event_loop(loop)
        ready.append(loop.run_until_complete(MisbehavingDevice.open(build_node(misbehaviour), misbehaviour)))
        started.set()
        loop.run_forever()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    assert started.wait(10)
    device = ready[0]
    try:
        yield device.port
    finally:
        asyncio.run_coroutine_threadsafe(device.close(), loop).result(5)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(5)
        loop.close()
