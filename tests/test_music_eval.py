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

from kara_core.measures import music, own_song
from kara_core.pipeline.clips import clip_file, heldout_prompts, prompt_offsets
from kara_core.pipeline.parts import featurize
from kara_core.report import records
from kara_core.report.table import COLUMNS, fields
from tests.support.training import RATE, variant_of, write_config, write_songs


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
                            seconds=1.5, prompt_seconds=0.5)
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
    transform = variant.build_transform()
    prompts = heldout_prompts(features, transform, variant)
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


def test_several_prompts_give_several_files_a_median_and_a_worst(songs_and_features, capsys):
    from kara_core.pipeline.experiment import generate_and_evaluate

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
    for key in ("fd_ratio", "spread", "loop", "level_db", "silent"):
        values = [c[key] for c in clips]
        assert section["summary"]["median"][key] == pytest.approx(float(np.median(values)),
                                                                   abs=1e-3)
        worst = section["summary"]["worst"][key]
        assert worst == pytest.approx(max(values, key=abs) if key == "level_db" else
                                      max(values) if key in ("fd_ratio", "silent")
                                      else min(values), abs=1e-3)
        assert key in section["last_10s"]["summary"]["median"]
        assert all(key in c["last_10s"] for c in clips)
    # real music, replayed, measures like real music: nothing collapses
    assert 0.6 < section["summary"]["median"]["spread"] < 1.6
    assert section["summary"]["median"]["loop"] > 0.6
    assert abs(section["summary"]["median"]["level_db"]) < 6
    assert section["collapsed"] == 0 and "collapsed" not in capsys.readouterr().err
    assert section["diversity"] > 0.5  # another seed, other music
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


def test_a_collapsed_clip_prints_one_line_naming_the_variant_and_the_prompt(
        songs_and_features, capsys):
    from kara_core.pipeline.experiment import generate_and_evaluate

    variant, features = songs_and_features
    variant = with_generate(dataclasses.replace(variant, name="frozen"), prompts=2)
    persistence = PersistenceModel(BaselineOptions(input_frames=8, output_frames=4), 64)
    stale = variant.run_dir / "generated-3.wav"  # from an earlier run with more prompts
    stale.parent.mkdir(parents=True, exist_ok=True)
    stale.write_bytes(b"old")
    metrics = generate_and_evaluate(variant, features, persistence, show_progress=False)
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if "collapsed" in line]
    assert len(lines) == 2, err
    for number, line in enumerate(lines, 1):
        assert line.startswith("warning: frozen: prompt ")
        assert f"prompt {number} (" in line and "song" in line
        assert line.split("collapsed: ")[1].startswith("frozen: the audio stops changing")
    section = metrics["music"]
    assert section["collapsed"] == 2 and not section["meets_targets"]
    assert all(c["collapse"] for c in section["clips"])
    assert any("clip 1: loop" in miss for miss in section["misses"])
    assert section["diversity"] == 0.0  # repeating the last frame: the seed changes nothing
    assert not stale.exists() and (variant.run_dir / "generated-2.wav").is_file()


