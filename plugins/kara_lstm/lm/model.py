"""``lstm_lm``: a frame language model. An LSTM reads frames and predicts a distribution of
the next frame at every position; generating samples from it, frame after frame.

Why: an MSE model predicts the average of the possible next frames, and fed its own output
without randomness it falls to a fixed point or a loop (on real music ``lstm_seq2seq``'s
audio is a smear after half a second). Sampling from a predicted distribution is what keeps
the continuation moving (see :mod:`kara_lstm.lm.heads` for the three heads).

Training: random crops of ``crop_frames`` frames from the memory-mapped songs
(:meth:`WindowSource.crops`), every position a target, for ``train.steps`` steps (an epoch
is an evaluation interval of ``steps_per_epoch`` steps). One compiled step under any
``tf.distribute`` strategy (:func:`kara_lstm.loop.make_step`), as ``lstm_seq2seq``.
The ``tokens`` head's codebook and the ``mixture`` head's noise basis are fitted on
training frames when training starts and are saved with the weights and in every
checkpoint.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from kara_core import (
    FitResult,
    FitSettings,
    KaraError,
    Model,
    TrainingMonitor,
    WindowSource,
)
from kara_lstm import store
from kara_lstm.lm.options import ARCHITECTURE, LmOptions

PREDICT_BATCH = 256
CODEBOOK_SAMPLE_BATCHES = 16
"""Crop batches the codebook (every second frame of each crop) and the noise basis (every
frame-to-frame change) are fitted on."""


class LstmLm(Model):
    """``layers`` x LSTM(``units``) -> the head's parameters for the next frame."""

    name = "lstm_lm"
    Options = LmOptions
    default = True  # the model of a kara.yaml that names none: it generates music-like audio
    options: LmOptions

    def __init__(self, options: Any = None, frame_dim: int = 1, seed: int = 0) -> None:
        super().__init__(options, frame_dim, seed)
        from kara_lstm.lm.heads import make_head

        o = self.options
        self.head = make_head(o.head, self.frame_dim, components=o.components, codes=o.codes,
                              top_p=o.top_p, noise=o.token_noise, noise_scale=o.noise_scale,
                              quiet_directions=o.quiet_directions)
        self.codebook: Any = None
        self._net: Any = None
        self._strategy: Any = None
        self._optimizer: Any = None
        self._rollout: Any = None

    @property
    def stochastic(self) -> bool:
        """The mixture and tokens heads sample; the mse head only adds noise."""
        return self.options.head != "mse"

    def signature(self) -> dict[str, Any]:
        """Only what shapes the weights: sampling and training knobs may change freely."""
        o = self.options
        found = {"model": self.name, "frame_dim": self.frame_dim,
                 **{key: getattr(o, key) for key in ARCHITECTURE}}
        if o.style_frames:  # without it, the signature of earlier versions
            found["style_frames"] = o.style_frames
        if o.song_dims:
            found.update(song_dims=o.song_dims, song_frames=o.song_frames)
        if self.recalls:
            found.update(recall_frames=o.recall_frames, recall_dims=o.recall_dims)
            if o.recall_song:
                found.update(recall_song=True, song_frames=o.song_frames)
        return found

    # ------------------------------------------------------------------ building

    def _build(self, strategy: Any = None, learning_rate: float = 1e-3) -> None:
        """Build (or rebuild under ``strategy``) network and optimiser, keeping weights."""
        import keras
        import tensorflow as tf

        strategy = strategy or tf.distribute.get_strategy()
        if self._net is None or strategy is not self._strategy:
            from kara_lstm.lm.network import build_lm

            old = self._net.get_weights() if self._net is not None else None
            o = self.options
            with strategy.scope():
                # tokens are absolute codes: no base, so no unused (gradient-less) gain
                residual = "none" if o.head == "tokens" else o.residual
                net = build_lm(self.frame_dim, o.layers, o.units, self.head.units(),
                               residual, o.dropout, style=o.style_frames > 0,
                               song_dims=o.song_dims, recall_frames=o.recall_frames,
                               recall_dims=o.recall_dims, recall_song=o.recall_song)
                if old is not None:
                    net.set_weights(old)
            self._net, self._strategy, self._rollout = net, strategy, None
        rate = self.options.learning_rate
        with strategy.scope():
            self._optimizer = keras.optimizers.Adam(
                learning_rate=learning_rate if rate is None else rate, clipnorm=1.0)
            self._optimizer.build(self._net.trainable_variables)

    def _ensure_built(self) -> None:
        if self._net is None:
            import keras

            keras.utils.set_random_seed(self.seed)
            self._build()

    def set_codebook(self, codebook: Any) -> None:
        """Give the tokens head its codebook (a :class:`kara_lstm.lm.codebook.Codebook`)."""
        from kara_lstm.lm.heads import TokensHead

        if not isinstance(self.head, TokensHead):
            raise KaraError(f"lstm_lm: the {self.options.head} head has no codebook")
        self.codebook = codebook
        self.head.set_codebook(codebook.centroids, codebook.scales)
        self._rollout = None

    @property
    def noise_basis(self) -> np.ndarray | None:
        """The mixture head's noise basis (``[D, D]``), ``None`` when it is the features."""
        from kara_lstm.lm.heads import MixtureHead

        if not isinstance(self.head, MixtureHead) or self.head.basis is None:
            return None
        return np.asarray(self.head.basis.numpy(), np.float32)

    def set_noise_basis(self, basis: np.ndarray) -> None:
        """Give the mixture head its noise basis (orthonormal ``[D, D]``)."""
        from kara_lstm.lm.heads import MixtureHead

        basis = np.asarray(basis, np.float32)
        if not isinstance(self.head, MixtureHead) or not self.uses_noise_basis:
            raise KaraError("lstm_lm: only the mixture head with noise_basis: changes has a "
                            "noise basis")
        if basis.shape != (self.frame_dim, self.frame_dim):
            raise KaraError(f"lstm_lm: a noise basis of shape {basis.shape}, expected "
                            f"{(self.frame_dim, self.frame_dim)}")
        self.head.set_basis(basis)
        self._rollout = None

    @property
    def uses_noise_basis(self) -> bool:
        """Whether this model's head is diagonal in a fitted noise basis."""
        return self.options.head == "mixture" and self.options.noise_basis == "changes"

    def _needs_codebook(self) -> None:
        if self.options.head == "tokens" and self.codebook is None:
            raise KaraError("lstm_lm: the tokens head has no codebook; train or load first")

    # ------------------------------------------------------------------ training

    def fit(
        self, train: WindowSource, val: WindowSource, settings: FitSettings,
        callbacks: Sequence[TrainingMonitor] = (),
    ) -> FitResult:
        import keras
        import tensorflow as tf

        from kara_lstm.loop import distributed_data, fit_epochs, global_batch, make_step

        keras.utils.set_random_seed(settings.seed)
        strategy = settings.strategy or tf.distribute.get_strategy()
        self._build(strategy, settings.learning_rate)
        if settings.resume_from is not None:
            self.load_state(settings.resume_from)
        elif self.options.head == "tokens" and self.codebook is None:
            self.set_codebook(self._fit_codebook(train, settings.seed))
        elif self.uses_noise_basis and self.noise_basis is None:
            self.set_noise_basis(self._fit_basis(train, settings.seed))
        batch = global_batch(settings, strategy)
        style, crop = self.crop_parts(train)
        if crop < 2:
            raise KaraError("lstm_lm: every training song is shorter than 2 frames"
                            + (" after its style frames" if style else ""))
        steps = settings.steps_per_epoch or self.default_steps(train, batch)
        chain = self.options.carry_crops if self.options.carry_crops > 1 else 0
        if chain and int(strategy.num_replicas_in_sync) > 1:
            raise KaraError("lstm_lm: carry_crops trains on one replica; set "
                            "train.distribute: none or carry_crops: 0")
        if chain and style:
            raise KaraError("lstm_lm: carry_crops and style_frames cannot be combined")

        def crops(per_replica: int, shard: tuple[int, int], skip_batches: int) -> Any:
            return train.crops(per_replica, style + crop, seed=settings.seed, shard=shard,
                               skip_batches=skip_batches, pair_frames=self.song_frames,
                               chain_crops=chain)

        data = distributed_data(strategy, batch, settings.initial_epoch * steps, crops)
        loss = self._carried_loss(batch) if chain else self._per_example_loss(style)
        step = make_step(loss, self._net.trainable_variables, self._optimizer, strategy, batch)
        return fit_epochs(self, step, data, settings, steps, callbacks)

    def default_steps(self, train: WindowSource, batch: int) -> int:
        """Steps per epoch without ``train.steps``/``steps_per_epoch``: as many crop frames
        as the training songs hold (one pass over the data, on average)."""
        frames = sum(int(s.shape[0]) for s in getattr(train, "songs", []))
        crop = max(1, train.crop_length(self.options.crop_frames))
        return max(1, math.ceil(frames / (batch * crop)))

    def crop_parts(self, source: WindowSource) -> tuple[int, int]:
        """``(style frames, sequence frames)`` of each crop read from ``source``: the
        options' lengths, shared in proportion when every song is shorter than both."""
        style, crop = self.options.style_frames, self.options.crop_frames
        total = source.crop_length(style + crop)
        if style and total < style + crop:
            style = max(1, total * style // (style + crop))
        return style, max(0, total - style)

    @property
    def song_frames(self) -> int:
        """Frames of the song segment each crop comes with (for song_dims, recall_song)."""
        o = self.options
        return o.song_frames if o.song_dims or o.recall_song else 0

    @property
    def recalls(self) -> bool:
        """Whether the network recalls earlier frames (:mod:`kara_lstm.lm.recall`)."""
        return bool(self.options.recall_frames or self.options.recall_song)

    def network_inputs(self, crops: Any, style: int, song: Any = None) -> tuple[Any, Any]:
        """``(inputs the network reads, target frames)`` of crops ``[B, style + T, D]``:
        the frames after the style part, each predicting the next, then (with a style
        part) the style vector of the frames before them and (with a song vector) ``song``,
        another segment ``[B, S, D]`` of each crop's song."""
        from kara_lstm.lm.network import style_vector

        sequence = crops[:, style:]
        inputs = [sequence[:, :-1]]
        if style:
            inputs.append(style_vector(crops[:, :style]))
        if self.song_frames:
            if song is None:
                raise KaraError("lstm_lm: a song segment is needed (song_dims, recall_song)")
            inputs.append(song)
        return (inputs if len(inputs) > 1 else inputs[0]), sequence[:, 1:]

    def _per_example_loss(self, style: int) -> Any:
        import tensorflow as tf

        net, head, noise = self._net, self.head, float(self.options.input_noise)

        def per_example(batch: Any) -> Any:
            crops, song = batch if self.song_frames else (batch, None)
            inputs, targets = self.network_inputs(crops, style, song)
            if noise > 0:
                conditioned = isinstance(inputs, list)
                frames = inputs[0] if conditioned else inputs
                strength = tf.random.uniform([tf.shape(frames)[0], 1, 1], 0.0, noise)
                frames = frames + strength * tf.random.normal(tf.shape(frames))
                inputs = [frames, *inputs[1:]] if conditioned else frames
            params, base = net(inputs, training=True)
            return tf.reduce_mean(head.loss(params, base, targets), axis=-1)

        return per_example

    def _carried_loss(self, batch: int) -> Any:
        """``per_example`` for chains of crops (``carry_crops``): each batch starts from the
        LSTM states the previous batch of its chain ended with (zeros on a chain's first
        batch, and on the first batch after a resume), and leaves its own for the next;
        gradients stop at the crop's start (truncated back-propagation through time)."""
        import tensorflow as tf

        from kara_lstm.lm.network import run_from_states

        net, head, noise = self._net, self.head, float(self.options.input_noise)
        units, layers, song = self.options.units, self.options.layers, bool(self.song_frames)
        carried = [(tf.Variable(tf.zeros([batch, units]), trainable=False),
                    tf.Variable(tf.zeros([batch, units]), trainable=False))
                   for _ in range(layers)]

        def per_example(data: Any) -> Any:
            inputs, targets = self.network_inputs(data["crops"], 0, data.get("pairs"))
            if noise > 0:
                frames = inputs[0] if song else inputs
                strength = tf.random.uniform([tf.shape(frames)[0], 1, 1], 0.0, noise)
                frames = frames + strength * tf.random.normal(tf.shape(frames))
                inputs = [frames, inputs[1]] if song else frames
            keep = 1.0 - tf.cast(data["first"], tf.float32)
            states = [(h.value() * keep, c.value() * keep) for h, c in carried]
            params, base, final = run_from_states(
                net, layers, inputs, states, song=song, recall=self.recalls,
                recall_song=self.options.recall_song)
            for (h_var, c_var), (h, c) in zip(carried, final, strict=True):
                h_var.assign(tf.stop_gradient(h))
                c_var.assign(tf.stop_gradient(c))
            return tf.reduce_mean(head.loss(params, base, targets), axis=-1)

        return per_example

    def _fit_codebook(self, train: WindowSource, seed: int) -> Any:
        from kara_lstm.lm.codebook import fit_codebook

        crop = self.options.crop_frames
        sample = np.concatenate([
            train.crop_batch(1_000_000 + n, 32, crop, seed)[:, ::2].reshape(-1, self.frame_dim)
            for n in range(CODEBOOK_SAMPLE_BATCHES)])
        return fit_codebook(sample, self.options.codes, seed=seed)

    def _fit_basis(self, train: WindowSource, seed: int) -> np.ndarray:
        """The eigenvectors of the covariance of frame-to-frame changes (``x[t+1] - g x[t]``
        with the gain the ``gain`` residual starts from): the directions music moves in."""
        from kara_lstm.lm.network import GAIN_INIT

        crop = self.options.crop_frames
        changes = np.concatenate([
            (c[:, 1:] - GAIN_INIT * c[:, :-1]).reshape(-1, self.frame_dim)
            for c in (train.crop_batch(2_000_000 + n, 32, crop, seed)
                      for n in range(CODEBOOK_SAMPLE_BATCHES))]).astype(np.float64)
        if changes.shape[0] < 2:
            return np.eye(self.frame_dim, dtype=np.float32)
        _values, vectors = np.linalg.eigh(np.cov(changes, rowvar=False))
        return np.ascontiguousarray(vectors[:, ::-1], dtype=np.float32)  # largest first

    def heldout_score(self, train: WindowSource, val: WindowSource) -> dict[str, Any] | None:
        """Mixture: NLL in bits per frame against one Gaussian (full covariance) fitted to
        training frames; tokens: cross-entropy in bits against the codes' unigram
        frequencies; mse: ``None`` (scored as a regression, like every model)."""
        from kara_lstm.lm.score import heldout_score

        self._ensure_built()
        self._needs_codebook()
        return heldout_score(self, train, val)

    # ------------------------------------------------------------------ inference

    def _rollout_fn(self) -> Any:
        self._ensure_built()
        self._needs_codebook()
        if self._rollout is None:
            from kara_lstm.lm.network import make_lm_rollout
            o = self.options
            self._rollout = make_lm_rollout(
                self._net, o.layers, self.head, self.frame_dim, o.style_frames, self.song_frames,
                o.recall_frames, o.recall_song, o.recall_draw, o.recall_follow,
                (o.recall_beat // 8, o.recall_beat), o.recall_accent, o.recall_content,
                o.recall_groove, o.noise_memory)
        return self._rollout

    def predict(self, inputs: np.ndarray) -> np.ndarray:
        """The most likely continuation (temperature 0) of each window, closed loop."""
        import tensorflow as tf

        rollout = self._rollout_fn()
        inputs = np.asarray(inputs, np.float32)
        steps, seed = tf.constant(self.output_frames), tf.constant([0, 0], tf.int32)
        outputs = [rollout(tf.constant(inputs[i : i + PREDICT_BATCH]), steps,
                           tf.constant(0.0), seed).numpy()
                   for i in range(0, inputs.shape[0], PREDICT_BATCH)]
        if not outputs:
            return np.zeros((0, self.output_frames, self.frame_dim), np.float32)
        return np.concatenate(outputs).astype(np.float32)

    def generate(
        self, prompt: np.ndarray, n_frames: int, temperature: float = 0.0, seed: int = 0
    ) -> np.ndarray:
        """Sample ``n_frames`` frames after ``prompt`` (an empty prompt starts from the mean
        frame, 0); ``temperature`` scales the head's spread, 0 is the most likely frame."""
        import tensorflow as tf

        rollout = self._rollout_fn()
        prompt = np.asarray(prompt, np.float32).reshape(-1, self.frame_dim)
        if len(prompt) == 0:
            prompt = np.zeros((1, self.frame_dim), np.float32)
        if n_frames <= 0:
            return np.zeros((0, self.frame_dim), np.float32)
        frames = rollout(tf.constant(prompt[None]), tf.constant(int(n_frames)),
                         tf.constant(float(temperature)),
                         tf.constant([int(seed) % (2**31), 0], tf.int32)).numpy()[0]
        return frames.astype(np.float32)

    # ------------------------------------------------------------------ persistence

    def save(self, directory: Path) -> None:
        self._ensure_built()
        store.save_weights(self, directory)

    def load(self, directory: Path) -> None:
        store.load_weights(self, directory)

    def save_state(self, directory: Path) -> None:
        """Weights, optimiser variables and codebook in one ``state.npz`` (atomic)."""
        self._ensure_built()
        store.save_state(self, directory)

    def load_state(self, directory: Path) -> None:
        store.load_state(self, directory)
