"""Does a continuation still sound like the song it continues, or like the collection at large?

``own_song`` is the Fréchet distance of a clip's log-mel frames (and deltas) over its last
:data:`LAST_SECONDS` (where a model that forgets its prompt has forgotten it) to the song
its prompt came from, over the median of its distances to the other held-out songs. Below 1 the
continuation still sounds like its own song; about 1 it has drifted to the collection's
average sound, which the pooled ``fd_ratio`` of :mod:`kara_core.measures.music` rewards
rather than punishes. It is not divided by real music's value, which depends on how alike
the collection's songs are: :class:`SongReferences` keeps that value (``real``) to print
beside it.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from kara_core.audio.spectral import frechet_distance_from_stats
from kara_core.components.measure import Clip, HeldOutMusic, Measure
from kara_core.measures.music import (
    Yardstick,
    analysis_hop,
    frame_stats,
    mel_frames,
    ratio,
    with_deltas,
    yardstick_for,
)

LAST_SECONDS = 10.0
"""A clip's own song is measured over its last this many seconds."""


@dataclass(frozen=True)
class SongReferences:
    """Each held-out song's frame statistics, to tell whether a clip still sounds like the
    song its prompt came from rather than like the collection in general (``own_song``).

    :ivar names: the songs, as the prompts name their sources.
    :ivar stats: ``(mean, covariance)`` of each song's log-mel frames and deltas.
    :ivar real: the median ``own_song`` of real excerpts as long as the clips: each song's
        second half measured against its first half and the other songs.
    """

    names: tuple[str, ...]
    stats: tuple[tuple[np.ndarray, np.ndarray], ...]
    real: float


def song_references(
    songs: Sequence[np.ndarray], names: Sequence[str], yard: Yardstick,
) -> SongReferences | None:
    """The references for clips measured against ``yard``; ``None`` with fewer than two
    named songs (there is nothing to tell the prompt's song apart from)."""
    named = [(str(n), np.asarray(s, np.float32)) for n, s in zip(names, songs, strict=True)
             if len(s) > 0]
    if len({n for n, _s in named}) < 2 or len(named) != len({n for n, _s in named}):
        return None
    frames = [mel_frames(s, yard.rate, yard.floor_db) for _n, s in named]
    stats = tuple(frame_stats(with_deltas(f)) for f in frames)
    length = max(2, round(yard.seconds * yard.rate / analysis_hop(yard.rate)))
    real = []
    for number, song in enumerate(frames):
        half = song.shape[0] // 2
        if half < 2:
            continue
        excerpt = frame_stats(with_deltas(song[half : half + length]))
        own = frechet_distance_from_stats(*excerpt, *frame_stats(with_deltas(song[:half])))
        others = [frechet_distance_from_stats(*excerpt, *s)
                  for other, s in enumerate(stats) if other != number]
        real.append(ratio(own, float(np.median(others))))
    finite = [v for v in real if math.isfinite(v)]
    return SongReferences(
        names=tuple(n for n, _s in named), stats=stats,
        real=float(np.median(finite)) if finite else float("nan"),
    )


def own_song(wave: np.ndarray, source: str, references: SongReferences,
             yard: Yardstick) -> float:
    """A clip's ``own_song`` (see the module docstring): NaN when ``source`` is not among
    the references' songs."""
    if source not in references.names:
        return float("nan")
    clip = frame_stats(with_deltas(mel_frames(wave, yard.rate, yard.floor_db)))
    index = references.names.index(source)
    distances = [frechet_distance_from_stats(*clip, *s) for s in references.stats]
    others = [d for number, d in enumerate(distances) if number != index]
    return ratio(distances[index], float(np.median(others)))


class OwnSong(Measure):
    """Over its last 10 s, is the clip nearer its prompt's song than the other songs?"""

    name = "own_song"
    description = (f"over the clip's last {LAST_SECONDS:g} s, its distance to its prompt's "
                   "song over its distance to the other held-out songs (real excerpts about "
                   "0.15; 1 = no trace of its song)")
    direction = "lower"
    target = (0.0, 0.6)
    header = "own song\nlast 10 s"
    order = 70

    def compute(self, clip: Clip, music: HeldOutMusic) -> float:
        tail = clip.last(LAST_SECONDS)
        yard = yardstick_for(music, tail.seconds)
        references = music.memo(("own_song", round(tail.seconds, 3)), lambda: song_references(
            music.waves, music.names, yard))
        if references is None:
            return float("nan")
        return own_song(tail.wave, clip.source, references, yard)
