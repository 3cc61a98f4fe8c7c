"""Read ECHONET Lite datagrams out of packet captures, and write small captures.

:func:`iter_datagrams` streams the UDP datagrams of a pcap or pcapng file (optionally gzip-compressed) whose
source or destination port is in ``ports``, in constant memory, as :class:`Datagram` tuples. The ECHONET Lite
payload is handed over as opaque bytes: decoding it is the codec's job.

How packets are read
--------------------
The default ``backend="native"`` is this module's own reader: it reads the file in 1 MiB chunks and walks
the pcap records or pcapng blocks (SHB/IDB/EPB/SPB/PB, per-interface link type, ``if_tsresol`` and
``if_tsoffset``) with :mod:`struct`, then hand-parses the link, IP and UDP headers by offset into the chunk.
No scapy layer is dissected on this path: the requirement is to read packets without scapy's per-packet
dissection (about 150 us a packet) wherever that is faster. ``tools/bench_pcap.py`` measures, side by side
in one run, scapy's full dissection (``PcapReader``, ``rdpcap``), scapy's raw readers (``RawPcapReader`` /
``RawPcapNgReader``) feeding this module's header parsing, and the native reader. On its mixed traffic
(200 000 packets, a third of them ECHONET) the native reader took 1.8 us a packet from pcap and 2.7 us from
pcapng, against 4.3 and 7.3 us through scapy's raw readers and 220 to 370 us with full dissection: about
2.5 times the raw readers and over 100 times dissection, so it is the default.

scapy stays the fallback for the exotic cases: packets of a link type this module does not parse by hand
(anything but Ethernet 1, BSD null/loopback 0 and 108, raw IP 101/228/229 and 12/14, Linux cooked SLL 113
and SLL2 276; e.g. 802.11 with radiotap) are dissected by scapy down to their IP layer, and ``backend="scapy"``
reads the file container with scapy's raw readers (used to cross-check the native reader in the tests and in
the benchmark). scapy is imported lazily, inside the functions that need it: ``import echonet`` never imports
it.

Handled headers: Ethernet with any number of 802.1Q/802.1ad (QinQ) tags; IPv4 with options; IPv6 with
hop-by-hop, routing, destination-options, fragment and AH extension headers; UDP. A fragment that is not a
whole datagram cannot be decoded (and this reader does not reassemble): a non-first fragment of a UDP
datagram, and the first fragment of a UDP datagram to or from a selected port, are skipped and reported.

Nothing a capture contains makes the reader raise: a truncated or garbled packet is skipped and reported
through the optional ``on_skip(index, reason)`` callback, and a capture cut short (or corrupt beyond
resynchronisation) ends the iteration after a last report. Packets that are merely something else (ARP,
TCP, UDP on other ports) are skipped silently. Only a file that cannot be opened or is not a capture at all
raises :class:`CaptureError`, with a one-line message, when :func:`iter_datagrams` is called (and, during
the iteration, an I/O error of the operating system).

:func:`write_capture` writes a classic pcap (Ethernet, microsecond timestamps) of UDP datagrams, with valid IP
and UDP checksums; the tests and ``tools/make_sample_capture.py`` use it.
"""

from __future__ import annotations

import gzip
import ipaddress
import os
import socket
import struct
import time
import zlib
from collections.abc import Callable, Iterable, Iterator
from typing import IO, Any, Final, Literal, NamedTuple, cast

from .constants import ECHONET_PORT
from .errors import CaptureError

__all__ = [
    "ECHONET_PORT",
    "Backend",
    "CaptureError",
    "Datagram",
    "ProgressCallback",
    "SkipCallback",
    "iter_datagrams",
    "write_capture",
]



class Datagram(NamedTuple):
    """One UDP datagram found in a capture."""

    time: float
    """Capture time, seconds since the epoch."""
    src: str
    """Source IP address (IPv4 dotted quad or compressed IPv6)."""
    dst: str
    """Destination IP address."""
    sport: int
    dport: int
    payload: bytes
    """The UDP payload (an ECHONET Lite frame, or whatever else was sent to the port)."""
    index: int = 0  # type: ignore[assignment]  # the field shadows tuple.index(), as the API wants
    """Packet number in the file, counted from 1 like Wireshark's frame number (ignored by write_capture)."""


ProgressCallback = Callable[[int, int], None]
"""``progress(bytes_read, total_bytes)``; ``total_bytes`` is the file's size on disk (gzip: compressed)."""

