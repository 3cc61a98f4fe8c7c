"""`echonet get` and `set` scale a number by the coefficient properties that came with it (issue: a cumulative
energy of a smart meter shown as a bare count although its unit was read in the same request). Real UDP on
loopback, a raw peer answering; the Machine Readable Appendix defines the coefficients (skips without it)."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator

import pytest

from ..conftest import mra_dir
from .test_cli_what_arrived import Answer, RawPeer, answer_from, cli, options


@pytest.fixture
def peer_with() -> Iterator[Callable[[Answer], RawPeer]]:
    peers: list[RawPeer] = []

    def make(answer: Answer) -> RawPeer:
        peers.append(RawPeer(answer))
        return peers[-1]

    yield make
    for p in peers:
        p.close()


def _mra() -> list[str]:
    where = mra_dir()
    if not where.is_dir():
        pytest.skip(f"the Machine Readable Appendix is not at {where}")
    return ["--mra", str(where)]


def test_get_scales_energy_by_the_coefficient_and_unit_read_in_the_same_request(
    capsys: pytest.CaptureFixture[str], peer_with: Callable[[Answer], RawPeer]
) -> None:
    # Get_Res from a low-voltage smart meter (0x0288): 0xE0 = 1234, 0xD3 coefficient = 3, 0xE1 unit 0x01 (0.1 kWh)
    props = bytes.fromhex("03" + "e004000004d2" + "d30400000003" + "e10101")
    peer = peer_with(answer_from("028801", 0x72, props))
    code, out, err = cli(capsys, *_mra(), "get", peer.ip, "028801", "0xE0", "0xD3", "0xE1", "--json", *options(peer))
    assert code == 0, err
    records = {r["epc"]: r for r in json.loads(out)["properties"]}
    assert (records["0xE0"]["value"], records["0xE0"]["unit"]) == (370.2, "kWh")
    code, out, err = cli(capsys, *_mra(), "get", peer.ip, "028801", "0xE0", "0xD3", "0xE1", *options(peer))
    assert code == 0, err
    assert "370.2 kWh" in out


def test_get_of_the_energy_alone_says_the_unit_is_unknown_instead_of_showing_a_count(
    capsys: pytest.CaptureFixture[str], peer_with: Callable[[Answer], RawPeer]
) -> None:
    peer = peer_with(answer_from("028801", 0x72, bytes.fromhex("01" + "e004000004d2")))
    code, out, err = cli(capsys, *_mra(), "get", peer.ip, "028801", "0xE0", "--json", *options(peer))
    assert code == 0, err
    (record,) = json.loads(out)["properties"]
    assert "value" not in record and record["unscaled"] == 1234 and "unknown" in record["note"]
