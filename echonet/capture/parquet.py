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
from ..frame import ESV, Property, esv_name
from ..spec.registry import DecodedValue, Registry
from ..spec.types import Special

if TYPE_CHECKING:
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
        self._rows: list[tuple[Any, ...]] = []
        self._memo: dict[tuple[int, int, bytes], tuple[Any, ...]] = {}
        try:
            self._writer = pq.ParquetWriter(self.path, self.schema, compression="zstd")
        except OSError as exc:
            raise CaptureError(f"{self.path}: cannot write ({exc})") from None

    def _row(self, item: Decoded, head: tuple[Any, ...], prop: tuple[Any, ...]) -> None:
        rows = self._rows
        rows.append(head + prop)
        if len(rows) >= self.row_group:
            self.flush()

    def add(self, item: Decoded) -> None:
        """The rows of one datagram."""
        dg = item.datagram
        secured = item.overlay is not None
        frame = item.frame
        micros = round(dg.time * 1e6)
        empty_prop = (None, None, None, None, None, None, None, None, None)
        if frame is None:
            kind = item.overlay.kind if item.overlay is not None else "unknown"
            error = item.failure.reason if item.failure is not None else f"secured {kind} record"
            head: tuple[Any, ...] = (self.capture, dg.index, micros, dg.src, dg.dst, dg.sport, dg.dport)
            head += (None,) * 8
            self._row(item, head, (*empty_prop, secured, error))
            return
        esv = None if frame.esv is None else int(frame.esv)  # (an int: IntEnum members hash slowly)
        if esv is None or frame.seoj is None or frame.deoj is None:
            head = (self.capture, dg.index, micros, dg.src, dg.dst, dg.sport, dg.dport, frame.tid, None, None, None,
                    None, None, None, None)  # fmt: skip
            self._row(item, head, (*empty_prop, secured, None))
            return
        owner = owner_of_properties(frame)
        cls = f"0x{owner.class_id:04X}" if owner is not None else None
        name = _ESV_NAMES.get(esv) or esv_name(esv)
        base = (self.capture, dg.index, micros, dg.src, dg.dst, dg.sport, dg.dport, frame.tid, str(frame.seoj),
                str(frame.deoj), cls, class_name(self.registry, owner), name, esv)  # fmt: skip
        halves: list[tuple[str | None, tuple[Property, ...], tuple[Property, ...]]] = [(None, frame.properties, ())]
        if esv in _SETGET:
            halves = [("set", frame.properties, frame.get_properties), ("get", frame.get_properties, frame.properties)]
        wrote = False
        memo = self._memo
        class_id = owner.class_id if owner is not None else -1
        for half, props, others in halves:
            # the row of a property alone (no coefficients from the rest of the frame) repeats: kept by EDT (bounded)
            keys = [(class_id, p.epc, p.edt) for p in props]
            rows = [memo.get(k) for k in keys]
            if None in rows:
                decoded = decode_properties(self.registry, owner, props, others)
                for i, dv in enumerate(decoded):
                    if rows[i] is None:
                        rows[i] = row = self._property_row(dv)
                        definition = dv.definition
                        if definition is None or not definition.coefficients:
                            if len(memo) >= 65536:
                                memo.clear()
                            memo[keys[i]] = row
            for prop in rows:
                wrote = True
                assert prop is not None
                self._row(item, (*base, half), (*prop, secured, None))
        if not wrote:
            self._row(item, (*base, None), (*empty_prop, secured, None))

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
        return len(self._rows)

    def flush(self) -> None:
        """Write the rows held as one row group."""
        rows = self._rows
        if not rows:
            return
        import pyarrow as pa

        columns = list(zip(*rows, strict=True))
        arrays = [pa.array(columns[i], type=self.schema.field(c).type) for i, c in enumerate(COLUMNS)]
        try:
            self._writer.write_batch(pa.record_batch(arrays, schema=self.schema))
        except OSError as exc:
            raise CaptureError(f"{self.path}: cannot write ({exc})") from None
        self.rows += len(rows)
        self._rows = []

    def close(self) -> None:
        """Write what is left and complete the file."""
        self.flush()
        try:
            self._writer.close()
        except OSError as exc:
            raise CaptureError(f"{self.path}: cannot write ({exc})") from None
