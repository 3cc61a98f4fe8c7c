"""Certificates: P-256 chain validation (validity, CA rules, path length, CRL), identity binding, fingerprints."""

from __future__ import annotations

import datetime as dt
import hashlib
import stat
from dataclasses import dataclass
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from secure import store
from secure.errors import CertificateError, InsecurePermissionsError, ProtocolError, SecureUsageError
from secure.trust import credentials as cred

T0 = 1_800_000_000.0
DAY = 86400.0
MAKER = bytes.fromhex("00007b")
ID = bytes.fromhex("fe00007b0102030405060708090a0b0c0d")


@dataclass
class Pki:
    root_key: ec.EllipticCurvePrivateKey
    root: x509.Certificate
    ca_key: ec.EllipticCurvePrivateKey
    ca: x509.Certificate
    leaf_key: ec.EllipticCurvePrivateKey
    leaf: x509.Certificate


def make_pki(*, root_path_length: int | None = 1, leaf_days: int = 365) -> Pki:
    root_key, root = cred.create_root_ca(
        common_name="Acme Root", now=T0, maker_code=MAKER, path_length=root_path_length
    )
    ca_key, ca = cred.create_device_ca(root_key=root_key, root_cert=root, common_name="Acme Device CA", now=T0)
    leaf_key = cred.generate_private_key()
    leaf = cred.issue_certificate(
        ca_key=ca_key,
        ca_cert=ca,
        public_key=leaf_key.public_key(),
        identity=cred.EchonetIdentity(ID, MAKER),
        role=cred.Role.DEVICE,
        now=T0,
        days=leaf_days,
    )
    return Pki(root_key, root, ca_key, ca, leaf_key, leaf)


@pytest.fixture(scope="module")
def pki() -> Pki:
    return make_pki()


def verify(pki: Pki, now: float = T0 + DAY, **kwargs: object) -> cred.VerifiedPeer:
    return cred.verify_chain(pki.leaf, roots=[pki.root], intermediates=[pki.ca], now=now, **kwargs)  # type: ignore[arg-type]


def reason_of(excinfo: pytest.ExceptionInfo[CertificateError]) -> str:
    return excinfo.value.reason


# ------------------------------------------------------------------------------------------- good chain


def test_good_chain_validates_and_yields_bound_identity_and_fingerprint(pki: Pki) -> None:
    peer = verify(pki)
    assert peer.identity == cred.EchonetIdentity(ID, MAKER)
    assert peer.role is cred.Role.DEVICE
    assert peer.serial == pki.leaf.serial_number
    assert peer.fingerprint == cred.spki_sha256(pki.leaf_key.public_key())


def test_validity_bounds_are_inclusive(pki: Pki) -> None:
    verify(pki, now=T0)
    verify(pki, now=pki.leaf.not_valid_after_utc.timestamp())


def test_controller_certificate_validates_with_controller_role(pki: Pki) -> None:
    key = cred.generate_private_key()
    ident = cred.EchonetIdentity(bytes.fromhex("fe00007b") + bytes(12) + b"\x01", MAKER)
    cert = cred.issue_certificate(
        ca_key=pki.ca_key,
        ca_cert=pki.ca,
        public_key=key.public_key(),
        identity=ident,
        role=cred.Role.CONTROLLER,
        now=T0,
    )
    peer = cred.verify_chain(cert, roots=[pki.root], intermediates=[pki.ca], now=T0, role=cred.Role.CONTROLLER)
    assert peer.role is cred.Role.CONTROLLER and peer.identity == ident


# -------------------------------------------------------------------------------------------- rejections


def test_expired_leaf_is_rejected(pki: Pki) -> None:
    with pytest.raises(CertificateError) as excinfo:
        verify(pki, now=pki.leaf.not_valid_after_utc.timestamp() + 1)
    assert reason_of(excinfo) == "expired"


def test_not_yet_valid_leaf_is_rejected(pki: Pki) -> None:
    with pytest.raises(CertificateError) as excinfo:
        verify(pki, now=T0 - 1)
    assert reason_of(excinfo) == "not_yet_valid"


