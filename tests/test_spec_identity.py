"""Version information (0x82) and identification number (0x83) as typed values: decode, encode, validate and show
them as the Appendix defines them, and every place that reads them (the decoder, the DRready checker, the secure
policy's consent records) agrees."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from echonet import EchonetUsageError, ValueDecodeError
from echonet.describe import frame_lines
from echonet.drready.checker import NodeInfo, ObjectReport
from echonet.frame import EOJ, ESV, Frame, Property
from echonet.spec import AppendixRelease, Identification, ProtocolVersion, builtin_registry
from echonet.spec.builtin import NODE_PROFILE, STORAGE_BATTERY, SUPER_CLASS
from echonet.spec.identity import (
    APPENDIX_RELEASE,
    IDENTIFICATION_NUMBER,
    PROTOCOL_VERSION,
    identification_of,
    release_of,
    release_text,
    version_of,
    version_text,
)
from secure.errors import SecureUsageError
from secure.policy.values import describe_version

bytes_ = st.integers(0, 255)
#: Conformant EDTs of each type.
versions = st.builds(lambda major, minor, formats: bytes((major, minor, formats, 0)), bytes_, bytes_, st.integers(0, 3))
release_codes = st.sampled_from([0x61, *range(0x42, 0x5B)])  # 'a' for Release A, then B-Z upper-case
releases = st.builds(lambda code, revision: bytes((0, 0, code, revision)), release_codes, bytes_)
identifications = st.builds(lambda rest: b"\xfe" + rest, st.binary(min_size=16, max_size=16))
TYPES = {"version": (PROTOCOL_VERSION, versions), "release": (APPENDIX_RELEASE, releases),
         "identification": (IDENTIFICATION_NUMBER, identifications)}  # fmt: skip


# Values ------------------------------------------------------------------------------------------------------------


def test_node_profile_version_reads_major_minor_and_the_message_formats() -> None:
    version = PROTOCOL_VERSION.decode(bytes.fromhex("010e0100"))
    assert version == ProtocolVersion(1, 14, frozenset({"specified"}))
    assert (version.specified, version.arbitrary, version.number) == (True, False, "1.14")
    assert str(version) == version.text() == "1.14 (message format: specified)"
    assert version.to_json() == {"major": 1, "minor": 14, "formats": ["specified"]}
    both = PROTOCOL_VERSION.decode(bytes.fromhex("010d0300"))
    assert both.format_names == ("specified", "arbitrary")
    assert both.text() == "1.13 (message format: specified, arbitrary)"
    assert PROTOCOL_VERSION.decode(bytes.fromhex("01010000")).text() == "1.01 (message format: none stated)"
    assert PROTOCOL_VERSION.encode(ProtocolVersion(1, 14)) == bytes.fromhex("010e0100")
    assert PROTOCOL_VERSION.encode({"major": 1, "minor": 13, "formats": ["arbitrary", "specified"]}) == bytes.fromhex(
        "010d0300"
    )
    assert PROTOCOL_VERSION.encode("1.14") == PROTOCOL_VERSION.encode("0x010e0100") == bytes.fromhex("010e0100")


def test_device_release_reads_the_letter_and_revision_with_release_a_lower_case() -> None:
    release = APPENDIX_RELEASE.decode(b"\x00\x00R\x01")
    assert release == AppendixRelease("R", 1) and str(release) == "Release R rev. 1"
    assert release.to_json() == {"letter": "R", "revision": 1}
    # the Appendix writes Release A as 'a' (0x61), every later release upper-case
    assert APPENDIX_RELEASE.decode(b"\x00\x00a\x00") == AppendixRelease("A") == AppendixRelease("a")
    assert APPENDIX_RELEASE.encode(AppendixRelease("A")) == b"\x00\x00a\x00"
    assert APPENDIX_RELEASE.encode("Release H rev. 2") == APPENDIX_RELEASE.encode({"letter": "H", "revision": 2})
    assert APPENDIX_RELEASE.encode("R") == b"\x00\x00R\x00"
    assert AppendixRelease("H", 3) < AppendixRelease("M") < AppendixRelease("M", 1)


def test_identification_number_reads_the_manufacturer_and_the_unique_part() -> None:
    edt = bytes.fromhex("fe000077") + bytes(range(13))
    ident = IDENTIFICATION_NUMBER.decode(edt)
    assert ident == Identification(b"\x00\x00\x77", bytes(range(13)))
    assert str(ident) == "manufacturer 0x000077, unique 000102030405060708090a0b0c"
    assert ident.to_json() == edt.hex()  # the form nodes are told apart by (discovery, the checker, credentials)
    assert IDENTIFICATION_NUMBER.encode(ident) == IDENTIFICATION_NUMBER.encode(edt.hex()) == edt
    assert IDENTIFICATION_NUMBER.encode({"manufacturer": "000077", "unique": bytes(range(13))}) == edt


@pytest.mark.parametrize(
    ("value_type", "edt", "reason"),
    [
        (PROTOCOL_VERSION, b"\x01\x0e\x01", "EDT of 3 byte(s), expected 4"),
        (PROTOCOL_VERSION, b"", "EDT of 0 byte(s), expected 4"),
        (APPENDIX_RELEASE, b"\x00\x00R", "EDT of 3 byte(s), expected 4"),
        (APPENDIX_RELEASE, b"\x00\x00\x30\x01", "release byte 0x30 is not a release letter (A-Z, 'a' for Release A)"),
        (APPENDIX_RELEASE, b"\x00\x00r\x01", "release byte 0x72 is not a release letter (A-Z, 'a' for Release A)"),
        (IDENTIFICATION_NUMBER, b"\xfe\x00", "EDT of 2 byte(s), expected 17"),
        (IDENTIFICATION_NUMBER, b"\xfe" + bytes(17), "EDT of 18 byte(s), expected 17"),
        (IDENTIFICATION_NUMBER, bytes(17), "identification number starts with 0x00, expected 0xFE"),
        (IDENTIFICATION_NUMBER, b"\xff" * 17, "identification number starts with 0xFF, expected 0xFE"),
    ],
)
def test_malformed_sizes_and_codes_raise_with_a_reason(value_type: object, edt: bytes, reason: str) -> None:
    from echonet.spec.types import ValueType

    assert isinstance(value_type, ValueType)
    with pytest.raises(ValueDecodeError) as caught:
        value_type.decode(edt)
    assert caught.value.reason == reason
    assert value_type.check(edt) == reason


@pytest.mark.parametrize(
    ("value_type", "edt", "reason"),
    [
        (PROTOCOL_VERSION, bytes.fromhex("010e0105"), "4th byte is 0x05, expected 0x00"),
        (PROTOCOL_VERSION, bytes.fromhex("010e0700"), "message-format bitmap 0x07 sets reserved bits (0x04)"),
        (APPENDIX_RELEASE, b"\x01\x00R\x01", "first two bytes are 0x0100, expected 0x0000"),
        (APPENDIX_RELEASE, b"\x00\x00A\x00", "Release A is written 'a' (0x61)"),
    ],
)
def test_bytes_the_appendix_fixes_are_refused_by_check_but_still_decode(
    value_type: object, edt: bytes, reason: str
) -> None:
    from echonet.spec.types import ValueType

    assert isinstance(value_type, ValueType)
    assert value_type.check(edt) == reason
    assert value_type.encode(value_type.decode(edt)) != edt  # the conformant form differs


def test_values_refuse_what_they_cannot_hold() -> None:
    for make in (
        lambda: ProtocolVersion(256, 0),
        lambda: ProtocolVersion(1, 14, frozenset({"fast"})),
        lambda: AppendixRelease("RR"),
        lambda: AppendixRelease("1"),
        lambda: AppendixRelease("R", -1),
        lambda: Identification(b"\x00\x00", bytes(13)),
        lambda: PROTOCOL_VERSION.encode("one point fourteen"),
        lambda: PROTOCOL_VERSION.encode(b"\x01\x0e"),
        lambda: APPENDIX_RELEASE.encode(b"\x00\x00\x30\x00"),
        lambda: IDENTIFICATION_NUMBER.encode(bytes(17)),
        lambda: IDENTIFICATION_NUMBER.encode(12),
    ):
        with pytest.raises(EchonetUsageError):
            make()


@pytest.mark.parametrize("name", sorted(TYPES))
@given(data=st.data())
def test_every_valid_edt_round_trips_through_the_value_and_its_json_form(name: str, data: st.DataObject) -> None:
    value_type, edts = TYPES[name]
    edt = data.draw(edts)
    value = value_type.decode(edt)
    assert value_type.check(edt) is None
    assert value_type.encode(value) == value.to_bytes() == edt
    document = json.loads(json.dumps(value_type.to_json(value)))
    assert value_type.encode(document) == edt
    assert value_type.value_text(value) == str(value)


@pytest.mark.parametrize("name", sorted(TYPES))
@given(data=st.data())
def test_for_any_edt_of_the_right_size_check_passes_exactly_when_it_round_trips(name: str, data: st.DataObject) -> None:
    value_type, _ = TYPES[name]
    edt = data.draw(st.binary(min_size=value_type.min_size, max_size=value_type.max_size))
    try:
        value = value_type.decode(edt)
    except ValueDecodeError as exc:
        assert exc.reason and value_type.check(edt) == exc.reason
        return
    assert (value_type.check(edt) is None) == (value_type.encode(value) == edt)


@pytest.mark.parametrize("name", sorted(TYPES))
@given(data=st.data())
def test_any_other_size_raises_value_decode_error(name: str, data: st.DataObject) -> None:
    value_type, _ = TYPES[name]
    edt = data.draw(st.binary(max_size=20).filter(lambda b: len(b) != value_type.min_size))
    with pytest.raises(ValueDecodeError, match="expected"):
        value_type.decode(edt)


# The tables and the decoder ----------------------------------------------------------------------------------------


def test_the_tables_type_0x82_and_0x83_and_the_registry_decodes_them() -> None:
    assert NODE_PROFILE.properties[0x82].type is PROTOCOL_VERSION
    assert SUPER_CLASS.properties[0x82].type is APPENDIX_RELEASE
    for cls in (NODE_PROFILE, SUPER_CLASS, STORAGE_BATTERY):
        assert cls.properties[0x83].type is IDENTIFICATION_NUMBER
    registry = builtin_registry()
    assert registry.decode_value(0x0EF0, 0x82, bytes.fromhex("010e0100")).value == ProtocolVersion(1, 14)
    assert registry.decode_value(0x027D, 0x82, b"\x00\x00R\x01").value == AppendixRelease("R", 1)
    bad = registry.decode_value(0x027D, 0x83, bytes(17))
    assert bad.error == "identification number starts with 0x00, expected 0xFE" and bad.value == bytes(17)
    assert NODE_PROFILE.properties[0x82].check_set(bytes.fromhex("010e0100")) == "not settable"


def test_the_decoder_shows_the_typed_values() -> None:
    ident = bytes.fromhex("fe000077") + bytes(range(13))
    profile = Frame.make(1, EOJ(0x0E, 0xF0, 0x01), EOJ(0x05, 0xFF, 0x01), ESV.GET_RES,
                         [Property(0x82, bytes.fromhex("010e0100")), Property(0x83, ident)])  # fmt: skip
    battery = Frame.make(2, EOJ(0x02, 0x7D, 0x01), EOJ(0x05, 0xFF, 0x01), ESV.GET_RES,
                         [Property(0x82, b"\x00\x00R\x01"), Property(0x83, b"\x00" * 17)])  # fmt: skip
    registry = builtin_registry()
    assert frame_lines(profile, registry)[1:] == [
        "  0x82 Version information = 1.14 (message format: specified)",
        "  0x83 Identification number = manufacturer 0x000077, unique 000102030405060708090a0b0c",
    ]
    assert frame_lines(battery, registry)[1:] == [
        "  0x82 Standard version information = Release R rev. 1",
        "  0x83 Identification number = invalid 0x" + "00" * 17
        + ": identification number starts with 0x00, expected 0xFE",
    ]  # fmt: skip


# For code that has bytes only, and the places that read 0x82 -------------------------------------------------------


def test_text_of_missing_and_malformed_bytes() -> None:
    assert version_text(None) == release_text(None) == "unknown"
    assert version_text(b"\x01") == "malformed (1 byte(s): 01)"
    assert release_text(b"\x00\x00R") == "malformed (000052)"
    assert release_text(b"\x00\x00\x30\x00") == "malformed (00003000)"
    assert release_text(b"\x00\x00a\x03") == "Release A rev. 3"
    assert version_of(None) is release_of(b"") is identification_of(bytes(17)) is None
    assert identification_of(b"\xfe" + bytes(16)) == Identification(bytes(3), bytes(13))


def _version_text_before(edt: bytes | None) -> str:
    """The checker's hand decoding of node profile 0x82 before the spec typed it."""
    if edt is None:
        return "unknown"
    if len(edt) != 4:
        return f"malformed ({len(edt)} byte(s): {edt.hex()})"
    formats = [name for bit, name in ((0, "specified"), (1, "arbitrary")) if edt[2] & (1 << bit)]
    return f"{edt[0]}.{edt[1]:02d} (message format: {', '.join(formats) or 'none stated'})"


