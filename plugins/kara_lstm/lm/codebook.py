"""A k-means codebook of frames (numpy only), for the ``tokens`` head.

Fitted once on a sample of training frames when training starts and saved with the model:
``centroids [V, D]`` plus each code's per-feature spread ``scales [V, D]`` (the standard
deviation of the frames it holds), so a sampled code can emit its centroid plus noise of the
code's own spread rather than the exact centroid (exact centroids repeat, which reads as
an exact loop on the generated audio).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class Codebook:
    """``centroids [V, D]``, ``scales [V, D]`` and ``counts [V]`` of the fitted codes."""

    centroids: np.ndarray
    scales: np.ndarray
    counts: np.ndarray

    @property
    def size(self) -> int:
        """Number of codes ``V``."""
        return int(self.centroids.shape[0])

    def assign(self, frames: np.ndarray, block: int = 8192) -> np.ndarray:
        """Index of the nearest centroid of each frame ``[N, D]`` -> int32 ``[N]``."""
        frames = np.asarray(frames, np.float32)
        c = self.centroids.astype(np.float32)
        c2 = np.sum(c * c, axis=1)
        out = np.empty(frames.shape[0], np.int32)
        for first in range(0, frames.shape[0], block):
            x = frames[first : first + block]
            out[first : first + block] = np.argmin(c2[None, :] - 2.0 * (x @ c.T), axis=1)
        return out

    def unigram(self) -> np.ndarray:
        """Code frequencies on the training frames (add-one smoothed), summing to 1."""
        counts = self.counts.astype(np.float64) + 1.0
        return counts / counts.sum()

    def to_arrays(self) -> dict[str, np.ndarray]:
        """Arrays to save (``np.savez``)."""
        return {"centroids": self.centroids, "scales": self.scales, "counts": self.counts}

    @classmethod
    def from_arrays(cls, arrays: dict[str, np.ndarray]) -> Codebook:
        """The inverse of :meth:`to_arrays`."""
        return cls(np.asarray(arrays["centroids"], np.float32),
                   np.asarray(arrays["scales"], np.float32),
                   np.asarray(arrays["counts"], np.int64))


def fit_codebook(frames: np.ndarray, size: int, *, iterations: int = 20, seed: int = 0) -> Codebook:
    """k-means (k-means++ seeding, Lloyd iterations) of ``frames [N, D]`` into ``size`` codes.

    Empty clusters are re-seeded with the frames farthest from their centroid, so every code
    is used. With fewer frames than ``size`` the book is padded with copies of the last
    centroid (never assigned: the nearest code is the first of equals), so the book always
    has ``size`` codes and the softmax its configured width.
    """
    x = np.asarray(frames, np.float32)
    wanted = max(1, int(size))
    size = max(1, min(wanted, x.shape[0]))
    rng = np.random.default_rng(seed)
    centroids = _plus_plus(x, size, rng)
    for _ in range(iterations):
        codes = Codebook(centroids, centroids, np.zeros(size)).assign(x)
        counts = np.bincount(codes, minlength=size)
        sums = np.zeros_like(centroids, dtype=np.float64)
        np.add.at(sums, codes, x)
        empty = np.flatnonzero(counts == 0)
        centroids = (sums / np.maximum(counts, 1)[:, None]).astype(np.float32)
        if empty.size:
            error = np.sum((x - centroids[codes]) ** 2, axis=1)
            centroids[empty] = x[np.argsort(error)[::-1][: empty.size]]
    codes = Codebook(centroids, centroids, np.zeros(size)).assign(x)
    counts = np.bincount(codes, minlength=size)
    squares = np.zeros_like(centroids, dtype=np.float64)
    np.add.at(squares, codes, (x - centroids[codes]) ** 2)
    scales = np.sqrt(squares / np.maximum(counts, 1)[:, None]).astype(np.float32)
    if wanted > size:  # fewer frames than codes: pad with copies nobody is assigned to
        extra = wanted - size
        centroids = np.concatenate([centroids, np.repeat(centroids[-1:], extra, axis=0)])
        scales = np.concatenate([scales, np.repeat(scales[-1:], extra, axis=0)])
        counts = np.concatenate([counts, np.zeros(extra, counts.dtype)])
    return Codebook(centroids, scales, counts.astype(np.int64))


def _plus_plus(x: np.ndarray, size: int, rng: np.random.Generator) -> np.ndarray:
    """k-means++ seeding on a subsample (fast enough for tens of thousands of frames)."""
    sample = x[rng.choice(x.shape[0], size=min(x.shape[0], 20 * size), replace=False)]
    chosen = [sample[rng.integers(sample.shape[0])]]
    nearest = np.sum((sample - chosen[0]) ** 2, axis=1)
    for _ in range(1, size):
        total = float(nearest.sum())
        if total <= 0:
            pick = rng.integers(sample.shape[0])
        else:
            pick = rng.choice(sample.shape[0], p=nearest / total)
        chosen.append(sample[pick])
        nearest = np.minimum(nearest, np.sum((sample - sample[pick]) ** 2, axis=1))
    return np.stack(chosen).astype(np.float32)
