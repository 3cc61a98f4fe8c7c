"""``echonet decode --pcap FILE... --parquet OUT``: one row per property (frame, time, addresses, ESV, EPC, name, raw
EDT, typed value), in row groups; checked with the real DuckDB, and ``echonet query``."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from echonet.pcap import write_capture

from ..conftest import ROOT
from .test_summary import scenario

duckdb = pytest.importorskip("duckdb", reason="the parquet extra (duckdb) is not installed")
pq = pytest.importorskip("pyarrow.parquet", reason="the parquet extra (pyarrow) is not installed")

SAMPLES = [ROOT / "examples" / "captures" / "sample.pcap", ROOT / "examples" / "captures" / "sample.pcapng"]


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "echonet", *args], capture_output=True, text=True, cwd=ROOT, timeout=180
    )


def _records(pcap: Path) -> list[dict]:
    out = _cli("decode", "--pcap", str(pcap), "--json")
    assert out.returncode == 0, out.stderr
    return [json.loads(line) for line in out.stdout.splitlines()]


def test_rows_match_decode_json_property_by_property(tmp_path: Path) -> None:
    pcap = tmp_path / "s.pcap"
    write_capture(pcap, scenario())
    out = tmp_path / "s.parquet"
    run = _cli("decode", "--pcap", str(pcap), *map(str, SAMPLES), "--parquet", str(out))
    assert run.returncode == 0, run.stderr
    table = pq.read_table(out).to_pylist()  # (in the order written)
    cols = ("capture", "epc", "half", "edt", "value", "valid", "number", "unit", "esv", "error")
    got = [tuple(r[c] for c in cols) for r in table]
    got = [(*r[:6], r[6] if r[7] is not None else None, *r[7:]) for r in got]  # numbers with a unit
    expected = []
    for source in (pcap, *SAMPLES):
        for rec in _records(source):
            frame = rec.get("frame")
            if frame is None:
                expected.append((str(source), None, None, None, None, None, None, None, None, rec["error"]))
                continue
            halves = [(None, frame.get("properties", []))]
            if "get_properties" in frame:
                halves = [("set", frame["properties"]), ("get", frame["get_properties"])]
            if not any(props for _, props in halves):
                expected.append((str(source), None, None, None, None, None, None, None, frame.get("esv"), None))
            for half, props in halves:
                for p in props:
                    value = json.dumps(p["value"], ensure_ascii=False, separators=(",", ":")) if "value" in p else None
                    number = p["value"] if "unit" in p and isinstance(p.get("value"), int | float) else None
                    expected.append((str(source), int(p["epc"], 16), half, bytes.fromhex(p["edt"]),
                                     value, p.get("valid"), number, p.get("unit"), frame["esv"], None))  # fmt: skip

    assert got == expected


def test_repeated_frames_are_the_rows_of_decode_json(tmp_path: Path) -> None:
    # the command line and the writer remember frames by their bytes after the TID (polls repeat): every row as
    # decode --json has it, TIDs included, across row groups
    import sys as _sys

    _sys.path.insert(0, str(ROOT / "tools"))
    try:
        from bench_capture import make_capture
    finally:
        _sys.path.pop(0)
    pcap = tmp_path / "poll.pcap"
    make_capture(pcap, 3000)
    out = tmp_path / "poll.parquet"
    run = _cli("decode", "--pcap", str(pcap), "--parquet", str(out))
    assert run.returncode == 0, run.stderr
    got = [(r["frame"], r["tid"], r["esv"], r["epc"], r["edt"], r["value"]) for r in pq.read_table(out).to_pylist()]
    expected = []
    for n, rec in enumerate(_records(pcap), 1):
        frame = rec["frame"]
        for p in frame["properties"]:
            value = json.dumps(p["value"], ensure_ascii=False, separators=(",", ":")) if "value" in p else None
            expected.append((n, frame["tid"], frame["esv"], int(p["epc"], 16), bytes.fromhex(p["edt"]), value))
    assert got == expected and len({r[1] for r in got}) > 1000


def test_counts_and_values_with_duckdb(tmp_path: Path) -> None:
    pcap = tmp_path / "s.pcap"
    write_capture(pcap, scenario())
    out = tmp_path / "s.parquet"
    assert _cli("decode", "--pcap", str(pcap), "--parquet", str(out)).returncode == 0
    con = duckdb.connect()
    table = f"read_parquet('{out}')"
    assert con.execute(f"SELECT count(DISTINCT frame) FROM {table}").fetchone() == (len(scenario()),)
    assert con.execute(f"SELECT count(*) FROM {table} WHERE error IS NOT NULL").fetchone() == (1,)
    assert con.execute(f"SELECT count(*) FROM {table} WHERE esv = 'Get' AND epc = 228").fetchone() == (2,)
    assert con.execute(
        f"SELECT half, count(*) FROM {table} WHERE esv = 'SetGet' GROUP BY half ORDER BY half"
    ).fetchall() == [
        ("get", 1),
        ("set", 1),
    ]
    assert con.execute(
        f"SELECT number, unit FROM {table} WHERE esv = 'Get_Res' AND epc = 226 AND seoj = '027D01'"
    ).fetchall() == [(4096.0, "Wh")]
    assert con.execute(f"SELECT value FROM {table} WHERE esv = 'INF' ORDER BY time").fetchall() == [
        ('"off"',),  # 0x31
        ('"on"',),  # 0x30
    ]
    first = con.execute(f"SELECT time FROM {table} WHERE frame = 1").fetchone()[0]
    assert first.timestamp() == pytest.approx(scenario()[0].time)


def test_row_groups_keep_memory_bounded(tmp_path: Path) -> None:
    from echonet.capture.parquet import ParquetWriter
    from echonet.capture.stream import decode_datagrams
    from echonet.spec.registry import default_registry

    out = tmp_path / "g.parquet"
    writer = ParquetWriter(out, default_registry(), row_group=5)
    for item in decode_datagrams(scenario() * 3):
        writer.add(item)
        assert writer.held < 5  # never more than one row group held
    writer.close()
    meta = pq.ParquetFile(out).metadata
    assert meta.num_row_groups >= meta.num_rows // 5
    assert all(meta.row_group(i).num_rows <= 5 for i in range(meta.num_row_groups))


def test_small_row_groups_and_caches_write_the_same_rows(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # a datagram split over two row groups, and the distinct values forgotten after each: the same rows as in one go
    from echonet.capture import parquet
    from echonet.capture.stream import decode_datagrams
    from echonet.spec.registry import default_registry

    def write(path: Path, row_group: int) -> list[dict]:
        writer = parquet.ParquetWriter(path, default_registry(), row_group=row_group)
        for n, item in enumerate(decode_datagrams(scenario() * 3)):
            writer.capture = f"c{n // 7}"  # (the capture changes within a row group)
            writer.add(item)
        writer.close()
        return pq.read_table(path).to_pylist()

    whole = write(tmp_path / "whole.parquet", 1 << 20)
    monkeypatch.setattr(parquet, "CACHE", 2)
    for row_group in (1, 2, 3, 7):
        assert write(tmp_path / f"g{row_group}.parquet", row_group) == whole
    assert any(r["error"] for r in whole) and {r["half"] for r in whole} >= {"set", "get", None}


def test_query_command(tmp_path: Path) -> None:
    out = tmp_path / "q.parquet"
    assert _cli("decode", "--pcap", str(SAMPLES[0]), "--parquet", str(out)).returncode == 0
    res = _cli(
        "query", str(out), "SELECT esv, count(DISTINCT frame) AS n FROM capture GROUP BY esv ORDER BY esv", "--json"
    )
    assert res.returncode == 0, res.stderr
    rows = [json.loads(line) for line in res.stdout.splitlines()]
    assert {"esv": "Get", "n": 6} in rows
    bad = _cli("query", str(out), "SELECT nope FROM capture")
    assert bad.returncode == 1 and bad.stderr.startswith("echonet: query failed") and bad.stderr.count("\n") == 1
    missing = _cli("query", str(tmp_path / "absent.parquet"), "SELECT 1")
    assert missing.returncode == 2
