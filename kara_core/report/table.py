"""The comparison of variants: run records, and one table (terminal, JSON, CSV).

Everything here reads saved run records (``metrics.json`` in each run folder), so
``kara compare`` shows exactly what ``kara run`` showed without recomputing anything. The
rows and columns are defined in :mod:`kara_core.report.columns`; the listening pages built
from the same records are in :mod:`kara_core.report.html`.
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kara_core.console import safe_text
from kara_core.errors import KaraError
from kara_core.report.columns import (
    Column,
    MeasureSpec,
    RunRecord,
    columns,
    fields,
    label_models,
    measure_specs,
    music_note,
    summary,
)
from kara_core.report.records import METRICS_FILE, read_metrics_checked

if TYPE_CHECKING:
    from rich.console import Console

    from kara_core.config import ExperimentConfig

__all__ = [
    "Column", "MeasureSpec", "RunRecord", "columns", "experiment_records", "fields",
    "find_records", "label_models", "load_record", "measure_specs", "music_note",
    "print_table", "shown_columns", "summary", "table_columns", "to_csv", "to_json",
]


# --------------------------------------------------------------------------- loading


def load_record(run_dir: Path) -> RunRecord:
    """The record in ``run_dir`` (which holds ``metrics.json``); one that cannot be read
    carries the reason (:attr:`RunRecord.problem`)."""
    metrics, problem = read_metrics_checked(run_dir)
    name = metrics.get("variant") or run_dir.name
    return RunRecord(variant=str(name), run_dir=run_dir, metrics=metrics, problem=problem)


def find_records(paths: Iterable[Path | str]) -> list[RunRecord]:
    """Records from variant run folders, or experiment folders holding them.

    An experiment folder contributes its variants in the config's order (as its last
    ``kara run`` wrote it, :data:`ORDER_FILE`), then any others with ``base`` first, then
    by name.
    """
    found: list[RunRecord] = []
    for raw in paths:
        path = Path(raw)
        if not path.exists():
            raise KaraError(f"{path}: no such run folder")
        if (path / METRICS_FILE).is_file():
            found.append(load_record(path))
            continue
        children = sorted(
            (p for p in path.iterdir() if (p / METRICS_FILE).is_file()) if path.is_dir() else (),
            key=lambda p: _order_key(path, p),
        )
        if not children:
            raise KaraError(
                f"{path}: not a run folder (no {METRICS_FILE}) and holds none; "
                "run 'kara run kara.yaml' first"
            )
        found.extend(load_record(child) for child in children)
    return found


ORDER_FILE = "variants.json"
"""The experiment folder's list of its variants in the config's order (written with
``index.html``), so ``kara compare`` shows them as ``kara run`` did."""


def _order_key(folder: Path, child: Path) -> tuple[int, bool, str]:
    import json

    try:
        order = json.loads((folder / ORDER_FILE).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError):
        order = []
    names = [str(n) for n in order] if isinstance(order, list) else []
    place = names.index(child.name) if child.name in names else len(names)
    return (place, child.name != "base", child.name)


def experiment_records(experiment: ExperimentConfig) -> list[RunRecord]:
    """Saved records of every variant of ``experiment``, in config order."""
    return [
        load_record(v.run_dir) for v in experiment.variants
        if (v.run_dir / METRICS_FILE).is_file()
    ]


# --------------------------------------------------------------------------- table, JSON, CSV


TEXT_WIDTHS = {"variant": 16, "transform": 22, "model": 22, "run_dir": 24}
"""Widest the text columns get in the wide table; longer text folds onto more lines."""


def table_columns(records: Sequence[RunRecord],
                  measures: Sequence[Any] | None = None) -> tuple[Column, ...]:
    """Every column for ``records``: one per registered measure (``measures``: the
    registry's by default) and per measure the records describe."""
    return columns(measure_specs(records, measures))


def print_table(records: Sequence[RunRecord], console: Console, title: str = "",
                measures: Sequence[Any] | None = None) -> None:
    """The rich comparison table (one row per variant, then a row of what the real music
    after the same prompts scores), then one line per failed variant.

    When the terminal is too narrow for a row per variant, the table is turned: one column
    per variant, one row per measure, so no number is ever cut.
    """
    from rich.markup import escape as rich_escape
    from rich.measure import Measurement

    records = label_models(records)
    specs = measure_specs(records, measures)
    every = columns(specs)
    shown = shown_columns(records, every)
    rows = [_cells(record, shown) for record in records]
    real = _real_row(records, shown)
    if real is not None:
        rows.append(real)
    wide = _wide_table(rows, title, shown)
    natural = Measurement.get(console, console.options.update_width(10_000), wide).maximum
    fits = natural <= console.width
    console.print(wide if fits else _tall_table(rows, title, shown))
    if len(shown) == len(every):
        console.print(music_note(specs), style="dim", highlight=False, soft_wrap=False)
    for record in records:
        if record.status in ("failed", "unreadable"):
            what = "failed" if record.status == "failed" else "has an unreadable record"
            console.print(f"[red]{rich_escape(safe_text(record.variant))} {what}:[/] "
                          f"{rich_escape(safe_text(record.error or 'unknown error'))}")


REAL_ROW = "real music"
"""The label of the row that shows what the held-out songs score."""


def _real_row(records: Sequence[RunRecord], shown: Sequence[Column]) -> list[str] | None:
    """The real continuations' measures of the first record that has them (the variants
    of one experiment share their held-out songs), ``None`` when none has."""
    for record in records:
        if record.status in ("failed", "unreadable"):
            continue
        values = [column.real_value(record) if column.real else None for column in shown]
        if any(v is not None for v in values):
            return [f"[dim]{REAL_ROW}[/]" if column.key == "variant"
                    else column.show(value) if column.real and value is not None else ""
                    for column, value in zip(shown, values, strict=True)]
    return None


def shown_columns(records: Sequence[RunRecord],
                  every: Sequence[Column] | None = None) -> tuple[Column, ...]:
    """The terminal table's columns: all of them, but the music columns only when some
    record was measured on the audio (records of older runs have no ``music`` section)."""
    every = tuple(every) if every is not None else table_columns(records)
    if any(isinstance(r.metrics.get("music"), dict) for r in records):
        return every
    return tuple(c for c in every if not c.path.startswith("music."))


def _cells(record: RunRecord, columns: Sequence[Column]) -> list[str]:
    from rich.markup import escape as rich_escape

    cells = [rich_escape(safe_text(column.text(record))) for column in columns]
    if record.status in ("failed", "unreadable"):
        cells[0] = f"[red]{cells[0]} ({record.status})[/]"
    return cells


def _wide_table(rows: Sequence[list[str]], title: str, shown: Sequence[Column]) -> Any:
    from rich import box
    from rich.table import Table

    table = Table(title=title or None, box=box.SIMPLE_HEAD, pad_edge=False)
    for column in shown:
        numeric = column.key not in TEXT_WIDTHS
        table.add_column(column.header, justify="right" if numeric else "left",
                         overflow="fold", no_wrap=numeric, max_width=TEXT_WIDTHS.get(column.key))
    for cells in rows:
        table.add_row(*cells)
    return table


def _tall_table(rows: Sequence[list[str]], title: str, shown: Sequence[Column]) -> Any:
    from rich import box
    from rich.table import Table

    table = Table(title=title or None, box=box.SIMPLE_HEAD, pad_edge=False)
    table.add_column("variant", no_wrap=True)
    for cells in rows:
        table.add_column(cells[0], justify="right", overflow="fold")
    for i, column in enumerate(shown[1:], 1):
        label = column.header.replace("-\n", "").replace("\n", " ")
        table.add_row(label, *(cells[i] for cells in rows))
    return table


def to_json(records: Sequence[RunRecord], measures: Sequence[Any] | None = None,
            demo: bool = False) -> dict[str, Any]:
    """``{"verdict": {...}, "measures": [...], "variants": [{"variant", "run_dir",
    "status", "metrics", "summary"}]}``: the verdict (:mod:`kara_core.report.verdict`; the
    best variant, its line, each variant's targets met), each measure's name, header,
    target and description, and each variant's table values (real music's beside each
    measure as ``<key>_real``); NaN and infinities become ``null`` so that any JSON parser
    reads the output. ``demo``: the music came from the demo folder."""
    from kara_core.report.verdict import verdict

    if measures is None:
        from kara_core.plugins import registered_measures

        measures = registered_measures()
    specs = measure_specs(records, measures)
    shown = columns(specs)
    return {
        "verdict": _finite(verdict(records, measures, demo=demo).to_json()),
        "measures": [{"name": s.name, "header": s.header.replace("\n", " "),
                      "target": s.target_text, "description": s.description} for s in specs],
        "variants": [
            {"variant": r.variant, "run_dir": str(r.run_dir), "status": r.status,
             "metrics": _finite(r.metrics), "summary": _finite(summary(r, shown))}
            for r in label_models(records)
        ]}


def _finite(data: Any) -> Any:
    if isinstance(data, float):
        return data if math.isfinite(data) else None
    if isinstance(data, dict):
        return {k: _finite(v) for k, v in data.items()}
    if isinstance(data, list):
        return [_finite(v) for v in data]
    return data


def to_csv(records: Sequence[RunRecord], measures: Sequence[Any] | None = None) -> str:
    """The table as CSV: one row per variant, raw numbers, then status and error."""
    shown = table_columns(records, measures)
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=fields(shown), lineterminator="\n")
    writer.writeheader()
    for record in label_models(records):
        writer.writerow({k: ("" if v is None else safe_text(v) if isinstance(v, str) else v)
                         for k, v in summary(record, shown).items()})
    return buffer.getvalue()
