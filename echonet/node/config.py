"""Configuration of a node: timeouts, retries, in-flight mode, reply port rule, multicast groups, input budget."""

from __future__ import annotations

from dataclasses import dataclass

from ..constants import ECHONET_PORT, MULTICAST_V4, MULTICAST_V6
from ..errors import EchonetUsageError
from ..frame import EOJ

CONTROLLER_EOJ = EOJ(0x05, 0xFF, 0x01)
NODE_PROFILE_EOJ = EOJ(0x0E, 0xF0, 0x01)
#: The largest UDP payload over IPv4 (65,535 - 8 - 20).
MAX_UDP_PAYLOAD = 65_507


@dataclass(frozen=True)
class NodeConfig:
    """Tunables of :class:`~echonet.node.Node`; every field has a sensible default.

    Controller side:

    * ``timeout`` (seconds per attempt) and ``retries`` (extra attempts, same TID) of a request; a request to
      instance 0x00 or to a multicast address collects answers for ``timeout`` seconds per attempt.
    * ``one_in_flight``: at most one request per device (peer IP) on the wire, the rest wait in a queue (for slow
      gateways that drop concurrent requests).
    * ``split_gets``: when a device answers a Get with fewer properties than asked, ask again for the rest; when a
      device that answered before does not answer a Get of several properties at all, ask for halves.
      ``max_get_epcs`` splits every Get above that many EPCs up front; ``learn_get_limit`` remembers per device
      how many properties it answered and splits later Gets to it accordingly.

    Device side:

    * ``reply_to_3610``: send answers to the requester's port 3610 instead of the request's source port.
    * ``inf_req_multicast``: answer INF_REQ with a multicast INF instead of a unicast one to the requester.
    * ``announce``: send INF of the status-change properties (0x9D) when their value changes.

    Both: ``strict``: drop a frame with bytes after its last property (the letter of Part 2; conformance checks use
    it) instead of taking the frame and reporting the extra bytes as a
    :class:`~echonet.node.events.TrailingBytes` event (the default: deployed devices pad their frames, and other
    stacks accept them). ``multicast_v4`` / ``multicast_v6`` (``None`` disables that family's announcements), ``port``,
    ``controller_eoj`` (SEOJ of requests), ``max_events`` (queued events beyond this are counted, not kept, except
    answers to our own requests, which are always kept).

    Input budget (what floods can make the node decode, see :mod:`echonet.node.limits` and docs/performance.md):
    every datagram the node decodes costs ``1 + size // 256`` units, charged to a token bucket of its source IP
    (``source_rate`` units per second, up to ``source_burst``) and then to one bucket of all sources together
    (``total_rate`` / ``total_burst``). An established source (seen for a second or more) that sends less than
    ``priority_rate`` units per second passes even when the shared bucket is empty (down to a debt of
    ``total_burst``): a flood spends the shared budget, and the quiet controllers keep theirs. At most
    ``max_sources`` sources are tracked (half of them established at most; new sources are forgotten first, the
    least recently seen first). A datagram the budget refuses is dropped before any work that grows with its size,
    counted in ``NodeStats.rate_limited`` and reported by one :class:`~echonet.node.events.Dropped` event per bucket
    and second. Not charged: a repeated Get answered from its precomputed answer, and an answer awaited by one of
    our requests (matched on TID and peer IP, any peer for a multicast request), which cost less than the check.
    ``None`` for a rate turns that bucket (or the priority) off. The defaults let one source send 4,000 small frames
    per second (a 65 KB Set costs 255 units: about 16 per second), all sources together five times as much, and
    give every quiet source 200 per second ahead of a flood: well above what a home network's controllers send and
    well below what fills the CPU of a small device. ``max_datagram`` (bytes) drops longer datagrams unread
    (``NodeStats.oversized``); the default, 65,507 (the largest UDP payload), drops none: every size up to it can
    be a well-formed frame (255 properties of 255 bytes), and large valid Sets exist, so the budget rather than a
    cap is what keeps large datagrams cheap.
    """

    timeout: float = 3.0
    retries: int = 1
    one_in_flight: bool = False
    split_gets: bool = True
    max_get_epcs: int | None = None
    learn_get_limit: bool = True
    reply_to_3610: bool = False
    inf_req_multicast: bool = False
    announce: bool = True
    multicast_v4: str | None = MULTICAST_V4
    multicast_v6: str | None = MULTICAST_V6
    port: int = ECHONET_PORT
    controller_eoj: EOJ = CONTROLLER_EOJ
    max_events: int = 10_000
    first_tid: int = 1
    strict: bool = False
    source_rate: float | None = 4_000.0
    source_burst: float = 8_000.0
    total_rate: float | None = 20_000.0
    total_burst: float = 40_000.0
    priority_rate: float | None = 200.0
    max_sources: int = 4096
    max_datagram: int = MAX_UDP_PAYLOAD

    def __post_init__(self) -> None:
        if not self.timeout > 0:
            raise EchonetUsageError(f"timeout must be positive, got {self.timeout!r}")
        if self.retries < 0:
            raise EchonetUsageError(f"retries must be 0 or more, got {self.retries!r}")
        if self.max_get_epcs is not None and self.max_get_epcs < 1:
            raise EchonetUsageError(f"max_get_epcs must be at least 1, got {self.max_get_epcs!r}")
        if not 0 < self.port <= 0xFFFF:
            raise EchonetUsageError(f"port {self.port!r} out of range")
        if not 0 <= self.first_tid <= 0xFFFF:
            raise EchonetUsageError(f"first_tid {self.first_tid!r} out of range 0-65535")
        if self.max_events < 1:
            raise EchonetUsageError("max_events must be at least 1")
        for name in ("source_rate", "total_rate", "priority_rate"):
            rate = getattr(self, name)
            if rate is not None and not rate > 0:
                raise EchonetUsageError(f"{name} must be positive or None, got {rate!r}")
        for name in ("source_burst", "total_burst"):
            if not getattr(self, name) >= 1:
                raise EchonetUsageError(f"{name} must be at least 1, got {getattr(self, name)!r}")
        if self.max_sources < 1:
            raise EchonetUsageError(f"max_sources must be at least 1, got {self.max_sources!r}")
        if self.max_datagram < 12:
            raise EchonetUsageError(
                f"max_datagram must be at least 12 (an ECHONET Lite header), got {self.max_datagram!r}"
            )

    @property
    def multicast_groups(self) -> tuple[str, ...]:
        return tuple(g for g in (self.multicast_v4, self.multicast_v6) if g)
