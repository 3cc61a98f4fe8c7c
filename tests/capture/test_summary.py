"""``echonet decode --pcap FILE --summary``: requests matched to answers as a controller matches them (SetGet,
instance 0x00 answered by several objects, answers from other ports, multicast discovery), latency, unanswered
requests, retries, SNA rate per EPC, INF rate, malformed datagrams; text, JSON and the plot."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from echonet.capture.summary import Conversations
from echonet.codec import encode
from echonet.frame import EOJ, ESV, Frame, Property
from echonet.pcap import Datagram, write_capture
from echonet.spec.registry import default_registry

from ..conftest import ROOT

CTRL = "10.0.0.1"
BAT = "10.0.0.2"
HEAT = "10.0.0.3"
MC = "224.0.23.0"
C = EOJ(0x05, 0xFF, 0x01)
NP = EOJ(0x0E, 0xF0, 0x01)
B1 = EOJ(0x02, 0x7D, 0x01)
B2 = EOJ(0x02, 0x7D, 0x02)
W1 = EOJ(0x02, 0x6B, 0x01)
T0 = 1_800_000_000.0
IDENT = bytes.fromhex("fe00007b0102030405060708090a0b0c0d")


def f(tid: int, seoj: EOJ, deoj: EOJ, esv: int, props=(), gets=()) -> bytes:
    return encode(Frame.make(tid, seoj, deoj, esv, [Property(*p) for p in props], [Property(*p) for p in gets]))


def scenario() -> list[Datagram]:
    """A capture whose every count is known (see the assertions)."""
    d = []

    def add(t: float, src: str, dst: str, payload: bytes, sport: int = 3610, dport: int = 3610) -> None:
        d.append(Datagram(T0 + t, src, dst, sport, dport, payload))

    # discovery: multicast Get of the instance list and the identification number, both nodes answer
    add(0.0, CTRL, MC, f(1, C, NP, ESV.GET, [(0xD6, b""), (0x83, b"")]))
    add(0.010, BAT, CTRL, f(1, NP, C, ESV.GET_RES, [(0xD6, bytes([2]) + bytes(B1) + bytes(B2)), (0x83, IDENT)]))
    add(0.020, HEAT, CTRL, f(1, NP, C, ESV.GET_RES, [(0xD6, bytes([1]) + bytes(W1)), (0x83, b"")]))
    # instance 0x00: both batteries answer, one from another port (49200)
    add(1.0, CTRL, BAT, f(2, C, EOJ(0x02, 0x7D, 0x00), ESV.GET, [(0xE4, b"")]))
    add(1.030, BAT, CTRL, f(2, B1, C, ESV.GET_RES, [(0xE4, b"\x50")]))
    add(1.040, BAT, CTRL, f(2, B2, C, ESV.GET_RES, [(0xE4, b"\x20")]), sport=49200)
    # SetGet answered by SetGet_Res
    add(2.0, CTRL, HEAT, f(3, C, W1, ESV.SETGET, [(0x80, b"\x30")], [(0x80, b"")]))
    add(2.050, HEAT, CTRL, f(3, W1, C, ESV.SETGET_RES, [(0x80, b"")], [(0x80, b"\x30")]), sport=49153)
    # a Get sent twice (retry, same TID), the second answered; then a Get never answered
    add(3.0, CTRL, BAT, f(4, C, B1, ESV.GET, [(0xE2, b"")]))
    add(5.0, CTRL, BAT, f(4, C, B1, ESV.GET, [(0xE2, b"")]))
    add(5.020, BAT, CTRL, f(4, B1, C, ESV.GET_RES, [(0xE2, b"\x00\x00\x10\x00")]))
    add(6.0, CTRL, BAT, f(5, C, B1, ESV.GET, [(0xA0, b"")]))
    # Get_SNA refusing 0xF5 of two EPCs asked; SetC_SNA refusing 0xDA
    add(7.0, CTRL, BAT, f(6, C, B1, ESV.GET, [(0xE4, b""), (0xF5, b"")]))
    add(7.010, BAT, CTRL, f(6, B1, C, ESV.GET_SNA, [(0xE4, b"\x50"), (0xF5, b"")]))
    add(8.0, CTRL, BAT, f(7, C, B1, ESV.SETC, [(0xDA, b"\x42")]))
    add(8.010, BAT, CTRL, f(7, B1, C, ESV.SETC_SNA, [(0xDA, b"\x42")]))
    # SetI (no answer expected), unsolicited INFs, a malformed datagram, an answer matching nothing
    add(9.0, CTRL, HEAT, f(8, C, W1, ESV.SETI, [(0x80, b"\x31")]))
    add(10.0, HEAT, MC, f(9, W1, NP, ESV.INF, [(0x80, b"\x31")]))
    add(40.0, HEAT, MC, f(10, W1, NP, ESV.INF, [(0x80, b"\x30")]))
    add(41.0, BAT, CTRL, bytes.fromhex("1081000b027d0105ff017201e204"))
    add(60.0, BAT, CTRL, f(99, B1, C, ESV.GET_RES, [(0xE4, b"\x50")]))
    return d


def run_summary(datagrams: list[Datagram]) -> dict:
    conv = Conversations(default_registry())
    from echonet.capture.stream import decode_datagrams

    for item in decode_datagrams(datagrams):
        dg = item.datagram
        conv.add(dg.time, dg.src, dg.dst, item.frame, item.failure)
    return conv.report().to_json()


def test_requests_are_paired_as_a_controller_pairs_them() -> None:
    doc = run_summary(scenario())
    req = doc["requests"]
    # requests: discovery, instance 0, SetGet, Get x2 (retry), Get unanswered, Get, SetC, SetI = 9
    assert req["count"] == 9
    assert req["retries"] == 1
    assert req["unanswered"] == 1  # TID 5 only (TID 4 was answered on its retry)
    assert req["no_answer_expected"] == 1  # the SetI
    assert req["unmatched_answers"] == 1  # TID 99
    # answers: 2 discovery + 2 instance-0 + SetGet_Res + Get_Res + Get_SNA + SetC_SNA
    assert doc["latency"]["count"] == 8
    assert req["answered"] == 6  # requests with at least one answer
    nodes = {n["host"]: n for n in doc["nodes"]}
    assert nodes[BAT]["identification"] == IDENT.hex()
    assert nodes[HEAT]["identification"] is None
    assert {o["eoj"] for o in nodes[BAT]["objects"]} == {"0EF001", "027D01", "027D02"}
    assert {o["class_name"] for o in nodes[HEAT]["objects"]} >= {"Electric water heater"}
    assert nodes[BAT]["latency"]["count"] == 6
    assert nodes[BAT]["latency"]["max_ms"] == pytest.approx(40.0)
    assert nodes[HEAT]["latency"]["count"] == 2
    assert nodes[HEAT]["latency"]["max_ms"] == pytest.approx(50.0)
    assert nodes[BAT]["unanswered"] == 1
    assert nodes[BAT]["retries"] == 1
    sna = {(s["class"], s["epc"]): s for s in doc["sna"]}
    assert sna[("0x027D", "0xF5")]["refused"] == 1 and sna[("0x027D", "0xF5")]["rate"] == 1.0
    assert sna[("0x027D", "0xE4")]["refused"] == 0 and sna[("0x027D", "0xE4")]["asked"] == 3
    assert sna[("0x027D", "0xDA")]["rate"] == 1.0
    assert doc["inf"]["count"] == 2
    assert nodes[HEAT]["inf"] == {"count": 2, "per_minute": pytest.approx(2 * 60 / 60.0), "by_epc": {"0x80": 2}}
    assert doc["malformed"]["count"] == 1
    assert doc["malformed"]["reasons"][0]["field"] == "edt"


def test_latency_percentiles() -> None:
    d = []
    for i in range(100):
        d.append(Datagram(T0 + i, CTRL, BAT, 3610, 3610, f(i, C, B1, ESV.GET, [(0xE0, b"")])))
        d.append(Datagram(T0 + i + (i + 1) / 1000, BAT, CTRL, 3610, 3610, f(i, B1, C, ESV.GET_RES, [(0xE0, b"\0")])))
    lat = run_summary(d)["latency"]
    assert lat["count"] == 100
    assert lat["median_ms"] == pytest.approx(50.5)
    assert lat["p95_ms"] == pytest.approx(95.0)
    assert lat["max_ms"] == pytest.approx(100.0)


def test_latencies_past_the_exact_ones_stay_in_bounded_memory_and_within_one_percent() -> None:
    import random
    import statistics

    from echonet.capture.summary import EXACT_LATENCIES, Latencies, LatencyStats

    rng = random.Random(7)
    values = [rng.lognormvariate(-4, 1.2) for _ in range(5 * EXACT_LATENCIES + 123)] + [0.0, 3.5]
    kept = Latencies()
    for v in values:
        kept.append(v)
        if len(kept) >= EXACT_LATENCIES:
            kept.spill()
        assert len(kept) < EXACT_LATENCIES  # (never more exact values than that)
    assert kept.buckets is not None and len(kept.buckets) < 600
    stats = LatencyStats.of(kept)
    ordered = sorted(values)
    n = len(ordered)
    assert stats.count == n and stats.max == 3.5
    assert stats.median == pytest.approx(statistics.median(values), rel=0.01)
    assert stats.p95 == pytest.approx(ordered[-(-95 * n // 100) - 1], rel=0.01)
    # below the bound: exact, as before
    few = Latencies(values[:1001])
    assert LatencyStats.of(few).median == statistics.median(values[:1001])


def test_summary_latencies_of_many_answers(monkeypatch: pytest.MonkeyPatch) -> None:
    from echonet.capture import summary

    monkeypatch.setattr(summary, "EXACT_LATENCIES", 16)
    d = []
    for i in range(200):
        d.append(Datagram(T0 + i, CTRL, BAT, 3610, 3610, f(i, C, B1, ESV.GET, [(0xE0, b"")])))
        d.append(Datagram(T0 + i + (i + 1) / 1000, BAT, CTRL, 3610, 3610, f(i, B1, C, ESV.GET_RES, [(0xE0, b"\0")])))
    doc = run_summary(d)
    lat = doc["latency"]
    assert lat["count"] == 200 and lat["max_ms"] == pytest.approx(200.0)
    assert lat["median_ms"] == pytest.approx(100.5, rel=0.01)
    assert lat["p95_ms"] == pytest.approx(190.0, rel=0.01)
    node = {n["host"]: n for n in doc["nodes"]}[BAT]["latency"]
    assert node["count"] == 200 and node["median_ms"] == pytest.approx(100.5, rel=0.01)


def test_cli_summary_of_repeated_frames_equals_the_library_s(tmp_path: Path) -> None:
    # the command line remembers frames by their bytes after the TID (polls repeat): the same report as decoding
    # every datagram, malformed and arbitrary-format ones among them
    rng = __import__("random").Random(3)
    d = []
    for i in range(600):
        tid = i // 2
        if i % 2 == 0:
            payload = f(tid, C, B1, ESV.GET, [(0xE0, b""), (0xE4, b"")])
        else:
            payload = f(tid, B1, C, ESV.GET_RES, [(0xE0, bytes(4)), (0xE4, bytes([rng.choice((40, 41))]))])
        d.append(Datagram(T0 + i * 0.01, CTRL if i % 2 == 0 else BAT, BAT if i % 2 == 0 else CTRL, 3610, 3610, payload))
        if i % 97 == 0:
            d.append(Datagram(T0 + i * 0.01, BAT, CTRL, 3610, 3610, payload[:-1]))  # cut: malformed
            d.append(Datagram(T0 + i * 0.01, BAT, CTRL, 3610, 3610, b"\x10\x82" + payload[2:]))  # arbitrary format
    pcap = tmp_path / "r.pcap"
    write_capture(pcap, d)
    out = _cli("decode", "--pcap", str(pcap), "--summary", "--json")
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout) == json.loads(json.dumps(run_summary(d)))


def test_answer_to_the_wrong_object_or_peer_is_not_paired() -> None:
    d = [
        Datagram(T0, CTRL, BAT, 3610, 3610, f(1, C, B1, ESV.GET, [(0xE0, b"")])),
        Datagram(T0 + 0.1, HEAT, CTRL, 3610, 3610, f(1, B1, C, ESV.GET_RES, [(0xE0, b"\0")])),  # other peer
        Datagram(T0 + 0.2, BAT, CTRL, 3610, 3610, f(1, B2, C, ESV.GET_RES, [(0xE0, b"\0")])),  # other object
        Datagram(T0 + 0.3, BAT, CTRL, 3610, 3610, f(1, B1, C, ESV.SET_RES, [(0xE0, b"")])),  # other service
        Datagram(T0 + 0.4, BAT, CTRL, 50000, 3610, f(1, B1, C, ESV.GET_RES, [(0xE0, b"\0")])),  # right (other port)
    ]
    doc = run_summary(d)
    assert doc["requests"]["answered"] == 1
    assert doc["requests"]["unmatched_answers"] == 3
    assert doc["latency"]["max_ms"] == pytest.approx(400.0)


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "echonet", *args], capture_output=True, text=True, cwd=ROOT, timeout=120
    )


def test_cli_summary_text_json_and_plot(tmp_path: Path) -> None:
    pcap = tmp_path / "s.pcap"
    write_capture(pcap, scenario())
    text = _cli("decode", "--pcap", str(pcap), "--summary")
    assert text.returncode == 0, text.stderr
    assert "9 request(s): 6 answered, 1 unanswered, 1 retried" in text.stdout
    assert IDENT.hex() in text.stdout
    assert "0xF5" in text.stdout and "100.0%" in text.stdout
    assert "1 x edt" in text.stdout
    out = _cli("decode", "--pcap", str(pcap), "--summary", "--json")
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert len(lines) == 1
    assert json.loads(lines[0]) == run_summary(scenario())
    pytest.importorskip("matplotlib", reason="the plot extra (matplotlib) is not installed")
    png = tmp_path / "s.png"
    plot = _cli("decode", "--pcap", str(pcap), "--summary", "--plot", str(png))
    assert plot.returncode == 0, plot.stderr
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_cli_summary_of_the_example_captures() -> None:
    for name in ("sample.pcap", "sample.pcapng"):
        out = _cli("decode", "--pcap", str(ROOT / "examples" / "captures" / name), "--summary", "--json")
        assert out.returncode == 0, out.stderr
        doc = json.loads(out.stdout)
        assert doc["requests"]["count"] == 8
        assert doc["requests"]["unanswered"] == 1  # TID 7: its answer is malformed
        assert doc["malformed"]["count"] == 2
        hosts = {n["host"]: n for n in doc["nodes"]}
        assert hosts["192.168.1.22"]["latency"]["count"] == 3  # one answer from port 49153


def test_cli_summary_bad_plot_path_is_one_line(tmp_path: Path) -> None:
    pytest.importorskip("matplotlib", reason="the plot extra (matplotlib) is not installed")
    pcap = tmp_path / "s.pcap"
    write_capture(pcap, scenario())
    out = _cli("decode", "--pcap", str(pcap), "--summary", "--plot", str(tmp_path / "no" / "such" / "x.png"))
    assert out.returncode == 1
    assert out.stderr.strip().splitlines()[-1].startswith("echonet: ")
    assert "Traceback" not in out.stderr


def test_cli_summary_filter_keeps_conversations_whole(tmp_path: Path) -> None:
    """``--summary --filter``: a request that passes brings its answers, an answer that passes brings its request,
    so that nothing shows as unanswered or unmatched because the filter left its other half out."""
    pcap = tmp_path / "s.pcap"
    write_capture(pcap, scenario())

    def summary(*terms: str) -> dict:
        out = _cli("decode", "--pcap", str(pcap), "--summary", "--json", *(a for t in terms for a in ("--filter", t)))
        assert out.returncode == 0, out.stderr
        return json.loads(out.stdout)

    # the controller's requests only: their answers come along (the same pairing as the whole capture)
    doc = summary(f"src={CTRL}", f"dst={BAT}")
    req = doc["requests"]
    assert req["count"] == 6  # instance 0, Get x2 (retry), Get unanswered, Get with SNA, SetC
    assert req["answered"] == 4 and req["unanswered"] == 1 and req["retries"] == 1
    assert req["unmatched_answers"] == 0
    assert doc["latency"]["count"] == 5  # 2 instance-0 answers, Get_Res, Get_SNA, SetC_SNA
    # the answers only (from the batteries' node): their requests come along
    doc = summary("esv=Get_Res")
    req = doc["requests"]
    assert req["count"] == 3  # discovery, instance 0, the answered attempt of the Get sent twice
    assert req["unanswered"] == 0
    assert req["unmatched_answers"] == 1  # TID 99 answers no request, with or without the filter
    assert doc["latency"]["count"] == 5  # 2 discovery + 2 instance-0 + the Get's
    # a term both halves match: the pair as in the whole capture
    doc = summary("epc=0xF5")
    assert doc["requests"]["count"] == 1 and doc["requests"]["answered"] == 1
    assert {(s["epc"], s["refused"]) for s in doc["sna"]} == {("0xE4", 0), ("0xF5", 1)}


def test_sna_counts_are_the_same_however_often_answers_are_folded(monkeypatch: pytest.MonkeyPatch) -> None:
    """Answers are counted by their shape (class, ESV, properties) and folded into counts per property when read or
    when too many shapes are held: folding after every answer, or once, gives the same counts."""
    import random

    from echonet.capture import summary

    rnd = random.Random(7)
    d = scenario()
    for i in range(300):  # answers of every kind, partly refused, with changing values
        tid = 1000 + i
        esv = rnd.choice([ESV.GET_SNA, ESV.GET_RES, ESV.SETC_SNA, ESV.SETGET_SNA, ESV.SETGET_RES])
        props = [(epc, b"" if rnd.random() < 0.4 else bytes([rnd.randrange(256)])) for epc in (0xE4, 0xDA, 0xF5)]
        gets = [(0xE2, b"" if rnd.random() < 0.5 else bytes(4))] if esv in (ESV.SETGET_SNA, ESV.SETGET_RES) else []
        request = {ESV.GET_SNA: ESV.GET, ESV.GET_RES: ESV.GET, ESV.SETC_SNA: ESV.SETC}.get(esv, ESV.SETGET)
        d.append(Datagram(T0 + 30 + i, CTRL, BAT, 3610, 3610, f(tid, C, B1, request, [(p, b"") for p, _ in props])))
        d.append(Datagram(T0 + 30.01 + i, BAT, CTRL, 3610, 3610, f(tid, B1, C, esv, props, gets)))
    once = run_summary(d)["sna"]
    monkeypatch.setattr(summary, "_SNA_SHAPES", 0)
    every = run_summary(d)["sna"]
    assert every == once
    assert sum(s["refused"] for s in once) > 100 and {s["epc"] for s in once} >= {"0xE4", "0xDA", "0xF5", "0xE2"}
