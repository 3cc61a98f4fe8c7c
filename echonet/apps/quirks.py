"""Field quirks on the device side: a layer that wraps a node and makes it answer the way some deployed devices do.

Each quirk reproduces one behaviour reported from the field (docs/quirks.md lists them with the reports): late
answers, partial answers to a large Get, silence on an oversized answer, ignoring a request while one is being
processed, answering from another port, no identification number, one identification number on several nodes, a Set
acknowledged but not applied, silence after some requests, lost datagrams, bytes after the last property.

The node itself knows nothing of quirks: :class:`QuirkLayer` has the node's sans-I/O interface
(:class:`echonet.aio.runner.Core`) and a runner drives it in the node's place (:meth:`NodeRunner.use_layer`), as it
drives the secure overlay. It is pure: it takes ``now`` and keeps its own deadlines (held answers) beside the
node's. Only the answers from another port need a socket of their own, handed in as ``send_aside``.

::

    quirks = parse_quirks(["delay=1.5", "max-get=5"])
    host = await SimHost.open(devices, endpoints, quirks=quirks)
"""

from __future__ import annotations

import contextlib
import heapq
import random
from collections.abc import Callable, Iterable
from dataclasses import dataclass, fields, replace
from typing import Any

from ..codec import decode, encode
from ..errors import EchonetUsageError, FrameDecodeError
from ..frame import EOJ, ESV, Frame, Property
from ..node.config import NODE_PROFILE_EOJ
from ..node.core import FAST_DECLINED, Node, is_multicast
from ..node.events import Addr, Event
from ..propmap import decode_property_map, encode_property_map

#: The identification number (0x83) every node with ``shared-identification`` and no value of its own reports.
SHARED_IDENTIFICATION = bytes.fromhex("fe000000") + b"SHARED-NUMBER"

_READ_ANSWERS = frozenset({ESV.GET_RES, ESV.GET_SNA, ESV.INF, ESV.INF_SNA})
_SET_REQUESTS = frozenset({ESV.SETC, ESV.SETI})


@dataclass(frozen=True)
class Quirks:
    """The quirks of one node (every field off by default). See docs/quirks.md and :data:`QUIRKS`."""

    #: Seconds every answer is held before it leaves, and the jitter around it (``None``: a fifth of the delay).
    delay: float = 0.0
    jitter: float | None = None
    #: At most this many properties in an answer to a Get; the rest are left out.
    max_get: int | None = None
    #: No answer at all when the answer would exceed this many bytes.
    oversize_silent: int | None = None
    #: A request received while another is being processed is ignored; ``busy`` is the processing time when no
    #: ``delay`` is set (the answer is held that long).
    drop_concurrent: bool = False
    busy: float = 0.2
    #: Answers leave from an ephemeral port of their own, not the port the request reached.
    reply_port_ephemeral: bool = False
    #: The node profile has no 0x83: a Get of it gets Get_SNA, and 0x83 is not in its Get map.
    no_identification: bool = False
    #: The node profile's 0x83 (17 bytes), the same for every node given it.
    shared_identification: bytes | None = None
    #: A SetC gets Set_Res (a SetI nothing) and the value does not change.
    set_ack_no_apply: bool = False
    #: After this many requests the node answers nothing, for ``silent_for`` seconds (``None``: until
    #: :meth:`QuirkLayer.restart`).
    silent_after: int | None = None
    silent_for: float | None = None
    #: The fraction of datagrams lost, each way.
    loss: float = 0.0
    #: Zero bytes appended to every datagram the node sends.
    trailing_bytes: int = 0
    #: Seed of the jitter and the losses (the same seed, the same run).
    seed: int = 0

    @property
    def active(self) -> bool:
        """Whether any quirk is on (the seed alone is none)."""
        return any(getattr(self, f.name) != f.default for f in fields(self) if f.name not in ("seed", "busy"))

    @property
    def hold(self) -> float:
        """Seconds an answer is held (the delay, or the processing time of a ``drop-concurrent`` node)."""
        if self.delay > 0:
            return self.delay
        return self.busy if self.drop_concurrent else 0.0

    def names(self) -> list[str]:
        """The quirks that are on, as ``NAME[=VALUE]`` (what :func:`parse_quirks` reads back)."""
        out = []
        for quirk in QUIRKS.values():
            text = quirk.describe(self)
            if text is not None:
                out.append(text)
        return out


@dataclass(frozen=True)
class QuirkSpec:
    """One quirk's name, the value it takes, what it does and the field report it stands for."""

    name: str
    value: str  #: the VALUE it takes ('' for none), for help texts
    summary: str
    report: str
    apply: Callable[[Quirks, str | None], Quirks]
    describe: Callable[[Quirks], str | None]


