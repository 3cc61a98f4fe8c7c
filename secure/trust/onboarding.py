"""Onboarding with a setup code: the code printed on a device, and the pairing that turns it into pinned certificates.

**Setup code.** A device in setup mode has a random passcode (8 digits, 00000001-99999998, not a trivial one such as
11111111 or 12345678) and a *discriminator* (4 digits) computed from its identification number (0x83), so that a
controller can tell it from the other devices in setup mode and check, once the device's certificate arrives, that
the certificate binds the device the code was printed for. It is written two ways:

* the **numeric code** ``DDDD-PPPP-PPPP-C``: discriminator, passcode and a Luhn check digit (13 digits);
* the **QR payload** ``ELDA1:<0x83 in hex>:<passcode>:<check>``, which holds the whole identification number.

**Pairing** (sans-I/O, four messages; :class:`PairingController` and :class:`PairingDevice`)::

    1. controller -> device   shareP                                  (SPAKE2+, RFC 9383)
    2. device -> controller   shareV, confirmV
    3. controller -> device   confirmP, AEAD(K, controller certificate chain)
    4. device -> controller   AEAD(K, device certificate chain)

SPAKE2+ authenticates the first contact from the passcode: the device stores only the registration record
``(w0, L)``; the salt is derived from the discriminator, so no extra round trip is needed. ``K`` is SPAKE2+'s
``K_shared``, split by HKDF into one AES-CCM key per direction. Each side then validates the other's certificate
chain against its own trust anchors (the verifier it will use for sessions) and pins the certificate on its
allow-list: after pairing, the ordinary EDHOC handshake works between them. The controller checks that the device's
certificate binds the identification number of the setup code.

A wrong code is refused: the device counts failed confirmations and, after ``max_attempts`` (5 by default), leaves
setup mode for good (a new code is needed), so an attacker gets at most that many guesses of a 10^8 passcode.
Manual fingerprint enrolment (``echonet secure enrol``) stays available.
"""

from __future__ import annotations

import hashlib
import json
import secrets
from collections.abc import Callable
from dataclasses import dataclass

from cryptography import x509
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.ciphers.aead import AESCCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from echonet.constants import OVERLAY_EHD1
from secure.errors import ConfirmationError, PairingLockedError, ProtocolError, SecureUsageError
from secure.handshake.spake2plus import (
    Prover,
    Verifier,
    derive_w0_w1,
    registration_record,
)
from secure.trust import credentials

__all__ = [
    "PAIRING_RECORD",
    "PairingController",
    "PairingDevice",
    "PairingLockedError",
    "PairingResult",
    "SetupCode",
    "decode_pairing",
    "discriminator_of",
    "encode_pairing",
]

#: The record type of pairing messages on the overlay's EHD1 (after the five of :mod:`secure.records.framing`):
#: ``EHD1 | 0x06 | step (1-4, 0xFF error) | message``.
PAIRING_RECORD = 0x06


def encode_pairing(step: int, message: bytes, ehd1: int = OVERLAY_EHD1) -> bytes:
    return bytes((ehd1, PAIRING_RECORD, step)) + message


def decode_pairing(datagram: bytes, ehd1: int = OVERLAY_EHD1) -> tuple[int, bytes] | None:
    """``(step, message)`` of a pairing record, ``None`` for anything else."""
    if len(datagram) < 3 or datagram[0] != ehd1 or datagram[1] != PAIRING_RECORD:
        return None
    return datagram[2], datagram[3:]


_CONTEXT = b"ECHONET Lite DA-style overlay pairing v1"
_ITERATIONS = 2000
_TRIVIAL = frozenset(
    {
        "00000000",
        "11111111",
        "22222222",
        "33333333",
        "44444444",
        "55555555",
        "66666666",
        "77777777",
        "88888888",
        "99999999",
        "12345678",
        "87654321",
    }
)


def discriminator_of(id_number: bytes) -> str:
    """The 4-digit discriminator of a device's identification number (0x83)."""
    return f"{int.from_bytes(hashlib.sha256(b'ELDA-discriminator' + id_number).digest()[:4], 'big') % 10000:04d}"


def _luhn(digits: str) -> str:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch)
        if i % 2 == 0:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return str((10 - total % 10) % 10)


