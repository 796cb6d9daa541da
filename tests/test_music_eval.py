"""Is the generated audio music-like, for every row: several prompts, their measures, the
collapse line, the table's headline columns, and the monitor keeping the checkpoint that
generates best (issue 11, items 4 and 5)."""

from __future__ import annotations

import csv
import dataclasses
import io
import json
import math

import numpy as np
import pytest
import soundfile as sf
from kara_baselines.models import BaselineOptions, PersistenceModel

from kara_core.components import HeldOutMusic, SongExcerpt
from kara_core.measures import BUILTIN, music, own_song, scoring
from kara_core.pipeline.evaluate import PromptPlan, evaluate, held_out_music
from kara_core.pipeline.generate import Clips, clip_file, prompt_offsets
from kara_core.pipeline.parts import featurize
from kara_core.report import records
from kara_core.report.table import fields, table_columns
from tests.support.training import RATE, variant_of, write_config, write_songs

MEASURES = [cls() for cls in BUILTIN]


def music_of(variant, features):
    """The held-out music of ``variant`` as the run builds it."""
    return held_out_music(features, features.transform.hop, RATE, PromptPlan(
        variant.generate.prompts, variant.generate.prompt_seconds, variant.generate.seconds))


def judge_of(variant, features):
    """The training judge of ``variant`` as the train stage makes it."""
    from kara_core.pipeline.train.judge import JudgeSettings, make_judge

    return make_judge(JudgeSettings.of(variant.train, variant.generate, RATE),
                      lambda: music_of(variant, features), features.transform, features,
                      MEASURES)


def made(waves, sources, seconds=12.0):
    """Clips of these waves, as if generated from prompts of ``sources``."""
    from types import SimpleNamespace

    prompts = [SongExcerpt(np.zeros(10, np.float32), source) for source in sources]
    generations = [SimpleNamespace(wave=w, rtf=0.1, seconds=seconds, compute_seconds=1.2,
                                   prompt_wave=np.zeros(10, np.float32)) for w in waves]
    return Clips(prompts, generations, seeds=list(range(len(waves))), rate=RATE)


def with_generate(variant, **settings):
    return dataclasses.replace(
        variant, generate=dataclasses.replace(variant.generate, **settings))


def with_train(variant, **settings):
    return dataclasses.replace(variant, train=dataclasses.replace(variant.train, **settings))


class Replay(PersistenceModel):
    """A "model" that continues any prompt with real music: a training song's frames from
    an offset the seed chooses. What a model that generates music would score."""

    def __init__(self, frames: np.ndarray) -> None:
        super().__init__(BaselineOptions(input_frames=8, output_frames=4), frames.shape[1])
        self.frames = np.asarray(frames, np.float32)

    def generate(self, prompt, n_frames, temperature=0.0, seed=0):
        start = (seed * 997) % len(self.frames)
        index = (start + np.arange(n_frames)) % len(self.frames)
        return self.frames[index]


@pytest.fixture(scope="module")
def songs_and_features(tmp_path_factory):
    """Five 3 s songs, two of them held out; raw frames of 64 samples at 8 kHz."""
    folder = tmp_path_factory.mktemp("music")
    songs = write_songs(folder, count=5, seconds=3.0)
    variant = with_generate(variant_of(write_config(folder, val_fraction=0.4)),
                            seconds=1.5, prompt_seconds=0.5, temperature=1.0)
    features = featurize(variant, songs, show_progress=False)
    assert len(features.val) == 2
    return variant, features


def test_default_generation_is_30_s_from_six_prompts():
    from kara_core.config import GenerateConfig, TrainConfig

    assert GenerateConfig().seconds == 30.0 and GenerateConfig().prompts == 6
    assert TrainConfig().judge_seconds > 0


def test_prompts_come_from_different_songs_then_from_later_offsets():
    assert prompt_offsets([10.0, 20.0, 30.0], 3, 2.0) == [(0, 0.0), (1, 0.0), (2, 0.0)]
    # two songs for six prompts: each song three times, evenly over the room it leaves
    assert prompt_offsets([8.0, 14.0], 6, 2.0) == [
        (0, 0.0), (1, 0.0), (0, 2.0), (1, 4.0), (0, 4.0), (1, 8.0)]
    assert prompt_offsets([1.0], 2, 2.0) == [(0, 0.0), (0, 0.0)]  # no room: same place
    assert [clip_file(n) for n in range(3)] == ["generated.wav", "generated-2.wav",
                                                 "generated-3.wav"]


def test_held_out_prompts_cycle_through_the_held_out_songs(songs_and_features):
    variant, features = songs_and_features
    prompts = music_of(variant, features).prompts
    assert len(prompts) == 6 and all(p.held_out for p in prompts)
    held_out = [str(s.source) for s in features.val]
    assert [p.source for p in prompts] == held_out * 3
    assert len({(p.source, p.offset) for p in prompts}) == 6
    first = prompts[0]
    assert first.offset == 0.0 and len(first.wave) >= (0.5 + 1.5) * RATE  # the round trip too
    later = prompts[2]
    song, _rate = sf.read(features.val[0].wav, dtype="float32")
    start = round(later.offset * RATE)
    np.testing.assert_allclose(later.wave[:64], song[start:start + 64], atol=1e-6)


