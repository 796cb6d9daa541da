"""What Kara wrote, recorded where it wrote it, so ``kara clean`` deletes only that.

A folder Kara creates for itself (a run folder ``<runs_dir>/<experiment>/<variant>``, a
feature cache ``<cache_dir>/<transform>-<key>``) is *claimed* before anything is written
into it: :func:`claim` writes the marker ``.kara-owned.json`` (atomically: what kind of
folder it is, which command created it, when, with which Kara) and registers the folder in
this process. From then on every file Kara writes under it is appended to the folder's
journal ``.kara-owned.files``, one line per write: the path relative to the folder, its
size and its mtime in nanoseconds. Atomic writes (:mod:`kara_core.storage.atomic`) record
themselves; whole folders written by a component (a checkpoint, an exported model, the
TensorBoard logs) are recorded with :func:`record_tree` once they are in place.

``kara clean`` (:mod:`kara_core.pipeline.housekeeping`) deletes a file only when the journal
names it and it is still a regular file of the recorded size and mtime, so a file the user
put there, or replaced, or a symbolic link, is never deleted. The journal is appended to,
never rewritten: a process killed mid-line leaves a torn last line, which is ignored (the
file it named is then left behind, never deleted wrongly).
"""

from __future__ import annotations

import contextlib
import datetime
import json
import os
import stat
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kara_core.storage import atomic

MARKER = ".kara-owned.json"
JOURNAL = ".kara-owned.files"
FORMAT = "kara-owned"
KINDS = ("run", "cache")
BOOKKEEPING = (MARKER, JOURNAL)

_claims: dict[str, str] = {}  # absolute folder -> kind, for this process


def _absolute(path: Path | str) -> str:
    return os.path.abspath(os.fspath(path))


def read_marker(folder: Path) -> dict[str, Any] | None:
    """The marker of ``folder`` when it is a regular file holding a Kara marker (never
    followed through a symbolic link), else ``None``."""
    path = folder / MARKER
    try:
        if not stat.S_ISREG(os.lstat(path).st_mode):
            return None
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
        with os.fdopen(fd, "rb") as handle:
            data = json.loads(handle.read(1 << 16).decode("utf-8"))
    except (OSError, ValueError, RecursionError):
        return None
    if not isinstance(data, dict) or data.get("format") != FORMAT or \
            data.get("kind") not in KINDS:
        return None
    return data


def claim(folder: Path, kind: str, purpose: str) -> None:
    """Mark ``folder`` as Kara's ``kind`` folder (``run`` or ``cache``) and record every
    file this process writes under it from now on.

    :param purpose: the command that creates it (``kara run base``), kept in the marker.

    A folder that already holds files but no marker (written by an older Kara, which
    recorded nothing) is marked ``adopted``: the files it held before stay unrecorded, and
    ``kara clean`` leaves them.
    """
    if kind not in KINDS:
        raise ValueError(f"unknown kind of folder: {kind}")
    key = _absolute(folder)
    if _claims.get(key) == kind:
        return
    existing = read_marker(folder)
    if existing is None or existing.get("kind") != kind:
        try:
            had_files = any(p.name not in BOOKKEEPING for p in folder.iterdir())
        except OSError:
            had_files = False
        atomic.write_json(folder / MARKER, {
            "format": FORMAT, "version": 1, "kind": kind, "created_by": purpose,
            "kara": _kara_version(),
            "created": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
            "adopted": had_files,
            "journal": JOURNAL,
        })
    _claims[key] = kind


def _kara_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("kara")
    except PackageNotFoundError:
        return "unknown"


def _owner_of(path: str) -> str | None:
    """The claimed folder ``path`` lies under (the deepest), or ``None``."""
    best: str | None = None
    for root in _claims:
        if path.startswith(root + os.sep) and (best is None or len(root) > len(best)):
            best = root
    return best


def note_written(path: Path | str) -> None:
    """Record ``path`` (just written by Kara) in the journal of the claimed folder it lies
    in; nothing when it lies in none. The journal is opened without following links."""
    if not _claims:
        return
    absolute = _absolute(path)
    root = _owner_of(absolute)
    if root is None:
        return
    lines = []
    for file in _regular_files(Path(absolute)):
        try:
            st = os.lstat(file)
        except OSError:
            continue
        relative = os.path.relpath(file, root)
        lines.append(json.dumps([relative, st.st_size, st.st_mtime_ns]) + "\n")
    if lines:
        _append(Path(root) / JOURNAL, "".join(lines))


def record_tree(folder: Path) -> None:
    """Record every regular file under ``folder`` (written there by a component: a
    checkpoint, an exported model, TensorBoard logs); symbolic links are not followed."""
    note_written(folder)


def _regular_files(path: Path) -> Iterator[str]:
    try:
        mode = os.lstat(path).st_mode
    except OSError:
        return
    if stat.S_ISREG(mode):
        yield os.fspath(path)
    elif stat.S_ISDIR(mode):
        for top, _dirs, files in os.walk(path):  # os.walk never follows links by default
            for name in files:
                full = os.path.join(top, name)
                with contextlib.suppress(OSError):
                    if stat.S_ISREG(os.lstat(full).st_mode):
                        yield full


def _append(journal: Path, text: str) -> None:
    """Append ``text`` in one write (``O_APPEND``: lines of concurrent writers never
    interleave); a journal that cannot be written leaves its files unproven, never
    deleted, so a failure here is not an error of the stage."""
    try:
        fd = os.open(journal, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_NOFOLLOW, 0o666)
    except OSError:
        return
    try:
        os.write(fd, text.encode("utf-8", "surrogateescape"))
    except OSError:
        return
    finally:
        os.close(fd)


@dataclass(frozen=True)
class Recorded:
    """A file the journal names: where, and the size and mtime Kara left it with."""

    path: Path
    size: int
    mtime_ns: int


def recorded_files(folder: Path) -> dict[str, Recorded]:
    """The files the journal of ``folder`` names, the latest line of each path winning;
    torn or foreign lines and paths leaving the folder are ignored."""
    found: dict[str, Recorded] = {}
    journal = folder / JOURNAL
    try:
        if not stat.S_ISREG(os.lstat(journal).st_mode):
            return found
        fd = os.open(journal, os.O_RDONLY | os.O_NOFOLLOW)
        with os.fdopen(fd, "rb") as handle:
            text = handle.read().decode("utf-8", "surrogateescape")
    except OSError:
        return found
    for line in text.splitlines():
        try:
            relative, size, mtime = json.loads(line)
        except (ValueError, TypeError):
            continue
        if not isinstance(relative, str) or not isinstance(size, int) or \
                not isinstance(mtime, int):
            continue
        parts = Path(relative).parts
        if not parts or Path(relative).is_absolute() or ".." in parts or \
                parts[0] in BOOKKEEPING:
            continue
        found[relative] = Recorded(folder / relative, size, mtime)
    return found


def still_as_written(folder: Path, item: Recorded) -> bool:
    """Whether ``item`` is still the regular file Kara wrote (size and mtime as recorded),
    reached without passing through a symbolic link below ``folder``."""
    current = folder
    for part in Path(os.path.relpath(item.path, folder)).parts[:-1]:
        current = current / part
        try:
            if not stat.S_ISDIR(os.lstat(current).st_mode):
                return False
        except OSError:
            return False
    try:
        st = os.lstat(item.path)
    except OSError:
        return False
    return stat.S_ISREG(st.st_mode) and st.st_size == item.size and \
        st.st_mtime_ns == item.mtime_ns


atomic.WRITTEN.append(note_written)
