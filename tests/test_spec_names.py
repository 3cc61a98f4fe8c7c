"""One name per meaning: with the Machine Readable Appendix loaded, every class names a code as the built-in tables
do, and the Appendix's own names are accepted as aliases by `echonet set` (also with `--force`) and by device
objects built from typed values. Skipped cleanly where the Appendix is absent."""

from __future__ import annotations

import asyncio
import json
import random
import socket
import threading
from collections.abc import Iterator
from typing import Any

import pytest

from echonet import EOJ, EchonetUsageError
from echonet.aio import DeviceServer, Endpoints
from echonet.cli import main
from echonet.node import DeviceObject, Node
from echonet.spec.mra import load_mra
from echonet.spec.names import with_aliases_of, with_names_of
from echonet.spec.registry import Registry, builtin_registry, default_registry
from echonet.spec.types import Enum, enum, one_of, u8

from .conftest import mra_dir

AIRCON = EOJ(0x01, 0x30, 0x01)
HYBRID = EOJ(0x02, 0xA6, 0x01)
DEVICE_IP, CONTROLLER_IP = (f"127.0.{random.randint(1, 254)}.{n}" for n in random.sample(range(100, 251), 2))


@pytest.fixture(scope="module")
def tables() -> Registry:
    return default_registry(str(mra_dir()))


def names(t: Any) -> dict[int, str]:
    assert isinstance(t, Enum)
    return dict(t.values)


# The registry ------------------------------------------------------------------------------------------------------


def test_the_loader_names_the_appendix_true_false_on_off_states_on_and_off() -> None:
    status = load_mra(mra_dir())[0x0130].properties[0x80].type  # the Appendix: "true" (On) / "false" (Off)
    assert names(status) == {0x30: "on", 0x31: "off"}
    assert status.encode("true") == b"\x30" and status.encode("false") == b"\x31"


def test_a_class_of_the_appendix_names_operation_status_on_and_off(tables: Registry) -> None:
    for class_id in (0x0130, 0x0290, 0x0602, 0x027B):
        status = tables.property(class_id, 0x80)
        assert status is not None and names(status.type) == {0x30: "on", 0x31: "off"}, hex(class_id)
        assert status.encode("on") == status.encode("true") == b"\x30"


def test_an_appendix_state_that_says_on_off_is_named_on_off_and_yes_no_keeps_its_names(tables: Registry) -> None:
    timer = tables.property(0x0260, 0x90)  # electric blind: "ON" / "OFF"
    assert timer is not None and names(timer.type) == {0x41: "on", 0x42: "off"}
    assert timer.encode("true") == b"\x41"
    lock = tables.property(0x0260, 0xE5)  # electric lock: "Lock" / "Unlock", no ON / OFF
    assert lock is not None and names(lock.type) == {0x41: "true", 0x42: "false"}


def test_built_in_classes_keep_their_names_and_accept_the_appendix_names(tables: Registry) -> None:
    heating = tables.property(0x02A6, 0xB0)
    assert heating is not None and names(heating.type)[0x43] == "manualNoHeating"
    assert heating.encode("manualNotHeating") == heating.encode("manualNoHeating") == b"\x43"
    assert tables.decode_value(0x02A6, 0xB0, b"\x43").value == "manualNoHeating"
    hybrid = tables.get_class(0x02A6)
    assert hybrid is not None and hybrid.source == "builtin"


def test_a_name_the_appendix_gives_two_codes_is_no_alias(tables: Registry) -> None:
    remote = tables.property(0x027D, 0x93)  # the Appendix names 0x41 and 0x61 "true"
    assert remote is not None
    with pytest.raises(EchonetUsageError, match="not one of"):
        remote.encode("true")


def test_names_are_accepted_in_any_case() -> None:
    status = builtin_registry().property(0x027D, 0x80)
    assert status is not None and status.encode("ON") == status.encode("True") == b"\x30"


def test_alignment_reaches_codes_inside_alternatives_and_keeps_the_rest() -> None:
    ours = one_of(u8(0, 100, "%"), enum({0xFD: "undefined"}))
    theirs = one_of(u8(0, 100, "%"), enum({0xFD: "unknownValue"}))
    aliased = with_aliases_of(ours, theirs)
    assert aliased.encode("unknownValue") == b"\xfd" and aliased.decode(b"\xfd") == "undefined"
    renamed = with_names_of(theirs, ours)
    assert renamed.decode(b"\xfd") == "undefined" and renamed.encode("unknownValue") == b"\xfd"
    assert with_aliases_of(ours, u8()) is ours