SkipCallback = Callable[[int, str], None]
"""``on_skip(index, reason)`` for a packet that may have been a wanted datagram but cannot be decoded."""

Backend = Literal["native", "scapy"]

# -- internal constants --------------------------------------------------------------------------------------

_CHUNK: Final = 1 << 20
_MAX_RECORD: Final = 1 << 24  # a larger record or block is taken as corruption (Wireshark: 256 KiB packets)
_PROGRESS_EVERY: Final = 0.25  # seconds
_SCAPY_PROGRESS_PACKETS: Final = 1024

_PCAP_MAGICS: Final[dict[bytes, tuple[str, bool]]] = {  # magic -> (struct byte order, nanosecond timestamps)
    b"\xd4\xc3\xb2\xa1": ("<", False),
    b"\xa1\xb2\xc3\xd4": (">", False),
    b"\x4d\x3c\xb2\xa1": ("<", True),
    b"\xa1\xb2\x3c\x4d": (">", True),
}
_PCAPNG_SHB: Final = b"\x0a\x0d\x0d\x0a"
_PCAPNG_SHB_TYPE: Final = 0x0A0D0D0A
_PCAPNG_BOM: Final[dict[bytes, str]] = {b"\x1a\x2b\x3c\x4d": ">", b"\x4d\x3c\x2b\x1a": "<"}
_GZIP_MAGIC: Final = b"\x1f\x8b"

_ETH_IPV4: Final = 0x0800
_ETH_IPV6: Final = 0x86DD
_VLAN_TPIDS: Final = frozenset((0x8100, 0x88A8, 0x9100, 0x9200))
_IPPROTO_UDP: Final = 17
_IPV6_EXT_GENERIC: Final = frozenset((0, 43, 60))  # hop-by-hop, routing, destination options: (len + 1) * 8
_IPV6_FRAGMENT: Final = 44
_IPV6_AH: Final = 51  # (len + 2) * 4
_AF_INET6_VALUES: Final = frozenset((10, 24, 28, 30))  # Linux, NetBSD/OpenBSD, FreeBSD, Darwin

_U16: Final = struct.Struct("!H")
_UDP_HDR: Final = struct.Struct("!HHH")
_IPV4_LEN_FRAG: Final = struct.Struct("!H2xH")
_U32_LE: Final = struct.Struct("<I")

_ntoa = socket.inet_ntoa
_ntop = socket.inet_ntop
_AF_INET6 = socket.AF_INET6

# A decoded packet: (src, dst, sport, dport, payload); a str is a skip reason; None means "not wanted".
_Result = tuple[str, str, int, int, bytes] | str | None
_Ports = frozenset[int] | None
_LinkDecoder = Callable[[bytes, int, int, _Ports], _Result]


# -- IP and UDP ----------------------------------------------------------------------------------------------


def _udp_payload(buf: bytes, u: int, ip_end: int, cut: bool, ulen: int) -> bytes | str:
    if ulen < 8:
        return f"bad UDP length {ulen}"
    end = u + ulen
    if end > ip_end:
        if cut:
            return f"UDP payload cut short by the capture snap length ({ip_end - u - 8} of {ulen - 8} bytes)"
        return f"UDP length {ulen} exceeds the {ip_end - u} bytes of IP payload"
    return buf[u + 8 : end]


def _ipv4(buf: bytes, off: int, end: int, ports: _Ports) -> _Result:
    if end - off < 20:
        return "truncated IPv4 header"
    b0 = buf[off]
    if b0 >> 4 != 4:
        return f"bad IPv4 header (version {b0 >> 4})"
    if buf[off + 9] != _IPPROTO_UDP:
        return None
    ihl = (b0 & 15) << 2
    total, frag = _IPV4_LEN_FRAG.unpack_from(buf, off + 2)
    if ihl < 20 or (total and total < ihl):
        return f"bad IPv4 header (header length {ihl}, total length {total})"
    if total:  # 0 is seen on captures of segmentation-offloaded packets: trust the captured length then
        ip_end = off + total
        cut = ip_end > end
        if cut:
            ip_end = end
    else:
        ip_end, cut = end, False
    if frag & 0x1FFF:
        return f"IPv4 fragment at offset {(frag & 0x1FFF) << 3} of a UDP datagram: not decodable on its own"
    u = off + ihl
    if ip_end - u < 8:
        return "truncated UDP header"
    sport, dport, ulen = _UDP_HDR.unpack_from(buf, u)
    if ports is not None and sport not in ports and dport not in ports:
        return None
    if frag & 0x2000:
        return f"first fragment of a fragmented UDP datagram ({ulen} bytes): reassembly is not supported"
    payload = _udp_payload(buf, u, ip_end, cut, ulen)
    if isinstance(payload, str):
        return payload
    return _ntoa(buf[off + 12 : off + 16]), _ntoa(buf[off + 16 : off + 20]), sport, dport, payload


