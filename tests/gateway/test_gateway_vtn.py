"""The gateway against openleadr's VTN on loopback, with simulated devices over real UDP: events become the
documented EPC writes, opts carry reasons, reports carry the devices' values, cancellations and a lost VTN end the
DR with every device back in its own mode."""

from __future__ import annotations

import asyncio
import json

import pytest

from echonet.aio import run
from echonet.drready.clock import SimClock, sim_time
from echonet.drready.sim import simulated_device

from .home import home, until

pytestmark = pytest.mark.timeout(120)

CHARGING, DISCHARGING, STANDBY, AUTO = "charging", "discharging", "standby", "auto"


def test_an_event_reaches_each_device_as_the_documented_writes() -> None:
    async def go() -> None:
        clock = SimClock(sim_time("2026-01-15T09:00"), 60)
        standby = {"battery": simulated_device("battery", 1, clock=clock, own_mode=0x44)}  # its mode: standby
        async with home(clock=clock, devices=standby) as h:
            assert h.value("battery", 0xDA) == STANDBY
            h.event("up-1", [("LOAD_DISPATCH", "setpoint", 1200.0)], start_min=1, minutes=5)
            # the event reaches the gateway at the VEN's next poll (1 s), the devices at the event's start
            await until(lambda: "up-1" in h.gateway.events, 5, "the event at the gateway")
            assert h.vtn.record.responses.get("up-1") in (None, "optIn")
            await until(lambda: h.value("battery", 0xDA) == CHARGING, 10, "the battery charging")
            assert h.value("battery", 0xC1) == "designatedPower" and h.value("battery", 0xEB) == 1200
            assert h.value("battery", 0xF2) == "active" and h.value("battery", 0xF0) == 30
            # the devices of one event are driven side by side: the heater's write may land a moment after the battery's
            hybrid = "householdConsumption"
            await until(lambda: h.value("hybrid_water_heater", 0xB8) == hybrid, 5, "the hybrid heater's linkage")
            window = h.value("hybrid_water_heater", 0xB9)
            assert window["startTime"] == "09:01" or window["startTime"].startswith("09:0")
            await until(lambda: h.vtn.record.responses.get("up-1") == "optIn", 5, "the oadrCreatedEvent")
            # the end: back to the pre-event mode (standby), not to the device's own (auto)
            await until(lambda: h.value("battery", 0xF2) == "inactive", 15, "the end of the event")
            assert h.value("battery", 0xDA) == STANDBY
            assert h.value("hybrid_water_heater", 0xB8) == "modeOff"
            run_ = h.gateway.events["up-1"].runs[h.key("battery")]
            assert run_.state == "completed" and run_.delivered_wh > 0

    run(go())


def test_reports_reach_the_vtn_with_the_values_the_devices_hold() -> None:
    async def go() -> None:
        async with home(speed=60, poll_interval=30) as h:
            key = h.key("battery")
            await until(lambda: len(h.vtn.reports_for(key, "stateOfCharge")) >= 2, 20, "SoC reports")
            soc = h.vtn.reports_for(key, "stateOfCharge")[-1][1]
            assert abs(soc - float(h.value("battery", 0xE4))) <= 2
            reserve = h.vtn.reports_for(key, "backupReserveEnergy")[-1][1]
            assert reserve == h.value("battery", 0xF4) == 2000
            assert h.vtn.reports_for(key, "RealPower") and h.vtn.reports_for(key, "RealEnergy")
            registered = {r["resource_id"] for r in h.vtn.record.registered}
            assert registered == {d.key for d in h.gateway.devices.values()}  # 0x83 as the resource ID
            assert all(len(k) == 34 and k.startswith("fe") for k in registered)

    run(go())


