"""The conformance suite against our own devices, over real UDP on loopback: the three DRready simulations, emulated
classes of the built-in tables and of the Machine Readable Appendix pass every check, read-only and with
``--probe-set --robustness``; the command line writes JSON, JUnit XML and the HTML report and exits 0, 3 or 4."""

from __future__ import annotations

import json
import socket
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from echonet.cli import main
from echonet.conformance import CHECKS, Verdict, conformance
from echonet.drready.sim import sim_registry
from echonet.spec.registry import Registry, builtin_registry, default_registry

from ..conftest import mra_dir
from .helpers import LOOPBACK, emulated, flagged, go, our_devices, port_of, served_in_thread


async def _check_own(probe_set: bool) -> dict[tuple[str, str], str]:
    host = await our_devices()
    try:
        report = await conformance(
            LOOPBACK,
            port=port_of(host.server),
            timeout=0.5,
            retries=1,
            probe_set=probe_set,
            robustness=probe_set,
            registry=sim_registry(),
        )
    finally:
        await host.close()
    assert report.answered
    assert [str(o.eoj) for o in report.objects] == ["0EF001", "026B01", "02A601", "027D01"]
    ran = {r.check.id for r in report.results}
    expected = {c.id for c in CHECKS if probe_set or c.needs.value == "read-only"}
    assert ran == expected
    return flagged(report)


@pytest.mark.timeout(120)
def test_our_three_drready_simulations_pass_every_read_only_check() -> None:
    assert go(_check_own(False)) == {}


@pytest.mark.timeout(120)
def test_our_three_drready_simulations_pass_every_check_with_probe_set_and_robustness() -> None:
    assert go(_check_own(True)) == {}


async def _check_emulated(registry: Registry, *specs: str) -> tuple[dict[tuple[str, str], str], dict[str, int]]:
    server = await emulated(registry, *specs)
    try:
        report = await conformance(
            LOOPBACK, port=port_of(server), timeout=0.5, probe_set=True, robustness=True, registry=registry
        )
    finally:
        await server.close()
    return flagged(report), report.counts()


@pytest.mark.timeout(120)
def test_emulated_builtin_classes_pass_every_check() -> None:
    found, counts = go(_check_emulated(builtin_registry(), "0x027D", "0x026B,all", "0x05FF:2,all"))
    assert found == {}
    assert counts["pass"] > 60 and counts["fail"] == counts["warn"] == 0


@pytest.mark.timeout(120)
def test_an_emulated_appendix_class_passes_every_check() -> None:
    registry = default_registry(str(mra_dir()))
    # a home air conditioner with every optional property, a second one with the mandatory ones only, and a
    # general lighting object: three classes only the Appendix defines
    found, counts = go(_check_emulated(registry, "0x0130:1,all", "0x0130:2", "0x0290,all"))
    assert found == {}
    assert counts["pass"] > 70


# The command line ---------------------------------------------------------------------------------------------


