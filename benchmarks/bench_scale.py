"""Kara on a real collection: hours of music, stage by stage, at 1x and 10x.

From the songs of a music folder (default: the demo songs in ``dataset/mp3``) the benchmark
builds a collection of about ``--hours`` of audio in a scratch folder outside the
repository: every copy of a song is rotated in time (it starts somewhere else and wraps
around), played up to 4% faster or slower, changed in level and re-encoded by ``lame`` at
another bitrate, sample rate and channel mode, so no two files are alike. The *10x*
collection is the whole of it; the *1x* collection is a tenth of it (links to every tenth
file's worth of songs). Then, with the default kara.yaml (read at run time: its transform,
model and train settings, only the paths and the number of training steps changed):

* ``kara check --json`` on both, before anything is prepared: what the run will cost;
* prepare (``lame``, all cores), at 1x and 10x, and at 1x with the ``soundfile`` decoder;
* featurize with the base transform at 1x and 10x, and each other transform of the
  variants at 1x (cache bytes per hour of audio per transform);
* training of the base variant for a fixed number of steps at 1x and 10x (``--rounds``
  interleaved rounds, the best of each kept; a step's median time is compared, which
  other work on the machine disturbs least), and of every other variant at 1x with
  ``--all-variants``;
* ``kara generate`` of the base variant at 1x and 10x (the default generate settings).

Every stage runs in its own process, which samples its own memory every 10 ms (peak
anonymous RSS, what the process allocated; and VmHWM, which also counts the pages of
memory-mapped cache files it touched, pages the kernel can drop at any time) and reports
the peak RSS of its largest child process (prepare's workers, lame).

Targets (DESIGN section 7, issue 14): featurize and training peak memory at 10x within
1.25x of 1x (anonymous RSS; VmHWM is reported beside it); training steps/s at 10x at least
0.8x of 1x; ``kara check``'s estimates of prepare, featurize and training time within 2x
of the measured stage times (and its disk figures within 1%). A missed target is said and
the exit code is 1. Results: ``benchmarks/results/scale.json``.

    .venv/bin/python benchmarks/bench_scale.py                 # make bench: 0.5 h (3 min at 1x)
    nice -n 19 .venv/bin/python benchmarks/bench_scale.py /path/to/music --hours 10 \\
        --work /tmp/kara-scale --steps 150 --rounds 2 --all-variants --save-figures \\
        --music-name "the 21-song corpus (xmoto-data, extremetuxracer-data, ...)"

``--save-figures`` writes the measured decode speeds, featurize's file costs and each
trained model's seconds per step (validation, judging, start-up) into
``kara_core/pipeline/cost/figures.py``, the figures ``kara check`` estimates with. Every
measurement of a run is kept in ``<work>/raw.json``; ``--report-only --work DIR`` reports
(and saves figures) from it again without measuring.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, cast

import numpy as np
from memory_peak import PeakSampler, status_kb

REPO = Path(__file__).resolve().parent.parent
RESULTS = REPO / "benchmarks" / "results" / "scale.json"
FIGURES = REPO / "kara_core" / "pipeline" / "cost" / "figures.py"
TARGET_MEMORY, TARGET_SPEED, TARGET_ESTIMATE = 1.25, 0.8, 2.0
RAW = "raw.json"  # every measurement of a run, in its --work folder

# (lame options, sample rate, channels): the encodings the copies cycle through
ENCODINGS: tuple[tuple[tuple[str, ...], int, int], ...] = (
    (("-b", "128"), 44100, 2),
    (("-V", "4"), 44100, 2),
    (("-b", "192", "-m", "s"), 48000, 2),
    (("-V", "2"), 32000, 2),
    (("-b", "64", "-m", "m"), 22050, 1),
    (("-V", "6"), 24000, 1),
    (("--abr", "160"), 44100, 2),
    (("-b", "96", "-m", "j"), 32000, 2),
)


# ---------------------------------------------------------------------- the collection


def _log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def source_songs(music: Path) -> list[tuple[Path, float]]:
    """``(path, seconds)`` of every mp3 in ``music`` (sorted), read by libsndfile."""
    import soundfile as sf

    found = []
    for path in sorted(p for p in music.rglob("*") if p.suffix.lower() == ".mp3"):
        try:
            found.append((path, float(sf.info(str(path)).duration)))
        except (RuntimeError, sf.LibsndfileError):  # not decodable: not a source
            continue
    if not found:
        raise SystemExit(f"bench_scale: no decodable mp3 in {music}")
    return found


def speed_of(copy: int) -> float:
    """Copy ``copy`` plays this much faster (0.96 .. 1.04: tempo and pitch both move)."""
    return 1.0 + 0.02 * ((copy % 5) - 2)


def plan_copies(songs: list[tuple[Path, float]], hours: float) -> list[tuple[Path, int, int]]:
    """``(source, copy, file number)`` round-robin over the songs until ``hours``; the file
    number (``copy * songs + song``) picks the encoding, so every song gets every one."""
    plan: list[tuple[Path, int, int]] = []
    total, copy = 0.0, 0
    while total < hours * 3600:
        for number, (path, seconds) in enumerate(songs):
            if total >= hours * 3600:
                break
            plan.append((path, copy, copy * len(songs) + number))
            total += seconds / speed_of(copy)
        copy += 1
    return plan


def copy_name(source: Path, copy: int, number: int) -> str:
    """Where a copy lives in the collection (one folder per source, like an album)."""
    options, rate, channels = ENCODINGS[(number + copy) % len(ENCODINGS)]
    tag = "".join(options).replace("-", "")
    return f"{source.stem}/{copy:03d}-{tag}-{rate}-{channels}ch.mp3"


def make_copy(source: Path, copy: int, number: int, dest: Path) -> None:
    """Decode ``source``, rotate, speed-change, level and re-encode it with lame."""
    import zlib

    import soundfile as sf
    import soxr

    options, rate, channels = ENCODINGS[(number + copy) % len(ENCODINGS)]
    audio, source_rate = sf.read(str(source), dtype="float32", always_2d=True)
    rng = np.random.default_rng(zlib.crc32(f"{source.name}:{copy}".encode()))
    audio = np.roll(audio, int(rng.integers(0, audio.shape[0])), axis=0)
    audio = soxr.resample(audio, source_rate * speed_of(copy), rate, quality="HQ")
    audio = audio.mean(axis=1, keepdims=True) if channels == 1 else (
        np.repeat(audio, 2, axis=1) if audio.shape[1] == 1 else audio[:, :2])
    audio *= np.float32(10 ** (-rng.uniform(0, 6) / 20))
    dest.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=dest.parent) as tmp:
        wav = Path(tmp) / "in.wav"
        sf.write(str(wav), np.clip(audio, -1, 1), rate, subtype="PCM_16")
        part = Path(tmp) / "out.mp3"
        subprocess.run(["lame", "--quiet", "-q", "7", *options, str(wav), str(part)],
                       check=True)
        os.replace(part, dest)


def _make_copy_job(job: tuple[str, int, int, str]) -> None:
    make_copy(Path(job[0]), job[1], job[2], Path(job[3]))


def build_collection(music: Path, hours: float, root: Path,
                     music_name: str | None = None) -> dict[str, Any]:
    """The 10x collection under ``root/mp3-10x`` and its tenth under ``root/mp3-1x`` (links);
    copies already there are kept, so a second run reuses the collection. The record names
    the music by ``music_name`` (else the folder's own name): never a path of this machine."""
    from concurrent.futures import ProcessPoolExecutor

    if shutil.which("lame") is None:
        raise SystemExit("bench_scale: the lame program is needed (make setup)")
    songs = source_songs(music)
    plan = plan_copies(songs, hours)
    full, tenth = root / "mp3-10x", root / "mp3-1x"
    jobs = [(str(src), copy, number, str(full / copy_name(src, copy, number)))
            for src, copy, number in plan]
    todo = [job for job in jobs if not Path(job[3]).exists()]
    if todo:
        _log(f"building the collection: {len(todo)} of {len(jobs)} files to encode "
             f"from {len(songs)} songs of {music} ...")
        started = time.monotonic()
        with ProcessPoolExecutor(max_workers=os.cpu_count() or 1) as pool:
            for number, _ in enumerate(pool.map(_make_copy_job, todo, chunksize=1), 1):
                if number % 20 == 0 or number == len(todo):
                    _log(f"  {number}/{len(todo)} encoded ({time.monotonic() - started:.0f} s)")
    shutil.rmtree(tenth, ignore_errors=True)
    first_tenth = jobs[: max(1, round(len(jobs) / 10))]
    for job in first_tenth:
        link = tenth / Path(job[3]).relative_to(full)
        link.parent.mkdir(parents=True, exist_ok=True)
        link.symlink_to(job[3])
    source_s = sum(seconds for _, seconds in songs)
    return {
        "music": music_name or music.name, "source_songs": len(songs),
        "source_hours": round(source_s / 3600, 3),
        "files_10x": len(jobs), "files_1x": len(first_tenth),
        "mp3_bytes_10x": sum(Path(job[3]).stat().st_size for job in jobs),
        "encodings": [" ".join(o) + f" @ {r} Hz {c} ch" for o, r, c in ENCODINGS],
    }


# ------------------------------------------------------------------------------ configs


def fixed_steps(train: dict[str, Any] | None, steps: int, epochs_based: bool) -> dict[str, Any]:
    """``train`` of kara.yaml with a fixed number of training steps: ``train.steps`` (and no
    ``steps_per_minute`` scaling) for a step-budget model, else one epoch of ``steps``
    steps."""
    train = dict(train or {})
    if epochs_based:
        train.update(epochs=1, steps_per_epoch=steps)
    else:
        train.update(steps=steps, steps_per_minute=None, steps_per_epoch=None)
    return train


def write_config(root: Path, scale: str, base: dict[str, Any], steps: int,
                 decoder: str | None = None) -> Path:
    """kara.yaml with this scale's folders and the fixed number of training steps."""
    import yaml

    data = json.loads(json.dumps(base))
    tag = scale + (f"-{decoder}" if decoder else "")
    data["name"] = f"scale-{scale}"
    data["runs_dir"] = str(root / "runs")
    data["dataset"] = {**(data.get("dataset") or {}), "mp3_dir": str(root / f"mp3-{scale}"),
                       "wav_dir": str(root / f"wav-{tag}"),
                       "cache_dir": str(root / f"cache-{scale}")}
    from dataclasses import fields

    from kara_core.config import TrainConfig

    has_steps = "steps" in {f.name for f in fields(TrainConfig)}
    base_train = data.get("train") or {}
    data["train"] = fixed_steps(base_train, steps, not has_steps or base_train.get("steps") is None)
    for override in (data.get("variants") or {}).values():
        train = (override or {}).get("train")
        if isinstance(train, dict):  # a variant with its own training length gets the same
            epochs_based = not has_steps or ("steps" in train and train["steps"] is None) or (
                "steps" not in train and base_train.get("steps") is None)
            override["train"] = fixed_steps(train, steps, epochs_based)
    if decoder:
        data["decoder"] = {"type": decoder}
        data.pop("variants", None)
    path = root / f"config-{tag}.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return path


# ---------------------------------------------------------------- stages, one process each


def child(stage: str, config: str, variant_name: str) -> dict[str, Any]:
    """Run one stage in this process, sampling its memory; what the parent reads back."""
    import resource

    peak = PeakSampler().start()
    from kara_core.commands._session import load_experiment

    _plugins, experiment = load_experiment(config)
    variant = experiment.variant(variant_name)
    result: dict[str, Any] = {}
    start = time.perf_counter()
    if stage == "prepare":
        from kara_core.pipeline.parts import run_prepare

        report = run_prepare(variant, show_progress=False)
        result.update(songs=report.summary["usable"], audio_s=report.summary["seconds"],
                      workers=report.summary.get("workers"))
    elif stage == "featurize":
        result.update(_featurize(variant))
    elif stage == "train":
        result.update(_train(variant))
    elif stage == "generate":
        from kara_core.cli import main

        if main(["generate", config, "--variant", variant_name]) != 0:
            raise SystemExit("kara generate failed")
    result["stage_s"] = time.perf_counter() - start
    peak.stop()
    usage = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    result.update(
        peak_anon_mb=peak.anon_mb,
        peak_rss_mb=status_kb("VmHWM") / 1024,
        largest_child_rss_mb=children.ru_maxrss / 1024,
        cpu_s=usage.ru_utime + usage.ru_stime + children.ru_utime + children.ru_stime,
    )
    return result


def _featurize(variant: Any) -> dict[str, Any]:
    from kara_core.pipeline.experiment import DatasetCache
    from kara_core.pipeline.parts import featurize

    cache = DatasetCache()
    songs = cache.songs(variant, show_progress=False)
    start = time.perf_counter()
    features = featurize(variant, songs, show_progress=False)
    seconds = time.perf_counter() - start
    everything = [*features.train, *features.val]
    npy = sum(s.npy.stat().st_size for s in {id(s.npy): s for s in everything}.values())
    sidecars = sum(s.npy.with_suffix(".json").stat().st_size
                   for s in {id(s.npy): s for s in everything}.values())
    audio = sum(s.n_samples for s in features.train + features.val
                if s.start == 0) / variant.dataset.sample_rate
    return {"featurize_s": seconds, "audio_s": audio, "songs": len(everything),
            "transform": features.transform.describe(), "folder": str(features.directory),
            "frame_dim": features.frame_dim, "npy_bytes": npy, "sidecar_bytes": sidecars,
            "frames": sum(s.n_frames for s in everything)}


def _train(variant: Any) -> dict[str, Any]:
    """The train stage (``kara train --rebuild``), its monitor's hooks timed."""
    from kara_core.commands._quiet import import_tensorflow
    from kara_core.pipeline.experiment import DatasetCache
    from kara_core.pipeline.parts import train_variant
    from kara_core.pipeline.train import monitor, stage

    start = time.perf_counter()
    features = DatasetCache().features(variant, reload=False, show_progress=False)
    data_s = time.perf_counter() - start
    import_tensorflow()
    marks: dict[str, Any] = {"batches": [], "judge_s": [], "val_s": None, "baselines_s": 0.0,
                             "epoch_end_s": []}
    cls: Any = monitor.EpochMonitor  # its hooks are replaced, in this process only
    begin, batch, end = cls.on_train_begin, cls.on_batch_end, cls.on_epoch_end
    judge: Any = getattr(cls, "_judge", None)
    baselines, patched_stage = stage.fit_baselines, cast(Any, stage)

    def on_train_begin(self: Any, model: Any, steps: int) -> None:
        t = time.perf_counter()
        begin(self, model, steps)
        marks.update(val_s=time.perf_counter() - t, val_windows=len(self.val))

    def on_batch_end(self: Any, step: int, loss: float) -> None:
        batch(self, step, loss)
        marks["batches"].append(time.perf_counter())

    def on_epoch_end(self: Any, epoch: int, logs: dict[str, float]) -> None:
        t = time.perf_counter()
        end(self, epoch, logs)
        marks["epoch_end_s"].append(time.perf_counter() - t)

    def timed_judge(self: Any, *args: Any, **kwargs: Any) -> Any:
        t = time.perf_counter()
        try:
            return judge(self, *args, **kwargs)
        finally:
            marks["judge_s"].append(time.perf_counter() - t)

    def timed_baselines(*args: Any, **kwargs: Any) -> Any:
        t = time.perf_counter()
        try:
            return baselines(*args, **kwargs)
        finally:
            marks["baselines_s"] += time.perf_counter() - t

    cls.on_train_begin, cls.on_batch_end = on_train_begin, on_batch_end
    cls.on_epoch_end = on_epoch_end
    if judge is not None:
        cls._judge = timed_judge
    patched_stage.fit_baselines = timed_baselines
    metrics = train_variant(variant, features, rebuild=True, show_progress=False)
    times = marks["batches"]
    skip = min(5, max(1, len(times) // 4))  # the first steps trace and fill the pipeline
    steps = np.diff(np.asarray(times[skip:], float)) if len(times) > skip + 1 else np.zeros(0)
    step_s = float(steps.mean()) if steps.size else float("nan")
    median_step_s = float(np.median(steps)) if steps.size else float("nan")
    training = metrics.get("training") or {}
    return {
        "data_s": data_s, "steps": len(times), "step_s": step_s,
        "median_step_s": median_step_s,
        "val_pass_s": marks["val_s"], "val_windows": marks.get("val_windows"),
        "judge_s": marks["judge_s"], "baselines_s": marks["baselines_s"],
        "epoch_end_s": marks["epoch_end_s"],
        "train_windows": training.get("train_windows"), "epochs": metrics.get(
            "epochs_completed"), "train_frames": sum(s.n_frames for s in features.train),
        "frame_dim": features.frame_dim, "transform": features.transform.describe(),
        "signature": variant.build_model(features.frame_dim).signature(),
        "batch_size": variant.train.batch_size,
        "judge_seconds": variant.train.judge_seconds,
        "judge_prompts": variant.train.judge_prompts,
    }


def run_stage(stage: str, config: Path, variant: str = "base") -> dict[str, Any]:
    """One stage in a fresh process (``nice`` is inherited); its record plus wall time."""
    start = time.perf_counter()
    result = subprocess.run(
        [sys.executable, str(Path(__file__).resolve()), "--child", stage, str(config), variant],
        cwd=REPO, capture_output=True, text=True, check=False,
        env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"},
    )
    wall = time.perf_counter() - start
    lines = [x for x in result.stdout.splitlines() if x.startswith("RESULT ")]
    if result.returncode != 0 or not lines:
        raise SystemExit(f"bench_scale: {stage} of {variant} ({config.name}) failed:\n"
                         f"{result.stderr[-3000:]}")
    record: dict[str, Any] = json.loads(lines[-1][len("RESULT "):])
    record["wall_s"] = wall
    return record


def check_estimate(config: Path) -> tuple[dict[str, Any], float]:
    """``kara check --json`` as a user runs it: its per-variant cost, and its wall time."""
    start = time.perf_counter()
    result = subprocess.run([sys.executable, "-m", "kara_core", "check", str(config), "--json"],
                            cwd=REPO, capture_output=True, text=True, check=False)
    wall = time.perf_counter() - start
    if result.returncode != 0:
        raise SystemExit(f"bench_scale: kara check failed:\n{result.stderr[-2000:]}")
    data = json.loads(result.stdout)
    return {v["variant"]: v.get("cost") or {} for v in data["variants"]}, wall


def folder_bytes(folder: Path, pattern: str) -> int:
    """Bytes of the files matching ``pattern`` under ``folder``."""
    return sum(p.stat().st_size for p in folder.rglob(pattern) if p.is_file())


# ------------------------------------------------------------------------------ the run


def ratio(a: float | None, b: float | None) -> float | None:
    """``a / b`` rounded, or ``None`` when either is missing."""
    if a is None or b is None or not b:
        return None
    return round(float(a) / float(b), 3)


def _rest(record: dict[str, Any]) -> tuple[dict[str, Any], float]:
    """One measured train stage split into its parts; the rest is what no part explains."""
    epochs = max(1, int(record.get("epochs") or 1))
    judge = list(record.get("judge_s") or [])
    ends = list(record.get("epoch_end_s") or [])
    val_pass = max(0.0, (sum(ends) - sum(judge)) / len(ends)) if ends else float(
        record.get("val_pass_s") or 0.0)
    stage = record["wall_s"] - record["data_s"]
    known = (record["steps"] * record["step_s"] + (epochs + 2) * val_pass + sum(judge)
             + record["baselines_s"])
    windows = max(1, int(record.get("val_windows") or 1))
    parts = {
        "signature": record["signature"], "batch_size": record["batch_size"],
        "transform": record["transform"],
        "step_s": round(record["step_s"], 5), "val_window_s": round(val_pass / windows, 7),
        "judge_s": round(sum(judge) / len(judge), 3) if judge else 0.0,
        "judge_seconds": record["judge_seconds"],
        "judge_prompts": record.get("judge_prompts", 1),
        "frame_s": round(record["baselines_s"] / max(1, record["train_frames"]), 9),
    }
    return parts, stage - known


def training_figures(small: dict[str, Any], large: dict[str, Any],
                     others: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """What ``kara check`` estimates training with: each measured stage's wall time (less
    the cached data reread) split into steps, validation passes (untrained, each epoch,
    final; timed at the end of each epoch less judging, where the model is traced),
    judging, the baselines' pass over the frames, and a rest. The rest grows with the
    validation windows (the baselines are scored on them at the end): the base variant at
    1x and 10x give it as ``fixed_s + final_window_s x windows``; the other variants,
    measured at 1x only, use the base's ``final_window_s``."""
    base, rest_large = _rest(large)
    _, rest_small = _rest(small)
    span = max(1, int(large["val_windows"] or 0) - int(small["val_windows"] or 0))
    per_window = max(0.0, (rest_large - rest_small) / span)
    figures = [{**base, "final_window_s": round(per_window, 7),
                "fixed_s": round(max(0.0, rest_large - per_window * large["val_windows"]), 2)}]
    for record in others:
        parts, rest = _rest(record)
        figures.append({**parts, "final_window_s": round(per_window, 7), "fixed_s": round(
            max(0.0, rest - per_window * int(record["val_windows"] or 0)), 2)})
    return figures


FIGURES_TEMPLATE = '''\
"""Speeds measured by ``benchmarks/bench_scale.py``, the figures ``kara check`` estimates
prepare and training time with (featurize's computing is timed by ``kara check`` itself;
its disk writes come from here).

Written by ``bench_scale.py --save-figures``; edit by running it again. A model, batch
size or decoder not listed here makes ``kara check`` say "unknown" rather than guess.
"""

MEASURED_ON = {measured_on}
"""Which machine, music and date the figures come from."""

FEATURIZE_SONG_S: float | None = {song!r}
FEATURIZE_WRITE_S_PER_GB: float | None = {write!r}
"""Seconds featurize spends beyond what ``kara check`` times: per song (opening files, two
fsync'd writes, the hash memo) and per GB of cache written."""

TRAINING: list[dict[str, object]] = {training}
"""One entry per measured model: ``signature`` (:meth:`Model.signature`), ``batch_size``,
``transform`` (describe()), and seconds: ``step_s`` per training step, ``val_window_s``
per validation window scored closed loop, ``final_window_s`` per validation window scored
by the baselines at the end, ``judge_s`` per judged epoch at ``judge_seconds`` and
``judge_prompts`` (1 when absent), ``frame_s`` per training frame read once (the
baselines' pass) and ``fixed_s`` (start-up, TensorFlow import, tracing, export)."""
'''


def featurize_files(stages: dict[str, Any], estimates: dict[str, Any]) -> dict[str, float]:
    """Featurize's time beyond the computing ``kara check`` times, as seconds per song plus
    seconds per GB written: a least-squares fit over every featurize run (several
    transforms on the same songs tell the two apart), neither negative."""
    rows, rest, seen = [], [], set()
    for name, rec in stages.items():
        if not name.startswith("featurize_") or rec["folder"] in seen:
            continue  # a cache another run already wrote was only checked, not computed
        seen.add(rec["folder"])
        scale = "10x" if "10x" in name else "1x"
        variant = name.split("_", 2)[2] if name.count("_") >= 2 else "base"
        compute = estimates[scale][variant]["featurize"]["compute_s"]
        rows.append([rec["songs"], (rec["npy_bytes"] + rec["sidecar_bytes"]) / 1e9])
        rest.append(max(0.0, rec["featurize_s"] - compute))
    a, b = np.asarray(rows, float), np.asarray(rest, float)
    song, per_gb = np.linalg.lstsq(a, b, rcond=None)[0]
    if song < 0 or per_gb < 0:  # one term alone
        alone = [float(np.linalg.lstsq(a[:, [i]], b, rcond=None)[0][0]) for i in (0, 1)]
        errors = [float(np.square(a[:, i] * alone[i] - b).sum()) for i in (0, 1)]
        song, per_gb = (alone[0], 0.0) if errors[0] <= errors[1] else (0.0, alone[1])
    return {"featurize_song_s": round(float(max(song, 0.0)), 4),
            "featurize_write_s_per_gb": round(float(max(per_gb, 0.0)), 2)}


def save_decoder_speeds(speeds: dict[str, float]) -> None:
    """Write each decoder's measured speed into its class (``x_real_time_per_core = N``)."""
    import inspect
    import re

    from kara_core.plugins import get_plugin_manager

    registry = get_plugin_manager().registry
    for name, speed in speeds.items():
        cls = registry.get("decoders", name).cls
        source = Path(inspect.getsourcefile(cls) or "")
        text = source.read_text(encoding="utf-8")
        pattern = re.compile(r"^(    x_real_time_per_core = )(?:[0-9.]+|None)", re.M)
        if not pattern.search(text):
            raise SystemExit(f"bench_scale: no x_real_time_per_core line in {source}")
        source.write_text(pattern.sub(rf"\g<1>{speed}", text, count=1), encoding="utf-8")


def save_figures(figures: dict[str, Any]) -> None:
    """Rewrite ``kara_core/pipeline/cost/figures.py`` with this run's figures, and each
    measured decoder's ``x_real_time_per_core`` in its plugin's source (the core names no
    decoder)."""
    import pprint
    import textwrap

    save_decoder_speeds(figures["decode"])

    lines = textwrap.wrap(figures["measured_on"], 80, drop_whitespace=False)
    FIGURES.write_text(FIGURES_TEMPLATE.format(
        measured_on="(\n" + "".join(f"    {json.dumps(x)}\n" for x in lines) + ")",
        song=figures["featurize_song_s"], write=figures["featurize_write_s_per_gb"],
        training=pprint.pformat(figures["training"], width=90, sort_dicts=False),
    ), encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("music", nargs="?", type=Path, default=REPO / "dataset" / "mp3",
                        help="folder of mp3s the collection is built from (default: the "
                        "demo songs)")
    parser.add_argument("--music-name", metavar="TEXT",
                        help="what the music is, in the results and the figures (default: "
                        "the folder's name; a path of this machine is never recorded)")
    parser.add_argument("--hours", type=float, default=0.5,
                        help="hours of audio at 10x (1x is a tenth of it)")
    parser.add_argument("--work", type=Path,
                        help="scratch folder, kept (default: a temporary folder, removed)")
    parser.add_argument("--config", type=Path, default=REPO / "kara.yaml")
    parser.add_argument("--steps", type=int, default=40, help="training steps per run")
    parser.add_argument("--rounds", type=int, default=2,
                        help="interleaved 1x/10x training rounds (the best of each is kept)")
    parser.add_argument("--all-variants", action="store_true",
                        help="also train every other variant at 1x (their step times)")
    parser.add_argument("--save-figures", action="store_true",
                        help="write the measured speeds into kara_core/pipeline/cost/figures.py")
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument("--report-only", action="store_true",
                        help="only report (and --save-figures) from the measurements a run "
                        "left in --work (raw.json)")
    parser.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        print("RESULT " + json.dumps(child(*args.child), default=str))
        return 0
    if args.report_only:
        if args.work is None:
            raise SystemExit("bench_scale: --report-only needs the --work folder of a run")
        raw = json.loads((args.work / RAW).read_text(encoding="utf-8"))
        return finish(args, args.work.resolve(), raw)
    if args.work is None:
        with tempfile.TemporaryDirectory(prefix="kara-bench-scale-") as tmp:
            return run(args, Path(tmp))
    args.work.mkdir(parents=True, exist_ok=True)
    return run(args, args.work.resolve())


def run(args: argparse.Namespace, root: Path) -> int:
    import yaml

    if root.resolve().is_relative_to(REPO):
        raise SystemExit("bench_scale: --work must be outside the repository")
    # everything the report needs is imported now: other work on the checkout must not
    # break a run at its end
    import kara_core.pipeline.prepare.jobs  # noqa: F401
    load_start = os.getloadavg()[0] if hasattr(os, "getloadavg") else None
    collection = build_collection(args.music, args.hours, root, args.music_name)
    for old in [*root.glob("wav-*"), *root.glob("cache-*"), root / "runs"]:
        shutil.rmtree(old, ignore_errors=True)  # every stage starts from nothing
    base = yaml.safe_load(args.config.read_text(encoding="utf-8")) or {}
    configs = {scale: write_config(root, scale, base, args.steps) for scale in ("1x", "10x")}
    soundfile_config = write_config(root, "1x", base, args.steps, decoder="soundfile")
    from kara_core.commands._session import load_experiment

    _plugins, experiment = load_experiment(configs["1x"])
    variants = [v.name for v in experiment.variants]
    started = time.monotonic()

    _log("kara check (before anything is prepared) ...")
    estimates, check_s = {}, {}
    for scale, config in configs.items():
        estimates[scale], check_s[scale] = check_estimate(config)
    stages: dict[str, Any] = {}
    for scale in ("1x", "10x"):
        _log(f"prepare {scale} ...")
        stages[f"prepare_{scale}"] = run_stage("prepare", configs[scale])
    _log("prepare 1x with soundfile ...")
    stages["prepare_1x_soundfile"] = run_stage("prepare", soundfile_config)
    for scale in ("1x", "10x"):
        _log(f"featurize {scale} ...")
        stages[f"featurize_{scale}"] = run_stage("featurize", configs[scale])
    from kara_core.pipeline.parts import transform_key

    keys = {transform_key(experiment.base)}
    for variant in experiment.variants[1:]:  # each other transform once: its cache bytes
        if transform_key(variant) not in keys:
            keys.add(transform_key(variant))
            _log(f"featurize 1x {variant.name} ...")
            stages[f"featurize_1x_{variant.name}"] = run_stage("featurize", configs["1x"],
                                                               variant.name)
    rounds: dict[str, list[dict[str, Any]]] = {"1x": [], "10x": []}
    for number in range(args.rounds):
        for scale in ("1x", "10x"):
            _log(f"train {scale}, round {number + 1}/{args.rounds} ...")
            rounds[scale].append(run_stage("train", configs[scale]))
    for scale in ("1x", "10x"):
        stages[f"train_{scale}"] = min(rounds[scale], key=lambda r: r["median_step_s"])
    others = variants[1:] if args.all_variants else []
    for name in others:
        _log(f"train 1x {name} ...")
        stages[f"train_1x_{name}"] = run_stage("train", configs["1x"], name)
    for scale in ("1x", "10x"):
        _log(f"generate {scale} ...")
        stages[f"generate_{scale}"] = run_stage("generate", configs[scale])
    after, _ = check_estimate(configs["10x"])
    raw = {"collection": collection, "configs": {k: str(v) for k, v in configs.items()},
           "estimates": estimates, "after": after, "check_s": check_s, "stages": stages,
           "rounds": rounds, "variants": variants, "others": others, "load_start": load_start,
           "total_s": time.monotonic() - started}
    (root / RAW).write_text(json.dumps(raw, default=str), encoding="utf-8")
    return finish(args, root, raw)


def finish(args: argparse.Namespace, root: Path, raw: dict[str, Any]) -> int:
    """The report of a run's measurements (also ``--report-only``, from ``raw.json``)."""
    record = report(args, root, raw["collection"], raw["configs"], raw["estimates"],
                    raw["after"], raw["check_s"], raw["stages"], raw["rounds"],
                    raw["variants"], raw["others"], raw["load_start"], raw["total_s"])
    if args.save_figures:
        save_figures(record["figures"])
        _log(f"wrote {FIGURES.relative_to(REPO)}")
    return 0 if record["passed"] else 1


def _within(measured: float | None, estimated: float | None) -> bool:
    r = ratio(measured, estimated)
    return r is not None and 1 / TARGET_ESTIMATE <= r <= TARGET_ESTIMATE


def report(args: argparse.Namespace, root: Path, collection: dict[str, Any],
           configs: dict[str, Any], estimates: dict[str, Any], after: dict[str, Any],
           check_s: dict[str, float], stages: dict[str, Any],
           rounds: dict[str, list[dict[str, Any]]], variants: list[str], others: list[str],
           load_start: float | None, total_s: float) -> dict[str, Any]:
    """Figures, targets and the estimate check; printed, and written to ``--out``."""
    from kara_core.pipeline.prepare.jobs import default_workers

    cores = default_workers()
    hours = {s: stages[f"prepare_{s}"]["audio_s"] / 3600 for s in ("1x", "10x")}

    def speed(name: str, audio_key: str = "audio_s", time_key: str = "wall_s") -> float:
        return round(stages[name][audio_key] / stages[name][time_key], 1)

    def workers(name: str) -> int:
        return max(1, min(cores, int(stages[name]["songs"])))

    prepare = {name: {"x_real_time": speed(name),
                      "x_real_time_per_core": round(speed(name) / workers(name), 1),
                      "workers": workers(name)}
               for name in ("prepare_1x", "prepare_10x", "prepare_1x_soundfile")}
    featurize = {}
    for name in [n for n in stages if n.startswith("featurize_")]:
        rec = stages[name]
        scale, variant = ("10x" if "10x" in name else "1x"), [*name.split("_", 2), "base"][2]
        predicted = (estimates[scale].get(variant) or {}).get("cache", {}).get("bytes")
        actual = rec["npy_bytes"] + rec["sidecar_bytes"]
        featurize[name] = {
            "transform": rec["transform"], "x_real_time": speed(name, time_key="featurize_s"),
            "cache_bytes": actual, "cache_gb_per_hour": round(actual / (rec["audio_s"] / 3600)
                                                             / 1e9, 3),
            "check_predicted_bytes": predicted, "predicted_over_actual": ratio(predicted, actual),
        }
    train = {s: stages[f"train_{s}"] for s in ("1x", "10x")}
    # the median step: whether a step costs more on a bigger collection, without the bursts
    # of other work on the machine that the mean carries (the mean is kept as step_s)
    steps_per_s = {s: round(1 / train[s]["median_step_s"], 2) for s in train}
    memory = {
        stage: {"anon_ratio": ratio(stages[f"{stage}_10x"]["peak_anon_mb"],
                                    stages[f"{stage}_1x"]["peak_anon_mb"]),
                "rss_ratio": ratio(stages[f"{stage}_10x"]["peak_rss_mb"],
                                   stages[f"{stage}_1x"]["peak_rss_mb"])}
        for stage in ("prepare", "featurize", "train", "generate")
    }
    if args.rounds > 1:  # memory: the worst round of each size
        for key in ("anon", "rss"):
            worst = {s: max(r[f"peak_{key}_mb"] for r in rounds[s]) for s in rounds}
            memory["train"][f"{key}_ratio"] = ratio(worst["10x"], worst["1x"])
    measured = {
        "prepare": stages["prepare_10x"]["wall_s"],
        "featurize": stages["featurize_10x"]["featurize_s"],
        "train": train["10x"]["wall_s"] - train["10x"]["data_s"],
    }
    est = estimates["10x"]["base"]
    guessed = {"prepare": est["prepare"]["seconds"], "featurize": est["featurize"]["seconds"],
               "train": (est.get("train") or {}).get("seconds")}
    estimate = {k: {"estimated_s": None if guessed[k] is None else round(guessed[k], 1),
                    "measured_s": round(measured[k], 1),
                    "measured_over_estimated": ratio(measured[k], guessed[k]),
                    "within_2x": _within(measured[k], guessed[k])} for k in measured}
    wavs = folder_bytes(root / "wav-10x", "*.wav")
    estimate["wav_bytes"] = {"from_headers": est["wav_bytes"], "actual": wavs,
                             "from_manifest": (after.get("base") or {}).get("wav_bytes"),
                             "headers_over_actual": ratio(est["wav_bytes"], wavs)}
    figures = {
        "measured_on": (f"{platform.machine()}, {cores} cores, {time.strftime('%Y-%m-%d')}: "
                        f"bench_scale on {collection['music']} "
                        f"({hours['10x']:.1f} h at 10x, {hours['1x']:.2f} h at 1x)"),
        "decode": {"lame": prepare["prepare_10x"]["x_real_time_per_core"],
                   "soundfile": prepare["prepare_1x_soundfile"]["x_real_time_per_core"]},
        **featurize_files(stages, estimates),
        "training": training_figures(stages["train_1x"], stages["train_10x"],
                                     [stages[f"train_1x_{v}"] for v in others]),
    }
    bytes_ok = all(abs((f["predicted_over_actual"] or 0) - 1) <= 0.01 for f in featurize.values())
    bytes_ok = bytes_ok and abs((estimate["wav_bytes"]["headers_over_actual"] or 0) - 1) <= 0.01
    targets = {
        "featurize_memory": (memory["featurize"]["anon_ratio"] or 99) <= TARGET_MEMORY,
        "train_memory": (memory["train"]["anon_ratio"] or 99) <= TARGET_MEMORY,
        "train_speed": (ratio(steps_per_s["10x"], steps_per_s["1x"]) or 0) >= TARGET_SPEED,
        "estimates_within_2x": all(v["within_2x"] for k, v in estimate.items()
                                   if k != "wav_bytes"),
        "disk_figures_within_1pct": bytes_ok,
    }
    record = {
        "benchmark": "scale", "collection": {**collection, "hours_1x": round(hours["1x"], 3),
                                              "hours_10x": round(hours["10x"], 3)},
        "config": str(args.config), "model": est.get("train", {}).get("how"),
        "steps_per_run": args.steps, "rounds": args.rounds,
        "machine": f"{platform.machine()}, {cores} cores, Python {platform.python_version()}",
        "load_average": {"start": load_start, "end": os.getloadavg()[0]},
        "check_wall_s": {k: round(v, 2) for k, v in check_s.items()},
        "prepare": prepare, "featurize": featurize,
        "train": {"steps_per_s": steps_per_s,
                  "speed_ratio_10x_over_1x": ratio(steps_per_s["10x"], steps_per_s["1x"]),
                  "rounds_median_step_s": {s: [round(r["median_step_s"], 4) for r in rounds[s]]
                                           for s in rounds},
                  "rounds_mean_step_s": {s: [round(r["step_s"], 4) for r in rounds[s]]
                                         for s in rounds},
                  "others_1x": {v: round(1 / stages[f"train_1x_{v}"]["median_step_s"], 2)
                                for v in others}},
        "memory": memory, "estimate": estimate, "figures": figures,
        "check_before_prepare": estimates,
        "stages": {name: {k: (round(v, 6) if isinstance(v, float) else v)
                          for k, v in rec.items()}
                   for name, rec in stages.items()},
        "targets": {"memory_ratio": TARGET_MEMORY, "speed_ratio": TARGET_SPEED,
                    "estimate_ratio": TARGET_ESTIMATE, "met": targets},
        "total_s": round(total_s, 1), "passed": all(targets.values()),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(record, indent=2, default=str) + "\n", encoding="utf-8")
    print_summary(record, stages)
    return record


def print_summary(record: dict[str, Any], stages: dict[str, Any]) -> None:
    """The table a person reads; the JSON has everything."""
    c = record["collection"]
    print(f"\ncollection: {c['files_10x']} files, {c['hours_10x']:.2f} h at 10x "
          f"({c['files_1x']} files, {c['hours_1x']:.2f} h at 1x), built from "
          f"{c['source_songs']} songs of {c['music']}")
    print(f"{'stage':<28}{'wall s':>9}{'peak anon MB':>14}{'VmHWM MB':>10}{'worker MB':>10}")
    for name, rec in stages.items():
        worker = f"{rec['largest_child_rss_mb']:>10.0f}" if name.startswith("prepare") else ""
        print(f"{name:<28}{rec['wall_s']:>9.1f}{rec['peak_anon_mb']:>14.0f}"
              f"{rec['peak_rss_mb']:>10.0f}{worker}")
    for name, p in record["prepare"].items():
        print(f"{name}: {p['x_real_time']:.0f}x real time ({p['x_real_time_per_core']:.0f}x "
              f"per core, {p['workers']} workers)")
    for name, f in record["featurize"].items():
        print(f"{name} ({f['transform']}): {f['x_real_time']:.0f}x real time, "
              f"{f['cache_gb_per_hour']:.3f} GB per hour of audio "
              f"(kara check predicted {f['predicted_over_actual']}x)")
    t = record["train"]
    print(f"training steps/s (median step): 1x {t['steps_per_s']['1x']}, 10x "
          f"{t['steps_per_s']['10x']} (10x/1x {t['speed_ratio_10x_over_1x']}; target >= "
          f"{TARGET_SPEED}); load average {record['load_average']}")
    for stage, m in record["memory"].items():
        print(f"memory 10x/1x {stage}: anon {m['anon_ratio']}, VmHWM {m['rss_ratio']}")
    for stage, e in record["estimate"].items():
        print(f"estimate {stage}: {json.dumps(e)}")
    met = record["targets"]["met"]
    missed = [k for k, ok in met.items() if not ok]
    print("all targets met" if not missed else f"MISSED: {', '.join(missed)}")


if __name__ == "__main__":
    sys.path.insert(0, str(REPO))
    raise SystemExit(main())
