"""The resumable training run of one variant: restore, fit, keep the best, export.

Decides between a fresh start (no checkpoint, ``--rebuild``, or a checkpoint made for a
different architecture or different data: never load mismatched weights), a resume from
the last checkpoint (same epoch count at the end as an uninterrupted run), and reuse of a
finished run. After fitting, the best epoch's weights are exported to ``<dir>/model``.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kara_core.components import FitSettings, Model
from kara_core.errors import KaraError

if TYPE_CHECKING:
    from kara_core.config import TrainConfig
    from kara_core.pipeline.featurize import FeatureSet
    from kara_core.pipeline.train.checkpoints import Checkpoint
    from kara_core.pipeline.train.distribute import Placement
    from kara_core.pipeline.train.settings import TrainSettings
    from kara_core.pipeline.train.windows import WindowSet

MODEL_DIR = "model"
TENSORBOARD_DIR = "tensorboard"


@dataclass
class TrainingOutcome:
    """How training of one variant went."""

    epochs_completed: int = 0
    resumed_from_epoch: int | None = None
    best_epoch: int = 0
    stopped_early: bool = False
    reused: bool = False
    history: dict[str, list[float]] = field(default_factory=dict)
    untrained_val_loss: float | None = None
    best_by: str = "val_loss"
    best_generation_score: float | None = None
    judged: dict[str, list[float | None]] = field(default_factory=dict)
    judge_seconds: float = 0.0
    settings: dict[str, Any] | None = None
    """The training settings (``train:``) the kept model was trained with, as recorded
    in its checkpoint (``None`` for checkpoints written before they were recorded)."""

    @property
    def train_loss(self) -> float | None:
        """Training loss of the kept (best) epoch."""
        losses = self.history.get("loss") or []
        if not losses:
            return None
        return float(losses[max(0, min(len(losses), self.best_epoch) - 1)])

    @classmethod
    def of(cls, state: dict[str, Any], **extra: Any) -> TrainingOutcome:
        """The outcome recorded in a checkpoint's state."""
        return cls(
            epochs_completed=int(state.get("epoch", 0)),
            best_epoch=int(state.get("best_epoch", 0)),
            stopped_early=bool(state.get("stopped_early", False)),
            history={k: list(v) for k, v in dict(state.get("history") or {}).items()},
            untrained_val_loss=state.get("untrained_val_loss"),
            best_by=str(state.get("best_by", "val_loss")),
            best_generation_score=state.get("best_generation_score"),
            judged={k: list(v) for k, v in dict(state.get("judged") or {}).items()},
            settings=state.get("train") if isinstance(state.get("train"), dict) else None,
            **extra,
        )


def note(show: bool, message: str) -> None:
    """One line on stderr, unless progress output is off."""
    if show:
        from kara_core.console import print_note

        print_note(message)


def plain(value: Any) -> Any:
    """``value`` as it reads back from JSON (tuples become lists)."""
    return json.loads(json.dumps(value, default=str))


def _changes(old: Any, new: Any, ignore: tuple[str, ...] = ()) -> list[str]:
    """``["units 8 -> 6", ...]``: the keys whose values differ between two mappings."""
    old = old if isinstance(old, dict) else {}
    new = new if isinstance(new, dict) else {}
    return [
        f"{k} {old.get(k)} -> {new.get(k)}" for k in sorted(set(old) | set(new))
        if k not in ignore and old.get(k) != new.get(k)
    ]


def _mismatch(
    state: dict[str, Any], identity: dict[str, Any], features: FeatureSet,
) -> str | None:
    old, new = state.get("signature") or {}, identity["signature"]
    if old != new:
        return f"the model architecture changed ({', '.join(_changes(old, new))})"
    from kara_core.pipeline.featurize import component_change, explain_change

    if state.get("plugin") != identity["plugin"]:
        return component_change("model", state.get("plugin"), identity["plugin"])
    if state.get("data") != identity["data"]:
        return "the training data changed: " + explain_change(features, state.get("data"))
    return None


IGNORED_SETTINGS = ("epochs", "steps", "baselines")
"""Training settings a reused model is not compared on: more epochs (or steps) resume it,
fewer keep it (the note says how many are done), and baselines are fitted afresh."""


def training_settings(train: TrainConfig) -> dict[str, Any]:
    """``train:`` as plain data: recorded in every checkpoint, so the run record can say
    what the kept model was trained with."""
    from kara_core.options import to_plain

    settings: dict[str, Any] = plain(to_plain(train))
    return settings


def settings_changed(recorded: Any, current: dict[str, Any]) -> str | None:
    """``learning_rate 0.001 -> 5.0, batch_size 64 -> 4096`` when the settings a checkpoint
    was trained with differ from ``current`` (``None`` when equal or not recorded)."""
    if not isinstance(recorded, dict):
        return None
    changed = _changes(recorded, current, IGNORED_SETTINGS)
    return ", ".join(changed) or None


