"""The command line's contracts that hold for every command, through the real `echonet` command: a usage error is
one line and exit 2 (with `--json` also an error document on stdout), `--mra DIR` may come before or after the
command's name, and one EOJ parser serves every command that takes an object."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from echonet.cli import main

from .conftest import ROOT, mra_dir


def cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


# usage errors, with and without --json ------------------------------------------------------------------------------

USAGE_ERRORS = [
    ["get", "127.0.0.1", "toaster", "E4"],
    ["get", "127.0.0.1"],  # (argparse: arguments missing)
    ["set", "127.0.0.1", "027D01", "acChargeUpperLimit=140"],
    ["discover", "--target", "[127.0.0.1]"],
    ["watch", "--duration", "-1"],
    ["doctor", "--bogus"],
    ["decode", "zz"],
    ["spec", "toaster"],
    ["serve", "--device", "toaster"],
    ["serve", "--device", "battery", "--bind", "nonsense"],
    ["demo", "--port", "70000"],
    ["drready", "check", "224.0.23.0"],
    ["drready", "check", "127.0.0.1", "--eoj", "toaster"],
    ["secure", "init-ca", "/nonexistent/ca", "--maker", "7B", "--org", "x"],
    ["secure", "consent", "list"],
]


@pytest.mark.parametrize("argv", USAGE_ERRORS, ids=lambda a: " ".join(a))
def test_a_usage_error_is_one_line_on_stderr_and_exit_2_in_every_command(
    capsys: pytest.CaptureFixture[str], argv: list[str]
) -> None:
    code, out, err = cli(capsys, *argv)
    assert code == 2 and out == ""
    assert len(err.splitlines()) == 1 and "Traceback" not in err and err.startswith("echonet")


@pytest.mark.parametrize("argv", USAGE_ERRORS, ids=lambda a: " ".join(a))
def test_with_json_a_usage_error_is_also_one_error_document_on_stdout(
    capsys: pytest.CaptureFixture[str], argv: list[str]
) -> None:
    code, out, err = cli(capsys, *argv, "--json")
    assert code == 2
    [line] = out.splitlines()
    doc = json.loads(line)
    assert set(doc) == {"error"} and doc["error"]["code"] == 2 and doc["error"]["kind"] == "usage"
    [stderr_line] = err.splitlines()
    assert doc["error"]["message"] in stderr_line


def test_the_installed_command_gives_the_same_error_document() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "echonet", "get", "127.0.0.1", "027D01", "0x12", "--json"],
        cwd=ROOT, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == 2
    assert json.loads(done.stdout) == {
        "error": {"code": 2, "kind": "usage", "message": "EPC '0x12' out of range 0x80-0xFF"}
    }
    assert done.stderr == "echonet: EPC '0x12' out of range 0x80-0xFF\n"


# --mra anywhere ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "argv",
    [
        ["--mra", "{mra}", "spec", "0x0130"],
        ["spec", "--mra", "{mra}", "0x0130"],
        ["spec", "0x0130", "--mra", "{mra}"],
    ],
)
def test_mra_may_come_before_or_after_the_command_name(capsys: pytest.CaptureFixture[str], argv: list[str]) -> None:
    mra = str(mra_dir())
    code, out, err = cli(capsys, *(a.format(mra=mra) for a in argv))
    assert code == 0, err
    assert out.startswith("0x0130 Home air conditioner")


def test_without_mra_the_appendix_class_is_unknown_and_a_bad_mra_is_the_same_error_either_side(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("ECHONET_MRA_DIR", raising=False)
    assert cli(capsys, "spec", "0x0130")[0] == 2
    before = cli(capsys, "--mra", str(tmp_path), "decode", "1081000105ff010ef0016201d600")
    after = cli(capsys, "decode", "--mra", str(tmp_path), "1081000105ff010ef0016201d600")
    assert before == after and before[0] == 2 and "Machine Readable Appendix" in before[2]


def test_mra_after_a_group_command_reaches_its_subcommand(capsys: pytest.CaptureFixture[str]) -> None:
    mra = str(mra_dir())
    silent = ["--bind", "127.0.0.1", "--timeout", "0.2", "--retries", "0", "--no-overlay", "--port", "9"]
    code, _, err = cli(capsys, "drready", "check", "127.0.0.1", "--eoj", "home air conditioner", "--mra", mra, *silent)
    assert code == 4, err  # the class was found (not exit 2), and nobody answered on 127.0.0.1 port 9 in 0.2 s


# one EOJ parser ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("eoj", ["027D01", "0x027D01", "02-7D-01", "battery", "storage battery", "storage_battery:1"])
def test_drready_check_takes_every_eoj_spelling_get_takes(capsys: pytest.CaptureFixture[str], eoj: str) -> None:
    code, _, err = cli(capsys, "drready", "check", "127.0.0.1", "--eoj", eoj, "--bind", "127.0.0.1",
                       "--timeout", "0.2", "--retries", "0", "--no-overlay", "--port", "9")  # fmt: skip
    assert code == 4, err  # parsed (a bad EOJ is exit 2), then no answer


def test_drready_check_refuses_instance_0_as_it_probes_one_object(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = cli(capsys, "drready", "check", "127.0.0.1", "--eoj", "battery:0")
    assert code == 2 and out == "" and "instance from 1" in err
