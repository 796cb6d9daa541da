"""lstm_lm's replay (``recall_follow``, ``recall_beat``, ``recall_accent``): generation goes on
through the prompt's moments in their order, jumps only by whole beats, and gives each frame
the prompt's attack at the moment replayed (issue 21: a continuation with its prompt's beat).

What a listener notices: a continuation of a click track clicks at the prompt's period with
the replay, and not without it. Underneath: the prompt's beat period is found, a jump keeps
its phase, the pointer goes on through the song segment and through a shifting recent window,
the options change sampling only, and a replay option without what it needs is an error
that names it.
"""

from __future__ import annotations

import numpy as np
import pytest
from kara_lstm.lm.model import LmOptions, LstmLm

from kara_core.testkit.models import FRAME_DIM

PERIOD = 12
"""The click track's beat, in frames."""
SONG = 8 * PERIOD
"""Frames of the prompt the recall reads (``song_frames``)."""
REPLAY = {"layers": 1, "units": 12, "crop_frames": 16, "components": 2, "input_frames": 8,
          "output_frames": 4, "head": "mixture", "noise_scale": 0.3, "recall_song": True,
          "song_frames": SONG, "recall_draw": True}


def click_track(frames: int, period: int = PERIOD, seed: int = 0) -> np.ndarray:
    """A strike every ``period`` frames in every feature, decaying by half a frame, over a
    little noise."""
    rng = np.random.default_rng(seed)
    phase = np.arange(frames) % period
    strike = np.where(phase < 4, 2.0 * 0.5 ** phase, 0.0)
    return (strike[:, None] + 0.05 * rng.standard_normal((frames, FRAME_DIM))).astype(np.float32)


