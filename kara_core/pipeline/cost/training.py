"""The training songs, windows and steps of a variant, and the time they take."""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from kara_core.components import Model
    from kara_core.config import TrainConfig
    from kara_core.pipeline.cost.songs import Song
    from kara_core.pipeline.featurize import FeaturizeSettings

SINGLE_SONG_VAL = 0.2  # featurize's share of a lone song held out when val_fraction is 0


def split(settings: FeaturizeSettings, songs: list[Song], count: Callable[[int], int]
          ) -> tuple[list[int], list[int], float]:
    """Frames of each training and each validation song, and the training audio's
    seconds, split as featurize splits them (by song, from ``train.seed``; see
    :func:`kara_core.pipeline.featurize.featurize`). ``songs`` sorted by source."""
    frames = [count(s.samples or 0) for s in songs]
    rate = settings.sample_rate
    if not frames:
        return [], [], 0.0
    if len(frames) == 1:
        fraction = settings.val_fraction or SINGLE_SONG_VAL
        held = min(max(1, round(frames[0] * fraction)), frames[0] - 1)
        share = (frames[0] - held) / frames[0]
        return [frames[0] - held], [held], (songs[0].samples or 0) * share / rate
    n_val = min(len(frames) - 1, max(1, round(len(frames) * settings.val_fraction)))
    order = np.random.default_rng(settings.seed).permutation(len(frames))
    held_out = set(order[:n_val].tolist())
    train = [f for i, f in enumerate(frames) if i not in held_out]
    val = [f for i, f in enumerate(frames) if i in held_out]
    seconds = sum(s.samples or 0 for i, s in enumerate(songs) if i not in held_out) / rate
    return train, val, seconds


def training_figure(signature: dict[str, Any], batch_size: int, transform: str
                    ) -> tuple[dict[str, Any] | None, str | None]:
    """The benchmark's figure for this model (same signature and batch size; the same
    transform preferred, since judging generates audio through it), and a note when the
    figure is another transform's."""
    from kara_core.pipeline.cost import figures as cost_figures

    want = json.dumps(signature, sort_keys=True, default=str)
    matches = [f for f in cost_figures.TRAINING
               if json.dumps(f.get("signature"), sort_keys=True, default=str) == want
               and f.get("batch_size") == batch_size]
    for figure in matches:
        if figure.get("transform") == transform:
            return figure, None
    if matches:
        other = matches[0]
        return other, f"judging time measured with {other.get('transform')}"
    return None, None


