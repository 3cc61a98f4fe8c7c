"""Frame codec and typed values, side by side in one run: ours vs hand-written struct references vs pychonet, uecho
and construct.

    python tools/bench_codec.py [--rounds N] [--seconds S] [--json]

Each row group decodes (or encodes, or decodes to typed values) the same frame with every contender; rounds are
interleaved batch by batch (``PASSES`` batches of each contender a round) so that machine noise hits all of them
alike. Each round gives each contender a ratio to the reference of the same round (the struct reference, or the
struct + ``int.from_bytes`` floor for typed values); printed are the median operations/s, the median ratio and its
range over the rounds (not the best round). Typed rows also give ours against pychonet, round by round.

Groups and targets:

* ``decode`` / ``encode`` of a 3- and a 24-property Get_Res (issue #2): ours >= 0.5x struct, faster than pychonet;
* ``decode`` / ``encode`` of a SetGet_Res (two Set, three Get properties): ours >= 0.6x struct (uecho alongside);
* ``build``: ``encode(Frame.make(...))`` of a 3-property Get_Res from a ready tuple of properties, against the
  struct encoder given its tuple of pairs: ours >= 0.5x struct;
* ``typed``: every property of a Get_Res (the 3 above, and a storage battery's 24-property answer, all values
  valid) from the datagram to typed values. Ours is ``Registry.decode_frame`` (compiled from the tables; the
  ``decode + decode_value`` row is the per-property API), pychonet is ``decodeEchonetMsg`` then its per-EPC
  decoders (``StorageBattery.EPC_FUNCTIONS`` over ``EPC_SUPER_FUNCTIONS``, called by its ``call_epc_function``),
  the floor is the struct decoder then ``int.from_bytes`` of each EDT: ours >= 2x pychonet.

The struct references are the minimal hand-written code a careful engineer would write: one ``unpack_from`` for the
header, a loop slicing properties into plain tuples, a final length check. Ours does more (typed EOJ/ESV/Property
values, exact error offsets; typed values with ranges, units, special codes and invalid EDTs flagged), so the
ratios measure what that costs.
"""

from __future__ import annotations

import argparse
import json
import statistics
import struct
import sys
import time
from collections.abc import Callable
from typing import Any

from echonet import EOJ, Frame, Property, decode, encode
from echonet.spec.registry import default_registry
from echonet.wire import reference_decode, reference_encode

_HEADER = struct.Struct(">BBH3s3sBB")


def struct_decode(data: bytes) -> tuple[Any, ...]:
    ehd1, ehd2, tid, seoj, deoj, esv, opc = _HEADER.unpack_from(data)
    pos = 12
    props = []
    for _ in range(opc):
        pdc = data[pos + 1]
        props.append((data[pos], data[pos + 2 : pos + 2 + pdc]))
        pos += 2 + pdc
    if pos != len(data):
        raise ValueError("length mismatch")
    return (ehd1, ehd2, tid, seoj, deoj, esv, props)


def struct_encode(t: tuple[Any, ...]) -> bytes:
    ehd1, ehd2, tid, seoj, deoj, esv, props = t
    out = [_HEADER.pack(ehd1, ehd2, tid, seoj, deoj, esv, len(props))]
    for epc, edt in props:
        out.append(bytes((epc, len(edt))))
        out.append(edt)
    return b"".join(out)


def struct_decode_setget(data: bytes) -> tuple[Any, ...]:
    ehd1, ehd2, tid, seoj, deoj, esv, opc = _HEADER.unpack_from(data)
    pos = 12
    sets = []
    for _ in range(opc):
        pdc = data[pos + 1]
        sets.append((data[pos], data[pos + 2 : pos + 2 + pdc]))
        pos += 2 + pdc
    gets = []
    opc_get = data[pos]
    pos += 1
    for _ in range(opc_get):
        pdc = data[pos + 1]
        gets.append((data[pos], data[pos + 2 : pos + 2 + pdc]))
        pos += 2 + pdc
    if pos != len(data):
        raise ValueError("length mismatch")
    return (ehd1, ehd2, tid, seoj, deoj, esv, sets, gets)


