"""Per-feature statistics of the training frames, from one pass in bounded memory.

The frames are read a few thousand at a time with plain reads
(:func:`~kara_core.pipeline.featurize.cache.read_chunks`) and summed in float64, whatever
they are stored as (float32 or float16), so neither a long song nor a large collection
raises the memory this takes. The result is cached beside the frames, named by the
training songs' cache files and ranges.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from kara_core.errors import KaraError
from kara_core.pipeline.featurize.cache import read_chunks
from kara_core.storage import atomic

STD_FLOOR = 1e-2
"""A feature whose spread is below 1% of the typical feature's is scaled as if it were at
1%: near-constant features (bins above the music's bandwidth) would otherwise be blown up
into pure noise that dominates the loss."""
CHUNK_ROWS = 4096
"""Frames read at a time: 8 MB of 513-bin float32 frames."""

Stats = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]


def statistics(train: Sequence[tuple[Path, int, int]], directory: Path) -> Stats:
    """Per-feature mean, floored std, minimum and maximum (float32) of the frames
    ``start`` to ``stop`` of every ``(npy, start, stop)`` of ``train``, cached in
    ``directory``."""
    digest = hashlib.sha256()
    for npy, start, stop in train:
        digest.update(f"{Path(npy).name}:{start}:{stop};".encode())
    path = directory / f"stats-{digest.hexdigest()[:16]}.json"
    cached = _read(path)
    if cached is not None:
        return cached
    total: np.ndarray | None = None
    squares: np.ndarray | None = None
    low64: np.ndarray | None = None
    high64: np.ndarray | None = None
    count = 0
    for npy, start, stop in train:
        for part in read_chunks(Path(npy), start, stop, CHUNK_ROWS):
            chunk = np.asarray(part, np.float64)
            if not np.isfinite(chunk).all():  # verified caches never hold them: a last guard
                raise KaraError(f"{npy}: holds NaN or infinite frames; delete it (or run "
                                "with --reload) to rebuild it")
            total = chunk.sum(axis=0) if total is None else total + chunk.sum(axis=0)
            sq = np.square(chunk).sum(axis=0)
            squares = sq if squares is None else squares + sq
            low64 = chunk.min(axis=0) if low64 is None else np.minimum(low64, chunk.min(axis=0))
            high64 = (chunk.max(axis=0) if high64 is None
                      else np.maximum(high64, chunk.max(axis=0)))
            count += chunk.shape[0]
    if total is None or squares is None or low64 is None or high64 is None or count == 0:
        raise KaraError("the training songs have no frames")
    mean64 = total / count
    var = np.maximum(squares / count - np.square(mean64), 0.0)
    std64 = np.sqrt(var)
    floor = STD_FLOOR * float(np.sqrt(np.mean(var))) + 1e-12
    std64 = np.maximum(std64, floor)
    mean, std = mean64.astype(np.float32), std64.astype(np.float32)
    low, high = low64.astype(np.float32), high64.astype(np.float32)
    atomic.write_json(path, {"frames": count, "mean": mean.tolist(), "std": std.tolist(),
                             "low": low.tolist(), "high": high.tolist()})
    return mean, std, low, high


def _read(path: Path) -> Stats | None:
    """The statistics cached at ``path``; ``None`` when missing, unreadable or not sane
    (then they are computed again)."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        mean = np.asarray(data["mean"], np.float32)
        std = np.asarray(data["std"], np.float32)
        low = np.asarray(data["low"], np.float32)
        high = np.asarray(data["high"], np.float32)
    except (OSError, ValueError, KeyError, TypeError):
        return None
    finite = all(np.isfinite(a).all() for a in (mean, std, low, high))
    if (mean.shape == std.shape == low.shape == high.shape and mean.ndim == 1
            and finite and np.all(std > 0)):
        return mean, std, low, high
    return None
