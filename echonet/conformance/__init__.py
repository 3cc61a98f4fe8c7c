"""An open conformance suite for any ECHONET Lite node: ``echonet conformance HOST``.

:func:`conformance` discovers the node at one address (a unicast Get of the node profile's 0xD6), reads the node
profile and every object, and judges each check of :data:`CHECKS` on the node and on each object: pass, fail, warn
or not applicable, with the spec clause the rule comes from and the frames that show it (hex and decoded). It is
read-only unless ``probe_set`` (writes, each value restored) or ``robustness`` (a bounded burst of malformed
datagrams) is asked for. docs/conformance.md lists every check.

The package, along its jobs:

* :mod:`.checks`: the checks, as data (id, title, clause, scope, what they need);
* :mod:`.report`: verdicts, results, the exchanges behind them, and their JSON form;
* :mod:`.probe`: the suite's own UDP endpoints, which send what a controller never sends and keep every datagram;
* :mod:`.run`: :func:`conformance`, which reads the node and judges every check;
* :mod:`.export`: the JUnit XML and the self-contained HTML report.
"""

from __future__ import annotations

from .checks import CHECKS, CHECKS_BY_ID, Check, Needs, Scope, check_table
from .export import html_report, junit_xml
from .report import Datagram, Exchange, ObjectIdentity, Report, Result, Verdict
from .run import conformance

__all__ = [
    "CHECKS",
    "CHECKS_BY_ID",
    "Check",
    "Datagram",
    "Exchange",
    "Needs",
    "ObjectIdentity",
    "Report",
    "Result",
    "Scope",
    "Verdict",
    "check_table",
    "conformance",
    "html_report",
    "junit_xml",
]
