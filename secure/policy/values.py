"""The terms of the coexistence policy: ESVs, peer addresses, EOJs, EPCs, durations and protocol versions, parsed
from what an operator types and named for what people read; and the enums a decision is made of.

Pure: no state, no I/O. Bad input raises :class:`~secure.errors.SecureUsageError` (it comes from the operator or the
application, never from the network).
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Mapping
from enum import StrEnum

from echonet.errors import ValueDecodeError
from echonet.spec.identity import PROTOCOL_VERSION
from secure.errors import SecureUsageError

__all__ = [
    "CONSENT_READ_ESVS",
    "ESV_NAMES",
    "READ_ONLY_ESVS",
    "RESPONSE_ESVS",
    "SET_ESVS",
    "Action",
    "Direction",
    "PeerKind",
    "describe_version",
    "document_number",
    "esv_name",
    "normalize_peer",
    "parse_duration",
    "parse_eoj",
    "parse_epcs",
    "parse_esvs",
]

SETI, SETC, GET, INF_REQ, SETGET, INF, INFC = 0x60, 0x61, 0x62, 0x63, 0x6E, 0x73, 0x74
SET_ESVS = frozenset({SETI, SETC, SETGET})
READ_ONLY_ESVS = frozenset({GET, INF_REQ, INF, INFC})
RESPONSE_ESVS = frozenset({0x50, 0x51, 0x52, 0x53, 0x5E, 0x71, 0x72, 0x7A, 0x7E})
#: Reads a consent can cover: of the data classes the policy protects
#: (see :attr:`secure.policy.rules.Policy.protected_reads`).
CONSENT_READ_ESVS = frozenset({GET, INF_REQ})
ESV_NAMES: Mapping[str, int] = {
    "SetI": SETI,
    "SetC": SETC,
    "Get": GET,
    "INF_REQ": INF_REQ,
    "SetGet": SETGET,
    "INF": INF,
    "INFC": INFC,
}


class Action(StrEnum):
    ALLOW = "allow"
    DENY = "deny"
    DROP = "drop"


class PeerKind(StrEnum):
    SECURE = "secure"
    LEGACY = "legacy"


class Direction(StrEnum):
    OUTGOING = "outgoing"
    INCOMING = "incoming"


def esv_name(esv: int) -> str:
    for name, code in ESV_NAMES.items():
        if code == esv:
            return name
    return f"0x{esv:02X}"


# -------------------------------------------------------------------------------------------------- parsing


def normalize_peer(address: str) -> str:
    """Canonical text of an IPv4/IPv6 address (raises :class:`SecureUsageError` otherwise)."""
    try:
        return str(ipaddress.ip_address(address.strip()))
    except ValueError:
        raise SecureUsageError(f"not an IP address: {address!r}") from None


def parse_eoj(value: str | bytes | int) -> bytes:
    """EOJ as 3 bytes, from ``"027D01"``/``"0x027D01"``, 3 bytes, or an int."""
    if isinstance(value, bytes):
        eoj = value
    elif isinstance(value, int):
        if not 0 <= value <= 0xFFFFFF:
            raise SecureUsageError(f"EOJ out of range: {value:#x}")
        eoj = value.to_bytes(3, "big")
    else:
        text = value.strip().lower().removeprefix("0x")
        if not re.fullmatch(r"[0-9a-f]{6}", text):
            raise SecureUsageError(f"an EOJ is 6 hex digits (class group, class, instance), got {value!r}")
        eoj = bytes.fromhex(text)
    if len(eoj) != 3:
        raise SecureUsageError("an EOJ is 3 bytes")
    return eoj


def parse_esvs(text: str, *, reads: bool = False) -> frozenset[int]:
    """Comma-separated Set-type ESVs by name (SetI, SetC, SetGet; any case) or code (0x61); with ``reads`` also
    Get and INF_REQ (a consent to read protected data classes)."""
    allowed = SET_ESVS | CONSENT_READ_ESVS if reads else SET_ESVS
    names = {name.lower(): code for name, code in ESV_NAMES.items()}
    result: set[int] = set()
    for part in (p.strip() for p in text.split(",")):
        if not part:
            continue
        if part.lower() in names:
            code = names[part.lower()]
        else:
            try:
                code = int(part, 16)
            except ValueError:
                raise SecureUsageError(
                    f"unknown ESV {part!r}", advice="use SetI, SetC or SetGet", form="{problem} ({advice})"
                ) from None
        if code not in allowed:
            if code in CONSENT_READ_ESVS:
                raise SecureUsageError(f"a consent to {esv_name(code)} names the data classes it covers (--class)")
            raise SecureUsageError(f"consent is only needed for SetI, SetC, SetGet and reads, not {esv_name(code)}")
        result.add(code)
    if not result:
        raise SecureUsageError("no ESV given")
    return frozenset(result)


def parse_epcs(text: str) -> frozenset[int]:
    """Comma-separated EPCs in hex (``0xDA,0xEB`` or ``DA,EB``), each 0x80-0xFF."""
    result: set[int] = set()
    for part in (p.strip() for p in text.split(",")):
        if not part:
            continue
        try:
            code = int(part, 16)
        except ValueError:
            raise SecureUsageError(f"not an EPC: {part!r}") from None
        if not 0x80 <= code <= 0xFF:
            raise SecureUsageError(f"EPCs lie in 0x80-0xFF, got {part!r}")
        result.add(code)
    if not result:
        raise SecureUsageError("no EPC given")
    return frozenset(result)


_DURATION_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_duration(text: str) -> float:
    """``90s``, ``30m``, ``2h``, ``1d``, ``1h30m`` -> seconds (positive)."""
    cleaned = text.strip().lower().replace(" ", "")
    if not re.fullmatch(r"(\d+[smhd])+", cleaned):
        raise SecureUsageError(f"duration must look like 30m, 2h, 1d or 1h30m, got {text!r}")
    total = sum(int(n) * _DURATION_UNITS[u] for n, u in re.findall(r"(\d+)([smhd])", cleaned))
    if total <= 0:
        raise SecureUsageError("duration must be positive")
    return float(total)


def describe_version(value: bytes | str) -> str:
    """Human text of node profile EPC 0x82 (major, minor, format bitmap, 0), from 4 bytes or 8 hex digits.

    Any other text is taken as already formatted (as shown to the user) and returned stripped.
    """
    raw: bytes | None = None
    if isinstance(value, bytes):
        raw = value
    else:
        text = value.strip()
        compact = text.lower().removeprefix("0x").replace(" ", "")
        if re.fullmatch(r"[0-9a-f]{8}", compact):
            raw = bytes.fromhex(compact)
        else:
            if not text or len(text) > 200 or not text.isprintable():
                raise SecureUsageError("the protocol version must be 1-200 printable characters")
            return text
    try:
        version = PROTOCOL_VERSION.decode(raw)
    except ValueDecodeError:
        raise SecureUsageError("node profile 0x82 is 4 bytes") from None
    formats = version.format_names
    shown = " and ".join(formats) if formats else "no"
    plural = "s" if len(formats) > 1 else ""
    return f"ECHONET Lite Ver. {version.major}.{version.minor} ({shown} message format{plural})"


def document_number(value: object) -> float:
    """A number of a stored policy document, as a float; :class:`ValueError` for anything else (booleans too)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError("not a number")
    return float(value)
