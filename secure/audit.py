"""Tamper-evident audit log: JSON lines, hash-chained, anchored, fsynced, and guarded against secrets.

Record format (one line each, canonical JSON: sorted keys, no spaces, ASCII only)::

    {"event":"consent_granted","fields":{...},"hash":"<64 hex>","prev":"<64 hex>","seq":1,"time":1700000000.0}

* ``seq`` counts from 1 and equals the line number.
* ``prev`` is the ``hash`` of the previous record (64 zeros for the first one).
* ``hash`` = SHA-256 over the canonical JSON encoding of the record *without* its ``hash`` member.

Any edit, insertion, deletion or reordering breaks the chain at the first affected line. Deleting records at
the *end* would leave a valid chain, so every append also rewrites a small anchor file ``<log>.head``
atomically (``{"count": n, "hash": "<hash of record n>", "version": 1}``), after the record itself has been
fsynced. :func:`verify` requires the log to reach the anchor. The only window where they disagree is a crash
between the two writes, which leaves exactly one record beyond the anchor: that is reported as
``unanchored=1`` but not as tampering, and the next append re-anchors.

Limits of the scheme (no secret key is involved, by design, so anyone can verify): someone who can write both
files can rewrite the whole history consistently. Copy the anchor hash that :func:`verify` reports off the
machine now and then (the CLI prints it) to pin the history up to that point.

The guard (:func:`check_fields`) refuses field names that look like secrets or plaintext (tokens such as
``key``, ``secret``, ``plaintext``, ``plain``, ``password``, ``psk``, ``prk``, ``edt``, ``payload``; so
``edt_plain``, ``master_secret``, ``privateKey`` and ``public_key`` are refused too - pin keys by
``fingerprint``), and refuses ``bytes``-like values anywhere, so secrets and frame contents never reach the
log.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import math
import os
import re
import threading
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import TypeAlias

from secure import store
from secure.errors import AuditError, SecretFieldError

__all__ = [
    "GENESIS",
    "AuditEvent",
    "AuditLog",
    "AuditRecord",
    "JsonValue",
    "VerifyResult",
    "canonical_json",
    "check_fields",
    "head_path",
    "record_hash",
    "verify",
]

JsonValue: TypeAlias = "str | int | float | bool | list[JsonValue] | dict[str, JsonValue] | None"

GENESIS = "0" * 64
_RECORD_KEYS = frozenset({"seq", "time", "event", "fields", "prev", "hash"})
_MAX_STRING = 1024
_MAX_DEPTH = 4
_OPEN_LOG = os.O_WRONLY | os.O_APPEND | os.O_CREAT | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_NOFOLLOW", 0)

_SECRET_TOKENS = frozenset(
    {
        "key",
        "keys",
        "privkey",
        "secret",
        "secrets",
        "plaintext",
        "plain",
        "cleartext",
        "password",
        "passwd",
        "passphrase",
        "private",
        "psk",
        "prk",
        "ikm",
        "okm",
        "seed",
        "edt",
        "payload",
    }
)
_SECRET_SUBSTRINGS = ("secret", "plaintext", "password", "passphrase", "privkey", "privatekey", "masterkey")


class AuditEvent(StrEnum):
    HANDSHAKE_OK = "handshake_ok"
    HANDSHAKE_FAILED = "handshake_failed"
    REPLAY = "replay"
    INTEGRITY_FAILURE = "integrity_failure"
    POLICY_DENIED = "policy_denied"
    DOWNGRADE_DROPPED = "downgrade_dropped"
    ALLOWLIST_ADDED = "allowlist_added"
    ALLOWLIST_REMOVED = "allowlist_removed"
    CONSENT_GRANTED = "consent_granted"
    CONSENT_REVOKED = "consent_revoked"
    REKEY = "rekey"
    LEGACY_USE = "legacy_use"
    SESSION_CLOSED = "session_closed"
    IDENTITY_CHECKED = "identity_checked"


@dataclass(frozen=True)
class AuditRecord:
    seq: int
    time: float
    event: str
    fields: Mapping[str, JsonValue]
    prev: str
    hash: str


@dataclass(frozen=True)
class VerifyResult:
    """Outcome of :func:`verify`. ``first_bad_line`` is 1-based (for truncation: the first missing line)."""

    ok: bool
    records: int
    first_bad_line: int | None = None
    reason: str | None = None
    head: str = GENESIS
    unanchored: int = 0


def canonical_json(value: object) -> bytes:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=True, allow_nan=False).encode("ascii")


def record_hash(body: Mapping[str, object]) -> str:
    """SHA-256 (hex) over the canonical JSON of a record without its ``hash`` member."""
    return hashlib.sha256(canonical_json({k: v for k, v in body.items() if k != "hash"})).hexdigest()


def head_path(path: str | os.PathLike[str]) -> Path:
    log = Path(path)
    return log.with_name(log.name + ".head")


def _name_tokens(name: str) -> list[str]:
    snake = re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", name).lower()
    return [t for t in re.split(r"[^a-z0-9]+", snake) if t]


def _secret_name(name: str) -> bool:
    lowered = name.lower()
    return any(t in _SECRET_TOKENS for t in _name_tokens(name)) or any(s in lowered for s in _SECRET_SUBSTRINGS)


def _clean(value: object, where: str, depth: int) -> JsonValue:
    if depth > _MAX_DEPTH:
        raise AuditError(f"audit field {where} is nested too deeply")
    if isinstance(value, bytes | bytearray | memoryview):
        raise SecretFieldError(f"audit field {where} holds raw bytes", advice="log a fingerprint or a length instead")
    if value is None or isinstance(value, bool | int):
        return value
    if isinstance(value, float):
        if not math.isfinite(value):
            raise AuditError(f"audit field {where} is not a finite number")
        return value
    if isinstance(value, str):
        if len(value) > _MAX_STRING:
            raise AuditError(f"audit field {where} is longer than {_MAX_STRING} characters")
        return value
    if isinstance(value, list | tuple | frozenset | set):
        items = sorted(value) if isinstance(value, frozenset | set) else list(value)
        return [_clean(item, f"{where}[{i}]", depth + 1) for i, item in enumerate(items)]
    if isinstance(value, Mapping):
        result: dict[str, JsonValue] = {}
        for name, item in value.items():
            if not isinstance(name, str):
                raise AuditError(f"audit field names must be strings ({where})")
            if _secret_name(name):
                raise SecretFieldError(f"audit field {where}.{name} looks like a secret and was refused")
            result[name] = _clean(item, f"{where}.{name}", depth + 1)
        return result
    raise AuditError(f"audit field {where} has unsupported type {type(value).__name__}")


def check_fields(fields: Mapping[str, object] | None) -> dict[str, JsonValue]:
    """Validate and copy audit fields; raise :class:`SecretFieldError` for anything secret-looking."""
    if fields is None:
        return {}
    cleaned = _clean(fields, "fields", 0)
    assert isinstance(cleaned, dict)
    return cleaned


def _parse_record(line: bytes) -> dict[str, object] | None:
    try:
        value = json.loads(line.decode("ascii"))
    except (UnicodeDecodeError, json.JSONDecodeError):
        return None
    return value if isinstance(value, dict) else None


def _read_head(path: Path) -> tuple[int, str] | None:
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise AuditError(f"cannot read {path}: {exc.strerror}") from None
    value = _parse_record(data.strip())
    if value is None:
        return (-1, "")
    count, digest = value.get("count"), value.get("hash")
    if type(count) is not int or not isinstance(digest, str):
        return (-1, "")
    return count, digest


def _write_head(path: Path, count: int, digest: str) -> None:
    store.atomic_write(path, canonical_json({"version": 1, "count": count, "hash": digest}) + b"\n")


def _last_line(path: Path) -> bytes | None:
    with open(path, "rb") as handle:
        end = handle.seek(0, os.SEEK_END)
        if end == 0:
            return None
        handle.seek(end - 1)
        if handle.read(1) != b"\n":
            raise AuditError(f"{path} ends with an incomplete record", advice="run 'audit verify' before appending")
        tail = b""
        pos = end - 1
        while True:
            newline = tail.rfind(b"\n")
            if newline >= 0:
                return tail[newline + 1 :]
            if pos == 0:
                return tail
            step = min(65536, pos)
            pos -= step
            handle.seek(pos)
            tail = handle.read(step) + tail


class AuditLog:
    """Append-only writer. Safe across processes (``flock``) and threads; every append is fsynced."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self._path = Path(path)
        self._head = head_path(self._path)
        store.ensure_private_dir(self._path.parent)
        existed = self._path.exists()
        try:
            self._fd: int | None = os.open(self._path, _OPEN_LOG, store.FILE_MODE)
        except OSError as exc:
            raise AuditError(f"cannot open audit log {self._path}: {exc.strerror}") from None
        if not existed:
            store.fsync_dir(self._path.parent)
        self._lock = threading.Lock()
        self._known_size = -1
        self._seq = 0
        self._hash = GENESIS

    @property
    def path(self) -> Path:
        return self._path

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def __enter__(self) -> AuditLog:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    @contextlib.contextmanager
    def _locked(self) -> Iterator[int]:
        if self._fd is None:
            raise AuditError("audit log is closed")
        fd = self._fd
        with self._lock:
            fcntl.flock(fd, fcntl.LOCK_EX)
            try:
                yield fd
            finally:
                fcntl.flock(fd, fcntl.LOCK_UN)

    def _sync_tail(self, fd: int) -> None:
        size = os.fstat(fd).st_size
        if size == self._known_size:
            return
        line = _last_line(self._path)
        if line is None:
            self._seq, self._hash = 0, GENESIS
        else:
            record = _parse_record(line)
            if record is None or not isinstance(record.get("hash"), str) or type(record.get("seq")) is not int:
                raise AuditError(f"the last record of {self._path} is corrupt", advice="run 'audit verify'")
            if record_hash(record) != record["hash"]:
                raise AuditError(f"the last record of {self._path} fails its hash", advice="run 'audit verify'")
            seq, digest = record["seq"], record["hash"]
            assert isinstance(seq, int) and isinstance(digest, str)
            self._seq, self._hash = seq, digest
        self._known_size = size

    def append(self, event: AuditEvent | str, fields: Mapping[str, object] | None = None, *, now: float) -> AuditRecord:
        """Append one record (fsynced, then anchored). Refuses unknown events and secret-looking fields."""
        try:
            kind = AuditEvent(event)
        except ValueError:
            raise AuditError(f"unknown audit event type {event!r}") from None
        cleaned = check_fields(fields)
        if not math.isfinite(now):
            raise AuditError("audit time must be a finite number")
        with self._locked() as fd:
            self._sync_tail(fd)
            body: dict[str, object] = {
                "seq": self._seq + 1,
                "time": now,
                "event": kind.value,
                "fields": cleaned,
                "prev": self._hash,
            }
            digest = record_hash(body)
            line = canonical_json({**body, "hash": digest}) + b"\n"
            view = memoryview(line)
            while view:
                written = os.write(fd, view)
                view = view[written:]
            os.fsync(fd)
            self._seq += 1
            self._hash = digest
            self._known_size = os.fstat(fd).st_size
            _write_head(self._head, self._seq, digest)
        return AuditRecord(self._seq, now, kind.value, cleaned, str(body["prev"]), digest)


