"""SPAKE2+ (RFC 9383), suite P256-SHA256-HKDF-SHA256-HMAC-SHA256: the augmented PAKE that authenticates the first
contact with a device from the passcode printed on it (as Matter's PASE does), before certificates are exchanged.

Roles as in the RFC: the **prover** (the controller, who is given the passcode) and the **verifier** (the device,
which stores only the registration record ``(w0, L)``, never the passcode)::

    w0, w1 = derive_w0_w1(passcode, salt, iterations, id_prover, id_verifier)   # the controller
    record = registration_record(w0, w1)                                         # made once for the device
    prover = Prover(context, id_prover, id_verifier, w0, w1)
    verifier = Verifier(context, id_prover, id_verifier, record.w0, record.L)
    share_p = prover.start()                  # -> device
    share_v, confirm_v = verifier.respond(share_p)    # -> controller
    confirm_p = prover.finish(share_v, confirm_v)     # -> device (raises if the device's confirmation is wrong)
    verifier.confirm(confirm_p)               # raises if the controller's confirmation is wrong
    prover.shared_key == verifier.shared_key  # K_shared

The group arithmetic is plain Python over P-256 (affine coordinates, modular inverses by ``pow``); the cofactor is 1.
Points travel uncompressed (65 bytes). Every received share is checked to be on the curve and not the identity.
``RFC 9383`` appendix C's vectors are reproduced byte for byte (``tests/secure/test_spake2plus.py``), with ``x`` and
``y`` injected.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass

from secure.errors import ConfirmationError, ProtocolError, SecureUsageError

__all__ = [
    "ConfirmationError",
    "Prover",
    "RegistrationRecord",
    "Verifier",
    "derive_w0_w1",
    "registration_record",
]

# P-256 (SEC 2 / FIPS 186-4)
_P = 0xFFFFFFFF00000001000000000000000000000000FFFFFFFFFFFFFFFFFFFFFFFF
_A = _P - 3
_B = 0x5AC635D8AA3A93E7B3EBBD55769886BC651D06B0CC53B0F63BCE3C3E27D2604B
_N = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551
_G = (
    0x6B17D1F2E12C4247F8BCE6E563A440F277037D812DEB33A0F4A13945D898C296,
    0x4FE342E2FE1A7F9B8EE7EB4A7C0F9E162BCE33576B315ECECBB6406837BF51F5,
)
_Point = tuple[int, int] | None  # None: the point at infinity

# RFC 9383 section 4: the fixed points M and N of P-256 (compressed SEC1).
_M_BYTES = bytes.fromhex("02886e2f97ace46e55ba9dd7242579f2993b64e16ef3dcab95afd497333d8fa12f")
_N_BYTES = bytes.fromhex("03d8bbd6c639c62937b04d997f38c3770719c629d7014d49a24b4f98baa1292b49")


def _add(p: _Point, q: _Point) -> _Point:
    if p is None:
        return q
    if q is None:
        return p
    (x1, y1), (x2, y2) = p, q
    if x1 == x2:
        if (y1 + y2) % _P == 0:
            return None
        slope = (3 * x1 * x1 + _A) * pow(2 * y1, -1, _P) % _P
    else:
        slope = (y2 - y1) * pow(x2 - x1, -1, _P) % _P
    x3 = (slope * slope - x1 - x2) % _P
    return x3, (slope * (x1 - x3) - y1) % _P


def _neg(p: _Point) -> _Point:
    return None if p is None else (p[0], (-p[1]) % _P)


def _mul(k: int, p: _Point) -> _Point:
    k %= _N
    result: _Point = None
    addend = p
    while k:
        if k & 1:
            result = _add(result, addend)
        addend = _add(addend, addend)
        k >>= 1
    return result


def _on_curve(p: tuple[int, int]) -> bool:
    x, y = p
    return 0 <= x < _P and 0 <= y < _P and (y * y - (x * x * x + _A * x + _B)) % _P == 0


def _decode(data: bytes) -> tuple[int, int]:
    """A SEC1 point (compressed or uncompressed) on P-256; :class:`ProtocolError` otherwise."""
    if len(data) == 65 and data[0] == 4:
        point = (int.from_bytes(data[1:33], "big"), int.from_bytes(data[33:], "big"))
    elif len(data) == 33 and data[0] in (2, 3):
        x = int.from_bytes(data[1:], "big")
        if x >= _P:
            raise ProtocolError("SPAKE2+ share is not a P-256 point")
        y = pow((x * x * x + _A * x + _B) % _P, (_P + 1) // 4, _P)
        if (y & 1) != (data[0] & 1):
            y = _P - y
        point = (x, y)
    else:
        raise ProtocolError("SPAKE2+ share is not an encoded P-256 point")
    if not _on_curve(point):
        raise ProtocolError("SPAKE2+ share is not on the curve")
    return point


def _encode(p: _Point) -> bytes:
    if p is None:
        raise ProtocolError("SPAKE2+ computed the identity")
    return b"\x04" + p[0].to_bytes(32, "big") + p[1].to_bytes(32, "big")


_M = _decode(_M_BYTES)
_N_POINT = _decode(_N_BYTES)


def _len(data: bytes) -> bytes:
    return len(data).to_bytes(8, "little") + data


def _scalar(value: int | bytes) -> int:
    k = int.from_bytes(value, "big") if isinstance(value, bytes) else value
    if not 0 < k < _N:
        raise SecureUsageError("a SPAKE2+ scalar lies in 1..n-1")
    return k


def _hkdf(key: bytes, info: bytes, length: int) -> bytes:
    """HKDF-SHA256 with an empty salt (RFC 5869)."""
    prk = hmac.new(b"\x00" * 32, key, hashlib.sha256).digest()
    out, block, counter = b"", b"", 1
    while len(out) < length:
        block = hmac.new(prk, block + info + bytes((counter,)), hashlib.sha256).digest()
        out += block
        counter += 1
    return out[:length]


def derive_w0_w1(
    passcode: str | bytes, salt: bytes, iterations: int, id_prover: bytes = b"", id_verifier: bytes = b""
) -> tuple[int, int]:
    """``w0, w1`` from the passcode (RFC 9383 section 3.2, PBKDF = PBKDF2-HMAC-SHA256): 40 bytes each, reduced mod n."""
    pw = passcode.encode() if isinstance(passcode, str) else passcode
    if iterations < 1000 or len(salt) < 16:
        raise SecureUsageError("SPAKE2+ PBKDF needs at least 1000 iterations and a 16-byte salt")
    material = _len(pw) + _len(id_prover) + _len(id_verifier)
    output = hashlib.pbkdf2_hmac("sha256", material, salt, iterations, 80)
    w0 = int.from_bytes(output[:40], "big") % _N
    w1 = int.from_bytes(output[40:], "big") % _N
    if not (w0 and w1):
        raise SecureUsageError("degenerate SPAKE2+ secret; use another salt")
    return w0, w1


@dataclass(frozen=True)
class RegistrationRecord:
    """What the device (verifier) stores: ``w0`` and ``L = w1*P`` (not the passcode, not ``w1``)."""

    w0: int
    L: bytes


def registration_record(w0: int, w1: int) -> RegistrationRecord:
    return RegistrationRecord(_scalar(w0), _encode(_mul(_scalar(w1), _G)))


class _Party:
    def __init__(self, context: bytes, id_prover: bytes, id_verifier: bytes, w0: int) -> None:
        self.context = context
        self.id_prover = id_prover
        self.id_verifier = id_verifier
        self.w0 = _scalar(w0)
        self.share_p = b""
        self.share_v = b""
        self.transcript = b""
        self.k_main = b""
        self.k_confirm_p = b""
        self.k_confirm_v = b""
        self.shared_key = b""
        self.z = b""  # the shared points Z and V, encoded (for test vectors; secret)
        self.v = b""

    def _schedule(self, z: _Point, v: _Point) -> None:
        tt = b"".join(
            (
                _len(self.context),
                _len(self.id_prover),
                _len(self.id_verifier),
                _len(_encode(_M)),
                _len(_encode(_N_POINT)),
                _len(self.share_p),
                _len(self.share_v),
                _len(_encode(z)),
                _len(_encode(v)),
                _len(self.w0.to_bytes(32, "big")),
            )
        )
        self.transcript = tt
        self.z, self.v = _encode(z), _encode(v)
        self.k_main = hashlib.sha256(tt).digest()
        keys = _hkdf(self.k_main, b"ConfirmationKeys", 64)
        self.k_confirm_p, self.k_confirm_v = keys[:32], keys[32:]
        self.shared_key = _hkdf(self.k_main, b"SharedKey", 32)


class Prover(_Party):
    """The side that knows the passcode (the controller)."""

    def __init__(self, context: bytes, id_prover: bytes, id_verifier: bytes, w0: int, w1: int) -> None:
        super().__init__(context, id_prover, id_verifier, w0)
        self.w1 = _scalar(w1)
        self._x = 0
        self._done = False

    def start(self, x: int | None = None) -> bytes:
        """``shareP = x*P + w0*M`` (``x`` random unless given, for test vectors)."""
        self._x = _scalar(x if x is not None else secrets.randbelow(_N - 1) + 1)
        self.share_p = _encode(_add(_mul(self._x, _G), _mul(self.w0, _M)))
        return self.share_p

    def finish(self, share_v: bytes, confirm_v: bytes | None = None) -> bytes:
        """Take the device's share (and its confirmation, checked when given): ``confirmP`` to send back."""
        if not self._x or self._done:
            raise SecureUsageError("SPAKE2+ prover: start() first, finish() once")
        self._done = True
        y_point = _decode(share_v)
        self.share_v = _encode(y_point)
        unmasked = _add(y_point, _neg(_mul(self.w0, _N_POINT)))
        if unmasked is None:
            raise ProtocolError("SPAKE2+ share cancels the password mask")
        self._schedule(_mul(self._x, unmasked), _mul(self.w1, unmasked))
        if confirm_v is not None:
            self.check(confirm_v)
        return self.confirm_p

    @property
    def confirm_p(self) -> bytes:
        return hmac.new(self.k_confirm_p, self.share_v, hashlib.sha256).digest()

    def check(self, confirm_v: bytes) -> None:
        expected = hmac.new(self.k_confirm_v, self.share_p, hashlib.sha256).digest()
        if not hmac.compare_digest(expected, confirm_v):
            raise ConfirmationError("the device's SPAKE2+ confirmation does not verify (wrong setup code?)")