def _number(name: str, text: str | None, *, integer: bool = False, low: float = 0.0, high: float | None = None) -> Any:
    if text is None or text == "":
        raise EchonetUsageError(f"quirk {name} needs a value ({name}=...)")
    try:
        value = int(text, 0) if integer else float(text)
    except ValueError:
        kind = "an integer" if integer else "a number"
        raise EchonetUsageError(f"quirk {name}={text}: not {kind}") from None
    if value < low or (high is not None and value > high) or value != value:
        upper = f"-{high:g}" if high is not None else " or more"
        raise EchonetUsageError(f"quirk {name}={text}: out of range {low:g}{upper}")
    return value


def _flag(name: str, text: str | None) -> bool:
    """``True`` for a flag quirk given without a value (it takes none)."""
    if text is not None:
        raise EchonetUsageError(f"quirk {name} takes no value (got {name}={text})")
    return True


def _apply_delay(q: Quirks, text: str | None) -> Quirks:
    head, _, tail = (text or "").partition(":")
    delay = _number("delay", head)
    jitter = _number("delay", tail) if tail else None
    return replace(q, delay=delay, jitter=jitter)


def _apply_drop_concurrent(q: Quirks, text: str | None) -> Quirks:
    busy = q.busy if text is None else _number("drop-concurrent", text)
    if text is not None and busy <= 0:
        raise EchonetUsageError("quirk drop-concurrent=SECONDS: the processing time must be positive")
    return replace(q, drop_concurrent=True, busy=busy)


def _apply_reply_port(q: Quirks, text: str | None) -> Quirks:
    if text != "ephemeral":
        raise EchonetUsageError(f"quirk reply-port takes 'ephemeral' (reply-port=ephemeral), got {text!r}")
    return replace(q, reply_port_ephemeral=True)


def _apply_shared(q: Quirks, text: str | None) -> Quirks:
    if text is None:
        return replace(q, shared_identification=SHARED_IDENTIFICATION)
    try:
        number = bytes.fromhex(text)
    except ValueError:
        raise EchonetUsageError(f"quirk shared-identification={text}: not hex") from None
    if len(number) != 17 or number[0] != 0xFE:
        raise EchonetUsageError("quirk shared-identification=HEX: 34 hex digits starting FE")
    return replace(q, shared_identification=number)


def _apply_silent_after(q: Quirks, text: str | None) -> Quirks:
    head, _, tail = (text or "").partition(":")
    count = _number("silent-after", head, integer=True)
    seconds = _number("silent-after", tail) if tail else None
    if seconds is not None and seconds <= 0:
        raise EchonetUsageError("quirk silent-after=N:SECONDS: the silence must last a positive time")
    return replace(q, silent_after=count, silent_for=seconds)


def _apply_trailing(q: Quirks, text: str | None) -> Quirks:
    count = 2 if text is None else _number("trailing-bytes", text, integer=True, low=1, high=64)
    return replace(q, trailing_bytes=count)


def _g(value: float) -> str:
    return f"{value:g}"