def test_expired_device_ca_is_rejected() -> None:
    root_key, root = cred.create_root_ca(common_name="R", now=T0)
    ca_key, ca = cred.create_device_ca(root_key=root_key, root_cert=root, common_name="D", now=T0, days=10)
    key = cred.generate_private_key()
    leaf = cred.issue_certificate(
        ca_key=ca_key,
        ca_cert=ca,
        public_key=key.public_key(),
        identity=cred.EchonetIdentity(ID, MAKER),
        role=cred.Role.DEVICE,
        now=T0,
        days=365,
    )
    with pytest.raises(CertificateError) as excinfo:
        cred.verify_chain(leaf, roots=[root], intermediates=[ca], now=T0 + 11 * DAY)
    assert reason_of(excinfo) == "expired"
    assert "CA" in str(excinfo.value)


def test_chain_to_a_different_root_is_rejected(pki: Pki) -> None:
    other = make_pki()
    with pytest.raises(CertificateError) as excinfo:
        cred.verify_chain(pki.leaf, roots=[other.root], intermediates=[pki.ca], now=T0 + DAY)
    assert reason_of(excinfo) == "untrusted_root"


def test_impostor_root_with_the_same_name_is_rejected(pki: Pki) -> None:
    _key, impostor = cred.create_root_ca(common_name="Acme Root", now=T0, maker_code=MAKER)
    assert impostor.subject == pki.root.subject
    with pytest.raises(CertificateError) as excinfo:
        cred.verify_chain(pki.leaf, roots=[impostor], intermediates=[pki.ca], now=T0 + DAY)
    assert reason_of(excinfo) == "untrusted_root"


def test_missing_intermediate_is_rejected(pki: Pki) -> None:
    with pytest.raises(CertificateError) as excinfo:
        cred.verify_chain(pki.leaf, roots=[pki.root], now=T0 + DAY)
    assert reason_of(excinfo) == "untrusted_root"


def _sign_child_with_leaf(pki: Pki) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    """A certificate 'issued' by the device's leaf key: what a stolen device key could try."""
    key = cred.generate_private_key()
    ident = cred.EchonetIdentity(bytes.fromhex("fe00007b") + b"\xee" * 13, MAKER)
    builder = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "forged")]))
        .issuer_name(pki.leaf.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(dt.datetime.fromtimestamp(T0, tz=dt.UTC))
        .not_valid_after(dt.datetime.fromtimestamp(T0 + 30 * DAY, tz=dt.UTC))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.KeyUsage(True, False, False, False, False, False, False, False, False), critical=True)
        .add_extension(x509.SubjectAlternativeName([x509.UniformResourceIdentifier(ident.uri)]), critical=False)
        .add_extension(
            x509.UnrecognizedExtension(cred.ECHONET_BINDING_OID, cred._encode_binding(MAKER, ident.id_number)),
            critical=False,
        )
    )
    return builder.sign(pki.leaf_key, hashes.SHA256()), key


def test_leaf_used_as_a_ca_is_rejected(pki: Pki) -> None:
    forged, _key = _sign_child_with_leaf(pki)
    with pytest.raises(CertificateError) as excinfo:
        cred.verify_chain(forged, roots=[pki.root], intermediates=[pki.leaf, pki.ca], now=T0 + DAY)
    assert reason_of(excinfo) == "not_a_ca"


def test_issuing_api_refuses_a_leaf_as_issuer(pki: Pki) -> None:
    with pytest.raises(SecureUsageError, match="not a CA"):
        cred.issue_certificate(
            ca_key=pki.leaf_key,
            ca_cert=pki.leaf,
            public_key=cred.generate_private_key().public_key(),
            identity=cred.EchonetIdentity(ID, MAKER),
            role=cred.Role.DEVICE,
            now=T0,
        )


def test_ca_certificate_presented_as_leaf_is_rejected(pki: Pki) -> None:
    with pytest.raises(CertificateError) as excinfo:
        cred.verify_chain(pki.ca, roots=[pki.root], now=T0 + DAY)
    assert reason_of(excinfo) == "leaf_is_ca"


