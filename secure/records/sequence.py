"""Sender sequence numbers (RFC 8613 partial IVs), optionally persisted so a restart never reuses a nonce.

:class:`SequenceStore` reserves numbers in chunks.  Before the first number of a chunk is handed out, the
chunk's upper bound (the first number *not* reserved) is written to the store file atomically: a temporary
file in the same directory (mode 0o600) is written and fsync'ed, ``os.replace``'d over the store file, and the
directory is fsync'ed.  A process that restarts (after a clean exit or a ``kill -9``) starts at the persisted
bound, so every number it hands out is larger than any number a previous run could have used; at most one
chunk is skipped per restart.  Sequence numbers stay below 2^40 (RFC 8613 section 7.2.1); when they run out
the store refuses and the security context must be replaced.

The store file holds one ASCII line, ``echonet-da-seq 1 <bound>``: no key material.  A sidecar ``<path>.lock``
is held with ``flock`` while the store is open, so two processes cannot draw from one store (the kernel drops
the lock when a process dies).  Delete a store file only together with the keys it served.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import tempfile
from types import TracebackType
from typing import Protocol

from secure.errors import SecureUsageError, SequenceExhaustedError, SequenceStoreError
from secure.records.framing import MAX_PIV

__all__ = [
    "DEFAULT_CHUNK",
    "MAX_SEQUENCE_NUMBER",
    "MemorySequence",
    "SequenceSource",
    "SequenceStore",
]

MAX_SEQUENCE_NUMBER = MAX_PIV
DEFAULT_CHUNK = 1024
_MAGIC = "echonet-da-seq"
_VERSION = 1


class SequenceSource(Protocol):
    """Hands out strictly increasing sender sequence numbers."""

    def next(self) -> int:
        """A number never returned before for this sender key; SequenceExhaustedError at the end."""
        ...

    def remaining(self) -> int:
        """How many numbers are left before exhaustion."""
        ...


class MemorySequence:
    """Sequence numbers in memory only, for contexts that never outlive the process (fresh per handshake)."""

    __slots__ = ("_limit", "_next")

    def __init__(self, start: int = 0, limit: int = MAX_SEQUENCE_NUMBER) -> None:
        if not 0 <= limit <= MAX_SEQUENCE_NUMBER or start < 0:
            raise SecureUsageError("sequence numbers must lie in 0..2^40-1")
        self._limit = limit
        self._next = start

    def next(self) -> int:
        value = self._next
        if value > self._limit:
            raise SequenceExhaustedError("sender sequence numbers exhausted")
        self._next = value + 1
        return value

    def remaining(self) -> int:
        return max(0, self._limit + 1 - self._next)

    def __repr__(self) -> str:
        return f"MemorySequence(next={self._next}, limit={self._limit})"


class SequenceStore:
    """Sequence numbers persisted in chunks to ``path`` (see the module docstring).  Not thread-safe.

    A missing file means a new sender key: numbering starts at 0 and the file is created with the first chunk.
    """

    __slots__ = ("_bound", "_chunk", "_limit", "_lock_fd", "_next", "_path")

    def __init__(
        self, path: str | os.PathLike[str], chunk: int = DEFAULT_CHUNK, limit: int = MAX_SEQUENCE_NUMBER
    ) -> None:
        if not isinstance(chunk, int) or chunk < 1:
            raise SecureUsageError("chunk must be a positive integer")
        if not 0 <= limit <= MAX_SEQUENCE_NUMBER:
            raise SecureUsageError("limit must lie in 0..2^40-1")
        self._path = os.fspath(path)
        self._chunk = chunk
        self._limit = limit
        self._next = self._bound = 0
        self._lock_fd = self._acquire_lock()
        try:
            start = self._load()
        except BaseException:
            self.close()
            raise
        self._next = start
        self._bound = start  # nothing reserved by this process yet

    # -- public

    @property
    def path(self) -> str:
        return self._path

    @property
    def reserved_bound(self) -> int:
        """First number not covered by the persisted reservation."""
        return self._bound

    def next(self) -> int:
        value = self._next
        if value >= self._bound:
            if value > self._limit:
                raise SequenceExhaustedError("sender sequence numbers exhausted")
            self._reserve(min(value + self._chunk, self._limit + 1))
        self._next = value + 1
        return value

    def remaining(self) -> int:
        return max(0, self._limit + 1 - self._next)

    def close(self) -> None:
        """Release the process lock.  Further numbers need a new store object."""
        fd, self._lock_fd = self._lock_fd, -1
        if fd >= 0:
            os.close(fd)
        self._bound = self._next  # force a (failing) reservation if used after close

    def __enter__(self) -> SequenceStore:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"SequenceStore(path={self._path!r}, next={self._next}, reserved_bound={self._bound})"

    # -- internals

    def _acquire_lock(self) -> int:
        lock_path = self._path + ".lock"
        try:
            fd = os.open(lock_path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        except OSError as exc:
            raise SequenceStoreError(f"cannot open lock file {lock_path!r}: {exc.strerror}") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            raise SequenceStoreError(f"sequence store {self._path!r} is in use by another process") from None
        return fd

    def _load(self) -> int:
        try:
            with open(self._path, "rb") as f:
                raw = f.read(256)
        except FileNotFoundError:
            return 0
        except OSError as exc:
            raise SequenceStoreError(f"cannot read sequence store {self._path!r}: {exc.strerror}") from None
        parts = raw.split()
        if (
            len(parts) != 3
            or parts[0] != _MAGIC.encode()
            or parts[1] != str(_VERSION).encode()
            or not parts[2].isdigit()
            or not raw.endswith(b"\n")
        ):
            raise SequenceStoreError(f"sequence store {self._path!r} is corrupt")
        bound = int(parts[2])
        if bound > MAX_SEQUENCE_NUMBER + 1:
            raise SequenceStoreError(f"sequence store {self._path!r} holds an out-of-range bound")
        return bound

    def _reserve(self, bound: int) -> None:
        if self._lock_fd < 0:
            raise SequenceStoreError("sequence store is closed")
        directory = os.path.dirname(os.path.abspath(self._path))
        data = f"{_MAGIC} {_VERSION} {bound}\n".encode()
        try:
            prefix = "." + os.path.basename(self._path) + "."
            fd, tmp = tempfile.mkstemp(prefix=prefix, suffix=".tmp", dir=directory)
        except OSError as exc:
            raise SequenceStoreError(f"cannot write sequence store {self._path!r}: {exc.strerror}") from None
        try:
            try:
                os.fchmod(fd, 0o600)
                view = memoryview(data)
                while view:
                    view = view[os.write(fd, view) :]
                os.fsync(fd)
            finally:
                os.close(fd)
            os.replace(tmp, self._path)
        except OSError as exc:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise SequenceStoreError(f"cannot write sequence store {self._path!r}: {exc.strerror}") from None
        try:
            dir_fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
            try:
                os.fsync(dir_fd)
            finally:
                os.close(dir_fd)
        except OSError as exc:
            raise SequenceStoreError(f"cannot sync directory of {self._path!r}: {exc.strerror}") from None
        self._bound = bound
