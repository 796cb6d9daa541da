"""Several prompts continued, and the extra clips two measures compare with the first.

``generate`` is the stage's front door: every prompt continued with its own seed
(``seed + number``: one seed for every prompt would turn a model that forgets its prompt
into six copies of one clip); then, for ``diversity``, the first prompt again with another
seed, and, for ``prompt_sensitivity``, each clip's *partner*: the next prompt (in order,
wrapping round) of a different song, continued with *that clip's* seed. The two are
different questions (does the seed matter? does the prompt?), made and reported apart.

Why a partner for every clip, not one pair per run: a model that carries some prompts
forward and forgets the others (one seed per prompt hides it from every other measure)
passes a single pair that happens to fall on a prompt it remembers; the median over every
clip's pair does not.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from kara_core.components.measure import Clip
from kara_core.pipeline.generate.audio import FrameScale, Generation, generate_audio
from kara_core.pipeline.generate.prompts import prompt_seed

if TYPE_CHECKING:
    from kara_core.components import Model, SongExcerpt, Transform
    from kara_core.config.schema import GenerateConfig


@dataclass(frozen=True)
class GenerateSettings:
    """What :func:`generate` needs to know: the sample rate, how long, from how much
    prompt, how hot (a number: ``auto`` is resolved before generating) and which seeds.

    :ivar diversity: also continue the first prompt with another seed.
    :ivar sensitivity: also continue each clip's partner (another song's prompt) with
        the clip's seed.
    :ivar sensitivity_pairs: at most this many clips (the first ones that have a
        partner) get one; ``None``: every clip (the training judge, which generates after
        every epoch, takes fewer).
    """

    rate: int
    seconds: float
    prompt_seconds: float
    temperature: float
    seed: int = 0
    diversity: bool = True
    sensitivity: bool = True
    sensitivity_pairs: int | None = None

    @classmethod
    def of(cls, config: GenerateConfig, rate: int, temperature: float,
           seconds: float | None = None, seed: int | None = None, diversity: bool = True,
           sensitivity: bool = True) -> GenerateSettings:
        """The settings of a variant's ``generate:`` section at ``rate``, with the
        temperature it resolved to (and ``seconds`` and ``seed`` when the command line
        overrides them)."""
        return cls(rate=int(rate), seconds=float(config.seconds if seconds is None else seconds),
                   prompt_seconds=float(config.prompt_seconds), temperature=float(temperature),
                   seed=int(config.seed if seed is None else seed), diversity=diversity,
                   sensitivity=sensitivity)


def sensitivity_partners(prompts: Sequence[SongExcerpt],
                         limit: int | None = None) -> list[int | None]:
    """Each prompt's partner for ``prompt_sensitivity``: the index of the next prompt in
    order (wrapping round) whose song differs, ``None`` where every prompt is of its song
    or beyond the first ``limit`` clips that have one (``None``: no limit)."""
    partners: list[int | None] = []
    paired = 0
    count = len(prompts)
    for number, prompt in enumerate(prompts):
        partner = next((other for other in ((number + k) % count for k in range(1, count))
                        if prompts[other].source != prompt.source), None)
        if partner is not None and limit is not None and paired >= limit:
            partner = None
        paired += partner is not None
        partners.append(partner)
    return partners


@dataclass
class Clips:
    """Every prompt's generation; the first prompt's again with another seed
    (``other_seed``, for ``diversity``); for each clip ``i``, its partner prompt
    ``other_song_prompts[i]`` (another song's) continued with clip ``i``'s seed
    (``other_songs[i]``, for ``prompt_sensitivity``; ``None`` where it has none)."""

    prompts: list[SongExcerpt]
    generations: list[Generation]
    other_seed: Generation | None = None
    other_songs: list[Generation | None] = field(default_factory=list)
    other_song_prompts: list[int | None] = field(default_factory=list)
    seeds: list[int] = field(default_factory=list)
    rate: int = 0

    @property
    def extra(self) -> list[Generation]:
        """The clips made only to be compared with the prompts' own."""
        return [g for g in (self.other_seed, *self.other_songs) if g is not None]

    def partner(self, number: int) -> tuple[int, Generation] | None:
        """Clip ``number``'s same-seed partner: ``(its prompt's index, its generation)``,
        ``None`` when it has none."""
        if number >= min(len(self.other_songs), len(self.other_song_prompts)):
            return None
        index, made = self.other_song_prompts[number], self.other_songs[number]
        if index is None or made is None:
            return None
        return index, made

    def sensitivity_pairs(self) -> list[list[str]]:
        """``[clip's song, partner's song]`` of every clip that has a partner, in order."""
        found = []
        for number, prompt in enumerate(self.prompts):
            pair = self.partner(number)
            if pair is not None:
                found.append([prompt.source, self.prompts[pair[0]].source])
        return found

    def measured(self) -> list[Clip]:
        """Each prompt's clip as the measures see it, with its comparisons: the first its
        other seed, each its partner."""
        found = []
        for number, (prompt, made) in enumerate(zip(self.prompts, self.generations,
                                                    strict=True)):
            seed = self.seeds[number] if number < len(self.seeds) else number
            other_seed = other_song = None
            if number == 0 and self.other_seed is not None:
                other_seed = Clip(self.other_seed.wave, self.rate, prompt.source,
                                  seed + len(self.prompts))
            pair = self.partner(number)
            if pair is not None:
                other_song = Clip(pair[1].wave, self.rate, self.prompts[pair[0]].source, seed)
            found.append(Clip(made.wave, self.rate, prompt.source, seed,
                              other_seed=other_seed, other_song=other_song))
        return found

    @property
    def rtf(self) -> float:
        """Compute seconds per generated second over every clip (the extra ones included)."""
        every = [*self.generations, *self.extra]
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
        scaled = [g.peak for g in self.generations if g.peak_limited]
        if scaled:
            lines.append(f"{name}: generated audio peaked at up to {max(scaled):.2f} (in "
                         f"{len(scaled)} of {count} clips); its peaks limited to 0.99")
        if self.rtf > 1.0:
            lines.append(f"{name}: generation is slower than real time ({self.rtf:.2f} s of "
                         "compute per second of audio)")
        return lines


def generate(model: Model, transform: Transform, prompts: Sequence[SongExcerpt],
             settings: GenerateSettings, scale: FrameScale) -> Clips:
    """Continue every prompt for ``settings.seconds`` (prompt ``i`` with seed
    ``settings.seed + i``), then the extra clips the settings ask for (the module says
    which: the other seed, then each clip's partner); ``scale`` normalises frames as the
    model was trained (the feature set)."""

    def one(prompt: SongExcerpt, seed: int) -> Generation:
        return generate_audio(
            model, transform, scale, prompt.wave, rate=settings.rate,
            prompt_seconds=settings.prompt_seconds, seconds=settings.seconds,
            temperature=settings.temperature, seed=seed,
        )

    seeds = [prompt_seed(settings.seed, i) for i in range(len(prompts))]
    generations = [one(p, seed) for p, seed in zip(prompts, seeds, strict=True)]
    other_seed = (one(prompts[0], prompt_seed(settings.seed, len(prompts)))
                  if settings.diversity and prompts else None)
    partners: list[int | None] = (
        sensitivity_partners(prompts, settings.sensitivity_pairs) if settings.sensitivity
        else [None] * len(prompts))
    other_songs = [None if partner is None else one(prompts[partner], seed)
                   for partner, seed in zip(partners, seeds, strict=True)]
    return Clips(list(prompts), generations, other_seed, other_songs, partners, seeds,
                 settings.rate)


def generation_record(generation: Generation, prompt: SongExcerpt, settings: GenerateSettings,
                      files: list[str]) -> dict[str, Any]:
    """The ``generation`` section of ``metrics.json`` (of the first clip)."""
    return {
        "seconds": round(generation.seconds, 4),
        "frames": int(generation.frames.shape[0]),
        "prompt_seconds": round(generation.prompt_wave.shape[0] / settings.rate, 4),
        "prompt_frames": int(generation.prompt_frames.shape[0]),
        "prompt_source": prompt.source,
        "prompt_held_out": prompt.held_out,
        "temperature": settings.temperature,
        "seed": settings.seed,
        "model_seconds": round(generation.model_seconds, 4),
        "inverse_seconds": round(generation.inverse_seconds, 4),
        "rtf": round(generation.rtf, 5),
        "x_realtime": round(generation.x_realtime, 2),
        "peak": round(generation.peak, 4),
        "peak_limited": generation.peak_limited,
        "clipped_fraction": round(generation.clipped_fraction, 5),
        "files": files,
    }
