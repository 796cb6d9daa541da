"""The listening pages: ``report.html`` in each run folder and the experiment's index.

Built from saved run records only. Every path is relative and nothing is loaded from
outside the run folder (no scripts, fonts or styles from the network), so the pages open
straight from disk and keep working after the folder is moved or zipped. Everything taken
from a record is HTML-escaped.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from html import escape
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from kara_core.report.columns import TEXT_KEYS, MeasureSpec, columns, measure_specs
from kara_core.report.records import read_metrics
from kara_core.report.table import (
    ORDER_FILE,
    REAL_ROW,
    RunRecord,
    experiment_records,
    label_models,
)
from kara_core.storage import atomic

if TYPE_CHECKING:
    from kara_core.config import ExperimentConfig

REPORT_FILE = "report.html"
INDEX_FILE = "index.html"
AUDIO_FILES = (("prompt", "prompt.wav"), ("round trip", "roundtrip.wav"),
               ("generated", "generated.wav"))
LEGEND = (
    "<p><b>prompt</b>: the start of a song the model never trained on. "
    "<b>round trip</b>: that song (prompt and what really followed) through the transform "
    "and back, without the model: the best this representation can sound. "
    "<b>generated</b>: the model's continuation of the prompt.</p>"
)
IMAGE_FILES = (("spectrograms: prompt, round trip, generated", "spectrograms.png"),
               ("training loss", "loss.png"), ("drift", "drift.png"))

STYLE = """
body{font-family:system-ui,sans-serif;margin:2em auto;max-width:70em;padding:0 1em;color:#222}
table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;padding:.3em .6em}
th{background:#f3f3f3}td.n{text-align:right;font-variant-numeric:tabular-nums}
.players{display:flex;flex-wrap:wrap;gap:1.5em}.players figure{margin:0;width:19em}
.players audio{width:100%}
img{max-width:100%;border:1px solid #ddd}.failed{color:#b00}code{background:#f3f3f3}
"""


def _page(title: str, body: str) -> str:
    return (
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
        f"<title>{escape(title)}</title><style>{STYLE}</style></head>\n"
        f"<body>\n<h1>{escape(title)}</h1>\n{body}\n</body></html>\n"
    )


def _table_html(
    records: Sequence[RunRecord], link: Callable[[RunRecord], str | None],
    folder: Callable[[RunRecord], str],
) -> str:
    """The comparison table, a column per registered measure and a last row of what real
    music scores; the run folder column is ``folder(record)``, a relative path (pages
    never show or use absolute paths: they must work after being moved)."""
    shown = columns(measure_specs(records))
    head = "".join(f"<th>{escape(c.header).replace(chr(10), '<br>')}</th>" for c in shown)
    rows = []
    real: list[str] | None = None
    for record in label_models(records):
        values = [c.real_value(record) if c.real else None for c in shown]
        if real is None and any(v is not None for v in values):
            real = [f"<td><i>{REAL_ROW}</i></td>" if c.key == "variant" else
                    f'<td class="n">{escape(c.show(v)) if c.real and v is not None else ""}</td>'
                    for c, v in zip(shown, values, strict=True)]
        cells = []
        for column in shown:
            text = escape(folder(record) if column.key == "run_dir" else column.text(record))
            href = link(record) if column.key == "variant" else None
            if href:
                text = f'<a href="{escape(href)}">{text}</a>'
            if column.key == "variant" and record.status in ("failed", "unreadable"):
                text += f' <span class="failed">({record.status})</span>'
            numeric = column.key not in TEXT_KEYS
            cells.append(f'<td class="n">{text}</td>' if numeric else f"<td>{text}</td>")
        rows.append("<tr>" + "".join(cells) + "</tr>")
    if real is not None:
        rows.append("<tr>" + "".join(real) + "</tr>")
    return f"<table><tr>{head}</tr>\n" + "\n".join(rows) + "</table>"


def _players(run_dir: Path, prefix: str = "") -> str:
    figures = []
    for label, name in AUDIO_FILES:
        if (run_dir / name).is_file():
            src = escape(prefix + quote(name))
            figures.append(
                f"<figure><figcaption>{escape(label)}</figcaption>"
                f'<audio controls preload="metadata" src="{src}"></audio></figure>'
            )
    if not figures:
        return "<p>No audio yet.</p>"
    return '<div class="players">' + "".join(figures) + "</div>"


def _clips_html(run_dir: Path, music: Any) -> str:
    """Every prompt's clip: a player, where the prompt came from, each measure (whole
    clip, and in brackets its last seconds) and the collapse diagnosis, if any; then what
    the real music after the same prompts scores, and what each measure means."""
    if not isinstance(music, dict) or not isinstance(music.get("clips"), list):
        return ""
    specs = measure_specs([RunRecord("", run_dir, {"music": music})])

    def number(value: Any, fmt: str) -> str:
        ok = isinstance(value, int | float) and not isinstance(value, bool)
        return format(float(value), fmt) if ok else "—"

    head = "".join(f"<th>{escape(h)}</th>" for h in (
        "clip", "prompt from", "listen", *(s.header.replace(chr(10), " ") for s in specs),
        "collapse"))
    rows = []
    for clip in music["clips"]:
        if not isinstance(clip, dict):
            continue
        name = str(clip.get("file", ""))
        player = (f'<audio controls preload="metadata" src="{escape(quote(name))}"></audio>'
                  if name and (run_dir / name).is_file() else "")
        found = clip.get("last_10s")
        last: dict[str, Any] = found if isinstance(found, dict) else {}
        cells = [f"<td>{escape(name)}</td>",
                 f"<td>{escape(Path(str(clip.get('source', ''))).name)} at "
                 f"{escape(number(clip.get('offset_seconds'), '.1f'))} s"
                 f"{_paired(clip.get('paired_with'))}</td>",
                 f"<td>{player}</td>"]
        cells += [f'<td class="n">{escape(number(clip.get(s.name), s.fmt))} '
                  f"({escape(number(last.get(s.name), s.fmt))})</td>" for s in specs]
        cells.append(f"<td>{escape(str(clip.get('collapse') or ''))}</td>")
        rows.append("<tr>" + "".join(cells) + "</tr>")
    real = music.get("real")
    medians = real.get("summary", {}).get("median") if isinstance(real, dict) else None
    if isinstance(medians, dict):
        cells = ["<td></td>", f"<td><i>{REAL_ROW}</i>: what the songs really do after "
                 "the prompts (median)</td>", "<td></td>"]
        cells += [f'<td class="n">{escape(number(medians.get(s.name), s.fmt))}</td>'
                  for s in specs]
        rows.append("<tr>" + "".join(cells) + "<td></td></tr>")
    tail = music.get("last_10s")
    last_seconds = tail.get("seconds", 10) if isinstance(tail, dict) else 10
    return (f"<h2>Every prompt</h2><p>Measured on the audio against real excerpts of the "
            f"held-out songs (1 = like the music); in brackets, the clip's last "
            f"{escape(str(last_seconds))} s.</p>"
            f"<table><tr>{head}</tr>\n" + "\n".join(rows) + "</table>" + _legend(specs))


def _paired(source: Any) -> str:
    """"; paired with <song>": the song whose prompt, continued with this clip's seed,
    this clip's ``prompt_sensitivity`` compares it with (nothing in records from before
    every clip had one)."""
    if not isinstance(source, str) or not source:
        return ""
    return f"; paired with {escape(Path(source).name)}"


def _legend(specs: Sequence[MeasureSpec]) -> str:
    """What each measure measures, and its target."""
    items = "".join(
        f"<li><b>{escape(s.name)}</b>: {escape(s.description)}"
        f"{escape(f' (target: median {s.target_text})') if s.target_text else ''}</li>"
        for s in specs)
    return f"<ul>{items}</ul>"


def _flatten(data: Any, prefix: str = "") -> list[tuple[str, str]]:
    if isinstance(data, dict):
        rows: list[tuple[str, str]] = []
        for key, value in data.items():
            rows.extend(_flatten(value, f"{prefix}{key}."))
        return rows
    if isinstance(data, float):
        return [(prefix[:-1], format(data, ".6g"))]
    text = json.dumps(data, default=str) if isinstance(data, list) else str(data)
    return [(prefix[:-1], text if len(text) <= 200 else text[:197] + "...")]


def variant_report_html(run_dir: Path, metrics: dict[str, Any]) -> str:
    """The listening page of one run folder (paths relative to that folder)."""
    record = RunRecord(str(metrics.get("variant") or run_dir.name), run_dir, metrics)
    parts = ['<p><a href="../index.html">all variants of this experiment</a></p>']
    if record.status == "failed":
        parts.append(f'<p class="failed">failed: {escape(record.error or "")}</p>')
    parts.append("<h2>Listen</h2>" + LEGEND + _players(run_dir))
    parts.append("<h2>Summary</h2>" + _table_html([record], lambda _r: None, lambda _r: "."))
    parts.append(_clips_html(run_dir, metrics.get("music")))
    for label, name in IMAGE_FILES:
        if (run_dir / name).is_file():
            parts.append(f"<h2>{escape(label)}</h2>"
                         f'<img src="{escape(quote(name))}" alt="{escape(label)}">')
    rows = "".join(
        f"<tr><td><code>{escape(k)}</code></td><td>{escape(v)}</td></tr>"
        for k, v in _flatten(metrics)
    )
    parts.append(f"<h2>All measures</h2><table>{rows}</table>")
    parts.append(
        "<p>Files: <a href=\"metrics.json\">metrics.json</a>, "
        "<a href=\"config.resolved.yaml\">config.resolved.yaml</a>, "
        "<a href=\"versions.json\">versions.json</a></p>"
    )
    title = f"Kara: {run_dir.parent.name} / {record.variant}"
    return _page(title, "\n".join(parts))


def write_variant_report(run_dir: Path, metrics: dict[str, Any] | None = None) -> Path:
    """Write ``report.html`` in ``run_dir`` from its record; return its path."""
    if metrics is None:
        metrics = read_metrics(run_dir)
    path = run_dir / REPORT_FILE
    atomic.write_text(path, variant_report_html(run_dir, metrics))
    return path


def index_html(title: str, folder: Path, records: Sequence[RunRecord]) -> str:
    """The experiment page: the table, then each variant's players side by side."""
    def rel(record: RunRecord) -> str:
        return quote(record.run_dir.name) + "/"

    def link(record: RunRecord) -> str | None:
        return rel(record) + REPORT_FILE if (record.run_dir / REPORT_FILE).is_file() else None

    parts = ["<h2>Comparison</h2>" + _table_html(records, link, rel) + LEGEND]
    for record in records:
        heading = escape(record.variant)
        href = link(record)
        if href:
            heading = f'<a href="{escape(href)}">{heading}</a>'
        section = f"<h2>{heading}</h2>"
        if record.status == "failed":
            section += f'<p class="failed">failed: {escape(record.error or "")}</p>'
        section += _players(record.run_dir, rel(record))
        if (record.run_dir / "spectrograms.png").is_file():
            src = escape(rel(record) + "spectrograms.png")
            alt = escape(f"spectrograms of {record.variant}")
            section += f'<p><img src="{src}" alt="{alt}" width="640"></p>'
        parts.append(section)
    return _page(title, "\n".join(parts))


def write_experiment_index(experiment: ExperimentConfig) -> Path:
    """Write ``<runs_dir>/<name>/index.html`` over every variant with a record, and the
    variants' config order beside it (``kara compare`` shows them in that order)."""
    folder = experiment.base.run_dir.parent
    records = experiment_records(experiment)
    path = folder / INDEX_FILE
    atomic.write_json(folder / ORDER_FILE, [v.name for v in experiment.variants])
    atomic.write_text(path, index_html(f"Kara: experiment {experiment.name}", folder, records))
    return path
