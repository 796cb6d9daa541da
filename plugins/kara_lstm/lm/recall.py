"""Recall for ``lstm_lm`` (``recall_song``, ``recall_frames``): before the head predicts the
next frame, the network looks up the moments of a memory most like now and reads the
frames that followed them.

Why (issue 21): a frame LM that predicts the next frame from its LSTM state alone forgets
its prompt within seconds (every prompt ends in the same music) and places no onset on a
period (pulse at the level of noise): from the last frames nothing says *when* the next
attack comes. Music says it by repeating itself at the beat, the bar and the phrase. Attention
over the recent past (a query from the LSTM's state and frame at ``t``, a key from the frame
at each earlier ``s``, the *value* being the frame that followed ``s``) gives the head "what came
after the moment most like now": the onset one bar on, the prompt's timbre. It is the
retrieval half of a transformer layer put after the LSTM, a frame-level "induction head".

A first version made recall a mixture component (the next frame *is* an earlier one plus
noise, as a pointer-generator copies words). Trained on real music (xmoto-data,
extremetuxracer-data and warzone2100-music, 600 steps) its gate settled at 4%: an earlier
frame is never close enough in all 128 mel bands to beat the Gaussians' likelihood, so
the continuations forgot their prompts as before (prompt sensitivity 0.06). Read beside the
LSTM's state, and mixed into the frame the Gaussians' means are relative to (the base), the
recalled frame informs every Gaussian instead.

With ``recall_song`` the network recalls from *another segment of the same song*
(``song_frames`` frames: elsewhere in the song in training, the prompt in generation), which
stays in reach for the whole continuation, where the recent window (``recall_frames``)
holds only generated frames after a few seconds, and recalling them amplifies what the
model got wrong. kara.yaml's base recalls from the song segment alone.

Generation may *draw* one recalled frame from the attention's weights instead of their
weighted mean (``recall_draw``, a sampling option): where the attention is split between
moments a beat apart in phase, the mean blurs the attacks they hold, a draw keeps one.

Only lags of at least ``min_lag`` frames are looked up: the frame just before is the
LSTM's own input already, and it would win every lookup while the network learns.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from kara_lstm.lm.replay import Follow

MIN_LAG = 16
"""Shortest lag (frames) recalled: 0.19 s at hop 256 and 22.05 kHz, shorter than a beat."""
RECALL_SHARE_INIT = 0.5
"""Starting share of the recalled frame in what the base is computed from (per feature,
learned): ``share * recalled + (1 - share) * input frame``, so that the loss reaches the
attention directly (through the head's Dense layer alone, it did not learn to find a
repeating pattern's phase in 700 steps). A convex mixture, so that the base stays a
decaying echo of earlier frames: added on top of the input frame's gain instead, the two
gains together passed 1 on real music and generation ran off to infinity."""
NO_RECALL = -1e9
"""Score of a position that cannot be recalled (the attention's mask)."""


def _recall_class() -> Any:
    import keras

    class Recall(keras.layers.Layer):
        """``[states [B, T, U], frames [B, T, D](, song [B, S, D])] -> recalled [B, T, D]``:
        at position ``i`` the attention-weighted frames ``frames[s + 1]`` of the positions
        ``s`` with ``min_lag <= i - s <= window`` and, with a song segment, its frames
        ``song[s + 1]`` (zeros where there is nothing to recall)."""

        def __init__(self, window: int, dims: int, min_lag: int = MIN_LAG,
                     **kwargs: Any) -> None:
            super().__init__(**kwargs)
            self.window, self.dims, self.min_lag = int(window), int(dims), int(min_lag)
            self.query = keras.layers.Dense(self.dims, name="query")
            self.key = keras.layers.Dense(self.dims, name="key")

        def build(self, input_shape: Any) -> None:
            states, frames = input_shape[0], input_shape[1]
            self.query.build((*states[:-1], int(states[-1]) + int(frames[-1])))
            self.key.build(frames)

        def call(self, inputs: Any) -> Any:
            import tensorflow as tf

            states, frames = inputs[0], inputs[1]
            length = tf.shape(frames)[1]
            lag = tf.range(length)[:, None] - tf.range(length)[None, :]
            allowed = (lag >= self.min_lag) & (lag <= self.window)  # none when window is 0
            query = self.query(tf.concat([states, frames], axis=-1))
            scores = tf.einsum("bik,bjk->bij", query, self.key(frames))
            scores = tf.where(allowed, scores / math.sqrt(self.dims), NO_RECALL)
            values = tf.concat([frames[:, 1:], tf.zeros_like(frames[:, :1])], axis=1)
            if len(inputs) > 2:  # the song segment: every frame but its last can be recalled
                song = inputs[2]
                song_scores = tf.einsum("bik,bjk->bij", query, self.key(song[:, :-1]))
                scores = tf.concat([scores, song_scores / math.sqrt(self.dims)], axis=-1)
                values = tf.concat([values, song[:, 1:]], axis=1)
                allowed = tf.concat([allowed, tf.ones([length, tf.shape(song)[1] - 1],
                                                      tf.bool)], axis=-1)
            weights = tf.nn.softmax(scores, axis=-1)
            weights *= tf.cast(tf.reduce_any(allowed, axis=-1), weights.dtype)[:, None]
            return tf.einsum("bij,bjd->bid", weights, values)

        def attend(self, state: Any, frame: Any, memory: Memory, draw: Any = None,
                   temperature: Any = 1.0, follow: Follow | None = None) -> tuple[Any, Any]:
            """One generation step: the LSTM's ``state [B, U]`` after reading ``frame
            [B, D]``, against ``memory`` (keys ``[B, W, dims]``, the frames that followed
            them ``[B, W, D]``, ``known [W]``) -> ``(recalled [B, D], picked [B])``: the
            attention-weighted frames as in training, or with ``draw`` (a stateless seed)
            and a ``temperature`` above 0 one frame drawn from the attention's weights,
            and the entry drawn (-1 when none was). With ``follow`` the draw goes on from
            the entry drawn last step (:func:`kara_lstm.lm.replay.follow_weights`)."""
            import tensorflow as tf

            from kara_lstm.lm.replay import follow_weights

            keys, values, known = memory
            # one entry that is never known: a prompt of one frame leaves nothing to recall,
            # and a draw from no entries at all is an error
            batch = tf.shape(keys)[0]
            keys = tf.concat([keys, tf.zeros([batch, 1, self.dims], keys.dtype)], axis=1)
            values = tf.concat([values, tf.zeros_like(frame)[:, None]], axis=1)
            known = tf.concat([known, tf.zeros([1], tf.bool)], axis=0)
            query = self.query(tf.concat([state, frame], axis=-1))
            scores = tf.einsum("bk,bwk->bw", query, keys) / math.sqrt(self.dims)
            scores = tf.where(known[None, :], scores, NO_RECALL)
            weights = tf.nn.softmax(scores, axis=-1)
            picked = tf.fill([batch], -1)
            if draw is not None:
                logits = (scores if follow is None
                          else tf.math.log(follow_weights(weights, known, follow) + 1e-30))
                drawn_entry = tf.random.stateless_categorical(logits, 1, seed=draw,
                                                              dtype=tf.int32)[:, 0]
                drawn = tf.one_hot(drawn_entry, tf.shape(scores)[1], dtype=weights.dtype)
                weights = tf.where(temperature > 0, drawn, weights)
                picked = tf.where(temperature > 0, drawn_entry, picked)
            weights *= tf.cast(tf.reduce_any(known), tf.float32)
            return tf.einsum("bw,bwd->bd", weights, values), picked

        def get_config(self) -> dict[str, Any]:
            return {**super().get_config(), "window": self.window, "dims": self.dims,
                    "min_lag": self.min_lag}

    return Recall


Memory = tuple[Any, Any, Any]
"""What generation can recall: ``(keys [B, W, dims], the frames that followed them
[B, W, D], known [W])``."""


def _mix_class() -> Any:
    import keras

    class RecallMix(keras.layers.Layer):
        """``[frames, recalled] -> share * recalled + (1 - share) * frames``, one learned
        ``share = sigmoid(w)`` in (0, 1) per feature."""

        def build(self, input_shape: Any) -> None:
            start = math.log(RECALL_SHARE_INIT / (1.0 - RECALL_SHARE_INIT))
            self.w = self.add_weight(shape=(int(input_shape[0][-1]),),
                                     initializer=keras.initializers.Constant(start), name="w")

        def call(self, inputs: Any) -> Any:
            frames, recalled = inputs
            share = keras.ops.sigmoid(self.w)
            return share * recalled + (1.0 - share) * frames

    return RecallMix


def recall_mix() -> Any:
    """The network's ``recall_mix`` layer: what the head's base is computed from."""
    return _mix_class()(name="recall_mix")


def recall_layer(window: int, dims: int) -> Any:
    """The network's ``recall`` layer (see the module)."""
    return _recall_class()(window, dims, name="recall")


def recall_memory(layer: Any, frames: Any) -> Memory:
    """The recent window after reading ``frames [B, T, D]``: the positions ``s`` whose next
    frame is known, right-aligned in ``layer.window`` entries, zeros and ``known = False``
    before them. The newest ``min_lag - 1`` entries are too recent for the next query
    (:func:`recallable`)."""
    import tensorflow as tf

    window = layer.window
    keys, values = layer.key(frames[:, :-1]), frames[:, 1:]
    have = tf.shape(values)[1]
    pad = tf.maximum(window - have, 0)
    keys = tf.pad(keys, [[0, 0], [pad, 0], [0, 0]])[:, -window:]
    values = tf.pad(values, [[0, 0], [pad, 0], [0, 0]])[:, -window:]
    known = tf.concat([tf.zeros([pad], tf.bool), tf.ones([have], tf.bool)], axis=0)[-window:]
    return (tf.ensure_shape(keys, [None, window, layer.dims]),
            tf.ensure_shape(values, [None, window, None]), tf.ensure_shape(known, [window]))


def song_memory(layer: Any, song: Any) -> Memory:
    """The song segment ``[B, S, D]`` as memory: every frame but the last, and its next."""
    import tensorflow as tf

    return layer.key(song[:, :-1]), song[:, 1:], tf.ones([tf.shape(song)[1] - 1], tf.bool)


def recallable(layer: Any, memory: Memory | tuple[()],
               song: Memory | tuple[()] = ()) -> Memory:
    """What the current query may read: the recent window (if any) but its newest
    ``min_lag - 1`` entries (too recent), then the song segment's memory (if any)."""
    if not memory:
        if not song:
            raise ValueError("recall with neither a recent window nor a song segment")
        return song
    keep = layer.window - layer.min_lag + 1
    keys, values, known = memory[0][:, :keep], memory[1][:, :keep], memory[2][:keep]
    if not song:
        return keys, values, known
    import tensorflow as tf

    return (tf.concat([keys, song[0]], axis=1), tf.concat([values, song[1]], axis=1),
            tf.concat([known, song[2]], axis=0))


def remember(layer: Any, memory: Memory, read: Any, frame: Any) -> Memory:
    """``memory`` one step later: the oldest entry dropped, the key of the frame ``read
    [B, D]`` (the position just predicted from) and the ``frame [B, D]`` drawn after it
    appended."""
    import tensorflow as tf

    keys, values, known = memory
    return (tf.concat([keys[:, 1:], layer.key(read)[:, None]], axis=1),
            tf.concat([values[:, 1:], frame[:, None]], axis=1),
            tf.concat([known[1:], tf.ones([1], tf.bool)], axis=0))
