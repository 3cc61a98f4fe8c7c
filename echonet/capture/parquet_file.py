"""A small Parquet file writer in pure Python: flat schemas, dictionary-encoded columns, one data page per column
chunk. It is what :mod:`echonet.capture.parquet` writes with, so ``--parquet`` needs no extra package and costs no
import of pyarrow (about 0.4 s of CPU and 60 MB of memory before the first datagram, which was most of what made
``--parquet`` slower than ``--json``).

A column of a row group is given as a *dictionary* and an *index* per row. The dictionary is a list of Python
values (``None`` is a null; entries may repeat, and entries no row uses may be there), the index a sequence of
ints, one per row, into that list. This is how the capture writer holds its rows anyway (distinct property rows,
a head per datagram), so no column is ever expanded value by value in Python: the indexes are packed with
:mod:`array` and the definition levels and the present rows' indexes are picked in C (:func:`operator.itemgetter`,
:func:`itertools.compress`). The file follows the Apache Parquet format (``PAR1``, Thrift compact metadata, data
page v1, ``RLE_DICTIONARY`` indexes bit-packed in 8, 16 or 32 bits, definition levels in the RLE/bit-packed
hybrid); DuckDB and pyarrow read it (``tests/capture/test_parquet_file.py`` proves it on random tables).

Pages are compressed with zstd when the ``zstandard`` package is installed, else with the standard library's gzip
(level 1); ``compression="none"`` writes them as they are.
"""

from __future__ import annotations

import os
import struct
import sys
import zlib
from array import array
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import compress, repeat
from operator import is_not, itemgetter, truth
from typing import Any, BinaryIO

__all__ = ["TYPES", "Column", "ParquetFileWriter", "pick"]

_MAGIC = b"PAR1"
_BIG_ENDIAN = sys.byteorder == "big"

# Parquet's physical types, encodings, codecs, page types and repetitions (parquet.thrift)
_BOOLEAN, _INT32, _INT64, _DOUBLE, _BYTE_ARRAY = 0, 1, 2, 5, 6
_PLAIN, _RLE, _RLE_DICTIONARY = 0, 3, 8
_UNCOMPRESSED, _GZIP, _ZSTD = 0, 2, 6
_DATA_PAGE, _DICTIONARY_PAGE = 0, 2
_OPTIONAL = 1

#: The column types: (physical type, array typecode of the plain values or None, converted type or None, logical
#: type as a Thrift struct (field id, payload) or None).
TYPES: dict[str, tuple[int, str | None, int | None, tuple[int, Any] | None]] = {
    "string": (_BYTE_ARRAY, None, 0, (1, {})),  # UTF8, StringType
    "binary": (_BYTE_ARRAY, None, None, None),
    "int64": (_INT64, "q", None, None),
    "int32": (_INT32, "i", None, None),
    "int16": (_INT32, "i", 16, (10, {1: ("byte", 16), 2: True})),  # INT_16, IntType(16, signed)
    "float64": (_DOUBLE, "d", None, None),
    "bool": (_BOOLEAN, None, None, None),
    "timestamp_us_utc": (_INT64, "q", 10, (8, {1: True, 2: ("struct", {2: {}})})),  # TIMESTAMP_MICROS, UTC
}


@dataclass(frozen=True)
class Column:
    """A column of the schema: its name and one of :data:`TYPES`; every column is optional (nullable)."""

    name: str
    type: str

    def __post_init__(self) -> None:
        if self.type not in TYPES:
            raise ValueError(f"unknown column type {self.type!r}")


# ------------------------------------------------------------------------------------------ Thrift compact protocol

_T_TRUE, _T_FALSE, _T_BYTE, _T_I32, _T_I64, _T_BINARY, _T_LIST, _T_STRUCT = 1, 2, 3, 5, 6, 8, 9, 12


def _varint(n: int) -> bytes:
    out = bytearray()
    while n > 0x7F:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


def _zigzag(n: int) -> bytes:
    return _varint((n << 1) ^ (n >> 63))