def struct_encode_setget(t: tuple[Any, ...]) -> bytes:
    ehd1, ehd2, tid, seoj, deoj, esv, sets, gets = t
    out = [_HEADER.pack(ehd1, ehd2, tid, seoj, deoj, esv, len(sets))]
    for epc, edt in sets:
        out.append(bytes((epc, len(edt))))
        out.append(edt)
    out.append(bytes((len(gets),)))
    for epc, edt in gets:
        out.append(bytes((epc, len(edt))))
        out.append(edt)
    return b"".join(out)


BATTERY = EOJ(0x02, 0x7D, 0x01)
CONTROLLER = EOJ(0x05, 0xFF, 0x01)

#: A storage battery's answer to a Get of 24 properties, every value valid for its definition.
BATTERY_24 = [
    (0x80, "30"),
    (0x88, "42"),
    (0x8A, "000077"),
    (0x97, "0c1e"),
    (0xA0, "00002710"),
    (0xA1, "00002328"),
    (0xA4, "00000bb8"),
    (0xA6, "5a"),
    (0xA8, "0012d687"),
    (0xC8, "0000000000000bb8"),
    (0xCF, "42"),
    (0xD0, "00002710"),
    (0xD1, "01f4"),
    (0xD2, "00c8"),
    (0xD3, "fffffa24"),
    (0xD4, "ff9c"),
    (0xD6, "000f4240"),
    (0xD8, "000c3500"),
    (0xDA, "42"),
    (0xDB, "00"),
    (0xE2, "00001388"),
    (0xE4, "50"),
    (0xE5, "5f"),
    (0xE6, "04"),
]


def frames() -> dict[str, Frame]:
    three = Frame.make(
        0x0102,
        BATTERY,
        CONTROLLER,
        0x72,
        [Property(0xE2, bytes.fromhex("00001388")), Property(0xD3, bytes.fromhex("fffffa24")), Property(0xDA, b"\x42")],
    )
    many = Frame.make(
        0x0103,
        BATTERY,
        CONTROLLER,
        0x72,
        [Property(0x80 + i * 4, bytes((i,)) * (1 + i % 4)) for i in range(24)],
    )
    return {"3 properties": three, "24 properties": many}


def setget_frame() -> Frame:
    gets = [Property(0xE2, bytes.fromhex("00001388")), Property(0xD3, bytes.fromhex("fffffa24")), Property(0xE4, b"P")]
    return Frame.make(0x000A, BATTERY, CONTROLLER, 0x7E, [Property(0xDA, b""), Property(0xAA, b"")], gets)


def typed_frames() -> dict[str, Frame]:
    battery = [Property(epc, bytes.fromhex(edt)) for epc, edt in BATTERY_24]
    return {
        "Get_Res 3 props": frames()["3 properties"],
        "Get_Res 24 props": Frame.make(0x0104, BATTERY, CONTROLLER, 0x72, battery),
    }


def _pychonet() -> tuple[Callable[[bytes], Any], Callable[[dict[str, Any]], Any]] | None:
    try:
        from pychonet.lib.functions import buildEchonetMsg, decodeEchonetMsg
    except ImportError:
        return None
    return decodeEchonetMsg, buildEchonetMsg


def _pychonet_request(frame: Frame) -> dict[str, Any]:
    # pychonet builds requests from controller 05FF01 to a device: the same bytes apart from SEOJ/DEOJ order.
    assert frame.deoj is not None and frame.esv is not None
    return {
        "TID": frame.tid,
        "DEOJGC": 0x02,
        "DEOJCC": 0x7D,
        "DEOJCI": 0x01,
        "ESV": 0x61,
        "OPC": [{"EPC": p.epc, "PDC": len(p.edt), "EDT": int.from_bytes(p.edt, "big")} for p in frame.properties],
    }


