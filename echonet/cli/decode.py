"""The ``echonet`` command line. Only the CLI modules print.

Every command returns an exit code: 0 success, 1 a decode/network outcome the user asked about went wrong (malformed
input, timeout, refusal), 2 bad usage (unknown class, bad hex, missing file). Errors are one clear line on stderr,
never a traceback.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Callable, Iterable, Sequence
from typing import Any, TextIO

from . import __version__
from .codec import decode
from .describe import frame_json, frame_lines
from .errors import EchonetError, EchonetUsageError, FrameDecodeError
from .frame import EOJ
from .spec.registry import Registry, default_registry

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2

Handler = Callable[[argparse.Namespace], int]


def _registry(args: argparse.Namespace) -> Registry:
    return default_registry(getattr(args, "mra", None))


def _err(message: str) -> None:
    print(f"echonet: {message}", file=sys.stderr)


def _dump(obj: Any, out: TextIO | None = None) -> None:
    print(json.dumps(obj, ensure_ascii=False, separators=(",", ":")), file=out or sys.stdout)


# ----------------------------------------------------------------------------------------------------------- decode


def _parse_hex_arg(text: str) -> bytes:
    cleaned = "".join(text.split()).replace(":", "").replace("-", "")
    if cleaned.lower().startswith("0x"):
        cleaned = cleaned[2:]
    try:
        return bytes.fromhex(cleaned)
    except ValueError:
        raise EchonetUsageError(f"{text!r} is not hex (expected e.g. 1081000105ff010ef0016201d600)") from None


class _Filter:
    """``--filter key=value`` terms, all of which must hold: host, src, dst, port, esv, class, eoj, epc, errors."""

    KEYS = ("host", "src", "dst", "port", "esv", "class", "eoj", "epc", "errors")

    def __init__(self, terms: Sequence[str]) -> None:
        self.terms: list[tuple[str, str]] = []
        for term in terms:
            key, sep, value = term.partition("=")
            key = key.strip().lower()
            if key == "errors" and not sep:
                value = "yes"
            elif not sep or key not in self.KEYS:
                raise EchonetUsageError(f"bad filter {term!r}: use KEY=VALUE with KEY one of {', '.join(self.KEYS)}")
            self.terms.append((key, value.strip()))
            self._check(key, value.strip())

    @staticmethod
    def _check(key: str, value: str) -> None:
        try:
            if key == "port":
                int(value)
            elif key == "epc":
                int(value, 16)
            elif key == "class":
                int(value.lower().removeprefix("0x"), 16)
            elif key == "eoj":
                EOJ.parse(value)
        except ValueError:
            raise EchonetUsageError(f"bad filter value {key}={value!r}") from None

    def match(self, record: dict[str, Any], frame_obj: dict[str, Any] | None) -> bool:
        for key, value in self.terms:
            if key == "host" and value not in (record.get("src"), record.get("dst")):
                return False
            if key in ("src", "dst") and record.get(key) != value:
                return False
            if key == "port" and int(value) not in (record.get("sport"), record.get("dport")):
                return False
            if key == "errors" and (value.lower() in ("yes", "1", "true")) != ("error" in record):
                return False
            if key in ("esv", "class", "eoj", "epc"):
                if frame_obj is None or "esv" not in frame_obj:
                    return False
                if key == "esv" and value.lower() not in (frame_obj["esv"].lower(), frame_obj["esv_code"].lower()):
                    return False
                if key == "class":
                    code = value.lower().removeprefix("0x").upper().zfill(4)
                    if not (frame_obj["seoj"].startswith(code) or frame_obj["deoj"].startswith(code)):
                        return False
                if key == "eoj" and str(EOJ.parse(value)) not in (frame_obj["seoj"], frame_obj["deoj"]):
                    return False
                if key == "epc":
                    epc = f"0x{int(value, 16):02X}"
                    props = frame_obj["properties"] + frame_obj.get("get_properties", [])
                    if all(p["epc"] != epc for p in props):
                        return False
        return True


class _Progress:
    """A one-line progress bar on stderr, only when stderr is a terminal."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled
        self.drawn = False
        self.start = time.monotonic()

    def __call__(self, done: int, total: int) -> None:
        if not self.enabled or total <= 0:
            return
        frac = min(done / total, 1.0)
        elapsed = time.monotonic() - self.start
        rate = done / elapsed / 1e6 if elapsed > 0 else 0.0
        bar = "#" * int(frac * 30)
        sys.stderr.write(f"\r[{bar:<30}] {frac * 100:5.1f}%  {done / 1e6:,.1f}/{total / 1e6:,.1f} MB  {rate:,.1f} MB/s")
        sys.stderr.flush()
        self.drawn = True

    def finish(self) -> None:
        if self.drawn:
            sys.stderr.write("\r" + " " * 79 + "\r")
            sys.stderr.flush()