def _release_text_before(edt: bytes | None) -> str:
    """The checker's hand decoding of device object 0x82 before the spec typed it."""
    if edt is None:
        return "unknown"
    if len(edt) != 4 or not 0x41 <= edt[2] <= 0x5A:
        return f"malformed ({edt.hex()})"
    return f"Release {chr(edt[2])} rev. {edt[3]}"


def _describe_version_before(raw: bytes) -> str:
    """The secure policy's hand decoding of node profile 0x82 (for a 4-byte value) before the spec typed it."""
    formats = [name for bit, name in ((0, "specified"), (1, "arbitrary")) if raw[2] & (1 << bit)]
    shown = " and ".join(formats) if formats else "no"
    return f"ECHONET Lite Ver. {raw[0]}.{raw[1]} ({shown} message format{'s' if len(formats) > 1 else ''})"


near_versions = st.one_of(st.binary(max_size=6), st.binary(min_size=4, max_size=4), versions)
near_releases = st.one_of(st.binary(max_size=6), st.binary(min_size=4, max_size=4), releases)


@given(near_versions)
def test_the_checker_the_policy_and_the_decoder_agree_on_node_profile_0x82(edt: bytes) -> None:
    version = version_of(edt)
    checker_text = NodeInfo(True, version=edt).version_text
    assert checker_text == version_text(edt) == _version_text_before(edt)  # the checker's wording is unchanged
    decoded = builtin_registry().decode_value(0x0EF0, 0x82, edt)
    assert (decoded.error is None) == (version is not None)
    if version is None:
        with pytest.raises(SecureUsageError, match="node profile 0x82 is 4 bytes"):
            describe_version(edt)
        return
    assert decoded.value == version and PROTOCOL_VERSION.value_text(version) == checker_text
    shown = describe_version(edt)
    assert shown == describe_version(edt.hex()) == describe_version(edt.hex(" ")) == _describe_version_before(edt)
    assert shown.startswith(f"ECHONET Lite Ver. {version.major}.{version.minor} (")
    assert ("specified" in shown, "arbitrary" in shown) == (version.specified, version.arbitrary)


@given(near_releases)
def test_the_checker_and_the_decoder_agree_on_device_object_0x82(edt: bytes) -> None:
    release = release_of(edt)
    checker_text = ObjectReport(EOJ(0x02, 0x7D, 0x01), True, release=edt).release_text
    assert checker_text == release_text(edt)
    if len(edt) != 4 or edt[2] != 0x61:  # only Release A's lower-case 'a' reads differently (it was "malformed")
        assert checker_text == _release_text_before(edt)
    decoded = builtin_registry().decode_value(0x027D, 0x82, edt)
    assert (decoded.error is None) == (release is not None)
    if release is not None:
        assert decoded.value == release and checker_text == release.text()
