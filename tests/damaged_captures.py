"""Builders of damaged captures for the tests: the sample captures cut, with a length or a timestamp corrupted, and
captures written by :func:`echonet.pcap.write_capture` of any size. Every damage is made to real files' bytes."""

from __future__ import annotations

import struct
from pathlib import Path
from typing import NamedTuple

from echonet.pcap import Datagram, write_capture

ROOT = Path(__file__).resolve().parents[1]
SAMPLE_PCAP = ROOT / "examples" / "captures" / "sample.pcap"
SAMPLE_PCAPNG = ROOT / "examples" / "captures" / "sample.pcapng"
T0 = 1748772000
GET_D6 = bytes.fromhex("1081000105ff010ef0016201d600")
GET_RES = bytes.fromhex("10810002027d0105ff017203e20400001450d304fffffa24da0143")


class Span(NamedTuple):
    """A record (pcap) or block (pcapng) of a capture: where it starts, its length in bytes, its type (pcapng)."""

    offset: int
    length: int
    kind: int = 0

    @property
    def end(self) -> int:
        return self.offset + self.length


def pcap_records(data: bytes) -> list[Span]:
    """The records of a little-endian classic pcap (header and data)."""
    spans, pos = [], 24
    while pos + 16 <= len(data):
        caplen = struct.unpack_from("<I", data, pos + 8)[0]
        spans.append(Span(pos, 16 + caplen))
        pos += 16 + caplen
    return spans


def pcapng_blocks(data: bytes) -> list[Span]:
    """The blocks of a little-endian pcapng."""
    spans, pos = [], 0
    while pos + 8 <= len(data):
        kind, length = struct.unpack_from("<II", data, pos)
        spans.append(Span(pos, length, kind))
        pos += length
    return spans


def with_u32(data: bytes, offset: int, value: int) -> bytes:
    """``data`` with the little-endian 32-bit word at ``offset`` replaced."""
    return data[:offset] + struct.pack("<I", value) + data[offset + 4 :]


def block(kind: int, body: bytes) -> bytes:
    body += b"\0" * (-len(body) % 4)
    return struct.pack("<II", kind, 12 + len(body)) + body + struct.pack("<I", 12 + len(body))


def pcapng_in_seconds(frames: list[tuple[int, bytes]]) -> bytes:
    """A pcapng of Ethernet ``(seconds, frame)`` packets whose interface counts time in whole seconds (if_tsresol 0),
    so that a 64-bit timestamp can lie beyond any calendar."""
    shb = block(0x0A0D0D0A, struct.pack("<IHHq", 0x1A2B3C4D, 1, 0, -1))
    tsresol = struct.pack("<HHB3x", 9, 1, 0) + struct.pack("<HH", 0, 0)
    idb = block(1, struct.pack("<HHI", 1, 0, 0) + tsresol)
    epbs = [
        block(6, struct.pack("<IIIII", 0, ticks >> 32, ticks & 0xFFFFFFFF, len(f), len(f)) + f) for ticks, f in frames
    ]
    return shb + idb + b"".join(epbs)


def ethernet_frames(path: Path, payloads: list[bytes]) -> list[bytes]:
    """The Ethernet frames ``write_capture`` writes for ``payloads`` (192.168.1.10 -> .21, port 3610)."""
    write_capture(
        path, [Datagram(T0 + i, "192.168.1.10", "192.168.1.21", 3610, 3610, p) for i, p in enumerate(payloads)]
    )
    data = path.read_bytes()
    return [data[s.offset + 16 : s.end] for s in pcap_records(data)]


def many_datagrams(path: Path, count: int) -> Path:
    """A pcap of ``count`` ECHONET datagrams (Get and Get_Res in turn, 1 ms apart), written by ``write_capture`` for
    the first two and copied for the rest (each copy one millisecond later)."""
    two = path.with_suffix(".two")
    write_capture(
        two,
        [
            Datagram(T0, "192.168.1.10", "192.168.1.21", 3610, 3610, GET_D6),
            Datagram(T0 + 0.001, "192.168.1.21", "192.168.1.10", 3610, 3610, GET_RES),
        ],
    )
    data = two.read_bytes()
    two.unlink()
    first, second = (data[s.offset : s.end] for s in pcap_records(data))
    with path.open("wb") as out:
        out.write(data[:24])
        for i in range(count):
            seconds, millis = divmod(i, 1000)
            record = first if i % 2 == 0 else second
            out.write(struct.pack("<II", T0 + seconds, millis * 1000) + record[8:])
    return path
