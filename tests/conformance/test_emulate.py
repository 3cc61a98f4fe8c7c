"""Emulated objects (echonet.apps.emulate) and the made-up values behind them (echonet.apps.values): every class of
the tables (and of the Machine Readable Appendix) can be emulated with values its definitions allow, Sets are
validated by the definition, and ``echonet serve --class`` mixed with ``--device`` serves a node the suite passes."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from echonet.apps.emulate import ClassSpec, emulated_object, emulated_objects, parse_class_spec
from echonet.apps.values import initial_value, refused_value, settable_values
from echonet.cli import main
from echonet.errors import EchonetUsageError
from echonet.spec.registry import Registry, builtin_registry, default_registry

from ..conftest import mra_dir
from .helpers import LOOPBACK


def _every_class(registry: Registry) -> None:
    classes = [c for c in registry if c.class_id not in (0x0000, 0x0EF0)]
    assert classes
    for cls in classes:
        obj = emulated_object(registry, ClassSpec(cls.class_id, all_optional=True))
        assert not obj.skipped, cls.name
        for epc, edt in obj.values().items():
            definition = obj.definition(epc)
            assert definition is not None
            assert definition.type.why_invalid(edt) is None, (cls.name, hex(epc), edt.hex())
            for other in settable_values(definition.type, edt)[:3]:
                assert definition.type.check(other) is None
            bad = refused_value(definition.type)
            if bad is not None and epc in obj.set_map:
                assert obj.write(epc, bad[0]) is not None, (cls.name, hex(epc), bad)
        mandatory = {e for e, d in registry.properties(cls.class_id).items() if d.access.get.mandatory}
        assert mandatory <= set(obj.get_map), cls.name


def test_every_builtin_class_can_be_emulated_with_values_its_definitions_allow() -> None:
    _every_class(builtin_registry())


def test_every_appendix_class_can_be_emulated_with_values_its_definitions_allow() -> None:
    _every_class(default_registry(str(mra_dir())))


def test_class_specs_name_the_instance_and_the_optional_epcs() -> None:
    registry = builtin_registry()
    spec = parse_class_spec("storage battery:3,0xE2,remainingCapacity3", registry)
    assert (spec.class_id, spec.instance) == (0x027D, 3) and 0xE2 in spec.optional
    objects = emulated_objects(registry, [spec, parse_class_spec("0x027D", registry)])
    assert [str(o.eoj) for o in objects] == ["027D03", "027D01"]
    assert 0xE2 in objects[0].get_map and 0xE2 not in objects[1].get_map
    assert objects[0].value(0x83) != objects[1].value(0x83)
    with pytest.raises(EchonetUsageError):
        parse_class_spec("0x0EF0", registry)
    with pytest.raises(EchonetUsageError):
        emulated_objects(registry, [spec, spec])


def test_a_set_is_validated_by_the_definition_and_read_back() -> None:
    obj = emulated_object(builtin_registry(), 0x027D)
    assert obj.write(0xDA, b"\x42") is None and obj.read(0xDA) == b"\x42"
    assert obj.write(0xDA, b"\x99") is not None and obj.read(0xDA) == b"\x42"
    assert obj.write(0xE6, b"\x01") is not None  # not settable
    assert 0xDA in obj.announce_map and obj.has_announcements


def test_values_of_a_type_fit_it() -> None:
    from echonet.spec.types import Number, enum

    number = Number("uint8", 0, 100, "%")
    assert initial_value(number) == b"\x00"
    assert refused_value(number) == (b"\x65", "101 is outside the range of the definition")
    mode = enum({0x41: "a", 0x42: "b"})
    assert settable_values(mode, b"\x41") == [b"\x42"]
    found = refused_value(mode)
    assert found is not None and mode.check(found[0]) is not None


@pytest.mark.timeout(60)
def test_cli_serve_class_mixed_with_a_drready_device_passes_the_suite(capsys: pytest.CaptureFixture[str]) -> None:
    argv = [
        sys.executable,
        "-m",
        "echonet",
        "serve",
        "--class",
        "0x027D:2,all",
        "--class",
        "0x05FF",
        "--device",
        "water_heater",
        "--bind",
        LOOPBACK,
        "--port",
        "0",
        "--interface",
        "lo",
        "--duration",
        "20",
        "--json",
    ]
    with subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) as served:
        try:
            assert served.stdout is not None
            serving = json.loads(served.stdout.readline())
            port = serving["addresses"][0]["port"]
            code = main(
                ["conformance", f"{LOOPBACK}:{port}", "--local-port", "0", "--timeout", "0.5", "--json", "--probe-set"]
            )
            doc = json.loads(capsys.readouterr().out)
        finally:
            served.terminate()
            served.communicate(timeout=10)
    assert [d["eoj"] for d in serving["devices"]] == ["026B01", "027D02", "05FF01"]
    assert serving["devices"][0]["kind"] == "water_heater" and serving["devices"][1]["kind"] == "emulated"
    assert code == 0, [r for r in doc["results"] if r["verdict"] == "fail"]
    assert [o["eoj"] for o in doc["objects"]] == ["0EF001", "026B01", "027D02", "05FF01"]
