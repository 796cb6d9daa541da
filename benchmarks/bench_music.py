"""Music, not a smear: time-to-quality of kara.yaml's base model on a folder of real music.

Trains the model of the default kara.yaml's base (its ``model:`` section, type and options,
and its ``generate.temperature``; ``--config`` names another kara.yaml) on the folder's
songs (log-mel 128, the songs held out whole by Kara's split) through the real pipeline
(``kara run``), in rungs of a quarter of the default budget (``train.steps``), each rung
resuming the last. So whatever the base of kara.yaml becomes is what this measures: the
issue's "done when" is the default kara.yaml meeting the targets here. ``--heads``
measures variants of it, each setting the base's ``head`` option (and ``noise_basis`` when
it names one: ``mixture/features``) and keeping the rest of the base's options; by default
the base's own head, i.e. the base as it is. After each rung the model
continues ``--prompts`` held-out prompts for ``--seconds`` at ``--temperature`` (``auto``:
the judge's calibration) and the audio is measured with every registered measure
(:mod:`kara_core.measures`): medians and worst of ``fd_ratio``, ``spread``, ``loop``,
``pulse``, ``prompt_sensitivity``, ``own_song`` (last 10 s), ``diversity`` and ``level_db``
against the held-out songs, with what the real continuations of the same prompts score
beside them (``prompt_sensitivity``: the median and the worst over every clip's same-seed
pair). Reports, per head:

- **time-to-quality**: training minutes until the clips first meet DESIGN §6's targets
  (medians spread 0.8-1.2, loop 0.7-1.3, fd_ratio <= 0.8, pulse >= 0.8, prompt
  sensitivity >= 0.5, own song over the last 10 s <= 0.6; every clip spread >= 0.6,
  loop >= 0.5, level within 12 dB of the music), ``null`` when no rung does;
- **the measures at the default budget** (the last rung), the held-out score against the
  head's own baseline, training minutes (target: at most 20 on the 2-core reference CPU)
  and generation speed (target: faster than real time, sampling and inversion included).

Exit code 1 when the best head misses the targets at the default budget or the budgets.
Writes ``benchmarks/results/music.json`` (``--results``; ``--quick`` writes none unless
told), naming the music it ran on, the kara.yaml whose
base it measured and the model options each head trained with. Not for tuning on the
demo songs (the default folder): give it real music, e.g. the 21 songs of
``xmoto-data``, ``extremetuxracer-data`` and ``warzone2100-music`` (see the README).

    .venv/bin/python benchmarks/bench_music.py [MUSIC_DIR] [--config kara.yaml]
        [--heads mixture,tokens] [--steps 1500] [--rungs 4] [--work DIR] [--quick]

A head may name the mixture's noise basis too: ``--heads mixture/changes,mixture/features``
compares the Gaussians diagonal along the directions frames change in with the Gaussians
diagonal per mel band.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
REPO = Path(__file__).resolve().parent.parent
RESULTS = REPO / "benchmarks" / "results" / "music.json"
MAX_TRAIN_MINUTES = 20.0
MIN_X_REALTIME = 1.0
DEFAULT_CONFIG = REPO / "kara.yaml"

CONFIG = """\
name: bench
runs_dir: {work}/runs
dataset: {{mp3_dir: {music}, wav_dir: {work}/wav, cache_dir: {work}/cache,
           sample_rate: 22050, channels: 1, val_fraction: {val_fraction}}}
decoder: {{type: lame, fallback: soundfile}}
transform: {{type: mel, options: {{n_mels: 128}}}}
model: {model}
train: {{steps: {steps}, steps_per_epoch: {per_epoch}, batch_size: 32, seed: 0,
         distribute: none, patience: 0}}
generate: {{seconds: {seconds}, prompt_seconds: 3, prompts: {prompts},
            temperature: {temperature}}}
variants:
{variants}
"""


class Base:
    """What the benchmark takes from a kara.yaml: its base ``model`` section (type and
    options) and its ``generate.temperature``; the dataset, training budget and clips
    stay the benchmark's own, so that the figures compare across kara.yaml changes."""

    def __init__(self, path: Path) -> None:
        import yaml

        self.path = path
        try:
            data = yaml.safe_load(path.read_text(encoding="utf-8"))
        except OSError as exc:
            raise SystemExit(f"bench_music: cannot read {path}: {exc.strerror}") from None
        except yaml.YAMLError as exc:
            raise SystemExit(f"bench_music: {path} is not YAML: "
                             f"{str(exc).splitlines()[0]}") from None
        if not isinstance(data, dict):
            raise SystemExit(f"bench_music: {path} is not a kara.yaml (no mapping of keys)")
        model = data.get("model")
        if not isinstance(model, dict) or not isinstance(model.get("type"), str):
            raise SystemExit(f"bench_music: {path}: model: needs a type (the base's model "
                             "is what the benchmark measures)")
        model_options = model.get("options") or {}
        if not isinstance(model_options, dict):
            raise SystemExit(f"bench_music: {path}: model.options must be a mapping")
        generate = data.get("generate") or {}
        if not isinstance(generate, dict):
            raise SystemExit(f"bench_music: {path}: generate must be a mapping")
        self.model: dict[str, Any] = {"type": model["type"], "options": dict(model_options)}
        self.temperature: Any = generate.get("temperature", "auto")

    @property
    def head(self) -> str:
        """The base's own head (``mixture``; its other options, the noise basis among
        them, stay the base's); the model type when it has no ``head`` option."""
        head = self.model["options"].get("head")
        return head if isinstance(head, str) else str(self.model["type"])

    def name(self) -> str:
        """How the results name the kara.yaml: its path inside the repository, or its file
        name (never a path of this machine)."""
        try:
            return self.path.resolve().relative_to(REPO).as_posix()
        except ValueError:
            return self.path.name


