"""A long-running secured controller as a process of its own, driven line by line (for the restart and revocation
tests): it loads an identity directory the way ``echonet get --secure`` does, then for every ``get HOST PORT EPC``
read on stdin does one Get of the battery and prints one JSON line with the outcome and the layer's counters.

    python secure_poller.py --identity DIR --bind 127.0.0.1 [--timeout 1.0] [--retries 1]

It stops at the end of its input, or after ``--lifetime`` seconds (so that a test that loses it never leaves it
behind). Nothing secret is printed: the layer's statistics are counters.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import sys
import time

from echonet.aio import Endpoints
from echonet.cli.secure_support import load_node_security
from echonet.errors import EchonetError
from echonet.frame import EOJ
from echonet.node import NodeConfig
from secure.layer.aio import open_secure_controller

BATTERY = EOJ(0x02, 0x7D, 0x01)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--identity", required=True)
    parser.add_argument("--bind", required=True)
    parser.add_argument("--timeout", type=float, default=1.0)
    parser.add_argument("--retries", type=int, default=1)
    parser.add_argument("--lifetime", type=float, default=90.0)
    args = parser.parse_args()
    return asyncio.run(asyncio.wait_for(serve(args), args.lifetime))


async def serve(args: argparse.Namespace) -> int:
    security = load_node_security(args.identity, "controller")
    config = NodeConfig(timeout=args.timeout, retries=args.retries, multicast_v6=None)
    ctl = await open_secure_controller(
        Endpoints(bind_v4=args.bind, port=0, join_multicast=False),
        security.config,
        node_config=config,
        policy=security.policy,
        audit=security.audit,
    )
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    print(json.dumps({"ready": True}), flush=True)
    try:
        while line := (await reader.readline()).decode().split():
            if line[0] != "get":
                continue
            host, port, epc = line[1], int(line[2]), int(line[3], 0)
            started = time.monotonic()
            outcome: dict[str, object] = {}
            try:
                got = await ctl.get((host, port), BATTERY, [epc])
                outcome = {"ok": True, "value": got.values.get(epc, b"").hex()}
            except EchonetError as exc:
                outcome = {"ok": False, "error": str(exc)}
            outcome["elapsed"] = time.monotonic() - started
            outcome["stats"] = dataclasses.asdict(ctl.layer.stats)
            print(json.dumps(outcome), flush=True)
    finally:
        await ctl.close()
        security.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