def _ipv6(buf: bytes, off: int, end: int, ports: _Ports) -> _Result:
    if end - off < 40:
        return "truncated IPv6 header"
    if buf[off] >> 4 != 6:
        return f"bad IPv6 header (version {buf[off] >> 4})"
    plen = _U16.unpack_from(buf, off + 4)[0]
    nh = buf[off + 6]
    p = off + 40
    if plen:
        ip_end = p + plen
        cut = ip_end > end
        if cut:
            ip_end = end
    else:  # jumbogram or segmentation offload: trust the captured length
        ip_end, cut = end, False
    first_fragment = False
    while nh != _IPPROTO_UDP:
        if nh in _IPV6_EXT_GENERIC:
            if ip_end - p < 8:
                return "truncated IPv6 extension header"
            nh, p = buf[p], p + ((buf[p + 1] + 1) << 3)
        elif nh == _IPV6_FRAGMENT:
            if ip_end - p < 8:
                return "truncated IPv6 fragment header"
            nh = buf[p]
            offset_m = _U16.unpack_from(buf, p + 2)[0]
            p += 8
            if offset_m & 0xFFF8:
                if nh == _IPPROTO_UDP:
                    offset = offset_m & 0xFFF8
                    return f"IPv6 fragment at offset {offset} of a UDP datagram: not decodable on its own"
                return None
            first_fragment = bool(offset_m & 1)
        elif nh == _IPV6_AH:
            if ip_end - p < 8:
                return "truncated IPv6 authentication header"
            nh, p = buf[p], p + ((buf[p + 1] + 2) << 2)
        else:
            return None  # another protocol, ESP, or no next header
    if ip_end - p < 8:
        return "truncated UDP header"
    sport, dport, ulen = _UDP_HDR.unpack_from(buf, p)
    if ports is not None and sport not in ports and dport not in ports:
        return None
    if first_fragment:
        return f"first fragment of a fragmented UDP datagram ({ulen} bytes): reassembly is not supported"
    payload = _udp_payload(buf, p, ip_end, cut, ulen)
    if isinstance(payload, str):
        return payload
    return (
        _ntop(_AF_INET6, buf[off + 8 : off + 24]),
        _ntop(_AF_INET6, buf[off + 24 : off + 40]),
        sport,
        dport,
        payload,
    )


def _raw_ip(buf: bytes, off: int, end: int, ports: _Ports) -> _Result:
    if off >= end:
        return "empty packet"
    version = buf[off] >> 4
    if version == 4:
        return _ipv4(buf, off, end, ports)
    if version == 6:
        return _ipv6(buf, off, end, ports)
    return f"raw IP packet of unknown version {version}"


# -- link layers ---------------------------------------------------------------------------------------------


def _ethertype(etype: int, buf: bytes, off: int, end: int, ports: _Ports) -> _Result:
    while etype in _VLAN_TPIDS:
        if end - off < 4:
            return "truncated VLAN tag"
        etype = (buf[off + 2] << 8) | buf[off + 3]
        off += 4
    if etype == _ETH_IPV4:
        return _ipv4(buf, off, end, ports)
    if etype == _ETH_IPV6:
        return _ipv6(buf, off, end, ports)
    return None


def _link_ethernet(buf: bytes, off: int, end: int, ports: _Ports) -> _Result:
    if end - off < 14:
        return "truncated Ethernet header"
    etype = (buf[off + 12] << 8) | buf[off + 13]
    if etype == _ETH_IPV4:  # the common case, one call shorter
        return _ipv4(buf, off + 14, end, ports)
    return _ethertype(etype, buf, off + 14, end, ports)


def _link_sll(buf: bytes, off: int, end: int, ports: _Ports) -> _Result:
    if end - off < 16:
        return "truncated Linux cooked (SLL) header"
    return _ethertype((buf[off + 14] << 8) | buf[off + 15], buf, off + 16, end, ports)


