"""``echonet discover | get | set | watch | doctor``: talk to ECHONET Lite nodes from the command line.

Exit codes, on top of :mod:`echonet.cli.common`'s 0 (success), 1 (failed) and 2 (bad usage):

* 3 (:data:`EXIT_REFUSED`): the device answered but refused some EPCs (Get_SNA, SetC_SNA, SetI_SNA) or left some
  unanswered; what it did answer is printed.
* 4 (:data:`EXIT_TIMEOUT`): no answer within ``--timeout`` seconds per attempt, ``--retries`` included.

Arguments are checked (host, EOJ, EPC, value and its range) before anything is sent: a bad one is one line on stderr
and exit code 2. Network trouble (a timeout, an address that cannot be bound) is one line too, never a traceback.

The sockets come from :func:`_open_controller` (one place where later options such as a secure overlay plug in).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import difflib
import errno
import ipaddress
import json
import re
import socket
import time
from collections.abc import Coroutine, Sequence
from dataclasses import dataclass, replace
from typing import Any

from ..aio import (
    Controller,
    DiscoveredNode,
    EchonetTimeoutError,
    Endpoints,
    GetResult,
    SetResult,
    run,
)
from ..describe import class_name, property_json
from ..errors import EchonetUsageError
from ..frame import EOJ, esv_name
from ..node import ECHONET_PORT, Node, NodeConfig, NotificationReceived, is_multicast
from ..spec.model import PropertyDef
from ..spec.registry import DecodedValue, Registry
from ..spec.types import Enum, Number, Object, OneOf, ValueType
from .args import count, peer_port, port, positive_seconds
from .common import EXIT_FAILED, EXIT_OK, EXIT_USAGE, CommandFailed, dump, error, note
from .common import registry as registry_of

EXIT_REFUSED = 3
EXIT_TIMEOUT = 4

#: Other spellings of the tables' units accepted after a number (``60C``, ``60°C``).
_UNIT_ALIASES: dict[str, tuple[str, ...]] = {"Celsius": ("°C", "degC", "C")}
_HEX_EPC = re.compile(r"^(?:0x)?([0-9a-f]{2})$", re.IGNORECASE)


# ------------------------------------------------------------------------------------------------ argument parsing


def _fold(text: str) -> str:
    return re.sub(r"[^a-z0-9]", "", text.lower())


def parse_eoj(text: str, registry: Registry) -> EOJ:
    """``027D01``, ``0x027D01``, ``02-7D-01``, or ``CLASS[:INSTANCE]`` with CLASS a code (``0x027D``) or a name
    (``storage_battery``, ``storageBattery``, ``"storage battery"``) and INSTANCE decimal or ``0x``-hex (default 1)."""
    t = text.strip()
    with contextlib.suppress(EchonetUsageError):
        return EOJ.parse(t)
    head, sep, tail = t.rpartition(":")
    cls_text, instance_text = (head, tail) if sep else (t, "1")
    try:
        cls = registry.find_class(cls_text)
    except EchonetUsageError as exc:
        raise EchonetUsageError(
            f"{text!r} is not an EOJ (give 027D01, 0x027D01, 02-7D-01 or CLASS:INSTANCE such as "
            f"storage_battery:1): {exc}"
        ) from None
    try:
        instance = int(instance_text.strip(), 0)
    except ValueError:
        raise EchonetUsageError(f"{text!r}: instance {instance_text!r} is not a number (1, 2, 0x1F)") from None
    if not 0 <= instance <= 0x7F:
        raise EchonetUsageError(f"{text!r}: instance {instance} out of range 0-127 (0x00-0x7F)")
    return EOJ.of(cls.class_id, instance)


def parse_epc(text: str, eoj: EOJ, registry: Registry) -> int:
    """``0xE4`` / ``E4``, or a property's short name (``remainingCapacity3``) or English name, case-insensitive."""
    t = text.strip()
    m = _HEX_EPC.match(t)
    if m:
        epc = int(m.group(1), 16)
        if epc < 0x80:
            raise EchonetUsageError(f"EPC {t!r} out of range 0x80-0xFF")
        return epc
    props = registry.properties(eoj.class_id)
    folded = _fold(t)
    found = {d.epc for d in props.values() if folded in (_fold(d.key), _fold(d.name))}
    if len(found) == 1:
        return found.pop()
    where = f"class 0x{eoj.class_id:04X} ({class_name(registry, eoj)})"
    if found:
        listed = ", ".join(f"0x{e:02X}" for e in sorted(found))
        raise EchonetUsageError(f"{text!r} names several properties of {where}: {listed}; give the EPC in hex")
    close = difflib.get_close_matches(t, [d.key for d in props.values()], n=3, cutoff=0.6)
    hint = f"; did you mean {' or '.join(close)}?" if close else ""
    raise EchonetUsageError(
        f"{where} has no property {text!r}{hint} (see `echonet spec 0x{eoj.class_id:04X}`, or give the EPC in hex)"
    )


