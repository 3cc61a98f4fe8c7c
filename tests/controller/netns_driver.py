"""Run inside a test network namespace (tests/controller/test_netns_interfaces.py): a FieldController bound to the
wildcard address that names ``eth0``, which has no address yet. It prints JSON lines: ``ready`` (with what
/proc/net/igmp says of eth0), then each interface change, then the nodes the re-run discovery found."""

from __future__ import annotations

import asyncio
import json
import sys

from echonet import netif
from echonet.aio import Endpoints
from echonet.aio.field import FieldConfig, FieldController
from echonet.aio.results import DiscoveredNode


def say(**record: object) -> None:
    print(json.dumps(record), flush=True)


def groups_on(name: str) -> list[str]:
    return sorted((netif.group_memberships() or {}).get(name, set()))


async def main() -> None:
    endpoints = Endpoints(bind_v4="0.0.0.0", interfaces=("eth0",))
    ctl = await FieldController.open(endpoints, field=FieldConfig(discover_window=0.5))
    found: asyncio.Future[list[DiscoveredNode]] = asyncio.get_running_loop().create_future()

    def rediscovered(nodes: list[DiscoveredNode]) -> None:
        if not found.done():
            found.set_result(nodes)

    ctl.on_rediscovered = rediscovered
    try:
        ctl.watch_interfaces(["eth0"], interval=0.2)
        say(ready=True, igmp=groups_on("eth0"), warnings=ctl.runner.warnings)
        nodes = await asyncio.wait_for(found, 30)
        say(changes=[[c.name, c.change, list(c.joined)] for c in ctl.network_changes], igmp=groups_on("eth0"))
        say(found=[n.host for n in nodes])
    finally:
        await ctl.close()


if __name__ == "__main__":
    asyncio.run(main())
    sys.exit(0)
