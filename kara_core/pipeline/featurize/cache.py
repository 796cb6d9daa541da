"""One song's cached frames: computed once, written atomically, verified before use.

``<name>-<wav hash>.npy`` holds the transform's float32 frames ``[T, D]`` and
``<name>-<wav hash>.json`` (written after it) records the shape, dtype, byte size, mtime
and SHA-256. A cache entry is trusted only when the sidecar exists, the file has exactly
that size, its header (read through ``np.load(mmap_mode="r")``) gives that shape and
dtype, and, when its mtime is not the one recorded, its SHA-256 matches (a file rewritten
in place with NaN or zeros is caught); otherwise it is rebuilt, with one line saying why
when the file was there but wrong. Both writes go through :mod:`kara_core.storage.atomic`,
so a killed run leaves the old entry, no entry, or a temp file, never a half-written
``.npy`` under a trusted name.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from kara_core.audio.wav import read_mono
from kara_core.errors import KaraError
from kara_core.storage import atomic

if TYPE_CHECKING:
    from kara_core.components import Transform


SAFE_NAME = re.compile(r"[^A-Za-z0-9_.-]+")


def safe_stem(path: Path) -> str:
    """A file-name-safe short form of a song's name, for readable cache files."""
    return SAFE_NAME.sub("_", Path(path).stem)[:40] or "song"


def entry_paths(directory: Path, wav: Path, wav_sha: str) -> tuple[Path, Path]:
    """The ``.npy`` and sidecar ``.json`` of one wav in ``directory``."""

    stem = f"{safe_stem(wav)}-{wav_sha[:16]}"
    return directory / f"{stem}.npy", directory / f"{stem}.json"


def check(npy: Path, sidecar: Path, frame_dim: int) -> tuple[dict[str, Any] | None, str | None]:
    """``(sidecar, None)`` for a trustworthy entry, else ``(None, problem)``: the problem
    is ``None`` when there simply is no entry yet, else what is wrong with the one there."""
    if not npy.exists():
        return None, None
    try:
        meta = json.loads(sidecar.read_text(encoding="utf-8"))
        shape = tuple(int(n) for n in meta["shape"])
        st = npy.stat()
        if st.st_size != int(meta["bytes"]):
            return None, f"{st.st_size} bytes instead of {meta['bytes']}"
        frames = np.load(npy, mmap_mode="r")
    except FileNotFoundError:
        return None, "its record is missing"
    except (OSError, ValueError, KeyError, TypeError, RecursionError) as exc:
        return None, f"unreadable ({type(exc).__name__})"
    if frames.shape != shape or frames.dtype != np.float32 or len(shape) != 2:
        return None, f"holds {frames.dtype} {frames.shape}, its record says float32 {shape}"
    if shape[1] != frame_dim or shape[0] < 1:
        return None, f"frames of shape {shape}, expected [T, {frame_dim}]"
    digest = meta.get("sha256")
    if not isinstance(digest, str):
        return None, "written by an older Kara without a checksum"
    if meta.get("mtime_ns") != st.st_mtime_ns and _sha256(npy) != digest:
        return None, "its content changed since it was written"
    return dict(meta), None


def _sha256(path: Path) -> str | None:
    """The file's SHA-256, or ``None`` when it cannot be read (then it is rebuilt)."""
    try:
        return atomic.sha256_of(path)
    except OSError:
        return None


def cached_frames(
    transform: Transform, wav: Path, directory: Path, wav_sha: str, sample_rate: int, *,
    reload: bool = False,
) -> tuple[Path, int, int]:
    """``(npy path, frames, wav samples)`` of ``wav``, computing the entry when needed."""
    npy, sidecar = entry_paths(directory, Path(wav), wav_sha)
    if not reload:
        meta, problem = check(npy, sidecar, transform.frame_dim)
        if meta is not None:
            return npy, int(meta["shape"][0]), int(meta["samples"])
        if problem is not None:
            from kara_core.console import print_warning

            print_warning(f"{npy}: {problem}; rebuilt")
    wave = read_mono(Path(wav), sample_rate)
    if wave.shape[0] == 0:
        raise KaraError(f"{wav}: the wav is empty")
    try:
        frames = np.asarray(transform.forward(wave))
    except (ValueError, RuntimeError, MemoryError) as exc:
        raise KaraError(f"{transform.describe()} failed on {wav}: {exc}") from None
    if frames.ndim != 2 or frames.shape[1] != transform.frame_dim or frames.shape[0] < 1:
        raise KaraError(
            f"{transform.describe()} returned frames of shape {frames.shape} for {wav}; "
            f"expected [T, {transform.frame_dim}]"
        )
    frames = np.ascontiguousarray(frames, dtype=np.float32)
    if not np.isfinite(frames).all():
        raise KaraError(f"{transform.describe()} returned NaN or infinite values for {wav}")
    atomic.write_with(npy, lambda tmp: np.save(tmp, frames, allow_pickle=False), suffix=".npy")
    st = npy.stat()
    atomic.write_json(sidecar, {
        "wav": str(wav), "wav_sha256": wav_sha, "transform": transform.describe(),
        "shape": list(frames.shape), "dtype": "float32", "bytes": st.st_size,
        "mtime_ns": st.st_mtime_ns, "sha256": _sha256(npy),
        "samples": int(wave.shape[0]),
    })
    return npy, int(frames.shape[0]), int(wave.shape[0])
