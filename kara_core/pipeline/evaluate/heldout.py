"""The held-out music of one variant, read once: prompts, real music to measure against.

Generation, the training judge and the evaluation all need the held-out songs: the first
for its prompts, the others as the yardstick of every measure. :func:`held_out_music`
reads each song's held-out part from its wav once, cuts the prompts from what it read, and
returns a :class:`~kara_core.components.HeldOutMusic` they share (with whatever the measures
derive from it, computed once). When no song is held out, the training songs stand in
(``held_out`` False) and the run says so.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from kara_core.audio.wav import read_mono
from kara_core.components.measure import Clip, HeldOutMusic, SongExcerpt
from kara_core.errors import KaraError
from kara_core.pipeline.generate import MAX_ROUNDTRIP_SECONDS, prompt_offsets

REFERENCE_SECONDS = 600.0
"""At most this much held-out audio (whole songs, in order) is the measures' yardstick."""


class CachedSong(Protocol):
    """A song of the feature set: its wav, its source, and which frames are its held-out
    (or training) part."""

    source: str
    wav: Path
    start: int
    stop: int

    def frames(self, count: int | None = None) -> np.ndarray: ...


class SongSplit(Protocol):
    """The feature set's songs: ``val`` (held out) and ``train``."""

    @property
    def val(self) -> Sequence[Any]: ...

    @property
    def train(self) -> Sequence[Any]: ...


@dataclass(frozen=True)
class PromptPlan:
    """Where prompts go and how long what follows them is.

    :ivar count: prompts wanted (different songs while there are enough).
    :ivar prompt_seconds: the prompt's length.
    :ivar seconds: how long each continuation is (the first prompt's excerpt also holds
        the real continuation and the round trip's audio).
    """

    count: int
    prompt_seconds: float
    seconds: float


def heldout_songs(features: SongSplit) -> tuple[list[Any], bool]:
    """The validation songs, or (with none held out) the training songs and ``False``."""
    if features.val:
        return list(features.val), True
    if features.train:
        return list(features.train), False
    raise KaraError("no songs in the feature set: nothing to prompt the model with")


def read_part(song: CachedSong, hop: int, rate: int) -> np.ndarray:
    """The held-out part of a cached song as audio: samples ``start*hop`` to ``stop*hop``
    of its wav (frames ``start:stop`` of its cache); the whole wav when that is empty."""
    wave = read_mono(Path(song.wav), rate)
    first = max(0, int(song.start) * int(hop))
    last = min(wave.shape[0], int(song.stop) * int(hop))
    if last <= first:
        first, last = 0, wave.shape[0]
    return np.ascontiguousarray(wave[first:last])


def excerpt(wave: np.ndarray, rate: int, offset: float, seconds: float | None) -> np.ndarray:
    """``seconds`` of ``wave`` from ``offset`` seconds on (to its end with ``None``), at
    least one sample when ``wave`` has any."""
    first = min(max(0, round(offset * rate)), max(0, wave.shape[0] - 1))
    last = wave.shape[0] if seconds is None else min(wave.shape[0],
                                                     first + max(1, round(seconds * rate)))
    return np.ascontiguousarray(wave[first:last])


def held_out_music(features: SongSplit, hop: int, rate: int, plan: PromptPlan,
                   reference_seconds: float = REFERENCE_SECONDS) -> HeldOutMusic:
    """The held-out music of ``features`` at ``rate`` (frames of ``hop`` samples): the
    songs' held-out parts up to ``reference_seconds`` in all (and every song a prompt
    needs), each read from its wav once, and ``plan.count`` prompts cut from them as
    :func:`~kara_core.pipeline.generate.prompt_offsets` places them. The first prompt's
    excerpt runs ``plan.prompt_seconds + plan.seconds`` (at most a minute): the round
    trip and the real continuation are measured on it."""
    songs, held_out = heldout_songs(features)
    lengths = [max(0, int(s.stop) - int(s.start)) * hop / rate for s in songs]
    places = prompt_offsets(lengths, max(1, plan.count), plan.prompt_seconds)
    wanted = {index for index, _offset in places}
    total = 0.0
    for index, seconds in enumerate(lengths):
        if total >= reference_seconds:
            break
        wanted.add(index)
        total += seconds
    waves = {index: read_part(songs[index], hop, rate) for index in sorted(wanted)}
    prompt_songs = {index for index, _offset in places}
    parts, remaining = [], reference_seconds
    for index, wave in sorted(waves.items()):  # the yardstick: songs in order, capped
        if index not in prompt_songs and wave.shape[0] / rate > remaining:
            wave = wave[: max(0, round(remaining * rate))]
        remaining -= wave.shape[0] / rate
        if wave.size:
            parts.append(SongExcerpt(wave, str(songs[index].source), held_out))
    needed = max(plan.prompt_seconds, hop / rate)
    prompts = []
    for number, (index, offset) in enumerate(places):
        length = (min(MAX_ROUNDTRIP_SECONDS, plan.prompt_seconds + plan.seconds) if number == 0
                  else needed)
        prompts.append(SongExcerpt(excerpt(waves[index], rate, offset, length),
                                   str(songs[index].source), held_out, offset))
    return HeldOutMusic(rate=rate, songs=tuple(parts), prompts=tuple(prompts),
                        frames=np.asarray(songs[0].frames()))


def real_clips(music: HeldOutMusic, prompts: Sequence[SongExcerpt], prompt_seconds: float,
               seconds: float, partners: Sequence[int | None]) -> list[Clip]:
    """What the held-out songs really do after each prompt, as clips the measures read
    like generated ones: the ``seconds`` after the prompt in its song (shorter where the
    song ends sooner). Clip ``i`` carries the real continuation of prompt ``partners[i]``
    (as ``prompt_sensitivity`` compares; none where it is ``None``), and the first another
    excerpt of its own song (as ``diversity`` compares). Prompts whose song is not in
    ``music`` have none."""
    found: list[Clip] = []
    for number, prompt in enumerate(prompts):
        song = music.song(prompt.source)
        if song is None:
            continue
        wave = excerpt(song.wave, music.rate, prompt.offset + prompt_seconds, seconds)
        other_seed = other = None
        if number == 0:
            later = prompt.offset + prompt_seconds + seconds
            if song.wave.shape[0] / music.rate >= later + seconds / 2:
                other_seed = Clip(excerpt(song.wave, music.rate, later, seconds), music.rate,
                                  prompt.source)
        partner = partners[number] if number < len(partners) else None
        if partner is not None and partner < len(prompts):
            second = prompts[partner]
            other_wave = music.song(second.source)
            if other_wave is not None:
                other = Clip(excerpt(other_wave.wave, music.rate,
                                     second.offset + prompt_seconds, seconds),
                             music.rate, second.source)
        found.append(Clip(wave, music.rate, prompt.source, other_seed=other_seed,
                          other_song=other))
    return found
