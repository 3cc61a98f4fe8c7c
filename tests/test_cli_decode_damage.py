"""`echonet decode --pcap` on damaged input, as a stranger would meet it: every problem is one line on stderr (or a
"damage" record in the JSON stream) naming the packet, its offset and the reason; the exit code is 3 when the
capture is damaged, 2 when it cannot be opened; every readable packet is still decoded; never a traceback.

Also: frames with bytes after their last property (decoded with a warning; ``--strict`` refuses them), and the
usage errors of the decode options.
"""

from __future__ import annotations

import gzip
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from echonet.cli import main
from echonet.pcap import Datagram, write_capture

from .damaged_captures import (
    ROOT,
    SAMPLE_PCAP,
    SAMPLE_PCAPNG,
    T0,
    ethernet_frames,
    pcap_records,
    pcapng_blocks,
    pcapng_in_seconds,
    with_u32,
)

PCAP = SAMPLE_PCAP.read_bytes()
RECORDS = pcap_records(PCAP)
BLOCKS = pcapng_blocks(SAMPLE_PCAPNG.read_bytes())
PACKET_BLOCKS = [b for b in BLOCKS if b.kind == 6]
PADDED_GET = bytes.fromhex("1081000105ff010ef0016201d600") + b"\0\0"  # a Get, then two bytes of padding


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def run_process(*argv: str, stdin: bytes | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "echonet", "decode", *argv],
        input=None if stdin is None else stdin.decode("latin-1"),
        capture_output=True,
        text=True,
        encoding="latin-1",
        cwd=ROOT,
        timeout=120,
    )


def json_lines(out: str) -> list[dict[str, object]]:
    return [json.loads(line) for line in out.splitlines()]


def damaged_json(out: str, path: Path, problems: int) -> list[dict[str, object]]:
    """The records of a JSON run on a damaged capture, checking the error document that ends the stream."""
    *records, last = json_lines(out)
    message = (
        f"{path}: capture damaged or not fully readable: {problems} problem(s) (damage records); the rest was decoded"
    )
    assert last == {"error": {"code": 3, "kind": "damaged", "message": message}}
    assert sum(1 for r in records if "damage" in r) == problems
    return records


def clean_run(capsys: pytest.CaptureFixture[str], path: Path) -> tuple[str, list[dict[str, object]]]:
    """The text and the JSON records of the undamaged sample, to compare damaged runs with."""
    code, text, _ = run(capsys, "decode", "--pcap", str(path))
    assert code == 0
    code, out, _ = run(capsys, "decode", "--pcap", str(path), "--json")
    assert code == 0
    return text, json_lines(out)


def write(tmp_path: Path, name: str, data: bytes) -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


# -- damage: exit 3, one line per problem, every readable packet decoded ------------------------------------------


