"""DA-style secure overlay for ECHONET Lite: EDHOC, OSCORE-style records, trust, policy and audit.

By job (``docs/architecture.md``, section "secure/", says why it is cut this way):

* :mod:`secure.handshake`: EDHOC and the CBOR and COSE pieces it uses;
* :mod:`secure.records`: the datagram framing, OSCORE-style protection, replay windows, sequence numbers;
* :mod:`secure.trust`: certificates and CAs, allow-lists, revocation, the peer verifiers;
* :mod:`secure.policy`: the coexistence policy between secured and legacy peers, and consent;
* :mod:`secure.audit`: the tamper-evident audit log;
* :mod:`secure.layer`: the layer that wraps a node, its configuration and guards, its asyncio glue;
* :mod:`secure.errors`: every exception of the package; :mod:`secure.store`: private, atomic file storage.
"""

from secure.errors import ProtocolError, SecureError, SecureUsageError

__all__ = ["ProtocolError", "SecureError", "SecureUsageError"]
