"""`echonet.decode` raises FrameDecodeError and nothing else for every input, absurd sizes and types included: what
is longer than a datagram (65,535 bytes) is refused before anything is copied, what is not bytes-like is refused."""

from __future__ import annotations

import array
import mmap
import tempfile
import tracemalloc

import pytest

from echonet import FrameDecodeError, decode, encode
from echonet.codec import MAX_DATAGRAM
from echonet.frame import EOJ, ESV, Frame, Property

GET = bytes.fromhex("1081000105ff010ef0016201d600")


def refused(data: object) -> FrameDecodeError:
    with pytest.raises(FrameDecodeError) as caught:
        decode(data)  # type: ignore[arg-type]  # (the point: anything may be passed)
    return caught.value


@pytest.mark.parametrize("value", [2**40, 5, 0, -1, 3.5, "1081", None, [16, 129], object(), {"a": 1}])
def test_what_is_not_bytes_like_is_refused_at_offset_0(value: object) -> None:
    error = refused(value)
    assert (error.offset, error.field) == (0, "ehd1") and error.reason == f"not bytes: {type(value).__name__}"


def test_a_count_of_2_to_the_40_is_not_taken_for_that_many_zero_bytes() -> None:
    # Before: bytes(2**40), a MemoryError.
    tracemalloc.start()
    try:
        refused(2**40)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 1 << 20


@pytest.mark.parametrize("kind", [bytes, bytearray, memoryview])
def test_longer_than_a_datagram_is_refused_at_offset_65535(kind: type) -> None:
    error = refused(kind(GET + bytes(MAX_DATAGRAM)))
    assert (error.offset, error.field) == (65535, "datagram")
    assert error.reason == f"{len(GET) + MAX_DATAGRAM} bytes: longer than the largest datagram (65535 bytes)"


def test_a_terabyte_mapping_is_refused_without_being_read() -> None:
    with tempfile.TemporaryFile() as backing:
        backing.truncate(1 << 40)  # sparse: nothing is written
        with mmap.mmap(backing.fileno(), 1 << 40, access=mmap.ACCESS_READ) as mapped:
            tracemalloc.start()
            try:
                error = refused(mapped)
                _, peak = tracemalloc.get_traced_memory()
            finally:
                tracemalloc.stop()
    assert (error.offset, error.field) == (65535, "datagram") and peak < 1 << 20


def test_exactly_a_datagram_long_is_decoded_as_any_other_input() -> None:
    frame = Frame(
        0x10, 0x81, 1, EOJ(0x05, 0xFF, 1), EOJ(0x02, 0x7D, 1), ESV.GET_RES, (Property(0xF0, bytes(255)),) * 240
    )
    data = encode(frame)
    padding = MAX_DATAGRAM - len(data)
    error = refused(data + bytes(padding))
    assert (error.offset, error.field) == (len(data), "trailing")  # the codec's own verdict, not the size guard
    assert decode(data) == frame


def test_a_frame_of_255_full_properties_does_not_fit_a_datagram_and_is_refused() -> None:
    frame = Frame(
        0x10, 0x81, 1, EOJ(0x05, 0xFF, 1), EOJ(0x02, 0x7D, 1), ESV.GET_RES, (Property(0xF0, bytes(255)),) * 255
    )
    data = encode(frame)
    assert len(data) == 12 + 255 * 257 > MAX_DATAGRAM
    assert refused(data).field == "datagram"


def test_bytes_like_inputs_decode_as_their_bytes() -> None:
    expected = decode(GET)
    for data in (bytearray(GET), memoryview(GET), memoryview(b"xx" + GET)[2:]):
        assert decode(data) == expected
    assert decode(array.array("B", GET)) == expected  # type: ignore[arg-type]  # any buffer of bytes
    released = memoryview(GET)
    released.release()
    assert refused(released).field == "ehd1"
