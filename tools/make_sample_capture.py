"""Write the sample captures ``examples/captures/sample.pcap`` and ``sample.pcapng``.

A short, deterministic ECHONET Lite session on UDP 3610: a controller (192.168.1.10) discovers two nodes by
multicast (one hosting a storage battery 0x027D01, one a water heater 0x026B01), reads and sets the battery,
receives an INF from the water heater, does a SetGet, gets a Get_SNA, and reads a node's identification number
over IPv6 (link-local). Mixed in are the field's pitfalls: a malformed frame (truncated EDT), a non-ECHONET
datagram on port 3610, an SSDP datagram on another port (not ECHONET: readers must ignore it), an EHD2 0x82
arbitrary-format frame, and a device that answers from a source port other than 3610.

Every payload is written out by hand below, in hex. The pcap is written by :func:`echonet.pcap.write_capture`;
the pcapng holds the very same frames (nanosecond ``if_tsresol``, interface ``eth0``, one comment per packet
saying what it is, and an interface statistics block at the end). Timestamps are fixed, so the files are
byte-for-byte reproducible::

    python tools/make_sample_capture.py [--out-dir examples/captures]
"""

from __future__ import annotations

import argparse
import struct
import sys
from pathlib import Path
from typing import NamedTuple

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # run as a script from anywhere
    sys.path.insert(0, str(ROOT))

from echonet.pcap import Datagram, write_capture  # noqa: E402

BASE_TIME = 1748772000  # 2025-06-01 10:00:00 UTC

CONTROLLER = "192.168.1.10"
BATTERY_NODE = "192.168.1.21"
HEATER_NODE = "192.168.1.22"
MULTICAST = "224.0.23.0"
CONTROLLER6 = "fe80::a8bb:ccff:fedd:ee10"
NODE6 = "fe80::8c3f:2aff:fe41:9b07"
ECHONET = 3610


class SamplePacket(NamedTuple):
    micros: int  # microseconds after BASE_TIME
    src: str
    dst: str
    sport: int
    dport: int
    payload: bytes
    comment: str

    @property
    def time(self) -> float:
        return BASE_TIME + self.micros / 1e6

    def datagram(self, index: int = 0) -> Datagram:
        return Datagram(self.time, self.src, self.dst, self.sport, self.dport, self.payload, index)


def _hex(text: str) -> bytes:
    return bytes.fromhex(text)