def verify(path: str | os.PathLike[str]) -> VerifyResult:
    """Check the whole chain and the anchor; report the first bad line (1-based) and why."""
    log = Path(path)
    try:
        data = log.read_bytes()
    except OSError as exc:
        raise AuditError(f"cannot read audit log {log}: {exc.strerror}") from None
    lines = data.split(b"\n")
    complete = lines[:-1]
    if lines[-1]:
        complete = lines
    previous = GENESIS
    for number, line in enumerate(complete, start=1):

        def bad(reason: str, number: int = number, previous: str = previous) -> VerifyResult:
            return VerifyResult(False, number - 1, number, reason, previous)

        if number == len(complete) and lines[-1]:
            return bad("incomplete last line (no newline)")
        record = _parse_record(line)
        if record is None:
            return bad("not a JSON object")
        if set(record) != _RECORD_KEYS:
            return bad("wrong set of members")
        if canonical_json(record) != line:
            return bad("not in canonical form (the line was edited)")
        if type(record["seq"]) is not int or record["seq"] != number:
            return bad(f"sequence number {record['seq']}, expected {number} (records deleted, inserted or moved)")
        if record["prev"] != previous:
            return bad("does not chain to the previous record")
        if record_hash(record) != record["hash"]:
            return bad("hash mismatch (the record was edited)")
        if record["event"] not in AuditEvent.__members__.values():
            return bad(f"unknown event type {record['event']!r}")
        digest = record["hash"]
        assert isinstance(digest, str)
        previous = digest
    count = len(complete)
    anchor = _read_head(head_path(log))
    if anchor is None:
        if count == 0:
            return VerifyResult(True, 0)
        return VerifyResult(False, count, None, f"anchor file {head_path(log).name} is missing", previous)
    anchored, anchored_hash = anchor
    if anchored < 0:
        return VerifyResult(False, count, None, f"anchor file {head_path(log).name} is corrupt", previous)
    if anchored > count:
        return VerifyResult(
            False,
            count,
            count + 1,
            f"log truncated: the anchor expects {anchored} records, found {count}",
            previous,
        )
    expected = GENESIS
    if anchored > 0:
        record = _parse_record(complete[anchored - 1])
        assert record is not None
        expected = str(record["hash"])
    if expected != anchored_hash:
        return VerifyResult(
            False, count, max(anchored, 1), "record does not match the anchor (rewritten history)", previous
        )
    if count - anchored > 1:
        return VerifyResult(
            False,
            count,
            anchored + 1,
            f"{count - anchored} records beyond the anchor (only one can come from a crash)",
            previous,
        )
    return VerifyResult(True, count, head=previous, unanchored=count - anchored)
