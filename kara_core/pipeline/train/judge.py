"""The training judge: short generations measured on the audio, and the sampling temperature.

The closed-loop MSE (``val_loss``) says how well a model predicts; it cannot say whether
what the model *generates* sounds like music, and the two disagree (a model that predicts
the mean frame well generates a smear). After every epoch the judge continues
``train.judge_prompts`` held-out prompts (the same ones, the same seeds) for
``train.judge_seconds`` through the generate stage's own :func:`generate` (and, for
``prompt_sensitivity``, the first :data:`SENSITIVITY_PAIRS` clips' partners: another song's
prompt with the clip's seed), and measures the
clips with the registered measures as the evaluation does, against the same held-out music.
Its ``score`` (:func:`kara_core.measures.scoring.clips_score`: every scored measure's
distance to its target on the medians, plus every clip's distance to ``every_clip``, lower
is better, 0 when the clips meet the targets) is what the monitor keeps the best checkpoint
by.

With ``generate.temperature: auto`` the judge also **calibrates the temperature** of the
kept model: the same clips at each of :data:`TEMPERATURES`, scored the same way; the lowest
score wins (the higher temperature on a tie: more variety for the same measures). On a
small collection that overfits, a model sampled at temperature 1 makes hiss where a cooler
one makes music (issue 21: spread 1.33, loop 1.99 at 1.0; 0.98 and 1.11 at 0.5).

Why several prompts, and why that score: one clip is a noisy judge (the same checkpoint can
meet every target on one song and smear on the next); the mean of the clips' own scores,
tried first, kept an epoch for one 6 s clip just outside a range the medians met.
"""

from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kara_core.errors import KaraError

if TYPE_CHECKING:
    from kara_core.components import HeldOutMusic, Measure, Model, Transform
    from kara_core.config.schema import GenerateConfig, TrainConfig
    from kara_core.pipeline.generate import FrameScale

TEMPERATURES = (0.5, 0.7, 0.85, 1.0)
"""The temperatures ``auto`` chooses among."""
SENSITIVITY_PAIRS = 2
"""Clips whose same-seed partner the judge also generates (``prompt_sensitivity`` is
their median): two pairs, so that one remembered prompt does not pass the epoch, at the
cost of two more clips per judgement (the run itself pairs every clip)."""


def judged_clips(prompts: int) -> int:
    """The clips one judgement generates for ``prompts`` held-out prompts of different
    songs: each prompt's, and the first :data:`SENSITIVITY_PAIRS` clips' partners (what
    ``kara check`` scales the judge's measured time by)."""
    prompts = max(1, int(prompts))
    return prompts + min(SENSITIVITY_PAIRS, prompts - 1)


TRAINING_TEMPERATURE = 1.0
"""What the judge samples at during training when the temperature is ``auto``: the
model's own distribution; the temperature is calibrated for the kept model afterwards."""


@dataclass(frozen=True)
class JudgeSettings:
    """How the judge generates: ``prompts`` clips of ``seconds`` from ``prompt_seconds``
    of prompt, at ``temperature`` (``None``: ``auto``), seeds from ``seed``."""

    rate: int
    seconds: float
    prompts: int
    prompt_seconds: float
    temperature: float | None
    seed: int = 0

    @classmethod
    def of(cls, train: TrainConfig, generate: GenerateConfig, rate: int) -> JudgeSettings:
        """The settings a variant's ``train:`` and ``generate:`` sections give."""
        temperature = generate.temperature
        return cls(rate=int(rate), seconds=float(train.judge_seconds),
                   prompts=max(1, int(train.judge_prompts)),
                   prompt_seconds=float(generate.prompt_seconds),
                   temperature=None if temperature == "auto" else float(temperature),
                   seed=int(generate.seed))


