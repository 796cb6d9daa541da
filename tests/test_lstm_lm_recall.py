"""lstm_lm's recall (``recall_frames``): the head reads the frames that followed the earlier
moments most like now, found by attention (issue 21: continue *this* song).

Generation recalls what training recalls (step by step against the whole-sequence graph),
the model meets the Model contract, the option joins the weights' signature only when on,
and on songs made of a repeating pattern of unpredictable frames, recall predicts what the
plain mixture cannot.
"""

from __future__ import annotations

import numpy as np
import pytest
from kara_lstm.lm.model import LmOptions, LstmLm

from kara_core.components import FitSettings
from kara_core.pipeline.train.windows import WindowSet
from kara_core.testing import check_model
from kara_core.testkit.models import FRAME_DIM, sequence

RECALL = {"layers": 1, "units": 12, "crop_frames": 16, "components": 2, "input_frames": 8,
          "output_frames": 4, "recall_frames": 6, "recall_dims": 4}


@pytest.mark.parametrize(("recall_frames", "recall_song"), [(20, False), (20, True), (0, True)])
def test_generation_recalls_exactly_what_training_recalls(recall_frames, recall_song):
    """Step by step, the rollout's window of keys and frames gives the head what the
    training graph's attention over the whole sequence gives it: each frame generated at
    temperature 0 (mse head: the prediction itself) is the training graph's prediction
    for the prompt and the frames generated before it (with ``recall_song``, the song
    segment being the prompt's last ``song_frames`` frames; with ``recall_frames: 0``,
    that segment alone)."""
    import tensorflow as tf

    options = {**RECALL, "head": "mse", "recall_frames": recall_frames,
               "recall_song": recall_song, "song_frames": 10}
    model = LstmLm(LmOptions(**options), frame_dim=FRAME_DIM, seed=0)
    model._ensure_built()
    for prompt_frames, steps in ((30, 12), (5, 6)):  # 5: nothing recent to recall yet
        prompt = sequence(prompt_frames, seed=3)
        generated = model.generate(prompt, steps, temperature=0.0)
        whole = tf.constant(np.concatenate([prompt, generated])[None])
        inputs = [whole, tf.constant(prompt[None, -10:])] if recall_song else whole
        params, base = model._net(inputs)
        predicted = (params + base).numpy()[0, len(prompt) - 1 : -1]
        assert np.allclose(generated, predicted, atol=1e-4)


@pytest.mark.parametrize("recall_song", [False, True])
def test_a_recall_model_meets_the_model_contract(recall_song):
    check_model(LstmLm, **{**RECALL, "head": "mixture", "noise_basis": "changes",
                           "recall_song": recall_song, "song_frames": 10})


def test_recall_is_in_the_signature_only_when_on():
    """Weights saved before the option existed still load: the signature is unchanged."""
    off = LstmLm(LmOptions(**{**RECALL, "recall_frames": 0}), frame_dim=FRAME_DIM).signature()
    assert "recall_frames" not in off and "recall_dims" not in off
    on = LstmLm(LmOptions(**RECALL), frame_dim=FRAME_DIM).signature()
    assert (on["recall_frames"], on["recall_dims"]) == (6, 4) and "recall_song" not in on
    song = LstmLm(LmOptions(**RECALL, recall_song=True, song_frames=9),
                  frame_dim=FRAME_DIM).signature()
    assert (song["recall_song"], song["song_frames"]) == (True, 9)


PERIOD = 7


def patterned(frames: int, seed: int) -> np.ndarray:
    """A song that repeats ``PERIOD`` random frames: the next frame is unpredictable from
    the last one, and certain from the frame ``PERIOD`` earlier."""
    pattern = np.random.default_rng(seed).normal(size=(PERIOD, 4)).astype(np.float32)
    return np.tile(pattern, (frames // PERIOD + 1, 1))[:frames]


def fitted(recall_frames: int) -> float:
    """Held-out loss (bits per frame) of a model trained on 64 patterned songs, scored on 8
    other ones: no pattern can be memorised, only recalled."""
    model = LstmLm(LmOptions(layers=1, units=24, crop_frames=48, components=2,
                             recall_frames=recall_frames, recall_dims=16,
                             noise_basis="features"), frame_dim=4, seed=0)
    train = WindowSet([patterned(120, seed) for seed in range(64)], 8, 4, stride=4)
    held_out = WindowSet([patterned(120, 1000 + seed) for seed in range(8)], 8, 4, stride=4)
    model.fit(train, held_out, FitSettings(epochs=3, batch_size=16, steps_per_epoch=60,
                                           learning_rate=1e-2))
    score = model.heldout_score(train, held_out)
    assert score is not None
    return float(score["model"])


def test_recall_predicts_music_that_repeats_itself_where_the_mixture_cannot():
    """A pattern repeating every 7 frames is unpredictable from the last frames and certain
    from the frames 21 back (a lag recall reaches, 16-24): in 180 steps the recall model's
    held-out loss falls far below the plain mixture's (measured: 3.9 against 10.9 bits)."""
    assert fitted(24) < fitted(0) - 4.0


def test_recall_draw_changes_only_sampling_and_is_repeatable():
    """``recall_draw`` draws one recalled frame at a temperature above 0: the same weights
    (signature unchanged), a repeatable continuation for a seed, another one than the
    weighted mean's, and at temperature 0 exactly the weighted mean's."""
    options = {**RECALL, "recall_frames": 20, "recall_song": True, "song_frames": 10}
    blend = LstmLm(LmOptions(**options), frame_dim=FRAME_DIM, seed=0)
    draw = LstmLm(LmOptions(**options, recall_draw=True), frame_dim=FRAME_DIM, seed=0)
    assert blend.signature() == draw.signature()
    blend._ensure_built()
    draw._ensure_built()
    draw._net.set_weights(blend._net.get_weights())
    prompt = sequence(40, seed=3)
    first = draw.generate(prompt, 20, temperature=1.0, seed=5)
    assert np.array_equal(first, draw.generate(prompt, 20, temperature=1.0, seed=5))
    assert not np.allclose(first, blend.generate(prompt, 20, temperature=1.0, seed=5))
    assert np.allclose(draw.generate(prompt, 20, temperature=0.0),
                       blend.generate(prompt, 20, temperature=0.0), atol=1e-5)


@pytest.mark.parametrize("recall_frames", [0, 20])
def test_a_prompt_too_short_to_recall_from_still_generates(recall_frames):
    """An empty or one-frame prompt leaves nothing to recall (``kara generate --prompt`` of
    a tiny file): the continuation is still made, finite, with or without draws."""
    model = LstmLm(LmOptions(**{**RECALL, "recall_frames": recall_frames, "recall_song": True,
                                "song_frames": 10, "recall_draw": True}), frame_dim=FRAME_DIM)
    model._ensure_built()
    for frames in (0, 1, 2):
        out = model.generate(sequence(40, seed=1)[:frames], 12, temperature=1.0, seed=1)
        assert out.shape == (12, FRAME_DIM) and np.isfinite(out).all()
