"""The pure-Python Parquet writer (:mod:`echonet.capture.parquet_file`) against two independent readers, pyarrow and
DuckDB: random tables (every column type, nulls, dictionaries with unused and repeated entries, one to many row
groups, every compression) read back value for value."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from echonet.capture.parquet_file import TYPES, Column, ParquetFileWriter

pq = pytest.importorskip("pyarrow.parquet", reason="pyarrow (a test dependency) is not installed")
duckdb = pytest.importorskip("duckdb", reason="duckdb (the parquet extra) is not installed")

_VALUES = {
    "string": st.text(max_size=12),
    "binary": st.binary(max_size=12),
    "int64": st.integers(-(2**63), 2**63 - 1),
    "int32": st.integers(-(2**31), 2**31 - 1),
    "int16": st.integers(-(2**15), 2**15 - 1),
    "float64": st.floats(allow_nan=False),
    "bool": st.booleans(),
    "timestamp_us_utc": st.integers(-(2**50), 2**50),
}
_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)


@st.composite
def tables(draw: st.DrawFn) -> tuple[list[Column], list[list[tuple[list, list[int]]]]]:
    kinds = draw(st.lists(st.sampled_from(sorted(TYPES)), min_size=1, max_size=6))
    columns = [Column(f"c{i}", kind) for i, kind in enumerate(kinds)]
    groups = []
    for _ in range(draw(st.integers(1, 3))):
        rows = draw(st.integers(1, 40))
        group = []
        for kind in kinds:
            size = draw(st.sampled_from([1, 2, 3, 17, 300]))  # (300: 16-bit indexes)
            dictionary = draw(st.lists(st.none() | _VALUES[kind], min_size=size, max_size=size))
            indexes = draw(st.lists(st.integers(0, size - 1), min_size=rows, max_size=rows))
            group.append((dictionary, indexes))
        groups.append(group)
    return columns, groups


def _expected(kind: str, value: object) -> object:
    return value  # (timestamps compared as microseconds since the epoch: see _micros)


def _micros(value: object) -> object:
    if isinstance(value, dt.datetime):
        delta = value - _EPOCH
        return (delta.days * 86400 + delta.seconds) * 1_000_000 + delta.microseconds
    return value


@pytest.mark.parametrize("compression", ["none", "gzip", "zstd"])
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(table=tables())
def test_random_tables_read_back_by_pyarrow_and_duckdb(tmp_path: Path, compression: str, table) -> None:
    columns, groups = table
    path = tmp_path / f"t-{compression}.parquet"
    writer = ParquetFileWriter(path, columns, compression=compression)
    for group in groups:
        writer.write_row_group(group)
    writer.close()
    expected = [
        tuple(_expected(c.type, d[ix[r]]) for c, (d, ix) in zip(columns, group, strict=True))
        for group in groups
        for r in range(len(group[0][1]))
    ]
    meta = pq.ParquetFile(path).metadata
    assert meta.num_row_groups == len(groups) and meta.num_rows == len(expected)
    by_arrow = [tuple(_micros(v) for v in row.values()) for row in pq.read_table(path).to_pylist()]
    by_duckdb = [tuple(_micros(v) for v in row) for row in duckdb.sql(f"SELECT * FROM '{path}'").fetchall()]
    for got in (by_arrow, by_duckdb):
        assert len(got) == len(expected)
        for g, e in zip(got, expected, strict=True):
            for gv, ev in zip(g, e, strict=True):
                assert gv == ev


def test_schema_types_as_the_readers_see_them(tmp_path: Path) -> None:
    columns = [Column(kind, kind) for kind in sorted(TYPES)]
    path = tmp_path / "types.parquet"
    writer = ParquetFileWriter(path, columns)
    writer.write_row_group([([None], [0]) for _ in columns])
    writer.close()
    schema = pq.read_schema(path)
    assert {f.name: str(f.type) for f in schema} == {
        "binary": "binary",
        "bool": "bool",
        "float64": "double",
        "int16": "int16",
        "int32": "int32",
        "int64": "int64",
        "string": "string",
        "timestamp_us_utc": "timestamp[us, tz=UTC]",
    }
    assert all(f.nullable for f in schema)
    kinds = dict(duckdb.sql(f"SELECT column_name, column_type FROM (DESCRIBE SELECT * FROM '{path}')").fetchall())
    assert kinds["int16"] == "SMALLINT" and kinds["timestamp_us_utc"] == "TIMESTAMP WITH TIME ZONE"


def test_misuse_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="unknown column type"):
        Column("x", "decimal")
    with pytest.raises(ValueError, match="unknown compression"):
        ParquetFileWriter(tmp_path / "x.parquet", [Column("a", "int64")], compression="lzma")
    writer = ParquetFileWriter(tmp_path / "y.parquet", [Column("a", "int64"), Column("b", "int64")])
    with pytest.raises(ValueError, match="one"):
        writer.write_row_group([([1], [0])])
    with pytest.raises(ValueError, match="rows"):
        writer.write_row_group([([1], [0]), ([1], [0, 0])])
    writer.close()
    with pytest.raises(OSError):
        ParquetFileWriter(tmp_path / "missing" / "z.parquet", [Column("a", "int64")])


def test_an_aborted_file_is_not_taken_for_a_whole_one(tmp_path: Path) -> None:
    path = tmp_path / "cut.parquet"
    writer = ParquetFileWriter(path, [Column("a", "int64")])
    writer.write_row_group([([1, 2], [0, 1])])
    writer.abort()
    with pytest.raises(Exception):  # noqa: B017 (each reader has its own error)
        pq.read_table(path)
    with pytest.raises(duckdb.Error):
        duckdb.sql(f"SELECT * FROM '{path}'").fetchall()
