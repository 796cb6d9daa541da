"""Every clip measured by every registered measure, beside the real music after its prompt.

:func:`evaluate` is the ``music`` section of metrics.json: each clip's measures, whole and
in its last :data:`LAST_SECONDS`; the median and worst over clips; the same measures of the
*real* continuation of each prompt (what its song really does next), printed beside them so
every number reads against what music scores; the targets missed; and a one-line collapse
diagnosis per clip. ``prompt_sensitivity`` is a clip's own pair (the clip and its partner,
another song's prompt with the same seed), so its median and worst are over pairs; the
record lists the pairs (``sensitivity_pairs``). The measures come from the registry, so a
plugin's measure is in the record, the table and the report like Kara's own.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from kara_core.components.measure import Clip, HeldOutMusic, Measure
from kara_core.measures import scoring
from kara_core.measures.music import collapse, yardstick_for
from kara_core.pipeline.evaluate.heldout import real_clips
from kara_core.pipeline.generate import Clips, clip_file, describe_prompt

LAST_SECONDS = 10.0
"""The end of every clip is measured on its own too: music-like to the end."""


def _rounded(measures: dict[str, float]) -> dict[str, float | None]:
    return {key: finite_or_none(value) for key, value in measures.items()}


def finite_or_none(value: float) -> float | None:
    """``value`` rounded to 4 decimals, ``None`` when it is not finite (JSON has no NaN)."""
    value = float(value)
    return round(value, 4) if math.isfinite(value) else None


def describe_measures(measures: Sequence[Measure]) -> dict[str, dict[str, Any]]:
    """What each measure is, as the record keeps it (the report and table explain the
    numbers of old records by it, whatever is installed when they are read)."""
    return {m.name: {
        "description": m.description, "direction": m.direction,
        "target": list(m.target) if m.target else None,
        "target_text": m.target_text(), "header": m.column_header(), "fmt": m.fmt,
        "order": m.order,
    } for m in measures}


def evaluate(clips: Clips, music: HeldOutMusic, measures: Sequence[Measure], *,
             last_seconds: float = LAST_SECONDS,
             files: Callable[[int], str] = clip_file) -> dict[str, Any]:
    """The ``music`` record of ``clips`` against ``music`` (see the module)."""
    started = time.perf_counter()
    measured = clips.measured()
    if not measured:
        raise ValueError("no clips to measure")
    rate = music.rate
    seconds = measured[0].seconds
    tail_seconds = min(float(last_seconds), seconds)
    values, tails, records = [], [], []
    for number, (clip, prompt, generation) in enumerate(
            zip(measured, clips.prompts, clips.generations, strict=True)):
        whole = scoring.measure_clip(clip, music, measures)
        tail = (whole if tail_seconds >= seconds
                else scoring.measure_clip(clip.last(tail_seconds), music, measures))
        line = collapse(whole)
        end = collapse(tail) if tail is not whole else None
        if line is None and end is not None:
            line = f"in its last {tail_seconds:g} s, {end}"
        values.append(whole)
        tails.append(tail)
        records.append({
            "file": files(number), "source": prompt.source,
            "offset_seconds": round(prompt.offset, 3), "seed": clip.seed,
            "paired_with": clip.other_song.source if clip.other_song is not None else None,
            **_rounded(whole),
            "score": finite_or_none(scoring.clip_score(whole, measures)),
            "rtf": round(generation.rtf, 5), "collapse": line, "last_10s": _rounded(tail),
        })
    prompt_seconds = clips.generations[0].prompt_wave.shape[0] / rate
    real = [scoring.measure_clip(c, music, measures) for c in real_clips(
        music, clips.prompts, prompt_seconds, seconds, clips.other_song_prompts)]
    summary = scoring.summarize(values, measures)
    scores = [scoring.clip_score(v, measures) for v in values]
    summary["median"]["score"] = float(np.median(scores))
    summary["worst"]["score"] = max(scores)
    misses = scoring.misses(values, measures)
    yard = yardstick_for(music, seconds)
    return {
        "seconds": round(seconds, 3),
        "prompts": len(records),
        "clips": records,
        "summary": {key: _rounded(value) for key, value in summary.items()},
        "last_10s": {"seconds": round(tail_seconds, 3), "summary": {
            key: _rounded(value) for key, value in scoring.summarize(tails, measures).items()}},
        "real": {"clips": len(real),
                 "summary": {"median": _rounded(scoring.summarize(real, measures)["median"])}},
        "measures": describe_measures(measures),
        "diversity": finite_or_none(values[0].get("diversity", math.nan)),
        "prompt_sensitivity": finite_or_none(summary["median"].get("prompt_sensitivity",
                                                                   math.nan)),
        "sensitivity_pairs": clips.sensitivity_pairs(),
        "misses": misses,
        "meets_targets": not misses,
        "collapsed": sum(1 for r in records if r["collapse"]),
        "yardstick": {
            "excerpts": yard.excerpts, "seconds": round(yard.seconds, 3),
            "excerpt_seconds": round(yard.excerpt_seconds, 3),
            "songs": len(music.songs), "held_out": music.held_out,
            "reference_seconds": round(sum(len(w) for w in music.waves) / rate, 3),
            "level_dbfs": round(yard.level_db, 2),
        },
        "rtf": round(clips.rtf, 5),
        "generate_seconds": round(sum(
            g.compute_seconds for g in [*clips.generations, *clips.extra]), 3),
        "measure_seconds": round(time.perf_counter() - started, 3),
    }


def measure_clips(clips: Sequence[Clip], music: HeldOutMusic,
                  measures: Sequence[Measure]) -> list[dict[str, float]]:
    """Each clip's measures (what the training judge scores)."""
    return [scoring.measure_clip(clip, music, measures) for clip in clips]


def collapse_summary(name: str, record: dict[str, Any], clips: Clips) -> str | None:
    """One line for a variant whose clips collapsed (``None`` when none did): how many,
    of which kinds, and the first one's prompt and diagnosis (each clip's is in its
    record), so that twenty collapsed clips are one warning, not twenty."""
    lines = collapse_lines(name, record, clips)
    if not lines:
        return None
    kinds: dict[str, int] = {}
    for clip in record["clips"]:
        if clip.get("collapse"):
            kind = str(clip["collapse"]).split(":")[0]
            kinds[kind] = kinds.get(kind, 0) + 1
    counted = ", ".join(f"{kind} {count}" for kind, count in kinds.items())
    first = lines[0].removeprefix(f"{name}: ")
    return (f"{name}: {len(lines)} of {len(record['clips'])} clips collapsed ({counted}); "
            f"first: {first}")


def collapse_lines(name: str, record: dict[str, Any], clips: Clips) -> list[str]:
    """One line per collapsed clip of a ``music`` record, naming the variant and prompt."""
    return [
        f"{name}: prompt {number + 1} ({describe_prompt(prompt)}, {clip['file']}) collapsed: "
        f"{clip['collapse']}"
        for number, (clip, prompt) in enumerate(zip(record["clips"], clips.prompts,
                                                    strict=False))
        if clip.get("collapse")
    ]
