"""``echonet decode`` (frames given as hex, or every ECHONET Lite datagram of a capture) and ``echonet spec`` (a
class's properties).

Exit codes as in :mod:`echonet.cli`: 0 success, 1 a malformed frame given as hex, 2 bad usage (bad hex, bad filter,
unknown class, missing file).
"""

from __future__ import annotations

import argparse
import ipaddress
import re
import sys
import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from ..codec import decode
from ..describe import frame_json, frame_lines
from ..errors import EchonetUsageError, FrameDecodeError, require_extra
from ..frame import EOJ, ESV, Frame, esv_name
from ..spec.registry import Registry
from .common import EXIT_FAILED, EXIT_OK, dump, error, registry

if TYPE_CHECKING:
    from ..pcap import Datagram

# ----------------------------------------------------------------------------------------------------------- decode


def _parse_hex_arg(text: str) -> bytes:
    cleaned = "".join(text.split()).replace(":", "").replace("-", "")
    if cleaned.lower().startswith("0x"):
        cleaned = cleaned[2:]
    try:
        return bytes.fromhex(cleaned)
    except ValueError:
        raise EchonetUsageError(f"{text!r} is not hex (expected e.g. 1081000105ff010ef0016201d600)") from None


_IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
#: A term of a filter: does it hold for this datagram and its frame (``None``: malformed)?
_Test = Callable[["Datagram", Frame | None], bool]

#: ESV names as shown (``Get_Res``), lower case, to their codes.
_ESV_BY_NAME: dict[str, int] = {esv_name(e).lower(): int(e) for e in ESV}
_ESV_CODE = re.compile(r"0x[0-9a-f]{2}")
_TRUE = ("yes", "1", "true")


class RecordFilter:
    """``--filter key=value`` terms, all of which must hold: host, src, dst, port, esv, class, eoj, epc, errors.

    Each value is parsed once, here, and compared with the datagram's and the frame's values: addresses as IP
    addresses, ``esv`` as a code (``Get_Res`` in any case, or ``0x72``), ``class`` as a 16-bit class code (``027D``,
    ``0x027d``), ``eoj`` as an object (``027D01``, ``0x027d01``, ``02-7D-01``), ``epc`` as a number (``0xD3``, ``d3``),
    ``port`` as a number. A value that cannot be parsed is an :class:`EchonetUsageError`.
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
            return lambda dg, frame: port in (dg.sport, dg.dport)
        if key == "errors":
            want_errors = value.lower() in _TRUE
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
        return lambda dg, frame: (
            frame is not None
            and frame.esv is not None
            and any(p.epc == epc for p in (*frame.properties, *frame.get_properties))
        )

    def match(self, datagram: Datagram, frame: Frame | None) -> bool:
        """Whether every term holds for ``datagram``, whose payload decoded to ``frame`` (``None``: malformed)."""
        return all(test(datagram, frame) for test in self.tests)


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
    tables = registry(args)
    if args.pcap:
        if args.hex:
            raise EchonetUsageError("give either HEX frames or --pcap FILE, not both")
        return _decode_pcap(args, tables)
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
                dump({"input": data.hex(), "error": exc.reason, "offset": exc.offset, "field": exc.field})
            else:
                error(f"frame {i + 1}: malformed at byte offset {exc.offset} ({exc.field}): {exc.reason}")
            continue
        if args.json:
            dump(frame_json(frame, tables))
        else:
            if i:
                print()
            print("\n".join(frame_lines(frame, tables)))
    return status


_UNSUPPORTED_LINK = "unsupported link type "


def _decode_pcap(args: argparse.Namespace, tables: Registry) -> int:
    from ..pcap import iter_datagrams

    ports = tuple(args.port or [3610])
    flt = RecordFilter(args.filter or [])
    progress = _Progress(sys.stderr.isatty() and not args.no_progress)
    counts = {"frames": 0, "errors": 0, "shown": 0, "skipped": 0}
    scapy_checked = False

    def on_skip(index: int, reason: str) -> None:
        nonlocal scapy_checked
        if not scapy_checked and reason.startswith(_UNSUPPORTED_LINK):
            # link types not parsed by hand are read through scapy: without it, say which extra to install
            scapy_checked = True
            linktype = reason[len(_UNSUPPORTED_LINK) :].split(" ", 1)[0]
            require_extra("scapy", "pcap", f"{args.pcap}: link type {linktype} (read through scapy)")
        counts["skipped"] += 1

    try:
        for dg in iter_datagrams(args.pcap, ports, progress=progress, on_skip=on_skip):
            frame: Frame | None = None
            failure: FrameDecodeError | None = None
            try:
                frame = decode(dg.payload)
            except FrameDecodeError as exc:
                counts["errors"] += 1
                failure = exc
            else:
                counts["frames"] += 1
            if flt and not flt.match(dg, frame):
                continue
            counts["shown"] += 1
            progress.finish()
            record: dict[str, Any] = {
                "time": round(dg.time, 6),
                "src": dg.src,
                "dst": dg.dst,
                "sport": dg.sport,
                "dport": dg.dport,
            }
            if failure is not None:
                record.update(
                    {
                        "error": failure.reason,
                        "offset": failure.offset,
                        "field": failure.field,
                        "payload": dg.payload.hex(),
                    }
                )
            if args.json:
                if frame is not None:
                    record["frame"] = frame_json(frame, tables)
                dump(record)
            else:
                _print_record(record, dg.payload, frame, tables)
    finally:
        progress.finish()
    if not args.json:
        print(
            f"-- {counts['frames']} frame(s), {counts['errors']} malformed, {counts['shown']} shown"
            + (f", {counts['skipped']} packet(s) skipped" if counts["skipped"] else ""),
            file=sys.stderr,
        )
    return EXIT_OK


def _print_record(record: dict[str, Any], payload: bytes, frame: Frame | None, tables: Registry) -> None:
    when = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(record["time"])) + f".{int(record['time'] * 1e6) % 10**6:06d}"
    where = f"{record['src']}:{record['sport']} -> {record['dst']}:{record['dport']}"
    if frame is None:
        print(f"{when}  {where}  MALFORMED at byte offset {record['offset']} ({record['field']}): {record['error']}")
        print(f"  payload {payload.hex(' ')}")
        return
    lines = frame_lines(frame, tables)
    print(f"{when}  {where}  {lines[0]}")
    for line in lines[1:]:
        print(line)


# ------------------------------------------------------------------------------------------------------------- spec


def _cmd_spec(args: argparse.Namespace) -> int:
    tables = registry(args)
    if args.list:
        classes = list(tables)
        if args.json:
            dump([{"class": c.code_text, "name": c.name, "key": c.key, "source": c.source} for c in classes])
        else:
            for c in classes:
                print(f"{c.code_text}  {c.name}  ({c.source}, {len(c.properties)} properties)")
        return EXIT_OK
    if not args.cls:
        raise EchonetUsageError("give a CLASS (0x027D, 027D or a name) or --list")
    cls = tables.find_class(args.cls)
    props = tables.properties(cls.class_id)
    if args.json:
        dump(
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


def register(sub: Any) -> None:
    """Add ``decode`` and ``spec`` to the ``echonet`` command line."""
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
