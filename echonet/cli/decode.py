"""``echonet decode`` (frames given as hex, or every ECHONET Lite datagram of a capture) and ``echonet spec`` (a
class's properties).

Exit codes as in :mod:`echonet.cli`: 0 success, 1 a malformed frame given as hex, 2 bad usage (bad hex, bad port or
filter, unknown class, a capture file that cannot be opened), and for ``decode --pcap`` 3 (:data:`EXIT_DAMAGED`): the
capture is damaged or is not a capture (every problem reported, every readable packet still decoded).
"""

from __future__ import annotations

import argparse
import ipaddress
import json
import os
import re
import shutil
import sys
import textwrap
import time
from collections.abc import Callable, Sequence
from typing import IO, TYPE_CHECKING, Any, TextIO

from ..codec import decode
from ..describe import (
    capture_record,
    capture_record_json,
    capture_record_text,
    capture_time_text,
    frame_json,
    frame_lines,
)
from ..errors import CaptureError, EchonetUsageError, FrameDecodeError, require_extra
from ..frame import EOJ, ESV, Frame, esv_name
from ..spec.model import PropertyDef
from ..spec.registry import Registry
from . import capture
from .args import port
from .common import EXIT_FAILED, EXIT_OK, EXIT_USAGE, CommandFailed, dump, error, fail, registry

#: JSON as :func:`.common.dump` writes it, for the records written in bulk (a buffered write each, no flush).
_dumps = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode

if TYPE_CHECKING:
    from ..pcap import Datagram, Problem

# ----------------------------------------------------------------------------------------------------------- decode


#: Exit code of ``decode --pcap`` for a capture that is damaged or could not be read in full.
EXIT_DAMAGED = 3
#: Problems of a capture printed one a line on stderr (text output); the rest are counted in the summary.
_PROBLEM_LINES = 50

_DECODE_EPILOG = (
    "exit codes: 0 every frame decoded (with --pcap: the capture was read in full; malformed ECHONET frames in it"
    " are shown as error records and do not change the exit code), 1 a frame given as HEX is malformed, 2 bad usage"
    " (bad hex, port or filter; a capture file that cannot be opened; a missing extra), 3 the capture is damaged or"
    ' not a capture: each problem is one line on stderr naming the packet, its offset and the reason (a "damage"'
    " record with --json), and every packet that could be read is still decoded. Bytes after a frame's last"
    ' property are shown with a warning ("trailing" in JSON) and do not change the exit code; --strict makes'
    " such a frame malformed."
)


def _parse_hex_arg(text: str) -> bytes:
    cleaned = "".join(text.split()).replace(":", "").replace("-", "")
    if cleaned.lower().startswith("0x"):
        cleaned = cleaned[2:]
    try:
        return bytes.fromhex(cleaned)
    except ValueError:
        raise EchonetUsageError(f"{text!r} is not hex (expected e.g. 1081000105ff010ef0016201d600)") from None


def _decode_frame(data: bytes, strict: bool) -> tuple[Frame, bytes]:
    """The frame of ``data`` and the bytes after its last property (taken unless ``strict``); raises
    :class:`FrameDecodeError` for a malformed frame."""
    try:
        return decode(data), b""
    except FrameDecodeError as exc:
        if strict or exc.field != "trailing":
            raise
        return decode(data[: exc.offset]), data[exc.offset :]


def _trailing_warning(extra: bytes) -> str:
    return f"{len(extra)} byte(s) after the last property ignored ({extra.hex(' ')}); --strict rejects the frame"


_IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
#: A term of a filter: does it hold for this datagram and its frame (``None``: malformed)?
_Test = Callable[["Datagram", Frame | None], bool]

#: ESV names as shown (``Get_Res``), lower case, to their codes.
_ESV_BY_NAME: dict[str, int] = {esv_name(e).lower(): int(e) for e in ESV}
_ESV_CODE = re.compile(r"0x[0-9a-f]{2}")
_YES = ("yes", "1", "true")
_NO = ("no", "0", "false")


