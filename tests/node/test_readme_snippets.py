"""The library examples the README shows (examples/library_device.py and examples/library_controller.py) run as
written against each other over UDP on loopback, and the README's copies of them do not drift."""

from __future__ import annotations

import asyncio
import contextlib
import io
import random
import re
import runpy
import socket
from collections.abc import Callable, Coroutine
from typing import Any

import pytest

from echonet.aio import run

from ..conftest import ROOT

EXAMPLES = ROOT / "examples"
SNIPPETS = ("library_device.py", "library_controller.py")


def _load(name: str, function: str) -> Callable[..., Coroutine[Any, Any, None]]:
    namespace = runpy.run_path(str(EXAMPLES / name))  # not as __main__: nothing runs yet
    found: Callable[..., Coroutine[Any, Any, None]] = namespace[function]
    return found


def _free_port(ip: str) -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind((ip, 0))
        port: int = s.getsockname()[1]
        return port


def test_library_controller_reads_and_sets_the_library_device() -> None:
    serve = _load("library_device.py", "serve")
    controller = _load("library_controller.py", "main")
    ip = f"127.0.{random.randint(1, 254)}.{random.randint(100, 250)}"
    port = _free_port(ip)
    printed = io.StringIO()

    async def scenario() -> None:
        device = asyncio.create_task(serve(ip, port))
        try:
            async with asyncio.timeout(10):
                while "storage battery 027D01 on" not in printed.getvalue():
                    await asyncio.sleep(0.01)
                await controller(ip, port)
                while "set 0xEB" not in printed.getvalue():
                    await asyncio.sleep(0.01)
        finally:
            device.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await device

    with contextlib.redirect_stdout(printed):
        run(scenario())
    out = printed.getvalue().splitlines()
    assert out[0] == f"storage battery 027D01 on {ip} port {port}"
    assert "0x80 Operation status: on" in out
    assert "0xE4 Remaining stored electricity 3: 80 %" in out
    assert "0xDA Operation mode setting: standby" in out
    assert "set accepted" in out
    assert any(re.fullmatch(r"127\.\S+ set 0xDA to 42", line) for line in out)
    assert any(line.endswith("set 0xEB to 00000bb8") for line in out)


@pytest.mark.parametrize("name", SNIPPETS)
def test_the_readme_shows_the_examples_as_they_are(name: str) -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    if f"examples/{name}" not in readme:
        pytest.skip(f"README.md does not include examples/{name}")
    source = (EXAMPLES / name).read_text(encoding="utf-8")
    code = source[source.index("\nimport ") + 1 :].strip()  # from the imports on, the module docstring aside
    assert code in readme, f"README.md's copy of examples/{name} differs from the file: copy it again"
