"""Group records in the secure layer (sans-I/O, datagrams carried between layers in memory with a multicast
group): the controller hands the group key to every enrolled device over its pairwise session; multicast discovery
and INF among enrolled nodes are sealed with the group record; a legacy node is seen only by plain discovery, as
legacy; after a member is removed and the key rotated, its INF is refused."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from session_support import BATTERY, CONTROLLER_ID, device_node, site, wall

from echonet.frame import EOJ, ESV
from echonet.node import Node, NodeConfig, NodeProfile, ResponseReceived
from secure.audit import AuditLog
from secure.layer.config import SecureConfig
from secure.layer.core import SecureLayer
from secure.policy.rules import Policy
from secure.records.group import GROUP_RECORD, GroupManager
from secure.trust import credentials as cred
from secure.trust.allowlist import AllowList
from secure.trust.verifiers import CertificateVerifier

MULTICAST = ("224.0.23.0", 3610)
PROFILE = EOJ(0x0E, 0xF0, 0x01)
CONTROLLER_EOJ = EOJ(0x05, 0xFF, 0x01)
CONTROLLER_IP = "192.0.2.1"
DEVICES = {f"192.0.2.{i}": bytes.fromhex(f"fe00007b{i:02x}") + bytes(range(1, 13)) for i in (2, 3, 4)}
LEGACY_IP = "192.0.2.9"
CONFIG = NodeConfig(timeout=0.5, retries=0, multicast_v6=None)


class Lan:
    """Hosts on one segment: unicast goes to the host at the address, multicast to every other host."""

    def __init__(self) -> None:
        self.hosts: dict[str, SecureLayer | Node] = {}
        self.now = 0.0
        self.multicast_seen: list[tuple[str, bytes]] = []

    def pump(self, rounds: int = 200) -> None:
        for _ in range(rounds):
            moved = False
            for ip, host in list(self.hosts.items()):
                timer = host.get_timer()
                if timer is not None and timer <= self.now:
                    host.handle_timer(self.now)
                for data, addr in host.datagrams_to_send(self.now):
                    moved = True
                    if addr[0] == MULTICAST[0]:
                        self.multicast_seen.append((ip, data))
                        for other_ip, other in self.hosts.items():
                            if other_ip != ip:
                                other.receive_datagram(data, (ip, 3610), self.now)
                    elif str(addr[0]) in self.hosts:
                        self.hosts[str(addr[0])].receive_datagram(data, (ip, 3610), self.now)
            if not moved:
                return

    def advance(self, seconds: float) -> None:
        self.now += seconds
        self.pump()


def _sides(tmp: Path, wall: Callable[[], float] = wall, **settings: Any) -> tuple[SecureLayer, dict[str, SecureLayer]]:
    s = site()
    ctl_local, ctl_cert = s.leaf(CONTROLLER_ID, cred.Role.CONTROLLER)
    devices = {ip: s.leaf(id_number, cred.Role.DEVICE) for ip, id_number in DEVICES.items()}
    log = AuditLog(tmp / "controller.audit.jsonl")
    allow = AllowList(tmp / "controller.allow.json", audit=log)
    for _local, cert in devices.values():
        allow.enrol_certificate(cert, now=wall(), label="device")
    policy = Policy()
    policy.classify_legacy(LEGACY_IP, now=wall(), version="1.14")
    controller = SecureLayer(
        Node([], config=CONFIG, profile=NodeProfile(identification=CONTROLLER_ID)),
        SecureConfig(
            credential=ctl_local,
            verifier=CertificateVerifier([s.root], allowlist=allow, role=cred.Role.DEVICE),
            initiate=True,
            respond=False,
            plain_multicast=True,  # legacy nodes keep plain discovery here; their answers are told apart
            **settings,
        ),
        policy=policy,
        audit=log,
        wall_clock=wall,
    )
    layers = {}
    for ip, (local, _cert) in devices.items():
        dlog = AuditLog(tmp / f"{ip}.audit.jsonl")
        dallow = AllowList(tmp / f"{ip}.allow.json", audit=dlog)
        dallow.enrol_certificate(ctl_cert, now=wall(), label="controller")
        # Devices know each other only through the group: no pairwise enrolment among them.
        layers[ip] = SecureLayer(
            device_node(DEVICES[ip]),
            SecureConfig(
                credential=local,
                verifier=CertificateVerifier([s.root], allowlist=dallow, role=cred.Role.CONTROLLER),
                initiate=False,
                respond=True,
            ),
            policy=Policy(),
            audit=dlog,
            wall_clock=wall,
        )
    return controller, layers


def _network(
    tmp: Path, rotate_every: float = 3600.0, wall: Callable[[], float] = wall, **settings: Any
) -> tuple[Lan, SecureLayer, dict[str, SecureLayer]]:
    controller, devices = _sides(tmp, wall, **settings)
    lan = Lan()
    lan.hosts[CONTROLLER_IP] = controller
    lan.hosts.update(devices)
    legacy = device_node(bytes.fromhex("fe00007b99") + bytes(12))
    lan.hosts[LEGACY_IP] = legacy
    for host in lan.hosts.values():
        host.node.start(0.0) if isinstance(host, SecureLayer) else host.start(0.0)
    controller.manage_group(GroupManager(now=wall(), rotate_every=rotate_every), 0.0)
    for ip in DEVICES:  # enrolment: one unicast read each, which makes the pairwise session
        controller.node.request(ip, PROFILE, ESV.GET, [0x83], now=lan.now)
    lan.pump()
    lan.advance(0.6)
    controller.node.take_events()
    return lan, controller, devices


def _discover(lan: Lan, controller: SecureLayer) -> dict[str, str]:
    """Multicast Get 0xD6; each answer's source labelled ``group`` (a verified group record or pairwise session
    with an enrolled member) or ``legacy`` (plain, from a peer the policy holds as legacy)."""
    controller.node.request(MULTICAST, PROFILE, ESV.GET, [0xD6], now=lan.now)
    lan.pump()
    lan.advance(0.6)
    answers = {}
    for event in controller.node.take_events():
        if isinstance(event, ResponseReceived):
            ip = str(event.addr[0])
            status = controller.peer_status(ip)
            answers[ip] = "legacy" if ip in controller.plain_peers and status == "legacy" else status
    return answers


def test_the_group_key_reaches_every_enrolled_device_over_its_pairwise_session(tmp_path: Path) -> None:
    _lan, controller, devices = _network(tmp_path)
    assert controller.stats.group_updates_sent >= 3
    for layer in devices.values():
        status = layer.group_status()
        assert status["epochs"] == [1] and status["sending_epoch"] == 1
        assert len(status["members"]) == 4  # the three devices and the manager
        assert status["manager_identity"] == CONTROLLER_ID.hex()


def test_secured_discovery_finds_the_enrolled_nodes_and_sees_the_legacy_one_as_legacy(tmp_path: Path) -> None:
    lan, controller, devices = _network(tmp_path)
    lan.multicast_seen.clear()
    answers = _discover(lan, controller)
    assert {ip: answers.get(ip) for ip in DEVICES} == dict.fromkeys(DEVICES, "secure")
    assert answers.get(LEGACY_IP) == "legacy"
    sealed = [d for ip, d in lan.multicast_seen if ip == CONTROLLER_IP and d[1:2] == bytes((GROUP_RECORD,))]
    plain = [d for ip, d in lan.multicast_seen if ip == CONTROLLER_IP and d[0] == 0x10]
    assert sealed and plain  # the two requests are distinct datagrams, never one mixed
    assert all(layer.stats.group_opened >= 1 for layer in devices.values())


def test_inf_among_members_is_sealed_and_a_removed_members_inf_is_refused_after_rotation(tmp_path: Path) -> None:
    lan, controller, devices = _network(tmp_path)
    a, b, c = (devices[ip] for ip in DEVICES)
    a_ip = next(iter(DEVICES))
    a.node.announce(BATTERY, [0x80])
    lan.pump()
    assert b.stats.group_opened == 1 and c.stats.group_opened == 1
    assert all(d[0] != 0x10 for ip, d in lan.multicast_seen if ip == a_ip)  # never plain

    epoch = controller.group_remove(DEVICES[a_ip].hex(), lan.now)
    lan.pump()
    assert epoch == 2
    assert b.group_status()["sending_epoch"] == 2 and c.group_status()["sending_epoch"] == 2
    assert a.group_status()["sending_epoch"] == 1  # the removed member got no new key
    refused_before = b.stats.group_refused
    b.node.take_events()
    a.node.announce(BATTERY, [0x80])  # sealed under epoch 1, whose key it still holds
    lan.pump()
    assert b.stats.group_refused == refused_before + 1 and c.stats.group_refused >= 1
    assert not [e for e in b.node.take_events() if getattr(e, "addr", ("",))[0] == a_ip]
    records = [
        line for line in (tmp_path / "192.0.2.3.audit.jsonl").read_text().splitlines() if "group_refused" in line
    ]
    assert records and "not a member" in records[-1]
    # The remaining members still hear each other under the new epoch.
    opened = c.stats.group_opened
    b.node.announce(BATTERY, [0x80])
    lan.pump()
    assert c.stats.group_opened == opened + 1


def test_group_key_updates_are_taken_only_from_the_pinned_manager(tmp_path: Path) -> None:
    lan, _controller, devices = _network(tmp_path)
    a_ip = next(iter(DEVICES))
    a = devices[a_ip]
    assert a.group_manager_identity == CONTROLLER_ID.hex()
    s = site()
    other_id = bytes.fromhex("fe00007bee") + bytes(range(12))
    other_local, other_cert = s.leaf(other_id, cred.Role.CONTROLLER)
    AllowList(tmp_path / f"{a_ip}.allow.json").enrol_certificate(other_cert, now=wall(), label="second controller")
    a.handle_timer(lan.now + 3600.0)  # (the verifier looks at its allow-list again)
    log = AuditLog(tmp_path / "other.audit.jsonl")
    allow = AllowList(tmp_path / "other.allow.json", audit=log)
    allow.enrol_certificate(_device_cert(a), now=wall(), label="device")
    other = SecureLayer(
        Node([], config=CONFIG, profile=NodeProfile(identification=other_id)),
        SecureConfig(
            credential=other_local,
            verifier=CertificateVerifier([s.root], allowlist=allow, role=cred.Role.DEVICE),
            initiate=True,
            respond=False,
        ),
        policy=Policy(),
        audit=log,
        wall_clock=wall,
    )
    lan.hosts["192.0.2.5"] = other
    other.node.start(lan.now)
    other.manage_group(GroupManager(now=wall()), lan.now)
    other.node.request(a_ip, PROFILE, ESV.GET, [0x83], now=lan.now)
    lan.pump()
    assert other.has_session(a_ip) and other.stats.group_updates_sent >= 1
    assert a.group_status()["epochs"] == [1] and a.group_manager_identity == CONTROLLER_ID.hex()
    refused = [line for line in (tmp_path / f"{a_ip}.audit.jsonl").read_text().splitlines() if "update-refused" in line]
    assert refused and "not the group manager" in refused[-1]


def _device_cert(layer: SecureLayer) -> object:
    from cryptography import x509

    credential = layer.config.credential
    assert not isinstance(credential, list | tuple)
    return x509.load_der_x509_certificate(credential.credential.value)


def test_a_scheduled_rotation_runs_at_its_own_deadline(tmp_path: Path) -> None:
    # no other timer of the controller's (no trust polling, no rechecks): the rotation wakes the layer itself
    lan_box: list[Lan] = []

    def moving_wall() -> float:
        return wall() + (lan_box[0].now if lan_box else 0.0)

    lan, controller, devices = _network(
        tmp_path, rotate_every=40.0, wall=moving_wall, trust_poll=None, recheck_interval=None
    )
    lan_box.append(lan)
    for _ in range(20):  # from deadline to deadline, as a runner sleeps
        deadline = controller.get_timer()
        assert deadline is not None and deadline <= 40.0 + 0.001  # (none after the rotation's)
        lan.advance(deadline - lan.now + 1e-6)
        if controller.group_status()["epochs"] == [1, 2]:
            break
    assert 40.0 <= lan.now <= 40.01
    for layer in devices.values():
        assert layer.group_status()["epochs"] == [1, 2] and layer.group_status()["sending_epoch"] == 2
    records = [json.loads(line) for line in (tmp_path / "controller.audit.jsonl").read_text().splitlines()]
    assert any(r["event"] == "group_key" and r["fields"].get("reason") == "scheduled" for r in records)
    assert controller.get_timer() is not None and controller.get_timer() > lan.now + 39.0  # the next one
