"""``echonet drready check | requirements``: the DRready conformance checker on the command line.

``echonet drready check HOST`` probes one device (:mod:`echonet.drready.checker`) and prints, requirement by
requirement, whether it is met with the evidence, plus the node's ECHONET Lite version, each object's Appendix
release, the identification number, the manufacturer and whether the device speaks the secure overlay or only plain
(legacy) ECHONET Lite.

Exit codes: 0 every requirement met, 2 bad usage, 3 some requirement not met (partially met or unknown included),
4 the device did not answer at all, 1 a local network error (an address that cannot be bound).
"""

from __future__ import annotations

import argparse
import errno
from dataclasses import replace
from typing import Any

from ..aio import Controller, Endpoints, run
from ..drready.checker import (
    DR_CLASSES,
    LEGACY_RISK,
    REQUIREMENTS,
    Evidence,
    ObjectReport,
    Outcome,
    Report,
    Status,
    check,
    requirement_table,
)
from ..errors import EchonetUsageError
from ..node import ECHONET_PORT, Node, NodeConfig
from .args import one_device, parse_address, parse_eoj, peer_port, port, positive_seconds
from .common import (
    EXIT_FAILED,
    EXIT_OK,
    EXIT_USAGE,
    CommandFailed,
    dump,
    error,
    json_to_stdout,
    note,
    wildcard_holder,
    with_error,
)
from .common import registry as registry_of

EXIT_NOT_MET = 3
EXIT_NO_ANSWER = 4

_MARKS = {Outcome.PASS: "+", Outcome.DEGRADED: "~", Outcome.FAIL: "x", Outcome.UNKNOWN: "?"}


# ------------------------------------------------------------------------------------------------------ arguments


def _host(args: argparse.Namespace) -> tuple[str, int]:
    """HOST and ``--port``: one device's unicast address and port (:func:`~echonet.cli.args.one_device`)."""
    return one_device(args.host, args.port, ECHONET_PORT, "the checker probes one device")


# ----------------------------------------------------------------------------------------------------------- check


async def _open(args: argparse.Namespace, host: str) -> Controller:
    """The checker's controller, on port 3610 by default (some stacks answer to 3610 only) or ``--local-port``.
    When another program of this machine holds 3610 on the wildcard address too, or 3610 is taken, it sends from an
    ephemeral port instead (the device answers to the request's source port) and says so in one line."""
    v6 = ":" in host
    bind_text, bind_port = parse_address(args.bind) if args.bind else (None, None)
    if bind_port is not None and args.local_port is not None and bind_port != args.local_port:
        raise EchonetUsageError(f"--bind says port {bind_port} and --local-port says {args.local_port}: give one")
    explicit = args.local_port if args.local_port is not None else bind_port
    bind = bind_text or ("::" if v6 else "0.0.0.0")
    endpoints = Endpoints(
        bind_v4=None if v6 else bind,
        bind_v6=bind if v6 else None,
        port=ECHONET_PORT if explicit is None else explicit,
        join_multicast=False,
    )
    config = NodeConfig(timeout=args.timeout, retries=args.retries, announce=False)
    registry = registry_of(args)
    holder = await wildcard_holder(endpoints)
    if holder is not None and explicit is None:
        note(
            f"UDP port {endpoints.port} of every address is held by {holder} as well: sending from an ephemeral "
            f"port, where answers come back (a device that answers to port {endpoints.port} only is not heard there)"
        )
        endpoints = replace(endpoints, port=0)
    elif holder is not None:
        note(
            f"UDP port {endpoints.port} of every address is held by {holder} as well: answers sent to it may go there "
            "instead of the checker (leave out --local-port to send from an ephemeral port)"
        )
    try:
        return await Controller.open(endpoints, node=Node(config=config, registry=registry))
    except OSError as exc:
        if explicit is not None or endpoints.port == 0 or exc.errno != errno.EADDRINUSE:
            raise
        note(
            f"local port {endpoints.port} is in use: sending from an ephemeral port (devices that answer to port "
            f"{endpoints.port} only will not be heard; --local-port chooses the port)"
        )
        return await Controller.open(replace(endpoints, port=0), node=Node(config=config, registry=registry))


