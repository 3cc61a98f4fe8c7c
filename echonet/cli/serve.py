"""``echonet serve`` (simulated DRready devices on a node) and ``echonet demo`` (the DR day over UDP on loopback).

Mounted by :mod:`echonet.cli.main`. Exit codes as there: 0 success (Ctrl-C included for ``serve``), 1 a run that went
wrong (cannot bind, a device not found), 2 bad usage (unknown kind, bad parameter, unreadable config).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import sys
import tomllib
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import Any, TextIO

from ..aio import Endpoints, NodeRunner
from ..constants import ECHONET_PORT
from ..describe import property_json
from ..drready.clock import SimClock, sim_time, wall_time
from ..errors import EchonetError, EchonetUsageError, require_extra
from ..frame import Property
from ..node.config import NodeConfig
from ..node.events import Event, PropertySet
from .common import EXIT_FAILED, EXIT_OK, dump, error, host_port

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
    known = {"bind", "port", "speed", "start", "devices", "device", "tick"}
    unknown = sorted(set(loaded) - known)
    if unknown:
        raise EchonetUsageError(
            f"config {path}: unknown key(s) {', '.join(unknown)}; known: {', '.join(sorted(known))}"
        )
    return loaded


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
    speed = args.speed if args.speed is not None else float(config.get("speed", 1.0))
    if not speed > 0:
        raise EchonetUsageError("--speed must be positive")
    port = args.port if args.port is not None else int(config.get("port", ECHONET_PORT))
    if not 0 <= port <= 0xFFFF:
        raise EchonetUsageError(f"port {port} out of range")
    return {
        "devices": entries,
        "bind": args.bind or config.get("bind", "0.0.0.0"),
        "port": port,
        "speed": speed,
        "start": start,
        "tick": float(config.get("tick", args.tick)),
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


async def _open_server(args: argparse.Namespace, settings: dict[str, Any], devices: list[Any], clock: SimClock) -> Any:
    """The node serving the devices; with ``--secure`` behind the secure overlay (:mod:`echonet.cli.secure_support`)."""
    from ..drready.host import SimHost

    bind = str(settings["bind"])
    v6 = ":" in bind
    endpoints = Endpoints(bind_v4=None if v6 else bind, bind_v6=bind if v6 else None, port=int(settings["port"]))
    prepare = None
    if getattr(args, "secure", False):
        from .secure_support import attach_secure_server

        def prepare(runner: NodeRunner) -> object:  # the layer is in place before the start-up announcement
            return attach_secure_server(args, runner)

    try:
        host = await SimHost.open(
            devices,
            endpoints,
            clock=clock,
            config=NodeConfig(port=int(settings["port"]) or ECHONET_PORT),
            tick_interval=settings["tick"],
            prepare=prepare,
        )
    except OSError as exc:
        raise EchonetError(f"cannot bind {bind} port {settings['port']}: {exc.strerror or exc}") from None
    return host


def _typed(registry: Any, class_id: int, props: Sequence[Property]) -> list[dict[str, Any]]:
    return [property_json(registry.decode_value(class_id, p.epc, p.edt)) for p in props]


def _prop_text(item: dict[str, Any]) -> str:
    value = item.get("value", item["edt"])
    unit = f" {item['unit']}" if "unit" in item else ""
    mark = " [non-standard]" if item.get("standard") is False else ""
    return f"{item['epc']} {item.get('key', item['name'])}={value}{unit}{mark}"


def _cmd_serve(args: argparse.Namespace) -> int:
    from ..drready.sim import sim_registry

    settings = _serve_settings(args)
    clock = SimClock(settings["start"], settings["speed"])
    devices = _build_devices(settings["devices"], clock)
    registry = sim_registry()
    out = sys.stdout

    def emit(record: dict[str, Any], text: str) -> None:
        if args.json:
            dump(record, out)
        else:
            print(text, file=out)
        out.flush()

    def sim_text() -> str:
        return wall_time(clock.now()).isoformat(timespec="seconds")

    def on_announce(device: Any, props: tuple[Property, ...]) -> None:
        items = _typed(registry, device.class_id, props)
        emit(
            {"event": "inf", "sim_time": sim_text(), "eoj": str(device.eoj), "properties": items},
            f"{sim_text()}  INF  {device.eoj}  " + ", ".join(_prop_text(i) for i in items),
        )

    def on_refused(device: Any, epc: int, edt: bytes, reason: str) -> None:
        item = _typed(registry, device.class_id, [Property(epc, edt)])[0]
        emit(
            {
                "event": "set_refused",
                "sim_time": sim_text(),
                "eoj": str(device.eoj),
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
                    "peer": host_port(event.addr),
                    "eoj": str(event.eoj),
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
            node = host.server.node
            addresses = [host_port(a) for a in host.addresses]
            record = {
                "event": "serving",
                "addresses": addresses,
                "node_identification": node.profile.identification.hex(),
                "speed": settings["speed"],
                "sim_time": sim_text(),
                "devices": [
                    {
                        "eoj": str(d.eoj),
                        "kind": d.kind,
                        "identification": d.identification.hex(),
                        "get_map": [f"0x{e:02X}" for e in sorted(d.get_map)],
                        "set_map": [f"0x{e:02X}" for e in sorted(d.set_map)],
                    }
                    for d in devices
                ],
            }
            lines = [
                f"serving {len(devices)} simulated device(s) on {', '.join(addresses)} "
                f"(node 0x83 {record['node_identification']}; simulated time {sim_text()}, x{settings['speed']:g})"
            ]
            lines += [f"  {d.eoj}  {d.kind:<20} 0x83 {d.identification.hex()}" for d in devices]
            lines += [f"  warning: {w}" for w in host.server.runner.warnings]
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


class _LiveView:
    """The progress view: one updating line on a terminal, a plain line per simulated hour otherwise."""

    def __init__(self, out: TextIO | None, tty: bool) -> None:
        self.out = out
        self.tty = tty
        self.last_hour: int | None = None
        self.width = 0

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
            bar = "#" * int(fraction * 20)
            text = f"\r[{bar:<20}] {line}"
            pad = max(0, self.width - len(text))
            self.width = len(text)
            self.out.write(text + " " * pad)
            self.out.flush()
        elif when.hour != self.last_hour:
            self.last_hour = when.hour
            print(line, file=self.out, flush=True)

    def finish(self) -> None:
        if self.out is not None and self.tty and self.width:
            self.out.write("\r" + " " * self.width + "\r")
            self.out.flush()


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
    return lines


def _cmd_demo(args: argparse.Namespace) -> int:
    from ..drready.demo import plot_demo

    json_to_stdout = args.json == "-"
    text_out: TextIO | None = None if json_to_stdout else sys.stdout
    # the live view: an updating line on a terminal; plain hourly lines with the text output otherwise
    view_out = sys.stderr if json_to_stdout else sys.stdout
    tty = view_out.isatty()
    view = _LiveView(None, False) if args.no_progress or (json_to_stdout and not tty) else _LiveView(view_out, tty)
    config = _demo_config(args)
    if args.plot:
        require_extra("matplotlib", "plot", "the plot (--plot '' for none)")
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
    plot_path = None
    if args.plot != "":
        plot_path = plot_demo(result, args.plot)
    if args.json:
        data = result.to_json()
        if plot_path is not None:
            data["plot"] = str(plot_path)
        if secured is not None:
            data["secure"] = secured.to_json()
        if json_to_stdout:
            dump(data)
        else:
            try:
                Path(args.json).write_text(json.dumps(data, indent=1) + "\n", encoding="utf-8")
            except OSError as exc:
                raise EchonetError(f"cannot write {args.json}: {exc.strerror or exc}") from None
    if text_out is not None:
        if secured is not None:
            print("\n".join(secured.device_lines()) + "\n", file=text_out)
        print("\n".join(_result_lines(result)), file=text_out)
        if secured is not None:
            print("\n".join(secured.audit_lines()), file=text_out)
        if plot_path is not None:
            print(f"plot: {plot_path}", file=text_out)
        if args.json and not json_to_stdout:
            print(f"results: {args.json}", file=text_out)
    secure_ok = secured is None or (secured.audit_ok and secured.battery_audit_ok)
    return EXIT_OK if all(c.ok for c in result.commands) and secure_ok else EXIT_FAILED


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
    p.add_argument("--bind", metavar="ADDR", help="local address (default 0.0.0.0; an IPv6 address binds IPv6)")
    p.add_argument("--port", type=int, help="UDP port (default 3610; 0 = ephemeral)")
    p.add_argument("--speed", type=float, help="simulated seconds per real second (default 1)")
    p.add_argument("--start", metavar="ISO", help="simulated start time, local (default: now)")
    p.add_argument("--tick", type=float, default=0.5, help="seconds between model updates and INFs (default 0.5)")
    p.add_argument("--duration", type=float, metavar="SECONDS", help="stop after this many seconds")
    p.add_argument("--json", action="store_true", help="JSON lines: serving, then every Set received and INF sent")
    from .secure_support import add_secure_arguments

    add_secure_arguments(p)
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
        "--speed", type=float, default=DEFAULT_SPEED, help=f"simulated seconds per second ({DEFAULT_SPEED:g})"
    )
    p.add_argument("--plot", default="echonet-demo.png", metavar="FILE.png", help="PNG to write ('' for none)")
    p.add_argument("--json", metavar="FILE|-", help="write the results as JSON (- for stdout)")
    p.add_argument("--no-progress", action="store_true", help="no live progress view")
    p.add_argument("--bind-base", default="127.0.0.100", metavar="127.0.0.X", help="aggregator address; devices +1..+3")
    p.add_argument("--port", type=int, default=ECHONET_PORT, help="devices' port (3610; falls back to ephemeral)")
    p.add_argument(
        "--secure",
        action="store_true",
        help="the day with the battery secured (EDHOC + OSCORE) and the water heaters legacy, written to with "
        "scoped, time-limited consent; audit log counts at the end",
    )
    p.set_defaults(handler=_cmd_demo)


__all__ = ["register"]
