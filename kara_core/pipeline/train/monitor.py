"""What Kara does around every training epoch, whatever the framework.

:class:`EpochMonitor` is the :class:`kara_core.components.TrainingMonitor` the train stage
hands to ``Model.fit``: it shows progress with the loss, scores the model closed loop on
the validation windows (that score is ``val_loss``), has a *judge* generate a short clip
from a held-out prompt and measure it on the audio (:mod:`kara_core.pipeline.train.judge`),
writes a checkpoint and TensorBoard scalars (and the clip), keeps the best epoch, stops
early after ``patience`` epochs without a new best, and stops at once when the loss
becomes NaN or infinite (the last good checkpoint stays).

The best epoch is the one that *generates* best: the lowest generation score
(:func:`kara_core.measures.music.generation_score`; 0 meets every target), ties (e.g. two
epochs both meeting the targets) going to the later epoch for a model that samples (its
closed-loop MSE says little) and to the lower ``val_loss`` otherwise. Without a judge
(``train.judge_seconds: 0``) it is the lowest ``val_loss``. The checkpoint state records
the best score, so a resumed run compares new epochs with the same best.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from kara_core.components import TrainingMonitor

if TYPE_CHECKING:
    from kara_core.components import Model, WindowSource
    from kara_core.pipeline.train.checkpoints import CheckpointStore

SCORE_BATCH = 256
STEP_POINTS = 500
"""About how many points of the per-step loss curve a run keeps (``history["step_loss"]``:
the mean of every ``history["step_loss_every"][0]`` steps), whatever its length."""
LOG_EVERY = 50
"""When stderr is not a terminal (a log file, CI), a progress line every this many steps."""
JUDGED = ("score", "fd_ratio", "spread", "loop", "level_db", "silent")
"""The judge's measures kept per epoch (``judged`` in the state) and sent to TensorBoard."""


def score(
    models: Mapping[str, Model], windows: WindowSource, batch_size: int = SCORE_BATCH
) -> dict[str, float]:
    """Mean squared error of each model's closed-loop ``predict`` over every window, in
    normalised feature space; all models see exactly the same windows."""
    sums = dict.fromkeys(models, 0.0)
    count = 0
    for inputs, targets in windows.batches(batch_size):
        truth = targets.astype(np.float64)
        for name, model in models.items():
            predicted = np.asarray(model.predict(inputs), np.float64)
            sums[name] += float(np.square(predicted - truth).sum())
        count += targets.size
    if count == 0:
        return dict.fromkeys(models, float("nan"))
    return {name: total / count for name, total in sums.items()}


