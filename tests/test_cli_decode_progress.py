"""The progress bar of `echonet decode --pcap`, on a real pseudo-terminal: drawn only when stderr is a terminal, a
few times a second (not per record), as wide as the terminal, erased only before something else is written to
that terminal, and it changes nothing on stdout.

Before: the bar was erased (79 spaces) before every record, even with stdout in a file: 81 MB written to the
terminal and 39 % more time on a capture of a million datagrams.
"""

from __future__ import annotations

import fcntl
import os
import pty
import re
import struct
import subprocess
import sys
import termios
import threading
from pathlib import Path

import pytest

from .damaged_captures import ROOT, many_datagrams

COLUMNS = 60


def environment() -> dict[str, str]:
    env = dict(os.environ)
    env.pop("COLUMNS", None)  # the width must come from the terminal
    return env


def run_on_a_terminal(capture: Path, out: Path | None, *extra: str) -> tuple[int, bytes]:
    """Run ``decode --pcap`` with stderr (and stdout if ``out`` is None) on a pseudo-terminal COLUMNS wide; return
    the exit code and every byte the terminal received."""
    controller, terminal = pty.openpty()
    fcntl.ioctl(terminal, termios.TIOCSWINSZ, struct.pack("HHHH", 24, COLUMNS, 0, 0))
    received = bytearray()

    def drain() -> None:
        while True:
            try:
                chunk = os.read(controller, 65536)
            except OSError:  # EIO: every holder of the terminal's other end closed it
                return
            if not chunk:
                return
            received.extend(chunk)

    reader = threading.Thread(target=drain)
    reader.start()
    command = [sys.executable, "-m", "echonet", "decode", "--pcap", str(capture), *extra]
    try:
        if out is None:
            process = subprocess.Popen(command, stdout=terminal, stderr=terminal, cwd=ROOT, env=environment())
        else:
            with out.open("wb") as sink:
                process = subprocess.Popen(command, stdout=sink, stderr=terminal, cwd=ROOT, env=environment())
        os.close(terminal)
        code = process.wait(timeout=600)
    finally:
        reader.join(timeout=60)
        os.close(controller)
    return code, bytes(received)


def run_without_a_terminal(capture: Path, *extra: str) -> subprocess.CompletedProcess[bytes]:
    command = [sys.executable, "-m", "echonet", "decode", "--pcap", str(capture), *extra]
    return subprocess.run(command, capture_output=True, cwd=ROOT, env=environment(), timeout=600)


def pieces(terminal_bytes: bytes) -> list[str]:
    """What was written between carriage returns and newlines: each is at most one terminal line."""
    return [p for p in re.split(r"[\r\n]", terminal_bytes.decode()) if p]


@pytest.mark.slow
def test_progress_on_a_terminal_is_a_few_bounded_lines_and_leaves_stdout_as_it_is(tmp_path: Path) -> None:
    capture = many_datagrams(tmp_path / "big.pcap", 200_000)
    code, seen = run_on_a_terminal(capture, tmp_path / "out.txt")
    plain = run_without_a_terminal(capture)
    assert code == plain.returncode == 0
    assert (tmp_path / "out.txt").read_bytes() == plain.stdout  # stdout is the same, byte for byte
    summary = "-- 200000 frame(s), 0 malformed, 200000 shown"
    assert plain.stderr.decode() == summary + "\n"  # no bar where stderr is not a terminal
    bars = [p for p in pieces(seen) if "%" in p]
    assert bars, "a run of several seconds draws the bar"
    assert all(len(p) < COLUMNS for p in pieces(seen))  # never wraps
    # A few draws a second and one erase at the end, not a write per record: a few kilobytes, not megabytes.
    assert len(seen) < 30_000 and seen.count(b"\r") < 2 * len(bars) + 4
    assert seen.endswith((summary + "\r\n").encode())
    assert seen[: -len(summary) - 2].endswith(b"\r" + b" " * len(bars[-1]) + b"\r")  # erased before the summary


@pytest.mark.slow
def test_progress_sharing_the_terminal_with_stdout_is_erased_before_each_record_it_precedes(tmp_path: Path) -> None:
    capture = many_datagrams(tmp_path / "mid.pcap", 40_000)
    code, seen = run_on_a_terminal(capture, None)
    plain = run_without_a_terminal(capture)
    assert code == 0
    lines = seen.decode().split("\r\n")
    # What stays visible on each line is what follows its last carriage return: the records and the summary alone.
    visible = [line.rsplit("\r", 1)[-1].rstrip(" ") for line in lines]
    assert visible == [*plain.stdout.decode().split("\n")[:-1], plain.stderr.decode().rstrip("\n"), ""]
    extra = len(seen) - len(plain.stdout) - lines.__len__() - len(plain.stderr)
    assert extra < 30_000  # the bar's draws and erasures: bounded by time, not by the number of records


def test_no_progress_bar_with_no_progress_even_on_a_terminal(tmp_path: Path) -> None:
    capture = many_datagrams(tmp_path / "small.pcap", 2_000)
    code, seen = run_on_a_terminal(capture, tmp_path / "out.txt", "--no-progress")
    assert code == 0 and seen == b"-- 2000 frame(s), 0 malformed, 2000 shown\r\n"
