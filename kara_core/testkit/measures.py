"""``check_measure``: the contract every measure keeps, checked the way Kara uses it.

A measure is computed on every clip of every run, on clips of any length, on silence and
on clips without the sibling clips pairwise measures compare with: it must return a float
(NaN where it cannot measure) and never raise; its description, direction and targets are
what the table prints, so they must be well formed.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from kara_core.components.measure import Clip, HeldOutMusic, Measure, SongExcerpt
from kara_core.testkit.transforms import music_like_signal

RATE = 22050


def kit_music(seconds: float = 6.0, rate: int = RATE) -> HeldOutMusic:
    """Two short synthetic 'held-out songs' (different seeds of :func:`music_like_signal`)
    with a prompt from each: what a measure meets in a run, in miniature."""
    songs = [SongExcerpt(music_like_signal(seconds, rate, seed), f"song-{seed}.mp3")
             for seed in (1, 2)]
    prompts = [SongExcerpt(s.wave[: rate], s.source) for s in songs]
    return HeldOutMusic(rate=rate, songs=songs, prompts=prompts)


def check_measure(cls: type[Measure], options: Any = None) -> None:
    """Raise :class:`AssertionError` naming the measure and what it broke."""
    name = getattr(cls, "name", None)
    assert isinstance(name, str) and name, f"{cls.__name__}: a measure needs a 'name'"
    where = f"measure {name!r}"
    assert issubclass(cls, Measure), f"{where}: not a subclass of kara_core.Measure"
    assert isinstance(cls.description, str) and cls.description.strip(), (
        f"{where}: 'description' must say what it measures")
    assert cls.direction in ("higher", "lower", "range"), (
        f"{where}: direction must be 'higher', 'lower' or 'range', not {cls.direction!r}")
    for attribute in ("target", "every_clip"):
        bounds = getattr(cls, attribute)
        assert bounds is None or (len(bounds) == 2 and bounds[0] <= bounds[1]), (
            f"{where}: {attribute} must be None or (low, high) with low <= high")
    assert cls.direction != "range" or cls.target is not None or cls.every_clip is not None, (
        f"{where}: a 'range' measure needs a target")
    try:
        format(1.0, cls.fmt)
    except (TypeError, ValueError):
        raise AssertionError(f"{where}: fmt {cls.fmt!r} does not format a float") from None
    measure = cls(options)
    music = kit_music()
    song = music.songs[0].wave
    other = music.songs[1].wave
    clips = {
        "a music-like clip": Clip(song[RATE:], RATE, music.songs[0].source, 0,
                                  other_seed=Clip(song[:-RATE], RATE, music.songs[0].source, 1),
                                  other_song=Clip(other[RATE:], RATE, music.songs[1].source, 0)),
        "silence": Clip(np.zeros(3 * RATE, np.float32), RATE, music.songs[0].source),
        "a clip of 0.1 s": Clip(song[: RATE // 10], RATE, music.songs[0].source),
        "a clip of an unknown song": Clip(song[RATE:], RATE, "elsewhere.mp3"),
    }
    for label, clip in clips.items():
        try:
            value = measure.compute(clip, music)
        except Exception as exc:
            raise AssertionError(f"{where}: raised on {label}: {type(exc).__name__}: {exc}"
                                 ) from exc
        assert isinstance(value, float | int) and not isinstance(value, bool), (
            f"{where}: returned {type(value).__name__} on {label}, not a float")
        assert not math.isinf(value), f"{where}: returned an infinity on {label} (use NaN)"
    again = measure.compute(clips["a music-like clip"], music)
    first = measure.compute(clips["a music-like clip"], music)
    assert (math.isnan(again) and math.isnan(first)) or again == first, (
        f"{where}: two computations of one clip differ ({first} and {again})")
