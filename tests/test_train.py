"""Training: honest scores beside baselines, checkpoints, resume, rebuild, failures."""

from __future__ import annotations

import dataclasses
import json
import math
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
from kara_baselines.models import BaselineOptions, PersistenceModel

from kara_core.errors import KaraError
from kara_core.pipeline.parts import featurize, load_trained_model, train_variant
from tests.support.cli import REPO
from tests.support.training import MODEL, variant_of, write_config, write_songs


def with_options(variant, **options):
    opts = dataclasses.replace(variant.model.options, **options)
    return dataclasses.replace(variant, model=dataclasses.replace(variant.model, options=opts))


def with_train(variant, **train):
    return dataclasses.replace(variant, train=dataclasses.replace(variant.train, **train))


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """One variant trained for 2 epochs, shared by the tests that only read its results."""
    folder = tmp_path_factory.mktemp("trained")
    songs = write_songs(folder)
    variant = variant_of(write_config(folder))
    features = featurize(variant, songs, show_progress=False)
    metrics = train_variant(variant, features, show_progress=False)
    return variant, features, songs, metrics


def test_metrics_put_the_model_beside_both_baselines(trained):
    variant, _features, _songs, metrics = trained
    base = metrics["baselines"]
    assert set(base) == {"persistence", "mean"}
    assert all(math.isfinite(v) and v > 0 for v in [metrics["val_loss"], *base.values()])
    assert metrics["skill"] == pytest.approx(1 - metrics["val_loss"] / base["persistence"])
    assert metrics["skill_vs_mean"] == pytest.approx(1 - metrics["val_loss"] / base["mean"])
    assert metrics["epochs_completed"] == 2 and metrics["resumed_from_epoch"] is None
    assert len(metrics["history"]["val_loss"]) == 2
    # the kept epoch is the one that generates best (train.judge_seconds), not the lowest
    # val_loss; its val_loss is what the metrics report
    best = metrics["training"]["best_epoch"]
    assert metrics["val_loss"] == pytest.approx(metrics["history"]["val_loss"][best - 1])
    scores = metrics["training"]["judge"]["per_epoch"]["score"]
    assert len(scores) == 2 and metrics["training"]["best_by"] == "generation"
    on_disk = json.loads((variant.run_dir / "metrics.json").read_text())
    assert on_disk["val_loss"] == metrics["val_loss"] and on_disk["baselines"] == base
    assert list((variant.run_dir / "tensorboard").glob("events.out.tfevents.*"))
    assert (variant.run_dir / "checkpoints" / "latest.json").is_file()


def test_val_loss_is_the_closed_loop_error_on_held_out_songs(trained):
    variant, features, _songs, metrics = trained
    from kara_core.pipeline.parts import train_settings
    from kara_core.pipeline.train.stage import make_windows

    model = load_trained_model(variant, features)
    _train, val = make_windows(model, features, train_settings(variant))
    errors = [np.square(model.predict(x) - y).mean() * len(x) for x, y in val.batches(64)]
    assert sum(errors) / len(val) == pytest.approx(metrics["val_loss"], rel=1e-4)


def test_a_finished_run_is_reused_and_more_epochs_resume_it(trained):
    variant, features, _songs, metrics = trained
    again = train_variant(variant, features, show_progress=False)
    assert again["training"]["reused"] and again["val_loss"] == metrics["val_loss"]
    more = train_variant(variant, features, epochs=3, show_progress=False)
    assert more["resumed_from_epoch"] == 2 and more["epochs_completed"] == 3
    assert more["history"]["val_loss"][:2] == metrics["history"]["val_loss"]


def test_a_model_trained_on_other_data_says_what_changed(trained):
    variant, _features, songs, _metrics = trained
    fewer = featurize(variant, songs[:2], show_progress=False)
    with pytest.raises(KaraError) as info:
        load_trained_model(variant, fewer)
    message = str(info.value)
    assert "was trained on other data than the current dataset: " in message, message
    assert "1 song(s) are gone (song2.mp3)" in message, message
    assert message.endswith("run 'kara train CONFIG --variant base'")
    # training on them says the same in its "training from scratch" line
    from kara_core.pipeline.train.checkpoints import CheckpointStore
    from kara_core.pipeline.train.runner import _mismatch

    state = CheckpointStore(variant.run_dir / "checkpoints").recorded_state()
    assert state is not None
    identity = {"signature": state["signature"], "plugin": state["plugin"],
                "data": fewer.identity()}
    why = _mismatch(state, identity, fewer)
    assert why is not None and why.startswith("the training data changed: ")
    assert "1 song(s) are gone (song2.mp3)" in why, why


