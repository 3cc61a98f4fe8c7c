"""`echonet discover / get / set / watch / doctor` against a real device server over UDP on loopback: typed output
with units, JSON, refusals and timeouts as exit codes (0 ok, 2 usage, 3 refused, 4 timeout), one-line errors."""

from __future__ import annotations

import asyncio
import functools
import json
import random
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

import pytest

from echonet import EOJ
from echonet.aio import DeviceServer, Endpoints
from echonet.cli import main
from echonet.cli.node import EXIT_REFUSED, EXIT_TIMEOUT, encode_value, parse_eoj, parse_epc
from echonet.errors import EchonetUsageError
from echonet.node import DeviceObject, Node, NodeConfig, NodeProfile
from echonet.spec.registry import default_registry

from ..conftest import ROOT

T = TypeVar("T")
BATTERY = EOJ(0x02, 0x7D, 0x01)
HEATER = EOJ(0x02, 0x6B, 0x01)
MAKER = b"\x00\x00\x77"
UNIQUE = bytes(range(1, 14))
IDENT = (b"\xfe" + MAKER + UNIQUE).hex()
# Two loopback addresses of our own, so that tests of other people running at the same time do not collide.
_ips = random.sample(range(100, 251), 3)
DEVICE_IP, CONTROLLER_IP, SILENT_IP = (f"127.0.{random.randint(1, 254)}.{n}" for n in _ips)


class Battery(DeviceObject):
    """A storage battery that refuses charging power settings above 5000 W (as a device may, within the range)."""

    __slots__ = ()

    def on_set(self, epc: int, edt: bytes) -> str | None:
        if epc == 0xEB and int.from_bytes(edt, "big") > 5000:
            return "above this battery's 5000 W"
        return None


def make_objects() -> tuple[DeviceObject, DeviceObject]:
    battery = Battery.from_typed(
        BATTERY,
        {
            "operationStatus": "on",
            "installationLocation": b"\x00",
            "operationMode": "standby",
            "remainingCapacity1": 5000,
            "remainingCapacity3": 50,
            "chargingPower": 0,
        },
    )
    heater = DeviceObject.from_typed(
        HEATER,
        {
            "operationStatus": "on",
            "installationLocation": b"\x00",
            "automaticWaterHeating": "auto",
            "targetWaterHeatingTemperature": 60,
        },
    )
    return battery, heater


class Device:
    """A device server on its own event loop in a thread, so that the CLI can run in the test's thread."""

    def __init__(self, config: NodeConfig | None = None) -> None:
        self.battery, self.heater = make_objects()
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        node = Node(
            [self.battery, self.heater],
            config=config,
            profile=NodeProfile(maker_code=MAKER, unique_id=UNIQUE),
        )
        self.server = self.call(DeviceServer.open(node, Endpoints(bind_v4=DEVICE_IP, port=0)))
        self.port: int = self.server.runner.local_addresses[socket.AF_INET][1]

    def call(self, coro: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(10)

    def run(self, fn: Callable[[], T]) -> T:
        """Run ``fn`` on the device's loop (device objects belong to it) and return its result."""

        async def inside() -> T:
            return fn()

        result: T = self.call(inside())
        return result

    def value(self, obj: DeviceObject, epc: int) -> bytes | None:
        return self.run(lambda: obj.value(epc))

    def close(self) -> None:
        self.call(self.server.close())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)
        self.loop.close()


@pytest.fixture
def device() -> Iterator[Device]:
    dev = Device()
    try:
        yield dev
    finally:
        dev.close()


def cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def net(port: int | None = None, *, timeout: str = "2") -> list[str]:
    """Options every talking command gets here: our own address, an ephemeral local port, the device's port."""
    return ["--bind", CONTROLLER_IP, "--local-port", "0", "--timeout", timeout] + (
        ["--port", str(port)] if port else []
    )


# get ------------------------------------------------------------------------------------------------------------


