"""The key log: session keys of the secure overlay written to a file, for decrypting captures (like SSLKEYLOGFILE).

Off by default. :func:`enable` (the command line's ``--keylog FILE`` or ``ECHONET_KEYLOG``) opens the file, creates it
with mode 0600 (an existing file is refused unless it is private to its owner), and from then on every OSCORE
context the layer derives (:meth:`secure.layer.core.SecureLayer`, after each handshake) appends one line. Whoever
reads the file can decrypt every record of those sessions and forge new ones: it is a debugging aid, never for a
node in service. Keys never reach the audit log; this file is the only place they go.

The file is text, one entry a line; ``#`` starts a comment line; fields are separated by one space::

    ECHONET_OSCORE <alg> <sender_id> <recipient_id> <master_salt> <master_secret>

- ``alg``: the COSE identifier of the AEAD in decimal (10 AES-CCM-16-64-128, 1 A128GCM, 24 ChaCha20/Poly1305);
- ``sender_id``, ``recipient_id``: the writer's Sender ID and Recipient ID (the kids the two sides put in their
  records), lower-case hex, ``-`` for an empty ID;
- ``master_salt``, ``master_secret``: the EDHOC exporter's output (RFC 9528 appendix A.1), hex, ``-`` for empty.

Both ends of a session log the same session with the two IDs swapped; a reader takes either. Lines it does not
know are skipped (:func:`read_keylog` counts them), so new labels may be added.
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass, field
from typing import IO, Protocol

from secure.errors import SecureUsageError

__all__ = [
    "ENV_VAR",
    "LABEL",
    "KeyLogEntry",
    "disable",
    "enable",
    "enabled_path",
    "format_entry",
    "log_session",
    "parse_line",
    "read_keylog",
]

#: The environment variable the command line reads for the key log's path.
ENV_VAR = "ECHONET_KEYLOG"
#: The label of an OSCORE context line.
LABEL = "ECHONET_OSCORE"
_HEADER = "# echonet key log: secure overlay session keys (anyone holding this file can read and forge the traffic)\n"


class _SessionKeys(Protocol):
    """What :func:`log_session` reads: the OSCORE parameters EDHOC exports (``OscoreParameters``)."""

    @property
    def master_secret(self) -> bytes: ...
    @property
    def master_salt(self) -> bytes: ...
    @property
    def sender_id(self) -> bytes: ...
    @property
    def recipient_id(self) -> bytes: ...
    @property
    def aead_alg(self) -> int: ...


@dataclass(frozen=True, slots=True)
class KeyLogEntry:
    """One OSCORE context of the key log (the writer's view: its Sender ID and Recipient ID)."""

    alg: int
    sender_id: bytes
    recipient_id: bytes
    master_salt: bytes = field(repr=False)
    master_secret: bytes = field(repr=False)


def _hex(value: bytes) -> str:
    return value.hex() if value else "-"


def _unhex(text: str) -> bytes:
    return b"" if text == "-" else bytes.fromhex(text)


def format_entry(entry: KeyLogEntry) -> str:
    """The line of ``entry`` (with its newline)."""
    return (
        f"{LABEL} {entry.alg} {_hex(entry.sender_id)} {_hex(entry.recipient_id)} "
        f"{_hex(entry.master_salt)} {_hex(entry.master_secret)}\n"
    )


def parse_line(line: str) -> KeyLogEntry | None:
    """The entry of one line; ``None`` for a comment, a blank line or a line of another label; ``ValueError`` for a
    line of this label that does not parse."""
    text = line.strip()
    if not text or text.startswith("#"):
        return None
    parts = text.split()
    if parts[0] != LABEL:
        return None
    if len(parts) != 6:
        raise ValueError(f"{LABEL} line with {len(parts) - 1} field(s), expected 5")
    secret = _unhex(parts[5])
    if not secret:
        raise ValueError("empty master secret")
    return KeyLogEntry(int(parts[1]), _unhex(parts[2]), _unhex(parts[3]), _unhex(parts[4]), secret)


def read_keylog(path: str | os.PathLike[str]) -> tuple[list[KeyLogEntry], int]:
    """The entries of a key log (duplicates removed, in file order) and the number of lines that did not parse.
    A file that cannot be read raises :class:`SecureUsageError` with a one-line message."""
    try:
        with open(path, encoding="ascii", errors="replace") as f:
            lines = f.readlines()
    except OSError as exc:
        raise SecureUsageError(f"{os.fspath(path)}: cannot read the key log ({exc.strerror or exc})") from None
    entries: dict[KeyLogEntry, None] = {}
    bad = 0
    for line in lines:
        try:
            entry = parse_line(line)
        except ValueError:
            bad += 1
            continue
        if entry is not None:
            entries[entry] = None
    return list(entries), bad


class _Writer:
    def __init__(self, path: str, stream: IO[str]) -> None:
        self.path = path
        self.stream = stream
        self.lock = threading.Lock()


_writer: _Writer | None = None


def enable(path: str | os.PathLike[str]) -> str:
    """Append session keys to ``path`` from now on (created with mode 0600; an existing file must not be readable by
    group or others); return the path. Raises :class:`SecureUsageError` when the file cannot be opened."""
    global _writer
    text = os.fspath(path)
    try:
        fd = os.open(text, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    except OSError as exc:
        raise SecureUsageError(f"{text}: cannot open the key log ({exc.strerror or exc})") from None
    mode = os.fstat(fd).st_mode
    if mode & 0o077:
        os.close(fd)
        raise SecureUsageError(f"{text}: the key log is readable by others (mode {mode & 0o777:o}); chmod 600 it")
    stream = os.fdopen(fd, "a", encoding="ascii")
    if os.fstat(fd).st_size == 0:
        stream.write(_HEADER)
        stream.flush()
    disable()
    _writer = _Writer(text, stream)
    return text


def disable() -> None:
    """Stop logging keys (and close the file)."""
    global _writer
    writer, _writer = _writer, None
    if writer is not None:
        with writer.lock:
            writer.stream.close()


def enabled_path() -> str | None:
    """The key log's path while logging, else ``None``."""
    return None if _writer is None else _writer.path


def log_session(keys: _SessionKeys) -> None:
    """Append the line of one derived OSCORE context (nothing when the key log is off; an error writing it is
    swallowed: the key log never breaks a session)."""
    writer = _writer
    if writer is None:
        return
    entry = KeyLogEntry(
        int(keys.aead_alg), bytes(keys.sender_id), bytes(keys.recipient_id), bytes(keys.master_salt),
        bytes(keys.master_secret),
    )  # fmt: skip
    try:
        with writer.lock:
            writer.stream.write(format_entry(entry))
            writer.stream.flush()
    except (OSError, ValueError):
        pass
