"""``kara check``'s cost of a run: songs, hours and bytes right, time figures honest, a disk
warning when there is no room, and still no TensorFlow."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from kara_core.pipeline.cost import estimate, figures
from kara_core.pipeline.cost.speed import frame_counter
from kara_core.pipeline.parts import cost_inputs, featurize, run_prepare
from tests.support.audio import sf_mp3, signal
from tests.support.cli import REPO
from tests.support.training import variant_of

RATE = 16000
SECONDS = (3.0, 4.0, 5.0)
CONFIG = """\
name: t
runs_dir: runs
dataset: {mp3_dir: mp3, wav_dir: wav, cache_dir: cache, sample_rate: 16000, val_fraction: 0.34}
decoder: {type: soundfile}
transform: {type: stft, options: {n_fft: 512, hop: 128}}
model: {type: lstm_seq2seq, options: {layers: 1, units: 8, input_frames: 8, output_frames: 4}}
train: {epochs: 3, batch_size: 16, judge_seconds: 0}
variants:
  raw: {transform: {type: raw, options: {frame_size: 256}}}
"""


@pytest.fixture
def dataset(tmp_path):
    """Three mp3s of 3, 4 and 5 s at 16 kHz mono (libsndfile's encoder) and a config."""
    for number, seconds in enumerate(SECONDS):
        sf_mp3(tmp_path / "mp3" / f"song{number}.mp3", signal(seconds, RATE, seed=number), RATE)
    config = tmp_path / "kara.yaml"
    config.write_text(CONFIG, encoding="utf-8")
    return config


def cost_json(kara, config: Path) -> dict:
    result = kara("check", str(config), "--json")
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_songs_hours_and_bytes_from_the_mp3_headers(dataset, kara):
    data = cost_json(kara, dataset)
    base = data["variants"][0]["cost"]
    assert base["songs"] == 3 and base["lengths_from"] == "3 from mp3 headers"
    assert base["audio_s"] == pytest.approx(sum(SECONDS), abs=0.2)
    assert base["hours"] == round(base["audio_s"] / 3600, 3)
    assert (base["train_songs"], base["val_songs"]) == (2, 1)
    samples = sum(SECONDS) * RATE
    assert base["wav_bytes"] == pytest.approx(3 * 44 + 2 * samples, rel=0.01)
    assert base["wav_bytes_to_write"] == base["wav_bytes"]
    assert base["prepare"]["songs"] == 3 and base["featurize"]["songs"] == 3
    raw = data["variants"][1]["cost"]
    assert raw["cache"]["frame_dim"] == 256 and base["cache"]["frame_dim"] == 257
    assert data["cost"]["warnings"] == []


def test_bytes_are_exact_once_prepared_and_nothing_is_counted_twice(dataset, kara):
    variant = variant_of(dataset)
    report = run_prepare(variant, show_progress=False)
    features = featurize(variant, report.songs, show_progress=False)
    data = cost_json(kara, dataset)
    base = data["variants"][0]["cost"]
    assert base["lengths_from"] == "3 from the manifest"
    wavs = sum(p.stat().st_size for p in (dataset.parent / "wav").glob("*.wav"))
    assert base["wav_bytes"] == wavs and base["wav_bytes_to_write"] == 0
    npy = sum(p.stat().st_size for p in features.directory.glob("*.npy"))
    assert base["cache"]["npy_bytes"] == npy
    assert base["cache"]["frames"] == sum(s.n_frames for s in [*features.train, *features.val])
    assert base["cache"]["bytes_to_write"] == 0 and base["featurize"]["songs"] == 0
    assert base["prepare"]["seconds"] == 0 and base["featurize"]["seconds"] == 0
    trained = {Path(s.source).name for s in features.train}
    assert base["train_songs"] == len(trained) == 2
    assert base["train_audio_s"] == pytest.approx(
        sum(s.n_samples for s in features.train) / RATE, abs=0.01)
    raw = data["variants"][1]["cost"]  # another transform: its cache is still to write
    assert raw["featurize"]["songs"] == 3 and raw["cache"]["bytes_to_write"] > 0
    total = data["cost"]["total"]
    assert total["wav_bytes"] == wavs  # one dataset, counted once


def test_the_table_shows_songs_audio_and_disk(dataset, kara):
    result = kara("check", str(dataset))
    assert result.returncode == 0, result.stderr
    assert "what the run will cost" in result.stdout
    cost = result.stdout[result.stdout.index("what the run will cost"):]
    row = next(line for line in cost.splitlines() if line.startswith("│ base"))
    assert "│ 3 " in row and "12 s" in row  # 3 songs, 3 + 4 + 5 seconds of audio
    assert "song lengths: 3 from mp3 headers" in result.stdout


def test_a_warning_when_the_disk_has_no_room(dataset, kara, monkeypatch):
    real = shutil.disk_usage

    def nearly_full(path):
        return real(path)._replace(free=1000)

    monkeypatch.setattr(shutil, "disk_usage", nearly_full)
    result = kara("check", str(dataset))
    assert result.returncode == 0
    warning = [line for line in result.stderr.splitlines() if "not enough disk" in line]
    assert len(warning) == 1, result.stderr
    assert "1.0 kB free" in warning[0] and "wavs" in warning[0]
    data = cost_json(kara, dataset)
    assert len(data["cost"]["warnings"]) == 1


def test_training_time_is_steps_times_the_measured_step_or_unknown(dataset, monkeypatch):
    variant = variant_of(dataset)
    monkeypatch.setattr(figures, "TRAINING", [])
    row = estimate(cost_inputs([variant]))["variants"]["base"]["train"]
    assert row["seconds"] is None and row["how"].startswith("unknown")
    assert row["epochs"] == 3 and row["steps"] == 3 * row["steps_per_epoch"]
    signature = variant.build_model(257).signature()
    monkeypatch.setattr(figures, "TRAINING", [{
        "signature": signature, "batch_size": 16, "transform": "x", "step_s": 0.5,
        "val_window_s": 0.0, "judge_s": 0.0, "frame_s": 0.0, "fixed_s": 10.0}])
    row = estimate(cost_inputs([variant]))["variants"]["base"]["train"]
    assert row["seconds"] == pytest.approx(10.0 + 0.5 * row["steps"])


def test_judging_time_scales_with_the_clips_the_judge_generates(dataset, monkeypatch):
    """Judging time measured for one prompt, estimated for three: three clips and two
    same-seed partners (prompt_sensitivity pairs the judge's first two clips), five times
    the measured judgement per epoch."""
    import dataclasses

    variant = variant_of(dataset)
    variant = dataclasses.replace(variant, train=dataclasses.replace(
        variant.train, judge_seconds=2.0, judge_prompts=3))
    signature = variant.build_model(257).signature()
    monkeypatch.setattr(figures, "TRAINING", [{
        "signature": signature, "batch_size": 16, "transform": "x", "step_s": 0.0,
        "val_window_s": 0.0, "judge_s": 1.5, "judge_seconds": 2.0, "judge_prompts": 1,
        "frame_s": 0.0, "fixed_s": 0.0}])
    row = estimate(cost_inputs([variant]))["variants"]["base"]["train"]
    assert row["parts_s"]["judging"] == pytest.approx(row["epochs"] * 1.5 * 5, abs=0.1)


def test_prepare_time_uses_the_decoders_own_measured_speed(dataset, monkeypatch):
    """The speed is the decoder plugin's figure (``x_real_time_per_core``), not a table in
    the core naming decoders."""
    from kara_soundfile.decoder import SoundfileDecoder

    variant = variant_of(dataset)
    monkeypatch.setattr(SoundfileDecoder, "x_real_time_per_core", 100.0)
    row = estimate(cost_inputs([variant]))["variants"]["base"]["prepare"]
    assert row["decoder"] == "soundfile" and row["x_real_time_per_core"] == 100.0
    assert row["seconds"] == pytest.approx(sum(SECONDS) / (100.0 * row["workers"]), rel=0.05)
    monkeypatch.setattr(SoundfileDecoder, "x_real_time_per_core", None)
    assert estimate(cost_inputs([variant]))["variants"]["base"]["prepare"]["seconds"] is None


@pytest.mark.parametrize("transform", ["raw", "fft", "stft", "mel"])
def test_the_frame_count_rule_fits_every_builtin_transform(transform):
    from kara_core.plugins import get_plugin_manager

    cls = get_plugin_manager().registry.get("transforms", transform).cls
    built = cls(cls.Options(), sample_rate=RATE)
    count, exact = frame_counter(built)
    assert exact
    for n in (1, 255, 256, 1000, 4097, 12345):
        assert count(n) == built.forward(np.zeros(n, np.float32)).shape[0], n


def test_a_missing_or_empty_music_folder_is_one_error(tmp_path, kara):
    config = tmp_path / "kara.yaml"
    config.write_text(CONFIG, encoding="utf-8")
    result = kara("check", str(config))
    assert result.returncode == 2, result.stderr
    assert result.stderr.count("error:") == 1 and "mp3: no such folder" in result.stderr
    (tmp_path / "mp3").mkdir()
    result = kara("check", str(config))
    assert result.returncode == 2 and "mp3: no .mp3 files found" in result.stderr


def test_check_with_a_collection_still_imports_no_tensorflow(dataset):
    code = ("import sys\nfrom kara_core.cli import main\n"
            f"main(['check', {str(dataset)!r}])\n"
            "print('HEAVY=' + ','.join(m for m in ('tensorflow', 'keras') if m in sys.modules))")
    result = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True,
                            text=True, timeout=120, check=False)
    assert result.returncode == 0, result.stderr
    assert result.stdout.rstrip().endswith("HEAVY="), result.stdout


