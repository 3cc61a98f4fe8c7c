"""DA-style secure overlay for ECHONET Lite: EDHOC, OSCORE-style records, policy and audit."""

from secure.errors import ProtocolError, SecureError, SecureUsageError

__all__ = ["ProtocolError", "SecureError", "SecureUsageError"]
