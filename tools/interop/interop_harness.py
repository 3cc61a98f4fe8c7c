"""Test harness for the interop runners: an isolated loopback host, peer processes, the npm install, the sniffer.

Used by tests/interop/test_peers_*.py (which put this directory on sys.path) and usable by hand::

    with LoopbackHost() as host:
        device = host.start(["node", "tools/interop/el_device.js", "--bind", "127.0.0.2"])
        result = host.run_json([sys.executable, "tools/interop/pychonet_controller.py", "--host", "127.0.0.2",
                                "--bind", "127.0.0.3"])

The host is a fresh network namespace holding only ``lo``, set up as tools/interop/README.md describes (lo up, its
MULTICAST flag on, a route 224.0.0.0/4 via lo), so every peer binds its own 127.0.0.x:3610, multicast stays on
this host, and nothing reaches the machine's real interfaces. It needs root; :func:`require_netns` skips otherwise.
"""

from __future__ import annotations

import importlib.util
import itertools
import json
import os
import queue
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType
from typing import Any

import pytest

INTEROP = Path(__file__).resolve().parent
ROOT = INTEROP.parents[1]
PYTHON = sys.executable
#: Where the npm packages are installed: tools/interop itself, or ECHONET_INTEROP_NPM_PREFIX (the runners then find
#: them through NODE_PATH).
NPM_PREFIX = Path(os.environ.get("ECHONET_INTEROP_NPM_PREFIX") or INTEROP)
NODE_MODULES = NPM_PREFIX / "node_modules"
#: A registry that does not answer costs this much once per session, not once per test.
NPM_PROBE_TIMEOUT = 10.0
#: Below the npm tests' own 60 s limit, so that a slow install ends as a skip with the reason, never as an error.
NPM_INSTALL_TIMEOUT = 45.0
_COUNTER = itertools.count(1)


def require_netns() -> None:
    """Skip unless this process can create network namespaces (root and iproute2)."""
    if os.geteuid() != 0:
        pytest.skip("the loopback test host is a network namespace, which needs root")
    if shutil.which("ip") is None:
        pytest.skip("iproute2 ('ip') is not installed")
    probe = f"elprobe{os.getpid()}"
    made = subprocess.run(["ip", "netns", "add", probe], capture_output=True, text=True)
    if made.returncode:
        pytest.skip(f"cannot create a network namespace: {made.stderr.strip()}")
    subprocess.run(["ip", "netns", "del", probe], capture_output=True)


def require_python_peer(module: str) -> None:
    if importlib.util.find_spec(module) is None:
        pytest.skip(f"the Python package {module!r} is not installed (pip install -e '.[test]')")


def _npm(args: Sequence[str], timeout: float) -> tuple[int, str]:
    """Run ``npm args`` within ``timeout`` seconds: (exit code, the first telling lines it printed); 124 when it ran
    out of time."""
    try:
        done = subprocess.run(["npm", *args], capture_output=True, text=True, timeout=timeout, cwd=NPM_PREFIX)
    except subprocess.TimeoutExpired:
        return 124, f"no answer within {timeout:.0f} s"
    lines = [line.removeprefix("npm error").strip() for line in (done.stderr + done.stdout).splitlines()]
    noise = ("at ", "A complete log", "If you are", "syscall", "errno", "{", "}")
    telling = [line for line in lines if line and not line.startswith(noise)]
    return done.returncode, " | ".join(telling[:3])


def _npm_installed() -> bool:
    return (NODE_MODULES / "echonet-lite" / "index.js").exists() and (NODE_MODULES / "date-utils").exists()


def _npm_check() -> str | None:
    """Install tools/interop/package.json's dependencies if need be: the reason they are unavailable, or None.

    The registry is asked once, briefly (``npm view``, no retries, ``NPM_PROBE_TIMEOUT``); when it does not answer,
    npm's cache alone may still do (``npm install --offline``); the install itself is bounded too."""
    if shutil.which("node") is None or shutil.which("npm") is None:
        return "node and npm are not installed"
    if NPM_PREFIX != INTEROP:
        NPM_PREFIX.mkdir(parents=True, exist_ok=True)
        shutil.copy(INTEROP / "package.json", NPM_PREFIX / "package.json")
        os.environ["NODE_PATH"] = str(NODE_MODULES)
    if _npm_installed():
        return None
    pinned = json.loads((INTEROP / "package.json").read_text())["dependencies"]["echonet-lite"]
    quick = ["--no-audit", "--no-fund", "--fetch-retries=0", f"--fetch-timeout={NPM_PROBE_TIMEOUT * 1000:.0f}"]
    install = ["install", "--prefix", str(NPM_PREFIX), "--no-audit", "--no-fund"]
    code, said = _npm(["view", f"echonet-lite@{pinned}", "version", *quick], NPM_PROBE_TIMEOUT + 5)
    if code:
        offline, _ = _npm([*install, "--offline"], 20)
        if offline == 0 and _npm_installed():
            return None
        return (
            f"the npm registry is unreachable (npm view echonet-lite@{pinned}: {said}) and npm's cache lacks the "
            f"packages: run `npm install --prefix tools/interop` where the registry can be reached"
        )
    code, said = _npm([*install, "--prefer-offline", "--fetch-retries=1"], NPM_INSTALL_TIMEOUT)
    if code or not _npm_installed():
        return f"npm install of tools/interop/package.json failed: {said}"
    return None