def _options(t: ValueType) -> list[ValueType]:
    return list(t.options) if isinstance(t, OneOf) else [t]


def _strip_unit(t: ValueType, text: str) -> str:
    lower = text.lower()
    for option in _options(t):
        if isinstance(option, Number) and option.unit:
            for unit in (option.unit, *_UNIT_ALIASES.get(option.unit, ())):
                if lower.endswith(unit.lower()) and len(text) > len(unit):
                    return text[: -len(unit)].strip()
    return text


def _typed_value(t: ValueType, text: str) -> Any:
    """Command-line text to the Python value ``t.encode`` takes (enum names case-insensitive, units optional)."""
    for option in _options(t):
        if isinstance(option, Enum):
            for name in option.values.values():
                if name.lower() == text.lower():
                    return name
    if text[:1] in "[{" and (isinstance(t, Object) or t.kind == "array"):
        try:
            return json.loads(text)
        except ValueError as exc:
            raise EchonetUsageError(f"{text!r} is not JSON: {exc}") from None
    return t.parse_text(_strip_unit(t, text))


def _hex_value(text: str) -> bytes:
    cleaned = "".join(text.split()).replace(":", "").replace("-", "")
    try:
        return bytes.fromhex(cleaned)
    except ValueError:
        raise EchonetUsageError(f"{text!r} is not hex data") from None


def encode_value(definition: PropertyDef | None, epc: int, text: str, *, force: bool = False) -> bytes:
    """The EDT for ``EPC=VALUE``: ``hex:...`` or ``0x...`` as raw bytes, anything else typed through the tables.

    The EDT is checked against the property's type and Set rule (unless ``force``): a value the device must refuse
    is an :class:`EchonetUsageError`, before anything is sent.
    """
    t = text.strip()
    label = f"0x{epc:02X}" if definition is None else f"{definition.key} (0x{epc:02X})"
    if t.lower().startswith("hex:"):
        edt = _hex_value(t[4:])
    elif t.lower().startswith("0x"):
        edt = _hex_value(t[2:])
    elif definition is None:
        raise EchonetUsageError(f"no table defines EPC 0x{epc:02X} here: give its value as hex (0x0102 or hex:0102)")
    else:
        try:
            edt = definition.type.encode(_typed_value(definition.type, t))
        except EchonetUsageError as exc:
            raise EchonetUsageError(f"bad value {text!r} for {label}: {exc}") from None
    if not edt:
        raise EchonetUsageError(f"{label}: empty value")
    if len(edt) > 255:
        raise EchonetUsageError(f"{label}: {len(edt)} bytes, at most 255 fit a property")
    if definition is not None and not force:
        if not definition.access.set.applicable:
            raise EchonetUsageError(f"{label} is not settable in this class (--force sends it anyway)")
        reason = definition.type.check(edt)
        if reason is not None:
            raise EchonetUsageError(f"bad value {text!r} for {label}: {reason} (--force sends it anyway)")
    return edt


def resolve_host(text: str) -> str:
    """An IP address (IPv6 with an optional ``%scope``), or a name resolved to one (IPv4 preferred)."""
    t = text.strip()
    try:
        ipaddress.ip_address(t.split("%", 1)[0])
    except ValueError:
        pass
    else:
        return t
    try:
        infos = socket.getaddrinfo(t, None, type=socket.SOCK_DGRAM)
    except (socket.gaierror, UnicodeError) as exc:
        reason = exc.strerror if isinstance(exc, socket.gaierror) else str(exc)
        raise EchonetUsageError(f"cannot resolve host {text!r}: {reason}") from None
    infos.sort(key=lambda info: info[0] != socket.AF_INET)
    return str(infos[0][4][0])


def _is_v6(host: str) -> bool:
    return ":" in host


# ------------------------------------------------------------------------------------------------- opening sockets


@dataclass(frozen=True)
class _Plan:
    """How to open the controller: endpoints, node configuration and whether an in-use local port may fall back
    to an ephemeral one."""

    endpoints: Endpoints
    config: NodeConfig
    fallback: bool