def _link_sll2(buf: bytes, off: int, end: int, ports: _Ports) -> _Result:
    if end - off < 20:
        return "truncated Linux cooked (SLL2) header"
    return _ethertype((buf[off] << 8) | buf[off + 1], buf, off + 20, end, ports)


def _link_null(buf: bytes, off: int, end: int, ports: _Ports) -> _Result:
    # BSD loopback: a 4-byte address family, in the capturing host's byte order (0) or big-endian (108).
    if end - off < 4:
        return "truncated loopback header"
    family = _U32_LE.unpack_from(buf, off)[0]
    if family > 0xFFFF:
        family = int.from_bytes(buf[off : off + 4], "big")
    if family == 2:
        return _ipv4(buf, off + 4, end, ports)
    if family in _AF_INET6_VALUES:
        return _ipv6(buf, off + 4, end, ports)
    return None


_LINK_DECODERS: Final[dict[int, _LinkDecoder]] = {
    0: _link_null,
    1: _link_ethernet,
    12: _raw_ip,  # DLT_RAW as written by scapy and some BSDs (Wireshark reads 12 and 14 as raw IP too)
    14: _raw_ip,
    101: _raw_ip,
    108: _link_null,
    113: _link_sll,
    228: _ipv4,
    229: _ipv6,
    276: _link_sll2,
}


class _ScapyLinkDecoder:
    """Fallback for link types not parsed by hand: scapy dissects down to the IP layer (slow; exotic cases)"""

    def __init__(self, linktype: int) -> None:
        self.linktype = linktype
        self.loaded = False
        self.cls: Any = None
        self.ip_classes: tuple[type, ...] = ()
        self.no_payload: type = type(None)
        self.missing = ""

    def _load(self) -> None:
        self.loaded = True
        try:
            import scapy.layers.all  # noqa: F401  (registers every link type scapy knows)
            from scapy.config import conf
            from scapy.layers.inet import IP
            from scapy.layers.inet6 import IPv6
            from scapy.packet import NoPayload
        except ImportError:
            self.missing = " (scapy is not installed)"
            return
        self.cls = conf.l2types.num2layer.get(self.linktype)
        self.ip_classes = (IP, IPv6)
        self.no_payload = NoPayload

    def __call__(self, buf: bytes, off: int, end: int, ports: _Ports) -> _Result:
        if not self.loaded:
            self._load()
        if self.cls is None:
            return f"unsupported link type {self.linktype}{self.missing}"
        try:
            layer = self.cls(buf[off:end])
            while not isinstance(layer, self.ip_classes):
                if isinstance(layer, self.no_payload):
                    return None
                layer = layer.payload
            ip = bytes(cast(Any, layer))
        except Exception as exc:  # scapy's dissectors are not ours; garbage must never escape as an exception
            return f"link type {self.linktype}: scapy could not dissect the packet ({type(exc).__name__})"
        return _raw_ip(ip, 0, len(ip), ports)


def _decoder_for(linktype: int) -> _LinkDecoder:
    return _LINK_DECODERS.get(linktype) or _ScapyLinkDecoder(linktype)


# -- file access ---------------------------------------------------------------------------------------------


class _Corrupt(Exception):
    """The (compressed) stream cannot be read further; the message is the skip reason."""


class _Input:
    """An opened capture: the raw file, the stream to read (raw or gunzipped) and the progress bookkeeping."""

    def __init__(self, name: str, raw: IO[bytes], stream: IO[bytes], total: int) -> None:
        self.name = name
        self.raw = raw
        self.stream = stream
        self.total = total
        self.progress: ProgressCallback | None = None
        self.last_progress = 0.0

    def read(self, n: int) -> bytes:
        try:
            return self.stream.read(n)
        except (EOFError, zlib.error, gzip.BadGzipFile) as exc:
            raise _Corrupt(f"compressed capture is corrupt or cut short ({exc})") from None
        except OSError as exc:
            raise CaptureError(f"{self.name}: read error ({exc.strerror or exc})") from None

    def tick(self) -> None:
        if self.progress is not None:
            now = time.monotonic()
            if now - self.last_progress >= _PROGRESS_EVERY:
                self.last_progress = now
                self.progress(self.raw.tell(), self.total)

    def close(self) -> None:
        if self.stream is not self.raw:
            self.stream.close()
        self.raw.close()


def _display(path: str | os.PathLike[str]) -> str:
    name = os.fspath(path)
    return name if name.isprintable() else repr(name)