def pulse(frames: np.ndarray, low: int = PERIOD // 2, high: int = 4 * PERIOD) -> tuple[float, int]:
    """``(clarity, lag)``: the highest normalised autocorrelation of the frames' onset
    envelope (their rise summed over the features) at lags ``low``-``high``, as the
    ``pulse`` measure computes it on audio."""
    onset = np.maximum(np.diff(frames, axis=0), 0.0).sum(axis=1)
    centred = onset - onset.mean()
    energy = float(centred @ centred)
    scores = {lag: float(centred[:-lag] @ centred[lag:]) / energy for lag in range(low, high + 1)}
    lag = max(scores, key=lambda k: scores[k])
    return scores[lag], lag


def models(base: dict[str, object] = REPLAY, **replay: object) -> tuple[LstmLm, LstmLm]:
    """The same weights sampled with the options ``base``, without and with the sampling
    options ``replay``."""
    plain = LstmLm(LmOptions(**base), frame_dim=FRAME_DIM, seed=0)
    replaying = LstmLm(LmOptions(**{**base, **replay}), frame_dim=FRAME_DIM, seed=0)
    assert plain.signature() == replaying.signature()  # sampling only: the weights load
    plain._ensure_built()
    replaying._ensure_built()
    replaying._net.set_weights(plain._net.get_weights())
    return plain, replaying


def test_a_click_track_is_continued_on_its_beat_with_the_replay_and_not_without():
    plain, replaying = models(recall_follow=1.0, recall_beat=4 * PERIOD, recall_accent=1.0)
    prompt = click_track(SONG)
    for seed in (1, 2):
        with_replay = replaying.generate(prompt, 10 * PERIOD, temperature=1.0, seed=seed)
        without = plain.generate(prompt, 10 * PERIOD, temperature=1.0, seed=seed)
        clarity, lag = pulse(with_replay)
        assert clarity > 0.45 and min(lag % PERIOD, PERIOD - lag % PERIOD) <= 1
        assert pulse(without)[0] < 0.3
        assert np.array_equal(with_replay,
                              replaying.generate(prompt, 10 * PERIOD, temperature=1.0, seed=seed))


def test_with_fresh_sounds_and_the_groove_a_click_track_still_keeps_its_beat():
    """``recall_content: draw`` (the head reads a moment drawn afresh, not the one replayed)
    and ``recall_groove`` (the accent averaged over the prompt's beats) with noise that
    goes on from frame to frame: the beat comes from the accent alone, and is kept."""
    plain, replaying = models(recall_follow=1.0, recall_beat=4 * PERIOD, recall_accent=2.0,
                              recall_content="draw", recall_groove=True, noise_memory=0.9)
    prompt = click_track(SONG)
    for seed in (1, 2):
        clarity, lag = pulse(replaying.generate(prompt, 10 * PERIOD, temperature=1.0,
                                                seed=seed))
        assert clarity > 0.45 and min(lag % PERIOD, PERIOD - lag % PERIOD) <= 1
        assert pulse(plain.generate(prompt, 10 * PERIOD, temperature=1.0, seed=seed))[0] < 0.3


def test_the_groove_keeps_every_beats_attack_and_spreads_a_one_off_change():
    """The groove of a click track with one extra change at one moment: the clicks stay
    whole at every beat, the one-off change is shared by the moments at its phase of every
    beat (a melody's change is not an attack the beat makes); without a period, nothing
    is averaged."""
    import tensorflow as tf
    from kara_lstm.lm.replay import groove

    clicks = np.diff(click_track(SONG), axis=0)
    phase = np.arange(SONG - 1)[:, None] % PERIOD
    smooth = np.where((phase == PERIOD - 1) | (phase < 3), clicks, 0.0)  # rise and decay
    one_off = smooth.copy()
    one_off[40] += 6.0
    both = tf.constant(np.stack([one_off, one_off]).astype(np.float32))
    folded = groove(both, tf.constant([PERIOD, 0])).numpy()
    beats = (SONG - 1 - 40 % PERIOD + PERIOD - 1) // PERIOD  # moments at entry 40's phase
    assert np.allclose(folded[1], one_off, atol=1e-5)
    assert np.allclose(folded[0][PERIOD:2 * PERIOD], folded[0][3 * PERIOD:4 * PERIOD],
                       atol=1e-5)  # every beat the same
    assert folded[0][40].mean() == pytest.approx(
        smooth[40 % PERIOD::PERIOD].mean() + 6.0 / beats, abs=1e-3)
    attack = smooth[PERIOD - 1::PERIOD].mean(axis=0)  # the rise into each click
    assert np.allclose(folded[0][PERIOD - 1], attack, atol=1e-4) and attack.mean() > 1.5


def test_noise_memory_makes_the_continuation_wander_farther():
    """Noise that goes on from frame to frame: each frame's noise is as large, but the
    steps line up (consecutive changes correlate), so the continuation moves farther from
    where it was (a loop does not come back frozen); repeatable per seed; nothing at
    temperature 0. On the mixture alone, with its full noise."""
    plain, wandering = models({**REPLAY, "noise_scale": 1.0, "recall_song": False,
                               "recall_draw": False}, noise_memory=0.95)
    prompt = click_track(SONG)
    spread, lined_up = {}, {}
    for name, model in (("plain", plain), ("wandering", wandering)):
        out = model.generate(prompt, 300, temperature=1.0, seed=3)
        assert np.array_equal(out, model.generate(prompt, 300, temperature=1.0, seed=3))
        changes = np.diff(out, axis=0)
        changes -= changes.mean(axis=0)
        spread[name] = float(out.std(axis=0).mean())
        lined_up[name] = float((changes[1:] * changes[:-1]).sum()
                               / np.sqrt((changes[1:] ** 2).sum() * (changes[:-1] ** 2).sum()))
    assert spread["wandering"] > 1.5 * spread["plain"]
    assert lined_up["wandering"] > 0.4 and lined_up["plain"] < 0.2
    assert np.allclose(plain.generate(prompt, 30, temperature=0.0),
                       wandering.generate(prompt, 30, temperature=0.0), atol=1e-5)


def test_at_temperature_0_the_replay_changes_nothing():
    """Nothing is drawn at temperature 0 (the most likely continuation): no pointer, no
    accent."""
    plain, replaying = models(recall_follow=1.0, recall_beat=4 * PERIOD, recall_accent=1.0)
    prompt = click_track(SONG)
    assert np.allclose(plain.generate(prompt, 30, temperature=0.0),
                       replaying.generate(prompt, 30, temperature=0.0), atol=1e-5)


def test_the_beat_period_of_a_click_track_is_found():
    import tensorflow as tf
    from kara_lstm.lm.replay import beat_period

    for period in (9, PERIOD, 20):
        found = beat_period(tf.constant(click_track(SONG, period)[None]), 4, 4 * PERIOD)
        assert int(found.numpy()[0]) == period
    too_short = beat_period(tf.constant(click_track(6)[None]), 4, 4 * PERIOD)
    assert int(too_short.numpy()[0]) == 0


def test_the_pointer_goes_on_and_jumps_keep_the_phase():
    """With chance 1 the entry after the last one drawn is drawn: the next song entry
    (``p + 1``), or in the recent window, which shifts by one frame a step, the same
    index. Where it cannot go on (the end of the segment), the attention's weights are
    kept only a whole number of periods from where it would have gone."""
    import tensorflow as tf
    from kara_lstm.lm.replay import follow_weights

    known = tf.constant([True] * 9 + [False])
    weights = tf.tile(tf.where(known, 1.0 / 9, 0.0)[None], [3, 1])
    pointer = tf.constant([5, 2, 8])  # a song entry, a recent entry, the segment's last
    period = tf.constant([5, 5, 5])
    chances = follow_weights(weights, known, (pointer, 1.0, 4, period)).numpy()
    assert np.argmax(chances[0]) == 6 and chances[0, 6] == pytest.approx(1.0)
    assert np.argmax(chances[1]) == 2 and chances[1, 2] == pytest.approx(1.0)
    # entry 9 (the one after 8) is unknown: a jump to 4 (9 - 5) or 0 (9 - 10, rounding to
    # the frame: 3-5, 0 and 8)
    assert set(np.flatnonzero(chances[2] > 0)) == {0, 3, 4, 5, 8}
    assert chances[2].sum() == pytest.approx(1.0)


@pytest.mark.parametrize(("options", "named"), [
    ({"recall_follow": 0.9, "recall_song": False}, "recall_follow"),
    ({"recall_follow": 0.9, "recall_draw": False}, "recall_follow"),
    ({"recall_accent": 1.0}, "recall_follow"),
    ({"recall_beat": 48}, "recall_follow"),
    ({"recall_content": "draw"}, "recall_content"),
    ({"recall_follow": 1.0, "recall_accent": 1.0, "recall_groove": True}, "recall_groove"),
    ({"recall_follow": 1.0, "recall_beat": 48, "recall_groove": True}, "recall_groove"),
])
def test_a_replay_option_without_what_it_needs_is_an_error_naming_it(options, named):
    with pytest.raises(ValueError, match=named):
        LmOptions(**{**REPLAY, **options})


@pytest.mark.parametrize("frames", [0, 1, 2, 5])
def test_a_prompt_too_short_for_a_beat_still_generates(frames):
    """A prompt of a few frames (``kara generate --prompt`` of a tiny file) has no beat to
    find and little or nothing to replay: the continuation is still made, finite."""
    for groove in ({}, {"recall_groove": True, "recall_content": "draw", "noise_memory": 0.9}):
        _, replaying = models(recall_follow=1.0, recall_beat=4 * PERIOD, recall_accent=1.0,
                              **groove)
        out = replaying.generate(click_track(SONG)[:frames], 20, temperature=1.0, seed=1)
        assert out.shape == (20, FRAME_DIM) and np.isfinite(out).all()
