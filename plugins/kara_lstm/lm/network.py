"""The Keras graph of ``lstm_lm`` and its compiled sampling loop.

Training graph::

    frames [B, T, D] (+ style [B, 2D], + song vector [B, S] at every step)
                     -> layers x LSTM(units)
                     -> Dense(head units) -> params [B, T, units]
                     -> base [B, T, D]

``params`` at position t describe frame t + 1 (every position is a target, so a crop of T
frames gives T - 1 training examples rather than the seq2seq window's 10). ``base`` is what
the head's means are relative to (:data:`RESIDUALS`):

- ``none``: 0, the head predicts absolute frames;
- ``full``: the input frame itself. Best likelihood, but sampled noise accumulates as a
  random walk: measured on real music, generated frames left the training range within
  seconds (72% of values clipped after 30 s);
- ``gain``: the input frame times a learned per-feature gain in (0, 1) (a sigmoid,
  starting at :data:`GAIN_INIT`): as good a likelihood as ``full``, and an excursion decays
  back instead of wandering off. The default.

``style`` (with ``style_frames``, see :class:`kara_lstm.lm.model.LmOptions`) is the mean
and standard deviation of the frames *before* the sequence: in training, the frames just
before each crop; in generation, the end of the prompt. Fed at every step, it keeps what
the song sounds like in front of the network for as long as it generates, where an LSTM's
state, trained on 3 s crops, forgets the prompt within seconds and the continuation
drifts to the collection's most common sound (``own_song`` in
:mod:`kara_core.measures.own_song` measures this).

``song`` (with ``song_dims``) is a learned vector of ``song_dims`` numbers that a small
encoder (:func:`song_encoder`: two strided convolutions, mean and max over time, a layer
normalisation, a dense layer) reads from ``song_frames`` frames of the *same song
elsewhere* in training (:meth:`WindowSource.crop_pair_batch`), and from the prompt in
generation. Because the
segment it reads is not the one the network continues, the vector can only help by saying
what the whole song sounds like, and the network learns to use it for as long as it
generates: on real music, the style vector of the frames just before a crop did not keep
continuations with their song; a song vector did in a prototype (issue 21).

The rollout (generation) runs the same layers: the LSTMs read the prompt in one call, which
gives their states, then each step samples a frame from the head and feeds it back through
the LSTM cells, all inside one ``tf.function`` (no Python per frame).
"""

from __future__ import annotations

import math
from typing import Any

RESIDUALS = ("none", "full", "gain")
RECALL_SEED_OFFSET = 2**30
"""``recall_draw``'s draws use the seeds ``(seed[0], seed[1] + this + step)``, apart from the
head's ``(seed[0], seed[1] + step)``."""
GAIN_INIT = 0.9
"""Starting value of every feature's gain with ``residual: gain`` (mel frames at 86 per
second have lag-1 autocorrelations of about 0.9)."""


def _gain_class() -> Any:
    import keras

    class SigmoidGain(keras.layers.Layer):
        """``x * sigmoid(w)``: one learned gain in (0, 1) per feature."""

        def build(self, input_shape: Any) -> None:
            start = math.log(GAIN_INIT / (1.0 - GAIN_INIT))
            self.w = self.add_weight(shape=(int(input_shape[-1]),),
                                     initializer=keras.initializers.Constant(start), name="w")

        def call(self, inputs: Any) -> Any:
            return inputs * keras.ops.sigmoid(self.w)

    return SigmoidGain


def _zero_class() -> Any:
    import keras

    class Zero(keras.layers.Layer):
        """``0 * x``: no base (absolute predictions)."""

        def call(self, inputs: Any) -> Any:
            return keras.ops.zeros_like(inputs)

    return Zero


def style_vector(frames: Any) -> Any:
    """``[B, T, D] -> [B, 2D]``: the mean and standard deviation over time of each feature
    (TensorFlow or Keras tensors): what a stretch of a song sounds like, not when."""
    import keras

    mean = keras.ops.mean(frames, axis=1)
    spread = keras.ops.sqrt(keras.ops.maximum(
        keras.ops.mean(keras.ops.square(frames), axis=1) - keras.ops.square(mean), 1e-6))
    return keras.ops.concatenate([mean, spread], axis=-1)