def test_opt_outs_carry_their_reasons() -> None:
    async def go() -> None:
        async with home(speed=60, consent=("battery-only",)) as h:
            battery = h.device("battery")
            h.gateway.config.consent  # noqa: B018
            battery.consent = True  # consent for the battery alone: the heaters are legacy without consent
            h.event("big", [("LOAD_DISPATCH", "setpoint", -5000.0)], start_min=2, minutes=5)  # above 0xC9 max
            await until(lambda: len([o for o in h.vtn.record.opts if o["event_id"] == "big"]) >= 3, 10, "the opts")
            opts = {o["resource_id"]: o for o in h.vtn.record.opts if o["event_id"] == "big"}
            assert opts[h.key("battery")]["opt_type"] == "optOut"
            assert opts[h.key("battery")]["opt_reason"] == "mustRun"  # target outside the device's limits
            for heater in ("water_heater", "hybrid_water_heater"):
                assert opts[h.key(heater)]["opt_type"] == "optOut"
                assert opts[h.key(heater)]["opt_reason"] == "notParticipating"  # legacy without consent
            runs = h.gateway.events["big"].runs
            assert runs[h.key("battery")].reason == "target outside the device's limits"
            assert runs[h.key("water_heater")].reason == "legacy device without consent"
            await until(lambda: h.vtn.record.responses.get("big") == "optOut", 5, "the event-level optOut")
            # a device that goes away: offline, and opted out of the next event with its reason
            await h.hosts["hybrid_water_heater"].close()
            battery_only = h.device("hybrid_water_heater")
            battery_only.consent = True
            h.device("water_heater").consent = True
            await h.gateway.poll_telemetry()
            await h.gateway.poll_telemetry()
            assert not battery_only.online
            h.event("next", [("LOAD_DISPATCH", "setpoint", 1000.0)], start_min=3, minutes=5)
            await until(lambda: any(o["event_id"] == "next" for o in h.vtn.record.opts), 10, "the next opts")
            await until(lambda: len([o for o in h.vtn.record.opts if o["event_id"] == "next"]) >= 3, 5)
            nxt = {o["resource_id"]: o for o in h.vtn.record.opts if o["event_id"] == "next"}
            assert nxt[h.key("hybrid_water_heater")]["opt_reason"] == "outageRunStatus"  # device offline
            assert nxt[h.key("battery")]["opt_type"] == "optIn"

    run(go())


def test_a_device_that_fails_mid_event_is_retried_then_opted_out() -> None:
    async def go() -> None:
        async with home(speed=60, kinds=("battery", "hybrid_water_heater")) as h:
            h.event("ev", [("LOAD_DISPATCH", "setpoint", 1000.0)], start_min=1, minutes=120)
            await until(lambda: h.value("hybrid_water_heater", 0xB8) == "householdConsumption", 10)
            await h.hosts["hybrid_water_heater"].close()  # it stops answering
            key = h.key("hybrid_water_heater")
            await until(lambda: h.gateway.events["ev"].runs[key].state == "failed", 30, "the failure")
            await until(
                lambda: any(o["resource_id"] == key and o["opt_type"] == "optOut" for o in h.vtn.record.opts), 5
            )
            failed = [o for o in h.vtn.record.opts if o["resource_id"] == key and o["opt_type"] == "optOut"]
            assert failed[-1]["opt_reason"] == "outageRunStatus"
            assert h.gateway.events["ev"].runs[h.key("battery")].state == "executing"

    run(go())


def test_a_cancelled_event_stops_at_once() -> None:
    async def go() -> None:
        async with home(speed=30) as h:
            h.event("c", [("LOAD_DISPATCH", "setpoint", -1500.0)], start_min=0.5, minutes=60)
            await until(lambda: h.value("battery", 0xDA) == DISCHARGING, 10, "the discharge")
            h.vtn.cancel_event("c")
            # at the VEN's next poll (1 s): the gateway ends it, the battery is back in its own mode (auto)
            run_ = h.gateway.events["c"].runs[h.key("battery")]
            await until(lambda: run_.state == "cancelled", 5, "the cancellation")
            assert h.value("battery", 0xF2) == "inactive" and h.value("battery", 0xDA) == AUTO
            assert h.gateway.events["c"].status == "cancelled"

    run(go())


