"""The ``mixture`` head with *recall*: besides its K Gaussians, the next frame may be a
frame that followed an earlier moment of the same music, found by attention.

Why (issue 21): a frame LM that only predicts the next frame from its LSTM state forgets
its prompt within seconds (every prompt ends in the same music) and places no onset on a
period (pulse at the level of noise). Music repeats itself at the beat, the bar and the
phrase; a continuation that can say "what came after the moment most like now" keeps the
prompt's sounds, its attacks and their spacing. This is a pointer/copy mechanism (See et
al. 2017's pointer-generator; the "induction heads" of transformers) over frames.

At every position ``t`` the head's Dense layer also gives a *query*, a *key*, a gate and
the recall's spread. The key of position ``s`` describes the context that ended at ``s``;
its *value* is the frame that followed, ``x[s+1]``. The next frame's density is::

    p(x[t+1]) = (1 - g) * sum_k w_k N(x; mean_k, sigma_k)             (the mixture)
              +      g  * sum_s a_ts N(x; x[s+1], sigma_recall[t])    (recall)

with ``a_ts = softmax_s(q_t . k_s / sqrt(dims))`` over the last ``recall_frames``
positions whose next frame is known (``s < t``). In training every position of a crop is a
target and the values are the crop's own frames; in generation the keys and values are the
prompt's, then the generated frames', kept in a window of ``recall_frames``. Sampling
draws one of the K + window components (Gumbel-max over their weights), so a recalled
frame is the earlier frame plus the recall's noise, and runs of recalls carry a rhythm
forward. All Gaussians are diagonal in the mixture's noise basis (an orthonormal rotation:
distances are unchanged).
"""

from __future__ import annotations

import math
from typing import Any

from kara_lstm.lm.heads import LOG_SIGMA_MAX, MixtureHead

RECALL_LOG_SIGMA_MIN = -3.0
"""The recall Gaussians' smallest log standard deviation (normalised units, sigma 0.05).
No earlier frame of real music is its later frame exactly, and the squared distances of
the attention's likelihood are computed by expansion, which loses float32 precision when
sigma is tiny."""
NO_RECALL = -1e9
"""Log weight of a position with nothing to recall (the first frame of a crop)."""


