"""The input budget of a node: token buckets that bound what floods can make it decode (see docs/performance.md).

A datagram the node has to decode costs ``1 + size // 256`` units: one for the datagram, one per 256 bytes (the
time a node spends on a datagram grows with its properties, and a 65 KB Set costs about as much as 250 small
frames). :class:`InputBudget` keeps, per source IP, a token bucket (``NodeConfig.source_rate`` units per second, up
to ``source_burst``) and a priority credit (``priority_rate`` units per second, up to two seconds' worth), and one
bucket for all sources together (``total_rate`` / ``total_burst``). A datagram passes when its source's bucket holds
a unit and then either the shared bucket holds one, or its source is *established* and *quiet*: seen again at
least :data:`ESTABLISHED_AFTER` seconds after it was first seen, and with priority credit left (it sends less than
``priority_rate``). A quiet established source may take the shared bucket into debt, so that the sources that fill
the shared bucket (a flood, from one address or from many) are the ones refused, not a controller that asks a few
times per second; how deep grows with how long the source has been known, from nothing when it was first seen to
``-total_burst`` after :data:`MATURITY` seconds, so that a flood from many young addresses, each of them quiet,
stops at a shallower debt than a controller known for longer may take. The whole cost is then taken from every
bucket concerned (a bucket may go into debt: a large datagram is never refused for being larger than a burst; its
source waits until the debt is repaid). A datagram the shared bucket refuses is not charged to its source.

The table of sources is bounded: at most ``max_sources`` entries, of which at most half established. A new source
enters on probation; when the table is full, the least recently seen source on probation is forgotten first (an
established one only when none is on probation), so that datagrams from ever new (spoofed) addresses churn the
probation entries and never evict an established controller. A forgotten source starts again on probation with a
full bucket.

What the budget cannot do: tell a spoofed address from a real one. More than about ``total_rate / priority_rate``
(100 by default) quiet sources flooding at once, known for as long as a legitimate controller, share the priority
with it; every flood stays bounded by the shared budget all the same (its rate, its burst and the debt).

Pure: no clock (every call takes ``now``), no I/O.
"""

from __future__ import annotations

from collections import OrderedDict

#: Bytes per unit of cost beyond the first.
UNIT_BYTES = 256
#: Seconds between two notices (``Dropped`` events) for the same bucket.
NOTICE_INTERVAL = 1.0
#: Seconds after its first datagram from which a source seen again is established (see the module's docstring).
ESTABLISHED_AFTER = 1.0
#: The priority credit of a source holds at most this many seconds of ``priority_rate``.
PRIORITY_SECONDS = 2.0
#: Seconds after its first datagram at which a source may take the shared bucket into its whole debt (see the
#: module's docstring).
MATURITY = 60.0


def cost_of(size: int) -> int:
    """The units a datagram of ``size`` bytes costs."""
    return 1 + size // UNIT_BYTES


class _Bucket:
    __slots__ = ("count", "credit", "last", "noticed", "refused", "since", "tokens")

    def __init__(self, tokens: float, now: float, credit: float = 0.0) -> None:
        self.tokens = tokens
        self.credit = credit  #: priority credit (sources only)
        self.last = now
        self.since = now  #: when the source was first seen (sources only)
        self.noticed = float("-inf")  #: when the last notice was given
        self.count = 0  #: datagrams refused since then
        self.refused = 0  #: datagrams of this source refused, by either bucket (sources only)


def _notice(bucket: _Bucket, now: float, what: str) -> str:
    """The reason of a refused datagram: a notice once per :data:`NOTICE_INTERVAL`, else ``""`` (counted only)."""
    if now - bucket.noticed >= NOTICE_INTERVAL or now < bucket.noticed:
        count, bucket.count, bucket.noticed = bucket.count + 1, 0, now
        return f"rate limited: {what}; {count} datagram(s) dropped since the last notice"
    bucket.count += 1
    return ""


