"""What ``echonet doctor`` reports per interface: the groups joined there, read from /proc/net/igmp and igmp6 (here
from a /proc tree of the test's own, in the kernel's format), and the live report of this host."""

from __future__ import annotations

from pathlib import Path

from echonet import netif

IGMP = """Idx\tDevice    : Count Querier\tGroup    Users Timer\tReporter
1\tlo        :     2      V3
\t\t\t\t001700E0     1 0:00000000\t\t0
\t\t\t\t010000E0     1 0:00000000\t\t0
4\teth0      :     1      V3
\t\t\t\t010000E0     1 0:00000000\t\t0
"""
IGMP6 = """1    lo              ff020000000000000000000000000001     1 0000000C 0
4    eth0            ff020000000000000000000000000001     1 0000000C 0
"""


def test_group_memberships_are_read_per_interface(tmp_path: Path) -> None:
    (tmp_path / "net").mkdir()
    (tmp_path / "net" / "igmp").write_text(IGMP)
    (tmp_path / "net" / "igmp6").write_text(IGMP6)
    joined = netif.group_memberships(tmp_path)
    assert joined == {"lo": {"224.0.23.0", "224.0.0.1", "ff02::1"}, "eth0": {"224.0.0.1", "ff02::1"}}
    items = [netif.Interface("lo", 1, ("127.0.0.1",), loopback=True), netif.Interface("eth0", 4, ("192.0.2.5",))]
    report = netif.interface_report(("224.0.23.0",), available=items, proc_root=tmp_path)
    assert [(r["name"], r["groups"]) for r in report] == [("lo", {"224.0.23.0": True}), ("eth0", {"224.0.23.0": False})]
    assert netif.group_memberships(tmp_path / "absent") is None


def test_the_live_report_lists_every_interface_of_this_host() -> None:
    report = netif.interface_report()
    assert any(r["loopback"] for r in report) and all("224.0.23.0" in r["groups"] for r in report)
