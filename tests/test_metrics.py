"""kara_core.audio.spectral on cases whose answer is known in closed form."""

from __future__ import annotations

import math

import numpy as np
import pytest

from kara_core.audio import spectral as metrics

RATE = 16000


def noise(n: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal(n)


def orthogonal_noise(x: np.ndarray, level_db: float, seed: int = 1) -> np.ndarray:
    """Noise exactly ``level_db`` below ``x`` in energy and orthogonal to it."""
    n = noise(x.size, seed)
    n -= x * (np.dot(n, x) / np.dot(x, x))
    return n * math.sqrt(np.dot(x, x) / np.dot(n, n) * 10 ** (level_db / 10))


def test_snr_of_noise_at_a_known_level() -> None:
    x = noise(RATE)
    assert metrics.snr_db(x, x + orthogonal_noise(x, -20.0)) == pytest.approx(20.0, abs=1e-9)
    assert metrics.snr_db(x, x + orthogonal_noise(x, 7.5)) == pytest.approx(-7.5, abs=1e-9)


def test_snr_of_a_perfect_copy_is_the_cap_not_infinity() -> None:
    x = noise(1000)
    assert metrics.snr_db(x, x.copy()) == metrics.MAX_DB
    assert metrics.snr_db(np.zeros(10), np.zeros(10)) == metrics.MAX_DB
    assert metrics.snr_db(np.zeros(10), np.ones(10)) == -metrics.MAX_DB


def test_lengths_must_match() -> None:
    with pytest.raises(ValueError, match="1000 samples, estimate 999"):
        metrics.snr_db(noise(1000), noise(999))


def test_si_sdr_ignores_gain_but_snr_does_not() -> None:
    x = noise(RATE)
    estimate = x + orthogonal_noise(x, -15.0)
    assert metrics.si_sdr_db(x, estimate) == pytest.approx(15.0, abs=1e-9)
    assert metrics.si_sdr_db(x, 3.0 * estimate) == pytest.approx(15.0, abs=1e-9)
    assert metrics.si_sdr_db(x, 0.25 * x) == metrics.MAX_DB
    assert metrics.snr_db(x, 0.5 * x) == pytest.approx(20 * math.log10(2.0), abs=1e-9)


def test_spectral_convergence_known_values() -> None:
    x = noise(RATE).astype(np.float32)
    assert metrics.spectral_convergence(x, x) == 0.0
    assert metrics.spectral_convergence(x, 2.0 * x) == pytest.approx(1.0, rel=1e-5)
    assert metrics.spectral_convergence(x, np.zeros_like(x)) == pytest.approx(1.0)
    # Phase-blind: a sign flip changes every sample but no magnitude.
    assert metrics.spectral_convergence(x, -x) == pytest.approx(0.0, abs=1e-6)


def test_log_spectral_distance_of_a_gain_is_the_gain_in_db() -> None:
    x = noise(RATE).astype(np.float32)
    assert metrics.log_spectral_distance_db(x, x) == 0.0
    assert metrics.log_spectral_distance_db(x, 2.0 * x) == pytest.approx(
        20 * math.log10(2.0), abs=0.01
    )


def test_multi_resolution_stft_distance_known_values() -> None:
    x = noise(RATE).astype(np.float32)
    assert metrics.multi_resolution_stft_distance(x, x) == 0.0
    # per resolution: SC = 1 and mean |log 2| = 0.693
    assert metrics.multi_resolution_stft_distance(x, 2.0 * x) == pytest.approx(
        1.0 + math.log(2.0), abs=1e-3
    )
    assert metrics.MR_STFT_SIZES == (2048, 1024, 512, 256)


def test_real_time_factor() -> None:
    assert metrics.real_time_factor(10.0, 2.0) == pytest.approx(0.2)
    assert metrics.real_time_factor(0.0, 1.0) == 0.0


def test_frechet_distance_known_values() -> None:
    feats = noise(4000).reshape(1000, 4)
    assert metrics.frechet_distance(feats, feats) == pytest.approx(0.0, abs=1e-9)
    shift = np.array([1.0, -2.0, 0.5, 0.0])
    assert metrics.frechet_distance(feats, feats + shift) == pytest.approx(5.25, abs=1e-9)
    # 1-D Gaussians: (mu_a - mu_b)^2 + (sigma_a - sigma_b)^2
    value = metrics.frechet_distance_from_stats(
        np.array([1.0]), np.array([[4.0]]), np.array([3.0]), np.array([[9.0]])
    )
    assert value == pytest.approx(4.0 + 1.0)
    with pytest.raises(ValueError, match="at least 2 frames"):
        metrics.frechet_distance(feats[:1], feats)


def test_log_mel_frames_are_finite_on_silence() -> None:
    frames = metrics.log_mel_frames(np.zeros(RATE, np.float32), RATE)
    assert frames.shape[1] == 64 and frames.shape[0] > 10
    assert np.all(np.isfinite(frames))


def test_rms_ratio_and_silent_fraction() -> None:
    tone = (0.3 * np.sin(2 * np.pi * 440 * np.arange(RATE) / RATE)).astype(np.float32)
    assert metrics.rms_ratio(0.5 * tone, tone) == pytest.approx(0.5)
    half_silent = np.concatenate([np.zeros(RATE, np.float32), tone])
    assert metrics.silent_fraction(half_silent, RATE) == pytest.approx(0.5)
    assert metrics.silent_fraction(1e-4 * tone, RATE) == 1.0  # -73 dBFS
    assert metrics.silent_fraction(np.zeros(0), RATE) == 1.0


def test_spectral_flatness_tells_noise_from_tones() -> None:
    white = (0.1 * noise(RATE * 2)).astype(np.float32)
    tone = (0.3 * np.sin(2 * np.pi * 440 * np.arange(RATE) / RATE)).astype(np.float32)
    assert metrics.spectral_flatness(white) == pytest.approx(0.56, abs=0.03)
    assert metrics.spectral_flatness(tone) < 0.01
    assert metrics.spectral_flatness(np.zeros(RATE, np.float32)) == 0.0
