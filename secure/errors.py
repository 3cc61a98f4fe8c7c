"""Every exception of the secure overlay, rooted at :class:`SecureError`.

Split by fault, as :mod:`echonet.errors` is (see ``docs/CONVENTIONS.md``):

* :class:`SecureUsageError` (also a :class:`ValueError`): the local application or operator misused the API or its
  files: bad arguments, a method called in the wrong state, an unsafe or corrupt local file
  (:class:`StoreError`, :class:`SequenceStoreError`, :class:`AuditError`), a sender key used past its limits
  (:class:`SenderKeyLimitError`).
* :class:`ProtocolError`: bytes from the network are malformed, or a protocol run failed because of the peer:
  CBOR (:class:`CborError`), EDHOC (:class:`EdhocError`, :class:`OutOfOrderMessage`), a peer's certificate or
  credential (:class:`CertificateError`, :class:`CredentialRejectedError`), records (:class:`RecordError` and its
  subclasses, :class:`RecipientKeyLimitError`). Decoding untrusted bytes only ever raises this family.
* :class:`KeyLimitError` is the common root of the two key-limit errors, one of each kind.
* :class:`PolicyDeniedError` and :class:`SecureSessionError` are what a request through the secured controller
  ends with instead of an answer; they are also :class:`~echonet.errors.EchonetError`, so a caller of
  :class:`echonet.aio.Controller` who catches the echonet's errors sees them too.

Advice: an error that can say what to do about it (run a command, change a file's mode, classify a device) keeps
that advice apart from what went wrong: :meth:`SecureError.extra_help` returns the advice alone (``None`` when there
is none) and :attr:`SecureError.problem` the message without it, for a front end that shows them apart (as
aiocoap's ``Error.extra_help`` does). ``str(exc)`` is the two joined, as users have always read them.

Exception messages never contain keys, secrets or decrypted plaintext.
"""

from __future__ import annotations

import enum
from typing import TYPE_CHECKING

from echonet.errors import EchonetError

if TYPE_CHECKING:
    from secure.policy.rules import Decision

__all__ = [
    "AuditError",
    "CborError",
    "CertificateError",
    "ConfirmationError",
    "CredentialRejectedError",
    "EdhocError",
    "EdhocPeerError",
    "InsecurePermissionsError",
    "IntegrityError",
    "KeyLimitError",
    "MalformedRecordError",
    "OutOfOrderMessage",
    "PairingLockedError",
    "PolicyDeniedError",
    "ProtocolError",
    "RecipientKeyLimitError",
    "RecordError",
    "RejectReason",
    "ReplayError",
    "SecretFieldError",
    "SecureError",
    "SecureSessionError",
    "SecureUsageError",
    "SenderKeyLimitError",
    "SequenceExhaustedError",
    "SequenceStoreError",
    "StoreError",
]


# ------------------------------------------------------------------------------------------------------ roots


class SecureError(Exception):
    """Root of every exception raised by the ``secure`` package.

    ``advice``: what to do about the error, kept apart from the message (see the module documentation); ``form``
    joins the two into ``str(exc)``.
    """

    advice: str | None = None
    _problem: str | None = None

    def __init__(self, *args: object, advice: str | None = None, form: str = "{problem}; {advice}") -> None:
        if advice is None:
            super().__init__(*args)
            return
        if len(args) != 1:
            raise TypeError("an error with advice takes exactly one message")
        self._problem = str(args[0])
        self.advice = advice
        super().__init__(form.format(problem=self._problem, advice=advice))

    @property
    def problem(self) -> str:
        """What went wrong, without the advice (``str(exc)`` when there is no advice)."""
        return str(self) if self._problem is None else self._problem

    def extra_help(self) -> str | None:
        """What to do about the error, on its own; ``None`` when the error has no advice."""
        return self.advice


class SecureUsageError(SecureError, ValueError):
    """The local application misused the API (wrong argument, wrong state, incompatible key)."""


class ProtocolError(SecureError):
    """Bytes received from the network are malformed, or the protocol run failed because of the peer.

    ``str(exc)`` is a short human-readable text without secrets, suitable for an audit record.
    """


# ------------------------------------------------------------------------------------------ local files (usage)


class StoreError(SecureUsageError):
    """A local file is missing, unreadable, corrupt or not where it should be."""


class InsecurePermissionsError(StoreError):
    """A private file is accessible by group or others, or owned by someone else."""


class AuditError(SecureUsageError):
    """The audit log cannot be written as asked (bad event, unsafe fields, corrupt tail)."""


class SecretFieldError(AuditError):
    """A field looks like a secret or plaintext and was refused; nothing was written."""


class SequenceExhaustedError(SecureUsageError):
    """No sequence number is left below the limit: the security context must be replaced (new handshake)."""


class SequenceStoreError(SecureUsageError):
    """The store file is unreadable, corrupt, in use by another process, or could not be written."""


# ------------------------------------------------------------------------------------------------ handshake


class CborError(ProtocolError):
    """Received bytes are not well-formed deterministic CBOR (or do not match the expected structure)."""


class OutOfOrderMessage(ProtocolError):
    """A message arrived that the session does not expect in its current state (duplicate or reordered).

    The session state is left unchanged, so a retransmitted duplicate does not abort a healthy session.
    """


