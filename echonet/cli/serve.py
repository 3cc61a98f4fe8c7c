"""``echonet serve`` (simulated DRready devices on a node) and ``echonet demo`` (the DR day over UDP on loopback).

Mounted by :mod:`echonet.cli.main`. Exit codes as there: 0 success (Ctrl-C included for ``serve``), 1 a run that went
wrong (an address in use, a device not found, a file that could not be written), 2 bad usage (unknown kind, bad
parameter, unreadable config, an address that is not of this host, an output path that cannot be written).

Every serving node has an identification number of its own (0x83): derived from the address, port and devices it
serves (the same for the same command line), or ``--identification HEX``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import errno
import json
import shutil
import sys
import tempfile
import time
import tomllib
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import Any, TextIO

from ..aio import Endpoints, NodeRunner
from ..constants import ECHONET_PORT
from ..describe import property_json
from ..drready.clock import SimClock, sim_time, wall_time
from ..errors import EchonetUsageError, require_extra
from ..frame import EOJ, Property
from ..node.config import NodeConfig
from ..node.events import Event, PropertySet
from ..spec.identity import IDENTIFICATION_NUMBER
from .args import parse_address, port, positive_number, positive_seconds
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

# ---------------------------------------------------------------------------------------------------------- serve


def _parse_device_spec(text: str) -> dict[str, Any]:
    """``KIND[:instance][,key=value...]`` as a config-file device entry."""
    head, *pairs = [part.strip() for part in text.split(",")]
    kind, _, instance = head.partition(":")
    if not kind:
        raise EchonetUsageError(f"--device {text!r}: give a kind (water_heater, hybrid_water_heater, battery)")
    entry: dict[str, Any] = {"kind": kind}
    if instance:
        try:
            entry["instance"] = int(instance, 0)
        except ValueError:
            raise EchonetUsageError(f"--device {text!r}: instance {instance!r} is not a number") from None
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise EchonetUsageError(f"--device {text!r}: {pair!r} is not key=value")
        entry[key.strip()] = value.strip()
    return entry


def _load_config(path: str) -> dict[str, Any]:
    file = Path(path)
    try:
        data = file.read_bytes()
    except OSError as exc:
        raise EchonetUsageError(f"cannot read config {path}: {exc.strerror or exc}") from None
    try:
        loaded = json.loads(data) if file.suffix.lower() == ".json" else tomllib.loads(data.decode("utf-8"))
    except (ValueError, UnicodeDecodeError) as exc:
        raise EchonetUsageError(f"config {path}: {exc}") from None
    if not isinstance(loaded, dict):
        raise EchonetUsageError(f"config {path}: expected a table / object at the top")
    known = {"bind", "port", "speed", "start", "devices", "device", "tick", "identification"}
    unknown = sorted(set(loaded) - known)
    if unknown:
        raise EchonetUsageError(
            f"config {path}: unknown key(s) {', '.join(unknown)}; known: {', '.join(sorted(known))}"
        )
    return loaded


def _config_number(config: dict[str, Any], key: str, default: float) -> float:
    value = config.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int | float) or not value > 0:
        raise EchonetUsageError(f"config: {key} = {value!r} must be a positive number")
    return float(value)


def _identification(text: str) -> bytes:
    """``--identification HEX``: the node's 0x83, 34 hex digits (0xFE, the manufacturer code, 13 unique bytes)."""
    try:
        return IDENTIFICATION_NUMBER.encode(text.strip())
    except EchonetUsageError as exc:
        raise EchonetUsageError(f"--identification {text!r}: {exc} (34 hex digits, FE...)") from None


