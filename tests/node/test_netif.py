"""Interface selection and the findings of diagnose(), on fabricated /proc trees and interface lists."""

from __future__ import annotations

import contextlib
import os
import socket
import sys
from pathlib import Path

import pytest

from echonet import EchonetUsageError
from echonet.netif import (
    Finding,
    Interface,
    PortHolder,
    Severity,
    diagnose,
    firewall_findings,
    interfaces,
    parse_udp_table,
    port_conflict_findings,
    port_findings,
    select,
)

LO = Interface("lo", 1, ("127.0.0.1",), ("::1",), up=True, loopback=True, multicast=False)
ETH0 = Interface("eth0", 2, ("192.168.1.5",), ("fe80::1",), up=True)
WLAN0 = Interface("wlan0", 3, ("10.0.0.7",), (), up=True)
HOST = [LO, ETH0, WLAN0]

ROUTE_HEADER = "Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT\n"
DEFAULT_VIA_ETH0 = "eth0\t00000000\t0101A8C0\t0003\t0\t0\t0\t00000000\t0\t0\t0\n"
LAN_ETH0 = "eth0\t0001A8C0\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0\n"
MULTICAST_WLAN0 = "wlan0\t000000E0\t00000000\t0001\t0\t0\t0\t000000F0\t0\t0\t0\n"


def proc(tmp_path: Path, routes: str, rp_filter: dict[str, int] | None = None) -> Path:
    (tmp_path / "net").mkdir()
    (tmp_path / "net" / "route").write_text(ROUTE_HEADER + routes)
    for name, value in (rp_filter or {}).items():
        conf = tmp_path / "sys" / "net" / "ipv4" / "conf" / name
        conf.mkdir(parents=True)
        (conf / "rp_filter").write_text(f"{value}\n")
    return tmp_path


def codes(findings: list[Finding]) -> list[str]:
    return [f.code for f in findings]


def test_select_finds_an_interface_by_name_or_address() -> None:
    assert select("eth0", HOST) is ETH0
    assert select("10.0.0.7", HOST) is WLAN0
    assert select("fe80::1%eth0", HOST) is ETH0
    with pytest.raises(EchonetUsageError, match="no interface"):
        select("192.0.2.1", HOST)


def test_interfaces_lists_this_host() -> None:
    found = interfaces()
    assert found and all(isinstance(i, Interface) for i in found)
    assert any(i.loopback for i in found)


def test_a_healthy_host_has_no_warning(tmp_path: Path) -> None:
    root = proc(tmp_path, DEFAULT_VIA_ETH0 + LAN_ETH0, {"all": 0, "eth0": 2})
    assert diagnose("eth0", available=HOST, proc_root=root, firewall=False) == []


def test_no_route_for_the_multicast_group_is_an_error(tmp_path: Path) -> None:
    root = proc(tmp_path, LAN_ETH0)
    (finding,) = diagnose(available=HOST, proc_root=root, firewall=False)
    assert finding.code == "no-multicast-route" and finding.severity is Severity.ERROR
    assert "224.0.23.0" in finding.message


def test_multicast_routed_through_another_interface_is_a_warning(tmp_path: Path) -> None:
    root = proc(tmp_path, DEFAULT_VIA_ETH0 + MULTICAST_WLAN0)
    findings = diagnose("eth0", available=HOST, proc_root=root, firewall=False)
    assert codes(findings) == ["multicast-route-elsewhere"] and findings[0].interface == "eth0"


def test_strict_rp_filter_is_a_warning(tmp_path: Path) -> None:
    root = proc(tmp_path, DEFAULT_VIA_ETH0, {"all": 1, "eth0": 0})
    findings = diagnose("eth0", available=HOST, proc_root=root, firewall=False)
    assert codes(findings) == ["rp-filter"] and "rp_filter" in findings[0].message


def test_an_address_no_interface_holds_is_an_error(tmp_path: Path) -> None:
    root = proc(tmp_path, DEFAULT_VIA_ETH0)
    assert codes(diagnose(address="192.168.9.9", available=HOST, proc_root=root, firewall=False)) == ["no-such-address"]
    assert codes(diagnose("eth9", available=HOST, proc_root=root, firewall=False)) == ["no-such-interface"]