def _cmd_decode(args: argparse.Namespace) -> int:
    registry = _registry(args)
    if args.pcap:
        if args.hex:
            raise EchonetUsageError("give either HEX frames or --pcap FILE, not both")
        return _decode_pcap(args, registry)
    if not args.hex:
        raise EchonetUsageError("nothing to decode: give HEX frames or --pcap FILE")
    status = EXIT_OK
    for i, text in enumerate(args.hex):
        data = _parse_hex_arg(text)
        try:
            frame = decode(data)
        except FrameDecodeError as exc:
            status = EXIT_FAILED
            if args.json:
                _dump({"input": data.hex(), "error": exc.reason, "offset": exc.offset, "field": exc.field})
            else:
                _err(f"frame {i + 1}: malformed at byte offset {exc.offset} ({exc.field}): {exc.reason}")
            continue
        if args.json:
            _dump(frame_json(frame, registry))
        else:
            if i:
                print()
            print("\n".join(frame_lines(frame, registry)))
    return status


def _decode_pcap(args: argparse.Namespace, registry: Registry) -> int:
    from .pcap import iter_datagrams

    ports = tuple(args.port or [3610])
    flt = _Filter(args.filter or [])
    progress = _Progress(sys.stderr.isatty() and not args.no_progress)
    counts = {"frames": 0, "errors": 0, "shown": 0, "skipped": 0}

    def on_skip(index: int, reason: str) -> None:
        counts["skipped"] += 1

    try:
        for dg in iter_datagrams(args.pcap, ports, progress=progress, on_skip=on_skip):
            record: dict[str, Any] = {
                "time": round(dg.time, 6),
                "src": dg.src,
                "dst": dg.dst,
                "sport": dg.sport,
                "dport": dg.dport,
            }
            frame_obj: dict[str, Any] | None = None
            try:
                frame = decode(dg.payload)
            except FrameDecodeError as exc:
                counts["errors"] += 1
                record.update(
                    {"error": exc.reason, "offset": exc.offset, "field": exc.field, "payload": dg.payload.hex()}
                )
            else:
                counts["frames"] += 1
                frame_obj = frame_json(frame, registry)
                record["frame"] = frame_obj
            if not flt.match(record, frame_obj):
                continue
            counts["shown"] += 1
            progress.finish()
            if args.json:
                _dump(record)
            else:
                _print_record(record, dg.payload, registry)
    finally:
        progress.finish()
    if not args.json:
        print(
            f"-- {counts['frames']} frame(s), {counts['errors']} malformed, {counts['shown']} shown"
            + (f", {counts['skipped']} packet(s) skipped" if counts["skipped"] else ""),
            file=sys.stderr,
        )
    return EXIT_OK


def _print_record(record: dict[str, Any], payload: bytes, registry: Registry) -> None:
    when = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(record["time"])) + f".{int(record['time'] * 1e6) % 10**6:06d}"
    where = f"{record['src']}:{record['sport']} -> {record['dst']}:{record['dport']}"
    if "error" in record:
        print(f"{when}  {where}  MALFORMED at byte offset {record['offset']} ({record['field']}): {record['error']}")
        print(f"  payload {payload.hex(' ')}")
        return
    lines = frame_lines(decode(payload), registry)
    print(f"{when}  {where}  {lines[0]}")
    for line in lines[1:]:
        print(line)


# ------------------------------------------------------------------------------------------------------------- spec


