"""``kara run`` end to end on a tiny synthesised dataset, then ``kara generate``.

One experiment is run once per module: the persistence baseline as the base, a tiny LSTM
(8 units, 1 epoch), the mean baseline, and a variant pointing at a missing folder, which
must fail in one line while the others finish with their audio, records and pages.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from tests.support.cli import run_kara, write_yaml

RATE = 8000
pytestmark = pytest.mark.skipif(shutil.which("lame") is None, reason="lame is not installed")

CONFIG = f"""\
name: tiny
dataset: {{mp3_dir: mp3, sample_rate: {RATE}, val_fraction: 0.34}}
decoder: {{type: lame, fallback: soundfile}}
transform: {{type: raw, options: {{frame_size: 128}}}}
model: {{type: persistence, options: {{input_frames: 8, output_frames: 4}}}}
train: {{epochs: 1, batch_size: 16}}
generate: {{seconds: 1.0, prompt_seconds: 0.5, mp3: true}}
variants:
  lstm:
    model: {{type: lstm_seq2seq, options: {{layers: 1, units: 8, input_frames: 8,
             output_frames: 4}}}}
  mean: {{model: {{type: mean, options: {{input_frames: 8, output_frames: 4}}}}}}
  broken: {{dataset: {{mp3_dir: nowhere, wav_dir: nowhere-wav}}}}
"""


def song(seed: int, seconds: float = 3.0) -> np.ndarray:
    """A few seconds of chords with an envelope: music-like, never silent."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * RATE)) / RATE
    wave = np.zeros_like(t)
    for start in np.arange(0, seconds, 0.5):
        notes = 110 * 2 ** (rng.integers(0, 24, 3) / 12)
        env = np.clip((t - start) * 20, 0, 1) * np.exp(-np.clip(t - start, 0, None) * 3)
        env *= t >= start
        wave += env * sum(np.sin(2 * np.pi * f * t) for f in notes)
    return (0.25 * wave / np.max(np.abs(wave))).astype(np.float32)


@pytest.fixture(scope="module")
def experiment(tmp_path_factory):
    folder = tmp_path_factory.mktemp("run")
    (folder / "mp3").mkdir()
    for i in range(3):
        wav = folder / f"song{i}.wav"
        sf.write(wav, song(i), RATE, subtype="PCM_16")
        subprocess.run(["lame", "--quiet", str(wav), str(folder / "mp3" / f"song {i}.mp3")],
                       check=True)
        wav.unlink()
    config = write_yaml(folder, CONFIG)
    # the table's music columns make a row wider than 260 columns (narrower gets it turned)
    result = run_kara("run", str(config), "--all", cwd=folder, env={"COLUMNS": "320"})
    return folder, config, result


def runs(folder: Path) -> Path:
    return folder / "runs" / "tiny"


def test_every_variant_runs_and_the_broken_one_fails_in_one_line(experiment):
    folder, _config, result = experiment
    assert result.returncode == 0, result.stderr[-3000:]
    assert "Traceback" not in result.stderr
    # three seconds of synthetic songs cannot stand for music: the verdict says so
    verdict = result.stdout.strip().splitlines()[-1]
    assert verdict.startswith("verdict: no variant meets every music target (best: "), verdict
    assert "the demo's synthetic songs cannot meet music targets" in result.stdout
    failures = [line for line in result.stderr.splitlines() if "error: variant broken" in line]
    assert len(failures) == 1 and "nowhere" in failures[0], result.stderr[-2000:]
    # an overall ETA across the variants, from kara check's estimates
    assert "left for 4 variant(s) (kara check's estimate" in result.stderr, result.stderr[:3000]
    table = result.stdout
    rows = [line.split()[0] for line in table.splitlines() if line.strip()]
    for name in ("base", "lstm", "mean", "broken"):
        assert name in rows, table
    assert "broken (failed)" in table
    for header in ("round trip", "val", "persistence", "skill", "RTF", "Fréchet", "silent"):
        assert header in table
    metrics = json.loads((runs(folder) / "broken" / "metrics.json").read_text())
    assert metrics["status"] == "failed" and "nowhere" in metrics["error"]


