"""Value types of the properties that say what an object is: version information (0x82) and identification (0x83).

* Node profile 0x82, version information: major version, minor version, a bitmap of the message formats the node
  supports (bit 0 specified, bit 1 arbitrary; the other bits reserved) and 0x00. Decodes to
  :class:`ProtocolVersion`.
* Device object 0x82, standard version information: 0x00, 0x00, the Appendix release letter in ASCII and its
  revision number. The Appendix writes Release A as a lower-case ``a`` (0x61) and every later release upper-case
  (0x42 ``B``, 0x43 ``C``, ...). Decodes to :class:`AppendixRelease`.
* 0x83, identification number (node profile and device objects): 0xFE, the 3-byte manufacturer code and 13 bytes
  unique to the object; 0xFE is the only first byte the Appendix defines. Decodes to :class:`Identification`.

As for every type of :mod:`.types`, ``decode`` raises :class:`ValueDecodeError` only for an EDT that cannot mean a
value of the type (a wrong size, a release byte that is no letter, an identification that does not start with
0xFE), and ``check`` also refuses what the Appendix fixes but a reader can do without (the 0x00 bytes, the reserved
message-format bits, Release A written upper-case). So for any EDT of the right shape ``check(edt) is None``
exactly when ``encode(decode(edt)) == edt``.

:func:`version_text` and :func:`release_text` give the text for a person of EDT bytes that may be missing or
malformed (``None`` when the property could not be read); :func:`version_of`, :func:`release_of` and
:func:`identification_of` give the decoded value or ``None``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from ..errors import EchonetUsageError, ValueDecodeError
from .types import FixedSize

#: Message formats of node profile 0x82 (third byte), by bit.
MESSAGE_FORMATS: Mapping[int, str] = {0: "specified", 1: "arbitrary"}
_FORMAT_BITS = {name: bit for bit, name in MESSAGE_FORMATS.items()}
_FORMAT_MASK = sum(1 << bit for bit in MESSAGE_FORMATS)

#: Size of an identification number (0x83).
IDENTIFICATION_SIZE = 17
#: First byte of an identification number: the manufacturer-assigned form (the only one the Appendix defines).
MANUFACTURER_FORM = 0xFE


def _byte(name: str, value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 0xFF:
        raise EchonetUsageError(f"{name} must be a number 0-255, got {value!r}")
    return value


def _hex_bytes(text: str) -> bytes:
    cleaned = text.strip().lower().removeprefix("0x").replace(" ", "").replace(":", "")
    try:
        return bytes.fromhex(cleaned)
    except ValueError:
        raise EchonetUsageError(f"{text!r} is not hex data") from None


def _bytes_of(value: object) -> bytes | None:
    """``value`` as EDT bytes when it is bytes, or text of hex digits only (``0x`` optional); else ``None``."""
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value)
    if isinstance(value, str) and re.fullmatch(r"\s*(0[xX])?([0-9a-fA-F]{2}[\s:]?)+\s*", value):
        return _hex_bytes(value)
    return None


# Node profile 0x82 -------------------------------------------------------------------------------------------------


def _format_names(value: object) -> frozenset[str]:
    if isinstance(value, str):
        value = (value,)
    if not isinstance(value, Iterable):
        raise EchonetUsageError(f"message formats must be names ({', '.join(_FORMAT_BITS)}), got {value!r}")
    names = frozenset(value)
    unknown = sorted(str(n) for n in names if n not in _FORMAT_BITS)
    if unknown:
        raise EchonetUsageError(f"unknown message format(s) {', '.join(unknown)} (known: {', '.join(_FORMAT_BITS)})")
    return names


@dataclass(frozen=True)
class ProtocolVersion:
    """Node profile 0x82: the ECHONET Lite version a node follows and the message formats it supports."""

    major: int
    minor: int
    formats: frozenset[str] = frozenset({"specified"})  #: names from :data:`MESSAGE_FORMATS`

    def __post_init__(self) -> None:
        _byte("major version", self.major)
        _byte("minor version", self.minor)
        object.__setattr__(self, "formats", _format_names(self.formats))

    @property
    def specified(self) -> bool:
        """The node supports the specified message format (EHD2 0x81)."""
        return "specified" in self.formats

    @property
    def arbitrary(self) -> bool:
        """The node supports the arbitrary message format (EHD2 0x82)."""
        return "arbitrary" in self.formats

    @property
    def format_names(self) -> tuple[str, ...]:
        """The supported message formats in bit order."""
        return tuple(name for _, name in sorted(MESSAGE_FORMATS.items()) if name in self.formats)

    @property
    def number(self) -> str:
        """``"1.14"``: the version number, the minor version in two digits (1.01 is 0x01 0x01)."""
        return f"{self.major}.{self.minor:02d}"

    def to_bytes(self) -> bytes:
        bitmap = sum(1 << _FORMAT_BITS[name] for name in self.formats)
        return bytes((self.major, self.minor, bitmap, 0))

    def text(self) -> str:
        """``"1.14 (message format: specified)"``."""
        return f"{self.number} (message format: {', '.join(self.format_names) or 'none stated'})"

    def __str__(self) -> str:
        return self.text()

    def to_json(self) -> dict[str, Any]:
        return {"major": self.major, "minor": self.minor, "formats": list(self.format_names)}


@dataclass(frozen=True)
class ProtocolVersionType(FixedSize):
    """Node profile 0x82 as :class:`ProtocolVersion`."""

    size: int = field(default=4, init=False)
    kind: str = field(default="protocol-version", init=False)

    def decode(self, edt: bytes) -> ProtocolVersion:
        self._need_size(edt)
        names = frozenset(name for bit, name in MESSAGE_FORMATS.items() if edt[2] & (1 << bit))
        return ProtocolVersion(edt[0], edt[1], names)

    def check(self, edt: bytes) -> str | None:
        if len(edt) != self.size:
            return f"EDT of {len(edt)} byte(s), expected {self.size}"
        reserved = edt[2] & ~_FORMAT_MASK
        if reserved:
            return f"message-format bitmap 0x{edt[2]:02X} sets reserved bits (0x{reserved:02X})"
        if edt[3]:
            return f"4th byte is 0x{edt[3]:02X}, expected 0x00"
        return None

    def encode(self, value: Any) -> bytes:
        return self.coerce(value).to_bytes()

    def coerce(self, value: Any) -> ProtocolVersion:
        """A :class:`ProtocolVersion` from itself, its JSON form, ``"1.14"`` text or the 4-byte EDT."""
        if isinstance(value, ProtocolVersion):
            return value
        if isinstance(value, Mapping):
            unknown = set(value) - {"major", "minor", "formats"}
            if unknown or not {"major", "minor"} <= set(value):
                raise EchonetUsageError(f"{dict(value)!r}: expected major, minor and optionally formats")
            return ProtocolVersion(value["major"], value["minor"], _format_names(value.get("formats", ("specified",))))
        edt = _bytes_of(value)
        if edt is not None:
            try:
                return self.decode(edt)
            except ValueDecodeError as exc:
                raise EchonetUsageError(f"version information: {exc.reason}") from None
        if isinstance(value, str):
            m = re.fullmatch(r"\s*(?:ver\.?\s*)?(\d{1,3})\.(\d{1,3})\s*", value, re.IGNORECASE)
            if m:
                return ProtocolVersion(int(m[1]), int(m[2]))
        raise EchonetUsageError(f"{value!r} is not a version (1.14, or the 4-byte EDT in hex)")

    def parse_text(self, text: str) -> Any:
        return self.coerce(text)

    def to_json(self, value: Any) -> Any:
        return value.to_json() if isinstance(value, ProtocolVersion) else super().to_json(value)

    def value_text(self, value: Any) -> str | None:
        return value.text() if isinstance(value, ProtocolVersion) else None

    def describe(self) -> str:
        return "version: major, minor, message formats (bit 0 specified, bit 1 arbitrary), 0x00"


# Device object 0x82 ------------------------------------------------------------------------------------------------

_RELEASE_LETTERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
#: The byte Release A is written with (lower-case, as the Appendix says); later releases are upper-case ASCII.
RELEASE_A_BYTE = 0x61


def _release_letter(value: object) -> str:
    if not isinstance(value, str) or len(value) != 1 or value.upper() not in _RELEASE_LETTERS:
        raise EchonetUsageError(f"an Appendix release is one letter A-Z, got {value!r}")
    return value.upper()


@dataclass(frozen=True, order=True)
class AppendixRelease:
    """Device object 0x82: the Appendix release (``"R"``) the object follows and its revision; ordered by both."""

    letter: str
    revision: int = 0

    def __post_init__(self) -> None:
        object.__setattr__(self, "letter", _release_letter(self.letter))
        _byte("revision", self.revision)

    def to_bytes(self) -> bytes:
        code = RELEASE_A_BYTE if self.letter == "A" else ord(self.letter)
        return bytes((0, 0, code, self.revision))

    def text(self) -> str:
        """``"Release R rev. 1"``."""
        return f"Release {self.letter} rev. {self.revision}"

    def __str__(self) -> str:
        return self.text()

    def to_json(self) -> dict[str, Any]:
        return {"letter": self.letter, "revision": self.revision}


@dataclass(frozen=True)
class AppendixReleaseType(FixedSize):
    """Device object 0x82 as :class:`AppendixRelease`."""

    size: int = field(default=4, init=False)
    kind: str = field(default="appendix-release", init=False)

    def decode(self, edt: bytes) -> AppendixRelease:
        self._need_size(edt)
        code = edt[2]
        if code == RELEASE_A_BYTE or 0x41 <= code <= 0x5A:
            return AppendixRelease(chr(code).upper(), edt[3])
        raise ValueDecodeError(f"release byte 0x{code:02X} is not a release letter (A-Z, 'a' for Release A)", 2)

    def check(self, edt: bytes) -> str | None:
        try:
            self.decode(edt)
        except ValueDecodeError as exc:
            return exc.reason
        if edt[:2] != b"\x00\x00":
            return f"first two bytes are 0x{edt[:2].hex().upper()}, expected 0x0000"
        if edt[2] == ord("A"):
            return "Release A is written 'a' (0x61)"
        return None

    def encode(self, value: Any) -> bytes:
        return self.coerce(value).to_bytes()

    def coerce(self, value: Any) -> AppendixRelease:
        """An :class:`AppendixRelease` from itself, its JSON form, text (``R``, ``Release R rev. 1``) or the EDT."""
        if isinstance(value, AppendixRelease):
            return value
        if isinstance(value, Mapping):
            unknown = set(value) - {"letter", "revision"}
            if unknown or "letter" not in value:
                raise EchonetUsageError(f"{dict(value)!r}: expected letter and optionally revision")
            return AppendixRelease(value["letter"], value.get("revision", 0))
        if isinstance(value, str):
            m = re.fullmatch(r"\s*(?:release\s*)?([A-Za-z])(?:\s*(?:rev\.?|revision)?\s*(\d{1,3}))?\s*", value, re.I)
            if m:
                return AppendixRelease(m[1], int(m[2] or 0))
        edt = _bytes_of(value)
        if edt is not None:
            try:
                return self.decode(edt)
            except ValueDecodeError as exc:
                raise EchonetUsageError(f"standard version information: {exc.reason}") from None
        raise EchonetUsageError(f"{value!r} is not an Appendix release (R, Release R rev. 1, or the EDT in hex)")

    def parse_text(self, text: str) -> Any:
        return self.coerce(text)

    def to_json(self, value: Any) -> Any:
        return value.to_json() if isinstance(value, AppendixRelease) else super().to_json(value)

    def value_text(self, value: Any) -> str | None:
        return value.text() if isinstance(value, AppendixRelease) else None

    def describe(self) -> str:
        return "Appendix release: 0x00, 0x00, release letter (ASCII; 'a' for A), revision"


# 0x83 --------------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Identification:
    """0x83: an object's identification number, 0xFE + the 3-byte manufacturer code + 13 unique bytes.

    Its JSON form is the whole number in hex (34 digits), the form in which nodes are told apart and compared.
    """

    manufacturer: bytes  #: 3 bytes, the code the ECHONET Consortium assigned (as in 0x8A)
    unique: bytes  #: 13 bytes unique to the object

    def __post_init__(self) -> None:
        for name, size in (("manufacturer", 3), ("unique", 13)):
            part = getattr(self, name)
            if not isinstance(part, bytes | bytearray) or len(part) != size:
                raise EchonetUsageError(f"identification number: the {name} part is {size} bytes, got {part!r}")
            object.__setattr__(self, name, bytes(part))

    def to_bytes(self) -> bytes:
        return bytes((MANUFACTURER_FORM,)) + self.manufacturer + self.unique

    def text(self) -> str:
        """``"manufacturer 0x000077, unique 0102...0d"``."""
        return f"manufacturer 0x{self.manufacturer.hex().upper()}, unique {self.unique.hex()}"

    def __str__(self) -> str:
        return self.text()

    def to_json(self) -> str:
        return self.to_bytes().hex()


@dataclass(frozen=True)
class IdentificationType(FixedSize):
    """0x83 as :class:`Identification`."""

    size: int = field(default=IDENTIFICATION_SIZE, init=False)
    kind: str = field(default="identification", init=False)

    def decode(self, edt: bytes) -> Identification:
        self._need_size(edt)
        if edt[0] != MANUFACTURER_FORM:
            raise ValueDecodeError(f"identification number starts with 0x{edt[0]:02X}, expected 0xFE")
        return Identification(bytes(edt[1:4]), bytes(edt[4:]))

    def encode(self, value: Any) -> bytes:
        return self.coerce(value).to_bytes()

    def coerce(self, value: Any) -> Identification:
        """An :class:`Identification` from itself, the 17 bytes or their hex (its JSON form), or a mapping of the
        manufacturer and unique parts (bytes or hex)."""
        if isinstance(value, Identification):
            return value
        if isinstance(value, Mapping):
            if set(value) != {"manufacturer", "unique"}:
                raise EchonetUsageError(f"{dict(value)!r}: expected manufacturer and unique")
            parts = [_bytes_of(value[k]) for k in ("manufacturer", "unique")]
            if parts[0] is None or parts[1] is None:
                raise EchonetUsageError(f"{dict(value)!r}: the parts are bytes or hex")
            return Identification(parts[0], parts[1])
        edt = _bytes_of(value)
        if edt is None:
            raise EchonetUsageError(f"{value!r} is not an identification number (17 bytes, or 34 hex digits)")
        try:
            return self.decode(edt)
        except ValueDecodeError as exc:
            raise EchonetUsageError(f"identification number: {exc.reason}") from None

    def to_json(self, value: Any) -> Any:
        return value.to_json() if isinstance(value, Identification) else super().to_json(value)

    def value_text(self, value: Any) -> str | None:
        return value.text() if isinstance(value, Identification) else None

    def describe(self) -> str:
        return "identification: 0xFE, 3-byte manufacturer code, 13 unique bytes"


#: The types the built-in tables use.
PROTOCOL_VERSION = ProtocolVersionType()
APPENDIX_RELEASE = AppendixReleaseType()
IDENTIFICATION_NUMBER = IdentificationType()


# For code that has bytes only ----------------------------------------------------------------------------------------


def version_of(edt: bytes | None) -> ProtocolVersion | None:
    """Node profile 0x82 decoded, or ``None`` when it is missing or malformed."""
    if edt is None:
        return None
    try:
        return PROTOCOL_VERSION.decode(edt)
    except ValueDecodeError:
        return None


def release_of(edt: bytes | None) -> AppendixRelease | None:
    """Device object 0x82 decoded, or ``None`` when it is missing or malformed."""
    if edt is None:
        return None
    try:
        return APPENDIX_RELEASE.decode(edt)
    except ValueDecodeError:
        return None


def identification_of(edt: bytes | None) -> Identification | None:
    """0x83 decoded, or ``None`` when it is missing or malformed."""
    if edt is None:
        return None
    try:
        return IDENTIFICATION_NUMBER.decode(edt)
    except ValueDecodeError:
        return None


def version_text(edt: bytes | None) -> str:
    """Node profile 0x82 for a person: ``1.14 (message format: specified)``, ``unknown`` (``None``: not read) or
    ``malformed (3 byte(s): 010e01)``."""
    if edt is None:
        return "unknown"
    version = version_of(edt)
    if version is None:
        return f"malformed ({len(edt)} byte(s): {edt.hex()})"
    return version.text()


def release_text(edt: bytes | None) -> str:
    """Device object 0x82 for a person: ``Release R rev. 1``, ``unknown`` (``None``: not read) or
    ``malformed (000052)``."""
    if edt is None:
        return "unknown"
    release = release_of(edt)
    if release is None:
        return f"malformed ({edt.hex()})"
    return release.text()


__all__ = [
    "APPENDIX_RELEASE",
    "IDENTIFICATION_NUMBER",
    "IDENTIFICATION_SIZE",
    "MANUFACTURER_FORM",
    "MESSAGE_FORMATS",
    "PROTOCOL_VERSION",
    "RELEASE_A_BYTE",
    "AppendixRelease",
    "AppendixReleaseType",
    "Identification",
    "IdentificationType",
    "ProtocolVersion",
    "ProtocolVersionType",
    "identification_of",
    "release_of",
    "release_text",
    "version_of",
    "version_text",
]
