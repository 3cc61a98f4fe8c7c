"""The compiled typed decoders and renderers equal the table-driven ones, over the built-in and the MRA tables.

* ``Registry.decode_value`` (compiled per class and EPC) equals ``Registry.reference_decode_value`` (the tables,
  object by object) on every EDT: values, special codes, invalid EDTs with their reasons, coefficients with and
  without the other EDTs at hand; exhaustively for every one-byte EDT of the built-in tables, by hypothesis for the
  rest and for the MRA tables (skipped where ../shared/mra is absent).
* ``Registry.decode_frame`` (layouts compiled once seen repeatedly) equals the codec followed by the reference
  decoder property by property, for frames made of the tables' properties, and fails exactly as the codec does.
* ``frame_json_text`` and ``frame_text`` equal ``json.dumps(frame_json(...))`` and ``frame_lines``; the capture
  records equal what ``echonet decode --pcap`` prints, JSON and text.
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Iterable
from functools import cache
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from echonet import EOJ, Frame, FrameDecodeError, Property, decode, encode
from echonet.cli import main
from echonet.describe import (
    capture_record,
    capture_record_json,
    capture_record_text,
    capture_time_json,
    capture_time_text,
    frame_json,
    frame_json_text,
    frame_lines,
    frame_text,
    owner_of_properties,
)
from echonet.frame import ESV, SETGET_CODES
from echonet.pcap import Datagram, iter_datagrams, write_capture
from echonet.spec import compiled
from echonet.spec.mra import load_mra
from echonet.spec.registry import DecodedValue, Registry, builtin_registry
from echonet.spec.types import (
    Array,
    Bitmap,
    Date,
    DateTime,
    Enum,
    Level,
    Number,
    NumericCode,
    Object,
    OneOf,
    Text,
    Time,
    ValueType,
)

from .conftest import mra_dir
from .strategies import any_bytes

_dumps = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode


@cache
def _tables(name: str) -> tuple[Registry, list[tuple[int, int]]]:
    registry = builtin_registry()
    if name == "mra":
        registry = registry.with_appendix(load_mra(mra_dir()))
    pairs = [(cls.class_id, epc) for cls in registry for epc in registry.properties(cls.class_id)]
    return registry, pairs


def tables(name: str) -> tuple[Registry, list[tuple[int, int]]]:
    """The registry (``builtin`` or with the MRA tables) and every (class, EPC) it defines; a fresh registry each
    time, so that nothing compiled by an earlier example is reused."""
    registry, pairs = _tables(name)
    return Registry(list(registry)), pairs


TABLES = ["builtin", "mra"]


# EDTs near the values of a type ---------------------------------------------------------------------------------


def _sized(lo: int, hi: int) -> st.SearchStrategy[bytes]:
    sizes = sorted({max(lo - 1, 0), lo, hi, min(hi + 1, 255), min(lo + 1, hi)})
    return st.sampled_from(sizes).flatmap(lambda n: st.binary(min_size=n, max_size=n))


def near(t: ValueType) -> st.SearchStrategy[bytes]:
    """EDTs a type reads as values, special codes and codes, the ones just outside, and bytes of sizes near it."""
    options: list[st.SearchStrategy[bytes]] = [_sized(t.min_size, min(t.max_size, 40))]
    codes = compiled.table_edts(t)
    if codes:
        options.append(st.sampled_from(codes))
    if isinstance(t, Number):
        size, signed = t.min_size, t.signed
        lowest, highest, lo, hi = compiled.number_bounds(t)
        raws = st.one_of(
            st.integers(lo, hi),
            st.sampled_from([lo - 1, lo, hi, hi + 1, lowest, highest, highest - 1]),
        ).filter(lambda r: lowest <= r <= highest)
        options.append(raws.map(lambda r: r.to_bytes(size, "big", signed=signed)))
    elif isinstance(t, OneOf):
        options += [near(o) for o in t.options]
    elif isinstance(t, Object):
        options.append(st.tuples(*(near(f.type) for f in t.fields)).map(b"".join))
    elif isinstance(t, Array):
        item = near(t.item).filter(lambda b: len(b) == t.item_size)
        options.append(st.lists(item, max_size=min(t.max_items, 6)).map(b"".join))
    elif isinstance(t, Time):
        options.append(st.lists(st.integers(0, 62), min_size=t.size, max_size=t.size).map(bytes))
    elif isinstance(t, Date | DateTime):
        year = st.integers(1999, 2101).map(lambda y: y.to_bytes(2, "big"))
        rest = st.lists(st.integers(0, 32), min_size=t.size - 2, max_size=t.size - 2).map(bytes)
        options.append(st.tuples(year, rest).map(b"".join))
    elif isinstance(t, Text):
        text = st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=t.max_len)
        options.append(text.map(lambda s: s.encode().ljust(t.min_len, b"\0")))
    elif isinstance(t, Bitmap | Enum | Level | NumericCode):
        options.append(st.binary(min_size=t.min_size, max_size=t.min_size))
    return st.one_of(options)


def _edt_of(registry: Registry, class_id: int, epc: int) -> st.SearchStrategy[bytes]:
    definition = registry.property(class_id, epc)
    return _sized(0, 8) if definition is None else near(definition.type)


@st.composite
def _others(draw: st.DrawFn, registry: Registry, class_id: int, epc: int) -> dict[int, bytes] | None:
    """The other EDTs at hand: none, or some of the coefficient properties (valid or not) and others."""
    definition = registry.property(class_id, epc)
    if draw(st.integers(0, 4)) == 0:
        return None
    out: dict[int, bytes] = {}
    for other in definition.coefficients if definition is not None else ():
        if draw(st.integers(0, 3)):
            out[other] = draw(_edt_of(registry, class_id, other))
    if draw(st.booleans()):
        out[draw(st.integers(0, 255))] = draw(st.binary(max_size=4))
    return out


# Values ---------------------------------------------------------------------------------------------------------


def test_every_one_byte_edt_of_the_builtin_tables_decodes_as_the_reference() -> None:
    registry, pairs = tables("builtin")
    checked = 0
    for class_id, epc in pairs:
        definition = registry.property(class_id, epc)
        assert definition is not None
        if definition.type.min_size > 1 or definition.type.max_size < 1:
            continue
        for byte in range(256):
            edt = bytes((byte,))
            assert registry.decode_value(class_id, epc, edt) == registry.reference_decode_value(class_id, epc, edt)
            checked += 1
    assert checked > 10_000


@pytest.mark.parametrize("name", TABLES)
@given(data=st.data())
@settings(max_examples=600)
def test_compiled_decode_value_equals_the_tables(name: str, data: st.DataObject) -> None:
    registry, pairs = tables(name)
    class_id, epc = data.draw(st.sampled_from(pairs))
    edts = data.draw(st.lists(_edt_of(registry, class_id, epc), min_size=1, max_size=4))
    others = data.draw(_others(registry, class_id, epc))
    for edt in edts:  # the same decoder several times (compiled at the first)
        fast = registry.decode_value(class_id, epc, edt, others)
        assert fast == registry.reference_decode_value(class_id, epc, edt, others)
        assert type(fast) is DecodedValue
        assert type(fast.value) is type(registry.reference_decode_value(class_id, epc, edt, others).value)


@pytest.mark.parametrize("name", TABLES)
@given(data=st.data())
def test_undefined_epcs_and_unknown_classes_decode_as_the_reference(name: str, data: st.DataObject) -> None:
    registry, _pairs = tables(name)
    class_id = data.draw(st.one_of(st.integers(0, 0xFFFF), st.just(-1)))
    epc = data.draw(st.integers(0, 255))
    edt = data.draw(st.binary(max_size=20))
    assert registry.decode_value(class_id, epc, edt) == registry.reference_decode_value(class_id, epc, edt)


def test_values_of_bytes_like_edts_are_the_reference_ones() -> None:
    registry, _ = tables("builtin")
    for edt in (bytearray(b"\x00\x00\x13\x88"), memoryview(b"\x00\x00\x13\x88")):
        assert registry.decode_value(0x027D, 0xE2, edt) == registry.reference_decode_value(0x027D, 0xE2, edt)


def test_unknown_classes_share_their_decoders() -> None:
    registry, _ = tables("builtin")
    assert registry.decoders(0x0299) is registry.decoders(0x0298)  # device groups: the super class's properties
    assert registry.decoders(0x0F01) is registry.decoders(0x0F02)  # no properties
    assert registry.decoders(0x027D) is not registry.decoders(0x0299)


def test_special_codes_invalid_edts_and_coefficients_keep_their_form() -> None:
    registry, _ = tables("builtin")
    special = registry.decode_value(0x027D, 0xE2, bytes.fromhex("ffffffff"))
    assert special.special and special.value == "overflow" and special.value.code == 0xFFFFFFFF
    invalid = registry.decode_value(0x027D, 0xE4, b"\x65")
    assert not invalid.valid and invalid.error == "out of range 0-100 %" and invalid.value == b"\x65"
    assert registry.decode_value(0x027D, 0xDA, b"\x42").value == "charging"


# Frames ---------------------------------------------------------------------------------------------------------

ESVS = [ESV.GET_RES, ESV.INF, ESV.GET, ESV.SETC, ESV.SET_RES, ESV.GET_SNA, ESV.SETGET, ESV.SETGET_RES, ESV.INF_REQ]


@st.composite
def table_frames(draw: st.DrawFn, registry: Registry, pairs: list[tuple[int, int]]) -> Frame:
    """Frames about an object of the tables (or of no table), whose properties are mostly the class's own."""
    class_id = draw(st.one_of(st.sampled_from(sorted({c for c, _ in pairs})), st.integers(0, 0xFFFF)))
    epcs = sorted(registry.properties(class_id)) or [0x80]
    eoj = EOJ.of(class_id, draw(st.integers(1, 3)))
    esv = draw(st.one_of(st.sampled_from(ESVS), st.integers(0x50, 0x7F)))
    other = EOJ(0x05, 0xFF, 0x01)
    seoj, deoj = (other, eoj) if 0x60 <= esv <= 0x6F else (eoj, other)

    def props(size: int) -> list[Property]:
        out = []
        for _ in range(draw(st.integers(0, size))):
            epc = draw(st.one_of(st.sampled_from(epcs), st.integers(0, 255)))
            empty = esv in (ESV.GET, ESV.INF_REQ, ESV.SET_RES) or draw(st.integers(0, 9)) == 0
            out.append(Property(epc, b"" if empty else draw(_edt_of(registry, class_id, epc))))
        return out

    sets = props(6)
    gets = props(3) if esv in SETGET_CODES else []
    return Frame.make(draw(st.integers(0, 0xFFFF)), seoj, deoj, esv, sets, gets)


