"""Tamper-evident audit log: JSON lines, hash-chained, keyed, anchored, fsynced, and guarded against secrets.

Record format (one line each, canonical JSON: sorted keys, no spaces, ASCII only)::

    {"event":"consent_granted","fields":{...},"hash":"<64 hex>","mac":"<64 hex>","prev":"<64 hex>","seq":1,
     "time":1700000000.0}

* ``seq`` counts from 1 and equals the line number (in a log that was rotated, it runs on across the files).
* ``prev`` is the ``hash`` of the previous record (64 zeros for the first one).
* ``hash`` = SHA-256 over the canonical JSON encoding of the record *without* its ``hash`` and ``mac`` members.
* ``mac`` (a *keyed* log) = HMAC-SHA-256 under the node's audit key (:class:`AuditKey`) over the record's ``hash``,
  so over the whole history up to and including the record. A log written without a key has no ``mac`` members
  (the format of earlier versions); a log that gets a key later keeps its unkeyed records as a prefix, which the
  first keyed record commits to.

Any edit, insertion, deletion or reordering breaks the chain at the first affected line; without the key nobody
can write a record, or a whole new history, that verifies. Deleting records at the *end* would leave a valid
chain, so every append also rewrites a small anchor file ``<log>.head`` atomically (``{"count": n, "hash": "<hash
of record n>", "mac": "<HMAC over both>", "version": 2}``, ``count`` being the ``seq`` of the record it names;
version 1 without ``mac`` for an unkeyed log), after the record itself has been fsynced. :func:`verify` requires
the log to reach the anchor. The only window where they disagree is a crash between the two writes, which leaves
exactly one record beyond the anchor: that is reported as ``unanchored=1`` but not as tampering (in a keyed log
that record's MAC must verify too), and the next append re-anchors.

The key file (``audit.key`` in the node's identity directory, mode 0o600, refused if group or others may read it)
also lists the logs it has keyed. So a keyed log that is deleted or emptied (with its anchor) is an error for
:func:`verify`, and the writer, finding it so when it opens the log (or finding the log shorter than its anchor,
or the anchor forged), starts by recording ``audit_tampered`` with what it found: the loss stays on record, and
such a log never verifies again (:func:`verify` reports that record). A record whose MAC does not verify is never
chained to: the writer goes on from the last authentic record, so a forged line stays where it is and
:func:`verify` reports it.

Rotation (:meth:`AuditLog.rotate`): the records move to ``<log>.<n>`` (the next free number, with their anchor)
and the log goes on empty, its first record chaining to the last rotated one (``seq`` runs on); a writer in another
process notices at its next record (the file it holds is no longer the log) and follows. :func:`verify` checks the
series oldest first, so a rotated file deleted, shortened or edited breaks it, and the key remembers the files it
rotated out.

What the scheme cannot detect (see docs/secure.md): anybody holding the key (root, the node's user) can rewrite
everything; a log and anchor put back to an *earlier* genuine state (both files saved before and restored) verify
as that state, so copy the head hash :func:`verify` reports off the machine now and then; deleting the key file as
well as the log loses the memory that a log existed; events the node never wrote (suppressed by the rate limit,
counted in its statistics, or lost while the disk was full) are not in it.

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
import hmac
import json
import math
import os
import re
import secrets
import threading
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import TypeAlias

from secure import store
from secure.errors import AuditError, SecretFieldError, StoreError

__all__ = [
    "GENESIS",
    "AuditEvent",
    "AuditKey",
    "AuditLog",
    "AuditRecord",
    "JsonValue",
    "VerifyResult",
    "canonical_json",
    "check_fields",
    "head_path",
    "record_hash",
    "rotated_files",
    "verify",
]

JsonValue: TypeAlias = "str | int | float | bool | list[JsonValue] | dict[str, JsonValue] | None"

GENESIS = "0" * 64
_RECORD_KEYS = frozenset({"seq", "time", "event", "fields", "prev", "hash"})
_KEYED_RECORD_KEYS = _RECORD_KEYS | {"mac"}
_RECORD_LABEL = b"echonet-audit-record-v1\x00"
_ANCHOR_LABEL = b"echonet-audit-anchor-v1\x00"
_KEY_VERSION = 1
_TAIL_PROBE = 65536
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
    CRL_UPDATED = "crl_updated"
    CRL_REJECTED = "crl_rejected"
    REKEY = "rekey"
    LEGACY_USE = "legacy_use"
    SESSION_CLOSED = "session_closed"
    IDENTITY_CHECKED = "identity_checked"
    AUDIT_TAMPERED = "audit_tampered"
    PEER_MOVED = "peer_moved"
    ROLE_DENIED = "role_denied"
    CERTIFICATION_WITHDRAWN = "certification_withdrawn"
    PAIRING_OK = "pairing_ok"
    PAIRING_FAILED = "pairing_failed"
    GROUP_KEY = "group_key"
    GROUP_REFUSED = "group_refused"


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
    """Outcome of :func:`verify`. ``first_bad_line`` is 1-based (for truncation: the first missing line).

    ``keyed``: the log's records carry MACs; ``authenticated``: they were checked with the key (a keyed log verified
    without its key is only checked as a chain); ``unkeyed_prefix``: records written before the log was keyed."""

    ok: bool
    records: int
    first_bad_line: int | None = None
    reason: str | None = None
    head: str = GENESIS
    unanchored: int = 0
    keyed: bool = False
    authenticated: bool = False
    unkeyed_prefix: int = 0
    file: str | None = None  # the file the first bad line is in (a rotated one, or the log)
    files: int = 1  # files checked: the log and those rotated out of it


def canonical_json(value: object) -> bytes:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=True, allow_nan=False).encode("ascii")


def record_hash(body: Mapping[str, object]) -> str:
    """SHA-256 (hex) over the canonical JSON of a record without its ``hash`` and ``mac`` members."""
    return hashlib.sha256(canonical_json({k: v for k, v in body.items() if k not in ("hash", "mac")})).hexdigest()


def head_path(path: str | os.PathLike[str]) -> Path:
    log = Path(path)
    return log.with_name(log.name + ".head")


# ------------------------------------------------------------------------------------------------ the key


class AuditKey:
    """The node's audit key: 32 random bytes in a private JSON file (mode 0o600; refused if group or others have
    any access), and the names of the logs it has keyed, so that a keyed log that disappears is noticed.

    :meth:`load_or_create` makes it on first use. The key never leaves this object (its ``repr`` shows the file
    only); :meth:`mac` is all that uses it."""

    def __init__(self, path: str | os.PathLike[str], secret: bytes, logs: tuple[str, ...] = ()) -> None:
        if len(secret) != 32:
            raise AuditError("an audit key is 32 bytes")
        self._path = Path(path)
        self._secret = secret
        self._logs = frozenset(logs)

    def __repr__(self) -> str:
        return f"AuditKey({str(self._path)!r})"

    @property
    def path(self) -> Path:
        return self._path

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> AuditKey:
        """Read a key file (refused when group or others may access it)."""
        file = Path(path)
        data = store.read_private(file)
        try:
            document = json.loads(data)
            if not isinstance(document, dict) or document.get("version") != _KEY_VERSION:
                raise ValueError("unsupported version")
            secret = bytes.fromhex(str(document["key"]))
            logs = document.get("logs", [])
            if not isinstance(logs, list) or not all(isinstance(n, str) for n in logs):
                raise ValueError("logs is not a list of names")
        except (KeyError, TypeError, ValueError, UnicodeDecodeError):
            raise AuditError(f"{file} is not a valid audit key file") from None
        return cls(file, secret, tuple(logs))

    @classmethod
    def load_or_create(cls, path: str | os.PathLike[str]) -> AuditKey:
        """The key in ``path``, made (32 random bytes, mode 0o600) if the file does not exist yet."""
        file = Path(path)
        if file.exists():
            return cls.load(file)
        with store.locked(file):
            if file.exists():
                return cls.load(file)
            key = cls(file, secrets.token_bytes(32))
            key.save()
        return key

    @property
    def keyed_logs(self) -> frozenset[str]:
        """The names of the logs this key has written to (see :meth:`log_name`)."""
        return self._logs

    def save(self) -> None:
        """Write the key file (atomically, mode 0o600)."""
        store.write_json(self._path, {"version": _KEY_VERSION, "key": self._secret.hex(), "logs": sorted(self._logs)})

    def mac(self, label: bytes, data: bytes) -> str:
        return hmac.new(self._secret, label + data, hashlib.sha256).hexdigest()

    def record_mac(self, digest: str) -> str:
        return self.mac(_RECORD_LABEL, digest.encode("ascii"))

    def anchor_mac(self, count: int, digest: str) -> str:
        return self.mac(_ANCHOR_LABEL, f"{count}:{digest}".encode("ascii"))

    def log_name(self, log: str | os.PathLike[str]) -> str:
        """How the key file names ``log``: its file name when it sits next to the key, else its absolute path."""
        path = Path(log).absolute()
        return path.name if path.parent == self._path.absolute().parent else str(path)

    def has_keyed(self, log: str | os.PathLike[str]) -> bool:
        """Whether this key has written to ``log`` (re-read from the file: another process may have)."""
        try:
            current = AuditKey.load(self._path)
        except (AuditError, StoreError):
            current = self
        self._logs = current.keyed_logs | self._logs
        return self.log_name(log) in self._logs

    def mark_keyed(self, log: str | os.PathLike[str]) -> None:
        name = self.log_name(log)
        with store.locked(self._path):
            current = AuditKey.load(self._path)
            self._logs = current.keyed_logs | self._logs | {name}
            self.save()


def _key_of(key: AuditKey | str | os.PathLike[str] | None) -> AuditKey | None:
    if key is None or isinstance(key, AuditKey):
        return key
    return AuditKey.load_or_create(key)


# ------------------------------------------------------------------------------------------------ records


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


def _read_head(path: Path) -> dict[str, object] | None:
    """The anchor document, ``{}`` when it is corrupt, ``None`` when it does not exist."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise AuditError(f"cannot read {path}: {exc.strerror}") from None
    value = _parse_record(data.strip())
    if value is None or type(value.get("count")) is not int or not isinstance(value.get("hash"), str):
        return {}
    return value


