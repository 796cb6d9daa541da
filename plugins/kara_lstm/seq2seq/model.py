"""``lstm_seq2seq``: the LSTM encoder-decoder, trained with teacher forcing, run closed loop.

:meth:`LstmSeq2Seq.predict` and :meth:`LstmSeq2Seq.generate` never see future frames:
both run the compiled rollout of :mod:`kara_lstm.seq2seq.network`, which feeds each predicted
frame back in. That is what Kara scores as ``val_loss``; the teacher-forced loss of
:mod:`kara_lstm.loop` is only the training ``loss``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np

from kara_core import (
    FitResult,
    FitSettings,
    Model,
    TrainingMonitor,
    WindowSource,
)
from kara_lstm import store

PREDICT_BATCH = 256
ARCHITECTURE = ("layers", "units", "input_frames", "output_frames", "residual")


@dataclass(frozen=True)
class LstmOptions:
    """Options of ``lstm_seq2seq`` (``model.options`` in kara.yaml).

    :ivar learning_rate: ``null`` uses ``train.learning_rate``.
    :ivar loss: the training loss; ``val_loss`` is always the closed-loop MSE.
    :ivar residual: predict the change from the previous frame (see kara_lstm.seq2seq.network).
    """

    layers: int = field(default=3, metadata={"min": 1, "max": 16})
    units: int = field(default=128, metadata={"min": 1, "max": 8192})
    dropout: float = field(default=0.0, metadata={"min": 0.0, "max": 0.9})
    input_frames: int = field(default=40, metadata={"min": 1, "max": 100000})
    output_frames: int = field(default=40, metadata={"min": 1, "max": 100000})
    learning_rate: float | None = field(default=None, metadata={"min": 0.0, "max": 10.0})
    loss: Literal["mse", "mae", "huber"] = "mse"
    residual: bool = True
    teacher_noise: float = field(default=0.0, metadata={"min": 0.0, "max": 10.0})


class LstmSeq2Seq(Model):
    """``layers`` x LSTM(``units``) encoder and decoder, Dense(frame_dim) out."""

    name = "lstm_seq2seq"
    Options = LstmOptions
    options: LstmOptions

    def __init__(self, options: Any = None, frame_dim: int = 1, seed: int = 0) -> None:
        super().__init__(options, frame_dim, seed)
        self._net: Any = None
        self._rollout: Any = None
        self._strategy: Any = None
        self._fitted = False
        self._optimizer: Any = None

    def signature(self) -> dict[str, Any]:
        """Only what shapes the weights: learning rate, loss and dropout may change freely."""
        return {
            "model": self.name, "frame_dim": self.frame_dim,
            **{key: getattr(self.options, key) for key in ARCHITECTURE},
        }

    # ------------------------------------------------------------------ building

    def _build(self, strategy: Any = None, learning_rate: float = 1e-3) -> None:
        """Build (or rebuild under ``strategy``) the network, keeping current weights."""
        import keras
        import tensorflow as tf

        strategy = strategy or tf.distribute.get_strategy()
        old = self._net.get_weights() if self._net is not None else None
        if self._net is None or strategy is not self._strategy:
            from kara_lstm.seq2seq.network import build_network

            o = self.options
            with strategy.scope():
                net = build_network(
                    self.frame_dim, o.input_frames, o.output_frames, o.layers, o.units,
                    o.dropout, o.residual, o.teacher_noise,
                )
                if old is not None:
                    net.set_weights(old)
            self._net, self._strategy = net, strategy
            self._rollout = None
        lr = self.options.learning_rate if self.options.learning_rate is not None else (
            learning_rate)
        with strategy.scope():
            self._optimizer = keras.optimizers.Adam(learning_rate=lr, clipnorm=1.0)
            self._optimizer.build(self._net.trainable_variables)

    def _ensure_built(self) -> None:
        if self._net is None:
            import keras

            keras.utils.set_random_seed(self.seed)
            self._build()

    def _rollout_fn(self) -> Any:
        self._ensure_built()
        if self._rollout is None:
            from kara_lstm.seq2seq.network import make_seq2seq_rollout

            self._rollout = make_seq2seq_rollout(self._net, self.options.layers,
                                                 self.options.residual)
        return self._rollout

    # ------------------------------------------------------------------ training

    def fit(
        self, train: WindowSource, val: WindowSource, settings: FitSettings,
        callbacks: Sequence[TrainingMonitor] = (),
    ) -> FitResult:
        import keras
        import tensorflow as tf

        keras.utils.set_random_seed(settings.seed)
        strategy = settings.strategy or tf.distribute.get_strategy()
        self._build(strategy, settings.learning_rate)
        if settings.resume_from is not None:
            self.load_state(settings.resume_from)
        elif settings.initial_epoch == 0 and self.options.residual and not self._fitted:
            from kara_lstm.seq2seq.network import autocorrelation, init_gain

            init_gain(self._net, autocorrelation(train))
        self._fitted = True
        from kara_lstm.loop import distributed_data, fit_epochs, global_batch, make_train_step

        batch = global_batch(settings, strategy)
        steps = settings.steps_per_epoch or max(1, math.ceil(len(train) / batch))

        def teacher_forced(inputs: Any, targets: Any) -> Any:
            previous = tf.concat([inputs[:, -1:, :], targets[:, :-1, :]], axis=1)
            return (inputs, previous), targets

        def windows(per_replica: int, shard: tuple[int, int], skip_batches: int) -> Any:
            return train.dataset(per_replica, shuffle=True, seed=settings.seed, repeat=True,
                                 shard=shard, skip_batches=skip_batches).map(teacher_forced)

        data = distributed_data(strategy, batch, settings.initial_epoch * steps, windows)
        step = make_train_step(self._net, self._optimizer, strategy, self.options.loss, batch)
        return fit_epochs(self, step, data, settings, steps, callbacks)

    # ------------------------------------------------------------------ inference

    def predict(self, inputs: np.ndarray) -> np.ndarray:
        import tensorflow as tf

        rollout = self._rollout_fn()
        inputs = np.asarray(inputs, np.float32)
        outputs = [
            rollout(
                tf.constant(inputs[i : i + PREDICT_BATCH]), tf.constant(self.output_frames),
                tf.constant(0.0), tf.constant([0, 0], tf.int32),
            ).numpy()
            for i in range(0, inputs.shape[0], PREDICT_BATCH)
        ]
        if not outputs:
            return np.zeros((0, self.output_frames, self.frame_dim), np.float32)
        return np.concatenate(outputs).astype(np.float32)

    def generate(
        self, prompt: np.ndarray, n_frames: int, temperature: float = 0.0, seed: int = 0
    ) -> np.ndarray:
        """Roll out ``output_frames`` at a time, re-reading the last ``input_frames`` (as in
        training) between chunks; a prompt shorter than that is padded with the mean (0)."""
        import tensorflow as tf

        rollout = self._rollout_fn()
        tin, dim = self.input_frames, self.frame_dim
        context = np.zeros((tin, dim), np.float32)
        prompt = np.asarray(prompt, np.float32).reshape(-1, dim)[-tin:]
        if len(prompt):
            context[tin - len(prompt) :] = prompt
        chunks: list[np.ndarray] = []
        made = 0
        while made < n_frames:
            steps = min(self.output_frames, n_frames - made)
            chunk = rollout(
                tf.constant(context[None]), tf.constant(steps), tf.constant(float(temperature)),
                tf.constant([seed % (2**31), len(chunks) * self.output_frames], tf.int32),
            ).numpy()[0]
            chunks.append(chunk)
            made += steps
            context = np.concatenate([context, chunk])[-tin:]
        if not chunks:
            return np.zeros((0, dim), np.float32)
        return np.concatenate(chunks).astype(np.float32)

    # ------------------------------------------------------------------ persistence

    def save(self, directory: Path) -> None:
        self._ensure_built()
        store.save_weights(self, directory)

    def load(self, directory: Path) -> None:
        store.load_weights(self, directory)

    def save_state(self, directory: Path) -> None:
        """Weights and optimiser variables in one ``state.npz`` (written atomically)."""
        self._ensure_built()
        store.save_state(self, directory)

    def load_state(self, directory: Path) -> None:
        store.load_state(self, directory)
