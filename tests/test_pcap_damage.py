"""Damaged captures: every readable packet is still read, and every damage is reported once, with the packet number,
the byte offset and the reason; corrupt lengths are read past where the format allows. Memory stays bounded.

The damage is done to the sample captures' bytes (cut at every offset, a length or a timestamp corrupted, bytes
inserted or removed) and to captures written by ``write_capture``; files are read from disk, from memory and
through a pipe.
"""

from __future__ import annotations

import gzip
import io
import os
import struct
import threading
import tracemalloc
import zlib
from collections.abc import Iterator
from pathlib import Path

import pytest

from echonet.pcap import CaptureError, Datagram, Problem, iter_datagrams

from .damaged_captures import (
    SAMPLE_PCAP,
    SAMPLE_PCAPNG,
    T0,
    Span,
    block,
    ethernet_frames,
    many_datagrams,
    pcap_records,
    pcapng_blocks,
    pcapng_in_seconds,
    with_u32,
)

PCAP = SAMPLE_PCAP.read_bytes()
PCAPNG = SAMPLE_PCAPNG.read_bytes()
RECORDS = pcap_records(PCAP)
BLOCKS = pcapng_blocks(PCAPNG)
PACKET_BLOCKS = [b for b in BLOCKS if b.kind == 6]
EXPECTED = list(iter_datagrams(SAMPLE_PCAP))  # 20 datagrams in 21 packets (packet 18 is SSDP on port 1900)


def read(data: bytes) -> tuple[list[Datagram], list[Problem]]:
    problems: list[Problem] = []
    return list(iter_datagrams(io.BytesIO(data), on_problem=problems.append)), problems


def indexes(datagrams: list[Datagram]) -> list[int]:
    return [d.index for d in datagrams]


def payloads(datagrams: list[Datagram]) -> list[bytes]:
    return [d.payload for d in datagrams]


def test_the_samples_are_what_the_damage_tests_assume() -> None:
    assert len(RECORDS) == 21 and RECORDS[-1].end == len(PCAP)
    assert len(PACKET_BLOCKS) == 21 and BLOCKS[-1].end == len(PCAPNG) and BLOCKS[-1].kind == 5  # statistics block
    assert indexes(EXPECTED) == [i for i in range(1, 22) if i != 18]
    assert read(PCAP) == (EXPECTED, []) and read(PCAPNG) == (EXPECTED, [])


# -- cut short -------------------------------------------------------------------------------------------------


def test_pcap_cut_at_every_offset_keeps_every_whole_record_and_reports_the_cut_once() -> None:
    for cut in range(24, len(PCAP) + 1):
        datagrams, problems = read(PCAP[:cut])
        whole = [r for r in RECORDS if r.end <= cut]
        assert datagrams == [d for d in EXPECTED if d.index <= len(whole)], cut
        if cut in (24, *(r.end for r in RECORDS)):  # a record boundary: a shorter capture, not a damaged one
            assert problems == [], cut
            continue
        (problem,) = problems
        assert problem.index == len(whole) + 1 and problem.offset == RECORDS[len(whole)].offset, cut
        assert problem.reason.startswith("capture cut short inside "), cut


def test_pcapng_cut_at_every_offset_keeps_every_whole_block_and_reports_the_cut_once() -> None:
    for cut in range(16, len(PCAPNG) + 1):
        datagrams, problems = read(PCAPNG[:cut])
        whole = [b for b in PACKET_BLOCKS if b.end <= cut]
        assert datagrams == [d for d in EXPECTED if d.index <= len(whole)], cut
        if cut in (*(b.end for b in BLOCKS),):
            assert problems == [], cut
            continue
        (problem,) = problems
        cut_block = next(b for b in BLOCKS if b.end > cut)
        assert problem.index == len(whole) + 1 and problem.offset == cut_block.offset, cut
        assert problem.reason.startswith("capture cut short inside a block"), cut