def test_get_by_class_name_and_property_names_prints_typed_values_with_units_and_raw_hex(
    capsys: pytest.CaptureFixture[str], device: Device
) -> None:
    code, out, err = cli(
        capsys, "get", DEVICE_IP, "storage_battery:1", "remainingCapacity3", "REMAININGCAPACITY1", "operationMode",
        *net(device.port),
    )  # fmt: skip
    assert code == 0, err
    lines = out.splitlines()
    assert lines[0] == f"027D01 Storage battery at {DEVICE_IP} port {device.port}"
    row = {line.split()[0]: line for line in lines[2:]}
    assert "Remaining stored electricity 3" in row["0xE4"] and "50 %" in row["0xE4"] and row["0xE4"].endswith("32")
    assert "5000 Wh" in row["0xE2"] and row["0xE2"].endswith("00001388")
    assert "standby" in row["0xDA"] and row["0xDA"].endswith("44")


def test_get_with_hex_eoj_and_epcs_gives_one_json_document(capsys: pytest.CaptureFixture[str], device: Device) -> None:
    code, out, _ = cli(capsys, "get", DEVICE_IP, "0x026B01", "0xB3", "b0", "--json", *net(device.port))
    assert code == 0
    doc = json.loads(out)
    assert doc["eoj"] == "026B01" and doc["class"] == "0x026B" and doc["class_name"] == "Electric water heater"
    assert doc["host"] == DEVICE_IP and doc["port"] == device.port and doc["ok"] is True and "error" not in doc
    temp, mode = doc["properties"]
    assert temp["epc"] == "0xB3" and temp["value"] == 60 and temp["unit"] == "Celsius" and temp["edt"] == "3c"
    assert mode["value"] == "auto" and mode["key"] == "automaticWaterHeating"


def test_get_sna_prints_what_came_back_names_the_refused_epcs_and_exits_3(
    capsys: pytest.CaptureFixture[str], device: Device
) -> None:
    code, out, err = cli(capsys, "get", DEVICE_IP, "027D01", "E4", "batteryHealthState", *net(device.port))
    assert code == EXIT_REFUSED == 3
    assert "50 %" in out and "(refused)" in out  # what it did answer, on stdout
    assert err == "echonet: partial answer (Get_SNA): refused 0xE5\n"  # and the one line that says what failed
    code, out, err = cli(capsys, "get", DEVICE_IP, "027D01", "E4", "E5", "--json", *net(device.port))
    assert err == "echonet: partial answer (Get_SNA): refused 0xE5\n"
    doc = json.loads(out)
    assert code == 3 and doc["ok"] is False and doc["esv"] == "Get_SNA" and doc["refused"] == ["0xE5"]
    assert doc["error"]["code"] == 3 and doc["error"]["kind"] == "refused" and "0xE5" in doc["error"]["message"]
    assert [p["status"] for p in doc["properties"]] == ["ok", "refused"] and doc["properties"][0]["value"] == 50


@pytest.mark.parametrize(
    ("argv", "needle"),
    [
        (["get", "127.0.0.1", "027D0", "E4"], "is not an EOJ"),
        (["get", "127.0.0.1", "toaster:1", "E4"], "no class 'toaster'"),
        (["get", "127.0.0.1", "027D01", "0x12"], "out of range 0x80-0xFF"),
        (["get", "127.0.0.1", "027D01", "remainingCapacity"], "did you mean remainingCapacity3"),
        (["get", "host.invalid", "027D01", "E4"], "cannot resolve host"),
        (["get", "127.0.0.1", "027D01", "E4", "--bind", "127.0.0.300"], "is not an IP address"),
        (["set", "127.0.0.1", "027D01", "operationMode"], "give EPC=VALUE"),
        (["set", "127.0.0.1", "027D01", "operationMode=flying"], "is not one of"),
        (["set", "127.0.0.1", "027D01", "0xF5=12"], "give its value as hex"),
        (["set", "127.0.0.1", "027D00", "operationMode=charging"], "addresses one object"),
    ],
)
def test_bad_host_eoj_epc_or_value_is_one_line_and_exit_2(
    capsys: pytest.CaptureFixture[str], argv: list[str], needle: str
) -> None:
    code, out, err = cli(capsys, *argv)
    assert code == 2 and out == ""
    assert len(err.strip().splitlines()) == 1 and needle in err and "Traceback" not in err


