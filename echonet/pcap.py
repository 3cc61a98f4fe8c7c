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
whole datagram cannot be decoded (and this reader does not reassemble): the first fragment of a UDP datagram
to or from a selected port is skipped and reported; later fragments carry no ports and are skipped silently.

Damage
------
Nothing a capture contains makes the reader raise. Everything that cannot be read is reported, as a
:class:`Problem` (packet number, byte offset, reason) to the optional ``on_problem`` callback and as
``(index, reason)`` to ``on_skip``, and the reading goes on wherever the format allows:

* a truncated or garbled packet, a packet of an unsupported link type, one cut by the snap length: reported,
  and the next packet is read;
* a pcapng block whose lengths are wrong: reported, and the reading goes on at the next block found (a known
  block type whose leading and trailing lengths agree, followed by another block or the end of the file);
* a classic pcap record header that looks odd (a length of 0 or beyond the snap length, at least 256 KiB; a
  fraction of a second not below one second; a time more than a day before or a year after the last record's)
  is checked against the next one: if a record follows where its length says (or the file ends there), the
  record is read, and a bad fraction of a second reported; otherwise the header is corrupt: it is reported and
  the reading goes on at the next plausible record header (lengths within bounds, followed by two more such
  headers in time order, or by the end of the file), searched from the data of the last record read, since its
  length may be the corrupt one;
* a pcapng timestamp outside the years 1970 to 9999: reported, the packet yielded with it;
* a capture cut short, gzip data that is corrupt or cut short (every byte before the damage is read), a
  read error of the operating system: reported, and the iteration ends.

Packet numbers after a corrupt record or block count the records read, the damaged one included. Packets that
are merely something else (ARP, TCP, UDP on other ports) are skipped silently. Only a file that cannot be
opened or is not a capture at all raises :class:`CaptureError`, with a one-line message, when
:func:`iter_datagrams` is called. Memory stays bounded whatever the file holds: records and blocks longer than
16 MiB are taken as corrupt, and decompression and the search for the next record read a chunk at a time.

:func:`write_capture` writes a classic pcap (Ethernet, microsecond timestamps) of UDP datagrams, with valid IP
and UDP checksums; the tests and ``tools/make_sample_capture.py`` use it.
"""

from __future__ import annotations

import functools
import io
import ipaddress
import os
import re
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
    "Problem",
    "ProblemCallback",
    "ProgressCallback",
    "SkipCallback",
    "iter_datagrams",
    "open_capture",
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


class Problem(NamedTuple):
    """Something in a capture that could not be read: a damaged or undecodable packet, a corrupt record or
    block (read past where the format allows), a bad timestamp, a capture cut short."""

    index: int  # type: ignore[assignment]  # the field shadows tuple.index(), as Datagram.index does
    """The packet's number, from 1 like Wireshark's frame number (where reading stopped: the next packet's)."""
    offset: int | None
    """Byte offset in the capture of the packet's record or block (in the decompressed bytes of a ``.gz``);
    ``None`` where the reader does not know it (``backend="scapy"``)."""
    reason: str
    """What is wrong, in words (one line)."""


ProblemCallback = Callable[[Problem], None]
"""``on_problem(problem)`` for each :class:`Problem`, in the order of the file."""

SkipCallback = Callable[[int, str], None]
"""``on_skip(index, reason)``: the same reports as :data:`ProblemCallback`, without the offset."""

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
        return None  # a later fragment: no ports to select by (the first fragment is reported when wanted)
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
                return None  # a later fragment: no ports to select by (the first fragment is reported when wanted)
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
        self.reported = False

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
        if self.cls is None:  # reported once: every packet of the link type is lost for the same reason
            if self.reported:
                return None
            self.reported = True
            return f"unsupported link type {self.linktype}{self.missing}: its packets are not read"
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


class _Input:
    """An opened capture: the file, its decompression, the bytes read, and why the stream ended early if it did.

    :meth:`read` never raises: where the file cannot be read further (corrupt or cut gzip data, a read error of
    the operating system) it returns what it has, then ``b""``, and :attr:`failure` says why.
    """

    def __init__(self, name: str, raw: IO[bytes], owned: bool, total: int) -> None:
        self.name = name
        self.raw = raw
        self.owned = owned
        self.total = total  # the file's size (0: unknown, e.g. a pipe)
        self.consumed = 0  # bytes read from the file (compressed bytes for a .gz)
        self.failure = ""
        self.progress: ProgressCallback | None = None
        self.last_progress = 0.0
        self.read: Callable[[int], bytes] = self._read_raw
        self.compressed = False
        self._inflate: Any = None  # the zlib decompressor of the current gzip member (None between members)
        self._tail = b""  # compressed bytes read from the file and not decompressed yet

    def _read_raw(self, n: int) -> bytes:
        """Up to ``n`` bytes of the file: fewer only at its end (or where it cannot be read further)."""
        try:
            data = self.raw.read(n) or b""
            if 0 < len(data) < n:  # a pipe or an unbuffered file may return less: read on to n or the end
                parts = [data]
                got = len(data)
                while got < n:
                    more = self.raw.read(n - got)
                    if not more:
                        break
                    parts.append(more)
                    got += len(more)
                data = b"".join(parts)
        except OSError as exc:
            self.failure = f"read error ({exc.strerror or exc})"
            return b""
        self.consumed += len(data)
        return data

    def start_gzip(self, head: bytes) -> None:
        """Decompress from here on; ``head`` is what was read of the file already."""
        self._tail = head
        self.read = self._read_gzip
        self.compressed = True

    def _read_gzip(self, n: int) -> bytes:
        """Up to ``n`` decompressed bytes, every byte before a corrupt or missing part included."""
        parts: list[bytes] = []
        got = 0
        while got < n and not self.failure:
            inflate = self._inflate
            if inflate is None:
                if not self._next_member():
                    break
                inflate = self._inflate
            data = self._tail or self._read_raw(_CHUNK)
            if not data:
                if not self.failure:
                    self.failure = "compressed data cut short (the gzip stream ends before its end marker)"
                break
            saved = inflate.copy()
            try:
                piece = inflate.decompress(data, n - got)  # bounded: a small file cannot inflate memory
            except zlib.error as exc:
                parts.append(_inflate_before_error(saved, data, n - got))
                self.failure = f"corrupt compressed data ({exc})"
                break
            if piece:
                parts.append(piece)
                got += len(piece)
            if inflate.eof:
                self._tail = inflate.unused_data
                self._inflate = None
            else:
                self._tail = inflate.unconsumed_tail
        return b"".join(parts)

    def _next_member(self) -> bool:
        """Start the next gzip member; False at the end of the file (zero padding allowed, as gzip does)."""
        tail = self._tail.lstrip(b"\0")
        while len(tail) < 2:
            more = self._read_raw(_CHUNK)
            if not more:
                break
            tail = (tail + more).lstrip(b"\0")
        self._tail = tail
        if not tail:
            return False
        if tail[:2] != _GZIP_MAGIC:
            self.failure = "bytes after the end of the compressed data are not gzip data"
            return False
        self._inflate = zlib.decompressobj(16 + zlib.MAX_WBITS)
        return True

    def tick(self, position: int = -1) -> None:
        """Report progress if it is time: at ``position`` of the stream where given (and not compressed), else the
        bytes read from the file. The readers call it for each chunk read and every 1024 packets."""
        if self.progress is not None:
            now = time.monotonic()
            if now - self.last_progress >= _PROGRESS_EVERY:
                self.last_progress = now
                self.progress(self.consumed if position < 0 or self.compressed else position, self.total)

    def close(self) -> None:
        if self.owned:
            self.raw.close()


def _inflate_before_error(inflate: Any, data: bytes, limit: int) -> bytes:
    """What ``inflate`` gives of ``data`` before the corrupt byte (the decompressor raises and gives nothing):
    the output of the longest prefix of ``data`` that decompresses, found by bisection on copies."""
    good, bad = 0, len(data)  # a prefix of ``good`` bytes decompresses, one of ``bad`` bytes does not
    while bad - good > 1:
        middle = (good + bad) // 2
        try:
            inflate.copy().decompress(data[:middle], limit)
        except zlib.error:
            bad = middle
        else:
            good = middle
    return bytes(inflate.decompress(data[:good], limit))


class _Window:
    """The reader's buffer on the slow path (damage): ``buf`` holds the stream from offset ``base`` on."""

    def __init__(self, inp: _Input, buf: bytes, base: int) -> None:
        self.inp = inp
        self.buf = buf
        self.base = base

    def need(self, end: int) -> bool:
        """Whether ``buf`` holds the bytes up to ``end``, reading more as needed."""
        if end > len(self.buf):
            self.buf += self.inp.read(max(_CHUNK, end - len(self.buf)))
            self.inp.tick()
        return end <= len(self.buf)

    def drop(self, upto: int) -> None:
        self.buf = self.buf[upto:]
        self.base += upto

    def scan(self, start: int, pattern: re.Pattern[bytes], accept: Callable[[_Window, int], bool]) -> int:
        """The first position from ``start`` where ``pattern`` matches and ``accept`` agrees; -1 at the end.

        Memory stays bounded: the bytes already scanned are dropped (positions are relative to ``buf``).
        """
        p = start
        while True:
            found = pattern.search(self.buf, p)
            if found is None:
                keep = max(p, len(self.buf) - 64)  # a header may straddle the end of what was read
                self.drop(keep)
                p -= keep
                if not self.need(len(self.buf) + 1):
                    return -1
                continue
            c = found.start()
            if c > _CHUNK:
                self.drop(c)
                c = 0
            if accept(self, c):
                return c
            p = c + 1


def _display(path: object) -> str:
    name = os.fsdecode(path) if isinstance(path, str | bytes | os.PathLike) else str(path)
    return name if name and name.isprintable() else repr(name)


def open_capture(path: str | os.PathLike[str]) -> IO[bytes]:
    """Open a capture file for :func:`iter_datagrams`; raises :class:`CaptureError` (one line) if it cannot be
    opened: missing, a directory, no permission. Whether it is a capture is for :func:`iter_datagrams` to say."""
    name = _display(path)
    try:
        return open(path, "rb")  # the caller closes it
    except FileNotFoundError:
        raise CaptureError(f"{name}: no such file") from None
    except IsADirectoryError:
        raise CaptureError(f"{name}: is a directory, not a capture file") from None
    except OSError as exc:
        raise CaptureError(f"{name}: cannot open ({exc.strerror or exc})") from None
    except ValueError as exc:  # e.g. an embedded NUL character
        raise CaptureError(f"{name}: cannot open ({exc})") from None


def _open(source: str | os.PathLike[str] | IO[bytes]) -> tuple[_Input, bytes]:
    """Open a capture (or take an open file) and check its header; returns the input and the header's bytes."""
    if isinstance(source, str | os.PathLike):
        raw, owned, name = open_capture(source), True, _display(source)
    else:
        raw, owned, name = source, False, _display(getattr(source, "name", "<stream>"))
    try:
        try:
            total = os.fstat(raw.fileno()).st_size
        except (OSError, AttributeError, ValueError):  # (io.UnsupportedOperation is an OSError)
            total = 0
        if isinstance(raw, io.TextIOBase):
            raise CaptureError(f"{name}: a text stream, not a binary file (open it with 'rb', or use .buffer)")
        inp = _Input(name, raw, owned, total)
        head = inp.read(4)
        if head[:2] == _GZIP_MAGIC:
            inp.start_gzip(head)
            head = inp.read(4)
        if len(head) < 4 and inp.failure:
            raise CaptureError(f"{name}: {inp.failure}")
        if not head:
            raise CaptureError(f"{name}: empty file, not a pcap or pcapng file")
        if len(head) < 4 and any(magic.startswith(head) for magic in _PCAP_MAGICS):
            raise CaptureError(f"{name}: truncated pcap file header")
        if len(head) < 4 and _PCAPNG_SHB.startswith(head):
            raise CaptureError(f"{name}: truncated or corrupt pcapng section header")
        if head in _PCAP_MAGICS:
            head += inp.read(20)
            if len(head) < 24:
                raise CaptureError(f"{name}: truncated pcap file header" + (f" ({inp.failure})" * bool(inp.failure)))
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
        if owned:
            raw.close()
        raise
    return inp, head


# -- resynchronisation ---------------------------------------------------------------------------------------

_DAY: Final = 86_400
_YEAR: Final = 366 * _DAY
_PCAP_STANDARD_MAX: Final = 262_144  # libpcap's and Wireshark's largest standard snap length


def _hex_class(values: Iterable[int]) -> bytes:
    return b"[" + b"".join(b"\\x%02x" % v for v in sorted(set(values))) + b"]"


def _pcap_pattern(endian: str, units: int, limit: int) -> re.Pattern[bytes]:
    """Bytes that may be a pcap record header: a fraction below a second, a captured length from 1 to ``limit``,
    an original length within bounds; a prefilter, the checks of :func:`_pcap_damage` decide."""
    cells = [b"."] * 16
    top = (7, 11, 15) if endian == "<" else (4, 8, 12)  # the high byte of the fraction and of the two lengths
    cells[top[0]] = _hex_class(range(((units - 1) >> 24) + 1))
    cells[top[1]] = _hex_class(range((limit >> 24) + 1))
    cells[top[2]] = _hex_class(range((_MAX_RECORD >> 24) + 1))
    return re.compile(b"(?!.{8}\\x00\\x00\\x00\\x00)" + b"".join(cells), re.DOTALL)


def _pcapng_pattern(endian: str) -> re.Pattern[bytes]:
    """Bytes that may start a pcapng block: a known block type and a length that is a multiple of 4 within bounds,
    or a section header (either byte order); a prefilter, :func:`_pcapng_block_ok` decides."""
    if endian == "<":
        types = b"[\\x01-\\x0a]\\x00\\x00\\x00|\\xad\\x0b\\x00[\\x00\\x40]"
    else:
        types = b"\\x00\\x00\\x00[\\x01-\\x0a]|[\\x00\\x40]\\x00\\x0b\\xad"
    low, high = _hex_class(range(0, 256, 4)), _hex_class(range((_MAX_RECORD >> 24) + 1))
    length = low + b".." + high if endian == "<" else high + b".." + low
    return re.compile(b"(?:" + types + b")" + length + b"|\\x0a\\x0d\\x0d\\x0a", re.DOTALL)


# -- native readers ------------------------------------------------------------------------------------------

_Report = Callable[[int, int | None, str], None]
_TIME_MAX: Final = 253_402_300_800.0  # 10000-01-01: a later (or negative) timestamp is damage, not a date


def _read_pcap(inp: _Input, head: bytes, ports: _Ports, report: _Report) -> Iterator[Datagram]:
    endian, nano = _PCAP_MAGICS[head[:4]]
    snaplen, linktype = struct.unpack_from(endian + "II", head, 16)
    decode = _decoder_for(linktype & 0xFFFF)  # high bits: FCS length flags
    limit = min(max(snaplen, _PCAP_STANDARD_MAX), _MAX_RECORD)  # a longer record is corrupt
    units = 1_000_000_000 if nano else 1_000_000
    divisor = float(units)
    record = struct.Struct(endian + "IIII").unpack_from
    read, tick = inp.read, inp.tick
    buf = b""
    pos = last = 0  # the next record, and the last one read (kept in buf: resynchronisation may look into it)
    base = len(head)  # stream offset of buf[0]
    index = 0
    previous = -1  # seconds of the last record (-1: the next record's header is checked against the one after it)
    earliest, latest = -_DAY, _YEAR
    while True:
        if len(buf) - pos < 16:
            base += last
            buf = buf[last:] + read(_CHUNK)
            pos -= last
            last = 0
            tick(base + pos)
            if len(buf) - pos < 16:
                left = len(buf) - pos
                if left or inp.failure:
                    cut = f"capture cut short inside a record header ({left} of 16 bytes)"
                    report(index + 1, base + pos, inp.failure or cut)
                break
        sec, frac, caplen, _wirelen = record(buf, pos)
        if not 0 < caplen <= limit or frac >= units or not earliest <= sec - previous <= latest:
            # Something is odd (or this is the first record): see whether the next record is where this one's
            # length says; if not, the header is corrupt and the reading goes on at the next plausible record.
            damaged = base + pos
            win = _Window(inp, buf, base)
            at = (pos, last if index else -1, previous)
            found, resynced = _pcap_damage(win, endian, at, limit, units, index + 1, report)
            buf, base = win.buf, win.base
            if found < 0:
                return
            pos = last = found
            if resynced:
                if base + found >= damaged + 16:
                    index += 1  # the damaged record (unless the next one starts inside its header: not a record)
                previous = -1
                continue
        previous = sec
        start = pos + 16
        end = start + caplen
        if end > len(buf):
            base += last
            buf = buf[last:] + read(max(_CHUNK, end - len(buf)))
            pos, start, end, last = pos - last, start - last, end - last, 0
            tick(base + pos)
            if end > len(buf):
                cut = f"capture cut short inside the packet ({len(buf) - start} of {caplen} bytes)"
                report(index + 1, base + pos, inp.failure or cut)
                break
        index += 1
        if not index & 1023:
            tick(base + pos)
        result = decode(buf, start, end, ports)
        last = pos
        pos = end
        if result is None:
            continue
        if isinstance(result, str):
            report(index, base + last, result)
            continue
        yield Datagram(sec + frac / divisor, *result, index)


def _pcap_damage(
    win: _Window, endian: str, at: tuple[int, int, int], limit: int, units: int, index: int, report: _Report
) -> tuple[int, bool]:
    """Check the record header at ``pos``, which looks odd: a length of 0 or beyond ``limit``, a fraction of a
    second not below ``units``, a time far from ``previous`` (the seconds of the last record; -1: none).

    ``at`` is ``(pos, last, previous)``, ``last`` the position of the last record read (-1: none). Returns
    ``(pos, False)`` where the record is to be read: its length is within bounds and another record follows where
    it says (or the capture ends in it, or it is the first record and plausible by itself); a bad fraction is
    reported. Otherwise the header is corrupt: returns ``(position, True)`` of the next plausible record, searched
    from the data of the last record (its length may be the corrupt one), or ``(-1, True)`` where there is none,
    and reports it.
    """
    pos, last, previous = at
    record = struct.Struct(endian + "IIII").unpack_from
    offset = win.base + pos
    sec, frac, caplen, _ = record(win.buf, pos)

    def plausible(w: _Window, c: int, near: int) -> bool:
        """A record header at ``c``, its time within a day before to a year after ``near`` (-1: any)."""
        s, f, cap, wire = record(w.buf, c)
        in_time = near < 0 or -_DAY <= s - near <= _YEAR
        return f < units and 0 < cap <= limit and cap <= wire <= _MAX_RECORD and in_time

    def chained(w: _Window, c: int, depth: int = 2) -> bool:
        """A record header at ``c``, followed by ``depth`` more (in time order) or by the end of the capture."""
        near = -1
        for _ in range(depth + 1):
            if not plausible(w, c, near):
                return False
            near, _, cap, _ = record(w.buf, c)
            c += 16 + cap
            if not w.need(c + 16):
                return c <= len(w.buf)
        return True

    if caplen <= limit:
        n = pos + 16 + caplen
        if win.need(n + 16):
            follows = plausible(win, n, sec if frac < units else -1)
        else:  # the capture ends in or right after it: a record cut short (reported when read), if it is one
            follows = frac < units and (previous < 0 or -_DAY <= sec - previous <= _YEAR)
        if follows or (previous < 0 and caplen > 0 and frac < units):
            if frac >= units:
                report(index, offset, f"bad timestamp (fraction of a second {frac} is not below {units})")
            return pos, False  # (a record cut short by the end of the capture is reported as such when read)
    if caplen > limit:
        what = f"captured length {caplen} exceeds {limit}"
    elif frac >= units:
        what = f"fraction of a second {frac} is not below {units}"
    else:
        what = f"no record where its captured length {caplen} ends"
    found = win.scan(last + 16 if last >= 0 else pos + 1, _pcap_pattern(endian, units, limit), chained)
    if found < 0:
        lost = win.base + len(win.buf) - offset
        end = f" ({win.inp.failure})" if win.inp.failure else ""
        report(
            index, offset, f"corrupt record header ({what}), no record after it: the last {lost} byte(s) not read{end}"
        )
        return -1, True
    report(index, offset, f"corrupt record header ({what}): reading on at the next record, offset {win.base + found}")
    return found, True


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


def _read_pcapng(inp: _Input, head: bytes, ports: _Ports, report: _Report) -> Iterator[Datagram]:
    read, tick = inp.read, inp.tick
    interfaces: list[_Interface] = []
    endian = "<"
    block_header = struct.Struct("<II").unpack_from
    u32 = struct.Struct("<I").unpack_from
    epb = struct.Struct("<5I").unpack_from
    pb = struct.Struct("<HH4I").unpack_from
    buf = head
    pos = index = base = 0  # base: the stream offset of buf[0]
    # The time of the last timestamped packet, computed only when a datagram is yielded: (ticks, interface).
    stamp: tuple[int, _Interface] | None = None
    while True:
        if len(buf) - pos < 12:
            base += pos
            buf = buf[pos:] + read(_CHUNK)
            pos = 0
            tick(base)
            if len(buf) < 12:
                if buf or inp.failure:
                    cut = f"capture cut short inside a block header ({len(buf)} of 12 bytes)"
                    report(index + 1, base, inp.failure or cut)
                break
        btype, blen = block_header(buf, pos)
        bad = ""
        if btype == _PCAPNG_SHB_TYPE:  # a new section may switch byte order; its interfaces start afresh
            bom = buf[pos + 8 : pos + 12]
            if bom in _PCAPNG_BOM:
                endian = _PCAPNG_BOM[bom]
                block_header = struct.Struct(endian + "II").unpack_from
                u32 = struct.Struct(endian + "I").unpack_from
                epb = struct.Struct(endian + "5I").unpack_from
                pb = struct.Struct(endian + "HH4I").unpack_from
                blen = u32(buf, pos + 4)[0]
                interfaces = []
            else:
                bad = "section header block with a bad byte-order magic"
        if bad or blen < 12 or blen & 3 or blen > _MAX_RECORD:
            bad = bad or f"block of type 0x{btype:08x} with a bad length {blen}"
        else:
            end = pos + blen
            if end > len(buf):
                base += pos
                buf = buf[pos:] + read(max(_CHUNK, end - len(buf)))
                pos, end = 0, blen
                tick(base)
                if end > len(buf):
                    cut = f"capture cut short inside a block ({len(buf)} of {blen} bytes)"
                    report(index + 1, base, inp.failure or cut)
                    break
            if u32(buf, end - 4)[0] != blen:
                bad = f"block of type 0x{btype:08x} whose trailing length differs from its length {blen}"
        if bad:
            damaged = base + pos
            win = _Window(inp, buf, base)
            found = win.scan(pos + 1, _pcapng_pattern(endian), functools.partial(_pcapng_block_ok, endian=endian))
            buf, base = win.buf, win.base
            if found < 0:
                lost = base + len(buf) - damaged
                end = f" ({inp.failure})" if inp.failure else ""
                report(index + 1, damaged, f"corrupt {bad}, no block after it: the last {lost} byte(s) not read{end}")
                break
            report(index + 1, damaged, f"corrupt {bad}: reading on at the next block, offset {base + found}")
            if btype in (2, 3, 6) and base + found >= damaged + 12:
                index += 1  # the damaged packet block
            pos = found
            continue
        body = pos + 8
        room = blen - 32  # bytes of packet data and options an EPB or PB can hold
        pos = end
        if btype == 6 or btype == 2:  # enhanced packet block; obsolete packet block
            index += 1
            if not index & 1023:
                tick(base + body - 8)
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
            report(index, base + body - 8, result)
            continue
        when = _pcapng_time(stamp)
        if not 0.0 <= when < _TIME_MAX:
            report(index, base + body - 8, f"timestamp out of range ({when:.6g} s since 1970)")
        yield Datagram(when, *result, index)


def _pcapng_block_ok(w: _Window, c: int, endian: str) -> bool:
    """Whether a block starts at ``c``: its two lengths agree, and another block or the end of the capture follows."""
    if not w.need(c + 12):
        return False
    buf = w.buf
    if buf[c : c + 4] == _PCAPNG_SHB:
        bom = buf[c + 8 : c + 12]
        if bom not in _PCAPNG_BOM:
            return False
        endian = _PCAPNG_BOM[bom]
    blen = struct.unpack_from(endian + "I", buf, c + 4)[0]
    if blen < 12 or blen & 3 or blen > _MAX_RECORD or not w.need(c + blen):
        return False
    buf = w.buf
    if struct.unpack_from(endian + "I", buf, c + blen - 4)[0] != blen:
        return False
    n = c + blen
    if not w.need(n + 8):
        return True  # the end of the capture (a header cut short there is reported when read)
    buf = w.buf
    after = struct.unpack_from(endian + "I", buf, n + 4)[0]
    return buf[n : n + 4] == _PCAPNG_SHB or (12 <= after <= _MAX_RECORD and not after & 3)


def _pcapng_time(stamp: tuple[int, _Interface] | None) -> float:
    """Seconds since the epoch of a pcapng timestamp (simple packet blocks have none: they take the last)."""
    if stamp is None:
        return 0.0
    ticks, iface = stamp
    seconds, units = divmod(ticks, iface.resolution)
    return seconds + iface.offset + units / iface.resolution


# -- scapy raw readers (cross-check and benchmark) -----------------------------------------------------------


def _read_scapy(inp: _Input, ports: _Ports, report: _Report) -> Iterator[Datagram]:
    """Iterate with scapy's RawPcapReader/RawPcapNgReader and this module's header parsing.

    scapy's pcapng reader stops silently on a cut or corrupt block (only classic pcap truncation is reported
    here), keeps interface ids across pcapng sections, and ignores ``if_tsoffset``. Offsets are not reported.
    """
    from scapy.data import MTU
    from scapy.error import Scapy_Exception
    from scapy.utils import RawPcapNgReader, RawPcapReader

    try:
        inp.raw.seek(0)
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
            report(index + 1, None, f"scapy's reader failed ({type(exc).__name__}: {exc}): cannot read further")
            return
        index += 1
        if index % _SCAPY_PROGRESS_PACKETS == 0:
            inp.consumed = inp.raw.tell()
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
                report(index, None, f"capture cut short inside the packet ({len(data)} of {meta.caplen} bytes)")
                return
        decode = decoders.get(linktype)
        if decode is None:
            decode = decoders[linktype] = _decoder_for(linktype)
        result = decode(data, 0, len(data), ports)
        if result is None:
            continue
        if isinstance(result, str):
            report(index, None, result)
            continue
        yield Datagram(last_time, *result, index)


# -- public API ----------------------------------------------------------------------------------------------


def iter_datagrams(
    source: str | os.PathLike[str] | IO[bytes],
    ports: Iterable[int] | None = (ECHONET_PORT,),
    *,
    progress: ProgressCallback | None = None,
    on_skip: SkipCallback | None = None,
    on_problem: ProblemCallback | None = None,
    backend: Backend = "native",
) -> Iterator[Datagram]:
    """Stream the UDP datagrams of a pcap/pcapng capture whose source or destination port is in ``ports``.

    ``source`` is a path, or a binary file already open (e.g. ``sys.stdin.buffer``; it need not be seekable,
    and is left open). ``ports=None`` selects every UDP datagram. The file is opened and its header checked at
    once: a file that cannot be opened (see :func:`open_capture`) or is not a pcap/pcapng capture (plain or
    gzip-compressed) raises :class:`CaptureError` here. Then nothing the capture contains raises: everything
    that cannot be read is reported, as a :class:`Problem` to ``on_problem`` and as ``(index, reason)`` to
    ``on_skip``, and the reading goes on wherever the format allows (see the module's documentation).
    ``progress(bytes_read, total_bytes)`` is called at most about every 0.25 s, plus once at the end. Memory
    use does not depend on the size of the file.

    ``backend="scapy"`` reads the file with scapy's raw readers instead of this module's (slower; used to
    cross-check and benchmark; it needs a seekable file and reports no offsets). Either way the link, IP and
    UDP headers are parsed by hand, and packets of link types not parsed by hand are dissected by scapy.
    """
    if backend not in ("native", "scapy"):
        raise ValueError(f"unknown backend {backend!r}")
    wanted = None if ports is None else frozenset(ports)
    inp, head = _open(source)
    inp.progress = progress
    report = _reporter(on_skip, on_problem)
    if backend == "scapy":
        records = _read_scapy(inp, wanted, report)
    elif head[:4] == _PCAPNG_SHB:
        records = _read_pcapng(inp, head, wanted, report)
    else:
        records = _read_pcap(inp, head, wanted, report)
    return _run(inp, records)


def _reporter(on_skip: SkipCallback | None, on_problem: ProblemCallback | None) -> _Report:
    def report(index: int, offset: int | None, reason: str) -> None:
        if on_problem is not None:
            on_problem(Problem(index, offset, reason))
        if on_skip is not None:
            on_skip(index, reason)

    return report


def _run(inp: _Input, records: Iterator[Datagram]) -> Iterator[Datagram]:
    try:
        if inp.progress is not None:
            inp.last_progress = time.monotonic()
            inp.progress(0, inp.total)
        yield from records
        if inp.progress is not None:
            inp.progress(inp.consumed, inp.total)
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
