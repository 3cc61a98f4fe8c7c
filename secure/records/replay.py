"""Sliding replay window per sender (RFC 8613 section 7.4; RFC 4303 3.4.3 / DTLS 1.3 "Anti-Replay").

The window's right edge, :attr:`ReplayWindow.top`, is the highest partial IV accepted so far; bit ``i`` of the
bitmap records whether ``top - i`` was accepted.  Usage, in this order (:meth:`SecurityContext.unprotect
<secure.records.oscore.SecurityContext.unprotect>` does exactly this)::

    window.check(piv)      # before decryption: raises ReplayError if seen or left of the window
    ... verify the AEAD tag ...
    window.update(piv)     # only after the tag verified

Checking before decryption keeps replays from costing AEAD work and from counting as failed decryptions (the
key-limits draft does not count replays).  DTLS 1.3 prefers checking after deprotection because its record
numbers are encrypted and the discard could leak them as a timing channel; here the partial IV travels in the
clear, so there is nothing to leak.  The window is never moved by a record that did not verify.

A partial IV above ``top`` is always acceptable, so a caller on a hot path may compare with ``top`` and skip
:meth:`~ReplayWindow.check` for it; :meth:`~ReplayWindow.update` takes that case first.
"""

from __future__ import annotations

from secure.errors import RejectReason, ReplayError, SecureUsageError

__all__ = ["DEFAULT_WINDOW_SIZE", "ReplayWindow"]

DEFAULT_WINDOW_SIZE = 64


class ReplayWindow:
    """Anti-replay window of ``size`` partial IVs (default 64) for one sender.  Not thread-safe.

    ``top`` is public for reading (see the module documentation): the highest partial IV accepted, -1 before the
    first (:attr:`highest` is the same with ``None``). Only :meth:`update` moves it.
    """

    __slots__ = ("_bitmap", "_full", "_size", "top")

    def __init__(self, size: int = DEFAULT_WINDOW_SIZE) -> None:
        if not isinstance(size, int) or size < 1:
            raise SecureUsageError("replay window size must be a positive integer")
        self._size = size
        self._full = (1 << size) - 1
        self.top = -1  # nothing accepted yet
        self._bitmap = 0

    @property
    def size(self) -> int:
        return self._size

    @property
    def highest(self) -> int | None:
        """The highest partial IV accepted so far, or None."""
        return None if self.top < 0 else self.top

    def __repr__(self) -> str:
        return f"ReplayWindow(size={self._size}, highest={self.highest})"

    def check(self, piv: int) -> None:
        """Raise :class:`~secure.errors.ReplayError` if ``piv`` was seen or is too old to tell; never changes
        state."""
        offset = self.top - piv
        if offset < 0:
            return
        if offset >= self._size:
            raise ReplayError(f"partial IV {piv} is left of the replay window", RejectReason.TOO_OLD)
        if (self._bitmap >> offset) & 1:
            raise ReplayError(f"partial IV {piv} was already accepted", RejectReason.REPLAY)

    def is_acceptable(self, piv: int) -> bool:
        try:
            self.check(piv)
        except ReplayError:
            return False
        return True

    def update(self, piv: int) -> None:
        """Mark ``piv`` as accepted.  Call only after its record verified.

        A partial IV above ``top`` (the common case, taken first) slides the window; any other is checked again
        first, so a partial IV can never be accepted twice even if two copies were verified.
        """
        offset = self.top - piv
        if offset < 0:
            shift = -offset
            self._bitmap = ((self._bitmap << shift) | 1) & self._full if shift < self._size else 1
            self.top = piv
            return
        if piv < 0:
            raise SecureUsageError("partial IV must be non-negative")
        if offset >= self._size or (self._bitmap >> offset) & 1:
            self.check(piv)  # raises the precise ReplayError
        self._bitmap |= 1 << offset
