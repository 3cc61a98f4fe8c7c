"""What every command-line module shares: exit codes, the one-line error and note, the parser class, the registry an
``--mra`` option asks for, :class:`CommandFailed` (a failure already worded for the user), and the JSON vocabulary.

The JSON vocabulary (docs/json.md) is implemented here, once: every command builds its documents from these helpers,
so that an address, an object, a class, an EPC, a property map, a version, an identification number, a time and an
error look the same whichever command prints them.
"""

from __future__ import annotations

import argparse
import datetime as dt
import errno
import json
import sys
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, NoReturn, TextIO

from ..describe import class_name
from ..frame import EOJ
from ..spec.identity import version_of
from ..spec.registry import Registry, default_registry

if TYPE_CHECKING:
    from ..aio import Endpoints

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130

Handler = Callable[[argparse.Namespace], int]

#: The ``kind`` of an error object by exit code, where a command does not name it (docs/json.md).
ERROR_KINDS: Mapping[int, str] = {
    EXIT_FAILED: "failed",
    EXIT_USAGE: "usage",
    3: "refused",
    4: "timeout",
    EXIT_INTERRUPTED: "interrupted",
}


class CommandFailed(Exception):
    """A command's failure already worded for the user: :func:`echonet.cli.main` prints ``message`` as one line
    (and, with ``--json``, as an error object) and returns ``code``. ``kind`` names the failure in the error object
    (default: :data:`ERROR_KINDS` of the code)."""

    def __init__(self, message: str, code: int, kind: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.code = code
        self.kind = kind


class UsageExit(SystemExit):
    """A command line that does not parse: the one line is on stderr already; exit status 2."""

    def __init__(self, message: str) -> None:
        super().__init__(EXIT_USAGE)
        self.message = message


class CommandParser(argparse.ArgumentParser):
    """An argument parser whose usage errors are one line on stderr (``echonet get: error: ...``) and exit status 2
    (:class:`UsageExit`, a :class:`SystemExit`), never the usage text."""

    def error(self, message: str) -> NoReturn:
        text = f"{message} (see {self.prog} --help)"
        print(f"{self.prog}: error: {text}", file=sys.stderr, flush=True)
        raise UsageExit(text)


def registry(args: argparse.Namespace) -> Registry:
    """The property tables, with the classes of ``--mra DIR`` when given."""
    return default_registry(getattr(args, "mra", None))


def error(message: str, prefix: str = "echonet") -> None:
    """One error line on stderr."""
    print(f"{prefix}: {message}", file=sys.stderr, flush=True)


def note(message: str) -> None:
    """A remark for the user on stderr that is not an error (e.g. a fallback taken)."""
    print(f"echonet: {message}", file=sys.stderr, flush=True)


def dump(obj: Any, out: TextIO | None = None) -> None:
    """One compact JSON document on a line (stdout by default)."""
    print(json.dumps(obj, ensure_ascii=False, separators=(",", ":")), file=out or sys.stdout, flush=True)


#: An otherwise unused loopback address: binding it to a port without SO_REUSEADDR fails exactly when another socket
#: holds that port on the wildcard address (or, improbably, on this very address).
_PROBE_V4 = "127.255.255.254"


async def wildcard_holder(endpoints: Endpoints) -> str | None:
    """Who else holds the local port of ``endpoints`` on a wildcard address (0.0.0.0, ``::``) that they bind too, as
    ``pid 4321 (python -m echonet serve ...)``, or ``None``. Two wildcard sockets with SO_REUSEADDR both bind, and a
    unicast datagram to the port then reaches only one of them: answers meant for one program go to the other.

    Read from ``/proc/net/udp`` (:func:`echonet.netif.port_holders`) before our own socket is open; where that
    cannot be read, probed by binding an otherwise unused loopback address to the port without SO_REUSEADDR."""
    from .. import netif
    from ..aio import Endpoints, NodeRunner
    from ..node import Node

    if endpoints.port == 0:
        return None
    wildcards = {a for a in (endpoints.bind_v4, endpoints.bind_v6) if a in ("0.0.0.0", "::")}
    if not wildcards:
        return None
    holders = netif.port_holders(endpoints.port)
    if holders is not None:
        for holder in holders:
            if holder.wildcard and holder.address in wildcards:
                who = holder.who
                return who if len(who) <= 100 else who[:97] + "..."
        return None
    if "0.0.0.0" not in wildcards:
        return None
    probe = Endpoints(
        bind_v4=_PROBE_V4, bind_v6=None, port=endpoints.port, join_multicast=False, reuse_address=False, rcvbuf=None
    )
    try:
        runner = await NodeRunner.open(Node(), probe)
    except OSError as exc:
        return "another program" if exc.errno == errno.EADDRINUSE else None
    runner.close()
    return None


def json_to_stdout(args: argparse.Namespace | None) -> bool:
    """Whether the command prints JSON on stdout (``--json``; ``demo``: ``--json`` without a file, or ``-``)."""
    value = getattr(args, "json", None)
    return value is True or value == "-"


# ------------------------------------------------------------------------------------------------------- failures


def error_object(message: str, code: int, kind: str | None = None) -> dict[str, Any]:
    """The error member of a JSON document: ``{"code": 4, "kind": "timeout", "message": "..."}``."""
    return {"code": code, "kind": kind or ERROR_KINDS.get(code, "failed"), "message": message}


def with_error(doc: dict[str, Any], message: str, code: int, kind: str | None = None) -> dict[str, Any]:
    """``doc`` with its ``error`` member: a document of a command that exits non-zero carries one."""
    return {**doc, "error": error_object(message, code, kind)}


def fail(
    args: argparse.Namespace | None,
    message: str,
    code: int,
    kind: str | None = None,
    *,
    prefix: str = "echonet",
    as_json: bool | None = None,
) -> int:
    """Report a failure and return its exit code: the one line on stderr, and with JSON on stdout the document
    ``{"error": {...}}`` there too (``as_json`` overrides what ``args`` says)."""
    error(message, prefix)
    if as_json if as_json is not None else json_to_stdout(args):
        dump({"error": error_object(message, code, kind)})
    return code


# ----------------------------------------------------------------------------------------------- the vocabulary


def hex_text(data: bytes | None) -> str | None:
    """Bytes (an EDT, an identification number, a manufacturer code, a fingerprint) as lower-case hex."""
    return None if data is None else bytes(data).hex()


def epc_text(epc: int) -> str:
    """An EPC: ``"0xE4"``."""
    return f"0x{epc:02X}"


def epc_list(epcs: Iterable[int] | None, *, ordered: bool = True) -> list[str] | None:
    """A property map or a list of EPCs: ``["0x80", "0xE4"]`` (sorted unless ``ordered`` is false: as given)."""
    if epcs is None:
        return None
    return [epc_text(e) for e in (sorted(epcs) if ordered else epcs)]


def class_text(class_id: int) -> str:
    """A class code: ``"0x027D"``."""
    return f"0x{class_id:04X}"


def eoj_json(eoj: EOJ, registry: Registry) -> dict[str, str]:
    """An object: ``{"eoj": "027D01", "class": "0x027D", "class_name": "Storage battery"}``."""
    return {"eoj": str(eoj), "class": class_text(eoj.class_id), "class_name": class_name(registry, eoj)}


def address_json(addr: Sequence[Any]) -> dict[str, Any]:
    """A socket address: ``{"host": "127.0.0.2", "port": 3610}`` (IPv6 without brackets, the scope kept)."""
    return {"host": str(addr[0]), "port": int(addr[1])}


def maps_json(
    get_map: Iterable[int] | None, set_map: Iterable[int] | None, announce_map: Iterable[int] | None
) -> dict[str, list[str] | None]:
    """The three property maps (0x9F, 0x9E, 0x9D): ``get_map``, ``set_map``, ``announce_map``."""
    return {"get_map": epc_list(get_map), "set_map": epc_list(set_map), "announce_map": epc_list(announce_map)}


def version_json(edt: bytes | None) -> dict[str, Any] | None:
    """Node profile 0x82 as the spec layer types it: ``{"major": 1, "minor": 14, "formats": ["specified"]}``;
    ``None`` when not read or malformed."""
    version = version_of(edt)
    return None if version is None else version.to_json()


def time_json(seconds: float) -> str:
    """A moment (seconds since the epoch) in ISO 8601, UTC: ``"2026-01-15T05:00:00.250Z"``."""
    when = dt.datetime.fromtimestamp(seconds, tz=dt.UTC)
    return when.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def host_port(addr: tuple[object, ...]) -> str:
    """A socket address as people write it: ``192.0.2.1:3610``, ``[fe80::1%eth0]:3610``."""
    host = str(addr[0])
    return f"[{host}]:{addr[1]}" if ":" in host else f"{host}:{addr[1]}"