def training_time(model: Model, model_type: str, cfg: TrainConfig, sample_rate: int, hop: int,
                  train: list[int], val: list[int], transform: str) -> dict[str, Any]:
    """Steps, windows and the estimated seconds of training ``model`` (built, untrained)
    with ``cfg`` (``seconds`` None: unknown)."""
    from kara_core.pipeline.train import default_stride, judged_clips

    minutes = sum(train) * hop / sample_rate / 60.0
    configured = cfg.steps
    cfg = cfg.for_music(minutes)  # a budget scaled to the music
    scaled_note = ""
    if configured is not None and cfg.steps != configured:
        scaled_note = (f"train.steps {configured} becomes {cfg.steps} for {minutes:.1f} minutes "
                       f"of training music (train.steps_per_minute: {cfg.steps_per_minute:g}); ")
    if not model.trainable:
        return {"steps": 0, "seconds": 0.0, "how": f"{model_type} is not trained"}
    tin, tout = int(model.input_frames), int(model.output_frames)
    stride = cfg.stride or default_stride(tin, tout)
    windows = sum(max(0, (t - tin - tout) // stride + 1) for t in train)
    val_windows = sum(max(0, (t - tin - tout) // max(1, tout // 2) + 1) for t in val)
    if cfg.val_windows:
        val_windows = min(val_windows, cfg.val_windows)  # validation scores a fixed sample
    total_steps = getattr(cfg, "steps", None)
    epochs = int(cfg.epochs)
    if isinstance(total_steps, int) and total_steps > 0:
        per_epoch = int(cfg.steps_per_epoch or total_steps)
        steps = total_steps
        epochs = max(1, math.ceil(total_steps / per_epoch))
    else:
        per_epoch = int(cfg.steps_per_epoch or max(1, math.ceil(windows / cfg.batch_size)))
        steps = epochs * per_epoch
    found: dict[str, Any] = {
        "configured_steps": configured,
        "epochs": epochs, "steps_per_epoch": per_epoch, "steps": steps, "windows": windows,
        "val_windows": val_windows, "batch_size": cfg.batch_size, "seconds": None,
    }
    signature = model.signature()
    figure, note = training_figure(signature, cfg.batch_size, transform)
    if figure is None:
        figure, note = scaled_figure(signature, cfg.batch_size)
    if figure is None:
        found["how"] = scaled_note + (f"unknown: no step time measured for {model_type} "
                        f"{_short(signature)} at batch {cfg.batch_size} "
                        "(benchmarks/bench_scale.py --save-figures measures it)")
        return found
    judged = epochs if cfg.judge_seconds > 0 else 0
    judge_each = float(figure.get("judge_s", 0.0)) * (
        cfg.judge_seconds / max(float(figure.get("judge_seconds", 0) or 0), 1e-9)
        if figure.get("judge_seconds") else 1.0) * (
        judged_clips(cfg.judge_prompts) / judged_clips(int(figure.get("judge_prompts", 1) or 1)))
    parts = {
        "steps": steps * float(figure["step_s"]),
        "validation": val_windows * ((epochs + 2) * float(figure.get("val_window_s", 0.0))
                                     + float(figure.get("final_window_s", 0.0))),
        "judging": judged * judge_each,
        "start": float(figure.get("fixed_s", 0.0))
        + sum(train) * float(figure.get("frame_s", 0.0)),
    }
    found["seconds"] = sum(parts.values())
    found["parts_s"] = {k: round(v, 1) for k, v in parts.items()}
    found["step_s"] = float(figure["step_s"])
    found["scaled_from"] = figure.get("scaled_from")
    step_s = float(figure["step_s"])
    found["how"] = scaled_note + (f"{epochs} epoch(s) x {per_epoch} steps x {step_s:.3f} s"
                    f", plus validation of {val_windows} windows and judging each epoch"
                    + (f" ({note})" if note else "")
                    + "; early stopping (train.patience) can end it sooner")
    return found


MIN_STEP_S = 0.01
"""The least a scaled step takes: Keras's own overhead per step on a CPU, about."""


def parameter_count(signature: dict[str, Any]) -> int | None:
    """The weights of a recurrent stack described by ``signature``'s ``frame_dim``,
    ``layers`` and ``units`` (``layers`` LSTMs of ``units`` on ``frame_dim`` inputs and a
    dense head back to ``frame_dim``), ``None`` when it names none of them: the size an
    unmeasured model's step time is scaled by."""
    try:
        dim, layers, units = (int(signature[k]) for k in ("frame_dim", "layers", "units"))
    except (KeyError, TypeError, ValueError):
        return None
    if min(dim, layers, units) < 1:
        return None
    first = 4 * units * (dim + units + 1)
    rest = (layers - 1) * 4 * units * (2 * units + 1)
    return first + rest + (units + 1) * dim


def scaled_figure(signature: dict[str, Any], batch_size: int
                  ) -> tuple[dict[str, Any] | None, str | None]:
    """A measured figure of the same model type scaled to this model's parameter count and
    batch size (step, validation and judging times; start-up as measured), with a note
    saying so; ``(None, None)`` when no figure of the type exists or the size is unknown.
    Of the figures, the one with the same other settings (e.g. ``head``) and the nearest
    size is used."""
    from kara_core.pipeline.cost import figures as cost_figures

    size = parameter_count(signature)
    if size is None:
        return None, None
    sizes = ("frame_dim", "layers", "units")

    def distance(figure: dict[str, Any]) -> tuple[int, float]:
        theirs = figure.get("signature") or {}
        others = sum(1 for k, v in signature.items() if k not in sizes and theirs.get(k) != v)
        return others, abs(math.log(size / (parameter_count(theirs) or 1)))

    figures: list[dict[str, Any]] = [dict(f) for f in cost_figures.TRAINING]
    found = [f for f in figures
             if (f.get("signature") or {}).get("model") == signature.get("model")
             and parameter_count(f.get("signature") or {})]
    if not found:
        return None, None
    reference = min(found, key=distance)
    theirs = reference["signature"]
    ratio = size / float(parameter_count(theirs) or 1)
    batch = batch_size / max(int(reference.get("batch_size") or 1), 1)
    figure = dict(reference)
    figure["step_s"] = max(MIN_STEP_S, float(reference["step_s"]) * ratio * batch)
    for key in ("val_window_s", "judge_s"):
        figure[key] = float(reference.get(key, 0.0)) * ratio
    figure["scaled_from"] = {"signature": theirs, "batch_size": reference.get("batch_size"),
                             "parameters": parameter_count(theirs), "to_parameters": size}
    note = (f"scaled from the step time measured for {signature.get('model')} "
            f"{theirs['layers']}x{theirs['units']} on {theirs['frame_dim']} features at batch "
            f"{reference.get('batch_size')} by parameter count "
            f"({_thousands(parameter_count(theirs) or 0)} -> {_thousands(size)}) and batch "
            "size: a rough estimate")
    return figure, note


def _thousands(count: int) -> str:
    return f"{count / 1e6:.2f}M" if count >= 1e6 else f"{count / 1e3:.0f}k"


def _short(signature: dict[str, Any]) -> str:
    return " ".join(f"{k}={v}" for k, v in signature.items() if k != "model")
