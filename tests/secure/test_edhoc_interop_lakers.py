"""Live EDHOC handshakes against lakers-python (a Rust implementation) in both roles.

lakers-python 0.6.2 supports method 3 (static DH / static DH) with cipher suite 2 (P-256) and CCS credentials
identified by 'kid' (by reference) or 'kccs' (by value), message_4, EAD items, the exporter and key update.
"""

from __future__ import annotations

from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from secure.errors import EdhocError
from secure.handshake.cose import Credential, LocalCredential, lookup_in, make_ccs
from secure.handshake.edhoc import Initiator, Responder
from secure.handshake.messages import EadItem, Method
from secure.handshake.suites import PublicKey

lakers: Any = pytest.importorskip("lakers", reason="lakers-python is not installed")

pytestmark = pytest.mark.interop


def _trust(cred: Credential) -> PublicKey:
    return cred.public_key


def _p256_ccs(kid: bytes, subject: str) -> tuple[LocalCredential, bytes]:
    key = ec.generate_private_key(ec.SECP256R1())
    local = LocalCredential(Credential.from_ccs(make_ccs(key.public_key(), kid=kid, subject=subject)), key)
    return local, key.private_numbers().private_value.to_bytes(32, "big")


@pytest.fixture
def creds() -> dict[str, tuple[LocalCredential, bytes]]:
    return {"I": _p256_ccs(b"\x2b", "42-50-31-FF-EF-37-32-39"), "R": _p256_ccs(b"\x32", "example.edu")}


TRANSFERS = ["ByReference", "ByValue"]


@pytest.mark.parametrize("transfer", TRANSFERS)
def test_lakers_initiator_completes_with_our_responder_and_exports_the_same_oscore_keys(
    creds: dict[str, tuple[LocalCredential, bytes]], transfer: str
) -> None:
    (cred_i, i_raw), (cred_r, _) = creds["I"], creds["R"]
    theirs = lakers.EdhocInitiator()
    ours = Responder(
        methods=[Method.STATIC_STATIC],
        credential=cred_r,
        verify_peer=_trust,
        lookup_peer=lookup_in([cred_i.credential]),
    )

    info1 = ours.process_message_1(theirs.prepare_message_1(c_i=None, ead_1=None))
    assert (info1.method, info1.suite) == (3, 2)
    c_r, id_cred_r, ead_2 = theirs.parse_message_2(ours.create_message_2())
    assert bytes(c_r) == ours.c_r and not ead_2
    valid_cred_r = lakers.credential_check_or_fetch(id_cred_r, lakers.Credential(cred_r.credential.value))
    theirs.verify_message_2(i_raw, lakers.Credential(cred_i.credential.value), valid_cred_r)
    message_3, their_prk_out = theirs.prepare_message_3(getattr(lakers.CredentialTransfer, transfer), None)
    info3 = ours.process_message_3(message_3)
    assert info3.id_cred_i.by_value is (transfer == "ByValue")
    assert info3.peer_credential == cred_i.credential
    assert theirs.process_message_4(ours.create_message_4()) == []

    result = ours.result
    assert result.prk_out == bytes(their_prk_out)
    oscore = result.oscore_parameters()
    assert oscore.master_secret == bytes(theirs.edhoc_exporter(0, b"", 16))
    assert oscore.master_salt == bytes(theirs.edhoc_exporter(1, b"", 8))
    assert oscore.recipient_id == ours.c_r and oscore.sender_id == info1.c_i

    context = bytes.fromhex("a01158fdb820890cd6be169602b8bcea")
    updated = result.key_update(context)
    assert updated.prk_out == bytes(theirs.edhoc_key_update(context))
    assert updated.oscore_parameters().master_secret == bytes(theirs.edhoc_exporter(0, b"", 16))


