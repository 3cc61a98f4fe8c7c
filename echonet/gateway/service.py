"""Running the gateway: the TOML configuration, and the loop that keeps the VEN and the device side going.

:func:`load_config` reads a TOML file (``tomllib``) into a :class:`ServiceConfig`; :func:`run_gateway` discovers the
devices, resumes the persisted state, runs the VEN and steps the gateway until ``duration`` or ``stop``, then ends
every running DR (the devices go back to their pre-event settings) and stops. docs/gateway.md lists the keys.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import tomllib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from ..aio import Controller
from ..errors import EchonetError, EchonetUsageError
from ..node.events import Addr
from ..spec.registry import Registry
from .engine import Gateway, GatewayConfig
from .timeline import Timeline
from .ven import GatewayVen, VenConfig


@dataclass(frozen=True)
class ServiceConfig:
    """Everything ``echonet gateway`` is told (file and flags)."""

    ven: VenConfig
    gateway: GatewayConfig = field(default_factory=GatewayConfig)
    targets: tuple[str, ...] = ()
    bind: str = "0.0.0.0"
    local_port: int = 0
    audit_log: str | None = None
    step_s: float = 0.2  #: real seconds between steps
    extra: dict[str, Any] = field(default_factory=dict)


_GATEWAY_KEYS = {
    "poll_interval": float,
    "renew_interval": float,
    "watchdog_s": int,
    "retries": int,
    "backup_reserve_wh": int,
}
_OPENADR_KEYS = ("ven_id", "cert", "key", "passphrase", "ca_file", "vtn_fingerprint")


def load_config(path: str | Path, **overrides: Any) -> ServiceConfig:
    """A TOML configuration file, with ``overrides`` (the command line's flags, None = not given) on top."""
    try:
        data = tomllib.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as exc:
        raise EchonetUsageError(f"cannot read config {path}: {exc.strerror or exc}") from None
    except tomllib.TOMLDecodeError as exc:
        raise EchonetUsageError(f"config {path}: {exc}") from None
    return config_from(data, **overrides)


def config_from(data: dict[str, Any], **overrides: Any) -> ServiceConfig:
    """A configuration from a TOML document's table (see :func:`load_config`)."""
    data = {**data, **{k: v for k, v in overrides.items() if v is not None}}
    vtn, ven = data.get("vtn_url") or data.get("vtn"), data.get("ven_name") or data.get("ven")
    if not vtn or not ven:
        raise EchonetUsageError("the gateway needs the VTN's URL and the VEN's name (--vtn URL --ven NAME)")
    openadr = dict(data.get("openadr") or {})
    unknown = set(openadr) - set(_OPENADR_KEYS)
    if unknown:
        raise EchonetUsageError(f"unknown [openadr] key(s): {', '.join(sorted(unknown))}")
    security = {k: str(openadr[k]) if openadr.get(k) is not None else None for k in _OPENADR_KEYS}
    ven_config = VenConfig(
        str(vtn),
        str(ven),
        ven_id=security["ven_id"],
        cert=security["cert"],
        key=security["key"],
        passphrase=security["passphrase"],
        ca_file=security["ca_file"],
        vtn_fingerprint=security["vtn_fingerprint"],
    )
    gw: dict[str, Any] = {}
    for key, kind in _GATEWAY_KEYS.items():
        if key in data:
            try:
                gw[key] = kind(data[key])
            except (TypeError, ValueError):
                raise EchonetUsageError(f"config: {key} = {data[key]!r} is not a number") from None
    if "consent" in data:
        gw["consent"] = tuple(str(c) for c in data["consent"])
    if data.get("state_file"):
        gw["state_file"] = str(data["state_file"])
    targets = data.get("targets") or data.get("target") or ()
    if isinstance(targets, str):
        targets = (targets,)
    return ServiceConfig(
        ven_config,
        replace(GatewayConfig(), **gw),
        tuple(str(t) for t in targets),
        str(data.get("bind", "0.0.0.0")),
        int(data.get("local_port", 0)),
        str(data["audit_log"]) if data.get("audit_log") else None,
    )


def parse_target(text: str) -> str | Addr:
    """``HOST`` or ``HOST:PORT`` (``[v6]:PORT``) as a discovery target."""
    if text.startswith("["):
        host, _, port = text[1:].partition("]")
        return (host, int(port.lstrip(":"))) if port else host
    if text.count(":") == 1:
        host, port = text.split(":")
        try:
            return (host, int(port))
        except ValueError:
            raise EchonetUsageError(f"target {text!r}: the port is not a number") from None
    return text


async def run_gateway(
    ctl: Controller,
    registry: Registry,
    config: ServiceConfig,
    *,
    duration: float | None = None,
    stop: asyncio.Event | None = None,
    timeline: Timeline | None = None,
    on_ready: Callable[[Gateway], None] | None = None,
    audit: Any = None,
    status_port: int | None = None,
) -> Gateway:
    """See the module documentation. Returns the gateway (its status) after it stopped. With ``status_port``, the
    status is served over HTTP on loopback (:func:`serve_status`) while the gateway runs."""
    tl = timeline if timeline is not None else Timeline.wall()
    gw = Gateway(ctl, registry, tl, config.gateway, audit=audit)
    targets: Sequence[str | Addr] = [parse_target(t) for t in config.targets]
    await gw.discover(targets or None)  # no host list: multicast discovery
    gw.resume()
    stop_event = stop if stop is not None else asyncio.Event()
    ven = GatewayVen(gw, config.ven)
    loop = asyncio.get_running_loop()
    status_server = await serve_status(gw, status_port) if status_port is not None else None
    ven_task = loop.create_task(ven.run(stop_event))
    watch_task = loop.create_task(gw.watch_notifications())
    if on_ready is not None:
        on_ready(gw)
    deadline = loop.time() + duration if duration is not None else None
    try:
        while not stop_event.is_set():
            await gw.step()
            if deadline is not None and loop.time() >= deadline:
                break
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(stop_event.wait(), config.step_s)
    finally:
        stop_event.set()
        watch_task.cancel()
        with contextlib.suppress(Exception, asyncio.CancelledError):
            await watch_task
        with contextlib.suppress(Exception):
            await asyncio.wait_for(ven_task, 10)
        await gw.close()
        if status_server is not None:
            await status_server.cleanup()
    return gw


async def serve_status(gw: Gateway, port: int, host: str = "127.0.0.1") -> Any:
    """Serve ``GET /status`` (and ``/``) on ``host:port`` (loopback): the gateway's status as JSON, the document
    ``echonet gateway status --json`` prints. Returns the aiohttp runner (``await runner.cleanup()`` stops it)."""
    from aiohttp import web

    async def status(request: web.Request) -> web.Response:
        return web.json_response(gw.status(), dumps=lambda d: json.dumps(d, default=str))

    app = web.Application()
    app.router.add_get("/", status)
    app.router.add_get("/status", status)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    try:
        await site.start()
    except OSError as exc:
        await runner.cleanup()
        raise EchonetError(f"cannot serve the status on {host}:{port}: {exc.strerror or exc}") from None
    return runner


__all__ = ["ServiceConfig", "config_from", "load_config", "parse_target", "run_gateway", "serve_status"]