def _pychonet_typed(data: bytes) -> Callable[[], Any] | None:
    """pychonet's decoding of a storage battery's frame to values: its frame decoder, then the decoder of each EPC
    (the class's table over the super class's, resolved per EPC as its ``update`` does), through its own caller."""
    try:
        from pychonet.EchonetInstance import call_epc_function
        from pychonet.lib.epc_functions import EPC_SUPER_FUNCTIONS
        from pychonet.lib.functions import decodeEchonetMsg
        from pychonet.StorageBattery import StorageBattery
    except ImportError:
        return None
    functions = {**StorageBattery.EPC_FUNCTIONS, **EPC_SUPER_FUNCTIONS}

    def typed(d: bytes = data) -> dict[int, Any]:
        message = decodeEchonetMsg(d)
        return {p["EPC"]: call_epc_function(functions[p["EPC"]], p["EDT"]) for p in message["OPC"]}

    assert set(functions) >= {p["EPC"] for p in decodeEchonetMsg(data)["OPC"]}
    return typed


def _uecho(frame: Frame) -> tuple[Callable[[], Any], Callable[[], Any], Callable[[], Any]] | None:
    """uecho's decoder, encoder (of a message built once) and builder + encoder of the same frame."""
    try:
        from uecho.protocol.message import Message
        from uecho.protocol.property import Property as UProperty
    except ImportError:
        return None
    data = encode(frame)
    assert frame.seoj is not None and frame.deoj is not None and frame.esv is not None
    seoj, deoj, esv = int.from_bytes(bytes(frame.seoj), "big"), int.from_bytes(bytes(frame.deoj), "big"), frame.esv
    sets = [UProperty(p.epc, p.edt) for p in frame.properties]
    gets = [UProperty(p.epc, p.edt) for p in frame.get_properties]
    setget = bool(frame.get_properties) or esv in (0x6E, 0x7E, 0x5E)

    def build() -> Any:
        message = Message()
        message.TID, message.SEOJ, message.DEOJ, message.ESV = frame.tid, seoj, deoj, esv
        if setget:
            message.set_properties, message.get_properties = sets, gets
        else:
            message.properties = sets
        return message

    def parse(d: bytes = data) -> Any:
        message = Message()
        message.parse_bytes(d)
        return message

    built = build()
    assert bytes(built.to_bytes()) == data and bytes(parse().to_bytes()) == data
    return parse, built.to_bytes, lambda: build().to_bytes()


#: Batches per contender per round, the contenders' batches interleaved (A B C A B C ...): a change of the machine's
#: load during a round then hits every contender of the round, not only the one measured at that moment.
PASSES = 5


def _batch_size(fn: Callable[[], Any], seconds: float) -> int:
    """How many calls make a batch of about ``seconds / PASSES``."""
    n = 1
    while True:
        start = time.perf_counter()
        for _ in range(n):
            fn()
        if time.perf_counter() - start > seconds / PASSES / 2:
            return n * 2
        n *= 2


def _batch(fn: Callable[[], Any], n: int) -> float:
    """Seconds per call over one batch of ``n`` calls."""
    start = time.perf_counter()
    for _ in range(n):
        fn()
    return (time.perf_counter() - start) / n


Group = tuple[str, str, str, dict[str, Callable[[], Any]]]  # frame, op, reference contender, contenders