def _open(path: str | os.PathLike[str]) -> tuple[_Input, bytes]:
    """Open a capture and check its header; returns the input and the bytes already read from the stream."""
    name = _display(path)
    try:
        raw: IO[bytes] = open(path, "rb")  # noqa: SIM115  (closed by the reader's generator)
    except FileNotFoundError:
        raise CaptureError(f"{name}: no such file") from None
    except IsADirectoryError:
        raise CaptureError(f"{name}: is a directory, not a capture file") from None
    except OSError as exc:
        raise CaptureError(f"{name}: cannot open ({exc.strerror or exc})") from None
    try:
        total = os.fstat(raw.fileno()).st_size
        stream = raw
        head = raw.read(4)
        if head[:2] == _GZIP_MAGIC:
            raw.seek(0)
            stream = gzip.GzipFile(fileobj=raw, mode="rb")  # type: ignore[assignment]
        inp = _Input(name, raw, stream, total)
        if stream is not raw:
            try:
                head = inp.read(4)
            except _Corrupt:
                raise CaptureError(f"{name}: corrupt gzip file") from None
        if not head:
            raise CaptureError(f"{name}: empty file, not a pcap or pcapng file")
        if head in _PCAP_MAGICS:
            head += inp.read(20)
            if len(head) < 24:
                raise CaptureError(f"{name}: truncated pcap file header")
        elif head == _PCAPNG_SHB:
            head += inp.read(12)
            if len(head) < 16 or head[8:12] not in _PCAPNG_BOM:
                raise CaptureError(f"{name}: truncated or corrupt pcapng section header")
            major = struct.unpack_from(_PCAPNG_BOM[head[8:12]] + "H", head, 12)[0]
            if major != 1:
                raise CaptureError(f"{name}: unsupported pcapng version {major}")
        else:
            raise CaptureError(f"{name}: not a pcap or pcapng file (magic 0x{head.hex()})")
    except BaseException:
        raw.close()
        raise
    return inp, head


# -- native readers ------------------------------------------------------------------------------------------


def _read_pcap(inp: _Input, head: bytes, ports: _Ports, on_skip: SkipCallback | None) -> Iterator[Datagram]:
    endian, nano = _PCAP_MAGICS[head[:4]]
    linktype = struct.unpack_from(endian + "I", head, 20)[0] & 0xFFFF  # high bits: FCS length flags
    decode = _decoder_for(linktype)
    divisor = 1e9 if nano else 1e6
    record = struct.Struct(endian + "IIII").unpack_from
    read, tick = inp.read, inp.tick
    buf = b""
    pos = index = 0
    reason = ""
    try:
        while True:
            if len(buf) - pos < 16:
                buf = buf[pos:] + read(_CHUNK)
                pos = 0
                tick()
                if len(buf) < 16:
                    if buf:
                        reason = f"capture cut short inside a record header ({len(buf)} of 16 bytes)"
                    break
            sec, frac, caplen, _wirelen = record(buf, pos)
            start = pos + 16
            end = start + caplen
            if end > len(buf):
                if caplen > _MAX_RECORD:
                    reason = f"corrupt record (captured length {caplen}): cannot read further"
                    break
                buf = buf[pos:] + read(max(_CHUNK, end - len(buf)))
                pos, start, end = 0, 16, 16 + caplen
                tick()
                if end > len(buf):
                    reason = f"capture cut short inside the packet ({len(buf) - 16} of {caplen} bytes)"
                    break
            index += 1
            result = decode(buf, start, end, ports)
            pos = end
            if result is None:
                continue
            if isinstance(result, str):
                if on_skip is not None:
                    on_skip(index, result)
                continue
            yield Datagram(sec + frac / divisor, *result, index)
    except _Corrupt as exc:
        reason = str(exc)
    if reason and on_skip is not None:
        on_skip(index + 1, reason)


class _Interface(NamedTuple):
    decode: _LinkDecoder
    resolution: int  # timestamp units per second
    offset: int  # seconds added to every timestamp
    snaplen: int


def _unusable_interface(buf: bytes, off: int, end: int, ports: _Ports) -> _Result:
    return "packet on an interface whose description block is too short"