def test_path_length_constraint_of_the_root_is_enforced() -> None:
    tight = make_pki(root_path_length=0)
    with pytest.raises(CertificateError) as excinfo:
        cred.verify_chain(tight.leaf, roots=[tight.root], intermediates=[tight.ca], now=T0 + DAY)
    assert reason_of(excinfo) == "path_length"


def test_revoked_leaf_is_rejected_by_the_device_ca_crl(pki: Pki) -> None:
    crl = cred.issue_crl(
        ca_key=pki.ca_key,
        ca_cert=pki.ca,
        revoked=[cred.RevokedEntry(pki.leaf.serial_number, T0 + DAY)],
        now=T0 + DAY,
        number=1,
    )
    assert cred.is_revoked(crl, pki.leaf)
    with pytest.raises(CertificateError) as excinfo:
        verify(pki, now=T0 + 2 * DAY, crls=[crl])
    assert reason_of(excinfo) == "revoked"


def test_crl_not_listing_the_leaf_accepts_it(pki: Pki) -> None:
    crl = cred.issue_crl(ca_key=pki.ca_key, ca_cert=pki.ca, revoked=[cred.RevokedEntry(12345, T0)], now=T0, number=1)
    assert not cred.is_revoked(crl, pki.leaf)
    verify(pki, now=T0 + DAY, crls=[crl], require_crl=True)


def test_crl_signed_by_another_key_is_rejected(pki: Pki) -> None:
    forged_ca_key, forged_ca = cred.create_root_ca(common_name="Acme Device CA", now=T0, organization=None)
    assert forged_ca.subject == pki.ca.subject
    crl = cred.issue_crl(ca_key=forged_ca_key, ca_cert=forged_ca, revoked=[], now=T0, number=1)
    with pytest.raises(CertificateError) as excinfo:
        verify(pki, now=T0 + DAY, crls=[crl])
    assert reason_of(excinfo) == "crl_bad_signature"


def test_stale_crl_fails_closed(pki: Pki) -> None:
    crl = cred.issue_crl(ca_key=pki.ca_key, ca_cert=pki.ca, revoked=[], now=T0, number=1, valid_for=DAY)
    verify(pki, now=T0 + DAY, crls=[crl])
    with pytest.raises(CertificateError) as excinfo:
        verify(pki, now=T0 + DAY + 1, crls=[crl])
    assert reason_of(excinfo) == "crl_stale"


def test_required_crl_missing_is_rejected(pki: Pki) -> None:
    with pytest.raises(CertificateError) as excinfo:
        verify(pki, require_crl=True)
    assert reason_of(excinfo) == "crl_missing"


def test_wrong_role_is_rejected(pki: Pki) -> None:
    with pytest.raises(CertificateError) as excinfo:
        verify(pki, role=cred.Role.CONTROLLER)
    assert reason_of(excinfo) == "wrong_role"


def test_ca_constrained_to_a_maker_rejects_leaves_of_another_maker(pki: Pki) -> None:
    other_maker = bytes.fromhex("000005")
    with pytest.raises(SecureUsageError, match="manufacturer code"):
        cred.issue_certificate(
            ca_key=pki.ca_key,
            ca_cert=pki.ca,
            public_key=cred.generate_private_key().public_key(),
            identity=cred.EchonetIdentity(b"\xfe" + other_maker + bytes(13), other_maker),
            role=cred.Role.DEVICE,
            now=T0,
        )


def test_non_p256_leaf_is_rejected(pki: Pki) -> None:
    key = ec.generate_private_key(ec.SECP384R1())
    with pytest.raises(SecureUsageError, match="P-256"):
        cred.issue_certificate(
            ca_key=pki.ca_key,
            ca_cert=pki.ca,
            public_key=key.public_key(),
            identity=cred.EchonetIdentity(ID, MAKER),
            role=cred.Role.DEVICE,
            now=T0,
        )
    # Built by hand, bypassing the issuing API: still refused by validation.
    builder = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "p384")]))
        .issuer_name(pki.ca.subject)
        .public_key(key.public_key())
        .serial_number(1)
        .not_valid_before(dt.datetime.fromtimestamp(T0, tz=dt.UTC))
        .not_valid_after(dt.datetime.fromtimestamp(T0 + DAY * 30, tz=dt.UTC))
    )
    cert = builder.sign(pki.ca_key, hashes.SHA256())
    with pytest.raises(CertificateError) as excinfo:
        cred.verify_chain(cert, roots=[pki.root], intermediates=[pki.ca], now=T0 + DAY)
    assert reason_of(excinfo) == "bad_key"


