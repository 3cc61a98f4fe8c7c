"""pychonet (PyPI) and our FieldController side by side against the same quirk devices (docs/quirks.md).

    python tools/interop/quirks_side_by_side.py [--base 127.0.0.150] [--quirk NAME[=VALUE] ...] [--json]

For each case (no quirk, each quirk alone, all at once) a simulated battery is served on its own loopback address,
port 3610, with that quirk (``SimHost(quirks=...)``); then

* pychonet runs its discovery flow, as Home Assistant's integration drives it (tools/interop/pychonet_controller.py:
  discover, property maps, identification, ``update()`` of every readable EPC in batches of 10, a SetC of the
  operation mode 0xDA to standby and a read-back), with its 3 s timeout;
* our ``FieldController`` with its defaults: discover (host list), read every EPC of the Get map, ``set(...,
  verify=True)``.

A case is survived when the node was discovered, every readable EPC was read and the Set's outcome was told right
(for ``set-ack-no-apply``: that the value was not applied). Prints a Markdown table (or JSON), exits 0; 3 when
pychonet is missing.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from echonet.aio import Endpoints  # noqa: E402
from echonet.aio.field import FieldController  # noqa: E402
from echonet.aio.results import WriteOutcome  # noqa: E402
from echonet.apps.quirks import parse_quirks  # noqa: E402
from echonet.drready.clock import SimClock  # noqa: E402
from echonet.drready.host import SimHost  # noqa: E402
from echonet.drready.sim import simulated_device  # noqa: E402

CASES = [
    [],
    ["delay=1.5"],
    ["delay=4"],
    ["max-get=5"],
    ["oversize-silent=200"],
    ["drop-concurrent=0.5"],
    ["reply-port=ephemeral"],
    ["no-identification"],
    ["shared-identification"],
    ["set-ack-no-apply"],
    ["loss=0.1"],
    ["trailing-bytes"],
]
ALL = [
    "delay=0.2",
    "max-get=5",
    "oversize-silent=200",
    "drop-concurrent",
    "reply-port=ephemeral",
    "no-identification",
    "set-ack-no-apply",
    "loss=0.05",
    "trailing-bytes",
]
STANDBY = b"\x44"


async def _host(quirks: list[str], ip: str) -> SimHost:
    device = simulated_device("battery", clock=SimClock.at("2026-01-15T10:00", speed=1))
    return await SimHost.open(
        [device], Endpoints(bind_v4=ip, port=3610, reuse_address=True), quirks=parse_quirks(quirks, seed=11)
    )


async def _pychonet(host: SimHost, ip: str, bind: str, deadline: float) -> dict[str, Any]:
    readable = sorted(e for e in host.devices[0].get_map if e not in (0x83, 0x8A, 0x8C, 0x9D, 0x9E, 0x9F))
    argv = [sys.executable, str(ROOT / "tools/interop/pychonet_controller.py"), "--host", ip, "--bind", bind,
            "--set", "027D01:DA=44", "--timeout", "3", "--deadline", str(deadline)]  # fmt: skip
    started = time.monotonic()
    proc = await asyncio.create_subprocess_exec(*argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    out, _ = await proc.communicate()
    if proc.returncode == 3:
        raise SystemExit(3)
    try:
        doc = json.loads(out.decode() or "{}")
    except ValueError:
        doc = {}
    battery = doc.get("objects", {}).get("027d01", doc.get("objects", {}).get("027D01", {}))
    values = battery.get("values", {})
    read = sum(1 for e in readable if f"0x{e:02x}" in values or f"0x{e:02X}" in values or f"{e:02x}" in values)
    sets = doc.get("sets", [])
    believed = bool(sets and sets[0].get("ok"))
    applied = host.devices[0].value(0xDA) == STANDBY
    return {
        "discovered": bool(doc.get("discovered")),
        "read": read,
        "readable": len(readable),
        "set_reported_ok": believed,
        "applied": applied,
        "errors": doc.get("errors", [])[:3],
        "seconds": round(time.monotonic() - started, 1),
    }


async def _ours(host: SimHost, ip: str, bind: str) -> dict[str, Any]:
    started = time.monotonic()
    out: dict[str, Any] = {"discovered": False, "read": 0, "outcome": None, "errors": []}
    ctl = await FieldController.open(Endpoints(bind_v4=bind, port=0))
    try:
        nodes = await ctl.discover(targets=[(ip, 3610)])
        out["discovered"] = bool(nodes)
        device = host.devices[0]
        readable = sorted(device.get_map)
        out["readable"] = len(readable)
        if nodes:
            got = await ctl.get(nodes[0].address, device.eoj, readable)
            out["read"] = len(got.values)
            done = await ctl.set(nodes[0].address, device.eoj, {0xDA: STANDBY}, verify=True)
            out["outcome"] = done.outcomes[0xDA].value
    except Exception as exc:  # (reported in the table: this is a comparison, not a test)
        out["errors"].append(repr(exc))
    finally:
        await ctl.close()
    out["applied"] = host.devices[0].value(0xDA) == STANDBY
    out["seconds"] = round(time.monotonic() - started, 1)
    return out


def _survived_pychonet(case: list[str], r: dict[str, Any]) -> bool:
    told_right = r["set_reported_ok"] == r["applied"]
    return bool(r["discovered"] and r["read"] == r["readable"] and told_right)


def _survived_ours(case: list[str], r: dict[str, Any]) -> bool:
    expected = WriteOutcome.APPLIED.value if r["applied"] else WriteOutcome.NOT_APPLIED.value
    return bool(r["discovered"] and r["read"] == r["readable"] and r["outcome"] == expected)


async def main(args: argparse.Namespace) -> list[dict[str, Any]]:
    cases = [[q] for q in args.quirk] if args.quirk else [*CASES, ALL]
    base = args.base.rsplit(".", 1)
    rows = []
    for i, case in enumerate(cases):
        ip = f"{base[0]}.{int(base[1]) + 1 + 2 * i}"
        bind = f"{base[0]}.{int(base[1])}"
        host = await _host(case, ip)
        try:
            pychonet = await _pychonet(host, ip, bind, args.deadline)
        finally:
            await host.close()
        host = await _host(case, f"{base[0]}.{int(base[1]) + 2 + 2 * i}")
        try:
            ours = await _ours(host, f"{base[0]}.{int(base[1]) + 2 + 2 * i}", bind)
        finally:
            await host.close()
        rows.append({"quirks": case, "pychonet": pychonet, "ours": ours})
        if not args.json:
            print(_line(rows[-1]), flush=True)
    return rows


def _line(row: dict[str, Any]) -> str:
    p, o = row["pychonet"], row["ours"]
    name = " ".join(row["quirks"]) if len(row["quirks"]) < 3 else "all of them at once"
    pych = (
        f"{'yes' if _survived_pychonet(row['quirks'], p) else 'no'}: discovered {'yes' if p['discovered'] else 'no'},"
        f" read {p['read']}/{p['readable']}, Set {'reported ok' if p['set_reported_ok'] else 'reported failed'}"
        f" ({'applied' if p['applied'] else 'not applied'}), {p['seconds']} s"
    )
    ours = (
        f"{'yes' if _survived_ours(row['quirks'], o) else 'no'}: discovered {'yes' if o['discovered'] else 'no'},"
        f" read {o['read']}/{o.get('readable', '?')}, Set {o['outcome']}, {o['seconds']} s"
    )
    return f"| `{name or 'none'}` | {pych} | {ours} |"


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base", default="127.0.0.150", help="controllers' address; devices take the next ones")
    parser.add_argument("--quirk", action="append", help="only this case (repeatable: one case each)")
    parser.add_argument("--deadline", type=float, default=60.0, help="pychonet runner's time limit per case (s)")
    parser.add_argument("--json", action="store_true")
    options = parser.parse_args()
    if not options.json:
        print("| quirks | pychonet survives? | our FieldController survives? |\n|---|---|---|", flush=True)
    result = asyncio.run(main(options))
    if options.json:
        print(json.dumps(result, indent=1))