def reference_typed(registry: Registry, frame: Frame) -> tuple[list[DecodedValue], list[DecodedValue]]:
    """describe.decode_properties through the reference decoder: every property of each half, the whole frame at
    hand for coefficients."""
    owner = owner_of_properties(frame)
    class_id = owner.class_id if owner is not None else -1

    def half(props: Iterable[Property], others: Iterable[Property]) -> list[DecodedValue]:
        props, others = list(props), list(others)
        context = None
        out = []
        for p in props:
            definition = registry.property(class_id, p.epc)
            if not p.edt:
                out.append(DecodedValue(p.epc, p.edt, definition, None))
                continue
            if context is None and definition is not None and definition.coefficients:
                context = {q.epc: q.edt for q in (*props, *others) if q.edt}
            out.append(registry.reference_decode_value(class_id, p.epc, p.edt, context))
        return out

    return half(frame.properties, frame.get_properties), half(frame.get_properties, frame.properties)


@pytest.mark.parametrize("name", TABLES)
@given(data=st.data())
@settings(max_examples=300)
def test_compiled_layouts_decode_frames_as_the_codec_and_the_tables(name: str, data: st.DataObject) -> None:
    registry, pairs = tables(name)
    frame = data.draw(table_frames(registry, pairs))
    datagram = encode(frame)
    values, gets = reference_typed(registry, frame)
    for _ in range(compiled.SHAPE_AFTER + 2):  # the last decodes go through the layout compiled for this frame
        typed = registry.decode_frame(datagram)
        assert typed.frame == decode(datagram) == frame
        assert list(typed.properties) == values
        assert list(typed.get_properties) == (gets if frame.get_properties else [])
        assert registry.typed(frame) == typed
    assert registry.frame_decoder().compiled == 1


