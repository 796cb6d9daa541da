"""The music measures (kara_core.measures.music) score each failure mode as they promise.

Real-like audio (the test kit's music-like signal, other seeds than the yardstick's songs)
scores near 1 on every ratio; a frozen frame, an exact loop, a smear and silence each fall
where the module's docstring says. Small sizes: 8 kHz, 6 s clips.
"""

from __future__ import annotations

import numpy as np
import pytest

from kara_core.measures import music
from kara_core.testkit.transforms import music_like_signal

RATE = 8000
SECONDS = 6.0


@pytest.fixture(scope="module")
def yard() -> music.Yardstick:
    songs = [music_like_signal(20.0, RATE, seed=s) for s in range(3)]
    return music.yardstick(songs, RATE, SECONDS, count=8, seed=0)


def clip(seed: int = 10) -> np.ndarray:
    return music_like_signal(SECONDS, RATE, seed=seed)


def test_real_like_varying_audio_scores_near_one(yard):
    scores = [music.measure_clip(clip(seed), yard) for seed in (10, 11, 12)]
    summary = music.summarize(scores)["median"]
    assert 0.8 <= summary["spread"] <= 1.25
    assert 0.75 <= summary["loop"] <= 1.3
    assert summary["fd_ratio"] <= 2.0
    assert abs(summary["level_db"]) < 3.0 and summary["silent"] == 0.0
    assert music.collapse(scores[0]) is None
    assert 0.7 <= music.diversity(clip(10), clip(11), yard) <= 1.4


def test_a_frozen_frame_has_neither_spread_nor_loop(yard):
    t = np.arange(round(SECONDS * RATE)) / RATE
    tone = (0.2 * np.sin(2 * np.pi * 440.0 * t) + 0.1 * np.sin(2 * np.pi * 660.0 * t))
    scores = music.measure_clip(tone.astype(np.float32), yard)
    assert scores["spread"] < 0.5 and scores["loop"] < 0.1  # (the edge frames differ)
    assert scores["fd_ratio"] > 1.5
    assert (music.collapse(scores) or "").startswith("frozen")


def test_an_exact_loop_scores_loop_near_zero_but_keeps_its_spread(yard):
    bar = clip(10)[: RATE // 2 * 2]  # 1 s, a whole number of analysis hops
    looped = np.tile(bar, int(SECONDS) + 1)[: round(SECONDS * RATE)]
    scores = music.measure_clip(looped, yard)
    assert scores["loop"] < 0.3
    assert scores["spread"] > 0.5  # a 1 s bar varies less than 6 s of music, but it varies
    assert (music.collapse(scores) or "").startswith("loop")


def test_a_smear_has_little_spread(yard):
    rng = np.random.default_rng(0)
    noise = rng.normal(size=round(SECONDS * RATE))
    kernel = np.ones(40) / 40.0  # a stationary, slowly varying hiss: what MSE models make
    smear = (0.05 * np.convolve(noise, kernel, mode="same")).astype(np.float32)
    scores = music.measure_clip(smear, yard)
    assert scores["spread"] < 0.5
    assert scores["fd_ratio"] > 1.5
    assert (music.collapse(scores) or "").split(":")[0] in {"smear", "frozen"}


def test_silence_is_silent_far_below_the_music_and_collapsed(yard):
    scores = music.measure_clip(np.zeros(round(SECONDS * RATE), np.float32), yard)
    assert scores["silent"] == 1.0
    assert scores["level_db"] < -60
    assert scores["spread"] < 1e-9
    assert music.misses([scores])  # never meets the targets
    assert music.generation_score(scores) == float("inf")


def test_two_identical_generations_have_no_diversity(yard):
    assert music.diversity(clip(10), clip(10), yard) == 0.0


def test_misses_names_each_target_and_each_collapsed_clip():
    good = {"fd_ratio": 0.5, "spread": 1.0, "loop": 0.9, "level_db": -2.0}
    assert music.misses([good] * 6) == []
    bad = [*([good] * 5), {**good, "loop": 0.2}]
    assert any("clip 6: loop" in line for line in music.misses(bad))
    assert any("median spread" in line for line in music.misses([{**good, "spread": 0.3}] * 6))