def _parse_idb(buf: bytes, body: int, bend: int, endian: str) -> _Interface:
    if bend - body < 8:
        return _Interface(_unusable_interface, 1, 0, 0)
    linktype, snaplen = struct.unpack_from(endian + "H2xI", buf, body)
    resolution, offset = 1_000_000, 0
    p = body + 8
    while bend - p >= 4:
        code, length = struct.unpack_from(endian + "HH", buf, p)
        p += 4
        if code == 0 or p + length > bend:
            break
        if code == 9 and length == 1:  # if_tsresol
            resolution = (2 if buf[p] & 0x80 else 10) ** (buf[p] & 0x7F)
        elif code == 14 and length == 8:  # if_tsoffset
            offset = struct.unpack_from(endian + "q", buf, p)[0]
        p += (length + 3) & ~3
    return _Interface(_decoder_for(linktype), resolution, offset, snaplen)


def _read_pcapng(inp: _Input, head: bytes, ports: _Ports, on_skip: SkipCallback | None) -> Iterator[Datagram]:
    read, tick = inp.read, inp.tick
    interfaces: list[_Interface] = []
    endian = "<"
    block_header = struct.Struct("<II").unpack_from
    u32 = struct.Struct("<I").unpack_from
    epb = struct.Struct("<5I").unpack_from
    pb = struct.Struct("<HH4I").unpack_from
    buf = head
    pos = index = 0
    # The time of the last timestamped packet, computed only when a datagram is yielded: (ticks, interface).
    stamp: tuple[int, _Interface] | None = None
    reason = ""
    try:
        while True:
            if len(buf) - pos < 12:
                buf = buf[pos:] + read(_CHUNK)
                pos = 0
                tick()
                if len(buf) < 12:
                    if buf:
                        reason = f"capture cut short inside a block header ({len(buf)} of 12 bytes)"
                    break
            btype, blen = block_header(buf, pos)
            if btype == _PCAPNG_SHB_TYPE:  # a new section may switch byte order; its interfaces start afresh
                bom = buf[pos + 8 : pos + 12]
                if bom not in _PCAPNG_BOM:
                    reason = "corrupt section header block (bad byte-order magic): cannot read further"
                    break
                endian = _PCAPNG_BOM[bom]
                block_header = struct.Struct(endian + "II").unpack_from
                u32 = struct.Struct(endian + "I").unpack_from
                epb = struct.Struct(endian + "5I").unpack_from
                pb = struct.Struct(endian + "HH4I").unpack_from
                blen = u32(buf, pos + 4)[0]
                interfaces = []
            if blen < 12 or blen & 3 or blen > _MAX_RECORD:
                reason = f"corrupt block (type 0x{btype:08x}, length {blen}): cannot read further"
                break
            end = pos + blen
            if end > len(buf):
                buf = buf[pos:] + read(max(_CHUNK, end - len(buf)))
                pos, end = 0, blen
                tick()
                if end > len(buf):
                    reason = f"capture cut short inside a block ({len(buf)} of {blen} bytes)"
                    break
            if u32(buf, end - 4)[0] != blen:
                reason = f"corrupt block (type 0x{btype:08x}): trailing length differs, cannot read further"
                break
            body = pos + 8
            room = blen - 32  # bytes of packet data and options an EPB or PB can hold
            pos = end
            if btype == 6 or btype == 2:  # enhanced packet block; obsolete packet block
                index += 1
                if room < 0:
                    result: _Result = "packet block too short"
                else:
                    if btype == 6:
                        ifid, high, low, caplen, _wirelen = epb(buf, body)
                    else:
                        ifid, _drops, high, low, caplen, _wirelen = pb(buf, body)
                    if caplen > room:
                        result = f"packet block holds fewer bytes than its captured length {caplen}"
                    elif ifid >= len(interfaces):
                        result = f"packet on undeclared interface {ifid}"
                    else:
                        iface: _Interface = interfaces[ifid]
                        stamp = ((high << 32) | low, iface)
                        result = iface.decode(buf, body + 20, body + 20 + caplen, ports)
            elif btype == 3:  # simple packet block: no timestamp, first interface
                index += 1
                if not interfaces:
                    result = "simple packet block without an interface description"
                elif room < -16:
                    result = "packet block too short"
                else:
                    iface = interfaces[0]
                    caplen = min(u32(buf, body)[0], room + 16)
                    if iface.snaplen:
                        caplen = min(caplen, iface.snaplen)
                    result = iface.decode(buf, body + 4, body + 4 + caplen, ports)
            elif btype == 1:
                interfaces.append(_parse_idb(buf, body, end - 4, endian))
                continue
            else:
                continue
            if result is None:
                continue
            if isinstance(result, str):
                if on_skip is not None:
                    on_skip(index, result)
                continue
            yield Datagram(_pcapng_time(stamp), *result, index)
    except _Corrupt as exc:
        reason = str(exc)
    if reason and on_skip is not None:
        on_skip(index + 1, reason)