def _plan(args: argparse.Namespace, *, peer: str | None = None, multicast: bool = False) -> _Plan:
    bind: str | None = args.bind
    if bind is not None:
        try:
            ipaddress.ip_address(bind.split("%", 1)[0])
        except ValueError:
            raise EchonetUsageError(f"--bind {bind!r} is not an IP address of this host") from None
    if peer is not None:
        want_v6 = _is_v6(peer)
        if bind is not None and _is_v6(bind) != want_v6:
            raise EchonetUsageError(f"--bind {bind} and host {peer} are not of the same IP version")
        bind_v4 = None if want_v6 else (bind or "0.0.0.0")
        bind_v6 = (bind or "::") if want_v6 else None
    else:
        bind_v4 = None if bind is not None and _is_v6(bind) else (bind or "0.0.0.0")
        bind_v6 = bind if bind is not None and _is_v6(bind) else ("::" if getattr(args, "ipv6", False) else None)
    local_port = ECHONET_PORT if args.local_port is None else args.local_port
    endpoints = Endpoints(
        bind_v4=bind_v4,
        bind_v6=bind_v6,
        port=local_port,
        interfaces=tuple(getattr(args, "interface", None) or ()),
        join_multicast=None if multicast else False,
    )
    timeout = getattr(args, "timeout", None) or 3.0
    config = NodeConfig(timeout=timeout, retries=getattr(args, "retries", 1), port=args.port)
    return _Plan(endpoints, config, fallback=args.local_port is None)


async def _controller(args: argparse.Namespace, endpoints: Endpoints, node: Node) -> Controller:
    """A plain controller, or with ``--secure`` one behind the secure overlay (imported only then)."""
    if getattr(args, "secure", False):
        from .secure_support import open_secure_controller

        return await open_secure_controller(args, endpoints, node=node)
    return await Controller.open(endpoints, node=node)


async def _open_controller(args: argparse.Namespace, plan: _Plan) -> Controller:
    """Open the controller's sockets; port 3610 in use falls back to an ephemeral port when allowed."""
    registry = registry_of(args)
    try:
        ctl = await _controller(args, plan.endpoints, Node(config=plan.config, registry=registry))
    except OSError as exc:
        if not (plan.fallback and exc.errno == errno.EADDRINUSE and plan.endpoints.port != 0):
            raise
        note(
            f"local port {plan.endpoints.port} is in use: sending from an ephemeral port (devices that answer "
            f"to port {plan.endpoints.port} only will not be heard; --local-port chooses the port)"
        )
        ctl = await _controller(args, replace(plan.endpoints, port=0), Node(config=plan.config, registry=registry))
    for warning in ctl.runner.warnings:
        note(f"warning: {warning}")
    return ctl


def _os_error_text(exc: OSError, args: argparse.Namespace) -> tuple[str, int]:
    reason = exc.strerror or str(exc)
    where = f"{args.bind or 'the wildcard address'} port {ECHONET_PORT if args.local_port is None else args.local_port}"
    if exc.errno == errno.EADDRNOTAVAIL:
        return f"cannot bind {where}: {reason} (--bind takes an address of this host)", EXIT_USAGE
    if exc.errno == errno.EADDRINUSE:
        hint = "--bind an address of your own" if args.handler is _cmd_watch else "try --local-port 0"
        return f"cannot bind {where}: {reason} (another program holds it; {hint})", EXIT_FAILED
    if exc.errno in (errno.EACCES, errno.EPERM):
        return f"network access refused: {reason}", EXIT_FAILED
    return f"network error: {reason}", EXIT_FAILED


def _timeout_text(exc: EchonetTimeoutError, registry: Registry, timeout: float) -> str:
    addr = getattr(exc, "addr", None)
    eoj = getattr(exc, "eoj", None)
    attempts = getattr(exc, "attempts", None)
    if addr is None or eoj is None or attempts is None:
        return f"timeout: {exc}"
    return (
        f"timeout: no answer from {addr[0]} port {addr[1]} for {eoj} ({class_name(registry, eoj)}) after "
        f"{attempts} attempt(s) of {timeout:g} s"
    )


