"""The tunables of a :class:`~secure.layer.core.SecureLayer`: its credentials and peer verifier, the EDHOC methods and
suites, the handshake's timers, the denial-of-service budgets (:mod:`secure.layer.guards`), the key limits and the
re-checks."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from secure.errors import SecureUsageError
from secure.handshake.cose import LocalCredential
from secure.handshake.edhoc import CredentialTransfer, LookupPeer
from secure.handshake.messages import Method
from secure.policy.roles import RoleTable
from secure.records.framing import DEFAULT_FORMAT, RecordFormat
from secure.records.oscore import KeyLimits
from secure.trust.verifiers import PeerVerifier

__all__ = ["SecureConfig"]


@dataclass(frozen=True)
class SecureConfig:
    """Tunables of a :class:`SecureLayer`.

    * ``initiate``: start handshakes to peers this node sends to (a controller); ``respond``: accept handshakes
      (a device). Both may be set.
    * ``method`` (initiator) and ``accept_methods`` (responder): EDHOC methods; ``suites`` in preference order.
    * ``handshake_timeout`` (first retransmission; doubles) and ``handshake_retries``.
    * ``max_queue``: frames held per peer while its handshake runs (more are dropped and counted).
    * ``cookie``: ``"auto"`` (demanded from sources not validated in the last ``validated_ttl`` seconds and from
      excessive ones) or ``"always"``. ``cookie_lifetime``: seconds per cookie secret (two are accepted).
    * ``source_rate``/``source_burst`` and ``global_rate``/``global_burst``: token buckets for handshake and cookie
      records (per second / bucket size).
    * ``max_half_open`` / ``max_half_open_per_source``: responder handshakes waiting for message_3. At a cap the
      oldest run of the source with the most runs gives way (a source at its own cap replaces its own oldest);
      ``half_open_reserved`` of them (``None``: a quarter) are kept for *known* peers (addresses that completed a
      handshake with an allow-listed key), which strangers never take. Once half the table is used, runs live
      ``2 * handshake_timeout`` instead of the full retry schedule.
    * ``unknown_context_hints``: answer a data record for a context this node does not hold (it restarted) with an
      unknown-context record (at most ``hint_rate`` per second per source, never more bytes than received), so
      the sender starts a new handshake.
    * ``stale_records`` / ``stale_timeout``: an initiator whose last ``stale_records`` records under a session got
      nothing back, the first of them ``stale_timeout`` seconds ago, starts a new handshake next to the session
      (``None``: never). ``rehandshake_holdoff``: seconds between two such handshakes to one peer (also for hints).
    * ``limits``: key-usage limits and ``max_age`` (rekey after that many seconds); ``rekey_grace``: seconds the
      old context still verifies after a rekey.
    * ``recheck_interval``: seconds between re-validations of every session's peer credential (allow-list removal,
      revocation, expiry end the session within that time); ``None``: never.
    * ``trust_poll``: seconds between looks at the verifier's trust inputs (the allow-list and CRL files, see
      :meth:`~secure.trust.verifiers.CertificateVerifier.trust_version`); a change re-validates every session at
      once. ``None``: only ``recheck_interval``.
    * ``cross_check``: read and compare the peer's 0x83 / 0x8A after a handshake with a bound identity.
    * ``plain_multicast``: let the node's multicast (announcements, discovery) out in plain; off by default.
    * ``audit_rate`` / ``audit_burst``: budget of noisy audit records (replays, failures, denials) per second.
    * ``roles``: what each enrolled peer may ask of this node, per ESV and EPC (:mod:`secure.policy.roles`);
      ``None``: every authenticated peer has full control (the ``installer`` role).
    """

    credential: LocalCredential | Sequence[LocalCredential]
    verifier: PeerVerifier
    initiate: bool = False
    respond: bool = True
    method: Method = Method.SIG_SIG
    accept_methods: frozenset[Method] = frozenset({Method.SIG_SIG, Method.STATIC_STATIC})
    suites: tuple[int, ...] = (2,)
    send_credential: CredentialTransfer = CredentialTransfer.BY_VALUE
    lookup_peer: LookupPeer | None = None
    fmt: RecordFormat = DEFAULT_FORMAT
    limits: KeyLimits = field(default_factory=KeyLimits)
    handshake_timeout: float = 1.0
    handshake_retries: int = 3
    identity_timeout: float = 3.0
    max_queue: int = 32
    cookie: str = "auto"
    cookie_lifetime: float = 30.0
    validated_ttl: float = 600.0
    source_rate: float = 5.0
    source_burst: float = 10.0
    global_rate: float = 100.0
    global_burst: float = 200.0
    max_half_open: int = 32
    max_half_open_per_source: int = 2
    half_open_reserved: int | None = None
    unknown_context_hints: bool = True
    hint_rate: float = 1.0
    hint_burst: float = 3.0
    stale_records: int | None = 3
    stale_timeout: float = 2.0
    rehandshake_holdoff: float = 1.0
    rekey_grace: float = 10.0
    recheck_interval: float | None = 5.0
    trust_poll: float | None = 1.0
    cross_check: bool = True
    plain_multicast: bool = False
    audit_rate: float = 20.0
    audit_burst: float = 100.0
    roles: RoleTable | None = None

    def __post_init__(self) -> None:
        if self.cookie not in ("auto", "always"):
            raise SecureUsageError("cookie must be 'auto' or 'always'")
        if not (self.initiate or self.respond):
            raise SecureUsageError("a secure layer initiates, responds, or both")
        if self.handshake_timeout <= 0 or self.handshake_retries < 0 or self.max_queue < 0:
            raise SecureUsageError("handshake_timeout must be positive, retries and max_queue not negative")
        if min(self.source_rate, self.source_burst, self.global_rate, self.global_burst) <= 0:
            raise SecureUsageError("token bucket rates and sizes must be positive")
        if self.max_half_open < 1 or self.max_half_open_per_source < 1:
            raise SecureUsageError("half-open caps must be at least 1")
        if not 0 <= self.reserved_half_open < self.max_half_open:
            raise SecureUsageError("half_open_reserved must leave strangers at least one half-open slot")
        if min(self.hint_rate, self.hint_burst) <= 0 or self.stale_timeout < 0 or self.rehandshake_holdoff < 0:
            raise SecureUsageError("hint budget must be positive, stale_timeout and rehandshake_holdoff not negative")
        if self.stale_records is not None and self.stale_records < 1:
            raise SecureUsageError("stale_records must be at least 1 (or None)")
        if self.trust_poll is not None and self.trust_poll <= 0:
            raise SecureUsageError("trust_poll must be positive (or None)")

    @property
    def reserved_half_open(self) -> int:
        """Half-open slots strangers may not take (``half_open_reserved``, by default a quarter of the cap)."""
        return self.max_half_open // 4 if self.half_open_reserved is None else self.half_open_reserved
