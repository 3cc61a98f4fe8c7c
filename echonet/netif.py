"""Network interfaces: list them, select one by name or address, and diagnose what breaks ECHONET Lite multicast.

``netifaces`` (the ``netifaces-plus`` distribution) is imported lazily, on the first call that needs it. Linux
details (routes, rp_filter, interface flags) are read from ``/proc`` and ``/sys``; the paths can be pointed
elsewhere so that :func:`diagnose` is testable with fabricated files. Nothing here prints: findings come back as
data (:class:`Finding`) for ``echonet doctor`` and other front ends.
"""

from __future__ import annotations

import ipaddress
import os
import shutil
import socket
import subprocess
import sys
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from enum import IntEnum
from pathlib import Path
from typing import Any

from .constants import ECHONET_PORT, MULTICAST_V4
from .errors import EchonetUsageError

_IFF_UP = 0x1
_IFF_LOOPBACK = 0x8
_IFF_MULTICAST = 0x1000


@dataclass(frozen=True)
class Interface:
    """One network interface and its addresses (IPv6 without the ``%scope`` suffix)."""

    name: str
    index: int
    ipv4: tuple[str, ...] = ()
    ipv6: tuple[str, ...] = ()
    up: bool = True
    loopback: bool = False
    multicast: bool = True

    @property
    def addresses(self) -> tuple[str, ...]:
        return self.ipv4 + self.ipv6


def _flags(name: str, sys_root: Path) -> int | None:
    try:
        return int((sys_root / "class" / "net" / name / "flags").read_text().strip(), 16)
    except (OSError, ValueError):
        return None


def interfaces(*, sys_root: Path = Path("/sys")) -> list[Interface]:
    """Every interface with its IPv4 and IPv6 addresses, flags read from ``/sys`` where available."""
    import netifaces

    out = []
    for name in netifaces.interfaces():
        info: dict[int, list[dict[str, Any]]] = netifaces.ifaddresses(name)
        ipv4 = tuple(a["addr"] for a in info.get(netifaces.AF_INET, []) if a.get("addr"))
        ipv6 = tuple(a["addr"].split("%", 1)[0] for a in info.get(netifaces.AF_INET6, []) if a.get("addr"))
        try:
            index = socket.if_nametoindex(name)
        except OSError:
            index = 0
        flags = _flags(name, sys_root)
        loopback = bool(flags & _IFF_LOOPBACK) if flags is not None else name == "lo" or ipv4[:1] == ("127.0.0.1",)
        out.append(
            Interface(
                name=name,
                index=index,
                ipv4=ipv4,
                ipv6=ipv6,
                up=bool(flags & _IFF_UP) if flags is not None else bool(ipv4 or ipv6),
                loopback=loopback,
                multicast=bool(flags & _IFF_MULTICAST) if flags is not None else not loopback,
            )
        )
    return out


def _same_address(a: str, b: str) -> bool:
    try:
        return ipaddress.ip_address(a.split("%", 1)[0]) == ipaddress.ip_address(b.split("%", 1)[0])
    except ValueError:
        return False


def select(spec: str, available: Sequence[Interface] | None = None) -> Interface:
    """The interface named ``spec`` or holding the address ``spec``; :class:`EchonetUsageError` otherwise."""
    items = list(available) if available is not None else interfaces()
    for iface in items:
        if iface.name == spec:
            return iface
    for iface in items:
        if any(_same_address(spec, a) for a in iface.addresses):
            return iface
    known = ", ".join(f"{i.name} ({' '.join(i.addresses) or 'no address'})" for i in items) or "none"
    raise EchonetUsageError(f"no interface named or holding {spec!r}; interfaces: {known}")


