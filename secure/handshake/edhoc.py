"""EDHOC (RFC 9528): sans-I/O Initiator and Responder state machines.

Both roles take and return raw EDHOC message bytes; transport, correlation (prepending C_x or ``true``),
timers and retransmission belong to the caller. Nothing here does I/O, logs or prints.

Initiator::

    ini = Initiator(method=Method.STATIC_STATIC, credential=my_cred, verify_peer=check)
    m1 = ini.create_message_1()
    info2 = ini.process_message_2(m2)        # also accepts an EDHOC error message (raises EdhocPeerError)
    m3 = ini.create_message_3()
    ini.result.oscore_parameters()           # OSCORE master secret/salt and sender/recipient IDs
    ini.process_message_4(m4)                # only if the application profile uses message_4

Responder::

    rsp = Responder(methods={Method.STATIC_STATIC}, credential=my_cred, verify_peer=check)
    info1 = rsp.process_message_1(m1)        # EdhocError.reply holds the error message to send back
    m2 = rsp.create_message_2()
    info3 = rsp.process_message_3(m3)
    m4 = rsp.create_message_4()              # optional

Peer credentials: ``lookup_peer(id_cred) -> Credential | None`` resolves references ('kid', 'x5t');
credentials sent by value ('x5chain', 'kccs') are taken from ID_CRED itself. Every peer credential, by value
or by reference, is then passed to ``verify_peer(credential) -> public key | None``, where the application
validates the certificate chain or pins the key; returning ``None`` (or raising
:class:`~secure.errors.ProtocolError`) rejects the peer.

Failures of received messages abort the session and raise :class:`~secure.errors.EdhocError` whose ``reply``
is the EDHOC error message to send back. Messages that do not fit the current state raise
:class:`~secure.errors.OutOfOrderMessage` and leave the session as it was. Calling a method in the wrong state
raises :class:`~secure.errors.SecureUsageError`.
"""

from __future__ import annotations

import enum
import hmac
import secrets
from collections.abc import Callable, Collection, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import NoReturn, TypeVar

from secure.errors import EdhocError, EdhocPeerError, OutOfOrderMessage, ProtocolError, SecureUsageError
from secure.handshake import keys as ks
from secure.handshake.cbor import encode_bstr
from secure.handshake.cose import (
    Credential,
    CredentialKind,
    IdCred,
    LocalCredential,
    enc_structure,
    lookup_in,
    make_ccs,
    sig_structure,
)
from secure.handshake.messages import (
    EAD_PADDING,
    EadItem,
    ErrCode,
    ErrorMessage,
    Message1,
    Method,
    Plaintext2,
    Plaintext3,
    decode_message_2,
    decode_plaintext_4,
    decode_single_bstr,
    encode_ead,
    is_error_message,
)
from secure.handshake.suites import (
    DEFAULT_SUITE,
    SUITES,
    AeadAlg,
    CipherSuite,
    EphemeralKey,
    HashAlg,
    PrivateKey,
    PublicKey,
    aead_decrypt,
    aead_encrypt,
    ecdh,
    get_suite,
    key_fits_dh,
    key_fits_signature,
    public_key_from_compact,
    sign,
    verify_signature,
)

__all__ = [
    "DEFAULT_SUITES",
    "Credential",
    "CredentialKind",
    "CredentialTransfer",
    "EadItem",
    "EdhocResult",
    "EphemeralKeySource",
    "ErrCode",
    "ErrorMessage",
    "IdCred",
    "Initiator",
    "InitiatorState",
    "LocalCredential",
    "LookupPeer",
    "Message1Info",
    "Message2Info",
    "Message3Info",
    "Method",
    "OscoreParameters",
    "Responder",
    "ResponderState",
    "Role",
    "VerifyPeer",
    "lookup_in",
    "make_ccs",
]

DEFAULT_SUITES: tuple[int, ...] = (DEFAULT_SUITE,)

VerifyPeer = Callable[[Credential], PublicKey | None]
"""Validate a peer credential; return the authentication public key to use, or None to reject the peer."""

LookupPeer = Callable[[IdCred], Credential | Sequence[Credential] | None]
"""Resolve an ID_CRED reference ('kid', 'x5t') to the credential(s) it may designate; None or () if unknown."""

_T = TypeVar("_T")

EphemeralKeySource = Callable[[CipherSuite], bytes]
"""Return a raw ephemeral private key for the suite's curve (to reproduce traces; default: fresh random)."""

OSCORE_MASTER_SECRET_LABEL = 0
OSCORE_MASTER_SALT_LABEL = 1
OSCORE_DEFAULT_SALT_LENGTH = 8


class Role(enum.Enum):
    INITIATOR = "initiator"
    RESPONDER = "responder"


class CredentialTransfer(enum.IntEnum):
    """How the local credential is identified in ID_CRED: by reference ('kid'/'x5t') or by value."""

    BY_REFERENCE = 0
    BY_VALUE = 1


class InitiatorState(enum.Enum):
    """Initiator states of RFC 9528 appendix I.1 (RCVD_M2 is transient inside :meth:`process_message_2`)."""

    START = "START"
    WAIT_M2 = "WAIT_M2"
    VERIFIED_M2 = "VRFD_M2"
    COMPLETED = "COMPLETED"
    PERSISTED = "PERSISTED"
    ABORTED = "ABORTED"


