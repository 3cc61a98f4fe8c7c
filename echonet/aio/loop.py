"""The event loop: asyncio's, or uvloop's when asked for and installed (the ``fast`` extra)."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any, TypeVar

T = TypeVar("T")


def new_event_loop(use_uvloop: bool = False) -> asyncio.AbstractEventLoop:
    """A new event loop: uvloop's when requested and installed, asyncio's otherwise."""
    if use_uvloop:
        try:
            import uvloop
        except ImportError:
            pass
        else:
            loop: asyncio.AbstractEventLoop = uvloop.new_event_loop()
            return loop
    return asyncio.new_event_loop()


def run(main: Coroutine[Any, Any, T], *, use_uvloop: bool = False) -> T:
    """Run a coroutine to completion on a new loop (uvloop's when requested and installed)."""
    with asyncio.Runner(loop_factory=lambda: new_event_loop(use_uvloop)) as runner:
        return runner.run(main)


__all__ = ["new_event_loop", "run"]
