"""Value types of ECHONET Lite frames: :class:`Frame`, :class:`EOJ`, :class:`Property`, :class:`ESV`, :class:`EHD2`.

The types are immutable. ``Frame``, ``EOJ`` and ``Property`` are ``NamedTuple`` subclasses because the decoder builds
millions of them; they compare by value and hash like tuples.
"""

from __future__ import annotations

from enum import IntEnum
from typing import TYPE_CHECKING, Any, NamedTuple, TypeVar

from .constants import EHD1_ECHONET_LITE, EHD2_ARBITRARY, EHD2_SPECIFIED
from .errors import EchonetUsageError

#: Build a ``NamedTuple`` value of the stack (:class:`Frame`, :class:`Property`, :class:`EOJ`, the node's events) from a
#: tuple of all its fields, already of the right types and in field order, without the constructor's defaults and
#: conversions: ``unchecked(Property, (epc, edt))``. For the decoder's and the node's hot paths (docs/performance.md).
if TYPE_CHECKING:
    _T = TypeVar("_T", bound=tuple[Any, ...])

    def unchecked(cls: type[_T], fields: tuple[Any, ...], /) -> _T: ...

else:
    unchecked = tuple.__new__

#: The fields of a :class:`Frame` after its TID, ``frame[AFTER_TID]``: a hot path keeps them to rebuild the frame of a
#: datagram that differs only by its TID, as ``unchecked(Frame, (ehd1, ehd2, tid, *tail))``.
AFTER_TID = slice(3, None)


class EHD2(IntEnum):
    """Frame format (EHD2)."""

    SPECIFIED = EHD2_SPECIFIED  #: format 1: SEOJ DEOJ ESV OPC properties
    ARBITRARY = EHD2_ARBITRARY  #: format 2: EDATA is opaque


class ESV(IntEnum):
    """ECHONET Lite service codes, with their request / response / SNA relations."""

    SETI_SNA = 0x50
    SETC_SNA = 0x51
    GET_SNA = 0x52
    INF_SNA = 0x53
    SETGET_SNA = 0x5E
    SETI = 0x60
    SETC = 0x61
    GET = 0x62
    INF_REQ = 0x63
    SETGET = 0x6E
    SET_RES = 0x71
    GET_RES = 0x72
    INF = 0x73
    INFC = 0x74
    INFC_RES = 0x7A
    SETGET_RES = 0x7E

    @property
    def is_request(self) -> bool:
        """True for the codes a controller sends to ask something (0x60-0x6F), INF and INFC excluded."""
        return 0x60 <= self <= 0x6F

    @property
    def is_response(self) -> bool:
        """True for success answers (0x71, 0x72, 0x7A, 0x7E) and notifications sent on request."""
        return self in _RESPONSES

    @property
    def is_sna(self) -> bool:
        """True for the "service not available" answers (0x50-0x5F)."""
        return 0x50 <= self <= 0x5F

    @property
    def is_notification(self) -> bool:
        """True for INF (0x73) and INFC (0x74)."""
        return self in (ESV.INF, ESV.INFC)

    @property
    def is_setget(self) -> bool:
        """True for the three SetGet codes whose EDATA carries OPCSet and OPCGet property lists."""
        return self in SETGET_CODES

    @property
    def response(self) -> ESV | None:
        """The success answer to this request (``None`` for SetI, which is not answered on success)."""
        return _RESPONSE_OF.get(self)

    @property
    def sna(self) -> ESV | None:
        """The "service not available" answer to this request, if the request has one."""
        return _SNA_OF.get(self)

    @property
    def request(self) -> ESV | None:
        """The request this answer (success or SNA) belongs to."""
        return _REQUEST_OF.get(self)


SETGET_CODES = frozenset({0x6E, 0x7E, 0x5E})
_RESPONSES = frozenset({ESV.SET_RES, ESV.GET_RES, ESV.INFC_RES, ESV.SETGET_RES})
_RESPONSE_OF = {
    ESV.SETC: ESV.SET_RES,
    ESV.GET: ESV.GET_RES,
    ESV.INF_REQ: ESV.INF,
    ESV.SETGET: ESV.SETGET_RES,
    ESV.INFC: ESV.INFC_RES,
}
_SNA_OF = {
    ESV.SETI: ESV.SETI_SNA,
    ESV.SETC: ESV.SETC_SNA,
    ESV.GET: ESV.GET_SNA,
    ESV.INF_REQ: ESV.INF_SNA,
    ESV.SETGET: ESV.SETGET_SNA,
}
_REQUEST_OF = {answer: request for request, answer in (*_RESPONSE_OF.items(), *_SNA_OF.items())}

#: Known ESV codes by value, used by the decoder (a dict lookup is much cheaper than calling the enum).
ESV_BY_CODE: dict[int, ESV] = {int(e): e for e in ESV}
_SPECIFIED = EHD2.SPECIFIED


def esv_name(code: int) -> str:
    """A display name for an ESV code, known or not (``Get``, ``0x99``)."""
    known = ESV_BY_CODE.get(code)
    return _ESV_DISPLAY[known] if known is not None else f"0x{code:02X}"


