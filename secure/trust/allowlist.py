"""Per-node allow-list of pinned peer public keys (SPKI SHA-256), enrolled explicitly.

* Entries are added only by an explicit call (from a certificate or a fingerprint string) and removed the same
  way. Every change is written at once (atomic JSON, mode 0o600, via :mod:`secure.store`) and, if an audit log
  is attached, recorded as ``allowlist_added`` / ``allowlist_removed``.
* Changes are effective at once, also across processes: :meth:`AllowList.is_allowed` re-reads the file when
  its identity, size or modification time changed, so a running node sees a removal made by the CLI on the
  very next lookup.
* Revocation: a CRL loaded with :meth:`AllowList.use_crl` (signature checked against its issuer) makes
  entries enrolled from a certificate of that issuer with a listed serial not allowed, and
  :meth:`AllowList.is_revoked` checks any certificate. Entries enrolled from a bare fingerprint carry no
  serial; remove them explicitly. A CRL file given to :meth:`AllowList.watch_crl_file` is re-read whenever it
  changes (it may also appear later), like the allow-list itself: a CRL published while the node runs counts at
  its next lookup. A replacement that does not verify, or that is older (lower CRL number) than the one loaded, is
  refused and the loaded one stays; a deleted CRL file un-revokes nothing. Both are audited (``crl_updated``,
  ``crl_rejected``). :meth:`AllowList.version` changes with every accepted change, for callers that re-check
  their sessions when it does.

File format (``allowlist.json``)::

    {"version": 1, "entries": [{"fingerprint": "<64 hex>", "label": "...", "added_at": 1700000000.0,
      "id_number": "<34 hex>"|null, "maker_code": "<6 hex>"|null, "serial": "<hex>"|null,
      "issuer": "<RFC 4514 name>"|null, "not_after": 1900000000.0|null}]}
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec

from secure import store
from secure.audit import AuditEvent, AuditLog
from secure.errors import CertificateError, SecureUsageError, StoreError
from secure.trust import credentials

__all__ = ["AllowEntry", "AllowList"]

_VERSION = 1


@dataclass(frozen=True)
class AllowEntry:
    fingerprint: bytes
    label: str
    added_at: float
    id_number: bytes | None = None
    maker_code: bytes | None = None
    serial: int | None = None
    issuer: str | None = None
    not_after: float | None = None

    def to_document(self) -> dict[str, object]:
        return {
            "fingerprint": self.fingerprint.hex(),
            "label": self.label,
            "added_at": self.added_at,
            "id_number": None if self.id_number is None else self.id_number.hex(),
            "maker_code": None if self.maker_code is None else self.maker_code.hex(),
            "serial": None if self.serial is None else format(self.serial, "x"),
            "issuer": self.issuer,
            "not_after": self.not_after,
        }

    @classmethod
    def from_document(cls, item: object) -> AllowEntry:
        if not isinstance(item, dict):
            raise ValueError("entry is not an object")

        def optional_hex(name: str) -> bytes | None:
            value = item.get(name)
            return None if value is None else bytes.fromhex(str(value))

        fingerprint = bytes.fromhex(str(item["fingerprint"]))
        if len(fingerprint) != 32:
            raise ValueError("fingerprint is not 32 bytes")
        serial = item.get("serial")
        issuer = item.get("issuer")
        not_after = item.get("not_after")
        return cls(
            fingerprint=fingerprint,
            label=str(item.get("label", "")),
            added_at=float(item["added_at"]),
            id_number=optional_hex("id_number"),
            maker_code=optional_hex("maker_code"),
            serial=None if serial is None else int(str(serial), 16),
            issuer=None if issuer is None else str(issuer),
            not_after=None if not_after is None else float(not_after),
        )

    def audit_fields(self) -> dict[str, object]:
        fields: dict[str, object] = {"fingerprint": self.fingerprint.hex(), "label": self.label}
        if self.id_number is not None:
            fields["id_number"] = self.id_number.hex()
        if self.maker_code is not None:
            fields["maker_code"] = self.maker_code.hex()
        if self.serial is not None:
            fields["serial"] = format(self.serial, "x")
        return fields


def _fingerprint(value: bytes | str) -> bytes:
    if isinstance(value, str):
        return credentials.parse_fingerprint(value)
    if len(value) != 32:
        raise SecureUsageError("a fingerprint is 32 bytes (SHA-256)")
    return bytes(value)


class AllowList:
    """The allow-list of one node, backed by a JSON file (see the module documentation)."""

    def __init__(self, path: str | os.PathLike[str], *, audit: AuditLog | None = None) -> None:
        self._path = Path(path)
        self._audit = audit
        self._entries: dict[bytes, AllowEntry] = {}
        self._stamp: store.FileStamp | None = None
        self._crls: list[x509.CertificateRevocationList] = []
        self._crl_files: dict[Path, tuple[tuple[x509.Certificate, ...], store.FileStamp | None]] = {}
        self._generation = 0  # counts accepted changes (entries re-read, CRLs loaded)
        self._load()

    @property
    def path(self) -> Path:
        return self._path

    # ------------------------------------------------------------------------------------------ persistence

    def _load(self) -> None:
        stamp = store.file_stamp(self._path)
        if stamp is None:
            self._entries = {}
            self._stamp = None
            return
        document = store.read_json(self._path)
        try:
            if not isinstance(document, dict) or document.get("version") != _VERSION:
                raise ValueError("unsupported version")
            items = document["entries"]
            if not isinstance(items, list):
                raise ValueError("entries is not a list")
            entries = [AllowEntry.from_document(item) for item in items]
        except (KeyError, TypeError, ValueError) as exc:
            raise StoreError(f"{self._path} is not a valid allow-list ({exc})") from None
        self._entries = {e.fingerprint: e for e in entries}
        self._stamp = stamp
        self._generation += 1

    def refresh(self) -> None:
        """Re-read the file, and the watched CRL files, if another process changed them."""
        if store.file_stamp(self._path) != self._stamp:
            self._load()
        self._refresh_crls()

    def version(self) -> int:
        """Changes whenever the entries or the CRLs in use change (after re-reading what changed on disk)."""
        self.refresh()
        return self._generation

    def crls(self) -> tuple[x509.CertificateRevocationList, ...]:
        """The CRLs in use now (watched files re-read first)."""
        self._refresh_crls()
        return tuple(self._crls)

    def _save(self) -> None:
        document = {"version": _VERSION, "entries": [e.to_document() for e in self._entries.values()]}
        store.write_json(self._path, document)
        self._stamp = store.file_stamp(self._path)

    # ----------------------------------------------------------------------------------------------- queries

    def entries(self) -> tuple[AllowEntry, ...]:
        self.refresh()
        return tuple(self._entries.values())

    def lookup(self, fingerprint: bytes | str) -> AllowEntry | None:
        self.refresh()
        return self._entries.get(_fingerprint(fingerprint))

    def is_allowed(self, fingerprint: bytes | str) -> bool:
        """True if the key is enrolled and its enrolled certificate is not revoked by a loaded CRL."""
        entry = self.lookup(fingerprint)
        return entry is not None and not self._entry_revoked(entry)

    def _entry_revoked(self, entry: AllowEntry) -> bool:
        if entry.serial is None or entry.issuer is None:
            return False
        return any(
            crl.issuer.rfc4514_string() == entry.issuer
            and crl.get_revoked_certificate_by_serial_number(entry.serial) is not None
            for crl in self._crls
        )

    def is_revoked(self, cert: x509.Certificate) -> bool:
        """True if a loaded CRL lists ``cert`` (watched CRL files re-read first)."""
        return any(credentials.is_revoked(crl, cert) for crl in self.crls())

    # ------------------------------------------------------------------------------------------- revocation

    def use_crl(self, crl: x509.CertificateRevocationList, issuer: x509.Certificate) -> None:
        """Load a CRL after checking that ``issuer`` signed it; replaces an earlier CRL of the same issuer, unless
        that one is newer (a higher CRL number): an old CRL must not un-revoke anything."""
        public = issuer.public_key()
        if (
            crl.issuer != issuer.subject
            or not isinstance(public, ec.EllipticCurvePublicKey)
            or not crl.is_signature_valid(public)
        ):
            raise SecureUsageError("the revocation list is not signed by the given CA certificate")
        for loaded in self._crls:
            if loaded.issuer == crl.issuer and _crl_number(loaded) > _crl_number(crl):
                raise SecureUsageError(
                    f"the revocation list (number {_crl_number(crl)}) is older than the one in use "
                    f"(number {_crl_number(loaded)})"
                )
        self._crls = [c for c in self._crls if c.issuer != crl.issuer] + [crl]
        self._generation += 1

    def use_crl_file(self, crl_path: str | os.PathLike[str], issuers: Iterable[x509.Certificate]) -> None:
        """Load a CRL file signed by one of ``issuers``."""
        crl = credentials.load_crl(crl_path)
        for issuer in issuers:
            if issuer.subject == crl.issuer:
                self.use_crl(crl, issuer)
                return
        raise SecureUsageError(f"{crl_path}: no known CA issued this revocation list")

    def watch_crl_file(self, crl_path: str | os.PathLike[str], issuers: Iterable[x509.Certificate]) -> None:
        """Use the CRL in ``crl_path`` (signed by one of ``issuers``) and re-read it whenever it changes, also if it
        does not exist yet. A file that exists now must be valid (raises as :meth:`use_crl_file`)."""
        path = Path(crl_path)
        known = tuple(issuers)
        stamp = store.file_stamp(path)
        if stamp is not None:
            self.use_crl_file(path, known)
        self._crl_files[path] = (known, stamp)

    def _refresh_crls(self) -> None:
        for path, (issuers, stamp) in list(self._crl_files.items()):
            now_stamp = store.file_stamp(path)
            if now_stamp == stamp:
                continue
            self._crl_files[path] = (issuers, now_stamp)
            if now_stamp is None:  # deleted: what was loaded stays in force
                continue
            try:
                self.use_crl_file(path, issuers)
            except (SecureUsageError, StoreError, CertificateError, ValueError) as exc:
                self._record(AuditEvent.CRL_REJECTED, {"file": str(path), "reason": " ".join(str(exc).split())})
                continue
            crl = self._crls[-1]
            self._record(
                AuditEvent.CRL_UPDATED,
                {
                    "file": str(path),
                    "issuer": crl.issuer.rfc4514_string(),
                    "number": _crl_number(crl),
                    "revoked": sum(1 for _ in crl),
                },
            )

    def _record(self, event: AuditEvent, fields: dict[str, object]) -> None:
        if self._audit is None:
            return
        with contextlib.suppress(SecureUsageError, OSError):  # (the log's trouble must not stop a revocation)
            self._audit.append(event, fields, now=time.time())

    # ------------------------------------------------------------------------------------------- changes

    def enrol_certificate(self, cert: x509.Certificate, *, now: float, label: str = "") -> AllowEntry:
        """Pin the certificate's public key (recording its bound identity, serial and issuer)."""
        if self.is_revoked(cert):
            raise SecureUsageError("that certificate is revoked")
        try:
            identity: credentials.EchonetIdentity | None = credentials.bound_identity(cert)
        except CertificateError:
            identity = None
        entry = AllowEntry(
            fingerprint=credentials.spki_sha256(cert),
            label=label,
            added_at=now,
            id_number=None if identity is None else identity.id_number,
            maker_code=None if identity is None else identity.maker_code,
            serial=cert.serial_number,
            issuer=cert.issuer.rfc4514_string(),
            not_after=cert.not_valid_after_utc.timestamp(),
        )
        return self._add(entry, now)

    def enrol_fingerprint(self, fingerprint: bytes | str, *, now: float, label: str = "") -> AllowEntry:
        """Pin a key given only by its SPKI SHA-256 fingerprint (e.g. read out from the device's label)."""
        return self._add(AllowEntry(fingerprint=_fingerprint(fingerprint), label=label, added_at=now), now)

    def _add(self, entry: AllowEntry, now: float) -> AllowEntry:
        with store.locked(self._path):
            self._load()
            existing = self._entries.get(entry.fingerprint)
            if existing is not None:
                return existing
            self._entries[entry.fingerprint] = entry
            self._save()
        if self._audit is not None:
            self._audit.append(AuditEvent.ALLOWLIST_ADDED, entry.audit_fields(), now=now)
        return entry

    def remove(self, fingerprint: bytes | str, *, now: float) -> AllowEntry:
        """Unpin a key; effective at once. Raises :class:`SecureUsageError` if it is not enrolled."""
        key = _fingerprint(fingerprint)
        with store.locked(self._path):
            self._load()
            entry = self._entries.pop(key, None)
            if entry is None:
                raise SecureUsageError(f"fingerprint {credentials.format_fingerprint(key)} is not on the allow-list")
            self._save()
        if self._audit is not None:
            self._audit.append(AuditEvent.ALLOWLIST_REMOVED, entry.audit_fields(), now=now)
        return entry


def _crl_number(crl: x509.CertificateRevocationList) -> int:
    try:
        return int(crl.extensions.get_extension_for_class(x509.CRLNumber).value.crl_number)
    except x509.ExtensionNotFound:
        return -1