# set ------------------------------------------------------------------------------------------------------------


def test_set_typed_values_by_enum_name_and_number_with_unit_is_accepted(
    capsys: pytest.CaptureFixture[str], device: Device
) -> None:
    code, out, err = cli(
        capsys, "set", DEVICE_IP, "storageBattery", "operationMode=Charging", "0xEB=3000W", *net(device.port)
    )
    assert code == 0, err
    assert "charging" in out and "3000 W" in out and out.count("accepted") == 2
    assert device.value(device.battery, 0xDA) == b"\x42"
    assert device.value(device.battery, 0xEB) == (3000).to_bytes(4, "big")


def test_set_refused_by_the_device_reports_it_per_epc_and_exits_3(
    capsys: pytest.CaptureFixture[str], device: Device
) -> None:
    code, out, err = cli(
        capsys, "set", DEVICE_IP, "027D01", "operationMode=discharging", "chargingPower=9000", "--json",
        *net(device.port),
    )  # fmt: skip
    assert code == EXIT_REFUSED and err == "echonet: refused (SetC_SNA): 0xEB\n"
    doc = json.loads(out)
    assert doc["esv"] == "SetC_SNA" and doc["refused"] == ["0xEB"] and doc["ok"] is False
    assert {p["epc"]: p["status"] for p in doc["properties"]} == {"0xDA": "accepted", "0xEB": "refused"}
    assert doc["error"] == {"code": 3, "kind": "refused", "message": "refused (SetC_SNA): 0xEB"}
    assert device.value(device.battery, 0xEB) == b"\x00\x00\x00\x00"


def test_set_out_of_range_is_refused_locally_before_sending(capsys: pytest.CaptureFixture[str], device: Device) -> None:
    # A silent peer: had anything been sent, the outcome would be a timeout (exit 4), not a usage error.
    code, out, err = cli(capsys, "set", SILENT_IP, "027D01", "acChargeUpperLimit=140%", *net(timeout="0.2"))
    assert code == 2 and out == "" and "140 % is outside 0 %..100 %" in err and len(err.splitlines()) == 1
    code, _, err = cli(capsys, "set", DEVICE_IP, "027D01", "remainingCapacity3=40", *net(device.port))
    assert code == 2 and "not settable" in err and "--force" in err
    assert device.value(device.battery, 0xE4) == b"\x32"


def test_set_raw_hex_and_seti_without_response(capsys: pytest.CaptureFixture[str], device: Device) -> None:
    code, out, err = cli(
        capsys, "set", DEVICE_IP, "026B01", "targetWaterHeatingTemperature=hex:37", "--no-response",
        *net(device.port, timeout="0.3"),
    )  # fmt: skip
    assert code == 0, err
    assert "55 Celsius" in out and "sent" in out and "SetI" in out
    assert device.value(device.heater, 0xB3) == b"\x37"


def test_seti_refused_by_the_device_exits_3(capsys: pytest.CaptureFixture[str], device: Device) -> None:
    code, out, _ = cli(
        capsys, "set", DEVICE_IP, "027D01", "0xEB=0x00002328", "--no-response", "--json",
        *net(device.port, timeout="1"),
    )  # fmt: skip
    doc = json.loads(out)
    assert code == 3 and doc["request"] == "SetI" and doc["esv"] == "SetI_SNA" and doc["refused"] == ["0xEB"]


# timeouts ----------------------------------------------------------------------------------------------------------


