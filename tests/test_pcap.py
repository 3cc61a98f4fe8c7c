"""Capture reader: the sample captures, pcap/pcapng variants, every link type, IP options and extension headers.

Packets are built with scapy and written with scapy's own writers (or with struct where a writer lacks a
feature), so the reader is checked against an independent implementation, and the native reader is checked
against ``backend="scapy"`` (scapy's raw readers).
"""

from __future__ import annotations

import gzip
import importlib.util
import struct
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from scapy.layers.dot11 import Dot11, RadioTap
from scapy.layers.inet import IP, UDP, IPOption_Router_Alert
from scapy.layers.inet import fragment as fragment4
from scapy.layers.inet6 import (
    IPv6,
    IPv6ExtHdrDestOpt,
    IPv6ExtHdrFragment,
    IPv6ExtHdrHopByHop,
    IPv6ExtHdrRouting,
    fragment6,
)
from scapy.layers.ipsec import AH
from scapy.layers.l2 import LLC, SNAP, CookedLinux, CookedLinuxV2, Dot1AD, Dot1Q, Ether, Loopback
from scapy.packet import Packet, Raw
from scapy.utils import PcapNgReader, PcapNgWriter, PcapWriter

from echonet.pcap import Datagram, iter_datagrams, write_capture

ROOT = Path(__file__).resolve().parents[1]
SAMPLES = ROOT / "examples" / "captures"
T0 = 1748772000  # 2025-06-01 10:00:00 UTC

GET_D6 = bytes.fromhex("1081000105ff010ef0016201d600")
GET_RES_D6 = bytes.fromhex("108100010ef00105ff017201d60401027d01")
MAC_A, MAC_B = "02:00:00:00:00:0a", "02:00:00:00:00:15"


def _generator() -> ModuleType:
    spec = importlib.util.spec_from_file_location("make_sample_capture", ROOT / "tools" / "make_sample_capture.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def read(path: Path, ports: Sequence[int] | None = (3610,), **kwargs: Any) -> list[Datagram]:
    return list(iter_datagrams(path, ports, **kwargs))


def read_with_skips(path: Path, ports: Sequence[int] | None = (3610,)) -> tuple[list[Datagram], list[tuple[int, str]]]:
    skips: list[tuple[int, str]] = []
    datagrams = list(iter_datagrams(path, ports, on_skip=lambda index, reason: skips.append((index, reason))))
    return datagrams, skips


def both_backends(path: Path, ports: Sequence[int] | None = (3610,)) -> list[Datagram]:
    """Read with the native reader, check scapy's raw readers give the very same datagrams, return them."""
    native = read(path, ports)
    assert read(path, ports, backend="scapy") == native
    return native


def timed(packet: Packet, seconds: float) -> Packet:
    packet.time = seconds
    return packet


def write_pcap(path: Path, packets: Sequence[Packet], linktype: int | None = None, **kwargs: Any) -> Path:
    with PcapWriter(str(path), linktype=linktype, **kwargs) as writer:
        for packet in packets:
            writer.write(packet)
    return path


def write_raw_pcap(path: Path, linktype: int, frames: Sequence[bytes], start: int = T0) -> Path:
    """A pcap of ``frames`` (one a second, at +0.25 s) with struct: scapy's writer cannot write link type 0."""
    records = [struct.pack("<IIII", start + i, 250_000, len(f), len(f)) + f for i, f in enumerate(frames)]
    path.write_bytes(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 262144, linktype) + b"".join(records))
    return path


def udp4(payload: bytes = GET_D6, sport: int = 3610, dport: int = 3610) -> Packet:
    return IP(src="192.168.1.10", dst="192.168.1.21") / UDP(sport=sport, dport=dport) / Raw(payload)


def udp6(payload: bytes = GET_D6) -> Packet:
    return IPv6(src="fe80::1", dst="ff02::1") / UDP(sport=3610, dport=3610) / Raw(payload)


# -- the sample captures ---------------------------------------------------------------------------------------


def test_sample_pcap_and_pcapng_yield_the_same_datagrams() -> None:
    from_pcap = both_backends(SAMPLES / "sample.pcap")
    from_pcapng = both_backends(SAMPLES / "sample.pcapng")
    assert from_pcap == from_pcapng
    assert len(from_pcap) == 20  # 21 packets, one of them SSDP on port 1900