def _struct(fields: dict[int, Any]) -> bytes:
    """A Thrift struct in the compact protocol. Values: ``bool``; ``int`` (i32), ``("i64", n)``, ``("byte", n)``;
    ``str`` or ``bytes`` (binary); ``dict`` (a struct); ``("struct", dict)`` (the same); ``("list", type, items)``
    with type ``"i32"``, ``"binary"`` or ``"struct"``. Fields in increasing id order; ``None`` values left out."""
    out = bytearray()
    last = 0
    for fid in sorted(fields):
        value = fields[fid]
        if value is None:
            continue
        if value is True or value is False:
            kind, payload = (_T_TRUE if value else _T_FALSE), b""
        elif isinstance(value, int):
            kind, payload = _T_I32, _zigzag(value)
        elif isinstance(value, str | bytes):
            raw = value.encode() if isinstance(value, str) else value
            kind, payload = _T_BINARY, _varint(len(raw)) + raw
        elif isinstance(value, dict):
            kind, payload = _T_STRUCT, _struct(value)
        elif value[0] == "i64":
            kind, payload = _T_I64, _zigzag(value[1])
        elif value[0] == "byte":
            kind, payload = _T_BYTE, bytes((value[1] & 0xFF,))
        elif value[0] == "struct":
            kind, payload = _T_STRUCT, _struct(value[1])
        else:  # ("list", item type, items)
            kind, payload = _T_LIST, _list(value[1], value[2])
        delta = fid - last
        if 0 < delta <= 15:
            out.append((delta << 4) | kind)
        else:
            out.append(kind)
            out += _zigzag(fid)
        out += payload
        last = fid
    out.append(0)  # stop
    return bytes(out)


def _list(item: str, items: Sequence[Any]) -> bytes:
    kind = {"i32": _T_I32, "binary": _T_BINARY, "struct": _T_STRUCT}[item]
    n = len(items)
    head = bytes(((n << 4) | kind,)) if n < 15 else bytes((0xF0 | kind,)) + _varint(n)
    if item == "i32":
        body = b"".join(_zigzag(v) for v in items)
    elif item == "binary":
        body = b"".join(_varint(len(v)) + v for v in (i.encode() if isinstance(i, str) else i for i in items))
    else:
        body = b"".join(_struct(v) for v in items)
    return head + body


# ----------------------------------------------------------------------------------------------------- encodings


def _bits(flags: bytes) -> bytes:
    """Values of 0 and 1 (one byte each) packed LSB first, 8 to a byte (the last byte padded with zeros)."""
    n = len(flags)
    if not n:
        return b""
    number = int(flags.translate(_ASCII_BITS)[::-1], 2)  # (C speed: a base-2 parse is linear)
    return number.to_bytes((n + 7) >> 3, "little")


_ASCII_BITS = bytes.maketrans(b"\x00\x01", b"01")
_ALL_PRESENT = None  # (the definition levels of a column without a null)


def _levels(flags: bytes | None, n: int) -> bytes:
    """Definition levels (0 null, 1 present; :data:`_ALL_PRESENT` for all of the ``n`` present) in the RLE/bit-packed
    hybrid of width 1, with the 4-byte length of data page v1 in front: one RLE run when all are equal, else one
    bit-packed run."""
    if flags is _ALL_PRESENT:
        body = _varint(n << 1) + b"\x01"
    elif n and flags.count(flags[0]) == n:
        body = _varint(n << 1) + bytes((flags[0],))
    else:
        body = _varint((((n + 7) >> 3) << 1) | 1) + _bits(flags)
    return struct.pack("<I", len(body)) + body


def _indexes(indexes: Sequence[int], size: int) -> bytes:
    """Dictionary indexes (``RLE_DICTIONARY`` data): the bit width, then one bit-packed run of 8-, 16- or 32-bit
    little-endian values (or, with a dictionary of one entry, one RLE run of width 0)."""
    n = len(indexes)
    if not n:
        return b"\x00"  # (no present value: the bit width alone)
    if size <= 1:
        return b"\x00" + _varint(n << 1)
    width, code = (8, "B") if size <= 0x100 else (16, "H") if size <= 0x10000 else (32, "I")
    values = array(code, indexes)
    pad = -n % 8
    if pad:
        values.extend(bytes(pad))
    if _BIG_ENDIAN and width > 8:
        values.byteswap()
    return bytes((width,)) + _varint(((len(values) >> 3) << 1) | 1) + values.tobytes()


