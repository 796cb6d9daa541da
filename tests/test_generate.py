"""Generation: prompt, continuation, length, clipping guard, files, prompt decoding, drift."""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass

import numpy as np
import pytest
import soundfile as sf
from kara_baselines.models import BaselineOptions, PersistenceModel
from kara_lame.decoder import LameDecoder
from kara_soundfile.decoder import SoundfileDecoder
from kara_transforms.raw import RawOptions, RawTransform

from kara_core.components import SongExcerpt
from kara_core.errors import KaraError
from kara_core.pipeline import generate as gen
from kara_core.pipeline.evaluate import drift_curve, teacher_windows
from tests.support.cli import run_kara

RATE = 8000


@dataclass
class Features:
    """What generation uses of a FeatureSet: per-feature mean and std, and the range of
    the training frames (``low``, ``high``: generated frames are limited to it)."""

    mean: np.ndarray
    std: np.ndarray
    low: np.ndarray
    high: np.ndarray

    def normalise(self, frames: np.ndarray) -> np.ndarray:
        return ((frames - self.mean) / self.std).astype(np.float32)

    def denormalise(self, frames: np.ndarray) -> np.ndarray:
        return (frames * self.std + self.mean).astype(np.float32)


class Constant(PersistenceModel):
    """A model that always outputs one fixed normalised frame."""

    def __init__(self, value: float, frame_dim: int) -> None:
        super().__init__(BaselineOptions(input_frames=4, output_frames=2), frame_dim)
        self.value = value

    def generate(self, prompt, n_frames, temperature=0.0, seed=0):
        return np.full((n_frames, self.frame_dim), self.value, np.float32)


def setup(frame: int = 64):
    transform = RawTransform(RawOptions(frame_size=frame), sample_rate=RATE)
    rng = np.random.default_rng(0)
    features = Features(mean=rng.normal(0, 0.01, frame).astype(np.float32),
                        std=np.full(frame, 0.2, np.float32),
                        low=np.full(frame, -0.45, np.float32),
                        high=np.full(frame, 0.45, np.float32))
    model = PersistenceModel(BaselineOptions(input_frames=4, output_frames=2), frame_dim=frame)
    return transform, features, model


def music(seconds: float, rate: int = RATE) -> np.ndarray:
    t = np.arange(int(seconds * rate)) / rate
    return (0.3 * np.sin(2 * np.pi * 220 * t) + 0.1 * np.sin(2 * np.pi * 331 * t)).astype(
        np.float32)


def test_continuation_has_the_requested_length_and_continues_the_prompt():
    transform, features, model = setup()
    wave = music(3.0)
    result = gen.generate_audio(model, transform, features, wave, rate=RATE,
                                prompt_seconds=1.0, seconds=1.5)
    assert result.wave.shape == (int(1.5 * RATE),) and result.wave.dtype == np.float32
    assert result.seconds == pytest.approx(1.5)
    assert result.prompt_wave.shape == (RATE,)
    np.testing.assert_array_equal(result.prompt_wave, wave[:RATE])
    assert result.frames.shape == (gen.frames_for(1.5, RATE, 64), 64)
    # persistence repeats the prompt's last frame: de-normalisation must give it back
    last = wave[RATE - 64: RATE]
    np.testing.assert_allclose(result.wave[:64], last, atol=1e-5)
    np.testing.assert_allclose(result.wave[64:128], last, atol=1e-5)
    assert not result.peak_limited and result.peak <= 1.0
    assert 0 < result.rtf < 1.0 and result.x_realtime == pytest.approx(1 / result.rtf)


def with_range(features: Features, low: float, high: float) -> Features:
    frame = features.mean.shape[0]
    return Features(features.mean, features.std, np.full(frame, low, np.float32),
                    np.full(frame, high, np.float32))


def test_clipping_audio_is_limited_and_says_so_quiet_audio_is_untouched():
    transform, features, _model = setup()
    wide = with_range(features, -5.0, 5.0)  # training songs this loud: nothing is limited
    loud = gen.generate_audio(Constant(20.0, 64), transform, wide, music(1), rate=RATE,
                              prompt_seconds=0.5, seconds=0.5)
    assert loud.clipped_fraction == 0.0
    assert loud.peak_limited and loud.peak > 3.0
    assert 0.9 < np.max(np.abs(loud.wave)) <= gen.PEAK_TARGET
    quiet = gen.generate_audio(Constant(0.5, 64), transform, features, music(1), rate=RATE,
                               prompt_seconds=0.5, seconds=0.5)
    assert not quiet.peak_limited and quiet.clipped_fraction == 0.0
    np.testing.assert_allclose(quiet.wave[:64], features.mean + 0.1, atol=1e-6)


