"""The run: discover the node at one address, read every object, and judge every check.

:func:`conformance` reads the node profile (0xD6 first: that is the discovery), then each object's maps and every
EPC of its Get map one Get at a time, then makes the requests the checks need (instance 0x00, INF_REQ, INFC, SetGet,
odd frames, and with ``probe_set`` the writes, each restored). Nothing is printed; the :class:`~.report.Report`
carries every verdict with its frames.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from ..apps.values import refused_value, settable_values
from ..constants import ECHONET_PORT
from ..errors import ValueDecodeError
from ..frame import EOJ, ESV, Frame
from ..node.config import NODE_PROFILE_EOJ
from ..propmap import decode_class_list, decode_instance_list, decode_property_map
from ..spec.identity import APPENDIX_RELEASE, PROTOCOL_VERSION, release_of
from ..spec.model import CURRENT_RELEASE, PropertyDef
from ..spec.registry import Registry, default_registry
from .checks import CHECKS, Needs, Scope
from .overlay import LayerFactory
from .probe import Announcements, Prober, decoded, listen_announcements
from .report import Exchange, ObjectIdentity, Report, Result, Verdict, result

_MAPS = (0x9D, 0x9E, 0x9F)
_PROFILE_FIRST = (0x80, 0x82, 0x83, 0x8A, 0xD3, 0xD4, 0xD6, 0xD7)
_OBJECT_FIRST = (0x80, 0x82, 0x83, 0x8A)
#: Covered by checks of their own, so left out of GET-VALUE (a broken one fails one check, not two).
_OWN_CHECK = frozenset({0x82, 0x83, *_MAPS})
_PROFILE_OWN_CHECK = _OWN_CHECK | {0xD3, 0xD4, 0xD5, 0xD6, 0xD7}
_EVIDENCE = 6  #: at most this many exchanges shown per result


@dataclass(frozen=True)
class Read:
    """What a Get of one EPC gave."""

    esv: str  #: Get_Res, Get_SNA, "timeout"
    edt: bytes | None
    exchange: Exchange


@dataclass
class ObjectData:
    """Everything read of one object."""

    eoj: EOJ
    answered: bool = False
    maps: dict[int, frozenset[int] | None] = field(default_factory=dict)
    map_problems: dict[int, str] = field(default_factory=dict)
    maps_exchange: Exchange | None = None
    reads: dict[int, Read] = field(default_factory=dict)

    def value(self, epc: int) -> bytes | None:
        read = self.reads.get(epc)
        return read.edt if read is not None else None

    @property
    def get_map(self) -> frozenset[int] | None:
        return self.maps.get(0x9F)

    @property
    def set_map(self) -> frozenset[int] | None:
        return self.maps.get(0x9E)

    @property
    def announce_map(self) -> frozenset[int] | None:
        return self.maps.get(0x9D)

    @property
    def target(self) -> str:
        return str(self.eoj)


@dataclass
class _Run:
    prober: Prober
    registry: Registry
    probe_set: bool
    robustness: bool
    listener: Announcements | None
    burst: int
    results: list[Result] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def add(self, check_id: str, target: str, verdict: Verdict, reason: str, evidence: Sequence[Exchange] = ()) -> None:
        self.results.append(result(check_id, target, verdict, reason, list(evidence)[:_EVIDENCE]))

    async def get(self, label: str, eoj: EOJ, epcs: Sequence[int]) -> tuple[Exchange, Frame | None]:
        request = self.prober.frame(eoj, ESV.GET, [(e, b"") for e in epcs])
        exchange, answers = await self.prober.exchange(label, request)
        return exchange, answers[0] if answers else None

    def definition(self, eoj: EOJ, epc: int) -> PropertyDef | None:
        return self.registry.property(eoj.class_id, epc)


def _esv_text(frame: Frame) -> str:
    from ..frame import esv_name

    return esv_name(frame.esv) if frame.esv is not None else "arbitrary"


async def _read_object(run: _Run, eoj: EOJ, first: Sequence[int]) -> ObjectData:
    data = ObjectData(eoj)
    exchange, answer = await run.get(f"Get of {eoj}'s property maps", eoj, _MAPS)
    data.maps_exchange = exchange
    if answer is None:
        # some stacks answer one EPC per Get only: try the Get map alone before giving up
        exchange, answer = await run.get(f"Get of {eoj}'s Get map 0x9F", eoj, [0x9F])
        data.maps_exchange = exchange
        if answer is None:
            return data
    data.answered = True
    for epc in _MAPS:
        prop = answer.property(epc)
        if prop is None or not prop.edt:
            data.maps[epc] = None
            data.map_problems[epc] = "not readable" if prop is None else f"{_esv_text(answer)} with PDC 0"
            continue
        try:
            data.maps[epc] = decode_property_map(prop.edt)
        except ValueDecodeError as exc:
            data.maps[epc] = lenient_map(prop.edt)
            how = "; the other checks read the EPCs it carries" if data.maps[epc] is not None else ""
            data.map_problems[epc] = f"malformed ({prop.edt.hex()}): {exc}{how}"
    get_map = data.get_map
    epcs = sorted(get_map) if get_map is not None else list(first)
    for epc in dict.fromkeys([*first, *epcs]):
        if epc in _MAPS and get_map is not None:
            continue
        if get_map is not None and epc not in get_map and epc not in first:
            continue
        exchange, frame = await run.get(f"Get of {eoj} 0x{epc:02X}", eoj, [epc])
        if frame is None:
            data.reads[epc] = Read("timeout", None, exchange)
            continue
        prop = frame.property(epc)
        data.reads[epc] = Read(_esv_text(frame), prop.edt if prop is not None and prop.edt else None, exchange)
    return data


def lenient_map(edt: bytes) -> frozenset[int] | None:
    """The EPCs a malformed list-form property map still carries (its bytes from 0x80, whatever its count byte
    says); ``None`` for a malformed bitmap, whose bits cannot be trusted to mean what they should."""
    if 1 <= len(edt) <= 16 and edt[0] < 16:
        return frozenset(e for e in edt[1:] if e >= 0x80)
    return None


# ------------------------------------------------------------------------------------------------ node profile


def _node_checks(run: _Run, profile: ObjectData, objects: list[ObjectData], listed: tuple[EOJ, ...] | None) -> None:
    d6 = profile.reads.get(0xD6)
    evidence = [d6.exchange] if d6 is not None else []
    if listed is None:
        why = "0xD6 not readable" if d6 is None or d6.edt is None else f"0xD6 malformed ({d6.edt.hex()})"
        run.add("NP-D6", "node", Verdict.FAIL, why, evidence)
    else:
        silent = [o for o in objects if o.eoj in listed and not o.answered]
        profiles = [e for e in listed if e.is_node_profile]
        if profiles:
            run.add("NP-D6", "node", Verdict.FAIL, f"0xD6 lists the node profile ({profiles[0]})", evidence)
        elif silent:
            names = ", ".join(str(o.eoj) for o in silent)
            run.add(
                "NP-D6",
                "node",
                Verdict.FAIL,
                f"listed but silent: {names}",
                evidence + [o.maps_exchange for o in silent if o.maps_exchange],
            )
        else:
            run.add("NP-D6", "node", Verdict.PASS, f"{len(listed)} instance(s) listed, each answers", evidence)
    # the lists are judged against the objects that answer (one listed but silent fails NP-D6 alone)
    answering = [e for e in listed or () if any(o.eoj == e and o.answered for o in objects)]
    classes = sorted({e.class_id for e in answering})
    count = len(answering) if listed is not None else None

    def number(epc: int, size: int) -> tuple[int | None, str, list[Exchange]]:
        read = profile.reads.get(epc)
        shown = [read.exchange] if read is not None else []
        if read is None or read.edt is None:
            return None, f"0x{epc:02X} not readable ({read.esv if read else 'not in the Get map'})", shown
        if len(read.edt) != size:
            return None, f"0x{epc:02X} is {len(read.edt)} byte(s), expected {size}", shown
        return int.from_bytes(read.edt, "big"), "", shown

    value, why, shown = number(0xD3, 3)
    if value is None:
        run.add("NP-D3", "node", Verdict.FAIL, why, shown)
    elif count is None:
        run.add("NP-D3", "node", Verdict.NOT_APPLICABLE, "no usable instance list (0xD6) to count", shown)
    elif value != count and not (count == 84 and value > 84):
        run.add("NP-D3", "node", Verdict.FAIL, f"0xD3 = {value}, {count} listed instance(s) answer", shown + evidence)
    else:
        run.add("NP-D3", "node", Verdict.PASS, f"0xD3 = {value}", shown)
    value, why, shown = number(0xD4, 2)
    if value is None:
        run.add("NP-D4", "node", Verdict.FAIL, why, shown)
    elif count is None:
        run.add("NP-D4", "node", Verdict.NOT_APPLICABLE, "no usable instance list (0xD6) to count", shown)
    elif value != len(classes) + 1:
        run.add(
            "NP-D4",
            "node",
            Verdict.FAIL,
            f"0xD4 = {value}, the instances are of {len(classes)} class(es), plus the node profile: {len(classes) + 1}",
            shown + evidence,
        )
    else:
        run.add("NP-D4", "node", Verdict.PASS, f"0xD4 = {value}", shown)
    d7 = profile.reads.get(0xD7)
    shown = [d7.exchange] if d7 is not None else []
    if d7 is None or d7.edt is None:
        run.add("NP-D7", "node", Verdict.FAIL, f"0xD7 not readable ({d7.esv if d7 else 'not in the Get map'})", shown)
    elif count is None:
        run.add("NP-D7", "node", Verdict.NOT_APPLICABLE, "no usable instance list (0xD6) to compare", shown)
    else:
        try:
            class_list = decode_class_list(d7.edt)
        except ValueDecodeError as exc:
            run.add("NP-D7", "node", Verdict.FAIL, f"0xD7 malformed ({d7.edt.hex()}): {exc}", shown)
        else:
            expected = set(classes[:8]) if len(classes) <= 8 else None
            if class_list.total != len(classes):
                run.add(
                    "NP-D7",
                    "node",
                    Verdict.FAIL,
                    f"0xD7 counts {class_list.total} class(es), the instances are of {len(classes)}",
                    shown + evidence,
                )
            elif expected is not None and set(class_list.classes) != expected:
                got = " ".join(f"{c:04X}" for c in class_list.classes)
                want = " ".join(f"{c:04X}" for c in sorted(expected))
                run.add(
                    "NP-D7", "node", Verdict.FAIL, f"0xD7 lists {got}, the instances are of {want}", shown + evidence
                )
            else:
                run.add("NP-D7", "node", Verdict.PASS, f"{class_list.total} class(es)", shown)
    d5 = profile.reads.get(0xD5)
    get_map = profile.get_map
    if get_map is None or 0xD5 not in get_map:
        run.add(
            "NP-D5",
            "node",
            Verdict.NOT_APPLICABLE,
            "0xD5 is not in the Get map (its Get rule is optional; it is announced)",
        )
    elif d5 is None or d5.edt is None:
        run.add("NP-D5", "node", Verdict.FAIL, "0xD5 is in the Get map but gives no value", [d5.exchange] if d5 else [])
    elif d6 is not None and d6.edt is not None and d5.edt != d6.edt and len(listed or ()) < 84:
        run.add(
            "NP-D5", "node", Verdict.FAIL, f"0xD5 = {d5.edt.hex()}, 0xD6 = {d6.edt.hex()}", [d5.exchange, d6.exchange]
        )
    else:
        run.add("NP-D5", "node", Verdict.PASS, "0xD5 lists the same instances as 0xD6", [d5.exchange])
    numbers: dict[bytes, list[str]] = {}
    shown = []
    for obj in [profile, *objects]:
        read = obj.reads.get(0x83)
        if read is not None and read.edt is not None:
            numbers.setdefault(read.edt, []).append(obj.target)
            shown.append(read.exchange)
    shared = {k: v for k, v in numbers.items() if len(v) > 1}
    if shared:
        text = "; ".join(f"{k.hex()} by {', '.join(v)}" for k, v in shared.items())
        run.add("NP-83-UNIQUE", "node", Verdict.FAIL, f"shared identification numbers: {text}", shown)
    elif not numbers:
        run.add("NP-83-UNIQUE", "node", Verdict.NOT_APPLICABLE, "no object gave an identification number")
    else:
        run.add("NP-83-UNIQUE", "node", Verdict.PASS, f"{len(numbers)} object(s), {len(numbers)} number(s)", shown)


# ------------------------------------------------------------------------------------------------ every object


def _identity_checks(run: _Run, obj: ObjectData) -> None:
    read = obj.reads.get(0x82)
    shown = [read.exchange] if read is not None else []
    kind = "version" if obj.eoj.is_node_profile else "Appendix release"
    value_type = PROTOCOL_VERSION if obj.eoj.is_node_profile else APPENDIX_RELEASE
    if read is None or read.edt is None:
        run.add("ID-82", obj.target, Verdict.FAIL, f"0x82 ({kind}) not readable", shown)
    else:
        why = value_type.check(read.edt)
        if why is not None:
            run.add("ID-82", obj.target, Verdict.FAIL, f"0x82 = {read.edt.hex()}: {why}", shown)
        else:
            run.add("ID-82", obj.target, Verdict.PASS, f"0x82 = {value_type.decode(read.edt)}", shown)
    read = obj.reads.get(0x83)
    shown = [read.exchange] if read is not None else []
    maker = obj.value(0x8A)
    if read is None or read.edt is None:
        if obj.eoj.is_node_profile:
            run.add("ID-83", obj.target, Verdict.FAIL, "the node profile's 0x83 is mandatory and not readable", shown)
        else:
            run.add("ID-83", obj.target, Verdict.NOT_APPLICABLE, "0x83 not implemented (optional for objects)")
        return
    edt = read.edt
    if len(edt) != 17 or edt[0] != 0xFE:
        run.add("ID-83", obj.target, Verdict.FAIL, f"0x83 = {edt.hex()}: not 17 bytes starting 0xFE", shown)
    elif maker is not None and edt[1:4] != maker:
        run.add(
            "ID-83",
            obj.target,
            Verdict.FAIL,
            f"0x83 carries manufacturer {edt[1:4].hex()}, 0x8A is {maker.hex()}",
            [*shown, obj.reads[0x8A].exchange],
        )
    else:
        run.add("ID-83", obj.target, Verdict.PASS, f"0x83 = {edt.hex()}", shown)


def _map_checks(run: _Run, obj: ObjectData) -> None:
    shown = [obj.maps_exchange] if obj.maps_exchange is not None else []
    problems = [f"0x{epc:02X} {why}" for epc, why in sorted(obj.map_problems.items())]
    get_map = obj.get_map
    if get_map is not None:
        missing = [e for e in _MAPS if e not in get_map]
        if missing:
            problems.append("0x9F does not list " + ", ".join(f"0x{e:02X}" for e in missing))
    if problems:
        run.add("MAP-FORMAT", obj.target, Verdict.FAIL, "; ".join(problems), shown)
    else:
        sizes = ", ".join(f"0x{e:02X}: {len(obj.maps[e] or ())} EPC(s)" for e in _MAPS)
        run.add("MAP-FORMAT", obj.target, Verdict.PASS, sizes, shown)
    if get_map is None:
        run.add("MAP-GET", obj.target, Verdict.NOT_APPLICABLE, "the Get map could not be read (MAP-FORMAT)", shown)
        return
    bad = [(e, r) for e, r in sorted(obj.reads.items()) if e in get_map and r.edt is None]
    if bad:
        text = ", ".join(f"0x{e:02X} ({r.esv})" for e, r in bad)
        run.add(
            "MAP-GET", obj.target, Verdict.FAIL, f"in the Get map but no value: {text}", [r.exchange for _, r in bad]
        )
    else:
        run.add("MAP-GET", obj.target, Verdict.PASS, f"{len(get_map)} EPC(s) answered with a value")


def _value_checks(run: _Run, obj: ObjectData) -> None:
    skip = _PROFILE_OWN_CHECK if obj.eoj.is_node_profile else _OWN_CHECK
    bad: list[tuple[int, Read, str]] = []
    judged = 0
    for epc, read in sorted(obj.reads.items()):
        if epc in skip or read.edt is None:
            continue
        definition = run.definition(obj.eoj, epc)
        if definition is None:
            continue
        judged += 1
        why = definition.type.why_invalid(read.edt)
        if why is not None:
            bad.append((epc, read, why))
    if bad:
        text = "; ".join(f"0x{e:02X} = {r.edt.hex() if r.edt else ''}: {why}" for e, r, why in bad)
        run.add("GET-VALUE", obj.target, Verdict.FAIL, text, [r.exchange for _, r, _ in bad])
    elif not judged:
        run.add("GET-VALUE", obj.target, Verdict.NOT_APPLICABLE, "no value with a definition in the tables")
    else:
        run.add("GET-VALUE", obj.target, Verdict.PASS, f"{judged} value(s) fit their definitions")


def _unmapped_epc(run: _Run, obj: ObjectData) -> int | None:
    get_map = obj.get_map
    if get_map is None:
        return None
    others = (obj.set_map or frozenset()) | (obj.announce_map or frozenset()) | get_map
    defined = [e for e in run.registry.properties(obj.eoj.class_id) if e not in others and e < 0xF0]
    spare = [e for e in range(0x80, 0xF0) if e not in others]
    choice = defined or spare
    return choice[0] if choice else None


def _readable(obj: ObjectData) -> int | None:
    """An EPC that answered a value, 0x80 first."""
    for epc in (0x80, *sorted(obj.reads)):
        if obj.value(epc) is not None and epc not in _MAPS:
            return epc
    return None


async def _sna_checks(run: _Run, obj: ObjectData) -> None:
    epc = _unmapped_epc(run, obj)
    if epc is None:
        for check_id in ("GET-UNMAPPED", "GET-SNA-KEEPS"):
            run.add(check_id, obj.target, Verdict.NOT_APPLICABLE, "no Get map to choose an EPC outside of")
        return
    exchange, frame = await run.get(f"Get of 0x{epc:02X}, outside {obj.eoj}'s Get map", obj.eoj, [epc])
    if frame is None:
        run.add(
            "GET-UNMAPPED",
            obj.target,
            Verdict.FAIL,
            f"no answer to a Get of 0x{epc:02X} (expected Get_SNA)",
            [exchange],
        )
    else:
        prop = frame.property(epc)
        if frame.esv != ESV.GET_SNA:
            run.add(
                "GET-UNMAPPED",
                obj.target,
                Verdict.FAIL,
                f"0x{epc:02X} is outside the Get map and answered {_esv_text(frame)}",
                [exchange],
            )
        elif prop is None or prop.edt:
            got = "left out" if prop is None else f"PDC {len(prop.edt)}"
            run.add(
                "GET-UNMAPPED", obj.target, Verdict.FAIL, f"Get_SNA, but 0x{epc:02X} {got} (expected PDC 0)", [exchange]
            )
        else:
            run.add("GET-UNMAPPED", obj.target, Verdict.PASS, f"0x{epc:02X}: Get_SNA with PDC 0", [exchange])
    readable = _readable(obj)
    if readable is None:
        run.add("GET-SNA-KEEPS", obj.target, Verdict.NOT_APPLICABLE, "no EPC answered a value")
        return
    exchange, frame = await run.get(
        f"Get of 0x{readable:02X} (readable) and 0x{epc:02X} (outside the Get map)", obj.eoj, [readable, epc]
    )
    if frame is None:
        run.add("GET-SNA-KEEPS", obj.target, Verdict.FAIL, "no answer", [exchange])
        return
    kept = frame.property(readable)
    if frame.esv not in (ESV.GET_SNA, ESV.GET_RES):
        run.add("GET-SNA-KEEPS", obj.target, Verdict.FAIL, f"answered {_esv_text(frame)}", [exchange])
    elif kept is None or not kept.edt:
        run.add(
            "GET-SNA-KEEPS",
            obj.target,
            Verdict.FAIL,
            f"{_esv_text(frame)} without the value of 0x{readable:02X}, which reads alone",
            [exchange],
        )
    else:
        run.add(
            "GET-SNA-KEEPS",
            obj.target,
            Verdict.PASS,
            f"{_esv_text(frame)} keeps 0x{readable:02X} = {kept.edt.hex()}",
            [exchange],
        )


def _write_back(run: _Run, obj: ObjectData) -> tuple[int, bytes] | None:
    """A settable EPC whose value read can be written back unchanged (for ``probe_set``)."""
    for epc in sorted((obj.set_map or frozenset()) & (obj.get_map or frozenset())):
        edt = obj.value(epc)
        definition = run.definition(obj.eoj, epc)
        if edt is not None and definition is not None and epc < 0xF0 and definition.type.check(edt) is None:
            return epc, edt
    return None


async def _setget_check(run: _Run, obj: ObjectData) -> None:
    readable = _readable(obj)
    if readable is None:
        run.add("SETGET", obj.target, Verdict.NOT_APPLICABLE, "no EPC answered a value")
        return
    back = _write_back(run, obj) if run.probe_set and not obj.eoj.is_node_profile else None
    sets = [back] if back is not None else []
    request = run.prober.frame(obj.eoj, ESV.SETGET, sets, [(readable, b"")])
    what = f"writing back 0x{back[0]:02X}" if back else "an empty Set half"
    exchange, answers = await run.prober.exchange(f"SetGet ({what}) and Get of 0x{readable:02X}", request)
    if not answers:
        run.add("SETGET", obj.target, Verdict.FAIL, "no answer", [exchange])
        return
    frame = answers[0]
    got = next((p for p in frame.get_properties if p.epc == readable), None)
    if frame.esv not in (ESV.SETGET_RES, ESV.SETGET_SNA):
        run.add("SETGET", obj.target, Verdict.FAIL, f"answered {_esv_text(frame)}", [exchange])
    elif got is None or not got.edt or (back is not None and not any(p.epc == back[0] for p in frame.properties)):
        run.add("SETGET", obj.target, Verdict.FAIL, f"{_esv_text(frame)} without the Get half's value", [exchange])
    else:
        run.add("SETGET", obj.target, Verdict.PASS, f"{_esv_text(frame)} with both halves", [exchange])


async def _instance_zero(run: _Run, objects: list[ObjectData]) -> None:
    by_class: dict[int, list[ObjectData]] = {}
    for obj in objects:
        by_class.setdefault(obj.eoj.class_id, []).append(obj)
    for class_id, group in by_class.items():
        answering = [o for o in group if o.answered]
        epc = next((e for e in (0x80, 0x9F) if all(o.get_map is None or e in o.get_map for o in answering)), 0x9F)
        deoj = EOJ.of(class_id, 0)
        request = run.prober.frame(deoj, ESV.GET, [(epc, b"")])
        exchange, answers = await run.prober.exchange(
            f"Get of 0x{epc:02X} to {deoj} (every instance)", request, collect=True
        )
        heard = {a.seoj for a in answers if a.seoj is not None}
        for obj in group:
            if not obj.answered:
                run.add("INSTANCE-0", obj.target, Verdict.NOT_APPLICABLE, "the object does not answer at all")
            elif obj.eoj in heard:
                run.add("INSTANCE-0", obj.target, Verdict.PASS, f"answered the Get to {deoj}", [exchange])
            else:
                run.add(
                    "INSTANCE-0", obj.target, Verdict.FAIL, f"no answer from {obj.eoj} to the Get to {deoj}", [exchange]
                )


async def _notification_checks(run: _Run, obj: ObjectData) -> None:
    readable = _readable(obj)
    if readable is None:
        run.add("INF-REQ", obj.target, Verdict.NOT_APPLICABLE, "no EPC answered a value")
    else:
        request = run.prober.frame(obj.eoj, ESV.INF_REQ, [(readable, b"")])
        exchange, answers = await run.prober.exchange(f"INF_REQ of 0x{readable:02X}", request)
        heard = answers[0] if answers else None
        if heard is None and run.listener is not None:
            heard = next((f for _, f in run.listener.frames_since(0) if f.tid == request.tid), None)
        if heard is None:
            run.add("INF-REQ", obj.target, Verdict.FAIL, "no INF came back", [exchange])
        else:
            prop = heard.property(readable)
            if heard.esv != ESV.INF or prop is None or not prop.edt:
                run.add(
                    "INF-REQ", obj.target, Verdict.FAIL, f"answered {_esv_text(heard)} without the value", [exchange]
                )
            else:
                run.add("INF-REQ", obj.target, Verdict.PASS, f"INF of 0x{readable:02X} = {prop.edt.hex()}", [exchange])
    request = run.prober.frame(obj.eoj, ESV.INFC, [(0x80, b"\x30")])
    exchange, answers = await run.prober.exchange("INFC of the controller's 0x80", request)
    if not answers:
        run.add("INFC", obj.target, Verdict.FAIL, "no INFC_Res came back", [exchange])
    else:
        frame = answers[0]
        prop = frame.property(0x80)
        if frame.esv != ESV.INFC_RES:
            run.add("INFC", obj.target, Verdict.FAIL, f"answered {_esv_text(frame)}", [exchange])
        elif prop is None or prop.edt:
            run.add("INFC", obj.target, Verdict.FAIL, "INFC_Res without 0x80 at PDC 0", [exchange])
        else:
            run.add("INFC", obj.target, Verdict.PASS, "INFC_Res, 0x80 at PDC 0", [exchange])


def _declared_release(obj: ObjectData) -> str | None:
    if obj.eoj.is_node_profile:
        return CURRENT_RELEASE
    release = release_of(obj.value(0x82))
    return release.letter if release is not None else None


def _rule_checks(run: _Run, obj: ObjectData) -> None:
    known = run.registry.properties(obj.eoj.class_id)
    cls = run.registry.get_class(obj.eoj.class_id)
    maps = {"Get": obj.get_map, "Set": obj.set_map, "announcement": obj.announce_map}
    shown = [obj.maps_exchange] if obj.maps_exchange is not None else []
    release = _declared_release(obj)
    if cls is None:
        for check_id in ("MANDATORY", "RELEASE"):
            run.add(
                check_id,
                obj.target,
                Verdict.NOT_APPLICABLE,
                f"class 0x{obj.eoj.class_id:04X} is not in the tables (give --mra DIR)",
            )
        return
    if any(m is None for m in maps.values()):
        run.add("MANDATORY", obj.target, Verdict.NOT_APPLICABLE, "a property map could not be read (MAP-FORMAT)")
    else:
        missing = []
        implemented = (obj.get_map or frozenset()) | (obj.set_map or frozenset())
        # 0x82 / 0x83 that ID-82 / ID-83 already failed as not readable are theirs (one failure, not two)
        judged = {
            epc
            for epc, check_id in ((0x82, "ID-82"), (0x83, "ID-83"))
            if epc not in (obj.get_map or ())
            and any(
                r.check.id == check_id and r.target == obj.target and r.verdict is Verdict.FAIL for r in run.results
            )
        }
        for epc, d in known.items():
            if release is not None and d.since.upper() > release:
                continue
            if epc in judged:
                continue
            access = d.access
            if access.get.mandatory and epc not in (obj.get_map or ()):
                missing.append(f"0x{epc:02X} (Get)")
            if access.set.mandatory and epc not in (obj.set_map or ()):
                missing.append(f"0x{epc:02X} (Set)")
            # an announcement rule "required" binds where the property is there (its Get may be optional)
            needed = access.get.mandatory or access.set.mandatory or epc in implemented
            if access.anno.mandatory and needed and epc not in (obj.announce_map or ()):
                missing.append(f"0x{epc:02X} (announcement)")
        if missing:
            run.add("MANDATORY", obj.target, Verdict.FAIL, "missing from the maps: " + ", ".join(missing), shown)
        else:
            run.add("MANDATORY", obj.target, Verdict.PASS, f"every mandatory property of {cls.name}", shown)
    if obj.eoj.is_node_profile:
        run.add("RELEASE", obj.target, Verdict.NOT_APPLICABLE, "the node profile declares a version, not a release")
        return
    if release is None:
        run.add("RELEASE", obj.target, Verdict.NOT_APPLICABLE, "no usable release in 0x82 (ID-82)")
        return
    implemented = (obj.get_map or frozenset()) | (obj.set_map or frozenset())
    newer = [
        f"0x{e:02X} (Release {known[e].since})"
        for e in sorted(implemented)
        if e in known and len(known[e].since) == 1 and known[e].since.upper() > release
    ]
    if newer:
        run.add(
            "RELEASE", obj.target, Verdict.FAIL, f"declares Release {release}, implements " + ", ".join(newer), shown
        )
    else:
        run.add("RELEASE", obj.target, Verdict.PASS, f"every EPC implemented exists in Release {release}", shown)


# ------------------------------------------------------------------------------------------------ --probe-set


async def _setc(run: _Run, obj: ObjectData, epc: int, edt: bytes, label: str) -> tuple[Exchange, Frame | None]:
    request = run.prober.frame(obj.eoj, ESV.SETC, [(epc, edt)])
    exchange, answers = await run.prober.exchange(label, request)
    return exchange, answers[0] if answers else None


async def _restore(run: _Run, obj: ObjectData, epc: int, edt: bytes, shown: list[Exchange]) -> None:
    exchange, frame = await _setc(run, obj, epc, edt, f"SetC restoring 0x{epc:02X} = {edt.hex()}")
    shown.append(exchange)
    if frame is None or frame.esv != ESV.SET_RES:
        run.notes.append(f"{obj.eoj} 0x{epc:02X}: could not restore {edt.hex()}")


def _set_candidates(run: _Run, obj: ObjectData, *, announced: bool = False) -> list[tuple[int, bytes, bytes]]:
    """(EPC, value read, another valid value) for settable and readable EPCs."""
    pool = (obj.set_map or frozenset()) & (obj.get_map or frozenset())
    if announced:
        pool &= obj.announce_map or frozenset()
    found = []
    for epc in sorted(pool):
        current = obj.value(epc)
        definition = run.definition(obj.eoj, epc)
        if current is None or definition is None or epc >= 0xF0:
            continue
        others = settable_values(definition.type, current)
        if others:
            found.append((epc, current, others[0]))
    # EPCs outside the status-change map first: a Set of them announces nothing (INF-CHANGE takes the others)
    found.sort(key=lambda c: (c[0] in (obj.announce_map or ()), c[0]))
    return found


async def _set_checks(run: _Run, obj: ObjectData) -> None:
    if obj.eoj.is_node_profile:
        for check_id in ("SET-VALID", "SET-INVALID", "SETI-SILENT", "INF-CHANGE"):
            run.add(check_id, obj.target, Verdict.NOT_APPLICABLE, "the suite writes to device objects only")
        return
    shown: list[Exchange] = []
    refused = []
    passed = False
    for epc, current, new in _set_candidates(run, obj)[:4]:
        exchange, frame = await _setc(run, obj, epc, new, f"SetC of 0x{epc:02X} = {new.hex()} (was {current.hex()})")
        shown.append(exchange)
        if frame is None or frame.esv != ESV.SET_RES:
            refused.append(f"0x{epc:02X} = {new.hex()} ({_esv_text(frame) if frame else 'no answer'})")
            continue
        read_ex, answer = await run.get(f"Get of 0x{epc:02X} after the Set", obj.eoj, [epc])
        shown.append(read_ex)
        prop = answer.property(epc) if answer is not None else None
        await _restore(run, obj, epc, current, shown)
        ack = frame.property(epc)
        if ack is None or ack.edt:
            run.add("SET-VALID", obj.target, Verdict.FAIL, f"Set_Res without 0x{epc:02X} at PDC 0", shown)
        elif prop is None or prop.edt != new:
            got = prop.edt.hex() if prop is not None else "nothing"
            run.add("SET-VALID", obj.target, Verdict.FAIL, f"0x{epc:02X} accepted {new.hex()}, reads back {got}", shown)
        else:
            run.add(
                "SET-VALID", obj.target, Verdict.PASS, f"0x{epc:02X} = {new.hex()} accepted, read back, restored", shown
            )
        passed = True
        break
    if not passed:
        if refused:
            run.add("SET-VALID", obj.target, Verdict.FAIL, "valid values refused: " + "; ".join(refused), shown)
        else:
            run.add(
                "SET-VALID", obj.target, Verdict.NOT_APPLICABLE, "no EPC both settable and readable with a definition"
            )
    await _set_invalid(run, obj)
    await _seti(run, obj)
    await _inf_change(run, obj)


async def _set_invalid(run: _Run, obj: ObjectData) -> None:
    choices: list[tuple[int, bytes, str, bool]] = []
    for epc in sorted(obj.set_map or frozenset()):
        definition = run.definition(obj.eoj, epc)
        if definition is None or epc >= 0xF0:
            continue
        found = refused_value(definition.type)
        if found is not None:
            choices.append((epc, *found, len(found[0]) == definition.type.min_size))
    if not choices:
        run.add("SET-INVALID", obj.target, Verdict.NOT_APPLICABLE, "no settable EPC has a value to refuse")
        return
    choices.sort(key=lambda c: (not c[3], c[0] not in (obj.get_map or ()), c[0]))
    epc, bad, why, _ = choices[0]
    shown: list[Exchange] = []
    exchange, frame = await _setc(run, obj, epc, bad, f"SetC of 0x{epc:02X} = {bad.hex()} ({why})")
    shown.append(exchange)
    before = obj.value(epc)
    if frame is None:
        run.add("SET-INVALID", obj.target, Verdict.FAIL, "no answer (expected SetC_SNA)", shown)
        return
    echoed = frame.property(epc)
    if frame.esv == ESV.SET_RES:
        if before is not None:
            await _restore(run, obj, epc, before, shown)
        run.add("SET-INVALID", obj.target, Verdict.FAIL, f"0x{epc:02X} = {bad.hex()} accepted ({why})", shown)
        return
    if frame.esv != ESV.SETC_SNA:
        run.add("SET-INVALID", obj.target, Verdict.FAIL, f"answered {_esv_text(frame)}", shown)
        return
    if echoed is None or echoed.edt != bad:
        got = "left out" if echoed is None else (echoed.edt.hex() or "PDC 0")
        run.add(
            "SET-INVALID", obj.target, Verdict.FAIL, f"SetC_SNA, but 0x{epc:02X} {got}: the EDT is not echoed", shown
        )
        return
    if before is not None:
        read_ex, answer = await run.get(f"Get of 0x{epc:02X} after the refused Set", obj.eoj, [epc])
        shown.append(read_ex)
        prop = answer.property(epc) if answer is not None else None
        if prop is not None and prop.edt and prop.edt != before:
            await _restore(run, obj, epc, before, shown)
            run.add(
                "SET-INVALID",
                obj.target,
                Verdict.FAIL,
                f"refused, but 0x{epc:02X} changed from {before.hex()} to {prop.edt.hex()}",
                shown,
            )
            return
    run.add("SET-INVALID", obj.target, Verdict.PASS, f"0x{epc:02X} = {bad.hex()} ({why}): SetC_SNA echoing it", shown)


async def _seti(run: _Run, obj: ObjectData) -> None:
    back = _write_back(run, obj)
    if back is None:
        run.add("SETI-SILENT", obj.target, Verdict.NOT_APPLICABLE, "no settable EPC with a value to write back")
        return
    epc, edt = back
    request = run.prober.frame(obj.eoj, ESV.SETI, [(epc, edt)])
    exchange, answers = await run.prober.exchange(f"SetI writing back 0x{epc:02X} = {edt.hex()}", request, collect=True)
    if answers:
        run.add("SETI-SILENT", obj.target, Verdict.FAIL, f"answered {_esv_text(answers[0])}", [exchange])
    else:
        run.add("SETI-SILENT", obj.target, Verdict.PASS, f"no answer within {run.prober.timeout:g} s", [exchange])


async def _inf_change(run: _Run, obj: ObjectData) -> None:
    candidates = _set_candidates(run, obj, announced=True)
    if not candidates:
        run.add("INF-CHANGE", obj.target, Verdict.NOT_APPLICABLE, "no EPC of 0x9D is settable and readable")
        return
    listener = run.listener
    shown: list[Exchange] = []
    for epc, current, new in candidates[:3]:
        start = listener.count if listener is not None else 0
        unicast = len(run.prober.main.inbox.items)
        exchange, frame = await _setc(run, obj, epc, new, f"SetC of 0x{epc:02X} = {new.hex()} (in 0x9D)")
        shown.append(exchange)
        if frame is None or frame.esv != ESV.SET_RES:
            continue
        heard = await _wait_inf(run, obj, epc, new, start, unicast)
        await _restore(run, obj, epc, current, shown)
        if heard is not None:
            note = Exchange(f"INF heard after the Set of 0x{epc:02X}")
            run.prober.record(note, "received", heard[0], heard[1], heard[2])
            shown.append(note)
            run.add("INF-CHANGE", obj.target, Verdict.PASS, f"0x{epc:02X} changed to {new.hex()}: INF sent", shown)
        elif listener is None or listener.problem is not None:
            why = listener.problem if listener is not None else "not listening"
            run.add(
                "INF-CHANGE", obj.target, Verdict.WARN, f"no INF seen, and the group could not be heard: {why}", shown
            )
        elif run.prober.main.channel is not None:
            run.add(
                "INF-CHANGE",
                obj.target,
                Verdict.WARN,
                f"0x{epc:02X} changed to {new.hex()}, no INF within {run.prober.timeout:g} s through the secure "
                "overlay (a secured node keeps its multicast announcements in unless its layer lets plain multicast "
                "out; a unicast INF would have been heard)",
                shown,
            )
        else:
            run.add(
                "INF-CHANGE",
                obj.target,
                Verdict.FAIL,
                f"0x{epc:02X} changed to {new.hex()}, no INF within {run.prober.timeout:g} s",
                shown,
            )
        return
    run.add(
        "INF-CHANGE", obj.target, Verdict.NOT_APPLICABLE, "no Set of a 0x9D property was accepted (SET-VALID)", shown
    )


async def _wait_inf(
    run: _Run, obj: ObjectData, epc: int, value: bytes, start: int, unicast: int
) -> tuple[bytes, int, int] | None:
    def matches(data: bytes) -> bool:
        frame = decoded(data)  # (bytes after the last property are HEADER's to judge)
        if frame is None:
            return False
        prop = frame.property(epc) if frame.esv in (ESV.INF, ESV.INFC) else None
        return frame.seoj == obj.eoj and prop is not None and prop.edt == value

    loop = asyncio.get_running_loop()
    deadline = loop.time() + run.prober.timeout
    listener = run.listener
    while True:
        if listener is not None and listener.transport is not None:
            for data, addr, _ in listener.inbox.items[start:]:
                if matches(data):
                    return data, int(addr[1]), 3610
        for data, addr, _ in run.prober.main.inbox.items[unicast:]:
            if matches(data):
                return data, int(addr[1]), run.prober.main.local_port
        if loop.time() >= deadline:
            return None
        await asyncio.sleep(0.02)


# ------------------------------------------------------------------------------------------------ the node's answers


async def _still_answers(run: _Run, check_id: str, what: str) -> bool:
    """Whether the node answers before an odd frame; ``check_id`` is not applicable when it does not (an earlier
    datagram silenced it, and this check would only repeat that)."""
    before, frame = await run.get(f"Get of 0x80 before {what}", NODE_PROFILE_EOJ, [0x80])
    if frame is None:
        run.add(
            check_id,
            "node",
            Verdict.NOT_APPLICABLE,
            "the node no longer answers (an earlier check silenced it)",
            [before],
        )
        return False
    return True


async def _odd_frames(run: _Run) -> None:
    prober = run.prober
    # EHD2 0x82 last: stacks that stop receiving after a datagram they cannot parse mostly stop at that one
    odd: list[tuple[str, str, Callable[[], bytes]]] = [
        ("ODD-OPC0", "a Get with OPC 0", lambda: _encoded(prober.frame(NODE_PROFILE_EOJ, ESV.GET))),
        (
            "ODD-TRAILING",
            "a Get of 0x80 with two bytes after the last property",
            lambda: _encoded(prober.frame(NODE_PROFILE_EOJ, ESV.GET, [(0x80, b"")])) + b"\x00\x00",
        ),
        ("ODD-EHD2", "a frame of EHD2 0x82", lambda: b"\x10\x82" + prober.next_tid().to_bytes(2, "big") + b"\x01\x02"),
    ]
    for check_id, what, build in odd:
        if not await _still_answers(run, check_id, what):
            continue
        exchange, _ = await prober.exchange(
            f"{what} (any answer is fine)", build(), wait=min(prober.timeout, 0.5), collect=True
        )
        after, frame = await run.get(f"Get of 0x80 after {what}", NODE_PROFILE_EOJ, [0x80])
        if frame is None:
            run.add(check_id, "node", Verdict.FAIL, f"silent after {what}", [exchange, after])
        else:
            run.add(check_id, "node", Verdict.PASS, f"still answers after {what}", [exchange, after])


def _encoded(frame: Frame) -> bytes:
    from ..codec import encode

    return encode(frame)


async def _reply_port(run: _Run) -> None:
    prober = run.prober
    other = await prober.other_endpoint()
    request = prober.frame(NODE_PROFILE_EOJ, ESV.GET, [(0x80, b"")])
    exchange, answers = await prober.exchange(
        f"Get of 0x80 from port {other.local_port}", request, endpoint=other, watch=[prober.main]
    )
    ports = {d.local_port for d in exchange.answers}
    if not answers:
        run.add("REPLY-PORT", "node", Verdict.FAIL, f"no answer to a request from port {other.local_port}", [exchange])
    elif other.local_port not in ports:
        run.add(
            "REPLY-PORT",
            "node",
            Verdict.FAIL,
            f"the answer went to port {', '.join(str(p) for p in sorted(ports))}, not to {other.local_port}",
            [exchange],
        )
    else:
        run.add("REPLY-PORT", "node", Verdict.PASS, f"answered to port {other.local_port}", [exchange])


def _header_check(run: _Run) -> None:
    bad = []
    trailing = []
    seen = 0
    for item in run.prober.answered:
        request, answer = item.request, item.answer
        if request.ehd2 != 0x81 or answer.ehd2 != 0x81:
            continue
        seen += 1
        if item.trailing:
            trailing.append(item)
        problems = []
        if answer.tid != request.tid:
            problems.append(f"TID 0x{answer.tid:04X} for 0x{request.tid:04X}")
        if answer.deoj != request.seoj:
            problems.append(f"DEOJ {answer.deoj} (the request's SEOJ is {request.seoj})")
        deoj = request.deoj
        assert deoj is not None
        same = (
            answer.seoj == deoj if deoj.instance else answer.seoj is not None and answer.seoj.class_id == deoj.class_id
        )
        if not same:
            problems.append(f"SEOJ {answer.seoj} (the request's DEOJ is {deoj})")
        if problems:
            bad.append((item.exchange, "; ".join(problems)))
    if bad:
        text = "; ".join(dict.fromkeys(why for _, why in bad))
        run.add("HEADER", "node", Verdict.FAIL, f"{len(bad)} of {seen} answer(s): {text}", [e for e, _ in bad])
    elif trailing:
        sizes = ", ".join(str(n) for n in sorted({i.trailing for i in trailing}))
        run.add(
            "HEADER",
            "node",
            Verdict.WARN,
            f"{len(trailing)} of {seen} answer(s) carry bytes after their last property ({sizes} byte(s)); every TID "
            "echoed and SEOJ / DEOJ swapped (the frames were read without them)",
            list({id(i.exchange): i.exchange for i in trailing}.values()),
        )
    elif seen:
        run.add("HEADER", "node", Verdict.PASS, f"{seen} answer(s), every TID echoed and SEOJ / DEOJ swapped")
    else:
        run.add("HEADER", "node", Verdict.NOT_APPLICABLE, "no answer to judge")


async def _burst(run: _Run) -> None:
    prober = run.prober
    if not await _still_answers(run, "ROBUST-BURST", "the burst"):
        return
    sample = Exchange(f"{run.burst} malformed datagrams (the first 6 shown)")
    kinds: list[Callable[[int], bytes]] = [
        lambda i: os.urandom(1 + i % 40),
        lambda i: b"\x10\x81" + os.urandom(i % 10),  # truncated headers
        lambda i: b"\x10\x81\x00\x01\x05\xff\x01\x0e\xf0\x01\x62\x01\x80\x05\x00",  # PDC overruns
        lambda i: b"\x10\x81\x00\x02\x05\xff\x01\x0e\xf0\x01\x62\xff",  # OPC 255, no properties
        lambda i: b"\x10\x81\x00\x03\x05\xff\x01\x0e\xf0\x01" + bytes((0x40 + i % 16,)) + b"\x01\x80\x00",  # ESVs
        lambda i: b"\x00" * (i % 300),
        lambda i: b"\x11\x81" + os.urandom(10),  # EHD1 0x11
    ]
    for i in range(run.burst):
        data = kinds[i % len(kinds)](i)
        prober.main.send(data, prober.addr)
        if i < 6:
            prober.record(sample, "sent", data, prober.port, prober.main.local_port)
        if i % 50 == 49:
            await asyncio.sleep(0.01)
    await asyncio.sleep(0.2)
    after, frame = await run.get("Get of 0x80 after the burst", NODE_PROFILE_EOJ, [0x80])
    if frame is None:
        run.add("ROBUST-BURST", "node", Verdict.FAIL, f"silent after {run.burst} malformed datagrams", [sample, after])
    else:
        run.add(
            "ROBUST-BURST",
            "node",
            Verdict.PASS,
            f"still answers after {run.burst} malformed datagrams",
            [sample, after],
        )


def _class_name(registry: Registry, eoj: EOJ) -> str:
    cls = registry.get_class(eoj.class_id)
    return cls.name if cls is not None else f"class 0x{eoj.class_id:04X}"


def _identity(registry: Registry, obj: ObjectData) -> ObjectIdentity:
    return ObjectIdentity(
        obj.eoj,
        _class_name(registry, obj.eoj),
        obj.answered,
        obj.value(0x82),
        obj.value(0x83),
        obj.value(0x8A),
        obj.get_map,
        obj.set_map,
        obj.announce_map,
    )


async def conformance(
    host: str,
    *,
    port: int = ECHONET_PORT,
    eojs: Sequence[EOJ] | None = None,
    probe_set: bool = False,
    robustness: bool = False,
    timeout: float = 2.0,
    retries: int = 1,
    bind: str | None = None,
    local_port: int = 0,
    registry: Registry | None = None,
    listen: bool = True,
    burst: int = 200,
    overlay: LayerFactory | None = None,
) -> Report:
    """Run the suite against the node at ``host``:``port`` and return the report.

    ``eojs`` checks these objects instead of those of the instance list (0xD6); the node profile is always
    checked. ``timeout`` is per attempt (``retries`` more attempts on silence); the checks where silence is the right
    answer wait ``timeout`` once. ``probe_set`` writes (every value changed is written back); ``robustness`` sends
    ``burst`` malformed datagrams. ``listen`` joins 224.0.23.0 port 3610 to hear status-change announcements
    (and an INF answering INF_REQ by multicast). Raises ``OSError`` only when the suite's own socket cannot be opened.

    ``overlay`` runs the suite through the secure overlay (:mod:`.overlay`): each of the suite's sockets behind a
    layer it builds, every frame sent and received inside the session. When no session comes up, the run raises
    :class:`secure.errors.SecureSessionError` (why, as the layer knows it) instead of reporting a silent node: it
    never falls back to plain ECHONET Lite.
    """
    reg = registry if registry is not None else default_registry()
    prober = await Prober.open(
        host, port, reg, bind=bind, local_port=local_port, timeout=timeout, retries=retries, overlay=overlay
    )
    listener = await listen_announcements(host, bind=bind) if listen else None
    run = _Run(prober, reg, probe_set, robustness, listener, burst)
    options = tuple(o for o, on in (("probe-set", probe_set), ("robustness", robustness)) if on)
    try:
        _, found = await run.get("discovery: Get of the node profile's 0xD6", NODE_PROFILE_EOJ, [0xD6])
        if found is None:
            failure = prober.session_error()
            if failure is not None:
                raise failure
            return Report(host, port, False, (), (), options, (f"{host} port {port} did not answer a Get of 0xD6",))
        profile = await _read_object(run, NODE_PROFILE_EOJ, _PROFILE_FIRST)
        listed: tuple[EOJ, ...] | None = None
        d6 = profile.value(0xD6)
        if d6 is not None:
            try:
                listed = decode_instance_list(d6).eojs
            except ValueDecodeError:
                listed = None
        targets = list(dict.fromkeys(eojs)) if eojs else list(listed or ())
        objects = [await _read_object(run, eoj, _OBJECT_FIRST) for eoj in targets]
        if listed is not None and eojs:
            objects_for_lists = objects + [
                await _read_object(run, e, _OBJECT_FIRST) for e in listed if e not in set(eojs)
            ]
        else:
            objects_for_lists = objects
        _node_checks(run, profile, objects_for_lists, listed)
        everyone = [profile, *objects]
        for obj in everyone:
            if not obj.answered:
                for check in CHECKS:
                    if check.scope is Scope.OBJECT and (
                        check.needs is Needs.NOTHING or (probe_set and check.needs is Needs.PROBE_SET)
                    ):
                        run.add(
                            check.id,
                            obj.target,
                            Verdict.NOT_APPLICABLE,
                            "the object did not answer (NP-D6 judges a listed object that is silent)",
                            [obj.maps_exchange] if obj.maps_exchange else [],
                        )
                continue
            _identity_checks(run, obj)
            _map_checks(run, obj)
            _value_checks(run, obj)
            await _sna_checks(run, obj)
            await _setget_check(run, obj)
            await _notification_checks(run, obj)
            _rule_checks(run, obj)
            if probe_set:
                await _set_checks(run, obj)
        await _instance_zero(run, [o for o in everyone if o.answered] + [o for o in everyone if not o.answered])
        await _reply_port(run)
        await _odd_frames(run)
        if robustness:
            await _burst(run)
        _header_check(run)
        order = {c.id: i for i, c in enumerate(CHECKS)}
        targets_order = {"node": -1, **{o.target: i for i, o in enumerate(everyone)}}
        results = sorted(run.results, key=lambda r: (targets_order.get(r.target, 99), order[r.check.id]))
        problems = []
        if listener is not None and listener.problem and probe_set:
            problems.append(listener.problem)
        return Report(
            host,
            port,
            True,
            tuple(_identity(reg, o) for o in everyone),
            tuple(results),
            options,
            tuple(problems),
            tuple(run.notes),
        )
    finally:
        if listener is not None:
            listener.close()
        await prober.close()


__all__ = ["ObjectData", "Read", "conformance", "lenient_map"]
