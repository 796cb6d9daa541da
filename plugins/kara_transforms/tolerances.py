"""The round-trip tolerances the lossy transforms declare: measured, then a margin.

Each figure is the worst spectral convergence ``|| |S| - |S'| ||_F / || |S| ||_F`` (Kara's
``spectral_convergence``, 1024-point analysis) measured on the test kit's music-like signal
(2 s at 16, 22.05 and 44.1 kHz) and on the four demo songs (10 s of each, 22.05 kHz); a
transform declares it times :data:`MARGIN`. Silence scores 1.0 and noise more, so neither
passes any tolerance below 1 (frames too short to hold a pitch are worse than silence, and
say so). Between two measured sizes the larger figure of the two applies; beyond the last,
the last one.

Real music is harder than the kit's: on 21 real songs (the Debian music packages of
README's results, 10 s from the middle of each) the defaults measured mel 128 median 0.17,
worst 0.54; stft 1024/256 median 0.07, worst 0.18; fft 1024 magnitude median 0.47, worst
0.56. The worst are dense orchestral tracks (warzone2100) on which Griffin-Lim's phase
estimate stays far from the original's. ``kara audit`` measures your own songs.
"""

from __future__ import annotations

from collections.abc import Mapping

MARGIN = 1.2
"""Declared tolerance = measured worst x this."""

Table = dict[float, float]

FFT_MAGNITUDE: Table = {32: 1.23, 64: 1.14, 128: 1.02, 256: 0.70, 512: 0.53, 1024: 0.51,
                        2048: 0.60, 4096: 0.69, 8192: 0.79}
"""fft magnitude by ``frame_size``, Griffin-Lim with 8 or more iterations."""
FFT_NO_GRIFFIN_LIM: Table = {32: 1.54, 64: 1.43, 128: 1.28, 256: 0.83, 512: 0.64, 1024: 0.56,
                             2048: 0.75, 4096: 0.87, 8192: 0.96}
"""fft magnitude with ``zero`` or ``random`` phase or under 8 iterations: the worst of the
three (1.12-1.24x Griffin-Lim's; 32-128 and 4096 samples: Griffin-Lim's x 1.25)."""

STFT_LOG_MAGNITUDE = {  # n_fft: (32+ iterations, 8-31, 0-7, hop above n_fft / 4)
    128: (0.80, 0.80, 0.80, 0.80),
    256: (0.50, 0.54, 0.54, 0.70),
    512: (0.18, 0.21, 0.26, 0.35),
    1024: (0.045, 0.075, 0.16, 0.26),
    2048: (0.11, 0.175, 0.25, 0.40),
    4096: (0.21, 0.40, 0.40, 0.40),
}
"""stft log-magnitude by ``n_fft`` (hop n_fft / 4 unless said; the last column is the worse
of 0 and 32 iterations with hop n_fft / 2)."""

MEL_BY_BINS_PER_BAND: Table = {2: 0.13, 4: 0.19, 5.34: 0.27, 8: 0.42, 12.8: 0.57, 25.6: 0.76}
"""mel with n_fft 1024, hop 256, 32 iterations, by FFT bins per band
(``n_fft / 2 / n_mels``: 128 bands of 1024 is 4; measured with 256 to 20 bands)."""
MEL_FEWER_ITERATIONS = {0: 1.5, 1: 1.3}
"""0 iterations measured 1.26-1.47x the 32's; 1-31 iterations at most 1.28x."""
MEL_COARSER = 2.0
"""hop above n_fft / 4 (1.86x at hop 512), and each halving of n_fft below 1024 (512:
1.98x; 256: 3.8x)."""


def measured(table: Mapping[float, float], key: float) -> float:
    """The figure for ``key``: the larger of the two measured sizes around it."""
    sizes = sorted(table)
    below = [s for s in sizes if s <= key] or sizes[:1]
    above = [s for s in sizes if s >= key] or sizes[-1:]
    return max(table[below[-1]], table[above[0]])


def declared(worst: float) -> float:
    """The tolerance for a measured worst: times :data:`MARGIN`, rounded up to 0.01."""
    return -(-round(worst * MARGIN * 1000) // 10) / 100


def fft_magnitude(frame_size: int, phase: str, n_iter: int) -> float:
    """fft ``layout: magnitude``; 1024 samples with Griffin-Lim: 0.51 x 1.2 = 0.62."""
    table = FFT_MAGNITUDE if phase == "griffin_lim" and n_iter >= 8 else FFT_NO_GRIFFIN_LIM
    return declared(measured(table, frame_size))


def stft_log_magnitude(n_fft: int, hop: int, n_iter: int) -> float:
    """stft ``features: log_magnitude``; the defaults (1024/256, 32 iterations): 0.06."""
    column = 0 if n_iter >= 32 else 1 if n_iter >= 8 else 2
    rows: Table = {size: row[3] if hop > n_fft // 4 else row[column]
            for size, row in STFT_LOG_MAGNITUDE.items()}
    return declared(measured(rows, n_fft))


def mel(n_fft: int, hop: int, n_mels: int, n_iter: int) -> float:
    """mel; the defaults (128 bands of 1024, hop 256, 32 iterations): 0.19 x 1.2 = 0.23."""
    worst = measured(MEL_BY_BINS_PER_BAND, n_fft / 2 / n_mels)
    if n_iter < 32:
        worst *= MEL_FEWER_ITERATIONS[min(n_iter, 1)]
    if hop > n_fft // 4:
        worst *= MEL_COARSER
    halvings = 0
    while n_fft << halvings < 1024:
        halvings += 1
    return declared(worst * MEL_COARSER**halvings)