def fit_with_checkpoints(
    run: TrainSettings, features: FeatureSet, model: Model, train: WindowSet,
    val: WindowSet, where: Placement, write_dir: Path, *, rebuild: bool, epochs: int,
    show_progress: bool, judge: Any = None,
) -> TrainingOutcome:
    """Train ``model`` to ``epochs`` epochs with checkpoints in ``write_dir``; on return
    ``model`` holds the best epoch's weights, also exported to ``write_dir/model``.
    ``judge`` (see :class:`EpochMonitor`) makes the best epoch the best-generating one."""
    from kara_core.pipeline.train.checkpoints import (
        CheckpointStore,
        export_model,
        read_model_record,
    )
    from kara_core.storage.locks import folder_lock

    identity = {"signature": plain(model.signature()), "data": features.identity(),
                "plugin": dict(run.model_identity)}
    settings = training_settings(run.train)
    store = CheckpointStore(write_dir / "checkpoints")
    model_dir = write_dir / MODEL_DIR
    with folder_lock(store.root, f"kara train {run.name}"):
        latest = store.latest()
        why = "--rebuild" if rebuild else (
            _mismatch(latest.state, identity, features) if latest is not None else None)
        if why is not None:
            note(show_progress, f"{run.name}: {why}: training from scratch")
            from kara_core.report import records

            # the record first: a rebuild killed after this never leaves an "ok" record
            # (or an exported model) of the weights deleted below
            records.forget_model(write_dir)
            shutil.rmtree(model_dir, ignore_errors=True)
            store.clear()  # never load mismatched weights; start the logs afresh too
            shutil.rmtree(write_dir / TENSORBOARD_DIR, ignore_errors=True)
            latest = None
        if not model.trainable:
            model.fit(train, val, FitSettings(seed=run.train.seed))
            export_model(model, model_dir, {**identity, "epoch": 0})
            return TrainingOutcome()
        if latest is not None and _finished(latest, epochs):
            record = read_model_record(model_dir)
            fresh = record is not None and record.get("epoch") == latest.epoch and all(
                record.get(k) == v for k, v in identity.items()
            )
            if fresh:
                model.load(model_dir)
            else:
                _export_best(model, store, model_dir, identity, latest, export_model)
            note(show_progress, f"{run.name}: already trained ({_why_done(latest, epochs)});"
                 " --rebuild trains again")
            changed = settings_changed(latest.state.get("train"), settings)
            if changed is not None:
                from kara_core.console import print_warning

                print_warning(f"{run.name}: training settings changed ({changed}) but the "
                              "model was reused; --rebuild retrains")
            return TrainingOutcome.of(latest.state, reused=True)
        outcome = _fit(run, model, train, val, where, write_dir, store, latest, identity,
                       settings, epochs, show_progress, judge)
        final = store.latest()
        if final is None:
            raise KaraError("training produced no checkpoint")
        final = store.mark(final, finished=True)
        _export_best(model, store, model_dir, identity, final, export_model)
        return outcome


def _finished(latest: Checkpoint, epochs: int) -> bool:
    return bool(latest.state.get("stopped_early")) or latest.epoch >= epochs


def _why_done(latest: Checkpoint, epochs: int) -> str:
    if latest.state.get("stopped_early"):
        return f"stopped early at epoch {latest.epoch}"
    return f"{latest.epoch} epochs done, {epochs} asked"


def _export_best(
    model: Model, store: Any, model_dir: Path, identity: dict[str, Any], latest: Checkpoint,
    export: Any,
) -> None:
    best = store.best() or latest
    model.load_state(best.directory)
    export(model, model_dir, {
        **identity, "epoch": latest.epoch, "best_epoch": int(best.state.get("epoch", 0)),
        "train": best.state.get("train"),
    })


def _fit(
    run: TrainSettings, model: Model, train: WindowSet, val: WindowSet, where: Placement,
    write_dir: Path, store: Any, latest: Checkpoint | None, identity: dict[str, Any],
    settings: dict[str, Any], epochs: int, show_progress: bool, judge: Any = None,
) -> TrainingOutcome:
    from rich.progress import TextColumn

    from kara_core.pipeline.progress import progress
    from kara_core.pipeline.train.monitor import EpochMonitor

    initial = latest.epoch if latest is not None else 0
    if latest is not None:
        note(show_progress, f"{run.name}: resuming from the checkpoint of epoch {initial}")
        changed = settings_changed(latest.state.get("train"), settings)
        if changed is not None:
            note(show_progress, f"{run.name}: training settings changed ({changed}): "
                 f"epochs after {initial} use the new ones; --rebuild retrains from scratch")
    cfg = run.train
    fit_settings = FitSettings(
        epochs=epochs, batch_size=cfg.batch_size, learning_rate=cfg.learning_rate,
        seed=cfg.seed, patience=cfg.patience, initial_epoch=initial, run_dir=write_dir,
        distribute=cfg.distribute, steps_per_epoch=cfg.steps_per_epoch,
        strategy=where.strategy, resume_from=latest.directory if latest else None,
    )
    with progress(show_progress, TextColumn("{task.fields[loss]}")) as bar:
        monitor = EpochMonitor(
            val=val, store=store, epochs=epochs, patience=cfg.patience,
            state=latest.state if latest else {}, identity=identity, settings=settings, bar=bar,
            log_dir=write_dir / TENSORBOARD_DIR if where.chief else None, label=run.name,
            judge=judge,
        )
        try:
            model.fit(train, val, fit_settings, [monitor])
        finally:  # the logs TensorBoard wrote are Kara's to clean up
            from kara_core.storage import owned

            owned.record_tree(write_dir / TENSORBOARD_DIR)
    if monitor.diverged is not None:
        kept = (f"kept the checkpoint of epoch {monitor.completed}" if monitor.completed
                else "no checkpoint was kept")
        raise KaraError(
            f"training stopped: {monitor.diverged}; {kept}; "
            "lower train.learning_rate (or model.options.learning_rate)"
        )
    return TrainingOutcome.of(
        monitor.state(), resumed_from_epoch=latest.epoch if latest else None,
        judge_seconds=monitor.judge_seconds,
    )
