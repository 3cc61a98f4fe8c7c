"""Typed values at the speed of the frame codec: decoders compiled from the tables, at first use.

The tables (:mod:`.types`, :mod:`.model`) stay the single source, and :meth:`.Registry.reference_decode_value`,
which decodes through them object by object, stays the oracle. This module derives from each property definition a
plan (:func:`plan`) and from the plan straight-line Python, per class and EPC, generated the first time the EPC is
decoded, as :mod:`echonet.codec` generates its frame decoders:

* a *table* of ready results for the finite codes of a type (the names of an enumeration, numeric codes, levels,
  the special codes of a number or of alternatives), each computed once by the reference decoder itself;
* a *fast form* (:class:`FastForm`) for the values of the common types (numbers, alternatives of a number and
  codes, times, text, raw data, objects of numbers): the condition under which the reference decoder returns a
  value, and the expression of that value, both read off the type;
* the reference decoder for everything else: an EDT outside the fast form and the table (invalid, a range code, a
  number's limit code inside alternatives), a number scaled by other properties (coefficients), the rarer types.
  The compiled code never reproduces a reason or an edge case: it hands the EDT to the oracle.

:class:`PropertyDecoders` holds the compiled decoders of one class, by EPC. :class:`FrameDecoder` goes one step
further for the frames a capture or a controller sees over and over: once a layout (header, EPCs, PDCs) has been seen
:data:`SHAPE_AFTER` times, it compiles one function from the datagram to a :class:`~.decoded.TypedFrame` with every
property's code inlined, guarded by the layout (anything else takes the codec and the per-EPC decoders).
``tests/test_typed_fast.py`` proves both equal to the reference with hypothesis, over the built-in tables and the MRA
tables.
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, cast

from ..codec import decode
from ..constants import EHD1_ECHONET_LITE
from ..errors import ValueDecodeError
from ..frame import EHD2, SETGET_CODES, Frame, Property, unchecked
from .decoded import DecodedValue, TypedFrame
from .model import PropertyDef
from .types import Enum, Level, Number, NumericCode, Object, OneOf, Raw, Text, Time, ValueType

if TYPE_CHECKING:
    from .registry import Registry

#: A compiled decoder: EDT (``bytes``) and the other EDTs at hand (for coefficients) to the decoded value.
Decoder = Callable[[bytes, "Mapping[int, bytes] | None"], DecodedValue]

_SPECIFIED = EHD2.SPECIFIED
_ARBITRARY = EHD2.ARBITRARY


class Source:
    """The lines and constants of generated code: :meth:`const` names a value for the code, :meth:`function`
    executes the lines and returns the function they define."""

    def __init__(self) -> None:
        self.lines: list[str] = []
        self.ns: dict[str, Any] = {
            "_new": unchecked,
            "_DV": DecodedValue,
            "_fb": int.from_bytes,
            "_round": round,
            "_VDE": ValueDecodeError,
        }
        self._names: dict[int, str] = {}

    def const(self, value: Any) -> str:
        """A name the code can use for ``value`` (the same name for the same object)."""
        name = self._names.get(id(value))
        if name is None:
            name = self._names[id(value)] = f"_k{len(self._names)}"
            self.ns[name] = value
        return name

    def function(self, name: str) -> Callable[..., Any]:
        """Execute the lines (the first is ``def name(args):``) with every constant bound as a default argument of
        the function, so that the code reads them as locals."""
        head, *body = self.lines
        assert head.startswith(f"def {name}(") and head.endswith("):")
        bound = "".join(f", {key}={key}" for key in self.ns if key.startswith("_") and not key.startswith("__"))
        code = "\n".join([head[:-2] + bound + "):", *body])
        exec(code, self.ns)  # the code is generated here, from the tables, never from input
        return cast(Callable[..., Any], self.ns[name])


@dataclass(frozen=True)
class FastForm:
    """How a type decodes its common EDTs in straight-line code.

    For an EDT (the variable ``@E`` of the templates) whose size is in ``sizes``: after the ``prelude`` lines, the
    reference decoder returns exactly ``value`` when ``cond`` holds (always, for ``None``). ``@S`` in the templates
    is a suffix that keeps the local names of one property apart from the others'. ``kind`` is what ``value`` is:
    ``number`` (an ``int`` or ``float``, with ``unit``), ``text`` (a ``str``), ``bytes`` (the EDT itself) or
    ``other`` (a ``dict``). A number's prelude only reads the raw value ``r@S``; ``unpack`` is its :mod:`struct`
    code, with which a compiled layout reads the raw values of all its numbers at once instead.
    """

    sizes: tuple[int, int]
    prelude: tuple[str, ...]
    cond: str | None
    value: str
    kind: str
    unit: str = ""
    unpack: str | None = None

    def lines(self, edt: str, suffix: str) -> tuple[list[str], str | None, str]:
        """The prelude, condition and value with the EDT variable and the suffix filled in."""

        def fill(text: str) -> str:
            return text.replace("@S", suffix).replace("@E", edt)

        return [fill(line) for line in self.prelude], None if self.cond is None else fill(self.cond), fill(self.value)


def number_bounds(t: Number) -> tuple[int, int, int, int]:
    """The format's lowest and highest raw values and the type's range (as the reference decoder checks it)."""
    size, signed = t.min_size, t.signed
    lowest, highest = (-(1 << (8 * size - 1)), (1 << (8 * size - 1)) - 1) if signed else (0, (1 << (8 * size)) - 1)
    lo = lowest if t.minimum is None else t.minimum
    hi = highest if t.maximum is None else t.maximum
    return lowest, highest, lo, hi


def _number_form(t: Number, src: Source) -> FastForm:
    size = t.min_size
    if size == 1 and not t.signed:
        prelude = "r@S = @E[0]"
    elif t.signed:
        prelude = "r@S = _fb(@E, 'big', signed=True)"
    else:
        prelude = "r@S = _fb(@E, 'big')"
    lowest, highest, lo, hi = number_bounds(t)
    conds = []
    if (lo, hi) != (lowest, highest):
        conds.append(f"{lo} <= r@S <= {hi}")
    if t.allowed is not None:
        conds.append(f"r@S in {src.const(t.allowed)}")
    value = "r@S" if t.scale == 1 else f"_round(r@S * {src.const(t.scale)}, {t.decimals})"
    code = {1: "b", 2: "h", 4: "i", 8: "q"}.get(size)
    unpack = None if code is None else code if t.signed else code.upper()
    return FastForm((size, size), (prelude,), " and ".join(conds) or None, value, "number", t.unit, unpack)


def _one_number(t: OneOf) -> Number | None:
    """The number of alternatives made of one number and enumerations without ranges (the common "value or
    special code" shape), whose codes are all special codes; ``None`` for any other alternatives."""
    numbers = [o for o in t.options if type(o) is Number]
    if len(numbers) != 1:
        return None
    if any(not (type(o) is Number or (type(o) is Enum and not o.ranges)) for o in t.options):
        return None
    return numbers[0]


def fast_form(t: ValueType, src: Source) -> FastForm | None:
    """The fast form of a type, or ``None`` when the reference decoder decodes it (constants go to ``src``)."""
    kind = type(t)
    if kind is Number:
        return _number_form(cast(Number, t), src)
    if kind is OneOf:
        number = _one_number(cast(OneOf, t))
        return None if number is None else _number_form(number, src)
    if kind is Raw:
        raw = cast(Raw, t)
        return FastForm((raw.min_len, raw.max_len), (), None, "@E", "bytes")
    if kind is Text:
        text = cast(Text, t)
        return FastForm(
            (text.min_len, text.max_len),
            ("s@S = @E.rstrip(b'\\x00 ')",),
            "s@S.isascii() and (s@S := s@S.decode('ascii')).isprintable()",
            "s@S",
            "text",
        )
    if kind is Time:
        time = cast(Time, t)
        if time.size == 2:
            return FastForm(
                (2, 2), (), f"@E[0] <= {time.max_hour} and @E[1] <= 59", "'%02d:%02d' % (@E[0], @E[1])", "text"
            )
        if time.size == 3:
            return FastForm(
                (3, 3),
                (),
                f"@E[0] <= {time.max_hour} and @E[1] <= 59 and @E[2] <= 59",
                "'%02d:%02d:%02d' % (@E[0], @E[1], @E[2])",
                "text",
            )
        return None
    if kind is Object:
        return _object_form(cast(Object, t), src)
    return None


def _object_form(t: Object, src: Source) -> FastForm | None:
    """Fields that are all numbers of fixed size: each read from its slice, the dict built in field order."""
    if not t.fields or any(type(f.type) is not Number for f in t.fields):
        return None
    prelude: list[str] = []
    conds: list[str] = []
    items: list[str] = []
    pos = 0
    for i, f in enumerate(t.fields):
        form = _number_form(cast(Number, f.type), src)
        size = form.sizes[0]
        part = f"o@S_{i}"
        prelude.append(f"{part} = @E[{pos}:{pos + size}]")
        lines, cond, value = form.lines(part, f"@S_{i}")
        prelude += lines
        if cond is not None:
            conds.append(cond)
        items.append(f"{f.name!r}: {value}")
        pos += size
    if pos > 255:
        return None
    return FastForm((pos, pos), tuple(prelude), " and ".join(conds) or None, "{" + ", ".join(items) + "}", "other")


def table_edts(t: ValueType) -> list[bytes]:
    """The EDTs of a type's finite codes, whose results are worth computing once: the codes of an enumeration,
    numeric codes, levels, and the special codes of a number or of alternatives."""
    kind = type(t)
    codes: list[tuple[int, int]] = []
    if kind is Enum or kind is NumericCode:
        coded = cast(Enum | NumericCode, t)
        codes = [(code, coded.size) for code in coded.values]
    elif kind is Level:
        level = cast(Level, t)
        codes = [(level.base + i, 1) for i in range(level.maximum)]
    elif kind is Number or kind is OneOf:
        codes = [(s.code, s.size) for s in cast(Number | OneOf, t).specials]
    out = []
    for code, size in codes:
        try:
            out.append(code.to_bytes(size, "big"))
        except (OverflowError, ValueError):
            continue
    return out


_ANY_RAW = FastForm((0, 255), (), None, "@E", "bytes")


@dataclass(frozen=True)
class Plan:
    """How one property decodes: its ready results by EDT (``table``; tried before the fast form when
    ``table_first``, as alternatives try their codes first), the :class:`FastForm` of its type, or only the
    reference decoder (``reference``: a number scaled by other properties). With neither a table nor a form, the
    type's own ``decode`` runs, and the reason of an invalid EDT is the one it gives."""

    epc: int
    definition: PropertyDef | None
    empty: DecodedValue  #: the property without EDT, as a frame shows it (no value, no error)
    table: Mapping[bytes, DecodedValue] = field(default_factory=dict)
    table_first: bool = False
    reference: bool = False

    def form(self, src: Source) -> FastForm | None:
        """The fast form (constants go to ``src``); ``None``: the type's decoder or the reference decodes."""
        if self.definition is None:
            return _ANY_RAW
        if self.reference:
            return None
        return fast_form(self.definition.type, src)


def plan(epc: int, definition: PropertyDef | None, reference: Decoder) -> Plan:
    """The plan of one property; ``reference`` decodes an EDT of it through the tables (for the ready results)."""
    empty = unchecked(DecodedValue, (epc, b"", definition, None, None, ()))
    if definition is None:
        return Plan(epc, None, empty)
    if definition.coefficients:
        return Plan(epc, definition, empty, reference=True)
    t = definition.type
    table = {edt: reference(edt, None) for edt in table_edts(t)}
    return Plan(epc, definition, empty, table, type(t) is OneOf)


def property_block(
    plan_: Plan,
    src: Source,
    edt: str,
    out: str,
    suffix: str,
    ctx: str,
    fallback: str,
    pdc: int | None,
    raw_ready: bool = False,
) -> list[str]:
    """Lines assigning to ``out`` the decoded value of the EDT in variable ``edt``, whose size is ``pdc`` (``None``:
    not known, checked by the lines); ``fallback`` names the reference decoder, called as ``fallback(edt, ctx)``.
    With ``raw_ready``, the raw value of a number form is already in ``r`` + ``suffix`` (read by :mod:`struct`)."""
    call = f"{fallback}({edt}, {ctx})"
    if pdc == 0:
        return [f"{out} = {src.const(plan_.empty)}"]
    if plan_.reference:
        return [f"{out} = {call}"]
    definition = src.const(plan_.definition)

    def value(expr: str, error: str = "None") -> str:
        return f"_new(_DV, ({plan_.epc}, {edt}, {definition}, {expr}, {error}, ()))"

    table = f"{src.const(plan_.table.get)}" if plan_.table else None
    form = plan_.form(src)
    if form is None and table is None:
        assert plan_.definition is not None
        decoder = src.const(plan_.definition.type.decode)
        return [
            "try:",
            f"    v{suffix} = {decoder}({edt})",
            "except _VDE as x:",
            f"    {out} = {value(edt, 'x.reason')}",
            "else:",
            f"    {out} = {value(f'v{suffix}')}",
        ]
    rest = call if table is None else f"{table}({edt}) or {call}"
    if form is None or (pdc is not None and not form.sizes[0] <= pdc <= form.sizes[1]):
        return [f"{out} = {rest}"]
    prelude, cond, expr = form.lines(edt, suffix)
    if raw_ready and pdc is not None and form.unpack is not None:
        prelude = []
    lines: list[str] = []
    indent = ""
    if table is not None and plan_.table_first:
        lines += [f"{out} = {table}({edt})", f"if {out} is None:"]
        indent, rest = "    ", call
    if pdc is None:  # the size is checked first
        lo, hi = form.sizes
        size = f"len({edt}) == {lo}" if lo == hi else f"{lo} <= len({edt}) <= {hi}"
        if prelude:
            lines.append(f"{indent}if {size}:")
            lines += [f"{indent}    {line}" for line in prelude]
            lines += [
                f"{indent}    if {cond or 'True'}:",
                f"{indent}        {out} = {value(expr)}",
                f"{indent}    else:",
                f"{indent}        {out} = {rest}",
                f"{indent}else:",
                f"{indent}    {out} = {rest}",
            ]
            return lines
        cond = size if cond is None else f"{size} and {cond}"
        prelude = []
    lines += [f"{indent}{line}" for line in prelude]
    if cond is None:
        lines.append(f"{indent}{out} = {value(expr)}")
        return lines
    lines += [
        f"{indent}if {cond}:",
        f"{indent}    {out} = {value(expr)}",
        f"{indent}else:",
        f"{indent}    {out} = {rest}",
    ]
    return lines


class PropertyDecoders(dict[int, Decoder]):
    """The compiled decoders of one class by EPC (``decoders[epc](edt, others)``), each compiled at first use.

    Registries share one per class they define, and one for all the classes they do not (a device group's unknown
    classes have the super class's properties), so that their number is bounded by the tables, not by the traffic.
    ``derived`` keeps what other layers derive from the same definitions (the JSON and text renderers of
    :mod:`echonet.describe`), so that it too is built once per class.
    """

    def __init__(self, registry: Registry, class_id: int) -> None:
        super().__init__()
        self.class_id = class_id
        self.definitions: Mapping[int, PropertyDef] = registry.properties(class_id)
        #: EPCs whose numbers other properties scale: a frame decodes them with the frame's other EDTs at hand.
        self.scaled = frozenset(epc for epc, d in self.definitions.items() if d.coefficients)
        self.derived: dict[str, Any] = {}
        self._registry = registry
        self._plans: dict[int, Plan] = {}
        self._references: dict[int, Decoder] = {}

    def reference(self, epc: int) -> Decoder:
        """The reference decoder of one EPC of this class (the oracle the compiled one falls back to)."""
        found = self._references.get(epc)
        if found is None:
            decode_value = self._registry.reference_decode_value
            class_id = self.class_id

            def reference(edt: bytes, others: Mapping[int, bytes] | None = None) -> DecodedValue:
                return decode_value(class_id, epc, edt, others)

            found = self._references[epc] = reference
        return found

    def plan(self, epc: int) -> Plan:
        found = self._plans.get(epc)
        if found is None:
            found = self._plans[epc] = plan(epc, self.definitions.get(epc), self.reference(epc))
        return found

    def empty(self, epc: int) -> DecodedValue:
        """The property without EDT, as a frame shows it."""
        return self.plan(epc).empty

    def __missing__(self, epc: int) -> Decoder:
        src = Source()
        fallback = src.const(self.reference(epc))
        src.lines = ["def decoder(e, ctx=None):"]
        src.lines += [
            "    " + line for line in property_block(self.plan(epc), src, "e", "d", "", "ctx", fallback, None)
        ]
        src.lines.append("    return d")
        decoder = cast(Decoder, src.function("decoder"))
        self[epc] = decoder
        return decoder


# Frames --------------------------------------------------------------------------------------------------------------

#: A layout is compiled once it has been seen this many times (a flood of one-off layouts compiles nothing).
SHAPE_AFTER = 3
#: At most this many layouts are compiled per registry, and at most a few per header.
MAX_SHAPES = 1024
_SHAPES_PER_HEAD = 4
_SEEN_MAX = 8192

_Layout = tuple[tuple[int, int], ...]


def _owner_class(frame: Frame) -> int:
    """The class whose properties a frame carries (DEOJ for requests, SEOJ otherwise), as describe shows them."""
    esv = frame.esv
    owner = frame.deoj if esv is not None and 0x60 <= esv <= 0x6F else frame.seoj
    return owner.class_id if owner is not None else -1


class FrameDecoder:
    """Datagram (or frame) to :class:`~.decoded.TypedFrame`, through compiled layouts where the traffic repeats.

    :meth:`decode` raises :class:`~echonet.errors.FrameDecodeError` exactly as :func:`echonet.codec.decode` does;
    :meth:`typed` decodes the properties of a frame already decoded.
    """

    def __init__(self, registry: Registry) -> None:
        self._registry = registry
        self._shapes: dict[bytes, tuple[Callable[[bytes], TypedFrame | None], ...]] = {}
        self._seen: dict[tuple[bytes, _Layout, _Layout | None], int] = {}
        self.compiled = 0  #: layouts compiled so far

    def decode(self, data: bytes) -> TypedFrame:
        if type(data) is bytes:
            shapes = self._shapes.get(data[4:12])
            if shapes is not None:
                for shape in shapes:
                    typed = shape(data)
                    if typed is not None:
                        return typed
        frame = decode(data)
        if frame.ehd2 == _SPECIFIED and type(data) is bytes and self.compiled < MAX_SHAPES:
            self._learn(data, frame)
        return self.typed(frame)

    def typed(self, frame: Frame) -> TypedFrame:
        ehd1, ehd2, tid, seoj, deoj, esv, props, get_props, edata = frame
        if ehd2 == _ARBITRARY or seoj is None:
            return unchecked(TypedFrame, (ehd1, ehd2, tid, seoj, deoj, esv, (), (), edata))
        decoders = self._registry.decoders(_owner_class(frame))
        values = _half(decoders, props, get_props)
        gets = _half(decoders, get_props, props) if get_props else ()
        return unchecked(TypedFrame, (ehd1, ehd2, tid, seoj, deoj, esv, values, gets, edata))

    def _learn(self, data: bytes, frame: Frame) -> None:
        head = data[4:12]
        layout = tuple((p.epc, len(p.edt)) for p in frame.properties)
        gets = tuple((p.epc, len(p.edt)) for p in frame.get_properties) if data[10] in SETGET_CODES else None
        key = (head, layout, gets)
        seen = self._seen.get(key, 0) + 1
        if seen < SHAPE_AFTER:
            if len(self._seen) >= _SEEN_MAX:
                self._seen.clear()
            self._seen[key] = seen
            return
        self._seen.pop(key, None)
        shapes = self._shapes.get(head, ())
        if len(shapes) >= _SHAPES_PER_HEAD:
            return
        self._shapes[head] = (*shapes, self._compile(frame, layout, gets))
        self.compiled += 1

    def _compile(self, frame: Frame, layout: _Layout, gets: _Layout | None) -> Callable[[bytes], TypedFrame | None]:
        """The function of one layout: a guard (the length, then EHD1 and EHD2, every EPC and PDC and the OPCGet,
        read by one :mod:`struct` call and compared with the layout's), the EDTs and the raw values of the numbers
        (two more calls), each property's code inlined, and the typed frame; ``None`` for another layout."""
        decoders = self._registry.decoders(_owner_class(frame))
        src = Source()
        src.ns["_TF"] = TypedFrame
        halves = [layout] if gets is None else [layout, gets]
        guard_format, guard = ">H10x", [(EHD1_ECHONET_LITE << 8) | int(_SPECIFIED)]
        edts_format, edts = ">12x", []
        raws_format, raws = ">12x", []
        plans: list[list[tuple[int, str, int, Plan]]] = []  # per half: EPC, EDT variable, PDC, plan
        for h, half in enumerate(halves):
            if h == 1:
                guard_format, edts_format, raws_format = guard_format + "B", edts_format + "x", raws_format + "x"
                guard.append(len(half))
            row = []
            for i, (epc, pdc) in enumerate(half):
                name, plan_ = f"e{h}_{i}", decoders.plan(epc)
                guard_format += f"BB{pdc}x" if pdc else "BB"
                guard.append(epc)
                guard.append(pdc)
                edts_format += f"2x{pdc}s" if pdc else "2x"
                if pdc:
                    edts.append(name)
                form = plan_.form(src) if pdc else None
                if form is not None and form.unpack is not None and form.sizes == (pdc, pdc):
                    raws_format += f"2x{form.unpack}"
                    raws.append(f"r{h}_{i}")
                else:
                    raws_format += f"2x{pdc}x" if pdc else "2x"
                row.append((epc, name, pdc, plan_))
            plans.append(row)
        size, read_guard = struct.calcsize(guard_format), src.const(struct.Struct(guard_format).unpack_from)
        lines = [
            "def shape(data):",
            f"    if len(data) != {size} or {read_guard}(data) != {src.const(tuple(guard))}:",
            "        return None",
            "    tid = (data[2] << 8) | data[3]",
        ]
        if edts:
            lines.append(f"    ({', '.join(edts)},) = {src.const(struct.Struct(edts_format).unpack_from)}(data)")
        if raws:
            lines.append(f"    ({', '.join(raws)},) = {src.const(struct.Struct(raws_format).unpack_from)}(data)")
        for h, row in enumerate(plans):
            # the EDTs at hand for coefficients: this half's, then the other half's (as describe gathers them)
            ctx = "None"
            if any(pdc and epc in decoders.scaled for epc, _name, pdc, _plan in row):
                around = row + (plans[1 - h] if len(plans) == 2 else [])
                ctx = f"c{h}"
                lines.append(f"    {ctx} = {{" + ", ".join(f"{e}: {n}" for e, n, pdc, _p in around if pdc) + "}")
            for i, (epc, name, pdc, plan_) in enumerate(row):
                fallback = src.const(decoders.reference(epc))
                ready = f"r{h}_{i}" in raws
                block = property_block(plan_, src, name, f"d{h}_{i}", f"{h}_{i}", ctx, fallback, pdc, ready)
                lines += ["    " + line for line in block]
        values = ["(" + "".join(f"d{h}_{i}, " for i in range(len(row))) + ")" for h, row in enumerate(plans)]
        if gets is None:
            values.append("()")
        head = f"{EHD1_ECHONET_LITE}, {src.const(_SPECIFIED)}, tid, {src.const(frame.seoj)}, {src.const(frame.deoj)}"
        lines.append(f"    return _new(_TF, ({head}, {src.const(frame.esv)}, {values[0]}, {values[1]}, None))")
        src.lines = lines
        return cast(Callable[[bytes], TypedFrame | None], src.function("shape"))


def _half(
    decoders: PropertyDecoders, props: Sequence[Property], others: Sequence[Property]
) -> tuple[DecodedValue, ...]:
    """The decoded properties of one half of a frame (the other half is at hand for coefficients)."""
    ctx: dict[int, bytes] | None = None
    scaled = decoders.scaled
    out = []
    for epc, edt in props:
        if not edt:
            out.append(decoders.empty(epc))
            continue
        if ctx is None and epc in scaled:
            ctx = {q.epc: q.edt for q in (*props, *others) if q.edt}
        if type(edt) is bytes:
            out.append(decoders[epc](edt, ctx))
        else:
            out.append(decoders.reference(epc)(edt, ctx))
    return tuple(out)