def write_config(work: Path, music: Path, heads: list[str], steps: int, per_epoch: int,
                 args: argparse.Namespace, base: Base) -> Path:
    """The benchmark's kara.yaml: ``base``'s model, one variant per head over it,
    everything else shared."""
    variants = "\n".join(
        f"  {variant_name(head)}: {{model: {{options: {options(head, base)}}}}}"
        for head in heads)
    path = work / "kara.yaml"
    path.write_text(CONFIG.format(
        work=work, music=music, steps=steps, per_epoch=per_epoch, seconds=args.seconds,
        prompts=args.prompts, val_fraction=args.val_fraction, variants=variants,
        temperature=json.dumps(args.temperature), model=json.dumps(base.model),
    ), encoding="utf-8")
    return path


def variant_name(head: str) -> str:
    """``mixture/changes`` -> ``mixture_changes``: a variant name kara.yaml accepts."""
    return head.replace("/", "_")


def options(head: str, base: Base) -> str:
    """The model options of ``head`` or ``head/noise_basis`` over ``base``'s, as a YAML
    flow mapping (``{}`` for the base's own head when the model has no head option)."""
    if head == base.head and "head" not in base.model["options"]:
        return "{}"
    name, _, basis = head.partition("/")
    return f"{{head: {name}" + (f", noise_basis: {basis}}}" if basis else "}")


def run_rung(config: Path, head: str) -> dict[str, Any]:
    """``kara run`` of one head (resuming its checkpoints): its metrics.json record."""
    done = subprocess.run(
        [sys.executable, "-m", "kara_core", "run", str(config), "--only", variant_name(head),
         "--json"],
        cwd=REPO, capture_output=True, text=True, check=False,
    )
    try:
        found = json.loads(done.stdout)["variants"][0]
    except (ValueError, KeyError, IndexError):
        raise SystemExit(f"kara run failed for {head}:\n{done.stderr[-3000:]}") from None
    if "metrics" not in found:
        raise SystemExit(f"kara run failed for {head}: {found.get('error')}")
    return dict(found["metrics"])


def figures(metrics: dict[str, Any]) -> dict[str, Any]:
    """What one rung reports: the music section's medians and worst, whole and last 10 s."""
    music = metrics.get("music") or {}
    summary = music.get("summary") or {}
    tail = (music.get("last_10s") or {}).get("summary") or {}
    keys = ("fd_ratio", "spread", "loop", "pulse", "prompt_sensitivity", "own_song",
            "diversity", "level_db")

    def pick(part: dict[str, Any]) -> dict[str, Any]:
        return {f"{k}_{which}": (part.get(which) or {}).get(k) for k in keys
                for which in ("median", "worst")}

    rtf = music.get("rtf")
    real = ((music.get("real") or {}).get("summary") or {}).get("median") or {}
    generation = metrics.get("generation") or {}
    return {
        "meets_targets": bool(music.get("meets_targets")),
        "misses": music.get("misses", []),
        **pick(summary),
        "real": {k: real.get(k) for k in keys},
        "last_10s": pick(tail),
        "temperature": generation.get("temperature"),
        "temperature_scores": (generation.get("temperature_calibration") or {}).get("scores"),
        "x_realtime": round(1.0 / rtf, 2) if rtf else None,
        "heldout_score": metrics.get("heldout"),
        "sensitivity_pairs": len(music.get("sensitivity_pairs") or []),
        "model": metrics.get("model"),
        "model_options": metrics.get("model_options"),
    }


