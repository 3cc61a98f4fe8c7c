"""pychonet (PyPI) as an ECHONET Lite controller: its full discovery flow against one host, printed as JSON.

    python tools/interop/pychonet_controller.py --host 127.0.0.2 [--bind 127.0.0.3] [--multicast]
        [--set 027D01:DA=42 ...] [--batch 10] [--timeout 3] [--deadline 25] [--debug]

The flow is the one Home Assistant's echonetlite integration drives through pychonet:

1. with ``--multicast``: ``discover()`` to 224.0.23.0 (Get 0xD6), waiting until ``host`` answers;
2. ``discover(host)``: Get 0x8A, 0x8C, 0x83, 0xD6 of the node profile 0x0EF001;
3. per instance of 0xD6: ``getAllPropertyMaps`` (0x9D, 0x9E, 0x9F), ``getIdentificationInformation`` (0x83, 0x8A),
   then ``EchonetInstance.update()`` of every EPC of the Get map in batches of ``--batch`` (a shorter answer makes
   pychonet raise ``EchonetMaxOpcError``; the batch is then split, as the integration does);
4. each ``--set EOJ:EPC=HEX`` as ``setMessage`` (SetC), then ``update(EPC)`` to read it back.

Binding: pychonet's ``UDPServer.run(host, port)`` binds any address, so ``--bind 127.0.0.3`` lets it share a host
with a stack on 127.0.0.2:3610; ``UDPServer(local_ip=...)`` picks the interface it joins 224.0.23.0 on (without it,
pychonet connects a socket to 224.0.23.0 to find its address, which fails where there is no multicast route). Bound
to one address, it cannot receive multicast (INF from devices); answers to its multicast Get arrive by unicast.

Prints one JSON document (what pychonet learned, values as hex, set results, errors, every frame) and exits 0 when
discovery and every request succeeded, 1 otherwise, 2 on bad arguments, 3 when pychonet is missing, 143 on SIGTERM.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from typing import Any

from interop_common import drive, emit, frame_summary, hx, parse_set

try:
    import pychonet
    from pychonet.echonetapiclient import EchonetMaxOpcError
    from pychonet.lib.const import (
        ENL_GETMAP,
        ENL_MANUFACTURER,
        ENL_PRODUCT_CODE,
        ENL_SETMAP,
        ENL_STATMAP,
        ENL_UID,
    )
    from pychonet.lib.udpserver import UDPServer
except ImportError as exc:  # pragma: no cover - depends on the environment
    sys.stderr.write(f"pychonet_controller.py: pychonet is not installed: {exc}\n")
    sys.exit(3)

PORT = 3610


def _log(*parts: object) -> None:
    sys.stderr.write(" ".join(str(p) for p in parts) + "\n")


class Run:
    """One controller run: pychonet's client, what it learned, and the frames on the wire."""

    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.start = time.monotonic()
        self.result: dict[str, Any] = {
            "peer": "pychonet",
            "version": str(pychonet.__version__),
            "host": args.host,
            "bind": args.bind,
            "discovered": False,
            "node": {},
            "instances": [],
            "objects": {},
            "sets": [],
            "errors": [],
            "frames": [],
        }
        self.udp: Any = None
        self.api: Any = None

    def _frame(self, direction: str, data: bytes, addr: tuple[str, int]) -> None:
        self.result["frames"].append(
            {
                "t": round(time.monotonic() - self.start, 4),
                "dir": direction,
                "peer": f"{addr[0]}:{addr[1]}",
                "hex": bytes(data).hex(),
            }
        )

    def open(self) -> None:
        loop = asyncio.get_running_loop()
        udp: Any = UDPServer(local_ip=self.args.bind) if self.args.bind else UDPServer()
        send = udp.send
        received = udp._datagram_received

        def recording_send(data: bytes, addr: tuple[str, int]) -> None:
            self._frame("out", data, addr)
            send(data, addr)

        def recording_received(data: bytes, addr: tuple[str, int]) -> Any:
            self._frame("in", data, addr)
            return received(data, addr)

        udp.send = recording_send
        udp._datagram_received = recording_received
        udp.run(self.args.bind or "0.0.0.0", PORT, loop=loop)
        self.udp = udp
        api: Any = pychonet.ECHONETAPIClient(udp)
        api.configure(
            message_timeout=max(1, round(self.args.timeout * 10)),
            logger=_log if self.args.debug else (lambda *a, **k: None),
            debug=self.args.debug,
        )
        self.api = api

    def close(self) -> None:
        if self.udp is not None:
            self.udp.close()

    def _state(self) -> dict[str, Any]:
        state: dict[str, Any] = self.api.state.get(self.args.host, {})
        return state

    async def multicast_discovery(self) -> None:
        heard = asyncio.Event()
        hosts: list[str] = []

        async def on_new_host(host: str) -> None:
            hosts.append(host)
            if host == self.args.host:
                heard.set()

        self.api.configure(discover_callback=on_new_host)
        task = asyncio.ensure_future(self.api.discover())
        try:
            await asyncio.wait_for(heard.wait(), self.args.timeout)
        except TimeoutError:
            self.result["errors"].append(f"{self.args.host} did not answer the multicast Get of 0xD6")
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
        self.result["multicast_responders"] = hosts

    async def discover(self) -> bool:
        ok = bool(await self.api.discover(self.args.host))
        state = self._state()
        node = self.result["node"]
        node["uid"] = state.get("uid")
        node["manufacturer"] = state.get("manufacturer")
        node["product_code"] = state.get("product_code")
        self.result["discovered"] = bool(state.get("discovered"))
        if not ok or not state.get("discovered"):
            self.result["errors"].append(f"discover({self.args.host}) failed (answered: {ok})")
            return False
        for gc, classes in state["instances"].items():
            for cc, instances in classes.items():
                for ci in instances:
                    self.result["instances"].append(hx((gc << 16) | (cc << 8) | ci, 6))
        return True

    async def read_object(self, eoj: int) -> None:
        host = self.args.host
        gc, cc, ci = eoj >> 16, (eoj >> 8) & 0xFF, eoj & 0xFF
        entry: dict[str, Any] = {"maps": {}, "values": {}, "unread": [], "decoded": {}}
        self.result["objects"][hx(eoj, 6)] = entry
        if not await self.api.getAllPropertyMaps(host, gc, cc, ci):
            self.result["errors"].append(f"getAllPropertyMaps {hx(eoj, 6)} failed")
        props: dict[int, Any] = self._state()["instances"][gc][cc][ci]
        for epc in (ENL_STATMAP, ENL_SETMAP, ENL_GETMAP):
            entry["maps"][hx(epc)] = [hx(e) for e in props.get(epc, [])]
        if not await self.api.getIdentificationInformation(host, gc, cc, ci):
            self.result["errors"].append(f"getIdentificationInformation {hx(eoj, 6)} failed")
        entry["uid"] = props.get(ENL_UID)
        entry["manufacturer"] = props.get(ENL_MANUFACTURER)

        instance: Any = pychonet.Factory(host, self.api, gc, cc, ci)
        # pychonet stores these decoded (maps as lists, 0x83/0x8A/0x8C as text or numbers); update() of them then
        # fails on the decoded value, so they are read by the calls above only, as the integration does.
        decoded_by_receiver = (ENL_STATMAP, ENL_SETMAP, ENL_GETMAP, ENL_UID, ENL_MANUFACTURER, ENL_PRODUCT_CODE)
        readable = [e for e in props.get(ENL_GETMAP, []) if e not in decoded_by_receiver]
        await self._update_in_batches(instance, readable, entry)
        for epc in readable:
            raw = props.get(epc)
            if isinstance(raw, bytes | bytearray):
                entry["values"][hx(epc)] = bytes(raw).hex()
            else:
                entry["unread"].append(hx(epc))

    async def _update_in_batches(self, instance: Any, epcs: list[int], entry: dict[str, Any]) -> None:
        size = max(1, self.args.batch)
        queue = [epcs[i : i + size] for i in range(0, len(epcs), size)]
        entry["batches"] = []
        while queue:
            batch = queue.pop(0)
            try:
                decoded = await instance.update(batch)
            except EchonetMaxOpcError as exc:
                # the device answered fewer properties than asked: split, as Home Assistant's integration does
                answered = int(exc.args[0]) if exc.args else 0
                keep = max(1, min(answered, len(batch) // 2 or 1))
                entry["batches"].append({"asked": [hx(e) for e in batch], "max_opc_error": answered})
                if len(batch) > 1:
                    queue[:0] = [batch[i : i + keep] for i in range(0, len(batch), keep)]
                continue
            except TimeoutError:
                self.result["errors"].append(f"update {[hx(e) for e in batch]} timed out")
                entry["batches"].append({"asked": [hx(e) for e in batch], "timeout": True})
                continue
            entry["batches"].append({"asked": [hx(e) for e in batch]})
            if isinstance(decoded, dict):
                for epc, value in decoded.items():
                    entry["decoded"][hx(epc)] = value
            elif len(batch) == 1:
                entry["decoded"][hx(batch[0])] = decoded

    async def set_property(self, eoj: int, epc: int, edt: bytes) -> None:
        host = self.args.host
        gc, cc, ci = eoj >> 16, (eoj >> 8) & 0xFF, eoj & 0xFF
        record: dict[str, Any] = {"eoj": hx(eoj, 6), "epc": hx(epc), "edt": edt.hex()}
        self.result["sets"].append(record)
        sent_before = len(self.result["frames"])
        try:
            instance: Any = pychonet.EchonetInstance(host, gc, cc, ci, self.api)
        except KeyError:
            self.result["errors"].append(f"SetC {hx(eoj, 6)}: pychonet knows no such instance")
            return
        ok = bool(await instance.setMessage(epc, int.from_bytes(edt, "big"), len(edt)))
        record["ok"] = ok
        if not ok:
            self.result["errors"].append(f"SetC {hx(eoj, 6)}:{hx(epc)}={edt.hex()} failed")
        try:
            await instance.update(epc)
        except (TimeoutError, EchonetMaxOpcError) as exc:
            record["readback_error"] = repr(exc)
            self.result["errors"].append(f"reading {hx(eoj, 6)}:{hx(epc)} back failed: {exc!r}")
        record["frames"] = self.result["frames"][sent_before:]
        # pychonet stores the written value when a Set_Res arrives; what the device says is read from the wire
        raw = self._state()["instances"][gc][cc][ci].get(epc)
        record["state_after"] = bytes(raw).hex() if isinstance(raw, bytes | bytearray) else None
        record["readback"] = None
        for frame in record["frames"]:
            summary = frame_summary(bytes.fromhex(frame["hex"]))
            if frame["dir"] == "in" and summary.get("esv") in ("72", "52") and summary.get("seoj") == hx(eoj, 6):
                for prop in summary.get("props", []):
                    if prop["epc"] == hx(epc) and prop["pdc"]:
                        record["readback"] = prop["edt"]

    async def run(self) -> None:
        self.open()
        if self.args.multicast:
            await self.multicast_discovery()
        if not await self.discover():
            return
        for eoj_hex in self.result["instances"]:
            await self.read_object(int(eoj_hex, 16))
        for eoj, epc, edt in self.args.set:
            await self.set_property(eoj, epc, edt)


async def _main(args: argparse.Namespace) -> int:
    run = Run(args)
    terminated = await drive(run.run(), args.deadline, run.result["errors"], run.close)
    emit(json.dumps(run.result, default=repr))
    if terminated:
        return 143
    return 1 if run.result["errors"] else 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--host", required=True, help="the node to discover (unicast)")
    parser.add_argument("--bind", help="local address for port 3610 (default: pychonet's own, 0.0.0.0)")
    parser.add_argument("--multicast", action="store_true", help="first discover by a multicast Get of 0xD6")
    parser.add_argument("--set", action="append", default=[], metavar="EOJ:EPC=HEX", help="SetC after discovery")
    parser.add_argument("--batch", type=int, default=10, help="EPCs per Get while reading values (default 10)")
    parser.add_argument("--timeout", type=float, default=3.0, help="seconds to wait for each answer (default 3)")
    parser.add_argument("--deadline", type=float, default=25.0, help="seconds for the whole run (default 25)")
    parser.add_argument("--debug", action="store_true", help="pychonet's debug log on stderr")
    args = parser.parse_args(argv)
    try:
        args.set = [parse_set(s) for s in args.set]
    except ValueError as exc:
        parser.error(str(exc))
    return asyncio.run(_main(args))


if __name__ == "__main__":
    sys.exit(main())
