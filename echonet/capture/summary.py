"""Conversations of a capture: who is there, which request each answer belongs to, and how long it took.

:class:`Conversations` takes the datagrams of a capture one at a time (:meth:`Conversations.add`, in capture order)
and keeps, in memory bounded by the number of nodes, objects, EPCs and requests still waiting for an answer:

- per node (IP address): the identification number (node profile EPC 0x83) when seen, the objects it hosts (the
  SEOJs it sends from and the instance list 0xD6 it reports) and their classes;
- requests matched to answers as a controller matches them: on (peer IP, TID, EOJ), never on the port (devices
  answer from ports other than 3610). A request to instance 0x00 or to a multicast address takes every answer of
  the objects of its class (of every node) within :attr:`Conversations.window` seconds; another request takes its
  first answer. SetGet is answered by SetGet_Res or SetGet_SNA, SetI only by SetI_SNA (no answer is expected), an
  INF_REQ by an INF (possibly multicast), an INFC by INFC_Res;
- latency per answering node (median, 95th percentile, maximum), unanswered requests (a request sent again and then
  answered is not unanswered: it counts as a retry), retries (the same request, same ESV, object and properties,
  sent again to the same peer while the first was unanswered), answers matching no request;
- SNA rate per class and EPC (how often a property asked for was refused), INF rate per node and EPC (INF and INFC
  sent unsolicited), malformed datagrams by reason, secured records of the overlay by kind.

:meth:`Conversations.report` gives the result as a :class:`Report`: JSON (:meth:`Report.to_json`) and a text table
(:meth:`Report.lines`). The latencies are kept exactly (8 bytes an answer) up to :data:`EXACT_LATENCIES` per node
and in total, so percentiles are exact; past that they go into a histogram of logarithmic buckets 2 % wide
(:class:`Latencies`), so memory stays flat and the median and 95th percentile are within 1 % (count and maximum
stay exact). Everything else is counters.
"""

from __future__ import annotations

import ipaddress
import math
from array import array
from collections import Counter, deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from itertools import repeat
from typing import TYPE_CHECKING, Any, cast

from ..describe import capture_time_json, class_name
from ..errors import FrameDecodeError
from ..frame import EOJ, ESV, Frame, esv_name
from ..spec.registry import Registry

__all__ = [
    "ANSWER_WINDOW",
    "EXACT_LATENCIES",
    "ConversationFilter",
    "Conversations",
    "Latencies",
    "LatencyStats",
    "NodeStats",
    "Report",
    "answer_esvs",
]

#: Latencies kept exactly (per node and in total) before the oldest go into the histogram of :class:`Latencies`.
EXACT_LATENCIES = 16384
#: The most answers' shapes (class, ESV, properties) counted before they are folded into the counts per property.
_SNA_SHAPES = 4096
_GAMMA = 1.02  # (bucket k holds (gamma^(k-1), gamma^k]: its middle is within 1 % of every value in it)
_LOG_GAMMA = math.log(_GAMMA)
_FLOOR = 1e-9  # (latencies of zero, or below a nanosecond, counted as a nanosecond)


if TYPE_CHECKING:
    _FloatArray = array[float]
else:
    _FloatArray = array  # (not subscriptable at run time)


class Latencies(_FloatArray):
    """Latencies in seconds (an ``array("d")``: ``append`` is the array's own): the newest exactly, and when they
    reach :data:`EXACT_LATENCIES`, :meth:`spill` moves them into a histogram of buckets 2 % wide (of
    ``Counter`` size: about 35 buckets per decade of latency), in C (``map`` over ``math.log``)."""

    def __new__(cls, values: Iterable[float] = ()) -> Latencies:
        obj = cast(Latencies, super().__new__(cls, "d", values))
        obj.buckets = None
        obj.spilled = 0
        obj.spilled_max = -math.inf
        return obj

    buckets: Counter[int] | None
    spilled: int
    spilled_max: float

    def spill(self) -> None:
        """Move the exact values into the histogram."""
        if not self:
            return
        if self.buckets is None:
            self.buckets = Counter()
        logs = map(math.log, map(max, self, repeat(_FLOOR)))
        self.buckets.update(map(math.ceil, map(float.__mul__, logs, repeat(1 / _LOG_GAMMA))))
        self.spilled += len(self)
        self.spilled_max = max(self.spilled_max, max(self))
        del self[:]

    @property
    def total(self) -> int:
        """How many latencies: those in the histogram and the exact ones."""
        return self.spilled + len(self)