def test_each_held_out_song_is_read_once_per_variant(songs_and_features, monkeypatch):
    """Generation, the judge and the evaluation share one held-out music: a whole run of
    generate_and_evaluate (the temperature calibrated on the judge's prompts too) reads
    each held-out song's wav exactly once."""
    import os
    from collections import Counter

    from kara_core.pipeline.parts import generate_and_evaluate

    variant, features = songs_and_features
    variant = with_train(with_generate(dataclasses.replace(variant, name="reads"),
                                       temperature="auto", prompts=3), judge_seconds=0.5)
    reads: Counter[str] = Counter()
    original = sf.read

    def counting(path, *args, **kwargs):  # every wav Kara reads goes through soundfile
        reads[os.fsdecode(path)] += 1
        return original(path, *args, **kwargs)

    monkeypatch.setattr(sf, "read", counting)
    model = Replay(np.concatenate([s.frames() for s in features.train]))
    metrics = generate_and_evaluate(variant, features, model, show_progress=False)
    assert metrics["generation"]["temperature_source"] == "calibrated"
    assert reads == Counter({str(s.wav): 1 for s in features.val})


def test_a_whole_run_reads_each_held_out_song_once(tmp_path, monkeypatch):
    """run_variant builds the held-out music once and shares it: training with the judge
    (every epoch), the temperature calibration, generation and the evaluation together
    read each held-out song's wav exactly once (the features are cached beforehand, as
    on a second run, so featurize reads none)."""
    import os
    from collections import Counter

    from kara_core.pipeline.experiment import run_variant
    from kara_core.pipeline.parts import DatasetCache

    songs = write_songs(tmp_path, count=4, seconds=3.0)
    variant = variant_of(write_config(
        tmp_path, val_fraction=0.5,
        train="{epochs: 2, batch_size: 32, seed: 0, distribute: none, patience: 0, "
        "steps_per_epoch: 2, judge_seconds: 0.5, judge_prompts: 2}"))
    variant = with_generate(variant, seconds=1.0, prompt_seconds=0.5, prompts=2,
                            temperature="auto")
    features = featurize(variant, songs, show_progress=False)  # the cache, written now
    assert len(features.val) == 2

    class Prepared(DatasetCache):  # the songs as prepare left them (no mp3s in the test)
        def songs(self, *_args, **_kwargs):
            return list(songs)

    reads: Counter[str] = Counter()
    original = sf.read

    def counting(path, *args, **kwargs):  # every wav Kara reads goes through soundfile
        reads[os.fsdecode(path)] += 1
        return original(path, *args, **kwargs)

    monkeypatch.setattr(sf, "read", counting)
    metrics = run_variant(variant, Prepared(), show_progress=False)
    assert metrics["status"] == "ok"
    assert len(metrics["training"]["judge"]["per_epoch"]["score"]) == 2  # judged twice
    assert metrics["generation"]["temperature_source"] == "calibrated"
    held_out = {str(s.wav) for s in features.val}
    assert {path: n for path, n in reads.items() if path in held_out} == dict.fromkeys(
        held_out, 1)


def test_several_prompts_give_several_files_a_median_and_a_worst(songs_and_features, capsys):
    from kara_core.pipeline.parts import generate_and_evaluate

    variant, features = songs_and_features
    model = Replay(np.concatenate([s.frames() for s in features.train]))
    metrics = generate_and_evaluate(variant, features, model, show_progress=True)
    run_dir = variant.run_dir
    names = [clip_file(n) for n in range(6)]
    for name in names:
        wave, rate = sf.read(run_dir / name, dtype="float32")
        assert rate == RATE and wave.shape == (round(1.5 * RATE),)
    assert metrics["generation"]["files"][2:8] == names
    assert metrics["generation"]["prompts"] == 6
    section = json.loads((run_dir / "metrics.json").read_text())["music"]
    assert section == json.loads(json.dumps(metrics["music"]))
    clips = section["clips"]
    assert [c["file"] for c in clips] == names
    by_name = {m.name: m for m in MEASURES}
    for key in ("fd_ratio", "spread", "loop", "level_db", "silent", "pulse"):
        values = [c[key] for c in clips]
        assert section["summary"]["median"][key] == pytest.approx(float(np.median(values)),
                                                                   abs=1e-3)
        worst = section["summary"]["worst"][key]
        assert worst == pytest.approx(by_name[key].worst(values), abs=1e-3)
        assert section["real"]["summary"]["median"][key] is not None  # real music beside it
        assert key in section["last_10s"]["summary"]["median"]
        assert all(key in c["last_10s"] for c in clips)
    # real music, replayed, measures like real music: nothing collapses
    assert 0.6 < section["summary"]["median"]["spread"] < 1.6
    assert section["summary"]["median"]["loop"] > 0.6
    assert abs(section["summary"]["median"]["level_db"]) < 6
    assert section["collapsed"] == 0 and "collapsed" not in capsys.readouterr().err
    assert section["diversity"] > 0.5  # another seed, other music
    # Replay ignores its prompt: one seed gives one continuation whatever the song, on
    # every clip's pair (each clip beside the next prompt of the other song, its seed)
    assert section["prompt_sensitivity"] == 0.0
    assert [c["prompt_sensitivity"] for c in clips] == [0.0] * 6
    assert section["summary"]["worst"]["prompt_sensitivity"] == 0.0
    assert section["real"]["summary"]["median"]["prompt_sensitivity"] > 0.3  # the songs differ
    first, second = (str(s.source) for s in features.val)
    assert section["sensitivity_pairs"] == [[first, second], [second, first]] * 3
    assert [c["paired_with"] for c in clips] == [second, first] * 3
    assert "paired with" in (run_dir / "report.html").read_text(encoding="utf-8")
    assert len(metrics["music"]["clips"]) == 6 and metrics["music"]["rtf"] > 0
    assert set(section["measures"]) == {m.name for m in MEASURES}
    assert section["yardstick"]["excerpts"] == music.REAL_EXCERPTS
    assert section["yardstick"]["seconds"] == 1.5 and section["yardstick"]["held_out"]
    assert section["yardstick"]["songs"] == 2
    assert section["last_10s"]["seconds"] == 1.5
    assert isinstance(section["misses"], list)
    assert section["meets_targets"] == (not section["misses"])
    assert section["rtf"] > 0 and section["seconds"] == 1.5
    # the old evaluation is still there for the page and the comparison's older columns
    assert metrics["evaluation"]["mel_frechet"] > 0
    page = (run_dir / "report.html").read_text(encoding="utf-8")
    assert "Every prompt" in page and 'src="generated-6.wav"' in page


