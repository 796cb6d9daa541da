"""Atomic file writes: a temp file in the destination folder, fsync, then rename.

A killed run therefore never leaves a half-written file under a name a later run trusts:
either the old content or the new one is there, plus at worst a ``.tmp`` file that
:func:`clean_stale_temps` removes.

Files get the mode any program gets from the user's umask (``0644`` under umask 022),
not ``mkstemp``'s ``0600``: run folders are meant to be shared and served. A failure to
write is a :class:`WriteError`, one line naming the file and the cause: callers tell it
from a problem with the data they read (a bad song is skipped, a full disk stops the stage).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from kara_core.errors import KaraError
from kara_core.storage.faults import fault_point

TEMP_MARK = ".kara-tmp-"
WRITTEN: list[Callable[[Path], None]] = []
"""Called with each file just written (:mod:`kara_core.storage.owned` records it)."""


class WriteError(KaraError):
    """Kara could not write one of its own files (disk full, permission, read-only): an
    error of the whole stage, never a reason to skip one song."""


def _read_umask() -> int:
    """This process's umask, read once (setting it back at once: only at import, before
    any thread could create a file in between)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


_FILE_MODE = 0o666 & ~_read_umask()


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
        raise WriteError(f"{dest}: cannot write ({exc.strerror or exc})") from exc
    with contextlib.suppress(OSError):  # mkstemp's 0600 would keep it from everyone else
        os.fchmod(fd, _FILE_MODE)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        yield tmp
        _fsync_file(tmp)
        fault_point("atomic.before_rename")
        fault_point(f"write:{dest.name}")
        os.replace(tmp, dest)
        for listener in WRITTEN:  # kara_core.storage.owned records it for kara clean
            listener(dest)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise WriteError(f"{dest}: cannot write ({exc.strerror or exc})") from exc
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
    """Write UTF-8 ``text`` to ``dest`` atomically (a file name's non-UTF-8 bytes, held as
    surrogates, are written as backslash escapes rather than failing the write)."""
    write_bytes(dest, text.encode("utf-8", "backslashreplace"))


def write_json(dest: Path | str, data: Any) -> None:
    """Write ``data`` as indented JSON atomically."""
    write_text(dest, json.dumps(data, indent=2, sort_keys=False, default=str) + "\n")


def write_with(dest: Path | str, writer: Callable[[Path], None], suffix: str = "") -> None:
    """Call ``writer(tmp_path)`` and move the result over ``dest`` atomically."""
    with atomic_path(dest, suffix=suffix) as tmp:
        writer(tmp)


def clean_stale_temps_of(dest: Path) -> int:
    """Remove the temporary files a killed write of ``dest`` left beside it (only those:
    the folder may be the user's own); return how many."""
    removed = 0
    prefix = f"{TEMP_MARK}{Path(dest).name}."
    try:
        for path in Path(dest).parent.iterdir():
            if path.name.startswith(prefix) and path.is_file():
                path.unlink(missing_ok=True)
                removed += 1
    except OSError:  # a folder that cannot be listed holds nothing we can remove
        return removed
    return removed


def clean_stale_temps(folder: Path) -> int:
    """Remove temporary files left by killed runs under ``folder``; return how many."""
    removed = 0
    if not folder.is_dir():
        return 0
    for path in folder.rglob(TEMP_MARK + "*"):
        if path.is_file():
            try:
                path.unlink(missing_ok=True)
            except OSError:  # a read-only folder: nothing can be half-written there now
                continue
            removed += 1
    return removed


def sha256_of(path: Path | str, chunk: int = 1 << 20) -> str:
    """Hex SHA-256 of a file, read in 1 MiB chunks: what Kara records beside everything it
    writes, to know later that the file is still the one it wrote."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(chunk), b""):
            digest.update(block)
    return digest.hexdigest()
