"""Helpers shared by the Python interop runners (pychonet_controller.py, uecho_device.py, uecho_controller.py).

Deliberately independent of the project's own ``echonet`` package: the runners stand for other stacks, so the few
protocol details they need (property maps, targets on the command line, device profiles) are spelled out here.
"""

from __future__ import annotations

import asyncio
import json
import signal
import sys
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
PROFILES = HERE / "profiles"
MAP_EPCS = (0x9D, 0x9E, 0x9F)


@dataclass(frozen=True)
class PropertySpec:
    """One property of a device profile: its value and which maps carry it."""

    epc: int
    edt: bytes
    get: bool
    set: bool
    inf: bool
    enum: tuple[bytes, ...] = ()
    name: str = ""

    def accepts(self, edt: bytes) -> bool:
        """Whether a Set of ``edt`` is acceptable: settable, same size, and one of the enum values if any."""
        if not self.set or len(edt) != len(self.edt):
            return False
        return not self.enum or edt in self.enum


@dataclass(frozen=True)
class Profile:
    """A device object as the device runners host it (``profiles/<CLASS>.json``)."""

    eoj: int
    properties: tuple[PropertySpec, ...] = field(default=())

    def with_instance(self, instance: int) -> Profile:
        return Profile((self.eoj & 0xFFFF00) | instance, self.properties)

    def epcs(self, what: str) -> list[int]:
        """EPCs of the Get ("get"), Set ("set") or status-change ("inf") map, maps themselves included in Get."""
        epcs = [p.epc for p in self.properties if getattr(p, what)]
        if what == "get":
            epcs.extend(MAP_EPCS)
        return sorted(set(epcs))


def load_profile(cls: str) -> Profile:
    """The profile for class code ``cls`` (four hex digits, e.g. ``027D``)."""
    path = PROFILES / f"{cls.upper()}.json"
    data = json.loads(path.read_text(encoding="utf-8"))
    props = []
    for epc_hex, spec in data["properties"].items():
        access = str(spec["access"])
        props.append(
            PropertySpec(
                epc=int(epc_hex, 16),
                edt=bytes.fromhex(spec["edt"]),
                get="g" in access,
                set="s" in access,
                inf="i" in access,
                enum=tuple(bytes.fromhex(v) for v in spec.get("enum", ())),
                name=str(spec.get("name", "")),
            )
        )
    return Profile(int(data["eoj"], 16), tuple(props))


def available_profiles() -> list[str]:
    return sorted(p.stem for p in PROFILES.glob("*.json"))


def encode_map(epcs: list[int]) -> bytes:
    """A property map per ECHONET Lite Part 2: count + EPCs below 16 entries, else count + 16-byte bitmap."""
    unique = sorted(set(epcs))
    if len(unique) < 16:
        return bytes([len(unique), *unique])
    bitmap = bytearray(16)
    for epc in unique:
        bitmap[epc & 0x0F] |= 1 << ((epc >> 4) - 8)
    return bytes([len(unique)]) + bytes(bitmap)


def decode_map(edt: bytes) -> list[int]:
    """The EPCs of a property map per ECHONET Lite Part 2 (either form)."""
    if not edt:
        return []
    if len(edt) == 17 and edt[0] >= 16:
        return sorted(0x80 + 0x10 * bit + i for i in range(16) for bit in range(8) if edt[1 + i] & (1 << bit))
    return list(edt[1:])


def parse_eoj(text: str) -> int:
    value = int(text, 16)
    if len(text) != 6 or not 0 <= value <= 0xFFFFFF:
        raise ValueError(f"EOJ must be six hex digits: {text!r}")
    return value


def parse_set(text: str) -> tuple[int, int, bytes]:
    """``EOJ:EPC=HEX`` (``027D01:DA=42``) as (eoj, epc, edt)."""
    try:
        eoj_text, rest = text.split(":", 1)
        epc_text, edt_text = rest.split("=", 1)
        return parse_eoj(eoj_text), int(epc_text, 16), bytes.fromhex(edt_text)
    except ValueError as exc:
        raise ValueError(f"bad --set {text!r}, want EOJ:EPC=HEX such as 027D01:DA=42") from exc


def parse_get(text: str) -> tuple[int, list[int]]:
    """``EOJ:EPC,EPC`` (``027D01:80,DA``) as (eoj, [epc, ...])."""
    try:
        eoj_text, rest = text.split(":", 1)
        return parse_eoj(eoj_text), [int(e, 16) for e in rest.split(",") if e]
    except ValueError as exc:
        raise ValueError(f"bad --get {text!r}, want EOJ:EPC,EPC such as 027D01:80,DA") from exc


def hx(value: int, digits: int = 2) -> str:
    return f"{value:0{digits}x}"


def frame_summary(data: bytes) -> dict[str, Any]:
    """TID, EOJs, ESV and (EPC, PDC, EDT) of a format-1 frame, read without judging it."""
    out: dict[str, Any] = {"hex": data.hex()}
    if len(data) < 12 or data[0] != 0x10 or data[1] != 0x81:
        return out
    out.update(tid=data[2:4].hex(), seoj=data[4:7].hex(), deoj=data[7:10].hex(), esv=hx(data[10]))
    props: list[dict[str, Any]] = []
    pos = 12
    for _ in range(data[11]):
        if pos + 2 > len(data):
            break
        pdc = data[pos + 1]
        prop: dict[str, Any] = {"epc": hx(data[pos]), "pdc": pdc, "edt": data[pos + 2 : pos + 2 + pdc].hex()}
        if pos + 2 + pdc > len(data):
            prop["truncated"] = True
        props.append(prop)
        pos += 2 + pdc
    out["props"] = props
    return out


def emit(line: str) -> None:
    """One line on stdout, flushed (READY lines and the final JSON document)."""
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


def ready(info: dict[str, Any]) -> None:
    emit("READY " + json.dumps(info, sort_keys=True))


async def drive(
    work: Coroutine[Any, Any, Any],
    deadline: float,
    errors: list[str],
    close: Callable[[], Awaitable[None] | None],
) -> bool:
    """Run a runner's work until it ends, its deadline passes or SIGTERM/SIGINT arrives; failures (the peer
    library's included) go into ``errors`` so the final JSON document reports them rather than a traceback.
    Returns whether a signal ended it."""
    loop = asyncio.get_running_loop()
    task = asyncio.ensure_future(asyncio.wait_for(work, deadline))
    terminated = False

    def on_signal() -> None:
        nonlocal terminated
        terminated = True
        task.cancel()

    loop.add_signal_handler(signal.SIGTERM, on_signal)
    loop.add_signal_handler(signal.SIGINT, on_signal)
    try:
        await task
    except asyncio.CancelledError:
        errors.append("terminated")
    except TimeoutError:
        errors.append(f"deadline of {deadline} s reached")
    except Exception as exc:  # reported in the JSON rather than as a traceback
        errors.append(f"{type(exc).__name__}: {exc}")
    finally:
        closing = close()
        if closing is not None:
            await closing
    return terminated
