"""Spectral measurements of audio (DESIGN section 6), in plain numpy (scipy.fft for speed).

Public, like the rest of :mod:`kara_core.audio`: Kara's transform audit and its measures of
generated audio use these, and so may a plugin's measure or test.

Round trip (an estimate against its reference wave): :func:`snr_db`, :func:`si_sdr_db`,
:func:`spectral_convergence`, :func:`log_spectral_distance_db`,
:func:`multi_resolution_stft_distance`, :func:`real_time_factor`.
Generated audio (no reference): :func:`log_mel_frames` + :func:`frechet_distance`,
:func:`rms_ratio`, :func:`silent_fraction`, :func:`spectral_flatness`.

Waveform SNR is meaningless once phase is re-estimated (Griffin-Lim scores about 0 dB and
still sounds right), so always show a spectral metric beside it. Decibel values are clipped
to ``[-MAX_DB, MAX_DB]``: a bit-exact reconstruction scores ``MAX_DB`` rather than ``inf``,
which JSON cannot hold.
"""

from __future__ import annotations

import math

import numpy as np

from kara_core.audio.mel import mel_filterbank
from kara_core.audio.spectrum import hann, stft

MAX_DB = 200.0
"""The decibel value reported for a perfect (bit-exact) reconstruction."""

MR_STFT_SIZES: tuple[int, ...] = (2048, 1024, 512, 256)
"""FFT sizes of :func:`multi_resolution_stft_distance`."""


