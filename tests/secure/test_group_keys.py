"""The group key message (carried over a pairwise session) and the group state file: round trips, malformed input
refused as an IntegrityError only, the state file private (0600), and sequence numbers never reused after a
restart."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from secure.errors import IntegrityError, ReplayError
from secure.records.group import GroupManager, GroupReceiver, GroupSender
from secure.records.groupkey import GROUP_KEY_MESSAGE, decode_group_update, encode_group_update
from secure.records.groupstore import SEQUENCE_RESERVE, GroupState, GroupStore

FRAME = bytes.fromhex("1081000105ff010ef0016201d600")


def _manager() -> tuple[GroupManager, ec.EllipticCurvePrivateKey]:
    manager = GroupManager(now=1000.0)
    key = ec.generate_private_key(ec.SECP256R1())
    manager.add(key.public_key(), "fe00007b01")
    manager.add(ec.generate_private_key(ec.SECP256R1()).public_key(), "fe00007b02")
    return manager, key


def test_the_update_survives_the_wire_and_opens_records() -> None:
    manager, key = _manager()
    manager.rotate("scheduled", now=2000.0)
    data = encode_group_update(manager.update())
    assert data[0] == GROUP_KEY_MESSAGE
    update = decode_group_update(data)
    assert [e.number for e in update.epochs] == [1, 2]
    assert sorted(m.identity for m in update.members) == ["fe00007b01", "fe00007b02"]
    record = GroupSender(key, manager.update()).seal(FRAME)
    assert GroupReceiver(update).open(record).frame == FRAME


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"\x10\x81",
        bytes((GROUP_KEY_MESSAGE,)),
        bytes((GROUP_KEY_MESSAGE,)) + b"\xff\xff",
        bytes((GROUP_KEY_MESSAGE, 0x83, 0x01, 0x80, 0x80)),  # no epoch
        bytes((GROUP_KEY_MESSAGE, 0x83, 0x02, 0x80, 0x80)),  # unknown version
        bytes((GROUP_KEY_MESSAGE, 0x83, 0x01, 0x81, 0x83, 0x01, 0x41, 0x00, 0x00, 0x80)),  # short key
        bytes((GROUP_KEY_MESSAGE, 0x83, 0x01, 0x81, 0x01, 0x80)),  # epoch not a list
    ],
)
def test_malformed_updates_are_refused_as_integrity_errors(data: bytes) -> None:
    with pytest.raises(IntegrityError):
        decode_group_update(data)


def test_a_bad_member_key_is_refused() -> None:
    manager, _key = _manager()
    data = bytearray(encode_group_update(manager.update()))
    point = manager.update().members[0].public_key.public_bytes(Encoding.X962, PublicFormat.UncompressedPoint)
    at = bytes(data).index(point)
    data[at + 40] ^= 0xFF  # no longer a point on the curve
    with pytest.raises(IntegrityError):
        decode_group_update(bytes(data))


def test_the_state_file_is_private_and_round_trips(tmp_path: Path) -> None:
    manager, _key = _manager()
    group_store = GroupStore(tmp_path / "group.json")
    assert group_store.load() is None
    group_store.save(GroupState("manager", manager.update(), manager.reasons, 3600.0, next_sequence=7))
    assert stat.S_IMODE(os.stat(tmp_path / "group.json").st_mode) == 0o600
    state = group_store.load()
    assert state is not None and state.role == "manager" and state.next_sequence == 7 and state.rotate_every == 3600.0
    restored = GroupManager.restore(state.update, state.reasons, rotate_every=state.rotate_every)
    assert [e.key for e in restored.epochs] == [e.key for e in manager.epochs]
    assert set(restored.members) == set(manager.members)
    os.chmod(tmp_path / "group.json", 0o644)
    with pytest.raises(Exception, match="group or others"):
        group_store.load()


def test_a_restarted_sender_never_reuses_a_sequence_number() -> None:
    manager, key = _manager()
    update = manager.update()
    receiver = GroupReceiver(update)
    first = GroupSender(key, update)
    receiver.open(first.seal(FRAME))
    saved = first.next_sequence + SEQUENCE_RESERVE  # what the store holds ahead of use
    again = GroupSender(key, update)  # a restart without the store would start at 0: refused as a replay
    with pytest.raises(ReplayError):
        receiver.open(again.seal(FRAME))
    resumed = GroupSender(key, update)
    resumed.resume_at(saved)
    assert receiver.open(resumed.seal(FRAME)).frame == FRAME
