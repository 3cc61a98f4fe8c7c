"""A device: host a storage battery (0x027D01) that answers Gets and Sets and announces its changes.

Run ``python examples/library_device.py`` and talk to it with ``examples/library_controller.py`` or
``echonet get 127.0.0.2 027D01 remainingCapacity3 --bind 127.0.0.1``. Ctrl-C stops it.
"""

import asyncio
import contextlib

from echonet import EOJ
from echonet.aio import DeviceServer, Endpoints
from echonet.node import DeviceObject


async def serve(host: str = "127.0.0.2", port: int = 3610) -> None:
    battery = DeviceObject.from_typed(
        EOJ.parse("027D01"),
        {
            "operationStatus": "on",
            "installationLocation": b"\x00",
            "operationMode": "standby",
            "remainingCapacity3": 80,  # %
            "chargingPower": 0,  # W
        },
    )
    async with await DeviceServer.open([battery], Endpoints(bind_v4=host, port=port, reuse_address=True)) as server:
        print(f"storage battery 027D01 on {host} port {port}", flush=True)
        async for change in server.property_sets():  # Sets the battery accepted
            print(f"{change.addr[0]} set 0x{change.epc:02X} to {change.edt.hex()}", flush=True)


if __name__ == "__main__":
    with contextlib.suppress(KeyboardInterrupt):  # Ctrl-C stops it
        asyncio.run(serve())
