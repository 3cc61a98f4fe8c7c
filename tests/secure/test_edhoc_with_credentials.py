"""EDHOC method 0 with the overlay's own X.509 credentials: chain validation plugged in as ``verify_peer``."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from secure.errors import EdhocError
from secure.handshake.cose import Credential, LocalCredential, lookup_in
from secure.handshake.edhoc import CredentialTransfer, Initiator, Responder
from secure.handshake.messages import Method
from secure.handshake.suites import PublicKey
from secure.trust import credentials as cred

T0 = 1_800_000_000.0
DAY = 86400.0
MAKER = bytes.fromhex("00007b")
DEVICE_ID = bytes.fromhex("fe00007b0102030405060708090a0b0c0d")
CONTROLLER_ID = bytes.fromhex("fe00007b0d0c0b0a090807060504030201")


def _der(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.DER)


class Site:
    def __init__(self) -> None:
        self.root_key, self.root = cred.create_root_ca(common_name="Acme Root", now=T0, maker_code=MAKER)
        self.ca_key, self.ca = cred.create_device_ca(
            root_key=self.root_key, root_cert=self.root, common_name="Acme Device CA", now=T0
        )

    def leaf(self, id_number: bytes, role: cred.Role) -> LocalCredential:
        key = cred.generate_private_key()
        cert = cred.issue_certificate(
            ca_key=self.ca_key,
            ca_cert=self.ca,
            public_key=key.public_key(),
            identity=cred.EchonetIdentity(id_number, MAKER),
            role=role,
            now=T0,
        )
        return LocalCredential(Credential.from_x509(_der(cert), chain=[_der(self.ca)]), key)

    def verifier(
        self, role: cred.Role, now: float = T0 + DAY, seen: list[cred.VerifiedPeer] | None = None
    ) -> Callable[[Credential], PublicKey | None]:
        def verify_peer(peer: Credential) -> PublicKey | None:
            leaf = x509.load_der_x509_certificate(peer.value)
            intermediates = [x509.load_der_x509_certificate(der) for der in peer.chain] or [self.ca]
            verified = cred.verify_chain(leaf, roots=[self.root], intermediates=intermediates, now=now, role=role)
            if seen is not None:
                seen.append(verified)
            key = leaf.public_key()
            return key if isinstance(key, ec.EllipticCurvePublicKey) else None

        return verify_peer


@pytest.fixture(scope="module")
def site() -> Site:
    return Site()


def test_controller_and_device_authenticate_with_chain_validated_certificates(site: Site) -> None:
    device = site.leaf(DEVICE_ID, cred.Role.DEVICE)
    controller = site.leaf(CONTROLLER_ID, cred.Role.CONTROLLER)
    seen: list[cred.VerifiedPeer] = []
    initiator = Initiator(
        method=Method.SIG_SIG,
        credential=controller,
        send_credential=CredentialTransfer.BY_VALUE,
        verify_peer=site.verifier(cred.Role.DEVICE, seen=seen),
    )
    responder = Responder(
        methods=[Method.SIG_SIG],
        credential=device,
        send_credential=CredentialTransfer.BY_VALUE,
        verify_peer=site.verifier(cred.Role.CONTROLLER),
    )
    responder.process_message_1(initiator.create_message_1())
    info2 = initiator.process_message_2(responder.create_message_2())
    assert info2.peer_credential.chain == (_der(site.ca),)
    responder.process_message_3(initiator.create_message_3())
    assert initiator.result.prk_out == responder.result.prk_out
    # The controller cross-checks the identity bound in the certificate (EPC 0x83/0x8A) after the handshake.
    [verified] = seen
    assert verified.identity.id_number == DEVICE_ID and verified.role is cred.Role.DEVICE

    # Next time: by x5t, resolved from the certificates remembered after the first contact.
    again_i = Initiator(
        method=0,
        credential=controller,
        verify_peer=site.verifier(cred.Role.DEVICE),
        lookup_peer=lookup_in([info2.peer_credential]),
    )
    again_r = Responder(
        methods=[0],
        credential=device,
        verify_peer=site.verifier(cred.Role.CONTROLLER),
        lookup_peer=lookup_in([responder.result.peer_credential]),
    )
    again_r.process_message_1(again_i.create_message_1())
    assert again_i.process_message_2(again_r.create_message_2()).id_cred_r.x5t is not None
    again_r.process_message_3(again_i.create_message_3())
    assert again_i.result.oscore_parameters().master_secret == again_r.result.oscore_parameters().master_secret


def test_peer_certificate_with_the_wrong_role_or_expired_is_rejected_with_the_validator_reason(site: Site) -> None:
    device = site.leaf(DEVICE_ID, cred.Role.DEVICE)
    impostor = site.leaf(CONTROLLER_ID, cred.Role.CONTROLLER)  # a controller certificate acting as a device
    for verify_peer, why in [
        (site.verifier(cred.Role.DEVICE), "not a device certificate"),
        (site.verifier(cred.Role.DEVICE, now=T0 + 4000 * DAY), ""),
    ]:
        initiator = Initiator(method=0, credential=device, verify_peer=verify_peer)
        responder = Responder(
            methods=[0],
            credential=impostor,
            verify_peer=site.verifier(cred.Role.DEVICE),
            send_credential=CredentialTransfer.BY_VALUE,
        )
        responder.process_message_1(initiator.create_message_1())
        with pytest.raises(EdhocError, match="peer credential rejected") as rejected:
            initiator.process_message_2(responder.create_message_2())
        assert why in rejected.value.reason
