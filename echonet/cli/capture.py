"""Capture analysis on the command line: ``decode --pcap`` with ``--summary``, ``--plot``, ``--keylog`` and
``--parquet`` (the options are added to ``decode`` by :func:`add_decode_arguments`), ``echonet sniff`` (live capture),
``echonet wireshark-export`` (the Lua dissector) and ``echonet query`` (SQL over Parquet with DuckDB). The analysis
itself is in :mod:`echonet.capture`; the socket of ``sniff`` in :mod:`echonet.aio.sniff`.

``--keylog FILE`` (or ``ECHONET_KEYLOG``) is also added to the commands that start secured nodes (``demo``,
``serve``): they then append their session keys to FILE (:mod:`secure.keylog`), with a warning on stderr.

Exit codes as ``decode --pcap``: 0 success, 2 bad usage (a file that cannot be opened, a missing extra), 3 a damaged
capture; ``sniff``: 1 when the socket cannot be opened (not permitted, no such interface).
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import time
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

from ..errors import CaptureError, EchonetUsageError, FrameDecodeError
from ..spec.registry import Registry
from .common import EXIT_FAILED, EXIT_OK, EXIT_USAGE, CommandFailed, Handler, dump, error, fail, note, registry

if TYPE_CHECKING:
    from ..capture.overlay import OverlayReader
    from ..capture.stream import Decoded
    from ..pcap import Datagram, Problem

#: Exit code of a damaged capture (as ``decode --pcap``).
EXIT_DAMAGED = 3
_PROBLEM_LINES = 50
_KEYLOG_WARNING = (
    "the key log is on: session keys are appended to {path}; whoever reads it can decrypt and forge this node's"
    " secured traffic (for debugging only)"
)


# ------------------------------------------------------------------------------------------------ decode --pcap


def add_decode_arguments(p: argparse.ArgumentParser, record_filter: Callable[[list[str]], Any]) -> None:
    """The options ``decode`` takes for capture analysis; ``record_filter`` makes the filter of ``--filter`` terms
    (:class:`echonet.cli.decode.RecordFilter`, handed over so that this module does not import ``decode``, which
    imports it), kept as the parser's default ``record_filter`` for ``decode`` and ``sniff``."""
    p.set_defaults(record_filter=record_filter)
    p.add_argument("--summary", action="store_true", help="with --pcap: conversations (nodes, latency, SNA, INF)")
    p.add_argument("--plot", metavar="FILE.png", help="with --pcap: requests, answers and latency per device (PNG)")
    p.add_argument(
        "--keylog", metavar="FILE", help="with --pcap: session keys (secure/keylog.py format) to decrypt records"
    )
    p.add_argument(
        "--parquet",
        metavar="OUT",
        help="with --pcap FILE...: one row per property to OUT (Parquet; more capture files may follow --pcap)",
    )


def wants_capture_analysis(args: argparse.Namespace) -> bool:
    """Whether ``decode`` was asked for something of this module."""
    return any(getattr(args, name, None) for name in ("summary", "plot", "keylog", "parquet"))


def _reader(keylog_path: str | None) -> OverlayReader:
    from ..capture.overlay import OverlayReader

    if keylog_path is None:
        return OverlayReader()
    from secure.errors import SecureUsageError
    from secure.keylog import read_keylog

    try:
        entries, bad = read_keylog(keylog_path)
    except SecureUsageError as exc:
        raise CommandFailed(str(exc), EXIT_USAGE, "usage") from None
    if bad:
        note(f"{keylog_path}: {bad} line(s) of the key log do not parse (skipped)")
    if not entries:
        note(f"{keylog_path}: no session keys in the key log")
    return OverlayReader(entries)