class GenerationJudge:
    """``judge(model) -> dict``: the median measures of a few short generations, plus
    ``score`` (:func:`~kara_core.measures.scoring.clips_score` of the clips), ``scores``
    (each clip's :func:`~kara_core.measures.scoring.clip_score`), ``audio`` (the first
    clip, float32), ``rate`` and ``seconds`` (what judging took).

    Cheap to make: the held-out music is asked for on the first call (``music`` may be a
    function making it), so a run that reuses a finished training never reads it.
    """

    def __init__(self, settings: JudgeSettings, music: HeldOutMusic | Callable[[], HeldOutMusic],
                 transform: Transform, scale: FrameScale, measures: Sequence[Measure]) -> None:
        self.settings = settings
        self._music = music
        self.transform = transform
        self.scale = scale
        self.measures = list(measures)
        self.rate = settings.rate

    @property
    def music(self) -> HeldOutMusic:
        """The held-out music (made on first use when given as a function)."""
        if callable(self._music):
            self._music = self._music()
        return self._music

    def __call__(self, model: Model, temperature: float | None = None) -> dict[str, Any]:
        from kara_core.measures import scoring
        from kara_core.pipeline.evaluate import measure_clips
        from kara_core.pipeline.generate import GenerateSettings, generate

        started = time.perf_counter()
        music = self.music
        if temperature is None:
            temperature = (self.settings.temperature if self.settings.temperature is not None
                           else TRAINING_TEMPERATURE)
        settings = GenerateSettings(
            rate=self.rate, seconds=self.settings.seconds,
            prompt_seconds=self.settings.prompt_seconds, temperature=temperature,
            seed=self.settings.seed, diversity=False, sensitivity=True,
            sensitivity_pairs=SENSITIVITY_PAIRS)
        prompts = list(music.prompts[: self.settings.prompts])
        try:  # the run's own clips, shorter, each prompt with its own seed
            made = generate(model, self.transform, prompts, settings, self.scale)
        except KaraError:  # non-finite frames: the worst possible generation, not a crash
            return {"score": float("inf"), "scores": [], "audio": None, "rate": self.rate,
                    "temperature": temperature, "seconds": time.perf_counter() - started}
        clips = measure_clips(made.measured(), music, self.measures)
        measures: dict[str, Any] = dict(scoring.summarize(clips, self.measures)["median"])
        measures.update(score=scoring.clips_score(clips, self.measures),
                        scores=[scoring.clip_score(c, self.measures) for c in clips],
                        audio=made.generations[0].wave, rate=self.rate,
                        temperature=temperature, seconds=time.perf_counter() - started)
        return measures

    def calibrate(self, model: Model,
                  temperatures: Sequence[float] = TEMPERATURES) -> dict[str, Any]:
        """The temperature among ``temperatures`` whose clips score best (see the module):
        ``{"temperature", "scores": {t: score}, "measures": {t: medians}, "seconds"}``."""
        started = time.perf_counter()
        scores: dict[str, float | None] = {}
        medians: dict[str, dict[str, float | None]] = {}
        best, best_score = float(temperatures[-1]), math.inf
        for temperature in temperatures:
            judged = self(model, float(temperature))
            value = float(judged["score"])
            scores[f"{temperature:g}"] = value if math.isfinite(value) else None
            medians[f"{temperature:g}"] = {
                m.name: _finite(judged.get(m.name)) for m in self.measures}
            if value <= best_score:  # ties go to the later (hotter) temperature
                best, best_score = float(temperature), value
        return {"temperature": best, "scores": scores, "measures": medians,
                "judge_seconds": self.settings.seconds, "prompts": self.settings.prompts,
                "seconds": round(time.perf_counter() - started, 2)}


def _finite(value: Any) -> float | None:
    if isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value):
        return round(float(value), 4)
    return None


def make_judge(settings: JudgeSettings, music: HeldOutMusic | Callable[[], HeldOutMusic],
               transform: Transform, scale: FrameScale,
               measures: Sequence[Measure]) -> GenerationJudge | None:
    """The judge (``None`` when ``settings.seconds`` is 0, ``train.judge_seconds: 0``)."""
    if settings.seconds <= 0:
        return None
    return GenerationJudge(settings, music, transform, scale, measures)


