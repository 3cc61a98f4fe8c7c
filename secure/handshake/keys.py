"""The EDHOC key schedule (RFC 9528 section 4, figure 6, appendices A.1, G and H) as pure functions.

Every value the traces of RFC 9529 print can be recomputed here from its inputs, which is how the tests check
the intermediate values one by one. :mod:`secure.handshake.edhoc` drives these functions from its state machines.
"""

from __future__ import annotations

from collections.abc import Iterable

from secure.handshake.cbor import encode_bstr
from secure.handshake.cose import IdCred
from secure.handshake.messages import EadItem, encode_cid, encode_ead
from secure.handshake.suites import CipherSuite, edhoc_extract, edhoc_kdf, hash_bytes

__all__ = [
    "context_2",
    "context_3",
    "edhoc_exporter",
    "edhoc_key_update",
    "iv_3",
    "iv_4",
    "k_3",
    "k_4",
    "keystream_2",
    "mac_2",
    "mac_3",
    "prk_2e",
    "prk_3e2m",
    "prk_4e3m",
    "prk_exporter",
    "prk_out",
    "salt_3e2m",
    "salt_4e3m",
    "th_2",
    "th_3",
    "th_4",
]

# info_label values of figure 6 and appendix H
_KEYSTREAM_2, _SALT_3E2M, _MAC_2, _K_3, _IV_3, _SALT_4E3M, _MAC_3 = 0, 1, 2, 3, 4, 5, 6
_PRK_OUT, _K_4, _IV_4, _PRK_EXPORTER, _KEY_UPDATE = 7, 8, 9, 10, 11


def th_2(suite: CipherSuite, g_y: bytes, message_1: bytes) -> bytes:
    """TH_2 = H(G_Y, H(message_1))."""
    return hash_bytes(suite, encode_bstr(g_y) + encode_bstr(hash_bytes(suite, message_1)))


def th_3(suite: CipherSuite, th2: bytes, plaintext_2: bytes, cred_r: bytes) -> bytes:
    """TH_3 = H(TH_2, PLAINTEXT_2, CRED_R) (``cred_r`` is the CBOR item of CRED_R)."""
    return hash_bytes(suite, encode_bstr(th2) + plaintext_2 + cred_r)


def th_4(suite: CipherSuite, th3: bytes, plaintext_3: bytes, cred_i: bytes) -> bytes:
    """TH_4 = H(TH_3, PLAINTEXT_3, CRED_I)."""
    return hash_bytes(suite, encode_bstr(th3) + plaintext_3 + cred_i)


def prk_2e(suite: CipherSuite, th2: bytes, g_xy: bytes) -> bytes:
    """PRK_2e = EDHOC_Extract(TH_2, G_XY)."""
    return edhoc_extract(suite, th2, g_xy)


def salt_3e2m(suite: CipherSuite, prk2e: bytes, th2: bytes) -> bytes:
    return edhoc_kdf(suite, prk2e, _SALT_3E2M, th2, suite.hash_length)


def prk_3e2m(suite: CipherSuite, prk2e: bytes, th2: bytes, g_rx: bytes | None) -> bytes:
    """PRK_3e2m = EDHOC_Extract(SALT_3e2m, G_RX) if R authenticates with static DH, else PRK_2e."""
    if g_rx is None:
        return prk2e
    return edhoc_extract(suite, salt_3e2m(suite, prk2e, th2), g_rx)


def salt_4e3m(suite: CipherSuite, prk3e2m: bytes, th3: bytes) -> bytes:
    return edhoc_kdf(suite, prk3e2m, _SALT_4E3M, th3, suite.hash_length)


def prk_4e3m(suite: CipherSuite, prk3e2m: bytes, th3: bytes, g_iy: bytes | None) -> bytes:
    """PRK_4e3m = EDHOC_Extract(SALT_4e3m, G_IY) if I authenticates with static DH, else PRK_3e2m."""
    if g_iy is None:
        return prk3e2m
    return edhoc_extract(suite, salt_4e3m(suite, prk3e2m, th3), g_iy)


def keystream_2(suite: CipherSuite, prk2e: bytes, th2: bytes, length: int) -> bytes:
    """KEYSTREAM_2, extended with negative info labels beyond 255 * hash_length bytes (appendix G)."""
    part = 255 * suite.hash_length
    out = bytearray()
    index = 0
    while len(out) < length:
        take = min(part, length - len(out))
        out += edhoc_kdf(suite, prk2e, -index if index else _KEYSTREAM_2, th2, take)
        index += 1
    return bytes(out)


def context_2(c_r: bytes, id_cred_r: IdCred, th2: bytes, cred_r: bytes, ead_2: Iterable[EadItem] = ()) -> bytes:
    """context_2 = << C_R, ID_CRED_R, TH_2, CRED_R, ? EAD_2 >> as the inner CBOR sequence."""
    return encode_cid(c_r) + id_cred_r.encoded + encode_bstr(th2) + cred_r + encode_ead(ead_2)


def mac_2(suite: CipherSuite, prk3e2m: bytes, context2: bytes, length: int) -> bytes:
    return edhoc_kdf(suite, prk3e2m, _MAC_2, context2, length)


def context_3(id_cred_i: IdCred, th3: bytes, cred_i: bytes, ead_3: Iterable[EadItem] = ()) -> bytes:
    """context_3 = << ID_CRED_I, TH_3, CRED_I, ? EAD_3 >> as the inner CBOR sequence."""
    return id_cred_i.encoded + encode_bstr(th3) + cred_i + encode_ead(ead_3)


def mac_3(suite: CipherSuite, prk4e3m: bytes, context3: bytes, length: int) -> bytes:
    return edhoc_kdf(suite, prk4e3m, _MAC_3, context3, length)


def k_3(suite: CipherSuite, prk3e2m: bytes, th3: bytes) -> bytes:
    return edhoc_kdf(suite, prk3e2m, _K_3, th3, suite.key_length)


def iv_3(suite: CipherSuite, prk3e2m: bytes, th3: bytes) -> bytes:
    return edhoc_kdf(suite, prk3e2m, _IV_3, th3, suite.iv_length)


def k_4(suite: CipherSuite, prk4e3m: bytes, th4: bytes) -> bytes:
    return edhoc_kdf(suite, prk4e3m, _K_4, th4, suite.key_length)


def iv_4(suite: CipherSuite, prk4e3m: bytes, th4: bytes) -> bytes:
    return edhoc_kdf(suite, prk4e3m, _IV_4, th4, suite.iv_length)


def prk_out(suite: CipherSuite, prk4e3m: bytes, th4: bytes) -> bytes:
    return edhoc_kdf(suite, prk4e3m, _PRK_OUT, th4, suite.hash_length)


def prk_exporter(suite: CipherSuite, prkout: bytes) -> bytes:
    return edhoc_kdf(suite, prkout, _PRK_EXPORTER, b"", suite.hash_length)


def edhoc_exporter(suite: CipherSuite, prkexporter: bytes, label: int, context: bytes, length: int) -> bytes:
    """EDHOC_Exporter(exporter_label, context, length) = EDHOC_KDF(PRK_exporter, label, context, length)."""
    return edhoc_kdf(suite, prkexporter, label, context, length)


def edhoc_key_update(suite: CipherSuite, prkout: bytes, context: bytes) -> bytes:
    """New PRK_out = EDHOC_KDF(old PRK_out, 11, context, hash_length) (appendix H)."""
    return edhoc_kdf(suite, prkout, _KEY_UPDATE, context, suite.hash_length)
