"""The Keras graph of ``lstm_seq2seq`` and its compiled closed-loop rollout.

Training graph (teacher forcing)::

    context [B, Tin, D] -> encoder: layers x LSTM(units) -> final (h, c) of each layer
    previous frames [B, Tout, D] -> decoder: layers x LSTM(units), layer i started from
        encoder layer i's state -> Dense(D) (+ gain * previous frame when residual)

The decoder input at step t is the true frame t-1 (the last context frame at t=0). With
``residual`` the output is ``Dense(h) + gain * previous frame``, with one learned gain per
feature initialised by :func:`init_gain` to that feature's lag-1 autocorrelation on the
training windows, and the Dense layer initialised to zero: the untrained model is the best
per-feature linear one-step predictor. Run closed loop, it decays each feature from the
last frame towards the mean (persistence where frames change slowly, as STFT magnitudes
do; the mean where they do not, as raw samples do), and training learns what to add.

The rollout (inference) runs the same layers' cells step by step inside one
``tf.function``: the encoder reads the context, then each decoder step feeds its own
output back. No Keras ``predict`` per frame, and the weights are the trained ones.
"""

from __future__ import annotations

from typing import Any


def build_network(
    frame_dim: int, input_frames: int, output_frames: int, layers: int, units: int,
    dropout: float, residual: bool, teacher_noise: float = 0.0,
) -> Any:
    """The teacher-forced training model: inputs ``[context, previous]`` -> next frames.

    ``teacher_noise`` adds Gaussian noise of that standard deviation to the teacher's
    previous frames while training (not at inference), so the decoder learns to correct
    frames that are slightly off, as its own predictions are when it runs closed loop.
    """
    import keras

    context = keras.Input((input_frames, frame_dim), name="context")
    previous = keras.Input((output_frames, frame_dim), name="previous")
    x = context
    states = []
    for i in range(layers):
        x, h, c = keras.layers.LSTM(
            units, return_sequences=True, return_state=True, dropout=dropout,
            name=f"encoder_{i}",
        )(x)
        states.append([h, c])
    fed = previous
    if teacher_noise > 0:
        fed = keras.layers.GaussianNoise(teacher_noise, name="teacher_noise")(previous)
    y = fed
    for i in range(layers):
        y, _h, _c = keras.layers.LSTM(
            units, return_sequences=True, return_state=True, dropout=dropout,
            name=f"decoder_{i}",
        )(y, initial_state=states[i])
    # With the skip, the output layer starts at zero: the untrained model is exactly the
    # per-feature AR(1) predictor set by init_gain(), and learns corrections to it.
    out = keras.layers.Dense(
        frame_dim, name="frame", kernel_initializer="zeros" if residual else "glorot_uniform"
    )(y)
    if residual:
        out = keras.layers.Add(name="residual")([out, frame_gain(name="gain")(fed)])
    return keras.Model([context, previous], out, name="lstm_seq2seq")


def autocorrelation(windows: Any, max_batches: int = 32, batch_size: int = 64) -> Any:
    """Per-feature lag-1 autocorrelation of normalised frames, clipped to [0, 1], from up
    to ``max_batches`` batches of ``windows`` (a seeded sample: cheap on any dataset)."""
    import numpy as np

    dim = int(windows.frame_dim)
    cross, power = np.zeros(dim), np.zeros(dim)
    for number, (inputs, targets) in enumerate(windows.batches(batch_size, True, 0)):
        if number >= max_batches:
            break
        frames = np.concatenate([inputs, targets], axis=1).astype(np.float64)
        cross += (frames[:, 1:] * frames[:, :-1]).sum(axis=(0, 1))
        power += np.square(frames[:, :-1]).sum(axis=(0, 1))
    gain = np.where(power > 0, cross / np.maximum(power, 1e-12), 1.0)
    return np.clip(gain, 0.0, 1.0).astype(np.float32)


def init_gain(net: Any, gain: Any) -> None:
    """Set the residual gain layer's weights (no-op for a model without the skip)."""
    try:
        layer = net.get_layer("gain")
    except ValueError:
        return
    layer.gain.assign(gain)


def _frame_gain_class() -> Any:
    import keras

    class _FrameGain(keras.layers.Layer):
        """``x * gain``, one learned gain per feature, starting at 1."""

        def build(self, input_shape: Any) -> None:
            self.gain = self.add_weight(
                shape=(int(input_shape[-1]),), initializer="ones", name="gain"
            )

        def call(self, inputs: Any) -> Any:
            return inputs * self.gain

    return _FrameGain


def frame_gain(name: str) -> Any:
    """A per-feature gain layer (the class is made lazily: Keras loads only when used)."""
    global _FRAME_GAIN
    if _FRAME_GAIN is None:
        _FRAME_GAIN = _frame_gain_class()
    return _FRAME_GAIN(name=name)


_FRAME_GAIN: Any = None


def make_seq2seq_rollout(net: Any, layers: int, residual: bool) -> Any:
    """A compiled ``rollout(context, steps, temperature, seed) -> [B, steps, D]``.

    ``context`` is ``[B, T, D]`` (any ``T >= 1``); ``temperature`` is the standard
    deviation of Gaussian noise added to each frame before it is fed back (0: none);
    ``seed`` is an int32 pair for that noise.
    """
    import tensorflow as tf

    from kara_lstm.cells import read_sequence, step_cells

    encoders = [net.get_layer(f"encoder_{i}") for i in range(layers)]
    cells = [net.get_layer(f"decoder_{i}").cell for i in range(layers)]
    dense = net.get_layer("frame")
    gain = net.get_layer("gain").gain if residual else None
    frame_dim = int(dense.units)

    @tf.function(
        input_signature=[
            tf.TensorSpec([None, None, frame_dim], tf.float32),
            tf.TensorSpec([], tf.int32),
            tf.TensorSpec([], tf.float32),
            tf.TensorSpec([2], tf.int32),
        ],
        reduce_retracing=True,
    )
    def rollout(context: Any, steps: Any, temperature: Any, seed: Any) -> Any:
        _x, states = read_sequence(encoders, context)
        previous = context[:, -1, :]
        frames = tf.TensorArray(tf.float32, size=steps)
        for t in tf.range(steps):
            h, states = step_cells(cells, previous, states)
            frame = dense(h)
            if gain is not None:
                frame = frame + previous * gain
            if temperature > 0:
                noise = tf.random.stateless_normal(
                    tf.shape(frame), seed=tf.stack([seed[0], seed[1] + t])
                )
                frame = frame + temperature * noise
            frames = frames.write(t, frame)
            previous = frame
        return tf.transpose(frames.stack(), [1, 0, 2])

    return rollout