QUIRKS: dict[str, QuirkSpec] = {
    q.name: q
    for q in (
        QuirkSpec(
            "delay",
            "SECONDS[:JITTER]",
            "every answer leaves SECONDS late, give or take JITTER (default a fifth of SECONDS)",
            "Gateways and adapters that take several seconds to answer, longer than a controller's 1-3 s timeout: "
            "the controller reports the device unavailable although it answers.",
            _apply_delay,
            lambda q: (
                None if not q.delay else f"delay={_g(q.delay)}" + ("" if q.jitter is None else f":{_g(q.jitter)}")
            ),
        ),
        QuirkSpec(
            "max-get",
            "N",
            "an answer to a Get carries at most N properties, the rest left out",
            "Devices that answer a Get of many properties with only some of them: users had to lower the number of "
            "properties per request by hand (10, then 5).",
            lambda q, t: replace(q, max_get=_number("max-get", t, integer=True, low=1)),
            lambda q: None if q.max_get is None else f"max-get={q.max_get}",
        ),
        QuirkSpec(
            "oversize-silent",
            "BYTES",
            "no answer at all when the answer would be longer than BYTES",
            "Devices that stay silent when a Get asks for more than their answer buffer holds: the whole request "
            "times out, not only the properties that did not fit.",
            lambda q, t: replace(q, oversize_silent=_number("oversize-silent", t, integer=True, low=14)),
            lambda q: None if q.oversize_silent is None else f"oversize-silent={q.oversize_silent}",
        ),
        QuirkSpec(
            "drop-concurrent",
            "[SECONDS]",
            "a request that arrives while another is processed is ignored (processing takes the delay, or SECONDS, "
            "default 0.2)",
            "Adapters (Wi-Fi modules of air conditioners, gateways) that handle one request at a time and drop the "
            "others: a controller polling several properties in parallel loses most of them.",
            _apply_drop_concurrent,
            lambda q: (
                None if not q.drop_concurrent else "drop-concurrent" + ("" if q.busy == 0.2 else f"={_g(q.busy)}")
            ),
        ),
        QuirkSpec(
            "reply-port",
            "ephemeral",
            "answers leave from an ephemeral port, not from the port the request reached",
            "Devices and stacks that answer from a port other than 3610: controllers that match answers on the port "
            "or listen only on 3610 never see them.",
            _apply_reply_port,
            lambda q: "reply-port=ephemeral" if q.reply_port_ephemeral else None,
        ),
        QuirkSpec(
            "no-identification",
            "",
            "the node profile has no identification number (0x83): a Get of it is refused",
            "Nodes that do not implement 0x83: controllers that key devices on it fail to add them, or crash.",
            lambda q, t: replace(q, no_identification=_flag("no-identification", t)),
            lambda q: "no-identification" if q.no_identification else None,
        ),
        QuirkSpec(
            "shared-identification",
            "[HEX]",
            "the node profile reports a fixed 0x83 that other nodes report too",
            "Several devices of one installation (one gateway, or units flashed alike) that report the same "
            "identification number: a controller that keys on it sees one device instead of several.",
            _apply_shared,
            lambda q: (
                None
                if q.shared_identification is None
                else "shared-identification"
                + ("" if q.shared_identification == SHARED_IDENTIFICATION else f"={q.shared_identification.hex()}")
            ),
        ),
        QuirkSpec(
            "set-ack-no-apply",
            "",
            "a SetC is answered Set_Res (a SetI nothing) and the value does not change",
            "Devices that acknowledge a Set and ignore it (a mode the device cannot enter now, a setting locked by "
            "its own controller): the controller believes the write took effect.",
            lambda q, t: replace(q, set_ack_no_apply=_flag("set-ack-no-apply", t)),
            lambda q: "set-ack-no-apply" if q.set_ack_no_apply else None,
        ),
        QuirkSpec(
            "silent-after",
            "N[:SECONDS]",
            "after N requests the node answers nothing, for SECONDS (default: until restarted)",
            "Adapters that stop answering after hours of polling until they are power-cycled or their app restarts "
            "them, while the controller keeps waiting on them.",
            _apply_silent_after,
            lambda q: (
                None
                if q.silent_after is None
                else f"silent-after={q.silent_after}" + ("" if q.silent_for is None else f":{_g(q.silent_for)}")
            ),
        ),
        QuirkSpec(
            "loss",
            "P",
            "each datagram in or out is lost with probability P",
            "Devices on weak Wi-Fi or behind busy access points: requests and answers go missing now and then, and "
            "multicast discovery misses devices.",
            lambda q, t: replace(q, loss=_number("loss", t, high=0.9)),
            lambda q: None if not q.loss else f"loss={_g(q.loss)}",
        ),
        QuirkSpec(
            "trailing-bytes",
            "[N]",
            "N zero bytes (default 2) after the last property of every datagram sent",
            "Devices that pad their frames: strict parsers drop the frame, or crash on it.",
            _apply_trailing,
            lambda q: (
                None
                if not q.trailing_bytes
                else "trailing-bytes" + ("" if q.trailing_bytes == 2 else f"={q.trailing_bytes}")
            ),
        ),
    )
}


def parse_quirks(specs: Iterable[str], *, seed: int = 0) -> Quirks:
    """:class:`Quirks` from ``NAME[=VALUE]`` texts (``--quirk``); an unknown name or a bad value raises
    :class:`EchonetUsageError` naming it."""
    quirks = Quirks(seed=seed)
    for spec in specs:
        name, eq, value = str(spec).strip().partition("=")
        name = name.strip().lower().replace("_", "-")
        quirk = QUIRKS.get(name)
        if quirk is None:
            raise EchonetUsageError(f"unknown quirk {name!r} (known: {', '.join(QUIRKS)})")
        quirks = quirk.apply(quirks, value.strip() if eq else None)
    return quirks


def serve_quirks(specs: Iterable[str], *, secure: bool = False) -> Quirks | None:
    """The quirks of ``echonet serve --quirk`` (``None`` for none); they cannot be combined with the secure
    overlay, which is a layer of its own around the node."""
    quirks = parse_quirks(specs)
    if not quirks.active:
        return None
    if secure:
        raise EchonetUsageError("--quirk cannot be combined with --secure (both wrap the node)")
    return quirks