class _Captures:
    """The datagrams of one or more capture files in turn, with the damage reported as ``decode --pcap`` does."""

    def __init__(self, names: list[str], ports: tuple[int, ...], as_json: bool) -> None:
        self.names = names
        self.ports = ports
        self.as_json = as_json
        self.problems = 0
        self.current = ""

    def __iter__(self) -> Iterator[Datagram]:
        from ..pcap import iter_datagrams, open_capture

        for name in self.names:
            shown = "<stdin>" if name == "-" else name
            self.current = shown

            def on_problem(problem: Problem, shown: str = shown) -> None:
                self.problems += 1
                if self.as_json:
                    dump({"damage": problem.reason, "packet": problem.index, "offset": problem.offset})
                elif self.problems <= _PROBLEM_LINES:
                    sys.stdout.flush()
                    where = f" at offset {problem.offset}" if problem.offset is not None else ""
                    error(f"{shown}: packet {problem.index}{where}: {problem.reason}")

            if name == "-":
                source: Any = sys.stdin.buffer
            else:
                try:
                    source = open_capture(name)
                except CaptureError as exc:
                    raise CommandFailed(str(exc), EXIT_USAGE, "usage") from None
            try:
                try:
                    datagrams = iter_datagrams(source, self.ports, on_problem=on_problem)
                except CaptureError as exc:
                    raise CommandFailed(str(exc), EXIT_DAMAGED, "damaged") from None
                yield from datagrams
            finally:
                if name != "-":
                    source.close()


def record_json(item: Decoded, tables: Registry) -> dict[str, Any]:
    """The JSON record of ``decode --pcap --json`` for a datagram, with ``secure`` (the overlay record's fields)
    for a record of the overlay and ``frame`` for its opened inner frame."""
    from ..describe import capture_record

    dg = item.datagram
    record = capture_record(dg.time, dg.src, dg.dst, dg.sport, dg.dport, None, tables)
    if item.overlay is not None:
        record["secure"] = item.overlay.to_json()
    if item.failure is not None:
        failure = item.failure
        payload = dg.payload if item.overlay is None else (item.overlay.plaintext or b"")
        record.update({"error": failure.reason, "offset": failure.offset, "field": failure.field,
                       "payload": payload.hex()})  # fmt: skip
    if item.frame is not None:
        record["frame"] = _frame_json(item.frame, tables)
    if item.trailing:
        record.update({"trailing": item.trailing.hex(), "warning": _trailing_warning(item.trailing)})
    return record


def _frame_json(frame: Any, tables: Registry) -> dict[str, Any]:
    from ..describe import frame_json

    return frame_json(frame, tables)


def _trailing_warning(extra: bytes) -> str:
    return f"{len(extra)} byte(s) after the last property ignored ({extra.hex(' ')}); --strict rejects the frame"


def record_lines(item: Decoded, tables: Registry) -> list[str]:
    """The lines of ``decode --pcap`` for a datagram (a secured record: one line naming it, then its inner frame)."""
    from ..describe import capture_time_text, frame_lines

    dg = item.datagram
    head = f"{capture_time_text(dg.time)}  {dg.src}:{dg.sport} -> {dg.dst}:{dg.dport}  "
    lines: list[str] = []
    if item.overlay is not None:
        lines.append(head + item.overlay.text())
        head = "  inner: "
    if item.failure is not None:
        f = item.failure
        lines.append(f"{head}MALFORMED at byte offset {f.offset} ({f.field}): {f.reason}")
        payload = dg.payload if item.overlay is None else (item.overlay.plaintext or b"")
        lines.append(f"  payload {payload.hex(' ')}")
    elif item.frame is not None:
        frame = frame_lines(item.frame, tables)
        lines.append(head + frame[0])
        lines += frame[1:]
        if item.trailing:
            lines.append(f"  warning: {_trailing_warning(item.trailing)}")
    return lines


def overlay_output(dg: Datagram, as_json: bool, flt: Any = None) -> bool:
    """For ``decode --pcap`` without a key log: print a datagram that is a record of the secure overlay as such
    (JSON record or text lines, when it passes the filter ``flt``: a record has no frame, so only the terms on
    addresses and ports can hold) and return True; False (nothing printed) for any other datagram."""
    from ..capture.stream import Decoded, is_overlay

    if not is_overlay(dg.payload):
        return False
    if flt and not flt.match(dg, None):
        return True
    global _plain_reader
    if _plain_reader is None:
        _plain_reader = _reader(None)
    item = Decoded(dg, None, b"", None, _plain_reader.describe(dg.src, dg.dst, dg.payload))
    if as_json:
        dump(record_json(item, registry(argparse.Namespace())))
    else:
        print("\n".join(record_lines(item, registry(argparse.Namespace()))))
    return True


_plain_reader: OverlayReader | None = None


