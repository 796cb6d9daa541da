"""Kara's DSP against librosa, the reference (a dev dependency, never imported by plugins)."""

from __future__ import annotations

import numpy as np
import pytest
from kara_transforms.mel import MelOptions, MelTransform

from kara_core import audio
from kara_core.audio import mel_filterbank
from kara_core.audio.spectral import spectral_convergence
from kara_core.testing import music_like_signal

librosa = pytest.importorskip("librosa")

RATE = 22050


@pytest.fixture(scope="module")
def music() -> np.ndarray:
    return music_like_signal(3.0, RATE, seed=3)


@pytest.mark.parametrize(("n_fft", "hop"), [(1024, 256), (512, 128), (2048, 512), (256, 100)])
def test_stft_matches_librosa(music: np.ndarray, n_fft: int, hop: int) -> None:
    ours = audio.stft(music, n_fft, hop)
    theirs = librosa.stft(music, n_fft=n_fft, hop_length=hop).T
    assert ours.shape == theirs.shape
    assert np.max(np.abs(ours - theirs)) <= 1e-5 * np.max(np.abs(theirs))


@pytest.mark.parametrize(("n_fft", "hop"), [(1024, 256), (512, 128), (256, 100)])
def test_istft_matches_librosa(music: np.ndarray, n_fft: int, hop: int) -> None:
    spec = librosa.stft(music, n_fft=n_fft, hop_length=hop)
    theirs = librosa.istft(spec, n_fft=n_fft, hop_length=hop, length=music.shape[0])
    for precise in (False, True):
        ours = audio.istft(spec.T, n_fft, hop, music.shape[0], precise=precise)
        assert ours.dtype == np.float32 and ours.shape == theirs.shape
        assert np.max(np.abs(ours - theirs)) <= 1e-5 * np.max(np.abs(theirs))


@pytest.mark.parametrize(
    ("rate", "n_fft", "n_mels", "fmin", "fmax"),
    [(22050, 1024, 128, 0.0, None), (16000, 512, 40, 50.0, 7000.0),
     (44100, 2048, 256, 20.0, 16000.0), (8000, 256, 32, 0.0, None)],
)
def test_mel_filterbank_matches_librosa(
    rate: int, n_fft: int, n_mels: int, fmin: float, fmax: float | None
) -> None:
    ours = mel_filterbank(rate, n_fft, n_mels, fmin, fmax)
    theirs = librosa.filters.mel(sr=rate, n_fft=n_fft, n_mels=n_mels, fmin=fmin, fmax=fmax)
    assert ours.shape == theirs.shape
    assert np.max(np.abs(ours - theirs)) <= 1e-5


@pytest.mark.parametrize("n_iter", [8, 32])
def test_griffin_lim_is_at_least_as_good_as_librosa(music: np.ndarray, n_iter: int) -> None:
    n_fft, hop = 1024, 256
    mags = np.abs(librosa.stft(music, n_fft=n_fft, hop_length=hop))
    ours = audio.griffin_lim(mags.T, n_fft, hop, music.shape[0], n_iter)
    theirs = librosa.griffinlim(
        mags, n_iter=n_iter, hop_length=hop, n_fft=n_fft, length=music.shape[0], random_state=0
    )
    ours_sc = spectral_convergence(music, ours)
    theirs_sc = spectral_convergence(music, theirs)
    assert ours_sc <= theirs_sc, f"Kara {ours_sc:.4f} vs librosa {theirs_sc:.4f}"


def test_mel_inversion_is_at_least_as_good_as_librosa(music: np.ndarray) -> None:
    n_fft, hop, n_mels, n_iter = 1024, 256, 128, 16
    transform = MelTransform(MelOptions(n_mels=n_mels, n_fft=n_fft, hop=hop, n_iter=n_iter))
    ours = transform.inverse(transform.forward(music), music.shape[0])
    ours_sc = spectral_convergence(music, ours)
    for power in (2.0, 1.0):  # librosa's default (power) and the magnitude mel Kara uses
        mel = librosa.feature.melspectrogram(
            y=music, sr=RATE, n_fft=n_fft, hop_length=hop, n_mels=n_mels, power=power
        )
        # mel_to_audio is exactly these two calls; spelled out to seed its random phase.
        linear = librosa.feature.inverse.mel_to_stft(mel, sr=RATE, n_fft=n_fft, power=power)
        theirs = librosa.griffinlim(
            linear, n_iter=n_iter, hop_length=hop, n_fft=n_fft, length=music.shape[0],
            random_state=0,
        )
        theirs_sc = spectral_convergence(music, theirs)
        assert ours_sc <= theirs_sc, f"power {power}: Kara {ours_sc:.4f} vs {theirs_sc:.4f}"
