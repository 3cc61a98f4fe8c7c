"""Exception hierarchy of the ``echonet`` package.

One root, :class:`EchonetError`, split by fault:

* :class:`EchonetUsageError` (also a :class:`ValueError`): the caller misused the API locally, e.g. asked to encode
  a frame whose EDT is longer than 255 bytes or a value outside a property's range.
* :class:`FrameDecodeError`: bytes from the network are not a well-formed ECHONET Lite frame. It is the *only*
  exception :func:`echonet.decode` raises, and it carries the byte offset of the offending field.
* :class:`ValueDecodeError`: a property value (EDT) from the network does not fit its definition.
* :class:`EchonetTimeoutError` (also a :class:`TimeoutError`): a request to a peer got no answer in time.
* :class:`MissingExtraError` (an :class:`EchonetUsageError`): something needs an optional package that is not
  installed; :func:`require_extra` raises it, naming the extra to install.
"""

from __future__ import annotations

import importlib.util
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .frame import EOJ


class EchonetError(Exception):
    """Root of every exception raised by the ``echonet`` package."""


class EchonetUsageError(EchonetError, ValueError):
    """Local misuse of the API (bad argument, value out of range, frame that cannot be encoded)."""


class MissingExtraError(EchonetUsageError):
    """Something needs an optional package (``module``) that is not installed; ``extra`` is the extra of the
    ``echonet-da`` distribution that installs it and ``what`` says what needs it (``the plot``)."""

    def __init__(self, module: str, extra: str, what: str) -> None:
        super().__init__(f"{what} needs the '{extra}' extra: pip install 'echonet-da[{extra}]'")
        self.module = module
        self.extra = extra
        self.what = what

    def __reduce__(self) -> tuple[type[MissingExtraError], tuple[str, str, str]]:
        return (MissingExtraError, (self.module, self.extra, self.what))


def require_extra(module: str, extra: str, what: str) -> None:
    """Raise :class:`MissingExtraError` unless ``module`` can be imported (looked up, not imported)."""
    try:
        found = importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):  # a parent package missing, or a module set to None in sys.modules
        found = False
    if not found:
        raise MissingExtraError(module, extra, what)


class FrameDecodeError(EchonetError):
    """Bytes that are not a well-formed ECHONET Lite frame.

    ``offset`` is the byte offset where the offending field starts, ``field`` names that field (``ehd1``, ``ehd2``,
    ``tid``, ``seoj``, ``deoj``, ``esv``, ``opc``, ``epc``, ``pdc``, ``edt``, ``opc_get``, ``trailing``, or
    ``datagram`` for an input that cannot be a datagram at all: over 65,535 bytes, or not bytes) and
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
