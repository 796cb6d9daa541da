"""The featurize stage's product: every usable song's cached frames, split by song.

:class:`FeatureSet` is what featurize returns and what training, generation and the
evaluation read: the songs of the training and the validation split
(:class:`SongFeatures`, frames memory-mapped from the cache) with the normalisation fitted
on the training songs.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from kara_core.components import Transform


@dataclass
class SongFeatures:
    """One song's cached frames and the range of them this split uses.

    :ivar start: first frame used (0 unless this is the held-out tail of a lone song).
    :ivar stop: one past the last frame used.
    :ivar n_samples: samples of the wav the frames came from.
    """

    source: str
    wav: Path
    npy: Path
    start: int
    stop: int
    n_samples: int
    mean: np.ndarray = field(repr=False, default_factory=lambda: np.zeros(0, np.float32))
    std: np.ndarray = field(repr=False, default_factory=lambda: np.ones(0, np.float32))
    decoder: str | None = None  # which decoder made the wav, when prepare says

    @property
    def n_frames(self) -> int:
        """Frames in the used range."""
        return self.stop - self.start

    def raw_frames(self) -> np.ndarray:
        """Un-normalised frames ``[stop-start, D]``, memory-mapped (nothing read yet), in
        the cache's dtype (float32, or float16 with ``dataset.cache_dtype: float16``):
        readers convert what they read to float32 before normalising it."""
        return np.load(self.npy, mmap_mode="r")[self.start : self.stop]

    def frames(self, count: int | None = None) -> np.ndarray:
        """Normalised float32 frames ``[stop-start, D]`` (only the first ``count`` when
        given), read from the memory-mapped cache.

        What is returned is copied into memory (normalisation makes a new array): ask for
        the frames needed, not a two-hour song. Training never calls it, it streams windows.
        """
        raw = self.raw_frames() if count is None else self.raw_frames()[: max(0, int(count))]
        if self.mean.size == 0:
            return np.array(raw, dtype=np.float32)
        return ((raw - self.mean) / self.std).astype(np.float32)


@dataclass
class FeatureSet:
    """Every usable song's frames for one variant, split into training and validation.

    :ivar key: the cache folder name (transform type and a hash of its identity).
    :ivar mean: per-feature mean fitted on the training frames only.
    :ivar std: per-feature standard deviation (floored) fitted on the training frames only.
    :ivar split_note: how the split was made when it is not the usual one, e.g. a lone
        song's tail held out.
    :ivar skipped: one line per song left out (silent, unreadable).
    :ivar low: per-feature minimum of the training frames (un-normalised), or ``None``.
    :ivar high: per-feature maximum of the training frames (un-normalised), or ``None``.
    """

    transform: Transform
    key: str
    directory: Path
    mean: np.ndarray
    std: np.ndarray
    train: list[SongFeatures]
    val: list[SongFeatures]
    split_note: str | None = None
    skipped: list[str] = field(default_factory=list)
    low: np.ndarray | None = None
    high: np.ndarray | None = None

    @property
    def frame_dim(self) -> int:
        """Features per frame."""
        return int(self.mean.shape[0])

    def normalise(self, frames: np.ndarray) -> np.ndarray:
        """Raw transform frames -> normalised float32 frames."""
        return ((np.asarray(frames, np.float32) - self.mean) / self.std).astype(np.float32)

    def denormalise(self, frames: np.ndarray) -> np.ndarray:
        """Normalised frames -> raw transform frames (what ``transform.inverse`` takes)."""
        return (np.asarray(frames, np.float32) * self.std + self.mean).astype(np.float32)

    def identity(self) -> str:
        """A hash of what a model trained on these features depends on: the cache key, the
        songs and ranges of the training split, and the normalisation."""
        digest = hashlib.sha256(self.key.encode())
        for song in self.train:
            digest.update(f"{song.npy.name}:{song.start}:{song.stop};".encode())
        digest.update(self.mean.tobytes())
        digest.update(self.std.tobytes())
        return digest.hexdigest()[:16]