def test_only_loopback_up_is_an_error(tmp_path: Path) -> None:
    root = proc(tmp_path, "")
    down = Interface("eth0", 2, (), (), up=False)
    found = codes(diagnose(available=[LO, down], proc_root=root, firewall=False))
    assert "only-loopback" in found and "no-multicast-route" in found


def test_firewall_rules_dropping_udp_3610_are_an_error(tmp_path: Path) -> None:
    rules = "*filter\n:INPUT ACCEPT [0:0]\n-A INPUT -p udp -m udp --dport 3610 -j DROP\nCOMMIT\n"
    root = proc(tmp_path, DEFAULT_VIA_ETH0)
    findings = diagnose(available=HOST, proc_root=root, firewall=rules)
    assert codes(findings) == ["firewall-drops-3610"] and findings[0].severity is Severity.ERROR


def test_a_dropping_input_policy_without_an_accept_for_3610_is_a_warning() -> None:
    nft = "table inet filter {\n chain input {\n  type filter hook input priority 0; policy drop;\n }\n}\n"
    assert codes(firewall_findings(nft)) == ["firewall-policy-drop"]
    accepted = nft.replace("policy drop;\n", "policy drop;\n  udp dport 3610 accept\n")
    assert firewall_findings(accepted) == []


def test_reading_the_live_firewall_never_fails(tmp_path: Path) -> None:
    root = proc(tmp_path, DEFAULT_VIA_ETH0)
    for finding in diagnose(available=HOST, proc_root=root, firewall=True):
        assert finding.code in ("firewall-unknown",) or finding.code.startswith("firewall")


# Another program on the port ---------------------------------------------------------------------------------------

UDP_HEADER = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode ref pointer drops\n"  # noqa: E501


def udp_line(address: str, port: int, inode: int, remote_port: int = 0) -> str:
    """One line of /proc/net/udp or /proc/net/udp6 as the kernel writes it: address words in the host's order."""
    v6 = ":" in address
    raw = socket.inet_pton(socket.AF_INET6 if v6 else socket.AF_INET, address)
    words = "".join(f"{int.from_bytes(raw[i : i + 4], sys.byteorder):08X}" for i in range(0, len(raw), 4))
    remote = ("0" * 32 if v6 else "0" * 8) + f":{remote_port:04X}"
    return f"   1: {words}:{port:04X} {remote} 07 00000000:00000000 00:00000000 00000000     0        0 {inode} 2 0 0\n"


def test_the_udp_tables_are_read_in_the_hosts_byte_order_and_connected_sockets_left_out() -> None:
    v4 = UDP_HEADER + udp_line("0.0.0.0", 3610, 11) + udp_line("127.0.0.2", 3610, 12) + udp_line("127.0.0.3", 3611, 13)
    v4 += udp_line("127.0.0.4", 3610, 14, remote_port=40000)
    assert parse_udp_table(v4, 3610) == [PortHolder("0.0.0.0", 3610, 11), PortHolder("127.0.0.2", 3610, 12)]
    v6 = UDP_HEADER + udp_line("::", 3610, 21) + udp_line("::1", 3610, 22) + udp_line("fe80::1", 3610, 23)
    assert [h.address for h in parse_udp_table(v6, 3610, v6=True)] == ["::", "::1", "fe80::1"]


def test_a_program_holding_the_wildcard_port_is_an_error_naming_its_process_and_the_fix(tmp_path: Path) -> None:
    root = proc(tmp_path, DEFAULT_VIA_ETH0 + LAN_ETH0, {"all": 0, "eth0": 2})
    (root / "net" / "udp").write_text(UDP_HEADER + udp_line("0.0.0.0", 3610, 4242))
    (root / "777" / "fd").mkdir(parents=True)
    (root / "777" / "fd" / "3").symlink_to("socket:[4242]")
    (root / "777" / "cmdline").write_bytes(b"python\0-m\0echonet\0serve\0--bind\0" + b"0.0.0.0\0")
    (finding,) = diagnose("eth0", available=HOST, proc_root=root, firewall=False)
    assert finding.code == "port-in-use" and finding.severity is Severity.ERROR
    assert "UDP 0.0.0.0:3610 is held by pid 777 (python -m echonet serve --bind 0.0.0.0)" in finding.message
    assert "--local-port 0" in finding.message and "echonet serve --bind 127.0.0.2" in finding.message
    (root / "777" / "fd" / "3").unlink()  # the process is not visible (another user's, without root)
    (finding,) = diagnose("eth0", available=HOST, proc_root=root, firewall=False)
    assert "a program whose process is not visible here" in finding.message


