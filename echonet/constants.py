"""Protocol constants of ECHONET Lite, defined once (ECHONET Lite specification Part 2, chapter 3).

Every module that needs the port, the multicast groups or the header values imports them from here.
"""

from __future__ import annotations

from typing import Final

#: UDP port of ECHONET Lite (Part 2, 3.3.1).
ECHONET_PORT: Final = 3610
#: IPv4 multicast group of ECHONET Lite (Part 2, 3.3.1).
MULTICAST_V4: Final = "224.0.23.0"
#: IPv6 multicast group: all nodes on the link (Part 2, 3.3.1).
MULTICAST_V6: Final = "ff02::1"
#: EHD1 of an ECHONET Lite frame (Part 2, 3.2.1.1); other values are not ECHONET Lite.
EHD1_ECHONET_LITE: Final = 0x10
#: EHD2 of format 1, "specified" message (Part 2, 3.2.1.2).
EHD2_SPECIFIED: Final = 0x81
#: EHD2 of format 2, "arbitrary" message (Part 2, 3.2.1.2).
EHD2_ARBITRARY: Final = 0x82
#: Largest number of objects one instance-list property (0xD5 / 0xD6) holds (Appendix, node profile).
MAX_INSTANCE_LIST: Final = 84
#: The secure overlay's default EHD1, from the range ECHONET Lite reserves (so plain parsers drop its records).
OVERLAY_EHD1: Final = 0x21

__all__ = [
    "ECHONET_PORT",
    "EHD1_ECHONET_LITE",
    "EHD2_ARBITRARY",
    "EHD2_SPECIFIED",
    "MAX_INSTANCE_LIST",
    "MULTICAST_V4",
    "MULTICAST_V6",
    "OVERLAY_EHD1",
]
