"""What a controller learns about each device: latency, Get batch size, whether it needs one request at a time, its
rate limit and its health. The settings of that learning, with their defaults, are one object,
:class:`FieldConfig`; per-manufacturer starting points are data, :data:`MAKER_RULES`. See docs/controller.md.

Nothing here waits or touches a socket: :class:`PeerState` takes the times it is told (``now``) and says what to do;
:class:`~echonet.aio.field.FieldController` does the waiting.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from enum import StrEnum
from typing import NamedTuple

from ..errors import EchonetUsageError
from ..node.events import Addr


@dataclass(frozen=True)
class MakerRule:
    """Where learning starts for the devices of one manufacturer (0x8A), and the report it comes from."""

    batch: int | None = None  #: EPCs per Get to start with (``None``: all in one)
    one_in_flight: bool = False  #: one request at a time from the start
    min_interval: float = 0.0  #: seconds between two requests to the device
    timeout: float | None = None  #: first timeout (seconds) before any answer was timed
    source: str = ""  #: the field report the rule stands for


#: Starting rules per manufacturer code (0x8A, 3 bytes as an int). Learning moves on from them: a rule only saves
#: the first failures. Each entry names the kind of report it comes from (docs/quirks.md has the reports).
MAKER_RULES: dict[int, MakerRule] = {
    0x00000B: MakerRule(  # Panasonic: media converters and adapters behind which several devices sit
        batch=10,
        one_in_flight=True,
        timeout=5.0,
        source="adapters and media converters that answer slowly, drop parallel requests and large Gets",
    ),
    0x000006: MakerRule(  # Mitsubishi Electric: Wi-Fi adapters of air conditioners
        one_in_flight=True,
        timeout=5.0,
        source="Wi-Fi adapters of air conditioners that time out under polling and stall until restarted",
    ),
}


@dataclass(frozen=True)
class FieldConfig:
    """Everything :class:`~echonet.aio.field.FieldController` learns with, and its defaults (docs/controller.md).

    Latency and timeouts (RFC 6298's estimator): a smoothed round trip ``srtt`` and its variation ``rttvar`` per
    device (gains ``rtt_gain`` and ``var_gain``); a request waits ``srtt + var_factor * rttvar``, within
    ``min_timeout``-``max_timeout``, or ``timeout`` before the device was ever timed; each failed attempt in a row
    multiplies the wait by ``backoff``. ``attempts``: tries per request (the first included); on a lossy link
    more, up to ``max_attempts``: enough that every try of a request is lost less often than ``loss_target``, from
    the share of attempts lost (smoothed with gain ``loss_gain``).

    Batches: ``batch`` EPCs per Get to start with (``None``: all in one; a :class:`MakerRule` may start lower). A Get
    answered in part sets the batch to what was answered; one not answered, while the device still answers one
    EPC, halves it. After ``grow_after`` complete answers in a row the batch grows by one, never up to a size that
    failed unless ``retry_failed_after`` complete answers came since. ``max_batch`` caps it.

    Pacing: ``one_in_flight`` from the start for every device (otherwise learned: a request lost while another to
    the same device was in flight turns it on for that device); ``min_interval`` seconds between two requests to a
    device (0: none).

    Health: a device is ``offline`` after ``offline_after`` failed requests in a row, or when nothing came from it
    for ``offline_silence`` seconds (``None``: never by silence); ``slow`` while ``srtt`` exceeds ``slow_latency``;
    ``online`` otherwise. :meth:`~echonet.aio.field.FieldController.monitor` probes devices not heard from for
    ``probe_interval`` seconds, and looks again (``rediscover``) for an offline device that has an identification
    number, on ``hosts`` (an explicit list, for networks without multicast) or the multicast groups, with a window
    of ``discover_window`` seconds.

    Writes: ``verify_delay`` seconds between a Set and the read-back of ``verify=True``.

    Rules: ``maker_rules`` (by default :data:`MAKER_RULES`).
    """

    timeout: float = 3.0
    min_timeout: float = 1.0
    max_timeout: float = 20.0
    attempts: int = 3
    max_attempts: int = 8
    loss_target: float = 1e-4
    loss_gain: float = 0.05
    backoff: float = 2.0
    rtt_gain: float = 0.125
    var_gain: float = 0.25
    var_factor: float = 4.0
    batch: int | None = None
    max_batch: int = 64
    grow_after: int = 8
    retry_failed_after: int = 64
    one_in_flight: bool = False
    min_interval: float = 0.0
    offline_after: int = 3
    offline_silence: float | None = None
    slow_latency: float = 1.0
    probe_interval: float = 30.0
    rediscover: bool = True
    discover_window: float = 1.0
    hosts: tuple[str | Addr, ...] = ()
    verify_delay: float = 0.3
    maker_rules: dict[int, MakerRule] = field(default_factory=lambda: dict(MAKER_RULES))

    def __post_init__(self) -> None:
        for name in ("timeout", "min_timeout", "max_timeout", "backoff", "discover_window", "probe_interval"):
            if not getattr(self, name) > 0:
                raise EchonetUsageError(f"{name} must be positive, got {getattr(self, name)!r}")
        if self.min_timeout > self.max_timeout:
            raise EchonetUsageError("min_timeout must not exceed max_timeout")
        if not 1 <= self.attempts <= self.max_attempts or not 0 < self.loss_target < 1 or not 0 < self.loss_gain <= 1:
            raise EchonetUsageError("need 1 <= attempts <= max_attempts, 0 < loss_target < 1, 0 < loss_gain <= 1")
        if self.offline_after < 1 or self.grow_after < 1 or self.max_batch < 1:
            raise EchonetUsageError("offline_after, grow_after and max_batch must be at least 1")
        if self.batch is not None and self.batch < 1:
            raise EchonetUsageError(f"batch must be at least 1 or None, got {self.batch!r}")
        if self.min_interval < 0 or self.verify_delay < 0:
            raise EchonetUsageError("min_interval and verify_delay must not be negative")

    @classmethod
    def for_requests(cls, timeout: float, retries: int, **settings: object) -> FieldConfig:
        """The settings of a controller told "``timeout`` seconds per attempt, ``retries`` extra attempts" (the
        command line's ``--timeout`` and ``--retries``): the first timeout, the attempts, and a floor of the learned
        timeouts no higher than ``timeout``."""
        return cls(
            timeout=timeout,
            min_timeout=min(cls.min_timeout, timeout),
            max_timeout=max(cls.max_timeout, timeout),
            attempts=1 + retries,
            max_attempts=max(cls.max_attempts, 1 + retries),
            **settings,  # type: ignore[arg-type]
        )

    def as_dict(self) -> dict[str, object]:
        """The settings as plain values (what ``--json`` shows), the rules left out."""
        out: dict[str, object] = {}
        for key, value in vars(self).items():
            if key == "maker_rules":
                continue
            out[key] = list(value) if isinstance(value, tuple) else value
        return out


class Health(StrEnum):
    """A device's health, as :class:`PeerState` judges it."""

    UNKNOWN = "unknown"  #: never asked
    ONLINE = "online"
    SLOW = "slow"  #: answers, slower than ``FieldConfig.slow_latency``
    OFFLINE = "offline"  #: ``offline_after`` requests in a row unanswered, or silent for ``offline_silence``


class HealthChanged(NamedTuple):
    """A device's health changed (from ``previous`` to ``current``), and why."""

    host: str
    identification: bytes | None
    previous: Health
    current: Health
    reason: str


class DeviceMoved(NamedTuple):
    """A device known by its identification number (0x83) answers from another address now."""

    identification: bytes
    old: str
    new: Addr


class PeerState:
    """What is known and learned about one device (by IP address). Times are the caller's clock, in seconds."""

    def __init__(self, host: str, config: FieldConfig) -> None:
        self.host = host
        #: The address (host, port) the device was last asked on (probes go there).
        self.address: Addr | None = None
        self.config = config
        self.identification: bytes | None = None
        self.maker: int | None = None
        self.rule: MakerRule | None = None
        self.srtt: float | None = None
        self.rttvar = 0.0
        self.samples = 0
        self._last_timeout = config.timeout
        #: :meth:`timeout` as of the last answer (what the plain path waits, without computing it each time).
        self.current_timeout = config.timeout
        #: Smoothed share of attempts that went unanswered (sets :meth:`attempts`).
        self.loss = 0.0
        self.batch: int | None = config.batch
        #: The smallest batch that failed (the batch grows back below it), and the complete answers since.
        self.failed_batch: int | None = None
        self.complete_in_row = 0
        self.since_failure = 0
        self.one_in_flight = config.one_in_flight
        self.min_interval = config.min_interval
        self.first_timeout = config.timeout
        self.failures = 0
        self.requests = 0
        self.timeouts = 0
        self.inflight = 0
        #: Whether the last request that got no answer shared the device with another one in flight.
        self.last_concurrent = False
        self.last_seen: float | None = None
        self.last_sent: float | None = None
        self.health = Health.UNKNOWN
        #: Set once something needed care (a timeout, a partial answer, pacing): the controller then takes the
        #: careful path for this device; a device that never needs it costs nothing more than a plain Get.
        self.careful = bool(config.one_in_flight or config.min_interval or config.batch is not None)

    # -- rules ------------------------------------------------------------------------------------------------------

    def apply_maker(self, maker_code: bytes | None) -> None:
        """Start from the rule of this manufacturer code (0x8A), if there is one and nothing was learned yet."""
        if maker_code is None or len(maker_code) != 3:
            return
        self.maker = int.from_bytes(maker_code, "big")
        rule = self.config.maker_rules.get(self.maker)
        if rule is None or self.rule is rule:
            return
        self.rule = rule
        if rule.batch is not None and (self.batch is None or rule.batch < self.batch) and self.failed_batch is None:
            self.batch = rule.batch
        self.one_in_flight = self.one_in_flight or rule.one_in_flight
        self.min_interval = max(self.min_interval, rule.min_interval)
        if rule.timeout is not None and self.srtt is None:
            self.first_timeout = max(self.first_timeout, rule.timeout)
            self.current_timeout = self.timeout()
        self.careful = True

    # -- latency and timeouts ---------------------------------------------------------------------------------------

    def timeout(self, backoff: bool = True) -> float:
        """How long the next attempt waits: the estimate, backed off by the failures in a row (at most 8 times;
        ``backoff=False``: not at all, as for a probe of a device already offline)."""
        cfg = self.config
        if self.srtt is None:
            base = self.first_timeout
        else:
            base = min(cfg.max_timeout, max(cfg.min_timeout, self.srtt + cfg.var_factor * self.rttvar))
        value = base if not backoff else min(cfg.max_timeout, base * cfg.backoff ** min(self.failures, 3))
        if value == self._last_timeout:
            return self._last_timeout  # the same object as last time: the node's fast lane knows its template
        self._last_timeout = value
        return value

    def attempts(self) -> int:
        """Tries per request for this device: ``attempts``, more on a lossy link (enough that all of them are lost
        less than once in ``1 / loss_target`` requests, at most ``max_attempts``)."""
        cfg = self.config
        loss = self.loss
        if loss <= 0.0 or self.samples < 4:
            return cfg.attempts
        if loss >= 0.9:
            return cfg.max_attempts
        needed = math.ceil(math.log(cfg.loss_target) / math.log(loss))
        return max(cfg.attempts, min(cfg.max_attempts, needed))

    def observe(self, rtt: float, now: float) -> None:
        """An answer came ``rtt`` seconds after its request."""
        cfg = self.config
        self.loss += cfg.loss_gain * (0.0 - self.loss)
        if self.srtt is None:
            self.srtt = rtt
            self.rttvar = rtt / 2
        else:
            self.rttvar += cfg.var_gain * (abs(self.srtt - rtt) - self.rttvar)
            self.srtt += cfg.rtt_gain * (rtt - self.srtt)
        self.samples += 1
        self.failures = 0
        self.last_seen = now
        self.current_timeout = self.timeout()

    def heard(self, now: float) -> None:
        """Something came from the device (a notification, an answer not timed)."""
        self.last_seen = now

    def timed_out(self, concurrent: bool, minimal: bool = True) -> None:
        """A request got no answer; ``concurrent``: another request to the device was in flight meanwhile;
        ``minimal``: it could not have been smaller (one EPC, a Set, a probe). Only minimal ones count as failures
        (backoff, offline): a large Get that is not answered says nothing yet about the device, the probe that
        follows does."""
        if minimal:
            self.failures += 1
        if self.srtt is not None:  # (a device never heard is not lossy, only unknown)
            self.loss += self.config.loss_gain * (1.0 - self.loss)
        self.timeouts += 1
        self.last_concurrent = concurrent
        self.careful = True
        if concurrent and not self.one_in_flight:
            self.one_in_flight = True  # learned: the device drops a request while it handles another

    def judge(self, now: float) -> Health:
        """The health the state says now."""
        cfg = self.config
        if self.failures >= cfg.offline_after:
            return Health.OFFLINE
        if (
            cfg.offline_silence is not None
            and self.last_seen is not None
            and now - self.last_seen > cfg.offline_silence
        ):
            return Health.OFFLINE
        if self.srtt is None:
            return Health.UNKNOWN if self.last_seen is None else Health.ONLINE
        return Health.SLOW if self.srtt > cfg.slow_latency else Health.ONLINE

    # -- batches ----------------------------------------------------------------------------------------------------

    def chunk(self, remaining: int) -> int:
        """How many EPCs the next Get asks for, of ``remaining``."""
        batch = self.batch
        return remaining if batch is None else max(1, min(batch, remaining))

    def answered_part(self, asked: int, answered: int) -> None:
        """A Get of ``asked`` EPCs came back with only ``answered`` of them."""
        self.careful = True
        self.complete_in_row = 0
        self.since_failure = 0
        self.batch = max(1, answered)
        self.failed_batch = asked if self.failed_batch is None else min(self.failed_batch, asked)

    def too_large(self, asked: int) -> None:
        """A Get of ``asked`` EPCs got no answer while the device answers smaller ones: halve."""
        self.careful = True
        self.complete_in_row = 0
        self.since_failure = 0
        self.batch = max(1, asked // 2)
        self.failed_batch = asked if self.failed_batch is None else min(self.failed_batch, asked)

    def answered_all(self, asked: int) -> None:
        """A Get of ``asked`` EPCs was answered in full: perhaps grow the batch back, carefully."""
        if self.batch is None or asked < self.batch:
            return
        self.complete_in_row += 1
        self.since_failure += 1
        if self.failed_batch is not None and self.since_failure >= self.config.retry_failed_after:
            self.failed_batch = None  # long enough: a size that failed may be tried again
        if self.complete_in_row < self.config.grow_after:
            return
        self.complete_in_row = 0
        grown = self.batch + 1
        if self.failed_batch is not None and grown >= self.failed_batch:
            return
        self.batch = min(grown, self.config.max_batch)

    # -- pacing -----------------------------------------------------------------------------------------------------

    def send_delay(self, now: float) -> float:
        """Seconds to wait before the next request may leave (the rate limit)."""
        if not self.min_interval or self.last_sent is None:
            return 0.0
        return max(0.0, self.last_sent + self.min_interval - now)

    def as_dict(self) -> dict[str, object]:
        """The learned state as plain values (``--json``, ``echonet doctor``)."""
        return {
            "host": self.host,
            "health": self.health.value,
            "latency": None if self.srtt is None else round(self.srtt, 6),
            "latency_variation": None if self.srtt is None else round(self.rttvar, 6),
            "loss": round(self.loss, 4),
            "attempts": self.attempts(),
            "timeout": round(self.timeout(), 3),
            "batch": self.batch,
            "one_in_flight": self.one_in_flight,
            "min_interval": self.min_interval,
            "requests": self.requests,
            "timeouts": self.timeouts,
            "maker_rule": None if self.rule is None else f"0x{self.maker:06X}",
        }


__all__ = [
    "MAKER_RULES",
    "DeviceMoved",
    "FieldConfig",
    "Health",
    "HealthChanged",
    "MakerRule",
    "PeerState",
]
