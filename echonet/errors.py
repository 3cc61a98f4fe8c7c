"""Exception hierarchy of the ``echonet`` package.

One root, :class:`EchonetError`, split by fault:

* :class:`EchonetUsageError` (also a :class:`ValueError`): the caller misused the API locally, e.g. asked to encode
  a frame whose EDT is longer than 255 bytes or a value outside a property's range.
* :class:`FrameDecodeError`: bytes from the network are not a well-formed ECHONET Lite frame. It is the *only*
  exception :func:`echonet.decode` raises, and it carries the byte offset of the offending field.
* :class:`ValueDecodeError`: a property value (EDT) from the network does not fit its definition.
"""

from __future__ import annotations


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
