"""The secure layer: a sans-I/O shim between the UDP socket and a plain :class:`echonet.node.Node`.

::

    layer = SecureLayer(node, SecureConfig(credential=cred, verifier=verifier, initiate=True),
                        policy=policy, audit=log)
    layer.receive_datagram(data, addr, now)       # instead of node.receive_datagram
    for data, addr in layer.datagrams_to_send(now): ...   # instead of node.datagrams_to_send
    layer.get_timer() / layer.handle_timer(now)   # the node's timers merged with the layer's

The node is not changed: incoming secured records are unprotected and the ECHONET Lite frame inside is handed to
the node with the peer's address; what the node sends is protected for peers with a session, queued (bounded)
while a handshake runs, and sent plain only where the policy allows it. There is no silent fallback.

Incoming datagrams are classified by their first byte: the overlay's EHD1 (records, see :mod:`secure.records.framing`),
0x10 (plain ECHONET Lite frames, passed on only if :mod:`secure.policy.rules` allows), anything else (junk,
dropped).

Handshakes (EDHOC, RFC 9528) run in handshake records: ``cid`` empty for message_1; message_2 is addressed to C_I,
message_3 to C_R, message_4 (key confirmation) to C_I. The OSCORE context comes from the EDHOC exporter (RFC 9528
appendix A.1): the Sender ID is the peer's connection identifier, so the kid in a received data record is the
receiver's own connection identifier, which finds the session without any table scan.

Denial of service (DTLS 1.3 section 5.1 and RFC 9528 section 9.7 in spirit; the guards are in
:mod:`secure.layer.guards`):

* token buckets per source address and global, on handshake and cookie records;
* a stateless cookie (HMAC-SHA-256 under a rotating secret over the source address and message_1) is demanded
  before any public-key work from any source that has not proved its address recently, or that is excessive
  (its bucket is running low, or the half-open handshakes are near their cap);
* at most ``max_half_open`` responder handshakes waiting for message_3 (and ``max_half_open_per_source`` each).
  A full table does not refuse a newcomer: the oldest run of the source holding the most runs gives way (a source
  at its own cap replaces its own oldest run), a share of the table is kept for known peers (addresses that
  completed a handshake with an allow-listed key), and under pressure runs live only ``2 * handshake_timeout``.
  So an attacker who answers cookies from many addresses and never sends message_3 cannot lock anybody out; a
  retransmitted message_1 gets the same message_2 again, without new work or a new run;
* known peers draw on a global token bucket of their own when the shared one is empty;
* before the address (IP and port) is validated by a cookie, never more than 3x the bytes received are sent to it.

Restarts: a data record for a context this node does not hold (it restarted, or dropped the session) is answered
with an unknown-context record naming the kid (rate-limited per source, never longer than the record answered).
The initiator of that session takes it only as a reason to start a new handshake next to the session, which stays
in use until the new one completes: a forged hint costs a handshake, never a session. Without hints, an initiator
whose last ``stale_records`` records got nothing back, the first ``stale_timeout`` seconds ago, does the same.

Rekey: the initiator starts a new handshake a margin before the key-usage limits of :mod:`secure.records.oscore`
(encryptions, failed decryptions, sequence numbers) and after ``KeyLimits.max_age``; the old context keeps
verifying for ``rekey_grace`` seconds. A responder whose own counters near a limit asks for a rekey with a close
record (reason REKEY). A data record under the new keys that arrives before message_4 completes the initiator's
handshake too (only the responder can have produced it), so no answer is lost to a rekey under traffic.

Peers stay checked: every ``recheck_interval`` seconds each session's peer credential goes through the verifier
again, so a removal from the allow-list, a revocation or an expiry ends the session (close record, audited); and
every ``trust_poll`` seconds the layer asks the verifier whether its trust inputs (allow-list, CRL files) changed,
and if so re-validates every session at once.

Identity cross-check: once a handshake with a certificate that binds an identification number completes, the
initiating side reads the peer's node profile 0x83 / 0x8A through the new session (before any queued frame is
released) and closes the session if they differ from the certificate.

Group records (:mod:`secure.records.group`): a controller that manages the group (:meth:`SecureLayer.manage_group`)
hands the group key to each enrolled peer over its pairwise session once the session is ready (a data record whose
plaintext is a group key message, :mod:`secure.records.groupkey`), and again after a removal, revocation or
rotation. Every multicast frame of a member is sealed as a group record; a group record received is verified
against the member table and its frame handed to the node; a member answers one from an address it has no session
with by a group record too. A removed member's records are refused (``group_refused``).

Every security event goes to the audit log (no keys, no plaintext); noisy events are rate limited there and
counted in :class:`LayerStats`.
"""

from __future__ import annotations

import math
import secrets
import sys
import time
from collections import Counter, OrderedDict, deque
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from cryptography.hazmat.primitives.asymmetric import ec

from echonet.codec import decode as decode_frame
from echonet.codec import encode as encode_frame
from echonet.errors import EchonetError
from echonet.frame import EOJ, Frame, Property
from echonet.node import FAST_DONE, FAST_PUMP, Node, is_multicast
from echonet.node.events import Addr, Event
from secure import keylog
from secure.audit import AuditEvent, AuditLog
from secure.errors import (
    EdhocError,
    IntegrityError,
    OutOfOrderMessage,
    ProtocolError,
    RecipientKeyLimitError,
    RecordError,
    ReplayError,
    SecureError,
    SecureUsageError,
    SenderKeyLimitError,
)
from secure.handshake.cose import Credential
from secure.handshake.edhoc import Initiator, OscoreParameters, Responder
from secure.handshake.messages import Message1, Method
from secure.handshake.suites import PublicKey
from secure.layer.config import SecureConfig
from secure.layer.guards import MAX_TRACKED_SOURCES, CookieJar, SourceGuard, TokenBucket
from secure.policy.roles import SNA_OF, AccessRole, RoleDenial
from secure.policy.rules import Decision, Policy, PolicyStore
from secure.policy.values import Action, PeerKind
from secure.records.framing import (
    FLAG_KID,
    FLAG_RESERVED_MASK,
    MAX_KID_LEN,
    MAX_PIV_LEN,
    PIV_LEN_MASK,
    CloseReason,
    CookieRecord,
    HandshakeRecord,
    ProtectedRecord,
    UnknownContextRecord,
    decode,
    decode_close_reason,
    encode_cookie,
    encode_handshake,
    encode_unknown_context,
)
from secure.records.group import (
    GROUP_RECORD,
    GROUP_RECORD_MIN,
    GroupManager,
    GroupReceiver,
    GroupSender,
    GroupUpdate,
    sender_id_of,
)
from secure.records.groupkey import GROUP_KEY_MESSAGE, decode_group_update, encode_group_update
from secure.records.groupstore import SEQUENCE_RESERVE, GroupState, GroupStore
from secure.records.oscore import RekeyReason, SecurityContext
from secure.trust import credentials
from secure.trust.onboarding import PAIRING_RECORD, PairingDevice, encode_pairing
from secure.trust.verifiers import VerifiedCredential, trust_version

__all__ = ["LayerStats", "SecureLayer"]

_ECHONET_LITE_EHD1 = 0x10
_GROUP_KEY_BYTE = bytes((GROUP_KEY_MESSAGE,))
_NODE_PROFILE = EOJ(0x0E, 0xF0, 0x01)
_GET, _GET_RES, _GET_SNA = 0x62, 0x72, 0x52
_UNREAD = object()  # the verifier's trust version, not read yet
_ONE_BYTE_CIDS = tuple(bytes((b,)) for b in (*range(0x00, 0x18), *range(0x20, 0x38)))
_NOISY = frozenset(
    {
        AuditEvent.REPLAY,
        AuditEvent.INTEGRITY_FAILURE,
        AuditEvent.DOWNGRADE_DROPPED,
        AuditEvent.POLICY_DENIED,
        AuditEvent.HANDSHAKE_FAILED,
        AuditEvent.GROUP_REFUSED,
    }
)


@dataclass
class LayerStats:
    """Counters of a :class:`SecureLayer` (no secrets)."""

    handshakes_started: int = 0
    handshakes_ok: int = 0
    handshakes_failed: int = 0
    responder_runs: int = 0  # message_1 accepted for public-key work
    cookies_sent: int = 0
    cookies_accepted: int = 0
    cookies_rejected: int = 0
    rate_limited: int = 0
    half_open_refused: int = 0
    half_open_evicted: int = 0  # runs that gave way to a newcomer at a cap
    message_2_resent: int = 0  # retransmitted message_1 answered with the same message_2
    amplification_refused: int = 0
    protected: int = 0
    unprotected: int = 0
    replays: int = 0
    integrity_failures: int = 0
    malformed: int = 0
    unknown_context: int = 0
    hints_sent: int = 0  # unknown-context records sent
    hints_received: int = 0
    hints_ignored: int = 0  # not about a session of ours waiting for an answer (or spoofed)
    rehandshakes: int = 0  # handshakes started next to a session that looks dead (hint or unanswered records)
    downgrade_dropped: int = 0
    policy_denied: int = 0
    plain_in: int = 0
    plain_out: int = 0
    junk: int = 0
    queued: int = 0
    queue_dropped: int = 0
    multicast_suppressed: int = 0
    rekeys: int = 0
    closes_sent: int = 0
    closes_received: int = 0
    identity_mismatches: int = 0
    role_denied: int = 0  # requests a peer's role did not cover (answered with their SNA)
    audit_suppressed: int = 0
    audit_errors: int = 0  # records the audit log could not take (the layer goes on)
    trust_changes: int = 0  # times the verifier's trust inputs changed (every session re-validated)
    group_sealed: int = 0  # frames sent as group records (multicast, or to a member without a pairwise session)
    group_opened: int = 0  # group records verified and handed to the node
    group_refused: int = 0  # group records or key updates refused (not a member, epoch, tag, signature, replay)
    group_updates_sent: int = 0
    group_updates_received: int = 0


# --------------------------------------------------------------------------------------------- sessions


class _Box:
    """Receives the verified peer credential from the EDHOC callback."""

    __slots__ = ("credential", "verified")

    def __init__(self) -> None:
        self.verified: VerifiedCredential | None = None
        self.credential: Credential | None = None


class _Handshake:
    """An initiator run towards one peer."""

    __slots__ = (
        "addr",
        "attempts",
        "box",
        "c_i",
        "context",
        "cookie_tries",
        "deadline",
        "initiator",
        "last",
        "message_1",
        "rekey_reason",
        "started",
        "state",
    )

    def __init__(self, addr: Addr, initiator: Initiator, c_i: bytes, message_1: bytes, now: float, box: _Box) -> None:
        self.box = box
        self.addr: Addr = (str(addr[0]), int(addr[1]))
        self.initiator = initiator
        self.c_i = c_i
        self.message_1 = message_1
        self.last = b""
        self.state = "m2"
        self.attempts = 0
        self.cookie_tries = 0
        self.deadline = now
        self.started = now
        self.context: SecurityContext | None = None  # derived once message_3 is sent
        self.rekey_reason: str | None = None


class _HalfOpen:
    """A responder run waiting for message_3."""

    __slots__ = ("addr", "box", "c_i", "c_r", "created", "deadline", "known", "message_1", "message_2", "responder")

    def __init__(
        self,
        addr: Addr,
        responder: Responder,
        c_i: bytes,
        c_r: bytes,
        deadline: float,
        box: _Box,
        created: float,
        known: bool,
        message_1: bytes,
        message_2: bytes,
    ) -> None:
        self.addr = addr
        self.responder = responder
        self.c_i = c_i
        self.c_r = c_r
        self.deadline = deadline
        self.box = box
        self.created = created
        self.known = known  # from a known peer: never evicted for a stranger
        self.message_1 = message_1
        self.message_2 = message_2