def test_timeout_against_a_silent_address_is_one_line_naming_host_eoj_and_attempts_exit_4(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, out, err = cli(capsys, "get", SILENT_IP, "027D01", "E4", "--retries", "1", *net(timeout="0.2"))
    assert code == EXIT_TIMEOUT == 4 and out == ""
    assert len(err.splitlines()) == 1
    assert SILENT_IP in err and "027D01" in err and "2 attempt(s)" in err and "Traceback" not in err


def test_timeout_from_the_installed_command_has_no_traceback() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "echonet", "set", SILENT_IP, "027D01", "operationMode=auto", "--retries", "0",
         *net(timeout="0.2")],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
    )  # fmt: skip
    assert result.returncode == 4, result.stderr
    assert result.stdout == "" and result.stderr.count("\n") == 1 and "Traceback" not in result.stderr
    assert "no answer from" in result.stderr and "1 attempt(s)" in result.stderr


# discover ----------------------------------------------------------------------------------------------------------


def test_discover_by_unicast_target_finds_the_device_with_objects_and_maps(
    capsys: pytest.CaptureFixture[str], device: Device
) -> None:
    code, out, err = cli(
        capsys, "discover", "--target", DEVICE_IP, "--rescans", "0", "--json", *net(device.port, timeout="1")
    )
    assert code == 0, err
    (node,) = json.loads(out)["nodes"]
    assert node["host"] == DEVICE_IP and node["port"] == device.port
    assert node["identification"] == IDENT and node["manufacturer"] == "000077"
    assert node["instances"] == ["027D01", "026B01"]
    objects = {o["eoj"]: o for o in node["objects"]}
    assert objects["027D01"]["class_name"] == "Storage battery" and "0xE4" in objects["027D01"]["get_map"]
    assert objects["027D01"]["class"] == "0x027D" and objects["0EF001"]["class_name"] == "Node profile"
    assert "0xEB" in objects["027D01"]["set_map"] and "0xE4" in objects["027D01"]["announce_map"]
    assert node["version"] == {"major": 1, "minor": 14, "formats": ["specified"]}  # 0x82 as the spec layer types it

    code, out, _ = cli(capsys, "discover", "--target", DEVICE_IP, "--rescans", "0", *net(device.port, timeout="1"))
    assert code == 0 and IDENT in out and "0x000077" in out
    assert "027D01  Storage battery" in out and "026B01  Electric water heater" in out