def group_memberships(proc_root: Path = Path("/proc")) -> dict[str, set[str]] | None:
    """The multicast groups joined on each interface of this host (any program's joins), from ``/proc/net/igmp``
    and ``/proc/net/igmp6``: interface name -> groups (``224.0.23.0``, ``ff02::1``); ``None`` when unreadable."""
    out: dict[str, set[str]] = {}
    try:
        text = (proc_root / "net" / "igmp").read_text()
    except OSError:
        return None
    current: str | None = None
    for line in text.splitlines()[1:]:
        if not line.strip():
            continue
        if not line[0].isspace():  # "4	eth0      :     1      V3"
            head = line.split(":", 1)[0].split()
            current = head[1] if len(head) > 1 else None
            if current is not None:
                out.setdefault(current, set())
        elif current is not None:  # "				010000E0     1 0:00000000		0" (little-endian hex)
            word = line.split()[0]
            try:
                out[current].add(str(ipaddress.IPv4Address(bytes.fromhex(word)[::-1])))
            except ValueError:
                continue
    try:
        text6 = (proc_root / "net" / "igmp6").read_text()
    except OSError:
        text6 = ""
    for line in text6.splitlines():  # "1    lo              ff020000000000000000000000000001     1 0000000C 0"
        parts = line.split()
        if len(parts) >= 3 and len(parts[2]) == 32:
            try:
                out.setdefault(parts[1], set()).add(str(ipaddress.IPv6Address(bytes.fromhex(parts[2]))))
            except ValueError:
                continue
    return out


def interface_report(
    groups: Sequence[str] = (MULTICAST_V4,),
    *,
    available: Sequence[Interface] | None = None,
    proc_root: Path = Path("/proc"),
) -> list[dict[str, Any]]:
    """One record per interface: name, index, up, loopback, multicast, addresses, and for each of ``groups``
    whether it is joined there (by any program; ``None`` when the memberships cannot be read)."""
    items = list(available) if available is not None else interfaces()
    joined = group_memberships(proc_root)
    out = []
    for iface in items:
        here = None if joined is None else joined.get(iface.name, set())
        out.append(
            {
                "name": iface.name,
                "index": iface.index,
                "up": iface.up,
                "loopback": iface.loopback,
                "multicast": iface.multicast,
                "ipv4": list(iface.ipv4),
                "ipv6": list(iface.ipv6),
                "groups": {g: (None if here is None else g in here) for g in groups},
            }
        )
    return out


# Diagnosis ----------------------------------------------------------------------------------------------------------


class Severity(IntEnum):
    INFO = 0
    WARNING = 1
    ERROR = 2


@dataclass(frozen=True)
class Finding:
    """One observation of :func:`diagnose`: a stable ``code``, its severity and an explanation with the fix."""

    code: str
    severity: Severity
    message: str
    interface: str | None = None


@dataclass(frozen=True)
class Route:
    """An IPv4 route of ``/proc/net/route``."""

    interface: str
    network: ipaddress.IPv4Network
    gateway: str


def read_routes(proc_root: Path = Path("/proc")) -> list[Route] | None:
    """IPv4 routes of the main table, or ``None`` when ``/proc/net/route`` cannot be read."""
    try:
        lines = (proc_root / "net" / "route").read_text().splitlines()
    except OSError:
        return None
    routes = []
    for line in lines[1:]:
        fields = line.split()
        if len(fields) < 8:
            continue
        try:
            dest = socket.inet_ntoa(int(fields[1], 16).to_bytes(4, "little"))
            gateway = socket.inet_ntoa(int(fields[2], 16).to_bytes(4, "little"))
            mask = socket.inet_ntoa(int(fields[7], 16).to_bytes(4, "little"))
            flags = int(fields[3], 16)
            network = ipaddress.IPv4Network(f"{dest}/{mask}", strict=False)
        except (ValueError, OverflowError):
            continue
        if flags & 0x1:  # RTF_UP
            routes.append(Route(fields[0], network, gateway))
    return routes


def route_for(address: str, routes: Sequence[Route]) -> Route | None:
    """The longest-prefix route for ``address``."""
    target = ipaddress.IPv4Address(address)
    matching = [r for r in routes if target in r.network]
    return max(matching, key=lambda r: r.network.prefixlen, default=None)


def _rp_filter(name: str, proc_root: Path) -> int | None:
    values = []
    for conf in ("all", name):
        try:
            values.append(int((proc_root / "sys" / "net" / "ipv4" / "conf" / conf / "rp_filter").read_text()))
        except (OSError, ValueError):
            continue
    return max(values) if values else None


def read_firewall(run: Callable[[list[str]], str | None] | None = None) -> str | None:
    """The text of ``iptables-save`` and ``nft list ruleset`` (what can be read), or ``None``."""
    runner = run or _run_quietly
    texts = []
    for command in (["iptables-save"], ["ip6tables-save"], ["nft", "list", "ruleset"]):
        if run is None and shutil.which(command[0]) is None:
            continue
        text = runner(command)
        if text:
            texts.append(text)
    return "\n".join(texts) if texts else None


