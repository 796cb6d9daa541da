"""Several prompts continued, and the extra clips two measures compare with the first.

``generate`` is the stage's front door: every prompt continued with its own seed
(``seed + number``: one seed for every prompt would turn a model that forgets its prompt
into six copies of one clip); then, for ``diversity``, the first prompt again with another
seed, and, for ``prompt_sensitivity``, a prompt of another song with the *first* prompt's
seed. The two are different questions (does the seed matter? does the prompt?), made and
reported apart.
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
    :ivar sensitivity: also continue another song's prompt with the first prompt's seed.
    """

    rate: int
    seconds: float
    prompt_seconds: float
    temperature: float
    seed: int = 0
    diversity: bool = True
    sensitivity: bool = True

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


@dataclass
class Clips:
    """Every prompt's generation; the first prompt's again with another seed
    (``other_seed``, for ``diversity``); another song's prompt with the first prompt's
    seed (``other_song``, prompt ``other_song_prompt``, for ``prompt_sensitivity``)."""

    prompts: list[SongExcerpt]
    generations: list[Generation]
    other_seed: Generation | None = None
    other_song: Generation | None = None
    other_song_prompt: int | None = None
    seeds: list[int] = field(default_factory=list)
    rate: int = 0

    @property
    def extra(self) -> list[Generation]:
        """The clips made only to be compared with the first one."""
        return [g for g in (self.other_seed, self.other_song) if g is not None]

    def measured(self) -> list[Clip]:
        """Each prompt's clip as the measures see it; the first carries its comparisons."""
        found = []
        for number, (prompt, made) in enumerate(zip(self.prompts, self.generations,
                                                    strict=True)):
            seed = self.seeds[number] if number < len(self.seeds) else number
            other_seed = other_song = None
            if number == 0 and self.other_seed is not None:
                other_seed = Clip(self.other_seed.wave, self.rate, prompt.source,
                                  seed + len(self.prompts))
            if number == 0 and self.other_song is not None and self.other_song_prompt:
                source = self.prompts[self.other_song_prompt].source
                other_song = Clip(self.other_song.wave, self.rate, source, seed)
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
        scaled = [g.peak for g in self.generations if g.peak_normalised]
        if scaled:
            lines.append(f"{name}: generated audio peaked at up to {max(scaled):.2f} (in "
                         f"{len(scaled)} of {count} clips); scaled to 0.99")
        if self.rtf > 1.0:
            lines.append(f"{name}: generation is slower than real time ({self.rtf:.2f} s of "
                         "compute per second of audio)")
        return lines


def generate(model: Model, transform: Transform, prompts: Sequence[SongExcerpt],
             settings: GenerateSettings, scale: FrameScale) -> Clips:
    """Continue every prompt for ``settings.seconds`` (prompt ``i`` with seed
    ``settings.seed + i``), then the extra clips the settings ask for (the module says
    which); ``scale`` normalises frames as the model was trained (the feature set)."""

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
    other_song = other_index = None
    if settings.sensitivity and prompts:
        other_index = next((i for i, p in enumerate(prompts)
                            if p.source != prompts[0].source), None)
        if other_index is not None:
            other_song = one(prompts[other_index], seeds[0])
    return Clips(list(prompts), generations, other_seed, other_song, other_index, seeds,
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
        "peak_normalised": generation.peak_normalised,
        "clipped_fraction": round(generation.clipped_fraction, 5),
        "files": files,
    }
