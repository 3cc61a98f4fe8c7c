"""The DR gateway: OpenADR 2.0b events in (an openleadr VEN), ECHONET Lite control of the DRready classes out.

The package, along its jobs (docs/gateway.md):

* :mod:`.timeline`: the gateway's time and its mapping onto OpenADR date-times;
* :mod:`.rules`: how an event's signals become EPC writes, per class and direction, as data;
* :mod:`.engine`: :class:`~.engine.Gateway`: events, per-device opts, driving the devices, telemetry, persisted
  state, the audit of DR writes;
* :mod:`.ven`: the openleadr ``OpenADRClient`` wired to the gateway (events, opts, reports);
* :mod:`.vtn`: a local VTN (openleadr's ``OpenADRServer`` plus an EiOpt service), for ``echonet demo`` and tests;
* :mod:`.service`: the TOML configuration and the loop ``echonet gateway`` runs.

openleadr (the ``openadr`` extra) is imported only by :mod:`.ven` and :mod:`.vtn`, when they are used.
"""