def test_sample_datagrams_have_the_session_addresses_ports_times_and_payloads() -> None:
    session = _generator().SESSION
    expected = [
        packet.datagram(index) for index, packet in enumerate(session, 1) if 3610 in (packet.sport, packet.dport)
    ]
    assert read(SAMPLES / "sample.pcapng") == expected
    first, second = expected[0], expected[1]
    assert first == Datagram(float(T0), "192.168.1.10", "224.0.23.0", 3610, 3610, GET_D6, 1)
    assert (second.time, second.src, second.payload) == (T0 + 0.01284, "192.168.1.21", GET_RES_D6)


def test_sample_keeps_the_ipv6_exchange_and_the_answer_from_another_source_port() -> None:
    datagrams = read(SAMPLES / "sample.pcap")
    ipv6 = [d for d in datagrams if ":" in d.src]
    assert [(d.src, d.dst) for d in ipv6] == [
        ("fe80::a8bb:ccff:fedd:ee10", "fe80::8c3f:2aff:fe41:9b07"),
        ("fe80::8c3f:2aff:fe41:9b07", "fe80::a8bb:ccff:fedd:ee10"),
    ]
    last = datagrams[-1]
    assert (last.src, last.sport, last.dport, last.index) == ("192.168.1.22", 49153, 3610, 21)
    assert last.payload == bytes.fromhex("10810009026b0105ff017201800130")


def test_sample_datagram_on_another_port_is_ignored_unless_asked_for() -> None:
    assert all(1900 not in (d.sport, d.dport) for d in read(SAMPLES / "sample.pcap"))
    (ssdp,) = read(SAMPLES / "sample.pcap", ports=(1900,))
    assert ssdp.index == 18 and ssdp.dst == "239.255.255.250" and ssdp.payload.startswith(b"NOTIFY * HTTP/1.1")
    assert len(both_backends(SAMPLES / "sample.pcapng", ports=None)) == 21


def test_sample_files_are_reproduced_byte_for_byte_by_the_generator(tmp_path: Path) -> None:
    pcap, pcapng = _generator().write_samples(tmp_path)
    assert pcap.read_bytes() == (SAMPLES / "sample.pcap").read_bytes()
    assert pcapng.read_bytes() == (SAMPLES / "sample.pcapng").read_bytes()


def test_sample_pcapng_is_valid_for_scapy_with_one_comment_per_packet() -> None:
    session = _generator().SESSION
    with PcapNgReader(str(SAMPLES / "sample.pcapng")) as reader:
        packets = list(reader)
    assert [bytes(p[UDP].payload)[: len(s.payload)] for p, s in zip(packets, session, strict=True)] == [
        s.payload for s in session
    ]
    assert [p.comments for p in packets] == [[s.comment.encode()] for s in session]


# -- file formats ----------------------------------------------------------------------------------------------


def test_microsecond_pcap_in_both_byte_orders(tmp_path: Path) -> None:
    packets = [timed(Ether(src=MAC_A, dst=MAC_B) / udp4(), T0 + 0.123456)]
    little = read(write_pcap(tmp_path / "le.pcap", packets, endianness="<"))
    big = read(write_pcap(tmp_path / "be.pcap", packets, endianness=">"))
    assert (tmp_path / "be.pcap").read_bytes()[:4] == b"\xa1\xb2\xc3\xd4"
    assert little == big == [Datagram(T0 + 0.123456, "192.168.1.10", "192.168.1.21", 3610, 3610, GET_D6, 1)]


def test_nanosecond_pcap_keeps_nanoseconds(tmp_path: Path) -> None:
    path = tmp_path / "ns.pcap"
    with PcapWriter(str(path), linktype=1, nano=True, endianness=">") as writer:
        writer.write_header(None)
        writer.write_packet(bytes(Ether(src=MAC_A, dst=MAC_B) / udp4()), sec=T0, usec=123_456_789)
    assert path.read_bytes()[:4] == b"\xa1\xb2\x3c\x4d"
    (datagram,) = both_backends(path)
    assert datagram.time == T0 + 0.123456789