class EdhocError(ProtocolError):
    """An EDHOC session was aborted (RFC 9528 section 6).

    ``err_code`` is the EDHOC ERR_CODE (1 unspecified, 2 wrong selected cipher suite, 3 unknown credential
    referenced). ``reply`` holds the encoded EDHOC error message the local endpoint should send back to the
    peer, or ``None`` when nothing may be sent (for instance after receiving an error message).
    """

    def __init__(self, err_code: int, reason: str, *, reply: bytes | None = None) -> None:
        super().__init__(reason)
        self.err_code = err_code
        self.reason = reason
        self.reply = reply


class EdhocPeerError(EdhocError):
    """The peer sent an EDHOC error message; the session is aborted and no error may be sent back.

    ``err_info`` is the decoded ERR_INFO (a text string for code 1, the suites for code 2, ``True`` for 3).
    ``suites_r`` is set for ERR_CODE 2 (wrong selected cipher suite), as a tuple of suite labels.
    """

    def __init__(self, err_code: int, reason: str, *, err_info: object = None, suites_r: tuple[int, ...] = ()) -> None:
        super().__init__(err_code, reason, reply=None)
        self.err_info = err_info
        self.suites_r = suites_r


# ---------------------------------------------------------------------------------------------------- trust


class CertificateError(ProtocolError):
    """A certificate, chain or CRL is unacceptable. ``reason`` is a short machine-readable word.

    Reasons: malformed, bad_key, bad_signature, untrusted_root, expired, not_yet_valid, not_a_ca,
    leaf_is_ca, path_length, key_usage, unknown_critical_extension, binding, binding_mismatch, wrong_role,
    maker_constraint, revoked, crl_bad_signature, crl_stale, crl_missing.
    """

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


class CredentialRejectedError(ProtocolError):
    """A peer verifier (:mod:`secure.trust.verifiers`) refused the peer's credential: not the kind it accepts,
    unparsable, not on the allow-list, or revoked there. (A chain that does not validate raises
    :class:`CertificateError` instead.)"""


class ConfirmationError(ProtocolError):
    """The peer's SPAKE2+ key confirmation does not verify (:mod:`secure.handshake.spake2plus`): a wrong setup code,
    or a man in the middle."""


class PairingLockedError(ProtocolError):
    """The device is not in setup mode (:mod:`secure.trust.onboarding`): already paired, or it left setup mode after
    too many wrong codes."""


# -------------------------------------------------------------------------------------------------- records


class RejectReason(enum.StrEnum):
    """Why a received datagram was dropped; stable strings for "dropped" events and audit records."""

    MALFORMED = "malformed"
    WRONG_KID = "wrong-kid"
    REPLAY = "replay"
    TOO_OLD = "too-old"
    INTEGRITY = "integrity"
    KEY_LIMIT = "key-limit"
    EXPIRED = "expired"


class RecordError(ProtocolError):
    """A received record was rejected.  ``reason`` says why; the message never contains key material."""

    default_reason: RejectReason = RejectReason.MALFORMED

    def __init__(self, detail: str, reason: RejectReason | None = None) -> None:
        self.reason: RejectReason = self.default_reason if reason is None else reason
        self.detail = detail
        super().__init__(f"{self.reason.value}: {detail}")


class MalformedRecordError(RecordError):
    """The datagram does not parse as a record of this format (or carries a kid for another context)."""

    default_reason = RejectReason.MALFORMED


class ReplayError(RecordError):
    """The partial IV was already accepted (``replay``) or lies left of the replay window (``too-old``)."""

    default_reason = RejectReason.REPLAY


class IntegrityError(RecordError):
    """The AEAD tag did not verify: forged, corrupted or protected under another key."""

    default_reason = RejectReason.INTEGRITY


class KeyLimitError(SecureError):
    """The key may no longer be used (usage limit reached, context expired or sequence numbers exhausted)."""


class SenderKeyLimitError(KeyLimitError, SecureUsageError):
    """:meth:`SecurityContext.protect` refused: the caller should have rekeyed (see ``needs_rekey``)."""


class RecipientKeyLimitError(KeyLimitError, RecordError):
    """:meth:`SecurityContext.unprotect` refused: the record is dropped; a new handshake is needed."""

    default_reason = RejectReason.KEY_LIMIT


# --------------------------------------------------------------------------------------- secured requests


class PolicyDeniedError(SecureError, EchonetError):
    """The policy refuses this request (for instance a write to a legacy device without consent)."""

    def __init__(self, decision: Decision) -> None:
        super().__init__(f"policy denies {decision.direction.value} request to {decision.peer}: {decision.reason}")
        self.decision = decision


class SecureSessionError(SecureError, EchonetError):
    """A request got no answer because no secure session could be set up with the peer (the handshake failed or
    went unanswered, or the identity cross-check failed). ``reason`` is the layer's last failure for the peer, as
    far as it knows it (what came back from the device, what the device said); ``advice`` fits that reason (the
    layer's :attr:`~secure.layer.core.SecureLayer.failure_advice`): only a handshake that got no answer at all
    points at legacy devices."""

    ADVICE = "see the audit logs of both sides"

    def __init__(self, peer: str, reason: str, advice: str | None = None) -> None:
        super().__init__(
            f"no secure session with {peer}: {reason}", advice=advice or self.ADVICE, form="{problem} ({advice})"
        )
        self.peer = peer
        self.reason = reason
