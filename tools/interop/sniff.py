"""A small UDP sniffer for ECHONET Lite traffic on one interface (Linux, root; AF_PACKET).

    python tools/interop/sniff.py [--iface lo] [--port 3610] [--seconds 30]

Prints ``READY {json}`` once the capture socket is open, then one JSON object per UDP datagram whose source or
destination port is ``--port`` (default 3610)::

    {"t": 0.0123, "src": "127.0.0.3", "sport": 3610, "dst": "127.0.0.2", "dport": 3610, "hex": "1081..."}

``t`` is seconds since READY. Each datagram is printed once (the copy the loopback device shows as outgoing is
skipped). Stops on SIGTERM/SIGINT or after ``--seconds``. Used by the interop tests to record what each peer
really puts on the wire, and by hand to check the claims in tools/interop/README.md.
"""

from __future__ import annotations

import argparse
import json
import select
import signal
import socket
import struct
import sys
import time
from types import FrameType

ETH_P_ALL = 0x0003
PACKET_OUTGOING = 4
ARPHRD_LOOPBACK = 772
ARPHRD_ETHER = 1


def _parse_udp(packet: bytes, port: int) -> dict[str, object] | None:
    """The UDP datagram inside an IPv4 packet, if either of its ports is ``port``."""
    if len(packet) < 20 or packet[0] >> 4 != 4:
        return None
    ihl = (packet[0] & 0x0F) * 4
    total = struct.unpack_from("!H", packet, 2)[0]
    flags_frag = struct.unpack_from("!H", packet, 6)[0]
    if packet[9] != 17 or flags_frag & 0x1FFF or len(packet) < ihl + 8:
        return None
    sport, dport, length = struct.unpack_from("!HHH", packet, ihl)
    if port not in (sport, dport):
        return None
    payload = packet[ihl + 8 : min(ihl + length, total, len(packet))]
    return {
        "src": socket.inet_ntoa(packet[12:16]),
        "sport": sport,
        "dst": socket.inet_ntoa(packet[16:20]),
        "dport": dport,
        "hex": payload.hex(),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--iface", default="lo")
    parser.add_argument("--port", type=int, default=3610)
    parser.add_argument("--seconds", type=float, default=60.0, help="stop after this long (default 60)")
    args = parser.parse_args(argv)

    stop = False

    def _on_signal(signum: int, frame: FrameType | None) -> None:
        nonlocal stop
        stop = True

    signal.signal(signal.SIGTERM, _on_signal)
    signal.signal(signal.SIGINT, _on_signal)

    try:
        sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
        sock.bind((args.iface, 0))
    except (OSError, AttributeError) as exc:
        print(json.dumps({"error": f"cannot open a packet socket on {args.iface}: {exc}"}), file=sys.stderr)
        return 2
    sock.setblocking(False)
    start = time.monotonic()
    print("READY " + json.dumps({"iface": args.iface, "port": args.port}), flush=True)
    deadline = start + args.seconds
    while not stop and time.monotonic() < deadline:
        try:
            ready, _, _ = select.select([sock], [], [], 0.1)
        except InterruptedError:
            continue
        if not ready:
            continue
        while True:
            try:
                frame, addr = sock.recvfrom(65535)
            except (BlockingIOError, InterruptedError):
                break
            pkttype, hatype = addr[2], addr[3]
            if pkttype == PACKET_OUTGOING:
                continue
            packet = frame[14:] if hatype in (ARPHRD_ETHER, ARPHRD_LOOPBACK) else frame
            record = _parse_udp(packet, args.port)
            if record is not None:
                record = {"t": round(time.monotonic() - start, 4), **record}
                print(json.dumps(record), flush=True)
    sock.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