@given(any_bytes)
def test_decode_frame_fails_exactly_as_the_codec(data: bytes) -> None:
    registry, _ = tables("builtin")
    for _ in range(compiled.SHAPE_AFTER + 1):
        try:
            expected = decode(data)
        except FrameDecodeError as exc:
            with pytest.raises(FrameDecodeError) as caught:
                registry.decode_frame(data)
            assert (caught.value.offset, caught.value.field, caught.value.reason) == (exc.offset, exc.field, exc.reason)
        else:
            assert registry.decode_frame(data).frame == expected


def test_a_flood_of_layouts_compiles_a_bounded_number() -> None:
    registry, _ = tables("builtin")
    head = bytes.fromhex("10810001027d0105ff0172")
    for n in range(3000):
        datagram = head + bytes((2, 0xE2, 4)) + n.to_bytes(4, "big") + bytes((0xE3 + n % 8, 1, 0))
        for _ in range(compiled.SHAPE_AFTER):
            registry.decode_frame(datagram)
    assert registry.frame_decoder().compiled <= compiled.MAX_SHAPES


def test_a_layout_seen_once_is_not_compiled() -> None:
    registry, _ = tables("builtin")
    for n in range(200):
        registry.decode_frame(bytes.fromhex("10810001027d0105ff017201") + bytes((n, 1, 0x30)))
    assert registry.frame_decoder().compiled == 0


# Renderers ------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", TABLES)
@given(data=st.data())
@settings(max_examples=300)
def test_fast_json_and_text_equal_frame_json_and_frame_lines(name: str, data: st.DataObject) -> None:
    registry, pairs = tables(name)
    frame = data.draw(table_frames(registry, pairs))
    for _ in range(2):
        assert frame_json_text(frame, registry) == _dumps(frame_json(frame, registry))
        assert frame_text(frame, registry) == "\n".join(frame_lines(frame, registry))


