"""The exceptions of the secure overlay: every class is defined in secure.errors, the tree is split by fault, and an
error that carries advice gives it apart (extra_help, problem) while str(exc) stays what users have always read."""

from __future__ import annotations

import importlib
import os
import pickle
import pkgutil
from pathlib import Path

import pytest

import secure
from echonet.errors import EchonetError
from secure.audit import AuditLog
from secure.errors import (
    AuditError,
    CborError,
    CertificateError,
    CredentialRejectedError,
    EdhocError,
    EdhocPeerError,
    InsecurePermissionsError,
    IntegrityError,
    KeyLimitError,
    MalformedRecordError,
    OutOfOrderMessage,
    PolicyDeniedError,
    ProtocolError,
    RecipientKeyLimitError,
    RecordError,
    ReplayError,
    SecretFieldError,
    SecureError,
    SecureSessionError,
    SecureUsageError,
    SenderKeyLimitError,
    SequenceExhaustedError,
    SequenceStoreError,
    StoreError,
)
from secure.policy.values import parse_esvs
from secure.records import framing
from secure.records.oscore import KeyLimits, SecurityContext
from secure.store import read_private


def _secure_modules() -> list[str]:
    return ["secure", *(m.name for m in pkgutil.walk_packages(secure.__path__, "secure."))]


def test_every_exception_class_of_the_package_is_defined_in_secure_errors() -> None:
    elsewhere = []
    for name in _secure_modules():
        module = importlib.import_module(name)
        for attr, value in vars(module).items():
            if (
                isinstance(value, type)
                and issubclass(value, BaseException)
                and value.__module__ == name
                and name != "secure.errors"
            ):
                elsewhere.append(f"{name}.{attr}")
    assert not elsewhere


def test_local_misuse_and_remote_faults_are_apart() -> None:
    usage = [
        StoreError,
        InsecurePermissionsError,
        AuditError,
        SecretFieldError,
        SequenceExhaustedError,
        SequenceStoreError,
        SenderKeyLimitError,
    ]
    remote = [
        CborError,
        OutOfOrderMessage,
        EdhocError,
        EdhocPeerError,
        CertificateError,
        CredentialRejectedError,
        RecordError,
        MalformedRecordError,
        ReplayError,
        IntegrityError,
        RecipientKeyLimitError,
    ]
    for cls in usage:
        assert issubclass(cls, SecureUsageError) and issubclass(cls, ValueError), cls
        assert not issubclass(cls, ProtocolError), cls
    for cls in remote:
        assert issubclass(cls, ProtocolError) and not issubclass(cls, SecureUsageError), cls
    assert issubclass(SenderKeyLimitError, KeyLimitError) and issubclass(RecipientKeyLimitError, KeyLimitError)
    for cls in (PolicyDeniedError, SecureSessionError):  # what a secured request ends with
        assert issubclass(cls, SecureError) and issubclass(cls, EchonetError)
    assert secure.SecureError is SecureError and secure.ProtocolError is ProtocolError


def test_advice_is_apart_from_the_message_and_the_message_is_unchanged(tmp_path: Path) -> None:
    key = tmp_path / "node.key"
    key.write_bytes(b"x")
    os.chmod(key, 0o644)
    with pytest.raises(InsecurePermissionsError) as perms:
        read_private(key)
    assert str(perms.value) == (
        f"{key} is accessible by group or others (mode 0o644); refusing to use it, run: chmod 600 {key}"
    )
    assert perms.value.extra_help() == f"run: chmod 600 {key}"
    assert perms.value.problem == f"{key} is accessible by group or others (mode 0o644); refusing to use it"

    session = SecureSessionError("192.0.2.7", "handshake unanswered")
    assert str(session) == "no secure session with 192.0.2.7: handshake unanswered (see the audit logs of both sides)"
    assert session.problem == "no secure session with 192.0.2.7: handshake unanswered"
    assert session.extra_help() == SecureSessionError.ADVICE
    told = SecureSessionError("192.0.2.7", "the device refused the handshake", "its audit log says why")
    assert str(told) == "no secure session with 192.0.2.7: the device refused the handshake (its audit log says why)"
    assert told.extra_help() == "its audit log says why"

    ctx = SecurityContext(b"\x01" * 16, sender_id=b"\x01", recipient_id=b"\x02", now=0.0, limits=KeyLimits(limit_q=1))
    ctx.protect(b"\x10\x81", 0.0)
    with pytest.raises(SenderKeyLimitError) as limit:
        ctx.protect(b"\x10\x81", 0.0)
    assert str(limit.value) == "encryption limit of this sender key reached; rekey"
    assert limit.value.extra_help() == "rekey"

    with pytest.raises(SecureUsageError) as esv:
        parse_esvs("Foo")
    assert str(esv.value) == "unknown ESV 'Foo' (use SetI, SetC or SetGet)"
    assert esv.value.extra_help() == "use SetI, SetC or SetGet"

    with AuditLog(tmp_path / "audit.jsonl") as log, pytest.raises(SecretFieldError) as secret:
        log.append("replay", {"blob": b"\x00"}, now=0.0)
    assert str(secret.value) == "audit field fields.blob holds raw bytes; log a fingerprint or a length instead"
    assert secret.value.extra_help() == "log a fingerprint or a length instead"


def test_an_error_without_advice_has_no_extra_help() -> None:
    with pytest.raises(MalformedRecordError) as excinfo:
        framing.decode(b"\x21")
    assert excinfo.value.extra_help() is None
    assert excinfo.value.problem == str(excinfo.value) == "malformed: datagram shorter than a record header"


def test_advice_survives_pickling() -> None:
    exc = AuditError("the last record of a.jsonl is corrupt", advice="run 'audit verify'")
    copy = pickle.loads(pickle.dumps(exc))
    assert str(copy) == "the last record of a.jsonl is corrupt; run 'audit verify'"
    assert copy.extra_help() == "run 'audit verify'" and copy.problem == "the last record of a.jsonl is corrupt"