async def _security(args: argparse.Namespace, host: str, peer: int) -> dict[str, Any] | None:
    """With ``--secure --identity DIR``: how the device stands with that identity, as ``echonet discover --secure``
    labels a node (secured now with its identity and certification, enrolled, legacy under which consents, or
    unknown), from a secured discovery of the device alone after the plain check. ``None`` without ``--secure``."""
    if not getattr(args, "secure", False):
        return None
    from .secure_support import open_secure_controller, security_label

    v6 = ":" in host
    bind = parse_address(args.bind)[0] if args.bind else ("::" if v6 else "0.0.0.0")
    endpoints = Endpoints(
        bind_v4=None if v6 else bind, bind_v6=bind if v6 else None, port=0, join_multicast=False
    )  # (an ephemeral port: the plain check's socket may still be closing)
    config = NodeConfig(timeout=args.timeout, retries=args.retries, announce=False)
    ctl = await open_secure_controller(args, endpoints, node_config=config)
    try:
        await ctl.discover(window=args.timeout, rescans=args.retries, targets=[(host, peer)])
        return security_label(ctl, host)
    finally:
        await ctl.close()


async def _check(args: argparse.Namespace, host: str, peer: int) -> Report:
    registry = registry_of(args)
    eojs = [parse_eoj(text, registry, one_object=True) for text in args.eoj or ()]
    ctl = await _open(args, host)
    try:
        return await check(
            host,
            controller=ctl,
            port=peer,
            eojs=eojs or None,
            timeout=args.timeout,
            probe_set=args.probe_set,
            overlay=not args.no_overlay,
            overlay_wait=min(args.timeout, 2.0),
            bind=parse_address(args.bind)[0] if args.bind else None,
            registry=registry,
        )
    finally:
        await ctl.close()


def _cmd_check(args: argparse.Namespace) -> int:
    host, peer = _host(args)
    registry = registry_of(args)
    for text in args.eoj or ():  # (checked before anything is sent)
        parse_eoj(text, registry, one_object=True)
    if getattr(args, "secure", False) and not getattr(args, "identity", None):
        raise EchonetUsageError("--secure needs --identity DIR (or $ECHONET_IDENTITY)")
    try:
        report = run(_check(args, host, peer))
        security = run(_security(args, host, peer)) if report.answered else None
    except OSError as exc:
        reason = exc.strerror or str(exc)
        if exc.errno == errno.EADDRNOTAVAIL:
            raise CommandFailed(
                f"cannot bind {args.bind}: {reason} (--bind takes an address of this host)", EXIT_USAGE, "usage"
            ) from None
        raise CommandFailed(f"network error: {reason}", EXIT_FAILED) from None
    problem: tuple[str, int, str] | None = None
    if not report.answered:
        problem = (
            f"{host} port {peer} did not answer (timeout {args.timeout:g} s per attempt)",
            EXIT_NO_ANSWER,
            "no_answer",
        )
    elif not report.all_met:
        unmet = sum(1 for r in report.results if r.status is not Status.MET)
        problem = (f"not every requirement is met ({unmet} of {len(report.results)})", EXIT_NOT_MET, "not_met")
    if json_to_stdout(args):
        doc = report.to_json()
        if getattr(args, "secure", False):
            doc["security"] = security  # (null: the device did not answer)
        dump(doc if problem is None else with_error(doc, *problem))
    else:
        lines = report_lines(report, verbose=args.verbose)
        if security is not None:
            from .secure_support import security_lines

            at = next((i for i, line in enumerate(lines) if line.startswith("secure overlay:")), len(lines))
            shown = [text.strip().removeprefix("security").strip() for text in security_lines(security)]
            lines[at + 1 : at + 1] = [f"security with identity {args.identity}: {text}" for text in shown]
        for line in lines:
            print(line)
    if problem is None:
        return EXIT_OK
    error(problem[0])
    return problem[1]


# ------------------------------------------------------------------------------------------------------ formatting