def _execute(args: argparse.Namespace, work: Coroutine[Any, Any, int]) -> int:
    """Run one command's coroutine; timeouts and socket errors become :class:`CommandFailed` (one line, a code)."""
    try:
        return run(work)
    except EchonetTimeoutError as exc:
        text = _timeout_text(exc, registry_of(args), getattr(args, "timeout", None) or 3.0)
        raise CommandFailed(text, EXIT_TIMEOUT) from None
    except OSError as exc:
        raise CommandFailed(*_os_error_text(exc, args)) from None
    except ModuleNotFoundError as exc:  # netifaces, for --interface
        text = f"--interface needs the {exc.name} module (pip install netifaces-plus)"
        raise CommandFailed(text, EXIT_FAILED) from None


# ---------------------------------------------------------------------------------------------------- formatting


def _value_json(dv: DecodedValue) -> dict[str, Any]:
    out = property_json(dv)
    unit = dv.unit
    if unit and "value" in out:
        out["unit"] = unit
    return out


def _value_text(dv: DecodedValue) -> str:
    if not dv.edt:
        return ""
    if dv.definition is None:
        return "(raw)"
    if dv.error is not None:
        return f"(does not fit its definition: {dv.error})"
    value = dv.json_value()
    if isinstance(value, list):
        return ", ".join(str(v) for v in value) if value else "(none)"
    if isinstance(value, dict):
        return ", ".join(f"{k}={v}" for k, v in value.items())
    unit = dv.unit
    return f"{value} {unit}" if unit else str(value)


def _table(rows: Sequence[Sequence[str]], indent: str = "  ") -> list[str]:
    if not rows:
        return []
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return [(indent + "  ".join(cell.ljust(widths[i]) for i, cell in enumerate(row))).rstrip() for row in rows]


def _heading(registry: Registry, eoj: EOJ, addr: tuple[Any, ...]) -> str:
    return f"{eoj} {class_name(registry, eoj)} at {addr[0]} port {addr[1]}"


# ----------------------------------------------------------------------------------------------------------- get


def _cmd_get(args: argparse.Namespace) -> int:
    registry = registry_of(args)
    host = resolve_host(args.host)
    eoj = parse_eoj(args.eoj, registry)
    epcs = list(dict.fromkeys(parse_epc(e, eoj, registry) for e in args.epc))
    plan = _plan(args, peer=host)
    return _execute(args, _get(args, plan, host, eoj, epcs, registry))


async def _get(args: argparse.Namespace, plan: _Plan, host: str, eoj: EOJ, epcs: list[int], registry: Registry) -> int:
    async with await _open_controller(args, plan) as ctl:
        target = (host, args.port)
        if eoj.instance == 0 or is_multicast(host):
            results = await ctl.get_all(target, eoj, epcs)
            if not results:
                error(
                    f"timeout: no {eoj} ({class_name(registry, eoj)}) at {host} answered in {plan.config.timeout:g} s"
                )
                return EXIT_TIMEOUT
        else:
            results = [await ctl.get(target, eoj, epcs)]
    status = EXIT_OK
    for i, result in enumerate(results):
        if not result.ok:
            status = EXIT_REFUSED
        if args.json:
            dump(_get_json(result, epcs, registry))
        else:
            if i:
                print()
            print("\n".join(_get_lines(result, epcs, registry)))
    return status


def _get_rows(result: GetResult, epcs: list[int]) -> list[tuple[int, bytes | None, str]]:
    """(EPC, EDT or None, outcome) in the order asked: ``ok``, ``refused``, ``unanswered`` or ``missing``."""
    rows: list[tuple[int, bytes | None, str]] = []
    for epc in epcs:
        if epc in result.values:
            rows.append((epc, result.values[epc], "ok"))
        elif epc in result.refused:
            rows.append((epc, None, "refused"))
        elif epc in result.unanswered:
            rows.append((epc, None, "unanswered"))
        else:
            rows.append((epc, None, "missing"))
    return rows


def _get_lines(result: GetResult, epcs: list[int], registry: Registry) -> list[str]:
    rows = [("EPC", "property", "value", "raw")]
    for epc, edt, outcome in _get_rows(result, epcs):
        if edt is None:
            definition = registry.property(result.eoj.class_id, epc)
            name = DecodedValue(epc, b"", definition, None).name
            rows.append((f"0x{epc:02X}", name, f"({outcome})", ""))
        else:
            dv = registry.decode_value(result.eoj.class_id, epc, edt)
            rows.append((f"0x{epc:02X}", dv.name, _value_text(dv), edt.hex()))
    lines = [_heading(registry, result.eoj, result.addr), *_table(rows)]
    if not result.ok:
        parts = []
        if result.refused:
            parts.append("refused " + ", ".join(f"0x{e:02X}" for e in result.refused))
        if result.unanswered:
            parts.append("no answer for " + ", ".join(f"0x{e:02X}" for e in result.unanswered))
        esv = esv_name(result.frame.esv) if result.frame is not None and result.frame.esv is not None else "answer"
        lines.append(f"partial answer ({esv}): " + "; ".join(parts))
    return lines