@pytest.mark.parametrize(
    ("holder", "address", "expected"),
    [
        ("0.0.0.0", None, Severity.ERROR),  # the one-machine conflict: both on the wildcard
        ("0.0.0.0", "0.0.0.0", Severity.ERROR),
        ("::", None, Severity.WARNING),  # the same, for a controller over IPv6
        ("0.0.0.0", "127.0.0.2", Severity.INFO),  # binding 127.0.0.2 fails or falls back to an ephemeral port
        ("0.0.0.0", "::1", None),  # another family
        ("127.0.0.2", "127.0.0.2", Severity.ERROR),  # the very address the controller binds
        ("127.0.0.1", None, Severity.WARNING),  # answers to a wildcard controller on 127.0.0.1 go to the holder
        ("192.168.1.5", None, Severity.WARNING),  # and those from the LAN to eth0's address
        ("127.0.0.2", None, None),  # a loopback address of its own: the way to share a host
    ],
)
def test_what_a_holder_of_the_port_breaks_depends_on_where_it_and_the_controller_bind(
    holder: str, address: str | None, expected: Severity | None
) -> None:
    found = port_findings(
        [PortHolder(holder, 3610, 1, 99, "echonet serve")],
        address=address,
        local_addresses=LO.addresses + ETH0.addresses,
    )
    assert [f.severity for f in found] == ([expected] if expected is not None else [])
    assert all(f.code == "port-in-use" and "pid 99 (echonet serve)" in f.message for f in found)


def test_two_wildcard_sockets_share_a_port_each_datagram_reaches_one_and_the_doctor_names_the_holder() -> None:
    first = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    second = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sender = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        for sock in (first, second):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.settimeout(0.2)
        first.bind(("0.0.0.0", 0))
        port = first.getsockname()[1]
        second.bind(("0.0.0.0", port))  # what a controller on the wildcard does beside `echonet serve --bind 0.0.0.0`
        sender.bind(("127.0.0.1", 0))
        for _ in range(20):
            sender.sendto(b"\x10\x81", ("127.0.0.1", port))
        received = {id(first): 0, id(second): 0}
        for sock in (first, second):
            with contextlib.suppress(TimeoutError):
                while True:
                    sock.recv(16)
                    received[id(sock)] += 1
        assert sum(received.values()) == 20  # each datagram reached one socket only: the other missed it

        findings = port_conflict_findings(port)
        mine = [f for f in findings if f"pid {os.getpid()} (" in f.message]
        assert mine and all(f.code == "port-in-use" and f.severity is Severity.ERROR for f in mine)
        assert f"UDP 0.0.0.0:{port} is held by pid {os.getpid()} (" in mine[0].message
        assert [f.severity for f in port_conflict_findings(port, address="127.0.0.2")] == [Severity.INFO]
    finally:
        for sock in (first, second, sender):
            sock.close()


def test_a_holder_bound_with_so_reuseaddr_to_one_address_is_named_for_a_controller_on_it_or_the_wildcard() -> None:
    holder = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        holder.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        holder.bind(("127.0.0.1", 0))  # a program serving 127.0.0.1 only, ready to share the port
        port = holder.getsockname()[1]
        on_it = [f for f in port_conflict_findings(port, address="127.0.0.1", available=[LO]) if "pid" in f.message]
        assert [f.severity for f in on_it] == [Severity.ERROR]
        assert f"UDP 127.0.0.1:{port} is held by pid {os.getpid()} (" in on_it[0].message
        wildcard = port_conflict_findings(port, available=[LO])
        assert [f.severity for f in wildcard] == [Severity.WARNING] and "go to it instead" in wildcard[0].message
        assert port_conflict_findings(port, address="127.0.0.9", available=[LO]) == []  # an address of its own
    finally:
        holder.close()


def test_the_doctor_takes_a_wildcard_bind_as_every_interface_not_as_an_address_no_interface_holds() -> None:
    findings = diagnose(address="0.0.0.0", firewall=False)
    assert not [f for f in findings if f.code == "no-such-address"]
    assert not [f for f in diagnose(address="::", firewall=False) if f.code == "no-such-address"]
