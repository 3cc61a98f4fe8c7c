"""Records of the secure overlay in a capture: recognised by their EHD1 and type byte, described, and opened with a
key log (:mod:`secure.keylog`).

A datagram whose first byte is the overlay's EHD1 (``0x21``, :data:`echonet.constants.OVERLAY_EHD1`) is a record
(:mod:`secure.records.framing`), not a malformed ECHONET Lite frame: :class:`OverlayReader` names its kind
(``handshake`` with the EDHOC message by name, ``cookie``, ``data``, ``close``, ``unknown_context``) and its fields
(connection identifier, cookie, kid, partial IV, lengths). The EDHOC message of a handshake record is named from
its CBOR form and from what the same pair of addresses sent before: ``message_1`` starts with the method (an
integer 0-3) and has the suites and G_X after it, ``error`` is an integer code and its information, and the byte
strings that follow a ``message_1`` are, in turn, ``message_2`` (from the responder), ``message_3`` (from the
initiator) and ``message_4`` (from the responder).

With the entries of a key log, a data record is decrypted (every entry whose IDs include the record's kid is tried,
the one whose tag verifies wins) and its plain frame handed back for decoding; a close record gives its reason. A
record no entry opens stays described, with ``"decrypted": false``.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from secure.errors import MalformedRecordError, SecureError
from secure.keylog import KeyLogEntry
from secure.records import framing
from secure.records.oscore import ALGORITHMS, AeadAlgorithm, aead_decrypt, build_aad, build_nonce, derive_keys

__all__ = ["OverlayReader", "OverlayRecord"]

_KINDS = {
    framing.RecordKind.HANDSHAKE: "handshake",
    framing.RecordKind.COOKIE: "cookie",
    framing.RecordKind.DATA: "data",
    framing.RecordKind.CLOSE: "close",
    framing.RecordKind.UNKNOWN_CONTEXT: "unknown_context",
}


_ALGS = frozenset(int(a) for a in AeadAlgorithm)


@dataclass
class OverlayRecord:
    """One record as described: ``kind`` and its ``fields`` (JSON values), the plain ``frame`` bytes when a key log
    opened a data record, ``error`` when the record does not parse."""

    kind: str
    fields: dict[str, Any]
    plaintext: bytes | None = None
    error: str | None = None

    def to_json(self) -> dict[str, Any]:
        """``{"record": kind, ...fields}`` (``"error"`` for a record that does not parse)."""
        out: dict[str, Any] = {"record": self.kind, **self.fields}
        if self.error is not None:
            out["error"] = self.error
        return out

    def text(self) -> str:
        """One line for a person."""
        if self.error is not None:
            return f"secured record, malformed: {self.error}"
        parts = [
            f"{k.replace('_', ' ')} {v if v != '' else '(empty)'}"
            for k, v in self.fields.items()
            if v is not None and k != "decrypted"
        ]
        head = f"secured {self.kind.replace('_', '-')}"
        if self.kind == "handshake":
            head = f"secured handshake {self.fields.get('message')}"
            parts = [p for p in parts if not p.startswith("message ")]
        text = head + (" (" + ", ".join(parts) + ")" if parts else "")
        if self.kind in ("data", "close") and not self.fields.get("decrypted"):
            text += "; not decrypted (no key log entry opens it)"
        return text


def _cbor_kind(data: bytes) -> tuple[int, int]:
    """(major type, length of the head) of the first CBOR item; (-1, 0) for nothing."""
    if not data:
        return -1, 0
    info = data[0] & 0x1F
    return data[0] >> 5, 1 + {24: 1, 25: 2, 26: 4, 27: 8}.get(info, 0)


class _Keys:
    """A key log entry's keys for one sender (the kid of its records)."""

    def __init__(self, entry: KeyLogEntry, kid: bytes, other: bytes) -> None:
        keys = derive_keys(entry.master_secret, entry.master_salt, kid, other, None, entry.alg)
        self.alg = keys.alg
        self.key = keys.sender_key
        self.common_iv = keys.common_iv
        self.kid = kid


