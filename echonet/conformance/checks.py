"""The conformance checks, as data: each one's id, what it asks, the clause it comes from and when it runs.

Clauses name the ECHONET Lite Specification, Part 2 (the protocol) by section, and the APPENDIX Detailed
Requirements for ECHONET Device Objects (the Appendix) where the rule is one of a class or of the super class.
docs/conformance.md says which section numbers were checked against the edition's numbering, and how. Ids are
stable: reports, JUnit files and docs/conformance.md use them.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass


class Scope(enum.StrEnum):
    """What a check is run on."""

    NODE = "node"  #: once per node
    OBJECT = "object"  #: once per object (the node profile included where it applies)


class Needs(enum.StrEnum):
    """What a check needs beyond the default read-only run."""

    NOTHING = "read-only"
    PROBE_SET = "probe-set"  #: writes, and restores what it changed
    ROBUSTNESS = "robustness"  #: a burst of malformed datagrams


@dataclass(frozen=True)
class Check:
    """One conformance check."""

    id: str
    title: str
    clause: str
    scope: Scope
    needs: Needs = Needs.NOTHING

    def to_json(self) -> dict[str, str]:
        return {
            "id": self.id,
            "title": self.title,
            "clause": self.clause,
            "scope": self.scope.value,
            "needs": self.needs.value,
        }


_P2 = "ECHONET Lite Part 2"
_APX = "Appendix (Detailed Requirements for ECHONET Device Objects)"

CHECKS: tuple[Check, ...] = (
    # node profile
    Check("NP-D3", "0xD3 counts the instances that answer", f"{_P2} 6.11.1 (node profile 0xD3)", Scope.NODE),
    Check("NP-D4", "0xD4 counts their classes plus the node profile", f"{_P2} 6.11.1 (node profile 0xD4)", Scope.NODE),
    Check("NP-D5", "0xD5 lists the instances, where it can be read", f"{_P2} 6.11.1 (node profile 0xD5)", Scope.NODE),
    Check("NP-D6", "0xD6 lists every instance, and each answers", f"{_P2} 6.11.1 (node profile 0xD6)", Scope.NODE),
    Check("NP-D7", "0xD7 lists the classes of the instances", f"{_P2} 6.11.1 (node profile 0xD7)", Scope.NODE),
    Check("NP-83-UNIQUE", "no two objects of the node share an identification number (0x83)",
          f"{_P2} 6.11.1 (0x83); {_APX} 2.2 (0x83)", Scope.NODE),
    # every object
    Check("ID-82", "0x82 has its format (node profile: version; object: Appendix release)",
          f"{_P2} 6.11.1 (node profile 0x82); {_APX} 2.2 (0x82)", Scope.OBJECT),
    Check("ID-83", "0x83 has its format (0xFE, the manufacturer code 0x8A, 13 bytes)",
          f"{_P2} 6.11.1 (0x83); {_APX} 2.2 (0x83)", Scope.OBJECT),
    Check("MAP-FORMAT", "0x9D, 0x9E and 0x9F are readable, in the form their size asks, and 0x9F lists the maps",
          f"{_APX} Annex 1 (property map description format)", Scope.OBJECT),
    Check("MAP-GET", "every EPC of the Get map 0x9F answers a Get with a value",
          f"{_P2} 4.2.3.3; {_APX} 2.2 (0x9F)", Scope.OBJECT),
    Check("GET-VALUE", "every value answered has a size and a value its definition allows (range, codes, special "
          "values)", f"{_APX} (the property's definition)", Scope.OBJECT),
    Check("GET-UNMAPPED", "an EPC outside the Get map gets Get_SNA with PDC 0", f"{_P2} 4.2.3.3 (Get_SNA)",
          Scope.OBJECT),
    Check("GET-SNA-KEEPS", "a Get_SNA still carries the values that can be read", f"{_P2} 4.2.3.3 (Get_SNA)",
          Scope.OBJECT),
    Check("SETGET", "SetGet is answered with both halves", f"{_P2} 4.2.3.4 (SetGet)", Scope.OBJECT),
    Check("INSTANCE-0", "a request to instance 0x00 is answered by every instance of the class",
          f"{_P2} 3.2.4 (EOJ instance code 0x00)", Scope.OBJECT),
    Check("INF-REQ", "INF_REQ is answered with INF carrying the value", f"{_P2} 4.2.3.5 (INF_REQ)", Scope.OBJECT),
    Check("INFC", "INFC is answered with INFC_Res (PDC 0 per EPC)", f"{_P2} 4.2.3.6 (INFC)", Scope.OBJECT),
    Check("MANDATORY", "every property the Appendix makes mandatory for the class is in the matching map",
          f"{_APX} (access rules of the class and the super class)", Scope.OBJECT),
    Check("RELEASE", "the EPCs implemented exist in the Appendix release the object declares (0x82)",
          f"{_APX} 2.2 (0x82) and the release each property was added in", Scope.OBJECT),
    # the node's answers
    Check("HEADER", "answers echo the TID and swap SEOJ and DEOJ (a warning: bytes after the last property)",
          f"{_P2} 3.2.2 (TID), 3.2.4 (SEOJ, DEOJ); 3.2.8 (PDC), 3.2.9 (EDT)", Scope.NODE),
    Check("REPLY-PORT", "an answer to a request from a port other than 3610 goes to that port",
          f"{_P2} (UDP/IP: requests go to port 3610, the answer to the request's source port)", Scope.NODE),
    Check("ODD-EHD2", "a frame of EHD2 0x82 (arbitrary format) does not silence the device",
          f"{_P2} 3.2.1.2 (EHD2)", Scope.NODE),
    Check("ODD-OPC0", "a Get with OPC 0 does not silence the device", f"{_P2} 3.2.6 (OPC)", Scope.NODE),
    Check("ODD-TRAILING", "a frame with bytes after its last property does not silence the device",
          f"{_P2} 3.2.8 (PDC), 3.2.9 (EDT)", Scope.NODE),
    # --probe-set
    Check("SET-VALID", "a valid SetC is accepted (Set_Res, PDC 0) and read back", f"{_P2} 4.2.3.2 (SetC)",
          Scope.OBJECT, Needs.PROBE_SET),
    Check("SET-INVALID", "an out-of-range SetC is refused with SetC_SNA echoing the EDT, the value kept",
          f"{_P2} 4.2.3.2 (SetC_SNA); {_APX} (the property's range)", Scope.OBJECT, Needs.PROBE_SET),
    Check("SETI-SILENT", "a SetI that succeeds is not answered", f"{_P2} 4.2.3.1 (SetI)", Scope.OBJECT,
          Needs.PROBE_SET),
    Check("INF-CHANGE", "a change of a status-change property (0x9D) is announced with INF",
          f"{_P2} 6.2.5 (access rules: Anno, the announcement at a status change); {_APX} 2.2 (0x9D)", Scope.OBJECT,
          Needs.PROBE_SET),
    # --robustness
    Check("ROBUST-BURST", "the device still answers after a bounded burst of malformed datagrams",
          f"{_P2} 3.2 (frame format: what is not a frame is discarded)", Scope.NODE, Needs.ROBUSTNESS),
)  # fmt: skip

CHECKS_BY_ID: Mapping[str, Check] = {c.id: c for c in CHECKS}


def check_table() -> list[dict[str, str]]:
    """Every check as JSON-ready rows (``echonet conformance --list``)."""
    return [c.to_json() for c in CHECKS]


__all__ = ["CHECKS", "CHECKS_BY_ID", "Check", "Needs", "Scope", "check_table"]