class RecallMixtureHead(MixtureHead):
    """``[mixture params | gate 1 | recall log sigmas D | query dims | key dims]``."""

    name = "mixture"

    def __init__(self, frame_dim: int, components: int, recall_frames: int, recall_dims: int,
                 noise_scale: float = 1.0, quiet_directions: int = 0) -> None:
        super().__init__(frame_dim, components, noise_scale, quiet_directions)
        self.recall_frames = int(recall_frames)
        self.recall_dims = int(recall_dims)

    def units(self) -> int:
        return super().units() + 1 + self.frame_dim + 2 * self.recall_dims

    def _parts(self, params: Any) -> tuple[Any, Any, Any, Any, Any]:
        """``(mixture params, gate logit [..], recall log sigma [.., D], query, key)``."""
        import tensorflow as tf

        first = super().units()
        d, n = self.frame_dim, self.recall_dims
        gate = params[..., first]
        log_sigma = tf.clip_by_value(params[..., first + 1 : first + 1 + d],
                                     RECALL_LOG_SIGMA_MIN, LOG_SIGMA_MAX)
        query = params[..., first + 1 + d : first + 1 + d + n]
        key = params[..., first + 1 + d + n :]
        return params[..., :first], gate, log_sigma, query, key

    def keys(self, params: Any) -> Any:
        """The key ``[..., dims]`` of each position of ``params [..., units]``."""
        return self._parts(params)[4]

    def _mixture_log_p(self, params: Any, base: Any, targets: Any) -> Any:
        """Log-likelihood of each target under the K Gaussians alone: ``[...]``."""
        import tensorflow as tf

        log_w, means, log_sigma = self.split(params, base)
        z = (self._to_basis(targets)[..., None, :] - means) * tf.exp(-log_sigma)
        log_p = -0.5 * tf.square(z) - log_sigma - 0.5 * math.log(2.0 * math.pi)
        return tf.reduce_logsumexp(log_w + tf.reduce_sum(log_p, axis=-1), axis=-1)

    def loss(self, params: Any, base: Any, targets: Any) -> Any:
        """Negative log-likelihood (nats per frame) of each target of ``[B, N, D]``
        sequences, the recall's values being the earlier targets of the same sequence."""
        import tensorflow as tf

        mixture, gate, log_sigma, query, key = self._parts(params)
        log_mixture = self._mixture_log_p(mixture, base, targets)
        y = self._to_basis(targets)                                     # [B, N, D]
        inverse = tf.exp(-2.0 * log_sigma)                              # [B, N, D]
        # sum_d (y_i - y_j)^2 / sigma_i^2, by expansion: [B, N, N] rather than [B, N, N, D]
        squared = (tf.reduce_sum(tf.square(y) * inverse, axis=-1)[..., :, None]
                   - 2.0 * tf.einsum("bid,bjd->bij", y * inverse, y)
                   + tf.einsum("bid,bjd->bij", inverse, tf.square(y)))
        log_n = (-0.5 * tf.maximum(squared, 0.0)
                 - tf.reduce_sum(log_sigma, axis=-1)[..., :, None]
                 - 0.5 * self.frame_dim * math.log(2.0 * math.pi))
        length = tf.shape(y)[1]
        lag = tf.range(length)[:, None] - tf.range(length)[None, :]     # i - j
        allowed = (lag >= 1) & (lag <= self.recall_frames)
        scores = tf.einsum("bik,bjk->bij", query, key) / math.sqrt(self.recall_dims)
        scores = tf.where(allowed, scores, NO_RECALL)
        log_attention = tf.nn.log_softmax(scores, axis=-1)
        log_recall = tf.reduce_logsumexp(
            tf.where(allowed, log_attention + log_n, NO_RECALL), axis=-1)  # [B, N]
        any_allowed = tf.reduce_any(allowed, axis=-1)                   # [N]
        mixed = tf.reduce_logsumexp(tf.stack([
            tf.math.log_sigmoid(-gate) + log_mixture,
            tf.math.log_sigmoid(gate) + log_recall], axis=-1), axis=-1)
        return -tf.where(any_allowed, mixed, log_mixture)

    def sample(self, params: Any, base: Any, temperature: Any, seed: Any,
               memory: Any = None) -> Any:
        """One frame ``[B, D]``; ``memory`` is ``(keys [B, W, dims], values [B, W, D],
        known [W])`` (without it, the mixture alone draws)."""
        import tensorflow as tf

        mixture, gate, recall_log_sigma, query, _key = self._parts(params)
        if memory is None:
            return super().sample(mixture, base, temperature, seed)
        keys, values, known = memory
        log_w, means, log_sigma = self.split(mixture, base)             # [B,K] [B,K,D]
        scores = tf.einsum("bk,bwk->bw", query, keys) / math.sqrt(self.recall_dims)
        scores = tf.where(known[None, :], scores, NO_RECALL)
        log_recall = tf.math.log_sigmoid(gate)[:, None] + tf.nn.log_softmax(scores, axis=-1)
        log_recall = tf.where(tf.reduce_any(known), log_recall, NO_RECALL)
        log_weights = tf.concat(
            [tf.math.log_sigmoid(-gate)[:, None] + log_w, log_recall], axis=-1)
        all_means = tf.concat([means, self._to_basis(values)], axis=1)  # [B, K+W, D]
        window = tf.shape(values)[1]
        recall_sigma = tf.repeat(recall_log_sigma[:, None, :], window, axis=1)
        all_log_sigma = tf.concat([log_sigma, recall_sigma], axis=1)
        seeds = tf.random.experimental.stateless_split(seed, 2)
        uniform = tf.random.stateless_uniform(
            tf.shape(log_weights), seed=seeds[0], minval=1e-7, maxval=1.0 - 1e-7)
        gumbel = -tf.math.log(-tf.math.log(uniform))
        drawn = tf.argmax(log_weights + gumbel, axis=-1, output_type=tf.int32)
        k = tf.where(temperature > 0, drawn, self._most_likely(log_weights))
        mean = tf.gather(all_means, k, batch_dims=1)
        sigma = tf.exp(tf.gather(all_log_sigma, k, batch_dims=1))
        noise = tf.random.stateless_normal(tf.shape(mean), seed=seeds[1])
        if self.noise_scale != 1.0 or self.quiet_directions:
            noise = noise * tf.constant(self.noise_mask())
        return self._from_basis(mean + temperature * sigma * noise)

    def _most_likely(self, log_weights: Any) -> Any:
        """Temperature 0: the likelier of the two parts (the mixture's K Gaussians or the
        recall's window, by total weight), then that part's likeliest component. The
        likeliest single component would be wrong: a sound that came back four times in
        the window splits the recall's weight four ways."""
        import tensorflow as tf

        k = self.components
        mixture, recall = log_weights[:, :k], log_weights[:, k:]
        use_recall = tf.reduce_logsumexp(recall, axis=-1) > tf.reduce_logsumexp(mixture, axis=-1)
        return tf.where(use_recall, k + tf.argmax(recall, axis=-1, output_type=tf.int32),
                        tf.argmax(mixture, axis=-1, output_type=tf.int32))
