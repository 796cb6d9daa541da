"""Replaying the prompt in generation (``recall_follow``, ``recall_beat``,
``recall_accent``): how a recalling ``lstm_lm`` (:mod:`kara_lstm.lm.recall`) draws from its
memory so that the continuation keeps the prompt's beat. Sampling only: the weights are
those of ``recall_draw``.

Why (issue 21): drawing each step's recalled moment afresh gives the head a frame from a
different place of the prompt every step, and the attacks the prompt had at its beat come
back at random times: pulse stayed at 0.15 of the music's on the development music
(xmoto-data, extremetuxracer-data, warzone2100-music). Three things, measured on the same
music, bring the beat back:

- **follow**: each step goes on, with the chance ``recall_follow``, from the moment recalled
  last step to the one after it (a pointer through the prompt, as concatenative synthesis
  and the audio oracle continue music), so that the recalled moments come in the prompt's
  order, the spacing of their attacks with them;
- **beat**: a jump (the attention's own draw, or the pointer running off the prompt's end)
  lands only on moments a whole number of the prompt's beat periods from where the pointer
  would have gone (:func:`beat_period`: the lag at which the prompt's onset envelope
  correlates best with itself, as the ``pulse`` measure finds it): the continuation stays on
  the beat it is on;
- **accent**: the sampled frame gets the change the prompt made at the recalled moment
  (its attack, and its decay). The head's frame carries what the music sounds like; the
  accent carries *when* it strikes. Copying the recalled frame itself instead (its content
  too) gave a beat but looped the 3 s prompt: the frames came back as in a loop (``loop``
  0.24-0.65) and the pulse did not count.

Two refinements of these (``recall_content: draw``, ``recall_groove``) let the replay time
the music without repeating the prompt's 3 s: the head reads a moment the attention draws
afresh each step, not the one the replay is at, and the accent is the prompt's change at
that phase of its beat averaged over its beats (:func:`groove`): the attacks that come every
beat, not the melody's changes, which come once and, replayed, make the prompt cycle.
"""

from __future__ import annotations

from typing import Any

Follow = tuple[Any, float, int, Any]
"""``recall_follow`` in generation: ``(the entry drawn last step [B] (-1: none), the chance
of going on from it, how many leading entries are the recent window, the beat period [B]
in frames that a jump keeps the phase of (0: any jump))``."""


def follow_weights(weights: Any, known: Any, follow: Follow) -> Any:
    """The chances of each entry ``[B, W]`` being drawn with ``recall_follow``: the entry
    after the one drawn last step with the chance given (where it is known), else the
    attention's ``weights``.

    The entry after a song segment's entry ``p`` is ``p + 1``; a recent-window entry's is
    ``p`` itself, because the window shifts by one frame every step."""
    import tensorflow as tf

    pointer, chance, shifting, period = follow
    size = tf.shape(weights)[1]
    after = tf.where(pointer < shifting, pointer, pointer + 1)
    going_on = (pointer >= 0) & (after < size)
    going_on &= tf.gather(known, tf.clip_by_value(after, 0, size - 1))
    share = chance * tf.cast(going_on, weights.dtype)[:, None]
    target = tf.one_hot(tf.where(going_on, after, 0), size, dtype=weights.dtype)
    return share * target + (1.0 - share) * in_phase(weights, after, period)


def in_phase(weights: Any, after: Any, period: Any) -> Any:
    """``weights [B, W]`` kept only at entries a whole number of beat ``period`` s [B] (within
    a frame) from ``after`` [B], renormalised: a jump lands on the beat the continuation is
    on. Rows without a period (0), or with no weight in phase, are kept whole."""
    import tensorflow as tf

    entries = tf.range(tf.shape(weights)[1])[None, :]
    beat = tf.maximum(period, 1)[:, None]
    offset = tf.math.floormod(entries - after[:, None], beat)
    near = tf.minimum(offset, beat - offset) <= 1
    kept = weights * tf.cast(near, weights.dtype)
    total = tf.reduce_sum(kept, axis=-1, keepdims=True)
    usable = (period[:, None] > 0) & (total > 1e-12)
    return tf.where(usable, kept / tf.maximum(total, 1e-12), weights)


def beat_period(frames: Any, low: int, high: int) -> Any:
    """``frames [B, T, D] -> [B]``: the lag in frames, ``low``-``high`` (at most ``T // 2``),
    at which the frames' onset envelope (their rise summed over the features) correlates
    best with itself: the beat or the bar of the prompt, as ``pulse`` measures it. 0 when
    the frames are too short for ``low`` twice."""
    import tensorflow as tf

    onset = tf.reduce_sum(tf.nn.relu(frames[:, 1:] - frames[:, :-1]), axis=-1)
    onset -= tf.reduce_mean(onset, axis=-1, keepdims=True)
    count = tf.shape(onset)[1]
    top = tf.minimum(high, count // 2)

    def best_lag() -> Any:
        scores = tf.map_fn(lambda lag: tf.reduce_sum(onset[:, :count - lag] * onset[:, lag:],
                                                     axis=-1) / tf.cast(count - lag, onset.dtype),
                           tf.range(low, top + 1), fn_output_signature=tf.float32)
        return low + tf.argmax(scores, axis=0, output_type=tf.int32)

    return tf.cond(top >= low, best_lag, lambda: tf.zeros([tf.shape(frames)[0]], tf.int32))


def accent(changes: Any, picked: Any, shifting: int) -> Any:
    """``[B, D]``: the change ``changes [B, S, D]`` the song segment made at the entry
    ``picked [B]`` of the recallable memory (its song entries follow ``shifting`` recent
    ones); zeros where the entry is not one of the song's (none drawn, a recent one)."""
    import tensorflow as tf

    entry = picked - shifting
    count = tf.shape(changes)[1]
    # a last entry of zeros, which every entry that is not the song's reads (a prompt of
    # one frame has no changes at all)
    padded = tf.concat([changes, tf.zeros([tf.shape(changes)[0], 1, tf.shape(changes)[2]],
                                          changes.dtype)], axis=1)
    entry = tf.where((entry >= 0) & (entry < count), entry, count)
    return tf.gather(padded, entry, batch_dims=1)


def groove(changes: Any, period: Any) -> Any:
    """``changes [B, S, D]`` averaged, entry by entry, over the entries a whole number of
    beat ``period`` s [B] away (the same phase of every beat): the attacks the prompt makes
    on every beat, without the changes of its melody, which come once. Rows without a
    period (0) are kept as they are."""
    import tensorflow as tf

    entries = tf.range(tf.shape(changes)[1])
    beat = tf.maximum(period, 1)[:, None, None]
    apart = entries[None, :, None] - entries[None, None, :]
    same = tf.where(period[:, None, None] > 0, tf.math.floormod(apart, beat) == 0, apart == 0)
    same = tf.cast(same, changes.dtype)
    return tf.einsum("bij,bjd->bid", same, changes) / tf.reduce_sum(same, axis=-1,
                                                                     keepdims=True)