def test_a_few_clicks_are_limited_and_the_music_around_them_keeps_its_level():
    """Generated audio whose attacks invert to clicks far louder than the music: the clicks
    come down to the ceiling, the music between them stays as loud as it was (scaling the
    whole clip by its loudest click would have taken it 14 dB down)."""
    rng = np.random.default_rng(0)
    music_part = (0.2 * rng.standard_normal(RATE * 2)).astype(np.float32)
    clicks = music_part.copy()
    clicks[RATE // 4 :: RATE // 2] = 5.0
    limited, peak, was_limited = gen.limit_peaks(clicks, RATE)
    assert was_limited and peak == pytest.approx(5.0)
    assert np.max(np.abs(limited)) <= gen.PEAK_TARGET
    away = np.ones(clicks.size, bool)  # more than the limiter's reach from every click
    reach = round(2 * gen.LIMITER_SECONDS * RATE) + 2
    for at in range(RATE // 4, clicks.size, RATE // 2):
        away[max(0, at - reach) : at + reach] = False
    np.testing.assert_allclose(limited[away], music_part[away], atol=1e-6)
    untouched, _, was = gen.limit_peaks(music_part * 0.5, RATE)
    assert not was and np.array_equal(untouched, music_part * 0.5)


class Drifting(PersistenceModel):
    """Every other generated frame 40 standard deviations out, in its first 16 features."""

    def generate(self, prompt, n_frames, temperature=0.0, seed=0):
        frames = np.zeros((n_frames, self.frame_dim), np.float32)
        frames[::2, :16] = 40.0
        return frames


def test_frames_outside_the_training_range_are_limited_and_the_fraction_recorded(tmp_path):
    """docs/guide.md: generated features are kept within the range the training songs contain,
    the fraction limited recorded as clipped_fraction."""
    transform, features, _model = setup()
    drifting = Drifting(BaselineOptions(input_frames=4, output_frames=2), frame_dim=64)
    result = gen.generate_audio(drifting, transform, features, music(1), rate=RATE,
                                prompt_seconds=0.5, seconds=1.0)
    n_frames = gen.frames_for(1.0, RATE, 64)
    assert result.clipped_fraction == pytest.approx(len(range(0, n_frames, 2)) * 16 /
                                                    (n_frames * 64))
    frames = result.wave[: n_frames * 64].reshape(n_frames, 64)
    np.testing.assert_allclose(frames[0, :16], 0.45, atol=1e-6)  # limited to the high end
    np.testing.assert_allclose(frames[0, 16:], features.mean[16:], atol=1e-6)  # untouched
    np.testing.assert_allclose(frames[1], features.mean, atol=1e-6)
    assert not result.peak_limited and result.peak == pytest.approx(0.45, abs=1e-6)
    # without the limit the same frames would reach 8.0 and have their peaks limited
    unlimited = gen.generate_audio(drifting, transform, with_range(features, -100, 100),
                                   music(1), rate=RATE, prompt_seconds=0.5, seconds=1.0)
    assert unlimited.clipped_fraction == 0.0 and unlimited.peak_limited
    prompt = SongExcerpt(music(1), "song.wav", held_out=True)
    settings = gen.GenerateSettings(rate=RATE, seconds=1.0, prompt_seconds=0.5, temperature=0.0)
    record = gen.generation_record(result, prompt, settings, ["generated.wav"])
    assert record["clipped_fraction"] == round(result.clipped_fraction, 5) > 0.1


def test_a_diverged_model_is_an_error_not_a_wav_of_nans():
    transform, features, _model = setup()
    with pytest.raises(KaraError, match="non-finite"):
        gen.generate_audio(Constant(np.nan, 64), transform, features, music(1), rate=RATE,
                           prompt_seconds=0.5, seconds=0.5)
    with pytest.raises(KaraError, match="shape"):
        gen.generate_audio(Constant(0.0, 32), transform, features, music(1), rate=RATE,
                           prompt_seconds=0.5, seconds=0.5)


def test_prompt_shorter_than_a_frame_still_gives_the_model_one_frame():
    transform, features, _model = setup()
    audio, frames = gen.prompt_frames(music(1), 0.0, transform, features, RATE)
    assert frames.shape == (1, 64) and audio.shape == (64,)


def test_wav_prompt_is_mixed_to_mono_and_resampled(tmp_path):
    from kara_core.config import load_config
    from kara_core.plugins import get_plugin_manager

    config = tmp_path / "kara.yaml"
    config.write_text(f"dataset: {{sample_rate: {RATE}}}\ntransform: {{type: raw}}\n"
                      "model: {type: persistence}\n")
    variant = load_config(config, get_plugin_manager().registry).base
    stereo = np.stack([music(2.0, 44100), -music(2.0, 44100) * 0.5], axis=1)
    sf.write(tmp_path / "p.wav", stereo, 44100, subtype="PCM_16")
    wave = load(tmp_path / "p.wav", variant)
    assert wave.dtype == np.float32 and wave.ndim == 1
    assert abs(wave.shape[0] - 2 * RATE) <= 2
    reference = music(2.0) * 0.25
    n = min(len(wave), len(reference)) - 100
    assert np.corrcoef(wave[100:n], reference[100:n])[0, 1] > 0.99

    if shutil.which("lame"):
        subprocess.run(["lame", "--quiet", str(tmp_path / "p.wav"), str(tmp_path / "p.mp3")],
                       check=True)
        decoded = load(tmp_path / "p.mp3", variant)
        assert abs(decoded.shape[0] - 2 * RATE) < 0.1 * RATE  # mp3 adds encoder padding
        assert np.sqrt(np.mean(decoded**2)) == pytest.approx(np.sqrt(np.mean(wave**2)), rel=0.2)

    with pytest.raises(KaraError, match="not found"):
        load(tmp_path / "missing.wav", variant)
    (tmp_path / "junk.wav").write_bytes(b"RIFF0000WAVEjunk")
    with pytest.raises(KaraError, match=r"junk\.wav"):
        load(tmp_path / "junk.wav", variant)


def test_audio_files_are_written_atomically_and_readable(tmp_path):
    wave = music(1.0)
    gen.write_audio(tmp_path / "out.wav", wave, RATE)
    back, rate = sf.read(tmp_path / "out.wav", dtype="float32")
    assert rate == RATE and back.shape == wave.shape
    np.testing.assert_allclose(back, wave, atol=1e-4)
    if not shutil.which("lame"):
        pytest.skip("lame not installed: mp3 output not testable")
    with pytest.raises(KaraError, match=r"out\.mp3: no decoder of this variant \(soundfile\)"):
        gen.write_audio(tmp_path / "out.mp3", wave, RATE, [SoundfileDecoder()])
    gen.write_audio(tmp_path / "out.mp3", wave, RATE, [SoundfileDecoder(), LameDecoder()])
    mp3, _rate = sf.read(tmp_path / "out.mp3", dtype="float32")
    assert mp3.shape[0] >= wave.shape[0] * 0.9
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.mp3", "out.wav"]


def test_teacher_windows_hold_the_true_frames_before_each_step():
    frames = np.arange(20, dtype=np.float32).reshape(10, 2)
    windows = teacher_windows(frames, start=3, steps=5, context=4)
    assert windows.shape == (5, 4, 2)
    for k in range(5):
        np.testing.assert_array_equal(windows[k][-1], frames[3 + k - 1])
    np.testing.assert_array_equal(windows[0][0], np.zeros(2))  # left padding


def test_drift_curve_separates_free_running_from_teacher_forcing():
    model = PersistenceModel(BaselineOptions(input_frames=4, output_frames=2), frame_dim=8)
    t = np.arange(300, dtype=np.float32)[:, None]
    frames = np.sin(t / 20 + np.arange(8)[None, :]).astype(np.float32)
    curve = drift_curve(model, frames, prompt_frames=50, max_steps=120)
    assert curve.steps == 120 and curve.start == 50
    # fed the truth, persistence is only one step off; fed itself it never moves
    assert curve.teacher.mean() < curve.free.mean() / 10
    np.testing.assert_allclose(curve.free, curve.persistence, atol=1e-6)
    assert curve.free[-1] > curve.free[0]
    summary = curve.summary()
    assert summary["steps"] == 120 and summary["free_mse_mean"] > summary[
        "teacher_forced_mse_mean"]
    short = drift_curve(model, frames[:60], prompt_frames=50, max_steps=120)
    assert short.steps == 10


def test_generate_rejects_a_bad_seconds_value_in_one_line():
    result = run_kara("generate", "kara.yaml", "--seconds", "-3")
    assert result.returncode == 2
    assert "--seconds" in result.stderr and "Traceback" not in result.stderr
    for flag, value in (("--temperature", "-1"), ("--temperature", "11"), ("--seed", "-2")):
        result = run_kara("generate", "kara.yaml", flag, value)
        assert result.returncode == 2, (flag, value)
        assert flag in result.stderr and "Traceback" not in result.stderr


def test_generated_audio_measures_tell_music_noise_and_silence_apart():
    from kara_core.pipeline.evaluate import evaluate_audio

    reference = music(4.0)
    similar = np.roll(music(4.0), 123)[: 2 * RATE]
    noise = np.random.default_rng(0).normal(0, 0.2, 2 * RATE).astype(np.float32)
    silence = np.zeros(2 * RATE, np.float32)
    close, noisy, quiet = (evaluate_audio(w, reference, RATE) for w in (similar, noise, silence))
    assert close["mel_frechet"] < noisy["mel_frechet"] / 10
    assert noisy["spectral_flatness"] > 10 * close["spectral_flatness"]
    assert close["rms_ratio"] == pytest.approx(1.0, abs=0.02)
    assert close["silent_fraction"] == 0.0 and quiet["silent_fraction"] == 1.0
    assert quiet["rms_ratio"] == 0.0
    assert close["reference_seconds"] == pytest.approx(4.0)


def test_generated_features_are_limited_to_what_the_training_songs_contain():
    """Noise-driven drift far outside the training range never reaches the audio."""
    from types import SimpleNamespace

    from kara_core.pipeline.generate import clip_to_training_range

    features = SimpleNamespace(low=np.array([0.0, -1.0], np.float32),
                               high=np.array([2.0, 1.0], np.float32))
    drifted = np.array([[1.0, 0.5], [50.0, -40.0], [1.5, 0.0]], np.float32)
    clipped, fraction = clip_to_training_range(drifted, features)
    assert clipped.tolist() == [[1.0, 0.5], [2.0, -1.0], [1.5, 0.0]]
    assert fraction == 2 / 6
    inside, none = clip_to_training_range(drifted[[0, 2]], features)
    assert none == 0.0 and np.array_equal(inside, drifted[[0, 2]])


def load(path, variant):
    """The user's prompt file as ``kara generate --prompt`` reads it for ``variant``."""
    return gen.load_prompt_file(path, variant.dataset.sample_rate,
                                variant.generate.prompt_seconds, variant.build_decoders())


def prompt_variant(tmp_path, prompt_seconds: float = 2.0):
    from kara_core.config import load_config
    from kara_core.plugins import get_plugin_manager

    config = tmp_path / "kara.yaml"
    config.write_text(f"dataset: {{sample_rate: {RATE}}}\ntransform: {{type: raw}}\n"
                      f"model: {{type: persistence}}\ngenerate: {{prompt_seconds: "
                      f"{prompt_seconds}}}\n")
    return load_config(config, get_plugin_manager().registry).base


def test_a_long_wav_prompt_is_read_only_as_far_as_it_is_used(tmp_path):
    variant = prompt_variant(tmp_path)
    long = np.tile(music(10.0), 15)  # 150 s
    sf.write(tmp_path / "long.wav", long, RATE, subtype="PCM_16")
    wave = load(tmp_path / "long.wav", variant)
    assert wave.shape == (int(gen.MAX_ROUNDTRIP_SECONDS * RATE),)
    np.testing.assert_allclose(wave[:RATE], long[:RATE], atol=1e-4)
    (tmp_path / "longer").mkdir()
    longer = prompt_variant(tmp_path / "longer", prompt_seconds=90.0)  # a longer prompt
    assert load(tmp_path / "long.wav", longer).shape == (90 * RATE,)


class Endless(SoundfileDecoder):
    """A decoder whose stream never ends (a two-hour mp3, or worse): decode() would hang."""

    name = "endless"
    blocks_read = 0
    closed = False

    def check(self) -> None:
        pass

    def decode(self, path):
        raise AssertionError("the whole file was decoded for a prompt")

    def stream(self, path, block_frames: int = 65536):
        import contextlib

        from kara_core import AudioStream

        @contextlib.contextmanager
        def opened():
            def blocks():
                while True:
                    Endless.blocks_read += 1
                    yield np.full((4096, 2), 0.1, np.float32)

            try:
                yield AudioStream(RATE, 2, blocks())
            finally:
                Endless.closed = True

        return opened()


def test_an_mp3_prompt_is_streamed_and_the_decoder_stopped_once_enough_came(tmp_path):
    import dataclasses

    variant = prompt_variant(tmp_path)
    endless = dataclasses.replace(variant.decoder, type="endless", cls=Endless)
    variant = dataclasses.replace(variant, decoder=endless, decoder_fallback=None)
    (tmp_path / "two-hours.mp3").write_bytes(b"\xff\xfb" * 100)
    wave = load(tmp_path / "two-hours.mp3", variant)
    wanted = int(gen.MAX_ROUNDTRIP_SECONDS * RATE)
    assert wave.shape == (wanted,) and np.allclose(wave, 0.1)
    assert Endless.blocks_read == -(-wanted // 4096) and Endless.closed
