"""``echonet sniff``: live capture with an AF_PACKET socket. Two hosts in network namespaces and a sniffer on their
link (the bridge): discovery, Gets, Sets and INF between the hosts are all seen and decoded, in order, and a flood
of 5,000 datagrams/s is captured without a loss; ``--write`` keeps a pcapng that ``decode --pcap`` reads back to the
same records. Errors (no such interface, not permitted) are one line."""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from ..conftest import ROOT
from ..netns import Topology, require_netns

PY = sys.executable
FLOOD = 10_000
RATE = 5_000  # datagrams per second

_FLOODER = """
import socket, sys, time
from echonet.codec import encode
from echonet.frame import EOJ, ESV, Frame, Property
n, rate, dst = int(sys.argv[1]), float(sys.argv[2]), sys.argv[3]
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 1 << 22)
c, np = EOJ(5, 0xFF, 1), EOJ(0x0E, 0xF0, 1)
frames = [encode(Frame.make(i & 0xFFFF, c, np, ESV.INF, [Property(0xE0, i.to_bytes(4, 'big'))])) for i in range(n)]
start = time.monotonic()
for i, f in enumerate(frames):
    while time.monotonic() < start + i / rate:
        pass
    s.sendto(f, (dst, 3611))
print(f"{n / (time.monotonic() - start):.0f}")
s6 = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
s6.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_IF, socket.if_nametoindex("eth0"))
for i in range(5):  # IPv6 multicast too
    s6.sendto(frames[i], ("ff02::1", 3612, 0, socket.if_nametoindex("eth0")))
"""


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([PY, "-m", "echonet", *args], capture_output=True, text=True, cwd=ROOT, timeout=120)


def _eoj(value: object) -> str:
    return str(value["eoj"] if isinstance(value, dict) else value)


def _host(value: object, port_key: str, record: dict) -> tuple[str, int]:
    """(address, port) of a record's ``src``/``dst`` (``{"host", "port"}``, or the older text and ``sport``)."""
    if isinstance(value, dict):
        return value["host"], value["port"]
    return str(value), int(record[port_key])


def test_no_such_interface_is_one_line() -> None:
    out = _cli("sniff", "--interface", "no-such-if0", "--duration", "1")
    assert out.returncode == 1
    assert out.stderr.count("\n") == 1 and "no interface 'no-such-if0'" in out.stderr


def test_not_permitted_is_one_line() -> None:
    setpriv = shutil.which("setpriv")
    if setpriv is None:
        pytest.skip("setpriv (util-linux) is not installed: cannot run the sniffer unprivileged")
    out = subprocess.run(
        [setpriv, "--bounding-set=-net_raw", "--inh-caps=-net_raw", PY, "-m", "echonet", "sniff", "--duration", "1"],
        capture_output=True, text=True, cwd=ROOT, timeout=60,
    )  # fmt: skip
    assert out.returncode == 1, out.stderr
    assert out.stderr.count("\n") == 1 and "not permitted" in out.stderr and "CAP_NET_RAW" in out.stderr