@pytest.mark.parametrize("variant", ["base", "lstm", "mean"])
def test_each_run_folder_holds_the_whole_record(experiment, variant):
    folder, _config, _result = experiment
    run_dir = runs(folder) / variant
    for name in ("config.resolved.yaml", "versions.json", "metrics.json", "prompt.wav",
                 "roundtrip.wav", "generated.wav", "spectrograms.png", "drift.png",
                 "drift.json", "report.html"):
        assert (run_dir / name).is_file(), name
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert metrics["status"] == "ok"
    for key in ("val_loss", "skill", "baselines"):
        assert key in metrics, key
    assert metrics["roundtrip"]["snr_db"] > 80  # raw frames are lossless: the ceiling is high
    assert metrics["generation"]["frames"] == int(np.ceil(1.0 * RATE / 128))
    assert metrics["generation"]["prompt_held_out"] is True
    drift = metrics["evaluation"]["drift"]
    assert drift["steps"] > 0 and drift["teacher_forced_mse_mean"] >= 0
    generated, rate = sf.read(run_dir / "generated.wav", dtype="float32")
    assert rate == RATE and generated.shape == (RATE,)
    mp3, _rate = sf.read(run_dir / "generated.mp3", dtype="float32")  # generate.mp3: true
    assert abs(mp3.shape[0] - RATE) < RATE // 4
    assert "generated.mp3" in metrics["generation"]["files"]
    prompt, _ = sf.read(run_dir / "prompt.wav", dtype="float32")
    assert prompt.shape == (RATE // 2,) and np.abs(prompt).max() > 0.01
    roundtrip, _ = sf.read(run_dir / "roundtrip.wav", dtype="float32")
    assert roundtrip.shape[0] >= prompt.shape[0]
    versions = json.loads((run_dir / "versions.json").read_text())
    for key in ("kara", "python", "numpy", "tensorflow", "decoder", "plugins"):
        assert versions.get(key), key
    assert versions["decoder"].startswith("LAME")  # the configured decoder says its version
    assert "kara_lstm" in versions["plugins"]
    resolved = (run_dir / "config.resolved.yaml").read_text()
    assert f"variant: {variant}" in resolved


@pytest.mark.parametrize("variant", ["base", "lstm", "mean"])
def test_every_row_is_measured_on_the_audio_of_six_prompts(experiment, variant):
    folder, _config, result = experiment
    run_dir = runs(folder) / variant
    section = json.loads((run_dir / "metrics.json").read_text())["music"]
    files = ["generated.wav"] + [f"generated-{n}.wav" for n in range(2, 7)]
    assert [clip["file"] for clip in section["clips"]] == files
    for name in files:
        wave, _rate = sf.read(run_dir / name, dtype="float32")
        assert wave.shape == (RATE,)
    assert section["seconds"] == 1.0 and section["prompts"] == 6
    for part in ("median", "worst"):
        assert {"fd_ratio", "spread", "loop", "level_db", "silent"} <= set(
            section["summary"][part])
    assert set(section["last_10s"]["summary"]) == {"median", "worst"}
    assert "diversity" in section and isinstance(section["misses"], list)
    assert section["yardstick"]["held_out"] and section["yardstick"]["excerpts"] > 0
    collapsed = [line for line in result.stderr.splitlines()
                 if line.startswith(f"warning: {variant}: ") and "collapsed" in line]
    count = sum(1 for clip in section["clips"] if clip["collapse"])
    assert len(collapsed) == (1 if count else 0), result.stderr  # one line per variant
    if count:
        assert f"{variant}: {count} of 6 clips collapsed" in collapsed[0]
    assert "fd_ratio" in result.stdout and "(worst)" in result.stdout


def test_the_measures_tell_the_baselines_apart(experiment):
    folder, _config, _result = experiment
    base = json.loads((runs(folder) / "base" / "metrics.json").read_text())
    mean = json.loads((runs(folder) / "mean" / "metrics.json").read_text())
    # persistence repeats a loud frame; the mean frame of music is nearly silence
    assert base["evaluation"]["silent_fraction"] == 0.0
    assert mean["evaluation"]["rms_ratio"] < base["evaluation"]["rms_ratio"]
    assert base["skill"] == pytest.approx(0.0, abs=1e-6)  # persistence against itself


def test_a_second_run_reuses_every_cache_and_prints_json(experiment):
    folder, config, _result = experiment
    caches = sorted(p for p in (folder / "dataset").rglob("*.*") if p.suffix in (".wav", ".npy"))
    assert caches, "the first run left decoded wavs and feature caches"
    stamps = {p: p.stat().st_mtime_ns for p in caches}
    result = run_kara("run", str(config), "--only", "base", "lstm", "--json", cwd=folder)
    assert result.returncode == 0, result.stderr[-2000:]
    data = json.loads(result.stdout)
    assert [v["variant"] for v in data["variants"]] == ["base", "lstm"]
    base = data["variants"][0]
    assert base["run_dir"] == str(runs(folder) / "base")
    for key in ("val_loss", "skill", "roundtrip", "generation", "evaluation", "baselines"):
        assert key in base["metrics"], key
    assert base["summary"]["mel_frechet"] == base["metrics"]["evaluation"]["mel_frechet"]
    assert {p: p.stat().st_mtime_ns for p in caches if p.exists()} == stamps
    assert "lstm epoch" not in result.stderr, result.stderr  # the trained model is reused
    assert data["variants"][1]["metrics"]["training"]["reused"]

    assert data["verdict"]["best"] in ("base", "lstm") and data["verdict"]["demo_music"]
    compared = run_kara("compare", str(runs(folder)), "--json", cwd=folder)
    listed = json.loads(compared.stdout)["variants"]
    saved = {v["variant"]: v for v in listed}
    assert saved["base"]["metrics"] == base["metrics"]
    assert [v["variant"] for v in listed] == ["base", "lstm", "mean", "broken"]  # config order

    short = run_kara("compare", str(runs(folder)), cwd=folder, env={"COLUMNS": "100"})
    header = next(line for line in short.stdout.splitlines() if "base" in line)
    assert header.split() == ["base", "lstm", "mean", "broken", "real", "music"], short.stdout
    assert max(len(line) for line in short.stdout.splitlines()) <= 100
    assert "fd_ratio" in short.stdout and "(worst)" not in short.stdout


def folder_state(folder: Path) -> dict[str, tuple[int, bytes]]:
    """Every file under ``folder``: its mtime and bytes."""
    return {str(p.relative_to(folder)): (p.stat().st_mtime_ns, p.read_bytes())
            for p in sorted(folder.rglob("*")) if p.is_file()}


def test_generate_to_a_file_and_from_a_prompt_file(experiment):
    folder, config, _result = experiment
    out = folder / "out" / "new.wav"
    before = folder_state(runs(folder))
    result = run_kara("generate", str(config), "--variant", "lstm", "--seconds", "0.5",
                      "--out", str(out), cwd=folder)
    assert result.returncode == 0, result.stderr[-2000:]
    wave, rate = sf.read(out, dtype="float32")
    assert rate == RATE and wave.shape == (RATE // 2,) and np.isfinite(wave).all()
    assert "real time" in result.stderr
    # docs/guide.md: "--out FILE writes only that file and leaves the run record alone"
    after = folder_state(runs(folder))
    assert sorted(after) == sorted(before)
    changed = [name for name in before if after[name] != before[name]]
    assert changed == [], changed
    assert sorted(p.name for p in out.parent.iterdir()) == ["new.wav"]
    assert "at temperature" in result.stderr  # auto: the temperature calibrated by the run

    # --seed and --temperature: one temperature, two seeds, two different continuations
    waves = {}
    for seed in ("3", "4"):
        result = run_kara("generate", str(config), "--variant", "lstm", "--seconds", "0.5",
                          "--seed", seed, "--temperature", "0.8",
                          "--out", str(folder / "out" / f"seed{seed}.wav"), cwd=folder)
        assert result.returncode == 0, result.stderr[-2000:]
        assert "at temperature 0.8" in result.stderr
        waves[seed], _rate = sf.read(folder / "out" / f"seed{seed}.wav", dtype="float32")
    assert not np.allclose(waves["3"], waves["4"])
    # a prompt file at another rate, shorter than the model's context (8 frames of 128)
    short = folder / "out" / "short.wav"
    sf.write(short, song(7, 0.05)[:400], 44100, subtype="PCM_16")
    result = run_kara("generate", str(config), "--variant", "lstm", "--seconds", "0.5",
                      "--prompt", str(short), "--out", str(folder / "out" / "short-out.wav"),
                      cwd=folder)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "shorter than the model's context" in result.stderr

    prompt = folder / "mp3" / "song 1.mp3"
    result = run_kara("generate", str(config), "--prompt", str(prompt), cwd=folder)
    assert result.returncode == 0, result.stderr[-2000:]
    metrics = json.loads((runs(folder) / "base" / "metrics.json").read_text())
    assert metrics["generation"]["prompt_source"] == str(prompt)
    assert metrics["generation"]["prompt_held_out"] is False

    missing = run_kara("generate", str(config), "--prompt", "nope.mp3", cwd=folder)
    assert missing.returncode == 2 and "nope.mp3" in missing.stderr
    assert "Traceback" not in missing.stderr


def test_the_pages_of_a_real_run_load_in_a_browser(experiment, tmp_path):
    from tests.test_report_html import load_states

    folder, _config, _result = experiment
    report = load_states(runs(folder) / "lstm" / "report.html", tmp_path)
    assert {s[0] for s in report} == {"AUDIO", "IMG"}
    index = load_states(runs(folder) / "index.html", tmp_path)
    assert len([s for s in index if s[0] == "AUDIO"]) == 9  # 3 players x 3 variants that ran
    for states in (report, index):
        assert all(s[2] == "ok" for s in states), states
    page = (runs(folder) / "index.html").read_text()
    assert "broken" in page and "failed" in page


def test_no_music_is_one_error_before_any_variant(tmp_path):
    config = write_yaml(tmp_path, "name: none\ndataset: {mp3_dir: nothing}\n"
                        "transform: {type: raw}\nmodel: {type: persistence}\n"
                        "variants: {other: {model: {type: mean}}}\n")
    result = run_kara("run", str(config), cwd=tmp_path)
    assert result.returncode == 2
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "nothing: no such folder" in lines[0], result.stderr
    assert not (tmp_path / "runs").exists()  # nothing written


def test_the_versions_record_never_imports_tensorflow():
    code = ("import json, sys; from kara_core.report.versions import collect_versions; "
            "v = collect_versions(); print(json.dumps([v['tensorflow'], v['numpy'], "
            "'tensorflow' in sys.modules]))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            timeout=120, check=False)
    tensorflow, numpy, imported = json.loads(result.stdout)
    assert tensorflow and numpy and imported is False


def copy_of(experiment, tmp_path: Path) -> Path:
    """A copy of the finished experiment's folder, to break without touching the original."""
    folder, _config, result = experiment
    assert result.returncode == 0, result.stderr[-2000:]
    copy = tmp_path / "copy"
    shutil.copytree(folder, copy, ignore=shutil.ignore_patterns("*.lock"))
    manifest = copy / "dataset" / "wav" / "manifest.json"  # it names the music folder
    manifest.write_text(manifest.read_text().replace(str(folder), str(copy)))
    return copy


def snapshot(folder: Path) -> dict[str, bytes]:
    """Every record, page and WAV an earlier run left, by path."""
    found = [*folder.glob("runs/tiny/*/metrics.json"), folder / "runs" / "tiny" / "index.html",
             *folder.rglob("*.wav")]
    return {str(p.relative_to(folder)): p.read_bytes() for p in found}


def test_an_emptied_music_folder_is_one_error_and_leaves_every_result(experiment, tmp_path):
    copy = copy_of(experiment, tmp_path)
    for mp3 in (copy / "mp3").iterdir():
        mp3.unlink()
    before = snapshot(copy)
    assert any(name.endswith("metrics.json") for name in before) and len(before) > 10
    for command in (["run"], ["check"]):  # no config named: ./kara.yaml
        result = run_kara(*command, cwd=copy)
        lines = [line for line in result.stderr.splitlines() if line.strip()]
        assert result.returncode == 2, result.stderr[-2000:]
        assert len(lines) == 1 and "mp3: no .mp3 files found" in lines[0], result.stderr
    assert snapshot(copy) == before


BROKEN_PLUGIN = """
from kara_core.hookspecs import hookimpl
from kara_transforms.raw import RawTransform


class BrokenInverse(RawTransform):
    name = "raw_broken"

    def inverse(self, frames, length):
        return self.no_such_attribute


@hookimpl
def kara_register_transforms(register):
    register(BrokenInverse)
"""


def test_an_exception_in_a_plugin_is_one_line_and_keeps_the_earlier_record(experiment,
                                                                             tmp_path):
    from tests.support.cli import fake_distribution

    copy = copy_of(experiment, tmp_path)
    fake_distribution(tmp_path / "site", "brokenplug", BROKEN_PLUGIN)
    config = copy / "kara.yaml"
    config.write_text(config.read_text().replace(
        "transform: {type: raw,", "transform: {type: raw_broken,"))
    record = copy / "runs" / "tiny" / "base" / "metrics.json"
    earlier = json.loads(record.read_text())
    result = run_kara("run", "--only", "base", cwd=copy,
                      env={"PYTHONPATH": str(tmp_path / "site")})
    assert result.returncode == 2, result.stderr[-2000:]
    assert "Traceback" not in result.stderr
    [line] = [line for line in result.stderr.splitlines() if "error: variant base" in line]
    assert "transform 'raw_broken' of plugin 'brokenplug' (brokenplug 0.1)" in line, line
    assert "raised AttributeError" in line and "no_such_attribute" in line, line
    raising = BROKEN_PLUGIN.splitlines().index("        return self.no_such_attribute") + 1
    assert f"brokenplug/__init__.py:{raising};" in line and "--debug" in line, line
    kept = json.loads(record.read_text())
    assert kept["status"] == "ok" and kept["music"] == earlier["music"]
    assert "AttributeError" in kept["last_failure"]["error"]
    site = {"PYTHONPATH": str(tmp_path / "site")}
    shown = run_kara("compare", "--json", cwd=copy, env=site)  # ./kara.yaml's experiment
    assert shown.returncode == 0, shown.stderr
    rows = {row["variant"]: row for row in json.loads(shown.stdout)["variants"]}
    shown_music = {k: v for k, v in rows["base"]["metrics"]["music"].items() if k != "measures"}
    assert rows["base"]["status"] == "ok"  # the earlier figures, described by today's measures
    assert shown_music == {k: v for k, v in earlier["music"].items() if k != "measures"}
    # what the failed run kept beside the record is Kara's: kara clean removes it whole
    base = record.parent
    assert (base / "metrics.last-ok.json").is_file() and (base / "model-source.json").is_file()
    sources = list((copy / "dataset" / "cache").glob("raw*/source.json"))
    assert len(sources) == 2  # raw's frames and raw_broken's
    other = write_yaml(copy, "name: other\ndataset: {mp3_dir: mp3}\n"
                       "transform: {type: raw, options: {frame_size: 64}}\n"
                       "model: {type: persistence}\n", "other.yaml")
    cleaned = run_kara("clean", str(other), "--yes", cwd=copy, env=site)
    assert cleaned.returncode == 0, cleaned.stderr
    assert "left" not in cleaned.stderr and "no record" not in cleaned.stderr, cleaned.stderr
    assert not base.exists() and not any(p.parent.exists() for p in sources)


def test_clean_removes_every_file_a_real_run_wrote(experiment, tmp_path):
    """Everything ``kara run`` writes in a run folder is recorded as Kara's: ``kara clean``
    of a copy removes the other variants' folders whole, saying nothing is left."""
    folder, _config, _result = experiment
    shutil.copytree(runs(folder), tmp_path / "runs" / "tiny", symlinks=True)
    (tmp_path / "mp3").mkdir()
    config = write_yaml(tmp_path, "name: tiny\ndataset: {mp3_dir: mp3}\n"
                        "transform: {type: raw}\nmodel: {type: persistence}\n")
    assert (tmp_path / "runs" / "tiny" / "lstm" / "model-source.json").is_file()
    result = run_kara("clean", str(config), "--yes", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "3 unused folder(s)" in result.stderr and "left" not in result.stderr
    assert sorted(p.name for p in (tmp_path / "runs" / "tiny").iterdir()
                  if p.is_dir()) == ["base"]