def _pair(reference: np.ndarray, estimate: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    ref = np.asarray(reference, dtype=np.float64).reshape(-1)
    est = np.asarray(estimate, dtype=np.float64).reshape(-1)
    if ref.shape != est.shape:
        raise ValueError(f"reference has {ref.shape[0]} samples, estimate {est.shape[0]}")
    return ref, est


def _ratio_db(signal_energy: float, noise_energy: float) -> float:
    if noise_energy <= 0.0:
        return MAX_DB if signal_energy > 0.0 or noise_energy == 0.0 else -MAX_DB
    if signal_energy <= 0.0:
        return -MAX_DB
    return float(np.clip(10.0 * math.log10(signal_energy / noise_energy), -MAX_DB, MAX_DB))


def snr_db(reference: np.ndarray, estimate: np.ndarray) -> float:
    """Signal-to-noise ratio in dB: ``10 log10(sum ref^2 / sum (ref - est)^2)``."""
    ref, est = _pair(reference, estimate)
    return _ratio_db(float(np.dot(ref, ref)), float(np.sum((ref - est) ** 2)))


def si_sdr_db(reference: np.ndarray, estimate: np.ndarray) -> float:
    """Scale-invariant signal-to-distortion ratio in dB (Le Roux et al. 2019).

    The reference is scaled to best match the estimate first, so a louder or quieter but
    otherwise perfect estimate still scores :data:`MAX_DB`.
    """
    ref, est = _pair(reference, estimate)
    ref_energy = float(np.dot(ref, ref))
    if ref_energy == 0.0:
        return MAX_DB if not np.any(est) else -MAX_DB
    target = (float(np.dot(est, ref)) / ref_energy) * ref
    return _ratio_db(float(np.dot(target, target)), float(np.sum((est - target) ** 2)))


def stft_magnitude(wave: np.ndarray, n_fft: int = 1024, hop: int | None = None) -> np.ndarray:
    """``|STFT|`` of :func:`kara_core.audio.spectrum.stft` (centred periodic Hann, zero
    padding; ``hop`` a quarter of ``n_fft`` by default), float32 ``[frames, n_fft//2 + 1]``:
    the measures analyse audio as the transforms do."""
    return np.abs(stft(wave, n_fft, hop or n_fft // 4)).astype(np.float32, copy=False)


def _magnitudes(
    reference: np.ndarray, estimate: np.ndarray, n_fft: int, hop: int | None
) -> tuple[np.ndarray, np.ndarray]:
    ref, est = _pair(reference, estimate)
    return stft_magnitude(ref, n_fft, hop), stft_magnitude(est, n_fft, hop)


def _sc(ref_mag: np.ndarray, est_mag: np.ndarray) -> float:
    diff = float(np.linalg.norm((ref_mag - est_mag).astype(np.float64)))
    return diff / max(float(np.linalg.norm(ref_mag.astype(np.float64))), 1e-12)


def spectral_convergence(
    reference: np.ndarray, estimate: np.ndarray, n_fft: int = 1024, hop: int | None = None
) -> float:
    """``|| |S| - |Ŝ| ||_F / || |S| ||_F``: 0 is perfect, about 1 means unrelated spectra.

    Phase-blind, so it scores phase reconstruction (Griffin-Lim) fairly. ``hop`` defaults to
    ``n_fft // 4``.
    """
    return _sc(*_magnitudes(reference, estimate, n_fft, hop))


def log_spectral_distance_db(
    reference: np.ndarray,
    estimate: np.ndarray,
    n_fft: int = 1024,
    hop: int | None = None,
    floor_db: float = -80.0,
) -> float:
    """Mean over frames of the RMS difference of the power spectra in dB.

    Powers are floored at ``floor_db`` below the reference's loudest bin, so near-silent
    bins (where the dB difference of two tiny numbers is huge and inaudible) do not dominate.
    """
    ref_mag, est_mag = _magnitudes(reference, estimate, n_fft, hop)
    ref_pow = ref_mag.astype(np.float64) ** 2
    est_pow = est_mag.astype(np.float64) ** 2
    floor = max(float(ref_pow.max(initial=0.0)) * 10.0 ** (floor_db / 10.0), 1e-20)
    diff = 10.0 * (np.log10(np.maximum(ref_pow, floor)) - np.log10(np.maximum(est_pow, floor)))
    return float(np.mean(np.sqrt(np.mean(diff**2, axis=1))))


def multi_resolution_stft_distance(
    reference: np.ndarray, estimate: np.ndarray, fft_sizes: tuple[int, ...] = MR_STFT_SIZES
) -> float:
    """Mean over FFT sizes of spectral convergence plus mean ``|log|S| - log|Ŝ||``.

    The multi-resolution STFT loss of Parallel WaveGAN (Yamamoto et al. 2020), with hop =
    size / 4 and magnitudes clamped at 1e-7; 0 is perfect.
    """
    total = 0.0
    for size in fft_sizes:
        ref_mag, est_mag = _magnitudes(reference, estimate, size, size // 4)
        log_diff = np.log(np.maximum(ref_mag, 1e-7)) - np.log(np.maximum(est_mag, 1e-7))
        total += _sc(ref_mag, est_mag) + float(np.mean(np.abs(log_diff), dtype=np.float64))
    return total / len(fft_sizes)


def real_time_factor(audio_seconds: float, compute_seconds: float) -> float:
    """Compute time per second of audio: below 1 is faster than real time."""
    if audio_seconds <= 0.0:
        return 0.0
    return float(compute_seconds) / float(audio_seconds)


# --------------------------------------------------------------------------- generated audio


def _analysis_fft(rate: int) -> int:
    """A power-of-two FFT size of about 46 ms (1024 at 22.05 kHz, 2048 at 44.1 kHz)."""
    return int(2 ** max(8, round(math.log2(max(rate, 1) * 0.0464))))


def log_mel_frames(wave: np.ndarray, rate: int, n_mels: int = 64) -> np.ndarray:
    """Log-mel power frames in dB, float64 ``[frames, n_mels]``: the features of
    :func:`frechet_distance` (about 46 ms windows, hop of a quarter window)."""
    n_fft = _analysis_fft(rate)
    power = stft_magnitude(wave, n_fft, n_fft // 4).astype(np.float64) ** 2
    bank = mel_filterbank(rate, n_fft, n_mels).astype(np.float64)
    return 10.0 * np.log10(power @ bank.T + 1e-10)


def frechet_distance_from_stats(
    mean_a: np.ndarray, cov_a: np.ndarray, mean_b: np.ndarray, cov_b: np.ndarray
) -> float:
    """``|μa - μb|^2 + Tr(Σa + Σb - 2 (Σa Σb)^½)``: the Fréchet distance of two Gaussians.

    The matrix square root's trace is taken from the eigenvalues of the symmetric
    ``Σa^½ Σb Σa^½``, which is stable for the rank-deficient covariances short clips give.
    """
    mean_a, mean_b = np.asarray(mean_a, np.float64), np.asarray(mean_b, np.float64)
    cov_a, cov_b = np.atleast_2d(cov_a).astype(np.float64), np.atleast_2d(cov_b).astype(np.float64)
    values, vectors = np.linalg.eigh((cov_a + cov_a.T) / 2.0)
    root_a = (vectors * np.sqrt(np.clip(values, 0.0, None))) @ vectors.T
    middle = root_a @ cov_b @ root_a
    cross = np.sum(np.sqrt(np.clip(np.linalg.eigvalsh((middle + middle.T) / 2.0), 0.0, None)))
    shift = float(np.sum((mean_a - mean_b) ** 2))
    return max(0.0, shift + float(np.trace(cov_a) + np.trace(cov_b) - 2.0 * cross))


def frechet_distance(feats_a: np.ndarray, feats_b: np.ndarray) -> float:
    """Fréchet distance between the frame statistics (mean, covariance) of two feature sets
    ``[frames, dims]``, e.g. :func:`log_mel_frames` of generated and held-out audio."""
    a, b = np.asarray(feats_a, np.float64), np.asarray(feats_b, np.float64)
    if a.ndim != 2 or b.ndim != 2 or a.shape[1] != b.shape[1]:
        raise ValueError(
            f"expected two [frames, dims] arrays of equal dims, got {a.shape} and {b.shape}"
        )
    if a.shape[0] < 2 or b.shape[0] < 2:
        raise ValueError("the Fréchet distance needs at least 2 frames on each side")
    return frechet_distance_from_stats(
        a.mean(axis=0), np.cov(a, rowvar=False), b.mean(axis=0), np.cov(b, rowvar=False)
    )


def _rms(wave: np.ndarray) -> float:
    wave = np.asarray(wave, dtype=np.float64).reshape(-1)
    return math.sqrt(float(np.mean(wave**2))) if wave.size else 0.0


def rms_ratio(estimate: np.ndarray, reference: np.ndarray) -> float:
    """``rms(estimate) / rms(reference)``: 1 is as loud; 0.1 is 20 dB too quiet."""
    return _rms(estimate) / max(_rms(reference), 1e-12)


def _frame_rms_db(wave: np.ndarray, size: int) -> np.ndarray:
    wave = np.asarray(wave, dtype=np.float64).reshape(-1)
    n_frames = -(-wave.shape[0] // size)
    padded = np.zeros(n_frames * size)
    padded[: wave.shape[0]] = wave
    rms = np.sqrt(np.mean(padded.reshape(n_frames, size) ** 2, axis=1))
    return 20.0 * np.log10(np.maximum(rms, 1e-12))


def silent_fraction(wave: np.ndarray, rate: int, threshold_db: float = -60.0) -> float:
    """Share of 50 ms frames whose RMS is below ``threshold_db`` dBFS (empty audio: 1.0)."""
    wave = np.asarray(wave).reshape(-1)
    if wave.size == 0:
        return 1.0
    levels = _frame_rms_db(wave, max(1, round(rate * 0.05)))
    return float(np.mean(levels < threshold_db))


def spectral_flatness(wave: np.ndarray, n_fft: int = 2048, threshold_db: float = -60.0) -> float:
    """Mean Wiener entropy (geometric / arithmetic mean of the power spectrum) of the frames
    louder than ``threshold_db`` dBFS.

    Near 0 for tones, about 0.56 for white noise (the value for a Hann periodogram); 0.0 when
    every frame is silent. A generator whose output is "full of noise" scores high.
    """
    wave = np.asarray(wave, dtype=np.float32).reshape(-1)
    power = stft_magnitude(wave, n_fft, n_fft // 4).astype(np.float64) ** 2
    # Parseval: the window-weighted mean square of each frame, in dBFS.
    window_energy = float(np.sum(hann(n_fft).astype(np.float64) ** 2))
    mean_square = power.sum(axis=1) * 2.0 / (n_fft * window_energy)
    loud = power[10.0 * np.log10(np.maximum(mean_square, 1e-24)) >= threshold_db]
    if loud.shape[0] == 0:
        return 0.0
    loud = np.maximum(loud, 1e-20)
    flatness = np.exp(np.mean(np.log(loud), axis=1)) / np.mean(loud, axis=1)
    return float(np.mean(flatness))
