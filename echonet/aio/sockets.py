"""UDP sockets of a node: where they bind, which multicast groups they join, out of which interfaces they send.

Only this module and :mod:`echonet.aio.runner` touch sockets.
"""

from __future__ import annotations

import contextlib
import socket
import struct
from collections.abc import Sequence
from dataclasses import dataclass

from ..constants import ECHONET_PORT, MULTICAST_V4, MULTICAST_V6
from ..errors import EchonetUsageError


@dataclass(frozen=True)
class Endpoints:
    """Where a node's sockets bind and which multicast groups they join.

    * ``bind_v4`` / ``bind_v6``: local address per family (``None`` disables the family). Binding to the wildcard
      (``0.0.0.0`` / ``::``) receives multicast; binding to one's own loopback address (``127.0.0.2``) lets two
      stacks share port 3610 on one host (unicast only).
    * ``port``: 3610, or 0 for an ephemeral port.
    * ``interfaces``: interface names or addresses (see :mod:`echonet.netif`) on which to join the groups and out
      of which to send multicast (the first through the main socket, each further one through a sending socket of
      its own); empty: see the rule below.
    * ``join_multicast``: ``None`` joins when bound to the wildcard address.
    * ``multicast_loop``: receive our own multicast (needed for two stacks on one host).
    * ``reuse_address``: SO_REUSEADDR; ``None`` sets it for wildcard binds only (several programs may then share
      port 3610 for multicast), so that a second bind of the same unicast address fails loudly instead of
      silently splitting the traffic.
    * ``rcvbuf``: socket receive buffer to ask for, 4 MiB by default (bursts of answers to a discovery or a flood
      need room: under a 10,000/s flood, 1 MiB left the kernel dropping legitimate Gets, see docs/performance.md;
      the kernel caps it at ``net.core.rmem_max``, and only what is queued uses memory).

    Which interface multicast uses (joining the group, and sending to it), per family:

    1. ``interfaces`` named: those, and only those (one without an address of the family is skipped, with a
       warning, never replaced by another).
    2. none named, bound to an address (``127.0.0.2``, ``::1``, ``192.168.1.5``, ``fe80::1%eth0``): the interface
       that holds that address, so a loopback bind keeps its multicast on ``lo``, joined or not, and never reaches
       another interface.
    3. none named, bound to the wildcard: the system's choice (the interface of the route to the group, on most
       hosts the default route's), which is what a program meant for the LAN wants. Tests and examples that must
       stay on this host bind to a loopback address or name ``lo``.
    """

    bind_v4: str | None = "0.0.0.0"
    bind_v6: str | None = None
    port: int = ECHONET_PORT
    interfaces: tuple[str, ...] = ()
    join_multicast: bool | None = None
    multicast_loop: bool = True
    multicast_hops: int = 1
    reuse_address: bool | None = None
    reuse_port: bool = False
    rcvbuf: int | None = 4 << 20
    group_v4: str = MULTICAST_V4
    group_v6: str = MULTICAST_V6


@dataclass(frozen=True)
class Interface:
    """An interface chosen for multicast: its name, index and first IPv4 address."""

    name: str
    index: int
    ipv4: str | None


def resolve_interfaces(specs: Sequence[str]) -> list[Interface]:
    """The interfaces named by ``specs`` (names or addresses, see :func:`echonet.netif.select`)."""
    if not specs:
        return []
    from .. import netif

    out = []
    for spec in specs:
        iface = netif.select(spec)
        out.append(Interface(iface.name, iface.index, iface.ipv4[0] if iface.ipv4 else None))
    return out


def _common_options(sock: socket.socket, ep: Endpoints, wildcard: bool) -> None:
    if ep.reuse_address if ep.reuse_address is not None else wildcard:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if ep.reuse_port and hasattr(socket, "SO_REUSEPORT"):
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    if ep.rcvbuf:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, ep.rcvbuf)


def _wildcard_v4(ep: Endpoints) -> bool:
    return ep.bind_v4 in ("0.0.0.0", "", ep.group_v4)


def _wildcard_v6(host: str, ep: Endpoints) -> bool:
    return host in ("::", "", ep.group_v6)


def _v4_interface_addresses(ep: Endpoints, ifaces: list[Interface], warnings: list[str]) -> list[str] | None:
    """The interface addresses (IPv4) that select where multicast goes, or ``None`` for the system's choice."""
    if ifaces:
        for iface in ifaces:
            if not iface.ipv4:
                warnings.append(f"{iface.name} has no IPv4 address: no IPv4 multicast on it")
        return [i.ipv4 for i in ifaces if i.ipv4]
    assert ep.bind_v4 is not None
    return None if _wildcard_v4(ep) else [ep.bind_v4]