def test_the_end_of_a_clip_is_measured_on_its_own():
    from types import SimpleNamespace

    from kara_core.pipeline.clips import Clips, evaluate_music
    from kara_core.pipeline.generate import PromptAudio
    from kara_core.testkit.transforms import music_like_signal

    reference = [music_like_signal(12.0, RATE, seed=s) for s in (1, 2)]
    good = music_like_signal(6.0, RATE, seed=3)
    frozen = np.tile(good[:512], 12 * RATE // 512 + 1)[: 6 * RATE]
    fades = np.concatenate([good, frozen])  # music, then a frozen buzz for its last 6 s
    generation = SimpleNamespace(wave=fades, rtf=0.1, seconds=12.0, compute_seconds=1.2)
    made = Clips([PromptAudio(np.zeros(10, np.float32), "a.mp3", True)], [generation], None)
    record = evaluate_music(made, reference, RATE, last_seconds=5.0)
    clip = record["clips"][0]
    assert record["last_10s"]["seconds"] == 5.0
    assert clip["last_10s"]["loop"] < 0.3 < clip["loop"]
    assert clip["collapse"].startswith("in its last 5 s, ")
    assert record["diversity"] is None


def test_generation_score_is_zero_on_target_and_grows_with_each_distance():
    good = {"spread": 1.0, "loop": 0.9, "fd_ratio": 0.5, "level_db": -2.0}
    assert music.generation_score(good) == 0.0
    smear = {**good, "spread": 0.4}
    loop = {**good, "loop": 0.2}
    far = {**good, "fd_ratio": 3.0}
    quiet = {**good, "level_db": -30.0}
    for worse in (smear, loop, far, quiet):
        assert music.generation_score(worse) > 0.5
    assert music.generation_score({**smear, "loop": 0.2}) > music.generation_score(smear)
    assert music.generation_score({**good, "loop": math.nan}) == math.inf


# --------------------------------------------------------------------------- the table

MEETS = {"summary": {"median": {"fd_ratio": 0.61, "spread": 0.97, "loop": 0.83, "level_db": -1.2,
                                "own_song": 0.71},
                     "worst": {"fd_ratio": 0.92, "spread": 0.71, "loop": 0.62, "level_db": -4.8,
                               "own_song": 2.3}},
         "diversity": 0.88, "meets_targets": True, "misses": []}
SMEARS = {"summary": {"median": {"fd_ratio": 2.23, "spread": 0.22, "loop": 0.15, "level_db": -9.0},
                      "worst": {"fd_ratio": 3.1, "spread": 0.12, "loop": 0.04, "level_db": -27.4}},
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
    result = kara("compare", str(folder))
    assert result.returncode == 0, result.stderr
    out = result.stdout
    for text in ("fd_ratio", "spread", "loop", "diver", "level dB", "tar",
                 "0.61 (0.92)", "0.97 (0.71)", "0.83 (0.62)", "0.88", "-1 (-5)",
                 "2.23 (3.10)", "0.22 (0.12)", "0.15 (0.04)", "-9 (-27)", "✓", "✗",
                 "median over the prompts", "own song", "0.71 (2.30)"):
        assert text in out, (text, out)
    header = out[: out.index("val")]
    assert "fd_ratio" in header and "loop" in header, "music columns come before the losses"
    keys = [c.key for c in COLUMNS]
    assert keys.index("targets") < keys.index("val_loss")

    narrow = kara("compare", str(folder), env={"COLUMNS": "100"})
    assert max(len(line) for line in narrow.stdout.splitlines()) <= 100
    assert "…" not in narrow.stdout and "0.61 (0.92)" in narrow.stdout


def test_csv_and_json_carry_the_median_and_the_worst(tmp_path, kara):
    folder = music_runs(tmp_path)
    rows = list(csv.DictReader(io.StringIO(kara("compare", str(folder), "--csv").stdout)))
    assert list(rows[0]) == fields()
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
    from kara_core.pipeline.train.judge import make_judge

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
    judge = make_judge(variant, features)
    first, again = judge(model), judge(model)
    assert first["audio"].shape == (RATE,) and first["rate"] == RATE
    assert len(first["scores"]) == variant.train.judge_prompts == 3
    assert first["score"] == again["score"]  # repeatable
    assert make_judge(with_train(variant, judge_seconds=0.0), features) is None


def test_the_judges_score_is_zero_exactly_when_the_clips_meet_the_targets():
    """The judge scores an epoch as the evaluation judges a variant: the targets on the
    medians, and no clip collapsing; a clip a little outside a range that the medians
    meet costs nothing, one collapsed clip costs the epoch."""
    good = {"fd_ratio": 0.4, "spread": 1.0, "loop": 1.1, "level_db": -2.0}
    clips = [good, dict(good, spread=1.3, fd_ratio=0.9), dict(good, loop=0.9)]
    assert music.misses(clips) == [] and music.clips_score(clips) == 0.0
    assert music.generation_score(clips[1]) > 0  # alone, that clip misses its range

    collapsed = [good, dict(good, spread=0.2, loop=0.1), good]
    assert music.misses(collapsed) and music.clips_score(collapsed) > 0.5
    smeared = [dict(good, spread=0.7)] * 3
    assert music.misses(smeared) and music.clips_score(smeared) == pytest.approx(
        math.log(0.8) - math.log(0.7))
    loud = [dict(good, level_db=18.0)] * 3
    assert music.misses(loud) and music.clips_score(loud) > 0
    assert music.clips_score([dict(good, loop=math.nan)]) == math.inf
    assert music.clips_score([]) == math.inf


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
    from kara_core.pipeline.train.judge import make_judge

    variant, features = songs_and_features
    variant = with_train(variant, judge_seconds=1.0, judge_prompts=3)
    frames = np.concatenate([s.frames() for s in features.train])
    judge = make_judge(variant, features)
    assert judge is not None

    sound = FreezesOnSeed(frames, frozen_seed=-1)
    good = judge(sound)
    assert sound.seeds == [0, 1, 2] and len(good["scores"]) == 3
    assert good["score"] <= max(good["scores"])
    assert good["audio"].shape == (RATE,)

    freezes = FreezesOnSeed(frames, frozen_seed=1)
    bad = judge(freezes)
    assert bad["scores"][0] == good["scores"][0]  # the same first clip
    assert bad["scores"][1] > good["scores"][1] + 1.0  # the frozen one
    assert bad["score"] > good["score"] + 0.3

    alone = make_judge(with_train(variant, judge_prompts=1), features)
    assert alone is not None and alone(freezes)["score"] == alone(sound)["score"]


def test_the_temperature_hint_appears_only_where_there_is_a_temperature_to_lower():
    import numpy as np

    from kara_core.pipeline import generate as gen
    from kara_core.pipeline.clips import Clips

    def drifted() -> gen.Generation:
        empty = np.zeros(4, np.float32)
        return gen.Generation(
            prompt_wave=empty, prompt_frames=empty, frames=empty, wave=empty,
            model_seconds=0.0, inverse_seconds=0.0, peak=0.5, peak_normalised=False,
            seconds=1.0, clipped_fraction=0.2,
        )

    clips = Clips(prompts=[], generations=[drifted()], other_seed=None)
    assert "lower generate.temperature?" in clips.notes("base", 1.0)[0]
    at_zero = clips.notes("base", 0.0)[0]
    assert "temperature" not in at_zero and "drifts out of range on its own" in at_zero


def test_each_prompt_has_its_own_seed_and_the_diversity_clip_another(monkeypatch):
    """One seed for every prompt drives a model that forgets its prompt to one clip."""
    from types import SimpleNamespace

    import numpy as np

    from kara_core.pipeline import clips as clips_module
    from kara_core.pipeline import generate as gen

    seeds: list[int] = []

    def fake_generate(*args, seed, **kwargs):
        seeds.append(seed)
        return "clip"

    monkeypatch.setattr(gen, "generate_audio", fake_generate)
    variant = SimpleNamespace(
        generate=SimpleNamespace(seed=5, temperature=1.0, prompt_seconds=1.0),
        dataset=SimpleNamespace(sample_rate=8000),
    )
    prompts = [gen.PromptAudio(np.zeros(8, np.float32), f"song {i}", True) for i in range(3)]
    made = clips_module.generate_clips(None, None, None, prompts, variant, 1.0)
    assert seeds == [5, 6, 7, 8]
    assert len(made.generations) == 3 and made.other_seed == "clip"


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
    worst = music.summarize([{"own_song": own}, {"own_song": credited_elsewhere}])["worst"]
    assert worst["own_song"] == credited_elsewhere  # the highest is the worst


def test_each_clip_records_whether_it_still_sounds_like_its_prompts_song():
    from types import SimpleNamespace

    from kara_core.pipeline.clips import Clips, evaluate_music
    from kara_core.pipeline.generate import PromptAudio
    from kara_core.testkit.transforms import music_like_signal

    rate = 16000
    songs = [_band(music_like_signal(24.0, rate, seed=1), rate, 50, 900),
             _band(music_like_signal(24.0, rate, seed=2), rate, 2500, 7000)]
    stays = _band(music_like_signal(12.0, rate, seed=3), rate, 50, 900)
    drifts = np.concatenate([stays[: 6 * rate],  # its song, then the other song's timbre
                             _band(music_like_signal(6.0, rate, seed=5), rate, 2500, 7000)])
    clips = [SimpleNamespace(wave=w, rtf=0.1, seconds=12.0, compute_seconds=1.2)
             for w in (stays, drifts)]
    prompts = [PromptAudio(np.zeros(10, np.float32), "low.mp3", True)] * 2
    record = evaluate_music(Clips(prompts, clips, None), songs, rate, last_seconds=5.0,
                            sources=["low.mp3", "high.mp3"])
    first, second = record["clips"]
    assert first["own_song"] < 1.0 and first["last_10s"]["own_song"] < 1.0
    assert second["last_10s"]["own_song"] > 1.0 > first["last_10s"]["own_song"]
    assert 0 < record["yardstick"]["own_song_real"] < 1.0
    assert record["summary"]["worst"]["own_song"] >= record["summary"]["median"]["own_song"]
    unnamed = evaluate_music(Clips(prompts, clips, None), songs, rate, last_seconds=5.0)
    assert "own_song" not in unnamed["clips"][0]
    assert unnamed["yardstick"]["own_song_real"] is None
