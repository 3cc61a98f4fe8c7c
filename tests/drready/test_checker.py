"""The DRready conformance checker (echonet/drready/checker/, ``echonet drready``) against our simulated devices,
against devices that miss properties or answer strangely or not at all, against a fake secure-overlay responder,
and against other stacks (uecho from PyPI, echonet-lite from npm) in a network namespace.

Our devices and the fake ones run on 127.0.0.1 with ephemeral ports, so concurrent runs never collide; the other
stacks run in a namespace of their own (tools/interop/interop_harness.py, needs root).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import sys
import threading
from collections.abc import Callable, Coroutine, Iterator
from pathlib import Path
from typing import Any, TypeVar, cast

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from echonet.aio import Controller, DeviceServer, Endpoints, run
from echonet.cli import main
from echonet.codec import decode, encode
from echonet.drready import Identity, SimClock, StorageBattery, simulated_device
from echonet.drready.checker import (
    REQUIREMENTS,
    Outcome,
    Report,
    RequirementResult,
    Status,
    check,
    probe_overlay,
    requirement_table,
)
from echonet.drready.host import SimHost
from echonet.errors import FrameDecodeError
from echonet.frame import EOJ, ESV, Frame, Property
from echonet.node import DeviceObject, Node, NodeConfig, NodeProfile
from echonet.propmap import PROPERTY_MAP_EPCS

T = TypeVar("T")
LOOPBACK = "127.0.0.1"
BATTERY = EOJ(0x02, 0x7D, 0x01)
HEATER = EOJ(0x02, 0x6B, 0x01)
HYBRID = EOJ(0x02, 0xA6, 0x01)
PROFILE = EOJ(0x0E, 0xF0, 0x01)
OTHER_MAKER = b"\x00\x00\x77"

Answer = Callable[[Frame], list[bytes]]


def go(coro: Coroutine[Any, Any, T]) -> T:
    async def bounded() -> T:
        return await asyncio.wait_for(coro, 30)

    return run(bounded())


async def controller(timeout: float = 1.0) -> Controller:
    return await Controller.open(
        Endpoints(bind_v4=LOOPBACK, port=0, join_multicast=False), config=NodeConfig(timeout=timeout, retries=0)
    )


def port_of(server: DeviceServer) -> int:
    return int(server.runner.local_addresses[socket.AF_INET][1])


async def our_devices() -> SimHost:
    clock = SimClock.at("2026-01-15T06:00")
    devices = [simulated_device(kind, clock=clock) for kind in ("water_heater", "hybrid_water_heater", "battery")]
    return await SimHost.open(devices, Endpoints(bind_v4=LOOPBACK, port=0, join_multicast=False))


def by_id(results: tuple[RequirementResult, ...]) -> dict[str, RequirementResult]:
    return {r.requirement.id: r for r in results}


def statuses(report: Report, eoj: EOJ) -> dict[str, str]:
    [obj] = [o for o in report.objects if o.eoj == eoj]
    return {r.requirement.id: r.status.value for r in obj.requirements if r.status is not Status.NOT_APPLICABLE}


# Our devices -------------------------------------------------------------------------------------------------------


def test_our_three_simulated_devices_meet_every_requirement_over_udp() -> None:
    async def scenario() -> Report:
        host = await our_devices()
        ctl = await controller()
        try:
            return await check(LOOPBACK, controller=ctl, port=port_of(host.server), overlay_wait=0.3)
        finally:
            await ctl.close()
            await host.close()

    report = go(scenario())
    assert report.answered and report.all_met
    assert [o.eoj for o in report.objects] == [HEATER, HYBRID, BATTERY]
    assert report.node.version == b"\x01\x0e\x01\x00" and report.node.version_text.startswith("1.14")
    assert report.node.manufacturer == b"\xff\xff\xff" and report.node.identification is not None
    for obj in report.objects:
        assert obj.simulation and obj.release == b"\x00\x00R\x00" and obj.release_text == "Release R rev. 0"
        assert obj.problems == ()
    assert statuses(report, BATTERY) == {
        "dr-amount": "met",
        "dr-command": "met",
        "dr-duration": "met",
        "current-power": "met",
        "backup-reserve": "met",
        "return-after-dr": "met",
        "comm-loss-fallback": "met",
        "identification": "met",
    }
    assert statuses(report, HEATER) == dict.fromkeys(
        ("dr-amount", "dr-command", "dr-plan", "current-power", "identification"), "met"
    )
    battery = by_id(report.objects[2].requirements)
    # standard properties show where Release R has them; the extension EPCs are flagged as such
    assert not battery["dr-amount"].extension and battery["backup-reserve"].extension
    [d3] = battery["current-power"].evidence
    assert (d3.probe.epc, d3.esv, d3.in_map, d3.outcome) == (0xD3, "Get_Res", True, Outcome.PASS)
    assert d3.value is not None and d3.value.endswith(" W")
    assert not report.overlay.offered and report.overlay.legacy
    doc = report.to_json()
    assert doc["secure_overlay"]["mode"] == "legacy" and doc["secure_overlay"]["risk"]
    json.dumps(doc)  # JSON-ready


def test_probe_set_writes_back_the_values_read_and_ends_the_dr_it_starts_on_our_battery() -> None:
    async def scenario() -> tuple[Report, bytes]:
        host = await our_devices()
        ctl = await controller()
        try:
            report = await check(
                LOOPBACK, controller=ctl, port=port_of(host.server), eojs=[BATTERY], probe_set=True, overlay=False
            )
            after = await ctl.get((LOOPBACK, port_of(host.server)), BATTERY, [0xF2])
            return report, after.values[0xF2]
        finally:
            await ctl.close()
            await host.close()

    report, dr_state = go(scenario())
    assert report.all_met and report.overlay.offered is None
    [battery] = report.objects
    command = by_id(battery.requirements)["dr-command"]
    assert {e.esv for e in command.evidence} == {"Set_Res"}
    assert all("SetC writing back" in e.reason for e in command.evidence)
    assert dr_state == b"\x00"  # the write-back of 0xDA started a DR; the checker ended it
    assert any("ended it again" in note for note in battery.notes)


def test_cli_check_prints_every_requirement_met_for_our_devices_and_exits_0(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with served_in_thread(our_devices) as port:
        code = main(["drready", "check", LOOPBACK, "--port", str(port), "--bind", LOOPBACK, "--local-port", "0",
                     "--timeout", "1"])  # fmt: skip
        text = capsys.readouterr().out
        assert code == 0, text
        code = main(["drready", "check", LOOPBACK, "--port", str(port), "--bind", LOOPBACK, "--local-port", "0",
                     "--timeout", "1", "--json", "--eoj", "027D01"])  # fmt: skip
        doc = json.loads(capsys.readouterr().out)
    assert code == 0
    assert "ECHONET Lite version (node profile 0x82): 1.14" in text
    assert "Appendix release (0x82): Release R rev. 0" in text
    assert "secure overlay: not offered" in text and "LEGACY device" in text
    assert "summary: every requirement met (18 met" in text
    assert doc["all_met"] and [o["eoj"] for o in doc["objects"]] == ["027D01"]
    assert doc["secure_overlay"]["mode"] == "legacy"


# Devices that miss properties or answer strangely -----------------------------------------------------------------


def foreign_battery(drop: set[int], not_settable: set[int], release: str | None = None) -> Node:
    """A battery of another manufacturer with the simulation's standard properties less ``drop``, and
    ``not_settable`` left out of its Set map (declaring Appendix ``release`` in its 0x82 when given)."""
    model = StorageBattery(0.0, identity=Identity(b"OTHER-BATTERY", maker_code=OTHER_MAKER))
    defs = model.property_defs()
    values = {
        epc: model.read(epc)
        for epc in model.readable_epcs()
        if epc not in drop and epc not in PROPERTY_MAP_EPCS and defs[epc].standard
    }
    if release is not None:
        values[0x82] = b"\x00\x00" + release.encode() + b"\x00"
    settable = (model.settable_epcs() & values.keys()) - not_settable
    battery = DeviceObject(BATTERY, values, settable=settable, definitions=[defs[e] for e in values])
    profile = NodeProfile(maker_code=OTHER_MAKER, unique_id=bytes(13))
    return Node([battery], profile=profile)


def check_node(node: Node) -> Report:
    """Serve ``node`` on loopback and check it."""

    async def scenario() -> Report:
        server = await DeviceServer.open(node, Endpoints(bind_v4=LOOPBACK, port=0, join_multicast=False))
        ctl = await controller()
        try:
            return await check(LOOPBACK, controller=ctl, port=port_of(server), overlay_wait=0.2)
        finally:
            await ctl.close()
            await server.close()

    return go(scenario())


def test_a_device_missing_properties_gets_precise_not_met_evidence() -> None:
    report = check_node(foreign_battery({0xD3, 0xA5}, {0xDA}))
    assert report.answered and not report.all_met
    [battery] = report.objects
    assert not battery.simulation and battery.manufacturer == OTHER_MAKER
    results = by_id(battery.requirements)
    power = results["current-power"]
    assert power.status is Status.NOT_MET
    [d3] = power.evidence
    assert (d3.probe.epc, d3.outcome, d3.esv, d3.in_map) == (0xD3, Outcome.FAIL, "Get_SNA", False)
    assert "0xD3" in power.reason and "Get_SNA" in power.reason
    amount = results["dr-amount"]
    assert amount.status is Status.PARTIAL
    a4, a5 = amount.evidence
    assert (a4.outcome, a4.esv, a4.in_map) == (Outcome.PASS, "Get_SNA", True)
    assert a4.edt is not None and a4.value == f"{int.from_bytes(a4.edt, 'big')} Wh"
    assert (a5.probe.epc, a5.outcome) == (0xA5, Outcome.FAIL)
    command = results["dr-command"]
    assert command.status is Status.PARTIAL
    [da] = {e for e in command.evidence if e.probe.epc == 0xDA}
    assert (da.outcome, da.in_map, da.reason) == (Outcome.FAIL, False, "not in the Set map 0x9E")
    assert results["identification"].status is Status.MET
    # Release R has no property for these: on a device that is not our simulation they cannot be judged
    for rid in ("dr-duration", "backup-reserve", "return-after-dr", "comm-loss-fallback"):
        assert results[rid].status is Status.UNKNOWN and "not one of the project's simulations" in results[rid].reason


def test_a_missing_property_newer_than_the_objects_release_is_explained_by_the_release() -> None:
    """0xC1/0xC2 (charging / discharging method) came with Release M: a battery declaring Release H that lacks
    them fails the DR-command requirement, and the evidence says why; 0xDA (Release A) gets no such remark."""

    report = check_node(foreign_battery({0xC1, 0xC2}, {0xDA}, release="H"))
    [battery] = report.objects
    assert battery.release_text == "Release H rev. 0"
    command = by_id(battery.requirements)["dr-command"]
    assert command.status is Status.PARTIAL  # (0xEB/0xEC and 0xAA/0xAB are there)
    found = {e.probe.epc: e for e in command.evidence}
    for epc in (0xC1, 0xC2):
        assert found[epc].outcome is Outcome.FAIL
        assert found[epc].reason.endswith("Release M added it, and the object declares Release H (0x82)")
    assert found[0xDA].reason == "not in the Set map 0x9E"  # in Release A already: missing for no such reason
    assert "Release M added it" in command.reason


_EPCS = sorted({p.epc for r in REQUIREMENTS for rule in r.rules for way in rule.ways for p in way.probes}
               | {p.epc for r in REQUIREMENTS for rule in r.rules for p in rule.supporting}
               | {0x82, 0x83, 0x8A, 0x8C, 0x8D, 0x9D, 0x9E, 0x9F})  # fmt: skip
_READS = st.one_of(
    st.binary(max_size=20).map(lambda b: ("Get_Res", b or None)),
    st.sampled_from([("Get_SNA", None), ("timeout", None), ("no answer", None), ("Get_Res with PDC=0", None)]),
)


@settings(max_examples=60, deadline=None)
@given(
    st.sampled_from([HEATER, HYBRID, BATTERY]),
    st.dictionaries(st.sampled_from(_EPCS), _READS),
    st.dictionaries(st.sampled_from([0x82, 0x83, 0x8A, 0xD6]), _READS),
    st.booleans(),
)
def test_any_answer_content_gives_a_verdict_with_reasons_never_an_exception(
    eoj: EOJ, reads: dict[int, tuple[str, bytes | None]], profile_reads: dict[int, tuple[str, bytes | None]], sim: bool
) -> None:
    from echonet.drready.checker.judge import object_report
    from echonet.drready.checker.reading import ObjectData, PropertyRead, decode_map
    from echonet.drready.extensions import with_extensions
    from echonet.spec.registry import default_registry

    obj = ObjectData(eoj, answered=True)
    obj.reads.update({epc: PropertyRead(esv, edt) for epc, (esv, edt) in reads.items()})
    if sim:  # looks like one of our simulations: the extension EPCs are judged too
        obj.reads[0x8A] = PropertyRead("Get_Res", b"\xff\xff\xff")
        obj.reads[0x83] = PropertyRead("Get_Res", b"\xfe\xff\xff\xffDRR" + bytes(10))
    for epc in (0x9D, 0x9E, 0x9F):
        decode_map(obj, epc)
    profile = ObjectData(PROFILE, answered=bool(profile_reads))
    profile.reads.update({epc: PropertyRead(esv, edt) for epc, (esv, edt) in profile_reads.items()})
    registry = default_registry()
    report = object_report(obj, profile, registry, with_extensions(registry))
    assert report.simulation == sim
    for result in report.requirements:
        assert result.reason
        for evidence in (*result.evidence, *result.supporting):
            assert evidence.reason and evidence.outcome in Outcome
    json.dumps(report.to_json())


class FakeDevice(asyncio.DatagramProtocol):
    """Answers requests with whatever ``answer`` makes of them (raw datagrams), and overlay records with
    ``overlay`` (or nothing)."""

    def __init__(self, answer: Answer, overlay: Callable[[bytes], list[bytes]] | None = None) -> None:
        self.answer = answer
        self.overlay = overlay
        self.received: list[bytes] = []
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.DatagramTransport, transport)

    def datagram_received(self, data: bytes, addr: Any) -> None:
        self.received.append(data)
        assert self.transport is not None
        if data[:1] == b"\x21":
            replies = self.overlay(data) if self.overlay else []
        else:
            try:
                replies = self.answer(decode(data))
            except FrameDecodeError:
                replies = []
        for reply in replies:
            self.transport.sendto(reply, addr)


@contextlib.asynccontextmanager
async def fake_device(answer: Answer, overlay: Callable[[bytes], list[bytes]] | None = None) -> Any:
    loop = asyncio.get_running_loop()
    transport, proto = await loop.create_datagram_endpoint(
        lambda: FakeDevice(answer, overlay), local_addr=(LOOPBACK, 0)
    )
    try:
        yield proto, transport.get_extra_info("sockname")[1]
    finally:
        transport.close()


def reply(request: Frame, esv: int, props: list[Property]) -> bytes:
    assert request.deoj is not None and request.seoj is not None
    return encode(Frame.make(request.tid, request.deoj, request.seoj, esv, props))


def sna_to_everything(request: Frame) -> list[bytes]:
    return [reply(request, ESV.GET_SNA, [Property(p.epc) for p in request.properties])]


def garbage(request: Frame) -> list[bytes]:
    """Junk first, then answers with wrongly sized values and malformed maps; a truncated frame for any Get of 0xD3,
    which therefore goes unanswered however the controller splits it."""
    junk = [b"\x00\x01junk", bytes.fromhex("1081ffff027d0105ff017201")]  # not ECHONET Lite; an answer cut short
    if request.deoj == PROFILE:
        values = {0x82: b"\x01", 0x83: b"\xfe\x00", 0x8A: OTHER_MAKER, 0xD6: bytes.fromhex("05027d01")}
    elif request.deoj == BATTERY:
        if any(p.epc == 0xD3 for p in request.properties):
            tid = request.tid.to_bytes(2, "big")
            return [*junk, b"\x10\x81" + tid + bytes.fromhex("027d0105ff0172028004")]  # PDC 4, one byte left
        values = {
            0x82: b"\x00\x00R",
            0x83: b"\x00" * 17,
            0x8A: OTHER_MAKER,
            0x9D: bytes.fromhex("0580"),
            0x9E: b"",
            0x9F: bytes((0x20,)) + bytes(16),
        }
    else:
        return []
    props = [Property(p.epc, values.get(p.epc, b"")) for p in request.properties]
    return [*junk, reply(request, ESV.GET_RES, props)]


def test_a_device_answering_get_sna_to_everything_is_reported_not_crashed_on() -> None:
    async def scenario() -> Report:
        ctl = await controller(timeout=0.3)
        try:
            async with fake_device(sna_to_everything) as (_, port):
                return await check(LOOPBACK, controller=ctl, port=port, overlay_wait=0.2)
        finally:
            await ctl.close()

    report = go(scenario())
    assert report.answered and not report.all_met
    assert report.node.instances is None and report.node.version is None
    assert any("0xD6" in p and "Get_SNA" in p for p in report.node.problems)
    # no instance list: instance 0x01 of each DRready class was tried, and each answered (with Get_SNA)
    assert [o.eoj for o in report.objects] == [HEATER, HYBRID, BATTERY]
    for obj in report.objects:
        assert obj.get_map is None and any("map 0x9F not readable (Get_SNA)" in p for p in obj.problems)
        for r in obj.requirements:
            assert r.status in (Status.NOT_MET, Status.UNKNOWN, Status.NOT_APPLICABLE)
    identification = by_id(report.objects[2].requirements)["identification"]
    assert identification.status is Status.NOT_MET
    assert {e.esv for e in identification.evidence} == {"Get_SNA"}


def test_a_device_answering_garbage_gets_unknown_and_not_met_with_reasons() -> None:
    async def scenario() -> Report:
        ctl = await controller(timeout=0.3)
        try:
            async with fake_device(garbage) as (_, port):
                return await check(LOOPBACK, controller=ctl, port=port, overlay_wait=0.2)
        finally:
            await ctl.close()

    report = go(scenario())
    assert report.answered and not report.all_met
    assert report.node.version_text.startswith("malformed")
    assert any("0xD6 malformed" in p for p in report.node.problems)
    # the objects that did not answer the fallback probe are left out; the battery answered
    [battery] = report.objects
    assert battery.release_text.startswith("malformed")
    assert any("map 0x9D malformed" in p for p in battery.problems)
    assert battery.get_map == frozenset() and battery.set_map is None  # read leniently; 0x9E came with PDC=0
    results = by_id(battery.requirements)
    ident = results["identification"]
    assert ident.status is Status.PARTIAL and "every way has a failure" in ident.reason
    profile_id, object_id, maker = ident.evidence
    assert profile_id.outcome is Outcome.FAIL and "does not fit" in profile_id.reason
    assert object_id.outcome is Outcome.FAIL and "starts with 0x00" in object_id.reason
    assert maker.outcome is Outcome.DEGRADED  # readable, but its (empty) Get map does not list it
    # 0xD3 came back in truncated frames only: dropped, so its value is unknown, not invented
    power = results["current-power"]
    assert power.status is Status.UNKNOWN and power.evidence[0].esv in ("timeout", "no answer")
    amount = results["dr-amount"]
    assert amount.status is Status.NOT_MET and {e.outcome for e in amount.evidence} == {Outcome.FAIL}
    assert results["dr-command"].status is Status.UNKNOWN  # Set map unreadable


def test_a_device_without_a_node_profile_is_found_by_guessing_instance_1_of_each_class() -> None:
    def battery_only(request: Frame) -> list[bytes]:
        return sna_to_everything(request) if request.deoj == BATTERY else []

    async def scenario() -> Report:
        ctl = await controller(timeout=0.3)
        try:
            async with fake_device(battery_only) as (_, port):
                return await check(LOOPBACK, controller=ctl, port=port, overlay_wait=0.2)
        finally:
            await ctl.close()

    report = go(scenario())
    assert report.answered and not report.node.answered
    assert [o.eoj for o in report.objects] == [BATTERY]
    assert any("found 027D01 by trying instance 0x01" in p for p in report.problems)


def test_a_silent_device_is_reported_as_not_answering_by_the_library_and_exit_code_4(
    capsys: pytest.CaptureFixture[str],
) -> None:
    silent = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    silent.bind((LOOPBACK, 0))
    port = silent.getsockname()[1]
    try:

        async def scenario() -> Report:
            ctl = await controller(timeout=0.2)
            try:
                return await check(LOOPBACK, controller=ctl, port=port, overlay_wait=0.2)
            finally:
                await ctl.close()

        report = go(scenario())
        code = main(["drready", "check", LOOPBACK, "--port", str(port), "--bind", LOOPBACK, "--local-port", "0",
                     "--timeout", "0.2", "--retries", "0"])  # fmt: skip
    finally:
        silent.close()
    assert not report.answered and report.objects == () and not report.all_met
    assert report.node.problems == ("the node profile 0x0EF001 did not answer",)
    assert report.overlay.offered is False
    assert code == 4
    captured = capsys.readouterr()
    assert "node profile 0x0EF001: no answer" in captured.out and "did not answer" in captured.err


# The secure overlay -----------------------------------------------------------------------------------------------


def test_a_device_answering_the_handshake_record_with_a_cookie_is_reported_as_offering_the_overlay() -> None:
    from secure.handshake.cose import Credential, LocalCredential, make_ccs
    from secure.handshake.edhoc import Responder
    from secure.handshake.messages import Method
    from secure.records.framing import HandshakeRecord, encode_cookie
    from secure.records.framing import decode as decode_record

    hellos: list[HandshakeRecord] = []

    def cookie(data: bytes) -> list[bytes]:
        record = decode_record(data)
        assert isinstance(record, HandshakeRecord)
        hellos.append(record)
        return [encode_cookie(b"\x5a" * 16)]

    async def scenario() -> tuple[Any, Any]:
        async with fake_device(sna_to_everything, cookie) as (_, port):
            offered = await probe_overlay((LOOPBACK, port), wait=2.0)
        async with fake_device(sna_to_everything) as (_, port):
            silent = await probe_overlay((LOOPBACK, port), wait=0.2)
        return offered, silent

    offered, silent = go(scenario())
    assert offered.offered is True and offered.answer_kind == "cookie" and "cookie" in offered.detail
    assert silent.offered is False and silent.legacy
    # what was sent is a handshake record for a new connection (empty cid) carrying an EDHOC message_1 that a
    # real responder accepts: method 3, cipher suite 2
    [hello] = hellos
    assert hello.connection_id == b""
    from cryptography.hazmat.primitives.asymmetric import ec

    key = ec.generate_private_key(ec.SECP256R1())
    cred = LocalCredential(Credential.from_ccs(make_ccs(key.public_key(), kid=b"\x01")), key)
    info = Responder(methods={Method.STATIC_STATIC}, credential=cred, verify_peer=lambda c: None).process_message_1(
        hello.payload
    )
    assert (info.method, info.suite) == (Method.STATIC_STATIC, 2)


def test_overlay_records_of_any_kind_count_and_plain_answers_do_not() -> None:
    from secure.records.framing import encode_handshake

    async def scenario() -> tuple[Any, Any]:
        async with fake_device(sna_to_everything, lambda _: [encode_handshake(b"\x07", b"\x58\x20" + bytes(32))]) as (
            _,
            port,
        ):
            handshake = await probe_overlay((LOOPBACK, port), wait=2.0)
        async with fake_device(sna_to_everything, lambda _: [bytes.fromhex("1081000105ff010ef0017200")]) as (_, port):
            plain = await probe_overlay((LOOPBACK, port), wait=0.3)
        return handshake, plain

    handshake, plain = go(scenario())
    assert handshake.offered is True and handshake.answer_kind == "handshake"
    assert plain.offered is False and "not overlay records" in plain.detail


def test_our_secure_only_device_is_reported_as_offering_the_overlay_and_unreadable_in_plain(tmp_path: Path) -> None:
    secure_aio = pytest.importorskip("secure.layer.aio")
    from cryptography.hazmat.primitives.asymmetric import ec

    from echonet.drready.sim import simulated_node
    from secure.audit import AuditLog
    from secure.handshake.cose import Credential, LocalCredential, make_ccs
    from secure.handshake.messages import Method
    from secure.layer.config import SecureConfig
    from secure.trust.allowlist import AllowList
    from secure.trust.verifiers import PinnedKeyVerifier

    key = ec.generate_private_key(ec.SECP256R1())
    local = LocalCredential(Credential.from_ccs(make_ccs(key.public_key(), kid=b"\x11", subject="device")), key)
    log = AuditLog(tmp_path / "audit.jsonl")
    config = SecureConfig(
        credential=local,
        verifier=PinnedKeyVerifier(AllowList(tmp_path / "allow.json", audit=log)),
        initiate=False,
        respond=True,
        method=Method.STATIC_STATIC,
        cross_check=False,
    )

    async def scenario() -> Report:
        node = simulated_node([simulated_device("battery", clock=SimClock.at("2026-01-15T06:00"))])
        server = await secure_aio.open_secure_server(
            node, Endpoints(bind_v4=LOOPBACK, port=0, join_multicast=False), config, audit=log
        )
        ctl = await controller(timeout=0.3)
        try:
            return await check(LOOPBACK, controller=ctl, port=port_of(server), overlay_wait=2.0)
        finally:
            await ctl.close()
            await server.close()

    report = go(scenario())
    # an unknown initiator gets a stateless cookie before any public-key work (DESIGN 5)
    assert report.overlay.offered is True and report.overlay.answer_kind == "cookie"
    assert not report.node.answered and report.objects == () and report.answered and not report.all_met
    assert any("only be read through a secure session" in p for p in report.problems)


# The requirement table and usage ----------------------------------------------------------------------------------


def test_requirements_command_lists_the_table_as_text_and_json(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["drready", "requirements"]) == 0
    text = capsys.readouterr().out
    assert main(["drready", "requirements", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [r["id"] for r in rows] == [r.id for r in REQUIREMENTS] == [r["id"] for r in requirement_table()]
    for req in REQUIREMENTS:
        assert f"{req.id}: {req.text}" in text
    duration = {c["class"]: c for c in rows[2]["classes"]}
    assert not duration["0x026B"]["applies"] and duration["0x027D"]["ways"][0]["extension"]


@pytest.mark.parametrize(
    "argv",
    [
        ["drready", "check", "224.0.23.0"],
        ["drready", "check", "127.0.0.1", "--eoj", "027D00"],
        ["drready", "check", "127.0.0.1", "--timeout", "-1"],
        ["drready"],
    ],
)
def test_usage_errors_exit_2(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    try:
        code = main(argv)
    except SystemExit as exc:
        code = int(exc.code or 0)
    assert code == 2
    capsys.readouterr()


# Helpers: a device in a thread (for the CLI, which runs its own loop) ---------------------------------------------


@contextlib.contextmanager
def served_in_thread(open_host: Callable[[], Coroutine[Any, Any, SimHost]]) -> Iterator[int]:
    loop = asyncio.new_event_loop()
    ready: list[SimHost] = []
    started = threading.Event()

    def serve() -> None:
        asyncio.set_event_loop(loop)
        ready.append(loop.run_until_complete(open_host()))
        started.set()
        loop.run_forever()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    assert started.wait(10)
    host = ready[0]
    try:
        yield port_of(host.server)
    finally:
        asyncio.run_coroutine_threadsafe(host.close(), loop).result(5)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(5)
        loop.close()


# Other stacks -----------------------------------------------------------------------------------------------------

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "tools" / "interop"))

DEVICE_IP = "127.0.0.2"
CHECKER_IP = "127.0.0.5"


def run_checker_in(host: Any) -> tuple[int, dict[str, Any]]:
    from interop_harness import PYTHON

    argv = [PYTHON, "-m", "echonet", "drready", "check", DEVICE_IP, "--bind", CHECKER_IP, "--timeout", "1", "--json"]
    done = host.run(argv, timeout=30)
    assert done.stdout.strip(), done.stderr
    doc: dict[str, Any] = json.loads(done.stdout)
    return done.returncode, doc


def judged(doc: dict[str, Any]) -> dict[str, str]:
    [obj] = doc["objects"]
    return {r["id"]: r["status"] for r in obj["requirements"] if r["status"] != "not applicable"}


@pytest.mark.interop
@pytest.mark.netns
@pytest.mark.timeout(60)
def test_uecho_battery_meets_the_standard_requirements_partly_and_is_legacy() -> None:
    from interop_harness import PYTHON, LoopbackHost, require_python_peer

    require_python_peer("uecho")
    with LoopbackHost() as host:
        host.start([PYTHON, "tools/interop/uecho_device.py", "--bind", DEVICE_IP])
        code, doc = run_checker_in(host)
    assert code == 3
    assert doc["answered"] and not doc["all_met"]
    assert doc["node"]["version"] == {"major": 1, "minor": 13, "formats": ["specified"]}
    assert doc["node"]["version_edt"] == "010d0100" and doc["node"]["version_text"].startswith("1.13")
    assert doc["node"]["manufacturer"] is None  # uecho serves 0x8A empty
    assert any("0x8A" in p and "PDC=0" in p for p in doc["node"]["problems"])
    assert doc["secure_overlay"]["mode"] == "legacy" and doc["secure_overlay"]["risk"]
    [obj] = doc["objects"]
    assert obj["eoj"] == "027D01" and obj["release_text"] == "Release R rev. 1" and not obj["drready_simulation"]
    assert obj["class"] == "0x027D" and obj["class_name"] == "Storage battery"
    assert obj["release"] == {"letter": "R", "revision": 1}
    assert any("map 0x9F malformed" in p for p in obj["problems"])  # count byte 16, 21 EPCs, none from 0xC0
    assert judged(doc) == {
        "dr-amount": "met",
        "dr-command": "met",
        "dr-duration": "unknown",
        "current-power": "partially met",  # 0xD3 answers, but uecho's Get map drops every EPC from 0xC0
        "backup-reserve": "unknown",
        "return-after-dr": "unknown",
        "comm-loss-fallback": "unknown",
        "identification": "met",
    }
    power = next(r for r in obj["requirements"] if r["id"] == "current-power")
    [d3] = power["evidence"]
    assert (d3["epc"], d3["outcome"], d3["in_map"], d3["value"]) == ("0xD3", "degraded", False, "0 W")


@pytest.mark.interop
@pytest.mark.netns
@pytest.mark.timeout(60)
def test_npm_echonet_lite_battery_meets_the_standard_requirements_and_is_legacy() -> None:
    from interop_harness import LoopbackHost, require_npm_peer

    require_npm_peer()
    with LoopbackHost() as host:
        host.start(["node", "tools/interop/el_device.js", "--bind", DEVICE_IP])
        code, doc = run_checker_in(host)
    assert code == 3
    assert doc["node"]["version_text"].startswith("1.13") and doc["node"]["manufacturer"] == "000077"
    assert doc["secure_overlay"]["mode"] == "legacy"
    # its answers come from port 23610 and go to port 3610: the checker listens on 3610 and matches on address
    assert judged(doc) == {
        "dr-amount": "met",
        "dr-command": "met",
        "dr-duration": "unknown",
        "current-power": "met",
        "backup-reserve": "unknown",
        "return-after-dr": "unknown",
        "comm-loss-fallback": "unknown",
        "identification": "met",
    }
