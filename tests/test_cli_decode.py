"""`echonet decode` and `echonet spec`: readable output, JSON, clear one-line errors and exit codes."""

from __future__ import annotations

import json
import re
import subprocess
import sys

import pytest

from echonet.cli import main

from .conftest import ROOT

SAMPLE_PCAPNG = ROOT / "examples" / "captures" / "sample.pcapng"
SAMPLE_PCAP = ROOT / "examples" / "captures" / "sample.pcap"


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_decode_hex_names_classes_properties_and_units(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "decode", "10810007027d0105ff017e01da0001d304fffffa24")
    assert code == 0
    assert "SetGet_Res" in out and "Storage battery" in out and "Controller" in out
    assert "0xD3" in out and "-1500 W" in out


def test_decode_json_is_one_object_per_frame(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(
        capsys, "decode", "--json", "1081000105ff010ef0016201d600", "10 81 00 02 05 ff 01 0e f0 01 62 01 83 00"
    )
    lines = out.strip().splitlines()
    assert code == 0 and len(lines) == 2
    first = json.loads(lines[0])
    assert first["esv"] == "Get" and first["deoj"]["eoj"] == "0EF001" and first["properties"][0]["epc"] == "0xD6"
    assert json.loads(lines[1])["tid"] == 2


def test_decode_shows_vendor_epcs_raw_and_marked(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "decode", "--json", "10810001027d0105ff017201f5020102")
    assert code == 0
    prop = json.loads(out)["properties"][0]
    assert prop["value"] == "0102" and prop["name"] == "vendor-specific 0xF5"


def test_malformed_hex_frame_gives_one_line_with_offset_and_exit_1(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "decode", "1081000105ff01027d017201e2040000")
    assert code == 1 and out == ""
    assert err.count("\n") == 1 and "offset 14" in err and "Traceback" not in err


def test_not_hex_is_a_usage_error_with_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "decode", "10zz")
    assert code == 2 and "not hex" in err


def test_spec_prints_every_property_of_the_battery(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "spec", "0x027D")
    assert code == 0
    assert "Storage battery" in out and "0xD3" in out and "0xDA" in out and "0x80" in out


def test_spec_accepts_code_without_prefix_and_names(capsys: pytest.CaptureFixture[str]) -> None:
    for cls in ("027D", "storage battery", "storageBattery"):
        code, out, _ = run(capsys, "spec", "--json", cls)
        assert code == 0 and json.loads(out)["class"] == "0x027D"


def test_spec_json_lists_size_type_and_access(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "spec", "--json", "026B")
    assert code == 0
    data = json.loads(out)
    by_epc = {p["epc"]: p for p in data["properties"]}
    assert by_epc["0xCB"]["size"] == "16" and by_epc["0xCB"]["get"] == "required"
    assert by_epc["0xB0"]["set"] == "required"


def test_spec_unknown_class_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "spec", "0x7777")
    assert code == 2 and "no class" in err


def test_pcapng_sample_decodes_every_datagram_and_reports_the_malformed_one(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "decode", "--pcap", str(SAMPLE_PCAPNG), "--json")
    records = [json.loads(line) for line in out.splitlines()]
    assert code == 0 and records
    assert any("error" in r for r in records)
    frames = [r for r in records if "frame" in r]
    assert any(r["frame"]["esv"] == "Get_Res" for r in frames)
    assert any(":" in r["src"]["host"] for r in records)  # the IPv6 exchange
    assert all(3610 in (r["src"]["port"], r["dst"]["port"]) for r in records)


def test_pcap_and_pcapng_samples_decode_to_the_same_records(capsys: pytest.CaptureFixture[str]) -> None:
    _, a, _ = run(capsys, "decode", "--pcap", str(SAMPLE_PCAPNG), "--json")
    _, b, _ = run(capsys, "decode", "--pcap", str(SAMPLE_PCAP), "--json")
    assert a == b


def test_pcap_filters_narrow_the_records(capsys: pytest.CaptureFixture[str]) -> None:
    _, out, _ = run(
        capsys, "decode", "--pcap", str(SAMPLE_PCAPNG), "--json", "--filter", "class=027D", "--filter", "esv=Get_Res"
    )
    records = [json.loads(line) for line in out.splitlines()]
    assert records and all(r["frame"]["esv"] == "Get_Res" for r in records)
    _, out, _ = run(capsys, "decode", "--pcap", str(SAMPLE_PCAPNG), "--json", "--filter", "errors")
    assert out and all("error" in json.loads(line) for line in out.splitlines())