def _evidence_line(e: Evidence) -> str:
    mark = _MARKS[e.outcome]
    std = "" if e.standard else " [non-standard]"
    value = f" = {e.value}" if e.value is not None else ""
    esv = f" ({e.esv})" if e.esv else ""
    where = f"{e.target} " if e.probe.profile else ""
    return f"{mark} {where}0x{e.probe.epc:02X} {e.name}{std} {e.probe.kind.value}{value}{esv}: {e.reason}"


def _object_lines(obj: ObjectReport, verbose: bool) -> list[str]:
    lines = [f"{obj.eoj} {obj.class_name}"]
    if not obj.answered:
        lines.append("  did not answer")
    else:
        release = obj.release.hex() if obj.release is not None else "-"
        lines.append(f"  Appendix release (0x82): {obj.release_text} [{release}]")
        ident = obj.identification.hex() if obj.identification is not None else "not readable"
        maker = obj.manufacturer.hex() if obj.manufacturer is not None else "not readable"
        lines.append(f"  identification (0x83): {ident}   manufacturer (0x8A): {maker}")
        if obj.simulation:
            lines.append(
                "  recognised as the project's DRready simulation: extension EPCs 0xF0-0xF9 are interpreted "
                "(non-standard)"
            )
    for problem in obj.problems:
        lines.append(f"  ! {problem}")
    for remark in obj.notes:
        lines.append(f"  note: {remark}")
    rows = [r for r in obj.requirements if r.status is not Status.NOT_APPLICABLE]
    if rows:
        width = max(len(r.requirement.id) for r in rows)
        lines.append(f"  {'requirement':<{width}}  {'status':<13}  evidence")
    for r in rows:
        lines.append(f"  {r.requirement.id:<{width}}  {r.status.value:<13}  {r.reason}")
        for e in r.evidence:
            if e.probe.extension and not obj.simulation:
                continue  # a vendor EPC of another device: the requirement's reason says why it is not judged
            lines.append(f"  {'':<{width}}    {_evidence_line(e)}")
        if verbose:
            for e in r.supporting:
                lines.append(f"  {'':<{width}}    (supporting) {_evidence_line(e)}")
    return lines


def report_lines(report: Report, *, verbose: bool = False) -> list[str]:
    """The text form of a report."""
    node = report.node
    lines = [f"DRready check of {report.host} port {report.port}"]
    if node.answered:
        version = node.version.hex() if node.version is not None else "-"
        lines.append(f"ECHONET Lite version (node profile 0x82): {node.version_text} [{version}]")
        ident = node.identification.hex() if node.identification is not None else "not readable"
        maker = node.manufacturer.hex() if node.manufacturer is not None else "not readable"
        lines.append(f"identification number (0x83): {ident}")
        lines.append(f"manufacturer code (0x8A): {maker}")
        if node.instances is not None:
            listed = " ".join(str(e) for e in node.instances) or "none"
            lines.append(f"instances (0xD6): {listed}")
    else:
        lines.append("node profile 0x0EF001: no answer")
    for problem in node.problems:
        lines.append(f"! {problem}")
    overlay = report.overlay
    if overlay.offered:
        lines.append(f"secure overlay: offered ({overlay.detail})")
    elif overlay.offered is False:
        lines.append(f"secure overlay: not offered ({overlay.detail})")
        lines.append(f"LEGACY device: {LEGACY_RISK}")
    else:
        lines.append(f"secure overlay: not probed ({overlay.detail})")
    for problem in report.problems:
        lines.append(f"! {problem}")
    for obj in report.objects:
        lines.append("")
        lines += _object_lines(obj, verbose)
    results = report.results
    counts = {s: sum(1 for r in results if r.status is s) for s in Status if s is not Status.NOT_APPLICABLE}
    summary = ", ".join(f"{n} {s.value}" for s, n in counts.items())
    lines.append("")
    if not report.answered:
        lines.append("summary: the device did not answer")
    else:
        verdict = "every requirement met" if report.all_met else "not every requirement is met"
        lines.append(f"summary: {verdict} ({summary}; {len(results)} in all)")
    return lines


# ---------------------------------------------------------------------------------------------------- requirements