#: Seconds of capture time a request waits for its answers (the answers of a multicast or instance-0 request, a
#: late answer, the retries of a request).
ANSWER_WINDOW = 10.0

#: The answers each request ESV takes (the SNA and the positive answer).
_ANSWERS: dict[int, tuple[int, ...]] = {
    ESV.SETI: (ESV.SETI_SNA,),
    ESV.SETC: (ESV.SET_RES, ESV.SETC_SNA),
    ESV.GET: (ESV.GET_RES, ESV.GET_SNA),
    ESV.INF_REQ: (ESV.INF, ESV.INF_SNA),
    ESV.SETGET: (ESV.SETGET_RES, ESV.SETGET_SNA),
    ESV.INFC: (ESV.INFC_RES,),
}
# The tables by plain int (an IntEnum member hashes through Python code: ten times the cost of an int's hash).
_ANSWERS_BY_CODE: dict[int, frozenset[int]] = {int(k): frozenset(int(e) for e in v) for k, v in _ANSWERS.items()}
_ANSWER_ESVS = frozenset(int(e) for answers in _ANSWERS.values() for e in answers)
_SET_SNAS = frozenset((int(ESV.SETI_SNA), int(ESV.SETC_SNA)))
_SETGET_ANSWERS = frozenset((int(ESV.SETGET_RES), int(ESV.SETGET_SNA)))
_IDENTIFYING = frozenset(int(e) for e in (ESV.GET_RES, ESV.INF, ESV.INFC, ESV.GET_SNA))
_INF, _INFC, _SETI = int(ESV.INF), int(ESV.INFC), int(ESV.SETI)
_NOTIFICATIONS = frozenset((_INF, _INFC))


def answer_esvs(request_esv: int) -> tuple[int, ...]:
    """The ESVs that answer a request of ``request_esv`` (empty for an ESV that is no request)."""
    return _ANSWERS.get(request_esv, ())


@dataclass(slots=True, eq=False)
class _Request:
    time: float
    src: str
    dst: str
    tid: int
    seoj: EOJ
    deoj: EOJ
    esv: int
    signature: tuple[Any, ...]
    many: bool  # multicast or instance 0: every answer within the window
    answers: int = 0
    retried: bool = False
    done: bool = False