def copy_of(variant, tmp_path):
    """``variant`` with a copy of its run folder under ``tmp_path`` (the shared one stays)."""
    import shutil

    copy = dataclasses.replace(variant, runs_dir=tmp_path / "runs")
    shutil.copytree(variant.run_dir, copy.run_dir)
    return copy


def test_changed_training_settings_are_said_and_the_record_keeps_what_was_trained(
    trained, tmp_path, capsys,
):
    import yaml

    from kara_core.pipeline.experiment import write_config_record

    variant, features, _songs, _metrics = trained
    changed = with_train(copy_of(variant, tmp_path), learning_rate=5.0, batch_size=4096)
    capsys.readouterr()
    metrics = train_variant(changed, features, show_progress=False)
    assert metrics["training"]["reused"]
    assert ("base: training settings changed (batch_size 32 -> 4096, learning_rate 0.001 -> "
            "5.0) but the model was reused; --rebuild retrains") in capsys.readouterr().err
    assert metrics["training"]["settings"]["learning_rate"] == 0.001
    assert metrics["training"]["settings"]["batch_size"] == 32
    state = json.loads((changed.run_dir / "model" / "kara-model.json").read_text())
    assert state["train"]["learning_rate"] == 0.001
    write_config_record(changed)
    record = yaml.safe_load((changed.run_dir / "config.resolved.yaml").read_text())
    assert record["train"]["learning_rate"] == 5.0  # what kara.yaml says now
    assert record["trained_with"]["train"]["learning_rate"] == 0.001  # what the model had
    assert record["trained_with"]["epochs_completed"] == metrics["epochs_completed"]
    assert record["model"]["distribution"] == "kara" and record["model"]["version"]
    assert not record["runs_dir"].startswith("/") and not record["dataset"]["mp3_dir"].startswith(
        "/"), record


def test_a_model_from_another_version_of_its_plugin_is_never_reused(trained, tmp_path, capsys):
    variant, features, _songs, _metrics = trained
    old = copy_of(variant, tmp_path)
    assert old.model.distribution == "kara" and old.model.version not in ("", "(unknown)")
    upgraded = dataclasses.replace(old, model=dataclasses.replace(old.model, version="99.0"))
    with pytest.raises(KaraError, match=r"another version of the model's plugin: the "
                       r"model's plugin changed \(kara .* -> 99\.0\)"):
        load_trained_model(upgraded, features)
    capsys.readouterr()
    metrics = train_variant(upgraded, features, epochs=1, show_progress=True)
    err = capsys.readouterr().err
    assert f"base: the model's plugin changed (kara {old.model.version} -> 99.0): training " \
        "from scratch" in err, err
    assert not metrics["training"]["reused"] and metrics["resumed_from_epoch"] is None
    load_trained_model(upgraded, features)


def test_training_is_repeatable_with_one_seed(tmp_path, trained):
    variant, features, _songs, metrics = trained
    fresh = dataclasses.replace(variant, runs_dir=tmp_path / "other")
    again = train_variant(fresh, features, epochs=2, show_progress=False)
    assert again["history"] == metrics["history"]


def test_a_changed_architecture_retrains_and_never_loads_old_weights(tmp_path, capsys):
    songs = write_songs(tmp_path)
    variant = variant_of(write_config(tmp_path, train="{epochs: 1, batch_size: 32}"))
    features = featurize(variant, songs, show_progress=False)
    train_variant(variant, features, show_progress=False)
    wider = with_options(variant, units=6)
    with pytest.raises(KaraError, match="different architecture"):
        load_trained_model(wider, features)
    metrics = train_variant(wider, features, show_progress=True)
    assert "architecture changed (units 8 -> 6)" in capsys.readouterr().err
    assert metrics["resumed_from_epoch"] is None and not metrics["training"]["reused"]
    load_trained_model(wider, features)
    rebuilt = train_variant(wider, features, rebuild=True, show_progress=False)
    assert rebuilt["resumed_from_epoch"] is None and not rebuilt["training"]["reused"]