def decode_pcap(args: argparse.Namespace, tables: Registry) -> int:
    """``decode --pcap`` with ``--summary``, ``--plot``, ``--keylog`` or ``--parquet``."""
    from ..capture.stream import decode_datagrams

    names = [args.pcap, *(args.hex or [])]
    if args.hex and not args.parquet and not args.summary:
        raise EchonetUsageError("give either HEX frames or --pcap FILE, not both (several captures: with --parquet "
                                "or --summary)")  # fmt: skip
    flt = args.record_filter(args.filter or [])
    summary = bool(args.summary or args.plot)
    if summary:  # (only then: --parquet alone does without)
        from ..capture.summary import ConversationFilter, Conversations
    as_json = bool(args.json)
    captures = _Captures(names, tuple(args.port or [3610]), as_json and not summary and not args.parquet)
    reader = _reader(args.keylog) if args.keylog else None  # (without a key log: made at the first record)
    conversations = Conversations(tables) if summary else None
    whole = ConversationFilter() if summary and flt else None  # --filter keeps requests and answers together
    timeline = None
    if args.plot:
        from ..capture.plot import Timeline

        timeline = Timeline()
        assert conversations is not None
        timeline.attach(conversations)
    writer = None
    if args.parquet:
        from ..capture.parquet import ParquetWriter

        try:
            writer = ParquetWriter(args.parquet, tables)
        except CaptureError as exc:
            raise CommandFailed(str(exc), EXIT_USAGE, "usage") from None
    counts = {"frames": 0, "errors": 0, "secured": 0, "opened": 0, "shown": 0}
    fast = (conversations is not None or writer is not None) and not flt
    if fast:
        _summarise(captures, reader, args.strict, conversations, writer, counts)  # (the fast path: no record built)
    try:
        for item in decode_datagrams(() if fast else captures, reader, args.strict):
            dg = item.datagram
            if item.frame is not None:
                counts["frames"] += 1
            elif item.failure is not None:
                counts["errors"] += 1
            if item.overlay is not None:
                counts["secured"] += 1
                if item.overlay.plaintext is not None:
                    counts["opened"] += 1
            if conversations is not None:
                passed = [item] if whole is None else whole.feed(dg.time, dg.src, dg.dst, item.frame,
                                                                 flt.match(dg, item.frame), item)  # fmt: skip
                for kept in passed:
                    counts["shown"] += 1
                    d = kept.datagram
                    conversations.add(d.time, d.src, d.dst, kept.frame, kept.failure,
                                      None if kept.overlay is None else kept.overlay.kind)  # fmt: skip
                    if writer is not None:
                        writer.capture = captures.current
                        writer.add(kept)
                continue
            if flt and not flt.match(dg, item.frame):
                continue
            counts["shown"] += 1
            if writer is not None:
                writer.capture = captures.current
                writer.add(item)
            if conversations is None and writer is None:
                if as_json:
                    dump(record_json(item, tables))
                else:
                    print("\n".join(record_lines(item, tables)))
    finally:
        if writer is not None:
            writer.close()
    if conversations is not None:
        report = conversations.report()
        if as_json:
            doc = report.to_json()
            if args.plot:
                doc["plot"] = args.plot
            dump(doc)
        else:
            print("\n".join(report.lines()))
        if timeline is not None:
            from ..capture.plot import plot_timeline

            try:
                plot_timeline(timeline, args.plot, title=", ".join(names))
            except CaptureError as exc:
                raise CommandFailed(str(exc), EXIT_FAILED) from None
    sys.stdout.flush()
    tail = f"-- {counts['frames']} frame(s), {counts['errors']} malformed, {counts['shown']} shown"
    if counts["secured"]:
        tail += f", {counts['secured']} secured record(s) ({counts['opened']} decrypted)"
    if writer is not None:
        tail += f"; {writer.rows} row(s) written to {args.parquet}"
    if not (as_json and conversations is None and writer is None):
        print(tail, file=sys.stderr)
    if captures.problems:
        message = f"capture damaged or not fully readable: {captures.problems} problem(s)"
        return fail(args, message + "; the rest was decoded", EXIT_DAMAGED, "damaged")
    return EXIT_OK


