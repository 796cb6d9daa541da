"""``kara clean``: the feature caches and run folders that no given config uses any more.

Caches are keyed by a transform's type, options and rate, and run folders by experiment
and variant, so editing kara.yaml leaves the old ones behind (a 10-hour collection's STFT
cache is several GB). What counts is proof, never a name: a folder is a candidate only when
it carries Kara's marker (:mod:`kara_core.storage.owned`) of the right kind, and within it
only the files Kara's journal names, still of the size and mtime Kara left them with, are
deleted, plus Kara's own lock files and the temporary files of its killed writes. Anything
else (a user's file, a replaced file, a symbolic link) is left, and so is the folder
holding it, with one line saying so. Symbolic links are never followed: a linked folder is
never entered, a lock is never created through one.

A folder a running Kara process uses is left and named: a training or featurize holds its
``.kara.lock``, and every ``kara run``, ``train`` or ``generate`` holds ``.kara.use``
(shared) on the caches it reads (:func:`kara_core.storage.locks.in_use`).

Folders that look like Kara's but carry no marker (written by a Kara older than the marker,
or not by Kara at all) are listed as *unproven* and never deleted: their owner deletes them
by hand once sure.
"""

from __future__ import annotations

import os
import re
import stat
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from kara_core.config import ExperimentConfig
from kara_core.pipeline.parts import transform_key
from kara_core.storage import owned
from kara_core.storage.atomic import TEMP_MARK
from kara_core.storage.locks import LOCK_NAME, USE_NAME, exclusive_now

CACHE_NAME = re.compile(r"[A-Za-z0-9_.-]+-[0-9a-f]{16}")
RUN_RECORDS = ("metrics.json", "config.resolved.yaml", "checkpoints")
LOCKS = (LOCK_NAME, USE_NAME)


@dataclass(frozen=True)
class Unused:
    """A folder no given config uses: what it is, where, how many bytes it holds, and
    whether Kara can prove it wrote it (``proven``; else it is only listed)."""

    kind: str  # "cache" or "run"
    path: Path
    bytes: int
    proven: bool = True


@dataclass
class Removal:
    """What removing one folder did: who held it (then nothing was removed), and the files
    left because Kara did not write them (or they changed since)."""

    holder: str | None = None
    left: list[Path] = field(default_factory=list)
    removed_files: int = 0

    @property
    def whole(self) -> bool:
        """Whether the folder is gone."""
        return self.holder is None and not self.left


def folder_bytes(folder: Path) -> int:
    """Bytes of every file under ``folder`` (files that vanish meanwhile count 0; links
    are not followed)."""
    total = 0
    for root, _dirs, files in os.walk(folder):
        for name in files:
            try:
                total += os.lstat(os.path.join(root, name)).st_size
            except OSError:
                continue
    return total


def _real_dirs(folder: Path) -> list[Path]:
    """Sub-folders of ``folder`` that are folders themselves, not links to one."""
    try:
        with os.scandir(folder) as entries:
            return sorted(Path(e.path) for e in entries if e.is_dir(follow_symlinks=False))
    except OSError:
        return []


def _looks_like_run(folder: Path) -> bool:
    return any(os.path.lexists(folder / name) for name in RUN_RECORDS)


def unused_outputs(experiments: Sequence[ExperimentConfig]) -> list[Unused]:
    """Caches and run folders under the given configs' ``cache_dir`` and ``runs_dir`` that
    none of their variants uses, largest first. Only folders carrying Kara's marker are
    ``proven``; look-alikes without one (older Kara, or the user's) are listed unproven."""
    caches_used: dict[Path, set[str]] = {}
    runs_used: dict[Path, set[Path]] = {}
    for experiment in experiments:
        for variant in experiment.variants:
            cache_dir = variant.dataset.cache_dir.absolute()
            caches_used.setdefault(cache_dir, set()).add(transform_key(variant))
            runs_used.setdefault(variant.runs_dir.absolute(), set()).add(
                variant.run_dir.absolute())
    found: list[Unused] = []
    for cache_dir, keys in caches_used.items():
        if not cache_dir.is_dir():  # the configured folder may be a link; nothing inside is
            continue
        for entry in _real_dirs(cache_dir):
            if entry.name in keys:
                continue
            marker = owned.read_marker(entry)
            if marker is not None and marker.get("kind") == "cache":
                found.append(Unused("cache", entry, folder_bytes(entry)))
            elif CACHE_NAME.fullmatch(entry.name):
                found.append(Unused("cache", entry, folder_bytes(entry), proven=False))
    for runs_dir, used in runs_used.items():
        if not runs_dir.is_dir():
            continue
        for experiment_dir in _real_dirs(runs_dir):
            for run in _real_dirs(experiment_dir):
                if run in used:
                    continue
                marker = owned.read_marker(run)
                if marker is not None and marker.get("kind") == "run":
                    found.append(Unused("run", run, folder_bytes(run)))
                elif _looks_like_run(run):
                    found.append(Unused("run", run, folder_bytes(run), proven=False))
    return sorted(found, key=lambda u: (not u.proven, -u.bytes))


def remove(unused: Unused) -> Removal:
    """Delete what Kara wrote in ``unused`` (see the module's docstring), unless another
    Kara process holds or reads it; an unproven folder is never touched."""
    if not unused.proven:
        return Removal(left=[unused.path])
    folder = unused.path
    with exclusive_now(folder, LOCK_NAME, USE_NAME) as holder:
        if holder is not None:
            return Removal(holder=holder)
        marker = owned.read_marker(folder)
        if marker is None or marker.get("kind") != unused.kind:  # changed since listed
            return Removal(left=[folder])
        done = Removal()
        for item in owned.recorded_files(folder).values():
            if owned.still_as_written(folder, item):
                try:
                    os.unlink(item.path)
                    done.removed_files += 1
                except OSError:
                    continue
        _remove_own_leftovers(folder)
        _remove_empty_folders(folder)
        done.left = _left_over(folder)
        if not done.left:
            for name in (*owned.BOOKKEEPING, *LOCKS):
                _unlink_regular(folder / name)
    if not done.left:
        try:
            folder.rmdir()
        except OSError:  # something appeared meanwhile: it stays, and so does the folder
            done.left = _left_over(folder) or [folder]
    return done


def _unlink_regular(path: Path) -> None:
    try:
        if stat.S_ISREG(os.lstat(path).st_mode):
            os.unlink(path)
    except OSError:
        return


def _remove_own_leftovers(folder: Path) -> None:
    """The temporary files of Kara's killed writes (``.kara-tmp-``: a name no one else
    uses), and the lock files of sub-folders Kara locked (checkpoints)."""
    for top, dirs, files in os.walk(folder):
        for name in files:
            path = Path(top) / name
            if name.startswith(TEMP_MARK) or (name in LOCKS and Path(top) != folder):
                _unlink_regular(path)
        dirs[:] = [d for d in dirs if not os.path.islink(os.path.join(top, d))]


def _remove_empty_folders(folder: Path) -> None:
    for top, _dirs, _files in os.walk(folder, topdown=False):
        if Path(top) != folder:
            try:
                os.rmdir(top)  # only an empty folder goes; anything inside keeps it
            except OSError:
                continue


def _left_over(folder: Path) -> list[Path]:
    """Everything still in ``folder`` that is not Kara's bookkeeping."""
    left: list[Path] = []
    for top, dirs, files in os.walk(folder):
        for name in sorted(files + [d for d in dirs if os.path.islink(os.path.join(top, d))]):
            if Path(top) == folder and name in (*owned.BOOKKEEPING, *LOCKS):
                continue
            left.append(Path(top) / name)
    return left