class RecordFilter:
    """``--filter key=value`` terms, all of which must hold: host, src, dst, port, esv, class, eoj, epc, errors.

    Each value is parsed once, here, and compared with the datagram's and the frame's values: addresses as IP
    addresses, ``esv`` as a code (``Get_Res`` in any case, or ``0x72``), ``class`` as a 16-bit class code (``027D``,
    ``0x027d``), ``eoj`` as an object (``027D01``, ``0x027d01``, ``02-7D-01``), ``epc`` as a byte (``0xD3``, ``d3``),
    ``port`` as a number from 0 to 65535, ``errors`` as yes/no (``errors`` alone: yes). A value that cannot be
    parsed is an :class:`EchonetUsageError`.
    """

    KEYS = ("host", "src", "dst", "port", "esv", "class", "eoj", "epc", "errors")

    def __init__(self, terms: Sequence[str]) -> None:
        self.tests: list[_Test] = []
        self._addresses: dict[str, _IPAddress | str] = {}
        for term in terms:
            key, sep, value = term.partition("=")
            key = key.strip().lower()
            if key == "errors" and not sep:
                value = "yes"
            elif not sep or key not in self.KEYS:
                raise EchonetUsageError(f"bad filter {term!r}: use KEY=VALUE with KEY one of {', '.join(self.KEYS)}")
            value = value.strip()
            try:
                self.tests.append(self._compile(key, value))
            except ValueError:
                raise EchonetUsageError(f"bad filter value {key}={value!r}") from None

    def __bool__(self) -> bool:
        return bool(self.tests)

    def _address(self, text: str) -> _IPAddress | str:
        """A datagram's address as an IP address (parsed once per distinct address; text if it is not one)."""
        found = self._addresses.get(text)
        if found is None:
            try:
                found = ipaddress.ip_address(text)
            except ValueError:
                found = text
            if len(self._addresses) < 65536:
                self._addresses[text] = found
        return found

    def _compile(self, key: str, value: str) -> _Test:
        """The test of one term; ``ValueError`` for a value that cannot be parsed."""
        address = self._address
        if key in ("host", "src", "dst"):
            ip = ipaddress.ip_address(value)
            if key == "src":
                return lambda dg, frame: address(dg.src) == ip
            if key == "dst":
                return lambda dg, frame: address(dg.dst) == ip
            return lambda dg, frame: ip in (address(dg.src), address(dg.dst))
        if key == "port":
            port = int(value)
            if not 0 <= port <= 0xFFFF:
                raise ValueError(value)
            return lambda dg, frame: port in (dg.sport, dg.dport)
        if key == "errors":
            if value.lower() not in (*_YES, *_NO):
                raise ValueError(value)
            want_errors = value.lower() in _YES
            return lambda dg, frame: (frame is None) == want_errors
        if key == "esv":
            code = _ESV_BY_NAME.get(value.lower())
            if code is None:
                if not _ESV_CODE.fullmatch(value.lower()):
                    raise ValueError(value)
                code = int(value, 16)
            return lambda dg, frame: frame is not None and frame.esv is not None and frame.esv == code
        if key == "class":
            class_id = int(value.lower().removeprefix("0x"), 16)
            if not 0 <= class_id <= 0xFFFF:
                raise ValueError(value)
            return lambda dg, frame: (
                frame is not None
                and frame.seoj is not None
                and frame.deoj is not None
                and class_id in (frame.seoj.class_id, frame.deoj.class_id)
            )
        if key == "eoj":
            try:
                eoj = EOJ.parse(value)
            except EchonetUsageError:
                raise ValueError(value) from None
            return lambda dg, frame: frame is not None and frame.esv is not None and eoj in (frame.seoj, frame.deoj)
        # epc
        epc = int(value, 16)
        if not 0 <= epc <= 0xFF:
            raise ValueError(value)
        return lambda dg, frame: (
            frame is not None
            and frame.esv is not None
            and any(p.epc == epc for p in (*frame.properties, *frame.get_properties))
        )

    def match(self, datagram: Datagram, frame: Frame | None) -> bool:
        """Whether every term holds for ``datagram``, whose payload decoded to ``frame`` (``None``: malformed)."""
        return all(test(datagram, frame) for test in self.tests)


def _same_terminal(a: TextIO, b: TextIO) -> bool:
    """Whether two streams write to the same terminal (what one prints lands on the line the other drew)."""
    try:
        return a.isatty() and b.isatty() and os.path.samestat(os.fstat(a.fileno()), os.fstat(b.fileno()))
    except (OSError, ValueError):
        return False