def _anchor_problem(anchor: dict[str, object], key: AuditKey | None) -> str | None:
    """Why the anchor cannot be trusted with ``key`` (``None``: it can)."""
    if not anchor:
        return "is corrupt"
    if key is None:
        return None
    mac = anchor.get("mac")
    count, digest = anchor["count"], anchor["hash"]
    assert isinstance(count, int) and isinstance(digest, str)
    if not isinstance(mac, str):
        return "has no MAC (written without the node's key)"
    if not hmac.compare_digest(mac, key.anchor_mac(count, digest)):
        return "does not verify with the node's key (forged)"
    return None


def _write_head(path: Path, count: int, digest: str, key: AuditKey | None) -> None:
    document: dict[str, object] = {"version": 1, "count": count, "hash": digest}
    if key is not None:
        document.update(version=2, mac=key.anchor_mac(count, digest))
    store.atomic_write(path, canonical_json(document) + b"\n")


def _authentic(record: dict[str, object] | None, line: bytes, key: AuditKey | None) -> bool | None:
    """Whether a line is a record that chains (canonical, its hash right): ``True`` keyed with a good MAC (or any
    such record without a key), ``None`` an unkeyed record under a key, ``False`` not a usable record."""
    if record is None or set(record) not in (_RECORD_KEYS, _KEYED_RECORD_KEYS) or canonical_json(record) != line:
        return False
    if type(record["seq"]) is not int or not isinstance(record["hash"], str) or record_hash(record) != record["hash"]:
        return False
    if key is None:
        return True
    mac = record.get("mac")
    if mac is None:
        return None
    return isinstance(mac, str) and hmac.compare_digest(mac, key.record_mac(record["hash"]))


