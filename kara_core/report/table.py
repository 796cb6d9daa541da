"""The comparison of variants: run records, and one table (terminal, JSON, CSV).

Everything here reads saved run records (``metrics.json`` in each run folder), so
``kara compare`` shows exactly what ``kara run`` showed without recomputing anything. The
listening pages built from the same records are in :mod:`kara_core.report.html`.
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kara_core.errors import KaraError
from kara_core.report.records import METRICS_FILE, read_metrics

if TYPE_CHECKING:
    from rich.console import Console

    from kara_core.config import ExperimentConfig


@dataclass(frozen=True)
class RunRecord:
    """One variant's saved results."""

    variant: str
    run_dir: Path
    metrics: dict[str, Any]

    @property
    def status(self) -> str:
        """``ok``, ``failed``, ``running`` (interrupted) or ``unknown``."""
        return str(self.metrics.get("status") or "unknown")

    @property
    def error(self) -> str | None:
        """The one-line reason a failed variant gave."""
        value = self.metrics.get("error")
        return str(value) if value else None


def _get(metrics: dict[str, Any], path: str) -> Any:
    value: Any = metrics
    for part in path.split("."):
        if not isinstance(value, dict):
            return None
        value = value.get(part)
    return value


def _number(fmt: str, scale: float = 1.0) -> Callable[[Any], str]:
    def show(value: Any) -> str:
        if isinstance(value, bool) or not isinstance(value, int | float):
            return "—"
        return format(float(value) * scale, fmt)

    return show


def _magnitude(value: Any) -> str:
    """Three significant digits without exponents: 0.123, 12.3, 26088."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return "—"
    size = abs(float(value))
    return format(float(value), ".0f" if size >= 100 else ".1f" if size >= 10 else ".3f")


def _check(value: Any) -> str:
    """``✓`` for True (meets the targets), ``✗`` for False, ``—`` when not measured."""
    return "—" if not isinstance(value, bool) else ("✓" if value else "✗")


@dataclass(frozen=True)
class Column:
    """A table column: its key in JSON/CSV, its header and where its value lives.

    A column with a ``worst`` path shows ``median (worst)``, e.g. ``0.91 (0.62)``; JSON and
    CSV carry the worst as ``<key>_worst`` beside it.
    """

    key: str
    header: str
    path: str
    show: Callable[[Any], str]
    scale: float = 1.0
    worst: str | None = None

    @property
    def keys(self) -> tuple[str, ...]:
        """Its keys in JSON and CSV: ``key``, then ``key_worst`` for a median column."""
        return (self.key, f"{self.key}_worst") if self.worst else (self.key,)

    def worst_value(self, record: RunRecord) -> Any:
        """The worst clip's value of a median column (``None`` when missing or no such)."""
        return _get(record.metrics, self.worst) if self.worst else None

    def value(self, record: RunRecord) -> Any:
        """The raw value (scaled, e.g. fractions to percent), ``None`` when missing."""
        if self.key == "run_dir":
            return str(record.run_dir)
        if self.key == "variant":
            return record.variant
        value = _get(record.metrics, self.path)
        if isinstance(value, int | float) and not isinstance(value, bool) and self.scale != 1:
            return float(value) * self.scale
        return value

    def text(self, record: RunRecord) -> str:
        """The value as shown in the table; a failed variant shows no figures (those left
        in its record by an earlier run do not describe the current configuration)."""
        value = self.value(record)
        if record.status == "failed" and self.key not in ("variant", "transform", "run_dir"):
            return "—"
        if self.key == "run_dir":
            return _short_path(record.run_dir)
        if self.key in ("variant", "transform"):
            return str(value) if value is not None else "—"
        if self.worst and value is not None:
            return f"{self.show(value)} ({self.show(self.worst_value(record))})"
        return self.show(value)


def _short_path(path: Path) -> str:
    """``path`` relative to the working folder when it is inside it (shorter tables)."""
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except (ValueError, OSError):
        return str(path)


