"""Atomic writes: a failing write names the path and cause, leaves no temp file and never
damages what was there before."""

from __future__ import annotations

import errno
import json
import os

import pytest

from kara_core.errors import KaraError
from kara_core.storage import atomic


def test_write_json_replaces_the_file_whole(tmp_path):
    target = tmp_path / "sub" / "metrics.json"
    atomic.write_json(target, {"a": 1})
    atomic.write_json(target, {"a": 2})
    assert json.loads(target.read_text()) == {"a": 2}
    assert [p.name for p in target.parent.iterdir()] == ["metrics.json"]


@pytest.mark.parametrize(
    ("code", "cause"),
    [(errno.ENOSPC, "No space left on device"), (errno.EACCES, "Permission denied"),
     (errno.EROFS, "Read-only file system")],
)
def test_failing_write_keeps_the_old_file_and_says_why(tmp_path, monkeypatch, code, cause):
    target = tmp_path / "metrics.json"
    atomic.write_json(target, {"kept": True})

    def fail(*_args, **_kwargs):
        raise OSError(code, os.strerror(code))

    monkeypatch.setattr(atomic, "_fsync_file", fail)
    with pytest.raises(KaraError) as info:
        atomic.write_json(target, {"kept": False})
    assert str(info.value) == f"{target}: cannot write ({cause})"
    assert json.loads(target.read_text()) == {"kept": True}
    assert [p.name for p in tmp_path.iterdir()] == ["metrics.json"]


def test_an_interrupted_writer_leaves_nothing_behind(tmp_path):
    target = tmp_path / "weights.bin"
    with pytest.raises(KeyboardInterrupt), atomic.atomic_path(target) as tmp:
        tmp.write_bytes(b"half")
        raise KeyboardInterrupt
    assert list(tmp_path.iterdir()) == []


def test_folder_that_cannot_be_created_is_one_line(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(KaraError, match=r"cannot write"):
        atomic.write_text(blocker / "child" / "out.txt", "data")


def test_stale_temps_from_killed_runs_are_cleaned(tmp_path):
    (tmp_path / "a").mkdir()
    stale = tmp_path / "a" / (atomic.TEMP_MARK + "song.wav.123.wav")
    stale.write_bytes(b"partial")
    keep = tmp_path / "a" / "song.wav"
    keep.write_bytes(b"whole")
    assert atomic.clean_stale_temps(tmp_path) == 1
    assert not stale.exists() and keep.exists()
