"""PNG plots for run records and reports.

matplotlib is imported inside each function with the non-interactive Agg backend, so
importing this module costs nothing and plotting works on machines without a display.
Every PNG is written atomically.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from kara_core.storage import atomic


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
    """Two panels, each loss on its own axis: the training loss (per step when
    ``history`` holds ``step_loss``, with the per-epoch means as dots; a negative NLL never
    shares an axis with an MSE) and the validation losses per epoch (``val_loss``, the
    closed-loop MSE, and any other series), with the baselines' validation losses as dashed
    lines for scale."""
    import numpy as np

    plt = _pyplot()
    fig, (train_ax, val_ax) = plt.subplots(1, 2, figsize=(10, 3.6))
    epoch_loss = [float(v) for v in history.get("loss", [])]
    steps = [float(v) for v in history.get("step_loss", [])]
    every = float((history.get("step_loss_every") or [1.0])[0]) or 1.0
    per_epoch = len(steps) * every / len(epoch_loss) if steps and epoch_loss else 0.0
    if steps:
        x = (np.arange(len(steps)) + 1) * every
        train_ax.plot(x, steps, linewidth=0.8, alpha=0.6, label="per step" if every == 1
                      else f"mean of {every:g} steps")
        if epoch_loss:
            ends = (np.arange(len(epoch_loss)) + 1) * per_epoch
            train_ax.plot(ends, epoch_loss, "o", markersize=4, label="epoch mean")
        train_ax.set_xlabel("step")
    elif epoch_loss:
        train_ax.plot(range(1, len(epoch_loss) + 1), epoch_loss, marker="o", markersize=3,
                      label="epoch mean")
        train_ax.set_xlabel("epoch")
    train_ax.set_ylabel("training loss (the model's own)")
    train_ax.set_title("training loss")
    skip = {"loss", "step_loss", "step_loss_every"}
    for name, values in history.items():
        values = [float(v) for v in values]
        if name not in skip and values:
            val_ax.plot(range(1, len(values) + 1), values, marker="o", markersize=3, label=name)
    for name, value in (baselines or {}).items():
        if value is not None:
            val_ax.axhline(float(value), linestyle="--", linewidth=1, color="grey", alpha=0.8)
            val_ax.annotate(
                f"{name} {float(value):.3g}", xy=(1, float(value)), xycoords=("axes fraction",
                "data"), ha="right", va="bottom", fontsize=8, color="grey",
            )
    val_ax.set_xlabel("epoch")
    val_ax.set_ylabel("closed-loop MSE (normalised features)")
    val_ax.set_title("validation")
    for ax in (train_ax, val_ax):
        ax.grid(alpha=0.3)
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=8)
    fig.suptitle(title)
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
    window = max(1, round(0.25 / seconds_per_step)) if seconds_per_step > 0 else 1
    for (label, values), colour in zip(series, ("C0", "C1", "C2"), strict=False):
        values_array = np.asarray(values, dtype=np.float64)
        if not values_array.size:
            continue
        times = np.arange(1, values_array.size + 1) * seconds_per_step
        if window > 1 and values_array.size > window:
            # every step faintly, and a quarter-second running mean to read the trend
            ax.plot(times, values_array, linewidth=0.6, color=colour, alpha=0.25)
            kernel = np.ones(window) / window
            smooth = np.convolve(values_array, kernel, mode="valid")
            ax.plot(times[window - 1 :], smooth, linewidth=1.6, color=colour, label=label)
        else:
            ax.plot(times, values_array, linewidth=1.2, color=colour, label=label)
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


ROUNDTRIP_PNGS = ("spectrogram-original.png", "spectrogram-roundtrip.png",
                  "spectrogram-difference.png")
"""The files :func:`plot_roundtrip_spectrograms` writes, in its folder."""


def _db_spectrogram(wave: Any, rate: int, n_fft: int) -> tuple[Any, Any]:
    """``(20 log10 |STFT|, extent)`` of a wave, for ``imshow``."""
    import numpy as np

    from kara_core.audio.spectral import stft_magnitude

    mags = stft_magnitude(np.asarray(wave, np.float32), n_fft, n_fft // 4).astype(np.float64)
    db = 20.0 * np.log10(np.maximum(mags, 1e-9)).T
    extent = (0.0, max(len(wave), 1) / rate, 0.0, rate / 2.0)
    return db, extent


def plot_roundtrip_spectrograms(
    original: Any, roundtrip: Any, rate: int, folder: Path, title: str = "",
    n_fft: int = 1024,
) -> list[Path]:
    """Three PNGs in ``folder`` (see :data:`ROUNDTRIP_PNGS`): the original's spectrogram,
    the round trip's on the same dB scale (80 dB range), and their level difference
    (round trip minus original, ±20 dB; bins more than 80 dB down in both are masked).

    The difference is of magnitudes, not waveforms, so a transform that re-estimates phase
    shows what it really changed: smeared transients, lost bands, added noise.
    """
    import numpy as np

    plt = _pyplot()
    ref_db, extent = _db_spectrogram(original, rate, n_fft)
    est_db, _ = _db_spectrogram(roundtrip, rate, n_fft)
    top = float(ref_db.max(initial=-180.0))
    diff = np.clip(est_db - ref_db, -20.0, 20.0)
    diff = np.ma.masked_where((ref_db < top - 80.0) & (est_db < top - 80.0), diff)
    panels = [
        ("original", ref_db, "magma", (top - 80.0, top), "dB"),
        ("round trip", est_db, "magma", (top - 80.0, top), "dB"),
        ("round trip - original", diff, "RdBu_r", (-20.0, 20.0), "dB difference"),
    ]
    paths = []
    for (label, data, cmap, limits, unit), name in zip(panels, ROUNDTRIP_PNGS, strict=True):
        fig, ax = plt.subplots(figsize=(8, 3.2))
        image = ax.imshow(
            data, origin="lower", aspect="auto", extent=extent, cmap=cmap,
            vmin=limits[0], vmax=limits[1], interpolation="nearest",
        )
        fig.colorbar(image, ax=ax, label=unit)
        ax.set_xlabel("seconds")
        ax.set_ylabel("Hz")
        ax.set_title(f"{title}: {label}" if title else label, fontsize=9, loc="left")
        fig.tight_layout()
        path = Path(folder) / name
        _save(fig, path)
        paths.append(path)
    return paths
