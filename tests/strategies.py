"""Hypothesis strategies for ECHONET Lite frames and byte strings near them."""

from __future__ import annotations

from hypothesis import strategies as st

from echonet import EOJ, Frame, Property, encode
from echonet.frame import ESV, SETGET_CODES

eojs = st.builds(EOJ, st.integers(0, 255), st.integers(0, 255), st.integers(0, 255))
properties = st.builds(Property, st.integers(0, 255), st.binary(max_size=24))
esv_codes = st.one_of(st.sampled_from([int(e) for e in ESV]), st.integers(0, 255))


@st.composite
def frames(draw: st.DrawFn) -> Frame:
    if draw(st.integers(0, 9)) == 0:
        return Frame.arbitrary(draw(st.integers(0, 0xFFFF)), draw(st.binary(max_size=40)))
    esv = draw(esv_codes)
    props = draw(st.lists(properties, max_size=8))
    get_props = draw(st.lists(properties, max_size=4)) if esv in SETGET_CODES else []
    return Frame.make(draw(st.integers(0, 0xFFFF)), draw(eojs), draw(eojs), esv, props, get_props)


@st.composite
def near_frames(draw: st.DrawFn) -> bytes:
    """Valid frames damaged in the ways the network damages them: cut, extended, bytes flipped or inserted."""
    data = bytearray(encode(draw(frames())))
    for _ in range(draw(st.integers(0, 3))):
        op = draw(st.sampled_from(["cut", "extend", "flip", "insert", "delete"]))
        if op == "cut" and data:
            del data[draw(st.integers(0, len(data) - 1)) :]
        elif op == "extend":
            data += draw(st.binary(min_size=1, max_size=4))
        elif op == "flip" and data:
            data[draw(st.integers(0, len(data) - 1))] = draw(st.integers(0, 255))
        elif op == "insert":
            data.insert(draw(st.integers(0, len(data))), draw(st.integers(0, 255)))
        elif op == "delete" and data:
            del data[draw(st.integers(0, len(data) - 1))]
    return bytes(data)


any_bytes = st.one_of(
    st.binary(max_size=64), near_frames(), st.binary(min_size=1, max_size=40).map(lambda b: b"\x10\x81" + b)
)
