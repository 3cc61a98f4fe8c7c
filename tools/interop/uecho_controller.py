"""uecho (PyPI) as an ECHONET Lite controller: discovery, Gets and Sets against one host, printed as JSON.

    python tools/interop/uecho_controller.py --host 127.0.0.2 --bind 127.0.0.5
        [--get 027D01:80,DA] [--set 027D01:DA=42 ...] [--batch 10] [--timeout 2] [--deadline 25]

Starts ``uecho.Controller`` (which binds ``--bind``:3610 and 0.0.0.0:3610, and sends its multicast search, a Get of
0xD6, as it starts), then with ``post_message`` (one request in flight, answers matched on TID only):

1. Get 0xD6, 0x83, 0x8A, 0x9D, 0x9E, 0x9F of the node profile (0xD6 first: uecho registers a node only from an
   answer whose first property is an instance list, and drops every later answer from a node it has not registered);
2. Get 0x9D, 0x9E, 0x9F of each instance; the maps are decoded by uecho (``Property.property_map_codes``) and, beside
   it, by this runner per the spec;
3. Get every EPC of uecho's decoding of the Get map, in batches;
4. each ``--set`` as SetC (``WriteResponseRequiredRequest``), then a Get of the EPC.

With ``--get`` only those Gets are made after step 1. Prints one JSON document and exits 0 when every request was
answered, 1 otherwise, 2 on bad arguments, 3 when uecho is missing, 143 on SIGTERM.
"""

from __future__ import annotations

import argparse
import json
import signal
import socket
import sys
import time
from importlib.metadata import version
from types import FrameType
from typing import Any

from interop_common import decode_map, emit, frame_summary, hx, parse_get, parse_set

try:
    import uecho
    import uecho.controller
    import uecho.frame.manager
    import uecho.frame.server
except ImportError as exc:  # pragma: no cover - depends on the environment
    sys.stderr.write(f"uecho_controller.py: uecho is not installed: {exc}\n")
    sys.exit(3)

NODE_PROFILE = 0x0EF001


class Stop(Exception):
    """Raised from a signal handler to end the run and print what was learned."""


def bind_uecho_to(address: str) -> None:
    """Make uecho's frame manager use ``address`` only, and send multicast out of that interface."""

    def only_address() -> list[str]:
        return [address]

    uecho.frame.manager.Interface.get_all_ipaddrs = staticmethod(only_address)
    create = uecho.frame.server.Server.create_udp_socket

    def create_udp_socket(self: Any) -> socket.socket:
        sock: socket.socket = create(self)
        sock.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_IF, socket.inet_aton(address))
        return sock

    uecho.frame.server.Server.create_udp_socket = create_udp_socket