def _run_quietly(command: list[str]) -> str | None:
    try:
        result = subprocess.run(command, capture_output=True, text=True, timeout=3, check=False)
    except (OSError, subprocess.SubprocessError):
        return None
    return result.stdout if result.returncode == 0 else None


def firewall_findings(rules: str, port: int = ECHONET_PORT) -> list[Finding]:
    """Rules that drop or reject UDP ``port``, and input policies that drop by default with no rule accepting it."""
    findings = []
    text = str(port)
    accepts = False
    for raw in rules.splitlines():
        line = raw.strip()
        lower = line.lower()
        if text not in line:
            continue
        if any(word in lower for word in (" drop", " reject", "-j drop", "-j reject")):
            findings.append(
                Finding(
                    "firewall-drops-3610",
                    Severity.ERROR,
                    f"a firewall rule drops ECHONET Lite traffic (UDP {port}): {line}",
                )
            )
        elif "accept" in lower:
            accepts = True
    policy_drop = any(
        line.startswith(":INPUT DROP") or ("hook input" in line and "policy drop" in line)
        for line in (raw.strip() for raw in rules.splitlines())
    )
    if policy_drop and not accepts:
        findings.append(
            Finding(
                "firewall-policy-drop",
                Severity.WARNING,
                f"the input policy drops by default and no rule accepts UDP {port}: "
                f"allow it (e.g. iptables -A INPUT -p udp --dport {port} -j ACCEPT)",
            )
        )
    return findings


# Who else holds the port ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PortHolder:
    """A UDP socket bound to a port: its local address, the socket's inode, and its process where that is visible."""

    address: str
    port: int
    inode: int
    pid: int | None = None
    command: str | None = None

    @property
    def wildcard(self) -> bool:
        return self.address in ("0.0.0.0", "::")

    @property
    def who(self) -> str:
        if self.pid is None:
            return "a program whose process is not visible here (run as root to see which)"
        return f"pid {self.pid} ({self.command})" if self.command else f"pid {self.pid}"


def parse_udp_table(text: str, port: int, *, v6: bool = False) -> list[PortHolder]:
    """The unconnected sockets bound to ``port`` in the text of ``/proc/net/udp`` (``v6``: ``/proc/net/udp6``).

    Addresses there are hex words in the host's byte order; the port is plain hex."""
    holders = []
    for line in text.splitlines()[1:]:
        fields = line.split()
        if len(fields) < 10:
            continue
        local, _, hex_port = fields[1].partition(":")
        remote_port = fields[2].partition(":")[2]
        try:
            if int(hex_port, 16) != port or int(remote_port or "0", 16) != 0:
                continue
            raw = b"".join(int(local[i : i + 8], 16).to_bytes(4, sys.byteorder) for i in range(0, len(local), 8))
            address = socket.inet_ntop(socket.AF_INET6 if v6 else socket.AF_INET, raw)
            inode = int(fields[9])
        except (ValueError, OSError, OverflowError):
            continue
        holders.append(PortHolder(address, port, inode))
    return holders


def _link(path: Path) -> str | None:
    try:
        return os.readlink(path)
    except OSError:  # closed meanwhile (the listing's own descriptor among them)
        return None


def socket_owners(inodes: Iterable[int], proc_root: Path = Path("/proc")) -> dict[int, tuple[int, str]]:
    """inode -> (pid, command line) for the sockets among ``inodes`` whose process can be seen (``/proc/*/fd``)."""
    wanted = {f"socket:[{inode}]": inode for inode in inodes}
    found: dict[int, tuple[int, str]] = {}
    if not wanted:
        return found
    try:
        processes = [d for d in proc_root.iterdir() if d.name.isdigit()]
    except OSError:
        return found
    for process in processes:
        try:
            fds = list((process / "fd").iterdir())
        except OSError:
            continue
        hits = [wanted[link] for link in map(_link, fds) if link in wanted]
        if not hits:
            continue
        try:
            raw = (process / "cmdline").read_bytes()
        except OSError:
            raw = b""
        command = " ".join(part.decode(errors="replace") for part in raw.split(b"\0") if part)
        for inode in hits:
            found.setdefault(inode, (int(process.name), command))
    return found


