"""Byte-exact reproduction of the RFC 9529 EDHOC traces, and rejection of its invalid traces.

Values are parsed from ``../shared/rfc/rfc9529-edhoc-traces.md`` at test time; the tests that need the file skip
where it is absent. ``test_trace2_reproduced_from_hardcoded_values`` carries the few values it needs itself.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator

import pytest
from cryptography.hazmat.primitives.asymmetric import ec, x25519
from edhoc_fixtures import INVALID, TRACE_1, TRACE_2, Traces, load_traces

from secure.errors import CborError, EdhocError, EdhocPeerError, ProtocolError
from secure.handshake import keys as ks
from secure.handshake.cbor import encode_bstr
from secure.handshake.cose import Credential, IdCred, LocalCredential, enc_structure, lookup_in, make_ccs, sig_structure
from secure.handshake.edhoc import Initiator, InitiatorState, Responder, ResponderState
from secure.handshake.messages import ErrCode, ErrorMessage, Message1, Method, Plaintext2, Plaintext3
from secure.handshake.suites import (
    SUITES,
    CipherSuite,
    EphemeralKey,
    PublicKey,
    aead_encrypt,
    hash_bytes,
    kdf_info,
    sign,
)

SUITE_0, SUITE_2 = SUITES[0], SUITES[2]


@pytest.fixture(scope="module")
def traces() -> Traces:
    return load_traces()


def _trust(cred: Credential) -> PublicKey:
    return cred.public_key


# ------------------------------------------------------------------------------------------ trace 1


def _message_3_and_4(
    s: CipherSuite, prk3e2m: bytes, prk4e3m: bytes, th3: bytes, pt3: bytes, cred_i: Credential
) -> Iterator[tuple[str, bytes]]:
    ct3 = aead_encrypt(s.aead, ks.k_3(s, prk3e2m, th3), ks.iv_3(s, prk3e2m, th3), pt3, enc_structure(th3))
    yield "CIPHERTEXT_3 (Raw Value)", ct3
    yield "message_3 (CBOR Sequence)", encode_bstr(ct3)
    yield "Input to calculate TH_4 (CBOR Sequence)", encode_bstr(th3) + pt3 + cred_i.cbor
    th4 = ks.th_4(s, th3, pt3, cred_i.cbor)
    yield "info for K_4 (CBOR Sequence)", kdf_info(8, th4, s.key_length)
    yield "info for IV_4 (CBOR Sequence)", kdf_info(9, th4, s.iv_length)
    ct4 = aead_encrypt(s.aead, ks.k_4(s, prk4e3m, th4), ks.iv_4(s, prk4e3m, th4), b"", enc_structure(th4))
    yield "CIPHERTEXT_4", ct4
    yield "message_4 (CBOR Sequence)", encode_bstr(ct4)


def trace1_values(t: Traces) -> Iterator[tuple[str, bytes]]:
    """Recompute every trace 1 value from the trace inputs (keys, credentials, identifiers)."""
    g: Callable[[str], bytes] = lambda title: t.get(TRACE_1, title)  # noqa: E731
    s = SUITE_0
    cred_r, cred_i = Credential.from_x509(g("CRED_R (Raw Value)")), Credential.from_x509(g("CRED_I (Raw Value)"))
    sk_r = LocalCredential.from_private_bytes(cred_r, g("SK_R (Raw Value)"))
    sk_i = LocalCredential.from_private_bytes(cred_i, g("SK_I (Raw Value)"))
    x = EphemeralKey.from_private_bytes(s.dh_curve, g("X (Raw Value)"))
    y = EphemeralKey.from_private_bytes(s.dh_curve, g("Y (Raw Value)"))
    c_i, c_r = g("C_I (Raw Value)"), g("C_R (Raw Value)")
    yield "G_X (Raw Value)", x.public
    yield "G_Y (Raw Value)", y.public
    yield "PK_R (Raw Value)", cred_r.public_key_bytes
    yield "PK_I (Raw Value)", cred_i.public_key_bytes
    m1 = Message1(0, (0,), x.public, c_i).encode()
    yield "message_1 (CBOR Sequence)", m1
    yield "H(message_1) (Raw Value)", hash_bytes(s, m1)
    yield "H(message_1) (CBOR Data Item)", encode_bstr(hash_bytes(s, m1))
    yield "Input to calculate TH_2 (CBOR Sequence)", encode_bstr(y.public) + encode_bstr(hash_bytes(s, m1))
    g_xy = x.exchange(y.public)
    assert g_xy == y.exchange(x.public)
    yield "G_XY (Raw Value) (ECDH shared secret)", g_xy
    th2 = ks.th_2(s, y.public, m1)
    yield "TH_2 (Raw Value)", th2
    prk2e = ks.prk_2e(s, th2, g_xy)
    yield "PRK_2e (Raw Value)", prk2e
    prk3e2m = ks.prk_3e2m(s, prk2e, th2, None)
    yield "PRK_3e2m (Raw Value)", prk3e2m
    id_cred_r = IdCred.by_x5t(cred_r)
    yield "ID_CRED_R (CBOR Data Item)", id_cred_r.encoded
    yield "CRED_R (CBOR Data Item)", cred_r.cbor
    context2 = ks.context_2(c_r, id_cred_r, th2, cred_r.cbor)
    yield "context_2 (CBOR Sequence)", context2
    yield "context_2 (CBOR byte string)", encode_bstr(context2)
    yield "info for MAC_2 (CBOR Sequence)", kdf_info(2, context2, 32)
    mac2 = ks.mac_2(s, prk3e2m, context2, s.hash_length)
    yield "MAC_2 (Raw Value)", mac2
    to_sign_2 = sig_structure(id_cred_r.encoded, encode_bstr(th2) + cred_r.cbor, mac2)
    yield "Message to be signed 2 (CBOR Data Item)", to_sign_2
    sig2 = sign(s.sig_alg, sk_r.private_key, to_sign_2)
    yield "Signature_or_MAC_2 (Raw Value)", sig2
    pt2 = Plaintext2(c_r, id_cred_r, sig2).encode()
    yield "PLAINTEXT_2 (CBOR Sequence)", pt2
    yield "info for KEYSTREAM_2 (CBOR Sequence)", kdf_info(0, th2, len(pt2))
    ks2 = ks.keystream_2(s, prk2e, th2, len(pt2))
    yield "KEYSTREAM_2 (Raw Value)", ks2
    ct2 = bytes(a ^ b for a, b in zip(pt2, ks2, strict=True))
    yield "CIPHERTEXT_2 (Raw Value)", ct2
    yield "message_2 (CBOR Sequence)", encode_bstr(y.public + ct2)
    yield "Input to calculate TH_3 (CBOR Sequence)", encode_bstr(th2) + pt2 + cred_r.cbor
    th3 = ks.th_3(s, th2, pt2, cred_r.cbor)
    yield "TH_3 (Raw Value)", th3
    prk4e3m = ks.prk_4e3m(s, prk3e2m, th3, None)
    yield "PRK_4e3m (Raw Value)", prk4e3m
    id_cred_i = IdCred.by_x5t(cred_i)
    yield "ID_CRED_I (CBOR Data Item)", id_cred_i.encoded
    context3 = ks.context_3(id_cred_i, th3, cred_i.cbor)
    yield "context_3 (CBOR Sequence)", context3
    yield "info for MAC_3 (CBOR Sequence)", kdf_info(6, context3, 32)
    mac3 = ks.mac_3(s, prk4e3m, context3, s.hash_length)
    yield "MAC_3 (Raw Value)", mac3
    to_sign_3 = sig_structure(id_cred_i.encoded, encode_bstr(th3) + cred_i.cbor, mac3)
    yield "Message to be signed 3 (CBOR Data Item)", to_sign_3
    sig3 = sign(s.sig_alg, sk_i.private_key, to_sign_3)
    yield "Signature_or_MAC_3 (Raw Value)", sig3
    pt3 = Plaintext3(id_cred_i, sig3).encode()
    yield "PLAINTEXT_3 (CBOR Sequence)", pt3
    yield "A_3 (CBOR Data Item)", enc_structure(th3)
    yield "info for K_3 (CBOR Sequence)", kdf_info(3, th3, 16)
    yield "K_3 (Raw Value)", ks.k_3(s, prk3e2m, th3)
    yield "info for IV_3 (CBOR Sequence)", kdf_info(4, th3, 13)
    yield "IV_3 (Raw Value)", ks.iv_3(s, prk3e2m, th3)
    yield from _message_3_and_4(s, prk3e2m, prk4e3m, th3, pt3, cred_i)
    th4 = ks.th_4(s, th3, pt3, cred_i.cbor)
    yield "TH_4 (Raw Value)", th4
    yield "A_4 (CBOR Data Item)", enc_structure(th4)
    yield "K_4 (Raw Value)", ks.k_4(s, prk4e3m, th4)
    yield "IV_4 (Raw Value)", ks.iv_4(s, prk4e3m, th4)
    prk_out = ks.prk_out(s, prk4e3m, th4)
    yield "info for PRK_out (CBOR Sequence)", kdf_info(7, th4, 32)
    yield "PRK_out (Raw Value)", prk_out
    prk_exporter = ks.prk_exporter(s, prk_out)
    yield "info for PRK_exporter (CBOR Sequence)", kdf_info(10, b"", 32)
    yield "PRK_exporter (Raw Value)", prk_exporter
    yield "info for OSCORE Master Secret (CBOR Sequence)", kdf_info(0, b"", 16)
    yield "OSCORE Master Secret (Raw Value)", ks.edhoc_exporter(s, prk_exporter, 0, b"", 16)
    yield "OSCORE Master Salt (Raw Value)", ks.edhoc_exporter(s, prk_exporter, 1, b"", 8)
    new_out = ks.edhoc_key_update(s, prk_out, g("context for KeyUpdate (Raw Value)"))
    yield "PRK_out after KeyUpdate (Raw Value)", new_out
    new_exporter = ks.prk_exporter(s, new_out)
    yield "PRK_exporter after KeyUpdate (Raw Value)", new_exporter
    yield "OSCORE Master Secret after KeyUpdate (Raw Value)", ks.edhoc_exporter(s, new_exporter, 0, b"", 16)
    yield "OSCORE Master Salt after KeyUpdate (Raw Value)", ks.edhoc_exporter(s, new_exporter, 1, b"", 8)


TRACE_1_TITLES = [
    "G_X (Raw Value)",
    "G_Y (Raw Value)",
    "PK_R (Raw Value)",
    "PK_I (Raw Value)",
    "message_1 (CBOR Sequence)",
    "H(message_1) (Raw Value)",
    "G_XY (Raw Value) (ECDH shared secret)",
    "TH_2 (Raw Value)",
    "PRK_2e (Raw Value)",
    "PRK_3e2m (Raw Value)",
    "ID_CRED_R (CBOR Data Item)",
    "CRED_R (CBOR Data Item)",
    "context_2 (CBOR Sequence)",
    "info for MAC_2 (CBOR Sequence)",
    "MAC_2 (Raw Value)",
    "Message to be signed 2 (CBOR Data Item)",
    "Signature_or_MAC_2 (Raw Value)",
    "PLAINTEXT_2 (CBOR Sequence)",
    "info for KEYSTREAM_2 (CBOR Sequence)",
    "KEYSTREAM_2 (Raw Value)",
    "CIPHERTEXT_2 (Raw Value)",
    "TH_3 (Raw Value)",
    "PRK_4e3m (Raw Value)",
    "ID_CRED_I (CBOR Data Item)",
    "context_3 (CBOR Sequence)",
    "info for MAC_3 (CBOR Sequence)",
    "MAC_3 (Raw Value)",
    "Message to be signed 3 (CBOR Data Item)",
    "Signature_or_MAC_3 (Raw Value)",
    "PLAINTEXT_3 (CBOR Sequence)",
    "A_3 (CBOR Data Item)",
    "info for K_3 (CBOR Sequence)",
    "K_3 (Raw Value)",
    "info for IV_3 (CBOR Sequence)",
    "IV_3 (Raw Value)",
    "TH_4 (Raw Value)",
    "A_4 (CBOR Data Item)",
    "K_4 (Raw Value)",
    "IV_4 (Raw Value)",
    "info for PRK_out (CBOR Sequence)",
    "PRK_out (Raw Value)",
    "info for PRK_exporter (CBOR Sequence)",
    "PRK_exporter (Raw Value)",
    "info for OSCORE Master Secret (CBOR Sequence)",
    "OSCORE Master Secret (Raw Value)",
    "OSCORE Master Salt (Raw Value)",
    "PRK_out after KeyUpdate (Raw Value)",
    "PRK_exporter after KeyUpdate (Raw Value)",
    "OSCORE Master Secret after KeyUpdate (Raw Value)",
    "OSCORE Master Salt after KeyUpdate (Raw Value)",
    "H(message_1) (CBOR Data Item)",
    "Input to calculate TH_2 (CBOR Sequence)",
    "context_2 (CBOR byte string)",
    "message_2 (CBOR Sequence)",
    "Input to calculate TH_3 (CBOR Sequence)",
    "CIPHERTEXT_3 (Raw Value)",
    "message_3 (CBOR Sequence)",
    "Input to calculate TH_4 (CBOR Sequence)",
    "info for K_4 (CBOR Sequence)",
    "info for IV_4 (CBOR Sequence)",
    "CIPHERTEXT_4",
    "message_4 (CBOR Sequence)",
]


@pytest.fixture(scope="module")
def trace1_computed(traces: Traces) -> dict[str, bytes]:
    return dict(trace1_values(traces))


def test_trace1_table_covers_every_computed_value(trace1_computed: dict[str, bytes]) -> None:
    assert sorted(trace1_computed) == sorted(TRACE_1_TITLES)


@pytest.mark.parametrize("title", TRACE_1_TITLES)
def test_trace1_intermediate_value_matches_rfc9529(
    traces: Traces, trace1_computed: dict[str, bytes], title: str
) -> None:
    assert trace1_computed[title].hex() == traces.get(TRACE_1, title).hex()


def _trace1_endpoints(t: Traces) -> tuple[Initiator, Responder]:
    g: Callable[[str], bytes] = lambda title: t.get(TRACE_1, title)  # noqa: E731
    cred_r, cred_i = Credential.from_x509(g("CRED_R (Raw Value)")), Credential.from_x509(g("CRED_I (Raw Value)"))
    initiator = Initiator(
        method=Method.SIG_SIG,
        suites=[0],
        credential=LocalCredential.from_private_bytes(cred_i, g("SK_I (Raw Value)")),
        lookup_peer=lookup_in([cred_r]),
        verify_peer=_trust,
        ephemeral_key_source=lambda suite: g("X (Raw Value)"),
    )
    responder = Responder(
        methods={Method.SIG_SIG},
        suites=[0],
        credential=LocalCredential.from_private_bytes(cred_r, g("SK_R (Raw Value)")),
        lookup_peer=lookup_in([cred_i]),
        verify_peer=_trust,
        ephemeral_key_source=lambda suite: g("Y (Raw Value)"),
    )
    return initiator, responder


def test_trace1_state_machines_produce_the_rfc9529_messages_and_keys(traces: Traces) -> None:
    g: Callable[[str], bytes] = lambda title: traces.get(TRACE_1, title)  # noqa: E731
    initiator, responder = _trace1_endpoints(traces)
    m1 = initiator.create_message_1(c_i=g("C_I (Raw Value)"))
    assert m1.hex() == g("message_1 (CBOR Sequence)").hex()
    info1 = responder.process_message_1(m1)
    assert (info1.method, info1.suite, info1.c_i) == (Method.SIG_SIG, 0, b"\x2d")
    m2 = responder.create_message_2(c_r=g("C_R (Raw Value)"))
    assert m2.hex() == g("message_2 (CBOR Sequence)").hex()
    info2 = initiator.process_message_2(m2)
    assert info2.c_r == b"\x18" and info2.id_cred_r.x5t == (-15, bytes.fromhex("79f2a41b510c1f9b"))
    m3 = initiator.create_message_3()
    assert m3.hex() == g("message_3 (CBOR Sequence)").hex()
    responder.process_message_3(m3)
    m4 = responder.create_message_4()
    assert m4.hex() == g("message_4 (CBOR Sequence)").hex()
    assert initiator.process_message_4(m4) == ()
    for result in (initiator.result, responder.result):
        assert result.th_4 == g("TH_4 (Raw Value)")
        assert result.prk_out == g("PRK_out (Raw Value)")
        assert result.prk_exporter == g("PRK_exporter (Raw Value)")
        oscore = result.oscore_parameters()
        assert oscore.master_secret == g("OSCORE Master Secret (Raw Value)")
        assert oscore.master_salt == g("OSCORE Master Salt (Raw Value)")
        assert (oscore.aead_alg, oscore.hkdf_alg) == (10, -16)
        updated = result.key_update(g("context for KeyUpdate (Raw Value)"))
        assert updated.prk_out == g("PRK_out after KeyUpdate (Raw Value)")
        assert updated.oscore_parameters().master_salt == g("OSCORE Master Salt after KeyUpdate (Raw Value)")
    # Appendix A.1: the client (Initiator) sends with C_R, the server (Responder) with C_I.
    assert initiator.result.oscore_parameters().sender_id == g("Client's OSCORE Sender ID (Raw Value)")
    assert responder.result.oscore_parameters().sender_id == g("Server's OSCORE Sender ID (Raw Value)")
    assert initiator.state is InitiatorState.PERSISTED and responder.state is ResponderState.PERSISTED


# ------------------------------------------------------------------------------------------ trace 2


def _trace2_credentials(t: Traces) -> tuple[Credential, Credential]:
    return (
        Credential.from_ccs(t.get(TRACE_2, "CRED_R (CBOR Data Item)")),
        Credential.from_ccs(t.get(TRACE_2, "CRED_I (CBOR Data Item)")),
    )


def trace2_values(t: Traces) -> Iterator[tuple[str, bytes]]:
    g: Callable[..., bytes] = lambda title, sub=None: t.get(TRACE_2, title, sub)  # noqa: E731
    s = SUITE_2
    cred_r, cred_i = _trace2_credentials(t)
    x = EphemeralKey.from_private_bytes(s.dh_curve, g("X (Raw Value)", "message_1 (second"))
    y = EphemeralKey.from_private_bytes(s.dh_curve, g("Y (Raw Value)"))
    c_i, c_r = g("C_I (Raw Value)", "message_1 (second"), g("C_R (raw value)")
    yield "G_X (Raw Value)", x.public
    yield "G_Y (Raw Value)", y.public
    m1 = Message1(3, (6, 2), x.public, c_i).encode()
    yield "SUITES_I (CBOR Data Item)", m1[1:4]
    yield "message_1 (CBOR Sequence)", m1
    yield "H(message_1) (Raw Value)", hash_bytes(s, m1)
    yield "H(message_1) (CBOR Data Item)", encode_bstr(hash_bytes(s, m1))
    yield "Input to calculate TH_2 (CBOR Sequence)", encode_bstr(y.public) + encode_bstr(hash_bytes(s, m1))
    g_xy = x.exchange(y.public)
    yield "G_XY (Raw Value) (ECDH shared secret)", g_xy
    th2 = ks.th_2(s, y.public, m1)
    yield "TH_2 (Raw Value)", th2
    prk2e = ks.prk_2e(s, th2, g_xy)
    yield "PRK_2e (Raw Value)", prk2e
    yield "info for SALT_3e2m (CBOR Sequence)", kdf_info(1, th2, 32)
    yield "SALT_3e2m (Raw Value)", ks.salt_3e2m(s, prk2e, th2)
    g_rx = x.exchange_key(cred_r.public_key)
    assert g_rx == EphemeralKey.from_private_bytes(s.dh_curve, g("SK_R (Raw Value)")).exchange(x.public)
    yield "G_RX (Raw Value) (ECDH shared secret)", g_rx
    prk3e2m = ks.prk_3e2m(s, prk2e, th2, g_rx)
    yield "PRK_3e2m (Raw Value)", prk3e2m
    id_cred_r = IdCred.by_kid(b"\x32")
    yield "ID_CRED_R (CBOR Data Item)", id_cred_r.encoded
    context2 = ks.context_2(c_r, id_cred_r, th2, cred_r.cbor)
    yield "context_2 (CBOR Sequence)", context2
    yield "context_2 (CBOR byte string)", encode_bstr(context2)
    yield "info for MAC_2 (CBOR Sequence)", kdf_info(2, context2, 8)
    mac2 = ks.mac_2(s, prk3e2m, context2, s.mac_length)
    yield "MAC_2 (Raw Value)", mac2
    yield "Signature_or_MAC_2 (Raw Value)", mac2
    pt2 = Plaintext2(c_r, id_cred_r, mac2).encode()
    yield "PLAINTEXT_2 (CBOR Sequence)", pt2
    yield "info for KEYSTREAM_2 (CBOR Sequence)", kdf_info(0, th2, len(pt2))
    ks2 = ks.keystream_2(s, prk2e, th2, len(pt2))
    yield "KEYSTREAM_2 (Raw Value)", ks2
    ct2 = bytes(a ^ b for a, b in zip(pt2, ks2, strict=True))
    yield "CIPHERTEXT_2 (Raw Value)", ct2
    yield "message_2 (CBOR Sequence)", encode_bstr(y.public + ct2)
    yield "Input to calculate TH_3 (CBOR Sequence)", encode_bstr(th2) + pt2 + cred_r.cbor
    th3 = ks.th_3(s, th2, pt2, cred_r.cbor)
    yield "TH_3 (Raw Value)", th3
    yield "info for SALT_4e3m (CBOR Sequence)", kdf_info(5, th3, 32)
    yield "SALT_4e3m (Raw Value)", ks.salt_4e3m(s, prk3e2m, th3)
    g_iy = y.exchange_key(cred_i.public_key)
    assert g_iy == EphemeralKey.from_private_bytes(s.dh_curve, g("SK_I (Raw Value)")).exchange(y.public)
    yield "G_IY (Raw Value) (ECDH shared secret)", g_iy
    prk4e3m = ks.prk_4e3m(s, prk3e2m, th3, g_iy)
    yield "PRK_4e3m (Raw Value)", prk4e3m
    id_cred_i = IdCred.by_kid(b"\x2b")
    yield "ID_CRED_I (CBOR Data Item)", id_cred_i.encoded
    context3 = ks.context_3(id_cred_i, th3, cred_i.cbor)
    yield "context_3 (CBOR Sequence)", context3
    yield "info for MAC_3 (CBOR Sequence)", kdf_info(6, context3, 8)
    mac3 = ks.mac_3(s, prk4e3m, context3, s.mac_length)
    yield "MAC_3 (Raw Value)", mac3
    yield "Signature_or_MAC_3 (Raw Value)", mac3
    pt3 = Plaintext3(id_cred_i, mac3).encode()
    yield "PLAINTEXT_3 (CBOR Sequence)", pt3
    yield "A_3 (CBOR Data Item)", enc_structure(th3)
    yield "K_3 (Raw Value)", ks.k_3(s, prk3e2m, th3)
    yield "IV_3 (Raw Value)", ks.iv_3(s, prk3e2m, th3)
    yield from _message_3_and_4(s, prk3e2m, prk4e3m, th3, pt3, cred_i)
    th4 = ks.th_4(s, th3, pt3, cred_i.cbor)
    yield "TH_4 (Raw Value)", th4
    yield "A_4 (CBOR Data Item)", enc_structure(th4)
    yield "K_4 (Raw Value)", ks.k_4(s, prk4e3m, th4)
    yield "IV_4 (Raw Value)", ks.iv_4(s, prk4e3m, th4)
    prk_out = ks.prk_out(s, prk4e3m, th4)
    yield "PRK_out (Raw Value)", prk_out
    prk_exporter = ks.prk_exporter(s, prk_out)
    yield "PRK_exporter (Raw Value)", prk_exporter
    yield "info for OSCORE Master Salt (CBOR Sequence)", kdf_info(1, b"", 8)
    yield "OSCORE Master Secret (Raw Value)", ks.edhoc_exporter(s, prk_exporter, 0, b"", 16)
    yield "OSCORE Master Salt (Raw Value)", ks.edhoc_exporter(s, prk_exporter, 1, b"", 8)
    new_out = ks.edhoc_key_update(s, prk_out, g("context for KeyUpdate (Raw Value)"))
    yield "PRK_out after KeyUpdate (Raw Value)", new_out
    new_exporter = ks.prk_exporter(s, new_out)
    yield "PRK_exporter after KeyUpdate (Raw Value)", new_exporter
    yield "OSCORE Master Secret after KeyUpdate (Raw Value)", ks.edhoc_exporter(s, new_exporter, 0, b"", 16)
    yield "OSCORE Master Salt after KeyUpdate (Raw Value)", ks.edhoc_exporter(s, new_exporter, 1, b"", 8)


# (title, subsection) - subsection only where a title occurs twice (message_1 is sent twice in trace 2)
TRACE_2_TITLES = [
    ("G_X (Raw Value)", "message_1 (second"),
    ("G_Y (Raw Value)", None),
    ("SUITES_I (CBOR Data Item)", "message_1 (second"),
    ("message_1 (CBOR Sequence)", "message_1 (second"),
    ("H(message_1) (Raw Value)", None),
    ("G_XY (Raw Value) (ECDH shared secret)", None),
    ("TH_2 (Raw Value)", None),
    ("PRK_2e (Raw Value)", None),
    ("info for SALT_3e2m (CBOR Sequence)", None),
    ("SALT_3e2m (Raw Value)", None),
    ("G_RX (Raw Value) (ECDH shared secret)", None),
    ("PRK_3e2m (Raw Value)", None),
    ("ID_CRED_R (CBOR Data Item)", None),
    ("context_2 (CBOR Sequence)", None),
    ("info for MAC_2 (CBOR Sequence)", None),
    ("MAC_2 (Raw Value)", None),
    ("Signature_or_MAC_2 (Raw Value)", None),
    ("PLAINTEXT_2 (CBOR Sequence)", None),
    ("info for KEYSTREAM_2 (CBOR Sequence)", None),
    ("KEYSTREAM_2 (Raw Value)", None),
    ("CIPHERTEXT_2 (Raw Value)", None),
    ("TH_3 (Raw Value)", None),
    ("info for SALT_4e3m (CBOR Sequence)", None),
    ("SALT_4e3m (Raw Value)", None),
    ("G_IY (Raw Value) (ECDH shared secret)", None),
    ("PRK_4e3m (Raw Value)", None),
    ("ID_CRED_I (CBOR Data Item)", None),
    ("context_3 (CBOR Sequence)", None),
    ("info for MAC_3 (CBOR Sequence)", None),
    ("MAC_3 (Raw Value)", None),
    ("Signature_or_MAC_3 (Raw Value)", None),
    ("PLAINTEXT_3 (CBOR Sequence)", None),
    ("A_3 (CBOR Data Item)", None),
    ("K_3 (Raw Value)", None),
    ("IV_3 (Raw Value)", None),
    ("TH_4 (Raw Value)", None),
    ("A_4 (CBOR Data Item)", None),
    ("info for K_4 (CBOR Sequence)", None),
    ("K_4 (Raw Value)", None),
    ("IV_4 (Raw Value)", None),
    ("PRK_out (Raw Value)", None),
    ("PRK_exporter (Raw Value)", None),
    ("info for OSCORE Master Salt (CBOR Sequence)", None),
    ("OSCORE Master Secret (Raw Value)", None),
    ("OSCORE Master Salt (Raw Value)", None),
    ("PRK_out after KeyUpdate (Raw Value)", None),
    ("PRK_exporter after KeyUpdate (Raw Value)", None),
    ("OSCORE Master Secret after KeyUpdate (Raw Value)", None),
    ("OSCORE Master Salt after KeyUpdate (Raw Value)", None),
    ("H(message_1) (CBOR Data Item)", None),
    ("Input to calculate TH_2 (CBOR Sequence)", None),
    ("context_2 (CBOR byte string)", None),
    ("message_2 (CBOR Sequence)", None),
    ("Input to calculate TH_3 (CBOR Sequence)", None),
    ("CIPHERTEXT_3 (Raw Value)", None),
    ("message_3 (CBOR Sequence)", None),
    ("Input to calculate TH_4 (CBOR Sequence)", None),
    ("info for IV_4 (CBOR Sequence)", None),
    ("CIPHERTEXT_4", None),
    ("message_4 (CBOR Sequence)", None),
]


@pytest.fixture(scope="module")
def trace2_computed(traces: Traces) -> dict[str, bytes]:
    return dict(trace2_values(traces))


def test_trace2_table_covers_every_computed_value(trace2_computed: dict[str, bytes]) -> None:
    assert sorted(trace2_computed) == sorted(title for title, _ in TRACE_2_TITLES)


@pytest.mark.parametrize(("title", "subsection"), TRACE_2_TITLES)
def test_trace2_intermediate_value_matches_rfc9529(
    traces: Traces, trace2_computed: dict[str, bytes], title: str, subsection: str | None
) -> None:
    assert trace2_computed[title].hex() == traces.get(TRACE_2, title, subsection).hex()


def _trace2_responder(t: Traces) -> Responder:
    g: Callable[[str], bytes] = lambda title: t.get(TRACE_2, title)  # noqa: E731
    cred_r, cred_i = _trace2_credentials(t)
    return Responder(
        methods={Method.STATIC_STATIC},
        suites=[2],
        credential=LocalCredential.from_private_bytes(cred_r, g("SK_R (Raw Value)")),
        lookup_peer=lookup_in([cred_i]),
        verify_peer=_trust,
        ephemeral_key_source=lambda suite: g("Y (Raw Value)"),
    )


def _trace2_initiator(t: Traces, first_x: bytes | None = None, peer_suites: list[int] | None = None) -> Initiator:
    """The trace 2 Initiator: suites [6, 2]; an extra X25519 CCS makes suite 6 usable for method 3."""
    g: Callable[..., bytes] = lambda title, sub=None: t.get(TRACE_2, title, sub)  # noqa: E731
    cred_r, cred_i = _trace2_credentials(t)
    x25519_key = x25519.X25519PrivateKey.generate()
    suite6_cred = LocalCredential(Credential.from_ccs(make_ccs(x25519_key.public_key(), kid=b"\x06")), x25519_key)
    keys = iter([k for k in (first_x, g("X (Raw Value)", "message_1 (second")) if k is not None])
    return Initiator(
        method=Method.STATIC_STATIC,
        suites=[6, 2],
        peer_suites=peer_suites,
        credential=[suite6_cred, LocalCredential.from_private_bytes(cred_i, g("SK_I (Raw Value)"))],
        lookup_peer=lookup_in([cred_r]),
        verify_peer=_trust,
        ephemeral_key_source=lambda suite: next(keys),
    )


def test_trace2_negotiates_suite_6_then_2_and_produces_the_rfc9529_messages(traces: Traces) -> None:
    g: Callable[..., bytes] = lambda title, sub=None: traces.get(TRACE_2, title, sub)  # noqa: E731
    initiator = _trace2_initiator(traces, first_x=x25519.X25519PrivateKey.generate().private_bytes_raw())
    first = initiator.create_message_1(c_i=g("C_I (Raw Value)", "message_1 (first"))
    trace_first = g("message_1 (CBOR Sequence)", "message_1 (first")
    # RFC 9529 prints the first G_X as a P-256 x-coordinate although suite 6 uses X25519 (checked below), so
    # only METHOD, SUITES_I and C_I of the first message_1 can match.
    assert first[:4] == trace_first[:4] == bytes.fromhex("03065820") and first[-1:] == trace_first[-1:]
    p256_x = ec.derive_private_key(int.from_bytes(g("X (Raw Value)", "message_1 (first"), "big"), ec.SECP256R1())
    assert p256_x.public_key().public_numbers().x.to_bytes(32, "big") == g("G_X (Raw Value)", "message_1 (first")

    responder = _trace2_responder(traces)
    with pytest.raises(EdhocError) as rejected:
        responder.process_message_1(trace_first)
    assert rejected.value.err_code == ErrCode.WRONG_SELECTED_CIPHER_SUITE
    assert rejected.value.reply == g("error (CBOR Sequence)") == bytes.fromhex("0202")
    assert responder.state is ResponderState.ABORTED

    with pytest.raises(EdhocPeerError) as peer_error:
        initiator.process_message_2(g("error (CBOR Sequence)"))
    assert peer_error.value.suites_r == (2,)
    assert initiator.state is InitiatorState.START  # appendix I.1: back to START with SUITES_R remembered

    m1 = initiator.create_message_1(c_i=g("C_I (Raw Value)", "message_1 (second"))
    assert m1.hex() == g("message_1 (CBOR Sequence)", "message_1 (second").hex()
    responder = _trace2_responder(traces)
    info1 = responder.process_message_1(m1)
    assert (info1.suite, info1.c_i) == (2, b"\x37")
    m2 = responder.create_message_2(c_r=g("C_R (raw value)"))
    assert m2.hex() == g("message_2 (CBOR Sequence)").hex()
    info2 = initiator.process_message_2(m2)
    assert info2.id_cred_r.kid == b"\x32" and info2.id_cred_r.is_compact_kid
    m3 = initiator.create_message_3()
    assert m3.hex() == g("message_3 (CBOR Sequence)").hex()
    info3 = responder.process_message_3(m3)
    assert info3.id_cred_i.kid == b"\x2b"
    m4 = responder.create_message_4()
    assert m4.hex() == g("message_4 (CBOR Sequence)").hex()
    initiator.process_message_4(m4)
    for result in (initiator.result, responder.result):
        assert result.prk_out == g("PRK_out (Raw Value)")
        assert result.prk_exporter == g("PRK_exporter (Raw Value)")
        assert result.oscore_parameters().master_secret == g("OSCORE Master Secret (Raw Value)")
        assert result.oscore_parameters().master_salt == g("OSCORE Master Salt (Raw Value)")
        updated = result.key_update(g("context for KeyUpdate (Raw Value)"))
        assert updated.prk_exporter == g("PRK_exporter after KeyUpdate (Raw Value)")
        assert updated.oscore_parameters().master_secret == g("OSCORE Master Secret after KeyUpdate (Raw Value)")
    assert initiator.result.oscore_parameters().sender_id == g("Client's OSCORE Sender ID (Raw Value)")
    assert responder.result.oscore_parameters().sender_id == g("Server's OSCORE Sender ID (Raw Value)")


# Trace 2 values, hard-coded so that this test proves the handshake without ../shared.
H = bytes.fromhex
T2_X = H("368ec1f69aeb659ba37d5a8d45b21bdc0299dceaa8ef235f3ca42ce3530f9525")
T2_Y = H("e2f4126777205e853b437d6eaca1e1f753cdcc3e2c69fa884b0a1a640977e418")
T2_SK_R = H("72cc4761dbd4c78f758931aa589d348d1ef874a7e303ede2f140dcf3e6aa4aac")
T2_SK_I = H("fb13adeb6518cee5f88417660841142e830a81fe334380a953406a1305e8706b")
T2_CRED_R = H(
    "a2026b6578616d706c652e65647508a101a501020241322001215820bbc34960526ea4d32e940cad2a234148ddc217"
    "91a12afbcbac93622046dd44f02258204519e257236b2a0ce2023f0931f1f386ca7afda64fcde0108c224c51eabf6072"
)
T2_CRED_I = H(
    "a2027734322d35302d33312d46462d45462d33372d33322d333908a101a5010202412b2001215820ac75e9ece3e50b"
    "fc8ed60399889522405c47bf16df96660a41298cb4307f7eb62258206e5de611388a4b8a8211334ac7d37ecb52a387"
    "d257e6db3c2a93df21ff3affc8"
)
T2_MESSAGE_1 = H("0382060258208af6f430ebe18d34184017a9a11bf511c8dff8f834730b96c1b7c8dbca2fc3b637")
T2_MESSAGE_2 = H("582b419701d7f00a26c2dc587a36dd752549f33763c893422c8ea0f955a13a4ff5d59862a1eef9e0e7e1886fcd")
T2_MESSAGE_3 = H("52e562097bc417dd5919485ac7891ffd90a9fc")
T2_MESSAGE_4 = H("4828c966b7ca304f83")
T2_PRK_OUT = H("2c71afc1a9338a940bb3529ca734b886f30d1aba0b4dc51beeaeabdfea9ecbf8")
T2_MASTER_SECRET = H("f9868f6a3aca78a05d1485b35030b162")
T2_MASTER_SALT = H("ada24c7dbfc85eeb")


def test_trace2_reproduced_from_hardcoded_values() -> None:
    cred_r, cred_i = Credential.from_ccs(T2_CRED_R), Credential.from_ccs(T2_CRED_I)
    x25519_key = x25519.X25519PrivateKey.generate()
    suite6_cred = LocalCredential(Credential.from_ccs(make_ccs(x25519_key.public_key(), kid=b"\x06")), x25519_key)
    initiator = Initiator(
        method=3,
        suites=[6, 2],
        peer_suites=[2],
        credential=[suite6_cred, LocalCredential.from_private_bytes(cred_i, T2_SK_I)],
        lookup_peer=lookup_in([cred_r]),
        verify_peer=_trust,
        ephemeral_key_source=lambda suite: T2_X,
    )
    responder = Responder(
        methods=[3],
        suites=[2],
        credential=LocalCredential.from_private_bytes(cred_r, T2_SK_R),
        lookup_peer=lookup_in([cred_i]),
        verify_peer=_trust,
        ephemeral_key_source=lambda suite: T2_Y,
    )
    assert initiator.create_message_1(c_i=b"\x37") == T2_MESSAGE_1
    responder.process_message_1(T2_MESSAGE_1)
    assert responder.create_message_2(c_r=b"\x27") == T2_MESSAGE_2
    initiator.process_message_2(T2_MESSAGE_2)
    assert initiator.create_message_3() == T2_MESSAGE_3
    responder.process_message_3(T2_MESSAGE_3)
    assert responder.create_message_4() == T2_MESSAGE_4
    initiator.process_message_4(T2_MESSAGE_4)
    for result in (initiator.result, responder.result):
        oscore = result.oscore_parameters()
        assert (result.prk_out, oscore.master_secret, oscore.master_salt) == (
            T2_PRK_OUT,
            T2_MASTER_SECRET,
            T2_MASTER_SALT,
        )
    assert initiator.result.oscore_parameters().sender_id == b"\x27"
    assert initiator.result.oscore_parameters().recipient_id == b"\x37"


# ------------------------------------------------------------------------------------------ invalid traces


def _invalid(t: Traces, subsection: str) -> bytes:
    [value] = t.in_subsection(INVALID, subsection)
    return value.data


def _responder(suites: list[int], method: int = 3) -> Responder:
    if suites == [0]:
        key0 = x25519.X25519PrivateKey.generate()
        cred = LocalCredential(Credential.from_ccs(make_ccs(key0.public_key(), kid=b"\x01")), key0)
    else:
        curve = ec.SECP384R1() if suites == [24] else ec.SECP256R1()
        key = ec.generate_private_key(curve)
        cred = LocalCredential(Credential.from_ccs(make_ccs(key.public_key(), kid=b"\x01")), key)
    return Responder(methods=[method], suites=suites, credential=cred, verify_peer=_trust)


def _assert_rejected_message_1(data: bytes, suites: list[int], err_code: int = ErrCode.UNSPECIFIED) -> str:
    responder = _responder(suites)
    with pytest.raises(EdhocError) as rejected:
        responder.process_message_1(data)
    assert rejected.value.err_code == err_code
    assert rejected.value.reply is not None
    assert ErrorMessage.decode(rejected.value.reply).err_code == err_code
    assert responder.state is ResponderState.ABORTED
    return rejected.value.reason


@pytest.mark.parametrize(
    ("subsection", "suites", "why"),
    [
        ("Surplus array encoding of message", [2], "fewer than four elements"),
        ("Surplus bstr encoding of connection identifier", [2], "must be encoded as a CBOR integer"),
        ("Surplus array encoding of ciphersuite", [2], "at least two elements"),
        ("Text string encoding of ephemeral key", [2], "G_X is not a byte string"),
        ("Error in length of ephemeral key", [24], "must be 48 bytes"),
        ("Error in elliptic curve representation", [2], "not smaller than the field prime"),
        ("Error in elliptic curve point", [2], "not on the curve"),
        ("Curve point of low order", [0], "ECDH"),
        ("Error in elliptic curve encoding", [2], "must be 32 bytes"),
        ("Unnecessary long encoding", [2], "shortest form"),
        ("Indefinite-length array encoding", [2], "indefinite length"),
    ],
)
def test_invalid_trace_message_1_is_rejected_with_an_error_reply(
    traces: Traces, subsection: str, suites: list[int], why: str
) -> None:
    reason = _assert_rejected_message_1(_invalid(traces, subsection), suites)
    assert why in reason


def test_invalid_trace_p384_key_length_is_a_wrong_suite_for_a_p256_responder(traces: Traces) -> None:
    # SUITES_I = [2, 24] selects 24 although the Responder supports the more preferred suite 2.
    data = _invalid(traces, "Error in length of ephemeral key")
    _assert_rejected_message_1(data, [2], ErrCode.WRONG_SELECTED_CIPHER_SUITE)


def _trace2_waiting_initiator(t: Traces) -> Initiator:
    initiator = _trace2_initiator(t, peer_suites=[2])
    assert initiator.create_message_1(c_i=b"\x37") == t.get(TRACE_2, "message_1 (CBOR Sequence)", "message_1 (second")
    return initiator


def _message_2_with_plaintext(t: Traces, plaintext_2: bytes) -> bytes:
    """Encrypt an arbitrary PLAINTEXT_2 with the trace 2 keystream so the Initiator gets to decode it."""
    th2, prk2e = t.get(TRACE_2, "TH_2 (Raw Value)"), t.get(TRACE_2, "PRK_2e (Raw Value)")
    keystream = ks.keystream_2(SUITE_2, prk2e, th2, len(plaintext_2))
    ciphertext = bytes(a ^ b for a, b in zip(plaintext_2, keystream, strict=True))
    return encode_bstr(t.get(TRACE_2, "G_Y (Raw Value)") + ciphertext)


def test_message_2_encrypted_with_the_trace_keystream_is_accepted(traces: Traces) -> None:
    """Control for the PLAINTEXT_2 tests below: the genuine plaintext passes through the same path."""
    initiator = _trace2_waiting_initiator(traces)
    message_2 = _message_2_with_plaintext(traces, traces.get(TRACE_2, "PLAINTEXT_2 (CBOR Sequence)"))
    assert message_2 == traces.get(TRACE_2, "message_2 (CBOR Sequence)")
    assert initiator.process_message_2(message_2).c_r == b"\x27"


@pytest.mark.parametrize(
    ("subsection", "why"),
    [
        ("Surplus map encoding of ID_CRED field", "compact kid encoding"),
        ("Surplus bstr encoding of ID_CRED field", "must be encoded as a CBOR integer"),
        ("Error in length of MAC", "wrong length"),
    ],
)
def test_invalid_trace_plaintext_2_is_rejected_by_the_initiator(traces: Traces, subsection: str, why: str) -> None:
    initiator = _trace2_waiting_initiator(traces)
    with pytest.raises(EdhocError) as rejected:
        initiator.process_message_2(_message_2_with_plaintext(traces, _invalid(traces, subsection)))
    assert why in rejected.value.reason
    assert rejected.value.reply is not None and ErrorMessage.decode(rejected.value.reply).err_code == 1
    assert initiator.state is InitiatorState.ABORTED


def test_invalid_trace_plaintext_2_encodings_fail_to_decode_but_their_compact_forms_decode(traces: Traces) -> None:
    for subsection, compact in [
        ("Surplus map encoding of ID_CRED field", "27423210"),
        ("Surplus bstr encoding of ID_CRED field", "2732"),
    ]:
        invalid = _invalid(traces, subsection)
        with pytest.raises(CborError):
            Plaintext2.decode(invalid)
        mac = invalid[-9:]  # 48 || 8-byte MAC
        assert Plaintext2.decode(bytes.fromhex(compact) + mac).id_cred_r.is_compact_kid


def test_invalid_trace_message_2_with_two_sequence_elements_is_rejected(traces: Traces) -> None:
    initiator = _trace2_waiting_initiator(traces)
    with pytest.raises(EdhocError) as rejected:
        initiator.process_message_2(_invalid(traces, "Wrong number of CBOR sequence elements"))
    assert "exactly one CBOR data item" in rejected.value.reason
    assert initiator.state is InitiatorState.ABORTED


def test_every_invalid_trace_block_is_covered(traces: Traces) -> None:
    covered = {
        "Surplus array encoding of message",
        "Surplus bstr encoding of connection identifier",
        "Surplus array encoding of ciphersuite",
        "Text string encoding of ephemeral key",
        "Wrong number of CBOR sequence elements",
        "Surplus map encoding of ID_CRED field",
        "Surplus bstr encoding of ID_CRED field",
        "Error in length of ephemeral key",
        "Error in elliptic curve representation",
        "Error in elliptic curve point",
        "Curve point of low order",
        "Error in length of MAC",
        "Error in elliptic curve encoding",
        "Unnecessary long encoding",
        "Indefinite-length array encoding",
    }
    assert {v.subsection for v in traces.values if v.section == INVALID} == covered


def test_trace_decoders_raise_only_protocol_errors_on_invalid_traces(traces: Traces) -> None:
    for value in traces.values:
        if value.section != INVALID:
            continue
        for decoder in (Message1.decode, Plaintext2.decode):
            with contextlib.suppress(ProtocolError):
                decoder(value.data)
