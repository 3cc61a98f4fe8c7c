"""pychonet (PyPI) as a controller against OUR device node (tools/interop/our_device.py: an echonet.aio.DeviceServer
hosting a storage battery 0x027D01, an electric water heater 0x026B01 and a hybrid water heater 0x02A601 built from
the DRready models): its whole discovery flow, as Home Assistant's integration drives it, works end to end, and
every Set it makes is seen by our server.

Every test runs in its own network namespace (tools/interop/interop_harness.py: needs root), our node on
127.0.0.2:3610 (plus a socket on 224.0.23.0:3610 feeding it), pychonet on 127.0.0.3:3610.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "tools" / "interop"))

from interop_common import frame_summary
from interop_harness import PYTHON, LoopbackHost, Peer, our_device_argv, require_python_peer, tagged, wire

pytestmark = [pytest.mark.interop, pytest.mark.timeout(90)]

DEVICE = "127.0.0.2"
CONTROLLER = "127.0.0.3"
OBJECTS = ["027d01", "026b01", "02a601"]
#: pychonet keeps these decoded (maps as lists, 0x83/0x8A/0x8C as text), so the runner reports no raw value for them
DECODED = {"83", "8a", "8c", "9d", "9e", "9f"}


@pytest.fixture
def host() -> Iterator[LoopbackHost]:
    require_python_peer("pychonet")
    with LoopbackHost() as h:
        yield h


def start_our_device(host: LoopbackHost) -> tuple[Peer, dict[str, Any]]:
    return host.start(our_device_argv(DEVICE, "--multicast"))


def pychonet(host: LoopbackHost, *extra: str) -> tuple[int, dict[str, Any]]:
    argv = [PYTHON, "tools/interop/pychonet_controller.py", "--host", DEVICE, "--bind", CONTROLLER, "--timeout", "1"]
    return host.run_json([*argv, *extra], timeout=60)


def answers(doc: dict[str, Any], record: dict[str, Any]) -> list[dict[str, Any]]:
    return [frame_summary(bytes.fromhex(f["hex"])) for f in record["frames"] if f["dir"] == "in"]


def test_pychonet_discovers_our_three_devices_by_multicast_reads_every_value_and_sets_one(host: LoopbackHost) -> None:
    device, ready = start_our_device(host)
    code, doc = pychonet(host, "--multicast", "--set", "027D01:DA=42")
    device.stop()
    assert code == 0, doc["errors"]
    # multicast Get of 0xD6 first, answered by unicast from our node's own address
    first = doc["frames"][0]
    assert (first["dir"], first["peer"], first["hex"][8:]) == ("out", "224.0.23.0:3610", wire("05ff01 0ef001 6201d600"))
    assert doc["multicast_responders"] == [DEVICE]
    # then unicast discover(): 0x8A, 0x8C, 0x83, 0xD6 of our node profile (0x8C absent: a Get_SNA pychonet copes with)
    assert doc["discovered"] and doc["instances"] == OBJECTS
    assert doc["node"]["uid"] == ready["identification"][2:]
    for eoj in OBJECTS:
        ours, theirs = ready["objects"][eoj], doc["objects"][eoj]
        # the property maps as pychonet decoded them (bitmaps from 16 EPCs: every map but the hybrid's 0x9D/0x9E)
        maps = {epc: sorted(epcs) for epc, epcs in theirs["maps"].items()}
        assert maps == {"9d": ours["announce_map"], "9e": ours["set_map"], "9f": ours["get_map"]}, eoj
        # every readable EPC read by batched Gets of 10, each answered in full
        expected = {e: ours["values"][e] for e in ours["get_map"] if e not in DECODED}
        assert theirs["values"] == expected, eoj
        assert theirs["unread"] == [] and all(set(b) == {"asked"} for b in theirs["batches"]), theirs["batches"]
        assert theirs["uid"] == ours["values"]["83"][2:]
    [setc] = doc["sets"]
    assert setc["ok"] and setc["readback"] == "42"
    # what our DeviceServer saw: exactly the one Set, from pychonet's address
    assert tagged(device, "SET") == [{"eoj": "027d01", "epc": "da", "edt": "42", "peer": CONTROLLER}]
    assert tagged(device, "DROP") == []


def test_pychonet_sees_setc_sna_when_our_device_refuses_a_value(host: LoopbackHost) -> None:
    device, _ = start_our_device(host)
    # 0x99 is no operation mode of 0x027D 0xDA; 0x026B 0xB0 takes 0x41-0x43 (automatic, manual, stop)
    code, doc = pychonet(host, "--set", "027D01:DA=99", "--set", "026B01:B0=42")
    device.stop()
    refused, accepted = doc["sets"]
    assert not refused["ok"] and refused["readback"] == "46"  # still automatic
    [sna] = [a for a in answers(doc, refused) if a["esv"] == "51"]
    assert sna["props"] == [{"epc": "da", "pdc": 1, "edt": "99"}]  # the rejected EPC keeps its PDC and EDT
    assert accepted["ok"] and accepted["readback"] == "42"
    assert code == 1 and doc["errors"] == ["SetC 027d01:da=99 failed"]
    assert tagged(device, "SET") == [{"eoj": "026b01", "epc": "b0", "edt": "42", "peer": CONTROLLER}]


def test_pychonet_setc_outside_the_set_map_reaches_our_device_with_opc_0_and_gets_setc_sna(
    host: LoopbackHost,
) -> None:
    device, _ = start_our_device(host)
    code, doc = pychonet(host, "--set", "026B01:A0=00000001")
    device.stop()
    [setc] = doc["sets"]
    sent = [f["hex"] for f in setc["frames"] if f["dir"] == "out"]
    got = [f["hex"] for f in setc["frames"] if f["dir"] == "in"]
    # pychonet drops the EPC (not in the Set map it read) and sends the rest: nothing; our node refuses it whole
    assert sent[0][20:] == wire("61 00") and got[0][20:] == wire("51 00")
    # and reads back with a Get of OPC=0 (same filter), which our node answers with Get_SNA OPC=0
    assert sent[1][20:] == wire("62 00") and got[1][20:] == wire("52 00")
    assert code == 1 and not setc["ok"]
    assert tagged(device, "SET") == []