class OverlayReader:
    """Describes records one at a time (in capture order: the EDHOC messages are named from what came before) and
    opens them with the ``entries`` of a key log."""

    def __init__(self, entries: Iterable[KeyLogEntry] = ()) -> None:
        self.entries = list(entries)
        self._keys: dict[bytes | None, list[_Keys]] = {}
        self._flows: dict[frozenset[str], tuple[str, int]] = {}  # address pair -> (initiator, messages seen)
        self.opened = 0
        self.unopened = 0

    def _candidates(self, kid: bytes | None) -> list[_Keys]:
        found = self._keys.get(kid)
        if found is None:
            found = []
            for e in self.entries:
                if e.alg not in _ALGS:
                    continue
                for sid, rid in ((e.sender_id, e.recipient_id), (e.recipient_id, e.sender_id)):
                    if kid is None or sid == kid:
                        try:
                            found.append(_Keys(e, sid, rid))
                        except SecureError:
                            continue
            if len(self._keys) > 4096:
                self._keys.clear()
            self._keys[kid] = found
        return found

    def _open(self, record: framing.ProtectedRecord) -> bytes | None:
        for keys in self._candidates(record.kid):
            try:
                nonce = build_nonce(keys.common_iv, keys.kid, record.partial_iv)
                aad = build_aad(keys.alg, keys.kid, record.partial_iv, record.header)
                return aead_decrypt(keys.alg, keys.key, nonce, record.ciphertext, aad)
            except SecureError:
                continue
        return None

    def _message(self, src: str, dst: str, payload: bytes) -> str:
        major, head = _cbor_kind(payload)
        pair = frozenset((src, dst))
        if major == 0:  # an unsigned integer first: message_1 (METHOD) or an error (ERR_CODE)
            second, _ = _cbor_kind(payload[head:])
            if payload[0] <= 3 and len(payload) > 34 and second in (0, 1, 4):
                self._flows[pair] = (src, 1)
                return "message_1"
            return "error"
        if major == 1:
            return "error"
        if major == 2:
            flow = self._flows.get(pair)
            if flow is None:
                return "message_2_3_or_4"
            initiator, seen = flow
            want = {1: "message_2", 2: "message_3", 3: "message_4"}.get(seen)
            expected_from_initiator = seen == 2
            if want is None or (src == initiator) != expected_from_initiator:
                return "message_2_3_or_4"
            self._flows[pair] = (initiator, seen + 1)
            return want
        return "unknown"

    def describe(self, src: str, dst: str, payload: bytes) -> OverlayRecord:
        """The record ``payload`` sent from ``src`` to ``dst`` (addresses as text)."""
        try:
            record = framing.decode(payload, min_tag_len=min(p.tag_len for p in ALGORITHMS.values()))
        except MalformedRecordError as exc:
            kind = "unknown"
            if len(payload) > 1:
                found = framing.DEFAULT_FORMAT.kind_of(payload[1])
                kind = "unknown" if found is None else _KINDS[found]
            return OverlayRecord(kind, {"length": len(payload)}, error=str(exc))
        if isinstance(record, framing.HandshakeRecord):
            return OverlayRecord(
                "handshake",
                {
                    "message": self._message(src, dst, record.payload),
                    "connection_id": record.connection_id.hex(),
                    "length": len(record.payload),
                },
            )
        if isinstance(record, framing.CookieRecord):
            fields: dict[str, Any] = {"cookie": record.cookie.hex(), "length": len(record.payload)}
            if record.payload:
                fields["message"] = self._message(src, dst, record.payload)
            return OverlayRecord("cookie", fields)
        if isinstance(record, framing.UnknownContextRecord):
            return OverlayRecord("unknown_context", {"kid": record.kid.hex()})
        kind = _KINDS[record.kind]
        fields = {
            "kid": None if record.kid is None else record.kid.hex(),
            "partial_iv": record.partial_iv.hex(),
            "sequence": record.piv,
            "length": len(record.ciphertext),
        }
        plaintext = self._open(record) if self.entries else None
        fields["decrypted"] = plaintext is not None
        if plaintext is None:
            self.unopened += 1
            return OverlayRecord(kind, fields)
        self.opened += 1
        if kind == "close":
            try:
                fields["reason"] = framing.decode_close_reason(plaintext).name.lower()
            except MalformedRecordError:
                fields["reason"] = None
            return OverlayRecord(kind, fields)
        return OverlayRecord(kind, fields, plaintext=plaintext)
