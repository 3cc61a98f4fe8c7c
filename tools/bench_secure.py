"""Benchmark of the secure overlay, three figures side by side against their targets in one run.

* protect + unprotect of one 64-byte ECHONET Lite frame (OSCORE, AES-CCM-16-64-128): target under 15 us together;
* sequential Get round trips on loopback, secured over plain: target at least 0.7x (the median of the per-round
  ratios, with their range; not the best round);
* a method 0 (certificate) handshake, both sides in one process (two :class:`secure.session.SecureLayer` objects
  handing datagrams to each other: cookie round, EDHOC, chain validation, OSCORE derivation): target under 5 ms.

    python tools/bench_secure.py            # full run
    python tools/bench_secure.py --quick    # smoke run (few iterations; figures are rough)
    python tools/bench_secure.py --json     # machine-readable rows

The records use the compiled AES-CCM (secure/records/_aead.c) where pip built it; ECHONET_PURE_PYTHON=1 measures
them with cryptography's AEADs instead. The report says which.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import socket
import statistics
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from cryptography import x509  # noqa: E402
from cryptography.hazmat.primitives import serialization  # noqa: E402

from echonet.aio import Controller, DeviceServer, Endpoints  # noqa: E402
from echonet.frame import EOJ  # noqa: E402
from echonet.node import DeviceObject, Node, NodeConfig, NodeProfile  # noqa: E402
from secure.handshake.cose import Credential, LocalCredential  # noqa: E402
from secure.layer.aio import open_secure_controller, open_secure_server  # noqa: E402
from secure.layer.config import SecureConfig  # noqa: E402
from secure.layer.core import SecureLayer  # noqa: E402
from secure.policy.rules import Policy  # noqa: E402
from secure.records.oscore import NATIVE_AEAD, SecurityContext  # noqa: E402
from secure.trust import credentials as cred  # noqa: E402
from secure.trust.verifiers import CertificateVerifier  # noqa: E402

BATTERY = EOJ(0x02, 0x7D, 0x01)
MAKER = bytes.fromhex("00007b")
DEVICE_ID = bytes.fromhex("fe00007b0102030405060708090a0b0c0d")
CONTROLLER_ID = bytes.fromhex("fe00007b0d0c0b0a090807060504030201")
FRAME_64 = bytes.fromhex("1081000105ff01027d0162") + bytes((0x05,)) + bytes(range(64 - 12))


def _der(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.DER)


class _Pki:
    def __init__(self) -> None:
        now = time.time()
        self.root_key, self.root = cred.create_root_ca(common_name="Bench Root", now=now, maker_code=MAKER)
        self.ca_key, self.ca = cred.create_device_ca(
            root_key=self.root_key, root_cert=self.root, common_name="Bench CA", now=now
        )

    def config(self, id_number: bytes, role: cred.Role, peer: cred.Role, initiate: bool) -> SecureConfig:
        key = cred.generate_private_key()
        cert = cred.issue_certificate(
            ca_key=self.ca_key,
            ca_cert=self.ca,
            public_key=key.public_key(),
            identity=cred.EchonetIdentity(id_number, MAKER),
            role=role,
            now=time.time(),
        )
        local = LocalCredential(Credential.from_x509(_der(cert), chain=[_der(self.ca)]), key)
        verifier = CertificateVerifier([self.root], allowlist=None, role=peer)
        return SecureConfig(
            credential=local,
            verifier=verifier,
            initiate=initiate,
            respond=not initiate,
            source_burst=1e9,
            source_rate=1e9,
            global_burst=1e9,
            global_rate=1e9,
        )


def _battery_node() -> Node:
    obj = DeviceObject(
        BATTERY, {0x80: b"\x30", 0x81: b"\x00", 0x82: b"\x00\x00R\x01", 0x88: b"\x42", 0x8A: MAKER, 0xE4: b"\x32"}
    )
    return Node([obj], config=NodeConfig(multicast_v6=None), profile=NodeProfile(identification=DEVICE_ID))


# ------------------------------------------------------------------------------------------------ measures


def bench_records(iterations: int) -> float:
    """Microseconds per protect + unprotect of a 64-byte frame."""
    now = 0.0
    a = SecurityContext(b"\x01" * 16, b"\x02" * 8, sender_id=b"\x01", recipient_id=b"\x02", now=now)
    b = SecurityContext(b"\x01" * 16, b"\x02" * 8, sender_id=b"\x02", recipient_id=b"\x01", now=now)
    protect, unprotect = a.protect, b.unprotect
    times = []
    for _ in range(5):
        start = time.perf_counter()
        for _ in range(iterations):
            unprotect(protect(FRAME_64, now), now)
        times.append((time.perf_counter() - start) / iterations)
    return statistics.median(times) * 1e6


def bench_handshake(pki: _Pki, rounds: int) -> float:
    """Milliseconds for a complete method 0 handshake, both layers in this process."""
    times = []
    ctl_cfg = pki.config(CONTROLLER_ID, cred.Role.CONTROLLER, cred.Role.DEVICE, True)
    dev_cfg = pki.config(DEVICE_ID, cred.Role.DEVICE, cred.Role.CONTROLLER, False)
    ctl_addr, dev_addr = ("127.0.0.1", 40000), ("127.0.0.2", 3610)
    for _ in range(rounds):
        ctl = SecureLayer(Node(config=NodeConfig(multicast_v6=None)), ctl_cfg, policy=Policy())
        dev = SecureLayer(_battery_node(), dev_cfg, policy=Policy())
        start = time.perf_counter()
        now = time.monotonic()
        ctl.node.request(dev_addr, BATTERY, 0x62, [0x80], now=now)
        for _ in range(20):
            moved = False
            for data, _ in ctl.datagrams_to_send(now):
                dev.receive_datagram(data, ctl_addr, now)
                moved = True
            for data, _ in dev.datagrams_to_send(now):
                ctl.receive_datagram(data, dev_addr, now)
                moved = True
            if ctl.stats.handshakes_ok and dev.stats.handshakes_ok:
                break
            if not moved:
                raise RuntimeError("handshake stalled")
        times.append(time.perf_counter() - start)
        assert ctl.stats.handshakes_ok == 1 and dev.stats.handshakes_ok == 1
    return statistics.median(times) * 1e3


async def _round_trips(controller: Controller, addr: tuple[str, int], count: int) -> float:
    await controller.get(addr, BATTERY, [0xE4])  # warm-up (and, secured, the handshake)
    start = time.perf_counter()
    for _ in range(count):
        await controller.get(addr, BATTERY, [0xE4])
    return count / (time.perf_counter() - start)


async def bench_round_trips(pki: _Pki, count: int, rounds: int) -> dict[str, list[float]]:
    """Sequential Get round trips per second on loopback in ``rounds`` rounds, plain and secured alternating in each:
    the rates per round. Both ends run in this process and loop, as in the plain node benchmark."""

    def ep() -> Endpoints:
        return Endpoints(bind_v4="127.0.0.1", port=0, join_multicast=False)

    rates: dict[str, list[float]] = {"plain": [], "secured": []}
    for _ in range(rounds):
        device = await DeviceServer.open(_battery_node(), ep())
        controller = await Controller.open(ep(), config=NodeConfig(multicast_v6=None))
        try:
            addr = device.runner.local_addresses[socket.AF_INET][:2]
            rates["plain"].append(await _round_trips(controller, addr, count))
        finally:
            await controller.close()
            await device.close()
        dev_cfg = pki.config(DEVICE_ID, cred.Role.DEVICE, cred.Role.CONTROLLER, False)
        ctl_cfg = pki.config(CONTROLLER_ID, cred.Role.CONTROLLER, cred.Role.DEVICE, True)
        sdevice = await open_secure_server(_battery_node(), ep(), dev_cfg, policy=Policy())
        scontroller = await open_secure_controller(
            ep(), ctl_cfg, node_config=NodeConfig(multicast_v6=None), policy=Policy()
        )
        try:
            addr = sdevice.runner.local_addresses[socket.AF_INET][:2]
            rates["secured"].append(await _round_trips(scontroller, addr, count))
        finally:
            await scontroller.close()
            await sdevice.close()
    return rates


# ------------------------------------------------------------------------------------------------ report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="smoke run with few iterations")
    parser.add_argument("--json", action="store_true", help="print the rows as JSON")
    args = parser.parse_args(argv)
    records_n, handshakes_n, gets_n, rounds = (200, 3, 30, 1) if args.quick else (20000, 30, 2000, 9)

    pki = _Pki()
    record_us = bench_records(records_n)
    handshake_ms = bench_handshake(pki, handshakes_n)
    rates = asyncio.run(bench_round_trips(pki, gets_n, rounds))
    # one ratio per round (secured over the plain run just before it): median and range, not the best round
    per_round = sorted(s / p for s, p in zip(rates["secured"], rates["plain"], strict=True))
    ratio, low, high = statistics.median(per_round), per_round[0], per_round[-1]
    plain, secured = statistics.median(rates["plain"]), statistics.median(rates["secured"])
    rows: list[dict[str, Any]] = [
        {
            "measure": "protect+unprotect, 64-byte frame",
            "value": record_us,
            "unit": "us",
            "target": "< 15",
            "pass": record_us < 15.0,
        },
        {
            "measure": "Get round trips secured/plain (loopback)",
            "value": ratio,
            "unit": "x",
            "target": ">= 0.7",
            "pass": ratio >= 0.7,
            "plain_per_s": plain,
            "secured_per_s": secured,
            "range": [low, high],
            "records": "compiled" if NATIVE_AEAD else "cryptography",
        },
        {
            "measure": "method 0 handshake, both sides",
            "value": handshake_ms,
            "unit": "ms",
            "target": "< 5",
            "pass": handshake_ms < 5.0,
        },
    ]
    if args.json:
        print(json.dumps(rows, indent=1))
        return 0
    print(f"{'measure':44} {'value':>12} {'target':>8}  result")
    for row in rows:
        value = f"{row['value']:.2f} {row['unit']}"
        print(f"{row['measure']:44} {value:>12} {row['target']:>8}  {'PASS' if row['pass'] else 'MISS'}")
    print(
        f"  (Get round trips, medians of {rounds} rounds: plain {plain:.0f}/s, secured {secured:.0f}/s; ratio range"
        f" {low:.2f}-{high:.2f}{'; quick run, rough figures' if args.quick else ''})"
    )
    records = "the compiled AES-CCM" if NATIVE_AEAD else "cryptography's AEADs (not built, or ECHONET_PURE_PYTHON)"
    print(f"  (records sealed and opened by {records})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
