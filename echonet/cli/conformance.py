"""``echonet conformance HOST``: the open conformance suite on the command line; and the vendor-interop side of
``echonet serve``: ``--class`` (emulate any class of the tables) and ``--replay CAPTURE --host IP`` (rebuild a node
from a capture).

``echonet conformance`` runs :func:`echonet.conformance.conformance` against one node and prints every check's
verdict (failures and warnings with their frames), or the report as JSON (``--json``), and writes the JUnit XML
(``--junit FILE``) and the self-contained HTML report (``--report FILE.html``) when asked.

Exit codes: 0 nothing failed (with ``--strict``: nothing failed or warned), 3 some check failed, 4 the node did not
answer at all, 2 bad usage, 1 a local network error or (``--secure``) no secure session. ``--quirk`` applies to
``--class`` and ``--replay`` nodes too (:mod:`echonet.apps.quirks`).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import errno
import sys
from datetime import datetime
from pathlib import Path
from typing import Any

from ..aio import run
from ..conformance import CHECKS, Report, Verdict, check_table, conformance, html_report, junit_xml
from ..constants import ECHONET_PORT
from ..errors import CaptureError, EchonetUsageError
from .args import one_device, parse_address, parse_eoj, peer_port, port, positive_seconds
from .common import (
    EXIT_FAILED,
    EXIT_OK,
    EXIT_USAGE,
    CommandFailed,
    address_json,
    dump,
    eoj_json,
    error,
    hex_text,
    host_port,
    json_to_stdout,
    maps_json,
    note,
    with_error,
)
from .common import registry as registry_of

EXIT_NONCONFORMANT = 3
EXIT_NO_ANSWER = 4

_MARKS = {Verdict.PASS: "+", Verdict.FAIL: "x", Verdict.WARN: "~", Verdict.NOT_APPLICABLE: "-"}


def _host(args: argparse.Namespace) -> tuple[str, int]:
    """HOST and ``--port``: the node's unicast address and port (:func:`~echonet.cli.args.one_device`)."""
    return one_device(args.host, args.port, ECHONET_PORT, "the suite checks one node")


def _output(path: str | None, option: str) -> Path | None:
    """An output file checked before anything is sent: not a directory, in a directory that exists."""
    if not path:
        return None
    file = Path(path)
    if file.is_dir():
        raise EchonetUsageError(f"{option} {path} is a directory: give a file name")
    if not file.absolute().parent.is_dir():
        raise EchonetUsageError(f"{option} {path}: {file.absolute().parent} is not a directory")
    return file


async def _run(args: argparse.Namespace, host: str, peer: int) -> Report:
    registry = registry_of(args)
    eojs = [parse_eoj(text, registry, one_object=True) for text in args.eoj or ()]
    bind_text, bind_port = parse_address(args.bind) if args.bind else (None, None)
    if bind_port is not None and args.local_port is not None and bind_port != args.local_port:
        raise EchonetUsageError(f"--bind says port {bind_port} and --local-port says {args.local_port}: give one")
    explicit = args.local_port if args.local_port is not None else bind_port
    options: dict[str, Any] = {
        "port": peer,
        "eojs": eojs or None,
        "probe_set": args.probe_set,
        "robustness": args.robustness,
        "timeout": args.timeout,
        "retries": args.retries,
        "bind": bind_text,
        "registry": registry,
        "listen": not args.no_listen,
    }
    security = None
    if getattr(args, "secure", False):  # (the overlay, and cryptography, are loaded only then)
        from ..conformance.overlay import secure_layer_factory
        from .secure_support import security_from_args

        security = security_from_args(args, "controller")
        assert security is not None
        options["overlay"] = secure_layer_factory(security.config, policy=security.policy, audit=security.audit)
    try:
        return await conformance(host, local_port=ECHONET_PORT if explicit is None else explicit, **options)
    except OSError as exc:
        if explicit is not None or exc.errno != errno.EADDRINUSE:
            raise
        note(
            f"local port {ECHONET_PORT} is in use: sending from an ephemeral port (a device that answers to port "
            f"{ECHONET_PORT} only is not heard; --local-port chooses the port)"
        )
        return await conformance(host, local_port=0, **options)
    finally:
        if security is not None:
            security.close()