def _serve_settings(args: argparse.Namespace) -> dict[str, Any]:
    config = _load_config(args.config) if args.config else {}
    entries = list(config.get("devices", [])) + list(config.get("device", []))
    entries += [_parse_device_spec(spec) for spec in args.device or []]
    if not entries:
        raise EchonetUsageError("nothing to serve: give --device KIND (water_heater, hybrid_water_heater, battery)")
    for entry in entries:
        if not isinstance(entry, dict) or "kind" not in entry:
            raise EchonetUsageError("every device entry needs a kind")
    start_text = args.start or config.get("start")
    try:
        start = sim_time(str(start_text)) if start_text else sim_time(datetime.now().replace(microsecond=0))
    except ValueError:
        raise EchonetUsageError(f"start {start_text!r} is not an ISO date-time (2026-01-15T06:00)") from None
    speed = args.speed if args.speed is not None else _config_number(config, "speed", 1.0)
    tick = args.tick if args.tick is not None else _config_number(config, "tick", 0.5)
    bind_text = args.bind if args.bind is not None else str(config.get("bind", "0.0.0.0"))
    bind, bind_port = parse_address(bind_text)
    port_value = config.get("port", ECHONET_PORT)
    if args.port is not None:
        port_value = args.port
    elif bind_port is not None:
        port_value = bind_port
    if isinstance(port_value, bool) or not isinstance(port_value, int) or not 0 <= port_value <= 0xFFFF:
        raise EchonetUsageError(f"port {port_value!r} out of range 0-65535")
    if bind_port is not None and bind_port != port_value:
        raise EchonetUsageError(f"--bind says port {bind_port} and the port is {port_value}: give one")
    ident_text = args.identification if args.identification is not None else config.get("identification")
    return {
        "devices": entries,
        "bind": bind,
        "port": port_value,
        "speed": speed,
        "start": start,
        "tick": tick,
        "identification": _identification(str(ident_text)) if ident_text is not None else None,
    }


def _build_devices(entries: Sequence[dict[str, Any]], clock: SimClock) -> list[Any]:
    from ..drready.sim import KINDS, resolve_kind, simulated_device

    devices = []
    used: dict[int, set[int]] = {}
    for entry in entries:
        params = dict(entry)
        kind = resolve_kind(str(params.pop("kind")))
        class_id = KINDS[kind].class_id
        taken = used.setdefault(class_id, set())
        instance = params.pop("instance", None)
        if instance is None:
            instance = next(i for i in range(1, 0x80) if i not in taken)
        instance = int(instance)
        if not 1 <= instance <= 0x7F:
            raise EchonetUsageError(f"{kind}: instance {instance} out of range 1-127")
        if instance in taken:
            raise EchonetUsageError(f"{kind}: instance {instance} given twice")
        taken.add(instance)
        devices.append(simulated_device(kind, instance, clock=clock, **params))
    return devices


def _bind_failure(exc: OSError, bind: str, port_number: int) -> CommandFailed:
    reason = exc.strerror or str(exc)
    where = f"cannot bind {bind} port {port_number}: {reason}"
    if exc.errno == errno.EADDRNOTAVAIL:
        return CommandFailed(f"{where} (--bind takes an address of this host)", EXIT_USAGE, "usage")
    if exc.errno == errno.EADDRINUSE:
        return CommandFailed(
            f"{where} (another program holds the port: --share-port binds next to it on an address of your own, "
            "e.g. --bind 127.0.0.2 --share-port; --port 0 takes an ephemeral port)",
            EXIT_FAILED,
        )
    if exc.errno in (errno.EACCES, errno.EPERM):
        return CommandFailed(f"{where} (a port below 1024 needs privileges)", EXIT_FAILED)
    return CommandFailed(where, EXIT_FAILED)


