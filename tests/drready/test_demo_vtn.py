"""`echonet demo` through the local OpenADR VTN and the gateway: what the VTN asked, the opts and reports it got
back, per event and device; and the direct aggregator as the fallback without the VTN."""

from __future__ import annotations

import json
import random
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from echonet.aio import run
from echonet.drready.demo import DemoConfig, run_demo

from ..conftest import ROOT

pytestmark = pytest.mark.timeout(180)


@pytest.fixture(scope="module")
def vtn_day(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, dict[str, Any]]:
    pytest.importorskip("openleadr", reason="openleadr is not installed (pip install -e '.[test]')")
    results = tmp_path_factory.mktemp("vtn") / "results.json"
    done = subprocess.run(
        [sys.executable, "-m", "echonet", "demo", "--speed", "7200", "--no-progress", "--port", "0",
         "--bind-base", f"127.0.0.{random.randint(100, 240)}", "--plot", "", "--json", str(results)],
        cwd=ROOT, capture_output=True, text=True, timeout=150,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""
    return done.stdout, json.loads(results.read_text())


def test_the_vtn_issues_both_events_and_gets_an_opt_in_for_each(vtn_day: tuple[str, dict[str, Any]]) -> None:
    _, data = vtn_day
    o = data["openadr"]
    events = {e["event_id"]: e for e in o["events"]}
    assert set(events) == {"upward-solar", "downward-peak"}
    assert events["upward-solar"]["signals"] == ["LOAD_DISPATCH", "CHARGE_STATE"]
    for event in events.values():
        assert event["response"] == "optIn"  # the oadrCreatedEvent the VTN received
        assert {d["device"] for d in event["devices"]} == {"water heater", "hybrid heater", "battery"}
        for device in event["devices"]:
            assert device["opt"] == "optIn" and device["opt_received_by_vtn"] == ["optIn"]  # oadrCreateOpt
            assert device["state"] == "completed"


def test_what_the_gateway_commanded_is_the_documented_writes(vtn_day: tuple[str, dict[str, Any]]) -> None:
    _, data = vtn_day
    rows = {(e["event_id"], d["device"]): d for e in data["openadr"]["events"] for d in e["devices"]}
    assert "0xEB=1500" in rows[("upward-solar", "battery")]["commanded"]
    assert "0xAA=2000" in rows[("upward-solar", "battery")]["commanded"]
    assert "0xDA=charging" in rows[("upward-solar", "battery")]["commanded"]
    assert "0xEC=2500" in rows[("downward-peak", "battery")]["commanded"]
    assert "0xCA=at1000" in rows[("upward-solar", "water heater")]["commanded"]
    assert "0xB8=householdConsumption" in rows[("upward-solar", "hybrid heater")]["commanded"]
    assert "0xB0=manualNoHeating" in rows[("downward-peak", "water heater")]["commanded"]


def test_reports_reach_the_vtn_with_the_delivered_energy(vtn_day: tuple[str, dict[str, Any]]) -> None:
    stdout, data = vtn_day
    o = data["openadr"]
    assert o["reports_received"] > 100 and o["report_rounds"] >= 10
    measurements = {r["measurement"] for r in o["reports"]}
    assert {"RealPower", "RealEnergy", "stateOfCharge", "backupReserveEnergy", "drEventState"} <= measurements
    reserve = {r["value"] for r in o["reports"] if r["measurement"] == "backupReserveEnergy"}
    assert reserve == {2450.0}  # what the battery holds (0xF4), as the gateway set it
    socs = [r["value"] for r in o["reports"] if r["measurement"] == "stateOfCharge"]
    assert min(socs) >= 24  # the backup reserve (25 %) held, as reported
    rows = {(e["event_id"], d["device"]): d for e in o["events"] for d in e["devices"]}
    for key in (("upward-solar", "battery"), ("downward-peak", "battery"), ("upward-solar", "water heater")):
        row = rows[key]
        assert row["reported_delivered_wh"] == pytest.approx(row["delivered_wh"], rel=0.05, abs=5)
    assert "OpenADR: local VTN" in stdout and "reports received by the VTN" in stdout


def test_without_the_vtn_the_direct_aggregator_runs_the_same_day() -> None:
    base = f"127.0.0.{random.randint(100, 240)}"
    result = run(run_demo(DemoConfig(speed=20000, bind_base=base, port=0, vtn=False)))
    assert result.openadr is None
    assert result.openadr_lines() == ["aggregator: direct (no OpenADR VTN; openleadr not installed or vtn=False)"]
    assert {d.event for d in result.deliveries} == {"upward DR (solar hours)", "downward DR (evening peak)"}
    assert all(c.ok for c in result.commands)


def test_the_plot_of_the_vtn_day_is_drawn(tmp_path: Path) -> None:
    pytest.importorskip("openleadr", reason="openleadr is not installed")
    pytest.importorskip("matplotlib", reason="matplotlib is not installed")
    from echonet.drready.demo import plot_demo

    base = f"127.0.0.{random.randint(100, 240)}"
    result = run(run_demo(DemoConfig(speed=7200, bind_base=base, port=0, hours=20)))
    assert result.openadr is not None
    out = plot_demo(result, tmp_path / "day.png")
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
