"""The raw UDP probe: offer a secure-overlay handshake record to a device and see whether an overlay record comes
back.

It runs last in a check because some plain stacks stop receiving after a datagram they cannot parse (uecho). The
record offered is built by :mod:`.secure_probe`, the only part of the checker that uses :mod:`secure`.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import Awaitable, Callable

from ...constants import OVERLAY_EHD1
from ...node.events import Addr
from .report import OverlayResult
from .secure_probe import overlay_hello, record_kind

#: Sends one datagram to an address and collects what comes back: ``(payload, addr, wait) -> [(data, from)]``; it
#: may return early once an overlay record has arrived.
Exchange = Callable[[bytes, Addr, float], Awaitable[list[tuple[bytes, Addr]]]]


async def udp_exchange(payload: bytes, addr: Addr, wait: float, *, bind: str | None = None) -> list[tuple[bytes, Addr]]:
    """Send ``payload`` from a throwaway UDP socket and collect datagrams from ``addr``'s host for up to ``wait``
    seconds (stops early at the first one whose EHD1 is the overlay's)."""
    loop = asyncio.get_running_loop()
    received: list[tuple[bytes, Addr]] = []
    done: asyncio.Future[None] = loop.create_future()
    family = socket.AF_INET6 if ":" in str(addr[0]) else socket.AF_INET

    class _Collect(asyncio.DatagramProtocol):
        def datagram_received(self, data: bytes, source: Addr) -> None:
            received.append((bytes(data), source))
            if data[:1] == bytes((OVERLAY_EHD1,)) and not done.done():
                done.set_result(None)

        def error_received(self, exc: Exception) -> None:
            pass

    local = (bind or ("::" if family == socket.AF_INET6 else "0.0.0.0"), 0)
    transport, _ = await loop.create_datagram_endpoint(_Collect, local_addr=local, family=family)
    try:
        transport.sendto(payload, addr)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(asyncio.shield(done), wait)
    finally:
        transport.close()
    return received


async def probe_overlay(
    addr: Addr, *, wait: float = 1.0, exchange: Exchange | None = None, bind: str | None = None
) -> OverlayResult:
    """Offer a secure-overlay handshake to ``addr``; whether an overlay record (EHD1 0x21) came back in time."""
    try:
        hello = overlay_hello()
    except Exception as exc:  # the optional secure package missing or broken must not stop the check
        return OverlayResult(None, f"could not build an EDHOC message_1: {type(exc).__name__}: {exc}")

    async def default(payload: bytes, to: Addr, seconds: float) -> list[tuple[bytes, Addr]]:
        return await udp_exchange(payload, to, seconds, bind=bind)

    try:
        answers = await (exchange or default)(hello, addr, wait)
    except OSError as exc:
        return OverlayResult(None, f"could not send the handshake record: {exc.strerror or exc}")
    host = str(addr[0])
    overlay = [(d, a) for d, a in answers if d[:1] == bytes((OVERLAY_EHD1,)) and str(a[0]) == host]
    if overlay:
        data, source = overlay[0]
        kind = record_kind(data)
        return OverlayResult(
            True,
            f"answered the handshake record with an overlay {kind} record ({len(data)} bytes from "
            f"{source[0]} port {source[1]})",
            kind,
        )
    others = [d for d, a in answers if str(a[0]) == host]
    if others:
        detail = (
            f"answered the handshake record with {len(others)} datagram(s) that are not overlay records "
            f"(first bytes {others[0][:4].hex()})"
        )
    else:
        detail = f"no overlay record (EHD1 0x{OVERLAY_EHD1:02X}) came back within {wait:g} s"
    return OverlayResult(False, detail)


__all__ = ["Exchange", "probe_overlay", "udp_exchange"]
