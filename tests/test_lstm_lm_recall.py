"""lstm_lm's recall (``recall_frames``): the mixture head may draw the next frame as one
that followed an earlier moment, found by attention (issue 21: continue *this* song).

The loss is the stated mixture density (checked against a direct sum), the model meets the
Model contract, the option joins the weights' signature only when on, and on music made
of a repeating pattern of unpredictable frames, recall learns what the plain mixture
cannot: a lower loss, and a continuation that keeps repeating its prompt's pattern.
"""

from __future__ import annotations

import math

import numpy as np
from kara_lstm.lm.model import LmOptions, LstmLm
from kara_lstm.lm.recall import RECALL_LOG_SIGMA_MIN, RecallMixtureHead

from kara_core.components import FitSettings
from kara_core.pipeline.train.windows import WindowSet
from kara_core.testing import check_model
from kara_core.testkit.models import FRAME_DIM

RECALL = {"layers": 1, "units": 12, "crop_frames": 16, "components": 2, "input_frames": 8,
          "output_frames": 4, "recall_frames": 6, "recall_dims": 4}


def test_the_recall_loss_is_the_mixture_density_summed_directly():
    import tensorflow as tf

    frame_dim, components, length, window, dims = 5, 2, 7, 3, 4
    head = RecallMixtureHead(frame_dim, components, window, dims)
    rng = np.random.default_rng(0)
    params = rng.normal(size=(2, length, head.units())).astype(np.float32) * 0.5
    base = rng.normal(size=(2, length, frame_dim)).astype(np.float32)
    targets = rng.normal(size=(2, length, frame_dim)).astype(np.float32)
    got = head.loss(tf.constant(params), tf.constant(base), tf.constant(targets)).numpy()

    first = components * (1 + 2 * frame_dim)
    mixture = head._mixture_log_p(tf.constant(params[..., :first]), tf.constant(base),
                                  tf.constant(targets)).numpy()
    for b in range(2):
        for i in range(length):
            p = params[b, i]
            earlier = [j for j in range(length) if 1 <= i - j <= window]
            if not earlier:  # nothing to recall: the mixture alone
                assert math.isclose(got[b, i], -mixture[b, i], abs_tol=1e-4)
                continue
            log_sigma = np.clip(p[first + 1 : first + 1 + frame_dim], RECALL_LOG_SIGMA_MIN, 3)
            query = p[first + 1 + frame_dim : first + 1 + frame_dim + dims]
            scores = np.array([query @ params[b, j, first + 1 + frame_dim + dims :]
                               for j in earlier]) / math.sqrt(dims)
            attention = np.exp(scores - scores.max())
            attention /= attention.sum()
            density = sum(a * np.prod(np.exp(-0.5 * ((targets[b, i] - targets[b, j])
                                                     / np.exp(log_sigma)) ** 2)
                                      / (np.exp(log_sigma) * math.sqrt(2 * math.pi)))
                          for a, j in zip(attention, earlier, strict=True))
            gate = 1.0 / (1.0 + math.exp(-p[first]))
            want = -math.log((1 - gate) * math.exp(mixture[b, i]) + gate * density)
            assert math.isclose(got[b, i], want, rel_tol=1e-4, abs_tol=1e-4)


def test_a_recall_model_meets_the_model_contract():
    check_model(LstmLm, **{**RECALL, "head": "mixture", "noise_basis": "changes"})


def test_recall_is_in_the_signature_only_when_on():
    """Weights saved before the option existed still load: the signature is unchanged."""
    off = LstmLm(LmOptions(**{**RECALL, "recall_frames": 0}), frame_dim=FRAME_DIM).signature()
    assert "recall_frames" not in off and "recall_dims" not in off
    on = LstmLm(LmOptions(**RECALL), frame_dim=FRAME_DIM).signature()
    assert (on["recall_frames"], on["recall_dims"]) == (6, 4)


PERIOD = 7


def patterned(frames: int, seed: int) -> np.ndarray:
    """A song that repeats ``PERIOD`` random frames: the next frame is unpredictable from
    the last one, and certain from the frame ``PERIOD`` earlier."""
    pattern = np.random.default_rng(seed).normal(size=(PERIOD, 4)).astype(np.float32)
    return np.tile(pattern, (frames // PERIOD + 1, 1))[:frames]


def fitted(recall_frames: int) -> tuple[LstmLm, float]:
    model = LstmLm(LmOptions(layers=1, units=24, crop_frames=40, components=2,
                             recall_frames=recall_frames, recall_dims=8,
                             noise_basis="features"), frame_dim=4, seed=0)
    data = WindowSet([patterned(400, seed) for seed in range(8)], 8, 4, stride=4)
    result = model.fit(data, data, FitSettings(epochs=3, batch_size=16, steps_per_epoch=60,
                                               learning_rate=1e-2))
    return model, float(result.history["loss"][-1])


def test_recall_learns_to_continue_a_repeating_prompt_where_the_mixture_cannot():
    """On a pattern never trained, the recall model's continuation is made of the prompt's
    frames (at temperature 1 as well as 0); the plain mixture's is not."""
    plain, plain_loss = fitted(0)
    recall, recall_loss = fitted(24)
    assert recall_loss < plain_loss - 2.0  # nats per frame: the pattern is predictable now
    prompt = patterned(30, 99)

    def kept(model: LstmLm, temperature: float) -> float:
        """The fraction of continuation frames within 0.1 of one of the prompt's frames."""
        out = model.generate(prompt, 40, temperature=temperature, seed=3)
        nearest = np.abs(out[:, None, :] - prompt[None, :PERIOD, :]).mean(axis=-1).min(axis=1)
        return float(np.mean(nearest < 0.1))

    assert kept(recall, 0.0) >= 0.9 and kept(recall, 1.0) >= 0.7
    assert kept(plain, 0.0) <= 0.1 and kept(plain, 1.0) <= 0.1