def test_gzip_compressed_pcap_is_read(tmp_path: Path) -> None:
    plain = write_pcap(tmp_path / "plain.pcap", [timed(Ether(src=MAC_A, dst=MAC_B) / udp4(), T0)])
    packed = tmp_path / "packed.pcap.gz"
    packed.write_bytes(gzip.compress(plain.read_bytes(), mtime=0))
    assert both_backends(packed) == read(plain)


def test_pcapng_written_by_scapy_with_two_interfaces_of_different_link_types(tmp_path: Path) -> None:
    path = tmp_path / "two.pcapng"
    on_eth = timed(Ether(src=MAC_A, dst=MAC_B) / udp4(), T0 + 1)
    on_eth.sniffed_on = "eth0"
    on_sll = timed(CookedLinux(pkttype=0, lladdrtype=1, lladdrlen=6, proto=0x86DD) / udp6(), T0 + 2)
    on_sll.sniffed_on = "any"
    with PcapNgWriter(str(path)) as writer:
        writer.write(on_eth)
        writer.write(on_sll)
    datagrams = both_backends(path)
    assert [(d.time, d.src, d.index) for d in datagrams] == [(T0 + 1, "192.168.1.10", 1), (T0 + 2, "fe80::1", 2)]


def _option(code: int, value: bytes, endian: str = "<") -> bytes:
    return struct.pack(endian + "HH", code, len(value)) + value + b"\0" * (-len(value) % 4)


def _block(block_type: int, body: bytes, endian: str = "<") -> bytes:
    body += b"\0" * (-len(body) % 4)
    return struct.pack(endian + "II", block_type, 12 + len(body)) + body + struct.pack(endian + "I", 12 + len(body))


def _shb(endian: str = "<") -> bytes:
    return _block(0x0A0D0D0A, struct.pack(endian + "IHHq", 0x1A2B3C4D, 1, 0, -1), endian)


def _idb(linktype: int = 1, options: bytes = b"", endian: str = "<", snaplen: int = 0) -> bytes:
    if options:
        options += _option(0, b"", endian)
    return _block(1, struct.pack(endian + "HHI", linktype, 0, snaplen) + options, endian)


def _epb(frame: bytes, ticks: int, interface: int = 0, endian: str = "<", caplen: int | None = None) -> bytes:
    caplen = len(frame) if caplen is None else caplen
    head = struct.pack(endian + "IIIII", interface, ticks >> 32, ticks & 0xFFFFFFFF, caplen, len(frame))
    return _block(6, head + frame, endian)


def test_pcapng_per_interface_timestamp_resolution_and_offset(tmp_path: Path) -> None:
    frame = bytes(Ether(src=MAC_A, dst=MAC_B) / udp4())
    path = tmp_path / "tsresol.pcapng"
    path.write_bytes(
        _shb()
        + _idb(1, _option(9, bytes([3])))  # milliseconds
        + _idb(1, _option(9, bytes([0x80 | 20])) + _option(14, struct.pack("<q", T0)))  # 2^-20 s, offset
        + _idb(101, _option(9, bytes([9])))  # nanoseconds, raw IP
        + _epb(frame, T0 * 1000 + 250, interface=0)
        + _epb(frame, 3 << 19, interface=1)  # 1.5 s after the offset
        + _epb(bytes(udp6()), T0 * 10**9 + 7, interface=2)
    )
    datagrams = read(path)
    assert [d.time for d in datagrams] == [T0 + 0.25, T0 + 1.5, T0 + 7e-9]
    assert [d.src for d in datagrams] == ["192.168.1.10", "192.168.1.10", "fe80::1"]
    by_scapy = read(path, backend="scapy")  # scapy's reader ignores if_tsoffset, and agrees on the rest
    assert by_scapy[1] == datagrams[1]._replace(time=1.5)
    assert [by_scapy[0], by_scapy[2]] == [datagrams[0], datagrams[2]]


