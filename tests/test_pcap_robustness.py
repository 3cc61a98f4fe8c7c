"""Capture reader robustness: cut files, garbage, garbled packets, fuzzing, and constant memory on a 200 MB file.

Nothing inside a capture may raise: it is skipped and reported through ``on_skip``. Only a file that cannot be
opened or is not a capture raises :class:`CaptureError`, at once, with a one-line message.
"""

from __future__ import annotations

import gzip
import resource
import struct
import tracemalloc
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from echonet.pcap import Backend, CaptureError, Datagram, iter_datagrams, write_capture

ROOT = Path(__file__).resolve().parents[1]
SAMPLE_PCAP = ROOT / "examples" / "captures" / "sample.pcap"
SAMPLE_PCAPNG = ROOT / "examples" / "captures" / "sample.pcapng"
T0 = 1748772000
GET_D6 = bytes.fromhex("1081000105ff010ef0016201d600")

PCAP_HEADER = struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 262144, 1)
PCAPNG_HEADER = (  # SHB + Ethernet IDB, little-endian
    struct.pack("<II", 0x0A0D0D0A, 28) + struct.pack("<IHHq", 0x1A2B3C4D, 1, 0, -1) + struct.pack("<I", 28)
    + struct.pack("<II", 1, 20) + struct.pack("<HHI", 1, 0, 0) + struct.pack("<I", 20)
)  # fmt: skip


def collect(
    path: Path, backend: Backend = "native", ports: tuple[int, ...] | None = (3610,)
) -> tuple[list[Datagram], list[tuple[int, str]]]:
    skips: list[tuple[int, str]] = []
    datagrams = list(iter_datagrams(path, ports, on_skip=lambda i, reason: skips.append((i, reason)), backend=backend))
    return datagrams, skips


def record(frame: bytes, seconds: int = T0, caplen: int | None = None) -> bytes:
    caplen = len(frame) if caplen is None else caplen
    return struct.pack("<IIII", seconds, 0, caplen, len(frame)) + frame


def ethernet_udp4(payload: bytes = GET_D6, sport: int = 3610, dport: int = 3610) -> bytes:
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 28 + len(payload), 0, 0, 64, 17, 0, bytes([192, 168, 1, 10]),
                     bytes([192, 168, 1, 21]))  # fmt: skip
    udp = struct.pack("!HHHH", sport, dport, 8 + len(payload), 0)
    return b"\x02\0\0\0\0\x15\x02\0\0\0\0\x0a\x08\x00" + ip + udp + payload


# -- files that are not captures -------------------------------------------------------------------------------


def test_missing_file_raises_capture_error_at_once(tmp_path: Path) -> None:
    with pytest.raises(CaptureError, match=r"^.*nothing\.pcap: no such file$"):
        iter_datagrams(tmp_path / "nothing.pcap")


def test_directory_raises_capture_error(tmp_path: Path) -> None:
    with pytest.raises(CaptureError, match="is a directory"):
        iter_datagrams(tmp_path)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "empty file, not a pcap or pcapng file"),
        (b"GET / HTTP/1.1\r\n\r\n", "not a pcap or pcapng file (magic 0x47455420)"),
        (bytes.fromhex("12345678") + bytes(100), "not a pcap or pcapng file (magic 0x12345678)"),
        (PCAP_HEADER[:10], "truncated pcap file header"),
        (PCAPNG_HEADER[:8] + b"\x11\x22\x33\x44" + PCAPNG_HEADER[12:], "truncated or corrupt pcapng section header"),
        (PCAPNG_HEADER[:12] + struct.pack("<H", 2) + PCAPNG_HEADER[14:], "unsupported pcapng version 2"),
        (b"\x1f\x8b\x08\x00garbage", "compressed data cut short (the gzip stream ends before its end marker)"),
        (
            b"\x1f\x8b\x08\x00" + bytes(6) + b"\xff" * 40,
            "corrupt compressed data (Error -3 while decompressing data: invalid block type)",
        ),
        (gzip.compress(b"plain text, compressed"), "not a pcap or pcapng file (magic 0x706c6169)"),
    ],
)
def test_not_a_capture_raises_one_line_capture_error(tmp_path: Path, content: bytes, message: str) -> None:
    path = tmp_path / "capture.pcap"
    path.write_bytes(content)
    for backend in ("native", "scapy"):
        with pytest.raises(CaptureError) as caught:
            iter_datagrams(path, backend=backend)
        assert str(caught.value) == f"{path}: {message}"
        assert "\n" not in str(caught.value)


