"""The mel scale and its triangular filters (Slaney, as librosa's default), without librosa."""

from __future__ import annotations

import math

import numpy as np


def hz_to_mel(hz: np.ndarray | float) -> np.ndarray:
    """Slaney's mel scale (as librosa with ``htk=False``): linear below 1 kHz, log above."""
    hz = np.asarray(hz, dtype=np.float64)
    f_sp = 200.0 / 3.0
    logstep = math.log(6.4) / 27.0
    linear = hz / f_sp
    return np.where(
        hz >= 1000.0, 1000.0 / f_sp + np.log(np.maximum(hz, 1e-12) / 1000.0) / logstep, linear
    )


def mel_to_hz(mels: np.ndarray | float) -> np.ndarray:
    """The inverse of :func:`hz_to_mel`."""
    mels = np.asarray(mels, dtype=np.float64)
    f_sp = 200.0 / 3.0
    min_log_mel = 1000.0 / f_sp
    logstep = math.log(6.4) / 27.0
    return np.where(
        mels >= min_log_mel, 1000.0 * np.exp(logstep * (mels - min_log_mel)), f_sp * mels
    )


def mel_filterbank(
    rate: int, n_fft: int, n_mels: int = 128, fmin: float = 0.0, fmax: float | None = None
) -> np.ndarray:
    """Triangular Slaney-normalised mel filters, float32 ``[n_mels, n_fft // 2 + 1]``.

    Numerically the same as ``librosa.filters.mel(sr=rate, n_fft=n_fft, n_mels=n_mels,
    fmin=fmin, fmax=fmax)`` (Slaney scale and area normalisation), without librosa.
    """
    fmax = rate / 2.0 if fmax is None else float(fmax)
    fft_freqs = np.fft.rfftfreq(n_fft, d=1.0 / rate)
    mel_freqs = mel_to_hz(np.linspace(hz_to_mel(fmin), hz_to_mel(fmax), n_mels + 2))
    widths = np.diff(mel_freqs)
    ramps = mel_freqs[:, None] - fft_freqs[None, :]
    lower = -ramps[:-2] / widths[:-1, None]
    upper = ramps[2:] / widths[1:, None]
    weights = np.maximum(0.0, np.minimum(lower, upper))
    weights *= (2.0 / (mel_freqs[2:] - mel_freqs[:-2]))[:, None]
    return weights.astype(np.float32)
