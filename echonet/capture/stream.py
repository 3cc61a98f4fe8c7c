"""The datagrams of a capture decoded one at a time: a plain ECHONET Lite frame, a record of the secure overlay
(opened with a key log when one is given, its inner frame decoded), or a malformed datagram with its reason."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING, NamedTuple

from ..codec import decode
from ..constants import EHD1_ECHONET_LITE, EHD2_SPECIFIED, OVERLAY_EHD1
from ..errors import FrameDecodeError
from ..frame import Frame
from ..pcap import Datagram

if TYPE_CHECKING:  # (the overlay's reader, and with it the secure package, is loaded at the first record only)
    from .overlay import OverlayReader, OverlayRecord

__all__ = [
    "MEMO_SIZE",
    "Decoded",
    "FrameMemo",
    "after_tid",
    "decode_datagram",
    "decode_datagrams",
    "decode_payload",
    "is_overlay",
]

#: Frames a :class:`FrameMemo` remembers (then it decodes the frames it has not seen, without remembering them).
MEMO_SIZE = 8192
_FORMAT_1 = bytes((EHD1_ECHONET_LITE, EHD2_SPECIFIED))
_new = tuple.__new__  # (a Frame with another TID, as Frame._make builds it)


def is_overlay(payload: bytes) -> bool:
    """Whether ``payload`` starts with the overlay's EHD1 (and so is a record, well formed or not)."""
    return len(payload) > 0 and payload[0] == OVERLAY_EHD1


def after_tid(payload: bytes) -> bytes | None:
    """The bytes of a format-1 frame after its TID, which a poll's requests and an unchanged answer share; ``None``
    for any other payload."""
    return payload[4:] if payload[:2] == _FORMAT_1 else None


class FrameMemo:
    """``decode_payload(payload, strict)[0]`` that decodes a frame seen before but for its TID only once (a poll's
    request, an unchanged answer): the frame remembered, with the TID of ``payload``. At most :data:`MEMO_SIZE`
    frames are remembered."""

    def __init__(self, strict: bool = False, size: int = MEMO_SIZE) -> None:
        self.strict = strict
        self.size = size
        self._frames: dict[bytes, Frame] = {}

    def frame(self, payload: bytes) -> Frame:
        """The frame of ``payload``; raises :class:`FrameDecodeError` as :func:`decode_payload` does."""
        key = after_tid(payload) if self.size else None  # (a memo that remembers nothing does not look)
        if key is not None:
            seen = self._frames.get(key)
            if seen is not None:
                return _new(Frame, (seen[0], seen[1], (payload[2] << 8) | payload[3], *seen[3:]))
        frame = decode_payload(payload, self.strict)[0]
        if key is not None and len(self._frames) < self.size:
            self._frames[key] = frame
        return frame


def _plain_reader() -> OverlayReader:
    from .overlay import OverlayReader

    return OverlayReader()


class Decoded(NamedTuple):
    """One datagram as decoded: ``frame`` (``None`` when malformed or a record not opened), the bytes after its
    last property (``trailing``), the ``failure`` of a malformed frame, the ``overlay`` record it came in."""

    datagram: Datagram
    frame: Frame | None
    trailing: bytes
    failure: FrameDecodeError | None
    overlay: OverlayRecord | None


def decode_payload(data: bytes, strict: bool = False) -> tuple[Frame, bytes]:
    """The frame of ``data`` and the bytes after its last property (kept unless ``strict``, as ``echonet decode``
    keeps them); raises :class:`FrameDecodeError` for a malformed frame."""
    try:
        return decode(data), b""
    except FrameDecodeError as exc:
        if strict or exc.field != "trailing":
            raise
        return decode(data[: exc.offset]), data[exc.offset :]


def decode_datagram(dg: Datagram, overlay: OverlayReader | None = None, strict: bool = False) -> Decoded:
    """Decode one datagram; records of the overlay are described (and opened) by ``overlay`` (a reader without keys
    when ``None``)."""
    payload = dg.payload
    record = None
    if is_overlay(payload):
        record = (overlay or _plain_reader()).describe(dg.src, dg.dst, payload)
        if record.plaintext is None:
            return Decoded(dg, None, b"", None, record)
        payload = record.plaintext
    try:
        frame, extra = decode_payload(payload, strict)
    except FrameDecodeError as exc:
        return Decoded(dg, None, b"", exc, record)
    return Decoded(dg, frame, extra, None, record)


def decode_datagrams(
    datagrams: Iterable[Datagram], overlay: OverlayReader | None = None, strict: bool = False
) -> Iterator[Decoded]:
    """:func:`decode_datagram` over ``datagrams``, with one reader for the whole stream (the EDHOC messages are
    named from what came before; made at the first record when ``overlay`` is ``None``)."""
    reader = overlay
    for dg in datagrams:
        if reader is None and is_overlay(dg.payload):
            reader = _plain_reader()
        yield decode_datagram(dg, reader, strict)