def _tail(path: Path, key: AuditKey | None) -> tuple[int, str, bool]:
    """(seq, hash) of the record to chain to, and whether the file ends with a newline.

    Without a key: the last line (an incomplete or corrupt one is refused, as ever). With a key: the last
    authentic record; lines after it (forged, garbage, unkeyed after keyed ones) are left for :func:`verify`."""
    with open(path, "rb") as handle:
        size = handle.seek(0, os.SEEK_END)
        handle.seek(max(0, size - _TAIL_PROBE))
        data = handle.read()
        if key is not None and size > _TAIL_PROBE and data.endswith(b"\n"):
            # The common case: the last line is an authentic record (no need to read the rest).
            last = data[:-1].rsplit(b"\n", 1)
            if len(last) == 2 and _authentic(record := _parse_record(last[1]), last[1], key) and record is not None:
                return int(str(record["seq"])), str(record["hash"]), True
        if size > _TAIL_PROBE:
            handle.seek(0)
            data = handle.read()
    if not data:
        return 0, GENESIS, True
    ends = data.endswith(b"\n")
    lines = data.split(b"\n")
    if ends:
        lines.pop()
    if key is None:
        if not ends:
            raise AuditError(f"{path} ends with an incomplete record", advice="run 'audit verify' before appending")
        record = _parse_record(lines[-1])
        if record is None or not isinstance(record.get("hash"), str) or type(record.get("seq")) is not int:
            raise AuditError(f"the last record of {path} is corrupt", advice="run 'audit verify'")
        if record_hash(record) != record["hash"]:
            raise AuditError(f"the last record of {path} fails its hash", advice="run 'audit verify'")
        return int(str(record["seq"])), str(record["hash"]), ends
    unkeyed: tuple[int, str] | None = None
    for line in reversed(lines):
        record = _parse_record(line)
        verdict = _authentic(record, line, key)
        if verdict is False or record is None:
            continue
        here = (int(str(record["seq"])), str(record["hash"]))
        if verdict:
            return (*here, ends)
        if unkeyed is None:
            unkeyed = here  # the end of an unkeyed prefix, unless a keyed record comes before it
    if unkeyed is not None:
        return (*unkeyed, ends)
    return 0, GENESIS, ends


