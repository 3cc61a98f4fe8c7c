"""Group records for protected multicast (pure): epochs (at most three valid), rotation on removal and on a
schedule, per-sender replay protection, and source authentication by signature (a member cannot forge another)."""

from __future__ import annotations

import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from secure.errors import IntegrityError, ReplayError, SecureUsageError
from secure.records.group import MAX_EPOCHS, GroupManager, GroupReceiver, GroupSender, sender_id_of

DISCOVERY = bytes.fromhex("1081000105ff010ef0016201d600")  # Get 0xD6 to the node profile


def _group() -> tuple[GroupManager, dict[str, ec.EllipticCurvePrivateKey]]:
    manager = GroupManager(now=0.0, rotate_every=3600.0)
    keys = {name: ec.generate_private_key(ec.SECP256R1()) for name in ("a", "b", "c")}
    for name, key in keys.items():
        manager.add(key.public_key(), name)
    return manager, keys


def test_members_open_each_others_records_and_see_who_sent_them() -> None:
    manager, keys = _group()
    update = manager.update()
    record = GroupSender(keys["a"], update).seal(DISCOVERY)
    for _receiver in ("b", "c"):
        opened = GroupReceiver(update).open(record)
        assert opened.frame == DISCOVERY and opened.sender.identity == "a" and opened.epoch == 1
    assert DISCOVERY not in record  # sealed


def test_replays_are_refused_per_sender_and_tampering_is_detected() -> None:
    manager, keys = _group()
    update = manager.update()
    a, b = GroupSender(keys["a"], update), GroupSender(keys["b"], update)
    receiver = GroupReceiver(update)
    first_a, first_b = a.seal(DISCOVERY), b.seal(DISCOVERY)
    receiver.open(first_a)
    receiver.open(first_b)  # its own window: b's sequence 0 is not a's
    with pytest.raises(ReplayError):
        receiver.open(first_a)
    tampered = bytearray(a.seal(DISCOVERY))
    tampered[25] ^= 1
    with pytest.raises(IntegrityError):
        receiver.open(bytes(tampered))
    with pytest.raises(IntegrityError):
        receiver.open(b"\x21\x07short")


def test_a_member_cannot_forge_another_members_records() -> None:
    manager, keys = _group()
    update = manager.update()
    forger = GroupSender(keys["b"], update)
    forger.sender_id = sender_id_of(keys["a"].public_key())  # b claims to be a: it holds the group key, not a's key
    with pytest.raises(IntegrityError, match="not signed by a"):
        GroupReceiver(update).open(forger.seal(DISCOVERY))


def test_a_removed_member_is_refused_after_rotation_even_under_an_old_epoch() -> None:
    manager, keys = _group()
    before = manager.update()
    c_sender = GroupSender(keys["c"], before)
    receiver = GroupReceiver(before)
    receiver.open(c_sender.seal(DISCOVERY))
    epoch = manager.remove("c", now=10.0)
    assert epoch.number == 2 and manager.reasons[-1] == "removed c"
    after = manager.update()
    receiver.apply(after)
    assert all(m.identity != "c" for m in after.members)
    with pytest.raises(IntegrityError, match="not a member"):
        receiver.open(c_sender.seal(DISCOVERY))  # c still holds epoch 1's key, which is still valid
    a_old = GroupSender(keys["a"], before)  # a member that has not seen the update yet: epoch 1 still verifies
    assert receiver.open(a_old.seal(DISCOVERY)).epoch == 1
    assert receiver.open(GroupSender(keys["a"], after).seal(DISCOVERY)).epoch == 2


def test_at_most_three_epochs_are_valid_and_rotation_is_scheduled() -> None:
    manager, keys = _group()
    first = manager.update()
    old_sender = GroupSender(keys["a"], first)
    assert not manager.rotation_due(100.0) and manager.rotation_due(3600.0)
    for i in range(MAX_EPOCHS):
        manager.rotate("scheduled", now=3600.0 * (i + 1))
    update = manager.update()
    assert [e.number for e in update.epochs] == [2, 3, 4]
    receiver = GroupReceiver(first)
    receiver.apply(update)
    assert sorted(receiver.epochs) == [2, 3, 4]
    with pytest.raises(IntegrityError, match="epoch 1 is not valid"):
        receiver.open(old_sender.seal(DISCOVERY))
    with pytest.raises(SecureUsageError):
        manager.remove("nobody", now=0.0)
