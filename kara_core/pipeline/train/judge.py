"""The training monitor's judge: short generations after every epoch, measured on the audio.

The closed-loop MSE (``val_loss``) says how well a model predicts; it cannot say whether
what the model *generates* sounds like music, and the two disagree (a model that predicts
the mean frame well generates a smear). The judge continues ``train.judge_prompts``
held-out prompts (the same ones, the run's temperature, every epoch) for
``train.judge_seconds`` through the run's own :func:`clips.generate_clips` (different songs
while there are enough, each prompt with its own seed), turns the frames back into audio
with the transform's inverse, and measures the clips as the run's evaluation does
(:mod:`kara_core.measures.music`, against real excerpts of equal length from the held-out
songs). Its ``score`` (:func:`kara_core.measures.music.clips_score`: the targets on the
clips' medians and no clip collapsing, lower is better, 0 when the clips meet the targets)
is what the monitor keeps the best checkpoint by.

Why several prompts, and why that score: one clip is a noisy judge (the same checkpoint can
meet every target on one song and smear on the next, and epochs were kept for a lucky
prompt); and the mean of the clips' own scores, tried first, kept a 750-step epoch on the
real music whose 30 s clips measured fd_ratio 0.73 over the 1500-step one's 0.35, for one
6 s clip's measures just outside a range that the medians met.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from kara_core.errors import KaraError

if TYPE_CHECKING:
    from kara_core.components import Model, Transform
    from kara_core.config import VariantConfig
    from kara_core.measures.music import Yardstick
    from kara_core.pipeline.generate import PromptAudio

JudgeSetup = tuple["Transform", list["PromptAudio"], "Yardstick"]

REFERENCE_SECONDS = 300.0
"""At most this much held-out audio makes the judge's yardstick."""


class GenerationJudge:
    """``judge(model) -> dict``: the median measures of a few short generations, plus
    ``score`` (:func:`~kara_core.measures.music.clips_score` of the clips), ``scores``
    (each clip's :func:`~kara_core.measures.music.generation_score`), ``audio`` (the
    first clip, float32), ``rate`` and ``seconds`` (what judging took).

    Cheap to make: the prompts and the yardstick are read on the first call, so a run that
    reuses a finished training never reads them.
    """

    def __init__(self, variant: VariantConfig, features: Any, seconds: float,
                 prompts: int = 1) -> None:
        self.variant = variant
        self.features = features
        self.seconds = float(seconds)
        self.prompts = max(1, int(prompts))
        self.rate = variant.dataset.sample_rate
        self._ready: JudgeSetup | None = None

    def _prepare(self) -> JudgeSetup:
        if self._ready is None:
            from kara_core.measures import music
            from kara_core.pipeline import clips
            from kara_core.pipeline import generate as gen

            transform = self.variant.build_transform()
            prompts = clips.heldout_prompts(self.features, transform, self.variant,
                                            count=self.prompts)
            waves, _held_out = gen.heldout_waves(self.features, transform, self.rate,
                                                 max_seconds=REFERENCE_SECONDS)
            self._ready = (transform, prompts, music.yardstick(waves, self.rate, self.seconds))
        return self._ready

    def __call__(self, model: Model) -> dict[str, Any]:
        from kara_core.measures import music
        from kara_core.pipeline.clips import generate_clips

        started = time.perf_counter()
        transform, prompts, yard = self._prepare()
        try:  # the run's own clips, shorter, each prompt with its own seed
            made = generate_clips(model, transform, self.features, prompts, self.variant,
                                  self.seconds, diversity=False)
        except KaraError:  # non-finite frames: the worst possible generation, not a crash
            return {"score": float("inf"), "scores": [], "audio": None, "rate": self.rate,
                    "seconds": time.perf_counter() - started}
        clips = [music.measure_clip(g.wave, yard) for g in made.generations]
        scores = [music.generation_score(clip) for clip in clips]
        measures: dict[str, Any] = dict(music.summarize(clips)["median"])
        measures.update(score=music.clips_score(clips), scores=scores,
                        audio=made.generations[0].wave, rate=self.rate,
                        seconds=time.perf_counter() - started)
        return measures


def make_judge(variant: VariantConfig, features: Any) -> GenerationJudge | None:
    """The judge of ``variant`` on ``features`` (``None`` when ``train.judge_seconds`` is
    0): ``train.judge_prompts`` held-out prompts, continued with ``generate.temperature``
    for ``train.judge_seconds`` each, measured against real excerpts of that length from
    the held-out songs (the training songs when none is held out)."""
    seconds = float(variant.train.judge_seconds)
    if seconds <= 0:
        return None
    return GenerationJudge(variant, features, seconds, variant.train.judge_prompts)