class _Progress:
    """A one-line progress bar on stderr, drawn only when stderr is a terminal.

    The capture reader calls it once per chunk of the file it reads and at most every 0.25 s, so drawing costs
    nothing per record. The line fits the terminal's width (asked at each draw), is drawn only once the run has
    lasted half a second, and is erased only before something else is written to that terminal: a problem on
    stderr, a record on stdout when stdout is the same terminal (:attr:`shares_stdout`), the summary.
    """

    DELAY = 0.5  # seconds before the first draw: a short run shows no bar

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled
        self.shares_stdout = enabled and _same_terminal(sys.stdout, sys.stderr)
        self.drawn = 0  # length of the line on the terminal (0: nothing drawn)
        self.start = time.monotonic()

    def __call__(self, done: int, total: int) -> None:
        elapsed = time.monotonic() - self.start
        if not self.enabled or elapsed < self.DELAY:
            return
        try:
            width = os.get_terminal_size(sys.stderr.fileno()).columns
        except (OSError, ValueError):
            width = shutil.get_terminal_size().columns
        rate = f"{done / elapsed / 1e6:,.1f} MB/s"
        if total > 0:
            frac = min(done / total, 1.0)
            numbers = f"{frac * 100:5.1f}%  {done / 1e6:,.1f}/{total / 1e6:,.1f} MB  {rate}"
            room = width - 1 - len(numbers) - 3  # "[" bar "] " and one column spare (no wrap at the margin)
            bar = max(min(room, 30), 0)
            line = (f"[{'#' * int(frac * bar):<{bar}}] " if bar >= 5 else "") + numbers
        else:  # size unknown (a pipe)
            line = f"{done / 1e6:,.1f} MB read  {rate}"
        line = line[: max(width - 1, 0)]
        if self.shares_stdout:
            sys.stdout.flush()
        sys.stderr.write("\r" + line + " " * (self.drawn - len(line)))
        sys.stderr.flush()
        self.drawn = len(line)

    def clear(self) -> None:
        """Erase the bar (if drawn), before something else is written to the terminal."""
        if self.drawn:
            sys.stderr.write("\r" + " " * self.drawn + "\r")
            sys.stderr.flush()
            self.drawn = 0


def _cmd_decode(args: argparse.Namespace) -> int:
    tables = registry(args)
    if args.pcap is not None:
        if capture.wants_capture_analysis(args):  # --summary, --plot, --keylog, --parquet (echonet/cli/capture.py)
            return capture.decode_pcap(args, tables)
        if args.hex:
            raise EchonetUsageError("give either HEX frames or --pcap FILE, not both")
        return _decode_pcap(args, tables)
    if not args.hex:
        raise EchonetUsageError("nothing to decode: give HEX frames or --pcap FILE")
    status = EXIT_OK
    for i, text in enumerate(args.hex):
        data = _parse_hex_arg(text)
        try:
            frame, extra = _decode_frame(data, args.strict)
        except FrameDecodeError as exc:
            status = EXIT_FAILED
            if args.json:
                dump({"input": data.hex(), "error": exc.reason, "offset": exc.offset, "field": exc.field})
            else:
                error(f"frame {i + 1}: malformed at byte offset {exc.offset} ({exc.field}): {exc.reason}")
            continue
        if args.json:
            out = frame_json(frame, tables)
            if extra:
                out.update({"trailing": extra.hex(), "warning": _trailing_warning(extra)})
            dump(out)
            continue
        if i:
            print()
        print("\n".join(frame_lines(frame, tables)))
        if extra:
            sys.stdout.flush()
            error(f"frame {i + 1}: warning: {_trailing_warning(extra)}")
    return status


_UNSUPPORTED_LINK = re.compile(r"unsupported link type (\d+)")


def _capture_name(text: str) -> str:
    if text == "-":
        return "<stdin>"
    return text if text and text.isprintable() else repr(text)


def _open_capture(path: str) -> IO[bytes]:
    """The capture to read: a file, or stdin for ``-``; a file that cannot be opened is a usage error."""
    from ..pcap import open_capture

    if path == "-":
        if sys.stdin is None or sys.stdin.isatty():
            raise EchonetUsageError("--pcap -: stdin is a terminal; pipe a capture in (e.g. tcpdump -w - ... |)")
        return sys.stdin.buffer
    try:
        return open_capture(path)
    except CaptureError as exc:
        raise CommandFailed(str(exc), EXIT_USAGE, "usage") from None


