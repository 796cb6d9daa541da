"""The comparison table's rows and columns: a run record, what each column shows of it.

A column reads one value of a record's ``metrics.json``; the model column names the type
and, among rows of one type, the options that tell them apart (:func:`label_models`).
Numbers a float cannot hold are shown as missing; text is shown as written, made safe for
a terminal where it is printed (:mod:`kara_core.report.table`).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kara_core.report.records import METRICS_FILE


@dataclass(frozen=True)
class RunRecord:
    """One variant's saved results.

    :ivar problem: what is wrong with its ``metrics.json`` when it cannot be read (the
        row is marked, and ``kara compare`` exits 2).
    :ivar model_label: the model column's text, set by :func:`label_models` from the
        records shown together (the type, and the options that tell rows apart).
    """

    variant: str
    run_dir: Path
    metrics: dict[str, Any]
    problem: str | None = None
    model_label: str | None = None

    @property
    def status(self) -> str:
        """``ok``, ``failed``, ``running`` (interrupted), ``unreadable`` or ``unknown``."""
        if self.problem is not None:
            return "unreadable"
        return str(self.metrics.get("status") or "unknown")

    @property
    def error(self) -> str | None:
        """The one-line reason a failed variant gave (or why its record is unreadable)."""
        if self.problem is not None:
            return f"{self.run_dir / METRICS_FILE}: {self.problem}"
        value = self.metrics.get("error")
        return str(value) if value else None


def _get(metrics: dict[str, Any], path: str) -> Any:
    value: Any = metrics
    for part in path.split("."):
        if not isinstance(value, dict):
            return None
        value = value.get(part)
    return value


MAX_NUMBER = 1e300
"""Numbers beyond this (an integer of 400 digits in a record Kara did not write) are shown
as missing: a float cannot hold them."""


def _numeric(value: Any) -> float | None:
    """``value`` as a float, or ``None`` when it is not a number (or too large for one)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    if isinstance(value, int) and abs(value) > MAX_NUMBER:
        return None
    return float(value)


def _number(fmt: str, scale: float = 1.0) -> Callable[[Any], str]:
    def show(value: Any) -> str:
        number = _numeric(value)
        return "—" if number is None else format(number * scale, fmt)

    return show


def _magnitude(value: Any) -> str:
    """Three significant digits without exponents: 0.123, 12.3, 26088."""
    number = _numeric(value)
    if number is None:
        return "—"
    size = abs(number)
    return format(number, ".0f" if size >= 100 else ".1f" if size >= 10 else ".3f")


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
    real: str | None = None
    """Where real music's value of a measure column lives (the real continuations of the
    same prompts, measured the same way)."""

    @property
    def keys(self) -> tuple[str, ...]:
        """Its keys in JSON and CSV: ``key``, then ``key_worst`` for a median column and
        ``key_real`` for a measure column."""
        return (self.key, *((f"{self.key}_worst",) if self.worst else ()),
                *((f"{self.key}_real",) if self.real else ()))

    def real_value(self, record: RunRecord) -> Any:
        """Real music's value of a measure column (``None`` when missing or no such)."""
        return _plain_value(_get(record.metrics, self.real)) if self.real else None

    def worst_value(self, record: RunRecord) -> Any:
        """The worst clip's value of a median column (``None`` when missing or no such)."""
        return _plain_value(_get(record.metrics, self.worst)) if self.worst else None

    def value(self, record: RunRecord) -> Any:
        """The raw value (scaled, e.g. fractions to percent), ``None`` when missing."""
        if self.key == "run_dir":
            return str(record.run_dir)
        if self.key == "variant":
            return record.variant
        if self.key == "model":
            return record.model_label or model_label(record.metrics, ())
        value = _plain_value(_get(record.metrics, self.path))
        if isinstance(value, int | float) and not isinstance(value, bool) and self.scale != 1:
            return float(value) * self.scale
        return value

    def text(self, record: RunRecord) -> str:
        """The value as shown in the table; a failed variant shows no figures (those left
        in its record by an earlier run do not describe the current configuration)."""
        value = self.value(record)
        if record.status in ("failed", "unreadable") and self.key not in TEXT_KEYS:
            return "—"
        if self.key == "run_dir":
            return _short_path(record.run_dir)
        if self.key in TEXT_KEYS:
            return str(value) if value is not None else "—"
        if self.worst and value is not None:
            return f"{self.show(value)} ({self.show(self.worst_value(record))})"
        return self.show(value)


