"""The node profile object (0x0EF001), derived from the objects a node hosts."""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping

from ..errors import EchonetUsageError
from ..frame import EOJ
from ..propmap import MAX_LISTED_INSTANCES, encode_class_list, split_instance_lists
from ..spec.registry import Registry
from .device import DeviceObject

#: ECHONET Lite version 1.14 (0x01 0x0E), message format 1 (specified) supported, reserved 0x00.
DEFAULT_VERSION = b"\x01\x0e\x01\x00"
#: Placeholder manufacturer code for experiments; a product uses the code the ECHONET Consortium assigned.
UNREGISTERED_MAKER = b"\xff\xff\xff"

INSTANCE_LIST_NOTIFICATION = 0xD5
#: The node-profile properties announced by default: operating status and the instance list notification (the two
#: with a mandatory announcement rule); the other lists only change together with 0xD5.
DEFAULT_PROFILE_ANNOUNCE = frozenset({0x80, INSTANCE_LIST_NOTIFICATION})


def identification_number(maker_code: bytes, unique: bytes) -> bytes:
    """0x83: 0xFE, the 3-byte manufacturer code, 13 bytes unique to the node."""
    if len(maker_code) != 3 or len(unique) != 13:
        raise EchonetUsageError("identification number: maker code is 3 bytes and the unique part 13 bytes")
    return b"\xfe" + bytes(maker_code) + bytes(unique)


def instance_list(eojs: Iterable[EOJ]) -> bytes:
    """0xD5 / 0xD6 for a Get: count of all instances (at most 255), then at most the first 84 EOJs."""
    items = list(eojs)
    listed = items[:MAX_LISTED_INSTANCES]
    return bytes((min(len(items), 255),)) + b"".join(bytes(e) for e in listed)


class NodeProfile(DeviceObject):
    """Node profile 0x0EF001: 0x80, 0x82, 0x83, 0x8A, 0xD3-0xD7 and the maps, kept in step with the hosted objects.

    ``identification`` (17 bytes) wins over ``maker_code`` + ``unique_id`` (13 bytes, random when omitted).
    ``extra`` adds more node-profile EPCs (0x8C product code, 0xBF, ...).
    """

    __slots__ = ("_eojs",)

    def __init__(
        self,
        registry: Registry | None = None,
        *,
        maker_code: bytes = UNREGISTERED_MAKER,
        unique_id: bytes | None = None,
        identification: bytes | None = None,
        version: bytes = DEFAULT_VERSION,
        extra: Mapping[int, bytes] | None = None,
        announce: Iterable[int] = DEFAULT_PROFILE_ANNOUNCE,
        instance: int = 1,
    ) -> None:
        if identification is None:
            identification = identification_number(maker_code, unique_id if unique_id is not None else os.urandom(13))
        elif len(identification) != 17:
            raise EchonetUsageError(f"identification number is 17 bytes, got {len(identification)}")
        else:
            maker_code = identification[1:4]
        values: dict[int, bytes] = {
            0x80: b"\x30",
            0x82: bytes(version),
            0x83: bytes(identification),
            0x8A: bytes(maker_code),
            0xD3: b"\x00\x00\x00",
            0xD4: b"\x00\x01",
            0xD5: b"\x00",
            0xD6: b"\x00",
            0xD7: b"\x00",
        }
        if extra:
            values.update(extra)
        super().__init__(EOJ(0x0E, 0xF0, instance), values, registry, announce=announce)
        self._eojs: tuple[EOJ, ...] = ()

    @property
    def identification(self) -> bytes:
        value = self.value(0x83)
        assert value is not None
        return value

    @property
    def instances(self) -> tuple[EOJ, ...]:
        """The device objects listed, in list order."""
        return self._eojs

    def refresh(self, eojs: Iterable[EOJ]) -> None:
        """Recompute 0xD3-0xD7 for these device objects (node profiles are left out of the lists)."""
        items = tuple(e for e in eojs if not e.is_node_profile)
        self._eojs = items
        classes = {e.class_id for e in items}
        listing = instance_list(items)
        self.update(0xD3, len(items).to_bytes(3, "big"), check=False)
        self.update(0xD4, (len(classes) + 1).to_bytes(2, "big"), check=False)
        self.update(0xD6, listing, check=False)
        self.update(0xD7, encode_class_list(classes), check=False)
        self.update(INSTANCE_LIST_NOTIFICATION, listing, check=False)

    def instance_list_notifications(self) -> list[bytes]:
        """EDTs of 0xD5 for announcing the instance list: one per 84 objects."""
        return split_instance_lists(self._eojs)
