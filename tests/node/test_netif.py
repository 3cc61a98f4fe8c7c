"""Interface selection and the findings of diagnose(), on fabricated /proc trees and interface lists."""

from __future__ import annotations

from pathlib import Path

import pytest

from echonet import EchonetUsageError
from echonet.netif import Finding, Interface, Severity, diagnose, firewall_findings, interfaces, select

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
