"""Captures to Parquet: one row per property (pyarrow, the ``parquet`` extra), written in row groups as the
datagrams come, so memory stays bounded whatever the size and number of the captures.

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
from typing import TYPE_CHECKING, Any

from ..describe import class_name, decode_properties, owner_of_properties
from ..errors import CaptureError, require_extra
from ..frame import ESV, Frame, Property, esv_name
from ..spec.registry import DecodedValue, Registry
from ..spec.types import Special

if TYPE_CHECKING:
    from ..pcap import Datagram
    from .stream import Decoded

__all__ = ["COLUMNS", "ROW_GROUP", "ParquetWriter"]

#: Rows per row group (and the most rows held in memory).
ROW_GROUP = 65536

COLUMNS = (
    "capture", "frame", "time", "src", "dst", "sport", "dport", "tid", "seoj", "deoj", "class", "class_name", "esv",
    "esv_code", "half", "epc", "name", "key", "pdc", "edt", "valid", "value", "number", "unit", "secured", "error",
)  # fmt: skip
_SETGET = frozenset(int(e) for e in (ESV.SETGET, ESV.SETGET_RES, ESV.SETGET_SNA))
_ESV_NAMES = {int(e): esv_name(e) for e in ESV}
_dumps = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode


_EMPTY_PROP: tuple[Any, ...] = (None,) * 9  # a row without a property
_PROP_FIRST, _PROP_END = 15, 24  # COLUMNS[15:24] are the property's own (epc ... unit), the rest the head's
#: A head (the columns a datagram's rows share) is (capture ... tid, names, half, secured, error): ``names`` the tuple
#: of COLUMNS[8:14] (seoj ... esv_code), shared by the datagrams of the same objects and ESV.
_NAMES, _NAMES_END = 8, 14
_NO_NAMES: tuple[Any, ...] = (None,) * 6


def _schema() -> Any:
    import pyarrow as pa  # type: ignore[import-untyped]

    return pa.schema(
        [
            ("capture", pa.string()),
            ("frame", pa.int64()),
            ("time", pa.timestamp("us", tz="UTC")),
            ("src", pa.string()),
            ("dst", pa.string()),
            ("sport", pa.int32()),
            ("dport", pa.int32()),
            ("tid", pa.int32()),
            ("seoj", pa.string()),
            ("deoj", pa.string()),
            ("class", pa.string()),
            ("class_name", pa.string()),
            ("esv", pa.string()),
            ("esv_code", pa.int16()),
            ("half", pa.string()),
            ("epc", pa.int16()),
            ("name", pa.string()),
            ("key", pa.string()),
            ("pdc", pa.int32()),
            ("edt", pa.binary()),
            ("valid", pa.bool_()),
            ("value", pa.string()),
            ("number", pa.float64()),
            ("unit", pa.string()),
            ("secured", pa.bool_()),
            ("error", pa.string()),
        ]
    )


class ParquetWriter:
    """Writes :class:`~echonet.capture.stream.Decoded` datagrams to ``path`` as rows (see the module). Raises
    :class:`CaptureError` when the file cannot be written, :class:`~echonet.errors.MissingExtraError` without
    pyarrow. Call :meth:`close` at the end (the file is complete only then)."""

    def __init__(self, path: str | os.PathLike[str], registry: Registry, row_group: int = ROW_GROUP) -> None:
        require_extra("pyarrow", "parquet", "--parquet")
        import pyarrow.parquet as pq  # type: ignore[import-untyped]

        self.path = os.fspath(path)
        self.registry = registry
        self.row_group = row_group
        self.schema = _schema()
        self.rows = 0
        self.capture = ""
        self._heads: list[tuple[Any, ...]] = []  # the columns rows share (datagram, objects, ESV, half, ...)
        self._props: list[tuple[Any, ...]] = []  # the distinct property columns of this row group
        self._prop_index: dict[int, int] = {}  # id of a property tuple (held in _props) -> its index there
        self._row_heads: list[int] = []
        self._row_props: list[int] = []
        self._names: dict[tuple[int, Any, Any, int], tuple[Any, ...]] = {}
        self._memo: dict[tuple[int, int, bytes], tuple[Any, ...]] = {}
        try:
            self._writer = pq.ParquetWriter(self.path, self.schema, compression="zstd")
        except OSError as exc:
            raise CaptureError(f"{self.path}: cannot write ({exc})") from None

    def _head(self, head: tuple[Any, ...]) -> int:
        """Hold the columns of one datagram (or one half of a SetGet) that its rows share; its index."""
        heads = self._heads
        heads.append(head)
        return len(heads) - 1

    def _row(self, head: int, prop: tuple[Any, ...]) -> None:
        """One row: the shared columns ``head`` (an index from :meth:`_head`) and a property's own columns (a
        tuple often repeated: held once per row group)."""
        index = self._prop_index.get(id(prop))
        if index is None:
            index = self._prop_index[id(prop)] = len(self._props)
            self._props.append(prop)
        self._row_heads.append(head)
        self._row_props.append(index)
        if len(self._row_heads) >= self.row_group:
            self.flush()

    def add(self, item: Decoded) -> None:
        """The rows of one datagram."""
        dg = item.datagram
        secured = item.overlay is not None
        frame = item.frame
        micros = round(dg.time * 1e6)
        if frame is None:
            kind = item.overlay.kind if item.overlay is not None else "unknown"
            error = item.failure.reason if item.failure is not None else f"secured {kind} record"
            head: tuple[Any, ...] = (self.capture, dg.index, micros, dg.src, dg.dst, dg.sport, dg.dport)
            self._row(self._head((*head, None, _NO_NAMES, None, secured, error)), _EMPTY_PROP)
            return
        self.add_frame(dg, frame, secured)

    def add_frame(self, dg: Datagram, frame: Frame, secured: bool = False) -> None:
        """The rows of one datagram decoded to ``frame`` (``secured``: opened from a record of the overlay)."""
        micros = round(dg.time * 1e6)
        esv = None if frame.esv is None else int(frame.esv)  # (an int: IntEnum members hash slowly)
        if esv is None or frame.seoj is None or frame.deoj is None:
            head = (self.capture, dg.index, micros, dg.src, dg.dst, dg.sport, dg.dport, frame.tid, _NO_NAMES, None,
                    secured, None)  # fmt: skip
            self._row(self._head(head), _EMPTY_PROP)
            return
        owner = owner_of_properties(frame)
        class_id = owner.class_id if owner is not None else -1
        names_key = (class_id, frame.seoj, frame.deoj, esv)
        names = self._names.get(names_key)
        if names is None:  # the columns seoj ... esv_code, one tuple for every datagram that shares them
            cls = f"0x{owner.class_id:04X}" if owner is not None else None
            name = _ESV_NAMES.get(esv) or esv_name(esv)
            names = (str(frame.seoj), str(frame.deoj), cls, class_name(self.registry, owner), name, esv)
            if len(self._names) >= 4096:
                self._names.clear()
            self._names[names_key] = names
        base = (self.capture, dg.index, micros, dg.src, dg.dst, dg.sport, dg.dport, frame.tid, names)
        halves: list[tuple[str | None, tuple[Property, ...], tuple[Property, ...]]] = [(None, frame.properties, ())]
        if esv in _SETGET:
            halves = [("set", frame.properties, frame.get_properties), ("get", frame.get_properties, frame.properties)]
        wrote = False
        memo = self._memo
        row_heads, row_props, prop_index, distinct = self._row_heads, self._row_props, self._prop_index, self._props
        limit = self.row_group
        for half, props, others in halves:
            if not props:
                continue
            wrote = True
            head_index = self._head((*base, half, secured, None))
            decoded = None
            for i, p in enumerate(props):
                # the row of a property alone (no coefficients from the rest of the frame) repeats: kept by EDT
                key = (class_id, p.epc, p.edt)
                prop = memo.get(key)
                if prop is None:
                    if decoded is None:
                        decoded = decode_properties(self.registry, owner, props, others)
                    dv = decoded[i]
                    prop = self._property_row(dv)
                    definition = dv.definition
                    if definition is None or not definition.coefficients:
                        if len(memo) >= 65536:
                            memo.clear()
                        memo[key] = prop
                index = prop_index.get(id(prop))
                if index is None:
                    index = prop_index[id(prop)] = len(distinct)
                    distinct.append(prop)
                row_heads.append(head_index)
                row_props.append(index)
                if len(row_heads) >= limit:
                    self.flush()
                    head_index = self._head((*base, half, secured, None))  # (the next row group holds its own)
        if not wrote:
            self._row(self._head((*base, None, secured, None)), _EMPTY_PROP)

    @staticmethod
    def _property_row(dv: DecodedValue) -> tuple[Any, ...]:
        value: str | None = None
        number: float | None = None
        valid: bool | None = None
        if dv.edt:
            valid = dv.error is None
            if valid and not dv.missing:
                raw = dv.json_value()
                value = _dumps(raw)
                if isinstance(raw, int | float) and not isinstance(raw, bool) and not isinstance(dv.value, Special):
                    number = float(raw)
        definition = dv.definition
        unit = (dv.unit or None) if number is not None else None
        key = definition.key if definition is not None else None
        return (dv.epc, dv.name, key, len(dv.edt), dv.edt, valid, value, number, unit)

    @property
    def held(self) -> int:
        """Rows held in memory, not yet written (always fewer than a row group)."""
        return len(self._row_heads)

    def flush(self) -> None:
        """Write the rows held as one row group."""
        count = len(self._row_heads)
        if not count:
            return
        import pyarrow as pa

        # columns in bulk: each datagram's shared columns and each distinct property's once, then repeated in C
        heads = pa.array(self._row_heads, type=pa.int32())
        props = pa.array(self._row_props, type=pa.int32())
        head_columns = list(zip(*self._heads, strict=True))
        prop_columns = list(zip(*self._props, strict=True))
        seen: dict[int, int] = {}
        distinct_names: list[tuple[Any, ...]] = []
        name_ids = []
        for names in head_columns[_NAMES]:
            index = seen.get(id(names))
            if index is None:
                index = seen[id(names)] = len(distinct_names)
                distinct_names.append(names)
            name_ids.append(index)
        by_row = pa.array(name_ids, type=pa.int32()).take(heads)
        name_columns = list(zip(*distinct_names, strict=True))
        arrays = []
        for i, c in enumerate(COLUMNS):
            kind = self.schema.field(c).type
            if i < _NAMES:
                arrays.append(pa.array(head_columns[i], type=kind).take(heads))
            elif i < _NAMES_END:
                arrays.append(pa.array(name_columns[i - _NAMES], type=kind).take(by_row))
            elif i < _PROP_FIRST:
                arrays.append(pa.array(head_columns[_NAMES + 1], type=kind).take(heads))  # half
            elif i < _PROP_END:
                arrays.append(pa.array(prop_columns[i - _PROP_FIRST], type=kind).take(props))
            else:
                arrays.append(pa.array(head_columns[i - _PROP_END + _NAMES + 2], type=kind).take(heads))
        try:
            self._writer.write_batch(pa.record_batch(arrays, schema=self.schema))
        except OSError as exc:
            raise CaptureError(f"{self.path}: cannot write ({exc})") from None
        self.rows += count
        for held in (self._heads, self._row_heads, self._row_props, self._props):
            held.clear()  # (in place: add keeps them at hand)
        self._prop_index.clear()

    def close(self) -> None:
        """Write what is left and complete the file."""
        self.flush()
        try:
            self._writer.close()
        except OSError as exc:
            raise CaptureError(f"{self.path}: cannot write ({exc})") from None