async def _open_server(args: argparse.Namespace, settings: dict[str, Any], devices: list[Any], clock: SimClock) -> Any:
    """The node serving the devices; with ``--secure`` behind the secure overlay (:mod:`echonet.cli.secure_support`)."""
    from ..apps.quirks import serve_quirks
    from ..drready.host import SimHost
    from ..drready.sim import node_identification

    bind = str(settings["bind"])
    v6 = ":" in bind
    endpoints = Endpoints(
        bind_v4=None if v6 else bind,
        bind_v6=bind if v6 else None,
        port=int(settings["port"]),
        interfaces=tuple(args.interface or ()),
        reuse_address=True if args.share_port else None,
    )
    identification: bytes | None = settings["identification"]
    secure_identity = None
    if getattr(args, "secure", False):
        from .secure_support import node_profile_identity

        secure_identity = node_profile_identity(args)
        if identification is not None and secure_identity is not None and identification != secure_identity:
            raise EchonetUsageError(
                f"--identification {identification.hex()} differs from the certificate's {secure_identity.hex()}: "
                "a secured node reports the number its certificate binds (leave out --identification)"
            )

    def prepare(runner: NodeRunner) -> None:
        if identification is None and secure_identity is None and endpoints.port == 0:
            # the number follows the address and port as configured: with an ephemeral port, follow the port bound
            bound = ",".join(host_port(a) for a in runner.local_addresses.values())
            runner.node.profile.update(0x83, node_identification(devices, seed=f"bound {bound}"), check=False)
        if getattr(args, "secure", False):  # the layer is in place before the start-up announcement
            from .secure_support import attach_secure_server

            attach_secure_server(args, runner)

    try:
        host = await SimHost.open(
            devices,
            endpoints,
            clock=clock,
            config=NodeConfig(port=int(settings["port"]) or ECHONET_PORT),
            tick_interval=settings["tick"],
            prepare=prepare,
            identification=identification,
            quirks=serve_quirks(getattr(args, "quirk", None) or (), secure=bool(getattr(args, "secure", False))),
        )
    except OSError as exc:
        raise _bind_failure(exc, bind, int(settings["port"])) from None
    except ModuleNotFoundError as exc:  # netifaces, for --interface
        raise CommandFailed(
            f"--interface needs the {exc.name} module (pip install netifaces-plus)", EXIT_FAILED
        ) from None
    return host


def _typed(registry: Any, class_id: int, props: Sequence[Property]) -> list[dict[str, Any]]:
    others = {p.epc: p.edt for p in props if p.edt}  # (coefficients carried by the same frame)
    return [property_json(registry.decode_value(class_id, p.epc, p.edt, others)) for p in props]


def _prop_text(item: dict[str, Any]) -> str:
    value = item.get("value", item["edt"])
    unit = f" {item['unit']}" if "unit" in item else ""
    mark = " [non-standard]" if item.get("standard") is False else ""
    return f"{item['epc']} {item.get('key', item['name'])}={value}{unit}{mark}"


def _cmd_serve(args: argparse.Namespace) -> int:
    from ..drready.sim import sim_registry
    from .conformance import cmd_serve, serves_here

    if serves_here(args):  # --class (emulated objects) or --replay: docs/conformance.md
        return cmd_serve(args)
    settings = _serve_settings(args)
    clock = SimClock(settings["start"], settings["speed"])
    devices = _build_devices(settings["devices"], clock)
    registry = sim_registry()
    out = sys.stdout
    as_json = json_to_stdout(args)

    def emit(record: dict[str, Any], text: str) -> None:
        if as_json:
            dump(record, out)
        else:
            print(text, file=out)
        out.flush()

    def sim_text() -> str:
        return wall_time(clock.now()).isoformat(timespec="seconds")

    def on_announce(device: Any, props: tuple[Property, ...]) -> None:
        items = _typed(registry, device.class_id, props)
        emit(
            {"event": "inf", "sim_time": sim_text(), **eoj_json(device.eoj, registry), "properties": items},
            f"{sim_text()}  INF  {device.eoj}  " + ", ".join(_prop_text(i) for i in items),
        )

    def on_refused(device: Any, epc: int, edt: bytes, reason: str) -> None:
        item = _typed(registry, device.class_id, [Property(epc, edt)])[0]
        emit(
            {
                "event": "set_refused",
                "sim_time": sim_text(),
                **eoj_json(device.eoj, registry),
                "property": item,
                "reason": reason,
            },
            f"{sim_text()}  Set refused  {device.eoj}  {_prop_text(item)}: {reason}",
        )

    def on_event(event: Event) -> None:
        if isinstance(event, PropertySet):
            items = _typed(registry, event.eoj.class_id, [Property(event.epc, event.edt)])
            emit(
                {
                    "event": "set",
                    "sim_time": sim_text(),
                    **address_json(event.addr),
                    **eoj_json(event.eoj, registry),
                    "property": items[0],
                },
                f"{sim_text()}  Set  {event.eoj}  {_prop_text(items[0])}  from {host_port(event.addr)}",
            )

    async def main() -> None:
        host = await _open_server(args, settings, devices, clock)
        try:
            for device in devices:
                device.on_announce = on_announce
                device.on_refused = on_refused
            host.server.runner.on_event = on_event
            profile = host.server.node.profile
            identification = profile.identification
            record = {
                "event": "serving",
                "addresses": [address_json(a) for a in host.addresses],
                "identification": hex_text(identification),
                "manufacturer": hex_text(identification[1:4]),
                "speed": settings["speed"],
                "sim_time": sim_text(),
                "devices": [
                    {
                        **eoj_json(d.eoj, registry),
                        "kind": d.kind,
                        "identification": hex_text(d.identification),
                        **maps_json(d.get_map, d.set_map, d.announce_map),
                    }
                    for d in devices
                ],
            }
            addresses = ", ".join(host_port(a) for a in host.addresses)
            lines = [
                f"serving {len(devices)} simulated device(s) on {addresses} "
                f"(node 0x83 {identification.hex()}; simulated time {sim_text()}, x{settings['speed']:g})"
            ]
            lines += [f"  {d.eoj}  {d.kind:<20} 0x83 {d.identification.hex()}" for d in devices]
            for warning in host.server.runner.warnings:
                note(f"warning: {warning}")
            emit(record, "\n".join(lines))
            if args.duration is not None:
                await asyncio.sleep(args.duration)
            else:
                await asyncio.Event().wait()
        finally:
            await host.close()

    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(main())
    return EXIT_OK


