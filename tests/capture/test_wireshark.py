"""``echonet wireshark-export``: the generated Lua dissector, run by the real tshark on the example captures and on a
generated capture covering every ESV and every property of the built-in classes (every EDT of one-byte properties,
the edges of numbers: range ends, out of range, special codes; property maps in both forms; raw, vendor and unknown
EPCs; SetGet halves; EHD2 0x82; the overlay's records). Every field tshark prints (-T json) is compared with
``echonet decode --json``: no difference allowed, and every property with an EDT of the built-in classes must carry
its typed value in Lua (records, arrays, dates, times, text, identification numbers included; ``echonet.typed`` =
``no`` is left only for numbers scaled by coefficient properties, which the built-in tables do not have)."""

from __future__ import annotations

import json
import random
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from echonet.codec import encode
from echonet.frame import EOJ, ESV, Frame, Property
from echonet.pcap import Datagram, write_capture
from echonet.spec.registry import default_registry
from echonet.spec.types import Number

from ..conftest import ROOT
from .test_secured import records as secured_records

SAMPLES = [ROOT / "examples" / "captures" / "sample.pcap", ROOT / "examples" / "captures" / "sample.pcapng"]
CTRL, DEV = "10.2.0.1", "10.2.0.2"
C = EOJ(0x05, 0xFF, 0x01)


def _tshark() -> str:
    path = shutil.which("tshark")
    if path is None:
        pytest.skip("tshark is not installed (Debian package tshark; .ci/run installs it)")
    return path


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "echonet", *args], capture_output=True, text=True, cwd=ROOT, timeout=300
    )


@pytest.fixture(scope="module")
def plugin(tmp_path_factory: pytest.TempPathFactory) -> Path:
    _tshark()
    folder = tmp_path_factory.mktemp("wireshark")
    out = _cli("wireshark-export", str(folder), "--json")
    assert out.returncode == 0, out.stderr
    path = Path(json.loads(out.stdout)["plugin"])
    assert path.name == "echonet.lua" and path.is_file()
    return path