class ConversationFilter:
    """A filter of datagrams that keeps conversations whole, for ``--summary --filter``: a request that passes
    brings its answers (on (controller IP, TID) within ``window`` seconds), and an answer that passes brings the
    request it answers (held back, at most ``window`` seconds, until then), so that what passes is paired as in the
    whole capture. Other datagrams (notifications, malformed ones, records) pass when they match.

    :meth:`feed` takes each datagram in capture order with whether it matched, and returns the items to pass on, in
    order (a held-back request before its answer)."""

    def __init__(self, window: float = ANSWER_WINDOW) -> None:
        self.window = window
        self._chosen: dict[tuple[str, int], float] = {}  # requests passed on: (sender, TID) -> time
        self._held: dict[tuple[str, int], tuple[float, Any]] = {}  # requests held back: (sender, TID) -> item

    def feed(self, time: float, src: str, dst: str, frame: Frame | None, matched: bool, item: Any) -> list[Any]:
        """The items to pass on for this datagram (``item``: what the caller passes on for it)."""
        esv = None if frame is None or frame.esv is None else int(frame.esv)
        self._expire(time)
        if esv in _ANSWERS_BY_CODE:
            assert frame is not None
            key = (src, frame.tid)
            if matched:
                self._held.pop(key, None)
                self._chosen.pop(key, None)
                self._chosen[key] = time
                return [item]
            self._chosen.pop(key, None)
            self._held.pop(key, None)
            self._held[key] = (time, item)
            if esv != _INFC:
                return []
        if esv in _ANSWER_ESVS:
            assert frame is not None
            key = (dst, frame.tid)
            if matched:
                held = self._held.pop(key, None)
                if held is not None:
                    self._chosen[key] = held[0]
                    return [held[1], item]
                return [item]
            return [item] if key in self._chosen else []
        return [item] if matched else []

    def _expire(self, now: float) -> None:
        for table in (self._chosen, self._held):
            while table:
                key = next(iter(table))
                entry = table[key]
                when = entry if isinstance(entry, float) else entry[0]
                if now - when <= self.window:
                    break
                del table[key]


_GROUPS: dict[str, bool] = {}


def _is_group(address: str) -> bool:
    """Whether ``address`` is a multicast (or IPv4 broadcast-looking) address; memoised (bounded)."""
    found = _GROUPS.get(address)
    if found is None:
        try:
            ip = ipaddress.ip_address(address.split("%", 1)[0])
            found = ip.is_multicast or (ip.version == 4 and str(ip).endswith(".255"))
        except ValueError:
            found = False
        if len(_GROUPS) >= 4096:
            _GROUPS.clear()
        _GROUPS[address] = found
    return found


