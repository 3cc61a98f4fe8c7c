"""A command that needs an optional extra that is not installed says in one line which one and exits 2, no traceback.

A missing package is simulated in a fresh interpreter with ``sys.modules[name] = None`` (then ``import name`` fails
with ImportError, as when it is not installed); the rest of the command line works without it.
"""

from __future__ import annotations

import struct
import subprocess
import sys
from pathlib import Path

import pytest

from echonet.errors import EchonetUsageError, MissingExtraError, require_extra

from .conftest import ROOT

SAMPLE_PCAP = ROOT / "examples" / "captures" / "sample.pcap"


def run_without(module: str, *argv: str) -> subprocess.CompletedProcess[str]:
    """``echonet ARGV`` in a fresh interpreter where ``module`` cannot be imported."""
    code = (
        "import sys\n"
        f"sys.modules[{module!r}] = None\n"
        "from echonet.cli import main\n"
        "raise SystemExit(main(sys.argv[1:]))\n"
    )
    return subprocess.run(
        [sys.executable, "-c", code, *argv], cwd=ROOT, capture_output=True, text=True, timeout=120, check=False
    )


def test_require_extra_names_the_extra_to_install() -> None:
    require_extra("json", "plot", "nothing")  # present: no error
    with pytest.raises(MissingExtraError) as excinfo:
        require_extra("echonet_no_such_module", "plot", "the plot")
    assert isinstance(excinfo.value, EchonetUsageError)
    assert str(excinfo.value) == "the plot needs the 'plot' extra: pip install 'echonet-da[plot]'"
    assert (excinfo.value.module, excinfo.value.extra) == ("echonet_no_such_module", "plot")
    with pytest.raises(MissingExtraError):
        require_extra("echonet_no_such_package.sub", "pcap", "x")


def test_demo_plot_without_matplotlib_is_one_line_and_exit_2(tmp_path: Path) -> None:
    result = run_without("matplotlib", "demo", "--plot", str(tmp_path / "day.png"), "--no-progress")
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr and result.stdout == ""
    assert result.stderr.splitlines() == [
        "echonet: the plot (--plot '' for none) needs the 'plot' extra: pip install 'echonet-da[plot]'"
    ]
    assert not (tmp_path / "day.png").exists()


def _radiotap_pcap(path: Path) -> Path:
    """A classic pcap of link type 127 (802.11 with radiotap), which only scapy's fallback reads."""
    packet = b"\x00\x00\x08\x00\x00\x00\x00\x00" + bytes(24)
    record = struct.pack("<IIII", 1_700_000_000, 0, len(packet), len(packet)) + packet
    path.write_bytes(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 262144, 127) + record)
    return path


def test_capture_needing_scapy_without_it_is_one_line_and_exit_2(tmp_path: Path) -> None:
    capture = _radiotap_pcap(tmp_path / "wifi.pcap")
    result = run_without("scapy", "decode", "--pcap", str(capture), "--no-progress")
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    assert result.stderr.splitlines() == [
        f"echonet: {capture}: link type 127 (read through scapy) needs the 'pcap' extra: pip install 'echonet-da[pcap]'"
    ]


def test_captures_the_reader_parses_by_hand_need_no_scapy() -> None:
    result = run_without("scapy", "decode", "--pcap", str(SAMPLE_PCAP), "--no-progress")
    assert result.returncode == 0, result.stderr
    assert "TID 0x" in result.stdout and "needs the" not in result.stderr


def test_decode_needs_no_optional_package() -> None:
    code = (
        "import sys\n"
        "for name in ('scapy', 'matplotlib', 'uvloop'):\n"
        "    sys.modules[name] = None\n"
        "from echonet.cli import main\n"
        "raise SystemExit(main(['decode', '1081000105ff010ef0016201d600']))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert "Node profile" in result.stdout