class QuirkStats:
    """What the quirks did to a node's traffic (counts)."""

    def __init__(self) -> None:
        self.requests = 0
        self.lost_in = 0
        self.lost_out = 0
        self.ignored_busy = 0
        self.ignored_silent = 0
        self.truncated = 0
        self.oversize_dropped = 0
        self.acked_not_applied = 0
        self.sent_aside = 0

    def as_dict(self) -> dict[str, int]:
        return dict(vars(self))


def _declined(data: bytes, addr: Addr, now: float) -> int:
    return FAST_DECLINED


class QuirkLayer:
    """Wraps a :class:`~echonet.node.Node` with the :class:`~echonet.aio.runner.Core` interface, applying ``quirks``
    to what it receives and sends. ``send_aside(data, addr)`` sends an answer from another port (needed by
    ``reply-port=ephemeral``; without it such answers leave as usual)."""

    def __init__(
        self, node: Node, quirks: Quirks, *, send_aside: Callable[[bytes, Addr], object] | None = None
    ) -> None:
        self.node = node
        self.quirks = quirks
        self.stats = QuirkStats()
        self.send_aside = send_aside
        self._rng = random.Random(quirks.seed)
        self._held: list[tuple[float, int, bytes, Addr]] = []
        self._order = 0
        self._serial = 0
        self._busy_until = float("-inf")
        #: When the request that made a ``drop-concurrent`` node busy came, until its answer is queued.
        self._awaiting_answer: float | None = None
        self._silent_since: float | None = None
        self._counted = 0
        if quirks.shared_identification is not None:
            node.profile.update(0x83, quirks.shared_identification, check=False)

    # -- the Core interface -----------------------------------------------------------------------------------------

    @property
    def timer_serial(self) -> int:
        return self.node.timer_serial + self._serial

    def restart(self) -> None:
        """What power-cycling the device does: it answers again (``silent-after`` counts from zero), and nothing it
        held is sent."""
        self._silent_since = None
        self._counted = 0
        self._held.clear()
        self._busy_until = float("-inf")
        self._awaiting_answer = None

    @property
    def silent(self) -> bool:
        return self._silent_since is not None

    def receive_datagram(self, data: bytes, addr: Addr, now: float) -> None:
        q = self.quirks
        if q.loss and self._rng.random() < q.loss:
            self.stats.lost_in += 1
            return
        frame = _request_frame(data)
        if frame is None:  # not a request (an answer to the node's own request, a notification, garbage)
            if not self._silent(now):
                self.node.receive_datagram(data, addr, now)
            return
        self.stats.requests += 1
        if self._silent(now):
            self.stats.ignored_silent += 1
            return
        if q.silent_after is not None:
            self._counted += 1
            if self._counted > q.silent_after:
                self._silent_since = now
                self.stats.ignored_silent += 1
                return
        if q.drop_concurrent:
            if now < self._busy_until:
                self.stats.ignored_busy += 1
                return
            # busy until the answer leaves (see _queue), or for the processing time when there is none
            self._busy_until = float("inf")
            self._awaiting_answer = now
        deoj, seoj = frame.deoj, frame.seoj
        if (
            q.set_ack_no_apply
            and frame.esv in _SET_REQUESTS
            and deoj is not None
            and seoj is not None
            and self.node.object(deoj) is not None
        ):
            self.stats.acked_not_applied += 1
            if frame.esv == ESV.SETC:
                ack = Frame.make(frame.tid, deoj, seoj, ESV.SET_RES, tuple(Property(p.epc) for p in frame.properties))
                self._queue(encode(ack), addr, now)
            return
        self.node.receive_datagram(data, addr, now)

    def datagrams_to_send(self, now: float) -> list[tuple[bytes, Addr]]:
        for data, addr in self.node.datagrams_to_send(now):
            if self._silent(now):
                continue
            self._queue(data, addr, now)
        if self._awaiting_answer is not None:  # the request got no answer to hold: busy for the processing time
            self._busy_until = self._awaiting_answer + self.quirks.hold
            self._awaiting_answer = None
        out: list[tuple[bytes, Addr]] = []
        held = self._held
        while held and held[0][0] <= now:
            _, _, data, addr = heapq.heappop(held)
            self._emit(data, addr, out)
        return out

    def take_events(self) -> list[Event]:
        return self.node.take_events()

    def get_timer(self) -> float | None:
        deadline = self.node.get_timer()
        if self._held and (deadline is None or self._held[0][0] < deadline):
            return self._held[0][0]
        return deadline

    def handle_timer(self, now: float) -> None:
        self.node.handle_timer(now)

    def fast_receiver(
        self, answered: Callable[[int, Frame, Addr], None], send: Callable[[bytes, Addr], Any]
    ) -> Callable[[bytes, Addr, float], int]:
        """Declines everything: every datagram goes through :meth:`receive_datagram` and the quirks."""
        return _declined

    def start_fast(
        self,
        host: str | Addr,
        deoj: EOJ,
        esv: int,
        props: Iterable[Property | int],
        now: float,
        timeout: float | None = None,
    ) -> tuple[int, bytes | None, Addr, float] | None:
        return None

    # -- the quirks on the way out ----------------------------------------------------------------------------------

    def _silent(self, now: float) -> bool:
        since = self._silent_since
        if since is None:
            return False
        if self.quirks.silent_for is not None and now - since >= self.quirks.silent_for:
            self.restart()
            return False
        return True

    def _queue(self, data: bytes, addr: Addr, now: float) -> None:
        """Apply the quirks to one datagram the node sends and hold it or let it go."""
        q = self.quirks
        answer = not is_multicast(str(addr[0]))
        if answer and (q.max_get is not None or q.no_identification):
            data = self._rewrite(data, q)
        if answer and q.oversize_silent is not None and len(data) > q.oversize_silent:
            self.stats.oversize_dropped += 1
            return  # (a drop-concurrent node stays busy for its processing time)
        if q.trailing_bytes:
            data = data + bytes(q.trailing_bytes)
        hold = q.hold
        if hold > 0 and answer:
            jitter = q.jitter if q.jitter is not None else hold / 5
            due = now + max(0.0, hold + self._rng.uniform(-jitter, jitter))
        else:
            due = now
        if answer and self._awaiting_answer is not None:
            self._busy_until = due
            self._awaiting_answer = None
        self._order += 1
        heapq.heappush(self._held, (due, self._order, data, addr))
        if due > now:
            self._serial += 1

    def _emit(self, data: bytes, addr: Addr, out: list[tuple[bytes, Addr]]) -> None:
        q = self.quirks
        if q.loss and self._rng.random() < q.loss:
            self.stats.lost_out += 1
            return
        if q.reply_port_ephemeral and self.send_aside is not None and not is_multicast(str(addr[0])):
            self.stats.sent_aside += 1
            self.send_aside(data, addr)
            return
        out.append((data, addr))

    def _rewrite(self, data: bytes, q: Quirks) -> bytes:
        try:
            frame = decode(data)
        except FrameDecodeError:
            return data
        if frame.esv not in _READ_ANSWERS:
            return data
        props = frame.properties
        esv = frame.esv
        changed = False
        if q.no_identification and frame.seoj == NODE_PROFILE_EOJ:
            edited = []
            for prop in props:
                if prop.epc == 0x83:
                    prop = Property(0x83)
                    esv = ESV.GET_SNA if esv in (ESV.GET_RES, ESV.GET_SNA) else ESV.INF_SNA
                elif prop.epc == 0x9F and prop.edt:
                    with contextlib.suppress(ValueError):
                        prop = Property(0x9F, encode_property_map(decode_property_map(prop.edt) - {0x83}))
                edited.append(prop)
            props = tuple(edited)
            changed = True
        if q.max_get is not None and len(props) > q.max_get and esv in (ESV.GET_RES, ESV.GET_SNA):
            props = props[: q.max_get]
            self.stats.truncated += 1
            changed = True
        if not changed or frame.seoj is None or frame.deoj is None:
            return data
        return encode(Frame.make(frame.tid, frame.seoj, frame.deoj, esv, props))


def _request_frame(data: bytes) -> Frame | None:
    """The frame of a request (ESV 0x60-0x6F), or ``None`` for anything else."""
    if len(data) < 12 or data[0] != 0x10 or data[1] != 0x81 or not 0x60 <= data[10] <= 0x6F:
        return None
    try:
        return decode(data)
    except FrameDecodeError:
        try:  # a request with bytes after its last property: the node decides what it is
            return decode(data[: _trailing_offset(data)])
        except (FrameDecodeError, ValueError):
            return None


def _trailing_offset(data: bytes) -> int:
    try:
        decode(data)
    except FrameDecodeError as exc:
        if exc.field == "trailing":
            return exc.offset
    raise ValueError("no trailing bytes")


__all__ = [
    "QUIRKS",
    "SHARED_IDENTIFICATION",
    "QuirkLayer",
    "QuirkSpec",
    "QuirkStats",
    "Quirks",
    "parse_quirks",
    "serve_quirks",
]