def test_unknown_critical_extension_is_rejected(pki: Pki) -> None:
    key = cred.generate_private_key()
    ident = cred.EchonetIdentity(ID, MAKER)
    builder = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "odd")]))
        .issuer_name(pki.ca.subject)
        .public_key(key.public_key())
        .serial_number(2)
        .not_valid_before(dt.datetime.fromtimestamp(T0, tz=dt.UTC))
        .not_valid_after(dt.datetime.fromtimestamp(T0 + DAY * 30, tz=dt.UTC))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.SubjectAlternativeName([x509.UniformResourceIdentifier(ident.uri)]), critical=False)
        .add_extension(
            x509.UnrecognizedExtension(x509.ObjectIdentifier("1.3.6.1.4.1.99999.1"), b"\x05\x00"), critical=True
        )
    )
    cert = builder.sign(pki.ca_key, hashes.SHA256())
    with pytest.raises(CertificateError) as excinfo:
        cred.verify_chain(cert, roots=[pki.root], intermediates=[pki.ca], now=T0 + DAY)
    assert reason_of(excinfo) == "unknown_critical_extension"


def test_certificate_errors_are_protocol_errors() -> None:
    assert issubclass(CertificateError, ProtocolError)


# --------------------------------------------------------------------------------------------- binding


def test_bound_id_and_maker_round_trip_through_pem_files(tmp_path: Path, pki: Pki) -> None:
    path = tmp_path / "device.cert.pem"
    cred.save_certificates(path, pki.leaf, pki.ca)
    loaded = cred.load_certificates(path)
    assert [c.serial_number for c in loaded] == [pki.leaf.serial_number, pki.ca.serial_number]
    identity = cred.bound_identity(loaded[0])
    assert identity.id_number == ID
    assert identity.maker_code == MAKER
    assert identity.uri == "urn:echonet:id:fe00007b0102030405060708090a0b0c0d"


def test_binding_is_in_both_san_uri_and_private_extension(pki: Pki) -> None:
    san = pki.leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.UniformResourceIdentifier) == [cred.URN_PREFIX + ID.hex()]
    ext = pki.leaf.extensions.get_extension_for_oid(cred.ECHONET_BINDING_OID)
    assert not ext.critical
    assert isinstance(ext.value, x509.UnrecognizedExtension)
    # SEQUENCE { INTEGER 1, OCTET STRING maker, OCTET STRING id }
    assert ext.value.value == bytes([0x30, 3 + 5 + 19, 2, 1, 1, 4, 3]) + MAKER + bytes([4, 17]) + ID


def _leaf_with(pki: Pki, uri: str | None, binding: bytes | None) -> x509.Certificate:
    key = cred.generate_private_key()
    builder = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "x")]))
        .issuer_name(pki.ca.subject)
        .public_key(key.public_key())
        .serial_number(3)
        .not_valid_before(dt.datetime.fromtimestamp(T0, tz=dt.UTC))
        .not_valid_after(dt.datetime.fromtimestamp(T0 + DAY, tz=dt.UTC))
    )
    if uri is not None:
        builder = builder.add_extension(
            x509.SubjectAlternativeName([x509.UniformResourceIdentifier(uri)]), critical=False
        )
    if binding is not None:
        builder = builder.add_extension(x509.UnrecognizedExtension(cred.ECHONET_BINDING_OID, binding), critical=False)
    return builder.sign(pki.ca_key, hashes.SHA256())


def test_certificate_without_binding_is_rejected(pki: Pki) -> None:
    with pytest.raises(CertificateError) as excinfo:
        cred.bound_identity(_leaf_with(pki, None, None))
    assert reason_of(excinfo) == "binding"


def test_san_and_extension_that_disagree_are_rejected(pki: Pki) -> None:
    other = bytes.fromhex("fe00007b") + b"\x99" * 13
    cert = _leaf_with(pki, cred.URN_PREFIX + other.hex(), cred._encode_binding(MAKER, ID))
    with pytest.raises(CertificateError, match="disagree"):
        cred.bound_identity(cert)


