"""Our stack inside a network namespace, for tests/node/test_netns_multicast.py (the ``ip netns exec`` side).

    python -m tests.node.netns_drivers.multicast joins '{"bind_v4": "127.0.0.5", "join_multicast": true}'
    python -m tests.node.netns_drivers.multicast discover '{"bind_v4": "192.0.2.1", "interfaces": ["eth0"]}' [--v6]
    python -m tests.node.netns_drivers.multicast watch [--iface eth0] [--seconds 120]

The JSON argument holds :class:`echonet.aio.Endpoints` fields (``port`` defaults to 0 here).

* joins: opens a controller on those endpoints and prints one JSON document: its warnings, the interface its
  sockets send multicast out of (``IP_MULTICAST_IF`` / ``IPV6_MULTICAST_IF``), and the memberships of
  224.0.23.0 / ff02::1 it added, per device, read from ``/proc/net/igmp`` and ``/proc/net/igmp6`` before and after.
* discover: opens a controller and prints the nodes ``Controller.discover()`` found by multicast.
* watch: listens on ``--iface`` (AF_PACKET, root), prints ``READY {}`` once listening, then one JSON line per UDP
  datagram, IGMP report and MLD report that arrives (what the other end of the link put on the wire).

Everything has a time limit; the exit code is 0 unless something raised.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import select
import signal
import socket
import struct
import sys
import time
from collections import Counter
from pathlib import Path
from types import FrameType
from typing import Any

from echonet.aio import Controller, Endpoints
from echonet.node import NodeConfig

GROUP_V4 = "224.0.23.0"
GROUP_V6 = "ff02::1"


def emit(doc: object, prefix: str = "") -> None:
    sys.stdout.write(prefix + json.dumps(doc, sort_keys=True) + "\n")
    sys.stdout.flush()


def endpoints(spec: str) -> Endpoints:
    fields: dict[str, Any] = {"port": 0, **json.loads(spec)}
    fields["interfaces"] = tuple(fields.get("interfaces", ()))
    return Endpoints(**fields)


def igmp_groups() -> Counter[tuple[str, str]]:
    """(device, group) -> users, of /proc/net/igmp."""
    out: Counter[tuple[str, str]] = Counter()
    device = ""
    for line in Path("/proc/net/igmp").read_text().splitlines()[1:]:
        fields = line.split()
        if not line.startswith(("\t", " ")) and len(fields) >= 2:
            device = fields[1]
        elif fields:
            group = socket.inet_ntoa(int(fields[0], 16).to_bytes(4, sys.byteorder))
            out[device, group] += int(fields[1])
    return out


def igmp6_groups() -> Counter[tuple[str, str]]:
    """(device, group) -> users, of /proc/net/igmp6."""
    out: Counter[tuple[str, str]] = Counter()
    for line in Path("/proc/net/igmp6").read_text().splitlines():
        fields = line.split()
        if len(fields) >= 4:
            out[fields[1], socket.inet_ntop(socket.AF_INET6, bytes.fromhex(fields[2]))] += int(fields[3])
    return out


def added(before: Counter[tuple[str, str]], after: Counter[tuple[str, str]], group: str) -> dict[str, int]:
    return {dev: n - before[dev, g] for (dev, g), n in after.items() if g == group and n > before[dev, g]}


async def joins(args: argparse.Namespace) -> None:
    before4, before6 = igmp_groups(), igmp6_groups()
    ctl = await Controller.open(endpoints(args.endpoints))
    try:
        after4, after6 = igmp_groups(), igmp6_groups()
        doc: dict[str, Any] = {
            "warnings": ctl.runner.warnings,
            "indexes": {name: i for i, name in socket.if_nameindex()},
        }
        v4 = ctl.runner.transports.get(socket.AF_INET)
        if v4 is not None:
            raw = v4.get_extra_info("socket").getsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_IF, 4)
            doc["multicast_if_v4"] = socket.inet_ntoa(raw)
            doc["joined_v4"] = added(before4, after4, GROUP_V4)
        v6 = ctl.runner.transports.get(socket.AF_INET6)
        if v6 is not None:
            doc["multicast_if_v6"] = v6.get_extra_info("socket").getsockopt(
                socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_IF
            )
            doc["joined_v6"] = added(before6, after6, GROUP_V6)
    finally:
        await ctl.close()
    emit(doc)


async def discover(args: argparse.Namespace) -> None:
    config = NodeConfig(timeout=1.0, multicast_v6=GROUP_V6 if args.v6 else None)
    ctl = await Controller.open(endpoints(args.endpoints), config=config)
    try:
        nodes = await ctl.discover(window=args.window, rescans=args.rescans, read_maps=not args.no_maps)
    finally:
        await ctl.close()
    emit(
        {
            "warnings": ctl.runner.warnings,
            "nodes": [
                {
                    "address": str(n.address[0]).split("%")[0],
                    "addresses": sorted(a.split("%")[0] for a in n.addresses),
                    "identification": n.identification.hex() if n.identification else None,
                    "instances": [bytes(e).hex() for e in n.instances],
                    "objects": sorted(bytes(o.eoj).hex() for o in n.objects),
                }
                for n in nodes
            ],
        }
    )


# watch ----------------------------------------------------------------------------------------------------------

ETH_P_ALL = 0x0003
PACKET_OUTGOING = 4


def _igmp(data: bytes) -> tuple[str, list[str]] | None:
    if len(data) < 8:
        return None
    kind = data[0]
    if kind in (0x12, 0x16, 0x17):  # v1/v2 report, leave
        return f"igmp-{kind:#x}", [socket.inet_ntoa(data[4:8])]
    if kind == 0x22:  # v3 report: records of (type, aux length, sources, group, ...)
        groups, pos = [], 8
        for _ in range(struct.unpack_from("!H", data, 6)[0]):
            if pos + 8 > len(data):
                break
            aux, sources = data[pos + 1], struct.unpack_from("!H", data, pos + 2)[0]
            groups.append(socket.inet_ntoa(data[pos + 4 : pos + 8]))
            pos += 8 + 4 * sources + 4 * aux
        return "igmp-v3", groups
    return None


def _mld(data: bytes) -> tuple[str, list[str]] | None:
    if len(data) < 8:
        return None
    kind = data[0]
    if kind in (131, 132) and len(data) >= 24:  # v1 report, done
        return f"mld-{kind}", [socket.inet_ntop(socket.AF_INET6, data[8:24])]
    if kind == 143:  # v2 report
        groups, pos = [], 8
        for _ in range(struct.unpack_from("!H", data, 6)[0]):
            if pos + 20 > len(data):
                break
            aux, sources = data[pos + 1], struct.unpack_from("!H", data, pos + 2)[0]
            groups.append(socket.inet_ntop(socket.AF_INET6, data[pos + 4 : pos + 20]))
            pos += 20 + 16 * sources + 4 * aux
        return "mld-v2", groups
    return None


def _udp(src: str, dst: str, data: bytes) -> dict[str, Any] | None:
    if len(data) < 8:
        return None
    sport, dport = struct.unpack_from("!HH", data)
    payload = data[8:]
    echonet = len(payload) >= 4 and payload[0] == 0x10 and payload[1] in (0x81, 0x82)
    return {"proto": "udp", "src": src, "dst": dst, "sport": sport, "dport": dport, "echonet": echonet}


def describe(frame: bytes) -> dict[str, Any] | None:
    """A UDP datagram, IGMP or MLD report inside an Ethernet frame, as a dict; None for anything else."""
    if len(frame) < 14:
        return None
    ethertype, packet = struct.unpack_from("!H", frame, 12)[0], frame[14:]
    if ethertype == 0x0800 and len(packet) >= 20:
        ihl = (packet[0] & 0x0F) * 4
        src, dst, body = socket.inet_ntoa(packet[12:16]), socket.inet_ntoa(packet[16:20]), packet[ihl:]
        if packet[9] == 17:
            return _udp(src, dst, body)
        if packet[9] == 2 and (found := _igmp(body)):
            return {"proto": found[0], "src": src, "dst": dst, "groups": found[1]}
        return None
    if ethertype == 0x86DD and len(packet) >= 40:
        src = socket.inet_ntop(socket.AF_INET6, packet[8:24])
        dst = socket.inet_ntop(socket.AF_INET6, packet[24:40])
        nxt, body = packet[6], packet[40:]
        if nxt == 0 and len(body) >= 8:  # hop-by-hop options (router alert, as MLD carries)
            nxt, body = body[0], body[(body[1] + 1) * 8 :]
        if nxt == 17:
            return _udp(src, dst, body)
        if nxt == 58 and (found := _mld(body)):
            return {"proto": found[0], "src": src, "dst": dst, "groups": found[1]}
    return None


def watch(args: argparse.Namespace) -> None:
    sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
    sock.bind((args.iface, 0))
    stop = False

    def on_signal(signum: int, frame: FrameType | None) -> None:
        nonlocal stop
        stop = True

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    started = time.monotonic()
    emit({"iface": args.iface}, "READY ")
    while not stop and time.monotonic() - started < args.seconds:
        ready, _, _ = select.select([sock], [], [], 0.1)
        if not ready:
            continue
        frame, where = sock.recvfrom(65535)
        if where[2] == PACKET_OUTGOING:
            continue
        record = describe(frame)
        if record is not None:
            record["t"] = round(time.monotonic() - started, 4)
            emit(record)
    sock.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="role", required=True)
    p = sub.add_parser("joins")
    p.add_argument("endpoints")
    p = sub.add_parser("discover")
    p.add_argument("endpoints")
    p.add_argument("--v6", action="store_true", help="ask ff02::1 too")
    p.add_argument("--window", type=float, default=0.5)
    p.add_argument("--rescans", type=int, default=1)
    p.add_argument("--no-maps", action="store_true")
    p = sub.add_parser("watch")
    p.add_argument("--iface", default="eth0")
    p.add_argument("--seconds", type=float, default=120.0)
    args = parser.parse_args()
    if args.role == "watch":
        watch(args)
    else:
        asyncio.run(asyncio.wait_for(joins(args) if args.role == "joins" else discover(args), 30))
    return 0


if __name__ == "__main__":
    sys.exit(main())
