"""Private, atomic file storage for keys, certificates, allow-lists, consent grants and audit anchors.

Rules enforced here:

* Every file is written atomically: the bytes go to a temporary file in the *same* directory (opened with
  ``O_CREAT | O_EXCL | O_NOFOLLOW``), are flushed and fsynced, the temporary file is renamed over the target
  with :func:`os.replace`, and the directory is fsynced so the rename itself survives a crash. A writer that
  fails half way (exception, ``KeyboardInterrupt``) removes its temporary file and leaves the old file intact.
* Permissions are restrictive from the first byte: files are created by ``os.open(..., 0o600)`` and
  directories by ``os.mkdir(..., 0o700)``. Nothing is created wider and narrowed with ``chmod`` afterwards, so
  there is no window in which another user can open the file. (The process umask can only remove more bits.)
* A private key file that is accessible by group or others, or owned by another user, is refused on load, the
  way OpenSSH refuses such keys. A node store whose directory is open to group or others, or whose files (trust
  anchors, allow-list, policy, CRL, audit log) others may write, is refused too (:func:`check_node_store`), in
  one line that names the file and the ``chmod`` that fixes it.

Layout of a *node store* directory (one per node using the secure overlay): see :class:`NodePaths`.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import secrets
import stat
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from secure.errors import InsecurePermissionsError, StoreError

__all__ = [
    "DIR_MODE",
    "FILE_MODE",
    "FileStamp",
    "NodePaths",
    "atomic_write",
    "atomic_writer",
    "check_node_store",
    "ensure_private_dir",
    "file_stamp",
    "fsync_dir",
    "locked",
    "read_file",
    "read_json",
    "read_private",
    "write_json",
]

FILE_MODE = 0o600
DIR_MODE = 0o700

_OPEN_NEW = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)
_OPEN_READ = os.O_RDONLY | getattr(os, "O_CLOEXEC", 0)


FileStamp = tuple[int, int, int, int]
"""(device, inode, mtime in ns, size): changes whenever a file is atomically replaced or appended to."""


def fsync_dir(directory: str | os.PathLike[str]) -> None:
    """fsync a directory so that renames and creations inside it are durable."""
    fd = os.open(directory, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0) | getattr(os, "O_CLOEXEC", 0))
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def ensure_private_dir(directory: str | os.PathLike[str]) -> Path:
    """Create ``directory`` and missing parents with mode 0o700; existing directories are left alone."""
    path = Path(directory)
    missing: list[Path] = []
    probe = path
    while not probe.exists():
        missing.append(probe)
        if probe.parent == probe:
            break
        probe = probe.parent
    if probe.exists() and not probe.is_dir():
        raise StoreError(f"{probe} exists and is not a directory")
    for component in reversed(missing):
        try:
            os.mkdir(component, DIR_MODE)
        except FileExistsError:
            if not component.is_dir():
                raise StoreError(f"{component} exists and is not a directory") from None
            continue
        except OSError as exc:
            raise StoreError(f"cannot create directory {component}: {exc.strerror}") from None
        fsync_dir(component.parent)
    return path


@contextlib.contextmanager
def atomic_writer(path: str | os.PathLike[str], *, mode: int = FILE_MODE) -> Iterator[BinaryIO]:
    """Yield a binary file whose content replaces ``path`` atomically when the ``with`` block ends normally.

    If the block raises, the temporary file is removed and ``path`` keeps its old content.
    """
    target = Path(path)
    directory = target.parent
    ensure_private_dir(directory)
    tmp = directory / f".{target.name}.{secrets.token_hex(8)}.tmp"
    try:
        fd = os.open(tmp, _OPEN_NEW, mode)
    except OSError as exc:
        raise StoreError(f"cannot write in {directory}: {exc.strerror}") from None
    handle = os.fdopen(fd, "wb")
    try:
        yield handle
        handle.flush()
        os.fsync(handle.fileno())
        handle.close()
        os.replace(tmp, target)
    except BaseException:
        handle.close()
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    fsync_dir(directory)


def atomic_write(path: str | os.PathLike[str], data: bytes, *, mode: int = FILE_MODE) -> None:
    """Atomically replace ``path`` with ``data`` (created with ``mode``, 0o600 by default)."""
    with atomic_writer(path, mode=mode) as handle:
        handle.write(data)


def read_file(path: str | os.PathLike[str]) -> bytes:
    """Read a whole file; a missing or unreadable file becomes a :class:`StoreError` naming it."""
    try:
        return Path(path).read_bytes()
    except OSError as exc:
        raise StoreError(f"cannot read {path}: {exc.strerror}") from None


def read_private(path: str | os.PathLike[str]) -> bytes:
    """Read a private file (a key), refusing it if group or others have any access or another user owns it."""
    try:
        fd = os.open(path, _OPEN_READ | getattr(os, "O_NOFOLLOW", 0))
    except OSError as exc:
        raise StoreError(f"cannot read {path}: {exc.strerror}") from None
    with os.fdopen(fd, "rb") as handle:
        info = os.fstat(handle.fileno())
        if not stat.S_ISREG(info.st_mode):
            raise StoreError(f"{path} is not a regular file")
        if info.st_mode & 0o077:
            raise InsecurePermissionsError(
                f"{path} is accessible by group or others (mode {stat.S_IMODE(info.st_mode):#o}); refusing to use it",
                advice=f"run: chmod 600 {path}",
                form="{problem}, {advice}",
            )
        if info.st_uid not in (os.geteuid(), 0):
            raise InsecurePermissionsError(f"{path} is owned by another user (uid {info.st_uid})")
        return handle.read()


def _refuse(path: Path, problem: str, fix: str) -> InsecurePermissionsError:
    return InsecurePermissionsError(
        f"{path} {problem}; refusing to use it", advice=f"run: {fix}", form="{problem}, {advice}"
    )


def check_node_store(directory: str | os.PathLike[str], files: tuple[Path, ...] = ()) -> None:
    """Refuse a node store others could tamper with: the directory must be open to its owner only (0o700), and
    none of ``files`` that exist (the store's own, and any given in their place) may be writable by group or others
    or owned by another user."""
    path = Path(directory)
    try:
        info = os.stat(path)
    except OSError as exc:
        raise StoreError(f"cannot read {path}: {exc.strerror}") from None
    mode = stat.S_IMODE(info.st_mode)
    if mode & 0o077:
        raise _refuse(path, f"is open to group or others (mode {mode:#o})", f"chmod 700 {path}")
    paths = NodePaths(path)
    for file in (
        paths.key,
        paths.cert,
        paths.chain,
        paths.trust,
        paths.crl,
        paths.allowlist,
        paths.policy,
        paths.roles,
        paths.withdrawals,
        paths.certification,
        paths.audit,
        path / (paths.audit.name + ".head"),
        paths.audit_key,
        *files,
    ):
        try:
            info = os.stat(file)
        except FileNotFoundError:
            continue
        except OSError as exc:
            raise StoreError(f"cannot read {file}: {exc.strerror}") from None
        mode = stat.S_IMODE(info.st_mode)
        if mode & 0o022:
            raise _refuse(file, f"is writable by group or others (mode {mode:#o})", f"chmod go-w {file}")
        if info.st_uid not in (os.geteuid(), 0):
            raise InsecurePermissionsError(f"{file} is owned by another user (uid {info.st_uid}); refusing to use it")


def write_json(path: str | os.PathLike[str], document: object, *, mode: int = FILE_MODE) -> None:
    """Atomically write a JSON document (sorted keys, indented, trailing newline)."""
    text = json.dumps(document, indent=2, sort_keys=True, ensure_ascii=True, allow_nan=False) + "\n"
    atomic_write(path, text.encode("ascii"), mode=mode)


def read_json(path: str | os.PathLike[str]) -> object:
    """Read a JSON document written by :func:`write_json`."""
    data = read_file(path)
    try:
        return json.loads(data)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise StoreError(f"{path} is not valid JSON: {exc}") from None


def file_stamp(path: str | os.PathLike[str]) -> FileStamp | None:
    """Identity and version of a file, or None if it does not exist (used to pick up changes at once)."""
    try:
        info = os.stat(path)
    except FileNotFoundError:
        return None
    return (info.st_dev, info.st_ino, info.st_mtime_ns, info.st_size)


@contextlib.contextmanager
def locked(path: str | os.PathLike[str]) -> Iterator[None]:
    """Hold an exclusive ``flock`` on ``<path>.lock`` (mode 0o600) for a read-modify-write of ``path``."""
    target = Path(path)
    ensure_private_dir(target.parent)
    lock = target.with_name(target.name + ".lock")
    try:
        fd = os.open(lock, os.O_RDWR | os.O_CREAT | getattr(os, "O_CLOEXEC", 0), FILE_MODE)
    except OSError as exc:
        raise StoreError(f"cannot lock {target}: {exc.strerror}") from None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


@dataclass(frozen=True)
class NodePaths:
    """Files of one node store directory (directory mode 0o700, every file 0o600)."""

    directory: Path

    @classmethod
    def at(cls, directory: str | os.PathLike[str]) -> NodePaths:
        return cls(Path(directory))

    @property
    def key(self) -> Path:
        """The node's own private key (PEM, PKCS#8)."""
        return self.directory / "node.key.pem"

    @property
    def cert(self) -> Path:
        """The node's own certificate (PEM)."""
        return self.directory / "node.cert.pem"

    @property
    def chain(self) -> Path:
        """Intermediate CA certificate(s) sent with the node's certificate (PEM)."""
        return self.directory / "chain.pem"

    @property
    def trust(self) -> Path:
        """Trusted root certificate(s) (PEM)."""
        return self.directory / "trust.pem"

    @property
    def crl(self) -> Path:
        """Revocation list published by the device CA (PEM)."""
        return self.directory / "crl.pem"

    @property
    def allowlist(self) -> Path:
        """Pinned peer public keys (JSON)."""
        return self.directory / "allowlist.json"

    @property
    def policy(self) -> Path:
        """Peer classification and legacy consent grants (JSON)."""
        return self.directory / "policy.json"

    @property
    def roles(self) -> Path:
        """Which role each enrolled peer has (JSON, :class:`secure.policy.roles.RoleTable`); optional."""
        return self.directory / "roles.json"

    @property
    def withdrawals(self) -> Path:
        """Certification withdrawal list published by the CA (signed JSON, :mod:`secure.trust.certification`)."""
        return self.directory / "withdrawn.json"

    @property
    def certification(self) -> Path:
        """What this node demands of its peers' certification (JSON ``{"require": [programme, level]}``); optional."""
        return self.directory / "certification.json"

    @property
    def group(self) -> Path:
        """Group key state (JSON, :mod:`secure.records.groupstore`): the manager's epochs and members, or what a
        member was handed; secret (the epoch keys), mode 0600."""
        return self.directory / "group.json"

    @property
    def audit(self) -> Path:
        """Hash-chained audit log (JSON lines); its anchor is ``audit.jsonl.head``."""
        return self.directory / "audit.jsonl"

    @property
    def audit_key(self) -> Path:
        """The node's audit key (MACs of the audit log's records and anchor, and the logs it keyed; JSON)."""
        return self.directory / "audit.key"