def test_an_untrained_variant_says_how_to_train_it(tmp_path):
    songs = write_songs(tmp_path, count=2, seconds=1.0)
    variant = variant_of(write_config(tmp_path))
    features = featurize(variant, songs, show_progress=False)
    with pytest.raises(KaraError, match="not trained yet: run 'kara train"):
        load_trained_model(variant, features)


def test_songs_shorter_than_a_window_stop_before_any_model_is_fitted(tmp_path, monkeypatch):
    songs = write_songs(tmp_path, count=3, seconds=0.5)
    variant = variant_of(write_config(
        tmp_path, model="{layers: 1, units: 8, input_frames: 60, output_frames: 20}"))
    features = featurize(variant, songs, show_progress=False)
    model = variant.build_model(features.frame_dim)  # options only: no graph yet
    monkeypatch.setattr(model, "fit", lambda *a, **k: pytest.fail("model fitted"))
    with pytest.raises(KaraError) as info:
        train_variant(variant, features, show_progress=False, model=model)
    message = str(info.value)
    assert "no training windows" in message and "2 training song(s)" in message
    assert "80 frames" in message and "shorter than one window" in message


def test_a_diverging_loss_stops_with_a_message_and_keeps_the_last_good_epoch(tmp_path):
    songs = write_songs(tmp_path)
    variant = variant_of(write_config(tmp_path, train="{epochs: 1, batch_size: 32}"))
    features = featurize(variant, songs, show_progress=False)
    first = train_variant(variant, features, show_progress=False)
    wild = with_options(variant, learning_rate=1e30)
    expected = r"training stopped: .*(nan|inf).*kept the checkpoint of epoch 1"
    with pytest.raises(KaraError, match=expected):
        train_variant(wild, features, epochs=3, show_progress=False)
    pointer = json.loads((variant.run_dir / "checkpoints" / "latest.json").read_text())
    assert pointer["epoch"] == 1
    model = load_trained_model(variant, features)
    assert np.isfinite(model.generate(np.zeros((8, 64), np.float32), 4)).all()
    assert first["epochs_completed"] == 1


KILLED_RUN = """
import sys
from kara_core.pipeline.parts import featurize
from kara_core.pipeline.parts import train_variant
from tests.support.training import variant_of, write_songs
from pathlib import Path
folder = Path(sys.argv[1])
songs = write_songs(folder)
variant = variant_of(folder / "kara.yaml")
train_variant(variant, featurize(variant, songs, show_progress=False), show_progress=False)
"""


def test_a_run_killed_with_sigkill_resumes_and_ends_with_the_same_epoch_count(tmp_path):
    write_config(tmp_path, model=MODEL,
                 train="{epochs: 40, batch_size: 16, patience: 0, steps_per_epoch: 3}")
    latest = tmp_path / "runs" / "t" / "base" / "checkpoints" / "latest.json"
    env = {**os.environ, "PYTHONPATH": str(REPO), "TF_CPP_MIN_LOG_LEVEL": "2"}
    proc = subprocess.Popen([sys.executable, "-c", KILLED_RUN, str(tmp_path)], cwd=REPO, env=env)
    try:
        deadline = time.monotonic() + 120
        while not latest.exists() and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.05)
        assert latest.exists(), "the run wrote no checkpoint"
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.kill()
        proc.wait()
    killed_at = json.loads(latest.read_text())["epoch"]
    assert killed_at < 40
    songs = write_songs(tmp_path)
    variant = variant_of(tmp_path / "kara.yaml")
    metrics = train_variant(variant, featurize(variant, songs, show_progress=False),
                            show_progress=True)
    assert metrics["resumed_from_epoch"] == killed_at
    assert metrics["epochs_completed"] == 40
    assert len(metrics["history"]["loss"]) == 40


CLI_CONFIG = """\
name: cli
dataset: {sample_rate: 8000, val_fraction: 0.34}
decoder: {type: soundfile}
transform: {type: raw, options: {frame_size: 64}}
model: {type: lstm_seq2seq, options: {layers: 1, units: 8, input_frames: 8, output_frames: 4}}
train: {epochs: 1, batch_size: 32, steps_per_epoch: 4, distribute: none}
variants:
  too_long: {model: {options: {input_frames: 900}}}
"""


