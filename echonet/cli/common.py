"""What every command-line module shares: exit codes, the one-line error and note, JSON output, the registry an
``--mra`` option asks for, and :class:`CommandFailed`, a failure already worded for the user."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from typing import Any, TextIO

from ..spec.registry import Registry, default_registry

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2

Handler = Callable[[argparse.Namespace], int]


class CommandFailed(Exception):
    """A command's failure already worded for the user: :func:`echonet.cli.main` prints ``message`` as one line
    and returns ``code``."""

    def __init__(self, message: str, code: int) -> None:
        super().__init__(message)
        self.message = message
        self.code = code


def registry(args: argparse.Namespace) -> Registry:
    """The property tables, with the classes of ``--mra DIR`` when given."""
    return default_registry(getattr(args, "mra", None))


def error(message: str) -> None:
    """One error line on stderr."""
    print(f"echonet: {message}", file=sys.stderr)


def note(message: str) -> None:
    """A remark for the user on stderr that is not an error (e.g. a fallback taken)."""
    print(f"echonet: {message}", file=sys.stderr, flush=True)


def dump(obj: Any, out: TextIO | None = None) -> None:
    """One compact JSON document on a line (stdout by default)."""
    print(json.dumps(obj, ensure_ascii=False, separators=(",", ":")), file=out or sys.stdout)


def host_port(addr: tuple[object, ...]) -> str:
    """A socket address as people write it: ``192.0.2.1:3610``, ``[fe80::1%eth0]:3610``."""
    host = str(addr[0])
    return f"[{host}]:{addr[1]}" if ":" in host else f"{host}:{addr[1]}"
