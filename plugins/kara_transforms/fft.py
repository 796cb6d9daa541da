"""``fft``: the original project's representation, an rfft of non-overlapping frames.

``layout: complex`` (default): ``frame_size`` features per frame (real parts of all bins,
imaginary parts of the bins that have one), orthonormal scaling, so the features carry the
frame's energy unchanged; the inverse is exact.

``layout: magnitude``: ``frame_size // 2 + 1`` magnitudes; the phase is dropped and the
inverse invents one (``phase``):

- ``zero``: every frame starts in cosine phase (a buzz at the frame rate);
- ``random``: seeded random phase (noisy, but no buzz);
- ``griffin_lim`` (default): Griffin-Lim on a half-overlapping grid whose in-between frames
  get the magnitudes of their neighbours, so that frame edges join smoothly; the given
  frames keep their magnitudes exactly.

Non-overlapping frames alone cannot tell a right phase from a wrong one (every phase gives a
consistent set of frames), which is why the magnitude layout is lossy however hard one tries.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import numpy as np

from kara_core import RoundTripTolerance, Transform, audio
from kara_transforms import tolerances
from kara_transforms.stft import complex_to_features, features_to_complex

RANDOM_PHASE_SEED = 0
"""Seed of ``phase: random``: the same frames always give the same audio."""


@dataclass(frozen=True)
class FftOptions:
    """Options of the ``fft`` transform."""

    frame_size: int = field(default=1024, metadata={"min": 16, "max": 1 << 20})
    layout: Literal["complex", "magnitude"] = "complex"
    phase: Literal["griffin_lim", "random", "zero"] = "griffin_lim"
    n_iter: int = field(default=32, metadata={"min": 0, "max": 10000})

    def __post_init__(self) -> None:
        if self.frame_size % 2:
            raise ValueError(f"frame_size must be even, got {self.frame_size}")


class FftTransform(Transform):
    """rfft of frames ``wave[t*N:(t+1)*N]`` (``N = frame_size``, last frame zero-padded)."""

    name = "fft"
    Options = FftOptions
    options: FftOptions

    @property
    def n_bins(self) -> int:
        """Frequency bins per frame: ``frame_size // 2 + 1``."""
        return self.options.frame_size // 2 + 1

    @property
    def frame_dim(self) -> int:
        if self.options.layout == "complex":
            return self.options.frame_size
        return self.n_bins

    @property
    def hop(self) -> int:
        return self.options.frame_size

    @property
    def context(self) -> int:
        """Each frame's rfft reads only its own ``frame_size`` samples."""
        return 0

    @property
    def tolerance(self) -> RoundTripTolerance:
        if self.options.layout == "complex":
            return RoundTripTolerance(min_snr_db=100.0)
        o = self.options  # measured, with a margin: kara_transforms.tolerances
        return RoundTripTolerance(
            max_spectral_convergence=tolerances.fft_magnitude(o.frame_size, o.phase, o.n_iter))

    def describe(self) -> str:
        o = self.options
        if o.layout == "complex":
            return f"fft {o.frame_size} complex"
        extra = f", {o.n_iter} iter" if o.phase == "griffin_lim" else ""
        return f"fft {o.frame_size} magnitude, {o.phase} phase{extra}"

    def _spectrum(self, wave: np.ndarray) -> np.ndarray:
        import scipy.fft

        frames = audio.cut_frames(wave, self.options.frame_size)
        spec = scipy.fft.rfft(frames, axis=-1, norm="ortho")
        return spec.astype(np.complex64, copy=False)

    def _frames_to_wave(self, spec: np.ndarray, length: int) -> np.ndarray:
        import scipy.fft

        size = self.options.frame_size
        frames = scipy.fft.irfft(spec.astype(np.complex128), n=size, axis=-1, norm="ortho")
        return audio.join_frames(frames, length)

    def forward(self, wave: np.ndarray) -> np.ndarray:
        spec = self._spectrum(wave)
        if self.options.layout == "complex":
            return complex_to_features(spec)
        return audio.magnitude(spec)

    def inverse(self, frames: np.ndarray, length: int) -> np.ndarray:
        frames = audio.as_frames(frames, self.frame_dim, finite=True)
        if self.options.layout == "complex":
            return self._frames_to_wave(features_to_complex(frames, self.n_bins), length)
        mags = np.clip(frames, 0.0, None)
        if self.options.phase == "zero":
            angles = np.zeros(mags.shape, dtype=np.float32)
        elif self.options.phase == "random":
            rng = np.random.default_rng(RANDOM_PHASE_SEED)
            angles = rng.uniform(0.0, 2.0 * np.pi, size=mags.shape).astype(np.float32)
        else:
            angles = half_overlap_griffin_lim(mags, self.options.frame_size, self.options.n_iter)
        return self._frames_to_wave(mags * np.exp(1j * angles), length)


def half_overlap_griffin_lim(mags: np.ndarray, size: int, n_iter: int) -> np.ndarray:
    """Phases ``[T, F]`` for non-overlapping rectangular frames with magnitudes ``mags``.

    Griffin-Lim needs overlapping frames to tell good phase from bad, so it runs on frames
    ``size / 2`` apart: the even ones are the given frames, the odd ones straddle two of them
    and get the RMS of their magnitudes.
    """
    import scipy.fft

    n_frames, n_bins = mags.shape
    if n_frames < 2 or n_iter == 0:
        return np.zeros(mags.shape, dtype=np.float32)
    half = size // 2
    target = np.empty((2 * n_frames - 1, n_bins), dtype=np.float32)
    target[0::2] = mags
    target[1::2] = np.sqrt((mags[:-1] ** 2 + mags[1:] ** 2) * 0.5)
    estimate = target.astype(np.complex64)  # zero phase: measured better than random here
    coverage = audio.overlap_add(np.ones((target.shape[0], size), dtype=np.float32), half)
    previous: np.ndarray | None = None
    for _ in range(n_iter):
        wave = audio.overlap_add(scipy.fft.irfft(estimate, n=size, axis=-1), half) / coverage
        grid = np.lib.stride_tricks.sliding_window_view(wave, size)[::half]
        consistent = scipy.fft.rfft(grid, axis=-1, workers=audio.FFT_WORKERS).astype(np.complex64)
        if previous is None:
            accelerated = consistent
        else:
            accelerated = consistent + np.complex64(0.99) * (consistent - previous)
        previous = consistent
        size_now = np.abs(accelerated)
        unit = np.ones_like(accelerated)
        np.divide(accelerated, size_now, out=unit, where=size_now > 0)
        estimate = unit * target
    return np.angle(estimate[0::2]).astype(np.float32)