def test_extension_with_maker_not_matching_id_is_rejected(pki: Pki) -> None:
    cert = _leaf_with(pki, cred.URN_PREFIX + ID.hex(), cred._encode_binding(bytes.fromhex("000005"), ID))
    with pytest.raises(CertificateError) as excinfo:
        cred.bound_identity(cert)
    assert reason_of(excinfo) == "binding"


@pytest.mark.parametrize(
    "value",
    [
        b"",
        b"\x30\x00",
        b"\x30\x05\x02\x01\x02\x04\x00",
        b"\x30\x07\x02\x01\x01\x04\x02\x00\x7b",
        b"\x30\x0a\x02\x01\x01\x04\x03\x00\x00\x7b\x04\x01",
        bytes([0x30, 0x1B, 2, 1, 1, 4, 3]) + MAKER + bytes([4, 17]) + ID + b"\x00",
    ],
)
def test_malformed_binding_extension_is_rejected(value: bytes) -> None:
    with pytest.raises(CertificateError):
        cred._decode_binding(value)


@pytest.mark.parametrize(
    ("id_hex", "maker_hex"),
    [
        ("fe00007b0102030405060708090a0b0c", "00007b"),
        ("fe00007b0102030405060708090a0b0c0d0e", "00007b"),
        ("0000007b0102030405060708090a0b0c0d", "00007b"),
        ("fe00007b0102030405060708090a0b0c0d", "000005"),
        ("fe00007b0102030405060708090a0b0c0g", "00007b"),
        ("fe00007b0102030405060708090a0b0c0d", "007b"),
    ],
)
def test_identity_rejects_malformed_id_or_maker(id_hex: str, maker_hex: str) -> None:
    with pytest.raises(SecureUsageError):
        cred.EchonetIdentity.from_hex(id_hex, maker_hex)


def test_identity_parses_separators_and_defaults_maker_from_id() -> None:
    ident = cred.EchonetIdentity.from_hex("0xFE:00:00:7B:01:02:03:04:05:06:07:08:09:0A:0B:0C:0D")
    assert ident == cred.EchonetIdentity(ID, MAKER)


def test_cross_check_against_node_profile(pki: Pki) -> None:
    identity = cred.bound_identity(pki.leaf)
    cred.cross_check_node_profile(identity, ID, MAKER)
    with pytest.raises(CertificateError) as excinfo:
        cred.cross_check_node_profile(identity, ID[:-1] + b"\x00", MAKER)
    assert reason_of(excinfo) == "binding_mismatch"
    with pytest.raises(CertificateError):
        cred.cross_check_node_profile(identity, ID, bytes.fromhex("000005"))


# ------------------------------------------------------------------------------------------ fingerprints


def test_fingerprint_is_sha256_of_der_spki(pki: Pki) -> None:
    der = pki.leaf.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    assert cred.spki_sha256(pki.leaf) == hashlib.sha256(der).digest()
    assert cred.spki_sha256(pki.leaf_key.public_key()) == hashlib.sha256(der).digest()


def test_fingerprint_display_styles_parse_back() -> None:
    fp = bytes(range(32))
    colon = cred.format_fingerprint(fp)
    groups = cred.format_fingerprint(fp, "groups")
    assert colon.startswith("00:01:02:03:") and len(colon) == 32 * 3 - 1
    assert groups.startswith("0001 0203 ") and len(groups.split()) == 16
    for text in (colon, groups, colon.upper(), "sha256:" + fp.hex(), fp.hex()):
        assert cred.parse_fingerprint(text) == fp


@pytest.mark.parametrize("text", ["", "abcd", "zz" * 32, "00" * 31, "00" * 33])
def test_bad_fingerprint_strings_are_refused(text: str) -> None:
    with pytest.raises(SecureUsageError):
        cred.parse_fingerprint(text)


# ---------------------------------------------------------------------------------------------- key files


def test_private_key_is_written_0600_and_loaded(tmp_path: Path) -> None:
    key = cred.generate_private_key()
    path = tmp_path / "keys" / "node.key.pem"
    cred.save_private_key(path, key)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert cred.spki_sha256(cred.load_private_key(path).public_key()) == cred.spki_sha256(key.public_key())


