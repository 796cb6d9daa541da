"""``check_model``: the Model contract every built-in passes, for plugin authors too.

>>> from kara_core.testing import check_model
>>> check_model(MyModel, layers=1, units=8)    # AssertionError with a clear message

Checks, on a small synthetic, learnable sequence (a few sinusoids per feature):

1. a trainable model overfits one batch: its training loss falls at least tenfold
   (models with ``trainable == False``, such as baselines, skip this);
2. ``predict`` returns ``[B, output_frames, D]`` float32, the same twice in a row;
3. ``save`` then ``load`` into a fresh instance predicts the same;
4. ``generate`` returns ``[n, D]`` finite float32, also from a prompt shorter than the
   model's context, and an identical result for an identical seed; a ``stochastic`` model
   gives one output at temperature 0 whatever the seed, and different samples for two
   seeds at a positive temperature;
5. ``signature()`` is JSON data and equal for equal options.
"""

from __future__ import annotations

import json
import math
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from kara_core.components import FitSettings, Model, TrainingMonitor
from kara_core.pipeline.train import WindowSet

FRAME_DIM = 6
BATCH = 8
OVERFIT_RATIO = 10.0


def sequence(frames: int, frame_dim: int = FRAME_DIM, seed: int = 0) -> np.ndarray:
    """``[frames, frame_dim]`` float32: each feature a sum of two slow sinusoids, unit
    variance, a pattern an autoregressive model can learn from a short context."""
    rng = np.random.default_rng(seed)
    t = np.arange(frames, dtype=np.float64)[:, None]
    periods = rng.uniform(6.0, 30.0, size=(2, frame_dim))
    phases = rng.uniform(0.0, 2 * np.pi, size=(2, frame_dim))
    wave = np.sin(2 * np.pi * t / periods[0] + phases[0])
    wave += 0.5 * np.sin(2 * np.pi * t / periods[1] + phases[1])
    return (wave / wave.std(axis=0)).astype(np.float32)


class _LossRecorder(TrainingMonitor):
    """Records batch losses; stops once the loss fell by ``OVERFIT_RATIO``."""

    def __init__(self) -> None:
        self.losses: list[float] = []
        self.epoch_losses: list[float] = []

    def on_batch_end(self, step: int, loss: float) -> None:
        self.losses.append(loss)

    def on_epoch_end(self, epoch: int, logs: dict[str, float]) -> None:
        self.epoch_losses.append(float(logs.get("loss", math.nan)))
        if self.losses and self.epoch_losses[-1] * OVERFIT_RATIO <= self.losses[0]:
            self.stop_requested = True


def _build(cls: type[Model], options: dict[str, Any], seed: int = 0) -> Model:
    opts = cls.Options(**options)
    model = cls(opts, frame_dim=FRAME_DIM, seed=seed)
    assert isinstance(model, Model), f"{cls.__name__} is not a kara_core.components.Model"
    return model


def check_model(
    cls: type[Model], *, max_epochs: int = 60, steps_per_epoch: int = 10,
    learning_rate: float = 1e-2, **options: Any,
) -> None:
    """Assert the Model contract for ``cls`` built with ``options``.

    :param max_epochs: epoch budget for the overfitting check (it stops when reached).
    :param learning_rate: used unless the model's options set their own.
    """
    model = _build(cls, options)
    tin, tout = model.input_frames, model.output_frames
    assert tin >= 1 and tout >= 1, f"input_frames/output_frames must be >= 1, got {tin}/{tout}"
    window = tin + tout
    one_batch = WindowSet([sequence(window + BATCH - 1)], tin, tout, stride=1)
    assert len(one_batch) == BATCH
    val = WindowSet([sequence(window * 3, seed=1)], tin, tout, stride=tout)
    if model.trainable:
        recorder = _LossRecorder()
        settings = FitSettings(
            epochs=max_epochs, batch_size=BATCH, learning_rate=learning_rate, patience=0,
            steps_per_epoch=steps_per_epoch,
        )
        result = model.fit(one_batch, val, settings, [recorder])
        assert recorder.losses, f"{cls.__name__}.fit never called on_batch_end"
        first, last = recorder.losses[0], recorder.epoch_losses[-1]
        assert math.isfinite(last), f"{cls.__name__}: training loss became {last}"
        assert last * OVERFIT_RATIO <= first, (
            f"{cls.__name__} cannot overfit one batch: loss {first:.4g} -> {last:.4g} in "
            f"{len(recorder.epoch_losses)} epochs (expected a tenfold fall)"
        )
        assert result.epochs_completed >= 1, "FitResult.epochs_completed was not set"
        _check_training_contract(cls, options, one_batch, val, learning_rate, steps_per_epoch)
    else:
        model.fit(one_batch, val, FitSettings(batch_size=BATCH))

    inputs, _targets = next(one_batch.batches(BATCH))
    predicted = np.asarray(model.predict(inputs))
    assert predicted.shape == (BATCH, tout, FRAME_DIM), (
        f"predict returned {predicted.shape}, expected {(BATCH, tout, FRAME_DIM)}"
    )
    assert predicted.dtype == np.float32, f"predict returned {predicted.dtype}, expected float32"
    assert np.array_equal(predicted, np.asarray(model.predict(inputs))), (
        "predict is not deterministic"
    )
    with tempfile.TemporaryDirectory() as folder:
        target = Path(folder) / "saved"
        model.save(target)
        again = _build(cls, options, seed=1)
        again.load(target)
        reloaded = np.asarray(again.predict(inputs))
    assert np.allclose(reloaded, predicted, atol=1e-5), (
        f"after save/load, predict differs by up to {np.abs(reloaded - predicted).max():.3g}"
    )
    _check_generate(model, tin)
    signature = model.signature()
    assert json.loads(json.dumps(signature)) == signature, "signature() must be JSON data"
    assert _build(cls, options).signature() == signature, "signature() differs for same options"


