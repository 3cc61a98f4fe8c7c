"""A controller that copes with the field on its own: :class:`FieldController`.

On top of :class:`~echonet.aio.controller.Controller` it keeps, per device (:class:`~echonet.aio.peers.PeerState`),
a latency estimate that sets its timeouts, retries with backoff, the Get batch size it learned, whether it needs one
request at a time, a rate limit and its health; it reports every Set per EPC (:class:`WriteOutcome`), reads a Set
back when asked (``verify=True``), and finds a device again when it moved to another address. Its settings are one
:class:`~echonet.aio.peers.FieldConfig`. See docs/controller.md.

A device that never needed care takes the plain controller's path (the node's fast lane) with a latency sample
around it: the care costs nothing there.

::

    async with await FieldController.open(Endpoints(bind_v4="0.0.0.0")) as ctl:
        nodes = await ctl.discover()
        result = await ctl.get("192.168.1.20", EOJ.parse("027D01"), [0x80, 0xE4])
        done = await ctl.set("192.168.1.20", EOJ.parse("027D01"), {0xDA: b"\\x42"}, verify=True)
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import time
from collections.abc import AsyncGenerator, Callable, Iterable, Mapping, Sequence
from typing import Any, NamedTuple

from ..errors import EchonetTimeoutError
from ..frame import EOJ, ESV, Property
from ..node.config import NODE_PROFILE_EOJ, NodeConfig
from ..node.core import Node, host_key
from ..node.events import Addr, Event, RequestTimedOut, ResponseReceived
from .controller import Controller
from .netwatch import InterfaceChange, InterfaceWatcher
from .peers import DeviceMoved, FieldConfig, Health, HealthChanged, PeerState
from .results import (
    DiscoveredNode,
    GetResult,
    SetResult,
    WriteOutcome,
    full_answer,
    get_result,
    properties_of,
    set_outcomes,
)
from .runner import NodeRunner
from .sockets import Endpoints

_GET = ESV.GET
_GET_RES = ESV.GET_RES
#: The clock of latencies and of "last heard" (the event loop's own, asyncio's default: time.monotonic).
_clock = time.monotonic
#: On the plain path (a device that never needed care) one answer in this many is timed.
SAMPLE_EVERY = 8


class _Exchange(NamedTuple):
    """How one request ended: its answer (``None``: none), the attempts made, the last round trip, and whether the
    last attempt shared the device with another request in flight."""

    final: ResponseReceived | None
    attempts: int
    rtt: float | None
    concurrent: bool


#: What the node itself does in a request of the careful path: one attempt, no split (the controller does both).
_CAREFUL = {"retries": 0, "split": False}


class FieldController(Controller):
    """:class:`Controller` that learns each device (docs/controller.md). ``field`` holds every setting."""

    def __init__(self, runner: NodeRunner, field: FieldConfig | None = None) -> None:
        super().__init__(runner)
        self.field = field if field is not None else FieldConfig()
        self.peers: dict[str, PeerState] = {}
        #: Addresses of devices that moved: old host -> the address they answer on now.
        self.moved: dict[str, Addr] = {}
        #: Called with every :class:`HealthChanged` and :class:`DeviceMoved`.
        self.on_health: Callable[[HealthChanged | DeviceMoved], None] | None = None
        self._health_queues: set[asyncio.Queue[HealthChanged | DeviceMoved]] = set()
        self._locks: dict[str, asyncio.Lock] = {}
        self._monitor: asyncio.Task[None] | None = None
        self._finding: set[str] = set()
        self._tasks: set[asyncio.Task[Any]] = set()
        #: The state of each device by the host argument as callers pass it (one dict lookup on the plain path).
        self._by_argument: dict[Any, PeerState] = {}
        self._watchers: list[InterfaceWatcher] = []
        #: Interface changes seen by :meth:`watch_interfaces`, and who hears of the discovery each one re-runs.
        self.network_changes: list[InterfaceChange] = []
        self.on_rediscovered: Callable[[list[DiscoveredNode]], None] | None = None
        runner_event = runner.on_event

        def on_event(event: Event) -> None:  # notifications and unexpected answers: the device is alive
            addr = getattr(event, "addr", None)
            if addr is not None:
                peer = self.peers.get(host_key(str(addr[0])))
                if peer is not None:
                    peer.heard(_clock())
            if runner_event is not None:
                runner_event(event)

        runner.on_event = on_event

    @classmethod
    async def open(
        cls,
        endpoints: Endpoints | None = None,
        *,
        config: NodeConfig | None = None,
        node: Node | None = None,
        field: FieldConfig | None = None,
    ) -> FieldController:
        """Open sockets for a controller node. ``config`` defaults to one attempt per request and no split by the
        node (this controller retries and splits itself); ``field``: see :class:`FieldConfig`."""
        settings = field if field is not None else FieldConfig()
        if node is None:
            node = Node(config=config or NodeConfig(timeout=settings.timeout, retries=0, split_gets=False))
        return cls(await NodeRunner.open(node, endpoints), settings)

    async def close(self) -> None:
        for watcher in self._watchers:
            await watcher.close()
        task, self._monitor = self._monitor, None
        tasks = [*self._tasks, *([task] if task is not None else [])]
        for one in tasks:
            one.cancel()
        for one in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await one
        await super().close()

    # -- peers ------------------------------------------------------------------------------------------------------

    def peer(self, host: str | Addr) -> PeerState:
        """The state of the device at ``host`` (created on first use)."""
        key = host_key(host if isinstance(host, str) else str(host[0]))
        peer = self.peers.get(key)
        if peer is None:
            peer = self.peers[key] = PeerState(key, self.field)
        if not isinstance(host, str):
            peer.address = tuple(host)
        return peer

    def resolve(self, host: str | Addr) -> str | Addr:
        """Where ``host`` answers now (itself, unless the device moved)."""
        if self.moved:
            key = host_key(host if isinstance(host, str) else str(host[0]))
            return self.moved.get(key, host)
        return host

    def health_events(self, maxsize: int = 1000) -> AsyncGenerator[HealthChanged | DeviceMoved, None]:
        """:class:`HealthChanged` and :class:`DeviceMoved` from now on."""
        return self._health_events(maxsize)

    async def _health_events(self, maxsize: int) -> AsyncGenerator[HealthChanged | DeviceMoved, None]:
        queue: asyncio.Queue[HealthChanged | DeviceMoved] = asyncio.Queue(maxsize)
        self._health_queues.add(queue)
        try:
            while True:
                yield await queue.get()
        finally:
            self._health_queues.discard(queue)

    def _publish(self, event: HealthChanged | DeviceMoved) -> None:
        for queue in self._health_queues:
            if not queue.full():
                queue.put_nowait(event)
        if self.on_health is not None:
            self.on_health(event)

    def _update_health(self, peer: PeerState, reason: str) -> None:
        now = _clock()
        current = peer.judge(now)
        if current is Health.UNKNOWN or current is peer.health:
            return
        previous, peer.health = peer.health, current
        self._publish(HealthChanged(peer.host, peer.identification, previous, current, reason))
        if current is Health.OFFLINE and self.field.rediscover and peer.identification is not None:
            self._find_later(peer)

    # -- the exchange of one request --------------------------------------------------------------------------------

    async def _exchange(
        self,
        peer: PeerState,
        host: str | Addr,
        eoj: EOJ,
        esv: int,
        props: Sequence[Property | int],
        get_props: Sequence[Property | int] = (),
        *,
        attempts: int | None = None,
    ) -> _Exchange:
        """Send one request with the device's pacing, timeouts and backoff, up to ``attempts`` times."""
        tries = attempts if attempts is not None else peer.attempts()
        used = 0
        concurrent = False
        for _ in range(tries):
            used += 1
            final, rtt, concurrent = await self._attempt(peer, host, eoj, esv, props, get_props)
            if final is not None:
                return _Exchange(final, used, rtt, concurrent)
            if peer.health is Health.OFFLINE:
                break
        return _Exchange(None, used, None, concurrent)

    async def _attempt(
        self,
        peer: PeerState,
        host: str | Addr,
        eoj: EOJ,
        esv: int,
        props: Sequence[Property | int],
        get_props: Sequence[Property | int],
    ) -> tuple[ResponseReceived | None, float | None, bool]:
        """One attempt: ``(answer or None, round trip, whether another request to the device was in flight)``."""
        lock = self._locks.get(peer.host) if peer.one_in_flight else None
        if peer.one_in_flight and lock is None:
            lock = self._locks[peer.host] = asyncio.Lock()
        async with lock if lock is not None else contextlib.nullcontext():
            wait = peer.send_delay(_clock())
            if wait > 0:
                await asyncio.sleep(wait)
            timeout = peer.timeout(backoff=peer.health is not Health.OFFLINE)
            concurrent = peer.inflight > 0
            peer.inflight += 1
            peer.requests += 1
            started = _clock()
            peer.last_sent = started
            handle, future = self.runner.start(
                self.resolve(host), eoj, esv, props, get_props, {"timeout": timeout, **_CAREFUL}
            )
            try:
                final = await future
            finally:
                self.runner.forget(handle)
                peer.inflight -= 1
            concurrent = concurrent or peer.inflight > 0
            now = _clock()
        if type(final) is ResponseReceived:
            rtt = now - started
            peer.observe(rtt, now)
            self._update_health(peer, "answered")
            return final, rtt, concurrent
        if isinstance(final, RequestTimedOut):
            peer.timed_out(concurrent, esv != _GET or len(props) == 1)
            self._update_health(peer, f"{peer.failures} request(s) in a row unanswered")
            return None, None, concurrent
        raise AssertionError(f"a one-answer request ended with {final!r}")

    # -- Get --------------------------------------------------------------------------------------------------------

    async def get(
        self, host: str | Addr, eoj: EOJ, epcs: Iterable[int], *, timeout: float | None = None, **options: Any
    ) -> GetResult:
        """Get properties of one object, in batches the device copes with; raises :class:`EchonetTimeoutError` when
        nothing at all was answered. ``timeout`` (seconds) replaces the learned timeout of the first attempt;
        other ``options`` go to the plain controller's path."""
        if self._checks:
            self._check(host, eoj, _GET, ())
        peer = self._by_argument.get(host)
        if peer is None:
            peer = self.peer(host)
            with contextlib.suppress(TypeError):
                self._by_argument[host] = peer
        if options or timeout is not None:
            return await super().get(self.resolve(host), eoj, list(epcs), timeout=timeout, **options)
        if peer.careful or self.moved:
            return await self._careful_get(peer, host, eoj, list(dict.fromkeys(epcs)))
        # The plain path: the node's fast lane, as Controller.get takes it, with a latency sample around it
        wanted = epcs if type(epcs) is list or type(epcs) is tuple else list(epcs)
        runner = self.runner
        concurrent = peer.inflight > 0
        peer.inflight += 1
        peer.requests += 1
        # one answer in SAMPLE_EVERY is timed on this path (each is, once the device needs care)
        started = _clock() if not peer.requests % SAMPLE_EVERY or peer.srtt is None else 0.0
        result: GetResult | None = None
        try:
            fast = runner.start_fast(host, eoj, _GET, wanted, peer.current_timeout)
            if fast is not None:
                handle, future = fast
                try:
                    final = await future
                except BaseException:
                    runner.forget(handle)
                    raise
                if type(final) is ResponseReceived:
                    frame = final.frame
                    if frame.esv == _GET_RES and not final.unanswered:
                        result = full_answer(frame, final.addr, frame.seoj)
                    else:
                        result = get_result(final, eoj)
            else:
                with contextlib.suppress(EchonetTimeoutError):
                    result = await super().get(host, eoj, wanted, timeout=peer.timeout())
        finally:
            peer.inflight -= 1
        if result is None:
            shared = concurrent or peer.inflight > 0
            peer.timed_out(shared, len(wanted) == 1)
            self._update_health(peer, "unanswered")
            # the careful path from here on (the node's attempts are spent; a large Get alone is probed first)
            unique = list(dict.fromkeys(wanted))
            return await self._careful_get(peer, host, eoj, unique, spent=1 + self.node.config.retries, shared=shared)
        if started:
            now = _clock()
            rtt = now - started
            peer.observe(rtt, now)
            result.__dict__["latency"] = rtt  # (a fresh result of this call, frozen for its readers)
            if peer.health is not Health.ONLINE:
                self._update_health(peer, "answered")
        values, refused = result.values, result.refused
        if len(values) + len(refused) >= len(wanted) or all(e in values or e in refused for e in wanted):
            return result
        unique = list(dict.fromkeys(wanted))
        peer.answered_part(len(unique), len(values) + len(refused))
        rest = [e for e in unique if e not in values and e not in refused]
        more = await self._careful_get(peer, host, eoj, rest, spent=1)
        return _merged(result, more, unique)

    async def _careful_get(
        self, peer: PeerState, host: str | Addr, eoj: EOJ, wanted: list[int], *, spent: int = 0, shared: bool = False
    ) -> GetResult:
        """Get ``wanted`` in batches the device copes with. ``spent``: attempts the plain path already made at all of
        ``wanted`` (unanswered; ``shared``: while another request to the device was in flight)."""
        values: dict[int, bytes] = {}
        refused: list[int] = []
        unanswered: list[int] = []
        pending = list(wanted)
        attempts = spent
        rtt: float | None = None
        batch_used = 0
        last: ResponseReceived | None = None
        sample: float | None = None
        tries: dict[tuple[int, int], int] = {}
        failed = spent > 0
        waited = peer.current_timeout
        while pending:
            if failed:  # the plain path's Get of everything went unanswered: as if this chunk had
                size, chunk, final, failed = len(pending), pending, None, False
                used, concurrent, plain = spent, shared, True
            else:
                size = peer.chunk(len(pending))
                chunk = pending[:size]
                batch_used = max(batch_used, size)
                waited = peer.timeout(backoff=peer.health is not Health.OFFLINE)
                final, used, sample, concurrent = await self._exchange(peer, host, eoj, _GET, chunk, attempts=1)
                attempts += used
                plain = False
            if final is None:
                if peer.health is Health.OFFLINE:
                    unanswered += pending
                    break
                if peer.chunk(len(pending)) < size:
                    continue  # another request learned a smaller batch meanwhile: ask with that
                key = (chunk[0], size)
                tries[key] = tries.get(key, 0) + used
                if tries[key] >= peer.attempts():
                    unanswered += chunk
                    pending = pending[len(chunk) :]
                    continue
                if tries[key] == used and (concurrent or (size > 1 and not plain)):
                    # the first loss of this chunk: beside another request (again, one at a time now, learned), or
                    # perhaps only lost (once more at the same size before the size is suspected)
                    continue
                if size > 1:
                    # Alive? Ask the first EPC alone: if it answers, the Get was too large for the device.
                    probe, used, sample, _ = await self._exchange(peer, host, eoj, _GET, chunk[:1], attempts=1)
                    attempts += used
                    if probe is not None:
                        rtt, last = sample, probe
                        if sample is None or sample < 0.8 * waited:  # (a slow answer says the wait was short)
                            peer.too_large(size)
                        self._take(probe, chunk[:1], values, refused)
                        pending = [e for e in pending if e not in values and e not in refused]
                continue
            rtt, last = sample, final
            got = self._take(final, chunk, values, refused)
            if got < len(chunk):
                peer.answered_part(len(chunk), got)
            else:
                peer.answered_all(len(chunk))
            pending = [e for e in pending if e not in values and e not in refused and e not in unanswered]
            if got == 0:  # an answer that carried none of the EPCs asked: do not ask again forever
                unanswered += chunk
                pending = [e for e in pending if e not in chunk]
        if not values and not refused and last is None:
            raise EchonetTimeoutError(_addr_of(self.resolve(host), self.node), eoj, _GET, attempts)
        addr = last.addr if last is not None else _addr_of(host, self.node)
        seoj = last.frame.seoj if last is not None and last.frame.seoj is not None else eoj
        ordered = {e: values[e] for e in wanted if e in values}
        return GetResult(
            addr,
            seoj,
            ordered,
            tuple(e for e in wanted if e in refused),
            tuple(e for e in wanted if e in unanswered),
            last.frame if last is not None else None,
            attempts,
            rtt,
            batch_used or None,
        )

    @staticmethod
    def _take(final: ResponseReceived, chunk: Sequence[int], values: dict[int, bytes], refused: list[int]) -> int:
        """Record the values and refusals of one answer; how many of ``chunk`` it answered."""
        result = get_result(final, EOJ(0, 0, 0))
        asked = set(chunk)
        got = 0
        for epc, edt in result.values.items():
            if epc in asked and epc not in values:
                values[epc] = edt
                got += 1
        for epc in result.refused:
            if epc in asked and epc not in refused:
                refused.append(epc)
                got += 1
        return got

    # -- Set --------------------------------------------------------------------------------------------------------

    async def set(
        self,
        host: str | Addr,
        eoj: EOJ,
        props: Mapping[int, bytes] | Iterable[Property | tuple[int, bytes]],
        *,
        confirm: bool = True,
        wait_sna: bool = False,
        timeout: float | None = None,
        verify: bool = False,
        **options: Any,
    ) -> SetResult:
        """Write properties and report each EPC (:class:`WriteOutcome`): accepted, rejected or unanswered; with
        ``verify``, accepted EPCs are read back and become applied or not-applied. Never raises on silence: an
        unanswered Set is a result (``confirmed=False``)."""
        items = properties_of(props)
        epcs = [p.epc for p in items]
        if not confirm or options or timeout is not None:
            result = await super().set(
                self.resolve(host), eoj, items, confirm=confirm, wait_sna=wait_sna, timeout=timeout, **options
            )
        else:
            self._unicast(host, eoj, "set()")
            if self._checks:
                self._check(host, eoj, ESV.SETC, epcs)
            peer = self.peer(host)
            final, attempts, rtt, _ = await self._exchange(peer, host, eoj, ESV.SETC, items)
            frame = final.frame if final is not None else None
            result = SetResult(
                final.addr if final is not None else _addr_of(self.resolve(host), self.node),
                (frame.seoj if frame is not None else None) or eoj,
                tuple(e for e, o in set_outcomes(epcs, frame).items() if o is WriteOutcome.REJECTED),
                final is not None,
                frame,
                set_outcomes(epcs, frame),
                attempts,
                rtt,
            )
        if not verify:
            return result
        accepted = [p for p in items if result.outcomes.get(p.epc) is WriteOutcome.ACCEPTED]
        if not accepted:
            return result
        if self.field.verify_delay:
            await asyncio.sleep(self.field.verify_delay)
        outcomes = dict(result.outcomes)
        try:
            back = await self.get(host, eoj, [p.epc for p in accepted])
        except EchonetTimeoutError:
            return result  # could not read back: the outcomes stay what the answer said
        for prop in accepted:
            if prop.epc in back.values:
                same = back.values[prop.epc] == prop.edt
                outcomes[prop.epc] = WriteOutcome.APPLIED if same else WriteOutcome.NOT_APPLIED
        return dataclasses.replace(result, outcomes=outcomes, attempts=result.attempts + back.attempts)

    # -- discovery, moves and the monitor ---------------------------------------------------------------------------

    async def discover(
        self,
        *,
        window: float | None = None,
        rescans: int = 3,
        targets: Sequence[str | Addr] | None = None,
        read_maps: bool = True,
        include_self: bool = False,
        concurrency: int = 64,
    ) -> list[DiscoveredNode]:
        """:meth:`Controller.discover` on ``targets``, else the configured ``hosts``, else the multicast groups, with
        one more rescan by default (a host list is asked again with windows of 1, 2, 4 and 8 s: a device that takes
        4 s to answer is found); every node found becomes a known device (its identification, manufacturer rule and
        address)."""
        if targets is None and self.field.hosts:
            targets = list(self.field.hosts)
        nodes = await super().discover(
            window=self.field.discover_window if window is None else window,
            rescans=rescans,
            targets=targets,
            read_maps=read_maps,
            include_self=include_self,
            concurrency=concurrency,
        )
        nodes = await self._apart(nodes, read_maps)
        for node in nodes:
            self._learn_node(node)
        return nodes

    async def _apart(self, nodes: list[DiscoveredNode], read_maps: bool) -> list[DiscoveredNode]:
        """Nodes merged by one 0x83 from several addresses whose first device objects tell different 0x83s are
        several nodes sharing a number (a field quirk): they are kept apart, one per address."""
        out: list[DiscoveredNode] = []
        for node in nodes:
            if len(node.addresses) < 2 or not node.instances:
                out.append(node)
                continue
            port = node.address[1]
            addrs = [node.address] + [(a, port) for a in node.addresses if a != node.host]
            idents = []
            for addr in addrs:
                try:
                    got = await self.get(addr, node.instances[0], [0x83])
                except EchonetTimeoutError:
                    got = None
                idents.append(None if got is None else got.values.get(0x83))
            if None in idents or len(set(idents)) < len(idents):
                out.append(node)  # the same node on several addresses (or no way to tell)
                continue
            for addr in addrs:
                objects = node.objects
                if read_maps and addr != node.address:
                    limit = asyncio.Semaphore(4)
                    eojs = (NODE_PROFILE_EOJ, *node.instances)
                    objects = tuple(await asyncio.gather(*(self._read_maps(addr, e, limit) for e in eojs)))
                out.append(dataclasses.replace(node, address=addr, addresses=(str(addr[0]),), objects=objects))
        return out

    def _learn_node(self, node: DiscoveredNode) -> None:
        peer = self.peer(node.address)
        peer.heard(_clock())
        peer.apply_maker(node.maker_code)
        if node.identification is None:
            return
        peer.identification = node.identification
        for other in list(self.peers.values()):
            if other is peer or other.identification != node.identification:
                continue
            if other.health is Health.OFFLINE or other.host in self.moved:
                # the same device (0x83) at another address: requests to the old one go to the new one
                self.moved[other.host] = tuple(node.address)
                other.failures = 0
                other.careful = True
                self._publish(DeviceMoved(node.identification, other.host, tuple(node.address)))
                if other.health is not Health.ONLINE:
                    previous, other.health = other.health, Health.ONLINE
                    self._publish(
                        HealthChanged(other.host, other.identification, previous, Health.ONLINE, "found again")
                    )

    def _find_later(self, peer: PeerState) -> None:
        if peer.host in self._finding or self.runner.closed:
            return
        self._finding.add(peer.host)

        async def find() -> None:
            try:
                await self.find_again(peer.host)
            finally:
                self._finding.discard(peer.host)

        task = self.runner.loop.create_task(find())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def find_again(self, host: str) -> Addr | None:
        """Discover once and see whether the device known at ``host`` (by its 0x83) answers somewhere else now."""
        peer = self.peers.get(host_key(host))
        if peer is None or peer.identification is None:
            return None
        try:
            await self.discover(read_maps=False, rescans=0)
        except Exception:  # (a closed runner, a network gone: try again at the next probe)
            return None
        return self.moved.get(peer.host)

    async def probe(self, host: str | Addr) -> bool:
        """Ask the device's node profile for 0x8A once (at the address it was last asked on): whether it answered
        (its health follows)."""
        peer = self.peer(host)
        if isinstance(host, str) and peer.address is not None:
            host = peer.address
        final = (await self._exchange(peer, host, NODE_PROFILE_EOJ, _GET, [0x8A], attempts=1)).final
        return final is not None

    def monitor(self) -> asyncio.Task[None]:
        """Start watching the known devices (once): probe those not heard from for ``probe_interval`` seconds,
        mark them offline after silence, look for moved ones. Stops with :meth:`close`."""
        if self._monitor is None:
            self._monitor = self.runner.loop.create_task(self._watch())
        return self._monitor

    async def _watch(self) -> None:
        interval = self.field.probe_interval
        while not self.runner.closed:
            await asyncio.sleep(min(interval / 2, 5.0))
            try:
                await self._watch_once(interval)
            except asyncio.CancelledError:
                raise
            except Exception:  # (a network gone, a runner closing: the next round tries again)
                self.monitor_errors += 1

    #: Rounds of :meth:`monitor` that ended with an error.
    monitor_errors = 0

    async def _watch_once(self, interval: float) -> None:
        now = _clock()
        for peer in list(self.peers.values()):
            if peer.host in self.moved:
                continue  # asked at its new address
            self._update_health(peer, "silent")
            if peer.last_seen is None or now - peer.last_seen >= interval or peer.health is Health.OFFLINE:
                await self.probe(peer.host)
                if peer.health is Health.OFFLINE and self.field.rediscover and peer.identification is not None:
                    await self.find_again(peer.host)

    def watch_interfaces(self, specs: Sequence[str], *, interval: float = 2.0) -> InterfaceWatcher:
        """Re-check the interfaces ``specs`` (names or addresses) every ``interval`` seconds: when one gains an
        address or comes up, join the multicast groups on it and run discovery again (its nodes go to
        ``on_rediscovered``). Stops with :meth:`close`."""
        cfg = self.node.config

        def changed(changes: list[InterfaceChange]) -> None:
            self.network_changes.extend(changes)
            if any(c.change == "gained" for c in changes) and not self.runner.closed:
                task = self.runner.loop.create_task(self._rediscover())
                self._tasks.add(task)
                task.add_done_callback(self._tasks.discard)

        watcher = InterfaceWatcher(
            self.runner, specs, group_v4=cfg.multicast_v4, group_v6=cfg.multicast_v6, interval=interval,
            on_change=changed,
        )  # fmt: skip
        self._watchers.append(watcher)
        watcher.start()
        return watcher

    async def _rediscover(self) -> None:
        nodes = await self.discover(read_maps=False, rescans=1)
        if self.on_rediscovered is not None:
            self.on_rediscovered(nodes)

    def state(self) -> dict[str, Any]:
        """What is learned, per device, and the settings (``echonet doctor``, ``--json``)."""
        return {
            "config": self.field.as_dict(),
            "devices": {h: p.as_dict() for h, p in self.peers.items()},
            "moved": {h: list(a) for h, a in self.moved.items()},
        }


def _merged(first: GetResult, more: GetResult, wanted: list[int]) -> GetResult:
    values = {**first.values, **more.values}
    refused = set(first.refused) | set(more.refused)
    return GetResult(
        more.addr,
        more.eoj,
        {e: values[e] for e in wanted if e in values},
        tuple(e for e in wanted if e in refused),
        tuple(e for e in wanted if e in more.unanswered),
        more.frame,
        first.attempts + more.attempts,
        more.latency,
        more.batch,
    )


def _addr_of(host: str | Addr, node: Node) -> Addr:
    return (host, node.config.port) if isinstance(host, str) else tuple(host)


__all__ = ["DeviceMoved", "FieldConfig", "FieldController", "Health", "HealthChanged"]
