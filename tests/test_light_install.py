"""A plain `pip install` (no extras) into a fresh virtual environment gives a working `echonet decode`, for hex and
for capture files, and pulls in none of the optional packages (scapy, matplotlib, uvloop). Where a C compiler and
OpenSSL's headers are present, it also builds the compiled record module (secure.records._aead).

The install is a normal, non-editable one, run from a copy of the checkout's sources under tmp_path (pip builds in
the source tree; the copy keeps build/ and *.egg-info out of the shared working tree). The commands then run from a
directory outside the checkout, so it is not on sys.path and what runs is what was installed.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from .conftest import ROOT

OPTIONAL = ("scapy", "matplotlib", "uvloop")
HEX = "1081000105ff010ef0016201d600"
SAMPLE_PCAP = ROOT / "examples" / "captures" / "sample.pcap"
INSTALL_TIMEOUT = 100  # seconds; the whole test should stay under about two minutes

# Not part of what pip needs to build the project.
_NOT_SOURCES = shutil.ignore_patterns(
    ".git",
    ".venv",
    "venv",
    "build",
    "dist",
    "*.egg-info",
    "__pycache__",
    "*.pyc",
    ".hypothesis",
    ".mypy_cache",
    ".ruff_cache",
    ".pytest_cache",
    ".benchmarks",
    ".coverage",
    "node_modules",
    "*.so",  # (the record module built in place by an editable install: this install builds its own)
)


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON") and k not in {"VIRTUAL_ENV", "PIP_USER"}}
    env["PYTHONNOUSERSITE"] = "1"
    env["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"
    env["PIP_NO_INPUT"] = "1"
    return env


def _run(argv: list[str], cwd: Path, timeout: float) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, cwd=cwd, env=_env(), capture_output=True, text=True, timeout=timeout)


def _tail(result: subprocess.CompletedProcess[str], lines: int = 25) -> str:
    return "\n".join((result.stdout + result.stderr).strip().splitlines()[-lines:])


@pytest.mark.slow
def test_plain_install_decodes_and_pulls_no_optional_package(tmp_path: Path) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    venv = tmp_path / "venv"
    try:
        made = _run([sys.executable, "-m", "venv", str(venv)], elsewhere, 60)
    except subprocess.TimeoutExpired:
        pytest.skip("python -m venv took more than 60 s")
    python = venv / ("Scripts/python.exe" if os.name == "nt" else "bin/python")
    if made.returncode or not python.exists():
        pytest.skip(f"cannot create a virtual environment: {_tail(made, 3)}")
    pip = [str(python), "-m", "pip"]
    if _run([*pip, "--version"], elsewhere, 30).returncode:
        pytest.skip("the virtual environment has no pip (ensurepip missing)")
    try:
        probe = _run(
            [
                *pip,
                "download",
                "--no-deps",
                "--timeout",
                "5",
                "--retries",
                "0",
                "-d",
                str(tmp_path / "probe"),
                "construct==2.10.70",
            ],
            elsewhere,
            20,
        )
    except subprocess.TimeoutExpired:
        pytest.skip("pip cannot reach the package index (pip download timed out after 20 s)")
    if probe.returncode:
        pytest.skip(f"pip cannot reach the package index: {_tail(probe, 3)}")

    source = tmp_path / "src"
    shutil.copytree(ROOT, source, ignore=_NOT_SOURCES)
    backend = _run([str(python), "-c", "import setuptools, wheel; print(setuptools.__version__)"], elsewhere, 30)
    major = backend.stdout.strip().split(".")[0]
    isolation = ["--no-build-isolation"] if backend.returncode == 0 and major.isdigit() and int(major) >= 69 else []
    try:
        installed = _run([*pip, "install", *isolation, str(source)], elsewhere, INSTALL_TIMEOUT)
    except subprocess.TimeoutExpired:
        pytest.fail(f"pip install (no extras) took more than {INSTALL_TIMEOUT} s: the plain install is not light")
    assert installed.returncode == 0, f"pip install (no extras) failed:\n{_tail(installed)}"

    problems: list[str] = []
    where = _run([str(python), "-c", "import echonet; print(echonet.__file__)"], elsewhere, 60)
    if where.returncode or not Path(where.stdout.strip()).resolve().is_relative_to(venv.resolve()):
        problems.append(f"echonet is not imported from the virtual environment: {_tail(where, 5)}")

    decoded = _run([str(python), "-m", "echonet", "decode", HEX], elsewhere, 60)
    if decoded.returncode != 0:
        problems.append(f"echonet decode {HEX} exited {decoded.returncode}:\n{_tail(decoded)}")
    elif not all(text in decoded.stdout for text in ("TID 0x0001", "Get", "05FF01 Controller", "0EF001 Node profile")):
        problems.append(f"echonet decode {HEX} printed an unexpected text:\n{decoded.stdout}")
    elif "0xD6 Self-node instance list S" not in decoded.stdout:
        problems.append(f"echonet decode {HEX} does not name the property 0xD6:\n{decoded.stdout}")

    capture = _run([str(python), "-m", "echonet", "decode", "--pcap", str(SAMPLE_PCAP)], elsewhere, 60)
    records = [line for line in capture.stdout.splitlines() if "TID 0x" in line]
    if capture.returncode != 0:
        problems.append(f"echonet decode --pcap {SAMPLE_PCAP.name} exited {capture.returncode}:\n{_tail(capture)}")
    elif not records or "224.0.23.0:3610" not in capture.stdout:
        problems.append(f"echonet decode --pcap {SAMPLE_PCAP.name} printed no records:\n{_tail(capture)}")

    native = _run([str(python), "-c", "from secure.records import oscore; print(oscore.NATIVE_AEAD)"], elsewhere, 60)
    can_build = shutil.which("cc") is not None and Path("/usr/include/openssl/evp.h").exists()
    if native.returncode != 0:
        problems.append(f"secure.records.oscore does not import:\n{_tail(native)}")
    elif can_build and native.stdout.strip() != "True":
        problems.append("with a C compiler and OpenSSL's headers, pip install did not build secure.records._aead")

    listed = _run([*pip, "list", "--format=json"], elsewhere, 60)
    assert listed.returncode == 0, _tail(listed)
    names = {entry["name"].lower().replace("_", "-") for entry in json.loads(listed.stdout)}
    pulled = [name for name in OPTIONAL if name in names]
    if pulled:
        problems.append(f"pip install without extras installed {', '.join(pulled)} (they belong in extras)")

    assert not problems, "\n".join(problems)
