"""Group key distribution: the group manager's update (epochs and member table) carried over a pairwise session.

The update travels as the plaintext of an ordinary pairwise data record (:mod:`secure.records.oscore`), so it has the
pairwise session's confidentiality, integrity and replay protection; its first byte, :data:`GROUP_KEY_MESSAGE`
(0xE7), tells it apart from an ECHONET Lite frame (whose EHD1 is 0x10). Layout (CBOR, RFC 8949)::

    0xE7 | [1, [[epoch, key (16 bytes), created], ...], [[public key (X9.62, 65 bytes), identity], ...]]

At most :data:`~secure.records.group.MAX_EPOCHS` epochs and :data:`MAX_MEMBERS` members; anything else is refused as
malformed (remote input raises only :class:`~secure.errors.IntegrityError`).
"""

from __future__ import annotations

from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from secure.errors import CborError, IntegrityError, RejectReason
from secure.handshake import cbor
from secure.records.group import MAX_EPOCHS, GroupEpoch, GroupMember, GroupUpdate, sender_id_of

__all__ = ["GROUP_KEY_MESSAGE", "MAX_MEMBERS", "decode_group_update", "encode_group_update"]

GROUP_KEY_MESSAGE = 0xE7
MAX_MEMBERS = 256
_VERSION = 1


def encode_group_update(update: GroupUpdate) -> bytes:
    """The pairwise plaintext that hands ``update`` to one member."""
    epochs = [[e.number, e.key, float(e.created)] for e in update.epochs]
    members = [
        [m.public_key.public_bytes(Encoding.X962, PublicFormat.UncompressedPoint), m.identity] for m in update.members
    ]
    return bytes((GROUP_KEY_MESSAGE,)) + cbor.encode([_VERSION, epochs, members])


def decode_group_update(data: bytes) -> GroupUpdate:
    """The update in ``data`` (as :func:`encode_group_update` made it); :class:`IntegrityError` otherwise."""
    if not data or data[0] != GROUP_KEY_MESSAGE:
        raise IntegrityError("not a group key message", RejectReason.MALFORMED)
    try:
        value = cbor.decode(data[1:])
        if not isinstance(value, list) or len(value) != 3 or value[0] != _VERSION:
            raise ValueError("bad shape")
        raw_epochs, raw_members = value[1], value[2]
        if not isinstance(raw_epochs, list) or not isinstance(raw_members, list):
            raise ValueError("bad shape")
        if not 0 < len(raw_epochs) <= MAX_EPOCHS or len(raw_members) > MAX_MEMBERS:
            raise ValueError("too many entries")
        epochs = []
        for item in raw_epochs:
            if not isinstance(item, list) or len(item) != 3:
                raise ValueError("bad epoch")
            number, key, created = item
            if not isinstance(number, int) or not 0 < number < 1 << 32 or not isinstance(key, bytes) or len(key) != 16:
                raise ValueError("bad epoch")
            if not isinstance(created, int | float) or isinstance(created, bool):
                raise ValueError("bad epoch time")
            epochs.append(GroupEpoch(number, key, float(created)))
        members = []
        for item in raw_members:
            if not isinstance(item, list) or len(item) != 2:
                raise ValueError("bad member")
            point, identity = item
            if not isinstance(point, bytes) or not isinstance(identity, str) or len(identity) > 200:
                raise ValueError("bad member")
            public_key = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), point)
            members.append(GroupMember(sender_id_of(public_key), public_key, identity))
    except (CborError, ValueError, TypeError) as exc:
        raise IntegrityError(f"malformed group key message ({exc})", RejectReason.MALFORMED) from None
    return GroupUpdate(tuple(epochs), tuple(members))