def _pcapng_time(stamp: tuple[int, _Interface] | None) -> float:
    """Seconds since the epoch of a pcapng timestamp (simple packet blocks have none: they take the last)."""
    if stamp is None:
        return 0.0
    ticks, iface = stamp
    seconds, units = divmod(ticks, iface.resolution)
    return seconds + iface.offset + units / iface.resolution


# -- scapy raw readers (cross-check and benchmark) -----------------------------------------------------------


def _read_scapy(inp: _Input, ports: _Ports, on_skip: SkipCallback | None) -> Iterator[Datagram]:
    """Iterate with scapy's RawPcapReader/RawPcapNgReader and this module's header parsing.

    scapy's pcapng reader stops silently on a cut or corrupt block (only classic pcap truncation is reported
    here), keeps interface ids across pcapng sections, and ignores ``if_tsoffset``.
    """
    from scapy.data import MTU
    from scapy.error import Scapy_Exception
    from scapy.utils import RawPcapNgReader, RawPcapReader

    inp.raw.seek(0)
    try:
        reader: Any = cast(Any, RawPcapReader)(inp.raw)
    except (Scapy_Exception, EOFError, OSError) as exc:
        raise CaptureError(f"{inp.name}: scapy cannot read it ({exc})") from None
    is_ng = isinstance(reader, RawPcapNgReader)
    decoders: dict[int, _LinkDecoder] = {}
    last_time = 0.0
    index = 0
    packets = iter(reader)
    while True:
        try:
            data, meta = next(packets)
        except StopIteration:
            return
        except Exception as exc:  # scapy's reader is not ours; a corrupt file must not escape as an exception
            if on_skip is not None:
                on_skip(index + 1, f"scapy's reader failed ({type(exc).__name__}: {exc}): cannot read further")
            return
        index += 1
        if index % _SCAPY_PROGRESS_PACKETS == 0:
            inp.tick()
        if is_ng:
            linktype = meta.linktype
            if meta.tshigh is not None:
                seconds, units = divmod((meta.tshigh << 32) | meta.tslow, meta.tsresol)
                last_time = seconds + units / meta.tsresol
        else:
            linktype = reader.linktype & 0xFFFF
            last_time = meta.sec + meta.usec / (1e9 if reader.nano else 1e6)
            if len(data) < min(meta.caplen, MTU):
                if on_skip is not None:
                    on_skip(index, f"capture cut short inside the packet ({len(data)} of {meta.caplen} bytes)")
                return
        decode = decoders.get(linktype)
        if decode is None:
            decode = decoders[linktype] = _decoder_for(linktype)
        result = decode(data, 0, len(data), ports)
        if result is None:
            continue
        if isinstance(result, str):
            if on_skip is not None:
                on_skip(index, result)
            continue
        yield Datagram(last_time, *result, index)


# -- public API ----------------------------------------------------------------------------------------------


def iter_datagrams(
    path: str | os.PathLike[str],
    ports: Iterable[int] | None = (ECHONET_PORT,),
    *,
    progress: ProgressCallback | None = None,
    on_skip: SkipCallback | None = None,
    backend: Backend = "native",
) -> Iterator[Datagram]:
    """Stream the UDP datagrams of a pcap/pcapng capture whose source or destination port is in ``ports``.

    ``ports=None`` selects every UDP datagram. The file is opened and its header checked at once: a missing
    file or one that is not a pcap/pcapng capture (plain or gzip-compressed) raises :class:`CaptureError`
    here. Then nothing the capture contains raises: packets that cannot be decoded are reported through
    ``on_skip(index, reason)`` (``index`` numbers packets from 1, like Wireshark), and a capture cut short
    ends the iteration after reporting it. ``progress(bytes_read, total_bytes)`` is called at most about every
    0.25 s, plus once at the end. Memory use does not depend on the size of the file.

    ``backend="scapy"`` reads the file with scapy's raw readers instead of this module's (slower; used to
    cross-check and benchmark). Either way the link, IP and UDP headers are parsed by hand, and packets of
    link types not parsed by hand are dissected by scapy.
    """
    if backend not in ("native", "scapy"):
        raise ValueError(f"unknown backend {backend!r}")
    wanted = None if ports is None else frozenset(ports)
    inp, head = _open(path)
    inp.progress = progress
    if backend == "scapy":
        records = _read_scapy(inp, wanted, on_skip)
    elif head[:4] == _PCAPNG_SHB:
        records = _read_pcapng(inp, head, wanted, on_skip)
    else:
        records = _read_pcap(inp, head, wanted, on_skip)
    return _run(inp, records)