def _cmd_spec(args: argparse.Namespace) -> int:
    registry = _registry(args)
    if args.list:
        classes = list(registry)
        if args.json:
            _dump([{"class": c.code_text, "name": c.name, "key": c.key, "source": c.source} for c in classes])
        else:
            for c in classes:
                print(f"{c.code_text}  {c.name}  ({c.source}, {len(c.properties)} properties)")
        return EXIT_OK
    if not args.cls:
        raise EchonetUsageError("give a CLASS (0x027D, 027D or a name) or --list")
    cls = registry.find_class(args.cls)
    props = registry.properties(cls.class_id)
    if args.json:
        _dump(
            {
                "class": cls.code_text,
                "name": cls.name,
                "key": cls.key,
                "source": cls.source,
                "properties": [
                    {
                        "epc": f"0x{p.epc:02X}",
                        "name": p.name,
                        "key": p.key,
                        "size": p.size_text,
                        "type": p.type.describe(),
                        "get": p.access.get.value,
                        "set": p.access.set.value,
                        "anno": p.access.anno.value,
                        "since": p.since,
                        "standard": p.standard,
                        **({"note": p.note} if p.note else {}),
                    }
                    for p in props.values()
                ],
            }
        )
        return EXIT_OK
    print(f"{cls.code_text} {cls.name} ({cls.key}; {len(props)} properties with the super class; source {cls.source})")
    print("access: M mandatory, M* mandatory where applicable, M1 one of a group, O optional, - not available")
    rows = [
        (
            f"0x{p.epc:02X}",
            p.name + ("" if p.standard else " [non-standard]"),
            p.size_text,
            p.access.text,
            p.since,
            p.type.describe(),
        )
        for p in props.values()
    ]
    widths = [max(len(r[i]) for r in rows) for i in range(5)] if rows else [0] * 5
    widths[1] = min(widths[1], 60)
    print(f"{'EPC':<{widths[0]}}  {'name':<{widths[1]}}  {'size':<{widths[2]}}  {'access':<{widths[3]}}  rel  type")
    for r in rows:
        name = r[1] if len(r[1]) <= widths[1] else r[1][: widths[1] - 1] + "~"
        type_text = r[5] if len(r[5]) <= 100 or args.wide else r[5][:97] + "..."
        cells = f"{r[0]:<{widths[0]}}  {name:<{widths[1]}}  {r[2]:<{widths[2]}}  {r[3]:<{widths[3]}}  {r[4]:<3}"
        print(f"{cells}  {type_text}")
    return EXIT_OK


# ----------------------------------------------------------------------------------------------------------- parser


def build_parser() -> argparse.ArgumentParser:
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

    p = sub.add_parser("decode", help="decode frames given as hex, or every ECHONET Lite datagram of a capture")
    p.add_argument("hex", nargs="*", metavar="HEX", help="frame bytes in hex (spaces and colons allowed)")
    p.add_argument("--pcap", metavar="FILE", help="a pcap or pcapng capture to decode")
    p.add_argument("--port", type=int, action="append", help="UDP port to decode (repeatable; default 3610)")
    p.add_argument(
        "--filter",
        action="append",
        metavar="KEY=VALUE",
        help="show only matching records: host, src, dst, port, esv, class, eoj, epc, errors (repeatable, all apply)",
    )
    p.add_argument("--json", action="store_true", help="one JSON object per frame")
    p.add_argument("--no-progress", action="store_true", help="no progress bar on a terminal")
    p.set_defaults(handler=_cmd_decode)

    p = sub.add_parser("spec", help="show a class's properties (EPC, name, size, type, access)")
    p.add_argument("cls", nargs="?", metavar="CLASS", help="class code (0x027D, 027D) or name (storage battery)")
    p.add_argument("--list", action="store_true", help="list the known classes")
    p.add_argument("--json", action="store_true", help="JSON output")
    p.add_argument("--wide", action="store_true", help="do not shorten long type descriptions")
    p.set_defaults(handler=_cmd_spec)

    for register in _extra_commands():
        register(sub)
    return parser


def _extra_commands() -> Iterable[Callable[[Any], None]]:
    """Command groups defined in other modules (node, DRready, secure); each adds its sub-parsers."""
    registrars: list[Callable[[Any], None]] = []
    for module_name in ("echonet.cli_node", "echonet.cli_demo", "echonet.cli_drready", "secure.cli"):
        try:
            module = __import__(module_name, fromlist=["register"])
        except ModuleNotFoundError as exc:
            if exc.name != module_name:
                raise
            continue
        registrars.append(module.register)
    return registrars


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    handler: Handler | None = getattr(args, "handler", None)
    if handler is None:
        parser.print_help()
        return EXIT_USAGE
    try:
        return handler(args)
    except EchonetUsageError as exc:
        _err(str(exc))
        return EXIT_USAGE
    except EchonetError as exc:
        _err(str(exc))
        return EXIT_FAILED
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        # The reader went away (e.g. `| head`): not an error worth a traceback.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return EXIT_OK


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