def _get_json(result: GetResult, epcs: list[int], registry: Registry) -> dict[str, Any]:
    props: list[dict[str, Any]] = []
    for epc, edt, outcome in _get_rows(result, epcs):
        dv = (
            registry.decode_value(result.eoj.class_id, epc, edt)
            if edt is not None
            else DecodedValue(epc, b"", registry.property(result.eoj.class_id, epc), None)
        )
        props.append({**_value_json(dv), "status": outcome})
    frame = result.frame
    return {
        "host": result.host,
        "port": result.addr[1],
        "eoj": str(result.eoj),
        "class": class_name(registry, result.eoj),
        "esv": esv_name(frame.esv) if frame is not None and frame.esv is not None else None,
        "ok": result.ok,
        "properties": props,
        "refused": [f"0x{e:02X}" for e in result.refused],
        "unanswered": [f"0x{e:02X}" for e in result.unanswered],
    }


# ----------------------------------------------------------------------------------------------------------- set


def _parse_assignments(texts: Sequence[str], eoj: EOJ, registry: Registry, force: bool) -> dict[int, bytes]:
    out: dict[int, bytes] = {}
    for text in texts:
        name, sep, value = text.partition("=")
        if not sep or not name.strip() or not value.strip():
            raise EchonetUsageError(f"{text!r}: give EPC=VALUE (e.g. operationMode=charging, 0xEB=3000W)")
        epc = parse_epc(name, eoj, registry)
        if epc in out:
            raise EchonetUsageError(f"EPC 0x{epc:02X} is given twice")
        out[epc] = encode_value(registry.property(eoj.class_id, epc), epc, value, force=force)
    return out


def _cmd_set(args: argparse.Namespace) -> int:
    registry = registry_of(args)
    host = resolve_host(args.host)
    eoj = parse_eoj(args.eoj, registry)
    if eoj.instance == 0 or is_multicast(host):
        raise EchonetUsageError("set addresses one object: give a unicast host and an instance from 1 (0x01)")
    props = _parse_assignments(args.assignments, eoj, registry, args.force)
    plan = _plan(args, peer=host)
    return _execute(args, _set(args, plan, host, eoj, props, registry))


async def _set(
    args: argparse.Namespace, plan: _Plan, host: str, eoj: EOJ, props: dict[int, bytes], registry: Registry
) -> int:
    async with await _open_controller(args, plan) as ctl:
        target = (host, args.port)
        if args.no_response:
            result = await ctl.set(target, eoj, props, confirm=False, wait_sna=True)
        else:
            result = await ctl.set(target, eoj, props)
    if args.json:
        dump(_set_json(result, props, registry, args.no_response))
    else:
        print("\n".join(_set_lines(result, props, registry)))
    return EXIT_OK if result.ok else EXIT_REFUSED


def _set_status(result: SetResult, epc: int) -> str:
    if epc in result.refused:
        return "refused"
    return "accepted" if result.confirmed else "sent"


def _set_lines(result: SetResult, props: dict[int, bytes], registry: Registry) -> list[str]:
    rows = [("EPC", "property", "value", "raw", "outcome")]
    for epc, edt in props.items():
        dv = registry.decode_value(result.eoj.class_id, epc, edt)
        rows.append((f"0x{epc:02X}", dv.name, _value_text(dv), edt.hex(), _set_status(result, epc)))
    lines = [_heading(registry, result.eoj, result.addr), *_table(rows)]
    if not result.confirmed:
        lines.append("SetI sent: no SetI_SNA came back, so no EPC was refused (success is silent)")
    elif result.refused:
        lines.append("refused " + ", ".join(f"0x{e:02X}" for e in result.refused))
    return lines


def _set_json(result: SetResult, props: dict[int, bytes], registry: Registry, seti: bool) -> dict[str, Any]:
    frame = result.frame
    return {
        "host": str(result.addr[0]),
        "port": result.addr[1],
        "eoj": str(result.eoj),
        "class": class_name(registry, result.eoj),
        "request": "SetI" if seti else "SetC",
        "esv": esv_name(frame.esv) if frame is not None and frame.esv is not None else None,
        "confirmed": result.confirmed,
        "ok": result.ok,
        "properties": [
            {**_value_json(registry.decode_value(result.eoj.class_id, epc, edt)), "status": _set_status(result, epc)}
            for epc, edt in props.items()
        ],
        "refused": [f"0x{e:02X}" for e in result.refused],
    }


