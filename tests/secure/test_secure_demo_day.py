"""``echonet demo --secure``: the DR day itself with the battery behind the secure layer (EDHOC + OSCORE, discovery
included) and the water heaters legacy, written to only under the operator's scoped, time-limited consent."""

from __future__ import annotations

import asyncio
import json
import random
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from echonet.drready.demo import HEATER_WRITES, DemoConfig, DemoResult, plot_demo
from echonet.drready.secure_demo import SecureDayReport, run_secure_demo
from secure import audit

ROOT = Path(__file__).resolve().parents[2]
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
Day = tuple[DemoResult, SecureDayReport, Path]


@pytest.fixture(scope="module")
def secure_day(tmp_path_factory: pytest.TempPathFactory) -> Day:
    workdir = tmp_path_factory.mktemp("secure-day")
    config = DemoConfig(speed=20000, bind_base=f"127.0.65.{random.randint(100, 240)}", port=0)
    result, report = asyncio.run(asyncio.wait_for(run_secure_demo(config, workdir=workdir), 60))
    return result, report, workdir


def _records(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_the_battery_is_controlled_over_the_overlay_only(secure_day: Day) -> None:
    result, report, workdir = secure_day
    overlays = {d.kind: d.overlay for d in report.devices}
    assert overlays == {"water_heater": "legacy", "hybrid_water_heater": "legacy", "battery": "secure"}
    assert all(d.discovered for d in result.devices)  # discovery by unicast target reached it through the layer
    battery = next(d for d in result.devices if d.kind == "battery")
    # the aggregator's session: the battery's 0x83 bound by its certificate and cross-checked
    assert report.session["identity_checked"] and report.session["peer"] == battery.address
    assert report.session["encryptions"] > 100  # every poll and command of the day
    # the battery's layer: every frame in and out protected, not one plain frame either way
    layer = report.battery_layer
    assert layer["handshakes_ok"] == 1 and layer["protected"] > 100 and layer["unprotected"] > 100
    assert layer["plain_in"] == 0 and layer["plain_out"] == 0 and layer["downgrade_dropped"] == 0
    assert report.aggregator_layer["downgrade_dropped"] == 0
    battery_events = [r["event"] for r in _records(workdir / "battery.audit.jsonl")]
    assert battery_events.count("handshake_ok") == 1 and "legacy_use" not in battery_events
    assert battery.identification  # (the device object's 0x83, read over the overlay)


def test_the_heaters_writes_were_consented_and_recorded(secure_day: Day) -> None:
    result, report, workdir = secure_day
    records = _records(workdir / "aggregator.audit.jsonl")
    grants = {r["fields"]["peer"]: r["fields"] for r in records if r["event"] == "consent_granted"}
    heaters = {d.kind: d for d in result.devices if d.kind in HEATER_WRITES}
    assert set(grants) == {d.address for d in heaters.values()}
    for kind, device in heaters.items():
        grant = grants[device.address]
        assert grant["esvs"] == ["SetC"] and grant["eoj"] == device.eoj.lower()
        assert grant["epcs"] == [f"0x{e:02X}" for e in sorted(HEATER_WRITES[kind])]
        assert 0 < grant["expires_at"] - grant["granted_at"] <= 3600  # time-limited
    uses = [r["fields"] for r in records if r["event"] == "legacy_use"]
    writes = [c for c in result.commands if c.device in HEATER_WRITES]
    assert len(uses) == len(writes) > 0  # every write to a heater went out under a consent grant
    assert {u["consent_id"] for u in uses} == {g["consent_id"] for g in grants.values()}
    assert {u["peer"] for u in uses} <= set(grants)
    # the write outside the scope, before the day: refused at once, audited
    assert report.refused_write == "refused (consent_required)"
    denied = [r["fields"] for r in records if r["event"] == "policy_denied"]
    assert [(d["reason"], d["epcs"]) for d in denied] == [("consent_required", ["0x80"])]
    assert report.audit_ok and report.battery_audit_ok
    assert audit.verify(workdir / "aggregator.audit.jsonl").ok
    assert report.audit_counts["legacy_use"] == len(writes) and report.audit_counts["handshake_ok"] == 1


def test_the_secured_day_delivers_as_the_plain_one(secure_day: Day, tmp_path: Path) -> None:
    result, report, _ = secure_day
    assert all(c.ok for c in result.commands)
    for heater in ("water heater", "hybrid heater"):
        up = result.delivery("upward DR (solar hours)", heater)
        assert up.requested_wh > 1000
        assert 0.8 * up.requested_wh <= up.delivered_wh <= 1.1 * up.requested_wh
        assert result.delivery("downward DR (evening peak)", heater).delivered_wh == 0
    charge = result.delivery("upward DR (solar hours)", "battery")
    assert 0.9 * charge.requested_wh <= charge.delivered_wh <= 1.01 * charge.requested_wh
    discharge = result.delivery("downward DR (evening peak)", "battery")
    assert 0.5 * discharge.requested_wh <= discharge.delivered_wh <= 1.01 * discharge.requested_wh
    plot = plot_demo(result, tmp_path / "secure-day.png")
    assert plot.read_bytes()[:8] == PNG_SIGNATURE
    text = "\n".join(report.device_lines() + report.audit_lines())
    assert "secure" in text and "legacy" in text and "hash chain verified" in text


def test_the_cli_prints_and_writes_the_secure_side(tmp_path: Path) -> None:
    plot, results = tmp_path / "day.png", tmp_path / "results.json"
    base = f"127.0.66.{random.randint(100, 240)}"
    done = subprocess.run(
        [sys.executable, "-m", "echonet", "demo", "--secure", "--speed", "30000", "--no-progress", "--bind-base", base,
         "--port", "0", "--plot", str(plot), "--json", str(results)],
        cwd=ROOT, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "consent" in done.stdout and "refused (consent_required)" in done.stdout
    assert "aggregator audit log:" in done.stdout and "hash chain verified" in done.stdout
    data = json.loads(results.read_text())
    assert {d["kind"]: d["overlay"] for d in data["secure"]["devices"]}["battery"] == "secure"
    assert data["secure"]["audit"]["chain_verified"] and data["secure"]["audit"]["counts"]["legacy_use"] > 0
    assert plot.read_bytes()[:8] == PNG_SIGNATURE