def _summarise(
    captures: _Captures,
    reader: OverlayReader | None,
    strict: bool,
    conversations: Any,
    writer: Any,
    counts: dict[str, int],
) -> None:
    """``--summary`` or ``--parquet`` without a filter: each datagram decoded and added to ``conversations`` and
    ``writer`` (either may be ``None``), without the :class:`~echonet.capture.stream.Decoded` records for the plain
    frames that make up nearly every capture (what :func:`decode_datagram` does otherwise)."""
    from ..capture.stream import Decoded, FrameMemo, decode_datagram, is_overlay

    add = None if conversations is None else conversations.add
    add_frame = None if writer is None else writer.add_frame
    known = writer.add_payload if writer is not None and add is None else None  # (a frame seen before: no decode)
    frames = errors = secured = opened = shown = 0
    current = None
    # frames seen before but for the TID: not decoded again (the Parquet writer alone remembers them itself)
    memo = FrameMemo(strict) if known is None else FrameMemo(strict, size=0)
    for dg in captures:
        shown += 1
        if writer is not None and captures.current is not current:
            current = writer.capture = captures.current
        if known is not None and known(dg):
            frames += 1
            continue
        payload = dg.payload
        if is_overlay(payload):
            if reader is None:
                reader = _reader(None)
            item = decode_datagram(dg, reader, strict)
            secured += 1
            if item.overlay is not None and item.overlay.plaintext is not None:
                opened += 1
            if item.frame is not None:
                frames += 1
            elif item.failure is not None:
                errors += 1
            if add is not None:
                kind = None if item.overlay is None else item.overlay.kind
                add(dg.time, dg.src, dg.dst, item.frame, item.failure, kind)
            if writer is not None:
                writer.add(item)
            continue
        try:
            frame = memo.frame(payload)
        except FrameDecodeError as exc:
            errors += 1
            if add is not None:
                add(dg.time, dg.src, dg.dst, None, exc)
            if writer is not None:
                writer.add(Decoded(dg, None, b"", exc, None))  # (what decode_datagram makes of it: no second decode)
            continue
        frames += 1
        if add is not None:
            add(dg.time, dg.src, dg.dst, frame)
        if add_frame is not None:
            add_frame(dg, frame)
    counts.update(frames=frames, errors=errors, secured=secured, opened=opened, shown=shown)


# ------------------------------------------------------------------------------------------------------ key log


def _with_keylog(handler: Handler, secured_only: bool = False) -> Handler:
    """``handler`` with the key log on while it runs (``--keylog FILE`` or ``$ECHONET_KEYLOG``); with
    ``secured_only`` (the controller commands), only with ``--secure`` (``--keylog`` without it is a usage error,
    the environment variable is then ignored)."""

    def run(args: argparse.Namespace) -> int:
        path = getattr(args, "keylog", None) or os.environ.get("ECHONET_KEYLOG") or None
        if secured_only and not getattr(args, "secure", False):
            if getattr(args, "keylog", None):
                raise CommandFailed("--keylog needs --secure (only secured sessions have keys)", EXIT_USAGE, "usage")
            path = None
        if path:
            from secure import keylog
            from secure.errors import SecureUsageError

            try:
                keylog.enable(path)
            except SecureUsageError as exc:
                raise CommandFailed(str(exc), EXIT_USAGE, "usage") from None
            print(f"echonet: warning: {_KEYLOG_WARNING.format(path=path)}", file=sys.stderr, flush=True)
            try:
                return handler(args)
            finally:
                keylog.disable()
        return handler(args)

    return run


def _add_keylog(parser: argparse.ArgumentParser, secured_only: bool = False) -> None:
    parser.add_argument(
        "--keylog",
        metavar="FILE",
        default=None,
        help="append the secure sessions' keys to FILE for decrypting captures (default: $ECHONET_KEYLOG; off)",
    )
    handler = parser.get_default("handler")
    if handler is not None:
        parser.set_defaults(handler=_with_keylog(handler, secured_only))


# -------------------------------------------------------------------------------------------------------- sniff