def _with_style_class() -> Any:
    import keras

    class WithStyle(keras.layers.Layer):
        """``[frames [B, T, D], style [B, S]] -> [B, T, D + S]``: the style beside every
        frame."""

        def call(self, inputs: Any) -> Any:
            frames, style = inputs
            tiled = keras.ops.zeros_like(frames[..., :1]) + keras.ops.expand_dims(style, 1)
            return keras.ops.concatenate([frames, tiled], axis=-1)

    return WithStyle


SONG_CHANNELS = 64
"""Channels of the song encoder's convolutions."""


def song_encoder(frame_dim: int, song_dims: int) -> Any:
    """``frames [B, T, D] -> [B, song_dims]`` (any ``T >= 1``): two strided convolutions
    over time (ReLU), their mean and maximum over time, layer-normalised, then a dense
    layer (tanh). Small
    and order-aware at the scale of a few frames (onsets, attacks), pooled over the rest."""
    import keras

    frames = keras.Input((None, frame_dim), name="song_frames")
    x = frames
    for i in range(2):
        x = keras.layers.Conv1D(SONG_CHANNELS, 4, strides=2, padding="same", activation="relu",
                                name=f"song_conv_{i}")(x)
    pooled = keras.layers.Concatenate(name="song_pool")([
        keras.layers.GlobalAveragePooling1D(name="song_mean")(x),
        keras.layers.GlobalMaxPooling1D(name="song_max")(x)])
    # Without it the pooled maxima grew to ~50 in training, every tanh saturated at +-1 and
    # the vector was one constant for every song (measured on real music): no information,
    # and no gradient to recover. Normalised, the dense layer starts at unit scale.
    pooled = keras.layers.LayerNormalization(name="song_norm")(pooled)
    vector = keras.layers.Dense(song_dims, activation="tanh", name="song_dense")(pooled)
    return keras.Model(frames, vector, name="song_encoder")


def build_lm(frame_dim: int, layers: int, units: int, head_units: int, residual: str,
             dropout: float = 0.0, style: bool = False, song_dims: int = 0,
             recall_frames: int = 0, recall_dims: int = 32, recall_song: bool = False) -> Any:
    """The training model ``frames [B, T, D] -> (params [B, T, head_units], base [B, T, D])``;
    its inputs are ``[frames]``, then ``style [B, 2D]`` with ``style``
    (:func:`style_vector`), then ``song [B, S, D]`` (another segment of the song, read by
    :func:`song_encoder`) with ``song_dims``, recalled from with ``recall_song``). With
    ``recall_frames`` or ``recall_song`` the head reads the recalled frame
    (:mod:`kara_lstm.lm.recall`) beside the last LSTM's output."""
    import keras

    if residual not in RESIDUALS:
        raise ValueError(f"residual must be one of {RESIDUALS}, got {residual!r}")
    frames = keras.Input((None, frame_dim), name="frames")
    x = frames
    inputs: list[Any] = [frames]
    if style:
        summary = keras.Input((2 * frame_dim,), name="style")
        x = _with_style_class()(name="with_style")([x, summary])
        inputs.append(summary)
    song = keras.Input((None, frame_dim), name="song") if song_dims or recall_song else None
    if song is not None:
        inputs.append(song)
    if song_dims:
        vector = song_encoder(frame_dim, song_dims)(song)
        x = _with_style_class()(name="with_song")([x, vector])
    for i in range(layers):
        x, _h, _c = keras.layers.LSTM(units, return_sequences=True, return_state=True,
                                      dropout=dropout, name=f"lstm_{i}")(x)
    if recall_frames or recall_song:
        from kara_lstm.lm.recall import recall_layer

        recalled = recall_layer(recall_frames, recall_dims)(
            [x, frames, song] if recall_song else [x, frames])
        x = keras.layers.Concatenate(name="with_recall")([x, recalled])
    params = keras.layers.Dense(head_units, name="head")(x)
    before = frames
    if recall_frames or recall_song:  # the recalled frame predicts the next one: the base
        from kara_lstm.lm.recall import recall_mix

        before = recall_mix()([frames, recalled])
    if residual == "gain":
        base = _gain_class()(name="base")(before)
    elif residual == "full":
        base = keras.layers.Identity(name="base")(before)
    else:
        base = _zero_class()(name="base")(before)
    return keras.Model(inputs if len(inputs) > 1 else frames, [params, base], name="lstm_lm")