def test_a_modified_event_changes_the_power_target() -> None:
    async def go() -> None:
        async with home(speed=30) as h:
            h.event("m", [("LOAD_DISPATCH", "setpoint", 800.0)], start_min=0.5, minutes=60)
            await until(lambda: h.value("battery", 0xEB) == 800, 10, "the first target")
            from echonet.gateway.vtn import Signal

            start = h.at(-1)
            from datetime import timedelta

            h.vtn.modify_event("m", [Signal("LOAD_DISPATCH", "setpoint", ((start, timedelta(minutes=60), 2000.0),))])
            await until(lambda: h.value("battery", 0xEB) == 2000, 5, "the modified target")
            assert h.gateway.events["m"].modification == 1
            assert h.value("battery", 0xDA) == CHARGING

    run(go())


def test_a_vtn_that_goes_away_mid_event_leaves_the_event_to_finish_as_scheduled() -> None:
    async def go() -> None:
        async with home(speed=60) as h:
            h.event("lost", [("LOAD_DISPATCH", "setpoint", 1000.0)], start_min=0.5, minutes=3)
            await until(lambda: h.value("battery", 0xDA) == CHARGING, 10, "the charge")
            await h.vtn.stop()  # the VTN is gone
            await until(lambda: h.value("battery", 0xF2) == "inactive", 15, "the scheduled end")
            assert h.value("battery", 0xDA) == AUTO  # its own (and pre-event) mode
            assert h.value("hybrid_water_heater", 0xB8) == "modeOff"
            assert h.gateway.events["lost"].runs[h.key("battery")].state == "completed"

    run(go())


def test_drready_check_during_a_gateway_driven_event_agrees_with_the_gateway() -> None:
    from echonet.aio import Controller, Endpoints
    from echonet.drready.checker import check

    async def go() -> None:
        async with home(speed=30, poll_interval=30) as h:
            h.event("chk", [("LOAD_DISPATCH", "setpoint", 1500.0)], start_min=0.5, minutes=60)
            await until(lambda: h.value("battery", 0xDA) == CHARGING, 10)
            await h.gateway.poll_telemetry()
            host, port = h.hosts["battery"].address()
            async with await Controller.open(Endpoints(bind_v4=host.rsplit(".", 1)[0] + ".9", port=0)) as ctl:
                report = await check(host, controller=ctl, port=port, overlay=False)
            data = report.to_json()
            values = {}
            for obj in data["objects"]:
                for req in obj["requirements"]:
                    for e in req["evidence"] + req["supporting"]:
                        values.setdefault(e["epc"], e["value"])
            device = h.device("battery")
            [obj] = data["objects"]
            assert obj["identification"] == device.key  # the resource ID the gateway reports under
            assert float(str(values["0xF4"]).split()[0]) == device.telemetry["backup_reserve_wh"] == 2000
            assert h.gateway.event_state(device.key)[1].state == "executing"
            assert values.get("0xF2") in ("active", None) or "active" in str(values.get("0xF2"))

    run(go())