def test_two_hosts_and_a_sniffer_on_the_link(tmp_path: Path) -> None:
    require_netns()
    pcapng = tmp_path / "link.pcapng"
    with Topology(2) as net:
        device, controller = net.address(1), net.address(2)
        sniff = subprocess.Popen(
            ["ip", "netns", "exec", net.switch, PY, "-m", "echonet", "sniff", "-i", "br0", "--port", "3610",
             "--port", "3611", "--port", "3612", "--json", "--write", str(pcapng), "--duration", "120"],
            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        net.procs.append(sniff)
        assert sniff.stderr is not None
        assert "capturing" in sniff.stderr.readline()
        server = net.popen(1, [PY, "-m", "echonet", "serve", "--device", "battery", "--interface", "eth0"], cwd=ROOT)
        time.sleep(2.0)
        found = net.run(2, [PY, "-m", "echonet", "discover", "--json", "--interface", "eth0", "--timeout", "2"])
        assert found.returncode == 0, found.stderr
        got = net.run(2, [PY, "-m", "echonet", "get", device, "027D01", "0xE4", "0x80"])
        assert got.returncode == 0, got.stderr
        done = net.run(2, [PY, "-m", "echonet", "set", device, "027D01", "operationMode=charging"])
        assert done.returncode == 0, done.stderr
        time.sleep(1.0)
        flood = net.run(2, [PY, "-c", _FLOODER, str(FLOOD), str(RATE), device], timeout=120)
        assert flood.returncode == 0, flood.stderr
        assert float(flood.stdout) >= RATE * 0.95  # (the flood ran at the rate asked for)
        time.sleep(1.0)
        sniff.send_signal(signal.SIGINT)
        live, rest = sniff.communicate(timeout=60)
        assert sniff.returncode == 0, rest
        server.terminate()
    records = [json.loads(line) for line in live.splitlines()]
    everything = list(records)
    v6 = [r for r in records if _host(r["dst"], "dport", r)[1] == 3612]
    assert [_host(r["dst"], "dport", r)[0].split("%")[0] for r in v6] == ["ff02::1"] * 5
    assert all(_host(r["src"], "sport", r)[0].startswith("fe80:") for r in v6)
    records = [r for r in records if r not in v6]
    ordinary = [r for r in records if _host(r["dst"], "dport", r)[1] != 3611]
    flood_records = [r for r in records if _host(r["dst"], "dport", r)[1] == 3611]
    # nothing lost, in order
    values = [int(r["frame"]["properties"][0]["edt"], 16) for r in flood_records]
    assert values == list(range(FLOOD))
    # discovery, Get, Set and INF seen and decoded, each answer after its request
    seen = [(r["frame"]["esv"], _host(r["src"], "sport", r)[0], _eoj(r["frame"]["seoj"])) for r in ordinary]
    assert not [r for r in ordinary if "error" in r]

    def first(esv: str, src: str, eoj: str | None = None) -> int:
        for i, (e, s, o) in enumerate(seen):
            if e == esv and s == src and (eoj is None or o == eoj):
                return i
        raise AssertionError(f"no {esv} from {src} ({eoj}) in {seen}")

    discovery = first("Get", controller, None)
    assert first("Get_Res", device, "0EF001") > discovery
    get = next(i for i, r in enumerate(ordinary) if r["frame"]["esv"] == "Get" and _eoj(r["frame"]["deoj"]) == "027D01")
    assert first("Get_Res", device, "027D01") > get
    setc = first("SetC", controller)
    assert next(i for i, (e, s, _) in enumerate(seen) if e == "Set_Res" and s == device) > setc
    assert any(e == "INF" and s == device for e, s, _ in seen)
    times = [r["time"] for r in records]
    assert times == sorted(times)
    # the pcapng reads back to the very records shown live
    back = _cli("decode", "--pcap", str(pcapng), "--port", "3610", "--port", "3611", "--port", "3612", "--json")
    assert back.returncode == 0, back.stderr
    assert [json.loads(line) for line in back.stdout.splitlines()] == everything


def test_sniff_on_loopback_with_count_and_summary() -> None:
    """On lo: --count stops after N datagrams, --summary pairs what was captured (IPv4 and IPv6)."""
    import socket

    try:
        socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(3)).close()
    except (PermissionError, AttributeError, OSError) as exc:
        pytest.skip(f"no AF_PACKET socket here ({exc})")
    from echonet.codec import encode
    from echonet.frame import EOJ, ESV, Frame, Property

    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    sniff = subprocess.Popen(
        [PY, "-m", "echonet", "sniff", "-i", "lo", "--port", str(port), "--count", "4", "--summary", "--json",
         "--duration", "60"],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    assert sniff.stderr is not None
    assert "capturing" in sniff.stderr.readline()
    c, b = EOJ(5, 0xFF, 1), EOJ(2, 0x7D, 1)
    get = encode(Frame.make(9, c, b, ESV.GET, [Property(0xE4)]))
    res = encode(Frame.make(9, b, c, ESV.GET_RES, [Property(0xE4, b"\x32")]))
    for family, host in ((socket.AF_INET, "127.0.0.1"), (socket.AF_INET6, "::1")):
        with socket.socket(family, socket.SOCK_DGRAM) as s:
            s.sendto(get, (host, port))
            time.sleep(0.01)
            s.sendto(res, (host, port))
    out, err = sniff.communicate(timeout=60)
    assert sniff.returncode == 0, err
    doc = json.loads(out)
    assert doc["datagrams"] == 4
    assert doc["requests"]["count"] == 2 and doc["requests"]["answered"] == 2
    assert {n["host"] for n in doc["nodes"]} == {"127.0.0.1", "::1"}
