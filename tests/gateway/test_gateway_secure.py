"""The gateway behind the secure overlay: an enrolled battery takes the event over the overlay (a session, its
writes audited by the overlay), a legacy water heater the overlay's policy has no consent for is opted out."""

from __future__ import annotations

import asyncio
import json
import random
import signal
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("openleadr", reason="openleadr is not installed (pip install -e '.[test]')")
pytest.importorskip("cryptography", reason="the secure overlay needs cryptography")

from echonet.aio import Controller, Endpoints, run
from echonet.drready.clock import SimClock, sim_time
from echonet.drready.secure_setup import LEGACY_VERSION, DemoCredentials, audit_counts
from echonet.drready.sim import simulated_device
from echonet.node.config import NodeConfig
from secure.layer.aio import open_secure_controller
from secure.layer.core import SecureLayer
from secure.policy.rules import Policy

from ..conftest import ROOT
from .home import home, until

pytestmark = pytest.mark.timeout(120)


def test_an_enrolled_battery_takes_the_event_over_the_overlay_and_a_legacy_heater_without_consent_opts_out(
    tmp_path: Path,
) -> None:
    async def go() -> None:
        clock = SimClock(sim_time("2026-01-15T09:00"), 30)
        battery = simulated_device("battery", 1, clock=clock)
        creds = DemoCredentials(tmp_path, now=clock.now(), maker=battery.model.identity.maker_code, controller="gw")
        base = f"127.0.{random.randint(20, 250)}."
        policy = Policy()
        policy.classify_legacy(base + "12", now=clock.now(), version=LEGACY_VERSION)  # the water heater: legacy
        layers: list[SecureLayer] = []

        async def open_controller(endpoints: Endpoints, config: NodeConfig) -> Controller:
            return await open_secure_controller(
                endpoints, creds.controller_config, node_config=config, policy=policy, audit=creds.controller_audit
            )

        def secure_battery(runner: Any) -> SecureLayer:
            config = creds.add_device(runner.node.profile.value(0x83) or b"")  # the certificate binds its 0x83
            layer = SecureLayer(runner.node, config, policy=Policy(), audit=creds.device_audit)
            runner.use_layer(layer)
            layers.append(layer)
            return layer

        try:
            async with home(
                clock=clock,
                devices={"battery": battery},
                kinds=("battery", "water_heater"),
                base=base,
                open_controller=open_controller,
                prepare={"battery": secure_battery},
            ) as h:
                bat, heater = h.device("battery"), h.device("water_heater")
                assert h.ctl.peer_status(str(bat.addr[0])) == "secure"  # type: ignore[attr-defined]
                assert not bat.legacy and bat.consent
                assert heater.legacy and not heater.consent  # no consent in the overlay's policy
                h.event("sec", [("LOAD_DISPATCH", "setpoint", -1000.0), ("SIMPLE", "level", 1.0)], 0.5, 60)
                await until(lambda: h.value("battery", 0xDA) == "discharging", 15, "the battery discharging")
                assert h.value("battery", 0xEC) == 1000 and h.value("battery", 0xF2) == "active"
                await until(lambda: len([o for o in h.vtn.record.opts if o["event_id"] == "sec"]) >= 2, 10)
                opts = {o["resource_id"]: o for o in h.vtn.record.opts if o["event_id"] == "sec"}
                assert opts[bat.key]["opt_type"] == "optIn"
                assert opts[heater.key]["opt_type"] == "optOut"
                assert opts[heater.key]["opt_reason"] == "notParticipating"
                assert h.gateway.events["sec"].runs[heater.key].reason == "legacy device without consent"
                assert h.value("water_heater", 0xB0) == "auto"  # never written
                assert not any(c.device == heater.key and c.event == "sec" for c in h.gateway.commands)
                assert layers and layers[0].peer_status(base + "10") == "secure"  # the battery's side too
        finally:
            creds.close()
        # the battery's session is in the overlay's audit logs, on both sides
        assert audit_counts(tmp_path / "gw.audit.jsonl").get("handshake_ok") == 1
        assert audit_counts(tmp_path / "battery.audit.jsonl").get("handshake_ok") == 1

    run(go())


DEVICE_ID = "FE00007B42415454455259303030303031"
GATEWAY_ID = "FE00007B47415445574159303030303031"


def echonet(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "echonet", *args], cwd=ROOT, capture_output=True, text=True, timeout=timeout
    )


