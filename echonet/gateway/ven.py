"""The gateway's VEN: an openleadr ``OpenADRClient`` wired to a :class:`~.engine.Gateway`.

* events: openleadr's ``on_event`` / ``on_update_event`` hand each oadrEvent (new, modified, cancelled) to
  :meth:`Gateway.accept`, whose event-level opt goes back in the oadrCreatedEvent; each device's own opt (with its
  reason) follows as an oadrCreateOpt (EiOpt) naming the device's resource ID (its 0x83) as the target;
* reports: one TELEMETRY_USAGE report per device (resource ID = its 0x83) is registered with the VTN at start-up;
  the gateway sends each report the VTN requests at the requested granularity *in gateway time* (calling openleadr's
  ``update_report``; openleadr's own wall-clock schedule for it is removed), with date-times of the OpenADR timeline;
* polling: openleadr's, at the frequency the VTN asks for. A VTN that cannot be reached is retried; the events the
  gateway already has run on regardless.

openleadr is imported here only (the ``openadr`` extra).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from .engine import OPT_REASONS, STATE_CODES, Device, Gateway
from .extra import load_openleadr

#: The measurements reported per device: r_id suffix -> (description or openleadr measurement, unit, getter key).
REPORT_ITEMS: tuple[tuple[str, str, str], ...] = (
    ("power", "power_real", "power_w"),
    ("dr_available", "energy_real", "dr_available_wh"),
    ("soc", "stateOfCharge", "soc_percent"),
    ("backup_reserve", "backupReserveEnergy", "backup_reserve_wh"),
    ("chargeable", "chargeableEnergy", "chargeable_wh"),
    ("event_state", "drEventState", "event_state"),
    ("delivered", "drDeliveredEnergy", "delivered_wh"),
)
_UNITS = {
    "stateOfCharge": "%",
    "backupReserveEnergy": "Wh",
    "chargeableEnergy": "Wh",
    "drEventState": "code",
    "drDeliveredEnergy": "Wh",
}
_BATTERY_ONLY = {"soc", "backup_reserve", "chargeable"}


class _Recorder(logging.Handler):
    """Keeps openleadr's warnings for the status instead of printing them."""

    def __init__(self, lines: deque[str]) -> None:
        super().__init__(logging.WARNING)
        self.lines = lines

    def emit(self, record: logging.LogRecord) -> None:
        with contextlib.suppress(Exception):
            self.lines.append(record.getMessage()[:300])


@dataclass(frozen=True)
class VenConfig:
    """OpenADR side of the gateway: the VTN, the VEN's name, OpenADR's own security, the retry interval."""

    vtn_url: str
    ven_name: str
    ven_id: str | None = None
    cert: str | None = None
    key: str | None = None
    passphrase: str | None = None
    ca_file: str | None = None
    vtn_fingerprint: str | None = None
    retry_s: float = 2.0  #: real seconds between registration attempts
    #: at least this many real seconds between report rounds (a fast simulated clock coalesces its reports)
    min_report_real_s: float = 0.5