TEXT_KEYS = ("variant", "transform", "model", "run_dir")
"""Columns of text rather than figures (left-aligned; shown for a failed variant too)."""


def _plain_value(value: Any) -> Any:
    """``value``, but ``None`` for an integer too large to show (see :data:`MAX_NUMBER`)."""
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) > MAX_NUMBER:
        return None
    return value


def _option_text(value: Any) -> str:
    if isinstance(value, list | tuple):
        return ",".join(_option_text(v) for v in value)
    if isinstance(value, float):
        return format(value, "g")
    return str(value)


SHOWN_OPTIONS = 3
"""Options named in the model column at most (those that differ between its rows)."""


def model_label(metrics: dict[str, Any], differing: Sequence[str]) -> str | None:
    """``lstm_seq2seq units=16 layers=2``: the model's type and its options named in
    ``differing`` (``None`` when the record names no model)."""
    kind = metrics.get("model")
    if not isinstance(kind, str) or not kind:
        return None
    options = metrics.get("model_options")
    options = options if isinstance(options, dict) else {}
    shown = [f"{key}={_option_text(options[key])}" for key in differing[:SHOWN_OPTIONS]
             if key in options]
    if len(differing) > SHOWN_OPTIONS:
        shown.append("…")
    return " ".join([kind, *shown])


def label_models(records: Sequence[RunRecord]) -> list[RunRecord]:
    """``records`` with their model column filled: the model's type, and the options whose
    values differ between the shown rows of that type (so two lstm rows read
    ``lstm_seq2seq units=8`` and ``lstm_seq2seq units=16``, and a plugin's model never
    reads like the base's)."""
    by_type: dict[str, list[dict[str, Any]]] = {}
    for record in records:
        options = record.metrics.get("model_options")
        kind = record.metrics.get("model")
        if isinstance(kind, str) and isinstance(options, dict):
            by_type.setdefault(kind, []).append(options)
    differing: dict[str, list[str]] = {}
    for kind, found in by_type.items():
        keys = sorted({key for options in found for key in options})
        differing[kind] = [key for key in keys
                           if len({repr(options.get(key)) for options in found}) > 1]
    return [
        dataclasses.replace(record, model_label=model_label(
            record.metrics, differing.get(str(record.metrics.get("model")), [])))
        for record in records
    ]


def _short_path(path: Path) -> str:
    """``path`` relative to the working folder when it is inside it (shorter tables)."""
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except (ValueError, OSError):
        return str(path)


@dataclass(frozen=True)
class MeasureSpec:
    """What the table needs to know of a measure: from the registry (:func:`spec_of`), or
    from a record that describes what it measured (a measure no longer installed)."""

    name: str
    header: str
    fmt: str = ".2f"
    target_text: str = ""
    description: str = ""
    order: int = 100


def spec_of(measure: Any) -> MeasureSpec:
    """The spec of a registered :class:`~kara_core.components.Measure`."""
    return MeasureSpec(name=measure.name, header=measure.column_header(), fmt=measure.fmt,
                       target_text=measure.target_text(), description=measure.description,
                       order=measure.order)


def _spec_from_record(name: str, data: Any) -> MeasureSpec | None:
    if not isinstance(data, dict):
        return None
    fmt = str(data["fmt"]) if isinstance(data.get("fmt"), str) else ".2f"
    try:
        format(1.0, fmt)
    except (ValueError, TypeError):
        fmt = ".2f"
    order = data.get("order")
    return MeasureSpec(
        name=name, header=str(data.get("header") or name), fmt=fmt,
        target_text=str(data.get("target_text") or ""),
        description=str(data.get("description") or ""),
        order=order if isinstance(order, int) and not isinstance(order, bool) else 100)


