"""DRready conformance checker: probe one device over the network, judge it requirement by requirement.

The requirement table (DESIGN.md section 2) is data: :data:`REQUIREMENTS` lists, for each requirement and each of
the three device classes (0x026B, 0x02A6, 0x027D), the ways a device can show that it meets it (each way a set of
:class:`Probe` that must all pass), the properties that only support the evidence, and the table's own note.

:func:`check` reads the node profile (0x82 version, 0x83 identification, 0x8A manufacturer, 0xD6 instance list),
then for each DR-relevant object its 0x82 release, identity, property maps (0x9D / 0x9E / 0x9F) and every EPC a
requirement names, and judges each requirement ``met`` / ``partially met`` / ``not met`` / ``unknown`` with the
evidence (EPC, the value decoded through the registry, the ESV that answered, or the timeout). Nothing here
changes device state unless ``probe_set`` asks for a SetC that writes back the value just read. Last, it offers a
secure-overlay handshake (EHD1 0x21, EDHOC message_1, suite 2) and reports whether an overlay record came back;
that probe comes last because some plain stacks stop receiving after a datagram they cannot parse (uecho).

The project's extension EPCs (0xF0-0xF9, :mod:`..extensions`, non-standard) are judged only on devices recognised
as the project's DRready simulations (manufacturer code 0xFFFFFF and their identification pattern); on any other
device a requirement that Release R has no property for is ``unknown``: the device may implement it, but not in a
way a controller can see.

Every odd answer (timeouts, SNAs, malformed or wrongly sized EDTs, a missing node profile) becomes ``unknown`` or
``not met`` with a reason; the checker returns a :class:`Report` and never prints.

The package, along its jobs:

* :mod:`.requirements`: the requirement table, as data;
* :mod:`.report`: the report and evidence types and their JSON form;
* :mod:`.reading`: reading a device through the controller;
* :mod:`.judge`: turning what was read into evidence and verdicts;
* :mod:`.probe`: the raw UDP probe of the secure overlay, with :mod:`.secure_probe`, the only module that uses
  :mod:`secure` (imported when a probe is made);
* :mod:`.run`: :func:`check`, which puts them together.
"""

from __future__ import annotations

from .probe import Exchange, probe_overlay, udp_exchange
from .reading import is_simulation
from .report import (
    LEGACY_RISK,
    Evidence,
    NodeInfo,
    ObjectReport,
    Outcome,
    OverlayResult,
    Report,
    RequirementResult,
    Status,
    release_text,
    version_text,
)
from .requirements import (
    CLASS_NAMES,
    DR_CLASSES,
    REQUIREMENTS,
    VALUE_CHECKS,
    CheckKind,
    ClassRule,
    Probe,
    Requirement,
    Way,
    requirement_table,
)
from .run import check
from .secure_probe import overlay_hello

__all__ = [
    "CLASS_NAMES",
    "DR_CLASSES",
    "LEGACY_RISK",
    "REQUIREMENTS",
    "VALUE_CHECKS",
    "CheckKind",
    "ClassRule",
    "Evidence",
    "Exchange",
    "NodeInfo",
    "ObjectReport",
    "Outcome",
    "OverlayResult",
    "Probe",
    "Report",
    "Requirement",
    "RequirementResult",
    "Status",
    "Way",
    "check",
    "is_simulation",
    "overlay_hello",
    "probe_overlay",
    "release_text",
    "requirement_table",
    "udp_exchange",
    "version_text",
]
