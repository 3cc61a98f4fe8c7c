"""Test hosts in Linux network namespaces: N hosts on one bridged segment, for real multicast between processes.

The topology is created by the test and removed afterwards; nothing touches the machine's own interfaces:

    switch namespace  <prefix>sw : bridge br0 (multicast snooping off)
    host namespaces   <prefix>h1..hN : eth0 (veth into br0), 192.0.2.N/24 (TEST-NET-1) and an IPv6 link-local
                                       address, a multicast route 224.0.0.0/4 via eth0

:class:`LinkedPair` is the smaller set-up: two namespaces joined by one veth link, "this machine" with a default
route through its LAN interface (as a real host has) and "the LAN" on the other end of the cable, where a test can
listen for what leaves the machine.

Needs root and iproute2; :func:`require_netns` skips the test with the reason otherwise.
"""

from __future__ import annotations

import itertools
import os
import shutil
import subprocess
import time
from collections.abc import Sequence
from types import TracebackType

import pytest

SUBNET = "192.0.2"
SUBNET_V6 = "2001:db8::"
_PAIRS = itertools.count()


def require_netns() -> None:
    if os.geteuid() != 0:
        pytest.skip("network namespaces need root")
    if shutil.which("ip") is None:
        pytest.skip("iproute2 ('ip') is not installed")
    probe = f"echonet-probe-{os.getpid()}"
    made = subprocess.run(["ip", "netns", "add", probe], capture_output=True, text=True)
    if made.returncode:
        pytest.skip(f"cannot create a network namespace: {made.stderr.strip()}")
    subprocess.run(["ip", "netns", "del", probe], capture_output=True)


def _ip(*args: str) -> None:
    result = subprocess.run(["ip", *args], capture_output=True, text=True)
    if result.returncode:
        raise RuntimeError(f"ip {' '.join(args)}: {result.stderr.strip()}")


