"""How much the held-out figures move when validation scores a sample of the windows.

Validation scores ``train.val_windows`` held-out windows (a fixed sample drawn with
``train.seed``) instead of every one, so its cost stays flat as the collection grows. This
measures what the sample costs in precision: on a music folder it prepares and featurizes
the songs as ``kara run`` does (the default kara.yaml: log-mel 128, ``lstm_lm``'s windows),
fits the naive baselines on the training windows and scores them closed loop on every
held-out window and on samples of 256 ... 8192 windows drawn with ten seeds. Reported per
sample size: the spread over the seeds of the baselines' MSE and of the skill of
persistence against the mean frame (``1 - persistence / mean``, the kind of figure the
table shows), and the seconds one validation pass takes.

    .venv/bin/python benchmarks/bench_val_sample.py MUSIC_DIR [--work DIR]

Writes ``benchmarks/results/val-sample.json``, naming the music it ran on.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import platform
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
SIZES = (256, 512, 1024, 2048, 4096, 8192)
SEEDS = range(10)


def main(argv: list[str] | None = None) -> int:
    """Measure and write ``val-sample.json``; print one line per sample size."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("music", type=Path, help="a folder of mp3s")
    parser.add_argument("--work", type=Path, help="where the wavs and caches go (default: temp)")
    parser.add_argument("--name", help="what the music is, for the record (default: its folder)")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as temp:
        work = args.work or Path(temp)
        result = measure(args.music.resolve(), work.resolve())
    result["music"] = args.name or args.music.name
    result["machine"] = f"{platform.machine()}, {platform.processor() or 'cpu'}"
    out = ROOT / "benchmarks" / "results" / "val-sample.json"
    out.write_text(json.dumps(result, indent=1) + "\n", encoding="utf-8")
    print(f"held-out windows: {result['windows']}; full pass {result['full_pass_s']:.2f} s; "
          f"skill (persistence vs mean) on all: {result['skill_all']:+.4f}")
    for row in result["samples"]:
        print(f"{row['windows']:>5} windows: skill {row['skill_mean']:+.4f} +- "
              f"{row['skill_std']:.4f} (worst {row['skill_worst_error']:.4f} off), "
              f"MSE persistence +- {row['persistence_rel_std']:.1%}, "
              f"pass {row['pass_s']:.3f} s")
    return 0


def measure(music: Path, work: Path) -> dict[str, object]:
    """The figures of :func:`main` for the songs in ``music``."""
    from kara_core.config import load_config
    from kara_core.pipeline.parts import build_baselines, featurize, run_prepare, train_settings
    from kara_core.pipeline.train.monitor import score
    from kara_core.pipeline.train.stage import fit_baselines, make_windows
    from kara_core.plugins import get_plugin_manager

    text = (ROOT / "kara.yaml").read_text(encoding="utf-8").split("\nvariants:")[0]
    config = work / "kara.yaml"
    work.mkdir(parents=True, exist_ok=True)
    config.write_text(text + f"\ndataset: {{mp3_dir: {music}, wav_dir: {work / 'wav'}, "
                      f"cache_dir: {work / 'cache'}}}\n", encoding="utf-8")
    variant = load_config(config, get_plugin_manager().registry).variant("base")
    variant = dataclasses.replace(
        variant, train=dataclasses.replace(variant.train, val_windows=0), runs_dir=work / "runs")
    report = run_prepare(variant, show_progress=False)
    features = featurize(variant, report.songs, show_progress=False)
    model = variant.build_model(features.frame_dim)
    train, val = make_windows(model, features, train_settings(variant))
    baselines = fit_baselines("base", build_baselines(variant, model), train)
    started = time.perf_counter()
    full = score(baselines, val)
    full_pass = time.perf_counter() - started
    skill_all = 1 - full["persistence"] / full["mean"]
    index = val.index.copy()
    rows = []
    for size in SIZES:
        if size >= len(index):
            break
        skills, persistence, seconds = [], [], []
        for seed in SEEDS:
            keep = np.random.default_rng(seed).choice(len(index), size, replace=False)
            val.index = index[np.sort(keep)]
            started = time.perf_counter()
            scores = score(baselines, val)
            seconds.append(time.perf_counter() - started)
            skills.append(1 - scores["persistence"] / scores["mean"])
            persistence.append(scores["persistence"])
        val.index = index
        rows.append({
            "windows": size, "skill_mean": float(np.mean(skills)),
            "skill_std": float(np.std(skills)),
            "skill_worst_error": float(np.max(np.abs(np.array(skills) - skill_all))),
            "persistence_rel_std": float(np.std(persistence) / full["persistence"]),
            "pass_s": float(np.median(seconds)),
        })
    return {"windows": len(index), "songs": len(features.val), "full_pass_s": full_pass,
            "skill_all": skill_all, "mse_all": full, "samples": rows,
            "input_frames": model.input_frames, "output_frames": model.output_frames}


if __name__ == "__main__":
    sys.exit(main())