class _Session:
    __slots__ = (
        "access",
        "addr",
        "budget",
        "check_deadline",
        "check_tid",
        "context",
        "created",
        "credential",
        "initiator",
        "ip",
        "local_cid",
        "message_3",
        "message_4",
        "moves",
        "port",
        "recheck_at",
        "rekey_asked",
        "retire_at",
        "unanswered",
        "unanswered_since",
        "verified",
    )

    def __init__(
        self,
        addr: Addr,
        context: SecurityContext,
        local_cid: bytes,
        initiator: bool,
        verified: VerifiedCredential,
        now: float,
    ) -> None:
        self.addr: Addr = (str(addr[0]), int(addr[1]))
        self.ip = str(addr[0])
        self.port = int(addr[1])
        self.moves = 0  # times an authenticated record moved the session to another address
        self.access: AccessRole | None = None  # the peer's role when it restricts anything (None: full control)
        self.context = context
        self.local_cid = local_cid
        self.initiator = initiator
        self.verified = verified
        self.created = now
        self.retire_at: float | None = None
        self.check_tid: int | None = None
        self.check_deadline: float | None = None
        self.message_3 = b""
        self.message_4 = b""
        self.rekey_asked = False
        self.budget = context.encryptions_before_rekey()  # protections left before the count-based rekey check
        self.credential: Credential | None = None  # the peer's, re-validated every recheck_interval
        self.recheck_at = math.inf
        self.unanswered = 0  # records sent since the last one received under this session
        self.unanswered_since = now  # when the first of them went out


def _wall_clock() -> float:
    return time.time()


def _frame_fields(frame: Frame) -> tuple[int | None, bytes | None, tuple[int, ...]]:
    deoj = None if frame.deoj is None else bytes(frame.deoj)
    return frame.esv, deoj, tuple(p.epc for p in frame.properties)


# ------------------------------------------------------------------------------------------------ layer