# ------------------------------------------------------------------------------------------------------ discover


def _cmd_discover(args: argparse.Namespace) -> int:
    registry = registry_of(args)
    if args.rescans < 0:
        raise EchonetUsageError("--rescans must be 0 or more")
    targets = [resolve_host(t) for t in args.target or ()]
    plan = _plan(args, multicast=not targets)
    if targets:
        v6 = any(_is_v6(t) for t in targets)
        endpoints = plan.endpoints
        if v6 and endpoints.bind_v6 is None:
            endpoints = replace(endpoints, bind_v6="::")
        if not all(_is_v6(t) for t in targets) and endpoints.bind_v4 is None:
            endpoints = replace(endpoints, bind_v4="0.0.0.0")
        plan = replace(plan, endpoints=endpoints)
    return _execute(args, _discover(args, plan, targets, registry))


async def _discover(args: argparse.Namespace, plan: _Plan, targets: list[str], registry: Registry) -> int:
    async with await _open_controller(args, plan) as ctl:
        nodes = await ctl.discover(
            window=args.timeout,
            rescans=args.rescans,
            targets=[(t, args.port) for t in targets] if targets else None,
        )
    if args.json:
        dump({"nodes": [_node_json(n, registry) for n in nodes]})
    else:
        for i, node in enumerate(nodes):
            if i:
                print()
            print("\n".join(_node_lines(node, registry)))
    if not nodes:
        where = ", ".join(targets) if targets else "the multicast group"
        error(
            f"no node answered at {where} within {args.timeout:g} s x {1 + args.rescans} round(s) "
            f"(try a longer --timeout, --target HOST, or `echonet doctor`)"
        )
        return EXIT_FAILED
    return EXIT_OK


def _version_text(version: bytes | None) -> str | None:
    if version is None or len(version) < 2:
        return None
    return f"{version[0]}.{version[1]}"


def _node_json(node: DiscoveredNode, registry: Registry) -> dict[str, Any]:
    def epc_list(m: frozenset[int] | None) -> list[str] | None:
        return None if m is None else [f"0x{e:02X}" for e in sorted(m)]

    return {
        "host": node.host,
        "port": node.address[1],
        "addresses": list(node.addresses),
        "identification": node.identification.hex() if node.identification is not None else None,
        "manufacturer": node.maker_code.hex() if node.maker_code is not None else None,
        "version": _version_text(node.version),
        "instances": [str(e) for e in node.instances],
        "objects": [
            {
                "eoj": str(o.eoj),
                "class": class_name(registry, o.eoj),
                "get_map": epc_list(o.get_map),
                "set_map": epc_list(o.set_map),
                "announce_map": epc_list(o.announce_map),
                **({"error": o.error} if o.error else {}),
            }
            for o in node.objects
        ],
    }


def _node_lines(node: DiscoveredNode, registry: Registry) -> list[str]:
    ident = node.identification.hex() if node.identification is not None else "(none)"
    maker = f"0x{node.maker_code.hex().upper()}" if node.maker_code is not None else "(unknown)"
    others = [a for a in node.addresses if a != node.host]
    head = f"{node.host} port {node.address[1]}" + (f" (also {', '.join(others)})" if others else "")
    lines = [head, f"  identification 0x83  {ident}", f"  manufacturer 0x8A    {maker}"]
    version = _version_text(node.version)
    if version:
        lines.append(f"  ECHONET Lite version {version}")
    if node.objects:
        rows = [("EOJ", "class", "get", "set", "anno", "")]
        for o in node.objects:
            rows.append(
                (
                    str(o.eoj),
                    class_name(registry, o.eoj),
                    "-" if o.get_map is None else str(len(o.get_map)),
                    "-" if o.set_map is None else str(len(o.set_map)),
                    "-" if o.announce_map is None else str(len(o.announce_map)),
                    o.error or "",
                )
            )
        lines += _table(rows)
    else:
        lines.append("  objects: " + (", ".join(f"{e} {class_name(registry, e)}" for e in node.instances) or "(none)"))
    return lines


# --------------------------------------------------------------------------------------------------------- watch


