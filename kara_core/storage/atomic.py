"""Atomic file writes: a temp file in the destination folder, fsync, then rename.

A killed run therefore never leaves a half-written file under a name a later run trusts:
either the old content or the new one is there, plus at worst a ``.tmp`` file that
:func:`clean_stale_temps` removes.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from kara_core.errors import KaraError
from kara_core.storage.faults import fault_point

TEMP_MARK = ".kara-tmp-"


@contextlib.contextmanager
def atomic_path(dest: Path | str, suffix: str = "") -> Iterator[Path]:
    """Yield a temporary path beside ``dest``; rename it over ``dest`` if the block succeeds.

    ``suffix`` keeps the extension for writers that infer the format from it (soundfile,
    numpy, matplotlib). On any error the temporary file is removed and ``dest`` is untouched.
    """
    dest = Path(dest)
    try:
        dest.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(
            prefix=TEMP_MARK + dest.name + ".", suffix=suffix or dest.suffix, dir=dest.parent
        )
    except OSError as exc:
        raise KaraError(f"{dest}: cannot write ({exc.strerror or exc})") from exc
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        yield tmp
        _fsync_file(tmp)
        fault_point("atomic.before_rename")
        fault_point(f"write:{dest.name}")
        os.replace(tmp, dest)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise KaraError(f"{dest}: cannot write ({exc.strerror or exc})") from exc
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def _fsync_file(path: Path) -> None:
    with open(path, "rb") as handle:
        os.fsync(handle.fileno())


def write_bytes(dest: Path | str, data: bytes) -> None:
    """Write ``data`` to ``dest`` atomically."""
    with atomic_path(dest) as tmp:
        tmp.write_bytes(data)


def write_text(dest: Path | str, text: str) -> None:
    """Write UTF-8 ``text`` to ``dest`` atomically."""
    write_bytes(dest, text.encode("utf-8"))


def write_json(dest: Path | str, data: Any) -> None:
    """Write ``data`` as indented JSON atomically."""
    write_text(dest, json.dumps(data, indent=2, sort_keys=False, default=str) + "\n")


def write_with(dest: Path | str, writer: Callable[[Path], None], suffix: str = "") -> None:
    """Call ``writer(tmp_path)`` and move the result over ``dest`` atomically."""
    with atomic_path(dest, suffix=suffix) as tmp:
        writer(tmp)


def clean_stale_temps(folder: Path) -> int:
    """Remove temporary files left by killed runs under ``folder``; return how many."""
    removed = 0
    if not folder.is_dir():
        return 0
    for path in folder.rglob(TEMP_MARK + "*"):
        if path.is_file():
            path.unlink(missing_ok=True)
            removed += 1
    return removed
