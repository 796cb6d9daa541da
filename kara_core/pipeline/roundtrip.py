"""A transform's round trip ``inverse(forward(x))`` and how much it loses, measured.

Used by ``kara audit`` (every song, every transform) and by the run (the round trip of the
first prompt, ``roundtrip.wav``, the ceiling of what any model can reach with this
transform); neither stage owns it, so it lives beside them.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

from kara_core.audio import spectral as metrics

if TYPE_CHECKING:
    from kara_core.components import RoundTripTolerance, Transform


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


SILENCE_SC = 1.0
"""The spectral convergence of outputting silence: ``|| |S| - 0 || / || |S| ||``."""
REAL_MUSIC_SLACK = 2.0
"""How far past its declared spectral-convergence tolerance a transform's median may go on
real music before it is a miss. Tolerances are measured on the test kit's signal and the
demo songs; real songs are harder (on 21 real songs the defaults' medians came to 0.75x
(mel 128) to 1.3x (stft 1024/256) of what they declare, see kara_transforms.tolerances)."""
SNR_SLACK_DB = 10.0
"""How far below a lossless transform's declared ``min_snr_db`` the median may fall."""


def tolerance_misses(
    tolerance: RoundTripTolerance, songs: Sequence[tuple[str, dict[str, float]]],
) -> list[str]:
    """What is wrong with round trips measured on ``songs`` (``(name, scores)``), one
    phrase each; empty when none is.

    Every song's round trip must be better than outputting silence (spectral convergence
    below 1; for a lossless transform an SNR above 0 dB), and the median over the songs
    within the declared tolerance (:data:`REAL_MUSIC_SLACK`, :data:`SNR_SLACK_DB`).
    """
    misses = []
    lossless = tolerance.min_snr_db is not None
    for name, song in songs:
        sc, snr = song.get("spectral_convergence"), song.get("snr_db")
        if sc is not None and not sc < SILENCE_SC:
            misses.append(f"{name}: spectral convergence {sc:.3g}, worse than silence (1)")
        elif lossless and snr is not None and not snr > 0.0:
            misses.append(f"{name}: SNR {snr:.1f} dB, worse than silence (0 dB)")
    if not songs:
        return misses
    if tolerance.max_spectral_convergence is not None:
        median = float(np.median([s.get("spectral_convergence", np.nan) for _n, s in songs]))
        limit = tolerance.max_spectral_convergence * REAL_MUSIC_SLACK
        if not median <= limit:
            misses.append(f"median spectral convergence {median:.3g} over {len(songs)} song(s),"
                          f" above {REAL_MUSIC_SLACK:g}x its declared tolerance "
                          f"{tolerance.max_spectral_convergence:.3g}")
    if tolerance.min_snr_db is not None:
        median = float(np.median([s.get("snr_db", np.nan) for _n, s in songs]))
        if not median >= tolerance.min_snr_db - SNR_SLACK_DB:
            misses.append(f"median SNR {median:.1f} dB over {len(songs)} song(s), below its "
                          f"declared {tolerance.min_snr_db:g} dB")
    return misses
