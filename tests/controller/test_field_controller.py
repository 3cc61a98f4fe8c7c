"""Our controller against every field quirk over real UDP on loopback, with its default settings: it discovers the
device, reads every readable property, writes a Set and reports the right outcome; the same with all quirks at once
on one node; a device that goes silent goes offline and comes back online; a device that moved is found again."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping

import pytest

from echonet.aio.field import DeviceMoved, FieldController, Health, HealthChanged
from echonet.aio.results import WriteOutcome
from echonet.drready.host import SimHost

from .test_quirks import ALL_QUIRKS
from .util import field_controller, go, quirk_host

#: The quirks one at a time (each on its own address), with the outcome a verified Set must report.
ONE_BY_ONE = [
    ([], WriteOutcome.APPLIED),
    (["delay=1.5"], WriteOutcome.APPLIED),
    (["max-get=5"], WriteOutcome.APPLIED),
    (["oversize-silent=200"], WriteOutcome.APPLIED),
    (["drop-concurrent"], WriteOutcome.APPLIED),
    (["reply-port=ephemeral"], WriteOutcome.APPLIED),
    (["no-identification"], WriteOutcome.APPLIED),
    (["shared-identification"], WriteOutcome.APPLIED),
    (["set-ack-no-apply"], WriteOutcome.NOT_APPLIED),
    (["silent-after=60"], WriteOutcome.APPLIED),
    (["loss=0.1"], WriteOutcome.APPLIED),
    (["trailing-bytes"], WriteOutcome.APPLIED),
    (ALL_QUIRKS, WriteOutcome.NOT_APPLIED),
]


async def _read_and_write(ctl: FieldController, host: SimHost) -> tuple[Mapping[int, bytes], WriteOutcome]:
    """Discover ``host``, read every EPC of its battery's Get map (three readers at once, as a polling controller
    does) and set its operation mode, verified."""
    (node,) = await ctl.discover(targets=[host.address()])
    device = host.devices[0]
    battery = next(o for o in node.objects if o.eoj == device.eoj)
    assert battery.get_map == device.get_map, battery.error
    readable = sorted(battery.get_map)
    results = await asyncio.gather(*(ctl.get(node.address, device.eoj, readable) for _ in range(3)))
    for result in results:
        assert sorted(result.values) == readable and not result.unanswered and not result.refused
    mode = results[0].values[0xDA]
    target = b"\x44" if mode != b"\x44" else b"\x42"
    done = await ctl.set(node.address, device.eoj, {0xDA: target}, verify=True)
    assert done.confirmed and done.attempts >= 1
    return results[0].values, done.outcomes[0xDA]


@pytest.mark.parametrize(("quirks", "outcome"), ONE_BY_ONE, ids=lambda v: "+".join(v) if isinstance(v, list) else "")
def test_our_controller_reads_and_writes_every_quirk_device(quirks: list[str], outcome: WriteOutcome) -> None:
    index = ONE_BY_ONE.index((quirks, outcome))

    async def scenario() -> None:
        host = await quirk_host(quirks, f"127.0.0.{190 + index}")
        ctl = await field_controller()
        try:
            values, written = await _read_and_write(ctl, host)
            assert values and written is outcome
            peer = ctl.peer(host.address())
            assert peer.health in (Health.ONLINE, Health.SLOW)
            if "max-get=5" in quirks:
                assert peer.batch is not None and peer.batch <= 6  # learned (grown back by at most one)
            if "drop-concurrent" in quirks:
                assert peer.one_in_flight
            if "delay=1.5" in quirks:
                assert peer.health is Health.SLOW and peer.srtt is not None and peer.srtt > 1.0
        finally:
            await ctl.close()
            await host.close()

    go(scenario(), limit=90)


def test_a_device_that_goes_silent_is_marked_offline_then_online_again() -> None:
    async def scenario() -> None:
        # answers 8 requests, then nothing for 3 s (as an adapter that restarts)
        host = await quirk_host(["silent-after=8:3"], "127.0.0.210")
        ctl = await field_controller(probe_interval=0.5)
        events: list[HealthChanged | DeviceMoved] = []
        ctl.on_health = events.append
        try:
            (node,) = await ctl.discover(targets=[host.address()], read_maps=False)
            eoj = host.devices[0].eoj
            ctl.monitor()
            for _ in range(20):
                try:
                    await ctl.get(node.address, eoj, [0x80])
                except TimeoutError:
                    break
            assert ctl.peer(node.address).health is Health.OFFLINE
            for _ in range(200):
                last = events[-1]
                if ctl.peer(node.address).health is Health.ONLINE and getattr(last, "current", None) is Health.ONLINE:
                    break
                await asyncio.sleep(0.1)
            changes = [(e.previous, e.current) for e in events if isinstance(e, HealthChanged)]
            assert (Health.ONLINE, Health.OFFLINE) in changes
            assert changes[-1] == (Health.OFFLINE, Health.ONLINE)
            assert (await ctl.get(node.address, eoj, [0x80])).values
        finally:
            await ctl.close()
            await host.close()

    go(scenario())


def test_a_device_that_moved_to_another_address_is_found_again_by_its_identification() -> None:
    number = bytes.fromhex("fe00007700") + b"MOVED-BATT-1"
    old_ip, new_ip = "127.0.0.211", "127.0.0.212"

    async def scenario() -> None:
        host = await quirk_host([], old_ip, port=3610, identification=number)
        ctl = await field_controller(hosts=(old_ip, new_ip), discover_window=0.3)
        events: list[HealthChanged | DeviceMoved] = []
        ctl.on_health = events.append
        moved: SimHost | None = None
        try:
            (node,) = await ctl.discover()
            assert node.host == old_ip and node.identification == number
            eoj = host.devices[0].eoj
            assert (await ctl.get(old_ip, eoj, [0x80])).values
            await host.close()
            moved = await quirk_host([], new_ip, port=3610, identification=number)
            with pytest.raises(TimeoutError):  # gone from the old address: offline, and looked for
                for _ in range(5):
                    await ctl.get(old_ip, eoj, [0x80])
            for _ in range(100):
                if ctl.moved:
                    break
                await asyncio.sleep(0.1)
            assert ctl.moved[old_ip][0] == new_ip
            assert any(isinstance(e, DeviceMoved) and e.old == old_ip and e.new[0] == new_ip for e in events)
            again = await ctl.get(old_ip, eoj, [0x80])  # asked by its old address, answered from the new one
            assert again.values and again.host == new_ip
        finally:
            await ctl.close()
            await host.close()
            if moved is not None:
                await moved.close()

    go(scenario())