class AuditLog:
    """Append-only writer. Safe across processes (``flock``) and threads; every append is fsynced.

    ``key``: the node's :class:`AuditKey` (or the path of its file, made on first use): records and anchor carry
    MACs, and opening the log checks it against the anchor and the key's memory (see the module documentation).
    """

    def __init__(self, path: str | os.PathLike[str], *, key: AuditKey | str | os.PathLike[str] | None = None) -> None:
        self._path = Path(path)
        self._head = head_path(self._path)
        store.ensure_private_dir(self._path.parent)
        self._key = _key_of(key)
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
        self._marked = False
        if self._key is not None:
            try:
                self._open_keyed(existed)
            except BaseException:
                self.close()
                raise

    @property
    def path(self) -> Path:
        return self._path

    @property
    def keyed(self) -> bool:
        return self._key is not None

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
        with self._lock:
            while True:
                fd = self._fd
                assert fd is not None
                fcntl.flock(fd, fcntl.LOCK_EX)
                if self._is_current(fd):
                    break
                # Rotated (or removed) by another process: what we hold is no longer the log; open the log again.
                fcntl.flock(fd, fcntl.LOCK_UN)
                self._reopen()
            try:
                yield fd
            finally:
                fcntl.flock(fd, fcntl.LOCK_UN)

    def _is_current(self, fd: int) -> bool:
        try:
            named = os.stat(self._path)
        except FileNotFoundError:
            return False
        held = os.fstat(fd)
        return (named.st_dev, named.st_ino) == (held.st_dev, held.st_ino)

    def _reopen(self) -> None:
        old = self._fd
        try:
            self._fd = os.open(self._path, _OPEN_LOG, store.FILE_MODE)
        except OSError as exc:
            raise AuditError(f"cannot open audit log {self._path}: {exc.strerror}") from None
        if old is not None:
            os.close(old)
        self._known_size = -1

    def rotate(self, *, now: float | None = None) -> Path | None:
        """Move the log's records to ``<log>.<n>`` (the next free number) and go on in an empty ``<log>`` whose
        first record chains to the last rotated one; :func:`verify` checks the series. ``None``: nothing to rotate.
        (``now`` is unused; rotating writes no record.)"""
        del now
        with self._locked() as fd:
            self._sync_tail(fd)
            if os.fstat(fd).st_size == 0:
                return None
            taken = [int(f.name.rsplit(".", 1)[1]) for f in rotated_files(self._path)]
            target = self._path.with_name(f"{self._path.name}.{max(taken, default=0) + 1}")
            _write_head(self._head, self._seq, self._hash, self._key)  # the rotated file: anchored at its end
            os.rename(self._path, target)
            os.rename(self._head, head_path(target))
            fresh = os.open(self._path, _OPEN_LOG | os.O_EXCL, store.FILE_MODE)
            _write_head(self._head, self._seq, self._hash, self._key)  # the new file: anchored where it starts
            store.fsync_dir(self._path.parent)
            if self._key is not None:
                self._key.mark_keyed(target)
            old, self._fd = self._fd, fresh
            self._known_size = 0
        if old is not None:
            os.close(old)
        return target

    def _open_keyed(self, existed: bool) -> None:
        """What the writer finds when it opens a keyed log, recorded (``audit_tampered``) when it is wrong."""
        key = self._key
        assert key is not None
        with self._locked() as fd:
            self._sync_tail(fd)
            problem: str | None = None
            anchor = _read_head(self._head)
            keyed_before = key.has_keyed(self._path)
            if self._seq == 0 and keyed_before:
                problem = "the log was missing or emptied" if existed else "the log was deleted"
            elif anchor is None:
                if keyed_before and self._seq > 1:
                    problem = f"the anchor {self._head.name} was deleted"
            elif keyed_before and (why := _anchor_problem(anchor, key)) is not None:
                problem = f"the anchor {self._head.name} {why}"
            elif keyed_before and isinstance(anchor.get("count"), int) and int(str(anchor["count"])) > self._seq:
                problem = (
                    f"the log was truncated: its anchor names record {anchor['count']}, the last authentic "
                    f"record is {self._seq}"
                )
            if problem is not None:
                self._append_locked(fd, AuditEvent.AUDIT_TAMPERED, {"reason": problem}, time.time())

    def _sync_tail(self, fd: int) -> None:
        size = os.fstat(fd).st_size
        if size == self._known_size:
            return
        seq, digest, ends = _tail(self._path, self._key)
        if not ends:  # (keyed only) end the broken line, so that the next record stands on a line of its own
            self._write(fd, b"\n")
        if seq == 0 and (rotated := rotated_files(self._path)):
            seq, digest, _ = _tail(rotated[-1], self._key)  # just rotated: the chain goes on from there
        self._seq, self._hash = seq, digest
        self._known_size = os.fstat(fd).st_size

    @staticmethod
    def _write(fd: int, data: bytes) -> None:
        view = memoryview(data)
        while view:
            written = os.write(fd, view)
            view = view[written:]

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
            before = self._seq
            self._sync_tail(fd)
            if self._key is not None and self._seq < before:
                self._append_locked(
                    fd,
                    AuditEvent.AUDIT_TAMPERED,
                    {
                        "reason": f"the log was truncated while in use: record {before} was written, the last "
                        f"authentic record is now {self._seq}"
                    },
                    now,
                )
            return self._append_locked(fd, kind, cleaned, now)

    def _append_locked(self, fd: int, kind: AuditEvent, cleaned: Mapping[str, JsonValue], now: float) -> AuditRecord:
        body: dict[str, object] = {
            "seq": self._seq + 1,
            "time": now,
            "event": kind.value,
            "fields": dict(cleaned),
            "prev": self._hash,
        }
        digest = record_hash(body)
        record = {**body, "hash": digest}
        if self._key is not None:
            record["mac"] = self._key.record_mac(digest)
        self._write(fd, canonical_json(record) + b"\n")
        os.fsync(fd)
        self._seq += 1
        self._hash = digest
        self._known_size = os.fstat(fd).st_size
        _write_head(self._head, self._seq, digest, self._key)
        if self._key is not None and not self._marked:
            if not self._key.has_keyed(self._path):
                self._key.mark_keyed(self._path)
            self._marked = True
        return AuditRecord(self._seq, now, kind.value, dict(cleaned), str(body["prev"]), digest)


