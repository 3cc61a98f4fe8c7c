"""Allow-list: explicit enrolment by certificate or fingerprint, removal effective at once, CRL revocation."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest
from cryptography import x509

from secure import audit
from secure.errors import SecureUsageError, StoreError
from secure.trust import credentials as cred
from secure.trust.allowlist import AllowList

T0 = 1_800_000_000.0
MAKER = bytes.fromhex("00007b")


class Ca:
    def __init__(self) -> None:
        self.root_key, self.root = cred.create_root_ca(common_name="Root", now=T0, maker_code=MAKER)
        self.key, self.cert = cred.create_device_ca(
            root_key=self.root_key, root_cert=self.root, common_name="Device CA", now=T0
        )

    def issue(self, last: int) -> x509.Certificate:
        identity = cred.EchonetIdentity(b"\xfe" + MAKER + bytes(12) + bytes([last]), MAKER)
        return cred.issue_certificate(
            ca_key=self.key,
            ca_cert=self.cert,
            public_key=cred.generate_private_key().public_key(),
            identity=identity,
            role=cred.Role.DEVICE,
            now=T0,
        )

    def crl(self, *revoked: x509.Certificate) -> x509.CertificateRevocationList:
        return cred.issue_crl(
            ca_key=self.key,
            ca_cert=self.cert,
            revoked=[cred.RevokedEntry(c.serial_number, T0) for c in revoked],
            now=T0,
            number=1,
        )


@pytest.fixture(scope="module")
def ca() -> Ca:
    return Ca()


def test_enrolled_certificate_key_is_allowed_and_others_are_not(tmp_path: Path, ca: Ca) -> None:
    allow = AllowList(tmp_path / "allowlist.json")
    device, stranger = ca.issue(1), ca.issue(2)
    entry = allow.enrol_certificate(device, now=T0, label="water heater")
    assert entry.fingerprint == cred.spki_sha256(device)
    assert entry.id_number == b"\xfe" + MAKER + bytes(12) + b"\x01"
    assert entry.serial == device.serial_number
    assert allow.is_allowed(cred.spki_sha256(device))
    assert not allow.is_allowed(cred.spki_sha256(stranger))


def test_enrol_by_fingerprint_string_in_either_display_style(tmp_path: Path, ca: Ca) -> None:
    allow = AllowList(tmp_path / "allowlist.json")
    first, second = cred.spki_sha256(ca.issue(3)), cred.spki_sha256(ca.issue(4))
    allow.enrol_fingerprint(cred.format_fingerprint(first, "groups"), now=T0)
    allow.enrol_fingerprint(cred.format_fingerprint(second, "colon").upper(), now=T0)
    assert allow.is_allowed(first) and allow.is_allowed(cred.format_fingerprint(second))


def test_bad_fingerprint_string_is_refused(tmp_path: Path) -> None:
    allow = AllowList(tmp_path / "allowlist.json")
    with pytest.raises(SecureUsageError):
        allow.enrol_fingerprint("12:34", now=T0)
    with pytest.raises(SecureUsageError):
        allow.is_allowed(b"short")


def test_removal_takes_effect_at_once(tmp_path: Path, ca: Ca) -> None:
    allow = AllowList(tmp_path / "allowlist.json")
    device = ca.issue(5)
    allow.enrol_certificate(device, now=T0)
    allow.remove(cred.spki_sha256(device), now=T0 + 1)
    assert not allow.is_allowed(cred.spki_sha256(device))
    with pytest.raises(SecureUsageError, match="not on the allow-list"):
        allow.remove(cred.spki_sha256(device), now=T0 + 2)


def test_removal_by_another_process_is_seen_by_a_running_node_at_the_next_lookup(tmp_path: Path, ca: Ca) -> None:
    path = tmp_path / "node" / "allowlist.json"
    running_node = AllowList(path)
    device = ca.issue(6)
    running_node.enrol_certificate(device, now=T0)
    assert running_node.is_allowed(cred.spki_sha256(device))
    AllowList(path).remove(cred.spki_sha256(device), now=T0 + 1)  # e.g. the CLI
    assert not running_node.is_allowed(cred.spki_sha256(device))


def test_allowlist_persists_as_private_json(tmp_path: Path, ca: Ca) -> None:
    path = tmp_path / "node" / "allowlist.json"
    device = ca.issue(7)
    AllowList(path).enrol_certificate(device, now=T0, label="battery")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    document = json.loads(path.read_text())
    assert document["version"] == 1
    assert document["entries"][0]["fingerprint"] == cred.spki_sha256(device).hex()
    reloaded = AllowList(path)
    (entry,) = reloaded.entries()
    assert entry.label == "battery" and entry.serial == device.serial_number
    assert entry.issuer == ca.cert.subject.rfc4514_string()


def test_enrolling_twice_keeps_one_entry(tmp_path: Path, ca: Ca) -> None:
    allow = AllowList(tmp_path / "allowlist.json")
    device = ca.issue(8)
    first = allow.enrol_certificate(device, now=T0, label="a")
    second = allow.enrol_certificate(device, now=T0 + 5, label="b")
    assert first == second and len(allow.entries()) == 1


def test_revoked_certificate_is_not_allowed_once_the_crl_is_loaded(tmp_path: Path, ca: Ca) -> None:
    allow = AllowList(tmp_path / "allowlist.json")
    device, other = ca.issue(9), ca.issue(10)
    allow.enrol_certificate(device, now=T0)
    allow.enrol_certificate(other, now=T0)
    allow.use_crl(ca.crl(device), ca.cert)
    assert allow.is_revoked(device) and not allow.is_revoked(other)
    assert not allow.is_allowed(cred.spki_sha256(device))
    assert allow.is_allowed(cred.spki_sha256(other))
    with pytest.raises(SecureUsageError, match="revoked"):
        allow.enrol_certificate(device, now=T0)


def test_crl_file_from_an_unknown_issuer_is_refused(tmp_path: Path, ca: Ca) -> None:
    other_ca = Ca()
    crl_path = tmp_path / "crl.pem"
    cred.save_crl(crl_path, other_ca.crl())
    allow = AllowList(tmp_path / "allowlist.json")
    with pytest.raises(SecureUsageError):
        allow.use_crl(cred.load_crl(crl_path), ca.cert)
    with pytest.raises(SecureUsageError, match="no known CA"):
        allow.use_crl_file(crl_path, [ca.root])


def test_crl_with_forged_signature_is_refused(tmp_path: Path, ca: Ca) -> None:
    forged_key, forged = cred.create_root_ca(common_name="Device CA", now=T0)
    assert forged.subject == ca.cert.subject
    crl = cred.issue_crl(ca_key=forged_key, ca_cert=forged, revoked=[], now=T0, number=1)
    allow = AllowList(tmp_path / "allowlist.json")
    with pytest.raises(SecureUsageError, match="not signed"):
        allow.use_crl(crl, ca.cert)


def test_changes_are_audited_without_secrets(tmp_path: Path, ca: Ca) -> None:
    log_path = tmp_path / "audit.jsonl"
    device = ca.issue(11)
    with audit.AuditLog(log_path) as log:
        allow = AllowList(tmp_path / "allowlist.json", audit=log)
        allow.enrol_certificate(device, now=T0, label="heater")
        allow.remove(cred.spki_sha256(device), now=T0 + 1)
    records = [json.loads(line) for line in log_path.read_text().splitlines()]
    assert [r["event"] for r in records] == ["allowlist_added", "allowlist_removed"]
    assert records[0]["fields"]["fingerprint"] == cred.spki_sha256(device).hex()
    assert audit.verify(log_path).ok


def test_corrupt_allowlist_file_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "allowlist.json"
    path.write_text('{"version": 1, "entries": [{"fingerprint": "zz"}]}')
    with pytest.raises(StoreError, match="not a valid allow-list"):
        AllowList(path)