def test_corrupt_record_length_is_exit_3_with_one_line_naming_packet_offset_and_reason(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _, expected = clean_run(capsys, SAMPLE_PCAP)
    path = write(tmp_path, "corrupt.pcap", with_u32(PCAP, RECORDS[4].offset + 8, 0xFFFFFFF0))
    code, out, err = run(capsys, "decode", "--pcap", str(path))
    assert code == 3 and "Traceback" not in err
    lines = err.splitlines()
    assert lines[0] == (
        f"echonet: {path}: packet 5 at offset {RECORDS[4].offset}: corrupt record header (captured length 4294967280"
        f" exceeds 262144): reading on at the next record, offset {RECORDS[5].offset}"
    )
    assert lines[1] == "-- 17 frame(s), 2 malformed, 19 shown"  # (the intact sample: 18 frames, 2 malformed)
    assert lines[2].startswith(f"echonet: {path}: capture damaged or not fully readable: 1 problem(s)")
    assert len(lines) == 3
    # Every other packet is decoded, as it is from the intact capture.
    code, out, err = run(capsys, "decode", "--pcap", str(path), "--json")
    records = damaged_json(out, path, 1)
    assert code == 3 and err.count("\n") == 1
    assert records[4] == {"damage": lines[0].split(": ", 3)[3], "packet": 5, "offset": RECORDS[4].offset}
    assert records[:4] + records[5:] == [r for r in expected if r != expected[4]]


def test_unsupported_link_type_is_exit_3_and_says_so_in_text_and_json(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write(tmp_path, "user147.pcap", with_u32(PCAP, 20, 147))
    code, out, err = run(capsys, "decode", "--pcap", str(path))
    assert code == 3 and out == ""
    assert (
        err.splitlines()[0]
        == f"echonet: {path}: packet 1 at offset 24: unsupported link type 147: its packets are not read"
    )
    code, out, err = run(capsys, "decode", "--pcap", str(path), "--json")
    assert code == 3 and damaged_json(out, path, 1) == [
        {"damage": "unsupported link type 147: its packets are not read", "packet": 1, "offset": 24}
    ]
    assert err.count("\n") == 1 and "capture damaged" in err


@pytest.mark.parametrize("sample", [SAMPLE_PCAP, SAMPLE_PCAPNG], ids=["pcap", "pcapng"])
def test_a_capture_cut_anywhere_exits_3_after_decoding_every_whole_packet(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], sample: Path
) -> None:
    data = sample.read_bytes()
    _, expected = clean_run(capsys, sample)
    spans = RECORDS if sample == SAMPLE_PCAP else PACKET_BLOCKS
    boundaries = {s.end for s in (RECORDS if sample == SAMPLE_PCAP else BLOCKS)}
    for cut in range(spans[0].offset + 1, len(data), 7):
        path = write(tmp_path, "cut" + sample.suffix, data[:cut])
        code, out, err = run(capsys, "decode", "--pcap", str(path), "--json")
        whole = sum(1 for s in spans if s.end <= cut)
        got = json_lines(out)
        if cut in boundaries:
            assert code == 0 and got == expected[: len(got)], cut
            continue
        assert code == 3 and "Traceback" not in err, cut
        got = damaged_json(out, path, 1)
        assert got[:-1] == expected[: len(got) - 1], cut
        assert got[-1]["packet"] == whole + 1 and "cut short" in str(got[-1]["damage"]), cut


def test_gzip_capture_cut_mid_stream_is_exit_3_with_every_packet_before_the_cut(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _, expected = clean_run(capsys, SAMPLE_PCAP)
    packed = gzip.compress(PCAP)
    path = write(tmp_path, "cut.pcap.gz", packed[: len(packed) - 100])
    code, out, err = run(capsys, "decode", "--pcap", str(path), "--json")
    records = damaged_json(out, path, 1)
    assert code == 3
    assert records[:-1] == expected[: len(records) - 1] and len(records) > 10
    assert records[-1]["damage"] == "compressed data cut short (the gzip stream ends before its end marker)"
    assert err.count("\n") == 1


def test_pcapng_timestamp_beyond_any_calendar_is_shown_reported_and_the_next_packets_decoded(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Before: a traceback in the decode command (time.gmtime overflow), and the packets after it lost.
    frames = ethernet_frames(tmp_path / "frames.pcap", [bytes.fromhex("1081000105ff010ef0016201d600")] * 3)
    path = write(
        tmp_path, "future.pcapng", pcapng_in_seconds([(T0, frames[0]), ((1 << 64) - 1, frames[1]), (T0 + 2, frames[2])])
    )
    result = run_process("--pcap", str(path))
    assert result.returncode == 3 and "Traceback" not in result.stderr
    stamps = [line.split("  ")[0] for line in result.stdout.splitlines() if "->" in line]
    assert stamps == ["2025-06-01 10:00:00.000000", "1.84467e+19 s since 1970", "2025-06-01 10:00:02.000000"]
    assert "packet 2 at offset" in result.stderr and "timestamp out of range" in result.stderr
    code, out, _ = run(capsys, "decode", "--pcap", str(path), "--json")
    records = damaged_json(out, path, 1)
    stamps = ["2025-06-01T10:00:00.000000Z", None, None, "2025-06-01T10:00:02.000000Z"]  # (the damage record: none)
    assert code == 3 and [r.get("time") for r in records] == stamps and "time" not in records[1]


def test_garbled_packets_are_listed_up_to_fifty_lines_then_counted(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    frame = ethernet_frames(tmp_path / "one.pcap", [bytes.fromhex("1081000105ff010ef0016201d600")])[0]
    garbled = frame[:14] + b"\x65" + frame[15:]  # IPv4 with version 6
    header = PCAP[:24]
    records = b"".join(
        with_u32(with_u32(b"\0" * 16, 0, T0 + i), 8, len(garbled))[:12] + len(garbled).to_bytes(4, "little") + garbled
        for i in range(120)
    )
    path = write(tmp_path, "garbled.pcap", header + records)
    code, out, err = run(capsys, "decode", "--pcap", str(path))
    lines = err.splitlines()
    assert code == 3 and out == ""
    assert len(lines) == 52 and all("bad IPv4 header (version 6)" in line for line in lines[:50])
    assert lines[-1].endswith("120 problem(s) (the first 50 listed above); the rest was decoded")
    code, out, _ = run(capsys, "decode", "--pcap", str(path), "--json")
    assert code == 3 and len(damaged_json(out, path, 120)) == 120  # the JSON stream has them all


# -- files that are not captures, or cannot be opened ---------------------------------------------------------


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "empty file, not a pcap or pcapng file"),
        (b"GET / HTTP/1.1\r\n", "not a pcap or pcapng file (magic 0x47455420)"),
        (PCAP[:10], "truncated pcap file header"),
        (gzip.compress(b"not a capture at all"), "not a pcap or pcapng file (magic 0x6e6f7420)"),
        (
            b"\x1f\x8b" + b"\x5a" * 60,
            "corrupt compressed data (Error -3 while decompressing data: unknown compression method)",
        ),
    ],
    ids=["empty", "text", "cut-header", "gzip-of-text", "gzip-of-garbage"],
)
def test_a_file_that_is_not_a_capture_is_exit_3_in_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], content: bytes, message: str
) -> None:
    path = write(tmp_path, "x.pcap", content)
    code, out, err = run(capsys, "decode", "--pcap", str(path))
    assert (code, out, err) == (3, "", f"echonet: {path}: {message}\n")
    code, out, err = run(capsys, "decode", "--pcap", str(path), "--json")
    assert (code, err) == (3, f"echonet: {path}: {message}\n")
    assert json_lines(out) == [{"error": {"code": 3, "kind": "damaged", "message": f"{path}: {message}"}}]