CALIBRATION_FILE = "temperature.json"
"""Where the calibrated temperature is recorded in the run folder, with the model it was
calibrated for."""


def model_fingerprint(model_dir: Path) -> str | None:
    """A digest of the exported model's files (their SHA-256s in its record): a calibration
    belongs to exactly these weights. ``None`` when the model has no readable record."""
    import hashlib
    import json

    from kara_core.pipeline.train.checkpoints import read_model_record

    record = read_model_record(model_dir)
    files = record.get("files") if isinstance(record, dict) else None
    if not files:
        return None
    return hashlib.sha256(json.dumps(files, sort_keys=True).encode()).hexdigest()[:16]


def resolve_temperature(configured: float | str, run_dir: Path,
                        calibrate: Callable[[], dict[str, Any]],
                        sampling: str = "") -> tuple[float, dict[str, Any]]:
    """``(temperature, how it was chosen)``. A number in kara.yaml (or on the command
    line) is used as it is. ``auto`` reads the calibration recorded for the model in
    ``run_dir/model`` (``temperature.json``), or runs ``calibrate()`` and records it, so
    ``kara run`` and ``kara generate`` sample the kept model alike. ``sampling`` names how
    the model samples (its options): options that change sampling but not the weights
    (``noise_scale``, ``recall_follow``, ...) need a calibration of their own."""
    from kara_core.storage import atomic

    if configured != "auto":
        return float(configured), {"source": "configured"}
    path = run_dir / CALIBRATION_FILE
    fingerprint = model_fingerprint(run_dir / "model")
    recorded = _read_json(path)
    if (fingerprint is not None and isinstance(recorded, dict)
            and recorded.get("model") == fingerprint
            and recorded.get("sampling", "") == sampling
            and isinstance(recorded.get("temperature"), int | float)):
        return float(recorded["temperature"]), {**recorded, "source": "calibrated"}
    found = calibrate()
    record = {**found, "model": fingerprint, "sampling": sampling}
    atomic.write_json(path, record)
    return float(found["temperature"]), {**record, "source": "calibrated"}


def _read_json(path: Path) -> Any:
    import json

    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


CALIBRATION_SECONDS = 6.0
"""Clip length of the temperature calibration when training had no judge."""


def temperature_for(
    configured: float | str, settings: JudgeSettings, run_dir: Path, model: Model,
    music: HeldOutMusic | Callable[[], HeldOutMusic], transform: Transform, scale: FrameScale,
    measures: Sequence[Measure], note: Callable[[str], None], source: str = "configured",
) -> tuple[float, dict[str, Any]]:
    """``(temperature, how it was chosen)`` for generating with ``model``: ``configured``
    when it is a number; for ``auto``, the calibration recorded for the model in
    ``run_dir``, or a new one (:meth:`GenerationJudge.calibrate` on clips of the judge's
    settings, :data:`CALIBRATION_SECONDS` long when training had no judge), recorded."""
    if configured != "auto":
        return float(configured), {"source": source}
    if settings.seconds <= 0:
        settings = dataclasses.replace(settings, seconds=CALIBRATION_SECONDS)
    judge = GenerationJudge(settings, music, transform, scale, measures)

    def calibrate() -> dict[str, Any]:
        note(f"calibrating the sampling temperature (generate.temperature: auto) on "
             f"{settings.prompts} held-out prompts at "
             f"{', '.join(f'{t:g}' for t in TEMPERATURES)}")
        return judge.calibrate(model)

    return resolve_temperature("auto", run_dir, calibrate, sampling_of(model))


def sampling_of(model: Model) -> str:
    """A model's options as one string: the calibration's key beside its weights."""
    import json

    from kara_core.options import to_plain

    return json.dumps(to_plain(model.options), sort_keys=True, default=str)
