"""Private atomic storage: modes from the first byte, atomic replacement, refusal of exposed private keys."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from secure import store
from secure.errors import InsecurePermissionsError, SecureUsageError, StoreError


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture
def permissive_umask() -> Iterator[None]:
    """Umask 0: any mode we see then is exactly the mode the code asked for at creation."""
    old = os.umask(0)
    try:
        yield
    finally:
        os.umask(old)


def test_atomic_write_creates_file_with_mode_0600(tmp_path: Path, permissive_umask: None) -> None:
    target = tmp_path / "secret.pem"
    store.atomic_write(target, b"data")
    assert target.read_bytes() == b"data"
    assert mode(target) == 0o600


def test_missing_directories_are_created_with_mode_0700(tmp_path: Path, permissive_umask: None) -> None:
    target = tmp_path / "a" / "b" / "file.json"
    store.write_json(target, {"x": 1})
    assert mode(tmp_path / "a") == 0o700
    assert mode(tmp_path / "a" / "b") == 0o700
    assert mode(target) == 0o600
    assert store.read_json(target) == {"x": 1}


def test_modes_are_set_at_creation_without_chmod(
    tmp_path: Path, permissive_umask: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    def no_chmod(*_args: object, **_kwargs: object) -> None:
        raise AssertionError("chmod after creation leaves a window with wider permissions")

    monkeypatch.setattr(os, "chmod", no_chmod)
    monkeypatch.setattr(os, "fchmod", no_chmod)
    target = tmp_path / "d" / "key.pem"
    store.atomic_write(target, b"k")
    assert mode(target) == 0o600
    assert mode(target.parent) == 0o700


def test_replacing_a_world_readable_file_yields_mode_0600(tmp_path: Path) -> None:
    target = tmp_path / "old.txt"
    target.write_bytes(b"old")
    target.chmod(0o644)
    store.atomic_write(target, b"new")
    assert target.read_bytes() == b"new"
    assert mode(target) == 0o600


def test_interrupted_atomic_write_leaves_old_file_intact_and_no_temp_file(tmp_path: Path) -> None:
    target = tmp_path / "allowlist.json"
    store.atomic_write(target, b"old content")
    with pytest.raises(RuntimeError, match="power cut"), store.atomic_writer(target) as handle:
        handle.write(b"new content, half writ")
        raise RuntimeError("power cut")
    assert target.read_bytes() == b"old content"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["allowlist.json"]


def test_interrupted_first_write_creates_nothing(tmp_path: Path) -> None:
    target = tmp_path / "new.json"
    with pytest.raises(KeyboardInterrupt), store.atomic_writer(target) as handle:
        handle.write(b"{")
        raise KeyboardInterrupt
    assert list(tmp_path.iterdir()) == []


def test_failing_fsync_keeps_old_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / "policy.json"
    store.atomic_write(target, b"v1")

    def failing_fsync(_fd: int) -> None:
        raise OSError(5, "I/O error")

    monkeypatch.setattr(os, "fsync", failing_fsync)
    with pytest.raises(OSError):
        store.atomic_write(target, b"v2")
    monkeypatch.undo()
    assert target.read_bytes() == b"v1"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["policy.json"]


@pytest.mark.parametrize("bad_mode", [0o640, 0o604, 0o644, 0o660, 0o620])
def test_private_file_accessible_by_group_or_others_is_refused(tmp_path: Path, bad_mode: int) -> None:
    key = tmp_path / "node.key.pem"
    store.atomic_write(key, b"-----BEGIN PRIVATE KEY-----")
    key.chmod(bad_mode)
    with pytest.raises(InsecurePermissionsError, match="chmod 600"):
        store.read_private(key)


def test_private_file_with_mode_0600_is_read(tmp_path: Path) -> None:
    key = tmp_path / "node.key.pem"
    store.atomic_write(key, b"secret")
    assert store.read_private(key) == b"secret"


def test_private_file_through_symlink_is_refused(tmp_path: Path) -> None:
    key = tmp_path / "real.pem"
    store.atomic_write(key, b"secret")
    link = tmp_path / "link.pem"
    link.symlink_to(key)
    with pytest.raises(StoreError):
        store.read_private(link)


def test_missing_file_is_a_usage_error_naming_it(tmp_path: Path) -> None:
    with pytest.raises(SecureUsageError, match=r"nope\.json"):
        store.read_json(tmp_path / "nope.json")


def test_corrupt_json_is_a_store_error(tmp_path: Path) -> None:
    target = tmp_path / "broken.json"
    store.atomic_write(target, b"{not json")
    with pytest.raises(StoreError, match="not valid JSON"):
        store.read_json(target)


def test_file_stamp_changes_when_file_is_replaced(tmp_path: Path) -> None:
    target = tmp_path / "f"
    assert store.file_stamp(target) is None
    store.atomic_write(target, b"a")
    first = store.file_stamp(target)
    store.atomic_write(target, b"a")
    assert store.file_stamp(target) != first


def test_directory_path_occupied_by_a_file_is_refused(tmp_path: Path) -> None:
    (tmp_path / "f").write_bytes(b"")
    with pytest.raises(StoreError, match="not a directory"):
        store.ensure_private_dir(tmp_path / "f" / "sub")


def test_lock_file_is_private(tmp_path: Path, permissive_umask: None) -> None:
    target = tmp_path / "x.json"
    with store.locked(target):
        pass
    assert mode(tmp_path / "x.json.lock") == 0o600
