"""What decoding through the tables gives: :class:`DecodedValue` (one EDT) and :class:`TypedFrame` (a frame).

Both are ``NamedTuple`` subclasses, as the frame types are: the compiled decoders (:mod:`.compiled`) build millions
of them, with :func:`~echonet.frame.unchecked`. They compare by value.
"""

from __future__ import annotations

from typing import Any, NamedTuple

from ..frame import EOJ, Frame, Property, unchecked
from .model import PropertyDef
from .types import Number, OneOf, Special


class DecodedValue(NamedTuple):
    """The outcome of decoding one EDT through the tables: a value, a special code, or an invalid EDT.

    * a value: ``value`` is the typed value (numbers scaled, with :attr:`unit`);
    * a special code (overflow, underflow, "no data", ...): ``value`` is a :class:`~.types.Special`, a ``str``
      holding the code's name that keeps the code (:attr:`special` is true, :attr:`unit` empty);
    * invalid (an EDT that means no value of its definition: out of range, a code the definition lacks, a wrong
      size): ``error`` says why and ``value`` is the raw EDT;
    * a number whose coefficient properties were not at hand (``missing`` lists their EPCs): ``value`` is the
      number before them, without a unit, and :attr:`note` says which unit is unknown.

    EPCs no table defines (vendor EPCs 0xF0-0xFF included) decode to their raw EDT with no definition.
    docs/json-values.md gives the text and JSON forms of each case.
    """

    epc: int
    edt: bytes
    definition: PropertyDef | None
    value: Any  #: the typed value, or the raw EDT when there is no definition or the EDT is invalid
    error: str | None = None  #: why the EDT means no value of its definition
    missing: tuple[int, ...] = ()  #: coefficient EPCs whose values were not at hand (the value is unscaled)

    @property
    def name(self) -> str:
        if self.definition is not None:
            return self.definition.name
        return f"vendor-specific 0x{self.epc:02X}" if self.epc >= 0xF0 else f"unknown 0x{self.epc:02X}"

    @property
    def standard(self) -> bool:
        return self.definition.standard if self.definition is not None else self.epc < 0xF0

    @property
    def valid(self) -> bool:
        """False for an EDT that does not fit its definition."""
        return self.error is None

    @property
    def special(self) -> bool:
        """True when the EDT is a special code (overflow, underflow, "no data", ...) rather than a value."""
        return isinstance(self.value, Special)

    @property
    def note(self) -> str | None:
        """What keeps a valid value from being complete: ``unit 0xE2 unknown`` for a number whose coefficient
        properties were not in the frame (or the values at hand)."""
        if not self.missing:
            return None
        return "unit " + ", ".join(f"0x{epc:02X}" for epc in self.missing) + " unknown"

    @property
    def unit(self) -> str:
        """The unit of a number value; empty for a special code, an invalid EDT, an unscaled number and every
        value that is not a number. For alternatives (a number range or codes), the unit of the number option."""
        value = self.value
        if self.definition is None or self.error is not None or self.missing:
            return ""
        if isinstance(value, str | bool) or not isinstance(value, int | float):
            return ""
        t = self.definition.type
        if isinstance(t, OneOf):
            return t.unit_of(value, self.edt)
        return t.unit if isinstance(t, Number) else str(getattr(t, "unit", ""))

    def json_value(self) -> Any:
        """The value as JSON: the typed value (a special code as its name), or the EDT in hex when there is no
        definition or the EDT is invalid."""
        if self.definition is None or self.error is not None:
            return self.edt.hex()
        return self.definition.type.to_json(self.value)


class TypedFrame(NamedTuple):
    """A frame with every property decoded through the tables: the fields of :class:`~echonet.frame.Frame`, with
    a :class:`DecodedValue` in place of each :class:`~echonet.frame.Property` (which keeps its EPC and EDT).

    The properties belong to the object the frame is about (DEOJ for requests, SEOJ otherwise); a property without
    EDT (a Get, a Set_Res, an unreadable property of an SNA) has ``value`` ``None`` and no error. A number scaled by
    other properties is scaled with the EDTs of the whole frame (both halves of a SetGet). A format-2 frame (EHD2
    0x82) has no properties and keeps its ``edata``.
    """

    ehd1: int
    ehd2: int
    tid: int
    seoj: EOJ | None
    deoj: EOJ | None
    esv: int | None
    properties: tuple[DecodedValue, ...]
    get_properties: tuple[DecodedValue, ...] = ()
    edata: bytes | None = None

    @property
    def frame(self) -> Frame:
        """The plain frame."""
        return unchecked(
            Frame,
            (
                self.ehd1,
                self.ehd2,
                self.tid,
                self.seoj,
                self.deoj,
                self.esv,
                tuple(unchecked(Property, (dv.epc, dv.edt)) for dv in self.properties),
                tuple(unchecked(Property, (dv.epc, dv.edt)) for dv in self.get_properties),
                self.edata,
            ),
        )
