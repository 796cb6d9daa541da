"""Several clips' measures into medians, worst clips, targets missed and one score.

Everything here works on whichever measures are registered (Kara's and any plugin's):
their ``target`` (the median over clips), ``every_clip`` (what no clip may fall outside),
``direction`` (which clip is the worst), ``counts`` (pulse does not count for a clip that
loops) and ``distance`` (how far outside a range, in natural-log units by default). The
evaluation, the table and the training judge all read them from here, so a measure a
plugin registers is judged like Kara's own.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np

from kara_core.components.measure import Clip, HeldOutMusic, Measure


def measure_clip(clip: Clip, music: HeldOutMusic, measures: Sequence[Measure]) -> dict[str, float]:
    """Every measure of ``clip`` by name (NaN where one cannot measure it)."""
    return {measure.name: float(measure.compute(clip, music)) for measure in measures}


def _counted(clip: Mapping[str, float], measure: Measure) -> float:
    """The clip's value as the targets see it: the worst possible where the measure says
    it does not count (0 where higher is better, ``inf`` otherwise), NaN where missing."""
    value = float(clip.get(measure.name, math.nan))
    if not math.isfinite(value) or measure.counts(clip):
        return value
    return 0.0 if measure.direction == "higher" else math.inf


def summarize(clips: Sequence[Mapping[str, float]],
              measures: Sequence[Measure]) -> dict[str, dict[str, float]]:
    """``{"median": {...}, "worst": {...}}`` of each measure over the clips where it is
    finite (NaN where it is nowhere); the worst as the measure defines it."""
    median: dict[str, float] = {}
    worst: dict[str, float] = {}
    for measure in measures:
        values = [float(c[measure.name]) for c in clips
                  if measure.name in c and math.isfinite(float(c[measure.name]))]
        if not values:
            median[measure.name] = worst[measure.name] = float("nan")
            continue
        median[measure.name] = float(np.median(values))
        worst[measure.name] = float(measure.worst(values))
    return {"median": median, "worst": worst}


def counted_medians(clips: Sequence[Mapping[str, float]],
                    measures: Sequence[Measure]) -> dict[str, float]:
    """Each measure's median over the clips as the targets see them (:func:`_counted`)."""
    found = {}
    for measure in measures:
        values = [v for v in (_counted(c, measure) for c in clips) if not math.isnan(v)]
        found[measure.name] = float(np.median(values)) if values else float("nan")
    return found


def clip_score(clip: Mapping[str, float], measures: Sequence[Measure]) -> float:
    """One clip's distance to the targets, summed over the scored measures (0 when it
    meets them; ``inf`` when a required measure is missing)."""
    return _target_distance(dict(clip), [clip], measures)


def _target_distance(medians: Mapping[str, float], clips: Sequence[Mapping[str, float]],
                     measures: Sequence[Measure]) -> float:
    score = 0.0
    for measure in measures:
        if not measure.scored or measure.target is None:
            continue
        value = float(medians.get(measure.name, math.nan))
        if math.isnan(value):
            if measure.required:
                return math.inf
            continue
        if len(clips) == 1:
            value = _counted(clips[0], measure)
        score += measure.distance(value, measure.target)
    return float(score)


def _below_floors(clip: Mapping[str, float], measures: Sequence[Measure]) -> dict[str, float]:
    """How far one clip falls outside each measure's ``every_clip`` (0 inside; ``inf`` for
    a required measure that is missing)."""
    found = {}
    for measure in measures:
        if measure.every_clip is None:
            continue
        value = float(clip.get(measure.name, math.nan))
        if math.isnan(value) and not measure.required:
            continue
        found[measure.name] = measure.distance(value, measure.every_clip)
    return found


def clips_score(clips: Sequence[Mapping[str, float]], measures: Sequence[Measure]) -> float:
    """One number for several clips, lower is better, 0 exactly when :func:`misses` finds
    nothing (what the training judge keeps the best epoch, and calibrates the sampling
    temperature, by).

    Each scored measure's distance to its target on the clips' (counted) medians, plus
    the mean over clips of how far each falls outside ``every_clip``: a clip that smears a
    little moves the medians only as much as it moves the evaluation's, while one clip
    collapsing costs what a collapse costs, whatever the other prompts did. ``inf`` when
    a required measure is missing."""
    if not clips:
        return math.inf
    score = _target_distance(counted_medians(clips, measures), clips, measures)
    below = sum(sum(_below_floors(clip, measures).values()) for clip in clips)
    return float(score + below / len(clips))


def misses(clips: Sequence[Mapping[str, float]], measures: Sequence[Measure]) -> list[str]:
    """What keeps these clips from the targets (empty when they meet them): each
    measure's ``target`` on the (counted) medians, and every clip within ``every_clip``."""
    if not clips:
        return ["no clips"]
    medians = counted_medians(clips, measures)
    found = []
    for measure in measures:
        if measure.target is None:
            continue
        value = medians.get(measure.name, math.nan)
        if math.isnan(value) and not measure.required:
            continue
        if measure.distance(value, measure.target) != 0:
            why = ("" if measure.counts(medians) or math.isnan(value)
                   else " (counted only where it does not loop)")
            found.append(f"median {measure.name} {value:.2f} outside "
                         f"{measure.target_text()}{why}")
    for number, clip in enumerate(clips):
        for name, distance in _below_floors(clip, measures).items():
            if distance > 0:
                measure = next(m for m in measures if m.name == name)
                value = float(clip.get(name, math.nan))
                low, high = measure.every_clip or (-math.inf, math.inf)
                bound = f"< {low:g}" if value < low or math.isnan(value) else f"> {high:g}"
                found.append(f"clip {number + 1}: {name} {format(value, measure.fmt)} {bound}")
    return found