def test_discover_finding_nobody_says_so_and_exits_1(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = cli(capsys, "discover", "--target", SILENT_IP, "--rescans", "0", *net(timeout="0.2"))
    assert code == 1 and out == "" and "no node answered" in err and "echonet doctor" in err


# watch -------------------------------------------------------------------------------------------------------------


def _free_port(ip: str) -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind((ip, 0))
        port: int = s.getsockname()[1]
        return port


def test_watch_prints_each_announced_property_typed_and_stops_after_duration(
    capsys: pytest.CaptureFixture[str],
) -> None:
    # The device's announcements go to our watcher's address instead of the multicast group.
    watch_port = _free_port(CONTROLLER_IP)
    dev = Device(NodeConfig(multicast_v4=CONTROLLER_IP, port=watch_port))
    result: list[int] = []
    argv = ["watch", "--bind", CONTROLLER_IP, "--local-port", str(watch_port), "--duration", "1.5", "--json"]
    watcher = threading.Thread(target=lambda: result.append(main(argv)))
    try:
        watcher.start()
        level = 50
        while watcher.is_alive():
            level = 20 + (level + 1) % 60
            dev.run(functools.partial(dev.battery.update, 0xE4, bytes((level,))))
            time.sleep(0.1)
        watcher.join()
    finally:
        dev.close()
    out, err = capsys.readouterr()
    assert result == [0], err
    assert f"listening on {CONTROLLER_IP} port {watch_port} for 1.5 s" in err
    records = [json.loads(line) for line in out.splitlines()]
    e4 = [r for r in records if r["epc"] == "0xE4"]
    assert e4, out
    first = e4[0]
    assert first["host"] == DEVICE_IP and first["esv"] == "INF" and first["eoj"] == "027D01"
    assert first["unit"] == "%" and 20 <= first["value"] < 80 and first["class_name"] == "Storage battery"
    assert first["time"].endswith("Z") and first["time"][:2] == "20"  # ISO 8601, UTC


def test_watch_text_line_per_property(capsys: pytest.CaptureFixture[str]) -> None:
    watch_port = _free_port(CONTROLLER_IP)
    dev = Device(NodeConfig(multicast_v4=CONTROLLER_IP, port=watch_port))
    argv = ["watch", "--bind", CONTROLLER_IP, "--local-port", str(watch_port), "--duration", "1"]
    watcher = threading.Thread(target=lambda: main(argv))
    try:
        watcher.start()
        modes = ["charging", "discharging"]
        while watcher.is_alive():
            modes.reverse()
            edt = default_registry().property(0x027D, 0xDA).encode(modes[0])  # type: ignore[union-attr]
            dev.run(functools.partial(dev.battery.update, 0xDA, edt))
            time.sleep(0.1)
        watcher.join()
    finally:
        dev.close()
    lines = [line for line in capsys.readouterr().out.splitlines() if "0xDA" in line]
    assert lines and all(DEVICE_IP in line and "INF" in line and "027D01 Storage battery" in line for line in lines)
    assert any(
        line.endswith(("Operation mode setting = charging  [42]", "Operation mode setting = discharging  [43]"))
        for line in lines
    )


def test_watch_stops_cleanly_with_exit_0_on_ctrl_c() -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "echonet", "watch", "--bind", CONTROLLER_IP, "--local-port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=ROOT,
        # A shell without job control starts background commands with SIGINT ignored: give the child the default.
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    try:
        assert proc.stderr is not None
        assert "listening on" in proc.stderr.readline()  # waits until the sockets are open
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0 and out == "" and "Traceback" not in err


# doctor ------------------------------------------------------------------------------------------------------------


def test_doctor_json_lists_findings_and_exits_non_zero_only_on_errors(capsys: pytest.CaptureFixture[str]) -> None:
    pytest.importorskip("netifaces")
    code, out, _ = cli(capsys, "doctor", "--json")
    doc = json.loads(out)
    assert isinstance(doc["findings"], list)
    assert all({"code", "severity", "message"} <= set(f) for f in doc["findings"])
    errors = [f for f in doc["findings"] if f["severity"] == "error"]
    assert doc["ok"] is (not errors) and code == (1 if errors else 0)
    code, out, _ = cli(capsys, "doctor", "--interface", "no-such-if0", "--json")
    doc = json.loads(out)
    assert code == 1 and "no-such-interface" in {f["code"] for f in doc["findings"]}


# parsing helpers ---------------------------------------------------------------------------------------------------


def test_eoj_epc_and_value_spellings() -> None:
    reg = default_registry()
    assert {parse_eoj(t, reg) for t in ("027D01", "0x027D01", "02-7D-01", "storage_battery:1", "storage battery")} == {
        BATTERY
    }
    assert parse_eoj("storageBattery:0x1F", reg) == EOJ(0x02, 0x7D, 0x1F)
    assert parse_eoj("0x027D:2", reg) == EOJ(0x02, 0x7D, 0x02)
    spellings = ("0xE4", "e4", "remainingcapacity3", "Remaining stored electricity 3", "remaining_capacity_3")
    assert {parse_epc(t, BATTERY, reg) for t in spellings} == {0xE4}
    charging_power = reg.property(0x027D, 0xEB)
    assert encode_value(charging_power, 0xEB, "3000") == encode_value(charging_power, 0xEB, "3000 W") == b"\0\0\x0b\xb8"
    heater_temp = reg.property(0x026B, 0xB3)
    assert encode_value(heater_temp, 0xB3, "55°C") == encode_value(heater_temp, 0xB3, "0x37") == b"\x37"
    with pytest.raises(EchonetUsageError, match="outside"):
        encode_value(heater_temp, 0xB3, "101")
    assert encode_value(heater_temp, 0xB3, "0xFD", force=True) == b"\xfd"
