"""Folder locks, so two Kara processes never interleave writes to one dataset or run.

A lock is ``fcntl.flock`` on ``<folder>/.kara.lock``. The kernel drops it when its process
dies, so a lock left by a killed run is stale by construction and the next run takes it
over; the file only carries the holder's pid and command for the waiting message. A second
process waits, saying who holds the lock, and gives up with a one-line error after
``KARA_LOCK_TIMEOUT`` seconds (default: wait as long as it takes; Ctrl-C stops waiting).
On a read-only folder the lock file is opened for reading (``flock`` needs no write), and
on a read-only file system without one no lock is needed: nobody can write there.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import os
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from kara_core.errors import KaraError

LOCK_NAME = ".kara.lock"
POLL_SECONDS = 0.25
_held: dict[Path, int] = {}  # folders this process holds, with nesting depth


def _holder(path: Path) -> str:
    try:
        info = json.loads(path.read_text(encoding="utf-8") or "{}")
    except (OSError, json.JSONDecodeError):
        return "another kara process"
    return f"pid {info.get('pid', '?')} ({info.get('command', 'kara')})"


def _timeout() -> float | None:
    raw = os.environ.get("KARA_LOCK_TIMEOUT")
    if not raw:
        return None
    try:
        return max(0.0, float(raw))
    except ValueError:
        raise KaraError(f"KARA_LOCK_TIMEOUT: expected seconds, got {raw!r}") from None


@contextlib.contextmanager
def folder_lock(folder: Path, purpose: str) -> Iterator[None]:
    """Hold the lock of ``folder`` for the duration of the block.

    :param purpose: what this process does there, shown to a process that has to wait.

    Re-entrant within one process: ``kara run`` holds a run folder while the training and
    generation stages it calls take the same lock again.
    """
    key = folder.resolve()
    if _held.get(key):
        _held[key] += 1
        try:
            yield
        finally:
            _held[key] -= 1
        return
    try:
        folder.mkdir(parents=True, exist_ok=True)
        handle = os.fdopen(_open_no_follow(folder / LOCK_NAME, os.O_RDWR | os.O_CREAT),
                           "a+", encoding="utf-8")  # never written through a planted link
        writable = True
    except OSError as exc:
        handle = _read_only_handle(folder, exc)
        writable = False
        if handle is None:  # a read-only file system: no writer can race this process
            _held[key] = 1
            try:
                yield
            finally:
                _held.pop(key, None)
            return
    try:
        _acquire(handle, folder, purpose)
        if writable:
            handle.seek(0)
            handle.truncate()
            handle.write(json.dumps({"pid": os.getpid(), "command": purpose}))
            handle.flush()
        _held[key] = 1
        try:
            yield
        finally:
            _held.pop(key, None)
    finally:
        handle.close()  # closing releases the flock


def _read_only_handle(folder: Path, error: OSError) -> Any:
    """The lock file opened for reading (``flock`` works on it) when it cannot be opened
    for writing; ``None`` on a read-only file system without one. Any other failure is the
    one-line :class:`KaraError`."""
    if error.errno == errno.ELOOP:
        raise KaraError(f"{folder / LOCK_NAME}: cannot create lock file (it is a symbolic "
                        "link, which Kara never writes through; remove it)") from error
    try:
        return os.fdopen(_open_no_follow(folder / LOCK_NAME, os.O_RDONLY), encoding="utf-8")
    except OSError:
        if error.errno == errno.EROFS and folder.is_dir():
            return None
        raise KaraError(
            f"{folder}: cannot create lock file ({error.strerror or error})"
        ) from error


def _locked_now(fd: int) -> bool:
    """Take the lock if nobody holds it; False (without waiting) when somebody does."""
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    return True


def _acquire(handle: object, folder: Path, purpose: str) -> None:
    fd = handle.fileno()  # type: ignore[attr-defined]
    deadline_after = _timeout()
    started = time.monotonic()
    told = False
    while True:
        if _locked_now(fd):
            return
        holder = _holder(folder / LOCK_NAME)
        waited = time.monotonic() - started
        if deadline_after is not None and waited >= deadline_after:
            raise KaraError(
                f"{folder}: in use by {holder}; try again when it has finished"
            )
        if not told:
            print(f"waiting: {folder} is in use by {holder} ...", file=sys.stderr, flush=True)
            told = True
        time.sleep(POLL_SECONDS)


USE_NAME = ".kara.use"
"""The lock a process holds, shared, on every folder it reads from (a feature cache, a
wav folder) while it runs: ``kara clean`` and prepare's removal of the wavs of deleted mp3s
take it exclusively, without waiting, and leave the folder alone when they cannot."""


def _open_no_follow(path: Path, flags: int) -> int:
    """``os.open`` that refuses to pass through a symbolic link at ``path`` itself (its
    folder has been checked by the caller)."""
    return os.open(path, flags | os.O_NOFOLLOW | os.O_CLOEXEC, 0o666)


def _shared(folder: Path) -> int | None:
    """A descriptor of ``folder``'s ``.kara.use`` holding a shared lock (``None`` when a
    read-only folder cannot hold the file: nobody can delete there either)."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
        fd = _open_no_follow(folder / USE_NAME, os.O_RDWR | os.O_CREAT)
    except OSError:
        try:
            fd = _open_no_follow(folder / USE_NAME, os.O_RDONLY)
        except OSError:
            return None
    fcntl.flock(fd, fcntl.LOCK_SH)  # waits only while a clean removes the folder
    return fd


@contextlib.contextmanager
def in_use(folder: Path) -> Iterator[None]:
    """Hold a shared lock on ``folder`` (``.kara.use``) while the block reads from it, so
    no ``kara clean`` and no prepare deletes what this process reads. Many readers share
    it."""
    fd = _shared(folder)
    try:
        yield
    finally:
        if fd is not None:
            os.close(fd)  # closing releases the flock


_held_in_use: dict[str, int | None] = {}


def hold_in_use(folder: Path) -> None:
    """Hold ``folder``'s shared lock (:func:`in_use`) until :func:`release_in_use` or the
    end of the process: what a command prepared or featurized, it reads until it exits."""
    key = os.path.abspath(folder)
    if key not in _held_in_use:
        _held_in_use[key] = _shared(folder)


def release_in_use() -> None:
    """Release every lock :func:`hold_in_use` took (the command has finished)."""
    while _held_in_use:
        _key, fd = _held_in_use.popitem()
        if fd is not None:
            os.close(fd)


@contextlib.contextmanager
def exclusive_now(
    folder: Path, *names: str, through_link: bool = False
) -> Iterator[str | None]:
    """Take the lock files ``names`` of ``folder`` exclusively without waiting (never
    through a symbolic link unless ``through_link``, for a folder the config names, nor
    creating a lock file through one): yields ``None`` while held, else who holds one
    (``pid 12 (kara run base)``, or ``a running kara process that reads it`` for a shared
    reader)."""
    if (os.path.islink(folder) and not through_link) or not folder.is_dir():
        yield "nobody: it is not a folder (a symbolic link?)"
        return
    fds: list[int] = []
    try:
        for name in names:
            try:
                fd = _open_no_follow(folder / name, os.O_RDWR | os.O_CREAT)
            except OSError as exc:
                yield f"nobody: its lock {folder / name} cannot be opened ({exc.strerror})"
                return
            fds.append(fd)
            if not _locked_now(fd):
                yield (_holder(folder / name) if name == LOCK_NAME
                       else "a running kara process that reads it")
                return
        yield None
    finally:
        for fd in fds:
            os.close(fd)
