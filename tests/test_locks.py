"""Two processes on one folder: the second waits or stops; a dead holder's lock is taken."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest

from kara_core.errors import KaraError
from kara_core.storage.locks import LOCK_NAME, folder_lock

HOLDER = """
import sys, time
from pathlib import Path
from kara_core.storage.locks import folder_lock
with folder_lock(Path(sys.argv[1]), "kara test-holder"):
    print("locked", flush=True)
    time.sleep(60)
"""


def start_holder(folder):
    proc = subprocess.Popen([sys.executable, "-c", HOLDER, str(folder)], stdout=subprocess.PIPE,
                            text=True)
    assert proc.stdout is not None
    assert proc.stdout.readline().strip() == "locked"
    return proc


def test_second_process_stops_with_a_message_naming_the_holder(tmp_path, monkeypatch):
    holder = start_holder(tmp_path)
    try:
        monkeypatch.setenv("KARA_LOCK_TIMEOUT", "0.5")
        with pytest.raises(KaraError) as info, folder_lock(tmp_path, "kara prepare"):
            pass
        assert f"pid {holder.pid} (kara test-holder)" in str(info.value)
        assert str(tmp_path) in str(info.value)
    finally:
        holder.kill()
        holder.wait()


def test_lock_of_a_killed_process_is_taken_over(tmp_path, monkeypatch):
    holder = start_holder(tmp_path)
    os.kill(holder.pid, signal.SIGKILL)
    holder.wait()
    assert (tmp_path / LOCK_NAME).exists()  # the stale file is still there
    monkeypatch.setenv("KARA_LOCK_TIMEOUT", "2")
    with folder_lock(tmp_path, "kara train"):
        assert f'"pid": {os.getpid()}' in (tmp_path / LOCK_NAME).read_text()


def test_second_process_waits_then_proceeds_when_the_first_ends(tmp_path, monkeypatch):
    holder = start_holder(tmp_path)
    monkeypatch.delenv("KARA_LOCK_TIMEOUT", raising=False)
    started = time.monotonic()

    def release_soon():
        time.sleep(0.7)
        holder.terminate()

    import threading

    threading.Thread(target=release_soon).start()
    with folder_lock(tmp_path, "kara run"):
        assert time.monotonic() - started >= 0.5
    holder.wait()


def test_a_lock_is_never_written_through_a_planted_link(tmp_path):
    """Issue 22, 3: a ``.kara.lock`` that is a symbolic link to a user's file is not
    written through (the file keeps its bytes); the folder cannot be locked, in one line."""
    folder = tmp_path / "run"
    folder.mkdir()
    mine = tmp_path / "thesis.txt"
    mine.write_text("chapter one\n")
    os.symlink(mine, folder / LOCK_NAME)
    with pytest.raises(KaraError) as info, folder_lock(folder, "kara test"):
        pass
    assert "cannot create lock file" in str(info.value) and "\n" not in str(info.value)
    assert mine.read_text() == "chapter one\n"