@dataclass(frozen=True)
class SetupCode:
    """A device's setup code: its discriminator (and, from a QR payload, its whole 0x83) and its passcode."""

    discriminator: str
    passcode: str
    id_number: bytes | None = None

    def __post_init__(self) -> None:
        if len(self.discriminator) != 4 or not self.discriminator.isdigit():
            raise SecureUsageError("a setup code's discriminator is 4 digits")
        if len(self.passcode) != 8 or not self.passcode.isdigit() or self.passcode in _TRIVIAL:
            raise SecureUsageError("a setup passcode is 8 digits, not a trivial one")
        if self.id_number is not None and discriminator_of(self.id_number) != self.discriminator:
            raise SecureUsageError("the setup code's discriminator does not match its identification number")

    @classmethod
    def generate(cls, id_number: bytes) -> SetupCode:
        while True:
            passcode = f"{secrets.randbelow(99999998) + 1:08d}"
            if passcode not in _TRIVIAL:
                return cls(discriminator_of(id_number), passcode, id_number)

    @property
    def numeric(self) -> str:
        """``DDDD-PPPP-PPPP-C``."""
        digits = self.discriminator + self.passcode
        return f"{digits[:4]}-{digits[4:8]}-{digits[8:]}-{_luhn(digits)}"

    @property
    def qr_payload(self) -> str:
        """``ELDA1:<0x83 hex>:<passcode>:<check>`` (needs the identification number)."""
        if self.id_number is None:
            raise SecureUsageError("a QR payload holds the identification number; this code has only its discriminator")
        body = f"ELDA1:{self.id_number.hex().upper()}:{self.passcode}"
        return f"{body}:{_luhn(self.discriminator + self.passcode)}"

    @classmethod
    def parse(cls, text: str) -> SetupCode:
        """A numeric code (dashes and spaces ignored) or a QR payload; :class:`SecureUsageError` when the check
        digit or the format is wrong."""
        text = text.strip()
        if text.upper().startswith("ELDA1:"):
            parts = text.split(":")
            if len(parts) != 4:
                raise SecureUsageError("a setup QR payload is ELDA1:<0x83 hex>:<passcode>:<check>")
            try:
                id_number = bytes.fromhex(parts[1])
            except ValueError:
                raise SecureUsageError("the setup QR payload's identification number is not hex") from None
            if len(id_number) != credentials.ID_NUMBER_LEN:
                raise SecureUsageError("the setup QR payload's identification number is not 17 bytes")
            discriminator = discriminator_of(id_number)
            if _luhn(discriminator + parts[2]) != parts[3]:
                raise SecureUsageError("the setup QR payload's check digit is wrong")
            return cls(discriminator, parts[2], id_number)
        digits = "".join(ch for ch in text if ch not in "- ")
        if len(digits) != 13 or not digits.isdigit():
            raise SecureUsageError("a setup code is 13 digits (DDDD-PPPP-PPPP-C) or a QR payload (ELDA1:...)")
        if _luhn(digits[:12]) != digits[12]:
            raise SecureUsageError("the setup code's check digit is wrong (mistyped?)")
        return cls(digits[:4], digits[4:12])

    def secrets_for(self, id_prover: bytes = b"", id_verifier: bytes = b"") -> tuple[int, int]:
        salt = hashlib.sha256(b"ELDA-setup-salt" + self.discriminator.encode()).digest()[:16]
        return derive_w0_w1(self.passcode, salt, _ITERATIONS, id_prover, id_verifier)


@dataclass(frozen=True)
class PairingResult:
    """What pairing established: the peer's certificate (validated and pinned) and its identity."""

    certificate: x509.Certificate
    identity: credentials.EchonetIdentity


def _keys(shared: bytes) -> tuple[AESCCM, AESCCM]:
    material = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=b"ELDA pairing keys").derive(shared)
    return AESCCM(material[:16], tag_length=8), AESCCM(material[16:], tag_length=8)


def _pem_chain(certs: list[x509.Certificate]) -> bytes:
    return b"".join(c.public_bytes(serialization.Encoding.PEM) for c in certs)


def _load_chain(data: bytes) -> list[x509.Certificate]:
    try:
        certs = x509.load_pem_x509_certificates(data)
    except ValueError:
        raise ProtocolError("pairing: the peer's certificate chain is unreadable") from None
    if not certs:
        raise ProtocolError("pairing: the peer sent no certificate")
    return certs


def _pack(**fields: bytes) -> bytes:
    return json.dumps({k: v.hex() for k, v in fields.items()}, separators=(",", ":")).encode()


def _unpack(data: bytes, *names: str) -> list[bytes]:
    try:
        doc = json.loads(data)
        return [bytes.fromhex(doc[name]) for name in names]
    except (ValueError, KeyError, TypeError):
        raise ProtocolError("pairing: malformed message") from None