def _edts(t: Any, rng: random.Random) -> list[bytes]:
    lo, hi = t.min_size, min(t.max_size, 24)
    if lo == hi == 1:
        return [bytes((b,)) for b in range(256)] + [b"\x30\x30"]  # (and one of a wrong size)
    out = [rng.randbytes(rng.randint(max(lo, 1), max(hi, lo, 1))) for _ in range(8)]  # seeded: the same every run
    out.append(bytes(hi + 1))  # one byte too many
    for size in sorted({lo, hi, (lo + hi) // 2} - {0}):
        out += [bytes(size), b"\xff" * size, bytes(range(1, size + 1)), b"\x7f" + b"\xff" * (size - 1)]
    if isinstance(t, Number):
        size, signed = t.min_size, t.signed
        for raw in (t.minimum, t.maximum):
            if raw is None:
                continue
            for r in (raw - 1, raw, raw + 1):
                if -(1 << (8 * size - 1)) <= r < (1 << (8 * size)) and (signed or r >= 0):
                    out.append(r.to_bytes(size, "big", signed=signed and r < (1 << (8 * size - 1))))
        out += [s.code.to_bytes(size, "big") for s in t.specials]
    return out


def coverage_capture() -> list[Datagram]:
    """Every property of every built-in class with many EDTs, every ESV, EHD2 0x82, vendor EPCs, an unknown class,
    property maps of both forms, and the overlay's records."""
    registry = default_registry()
    rng = random.Random(16)
    frames: list[bytes] = []
    tid = 0
    for cls in registry:
        if cls.class_id == 0:
            continue
        eoj = EOJ(cls.class_id >> 8, cls.class_id & 0xFF, 1)
        props = [Property(p.epc, e) for p in registry.properties(cls.class_id).values() for e in _edts(p.type, rng)]
        props += [Property(0xF5, b"\x01\x02"), Property(0x9F, bytes(17)), Property(0x9F, b"\x11" + b"\x05" * 16)]
        for i in range(0, len(props), 12):
            tid += 1
            frames.append(encode(Frame.make(tid, eoj, C, ESV.GET_RES, props[i : i + 12])))
    unknown = EOJ(0x09, 0x99, 0x01)
    frames.append(encode(Frame.make(1, unknown, C, ESV.INF, [Property(0x80, b"\x30"), Property(0xE0, b"\x01")])))
    battery = EOJ(0x02, 0x7D, 0x01)
    two = [Property(0x80, b"\x30"), Property(0xE2, b"\x00\x00\x10\x00")]
    for esv in ESV:
        gets = (
            [Property(0xE4, b""), Property(0x80, b"\x31")]
            if esv in (ESV.SETGET, ESV.SETGET_RES, ESV.SETGET_SNA)
            else []
        )
        src, dst = (C, battery) if 0x60 <= esv <= 0x6F else (battery, C)
        frames.append(encode(Frame.make(100, src, dst, esv, two, gets)))
    frames.append(bytes.fromhex("1081000105ff01027d019901800130"))  # an ESV no table names
    frames.append(bytes.fromhex("1082000700010203fedcba98"))  # EHD2 0x82
    out = [Datagram(1.7e9 + i / 1000, DEV, CTRL, 3610, 3610, f) for i, f in enumerate(frames)]
    base = 1.7e9 + len(frames)
    out += [Datagram(base + i, s, d, 3610, 3610, data) for i, (s, d, data) in enumerate(secured_records())]
    return out


def _eoj(value: Any) -> tuple[str, str]:
    if isinstance(value, dict):
        return value["eoj"], value["class_name"]
    return value, ""


def _expected_property(p: dict[str, Any], half: str | None) -> dict[str, str]:
    out = {"epc": p["epc"], "name": p["name"], "pdc": str(p["pdc"]), "edt": p["edt"]}
    if half:
        out["half"] = half
    if "key" in p:
        out["key"] = p["key"]
    if p.get("standard") is False:
        out["standard"] = "false"
    if "valid" in p:
        out["valid"] = "true" if p["valid"] else "false"
    if "value" in p:
        out["value"] = json.dumps(p["value"], ensure_ascii=False, separators=(",", ":"))
    for name in ("unit", "error"):
        if name in p:
            out[name] = p[name]
    if p.get("special"):
        out["special"] = "true"
    if "unscaled" in p:
        out["unscaled"] = json.dumps(p["unscaled"])
    return out


def expected_layer(record: dict[str, Any]) -> dict[str, Any] | None:
    """What the dissector must show for a ``decode --json`` record (``None``: a malformed datagram)."""
    if "secure" in record:
        sec = record["secure"]
        out = {"secure.record": sec["record"]}
        for name in ("message", "connection_id", "cookie", "kid", "partial_iv"):
            if name in sec and sec[name] is not None:
                out[f"secure.{name}"] = sec[name]
        for name in ("sequence", "length"):
            if name in sec and (name != "length" or sec["record"] != "unknown_context"):
                out[f"secure.{name}"] = str(sec[name])
        return out
    frame = record.get("frame")
    if frame is None:
        return None
    out: dict[str, Any] = {"ehd1": frame["ehd1"], "ehd2": frame["ehd2"], "tid": str(frame["tid"])}
    if "edata" in frame:
        out["edata"] = frame["edata"]
        return out
    (seoj, seoj_class), (deoj, deoj_class) = _eoj(frame["seoj"]), _eoj(frame["deoj"])
    out.update(seoj=seoj, seoj_class=frame.get("seoj_class", seoj_class), deoj=deoj)
    out.update(deoj_class=frame.get("deoj_class", deoj_class), esv=frame["esv"], esv_code=frame["esv_code"])
    if "get_properties" in frame:
        props = [_expected_property(p, "set") for p in frame["properties"]]
        props += [_expected_property(p, "get") for p in frame["get_properties"]]
    else:
        props = [_expected_property(p, None) for p in frame["properties"]]
    out["properties"] = props
    return out


def shown_layer(layer: dict[str, Any]) -> dict[str, Any]:
    """tshark's echonet layer, with the ``echonet.`` prefixes off and the properties as a list."""
    out: dict[str, Any] = {}
    props: list[dict[str, str]] = []
    for key, value in layer.items():
        name = key.removeprefix("echonet.")
        if name == "property":
            continue
        if name == "property_tree":
            for p in value if isinstance(value, list) else [value]:
                props.append({k.removeprefix("echonet."): v for k, v in p.items()})
            continue
        out[name] = value
    if props or "esv" in out:
        out["properties"] = props
    return out


def compare(capture: Path, plugin: Path) -> tuple[int, int, int, int]:
    """Compare every datagram; return (datagrams compared, properties, properties with an EDT, properties typed in
    Lua)."""
    decoded = _cli("decode", "--pcap", str(capture), "--json")
    assert decoded.returncode == 0, decoded.stderr
    records = [json.loads(line) for line in decoded.stdout.splitlines()]
    run = subprocess.run(
        [_tshark(), "-X", f"lua_script:{plugin}", "-r", str(capture), "-T", "json", "--no-duplicate-keys",
         "-Y", "udp.port == 3610"],
        capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr
    assert "Lua" not in run.stderr, run.stderr
    packets = [p["_source"]["layers"] for p in json.loads(run.stdout)]
    shown = [p.get("echonet") for p in packets]
    assert len(shown) == len(records)
    compared = props = typed = with_edt = 0
    for i, (record, layer) in enumerate(zip(records, shown, strict=True)):
        want = expected_layer(record)
        if want is None:
            continue  # a malformed datagram: decode names the reason, the dissector shows what it could read
        assert layer is not None, f"datagram {i + 1}: tshark shows no echonet layer for {record}"
        got = shown_layer(layer)
        for p_got, p_want in zip(got.get("properties", []), want.get("properties", []), strict=False):
            with_edt += p_want["pdc"] != "0"
            if p_got.get("typed") == "no":
                p_got.pop("typed")
                for name in ("valid", "value", "unit", "special", "error", "unscaled"):
                    p_want.pop(name, None)
            elif p_want["pdc"] != "0":
                typed += 1
            props += 1
        if got != want:
            diff = [
                (g, w) for g, w in zip(got.get("properties", []), want.get("properties", []), strict=False) if g != w
            ]
            raise AssertionError(f"datagram {i + 1} differs: {diff[:3] or (got, want)}")
        compared += 1
    return compared, props, with_edt, typed


def test_example_captures(plugin: Path) -> None:
    for capture in SAMPLES:
        compared, props, with_edt, typed = compare(capture, plugin)
        assert compared == 18 and props > 0
        assert typed == with_edt, f"only {typed} of {with_edt} properties typed in Lua"


def test_every_esv_and_every_property_of_the_built_in_classes(plugin: Path, tmp_path: Path) -> None:
    capture = tmp_path / "coverage.pcap"
    datagrams = coverage_capture()
    write_capture(capture, datagrams)
    compared, props, with_edt, typed = compare(capture, plugin)
    assert compared == len(datagrams)
    print(f"{compared} datagrams, {props} properties compared, {with_edt} with an EDT, {typed} typed in Lua")
    assert typed == with_edt, f"only {typed} of {with_edt} properties typed in Lua"  # every type of the tables