def test_pcapng_big_endian_section_then_little_endian_section_with_its_own_interfaces(tmp_path: Path) -> None:
    frame = bytes(Ether(src=MAC_A, dst=MAC_B) / udp4())
    big_endian = _shb(">") + _idb(1, endian=">") + _epb(frame, T0 * 10**6, endian=">")
    (tmp_path / "big.pcapng").write_bytes(big_endian)
    assert [(d.time, d.index) for d in both_backends(tmp_path / "big.pcapng")] == [(T0, 1)]
    # Interface ids are numbered per section: the second section's interface 0 is its SLL interface (scapy's
    # reader keeps the first section's interfaces, so only the native reader is checked here).
    sll = bytes(CookedLinux(proto=0x0800) / udp4())
    (tmp_path / "sections.pcapng").write_bytes(big_endian + _shb("<") + _idb(113) + _epb(sll, (T0 + 1) * 10**6))
    assert [(d.time, d.index) for d in read(tmp_path / "sections.pcapng")] == [(T0, 1), (T0 + 1, 2)]


def test_pcapng_simple_packet_block_takes_the_previous_timestamp(tmp_path: Path) -> None:
    frame = bytes(Ether(src=MAC_A, dst=MAC_B) / udp4())
    spb = _block(3, struct.pack("<I", len(frame)) + frame)
    path = tmp_path / "spb.pcapng"
    path.write_bytes(_shb() + _idb(1) + spb + _epb(frame, T0 * 10**6) + spb)
    assert [(d.time, d.index) for d in read(path)] == [(0.0, 1), (T0, 2), (T0, 3)]


def test_pcapng_unknown_blocks_are_skipped_and_bad_packet_blocks_reported(tmp_path: Path) -> None:
    frame = bytes(Ether(src=MAC_A, dst=MAC_B) / udp4())
    path = tmp_path / "blocks.pcapng"
    path.write_bytes(
        _shb() + _block(0x40000BAD, b"custom") + _idb(1) + _block(4, b"\0" * 4)  # custom block, name resolution
        + _epb(frame, 0, interface=7)  # undeclared interface
        + _epb(frame, 0, caplen=len(frame) + 40)  # captured length beyond the block
        + _epb(frame, T0 * 10**6)
    )  # fmt: skip
    datagrams, skips = read_with_skips(path)
    assert [d.index for d in datagrams] == [3]
    assert [index for index, _ in skips] == [1, 2]
    assert "undeclared interface 7" in skips[0][1]


# -- link types ------------------------------------------------------------------------------------------------


def test_ethernet_with_802_1q_and_qinq_tags(tmp_path: Path) -> None:
    packets = [
        timed(Ether(src=MAC_A, dst=MAC_B) / Dot1Q(vlan=10) / udp4(), T0),
        timed(Ether(src=MAC_A, dst=MAC_B) / Dot1AD(vlan=100) / Dot1Q(vlan=10) / udp6(), T0 + 1),
        timed(Ether(src=MAC_A, dst=MAC_B, type=0x8100) / Dot1Q(vlan=5) / Dot1Q(vlan=6) / udp4(), T0 + 2),
    ]
    datagrams = both_backends(write_pcap(tmp_path / "vlan.pcap", packets))
    assert [(d.src, d.payload) for d in datagrams] == [
        ("192.168.1.10", GET_D6),
        ("fe80::1", GET_D6),
        ("192.168.1.10", GET_D6),
    ]


def test_linux_cooked_sll_and_sll2(tmp_path: Path) -> None:
    sll = [
        timed(CookedLinux(pkttype=4, lladdrtype=1, lladdrlen=6, src=b"\x02\0\0\0\0\x0a", proto=0x0800) / udp4(), T0),
        timed(CookedLinux(proto=0x86DD) / udp6(), T0 + 1),
        timed(CookedLinux(proto=0x8100) / Dot1Q(vlan=3) / udp4(), T0 + 2),
    ]
    sll2 = [timed(CookedLinuxV2(proto=0x0800, ifindex=2) / udp4(), T0), timed(CookedLinuxV2(proto=0x86DD) / udp6(), T0)]
    path1 = write_pcap(tmp_path / "sll.pcap", sll)
    path2 = write_pcap(tmp_path / "sll2.pcap", sll2)
    assert struct.unpack_from("<I", path1.read_bytes(), 20)[0] == 113
    assert struct.unpack_from("<I", path2.read_bytes(), 20)[0] == 276
    assert [d.src for d in both_backends(path1)] == ["192.168.1.10", "fe80::1", "192.168.1.10"]
    assert [d.src for d in both_backends(path2)] == ["192.168.1.10", "fe80::1"]


