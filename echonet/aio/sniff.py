"""Live capture of UDP datagrams on Linux interfaces with an ``AF_PACKET`` socket (no libpcap), and a pcapng writer.

A transport (layer 3): it opens the socket and reads; what the datagrams mean is decoded above it. One
``SOCK_RAW`` packet socket per interface (or one for every interface), bound to ``ETH_P_ALL``, with a classic BPF
filter attached in the kernel that keeps only IPv4 and IPv6 UDP (so the rest of the traffic never reaches Python).
Each packet is parsed with :mod:`echonet.pcap`'s own link parser (Ethernet, with VLAN tags, and the Linux loopback,
which is Ethernet too), and the datagrams whose source or destination port is among the ports asked for are handed
out as :class:`echonet.pcap.Datagram` tuples, IPv4 and IPv6, unicast and multicast alike. A packet the host sends is
seen once, on the way out (``PACKET_OUTGOING``); on loopback each packet passes twice (out and in) and is kept once.

:class:`PcapngWriter` writes what was captured as pcapng (a section header, one interface description block per
interface with its link type, Ethernet, and nanosecond timestamps, one enhanced packet block a packet), which
``echonet decode --pcap`` and Wireshark read back.

Errors are :class:`SniffError` with a one-line message: not permitted (``CAP_NET_RAW`` is needed: run as root or
``setcap cap_net_raw+ep``), no such interface, or not Linux.
"""

from __future__ import annotations

import select
import socket
import struct
import time
from collections.abc import Callable, Iterable, Iterator
from typing import IO, NamedTuple

from ..errors import EchonetError
from ..pcap import Datagram

__all__ = ["PcapngWriter", "RawPacket", "SniffError", "Sniffer", "interface_names", "udp_of"]

_ETH_P_ALL = 0x0003
_SOL_PACKET = 263
_PACKET_OUTGOING = 4
_SO_ATTACH_FILTER = 26
_PACKET_ADD_MEMBERSHIP = 1
_PACKET_MR_PROMISC = 1
_SO_RCVBUF = 8
_SO_RCVBUFFORCE = 33
_LINKTYPE_ETHERNET = 1
_ARPHRD_ETHER = 1
_ARPHRD_LOOPBACK = 772

# BPF: accept IPv4/UDP (ethertype 0x0800, protocol 17, also behind one 802.1Q tag), IPv6/UDP (0x86dd, next
# header 17), else drop. ldh [12]; jeq 0x800 -> ip4; jeq 0x86dd -> ip6; jeq 0x8100 -> vlan; ret 0 ...
_BPF = [
    (0x28, 0, 0, 12),  # 0 ldh [12]
    (0x15, 0, 2, 0x0800),  # 1 jeq ipv4 ? 2 : 4
    (0x30, 0, 0, 23),  # 2 ldb [23]
    (0x15, 6, 7, 17),  # 3 jeq udp ? accept : drop
    (0x15, 0, 2, 0x86DD),  # 4 jeq ipv6 ? 5 : 7
    (0x30, 0, 0, 20),  # 5 ldb [20]
    (0x15, 3, 4, 17),  # 6 jeq udp ? accept : 11 (drop; extension headers are rare on 3610)
    (0x15, 0, 3, 0x8100),  # 7 jeq vlan ? 8 : drop
    (0x28, 0, 0, 16),  # 8 ldh [16]
    (0x15, 0, 1, 0x0800),  # 9 jeq ipv4 (tagged; the UDP check is left to the parser) ? accept : drop
    (0x06, 0, 0, 0x40000),  # 10 ret accept
    (0x06, 0, 0, 0),  # 11 ret drop
]


class SniffError(EchonetError):
    """The capture socket cannot be opened or read (one-line message)."""


class RawPacket(NamedTuple):
    """One captured link-layer frame: time (seconds since the epoch), the interface's index, the bytes."""

    time: float
    ifindex: int
    data: bytes


def interface_names() -> list[str]:
    """The names of this host's network interfaces."""
    return [name for _, name in socket.if_nameindex()]


def _attach_filter(sock: socket.socket) -> None:
    """Attach :data:`_BPF` to ``sock`` (the kernel copies the program during the call)."""
    import ctypes

    code = ctypes.create_string_buffer(b"".join(struct.pack("HBBI", *ins) for ins in _BPF))
    sock.setsockopt(socket.SOL_SOCKET, _SO_ATTACH_FILTER, struct.pack("HL", len(_BPF), ctypes.addressof(code)))