class ResponderState(enum.Enum):
    """Responder states of RFC 9528 appendix I.2."""

    START = "START"
    VERIFIED_M1 = "VRFD_M1"
    WAIT_M3 = "WAIT_M3"
    COMPLETED = "COMPLETED"
    PERSISTED = "PERSISTED"
    ABORTED = "ABORTED"


# --------------------------------------------------------------------------------------------- results


@dataclass(frozen=True)
class Message1Info:
    """What the Responder learned from message_1."""

    method: Method
    suite: int
    c_i: bytes
    ead_1: tuple[EadItem, ...]


@dataclass(frozen=True)
class Message2Info:
    """What the Initiator learned from a verified message_2."""

    c_r: bytes
    id_cred_r: IdCred
    peer_credential: Credential
    ead_2: tuple[EadItem, ...]


@dataclass(frozen=True)
class Message3Info:
    """What the Responder learned from a verified message_3."""

    id_cred_i: IdCred
    peer_credential: Credential
    ead_3: tuple[EadItem, ...]


@dataclass(frozen=True)
class OscoreParameters:
    """OSCORE security context input derived from EDHOC (RFC 9528 appendix A.1).

    Sender ID is the peer's connection identifier, Recipient ID the local one. ``aead_alg`` and ``hkdf_alg``
    are the application AEAD and hash algorithms of the selected suite (COSE identifiers).
    """

    master_secret: bytes = field(repr=False)
    master_salt: bytes = field(repr=False)
    sender_id: bytes
    recipient_id: bytes
    aead_alg: AeadAlg
    hkdf_alg: HashAlg


@dataclass(frozen=True)
class EdhocResult:
    """Output of a completed EDHOC session. ``prk_out`` and ``prk_exporter`` never appear in ``repr``."""

    role: Role
    method: Method
    suite: CipherSuite = field(repr=False)
    c_i: bytes
    c_r: bytes
    peer_id_cred: IdCred
    peer_credential: Credential = field(repr=False)
    th_4: bytes = field(repr=False)
    prk_out: bytes = field(repr=False)
    prk_exporter: bytes = field(repr=False)

    @property
    def suite_label(self) -> int:
        return self.suite.label

    @property
    def local_cid(self) -> bytes:
        return self.c_i if self.role is Role.INITIATOR else self.c_r

    @property
    def peer_cid(self) -> bytes:
        return self.c_r if self.role is Role.INITIATOR else self.c_i

    def exporter(self, label: int, context: bytes, length: int) -> bytes:
        """EDHOC_Exporter(exporter_label, context, length) (section 4.2.1)."""
        if label < 0:
            raise SecureUsageError("exporter labels are unsigned integers")
        return ks.edhoc_exporter(self.suite, self.prk_exporter, label, bytes(context), length)

    def key_update(self, context: bytes) -> EdhocResult:
        """EDHOC_KeyUpdate (appendix H): a new result with updated PRK_out and PRK_exporter."""
        new_out = ks.edhoc_key_update(self.suite, self.prk_out, bytes(context))
        return EdhocResult(
            self.role,
            self.method,
            self.suite,
            self.c_i,
            self.c_r,
            self.peer_id_cred,
            self.peer_credential,
            self.th_4,
            new_out,
            ks.prk_exporter(self.suite, new_out),
        )

    def oscore_parameters(
        self, key_length: int | None = None, salt_length: int = OSCORE_DEFAULT_SALT_LENGTH
    ) -> OscoreParameters:
        """OSCORE master secret (exporter label 0) and salt (label 1) with context h'', and the IDs (A.1)."""
        length = self.suite.app_key_length if key_length is None else key_length
        return OscoreParameters(
            master_secret=self.exporter(OSCORE_MASTER_SECRET_LABEL, b"", length),
            master_salt=self.exporter(OSCORE_MASTER_SALT_LABEL, b"", salt_length),
            sender_id=self.peer_cid,
            recipient_id=self.local_cid,
            aead_alg=self.suite.app_aead,
            hkdf_alg=self.suite.app_hash,
        )


# --------------------------------------------------------------------------------------------- helpers


def _one_byte_cids() -> list[bytes]:
    return [bytes([b]) for b in (*range(0x00, 0x18), *range(0x20, 0x38))]


def _random_cid(exclude: bytes | None) -> bytes:
    return secrets.choice([cid for cid in _one_byte_cids() if cid != exclude])


def _check_cid(cid: bytes) -> bytes:
    if not isinstance(cid, bytes):
        raise SecureUsageError("a connection identifier must be bytes")
    return cid


def _fits(cred: LocalCredential, suite: CipherSuite, static_dh: bool) -> bool:
    if static_dh:
        return key_fits_dh(suite.dh_curve, cred.private_key)
    return key_fits_signature(suite.sig_alg, cred.private_key)


def _credentials(value: LocalCredential | Sequence[LocalCredential]) -> tuple[LocalCredential, ...]:
    creds = (value,) if isinstance(value, LocalCredential) else tuple(value)
    if not creds or not all(isinstance(c, LocalCredential) for c in creds):
        raise SecureUsageError("credential must be a LocalCredential or a non-empty sequence of them")
    return creds