def _cmd_requirements(args: argparse.Namespace) -> int:
    if json_to_stdout(args):
        dump(requirement_table())
        return EXIT_OK
    print("DRready requirements (the programme's requirement table) and how `echonet drready check` judges them")
    print("checks: readable = Get answers a valid value and the EPC is in 0x9F; settable = in 0x9E (with --probe-set")
    print("also a SetC writing back the value read); value = readable and the value passes the named check;")
    print("[non-standard] = the project's extension EPCs, judged only on the project's simulations")
    for req in REQUIREMENTS:
        print()
        print(f"{req.id}: {req.text}")
        for class_id in DR_CLASSES:
            rule = req.rule_for(class_id)
            if rule is None:
                print(f"  0x{class_id:04X}: not applicable")
                continue
            print(f"  0x{class_id:04X}: {rule.note}")
            for i, way in enumerate(rule.ways):
                label = f"{way.label}: " if way.label else ""
                checks = "; ".join(p.text for p in way.probes)
                print(f"    {'or ' if i else ''}{label}{checks}")
            if rule.supporting:
                print(f"    supporting: {'; '.join(p.text for p in rule.supporting)}")
    return EXIT_OK


# ------------------------------------------------------------------------------------------------------------ parser


def _help(parser: argparse.ArgumentParser) -> Any:
    def show(args: argparse.Namespace) -> int:
        raise CommandFailed(
            "drready needs a SUBCOMMAND, check or requirements (see echonet drready --help)", EXIT_USAGE, "usage"
        )

    return show


def register(subparsers: Any) -> None:
    """Add ``drready check`` and ``drready requirements`` to the ``echonet`` command line."""
    group = subparsers.add_parser("drready", help="DRready conformance: check a device, list the requirements")
    sub = group.add_subparsers(dest="drready_command", metavar="SUBCOMMAND")
    group.set_defaults(handler=_help(group))

    p = sub.add_parser(
        "check",
        help="probe one device and report, requirement by requirement, whether it meets DRready",
        epilog="exit codes: 0 every requirement met, 2 bad usage, 3 some not met (or partially, or unknown), "
        "4 the device did not answer, 1 local network error",
    )
    p.add_argument("host", metavar="HOST", help="the device's address: 192.0.2.5, 192.0.2.5:3611, [::1]:3610 or a name")
    p.add_argument("--json", action="store_true", help="JSON output (docs/json.md)")
    p.add_argument(
        "--eoj",
        action="append",
        metavar="EOJ",
        help="check this object (027D01, 0x027D01, 02-7D-01 or CLASS:INSTANCE such as battery:1) instead of the "
        "DRready objects of the instance list; repeatable",
    )
    p.add_argument("--timeout", type=positive_seconds, default=2.0, metavar="S", help="seconds per attempt (default 2)")
    p.add_argument("--retries", type=int, default=1, choices=range(0, 6), metavar="N", help="extra attempts (1)")
    p.add_argument("--port", type=peer_port, metavar="P", help="the device's port (3610)")
    p.add_argument("--bind", metavar="ADDR", help="local address to send from and listen on")
    p.add_argument(
        "--local-port",
        type=port,
        metavar="N",
        help="local UDP port (default 3610, or an ephemeral one when another program holds 3610 too or it is "
        "taken; 0: ephemeral)",
    )
    p.add_argument(
        "--probe-set",
        action="store_true",
        help="also confirm settable EPCs with a SetC writing back the value just read (devices that take any Set "
        "of a command EPC as a command may act on it: the project's simulations start a DR, which the checker "
        "ends again with 0xF2 = inactive)",
    )
    p.add_argument(
        "--no-overlay",
        action="store_true",
        help="do not offer a secure-overlay handshake (some plain stacks stop receiving after one)",
    )
    p.add_argument("--verbose", action="store_true", help="also show the supporting properties")
    from .secure_support import add_secure_arguments

    add_secure_arguments(p)  # --secure --identity DIR: also how the device stands with that identity
    p.set_defaults(handler=_cmd_check)

    p = sub.add_parser("requirements", help="show the requirement table the checker uses")
    p.add_argument("--json", action="store_true", help="JSON output")
    p.set_defaults(handler=_cmd_requirements)
