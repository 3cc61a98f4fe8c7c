"""Benchmark the capture readers side by side, in one run, and print packets/s and ratios.

Readers compared, on the same file:

* ``scapy PcapReader``: scapy's full dissection of every packet (streaming), then ``UDP in pkt`` filtering;
* ``scapy rdpcap``: the same dissection, loading the packets into a list;
* ``scapy raw + ours``: ``iter_datagrams(backend="scapy")``, scapy's RawPcapReader/RawPcapNgReader (no
  dissection) feeding echonet.pcap's hand-written link/IP/UDP header parsing;
* ``native``: ``iter_datagrams()``, echonet.pcap's own struct-based reader and the same header parsing.

By default it synthesises a capture of mixed home-network traffic (ECHONET Lite over IPv4 and IPv6, DNS, mDNS,
HTTPS over TCP, ARP, a VLAN-tagged ECHONET frame), written both as pcap and as pcapng. The full-dissection
readers are timed on the first ``--dissect`` packets only (they are about 100 times slower).

    python tools/bench_pcap.py [--packets 200000] [--dissect 20000] [--repeat 3] [--capture FILE ...]
"""

from __future__ import annotations

import argparse
import itertools
import struct
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # run as a script from anywhere
    sys.path.insert(0, str(ROOT))

from echonet.pcap import iter_datagrams  # noqa: E402

PORTS = (3610,)


def _templates() -> list[bytes]:
    """One frame of each kind of traffic, weighted by repetition."""
    from scapy.layers.dns import DNS, DNSQR
    from scapy.layers.inet import IP, TCP, UDP
    from scapy.layers.inet6 import IPv6
    from scapy.layers.l2 import ARP, Dot1Q, Ether
    from scapy.packet import Raw

    mac_a, mac_b = "02:00:00:00:00:0a", "02:00:00:00:00:15"
    get = bytes.fromhex("1081000205ff01027d016203e200d300da00")
    get_res = bytes.fromhex("10810002027d0105ff017203e20400001450d304fffffa24da0143")
    frames: list[Any] = [
        Ether(src=mac_a, dst=mac_b)
        / IP(src="192.168.1.10", dst="192.168.1.21")
        / UDP(sport=3610, dport=3610)
        / Raw(get),
        Ether(src=mac_b, dst=mac_a)
        / IP(src="192.168.1.21", dst="192.168.1.10")
        / UDP(sport=3610, dport=3610)
        / Raw(get_res),
        Ether(src=mac_a, dst="33:33:00:00:00:01")
        / IPv6(src="fe80::1", dst="ff02::1")
        / UDP(sport=3610, dport=3610)
        / Raw(get),
        Ether(src=mac_a, dst=mac_b)
        / Dot1Q(vlan=10)
        / IP(src="192.168.1.10", dst="192.168.1.22")
        / UDP(sport=3610, dport=3610)
        / Raw(get),
        Ether(src=mac_a, dst=mac_b)
        / IP(src="192.168.1.10", dst="192.168.1.1")
        / UDP(sport=53000, dport=53)
        / DNS(qd=DNSQR(qname="example.org")),
        Ether(src=mac_a, dst="01:00:5e:00:00:fb")
        / IP(src="192.168.1.10", dst="224.0.0.251")
        / UDP(sport=5353, dport=5353)
        / DNS(qd=DNSQR(qname="_echonet._udp.local", qtype="PTR")),
        Ether(src=mac_b, dst=mac_a)
        / IP(src="93.184.216.34", dst="192.168.1.10")
        / TCP(sport=443, dport=50000, flags="A")
        / Raw(b"\x17\x03\x03" + bytes(1200)),
        Ether(src=mac_a, dst=mac_b)
        / IP(src="192.168.1.10", dst="93.184.216.34")
        / TCP(sport=50000, dport=443, flags="A"),
        Ether(src=mac_a, dst="ff:ff:ff:ff:ff:ff") / ARP(psrc="192.168.1.10", pdst="192.168.1.21"),
    ]
    weights = [3, 3, 1, 1, 2, 1, 6, 6, 1]
    return [bytes(frame) for frame, weight in zip(frames, weights, strict=True) for _ in range(weight)]