@pytest.mark.parametrize(
    ("data", "message"),
    [(PCAP, "truncated pcap file header"), (PCAPNG, "truncated or corrupt pcapng section header")],
    ids=["pcap", "pcapng"],
)
def test_a_capture_cut_inside_its_file_header_is_not_a_capture(data: bytes, message: str) -> None:
    for cut in range(1, 16 if data is PCAPNG else 24):
        with pytest.raises(CaptureError, match=message):
            read(data[:cut])


def test_gzip_cut_at_every_offset_keeps_every_byte_before_the_cut() -> None:
    packed = gzip.compress(PCAP, mtime=0)
    for cut in range(len(packed)):
        readable = zlib.decompressobj(16 + zlib.MAX_WBITS).decompress(packed[:cut])  # all zlib can give
        if len(readable) < 24:
            with pytest.raises(CaptureError):
                read(packed[:cut])
            continue
        datagrams, problems = read(packed[:cut])
        whole = [r for r in RECORDS if r.end <= len(readable)]
        assert datagrams == [d for d in EXPECTED if d.index <= len(whole)], cut
        (problem,) = problems
        assert problem.reason == "compressed data cut short (the gzip stream ends before its end marker)", cut
        assert problem.index == len(whole) + 1, cut


def test_big_gzip_cut_mid_stream_loses_nothing_before_the_cut(tmp_path: Path) -> None:
    # Before, the reader asked the gzip module for 1 MiB at a time and lost the whole last read at the cut.
    plain = many_datagrams(tmp_path / "many.pcap", 60_000).read_bytes()  # about 5 MB
    packed = gzip.compress(plain, compresslevel=1)
    cut = packed[: len(packed) * 2 // 3]
    readable = zlib.decompressobj(16 + zlib.MAX_WBITS).decompress(cut)
    records = pcap_records(plain)
    whole = sum(1 for r in records if r.end <= len(readable))
    datagrams, problems = read(cut)
    assert len(readable) > 2 << 20 and len(datagrams) == whole
    assert [p.index for p in problems] == [whole + 1] and "cut short" in problems[0].reason


def test_gzip_corrupt_mid_stream_keeps_what_was_decompressed_before_the_damage(tmp_path: Path) -> None:
    plain = many_datagrams(tmp_path / "many.pcap", 60_000).read_bytes()
    packed = bytearray(gzip.compress(plain, compresslevel=1))
    middle = len(packed) // 2
    packed[middle : middle + 64] = b"\xff" * 64
    datagrams, problems = read(bytes(packed))
    assert len(datagrams) > 20_000  # about half: everything before the damage, not a chunk less
    assert datagrams == list(iter_datagrams(io.BytesIO(plain)))[: len(datagrams)]
    assert len(problems) == 1 and "compressed data" in problems[0].reason


def test_concatenated_gzip_members_are_one_stream_and_garbage_after_them_is_reported() -> None:
    half = RECORDS[10].offset
    two_members = gzip.compress(PCAP[:half]) + gzip.compress(PCAP[half:])
    assert read(two_members) == (EXPECTED, [])
    assert read(gzip.compress(PCAP) + b"\0" * 100) == (EXPECTED, [])  # zero padding, as gzip allows
    datagrams, problems = read(gzip.compress(PCAP) + b"not gzip")
    assert datagrams == EXPECTED
    assert [(p.index, p.offset, p.reason) for p in problems] == [
        (22, len(PCAP), "bytes after the end of the compressed data are not gzip data")
    ]


# -- corrupt lengths -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("damaged", range(21))
def test_pcap_record_with_a_corrupt_length_is_read_past(damaged: int) -> None:
    rec = RECORDS[damaged]
    datagrams, problems = read(with_u32(PCAP, rec.offset + 8, 0xFFFFFFF0))
    assert datagrams == [d for d in EXPECTED if d.index != damaged + 1]
    (problem,) = problems
    assert (problem.index, problem.offset) == (damaged + 1, rec.offset)
    assert problem.reason.startswith("corrupt record header (captured length 4294967280 exceeds 262144)")
    if damaged < 20:
        assert problem.reason.endswith(f"reading on at the next record, offset {RECORDS[damaged + 1].offset}")
    else:
        assert problem.reason.endswith("no record after it: the last 76 byte(s) not read")


@pytest.mark.parametrize("delta", [-9, -1, 1, 3, 16, 100, 1000])
def test_pcap_record_length_off_by_a_little_loses_at_most_that_record(delta: int) -> None:
    rec = RECORDS[4]
    caplen = rec.length - 16
    datagrams, problems = read(with_u32(PCAP, rec.offset + 8, caplen + delta))
    others = [d for d in EXPECTED if d.index != 5]
    assert payloads([d for d in datagrams if d.payload != EXPECTED[4].payload]) == payloads(others)
    assert problems and all(p.offset is not None and p.offset >= rec.offset for p in problems)


@pytest.mark.parametrize(
    "garbage", [b"x", b"abc", bytes(7), b"\xff" * 16, bytes(5000)], ids=["1", "3", "7-zeros", "16-ff", "5000-zeros"]
)
def test_pcap_bytes_inserted_between_records_are_skipped(garbage: bytes) -> None:
    at = RECORDS[6].offset
    datagrams, problems = read(PCAP[:at] + garbage + PCAP[at:])
    assert payloads(datagrams) == payloads(EXPECTED)
    assert len(problems) == 1 and problems[0].offset == at and problems[0].index == 7


def test_pcap_bytes_missing_inside_a_record_lose_that_record_only() -> None:
    rec = RECORDS[6]
    datagrams, problems = read(PCAP[: rec.offset + 20] + PCAP[rec.offset + 25 :])
    assert payloads(datagrams) == payloads([d for d in EXPECTED if d.index != 7])
    assert len(problems) == 1 and "corrupt record header" in problems[0].reason


@pytest.mark.parametrize("damaged", range(21))
def test_pcapng_packet_block_with_a_corrupt_length_is_read_past(damaged: int) -> None:
    blk = PACKET_BLOCKS[damaged]
    datagrams, problems = read(with_u32(PCAPNG, blk.offset + 4, 0xFFFFFFF0))
    assert datagrams == [d for d in EXPECTED if d.index != damaged + 1]
    (problem,) = problems
    assert (problem.index, problem.offset) == (damaged + 1, blk.offset)
    nxt = BLOCKS[BLOCKS.index(blk) + 1]
    assert problem.reason == (
        "corrupt block of type 0x00000006 with a bad length 4294967280: "
        f"reading on at the next block, offset {nxt.offset}"
    )


@pytest.mark.parametrize("damaged", [0, 9, 20])
def test_pcapng_block_whose_two_lengths_differ_is_read_past(damaged: int) -> None:
    blk = PACKET_BLOCKS[damaged]
    datagrams, problems = read(with_u32(PCAPNG, blk.end - 4, blk.length + 4))
    assert datagrams == [d for d in EXPECTED if d.index != damaged + 1]
    assert [(p.index, p.offset) for p in problems] == [(damaged + 1, blk.offset)]
    assert "trailing length differs" in problems[0].reason


def test_pcapng_garbage_between_blocks_and_a_corrupt_section_header_are_read_past() -> None:
    at = PACKET_BLOCKS[3].offset
    datagrams, problems = read(PCAPNG[:at] + b"\x06\0\0\0garbage" + PCAPNG[at:])
    assert datagrams == EXPECTED
    assert [(p.index, p.offset) for p in problems] == [(4, at)] and "bad length" in problems[0].reason
    # A second section whose byte-order magic is damaged: its header is read past, its packets are read.
    section = bytearray(PCAPNG[: BLOCKS[2].offset])  # section header and interface description
    section[8:12] = b"\x11\x22\x33\x44"
    datagrams, problems = read(PCAPNG + bytes(section) + PCAPNG[BLOCKS[2].offset :])
    assert payloads(datagrams) == payloads(EXPECTED) * 2
    assert problems == [
        Problem(
            22,
            len(PCAPNG),
            f"corrupt section header block with a bad byte-order magic: reading on at the next "
            f"block, offset {len(PCAPNG) + BLOCKS[1].offset}",
        )
    ]


# -- timestamps ------------------------------------------------------------------------------------------------


def test_pcap_record_with_a_bad_fraction_of_a_second_is_read_and_reported() -> None:
    rec = RECORDS[4]
    datagrams, problems = read(with_u32(PCAP, rec.offset + 4, 2_000_000))
    assert payloads(datagrams) == payloads(EXPECTED) and datagrams[4].time == EXPECTED[4].time // 1 + 2.0
    assert [(p.index, p.offset) for p in problems] == [(5, rec.offset)]
    assert problems[0].reason == "bad timestamp (fraction of a second 2000000 is not below 1000000)"


def test_pcapng_timestamp_beyond_any_calendar_is_reported_and_the_packets_after_it_read(tmp_path: Path) -> None:
    frames = ethernet_frames(tmp_path / "f.pcap", [bytes.fromhex("1081000105ff010ef0016201d600")] * 3)
    data = pcapng_in_seconds([(T0, frames[0]), ((1 << 64) - 1, frames[1]), (T0 + 2, frames[2])])
    datagrams, problems = read(data)
    assert [d.time for d in datagrams] == [T0, float((1 << 64) - 1), T0 + 2]
    assert [(p.index, p.reason) for p in problems] == [(2, "timestamp out of range (1.84467e+19 s since 1970)")]


# -- link types, memory, streams -------------------------------------------------------------------------------


def test_unsupported_link_type_is_reported_once_for_the_whole_capture() -> None:
    datagrams, problems = read(with_u32(PCAP, 20, 147))
    assert datagrams == []
    assert problems == [Problem(1, 24, "unsupported link type 147: its packets are not read")]


def test_corrupt_lengths_claiming_gigabytes_allocate_nothing_of_the_kind() -> None:
    pcap = with_u32(PCAP, RECORDS[3].offset + 8, 0xFFFFFFF0)
    pcapng = with_u32(PCAPNG, PACKET_BLOCKS[3].offset + 4, 0xFFFFFFF0)
    claims_16_mib = pcapng + block(6, bytes(16 << 20))[: 1 << 20]  # a block claiming 16 MiB, cut after 1 MiB
    tracemalloc.start()
    try:
        for data in (pcap, pcapng, claims_16_mib):
            datagrams, _ = read(data)
            assert len(datagrams) == 19
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 16 << 20


def feed_through_a_pipe(data: bytes) -> Iterator[int]:
    """A pipe whose write end a thread fills with ``data``: yields the read end (a stream that cannot seek)."""
    read_fd, write_fd = os.pipe()

    def write() -> None:
        with os.fdopen(write_fd, "wb") as out:
            out.write(data)

    writer = threading.Thread(target=write)
    writer.start()
    try:
        yield read_fd
    finally:
        writer.join()


@pytest.mark.parametrize("data", [PCAP, PCAPNG, gzip.compress(PCAP), PCAP[:-30]], ids=["pcap", "pcapng", "gz", "cut"])
def test_a_capture_read_through_a_pipe_gives_what_the_file_gives(data: bytes) -> None:
    for fd in feed_through_a_pipe(data):
        problems: list[Problem] = []
        with os.fdopen(fd, "rb") as stream:
            datagrams = list(iter_datagrams(stream, on_problem=problems.append))
        assert (datagrams, problems) == read(data)


def test_the_problem_offsets_point_at_the_record_in_the_file() -> None:
    data = with_u32(PCAP, RECORDS[7].offset + 8, 0xFFFFFFF0)
    (problem,) = read(data)[1]
    assert problem.offset is not None
    assert Span(problem.offset, 16) == Span(RECORDS[7].offset, 16)
    assert struct.unpack_from("<I", data, problem.offset + 8)[0] == 0xFFFFFFF0