# ----------------------------------------------------------------------------------------------------------- demo

#: The live view redraws at most this often (seconds): a terminal line, not a flood.
_REDRAW = 0.25


class _LiveView:
    """The progress view: one updating line on a terminal, cut to the terminal's width and redrawn at most every
    :data:`_REDRAW` seconds; a plain line per simulated hour otherwise."""

    def __init__(self, out: TextIO | None, tty: bool) -> None:
        self.out = out
        self.tty = tty
        self.last_hour: int | None = None
        self.width = 0
        self.drawn_at: float | None = None

    def __call__(self, p: Any) -> None:
        if self.out is None:
            return
        when = wall_time(p.t)
        fraction = min(1.0, max(0.0, (p.t - p.start) / (p.end - p.start)))
        power = "  ".join(
            f"{_SHORT[k]} {v:+6.0f} W" if k == "battery" else f"{_SHORT[k]} {v:5.0f} W" for k, v in p.power_w.items()
        )
        soc = f"  SoC {p.soc_percent:3.0f} %" if p.soc_percent is not None else ""
        dr = f"  [{p.active}]" if p.active else ""
        line = f"{when:%H:%M}  {power}{soc}{dr}"
        if self.tty:
            now = time.monotonic()
            if self.drawn_at is not None and now - self.drawn_at < _REDRAW and fraction < 1.0:
                return
            self.drawn_at = now
            columns = shutil.get_terminal_size().columns
            bar = "#" * int(fraction * 10)
            text = f"[{bar:<10}] {line}"[: max(1, columns - 1)]
            pad = max(0, self.width - len(text))
            self.width = len(text)
            self.out.write("\r" + text + " " * pad)
            self.out.flush()
        elif when.hour != self.last_hour:
            self.last_hour = when.hour
            print(line, file=self.out, flush=True)

    def finish(self) -> None:
        if self.out is not None and self.tty and self.width:
            self.out.write("\r" + " " * self.width + "\r")
            self.out.flush()
            self.width = 0


_SHORT = {"water_heater": "heater", "hybrid_water_heater": "hybrid", "battery": "battery"}


def _demo_config(args: argparse.Namespace) -> Any:
    from ..drready.demo import DemoConfig

    return DemoConfig(speed=args.speed, bind_base=args.bind_base, port=args.port)


async def _run_demo(config: Any, progress: Any, secure: bool = False) -> tuple[Any, Any]:
    """Runs the demo; with ``secure`` the battery secured and the water heaters legacy
    (:mod:`echonet.drready.secure_demo`), and the secure side's report as the second item (``None`` otherwise)."""
    if secure:
        from ..drready.secure_demo import run_secure_demo

        return await run_secure_demo(config, progress=progress)
    from ..drready.demo import run_demo

    return await run_demo(config, progress=progress), None


