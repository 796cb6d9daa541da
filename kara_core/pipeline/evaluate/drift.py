"""Whole-clip statistics of what a variant generated, and how its errors grow.

Generated audio has no reference, so it is compared with held-out audio through
statistics (DESIGN §6): the Fréchet distance between log-mel frame statistics, the RMS
ratio, the silent fraction and the spectral flatness. The drift curve shows the error per
generated step on a held-out song twice: with the model fed its own output (free running,
what generation does) and with the true frames (teacher forced, one step ahead). Where the
first curve leaves the second is where generation stops resembling the music.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from kara_core.components import Model

REFERENCE_AUDIO_SECONDS = 120.0
"""The ``evaluation`` section's whole-clip statistics compare with this much held-out audio."""
MAX_DRIFT_STEPS = 1000
"""The drift curve covers at most this many generated frames."""
PREDICT_BATCH = 256


def evaluate_audio(
    generated: np.ndarray, reference: np.ndarray, rate: int, real: np.ndarray | None = None,
) -> dict[str, Any]:
    """Measures of generated audio against held-out audio (``evaluation`` in metrics.json).

    ``mel_frechet`` is 0 for identical statistics and grows as the generated audio's
    log-mel frames move away from the music's; ``rms_ratio`` is generated RMS over
    reference RMS; ``silent_fraction`` is the share of silent frames; the flatness of the
    reference is given beside the generated one (white noise is near 1, tones near 0).

    :param real: real music of the same collection and length (a training song's
        excerpt); its own score against the reference, ``real_mel_frechet``, is what a
        generator that sounds like this collection would get.
    """
    from kara_core.audio import spectral as metrics
    generated = np.asarray(generated, dtype=np.float32)
    reference = np.asarray(reference, dtype=np.float32)
    gen_mel = metrics.log_mel_frames(generated, rate)
    ref_mel = metrics.log_mel_frames(reference, rate)
    floor = None
    if real is not None:
        real_mel = metrics.log_mel_frames(np.asarray(real, dtype=np.float32), rate)
        if real_mel.shape[0] >= 2:
            floor = float(metrics.frechet_distance(real_mel, ref_mel))
    return {
        "mel_frechet": float(metrics.frechet_distance(gen_mel, ref_mel)),
        "real_mel_frechet": floor,
        "rms_ratio": float(metrics.rms_ratio(generated, reference)),
        "silent_fraction": float(metrics.silent_fraction(generated, rate)),
        "spectral_flatness": float(metrics.spectral_flatness(generated)),
        "reference_silent_fraction": float(metrics.silent_fraction(reference, rate)),
        "reference_spectral_flatness": float(metrics.spectral_flatness(reference)),
        "reference_seconds": round(reference.shape[0] / rate, 3),
    }


@dataclass(frozen=True)
class DriftCurve:
    """Per-step mean squared error (normalised feature space) on one held-out song.

    :ivar free: the model fed its own output, step ``k`` after the prompt.
    :ivar teacher: the model fed the true frames up to step ``k`` (one step ahead).
    :ivar persistence: the last prompt frame repeated, for scale.
    :ivar start: the frame index where generation starts (prompt length).
    """

    free: np.ndarray
    teacher: np.ndarray
    persistence: np.ndarray
    start: int

    @property
    def steps(self) -> int:
        """Number of generated steps measured."""
        return int(self.free.shape[0])

    def summary(self) -> dict[str, Any]:
        """Means and end points, for metrics.json (the curve itself goes to drift.json)."""
        if self.steps == 0:
            return {"steps": 0}
        return {
            "steps": self.steps,
            "start_frame": self.start,
            "free_mse_mean": float(self.free.mean()),
            "free_mse_final": float(self.free[-1]),
            "teacher_forced_mse_mean": float(self.teacher.mean()),
            "persistence_mse_mean": float(self.persistence.mean()),
        }

    def to_json(self, hop: int, rate: int) -> dict[str, Any]:
        """The whole curve, with the time of each step in seconds."""
        return {
            "start_frame": self.start,
            "seconds_per_step": hop / rate,
            "free_mse": [float(v) for v in self.free],
            "teacher_forced_mse": [float(v) for v in self.teacher],
            "persistence_mse": [float(v) for v in self.persistence],
        }


def teacher_windows(frames: np.ndarray, start: int, steps: int, context: int) -> np.ndarray:
    """``[steps, context, D]``: for step ``k`` the ``context`` true frames before frame
    ``start + k`` (zero-padded on the left, zero being the mean in normalised space)."""
    dim = frames.shape[1]
    padded = np.concatenate([np.zeros((context, dim), np.float32), frames[: start + steps]])
    index = np.arange(context)[None, :] + np.arange(start, start + steps)[:, None]
    return padded[index]


def drift_curve(
    model: Model, frames: np.ndarray, prompt_frames: int, max_steps: int = MAX_DRIFT_STEPS,
    seed: int = 0,
) -> DriftCurve:
    """Measure the drift of ``model`` on normalised song ``frames`` ``[T, D]``.

    The prompt is the first ``prompt_frames`` frames (at least the model's context when the
    song is long enough); the curve covers what is left, up to ``max_steps``.
    """
    frames = np.asarray(frames, dtype=np.float32)
    total, dim = frames.shape
    empty = np.zeros(0, np.float32)
    if total < 2:
        return DriftCurve(empty, empty, empty, 0)
    context = max(1, model.input_frames)
    start = max(1, prompt_frames, min(context, total - 1))
    start = min(start, total - 1)
    steps = max(0, min(max_steps, total - start))
    if steps == 0:
        return DriftCurve(empty, empty, empty, start)
    truth = frames[start : start + steps]
    free = np.asarray(model.generate(frames[:start], steps, temperature=0.0, seed=seed))
    free_mse = ((free.reshape(steps, dim) - truth) ** 2).mean(axis=1)
    windows = teacher_windows(frames, start, steps, context)
    teacher = np.concatenate([
        np.asarray(model.predict(windows[i : i + PREDICT_BATCH]))[:, 0, :]
        for i in range(0, steps, PREDICT_BATCH)
    ])
    teacher_mse = ((teacher - truth) ** 2).mean(axis=1)
    persistence_mse = ((frames[start - 1][None, :] - truth) ** 2).mean(axis=1)
    return DriftCurve(
        free=free_mse.astype(np.float32), teacher=teacher_mse.astype(np.float32),
        persistence=persistence_mse.astype(np.float32), start=start,
    )