@pytest.mark.parametrize("linktype", [101, 12, 14])
def test_raw_ip_link_types_carry_ipv4_and_ipv6(tmp_path: Path, linktype: int) -> None:
    path = write_raw_pcap(tmp_path / "raw.pcap", linktype, [bytes(udp4()), bytes(udp6())])
    assert [d.src for d in read(path)] == ["192.168.1.10", "fe80::1"]


def test_ipv4_only_and_ipv6_only_link_types(tmp_path: Path) -> None:
    v4 = write_raw_pcap(tmp_path / "v4.pcap", 228, [bytes(udp4())])
    v6 = write_raw_pcap(tmp_path / "v6.pcap", 229, [bytes(udp6())])
    assert [d.src for d in both_backends(v4)] == ["192.168.1.10"]
    assert [d.src for d in both_backends(v6)] == ["fe80::1"]


def test_bsd_loopback_in_either_byte_order_and_openbsd_loop(tmp_path: Path) -> None:
    frames = [
        struct.pack("<I", 2) + bytes(udp4()),  # captured on a little-endian host
        struct.pack(">I", 2) + bytes(udp4()),  # ... on a big-endian host
        struct.pack("<I", 30) + bytes(udp6()),  # Darwin's AF_INET6
        struct.pack("<I", 24) + bytes(udp6()),  # NetBSD/OpenBSD's
        struct.pack("<I", 7) + bytes(udp4()),  # another family: ignored
    ]
    null = write_raw_pcap(tmp_path / "null.pcap", 0, frames)
    assert [d.src for d in read(null)] == ["192.168.1.10", "192.168.1.10", "fe80::1", "fe80::1"]
    loop = write_raw_pcap(tmp_path / "loop.pcap", 108, [struct.pack(">I", 2) + bytes(udp4())])
    assert [d.src for d in read(loop)] == ["192.168.1.10"]
    scapy_null = write_pcap(tmp_path / "scapy-null.pcap", [timed(Loopback(type=2) / udp4(), T0)])
    assert [d.src for d in both_backends(scapy_null)] == ["192.168.1.10"]


def test_unusual_link_type_falls_back_to_scapy_dissection(tmp_path: Path) -> None:
    wifi = RadioTap() / Dot11(type=2, addr1=MAC_B, addr2=MAC_A, addr3=MAC_B) / LLC() / SNAP(code=0x0800) / udp4()
    path = write_raw_pcap(tmp_path / "wifi.pcap", 127, [bytes(wifi), bytes(RadioTap() / Dot11(type=0, subtype=8))])
    datagrams, skips = read_with_skips(path)
    assert [(d.src, d.dst, d.payload, d.index) for d in datagrams] == [("192.168.1.10", "192.168.1.21", GET_D6, 1)]
    assert skips == []  # the beacon is not IP: ignored silently


def test_link_type_nobody_knows_is_reported_once_not_per_packet(tmp_path: Path) -> None:
    path = write_raw_pcap(tmp_path / "user0.pcap", 147, [bytes(udp4()), bytes(udp4())])
    datagrams, skips = read_with_skips(path)
    assert datagrams == [] and skips == [(1, "unsupported link type 147: its packets are not read")]


# -- IP and UDP ------------------------------------------------------------------------------------------------


def test_ipv4_options_are_skipped_by_the_header_length(tmp_path: Path) -> None:
    packet = (
        Ether(src=MAC_A, dst=MAC_B)
        / IP(src="10.0.0.1", dst="10.0.0.2", options=[IPOption_Router_Alert()])
        / UDP(sport=3610, dport=3610)
        / Raw(GET_D6)
    )
    assert bytes(packet)[14] == 0x46
    (datagram,) = both_backends(write_pcap(tmp_path / "options.pcap", [timed(packet, T0)]))
    assert datagram.payload == GET_D6