def port_holders(port: int = ECHONET_PORT, proc_root: Path = Path("/proc")) -> list[PortHolder] | None:
    """The UDP sockets of this host (this network namespace) bound to ``port``, with their processes where visible;
    ``None`` when neither ``/proc/net/udp`` nor ``/proc/net/udp6`` can be read."""
    holders: list[PortHolder] = []
    readable = False
    for name, v6 in (("udp", False), ("udp6", True)):
        try:
            text = (proc_root / "net" / name).read_text()
        except OSError:
            continue
        readable = True
        holders += parse_udp_table(text, port, v6=v6)
    if not readable:
        return None
    owners = socket_owners((h.inode for h in holders), proc_root)
    return [PortHolder(h.address, h.port, h.inode, *owners[h.inode]) if h.inode in owners else h for h in holders]


def port_findings(
    holders: Sequence[PortHolder],
    *,
    port: int = ECHONET_PORT,
    address: str | None = None,
    local_addresses: Iterable[str] = (),
) -> list[Finding]:
    """What the sockets already bound to ``port`` break for a controller of this host (pure).

    ``address`` is the address the controller binds (``None``: the wildcard, the command line's default);
    ``local_addresses`` are the interfaces' addresses (where answers to a wildcard-bound controller arrive).

    * a holder on the wildcard (0.0.0.0): a wildcard controller on ``port`` shares the port with it (SO_REUSEADDR)
      and each datagram to the port reaches one of the two sockets, so requests or their answers go astray and the
      controller times out (an error); on ``::``, the same for IPv6 (a warning); beside an address of the same
      family the controller binds, a note (that bind fails, or the command line falls back to an ephemeral port);
    * a holder on the very address the controller binds: an error;
    * a holder on an interface's address (127.0.0.1, a LAN address): answers arriving there go to it, not to a
      wildcard controller (a warning). Holders on loopback addresses of their own (127.0.0.2) are the way to share a
      host, and no finding."""
    fix = (
        "give the controller a port of its own (--local-port 0: answers come back to it), or serve on a loopback "
        "address of its own (echonet serve --bind 127.0.0.2) and ask it there"
    )
    chosen = None if address is None or address in ("0.0.0.0", "::") else address
    interface_addresses = {a.split("%", 1)[0] for a in local_addresses}
    findings = []
    for holder in holders:
        where = f"[{holder.address}]:{port}" if ":" in holder.address else f"{holder.address}:{port}"
        held = f"UDP {where} is held by {holder.who}"
        if chosen is not None and _same_address(chosen, holder.address):
            findings.append(
                Finding(
                    "port-in-use",
                    Severity.ERROR,
                    f"{held}: a controller bound to {chosen} port {port} cannot have it to itself; bind another "
                    f"address of this host, or --local-port 0",
                )
            )
        elif holder.wildcard and chosen is None:
            family = "IPv6 " if holder.address == "::" else ""
            findings.append(
                Finding(
                    "port-in-use",
                    Severity.WARNING if family else Severity.ERROR,
                    f"{held}: a {family}controller of this host on {holder.address} port {port} (as `echonet "
                    f"discover` binds by default) shares the port with it (SO_REUSEADDR); each datagram to the port "
                    f"then reaches only one of the two sockets, so requests or answers go astray and the controller "
                    f"times out: {fix}",
                )
            )
        elif holder.wildcard and chosen is not None and (":" in holder.address) == (":" in chosen):
            findings.append(
                Finding(
                    "port-in-use",
                    Severity.INFO,
                    f"{held}: binding {chosen} port {port} fails beside it unless both set SO_REUSEADDR, and the "
                    f"command line then falls back to an ephemeral port (devices that answer to port {port} only "
                    f"are not heard)",
                )
            )
        elif chosen is None and holder.address in interface_addresses:
            findings.append(
                Finding(
                    "port-in-use",
                    Severity.WARNING,
                    f"{held}: answers to a controller bound to the wildcard address that arrive at {holder.address} "
                    f"go to it instead: {fix}",
                )
            )
    return list(dict.fromkeys(findings))  # one line per program and address, however many sockets it holds


def port_conflict_findings(
    port: int = ECHONET_PORT,
    *,
    address: str | None = None,
    available: Sequence[Interface] | None = None,
    proc_root: Path = Path("/proc"),
) -> list[Finding]:
    """:func:`port_findings` for the sockets bound to ``port`` on this host now (none when ``/proc`` cannot tell)."""
    holders = port_holders(port, proc_root)
    if not holders:
        return []
    items = list(available) if available is not None else interfaces()
    return port_findings(holders, port=port, address=address, local_addresses=[a for i in items for a in i.addresses])