class SecureLayer:
    """Wraps a :class:`~echonet.node.Node` with the secure overlay (see the module documentation).

    ``policy``: a :class:`~secure.policy.rules.PolicyStore` (persisted, re-read when changed elsewhere) or an
    in-memory :class:`~secure.policy.rules.Policy`. ``audit``: where security events go (``None``: counted only).
    ``wall_clock``: seconds since the epoch, for certificate validity, consent expiry and audit timestamps; every
    other ``now`` is the caller's (monotonic) clock, as for the node.
    """

    def __init__(
        self,
        node: Node,
        config: SecureConfig,
        *,
        policy: PolicyStore | Policy | None = None,
        audit: AuditLog | None = None,
        wall_clock: Callable[[], float] = _wall_clock,
    ) -> None:
        self.node = node
        self.config = config
        self.policy_source: PolicyStore | Policy = policy if policy is not None else Policy()
        self.audit = audit
        self.stats = LayerStats()
        self._wall = wall_clock
        self._fmt = config.fmt
        self._ehd1 = config.fmt.ehd1
        self._data = config.fmt.data
        # open_datagram's hot path: each data record header with a kid -> its partial IV length
        self._data_heads = {bytes((self._ehd1, self._data, FLAG_KID | n)): n for n in range(1, MAX_PIV_LEN + 1)}
        self._cookies = CookieJar(config.cookie_lifetime)
        self._guard = SourceGuard(config)
        self._out: list[tuple[bytes, Addr]] = []
        self._sessions: dict[bytes, _Session] = {}  # local cid -> session (also retiring ones)
        self._current: dict[Addr, _Session] = {}  # peer (IP, port) -> session used for sending
        self._by_ip: dict[str, dict[Addr, _Session]] = {}  # peer IP -> its sessions used for sending, by port
        #: Peer IPs with a session now (read-only view for adapters; the same dict, so lookups cost nothing).
        self.secured_peers: Mapping[str, object] = self._by_ip
        #: Peer IP -> why the last handshake or identity check with it failed (for adapters' error messages), and
        #: what to do about it (:attr:`failure_advice`, same keys).
        self.last_failure: dict[str, str] = {}
        self.failure_advice: dict[str, str] = {}
        self._known: OrderedDict[str, None] = OrderedDict()  # IPs that completed a handshake here
        self._rehandshake_after: dict[Addr, float] = {}  # peer -> no hint/stale handshake before then
        self._stale_n = sys.maxsize if config.stale_records is None else config.stale_records
        self._trust_version: object = _UNREAD
        self._trust_at = math.inf  # next look at the verifier's trust inputs (armed by the first session)
        self._handshakes: dict[Addr, _Handshake] = {}  # peer (IP, port) -> initiator run
        self._by_c_i: dict[bytes, _Handshake] = {}
        self._half_open: dict[bytes, _HalfOpen] = {}  # C_R -> responder run
        self._queues: dict[Addr, deque[tuple[bytes, Addr]]] = {}  # peer (IP, port) -> frames held
        self._audit_bucket: TokenBucket | None = None
        self._serial = 0
        self._deadline_serial = -1  # _own_deadline() is cached until the next _bump()
        self._deadline_cache: float | None = None
        self._now = 0.0
        #: Setup mode: the device side of onboarding with a setup code (``None``: pairing records are ignored).
        self.pairing: PairingDevice | None = None
        #: Group manager (the controller side, :meth:`manage_group`): hands the group key to every enrolled peer.
        self.group_manager: GroupManager | None = None
        #: Identity (0x83 hex or ``fp:...``) of the only peer whose group key updates are taken; ``None``: the first
        #: peer with a controller certificate (or a credential without a role) that sends one is pinned here.
        self.group_manager_identity: str | None = None
        self._group_manager_fp: bytes | None = None
        self._group_sender: GroupSender | None = None
        self._group_receiver: GroupReceiver | None = None
        #: Peer (IP, port) -> identity of members whose group records verified here (newest last, bounded).
        self.group_peers: OrderedDict[Addr, str] = OrderedDict()
        #: Peer IP -> wall-clock time of the last plain ECHONET Lite frame the policy let in (legacy nodes).
        self.plain_peers: OrderedDict[str, float] = OrderedDict()
        #: Peer IP -> why its last plain answer or notification was refused (``unknown_peer``, ...): a plain node
        #: seen, never merged with the secured ones (``echonet discover --secure`` lists it as legacy).
        self.plain_refused: OrderedDict[str, str] = OrderedDict()
        #: Where the group state is kept across restarts (:meth:`use_group_store`); ``None``: in memory only.
        self.group_store: GroupStore | None = None
        self._group_next = 0  # first group sequence number this run may use (from the store)
        self._group_reserved = 0  # the store says the next run starts here

    # ------------------------------------------------------------------------------------------ inspection

    @property
    def policy(self) -> Policy:
        source = self.policy_source
        return source.current() if isinstance(source, PolicyStore) else source

    def peer_status(self, ip: str) -> str:
        """``secure`` (a session), ``handshaking``, ``secure-enrolled`` (no session now), ``legacy`` or ``unknown``."""
        if ip in self._by_ip:
            return "secure"
        if any(key[0] == ip for key in self._handshakes):
            return "handshaking"
        record = self.policy.peer(ip)
        if record is None:
            return "unknown"
        return "secure-enrolled" if record.kind is PeerKind.SECURE else "legacy"

    def session_info(self, ip: str | Addr) -> Mapping[str, object] | None:
        """Public facts about the session with ``ip`` (an address, or an IP with one session; no keys): the peer's
        identity (0x83 and certificate fingerprint) first, its address as an attribute."""
        session = self._session_for(ip if isinstance(ip, tuple) else (ip, -1))
        if session is None:
            return None
        return self._describe(session)

    def _describe(self, session: _Session) -> dict[str, object]:
        identity = session.verified.identity
        usage = session.context.usage(self._now)
        return {
            "identity": _identity_name(session.verified),
            "id_number": None if identity is None else identity.id_number.hex(),
            "fingerprint": session.verified.fingerprint.hex(),
            "peer": session.ip,
            "port": session.port,
            "address": f"{session.ip}:{session.port}",
            "role": "initiator" if session.initiator else "responder",
            "identity_checked": session.check_tid is None,
            "encryptions": usage.encryptions,
            "failed_decryptions": usage.failed_decryptions,
            "cid": session.local_cid.hex(),
            "moves": session.moves,
            "access": "installer" if session.access is None else session.access.name,
            "certification": None
            if session.verified.certification is None
            else session.verified.certification.to_document(),
            "certification_status": session.verified.certification_status,
        }

    def sessions(self) -> list[dict[str, object]]:
        """Every session used for sending now, named by the peer's identity, with its address as an attribute."""
        return [self._describe(session) for session in self._current.values()]

    def session_of(self, identity: str) -> Mapping[str, object] | None:
        """The session with the peer whose identification number (0x83, hex) or certificate fingerprint (hex, or
        a prefix of at least 8 hex digits) is ``identity``, wherever it is now; ``None`` without one."""
        wanted = identity.lower()
        for session in self._current.values():
            verified = session.verified
            fp = verified.fingerprint.hex()
            ident = verified.identity
            if (ident is not None and ident.id_number.hex() == wanted) or fp == wanted:
                return self._describe(session)
            if len(wanted) >= 8 and fp.startswith(wanted):
                return self._describe(session)
        return None

    def address_of(self, identity: str) -> Addr | None:
        """Where the peer named ``identity`` (see :meth:`session_of`) is now, as the last authenticated record
        from it says; ``None`` when no session with it exists."""
        info = self.session_of(identity)
        return None if info is None else (str(info["peer"]), int(str(info["port"])))

    def _session_for(self, addr: Addr) -> _Session | None:
        """The session to send to ``addr`` under: the one at that exact (IP, port), else the only one at that IP
        when the peer started it (a controller that asked from one port and listens on another); ``None`` when
        none. A session this node started belongs to the exact address it reached: another port of that IP is
        another node (two nodes behind one address are never mixed), which gets a handshake of its own."""
        session = self._current.get((addr[0], addr[1]))
        if session is not None:
            return session
        by_port = self._by_ip.get(str(addr[0]))
        if by_port is not None and len(by_port) == 1:
            for session in by_port.values():
                if not (session.initiator and self.config.initiate) or addr[1] == -1:
                    return session
        return None

    def _handshake_to(self, addr: Addr) -> _Handshake | None:
        hs = self._handshakes.get((addr[0], addr[1]))
        if hs is not None:
            return hs
        runs = [hs for key, hs in self._handshakes.items() if key[0] == addr[0]]
        return runs[0] if len(runs) == 1 else None

    @property
    def half_open_count(self) -> int:
        """Responder handshakes waiting for message_3 now."""
        return len(self._half_open)

    def is_secured(self, ip: str) -> bool:
        """Whether frames to ``ip`` are protected now (a session exists, its identity check may be pending)."""
        return ip in self._by_ip

    def has_session(self, ip: str | Addr) -> bool:
        session = self._session_for(ip if isinstance(ip, tuple) else (ip, -1))
        return session is not None and session.check_tid is None

    # ------------------------------------------------------------------------------------------ audit

    def _audit(self, event: AuditEvent | str, fields: Mapping[str, object], now: float) -> None:
        if self.audit is None:
            return
        if event in _NOISY:
            bucket = self._audit_bucket
            if bucket is None:
                bucket = self._audit_bucket = TokenBucket(self.config.audit_rate, self.config.audit_burst, now)
            if not bucket.take(now):
                self.stats.audit_suppressed += 1
                return
        try:
            self.audit.append(event, fields, now=self._wall())
        except (SecureError, OSError):  # a full disk or a damaged log must not stop the node; it is counted
            self.stats.audit_errors += 1

    def audit_decision(self, decision: Decision, now: float) -> None:
        event = decision.audit_event()
        if event is not None:
            self._audit(event, decision.audit_fields(), now)

    # ------------------------------------------------------------------------------------------ timers

    @property
    def timer_serial(self) -> int:
        """Changes whenever the node or the layer adds a deadline (see :attr:`echonet.node.Node.timer_serial`)."""
        return self.node.timer_serial + self._serial

    def get_timer(self) -> float | None:
        deadline = self.node.get_timer()
        own = self._deadline_cache if self._deadline_serial == self._serial else self._own_deadline()
        if own is None:
            return deadline
        return own if deadline is None else min(deadline, own)

    def _own_deadline(self) -> float | None:
        if self._deadline_serial == self._serial:
            return self._deadline_cache
        best = math.inf
        for hs in self._handshakes.values():
            best = min(best, hs.deadline)
        for ho in self._half_open.values():
            best = min(best, ho.deadline)
        if self._sessions:
            best = min(best, self._trust_at)
        manager = self.group_manager
        if manager is not None:  # a scheduled rotation (wall clock) at its own deadline (the layer's clock)
            best = min(best, self._now + max(0.0, manager.next_rotation() - self._wall()))
        max_age = self.config.limits.max_age
        for session in self._sessions.values():
            if session.retire_at is not None:
                best = min(best, session.retire_at)
                continue
            if session.check_deadline is not None:
                best = min(best, session.check_deadline)
            best = min(best, session.recheck_at)
            if max_age is not None and session.addr not in self._handshakes:
                # The initiator rekeys at max_age; a responder closes a session its peer let age twice as long.
                best = min(best, session.created + (max_age if session.initiator else 2 * max_age))
        self._deadline_serial = self._serial
        self._deadline_cache = None if best == math.inf else best
        return self._deadline_cache

    def _bump(self) -> None:
        self._serial += 1

    def handle_timer(self, now: float) -> None:
        self._now = now
        self.node.handle_timer(now)
        for hs in list(self._handshakes.values()):
            if hs.deadline <= now:
                if hs.attempts >= self.config.handshake_retries:
                    self._fail_handshake(hs, "timeout", now, stage=_waiting_for(hs))
                else:
                    hs.attempts += 1
                    hs.deadline = now + self.config.handshake_timeout * (2**hs.attempts)
                    self._send(hs.last, hs.addr)
                    self._bump()
        for c_r, ho in list(self._half_open.items()):
            if ho.deadline <= now:
                del self._half_open[c_r]
                self.stats.handshakes_failed += 1
                self._audit(
                    AuditEvent.HANDSHAKE_FAILED,
                    {"peer": str(ho.addr[0]), "role": "responder", "reason": "timeout", "stage": "message_3"},
                    now,
                )
        if self._trust_at <= now:
            self._poll_trust(now)
        manager = self.group_manager
        if manager is not None and manager.rotation_due(self._wall()):
            manager.rotate("scheduled", now=self._wall())
            self._audit(AuditEvent.GROUP_KEY, {"action": "rotated", "reason": "scheduled"}, now)
            self._group_publish(now)
        for session in list(self._sessions.values()):
            if session.retire_at is not None and session.retire_at <= now:
                self._drop_session(session)
                continue
            if session.check_deadline is not None and session.check_deadline <= now:
                self._identity_failed(session, "identity check unanswered", now)
                continue
            if session.recheck_at <= now:
                self._recheck(session, now)
                if session.local_cid not in self._sessions:
                    continue
            self._maybe_rekey(session, now)
        self._bump()  # deadlines may have moved or gone

    # ------------------------------------------------------------------------------------------ input

    def receive_datagram(self, data: bytes, addr: Addr, now: float) -> None:
        """Feed one received datagram; never raises on remote input."""
        frame = self.open_datagram(data, addr, now)
        if frame is not None:
            self.node.receive_datagram(frame, addr, now)

    def open_datagram(self, data: bytes, addr: Addr, now: float) -> bytes | None:
        """:meth:`receive_datagram` up to the node: the plain frame of a verified data record, which the caller must
        hand to the node (``node.receive_datagram``, or the node's fast lane that behaves the same); ``None`` when the
        layer took the datagram itself (anything else than such a record, or a refused one). Never raises on remote
        input."""
        self._now = now
        # The hot path: a well-formed data record under a session, from the session's address. Anything else (and
        # a record that needs more than its context's checks) takes _open_datagram, which decides every case.
        n = self._data_heads.get(data[:3])  # the partial IV length of a data record header with a kid, else None
        if n is not None and (n == 1 or data[3]):  # (a partial IV of 2 bytes or more has no leading zero)
            pos = 3 + n
            if len(data) > pos:
                end = pos + 1 + data[pos]
                session = self._sessions.get(data[pos + 1 : end])
                if session is not None and session.addr == addr:
                    try:
                        frame = session.context.open_data(data, n, end, now)
                    except RecordError as exc:
                        self._refused(session, data, addr, exc, now)
                        return None
                    self.stats.unprotected += 1
                    session.unanswered = 0
                    if session.check_tid is None and session.access is None and frame[:1] != _GROUP_KEY_BYTE:
                        return frame
                    return self._screen(session, frame, addr, now)
        return self._open_datagram(data, addr, now)

    def _open_datagram(self, data: bytes, addr: Addr, now: float) -> bytes | None:
        """:meth:`open_datagram` for every datagram (its hot path takes the common case first)."""
        if len(data) < 3 or data[0] != self._ehd1 or data[1] != self._data:
            self._receive_not_data(data, addr, now)
            return None
        # A data record (the hot path, inline). The layout of secure.records.framing.split_protected, parsed here
        # once: the kid finds the session.
        flags = data[2]
        n = flags & PIV_LEN_MASK
        pos = 3 + n
        if (
            flags & FLAG_RESERVED_MASK
            or not flags & FLAG_KID
            or not 0 < n <= MAX_PIV_LEN
            or pos >= len(data)
            or data[pos] > MAX_KID_LEN
            or (n > 1 and data[3] == 0)
        ):
            self._malformed(data, addr, "bad data record header", now)
            return None
        end = pos + 1 + data[pos]
        kid = data[pos + 1 : end]
        session = self._sessions.get(kid)
        if session is None:
            hs = self._by_c_i.get(kid)
            if hs is not None and hs.context is not None and hs.addr[0] == addr[0]:
                self._early_data(hs, data, addr, now)
                return None
        if session is None:
            self._unknown_context(kid, data, addr, now)
            return None
        if session.ip != addr[0] or session.port != addr[1]:
            return self._open_moved(session, data, pos, end, kid, addr, now)
        try:
            frame = session.context.unprotect_parts(data[:3], data[3:pos], kid, data[end:], now)
        except RecordError as exc:
            self._refused(session, data, addr, exc, now)
            return None
        self.stats.unprotected += 1
        session.unanswered = 0
        return self._screen(session, frame, addr, now)

    def _refused(self, session: _Session, data: bytes, addr: Addr, exc: RecordError, now: float) -> None:
        """A data record under ``session`` that its context refused: counted and audited by its reason."""
        fields = self._record_fields(session, addr, data, exc)
        if isinstance(exc, ReplayError):
            self.stats.replays += 1
            self._audit(AuditEvent.REPLAY, fields, now)
        elif isinstance(exc, IntegrityError):
            self.stats.integrity_failures += 1
            self._audit(AuditEvent.INTEGRITY_FAILURE, fields, now)
            self._maybe_rekey(session, now)
        elif isinstance(exc, RecipientKeyLimitError):
            self.stats.integrity_failures += 1
            self._audit(AuditEvent.INTEGRITY_FAILURE, fields, now)
            self._close_session(session, CloseReason.KEY_LIMIT, now)
        else:
            self.stats.malformed += 1
            self._audit(AuditEvent.INTEGRITY_FAILURE, fields, now)

    def _screen(self, session: _Session, frame: bytes, addr: Addr, now: float) -> bytes | None:
        """A verified record's frame: the layer's own (a group key update, the answer of an identity check) or one
        the peer's role refuses is taken here (``None``); else the frame, for the node."""
        if frame[:1] == _GROUP_KEY_BYTE:
            self._receive_group_update(session, frame, now)
            return None
        if session.check_tid is not None and self._identity_answer(session, frame, now):
            return None
        if session.access is not None and self._role_refuses(session, frame, addr, now):
            return None
        return frame

    def _role_refuses(self, session: _Session, frame_bytes: bytes, addr: Addr, now: float) -> bool:
        """Whether the peer's role refuses this request (then answered with its SNA, audited ``role_denied``)."""
        if len(frame_bytes) < 12 or not 0x60 <= frame_bytes[10] <= 0x6F:
            return False  # answers and notifications: never refused by a role
        access = session.access
        assert access is not None
        try:
            frame = decode_frame(frame_bytes)
        except EchonetError:
            return False  # the node drops it with the reason
        if frame.esv is None or frame.deoj is None or frame.seoj is None:
            return False
        class_id = (frame.deoj.class_group << 8) | frame.deoj.class_code
        epcs = [p.epc for p in frame.properties] + [p.epc for p in frame.get_properties]
        denied = access.denied(frame.esv, class_id, epcs)
        if not denied:
            return False
        self.stats.role_denied += 1
        denial = RoleDenial(access.name, frame.esv, class_id, tuple(denied))
        fields = self._who(session)
        fields.update(denial.audit_fields())
        fields["eoj"] = bytes(frame.deoj).hex()
        self._audit(AuditEvent.ROLE_DENIED, fields, now)
        sna = SNA_OF.get(frame.esv)
        if sna is not None and frame.deoj.instance != 0:
            answer = Frame.make(
                frame.tid, frame.deoj, frame.seoj, sna, _sna_properties(frame.esv, frame), _sna_gets(frame)
            )
            self._protect_to(session, encode_frame(answer), addr, now)
        return True

    def _open_moved(
        self, session: _Session, data: bytes, pos: int, end: int, kid: bytes, addr: Addr, now: float
    ) -> bytes | None:
        """A data record under a session from another address than the session's. The session belongs to the
        peer's identity and connection identifiers, not to its address: the record is verified as any other
        (replay window, tag), and if it verifies and is the newest this session received (a partial IV above the
        replay window's top, so neither a replay nor a delayed copy), the session follows the peer to the new
        address (DHCP, a NAT rebinding), audited as ``peer_moved``. A record that does not verify moves nothing."""
        top = session.context.replay_window.top
        n = data[2] & PIV_LEN_MASK
        piv = int.from_bytes(data[3 : 3 + n], "big")
        try:
            frame = session.context.unprotect_parts(data[:3], data[3:pos], kid, data[end:], now)
        except ReplayError as exc:
            self.stats.replays += 1
            self._audit(AuditEvent.REPLAY, self._record_fields(session, addr, data, exc), now)
            return None
        except RecordError as exc:
            self.stats.integrity_failures += 1
            self._audit(AuditEvent.INTEGRITY_FAILURE, self._record_fields(session, addr, data, exc), now)
            return None
        if piv > top:
            self._move(session, addr, now)
        self.stats.unprotected += 1
        session.unanswered = 0
        if frame[:1] == _GROUP_KEY_BYTE:
            self._receive_group_update(session, frame, now)
            return None
        if session.check_tid is not None and self._identity_answer(session, frame, now):
            return None
        if session.access is not None and self._role_refuses(session, frame, addr, now):
            return None
        return frame

    def _move(self, session: _Session, addr: Addr, now: float) -> None:
        """The session's peer is at ``addr`` now: frames to it (and to the old address, which it left) go under
        this session; the policy's record follows the identity."""
        old_addr = session.addr
        new_addr: Addr = (str(addr[0]), int(addr[1]))
        current = self._current.get(old_addr) is session
        if current:
            self._unset_current(old_addr)
        session.addr = new_addr
        session.ip = new_addr[0]
        session.port = new_addr[1]
        session.moves += 1
        if current:
            displaced = self._current.get(new_addr)
            if displaced is not None and displaced is not session and displaced.retire_at is None:
                displaced.retire_at = now + self.config.rekey_grace
            self._set_current(new_addr, session)
        queue = self._queues.pop(old_addr, None)
        if queue:
            self._queues.setdefault(new_addr, deque()).extend(queue)
        self._bump()
        fields = self._who(session)
        fields["from"] = f"{old_addr[0]}:{old_addr[1]}"
        self._audit(AuditEvent.PEER_MOVED, fields, now)
        self._enrol(session, now)

    def _set_current(self, key: Addr, session: _Session) -> None:
        self._current[key] = session
        self._by_ip.setdefault(key[0], {})[key] = session

    def _unset_current(self, key: Addr) -> None:
        self._current.pop(key, None)
        by_port = self._by_ip.get(key[0])
        if by_port is not None:
            by_port.pop(key, None)
            if not by_port:
                del self._by_ip[key[0]]

    @staticmethod
    def _who(session: _Session) -> dict[str, object]:
        """The audit fields that name a session's peer: its identity first, the address as an attribute."""
        verified = session.verified
        identity = verified.identity
        return {
            "identity": _identity_name(verified),
            "id_number": None if identity is None else identity.id_number.hex(),
            "fingerprint": verified.fingerprint.hex(),
            "peer": session.ip,
            "port": session.port,
            "cid": session.local_cid.hex(),
        }

    def _unknown_context(self, kid: bytes, data: bytes, addr: Addr, now: float) -> None:
        """A data record under a context this node does not hold: audited, and answered with a hint (rate-limited
        per source, never more bytes than the record) so that its sender starts a new handshake."""
        ip = str(addr[0])
        self.stats.unknown_context += 1
        self._audit(
            AuditEvent.INTEGRITY_FAILURE,
            {"peer": ip, "port": int(addr[1]), "reason": "unknown-context", "cid": kid.hex()},
            now,
        )
        if not self.config.unknown_context_hints or not self._guard.may_hint(ip, now):
            return
        hint = encode_unknown_context(kid, self._fmt)
        if len(hint) <= len(data):
            self.stats.hints_sent += 1
            self._send(hint, addr)

    def _receive_hint(self, kid: bytes, addr: Addr, now: float) -> None:
        """The peer says it holds no context for ``kid``. Unauthenticated, so it counts only for the session we
        send under to that peer, only while records of ours went unanswered, and only as a reason to start a
        new handshake next to the session (which stays in use until the new one completes)."""
        self.stats.hints_received += 1
        session = self._session_for(addr)
        if (
            session is None
            or session.context.sender_id != kid
            or not session.unanswered
            or not self._rehandshake(session, "peer-lost-context", now)
        ):
            self.stats.hints_ignored += 1

    def _rehandshake(self, session: _Session, reason: str, now: float) -> bool:
        """Start a handshake next to ``session``, which looks dead (a hint, or records unanswered); False when
        this node does not initiate it, one is running, or one was started less than ``rehandshake_holdoff``
        seconds ago."""
        key = session.addr
        if not (session.initiator and self.config.initiate) or key in self._handshakes:
            return False
        if now < self._rehandshake_after.get(key, -math.inf) or session.retire_at is not None:
            return False
        self._rehandshake_after[key] = now + self.config.rehandshake_holdoff
        if len(self._rehandshake_after) > MAX_TRACKED_SOURCES:
            self._rehandshake_after.pop(next(iter(self._rehandshake_after)))
        self.stats.rehandshakes += 1
        self._start_handshake(session.addr, now, rekey_reason=reason)
        return True

    def _receive_not_data(self, data: bytes, addr: Addr, now: float) -> None:
        if not data:
            self.stats.junk += 1
            return
        first = data[0]
        if first == self._ehd1:
            self._receive_other(data, addr, now)
        elif first == _ECHONET_LITE_EHD1:
            self._receive_plain(data, addr, now)
        else:
            self.stats.junk += 1

    def _record_fields(self, session: _Session, addr: Addr, data: bytes, exc: RecordError) -> dict[str, object]:
        fields = self._who(session)
        fields.update({"peer": str(addr[0]), "port": int(addr[1]), "reason": exc.reason.value, "size": len(data)})
        n = data[2] & PIV_LEN_MASK
        if len(data) >= 3 + n:
            fields["piv"] = int.from_bytes(data[3 : 3 + n], "big")
        return fields

    def _malformed(self, data: bytes, addr: Addr, detail: str, now: float) -> None:
        self.stats.malformed += 1
        self._audit(
            AuditEvent.INTEGRITY_FAILURE,
            {"peer": str(addr[0]), "port": int(addr[1]), "reason": "malformed", "detail": detail, "size": len(data)},
            now,
        )

    def _receive_other(self, data: bytes, addr: Addr, now: float) -> None:
        if len(data) >= 3 and data[1] == PAIRING_RECORD:
            self._receive_pairing(data, addr, now)
            return
        if len(data) >= 3 and data[1] == GROUP_RECORD:
            self._receive_group_record(data, addr, now)
            return
        try:
            record = decode(data, self._fmt)
        except RecordError as exc:
            self._malformed(data, addr, exc.detail, now)
            return
        if isinstance(record, ProtectedRecord):  # close (data records take the fast path)
            self._receive_close(record, addr, now)
            return
        if isinstance(record, UnknownContextRecord):
            self._receive_hint(record.kid, addr, now)
            return
        # Handshake and cookie records cost work: rate limits first (known peers have a global budget of their own).
        if not self._guard.admit(str(addr[0]), now, self._is_known):
            self.stats.rate_limited += 1
            self._audit(AuditEvent.HANDSHAKE_FAILED, {"peer": str(addr[0]), "reason": "rate-limited"}, now)
            return
        if isinstance(record, HandshakeRecord):
            self._receive_handshake(record, data, addr, now)
        elif isinstance(record, CookieRecord):
            self._receive_cookie(record, data, addr, now)

    def _receive_pairing(self, data: bytes, addr: Addr, now: float) -> None:
        """A pairing record (onboarding with a setup code, :mod:`secure.trust.onboarding`): answered only while
        :attr:`pairing` is set (setup mode), within the handshake rate limits; every outcome is audited."""
        ip = str(addr[0])
        pairing = self.pairing
        if pairing is None:
            self.stats.junk += 1
            return
        if not self._guard.admit(ip, now, self._is_known):
            self.stats.rate_limited += 1
            self._audit(AuditEvent.PAIRING_FAILED, {"peer": ip, "reason": "rate-limited"}, now)
            return
        step, payload = data[2], data[3:]
        try:
            if step == 1:
                reply = pairing.message_1(payload)
            elif step == 3:
                reply = pairing.message_3(payload)
            else:
                return
        except SecureError as exc:
            self._audit(
                AuditEvent.PAIRING_FAILED,
                {"peer": ip, "port": int(addr[1]), "step": step, "reason": _reason(exc), "failures": pairing.failures},
                now,
            )
            self._send(encode_pairing(0xFF, _reason(exc).encode()[:200], self._ehd1), addr)
            return
        if step == 3 and pairing.paired is not None:
            identity = pairing.paired.identity
            self._audit(
                AuditEvent.PAIRING_OK,
                {"peer": ip, "port": int(addr[1]), "identity": identity.id_number.hex(), "pinned": True},
                now,
            )
        self._send(encode_pairing(step + 1, reply, self._ehd1), addr)

    def _excessive(self, ip: str, now: float) -> bool:
        if self._guard.is_running_low(ip, now):
            return True
        if len(self._half_open) * 2 >= self.config.max_half_open:
            return True
        return sum(1 for ho in self._half_open.values() if ho.addr[0] == ip) >= self.config.max_half_open_per_source

    def _send_unvalidated(self, data: bytes, addr: Addr) -> bool:
        """Send to an address whose cookie is not confirmed: only within 3x the bytes received from it."""
        if not self._guard.may_send(addr, len(data)):
            self.stats.amplification_refused += 1
            return False
        self._send(data, addr)
        return True

    def _send(self, data: bytes, addr: Addr) -> None:
        self._out.append((data, addr))

    def _receive_handshake(self, record: HandshakeRecord, data: bytes, addr: Addr, now: float) -> None:
        cid, payload = record
        if not cid:
            if self.config.respond:
                self._message_1(payload, data, addr, now, cookie_ok=False)
            return
        hs = self._by_c_i.get(cid)
        if hs is not None:
            if hs.addr[0] == addr[0]:
                if hs.state == "m2":
                    self._message_2(hs, payload, now)
                else:
                    self._message_4(hs, payload, now)
            return
        ho = self._half_open.get(cid)
        if ho is not None:
            if ho.addr[0] == addr[0]:
                self._message_3(ho, payload, addr, now)
            return
        session = self._sessions.get(cid)
        if session is not None and session.ip == addr[0] and session.message_3 == payload and session.message_4:
            # Our message_4 was lost, or someone replays message_3: the same message_4 again (no new state), and
            # a record of it.
            self._audit(
                AuditEvent.REPLAY,
                {
                    "peer": session.ip,
                    "port": int(addr[1]),
                    "reason": "replay",
                    "record": "message_3",
                    "cid": session.local_cid.hex(),
                },
                now,
            )
            self._send(encode_handshake(self._peer_cid(session), session.message_4, self._fmt), addr)
            return
        self._audit(
            AuditEvent.HANDSHAKE_FAILED,
            {"peer": str(addr[0]), "port": int(addr[1]), "reason": "unknown-connection-id", "cid": cid.hex()},
            now,
        )

    @staticmethod
    def _peer_cid(session: _Session) -> bytes:
        return session.context.sender_id  # RFC 9528 A.1: the Sender ID is the peer's connection identifier

    def _receive_cookie(self, record: CookieRecord, data: bytes, addr: Addr, now: float) -> None:
        cookie, payload = record
        if not payload:  # a challenge to one of our message_1
            hs = self._handshake_to(addr)
            if hs is None or hs.state != "m2" or hs.cookie_tries >= 2:
                return
            hs.cookie_tries += 1
            hs.last = encode_cookie(cookie, hs.message_1, self._fmt)
            hs.deadline = now + self.config.handshake_timeout
            self._bump()
            self._send(hs.last, hs.addr)
            return
        if not self.config.respond:
            return
        self._guard.track_received(addr, len(data))
        if not self._cookies.check(cookie, addr, payload, now):
            self.stats.cookies_rejected += 1
            self._audit(AuditEvent.HANDSHAKE_FAILED, {"peer": str(addr[0]), "reason": "bad-cookie"}, now)
            return
        self.stats.cookies_accepted += 1
        self._guard.validate(addr, now)
        self._message_1(payload, data, addr, now, cookie_ok=True)

    # ------------------------------------------------------------------------------------------ responder

    def _new_cid(self, exclude: bytes = b"") -> bytes:
        used = self._sessions.keys() | self._half_open.keys() | self._by_c_i.keys()
        free = [c for c in _ONE_BYTE_CIDS if c not in used and c != exclude]
        if free:
            return secrets.choice(free)
        while True:
            cid = secrets.token_bytes(3)
            if cid not in used and cid != exclude:
                return cid

    def _verify_into(self, box: _Box) -> Callable[[Credential], PublicKey | None]:
        def verify(credential: Credential) -> PublicKey | None:
            verified = self.config.verifier(credential, self._wall())
            box.verified = verified
            box.credential = credential
            return verified.public_key

        return verify

    def _is_known(self, ip: str) -> bool:
        """A known peer: its address completed a handshake with an allow-listed key (here, or as the policy
        remembers)."""
        if ip in self._known:
            return True
        try:
            record = self.policy.peer(ip)
        except SecureError:
            return False
        return record is not None and record.kind is PeerKind.SECURE and record.fingerprint is not None

    def _half_open_again(self, addr: Addr, message_1: bytes) -> _HalfOpen | None:
        for ho in self._half_open.values():
            if ho.addr == addr and ho.message_1 == message_1:
                return ho
        return None

    def _evict(self, ho: _HalfOpen, why: str, now: float) -> None:
        del self._half_open[ho.c_r]
        self.stats.half_open_evicted += 1
        self._audit(
            AuditEvent.HANDSHAKE_FAILED,
            {
                "peer": str(ho.addr[0]),
                "port": int(ho.addr[1]),
                "role": "responder",
                "reason": why,
                "stage": "message_3",
            },
            now,
        )

    def _make_room(self, ip: str, known: bool, now: float) -> bool:
        """Room for one more half-open run from ``ip``: at the per-source cap its own oldest run gives way; at the
        total cap (or, for a stranger, the strangers' share) the oldest run of the source holding the most runs
        (among strangers first). False only when nothing may give way."""
        cfg = self.config
        runs = list(self._half_open.values())
        mine = [ho for ho in runs if ho.addr[0] == ip]
        if len(mine) >= cfg.max_half_open_per_source:
            self._evict(min(mine, key=lambda ho: ho.created), "half-open-replaced", now)
            return True
        strangers = [ho for ho in runs if not ho.known]
        if len(runs) < cfg.max_half_open and (known or len(strangers) < cfg.max_half_open - cfg.reserved_half_open):
            return True
        pool = strangers or (runs if known else [])
        if not pool:
            return False
        counts = Counter(ho.addr[0] for ho in pool)
        most = max(counts.values())
        self._evict(
            min((ho for ho in pool if counts[ho.addr[0]] == most), key=lambda ho: ho.created), "half-open-evicted", now
        )
        return True

    def _half_open_deadline(self, now: float) -> float:
        """Full retry schedule normally; under pressure (half the table used) ``2 * handshake_timeout``, and the
        runs already there are cut to that too."""
        cfg = self.config
        full = now + cfg.handshake_timeout * float(2 ** (cfg.handshake_retries + 1))
        if len(self._half_open) * 2 < cfg.max_half_open:
            return full
        short = min(full, now + 2 * cfg.handshake_timeout)
        for ho in self._half_open.values():
            ho.deadline = min(ho.deadline, short)
        return short

    def _message_1(self, message_1: bytes, data: bytes, addr: Addr, now: float, *, cookie_ok: bool) -> None:
        ip = str(addr[0])
        cfg = self.config
        if not cookie_ok:
            self._guard.track_received(addr, len(data))
            if cfg.cookie == "always" or not self._guard.is_validated(addr, now) or self._excessive(ip, now):
                challenge = encode_cookie(self._cookies.make(addr, message_1, now), b"", self._fmt)
                if self._send_unvalidated(challenge, addr):
                    self.stats.cookies_sent += 1
                return
        again = self._half_open_again(addr, message_1)
        if again is not None:  # a retransmission: the same message_2, no new run, no public-key work
            self.stats.message_2_resent += 1
            self._send(encode_handshake(again.c_i, again.message_2, self._fmt), addr)
            return
        self.stats.responder_runs += 1
        box = _Box()
        try:
            responder = Responder(
                methods=cfg.accept_methods,
                credential=cfg.credential,
                verify_peer=self._verify_into(box),
                lookup_peer=cfg.lookup_peer,
                suites=cfg.suites,
                send_credential=cfg.send_credential,
            )
            info = responder.process_message_1(message_1)
            c_r = self._new_cid(exclude=info.c_i)
            message_2 = responder.create_message_2(c_r=c_r)
        except (EdhocError, OutOfOrderMessage, SecureUsageError) as exc:
            self.stats.handshakes_failed += 1
            reply = exc.reply if isinstance(exc, EdhocError) else None
            if reply:  # the address is validated here: tell the initiator why (e.g. the suites we support)
                try:
                    c_i = Message1.decode(message_1).c_i
                except ProtocolError:
                    c_i = None
                if c_i is not None:
                    self._send(encode_handshake(c_i, reply, self._fmt), addr)
            self._audit(
                AuditEvent.HANDSHAKE_FAILED,
                {"peer": ip, "role": "responder", "stage": "message_1", "reason": _reason(exc)},
                now,
            )
            return
        known = self._is_known(ip)
        if not self._make_room(ip, known, now):  # (after the checks: a message_1 that fails them evicts nobody)
            self.stats.half_open_refused += 1
            self._audit(AuditEvent.HANDSHAKE_FAILED, {"peer": ip, "reason": "half-open-cap"}, now)
            return
        deadline = self._half_open_deadline(now)
        self._half_open[c_r] = _HalfOpen(
            addr, responder, info.c_i, c_r, deadline, box, now, known, message_1, message_2
        )
        self._bump()
        self._send(encode_handshake(info.c_i, message_2, self._fmt), addr)

    def _message_3(self, ho: _HalfOpen, message_3: bytes, addr: Addr, now: float) -> None:
        ip = str(addr[0])
        try:
            ho.responder.process_message_3(message_3)
            message_4 = ho.responder.create_message_4()
            params = ho.responder.result.oscore_parameters()
        except OutOfOrderMessage:
            return
        except (EdhocError, SecureUsageError) as exc:
            del self._half_open[ho.c_r]
            self.stats.handshakes_failed += 1
            reply = exc.reply if isinstance(exc, EdhocError) else None
            if reply:
                self._send(encode_handshake(ho.c_i, reply, self._fmt), addr)
            self._audit(
                AuditEvent.HANDSHAKE_FAILED,
                {"peer": ip, "role": "responder", "stage": "message_3", "reason": _reason(exc)},
                now,
            )
            return
        del self._half_open[ho.c_r]
        assert ho.box.verified is not None
        session = self._new_session(addr, params, ho.c_r, False, ho.box.verified, now, ho.responder.method)
        if session is None:
            return
        self._watch(session, ho.box, now)
        session.message_3 = message_3
        session.message_4 = message_4
        self._send(encode_handshake(ho.c_i, message_4, self._fmt), addr)

    # ------------------------------------------------------------------------------------------ initiator

    def _start_handshake(self, addr: Addr, now: float, rekey_reason: str | None = None) -> None:
        ip = str(addr[0])
        cfg = self.config
        box = _Box()
        try:
            initiator = Initiator(
                method=cfg.method,
                credential=cfg.credential,
                verify_peer=self._verify_into(box),
                lookup_peer=cfg.lookup_peer,
                suites=cfg.suites,
                send_credential=cfg.send_credential,
            )
            c_i = self._new_cid()
            message_1 = initiator.create_message_1(c_i=c_i)
        except SecureError as exc:
            self.stats.handshakes_failed += 1
            self._audit(AuditEvent.HANDSHAKE_FAILED, {"peer": ip, "role": "initiator", "reason": _reason(exc)}, now)
            self._drop_queue(addr)
            return
        hs = _Handshake((ip, int(addr[1])), initiator, c_i, message_1, now, box)
        hs.rekey_reason = rekey_reason
        hs.last = encode_handshake(b"", message_1, self._fmt)
        hs.deadline = now + cfg.handshake_timeout
        self._handshakes[hs.addr] = hs
        self._by_c_i[c_i] = hs
        self.stats.handshakes_started += 1
        self._bump()
        self._send(hs.last, hs.addr)

    def _message_2(self, hs: _Handshake, message_2: bytes, now: float) -> None:
        try:
            info = hs.initiator.process_message_2(message_2)
            message_3 = hs.initiator.create_message_3()
            # The keys exist from here on: data the responder protects with them before message_4 arrives (a
            # rekey under traffic) is accepted, and counts as key confirmation.
            hs.context = self._derive(hs.initiator.result.oscore_parameters(), now)
        except OutOfOrderMessage:
            return
        except (EdhocError, SecureError) as exc:
            self._fail_handshake(hs, _reason(exc), now, stage="message_2")
            return
        hs.state = "m4"
        hs.attempts = 0
        hs.last = encode_handshake(info.c_r, message_3, self._fmt)
        hs.deadline = now + self.config.handshake_timeout
        self._bump()
        self._send(hs.last, hs.addr)

    def _message_4(self, hs: _Handshake, message_4: bytes, now: float) -> None:
        try:
            hs.initiator.process_message_4(message_4)
        except OutOfOrderMessage:
            return
        except (EdhocError, SecureUsageError) as exc:
            self._fail_handshake(hs, _reason(exc), now, stage="message_4")
            return
        self._complete_initiator(hs, now)

    def _complete_initiator(self, hs: _Handshake, now: float) -> _Session | None:
        self._forget_handshake(hs)
        verified = hs.box.verified
        assert verified is not None and hs.context is not None
        old = self._current.get(hs.addr)
        same_peer = old is not None and old.check_tid is None and old.verified.fingerprint == verified.fingerprint
        session = self._new_session(
            hs.addr, hs.context, hs.c_i, True, verified, now, hs.initiator.method, hs.rekey_reason
        )
        if session is None:
            return None
        self._watch(session, hs.box, now)
        if self.config.cross_check and verified.identity is not None and not same_peer:
            self._start_identity_check(session, now)
        else:
            self._flush_queue(session, now)
            self._group_admit(session, now)
        return session

    def _early_data(self, hs: _Handshake, data: bytes, addr: Addr, now: float) -> None:
        """A data record under the keys of a handshake whose message_4 has not arrived yet."""
        assert hs.context is not None
        try:
            frame = hs.context.unprotect(data, now)
        except RecordError as exc:
            self.stats.integrity_failures += 1
            self._audit(
                AuditEvent.INTEGRITY_FAILURE,
                {"peer": str(addr[0]), "reason": exc.reason.value, "cid": hs.c_i.hex(), "stage": "before-message_4"},
                now,
            )
            return
        session = self._complete_initiator(hs, now)
        if session is None:
            return
        self.stats.unprotected += 1
        session.unanswered = 0
        if frame[:1] == _GROUP_KEY_BYTE:
            self._receive_group_update(session, frame, now)
            return
        if session.check_tid is not None and self._identity_answer(session, frame, now):
            return
        self.node.receive_datagram(frame, addr, now)

    def _forget_handshake(self, hs: _Handshake) -> None:
        self._bump()  # the sessions' age deadlines count again
        self._by_c_i.pop(hs.c_i, None)
        if self._handshakes.get(hs.addr) is hs:
            del self._handshakes[hs.addr]

    def handshake_progress(self, ip: str) -> tuple[str, str] | None:
        """How far the running handshake with ``ip`` got, as (what is missing, what to do about it); ``None``
        when no handshake runs."""
        hs = self._handshake_to((ip, -1))
        return None if hs is None else _unanswered(hs)

    def _note_failure(self, ip: str, reason: str, advice: str) -> None:
        self.last_failure[ip] = reason
        self.failure_advice[ip] = advice
        for table in (self.last_failure, self.failure_advice):
            if len(table) > MAX_TRACKED_SOURCES:
                table.pop(next(iter(table)))

    def _fail_handshake(self, hs: _Handshake, reason: str, now: float, stage: str = "") -> None:
        self._forget_handshake(hs)
        ip = str(hs.addr[0])
        self.stats.handshakes_failed += 1
        if reason == "timeout":
            missing, advice = _unanswered(hs)
            self._note_failure(ip, f"the handshake got no answer ({missing})", advice)
        elif "peer sent an error" in reason:
            self._note_failure(
                ip,
                f"the device refused the handshake ({reason})",
                "its audit log says why (allow-list, revocation, suites)",
            )
        else:
            self._note_failure(ip, f"handshake failed ({reason})", "see this node's audit log")
        fields: dict[str, object] = {"peer": ip, "role": "initiator", "reason": reason}
        if stage:
            fields["stage"] = stage
        self._audit(AuditEvent.HANDSHAKE_FAILED, fields, now)
        if hs.addr not in self._current:
            self._drop_queue(hs.addr)

    # ------------------------------------------------------------------------------------------ sessions

    def _new_session(
        self,
        addr: Addr,
        keys: OscoreParameters | SecurityContext,
        local_cid: bytes,
        initiator: bool,
        verified: VerifiedCredential,
        now: float,
        method: Method | None,
        rekey_reason: str | None = None,
    ) -> _Session | None:
        ip = str(addr[0])
        if isinstance(keys, SecurityContext):
            context = keys
        else:
            try:
                context = self._derive(keys, now)
            except SecureError as exc:
                self.stats.handshakes_failed += 1
                self._audit(AuditEvent.HANDSHAKE_FAILED, {"peer": ip, "reason": _reason(exc)}, now)
                return None
        if context.recipient_id != local_cid:  # (open_datagram finds the context by the kid, its Recipient ID)
            self.stats.handshakes_failed += 1
            reason = "the context's Recipient ID is not the session's connection identifier"
            self._audit(AuditEvent.HANDSHAKE_FAILED, {"peer": ip, "reason": reason}, now)
            return None
        session = _Session(addr, context, local_cid, initiator, verified, now)
        roles = self.config.roles
        if roles is not None:
            access = roles.role_of(_identity_name(verified), verified.fingerprint)
            session.access = None if access.full else access
        self._sessions[local_cid] = session
        old = self._current.get(session.addr)
        if old is None:
            # The same identity under another address of ours (it moved, and a new handshake found it there):
            # that session is the old one of this peer, not a second peer.
            old = next(
                (
                    other
                    for other in self._current.values()
                    if other.verified.fingerprint == verified.fingerprint and other.initiator == initiator
                ),
                None,
            )
            if old is not None:
                self._unset_current(old.addr)
        self._set_current(session.addr, session)
        if old is not None and old is not session:
            old.retire_at = now + self.config.rekey_grace
            self.stats.rekeys += 1
            fields = self._who(session)
            fields.update({"reason": rekey_reason or "peer-initiated", "old_cid": old.local_cid.hex()})
            if old.addr != session.addr:
                fields["from"] = f"{old.ip}:{old.port}"
            self._audit(AuditEvent.REKEY, fields, now)
        self._bump()
        self.stats.handshakes_ok += 1
        fields = self._who(session)
        fields.update(
            {"role": "initiator" if initiator else "responder", "method": None if method is None else int(method)}
        )
        self._audit(AuditEvent.HANDSHAKE_OK, fields, now)
        self._enrol(session, now)
        return session

    def _enrol(self, session: _Session, now: float) -> None:
        """The policy remembers the peer's address as secure, with the identity that was authenticated there."""
        ip = session.ip
        verified = session.verified
        identity = _identity_name(verified)
        try:
            source = self.policy_source
            record = source.current().peer(ip) if isinstance(source, PolicyStore) else source.peer(ip)
            if (
                record is None
                or record.kind is not PeerKind.SECURE
                or record.fingerprint != verified.fingerprint
                or record.identity != identity
            ):
                source.enrol_secure(ip, now=self._wall(), fingerprint=verified.fingerprint, identity=identity)
        except SecureError as exc:  # store trouble must not break the session; record it
            self._audit(AuditEvent.POLICY_DENIED, {"peer": ip, "reason": "enrol-failed: " + _reason(exc)}, now)

    def _watch(self, session: _Session, box: _Box, now: float) -> None:
        """Schedule the periodic re-validation of the session's peer credential (and the looks at the trust
        inputs); remember the peer's address as known."""
        session.credential = box.credential
        self._known[session.ip] = None
        self._known.move_to_end(session.ip)
        if len(self._known) > MAX_TRACKED_SOURCES:
            self._known.popitem(last=False)
        if self.config.recheck_interval is not None and box.credential is not None:
            session.recheck_at = now + self.config.recheck_interval
        poll = self.config.trust_poll
        if poll is not None and self._trust_at == math.inf:
            if self._trust_version is _UNREAD:
                self._trust_version = self._read_trust_version()
            if self._trust_version is not None:  # (a verifier without trust inputs has nothing to look at)
                self._trust_at = now + poll
        self._bump()

    def _read_trust_version(self) -> object:
        try:
            return trust_version(self.config.verifier)
        except (SecureError, OSError):
            return object()  # unreadable now: counts as a change, so every session is checked

    def _poll_trust(self, now: float) -> None:
        """Every ``trust_poll`` seconds while sessions exist: when the verifier's trust inputs changed (an
        allow-list removal, a new CRL), every session's peer is checked again at once."""
        poll = self.config.trust_poll
        self._trust_at = now + poll if poll is not None and self._sessions else math.inf
        version = self._read_trust_version()
        if version == self._trust_version:
            return
        self._trust_version = version
        self.stats.trust_changes += 1
        for session in list(self._sessions.values()):
            if session.credential is not None and session.retire_at is None and session.local_cid in self._sessions:
                self._recheck(session, now)

    def _recheck(self, session: _Session, now: float) -> None:
        """Run the verifier again (allow-list, revocation, validity): a peer no longer allowed loses its session."""
        assert session.credential is not None
        interval = self.config.recheck_interval
        session.recheck_at = math.inf if interval is None else now + interval
        try:
            self.config.verifier(session.credential, self._wall())
        except SecureError as exc:
            self.stats.policy_denied += 1
            self._note_failure(session.ip, f"peer no longer allowed ({_reason(exc)})", "see this node's audit log")
            self._audit(
                AuditEvent.POLICY_DENIED,
                {
                    "peer": session.ip,
                    "reason": "peer-no-longer-allowed",
                    "detail": _reason(exc),
                    "cid": session.local_cid.hex(),
                },
                now,
            )
            if "withdrawn" in _reason(exc):
                fields = self._who(session)
                fields["detail"] = _reason(exc)
                self._audit(AuditEvent.CERTIFICATION_WITHDRAWN, fields, now)
            self._close_session(session, CloseReason.POLICY, now)
            manager = self.group_manager
            identity = _identity_name(session.verified)
            if manager is not None and any(m.identity == identity for m in manager.members.values()):
                self.group_remove(identity, now, reason="revoked")

    def _derive(self, params: OscoreParameters, now: float) -> SecurityContext:
        """The OSCORE context from the EDHOC exporter output (RFC 9528 appendix A.1)."""
        keylog.log_session(params)  # the key log (secure/keylog.py): nothing unless enabled
        return SecurityContext(
            params.master_secret,
            params.master_salt,
            sender_id=params.sender_id,
            recipient_id=params.recipient_id,
            alg=int(params.aead_alg),
            now=now,
            limits=self.config.limits,
            fmt=self._fmt,
        )

    def _drop_session(self, session: _Session) -> None:
        self._bump()
        self._sessions.pop(session.local_cid, None)
        if self._current.get(session.addr) is session:
            self._unset_current(session.addr)

    def _close_session(self, session: _Session, reason: CloseReason, now: float) -> None:
        try:
            self._send(session.context.protect_close(reason, now), session.addr)
            self.stats.closes_sent += 1
        except SecureError:
            pass
        self._drop_session(session)
        fields = self._who(session)
        fields["reason"] = reason.name.lower()
        self._audit(AuditEvent.SESSION_CLOSED, fields, now)

    def _receive_close(self, record: ProtectedRecord, addr: Addr, now: float) -> None:
        kid = record.kid
        session = None if kid is None else self._sessions.get(kid)
        if session is None:
            self.stats.unknown_context += 1
            return
        try:
            reason = decode_close_reason(session.context.unprotect_record(record, now))
        except ReplayError as exc:
            self.stats.replays += 1
            self._audit(AuditEvent.REPLAY, {"peer": session.ip, "reason": exc.reason.value, "record": "close"}, now)
            return
        except RecordError as exc:
            self.stats.integrity_failures += 1
            self._audit(
                AuditEvent.INTEGRITY_FAILURE, {"peer": session.ip, "reason": exc.reason.value, "record": "close"}, now
            )
            return
        self.stats.closes_received += 1
        session.unanswered = 0
        if reason is CloseReason.REKEY:
            if session.initiator and session.addr not in self._handshakes and session.retire_at is None:
                self._start_handshake(session.addr, now, rekey_reason="peer-requested")
            return
        self._drop_session(session)
        fields = self._who(session)
        fields.update({"reason": reason.name.lower(), "by": "peer"})
        self._audit(AuditEvent.SESSION_CLOSED, fields, now)

    def _maybe_rekey(self, session: _Session, now: float) -> None:
        if session.retire_at is not None or self._current.get(session.addr) is not session:
            return
        reason = session.context.rekey_reason(now)
        if reason is None:
            return
        if session.initiator and self.config.initiate:
            if session.addr not in self._handshakes:
                self._start_handshake(session.addr, now, rekey_reason=reason.value)
        elif reason is RekeyReason.AGE:
            # Both ends see the same age: the initiator rekeys; a responder only ends a session left to age on.
            max_age = self.config.limits.max_age
            if max_age is not None and now - session.created >= 2 * max_age:
                self._close_session(session, CloseReason.EXPIRED, now)
        elif not session.rekey_asked:
            session.rekey_asked = True
            try:
                self._send(session.context.protect_close(CloseReason.REKEY, now), session.addr)
                self.stats.closes_sent += 1
            except SecureError:
                pass

    def close_all(self, now: float, reason: CloseReason = CloseReason.SHUTDOWN) -> None:
        """Send a close record to every peer with a session and forget the sessions; handshakes still running
        are given up (and audited with what they were waiting for)."""
        for session in list(self._current.values()):
            self._close_session(session, reason, now)
        self._sessions.clear()
        for hs in list(self._handshakes.values()):
            self._forget_handshake(hs)
            self.stats.handshakes_failed += 1
            self._audit(
                AuditEvent.HANDSHAKE_FAILED,
                {"peer": str(hs.addr[0]), "role": "initiator", "reason": "abandoned", "stage": _waiting_for(hs)},
                now,
            )
            self._drop_queue(hs.addr)

    # ------------------------------------------------------------------------------------------ identity

    def _start_identity_check(self, session: _Session, now: float) -> None:
        tid = secrets.randbelow(0x10000)
        frame = Frame.make(tid, self.node.config.controller_eoj, _NODE_PROFILE, _GET, (Property(0x83), Property(0x8A)))
        session.check_tid = tid
        session.check_deadline = now + self.config.identity_timeout
        self._bump()
        self._protect_to(session, encode_frame(frame), session.addr, now)

    def _identity_answer(self, session: _Session, frame_bytes: bytes, now: float) -> bool:
        try:
            frame = decode_frame(frame_bytes)
        except EchonetError:
            return False
        if frame.tid != session.check_tid or frame.seoj != _NODE_PROFILE or frame.esv not in (_GET_RES, _GET_SNA):
            return False
        values = {p.epc: p.edt for p in frame.properties}
        identity = session.verified.identity
        assert identity is not None
        try:
            credentials.cross_check_node_profile(identity, values.get(0x83, b""), values.get(0x8A) or None)
        except ProtocolError as exc:
            self._identity_failed(session, _reason(exc), now)
            return True
        session.check_tid = None
        session.check_deadline = None
        self._audit(AuditEvent.IDENTITY_CHECKED, self._who(session), now)
        self._flush_queue(session, now)
        self._group_admit(session, now)
        return True

    def _identity_failed(self, session: _Session, reason: str, now: float) -> None:
        self.stats.identity_mismatches += 1
        self._note_failure(
            session.ip,
            f"identity cross-check failed ({reason})",
            "the device's node profile (0x83, 0x8A) must be what its certificate binds",
        )
        fields = self._who(session)
        fields.update({"reason": "binding-mismatch", "detail": reason})
        self._audit(AuditEvent.HANDSHAKE_FAILED, fields, now)
        self._close_session(session, CloseReason.POLICY, now)
        self._drop_queue(session.addr)

    # ------------------------------------------------------------------------------------------ plaintext

    def _receive_plain(self, data: bytes, addr: Addr, now: float) -> None:
        ip = str(addr[0])
        policy = self.policy
        record = policy.peer(ip)
        if ip in self._by_ip or (record is not None and record.kind is PeerKind.SECURE):
            self.stats.downgrade_dropped += 1
            self._audit(
                AuditEvent.DOWNGRADE_DROPPED,
                {"peer": ip, "port": int(addr[1]), "size": len(data), "reason": "downgrade"},
                now,
            )
            return
        try:
            frame = decode_frame(data)
        except EchonetError:
            self.stats.junk += 1
            return
        esv, deoj, epcs = _frame_fields(frame)
        if esv is None:
            self.stats.policy_denied += 1
            return
        try:
            decision = policy.decide_incoming(ip, esv, deoj, epcs, now=self._wall(), secured=False)
        except SecureError:
            self.stats.policy_denied += 1
            return
        if decision.action is not Action.ALLOW:
            self.stats.policy_denied += 1
            self.audit_decision(decision, now)
            if esv >> 4 in (0x5, 0x7):  # an answer or notification (our own looped-back requests are not nodes)
                self.plain_refused[ip] = decision.reason
                self.plain_refused.move_to_end(ip)
                if len(self.plain_refused) > MAX_TRACKED_SOURCES:
                    self.plain_refused.popitem(last=False)
            return
        self.audit_decision(decision, now)  # legacy_use for a consented write
        self.stats.plain_in += 1
        self.plain_peers[ip] = self._wall()
        self.plain_peers.move_to_end(ip)
        if len(self.plain_peers) > MAX_TRACKED_SOURCES:
            self.plain_peers.popitem(last=False)
        self.node.receive_datagram(data, addr, now)

    # ------------------------------------------------------------------------------------------ output

    def datagrams_to_send(self, now: float) -> list[tuple[bytes, Addr]]:
        """What to send now: the layer's own records and the node's frames, protected or policy-checked."""
        self._now = now
        node_out = self.node.datagrams_to_send(now)
        if node_out:
            send_frame = self.send_frame
            for data, addr in node_out:
                send_frame(data, addr, now)
        out = self._out
        if not out:
            return []
        self._out = []
        return out

    def send_frame(self, data: bytes, addr: Addr, now: float) -> None:
        """One frame the node sends (as :meth:`datagrams_to_send` takes it from the node): protected, held, or
        policy-checked; what goes out is queued behind the layer's own records for :meth:`take_output`."""
        session = self._current.get(addr)
        if session is None:
            if self.group_peers and addr in self.group_peers and self._group_seal(data, addr):
                return  # a member that reached us by a group record from this address, no session here
            session = self._session_for(addr)
        if session is not None and session.check_tid is None:
            unanswered = session.unanswered
            if session.budget > 1 and unanswered < self._stale_n:  # fast path: no rekey or staleness check due
                try:
                    self._out.append((session.context.protect(data, now), addr))
                except SecureError:
                    self._protect_to(session, data, addr, now)
                    return
                session.budget -= 1
                session.unanswered = unanswered + 1
                if not unanswered:
                    session.unanswered_since = now
                self.stats.protected += 1
            else:
                self._protect_to(session, data, addr, now)
        else:
            self._outgoing_slow(data, addr, now)

    def seal(self, data: bytes, addr: Addr, now: float) -> bytes | None:
        """:meth:`send_frame` for an adapter that sends at once: the protected record of ``data`` when it can go
        out now (a session whose identity is checked, no rekey check due, nothing of the layer's queued before
        it); otherwise ``None``, and :meth:`send_frame` took the frame (see :meth:`take_output`)."""
        session = self._current.get(addr)
        if session is None:
            if self.group_peers and addr in self.group_peers:
                self.send_frame(data, addr, now)  # (answered by a group record)
                return None
            session = self._session_for(addr)
        if (
            session is not None
            and session.check_tid is None
            and session.budget > 1
            and session.unanswered < self._stale_n
            and not self._out
        ):
            try:
                record = session.context.protect(data, now)
            except SecureError:
                self._protect_to(session, data, addr, now)
                return None
            session.budget -= 1
            unanswered = session.unanswered
            session.unanswered = unanswered + 1
            if not unanswered:
                session.unanswered_since = now
            self.stats.protected += 1
            return record
        self.send_frame(data, addr, now)
        return None

    def take_events(self) -> list[Event]:
        """The node's events (the layer reports its own through the audit log and :attr:`stats`)."""
        return self.node.take_events()

    def start_fast(
        self,
        host: str | Addr,
        deoj: EOJ,
        esv: int,
        props: Iterable[Property | int],
        now: float,
        timeout: float | None = None,
    ) -> tuple[int, bytes | None, Addr, float] | None:
        """The node's :meth:`~echonet.node.Node.start_fast` with the request sealed as :meth:`datagrams_to_send`
        would seal it: ``(handle, record, address, deadline)``, ``record`` being ``None`` when the layer queued
        the frame instead (see :meth:`take_output`). ``None``: nothing was done."""
        started = self.node.start_fast(host, deoj, esv, props, now, timeout)
        if started is None:
            return None
        handle, data, addr, deadline = started
        return handle, self.seal(data, addr, now), addr, deadline

    def fast_receiver(
        self, answered: Callable[[int, Frame, Addr], None], send: Callable[[bytes, Addr], Any]
    ) -> Callable[[bytes, Addr, float], int]:
        """The node's fast lane behind the layer (see :meth:`echonet.node.Node.fast_receiver`): a verified data
        record is opened (:meth:`open_datagram`: replay window, tag, usage counters, identity check, audit) and its
        frame offered to the node's fast lane, or else to ``node.receive_datagram``; an answer the fast lane sends
        is sealed as :meth:`datagrams_to_send` would seal it. Anything else is the layer's own input. So every
        datagram is taken; the result says whether the caller must pump."""
        node = self.node

        def send_sealed(data: bytes, addr: Addr) -> bool:
            record = self.seal(data, addr, self._now)
            if record is None:
                return True  # (the layer took it: it leaves with the next pump)
            send(record, addr)
            return bool(self._out)

        node_receive = node.fast_receiver(answered, send_sealed)
        open_datagram = self.open_datagram

        def receive(data: bytes, addr: Addr, now: float) -> int:
            serial = self._serial
            frame = open_datagram(data, addr, now)
            if frame is None:
                return FAST_PUMP
            taken = node_receive(frame, addr, now)
            if not taken:
                node.receive_datagram(frame, addr, now)
                return FAST_PUMP
            if taken == FAST_PUMP or self._out or self._serial != serial:
                return FAST_PUMP
            return FAST_DONE

        return receive

    def take_output(self) -> list[tuple[bytes, Addr]]:
        """The layer's queued datagrams (its own records and frames given to :meth:`send_frame`), in order, without
        asking the node for more (see :meth:`datagrams_to_send`)."""
        out = self._out
        if not out:
            return []
        self._out = []
        return out

    def _protect_to(self, session: _Session, data: bytes, addr: Addr, now: float) -> None:
        unanswered = session.unanswered
        if unanswered >= self._stale_n and now - session.unanswered_since >= self.config.stale_timeout:
            self._rehandshake(session, "unanswered", now)  # (the record still goes out under this session)
        context = session.context
        try:
            self._out.append((context.protect(data, now), addr))
        except SenderKeyLimitError:
            self._maybe_rekey(session, now)
            self._queue(data, addr)
            return
        except SecureUsageError:  # frame too long for the AEAD's limit
            self.stats.queue_dropped += 1
            return
        self.stats.protected += 1
        session.unanswered = unanswered + 1
        if not unanswered:
            session.unanswered_since = now
        session.budget -= 1
        if session.budget <= 0:
            self._maybe_rekey(session, now)
            session.budget = max(1, context.encryptions_before_rekey())

    def _queue(self, data: bytes, addr: Addr) -> None:
        key = (str(addr[0]), int(addr[1]))
        queue = self._queues.get(key)
        if queue is None:
            queue = self._queues[key] = deque()
        if len(queue) >= self.config.max_queue:
            self.stats.queue_dropped += 1
            return
        queue.append((data, addr))
        self.stats.queued += 1

    def _drop_queue(self, key: Addr) -> None:
        queue = self._queues.pop((str(key[0]), int(key[1])), None)
        if queue:
            self.stats.queue_dropped += len(queue)

    def _flush_queue(self, session: _Session, now: float) -> None:
        queue = self._queues.pop(session.addr, None)
        if queue:
            for data, addr in queue:
                self._protect_to(session, data, addr, now)

    def _outgoing_slow(self, data: bytes, addr: Addr, now: float) -> None:
        ip = str(addr[0])
        if is_multicast(ip):
            sealed = self._group_seal(data, addr)
            if self.config.plain_multicast:
                self.stats.plain_out += 1
                self._out.append((data, addr))
            elif not sealed:
                self.stats.multicast_suppressed += 1
            return
        session = self._session_for(addr)
        if session is not None:  # identity check pending: hold the frame
            self._queue(data, session.addr)
            return
        if (ip, int(addr[1])) in self.group_peers and self._group_seal(data, addr):
            return  # an answer to a member that reached us by a group record, without a pairwise session
        policy = self.policy
        record = policy.peer(ip)
        if record is not None and record.kind is PeerKind.LEGACY:
            try:
                frame = decode_frame(data)
                esv, deoj, epcs = _frame_fields(frame)
                if esv is None or deoj is None:
                    raise SecureUsageError("not a format 1 frame")
                decision = policy.decide_outgoing(ip, deoj, esv, epcs, now=self._wall(), secured=False)
            except (EchonetError, SecureError):
                self.stats.policy_denied += 1
                return
            self.audit_decision(decision, now)
            if decision.allowed:
                self.stats.plain_out += 1
                self._out.append((data, addr))
            else:
                self.stats.policy_denied += 1
            return
        if self.config.initiate:
            self._queue(data, addr)
            if (ip, int(addr[1])) not in self._handshakes:
                self._start_handshake(addr, now)
            return
        self.stats.policy_denied += 1
        self._audit(AuditEvent.POLICY_DENIED, {"peer": ip, "direction": "outgoing", "reason": "no_session"}, now)

    # ------------------------------------------------------------------------------------------ group records

    def manage_group(self, manager: GroupManager, now: float) -> None:
        """Act as the group manager: this node joins ``manager``'s member table with its own key and hands the
        current update to every enrolled peer over its pairwise session, now and whenever the group changes (a
        session with a new peer, :meth:`group_remove`, a revocation found by a recheck, a scheduled rotation)."""
        key = self._group_key()
        if key is None:
            raise SecureUsageError("group records need a P-256 credential of this node")
        self.group_manager = manager
        manager.add(key.public_key(), "group-manager")
        for session in list(self._current.values()):
            if session.check_tid is None:
                self._group_admit(session, now, publish=False)
        self._group_publish(now)

    def group_remove(self, identity: str, now: float, *, reason: str = "removed") -> int:
        """Drop a member from the managed group and rotate at once; the new epoch goes to the remaining members
        (the removed one gets nothing). Returns the new epoch's number."""
        manager = self.group_manager
        if manager is None:
            raise SecureUsageError("this node does not manage a group")
        epoch = manager.remove(identity, now=self._wall(), reason=reason)
        fields: dict[str, object] = {"action": "rotated", "epoch": epoch.number, "reason": reason, "identity": identity}
        self._audit(AuditEvent.GROUP_KEY, fields, now)
        self._group_publish(now)
        return epoch.number

    def use_group_store(self, group_store: GroupStore, now: float, *, manage: bool) -> None:
        """Keep the group state in ``group_store`` across restarts. ``manage``: this node is the group manager (a
        controller): the saved manager goes on, or a new group is made; otherwise (a device) what the manager
        handed out before is taken up again, and the manager stays pinned."""
        self.group_store = group_store
        state = group_store.load()
        if state is not None:
            self._group_next = state.next_sequence
        if manage:
            if state is not None and state.role == "manager":
                manager = GroupManager.restore(state.update, state.reasons, rotate_every=state.rotate_every)
            else:
                manager = GroupManager(now=self._wall())
            self.manage_group(manager, now)
        elif state is not None and state.role == "member":
            self._group_manager_fp = state.manager_fingerprint
            self.group_manager_identity = state.manager_identity
            self._group_apply(state.update)
        self._group_save(now)

    def _group_save(self, now: float) -> None:
        group_store = self.group_store
        if group_store is None:
            return
        sender = self._group_sender
        self._group_reserved = max(self._group_next, 0 if sender is None else sender.next_sequence) + SEQUENCE_RESERVE
        manager, receiver = self.group_manager, self._group_receiver
        if manager is not None:
            state = GroupState(
                "manager",
                manager.update(),
                manager.reasons,
                manager.rotate_every,
                next_sequence=self._group_reserved,
            )
        elif receiver is not None:
            state = GroupState(
                "member",
                GroupUpdate(tuple(receiver.epochs.values()), tuple(receiver.members.values())),
                manager_identity=self.group_manager_identity,
                manager_fingerprint=self._group_manager_fp,
                next_sequence=self._group_reserved,
            )
        else:
            return
        try:
            group_store.save(state)
        except SecureError as exc:  # store trouble must not break the layer; record it
            self._audit(AuditEvent.GROUP_KEY, {"action": "save-failed", "reason": _reason(exc)}, now)

    def group_rotate(self, reason: str, now: float) -> int:
        """A new epoch of the managed group (e.g. the operator's), handed to every member with a session now (the
        others get it with their next session). Returns its number."""
        manager = self.group_manager
        if manager is None:
            raise SecureUsageError("this node does not manage a group")
        epoch = manager.rotate(reason, now=self._wall())
        self._audit(AuditEvent.GROUP_KEY, {"action": "rotated", "epoch": epoch.number, "reason": reason}, now)
        self._group_publish(now)
        return epoch.number

    def group_status(self) -> dict[str, object]:
        """What the group looks like from here (no keys): epochs held, the sending epoch, members, the manager."""
        receiver = self._group_receiver
        return {
            "manager": self.group_manager is not None,
            "manager_identity": self.group_manager_identity,
            "epochs": [] if receiver is None else sorted(receiver.epochs),
            "sending_epoch": None if self._group_sender is None else self._group_sender.epoch.number,
            "members": [] if receiver is None else sorted(m.identity for m in receiver.members.values()),
        }

    def _group_key(self) -> ec.EllipticCurvePrivateKey | None:
        configured = self.config.credential
        for local in configured if isinstance(configured, Sequence) else (configured,):
            key = local.private_key
            if isinstance(key, ec.EllipticCurvePrivateKey) and isinstance(key.curve, ec.SECP256R1):
                return key
        return None

    def _group_admit(self, session: _Session, now: float, *, publish: bool = True) -> None:
        """A session with an enrolled peer is ready: the manager adds the peer and hands out the group key."""
        manager = self.group_manager
        public_key = session.verified.public_key
        if manager is None or not isinstance(public_key, ec.EllipticCurvePublicKey):
            return
        if sender_id_of(public_key) in manager.members:
            if publish:
                self._group_send_update(session, manager.update(), now)
            return
        identity = _identity_name(session.verified)
        manager.add(public_key, identity)
        fields = self._who(session)
        fields.update({"action": "member-added", "epoch": manager.epochs[-1].number})
        self._audit(AuditEvent.GROUP_KEY, fields, now)
        if publish:
            self._group_publish(now)

    def _group_publish(self, now: float) -> None:
        """Adopt the manager's update here and send it to every member with a session (removed ones get none)."""
        manager = self.group_manager
        if manager is None:
            return
        update = manager.update()
        self._group_apply(update)
        self._group_save(now)
        members = {m.sender_id for m in update.members}
        for session in list(self._current.values()):
            public_key = session.verified.public_key
            if (
                session.check_tid is None
                and isinstance(public_key, ec.EllipticCurvePublicKey)
                and sender_id_of(public_key) in members
            ):
                self._group_send_update(session, update, now)

    def _group_send_update(self, session: _Session, update: GroupUpdate, now: float) -> None:
        self._protect_to(session, encode_group_update(update), session.addr, now)
        self.stats.group_updates_sent += 1
        fields = self._who(session)
        fields.update({"action": "sent", "epoch": max(e.number for e in update.epochs)})
        self._audit(AuditEvent.GROUP_KEY, fields, now)

    def _group_apply(self, update: GroupUpdate) -> None:
        if self._group_receiver is None:
            self._group_receiver = GroupReceiver(update)
        else:
            self._group_receiver.apply(update)
        key = self._group_key()
        if key is not None and sender_id_of(key.public_key()) in {m.sender_id for m in update.members}:
            if self._group_sender is None:
                self._group_sender = GroupSender(key, update)
                self._group_sender.resume_at(self._group_next)
            else:
                self._group_sender.apply(update)
        else:
            self._group_sender = None  # not (or no longer) a member: nothing is sealed for the group
        identities = {m.identity for m in update.members}
        for addr in [a for a, who in self.group_peers.items() if who not in identities]:
            del self.group_peers[addr]

    def _receive_group_update(self, session: _Session, frame: bytes, now: float) -> None:
        """A group key update over a pairwise session: taken only from the group manager (see
        :attr:`group_manager_identity`), never by the manager itself."""
        verified = session.verified
        identity = _identity_name(verified)
        fields = self._who(session)
        if self.group_manager is not None:
            refused = "this node manages the group"
        elif self._group_manager_fp is not None:
            refused = "" if verified.fingerprint == self._group_manager_fp else "not the group manager"
        elif self.group_manager_identity is not None:
            refused = "" if identity == self.group_manager_identity else "not the group manager"
        elif verified.role is not None and verified.role is not credentials.Role.CONTROLLER:
            refused = "not a controller"
        else:
            refused = ""
        if not refused:
            try:
                update = decode_group_update(frame)
            except SecureError as exc:
                refused = _reason(exc)
        if refused:
            self.stats.group_refused += 1
            fields.update({"action": "update-refused", "reason": refused})
            self._audit(AuditEvent.GROUP_REFUSED, fields, now)
            return
        self._group_manager_fp = verified.fingerprint
        self.group_manager_identity = identity
        self._group_apply(update)
        self._group_save(now)
        self.stats.group_updates_received += 1
        fields.update(
            {"action": "received", "epoch": max(e.number for e in update.epochs), "members": len(update.members)}
        )
        self._audit(AuditEvent.GROUP_KEY, fields, now)

    def _group_seal(self, data: bytes, addr: Addr) -> bool:
        sender = self._group_sender
        if sender is None:
            return False
        try:
            record = sender.seal(data)
        except SecureError:
            return False
        self.stats.group_sealed += 1
        self._out.append((record, addr))
        if self.group_store is not None and sender.next_sequence >= self._group_reserved:
            self._group_save(self._now)
        return True

    def _receive_group_record(self, data: bytes, addr: Addr, now: float) -> None:
        """A group record (multicast, or a member's answer): verified against the member table, then the frame goes
        to the node; refused ones are audited ``group_refused``."""
        receiver = self._group_receiver
        ip, port = str(addr[0]), int(addr[1])
        if len(data) < GROUP_RECORD_MIN:
            self._malformed(data, addr, "short group record", now)
            return
        if receiver is None:
            self.stats.group_refused += 1
            fields: dict[str, object] = {"peer": ip, "port": port, "reason": "no group key here", "size": len(data)}
            self._audit(AuditEvent.GROUP_REFUSED, fields, now)
            return
        try:
            opened = receiver.open(data)
        except SecureError as exc:
            self.stats.group_refused += 1
            fields = {"peer": ip, "port": port, "reason": _reason(exc), "size": len(data)}
            self._audit(AuditEvent.GROUP_REFUSED, fields, now)
            return
        key = self._group_key()
        if key is not None and opened.sender.sender_id == sender_id_of(key.public_key()):
            return  # our own multicast, looped back
        self.stats.group_opened += 1
        self.group_peers[(ip, port)] = opened.sender.identity
        self.group_peers.move_to_end((ip, port))
        if len(self.group_peers) > MAX_TRACKED_SOURCES:
            self.group_peers.popitem(last=False)
        self.node.receive_datagram(opened.frame, addr, now)

    def check_outgoing(self, ip: str, deoj: bytes, esv: int, epcs: Sequence[int]) -> Decision | None:
        """The policy decision a plain frame to ``ip`` would get, or ``None`` when it would be secured (a session,
        or a handshake this layer starts). Lets an adapter refuse at once instead of waiting for a timeout."""
        if ip in self._by_ip:
            return None
        policy = self.policy
        record = policy.peer(ip)
        if self.config.initiate and (record is None or record.kind is PeerKind.SECURE):
            return None
        return policy.decide_outgoing(ip, deoj, esv, epcs, now=self._wall(), secured=False)