def test_fast_json_and_text_of_arbitrary_and_odd_frames() -> None:
    registry, _ = tables("builtin")
    for frame in (
        Frame.arbitrary(7, b"\x01\x02"),
        Frame.make(1, EOJ(0x02, 0x7D, 1), EOJ(5, 0xFF, 1), 0x72, [Property(0xE2, bytearray(b"\x00\x00\x00\x05"))]),
        Frame(0x10, 0x81, 3, EOJ(0x02, 0x7D, 1), EOJ(5, 0xFF, 1), 0x99, (Property(0xDA, b"\x42"),), (), None),
    ):
        assert frame_json_text(frame, registry) == _dumps(frame_json(frame, registry))
        assert frame_text(frame, registry) == "\n".join(frame_lines(frame, registry))


@given(data=st.data())
@settings(max_examples=25, suppress_health_check=[HealthCheck.function_scoped_fixture])  # capsys: read each time
def test_capture_records_are_what_decode_pcap_prints(data: st.DataObject, capsys: pytest.CaptureFixture[str]) -> None:
    registry, pairs = tables("builtin")
    frames = data.draw(st.lists(table_frames(registry, pairs), min_size=1, max_size=8))
    start = data.draw(st.floats(0, 4e9))
    steps = data.draw(st.lists(st.floats(0, 3), min_size=len(frames), max_size=len(frames)))
    addresses = st.sampled_from(["192.168.1.10", "10.0.0.7", "fe80::1", "2001:db8::2"])
    datagrams = []
    for i, (frame, step) in enumerate(zip(frames, steps, strict=True)):
        src = data.draw(addresses)
        dst = "fe80::2" if ":" in src else "192.168.1.21"
        sport = data.draw(st.sampled_from([3610, 49153]))
        datagrams.append(Datagram(start + sum(steps[:i]) + step, src, dst, sport, 3610, encode(frame)))
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "capture.pcap"
        write_capture(path, datagrams)
        read = list(iter_datagrams(path))
        assert main(["decode", "--pcap", str(path), "--json", "--no-progress"]) == 0
        as_json = capsys.readouterr().out
        assert main(["decode", "--pcap", str(path), "--no-progress"]) == 0
        as_text = capsys.readouterr().out
    reg = builtin_registry()
    expected = [capture_record_json(d.time, d.src, d.dst, d.sport, d.dport, decode(d.payload), reg) for d in read]
    assert as_json.splitlines() == expected
    lines = [capture_record_text(d.time, d.src, d.dst, d.sport, d.dport, decode(d.payload), reg) for d in read]
    assert as_text == "".join(line + "\n" for line in lines)


@given(
    time=st.one_of(st.floats(-2e9, 2e10), st.integers(0, 2**32).map(float), st.just(1e300), st.just(float("nan"))),
    src=st.sampled_from(["192.168.1.10", "fe80::1%eth0", "2001:db8::2"]),
    sport=st.integers(0, 65535),
)
def test_capture_record_json_is_the_json_of_capture_record(time: float, src: str, sport: int) -> None:
    registry = builtin_registry()
    frame = decode(bytes.fromhex("10810001027d0105ff017201e20400001388"))
    record = capture_record(time, src, "224.0.23.0", sport, 3610, frame, registry)
    assert capture_record_json(time, src, "224.0.23.0", sport, 3610, frame, registry) == _dumps(record)
    assert record["src"] == {"host": src, "port": sport} and record["dst"] == {"host": "224.0.23.0", "port": 3610}
    text = capture_record_text(time, src, "224.0.23.0", sport, 3610, frame, registry)
    assert text.startswith(capture_time_text(time) + f"  {src}:{sport} -> 224.0.23.0:3610  TID 0x0001")


@given(st.integers(-(2**32) + 1, 2**32 - 1), st.integers(0, 999_999))
def test_capture_times_are_iso_8601_utc_to_the_microsecond(whole: int, micros: int) -> None:
    import datetime as dt

    # (below 2**32 s a float keeps the microsecond: the times of pcap; beyond, float seconds do not)
    seconds = whole + micros / 1e6
    expected = dt.datetime(1970, 1, 1, tzinfo=dt.UTC) + dt.timedelta(seconds=whole, microseconds=micros)
    assert capture_time_json(seconds) == expected.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    assert capture_time_text(seconds) == expected.strftime("%Y-%m-%d %H:%M:%S.%f")


def test_capture_times_beyond_the_calendar_are_null_in_json_and_seconds_in_text() -> None:
    for seconds in (1e300, -1e14, 2.6e11, float("nan"), float("inf")):
        assert capture_time_json(seconds) is None
        assert capture_time_text(seconds).endswith(" s since 1970")
