"""Several prompts per variant, each continued and measured on the audio (DESIGN section 6).

One good clip proves nothing. ``generate.prompts`` prompts (six by default) come from
different held-out songs while there are enough, then again from the same songs at later
offsets; each continuation is kept in the run folder (``generated.wav`` is the first, then
``generated-2.wav`` ...). Every clip is measured by :mod:`kara_core.measures.music` against
real excerpts of equal length from the held-out songs, whole and in its last
:data:`LAST_SECONDS`; the record holds each clip, the median and the worst over clips, the
diversity between two seeds on the first prompt, and what keeps the variant from the
targets. A collapsed clip gets one line naming the variant and the prompt.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from kara_core.pipeline import generate as gen

if TYPE_CHECKING:
    from kara_core.components import Model, Transform
    from kara_core.config import VariantConfig

LAST_SECONDS = 10.0
"""The end of every clip is measured on its own too: music-like to the end."""
def prompt_seed(seed: int, number: int) -> int:
    """The seed of prompt ``number``: ``generate.seed + number``. One seed for every prompt
    would drive a model whose state forgets its prompt to the same clip six times over."""
    return int(seed) + int(number)


def clip_file(number: int) -> str:
    """``generated.wav`` for the first clip (``number`` 0), then ``generated-2.wav`` ..."""
    return "generated.wav" if number == 0 else f"generated-{number + 1}.wav"


# --------------------------------------------------------------------------- prompts


def prompt_offsets(
    lengths: Sequence[float], count: int, prompt_seconds: float,
) -> list[tuple[int, float]]:
    """``(song index, offset in seconds)`` of ``count`` prompts over songs ``lengths``
    seconds long: songs 0, 1, ... in turn, so every prompt has its own song while there are
    enough; a song used ``r`` times gets its prompts at offsets ``0, 1/r, 2/r ...`` of the
    part that leaves room for the prompt (the same place only for a song no longer than
    the prompt)."""
    if not lengths or count < 1:
        return []
    songs = len(lengths)
    uses = [count // songs + (1 if i < count % songs else 0) for i in range(songs)]
    found = []
    for number in range(count):
        index, turn = number % songs, number // songs
        room = max(0.0, float(lengths[index]) - prompt_seconds)
        found.append((index, round(turn * room / max(1, uses[index]), 3)))
    return found


def heldout_prompts(
    features: Any, transform: Transform, variant: VariantConfig, count: int | None = None,
) -> list[gen.PromptAudio]:
    """``count`` prompts (``generate.prompts`` by default) from the held-out songs as
    :func:`prompt_offsets` places them; from the training songs (``held_out`` False) only
    when no song is held out. The first is :func:`generate.heldout_prompt`'s: long enough
    for the round trip too."""
    songs, held_out = gen.heldout_songs(features)
    settings = variant.generate
    rate = variant.dataset.sample_rate
    count = settings.prompts if count is None else max(1, int(count))
    lengths = [max(0, int(s.stop) - int(s.start)) * transform.hop / rate for s in songs]
    needed = max(settings.prompt_seconds, transform.hop / rate)
    prompts = [gen.heldout_prompt(features, transform, variant)]
    for index, offset in prompt_offsets(lengths, count, settings.prompt_seconds)[1:]:
        wave = gen.song_excerpt(songs[index], transform.hop, rate, needed, offset=offset)
        prompts.append(gen.PromptAudio(wave=wave, source=str(songs[index].source),
                                       held_out=held_out, offset=offset))
    return prompts


def describe_prompt(prompt: gen.PromptAudio) -> str:
    """``song.mp3`` or ``song.mp3 at 12.5 s``: where a prompt starts, for one-line notes."""
    name = Path(prompt.source).name
    return f"{name} at {prompt.offset:.1f} s" if prompt.offset else name


# --------------------------------------------------------------------------- generating


@dataclass
class Clips:
    """Every prompt's generation, and the first prompt's again with another seed."""

    prompts: list[gen.PromptAudio]
    generations: list[gen.Generation]
    other_seed: gen.Generation | None

    @property
    def rtf(self) -> float:
        """Compute seconds per generated second over every clip (the other seed included)."""
        every = [*self.generations, *([self.other_seed] if self.other_seed else [])]
        seconds = sum(g.seconds for g in every)
        return sum(g.compute_seconds for g in every) / seconds if seconds > 0 else 0.0

    def notes(self, name: str, temperature: float) -> list[str]:
        """What the clips' audio needed (features limited to the training range, peaks
        scaled), one line each, over every clip. Lowering the temperature is suggested only
        where there is one to lower: at 0 the model itself drifts out of range."""
        lines = []
        count = len(self.generations)
        clipped = [g.clipped_fraction for g in self.generations if g.clipped_fraction > 0.001]
        if clipped:
            cause = ("lower generate.temperature?" if temperature > 0
                     else "the model drifts out of range on its own")
            lines.append(f"{name}: up to {max(clipped):.1%} of the generated features (in "
                         f"{len(clipped)} of {count} clips) left the training songs' range and "
                         f"were limited to it ({cause})")
        scaled = [g.peak for g in self.generations if g.peak_normalised]
        if scaled:
            lines.append(f"{name}: generated audio peaked at up to {max(scaled):.2f} (in "
                         f"{len(scaled)} of {count} clips); scaled to 0.99")
        if self.rtf > 1.0:
            lines.append(f"{name}: generation is slower than real time ({self.rtf:.2f} s of "
                         "compute per second of audio)")
        return lines


def generate_clips(
    model: Model, transform: Transform, features: Any, prompts: Sequence[gen.PromptAudio],
    variant: VariantConfig, seconds: float, *, diversity: bool = True,
) -> Clips:
    """Continue every prompt for ``seconds`` with the variant's temperature, prompt ``i``
    with seed ``generate.seed + i``; then the first prompt again with a seed no prompt used
    (when ``diversity``)."""
    settings = variant.generate

    def one(prompt: gen.PromptAudio, seed: int) -> gen.Generation:
        return gen.generate_audio(
            model, transform, features, prompt.wave, rate=variant.dataset.sample_rate,
            prompt_seconds=settings.prompt_seconds, seconds=seconds,
            temperature=settings.temperature, seed=seed,
        )

    generations = [one(p, prompt_seed(settings.seed, i)) for i, p in enumerate(prompts)]
    other = (one(prompts[0], prompt_seed(settings.seed, len(prompts)))
             if diversity and prompts else None)
    return Clips(list(prompts), generations, other)


# --------------------------------------------------------------------------- measuring


def _rounded(measures: dict[str, float]) -> dict[str, float | None]:
    return {key: _finite_or_none(value) for key, value in measures.items()}


def _finite_or_none(value: float) -> float | None:
    value = float(value)
    return round(value, 4) if math.isfinite(value) else None


def evaluate_music(
    clips: Clips, reference: Sequence[np.ndarray], rate: int, *, held_out: bool = True,
    last_seconds: float = LAST_SECONDS, files: Callable[[int], str] = clip_file,
    sources: Sequence[str] | None = None,
) -> dict[str, Any]:
    """The ``music`` section of metrics.json: every clip measured against real excerpts of
    equal length from ``reference`` (the held-out songs' audio), whole and in its last
    ``last_seconds``; the median and worst over clips; the diversity of two seeds on the
    first prompt; the targets missed. Each clip's ``collapse`` is the one-line diagnosis of
    :func:`kara_core.measures.music.collapse` (the whole clip's, else its end's) or ``None``.

    With ``sources`` (the song of each ``reference`` wave, as prompts name them) and two
    songs or more, each clip is also measured for ``own_song``: does it still sound like
    the song its prompt came from (:func:`kara_core.measures.own_song.own_song`)?
    """
    from kara_core.measures import music, own_song

    started = time.perf_counter()
    waves = [g.wave for g in clips.generations]
    if not waves:
        raise ValueError("no clips to measure")
    seconds = waves[0].shape[0] / rate
    tail_seconds = min(float(last_seconds), seconds)
    yard = music.yardstick(reference, rate, seconds)
    tail_yard = yard if tail_seconds >= seconds else music.yardstick(reference, rate, tail_seconds)
    tail_samples = max(1, round(tail_seconds * rate))
    songs = own_song.song_references(reference, sources, yard) if sources is not None else None
    tail_songs = songs if tail_yard is yard or songs is None else (
        own_song.song_references(reference, sources or (), tail_yard))
    measured, tails, records = [], [], []
    for number, (wave, prompt, generation) in enumerate(
            zip(waves, clips.prompts, clips.generations, strict=True)):
        whole = music.measure_clip(wave, yard)
        tail = whole if tail_yard is yard else music.measure_clip(wave[-tail_samples:], tail_yard)
        if songs is not None and tail_songs is not None:
            whole["own_song"] = own_song.own_song(wave, prompt.source, songs, yard)
            if tail is not whole:
                tail["own_song"] = own_song.own_song(wave[-tail_samples:], prompt.source,
                                                  tail_songs, tail_yard)
        line = music.collapse(whole)
        end = music.collapse(tail) if tail is not whole else None
        if line is None and end is not None:
            line = f"in its last {tail_seconds:g} s, {end}"
        measured.append(whole)
        tails.append(tail)
        records.append({
            "file": files(number), "source": prompt.source,
            "offset_seconds": round(prompt.offset, 3), **_rounded(whole),
            "score": _finite_or_none(music.generation_score(whole)),
            "rtf": round(generation.rtf, 5), "collapse": line, "last_10s": _rounded(tail),
        })
    other = clips.other_seed
    diversity = music.diversity(waves[0], other.wave, yard) if other is not None else math.nan
    summary = music.summarize(measured)
    scores = [music.generation_score(m) for m in measured]
    summary["median"]["score"] = float(np.median(scores))
    summary["worst"]["score"] = max(scores)
    misses = music.misses(measured)
    return {
        "seconds": round(seconds, 3),
        "prompts": len(records),
        "clips": records,
        "summary": {key: _rounded(value) for key, value in summary.items()},
        "last_10s": {"seconds": round(tail_seconds, 3), "summary": {
            key: _rounded(value) for key, value in music.summarize(tails).items()}},
        "diversity": _finite_or_none(diversity),
        "misses": misses,
        "meets_targets": not misses,
        "collapsed": sum(1 for r in records if r["collapse"]),
        "yardstick": {
            "excerpts": yard.excerpts, "seconds": round(yard.seconds, 3),
            "excerpt_seconds": round(yard.excerpt_seconds, 3),
            "songs": sum(1 for w in reference if len(w)), "held_out": held_out,
            "reference_seconds": round(sum(len(w) for w in reference) / rate, 3),
            "level_dbfs": round(yard.level_db, 2),
            "own_song_real": _finite_or_none(songs.real) if songs is not None else None,
            "own_song_real_last": (_finite_or_none(tail_songs.real)
                                   if tail_songs is not None else None),
        },
        "rtf": round(clips.rtf, 5),
        "generate_seconds": round(sum(
            g.compute_seconds for g in [*clips.generations, *([other] if other else [])]), 3),
        "measure_seconds": round(time.perf_counter() - started, 3),
    }


def collapse_lines(name: str, record: dict[str, Any], prompts: Sequence[gen.PromptAudio]) -> (
        list[str]):
    """One line per collapsed clip of a ``music`` record, naming the variant and prompt."""
    return [
        f"{name}: prompt {number + 1} ({describe_prompt(prompt)}, {clip['file']}) collapsed: "
        f"{clip['collapse']}"
        for number, (clip, prompt) in enumerate(zip(record["clips"], prompts, strict=False))
        if clip.get("collapse")
    ]
