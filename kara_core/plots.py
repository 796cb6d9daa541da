"""PNG plots for run records and reports.

matplotlib is imported inside each function with the non-interactive Agg backend, so
importing this module costs nothing and plotting works on machines without a display.
Every PNG is written atomically.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from kara_core import atomic


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(fig: Any, path: Path) -> None:
    plt = _pyplot()
    try:
        atomic.write_with(path, lambda tmp: fig.savefig(tmp, format="png", dpi=100), ".png")
    finally:
        plt.close(fig)


def plot_loss(
    history: Mapping[str, Sequence[float]], path: Path, title: str = "training loss",
    baselines: Mapping[str, float] | None = None,
) -> None:
    """Loss per epoch (every series in ``history``, e.g. ``loss`` and ``val_loss``), with
    the baselines' validation losses as dashed horizontal lines for scale."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(7, 3.6))
    for name, values in history.items():
        values = [float(v) for v in values]
        if values:
            epochs = range(1, len(values) + 1)
            ax.plot(epochs, values, marker="o", markersize=3, label=name)
    for name, value in (baselines or {}).items():
        if value is not None:
            ax.axhline(float(value), linestyle="--", linewidth=1, color="grey", alpha=0.8)
            ax.annotate(
                f"{name} {float(value):.3g}", xy=(1, float(value)), xycoords=("axes fraction",
                "data"), ha="right", va="bottom", fontsize=8, color="grey",
            )
    ax.set_xlabel("epoch")
    ax.set_ylabel("loss (normalised features)")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    if ax.get_legend_handles_labels()[0]:
        ax.legend()
    fig.tight_layout()
    _save(fig, path)


def plot_drift(
    free: Sequence[float], teacher: Sequence[float], path: Path, seconds_per_step: float,
    persistence: Sequence[float] | None = None, title: str = "drift",
) -> None:
    """Error per generated step: the model fed its own output (free running) against the
    model fed the true frames (teacher forced), and repeating the last prompt frame."""
    import numpy as np

    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(7, 3.6))
    series = [("fed its own output", free), ("fed the true frames", teacher)]
    if persistence is not None:
        series.append(("last prompt frame repeated", persistence))
    for label, values in series:
        values_array = np.asarray(values, dtype=np.float64)
        if values_array.size:
            times = np.arange(1, values_array.size + 1) * seconds_per_step
            ax.plot(times, values_array, linewidth=1.2, label=label)
    ax.set_xlabel("seconds after the prompt")
    ax.set_ylabel("MSE per frame (normalised)")
    if all(np.all(np.asarray(v, dtype=np.float64) > 0) for _l, v in series if len(v)):
        ax.set_yscale("log")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    if ax.get_legend_handles_labels()[0]:
        ax.legend(fontsize=8)
    fig.tight_layout()
    _save(fig, path)


def plot_audio_spectrograms(
    waves: Mapping[str, Any], rate: int, path: Path, title: str = "", n_fft: int = 1024,
) -> None:
    """One panel per labelled waveform (e.g. prompt, round trip, generated), stacked with
    the same frequency axis and colour scale (dB, 80 dB range) so they compare at a glance."""
    import numpy as np

    plt = _pyplot()
    items = [(label, np.asarray(w, dtype=np.float32).reshape(-1)) for label, w in waves.items()]
    fig, axes = plt.subplots(len(items), 1, figsize=(8, 2.2 * len(items) + 0.4), squeeze=False)
    for ax, (label, wave) in zip(axes[:, 0], items, strict=True):
        if wave.size < n_fft:
            wave = np.pad(wave, (0, n_fft - wave.size))
        power, _freqs, _times, image = ax.specgram(
            wave + 1e-9, NFFT=n_fft, Fs=rate, noverlap=n_fft * 3 // 4, cmap="magma",
            scale="dB", mode="magnitude",
        )
        top = 20 * np.log10(max(float(np.max(power)), 1e-9))
        image.set_clim(top - 80, top)
        ax.set_ylabel("Hz")
        ax.set_title(label, fontsize=9, loc="left")
    axes[-1, 0].set_xlabel("seconds")
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    _save(fig, path)