def rotated_files(path: str | os.PathLike[str]) -> list[Path]:
    """The files rotated out of the log at ``path`` (``<log>.1``, ``<log>.2``, ..., oldest first)."""
    log = Path(path)
    pattern = re.compile(re.escape(log.name) + r"\.(\d+)")
    try:
        names = os.listdir(log.parent)
    except OSError:
        return []
    found = [(int(m[1]), log.parent / name) for name in names if (m := pattern.fullmatch(name))]
    return [file for _, file in sorted(found)]


def _series(path: Path) -> list[Path]:
    """The files of the series ``path`` belongs to, oldest first, up to ``path``: a log's rotated files and the log;
    for a rotated file (``<log>.<n>``), the files rotated before it and itself."""
    match = re.fullmatch(r"(.+)\.(\d+)", path.name)
    if match is not None:
        base = path.with_name(match[1])
        earlier = [f for f in rotated_files(base) if int(f.name.rsplit(".", 1)[1]) < int(match[2])]
        if earlier or base.exists():
            return [*earlier, path]
    return [*rotated_files(path), path]


@dataclass
class _Chain:
    """What :func:`verify` carries from one file of a series to the next."""

    previous: str = GENESIS
    seq: int = 0  # the last record's
    keyed: bool = False
    unkeyed: int = 0


