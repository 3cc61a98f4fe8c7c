"""Argument types and parsers shared by the command-line modules.

* argparse types (``type=``): each parses one option value or raises :class:`argparse.ArgumentTypeError` with a
  message argparse prints as a usage error (exit code 2);
* :func:`parse_eoj` (an object, by code or class name) and :func:`parse_host` (a host with an optional port, IPv6
  in brackets), the one parser of each used by every command: they raise :class:`EchonetUsageError` (exit code 2),
  as they run once the registry of ``--mra`` is known, or resolve names.
"""

from __future__ import annotations

import argparse
import contextlib
import ipaddress
import re
import socket

from ..errors import EchonetUsageError
from ..frame import EOJ
from ..spec.registry import Registry

# ---------------------------------------------------------------------------------------------------- argparse types


def positive_seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds") from None
    if not value > 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"{text!r} must be a positive number of seconds")
    return value


def positive_number(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not value > 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"{text!r} must be a positive number")
    return value


def positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text!r} must be 1 or more")
    return value


def port(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a port number") from None
    if not 0 <= value <= 0xFFFF:
        raise argparse.ArgumentTypeError(f"port {value} out of range 0-65535")
    return value


def peer_port(text: str) -> int:
    value = port(text)
    if value == 0:
        raise argparse.ArgumentTypeError("the peer's port cannot be 0")
    return value


def count(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"{text!r} must be 0 or more")
    return value


# ----------------------------------------------------------------------------------------------------------- objects


def parse_eoj(text: str, registry: Registry, *, one_object: bool = False) -> EOJ:
    """``027D01``, ``0x027D01``, ``02-7D-01``, or ``CLASS[:INSTANCE]`` with CLASS a code (``0x027D``) or a name
    (``storage_battery``, ``storageBattery``, ``"storage battery"``, ``battery``) and INSTANCE decimal or
    ``0x``-hex (default 1). ``one_object``: instance 0x00 (every instance) is refused."""
    t = text.strip()
    eoj: EOJ | None = None
    with contextlib.suppress(EchonetUsageError):
        eoj = EOJ.parse(t)
    if eoj is None:
        head, sep, tail = t.rpartition(":")
        cls_text, instance_text = (head, tail) if sep else (t, "1")
        try:
            cls = registry.find_class(cls_text)
        except EchonetUsageError as exc:
            raise EchonetUsageError(
                f"{text!r} is not an EOJ (give 027D01, 0x027D01, 02-7D-01 or CLASS:INSTANCE such as "
                f"storage_battery:1): {exc}"
            ) from None
        try:
            instance = int(instance_text.strip(), 0)
        except ValueError:
            raise EchonetUsageError(f"{text!r}: instance {instance_text!r} is not a number (1, 2, 0x1F)") from None
        if not 0 <= instance <= 0x7F:
            raise EchonetUsageError(f"{text!r}: instance {instance} out of range 0-127 (0x00-0x7F)")
        eoj = EOJ.of(cls.class_id, instance)
    if one_object and eoj.instance == 0:
        raise EchonetUsageError(f"{text!r}: give one object, an instance from 1 (0x01), not 0x00 (every instance)")
    return eoj


# ------------------------------------------------------------------------------------------------------------- hosts

_BRACKETED = re.compile(r"^\[([^\]]+)\](?::(.*))?$")


def _is_ip(text: str) -> bool:
    try:
        ipaddress.ip_address(text.split("%", 1)[0])
    except ValueError:
        return False
    return True


def split_host_port(text: str, what: str = "host") -> tuple[str, int | None]:
    """``HOST``, ``HOST:PORT``, ``[IPV6]`` or ``[IPV6]:PORT`` (a bare IPv6 address is taken whole: write
    ``[::1]:3610`` for a port) as (host, port or ``None``); the host is not resolved."""
    t = text.strip()
    m = _BRACKETED.match(t)
    if m:
        host, port_text = m.group(1), m.group(2)
        if not _is_ip(host) or ":" not in host:
            raise EchonetUsageError(f"{what} {text!r}: brackets hold an IPv6 address ([::1], [fe80::1%eth0])")
    elif t.count(":") == 1:
        host, port_text = t.split(":")
    else:
        host, port_text = t, None
    if not host:
        raise EchonetUsageError(f"{what} {text!r}: no address")
    if port_text is None:
        return host, None
    try:
        number = int(port_text)
    except ValueError:
        raise EchonetUsageError(f"{what} {text!r}: {port_text!r} is not a port number") from None
    if not 1 <= number <= 0xFFFF:
        raise EchonetUsageError(f"{what} {text!r}: port {number} out of range 1-65535")
    return host, number


def resolve_host(text: str, what: str = "host") -> str:
    """An IP address (IPv6 with an optional ``%scope``), or a name resolved to one (IPv4 preferred)."""
    t = text.strip()
    if _is_ip(t):
        return t
    try:
        infos = socket.getaddrinfo(t, None, type=socket.SOCK_DGRAM)
    except (socket.gaierror, UnicodeError) as exc:
        reason = exc.strerror if isinstance(exc, socket.gaierror) else str(exc)
        raise EchonetUsageError(f"cannot resolve {what} {text!r}: {reason}") from None
    infos.sort(key=lambda info: info[0] != socket.AF_INET)
    return str(infos[0][4][0])


def parse_host(text: str, what: str = "host") -> tuple[str, int | None]:
    """A peer written ``192.0.2.5``, ``192.0.2.5:3611``, ``[::1]``, ``[::1]:3610``, ``fe80::1%eth0`` or a name
    (``localhost:3611``): (its IP address, the port given or ``None``)."""
    host, port_number = split_host_port(text, what)
    return resolve_host(host, what), port_number


def parse_ip(text: str, what: str = "host") -> tuple[str, int | None]:
    """An IP address (``192.0.2.5``, ``[::1]``, ``192.0.2.5:3611``, ``[::1]:3610``), not a name: (it, the port given
    or ``None``)."""
    host, port_number = split_host_port(text, what)
    if not _is_ip(host):
        raise EchonetUsageError(f"{what} {text!r} is not an IP address")
    return host, port_number


def parse_address(text: str, what: str = "--bind") -> tuple[str, int | None]:
    """A local address (``127.0.0.2``, ``[::1]``, ``127.0.0.2:3611``): an IP address of this host, not a name."""
    host, port_number = split_host_port(text, what)
    if not _is_ip(host):
        raise EchonetUsageError(f"{what} {text!r} is not an IP address of this host")
    return host, port_number


def peer_port_of(host_port: int | None, option: int | None, default: int) -> int:
    """The peer's port: the one written with the host, or ``--port``; both given and different is a usage error."""
    if host_port is not None and option is not None and host_port != option:
        raise EchonetUsageError(f"the host says port {host_port} and --port says {option}: give one")
    if host_port is not None:
        return host_port
    return option if option is not None else default


def one_device(text: str, port_option: int | None, default: int, doing: str) -> tuple[str, int]:
    """HOST (``192.0.2.5``, ``192.0.2.5:3611``, ``[::1]:3610`` or a name) and ``--port`` of a command that probes
    one device (``doing``: "the checker probes one device"): its unicast address and port."""
    host, written_port = parse_host(text)
    address = ipaddress.ip_address(host.split("%")[0])
    if address.is_multicast or address.is_unspecified:
        raise EchonetUsageError(f"{text}: {doing}: give its unicast address")
    return host, peer_port_of(written_port, port_option, default)