def _decode_pcap(args: argparse.Namespace, tables: Registry) -> int:
    from ..pcap import iter_datagrams

    name = _capture_name(args.pcap)
    ports = tuple(args.port or [3610])
    flt = RecordFilter(args.filter or [])
    strict = args.strict
    as_json = args.json
    progress = _Progress(sys.stderr.isatty() and not args.no_progress)
    shares_stdout = progress.shares_stdout
    counts = {"frames": 0, "errors": 0, "shown": 0, "trailing": 0, "problems": 0}
    scapy_checked = False

    def on_problem(problem: Problem) -> None:
        nonlocal scapy_checked
        unsupported = None if scapy_checked else _UNSUPPORTED_LINK.match(problem.reason)
        if unsupported:
            # link types not parsed by hand are read through scapy: without it, say which extra to install
            scapy_checked = True
            require_extra("scapy", "pcap", f"{name}: link type {unsupported[1]} (read through scapy)")
        counts["problems"] += 1
        if as_json:
            if shares_stdout:
                progress.clear()
            dump({"damage": problem.reason, "packet": problem.index, "offset": problem.offset})
        elif counts["problems"] <= _PROBLEM_LINES:
            progress.clear()
            sys.stdout.flush()  # (the records before the problem come first where both go to one place)
            where = f" at offset {problem.offset}" if problem.offset is not None else ""
            error(f"{name}: packet {problem.index}{where}: {problem.reason}")

    source = _open_capture(args.pcap)
    owned = args.pcap != "-"
    try:
        try:
            datagrams = iter_datagrams(
                source, ports, progress=progress if progress.enabled else None, on_problem=on_problem
            )
        except CaptureError as exc:  # not a capture at all
            raise CommandFailed(str(exc), EXIT_DAMAGED, "damaged") from None
        out = sys.stdout
        write = out.write
        live = not owned  # (a pipe, e.g. from tcpdump: each record as soon as it is read)
        fast_record = capture_record_json if as_json else capture_record_text
        frames = errors = shown = trailing = 0
        for dg in datagrams:
            failure: FrameDecodeError | None = None
            try:
                frame, extra = _decode_frame(dg.payload, strict)
            except FrameDecodeError as exc:
                if capture.overlay_output(dg, as_json, flt):  # a record of the secure overlay, shown as such
                    continue
                errors += 1
                frame, extra, failure = None, b"", exc
            else:
                frames += 1
                if extra:
                    trailing += 1
            if flt and not flt.match(dg, frame):
                continue
            shown += 1
            if shares_stdout and progress.drawn:
                progress.clear()
            if frame is not None and not extra:  # (the common case: the records built from compiled fragments)
                write(fast_record(dg.time, dg.src, dg.dst, dg.sport, dg.dport, frame, tables) + "\n")
            elif as_json:
                write(_dumps(_record_json(dg, frame, failure, extra, tables)) + "\n")
            else:
                write(_record_text(dg, frame, failure, extra, tables) + "\n")
            if live:
                out.flush()
        counts.update(frames=frames, errors=errors, shown=shown, trailing=trailing)
    finally:
        progress.clear()
        if owned:
            source.close()
    problems = counts["problems"]
    if not as_json:
        sys.stdout.flush()
        print(
            f"-- {counts['frames']} frame(s), {counts['errors']} malformed, {counts['shown']} shown"
            + (f", {counts['trailing']} with bytes after the last property" if counts["trailing"] else ""),
            file=sys.stderr,
        )
    if problems:
        listed = "listed above" if problems <= _PROBLEM_LINES else f"the first {_PROBLEM_LINES} listed above"
        where = "damage records" if as_json else listed
        message = f"{name}: capture damaged or not fully readable: {problems} problem(s) ({where})"
        return fail(args, message + "; the rest was decoded", EXIT_DAMAGED, "damaged")
    return EXIT_OK


def _record_json(
    dg: Datagram, frame: Frame | None, failure: FrameDecodeError | None, extra: bytes, tables: Registry
) -> dict[str, Any]:
    """The JSON record of a malformed datagram or of a frame with bytes after its last property."""
    record = capture_record(dg.time, dg.src, dg.dst, dg.sport, dg.dport, frame, tables)
    if failure is not None:
        record.update(
            {"error": failure.reason, "offset": failure.offset, "field": failure.field, "payload": dg.payload.hex()}
        )
    if extra:
        record.update({"trailing": extra.hex(), "warning": _trailing_warning(extra)})
    return record


def _record_text(
    dg: Datagram, frame: Frame | None, failure: FrameDecodeError | None, extra: bytes, tables: Registry
) -> str:
    """The lines of a malformed datagram or of a frame with bytes after its last property (no final newline)."""
    if frame is not None:
        lines = capture_record_text(dg.time, dg.src, dg.dst, dg.sport, dg.dport, frame, tables)
        return f"{lines}\n  warning: {_trailing_warning(extra)}" if extra else lines
    assert failure is not None
    return (
        f"{capture_time_text(dg.time)}  {dg.src}:{dg.sport} -> {dg.dst}:{dg.dport}  MALFORMED at byte offset"
        f" {failure.offset} ({failure.field}): {failure.reason}\n  payload {dg.payload.hex(' ')}"
    )


# ------------------------------------------------------------------------------------------------------------- spec