Validate = Callable[[list[x509.Certificate]], credentials.EchonetIdentity]


class PairingDevice:
    """The device side: holds the registration record of its setup code, never the passcode after creation.

    ``validate``: checks the controller's chain (leaf first) against the device's trust anchors and returns the
    identity it binds (raise to refuse); ``pin``: called with the controller's certificate once pairing succeeded.
    """

    def __init__(
        self,
        code: SetupCode,
        chain: list[x509.Certificate],
        *,
        validate: Validate,
        pin: Callable[[x509.Certificate], None],
        max_attempts: int = 5,
    ) -> None:
        w0, w1 = code.secrets_for()
        self._record = registration_record(w0, w1)
        self._chain = chain
        self._validate = validate
        self._pin = pin
        self.max_attempts = max_attempts
        #: Wrong confirmations so far; at ``max_attempts`` the device leaves setup mode.
        self.failures = 0
        self.paired: PairingResult | None = None
        self._verifier: Verifier | None = None

    @property
    def locked(self) -> bool:
        return self.failures >= self.max_attempts or self.paired is not None

    def message_1(self, data: bytes) -> bytes:
        """shareP in; shareV and confirmV out (message 2)."""
        if self.locked:
            raise PairingLockedError("the device is not in setup mode (paired, or too many wrong codes)")
        [share_p] = _unpack(data, "share_p")
        verifier = Verifier(_CONTEXT, b"", b"", self._record.w0, self._record.L)
        share_v, confirm_v = verifier.respond(share_p)
        self._verifier = verifier
        return _pack(share_v=share_v, confirm_v=confirm_v)

    def message_3(self, data: bytes) -> bytes:
        """confirmP and the controller's chain in; the device's chain out (message 4), after pinning."""
        verifier = self._verifier
        if self.locked or verifier is None:
            raise PairingLockedError("the device is not in setup mode (paired, or too many wrong codes)")
        self._verifier = None
        confirm_p, sealed = _unpack(data, "confirm_p", "chain")
        try:
            verifier.confirm(confirm_p)
        except ConfirmationError:
            self.failures += 1
            raise
        to_device, to_controller = _keys(verifier.shared_key)
        try:
            chain = _load_chain(to_device.decrypt(b"\x00" * 13, sealed, b"message_3"))
        except InvalidTag:
            raise ProtocolError("pairing: message 3 does not verify") from None
        identity = self._validate(chain)
        self._pin(chain[0])
        self.paired = PairingResult(chain[0], identity)
        return _pack(chain=to_controller.encrypt(b"\x00" * 13, _pem_chain(self._chain), b"message_4"))


class PairingController:
    """The controller side: given the setup code; validates and pins the device's certificate."""

    def __init__(
        self,
        code: SetupCode,
        chain: list[x509.Certificate],
        *,
        validate: Validate,
        pin: Callable[[x509.Certificate], None],
    ) -> None:
        w0, w1 = code.secrets_for()
        self.code = code
        self._prover = Prover(_CONTEXT, b"", b"", w0, w1)
        self._chain = chain
        self._validate = validate
        self._pin = pin
        self.paired: PairingResult | None = None

    def message_1(self) -> bytes:
        return _pack(share_p=self._prover.start())

    def message_2(self, data: bytes) -> bytes:
        """shareV and confirmV in (the device's confirmation is checked: a wrong code fails here too)."""
        share_v, confirm_v = _unpack(data, "share_v", "confirm_v")
        confirm_p = self._prover.finish(share_v, confirm_v)
        to_device, _ = _keys(self._prover.shared_key)
        sealed = to_device.encrypt(b"\x00" * 13, _pem_chain(self._chain), b"message_3")
        return _pack(confirm_p=confirm_p, chain=sealed)

    def message_4(self, data: bytes) -> PairingResult:
        [sealed] = _unpack(data, "chain")
        _, to_controller = _keys(self._prover.shared_key)
        try:
            chain = _load_chain(to_controller.decrypt(b"\x00" * 13, sealed, b"message_4"))
        except InvalidTag:
            raise ProtocolError("pairing: message 4 does not verify") from None
        identity = self._validate(chain)
        if discriminator_of(identity.id_number) != self.code.discriminator or (
            self.code.id_number is not None and identity.id_number != self.code.id_number
        ):
            raise ProtocolError("pairing: the device's certificate is not for the device of this setup code")
        self._pin(chain[0])
        self.paired = PairingResult(chain[0], identity)
        return self.paired