def test_group_readable_private_key_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "node.key.pem"
    cred.save_private_key(path, cred.generate_private_key())
    path.chmod(0o640)
    with pytest.raises(InsecurePermissionsError):
        cred.load_private_key(path)


def test_encrypted_private_key_needs_its_password(tmp_path: Path) -> None:
    path = tmp_path / "node.key.pem"
    cred.save_private_key(path, cred.generate_private_key(), password=b"correct horse")
    cred.load_private_key(path, password=b"correct horse")
    with pytest.raises(SecureUsageError):
        cred.load_private_key(path)


def test_non_p256_private_key_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "p384.pem"
    key = ec.generate_private_key(ec.SECP384R1())
    store.atomic_write(
        path,
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()),
    )
    with pytest.raises(SecureUsageError, match="P-256"):
        cred.load_private_key(path)


def test_garbage_certificate_file_is_a_usage_error(tmp_path: Path) -> None:
    path = tmp_path / "junk.pem"
    path.write_bytes(b"not a certificate")
    with pytest.raises(SecureUsageError):
        cred.load_certificate(path)


# ------------------------------------------------------------------------------------------ CA directory


def test_ca_directory_issue_revoke_and_publish_crl(tmp_path: Path) -> None:
    ca_dir = tmp_path / "ca"
    paths = cred.init_ca_directory(ca_dir, organization="Acme", maker_code=MAKER, now=T0)
    assert stat.S_IMODE(ca_dir.stat().st_mode) == 0o700
    for f in ca_dir.iterdir():
        assert stat.S_IMODE(f.stat().st_mode) == 0o600, f
    ca_key, ca_cert, root = cred.load_ca(ca_dir)
    key = cred.generate_private_key()
    leaf = cred.issue_certificate(
        ca_key=ca_key,
        ca_cert=ca_cert,
        public_key=key.public_key(),
        identity=cred.EchonetIdentity(ID, MAKER),
        role=cred.Role.DEVICE,
        now=T0,
    )
    cred.revoke_certificate(ca_dir, leaf, now=T0 + DAY, reason=x509.ReasonFlags.key_compromise)
    with pytest.raises(SecureUsageError, match="already revoked"):
        cred.revoke_certificate(ca_dir, leaf, now=T0 + DAY)
    crl = cred.publish_crl(ca_dir, now=T0 + DAY)
    assert cred.load_crl(paths.crl).public_bytes(serialization.Encoding.DER) == crl.public_bytes(
        serialization.Encoding.DER
    )
    assert crl.extensions.get_extension_for_class(x509.CRLNumber).value.crl_number == 1
    assert (
        cred.publish_crl(ca_dir, now=T0 + DAY).extensions.get_extension_for_class(x509.CRLNumber).value.crl_number == 2
    )
    revoked = crl.get_revoked_certificate_by_serial_number(leaf.serial_number)
    assert revoked is not None
    assert revoked.extensions.get_extension_for_class(x509.CRLReason).value.reason is x509.ReasonFlags.key_compromise
    with pytest.raises(CertificateError) as excinfo:
        cred.verify_chain(leaf, roots=[root], intermediates=[ca_cert], now=T0 + 2 * DAY, crls=[crl])
    assert reason_of(excinfo) == "revoked"


def test_init_ca_refuses_to_overwrite_an_existing_ca(tmp_path: Path) -> None:
    cred.init_ca_directory(tmp_path / "ca", organization="Acme", maker_code=MAKER, now=T0)
    with pytest.raises(SecureUsageError, match="already exists"):
        cred.init_ca_directory(tmp_path / "ca", organization="Acme", maker_code=MAKER, now=T0)


def test_revoking_a_foreign_certificate_is_refused(tmp_path: Path, pki: Pki) -> None:
    cred.init_ca_directory(tmp_path / "ca", organization="Acme", maker_code=MAKER, now=T0)
    with pytest.raises(SecureUsageError, match="not issued by this device CA"):
        cred.revoke_certificate(tmp_path / "ca", pki.leaf, now=T0)