_IPV6_EXT = frozenset((0, 43, 60))
_ntop = socket.inet_ntop


def udp_of(frame: bytes, ports: frozenset[int] | None) -> tuple[str, str, int, int, bytes] | None:
    """(src, dst, sport, dport, payload) of an Ethernet frame carrying a UDP datagram (IPv4 or IPv6, behind any
    number of VLAN tags) to or from one of ``ports`` (``None``: any); ``None`` for anything else, a fragment, or a
    frame cut short."""
    try:
        off = 12
        etype = (frame[off] << 8) | frame[off + 1]
        while etype in (0x8100, 0x88A8, 0x9100):
            off += 4
            etype = (frame[off] << 8) | frame[off + 1]
        off += 2
        if etype == 0x0800:
            ihl = (frame[off] & 0x0F) * 4
            if frame[off + 9] != 17 or ((frame[off + 6] << 8) | frame[off + 7]) & 0x3FFF:
                return None  # not UDP, or a fragment
            total = (frame[off + 2] << 8) | frame[off + 3]
            end = min(off + total, len(frame))
            src = _ntop(socket.AF_INET, frame[off + 12 : off + 16])
            dst = _ntop(socket.AF_INET, frame[off + 16 : off + 20])
            u = off + ihl
        elif etype == 0x86DD:
            nxt = frame[off + 6]
            end = min(off + 40 + ((frame[off + 4] << 8) | frame[off + 5]), len(frame))
            src = _ntop(socket.AF_INET6, frame[off + 8 : off + 24])
            dst = _ntop(socket.AF_INET6, frame[off + 24 : off + 40])
            u = off + 40
            while nxt in _IPV6_EXT:
                nxt, u = frame[u], u + (frame[u + 1] + 1) * 8
            if nxt != 17:
                return None
        else:
            return None
        sport = (frame[u] << 8) | frame[u + 1]
        dport = (frame[u + 2] << 8) | frame[u + 3]
        ulen = (frame[u + 4] << 8) | frame[u + 5]
    except IndexError:
        return None
    if ports is not None and sport not in ports and dport not in ports:
        return None
    if ulen < 8 or u + ulen > end:
        return None
    return src, dst, sport, dport, frame[u + 8 : u + ulen]