# fmt: off
SESSION: tuple[SamplePacket, ...] = (
    SamplePacket(0, CONTROLLER, MULTICAST, ECHONET, ECHONET,
                 _hex("10 81 0001 05FF01 0EF001 62 01 D6 00"),
                 "Get node profile 0xD6 (self-node instance list S), multicast discovery"),
    SamplePacket(12_840, BATTERY_NODE, CONTROLLER, ECHONET, ECHONET,
                 _hex("10 81 0001 0EF001 05FF01 72 01 D6 04 01 027D01"),
                 "Get_Res 0xD6: one instance, storage battery 0x027D01"),
    SamplePacket(19_377, HEATER_NODE, CONTROLLER, ECHONET, ECHONET,
                 _hex("10 81 0001 0EF001 05FF01 72 01 D6 04 01 026B01"),
                 "Get_Res 0xD6: one instance, electric water heater 0x026B01"),
    SamplePacket(1_000_000, CONTROLLER, BATTERY_NODE, ECHONET, ECHONET,
                 _hex("10 81 0002 05FF01 027D01 62 03 E2 00 D3 00 DA 00"),
                 "Get battery 0xE2 (remaining Wh), 0xD3 (instantaneous W), 0xDA (operation mode)"),
    SamplePacket(1_034_512, BATTERY_NODE, CONTROLLER, ECHONET, ECHONET,
                 _hex("10 81 0002 027D01 05FF01 72 03 E2 04 00001450 D3 04 FFFFFA24 DA 01 43"),
                 "Get_Res: 0xE2 = 5200 Wh, 0xD3 = -1500 W (discharging), 0xDA = 0x43 discharging"),
    SamplePacket(2_000_000, CONTROLLER, BATTERY_NODE, ECHONET, ECHONET,
                 _hex("10 81 0003 05FF01 027D01 61 01 DA 01 42"),
                 "SetC battery 0xDA = 0x42 (charging)"),
    SamplePacket(2_041_207, BATTERY_NODE, CONTROLLER, ECHONET, ECHONET,
                 _hex("10 81 0003 027D01 05FF01 71 01 DA 00"),
                 "Set_Res: 0xDA accepted"),
    SamplePacket(3_500_331, HEATER_NODE, MULTICAST, ECHONET, ECHONET,
                 _hex("10 81 002A 026B01 0EF001 73 01 80 01 30"),
                 "INF from the water heater: 0x80 operation status = 0x30 (on), multicast"),
    SamplePacket(4_000_000, CONTROLLER, HEATER_NODE, ECHONET, ECHONET,
                 _hex("10 81 0004 05FF01 026B01 6E 01 B0 01 41 01 E1 00"),
                 "SetGet water heater: set 0xB0 = 0x41 (automatic heating), get 0xE1 (remaining hot water)"),
    SamplePacket(4_052_918, HEATER_NODE, CONTROLLER, ECHONET, ECHONET,
                 _hex("10 81 0004 026B01 05FF01 7E 01 B0 00 01 E1 02 00B4"),
                 "SetGet_Res: 0xB0 accepted, 0xE1 = 180 L"),
    SamplePacket(5_000_000, CONTROLLER, BATTERY_NODE, ECHONET, ECHONET,
                 _hex("10 81 0005 05FF01 027D01 62 02 E2 00 F5 00"),
                 "Get battery 0xE2 and 0xF5 (manufacturer-specific, not supported by this device)"),
    SamplePacket(5_029_655, BATTERY_NODE, CONTROLLER, ECHONET, ECHONET,
                 _hex("10 81 0005 027D01 05FF01 52 02 E2 04 00001428 F5 00"),
                 "Get_SNA: 0xE2 = 5160 Wh, 0xF5 unreadable (PDC 0)"),
    SamplePacket(6_000_000, CONTROLLER6, NODE6, ECHONET, ECHONET,
                 _hex("10 81 0006 05FF01 0EF001 62 01 83 00"),
                 "IPv6: Get node profile 0x83 (identification number)"),
    SamplePacket(6_021_773, NODE6, CONTROLLER6, ECHONET, ECHONET,
                 _hex("10 81 0006 0EF001 05FF01 72 01 83 11 FE FFFFFF 00112233445566778899AABBCC"),
                 "IPv6: Get_Res 0x83 = FE, manufacturer code FFFFFF (placeholder), 13 unique bytes"),
    SamplePacket(6_900_000, CONTROLLER, BATTERY_NODE, ECHONET, ECHONET,
                 _hex("10 81 0007 05FF01 027D01 62 01 E2 00"),
                 "Get battery 0xE2"),
    SamplePacket(7_000_000, BATTERY_NODE, CONTROLLER, ECHONET, ECHONET,
                 _hex("10 81 0007 027D01 05FF01 72 01 E2 04 0000"),
                 "MALFORMED Get_Res: 0xE2 PDC 4 but only 2 bytes of EDT (truncated)"),
    SamplePacket(7_500_000, "192.168.1.50", CONTROLLER, 51000, ECHONET,
                 b"hello from a misconfigured logger\n",
                 "NOT ECHONET: ASCII text sent to UDP 3610"),
    SamplePacket(8_000_000, "192.168.1.30", "239.255.255.250", 1900, 1900,
                 b"NOTIFY * HTTP/1.1\r\nHOST: 239.255.255.250:1900\r\nNT: upnp:rootdevice\r\n"
                 b"NTS: ssdp:alive\r\nUSN: uuid:00000000-0000-0000-0000-000000000001::upnp:rootdevice\r\n\r\n",
                 "OTHER PORT: SSDP NOTIFY on UDP 1900 (not ECHONET Lite; readers of port 3610 ignore it)"),
    SamplePacket(9_000_000, HEATER_NODE, CONTROLLER, ECHONET, ECHONET,
                 _hex("10 82 0008 0001 0203 FEDC BA98"),
                 "EHD2 0x82 arbitrary-format frame: EDATA is opaque"),
    SamplePacket(10_000_000, CONTROLLER, HEATER_NODE, ECHONET, ECHONET,
                 _hex("10 81 0009 05FF01 026B01 62 01 80 00"),
                 "Get water heater 0x80 (operation status)"),
    SamplePacket(10_030_114, HEATER_NODE, CONTROLLER, 49153, ECHONET,
                 _hex("10 81 0009 026B01 05FF01 72 01 80 01 30"),
                 "Get_Res 0x80 = 0x30 from source port 49153, not 3610 (match answers on peer IP and TID)"),
)
# fmt: on