def _check_ead(items: Sequence[EadItem]) -> tuple[EadItem, ...]:
    out = tuple(items)
    if not all(isinstance(item, EadItem) for item in out):
        raise SecureUsageError("EAD items must be EadItem instances")
    return out


class _Endpoint:
    """Shared machinery of both roles."""

    _role: Role

    def __init__(
        self,
        *,
        credential: LocalCredential | Sequence[LocalCredential],
        verify_peer: VerifyPeer,
        lookup_peer: LookupPeer | None,
        send_credential: CredentialTransfer,
        understood_ead: Collection[int],
        ephemeral_key_source: EphemeralKeySource | None,
    ) -> None:
        self._creds = _credentials(credential)
        if not callable(verify_peer):
            raise SecureUsageError("verify_peer must be callable")
        self._verify_peer = verify_peer
        self._lookup_peer = lookup_peer
        self._send_credential = CredentialTransfer(send_credential)
        self._understood_ead = frozenset(int(label) for label in understood_ead)
        self._ephemeral_key_source = ephemeral_key_source
        self._aborted_reason: str | None = None

    # -- local credential and ephemeral keys

    def _own_credential(self, suite: CipherSuite, static_dh: bool) -> LocalCredential | None:
        return next((c for c in self._creds if _fits(c, suite, static_dh)), None)

    def _own_id_cred(self, cred: LocalCredential) -> IdCred:
        id_cred = (
            cred.id_cred_by_value if self._send_credential is CredentialTransfer.BY_VALUE else cred.id_cred_by_reference
        )
        assert id_cred is not None
        return id_cred

    def _new_ephemeral(self, suite: CipherSuite) -> EphemeralKey:
        if self._ephemeral_key_source is None:
            return EphemeralKey.generate(suite.dh_curve)
        return EphemeralKey.from_private_bytes(suite.dh_curve, self._ephemeral_key_source(suite))

    # -- failure handling

    def _abort(self) -> None:
        raise NotImplementedError

    def _fail(self, err_code: int, reason: str, *, send: bool = True) -> NoReturn:
        self._abort()
        self._aborted_reason = reason
        reply: bytes | None = None
        if send:
            message = (
                ErrorMessage.unknown_credential_referenced()
                if err_code == ErrCode.UNKNOWN_CREDENTIAL_REFERENCED
                else ErrorMessage.unspecified(reason)
            )
            reply = message.encode()
        raise EdhocError(err_code, reason, reply=reply)

    @contextmanager
    def _processing(self, what: str) -> Iterator[None]:
        """Abort the session on any failure; turn remote garbage into EdhocError with an error reply."""
        try:
            yield
        except EdhocError:
            self._abort()
            raise
        except ProtocolError as exc:
            self._fail(ErrCode.UNSPECIFIED, f"{what}: {exc}")
        except BaseException:
            self._abort()
            raise

    def _peer_error(self, data: bytes, what: str) -> NoReturn:
        """Process an EDHOC error message received instead of ``what``: abort and raise EdhocPeerError."""
        try:
            error = ErrorMessage.decode(data)
        except ProtocolError as exc:
            self._fail(ErrCode.UNSPECIFIED, f"malformed error message instead of {what}: {exc}", send=False)
        self._abort()
        reason = f"peer sent an error instead of {what}: {error.diagnostic}"
        self._aborted_reason = reason
        raise EdhocPeerError(error.err_code, reason, err_info=error.err_info, suites_r=error.suites_r)

    # -- peer credentials and EAD

    def _received_ead(self, items: tuple[EadItem, ...], what: str) -> tuple[EadItem, ...]:
        """Refuse unknown critical EAD items (section 3.8); drop padding; expose everything else."""
        for item in items:
            if item.critical and item.label not in self._understood_ead:
                self._fail(ErrCode.UNSPECIFIED, f"{what}: unsupported critical EAD item {item.label}")
        return tuple(item for item in items if item.label != EAD_PADDING)

    def _peer_candidates(self, id_cred: IdCred, what: str) -> tuple[Credential, ...]:
        """CRED_x carried by value, or the credentials ``lookup_peer`` knows for the reference."""
        cred = id_cred.credential()
        if cred is not None:
            return (cred,)
        if id_cred.kid is None and id_cred.x5t is None:
            self._fail(ErrCode.UNSPECIFIED, f"{what}: unsupported ID_CRED type ({id_cred.description})")
        found = self._lookup_peer(id_cred) if self._lookup_peer is not None else None
        candidates = (found,) if isinstance(found, Credential) else tuple(found or ())
        if not candidates:
            self._fail(
                ErrCode.UNKNOWN_CREDENTIAL_REFERENCED, f"{what}: unknown credential referenced ({id_cred.description})"
            )
        return candidates

    def _authenticate(
        self,
        id_cred: IdCred,
        suite: CipherSuite,
        static_dh: bool,
        what: str,
        field_name: str,
        check: Callable[[Credential, PublicKey], _T | None],
    ) -> tuple[Credential, _T]:
        """Find the peer credential: accepted by ``verify_peer``, of the right key type, passing ``check``.

        A 'kid' need not be unique (RFC 9052 section 3.1), so every candidate from ``lookup_peer`` is tried.
        """
        rejection = "peer credential rejected"
        for cred in self._peer_candidates(id_cred, what):
            try:
                key = self._verify_peer(cred)
            except ProtocolError as exc:
                rejection = f"peer credential rejected: {exc}"
                continue
            if key is None:
                continue
            if static_dh and not key_fits_dh(suite.dh_curve, key):
                rejection = "peer key is not a static DH key of the suite's curve"
                continue
            if not static_dh and not key_fits_signature(suite.sig_alg, key):
                rejection = "peer key does not fit the suite's signature algorithm"
                continue
            outcome = check(cred, key)
            if outcome is not None:
                return cred, outcome
            rejection = f"{field_name} verification failed"
        self._fail(ErrCode.UNSPECIFIED, f"{what}: {rejection}")

    # -- Signature_or_MAC

    @staticmethod
    def _signature_or_mac(
        suite: CipherSuite, static_dh: bool, key: PrivateKey, id_cred: IdCred, external_aad: bytes, mac: bytes
    ) -> bytes:
        if static_dh:
            return mac
        return sign(suite.sig_alg, key, sig_structure(id_cred.encoded, external_aad, mac))

    @staticmethod
    def _check_signature_or_mac(
        suite: CipherSuite,
        static_dh: bool,
        key: PublicKey,
        id_cred: IdCred,
        external_aad: bytes,
        mac: bytes,
        received: bytes,
    ) -> bool:
        if static_dh:
            return len(received) == len(mac) and hmac.compare_digest(received, mac)
        if len(received) != suite.signature_length:
            return False
        return verify_signature(suite.sig_alg, key, received, sig_structure(id_cred.encoded, external_aad, mac))

    @property
    def aborted_reason(self) -> str | None:
        """Why the session was aborted (no secrets), or None."""
        return self._aborted_reason