def _check_file(file: Path, data: bytes, chain: _Chain, key: AuditKey | None, current: bool) -> tuple[int, str] | None:
    """Check one file of a series against ``chain`` (advanced as records pass): ``None``, or (line, why)."""
    lines = data.split(b"\n")
    complete = lines[:-1] if not lines[-1] else lines
    first_seq, first_prev = chain.seq + 1, chain.previous
    for number, line in enumerate(complete, start=1):
        if number == len(complete) and lines[-1]:
            return number, "incomplete last line (no newline)"
        record = _parse_record(line)
        if record is None:
            return number, "not a JSON object"
        if set(record) not in (_RECORD_KEYS, _KEYED_RECORD_KEYS):
            return number, "wrong set of members"
        if canonical_json(record) != line:
            return number, "not in canonical form (the line was edited)"
        expected = chain.seq + 1
        if type(record["seq"]) is not int or record["seq"] != expected:
            return number, f"sequence number {record['seq']}, expected {expected} (records deleted, inserted or moved)"
        if record["prev"] != chain.previous:
            return number, "does not chain to the previous record"
        if record_hash(record) != record["hash"]:
            return number, "hash mismatch (the record was edited)"
        if record["event"] not in AuditEvent.__members__.values():
            return number, f"unknown event type {record['event']!r}"
        digest = record["hash"]
        assert isinstance(digest, str)
        mac = record.get("mac")
        if mac is None:
            if chain.keyed:
                return number, "record without a MAC after keyed records (written without the node's key)"
            chain.unkeyed += 1
        else:
            chain.keyed = True
            if key is not None and not (isinstance(mac, str) and hmac.compare_digest(mac, key.record_mac(digest))):
                return number, "MAC does not verify (the record was forged or edited without the node's key)"
        if record["event"] == AuditEvent.AUDIT_TAMPERED and (key is None or chain.keyed):
            fields = record["fields"]
            why = fields.get("reason") if isinstance(fields, dict) else None
            return number, f"the node found its log tampered with: {why}"
        chain.previous, chain.seq = digest, expected
    return _check_anchor(file, complete, first_seq, first_prev, chain, key, current)