_npm_checked = False
_npm_verdict: str | None = None


def npm_unavailable() -> str | None:
    """Why the npm peers cannot run (``None``: they can), found out once per session and remembered.

    The verdict is set to "interrupted" before the check, so that a check cut short (a test's time limit) makes
    every later npm test skip at once instead of trying again."""
    global _npm_checked, _npm_verdict
    if not _npm_checked:
        _npm_checked = True
        _npm_verdict = "an earlier attempt to install the npm packages was interrupted (see the first npm test)"
        _npm_verdict = _npm_check()
    return _npm_verdict


def require_npm_peer() -> None:
    """Skip unless the npm stack echonet-lite is installed beside the runners (installing it on first use)."""
    reason = npm_unavailable()
    if reason:
        pytest.skip(reason)


class Peer:
    """A runner process in the host: its stdout and stderr are read by threads, line by line."""

    def __init__(self, argv: Sequence[str], proc: subprocess.Popen[str]) -> None:
        self.argv = list(argv)
        self.proc = proc
        self.stdout: list[str] = []
        self.stderr: list[str] = []
        self._lines: queue.Queue[str | None] = queue.Queue()
        self._threads = [
            threading.Thread(target=self._pump, args=(proc.stdout, self.stdout, True), daemon=True),
            threading.Thread(target=self._pump, args=(proc.stderr, self.stderr, False), daemon=True),
        ]
        for thread in self._threads:
            thread.start()

    def _pump(self, stream: Any, into: list[str], signal_lines: bool) -> None:
        for line in iter(stream.readline, ""):
            into.append(line.rstrip("\n"))
            if signal_lines:
                self._lines.put(line.rstrip("\n"))
        if signal_lines:
            self._lines.put(None)

    def wait_ready(self, timeout: float = 15.0) -> dict[str, Any]:
        """The JSON of the runner's ``READY {json}`` line; fails the test if it does not come in time."""
        deadline = time.monotonic() + timeout
        while (left := deadline - time.monotonic()) > 0:
            try:
                line = self._lines.get(timeout=left)
            except queue.Empty:
                break
            if line is None:
                break
            if line.startswith("READY "):
                info: dict[str, Any] = json.loads(line[len("READY ") :])
                return info
        self.stop()
        raise AssertionError(f"{self.argv} gave no READY line: stdout={self.stdout} stderr={self.stderr[-20:]}")

    def stop(self, timeout: float = 5.0) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        for thread in self._threads:
            thread.join(timeout=2)
        return int(self.proc.returncode)


