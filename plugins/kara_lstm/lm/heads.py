"""Output heads of ``lstm_lm``: what the network's last layer predicts about the next
frame, the training loss, and how a frame is drawn from it when generating.

- ``mse``: the next frame itself (regression). Generating adds Gaussian noise of standard
  deviation ``temperature``, as ``lstm_seq2seq`` does. Deterministic at temperature 0: an
  MSE model predicts the average of the possible next frames, and fed its own output it
  falls to a fixed point (a smear); kept as the comparison row.
- ``mixture``: K diagonal Gaussians per frame (a mixture density network, Bishop 1994, as
  Graves 2013 samples handwriting and GIVT samples continuous tokens). Loss: negative
  log-likelihood in nats per frame. Sampling picks a component from the mixture weights,
  then draws ``mean + temperature * sigma * noise``; temperature 0 is the most likely
  component's mean. The Gaussians are diagonal in a *noise basis*: the frame's own features
  (mel bands), or the principal directions of how frames change (``set_basis``). Noise
  independent per mel band sounds like hiss over the music; noise along the directions
  music moves in is louder-and-softer, brighter-and-darker, one harmonic series at a time.
  Two sampling knobs (no retraining): ``noise_scale`` multiplies the Gaussian noise (0:
  only the component is drawn, its mean is the frame), and ``quiet_directions`` leaves the
  first directions of the noise basis (where frames change most: the onsets) without
  noise. Why: per-frame noise adds a random frame-to-frame change everywhere, which
  flattens the onset envelope (its 95th percentile over its median is 27 in real songs, 4.4
  in sampled continuations, issue 21), so attacks stop standing out.
- ``tokens``: a softmax over a k-means codebook of frames (SampleRNN and WaveNet sample a
  softmax over quantised values; MusicGen samples codec tokens). Loss: cross-entropy of the
  nearest code. Sampling: ``logits / temperature``, top-p (nucleus) filtering, then the
  code's centroid plus noise of the code's own spread times ``temperature * noise``
  (exact centroids repeat themselves, which reads as a loop); temperature 0 is the argmax.

Means are relative to a *base* the network computes from the current input frame (zero,
the frame itself, or the frame times a learned gain; see :mod:`kara_lstm.lm.network`); the
tokens head ignores it. Everything here is TensorFlow that runs inside compiled graphs, and
randomness is stateless (``seed`` is an int32 pair), so a seed makes sampling repeatable.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

HEADS = ("mse", "mixture", "tokens")
LOG_SIGMA_MIN = -7.0
"""Bounds of a mixture component's log standard deviation (normalised units): keeps the
likelihood finite when a component collapses onto one training frame."""
LOG_SIGMA_MAX = 3.0


class Head:
    """A head: ``units()`` outputs per position, a per-position loss and a sampler."""

    name = "head"

    def __init__(self, frame_dim: int) -> None:
        self.frame_dim = int(frame_dim)

    def units(self) -> int:
        """Width of the Dense layer that feeds this head."""
        raise NotImplementedError

    def loss(self, params: Any, base: Any, targets: Any) -> Any:
        """Loss of each target frame ``[..., D]`` under ``params [..., units]``: ``[...]``."""
        raise NotImplementedError

    def sample(self, params: Any, base: Any, temperature: Any, seed: Any,
               noise: Any = None) -> Any:
        """One frame ``[B, D]`` per row of ``params [B, units]``; ``noise [B, D]``: the
        standard normal noise to use (``noise_memory``), else drawn from ``seed``."""
        raise NotImplementedError


class MseHead(Head):
    """Regression: the predicted frame; the loss is the mean squared error per feature."""

    name = "mse"

    def units(self) -> int:
        return self.frame_dim

    def loss(self, params: Any, base: Any, targets: Any) -> Any:
        import tensorflow as tf

        return tf.reduce_mean(tf.square(targets - (params + base)), axis=-1)

    def sample(self, params: Any, base: Any, temperature: Any, seed: Any,
               noise: Any = None) -> Any:
        import tensorflow as tf

        frame = params + base
        if noise is None:
            noise = tf.random.stateless_normal(tf.shape(frame), seed=seed)
        return frame + temperature * noise


class MixtureHead(Head):
    """K diagonal Gaussians: ``[logits K | means K*D | log sigmas K*D]`` per position."""

    name = "mixture"

    def __init__(self, frame_dim: int, components: int, noise_scale: float = 1.0,
                 quiet_directions: int = 0) -> None:
        super().__init__(frame_dim)
        self.components = int(components)
        self.basis: Any = None
        """``[D, D]`` orthonormal, one direction a column; ``None``: the features themselves."""
        self.noise_scale = float(noise_scale)
        self.quiet_directions = max(0, min(int(quiet_directions), self.frame_dim))

    def noise_mask(self) -> np.ndarray:
        """``[D]``: what sampling multiplies each direction's noise by (``noise_scale``,
        0 along the first ``quiet_directions``)."""
        mask = np.full(self.frame_dim, self.noise_scale, np.float32)
        mask[: self.quiet_directions] = 0.0
        return mask

    def set_basis(self, basis: np.ndarray | None) -> None:
        """Make the Gaussians diagonal along the columns of ``basis`` (orthonormal ``[D, D]``),
        or along the features themselves (``None``)."""
        import tensorflow as tf

        self.basis = None if basis is None else tf.constant(np.asarray(basis, np.float32))

    def _to_basis(self, x: Any) -> Any:
        """Frame-space vectors ``[..., D]`` -> their coordinates in the noise basis."""
        import tensorflow as tf

        return x if self.basis is None else tf.tensordot(x, self.basis, axes=[[-1], [0]])

    def _from_basis(self, x: Any) -> Any:
        """Coordinates in the noise basis ``[..., D]`` -> frame-space vectors."""
        import tensorflow as tf

        return x if self.basis is None else tf.tensordot(x, self.basis, axes=[[-1], [1]])

    def units(self) -> int:
        return self.components * (1 + 2 * self.frame_dim)

    def split(self, params: Any, base: Any) -> tuple[Any, Any, Any]:
        """``(log weights [.., K], means [.., K, D], log sigmas [.., K, D])``, means and
        sigmas in noise-basis coordinates: the network's outputs *are* those coordinates
        (a linear layer learns either parametrisation), so only ``[.., D]`` vectors are
        ever rotated, never the ``K`` means, and a 513-bin basis costs little."""
        import tensorflow as tf

        k, d = self.components, self.frame_dim
        shape = tf.concat([tf.shape(params)[:-1], [k, d]], axis=0)
        means = tf.reshape(params[..., k : k + k * d], shape) + self._to_basis(base)[..., None, :]
        log_sigma = tf.clip_by_value(
            tf.reshape(params[..., k + k * d :], shape), LOG_SIGMA_MIN, LOG_SIGMA_MAX)
        return tf.nn.log_softmax(params[..., :k], axis=-1), means, log_sigma

    def loss(self, params: Any, base: Any, targets: Any) -> Any:
        """Negative log-likelihood of each target frame, in nats per frame (a rotation
        leaves the density's normalisation, the sum of log sigmas, unchanged)."""
        import tensorflow as tf

        log_w, means, log_sigma = self.split(params, base)
        z = (self._to_basis(targets)[..., None, :] - means) * tf.exp(-log_sigma)
        log_p = -0.5 * tf.square(z) - log_sigma - 0.5 * math.log(2.0 * math.pi)
        return -tf.reduce_logsumexp(log_w + tf.reduce_sum(log_p, axis=-1), axis=-1)

    def sample(self, params: Any, base: Any, temperature: Any, seed: Any,
               noise: Any = None) -> Any:
        import tensorflow as tf

        log_w, means, log_sigma = self.split(params, base)
        seeds = tf.random.experimental.stateless_split(seed, 2)
        uniform = tf.random.stateless_uniform(
            tf.shape(log_w), seed=seeds[0], minval=1e-7, maxval=1.0 - 1e-7)
        gumbel = -tf.math.log(-tf.math.log(uniform))  # Gumbel-max: a draw from the weights
        k = tf.argmax(tf.where(temperature > 0, log_w + gumbel, log_w), axis=-1,
                      output_type=tf.int32)
        mean = tf.gather(means, k, batch_dims=1)
        sigma = tf.exp(tf.gather(log_sigma, k, batch_dims=1))
        if noise is None:
            noise = tf.random.stateless_normal(tf.shape(mean), seed=seeds[1])
        if self.noise_scale != 1.0 or self.quiet_directions:
            noise = noise * tf.constant(self.noise_mask())
        return self._from_basis(mean + temperature * sigma * noise)


class TokensHead(Head):
    """A softmax over codebook entries; :meth:`set_codebook` before use."""

    name = "tokens"

    def __init__(self, frame_dim: int, codes: int, top_p: float, noise: float) -> None:
        super().__init__(frame_dim)
        self.codes = int(codes)
        self.top_p = float(top_p)
        self.noise = float(noise)
        self.centroids: Any = None
        self.scales: Any = None

    def set_codebook(self, centroids: np.ndarray, scales: np.ndarray) -> None:
        """The codebook's ``centroids`` and per-code ``scales`` (numpy ``[codes, D]``)."""
        import tensorflow as tf

        if centroids.shape[0] != self.codes:
            raise ValueError(f"codebook has {centroids.shape[0]} codes, head {self.codes}")
        self.centroids = tf.constant(centroids, tf.float32)
        self.scales = tf.constant(scales, tf.float32)

    def units(self) -> int:
        return self.codes

    def assign(self, frames: Any) -> Any:
        """Nearest code of each frame ``[..., D]`` -> int32 ``[...]``."""
        import tensorflow as tf

        c2 = tf.reduce_sum(tf.square(self.centroids), axis=-1)
        scores = c2 - 2.0 * tf.einsum("...d,vd->...v", frames, self.centroids)
        return tf.argmin(scores, axis=-1, output_type=tf.int32)

    def loss(self, params: Any, base: Any, targets: Any) -> Any:
        """Cross-entropy (nats) of each target frame's nearest code."""
        import tensorflow as tf

        return tf.nn.sparse_softmax_cross_entropy_with_logits(self.assign(targets), params)

    def sample(self, params: Any, base: Any, temperature: Any, seed: Any,
               noise: Any = None) -> Any:
        import tensorflow as tf

        seeds = tf.random.experimental.stateless_split(seed, 2)
        logits = params / tf.maximum(temperature, 1e-6)
        if self.top_p < 1.0:
            logits = top_p_filter(logits, self.top_p)
        drawn = tf.random.stateless_categorical(logits, 1, seed=seeds[0])[:, 0]
        code = tf.cast(tf.where(temperature > 0, drawn, tf.argmax(params, axis=-1)), tf.int32)
        centre = tf.gather(self.centroids, code)
        spread = tf.gather(self.scales, code) * (self.noise * temperature)
        if noise is None:
            noise = tf.random.stateless_normal(tf.shape(centre), seed=seeds[1])
        return centre + spread * noise


def top_p_filter(logits: Any, top_p: float) -> Any:
    """``logits [B, V]`` with every class outside the smallest set of probability at least
    ``top_p`` (the nucleus, Holtzman et al. 2020) set to -1e9; the top class always stays."""
    import tensorflow as tf

    order = tf.argsort(logits, axis=-1, direction="DESCENDING")
    ranked = tf.gather(logits, order, batch_dims=1)
    before = tf.cumsum(tf.nn.softmax(ranked, axis=-1), axis=-1, exclusive=True)
    first = tf.one_hot(tf.zeros(tf.shape(logits)[:1], tf.int32), tf.shape(logits)[1]) > 0
    keep_ranked = (before < top_p) | first
    # back to the original class order: the rank of class v is where v sits in ``order``
    ranks = tf.argsort(order, axis=-1)
    keep = tf.gather(keep_ranked, ranks, batch_dims=1)
    return tf.where(keep, logits, tf.fill(tf.shape(logits), -1e9))


def make_head(name: str, frame_dim: int, *, components: int = 8, codes: int = 1024,
              top_p: float = 0.95, noise: float = 1.0, noise_scale: float = 1.0,
              quiet_directions: int = 0) -> Head:
    """The head called ``name`` (one of :data:`HEADS`)."""
    if name == "mse":
        return MseHead(frame_dim)
    if name == "mixture":
        return MixtureHead(frame_dim, components, noise_scale, quiet_directions)
    if name == "tokens":
        return TokensHead(frame_dim, codes, top_p, noise)
    raise ValueError(f"unknown head {name!r}; expected one of {', '.join(HEADS)}")
