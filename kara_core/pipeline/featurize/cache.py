"""One song's cached frames: computed once, written atomically, verified before use.

``<name>-<wav hash>.npy`` holds the transform's float32 frames ``[T, D]`` and
``<name>-<wav hash>.json`` (written after it) records the shape, dtype and byte size. A
cache entry is trusted only when the sidecar exists, the file has exactly that size, and
its header (read through ``np.load(mmap_mode="r")``) gives that shape and dtype; otherwise
it is rebuilt. Both writes go through :mod:`kara_core.storage.atomic`, so a killed run leaves the
old entry, no entry, or a temp file, never a half-written ``.npy`` under a trusted name.
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


def read_valid(npy: Path, sidecar: Path, frame_dim: int) -> dict[str, Any] | None:
    """The sidecar of a complete, consistent entry; ``None`` when it must be rebuilt."""
    try:
        meta = json.loads(sidecar.read_text(encoding="utf-8"))
        shape = tuple(int(n) for n in meta["shape"])
        if npy.stat().st_size != int(meta["bytes"]):
            return None
        frames = np.load(npy, mmap_mode="r")
    except (OSError, ValueError, KeyError, TypeError):
        return None
    if frames.shape != shape or frames.dtype != np.float32 or len(shape) != 2:
        return None
    if shape[1] != frame_dim or shape[0] < 1:
        return None
    return dict(meta)


def cached_frames(
    transform: Transform, wav: Path, directory: Path, wav_sha: str, sample_rate: int, *,
    reload: bool = False,
) -> tuple[Path, int, int]:
    """``(npy path, frames, wav samples)`` of ``wav``, computing the entry when needed."""
    npy, sidecar = entry_paths(directory, Path(wav), wav_sha)
    if not reload:
        meta = read_valid(npy, sidecar, transform.frame_dim)
        if meta is not None:
            return npy, int(meta["shape"][0]), int(meta["samples"])
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
    atomic.write_json(sidecar, {
        "wav": str(wav), "wav_sha256": wav_sha, "transform": transform.describe(),
        "shape": list(frames.shape), "dtype": "float32", "bytes": npy.stat().st_size,
        "samples": int(wave.shape[0]),
    })
    return npy, int(frames.shape[0]), int(wave.shape[0])
