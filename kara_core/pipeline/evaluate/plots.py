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
    from kara_core.report.records import training_history

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