def _cmd_sniff(args: argparse.Namespace) -> int:
    from ..aio.sniff import PcapngWriter, Sniffer, SniffError
    from ..capture.stream import decode_datagram
    from ..capture.summary import ConversationFilter, Conversations

    tables = registry(args)
    flt = args.record_filter(args.filter or [])
    reader = _reader(args.keylog)
    ports = tuple(args.port or [3610])
    out = None
    if args.write:
        try:
            out = open(args.write, "wb")  # noqa: SIM115 (closed below, after the sockets)
        except OSError as exc:
            raise CommandFailed(f"{args.write}: cannot write ({exc.strerror or exc})", EXIT_USAGE, "usage") from None
    try:
        sniffer = Sniffer(args.interface or (), ports)
    except SniffError as exc:
        if out is not None:
            out.close()
        raise CommandFailed(str(exc), EXIT_FAILED) from None
    conversations = Conversations(tables) if args.summary else None
    whole = ConversationFilter() if args.summary and flt else None  # --filter keeps requests and answers together
    shown = 0
    seen = 0
    with sniffer:
        writer = None if out is None else PcapngWriter(out, sniffer.interfaces)
        where = ", ".join(sorted(sniffer.interfaces.values())) if args.interface else "every interface"
        note(f"capturing UDP port(s) {', '.join(map(str, ports))} on {where}")
        deadline = None if args.duration is None else time.monotonic() + args.duration
        stopped: list[int] = []

        def stop(signum: int, _frame: object) -> None:
            stopped.append(signum)  # the loop ends after the packet at hand (nothing half written)

        previous = {s: signal.signal(s, stop) for s in (signal.SIGINT, signal.SIGTERM)}
        try:
            for packet in sniffer.packets_until(deadline, lambda: bool(stopped)):
                for dg in sniffer.datagrams((packet,)):
                    seen += 1
                    if writer is not None:
                        writer.write(packet)
                    item = decode_datagram(dg._replace(index=seen), reader, args.strict)
                    if conversations is not None:
                        passed = [item] if whole is None else whole.feed(dg.time, dg.src, dg.dst, item.frame,
                                                                         flt.match(dg, item.frame), item)  # fmt: skip
                        for kept in passed:
                            shown += 1
                            d, kind = kept.datagram, None if kept.overlay is None else kept.overlay.kind
                            conversations.add(d.time, d.src, d.dst, kept.frame, kept.failure, kind)
                        continue
                    if flt and not flt.match(dg, item.frame):
                        continue
                    shown += 1
                    if args.json:
                        dump(record_json(item, tables))
                    else:
                        print("\n".join(record_lines(item, tables)), flush=True)
                if writer is not None:
                    writer.flush()
                if args.count is not None and shown >= args.count:
                    break
        except KeyboardInterrupt:
            pass
        except SniffError as exc:
            raise CommandFailed(str(exc), EXIT_FAILED) from None
        finally:
            for signum, handler in previous.items():
                signal.signal(signum, handler)
            if out is not None:
                out.close()
    if conversations is not None:
        report = conversations.report()
        if args.json:
            dump(report.to_json())
        else:
            print("\n".join(report.lines()))
    sys.stdout.flush()
    note(f"{seen} datagram(s) captured, {shown} shown" + (f"; written to {args.write}" if args.write else ""))
    return EXIT_OK


# -------------------------------------------------------------------------------------------------------- query


def _cmd_query(args: argparse.Namespace) -> int:
    from ..errors import require_extra

    require_extra("duckdb", "parquet", "echonet query")
    import duckdb

    source = args.parquet
    if os.path.isdir(source):
        source = os.path.join(source, "*.parquet")
    elif not any(ch in source for ch in "*?[") and not os.path.exists(source):
        raise CommandFailed(f"{source}: no such file", EXIT_USAGE, "usage")
    try:
        con = duckdb.connect()
        quoted = "'" + source.replace("'", "''") + "'"
        con.execute(f"CREATE VIEW capture AS SELECT * FROM read_parquet({quoted}, union_by_name = true)")
        cursor = con.execute(args.sql)
        names = [d[0] for d in cursor.description or ()]
        rows = cursor.fetchall()
    except duckdb.Error as exc:
        message = " ".join(str(exc).split())
        raise CommandFailed(f"query failed: {message}", EXIT_FAILED) from None
    if args.json:
        for row in rows:
            dump({n: _json_cell(v) for n, v in zip(names, row, strict=True)})
        return EXIT_OK
    cells = [[_text_cell(v) for v in row] for row in rows]
    widths = [max([len(n)] + [len(r[i]) for r in cells]) for i, n in enumerate(names)]
    print("  ".join(n.ljust(w) for n, w in zip(names, widths, strict=True)).rstrip())
    for r in cells:
        print("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip())
    print(f"-- {len(rows)} row(s)", file=sys.stderr)
    return EXIT_OK


def _json_cell(value: Any) -> Any:
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value).hex()
    if isinstance(value, int | float | str | bool) or value is None:
        return value
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return str(value)