def groups() -> list[Group]:
    py = _pychonet()
    out: list[Group] = []
    for label, frame in frames().items():
        data = encode(frame)
        as_tuple = struct_decode(data)
        dec: dict[str, Callable[[], Any]] = {
            "echonet": lambda d=data: decode(d),
            "struct reference": lambda d=data: struct_decode(d),
            "construct (oracle)": lambda d=data: reference_decode(d),
        }
        enc: dict[str, Callable[[], Any]] = {
            "echonet": lambda f=frame: encode(f),
            "struct reference": lambda t=as_tuple: struct_encode(t),
            "construct (oracle)": lambda f=frame: reference_encode(f),
        }
        if py is not None:
            py_decode, py_build = py
            request = _pychonet_request(frame)
            dec["pychonet"] = lambda d=data, fn=py_decode: fn(d)
            enc["pychonet"] = lambda r=request, fn=py_build: fn(dict(r))
        out += [(label, "decode", "struct reference", dec), (label, "encode", "struct reference", enc)]

    frame = setget_frame()
    data = encode(frame)
    as_tuple = struct_decode_setget(data)
    assert decode(data) == frame and struct_encode_setget(as_tuple) == data
    dec = {"echonet": lambda d=data: decode(d), "struct reference": lambda d=data: struct_decode_setget(d)}
    enc = {"echonet": lambda f=frame: encode(f), "struct reference": lambda t=as_tuple: struct_encode_setget(t)}
    ue = _uecho(frame)
    if ue is not None:
        dec["uecho"], enc["uecho"] = ue[0], ue[1]
    dec["construct (oracle)"] = lambda d=data: reference_decode(d)
    enc["construct (oracle)"] = lambda f=frame: reference_encode(f)
    out += [
        ("SetGet_Res 2+3", "decode", "struct reference", dec),
        ("SetGet_Res 2+3", "encode", "struct reference", enc),
    ]

    frame = frames()["3 properties"]
    tid, props = frame.tid, frame.properties
    pairs = [(p.epc, p.edt) for p in props]
    seoj_b, deoj_b = bytes(BATTERY), bytes(CONTROLLER)
    assert encode(Frame.make(tid, BATTERY, CONTROLLER, 0x72, props)) == struct_encode(
        (0x10, 0x81, tid, seoj_b, deoj_b, 0x72, pairs)
    )
    build: dict[str, Callable[[], Any]] = {
        "echonet": lambda: encode(Frame.make(tid, BATTERY, CONTROLLER, 0x72, props)),
        "struct reference": lambda: struct_encode((0x10, 0x81, tid, seoj_b, deoj_b, 0x72, pairs)),
    }
    ue = _uecho(frame)
    if ue is not None:
        build["uecho"] = ue[2]
    if py is not None:
        request = _pychonet_request(frame)
        build["pychonet"] = lambda r=request, fn=py[1]: fn(dict(r))
    out.append(("3 properties", "build", "struct reference", build))

    registry = default_registry()
    decode_value = registry.decode_value
    decode_frame = getattr(registry, "decode_frame", None)  # (absent before the compiled decoders)
    for label, frame in typed_frames().items():
        data = encode(frame)
        values = [decode_value(BATTERY.class_id, p.epc, p.edt) for p in frame.properties]
        assert all(dv.valid and not dv.special and dv.definition is not None for dv in values), label
        class_id = BATTERY.class_id

        def per_property(d: bytes = data, class_id: int = class_id) -> list[Any]:
            return [decode_value(class_id, p.epc, p.edt) for p in decode(d).properties]

        def floor(d: bytes = data) -> list[int]:
            return [int.from_bytes(edt, "big") for _, edt in struct_decode(d)[6]]

        contenders: dict[str, Callable[[], Any]] = {}
        if decode_frame is not None:
            contenders["echonet"] = lambda d=data, fn=decode_frame: fn(d)
        contenders["echonet decode+decode_value"] = per_property
        contenders["struct+int.from_bytes floor"] = floor
        py_typed = _pychonet_typed(data)
        if py_typed is not None:
            contenders["pychonet decoders"] = py_typed
        out.append((label, "typed", "struct+int.from_bytes floor", contenders))
    return out