def measure_specs(records: Sequence[RunRecord], registered: Sequence[Any] | None = None,
                  ) -> list[MeasureSpec]:
    """The measures the table shows: every registered one (the registry's when
    ``registered`` is ``None``), then those the records describe that are not registered
    (measured by a plugin since uninstalled), in column order."""
    if registered is None:
        from kara_core.plugins import registered_measures

        registered = registered_measures()
    found = {m.name: spec_of(m) for m in registered}
    for record in records:
        music = record.metrics.get("music")
        described = music.get("measures") if isinstance(music, dict) else None
        if isinstance(described, dict):
            for name, data in described.items():
                spec = _spec_from_record(str(name), data)
                if spec is not None and spec.name not in found:
                    found[spec.name] = spec
    return sorted(found.values(), key=lambda m: (m.order, m.name))


def measure_column(spec: MeasureSpec) -> Column:
    """The column of one measure: the median over clips, the worst clip in brackets, and
    real music's value (``<key>_real`` in JSON and CSV, a row of its own in the table)."""
    return Column(spec.name, f"{spec.header}\n(worst)", f"music.summary.median.{spec.name}",
                  _number(spec.fmt), worst=f"music.summary.worst.{spec.name}",
                  real=f"music.real.summary.median.{spec.name}")


LEADING: tuple[Column, ...] = (
    Column("variant", "variant", "variant", str),
    Column("transform", "transform", "transform", str),
    Column("model", "model", "model", str),
)
TRAILING: tuple[Column, ...] = (
    Column("targets", "tar-\ngets", "music.meets_targets", _check),
    Column("heldout", "held out vs\nown baseline", "heldout.text", str),
    Column("roundtrip_snr_db", "round trip\nSNR dB", "roundtrip.snr_db", _number(".1f")),
    Column("roundtrip_spectral_convergence", "round trip\nspec. conv.",
           "roundtrip.spectral_convergence", _number(".3g")),
    Column("val_loss", "val\nloss", "val_loss", _number(".4f")),
    Column("skill", "skill", "skill", _number("+.3f")),
    Column("generation_rtf", "generation\nRTF", "generation.rtf", _number(".3f")),
    Column("temperature", "tempe-\nrature", "generation.temperature", _number(".2g")),
    Column("mel_frechet", "mel\nFréchet", "evaluation.mel_frechet", _magnitude),
    Column("run_dir", "run folder", "run_dir", str),
)


def columns(specs: Sequence[MeasureSpec]) -> tuple[Column, ...]:
    """Every column of the table for these measures: the variant, its transform and
    model, one column per measure, then the targets, the held-out score, the round trip,
    the losses, the generation's speed and temperature, and the run folder."""
    return (*LEADING, *(measure_column(spec) for spec in specs), *TRAILING)


def music_note(specs: Sequence[MeasureSpec]) -> str:
    """How to read the measure columns, with each measure's target (printed under the
    table)."""
    targets = ", ".join(f"{s.name} {s.target_text}" for s in specs if s.target_text)
    return (
        "measures: median over the prompts (worst clip in brackets), on the generated audio "
        "against the held-out songs (ratios: 1 = like the music); the 'real music' row "
        "measures what the held-out songs really do after the same prompts. Targets ✓: "
        f"medians {targets}, and no clip collapsing. diversity: one prompt, two seeds; "
        "prompt sensitivity: two songs' prompts, one seed."
    )


def summary(record: RunRecord, shown: Sequence[Column]) -> dict[str, Any]:
    """The table's values for one record, by column key (plus status and error); a median
    column's worst clip under ``<key>_worst`` and real music's under ``<key>_real``. The
    model column tells rows apart only for records labelled together
    (:func:`label_models`)."""
    values: dict[str, Any] = {}
    for column in shown:
        values[column.key] = column.value(record)
        if column.worst:
            values[f"{column.key}_worst"] = column.worst_value(record)
        if column.real:
            values[f"{column.key}_real"] = column.real_value(record)
    values.update(status=record.status, error=record.error)
    return values


def fields(shown: Sequence[Column]) -> list[str]:
    """The CSV header: every column's keys, then status and error."""
    return [key for column in shown for key in column.keys] + ["status", "error"]
