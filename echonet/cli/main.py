"""The ``echonet`` command: the parser, assembled from the command groups, and the dispatch, the one place where an
exception becomes an exit code.

Every command returns an exit code: 0 success, 1 a decode/network outcome the user asked about went wrong (malformed
input, timeout, refusal), 2 bad usage (unknown class, bad hex, missing file, a missing optional extra). Errors are
one clear line on stderr, never a traceback.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from .. import __version__
from ..errors import EchonetError, EchonetUsageError
from .common import EXIT_FAILED, EXIT_OK, EXIT_USAGE, CommandFailed, Handler, error


def build_parser() -> argparse.ArgumentParser:
    """The ``echonet`` parser with every command group's sub-commands."""
    # The command groups are imported here rather than at module level, so that ``python -m echonet.cli.secure``
    # does not find its own module imported by the package before it runs.
    from . import decode, drready, node, secure, serve

    parser = argparse.ArgumentParser(
        prog="echonet",
        description="ECHONET Lite tools: decode frames and captures, look up classes, talk to devices.",
    )
    parser.add_argument("--version", action="version", version=f"echonet {__version__}")
    parser.add_argument(
        "--mra",
        metavar="DIR",
        default=os.environ.get("ECHONET_MRA_DIR"),
        help="Machine Readable Appendix directory adding every class it defines (default: $ECHONET_MRA_DIR)",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for group in (decode, node, serve, drready, secure):
        group.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``echonet`` command with ``argv`` (default: the process's arguments); return the exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    handler: Handler | None = getattr(args, "handler", None)
    if handler is None:
        parser.print_help()
        return EXIT_USAGE
    try:
        return handler(args)
    except CommandFailed as exc:
        error(exc.message)
        return exc.code
    except EchonetUsageError as exc:  # MissingExtraError included: which extra to install
        error(str(exc))
        return EXIT_USAGE
    except EchonetError as exc:
        error(str(exc))
        return EXIT_FAILED
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        # The reader went away (e.g. `| head`): not an error worth a traceback.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return EXIT_OK