class LoopbackHost:
    """A network namespace with only ``lo`` (up, multicast on, 224.0.0.0/4 routed to it) and the peers run in it."""

    def __init__(self, name: str | None = None) -> None:
        self.name = name or f"elpeer{os.getpid() % 100000}x{next(_COUNTER)}"
        self.peers: list[Peer] = []
        self._sniffer: Peer | None = None

    def __enter__(self) -> LoopbackHost:
        require_netns()
        try:
            for cmd in (
                ["ip", "netns", "add", self.name],
                ["ip", "-n", self.name, "link", "set", "lo", "up"],
                ["ip", "-n", self.name, "link", "set", "lo", "multicast", "on"],
                ["ip", "-n", self.name, "route", "add", "224.0.0.0/4", "dev", "lo"],
            ):
                done = subprocess.run(cmd, capture_output=True, text=True)
                if done.returncode:
                    raise RuntimeError(f"{' '.join(cmd)}: {done.stderr.strip()}")
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def _argv(self, argv: Sequence[str]) -> list[str]:
        return ["ip", "netns", "exec", self.name, *argv]

    def popen(self, argv: Sequence[str]) -> Peer:
        proc = subprocess.Popen(self._argv(argv), cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        peer = Peer(argv, proc)
        self.peers.append(peer)
        return peer

    def start(self, argv: Sequence[str], timeout: float = 15.0) -> tuple[Peer, dict[str, Any]]:
        """Start a device runner and wait for its READY line."""
        peer = self.popen(argv)
        return peer, peer.wait_ready(timeout)

    def run(self, argv: Sequence[str], timeout: float = 30.0) -> subprocess.CompletedProcess[str]:
        return subprocess.run(self._argv(argv), cwd=ROOT, capture_output=True, text=True, timeout=timeout)

    def run_json(self, argv: Sequence[str], timeout: float = 30.0) -> tuple[int, dict[str, Any]]:
        """Run a controller runner to its end: (exit code, its JSON document)."""
        done = self.run(argv, timeout)
        lines = [line for line in done.stdout.splitlines() if line.strip()]
        if not lines:
            raise AssertionError(f"{list(argv)} printed nothing (exit {done.returncode}): {done.stderr[-2000:]}")
        try:
            doc: dict[str, Any] = json.loads(lines[-1])
        except json.JSONDecodeError as exc:
            raise AssertionError(f"{list(argv)} printed no JSON: {done.stdout[-2000:]} {done.stderr[-2000:]}") from exc
        return done.returncode, doc

    def probe(self, bind: str, to: str, frames: Sequence[str], port: int = 3610, wait: float = 0.7) -> list[Any]:
        """Send raw frames with udp_probe.py; the datagrams that came back, each {after, from, hex}."""
        argv = [PYTHON, "tools/interop/udp_probe.py", "--bind", bind, "--port", str(port), "--to", to]
        for frame in frames:
            argv += ["--hex", frame]
        code, doc = self.run_json([*argv, "--wait", str(wait)])
        assert code == 0, doc
        received: list[Any] = doc["received"]
        return received

    def start_sniffer(self) -> None:
        self._sniffer, _ = self.start([PYTHON, "tools/interop/sniff.py", "--seconds", "120"])

    def stop_sniffer(self) -> list[dict[str, Any]]:
        """Every UDP datagram to or from port 3610 seen on the host's lo since start_sniffer()."""
        assert self._sniffer is not None, "start_sniffer() first"
        time.sleep(0.2)  # let the last datagrams reach the capture socket
        self._sniffer.stop()
        records = [json.loads(line) for line in self._sniffer.stdout if line.startswith("{")]
        self._sniffer = None
        return records

    def close(self) -> None:
        for peer in self.peers:
            peer.stop()
        self.peers.clear()
        subprocess.run(["ip", "netns", "del", self.name], capture_output=True)


def frames_between(records: Sequence[dict[str, Any]], src: str, dst: str) -> list[dict[str, Any]]:
    """Sniffed datagrams from address ``src`` to address ``dst`` (ports ignored)."""
    return [r for r in records if r["src"] == src and r["dst"] == dst]


def wire(spaced_hex: str) -> str:
    """Hex written with spaces between fields (``"1081 0001 05ff01 027d01 62 01 8000"``) as one hex string."""
    return "".join(spaced_hex.split())


def esv_of(frame_hex: str) -> str:
    return frame_hex[20:22]


def tid_of(frame_hex: str) -> str:
    return frame_hex[4:8]


def props_of(frame_hex: str) -> list[tuple[str, int, str]]:
    """(EPC, PDC, EDT) of a format-1 frame's first property list, straight from the bytes."""
    data = bytes.fromhex(frame_hex)
    out: list[tuple[str, int, str]] = []
    pos = 12
    for _ in range(data[11] if len(data) > 11 else 0):
        if pos + 2 > len(data):
            break
        pdc = data[pos + 1]
        out.append((f"{data[pos]:02x}", pdc, data[pos + 2 : pos + 2 + pdc].hex()))
        pos += 2 + pdc
    return out


# Our stack as a peer (tools/interop/our_device.py, our_controller.py) ------------------------------------------------


def our_device_argv(bind: str, *extra: str) -> list[str]:
    return [PYTHON, "tools/interop/our_device.py", "--bind", bind, *extra]


def our_controller_argv(bind: str, *extra: str) -> list[str]:
    return [PYTHON, "tools/interop/our_controller.py", "--bind", bind, *extra]


def tagged(peer: Peer, tag: str) -> list[dict[str, Any]]:
    """The JSON of every ``TAG {json}`` line a runner printed (our_device.py: SET, DROP, DONE)."""
    prefix = tag + " "
    return [json.loads(line[len(prefix) :]) for line in peer.stdout if line.startswith(prefix)]