def test_renaming_that_would_give_two_codes_one_name_changes_nothing() -> None:
    mine = enum({0x41: "a", 0x42: "b"})
    assert mine.renamed({0x41: "b"}) is mine


# Device objects and `echonet set` -----------------------------------------------------------------------------------


def test_device_objects_take_the_appendix_names_as_typed_values(tables: Registry) -> None:
    aircon = DeviceObject.from_typed(AIRCON, {"operationStatus": "true", "installationLocation": b"\x00"}, tables)
    assert aircon.value(0x80) == b"\x30"
    heater = DeviceObject.from_typed(
        HYBRID,
        {"operationStatus": "off", "installationLocation": b"\x00", "automaticWaterHeating": "manualNotHeating",
         "linkageModeForSolarPowerGeneration": "modeOff"},
        tables,
    )  # fmt: skip
    assert heater.value(0xB0) == b"\x43"


class _Device:
    """A device server on its own event loop in a thread, so that the command line can run in the test's."""

    def __init__(self, tables: Registry) -> None:
        self.aircon = DeviceObject.from_typed(
            AIRCON, {"operationStatus": "on", "installationLocation": b"\x00"}, tables
        )
        self.heater = DeviceObject.from_typed(
            HYBRID,
            {"operationStatus": "on", "installationLocation": b"\x00", "automaticWaterHeating": "auto",
             "linkageModeForSolarPowerGeneration": "modeOff"},
            tables,
        )  # fmt: skip
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        node = Node([self.aircon, self.heater], registry=tables)
        self.server = self._call(DeviceServer.open(node, Endpoints(bind_v4=DEVICE_IP, port=0)))
        self.port: int = self.server.runner.local_addresses[socket.AF_INET][1]

    def _call(self, coro: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(10)

    def value(self, obj: DeviceObject, epc: int) -> bytes | None:
        async def inside() -> bytes | None:
            return obj.value(epc)

        result: bytes | None = self._call(inside())
        return result

    def close(self) -> None:
        self._call(self.server.close())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)
        self.loop.close()


@pytest.fixture
def device(tables: Registry) -> Iterator[_Device]:
    dev = _Device(tables)
    try:
        yield dev
    finally:
        dev.close()


def _set(capsys: pytest.CaptureFixture[str], device: _Device, eoj: str, *assignments: str) -> tuple[int, Any, str]:
    net = ["--bind", CONTROLLER_IP, "--local-port", "0", "--timeout", "2", "--port", str(device.port)]
    code = main(["--mra", str(mra_dir()), "set", DEVICE_IP, eoj, *assignments, "--json", *net])
    out, err = capsys.readouterr()
    return code, json.loads(out) if out.strip() else None, err


def test_set_takes_the_built_in_and_the_appendix_name_of_operation_status_in_an_appendix_class(
    capsys: pytest.CaptureFixture[str], device: _Device
) -> None:
    code, doc, err = _set(capsys, device, "013001", "operationStatus=off")
    assert code == 0, err
    assert device.value(device.aircon, 0x80) == b"\x31"
    assert doc["properties"][0]["value"] == "off"  # read back under the built-in name
    code, doc, err = _set(capsys, device, "013001", "operationStatus=true")
    assert code == 0, err
    assert device.value(device.aircon, 0x80) == b"\x30" and doc["properties"][0]["value"] == "on"


def test_set_takes_the_appendix_name_of_a_built_in_code_also_with_force(
    capsys: pytest.CaptureFixture[str], device: _Device
) -> None:
    code, doc, err = _set(capsys, device, "02A601", "automaticWaterHeating=manualNotHeating")
    assert code == 0, err
    assert device.value(device.heater, 0xB0) == b"\x43" and doc["properties"][0]["value"] == "manualNoHeating"
    code, _, err = _set(capsys, device, "02A601", "operationStatus=false", "--force")
    assert code == 0, err
    assert device.value(device.heater, 0x80) == b"\x31"
