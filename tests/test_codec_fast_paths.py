"""The codec's fast paths for SetGet frames, for encoding and for Frame.make agree with the construct declaration
(the oracle) and with the field-by-field code they replaced, on every frame and every damaged datagram."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from echonet import EHD2, EOJ, EchonetUsageError, Frame, FrameDecodeError, Property, decode, encode
from echonet.frame import ESV_BY_CODE, SETGET_CODES
from echonet.wire import reference_decode, reference_encode

from .strategies import eojs, properties

setget_frames = st.builds(
    Frame.make,
    st.integers(0, 0xFFFF),
    eojs,
    eojs,
    st.sampled_from(sorted(SETGET_CODES)),
    st.lists(properties, max_size=40),
    st.lists(properties, max_size=40),
)
plain_frames = st.builds(
    Frame.make,
    st.integers(0, 0xFFFF),
    eojs,
    eojs,
    st.integers(0, 255).filter(lambda esv: esv not in SETGET_CODES),
    st.lists(properties, max_size=40),
)


def _outcome(data: bytes) -> object:
    try:
        return decode(data)
    except FrameDecodeError as exc:
        return ("error", exc.offset, exc.field, exc.reason)


def _reference_outcome(data: bytes) -> object:
    try:
        return reference_decode(data)
    except FrameDecodeError as exc:
        return ("error", exc.offset, exc.field)


@given(setget_frames)
def test_setget_frames_decode_and_encode_as_the_oracle(frame: Frame) -> None:
    data = encode(frame)
    assert data == reference_encode(frame)
    assert decode(data) == frame == reference_decode(data)


@given(setget_frames, st.data())
def test_damaged_setget_frames_fail_as_the_oracle(frame: Frame, data: st.DataObject) -> None:
    datagram = encode(frame)
    cut = data.draw(st.integers(0, len(datagram)))
    for damaged in (datagram[:cut], datagram + b"\x00", datagram[:cut] + b"\xff" + datagram[cut + 1 :]):
        outcome = _outcome(damaged)
        expected = _reference_outcome(damaged)
        assert (outcome if isinstance(outcome, Frame) else outcome[:3]) == expected  # type: ignore[index]


@given(plain_frames)
def test_frames_of_every_size_encode_as_the_oracle(frame: Frame) -> None:
    assert encode(frame) == reference_encode(frame)
    assert decode(encode(frame)) == frame


@pytest.mark.parametrize(
    ("props", "gets", "esv"),
    [
        ([Property(0x80, "text")], [], 0x72),  # type: ignore[arg-type]  # an EDT that is not bytes
        ([Property(0x80, bytes(256))], [], 0x72),
        ([Property(0x100, b"\x30")], [], 0x72),
        ([Property(0x80, b"\x30")] * 256, [], 0x72),
        ([], [Property(0x80, b"")], 0x72),  # get_properties outside SetGet
        ([], [Property(0x80, bytes(256))], 0x6E),
        ([], [Property(0x80, b"")] * 256, 0x6E),
        ([], [Property(-1, b"")], 0x6E),
    ],
)
def test_frames_that_do_not_fit_are_usage_errors(props: list[Property], gets: list[Property], esv: int) -> None:
    frame = Frame(0x10, EHD2.SPECIFIED, 1, EOJ(5, 0xFF, 1), EOJ(2, 0x7D, 1), esv, tuple(props), tuple(gets), None)
    with pytest.raises(EchonetUsageError):
        encode(frame)


@given(st.integers(0, 0xFFFF), eojs, eojs, st.integers(0, 255), st.lists(properties, max_size=4), st.data())
def test_frame_make_is_the_constructor(
    tid: int, seoj: EOJ, deoj: EOJ, esv: int, props: list[Property], data: st.DataObject
) -> None:
    gets = data.draw(st.lists(properties, max_size=3))
    for given_props, given_gets in ((props, gets), (tuple(props), tuple(gets))):
        made = Frame.make(tid, seoj, deoj, esv, given_props, given_gets)
        expected = Frame(0x10, EHD2.SPECIFIED, tid, seoj, deoj, ESV_BY_CODE.get(esv, esv), tuple(props), tuple(gets))
        assert made == expected
        assert type(made) is Frame and type(made.properties) is tuple and type(made.get_properties) is tuple
        assert type(made.esv) is type(expected.esv) and made.ehd2 is EHD2.SPECIFIED
