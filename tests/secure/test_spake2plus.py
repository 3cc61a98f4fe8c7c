"""SPAKE2+ (RFC 9383) reproduced byte for byte from its appendix C vector, the setup code, and onboarding: a
pairing from the code printed on a device that pins each side's certificate, after which EDHOC sessions work
over real UDP on loopback; a wrong code is refused, with a limit on attempts."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from session_support import BATTERY, CONTROLLER_ID, DEVICE_ID, certificate_sides, secured_pair, site, wall

from secure.errors import ProtocolError, SecureUsageError
from secure.handshake.spake2plus import ConfirmationError, Prover, Verifier, derive_w0_w1, registration_record
from secure.trust import credentials as cred
from secure.trust.onboarding import (
    PairingController,
    PairingDevice,
    PairingLockedError,
    SetupCode,
    discriminator_of,
)

# RFC 9383 appendix C, P256-SHA256-HKDF-SHA256-HMAC-SHA256 (inputs and every output).
V = {
    "context": b"SPAKE2+-P256-SHA256-HKDF-SHA256-HMAC-SHA256 Test Vectors",
    "w0": 0xBB8E1BBCF3C48F62C08DB243652AE55D3E5586053FCA77102994F23AD95491B3,
    "w1": 0x7E945F34D78785B8A3EF44D0DF5A1A97D6B3B460409A345CA7830387A74B1DBA,
    "x": 0xD1232C8E8693D02368976C174E2088851B8365D0D79A9EEE709C6A05A2FAD539,
    "y": 0x717A72348A182085109C8D3917D6C43D59B224DC6A7FC4F0483232FA6516D8B3,
    "L": "04eb7c9db3d9a9eb1f8adab81b5794c1f13ae3e225efbe91ea487425854c7fc00f"
    "00bfedcbd09b2400142d40a14f2064ef31dfaa903b91d1faea7093d835966efd",
    "X": "04ef3bd051bf78a2234ec0df197f7828060fe9856503579bb1733009042c15c0c1"
    "de127727f418b5966afadfdd95a6e4591d171056b333dab97a79c7193e341727",
    "Y": "04c0f65da0d11927bdf5d560c69e1d7d939a05b0e88291887d679fcadea75810fb"
    "5cc1ca7494db39e82ff2f50665255d76173e09986ab46742c798a9a68437b048",
    "Z": "04bbfce7dd7f277819c8da21544afb7964705569bdf12fb92aa388059408d50091"
    "a0c5f1d3127f56813b5337f9e4e67e2ca633117a4fbd559946ab474356c41839",
    "V": "0458bf27c6bca011c9ce1930e8984a797a3419797b936629a5a937cf2f11c8b951"
    "4b82b993da8a46e664f23db7c01edc87faa530db01c2ee405230b18997f16b68",
    "K_main": "4c59e1ccf2cfb961aa31bd9434478a1089b56cd11542f53d3576fb6c2a438a29",
    "K_confirmP": "871ae3f7b78445e34438fb284504240239031c39d80ac23eb5ab9be5ad6db58a",
    "K_confirmV": "ccd53c7c1fa37b64a462b40db8be101cedcf838950162902054e644b400f1680",
    "confirmP": "926cc713504b9b4d76c9162ded04b5493e89109f6d89462cd33adc46fda27527",
    "confirmV": "9747bcc4f8fe9f63defee53ac9b07876d907d55047e6ff2def2e7529089d3e68",
    "K_shared": "0c5f8ccd1413423a54f6c1fb26ff01534a87f893779c6e68666d772bfd91f3e7",
}


def run(coro: Any) -> Any:
    return asyncio.run(asyncio.wait_for(coro, 30))


def test_rfc_9383_appendix_c_vector_byte_exact_on_both_sides() -> None:
    record = registration_record(V["w0"], V["w1"])
    assert record.L.hex() == V["L"]
    prover = Prover(V["context"], b"client", b"server", V["w0"], V["w1"])
    verifier = Verifier(V["context"], b"client", b"server", record.w0, record.L)
    share_p = prover.start(V["x"])
    assert share_p.hex() == V["X"]
    share_v, confirm_v = verifier.respond(share_p, V["y"])
    assert share_v.hex() == V["Y"]
    confirm_p = prover.finish(share_v, confirm_v)
    verifier.confirm(confirm_p)
    for party in (prover, verifier):
        assert party.z.hex() == V["Z"] and party.v.hex() == V["V"]
        assert party.k_main.hex() == V["K_main"]
        assert party.k_confirm_p.hex() == V["K_confirmP"] and party.k_confirm_v.hex() == V["K_confirmV"]
        assert party.shared_key.hex() == V["K_shared"]
    assert confirm_p.hex() == V["confirmP"] and confirm_v.hex() == V["confirmV"]


def test_a_wrong_passcode_fails_both_confirmations() -> None:
    salt = b"s" * 16
    w0, w1 = derive_w0_w1("20202021", salt, 1000)
    bad0, bad1 = derive_w0_w1("20202022", salt, 1000)
    record = registration_record(w0, w1)
    prover = Prover(b"ctx", b"", b"", bad0, bad1)
    verifier = Verifier(b"ctx", b"", b"", record.w0, record.L)
    share_v, confirm_v = verifier.respond(prover.start())
    with pytest.raises(ConfirmationError):
        prover.finish(share_v, confirm_v)
    with pytest.raises(ConfirmationError):
        verifier.confirm(prover.confirm_p)


def test_invalid_shares_are_refused() -> None:
    record = registration_record(V["w0"], V["w1"])
    for bad in (b"\x04" + b"\x01" * 64, b"\x00", b"\x02" + b"\xff" * 32, b""):
        verifier = Verifier(V["context"], b"client", b"server", record.w0, record.L)
        with pytest.raises(ProtocolError):
            verifier.respond(bad)
    with pytest.raises(SecureUsageError):
        derive_w0_w1("1", b"short", 1000)


def test_setup_codes_numeric_and_qr_round_trip_with_a_check_digit() -> None:
    code = SetupCode.generate(DEVICE_ID)
    assert code.discriminator == discriminator_of(DEVICE_ID)
    numeric = code.numeric
    assert len(numeric.replace("-", "")) == 13
    again = SetupCode.parse(numeric)
    assert (again.discriminator, again.passcode) == (code.discriminator, code.passcode) and again.id_number is None
    qr = SetupCode.parse(code.qr_payload)
    assert qr == code and code.qr_payload.startswith("ELDA1:" + DEVICE_ID.hex().upper())
    digits = numeric.replace("-", "")
    mistyped = digits[:5] + str((int(digits[5]) + 1) % 10) + digits[6:]
    with pytest.raises(SecureUsageError, match="check digit"):
        SetupCode.parse(mistyped)
    with pytest.raises(SecureUsageError, match="trivial"):
        SetupCode(code.discriminator, "12345678")


def _sides(tmp: Path) -> tuple[Any, Any, list[x509.Certificate], list[x509.Certificate]]:
    """Controller and device sides with *empty* allow-lists (nothing pinned: pairing pins)."""
    ctl, dev = certificate_sides(tmp)
    for side in (ctl, dev):
        for entry in side.allowlist.entries():
            side.allowlist.remove(entry.fingerprint, now=wall())
    s = site()
    ctl_chain = [x509.load_der_x509_certificate(ctl.local.credential.value), s.ca]  # type: ignore[union-attr]
    dev_chain = [x509.load_der_x509_certificate(dev.local.credential.value), s.ca]  # type: ignore[union-attr]
    return ctl, dev, ctl_chain, dev_chain


def _validator(role: cred.Role) -> Any:
    s = site()

    def validate(chain: list[x509.Certificate]) -> cred.EchonetIdentity:
        return cred.verify_chain(chain[0], roots=[s.root], intermediates=chain[1:], now=wall(), role=role).identity

    return validate


def test_pairing_with_the_setup_code_pins_both_certificates_and_then_edhoc_works(tmp_path: Path) -> None:
    ctl, dev, ctl_chain, dev_chain = _sides(tmp_path)
    code = SetupCode.generate(DEVICE_ID)
    device = PairingDevice(
        code,
        dev_chain,
        validate=_validator(cred.Role.CONTROLLER),
        pin=lambda c: dev.allowlist.enrol_certificate(c, now=wall(), label="paired controller"),
    )
    controller = PairingController(
        SetupCode.parse(code.numeric),  # typed from the label: discriminator and passcode only
        ctl_chain,
        validate=_validator(cred.Role.DEVICE),
        pin=lambda c: ctl.allowlist.enrol_certificate(c, now=wall(), label="paired battery"),
    )
    result = controller.message_4(device.message_3(controller.message_2(device.message_1(controller.message_1()))))
    assert result.identity.id_number == DEVICE_ID
    assert device.paired is not None and device.paired.identity.id_number == CONTROLLER_ID
    assert [e.id_number for e in ctl.allowlist.entries()] == [DEVICE_ID]
    assert [e.id_number for e in dev.allowlist.entries()] == [CONTROLLER_ID]
    assert device.locked  # setup mode ends with the pairing

    async def scenario() -> None:
        async with secured_pair(ctl, dev, "127.0.66.1", "127.0.66.2") as pair:
            got = await pair.controller.get(pair.device_addr, BATTERY, [0xE4])
            assert got.values == {0xE4: b"\x32"}

    run(scenario())


def test_a_wrong_code_is_refused_and_the_device_leaves_setup_mode_after_the_limit(tmp_path: Path) -> None:
    _ctl, _dev, ctl_chain, dev_chain = _sides(tmp_path)
    code = SetupCode.generate(DEVICE_ID)
    pinned: list[x509.Certificate] = []
    device = PairingDevice(
        code, dev_chain, validate=_validator(cred.Role.CONTROLLER), pin=pinned.append, max_attempts=3
    )
    wrong_pass = f"{(int(code.passcode) % 99999997) + 1:08d}"
    wrong = SetupCode(code.discriminator, wrong_pass if wrong_pass != "12345678" else "23456789")
    for _ in range(3):
        controller = PairingController(wrong, ctl_chain, validate=_validator(cred.Role.DEVICE), pin=pinned.append)
        answer = device.message_1(controller.message_1())
        with pytest.raises(ConfirmationError):  # the controller sees the device's confirmation fail
            controller.message_2(answer)
        # an attacker would send its own confirmation anyway: the device refuses and counts it
        forged = b'{"confirm_p":"' + b"00" * 32 + b'","chain":"00"}'
        with pytest.raises(ConfirmationError):
            device.message_3(forged)
    assert device.failures == 3 and device.locked and not pinned
    good = PairingController(code, ctl_chain, validate=_validator(cred.Role.DEVICE), pin=pinned.append)
    with pytest.raises(PairingLockedError):
        device.message_1(good.message_1())
