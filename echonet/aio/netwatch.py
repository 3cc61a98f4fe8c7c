"""Interfaces chosen by name or address, re-checked while a node runs: when one gains an address, comes up, or
appears, the multicast groups are joined on it (and multicast is sent out of it), and a callback runs (the
controller re-runs discovery there); when one loses its address or goes down, it is marked to be joined again.

The runner's sockets stay open: nothing restarts. Interfaces are read with :func:`echonet.netif.interfaces` every
``interval`` seconds (polling: no netlink socket, the same on every Linux and in containers).
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import socket
import struct
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from .. import netif
from ..constants import MULTICAST_V4, MULTICAST_V6
from .runner import NodeRunner


@dataclass(frozen=True)
class InterfaceChange:
    """What changed on one chosen interface: ``gained`` (an IPv4 address, or up) or ``lost``, and the groups joined."""

    name: str
    index: int
    change: str  #: "gained" or "lost"
    ipv4: tuple[str, ...]
    joined: tuple[str, ...]


class InterfaceWatcher:
    """Keeps the groups joined on the interfaces named (or holding the addresses) in ``specs``."""

    def __init__(
        self,
        runner: NodeRunner,
        specs: Sequence[str],
        *,
        group_v4: str | None = MULTICAST_V4,
        group_v6: str | None = MULTICAST_V6,
        interval: float = 2.0,
        on_change: Callable[[list[InterfaceChange]], object] | None = None,
        lister: Callable[[], list[netif.Interface]] = netif.interfaces,
    ) -> None:
        self.runner = runner
        self.specs = tuple(specs)
        self.group_v4 = group_v4
        self.group_v6 = group_v6
        self.interval = interval
        self.on_change = on_change
        self.lister = lister
        #: (family, interface index) where the groups are joined by this watcher or were at start.
        self.joined: set[tuple[int, int]] = set()
        #: Interfaces last seen usable: name -> (index, IPv4 addresses, up).
        self.seen: dict[str, tuple[int, tuple[str, ...], bool]] = {}
        self.errors: list[str] = []
        self.checks = 0
        self._task: asyncio.Task[None] | None = None

    def _chosen(self, items: list[netif.Interface]) -> list[netif.Interface]:
        out: list[netif.Interface] = []
        for spec in self.specs:
            for iface in items:
                if (iface.name == spec or spec in iface.addresses) and iface not in out:
                    out.append(iface)
        return out

    def check(self) -> list[InterfaceChange]:
        """Look at the interfaces once; join where needed; the changes (also given to ``on_change``)."""
        self.checks += 1
        try:
            items = self.lister()
        except (ImportError, OSError) as exc:
            self.errors.append(f"cannot list interfaces: {exc}")
            return []
        changes: list[InterfaceChange] = []
        now: dict[str, tuple[int, tuple[str, ...], bool]] = {}
        for iface in self._chosen(items):
            usable = iface.up and bool(iface.ipv4 or iface.ipv6)
            now[iface.name] = (iface.index, iface.ipv4, usable)
            before = self.seen.get(iface.name)
            if usable and (before is None or not before[2] or before[1] != iface.ipv4 or not self._has(iface.index)):
                joined = self._join(iface)
                if before is None or not before[2] or before[1] != iface.ipv4:
                    changes.append(InterfaceChange(iface.name, iface.index, "gained", iface.ipv4, joined))
            elif not usable and before is not None and before[2]:
                self._forget(iface.index)
                changes.append(InterfaceChange(iface.name, iface.index, "lost", iface.ipv4, ()))
        for name, (index, ipv4, usable) in self.seen.items():
            if name not in now and usable:  # the interface is gone
                self._forget(index)
                changes.append(InterfaceChange(name, index, "lost", ipv4, ()))
        self.seen = now
        if changes and self.on_change is not None:
            self.on_change(changes)
        return changes

    def _has(self, index: int) -> bool:
        return any(i == index for _, i in self.joined)

    def _forget(self, index: int) -> None:
        self.joined = {(f, i) for f, i in self.joined if i != index}

    def _join(self, iface: netif.Interface) -> tuple[str, ...]:
        done: list[str] = []
        v4 = self.runner.transports.get(socket.AF_INET)
        if v4 is not None and self.group_v4 and iface.ipv4 and (socket.AF_INET, iface.index) not in self.joined:
            sock = v4.get_extra_info("socket")
            mreqn = socket.inet_aton(self.group_v4) + socket.inet_aton("0.0.0.0") + struct.pack("@i", iface.index)
            try:
                sock.setsockopt(socket.IPPROTO_IP, socket.IP_ADD_MEMBERSHIP, mreqn)
            except OSError as exc:
                if exc.errno != errno.EADDRINUSE:  # EADDRINUSE: joined already (at start, or before a change)
                    self.errors.append(f"cannot join {self.group_v4} on {iface.name}: {exc.strerror or exc}")
            self.joined.add((socket.AF_INET, iface.index))
            done.append(self.group_v4)
            if iface.name == self._first_name():  # multicast leaves out of the first interface chosen
                with contextlib.suppress(OSError):
                    sock.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_IF, mreqn)
        v6 = self.runner.transports.get(socket.AF_INET6)
        if v6 is not None and self.group_v6 and (socket.AF_INET6, iface.index) not in self.joined:
            sock = v6.get_extra_info("socket")
            request = socket.inet_pton(socket.AF_INET6, self.group_v6) + struct.pack("@I", iface.index)
            try:
                sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_JOIN_GROUP, request)
            except OSError as exc:
                if exc.errno != errno.EADDRINUSE:
                    self.errors.append(f"cannot join {self.group_v6} on {iface.name}: {exc.strerror or exc}")
            self.joined.add((socket.AF_INET6, iface.index))
            done.append(self.group_v6)
        return tuple(done)

    def _first_name(self) -> str | None:
        for spec in self.specs:
            for name in self.seen:
                if name == spec:
                    return name
        return self.specs[0] if self.specs else None

    def start(self) -> asyncio.Task[None]:
        """Check now, then every ``interval`` seconds until :meth:`close`."""
        self.check()
        if self._task is None:
            self._task = self.runner.loop.create_task(self._run())
        return self._task

    async def _run(self) -> None:
        while not self.runner.closed:
            await asyncio.sleep(self.interval)
            self.check()

    async def close(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task


__all__ = ["InterfaceChange", "InterfaceWatcher"]