def _mac_length(suite: CipherSuite, static_dh: bool) -> int:
    return suite.mac_length if static_dh else suite.hash_length


# ------------------------------------------------------------------------------------------- initiator


class Initiator(_Endpoint):
    """The EDHOC Initiator (sends message_1 and message_3).

    ``suites`` lists the supported cipher suites in order of preference. ``peer_suites`` is SUITES_R
    remembered from an earlier error with code 2 for this Responder; the Initiator then selects its most
    preferred suite among them (section 5.2.2). After an error with code 2 in place of message_2, the
    Initiator returns to START with SUITES_R remembered, and :meth:`create_message_1` may be called again.
    """

    _role = Role.INITIATOR

    def __init__(
        self,
        *,
        method: Method | int,
        credential: LocalCredential | Sequence[LocalCredential],
        verify_peer: VerifyPeer,
        lookup_peer: LookupPeer | None = None,
        suites: Sequence[int] = DEFAULT_SUITES,
        peer_suites: Sequence[int] | None = None,
        send_credential: CredentialTransfer = CredentialTransfer.BY_REFERENCE,
        understood_ead: Collection[int] = (),
        ephemeral_key_source: EphemeralKeySource | None = None,
    ) -> None:
        super().__init__(
            credential=credential,
            verify_peer=verify_peer,
            lookup_peer=lookup_peer,
            send_credential=send_credential,
            understood_ead=understood_ead,
            ephemeral_key_source=ephemeral_key_source,
        )
        try:
            self._method = Method(method)
        except ValueError:
            raise SecureUsageError(f"unknown EDHOC method {method}") from None
        self._suites = tuple(suites)
        if not self._suites or len(set(self._suites)) != len(self._suites):
            raise SecureUsageError("suites must be a non-empty list without duplicates")
        for label in self._suites:
            suite = get_suite(label)
            if self._own_credential(suite, self._method.initiator_static_dh) is None:
                raise SecureUsageError(f"no local credential fits method {self._method.value} with suite {label}")
        self._peer_suites: tuple[int, ...] | None = tuple(peer_suites) if peer_suites is not None else None
        self._state = InitiatorState.START
        self._selected: CipherSuite | None = None
        self._c_i: bytes | None = None
        self._message_1 = b""
        self._x: EphemeralKey | None = None
        # set by process_message_2
        self._c_r = b""
        self._g_y: PublicKey | None = None
        self._th_3 = b""
        self._prk_3e2m = b""
        self._id_cred_r: IdCred | None = None
        self._cred_r: Credential | None = None
        # set by create_message_3
        self._prk_4e3m = b""
        self._th_4 = b""
        self._result: EdhocResult | None = None

    # -- public state

    @property
    def state(self) -> InitiatorState:
        return self._state

    @property
    def method(self) -> Method:
        return self._method

    @property
    def selected_suite(self) -> int | None:
        return None if self._selected is None else self._selected.label

    @property
    def c_i(self) -> bytes | None:
        return self._c_i

    @property
    def result(self) -> EdhocResult:
        """The session output, available once message_3 has been created."""
        if self._result is None or self._state not in (InitiatorState.COMPLETED, InitiatorState.PERSISTED):
            raise SecureUsageError(f"no EDHOC result in state {self._state.value}")
        return self._result

    def __repr__(self) -> str:
        return f"Initiator(method={self._method.value}, state={self._state.value}, suite={self.selected_suite})"

    def _abort(self) -> None:
        self._state = InitiatorState.ABORTED
        self._x = None
        self._prk_3e2m = self._prk_4e3m = b""

    # -- message_1

    def _select_suite(self) -> int:
        if self._peer_suites is not None:
            for label in self._suites:
                if label in self._peer_suites:
                    return label
            raise SecureUsageError("the Responder supports none of the local cipher suites")
        return self._suites[0]

    def create_message_1(self, *, c_i: bytes | None = None, ead: Sequence[EadItem] = ()) -> bytes:
        """Compose message_1 (section 5.2.2); ``c_i`` defaults to a random one-byte identifier."""
        if self._state is not InitiatorState.START:
            raise SecureUsageError(f"create_message_1 called in state {self._state.value}")
        ead_1 = _check_ead(ead)
        selected = self._select_suite()
        suites_i = self._suites[: self._suites.index(selected) + 1]
        suite = SUITES[selected]
        self._c_i = _check_cid(c_i) if c_i is not None else _random_cid(None)
        self._x = self._new_ephemeral(suite)
        self._selected = suite
        self._message_1 = Message1(self._method, suites_i, self._x.public, self._c_i, ead_1).encode()
        self._state = InitiatorState.WAIT_M2
        return self._message_1

    # -- message_2

    def process_message_2(self, data: bytes) -> Message2Info:
        """Decrypt and verify message_2 (section 5.3.3), or process an error message received instead."""
        if self._state is not InitiatorState.WAIT_M2:
            raise OutOfOrderMessage(f"message_2 not expected in state {self._state.value}")
        data = bytes(data)
        if is_error_message(data):
            self._message_2_error(data)
        with self._processing("message_2"):
            return self._process_message_2(data)

    def _message_2_error(self, data: bytes) -> NoReturn:
        try:
            self._peer_error(data, "message_2")
        except EdhocPeerError as exc:
            if exc.err_code == ErrCode.WRONG_SELECTED_CIPHER_SUITE and self._selected is not None:
                previous = self._selected.label
                retry = next((s for s in self._suites if s in exc.suites_r), None)
                if retry is not None and retry != previous:
                    # RFC 9528 appendix I.1: remember SUITES_R and go back to START for a new message_1.
                    self._peer_suites = exc.suites_r
                    self._state = InitiatorState.START
                    self._selected = None
            raise

    def _process_message_2(self, data: bytes) -> Message2Info:
        suite, x = self._selected, self._x
        assert suite is not None and x is not None and self._c_i is not None
        g_y, ciphertext_2 = decode_message_2(data, suite.ephemeral_length)
        g_y_key = public_key_from_compact(suite.dh_curve, g_y)
        g_xy = x.exchange(g_y)
        th2 = ks.th_2(suite, g_y, self._message_1)
        prk2e = ks.prk_2e(suite, th2, g_xy)
        keystream = ks.keystream_2(suite, prk2e, th2, len(ciphertext_2))
        plaintext_2 = bytes(a ^ b for a, b in zip(ciphertext_2, keystream, strict=True))
        pt2 = Plaintext2.decode(plaintext_2)
        if pt2.c_r == self._c_i:
            self._fail(ErrCode.UNSPECIFIED, "message_2: C_R equals C_I (OSCORE IDs would collide)")
        ead_2 = self._received_ead(pt2.ead, "message_2")
        static_r = self._method.responder_static_dh
        if len(pt2.signature_or_mac_2) != (suite.mac_length if static_r else suite.signature_length):
            self._fail(ErrCode.UNSPECIFIED, "message_2: Signature_or_MAC_2 has the wrong length")

        def check(cred_r: Credential, g_r: PublicKey) -> bytes | None:
            prk3e2m = ks.prk_3e2m(suite, prk2e, th2, x.exchange_key(g_r) if static_r else None)
            context2 = ks.context_2(pt2.c_r, pt2.id_cred_r, th2, cred_r.cbor, pt2.ead)
            mac2 = ks.mac_2(suite, prk3e2m, context2, _mac_length(suite, static_r))
            external_aad = encode_bstr(th2) + cred_r.cbor + encode_ead(pt2.ead)
            ok = self._check_signature_or_mac(
                suite, static_r, g_r, pt2.id_cred_r, external_aad, mac2, pt2.signature_or_mac_2
            )
            return prk3e2m if ok else None

        cred_r, prk3e2m = self._authenticate(pt2.id_cred_r, suite, static_r, "message_2", "Signature_or_MAC_2", check)
        self._c_r = pt2.c_r
        self._g_y = g_y_key
        self._prk_3e2m = prk3e2m
        self._th_3 = ks.th_3(suite, th2, plaintext_2, cred_r.cbor)
        self._id_cred_r, self._cred_r = pt2.id_cred_r, cred_r
        self._state = InitiatorState.VERIFIED_M2
        return Message2Info(pt2.c_r, pt2.id_cred_r, cred_r, ead_2)

    # -- message_3

    def create_message_3(self, *, ead: Sequence[EadItem] = ()) -> bytes:
        """Compose message_3 (section 5.4.2); afterwards :attr:`result` holds PRK_out and the exporter."""
        if self._state is not InitiatorState.VERIFIED_M2:
            raise SecureUsageError(f"create_message_3 called in state {self._state.value}")
        ead_3 = _check_ead(ead)
        suite, x, g_y = self._selected, self._x, self._g_y
        assert suite is not None and x is not None and g_y is not None
        assert self._c_i is not None and self._id_cred_r is not None and self._cred_r is not None
        static_i = self._method.initiator_static_dh
        own = self._own_credential(suite, static_i)
        assert own is not None  # checked in __init__
        id_cred_i = self._own_id_cred(own)
        cred_i = own.credential.cbor
        g_iy = ecdh(own.private_key, g_y) if static_i else None
        prk4e3m = ks.prk_4e3m(suite, self._prk_3e2m, self._th_3, g_iy)
        context3 = ks.context_3(id_cred_i, self._th_3, cred_i, ead_3)
        mac3 = ks.mac_3(suite, prk4e3m, context3, _mac_length(suite, static_i))
        external_aad = encode_bstr(self._th_3) + cred_i + encode_ead(ead_3)
        sig3 = self._signature_or_mac(suite, static_i, own.private_key, id_cred_i, external_aad, mac3)
        plaintext_3 = Plaintext3(id_cred_i, sig3, ead_3).encode()
        ciphertext_3 = aead_encrypt(
            suite.aead,
            ks.k_3(suite, self._prk_3e2m, self._th_3),
            ks.iv_3(suite, self._prk_3e2m, self._th_3),
            plaintext_3,
            enc_structure(self._th_3),
        )
        th4 = ks.th_4(suite, self._th_3, plaintext_3, cred_i)
        prkout = ks.prk_out(suite, prk4e3m, th4)
        self._result = EdhocResult(
            Role.INITIATOR,
            self._method,
            suite,
            self._c_i,
            self._c_r,
            self._id_cred_r,
            self._cred_r,
            th4,
            prkout,
            ks.prk_exporter(suite, prkout),
        )
        self._prk_4e3m, self._th_4 = prk4e3m, th4
        self._x, self._prk_3e2m = None, b""
        self._state = InitiatorState.COMPLETED
        return encode_bstr(ciphertext_3)

    # -- message_4 and completion

    def process_message_4(self, data: bytes) -> tuple[EadItem, ...]:
        """Verify message_4 (section 5.5.3) and return EAD_4; the session becomes PERSISTED."""
        if self._state is not InitiatorState.COMPLETED:
            raise OutOfOrderMessage(f"message_4 not expected in state {self._state.value}")
        data = bytes(data)
        if is_error_message(data):
            self._peer_error(data, "message_4")
        with self._processing("message_4"):
            suite = self._selected
            assert suite is not None
            ciphertext_4 = decode_single_bstr(data, "message_4")
            plaintext_4 = aead_decrypt(
                suite.aead,
                ks.k_4(suite, self._prk_4e3m, self._th_4),
                ks.iv_4(suite, self._prk_4e3m, self._th_4),
                ciphertext_4,
                enc_structure(self._th_4),
            )
            ead_4 = self._received_ead(decode_plaintext_4(plaintext_4), "message_4")
            self._prk_4e3m = b""
            self._state = InitiatorState.PERSISTED
            return ead_4

    def process_error(self, data: bytes) -> NoReturn:
        """Process an EDHOC error message received at any point (e.g. ERR_CODE 3 in reply to message_3)."""
        if self._state in (InitiatorState.START, InitiatorState.ABORTED, InitiatorState.PERSISTED):
            raise OutOfOrderMessage(f"error message not expected in state {self._state.value}")
        self._peer_error(bytes(data), "the next message")

    def confirm(self) -> None:
        """Mark the session PERSISTED after the application verified a message protected with its keys."""
        if self._state is not InitiatorState.COMPLETED:
            raise SecureUsageError(f"confirm called in state {self._state.value}")
        self._prk_4e3m = b""
        self._state = InitiatorState.PERSISTED


