"""Exception hierarchy of the ``echonet`` package.

One root, :class:`EchonetError`, split by fault:

* :class:`EchonetUsageError` (also a :class:`ValueError`): the caller misused the API locally, e.g. asked to encode
  a frame whose EDT is longer than 255 bytes or a value outside a property's range.
* :class:`FrameDecodeError`: bytes from the network are not a well-formed ECHONET Lite frame. It is the *only*
  exception :func:`echonet.decode` raises, and it carries the byte offset of the offending field.
* :class:`ValueDecodeError`: a property value (EDT) from the network does not fit its definition.
* :class:`EchonetTimeoutError` (also a :class:`TimeoutError`): a request to a peer got no answer in time.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .frame import EOJ


class EchonetError(Exception):
    """Root of every exception raised by the ``echonet`` package."""


class EchonetUsageError(EchonetError, ValueError):
    """Local misuse of the API (bad argument, value out of range, frame that cannot be encoded)."""


class FrameDecodeError(EchonetError):
    """Bytes that are not a well-formed ECHONET Lite frame.

    ``offset`` is the byte offset where the offending field starts, ``field`` names that field (``ehd1``, ``ehd2``,
    ``tid``, ``seoj``, ``deoj``, ``esv``, ``opc``, ``epc``, ``pdc``, ``edt``, ``opc_get``, ``trailing``) and
    ``reason`` says what is wrong in words.
    """

    def __init__(self, offset: int, field: str, reason: str) -> None:
        super().__init__(f"offset {offset}: {reason}")
        self.offset = offset
        self.field = field
        self.reason = reason

    def __reduce__(self) -> tuple[type[FrameDecodeError], tuple[int, str, str]]:
        return (FrameDecodeError, (self.offset, self.field, self.reason))


class ValueDecodeError(EchonetError):
    """A property value (EDT) that does not fit its definition; ``offset`` is relative to the EDT."""

    def __init__(self, reason: str, offset: int = 0) -> None:
        super().__init__(reason if not offset else f"EDT offset {offset}: {reason}")
        self.reason = reason
        self.offset = offset


class CaptureError(EchonetError):
    """A capture file that cannot be read (missing, not pcap/pcapng)."""


class EchonetTimeoutError(EchonetError, TimeoutError):
    """A request got no answer within its timeout, retries included.

    ``addr`` is the peer's socket address, ``eoj`` the object asked, ``esv`` the request's ESV and ``attempts`` how
    many times it was sent.
    """

    def __init__(self, addr: tuple[Any, ...], eoj: EOJ, esv: int, attempts: int) -> None:
        super().__init__(
            f"no answer from {addr[0]} port {addr[1]} ({eoj}, ESV 0x{esv:02X}) after {attempts} attempt(s)"
        )
        self.addr = addr
        self.eoj = eoj
        self.esv = esv
        self.attempts = attempts

    def __reduce__(self) -> tuple[type[EchonetTimeoutError], tuple[tuple[Any, ...], EOJ, int, int]]:
        return (EchonetTimeoutError, (self.addr, self.eoj, self.esv, self.attempts))