def synthesise(directory: Path, packets: int) -> list[Path]:
    """Write ``packets`` packets as pcap and pcapng quickly with struct; return both paths."""
    templates = _templates()
    pcap_path, pcapng_path = directory / "bench.pcap", directory / "bench.pcapng"
    with pcap_path.open("wb") as pcap, pcapng_path.open("wb") as pcapng:
        pcap.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 262144, 1))
        shb = struct.pack("<IHHq", 0x1A2B3C4D, 1, 0, -1)
        idb = struct.pack("<HHI", 1, 0, 262144)
        for block_type, body in ((0x0A0D0D0A, shb), (1, idb)):
            pcapng.write(struct.pack("<II", block_type, 12 + len(body)) + body + struct.pack("<I", 12 + len(body)))
        start_us = 1_748_772_000 * 1_000_000
        for i in range(packets):
            frame = templates[i % len(templates)]
            us = start_us + i * 137
            pcap.write(struct.pack("<IIII", us // 1_000_000, us % 1_000_000, len(frame), len(frame)) + frame)
            pad = b"\0" * (-len(frame) % 4)
            length = 32 + len(frame) + len(pad)
            pcapng.write(
                struct.pack("<IIIIIII", 6, length, 0, us >> 32, us & 0xFFFFFFFF, len(frame), len(frame))
                + frame
                + pad
                + struct.pack("<I", length)
            )
    return [pcap_path, pcapng_path]


def _best(repeat: int, run: Callable[[], int]) -> tuple[float, int]:
    """Best elapsed time over ``repeat`` runs, and the run's result."""
    best, result = float("inf"), 0
    for _ in range(repeat):
        start = time.perf_counter()
        result = run()
        best = min(best, time.perf_counter() - start)
    return best, result


def bench_file(path: Path, dissect: int, repeat: int) -> None:
    from scapy.layers.inet import UDP
    from scapy.utils import PcapReader, rdpcap

    def native() -> int:
        return sum(1 for _ in iter_datagrams(path, PORTS))

    def scapy_raw() -> int:
        return sum(1 for _ in iter_datagrams(path, PORTS, backend="scapy"))

    def wanted(packet: Any) -> bool:
        if UDP not in packet:
            return False
        udp = packet[UDP]
        if udp.sport in PORTS or udp.dport in PORTS:
            bytes(udp.payload)
            return True
        return False

    def scapy_stream() -> int:
        with PcapReader(str(path)) as reader:
            return sum(1 for packet in itertools.islice(reader, dissect) if wanted(packet))

    def scapy_list() -> int:
        return sum(1 for packet in rdpcap(str(path), count=dissect) if wanted(packet))

    packets = count_packets(path)
    rows: list[tuple[str, int, float, int]] = []
    n_dissect = min(dissect, packets)
    elapsed, found = _best(1, scapy_stream)
    rows.append(("scapy PcapReader (full dissection)", n_dissect, elapsed, found))
    elapsed, found = _best(1, scapy_list)
    rows.append(("scapy rdpcap (full dissection)", n_dissect, elapsed, found))
    elapsed, found_raw = _best(repeat, scapy_raw)
    rows.append(("scapy raw reader + our header parsing", packets, elapsed, found_raw))
    elapsed, found_native = _best(repeat, native)
    rows.append(("native reader + our header parsing", packets, elapsed, found_native))
    if found_raw != found_native:
        raise SystemExit(f"readers disagree on {path}: scapy raw {found_raw}, native {found_native}")

    base = n_dissect / rows[0][2]
    raw_rate = packets / rows[2][2]
    print(f"\n{path.name}: {packets} packets, {path.stat().st_size / 1e6:.1f} MB, {found_native} datagrams on {PORTS}")
    print(
        f"  {'reader':40} {'packets':>9} {'packets/s':>12} {'us/packet':>10} {'x dissection':>13} {'x scapy raw':>12}"
    )
    for name, count, seconds, _found in rows:
        rate = count / seconds
        print(f"  {name:40} {count:9d} {rate:12,.0f} {1e6 / rate:10.2f} {rate / base:13.1f} {rate / raw_rate:12.2f}")


def count_packets(path: Path) -> int:
    """Count the packet records (pcap) or packet blocks (pcapng) with struct, independently of the readers."""
    data = path.read_bytes()
    count = 0
    if data[:4] == b"\x0a\x0d\x0d\x0a":
        pos, endian = 0, "<"
        while pos + 12 <= len(data):
            if data[pos : pos + 4] == b"\x0a\x0d\x0d\x0a":
                endian = "<" if data[pos + 8 : pos + 12] == b"\x4d\x3c\x2b\x1a" else ">"
            block_type, length = struct.unpack_from(endian + "II", data, pos)
            count += block_type in (2, 3, 6)
            pos += max(length, 12)
    else:
        endian = "<" if data[:4] in (b"\xd4\xc3\xb2\xa1", b"\x4d\x3c\xb2\xa1") else ">"
        pos = 24
        while pos + 16 <= len(data):
            count += 1
            pos += 16 + struct.unpack_from(endian + "I", data, pos + 8)[0]
    return count


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--packets", type=int, default=200_000, help="packets in the synthesised capture")
    parser.add_argument("--dissect", type=int, default=20_000, help="packets timed with full dissection")
    parser.add_argument("--repeat", type=int, default=3, help="runs of the fast readers (best is kept)")
    parser.add_argument("--capture", type=Path, nargs="*", help="uncompressed capture files to use instead")
    args = parser.parse_args(argv)
    print(f"Python {sys.version.split()[0]}; scapy ", end="")
    import scapy

    print(scapy.__version__)
    with tempfile.TemporaryDirectory() as tmp:
        paths = args.capture or synthesise(Path(tmp), args.packets)
        for path in paths:
            bench_file(path, args.dissect, args.repeat)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
