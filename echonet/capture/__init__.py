"""Capture analysis (layer 5, an application of the codec and of the secure overlay's record format).

- :mod:`echonet.capture.summary`: conversations of a capture: nodes, requests matched to their answers as a
  controller matches them, latencies, unanswered requests, retries, SNA rates, INF rates, malformed datagrams.
- :mod:`echonet.capture.overlay`: the secure overlay's records recognised in a capture, and opened with a key log.
- :mod:`echonet.capture.plot`: the requests and answers per device over time (matplotlib, the ``plot`` extra).
- :mod:`echonet.capture.parquet`: one row per property, written to Parquet in row groups
  (:mod:`echonet.capture.parquet_file`, pure Python).
- :mod:`echonet.capture.wireshark`: a Lua dissector for Wireshark generated from the spec tables.

Everything here is pure (datagrams in, values out) except the writers, which write the files they are given; the
live capture socket is a transport (:mod:`echonet.aio.sniff`).
"""