def test_a_gateway_killed_mid_event_leaves_every_device_in_its_own_mode_and_a_restart_ends_it_safely(
    tmp_path: pytest.TempPathFactory,
) -> None:
    state = str(tmp_path / "gateway.json")  # type: ignore[operator]

    async def go() -> None:
        async with home(speed=600, state_file=state) as h:
            h.event("k", [("LOAD_DISPATCH", "setpoint", -1000.0), ("SIMPLE", "level", 1.0)], start_min=2, minutes=240)
            await until(lambda: h.value("battery", 0xDA) == DISCHARGING, 10, "the discharge")
            await until(lambda: h.value("water_heater", 0xB0) == "manualNoHeating", 5)
            for task in h.tasks:  # the gateway dies: no more requests, no clean-up writes
                task.cancel()
            h.tasks.clear()
            h.stop.set()
            await h.ven.close()
            # the battery's DR lapses within its 30-minute duration 0xF0 (3 s here): its pre-DR settings come back
            await until(lambda: h.value("battery", 0xF2) != "active", 15, "the DR duration running out")
            assert h.value("battery", 0xDA) == AUTO
            clock, devices = h.clock, h.devices
            # 0xB0 (manual no heating) has no fall-back on the device: the restarted gateway ends the event safely
            assert h.value("water_heater", 0xB0) == "manualNoHeating"
        async with home(speed=600, state_file=state, clock=clock, devices=devices, run_ven=False) as h2:
            assert "k" in h2.gateway.events
            h2.gateway.events["k"].end = h2.clock.now()  # the event has ended while it was down (or: end it now)
            try:
                await until(lambda: h2.value("water_heater", 0xB0) == "auto", 10, "the restored 0xB0")
            except AssertionError:
                print("DEBUG", h2.gateway.status()["events"], h2.gateway.commands[-5:])
                raise
            assert h2.value("battery", 0xDA) == AUTO

    run(go())


def test_an_event_already_running_at_start_up_starts_at_once() -> None:
    async def go() -> None:
        async with home(speed=30, run_ven=False) as h:
            h.event("running", [("LOAD_DISPATCH", "setpoint", 700.0)], start_min=-10, minutes=60)
            h.tasks.append(asyncio.get_running_loop().create_task(h.ven.run(h.stop)))
            await until(lambda: h.value("battery", 0xDA) == CHARGING, 15, "the running event taken up")
            assert h.value("battery", 0xEB) == 700
            await until(lambda: h.vtn.record.responses.get("running") == "optIn", 5)

    run(go())


def test_overlapping_events_go_by_priority() -> None:
    async def go() -> None:
        async with home(speed=30, kinds=("battery",)) as h:
            from datetime import timedelta

            from echonet.gateway.vtn import Signal

            start = h.at(1)
            h.vtn.add_event(
                [Signal("LOAD_DISPATCH", "setpoint", ((start, timedelta(minutes=60), 600.0),))],
                event_id="first",
                priority=1,
            )
            await until(lambda: "first" in h.gateway.events, 5)
            h.vtn.add_event(
                [Signal("LOAD_DISPATCH", "setpoint", ((start, timedelta(minutes=30), -900.0),))],
                event_id="second",
                priority=2,  # lower priority (OpenADR: 1 is the highest, 0 none)
            )
            await until(lambda: any(o["event_id"] == "second" for o in h.vtn.record.opts), 10)
            [second] = [o for o in h.vtn.record.opts if o["event_id"] == "second"]
            assert second["opt_type"] == "optOut" and second["opt_reason"] == "notParticipating"
            assert h.gateway.events["second"].runs[h.key("battery")].reason == "committed to another event"
            await until(lambda: h.value("battery", 0xDA) == CHARGING, 10)
            assert h.value("battery", 0xEB) == 600

    run(go())


def test_every_dr_write_to_a_legacy_device_is_audited_as_legacy_use(tmp_path: pytest.TempPathFactory) -> None:
    from secure.audit import AuditLog, verify

    path = tmp_path / "audit.jsonl"  # type: ignore[operator]

    async def go() -> None:
        with AuditLog(path) as log:
            async with home(speed=60, kinds=("battery",), audit=log) as h:
                h.event("aud", [("LOAD_DISPATCH", "setpoint", 500.0)], start_min=0.5, minutes=2)
                await until(lambda: h.value("battery", 0xF2) == "active", 10)
                await until(lambda: h.gateway.events["aud"].runs[h.key("battery")].state == "completed", 15)

    run(go())
    records = [json.loads(line) for line in path.read_text().splitlines()]
    dr = [r for r in records if r["fields"].get("dr_event") == "aud"]
    assert dr and all(r["event"] == "legacy_use" for r in dr)
    assert any("0xDA" in r["fields"]["epcs"] for r in dr) and any("0xF2" in r["fields"]["epcs"] for r in dr)
    assert all(r["fields"]["consent"] == "gateway configuration" for r in dr)
    assert verify(path).ok


