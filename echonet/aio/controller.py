"""The controller: Get, Set, SetGet, INF_REQ and discovery over a :class:`~echonet.aio.runner.NodeRunner`.

::

    async with await Controller.open(Endpoints(bind_v4="0.0.0.0")) as ctl:
        for node in await ctl.discover(window=1.0):
            ...
        result = await ctl.get("192.168.1.20", EOJ.parse("027D01"), [0x80, 0xE4])
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncGenerator, Awaitable, Callable, Iterable, Mapping, Sequence
from typing import Any, Self

from ..errors import EchonetTimeoutError, EchonetUsageError, ValueDecodeError
from ..frame import EOJ, ESV, Property
from ..node.config import NODE_PROFILE_EOJ, NodeConfig
from ..node.core import Node, host_key, is_multicast
from ..node.events import (
    Addr,
    Event,
    NotificationReceived,
    RequestTimedOut,
    ResponseReceived,
    answer_values,
    refused_epcs,
)
from ..propmap import decode_instance_list, decode_property_map
from .results import (
    DiscoveredNode,
    DiscoveredObject,
    GetResult,
    SetGetResult,
    SetResult,
    bitmap_epcs,
    full_answer,
    get_result,
    properties_of,
    set_outcomes,
    sna_split,
)
from .runner import NodeRunner
from .sockets import Endpoints

_GET_MAPS = (0x9D, 0x9E, 0x9F)
_GET = ESV.GET
_GET_RES = ESV.GET_RES


class Opened:
    """What a controller and a device server share: a :class:`~echonet.aio.runner.NodeRunner` that closes with
    them, and the async context."""

    def __init__(self, runner: NodeRunner) -> None:
        self.runner = runner
        self.node = runner.node

    async def close(self) -> None:
        self.runner.close()
        await asyncio.sleep(0)

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()


class Controller(Opened):
    """High-level async controller over a :class:`NodeRunner`."""

    @classmethod
    async def open(
        cls,
        endpoints: Endpoints | None = None,
        *,
        config: NodeConfig | None = None,
        node: Node | None = None,
    ) -> Controller:
        """Open sockets for a controller node (a node profile and no device object unless ``node`` has some)."""
        if node is None:
            node = Node(config=config)
        return cls(await NodeRunner.open(node, endpoints))

    @staticmethod
    def _unicast(host: str | Addr, eoj: EOJ, what: str) -> None:
        ip = host if isinstance(host, str) else host[0]
        if eoj.instance == 0 or is_multicast(ip):
            raise EchonetUsageError(f"{what} addresses one object: use get_all() for instance 0x00 or multicast")

    async def get(
        self, host: str | Addr, eoj: EOJ, epcs: Iterable[int], *, timeout: float | None = None, **options: Any
    ) -> GetResult:
        """Get properties of one object; raises :class:`EchonetTimeoutError` when it does not answer."""
        if self._checks:
            epcs = tuple(epcs)  # (the check reads them, and so does the request)
            self._check(host, eoj, _GET, epcs)
        runner = self.runner
        if not options:
            started = runner.start_fast(host, eoj, _GET, epcs, timeout)  # the node's fast lane
            if started is not None:
                handle, future = started
                try:
                    final = await future  # (whoever resolves it has taken it out of the runner's futures)
                except BaseException:
                    runner.forget(handle)
                    raise
                if type(final) is ResponseReceived:  # get_result's common case, inline
                    frame = final.frame
                    if frame.esv == _GET_RES and not final.unanswered:
                        return full_answer(frame, final.addr, frame.seoj)
                return get_result(self._answer(final), eoj)
        self._unicast(host, eoj, "get()")
        if options.get("fanout"):
            final = await runner.ask(host, eoj, _GET, list(epcs), timeout=timeout, **options)
        else:  # ask() inlined: one coroutine less on the hot path
            options["timeout"] = timeout
            handle, future = runner.start(host, eoj, _GET, list(epcs), (), options)
            try:
                final = await future
            finally:
                runner.forget(handle)
        return get_result(self._answer(final), eoj)

    #: Whether :meth:`_check` is called (a subclass that refuses requests sets it).
    _checks = False

    def _check(self, host: str | Addr, eoj: EOJ, esv: int, epcs: Iterable[int]) -> None:
        """Called before a Get or a Set leaves when :attr:`_checks` is set: a subclass raises to refuse it (the plain
        controller refuses nothing)."""

    def _answer(self, final: Event) -> ResponseReceived:
        """The answer that ended a one-answer request; the error of :meth:`_timeout_error` when it timed out."""
        if type(final) is ResponseReceived:
            return final
        if isinstance(final, RequestTimedOut):
            raise self._timeout_error(final)
        raise AssertionError(f"a one-answer request ended with {final!r}")

    def _timeout_error(self, final: RequestTimedOut) -> Exception:
        """The error a request that got no answer raises (a subclass may explain it better)."""
        return EchonetTimeoutError(final.addr, final.deoj, final.esv, final.attempts)

    async def get_all(
        self, host: str | Addr, eoj: EOJ, epcs: Iterable[int], *, timeout: float | None = None, **options: Any
    ) -> list[GetResult]:
        """Get from every object that answers within the window (instance 0x00 and/or a multicast address)."""
        final, responses = await self.runner.request(
            host, eoj, ESV.GET, list(epcs), timeout=timeout, fanout=True, **options
        )
        if isinstance(final, RequestTimedOut):
            return []
        return [get_result(r, eoj) for r in responses]

    async def set(
        self,
        host: str | Addr,
        eoj: EOJ,
        props: Mapping[int, bytes] | Iterable[Property | tuple[int, bytes]],
        *,
        confirm: bool = True,
        wait_sna: bool = False,
        timeout: float | None = None,
        **options: Any,
    ) -> SetResult:
        """SetC (``confirm=True``: waits for Set_Res / SetC_SNA) or SetI (returns at once, or after the window
        when ``wait_sna`` to catch a SetI_SNA)."""
        self._unicast(host, eoj, "set()")
        items = properties_of(props)
        epcs = [p.epc for p in items]
        if self._checks:
            self._check(host, eoj, ESV.SETC if confirm else ESV.SETI, epcs)
        if not confirm:
            if not wait_sna:
                handle = self.runner.send_request(host, eoj, ESV.SETI, items, timeout=timeout, **options)
                del handle
                return SetResult(_addr(host, self.node), eoj, (), False, None, set_outcomes(epcs, None))
            final, responses = await self.runner.request(host, eoj, ESV.SETI, items, timeout=timeout, **options)
            if responses:
                frame = responses[0].frame
                return SetResult(responses[0].addr, eoj, refused_epcs(frame), True, frame, set_outcomes(epcs, frame))
            return SetResult(_addr(host, self.node), eoj, (), False, None, set_outcomes(epcs, None))
        final = self._answer(await self.runner.ask(host, eoj, ESV.SETC, items, timeout=timeout, **options))
        frame = final.frame
        return SetResult(final.addr, frame.seoj or eoj, refused_epcs(frame), True, frame, set_outcomes(epcs, frame))

    async def setget(
        self,
        host: str | Addr,
        eoj: EOJ,
        props: Mapping[int, bytes] | Iterable[Property | tuple[int, bytes]],
        epcs: Iterable[int],
        *,
        timeout: float | None = None,
        **options: Any,
    ) -> SetGetResult:
        self._unicast(host, eoj, "setget()")
        final = self._answer(
            await self.runner.ask(host, eoj, ESV.SETGET, properties_of(props), list(epcs), timeout=timeout, **options)
        )
        frame = final.frame
        refused_set, refused_get = sna_split(frame)
        return SetGetResult(final.addr, frame.seoj or eoj, answer_values(frame), refused_set, refused_get, frame)

    async def inf_req(
        self, host: str | Addr, eoj: EOJ, epcs: Iterable[int], *, timeout: float | None = None, **options: Any
    ) -> GetResult:
        """Ask for a notification (INF_REQ); the INF (or INF_SNA) comes back as a :class:`GetResult`."""
        self._unicast(host, eoj, "inf_req()")
        final = await self.runner.ask(host, eoj, ESV.INF_REQ, list(epcs), timeout=timeout, **options)
        return get_result(self._answer(final), eoj)

    def notifications(self, maxsize: int = 1000) -> AsyncGenerator[NotificationReceived, None]:
        """INF and INFC received from now on (new ones are dropped while ``maxsize`` are waiting)."""
        return self.runner.notifications(maxsize)

    async def discover(
        self,
        *,
        window: float = 1.0,
        rescans: int = 2,
        targets: Sequence[str | Addr] | None = None,
        read_maps: bool = True,
        include_self: bool = False,
        concurrency: int = 64,
    ) -> list[DiscoveredNode]:
        """Find nodes: Get of node-profile 0xD6 to the multicast groups, over ``window`` seconds, ``1 + rescans``
        rounds, or to the unicast addresses of ``targets`` (each asked again, up to ``rescans`` times, until it
        answers, see :meth:`_ask_hosts`); then read each node's 0x83 / 0x8A / 0x82 and, with ``read_maps``, the
        property maps of every object. Nodes are deduplicated by identification number; nodes without one appear
        once per address. A node's ``address`` is its IP with the port it was asked on, not the source port of its
        answer. A property-map bitmap whose count byte disagrees with its bits is read from its bits (and reported
        in the object's ``error``)."""
        if targets is None:
            targets = self._groups()
        responders: dict[str, tuple[Addr, EOJ, tuple[EOJ, ...]]] = {}

        def record(target: str | Addr, response: ResponseReceived, values: Mapping[int, bytes] | None = None) -> None:
            # A node listens where it was asked (3610), whatever port its answer came from (docs/architecture.md,
            # field rules): the npm echonet-lite stack answers from 23610 and hears nothing there.
            port = self.node.config.port if isinstance(target, str) else target[1]
            peer = host_key(response.addr[0])
            if peer in responders:
                return
            edt = (answer_values(response.frame) if values is None else values).get(0xD6)
            try:
                instances = decode_instance_list(edt).eojs if edt else ()
            except ValueDecodeError:
                instances = ()
            addr = (response.addr[0], port, *response.addr[2:])
            responders[peer] = (addr, response.frame.seoj or NODE_PROFILE_EOJ, instances)

        groups: list[str | Addr] = []
        hosts: list[str | Addr] = []
        for t in targets:  # (one look at each target: a host list may hold thousands)
            (groups if _is_group(t if isinstance(t, str) else str(t[0])) else hosts).append(t)
        # A host list is asked for the node profile's identification (and maps) with 0xD6: one request per node
        # less; what a node leaves out of that answer is asked for by itself below.
        early: dict[str, dict[int, bytes]] = {}
        extra = (0x83, 0x8A, 0x82, *(_GET_MAPS if read_maps else ()))
        if hosts:

            def record_early(target: str | Addr, response: ResponseReceived) -> None:
                values = answer_values(response.frame)  # (decoded once, for both)
                record(target, response, values)
                early.setdefault(host_key(response.addr[0]), values)

            await self._ask_hosts(hosts, window, rescans, record_early, extra)
        for _ in range(1 + rescans if groups else 0):
            rounds = [
                self.runner.request(t, NODE_PROFILE_EOJ, ESV.GET, [0xD6], timeout=window, retries=0, fanout=True)
                for t in groups
            ]
            for target, (_, responses) in zip(groups, await asyncio.gather(*rounds), strict=True):
                for response in responses:
                    record(target, response)
        limit = asyncio.Semaphore(concurrency)

        # The node profile's identification and, with read_maps, its maps in the same Get (one request less per
        # node); a node that does not answer that Get is asked for the identification alone.
        asked = [0x83, 0x8A, 0x82, *(_GET_MAPS if read_maps else ())]

        async def identify(addr: Addr, profile: EOJ) -> GetResult | Mapping[int, bytes] | None:
            known = early.get(host_key(addr[0]))
            if known is not None and all(e in known for e in asked):
                return known
            async with limit:
                for epcs in (asked, [0x83, 0x8A, 0x82]) if read_maps else (asked,):
                    try:
                        return await self.get(addr, profile, epcs, split=False)
                    except EchonetTimeoutError:
                        continue
                return None

        infos: list[GetResult | Mapping[int, bytes] | None] = []
        asks = []  # (only the nodes whose first answer lacked something cost a task)
        for a, p, _ in responders.values():
            known = early.get(host_key(a[0]))
            if known is not None and all(e in known for e in asked):
                infos.append(known)
            else:
                infos.append(None)
                asks.append((len(infos) - 1, identify(a, p)))
        for (i, _), info in zip(asks, await asyncio.gather(*(c for _, c in asks)), strict=True):
            infos[i] = info
        own = self.node.profile.identification
        nodes: dict[bytes | str, dict[str, Any]] = {}
        for (addr, _, instances), info in zip(responders.values(), infos, strict=True):
            values = info.values if isinstance(info, GetResult) else info if info is not None else {}
            ident = values.get(0x83)
            if ident is not None and len(ident) != 17:
                ident = None
            if ident == own and not include_self:
                continue
            key: bytes | str = ident if ident is not None else host_key(addr[0])
            entry = nodes.get(key)
            if entry is None:
                nodes[key] = {
                    "address": addr,
                    "addresses": [str(addr[0])],
                    "identification": ident,
                    "maker_code": values.get(0x8A),
                    "version": values.get(0x82),
                    "instances": instances,
                    "profile": values,
                }
            elif str(addr[0]) not in entry["addresses"]:
                entry["addresses"].append(str(addr[0]))
        result = []
        maps: list[tuple[DiscoveredObject, ...]] = []
        if read_maps:  # every object of every node at once (``concurrency`` Gets in flight), in one gather
            reads: list[Awaitable[DiscoveredObject]] = []
            for entry in nodes.values():
                profile_values = entry["profile"]
                if all(epc in profile_values for epc in _GET_MAPS):  # already read: no request, no task
                    entry["maps"] = [_maps_object(NODE_PROFILE_EOJ, profile_values)]
                else:
                    entry["maps"] = [len(reads)]
                    reads.append(self._read_maps(entry["address"], NODE_PROFILE_EOJ, limit, profile_values))
                for e in entry["instances"]:
                    entry["maps"].append(len(reads))
                    reads.append(self._read_maps(entry["address"], e, limit))
            read = await asyncio.gather(*reads)
            maps = [
                tuple(read[m] if type(m) is int else m for m in entry["maps"])  # (an index into the reads)
                for entry in nodes.values()
            ]
        for i, entry in enumerate(nodes.values()):
            objects: tuple[DiscoveredObject, ...] = maps[i] if read_maps else ()
            result.append(
                DiscoveredNode(
                    entry["address"],
                    tuple(entry["addresses"]),
                    entry["identification"],
                    entry["maker_code"],
                    entry["version"],
                    tuple(entry["instances"]),
                    objects,
                )
            )
        return result

    #: Requests of 0xD6 to a host list in flight at once during discovery (their answers come as a burst).
    discovery_inflight = 512

    async def _ask_hosts(
        self,
        hosts: Sequence[str | Addr],
        window: float,
        rescans: int,
        record: Callable[[str | Addr, ResponseReceived], None],
        extra: Sequence[int] = (),
    ) -> None:
        """Discovery over a host list: a Get of 0xD6 to each address, ended by its answer (so a round lasts as long
        as its slowest answer, not the whole window), at most :attr:`discovery_inflight` at once; then again, up to
        ``rescans`` times, to the addresses whose answer was lost, each time with twice the window (late answerers
        are found too). ``extra``: EPCs of the node profile asked in the first round beside 0xD6 (later rounds ask
        0xD6 alone, in case a node does not answer a Get of several)."""
        remaining = list(dict.fromkeys(hosts))
        limit = asyncio.Semaphore(self.discovery_inflight)
        runner = self.runner

        async def ask(target: str | Addr, wait: float, epcs: list[int]) -> Event | None:
            async with limit:
                if runner.closed:
                    return None
                options = {"timeout": wait, "retries": 0}
                handle, future = runner.start(target, NODE_PROFILE_EOJ, _GET, epcs, (), options)
                try:
                    return await future
                finally:
                    runner.forget(handle)

        for attempt in range(1 + rescans):
            wait = window * 2**attempt
            epcs = [0xD6, *extra] if attempt == 0 else [0xD6]
            finals = await asyncio.gather(*(ask(t, wait, epcs) for t in remaining))
            lost = []
            for target, final in zip(remaining, finals, strict=True):
                if type(final) is ResponseReceived:
                    record(target, final)
                else:
                    lost.append(target)
            remaining = lost
            if not remaining:
                break

    async def _read_maps(
        self, addr: Addr, eoj: EOJ, limit: asyncio.Semaphore, known: Mapping[int, bytes] | None = None
    ) -> DiscoveredObject:
        """The property maps of one object; ``known``: values already read (the maps are asked for only when one of
        them is missing there)."""
        if known is not None and all(epc in known for epc in _GET_MAPS):
            values = known
        else:
            async with limit:
                try:
                    values = (await self.get(addr, eoj, _GET_MAPS)).values
                except EchonetTimeoutError as exc:
                    return DiscoveredObject(eoj, error=str(exc))
        return _maps_object(eoj, values)

    def _groups(self) -> list[str | Addr]:
        cfg = self.node.config
        groups: list[str | Addr] = []
        if socket.AF_INET in self.runner.transports and cfg.multicast_v4:
            groups.append(cfg.multicast_v4)
        if socket.AF_INET6 in self.runner.transports and cfg.multicast_v6:
            groups.append(cfg.multicast_v6)
        return groups


def _maps_object(eoj: EOJ, values: Mapping[int, bytes]) -> DiscoveredObject:
    """The object ``eoj`` with the property maps found in ``values`` (a bitmap whose count byte disagrees with its
    bits is read from its bits, and reported in ``error``)."""
    maps: list[frozenset[int] | None] = []
    errors = []
    for epc in _GET_MAPS:
        edt = values.get(epc)
        try:
            maps.append(decode_property_map(edt) if edt else None)
        except ValueDecodeError as exc:
            assert edt is not None
            maps.append(bitmap_epcs(edt))
            errors.append(f"0x{epc:02X}: {exc}" + ("" if maps[-1] is None else " (the bitmap's EPCs are used)"))
        if edt is None:
            errors.append(f"0x{epc:02X} not readable")
    return DiscoveredObject(eoj, maps[2], maps[1], maps[0], "; ".join(errors) or None)


def _is_group(ip: str) -> bool:
    """:func:`~echonet.node.core.is_multicast` without parsing a dotted IPv4 address (its first octet tells, 224-239):
    a host list of thousands of addresses would otherwise parse each (the core's cache keeps only 256)."""
    parts = ip.split(".")
    if len(parts) == 4 and all(p.isdigit() and len(p) <= 3 and int(p) <= 255 for p in parts):
        return 224 <= int(parts[0]) <= 239
    return is_multicast(ip)


def _addr(host: str | Addr, node: Node) -> Addr:
    return (host, node.config.port) if isinstance(host, str) else tuple(host)


__all__ = ["Controller", "Opened"]