class GatewayVen:
    """Runs the VEN for ``gateway`` (see the module documentation)."""

    def __init__(self, gateway: Gateway, config: VenConfig) -> None:
        load_openleadr("the gateway's OpenADR VEN")
        self.gateway = gateway
        self.config = config
        self.client: Any = None
        self.warnings: deque[str] = deque(maxlen=50)
        self._due: dict[str, float] = {}
        self._last_round = -math.inf
        self._tasks: list[asyncio.Task[None]] = []
        log = logging.getLogger("openleadr")
        if not any(isinstance(h, _Recorder) for h in log.handlers):
            log.addHandler(_Recorder(self.warnings))
        log.propagate = False
        gateway.on_opt = self.send_opt

    def _new_client(self) -> Any:
        from openleadr import OpenADRClient, objects

        c = self.config
        client = OpenADRClient(
            ven_name=c.ven_name,
            vtn_url=c.vtn_url,
            ven_id=c.ven_id,
            cert=c.cert,
            key=c.key,
            passphrase=c.passphrase,
            ca_file=c.ca_file,
            vtn_fingerprint=c.vtn_fingerprint,
            show_fingerprint=False,
            events_clean_up_period=3600,
            event_status_log_period=3600,
        )
        client.add_handler("on_event", self._on_event)
        client.add_handler("on_update_event", self._on_event)
        rate = objects.SamplingRate(min_period=timedelta(seconds=1), max_period=timedelta(hours=24), on_change=False)
        for device in self.gateway.devices.values():
            for suffix, measurement, key in REPORT_ITEMS:
                if suffix in _BATTERY_ONLY and device.kind != "battery":
                    continue
                client.add_report(
                    callback=self._reader(device, key),
                    resource_id=device.key,
                    measurement=measurement,
                    unit=_UNITS.get(measurement),
                    r_id=f"{device.key}:{suffix}",
                    report_specifier_id="echonet-gateway-telemetry",
                    sampling_rate=rate,
                    report_duration=timedelta(hours=24),
                )
        return client

    def _reader(self, device: Device, key: str) -> Callable[[], list[tuple[datetime, float]]]:
        def read() -> list[tuple[datetime, float]]:
            gw = self.gateway
            value: float | None
            if key == "event_state":
                _, run = gw.event_state(device.key)
                value = float(STATE_CODES.get(run.state, 0)) if run is not None else 0.0
            elif key == "delivered_wh":
                _, run = gw.event_state(device.key)
                value = run.delivered_wh if run is not None else 0.0
                if run is not None and run.state == "executing":
                    value = self._delivered_so_far(device, run.counters_before, run.direction)
            else:
                value = device.telemetry.get(key)
            if value is None:  # not read yet (or the device does not have it): nothing to report
                return []
            now = gw.timeline.to_openadr(gw.timeline.now())
            record = {"time": gw.timeline.text(gw.timeline.now()), "resource_id": device.key, key: value}
            gw.reports_sent.append(record)
            del gw.reports_sent[:-500]
            return [(now, float(value))]

        return read

    def _delivered_so_far(self, device: Device, before: float | None, direction: str | None) -> float:
        if before is None:
            return 0.0
        name = "energy_wh" if device.kind != "battery" else ("energy_in_wh" if direction == "up" else "energy_out_wh")
        counter = device.telemetry.get(name)
        return max(0.0, counter - before) if counter is not None else 0.0

    async def _on_event(self, event: dict[str, Any]) -> str:
        opt = self.gateway.accept(event)
        self._tasks.append(asyncio.get_running_loop().create_task(self.gateway.step()))
        return opt

    async def send_opt(self, event_id: str, modification: int, device: str, opt: str, reason: str) -> None:
        """An oadrCreateOpt for one device of one event."""
        if self.client is None or self.client.registration_id is None:
            return
        await self.client.create_opt(
            opt,
            OPT_REASONS.get(reason, "notParticipating"),
            targets=[{"resource_id": device}],
            event_id=event_id,
            modification_number=modification,
        )

    async def run(self, stop: asyncio.Event) -> None:
        """Register, then poll and report until ``stop`` is set; re-register after a failed registration."""
        while not stop.is_set():
            self.client = self._new_client()
            self.gateway.vtn_status = "registering"
            with contextlib.suppress(Exception):
                await self.client.run()
            if self.client.registration_id is None:
                self.gateway.vtn_status = "unreachable"
                with contextlib.suppress(Exception):
                    await self.client.stop()
                self.client = None
                with contextlib.suppress(asyncio.TimeoutError):
                    await asyncio.wait_for(stop.wait(), self.config.retry_s)
                continue
            self.gateway.vtn_status = f"registered as {self.client.ven_id}"
            await self._report_loop(stop)
        await self.close()

    async def _report_loop(self, stop: asyncio.Event) -> None:
        gw = self.gateway
        while not stop.is_set():
            now = gw.timeline.now()
            for request in list(self.client.report_requests or []):
                job = request.get("job")
                if job is not None:  # openleadr schedules on the machine's clock: the gateway reports in its own
                    with contextlib.suppress(Exception):
                        job.remove()
                    request["job"] = None
                rrid = request["report_request_id"]
                granularity = request.get("granularity") or timedelta(hours=1)
                step = max(1.0, granularity.total_seconds())
                due = self._due.setdefault(rrid, now)
                if now >= due and time.monotonic() - self._last_round >= self.config.min_report_real_s:
                    self._last_round = time.monotonic()
                    self._due[rrid] = due + step * max(1, int((now - due) // step) + 1)
                    with contextlib.suppress(Exception):
                        await self.client.update_report(rrid)
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(stop.wait(), min(0.25, gw.timeline.real_seconds(gw.config.poll_interval)))

    async def close(self) -> None:
        for task in self._tasks:
            task.cancel()
        if self.client is not None:
            with contextlib.suppress(Exception):
                await self.client.stop()
            self.client = None


__all__ = ["REPORT_ITEMS", "GatewayVen", "VenConfig"]