def _cli(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = main(argv)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


@pytest.mark.timeout(120)
def test_cli_conformance_of_our_devices_exits_0_and_writes_json_junit_and_html(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    junit, page = tmp_path / "results.xml", tmp_path / "report.html"
    with served_in_thread(our_devices) as host:
        port = port_of(host.server)
        base = ["conformance", f"{LOOPBACK}:{port}", "--bind", LOOPBACK, "--local-port", "0", "--timeout", "0.5"]
        code, out, err = _cli([*base, "--probe-set", "--json", "--junit", str(junit), "--report", str(page)], capsys)
        assert code == 0, err
        doc = json.loads(out)
        code, text, _ = _cli([*base, "--eoj", "027D01"], capsys)
    assert code == 0
    assert doc["ok"] and doc["answered"] and "error" not in doc and doc["options"] == ["probe-set"]
    assert doc["counts"]["fail"] == 0 and doc["counts"]["pass"] > 50
    assert [o["eoj"] for o in doc["objects"]] == ["0EF001", "026B01", "02A601", "027D01"]
    first = doc["results"][0]
    assert set(first) == {"id", "title", "clause", "target", "verdict", "reason", "evidence"}
    sent = first["evidence"][0]["datagrams"][0]
    assert sent["direction"] == "sent" and bytes.fromhex(sent["hex"])[:2] == b"\x10\x81" and sent["decoded"]
    assert doc["written"] == [str(junit), str(page)]
    suites = ET.fromstring(junit.read_text(encoding="utf-8"))
    cases = suites.findall(".//testcase")
    assert len(cases) == len(doc["results"]) and not suites.findall(".//failure")
    html = page.read_text(encoding="utf-8")
    assert "<script" not in html and "http" not in html.split("</style>")[0]
    assert "027D01" in html and "Storage battery" in html and "0x83" in html
    assert "ECHONET Lite conformance of 127.0.0.1" in text and "027D01" in text and "summary:" in text


@pytest.mark.timeout(60)
def test_cli_conformance_of_a_silent_port_exits_4_and_of_a_nonconformant_device_exits_3(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    silent = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    silent.bind((LOOPBACK, 0))
    try:
        port = silent.getsockname()[1]
        code, out, err = _cli(
            ["conformance", f"{LOOPBACK}:{port}", "--local-port", "0", "--timeout", "0.2", "--retries", "0", "--json"],
            capsys,
        )
    finally:
        silent.close()
    assert code == 4 and json.loads(out)["error"]["kind"] == "no_answer"
    assert err.startswith("echonet: ") and "did not answer" in err and len(err.strip().splitlines()) == 1

    from .test_negative_controls import misbehaving_in_thread

    page = tmp_path / "report.html"
    with misbehaving_in_thread("INFC") as port:
        code, out, err = _cli(
            [
                "conformance",
                f"{LOOPBACK}:{port}",
                "--local-port",
                "0",
                "--timeout",
                "0.3",
                "--retries",
                "0",
                "--report",
                str(page),
            ],
            capsys,
        )
    assert code == 3, out
    assert "x INFC" in out and "clause: ECHONET Lite Part 2" in out and "2 check(s) failed" in err
    html = page.read_text(encoding="utf-8")
    assert "FAIL</span> INFC" in html and "no INFC_Res came back" in html


@pytest.mark.parametrize(
    "argv",
    [
        ["conformance"],
        ["conformance", "224.0.23.0"],
        ["conformance", "127.0.0.1", "--eoj", "nonsense"],
        ["conformance", "127.0.0.1", "--report", "/"],
        ["serve", "--class", "0x9999"],
        ["serve", "--class", "0x027D:200"],
        ["serve", "--replay", "x.pcap"],
        ["serve", "--class", "0x027D,0x01"],
        ["serve", "--class", "0x027D", "--quirk", "no-such-quirk"],  # (known quirks apply: test_quirks_served)
        ["serve", "--replay", "x.pcap", "--host", "192.0.2.1", "--quirk", "delay=-1"],
    ],
)
def test_usage_errors_exit_2_with_one_line(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = _cli(argv, capsys)
    assert code == 2, (out, err)
    assert len(err.strip().splitlines()) == 1 and err.startswith("echonet: ")


def test_list_shows_every_check_with_its_clause(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = _cli(["conformance", "--list", "--json"], capsys)
    assert code == 0
    rows = json.loads(out)["checks"]
    assert [r["id"] for r in rows] == [c.id for c in CHECKS]
    assert all(r["clause"].startswith(("ECHONET Lite Part 2", "Appendix")) for r in rows)
    assert Verdict.NOT_APPLICABLE.value == "not applicable"


def test_docs_list_every_check_with_its_clause() -> None:
    doc = (Path(__file__).resolve().parents[2] / "docs" / "conformance.md").read_text(encoding="utf-8")
    for check in CHECKS:
        assert f"| `{check.id}` | {check.scope.value} | {check.title} | {check.clause} |" in doc, check.id