def open_v4(ep: Endpoints, ifaces: list[Interface], warnings: list[str]) -> socket.socket:
    """The IPv4 socket of ``ep``, bound, joined where asked (a failed join is a line in ``warnings``), non-blocking.

    Multicast goes where the rule of :class:`Endpoints` says."""
    assert ep.bind_v4 is not None
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        wildcard = _wildcard_v4(ep)
        _common_options(sock, ep, wildcard)
        sock.bind((ep.bind_v4, ep.port))
        sock.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_LOOP, int(ep.multicast_loop))
        sock.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_TTL, ep.multicast_hops)
        addresses = _v4_interface_addresses(ep, ifaces, warnings)
        if addresses:
            sock.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_IF, socket.inet_aton(addresses[0]))
        join = ep.join_multicast if ep.join_multicast is not None else wildcard
        if join:
            for address in addresses if addresses is not None else ["0.0.0.0"]:
                mreq = socket.inet_aton(ep.group_v4) + socket.inet_aton(address)
                try:
                    sock.setsockopt(socket.IPPROTO_IP, socket.IP_ADD_MEMBERSHIP, mreq)
                except OSError as exc:
                    warnings.append(f"cannot join {ep.group_v4} on {address}: {exc.strerror or exc}")
        sock.setblocking(False)
    except BaseException:
        sock.close()
        raise
    return sock


def _index_holding(host: str) -> int:
    """The index of the interface that holds the IPv6 address ``host`` (the loopback one for ``::1``), or 0."""
    from .. import netif

    try:
        available = netif.interfaces()
    except (ImportError, OSError):
        return 0
    try:
        return netif.select(host, available).index
    except EchonetUsageError:
        pass
    if host == "::1":
        return next((i.index for i in available if i.loopback), 0)
    return 0


def open_v6(ep: Endpoints, ifaces: list[Interface], warnings: list[str]) -> socket.socket:
    """The IPv6 socket of ``ep`` (IPv6 only), bound, joined where asked, non-blocking.

    Multicast goes where the rule of :class:`Endpoints` says."""
    assert ep.bind_v6 is not None
    sock = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
    try:
        host, _, scope = ep.bind_v6.partition("%")
        wildcard = _wildcard_v6(host, ep)
        _common_options(sock, ep, wildcard)
        sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
        scope_id = (int(scope) if scope.isdigit() else socket.if_nametoindex(scope)) if scope else 0
        sock.bind((host, ep.port, 0, scope_id))
        sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_LOOP, int(ep.multicast_loop))
        sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_HOPS, ep.multicast_hops)
        indexes: list[int] | None
        if ifaces:
            indexes = [i.index for i in ifaces]
        elif wildcard:
            indexes = None  # the system's choice
        else:
            held = scope_id or _index_holding(host)
            indexes = [held] if held else []
            if not held:
                warnings.append(f"cannot tell which interface holds {host}: no IPv6 multicast")
        if indexes:
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_IF, struct.pack("@I", indexes[0]))
        join = ep.join_multicast if ep.join_multicast is not None else wildcard
        if join:
            group = socket.inet_pton(socket.AF_INET6, ep.group_v6)
            for index in indexes if indexes is not None else [0]:
                try:
                    sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_JOIN_GROUP, group + struct.pack("@I", index))
                except OSError as exc:
                    warnings.append(f"cannot join {ep.group_v6} on interface index {index}: {exc.strerror or exc}")
        sock.setblocking(False)
    except BaseException:
        sock.close()
        raise
    return sock


def open_sender(family: int, iface: Interface, ep: Endpoints) -> socket.socket:
    """A socket that sends multicast out of one more interface (answers to it come back on its own port)."""
    sock = socket.socket(family, socket.SOCK_DGRAM)
    try:
        if family == socket.AF_INET:
            assert iface.ipv4 is not None
            sock.bind((iface.ipv4, 0))
            sock.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_IF, socket.inet_aton(iface.ipv4))
            sock.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_LOOP, int(ep.multicast_loop))
            sock.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_TTL, ep.multicast_hops)
        else:
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            sock.bind(("::", 0))
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_IF, struct.pack("@I", iface.index))
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_LOOP, int(ep.multicast_loop))
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_HOPS, ep.multicast_hops)
        sock.setblocking(False)
    except BaseException:
        sock.close()
        raise
    return sock


def open_aside(host: str) -> socket.socket:
    """A non-blocking socket bound to ``host`` on an ephemeral port: datagrams that must leave from a port other
    than the node's (a device that answers from another port, see :mod:`echonet.apps.quirks`)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_DGRAM)
    try:
        sock.bind((host, 0))
        sock.setblocking(False)
    except BaseException:
        sock.close()
        raise
    return sock


__all__ = ["Endpoints", "Interface", "open_aside", "open_sender", "open_v4", "open_v6", "resolve_interfaces"]