def _cmd_conformance(args: argparse.Namespace) -> int:
    if args.list:
        if json_to_stdout(args):
            dump({"checks": check_table()})
        else:
            for check in CHECKS:
                extra = "" if check.needs.value == "read-only" else f" [--{check.needs.value}]"
                print(f"{check.id:<13} {check.scope.value:<6} {check.title}{extra}")
                print(f"{'':<13} {'':<6} clause: {check.clause}")
        return EXIT_OK
    if not args.host:
        raise CommandFailed("give the HOST to check (or --list for the checks)", EXIT_USAGE, "usage")
    host, peer = _host(args)
    registry = registry_of(args)
    for text in args.eoj or ():  # (checked before anything is sent)
        parse_eoj(text, registry, one_object=True)
    junit = _output(args.junit, "--junit")
    page = _output(args.report, "--report")
    try:
        report = run(_run(args, host, peer))
    except OSError as exc:
        reason = exc.strerror or str(exc)
        if exc.errno == errno.EADDRNOTAVAIL:
            raise CommandFailed(
                f"cannot bind {args.bind}: {reason} (--bind takes an address of this host)", EXIT_USAGE, "usage"
            ) from None
        raise CommandFailed(f"network error: {reason}", EXIT_FAILED) from None
    written = []
    for file, text in ((junit, junit_xml(report) if junit else ""), (page, html_report(report) if page else "")):
        if file is None:
            continue
        try:
            file.write_text(text, encoding="utf-8")
        except OSError as exc:
            raise CommandFailed(f"cannot write {file}: {exc.strerror or exc}", EXIT_FAILED) from None
        written.append(str(file))
    problem: tuple[str, int, str] | None = None
    counts = report.counts()
    if not report.answered:
        problem = (
            f"{host} port {peer} did not answer (timeout {args.timeout:g} s per attempt)",
            EXIT_NO_ANSWER,
            "no_answer",
        )
    elif counts["fail"]:
        problem = (f"{counts['fail']} check(s) failed", EXIT_NONCONFORMANT, "not_met")
    elif args.strict and counts["warn"]:
        problem = (f"{counts['warn']} check(s) warned (--strict)", EXIT_NONCONFORMANT, "not_met")
    if json_to_stdout(args):
        doc = report.to_json()
        doc["written"] = written
        dump(doc if problem is None else with_error(doc, *problem))
    else:
        for line in report_lines(report, verbose=args.verbose):
            print(line)
        for file_name in written:
            print(f"written: {file_name}")
    if problem is None:
        return EXIT_OK
    error(problem[0])
    return problem[1]


def report_lines(report: Report, *, verbose: bool = False) -> list[str]:
    """The text form of a report: identity, one line per check and target, the frames of failures and warnings."""
    lines = [f"ECHONET Lite conformance of {report.host} port {report.port}"]
    if not report.answered:
        return [*lines, *(f"! {p}" for p in report.problems)]
    for obj in report.objects:
        ident = obj.identification.hex() if obj.identification is not None else "-"
        version = obj.version.hex() if obj.version is not None else "-"
        maker = obj.manufacturer.hex() if obj.manufacturer is not None else "-"
        lines.append(f"  {obj.eoj} {obj.class_name}: 0x82 {version}  0x83 {ident}  0x8A {maker}")
    for problem in report.problems:
        lines.append(f"! {problem}")
    for remark in report.notes:
        lines.append(f"note: {remark}")
    target = None
    for r in report.results:
        if r.target != target:
            target = r.target
            lines.append("")
            lines.append("node" if target == "node" else f"{target}")
        lines.append(f"  {_MARKS[r.verdict]} {r.check.id:<13} {r.verdict.value:<14} {r.reason}")
        if r.verdict in (Verdict.FAIL, Verdict.WARN) or verbose:
            lines.append(f"      clause: {r.check.clause}")
            for exchange in r.evidence:
                lines.append(f"      # {exchange.label}" + (" (no answer)" if exchange.timed_out else ""))
                for d in exchange.datagrams:
                    arrow = "->" if d.direction == "sent" else "<-"
                    lines.append(f"      {arrow} {d.data.hex()}")
                    lines += [f"           {t}" for t in d.text]
    counts = report.counts()
    lines.append("")
    lines.append("summary: " + ", ".join(f"{n} {v}" for v, n in counts.items()))
    return lines


# ---------------------------------------------------------------------------------------------- echonet serve


def add_serve_arguments(parser: argparse.ArgumentParser) -> None:
    """``--class`` and ``--replay`` / ``--host`` for ``echonet serve``."""
    parser.add_argument(
        "--class",
        dest="emulate",
        action="append",
        metavar="CLASS[:INSTANCE][,EPC...|,all]",
        help="emulate an object of any class of the tables (repeatable, mixed with --device): every mandatory "
        "property plus the optional EPCs named (or all), e.g. 0x0130:1,0xB3 (with --mra DIR, every Appendix class)",
    )
    parser.add_argument(
        "--replay",
        metavar="CAPTURE",
        help="rebuild the node that --host IP was in this capture (pcap / pcapng) and answer like it",
    )
    parser.add_argument("--host", dest="replay_host", metavar="IP", help="the node of --replay to rebuild")