def test_a_user_override_opts_the_device_out_of_its_events() -> None:
    async def go() -> None:
        async with home(speed=30, kinds=("battery",)) as h:
            h.event("o", [("LOAD_DISPATCH", "setpoint", 600.0)], start_min=0.5, minutes=60)
            await until(lambda: h.value("battery", 0xDA) == CHARGING, 10)
            key = h.key("battery")
            h.gateway.override(key)  # the user takes the battery over
            await until(lambda: any(o["opt_reason"] == "overrideStatus" for o in h.vtn.record.opts), 5)
            [opt] = [o for o in h.vtn.record.opts if o["opt_reason"] == "overrideStatus"]
            assert opt["resource_id"] == key and opt["opt_type"] == "optOut" and opt["event_id"] == "o"
            await until(lambda: h.gateway.events["o"].runs[key].applied == "ended", 5)
            assert h.value("battery", 0xF2) == "inactive"  # the gateway let go of it

    run(go())


def test_a_user_who_changes_the_device_during_an_event_overrides_it_and_the_device_stays_as_they_set_it() -> None:
    """A second controller plays the user: it sets the battery's mode and the water heater's 0xB0 during the event;
    the gateway sees it in what it reads back, opts each out with the override reason and writes nothing more."""
    from echonet.aio import Controller, Endpoints
    from echonet.node.config import NodeConfig

    async def go() -> None:
        async with home(speed=30, poll_interval=30, kinds=("battery", "water_heater")) as h:
            h.event("u", [("LOAD_DISPATCH", "setpoint", -1200.0), ("SIMPLE", "level", 1.0)], start_min=0.5, minutes=60)
            await until(lambda: h.value("battery", 0xDA) == DISCHARGING, 10, "the discharge")
            await until(lambda: h.value("water_heater", 0xB0) == "manualNoHeating", 5, "the heater stopped")
            battery, heater = h.device("battery"), h.device("water_heater")
            user_ip = str(battery.addr[0]).rsplit(".", 1)[0] + ".9"
            async with await Controller.open(
                Endpoints(bind_v4=user_ip, port=0), config=NodeConfig(multicast_v6=None)
            ) as user:
                assert (await user.set(battery.addr, battery.eoj, [(0xDA, bytes([0x44]))])).ok  # standby
                assert (await user.set(heater.addr, heater.eoj, [(0xB0, bytes([0x41]))])).ok  # automatic
            runs = h.gateway.events["u"].runs
            for kind in ("battery", "water_heater"):
                await until(lambda k=kind: runs[h.key(k)].reason == "user override", 10, f"the {kind}'s override")
            await until(lambda: len([o for o in h.vtn.record.opts if o["opt_reason"] == "overrideStatus"]) >= 2, 5)
            opts = {o["resource_id"]: o for o in h.vtn.record.opts if o["opt_reason"] == "overrideStatus"}
            assert set(opts) == {battery.key, heater.key}
            assert all(o["opt_type"] == "optOut" and o["event_id"] == "u" for o in opts.values())
            assert runs[battery.key].override.startswith("0xDA = standby")
            assert runs[heater.key].override.startswith("0xB0 = auto")
            written = len([c for c in h.gateway.commands if c.epcs])
            await asyncio.sleep(2)  # several steps and polls later: nothing written back, as the user set it
            assert len([c for c in h.gateway.commands if c.epcs]) == written
            assert h.value("battery", 0xDA) == STANDBY and h.value("water_heater", 0xB0) == "auto"
            assert runs[battery.key].state == "opted_out" and h.gateway.status()["events"][0]["status"] != "cancelled"

    run(go())