def _music(key: str, header: str, show: Callable[[Any], str]) -> Column:
    return Column(key, header, f"music.summary.median.{key}", show,
                  worst=f"music.summary.worst.{key}")


COLUMNS: tuple[Column, ...] = (
    Column("variant", "variant", "variant", str),
    Column("transform", "transform", "transform", str),
    _music("fd_ratio", "fd_ratio\n(worst)", _number(".2f")),
    _music("spread", "spread\n(worst)", _number(".2f")),
    _music("loop", "loop\n(worst)", _number(".2f")),
    Column("diversity", "diver-\nsity", "music.diversity", _number(".2f")),
    _music("level_db", "level dB\n(worst)", _number("+.0f")),
    Column("targets", "tar-\ngets", "music.meets_targets", _check),
    Column("roundtrip_snr_db", "round trip\nSNR dB", "roundtrip.snr_db", _number(".1f")),
    Column("roundtrip_spectral_convergence", "round trip\nspec. conv.",
           "roundtrip.spectral_convergence", _number(".3g")),
    Column("val_loss", "val\nloss", "val_loss", _number(".4f")),
    Column("persistence_loss", "persistence\nloss", "baselines.persistence", _number(".4f")),
    Column("skill", "skill", "skill", _number("+.3f")),
    Column("generation_rtf", "generation\nRTF", "generation.rtf", _number(".3f")),
    Column("mel_frechet", "mel\nFréchet", "evaluation.mel_frechet", _magnitude),
    Column("silent_percent", "silent\n%", "evaluation.silent_fraction", _number(".1f"), 100.0),
    Column("run_dir", "run folder", "run_dir", str),
)


MUSIC_NOTE = (
    "fd_ratio, spread, loop, level: median over the prompts (worst clip in brackets), "
    "measured on the generated audio against real excerpts of the held-out songs (1 = like "
    "the music); targets ✓: medians spread 0.8-1.2, loop ≥ 0.7, fd_ratio ≤ 0.8 and no clip "
    "collapsing"
)
"""Printed under the table: how to read its headline columns."""


def summary(record: RunRecord) -> dict[str, Any]:
    """The table's values for one record, by column key (plus status and error); a median
    column's worst clip under ``<key>_worst``."""
    values: dict[str, Any] = {}
    for column in COLUMNS:
        values[column.key] = column.value(record)
        if column.worst:
            values[f"{column.key}_worst"] = column.worst_value(record)
    values.update(status=record.status, error=record.error)
    return values


def fields() -> list[str]:
    """The CSV header: every column's keys, then status and error."""
    return [key for column in COLUMNS for key in column.keys] + ["status", "error"]


# --------------------------------------------------------------------------- loading


def load_record(run_dir: Path) -> RunRecord:
    """The record in ``run_dir`` (which holds ``metrics.json``)."""
    metrics = read_metrics(run_dir)
    name = metrics.get("variant") or run_dir.name
    return RunRecord(variant=str(name), run_dir=run_dir, metrics=metrics)