def _cmd_watch(args: argparse.Namespace) -> int:
    registry = registry_of(args)
    if args.duration is not None and args.duration <= 0:
        raise EchonetUsageError("--duration must be positive")
    plan = _plan(args, multicast=True)
    plan = replace(plan, fallback=False)
    try:
        return _execute(args, _watch(args, plan, registry))
    except KeyboardInterrupt:
        return EXIT_OK


async def _watch(args: argparse.Namespace, plan: _Plan, registry: Registry) -> int:
    async with await _open_controller(args, plan) as ctl:
        where = ", ".join(f"{a[0]} port {a[1]}" for a in ctl.runner.local_addresses.values())
        until = f"for {args.duration:g} s" if args.duration is not None else "until Ctrl-C"
        note(f"listening on {where} {until}")
        notes = ctl.notifications()
        try:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(args.duration):
                    async for received in notes:
                        _print_notification(received, registry, args.json)
        finally:
            await notes.aclose()
    return EXIT_OK


def _print_notification(received: NotificationReceived, registry: Registry, as_json: bool) -> None:
    frame, now = received.frame, time.time()
    seoj = frame.seoj
    esv = esv_name(frame.esv) if frame.esv is not None else "?"
    class_id = seoj.class_id if seoj is not None else -1
    for prop in frame.properties:
        dv = (
            registry.decode_value(class_id, prop.epc, prop.edt)
            if prop.edt
            else DecodedValue(prop.epc, b"", registry.property(class_id, prop.epc), None)
        )
        if as_json:
            record = {
                "time": round(now, 6),
                "host": str(received.addr[0]),
                "port": received.addr[1],
                "esv": esv,
                "seoj": str(seoj) if seoj is not None else None,
                "class": class_name(registry, seoj),
                **_value_json(dv),
            }
            print(json.dumps(record, ensure_ascii=False, separators=(",", ":")), flush=True)
        else:
            stamp = time.strftime("%H:%M:%S", time.localtime(now)) + f".{int(now * 1000) % 1000:03d}"
            value = _value_text(dv)
            print(
                f"{stamp}  {received.addr[0]}  {esv}  {seoj} {class_name(registry, seoj)}  0x{prop.epc:02X} {dv.name}"
                + (f" = {value}" if value else "")
                + (f"  [{prop.edt.hex()}]" if prop.edt else ""),
                flush=True,
            )


# -------------------------------------------------------------------------------------------------------- doctor


def _cmd_doctor(args: argparse.Namespace) -> int:
    from .. import netif

    specs: list[str | None] = list(args.interface or []) or [None]
    try:
        findings: dict[netif.Finding, None] = {}
        for spec in specs:
            name, address = spec, args.bind
            if spec is not None:
                with contextlib.suppress(ValueError):
                    ipaddress.ip_address(spec.split("%", 1)[0])
                    name, address = None, spec
            for finding in netif.diagnose(name, address=address, port=args.port):
                findings.setdefault(finding)
    except ImportError as exc:
        error(f"doctor needs the {exc.name or 'netifaces'} module (pip install netifaces-plus)")
        return EXIT_FAILED
    ordered = sorted(findings, key=lambda f: -f.severity)
    errors = sum(1 for f in ordered if f.severity == netif.Severity.ERROR)
    if args.json:
        dump(
            {
                "ok": not errors,
                "findings": [
                    {
                        "code": f.code,
                        "severity": f.severity.name.lower(),
                        "message": f.message,
                        **({"interface": f.interface} if f.interface else {}),
                    }
                    for f in ordered
                ],
            }
        )
    else:
        for f in ordered:
            where = f" [{f.interface}]" if f.interface else ""
            print(f"{f.severity.name:<7}  {f.code}{where}: {f.message}")
        if not ordered:
            print("no problems found")
        else:
            warnings = sum(1 for f in ordered if f.severity == netif.Severity.WARNING)
            print(f"-- {errors} error(s), {warnings} warning(s)")
    return EXIT_FAILED if errors else EXIT_OK


# -------------------------------------------------------------------------------------------------------- parser


def _add_network(p: argparse.ArgumentParser, *, interfaces: bool, local_port: bool = True) -> None:
    p.add_argument("--bind", metavar="ADDR", help="local address to send from and listen on (e.g. 127.0.0.2)")
    p.add_argument("--port", type=peer_port, default=ECHONET_PORT, help="the peers' UDP port (default 3610)")
    if local_port:
        p.add_argument(
            "--local-port",
            type=port,
            metavar="N",
            help="local UDP port (default 3610, or an ephemeral one when 3610 is taken; 0: ephemeral)",
        )
    if interfaces:
        p.add_argument(
            "--interface",
            action="append",
            metavar="NAME|ADDR",
            help="network interface (name or one of its addresses) for multicast; repeatable",
        )
    p.add_argument("--json", action="store_true", help="JSON output")


