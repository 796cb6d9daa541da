"""Train: windows from the feature cache -> model, scored against naive baselines.

``val_loss`` in the metrics is the model's *closed-loop* MSE on the held-out songs'
windows, in normalised feature space: the model predicts all ``output_frames`` from the
context alone, feeding its own predictions back (``Model.predict``), never the targets.
The baselines (``train.baselines``: naive models the driver builds from the registry,
e.g. ``kara_baselines``' persistence, which repeats the last context frame, and mean, the
training songs' mean frame) are scored on exactly the same windows, and
``skill = 1 - val_loss / reference`` against the baseline that declares itself the
reference (:attr:`Model.skill_reference`; persistence): above 0 the model beats it, 1 is
perfect. Every other baseline ``b`` gets ``skill_vs_<b>``, the same against it (where
frames change too fast for persistence to mean anything, as raw samples do,
``skill_vs_mean`` is the one to read).
``train_loss`` is the training loss (``model.options.loss``, teacher forced) of the epoch
whose weights are kept: the epoch whose short generation from a held-out prompt measures
best on the audio (:mod:`kara_core.pipeline.train.judge`; ``train.judge_seconds: 0`` keeps
the lowest val_loss instead). Training is resumed from the last checkpoint
unless ``rebuild``; the best epoch's weights are exported to ``<run_dir>/model``.
"""

from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kara_core.components import FitSettings, Model
from kara_core.errors import KaraError
from kara_core.pipeline.train.settings import TrainSettings
from kara_core.report import records
from kara_core.storage import atomic

if TYPE_CHECKING:
    from kara_core.pipeline.featurize import FeatureSet, SongFeatures
    from kara_core.pipeline.train.windows import WindowSet

HISTORY_FILE = "history.json"


