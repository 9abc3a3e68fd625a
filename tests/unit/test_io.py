"""Atomic files and directories: a failure at any moment leaves a complete old or new copy."""

from __future__ import annotations

import os

import pytest

from whet.io.atomic import atomic_directory, existing_directory, write_json_atomic, write_text_atomic


def test_write_text_atomic_replaces_whole_file(tmp_path):
    target = tmp_path / "a.txt"
    write_text_atomic(target, "old")
    write_text_atomic(target, "new")
    assert target.read_text() == "new"
    assert oct(target.stat().st_mode & 0o777) == oct(0o644)
    assert os.listdir(tmp_path) == ["a.txt"]


def test_failed_json_write_keeps_the_old_file(tmp_path):
    target = tmp_path / "a.json"
    write_json_atomic(target, {"x": 1})
    with pytest.raises(TypeError):
        write_json_atomic(target, {"x": object()})
    assert target.read_text().strip() == '{\n  "x": 1\n}'
    assert os.listdir(tmp_path) == ["a.json"]


def test_failure_inside_atomic_directory_keeps_the_previous_one(tmp_path):
    target = tmp_path / "ckpt"
    with atomic_directory(target) as tmp:
        (tmp / "weights").write_text("v1")
    with pytest.raises(RuntimeError):
        with atomic_directory(target) as tmp:
            (tmp / "weights").write_text("half")
            raise RuntimeError("killed")
    assert (target / "weights").read_text() == "v1"
    assert sorted(os.listdir(tmp_path)) == ["ckpt"]


def test_interrupted_swap_is_recovered_from_the_old_copy(tmp_path):
    target = tmp_path / "ckpt"
    with atomic_directory(target) as tmp:
        (tmp / "weights").write_text("v1")
    # The moment between moving the old copy aside and renaming the new one into place:
    os.replace(target, tmp_path / "ckpt.old")
    found = existing_directory(target)
    assert found == tmp_path / "ckpt.old" and (found / "weights").read_text() == "v1"
    with atomic_directory(target) as tmp:
        (tmp / "weights").write_text("v2")
    assert (target / "weights").read_text() == "v2" and not (tmp_path / "ckpt.old").exists()


def test_existing_directory_is_none_when_nothing_was_written(tmp_path):
    assert existing_directory(tmp_path / "missing") is None