def test_ipv6_extension_headers_are_walked(tmp_path: Path) -> None:
    base = IPv6(src="fe80::1", dst="fe80::2")
    tail = UDP(sport=3610, dport=3610) / Raw(GET_D6)
    chains = [
        base / IPv6ExtHdrHopByHop() / tail,
        base / IPv6ExtHdrHopByHop() / IPv6ExtHdrRouting(addresses=["fe80::3"]) / IPv6ExtHdrDestOpt() / tail,
        base / IPv6ExtHdrFragment(offset=0, m=0, id=7) / tail,  # atomic fragment: a whole datagram
        base / AH(nh=17, payloadlen=4, spi=1, seq=1, icv=b"\0" * 12) / tail,  # 24 bytes: (4 + 2) * 4
    ]
    packets = [timed(Ether(src=MAC_A, dst=MAC_B) / chain, T0 + i) for i, chain in enumerate(chains)]
    datagrams = both_backends(write_pcap(tmp_path / "ext.pcap", packets))
    assert [(d.src, d.dst, d.payload, d.index) for d in datagrams] == [
        ("fe80::1", "fe80::2", GET_D6, i) for i in range(1, 5)
    ]


def test_first_ipv4_fragment_of_a_wanted_datagram_is_reported_and_later_fragments_skipped(tmp_path: Path) -> None:
    big = (
        IP(src="192.168.1.21", dst="192.168.1.10", id=99) / UDP(sport=3610, dport=3610) / Raw(b"\x10\x81" + bytes(2000))
    )
    fragments = fragment4(big, fragsize=1000)  # type: ignore[no-untyped-call]
    assert len(fragments) == 3
    packets = [timed(Ether(src=MAC_A, dst=MAC_B) / f, T0 + i) for i, f in enumerate(fragments)]
    datagrams, skips = read_with_skips(write_pcap(tmp_path / "frag4.pcap", [*packets, timed(Ether() / udp4(), T0)]))
    assert [d.index for d in datagrams] == [4]
    # One report for the datagram: later fragments carry no ports, so they cannot be told to be ECHONET.
    assert [index for index, _ in skips] == [1]
    assert "reassembly is not supported" in skips[0][1]


def test_first_ipv6_fragment_of_a_wanted_datagram_is_reported_and_later_fragments_skipped(tmp_path: Path) -> None:
    big = IPv6(src="fe80::1", dst="fe80::2") / IPv6ExtHdrFragment(id=5) / UDP(sport=3610, dport=3610) / Raw(bytes(3000))
    fragments = fragment6(big, 1280)  # type: ignore[no-untyped-call]
    packets = [timed(Ether(src=MAC_A, dst=MAC_B) / f, T0) for f in fragments]
    datagrams, skips = read_with_skips(write_pcap(tmp_path / "frag6.pcap", packets))
    assert datagrams == [] and len(fragments) >= 3
    assert [index for index, _ in skips] == [1] and "reassembly is not supported" in skips[0][1]


def test_later_fragments_of_datagrams_on_other_ports_are_not_reported(tmp_path: Path) -> None:
    big = IP(src="192.168.1.21", dst="192.168.1.10") / UDP(sport=2049, dport=2049) / Raw(bytes(3000))
    fragments = fragment4(big, fragsize=1000)  # type: ignore[no-untyped-call]
    packets = [timed(Ether(src=MAC_A, dst=MAC_B) / f, T0) for f in fragments]
    assert read_with_skips(write_pcap(tmp_path / "nfs.pcap", packets)) == ([], [])


def test_ethernet_padding_and_trailers_are_not_part_of_the_payload(tmp_path: Path) -> None:
    short = Ether(src=MAC_A, dst=MAC_B) / udp4(b"\x10\x81")
    frame = bytes(short).ljust(60, b"\0") + b"\xde\xad\xbe\xef"  # minimum-size padding, then an FCS
    (datagram,) = read(write_raw_pcap(tmp_path / "pad.pcap", 1, [frame]))
    assert datagram.payload == b"\x10\x81"


def test_payload_cut_by_the_snap_length_is_reported_not_yielded(tmp_path: Path) -> None:
    frame = bytes(Ether(src=MAC_A, dst=MAC_B) / udp4(GET_RES_D6))
    path = tmp_path / "snap.pcap"
    with PcapWriter(str(path), linktype=1, snaplen=50) as writer:
        writer.write_header(None)
        writer.write_packet(frame[:50], sec=T0, usec=0, caplen=50, wirelen=len(frame))
    datagrams, skips = read_with_skips(path)
    assert datagrams == []
    assert skips == [(1, "UDP payload cut short by the capture snap length (8 of 18 bytes)")]


