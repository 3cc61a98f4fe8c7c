"""Pair a controller with a battery over the secure overlay, control it, and watch attacks fail in the audit log.

Everything happens in a temporary directory and on loopback:

1. a manufacturer CA (root + device CA), a device certificate for the battery and a controller certificate, each
   binding an ECHONET identification number (0x83) and manufacturer code (0x8A);
2. each side enrols the other's certificate in its allow-list;
3. the controller reads and sets the battery: EDHOC method 0 handshake (stateless cookie first), identity
   cross-check of 0x83, then OSCORE-protected frames;
4. an attacker on the controller's address replays a captured record and an on-path attacker tampers with one;
   the battery refuses both (the tampered Set is retransmitted by the controller and then succeeds);
5. the battery's audit log is printed and its hash chain verified.

    python examples/secure_pairing.py
"""

from __future__ import annotations

import asyncio
import json
import socket
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from echonet.aio import Endpoints  # noqa: E402
from echonet.cli.secure_support import load_node_security  # noqa: E402
from echonet.frame import EOJ  # noqa: E402
from echonet.node import DeviceObject, Node, NodeConfig, NodeProfile  # noqa: E402
from secure import audit, store  # noqa: E402
from secure.layer.aio import open_secure_controller, open_secure_server  # noqa: E402
from secure.trust import credentials  # noqa: E402
from secure.trust.allowlist import AllowList  # noqa: E402

MAKER = bytes.fromhex("00007b")
BATTERY_ID = credentials.EchonetIdentity(bytes.fromhex("fe00007b42415454455259303030303031"), MAKER)
CONTROLLER_ID = credentials.EchonetIdentity(bytes.fromhex("fe00007b434f4e54524f4c4c4552303031"), MAKER)
BATTERY = EOJ(0x02, 0x7D, 0x01)
CONTROLLER_IP, BATTERY_IP = "127.0.0.1", "127.0.0.1"


def issue(ca_dir: Path, node_dir: Path, identity: credentials.EchonetIdentity, role: credentials.Role) -> None:
    """What 'echonet secure issue' does: a key, a certificate, the chain and the trust anchor in a node store."""
    ca_key, ca_cert, root_cert = credentials.load_ca(ca_dir)
    paths = store.NodePaths.at(node_dir)
    store.ensure_private_dir(paths.directory)
    key = credentials.generate_private_key()
    credentials.save_private_key(paths.key, key)
    cert = credentials.issue_certificate(
        ca_key=ca_key, ca_cert=ca_cert, public_key=key.public_key(), identity=identity, role=role, now=time.time()
    )
    credentials.save_certificates(paths.cert, cert)
    credentials.save_certificates(paths.chain, ca_cert)
    credentials.save_certificates(paths.trust, root_cert)
    print(
        f"  {role.value:10} certificate for 0x83={identity.id_number.hex().upper()}"
        f"  SHA-256 {credentials.format_fingerprint(credentials.spki_sha256(cert), 'groups')[:39]}..."
    )


def enrol(node_dir: Path, peer_dir: Path, label: str) -> None:
    """What 'echonet secure enrol' does: pin the peer's key in this node's allow-list (audited)."""
    paths = store.NodePaths.at(node_dir)
    with audit.AuditLog(paths.audit) as log:
        AllowList(paths.allowlist, audit=log).enrol_certificate(
            credentials.load_certificate(store.NodePaths.at(peer_dir).cert), now=time.time(), label=label
        )


def battery_node() -> Node:
    battery = DeviceObject(
        BATTERY,
        {
            0x80: b"\x30",
            0x81: b"\x00",
            0x82: b"\x00\x00R\x01",
            0x88: b"\x42",
            0x8A: MAKER,
            0xDA: b"\x44",
            0xE4: b"\x50",
        },
        settable=[0xDA],
    )
    return Node(
        [battery], config=NodeConfig(multicast_v6=None), profile=NodeProfile(identification=BATTERY_ID.id_number)
    )


def show(record: dict[str, Any]) -> None:
    fields = " ".join(
        f"{k}={v}"
        for k, v in sorted(record["fields"].items())
        if k in ("peer", "role", "reason", "piv", "method", "id_number", "cid", "label")
    )
    print(f"  #{record['seq']:<2} {record['event']:18} {fields}")