def _text_cell(value: Any) -> str:
    if value is None:
        return "NULL"
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value).hex()
    return str(value)


# --------------------------------------------------------------------------------------------- wireshark-export


def _cmd_wireshark_export(args: argparse.Namespace) -> int:
    from ..capture.wireshark import write_dissector

    try:
        path = write_dissector(args.directory, registry(args))
    except OSError as exc:
        raise CommandFailed(f"{args.directory}: cannot write ({exc.strerror or exc})", EXIT_USAGE, "usage") from None
    if args.json:
        dump({"plugin": str(path)})
    else:
        print(path)
        note("install: copy it into Wireshark's plugin folder (e.g. ~/.local/lib/wireshark/plugins/), or run "
             f"tshark -X lua_script:{path}")  # fmt: skip
    return EXIT_OK


# ------------------------------------------------------------------------------------------------------ register


def register(sub: Any) -> None:
    """Add ``sniff``, ``wireshark-export`` and ``query``, and ``--keylog`` to the commands starting secured nodes."""
    for name in ("demo", "serve", "discover", "get", "set"):
        parser = sub.choices.get(name)
        if parser is not None:
            _add_keylog(parser, secured_only=name not in ("demo", "serve"))
    decode_parser = sub.choices.get("decode")
    record_filter = None if decode_parser is None else decode_parser.get_default("record_filter")
    from .args import count, port, positive_seconds

    p = sub.add_parser(
        "sniff",
        help="capture ECHONET Lite traffic live (AF_PACKET; IPv4 and IPv6) and decode it as decode --pcap does",
        description="Capture the UDP datagrams of port 3610 (or --port) on Linux interfaces, as they arrive, and "
        "decode them as decode --pcap does. Needs CAP_NET_RAW (root). Ctrl-C stops.",
    )
    p.add_argument("--interface", "-i", action="append", metavar="NAME", help="interface (repeatable; default all)")
    p.add_argument("--port", type=port, action="append", help="UDP port to capture (repeatable; default 3610)")
    p.add_argument("--filter", action="append", metavar="KEY=VALUE", help="as decode --pcap --filter")
    p.add_argument("--json", action="store_true", help="one JSON record per datagram (as decode --pcap --json)")
    p.add_argument("--write", metavar="FILE.pcapng", help="also write the captured packets to a pcapng file")
    p.add_argument("--duration", type=positive_seconds, metavar="S", help="stop after S seconds")
    p.add_argument("--count", type=count, metavar="N", help="stop after N datagrams shown")
    p.add_argument("--summary", action="store_true", help="at the end, the conversations (as decode --summary)")
    p.add_argument("--keylog", metavar="FILE", help="session keys to decrypt secured records (secure/keylog.py)")
    p.add_argument("--strict", action="store_true", help="a frame with bytes after its last property is malformed")
    p.set_defaults(handler=_cmd_sniff, record_filter=record_filter)

    p = sub.add_parser(
        "wireshark-export",
        help="write a Wireshark Lua dissector (echonet.lua) generated from the spec tables into DIR",
        description="Generate echonet.lua from the spec tables (with --mra DIR: every class of the Appendix) and "
        "write it into DIRECTORY; copy it into Wireshark's plugin folder to use it.",
    )
    p.add_argument("directory", metavar="DIR", help="the folder to write echonet.lua into (created if needed)")
    p.add_argument("--json", action="store_true", help='{"plugin": PATH}')
    p.set_defaults(handler=_cmd_wireshark_export)

    p = sub.add_parser(
        "query",
        help="SQL over the Parquet of decode --parquet with DuckDB (the table is named capture)",
        description="Run SQL over Parquet written by decode --pcap FILE... --parquet OUT, with embedded DuckDB. The "
        "table is named capture; OUT may be a file, a directory of .parquet files or a glob.",
    )
    p.add_argument("parquet", metavar="OUT", help="the Parquet file (or directory, or glob)")
    p.add_argument("sql", metavar="SQL", help='e.g. "SELECT esv, count(*) FROM capture GROUP BY esv"')
    p.add_argument("--json", action="store_true", help="one JSON object per row")
    p.set_defaults(handler=_cmd_query)


__all__ = [
    "EXIT_DAMAGED",
    "add_decode_arguments",
    "decode_pcap",
    "overlay_output",
    "record_json",
    "record_lines",
    "register",
    "wants_capture_analysis",
]
