"""The short comparison: the rows a user decides on, then the verdict.

``kara run`` and ``kara compare`` print it by default (``--all``: the full table of
:mod:`kara_core.report.table`): one column per variant, one row per music target's median,
the targets met, the model's held-out score against its own baseline and the training
time; the best of each row marked, and each row explained under the table. Then the
verdict line (:mod:`kara_core.report.verdict`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from kara_core.console import safe_text
from kara_core.report.columns import RunRecord, measure_specs
from kara_core.report.table import REAL_ROW, print_table
from kara_core.report.verdict import Verdict, verdict

if TYPE_CHECKING:
    from rich.console import Console

__all__ = ["BEST_MARK", "ShortRow", "print_results", "print_short_table", "short_rows"]



BEST_MARK = "*"
"""Marks the best value of a row of the short table."""


@dataclass(frozen=True)
class ShortRow:
    """One row of the short table: a label, each variant's value (``None`` when missing),
    how the value is shown, which way is best, and the footer line explaining it."""

    label: str
    values: tuple[float | None, ...]
    texts: tuple[str, ...]
    best: str
    """``higher``, ``lower``, ``target`` (nearest the target) or ``""`` (not compared)."""
    explain: str
    distance: tuple[float, ...] = ()
    real: str = ""
    direction: str = ""
    """Within the target, which way is better (``higher``, ``lower`` or ``range``)."""


def _heldout(record: RunRecord) -> tuple[float | None, str, str]:
    """The model's own held-out score: its gain, a short text, and what it is measured
    by (a gain is compared across variants only when they share that measure)."""
    heldout = record.metrics.get("heldout")
    if not isinstance(heldout, dict) or record.status in ("failed", "unreadable"):
        return None, "—", ""
    text = heldout.get("text")
    short = str(text).split(" vs ")[0] if text else "—"
    gain = heldout.get("gain")
    number = float(gain) if isinstance(gain, int | float) and not isinstance(gain, bool) \
        else None
    return number, short, f"{heldout.get('measure')} vs {heldout.get('baseline_kind')}"


def _number_of(record: RunRecord, path: str) -> float | None:
    value: Any = record.metrics
    for part in path.split("."):
        value = value.get(part) if isinstance(value, dict) else None
    if record.status in ("failed", "unreadable") or isinstance(value, bool) \
            or not isinstance(value, int | float) or not math.isfinite(value):
        return None
    return float(value)


def short_rows(records: Sequence[RunRecord], measures: Sequence[Any],
               judged: Verdict) -> list[ShortRow]:
    """The rows a user decides on: each music target's median, the targets met, the
    model's held-out score against its own baseline, and the training time (those no
    record has a figure for are left out: records of older runs)."""
    specs = [s for s in measure_specs(records, measures) if s.target_text]
    registered = {m.name: m for m in measures}
    rows = []
    for spec in specs:
        path = f"music.summary.median.{spec.name}"
        values = tuple(_number_of(r, path) for r in records)
        measure = registered.get(spec.name)
        distance: tuple[float, ...] = ()
        if measure is not None and measure.target is not None:
            distance = tuple(measure.distance(v, measure.target) if v is not None else math.inf
                             for v in values)
        real = next((format(v, spec.fmt) for v in (
            _number_of(r, f"music.real.summary.median.{spec.name}") for r in records)
            if v is not None), "")
        label = spec.header.replace("-\n", "").replace("\n", " ")
        rows.append(ShortRow(
            label, values, tuple("—" if v is None else format(v, spec.fmt) for v in values),
            "target" if distance else "", f"{label}: {spec.description} (target: median "
            f"{spec.target_text})", distance, real,
            measure.direction if measure is not None else ""))
    standings = {s.variant: s for s in judged.standings}
    met = tuple(float(standings[r.variant].met) if r.variant in standings else None
                for r in records)
    total = max((s.total for s in judged.standings), default=0)
    rows.append(ShortRow(
        "targets met", met, tuple("—" if v is None else f"{v:.0f}/{total}" for v in met),
        "higher", "targets met: how many of the targets above the variant meets (its median "
        "inside the target, no clip below its floor)"))
    held = [_heldout(r) for r in records]
    kinds = {kind for value, _text, kind in held if value is not None}
    rows.append(ShortRow(
        "held out vs own baseline", tuple(h[0] for h in held), tuple(h[1] for h in held),
        "higher" if len(kinds) == 1 else "",
        "held out vs own baseline: the model's own score on held-out windows against the "
        "simplest model of its kind (higher is better; compared only between variants "
        "scored the same way)"))
    seconds = tuple(_number_of(r, "training.seconds") for r in records)
    rows.append(ShortRow(
        "training s", seconds,
        tuple("—" if v is None else format(v, ".0f" if v >= 10 else ".1f") for v in seconds),
        "lower", "training s: seconds spent training the model on this machine"))
    return [row for row in rows if any(v is not None for v in row.values) or row.real]


def _sign(direction: str) -> float:
    return -1.0 if direction == "higher" else 1.0 if direction == "lower" else 0.0


def _best(row: ShortRow) -> set[int]:
    """The indices of the row's best values: nearest the target, then the better way
    (every variant that ties for best; none when all tie or fewer than two compare)."""
    found = [(i, v) for i, v in enumerate(row.values) if v is not None]
    if len(found) < 2 or not row.best:
        return set()
    if row.best == "target":
        key = {i: (row.distance[i], _sign(row.direction) * v) for i, v in found}
    else:
        key = {i: (_sign(row.best) * v, 0.0) for i, v in found}
    top = min(key.values())
    best = {i for i in key if key[i] == top}
    return set() if len(best) == len(found) else best


def print_short_table(records: Sequence[RunRecord], console: Console, title: str = "",
                      measures: Sequence[Any] | None = None,
                      judged: Verdict | None = None) -> None:
    """The short comparison: one row per measure a user decides on, one column per
    variant (and what the real music scores), the best of each row marked, a line per
    row saying what it measures and its target, then the failures."""
    from rich import box
    from rich.markup import escape as rich_escape
    from rich.table import Table

    if measures is None:
        from kara_core.plugins import registered_measures

        measures = registered_measures()
    judged = judged if judged is not None else verdict(records, measures)
    rows = short_rows(records, measures, judged)
    table = Table(title=title or None, box=box.SIMPLE_HEAD, pad_edge=False)
    table.add_column("", no_wrap=True)
    for record in records:
        name = rich_escape(safe_text(record.variant))
        if record.status in ("failed", "unreadable"):
            name = f"[red]{name}[/]"
        table.add_column(name, justify="right", no_wrap=True)
    has_real = any(row.real for row in rows)
    if has_real:
        table.add_column(f"[dim]{REAL_ROW}[/]", justify="right", no_wrap=True)
    for row in rows:
        best = _best(row)
        cells = [f"[bold green]{text}{BEST_MARK}[/]" if i in best else f"{text} "
                 for i, text in enumerate(row.texts)]
        table.add_row(row.label, *cells, *((f"[dim]{row.real}[/]",) if has_real else ()))
    console.print(table)
    for row in rows:
        console.print(f"  {row.explain}", style="dim", highlight=False, soft_wrap=False)
    console.print(f"  {BEST_MARK} the best of the variants in its row; medians over the "
                  "prompts; 'kara run --all' or 'kara compare --all' shows every measure",
                  style="dim", highlight=False, soft_wrap=False)
    for record in records:
        if record.status in ("failed", "unreadable"):
            what = "failed" if record.status == "failed" else "has an unreadable record"
            console.print(f"[red]{rich_escape(safe_text(record.variant))} {what}:[/] "
                          f"{rich_escape(safe_text(record.error or 'unknown error'))}",
                          soft_wrap=False)


def print_results(records: Sequence[RunRecord], console: Console, title: str = "",
                  every: bool = False, demo: bool = False,
                  measures: Sequence[Any] | None = None) -> Verdict:
    """What ``kara run`` and ``kara compare`` print: the short table (every measure with
    ``every``), then the verdict line (``demo``: the music came from the demo folder)."""
    if measures is None:
        from kara_core.plugins import registered_measures

        measures = registered_measures()
    judged = verdict(records, measures, demo=demo)
    if every:
        print_table(records, console, title=title, measures=measures)
    else:
        print_short_table(records, console, title=title, measures=measures, judged=judged)
    console.print(safe_text(judged.text), style="bold", highlight=False, markup=False,
                  soft_wrap=False)
    return judged
