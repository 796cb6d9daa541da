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

REFERENCE_SECONDS = 300.0
"""At most this much held-out audio makes the judge's yardstick."""


class GenerationJudge:
    """``judge(model) -> dict``: the measures of one short generation, plus ``score``,
    ``audio`` (the clip, float32), ``rate`` and ``seconds`` (what judging took).

    Cheap to make: the prompt and the yardstick are read on the first call, so a run that
    reuses a finished training never reads them.
    """

    def __init__(self, variant: VariantConfig, features: Any, seconds: float) -> None:
        self.variant = variant
        self.features = features
        self.seconds = float(seconds)
        self.rate = variant.dataset.sample_rate
        self._ready: tuple[Transform, np.ndarray, Yardstick] | None = None

    def _prepare(self) -> tuple[Transform, np.ndarray, Yardstick]:
        if self._ready is None:
            from kara_core.measures import music
            from kara_core.pipeline import generate as gen

            transform = self.variant.build_transform()
            prompt = gen.heldout_prompt(self.features, transform, self.variant).wave
            waves, _held_out = gen.heldout_waves(self.features, transform, self.rate,
                                                 max_seconds=REFERENCE_SECONDS)
            self._ready = (transform, prompt, music.yardstick(waves, self.rate, self.seconds))
        return self._ready

    def __call__(self, model: Model) -> dict[str, Any]:
        from kara_core.measures import music
        from kara_core.pipeline.generate import generate_audio

        started = time.perf_counter()
        transform, prompt, yard = self._prepare()
        settings = self.variant.generate
        try:
            generation = generate_audio(
                model, transform, self.features, prompt, rate=self.rate,
                prompt_seconds=settings.prompt_seconds, seconds=self.seconds,
                temperature=settings.temperature, seed=settings.seed,
            )
        except KaraError:  # non-finite frames: the worst possible generation, not a crash
            return {"score": float("inf"), "audio": None, "rate": self.rate,
                    "seconds": time.perf_counter() - started}
        measures: dict[str, Any] = dict(music.measure_clip(generation.wave, yard))
        measures.update(score=music.generation_score(measures), audio=generation.wave,
                        rate=self.rate, seconds=time.perf_counter() - started)
        return measures


def make_judge(variant: VariantConfig, features: Any) -> GenerationJudge | None:
    """The judge of ``variant`` on ``features`` (``None`` when ``train.judge_seconds`` is
    0): the first held-out song's prompt, continued with ``generate.temperature`` and
    ``generate.seed`` for ``train.judge_seconds``, measured against real excerpts of that
    length from the held-out songs (the training songs when none is held out)."""
    seconds = float(variant.train.judge_seconds)
    return GenerationJudge(variant, features, seconds) if seconds > 0 else None