def test_capture_error_message_names_an_unprintable_path_safely(tmp_path: Path) -> None:
    path = tmp_path / "bad\nname.pcap"
    path.write_bytes(b"nope")
    with pytest.raises(CaptureError) as caught:
        iter_datagrams(path)
    assert "\n" not in str(caught.value) and "\\n" in str(caught.value)


# -- captures cut short ----------------------------------------------------------------------------------------


def three_packet_capture(tmp_path: Path) -> Path:
    path = tmp_path / "three.pcap"
    write_capture(path, [Datagram(T0 + i, "192.168.1.10", "192.168.1.21", 3610, 3610, GET_D6) for i in range(3)])
    return path


@pytest.mark.parametrize("backend", ["native", "scapy"])
def test_pcap_cut_inside_a_packet_yields_the_complete_packets_and_reports_the_cut(
    tmp_path: Path, backend: Backend
) -> None:
    whole = three_packet_capture(tmp_path).read_bytes()
    cut = tmp_path / "cut.pcap"
    cut.write_bytes(whole[: len(whole) - 30])  # 16-byte header + 60-byte frame per packet: cut in the third
    datagrams, skips = collect(cut, backend)
    assert [d.index for d in datagrams] == [1, 2]
    assert skips == [(3, "capture cut short inside the packet (30 of 60 bytes)")]


def test_pcap_cut_inside_a_record_header_is_reported(tmp_path: Path) -> None:
    whole = three_packet_capture(tmp_path).read_bytes()
    cut = tmp_path / "cut.pcap"
    cut.write_bytes(whole[: 24 + 2 * 76 + 5])
    datagrams, skips = collect(cut)
    assert [d.index for d in datagrams] == [1, 2]
    assert skips == [(3, "capture cut short inside a record header (5 of 16 bytes)")]


