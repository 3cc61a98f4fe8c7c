"""A local VTN on loopback, for ``echonet demo`` and the tests: openleadr's ``OpenADRServer``, which records what
the VEN sends back (event responses, per-device opts, reports).

openleadr's VTN has no working EiOpt service (its ``OptService`` handlers are stubs and it is not routed), so this
VTN adds one built on openleadr's own service class: oadrCreateOpt is answered with oadrCreatedOpt and recorded.
Everything else is openleadr's VTN as it comes.
"""

from __future__ import annotations

import contextlib
import io
import socket
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from .extra import load_openleadr


@dataclass(frozen=True)
class Signal:
    """One signal of an event: name, type, and its intervals as (start, duration, value)."""

    name: str
    type: str
    intervals: tuple[tuple[datetime, timedelta, float], ...]
    unit: str | None = None


@dataclass
class VtnRecord:
    """What the VTN received."""

    responses: dict[str, str] = field(default_factory=dict)  #: event ID -> optIn / optOut (oadrCreatedEvent)
    opts: list[dict[str, Any]] = field(default_factory=list)  #: oadrCreateOpt: event, resource, opt, reason
    reports: list[dict[str, Any]] = field(default_factory=list)  #: resource, measurement, time, value
    registered: list[dict[str, Any]] = field(default_factory=list)  #: the report descriptions the VEN offered


def free_port(host: str) -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


