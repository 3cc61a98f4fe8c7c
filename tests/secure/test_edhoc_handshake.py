"""EDHOC handshakes between our own Initiator and Responder: credentials, negotiation, errors, EAD, state."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import pytest
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, x25519
from edhoc_fixtures import Pki

from secure import SecureError, SecureUsageError
from secure.errors import EdhocError, EdhocPeerError, OutOfOrderMessage, ProtocolError
from secure.handshake.cbor import decode_sequence, encode
from secure.handshake.cose import Credential, IdCred, LocalCredential, lookup_in, make_ccs
from secure.handshake.edhoc import CredentialTransfer, EdhocResult, Initiator, InitiatorState, Responder, ResponderState
from secure.handshake.keys import keystream_2
from secure.handshake.messages import (
    EadItem,
    ErrCode,
    ErrorMessage,
    Message1,
    Method,
    Plaintext2,
    decode_cid,
    encode_cid,
)
from secure.handshake.suites import SUITES, Curve, PrivateKey, PublicKey, SigAlg, edhoc_kdf


def trust(cred: Credential) -> PublicKey:
    return cred.public_key


def _private_key(kind: str, suite: int) -> PrivateKey:
    s = SUITES[suite]
    if kind == "dh":
        if s.dh_curve is Curve.X25519:
            return x25519.X25519PrivateKey.generate()
        return ec.generate_private_key(ec.SECP384R1() if s.dh_curve is Curve.P_384 else ec.SECP256R1())
    if s.sig_alg is SigAlg.EDDSA:
        return ed25519.Ed25519PrivateKey.generate()
    return ec.generate_private_key(ec.SECP384R1() if s.sig_alg is SigAlg.ES384 else ec.SECP256R1())


def ccs_cred(kind: str, suite: int, kid: bytes) -> LocalCredential:
    key = _private_key(kind, suite)
    return LocalCredential(Credential.from_ccs(make_ccs(key.public_key(), kid=kid, subject=f"kid-{kid.hex()}")), key)


@dataclass
class Pair:
    initiator: Initiator
    responder: Responder


def ccs_pair(
    method: int,
    suite: int,
    *,
    initiator_suites: Sequence[int] | None = None,
    responder_suites: Sequence[int] | None = None,
    **kwargs: object,
) -> Pair:
    m = Method(method)
    cred_i = ccs_cred("dh" if m.initiator_static_dh else "sig", suite, b"\x0a")
    cred_r = ccs_cred("dh" if m.responder_static_dh else "sig", suite, b"\x0b")
    initiator = Initiator(
        method=m,
        credential=cred_i,
        verify_peer=trust,
        lookup_peer=lookup_in([cred_r.credential]),
        suites=initiator_suites or [suite],
        **kwargs,
    )  # type: ignore[arg-type]
    responder = Responder(
        methods=[m],
        credential=cred_r,
        verify_peer=trust,
        lookup_peer=lookup_in([cred_i.credential]),
        suites=responder_suites or [suite],
    )
    return Pair(initiator, responder)


def run(
    pair: Pair, *, message_4: bool = True, tamper: Callable[[int, bytes], bytes] = lambda n, m: m
) -> tuple[EdhocResult, EdhocResult]:
    ini, rsp = pair.initiator, pair.responder
    rsp.process_message_1(tamper(1, ini.create_message_1()))
    ini.process_message_2(tamper(2, rsp.create_message_2()))
    rsp.process_message_3(tamper(3, ini.create_message_3()))
    if message_4:
        ini.process_message_4(tamper(4, rsp.create_message_4()))
    return ini.result, rsp.result


def assert_same_keys(a: EdhocResult, b: EdhocResult) -> None:
    assert a.prk_out == b.prk_out and a.prk_exporter == b.prk_exporter and a.th_4 == b.th_4
    oa, ob = a.oscore_parameters(), b.oscore_parameters()
    assert (oa.master_secret, oa.master_salt) == (ob.master_secret, ob.master_salt)
    assert (oa.sender_id, oa.recipient_id) == (ob.recipient_id, ob.sender_id)
    assert a.exporter(40000, b"ctx", 42) == b.exporter(40000, b"ctx", 42)


# ------------------------------------------------------------------------------------------ X.509, method 0


@pytest.fixture(scope="module")
def pki() -> Pki:
    return Pki.create()


def test_method0_x509_by_value_on_first_contact_then_by_x5t(pki: Pki) -> None:
    device, controller = pki.device("device-1", 10), pki.device("controller", 11)
    verify_at_initiator, verify_at_responder = pki.verifier(), pki.verifier()

    first = Pair(
        Initiator(
            method=Method.SIG_SIG,
            credential=controller,
            verify_peer=verify_at_initiator,
            send_credential=CredentialTransfer.BY_VALUE,
        ),
        Responder(
            methods=[Method.SIG_SIG],
            credential=device,
            verify_peer=verify_at_responder,
            send_credential=CredentialTransfer.BY_VALUE,
        ),
    )
    a, b = run(first)
    assert_same_keys(a, b)
    assert a.peer_id_cred.by_value and b.peer_id_cred.by_value
    assert a.peer_credential.value == device.credential.value
    assert a.peer_credential.chain == (pki.root_der,)  # x5chain carried the issuer for chain validation
    assert b.peer_credential.value == controller.credential.value

    # Afterwards both sides know each other's certificate: identify it by hash (x5t, SHA-256/64).
    second = Pair(
        Initiator(
            method=Method.SIG_SIG,
            credential=controller,
            verify_peer=verify_at_initiator,
            lookup_peer=lookup_in([a.peer_credential]),
        ),
        Responder(
            methods=[Method.SIG_SIG],
            credential=device,
            verify_peer=verify_at_responder,
            lookup_peer=lookup_in([b.peer_credential]),
        ),
    )
    m1 = second.initiator.create_message_1()
    second.responder.process_message_1(m1)
    m2 = second.responder.create_message_2()
    info2 = second.initiator.process_message_2(m2)
    assert info2.id_cred_r.x5t == (-15, device.credential.x5t())
    m3 = second.initiator.create_message_3()
    info3 = second.responder.process_message_3(m3)
    assert info3.id_cred_i.x5t == (-15, controller.credential.x5t())
    assert len(m2) < len(first.responder.result.peer_credential.value)  # no certificate on the wire
    assert_same_keys(second.initiator.result, second.responder.result)
    assert verify_at_initiator.seen is not None and len(verify_at_initiator.seen) == 2  # verified every time


def test_x5t_unknown_to_the_responder_gets_error_3_and_the_retry_by_value_succeeds(pki: Pki) -> None:
    device, controller = pki.device("device-2", 20), pki.device("controller-2", 21)
    pair = Pair(
        Initiator(
            method=0, credential=controller, verify_peer=pki.verifier(), lookup_peer=lookup_in([device.credential])
        ),
        Responder(methods=[0], credential=device, verify_peer=pki.verifier()),
    )
    pair.responder.process_message_1(pair.initiator.create_message_1())
    pair.initiator.process_message_2(pair.responder.create_message_2())
    m3 = pair.initiator.create_message_3()
    with pytest.raises(EdhocError) as unknown:
        pair.responder.process_message_3(m3)
    assert unknown.value.err_code == ErrCode.UNKNOWN_CREDENTIAL_REFERENCED
    assert unknown.value.reply == bytes.fromhex("03f5")  # (3, true)
    with pytest.raises(EdhocPeerError) as told:
        pair.initiator.process_error(unknown.value.reply)
    assert told.value.err_code == 3 and pair.initiator.state is InitiatorState.ABORTED

    retry = Pair(
        Initiator(
            method=0,
            credential=controller,
            verify_peer=pki.verifier(),
            lookup_peer=lookup_in([device.credential]),
            send_credential=CredentialTransfer.BY_VALUE,
        ),
        Responder(methods=[0], credential=device, verify_peer=pki.verifier()),
    )
    assert_same_keys(*run(retry))


def test_x5t_unknown_to_the_initiator_is_answered_with_error_3(pki: Pki) -> None:
    device, controller = pki.device("device-3", 30), pki.device("controller-3", 31)
    pair = Pair(
        Initiator(method=0, credential=controller, verify_peer=pki.verifier()),
        Responder(methods=[0], credential=device, verify_peer=pki.verifier()),
    )
    pair.responder.process_message_1(pair.initiator.create_message_1())
    with pytest.raises(EdhocError) as unknown:
        pair.initiator.process_message_2(pair.responder.create_message_2())
    assert unknown.value.err_code == 3 and unknown.value.reply == bytes.fromhex("03f5")
    with pytest.raises(EdhocPeerError):
        pair.responder.process_message_3(unknown.value.reply)
    assert pair.responder.state is ResponderState.ABORTED


def test_certificate_from_another_ca_is_rejected_by_verify_peer(pki: Pki) -> None:
    rogue = Pki.create().device("rogue", 1)
    pair = Pair(
        Initiator(method=0, credential=pki.device("controller-4", 40), verify_peer=pki.verifier()),
        Responder(methods=[0], credential=rogue, verify_peer=trust, send_credential=CredentialTransfer.BY_VALUE),
    )
    pair.responder.process_message_1(pair.initiator.create_message_1())
    with pytest.raises(EdhocError) as rejected:
        pair.initiator.process_message_2(pair.responder.create_message_2())
    assert rejected.value.err_code == 1 and "credential rejected" in rejected.value.reason
    assert pair.initiator.state is InitiatorState.ABORTED


def test_verify_peer_raising_protocol_error_rejects_the_peer(pki: Pki) -> None:
    def refuse(cred: Credential) -> PublicKey:
        raise ProtocolError("revoked")

    pair = Pair(
        Initiator(
            method=0, credential=pki.device("c5", 50), verify_peer=refuse, send_credential=CredentialTransfer.BY_VALUE
        ),
        Responder(
            methods=[0],
            credential=pki.device("d5", 51),
            verify_peer=pki.verifier(),
            send_credential=CredentialTransfer.BY_VALUE,
        ),
    )
    pair.responder.process_message_1(pair.initiator.create_message_1())
    with pytest.raises(EdhocError, match="revoked"):
        pair.initiator.process_message_2(pair.responder.create_message_2())


def test_peer_key_of_the_wrong_type_is_rejected() -> None:
    pair = ccs_pair(3, 2)
    pair.initiator._verify_peer = lambda cred: ed25519.Ed25519PrivateKey.generate().public_key()
    pair.responder.process_message_1(pair.initiator.create_message_1())
    with pytest.raises(EdhocError, match="not a static DH key"):
        pair.initiator.process_message_2(pair.responder.create_message_2())


# ------------------------------------------------------------------------------------------ CCS, method 3


@pytest.mark.parametrize("suite", [0, 2])
def test_method3_ccs_handshake_agrees_on_keys_and_oscore_ids(suite: int) -> None:
    pair = ccs_pair(3, suite)
    m1 = pair.initiator.create_message_1(c_i=b"\x01")
    pair.responder.process_message_1(m1)
    m2 = pair.responder.create_message_2(c_r=b"\xaa\xbb")
    pair.initiator.process_message_2(m2)
    m3 = pair.initiator.create_message_3()
    pair.responder.process_message_3(m3)
    a, b = pair.initiator.result, pair.responder.result
    assert_same_keys(a, b)
    assert (len(m1), len(m2), len(m3)) == (37, 47, 19)  # compact kids: 37/45/19 plus the 2-byte C_R
    oscore = a.oscore_parameters()
    assert (oscore.sender_id, oscore.recipient_id) == (b"\xaa\xbb", b"\x01")  # appendix A.1
    assert len(oscore.master_secret) == 16 and len(oscore.master_salt) == 8
    pair.initiator.process_message_4(pair.responder.create_message_4())
    assert pair.initiator.state is InitiatorState.PERSISTED and pair.responder.state is ResponderState.PERSISTED


@pytest.mark.parametrize("suite", sorted(SUITES))
@pytest.mark.parametrize("method", [0, 1, 2, 3])
def test_every_method_and_implemented_suite_completes(method: int, suite: int) -> None:
    a, b = run(ccs_pair(method, suite))
    assert_same_keys(a, b)
    assert a.method == method and a.suite_label == suite


@pytest.mark.parametrize("transfer", list(CredentialTransfer))
def test_ccs_by_value_and_by_kid_both_complete(transfer: CredentialTransfer) -> None:
    pair = ccs_pair(3, 2, send_credential=transfer)
    a, b = run(pair)
    assert_same_keys(a, b)
    assert b.peer_id_cred.by_value is (transfer is CredentialTransfer.BY_VALUE)
    assert b.peer_credential == pair.initiator._creds[0].credential


def test_key_update_keeps_both_sides_in_step() -> None:
    a, b = run(ccs_pair(3, 2))
    a2, b2 = a.key_update(b"\x01\x02"), b.key_update(b"\x01\x02")
    assert a2.prk_out == b2.prk_out != a.prk_out
    assert a2.oscore_parameters().master_secret == b2.oscore_parameters().master_secret
    assert a2.oscore_parameters().master_secret != a.oscore_parameters().master_secret


def test_plaintext_2_longer_than_one_hkdf_output_uses_negative_labels() -> None:
    suite = SUITES[2]
    prk, th = bytes(range(32)), bytes(range(32, 64))
    stream = keystream_2(suite, prk, th, 9000)
    assert stream[:8160] == edhoc_kdf(suite, prk, 0, th, 8160)
    assert stream[8160:] == edhoc_kdf(suite, prk, -1, th, 840)
    pair = ccs_pair(3, 2)
    pair.responder.process_message_1(pair.initiator.create_message_1())
    big = EadItem(60000, bytes(9000))
    info = pair.initiator.process_message_2(pair.responder.create_message_2(ead=[big]))
    assert info.ead_2 == (big,)


# ------------------------------------------------------------------------------------------ negotiation


def test_wrong_selected_suite_is_answered_with_suites_r_and_the_retry_lists_preferred_suites() -> None:
    cred_i = [ccs_cred("dh", 0, b"\x0a"), ccs_cred("dh", 2, b"\x0a")]
    cred_r = ccs_cred("dh", 2, b"\x0b")
    initiator = Initiator(
        method=3, credential=cred_i, suites=[0, 2], verify_peer=trust, lookup_peer=lookup_in([cred_r.credential])
    )

    def responder() -> Responder:
        return Responder(
            methods=[3],
            credential=cred_r,
            suites=[2],
            verify_peer=trust,
            lookup_peer=lookup_in([c.credential for c in cred_i]),
        )

    m1 = initiator.create_message_1()
    assert Message1.decode(m1).suites_i == (0,)
    first = responder()
    with pytest.raises(EdhocError) as wrong:
        first.process_message_1(m1)
    assert wrong.value.err_code == 2 and wrong.value.reply == bytes.fromhex("0202")
    with pytest.raises(EdhocPeerError) as told:
        initiator.process_message_2(wrong.value.reply)
    assert told.value.suites_r == (2,) and initiator.state is InitiatorState.START
    retry = initiator.create_message_1()
    assert retry[1:4] == bytes.fromhex("820002")  # SUITES_I = [0, 2]: the preferred suite stays listed
    second = responder()
    second.process_message_1(retry)
    initiator.process_message_2(second.create_message_2())
    second.process_message_3(initiator.create_message_3())
    assert_same_keys(initiator.result, second.result)
    assert initiator.result.suite_label == 2


def test_responder_refuses_a_selected_suite_when_it_supports_a_more_preferred_one() -> None:
    cred0, cred2 = ccs_cred("dh", 0, b"\x0a"), ccs_cred("dh", 2, b"\x0a")
    resp0, resp2 = ccs_cred("dh", 0, b"\x0b"), ccs_cred("dh", 2, b"\x0b")
    initiator = Initiator(
        method=3,
        credential=[cred0, cred2],
        suites=[0, 2],
        peer_suites=[2],
        verify_peer=trust,
        lookup_peer=lookup_in([resp0.credential, resp2.credential]),
    )
    responder = Responder(
        methods=[3],
        credential=[resp0, resp2],
        suites=[2, 0],
        verify_peer=trust,
        lookup_peer=lookup_in([cred0.credential, cred2.credential]),
    )
    m1 = initiator.create_message_1()
    assert Message1.decode(m1).suites_i == (0, 2)
    with pytest.raises(EdhocError) as wrong:
        responder.process_message_1(m1)
    assert wrong.value.reply == bytes.fromhex("0200")  # SUITES_R = 0, the Initiator's most preferred
    with pytest.raises(EdhocPeerError):
        initiator.process_message_2(wrong.value.reply)
    m1 = initiator.create_message_1()
    assert Message1.decode(m1).suites_i == (0,)


def test_no_common_suite_lists_all_responder_suites_and_aborts_the_initiator() -> None:
    initiator = Initiator(method=3, credential=ccs_cred("dh", 0, b"\x01"), suites=[0], verify_peer=trust)
    responder = Responder(methods=[3], credential=ccs_cred("dh", 2, b"\x02"), suites=[2, 3], verify_peer=trust)
    with pytest.raises(EdhocError) as wrong:
        responder.process_message_1(initiator.create_message_1())
    assert wrong.value.reply == bytes.fromhex("02820203")  # (2, [2, 3])
    with pytest.raises(EdhocPeerError) as told:
        initiator.process_message_2(wrong.value.reply)
    assert told.value.suites_r == (2, 3)
    assert initiator.state is InitiatorState.ABORTED


def test_forged_error_naming_the_same_suite_again_does_not_loop() -> None:
    initiator = Initiator(method=3, credential=ccs_cred("dh", 2, b"\x01"), verify_peer=trust)
    initiator.create_message_1()
    with pytest.raises(EdhocPeerError):
        initiator.process_message_2(ErrorMessage.wrong_selected_cipher_suite([2]).encode())
    assert initiator.state is InitiatorState.ABORTED


def test_unsupported_method_is_refused_with_error_1() -> None:
    initiator = Initiator(method=0, credential=ccs_cred("sig", 2, b"\x01"), verify_peer=trust)
    responder = Responder(methods=[3], credential=ccs_cred("dh", 2, b"\x02"), verify_peer=trust)
    with pytest.raises(EdhocError, match="method 0 not supported") as refused:
        responder.process_message_1(initiator.create_message_1())
    assert refused.value.reply is not None
    assert ErrorMessage.decode(refused.value.reply) == ErrorMessage(1, "method 0 not supported")


# ------------------------------------------------------------------------------------------ error messages


@pytest.mark.parametrize(
    ("message", "encoded"),
    [
        (ErrorMessage.unspecified("Method not supported"), "01" + "74" + b"Method not supported".hex()),
        (ErrorMessage.wrong_selected_cipher_suite([6]), "0206"),
        (ErrorMessage.wrong_selected_cipher_suite([9, 8]), "02820908"),
        (ErrorMessage.unknown_credential_referenced(), "03f5"),
    ],
)
def test_error_messages_encode_and_decode(message: ErrorMessage, encoded: str) -> None:
    assert message.encode().hex() == encoded
    assert ErrorMessage.decode(bytes.fromhex(encoded)) == message


@pytest.mark.parametrize(
    "encoded",
    [
        "0102",  # code 1 needs a text string
        "0281",  # truncated SUITES_R
        "028102",  # one-element SUITES_R array
        "03f4",  # code 3 needs true
        "016161" + "00",  # three items
        "01",  # one item
    ],
)
def test_malformed_error_messages_are_refused(encoded: str) -> None:
    with pytest.raises(ProtocolError):
        ErrorMessage.decode(bytes.fromhex(encoded))


def test_error_code_0_received_aborts_without_a_reply() -> None:
    initiator = Initiator(method=3, credential=ccs_cred("dh", 2, b"\x01"), verify_peer=trust)
    initiator.create_message_1()
    with pytest.raises(EdhocPeerError) as told:
        initiator.process_message_2(bytes.fromhex("00f6"))
    assert told.value.err_code == 0 and told.value.reply is None
    assert initiator.state is InitiatorState.ABORTED


def test_malformed_error_message_aborts_without_a_reply() -> None:
    initiator = Initiator(method=3, credential=ccs_cred("dh", 2, b"\x01"), verify_peer=trust)
    initiator.create_message_1()
    with pytest.raises(EdhocError) as bad:
        initiator.process_message_2(bytes.fromhex("01f5"))
    assert not isinstance(bad.value, EdhocPeerError) and bad.value.reply is None
    assert initiator.state is InitiatorState.ABORTED


def test_unspecified_error_text_is_exposed_sanitized() -> None:
    pair = ccs_pair(3, 2)
    pair.responder.process_message_1(pair.initiator.create_message_1())
    pair.responder.create_message_2()
    with pytest.raises(EdhocPeerError) as told:
        pair.responder.process_message_3(ErrorMessage.unspecified("bad\nthing\x1b[31m").encode())
    assert told.value.err_info == "bad\nthing\x1b[31m"
    assert "bad?thing?[31m" in told.value.reason


# ------------------------------------------------------------------------------------------ EAD


def test_non_critical_ead_items_pass_through_every_message_and_padding_is_dropped() -> None:
    pair = ccs_pair(3, 2)
    ini, rsp = pair.initiator, pair.responder
    item = EadItem(1000, b"token")
    bare = EadItem(1001)
    info1 = rsp.process_message_1(ini.create_message_1(ead=[EadItem.padding(b"\x00" * 8), item]))
    assert info1.ead_1 == (item,)
    info2 = ini.process_message_2(rsp.create_message_2(ead=[bare]))
    assert info2.ead_2 == (bare,)
    info3 = rsp.process_message_3(ini.create_message_3(ead=[item, bare]))
    assert info3.ead_3 == (item, bare)
    assert ini.process_message_4(rsp.create_message_4(ead=[item])) == (item,)
    assert_same_keys(ini.result, rsp.result)


def test_ead_is_covered_by_the_transcript() -> None:
    """A handshake with EAD_3 yields different keys than one without (the MAC and TH_4 cover EAD)."""
    with_ead = ccs_pair(3, 2)
    run(with_ead, message_4=False)
    plain = ccs_pair(3, 2)
    assert with_ead.initiator.result.prk_out != run(plain, message_4=False)[0].prk_out


@pytest.mark.parametrize("message", [1, 2, 3, 4])
def test_unknown_critical_ead_item_aborts_with_error_1(message: int) -> None:
    pair = ccs_pair(3, 2)
    ini, rsp = pair.initiator, pair.responder
    critical = [EadItem(777, b"must-understand", critical=True)]

    def ead(n: int) -> list[EadItem]:
        return critical if n == message else []

    with pytest.raises(EdhocError, match="unsupported critical EAD item 777") as refused:
        rsp.process_message_1(ini.create_message_1(ead=ead(1)))
        ini.process_message_2(rsp.create_message_2(ead=ead(2)))
        rsp.process_message_3(ini.create_message_3(ead=ead(3)))
        ini.process_message_4(rsp.create_message_4(ead=ead(4)))
    assert refused.value.err_code == 1 and refused.value.reply is not None


def test_understood_critical_ead_item_is_accepted() -> None:
    cred_i, cred_r = ccs_cred("dh", 2, b"\x01"), ccs_cred("dh", 2, b"\x02")
    initiator = Initiator(method=3, credential=cred_i, verify_peer=trust, lookup_peer=lookup_in([cred_r.credential]))
    responder = Responder(
        methods=[3],
        credential=cred_r,
        verify_peer=trust,
        understood_ead={777},
        lookup_peer=lookup_in([cred_i.credential]),
    )
    item = EadItem(777, b"x", critical=True)
    assert responder.process_message_1(initiator.create_message_1(ead=[item])).ead_1 == (item,)
    assert item.encode() == bytes.fromhex("3903084178")  # label -777, value h'78'


def test_critical_padding_cannot_be_built() -> None:
    with pytest.raises(SecureUsageError):
        EadItem(0, critical=True)
    with pytest.raises(SecureUsageError):
        EadItem(-5)


# ------------------------------------------------------------------------------------------ identifiers


@pytest.mark.parametrize(
    ("cid", "wire"),
    [
        ("21", "21"),
        ("0d", "0d"),
        ("18", "4118"),
        ("38", "4138"),
        ("abcd", "42abcd"),
        ("", "40"),
        ("37", "37"),
        ("00", "00"),
        ("17", "17"),
        ("20", "20"),
        ("ff", "41ff"),
    ],
)
def test_connection_identifiers_use_the_one_byte_int_form_exactly_when_possible(cid: str, wire: str) -> None:
    assert encode_cid(bytes.fromhex(cid)).hex() == wire
    [item] = decode_sequence(bytes.fromhex(wire))
    assert decode_cid(item) == bytes.fromhex(cid)


@pytest.mark.parametrize("wire", ["4121", "410d", "4100", "4137", "1818", "3818", "f5", "6121"])
def test_non_canonical_or_mistyped_connection_identifiers_are_refused(wire: str) -> None:
    [item] = decode_sequence(bytes.fromhex(wire))
    with pytest.raises(ProtocolError):
        decode_cid(item)


def test_compact_kid_is_used_only_for_a_lone_kid() -> None:
    sig = bytes(8)
    lone = Plaintext2(b"\x27", IdCred.by_kid(b"\x32"), sig).encode()
    assert lone.hex().startswith("2732")
    long_kid = Plaintext2(b"\x27", IdCred.by_kid(b"\x32\x10"), sig).encode()
    assert long_kid.hex().startswith("27423210")
    with_more = IdCred.from_encoded(encode({4: b"\x32", 35: "coap://x"}))
    assert Plaintext2(b"\x27", with_more, sig).encode().hex().startswith("27a2044132")


def test_responder_will_not_choose_c_r_equal_to_c_i() -> None:
    pair = ccs_pair(3, 2)
    pair.responder.process_message_1(pair.initiator.create_message_1(c_i=b"\x05"))
    with pytest.raises(SecureUsageError):
        pair.responder.create_message_2(c_r=b"\x05")
    assert pair.responder.state is ResponderState.VERIFIED_M1


def test_initiator_refuses_c_r_equal_to_c_i() -> None:
    pair = ccs_pair(3, 2)
    pair.responder.process_message_1(pair.initiator.create_message_1(c_i=b"\x05"))
    pair.responder._c_i = b"\x06"  # make the responder believe C_I was 0x06 so that it picks C_R = 0x05
    with pytest.raises(EdhocError, match="C_R equals C_I"):
        pair.initiator.process_message_2(pair.responder.create_message_2(c_r=b"\x05"))


def test_unsupported_id_cred_type_is_error_1_not_error_3() -> None:
    cred_i, cred_r = ccs_cred("dh", 2, b"\x01"), ccs_cred("dh", 2, b"\x02")
    x5u = IdCred.from_encoded(encode({35: "https://example.com/cert"}))
    responder_cred = LocalCredential(cred_r.credential, cred_r.private_key, id_cred_by_reference=x5u)
    initiator = Initiator(method=3, credential=cred_i, verify_peer=trust)
    responder = Responder(methods=[3], credential=responder_cred, verify_peer=trust)
    responder.process_message_1(initiator.create_message_1())
    with pytest.raises(EdhocError, match="unsupported ID_CRED") as refused:
        initiator.process_message_2(responder.create_message_2())
    assert refused.value.err_code == 1


# ------------------------------------------------------------------------------------------ state machine


def test_duplicate_message_1_is_refused_without_disturbing_the_session() -> None:
    pair = ccs_pair(3, 2)
    m1 = pair.initiator.create_message_1()
    pair.responder.process_message_1(m1)
    with pytest.raises(OutOfOrderMessage):
        pair.responder.process_message_1(m1)
    assert pair.responder.state is ResponderState.VERIFIED_M1
    m2 = pair.responder.create_message_2()
    with pytest.raises(OutOfOrderMessage):
        pair.responder.process_message_1(m1)
    pair.initiator.process_message_2(m2)
    with pytest.raises(OutOfOrderMessage):
        pair.initiator.process_message_2(m2)
    assert pair.initiator.state is InitiatorState.VERIFIED_M2
    m3 = pair.initiator.create_message_3()
    pair.responder.process_message_3(m3)
    with pytest.raises(OutOfOrderMessage):
        pair.responder.process_message_3(m3)
    m4 = pair.responder.create_message_4()
    pair.initiator.process_message_4(m4)
    with pytest.raises(OutOfOrderMessage):
        pair.initiator.process_message_4(m4)
    assert_same_keys(pair.initiator.result, pair.responder.result)


def test_messages_out_of_order_are_refused() -> None:
    pair = ccs_pair(3, 2)
    with pytest.raises(OutOfOrderMessage):
        pair.initiator.process_message_2(b"\x40")
    with pytest.raises(OutOfOrderMessage):
        pair.responder.process_message_3(b"\x40")
    m1 = pair.initiator.create_message_1()
    with pytest.raises(OutOfOrderMessage):
        pair.initiator.process_message_4(b"\x40")
    pair.responder.process_message_1(m1)
    with pytest.raises(OutOfOrderMessage):
        pair.responder.process_message_3(b"\x40")  # message_2 was not sent yet
    assert pair.initiator.state is InitiatorState.WAIT_M2 and pair.responder.state is ResponderState.VERIFIED_M1


def test_local_calls_in_the_wrong_state_are_usage_errors() -> None:
    pair = ccs_pair(3, 2)
    with pytest.raises(SecureUsageError):
        pair.initiator.create_message_3()
    with pytest.raises(SecureUsageError):
        pair.responder.create_message_2()
    with pytest.raises(SecureUsageError):
        pair.responder.create_message_4()
    with pytest.raises(SecureUsageError):
        _ = pair.initiator.result
    pair.initiator.create_message_1()
    with pytest.raises(SecureUsageError):
        pair.initiator.create_message_1()
    assert isinstance(SecureUsageError("x"), ValueError) and issubclass(SecureUsageError, SecureError)


def test_aborted_session_stays_aborted() -> None:
    pair = ccs_pair(3, 2)
    pair.initiator.create_message_1()
    with pytest.raises(EdhocError):
        pair.initiator.process_message_2(b"\x58\x30" + bytes(48))
    assert pair.initiator.state is InitiatorState.ABORTED and pair.initiator.aborted_reason
    with pytest.raises(OutOfOrderMessage):
        pair.initiator.process_message_2(b"\x40")
    with pytest.raises(SecureUsageError):
        pair.initiator.create_message_3()


def test_confirm_marks_the_session_persisted_without_message_4() -> None:
    pair = ccs_pair(3, 2)
    run(pair, message_4=False)
    pair.initiator.confirm()
    pair.responder.confirm()
    assert pair.initiator.state is InitiatorState.PERSISTED and pair.responder.state is ResponderState.PERSISTED
    with pytest.raises(OutOfOrderMessage):
        pair.initiator.process_error(ErrorMessage.unspecified("late").encode())


def test_configuration_mistakes_are_usage_errors() -> None:
    dh2, sig2, x25519_cred = ccs_cred("dh", 2, b"\x01"), ccs_cred("sig", 2, b"\x01"), ccs_cred("dh", 0, b"\x01")
    with pytest.raises(SecureUsageError, match="no local credential fits"):
        Initiator(method=0, credential=x25519_cred, verify_peer=trust)  # suite 2 signs with ES256
    with pytest.raises(SecureUsageError, match="no local credential fits"):
        Initiator(method=3, credential=dh2, suites=[0], verify_peer=trust)
    with pytest.raises(SecureUsageError):
        Initiator(method=7, credential=dh2, verify_peer=trust)
    with pytest.raises(SecureUsageError):
        Initiator(method=3, credential=dh2, suites=[99], verify_peer=trust)
    with pytest.raises(SecureUsageError):
        Responder(methods=[3], credential=sig2, verify_peer=trust, suites=[0])
    with pytest.raises(SecureUsageError, match="does not belong"):
        LocalCredential(dh2.credential, ec.generate_private_key(ec.SECP256R1()))
    with pytest.raises(SecureUsageError):
        Credential.from_ccs(b"\xa0")
    with pytest.raises(SecureUsageError):
        Credential.from_x509(b"\x30\x00")


# ------------------------------------------------------------------------------------------ tampering


def _flip(position: int, target: int) -> Callable[[int, bytes], bytes]:
    def tamper(n: int, message: bytes) -> bytes:
        if n != target:
            return message
        return message[:position] + bytes([message[position] ^ 0x01]) + message[position + 1 :]

    return tamper


def _message_lengths(factory: Callable[[], Pair]) -> list[int]:
    lengths: list[int] = []
    run(factory(), tamper=lambda n, m: lengths.append(len(m)) or m)  # type: ignore[func-returns-value]
    return lengths


def _assert_every_flip_is_rejected(factory: Callable[[], Pair], step: int = 1) -> int:
    rejected = 0
    for target, length in enumerate(_message_lengths(factory), start=1):
        for position in [*range(0, length, step), length - 1]:
            with pytest.raises(EdhocError):
                run(factory(), tamper=_flip(position, target))
            rejected += 1
    return rejected


def test_every_flipped_byte_of_every_method_3_message_is_rejected() -> None:
    i_key, r_key = ccs_cred("dh", 2, b"\x01"), ccs_cred("dh", 2, b"\x02")

    def factory() -> Pair:
        return Pair(
            Initiator(method=3, credential=i_key, verify_peer=trust, lookup_peer=lookup_in([r_key.credential])),
            Responder(methods=[3], credential=r_key, verify_peer=trust, lookup_peer=lookup_in([i_key.credential])),
        )

    assert _assert_every_flip_is_rejected(factory) > 100


def test_every_flipped_byte_of_method_0_x509_messages_by_value_is_rejected(pki: Pki) -> None:
    controller, device = pki.device("c-t", 60), pki.device("d-t", 61)

    def factory() -> Pair:
        return Pair(
            Initiator(
                method=0, credential=controller, verify_peer=pki.verifier(), send_credential=CredentialTransfer.BY_VALUE
            ),
            Responder(
                methods=[0], credential=device, verify_peer=pki.verifier(), send_credential=CredentialTransfer.BY_VALUE
            ),
        )

    assert _assert_every_flip_is_rejected(factory) > 1000


def test_truncated_or_extended_messages_are_rejected() -> None:
    for target in (1, 2, 3, 4):
        with pytest.raises(EdhocError):
            run(ccs_pair(3, 2), tamper=lambda n, m, t=target: m[:-1] if n == t else m)  # type: ignore[misc]
        with pytest.raises(EdhocError):
            run(ccs_pair(3, 2), tamper=lambda n, m, t=target: m + b"\x00" if n == t else m)  # type: ignore[misc]


def test_message_2_from_another_session_is_rejected() -> None:
    first, second = ccs_pair(3, 2), ccs_pair(3, 2)
    first.responder.process_message_1(first.initiator.create_message_1())
    second.initiator.create_message_1()
    with pytest.raises(EdhocError):
        second.initiator.process_message_2(first.responder.create_message_2())


# ------------------------------------------------------------------------------------------ secrets


def test_reprs_and_errors_never_show_private_keys_or_session_secrets() -> None:
    pair = ccs_pair(3, 2)
    a, b = run(pair)
    oscore = a.oscore_parameters()
    secrets = [a.prk_out, a.prk_exporter, oscore.master_secret, oscore.master_salt]
    for local in (*pair.initiator._creds, *pair.responder._creds):
        key = local.private_key
        assert isinstance(key, ec.EllipticCurvePrivateKey)
        secrets.append(key.private_numbers().private_value.to_bytes(32, "big"))
    texts = [
        repr(a),
        repr(b),
        repr(oscore),
        repr(pair.initiator),
        repr(pair.responder),
        repr(pair.initiator._creds[0]),
        str(a),
        str(oscore),
    ]
    for secret in secrets:
        for text in texts:
            assert secret.hex() not in text and repr(secret)[2:-1] not in text
    assert "private_key=<hidden>" in repr(pair.initiator._creds[0])
    tampered = ccs_pair(3, 2)
    with pytest.raises(EdhocError) as failed:
        run(tampered, tamper=_flip(5, 3))
    assert failed.value.reply is not None and len(failed.value.reply) < 80
    assert all(secret.hex() not in str(failed.value) for secret in secrets)


def test_g_x_as_bstr_and_suite_array_roundtrip_through_message_1() -> None:
    message = Message1(3, (6, 2), bytes(32), b"\x37", (EadItem(5, b"v"),))
    encoded = message.encode()
    assert encoded.hex() == "03820602" + "5820" + "00" * 32 + "37" + "054176"
    assert Message1.decode(encoded) == message


def test_a_kid_shared_by_several_known_credentials_finds_the_right_one() -> None:
    cred_i, cred_r = ccs_cred("dh", 2, b"\x07"), ccs_cred("dh", 2, b"\x02")
    impostors = [ccs_cred("dh", 2, b"\x07").credential for _ in range(3)]
    initiator = Initiator(method=3, credential=cred_i, verify_peer=trust, lookup_peer=lookup_in([cred_r.credential]))
    responder = Responder(
        methods=[3], credential=cred_r, verify_peer=trust, lookup_peer=lookup_in([*impostors, cred_i.credential])
    )
    a, b = run(Pair(initiator, responder))
    assert b.peer_credential == cred_i.credential
    assert_same_keys(a, b)


def test_a_kid_matching_only_wrong_credentials_fails_verification() -> None:
    cred_i, cred_r = ccs_cred("dh", 2, b"\x07"), ccs_cred("dh", 2, b"\x02")
    impostors = [ccs_cred("dh", 2, b"\x07").credential for _ in range(2)]
    pair = Pair(
        Initiator(method=3, credential=cred_i, verify_peer=trust, lookup_peer=lookup_in([cred_r.credential])),
        Responder(methods=[3], credential=cred_r, verify_peer=trust, lookup_peer=lookup_in(impostors)),
    )
    with pytest.raises(EdhocError, match="Signature_or_MAC_3 verification failed"):
        run(pair)


def test_empty_connection_identifiers_are_valid_and_become_empty_oscore_ids() -> None:
    pair = ccs_pair(3, 2)
    pair.responder.process_message_1(pair.initiator.create_message_1(c_i=b"\x01"))
    pair.initiator.process_message_2(pair.responder.create_message_2(c_r=b""))
    pair.responder.process_message_3(pair.initiator.create_message_3())
    assert pair.responder.c_r == b""
    assert pair.initiator.result.oscore_parameters().sender_id == b""
    assert pair.responder.result.oscore_parameters().recipient_id == b""
