"""``mel``: log-mel frames, the compact perceptual representation.

Features: ``log(mel + 1e-5)`` where ``mel`` is the Slaney mel filterbank (librosa's numbers)
applied to the STFT *magnitudes* (not powers: the magnitude projection inverts better).
Inverse: mel -> linear magnitudes (pseudo-inverse, clipped, refined by projected gradient;
see :mod:`kara_transforms.melbank`), then phase by gradient start plus fast Griffin-Lim.
Lossy twice over (frequency detail within a band, and phase), so it promises a spectral
convergence, not an SNR.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from kara_core import KaraError, RoundTripTolerance, Transform, audio
from kara_transforms import tolerances
from kara_transforms.melbank import MelBasis
from kara_transforms.stft import LOG_EPS, check_fft_and_hop

PROJECTION_STEPS = 10
"""Projected-gradient steps of the mel -> linear inverse (diminishing returns beyond)."""


@dataclass(frozen=True)
class MelOptions:
    """Options of the ``mel`` transform. ``fmax`` defaults to half the sample rate."""

    n_mels: int = field(default=128, metadata={"min": 8, "max": 1024})
    n_fft: int = field(default=1024, metadata={"min": 16, "max": 65536})
    hop: int = field(default=256, metadata={"min": 1, "max": 32768})
    fmin: float = field(default=0.0, metadata={"min": 0.0, "max": 96000.0})
    fmax: float | None = field(default=None, metadata={"min": 1.0, "max": 96000.0})
    n_iter: int = field(default=32, metadata={"min": 0, "max": 10000})

    def __post_init__(self) -> None:
        check_fft_and_hop(self.n_fft, self.hop)
        if self.fmax is not None and self.fmax <= self.fmin:
            raise ValueError(f"fmax ({self.fmax}) must be above fmin ({self.fmin})")


class MelTransform(Transform):
    """Log-mel frames of a centred Hann STFT: ``n // hop + 1`` frames of ``n_mels``."""

    name = "mel"
    Options = MelOptions
    options: MelOptions

    def __init__(self, options: MelOptions | None = None, sample_rate: int = 22050) -> None:
        super().__init__(options, sample_rate)
        o = self.options
        nyquist = self.sample_rate / 2.0
        if (o.fmax if o.fmax is not None else nyquist) > nyquist:
            raise KaraError(
                f"mel transform: fmax {o.fmax:g} Hz is above half the sample rate "
                f"({nyquist:g} Hz); lower transform.options.fmax or raise dataset.sample_rate"
            )
        if o.fmin >= (o.fmax if o.fmax is not None else nyquist):
            raise KaraError(
                f"mel transform: fmin {o.fmin:g} Hz must be below fmax "
                f"({o.fmax if o.fmax is not None else nyquist:g} Hz)"
            )
        self.basis = MelBasis(self.sample_rate, o.n_fft, o.n_mels, o.fmin, o.fmax)
        if self.basis.empty_bands.size:
            raise KaraError(
                f"mel transform: {self.basis.empty_bands.size} of {o.n_mels} mel bands contain "
                f"no FFT bin (n_fft {o.n_fft} at {self.sample_rate} Hz is too coarse); lower "
                "transform.options.n_mels or raise transform.options.n_fft"
            )

    @property
    def frame_dim(self) -> int:
        return self.options.n_mels

    @property
    def hop(self) -> int:
        return self.options.hop

    @property
    def context(self) -> int:
        """The STFT's: a frame centred on ``t * hop`` reads ``n_fft // 2`` samples on each
        side (the filterbank mixes bins of one frame only)."""
        return self.options.n_fft // 2

    @property
    def tolerance(self) -> RoundTripTolerance:
        o = self.options  # measured, with a margin: kara_transforms.tolerances
        return RoundTripTolerance(
            max_spectral_convergence=tolerances.mel(o.n_fft, o.hop, o.n_mels, o.n_iter))

    def describe(self) -> str:
        o = self.options
        return f"mel {o.n_mels} bands, {o.n_fft}/{o.hop}, {o.n_iter} GL iter"

    def forward(self, wave: np.ndarray) -> np.ndarray:
        mags = audio.magnitude(audio.stft(wave, self.options.n_fft, self.options.hop))
        return audio.log_features(self.basis.to_mel(mags), LOG_EPS)

    def inverse(self, frames: np.ndarray, length: int) -> np.ndarray:
        o = self.options
        frames = audio.as_frames(frames, self.frame_dim)
        ceiling = 1e3 * audio.max_magnitude(o.n_fft) * max(self.basis.largest_band_gain(), 1e-6)
        mel = audio.from_log_features(frames, LOG_EPS, ceiling=ceiling)
        mags = self.basis.to_linear(mel, PROJECTION_STEPS)
        return audio.griffin_lim(mags, o.n_fft, o.hop, length, o.n_iter)