def _result_lines(result: Any) -> list[str]:
    lines = ["devices (discovered over UDP):"]
    for d in result.devices:
        lines.append(f"  {d.eoj}  {d.label:<14} {d.address}:{d.port:<5}  0x83 {d.identification}")
    lines.append("")
    lines.append("DR events:")
    for w in result.windows:
        lines.append(f"  {w.name:<28} {wall_time(w.start):%H:%M}-{wall_time(w.end):%H:%M}")
    lines.append("")
    header = ("DR event", "device", "requested", "delivered", "ratio", "delivered = / requested =")
    rows = []
    for d in result.deliveries:
        ratio = f"{d.ratio * 100:.0f} %" if d.ratio is not None else "-"
        basis = f"{d.measured} / {d.basis}" + (f"; {d.note}" if d.note else "")
        rows.append((d.event, d.device, f"{d.requested_wh:,.0f} Wh", f"{d.delivered_wh:,.0f} Wh", ratio, basis))
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    align = ["<", "<", ">", ">", ">", "<"]

    def fmt(row: Sequence[str]) -> str:
        return "  ".join(f"{c:{a}{w}}" for c, a, w in zip(row, align, widths, strict=True)).rstrip()

    lines.append(fmt(header))
    lines.append("  ".join("-" * w for w in widths))
    lines += [fmt(r) for r in rows]
    lines.append("")
    failed = [c for c in result.commands if not c.ok]
    lines.append(
        f"{len(result.commands)} command(s) sent ({len(failed)} refused or unanswered), {len(result.samples)} "
        f"measurement rounds, {result.notifications} INF(s) received; "
        f"simulated {wall_time(result.start):%H:%M} to {wall_time(result.end):%H:%M} in {result.wall_seconds:.1f} s"
    )
    for c in failed:
        lines.append(f"  refused: {wall_time(c.t):%H:%M} {c.device}: {c.description} {' '.join(c.refused)}")
    if hasattr(result, "openadr_lines"):  # the day through the OpenADR VTN and the gateway (docs/gateway.md)
        lines += ["", *result.openadr_lines()]
    return lines


def _output_path(text: str, option: str) -> Path:
    """An output file the demo will write after its run, checked before it: not a directory, below a directory
    (made if missing) where a file can be created. A path that fails is a usage error, so nothing runs for naught."""
    path = Path(text)
    if path.is_dir():
        raise EchonetUsageError(f"{option} {text} is a directory: give a file name (e.g. {path / 'echonet-demo.png'})")
    ancestor = path.absolute().parent
    while not ancestor.exists() and ancestor != ancestor.parent:
        ancestor = ancestor.parent
    if not ancestor.is_dir():
        raise EchonetUsageError(f"{option} {text}: {ancestor} is not a directory")
    try:
        if path.exists():
            with path.open("ab"):
                pass
        else:
            with tempfile.NamedTemporaryFile(dir=ancestor, prefix=".echonet-demo-"):
                pass
    except OSError as exc:
        where = path if path.exists() else ancestor
        raise EchonetUsageError(f"cannot write {option} {text}: {where}: {exc.strerror or exc}") from None
    return path


def _demo_json(result: Any, secured: Any) -> dict[str, Any]:
    """The results in the JSON vocabulary (docs/json.md): the library's document with each device's object and
    address as every command gives them, and the simulated clock's times named ``sim_...``."""
    from ..drready.sim import sim_registry

    registry = sim_registry()
    data: dict[str, Any] = result.to_json()
    data["sim_start"], data["sim_end"] = data.pop("start"), data.pop("end")
    data["devices"] = [
        {
            "kind": d.kind,
            "label": d.label,
            **eoj_json(EOJ.parse(d.eoj), registry),
            "host": d.address,
            "port": d.port,
            "identification": d.identification,
            "discovered": d.discovered,
        }
        for d in result.devices
    ]
    for event in data["dr_events"]:
        event["sim_start"], event["sim_end"] = event.pop("start"), event.pop("end")
    for item in (*data["commands"], *data["samples"]):
        item["sim_time"] = item.pop("time")
    if secured is not None:
        data["secure"] = secured.to_json()
    return data