class EpochMonitor(TrainingMonitor):
    """Progress, validation, checkpoints, early stopping and divergence for one run.

    :param state: the training state restored from the checkpoint resumed from (history,
        best val_loss and epoch, epochs without improvement); empty for a fresh run.
    :param identity: recorded in every checkpoint (architecture signature, data identity).
    :param settings: the training settings (``train:`` as plain data), recorded in every
        checkpoint as ``train``: what the kept model was trained with.
    :param judge: ``judge(model) -> dict`` with ``score`` (lower is better), the measures
        of :data:`JUDGED`, and optionally ``audio`` and ``rate`` for TensorBoard; ``None``
        keeps the lowest val_loss instead.
    """

    def __init__(
        self, *, val: WindowSource, store: CheckpointStore | None, epochs: int,
        patience: int, state: Mapping[str, Any], identity: Mapping[str, Any],
        bar: Any, log_dir: Path | None, label: str, settings: Mapping[str, Any] | None = None,
        judge: Callable[[Model], Mapping[str, Any]] | None = None,
    ) -> None:
        self.val = val
        self.store = store
        self.epochs = epochs
        self.patience = patience
        self.identity = dict(identity)
        self.settings = dict(settings) if settings is not None else None
        self.history: dict[str, list[float]] = {
            k: list(v) for k, v in dict(state.get("history") or {}).items()
        }
        self.best_val = float(state.get("best_val_loss", math.inf))
        self.best_epoch = int(state.get("best_epoch", 0))
        self.wait = int(state.get("wait", 0))
        self.completed = int(state.get("epoch", 0))
        self.untrained_val: float | None = state.get("untrained_val_loss")
        self.judge = judge
        self.judged: dict[str, list[float | None]] = {
            k: list(v) for k, v in dict(state.get("judged") or {}).items()
        }
        best_score = state.get("best_generation_score")
        self.best_score = float(best_score) if isinstance(best_score, int | float) else math.inf
        self.judge_seconds = 0.0
        self.bar = bar
        self.task: Any = None
        self.steps_per_epoch = 0
        self.log_dir = log_dir
        self.label = label
        self.model: Model | None = None
        self.stopped_early = False
        self.diverged: str | None = None
        self._writer: Any = None
        self._pending: list[float] = []
        self.every = 1
        self.steps_done = 0
        self._epoch_start = (time.monotonic(), 0)

    # ------------------------------------------------------------------ hooks

    def on_train_begin(self, model: Model, steps_per_epoch: int) -> None:
        self.model = model
        if self.untrained_val is None and self.completed == 0:
            # what the model scores before any training step: training must beat this
            self.untrained_val = score({"model": model}, self.val)["model"]
        self.steps_per_epoch = steps_per_epoch
        every = self.history.get("step_loss_every")
        self.every = (int(every[0]) if every else
                      max(1, round(steps_per_epoch * self.epochs / STEP_POINTS)))
        self.history["step_loss_every"] = [float(self.every)]
        self.steps_done = self.completed * steps_per_epoch
        self.task = self.bar.add_task(self.label, total=steps_per_epoch, loss="", after=0)
        if self.log_dir is not None:
            import tensorflow as tf

            self._writer = tf.summary.create_file_writer(str(self.log_dir))

    def on_epoch_begin(self, epoch: int) -> None:
        # the ETA covers the steps of the epochs still to come, not only this one's
        self.bar.reset(
            self.task, description=f"{self.label} epoch {epoch + 1}/{self.epochs}", loss="",
            after=max(0, self.epochs - epoch - 1) * self.steps_per_epoch,
        )
        self._epoch_start = (time.monotonic(), self.steps_done)
        self._pending = []

    def on_batch_end(self, step: int, loss: float) -> None:
        if not math.isfinite(loss):
            self.diverged = f"the training loss became {loss} in epoch {self.completed + 1}"
            self.stop_requested = True
        self.bar.update(self.task, advance=1, loss=f"loss {loss:.4f}")
        self.steps_done += 1
        self._pending.append(float(loss))
        if len(self._pending) >= self.every:
            mean = float(np.mean(self._pending))
            self._pending = []
            self.history.setdefault("step_loss", []).append(mean)
            self._log_step(mean)
        if self.steps_done % LOG_EVERY == 0 and not _terminal(self.bar):
            self._print(self.progress_line(loss))

    def progress_line(self, loss: float) -> str:
        """``base step 200/1500: loss 1.2345, 3.1 steps/s, ETA 0:07:00`` (the steps of this
        epoch so far set the speed; the ETA counts the training steps left, not the
        evaluations between epochs)."""
        started, at = self._epoch_start
        elapsed = time.monotonic() - started
        speed = (self.steps_done - at) / elapsed if elapsed > 0 else 0.0
        total = self.steps_per_epoch * self.epochs
        left = max(0, total - self.steps_done)
        if speed > 0:
            rest = int(left / speed)
            eta = f"ETA {rest // 3600}:{rest % 3600 // 60:02d}:{rest % 60:02d}"
        else:
            eta = "ETA -:--:--"
        return (f"{self.label} step {self.steps_done}/{total}: loss {loss:.4f}, "
                f"{speed:.1f} steps/s, {eta}")

    def _log_step(self, loss: float) -> None:
        """The per-step loss curve in TensorBoard (``loss/step``, one point per
        :attr:`every` steps)."""
        if self._writer is None:
            return
        import tensorflow as tf

        with self._writer.as_default():
            tf.summary.scalar("loss/step", loss, step=self.steps_done)

    def on_epoch_end(self, epoch: int, logs: dict[str, float]) -> None:
        if self.diverged is not None or self.model is None:
            return
        loss = float(logs.get("loss", math.nan))
        val_loss = score({"model": self.model}, self.val)["model"]
        logs["val_loss"] = val_loss
        if not (math.isfinite(loss) and math.isfinite(val_loss)):
            self.diverged = f"the loss became {loss} (val_loss {val_loss}) in epoch {epoch + 1}"
            self.stop_requested = True
            return
        self.completed = epoch + 1
        self.history.setdefault("loss", []).append(loss)
        self.history.setdefault("val_loss", []).append(val_loss)
        judged = self._judge()
        generation = float(judged["score"]) if judged is not None else math.nan
        improved = self.better(generation, val_loss)
        if improved:
            self.best_val, self.best_epoch, self.wait = val_loss, self.completed, 0
            if judged is not None:
                self.best_score = generation if math.isfinite(generation) else math.inf
        else:
            self.wait += 1
        if self.patience and self.wait >= self.patience and self.completed < self.epochs:
            self.stopped_early = True
            self.stop_requested = True
        if self.store is not None:
            self.store.save(self.model, self.state(), is_best=improved)
        self._log_scalars(loss, val_loss, judged)
        mark = "  (best)" if improved else ""
        self._print(
            f"{self.label} epoch {self.completed}/{self.epochs}: loss {loss:.4f}  "
            f"val_loss {val_loss:.4f}{_judged_text(judged)}{mark}"
        )
        if self.stopped_early:
            what = "the generation score" if self.judge is not None else "val_loss"
            self._print(
                f"{self.label}: stopping early, {what} has not improved for "
                f"{self.wait} epoch(s) (train.patience {self.patience})"
            )

    def on_train_end(self) -> None:
        if self._writer is not None:
            self._writer.close()
        if self.task is not None:
            self.bar.remove_task(self.task)

    # ------------------------------------------------------------------ judging

    def better(self, score: float, val_loss: float) -> bool:
        """Whether an epoch scoring ``score`` (NaN without a judge) and ``val_loss`` is a
        new best: a lower generation score, or an equal one (both meeting the targets,
        both non-finite) with a lower val_loss; without a judge, a lower val_loss."""
        if self.judge is None:
            return val_loss < self.best_val
        score = score if math.isfinite(score) else math.inf
        if score != self.best_score:
            return score < self.best_score
        if self.model is not None and self.model.stochastic and math.isfinite(score):
            return True  # both generate equally well: the more trained sampler wins
        return val_loss < self.best_val

    def _judge(self) -> dict[str, Any] | None:
        if self.judge is None or self.model is None:
            return None
        judged = dict(self.judge(self.model))
        self.judge_seconds += float(judged.get("seconds", 0.0) or 0.0)
        for key in JUDGED:
            self.judged.setdefault(key, []).append(_finite(judged.get(key)))
        return judged

    # ------------------------------------------------------------------ state

    def state(self) -> dict[str, Any]:
        """What a resumed run needs to continue exactly where this one is."""
        return {
            **self.identity,
            "epoch": self.completed,
            "loss": self.history.get("loss", [math.nan])[-1],
            "val_loss": self.history.get("val_loss", [math.nan])[-1],
            "history": self.history,
            "best_val_loss": self.best_val,
            "best_epoch": self.best_epoch,
            "wait": self.wait,
            "stopped_early": self.stopped_early,
            "untrained_val_loss": self.untrained_val,
            "best_by": "generation" if self.judge is not None else "val_loss",
            "generation_score": (self.judged.get("score") or [None])[-1],
            "best_generation_score": self.best_score if math.isfinite(self.best_score) else None,
            "judged": self.judged,
            "train": self.settings,
        }

    def _print(self, text: str) -> None:
        console = getattr(self.bar, "console", None)
        if console is not None:
            from rich.markup import escape

            console.print(escape(text), highlight=False)

    def _log_scalars(
        self, loss: float, val_loss: float, judged: Mapping[str, Any] | None,
    ) -> None:
        if self._writer is None:
            return
        import tensorflow as tf

        with self._writer.as_default():
            tf.summary.scalar("loss", loss, step=self.completed)
            tf.summary.scalar("val_loss", val_loss, step=self.completed)
            if judged is not None:
                self._log_judged(tf, judged)
        self._writer.flush()

    def _log_judged(self, tf: Any, judged: Mapping[str, Any]) -> None:
        """``generation/<measure>`` scalars and the clip itself (``generation/audio``)."""
        for key in JUDGED:
            value = _finite(judged.get(key))
            if value is not None:
                tf.summary.scalar(f"generation/{key}", value, step=self.completed)
        audio = judged.get("audio")
        if audio is not None and np.size(audio):
            clip = np.clip(np.asarray(audio, np.float32), -1.0, 1.0)[None, :, None]
            from kara_core.console import native_stderr_muted

            # encoding the clip prints a oneDNN notice on CPUs without AVX-512
            with native_stderr_muted():
                tf.summary.audio("generation/audio", clip, sample_rate=int(judged["rate"]),
                                 step=self.completed, max_outputs=1)


def _terminal(bar: Any) -> bool:
    """Whether the progress bar draws on a terminal (else progress goes in log lines)."""
    console = getattr(bar, "console", None)
    return console is None or bool(getattr(console, "is_terminal", True))


def _finite(value: Any) -> float | None:
    """``value`` as a float when it is a finite number, else ``None``."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if math.isfinite(float(value)) else None


def _judged_text(judged: Mapping[str, Any] | None) -> str:
    """``  gen 0.83 (spread 0.91 loop 0.72 fd 1.10)`` for the epoch line."""
    if judged is None:
        return ""

    def show(key: str) -> str:
        value = _finite(judged.get(key))
        return format(value, ".2f") if value is not None else "—"

    return (f"  gen {show('score')} (spread {show('spread')} loop {show('loop')} "
            f"fd {show('fd_ratio')})")
