"""A controller: read and write the storage battery of ``examples/library_device.py`` with typed values."""

import asyncio

from echonet import EOJ
from echonet.aio import Controller, Endpoints
from echonet.node import NodeConfig
from echonet.spec import default_registry


async def main(host: str = "127.0.0.2", port: int = 3610) -> None:
    battery = EOJ.parse("027D01")
    tables = default_registry()  # decodes and encodes values by class and EPC
    local = Endpoints(bind_v4="127.0.0.1", port=0)  # this host only: no multicast group joined, nothing on the LAN
    async with await Controller.open(local, config=NodeConfig(timeout=2.0)) as ctl:
        got = await ctl.get((host, port), battery, [0x80, 0xE4, 0xDA])
        for epc, edt in got.values.items():
            value = tables.decode_value(battery.class_id, epc, edt)
            print(f"0x{epc:02X} {value.name}: {value.json_value()} {value.unit}".rstrip())

        mode = tables.property(battery.class_id, 0xDA)  # operation mode setting
        power = tables.property(battery.class_id, 0xEB)  # charging power setting
        assert mode is not None and power is not None
        done = await ctl.set((host, port), battery, {0xDA: mode.encode("charging"), 0xEB: power.encode(3000)})
        print("set accepted" if done.ok else f"set refused: {[hex(epc) for epc in done.refused]}")


if __name__ == "__main__":
    asyncio.run(main())