def test_a_step_budget_is_scaled_to_the_training_music_as_training_does(dataset):
    config = dataset.parent / "lm.yaml"
    config.write_text(CONFIG.replace(
        "model: {type: lstm_seq2seq, options: {layers: 1, units: 8, input_frames: 8, "
        "output_frames: 4}}",
        "model: {type: lstm_lm, options: {layers: 1, units: 8, crop_frames: 16}}").replace(
        "train: {epochs: 3, batch_size: 16, judge_seconds: 0}",
        "train: {steps: 5000, steps_per_minute: 60, batch_size: 16, judge_seconds: 0}"),
        encoding="utf-8")
    row = estimate(cost_inputs([variant_of(config)]))["variants"]["base"]["train"]
    assert row["steps"] == 100  # 7 s of training music: the minimum budget
    assert row["epochs"] == 1 and row["steps_per_epoch"] == 100
    assert row["configured_steps"] == 5000
    assert row["how"].startswith("train.steps 5000 becomes 100 for 0.1 minutes of training "
                                 "music (train.steps_per_minute: 60); "), row["how"]
    # no figure was measured for 1 x 8 units: scaled from the nearest lstm_lm figure
    assert row["seconds"] is not None and row["seconds"] > 0, row["how"]
    assert "scaled from the step time measured for lstm_lm 3x128" in row["how"]
    assert "by parameter count" in row["how"] and "rough estimate" in row["how"]


