"""The training monitor's judge: a short generation after every epoch, measured on the audio.

The closed-loop MSE (``val_loss``) says how well a model predicts; it cannot say whether
what the model *generates* sounds like music, and the two disagree (a model that predicts
the mean frame well generates a smear). The judge continues one held-out prompt (the same
one, the run's temperature and seed, every epoch) for ``train.judge_seconds``, turns the
frames back into audio with the transform's inverse, and measures the clip as the run's
evaluation does (:mod:`kara_core.measures.music`, against real excerpts of equal length
from the held-out songs). Its ``score`` (:func:`kara_core.measures.music.generation_score`,
lower is better) is what the monitor keeps the best checkpoint by.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

import numpy as np

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
    ``score`` (the mean of the clips' scores), ``scores`` (each clip's), ``audio`` (the
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
        measures.update(score=float(np.mean(scores)), scores=scores,
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
