"""The ``echonet`` command: the parser, assembled from the command groups, and the dispatch, the one place where an
exception becomes an exit code.

Every command returns an exit code: 0 success, 1 a decode/network outcome the user asked about went wrong (malformed
input, timeout), 2 bad usage (unknown class, bad hex, missing file, a missing optional extra, a command line that does
not parse), 3 a refusal by the device (get/set) or a damaged capture (decode --pcap); docs/cli.md lists each
command's codes. Errors are one clear line on stderr, never a traceback; with ``--json`` the same error is also a
JSON document ``{"error": {"code": N, "kind": "...", "message": "..."}}`` on stdout (docs/json.md).

``--mra DIR`` is an option of ``echonet`` and of every command, so it may come before or after the command's name.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Sequence
from typing import Any

from .. import __version__
from ..errors import EchonetError, EchonetUsageError
from .common import (
    EXIT_FAILED,
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_USAGE,
    CommandFailed,
    CommandParser,
    Handler,
    UsageExit,
    dump,
    error_object,
    fail,
)

_MRA_HELP = "Machine Readable Appendix directory adding every class it defines (default: $ECHONET_MRA_DIR)"


class _SubcommandParser(CommandParser):
    """The parser of a command (and of the commands of a group such as ``drready``): takes ``--mra DIR`` too, so that
    it may follow the command's name. Set only when given (``SUPPRESS``), so that ``echonet --mra DIR decode`` keeps
    the value given before the name."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.add_argument("--mra", metavar="DIR", default=argparse.SUPPRESS, help=_MRA_HELP)


#: The command groups, in the order they register their commands (a later group may add options to an earlier
#: group's commands: ``capture`` adds ``--keylog`` to the commands that start secured nodes).
GROUPS = ("decode", "node", "serve", "drready", "secure", "capture", "conformance", "gateway")
#: The groups each command needs, so that a command line imports and registers only those (``echonet decode`` then
#: does not import asyncio, cryptography or the DRready checker: a fifth of a second at every start here).
#: ``tests/test_cli_lazy.py`` checks it against the whole parser: every command, and its options, the same.
COMMAND_GROUPS: dict[str, tuple[str, ...]] = {
    "decode": ("decode",), "spec": ("decode",),
    "discover": ("node", "capture"), "get": ("node", "capture"), "set": ("node", "capture"), "watch": ("node",),
    "doctor": ("node",), "serve": ("serve", "capture"), "demo": ("serve", "capture"), "drready": ("drready",),
    "secure": ("secure",), "sniff": ("decode", "capture"), "wireshark-export": ("decode", "capture"),
    "query": ("decode", "capture"), "conformance": ("conformance",), "gateway": ("gateway",),
}  # fmt: skip


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The ``echonet`` parser with every command group's sub-commands; with ``command`` (a command's name), with only
    the groups that command needs (:data:`COMMAND_GROUPS`; any other name: every group)."""
    parser = CommandParser(
        prog="echonet",
        description="ECHONET Lite tools: decode frames and captures, look up classes, talk to devices.",
    )
    parser.add_argument("--version", action="version", version=f"echonet {__version__}")
    parser.add_argument("--mra", metavar="DIR", default=os.environ.get("ECHONET_MRA_DIR"), help=_MRA_HELP)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_SubcommandParser)
    # The command groups are imported here rather than at module level, so that ``python -m echonet.cli.secure`` does
    # not find its own module imported by the package before it runs.
    for name in COMMAND_GROUPS.get(command or "", GROUPS):
        importlib.import_module(f"{__package__}.{name}").register(sub)
    return parser


def command_of(arguments: Sequence[str]) -> str | None:
    """The command's name in ``arguments`` (what follows the options of ``echonet`` itself), or ``None`` when an
    option comes first that is not ``--mra DIR`` (``--help``, ``--version``, a mistake: the whole parser answers)."""
    i = 0
    while i < len(arguments):
        if arguments[i] == "--mra":
            i += 2
            continue
        return None if arguments[i].startswith("-") else arguments[i]
    return None


def _json_asked(argv: Sequence[str]) -> bool:
    """Whether ``--json`` is among the arguments (for an error found while parsing them)."""
    return any(a == "--json" or a.startswith("--json=") for a in argv)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``echonet`` command with ``argv`` (default: the process's arguments); return the exit code."""
    arguments = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser(command_of(arguments))
    try:
        args = parser.parse_args(arguments)
    except UsageExit as exc:  # the one line is on stderr already
        if _json_asked(arguments):
            dump({"error": error_object(exc.message, EXIT_USAGE, "usage")})
        return EXIT_USAGE
    handler: Handler | None = getattr(args, "handler", None)
    if handler is None:
        return fail(args, "give a COMMAND (see echonet --help)", EXIT_USAGE, "usage", as_json=_json_asked(arguments))
    try:
        return handler(args)
    except CommandFailed as exc:
        return fail(args, exc.message, exc.code, exc.kind)
    except EchonetUsageError as exc:  # MissingExtraError included: which extra to install
        return fail(args, str(exc), EXIT_USAGE, "usage")
    except EchonetError as exc:
        return fail(args, str(exc), EXIT_FAILED)
    except KeyboardInterrupt:
        return fail(args, "interrupted", EXIT_INTERRUPTED, "interrupted")
    except BrokenPipeError:
        # The reader went away (e.g. `| head`): not an error worth a traceback.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return EXIT_OK
    except OSError as exc:  # a file or socket the command did not word an error for: still one line
        where = f": {exc.filename}" if exc.filename else ""
        return fail(args, f"{exc.strerror or exc}{where}", EXIT_FAILED)