def run(rounds: int, seconds: float, ops: frozenset[str] | None = None) -> list[dict[str, Any]]:
    results: list[dict[str, Any]] = []
    for label, op, reference, table in groups():
        if ops is not None and op not in ops:
            continue
        rates: dict[str, list[float]] = {name: [] for name in table}
        sizes = {name: _batch_size(fn, seconds) for name, fn in table.items()}
        for _ in range(rounds):  # interleaved: every contender PASSES batches a round, batch after batch
            times: dict[str, list[float]] = {name: [] for name in table}
            for _ in range(PASSES):
                for name, fn in table.items():
                    times[name].append(_batch(fn, sizes[name]))
            for name in table:
                rates[name].append(1.0 / statistics.median(times[name]))
        refs = rates[reference]
        pychonet = rates.get("pychonet decoders")
        for name, measured in rates.items():
            ratios = sorted(r / ref for r, ref in zip(measured, refs, strict=True))
            row: dict[str, Any] = {
                "frame": label,
                "op": op,
                "impl": name,
                "per_s": round(statistics.median(measured)),
                "ratio": statistics.median(ratios),
                "range": [ratios[0], ratios[-1]],
                "reference": reference,
            }
            if pychonet is not None and name.startswith("echonet") and op == "typed":
                vs = sorted(r / p for r, p in zip(measured, pychonet, strict=True))
                row["vs_pychonet"] = statistics.median(vs)
                row["vs_pychonet_range"] = [vs[0], vs[-1]]
            results.append(row)
    return results


def _echonet(results: list[dict[str, Any]], frame: str, op: str) -> dict[str, Any]:
    return next(r for r in results if r["frame"] == frame and r["op"] == op and r["impl"] == "echonet")


def targets(results: list[dict[str, Any]]) -> list[tuple[str, bool]]:
    """Each target and whether the medians meet it."""
    ours = [r for r in results if r["impl"] == "echonet"]
    codec = [r for r in ours if r["op"] in ("decode", "encode") and not r["frame"].startswith("SetGet")]
    faster = all(
        _echonet(results, r["frame"], r["op"])["per_s"] > r["per_s"]
        for r in results
        if r["impl"] == "pychonet" and r["op"] in ("decode", "encode")
    )
    setget = [r for r in ours if r["frame"].startswith("SetGet")]
    build = [r for r in ours if r["op"] == "build"]
    typed = [r for r in ours if r["op"] == "typed" and "vs_pychonet" in r]
    return [
        ("decode/encode >= 0.5x struct", all(r["ratio"] >= 0.5 for r in codec)),
        ("decode/encode faster than pychonet", faster),
        ("SetGet decode/encode >= 0.6x struct", bool(setget) and all(r["ratio"] >= 0.6 for r in setget)),
        ("Frame.make + encode >= 0.5x struct", bool(build) and all(r["ratio"] >= 0.5 for r in build)),
        ("typed decode >= 2x pychonet", bool(typed) and all(r["vs_pychonet"] >= 2 for r in typed)),
    ]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--seconds", type=float, default=0.2, help="time per batch")
    parser.add_argument("--ops", help="only these groups, comma-separated: decode,encode,build,typed")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    results = run(args.rounds, args.seconds, frozenset(args.ops.split(",")) if args.ops else None)
    if args.json:
        print(json.dumps(results, indent=1))
        return 0
    print(f"{'frame':<17} {'op':<7} {'implementation':<28} {'per s':>10} {'vs ref':>7} {'range':>11}  vs pychonet")
    for r in results:
        spread = f"{r['range'][0]:.2f}-{r['range'][1]:.2f}"
        extra = ""
        if "vs_pychonet" in r:
            extra = f"  {r['vs_pychonet']:.2f}x ({r['vs_pychonet_range'][0]:.2f}-{r['vs_pychonet_range'][1]:.2f})"
        print(
            f"{r['frame']:<17} {r['op']:<7} {r['impl']:<28} {r['per_s']:>10,} {r['ratio']:>6.2f}x {spread:>11}{extra}"
        )
    print("\nreference: struct reference, or for typed rows the struct+int.from_bytes floor")
    for name, met in targets(results):
        print(f"target {name}: {'met' if met else 'NOT met'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
