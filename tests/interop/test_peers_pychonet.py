"""pychonet (PyPI) as a controller (tools/interop/pychonet_controller.py) runs its discovery flow against the npm
and uecho devices, bound to its own loopback address beside them, and its departures from the spec recorded in
tools/interop/README.md are what it really puts on the wire.

Every test runs in its own network namespace (tools/interop/interop_harness.py: needs root) with the peers on
127.0.0.x:3610.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "tools" / "interop"))

from interop_common import hx, load_profile
from interop_harness import PYTHON, LoopbackHost, esv_of, require_npm_peer, require_python_peer, wire

pytestmark = [pytest.mark.interop, pytest.mark.timeout(60)]

DEVICE = "127.0.0.2"
CONTROLLER = "127.0.0.3"
PROFILE = load_profile("027D")
#: pychonet reads these through discover()/getIdentificationInformation() and keeps them decoded, not as bytes
IDENTIFICATION = (0x83, 0x8A)


@pytest.fixture
def host() -> Iterator[LoopbackHost]:
    require_python_peer("pychonet")
    with LoopbackHost() as h:
        yield h


def pychonet(host: LoopbackHost, *extra: str) -> tuple[int, dict[str, Any]]:
    argv = [PYTHON, "tools/interop/pychonet_controller.py", "--host", DEVICE, "--bind", CONTROLLER, "--timeout", "1"]
    return host.run_json([*argv, *extra])


def start_npm_device(host: LoopbackHost, *extra: str) -> None:
    require_npm_peer()
    host.start(["node", "tools/interop/el_device.js", "--bind", DEVICE, *extra])


def expected_values(epcs: list[int]) -> dict[str, str]:
    return {hx(p.epc): p.edt.hex() for p in PROFILE.properties if p.epc in epcs and p.epc not in IDENTIFICATION}


def test_pychonet_discovers_the_npm_device_reads_every_value_and_sets_one(host: LoopbackHost) -> None:
    start_npm_device(host)
    code, doc = pychonet(host, "--set", "027D01:DA=42")
    assert code == 0, doc["errors"]
    assert doc["discovered"] and doc["instances"] == ["027d01"]
    obj = doc["objects"]["027d01"]
    assert sorted(obj["maps"]["9f"]) == [hx(e) for e in PROFILE.epcs("get")]  # pychonet decodes bitmaps right
    assert sorted(obj["maps"]["9e"]) == [hx(e) for e in PROFILE.epcs("set")]
    assert obj["values"] == expected_values(PROFILE.epcs("get"))
    assert obj["uid"] == "fffff000000000000000000000027d01"
    [setc] = doc["sets"]
    assert setc["ok"] and setc["readback"] == "42"
    # pychonet matches answers on address and TID: answers from port 23610 are fine for it
    assert {f["peer"] for f in doc["frames"] if f["dir"] == "in"} == {f"{DEVICE}:23610"}


def test_pychonet_finds_the_npm_device_by_multicast_first(host: LoopbackHost) -> None:
    start_npm_device(host, "--multicast")
    code, doc = pychonet(host, "--multicast")
    assert code == 0, doc["errors"]
    assert doc["multicast_responders"] == [DEVICE]
    first = doc["frames"][0]
    assert (first["dir"], first["peer"], first["hex"][8:]) == ("out", "224.0.23.0:3610", wire("05ff01 0ef001 6201d600"))


def test_pychonet_sends_a_setc_with_opc_0_for_an_epc_outside_the_set_map(host: LoopbackHost) -> None:
    start_npm_device(host)
    code, doc = pychonet(host, "--set", "027D01:A0=00000001")
    assert code == 1
    [setc] = doc["sets"]
    assert not setc["ok"]
    sent = [f["hex"] for f in setc["frames"] if f["dir"] == "out"]
    # pychonet filters the EPCs by the Set map it read, then sends what is left: nothing (and the npm library
    # drops 12-byte frames, so pychonet waits out its timeout)
    assert sent[0][20:] == wire("61 00")
    assert not any(f["dir"] == "in" and f["hex"][4:8] == sent[0][4:8] for f in setc["frames"])


def test_pychonet_against_the_uecho_device_misses_epcs_from_0xc0_and_sends_a_get_with_opc_0(
    host: LoopbackHost,
) -> None:
    require_python_peer("uecho")
    host.start([PYTHON, "tools/interop/uecho_device.py", "--bind", DEVICE])
    code, doc = pychonet(host, "--set", "027D01:DA=42")
    obj = doc["objects"]["027d01"]
    below_c0 = [e for e in PROFILE.epcs("get") if e < 0xC0]
    assert sorted(obj["maps"]["9f"]) == [hx(e) for e in below_c0]  # uecho's bitmap lost 0xC0-0xFF
    assert obj["values"] == expected_values(below_c0)
    [setc] = doc["sets"]
    assert setc["ok"]  # 0xDA is in uecho's Set map, a list (fewer than 16 EPCs)
    # reading 0xDA back, pychonet drops it from the Get (not in the Get map it decoded) and sends OPC=0;
    # uecho answers that with a Get_Res of OPC=0, which pychonet counts as a failure
    [get] = [f["hex"] for f in setc["frames"] if f["dir"] == "out" and esv_of(f["hex"]) == "62"]
    [res] = [f["hex"] for f in setc["frames"] if f["dir"] == "in" and f["hex"][4:8] == get[4:8]]
    assert (get[20:], res[20:]) == (wire("62 00"), wire("72 00"))
    assert (
        setc["readback"] is None
        and code == 1
        and doc["errors"] == ["reading 027d01:da back failed: TimeoutError('Pychonet UDP request timeout.')"]
    )
