"""The built-in transforms: the shared contract, their options, and the test kit itself."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from kara_transforms.fft import FftTransform
from kara_transforms.mel import MelOptions, MelTransform
from kara_transforms.raw import RawTransform
from kara_transforms.stft import StftOptions, StftTransform

from kara_core.audio.spectral import snr_db, spectral_convergence
from kara_core.components import RoundTripTolerance, Transform
from kara_core.config import load_config
from kara_core.errors import ConfigError, KaraError
from kara_core.plugins import get_plugin_manager
from kara_core.testing import check_transform, music_like_signal

BUILT_INS: list[tuple[type[Transform], dict[str, Any]]] = [
    (RawTransform, {}),
    (RawTransform, {"frame_size": 333}),
    (FftTransform, {}),
    (FftTransform, {"layout": "magnitude"}),
    (FftTransform, {"layout": "magnitude", "phase": "random"}),
    (FftTransform, {"layout": "magnitude", "phase": "zero"}),
    (StftTransform, {}),
    (StftTransform, {"features": "complex"}),
    (StftTransform, {"n_fft": 512, "hop": 128, "n_iter": 0}),
    (MelTransform, {}),
    (MelTransform, {"n_mels": 64, "fmin": 30.0, "fmax": 8000.0, "n_iter": 4}),
]


@pytest.mark.parametrize(
    ("cls", "options"), BUILT_INS, ids=[f"{c.name}-{o}" for c, o in BUILT_INS]
)
def test_every_built_in_passes_the_contract(cls: type[Transform], options: dict) -> None:
    check_transform(cls, **options)


@pytest.mark.parametrize("rate", [16000, 44100])
def test_contract_holds_at_other_sample_rates(rate: int) -> None:
    check_transform(StftTransform, sample_rate=rate, n_iter=8)
    check_transform(MelTransform, sample_rate=rate, n_iter=8)


def test_all_four_are_registered() -> None:
    registry = get_plugin_manager().registry
    assert {"raw", "fft", "stft", "mel"} <= set(registry.names("transforms"))
    assert registry.get("transforms", "stft").cls is StftTransform


def test_lossless_transforms_give_the_music_back() -> None:
    wave = music_like_signal(3.0)
    for transform in (
        RawTransform(), FftTransform(), StftTransform(StftOptions(features="complex"))
    ):
        out = transform.inverse(transform.forward(wave), wave.shape[0])
        assert transform.lossless
        assert snr_db(wave, out) >= 100.0, transform.describe()


@settings(max_examples=30, deadline=None)
@given(length=st.integers(min_value=0, max_value=5000), seed=st.integers(0, 2**16))
def test_lossless_round_trips_hold_at_any_length(length: int, seed: int) -> None:
    wave = (0.3 * np.random.default_rng(seed).standard_normal(length)).astype(np.float32)
    for transform in (
        RawTransform(), FftTransform(), StftTransform(StftOptions(n_fft=256, hop=64,
                                                                 features="complex")),
    ):
        frames = transform.forward(wave)
        assert frames.shape[0] >= -(-length // transform.hop)
        out = transform.inverse(frames, length)
        assert out.shape == (length,) and out.dtype == np.float32
        if length:
            assert snr_db(wave, out) >= 100.0, (transform.describe(), length)


def test_default_stft_is_log_magnitude_and_close_in_spectrum() -> None:
    transform = StftTransform()
    wave = music_like_signal(3.0)
    frames = transform.forward(wave)
    assert frames.shape == (wave.shape[0] // 256 + 1, 513)
    assert not transform.lossless
    out = transform.inverse(frames, wave.shape[0])
    assert spectral_convergence(wave, out) < 0.08


def test_more_griffin_lim_iterations_sound_closer() -> None:
    wave = music_like_signal(2.0)
    scores = []
    for n_iter in (0, 8, 32):
        transform = StftTransform(StftOptions(n_iter=n_iter))
        out = transform.inverse(transform.forward(wave), wave.shape[0])
        scores.append(spectral_convergence(wave, out))
    assert scores[0] > scores[1] > scores[2]


def test_silence_gives_moderate_features_and_silence_back() -> None:
    silence = np.zeros(22050, np.float32)
    for transform in (StftTransform(), MelTransform()):
        frames = transform.forward(silence)
        assert np.allclose(frames, np.log(1e-5), atol=1e-4)  # log(eps), not -inf
        assert np.max(np.abs(transform.inverse(frames, silence.shape[0]))) < 1e-8


def test_model_blow_ups_come_back_as_finite_audio() -> None:
    for transform in (
        StftTransform(), StftTransform(StftOptions(features="complex")), MelTransform(),
        FftTransform(), RawTransform(),
    ):
        frames = np.full((20, transform.frame_dim), np.nan, dtype=np.float32)
        frames[10:15] = 1e30
        frames[15:] = np.inf
        out = transform.inverse(frames, 20 * transform.hop)
        assert out.shape == (20 * transform.hop,) and np.all(np.isfinite(out))


def test_inverse_rejects_frames_of_the_wrong_width() -> None:
    with pytest.raises(ValueError, match=r"\[T, 513\]"):
        StftTransform().inverse(np.zeros((4, 100), np.float32), 1024)


def test_describe_names_the_key_options() -> None:
    assert StftTransform().describe() == "stft 1024/256 log_magnitude, 32 GL iter"
    assert FftTransform().describe() == "fft 1024 complex"
    assert "128 bands" in MelTransform().describe()


# --------------------------------------------------------------------------- options


def load(tmp_path: Path, transform_yaml: str) -> Any:
    path = tmp_path / "kara.yaml"
    path.write_text(f"name: t\ntransform: {transform_yaml}\n", encoding="utf-8")
    return load_config(path, get_plugin_manager().registry)


@pytest.mark.parametrize(
    ("transform_yaml", "message"),
    [
        ("{type: stft, options: {n_fft: 1024, hop: 600}}", "hop (600) must be at most n_fft"),
        ("{type: stft, options: {n_fft: 1023}}", "n_fft must be even"),
        ("{type: stft, options: {features: phase}}", "features: expected one of"),
        ("{type: mel, options: {fmin: 5000, fmax: 4000}}", "fmax (4000.0) must be above fmin"),
        ("{type: mel, options: {n_mels: many}}", "n_mels: expected int"),
        ("{type: fft, options: {frame_size: 1001}}", "frame_size must be even"),
        ("{type: fft, options: {phase: wild}}", "phase: expected one of"),
    ],
)
def test_bad_options_name_the_yaml_path(tmp_path: Path, transform_yaml: str, message: str) -> None:
    with pytest.raises(ConfigError) as info:
        load(tmp_path, transform_yaml)
    text = str(info.value)
    assert "transform.options" in text and message in text


def test_mel_above_nyquist_is_a_one_line_user_error() -> None:
    with pytest.raises(KaraError, match=r"fmax 12000 Hz is above half the sample rate"):
        MelTransform(MelOptions(fmax=12000.0), sample_rate=16000)
    with pytest.raises(KaraError, match="contain no FFT bin"):
        MelTransform(MelOptions(n_mels=512, n_fft=256, hop=64), sample_rate=22050)


# --------------------------------------------------------------------------- the kit


@dataclass(frozen=True)
class NoOpts:
    """No options."""


class Framer(Transform):
    """A correct raw-like transform the broken variants below override one piece of."""

    name = "framer"
    Options = NoOpts

    @property
    def frame_dim(self) -> int:
        return 64

    @property
    def hop(self) -> int:
        return 64

    @property
    def tolerance(self) -> RoundTripTolerance:
        return RoundTripTolerance(min_snr_db=100.0)

    def forward(self, wave: np.ndarray) -> np.ndarray:
        wave = np.asarray(wave, np.float32)
        n = max(1, -(-wave.shape[0] // 64))
        padded = np.zeros(n * 64, np.float32)
        padded[: wave.shape[0]] = wave
        return padded.reshape(n, 64)

    def inverse(self, frames: np.ndarray, length: int) -> np.ndarray:
        flat = np.asarray(frames, np.float32).reshape(-1)
        out = np.zeros(length, np.float32)
        out[: min(length, flat.shape[0])] = flat[:length]
        return out


class LongerOutput(Framer):
    def inverse(self, frames: np.ndarray, length: int) -> np.ndarray:
        return np.asarray(frames, np.float32).reshape(-1)


class Float64Frames(Framer):
    def forward(self, wave: np.ndarray) -> np.ndarray:
        return super().forward(wave).astype(np.float64)


class Noisy(Framer):
    def inverse(self, frames: np.ndarray, length: int) -> np.ndarray:
        out = super().inverse(frames, length)
        return out + np.random.default_rng().normal(0, 1e-3, out.shape).astype(np.float32)


class LogOfZero(Framer):
    def forward(self, wave: np.ndarray) -> np.ndarray:
        with np.errstate(divide="ignore"):
            return np.log(np.abs(super().forward(wave)))


class HalfFrames(Framer):
    def forward(self, wave: np.ndarray) -> np.ndarray:
        return super().forward(wave)[::2]


class Overpromising(Framer):
    def inverse(self, frames: np.ndarray, length: int) -> np.ndarray:
        out = super().inverse(frames, length)
        return (out + 0.01 * np.sign(out)).astype(np.float32)


@pytest.mark.parametrize(
    ("cls", "message"),
    [
        (LongerOutput, "must return exactly"),
        (Float64Frames, "must return float32, got float64"),
        (Noisy, "not deterministic"),
        (LogOfZero, "NaN or inf"),
        (HalfFrames, "should give between"),
        (Overpromising, "expected at least 100 dB"),
    ],
)
def test_the_kit_catches_broken_transforms(cls: type[Transform], message: str) -> None:
    check_transform(Framer)  # the unbroken original passes
    with pytest.raises(AssertionError, match=message):
        check_transform(cls)


def test_the_kit_validates_options_like_kara_yaml() -> None:
    from kara_core.options import OptionError

    with pytest.raises(OptionError, match="hop: expected int"):
        check_transform(StftTransform, hop="fast")
