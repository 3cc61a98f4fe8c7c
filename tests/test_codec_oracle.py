"""The fast codec and the construct declaration (the oracle) agree on every frame and every malformed input."""

from __future__ import annotations

from hypothesis import example, given

from echonet import Frame, FrameDecodeError, decode, encode
from echonet.wire import reference_decode, reference_encode

from .strategies import any_bytes, frames


def _outcome(fn: object, data: bytes) -> object:
    try:
        return fn(data)  # type: ignore[operator]
    except FrameDecodeError as exc:
        return ("error", exc.offset, exc.field)


@given(frames())
def test_fast_encode_matches_construct_build_and_round_trips(frame: Frame) -> None:
    data = encode(frame)
    assert data == reference_encode(frame)
    assert decode(data) == frame
    assert reference_decode(data) == frame


@given(any_bytes)
@example(b"")
@example(b"\x10")
@example(b"\x10\x81\x00")
@example(bytes.fromhex("1081000105ff010ef0016201d6"))
@example(bytes.fromhex("1081000105ff010ef0016e01d600"))
@example(bytes.fromhex("1081000105ff010ef0016e0080"))
def test_fast_decode_agrees_with_construct_on_any_bytes(data: bytes) -> None:
    assert _outcome(decode, data) == _outcome(reference_decode, data)


@given(any_bytes)
def test_decode_raises_nothing_but_frame_decode_error(data: bytes) -> None:
    try:
        frame = decode(data)
    except FrameDecodeError as exc:
        assert 0 <= exc.offset <= len(data)
        assert exc.reason
    else:
        assert isinstance(frame, Frame)
        assert encode(frame) == data


@given(any_bytes)
def test_decode_accepts_bytearray_and_memoryview_like_bytes(data: bytes) -> None:
    expected = _outcome(decode, data)
    assert _outcome(decode, bytearray(data)) == expected
    assert _outcome(decode, memoryview(data)) == expected
