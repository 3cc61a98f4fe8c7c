"""uecho (PyPI) as an ECHONET Lite device: one device object beside uecho's node profile, until killed.

    python tools/interop/uecho_device.py --bind 127.0.0.2 [--class 027D] [--instance 01] [--seconds 3600]
        [--announce EPC,EPC [--announce-every 0.5]]

Prints ``READY {json}`` (the node profile's and the device's properties as uecho serves them, maps included) once
its sockets are bound, then serves until SIGTERM/SIGINT or ``--seconds``.

What is uecho's and what is this runner's (see README.md):

- uecho: the node profile 0x0EF001 and its lists (0xD3-0xD7), the property maps 0x9D/0x9E/0x9F of every object
  (computed by uecho from the properties' attributes), request handling and answers, the sockets (a unicast socket
  on ``--bind``:3610 and a multicast socket on 0.0.0.0:3610 joined on ``--bind``).
- runner: the device's properties and values (``profiles/<CLASS>.json``; uecho's own class database has most
  properties without a value, which uecho would serve as PDC=0), and which Sets are acceptable (EPC in the Set map,
  same size, EDT in the profile's enum). uecho's ``LocalNode.start()`` ignores its interface argument and binds every
  IPv4 address of the host except 127.0.0.1; the runner narrows that to ``--bind`` by replacing uecho's interface
  list, and sets the multicast interface of uecho's sockets to ``--bind``. uecho sends no INF by itself; with
  ``--announce`` the runner builds an INF (0x73, device object to 0x0EF001) of those EPCs' current values every
  ``--announce-every`` seconds and has uecho send it (``LocalNode.announce_message``: by multicast).
"""

from __future__ import annotations

import argparse
import signal
import socket
import sys
import threading
from importlib.metadata import version
from types import FrameType
from typing import Any

from interop_common import Profile, available_profiles, hx, load_profile, ready

try:
    import uecho
    import uecho.frame.manager
    import uecho.frame.server
    from uecho import LocalNode, Property, SuperObject
    from uecho.message import Message
except ImportError as exc:  # pragma: no cover - depends on the environment
    sys.stderr.write(f"uecho_device.py: uecho is not installed: {exc}\n")
    sys.exit(3)


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


def build_object(profile: Profile) -> Any:
    """A uecho object holding the profile's properties; uecho derives its maps from the attributes."""
    specs = {p.epc: p for p in profile.properties}

    def write_requested(self: Any, prop: Any, data: bytes) -> bool:
        spec = specs.get(int(prop.code))
        return spec is not None and spec.accepts(bytes(data))

    cls = type("ProfileObject", (SuperObject,), {"property_write_requested": write_requested})
    obj: Any = cls(profile.eoj)
    for epc in (0x9D, 0x9E, 0x9F):  # the maps must exist before uecho can fill them
        prop: Any = Property(epc)
        prop.set_attribute(Property.GET, Property.REQUIRED)
        obj.add_property(prop)
    for spec in profile.properties:
        prop = Property(spec.epc, spec.edt)
        prop.set_attribute(Property.GET, Property.REQUIRED if spec.get else Property.PROHIBITED)
        prop.set_attribute(Property.SET, Property.OPTIONAL if spec.set else Property.PROHIBITED)
        prop.set_attribute(Property.ANNO, Property.REQUIRED if spec.inf else Property.PROHIBITED)
        obj.add_property(prop)
    return obj


def announce_loop(node: Any, device: Any, epcs: list[int], every: float, stop: threading.Event) -> None:
    """Have uecho multicast an INF of ``epcs`` (current values) every ``every`` seconds until ``stop``."""
    while not stop.wait(every):
        msg: Any = Message()
        msg.ESV = 0x73
        msg.SEOJ = device.code
        msg.DEOJ = 0x0EF001
        for epc in epcs:
            msg.add_property((epc, bytes(device.get_property(epc).data)))
        node.announce_message(msg)


def dump(obj: Any) -> dict[str, str]:
    return {hx(int(p.code)): bytes(p.data).hex() for p in sorted(obj.properties, key=lambda p: int(p.code))}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--bind", required=True, help="local address for port 3610, e.g. 127.0.0.2")
    parser.add_argument("--class", dest="cls", default="027D", choices=available_profiles(), help="device profile")
    parser.add_argument("--instance", help="instance code in hex (default: the profile's)")
    parser.add_argument("--seconds", type=float, default=3600.0, help="stop after this long (default 3600)")
    parser.add_argument("--announce", default="", metavar="EPC,EPC", help="send INF of these EPCs periodically")
    parser.add_argument("--announce-every", type=float, default=0.5, help="seconds between INF (default 0.5)")
    args = parser.parse_args(argv)
    try:
        announce = [int(e, 16) for e in args.announce.split(",") if e]
    except ValueError:
        parser.error(f"bad --announce {args.announce!r}, want EPC,EPC such as 80,DA")

    profile = load_profile(args.cls)
    if args.instance:
        profile = profile.with_instance(int(args.instance, 16))
    bind_uecho_to(args.bind)

    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)

    node: Any = LocalNode()
    device = build_object(profile)
    node.add_object(device)
    try:
        started = bool(node.start())
    except OSError as exc:
        sys.stderr.write(f"uecho_device.py: uecho could not bind {args.bind}:3610: {exc}\n")
        return 1
    if not started:
        sys.stderr.write(f"uecho_device.py: uecho could not start on {args.bind}\n")
        return 1
    try:
        ready(
            {
                "peer": "uecho",
                "version": version("uecho"),
                "bind": args.bind,
                "port": 3610,
                "eoj": hx(profile.eoj, 6),
                "properties": dump(device),
                "node_profile": dump(node.get_object(0x0EF001)),
            }
        )
        if announce:
            loop = (node, device, announce, args.announce_every, stop)
            threading.Thread(target=announce_loop, args=loop, daemon=True).start()
        stop.wait(args.seconds)
    finally:
        node.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