def test_ports_match_either_the_source_or_the_destination(tmp_path: Path) -> None:
    packets = [
        timed(Ether(src=MAC_A, dst=MAC_B) / udp4(sport=40001, dport=3610), T0),
        timed(Ether(src=MAC_A, dst=MAC_B) / udp4(sport=3610, dport=40002), T0),
        timed(Ether(src=MAC_A, dst=MAC_B) / udp4(sport=40003, dport=40004), T0),
    ]
    path = write_pcap(tmp_path / "ports.pcap", packets)
    assert [d.index for d in read(path)] == [1, 2]
    assert [d.index for d in read(path, ports=(40004,))] == [3]
    assert [d.index for d in read(path, ports=None)] == [1, 2, 3]
    assert read(path, ports=()) == []


# -- writer, progress, import hygiene --------------------------------------------------------------------------


def test_write_capture_round_trips_ipv4_and_ipv6_datagrams(tmp_path: Path) -> None:
    datagrams = [
        Datagram(T0 + 0.5, "192.168.1.10", "224.0.23.0", 3610, 3610, GET_D6),
        Datagram(T0 + 0.75, "fe80::1", "ff02::1", 3610, 3610, GET_D6),
        Datagram(T0 + 1.000001, "192.168.1.21", "192.168.1.10", 50000, 3610, bytes(1400)),
    ]
    path = tmp_path / "written.pcap"
    assert write_capture(path, datagrams) == 3
    assert both_backends(path) == [d._replace(index=i) for i, d in enumerate(datagrams, 1)]


def test_write_capture_frames_have_valid_checksums_and_multicast_macs(tmp_path: Path) -> None:
    path = tmp_path / "sums.pcap"
    write_capture(
        path,
        [
            Datagram(T0, "192.168.1.10", "224.0.23.0", 3610, 3610, GET_D6),
            Datagram(T0, "fe80::a8bb:ccff:fedd:ee10", "ff02::1", 3610, 3610, GET_D6 + b"\x01"),
        ],
    )
    with PcapNgReader(str(path)) as reader:  # reads classic pcap too
        packets = list(reader)
    for packet in packets:
        rebuilt = packet.copy()
        del rebuilt[UDP].chksum
        if IP in rebuilt:
            del rebuilt[IP].chksum
        rebuilt = Ether(bytes(rebuilt))
        assert rebuilt[UDP].chksum == packet[UDP].chksum
        if IP in packet:
            assert rebuilt[IP].chksum == packet[IP].chksum
    assert packets[0][Ether].dst == "01:00:5e:00:17:00"
    assert (packets[1][Ether].src, packets[1][Ether].dst) == ("aa:bb:cc:dd:ee:10", "33:33:00:00:00:01")


def test_write_capture_rejects_mixed_address_families(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="mixed address families"):
        write_capture(tmp_path / "bad.pcap", [Datagram(T0, "192.168.1.10", "ff02::1", 3610, 3610, b"")])
    with pytest.raises(ValueError):
        write_capture(tmp_path / "bad.pcap", [Datagram(T0, "192.168.1.10", "192.168.1.1", 70000, 3610, b"")])


def test_progress_reports_bytes_read_up_to_the_file_size() -> None:
    calls: list[tuple[int, int]] = []
    path = SAMPLES / "sample.pcapng"
    datagrams = list(iter_datagrams(path, progress=lambda done, total: calls.append((done, total))))
    size = path.stat().st_size
    assert datagrams and calls[0] == (0, size) and calls[-1] == (size, size)
    assert [done for done, _ in calls] == sorted(done for done, _ in calls)


def test_importing_echonet_pcap_does_not_import_scapy() -> None:
    code = "import sys, echonet, echonet.pcap; print(sorted(m for m in sys.modules if m.split('.')[0] == 'scapy'))"
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_reading_the_samples_does_not_import_scapy() -> None:
    code = (
        "import sys, echonet.pcap as p\n"
        "for name in ('sample.pcap', 'sample.pcapng'): assert len(list(p.iter_datagrams(sys.argv[1] + name))) == 20\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] == 'scapy'))"
    )
    args: list[str] = [sys.executable, "-c", code, f"{SAMPLES}/"]
    out = subprocess.run(args, cwd=ROOT, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