def bench_head(config_for: Any, head: str, steps: int, rungs: int) -> dict[str, Any]:
    """Every rung of one head: training minutes so far and the figures after it."""
    history = []
    minutes = 0.0
    reached = None
    for rung in range(1, rungs + 1):
        budget = max(1, round(steps * rung / rungs))
        started = time.monotonic()
        metrics = run_rung(config_for(budget), head)
        train_seconds = float((metrics.get("training") or {}).get("seconds") or 0.0)
        if (metrics.get("training") or {}).get("reused"):
            train_seconds = 0.0
        minutes += train_seconds / 60.0
        row = {"steps": budget, "train_minutes": round(minutes, 2),
               "wall_minutes": round((time.monotonic() - started) / 60.0, 2), **figures(metrics)}
        history.append(row)
        print(f"{head} {budget} steps, {minutes:.1f} min: fd {row['fd_ratio_median']} "
              f"spread {row['spread_median']} loop {row['loop_median']} "
              f"(worst {row['fd_ratio_worst']} / {row['spread_worst']} / {row['loop_worst']}) "
              f"pulse {row['pulse_median']} (real {row['real']['pulse']}) sensitivity "
              f"{row['prompt_sensitivity_median']} (real {row['real']['prompt_sensitivity']}) "
              f"own song (last 10 s) {row['own_song_median']} (real {row['real']['own_song']}) "
              f"at temperature {row['temperature']}; meets {row['meets_targets']}", flush=True)
        if reached is None and row["meets_targets"]:
            reached = row["train_minutes"]
    final = history[-1]
    return {"time_to_quality_minutes": reached, "at_default_budget": final, "rungs": history}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("music", nargs="?", default=str(REPO / "dataset" / "mp3"))
    parser.add_argument("--config", default=str(DEFAULT_CONFIG), metavar="PATH",
                        help="the kara.yaml whose base model (model: type and options) "
                             "and generate.temperature are measured (default: the "
                             "repository's kara.yaml)")
    parser.add_argument("--heads", default=None,
                        help="comma-separated lstm_lm heads (head or head/noise_basis), "
                             "each a variant over the base (default: the base's own)")
    parser.add_argument("--steps", type=int, default=1500, help="the default budget")
    parser.add_argument("--rungs", type=int, default=4)
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--prompts", type=int, default=6)
    parser.add_argument("--temperature", default=None,
                        help="generate.temperature: a number, or auto (calibrated); "
                             "default: the config's")
    parser.add_argument("--val-fraction", type=float, default=0.3)
    parser.add_argument("--work", default=None, help="working folder (default: a temp dir)")
    parser.add_argument("--quick", action="store_true",
                        help="100 steps, 2 rungs, 5 s clips: does it run? (writes no "
                             "results unless --results names a file)")
    parser.add_argument("--results", metavar="PATH", default=None,
                        help="where the results go (default: benchmarks/results/music.json)")
    parser.add_argument("--music-name", metavar="TEXT",
                        help="how the results name the music (default: the folder's name; "
                             "never a path of this machine)")
    args = parser.parse_args()
    if args.quick:
        args.steps, args.rungs, args.seconds, args.prompts = 100, 2, 5.0, 2
    music = Path(args.music).resolve()
    base = Base(Path(args.config))
    if args.temperature is None:
        args.temperature = base.temperature
    else:
        try:
            args.temperature = float(args.temperature)
        except ValueError:
            if args.temperature != "auto":
                raise SystemExit(f"bench_music: --temperature {args.temperature}: a number "
                                 "or auto") from None
    heads = [h.strip() for h in (args.heads or base.head).split(",") if h.strip()]
    with tempfile.TemporaryDirectory(prefix="kara-music-") as temp:
        work = Path(args.work).resolve() if args.work else Path(temp)
        work.mkdir(parents=True, exist_ok=True)
        per_epoch = max(1, round(args.steps / args.rungs))

        def config_for(budget: int) -> Path:
            return write_config(work, music, heads, budget, per_epoch, args, base)

        results = {head: bench_head(config_for, head, args.steps, args.rungs) for head in heads}
    best = min(heads, key=lambda h: (
        results[h]["time_to_quality_minutes"] is None,
        results[h]["time_to_quality_minutes"] or 0.0,
        results[h]["at_default_budget"]["fd_ratio_median"] or float("inf")))
    final = results[best]["at_default_budget"]
    missed = list(final["misses"])
    if final["train_minutes"] > MAX_TRAIN_MINUTES:
        missed.append(f"training took {final['train_minutes']:.1f} min > {MAX_TRAIN_MINUTES}")
    if final["x_realtime"] is not None and final["x_realtime"] < MIN_X_REALTIME:
        missed.append(f"generation at {final['x_realtime']}x real time")
    report = {
        "music": args.music_name or music.name, "songs": len(list(music.rglob("*.mp3"))),
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
        "steps": args.steps, "seconds": args.seconds, "prompts": args.prompts,
        "temperature": args.temperature,
        "config": base.name(), "base_model": base.model,
        "best_head": best, "heads": results, "missed": missed, "ok": not missed,
    }
    from kara_core.storage import atomic

    results_file = Path(args.results) if args.results else None if args.quick else RESULTS
    if results_file is not None:
        atomic.write_json(results_file, report)
    else:
        print("quick run: no results written (--results PATH keeps them)")
    ttq = results[best]["time_to_quality_minutes"]
    print(f"best head {best}: time to quality "
          f"{'not reached' if ttq is None else f'{ttq:.1f} min'}; at {args.steps} steps "
          f"fd {final['fd_ratio_median']} spread {final['spread_median']} "
          f"loop {final['loop_median']} pulse {final['pulse_median']} sensitivity "
          f"{final['prompt_sensitivity_median']} own song {final['own_song_median']} at "
          f"temperature {final['temperature']}, {final['train_minutes']:.1f} min training, "
          f"generation {final['x_realtime']}x real time")
    for line in missed:
        print(f"missed: {line}", file=sys.stderr)
    return 0 if not missed else 1


if __name__ == "__main__":
    raise SystemExit(main())
