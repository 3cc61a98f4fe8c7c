"""Group records: multicast (discovery 0xD5/0xD6, INF) among enrolled nodes, under a group key with epochs.

Pairwise OSCORE keys cannot protect a multicast datagram, so enrolled nodes share a **group key** handed out by a
group manager (the controller) over the pairwise sessions. The design is Group OSCORE's *group mode* (RFC 9594's
predecessor draft) in spirit, kept small:

* **Confidentiality and membership**: the frame is sealed with AES-CCM-16-64-128 under the epoch's group key; only
  members hold it.
* **Source authentication**: a group key alone would let any member forge any other, so every record is also
  signed (ECDSA P-256 / SHA-256) with the sender's own key, the one its certificate binds; receivers check it with
  the member table the manager distributes (sender id -> public key and identity). A member removed from the
  table is refused in every epoch, even an older one it still holds the key of.
* **Replay protection per sender**: every sender numbers its records (a 40-bit sequence number, the AEAD nonce
  together with its sender id); receivers keep a 64-record replay window per (epoch, sender), checked before any
  public-key work and moved only after the tag and the signature verified.
* **Epochs**: at most three valid at once (as Matter's group key sets): a new epoch is adopted at once for
  sending, the two before it still verify records in flight. The manager rotates on a member's removal or
  revocation and on a schedule (:meth:`GroupManager.rotation_due`).

Why signatures rather than a pairwise MAC per receiver or a TESLA-style delayed key: discovery goes to every member,
a signature is one verification per receiver and works with members the sender does not know, and the keys are the
ones the certificates already bind. The cost (about 0.1-0.3 ms to verify) falls only on multicast, which is rare.

Wire format (type 0x07 on the overlay's EHD1)::

    EHD1 | 0x07 | epoch (4) | sender id (8) | sequence (5) | ciphertext || tag (8) | signature (64, r || s)

The AAD of the AEAD is the 19 header bytes; the signature covers the header and the ciphertext.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass, field

from cryptography.exceptions import InvalidSignature, InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature, encode_dss_signature
from cryptography.hazmat.primitives.ciphers.aead import AESCCM
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from echonet.constants import OVERLAY_EHD1
from secure.errors import IntegrityError, RejectReason, SecureUsageError
from secure.records.replay import ReplayWindow

__all__ = [
    "GROUP_RECORD",
    "GROUP_RECORD_MIN",
    "MAX_EPOCHS",
    "GroupEpoch",
    "GroupManager",
    "GroupMember",
    "GroupReceiver",
    "GroupSender",
    "GroupUpdate",
    "Opened",
    "sender_id_of",
]

GROUP_RECORD = 0x07
MAX_EPOCHS = 3
_HEADER = 2 + 4 + 8 + 5
_TAG = 8
_SIGNATURE = 64
_MAX_SEQUENCE = (1 << 40) - 1
#: The shortest group record (an empty frame): header, tag and signature.
GROUP_RECORD_MIN = _HEADER + _TAG + _SIGNATURE


def sender_id_of(public_key: ec.EllipticCurvePublicKey) -> bytes:
    """A member's 8-byte sender id: the first bytes of its key fingerprint (SHA-256 over the DER SPKI)."""
    der = public_key.public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)
    return hashlib.sha256(der).digest()[:8]


@dataclass(frozen=True)
class GroupEpoch:
    """One epoch: its number, key and when it was made (the manager's clock)."""

    number: int
    key: bytes = field(repr=False)
    created: float


@dataclass(frozen=True)
class GroupMember:
    sender_id: bytes
    public_key: ec.EllipticCurvePublicKey = field(repr=False)
    identity: str  # 0x83 in hex (or fp:...), for audit and status


class GroupManager:
    """Makes the group's epochs and member table; the controller runs it and sends :meth:`update` to each member
    over its pairwise session. ``rotate_every``: seconds between scheduled rotations."""

    def __init__(self, *, now: float, rotate_every: float = 86400.0) -> None:
        self.rotate_every = rotate_every
        self.epochs: list[GroupEpoch] = []
        self.members: dict[bytes, GroupMember] = {}
        #: Why each epoch was made, newest last (``initial``, ``removed <identity>``, ``scheduled``, ...).
        self.reasons: list[str] = []
        self.rotate("initial", now=now)

    @classmethod
    def restore(cls, update: GroupUpdate, reasons: list[str], *, rotate_every: float) -> GroupManager:
        """A manager as it was saved (:mod:`secure.records.groupstore`): its epochs, members and reasons."""
        if not update.epochs:
            raise SecureUsageError("a saved group has at least one epoch")
        manager = cls.__new__(cls)
        manager.rotate_every = rotate_every
        manager.epochs = sorted(update.epochs, key=lambda e: e.number)[-MAX_EPOCHS:]
        manager.members = {m.sender_id: m for m in update.members}
        manager.reasons = list(reasons)
        return manager

    def add(self, public_key: ec.EllipticCurvePublicKey, identity: str) -> GroupMember:
        member = GroupMember(sender_id_of(public_key), public_key, identity)
        self.members[member.sender_id] = member
        return member

    def remove(self, identity: str, *, now: float, reason: str = "removed") -> GroupEpoch:
        """Drop a member (removal, revocation) and rotate at once: it gets no new key, and its signatures are
        refused in every epoch from the next update on."""
        gone = [sid for sid, m in self.members.items() if m.identity == identity]
        if not gone:
            raise SecureUsageError(f"{identity} is not a member of the group")
        for sid in gone:
            del self.members[sid]
        return self.rotate(f"{reason} {identity}", now=now)

    def rotate(self, reason: str, *, now: float) -> GroupEpoch:
        number = self.epochs[-1].number + 1 if self.epochs else 1
        epoch = GroupEpoch(number, secrets.token_bytes(16), now)
        self.epochs = [*self.epochs, epoch][-MAX_EPOCHS:]
        self.reasons.append(reason)
        return epoch

    def rotation_due(self, now: float) -> bool:
        return now - self.epochs[-1].created >= self.rotate_every

    def next_rotation(self) -> float:
        """When the next scheduled rotation is due (the clock of ``now``: wall-clock seconds)."""
        return self.epochs[-1].created + self.rotate_every

    def update(self) -> GroupUpdate:
        """What every member is sent (over its pairwise session) after a change."""
        return GroupUpdate(tuple(self.epochs), tuple(self.members.values()))


