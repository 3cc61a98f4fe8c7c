"""Exception hierarchy of the secure overlay, rooted at :class:`SecureError`.

Split by fault, as in ``docs/CONVENTIONS.md``:

* :class:`SecureUsageError` - local misuse (bad arguments, calling a method in the wrong state); also a
  :class:`ValueError`.
* :class:`ProtocolError` - remote garbage or a failed protocol run caused by the peer or the network. Decoding
  untrusted bytes only ever raises this family.

Exception messages never contain keys, secrets or decrypted plaintext.
"""

from __future__ import annotations

__all__ = [
    "EdhocError",
    "EdhocPeerError",
    "OutOfOrderMessage",
    "ProtocolError",
    "SecureError",
    "SecureUsageError",
]


class SecureError(Exception):
    """Root of every exception raised by the ``secure`` package."""


class SecureUsageError(SecureError, ValueError):
    """The local application misused the API (wrong argument, wrong state, incompatible key)."""


class ProtocolError(SecureError):
    """Bytes received from the network are malformed, or the protocol run failed because of the peer.

    ``str(exc)`` is a short human-readable text without secrets, suitable for an audit record.
    """


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

    def __init__(self, err_code: int, reason: str, *, err_info: object = None,
                 suites_r: tuple[int, ...] = ()) -> None:
        super().__init__(err_code, reason, reply=None)
        self.err_info = err_info
        self.suites_r = suites_r
