"""Denial-of-service guards of the secure layer (DTLS 1.3 section 5.1 and RFC 9528 section 9.7 in spirit).

Handshake and cookie records cost the responder work and make it send, so before any public-key work:

* :class:`TokenBucket`: budgets per source address and global, on handshake and cookie records;
* :class:`CookieJar`: a stateless cookie (HMAC-SHA-256 under a rotating secret over the source address and
  message_1), demanded from any source that has not proved its address recently, or that is excessive;
* :class:`SourceGuard`: the per-source bookkeeping of those two: the buckets (admission; known peers have a global
  bucket of their own, so that strangers who empty the shared one do not lock them out), the addresses (IP *and*
  port) a cookie validated, and, for the others, the bytes received so that never more than
  :data:`AMPLIFICATION_FACTOR` times as many are sent back; and the budget of unknown-context hints.

The cap on half-open responder handshakes stays with the layer (:mod:`secure.layer.core`), which holds them. Pure:
every call takes ``now``.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections import OrderedDict
from collections.abc import Callable

from echonet.node.events import Addr
from secure.layer.config import SecureConfig

__all__ = ["AMPLIFICATION_FACTOR", "COOKIE_MAC_LEN", "MAX_TRACKED_SOURCES", "CookieJar", "SourceGuard", "TokenBucket"]

AMPLIFICATION_FACTOR = 3
COOKIE_MAC_LEN = 16
MAX_TRACKED_SOURCES = 4096  # per table: the oldest source is forgotten beyond this


class TokenBucket:
    """``rate`` tokens per second up to ``burst``; :meth:`take` spends one if available."""

    __slots__ = ("burst", "last", "rate", "tokens")

    def __init__(self, rate: float, burst: float, now: float) -> None:
        self.rate = rate
        self.burst = burst
        self.tokens = burst
        self.last = now

    def _refill(self, now: float) -> None:
        if now > self.last:
            self.tokens = min(self.burst, self.tokens + (now - self.last) * self.rate)
        self.last = now

    def take(self, now: float, amount: float = 1.0) -> bool:
        self._refill(now)
        if self.tokens >= amount:
            self.tokens -= amount
            return True
        return False

    def level(self, now: float) -> float:
        self._refill(now)
        return self.tokens / self.burst


class CookieJar:
    """Stateless cookies: ``epoch(1) | HMAC-SHA-256(secret[epoch], ip | port | message_1)[:16]``."""

    def __init__(self, lifetime: float) -> None:
        self.lifetime = lifetime
        self._secrets: dict[int, bytes] = {}

    def _secret(self, epoch: int) -> bytes:
        secret = self._secrets.get(epoch)
        if secret is None:
            secret = secrets.token_bytes(32)
            self._secrets[epoch] = secret
            for old in [e for e in self._secrets if e < epoch - 1]:
                del self._secrets[old]
        return secret

    @staticmethod
    def _input(addr: Addr, message_1: bytes) -> bytes:
        ip = str(addr[0]).encode()
        return bytes((len(ip),)) + ip + int(addr[1]).to_bytes(2, "big") + message_1

    def make(self, addr: Addr, message_1: bytes, now: float) -> bytes:
        epoch = int(now // self.lifetime)
        mac = hmac.new(self._secret(epoch), self._input(addr, message_1), hashlib.sha256).digest()
        return bytes((epoch & 0xFF,)) + mac[:COOKIE_MAC_LEN]

    def check(self, cookie: bytes, addr: Addr, message_1: bytes, now: float) -> bool:
        if len(cookie) != 1 + COOKIE_MAC_LEN:
            return False
        current = int(now // self.lifetime)
        for epoch in (current, current - 1):
            if (epoch & 0xFF) != cookie[0] or epoch not in self._secrets:
                continue
            mac = hmac.new(self._secrets[epoch], self._input(addr, message_1), hashlib.sha256).digest()
            if hmac.compare_digest(mac[:COOKIE_MAC_LEN], cookie[1:]):
                return True
        return False


class SourceGuard:
    """Admission and address validation per source, for the handshake and cookie records of a layer's peers.

    :meth:`admit` spends a token of the source's bucket and of the global one (a known peer falls back on a global
    bucket of its own); :meth:`is_running_low` says the source's bucket is running low. :meth:`validate` records
    an address (IP and port) whose cookie came back (valid for ``config.validated_ttl`` seconds); until then
    :meth:`track_received` counts the bytes it sent and :meth:`may_send` allows at most
    :data:`AMPLIFICATION_FACTOR` times as many back. Validation is per port, so a message_1 spoofed from another
    port of a validated host gets a cookie, not a message_2. :meth:`may_hint` spends the budget of unknown-context
    hints. Tables of sources are bounded (:data:`MAX_TRACKED_SOURCES`, the least recently seen forgotten first).
    """

    def __init__(self, config: SecureConfig) -> None:
        self.config = config
        self._validated: OrderedDict[Addr, float] = OrderedDict()  # (IP, port) -> validated until
        self._amplification: OrderedDict[Addr, list[int]] = OrderedDict()  # unvalidated: [received, sent]
        self._buckets: OrderedDict[str, TokenBucket] = OrderedDict()
        self._global_bucket: TokenBucket | None = None
        self._known_bucket: TokenBucket | None = None
        self._hint_buckets: OrderedDict[str, TokenBucket] = OrderedDict()
        self._hint_global: TokenBucket | None = None

    @staticmethod
    def _bucket(table: OrderedDict[str, TokenBucket], ip: str, rate: float, burst: float, now: float) -> TokenBucket:
        bucket = table.get(ip)
        if bucket is None:
            bucket = table[ip] = TokenBucket(rate, burst, now)
            if len(table) > MAX_TRACKED_SOURCES:
                table.popitem(last=False)
        else:
            table.move_to_end(ip)
        return bucket

    def admit(self, ip: str, now: float, known: Callable[[str], bool] | None = None) -> bool:
        """Spend one token of ``ip``'s bucket and one of the global bucket; False when either is empty. When the
        global bucket is empty and ``known(ip)`` says the source is a known peer, its token comes from the known
        peers' global bucket (same size) instead."""
        cfg = self.config
        if self._global_bucket is None:
            self._global_bucket = TokenBucket(cfg.global_rate, cfg.global_burst, now)
            self._known_bucket = TokenBucket(cfg.global_rate, cfg.global_burst, now)
        if not self._bucket(self._buckets, ip, cfg.source_rate, cfg.source_burst, now).take(now):
            return False
        if self._global_bucket.take(now):
            return True
        assert self._known_bucket is not None
        return known is not None and known(ip) and self._known_bucket.take(now)

    def may_hint(self, ip: str, now: float) -> bool:
        """Spend one unknown-context hint to ``ip`` (``hint_rate`` per second per source, 20 times that in all)."""
        cfg = self.config
        if self._hint_global is None:
            self._hint_global = TokenBucket(20 * cfg.hint_rate, 20 * cfg.hint_burst, now)
        return self._bucket(self._hint_buckets, ip, cfg.hint_rate, cfg.hint_burst, now).take(
            now
        ) and self._hint_global.take(now)

    def is_running_low(self, ip: str, now: float) -> bool:
        """``ip``'s bucket is below half."""
        bucket = self._buckets.get(ip)
        return bucket is not None and bucket.level(now) < 0.5

    def is_validated(self, addr: Addr, now: float) -> bool:
        until = self._validated.get((str(addr[0]), int(addr[1])))
        return until is not None and until > now

    def validate(self, addr: Addr, now: float) -> None:
        """A cookie from ``addr`` came back: that IP and port are validated for ``validated_ttl`` seconds."""
        key = (str(addr[0]), int(addr[1]))
        self._validated[key] = now + self.config.validated_ttl
        self._validated.move_to_end(key)
        if len(self._validated) > MAX_TRACKED_SOURCES:
            self._validated.popitem(last=False)
        self._amplification.pop(addr, None)

    def track_received(self, addr: Addr, size: int) -> None:
        """``size`` bytes of handshake or cookie records arrived from ``addr``."""
        entry = self._amplification.get(addr)
        if entry is None:
            entry = self._amplification[addr] = [0, 0]
            if len(self._amplification) > MAX_TRACKED_SOURCES:
                self._amplification.popitem(last=False)
        entry[0] += size

    def may_send(self, addr: Addr, size: int) -> bool:
        """Whether ``size`` more bytes may go to ``addr``, whose cookie is not confirmed (counted if so)."""
        entry = self._amplification.get(addr)
        if entry is None or entry[1] + size > AMPLIFICATION_FACTOR * entry[0]:
            return False
        entry[1] += size
        return True
