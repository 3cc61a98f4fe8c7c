"""``echonet gateway``: the DR gateway (OpenADR 2.0b VEN in, ECHONET Lite control out), and ``echonet gateway status``.

::

    echonet gateway --vtn http://vtn.example/OpenADR2/Simple/2.0b --ven home-1 --target 192.168.1.20 --state gw.json
    echonet gateway --config gateway.toml
    echonet gateway status --state gw.json [--json]

See docs/gateway.md: the mapping rules, the opt reasons, the reports, what happens when the VTN or a device goes away.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import signal
from pathlib import Path
from typing import Any

from ..aio import Controller, Endpoints
from ..errors import EchonetUsageError, require_extra
from ..node import Node, NodeConfig
from .args import port, positive_seconds
from .common import EXIT_FAILED, EXIT_OK, CommandFailed, dump, json_to_stdout
from .secure_support import add_secure_arguments


def _service_config(args: argparse.Namespace) -> Any:
    from ..gateway.service import config_from, load_config

    overrides: dict[str, Any] = {
        "vtn_url": args.vtn,
        "ven_name": args.ven,
        "targets": tuple(args.target) if args.target else None,
        "bind": args.bind,
        "local_port": args.local_port,
        "state_file": args.state,
        "audit_log": args.audit_log,
        "consent": tuple(args.consent) if args.consent else None,
    }
    if args.config:
        return load_config(args.config, **overrides)
    return config_from({}, **overrides)


async def _run(args: argparse.Namespace, config: Any) -> Any:
    from ..drready.sim import sim_registry
    from ..gateway.service import run_gateway

    registry = sim_registry()
    # with a host list the gateway talks unicast only; without one it discovers by multicast
    endpoints = Endpoints(
        bind_v4=config.bind, port=config.local_port, join_multicast=None if not config.targets else False
    )
    node = Node(config=NodeConfig(timeout=2.0, retries=2), registry=registry)
    if args.secure:
        from .secure_support import open_secure_controller

        ctl: Controller = await open_secure_controller(args, endpoints, node=node)
    else:
        ctl = await Controller.open(endpoints, node=node)
    audit = None
    if config.audit_log:
        from secure.audit import AuditLog

        audit = AuditLog(config.audit_log)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)

    def ready(gw: Any) -> None:
        if not json_to_stdout(args):
            names = ", ".join(f"{d.kind} {d.addr[0]} ({d.key})" for d in gw.devices.values()) or "none"
            print(f"echonet gateway: VEN {config.ven.ven_name} -> {config.ven.vtn_url}; devices: {names}", flush=True)

    try:
        return await run_gateway(
            ctl,
            registry,
            config,
            duration=args.duration,
            stop=stop,
            on_ready=ready,
            audit=audit,
            status_port=args.status_port,
        )
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)
        await ctl.close()
        if audit is not None:
            audit.close()


def _cmd_gateway(args: argparse.Namespace) -> int:
    if args.action == "status":
        return _cmd_status(args)
    require_extra("openleadr", "openadr", "echonet gateway")
    config = _service_config(args)
    # openleadr logs some failures on the root logger (an opt the VTN did not acknowledge): the status has them, the
    # terminal does not (only the command line prints)
    logging.getLogger().addHandler(logging.NullHandler())
    gw = asyncio.run(_run(args, config))
    status = gw.status()
    if json_to_stdout(args):
        dump(status)
    else:
        print("\n".join(status_lines(status)))
    return EXIT_OK


def _cmd_status(args: argparse.Namespace) -> int:
    if not args.state:
        raise EchonetUsageError("echonet gateway status needs --state FILE (the gateway's state file)")
    try:
        status = json.loads(Path(args.state).read_text(encoding="utf-8"))
    except OSError as exc:
        raise CommandFailed(f"cannot read the state file {args.state}: {exc.strerror or exc}", EXIT_FAILED) from None
    except ValueError as exc:
        raise CommandFailed(f"the state file {args.state} is not JSON: {exc}", EXIT_FAILED) from None
    status.pop("saved_events", None)
    if json_to_stdout(args):
        dump(status)
    else:
        print("\n".join(status_lines(status)))
    return EXIT_OK


def status_lines(status: dict[str, Any]) -> list[str]:
    """The gateway's status as text: VTN, devices, events with each device's opt and state, last reports."""
    lines = [f"gateway at {status.get('time')}: VTN {status.get('vtn')}", "devices:"]
    for d in status.get("devices", []):
        flags = "online" if d.get("online") else "OFFLINE"
        if d.get("legacy"):
            flags += ", legacy" + ("" if d.get("consent") else " without consent")
        lines.append(f"  {d['kind']:<20} {d['host']}:{d['port']} {d['eoj']} {d['resource_id']} ({flags})")
    lines.append("events:")
    for ev in status.get("events", []):
        lines.append(
            f"  {ev['event_id']} (mod {ev['modification_number']}) {ev['status']}: {ev['start']} - {ev['end']} "
            f"{', '.join(ev['signals'])}"
        )
        for key, run in ev.get("devices", {}).items():
            lines.append(
                f"    {key}: {run['opt']} ({run['reason']}), {run['state']}, delivered {run['delivered_wh']:.0f} Wh"
            )
    reports = status.get("reports_sent", [])
    lines.append(f"last reports: {len(reports)}")
    for r in reports[-5:]:
        lines.append(f"  {r}")
    return lines


def register(sub: Any) -> None:
    p = sub.add_parser(
        "gateway",
        help="DR gateway: OpenADR 2.0b events from a VTN drive ECHONET Lite devices; reports and opts go back",
        description="Run an OpenADR 2.0b VEN and an ECHONET Lite controller in one process (docs/gateway.md); "
        "'echonet gateway status --state FILE' shows a running or stopped gateway's events, devices and reports.",
    )
    p.add_argument("action", nargs="?", choices=("run", "status"), default="run", help="run (default) or status")
    p.add_argument("--config", metavar="FILE", help="TOML configuration (docs/gateway.md); flags override it")
    p.add_argument("--vtn", metavar="URL", help="the VTN's URL, e.g. http://127.0.0.1:8080/OpenADR2/Simple/2.0b")
    p.add_argument("--ven", metavar="NAME", help="this VEN's name")
    p.add_argument(
        "--target",
        action="append",
        metavar="HOST[:PORT]",
        help="a device host to control; repeatable (none: discover the devices by multicast)",
    )
    p.add_argument("--consent", action="append", metavar="HOST|ID", help="legacy device consented to (default all)")
    p.add_argument("--duration", type=positive_seconds, metavar="S", help="stop after S seconds (default: Ctrl-C)")
    p.add_argument("--bind", metavar="ADDR", help="local address for ECHONET Lite (default 0.0.0.0)")
    p.add_argument("--local-port", type=port, metavar="N", help="local UDP port (default 0: ephemeral)")
    p.add_argument("--state", metavar="FILE", help="state file: persisted events (resumed on restart) and status")
    p.add_argument("--audit-log", metavar="FILE", help="audit log of the DR writes to legacy devices")
    p.add_argument(
        "--status-port",
        type=port,
        metavar="N",
        help="serve the status (as 'status --json') over HTTP on 127.0.0.1:N while the gateway runs",
    )
    p.add_argument("--json", action="store_true", help="JSON output (docs/json.md)")
    add_secure_arguments(p)
    p.set_defaults(handler=_cmd_gateway)


__all__ = ["register", "status_lines"]