@dataclass(frozen=True)
class GroupUpdate:
    epochs: tuple[GroupEpoch, ...]
    members: tuple[GroupMember, ...]


class GroupSender:
    """Seals multicast frames of one member (its private key signs them)."""

    def __init__(self, private_key: ec.EllipticCurvePrivateKey, update: GroupUpdate) -> None:
        self._key = private_key
        self.sender_id = sender_id_of(private_key.public_key())
        self._sequence = 0
        self.apply(update)

    def apply(self, update: GroupUpdate) -> None:
        if not update.epochs:
            raise SecureUsageError("a group update carries at least one epoch")
        self.epoch = max(update.epochs, key=lambda e: e.number)

    @property
    def next_sequence(self) -> int:
        """The sequence number of the next record (saved, with a margin, by a member that restarts)."""
        return self._sequence

    def resume_at(self, sequence: int) -> None:
        """Go on from ``sequence`` (never back): a restarted member must not reuse a nonce under a held epoch."""
        self._sequence = max(self._sequence, sequence)

    def seal(self, frame: bytes) -> bytes:
        if self._sequence > _MAX_SEQUENCE:
            raise SecureUsageError("group sequence numbers are exhausted: a new epoch is needed")
        sequence = self._sequence
        self._sequence += 1
        header = (
            bytes((OVERLAY_EHD1, GROUP_RECORD))
            + self.epoch.number.to_bytes(4, "big")
            + self.sender_id
            + sequence.to_bytes(5, "big")
        )
        ciphertext = AESCCM(self.epoch.key, tag_length=_TAG).encrypt(_nonce(self.sender_id, sequence), frame, header)
        r, s = decode_dss_signature(self._key.sign(header + ciphertext, ec.ECDSA(hashes.SHA256())))
        return header + ciphertext + r.to_bytes(32, "big") + s.to_bytes(32, "big")


@dataclass(frozen=True)
class Opened:
    """A verified group record: the frame and who sent it."""

    frame: bytes
    sender: GroupMember
    epoch: int


class GroupReceiver:
    """Opens group records: epoch key known, replay window per (epoch, sender), tag, then the sender's signature
    against the member table."""

    def __init__(self, update: GroupUpdate) -> None:
        self.epochs: dict[int, GroupEpoch] = {}
        self.members: dict[bytes, GroupMember] = {}
        self._windows: dict[tuple[int, bytes], ReplayWindow] = {}
        self.apply(update)

    def apply(self, update: GroupUpdate) -> None:
        """Adopt an update: at most the newest :data:`MAX_EPOCHS` epochs stay valid; the member table is replaced
        (a removed member is refused from now on)."""
        known = {e.number: e for e in (*self.epochs.values(), *update.epochs)}
        self.epochs = {n: known[n] for n in sorted(known)[-MAX_EPOCHS:]}
        self.members = {m.sender_id: m for m in update.members}
        self._windows = {k: w for k, w in self._windows.items() if k[0] in self.epochs and k[1] in self.members}

    def open(self, record: bytes) -> Opened:
        """The verified frame; :class:`~secure.errors.IntegrityError` or :class:`~secure.errors.ReplayError`
        otherwise (never another error on remote input)."""
        if len(record) < GROUP_RECORD_MIN or record[0] != OVERLAY_EHD1 or record[1] != GROUP_RECORD:
            raise IntegrityError("not a group record", RejectReason.MALFORMED)
        header, body = record[:_HEADER], record[_HEADER:-_SIGNATURE]
        signature = record[-_SIGNATURE:]
        number = int.from_bytes(header[2:6], "big")
        sender_id = header[6:14]
        sequence = int.from_bytes(header[14:19], "big")
        epoch = self.epochs.get(number)
        if epoch is None:
            raise IntegrityError(f"group epoch {number} is not valid here", RejectReason.WRONG_KID)
        member = self.members.get(sender_id)
        if member is None:
            raise IntegrityError(f"sender {sender_id.hex()} is not a member of the group", RejectReason.WRONG_KID)
        window = self._windows.get((number, sender_id))
        if window is None:
            window = self._windows[(number, sender_id)] = ReplayWindow()
        window.check(sequence)  # raises ReplayError before any work
        try:
            frame = AESCCM(epoch.key, tag_length=_TAG).decrypt(_nonce(sender_id, sequence), body, header)
        except InvalidTag:
            raise IntegrityError("group record does not verify", RejectReason.INTEGRITY) from None
        r, s = int.from_bytes(signature[:32], "big"), int.from_bytes(signature[32:], "big")
        try:
            member.public_key.verify(encode_dss_signature(r, s), header + body, ec.ECDSA(hashes.SHA256()))
        except (InvalidSignature, ValueError):
            raise IntegrityError(f"group record not signed by {member.identity}", RejectReason.INTEGRITY) from None
        window.update(sequence)
        return Opened(frame, member, number)


def _nonce(sender_id: bytes, sequence: int) -> bytes:
    return sender_id + sequence.to_bytes(5, "big")