class Run:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.start = time.monotonic()
        self.result: dict[str, Any] = {
            "peer": "uecho",
            "version": version("uecho"),
            "host": args.host,
            "bind": args.bind,
            "found_nodes": [],
            "node_profile": {},
            "instances": [],
            "objects": {},
            "sets": [],
            "errors": [],
            "frames": [],
        }
        self.ctl: Any = None

    def _frame(self, direction: str, data: bytes, peer: tuple[str, int]) -> None:
        self.result["frames"].append(
            {
                "t": round(time.monotonic() - self.start, 4),
                "dir": direction,
                "peer": f"{peer[0]}:{peer[1]}",
                "hex": bytes(data).hex(),
            }
        )

    def open(self) -> None:
        ctl: Any = uecho.Controller()
        received = ctl.message_received
        send = ctl.send_message

        def recording_received(msg: Any) -> None:
            # recorded before uecho handles it: uecho's receive thread ends on the first exception it meets
            if msg.from_addr is not None:
                self._frame("in", msg.to_bytes(), msg.from_addr)
            received(msg)

        def recording_send(msg: Any, dest: Any) -> bool:
            ok = bool(send(msg, dest))
            self._frame("out", msg.to_bytes(), msg.to_addr or (str(dest), 3610))
            return ok

        ctl.message_received = recording_received
        ctl.send_message = recording_send
        self.ctl = ctl
        if not ctl.start():
            raise RuntimeError(f"uecho could not start on {self.args.bind}")

    def close(self) -> None:
        if self.ctl is not None:
            self.ctl.stop()

    def request(self, deoj: int, esv: int, props: list[tuple[int, bytes]]) -> Any:
        cls = {
            0x62: uecho.ReadRequest,
            0x61: uecho.WriteResponseRequiredRequest,
            0x60: uecho.WriteRequest,
        }[esv]
        msg: Any = cls(deoj)
        for epc, edt in props:
            msg.add_property((epc, edt))
        answer = self.ctl.post_message(msg, (self.args.host, 3610))
        what = f"ESV {hx(esv)} {hx(deoj, 6)} {[hx(e) for e, _ in props]}"
        if answer is None:
            self.result["errors"].append(f"no answer to {what}")
        elif answer.from_addr is not None and answer.from_addr[0] != self.args.host:
            # uecho matches answers on TID alone; one from another node is reported, not used
            self.result["errors"].append(f"the answer to {what} came from {answer.from_addr[0]}")
            return None
        return answer

    @staticmethod
    def props_of(answer: Any) -> list[tuple[int, bytes]]:
        return [(int(p.code), bytes(p.data)) for p in answer.properties]

    def discover_node(self) -> bool:
        answer = self.request(NODE_PROFILE, 0x62, [(e, b"") for e in (0xD6, 0x83, 0x8A, 0x9D, 0x9E, 0x9F)])
        if answer is None:
            return False
        props = dict(self.props_of(answer))
        self.result["node_profile"] = {hx(e): v.hex() for e, v in props.items()}
        self.result["node_profile_esv"] = hx(int(answer.ESV))
        self.result["found_nodes"] = sorted(str(n.ip) for n in self.ctl.nodes)
        d6 = props.get(0xD6, b"")
        for i in range(d6[0] if d6 else 0):
            code = d6[1 + 3 * i : 4 + 3 * i]
            if len(code) == 3:
                self.result["instances"].append(code.hex())
        self.result["objects"]["0ef001"] = self.maps_entry(props)
        return True

    @staticmethod
    def maps_entry(props: dict[int, bytes]) -> dict[str, Any]:
        entry: dict[str, Any] = {"maps": {}, "raw_maps": {}, "spec_maps": {}, "values": {}, "unreadable": []}
        for epc in (0x9D, 0x9E, 0x9F):
            raw = props.get(epc)
            if not raw:
                continue
            codes = uecho.Property(epc, raw).property_map_codes
            entry["maps"][hx(epc)] = [hx(c) for c in codes] if isinstance(codes, list) else None
            entry["raw_maps"][hx(epc)] = raw.hex()
            entry["spec_maps"][hx(epc)] = [hx(c) for c in decode_map(raw)]
        return entry

    def get_values(self, eoj: int, epcs: list[int], entry: dict[str, Any]) -> None:
        size = max(1, self.args.batch)
        for i in range(0, len(epcs), size):
            batch = epcs[i : i + size]
            answer = self.request(eoj, 0x62, [(e, b"") for e in batch])
            if answer is None:
                continue
            entry.setdefault("get_esv", []).append(hx(int(answer.ESV)))
            for epc, edt in self.props_of(answer):
                if edt:
                    entry["values"][hx(epc)] = edt.hex()
                else:
                    entry["unreadable"].append(hx(epc))

    def read_object(self, eoj: int) -> None:
        answer = self.request(eoj, 0x62, [(e, b"") for e in (0x9D, 0x9E, 0x9F)])
        if answer is None:
            return
        entry = self.maps_entry(dict(self.props_of(answer)))
        self.result["objects"][hx(eoj, 6)] = entry
        readable = [int(e, 16) for e in entry["maps"].get("9f") or [] if int(e, 16) not in (0x9D, 0x9E, 0x9F)]
        self.get_values(eoj, readable, entry)

    def set_property(self, eoj: int, epc: int, edt: bytes) -> None:
        record: dict[str, Any] = {"eoj": hx(eoj, 6), "epc": hx(epc), "edt": edt.hex()}
        self.result["sets"].append(record)
        answer = self.request(eoj, 0x61, [(epc, edt)])
        if answer is not None:
            record["answer"] = frame_summary(bytes(answer.to_bytes()))
        back = self.request(eoj, 0x62, [(epc, b"")])
        record["readback"] = dict(self.props_of(back)).get(epc, b"").hex() if back is not None else None

    def run(self) -> None:
        self.open()
        if not self.discover_node():
            return
        if self.args.get:
            for eoj, epcs in self.args.get:
                entry = self.result["objects"].setdefault(hx(eoj, 6), {"values": {}, "unreadable": []})
                self.get_values(eoj, epcs, entry)
        else:
            for eoj_hex in self.result["instances"]:
                self.read_object(int(eoj_hex, 16))
        for eoj, epc, edt in self.args.set:
            self.set_property(eoj, epc, edt)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--host", required=True)
    parser.add_argument("--bind", required=True, help="local address for port 3610, e.g. 127.0.0.5")
    parser.add_argument("--get", action="append", default=[], metavar="EOJ:EPC,EPC")
    parser.add_argument("--set", action="append", default=[], metavar="EOJ:EPC=HEX")
    parser.add_argument("--batch", type=int, default=10)
    parser.add_argument("--timeout", type=float, default=2.0, help="seconds to wait for each answer (default 2)")
    parser.add_argument("--deadline", type=float, default=25.0, help="seconds for the whole run (default 25)")
    args = parser.parse_args(argv)
    try:
        args.get = [parse_get(g) for g in args.get]
        args.set = [parse_set(s) for s in args.set]
    except ValueError as exc:
        parser.error(str(exc))

    uecho.controller.DEFAULT_POST_MSG_TIMEOUT = args.timeout
    bind_uecho_to(args.bind)
    signalled = False

    def on_signal(signum: int, frame: FrameType | None) -> None:
        nonlocal signalled
        signalled = signum != signal.SIGALRM
        raise Stop("terminated" if signalled else f"deadline of {args.deadline} s reached")

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGALRM, on_signal)
    signal.setitimer(signal.ITIMER_REAL, args.deadline)
    run = Run(args)
    try:
        run.run()
    except Stop as exc:
        run.result["errors"].append(str(exc))
    except Exception as exc:  # report the peer library's failure in the JSON rather than as a traceback
        run.result["errors"].append(f"{type(exc).__name__}: {exc}")
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        run.close()
    emit(json.dumps(run.result, default=repr))
    if signalled:
        return 143
    return 1 if run.result["errors"] else 0


if __name__ == "__main__":
    sys.exit(main())
