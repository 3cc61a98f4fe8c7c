"""Captures to Parquet: one row per property, written in row groups as the datagrams come, so memory stays bounded
whatever the size and number of the captures. The file is written by :mod:`echonet.capture.parquet_file` (pure
Python: no extra package; zstd with ``zstandard`` installed, else gzip).

Columns (:data:`SCHEMA`): ``capture`` (the file), ``frame`` (the packet number in it), ``time`` (UTC, microseconds),
``src``, ``dst``, ``sport``, ``dport``, ``tid``, ``seoj``, ``deoj`` (``027D01``), ``class`` (the class code of the
object the properties belong to, ``0x027D``), ``class_name``, ``esv`` (name), ``esv_code``, ``half`` (``set`` or
``get`` for the two lists of SetGet, else null), ``epc`` (0-255), ``name``, ``key``, ``pdc``, ``edt`` (the raw
bytes), ``valid``, ``value`` (the typed value as JSON text, as in ``decode --json``), ``number`` (the value when it
is a number, for arithmetic), ``unit``, ``secured`` (the frame came in a record of the secure overlay opened with a
key log), ``error`` (a malformed datagram: one row, its reason, EPC null). A frame without properties (EHD2 0x82,
OPC 0) is one row with EPC null.

Query it with DuckDB (``echonet query OUT "SQL"``: the table is ``capture``) or anything that reads Parquet.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from itertools import chain, repeat
from typing import TYPE_CHECKING, Any

from ..describe import class_name, decode_properties, owner_of_properties
from ..errors import CaptureError
from ..frame import EOJ, ESV, Frame, Property, esv_name
from ..spec.registry import DecodedValue, Registry
from ..spec.types import Special
from .parquet_file import Column, ParquetFileWriter, pick
from .stream import after_tid

if TYPE_CHECKING:
    from ..pcap import Datagram
    from .stream import Decoded

__all__ = ["CACHE", "COLUMNS", "COMPRESSION", "ROW_GROUP", "ParquetWriter"]

#: Rows per row group, and the most rows held in memory: small enough that memory stays flat (the same for 10k
#: datagrams or 10M), large enough that each row group is compressed and written in one go at little cost.
ROW_GROUP = 16384
#: The most distinct property rows, frame shapes and object names kept from one row group to the next (memory stays
#: bounded; a capture with more distinct values decodes those again).
CACHE = 8192
#: The compression of the pages: zstd (with the ``zstandard`` package; else the standard library's gzip at level 1).
COMPRESSION = "zstd"

COLUMNS = (
    "capture", "frame", "time", "src", "dst", "sport", "dport", "tid", "seoj", "deoj", "class", "class_name", "esv",
    "esv_code", "half", "epc", "name", "key", "pdc", "edt", "valid", "value", "number", "unit", "secured", "error",
)  # fmt: skip
_SETGET = frozenset(int(e) for e in (ESV.SETGET, ESV.SETGET_RES, ESV.SETGET_SNA))
_ESV_NAMES = {int(e): esv_name(e) for e in ESV}
_dumps = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode
_quote = json.encoder.encode_basestring  # (what _dumps writes for a str)

_EMPTY_PROP: tuple[Any, ...] = (None,) * 9  # the property columns of a row without a property (epc ... unit)
_NO_NAMES: tuple[Any, ...] = (None,) * 6  # the columns seoj ... esv_code of a datagram without them
#: A head (the columns a datagram's rows share, held once per datagram or half of a SetGet) is held flat, as plain
#: values (no object per datagram, so that the garbage collector has nothing more to scan as the rows come): the
#: fields of its :class:`~echonet.pcap.Datagram` (time, src, dst, sport, dport, payload, index) in one list, and
#: (tid, names, extra, rows) in another: ``names`` an index in the table of object names (the columns seoj ...
#: esv_code), ``extra`` the half and secured (``_HALVES.index(half) * 2 + secured``) or, from ``_ERRORS`` on, an
#: error, ``rows`` how many rows it has. A row is the index of its property columns (epc ... unit) in the table of
#: distinct ones; the rows come in the order of their heads.
#: A shape (a frame less its TID, as decoded: the same for every datagram with the same objects, ESV and properties)
#: is (names, ((extra, property indexes), ...), rows).
_Shape = tuple[int, tuple[tuple[int, tuple[int, ...]], ...], int]
_EMPTY_SHAPE_ROWS = ((0, (0,)),)
_HALVES = (None, "set", "get")
_ERRORS = 2 * len(_HALVES)
_DATAGRAM_FIELDS = 7  # (time, src, dst, sport, dport, payload, index)


#: The columns' types (see :data:`echonet.capture.parquet_file.TYPES`); every column is nullable.
SCHEMA = (
    ("capture", "string"), ("frame", "int64"), ("time", "timestamp_us_utc"), ("src", "string"), ("dst", "string"),
    ("sport", "int32"), ("dport", "int32"), ("tid", "int32"), ("seoj", "string"), ("deoj", "string"),
    ("class", "string"), ("class_name", "string"), ("esv", "string"), ("esv_code", "int16"), ("half", "string"),
    ("epc", "int16"), ("name", "string"), ("key", "string"), ("pdc", "int32"), ("edt", "binary"), ("valid", "bool"),
    ("value", "string"), ("number", "float64"), ("unit", "string"), ("secured", "bool"), ("error", "string"),
)  # fmt: skip
assert tuple(name for name, _ in SCHEMA) == COLUMNS


class ParquetWriter:
    """Writes :class:`~echonet.capture.stream.Decoded` datagrams to ``path`` as rows (see the module). Raises
    :class:`CaptureError` when the file cannot be written. Call :meth:`close` at the end (the file is complete only
    then).

    The rows are held as small integers (a head per datagram, a property row by its index in a table of distinct
    ones, the whole frame's rows by its shape). A row group's columns are these tables as dictionaries with the rows'
    indexes into them (dictionary-encoded Parquet columns): no column is built value by value."""

    def __init__(self, path: str | os.PathLike[str], registry: Registry, row_group: int = ROW_GROUP) -> None:
        self.path = os.fspath(path)
        self.registry = registry
        self.row_group = row_group
        self.schema = tuple(Column(name, kind) for name, kind in SCHEMA)
        self.rows = 0
        #: The capture file the next datagrams come from (the ``capture`` column).
        self.capture = ""
        self._dgs: list[Any] = []  # the heads' datagrams, flat
        self._rest: list[Any] = []  # the heads' (tid, names, extra, rows), flat
        self._errors: dict[str, int] = {}  # the distinct errors of this row group (extra _ERRORS + 2 * index)
        self._runs: list[tuple[int, str]] = []  # (first head, capture): where the capture changes
        self._run_capture: str | None = None
        self._row_props: list[int] = []  # each row's property row (its head: from the heads' counts of rows)
        self._table: list[tuple[Any, ...]] = []  # distinct property rows (index 0: no property)
        self._memo: dict[tuple[int, int, bytes], int] = {}  # (class, EPC, EDT) -> index in _table
        self._names_table: list[tuple[Any, ...]] = []  # the columns seoj ... esv_code (index 0: none)
        self._names: dict[tuple[int, Any, Any, int], int] = {}
        self._shapes: dict[tuple[Any, ...], _Shape] = {}  # a secured frame (no plain bytes) -> its shape
        self._raw: dict[bytes, _Shape] = {}  # a plain frame's bytes after its TID -> its shape
        self._reset_tables()
        try:
            self._writer = ParquetFileWriter(self.path, self.schema, compression=COMPRESSION)
        except OSError as exc:
            raise CaptureError(f"{self.path}: cannot write ({exc})") from None

    def _reset_tables(self) -> None:
        """Forget the distinct values (only between row groups: the rows held refer to them)."""
        self._table[:] = [_EMPTY_PROP]
        self._memo.clear()
        self._names_table[:] = [_NO_NAMES]
        self._names.clear()
        self._shapes.clear()
        self._raw.clear()

    def _head(self, dg: Datagram, tid: int | None, names: int, extra: int, error: str | None = None) -> int:
        """Hold the columns one datagram's rows share (see the module's ``_Shape``); its index."""
        index = len(self._rest) >> 2
        if self.capture is not self._run_capture:
            self._run_capture = self.capture
            self._runs.append((index, self.capture))
        if error is not None:
            known = self._errors.setdefault(error, len(self._errors))
            extra = _ERRORS + known * 2 + extra % 2  # (the error's own, and secured)
        self._dgs.extend(dg)
        self._rest += (tid, names, int(extra), 0)
        return index

    def _row(self, head: int, prop: int) -> None:
        """One row: the last head, ``head``, and property row ``prop`` (indexes); a row group is written when
        full."""
        self._rest[(head << 2) | 3] += 1
        self._row_props.append(prop)
        if len(self._row_props) >= self.row_group:
            self.flush()

    def add(self, item: Decoded) -> None:
        """The rows of one datagram."""
        dg = item.datagram
        secured = item.overlay is not None
        frame = item.frame
        if frame is None:
            kind = item.overlay.kind if item.overlay is not None else "unknown"
            error = item.failure.reason if item.failure is not None else f"secured {kind} record"
            self._row(self._head(dg, None, 0, secured, error), 0)
            return
        self.add_frame(dg, frame, secured)

    def add_frame(self, dg: Datagram, frame: Frame, secured: bool = False) -> None:
        """The rows of one datagram decoded to ``frame`` (``secured``: opened from a record of the overlay)."""
        esv = frame.esv
        if esv is None or frame.seoj is None or frame.deoj is None:
            self._row(self._head(dg, frame.tid, 0, secured), 0)
            return
        esv = int(esv)  # (IntEnum members hash slowly)
        raw = None if secured else after_tid(dg.payload)
        if raw is not None:  # (a plain frame: remembered by its bytes after the TID, as add_payload looks it up)
            shape = self._raw.get(raw)
            if shape is None:
                shape = self._shape(frame, esv)
                if len(self._raw) < CACHE:
                    self._raw[raw] = shape
        else:
            key = (frame.seoj, frame.deoj, esv, frame.properties, frame.get_properties)
            shape = self._shapes.get(key)
            if shape is None:
                shape = self._shapes[key] = self._shape(frame, esv)
        self._add_shape(dg, frame.tid, secured, shape)

    def add_payload(self, dg: Datagram) -> bool:
        """The rows of a plain datagram whose payload was seen before but for its TID (a poll's request, an
        unchanged answer), without decoding it again: True when it was added; False (nothing done) for any other,
        to be decoded and given to :meth:`add_frame`."""
        payload = dg.payload
        raw = after_tid(payload)
        shape = None if raw is None else self._raw.get(raw)
        if shape is None:
            return False
        self._add_shape(dg, (payload[2] << 8) | payload[3], False, shape)
        return True

    def _add_shape(self, dg: Datagram, tid: int, secured: bool, shape: _Shape) -> None:
        names, halves, count = shape
        row_props = self._row_props
        if len(row_props) + count >= self.row_group:  # (this datagram fills the row group: row by row)
            self._add_split(dg, tid, secured, names, halves)
            return
        rest = self._rest
        if self.capture is not self._run_capture:
            self._run_capture = self.capture
            self._runs.append((len(rest) >> 2, self.capture))
        for extra, props in halves:
            self._dgs.extend(dg)
            rest += (tid, names, extra + secured, len(props))
            row_props.extend(props)

    def _add_split(
        self, dg: Datagram, tid: int, secured: bool, names: int, halves: tuple[tuple[int, tuple[int, ...]], ...]
    ) -> None:
        """The rows of a datagram that fills the row group: the rest go to the next one, which holds its own
        heads and distinct values (a flush may forget them)."""
        table, names_row = self._table, self._names_table[names]
        rows = [(extra, [table[i] for i in props]) for extra, props in halves]
        for extra, props in rows:
            head = -1
            for prop in props:
                if head < 0 or not self._row_props:  # (a new row group)
                    names = self._names_table.index(names_row) if names_row in self._names_table else -1
                    if names < 0:
                        names = len(self._names_table)
                        self._names_table.append(names_row)
                    head = self._head(dg, tid, names, extra + secured)
                self._table.append(prop)
                self._row(head, len(self._table) - 1)

    def _shape(self, frame: Frame, esv: int) -> _Shape:
        """Decode a frame's properties to rows (each property row once while it is remembered: by class, EPC and
        EDT, unless scaled by other properties): the frame's shape."""
        owner = owner_of_properties(frame)
        class_id = owner.class_id if owner is not None else -1
        names_key = (class_id, frame.seoj, frame.deoj, esv)
        names = self._names.get(names_key)
        if names is None:  # the columns seoj ... esv_code
            cls = f"0x{owner.class_id:04X}" if owner is not None else None
            name = _ESV_NAMES.get(esv) or esv_name(esv)
            names = self._names[names_key] = len(self._names_table)
            self._names_table.append((str(frame.seoj), str(frame.deoj), cls, class_name(self.registry, owner), name,
                                      esv))  # fmt: skip
        props, gets = frame.properties, frame.get_properties
        if esv in _SETGET:
            halves = []
            count = 0
            if props:
                ids = self._ids(class_id, owner, props, gets)
                halves.append((2, ids))  # (_HALVES.index("set") * 2)
                count += len(ids)
            if gets:
                ids = self._ids(class_id, owner, gets, props)
                halves.append((4, ids))  # (_HALVES.index("get") * 2)
                count += len(ids)
            shape = (names, tuple(halves), count) if halves else (names, _EMPTY_SHAPE_ROWS, 1)
        elif props:
            ids = self._ids(class_id, owner, props, ())
            shape = (names, ((0, ids),), len(ids))
        else:
            shape = (names, _EMPTY_SHAPE_ROWS, 1)
        return shape

    def _ids(
        self, class_id: int, owner: EOJ | None, props: tuple[Property, ...], others: tuple[Property, ...]
    ) -> tuple[int, ...]:
        """The indexes of the property rows of one list of properties (``others``: the other list of a SetGet)."""
        memo, table, registry = self._memo, self._table, self.registry
        ids = []
        decoded = None
        for i, p in enumerate(props):
            # the row of a property alone (no coefficients from the rest of the frame) repeats: kept by EDT
            epc, edt = p
            memo_key = (class_id, epc, edt)
            index = memo.get(memo_key)
            if index is None:
                if edt and epc not in registry.decoders(class_id).scaled:  # (alone, as decode_properties does)
                    dv = registry.decode_value(class_id, epc, edt)
                else:
                    if decoded is None:
                        decoded = decode_properties(registry, owner, props, others)
                    dv = decoded[i]
                index = len(table)
                table.append(self._property_row(dv))
                if dv.definition is None or not dv.definition.coefficients:
                    memo[memo_key] = index
            ids.append(index)
        return tuple(ids)

    @staticmethod
    def _property_row(dv: DecodedValue) -> tuple[Any, ...]:
        value: str | None = None
        number: float | None = None
        valid: bool | None = None
        if dv.edt:
            valid = dv.error is None
            if valid and not dv.missing:
                raw = dv.json_value()
                kind = type(raw)
                if kind is int:  # (the common kinds without the encoder's calls: the same text)
                    value = int.__repr__(raw)
                elif kind is str:
                    value = _quote(raw)
                else:
                    value = _dumps(raw)
                if isinstance(raw, int | float) and kind is not bool and not isinstance(dv.value, Special):
                    number = float(raw)
        definition = dv.definition
        unit = (dv.unit or None) if number is not None else None
        key = definition.key if definition is not None else None
        return (dv.epc, dv.name, key, len(dv.edt), dv.edt, valid, value, number, unit)

    @property
    def held(self) -> int:
        """Rows held in memory, not yet written (always fewer than a row group)."""
        return len(self._row_props)

    def flush(self) -> None:
        """Write the rows held as one row group."""
        count = len(self._row_props)
        if not count:
            return
        dgs, rest, step = self._dgs, self._rest, _DATAGRAM_FIELDS
        count_heads = len(rest) >> 2
        heads = list(chain.from_iterable(map(repeat, range(count_heads), rest[3::4])))  # (each row's head)
        bounds = [start for start, _ in self._runs[1:]] + [count_heads]
        capture_ids: list[int] = []
        for i, end in enumerate(bounds):
            capture_ids += [i] * (end - len(capture_ids))
        head_columns = {"frame": dgs[6::step], "time": [round(t * 1e6) for t in dgs[0::step]],
                        "src": dgs[1::step], "dst": dgs[2::step], "sport": dgs[3::step], "dport": dgs[4::step],
                        "tid": rest[0::4]}  # fmt: skip
        extras: list[tuple[str | None, bool, str | None]] = [(h, bool(sec), None) for h in _HALVES for sec in (0, 1)]
        extras += [(None, bool(secured), e) for e in self._errors for secured in (0, 1)]
        name_rows, extra_rows = pick(heads, rest[1::4]), pick(heads, rest[2::4])
        name_columns = list(zip(*self._names_table, strict=True))
        # the property rows this row group uses, as its dictionaries (the table holds those of earlier ones too)
        row_props: Sequence[int] = self._row_props
        used = sorted(set(row_props))
        table: Sequence[tuple[Any, ...]] = self._table
        if len(used) < len(table):
            row_props = list(map({p: i for i, p in enumerate(used)}.__getitem__, row_props))
            table = pick(used, table)
        prop_columns = list(zip(*table, strict=True))
        data: list[tuple[Any, Any]] = []
        for i, c in enumerate(COLUMNS):
            if c == "capture":
                data.append(([c for _, c in self._runs], pick(heads, capture_ids)))
            elif c in head_columns:
                data.append((head_columns[c], heads))
            elif c in ("half", "secured", "error"):
                k = ("half", "secured", "error").index(c)
                data.append(([e[k] for e in extras], extra_rows))
            elif i < 14:  # seoj ... esv_code
                data.append((name_columns[i - 8], name_rows))
            else:  # epc ... unit
                data.append((prop_columns[i - 15], row_props))
        try:
            self._writer.write_row_group(data)
        except OSError as exc:
            raise CaptureError(f"{self.path}: cannot write ({exc})") from None
        self.rows += count
        for held in (self._dgs, self._rest, self._errors, self._row_props):
            held.clear()  # (in place: add_frame keeps them at hand)
        self._runs.clear()
        self._run_capture = None
        if max(len(self._table), len(self._shapes), len(self._names_table)) > CACHE or len(self._raw) >= CACHE:
            self._reset_tables()

    def close(self) -> None:
        """Write what is left and complete the file (when that fails, the file is closed without its footer, so
        that no reader takes it for a whole one)."""
        try:
            self.flush()
        except BaseException:
            self._writer.abort()
            raise
        try:
            self._writer.close()
        except OSError as exc:
            raise CaptureError(f"{self.path}: cannot write ({exc})") from None