class Sniffer:
    """Packet sockets on ``interfaces`` (names; empty: every interface) that yield the UDP datagrams to or from
    ``ports`` (``None``: every port); ``promiscuous``: the interfaces also pass up the frames between other hosts
    (for as long as the sockets are open). Close it (or use it as a context manager) to release the sockets."""

    def __init__(
        self,
        interfaces: Iterable[str] = (),
        ports: Iterable[int] | None = (3610,),
        rcvbuf: int = 8 << 20,
        promiscuous: bool = True,
    ) -> None:
        if not hasattr(socket, "AF_PACKET"):
            raise SniffError("live capture needs Linux (AF_PACKET sockets)")
        self.ports = None if ports is None else frozenset(ports)
        names = list(interfaces)
        known = dict((name, index) for index, name in socket.if_nameindex())
        for name in names:
            if name not in known:
                raise SniffError(f"no interface {name!r} (interfaces: {', '.join(sorted(known))})")
        self.interfaces: dict[int, str] = {known[n]: n for n in names} if names else {i: n for n, i in known.items()}
        self.sockets: list[socket.socket] = []
        self.packets = 0
        self.dropped_by_kernel = 0
        try:
            targets: list[str | None] = list(names) if names else [None]
            for target in targets:
                sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(_ETH_P_ALL))
                self.sockets.append(sock)
                try:
                    sock.setsockopt(socket.SOL_SOCKET, _SO_RCVBUFFORCE, rcvbuf)
                except OSError:
                    sock.setsockopt(socket.SOL_SOCKET, _SO_RCVBUF, rcvbuf)
                _attach_filter(sock)
                if target is not None:
                    sock.bind((target, _ETH_P_ALL))
                if promiscuous:  # (the frames between other hosts too, as tcpdump does; undone on close)
                    for index in self.interfaces if target is None else (known[target],):
                        mreq = struct.pack("iHH8s", index, _PACKET_MR_PROMISC, 0, b"")
                        sock.setsockopt(_SOL_PACKET, _PACKET_ADD_MEMBERSHIP, mreq)
                sock.setblocking(False)
        except PermissionError:
            self.close()
            raise SniffError(
                "live capture is not permitted: it needs CAP_NET_RAW (run as root, or setcap cap_net_raw+ep on python)"
            ) from None
        except OSError as exc:
            self.close()
            raise SniffError(f"cannot open the capture socket: {exc.strerror or exc}") from None
        self._index = {n: i for i, n in self.interfaces.items()}

    def __enter__(self) -> Sniffer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        for sock in self.sockets:
            sock.close()
        self.sockets = []

    def packets_until(self, deadline: float | None, stop: Callable[[], bool] | None = None) -> Iterator[RawPacket]:
        """The captured UDP frames, as they arrive, until the monotonic ``deadline`` (``None``: forever) or until
        ``stop()`` says so (asked between reads, at least every 0.2 s)."""
        socks = self.sockets
        while socks:
            timeout = 0.2
            if deadline is not None:
                timeout = min(timeout, deadline - time.monotonic())
                if timeout <= 0:
                    return
            if stop is not None and stop():
                return
            ready, _, _ = select.select(socks, [], [], timeout)
            for sock in ready:
                while True:
                    try:
                        data, address = sock.recvfrom(65535)
                    except BlockingIOError:
                        break
                    except OSError as exc:
                        raise SniffError(f"capture socket: {exc.strerror or exc}") from None
                    now = time.time()
                    # the address of a packet socket: (interface name, protocol, packet type, ARP hardware type, MAC)
                    ifindex = self._index.get(address[0], 0)
                    if not ifindex:
                        continue
                    hatype = address[3]
                    if hatype not in (_ARPHRD_ETHER, _ARPHRD_LOOPBACK):
                        continue
                    if hatype == _ARPHRD_LOOPBACK and address[2] == _PACKET_OUTGOING:
                        continue  # loopback: seen again on the way in
                    self.packets += 1
                    yield RawPacket(now, ifindex, data)

    def datagrams(self, packets: Iterable[RawPacket]) -> Iterator[Datagram]:
        """The datagrams of ``packets`` on the ports asked for (numbered from 1 in capture order)."""
        ports = self.ports
        index = 0
        for packet in packets:
            index += 1
            parsed = udp_of(packet.data, ports)
            if parsed is None:
                continue
            src, dst, sport, dport, payload = parsed
            yield Datagram(packet.time, src, dst, sport, dport, payload, index)


class PcapngWriter:
    """A pcapng file of Ethernet frames, written as they come (one interface description block per interface, the
    first time it is seen; nanosecond timestamps)."""

    def __init__(self, out: IO[bytes], names: dict[int, str]) -> None:
        self.out = out
        self.names = names
        self.ids: dict[int, int] = {}
        shb_body = struct.pack("<IHHq", 0x1A2B3C4D, 1, 0, -1) + _option(4, b"echonet sniff") + _option(0, b"")
        self._block(0x0A0D0D0A, shb_body)

    def _block(self, kind: int, body: bytes) -> None:
        length = 12 + len(body)
        self.out.write(struct.pack("<II", kind, length) + body + struct.pack("<I", length))

    def write(self, packet: RawPacket) -> None:
        iface = self.ids.get(packet.ifindex)
        if iface is None:
            iface = self.ids[packet.ifindex] = len(self.ids)
            name = self.names.get(packet.ifindex, str(packet.ifindex)).encode()
            body = struct.pack("<HHI", _LINKTYPE_ETHERNET, 0, 0) + _option(2, name) + _option(9, b"\x09")
            self._block(1, body + _option(0, b""))
        stamp = round(packet.time * 1e9)
        data = packet.data
        pad = b"\0" * (-len(data) % 4)
        body = struct.pack("<IIIII", iface, stamp >> 32, stamp & 0xFFFFFFFF, len(data), len(data)) + data + pad
        self._block(6, body)

    def flush(self) -> None:
        self.out.flush()


def _option(code: int, value: bytes) -> bytes:
    if code == 0:
        return b"\0\0\0\0"
    return struct.pack("<HH", code, len(value)) + value + b"\0" * (-len(value) % 4)