def make_windows(
    model: Model, features: FeatureSet, settings: TrainSettings
) -> tuple[WindowSet, WindowSet]:
    """Training and validation windows of ``model``'s sizes (:attr:`Model.input_frames`,
    :attr:`Model.output_frames`); :class:`KaraError` when either set is empty."""
    from kara_core.pipeline.train.windows import WindowSet, default_stride

    tin, tout = int(model.input_frames), int(model.output_frames)
    stride = settings.train.stride or default_stride(tin, tout)

    def windows(songs: list[SongFeatures], step: int) -> WindowSet:
        return WindowSet([s.raw_frames() for s in songs], tin, tout, step,
                         mean=features.mean, std=features.std)

    train = windows(features.train, stride)
    val = windows(features.val, max(1, tout // 2))
    budget = settings.train.val_windows
    if budget and len(val) > budget:  # a fixed, seeded sample: validation's cost stays flat
        import numpy as np

        keep = np.random.default_rng(settings.train.seed).choice(len(val), budget, replace=False)
        val.index = val.index[np.sort(keep)]
    for name, found, songs in (("training", train, features.train),
                               ("validation", val, features.val)):
        if len(found) == 0:
            hop, rate = features.transform.hop, settings.sample_rate
            raise KaraError(
                f"no {name} windows: all {len(songs)} {name} song(s) "
                f"({', '.join(Path(s.source).name for s in songs[:3])}"
                f"{', ...' if len(songs) > 3 else ''}) are shorter than one window of "
                f"{tin + tout} frames (input_frames {tin} + output_frames {tout} = "
                f"{(tin + tout) * hop / rate:.2f} s); add longer songs or lower "
                "model.options.input_frames / output_frames"
            )
    return train, val


def fit_baselines(
    name: str, baselines: Mapping[str, Model], train: WindowSet
) -> dict[str, Model]:
    """``baselines`` (built for the same windows as the model) fitted on ``train``; a
    warning naming the variant ``name`` when there is none."""
    from kara_core.console import print_warning

    if not baselines:
        print_warning(f"{name}: no baseline model is installed or named in "
                      "train.baselines; skill cannot be computed")
    for model in baselines.values():
        model.fit(train, train, FitSettings())
    return dict(baselines)


def train(
    features: FeatureSet, model: Model, settings: TrainSettings, *,
    baselines: Mapping[str, Model] | None = None, judge: Any = None, rebuild: bool = False,
    epochs: int | None = None, show_progress: bool = True,
) -> dict[str, Any]:
    """Train (or resume, or reuse) ``model`` on ``features``: the train stage's entry point.
    Returns the metrics of ``--json``.

    ``baselines`` are naive models built for ``model``'s windows (fitted here on the
    training windows, scored beside the model); ``judge`` (``judge(model) -> measures``,
    see :class:`~kara_core.pipeline.train.monitor.EpochMonitor`) makes the checkpoint kept
    the one that generates best.

    The metrics are also merged into ``<run_dir>/metrics.json`` (by the chief worker).
    Raises :class:`KaraError` for an empty training or validation set (before any model
    is built) and when the loss diverges (the last good checkpoint is kept). Holds the run
    folder's lock, so two trainings of one variant never interleave their writes.
    """
    from kara_core.pipeline.train.distribute import placement
    from kara_core.storage.locks import folder_lock

    where = placement(settings.train.distribute)
    # each worker of a multi-worker run writes its own folder, so each locks its own
    own_dir = (settings.run_dir if where.chief
               else settings.run_dir / f"worker-{where.worker_index}")
    with folder_lock(own_dir, f"kara train {settings.name}"):
        from kara_core.storage import owned

        owned.claim(settings.run_dir, "run", f"kara train {settings.name}")
        return _train(features, model, settings, dict(baselines or {}), judge, where,
                      rebuild=rebuild, epochs=epochs, show_progress=show_progress)


def _train(
    features: FeatureSet, model: Model, settings: TrainSettings, baselines: dict[str, Model],
    judge: Any, where: Any, *, rebuild: bool, epochs: int | None, show_progress: bool,
) -> dict[str, Any]:
    from kara_core.pipeline.train.distribute import make_repeatable
    from kara_core.pipeline.train.monitor import score
    from kara_core.pipeline.train.runner import fit_with_checkpoints, note

    started = time.monotonic()
    settings = scaled_to_the_music(settings, features, show_progress)
    train, val = make_windows(model, features, settings)
    make_repeatable(settings.train.seed)
    if features.split_note:
        note(show_progress, f"{settings.name}: {features.split_note}")
    baselines = fit_baselines(settings.name, baselines, train)
    write_dir = (settings.run_dir if where.chief
                 else settings.run_dir / f"worker-{where.worker_index}")
    outcome = fit_with_checkpoints(
        settings, features, model, train, val, where, write_dir,
        rebuild=rebuild, epochs=epochs or settings.train.epochs, show_progress=show_progress,
        judge=judge,
    )
    _warn_edited_model(settings, type(model), write_dir, reused=outcome.reused)
    scores = score({"model": model, **baselines}, val)
    val_loss = scores.pop("model")
    reference = next((name for name, baseline in baselines.items()
                      if getattr(baseline, "skill_reference", False)), None)
    skills = {name: 1.0 - val_loss / loss if loss and math.isfinite(val_loss) else None
              for name, loss in scores.items()}
    skill = skills.get(reference) if reference is not None else None
    from kara_core.options import to_plain

    heldout = _plain_floats(model.heldout_score(train, val))
    if heldout is not None:
        heldout["text"] = heldout_text(heldout)
    metrics: dict[str, Any] = {
        "model": settings.model_type,
        "model_options": to_plain(settings.model_options),
        "train_loss": outcome.train_loss,
        "val_loss": val_loss,
        "baselines": scores,
        "skill": skill,
        "skill_against": reference,
        **{f"skill_vs_{name}": value for name, value in skills.items() if name != reference},
        "heldout": heldout if heldout is not None else {
            "measure": "closed_loop_mse", "model": val_loss,
            "baseline": scores.get(reference) if reference is not None else None,
            "gain": skill, "baseline_kind": reference,
            "text": f"skill {skill:+.2f} vs {reference}" if skill is not None else None,
        },
        "epochs_completed": outcome.epochs_completed,
        "resumed_from_epoch": outcome.resumed_from_epoch,
        "history": outcome.history,
        "training": {
            "best_epoch": outcome.best_epoch,
            "untrained_val_loss": outcome.untrained_val_loss,
            "best_by": outcome.best_by,
            "judge": {
                "seconds": settings.train.judge_seconds,
                "best_score": outcome.best_generation_score,
                "per_epoch": outcome.judged,
                "judging_seconds": round(outcome.judge_seconds, 2),
            },
            "stopped_early": outcome.stopped_early,
            "reused": outcome.reused,
            "settings": outcome.settings,
            "loss": str(getattr(settings.model_options, "loss", "mse")),
            "train_songs": len(features.train), "val_songs": len(features.val),
            "train_windows": len(train), "val_windows": len(val), "stride": train.stride,
            "split_note": features.split_note, "distribute": where.description,
            "features": features.key, "seconds": round(time.monotonic() - started, 1),
        },
    }
    if where.chief:
        atomic.write_json(settings.run_dir / HISTORY_FILE, outcome.history)
        merged = records.update_metrics(settings.run_dir, metrics)
        if merged.get("status") == "training":  # retrained: nothing generated from it yet
            records.update_metrics(settings.run_dir, {"status": "trained"})
    note(show_progress, summary_line(settings.name, metrics))
    return metrics


MODEL_SOURCE_FILE = "model-source.json"


def _warn_edited_model(settings: TrainSettings, cls: type, write_dir: Path, *,
                       reused: bool) -> None:
    """Warn once when a reused model's class changed its source since it was trained
    while its plugin's version and ``cache_version`` stayed the same (an editable plugin
    edited without a bump); records the source's hash in ``model-source.json``."""
    from kara_core.console import print_warning
    from kara_core.report.versions import source_changed

    if source_changed(write_dir / MODEL_SOURCE_FILE, cls) and reused:
        who = settings.model_identity
        print_warning(f"{settings.name}: model {settings.model_type!r} of plugin "
                      f"{who.get('plugin')!r} ({who.get('distribution')} {who.get('version')})"
                      ": its source changed since it was trained, but its version and "
                      "cache_version did not: the kept model is the old code's; bump the "
                      "model's cache_version (or --rebuild) to train it again")


def scaled_to_the_music(
    settings: TrainSettings, features: FeatureSet, show_progress: bool = True
) -> TrainSettings:
    """``settings`` with the step budget scaled to the training music
    (:meth:`~kara_core.config.TrainConfig.for_music`), saying so when it is cut."""
    from kara_core.pipeline.train.runner import note

    hop, rate = features.transform.hop, settings.sample_rate
    minutes = sum(int(s.stop) - int(s.start) for s in features.train) * hop / rate / 60.0
    scaled = settings.train.for_music(minutes)
    if scaled is settings.train:
        return settings
    note(show_progress, f"{settings.name}: {scaled.steps} training steps for {minutes:.1f} "
         f"min of training music (train.steps_per_minute {settings.train.steps_per_minute:g}; "
         f"train.steps {settings.train.steps} for a larger collection)")
    return dataclasses.replace(settings, train=scaled)


def summary_line(name: str, metrics: dict[str, Any]) -> str:
    """``stft: val MSE 0.412 | persistence 0.530 | mean 1.000 | skill +0.22``, then the
    model's own held-out score where it has one (``held out: +83.3 bits/frame vs ...``)."""
    base = metrics.get("baselines") or {}
    parts = [f"{name}: val MSE {metrics['val_loss']:.4f}"]
    parts += [f"{k} {v:.4f}" for k, v in base.items()]
    if metrics.get("skill") is not None:
        parts.append(f"skill {metrics['skill']:+.3f}")
    heldout = metrics.get("heldout") or {}
    if heldout.get("measure") not in (None, "closed_loop_mse") and heldout.get("text"):
        parts.append(f"held out: {heldout['text']}")
    return " | ".join(parts)


def heldout_text(score: dict[str, Any]) -> str:
    """A model's own held-out score in a few words: ``+83.3 bits/frame vs one Gaussian``
    (a density's gain) or ``skill +0.34 vs unigram`` (a ratio where both are non-negative)."""
    gain, skill, kind = score.get("gain"), score.get("skill"), str(score.get("baseline_kind"))
    short = kind.split(" fitted")[0].split(" on the")[0]
    if skill is not None:
        return f"skill {skill:+.2f} vs {short}"
    if gain is None:
        return "-"
    unit = "bits/frame" if "bits" in str(score.get("measure")) else ""
    return f"{gain:+.1f} {unit} vs {short}".replace("  ", " ")


def _plain_floats(score: dict[str, Any] | None) -> dict[str, Any] | None:
    if score is None:
        return None
    return {k: (float(v) if isinstance(v, int | float) and not isinstance(v, bool) else v)
            for k, v in score.items()}


def load_trained(model: Model, features: FeatureSet, settings: TrainSettings) -> Model:
    """``model`` (freshly built) with the weights of the run folder's trained model (best
    epoch), ready for ``predict`` and ``generate``.

    Raises :class:`KaraError` when the variant was never trained, or was trained with a
    different architecture, another version of the model's plugin, or on different data
    than ``features``.
    """
    from kara_core.pipeline.featurize import component_change, explain_change
    from kara_core.pipeline.train.checkpoints import model_damage, read_model_record
    from kara_core.pipeline.train.runner import MODEL_DIR, plain

    name = settings.name
    directory = settings.run_dir / MODEL_DIR
    record = read_model_record(directory)
    again = f"run 'kara train CONFIG --variant {name}'"
    if record is None:
        damaged = model_damage(directory)
        if damaged is not None:
            raise KaraError(f"variant {name!r}: its exported model is damaged "
                            f"({damaged}): {again} to export it again from the checkpoints")
        raise KaraError(f"variant {name!r} is not trained yet: {again}")
    if record.get("signature") != plain(model.signature()):
        raise KaraError(
            f"variant {name!r}: {directory} was trained with a different "
            f"architecture; {again}"
        )
    plugin = dict(settings.model_identity)
    if record.get("plugin") != plugin:
        change = component_change("model", record.get("plugin"), plugin)
        raise KaraError(f"variant {name!r}: {directory} was made by another version "
                        f"of the model's plugin: {change}; {again}")
    if record.get("data") != features.identity():
        raise KaraError(
            f"variant {name!r}: {directory} was trained on other data than the "
            f"current dataset: {explain_change(features, record.get('data'))}; {again}"
        )
    model.load(directory)
    return model