def _sna_properties(esv: int, frame: Frame) -> tuple[Property, ...]:
    """The properties of the SNA that refuses ``frame`` as a whole: a write echoes every property with its EDT
    (none was accepted), a read lists every EPC with PDC 0 (none is answered)."""
    if esv in (0x60, 0x61, 0x6E):
        return tuple(frame.properties)
    return tuple(Property(p.epc) for p in frame.properties)


def _sna_gets(frame: Frame) -> tuple[Property, ...]:
    return tuple(Property(p.epc) for p in frame.get_properties)


def _identity_name(verified: VerifiedCredential) -> str:
    """How audit records, status and policy name a peer: its identification number (0x83, hex) when its
    certificate binds one, else ``fp:`` and the first 16 hex digits of its key fingerprint."""
    identity = verified.identity
    if identity is not None:
        return identity.id_number.hex()
    return "fp:" + verified.fingerprint.hex()[:16]


def _waiting_for(hs: _Handshake) -> str:
    if hs.state == "m4":
        return "message_4"
    return "message_2" if hs.cookie_tries else "cookie-or-message_2"


def _unanswered(hs: _Handshake) -> tuple[str, str]:
    """What an initiator run still waits for, and what that suggests."""
    if hs.state == "m4":
        return (
            "no message_4 after message_3",
            "the device did not accept this node's credential: its audit log says why (allow-list, revocation)",
        )
    if hs.cookie_tries:
        return (
            "a cookie came back, then no message_2",
            "the device is secured but did not go on with the handshake: its audit log says why (rate limits)",
        )
    return (
        "no cookie and no message_2 came back",
        "the device is off or unreachable, or speaks plain ECHONET Lite only (classify such a device as legacy: "
        "'echonet secure consent grant')",
    )


def _reason(exc: BaseException) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text[:200]
