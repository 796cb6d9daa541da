"""Room on the disk, and bytes and seconds for people."""

from __future__ import annotations

import os
from pathlib import Path

from kara_core.console import human_bytes


def free_bytes(folder: Path) -> tuple[Path, int, int]:
    """``(existing folder, device, free bytes)`` for ``folder`` or its nearest existing
    parent (a folder Kara will create)."""
    import shutil

    probe_at = folder
    while not probe_at.exists() and probe_at.parent != probe_at:
        probe_at = probe_at.parent
    usage = shutil.disk_usage(probe_at)
    return probe_at, os.stat(probe_at).st_dev, int(usage.free)


def disk_warnings(needs: list[tuple[Path, int, str]]) -> list[str]:
    """One line per file system that lacks room for what the run writes there:
    ``needs`` holds ``(folder, bytes, what)``."""
    by_device: dict[int, list[tuple[Path, int, str, int]]] = {}
    for folder, nbytes, what in needs:
        if nbytes <= 0:
            continue
        try:
            where, device, free = free_bytes(folder)
        except OSError:
            continue
        by_device.setdefault(device, []).append((where, nbytes, what, free))
    lines = []
    for entries in by_device.values():
        needed = sum(e[1] for e in entries)
        free = min(e[3] for e in entries)
        if needed > free:
            what = ", ".join(f"{e[2]} {human_bytes(e[1])}" for e in entries)
            lines.append(f"{entries[0][0]}: {human_bytes(free)} free, but the run writes "
                         f"{human_bytes(needed)} there ({what})")
    return lines


def human_seconds(s: float | None, kind: str = "time") -> str:
    """``45 s``, ``12 min``, ``3.4 h``; ``unknown`` for ``None``. ``kind="audio"`` keeps a
    decimal on minutes (``3.5 min`` of music)."""
    if s is None:
        return "unknown"
    if s < 90:
        return f"{s:.0f} s"
    if s < 5400:
        return f"{s / 60:.1f} min" if kind == "audio" else f"{s / 60:.0f} min"
    return f"{s / 3600:.1f} h"