# -- pcapng (written by hand: one section, one Ethernet interface, nanosecond timestamps) ---------------------


def _option(code: int, value: bytes) -> bytes:
    return struct.pack("<HH", code, len(value)) + value + b"\0" * (-len(value) % 4)


def _block(block_type: int, body: bytes) -> bytes:
    length = 12 + len(body) + (-len(body) % 4)
    return struct.pack("<II", block_type, length) + body + b"\0" * (-len(body) % 4) + struct.pack("<I", length)


def pcap_to_pcapng(pcap: bytes, comments: list[str]) -> bytes:
    """Re-wrap the records of a little-endian microsecond Ethernet pcap as a pcapng with one comment each."""
    magic, _major, _minor, _zone, _sigfigs, snaplen, linktype = struct.unpack_from("<IHHiIII", pcap)
    if magic != 0xA1B2C3D4:
        raise ValueError("expected a little-endian microsecond pcap")
    end_of_options = _option(0, b"")
    shb = struct.pack("<IHHq", 0x1A2B3C4D, 1, 0, -1)
    shb += _option(4, b"echonet-da tools/make_sample_capture.py") + end_of_options
    idb = struct.pack("<HHI", linktype, 0, snaplen)
    idb += _option(2, b"eth0") + _option(9, bytes((9,))) + end_of_options  # if_tsresol: 10^-9 s
    out = [_block(0x0A0D0D0A, shb), _block(1, idb)]
    pos, count, first_ns, last_ns = 24, 0, 0, 0
    while pos < len(pcap):
        sec, usec, caplen, wirelen = struct.unpack_from("<IIII", pcap, pos)
        frame = pcap[pos + 16 : pos + 16 + caplen]
        pos += 16 + caplen
        ns = sec * 1_000_000_000 + usec * 1000
        first_ns, last_ns = (ns if count == 0 else first_ns), ns
        epb = struct.pack("<IIIII", 0, ns >> 32, ns & 0xFFFFFFFF, caplen, wirelen) + frame
        epb += b"\0" * (-len(frame) % 4) + _option(1, comments[count].encode()) + end_of_options
        out.append(_block(6, epb))
        count += 1
    isb = struct.pack("<III", 0, last_ns >> 32, last_ns & 0xFFFFFFFF)
    isb += _option(2, struct.pack("<II", first_ns >> 32, first_ns & 0xFFFFFFFF))  # isb_starttime
    isb += _option(3, struct.pack("<II", last_ns >> 32, last_ns & 0xFFFFFFFF))  # isb_endtime
    isb += _option(4, struct.pack("<Q", count)) + _option(5, struct.pack("<Q", 0)) + end_of_options
    out.append(_block(5, isb))
    return b"".join(out)


def write_samples(out_dir: Path) -> tuple[Path, Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    pcap_path, pcapng_path = out_dir / "sample.pcap", out_dir / "sample.pcapng"
    write_capture(pcap_path, (packet.datagram() for packet in SESSION))
    pcapng = pcap_to_pcapng(pcap_path.read_bytes(), [packet.comment for packet in SESSION])
    pcapng_path.write_bytes(pcapng)
    return pcap_path, pcapng_path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out-dir", type=Path, default=ROOT / "examples" / "captures")
    args = parser.parse_args(argv)
    for path in write_samples(args.out_dir):
        print(f"wrote {path} ({path.stat().st_size} bytes)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