@pytest.mark.parametrize("c_i", [b"\x0e", b"\x37", b"\x18", b"\xab\xcd"], ids=["int14", "int-24", "bstr18", "bstr2"])
@pytest.mark.parametrize("transfer", TRANSFERS)
def test_our_initiator_completes_with_lakers_responder_and_exports_the_same_oscore_keys(
    creds: dict[str, tuple[LocalCredential, bytes]], transfer: str, c_i: bytes
) -> None:
    (cred_i, _), (cred_r, r_raw) = creds["I"], creds["R"]
    ours = Initiator(
        method=Method.STATIC_STATIC, credential=cred_i, verify_peer=_trust, lookup_peer=lookup_in([cred_r.credential])
    )
    theirs = lakers.EdhocResponder(r_raw, lakers.Credential(cred_r.credential.value))

    their_c_i, ead_1 = theirs.process_message_1(ours.create_message_1(c_i=c_i))
    assert bytes(their_c_i) == c_i and not ead_1
    c_r = b"\x27"
    info2 = ours.process_message_2(theirs.prepare_message_2(getattr(lakers.CredentialTransfer, transfer), c_r, None))
    assert info2.c_r == c_r
    assert info2.id_cred_r.by_value is (transfer == "ByValue")
    assert info2.peer_credential == cred_r.credential
    id_cred_i, _ead_3 = theirs.parse_message_3(ours.create_message_3())
    valid_cred_i = lakers.credential_check_or_fetch(id_cred_i, lakers.Credential(cred_i.credential.value))
    their_prk_out = theirs.verify_message_3(valid_cred_i)
    assert ours.process_message_4(theirs.prepare_message_4(None)) == ()

    result = ours.result
    assert result.prk_out == bytes(their_prk_out)
    oscore = result.oscore_parameters()
    assert oscore.master_secret == bytes(theirs.edhoc_exporter(0, b"", 16))
    assert oscore.master_salt == bytes(theirs.edhoc_exporter(1, b"", 8))
    assert (oscore.sender_id, oscore.recipient_id) == (c_r, c_i)  # RFC 9528 appendix A.1
    assert result.exporter(2, b"\x01", 32) == bytes(theirs.edhoc_exporter(2, b"\x01", 32))


def test_ead_items_cross_between_lakers_and_us(creds: dict[str, tuple[LocalCredential, bytes]]) -> None:
    (cred_i, _), (cred_r, _) = creds["I"], creds["R"]
    theirs = lakers.EdhocInitiator()
    ours = Responder(methods=[3], credential=cred_r, verify_peer=_trust, lookup_peer=lookup_in([cred_i.credential]))
    info1 = ours.process_message_1(
        theirs.prepare_message_1(c_i=b"\x0e", ead_1=[lakers.EADItem(label=33, is_critical=False, value=b"hello")])
    )
    assert info1.ead_1 == (EadItem(33, b"hello"),)
    _, _, ead_2 = theirs.parse_message_2(ours.create_message_2(ead=[EadItem(40, b"from-us")]))
    assert [(item.label(), item.is_critical(), bytes(item.value())) for item in ead_2] == [(40, False, b"from-us")]


def test_our_responder_refuses_a_critical_ead_item_from_lakers(creds: dict[str, tuple[LocalCredential, bytes]]) -> None:
    (cred_i, _), (cred_r, _) = creds["I"], creds["R"]
    theirs = lakers.EdhocInitiator()
    ours = Responder(methods=[3], credential=cred_r, verify_peer=_trust, lookup_peer=lookup_in([cred_i.credential]))
    with pytest.raises(EdhocError, match="critical EAD item 33"):
        ours.process_message_1(
            theirs.prepare_message_1(c_i=None, ead_1=[lakers.EADItem(label=33, is_critical=True, value=b"x")])
        )


def test_lakers_responder_with_an_untrusted_credential_is_rejected(
    creds: dict[str, tuple[LocalCredential, bytes]],
) -> None:
    (cred_i, _), (cred_r, r_raw) = creds["I"], creds["R"]
    ours = Initiator(method=3, credential=cred_i, verify_peer=lambda cred: None)
    theirs = lakers.EdhocResponder(r_raw, lakers.Credential(cred_r.credential.value))
    theirs.process_message_1(ours.create_message_1(c_i=b"\x01"))
    with pytest.raises(EdhocError, match="credential rejected"):
        ours.process_message_2(theirs.prepare_message_2(lakers.CredentialTransfer.ByValue, b"\x02", None))