def serves_here(args: argparse.Namespace) -> bool:
    """Whether ``echonet serve`` is asked for something this module serves (``--class``, ``--replay``)."""
    return bool(getattr(args, "emulate", None) or getattr(args, "replay", None))


def _device_entries(args: argparse.Namespace) -> list[tuple[str, int | None, dict[str, str]]]:
    entries = []
    for text in args.device or ():
        head, *pairs = [part.strip() for part in text.split(",")]
        kind, _, instance = head.partition(":")
        params: dict[str, str] = {}
        for pair in pairs:
            key, sep, value = pair.partition("=")
            if not sep:
                raise EchonetUsageError(f"--device {text!r}: {pair!r} is not key=value")
            params[key.strip()] = value.strip()
        try:
            number = int(instance, 0) if instance else None
        except ValueError:
            raise EchonetUsageError(f"--device {text!r}: instance {instance!r} is not a number") from None
        entries.append((kind, number, params))
    return entries


def cmd_serve(args: argparse.Namespace) -> int:
    """``echonet serve`` with ``--class`` or ``--replay``: the node until Ctrl-C or ``--duration``."""
    from ..apps.emulate import emulated_objects, parse_class_spec
    from ..drready.sim import sim_registry

    if args.config:
        raise EchonetUsageError("--config cannot be combined with --class or --replay: give --device on the line")
    if getattr(args, "secure", False):
        raise EchonetUsageError("--secure cannot be combined with --class or --replay")
    registry = registry_of(args)
    if args.replay:
        if args.emulate or args.device:
            raise EchonetUsageError("--replay serves the node of the capture alone: leave out --class and --device")
        if not args.replay_host:
            raise EchonetUsageError("--replay needs --host IP: the node of the capture to rebuild")
        return _serve_replay(args, registry)
    if args.replay_host:
        raise EchonetUsageError("--host goes with --replay")
    specs = [parse_class_spec(text, registry) for text in args.emulate]
    entries = _device_entries(args)
    objects = emulated_objects(registry, specs, seed=" ".join(args.emulate))
    for obj in objects:
        if obj.skipped:
            note(f"{obj.eoj}: left out {', '.join(f'0x{e:02X}' for e in obj.skipped)} (no value fits their definition)")
    shown = sim_registry(registry)
    return _serve_objects(args, objects, entries, shown)


def _quirks(args: argparse.Namespace) -> Any:
    """The field quirks of ``--quirk`` (:mod:`echonet.apps.quirks`), or ``None``."""
    from ..apps.quirks import serve_quirks

    return serve_quirks(getattr(args, "quirk", None) or (), secure=bool(getattr(args, "secure", False)))


async def _open_quirky(node: Any, endpoints: Any, quirks: Any) -> tuple[Any, Any]:
    """A :class:`~echonet.aio.DeviceServer` for ``node``, behind a :class:`~echonet.apps.quirks.QuirkLayer` when
    ``quirks`` is given (put in place before the node starts, as :meth:`echonet.drready.host.SimHost.apply_quirks`
    does); also the socket of ``reply-port=ephemeral`` answers (``None`` without), for the caller to close."""
    from ..aio import DeviceServer
    from ..aio.sockets import open_aside
    from ..apps.quirks import QuirkLayer

    if quirks is None:
        return await DeviceServer.open(node, endpoints), None
    server = await DeviceServer.open(node, endpoints, start=False)
    aside = None
    try:
        runner = server.runner
        send_aside = None
        if quirks.reply_port_ephemeral:
            bound = next(iter(runner.local_addresses.values()))
            transport, _ = await runner.loop.create_datagram_endpoint(
                asyncio.DatagramProtocol, sock=open_aside(str(bound[0]))
            )
            aside = transport
            send_aside = transport.sendto
        runner.use_layer(QuirkLayer(runner.node, quirks, send_aside=send_aside))
        runner.start_node()
    except BaseException:
        if aside is not None:
            aside.close()
        await server.close()
        raise
    return server, aside


def _endpoints(args: argparse.Namespace) -> tuple[Any, str, int]:
    from ..aio import Endpoints

    bind_text = args.bind if args.bind is not None else "0.0.0.0"
    bind, bind_port = parse_address(bind_text)
    port_number = args.port if args.port is not None else (bind_port if bind_port is not None else ECHONET_PORT)
    v6 = ":" in bind
    endpoints = Endpoints(
        bind_v4=None if v6 else bind,
        bind_v6=bind if v6 else None,
        port=port_number,
        interfaces=tuple(args.interface or ()),
        reuse_address=True if args.share_port else None,
    )
    return endpoints, bind, port_number