def _has_layer(net: Any, name: str) -> bool:
    return any(layer.name == name for layer in net.layers)


def run_from_states(net: Any, layers: int, inputs: Any, states: list[tuple[Any, Any]],
                    song: bool = False, recall: bool = False, recall_song: bool = False
                    ) -> tuple[Any, Any, list[tuple[Any, Any]]]:
    """The training graph's forward pass started from given LSTM ``states`` (one ``(h, c)``
    per layer): ``(params, base, each layer's final (h, c))``. For training that carries
    the state from one crop to the next (``carry_crops``); ``inputs`` are ``frames`` or
    ``[frames, song]`` (no style part)."""
    frames = inputs[0] if isinstance(inputs, list) else inputs
    x = frames
    if song and _has_layer(net, "song_encoder"):
        vector = net.get_layer("song_encoder")(inputs[1], training=True)
        x = net.get_layer("with_song")([x, vector])
    final = []
    for i, (h, c) in enumerate(states):
        if i >= layers:
            break
        x, h, c = net.get_layer(f"lstm_{i}")(x, initial_state=[h, c], training=True)
        final.append((h, c))
    before = frames
    if recall:  # within the crop: the carried state, not the frames, crosses crops
        read = [x, frames, inputs[1]] if recall_song else [x, frames]
        recalled = net.get_layer("recall")(read)
        x = net.get_layer("with_recall")([x, recalled])
        before = net.get_layer("recall_mix")([frames, recalled])
    return net.get_layer("head")(x), net.get_layer("base")(before), final


