"""A transform's round trip ``inverse(forward(x))`` and how much it loses, measured.

Used by ``kara audit`` (every song, every transform) and by the run (the round trip of the
first prompt, ``roundtrip.wav``, the ceiling of what any model can reach with this
transform); neither stage owns it, so it lives beside them.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

import numpy as np

from kara_core.audio import spectral as metrics

if TYPE_CHECKING:
    from kara_core.components import Transform


def roundtrip(
    transform: Transform, wave: np.ndarray, rate: int
) -> tuple[np.ndarray, dict[str, float]]:
    """``(inverse(forward(wave)), its scores)`` (:func:`scores`; ``rtf`` times forward
    plus inverse)."""
    wave = np.asarray(wave, dtype=np.float32).reshape(-1)
    start = time.perf_counter()
    restored = np.asarray(transform.inverse(transform.forward(wave), wave.shape[0]), np.float32)
    elapsed = time.perf_counter() - start
    return restored, scores(wave, restored, rate, elapsed)


def roundtrip_metrics(transform: Transform, wave: np.ndarray, rate: int) -> dict[str, float]:
    """Round-trip scores of ``transform`` on ``wave``: ``snr_db``, ``si_sdr_db``,
    ``spectral_convergence``, ``lsd_db``, ``mrstft`` and ``rtf`` (forward plus inverse)."""
    return roundtrip(transform, wave, rate)[1]


def scores(wave: np.ndarray, restored: np.ndarray, rate: int, elapsed: float) -> dict[str, float]:
    """How ``restored`` differs from ``wave``: ``snr_db``, ``si_sdr_db``,
    ``spectral_convergence``, ``lsd_db``, ``mrstft``, and ``rtf`` (``elapsed`` seconds
    over the audio's duration)."""
    return {
        "snr_db": metrics.snr_db(wave, restored),
        "si_sdr_db": metrics.si_sdr_db(wave, restored),
        "spectral_convergence": metrics.spectral_convergence(wave, restored),
        "lsd_db": metrics.log_spectral_distance_db(wave, restored),
        "mrstft": metrics.multi_resolution_stft_distance(wave, restored),
        "rtf": metrics.real_time_factor(wave.shape[0] / rate, elapsed),
    }