def _spec_property_json(p: PropertyDef) -> dict[str, Any]:
    return {
        "epc": f"0x{p.epc:02X}",
        "name": p.name,
        "key": p.key,
        "size": p.size_text,
        "type": p.type.describe(),
        "schema": p.type.schema(),
        "get": p.access.get.value,
        "set": p.access.set.value,
        "anno": p.access.anno.value,
        "since": p.since,
        "standard": p.standard,
        **({"note": p.note} if p.note else {}),
    }


#: Width of the type column before ``echonet spec`` wraps it (``--wide``: never).
_SPEC_TYPE_WIDTH = 80


def _cmd_spec(args: argparse.Namespace) -> int:
    tables = registry(args)
    if args.list:
        classes = list(tables)
        if args.json:
            dump([{"class": c.code_text, "class_name": c.name, "key": c.key, "source": c.source} for c in classes])
        else:
            for c in classes:
                print(f"{c.code_text}  {c.name}  ({c.key}; {c.source}, {len(c.properties)} properties)")
        return EXIT_OK
    if not args.cls:
        raise EchonetUsageError("give a CLASS (0x027D, 027D or a name) or --list")
    cls = tables.find_class(args.cls)
    props = tables.properties(cls.class_id)
    if args.json:
        dump(
            {
                "class": cls.code_text,
                "class_name": cls.name,
                "key": cls.key,
                "source": cls.source,
                "properties": [_spec_property_json(p) for p in props.values()],
            }
        )
        return EXIT_OK
    print(f"{cls.code_text} {cls.name} ({cls.key}; {len(props)} properties with the super class; source {cls.source})")
    print("access: M mandatory, M* mandatory where applicable, M1 one of a group, O optional, - not available")
    print("key: the name `echonet get` and `set` take for the EPC; the type lists the names of the codes")
    rows = [
        (
            f"0x{p.epc:02X}",
            p.key,
            p.name + ("" if p.standard else " [non-standard]"),
            p.size_text,
            p.access.text,
            p.since,
            p.type.describe(),
        )
        for p in props.values()
    ]
    heading = ("EPC", "key", "name", "size", "access", "rel", "type")
    widths = [max(len(r[i]) for r in (heading, *rows)) for i in range(6)]
    widths[2] = min(widths[2], 40)
    indent = sum(widths) + 2 * len(widths)
    for r in (heading, *rows):
        name = r[2] if len(r[2]) <= widths[2] else r[2][: widths[2] - 1] + "~"
        cells = "  ".join(cell.ljust(widths[i]) for i, cell in enumerate((*r[:2], name, *r[3:6])))
        if args.wide or len(r[6]) <= _SPEC_TYPE_WIDTH:
            print(f"{cells}  {r[6]}")
            continue
        wrapped = textwrap.wrap(r[6], _SPEC_TYPE_WIDTH, break_long_words=False, break_on_hyphens=False)
        print(f"{cells}  {wrapped[0]}")
        for more in wrapped[1:]:
            print(" " * indent + more)
    return EXIT_OK


# ----------------------------------------------------------------------------------------------------------- parser


def register(sub: Any) -> None:
    """Add ``decode`` and ``spec`` to the ``echonet`` command line."""
    p = sub.add_parser(
        "decode",
        help="decode frames given as hex, or every ECHONET Lite datagram of a capture",
        epilog=_DECODE_EPILOG,
    )
    p.add_argument("hex", nargs="*", metavar="HEX", help="frame bytes in hex (spaces and colons allowed)")
    p.add_argument("--pcap", metavar="FILE", help="a pcap or pcapng capture (.gz too) to decode; - reads stdin")
    p.add_argument("--port", type=port, action="append", help="UDP port to decode (repeatable; default 3610)")
    p.add_argument(
        "--filter",
        action="append",
        metavar="KEY=VALUE",
        help="show only matching records: host, src, dst, port, esv, class, eoj, epc, errors (repeatable, all apply)",
    )
    p.add_argument("--json", action="store_true", help="one JSON object per frame")
    p.add_argument("--no-progress", action="store_true", help="no progress bar on a terminal")
    p.add_argument("--strict", action="store_true", help="a frame with bytes after its last property is malformed")
    capture.add_decode_arguments(p, RecordFilter)
    p.set_defaults(handler=_cmd_decode)

    p = sub.add_parser("spec", help="show a class's properties (EPC, key, name, size, access, release, type)")
    p.add_argument("cls", nargs="?", metavar="CLASS", help="class code (0x027D, 027D) or name (storage battery)")
    p.add_argument("--list", action="store_true", help="list the known classes")
    p.add_argument("--json", action="store_true", help="JSON output")
    p.add_argument("--wide", action="store_true", help="one line per property (long type descriptions unwrapped)")
    p.set_defaults(handler=_cmd_spec)