class InputBudget:
    """Per-source and shared token buckets (see the module's docstring). ``None`` for a rate: no such bucket (or,
    for ``priority_rate``, no priority: the shared bucket refuses every source alike)."""

    __slots__ = (
        "_known",
        "_max_known",
        "_new",
        "_per_source",
        "_source_what",
        "_total",
        "_total_what",
        "max_sources",
        "prioritized",
        "rates",
    )

    def __init__(
        self,
        source_rate: float | None,
        source_burst: float,
        total_rate: float | None,
        total_burst: float,
        max_sources: int,
        priority_rate: float | None = None,
    ) -> None:
        #: ``(source_rate, source_burst, total_rate, total_burst, priority_rate)`` as configured.
        self.rates = (source_rate, source_burst, total_rate, total_burst, priority_rate)
        self.max_sources = max_sources
        #: Datagrams that passed on their source's priority while the shared bucket was empty.
        self.prioritized = 0
        self._max_known = max(1, max_sources // 2)
        self._new: OrderedDict[str, _Bucket] = OrderedDict()  # on probation, least recently seen first
        self._known: OrderedDict[str, _Bucket] = OrderedDict()  # established, least recently seen first
        self._per_source = source_rate is not None or (priority_rate is not None and total_rate is not None)
        self._total: _Bucket | None = None
        self._source_what = f"its source is over its budget of {source_rate or 0:,g} units/s"
        self._total_what = f"all sources together are over the node's budget of {total_rate or 0:,g} units/s"

    @property
    def sources(self) -> int:
        """How many sources the table holds now (at most :attr:`max_sources`)."""
        return len(self._new) + len(self._known)

    @property
    def established(self) -> int:
        """How many of them are established (at most half of :attr:`max_sources`)."""
        return len(self._known)

    def refused(self, host: str) -> int:
        """How many datagrams of ``host`` either bucket refused since it entered the table (0 when not in it)."""
        bucket = self._known.get(host) or self._new.get(host)
        return 0 if bucket is None else bucket.refused

    def is_established(self, host: str) -> bool:
        """Whether ``host`` is an established source now (it has priority while it stays quiet)."""
        return host in self._known

    def _source(self, host: str, now: float) -> tuple[_Bucket, bool]:
        """The bucket of ``host`` (made, or promoted to established, as time says) and whether it is established."""
        known = self._known
        bucket = known.get(host)
        if bucket is not None:
            known.move_to_end(host)
            return bucket, True
        new = self._new
        bucket = new.get(host)
        if bucket is None:
            if len(new) + len(known) >= self.max_sources:
                (new if new else known).popitem(last=False)
            rates = self.rates
            bucket = new[host] = _Bucket(rates[1], now, (rates[4] or 0.0) * PRIORITY_SECONDS)
            return bucket, False
        if now - bucket.since >= ESTABLISHED_AFTER:
            del new[host]
            if len(known) >= self._max_known:
                known.popitem(last=False)
            known[host] = bucket
            return bucket, True
        new.move_to_end(host)
        return bucket, False

    def charge(self, host: str, size: int, now: float) -> str | None:
        """Charge a datagram of ``size`` bytes from ``host``: ``None`` when it may be decoded, else why not (a
        notice, or ``""`` when the bucket gave one less than :data:`NOTICE_INTERVAL` ago)."""
        source_rate, source_burst, total_rate, total_burst, priority_rate = self.rates
        cost = 1 + size // UNIT_BYTES
        bucket = None
        established = False
        if self._per_source:
            bucket, established = self._source(host, now)
            elapsed = now - bucket.last
            bucket.last = now  # (a clock that goes back refills nothing)
            if elapsed > 0:
                if source_rate is not None:
                    tokens = bucket.tokens + elapsed * source_rate
                    bucket.tokens = tokens if tokens < source_burst else source_burst
                if priority_rate is not None:
                    credit = bucket.credit + elapsed * priority_rate
                    most = priority_rate * PRIORITY_SECONDS
                    bucket.credit = credit if credit < most else most
            if source_rate is not None and bucket.tokens < 1:
                bucket.refused += 1
                return _notice(bucket, now, self._source_what)
        if total_rate is not None:
            total = self._total
            if total is None:
                total = self._total = _Bucket(total_burst, now)
            elapsed = now - total.last
            total.last = now
            tokens = total.tokens
            if elapsed > 0:
                tokens += elapsed * total_rate
                if tokens > total_burst:
                    tokens = total_burst
            if tokens < 1:
                # A quiet established source may take the shared bucket into debt, the deeper the longer it has
                # been known: a flood from many young addresses stops at a shallow debt, an older controller passes.
                if not (
                    established
                    and bucket is not None
                    and bucket.credit >= 1
                    and tokens >= -total_burst * min(1.0, (now - bucket.since) / MATURITY)
                ):
                    total.tokens = tokens
                    if bucket is not None:
                        bucket.refused += 1
                    return _notice(total, now, self._total_what)  # (not charged to its source)
                self.prioritized += 1
            total.tokens = tokens - cost
        if bucket is not None:
            if source_rate is not None:
                bucket.tokens -= cost
            if priority_rate is not None:
                credit = bucket.credit - cost  # (a heavy source loses its priority for as long as its debt lasts)
                floor = -priority_rate * PRIORITY_SECONDS
                bucket.credit = credit if credit > floor else floor
        return None


__all__ = [
    "ESTABLISHED_AFTER",
    "MATURITY",
    "NOTICE_INTERVAL",
    "PRIORITY_SECONDS",
    "UNIT_BYTES",
    "InputBudget",
    "cost_of",
]