def _identification(args: argparse.Namespace) -> bytes | None:
    from ..spec.identity import IDENTIFICATION_NUMBER

    if args.identification is None:
        return None
    try:
        return IDENTIFICATION_NUMBER.encode(args.identification.strip())
    except EchonetUsageError as exc:
        raise EchonetUsageError(f"--identification {args.identification!r}: {exc} (34 hex digits, FE...)") from None


def _bind_failure(exc: OSError, bind: str, port_number: int) -> CommandFailed:
    reason = exc.strerror or str(exc)
    where = f"cannot bind {bind} port {port_number}: {reason}"
    if exc.errno == errno.EADDRNOTAVAIL:
        return CommandFailed(f"{where} (--bind takes an address of this host)", EXIT_USAGE, "usage")
    if exc.errno == errno.EADDRINUSE:
        return CommandFailed(f"{where} (--port 0 takes an ephemeral port; --share-port binds beside it)", EXIT_FAILED)
    return CommandFailed(where, EXIT_FAILED)


def _serve_objects(args: argparse.Namespace, objects: list[Any], entries: list[Any], shown: Any) -> int:
    from ..apps.emulate import emulated_node
    from ..drready.clock import SimClock, sim_time
    from ..drready.host import SimHost
    from ..drready.sim import simulated_device
    from ..node.config import NodeConfig

    endpoints, bind, port_number = _endpoints(args)
    identification = _identification(args)
    try:
        start = sim_time(args.start) if args.start else sim_time(datetime.now().replace(microsecond=0))
    except ValueError:
        raise EchonetUsageError(f"start {args.start!r} is not an ISO date-time (2026-01-15T06:00)") from None
    clock = SimClock(start, args.speed or 1.0)
    devices = []
    taken = {(o.eoj.class_id, o.eoj.instance) for o in objects}
    for kind, instance, params in entries:
        device = simulated_device(kind, instance or 1, clock=clock, **params)
        if instance is None:
            number = next(i for i in range(1, 0x80) if (device.class_id, i) not in taken)
            device = simulated_device(kind, number, clock=clock, **params)
        if (device.class_id, device.eoj.instance) in taken:
            raise EchonetUsageError(f"{device.eoj} given twice")
        taken.add((device.class_id, device.eoj.instance))
        devices.append(device)
    config = NodeConfig(port=port_number or ECHONET_PORT)
    quirks = _quirks(args)

    async def main() -> None:
        aside = None
        try:
            if devices:

                def prepare(runner: Any) -> None:
                    for obj in objects:
                        runner.node.add(obj)

                host: Any = await SimHost.open(
                    devices,
                    endpoints,
                    clock=clock,
                    config=config,
                    tick_interval=args.tick or 0.5,
                    prepare=prepare,
                    identification=identification,
                    quirks=quirks,
                )
                server = host.server
            else:
                node = emulated_node(
                    objects,
                    registry_of(args),
                    config=config,
                    identification=identification,
                    seed=" ".join(args.emulate or ()),
                )
                server, aside = await _open_quirky(node, endpoints, quirks)
                host = server
        except OSError as exc:
            raise _bind_failure(exc, bind, port_number) from None
        try:
            _announce_serving(args, server, [*devices, *objects], shown)
            await _wait(args)
        finally:
            if aside is not None:
                aside.close()
            await host.close()

    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(main())
    return EXIT_OK


async def _wait(args: argparse.Namespace) -> None:
    if args.duration is not None:
        await asyncio.sleep(args.duration)
    else:
        await asyncio.Event().wait()


