"""Decoding untrusted bytes never raises anything but the ProtocolError family (property tests)."""

from __future__ import annotations

import contextlib
from collections.abc import Callable

from cryptography.hazmat.primitives.asymmetric import ec
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from secure.errors import EdhocError, ProtocolError
from secure.handshake import cbor
from secure.handshake.cose import Credential, CredentialKind, IdCred, LocalCredential, lookup_in, make_ccs
from secure.handshake.edhoc import Initiator, InitiatorState, Responder, ResponderState
from secure.handshake.messages import ErrorMessage, Message1, Plaintext2, Plaintext3, decode_plaintext_4
from secure.handshake.suites import PublicKey

FUZZ = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _cred(kid: bytes) -> LocalCredential:
    key = ec.generate_private_key(ec.SECP256R1())
    return LocalCredential(Credential.from_ccs(make_ccs(key.public_key(), kid=kid)), key)


CRED_I, CRED_R = _cred(b"\x01"), _cred(b"\x02")


def _trust(cred: Credential) -> PublicKey:
    return cred.public_key


def _initiator() -> Initiator:
    return Initiator(method=3, credential=CRED_I, verify_peer=_trust, lookup_peer=lookup_in([CRED_R.credential]))


def _responder() -> Responder:
    return Responder(
        methods=[0, 1, 2, 3], credential=CRED_R, verify_peer=_trust, lookup_peer=lookup_in([CRED_I.credential])
    )


cbor_leaves = st.one_of(
    st.integers(min_value=-(2**64), max_value=2**64 - 1),
    st.binary(max_size=40),
    st.text(max_size=10),
    st.booleans(),
    st.none(),
    st.floats(allow_nan=False),
    st.builds(cbor.Simple, st.sampled_from([0, 16, 32, 255])),
)
cbor_values = st.recursive(
    cbor_leaves,
    lambda children: st.one_of(
        st.lists(children, max_size=4),
        st.dictionaries(st.one_of(st.integers(-30, 30), st.text(max_size=3)), children, max_size=4),
        st.builds(cbor.Tag, st.integers(0, 2**16), children),
    ),
    max_leaves=12,
)
cbor_sequences = st.lists(cbor_values, min_size=1, max_size=7).map(lambda vs: b"".join(cbor.encode(v) for v in vs))
messy_bytes = st.one_of(st.binary(max_size=200), cbor_sequences)


def _only_protocol_errors(decoder: Callable[[bytes], object], data: bytes) -> None:
    with contextlib.suppress(ProtocolError):
        decoder(data)


@FUZZ
@given(messy_bytes)
def test_decoders_raise_only_protocol_errors_on_random_bytes(data: bytes) -> None:
    for decoder in (
        cbor.decode_sequence,
        cbor.decode,
        Message1.decode,
        Plaintext2.decode,
        Plaintext3.decode,
        decode_plaintext_4,
        ErrorMessage.decode,
        IdCred.from_peer,
        lambda raw: Credential.from_peer(CredentialKind.CCS, raw),
        lambda raw: Credential.from_peer(CredentialKind.X509, raw),
    ):
        _only_protocol_errors(decoder, data)


@FUZZ
@given(cbor_values)
def test_strict_decoder_round_trips_everything_the_encoder_writes(value: object) -> None:
    encoded = cbor.encode(value)
    assert cbor.encode(cbor.decode(encoded)) == encoded


@FUZZ
@given(messy_bytes)
def test_random_message_1_is_rejected_with_an_error_or_accepted(data: bytes) -> None:
    responder = _responder()
    try:
        responder.process_message_1(data)
    except EdhocError as exc:
        assert responder.state is ResponderState.ABORTED
        if exc.reply is not None:
            ErrorMessage.decode(exc.reply)
    else:
        assert responder.state is ResponderState.VERIFIED_M1


@FUZZ
@given(messy_bytes)
def test_random_message_2_or_error_raises_only_protocol_errors(data: bytes) -> None:
    initiator = _initiator()
    initiator.create_message_1()
    try:
        initiator.process_message_2(data)
    except ProtocolError:
        assert initiator.state in (InitiatorState.ABORTED, InitiatorState.START)
    else:  # pragma: no cover - would need a forged MAC
        raise AssertionError("random message_2 accepted")


@FUZZ
@given(st.binary(min_size=1, max_size=120))
def test_random_plaintext_2_behind_a_valid_keystream_raises_only_protocol_errors(plaintext: bytes) -> None:
    """Random bytes as G_Y || CIPHERTEXT_2 decrypt to random PLAINTEXT_2, exercising its decoder end to end."""
    initiator = _initiator()
    initiator.create_message_1()
    g_y = ec.generate_private_key(ec.SECP256R1()).public_key().public_numbers().x.to_bytes(32, "big")
    with contextlib.suppress(ProtocolError):
        initiator.process_message_2(cbor.encode_bstr(g_y + plaintext))
    assert initiator.state is InitiatorState.ABORTED


@FUZZ
@given(messy_bytes)
def test_random_message_3_or_error_raises_only_protocol_errors(data: bytes) -> None:
    initiator, responder = _initiator(), _responder()
    responder.process_message_1(initiator.create_message_1())
    responder.create_message_2()
    try:
        responder.process_message_3(data)
    except ProtocolError:
        assert responder.state is ResponderState.ABORTED
    else:  # pragma: no cover
        raise AssertionError("random message_3 accepted")


@FUZZ
@given(st.data())
def test_mutated_genuine_messages_raise_only_protocol_errors(data: st.DataObject) -> None:
    initiator, responder = _initiator(), _responder()
    m1 = initiator.create_message_1()
    target = data.draw(st.sampled_from([1, 2, 3, 4]))

    def mutate(message: bytes) -> bytes:
        cut = data.draw(st.integers(0, len(message)))
        return message[:cut] + data.draw(st.binary(max_size=4)) + message[cut + data.draw(st.integers(0, 3)) :]

    try:
        responder.process_message_1(mutate(m1) if target == 1 else m1)
        m2 = responder.create_message_2()
        initiator.process_message_2(mutate(m2) if target == 2 else m2)
        m3 = initiator.create_message_3()
        responder.process_message_3(mutate(m3) if target == 3 else m3)
        m4 = responder.create_message_4()
        initiator.process_message_4(mutate(m4) if target == 4 else m4)
    except ProtocolError:
        pass