def _add_request(p: argparse.ArgumentParser) -> None:
    p.add_argument("--timeout", type=positive_seconds, default=3.0, metavar="S", help="seconds per attempt (default 3)")
    p.add_argument("--retries", type=count, default=1, metavar="N", help="extra attempts (default 1)")


def _add_secure(p: argparse.ArgumentParser) -> None:
    from .secure_support import add_secure_arguments

    add_secure_arguments(p)


def register(subparsers: Any) -> None:
    """Add ``discover``, ``get``, ``set``, ``watch`` and ``doctor`` to the ``echonet`` command line."""
    codes = "exit codes: 0 ok, 1 failed, 2 bad usage, 3 refused or partial answer, 4 timeout"

    p = subparsers.add_parser(
        "discover",
        help="find nodes by multicast (or --target) and list their objects and property maps",
        epilog="exit codes: 0 found nodes, 1 none answered, 2 bad usage",
    )
    p.add_argument("--timeout", type=positive_seconds, default=1.0, metavar="S", help="seconds per round (default 1)")
    p.add_argument("--rescans", type=count, default=2, metavar="N", help="extra rounds (default 2)")
    p.add_argument("--retries", type=count, default=1, metavar="N", help="extra attempts of follow-up Gets")
    p.add_argument(
        "--target",
        action="append",
        metavar="HOST",
        help="ask this host by unicast instead of the multicast group (repeatable; for networks without multicast)",
    )
    p.add_argument(
        "--ipv6", action=argparse.BooleanOptionalAction, default=False, help="also search over IPv6 (ff02::1)"
    )
    _add_network(p, interfaces=True)
    p.set_defaults(handler=_cmd_discover)

    p = subparsers.add_parser(
        "get",
        help="read properties of one object (typed values with units)",
        epilog=codes,
    )
    p.add_argument("host", metavar="HOST", help="the node's address (instance 0 or a multicast address: every answer)")
    p.add_argument("eoj", metavar="EOJ", help="027D01, 0x027D01, 02-7D-01 or CLASS:INSTANCE (storage_battery:1)")
    p.add_argument("epc", nargs="+", metavar="EPC", help="0xE4, E4 or a property name (remainingCapacity3)")
    _add_request(p)
    _add_network(p, interfaces=False)
    _add_secure(p)
    p.set_defaults(handler=_cmd_get)

    p = subparsers.add_parser(
        "set",
        help="write properties of one object (SetC, or SetI with --no-response)",
        epilog=codes + ". VALUE: a number with or without unit (3000, 3000W), an enum name (charging, on), "
        "0x... or hex:... for the raw EDT, JSON for objects",
    )
    p.add_argument("host", metavar="HOST", help="the node's address")
    p.add_argument("eoj", metavar="EOJ", help="027D01, 0x027D01, 02-7D-01 or CLASS:INSTANCE (storage_battery:1)")
    p.add_argument("assignments", nargs="+", metavar="EPC=VALUE", help="e.g. operationMode=charging 0xEB=3000W")
    p.add_argument("--no-response", action="store_true", help="SetI: no answer unless refused (SetI_SNA)")
    p.add_argument("--force", action="store_true", help="send values the tables say the device must refuse")
    _add_request(p)
    _add_network(p, interfaces=False)
    _add_secure(p)
    p.set_defaults(handler=_cmd_set)

    p = subparsers.add_parser("watch", help="print INF / INFC notifications from any node as they arrive")
    p.add_argument(
        "--duration", type=positive_seconds, metavar="S", help="stop after S seconds (default: until Ctrl-C)"
    )
    p.add_argument(
        "--ipv6", action=argparse.BooleanOptionalAction, default=False, help="also listen over IPv6 (ff02::1)"
    )
    _add_network(p, interfaces=True)
    p.set_defaults(handler=_cmd_watch)

    p = subparsers.add_parser(
        "doctor",
        help="diagnose what stands in the way of ECHONET Lite on this host (interfaces, routes, rp_filter, firewall)",
        epilog="exit codes: 0 no error-level finding, 1 at least one",
    )
    _add_network(p, interfaces=True, local_port=False)
    p.set_defaults(handler=_cmd_doctor)