def test_pcapng_cut_inside_a_block_yields_the_complete_packets_and_reports_the_cut(tmp_path: Path) -> None:
    whole = SAMPLE_PCAPNG.read_bytes()
    complete = list(iter_datagrams(SAMPLE_PCAPNG))
    cut = tmp_path / "cut.pcapng"
    cut.write_bytes(whole[: len(whole) // 2])
    datagrams, skips = collect(cut)
    assert datagrams == complete[: len(datagrams)] and 0 < len(datagrams) < len(complete)
    ((index, reason),) = skips
    assert index == datagrams[-1].index + 1 and reason.startswith("capture cut short inside a block")


def test_gzip_capture_cut_short_is_reported(tmp_path: Path) -> None:
    packed = gzip.compress(SAMPLE_PCAP.read_bytes())
    cut = tmp_path / "cut.pcap.gz"
    cut.write_bytes(packed[: len(packed) - 40])
    datagrams, skips = collect(cut)
    assert datagrams == list(iter_datagrams(SAMPLE_PCAP))[: len(datagrams)]
    assert len(skips) == 1 and skips[0][1] == "compressed data cut short (the gzip stream ends before its end marker)"


def test_corrupt_record_length_without_a_record_after_it_is_reported_with_the_bytes_lost(tmp_path: Path) -> None:
    path = tmp_path / "corrupt.pcap"
    path.write_bytes(PCAP_HEADER + record(ethernet_udp4()) + struct.pack("<IIII", T0, 0, 0xFFFFFFF0, 60) + bytes(99))
    datagrams, skips = collect(path)
    assert [d.index for d in datagrams] == [1]
    reason = "corrupt record header (captured length 4294967280 exceeds 262144), no record after it"
    assert skips == [(2, f"{reason}: the last 115 byte(s) not read")]


def test_corrupt_pcapng_block_without_a_block_after_it_is_reported(tmp_path: Path) -> None:
    good = SAMPLE_PCAPNG.read_bytes()
    before_isb = good[: -struct.unpack("<I", good[-4:])[0]]  # the file ends with an interface statistics block
    path = tmp_path / "corrupt.pcapng"
    path.write_bytes(before_isb + struct.pack("<II", 6, 13) + bytes(40))
    datagrams, skips = collect(path)
    assert len(datagrams) == 20
    assert skips == [
        (22, "corrupt block of type 0x00000006 with a bad length 13, no block after it: the last 48 byte(s) not read")
    ]
    path.write_bytes(good[:-4] + b"\xff\xff\0\0")
    datagrams, skips = collect(path)
    assert len(datagrams) == 20
    reason = "corrupt block of type 0x00000005 whose trailing length differs from its length 76, no block after it"
    assert skips == [(22, f"{reason}: the last 76 byte(s) not read")]


# -- garbled packets -------------------------------------------------------------------------------------------


def test_garbled_packets_are_reported_and_the_next_packet_still_read(tmp_path: Path) -> None:
    good = ethernet_udp4()
    bad_ihl = good[:14] + b"\x43" + good[15:]
    not_v4 = good[:14] + b"\x65" + good[15:]
    udp_too_short = good[:38] + struct.pack("!H", 4) + good[40:]
    udp_too_long = good[:38] + struct.pack("!H", 200) + good[40:]
    ip_cut = good[:30]  # Ethernet header and 16 bytes of IPv4 header
    vlan_cut = good[:12] + b"\x81\x00\x00"
    frames = [bad_ihl, not_v4, udp_too_short, udp_too_long, ip_cut, vlan_cut, good, good[:10]]
    path = tmp_path / "garbled.pcap"
    path.write_bytes(PCAP_HEADER + b"".join(record(f) for f in frames))
    datagrams, skips = collect(path)
    assert [d.index for d in datagrams] == [7]
    assert skips == [
        (1, "bad IPv4 header (header length 12, total length 42)"),
        (2, "bad IPv4 header (version 6)"),
        (3, "bad UDP length 4"),
        (4, "UDP length 200 exceeds the 22 bytes of IP payload"),
        (5, "truncated IPv4 header"),
        (6, "truncated VLAN tag"),
        (8, "truncated Ethernet header"),
    ]


def test_non_udp_and_non_ip_packets_are_ignored_silently(tmp_path: Path) -> None:
    good = ethernet_udp4()
    tcp = good[:23] + b"\x06" + good[24:]
    arp = good[:12] + b"\x08\x06" + bytes(28)
    path = tmp_path / "quiet.pcap"
    path.write_bytes(PCAP_HEADER + record(tcp) + record(arp) + record(good))
    assert collect(path) == ([Datagram(float(T0), "192.168.1.10", "192.168.1.21", 3610, 3610, GET_D6, 3)], [])


# -- fuzzing ---------------------------------------------------------------------------------------------------


def read_everything(path: Path, backend: Backend = "native") -> Iterator[Datagram | tuple[int, str]]:
    """Every datagram and skip report, checking their types; CaptureError is the only exception allowed."""
    reports: list[tuple[int, str]] = []
    try:
        for datagram in iter_datagrams(path, None, on_skip=lambda i, r: reports.append((i, r)), backend=backend):
            assert isinstance(datagram.payload, bytes) and 0 <= datagram.sport < 65536
            yield datagram
    except CaptureError:
        return
    for index, reason in reports:
        assert isinstance(index, int) and reason and "\n" not in reason
    yield from reports


fuzz_settings = settings(deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


@fuzz_settings
@given(header=st.sampled_from([PCAP_HEADER, PCAPNG_HEADER, struct.pack(">IHHiIII", 0xA1B23C4D, 2, 4, 0, 0, 0, 113)]),
       tail=st.binary(max_size=3000))  # fmt: skip
def test_random_bytes_after_a_valid_header_raise_nothing_but_capture_error(
    tmp_path: Path, header: bytes, tail: bytes
) -> None:
    path = tmp_path / "fuzz.cap"
    path.write_bytes(header + tail)
    list(read_everything(path))


def ipv6_hop_by_hop_udp(payload: bytes = GET_D6) -> bytes:
    udp = struct.pack("!HHHH", 3610, 3610, 8 + len(payload), 0) + payload
    hop_by_hop = bytes([17, 0, 1, 4, 0, 0, 0, 0])  # next header UDP, PadN option
    address = bytes.fromhex("fe800000000000000000000000000001")
    return struct.pack("!IHBB", 0x60000000, 8 + len(udp), 0, 64) + address + address + hop_by_hop + udp


def link_prefix(linktype: int, version: int) -> bytes:
    ethertype = b"\x08\x00" if version == 4 else b"\x86\xdd"
    return {
        0: struct.pack("<I", 2 if version == 4 else 30),
        108: struct.pack(">I", 2 if version == 4 else 24),
        1: bytes(12) + ethertype,
        113: bytes(14) + ethertype,
        276: ethertype + bytes(18),
    }.get(linktype, b"")


@fuzz_settings
@given(
    linktype=st.sampled_from([0, 1, 12, 101, 108, 113, 127, 228, 229, 276, 147]),
    frames=st.lists(st.binary(max_size=200), max_size=6),
    crafted=st.lists(
        st.tuples(st.sampled_from([4, 6]), st.integers(0, 80), st.integers(0, 80), st.integers(0, 255)), max_size=8
    ),
)
def test_random_packets_of_every_link_type_raise_nothing(
    tmp_path: Path, linktype: int, frames: list[bytes], crafted: list[tuple[int, int, int, int]]
) -> None:
    # Random frames, and well-formed IPv4/IPv6 UDP packets cut at a random length with one byte changed.
    packets = {4: ethernet_udp4()[14:], 6: ipv6_hop_by_hop_udp()}
    for version, cut, position, value in crafted:
        packet = bytearray(link_prefix(linktype, version) + packets[version][:cut])
        if position < len(packet):
            packet[position] = value
        frames.append(bytes(packet))
    path = tmp_path / "fuzz.pcap"
    path.write_bytes(PCAP_HEADER[:20] + struct.pack("<I", linktype) + b"".join(record(f) for f in frames))
    list(read_everything(path))


def test_the_ipv6_packet_used_for_fuzzing_is_read_on_every_link_type(tmp_path: Path) -> None:
    for linktype in (0, 1, 101, 108, 113, 229, 276):
        path = tmp_path / f"{linktype}.pcap"
        frame = link_prefix(linktype, 6) + ipv6_hop_by_hop_udp()
        path.write_bytes(PCAP_HEADER[:20] + struct.pack("<I", linktype) + record(frame))
        assert collect(path) == ([Datagram(float(T0), "fe80::1", "fe80::1", 3610, 3610, GET_D6, 1)], [])


@fuzz_settings
@given(data=st.data())
def test_corrupting_the_sample_captures_raises_nothing_but_capture_error(tmp_path: Path, data: st.DataObject) -> None:
    original = data.draw(st.sampled_from([SAMPLE_PCAP, SAMPLE_PCAPNG])).read_bytes()
    content = bytearray(original)
    for _ in range(data.draw(st.integers(1, 8))):
        position = data.draw(st.integers(0, len(content) - 1))
        content[position] = data.draw(st.integers(0, 255))
    content = content[: data.draw(st.integers(0, len(content)))]
    path = tmp_path / "corrupt.cap"
    path.write_bytes(bytes(content))
    for backend in ("native", "scapy"):
        list(read_everything(path, backend))


# -- constant memory -------------------------------------------------------------------------------------------


@pytest.mark.slow
def test_iterating_a_200_mb_capture_uses_constant_memory(tmp_path: Path) -> None:
    # ECHONET frames between 16 kB datagrams on another port (as seen with GRO on the capturing host): few
    # packets, so the run stays quick under tracemalloc, but many records straddle the reader's chunks.
    wanted = record(ethernet_udp4(GET_D6))
    other = record(ethernet_udp4(bytes(16_000), sport=50000, dport=9999))
    block = (wanted + other) * 100
    path = tmp_path / "big.pcap"
    with path.open("wb") as out:
        out.write(PCAP_HEADER)
        for _ in range(140):
            out.write(block)
    size = path.stat().st_size
    assert size > 200 * 1024 * 1024

    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux
    tracemalloc.start()
    try:
        count = 0
        last_progress = (0, 0)

        def note(done: int, total: int) -> None:
            nonlocal last_progress
            last_progress = (done, total)

        for datagram in iter_datagrams(path, progress=note):
            count += 1
            assert datagram.payload == GET_D6
        _current, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    rss_growth = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - rss_before

    assert count == 14_000 and last_progress == (size, size)
    assert peak < 8 * 1024 * 1024, f"peak Python allocation {peak} bytes while reading {size} bytes"
    assert rss_growth < 64 * 1024, f"peak RSS grew by {rss_growth} KiB"