_ESV_DISPLAY = {
    ESV.SETI_SNA: "SetI_SNA",
    ESV.SETC_SNA: "SetC_SNA",
    ESV.GET_SNA: "Get_SNA",
    ESV.INF_SNA: "INF_SNA",
    ESV.SETGET_SNA: "SetGet_SNA",
    ESV.SETI: "SetI",
    ESV.SETC: "SetC",
    ESV.GET: "Get",
    ESV.INF_REQ: "INF_REQ",
    ESV.SETGET: "SetGet",
    ESV.SET_RES: "Set_Res",
    ESV.GET_RES: "Get_Res",
    ESV.INF: "INF",
    ESV.INFC: "INFC",
    ESV.INFC_RES: "INFC_Res",
    ESV.SETGET_RES: "SetGet_Res",
}


class EOJ(NamedTuple):
    """An ECHONET object: class group, class code and instance (``bytes(eoj)`` gives the 3 wire bytes)."""

    class_group: int
    class_code: int
    instance: int

    def __bytes__(self) -> bytes:
        return bytes((self.class_group, self.class_code, self.instance))

    def __str__(self) -> str:
        return f"{self.class_group:02X}{self.class_code:02X}{self.instance:02X}"

    @property
    def class_id(self) -> int:
        """The 16-bit class code (``0x027D`` for a storage battery)."""
        return (self.class_group << 8) | self.class_code

    @property
    def is_node_profile(self) -> bool:
        return self.class_group == 0x0E and self.class_code == 0xF0

    def with_instance(self, instance: int) -> EOJ:
        return EOJ(self.class_group, self.class_code, instance)

    @classmethod
    def from_bytes(cls, data: bytes) -> EOJ:
        if len(data) != 3:
            raise EchonetUsageError(f"an EOJ is 3 bytes, got {len(data)}")
        return cls(data[0], data[1], data[2])

    @classmethod
    def of(cls, class_id: int, instance: int = 1) -> EOJ:
        """Build from a 16-bit class code and an instance: ``EOJ.of(0x027D, 1)``."""
        if not 0 <= class_id <= 0xFFFF or not 0 <= instance <= 0xFF:
            raise EchonetUsageError(f"class 0x{class_id:X} / instance {instance} out of range")
        return cls(class_id >> 8, class_id & 0xFF, instance)

    @classmethod
    def parse(cls, text: str) -> EOJ:
        """Parse ``027D01``, ``0x027D01``, ``02-7D-01`` or ``02:7d:01``."""
        cleaned = text.strip().lower().removeprefix("0x").replace(":", "").replace("-", "").replace(" ", "")
        if len(cleaned) != 6:
            raise EchonetUsageError(f"{text!r} is not an EOJ (expected 6 hex digits such as 027D01)")
        try:
            return cls.from_bytes(bytes.fromhex(cleaned))
        except ValueError:
            raise EchonetUsageError(f"{text!r} is not an EOJ (expected 6 hex digits such as 027D01)") from None


class Property(NamedTuple):
    """One property of a frame: EPC and EDT (PDC is ``len(edt)``)."""

    epc: int
    edt: bytes = b""

    @property
    def pdc(self) -> int:
        return len(self.edt)


class Frame(NamedTuple):
    """One ECHONET Lite frame.

    For format 1 (``ehd2 == 0x81``) ``seoj``, ``deoj``, ``esv`` and ``properties`` are set and ``edata`` is ``None``;
    for SetGet ESVs ``properties`` is the OPCSet list and ``get_properties`` the OPCGet list. For format 2
    (``ehd2 == 0x82``) only ``edata`` (opaque bytes) is set. ``esv`` is an :class:`ESV` for known codes and a
    plain ``int`` for unknown ones.
    """

    ehd1: int
    ehd2: int
    tid: int
    seoj: EOJ | None = None
    deoj: EOJ | None = None
    esv: int | None = None
    properties: tuple[Property, ...] = ()
    get_properties: tuple[Property, ...] = ()
    edata: bytes | None = None

    @classmethod
    def make(
        cls,
        tid: int,
        seoj: EOJ,
        deoj: EOJ,
        esv: int,
        properties: tuple[Property, ...] | list[Property] = (),
        get_properties: tuple[Property, ...] | list[Property] = (),
    ) -> Frame:
        """A format-1 frame (EHD1 0x10, EHD2 0x81); known ESV codes become :class:`ESV` members."""
        # Built as the decoder builds frames (the constructor's argument handling is most of its cost); a tuple of
        # properties is kept as it is, as tuple() would.
        return unchecked(
            cls,
            (
                EHD1_ECHONET_LITE,
                _SPECIFIED,
                tid,
                seoj,
                deoj,
                ESV_BY_CODE.get(esv, esv),
                properties if type(properties) is tuple else tuple(properties),
                get_properties if type(get_properties) is tuple else tuple(get_properties),
                None,
            ),
        )

    @classmethod
    def arbitrary(cls, tid: int, edata: bytes) -> Frame:
        """A format-2 frame (EHD2 0x82) with opaque EDATA."""
        return cls(EHD1_ECHONET_LITE, EHD2.ARBITRARY, tid, edata=bytes(edata))

    @property
    def is_specified(self) -> bool:
        return self.ehd2 == EHD2.SPECIFIED

    def property(self, epc: int) -> Property | None:
        """The first property with this EPC in ``properties`` or, failing that, in ``get_properties``."""
        for prop in self.properties:
            if prop.epc == epc:
                return prop
        for prop in self.get_properties:
            if prop.epc == epc:
                return prop
        return None
