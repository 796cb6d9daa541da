"""Train: windows from the feature cache -> model, scored against naive baselines.

``val_loss`` in the metrics is the model's *closed-loop* MSE on the held-out songs'
windows, in normalised feature space: the model predicts all ``output_frames`` from the
context alone, feeding its own predictions back (``Model.predict``), never the targets.
The persistence baseline (repeat the last context frame) and the mean baseline (the
training songs' mean frame) are scored on exactly the same windows, and
``skill = 1 - val_loss / persistence``: above 0 the model beats repeating the last frame,
1 is perfect; ``skill_vs_mean`` is the same against the mean baseline (where frames change
too fast for persistence to mean anything, as raw samples do, this is the one to read).
``train_loss`` is the training loss (``model.options.loss``, teacher forced) of the epoch
whose weights are kept: the epoch whose short generation from a held-out prompt measures
best on the audio (:mod:`kara_core.pipeline.train.judge`; ``train.judge_seconds: 0`` keeps
the lowest val_loss instead). Training is resumed from the last checkpoint
unless ``rebuild``; the best epoch's weights are exported to ``<run_dir>/model``.
"""

from __future__ import annotations

import math
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kara_core.components import FitSettings, Model
from kara_core.errors import KaraError
from kara_core.report import records
from kara_core.storage import atomic

if TYPE_CHECKING:
    from kara_core.config import VariantConfig
    from kara_core.pipeline.featurize.stage import FeatureSet, SongFeatures
    from kara_core.pipeline.train.windows import WindowSet

HISTORY_FILE = "history.json"


def build_model(variant: VariantConfig, frame_dim: int) -> Model:
    """The variant's model for frames of ``frame_dim`` features (nothing built yet)."""
    return variant.build_model(frame_dim)


def window_sizes(variant: VariantConfig) -> tuple[int, int]:
    """``(input_frames, output_frames)`` of the variant's model, as its contract states
    (:attr:`Model.input_frames`); reading them builds nothing."""
    model = variant.build_model()
    return int(model.input_frames), int(model.output_frames)


