"""``echonet discover | get | set | watch | doctor``: talk to ECHONET Lite nodes from the command line.

Exit codes, on top of :mod:`echonet.cli.common`'s 0 (success), 1 (failed) and 2 (bad usage):

* 3 (:data:`EXIT_REFUSED`): the device answered but refused some EPCs (Get_SNA, SetC_SNA, SetI_SNA) or left some
  unanswered, or answered from instance 0x00 of the class (taken as the object's refusal); what it did answer is
  printed.
* 4 (:data:`EXIT_TIMEOUT`): no valid answer within ``--timeout`` seconds per attempt, ``--retries`` included; what
  did arrive from the device (a malformed datagram, an answer that matched nothing) is named in the message.

Arguments are checked (host, EOJ, EPC, value and its range) before anything is sent: a bad one is one line on stderr
and exit code 2. Network trouble (a timeout, an address that cannot be bound) is one line too, never a traceback.

The local port is 3610 by default (devices that answer to port 3610 only, whatever the request's source port, are
heard), and ``--local-port N`` chooses another. When another program of this machine holds 3610 on the wildcard
address too (``echonet serve --bind 0.0.0.0``, another stack), a datagram to 3610 reaches only one of the two
sockets, so the command says so in one line: a request to one host by unicast (``get``/``set`` to a unicast
address, ``discover --target``) then goes from an ephemeral port, where devices answer (to the request's source
port); what must hear 3610 (discovery by multicast, a ``get`` to a multicast address, ``watch``) stays on it and
the line says what that costs and the fix. 3610 that cannot be bound at all falls back to an ephemeral port
(``watch``: an error).

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
import time
from collections import Counter
from collections.abc import Awaitable, Coroutine, Sequence
from dataclasses import dataclass, replace
from typing import Any, TypeVar

from ..aio import (
    Controller,
    DiscoveredNode,
    EchonetTimeoutError,
    Endpoints,
    GetResult,
    NodeRunner,
    SetResult,
    run,
)
from ..codec import decode
from ..describe import class_name, property_json, value_text
from ..errors import EchonetUsageError, FrameDecodeError
from ..frame import EOJ, ESV, Frame, esv_name
from ..node import ECHONET_PORT, Node, NodeConfig, NotificationReceived, host_key, is_multicast
from ..node.events import Addr, Dropped, Event
from ..spec.identity import version_of
from ..spec.model import PropertyDef
from ..spec.registry import DecodedValue, Registry
from ..spec.types import Array, Enum, Field, Level, Number, Object, OneOf, ValueType
from .args import count, parse_address, parse_eoj, parse_host, peer_port, peer_port_of, port, positive_seconds
from .common import (
    EXIT_FAILED,
    EXIT_OK,
    EXIT_USAGE,
    CommandFailed,
    address_json,
    dump,
    eoj_json,
    epc_list,
    fail,
    hex_text,
    json_to_stdout,
    maps_json,
    note,
    time_json,
    version_json,
    wildcard_holder,
    with_error,
)
from .common import registry as registry_of

EXIT_REFUSED = 3
EXIT_TIMEOUT = 4

T = TypeVar("T")

#: Other spellings of the tables' units accepted after a number (``60C``, ``60°C``).
_UNIT_ALIASES: dict[str, tuple[str, ...]] = {"Celsius": ("°C", "degC", "C")}
_HEX_EPC = re.compile(r"^(?:0x)?([0-9a-f]{2})$", re.IGNORECASE)
#: What another holder of port 3610 costs a request to one host sent from 3610 (``--local-port 3610``), and one to a
#: multicast address.
_UNICAST_SHARED = (
    "answers sent to port 3610 may go to it instead of this command (leave out --local-port: a request to one host "
    "then goes from an ephemeral port, and is answered there)"
)
_MULTICAST_SHARED = "answers sent to port 3610 may go to it instead of this command (give a unicast HOST)"

__all__ = ["EXIT_REFUSED", "EXIT_TIMEOUT", "encode_value", "parse_eoj", "parse_epc", "register"]


# ------------------------------------------------------------------------------------------------ argument parsing


def _fold(text: str) -> str:
    return re.sub(r"[^a-z0-9]", "", text.lower())


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


def _unbounded(t: ValueType) -> ValueType:
    """``t`` without its value range: what ``--force`` encodes with (a number still has to fit its bytes)."""
    if isinstance(t, Number):
        return replace(t, minimum=None, maximum=None, allowed=None)
    if isinstance(t, Level):
        return replace(t, maximum=0x100 - t.base)
    if isinstance(t, OneOf):
        return replace(t, options=tuple(_unbounded(o) for o in t.options))
    if isinstance(t, Array):
        return replace(t, item=_unbounded(t.item))
    if isinstance(t, Object):
        return replace(t, fields=tuple(Field(f.name, _unbounded(f.type)) for f in t.fields))
    return t


def _hex_value(text: str) -> bytes:
    cleaned = "".join(text.split()).replace(":", "").replace("-", "")
    try:
        return bytes.fromhex(cleaned)
    except ValueError:
        raise EchonetUsageError(f"{text!r} is not hex data") from None


def encode_value(definition: PropertyDef | None, epc: int, text: str, *, force: bool = False) -> bytes:
    """The EDT for ``EPC=VALUE``: ``hex:...`` or ``0x...`` as raw bytes, anything else typed through the tables.

    The EDT is checked against the property's type, its range and its Set rule: a value the device must refuse is an
    :class:`EchonetUsageError`, before anything is sent. With ``force`` a typed value is encoded without its range
    (it must still fit the property's bytes: 300 does not fit one byte) and neither the range nor the Set rule is
    checked.
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
        value_type = _unbounded(definition.type) if force else definition.type
        try:
            edt = value_type.encode(_typed_value(definition.type, t))
        except EchonetUsageError as exc:
            hint = "" if force else " (--force sends it anyway where it fits the property's bytes)"
            raise EchonetUsageError(f"bad value {text!r} for {label}: {exc}{hint}") from None
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


def _is_v6(host: str) -> bool:
    return ":" in host


def _target(args: argparse.Namespace) -> tuple[str, int]:
    """The HOST argument (``192.0.2.5``, ``[::1]:3610``, ``localhost:3611``) and ``--port`` as (IP, port)."""
    host, written_port = parse_host(args.host)
    return host, peer_port_of(written_port, args.port, ECHONET_PORT)


# ------------------------------------------------------------------------------------------------- opening sockets


@dataclass
class _Plan:
    """How to open the controller: endpoints and node configuration; whether the port is the default 3610, which
    may move to an ephemeral port (``fallback``: when 3610 cannot be bound, and for a request to one host also when
    another program holds 3610 on the wildcard address); whether the command asks one host by unicast
    (``unicast``); what another holder of 3610 costs where the command stays on 3610 (``shared``); and whether it
    did move (``ephemeral``, set on opening: a timeout then says what that costs)."""

    endpoints: Endpoints
    config: NodeConfig
    fallback: bool
    unicast: bool = False
    shared: str | None = None
    ephemeral: bool = False


def _local(args: argparse.Namespace) -> tuple[str | None, int | None]:
    """``--bind`` (``127.0.0.2``, ``[::1]``, ``127.0.0.2:3611``) and the local port it or ``--local-port`` gives."""
    if args.bind is None:
        return None, getattr(args, "local_port", None)
    bind, bind_port = parse_address(args.bind)
    explicit = getattr(args, "local_port", None)
    if bind_port is not None and explicit is not None and bind_port != explicit:
        raise EchonetUsageError(f"--bind says port {bind_port} and --local-port says {explicit}: give one")
    return bind, bind_port if bind_port is not None else explicit


def _plan(
    args: argparse.Namespace,
    *,
    peer: str | None = None,
    multicast: bool = False,
    unicast: bool = False,
    shared: str | None = None,
) -> _Plan:
    """The local port is ``--local-port`` (or the port of ``--bind``), else 3610 (see :class:`_Plan` for when it
    moves to an ephemeral port). ``unicast``: the command asks one host by unicast, whose answers come back to the
    request's source port (devices that answer to 3610 only aside). ``shared``: what another holder of 3610 costs
    the command, said in one line when one holds it."""
    bind, local_port = _local(args)
    if peer is not None:
        want_v6 = _is_v6(peer)
        if bind is not None and _is_v6(bind) != want_v6:
            raise EchonetUsageError(f"--bind {bind} and host {peer} are not of the same IP version")
        bind_v4 = None if want_v6 else (bind or "0.0.0.0")
        bind_v6 = (bind or "::") if want_v6 else None
    else:
        bind_v4 = None if bind is not None and _is_v6(bind) else (bind or "0.0.0.0")
        bind_v6 = bind if bind is not None and _is_v6(bind) else ("::" if getattr(args, "ipv6", False) else None)
    endpoints = Endpoints(
        bind_v4=bind_v4,
        bind_v6=bind_v6,
        port=ECHONET_PORT if local_port is None else local_port,
        interfaces=tuple(getattr(args, "interface", None) or ()),
        join_multicast=None if multicast else False,
    )
    timeout = getattr(args, "timeout", None) or 3.0
    peer_default = args.port if args.port is not None else ECHONET_PORT
    config = NodeConfig(timeout=timeout, retries=getattr(args, "retries", 1), port=peer_default)
    return _Plan(endpoints, config, fallback=local_port is None, unicast=unicast, shared=shared)


async def _controller(args: argparse.Namespace, endpoints: Endpoints, node: Node) -> Controller:
    """A plain controller, or with ``--secure`` one behind the secure overlay (imported only then)."""
    if getattr(args, "secure", False):
        from .secure_support import open_secure_controller

        return await open_secure_controller(args, endpoints, node=node)
    from ..aio.field import FieldConfig, FieldController  # the controller that learns each device (docs/controller.md)

    field = FieldConfig.for_requests(node.config.timeout, node.config.retries)
    return await FieldController.open(endpoints, node=node, field=field)


async def _open_controller(args: argparse.Namespace, plan: _Plan) -> Controller:
    """Open the controller's sockets. Another program holding 3610 on the wildcard address is said in one line: a
    request to one host then moves to an ephemeral port (where its answers come back), anything else says what the
    sharing costs. 3610 that cannot be bound falls back to an ephemeral port when the port is the default."""
    registry = registry_of(args)
    endpoints = plan.endpoints
    holder = await wildcard_holder(endpoints) if endpoints.port != 0 else None
    if holder is not None and plan.fallback and plan.unicast:
        note(
            f"UDP port {endpoints.port} of every address is held by {holder} as well: sending from an ephemeral "
            f"port, where answers come back (a device that answers to port {endpoints.port} only is not heard "
            "there; --local-port 3610 shares the port anyway)"
        )
        endpoints = replace(endpoints, port=0)
        plan.ephemeral = True
    elif holder is not None and plan.shared is not None:
        note(f"UDP port {endpoints.port} of every address is held by {holder} as well: {plan.shared}")
    try:
        ctl = await _controller(args, endpoints, Node(config=plan.config, registry=registry))
    except OSError as exc:
        if not (plan.fallback and exc.errno == errno.EADDRINUSE and endpoints.port != 0):
            raise
        note(
            f"local port {endpoints.port} is in use: sending from an ephemeral port (devices that answer "
            f"to port {endpoints.port} only will not be heard; --local-port chooses the port)"
        )
        plan.ephemeral = True
        ctl = await _controller(args, replace(endpoints, port=0), Node(config=plan.config, registry=registry))
    for warning in ctl.runner.warnings:
        note(f"warning: {warning}")
    return ctl


def _os_error_text(exc: OSError, args: argparse.Namespace, plan: _Plan | None) -> tuple[str, int]:
    reason = exc.strerror or str(exc)
    local_port = ECHONET_PORT if plan is None else 0 if plan.ephemeral else plan.endpoints.port
    where = f"{args.bind or 'the wildcard address'} port {local_port}"
    if exc.errno == errno.EADDRNOTAVAIL:
        return f"cannot bind {where}: {reason} (--bind takes an address of this host)", EXIT_USAGE
    if exc.errno == errno.EADDRINUSE:
        hint = "--bind an address of your own" if args.handler is _cmd_watch else "try --local-port 0"
        return f"cannot bind {where}: {reason} (another program holds it; {hint})", EXIT_FAILED
    if exc.errno in (errno.EACCES, errno.EPERM):
        return f"network access refused: {reason}", EXIT_FAILED
    return f"network error: {reason}", EXIT_FAILED


# ------------------------------------------------------------------------------------- what arrived from the target


def _decoded(data: bytes | None) -> Frame | None:
    if data is None:
        return None
    try:
        return decode(data)
    except FrameDecodeError:
        return None


def _props_text(frame: Frame) -> str:
    return ", ".join(f"0x{p.epc:02X}" + (f" [{p.edt.hex()}]" if p.edt else "") for p in frame.properties) or "none"


class _Refused(Exception):
    """The target answered our request from instance 0x00 of the class: taken as the object's refusal."""

    def __init__(self, frame: Frame, addr: Addr) -> None:
        super().__init__("refused from instance 0x00")
        self.frame = frame
        self.addr = addr


class _Witness:
    """What arrived from the target during a request that the node could not use (its ``Dropped`` events, with the
    datagram each was), so that a timeout says what did arrive instead of "no answer"; and an answer to our request
    from instance 0x00 of the class, taken as the object's refusal (:meth:`race` then ends the wait at once)."""

    def __init__(self, host: str, eoj: EOJ) -> None:
        self.host = host_key(host)
        self.eoj = eoj
        self.sent_tids: set[int] = set()
        self.last: dict[tuple[str, int], bytes] = {}
        self.dropped: list[tuple[Addr, str, Frame | None]] = []
        self.refusal: asyncio.Future[tuple[Frame, Addr]] | None = None

    def attach(self, runner: NodeRunner) -> None:
        self.refusal = runner.loop.create_future()
        runner.wiretap(self._tap)
        runner.on_event = self._on_event

    def _tap(self, direction: str, data: bytes, addr: Addr) -> None:
        if host_key(str(addr[0])) != self.host:
            return
        if direction == "out":
            if len(data) >= 4:
                self.sent_tids.add(int.from_bytes(data[2:4], "big"))
        else:
            self.last[(str(addr[0]), int(addr[1]))] = bytes(data)

    def _on_event(self, event: Event) -> None:
        if not isinstance(event, Dropped) or host_key(str(event.addr[0])) != self.host:
            return
        frame = _decoded(self.last.pop((str(event.addr[0]), int(event.addr[1])), None))
        self.dropped.append((event.addr, event.reason, frame))
        if frame is None or frame.seoj is None or frame.esv is None or self.refusal is None or self.refusal.done():
            return
        seoj, esv = frame.seoj, frame.esv
        answer = 0x50 <= esv <= 0x5F or (0x71 <= esv <= 0x7E and esv not in (ESV.INF, ESV.INFC))
        if (
            answer
            and frame.tid in self.sent_tids
            and seoj.class_id == self.eoj.class_id
            and seoj.instance == 0
            and self.eoj.instance != 0
        ):
            self.refusal.set_result((frame, event.addr))

    async def race(self, work: Awaitable[T]) -> T:
        """``work``'s result, unless the target answers from instance 0x00 first (:class:`_Refused`)."""
        task = asyncio.ensure_future(work)
        refusal = self.refusal
        if refusal is None:
            return await task
        waited: set[asyncio.Future[Any]] = {task, refusal}
        await asyncio.wait(waited, return_when=asyncio.FIRST_COMPLETED)
        if task.done() or not refusal.done():
            return task.result()
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await task
        frame, addr = refusal.result()
        raise _Refused(frame, addr)

    def arrived(self) -> str | None:
        """What arrived and could not be used, in a few words: ``2 malformed datagrams from 127.0.0.5 (offset 14:
        ...)``; ``None`` when nothing did."""
        if not self.dropped:
            return None
        groups: Counter[tuple[str, str, str]] = Counter()
        for addr, reason, frame in self.dropped:
            source = str(addr[0])
            if reason.startswith("malformed: "):
                groups[("malformed datagram", source, reason.removeprefix("malformed: "))] += 1
            elif reason.startswith("unexpected answer") and frame is not None and frame.esv is not None:
                what = f"{esv_name(frame.esv)} from {frame.seoj}, TID 0x{frame.tid:04X}, matching no request"
                groups[("unexpected answer", source, what)] += 1
            else:
                groups[("unusable datagram", source, reason)] += 1
        parts = []
        for (kind, source, detail), n in groups.items():
            parts.append(f"{n} {kind}{'s' if n > 1 else ''} from {source} ({detail})")
        return "; ".join(parts)

    def refusal_text(self, refused: _Refused, registry: Registry) -> str:
        frame, addr = refused.frame, refused.addr
        esv = esv_name(frame.esv) if frame.esv is not None else "an answer"
        return (
            f"{self.eoj} ({class_name(registry, self.eoj)}) at {addr[0]} port {addr[1]} refused: the answer came from "
            f"{frame.seoj} (instance 0x00), taken as the object's refusal: {esv} for {_props_text(frame)}"
        )


def _timeout_text(
    exc: EchonetTimeoutError, registry: Registry, timeout: float, witness: _Witness | None, plan: _Plan | None
) -> str:
    addr = getattr(exc, "addr", None)
    eoj = getattr(exc, "eoj", None)
    attempts = getattr(exc, "attempts", None)
    if addr is None or eoj is None or attempts is None:
        return f"timeout: {exc}"
    arrived = witness.arrived() if witness is not None else None
    text = (
        f"timeout: no {'valid ' if arrived else ''}answer from {addr[0]} port {addr[1]} for {eoj} "
        f"({class_name(registry, eoj)}) after {attempts} attempt(s) of {timeout:g} s"
    )
    if arrived:
        return f"{text}: {arrived}"
    if plan is not None and plan.ephemeral:
        text += " (sent from an ephemeral port: a device that answers to port 3610 only is not heard there)"
    return text


def _execute(
    args: argparse.Namespace,
    work: Coroutine[Any, Any, int],
    plan: _Plan | None = None,
    witness: _Witness | None = None,
) -> int:
    """Run one command's coroutine; timeouts and socket errors become :class:`CommandFailed` (one line, a code)."""
    try:
        return run(work)
    except EchonetTimeoutError as exc:
        text = _timeout_text(exc, registry_of(args), getattr(args, "timeout", None) or 3.0, witness, plan)
        raise CommandFailed(text, EXIT_TIMEOUT, "timeout") from None
    except _Refused as exc:
        assert witness is not None
        raise CommandFailed(witness.refusal_text(exc, registry_of(args)), EXIT_REFUSED, "refused") from None
    except OSError as exc:
        raise CommandFailed(*_os_error_text(exc, args, plan)) from None
    except ModuleNotFoundError as exc:  # netifaces, for --interface
        text = f"--interface needs the {exc.name} module (pip install netifaces-plus)"
        raise CommandFailed(text, EXIT_FAILED) from None


# ---------------------------------------------------------------------------------------------------- formatting


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
    host, peer = _target(args)
    eoj = parse_eoj(args.eoj, registry)
    epcs = list(dict.fromkeys(parse_epc(e, eoj, registry) for e in args.epc))
    multicast = is_multicast(host)
    plan = _plan(args, peer=host, unicast=not multicast, shared=_UNICAST_SHARED if not multicast else _MULTICAST_SHARED)
    witness = None if multicast or eoj.instance == 0 else _Witness(host, eoj)
    return _execute(args, _get(args, plan, (host, peer), eoj, epcs, registry, witness), plan, witness)


async def _get(
    args: argparse.Namespace,
    plan: _Plan,
    target: Addr,
    eoj: EOJ,
    epcs: list[int],
    registry: Registry,
    witness: _Witness | None,
) -> int:
    async with await _open_controller(args, plan) as ctl:
        if witness is None:
            results = await ctl.get_all(target, eoj, epcs)
            if not results:
                raise CommandFailed(
                    f"timeout: no {eoj} ({class_name(registry, eoj)}) at {target[0]} answered in "
                    f"{plan.config.timeout:g} s",
                    EXIT_TIMEOUT,
                    "timeout",
                )
        else:
            witness.attach(ctl.runner)
            results = [await witness.race(ctl.get(target, eoj, epcs))]
    status = EXIT_OK
    for i, result in enumerate(results):
        problem = _get_problem(result)
        if json_to_stdout(args):
            doc = _get_json(result, epcs, registry)
            dump(doc if problem is None else with_error(doc, problem, EXIT_REFUSED, "refused"))
        else:
            if i:
                print()
            print("\n".join(_get_lines(result, epcs, registry)), flush=True)
        if problem is not None:
            status = fail(
                args, problem if len(results) == 1 else f"{result.eoj}: {problem}", EXIT_REFUSED, as_json=False
            )
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


def _get_problem(result: GetResult) -> str | None:
    """``partial answer (Get_SNA): refused 0xE5; no answer for 0xE6``, or ``None`` for a full answer."""
    if result.ok:
        return None
    parts = []
    if result.refused:
        parts.append("refused " + ", ".join(f"0x{e:02X}" for e in result.refused))
    if result.unanswered:
        parts.append("no answer for " + ", ".join(f"0x{e:02X}" for e in result.unanswered))
    esv = esv_name(result.frame.esv) if result.frame is not None and result.frame.esv is not None else "answer"
    return f"partial answer ({esv}): " + "; ".join(parts)


def _answered_edts(result: GetResult, epcs: list[int]) -> dict[int, bytes]:
    """Every EDT the answer carried (EPC -> EDT): the values at hand for a property scaled by coefficients read
    in the same request (for example a cumulative energy and its unit, 0xE0 with 0xE1)."""
    return {epc: edt for epc, edt, _ in _get_rows(result, epcs) if edt}


def _get_lines(result: GetResult, epcs: list[int], registry: Registry) -> list[str]:
    rows = [("EPC", "property", "value", "raw")]
    found = _answered_edts(result, epcs)
    for epc, edt, outcome in _get_rows(result, epcs):
        if edt is None:
            definition = registry.property(result.eoj.class_id, epc)
            name = DecodedValue(epc, b"", definition, None).name
            rows.append((f"0x{epc:02X}", name, f"({outcome})", ""))
        else:
            dv = registry.decode_value(result.eoj.class_id, epc, edt, found)
            rows.append((f"0x{epc:02X}", dv.name, value_text(dv), edt.hex()))
    return [_heading(registry, result.eoj, result.addr), *_table(rows)]


def _get_json(result: GetResult, epcs: list[int], registry: Registry) -> dict[str, Any]:
    props: list[dict[str, Any]] = []
    found = _answered_edts(result, epcs)
    for epc, edt, outcome in _get_rows(result, epcs):
        dv = (
            registry.decode_value(result.eoj.class_id, epc, edt, found)
            if edt is not None
            else DecodedValue(epc, b"", registry.property(result.eoj.class_id, epc), None)
        )
        props.append({**property_json(dv), "status": outcome})
    frame = result.frame
    return {
        **address_json(result.addr),
        **eoj_json(result.eoj, registry),
        "esv": esv_name(frame.esv) if frame is not None and frame.esv is not None else None,
        "ok": result.ok,
        "properties": props,
        "refused": epc_list(result.refused, ordered=False),
        "unanswered": epc_list(result.unanswered, ordered=False),
        "attempts": result.attempts,
        "latency": result.latency,
        "batch": result.batch,
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
        definition = registry.property(eoj.class_id, epc)
        out[epc] = encode_value(definition, epc, value, force=force)
        if force and definition is not None:
            reason = definition.type.check(out[epc])
            if reason is None and not definition.access.set.applicable:
                reason = "not settable in this class"
            if reason is not None:
                note(f"--force: sending {definition.key} (0x{epc:02X}) = {out[epc].hex()} although {reason}")
    return out


def _cmd_set(args: argparse.Namespace) -> int:
    registry = registry_of(args)
    host, peer = _target(args)
    eoj = parse_eoj(args.eoj, registry)
    if eoj.instance == 0 or is_multicast(host):
        raise EchonetUsageError("set addresses one object: give a unicast host and an instance from 1 (0x01)")
    props = _parse_assignments(args.assignments, eoj, registry, args.force)
    plan = _plan(args, peer=host, unicast=True, shared=_UNICAST_SHARED)
    witness = _Witness(host, eoj)
    return _execute(args, _set(args, plan, (host, peer), eoj, props, registry, witness), plan, witness)


async def _set(
    args: argparse.Namespace,
    plan: _Plan,
    target: Addr,
    eoj: EOJ,
    props: dict[int, bytes],
    registry: Registry,
    witness: _Witness,
) -> int:
    async with await _open_controller(args, plan) as ctl:
        witness.attach(ctl.runner)
        if args.no_response:
            result = await witness.race(ctl.set(target, eoj, props, confirm=False, wait_sna=True))
        elif getattr(args, "verify", False):
            result = await witness.race(ctl.set(target, eoj, props, verify=True))
        else:
            result = await witness.race(ctl.set(target, eoj, props))
        if not args.no_response and not result.confirmed:  # a SetC nothing answered: the timeout it always was
            raise EchonetTimeoutError(target, eoj, ESV.SETC, result.attempts)
    if json_to_stdout(args):
        doc = _set_json(result, props, registry, args.no_response)
        if not result.ok:
            doc = with_error(doc, _set_problem(result), EXIT_REFUSED, "refused")
        dump(doc)
    else:
        print("\n".join(_set_lines(result, props, registry)), flush=True)
    if not result.ok:
        return fail(args, _set_problem(result), EXIT_REFUSED, as_json=False)
    return EXIT_OK


def _set_status(result: SetResult, epc: int) -> str:
    if epc in result.refused:
        return "refused"
    outcome = result.outcomes.get(epc)
    if outcome is not None and outcome.value in ("applied", "not-applied"):
        return outcome.value  # (--verify: read back)
    return "accepted" if result.confirmed else "sent"


def _set_problem(result: SetResult) -> str:
    esv = esv_name(result.frame.esv) if result.frame is not None and result.frame.esv is not None else "answer"
    if not result.refused:
        ignored = [e for e, o in result.outcomes.items() if o.value == "not-applied"]
        if ignored:
            return f"acknowledged ({esv}) but not applied (read back another value): " + ", ".join(
                f"0x{e:02X}" for e in ignored
            )
    return f"refused ({esv}): " + ", ".join(f"0x{e:02X}" for e in result.refused)


def _set_lines(result: SetResult, props: dict[int, bytes], registry: Registry) -> list[str]:
    rows = [("EPC", "property", "value", "raw", "outcome")]
    for epc, edt in props.items():
        dv = registry.decode_value(result.eoj.class_id, epc, edt, props)
        rows.append((f"0x{epc:02X}", dv.name, value_text(dv), edt.hex(), _set_status(result, epc)))
    lines = [_heading(registry, result.eoj, result.addr), *_table(rows)]
    if not result.confirmed:
        lines.append("SetI sent: no SetI_SNA came back, so no EPC was refused (success is silent)")
    return lines


def _set_json(result: SetResult, props: dict[int, bytes], registry: Registry, seti: bool) -> dict[str, Any]:
    frame = result.frame
    return {
        **address_json(result.addr),
        **eoj_json(result.eoj, registry),
        "request": "SetI" if seti else "SetC",
        "esv": esv_name(frame.esv) if frame is not None and frame.esv is not None else None,
        "confirmed": result.confirmed,
        "ok": result.ok,
        "properties": [
            {
                **property_json(registry.decode_value(result.eoj.class_id, epc, edt, props)),
                "status": _set_status(result, epc),
            }
            for epc, edt in props.items()
        ],
        "refused": epc_list(result.refused, ordered=False),
        "attempts": result.attempts,
        "latency": result.latency,
    }


# ------------------------------------------------------------------------------------------------------ discover


def _cmd_discover(args: argparse.Namespace) -> int:
    registry = registry_of(args)
    if args.rescans < 0:
        raise EchonetUsageError("--rescans must be 0 or more")
    targets: list[tuple[str, int]] = []
    for text in args.target or ():
        host, written_port = parse_host(text, "--target")
        targets.append((host, peer_port_of(written_port, args.port, ECHONET_PORT)))
    plan = _plan(
        args,
        multicast=not targets,
        unicast=bool(targets),
        shared=_UNICAST_SHARED
        if targets
        else "answers sent to port 3610 may go to it instead of this command (ask by unicast with --target HOST, "
        "or give one of the programs an address of its own with --bind)",
    )
    if targets:
        v6 = any(_is_v6(t) for t, _ in targets)
        endpoints = plan.endpoints
        if v6 and endpoints.bind_v6 is None:
            endpoints = replace(endpoints, bind_v6="::")
        if not all(_is_v6(t) for t, _ in targets) and endpoints.bind_v4 is None:
            endpoints = replace(endpoints, bind_v4="0.0.0.0")
        plan = replace(plan, endpoints=endpoints)
    return _execute(args, _discover(args, plan, targets, registry), plan)


async def _discover(args: argparse.Namespace, plan: _Plan, targets: list[tuple[str, int]], registry: Registry) -> int:
    async with await _open_controller(args, plan) as ctl:
        nodes = await ctl.discover(window=args.timeout, rescans=args.rescans, targets=list(targets) or None)
        from .secure_support import plain_seen, security_label, security_lines  # (--secure: how each node stands)

        labels = {n.host: security_label(ctl, n.host) for n in nodes}
        legacy = plain_seen(ctl, labels)  # (--secure: plain answers, listed apart as legacy, never merged)
    problem = None
    if not nodes:
        where = ", ".join(t for t, _ in targets) if targets else "the multicast group"
        problem = (
            f"no node answered at {where} within {args.timeout:g} s x {1 + args.rescans} round(s) "
            f"(try a longer --timeout, --target HOST, or `echonet doctor`)"
        )
    if json_to_stdout(args):
        docs = [_node_json(n, registry) for n in nodes]
        for n, item in zip(nodes, docs, strict=True):
            if labels[n.host] is not None:
                item["security"] = labels[n.host]
        doc: dict[str, Any] = {"nodes": docs}
        if legacy:
            doc["legacy"] = legacy
        dump(doc if problem is None else with_error(doc, problem, EXIT_FAILED, "not_found"))
    else:
        for i, node in enumerate(nodes):
            if i:
                print()
            print("\n".join(_node_lines(node, registry) + security_lines(labels[node.host])))
        for item in legacy:
            print(
                f"\n{item['host']}\n  security             legacy, plain ECHONET Lite (answered in plain, not merged)"
            )
    if problem is not None:
        return fail(args, problem, EXIT_FAILED, as_json=False)
    return EXIT_OK


def _node_json(node: DiscoveredNode, registry: Registry) -> dict[str, Any]:
    return {
        **address_json(node.address),
        "addresses": list(node.addresses),
        "identification": hex_text(node.identification),
        "manufacturer": hex_text(node.maker_code),
        "version": version_json(node.version),
        "instances": [str(e) for e in node.instances],
        "objects": [
            {
                **eoj_json(o.eoj, registry),
                **maps_json(o.get_map, o.set_map, o.announce_map),
                **({"error": o.error} if o.error else {}),
            }
            for o in node.objects
        ],
    }


def _version_text(edt: bytes | None) -> str | None:
    """``1.14`` for a node profile 0x82 that decodes (through the spec layer), else ``None``."""
    version = version_of(edt)
    return None if version is None else version.number


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
    plan = _plan(
        args,
        multicast=True,
        shared="notifications sent by unicast to port 3610 may go to it instead of this command (multicast ones "
        "reach both)",
    )
    plan = replace(plan, fallback=False)
    try:
        return _execute(args, _watch(args, plan, registry), plan)
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
                        _print_notification(received, registry, json_to_stdout(args))
        finally:
            await notes.aclose()
    return EXIT_OK


def _print_notification(received: NotificationReceived, registry: Registry, as_json: bool) -> None:
    frame, now = received.frame, time.time()
    seoj = frame.seoj
    esv = esv_name(frame.esv) if frame.esv is not None else "?"
    class_id = seoj.class_id if seoj is not None else -1
    others = {p.epc: p.edt for p in frame.properties if p.edt}  # (coefficients announced in the same frame)
    for prop in frame.properties:
        dv = (
            registry.decode_value(class_id, prop.epc, prop.edt, others)
            if prop.edt
            else DecodedValue(prop.epc, b"", registry.property(class_id, prop.epc), None)
        )
        if as_json:
            record = {
                "time": time_json(now),
                **address_json(received.addr),
                "esv": esv,
                **(eoj_json(seoj, registry) if seoj is not None else {"eoj": None}),
                **property_json(dv),
            }
            dump(record)
        else:
            stamp = time.strftime("%H:%M:%S", time.localtime(now)) + f".{int(now * 1000) % 1000:03d}"
            value = value_text(dv)
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
    bind = parse_address(args.bind)[0] if args.bind is not None else None
    try:
        findings: dict[netif.Finding, None] = {}
        for spec in specs:
            name, address = spec, bind
            if spec is not None:
                with contextlib.suppress(ValueError):
                    ipaddress.ip_address(spec.split("%", 1)[0])
                    name, address = None, spec
            for finding in netif.diagnose(name, address=address, port=args.port or ECHONET_PORT):
                findings.setdefault(finding)
    except ImportError as exc:
        raise CommandFailed(
            f"doctor needs the {exc.name or 'netifaces'} module (pip install netifaces-plus)", EXIT_FAILED
        ) from None
    ordered = sorted(findings, key=lambda f: -f.severity)
    errors = sum(1 for f in ordered if f.severity == netif.Severity.ERROR)
    warnings = sum(1 for f in ordered if f.severity == netif.Severity.WARNING)
    # each interface and whether the ECHONET Lite groups are joined on it (by any program on this host)
    from ..constants import MULTICAST_V4, MULTICAST_V6

    report = netif.interface_report((MULTICAST_V4, MULTICAST_V6))
    if not json_to_stdout(args):
        for item in report:
            state = "up" if item["up"] else "down"
            where = " ".join(item["ipv4"] + item["ipv6"]) or "no address"
            groups = item["groups"].items()
            joined = ", ".join(f"{g} {'joined' if j else 'not joined' if j is not None else '?'}" for g, j in groups)
            print(f"interface {item['name']} ({state}; {where}): {joined}")
    if json_to_stdout(args):
        doc: dict[str, Any] = {
            "ok": not errors,
            "interfaces": report,
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
        dump(doc if not errors else with_error(doc, f"doctor found {errors} error(s)", EXIT_FAILED, "failed"))
    else:
        for f in ordered:
            where = f" [{f.interface}]" if f.interface else ""
            print(f"{f.severity.name:<7}  {f.code}{where}: {f.message}")
        if not ordered:
            print("no problems found")
        else:
            print(f"-- {errors} error(s), {warnings} warning(s)", flush=True)
    if errors:
        return fail(args, f"doctor found {errors} error(s)", EXIT_FAILED, as_json=False)
    return EXIT_OK


# -------------------------------------------------------------------------------------------------------- parser


def _add_network(p: argparse.ArgumentParser, *, interfaces: bool, local_port: bool = True) -> None:
    p.add_argument("--bind", metavar="ADDR", help="local address to send from and listen on (e.g. 127.0.0.2, [::1])")
    p.add_argument("--port", type=peer_port, metavar="N", help="the peers' UDP port (default 3610)")
    if local_port:
        p.add_argument(
            "--local-port",
            type=port,
            metavar="N",
            help="local UDP port (default 3610; a request to one host moves to an ephemeral port when another "
            "program holds 3610 too, or 3610 is taken; 0: ephemeral)",
        )
    if interfaces:
        p.add_argument(
            "--interface",
            action="append",
            metavar="NAME|ADDR",
            help="network interface (name or one of its addresses) for multicast; repeatable",
        )
    p.add_argument("--json", action="store_true", help="JSON output (docs/json.md)")


def _add_request(p: argparse.ArgumentParser) -> None:
    p.add_argument("--timeout", type=positive_seconds, default=3.0, metavar="S", help="seconds per attempt (default 3)")
    p.add_argument("--retries", type=count, default=1, metavar="N", help="extra attempts (default 1)")


def _add_secure(p: argparse.ArgumentParser) -> None:
    from .secure_support import add_secure_arguments

    add_secure_arguments(p)


def register(subparsers: Any) -> None:
    """Add ``discover``, ``get``, ``set``, ``watch`` and ``doctor`` to the ``echonet`` command line."""
    codes = "exit codes: 0 ok, 1 failed, 2 bad usage, 3 refused or partial answer, 4 timeout"
    host_help = "the node's address: 192.0.2.5, 192.0.2.5:3611, [::1], [::1]:3610 or a name"

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
        help="ask this host by unicast instead of the multicast group (repeatable; for networks without multicast; "
        "HOST as for get)",
    )
    p.add_argument(
        "--ipv6", action=argparse.BooleanOptionalAction, default=False, help="also search over IPv6 (ff02::1)"
    )
    _add_network(p, interfaces=True)
    _add_secure(p)  # (--secure: multicast sealed with the group key, or --target; labelled secured, enrolled, legacy)
    p.add_argument(
        "--legacy",
        action="store_true",
        help="with --secure: also send plain discovery; legacy nodes that answer in plain are listed apart as legacy",
    )
    p.set_defaults(handler=_cmd_discover)

    p = subparsers.add_parser(
        "get",
        help="read properties of one object (typed values with units)",
        epilog=codes,
    )
    p.add_argument("host", metavar="HOST", help=host_help + " (instance 0 or a multicast address: every answer)")
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
    p.add_argument("host", metavar="HOST", help=host_help)
    p.add_argument("eoj", metavar="EOJ", help="027D01, 0x027D01, 02-7D-01 or CLASS:INSTANCE (storage_battery:1)")
    p.add_argument("assignments", nargs="+", metavar="EPC=VALUE", help="e.g. operationMode=charging 0xEB=3000W")
    p.add_argument("--no-response", action="store_true", help="SetI: no answer unless refused (SetI_SNA)")
    p.add_argument(
        "--verify",
        action="store_true",
        help="read the values back after the Set: an accepted EPC is 'applied', or 'not-applied' (acknowledged "
        "but not applied, exit 3)",
    )
    p.add_argument(
        "--force",
        action="store_true",
        help="send values the tables say the device must refuse (out of range, not settable); a value must still "
        "fit the property's bytes",
    )
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