@dataclass(frozen=True, slots=True)
class LatencyStats:
    """Latencies of answers, in seconds."""

    count: int
    median: float | None
    p95: float | None
    max: float | None

    @classmethod
    def of(cls, values: array[float]) -> LatencyStats:
        if isinstance(values, Latencies) and values.buckets is not None:
            return cls._of_histogram(values)
        if not values:
            return cls(0, None, None, None)
        ordered = sorted(values)
        n = len(ordered)
        median = ordered[n // 2] if n % 2 else (ordered[n // 2 - 1] + ordered[n // 2]) / 2
        return cls(n, median, ordered[max(math.ceil(0.95 * n) - 1, 0)], ordered[-1])

    @classmethod
    def _of_histogram(cls, values: Latencies) -> LatencyStats:
        merged = Latencies()
        merged.buckets = Counter(values.buckets)
        merged.extend(values)
        merged.spill()
        assert merged.buckets is not None
        n = values.total
        top = max(values.spilled_max, max(values, default=-math.inf))
        ranks = sorted({n // 2 - (0 if n % 2 else 1), n // 2, max(math.ceil(0.95 * n) - 1, 0)})
        found: dict[int, float] = {}
        seen = 0
        for key in sorted(merged.buckets):
            seen += merged.buckets[key]
            while ranks and ranks[0] < seen:
                found[ranks.pop(0)] = min(2 * _GAMMA**key / (_GAMMA + 1), top)  # (the bucket's middle)
            if not ranks:
                break
        median = found[n // 2] if n % 2 else (found[n // 2 - 1] + found[n // 2]) / 2
        return cls(n, median, found[max(math.ceil(0.95 * n) - 1, 0)], top)

    def to_json(self) -> dict[str, Any]:
        def ms(v: float | None) -> float | None:
            return None if v is None else round(v * 1000, 3)

        return {"count": self.count, "median_ms": ms(self.median), "p95_ms": ms(self.p95), "max_ms": ms(self.max)}

    def text(self) -> str:
        if not self.count:
            return "-"
        assert self.median is not None and self.p95 is not None and self.max is not None
        return f"{self.median * 1000:.1f}/{self.p95 * 1000:.1f}/{self.max * 1000:.1f}"


@dataclass(slots=True)
class NodeStats:
    """What a capture showed of one node (an IP address)."""

    address: str
    identification: bytes | None = None
    objects: set[EOJ] = field(default_factory=set)
    sent: int = 0  # datagrams sent from the address
    requests_sent: int = 0
    requests_received: int = 0
    answers_sent: int = 0
    answered: int = 0  # requests to it that were answered
    unanswered: int = 0  # requests to it never answered
    retries: int = 0  # requests to it sent again
    sna: int = 0  # SNA answers it sent
    inf: int = 0  # unsolicited INF and INFC it sent
    inf_by_epc: Counter[int] = field(default_factory=Counter)
    latencies: Latencies = field(default_factory=Latencies)


@dataclass
class Report:
    """The result of :class:`Conversations`: see :meth:`to_json` for the fields."""

    registry: Registry
    datagrams: int
    frames: int
    start: float | None
    end: float | None
    nodes: list[NodeStats]
    requests: int
    answered: int
    unanswered: int
    no_answer_expected: int
    retries: int
    unmatched_answers: int
    latency: LatencyStats
    sna: dict[tuple[int, int], tuple[int, int]]  # (class, EPC) -> (asked, refused)
    inf: int
    malformed: Counter[str]
    malformed_examples: dict[str, str]
    secured: Counter[str]
    esvs: Counter[int]

    @property
    def duration(self) -> float:
        if self.start is None or self.end is None:
            return 0.0
        return max(self.end - self.start, 0.0)

    def _per_minute(self, count: int) -> float | None:
        return round(count * 60 / self.duration, 3) if self.duration > 0 else None

    def _objects(self, node: NodeStats) -> list[dict[str, Any]]:
        return [
            {"eoj": str(e), "class": f"0x{e.class_id:04X}", "class_name": class_name(self.registry, e)}
            for e in sorted(node.objects, key=lambda e: (e.class_id, e.instance))
        ]

    def to_json(self) -> dict[str, Any]:
        """The summary as one JSON document: ``datagrams``, ``frames``, ``start``, ``end`` (ISO 8601 UTC, as the
        records' ``time``), ``duration_seconds``, ``esvs`` (count per ESV name), ``requests`` (``count``, ``answered``,
        ``unanswered``, ``no_answer_expected``, ``retries``, ``unmatched_answers``), ``latency`` (``count``,
        ``median_ms``, ``p95_ms``, ``max_ms``), ``nodes`` (``host``, ``identification``, ``objects`` with ``eoj``,
        ``class``, ``class_name``, the counters, ``latency``, ``inf`` with ``count``, ``per_minute`` and
        ``by_epc``), ``sna`` (``class``, ``class_name``, ``epc``, ``asked``, ``refused``, ``rate``), ``inf``
        (``count``, ``per_minute``), ``malformed`` (``count``, ``reasons``: ``field``, ``count``, ``example``),
        ``secured`` (count per record kind)."""
        nodes = []
        for n in self.nodes:
            nodes.append(
                {
                    "host": n.address,
                    "identification": None if n.identification is None else n.identification.hex(),
                    "objects": self._objects(n),
                    "sent": n.sent,
                    "requests_sent": n.requests_sent,
                    "requests_received": n.requests_received,
                    "answers_sent": n.answers_sent,
                    "answered": n.answered,
                    "unanswered": n.unanswered,
                    "retries": n.retries,
                    "sna": n.sna,
                    "latency": LatencyStats.of(n.latencies).to_json(),
                    "inf": {
                        "count": n.inf,
                        "per_minute": self._per_minute(n.inf),
                        "by_epc": {f"0x{epc:02X}": c for epc, c in sorted(n.inf_by_epc.items())},
                    },
                }
            )
        sna = []
        for (cls, epc), (asked, refused) in sorted(self.sna.items()):
            sna.append(
                {
                    "class": f"0x{cls:04X}",
                    "class_name": class_name(self.registry, EOJ(cls >> 8, cls & 0xFF, 1)),
                    "epc": f"0x{epc:02X}",
                    "asked": asked,
                    "refused": refused,
                    "rate": round(refused / asked, 4) if asked else None,
                }
            )
        return {
            "datagrams": self.datagrams,
            "frames": self.frames,
            "start": None if self.start is None else capture_time_json(self.start),
            "end": None if self.end is None else capture_time_json(self.end),
            "duration_seconds": round(self.duration, 6),
            "esvs": {esv_name(_esv(e)): c for e, c in sorted(self.esvs.items())},
            "requests": {
                "count": self.requests,
                "answered": self.answered,
                "unanswered": self.unanswered,
                "no_answer_expected": self.no_answer_expected,
                "retries": self.retries,
                "unmatched_answers": self.unmatched_answers,
            },
            "latency": self.latency.to_json(),
            "nodes": nodes,
            "sna": sna,
            "inf": {"count": self.inf, "per_minute": self._per_minute(self.inf)},
            "malformed": {
                "count": sum(self.malformed.values()),
                "reasons": [
                    {"field": f, "count": c, "example": self.malformed_examples[f]}
                    for f, c in self.malformed.most_common()
                ],
            },
            "secured": dict(sorted(self.secured.items())),
        }

    def lines(self) -> list[str]:
        """The summary as text: totals, a table of nodes, the SNA rates, the malformed datagrams."""
        out = [
            f"{self.datagrams} datagram(s), {self.frames} frame(s) over {self.duration:.3f} s; "
            f"{self.requests} request(s): {self.answered} answered, {self.unanswered} unanswered, "
            f"{self.retries} retried, {self.no_answer_expected} expecting no answer; "
            f"{self.unmatched_answers} answer(s) matching no request",
            f"latency median/p95/max: {self.latency.text()} ms over {self.latency.count} answer(s); "
            f"INF: {self.inf}" + (f" ({self._per_minute(self.inf)}/min)" if self.duration > 0 else ""),
            "",
        ]
        heading = ("node", "identification", "objects", "req>", ">req", "answered", "unans", "retry", "SNA", "INF",
                   "latency ms (med/p95/max)")  # fmt: skip
        rows = []
        for n in self.nodes:
            ordered = sorted(n.objects, key=lambda e: (e.class_id, e.instance))
            objects = ", ".join(f"{e} {class_name(self.registry, e)}" for e in ordered)
            rows.append(
                (
                    n.address,
                    "-" if n.identification is None else n.identification.hex(),
                    objects or "-",
                    str(n.requests_sent),
                    str(n.requests_received),
                    str(n.answered),
                    str(n.unanswered),
                    str(n.retries),
                    str(n.sna),
                    str(n.inf),
                    LatencyStats.of(n.latencies).text(),
                )
            )
        out += _table(heading, rows)
        if self.sna:
            out += ["", "SNA rate per EPC:"]
            sna_rows = []
            for (cls, epc), (asked, refused) in sorted(self.sna.items()):
                if not refused:
                    continue
                name = class_name(self.registry, EOJ(cls >> 8, cls & 0xFF, 1))
                prop = self.registry.property(cls, epc)
                epc_text = f"0x{epc:02X} {prop.name if prop else ''}".rstrip()
                sna_rows.append(
                    (f"0x{cls:04X} {name}", epc_text, f"{refused}/{asked}", f"{refused / asked * 100:.1f}%")
                )
            out += _table(("class", "EPC", "refused/asked", "rate"), sna_rows) if sna_rows else ["  (none refused)"]
        if self.malformed:
            out += ["", f"malformed datagrams: {sum(self.malformed.values())}"]
            for f, c in self.malformed.most_common():
                out.append(f"  {c} x {f}: {self.malformed_examples[f]}")
        if self.secured:
            out += ["", "secured records: " + ", ".join(f"{k} {c}" for k, c in sorted(self.secured.items()))]
        return out


def _esv(code: int) -> int:
    """The :class:`ESV` member of a known code (the names), else the code."""
    try:
        return ESV(code)
    except ValueError:
        return code


def _table(heading: tuple[str, ...], rows: Sequence[tuple[str, ...]]) -> list[str]:
    widths = [max(len(r[i]) for r in (heading, *rows)) for i in range(len(heading))]
    return ["  ".join(c.ljust(widths[i]) for i, c in enumerate(r)).rstrip() for r in (heading, *rows)]


class Conversations:
    """The conversations of a capture, built one datagram at a time (see the module's documentation)."""

    def __init__(self, registry: Registry, *, window: float = ANSWER_WINDOW) -> None:
        self.registry = registry
        self.window = window
        self.nodes: dict[str, NodeStats] = {}
        self.datagrams = 0
        self.frames = 0
        self.start: float | None = None
        self.end: float | None = None
        self.requests = 0
        self.answered = 0
        self.unanswered = 0
        self.no_answer_expected = 0
        self.retries = 0
        self.unmatched_answers = 0
        self.inf = 0
        self.latencies = Latencies()
        self._sna: dict[tuple[int, int], list[int]] = {}
        self._sna_shapes: dict[tuple[Any, ...], int] = {}  # (class, ESV, properties, get properties) -> answers
        self.malformed: Counter[str] = Counter()
        self.malformed_examples: dict[str, str] = {}
        self.secured: Counter[str] = Counter()
        self.esvs: Counter[int] = Counter()
        self._pending: dict[int, list[_Request]] = {}  # by TID
        self._order: deque[_Request] = deque()  # pending requests in time order (for the window)
        self._by_signature: dict[tuple[Any, ...], _Request] = {}
        #: Called for every answer matched: ``(request time, answer time, device address, ESV of the answer)``.
        self.on_answer: Any = None
        #: Called for every request: ``(time, device address, ESV)``.
        self.on_request: Any = None

    # -------------------------------------------------------------------------------------------- input

    def node(self, address: str) -> NodeStats:
        found = self.nodes.get(address)
        if found is None:
            found = self.nodes[address] = NodeStats(address)
        return found

    def add(
        self,
        time: float,
        src: str,
        dst: str,
        frame: Frame | None,
        failure: FrameDecodeError | None = None,
        secured: str | None = None,
    ) -> None:
        """One datagram: ``frame`` as decoded; ``None`` with the ``failure`` of a malformed one, or with the kind
        of a record of the secure overlay in ``secured`` (a record opened with a key log is given as its frame)."""
        self.datagrams += 1
        if self.start is None:
            self.start = time
        end = self.end
        self.end = time if end is None or time > end else end
        order = self._order
        if order and time - order[0].time > self.window:
            self._expire(time)
        sender = self.nodes.get(src) or self.node(src)
        sender.sent += 1
        if frame is None:
            if secured is not None:
                self.secured[secured] += 1
            else:
                where = failure.field if failure is not None else "unknown"
                self.malformed[where] += 1
                if where not in self.malformed_examples and failure is not None:
                    self.malformed_examples[where] = f"{failure.reason} (at byte {failure.offset})"
                self.malformed_examples.setdefault(where, "not an ECHONET Lite frame")
            return
        self.frames += 1
        if frame.esv is None or frame.seoj is None or frame.deoj is None:
            return  # EHD2 0x82: nothing to pair
        esv = int(frame.esv)
        self.esvs[esv] += 1
        sender.objects.add(frame.seoj)
        if esv in _IDENTIFYING and frame.seoj.class_group == 0x0E:
            self._identify(sender, frame)
        if esv in _ANSWERS_BY_CODE:
            self._request(time, src, dst, frame, esv)
            if esv != _INFC:
                return
        if esv in _ANSWER_ESVS:
            if self._answer(time, src, dst, frame, esv):
                return
            if esv not in _NOTIFICATIONS:
                self.unmatched_answers += 1
                return
        if esv in _NOTIFICATIONS:
            self.inf += 1
            sender.inf += 1
            for p in frame.properties:
                sender.inf_by_epc[p.epc] += 1

    def _identify(self, node: NodeStats, frame: Frame) -> None:
        if frame.seoj is None or not frame.seoj.is_node_profile:
            return
        for p in frame.properties:
            if p.epc == 0x83 and len(p.edt) == 17:
                node.identification = p.edt
            elif p.epc in (0xD5, 0xD6) and p.edt and len(p.edt) == 1 + 3 * p.edt[0]:
                for i in range(p.edt[0]):
                    e = p.edt[1 + 3 * i : 4 + 3 * i]
                    node.objects.add(EOJ(e[0], e[1], e[2]))

    def _request(self, time: float, src: str, dst: str, frame: Frame, esv: int) -> None:
        assert frame.seoj is not None and frame.deoj is not None
        self.requests += 1
        nodes = self.nodes
        (nodes.get(src) or self.node(src)).requests_sent += 1
        group = _GROUPS.get(dst)
        if group is None:
            group = _is_group(dst)
        if not group:
            (nodes.get(dst) or self.node(dst)).requests_received += 1
        if self.on_request is not None:
            self.on_request(time, dst, esv)
        edts = tuple(frame.properties)  # (EPC, EDT) pairs: a Property is one
        gets = tuple(p.epc for p in frame.get_properties) if frame.get_properties else ()
        signature = (src, dst, frame.deoj, esv, edts, gets)
        earlier = self._by_signature.get(signature)
        if earlier is not None and not earlier.answers and not earlier.done and time - earlier.time <= self.window:
            earlier.retried = True
            self.retries += 1
            if not group:
                self.node(dst).retries += 1
        many = group or frame.deoj.instance == 0
        request = _Request(time, src, dst, frame.tid, frame.seoj, frame.deoj, esv, signature, many)
        self._by_signature[signature] = request
        self._pending.setdefault(frame.tid, []).append(request)
        self._order.append(request)

    def _answer(self, time: float, src: str, dst: str, frame: Frame, esv: int) -> bool:
        """Pair an answer with its request; whether one was found."""
        assert frame.seoj is not None
        candidates = self._pending.get(frame.tid)
        if not candidates:
            return False
        seoj = frame.seoj
        for request in reversed(candidates):  # the latest attempt of a request sent again with its TID
            if request.done or esv not in _ANSWERS_BY_CODE[request.esv]:
                continue
            if request.dst != src and not _is_group(request.dst):
                continue
            if request.src != dst and not (esv == _INF and _is_group(dst)):
                continue
            deoj = request.deoj
            if deoj != seoj and not (deoj.instance == 0 and deoj.class_id == seoj.class_id):
                continue
            break
        else:
            return False
        first = not request.answers
        request.answers += 1
        if not request.many:
            request.done = True
        latency = time - request.time
        device = self.nodes.get(src) or self.node(src)
        device.answers_sent += 1
        for kept in (device.latencies, self.latencies):
            kept.append(latency)
            if len(kept) >= EXACT_LATENCIES:
                kept.spill()
        if first:
            self.answered += 1
            if request.many:
                pass
            else:
                device.answered += 1
        if request.many:
            device.answered += 1
        if 0x50 <= esv <= 0x5F:
            device.sna += 1
        self._count_sna(frame, esv)
        if request.retried:  # the answer to the first attempt: later attempts are answered too
            self._settle(request.signature)
        if self.on_answer is not None:
            self.on_answer(request.time, time, src, esv)
        return True

    def _settle(self, signature: tuple[Any, ...]) -> None:
        latest = self._by_signature.get(signature)
        if latest is not None and not latest.answers:
            latest.done = True
            latest.answers = -1  # answered through an earlier attempt

    def _count_sna(self, frame: Frame, esv: int) -> None:
        """Count an answer's properties, as its class, ESV and properties (a poll's answers repeat them: one count
        per answer, folded into :attr:`sna` per property when read or when too many are held)."""
        assert frame.seoj is not None
        key = (frame.seoj.class_id, esv, frame.properties, frame.get_properties)
        shapes = self._sna_shapes
        shapes[key] = shapes.get(key, 0) + 1
        if len(shapes) > _SNA_SHAPES:
            self._fold_sna()

    def _fold_sna(self) -> None:
        sna = self._sna
        for (cls, esv, props, gets), n in self._sna_shapes.items():
            # (properties, refused when the EDT is empty)
            setget = esv in _SETGET_ANSWERS
            halves = ((props, False), (gets, True)) if setget else ((props, esv not in _SET_SNAS),)
            is_sna = 0x50 <= esv <= 0x5F
            for half, empty_refused in halves:
                for p in half:
                    counts = sna.get((cls, p.epc))
                    if counts is None:
                        counts = sna[(cls, p.epc)] = [0, 0]
                    counts[0] += n
                    if is_sna and (not p.edt) == empty_refused:
                        counts[1] += n
        self._sna_shapes.clear()

    @property
    def sna(self) -> dict[tuple[int, int], list[int]]:
        """Per (class, EPC): how many answers carried the property, and how many of them refused it."""
        if self._sna_shapes:
            self._fold_sna()
        return self._sna

    def _expire(self, now: float) -> None:
        order = self._order
        while order and now - order[0].time > self.window:
            self._close(order.popleft())

    def _close(self, request: _Request) -> None:
        tid_list = self._pending.get(request.tid)
        if tid_list is not None:
            if request in tid_list:
                tid_list.remove(request)
            if not tid_list:
                del self._pending[request.tid]
        if self._by_signature.get(request.signature) is request:
            del self._by_signature[request.signature]
        if request.answers:
            return
        if request.esv == _SETI:
            self.no_answer_expected += 1
            return
        if request.retried:
            return  # the retry carries it
        self.unanswered += 1
        if not _is_group(request.dst):
            self.node(request.dst).unanswered += 1

    # -------------------------------------------------------------------------------------------- output

    def report(self) -> Report:
        """The summary so far; the requests still waiting are counted as they stand (unanswered if unanswered)."""
        pending = list(self._order)
        # count without disturbing the live state (sniff --summary may ask again)
        unanswered = self.unanswered
        no_answer = self.no_answer_expected
        per_node: Counter[str] = Counter()
        for r in pending:
            if r.answers:
                continue
            if r.esv == _SETI:
                no_answer += 1
            elif not r.retried:
                unanswered += 1
                if not _is_group(r.dst):
                    per_node[r.dst] += 1
        nodes = []
        for address in sorted(self.nodes, key=_address_key):
            n = self.nodes[address]
            copy = NodeStats(**{f: getattr(n, f) for f in NodeStats.__dataclass_fields__})
            copy.unanswered += per_node.get(address, 0)
            nodes.append(copy)
        return Report(
            registry=self.registry,
            datagrams=self.datagrams,
            frames=self.frames,
            start=self.start,
            end=self.end,
            nodes=nodes,
            requests=self.requests,
            answered=self.answered,
            unanswered=unanswered,
            no_answer_expected=no_answer,
            retries=self.retries,
            unmatched_answers=self.unmatched_answers,
            latency=LatencyStats.of(self.latencies),
            sna={k: (v[0], v[1]) for k, v in self.sna.items()},
            inf=self.inf,
            malformed=Counter(self.malformed),
            malformed_examples=dict(self.malformed_examples),
            secured=Counter(self.secured),
            esvs=Counter(self.esvs),
        )


def _address_key(address: str) -> tuple[int, int, str]:
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return (9, 0, address)
    return (ip.version, int(ip), address)