def test_collapsed_clips_print_one_line_naming_the_variant_and_the_first_prompt(
        songs_and_features, capsys):
    from kara_core.pipeline.parts import generate_and_evaluate

    variant, features = songs_and_features
    variant = with_generate(dataclasses.replace(variant, name="frozen"), prompts=2,
                            temperature=0.0)
    persistence = PersistenceModel(BaselineOptions(input_frames=8, output_frames=4), 64)
    stale = variant.run_dir / "generated-3.wav"  # from an earlier run with more prompts
    stale.parent.mkdir(parents=True, exist_ok=True)
    stale.write_bytes(b"old")
    metrics = generate_and_evaluate(variant, features, persistence, show_progress=False)
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if "collapsed" in line]
    assert len(lines) == 1, err  # one line per variant, however many clips collapsed
    line = lines[0]
    assert line.startswith("warning: frozen: 2 of 2 clips collapsed (frozen 2); first: prompt 1 (")
    assert "song" in line
    assert line.split("collapsed: ")[1].startswith("frozen: the audio stops changing")
    section = metrics["music"]
    assert section["collapsed"] == 2 and not section["meets_targets"]
    assert all(c["collapse"] for c in section["clips"])
    assert any("clip 1: loop" in miss for miss in section["misses"])
    assert section["diversity"] == 0.0  # repeating the last frame: the seed changes nothing
    assert not stale.exists() and (variant.run_dir / "generated-2.wav").is_file()


