"""Judging: turning what was read of an object into evidence per probe and a verdict per requirement.

Each probe becomes :class:`~.report.Evidence` (``pass`` / ``degraded`` / ``fail`` / ``unknown`` with the reason, the
ESV that answered and the value decoded through the registry); each requirement is ``met`` when some way's probes all
pass, ``partially met``, ``not met`` or ``unknown``, with the reason. The project's extension EPCs are judged only
on the project's simulations.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from ...spec.identity import release_of
from ...spec.registry import Registry
from .reading import ObjectData, is_simulation
from .report import Evidence, ObjectReport, Outcome, RequirementResult, Status
from .requirements import REQUIREMENTS, VALUE_CHECKS, CheckKind, ClassRule, Probe, Requirement


def _value_text(registry: Registry, class_id: int, epc: int, edt: bytes) -> tuple[str, str | None, str, bool]:
    """(value text, decode error, name, standard) of one EDT through the registry."""
    try:
        dv = registry.decode_value(class_id, epc, edt)
        if dv.definition is None or dv.error is not None:
            return edt.hex(), dv.error, dv.name, dv.standard
        value = dv.definition.type.to_json(dv.value)
    except Exception as exc:  # remote bytes a value type did not foresee must not stop the check
        return edt.hex(), f"{type(exc).__name__}: {exc}", f"0x{epc:02X}", epc < 0xF0
    if isinstance(value, list):
        text = "[" + ", ".join(str(v) for v in value) + "]"
    elif isinstance(value, dict):
        text = ", ".join(f"{k}={v}" for k, v in value.items())
    else:
        text = str(value)
    unit = dv.unit
    if unit and not isinstance(value, list | dict):
        text = f"{text} {unit}"
    return text, None, dv.name, dv.standard


@dataclass(frozen=True)
class _Who:
    target: str
    name: str
    standard: bool


def _ev(who: _Who, probe: Probe, outcome: Outcome, reason: str, **details: Any) -> Evidence:
    return Evidence(probe, outcome, reason, who.target, who.name, who.standard, **details)


def _judge_probe(
    probe: Probe,
    obj: ObjectData,
    profile: ObjectData,
    sim: bool,
    registry: Registry,
) -> Evidence:
    data = profile if probe.profile else obj
    class_id = data.eoj.class_id
    target = str(data.eoj)
    definition = registry.property(class_id, probe.epc)
    name = (
        definition.name
        if definition is not None
        else (f"vendor-specific 0x{probe.epc:02X}" if probe.epc >= 0xF0 else f"unknown 0x{probe.epc:02X}")
    )
    standard = definition.standard if definition is not None else probe.epc < 0xF0
    base = _Who(target, name, standard)
    if probe.extension and not sim:
        return _ev(
            base,
            probe,
            Outcome.UNKNOWN,
            "vendor EPC: its meaning is defined only for the project's DRready simulations, not for this device",
        )
    if not data.answered:
        read = data.reads.get(probe.epc)
        return _ev(base, probe, Outcome.UNKNOWN, "the object did not answer", esv=read.esv if read else None)
    if probe.kind is CheckKind.SETTABLE:
        evidence = _judge_set(probe, data, base)
    elif probe.kind is CheckKind.ANNOUNCED:
        anno = data.maps.get(0x9D)
        if anno is None:
            return _ev(base, probe, Outcome.UNKNOWN, "status-change map 0x9D unreadable")
        if probe.epc in anno:
            return _ev(base, probe, Outcome.PASS, "in the status-change map 0x9D", in_map=True)
        evidence = _ev(base, probe, Outcome.FAIL, "not in the status-change map 0x9D", in_map=False)
    else:
        evidence = _judge_read(probe, data, base, registry)
    if evidence.outcome is Outcome.FAIL and not probe.profile and definition is not None:
        older = _older_release(data.value(0x82), definition.since)
        if older is not None:
            evidence = replace(evidence, reason=f"{evidence.reason}; {older}")
    return evidence


def _older_release(edt: bytes | None, since: str | None) -> str | None:
    """Why a property can be missing: the object declares (0x82) a release older than the one that added it."""
    release = release_of(edt)
    if release is None or since is None or len(since) != 1:
        return None
    declared = release.letter
    if declared >= since.upper():
        return None
    return f"Release {since.upper()} added it, and the object declares Release {declared} (0x82)"


def _judge_read(probe: Probe, data: ObjectData, base: _Who, registry: Registry) -> Evidence:
    get_map = data.maps.get(0x9F) if not probe.profile else None
    in_map = None if get_map is None else probe.epc in get_map
    read = data.reads.get(probe.epc)
    if read is None:
        return _ev(base, probe, Outcome.UNKNOWN, "not read", in_map=in_map)
    if read.edt is None:
        if read.esv in ("timeout", "no answer"):
            return _ev(base, probe, Outcome.UNKNOWN, f"no answer ({read.esv})", esv=read.esv, in_map=in_map)
        listed = " although listed in the Get map 0x9F" if in_map else ""
        return _ev(base, probe, Outcome.FAIL, f"no value ({read.esv}){listed}", esv=read.esv, in_map=in_map)
    edt = read.edt
    text, error, _, _ = _value_text(registry, data.eoj.class_id, probe.epc, edt)
    if error is not None:
        return _ev(
            base,
            probe,
            Outcome.FAIL,
            f"value {edt.hex()} does not fit its definition: {error}",
            esv=read.esv,
            edt=edt,
            value=text,
            in_map=in_map,
        )
    if probe.value_check is not None:
        what, check = VALUE_CHECKS[probe.value_check]
        reason = check(edt)
        if reason is not None:
            return _ev(
                base,
                probe,
                Outcome.FAIL,
                f"{reason} ({what} expected)",
                esv=read.esv,
                edt=edt,
                value=text,
                in_map=in_map,
            )
    if in_map is False:
        return _ev(
            base,
            probe,
            Outcome.DEGRADED,
            "answered, but missing from the Get map 0x9F (a controller that follows the map never reads it)",
            esv=read.esv,
            edt=edt,
            value=text,
            in_map=False,
        )
    note = "" if in_map or probe.profile else " (Get map 0x9F unreadable)"
    return _ev(base, probe, Outcome.PASS, f"read{note}", esv=read.esv, edt=edt, value=text, in_map=in_map)


def _judge_set(probe: Probe, data: ObjectData, base: _Who) -> Evidence:
    set_map = data.maps.get(0x9E)
    in_map = None if set_map is None else probe.epc in set_map
    read = data.reads.get(probe.epc)
    edt = read.edt if read is not None else None
    tried = data.sets.get(probe.epc)
    accepted = tried is not None and tried.esv in ("Set_Res",)
    refused = tried is not None and tried.esv is not None and tried.esv.endswith("_SNA")
    extra = f"; {tried.detail}" if tried is not None else ""
    esv = tried.esv if tried is not None else None
    if in_map is None:
        if accepted:
            return _ev(base, probe, Outcome.PASS, f"Set map 0x9E unreadable{extra}", esv=esv, edt=edt)
        if refused:
            return _ev(base, probe, Outcome.FAIL, f"Set map 0x9E unreadable{extra}", esv=esv, edt=edt)
        return _ev(base, probe, Outcome.UNKNOWN, f"Set map 0x9E unreadable{extra}", esv=esv, edt=edt)
    if in_map:
        if refused:
            return _ev(base, probe, Outcome.FAIL, f"in the Set map 0x9E{extra}", esv=esv, edt=edt, in_map=True)
        if tried is not None and tried.esv == "timeout":
            return _ev(base, probe, Outcome.DEGRADED, f"in the Set map 0x9E{extra}", esv=esv, edt=edt, in_map=True)
        return _ev(base, probe, Outcome.PASS, f"in the Set map 0x9E{extra}", esv=esv, edt=edt, in_map=True)
    if accepted:
        return _ev(
            base, probe, Outcome.DEGRADED, f"missing from the Set map 0x9E{extra}", esv=esv, edt=edt, in_map=False
        )
    return _ev(base, probe, Outcome.FAIL, f"not in the Set map 0x9E{extra}", esv=esv, edt=edt, in_map=False)


def _judge(
    req: Requirement, rule: ClassRule, obj: ObjectData, profile: ObjectData, sim: bool, registry: Registry
) -> RequirementResult:
    cache: dict[Probe, Evidence] = {}

    def ev(probe: Probe) -> Evidence:
        found = cache.get(probe)
        if found is None:
            found = cache[probe] = _judge_probe(probe, obj, profile, sim, registry)
        return found

    way_outcomes = [(way, [ev(p) for p in way.probes]) for way in rule.ways]
    supporting = tuple(ev(p) for p in rule.supporting if sim or not p.extension)
    evidence = tuple(cache[p] for p in dict.fromkeys(p for way in rule.ways for p in way.probes))
    extension = not rule.standard

    def outcomes(evs: list[Evidence]) -> set[Outcome]:
        return {e.outcome for e in evs}

    def result(status: Status, reason: str, *, ext: bool = extension) -> RequirementResult:
        return RequirementResult(req, status, reason, evidence, supporting, ext, rule.note)

    if not rule.ways:
        return result(Status.UNKNOWN, "no property can show it")
    for way, evs in way_outcomes:
        if outcomes(evs) == {Outcome.PASS}:
            how = f"via {way.label}" if way.label else "every check passed"
            if way.extension:
                how += " (non-standard extension: Release R has no property for it)"
            return result(Status.MET, how, ext=way.extension)
    for way, evs in way_outcomes:
        if outcomes(evs) <= {Outcome.PASS, Outcome.DEGRADED}:
            bad = ", ".join(f"0x{e.probe.epc:02X}" for e in evs if e.outcome is Outcome.DEGRADED)
            return result(Status.PARTIAL, f"via {way.label or 'one way'}, but not as its maps say ({bad})")
    if all(e.probe.extension and e.outcome is Outcome.UNKNOWN for _, evs in way_outcomes for e in evs):
        what = "Release R has no property for it" if not rule.standard else "only a vendor EPC shows it"
        return result(
            Status.UNKNOWN,
            f"{what} ({rule.note}); this device is not one of the project's simulations, whose extension EPCs "
            "are the only ones the checker can interpret",
        )
    undecided = [way for way, evs in way_outcomes if Outcome.FAIL not in outcomes(evs)]
    if undecided:
        missing = sorted(
            {
                f"0x{e.probe.epc:02X}"
                for way, evs in way_outcomes
                if way in undecided
                for e in evs
                if e.outcome is Outcome.UNKNOWN
            }
        )
        return result(Status.UNKNOWN, f"could not be decided: no usable answer for {', '.join(missing)}")
    passed = [e for _, evs in way_outcomes for e in evs if e.outcome in (Outcome.PASS, Outcome.DEGRADED)]
    failed = sorted(
        {f"0x{e.probe.epc:02X} ({e.reason})" for _, evs in way_outcomes for e in evs if e.outcome is Outcome.FAIL}
    )
    if passed:
        return result(Status.PARTIAL, "some checks passed, but every way has a failure: " + "; ".join(failed))
    return result(Status.NOT_MET, "; ".join(failed))


def object_report(obj: ObjectData, profile: ObjectData, registry: Registry, sim_registry: Registry) -> ObjectReport:
    """The verdict on every requirement for one object read (``profile``: the node profile read), with evidence;
    ``sim_registry`` (the tables with the project's extensions) serves the project's simulations."""
    sim = obj.answered and is_simulation(obj.value(0x83), obj.value(0x8A), obj.value(0x8C))
    reg = sim_registry if sim else registry
    results = []
    for req in REQUIREMENTS:
        rule = req.rule_for(obj.eoj.class_id)
        if rule is None:
            results.append(RequirementResult(req, Status.NOT_APPLICABLE, "the table asks nothing of this class"))
            continue
        if not obj.answered:
            results.append(RequirementResult(req, Status.UNKNOWN, "the object did not answer", note=rule.note))
            continue
        results.append(_judge(req, rule, obj, profile, sim, reg))
    return ObjectReport(
        obj.eoj,
        obj.answered,
        obj.value(0x82),
        obj.value(0x83),
        obj.value(0x8A),
        obj.value(0x8C),
        obj.value(0x8D),
        sim,
        obj.maps.get(0x9F),
        obj.maps.get(0x9E),
        obj.maps.get(0x9D),
        tuple(results),
        tuple(obj.problems),
        tuple(obj.notes),
    )


__all__ = ["object_report"]