def make_windows(variant: VariantConfig, features: FeatureSet) -> tuple[WindowSet, WindowSet]:
    """Training and validation windows; :class:`KaraError` when either set is empty."""
    from kara_core.pipeline.train.windows import WindowSet, default_stride

    tin, tout = window_sizes(variant)
    stride = variant.train.stride or default_stride(tin, tout)

    def windows(songs: list[SongFeatures], step: int) -> WindowSet:
        return WindowSet([s.raw_frames() for s in songs], tin, tout, step,
                         mean=features.mean, std=features.std)

    train = windows(features.train, stride)
    val = windows(features.val, max(1, tout // 2))
    for name, found, songs in (("training", train, features.train),
                               ("validation", val, features.val)):
        if len(found) == 0:
            hop, rate = features.transform.hop, variant.dataset.sample_rate
            raise KaraError(
                f"no {name} windows: all {len(songs)} {name} song(s) "
                f"({', '.join(Path(s.source).name for s in songs[:3])}"
                f"{', ...' if len(songs) > 3 else ''}) are shorter than one window of "
                f"{tin + tout} frames (input_frames {tin} + output_frames {tout} = "
                f"{(tin + tout) * hop / rate:.2f} s); add longer songs or lower "
                "model.options.input_frames / output_frames"
            )
    return train, val


def baseline_models(variant: VariantConfig, frame_dim: int, train: WindowSet) -> dict[str, Model]:
    """The variant's baselines (``train.baselines``), built for the same windows as its
    model and fitted on ``train``."""
    from kara_core.console import print_warning

    if not variant.baselines:
        print_warning(f"{variant.name}: no baseline model is installed or named in "
                      "train.baselines; skill cannot be computed")
    found: dict[str, Model] = {}
    for component in variant.baselines:
        cls: Any = component.cls
        model: Model = cls(
            cls.Options(input_frames=train.input_frames, output_frames=train.output_frames),
            frame_dim=frame_dim,
        )
        model.fit(train, train, FitSettings())
        found[component.type] = model
    return found


def train_variant(
    variant: VariantConfig, features: FeatureSet, *, rebuild: bool = False,
    epochs: int | None = None, show_progress: bool = True,
) -> dict[str, Any]:
    """Train (or resume, or reuse) the variant's model; return the metrics of ``--json``.

    The metrics are also merged into ``<run_dir>/metrics.json`` (by the chief worker).
    Raises :class:`KaraError` for an empty training or validation set (before any model
    is built) and when the loss diverges (the last good checkpoint is kept). Holds the run
    folder's lock, so two trainings of one variant never interleave their writes.
    """
    from kara_core.pipeline.train.distribute import placement
    from kara_core.storage.locks import folder_lock

    where = placement(variant.train.distribute)
    # each worker of a multi-worker run writes its own folder, so each locks its own
    own_dir = variant.run_dir if where.chief else variant.run_dir / f"worker-{where.worker_index}"
    with folder_lock(own_dir, f"kara train {variant.name}"):
        return _train_variant(variant, features, where, rebuild=rebuild, epochs=epochs,
                              show_progress=show_progress)


def _train_variant(
    variant: VariantConfig, features: FeatureSet, where: Any, *, rebuild: bool,
    epochs: int | None, show_progress: bool,
) -> dict[str, Any]:
    from kara_core.pipeline.evaluate import PromptPlan, held_out_music
    from kara_core.pipeline.train.distribute import make_repeatable
    from kara_core.pipeline.train.judge import JudgeSettings, make_judge
    from kara_core.pipeline.train.monitor import score
    from kara_core.pipeline.train.runner import fit_with_checkpoints, note
    from kara_core.plugins import registered_measures

    started = time.monotonic()
    variant = scaled_to_the_music(variant, features, show_progress)
    train, val = make_windows(variant, features)
    make_repeatable(variant.train.seed)
    if features.split_note:
        note(show_progress, f"{variant.name}: {features.split_note}")
    model = build_model(variant, features.frame_dim)
    transform = features.transform
    baselines = baseline_models(variant, features.frame_dim, train)
    write_dir = variant.run_dir if where.chief else variant.run_dir / f"worker-{where.worker_index}"
    outcome = fit_with_checkpoints(
        variant, features, model, train, val, where, write_dir,
        rebuild=rebuild, epochs=epochs or variant.train.epochs, show_progress=show_progress,
        judge=make_judge(
            JudgeSettings.of(variant.train, variant.generate, variant.dataset.sample_rate),
            lambda: held_out_music(features, transform.hop, variant.dataset.sample_rate,
                                   PromptPlan(variant.generate.prompts,
                                              variant.generate.prompt_seconds,
                                              variant.generate.seconds)),
            transform, features, registered_measures()),
    )
    scores = score({"model": model, **baselines}, val)
    val_loss = scores.pop("model")
    persistence = scores.get("persistence")
    skill = 1.0 - val_loss / persistence if persistence and math.isfinite(val_loss) else None
    mean = scores.get("mean")
    skill_vs_mean = 1.0 - val_loss / mean if mean and math.isfinite(val_loss) else None
    from kara_core.options import to_plain

    heldout = _plain_floats(model.heldout_score(train, val))
    if heldout is not None:
        heldout["text"] = heldout_text(heldout)
    metrics: dict[str, Any] = {
        "model": variant.model.type,
        "model_options": to_plain(variant.model.options),
        "train_loss": outcome.train_loss,
        "val_loss": val_loss,
        "baselines": scores,
        "skill": skill,
        "skill_vs_mean": skill_vs_mean,
        "heldout": heldout if heldout is not None else {
            "measure": "closed_loop_mse", "model": val_loss, "baseline": persistence,
            "gain": skill, "baseline_kind": "persistence",
            "text": f"skill {skill:+.2f} vs persistence" if skill is not None else None,
        },
        "epochs_completed": outcome.epochs_completed,
        "resumed_from_epoch": outcome.resumed_from_epoch,
        "history": outcome.history,
        "training": {
            "best_epoch": outcome.best_epoch,
            "untrained_val_loss": outcome.untrained_val_loss,
            "best_by": outcome.best_by,
            "judge": {
                "seconds": variant.train.judge_seconds,
                "best_score": outcome.best_generation_score,
                "per_epoch": outcome.judged,
                "judging_seconds": round(outcome.judge_seconds, 2),
            },
            "stopped_early": outcome.stopped_early,
            "reused": outcome.reused,
            "settings": outcome.settings,
            "loss": str(getattr(variant.model.options, "loss", "mse")),
            "train_songs": len(features.train), "val_songs": len(features.val),
            "train_windows": len(train), "val_windows": len(val), "stride": train.stride,
            "split_note": features.split_note, "distribute": where.description,
            "features": features.key, "seconds": round(time.monotonic() - started, 1),
        },
    }
    if where.chief:
        atomic.write_json(variant.run_dir / HISTORY_FILE, outcome.history)
        records.update_metrics(variant.run_dir, metrics)
    note(show_progress, summary_line(variant.name, metrics))
    return metrics


def scaled_to_the_music(
    variant: VariantConfig, features: FeatureSet, show_progress: bool = True
) -> VariantConfig:
    """``variant`` with its step budget scaled to its training music
    (:meth:`~kara_core.config.TrainConfig.for_music`), saying so when it is cut."""
    import dataclasses

    from kara_core.pipeline.train.runner import note

    hop, rate = features.transform.hop, variant.dataset.sample_rate
    minutes = sum(int(s.stop) - int(s.start) for s in features.train) * hop / rate / 60.0
    scaled = variant.train.for_music(minutes)
    if scaled is variant.train:
        return variant
    note(show_progress, f"{variant.name}: {scaled.steps} training steps for {minutes:.1f} min "
         f"of training music (train.steps_per_minute {variant.train.steps_per_minute:g}; "
         f"train.steps {variant.train.steps} for a larger collection)")
    return dataclasses.replace(variant, train=scaled)


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


def load_trained_model(variant: VariantConfig, features: FeatureSet) -> Model:
    """The variant's trained model (best epoch), ready for ``predict`` and ``generate``.

    Raises :class:`KaraError` when the variant was never trained, or was trained with a
    different architecture, another version of the model's plugin, or on different data
    than ``features``.
    """
    from kara_core.pipeline.train.checkpoints import read_model_record
    from kara_core.pipeline.train.runner import MODEL_DIR, plain

    directory = variant.run_dir / MODEL_DIR
    record = read_model_record(directory)
    again = f"run 'kara train CONFIG --variant {variant.name}'"
    if record is None:
        raise KaraError(f"variant {variant.name!r} is not trained yet: {again}")
    model = build_model(variant, features.frame_dim)
    if record.get("signature") != plain(model.signature()):
        raise KaraError(
            f"variant {variant.name!r}: {directory} was trained with a different "
            f"architecture; {again}"
        )
    from kara_core.pipeline.featurize.identity import component_change, explain_change

    plugin = variant.model.identity()
    if record.get("plugin") != plugin:
        change = component_change("model", record.get("plugin"), plugin)
        raise KaraError(f"variant {variant.name!r}: {directory} was made by another version "
                        f"of the model's plugin: {change}; {again}")
    if record.get("data") != features.identity():
        raise KaraError(
            f"variant {variant.name!r}: {directory} was trained on other data than the "
            f"current dataset: {explain_change(features, record.get('data'))}; {again}"
        )
    model.load(directory)
    return model