def _plain(kind: str, values: Sequence[Any]) -> bytes:
    """PLAIN values (a null's place, which no row refers to, holds a zero or an empty string)."""
    physical, code, _, _ = TYPES[kind]
    if physical == _BYTE_ARRAY:
        if len(_ENCODED) > _ENCODED_MAX:
            _ENCODED.clear()
        return b"".join(map(_ENCODED.__getitem__, values))
    if physical == _BOOLEAN:
        return _bits(bytes(map(truth, values)))
    assert code is not None
    plain = array(code, [0 if v is None else v for v in values] if None in values else values)
    if _BIG_ENDIAN:
        plain.byteswap()
    return plain.tobytes()


class _Encoded(dict):  # type: ignore[type-arg]
    """Strings and bytes to their PLAIN form (4-byte length, bytes), each encoded once while remembered."""

    def __missing__(self, value: Any) -> bytes:
        raw = b"" if value is None else value.encode() if isinstance(value, str) else bytes(value)
        plain = self[value] = struct.pack("<I", len(raw)) + raw
        return plain


_ENCODED = _Encoded()
_ENCODED_MAX = 1 << 14  # (entries: a few MB at most, even with long EDTs)


def pick(indexes: Sequence[int], table: Sequence[Any]) -> tuple[Any, ...]:
    """``tuple(table[i] for i in indexes)`` in C."""
    if len(indexes) == 1:
        return (table[indexes[0]],)
    return itemgetter(*indexes)(table) if indexes else ()


# ---------------------------------------------------------------------------------------------------- the writer


class _Compressor:
    def __init__(self, name: str) -> None:
        self.codec = _UNCOMPRESSED
        self._zstd: Any = None
        if name == "none":
            return
        if name not in ("zstd", "gzip"):
            raise ValueError(f"unknown compression {name!r} (zstd, gzip or none)")
        if name == "zstd":
            try:
                import zstandard
            except ImportError:
                name = "gzip"  # (the standard library's, when zstandard is not installed)
            else:
                self._zstd = zstandard.ZstdCompressor(level=3)
                self.codec = _ZSTD
                return
        self.codec = _GZIP

    def __call__(self, data: bytes) -> bytes:
        if self.codec == _ZSTD:
            return bytes(self._zstd.compress(data))
        if self.codec == _GZIP:
            z = zlib.compressobj(1, zlib.DEFLATED, 31)  # (wbits 31: the gzip format Parquet's GZIP is)
            return z.compress(data) + z.flush()
        return data


