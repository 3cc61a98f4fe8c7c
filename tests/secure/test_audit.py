"""Audit log: hash chain and anchor catch edits, deletions, insertions, reordering and truncation; no secrets."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from secure import audit
from secure.audit import AuditEvent, AuditLog
from secure.errors import AuditError, SecretFieldError

T0 = 1_800_000_000.0


def write_log(path: Path, count: int = 6) -> None:
    events = list(AuditEvent)
    with AuditLog(path) as log:
        for i in range(count):
            log.append(events[i % len(events)], {"peer": f"192.0.2.{i}", "n": i, "ok": i % 2 == 0}, now=T0 + i)


def lines_of(path: Path) -> list[bytes]:
    return path.read_bytes().splitlines(keepends=True)


def rewrite(path: Path, lines: list[bytes]) -> None:
    path.write_bytes(b"".join(lines))


@pytest.fixture
def log_path(tmp_path: Path) -> Path:
    path = tmp_path / "node" / "audit.jsonl"
    write_log(path)
    return path


def test_untouched_log_verifies(log_path: Path) -> None:
    result = audit.verify(log_path)
    assert result.ok, result
    assert result.records == 6
    assert result.first_bad_line is None
    last = json.loads(lines_of(log_path)[-1])
    assert result.head == last["hash"]


def test_record_layout_and_hash_definition(log_path: Path) -> None:
    first, second = (json.loads(line) for line in lines_of(log_path)[:2])
    assert set(first) == {"seq", "time", "event", "fields", "prev", "hash"}
    assert first["seq"] == 1 and second["seq"] == 2
    assert first["prev"] == "0" * 64
    assert second["prev"] == first["hash"]
    body = {k: v for k, v in first.items() if k != "hash"}
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":")).encode()
    import hashlib

    assert first["hash"] == hashlib.sha256(canonical).hexdigest()


def test_empty_log_verifies(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    AuditLog(path).close()
    assert audit.verify(path).ok


def test_edited_field_is_reported_at_its_line(log_path: Path) -> None:
    lines = lines_of(log_path)
    lines[3] = lines[3].replace(b'"peer":"192.0.2.3"', b'"peer":"192.0.2.9"')
    rewrite(log_path, lines)
    result = audit.verify(log_path)
    assert not result.ok
    assert result.first_bad_line == 4
    assert "hash" in (result.reason or "")


def test_edited_line_with_recomputed_hash_is_reported_at_the_next_line(log_path: Path) -> None:
    lines = lines_of(log_path)
    record = json.loads(lines[2])
    record["fields"]["peer"] = "203.0.113.1"
    record["hash"] = audit.record_hash(record)
    lines[2] = audit.canonical_json(record) + b"\n"
    rewrite(log_path, lines)
    result = audit.verify(log_path)
    assert not result.ok and result.first_bad_line == 4
    assert "chain" in (result.reason or "")


def test_reformatted_line_is_reported(log_path: Path) -> None:
    lines = lines_of(log_path)
    lines[1] = json.dumps(json.loads(lines[1])).encode() + b"\n"
    rewrite(log_path, lines)
    result = audit.verify(log_path)
    assert not result.ok and result.first_bad_line == 2


def test_deleted_middle_line_is_reported(log_path: Path) -> None:
    lines = lines_of(log_path)
    del lines[2]
    rewrite(log_path, lines)
    result = audit.verify(log_path)
    assert not result.ok
    assert result.first_bad_line == 3


def test_swapped_pair_is_reported(log_path: Path) -> None:
    lines = lines_of(log_path)
    lines[1], lines[2] = lines[2], lines[1]
    rewrite(log_path, lines)
    result = audit.verify(log_path)
    assert not result.ok
    assert result.first_bad_line == 2


def test_inserted_line_is_reported(log_path: Path) -> None:
    lines = lines_of(log_path)
    lines.insert(4, lines[1])
    rewrite(log_path, lines)
    result = audit.verify(log_path)
    assert not result.ok
    assert result.first_bad_line == 5


def test_truncated_tail_is_reported(log_path: Path) -> None:
    lines = lines_of(log_path)
    rewrite(log_path, lines[:4])
    result = audit.verify(log_path)
    assert not result.ok
    assert result.first_bad_line == 5
    assert "truncated" in (result.reason or "")


def test_truncated_to_empty_is_reported(log_path: Path) -> None:
    rewrite(log_path, [])
    result = audit.verify(log_path)
    assert not result.ok and result.first_bad_line == 1


def test_half_written_last_line_is_reported(log_path: Path) -> None:
    data = log_path.read_bytes()
    log_path.write_bytes(data[:-20])
    result = audit.verify(log_path)
    assert not result.ok and result.first_bad_line == 6


def test_rewritten_last_record_is_caught_by_the_anchor(log_path: Path) -> None:
    lines = lines_of(log_path)
    record = json.loads(lines[-1])
    record["fields"]["peer"] = "203.0.113.1"
    record["hash"] = audit.record_hash(record)
    lines[-1] = audit.canonical_json(record) + b"\n"
    rewrite(log_path, lines)
    result = audit.verify(log_path)
    assert not result.ok and result.first_bad_line == 6
    assert "anchor" in (result.reason or "")


def test_missing_anchor_is_reported(log_path: Path) -> None:
    audit.head_path(log_path).unlink()
    result = audit.verify(log_path)
    assert not result.ok and "anchor" in (result.reason or "")


def test_one_record_beyond_the_anchor_is_a_crash_not_tampering(log_path: Path) -> None:
    head = audit.head_path(log_path)
    before = head.read_bytes()
    with AuditLog(log_path) as log:
        log.append(AuditEvent.REKEY, {"peer": "192.0.2.1"}, now=T0 + 100)
    head.write_bytes(before)  # as if the process died between the fsynced append and the anchor write
    result = audit.verify(log_path)
    assert result.ok and result.unanchored == 1
    with AuditLog(log_path) as log:
        log.append(AuditEvent.REKEY, {"peer": "192.0.2.1"}, now=T0 + 101)
    result = audit.verify(log_path)
    assert result.ok and result.unanchored == 0 and result.records == 8


def test_reopening_continues_the_chain(log_path: Path) -> None:
    with AuditLog(log_path) as log:
        record = log.append(AuditEvent.LEGACY_USE, {"consent_id": "abcd"}, now=T0 + 50)
    assert record.seq == 7
    assert audit.verify(log_path).ok


def test_two_writers_on_one_file_keep_one_chain(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    with AuditLog(path) as first, AuditLog(path) as second:
        for i in range(5):
            (first if i % 2 else second).append(AuditEvent.REPLAY, {"n": i}, now=T0 + i)
    result = audit.verify(path)
    assert result.ok and result.records == 5


def test_log_and_anchor_are_private_files(tmp_path: Path) -> None:
    path = tmp_path / "fresh" / "audit.jsonl"
    write_log(path, 1)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(audit.head_path(path).stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700


# ------------------------------------------------------------------------------------------ secret guard


@pytest.mark.parametrize(
    "fields",
    [
        {"key": "00ff"},
        {"secret": "x"},
        {"master_secret": "x"},
        {"plaintext": "x"},
        {"edt_plain": "x"},
        {"EDT": "x"},
        {"privateKey": "x"},
        {"public_key": "x"},
        {"psk": "x"},
        {"prk_out": "x"},
        {"password": "x"},
        {"payload": "x"},
        {"frame": {"key": "x"}},
        {"list": [{"secret": 1}]},
        {"fingerprint": b"\x00" * 32},
        {"values": [1, bytearray(b"x")]},
        {"view": memoryview(b"x")},
    ],
)
def test_secret_looking_fields_are_refused_and_nothing_is_written(tmp_path: Path, fields: dict[str, object]) -> None:
    path = tmp_path / "audit.jsonl"
    with AuditLog(path) as log, pytest.raises(SecretFieldError):
        log.append(AuditEvent.INTEGRITY_FAILURE, fields, now=T0)
    assert path.read_bytes() == b""


def test_harmless_fields_are_accepted(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    fields = {
        "peer": "192.0.2.1",
        "fingerprint": "ab" * 32,
        "kid": "01",
        "esv": "SetC",
        "epcs": ["0xDA"],
        "count": 3,
        "ratio": 0.5,
        "ok": True,
        "none": None,
    }
    with AuditLog(path) as log:
        record = log.append(AuditEvent.HANDSHAKE_OK, fields, now=T0)
    assert record.fields == fields
    assert audit.verify(path).ok


def test_unknown_event_type_is_refused(tmp_path: Path) -> None:
    with AuditLog(tmp_path / "a.jsonl") as log, pytest.raises(AuditError, match="unknown audit event"):
        log.append("coffee_made", {}, now=T0)


def test_every_event_type_of_the_design_exists() -> None:
    assert {e.value for e in AuditEvent} == {
        "handshake_ok",
        "handshake_failed",
        "replay",
        "integrity_failure",
        "policy_denied",
        "downgrade_dropped",
        "allowlist_added",
        "allowlist_removed",
        "consent_granted",
        "consent_revoked",
        "crl_updated",  # a CRL file the allow-list watches was re-read (secure.trust.allowlist)
        "crl_rejected",
        "rekey",
        "legacy_use",
        "session_closed",  # added by the secure layer (secure.layer.core)
        "identity_checked",
        "audit_tampered",  # the writer found its keyed log missing, truncated or its anchor forged
        "peer_moved",  # an authenticated record moved a session to the peer's new address
        "role_denied",  # an enrolled peer's role does not cover the request (secure.policy.roles)
        "certification_withdrawn",  # a certification listed as withdrawn (secure.trust.certification)
        "pairing_ok",  # onboarding with a setup code pinned a controller (secure.trust.onboarding)
        "pairing_failed",  # a pairing step refused (wrong code, attempt limit, rate limit)
        "group_key",  # group key handling: member added, update sent or received, epoch rotated
        "group_refused",  # a group record or group key update refused (not a member, epoch, signature, manager)
    }


def test_unsupported_values_are_refused(tmp_path: Path) -> None:
    with AuditLog(tmp_path / "a.jsonl") as log:
        with pytest.raises(AuditError):
            log.append(AuditEvent.REPLAY, {"x": object()}, now=T0)
        with pytest.raises(AuditError):
            log.append(AuditEvent.REPLAY, {"x": float("nan")}, now=T0)
        with pytest.raises(AuditError):
            log.append(AuditEvent.REPLAY, {"x": "y" * 5000}, now=T0)


def test_appending_after_a_corrupt_tail_is_refused(log_path: Path) -> None:
    data = log_path.read_bytes()
    log_path.write_bytes(data[:-20])
    with AuditLog(log_path) as log, pytest.raises(AuditError, match="incomplete"):
        log.append(AuditEvent.REKEY, {}, now=T0)


@given(
    st.lists(
        st.dictionaries(
            st.sampled_from(["peer", "reason", "count", "label", "n"]),
            st.one_of(
                st.integers(),
                st.text(max_size=20),
                st.booleans(),
                st.none(),
                st.floats(allow_nan=False, allow_infinity=False),
            ),
            max_size=4,
        ),
        min_size=1,
        max_size=8,
    ),
    st.data(),
)
def test_any_single_line_deletion_is_detected(
    tmp_path_factory: pytest.TempPathFactory, records: list[dict[str, object]], data: st.DataObject
) -> None:
    path = tmp_path_factory.mktemp("prop") / "audit.jsonl"
    with AuditLog(path) as log:
        for i, fields in enumerate(records):
            log.append(AuditEvent.POLICY_DENIED, fields, now=T0 + i)
    assert audit.verify(path).ok
    lines = lines_of(path)
    victim = data.draw(st.integers(0, len(lines) - 1))
    del lines[victim]
    rewrite(path, lines)
    result = audit.verify(path)
    assert not result.ok
    assert result.first_bad_line == victim + 1


# ------------------------------------------------------------------------------------------- keyed logs


def keyed_log(tmp_path: Path, count: int = 4) -> tuple[Path, Path]:
    node = tmp_path / "node"
    log, key = node / "audit.jsonl", node / "audit.key"
    with AuditLog(log, key=key) as writer:
        for i in range(count):
            writer.append(AuditEvent.HANDSHAKE_OK, {"peer": f"192.0.2.{i}"}, now=T0 + i)
    return log, key


def forged_line(log: Path, event: str = "allowlist_added") -> bytes:
    """What a writer without the key can append: a record with a correct chain (and a MAC copied from elsewhere)."""
    last = json.loads(lines_of(log)[-1])
    body = {
        "seq": last["seq"] + 1,
        "time": last["time"] + 1,
        "event": event,
        "fields": {"fingerprint": "ab" * 32, "label": "attacker"},
        "prev": last["hash"],
    }
    return audit.canonical_json({**body, "hash": audit.record_hash(body), "mac": last["mac"]}) + b"\n"


def test_a_keyed_log_carries_a_mac_per_record_and_a_keyed_anchor_and_verifies_only_with_its_key(
    tmp_path: Path,
) -> None:
    log, key = keyed_log(tmp_path)
    first = json.loads(lines_of(log)[0])
    assert set(first) == {"seq", "time", "event", "fields", "prev", "hash", "mac"}
    assert json.loads(audit.head_path(log).read_text())["version"] == 2
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    good = audit.verify(log, key)
    assert good.ok and good.keyed and good.authenticated and good.records == 4
    unchecked = audit.verify(log)  # without the key: a chain, not authenticated
    assert unchecked.ok and unchecked.keyed and not unchecked.authenticated
    other = tmp_path / "other.key"
    audit.AuditKey.load_or_create(other)
    wrong = audit.verify(log, other)
    assert not wrong.ok and wrong.first_bad_line == 1 and "MAC" in (wrong.reason or "")
    assert "audit.key" in repr(audit.AuditKey.load(key)) and audit.AuditKey.load(key).mac(b"", b"") not in repr(
        audit.AuditKey.load(key)
    )


def test_a_forged_line_appended_with_a_correct_chain_is_detected_and_the_next_genuine_append_does_not_anchor_it(
    tmp_path: Path,
) -> None:
    log, key = keyed_log(tmp_path)
    with open(log, "ab") as handle:
        handle.write(forged_line(log))
    forged = audit.verify(log, key)
    assert not forged.ok and forged.first_bad_line == 5 and "MAC does not verify" in (forged.reason or "")
    with AuditLog(log, key=key) as writer:  # the node goes on: it chains to its last authentic record
        record = writer.append(AuditEvent.REKEY, {"peer": "192.0.2.1"}, now=T0 + 10)
    assert record.seq == 5 and record.prev == json.loads(lines_of(log)[3])["hash"]
    later = audit.verify(log, key)
    assert not later.ok and later.first_bad_line == 5  # still reported, never anchored for good


def test_an_emptied_log_with_its_anchor_deleted_is_an_error_and_stays_one_after_the_node_writes_again(
    tmp_path: Path,
) -> None:
    log, key = keyed_log(tmp_path)
    log.write_bytes(b"")
    audit.head_path(log).unlink()
    emptied = audit.verify(log, key)
    assert not emptied.ok and "emptied" in (emptied.reason or "")
    log.unlink()
    deleted = audit.verify(log, key)
    assert not deleted.ok and "missing" in (deleted.reason or "")
    with AuditLog(log, key=key) as writer:  # the node starts again and records what it found
        writer.append(AuditEvent.HANDSHAKE_OK, {"peer": "192.0.2.9"}, now=T0 + 20)
    [first] = [json.loads(line) for line in lines_of(log)][:1]
    assert first["event"] == "audit_tampered" and "deleted" in first["fields"]["reason"]
    restarted = audit.verify(log, key)
    assert not restarted.ok and restarted.first_bad_line == 1 and "tampered" in (restarted.reason or "")


def test_a_history_rewritten_without_the_key_is_detected(tmp_path: Path) -> None:
    log, key = keyed_log(tmp_path)
    stolen = tmp_path / "rewritten.jsonl"
    write_log(stolen, 3)  # a consistent chain and anchor, no MACs
    log.write_bytes(stolen.read_bytes())
    audit.head_path(log).write_bytes(audit.head_path(stolen).read_bytes())
    result = audit.verify(log, key)
    assert not result.ok and "no record carries a MAC" in (result.reason or "")


def test_a_truncated_log_with_an_anchor_put_back_is_caught_by_the_anchors_mac_or_by_the_writer(tmp_path: Path) -> None:
    log, key = keyed_log(tmp_path, 5)
    rewrite(log, lines_of(log)[:3])
    anchor = json.loads(audit.head_path(log).read_text())
    forged_anchor = {**anchor, "count": 3, "hash": json.loads(lines_of(log)[-1])["hash"]}
    audit.head_path(log).write_bytes(audit.canonical_json(forged_anchor) + b"\n")
    result = audit.verify(log, key)
    assert not result.ok and "forged" in (result.reason or "")
    audit.head_path(log).write_bytes(audit.canonical_json(anchor) + b"\n")  # the true anchor: truncation shows
    assert "truncated" in (audit.verify(log, key).reason or "")
    with AuditLog(log, key=key) as writer:
        writer.append(AuditEvent.REKEY, {}, now=T0 + 30)
    tampered = [json.loads(line) for line in lines_of(log) if b"audit_tampered" in line]
    assert tampered and "truncated" in tampered[0]["fields"]["reason"]
    assert not audit.verify(log, key).ok


def test_one_keyed_record_beyond_the_anchor_is_a_crash_only_if_its_mac_verifies(tmp_path: Path) -> None:
    log, key = keyed_log(tmp_path)
    anchor = audit.head_path(log).read_bytes()
    with AuditLog(log, key=key) as writer:
        writer.append(AuditEvent.REKEY, {}, now=T0 + 5)
    audit.head_path(log).write_bytes(anchor)  # as if the node crashed before re-anchoring
    crash = audit.verify(log, key)
    assert crash.ok and crash.unanchored == 1
    rewrite(log, lines_of(log)[:-1])
    with open(log, "ab") as handle:
        handle.write(forged_line(log))
    assert not audit.verify(log, key).ok


def test_a_log_keyed_later_keeps_its_unkeyed_records_as_a_prefix_the_first_keyed_record_commits_to(
    tmp_path: Path,
) -> None:
    log = tmp_path / "node" / "audit.jsonl"
    write_log(log, 3)
    key = tmp_path / "node" / "audit.key"
    with AuditLog(log, key=key) as writer:
        writer.append(AuditEvent.REKEY, {}, now=T0 + 9)
    result = audit.verify(log, key)
    assert result.ok and result.keyed and result.unkeyed_prefix == 3
    lines = lines_of(log)
    lines[0] = lines[0].replace(b"192.0.2.0", b"192.0.2.7")
    rewrite(log, lines)
    assert not audit.verify(log, key).ok
    lines = lines_of(log)[:3]  # strip the keyed record: the key remembers it wrote to this log
    rewrite(log, lines)
    assert not audit.verify(log, key).ok


def test_an_audit_key_that_group_or_others_may_read_is_refused(tmp_path: Path) -> None:
    from secure.errors import InsecurePermissionsError

    log, key = keyed_log(tmp_path, 1)
    key.chmod(0o644)
    with pytest.raises(InsecurePermissionsError, match="chmod 600"):
        AuditLog(log, key=key)


# ------------------------------------------------------------------------------------------------ rotation


def test_a_rotated_log_goes_on_in_a_new_file_and_the_chain_runs_on_across_the_files(tmp_path: Path) -> None:
    log, key = keyed_log(tmp_path, 3)
    with AuditLog(log, key=key) as writer, AuditLog(log, key=key) as other:  # (two processes, as it were)
        first = writer.rotate()
        assert first == log.with_name("audit.jsonl.1") and log.read_bytes() == b""
        record = other.append(AuditEvent.REKEY, {}, now=T0 + 10)  # the other one notices and follows
        assert record.seq == 4 and record.prev == json.loads(lines_of(first)[-1])["hash"]
        writer.append(AuditEvent.REKEY, {}, now=T0 + 11)
        assert writer.rotate() == log.with_name("audit.jsonl.2")
        writer.append(AuditEvent.HANDSHAKE_OK, {"peer": "192.0.2.1"}, now=T0 + 12)
    assert audit.rotated_files(log) == [log.with_name("audit.jsonl.1"), log.with_name("audit.jsonl.2")]
    result = audit.verify(log, key)
    assert result.ok and result.records == 6 and result.files == 3 and result.authenticated, result
    assert json.loads(lines_of(log)[0])["seq"] == 6
    assert audit.verify(log.with_name("audit.jsonl.1"), key).ok  # a rotated file with those before it


def test_a_rotated_file_deleted_shortened_or_edited_breaks_the_series(tmp_path: Path) -> None:
    log, key = keyed_log(tmp_path, 3)
    with AuditLog(log, key=key) as writer:
        rotated = writer.rotate()
        writer.append(AuditEvent.REKEY, {}, now=T0 + 10)
    assert rotated is not None
    saved = rotated.read_bytes()
    rewrite(rotated, lines_of(rotated)[:-1])
    shortened = audit.verify(log, key)
    assert not shortened.ok and shortened.file == str(rotated) and "truncated" in (shortened.reason or "")
    rotated.write_bytes(saved.replace(b"192.0.2.1", b"192.0.2.7"))
    edited = audit.verify(log, key)
    assert not edited.ok and edited.file == str(rotated) and edited.first_bad_line == 2
    rotated.unlink()
    audit.head_path(rotated).unlink()
    deleted = audit.verify(log, key)
    assert not deleted.ok and "missing" in (deleted.reason or "")
    assert not audit.verify(log).ok  # even without the key: the log's first record chains to nothing here


def test_an_unkeyed_log_rotates_too(tmp_path: Path) -> None:
    log = tmp_path / "plain.jsonl"
    write_log(log, 2)
    with AuditLog(log) as writer:
        assert writer.rotate() is not None
        assert writer.rotate() is None  # nothing new to rotate
        writer.append(AuditEvent.REKEY, {}, now=T0)
    result = audit.verify(log)
    assert result.ok and result.records == 3 and not result.keyed