class Verifier(_Party):
    """The side that holds the registration record (the device)."""

    def __init__(self, context: bytes, id_prover: bytes, id_verifier: bytes, w0: int, L: bytes) -> None:
        super().__init__(context, id_prover, id_verifier, w0)
        self._l = _decode(L)
        self._done = False

    def respond(self, share_p: bytes, y: int | None = None) -> tuple[bytes, bytes]:
        """Take the controller's share: ``(shareV, confirmV)`` to send back."""
        if self._done:
            raise SecureUsageError("SPAKE2+ verifier: respond() once")
        self._done = True
        x_point = _decode(share_p)
        self.share_p = _encode(x_point)
        scalar = _scalar(y if y is not None else secrets.randbelow(_N - 1) + 1)
        self.share_v = _encode(_add(_mul(scalar, _G), _mul(self.w0, _N_POINT)))
        unmasked = _add(x_point, _neg(_mul(self.w0, _M)))
        if unmasked is None:
            raise ProtocolError("SPAKE2+ share cancels the password mask")
        self._schedule(_mul(scalar, unmasked), _mul(scalar, self._l))
        return self.share_v, hmac.new(self.k_confirm_v, self.share_p, hashlib.sha256).digest()

    def confirm(self, confirm_p: bytes) -> None:
        """Check the controller's confirmation; :class:`ConfirmationError` when it does not verify."""
        expected = hmac.new(self.k_confirm_p, self.share_v, hashlib.sha256).digest()
        if not hmac.compare_digest(expected, confirm_p):
            raise ConfirmationError("the controller's SPAKE2+ confirmation does not verify (wrong setup code)")
