"""Is ``lstm_lm`` learning? Its held-out loss against a naive baseline of its head's kind.

- ``mixture``: negative log-likelihood of the held-out songs' next frames, in bits per
  frame, against one Gaussian with a full covariance fitted to training frames (a model
  that knows which frames occur, not when). A density's NLL can be negative, so the figure
  is the ``gain`` in bits per frame, not a ratio; positive means the model learned
  something. (A *diagonal* Gaussian would be a far weaker baseline: mel bands are strongly
  correlated, and on real music it costs some 220 bits per frame more than the full one.)
- ``tokens``: cross-entropy of the held-out frames' codes in bits, against the codes'
  unigram frequencies on the training frames; ``skill = 1 - model / baseline``.

Both are measured teacher-forced on a fixed, seeded set of crops of the held-out songs.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from kara_core import WindowSource

SCORE_BATCHES = 4
SCORE_BATCH = 16
SCORE_SEED = 12345
BASELINE_BATCHES = 8
RIDGE = 1e-4
"""Added to the baseline Gaussian's covariance diagonal (normalised units): near-constant
bands would otherwise make it singular."""


def heldout_score(model: Any, train: WindowSource, val: WindowSource) -> dict[str, Any] | None:
    """The score :meth:`kara_lstm.lm.model.LstmLm.heldout_score` returns."""
    head = model.options.head
    if head == "mse":
        return None
    crop = model.options.crop_frames
    style, sequence = model.crop_parts(val)
    if sequence < 2 or train.crop_length(crop) < 2:
        return None
    songs = None
    if model.song_frames:  # each held-out crop's song segment from the same held-out song
        pairs = [val.crop_pair_batch(n, SCORE_BATCH, style + sequence, model.song_frames,
                                     SCORE_SEED) for n in range(SCORE_BATCHES)]
        held = np.concatenate([crops for crops, _song in pairs])
        songs = np.concatenate([song for _crops, song in pairs])
    else:
        held = np.concatenate([val.crop_batch(n, SCORE_BATCH, style + sequence, SCORE_SEED)
                               for n in range(SCORE_BATCHES)])
    nats = _teacher_forced_loss(model, held, style, songs)
    targets = held[:, style + 1 :].reshape(-1, model.frame_dim).astype(np.float64)
    if head == "mixture":
        training = np.concatenate([train.crop_batch(n, 32, crop, SCORE_SEED)
                                   for n in range(BASELINE_BATCHES)]).reshape(-1, model.frame_dim)
        baseline = gaussian_nll(training, targets)
        return _result("nll_bits_per_frame", nats / math.log(2), baseline / math.log(2),
                       "one full-covariance Gaussian fitted to training frames")
    codes = model.codebook.assign(targets.astype(np.float32))
    unigram = model.codebook.unigram()
    baseline = float(-np.mean(np.log(unigram[codes])))
    found = _result("cross_entropy_bits", nats / math.log(2), baseline / math.log(2),
                    "the codes' unigram frequencies on the training frames")
    found["skill"] = 1.0 - found["model"] / found["baseline"] if found["baseline"] > 0 else None
    return found


def gaussian_nll(fit_on: np.ndarray, frames: np.ndarray) -> float:
    """Mean NLL (nats per frame) of ``frames`` under one Gaussian fitted to ``fit_on``."""
    x = np.asarray(fit_on, np.float64)
    mean = x.mean(axis=0)
    cov = np.atleast_2d(np.cov(x, rowvar=False)) + RIDGE * np.eye(x.shape[1])
    _sign, logdet = np.linalg.slogdet(cov)
    diff = np.asarray(frames, np.float64) - mean
    mahalanobis = np.sum(diff @ np.linalg.inv(cov) * diff, axis=1)
    return float(np.mean(0.5 * (mahalanobis + logdet + x.shape[1] * math.log(2 * math.pi))))


def _teacher_forced_loss(model: Any, crops: np.ndarray, style: int,
                         songs: np.ndarray | None = None) -> float:
    """The head's mean loss (nats per frame) over every position of ``crops`` after their
    first ``style`` frames (the style part, :meth:`LstmLm.network_inputs`); ``songs``: each
    crop's song segment when the model has a song vector."""
    import tensorflow as tf

    net, head = model._net, model.head
    total, count = 0.0, 0
    for first in range(0, crops.shape[0], SCORE_BATCH):
        song = None if songs is None else tf.constant(songs[first : first + SCORE_BATCH])
        inputs, targets = model.network_inputs(
            tf.constant(crops[first : first + SCORE_BATCH]), style, song)
        params, base = net(inputs, training=False)
        losses = head.loss(params, base, targets).numpy()
        total += float(losses.sum())
        count += losses.size
    return total / max(count, 1)


def _result(measure: str, model: float, baseline: float, kind: str) -> dict[str, Any]:
    return {"measure": measure, "model": model, "baseline": baseline,
            "gain": baseline - model, "baseline_kind": kind}