# ------------------------------------------------------------------------------------------- responder


class Responder(_Endpoint):
    """The EDHOC Responder (receives message_1 and message_3, sends message_2 and optionally message_4).

    ``methods`` are the accepted authentication methods and ``suites`` the supported cipher suites. A suite
    counts as supported for a method only if a local credential fits it (a static DH key of the suite's curve
    or a signature key of its signature algorithm); SUITES_R in error code 2 is computed from that set.
    """

    _role = Role.RESPONDER

    def __init__(
        self,
        *,
        methods: Collection[Method | int],
        credential: LocalCredential | Sequence[LocalCredential],
        verify_peer: VerifyPeer,
        lookup_peer: LookupPeer | None = None,
        suites: Sequence[int] = DEFAULT_SUITES,
        send_credential: CredentialTransfer = CredentialTransfer.BY_REFERENCE,
        understood_ead: Collection[int] = (),
        ephemeral_key_source: EphemeralKeySource | None = None,
    ) -> None:
        super().__init__(
            credential=credential,
            verify_peer=verify_peer,
            lookup_peer=lookup_peer,
            send_credential=send_credential,
            understood_ead=understood_ead,
            ephemeral_key_source=ephemeral_key_source,
        )
        try:
            self._methods = frozenset(Method(m) for m in methods)
        except ValueError:
            raise SecureUsageError("unknown EDHOC method in methods") from None
        if not self._methods:
            raise SecureUsageError("at least one method is needed")
        self._suites = tuple(get_suite(label).label for label in suites)
        if not self._suites:
            raise SecureUsageError("at least one cipher suite is needed")
        if not any(self._supported_suites(m) for m in self._methods):
            raise SecureUsageError("no local credential fits any configured method and suite")
        self._state = ResponderState.START
        self._method: Method | None = None
        self._suite: CipherSuite | None = None
        self._message_1 = b""
        self._c_i = b""
        self._g_x: PublicKey | None = None
        self._y: EphemeralKey | None = None
        self._g_xy = b""
        # set by create_message_2
        self._c_r: bytes | None = None
        self._th_3 = b""
        self._prk_3e2m = b""
        # set by process_message_3
        self._prk_4e3m = b""
        self._th_4 = b""
        self._result: EdhocResult | None = None

    def _supported_suites(self, method: Method) -> tuple[int, ...]:
        return tuple(
            label
            for label in self._suites
            if self._own_credential(SUITES[label], method.responder_static_dh) is not None
        )

    @property
    def state(self) -> ResponderState:
        return self._state

    @property
    def method(self) -> Method | None:
        return self._method

    @property
    def selected_suite(self) -> int | None:
        return None if self._suite is None else self._suite.label

    @property
    def c_r(self) -> bytes | None:
        return self._c_r

    @property
    def result(self) -> EdhocResult:
        """The session output, available once message_3 has been verified."""
        if self._result is None or self._state not in (ResponderState.COMPLETED, ResponderState.PERSISTED):
            raise SecureUsageError(f"no EDHOC result in state {self._state.value}")
        return self._result

    def __repr__(self) -> str:
        method = None if self._method is None else self._method.value
        return f"Responder(method={method}, state={self._state.value}, suite={self.selected_suite})"

    def _abort(self) -> None:
        self._state = ResponderState.ABORTED
        self._y = None
        self._g_xy = self._prk_3e2m = self._prk_4e3m = b""

    # -- message_1

    def process_message_1(self, data: bytes) -> Message1Info:
        """Decode and check message_1 (section 5.2.3), including the cipher suite negotiation."""
        if self._state is not ResponderState.START:
            raise OutOfOrderMessage(f"message_1 not expected in state {self._state.value}")
        with self._processing("message_1"):
            return self._process_message_1(bytes(data))

    def _process_message_1(self, data: bytes) -> Message1Info:
        m1 = Message1.decode(data)
        if m1.method not in self._methods:
            self._fail(ErrCode.UNSPECIFIED, f"method {m1.method} not supported")
        method = Method(m1.method)
        supported = self._supported_suites(method)
        if not supported:
            self._fail(ErrCode.UNSPECIFIED, f"method {m1.method} not supported with the local credentials")
        selected = m1.selected_suite
        preferred = [s for s in m1.suites_i[:-1] if s in supported]
        if selected not in supported or preferred:
            common = [s for s in m1.suites_i if s in supported]
            suites_r = [common[0]] if common else list(supported)
            self._abort()
            reason = f"selected cipher suite {selected} rejected, SUITES_R={suites_r}"
            self._aborted_reason = reason
            raise EdhocError(
                ErrCode.WRONG_SELECTED_CIPHER_SUITE,
                reason,
                reply=ErrorMessage.wrong_selected_cipher_suite(suites_r).encode(),
            )
        suite = SUITES[selected]
        g_x = public_key_from_compact(suite.dh_curve, m1.g_x)
        ead_1 = self._received_ead(m1.ead, "message_1")
        y = self._new_ephemeral(suite)
        self._g_xy = y.exchange(m1.g_x)
        self._method, self._suite, self._message_1 = method, suite, data
        self._c_i, self._g_x, self._y = m1.c_i, g_x, y
        self._state = ResponderState.VERIFIED_M1
        return Message1Info(method, selected, m1.c_i, ead_1)

    # -- message_2

    def create_message_2(self, *, c_r: bytes | None = None, ead: Sequence[EadItem] = ()) -> bytes:
        """Compose message_2 (section 5.3.2); ``c_r`` defaults to a random one-byte identifier other than C_I."""
        if self._state is not ResponderState.VERIFIED_M1:
            raise SecureUsageError(f"create_message_2 called in state {self._state.value}")
        ead_2 = _check_ead(ead)
        if c_r is not None and _check_cid(c_r) == self._c_i:
            raise SecureUsageError("C_R must differ from C_I (they become the OSCORE Recipient IDs)")
        suite, method, y, g_x = self._suite, self._method, self._y, self._g_x
        assert suite is not None and method is not None and y is not None and g_x is not None
        c_r = c_r if c_r is not None else _random_cid(self._c_i)
        self._c_r = c_r
        static_r = method.responder_static_dh
        own = self._own_credential(suite, static_r)
        assert own is not None  # guaranteed by the suite negotiation
        id_cred_r = self._own_id_cred(own)
        cred_r = own.credential.cbor
        th2 = ks.th_2(suite, y.public, self._message_1)
        prk2e = ks.prk_2e(suite, th2, self._g_xy)
        g_rx = ecdh(own.private_key, g_x) if static_r else None
        prk3e2m = ks.prk_3e2m(suite, prk2e, th2, g_rx)
        context2 = ks.context_2(c_r, id_cred_r, th2, cred_r, ead_2)
        mac2 = ks.mac_2(suite, prk3e2m, context2, _mac_length(suite, static_r))
        external_aad = encode_bstr(th2) + cred_r + encode_ead(ead_2)
        sig2 = self._signature_or_mac(suite, static_r, own.private_key, id_cred_r, external_aad, mac2)
        plaintext_2 = Plaintext2(c_r, id_cred_r, sig2, ead_2).encode()
        keystream = ks.keystream_2(suite, prk2e, th2, len(plaintext_2))
        ciphertext_2 = bytes(a ^ b for a, b in zip(plaintext_2, keystream, strict=True))
        self._th_3 = ks.th_3(suite, th2, plaintext_2, cred_r)
        self._prk_3e2m = prk3e2m
        self._g_xy = b""
        self._state = ResponderState.WAIT_M3
        return encode_bstr(y.public + ciphertext_2)

    # -- message_3

    def process_message_3(self, data: bytes) -> Message3Info:
        """Decrypt and verify message_3 (section 5.4.3), or process an error message received instead."""
        if self._state is not ResponderState.WAIT_M3:
            raise OutOfOrderMessage(f"message_3 not expected in state {self._state.value}")
        data = bytes(data)
        if is_error_message(data):
            self._peer_error(data, "message_3")
        with self._processing("message_3"):
            return self._process_message_3(data)

    def _process_message_3(self, data: bytes) -> Message3Info:
        suite, method, y = self._suite, self._method, self._y
        assert suite is not None and method is not None and y is not None
        ciphertext_3 = decode_single_bstr(data, "message_3")
        plaintext_3 = aead_decrypt(
            suite.aead,
            ks.k_3(suite, self._prk_3e2m, self._th_3),
            ks.iv_3(suite, self._prk_3e2m, self._th_3),
            ciphertext_3,
            enc_structure(self._th_3),
        )
        pt3 = Plaintext3.decode(plaintext_3)
        ead_3 = self._received_ead(pt3.ead, "message_3")
        static_i = method.initiator_static_dh
        if len(pt3.signature_or_mac_3) != (suite.mac_length if static_i else suite.signature_length):
            self._fail(ErrCode.UNSPECIFIED, "message_3: Signature_or_MAC_3 has the wrong length")

        def check(cred_i: Credential, g_i: PublicKey) -> bytes | None:
            prk4e3m = ks.prk_4e3m(suite, self._prk_3e2m, self._th_3, y.exchange_key(g_i) if static_i else None)
            context3 = ks.context_3(pt3.id_cred_i, self._th_3, cred_i.cbor, pt3.ead)
            mac3 = ks.mac_3(suite, prk4e3m, context3, _mac_length(suite, static_i))
            external_aad = encode_bstr(self._th_3) + cred_i.cbor + encode_ead(pt3.ead)
            ok = self._check_signature_or_mac(
                suite, static_i, g_i, pt3.id_cred_i, external_aad, mac3, pt3.signature_or_mac_3
            )
            return prk4e3m if ok else None

        cred_i, prk4e3m = self._authenticate(pt3.id_cred_i, suite, static_i, "message_3", "Signature_or_MAC_3", check)
        th4 = ks.th_4(suite, self._th_3, plaintext_3, cred_i.cbor)
        prkout = ks.prk_out(suite, prk4e3m, th4)
        assert self._c_r is not None
        self._result = EdhocResult(
            Role.RESPONDER,
            method,
            suite,
            self._c_i,
            self._c_r,
            pt3.id_cred_i,
            cred_i,
            th4,
            prkout,
            ks.prk_exporter(suite, prkout),
        )
        self._prk_4e3m, self._th_4 = prk4e3m, th4
        self._y, self._prk_3e2m = None, b""
        self._state = ResponderState.COMPLETED
        return Message3Info(pt3.id_cred_i, cred_i, ead_3)

    # -- message_4 and completion

    def create_message_4(self, *, ead: Sequence[EadItem] = ()) -> bytes:
        """Compose message_4 (section 5.5.2); the session becomes PERSISTED."""
        if self._state is not ResponderState.COMPLETED:
            raise SecureUsageError(f"create_message_4 called in state {self._state.value}")
        ead_4 = _check_ead(ead)
        suite = self._suite
        assert suite is not None
        ciphertext_4 = aead_encrypt(
            suite.aead,
            ks.k_4(suite, self._prk_4e3m, self._th_4),
            ks.iv_4(suite, self._prk_4e3m, self._th_4),
            encode_ead(ead_4),
            enc_structure(self._th_4),
        )
        self._prk_4e3m = b""
        self._state = ResponderState.PERSISTED
        return encode_bstr(ciphertext_4)

    def process_error(self, data: bytes) -> NoReturn:
        """Process an EDHOC error message received at any point after message_1."""
        if self._state in (ResponderState.START, ResponderState.ABORTED, ResponderState.PERSISTED):
            raise OutOfOrderMessage(f"error message not expected in state {self._state.value}")
        self._peer_error(bytes(data), "the next message")

    def confirm(self) -> None:
        """Mark the session PERSISTED without sending message_4."""
        if self._state is not ResponderState.COMPLETED:
            raise SecureUsageError(f"confirm called in state {self._state.value}")
        self._prk_4e3m = b""
        self._state = ResponderState.PERSISTED