class ParquetFileWriter:
    """Writes row groups of :class:`Column` s to ``path``; :meth:`close` completes the file (footer). Raises
    ``OSError`` when the file cannot be written."""

    def __init__(
        self, path: str | os.PathLike[str], columns: Sequence[Column], *, compression: str = "zstd",
        created_by: str = "echonet",
    ) -> None:  # fmt: skip
        self.columns = tuple(columns)
        self._compress = _Compressor(compression)
        self.codec = {_UNCOMPRESSED: "none", _GZIP: "gzip", _ZSTD: "zstd"}[self._compress.codec]
        self._created_by = created_by
        self._row_groups: list[dict[int, Any]] = []
        self._rows = 0
        self._file: BinaryIO = open(path, "wb")  # noqa: SIM115 (closed in close)
        self._file.write(_MAGIC)
        self._offset = len(_MAGIC)

    def _write(self, data: bytes) -> None:
        self._file.write(data)
        self._offset += len(data)

    def _page(self, page_type: int, body: bytes, header: dict[int, Any]) -> tuple[int, int]:
        """Write one page; (its offset, its uncompressed size with the page header: the compressed size is its
        extent in the file)."""
        packed = self._compress(body)
        fields: dict[int, Any] = {1: page_type, 2: len(body), 3: len(packed)}
        fields.update(header)
        head = _struct(fields)
        offset = self._offset
        self._write(head)
        self._write(packed)
        return offset, len(head) + len(body)

    def write_row_group(self, data: Sequence[tuple[Sequence[Any], Sequence[int]]]) -> None:
        """One row group: per column (in schema order), its dictionary and the index of each row into it."""
        if len(data) != len(self.columns):
            raise ValueError("one (dictionary, indexes) pair per column")
        rows = len(data[0][1])
        if not rows:
            return
        chunks = []
        total = 0  # (uncompressed bytes of the row group; the compressed ones are its extent in the file)
        start = self._offset
        # Indexes are known by their ids, which stay theirs until the row group is written: each is a list of
        # ``data`` or one that ``levels_of`` holds.
        encoded: dict[tuple[int, int], bytes] = {}  # (id of a row's indexes, dictionary size) -> their encoding
        # (id of a row's indexes, entries present) -> (the definition levels, the present rows' indexes)
        levels_of: dict[tuple[int, bytes], tuple[bytes, Sequence[int]]] = {}
        all_present = _levels(_ALL_PRESENT, rows)
        for column, (dictionary, indexes) in zip(self.columns, data, strict=True):
            if len(indexes) != rows:
                raise ValueError(f"column {column.name}: {len(indexes)} rows, not {rows}")
            kind = column.type
            physical = TYPES[kind][0]
            levels, defined = all_present, indexes
            if None in dictionary:
                present = bytes(map(is_not, dictionary, repeat(None)))
                found = levels_of.get((id(indexes), present))
                if found is None:
                    picked = bytes(pick(indexes, present))
                    found = (all_present, indexes)  # (no row is null: as without a null in the dictionary)
                    if 0 in picked:
                        found = (_levels(picked, rows), list(compress(indexes, picked)))
                    levels_of[id(indexes), present] = found
                levels, defined = found
            dict_offset = None
            used = 0
            if physical == _BOOLEAN:  # (no dictionary for booleans: the present values, plain)
                values = levels + _plain(kind, pick(defined, dictionary))
                encodings = [_PLAIN, _RLE]
                encoding = _PLAIN
            else:
                dict_offset, used = self._page(
                    _DICTIONARY_PAGE, _plain(kind, dictionary), {7: {1: len(dictionary), 2: _PLAIN}}
                )
                packed_indexes = encoded.get((id(defined), len(dictionary)))
                if packed_indexes is None:
                    packed_indexes = encoded[id(defined), len(dictionary)] = _indexes(defined, len(dictionary))
                values = levels + packed_indexes
                encodings = [_PLAIN, _RLE, _RLE_DICTIONARY]
                encoding = _RLE_DICTIONARY
            data_offset, size = self._page(_DATA_PAGE, values, {5: {1: rows, 2: encoding, 3: _RLE, 4: _RLE}})
            used += size
            total += used
            first = data_offset if dict_offset is None else dict_offset  # (the column chunk's first page)
            meta = {
                1: physical,
                2: ("list", "i32", encodings),
                3: ("list", "binary", [column.name]),
                4: self._compress.codec,
                5: ("i64", rows),
                6: ("i64", used),
                7: ("i64", self._offset - first),
                9: ("i64", data_offset),
                11: None if dict_offset is None else ("i64", dict_offset),
            }
            chunks.append({2: ("i64", first), 3: meta})
        group = {1: ("list", "struct", chunks), 2: ("i64", total), 3: ("i64", rows), 5: ("i64", start)}
        group[6] = ("i64", self._offset - start)
        self._row_groups.append(group)
        self._rows += rows

    def close(self) -> None:
        """Write the footer and close the file."""
        if self._file.closed:
            return
        schema = [{4: "schema", 5: len(self.columns)}]
        for column in self.columns:
            physical, _, converted, logical = TYPES[column.type]
            element: dict[int, Any] = {1: physical, 3: _OPTIONAL, 4: column.name}
            if converted is not None:
                element[6] = converted
            if logical is not None:
                element[10] = {logical[0]: logical[1]}
            schema.append(element)
        meta = {1: 1, 2: ("list", "struct", schema), 3: ("i64", self._rows), 4: ("list", "struct", self._row_groups)}
        meta[6] = self._created_by
        footer = _struct(meta)
        try:
            self._write(footer + struct.pack("<I", len(footer)) + _MAGIC)
        finally:
            self._file.close()

    def abort(self) -> None:
        """Close the file without a footer (an incomplete file that no reader takes for a whole one)."""
        self._file.close()
