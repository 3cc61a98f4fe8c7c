"""`echonet decode --pcap --filter KEY=VALUE` compares values, not their presentation: ESV codes, objects, class
codes, EPCs and IP addresses, however they are written; and each datagram is decoded once."""

from __future__ import annotations

import json
from typing import Any

import pytest

import echonet.cli.decode as cli_decode
from echonet.cli import main
from echonet.cli.decode import RecordFilter
from echonet.codec import decode
from echonet.errors import EchonetUsageError
from echonet.frame import EOJ, ESV, Frame, Property
from echonet.pcap import Datagram, iter_datagrams

from .conftest import ROOT

SAMPLE_PCAPNG = ROOT / "examples" / "captures" / "sample.pcapng"


def records(capsys: pytest.CaptureFixture[str], *filters: str) -> list[dict[str, Any]]:
    argv = ["decode", "--pcap", str(SAMPLE_PCAPNG), "--json"]
    for term in filters:
        argv += ["--filter", term]
    assert main(argv) == 0
    return [json.loads(line) for line in capsys.readouterr().out.splitlines()]


def frames(found: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [r["frame"] for r in found if "frame" in r]


@pytest.mark.parametrize("spelling", ["Get_Res", "get_res", "GET_RES", "0x72", "0X72"])
def test_esv_by_name_or_code_selects_the_same_frames(capsys: pytest.CaptureFixture[str], spelling: str) -> None:
    found = records(capsys, f"esv={spelling}")
    assert found and all(f["esv"] == "Get_Res" for f in frames(found)) and len(frames(found)) == len(found)
    assert found == records(capsys, "esv=Get_Res")


@pytest.mark.parametrize("spelling", ["027D01", "027d01", "0x027d01", "02-7d-01", "02:7D:01"])
def test_eoj_in_any_spelling(capsys: pytest.CaptureFixture[str], spelling: str) -> None:
    found = frames(records(capsys, f"eoj={spelling}"))
    assert found and all("027D01" in (f["seoj"]["eoj"], f["deoj"]["eoj"]) for f in found)
    assert found == frames(records(capsys, "eoj=027D01"))


@pytest.mark.parametrize("spelling", ["027D", "027d", "0x027D", "0X027d", "27d", "0x0027D"])
def test_class_in_any_spelling(capsys: pytest.CaptureFixture[str], spelling: str) -> None:
    found = frames(records(capsys, f"class={spelling}"))
    assert found and all(any(f[k]["eoj"].startswith("027D") for k in ("seoj", "deoj")) for f in found)
    assert found == frames(records(capsys, "class=027D"))


def test_epc_as_a_number(capsys: pytest.CaptureFixture[str]) -> None:
    found = frames(records(capsys, "epc=0xd3"))
    assert found and found == frames(records(capsys, "epc=D3"))
    assert all(any(p["epc"] == "0xD3" for p in f["properties"]) for f in found)


def test_addresses_compare_as_ip_addresses(capsys: pytest.CaptureFixture[str]) -> None:
    v6 = records(capsys, "host=fe80::a8bb:ccff:fedd:ee10")
    assert v6 and v6 == records(capsys, "host=FE80:0000:0000:0000:A8BB:CCFF:FEDD:EE10")
    src = records(capsys, "src=192.168.1.21")
    assert src and all(r["src"]["host"] == "192.168.1.21" for r in src)
    dst = records(capsys, "dst=224.0.23.0")
    assert dst and all(r["dst"]["host"] == "224.0.23.0" for r in dst)


def test_terms_combine(capsys: pytest.CaptureFixture[str]) -> None:
    found = records(capsys, "class=0x027D", "esv=0x72", "epc=0xE2", "port=3610")
    assert len(found) == 1 and frames(found)[0]["seoj"]["eoj"] == "027D01"


@pytest.mark.parametrize("term", ["host=not-an-address", "esv=Got", "esv=72", "class=027D01", "eoj=027D", "epc=zz"])
def test_a_value_that_cannot_be_parsed_is_a_usage_error(capsys: pytest.CaptureFixture[str], term: str) -> None:
    code = main(["decode", "--pcap", str(SAMPLE_PCAPNG), "--filter", term])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and "bad filter value" in err


def test_filter_on_values_directly() -> None:
    frame = Frame.make(7, EOJ(0x02, 0x7D, 0x01), EOJ(0x05, 0xFF, 0x01), ESV.GET_RES, [Property(0xE4, b"\x32")])
    dg = Datagram(0.0, "2001:db8::1", "2001:db8::2", 3610, 40000, b"")
    every = RecordFilter(["esv=0x72", "eoj=027d01", "class=0x027D", "epc=e4", "src=2001:DB8:0::1", "port=40000"])
    assert every.match(dg, frame)
    assert not RecordFilter(["esv=Get"]).match(dg, frame)
    assert not RecordFilter(["class=05FE"]).match(dg, frame)
    assert not RecordFilter(["esv=Get_Res"]).match(dg, None)  # a malformed datagram has no ESV
    assert RecordFilter(["errors"]).match(dg, None) and not RecordFilter(["errors"]).match(dg, frame)
    assert RecordFilter(["errors=no"]).match(dg, frame)
    arbitrary = Frame.arbitrary(1, b"\x01\x02")
    assert not RecordFilter(["class=027D"]).match(dg, arbitrary)
    with pytest.raises(EchonetUsageError):
        RecordFilter(["esv=nonsense"])


def test_each_datagram_is_decoded_once(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[bytes] = []

    def counting(data: bytes) -> Frame:
        calls.append(bytes(data))
        return decode(data)

    datagrams = sum(1 for _ in iter_datagrams(SAMPLE_PCAPNG))
    monkeypatch.setattr(cli_decode, "decode", counting)
    for extra in ([], ["--json"], ["--filter", "esv=Get"]):
        calls.clear()
        assert main(["decode", "--pcap", str(SAMPLE_PCAPNG), "--no-progress", *extra]) == 0
        assert capsys.readouterr().out
        assert len(calls) == datagrams
