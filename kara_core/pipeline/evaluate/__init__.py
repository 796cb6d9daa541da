"""The evaluate stage: generated clips measured against the held-out music.

Its front door is :func:`evaluate` (clips, held-out music, measures in; the ``music``
record out). :func:`held_out_music` reads the held-out songs once for generation, the
training judge and the evaluation; :func:`drift_curve` and :func:`evaluate_audio` add the
drift of the model's errors and whole-clip statistics.
"""

from kara_core.pipeline.evaluate.drift import (
    REFERENCE_AUDIO_SECONDS,
    DriftCurve,
    drift_curve,
    evaluate_audio,
    teacher_windows,
)
from kara_core.pipeline.evaluate.heldout import (
    REFERENCE_SECONDS,
    PromptPlan,
    held_out_music,
    heldout_songs,
    real_clips,
)
from kara_core.pipeline.evaluate.music import (
    LAST_SECONDS,
    collapse_lines,
    collapse_summary,
    evaluate,
    finite_or_none,
    measure_clips,
)
from kara_core.pipeline.evaluate.plots import write_plots

__all__ = [
    "LAST_SECONDS", "REFERENCE_AUDIO_SECONDS", "REFERENCE_SECONDS", "DriftCurve", "PromptPlan",
    "collapse_lines",
    "collapse_summary",
    "drift_curve", "evaluate", "evaluate_audio", "finite_or_none", "held_out_music",
    "heldout_songs", "measure_clips", "real_clips", "teacher_windows",
    "write_plots",
]