def test_kara_train_json_reports_each_variant_and_goes_on_after_a_failure(tmp_path):
    from kara_core.testkit.transforms import music_like_signal
    from tests.support.audio import sf_mp3
    from tests.support.cli import run_kara

    for number in range(3):
        sf_mp3(tmp_path / "dataset" / "mp3" / f"song{number}.mp3",
               music_like_signal(3.0, 8000, seed=number)[:, None], 8000)
    (tmp_path / "kara.yaml").write_text(CLI_CONFIG)
    result = run_kara("train", "kara.yaml", "--json", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    by_name = {v["variant"]: v for v in report["variants"]}
    metrics = by_name["base"]["metrics"]
    assert {"train_loss", "val_loss", "baselines", "skill", "epochs_completed",
            "resumed_from_epoch"} <= set(metrics)
    assert set(metrics["baselines"]) == {"persistence", "mean"}
    assert by_name["base"]["run_dir"].endswith("runs/cli/base")
    assert "no training windows" in by_name["too_long"]["error"]
    failure_lines = [line for line in result.stderr.splitlines() if "too_long" in line]
    assert len(failure_lines) == 1 and "error" in failure_lines[0]


def test_a_baseline_named_as_the_model_trains_and_scores_like_one(tmp_path):
    songs = write_songs(tmp_path, count=2, seconds=1.0)
    variant = variant_of(write_config(tmp_path))
    component = dataclasses.replace(variant.model, type="persistence", cls=PersistenceModel,
                                    options=BaselineOptions(input_frames=8, output_frames=4))
    persistence = dataclasses.replace(variant, model=component)
    features = featurize(persistence, songs, show_progress=False)
    metrics = train_variant(persistence, features, show_progress=False)
    assert metrics["skill"] == pytest.approx(0.0)
    assert metrics["epochs_completed"] == 0
    assert load_trained_model(persistence, features).predict(np.ones((1, 8, 64))).shape == (
        1, 4, 64)


def test_training_keeps_tensorflows_native_notices_off_the_terminal(tmp_path, capfd):
    # the clip written to TensorBoard each epoch made TensorFlow's C++ core print a oneDNN
    # notice straight to file descriptor 2 on CPUs without AVX-512
    variant = with_train(variant_of(write_config(tmp_path)), epochs=1)
    features = featurize(variant, write_songs(tmp_path), show_progress=False)
    train_variant(variant, features, show_progress=False)
    assert list((variant.run_dir / "tensorboard").glob("events.out.tfevents.*"))
    err = capfd.readouterr().err
    assert "DT_STRING" not in err and "util.cc" not in err, err


def test_a_third_party_baseline_gets_its_own_skill_and_skill_stays_against_the_reference(
        tmp_path):
    """The core names no baseline: a plugin's baseline is scored beside the installed ones
    (``skill_vs_<name>``), and ``skill`` stays against the one that declares itself the
    reference (persistence)."""
    from kara_baselines.models import MeanModel

    from kara_core.config import ComponentConfig

    class Silence(MeanModel):
        """Predicts the all-zero frame (a third party's naive baseline)."""

        name = "silence"

        def fit(self, train, val, settings, callbacks=()):
            result = super().fit(train, val, settings, callbacks)
            self.mean = np.zeros_like(self.mean)
            return result

    variant = variant_of(write_config(tmp_path))
    silence = ComponentConfig(kind="models", type="silence", options=BaselineOptions(),
                              plugin="third_party", cls=Silence)
    variant = dataclasses.replace(variant, baselines=(*variant.baselines, silence))
    features = featurize(variant, write_songs(tmp_path, count=3), show_progress=False)
    metrics = train_variant(variant, features, show_progress=False)
    base = metrics["baselines"]
    assert set(base) == {"persistence", "mean", "silence"}
    assert metrics["skill_against"] == "persistence"
    assert metrics["skill"] == pytest.approx(1 - metrics["val_loss"] / base["persistence"])
    for name in ("mean", "silence"):
        assert metrics[f"skill_vs_{name}"] == pytest.approx(1 - metrics["val_loss"] / base[name])
    assert "skill_vs_persistence" not in metrics


def test_progress_lines_in_a_log_and_per_step_loss_curves(tmp_path, capsys, monkeypatch):
    from kara_core.pipeline.train import monitor

    monkeypatch.setattr(monitor, "LOG_EVERY", 2)  # a tiny run has few steps
    variant = with_train(variant_of(write_config(tmp_path)), epochs=1)
    features = featurize(variant, write_songs(tmp_path), show_progress=False)
    metrics = train_variant(variant, features, show_progress=True)  # stderr: not a terminal
    err = " ".join(capsys.readouterr().err.split())
    import re

    lines = re.findall(r"step (\d+)/(\d+): loss [-\d.]+, [\d.]+ steps/s, ETA \d+:\d\d:\d\d", err)
    assert lines and lines[0][0] == "2", err[-2000:]
    steps = int(lines[0][1])
    # a one-epoch run still draws a curve: one point per step (few steps here)
    assert len(metrics["history"]["step_loss"]) == steps > 1
    assert len(metrics["history"]["loss"]) == 1
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    events = EventAccumulator(str(variant.run_dir / "tensorboard"), size_guidance={"tensors": 0})
    events.Reload()
    assert len(events.Tensors("loss/step")) == steps


def test_loss_png_puts_each_loss_on_its_own_axis(tmp_path, monkeypatch):
    from kara_core.report import plots

    figures = []
    monkeypatch.setattr(plots, "_save", lambda fig, path: figures.append(fig))
    history = {"loss": [-40.0], "val_loss": [0.8], "step_loss": [-5.0, -20.0, -35.0, -40.0],
               "step_loss_every": [25.0]}
    plots.plot_loss(history, tmp_path / "loss.png", baselines={"persistence": 0.9})
    [fig] = figures
    train_ax, val_ax = fig.axes
    assert [len(line.get_xdata()) for line in train_ax.lines] == [4, 1]  # curve + epoch mean
    assert list(train_ax.lines[0].get_xdata()) == [25, 50, 75, 100]
    assert max(train_ax.get_ylim()) < 0 < min(val_ax.get_ylim())  # NLL apart from MSE
    assert "MSE" in val_ax.get_ylabel() and "MSE" not in train_ax.get_ylabel()


def test_validation_scores_a_fixed_seeded_sample_of_the_held_out_windows(tmp_path):
    from kara_core.pipeline.parts import train_settings
    from kara_core.pipeline.train.stage import make_windows

    variant = with_train(variant_of(write_config(tmp_path)), epochs=1)
    features = featurize(variant, write_songs(tmp_path), show_progress=False)
    model = variant.build_model(features.frame_dim)
    every = make_windows(model, features, train_settings(with_train(variant, val_windows=0)))[1]
    assert len(every) > 12
    sample = with_train(variant, val_windows=12)
    first = make_windows(model, features, train_settings(sample))[1]
    again = make_windows(model, features, train_settings(sample))[1]
    assert len(first) == 12 and np.array_equal(first.index, again.index)  # fixed by the seed
    assert {tuple(row) for row in first.index} <= {tuple(row) for row in every.index}
    other = make_windows(model, features, train_settings(with_train(sample, seed=1)))[1]
    assert not np.array_equal(first.index, other.index)
    metrics = train_variant(sample, features, show_progress=False)
    assert metrics["training"]["val_windows"] == 12


def test_a_reused_model_whose_source_changed_without_a_bump_is_warned_about_once(
        tmp_path, capsys):
    variant = with_train(variant_of(write_config(tmp_path)), epochs=1)
    features = featurize(variant, write_songs(tmp_path), show_progress=False)
    train_variant(variant, features, show_progress=False)
    record = variant.run_dir / "model-source.json"
    assert len(json.loads(record.read_text())["sha256"]) == 64
    record.write_text(json.dumps({"sha256": "0" * 64}))  # as if trained by other code
    capsys.readouterr()
    metrics = train_variant(variant, features, show_progress=False)
    assert metrics["training"]["reused"]
    err = " ".join(capsys.readouterr().err.split())
    assert "model 'lstm_seq2seq' of plugin 'kara_lstm'" in err, err
    assert "its source changed since it was trained" in err
    train_variant(variant, features, show_progress=False)
    assert "source changed" not in capsys.readouterr().err
