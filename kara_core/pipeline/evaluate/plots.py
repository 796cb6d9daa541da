"""The run folder's pictures: spectrograms of the prompt, round trip and generation, the
drift curve, and the training losses."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np


def write_plots(
    run_dir: Path, title: str, name: str, rate: int, metrics: dict[str, Any], drift: Any,
    hop: int, waves: dict[str, np.ndarray],
) -> None:
    """spectrograms.png, drift.png and (with a training history) loss.png in ``run_dir``."""
    from kara_core.report import plots

    plots.plot_audio_spectrograms(waves, rate, run_dir / "spectrograms.png", title=title)
    plots.plot_drift(
        drift.free, drift.teacher, run_dir / "drift.png", hop / rate,
        persistence=drift.persistence, title=f"drift on a held-out song: {name}",
    )
    history = training_history(run_dir, metrics)
    if history:
        baselines = metrics.get("baselines") if isinstance(metrics.get("baselines"), dict) else {}
        plots.plot_loss(
            history, run_dir / "loss.png", title=f"training: {name}",
            baselines=baselines,
        )


def training_history(run_dir: Path, metrics: dict[str, Any]) -> dict[str, list[float]]:
    """Per-epoch losses recorded by training: ``metrics["history"]`` or ``history.json``."""
    import json

    history = metrics.get("history")
    if not isinstance(history, dict):
        try:
            history = json.loads((run_dir / "history.json").read_text(encoding="utf-8"))
        except (FileNotFoundError, json.JSONDecodeError, UnicodeDecodeError):
            return {}
    if not isinstance(history, dict):
        return {}
    return {
        str(k): [float(x) for x in v] for k, v in history.items()
        if isinstance(v, list) and v and all(isinstance(x, int | float) for x in v)
    }
