"""``stft``: a Hann short-time Fourier transform, as log magnitudes or complex values.

``features: log_magnitude`` (the default) gives ``n_fft // 2 + 1`` features per frame,
``log(|S| + 1e-5)``; the inverse re-estimates phase (phase-gradient start plus ``n_iter``
fast Griffin-Lim iterations). This is what a model should learn from: a log spectrum is
smooth in time, its errors become level changes of partials rather than broadband noise,
and it loses only phase, which the ear barely notices.

``features: complex`` gives ``n_fft`` features per frame (real parts of all bins, imaginary
parts of the bins that have one) and an exact inverse by weighted overlap-add: a lossless
reference, but a model predicting complex values must get the phase of every bin right,
and its errors come back as broadband noise.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import numpy as np

from kara_core import RoundTripTolerance, Transform, audio
from kara_transforms import tolerances

LOG_EPS = 1e-5
"""Added to magnitudes before the log: silence gives log(1e-5) = -11.5, never -inf. It sits
below the noise floor of 16-bit audio (about 6e-4 in these units for n_fft = 1024)."""


@dataclass(frozen=True)
class StftOptions:
    """Options of the ``stft`` transform."""

    n_fft: int = field(default=1024, metadata={"min": 16, "max": 65536})
    hop: int = field(default=256, metadata={"min": 1, "max": 32768})
    features: Literal["log_magnitude", "complex"] = "log_magnitude"
    n_iter: int = field(default=32, metadata={"min": 0, "max": 10000})

    def __post_init__(self) -> None:
        check_fft_and_hop(self.n_fft, self.hop)


def check_fft_and_hop(n_fft: int, hop: int) -> None:
    """Raise ``ValueError`` unless ``n_fft`` is even and Hann windows ``hop`` apart overlap
    enough to cover every sample (``hop <= n_fft / 2``)."""
    if n_fft % 2:
        raise ValueError(f"n_fft must be even, got {n_fft}")
    if hop > n_fft // 2:
        raise ValueError(
            f"hop ({hop}) must be at most n_fft / 2 ({n_fft // 2}) so that overlapping "
            "Hann windows cover every sample"
        )


def complex_to_features(spec: np.ndarray) -> np.ndarray:
    """``[T, n_fft/2+1]`` complex -> ``[T, n_fft]`` float32: real parts, then the imaginary
    parts of bins 1 .. n_fft/2 - 1 (those of DC and Nyquist are always 0)."""
    n_bins = spec.shape[1]
    features = np.empty((spec.shape[0], 2 * n_bins - 2), dtype=np.float32)
    features[:, :n_bins] = spec.real
    features[:, n_bins:] = spec.imag[:, 1:-1]
    return features


def features_to_complex(
    features: np.ndarray, n_bins: int, dtype: type = np.complex64
) -> np.ndarray:
    """The inverse of :func:`complex_to_features`."""
    features = np.asarray(features, dtype=np.float32)
    spec: np.ndarray = np.zeros((features.shape[0], n_bins), dtype=dtype)
    spec.real = features[:, :n_bins]
    spec.imag[:, 1:-1] = features[:, n_bins:]
    return spec


class StftTransform(Transform):
    """Hann STFT frames, centred: ``n // hop + 1`` frames for ``n`` samples."""

    name = "stft"
    default = True
    Options = StftOptions
    options: StftOptions

    @property
    def n_bins(self) -> int:
        """Frequency bins per frame: ``n_fft // 2 + 1``."""
        return self.options.n_fft // 2 + 1

    @property
    def frame_dim(self) -> int:
        if self.options.features == "complex":
            return self.options.n_fft
        return self.n_bins

    @property
    def hop(self) -> int:
        return self.options.hop

    @property
    def context(self) -> int:
        """A frame centred on ``t * hop`` reads ``n_fft // 2`` samples on each side."""
        return self.options.n_fft // 2

    @property
    def tolerance(self) -> RoundTripTolerance:
        if self.options.features == "complex":
            return RoundTripTolerance(min_snr_db=100.0)
        o = self.options  # measured, with a margin: kara_transforms.tolerances
        return RoundTripTolerance(
            max_spectral_convergence=tolerances.stft_log_magnitude(o.n_fft, o.hop, o.n_iter))

    def describe(self) -> str:
        o = self.options
        text = f"stft {o.n_fft}/{o.hop} {o.features}"
        return text if o.features == "complex" else f"{text}, {o.n_iter} GL iter"

    def forward(self, wave: np.ndarray) -> np.ndarray:
        spec = audio.stft(wave, self.options.n_fft, self.options.hop)
        if self.options.features == "complex":
            return complex_to_features(spec)
        return audio.log_features(audio.magnitude(spec), LOG_EPS)

    def inverse(self, frames: np.ndarray, length: int) -> np.ndarray:
        o = self.options
        frames = audio.as_frames(frames, self.frame_dim, finite=o.features == "complex")
        if o.features == "complex":
            return audio.istft_blocks(
                lambda a, b: features_to_complex(frames[a:b], self.n_bins, np.complex128),
                frames.shape[0], o.n_fft, o.hop, length, precise=True,
            )
        mags = audio.from_log_features(frames, LOG_EPS, ceiling=1e3 * audio.max_magnitude(o.n_fft))
        return audio.griffin_lim(mags, o.n_fft, o.hop, length, o.n_iter)
