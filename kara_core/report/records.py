"""Run records: ``metrics.json`` and friends under ``<runs_dir>/<name>/<variant>/``.

Stages add their figures to one ``metrics.json`` by merging a flat mapping into it, so
``kara train`` and ``kara generate`` can run separately and ``kara compare`` reads a
single file per variant. Every write is atomic.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from kara_core.storage import atomic

METRICS_FILE = "metrics.json"


def read_metrics(run_dir: Path) -> dict[str, Any]:
    """The metrics recorded so far (empty when none, or when the file is unreadable)."""
    path = run_dir / METRICS_FILE
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (FileNotFoundError, json.JSONDecodeError, UnicodeDecodeError):
        return {}
    return data if isinstance(data, dict) else {}


def update_metrics(run_dir: Path, values: dict[str, Any]) -> dict[str, Any]:
    """Merge ``values`` into ``metrics.json`` (top-level keys replace) and return the result."""
    merged = read_metrics(run_dir)
    merged.update(values)
    atomic.write_json(run_dir / METRICS_FILE, merged)
    return merged
