"""The secure overview (``echonet.drready.secure_demo.secure_overview``, the short version of
``echonet demo --secure`` without the DR day): the battery is secured (identity checked), the water heaters are
legacy and read-only, a write without consent is refused, and the aggregator's audit chain verifies. The day
itself: test_secure_demo_day.py."""

from __future__ import annotations

import asyncio
from pathlib import Path

from echonet.drready.secure_demo import secure_overview


def test_secure_overview_shows_the_battery_secured_and_the_water_heaters_legacy(tmp_path: Path) -> None:
    overview = asyncio.run(asyncio.wait_for(secure_overview("127.0.64.100", workdir=tmp_path), 30))
    kinds = {d.label: d.overlay for d in overview.devices}
    assert kinds == {"water heater": "legacy", "hybrid heater": "legacy", "battery": "secure"}
    battery = next(d for d in overview.devices if d.label == "battery")
    assert "checked" in battery.detail and "NOT" not in battery.detail
    assert overview.refused_write == "refused (consent_required)"
    assert overview.audit_ok and overview.audit_counts["handshake_ok"] == 1
    assert any("legacy" in line for line in overview.lines())