async def main(workdir: Path) -> int:
    ca_dir, battery_dir, controller_dir = workdir / "ca", workdir / "battery", workdir / "controller"
    print("1. manufacturer CA and certificates")
    credentials.init_ca_directory(ca_dir, organization="Example Co", maker_code=MAKER, now=time.time())
    issue(ca_dir, battery_dir, BATTERY_ID, credentials.Role.DEVICE)
    issue(ca_dir, controller_dir, CONTROLLER_ID, credentials.Role.CONTROLLER)
    print("2. enrolment: each side pins the other's key")
    enrol(battery_dir, controller_dir, "living-room controller")
    enrol(controller_dir, battery_dir, "garage battery")

    dev_sec = load_node_security(battery_dir, "device")
    ctl_sec = load_node_security(controller_dir, "controller")
    local = Endpoints(bind_v4=BATTERY_IP, port=0, join_multicast=False)
    server = await open_secure_server(battery_node(), local, dev_sec.config, policy=dev_sec.policy, audit=dev_sec.audit)
    controller = await open_secure_controller(
        Endpoints(bind_v4=CONTROLLER_IP, port=0, join_multicast=False),
        ctl_sec.config,
        node_config=NodeConfig(timeout=0.5, retries=2, multicast_v6=None),
        policy=ctl_sec.policy,
        audit=ctl_sec.audit,
    )
    battery_addr = server.runner.local_addresses[socket.AF_INET][:2]
    sent: list[bytes] = []
    tamper_next = [False]
    original = controller.layer.datagrams_to_send

    def wire(now: float) -> list[tuple[bytes, Any]]:  # the network between them: we can copy and alter records
        out = []
        for data, addr in original(now):
            if data[:2] == b"\x21\x03":
                sent.append(data)
                if tamper_next[0]:
                    tamper_next[0] = False
                    data = data[:-1] + bytes((data[-1] ^ 0x01,))
            out.append((data, addr))
        return out

    controller.layer.datagrams_to_send = wire  # type: ignore[method-assign]
    try:
        print("3. secured control")
        got = await controller.get(battery_addr, BATTERY, [0xE4, 0xDA])
        print(
            f"  read: remaining capacity 0xE4={got.values[0xE4][0]}%, operation mode 0xDA=0x{got.values[0xDA][0]:02X}"
            f"  ({controller.peer_status(BATTERY_IP)}, {ctl_sec.identity.uri} talks to {dev_sec.identity.uri})"
        )
        result = await controller.set(battery_addr, BATTERY, {0xDA: b"\x42"})
        print(f"  set operation mode 0xDA=0x42: {'accepted' if result.ok and not result.refused else 'refused'}")

        print("4. attacks")
        attacker = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        attacker.bind((CONTROLLER_IP, 0))
        attacker.sendto(sent[-1], battery_addr)  # replay of the Set just accepted
        await asyncio.sleep(0.1)
        attacker.close()
        print(f"  replayed the Set record: battery replays refused = {server.layer.stats.replays}")
        tamper_next[0] = True
        result = await controller.set(battery_addr, BATTERY, {0xDA: b"\x43"})
        print(
            f"  tampered with the next Set in flight: integrity failures = "
            f"{server.layer.stats.integrity_failures}; the controller's retransmission then "
            f"{'succeeded' if result.ok else 'failed'}"
        )
        value = server.node.object(BATTERY).value(0xDA)  # type: ignore[union-attr]
        print(f"  battery operation mode is now 0x{value[0]:02X}" if value else "  no value")
    finally:
        await controller.close()
        await server.close()
        dev_sec.close()
        ctl_sec.close()

    print("5. the battery's audit log")
    for line in store.NodePaths.at(battery_dir).audit.read_text().splitlines():
        show(json.loads(line))
    verdict = audit.verify(store.NodePaths.at(battery_dir).audit)
    state = "verified" if verdict.ok else "BROKEN"
    print(f"  audit chain: {state}, {verdict.records} records, head {verdict.head[:16]}")
    return 0 if verdict.ok and server.layer.stats.replays and server.layer.stats.integrity_failures else 1


if __name__ == "__main__":
    with tempfile.TemporaryDirectory(prefix="echonet-secure-") as tmp:
        sys.exit(asyncio.run(main(Path(tmp))))
