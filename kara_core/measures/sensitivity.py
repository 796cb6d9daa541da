"""Does the continuation depend on its prompt? Prompt sensitivity.

Two prompts from *different* held-out songs are continued with the *same* seed. A model
that forgets its prompt turns both into the same audio (with one seed, its noise is the
same); one that carries the prompt forward keeps them as different as the songs.
``prompt_sensitivity`` is the mean distance between the two continuations' log-mel frames
over their last :data:`LAST_SECONDS`, over the same distance between real excerpts of the
two songs: 0 = the prompt is forgotten, about 1 = as different as the songs.

It is one clip's value: a run pairs *every* clip with a prompt of another song (its
partner, continued with the clip's seed), so the variant's ``prompt_sensitivity`` is the
median over those pairs and its worst the least sensitive pair. A model that carries only
some prompts forward (one pair would pass it if the pair fell on one of them) gets a low
median.

It is not ``diversity`` (one prompt, two seeds: does the *seed* matter?); a model can be
diverse and still ignore its prompt.
"""

from __future__ import annotations

import math

import numpy as np

from kara_core.components.measure import Clip, HeldOutMusic, Measure
from kara_core.measures.music import clip_frames, mel_frames, pair_distance, ratio, yardstick_for

LAST_SECONDS = 10.0
"""The continuations are compared over their last this many seconds."""
PAIRS = 3
"""Aligned excerpt pairs of two songs whose median distance is the songs' distance."""


def songs_distance(a: np.ndarray, b: np.ndarray, rate: int, seconds: float,
                   floor: float) -> float:
    """The median distance between :data:`PAIRS` aligned ``seconds`` excerpts of songs
    ``a`` and ``b`` (at the starts, middles and ends of the shorter); NaN when empty."""
    size = max(1, round(seconds * rate))
    room = max(0, min(len(a), len(b)) - size)
    starts = sorted({round(room * k / max(1, PAIRS - 1)) for k in range(PAIRS)})
    found = []
    for start in starts:
        x, y = a[start : start + size], b[start : start + size]
        if len(x) and len(y):
            found.append(pair_distance(mel_frames(x, rate, floor), mel_frames(y, rate, floor)))
    finite = [v for v in found if math.isfinite(v)]
    return float(np.median(finite)) if finite else float("nan")


class PromptSensitivity(Measure):
    """Same seed, prompts of two songs: how different the continuations stay."""

    name = "prompt_sensitivity"
    description = ("continuations of prompts from two different songs made with the SAME "
                   f"seed: their distance over the last {LAST_SECONDS:g} s over the songs' "
                   "distance (0 = the prompt is forgotten)")
    direction = "higher"
    target = (0.5, math.inf)
    header = "prompt\nsensitivity"
    order = 45

    def compute(self, clip: Clip, music: HeldOutMusic) -> float:
        other = clip.other_song
        if other is None or other.source == clip.source:
            return float("nan")
        first, second = music.song(clip.source), music.song(other.source)
        if first is None or second is None:
            return float("nan")
        a, b = clip.last(LAST_SECONDS), other.last(LAST_SECONDS)
        yard = yardstick_for(music, a.seconds)
        apart = pair_distance(clip_frames(a.wave, a.rate, yard.floor_db),
                              clip_frames(b.wave, b.rate, yard.floor_db))
        key = ("songs_distance", *sorted((clip.source, other.source)), round(a.seconds, 3))
        songs = music.memo(key, lambda: songs_distance(
            first.wave, second.wave, music.rate, a.seconds, yard.floor_db))
        return ratio(apart, songs)