def make_lm_rollout(net: Any, layers: int, head: Any, frame_dim: int, style_frames: int = 0,
                    song_frames: int = 0, recall_frames: int = 0,
                    recall_song: bool = False, recall_draw: bool = False,
                    recall_follow: float = 0.0, recall_beat: tuple[int, int] = (0, 0),
                    recall_accent: float = 0.0, recall_content: str = "follow",
                    recall_groove: bool = False, noise_memory: float = 0.0) -> Any:
    """A compiled ``rollout(prompt [B, T, D], steps, temperature, seed [2]) -> [B, steps, D]``
    (``T >= 1``). Step t draws with the stateless seed ``(seed[0], seed[1] + t)``. With
    ``style_frames``, the style is that of the prompt's last ``style_frames`` frames; with
    ``song_frames`` (a network built with ``song_dims``), the song encoder reads the
    prompt's last ``song_frames`` frames; with ``recall_song``, the recall reads them too;
    with ``recall_frames``, the recall's window holds the prompt's frames, then the
    generated ones (:mod:`kara_lstm.lm.recall`); with ``recall_draw`` too, each step at a
    temperature above 0 draws one recalled frame; ``recall_follow``, ``recall_beat`` (the
    shortest and longest beat period looked for, in frames), ``recall_accent``,
    ``recall_content`` and ``recall_groove`` replay the prompt (:mod:`kara_lstm.lm.replay`);
    ``noise_memory`` correlates each step's sampled noise with the last step's."""
    import tensorflow as tf

    from kara_lstm.cells import read_sequence, step_cells
    from kara_lstm.lm.recall import recall_memory, recallable, remember, song_memory
    from kara_lstm.lm.replay import accent, beat_period, groove

    lstms = [net.get_layer(f"lstm_{i}") for i in range(layers)]
    cells = [lstm.cell for lstm in lstms]
    dense = net.get_layer("head")
    base_layer = net.get_layer("base")
    encoder = net.get_layer("song_encoder") if _has_layer(net, "song_encoder") else None
    recall = net.get_layer("recall") if recall_frames or recall_song else None
    mix: Any = net.get_layer("recall_mix") if recall is not None else None

    @tf.function(input_signature=[
        tf.TensorSpec([None, None, frame_dim], tf.float32), tf.TensorSpec([], tf.int32),
        tf.TensorSpec([], tf.float32), tf.TensorSpec([2], tf.int32)], reduce_retracing=True)
    def rollout(prompt: Any, steps: Any, temperature: Any, seed: Any) -> Any:
        # what the training graph's with_style / with_song layers put beside every frame
        beside = []
        if style_frames:
            beside.append(style_vector(prompt[:, -style_frames:]))
        if encoder is not None:
            beside.append(encoder(prompt[:, -song_frames:], training=False))
        condition = tf.concat(beside, axis=-1) if beside else None

        def conditioned(x: Any) -> Any:  # [B, T, D] or [B, D] with the condition beside
            if condition is None:
                return x
            if x.shape.rank == 2:
                return tf.concat([x, condition], axis=-1)
            tiled = tf.zeros_like(x[..., :1]) + condition[:, None, :]
            return tf.concat([x, tiled], axis=-1)

        x, states = read_sequence(lstms, conditioned(prompt))
        top = x[:, -1, :]
        # the recall's window (kara_lstm.lm.recall); an empty tuple is a loop variable too
        memory: tuple[Any, ...] = (recall_memory(recall, prompt) if recall_frames else ())
        song: tuple[Any, ...] = (song_memory(recall, prompt[:, -song_frames:])
                                 if recall is not None and recall_song else ())

        # the replay (kara_lstm.lm.replay): the entry drawn last step (-1: none), how many
        # leading entries are the recent window (it shifts by a frame every step), the
        # prompt's beat period, the change each song entry leads to
        batch = tf.shape(prompt)[0]
        shifting = recall.window - recall.min_lag + 1 if recall is not None and recall_frames else 0
        segment = prompt[:, -song_frames:]
        changes = segment[:, 1:] - segment[:, :-1]
        period = (beat_period(segment, *recall_beat) if recall_beat[1] and song
                  else tf.zeros([batch], tf.int32))
        if recall_groove:
            changes = groove(changes, period)
        picked = tf.fill([batch], -1)
        if recall_follow > 0 and song:  # as if the prompt's last frame had been recalled
            picked += shifting + tf.shape(song[0])[1]

        def head_inputs(top: Any, read: Any, memory: tuple[Any, ...], picked: Any,
                        step: Any) -> tuple[Any, Any, Any]:
            """The head's ``(params, base)`` after reading the frame ``read``, and the
            recall's entry drawn."""
            if recall is None:
                return dense(top), base_layer(read), picked
            # draws from a stream apart from the head's (seed[0], seed[1] + t)
            draw = (tf.stack([seed[0], seed[1] + RECALL_SEED_OFFSET + step]) if recall_draw
                    else None)
            follow = ((picked, recall_follow, shifting, period) if recall_follow > 0
                      else None)
            reachable = recallable(recall, memory, song)
            recalled, picked = recall.attend(top, read, reachable, draw, temperature, follow)
            if follow is not None and recall_content == "draw":
                # the replay times the accent; what sounds is drawn afresh, from a stream
                # apart from the replay's
                afresh = tf.stack([seed[0] + 1, seed[1] + RECALL_SEED_OFFSET + step])
                recalled, _ = recall.attend(top, read, reachable, afresh, temperature, None)
            return (dense(tf.concat([top, recalled], axis=-1)),
                    base_layer(mix([read, recalled])), picked)

        read = prompt[:, -1, :]
        params, base, picked = head_inputs(top, read, memory, picked, 0)
        frames = tf.TensorArray(tf.float32, size=steps)
        # noise_memory: each frame's noise goes on from the last frame's, at the same size;
        # its streams (seed[0] + 2 and + 3) are apart from the head's and the recall's
        noise = tf.random.stateless_normal([batch, frame_dim],
                                           seed=tf.stack([seed[0] + 3, seed[1]]))
        for t in tf.range(steps):
            step_seed = tf.stack([seed[0], seed[1] + t])
            if noise_memory > 0:
                fresh = tf.random.stateless_normal([batch, frame_dim],
                                                   seed=tf.stack([seed[0] + 2, seed[1] + t]))
                noise = noise_memory * noise + math.sqrt(1.0 - noise_memory**2) * fresh
            frame = head.sample(params, base, temperature, step_seed,
                                noise if noise_memory > 0 else None)
            if recall_accent > 0 and song:
                frame += recall_accent * accent(changes, picked, shifting)
            frames = frames.write(t, frame)
            if recall_frames:
                memory = remember(recall, memory, read, frame)
            top, states = step_cells(cells, conditioned(frame), states)
            read = frame
            params, base, picked = head_inputs(top, read, memory, picked, t + 1)
        return tf.transpose(frames.stack(), [1, 0, 2])

    return rollout