def test_the_gateway_command_with_secure_drives_the_enrolled_battery_and_opts_the_legacy_heater_out(
    tmp_path: Path,
) -> None:
    """``echonet gateway --secure --identity DIR`` as a process, with identities made by ``echonet secure``."""
    import argparse

    from echonet.cli.secure_support import add_secure_arguments, attach_secure_server
    from echonet.drready.host import SimHost
    from echonet.gateway.timeline import JST
    from echonet.gateway.vtn import LocalVtn, Signal

    ca, device, gateway = tmp_path / "ca", tmp_path / "battery", tmp_path / "gateway"
    for args in (
        ("secure", "init-ca", str(ca), "--org", "Test Co", "--maker", "00007B"),
        ("secure", "issue", "--ca", str(ca), "--out", str(device), "--role", "device", "--id", DEVICE_ID),
        ("secure", "issue", "--ca", str(ca), "--out", str(gateway), "--role", "controller", "--id", GATEWAY_ID),
        ("secure", "enrol", "--node", str(device), "--cert", str(gateway / "node.cert.pem"), "--label", "gateway"),
        ("secure", "enrol", "--node", str(gateway), "--cert", str(device / "node.cert.pem"), "--label", "battery"),
    ):
        result = echonet(*args)
        assert result.returncode == 0, result.stderr
    # the water heater is plain ECHONET Lite: known to the gateway's overlay as legacy (a consent once granted for
    # it, then revoked), so without a consent now
    base = f"127.0.{random.randint(20, 250)}."
    granted = echonet(
        "secure", "consent", "grant", "--node", str(gateway), "--peer", base + "12", "--eoj", "026B01",
        "--esv", "SetC", "--epc", "0xB0", "--for", "1h", "--version", "01 0e 01 00", "--why", "test", "--yes", "--json",
    )  # fmt: skip
    assert granted.returncode == 0, granted.stderr
    consent_id = json.loads(granted.stdout.splitlines()[0])["consent"]["id"]
    revoked = echonet("secure", "consent", "revoke", consent_id, "--node", str(gateway), "--why", "test")
    assert revoked.returncode == 0, revoked.stderr
    parser = argparse.ArgumentParser()
    add_secure_arguments(parser)
    dev_args = parser.parse_args(["--secure", "--identity", str(device), "--audit", str(device / "audit.jsonl")])

    async def go() -> dict[str, Any]:
        clock = SimClock(sim_time(datetime.now(JST).replace(tzinfo=None)), 1.0)
        battery = simulated_device("battery", 1, clock=clock)
        heater = simulated_device("water_heater", 1, clock=clock)
        hosts = [
            await SimHost.open(
                [d], Endpoints(bind_v4=base + str(11 + i), port=0), clock=clock, config=NodeConfig(multicast_v6=None)
            )
            for i, d in enumerate((battery, heater))
        ]
        attach_secure_server(dev_args, hosts[0].server.runner)  # the battery behind the overlay
        vtn = LocalVtn()
        await vtn.start()
        start = datetime.now(UTC) + timedelta(seconds=3)
        length = timedelta(minutes=10)
        vtn.add_event(
            [
                Signal("LOAD_DISPATCH", "setpoint", ((start, length, -1000.0),)),
                Signal("SIMPLE", "level", ((start, length, 1.0),)),
            ],
            event_id="sec",
        )
        targets = [a for h in hosts for a in ("--target", f"{h.address()[0]}:{h.address()[1]}")]
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "echonet", "gateway", "--vtn", vtn.url, "--ven", "secure-test", *targets,
            "--bind", base + "10", "--json", "--secure", "--identity", str(gateway),
            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        )  # fmt: skip
        try:

            def value(d: Any, epc: int) -> Any:
                d.model.advance_to(clock.now())
                return d.model.value(epc)

            await until(lambda: value(battery, 0xDA) == "discharging", 40, "the battery discharging")
            await until(lambda: len([o for o in vtn.record.opts if o["event_id"] == "sec"]) >= 2, 15, "the opts")
            proc.send_signal(signal.SIGINT)
            out, err = await asyncio.wait_for(proc.communicate(), 30)
            assert proc.returncode == 0, err.decode()
            assert value(battery, 0xDA) == "auto" and value(heater, 0xB0) == "auto"
            status: dict[str, Any] = json.loads(out.decode().splitlines()[-1])
            status["opts"] = [o for o in vtn.record.opts if o["event_id"] == "sec"]
            return status
        finally:
            if proc.returncode is None:
                proc.kill()
                await proc.wait()
            await vtn.stop()
            for h in hosts:
                await h.close()

    status = run(go())
    devices = {d["kind"]: d for d in status["devices"]}
    assert not devices["battery"]["legacy"] and devices["battery"]["consent"]  # over the overlay
    assert devices["water_heater"]["legacy"] and not devices["water_heater"]["consent"]
    opts = {o["resource_id"]: o for o in status["opts"]}
    assert opts[devices["battery"]["resource_id"]]["opt_type"] == "optIn"
    heater_opt = opts[devices["water_heater"]["resource_id"]]
    assert heater_opt["opt_type"] == "optOut" and heater_opt["opt_reason"] == "notParticipating"