def _write_plot(result: Any, path: Path) -> tuple[Path | None, str | None]:
    """Draw the plot: (the file written, or ``None`` and why not)."""
    from ..drready.demo import plot_demo

    try:
        return plot_demo(result, path), None
    except OSError as exc:
        return None, f"cannot write the plot {path}: {exc.strerror or exc}"
    except Exception as exc:  # the results are out already: a failed drawing is one line, not a traceback
        return None, f"cannot draw the plot {path}: {type(exc).__name__}: {exc}"


def _cmd_demo(args: argparse.Namespace) -> int:
    config = _demo_config(args)
    json_to_out = json_to_stdout(args)
    json_file = _output_path(args.json, "--json") if args.json and not json_to_out else None
    plot_file = _output_path(args.plot, "--plot") if args.plot else None
    if plot_file is not None:
        require_extra("matplotlib", "plot", "the plot (--plot '' for none)")
    text_out: TextIO | None = None if json_to_out else sys.stdout
    # the live view: an updating line on a terminal; plain hourly lines with the text output otherwise
    view_out = sys.stderr if json_to_out else sys.stdout
    tty = view_out.isatty()
    view = _LiveView(None, False) if args.no_progress or (json_to_out and not tty) else _LiveView(view_out, tty)
    if text_out is not None:
        print(
            f"echonet demo: a water heater, a hybrid water heater and a battery on {args.bind_base} +1..+3, an "
            f"aggregator on {args.bind_base}; a simulated day at x{config.speed:g}",
            file=text_out,
            flush=True,
        )
    try:
        result, secured = asyncio.run(_run_demo(config, view, bool(args.secure)))
    except KeyboardInterrupt:
        view.finish()
        error("demo interrupted")
        return 130
    finally:
        view.finish()
    problems: list[str] = []
    failed = sum(1 for c in result.commands if not c.ok)
    if failed:
        problems.append(f"{failed} of the day's {len(result.commands)} command(s) refused or unanswered")
    if secured is not None and not (secured.audit_ok and secured.battery_audit_ok):
        problems.append("an audit log's hash chain did not verify")
    data = _demo_json(result, secured)
    if json_to_out:  # the document is the output: the plot first, so that it says where the plot went
        if plot_file is not None:
            written, problem = _write_plot(result, plot_file)
            if written is not None:
                data["plot"] = str(written)
            if problem is not None:
                problems.append(problem)
        if problems:
            data = with_error(data, problems[0], EXIT_FAILED, "failed")
        dump(data)
    else:
        assert text_out is not None
        if secured is not None:
            print("\n".join(secured.device_lines()) + "\n", file=text_out)
        print("\n".join(_result_lines(result)), file=text_out)
        if secured is not None:
            print("\n".join(secured.audit_lines()), file=text_out)
        text_out.flush()
        if plot_file is not None:
            written, problem = _write_plot(result, plot_file)
            if written is not None:
                data["plot"] = str(written)
                print(f"plot: {written}", file=text_out, flush=True)
            if problem is not None:
                problems.append(problem)
        if json_file is not None:
            try:
                json_file.write_text(json.dumps(data, indent=1) + "\n", encoding="utf-8")
            except OSError as exc:
                problems.append(f"cannot write the results {json_file}: {exc.strerror or exc}")
            else:
                print(f"results: {json_file}", file=text_out, flush=True)
    for problem in problems:
        error(problem)
    return EXIT_FAILED if problems else EXIT_OK


# --------------------------------------------------------------------------------------------------------- parser