def test_the_end_of_a_clip_is_measured_on_its_own():
    from kara_core.testkit.transforms import music_like_signal

    songs = [SongExcerpt(music_like_signal(12.0, RATE, seed=s), f"{s}.mp3") for s in (1, 2)]
    good = music_like_signal(6.0, RATE, seed=3)
    frozen = np.tile(good[:512], 12 * RATE // 512 + 1)[: 6 * RATE]
    fades = np.concatenate([good, frozen])  # music, then a frozen buzz for its last 6 s
    record = evaluate(made([fades], ["1.mp3"]), HeldOutMusic(RATE, songs), MEASURES,
                      last_seconds=5.0)
    clip = record["clips"][0]
    assert record["last_10s"]["seconds"] == 5.0
    assert clip["last_10s"]["loop"] < 0.3 < clip["loop"]
    assert clip["collapse"].startswith("in its last 5 s, ")
    assert record["diversity"] is None and record["prompt_sensitivity"] is None
    assert record["sensitivity_pairs"] == [] and clip["paired_with"] is None


def test_clip_score_is_zero_on_target_and_grows_with_each_distance():
    good = {"spread": 1.0, "loop": 0.9, "fd_ratio": 0.5, "level_db": -2.0}
    assert scoring.clip_score(good, MEASURES) == 0.0
    smear = {**good, "spread": 0.4}
    loop = {**good, "loop": 0.2}
    over = {**good, "loop": 2.0}  # frames never come back: loop has an upper bound now
    far = {**good, "fd_ratio": 3.0}
    quiet = {**good, "level_db": -30.0}
    for worse in (smear, loop, over, far, quiet):
        assert scoring.clip_score(worse, MEASURES) > 0.4
    assert scoring.clip_score({**smear, "loop": 0.2}, MEASURES) > scoring.clip_score(
        smear, MEASURES)
    assert scoring.clip_score({**good, "loop": math.nan}, MEASURES) == math.inf
    # a measure that is not required costs only where it was measured
    assert scoring.clip_score({**good, "pulse": math.nan}, MEASURES) == 0.0
    assert scoring.clip_score({**good, "pulse": 0.4}, MEASURES) == pytest.approx(
        math.log(0.8 / 0.4))


# --------------------------------------------------------------------------- the table

MEETS = {"summary": {"median": {"fd_ratio": 0.61, "spread": 0.97, "loop": 0.83, "level_db": -1.2,
                                "own_song": 0.71, "diversity": 0.88, "pulse": 0.93},
                     "worst": {"fd_ratio": 0.92, "spread": 0.71, "loop": 0.62, "level_db": -4.8,
                               "own_song": 2.3, "diversity": 0.88, "pulse": 0.41}},
         "real": {"summary": {"median": {"pulse": 1.04, "own_song": 0.15}}},
         "diversity": 0.88, "meets_targets": True, "misses": []}
SMEARS = {"summary": {"median": {"fd_ratio": 2.23, "spread": 0.22, "loop": 0.15, "level_db": -9.0,
                                 "diversity": 0.05},
                      "worst": {"fd_ratio": 3.1, "spread": 0.12, "loop": 0.04, "level_db": -27.4,
                                "diversity": 0.05}},
          "diversity": 0.05, "meets_targets": False, "misses": ["median spread 0.22 outside"]}


def music_runs(tmp_path):
    folder = tmp_path / "runs" / "demo"
    for name, section in (("base", MEETS), ("mel", SMEARS)):
        records.update_metrics(folder / name, {
            "variant": name, "status": "ok", "transform": f"{name} frames", "val_loss": 0.4,
            "baselines": {"persistence": 0.5}, "skill": 0.2, "music": section})
    return folder


def test_the_table_leads_with_the_music_columns_median_and_worst(tmp_path, kara):
    folder = music_runs(tmp_path)
    result = kara("compare", "--all", str(folder))
    assert result.returncode == 0, result.stderr
    out = result.stdout
    for text in ("fd_ratio", "spread", "loop", "diver", "level dB", "tar",
                 "0.61 (0.92)", "0.97 (0.71)", "0.83 (0.62)", "0.88", "-1.2 (-4.8)",
                 "2.23 (3.10)", "0.22 (0.12)", "0.15 (0.04)", "-9.0 (-27.4)", "✓", "✗",
                 "median over the prompts", "own song", "0.71 (2.30)", "pulse",
                 "0.93 (0.41)", "real music", "1.04", "prompt"):
        assert text in out, (text, out)
    header = out[: out.index("val")]
    assert "fd_ratio" in header and "loop" in header, "music columns come before the losses"
    keys = [c.key for c in table_columns([])]
    assert keys.index("targets") < keys.index("val_loss")

    narrow = kara("compare", "--all", str(folder), env={"COLUMNS": "100"})
    assert max(len(line) for line in narrow.stdout.splitlines()) <= 100
    assert "…" not in narrow.stdout and "0.61 (0.92)" in narrow.stdout


def test_csv_and_json_carry_the_median_and_the_worst(tmp_path, kara):
    folder = music_runs(tmp_path)
    rows = list(csv.DictReader(io.StringIO(kara("compare", str(folder), "--csv").stdout)))
    assert list(rows[0]) == fields(table_columns([]))
    base, mel = rows
    assert float(base["fd_ratio"]) == 0.61 and float(base["fd_ratio_worst"]) == 0.92
    assert float(mel["loop_worst"]) == 0.04 and float(mel["level_db_worst"]) == -27.4
    assert base["targets"] == "True" and mel["targets"] == "False"
    assert float(base["diversity"]) == 0.88
    assert float(base["own_song"]) == 0.71 and float(base["own_song_worst"]) == 2.3
    assert mel["own_song"] == ""  # a run without the measure
    data = json.loads(kara("compare", str(folder), "--json").stdout)
    summary = data["variants"][0]["summary"]
    assert summary["spread"] == 0.97 and summary["spread_worst"] == 0.71
    assert summary["targets"] is True
    assert summary["pulse_real"] == 1.04 and summary["own_song_real"] == 0.15
    assert {m["name"] for m in data["measures"]} >= {"pulse", "prompt_sensitivity", "loop"}
    assert next(m for m in data["measures"] if m["name"] == "loop")["target"] == "0.7-1.3"


# --------------------------------------------------------------------------- the monitor


class ScriptedJudge:
    """Scores epochs from a script, in order; what the real judge returns, without audio."""

    def __init__(self, scores):
        self.scores = list(scores)

    def __call__(self, model):
        score = self.scores.pop(0)
        return {"score": score, "spread": 1.0, "loop": 1.0, "fd_ratio": 1.0 + score,
                "level_db": 0.0, "silent": 0.0, "audio": None, "rate": RATE}


@pytest.fixture
def judged_training(tmp_path, monkeypatch):
    """``train(epochs, scores)``: train the tiny variant with a scripted judge."""
    import kara_core.pipeline.train as train_stage  # the driver takes make_judge from here
    from kara_core.pipeline.parts import train_variant

    songs = write_songs(tmp_path)
    variant = variant_of(write_config(
        tmp_path, train="{epochs: 3, batch_size: 32, seed: 0, distribute: none, patience: 0, "
        "steps_per_epoch: 2}"))
    features = featurize(variant, songs, show_progress=False)

    def train(epochs, scores):
        judge = ScriptedJudge(scores)
        monkeypatch.setattr(train_stage, "make_judge", lambda *_args: judge)
        metrics = train_variant(variant, features, epochs=epochs, show_progress=False)
        assert not judge.scores, "one judgement per epoch trained"
        return metrics

    return variant, features, train


def test_the_monitor_keeps_the_checkpoint_that_generates_best(judged_training):
    from kara_core.pipeline.train.checkpoints import read_model_record

    variant, _features, train = judged_training
    metrics = train(3, [3.0, 1.0, 2.0])
    training = metrics["training"]
    assert training["best_epoch"] == 2 and training["best_by"] == "generation"
    assert training["judge"]["best_score"] == 1.0
    assert training["judge"]["per_epoch"]["score"] == [3.0, 1.0, 2.0]
    assert len(metrics["history"]["val_loss"]) == 3  # the val_loss is still recorded
    assert metrics["val_loss"] == pytest.approx(metrics["history"]["val_loss"][1], rel=1e-4)
    best = json.loads((variant.run_dir / "checkpoints" / "best.json").read_text())
    assert best["epoch"] == 2
    exported = read_model_record(variant.run_dir / "model")
    assert exported is not None and exported["best_epoch"] == 2

    # resumed, the recorded best score still counts: 1.5 and 2.5 do not beat epoch 2's 1.0
    resumed = train(5, [1.5, 2.5])
    assert resumed["resumed_from_epoch"] == 3 and resumed["training"]["best_epoch"] == 2
    assert resumed["training"]["judge"]["per_epoch"]["score"] == [3.0, 1.0, 2.0, 1.5, 2.5]
    # a better generation later wins even with a worse val_loss
    later = train(6, [0.5])
    assert later["training"]["best_epoch"] == 6
    assert later["training"]["judge"]["best_score"] == 0.5


def test_without_a_judge_the_lowest_val_loss_is_kept(tmp_path):
    from kara_core.pipeline.parts import train_variant

    songs = write_songs(tmp_path)
    variant = variant_of(write_config(
        tmp_path, train="{epochs: 3, batch_size: 32, seed: 0, distribute: none, patience: 0, "
        "steps_per_epoch: 2, judge_seconds: 0}"))
    metrics = train_variant(variant, featurize(variant, songs, show_progress=False),
                            show_progress=False)
    assert metrics["training"]["best_by"] == "val_loss"
    assert metrics["training"]["judge"]["per_epoch"] == {}
    assert metrics["val_loss"] == pytest.approx(min(metrics["history"]["val_loss"]), rel=1e-4)


def test_ties_on_the_score_go_to_the_lower_val_loss():
    from kara_core.pipeline.train.monitor import EpochMonitor

    monitor = EpochMonitor(val=None, store=None, epochs=3, patience=0, identity={},
                           state={"best_generation_score": 0.0, "best_val_loss": 0.5},
                           bar=None, log_dir=None, label="x", judge=ScriptedJudge([]))
    assert monitor.better(0.0, 0.4) and not monitor.better(0.0, 0.6)
    assert not monitor.better(0.1, 0.1) and monitor.better(math.inf, 0.1) is False
    blind = EpochMonitor(val=None, store=None, epochs=3, patience=0, identity={},
                         state={"best_val_loss": 0.5}, bar=None, log_dir=None, label="x")
    assert blind.better(math.nan, 0.4) and not blind.better(0.0, 0.6)


def test_the_real_judge_measures_a_short_generation_and_logs_it(tmp_path):
    import tensorflow as tf

    from kara_core.pipeline.parts import load_trained_model, train_variant

    songs = write_songs(tmp_path)
    variant = variant_of(write_config(
        tmp_path, train="{epochs: 2, batch_size: 32, seed: 0, distribute: none, patience: 0, "
        "steps_per_epoch: 2, judge_seconds: 1.0}"))
    features = featurize(variant, songs, show_progress=False)
    metrics = train_variant(variant, features, show_progress=False)
    judged = metrics["training"]["judge"]
    scores = [math.inf if s is None else s for s in judged["per_epoch"]["score"]]
    assert judged["seconds"] == 1.0 and len(scores) == 2
    if scores[0] != scores[1]:
        assert metrics["training"]["best_epoch"] == 1 + int(np.argmin(scores))
    tags = set()
    for path in (variant.run_dir / "tensorboard").glob("events.out.tfevents.*"):
        for record in tf.data.TFRecordDataset(str(path)):
            event = tf.compat.v1.Event.FromString(record.numpy())
            tags.update(value.tag for value in event.summary.value)
    assert {"val_loss", "generation/score", "generation/spread", "generation/audio"} <= tags

    model = load_trained_model(variant, features)
    judge = judge_of(variant, features)
    first, again = judge(model), judge(model)
    assert first["audio"].shape == (RATE,) and first["rate"] == RATE
    assert len(first["scores"]) == variant.train.judge_prompts == 3
    assert first["score"] == again["score"]  # repeatable
    assert judge_of(with_train(variant, judge_seconds=0.0), features) is None


def test_the_judges_score_is_zero_exactly_when_the_clips_meet_the_targets():
    """The judge scores an epoch as the evaluation judges a variant: the targets on the
    medians, and no clip collapsing; a clip a little outside a range that the medians
    meet costs nothing, one collapsed clip costs the epoch."""
    good = {"fd_ratio": 0.4, "spread": 1.0, "loop": 1.1, "level_db": -2.0}
    clips = [good, dict(good, spread=1.3, fd_ratio=0.9), dict(good, loop=0.9)]
    assert scoring.misses(clips, MEASURES) == [] and scoring.clips_score(clips, MEASURES) == 0.0
    assert scoring.clip_score(clips[1], MEASURES) > 0  # alone, that clip misses its range

    collapsed = [good, dict(good, spread=0.2, loop=0.1), good]
    assert scoring.misses(collapsed, MEASURES)
    assert scoring.clips_score(collapsed, MEASURES) > 0.5
    smeared = [dict(good, spread=0.7)] * 3
    assert scoring.misses(smeared, MEASURES)
    assert scoring.clips_score(smeared, MEASURES) == pytest.approx(math.log(0.8) - math.log(0.7))
    loud = [dict(good, level_db=18.0)] * 3
    assert scoring.misses(loud, MEASURES) and scoring.clips_score(loud, MEASURES) > 0
    assert scoring.clips_score([dict(good, loop=math.nan)], MEASURES) == math.inf
    assert scoring.clips_score([], MEASURES) == math.inf


class FreezesOnSeed(Replay):
    """Replays music, except for one seed, where it repeats a single frame (a collapse)."""

    def __init__(self, frames: np.ndarray, frozen_seed: int) -> None:
        super().__init__(frames)
        self.frozen_seed = frozen_seed
        self.seeds: list[int] = []

    def generate(self, prompt, n_frames, temperature=0.0, seed=0):
        self.seeds.append(seed)
        if seed == self.frozen_seed:
            return np.repeat(self.frames[:1], n_frames, axis=0)
        return super().generate(prompt, n_frames, temperature, seed)


def test_the_judge_scores_the_mean_of_several_prompts_so_one_lucky_clip_is_not_enough(
        songs_and_features):
    """An epoch that generates music on its first prompt and freezes on its second must
    score worse than one that generates music on every prompt: the judge continues
    judge_prompts prompts, each with its own seed, and one collapsed clip costs the epoch.
    A judge of one prompt cannot tell the two apart."""
    variant, features = songs_and_features
    variant = with_train(variant, judge_seconds=1.0, judge_prompts=3)
    frames = np.concatenate([s.frames() for s in features.train])
    judge = judge_of(variant, features)
    assert judge is not None

    sound = FreezesOnSeed(frames, frozen_seed=-1)
    good = judge(sound)
    # three prompts with their own seeds, then the first two clips' partners (the next
    # prompt of the other song) with their seeds: the judge pairs at most two clips
    assert sound.seeds == [0, 1, 2, 0, 1] and len(good["scores"]) == 3
    assert math.isfinite(good["score"])
    # Replay ignores its prompt: the same seed replays the same music after either song
    assert good["prompt_sensitivity"] == 0.0
    assert good["audio"].shape == (RATE,)

    freezes = FreezesOnSeed(frames, frozen_seed=1)
    bad = judge(freezes)
    assert bad["scores"][0] == good["scores"][0]  # the same first clip
    assert bad["scores"][1] > good["scores"][1] + 1.0  # the frozen one
    assert bad["score"] > good["score"] + 0.3

    alone = judge_of(with_train(variant, judge_prompts=1), features)
    assert alone is not None and alone(freezes)["score"] == alone(sound)["score"]


def test_the_temperature_hint_appears_only_where_there_is_a_temperature_to_lower():
    import numpy as np

    from kara_core.pipeline import generate as gen
    def drifted() -> gen.Generation:
        empty = np.zeros(4, np.float32)
        return gen.Generation(
            prompt_wave=empty, prompt_frames=empty, frames=empty, wave=empty,
            model_seconds=0.0, inverse_seconds=0.0, peak=0.5, peak_limited=False,
            seconds=1.0, clipped_fraction=0.2,
        )

    clips = Clips(prompts=[], generations=[drifted()], other_seed=None)
    assert "lower generate.temperature?" in clips.notes("base", 1.0)[0]
    at_zero = clips.notes("base", 0.0)[0]
    assert "temperature" not in at_zero and "drifts out of range on its own" in at_zero


def test_each_prompt_has_its_own_seed_diversity_another_and_sensitivity_every_clips(
        monkeypatch):
    """One seed for every prompt drives a model that forgets its prompt to one clip; so
    each prompt has its own seed, ``diversity`` continues the first prompt with another,
    and ``prompt_sensitivity`` continues, for every clip, the next prompt of another song
    (wrapping round) with that clip's seed."""
    from types import SimpleNamespace

    import kara_core.pipeline.generate.clips as clips_module
    from kara_core.pipeline.generate import GenerateSettings, generate

    calls: list[tuple[int, int]] = []

    def fake_generate(model, transform, scale, wave, *, seed, **kwargs):
        calls.append((int(wave[0]), seed))
        return SimpleNamespace(wave=np.full(4, int(wave[0]), np.float32), seed=seed)

    monkeypatch.setattr(clips_module, "generate_audio", fake_generate)
    settings = GenerateSettings(rate=8000, seconds=1.0, prompt_seconds=1.0, temperature=1.0,
                                seed=5)
    prompts = [SongExcerpt(np.full(8, i, np.float32), f"song {min(i, 1)}") for i in range(3)]
    result = generate(None, None, prompts, settings, None)
    # prompts of songs 0, 1, 1: clip 0 pairs with prompt 1, clips 1 and 2 with prompt 0
    assert calls == [(0, 5), (1, 6), (2, 7), (0, 8), (1, 5), (0, 6), (0, 7)]
    assert len(result.generations) == 3 and result.other_seed.seed == 8
    assert result.other_song_prompts == [1, 0, 0]
    assert [(g.wave[0], g.seed) for g in result.other_songs] == [(1, 5), (0, 6), (0, 7)]
    assert result.sensitivity_pairs() == [["song 0", "song 1"], ["song 1", "song 0"],
                                          ["song 1", "song 0"]]
    assert len(result.extra) == 4
    calls.clear()
    capped = generate(None, None, prompts, dataclasses.replace(settings, sensitivity_pairs=1),
                      None)
    assert calls[-1] == (1, 5) and len(calls) == 5  # the judge's cap: the first clip only
    assert capped.other_song_prompts == [1, None, None]
    assert [c.other_song is not None for c in capped.measured()] == [True, False, False]
    alone = generate(None, None, prompts[:1], settings, None)
    assert alone.other_songs == [None]  # one song: nothing to compare the prompt with
    assert alone.sensitivity_pairs() == []
    one_song = [SongExcerpt(np.full(8, i, np.float32), "song 0") for i in range(3)]
    assert generate(None, None, one_song, settings, None).other_song_prompts == [None] * 3


# --------------------------------------------------------------------------- own song


def _band(wave: np.ndarray, rate: int, low: float, high: float) -> np.ndarray:
    """``wave`` with only its ``low``-``high`` Hz band left (an FFT mask): a song's timbre."""
    spectrum = np.fft.rfft(wave)
    freqs = np.fft.rfftfreq(len(wave), 1.0 / rate)
    spectrum[(freqs < low) | (freqs > high)] = 0.0
    return np.fft.irfft(spectrum, len(wave)).astype(np.float32)


def test_own_song_tells_a_continuation_of_its_song_from_one_of_another():
    """A clip with the timbre of its prompt's song scores well below 1; the same clip
    credited to another song scores above 1; real excerpts of distinct songs score low."""
    from kara_core.testkit.transforms import music_like_signal

    rate = 16000
    songs = [_band(music_like_signal(20.0, rate, seed=1), rate, 50, 900),
             _band(music_like_signal(20.0, rate, seed=2), rate, 2500, 7000),
             _band(music_like_signal(20.0, rate, seed=4), rate, 900, 2500)]
    names = ["low.mp3", "high.mp3", "mid.mp3"]
    yard = music.yardstick(songs, rate, 4.0)
    references = own_song.song_references(songs, names, yard)
    assert references is not None and references.names == tuple(names)
    assert references.real < 0.5
    continuation = _band(music_like_signal(4.0, rate, seed=3), rate, 50, 900)
    own = own_song.own_song(continuation, "low.mp3", references, yard)
    credited_elsewhere = own_song.own_song(continuation, "high.mp3", references, yard)
    assert own < 0.5 < 1.0 < credited_elsewhere
    assert math.isnan(own_song.own_song(continuation, "unknown.mp3", references, yard))
    assert own_song.song_references(songs[:1], names[:1], yard) is None  # nothing to compare
    worst = scoring.summarize([{"own_song": own}, {"own_song": credited_elsewhere}],
                              MEASURES)["worst"]
    assert worst["own_song"] == credited_elsewhere  # the highest is the worst


def test_each_clip_records_whether_it_still_sounds_like_its_prompts_song():
    from kara_core.testkit.transforms import music_like_signal

    rate = 16000
    songs = [SongExcerpt(_band(music_like_signal(24.0, rate, seed=1), rate, 50, 900),
                         "low.mp3"),
             SongExcerpt(_band(music_like_signal(24.0, rate, seed=2), rate, 2500, 7000),
                         "high.mp3")]
    stays = _band(music_like_signal(12.0, rate, seed=3), rate, 50, 900)
    drifts = np.concatenate([stays[: 6 * rate],  # its song, then the other song's timbre
                             _band(music_like_signal(6.0, rate, seed=5), rate, 2500, 7000)])
    clips = made([stays, drifts], ["low.mp3", "low.mp3"])
    clips = dataclasses.replace(clips, rate=rate)
    record = evaluate(clips, HeldOutMusic(rate, songs), MEASURES, last_seconds=5.0)
    first, second = record["clips"]
    assert first["own_song"] < 1.0 and first["last_10s"]["own_song"] < 1.0
    assert second["last_10s"]["own_song"] > 1.0 > first["last_10s"]["own_song"]
    assert 0 < record["real"]["summary"]["median"]["own_song"] < 1.0
    assert record["summary"]["worst"]["own_song"] >= record["summary"]["median"]["own_song"]
    lone = evaluate(clips, HeldOutMusic(rate, songs[:1]), MEASURES, last_seconds=5.0)
    assert lone["clips"][0]["own_song"] is None  # one song: nothing to tell it from


# ----------------------------------------------------------- prompt sensitivity, every pair


def _three_songs() -> HeldOutMusic:
    """Three held-out songs of distinct timbres (bands), two 1 s prompts each, the songs in
    turn: songs 0, 1, 2, 0, 1, 2, as the run places them."""
    from kara_core.pipeline.evaluate.heldout import excerpt
    from kara_core.testkit.transforms import music_like_signal

    bands = [(50.0, 900.0), (2500.0, 3900.0), (900.0, 2500.0)]
    songs = [SongExcerpt(_band(music_like_signal(14.0, RATE, seed=number + 1), RATE, *band),
                         f"song-{number}.mp3") for number, band in enumerate(bands)]
    prompts = [SongExcerpt(excerpt(song.wave, RATE, offset, 1.0), song.source, True, offset)
               for offset in (0.0, 6.0) for song in songs]
    return HeldOutMusic(RATE, songs, prompts)


def _sensitivity_record(monkeypatch, held: HeldOutMusic, model) -> dict:
    """The ``music`` record of 4 s continuations of ``held``'s prompts by ``model``
    (``model(prompt_wave, seed) -> wave``), made by the generate stage's own
    :func:`generate` (which pairs the clips) and measured by :func:`evaluate`."""
    from types import SimpleNamespace

    import kara_core.pipeline.generate.clips as clips_module
    from kara_core.measures.sensitivity import PromptSensitivity
    from kara_core.pipeline.generate import GenerateSettings, generate

    def fake_generate(model_, transform, scale, wave, *, seed, seconds, **kwargs):
        out = np.asarray(model(np.asarray(wave, np.float32), seed), np.float32)
        return SimpleNamespace(wave=out, prompt_wave=wave, seconds=seconds, rtf=0.1,
                               compute_seconds=0.1 * seconds)

    monkeypatch.setattr(clips_module, "generate_audio", fake_generate)
    settings = GenerateSettings(rate=RATE, seconds=4.0, prompt_seconds=1.0, temperature=1.0,
                                diversity=False)
    clips = generate(None, None, list(held.prompts), settings, None)
    return evaluate(clips, held, [PromptSensitivity()])


def _ignores_its_prompt(prompt: np.ndarray, seed: int) -> np.ndarray:
    """Music that only the seed chooses: what a model that forgets its prompt makes."""
    from kara_core.testkit.transforms import music_like_signal

    return music_like_signal(4.0, RATE, seed=100 + seed)


def _repeats_its_prompt(prompt: np.ndarray, seed: int) -> np.ndarray:
    """Its prompt over and over: as different as the songs are, whatever the seed."""
    return np.tile(prompt, 5)[: 4 * RATE]


def test_a_model_that_ignores_its_prompt_has_no_prompt_sensitivity_on_any_pair(monkeypatch):
    held = _three_songs()
    record = _sensitivity_record(monkeypatch, held, _ignores_its_prompt)
    assert [c["prompt_sensitivity"] for c in record["clips"]] == [0.0] * 6
    assert record["prompt_sensitivity"] == 0.0
    assert record["summary"]["worst"]["prompt_sensitivity"] == 0.0
    names = [s.source for s in held.songs]
    assert record["sensitivity_pairs"] == [[names[n % 3], names[(n + 1) % 3]] for n in range(6)]
    # the real continuations of the same pairs are as different as the songs
    assert record["real"]["summary"]["median"]["prompt_sensitivity"] > 0.5


def test_a_model_that_repeats_its_prompt_is_sensitive_on_every_pair(monkeypatch):
    record = _sensitivity_record(monkeypatch, _three_songs(), _repeats_its_prompt)
    values = [c["prompt_sensitivity"] for c in record["clips"]]
    assert min(values) > 0.5, values
    assert record["summary"]["worst"]["prompt_sensitivity"] == min(values)
    assert record["prompt_sensitivity"] == pytest.approx(float(np.median(values)), abs=1e-3)
    assert "median prompt_sensitivity" not in " ".join(record["misses"])


def test_a_model_that_forgets_all_but_the_first_prompt_gets_a_low_median(monkeypatch):
    """The failure one pair per run passed: clip 0's pair (the prompt it remembers beside
    another song's, forgotten) is sensitive, yet four of the six pairs are two forgotten
    prompts with one seed: the same audio. The median over pairs says so."""
    held = _three_songs()
    first = np.asarray(held.prompts[0].wave, np.float32)

    def remembers_the_first(prompt: np.ndarray, seed: int) -> np.ndarray:
        if prompt.shape == first.shape and np.array_equal(prompt, first):
            return _repeats_its_prompt(prompt, seed)
        return _ignores_its_prompt(prompt, seed)

    record = _sensitivity_record(monkeypatch, held, remembers_the_first)
    values = [c["prompt_sensitivity"] for c in record["clips"]]
    assert values[0] > 0.5  # the one pair the old measure looked at
    assert values[1:5] == [0.0] * 4  # two forgotten prompts, one seed
    assert values[5] > 0.5  # the last clip's partner is the remembered first prompt
    assert record["prompt_sensitivity"] == 0.0
    assert record["summary"]["worst"]["prompt_sensitivity"] == 0.0
    assert any("median prompt_sensitivity" in miss for miss in record["misses"])