def find_records(paths: Iterable[Path | str]) -> list[RunRecord]:
    """Records from variant run folders, or experiment folders holding them.

    An experiment folder contributes its variants with ``base`` first, then by name.
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
            key=lambda p: (p.name != "base", p.name),
        )
        if not children:
            raise KaraError(
                f"{path}: not a run folder (no {METRICS_FILE}) and holds none; "
                "run 'kara run kara.yaml' first"
            )
        found.extend(load_record(child) for child in children)
    return found


def experiment_records(experiment: ExperimentConfig) -> list[RunRecord]:
    """Saved records of every variant of ``experiment``, in config order."""
    return [
        load_record(v.run_dir) for v in experiment.variants
        if (v.run_dir / METRICS_FILE).is_file()
    ]


# --------------------------------------------------------------------------- table, JSON, CSV


TEXT_WIDTHS = {"variant": 16, "transform": 22, "run_dir": 24}
"""Widest the text columns get in the wide table; longer text folds onto more lines."""


def print_table(records: Sequence[RunRecord], console: Console, title: str = "") -> None:
    """The rich comparison table (one row per variant), then one line per failed variant.

    When the terminal is too narrow for a row per variant, the table is turned: one column
    per variant, one row per measure, so no number is ever cut.
    """
    from rich.markup import escape as rich_escape
    from rich.measure import Measurement

    columns = shown_columns(records)
    wide = _wide_table(records, title, columns)
    natural = Measurement.get(console, console.options.update_width(10_000), wide).maximum
    fits = natural <= console.width
    console.print(wide if fits else _tall_table(records, title, columns))
    if len(columns) == len(COLUMNS):
        console.print(MUSIC_NOTE, style="dim", highlight=False, soft_wrap=False)
    for record in records:
        if record.status == "failed":
            console.print(f"[red]{rich_escape(record.variant)} failed:[/] "
                          f"{rich_escape(record.error or 'unknown error')}")


def shown_columns(records: Sequence[RunRecord]) -> tuple[Column, ...]:
    """The terminal table's columns: all of them, but the music columns only when some
    record was measured on the audio (records of older runs have no ``music`` section)."""
    if any(isinstance(r.metrics.get("music"), dict) for r in records):
        return COLUMNS
    return tuple(c for c in COLUMNS if not c.path.startswith("music."))



def _cells(record: RunRecord, columns: Sequence[Column]) -> list[str]:
    from rich.markup import escape as rich_escape

    cells = [rich_escape(column.text(record)) for column in columns]
    if record.status == "failed":
        cells[0] = f"[red]{cells[0]} (failed)[/]"
    return cells


def _wide_table(records: Sequence[RunRecord], title: str, columns: Sequence[Column]) -> Any:
    from rich import box
    from rich.table import Table

    table = Table(title=title or None, box=box.SIMPLE_HEAD, pad_edge=False)
    for column in columns:
        numeric = column.key not in TEXT_WIDTHS
        table.add_column(column.header, justify="right" if numeric else "left",
                         overflow="fold", no_wrap=numeric, max_width=TEXT_WIDTHS.get(column.key))
    for record in records:
        table.add_row(*_cells(record, columns))
    return table


def _tall_table(records: Sequence[RunRecord], title: str, columns: Sequence[Column]) -> Any:
    from rich import box
    from rich.table import Table

    table = Table(title=title or None, box=box.SIMPLE_HEAD, pad_edge=False)
    rows = [_cells(record, columns) for record in records]
    table.add_column("variant", no_wrap=True)
    for cells in rows:
        table.add_column(cells[0], justify="right", overflow="fold")
    for i, column in enumerate(columns[1:], 1):
        label = column.header.replace("-\n", "").replace("\n", " ")
        table.add_row(label, *(cells[i] for cells in rows))
    return table


def to_json(records: Sequence[RunRecord]) -> dict[str, Any]:
    """``{"variants": [{"variant", "run_dir", "status", "metrics", "summary"}]}``; NaN and
    infinities become ``null`` so that any JSON parser reads the output."""
    return {"variants": [
        {"variant": r.variant, "run_dir": str(r.run_dir), "status": r.status,
         "metrics": _finite(r.metrics), "summary": _finite(summary(r))}
        for r in records
    ]}


def _finite(data: Any) -> Any:
    if isinstance(data, float):
        return data if math.isfinite(data) else None
    if isinstance(data, dict):
        return {k: _finite(v) for k, v in data.items()}
    if isinstance(data, list):
        return [_finite(v) for v in data]
    return data


def to_csv(records: Sequence[RunRecord]) -> str:
    """The table as CSV: one row per variant, raw numbers, then status and error."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=fields(), lineterminator="\n")
    writer.writeheader()
    for record in records:
        writer.writerow({k: ("" if v is None else v) for k, v in summary(record).items()})
    return buffer.getvalue()