def test_pcap_missing_file_is_one_line_and_non_zero(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "decode", "--pcap", str(ROOT / "no-such.pcap"))
    assert code != 0 and err.count("\n") == 1 and "Traceback" not in err


def test_bad_filter_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "decode", "--pcap", str(SAMPLE_PCAPNG), "--filter", "colour=red")
    assert code == 2 and "filter" in err


def test_python_dash_m_echonet_runs_the_cli() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "echonet", "decode", "1081000105ff010ef0016201d600"],
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    assert result.returncode == 0 and "Node profile" in result.stdout


def test_mra_option_adds_classes_beyond_the_built_in_ones(capsys: pytest.CaptureFixture[str]) -> None:
    from .conftest import mra_dir

    directory = str(mra_dir())
    code, out, _ = run(capsys, "--mra", directory, "spec", "--json", "0x0130")
    assert code == 0 and json.loads(out)["source"] == "mra"
    # An air conditioner's operation mode 0xB0 = 0x42 (cooling) decodes once the MRA is loaded.
    code, out, _ = run(capsys, "--mra", directory, "decode", "--json", "1081000101300105ff017201b00142")
    assert json.loads(out)["properties"][0]["value"] == "cooling"


def test_built_in_classes_win_over_the_mra_and_stay_marked(capsys: pytest.CaptureFixture[str]) -> None:
    from .conftest import mra_dir

    code, out, _ = run(capsys, "--mra", str(mra_dir()), "spec", "--json", "027D")
    assert code == 0 and json.loads(out)["source"] == "builtin"


def test_spec_json_names_the_class_as_the_json_vocabulary_does(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "spec", "027D", "--json")
    doc = json.loads(out)
    assert code == 0 and doc["class"] == "0x027D" and doc["class_name"] == "Storage battery"
    code, out, _ = run(capsys, "spec", "--list", "--json")
    listed = {c["class"]: c["class_name"] for c in json.loads(out)}
    assert code == 0 and listed["0x027D"] == "Storage battery" and listed["0x0EF0"] == "Node profile"


def test_decode_json_uses_the_vocabulary_of_docs_json_md(capsys: pytest.CaptureFixture[str]) -> None:
    """Objects are ``{"eoj", "class", "class_name"}`` (no field holding a class name is called ``*_class``); a
    capture record's time is ISO 8601 in UTC with ``Z`` and its ends are ``{"host", "port"}``."""
    battery = {"eoj": "027D01", "class": "0x027D", "class_name": "Storage battery"}
    controller = {"eoj": "05FF01", "class": "0x05FF", "class_name": "Controller"}
    code, out, _ = run(capsys, "decode", "--json", "10810007027d0105ff017e01da0001d304fffffa24")
    frame = json.loads(out)
    assert code == 0 and frame["seoj"] == battery and frame["deoj"] == controller
    assert frame["esv"] == "SetGet_Res" and frame["esv_code"] == "0x7E"
    assert not {"seoj_class", "deoj_class"} & set(frame)
    code, out, _ = run(capsys, "decode", "--pcap", str(SAMPLE_PCAPNG), "--json")
    records = [json.loads(line) for line in out.splitlines()]
    assert code == 0 and records
    for record in records:
        assert list(record)[:3] == ["time", "src", "dst"] and not {"sport", "dport"} & set(record)
        assert re.fullmatch(r"20\d\d-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z", record["time"])
        assert set(record["src"]) == set(record["dst"]) == {"host", "port"}
        assert isinstance(record["src"]["port"], int) and isinstance(record["src"]["host"], str)
        if "seoj" in record.get("frame", {}):  # (an arbitrary-format frame has no objects)
            for end in ("seoj", "deoj"):
                assert set(record["frame"][end]) == {"eoj", "class", "class_name"}
    get_res = next(
        r for r in records if r.get("frame", {}).get("esv") == "Get_Res" and r["frame"].get("seoj") == battery
    )
    assert get_res["src"] == {"host": "192.168.1.21", "port": 3610} and get_res["time"] == "2025-06-01T10:00:01.034512Z"
    malformed = next(r for r in records if "error" in r)
    assert {"time", "src", "dst", "error", "offset", "field", "payload"} <= set(malformed)
