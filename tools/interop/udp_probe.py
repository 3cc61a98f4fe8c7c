"""Send raw ECHONET Lite frames from one address and print what comes back, as JSON (a hand-made peer).

    python tools/interop/udp_probe.py --bind 127.0.0.3 [--port 3610] --to 127.0.0.2 [--to-port 3610]
        --hex 1081000105ff01027d0162018000 [--hex ...] [--wait 1.0]

Each ``--hex`` frame is sent in turn; after each, datagrams arriving on ``--bind``:``--port`` are collected for
``--wait`` seconds. Prints ``{"sent": [...], "received": [{"after": i, "from": "ip:port", "hex": ...}, ...]}``.
Used by the interop tests to put exact bytes (malformed ones included) in front of a peer, and by hand to reproduce
the observations in README.md.
"""

from __future__ import annotations

import argparse
import json
import socket
import sys
import time


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--bind", required=True)
    parser.add_argument("--port", type=int, default=3610, help="local port (0 for an ephemeral one; default 3610)")
    parser.add_argument("--to", required=True, help="destination address (224.0.23.0 for multicast)")
    parser.add_argument("--to-port", type=int, default=3610)
    parser.add_argument("--hex", action="append", required=True, help="a frame in hex; repeat for several")
    parser.add_argument("--wait", type=float, default=1.0, help="seconds to collect answers after each frame")
    args = parser.parse_args(argv)

    try:
        frames = [bytes.fromhex(h) for h in args.hex]
    except ValueError as exc:
        parser.error(str(exc))
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((args.bind, args.port))
    sock.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_IF, socket.inet_aton(args.bind))
    local = sock.getsockname()
    received: list[dict[str, object]] = []
    for index, frame in enumerate(frames):
        sock.sendto(frame, (args.to, args.to_port))
        deadline = time.monotonic() + args.wait
        while (left := deadline - time.monotonic()) > 0:
            sock.settimeout(left)
            try:
                data, addr = sock.recvfrom(65535)
            except TimeoutError:
                break
            received.append({"after": index, "from": f"{addr[0]}:{addr[1]}", "hex": data.hex()})
    sock.close()
    print(json.dumps({"bound": f"{local[0]}:{local[1]}", "sent": args.hex, "received": received}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
