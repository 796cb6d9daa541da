"""The verdict: one line saying which variant made the best music, by how much, or why none
could.

A table of twenty measures by five variants does not say which variant to keep. The music
targets do: each measure with a ``target`` (or an ``every_clip`` floor) is one target, met
when the median over the variant's clips, as the targets count it, lies inside it and no
clip falls outside its floor (:mod:`kara_core.measures.scoring`). The best variant misses
the fewest targets; ties go to the training judge's score (lower is better). When the
held-out songs are too little music to hold a variant to music targets (the repository's
synthetic demo songs), the verdict says so instead of blaming every variant.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kara_core.measures import scoring
from kara_core.report.columns import RunRecord

MIN_SONGS = 2
"""Fewer held-out songs than this cannot stand for music (the yardstick is one song)."""
MIN_SECONDS = 60.0
"""Less held-out music than this (seconds) cannot stand for music either."""
DEMO_ADVICE = ("the demo's synthetic songs cannot meet music targets: point dataset.mp3_dir "
               "at real music")


@dataclass(frozen=True)
class Standing:
    """How one variant fares against the music targets.

    :ivar variant: its name.
    :ivar met: the targets it meets.
    :ivar total: the targets there are (measures with a target or an every-clip floor).
    :ivar score: the training judge's score of its clips (lower is better, ``inf`` when a
        required measure is missing).
    :ivar missed: the names of the measures whose targets it misses.
    """

    variant: str
    met: int
    total: int
    score: float
    missed: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        """Its figures for ``--json`` (an infinite score is ``null``)."""
        return {"variant": self.variant, "targets_met": self.met, "targets": self.total,
                "score": self.score if math.isfinite(self.score) else None,
                "missed": list(self.missed)}


@dataclass(frozen=True)
class Verdict:
    """The verdict of one comparison.

    :ivar best: the variant whose music is best by the targets (``None`` when no variant
        was measured on its audio).
    :ivar text: the one line printed after the table.
    :ivar standings: every measured variant's standing, best first.
    :ivar demo: whether the held-out music is too little to meet music targets.
    """

    best: str | None
    text: str
    standings: tuple[Standing, ...] = field(default_factory=tuple)
    demo: bool = False

    def to_json(self) -> dict[str, Any]:
        """The ``verdict`` of ``kara run --json`` and ``kara compare --json``."""
        return {"best": self.best, "text": self.text, "demo_music": self.demo,
                "variants": [s.to_json() for s in self.standings]}


def _clips(record: RunRecord) -> list[dict[str, float]]:
    """The record's per-clip measures, missing values as NaN (a record that kept only
    the medians counts them as one clip)."""
    music = record.metrics.get("music")
    clips = music.get("clips") if isinstance(music, dict) else None
    if not clips and isinstance(music, dict):
        summary = music.get("summary")
        median = summary.get("median") if isinstance(summary, dict) else None
        clips = [median] if isinstance(median, dict) and median else None
    found = []
    for clip in clips if isinstance(clips, list) else ():
        if isinstance(clip, dict):
            found.append({str(k): float(v) if isinstance(v, int | float)
                          and not isinstance(v, bool) else math.nan for k, v in clip.items()})
    return found


def standing(record: RunRecord, measures: Sequence[Any]) -> Standing | None:
    """``record``'s standing against the targets of ``measures`` (the registered
    :class:`~kara_core.components.Measure` objects with a target or a floor), ``None``
    when it was not measured on its audio or failed. A measure it lacks counts as met
    unless it is required (as :func:`~kara_core.measures.scoring.misses` counts it)."""
    if record.status in ("failed", "unreadable"):
        return None
    clips = _clips(record)
    if not clips:
        return None
    targeted = [m for m in measures if m.target is not None or m.every_clip is not None]
    medians = scoring.counted_medians(clips, targeted)
    missed = []
    for measure in targeted:
        value = medians.get(measure.name, math.nan)
        median_ok = (measure.target is None
                     or (math.isnan(value) and not measure.required)
                     or measure.distance(value, measure.target) == 0)
        floor_ok = measure.every_clip is None or all(
            (math.isnan(clip.get(measure.name, math.nan)) and not measure.required)
            or measure.distance(clip.get(measure.name, math.nan), measure.every_clip) == 0
            for clip in clips)
        if not (median_ok and floor_ok):
            missed.append(measure.name)
    return Standing(variant=record.variant, met=len(targeted) - len(missed),
                    total=len(targeted), score=scoring.clips_score(clips, targeted),
                    missed=tuple(missed))


def too_little_music(records: Sequence[RunRecord]) -> bool:
    """Whether the records' yardstick came from fewer than :data:`MIN_SONGS` held-out
    songs or under :data:`MIN_SECONDS` of music (the demo's synthetic songs)."""
    for record in records:
        music = record.metrics.get("music")
        yard = music.get("yardstick") if isinstance(music, dict) else None
        if not isinstance(yard, Mapping):
            continue
        songs, seconds = yard.get("songs"), yard.get("reference_seconds")
        if isinstance(songs, int) and songs < MIN_SONGS:
            return True
        if isinstance(seconds, int | float) and seconds < MIN_SECONDS:
            return True
    return False


def is_demo_folder(mp3_dir: Path) -> bool:
    """Whether ``mp3_dir`` is the repository's folder of bundled synthetic demo songs."""
    demo = Path(__file__).resolve().parents[2] / "dataset" / "mp3"
    try:
        return mp3_dir.resolve() == demo
    except OSError:
        return False


def verdict(records: Sequence[RunRecord], measures: Sequence[Any] | None = None,
            demo: bool = False) -> Verdict:
    """The verdict on ``records`` by the targets of ``measures`` (the registry's when
    ``None``); ``demo`` says the music came from the demo folder (:func:`is_demo_folder`),
    which the records' yardstick also tells (:func:`too_little_music`)."""
    if measures is None:
        from kara_core.plugins import registered_measures

        measures = registered_measures()
    measured = {name for record in records for clip in _clips(record) for name in clip}
    measures = [m for m in measures if m.name in measured]
    found = [s for s in (standing(r, measures) for r in records) if s is not None]
    demo = demo or too_little_music(records)
    if not found:
        return Verdict(None, "verdict: no variant was measured on its generated audio",
                       demo=demo)
    ranked = tuple(sorted(found, key=lambda s: (s.total - s.met, s.score)))
    best = ranked[0]
    head = f"best: {best.variant} — meets {best.met} of {best.total} targets"
    if len(ranked) > 1:
        other = ranked[1]
        head += f"; next: {other.variant} ({other.met} of {other.total})"
    if best.met == best.total:
        return Verdict(best.variant, f"verdict: {head}", ranked, demo)
    why = DEMO_ADVICE if demo else f"{best.variant} misses {', '.join(best.missed)}"
    return Verdict(best.variant, f"verdict: no variant meets every music target ({head}); "
                   f"{why}", ranked, demo)