class Topology:
    """``with Topology(3) as net:`` gives hosts ``net.address(1..3)``; ``net.popen(i, argv)`` runs a process there."""

    def __init__(self, hosts: int, prefix: str | None = None) -> None:
        self.hosts = hosts
        self.prefix = prefix or f"el{os.getpid() % 100000}"
        self.switch = f"{self.prefix}sw"
        self.procs: list[subprocess.Popen[str]] = []

    def ns(self, i: int) -> str:
        return f"{self.prefix}h{i}"

    def address(self, i: int) -> str:
        return f"{SUBNET}.{i}"

    def __enter__(self) -> Topology:
        try:
            _ip("netns", "add", self.switch)
            _ip("-n", self.switch, "link", "add", "br0", "type", "bridge", "mcast_snooping", "0")
            _ip("-n", self.switch, "link", "set", "br0", "up")
            for i in range(1, self.hosts + 1):
                ns, port = self.ns(i), f"p{i}"
                _ip("netns", "add", ns)
                _ip("link", "add", port, "type", "veth", "peer", "name", "eth0", "netns", ns)
                _ip("link", "set", port, "netns", self.switch)
                _ip("-n", self.switch, "link", "set", port, "master", "br0")
                _ip("-n", self.switch, "link", "set", port, "up")
                _ip("-n", ns, "link", "set", "lo", "up")
                _ip("-n", ns, "addr", "add", f"{self.address(i)}/24", "dev", "eth0")
                _ip("-n", ns, "link", "set", "eth0", "up")
                _ip("-n", ns, "route", "add", "224.0.0.0/4", "dev", "eth0")
            self._wait_ipv6()
        except BaseException:
            self.close()
            raise
        return self

    def _wait_ipv6(self) -> None:
        """IPv6 link-local addresses pass duplicate address detection a moment after the link comes up."""
        deadline = time.monotonic() + 5
        for i in range(1, self.hosts + 1):
            while time.monotonic() < deadline:
                out = subprocess.run(
                    ["ip", "-n", self.ns(i), "-6", "addr", "show", "dev", "eth0", "scope", "link"],
                    capture_output=True,
                    text=True,
                ).stdout
                if "inet6" in out and "tentative" not in out:
                    break
                time.sleep(0.05)

    def popen(self, i: int, argv: Sequence[str], **kwargs: object) -> subprocess.Popen[str]:
        proc: subprocess.Popen[str] = subprocess.Popen(
            ["ip", "netns", "exec", self.ns(i), *argv],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            **kwargs,  # type: ignore[call-overload]
        )
        self.procs.append(proc)
        return proc

    def run(self, i: int, argv: Sequence[str], timeout: float = 60) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["ip", "netns", "exec", self.ns(i), *argv], capture_output=True, text=True, timeout=timeout
        )

    def close(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                proc.terminate()
                try:
                    proc.wait(timeout=5)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
        for i in range(1, self.hosts + 1):
            subprocess.run(["ip", "netns", "del", self.ns(i)], capture_output=True)
        subprocess.run(["ip", "netns", "del", self.switch], capture_output=True)

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


class LinkedPair:
    """Two namespaces joined by one veth link, for multicast over a real link and for watching what leaves a host.

        <prefix>a ("this machine"): lo up; eth0 192.0.2.1/24 and 2001:db8::1/64, default routes via the other end
        <prefix>b ("the LAN"):      lo up; eth0 192.0.2.2/24 and 2001:db8::2/64, default routes via the other end

    Both ends also have their IPv6 link-local address; duplicate address detection is off, so every address is
    usable at once. ``with LinkedPair() as pair:`` then ``pair.popen("b", argv)`` / ``pair.run("a", argv)``.
    """

    SIDES = ("a", "b")

    def __init__(self, prefix: str | None = None) -> None:
        self.prefix = prefix or f"elp{os.getpid() % 100000}{next(_PAIRS)}"
        self.procs: list[subprocess.Popen[str]] = []

    def ns(self, side: str) -> str:
        return f"{self.prefix}{side}"

    def address(self, side: str) -> str:
        return f"{SUBNET}.{self.SIDES.index(side) + 1}"

    def address_v6(self, side: str) -> str:
        return f"{SUBNET_V6}{self.SIDES.index(side) + 1}"

    def __enter__(self) -> LinkedPair:
        try:
            for side in self.SIDES:
                _ip("netns", "add", self.ns(side))
            _ip("link", "add", f"{self.prefix}x", "type", "veth", "peer", "name", f"{self.prefix}y")
            for side, end in zip(self.SIDES, ("x", "y"), strict=True):
                ns = self.ns(side)
                _ip("link", "set", f"{self.prefix}{end}", "netns", ns)
                _ip("-n", ns, "link", "set", f"{self.prefix}{end}", "name", "eth0")
                for key in ("accept_dad", "dad_transmits"):
                    subprocess.run(
                        ["ip", "netns", "exec", ns, "sysctl", "-qw", f"net.ipv6.conf.eth0.{key}=0"],
                        capture_output=True,
                    )
                other = self.SIDES[1 - self.SIDES.index(side)]
                _ip("-n", ns, "link", "set", "lo", "up")
                _ip("-n", ns, "addr", "add", f"{self.address(side)}/24", "dev", "eth0")
                _ip("-n", ns, "-6", "addr", "add", f"{self.address_v6(side)}/64", "dev", "eth0", "nodad")
                _ip("-n", ns, "link", "set", "eth0", "up")
                _ip("-n", ns, "route", "add", "default", "via", self.address(other))
                _ip("-n", ns, "-6", "route", "add", "default", "via", self.address_v6(other))
            self._wait_link_local()
        except BaseException:
            self.close()
            raise
        return self

    def _wait_link_local(self) -> None:
        deadline = time.monotonic() + 5
        for side in self.SIDES:
            while time.monotonic() < deadline:
                out = subprocess.run(
                    ["ip", "-n", self.ns(side), "-6", "addr", "show", "dev", "eth0", "scope", "link"],
                    capture_output=True,
                    text=True,
                ).stdout
                if "inet6" in out and "tentative" not in out:
                    break
                time.sleep(0.05)

    def popen(self, side: str, argv: Sequence[str], **kwargs: object) -> subprocess.Popen[str]:
        proc: subprocess.Popen[str] = subprocess.Popen(
            ["ip", "netns", "exec", self.ns(side), *argv],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            **kwargs,  # type: ignore[call-overload]
        )
        self.procs.append(proc)
        return proc

    def run(
        self, side: str, argv: Sequence[str], timeout: float = 60, **kwargs: object
    ) -> subprocess.CompletedProcess[str]:
        return subprocess.run(  # type: ignore[call-overload, no-any-return]
            ["ip", "netns", "exec", self.ns(side), *argv], capture_output=True, text=True, timeout=timeout, **kwargs
        )

    def close(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                proc.terminate()
                try:
                    proc.wait(timeout=5)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
        for side in self.SIDES:
            subprocess.run(["ip", "netns", "del", self.ns(side)], capture_output=True)

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()