def _check_generate(model: Model, tin: int) -> None:
    prompt = sequence(tin + 5, seed=2)
    for length, n_frames in ((tin + 5, 2 * model.output_frames + 3), (max(1, tin // 2), 3)):
        out = np.asarray(model.generate(prompt[:length], n_frames, temperature=0.0, seed=0))
        assert out.shape == (n_frames, FRAME_DIM), (
            f"generate({length}-frame prompt, {n_frames}) returned {out.shape}, "
            f"expected {(n_frames, FRAME_DIM)}"
        )
        assert out.dtype == np.float32, f"generate returned {out.dtype}, expected float32"
        assert np.isfinite(out).all(), "generate returned NaN or infinite values"
    first = np.asarray(model.generate(prompt, 7, temperature=0.5, seed=3))
    second = np.asarray(model.generate(prompt, 7, temperature=0.5, seed=3))
    assert np.array_equal(first, second), "generate with one seed is not repeatable"
    if model.stochastic:
        greedy = np.asarray(model.generate(prompt, 7, temperature=0.0, seed=3))
        assert np.array_equal(greedy, np.asarray(model.generate(prompt, 7, 0.0, seed=4))), (
            "a stochastic model's temperature 0 must be its most likely output, whatever "
            "the seed"
        )
        other = np.asarray(model.generate(prompt, 7, temperature=0.5, seed=4))
        assert not np.array_equal(first, other), (
            "a stochastic model gave the same sample for two seeds at temperature 0.5"
        )


class _EpochRecorder(TrainingMonitor):
    """Records the epochs and batches a fit ran; asks to stop after ``stop_after`` batches."""

    def __init__(self, stop_after: int | None = None) -> None:
        self.epochs: list[int] = []
        self.batches = 0
        self.stop_after = stop_after

    def on_epoch_begin(self, epoch: int) -> None:
        self.epochs.append(epoch)

    def on_batch_end(self, step: int, loss: float) -> None:
        self.batches += 1
        if self.stop_after is not None and self.batches >= self.stop_after:
            self.stop_requested = True


def _check_training_contract(
    cls: type[Model], options: dict[str, Any], train: WindowSet, val: WindowSet,
    learning_rate: float, steps_per_epoch: int,
) -> None:
    """What Kara's training loop relies on: ``stop_requested`` stops after the current
    batch, ``initial_epoch`` is honoured, and ``save_state``/``load_state`` really restore
    (a broken resume would retrain silently from random weights)."""
    name = cls.__name__

    def settings(epochs: int, initial: int = 0, resume: Path | None = None) -> FitSettings:
        return FitSettings(epochs=epochs, initial_epoch=initial, batch_size=BATCH,
                           learning_rate=learning_rate, patience=0,
                           steps_per_epoch=steps_per_epoch, resume_from=resume)

    stopper = _EpochRecorder(stop_after=1)
    _build(cls, options).fit(train, val, settings(3), [stopper])
    assert stopper.batches == 1, (
        f"{name}.fit ran {stopper.batches} batches after a monitor set stop_requested at the "
        "first; it must stop after the current batch"
    )
    late = _EpochRecorder()
    result = _build(cls, options).fit(train, val, settings(3, initial=2), [late])
    assert late.epochs == [2], (
        f"{name}.fit with initial_epoch 2 of 3 ran epochs {late.epochs}, expected [2]"
    )
    assert result.epochs_completed == 3, (
        f"{name}.fit with initial_epoch 2 of 3 reported {result.epochs_completed} epochs "
        "completed, expected 3"
    )
    trained = _build(cls, options)
    trained.fit(train, val, settings(2), [])
    inputs, _targets = next(train.batches(BATCH))
    expected = np.asarray(trained.predict(inputs))
    with tempfile.TemporaryDirectory() as folder:
        state = Path(folder) / "state"
        trained.save_state(state)
        restored = _build(cls, options, seed=1)
        restored.load_state(state)
        assert np.allclose(np.asarray(restored.predict(inputs)), expected, atol=1e-5), (
            f"{name}.load_state did not restore what save_state wrote (predict differs)"
        )