def register(sub: Any) -> None:
    p = sub.add_parser(
        "serve",
        help="host simulated DRready devices (water heater, hybrid water heater, battery) on one node",
        description="Host simulated DRready devices on one ECHONET Lite node until Ctrl-C (or --duration).",
    )
    p.add_argument("--config", metavar="FILE", help="TOML or JSON: bind, port, speed, start, [[devices]] kind=...")
    p.add_argument(
        "--device",
        action="append",
        metavar="KIND[:INSTANCE][,KEY=VALUE...]",
        help="a device to host (repeatable): water_heater, hybrid_water_heater, battery (or 0x026B, 0x02A6, "
        "0x027D) with model parameters, e.g. battery:2,capacity_wh=12000,initial_soc=0.8",
    )
    p.add_argument(
        "--bind",
        metavar="ADDR",
        help="local address (default 0.0.0.0; an IPv6 address, e.g. [::1] or ::1, binds IPv6; ADDR:PORT sets the port)",
    )
    p.add_argument("--port", type=port, help="UDP port (default 3610; 0 = ephemeral)")
    p.add_argument(
        "--share-port",
        action="store_true",
        help="bind even when another program holds the port (SO_REUSEADDR), e.g. --bind 127.0.0.2 next to a stack "
        "on 0.0.0.0:3610. Risk: two programs on the same address and port split its datagrams unpredictably; give "
        "this node an address of its own",
    )
    p.add_argument(
        "--interface",
        action="append",
        metavar="NAME|ADDR",
        help="network interface for multicast (joins and announcements), e.g. lo to keep them on this machine; "
        "repeatable",
    )
    p.add_argument(
        "--identification",
        metavar="HEX",
        help="the node's identification number (0x83), 34 hex digits FE...; default: derived from the address, "
        "port and devices served, so that every node has its own",
    )
    p.add_argument(
        "--quirk",
        action="append",
        metavar="NAME[=VALUE]",
        help="answer as some deployed devices do (repeatable; docs/quirks.md): delay=SECONDS, max-get=N, "
        "oversize-silent=BYTES, drop-concurrent, reply-port=ephemeral, no-identification, shared-identification, "
        "set-ack-no-apply, silent-after=N, loss=P, trailing-bytes",
    )
    p.add_argument("--speed", type=positive_number, help="simulated seconds per real second (default 1)")
    p.add_argument("--start", metavar="ISO", help="simulated start time, local (default: now)")
    p.add_argument(
        "--tick", type=positive_seconds, help="seconds between model updates and INFs (default 0.5)", metavar="S"
    )
    p.add_argument("--duration", type=positive_seconds, metavar="SECONDS", help="stop after this many seconds")
    p.add_argument("--json", action="store_true", help="JSON lines: serving, then every Set received and INF sent")
    from .secure_support import add_secure_arguments, add_setup_code_argument

    add_secure_arguments(p)
    add_setup_code_argument(p)
    from .conformance import add_serve_arguments

    add_serve_arguments(p)
    p.set_defaults(handler=_cmd_serve)

    from ..drready.demo import DEFAULT_SPEED

    p = sub.add_parser(
        "demo",
        help="the DR day: three simulated devices and an aggregator over UDP on loopback, with a table and a plot",
        description="Start a water heater, a hybrid water heater and a battery on loopback, discover them over UDP, "
        "run a simulated DR day (upward DR at midday, downward DR in the evening peak) and show requested vs "
        "delivered energy.",
    )
    p.add_argument(
        "--speed",
        type=positive_number,
        default=DEFAULT_SPEED,
        help=f"simulated seconds per second ({DEFAULT_SPEED:g})",
    )
    p.add_argument("--plot", default="echonet-demo.png", metavar="FILE.png", help="PNG to write ('' for none)")
    p.add_argument(
        "--json",
        nargs="?",
        const="-",
        metavar="FILE",
        help="the results as JSON: on stdout (--json or --json -), or written to FILE",
    )
    p.add_argument("--no-progress", action="store_true", help="no live progress view")
    p.add_argument("--bind-base", default="127.0.0.100", metavar="127.0.0.X", help="aggregator address; devices +1..+3")
    p.add_argument("--port", type=port, default=ECHONET_PORT, help="devices' port (3610; falls back to ephemeral)")
    p.add_argument(
        "--secure",
        action="store_true",
        help="the day with the battery secured (EDHOC + OSCORE) and the water heaters legacy, written to with "
        "scoped, time-limited consent; audit log counts at the end",
    )
    p.set_defaults(handler=_cmd_demo)


__all__ = ["register"]