class LocalVtn:
    """See the module documentation. ``granularity``: the report interval the VTN asks for (OpenADR time)."""

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int | None = None,
        *,
        vtn_id: str = "ECHONET-LOCAL-VTN",
        ven_id: str = "ven-gateway",
        poll_s: int = 1,
        granularity: timedelta = timedelta(minutes=15),
    ) -> None:
        load_openleadr("the local VTN")
        from openleadr import OpenADRServer
        from openleadr.service import OptService, handler

        self.host = host
        self.port = port if port is not None else free_port(host)
        self.vtn_id = vtn_id
        self.ven_id = ven_id
        self.granularity = granularity
        self.record = VtnRecord()
        self.server = OpenADRServer(
            vtn_id=vtn_id,
            http_host=host,
            http_port=self.port,
            requested_poll_freq=timedelta(seconds=max(1, int(poll_s))),
            show_fingerprint=False,
            ven_lookup=self._ven_lookup,
        )
        record = self.record

        class _Opts(OptService):  # type: ignore[misc]
            @handler("oadrCreateOpt")  # type: ignore[untyped-decorator]
            async def create_opt(self, payload: dict[str, Any]) -> tuple[str, dict[str, Any]]:
                qualified = payload.get("qualified_event_id") or {}
                targets = payload.get("targets") or payload.get("target") or []
                if isinstance(targets, dict):
                    targets = [targets]
                for target in targets or [{}]:
                    record.opts.append(
                        {
                            "event_id": qualified.get("event_id", payload.get("event_id")),
                            "modification_number": qualified.get(
                                "modification_number", payload.get("modification_number")
                            ),
                            "resource_id": (target or {}).get("resource_id"),
                            "opt_type": payload.get("opt_type"),
                            "opt_reason": payload.get("opt_reason"),
                        }
                    )
                return "oadrCreatedOpt", {"opt_id": payload.get("opt_id")}

        opts = _Opts(vtn_id)
        from aiohttp import web

        self.server.app.add_routes([web.post(f"{self.server.http_path_prefix}/EiOpt", opts.handler)])
        self.server.add_handler("on_create_party_registration", self._register)
        self.server.add_handler("on_register_report", self._register_report)

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}{self.server.http_path_prefix}"

    def _ven_lookup(self, ven_id: str) -> dict[str, Any]:
        return {"ven_id": ven_id, "ven_name": "gateway", "fingerprint": None, "registration_id": "reg-" + ven_id}

    def _register(self, info: dict[str, Any]) -> tuple[str, str]:
        return self.ven_id, "reg-" + self.ven_id

    def _register_report(
        self,
        ven_id: str,
        resource_id: str,
        measurement: str,
        unit: str | None,
        scale: str | None,
        min_sampling_interval: timedelta,
        max_sampling_interval: timedelta,
    ) -> tuple[Any, timedelta]:
        self.record.registered.append({"resource_id": resource_id, "measurement": measurement, "unit": unit})
        reports = self.record.reports

        def received(values: list[tuple[datetime, float]]) -> None:
            for when, value in values:
                reports.append({"resource_id": resource_id, "measurement": measurement, "time": when, "value": value})

        granularity = min(max(self.granularity, min_sampling_interval), max_sampling_interval)
        return received, granularity

    async def start(self) -> None:
        with contextlib.redirect_stdout(io.StringIO()):  # openleadr prints a banner
            await self.server.run()

    async def stop(self) -> None:
        with contextlib.suppress(Exception):
            await self.server.stop()

    def add_event(
        self,
        signals: Sequence[Signal],
        *,
        event_id: str,
        priority: int = 0,
        targets: Sequence[str] = (),
        market_context: str = "oadr://echonet-gateway/dr",
    ) -> str:
        """Queue an event for the VEN (several signals, each with its intervals); ``targets``: resource IDs."""
        from openleadr import objects, utils

        event_signals = [
            objects.EventSignal(
                intervals=[
                    objects.Interval(dtstart=start, duration=length, signal_payload=value)
                    for start, length, value in s.intervals
                ],
                signal_name=s.name,
                signal_type=s.type,
                signal_id=f"{event_id}-{i}",
            )
            for i, s in enumerate(signals)
        ]
        first = signals[0].intervals
        start = first[0][0]
        end = max(a + b for a, b, _ in first)
        event = objects.Event(
            event_descriptor=objects.EventDescriptor(
                event_id=event_id,
                modification_number=0,
                market_context=market_context,
                event_status="far",
                priority=priority,
                created_date_time=datetime.now().astimezone(),
            ),
            active_period=objects.ActivePeriod(dtstart=start, duration=end - start),
            event_signals=event_signals,
            targets=[{"resource_id": t} for t in targets] or [{"ven_id": self.ven_id}],
            response_required="always",
        )

        def responded(ven_id: str, event_id: str, opt_type: str) -> None:
            self.record.responses[event_id] = opt_type

        self.server.add_raw_event(ven_id=self.ven_id, event=event, callback=responded)
        del utils
        return event_id

    def cancel_event(self, event_id: str) -> None:
        self.server.cancel_event(self.ven_id, event_id)

    def modify_event(self, event_id: str, signals: Sequence[Signal]) -> None:
        """Replace an event's signals (a modification: its number goes up and the VEN gets it at its next poll)."""
        from openleadr import objects, utils

        event = utils.find_by(self.server.events[self.ven_id], "event_descriptor.event_id", event_id)
        event.event_signals = [
            objects.EventSignal(
                intervals=[
                    objects.Interval(dtstart=start, duration=length, signal_payload=value)
                    for start, length, value in s.intervals
                ],
                signal_name=s.name,
                signal_type=s.type,
                signal_id=f"{event_id}-m{i}",
            )
            for i, s in enumerate(signals)
        ]
        first = signals[0].intervals
        start = first[0][0]
        event.active_period = objects.ActivePeriod(dtstart=start, duration=max(a + b for a, b, _ in first) - start)
        utils.increment_event_modification_number(event)

        def responded(ven_id: str, event_id: str, opt_type: str) -> None:
            self.record.responses[event_id] = opt_type

        self.server.event_callbacks[event_id] = (event, responded)
        self.server.events_updated[self.ven_id] = True

    def reports_for(self, resource_id: str, measurement: str) -> list[tuple[datetime, float]]:
        return [
            (r["time"], r["value"])
            for r in self.record.reports
            if r["resource_id"] == resource_id and r["measurement"] == measurement
        ]


__all__ = ["LocalVtn", "Signal", "VtnRecord", "free_port"]
