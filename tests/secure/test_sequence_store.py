"""Sender sequence numbers persisted in chunks: restarts, crashes (kill -9), file hygiene, exhaustion."""

from __future__ import annotations

import os
import signal
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from secure.errors import SecureUsageError, SequenceExhaustedError, SequenceStoreError
from secure.records.framing import MAX_PIV
from secure.records.sequence import MemorySequence, SequenceStore

REPO = Path(__file__).resolve().parents[2]


def stored_bound(path: Path) -> int:
    magic, version, bound = path.read_text().split()
    assert (magic, version) == ("echonet-da-seq", "1")
    return int(bound)


def test_memory_sequence_counts_up_and_stops_at_the_limit() -> None:
    seq = MemorySequence(start=3, limit=5)
    assert [seq.next(), seq.next(), seq.next()] == [3, 4, 5]
    assert seq.remaining() == 0
    with pytest.raises(SequenceExhaustedError):
        seq.next()
    with pytest.raises(SequenceExhaustedError):
        seq.next()
    with pytest.raises(SecureUsageError):
        MemorySequence(limit=MAX_PIV + 1)


def test_a_new_store_starts_at_zero_and_persists_the_chunk_bound_before_use(tmp_path: Path) -> None:
    path = tmp_path / "peer.seq"
    with SequenceStore(path, chunk=100) as store:
        assert not path.exists()
        assert store.next() == 0
        assert stored_bound(path) == 100
        assert [store.next() for _ in range(99)] == list(range(1, 100))
        assert stored_bound(path) == 100
        assert store.next() == 100
        assert stored_bound(path) == 200


def test_store_file_is_private_even_under_a_permissive_umask(tmp_path: Path) -> None:
    path = tmp_path / "peer.seq"
    old = os.umask(0)
    try:
        with SequenceStore(path, chunk=4) as store:
            for _ in range(10):
                store.next()
    finally:
        os.umask(old)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert sorted(p.name for p in tmp_path.iterdir()) == ["peer.seq", "peer.seq.lock"]  # no temp files left


def test_a_restart_continues_after_the_persisted_bound(tmp_path: Path) -> None:
    path = tmp_path / "peer.seq"
    with SequenceStore(path, chunk=10) as store:
        first = [store.next() for _ in range(3)]
    with SequenceStore(path, chunk=10) as store:
        second = [store.next() for _ in range(3)]
    assert first == [0, 1, 2]
    assert second == [10, 11, 12]  # the unused rest of the first chunk is skipped, never reused


def test_two_processes_cannot_draw_from_one_store(tmp_path: Path) -> None:
    path = tmp_path / "peer.seq"
    with SequenceStore(path) as store:
        store.next()
        with pytest.raises(SequenceStoreError):
            SequenceStore(path)
    with SequenceStore(path) as again:
        assert again.next() == 1024


def test_a_closed_store_hands_out_nothing(tmp_path: Path) -> None:
    store = SequenceStore(tmp_path / "peer.seq", chunk=8)
    store.next()
    store.close()
    with pytest.raises(SequenceStoreError):
        store.next()


@pytest.mark.parametrize(
    "content",
    [b"", b"garbage\n", b"echonet-da-seq 2 10\n", b"echonet-da-seq 1 -5\n", b"echonet-da-seq 1 10",
     b"echonet-da-seq 1 1099511627777\n"],
)  # fmt: skip
def test_a_corrupt_store_file_is_refused(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "peer.seq"
    path.write_bytes(content)
    with pytest.raises(SequenceStoreError):
        SequenceStore(path)
    SequenceStore(tmp_path / "other.seq").close()  # the failed open released its lock


def test_a_failed_reservation_hands_out_no_number(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "peer.seq"
    store = SequenceStore(path, chunk=5)
    real_replace = os.replace

    def failing_replace(src: str, dst: str) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", failing_replace)
    with pytest.raises(SequenceStoreError):
        store.next()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["peer.seq.lock"]  # temp file removed
    monkeypatch.setattr(os, "replace", real_replace)
    assert store.next() == 0
    assert stored_bound(path) == 5
    store.close()


def test_a_store_stops_below_two_to_the_forty(tmp_path: Path) -> None:
    path = tmp_path / "peer.seq"
    path.write_text(f"echonet-da-seq 1 {MAX_PIV - 1}\n")
    with SequenceStore(path, chunk=1024) as store:
        assert store.remaining() == 2
        assert store.next() == MAX_PIV - 1
        assert store.next() == MAX_PIV
        assert stored_bound(path) == MAX_PIV + 1
        with pytest.raises(SequenceExhaustedError):
            store.next()
    with SequenceStore(path) as store, pytest.raises(SequenceExhaustedError):
        store.next()


def test_invalid_store_parameters_are_usage_errors(tmp_path: Path) -> None:
    with pytest.raises(SecureUsageError):
        SequenceStore(tmp_path / "a.seq", chunk=0)
    with pytest.raises(SecureUsageError):
        SequenceStore(tmp_path / "a.seq", limit=MAX_PIV + 1)


# ------------------------------------------------------------------------------------------------ kill -9

CHILD = r"""
import sys
from secure.records.framing import decode
from secure.records.oscore import SecurityContext
from secure.records.sequence import SequenceStore

store = SequenceStore(sys.argv[1], chunk=int(sys.argv[2]))
ctx = SecurityContext(bytes(range(16)), sender_id=b"\x01", recipient_id=b"\x02", now=0.0, sequence=store)
frame = bytes.fromhex("1081000105ff01027d0162018000")
write = sys.stdout.write
flush = sys.stdout.flush
while True:
    write(f"{decode(ctx.protect(frame, 0.0)).piv}\n")
    flush()
"""


def run_and_kill(path: Path, chunk: int, lines_before_kill: int) -> list[int]:
    """Start a protecting process, SIGKILL it once it printed ``lines_before_kill`` partial IVs; return all
    it printed (including what was still in the pipe)."""
    env = dict(os.environ, PYTHONPATH=str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    proc = subprocess.Popen(
        [sys.executable, "-c", CHILD, str(path), str(chunk)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
    )
    assert proc.stdout is not None and proc.stderr is not None
    lines: list[bytes] = []
    try:
        while len(lines) < lines_before_kill:
            line = proc.stdout.readline()
            if not line:
                raise AssertionError("child stopped early: " + proc.stderr.read().decode(errors="replace"))
            lines.append(line)
    finally:
        proc.send_signal(signal.SIGKILL)
        rest = proc.stdout.read()
        proc.wait()
        proc.stdout.close()
        proc.stderr.close()
    assert proc.returncode == -signal.SIGKILL
    lines += rest.splitlines(keepends=True)
    return [int(line) for line in lines if line.endswith(b"\n")]


def test_no_partial_iv_repeats_across_kill_9_restarts(tmp_path: Path) -> None:
    path = tmp_path / "sender.seq"
    seen: list[int] = []
    for run, count in enumerate((700, 1, 1500, 333)):
        pivs = run_and_kill(path, chunk=64, lines_before_kill=count)
        assert len(pivs) >= count
        assert pivs == sorted(set(pivs)), "partial IVs within one run must strictly increase"
        if seen:
            assert pivs[0] > max(seen), f"run {run} restarted at {pivs[0]}, at or below {max(seen)}"
        assert stored_bound(path) > pivs[-1]
        seen += pivs
    assert len(seen) == len(set(seen))
