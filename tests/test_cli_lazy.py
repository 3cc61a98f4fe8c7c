"""The command line imports only the command groups a command needs (``echonet.cli.main.COMMAND_GROUPS``): each
command's parser built that way is the one of the whole command line, and ``echonet decode`` starts without asyncio,
cryptography, the node or the secure overlay.

(The parsers are compared through argparse's ``_actions``: the standard library offers no public view of a parser's
arguments and sub-commands.)"""

from __future__ import annotations

import argparse
import subprocess
import sys
from typing import Any

import pytest

from echonet.cli.main import COMMAND_GROUPS, GROUPS, build_parser, command_of


def _commands(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    return {}


def _describe(parser: argparse.ArgumentParser) -> list[Any]:
    """Every argument of ``parser`` (names, destination, arity, default, type, choices, help), its defaults (the
    handler among them), and the same of each of its sub-commands."""
    defaults = {k: getattr(v, "__qualname__", repr(v)) for k, v in parser._defaults.items()}  # (handler, ...)
    out: list[Any] = [parser.format_help(), sorted(defaults.items())]
    for a in parser._actions:
        if isinstance(a, argparse._SubParsersAction):
            continue
        kind = getattr(a.type, "__qualname__", repr(a.type))
        out.append((tuple(a.option_strings), a.dest, a.nargs, repr(a.const), repr(a.default), kind,
                    repr(a.choices), a.required, a.help, a.metavar, type(a).__name__))  # fmt: skip
    for name, child in sorted(_commands(parser).items()):
        out.append((name, _describe(child)))
    return out


def test_the_table_names_every_command_and_group() -> None:
    whole = _commands(build_parser())
    assert sorted(COMMAND_GROUPS) == sorted(whole)
    for groups in COMMAND_GROUPS.values():
        assert set(groups) <= set(GROUPS)
        assert list(groups) == sorted(groups, key=GROUPS.index)  # (in the order the whole parser registers them)


@pytest.mark.parametrize("command", sorted(COMMAND_GROUPS))
def test_a_command_alone_has_the_parser_of_the_whole_command_line(command: str) -> None:
    whole = _commands(build_parser())[command]
    alone = _commands(build_parser(command))
    assert command in alone
    assert _describe(alone[command]) == _describe(whole)


def test_the_command_is_found_after_the_options_of_echonet() -> None:
    assert command_of(["decode", "--json"]) == "decode"
    assert command_of(["--mra", "dir", "get", "h"]) == "get"
    assert command_of(["--help"]) is None
    assert command_of(["--mra=dir", "get"]) is None  # (the whole parser: it knows this form)
    assert command_of([]) is None
    assert build_parser("no-such-command").format_help() == build_parser().format_help()


def test_decode_starts_without_the_network_and_secure_modules() -> None:
    code = (
        "import sys\n"
        "from echonet.cli import main\n"
        "rc = main(['decode', '--json', '1081000105ff010ef0016201d600'])\n"
        "heavy = [m for m in ('asyncio', 'cryptography', 'secure', 'echonet.node', 'echonet.aio', 'echonet.drready')"
        " if m in sys.modules]\n"
        "print(rc, heavy, file=sys.stderr)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.stderr.strip() == "0 []", done.stderr
    assert '"esv":"Get"' in done.stdout.replace(" ", "")


def test_an_unknown_command_still_lists_every_command() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "echonet", "no-such-command"], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 2
    assert "invalid choice" in done.stderr and "decode" in done.stderr and "gateway" in done.stderr
    assert "Traceback" not in done.stderr