def _check_anchor(
    file: Path,
    complete: list[bytes],
    first_seq: int,
    first_prev: str,
    chain: _Chain,
    key: AuditKey | None,
    current: bool,
) -> tuple[int, str] | None:
    count = len(complete)
    anchor = _read_head(head_path(file))
    name = head_path(file).name
    if anchor is None:
        if chain.seq == 0 or (count == 0 and not current):
            return None
        if current and chain.keyed and chain.seq - chain.unkeyed == 1 and key is not None:
            return None  # a crash before the first anchor
        return 0, f"anchor file {name} is missing"
    why = _anchor_problem(anchor, key if chain.keyed else None)
    if (
        why is not None
        and anchor
        and "mac" not in anchor
        and anchor["count"] == chain.unkeyed
        and chain.seq == chain.unkeyed + 1
    ):
        why = None  # a crash between the first keyed record and its anchor: the old anchor names the prefix
    if why is not None:
        return 0, f"anchor file {name} {why}"
    anchored, anchored_hash = anchor["count"], anchor["hash"]
    assert isinstance(anchored, int) and isinstance(anchored_hash, str)
    if anchored < first_seq - 1:
        return 0, f"anchor file {name} names record {anchored}, before this file (rewritten)"
    if anchored > chain.seq:
        return count + 1, f"log truncated: the anchor expects record {anchored}, the log ends at {chain.seq}"
    expected = first_prev
    if anchored >= first_seq:
        record = _parse_record(complete[anchored - first_seq])
        assert record is not None
        expected = str(record["hash"])
    if expected != anchored_hash:
        return max(anchored - first_seq + 1, 1), "record does not match the anchor (rewritten history)"
    beyond = chain.seq - anchored
    if beyond > (1 if current else 0):
        return anchored - first_seq + 2, f"{beyond} records beyond the anchor (only one can come from a crash)"
    return None


def verify(path: str | os.PathLike[str], key: AuditKey | str | os.PathLike[str] | None = None) -> VerifyResult:
    """Check the whole chain, the MACs (with the node's ``key``: an :class:`AuditKey` or its file) and the anchor;
    report the first bad line (1-based, in :attr:`VerifyResult.file`) and why.

    A log that was rotated (:meth:`AuditLog.rotate`) is checked with the files rotated out of it, oldest first: the
    chain runs on across them, so a rotated file deleted, shortened or swapped breaks it. With a key, a log the key
    has written to (or a file rotated out of it) must exist and hold keyed records, every record after the first
    keyed one must carry a MAC that verifies, and so must the anchors. Without a key, a keyed log is checked as a
    chain only (``authenticated`` stays false)."""
    log = Path(path)
    audit_key = None if key is None else (key if isinstance(key, AuditKey) else AuditKey.load(key))
    files = _series(log)
    chain = _Chain()
    authenticated = audit_key is not None

    def result(
        ok: bool, where: Path | None, line: int | None = None, reason: str | None = None, unanchored: int = 0
    ) -> VerifyResult:
        return VerifyResult(
            ok,
            chain.seq,
            line or None,
            reason,
            chain.previous,
            unanchored,
            chain.keyed,
            authenticated,
            chain.unkeyed,
            None if where is None else str(where),
            len(files),
        )

    if audit_key is not None and files[-1] == log and not re.fullmatch(r".+\.\d+", log.name):
        rotated = re.compile(re.escape(log.name) + r"\.\d+")
        for name in sorted(audit_key.keyed_logs):  # every file the key wrote to and rotated out of this log
            known = Path(name) if Path(name).is_absolute() else audit_key.path.parent / name
            same_place = known.parent.absolute() == log.parent.absolute()
            if same_place and rotated.fullmatch(known.name) and not known.exists():
                return result(False, known, None, f"{known.name}, rotated out of this log, is missing (deleted?)")
    for file in files:
        current = file == log
        try:
            data = file.read_bytes()
        except FileNotFoundError:
            if audit_key is not None and audit_key.has_keyed(file):
                return result(False, file, None, "the log is missing, but the node's key has written to it (deleted?)")
            raise AuditError(f"cannot read audit log {file}: no such file") from None
        except OSError as exc:
            raise AuditError(f"cannot read audit log {file}: {exc.strerror}") from None
        problem = _check_file(file, data, chain, audit_key, current)
        if problem is not None:
            line, why = problem
            return result(False, file, line, why)
    if audit_key is not None and audit_key.has_keyed(log) and not chain.keyed:
        reason = (
            "the log is empty, but the node's key has written to it (emptied?)"
            if chain.seq == 0
            else "no record carries a MAC, but the node's key has written to this log (history rewritten)"
        )
        return result(False, log, chain.seq + 1 if chain.seq else None, reason)
    anchor = _read_head(head_path(log))
    anchored = anchor.get("count") if anchor else None
    unanchored = chain.seq - anchored if isinstance(anchored, int) else (1 if chain.seq else 0)
    return result(True, None, unanchored=max(0, unanchored))