def test_check_says_when_steps_are_scaled_down_and_scales_an_unmeasured_model(dataset, kara):
    dataset.write_text(CONFIG.replace(
        "train: {epochs: 3, batch_size: 16, judge_seconds: 0}",
        "train: {steps: 250, steps_per_minute: 60, batch_size: 16, judge_seconds: 0}"),
        encoding="utf-8")
    result = kara("check", str(dataset))
    assert result.returncode == 0, result.stderr
    text = " ".join(result.stdout.split())
    assert "base training: train.steps 250 becomes 100" in text, text
    assert "unknown" not in text.split("what the run will cost")[1].split("song lengths")[0]
    assert "scaled from the step time measured for lstm_seq2seq" in text


def test_a_float16_cache_is_estimated_at_two_bytes_a_value_and_exactly(dataset, kara):
    """``dataset.cache_dtype: float16`` halves the frames' bytes; once featurized, the
    estimate is the size of the files written."""
    dataset.write_text(CONFIG + "  half: {dataset: {cache_dtype: float16}}\n", encoding="utf-8")
    half = variant_of(dataset, "half")
    report = run_prepare(half, show_progress=False)
    features = featurize(half, report.songs, show_progress=False)
    data = cost_json(kara, dataset)
    base, row = data["variants"][0]["cost"]["cache"], data["variants"][2]["cost"]["cache"]
    assert (base["dtype"], row["dtype"]) == ("float32", "float16")
    assert row["frames"] == base["frames"]
    header = 128 * 3
    assert row["npy_bytes"] - header == (base["npy_bytes"] - header) // 2
    assert row["npy_bytes"] == sum(p.stat().st_size for p in features.directory.glob("*.npy"))
    assert row["bytes_to_write"] == 0 and base["bytes_to_write"] > 0