def _announce_serving(args: argparse.Namespace, server: Any, objects: list[Any], registry: Any) -> None:
    from ..node.events import PropertySet

    profile = server.node.profile
    identification = profile.identification
    addresses = [(str(a[0]), int(a[1])) for a in server.runner.local_addresses.values()]
    as_json = json_to_stdout(args)
    record = {
        "event": "serving",
        "addresses": [address_json(a) for a in addresses],
        "identification": hex_text(identification),
        "manufacturer": hex_text(identification[1:4]),
        "devices": [
            {
                **eoj_json(o.eoj, registry),
                "kind": getattr(o, "kind", "emulated"),
                "identification": hex_text(o.value(0x83)),
                **maps_json(o.get_map, o.set_map, o.announce_map),
            }
            for o in objects
        ],
    }
    if as_json:
        dump(record)
    else:
        where = ", ".join(host_port(a) for a in addresses)
        print(f"serving {len(objects)} object(s) on {where} (node 0x83 {identification.hex()})")
        for o in objects:
            print(f"  {o.eoj}  {getattr(o, 'kind', 'emulated'):<20} {len(o.epcs)} EPC(s)")
    sys.stdout.flush()

    def on_event(event: Any) -> None:
        if isinstance(event, PropertySet):
            if as_json:
                dump(
                    {
                        "event": "set",
                        **address_json(event.addr),
                        **eoj_json(event.eoj, registry),
                        "epc": f"0x{event.epc:02X}",
                        "edt": event.edt.hex(),
                    }
                )
            else:
                print(f"Set  {event.eoj}  0x{event.epc:02X}={event.edt.hex()}  from {host_port(event.addr)}")
            sys.stdout.flush()

    server.runner.on_event = on_event


def _serve_replay(args: argparse.Namespace, registry: Any) -> int:
    from ..apps.replay import replay_node

    endpoints, bind, port_number = _endpoints(args)
    quirks = _quirks(args)
    try:
        rebuilt = replay_node(args.replay, args.replay_host, registry=registry)
    except CaptureError as exc:  # a capture that cannot be read: nothing ran yet
        raise EchonetUsageError(f"--replay {args.replay}: {exc}") from None
    for remark in rebuilt.notes:
        note(remark)

    async def main() -> None:
        try:
            server, aside = await _open_quirky(rebuilt.node, endpoints, quirks)
        except OSError as exc:
            raise _bind_failure(exc, bind, port_number) from None
        try:
            _announce_serving(args, server, [o for o in rebuilt.node.objects if not o.eoj.is_node_profile], registry)
            await _wait(args)
        finally:
            if aside is not None:
                aside.close()
            await server.close()

    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(main())
    return EXIT_OK


# ---------------------------------------------------------------------------------------------------- parser


def register(subparsers: Any) -> None:
    """Add ``conformance`` to the ``echonet`` command line."""
    p = subparsers.add_parser(
        "conformance",
        help="check any ECHONET Lite node against the spec, check by check, with the frames as evidence",
        description="Discover the node at HOST (unicast) and run every conformance check on the node profile and "
        "every object (docs/conformance.md). Read-only unless --probe-set.",
        epilog="exit codes: 0 nothing failed, 3 some check failed (--strict: or warned), 4 no answer, 2 bad usage, "
        "1 local network error or no secure session",
    )
    p.add_argument("host", nargs="?", metavar="HOST", help="the node: 192.0.2.5, 192.0.2.5:3611, [::1]:3610 or a name")
    p.add_argument(
        "--eoj",
        action="append",
        metavar="EOJ",
        help="check this object (027D01 or CLASS:INSTANCE) instead of those of the instance list; repeatable",
    )
    p.add_argument(
        "--probe-set",
        action="store_true",
        help="also write (valid and out-of-range Sets, SetI, an announced change); every value changed is written back",
    )
    p.add_argument("--robustness", action="store_true", help="also send a bounded burst of malformed datagrams")
    p.add_argument("--json", action="store_true", help="the report as JSON (docs/json.md)")
    p.add_argument("--junit", metavar="FILE", help="write the results as JUnit XML")
    p.add_argument("--report", metavar="FILE.html", help="write the self-contained HTML report")
    p.add_argument("--strict", action="store_true", help="a warning fails the run too (exit 3)")
    p.add_argument("--timeout", type=positive_seconds, default=2.0, metavar="S", help="seconds per attempt (2)")
    p.add_argument("--retries", type=int, default=1, choices=range(0, 6), metavar="N", help="extra attempts (1)")
    p.add_argument("--port", type=peer_port, metavar="P", help="the node's port (3610)")
    p.add_argument("--bind", metavar="ADDR", help="local address to send from")
    p.add_argument(
        "--local-port", type=port, metavar="N", help="local UDP port (default 3610, else ephemeral; 0: ephemeral)"
    )
    p.add_argument("--no-listen", action="store_true", help="do not join 224.0.23.0 to hear announcements")
    p.add_argument("--verbose", action="store_true", help="also show the frames of checks that passed")
    p.add_argument("--list", action="store_true", help="list the checks and their clauses, and exit")
    from .secure_support import add_secure_arguments

    add_secure_arguments(p)  # --secure: every check through the overlay (no session: one line, exit 1)
    p.set_defaults(handler=_cmd_conformance)


__all__ = ["add_serve_arguments", "cmd_serve", "register", "report_lines", "serves_here"]