def test_a_missing_file_or_a_directory_is_a_usage_error_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run(capsys, "decode", "--pcap", str(tmp_path / "nothing.pcap"))
    assert (code, out, err) == (2, "", f"echonet: {tmp_path / 'nothing.pcap'}: no such file\n")
    code, out, err = run(capsys, "decode", "--pcap", str(tmp_path))
    assert (code, out, err) == (2, "", f"echonet: {tmp_path}: is a directory, not a capture file\n")
    code, out, err = run(capsys, "decode", "--pcap", "")
    assert (code, out, err) == (2, "", "echonet: '': no such file\n")


def test_a_file_without_read_permission_is_a_usage_error_exit_2(tmp_path: Path) -> None:
    path = write(tmp_path, "secret.pcap", PCAP)
    path.chmod(0)
    command = [sys.executable, "-m", "echonet", "decode", "--pcap", str(path)]
    if os.geteuid() == 0:  # root reads anything: run without the capabilities that let it
        setpriv = shutil.which("setpriv")
        if setpriv is None:
            pytest.skip("running as root without setpriv: cannot take away the right to read")
        command = [setpriv, "--bounding-set=-dac_override,-dac_read_search", *command]
    result = subprocess.run(command, capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert (result.returncode, result.stdout) == (2, "")
    assert result.stderr == f"echonet: {path}: cannot open (Permission denied)\n"


# -- stdin -----------------------------------------------------------------------------------------------------


def test_a_capture_on_stdin_decodes_as_the_file_does(capsys: pytest.CaptureFixture[str]) -> None:
    expected, _ = clean_run(capsys, SAMPLE_PCAP)
    for data in (PCAP, gzip.compress(PCAP), SAMPLE_PCAPNG.read_bytes()):
        result = run_process("--pcap", "-", stdin=data)
        assert (result.returncode, result.stdout) == (0, expected)
    cut = run_process("--pcap", "-", stdin=PCAP[:-30])
    assert cut.returncode == 3 and "stdin" in cut.stderr and "cut short" in cut.stderr


def test_stdin_that_is_a_terminal_is_a_usage_error_not_a_hang() -> None:
    import pty

    controller, terminal = pty.openpty()
    try:
        result = subprocess.run(
            [sys.executable, "-m", "echonet", "decode", "--pcap", "-"],
            stdin=terminal,
            capture_output=True,
            text=True,
            cwd=ROOT,
            timeout=60,
        )
    finally:
        os.close(terminal)
        os.close(controller)
    assert result.returncode == 2 and result.stderr.count("\n") == 1 and "stdin is a terminal" in result.stderr


# -- bytes after the last property -----------------------------------------------------------------------------


def test_hex_frame_with_trailing_bytes_is_decoded_with_a_warning_naming_them(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, out, err = run(capsys, "decode", PADDED_GET.hex())
    assert code == 0 and "Node profile" in out and "0xD6" in out
    assert (
        err
        == "echonet: frame 1: warning: 2 byte(s) after the last property ignored (00 00); --strict rejects the frame\n"
    )
    code, out, err = run(capsys, "decode", "--json", PADDED_GET.hex())
    record = json.loads(out)
    assert code == 0 and err == "" and record["esv"] == "Get" and record["trailing"] == "0000"
    assert record["warning"] == "2 byte(s) after the last property ignored (00 00); --strict rejects the frame"


def test_strict_keeps_a_frame_with_trailing_bytes_malformed(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "decode", "--strict", PADDED_GET.hex())
    assert (code, out) == (1, "")
    assert (
        err == "echonet: frame 1: malformed at byte offset 14 (trailing): 2 trailing byte(s) after the last property\n"
    )


def test_pcap_frame_with_trailing_bytes_is_decoded_with_a_warning_and_strict_refuses_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "padded.pcap"
    write_capture(path, [Datagram(T0, "192.168.1.21", "192.168.1.10", 3610, 3610, PADDED_GET)])
    code, out, err = run(capsys, "decode", "--pcap", str(path))
    assert code == 0 and "Get  05FF01 Controller -> 0EF001 Node profile" in out
    assert (
        out.splitlines()[-1]
        == "  warning: 2 byte(s) after the last property ignored (00 00); --strict rejects the frame"
    )
    assert err == "-- 1 frame(s), 0 malformed, 1 shown, 1 with bytes after the last property\n"
    code, out, _ = run(capsys, "decode", "--pcap", str(path), "--json")
    (record,) = json_lines(out)
    assert code == 0 and record["trailing"] == "0000" and "warning" in record
    assert record["frame"]["esv"] == "Get"  # type: ignore[index]
    code, out, _ = run(capsys, "decode", "--pcap", str(path), "--json", "--strict")
    (record,) = json_lines(out)
    assert code == 0 and record["field"] == "trailing" and record["offset"] == 14 and "frame" not in record


# -- options ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("value", ["70000", "-1", "x"])
def test_a_port_out_of_range_is_a_usage_error(value: str) -> None:
    result = run_process("--pcap", str(SAMPLE_PCAP), "--port", value)
    assert result.returncode == 2 and result.stdout == "" and result.stderr.count("\n") == 1
    assert "--port" in result.stderr and "Traceback" not in result.stderr


@pytest.mark.parametrize(
    "term", ["port=70000", "port=-1", "errors=maybe", "epc=0x1FF", "epc=-1", "host=", "=x", "class=10000"]
)
def test_filter_values_out_of_range_are_usage_errors(capsys: pytest.CaptureFixture[str], term: str) -> None:
    code, out, err = run(capsys, "decode", "--pcap", str(SAMPLE_PCAP), "--filter", term)
    assert code == 2 and out == "" and err.count("\n") == 1 and "bad filter" in err


def test_errors_filter_takes_yes_and_no(capsys: pytest.CaptureFixture[str]) -> None:
    _, every, _ = run(capsys, "decode", "--pcap", str(SAMPLE_PCAP), "--json")
    _, bad, _ = run(capsys, "decode", "--pcap", str(SAMPLE_PCAP), "--json", "--filter", "errors=yes")
    _, good, _ = run(capsys, "decode", "--pcap", str(SAMPLE_PCAP), "--json", "--filter", "errors=no")
    assert bad and good and sorted(bad.splitlines() + good.splitlines()) == sorted(every.splitlines())


def test_damage_records_are_shown_whatever_the_filter(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write(tmp_path, "corrupt.pcap", with_u32(PCAP, RECORDS[4].offset + 8, 0xFFFFFFF0))
    code, out, _ = run(capsys, "decode", "--pcap", str(path), "--json", "--filter", "esv=INF")
    records = damaged_json(out, path, 1)
    assert code == 3 and [r["packet"] for r in records if "damage" in r] == [5]


def test_decode_help_documents_the_exit_codes() -> None:
    result = run_process("--help")
    text = " ".join(result.stdout.split())
    assert result.returncode == 0
    assert "exit codes: 0 every frame decoded" in text and "3 the capture is damaged or not a capture" in text
    assert "--strict" in text