def _run(inp: _Input, records: Iterator[Datagram]) -> Iterator[Datagram]:
    try:
        if inp.progress is not None:
            inp.last_progress = time.monotonic()
            inp.progress(0, inp.total)
        yield from records
        if inp.progress is not None:
            inp.progress(inp.raw.tell(), inp.total)
    finally:
        inp.close()


# -- writer --------------------------------------------------------------------------------------------------


def _checksum(data: bytes) -> int:
    if len(data) & 1:
        data += b"\0"
    total: int = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def _mac(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bytes:
    packed = address.packed
    if address.version == 4:
        if address.is_multicast:
            return b"\x01\x00\x5e" + bytes((packed[1] & 0x7F,)) + packed[2:]
        if packed == b"\xff\xff\xff\xff":
            return b"\xff" * 6
    else:
        if address.is_multicast:
            return b"\x33\x33" + packed[12:]
        if packed[11:13] == b"\xff\xfe":  # modified EUI-64 interface identifier: recover the MAC
            return bytes((packed[8] ^ 2,)) + packed[9:11] + packed[13:]
    return b"\x02\x00" + packed[-4:]  # locally administered, derived from the address


def _frame(datagram: Datagram, ident: int) -> bytes:
    src = ipaddress.ip_address(datagram.src)
    dst = ipaddress.ip_address(datagram.dst)
    if src.version != dst.version:
        raise ValueError(f"mixed address families: {datagram.src} -> {datagram.dst}")
    payload = bytes(datagram.payload)
    udp_len = 8 + len(payload)
    if udp_len > 0xFFFF - 40:
        raise ValueError(f"payload too large for one UDP datagram ({len(payload)} bytes)")
    hop_limit = 1 if dst.is_multicast else 64
    udp = struct.pack("!HHH", datagram.sport, datagram.dport, udp_len)
    if src.version == 4:
        pseudo = src.packed + dst.packed + struct.pack("!xBH", _IPPROTO_UDP, udp_len)
        header = struct.pack(
            "!BBHHHBB2x4s4s",
            0x45,
            0,
            20 + udp_len,
            ident & 0xFFFF,
            0,
            hop_limit,
            _IPPROTO_UDP,
            src.packed,
            dst.packed,
        )
        header = header[:10] + _U16.pack(_checksum(header)) + header[12:]
        ethertype = _ETH_IPV4
    else:
        pseudo = src.packed + dst.packed + struct.pack("!I3xB", udp_len, _IPPROTO_UDP)
        header = struct.pack("!IHBB", 0x60000000, udp_len, _IPPROTO_UDP, hop_limit) + src.packed + dst.packed
        ethertype = _ETH_IPV6
    udp_sum = _checksum(pseudo + udp + b"\0\0" + payload) or 0xFFFF
    frame = _mac(dst) + _mac(src) + _U16.pack(ethertype) + header + udp + _U16.pack(udp_sum) + payload
    return frame.ljust(60, b"\0")  # minimum Ethernet frame, as seen by a receiver (FCS not captured)


def write_capture(path: str | os.PathLike[str], datagrams: Iterable[Datagram]) -> int:
    """Write ``datagrams`` as a classic little-endian pcap (Ethernet, microseconds); return the packet count.

    Each datagram becomes an Ethernet/IPv4 or Ethernet/IPv6 (by address family) UDP packet with valid
    checksums, MAC addresses derived from the IP addresses, and frames padded to the Ethernet minimum of 60
    bytes. ``Datagram.index`` is ignored. Invalid addresses, ports or times raise ``ValueError``; a file that
    cannot be written raises :class:`CaptureError`.
    """
    count = 0
    try:
        with open(path, "wb") as out:
            out.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 262144, 1))
            for count, datagram in enumerate(datagrams, 1):
                try:
                    frame = _frame(datagram, count)
                    seconds, micros = divmod(round(datagram.time * 1e6), 1_000_000)
                    out.write(struct.pack("<IIII", seconds, micros, len(frame), len(frame)) + frame)
                except struct.error as exc:
                    raise ValueError(f"datagram {count}: {exc}") from None
    except OSError as exc:
        raise CaptureError(f"{_display(path)}: cannot write ({exc.strerror or exc})") from None
    return count
