"""Where Kara's output folders may lie: never inside the music folder, never around it.

``wav_dir``, ``cache_dir`` and the run folders (``<runs_dir>/<name>/<variant>``) inside
``mp3_dir`` would put Kara's files among the user's songs (the next run would take a
``generated.mp3`` for a song); a folder containing ``mp3_dir`` would have Kara's cleaning
walk through the music. Both are refused, as is a file standing where a folder is needed.
Paths are compared once resolved, so a symbolic link cannot hide either case.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Sequence
from pathlib import Path


class LayoutError(ValueError):
    """A folder of the config is misplaced: ``key`` names it, ``message`` says why."""

    def __init__(self, key: str, message: str) -> None:
        super().__init__(f"{key}: {message}")
        self.key, self.message = key, message


def resolved(folder: Path, key: str) -> Path:
    """``folder`` with every symbolic link followed; :class:`LayoutError` on a link loop."""
    try:
        return folder.resolve()
    except (OSError, RuntimeError) as exc:
        raise LayoutError(key, f"{folder} cannot be resolved ({exc})") from None


def inside(path: Path, folder: Path) -> bool:
    """Whether ``path`` is ``folder`` or lies below it, links followed."""
    try:
        return path.resolve().is_relative_to(folder.resolve())
    except (OSError, RuntimeError):
        return False


def check_outputs(mp3_dir: Path, outputs: Sequence[tuple[str, Path]]) -> None:
    """:class:`LayoutError` for the first of ``outputs`` (``(key, folder)``) that lies
    inside ``mp3_dir``, contains it, or cannot be a folder."""
    music = resolved(mp3_dir, "dataset.mp3_dir")
    for key, folder in outputs:
        where = resolved(folder, key)
        if where == music or where.is_relative_to(music) or music.is_relative_to(where):
            raise LayoutError(
                key, f"{folder} and dataset.mp3_dir ({mp3_dir}) must not contain each other: "
                "Kara never writes into the mp3 folder; put its output beside it",
            )
    for key, folder in (("dataset.mp3_dir", mp3_dir), *outputs):
        blocker = file_in_the_way(folder)
        if blocker is not None:
            raise LayoutError(key, f"{folder} cannot be a folder: {blocker} is a file")


def file_in_the_way(folder: Path) -> Path | None:
    """The nearest existing path at or above ``folder`` when it is not a folder."""
    for candidate in (folder, *folder.parents):
        try:
            mode = os.stat(candidate).st_mode
        except (FileNotFoundError, NotADirectoryError):
            continue
        except OSError:
            return None  # unreadable or too long: the stage that writes there says why
        return None if stat.S_ISDIR(mode) else candidate
    return None


def check_not_broad(outputs: Sequence[tuple[str, Path]]) -> None:
    """:class:`LayoutError` for the first of ``outputs`` (``(key, folder)``) that is ``/``,
    the user's home folder, or a folder holding it: Kara fills these folders and ``kara
    clean`` deletes in them, so they must be Kara's own (``~/kara-runs``, not ``~``)."""
    home = _home()
    for key, folder in outputs:
        where = resolved(folder, key)
        if where == Path(where.anchor):
            what = "the root of the file system"
        elif home is not None and (where == home or home.is_relative_to(where)):
            what = "your home folder" if where == home else f"a folder holding your home ({home})"
        else:
            continue
        raise LayoutError(
            key, f"{folder} is {what}: Kara writes its wavs, caches and runs into folders of "
            "their own and 'kara clean' removes old ones there; name a folder for Kara alone "
            f"(e.g. {Path(folder) / 'kara'})",
        )


def _home() -> Path | None:
    try:
        return Path.home().resolve()
    except (RuntimeError, OSError, KeyError):
        return None


def foreign_entries(kind: str, folder: Path, limit: int = 3) -> tuple[int, list[str]]:
    """``(count, first names)`` of what ``folder`` holds that Kara did not write there, by
    ``kind``: ``runs`` (run folders carrying Kara's marker, two levels down, beside the
    experiment pages), ``cache`` (cache folders carrying the marker, and Kara's wav hashes)
    or ``wav`` (the WAVs and manifest of a prepared dataset). Folders an older Kara wrote,
    before it recorded what it writes, count too: ``kara clean`` cannot prove them Kara's."""
    from kara_core.storage.owned import read_marker

    found: list[str] = []
    kara_files = {".kara.lock", ".kara.use", ".kara-owned.json", ".kara-owned.files"}

    def entries(at: Path) -> list[os.DirEntry[str]]:
        try:
            with os.scandir(at) as listing:
                return sorted(listing, key=lambda e: e.name)
        except OSError:
            return []

    def kara_temp(name: str) -> bool:
        return name.startswith(".kara-tmp-") or name in kara_files

    if kind == "runs":
        for experiment in entries(folder):
            if kara_temp(experiment.name):
                continue
            if not experiment.is_dir(follow_symlinks=False):
                found.append(experiment.name)
                continue
            for run in entries(Path(experiment.path)):
                if run.is_dir(follow_symlinks=False):
                    if read_marker(Path(run.path)) is None:
                        found.append(f"{experiment.name}/{run.name}")
                elif not (kara_temp(run.name) or run.name.endswith(".html")):
                    found.append(f"{experiment.name}/{run.name}")
    elif kind == "cache":
        for entry in entries(folder):
            if kara_temp(entry.name) or entry.name == "wav-hashes.json":
                continue
            if not (entry.is_dir(follow_symlinks=False)
                    and read_marker(Path(entry.path)) is not None):
                found.append(entry.name)
    else:
        found = _foreign_wavs(folder, kara_files)
    return len(found), found[:limit]


def _foreign_wavs(folder: Path, kara_files: set[str]) -> list[str]:
    import json

    if not folder.is_dir():
        return []
    try:
        data = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
        files = data.get("files") if isinstance(data, dict) else None
        listed = {str(f.get("wav")) for f in files or [] if isinstance(f, dict) and f.get("wav")}
    except (OSError, ValueError, AttributeError, RecursionError):
        listed = set()
    found = []
    for top, dirs, files in os.walk(folder):
        dirs.sort()
        for name in sorted(files):
            relative = os.path.relpath(os.path.join(top, name), folder)
            if relative == "manifest.json" or name in kara_files or \
                    name.startswith(".kara-tmp-") or Path(relative).as_posix() in listed:
                continue
            found.append(Path(relative).as_posix())
    return found