def diagnose(
    interface: str | None = None,
    *,
    address: str | None = None,
    port: int = ECHONET_PORT,
    group: str = MULTICAST_V4,
    available: Sequence[Interface] | None = None,
    proc_root: Path = Path("/proc"),
    firewall: str | bool | None = True,
) -> list[Finding]:
    """What stands in the way of ECHONET Lite on this host, as findings (most severe first).

    ``interface`` (name) and ``address`` are what the user chose, if anything. ``available`` replaces the live
    interface list, ``proc_root`` the ``/proc`` tree, ``firewall`` the rules text (``True``: read them with
    ``iptables-save`` / ``nft`` where possible; ``False``/``None``: skip). Sockets of other programs already bound
    to ``port`` on this host come last (:func:`port_conflict_findings`).
    """
    items = list(available) if available is not None else interfaces()
    findings: list[Finding] = []
    chosen: list[Interface] = []
    if interface is not None:
        named = [i for i in items if i.name == interface]
        if not named:
            findings.append(
                Finding("no-such-interface", Severity.ERROR, f"there is no interface named {interface!r}", interface)
            )
        chosen += named
    if address in ("0.0.0.0", "::"):  # the wildcard: every interface, as when no address is given
        address = None
    if address is not None:
        holders = [i for i in items if any(_same_address(address, a) for a in i.addresses)]
        if not holders:
            findings.append(
                Finding(
                    "no-such-address",
                    Severity.ERROR,
                    f"no interface holds the address {address}: bind to an address of this host "
                    f"({', '.join(a for i in items for a in i.addresses) or 'none'})",
                )
            )
        chosen += [h for h in holders if h not in chosen]

    usable = [i for i in items if i.up and not i.loopback and i.addresses]
    if not usable:
        findings.append(
            Finding(
                "only-loopback",
                Severity.ERROR,
                "only the loopback interface is up with an address: ECHONET Lite devices cannot be reached",
            )
        )
    for iface in chosen:
        if not iface.up:
            findings.append(Finding("interface-down", Severity.ERROR, f"{iface.name} is down", iface.name))
        elif not iface.multicast:
            findings.append(
                Finding("no-multicast-flag", Severity.ERROR, f"{iface.name} does not support multicast", iface.name)
            )

    routes = read_routes(proc_root)
    if routes is None:
        findings.append(Finding("routes-unreadable", Severity.INFO, "the IPv4 routing table could not be read"))
    else:
        best = route_for(group, routes)
        if best is None:
            findings.append(
                Finding(
                    "no-multicast-route",
                    Severity.ERROR,
                    f"no route covers {group} (no multicast route and no default route): multicast discovery "
                    f"fails; add one, e.g. ip route add 224.0.0.0/4 dev <interface>",
                )
            )
        else:
            for iface in chosen:
                if best.interface != iface.name:
                    findings.append(
                        Finding(
                            "multicast-route-elsewhere",
                            Severity.WARNING,
                            f"the route for {group} goes through {best.interface}, not {iface.name}: select the "
                            f"interface explicitly (it sets IP_MULTICAST_IF) or add a route for 224.0.0.0/4 "
                            f"on {iface.name}",
                            iface.name,
                        )
                    )

    for iface in chosen or usable:
        value = _rp_filter(iface.name, proc_root)
        if value == 1:
            findings.append(
                Finding(
                    "rp-filter",
                    Severity.WARNING,
                    f"strict reverse-path filtering (rp_filter=1) is on for {iface.name}: datagrams from sources "
                    f"not routed back through {iface.name} are dropped silently; set "
                    f"net.ipv4.conf.{iface.name}.rp_filter=2 (loose) if devices sit on another path",
                    iface.name,
                )
            )

    rules: str | None
    if firewall is True:
        rules = read_firewall()
        if rules is None:
            findings.append(
                Finding(
                    "firewall-unknown",
                    Severity.INFO,
                    "the firewall rules could not be read (no iptables/nft, or not enough privileges)",
                )
            )
    elif isinstance(firewall, str):
        rules = firewall
    else:
        rules = None
    if rules:
        findings += firewall_findings(rules, port)
    findings += port_conflict_findings(port, address=address, available=items, proc_root=proc_root)
    findings.sort(key=lambda f: -f.severity)
    return findings
