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
