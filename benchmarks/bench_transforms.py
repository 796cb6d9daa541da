"""Kara's transforms against librosa on 60 s of music, quality and time side by side.

The signal is the test kit's music-like signal (harmonic notes with envelopes and
vibrato, hi-hats, kicks; seeded) at 22050 Hz, n_fft 1024, hop 256 (the default kara.yaml):

- ``stft round trip``: Kara's ``stft`` transform with ``features: complex`` (forward plus
  inverse) against ``librosa.istft(librosa.stft(x))``: SNR and time;
- ``griffin-lim``: phase from the true |STFT| at equal iterations: Kara's phase-gradient
  start plus fast Griffin-Lim against ``librosa.griffinlim`` (random start, momentum 0.99):
  spectral convergence and time;
- ``mel inversion``: 128-band mel back to audio at equal Griffin-Lim iterations: Kara's
  ``mel`` transform inverse against ``librosa.feature.inverse.mel_to_audio`` on librosa's
  own (power) mel spectrogram: spectral convergence and time.

Targets (DESIGN §7): STFT no slower than librosa with SNR within 1 dB; Griffin-Lim and mel
inversion at least as good (spectral convergence no higher) and faster. Times are the best
of ``--repeats`` runs. Writes ``benchmarks/results/transforms.json``.

    .venv/bin/python benchmarks/bench_transforms.py [--seconds 60] [--n-iter 32] [--repeats 3]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

RESULTS = Path(__file__).resolve().parent / "results" / "transforms.json"
RATE, N_FFT, HOP, N_MELS = 22050, 1024, 256, 128
SNR_SLACK_DB = 1.0


def best_time(run: Callable[[], np.ndarray], repeats: int) -> tuple[float, np.ndarray]:
    """The fastest of ``repeats`` runs, and the last output."""
    best, out = float("inf"), np.zeros(0)
    for _ in range(repeats):
        start = time.perf_counter()
        out = run()
        best = min(best, time.perf_counter() - start)
    return best, out


def measure(seconds: float, n_iter: int, repeats: int) -> dict[str, Any]:
    import librosa
    from kara_transforms.mel import MelOptions, MelTransform
    from kara_transforms.stft import StftOptions, StftTransform

    from kara_core import audio
    from kara_core.audio.spectral import snr_db, spectral_convergence
    from kara_core.testing import music_like_signal

    x = music_like_signal(seconds, RATE, seed=0)
    n = x.shape[0]
    # Warm up librosa's numba kernels so compilation is not timed.
    librosa.istft(librosa.stft(x[:RATE]), length=RATE)
    librosa.griffinlim(np.abs(librosa.stft(x[:RATE])), n_iter=1)

    stft = StftTransform(StftOptions(n_fft=N_FFT, hop=HOP, features="complex"), RATE)
    k_time, k_out = best_time(lambda: stft.inverse(stft.forward(x), n), repeats)
    l_time, l_out = best_time(
        lambda: librosa.istft(librosa.stft(x, n_fft=N_FFT, hop_length=HOP), n_fft=N_FFT,
                              hop_length=HOP, length=n), repeats)
    stft_row: dict[str, Any] = {"kara": {"seconds": k_time, "snr_db": snr_db(x, k_out)},
                "librosa": {"seconds": l_time, "snr_db": snr_db(x, l_out)}}
    stft_row["passed"] = bool(k_time <= l_time and
                              stft_row["kara"]["snr_db"] >= stft_row["librosa"]["snr_db"]
                              - SNR_SLACK_DB)

    mags = np.abs(audio.stft(x, N_FFT, HOP))
    gl_repeats = max(1, repeats - 1)
    k_time, k_out = best_time(lambda: audio.griffin_lim(mags, N_FFT, HOP, n, n_iter), gl_repeats)
    l_time, l_out = best_time(
        lambda: librosa.griffinlim(mags.T, n_iter=n_iter, hop_length=HOP, n_fft=N_FFT,
                                   length=n, random_state=0), gl_repeats)
    gl_row: dict[str, Any] = {"kara": {"seconds": k_time, "sc": spectral_convergence(x, k_out)},
              "librosa": {"seconds": l_time, "sc": spectral_convergence(x, l_out)}}
    gl_row["passed"] = bool(k_time < l_time and gl_row["kara"]["sc"] <= gl_row["librosa"]["sc"])

    mel = MelTransform(MelOptions(n_mels=N_MELS, n_fft=N_FFT, hop=HOP, n_iter=n_iter), RATE)
    frames = mel.forward(x)
    k_time, k_out = best_time(lambda: mel.inverse(frames, n), gl_repeats)
    power_mel = librosa.feature.melspectrogram(y=x, sr=RATE, n_fft=N_FFT, hop_length=HOP,
                                               n_mels=N_MELS)
    l_time, l_out = best_time(
        lambda: librosa.feature.inverse.mel_to_audio(power_mel, sr=RATE, n_fft=N_FFT,
                                                     hop_length=HOP, n_iter=n_iter, length=n),
        gl_repeats)
    mel_row: dict[str, Any] = {"kara": {"seconds": k_time, "sc": spectral_convergence(x, k_out)},
               "librosa": {"seconds": l_time, "sc": spectral_convergence(x, l_out)}}
    mel_row["passed"] = bool(k_time < l_time and mel_row["kara"]["sc"] <= mel_row["librosa"]["sc"])

    rows = {"stft_round_trip": stft_row, "griffin_lim": gl_row, "mel_inversion": mel_row}
    for row in rows.values():
        for side in ("kara", "librosa"):
            scores: dict[str, float] = row[side]
            scores["rtf"] = scores["seconds"] / seconds
            row[side] = {k: round(float(v), 6) for k, v in scores.items()}
        row["speedup"] = round(row["librosa"]["seconds"] / row["kara"]["seconds"], 2)
    return {
        "benchmark": "transforms",
        "signal": f"{seconds:g} s music-like signal at {RATE} Hz (kara_core.testing, seed 0)",
        "settings": {"n_fft": N_FFT, "hop": HOP, "n_mels": N_MELS, "n_iter": n_iter,
                     "repeats": repeats},
        "machine": f"{platform.machine()}, {os.cpu_count()} CPUs, Python "
                   f"{platform.python_version()}, numpy {np.__version__}, "
                   f"librosa {getattr(librosa, '__version__', '?')}",
        **rows,
        "passed": all(row["passed"] for row in rows.values()),
    }


def print_table(result: dict[str, Any]) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"Kara vs librosa: {result['signal']}, "
                        f"{result['settings']['n_iter']} Griffin-Lim iterations")
    for column in ("", "quality (Kara)", "quality (librosa)", "time Kara", "time librosa",
                   "speed-up", "target"):
        table.add_column(column, justify="right" if column else "left")
    for key, label, metric, unit in (
        ("stft_round_trip", "STFT round trip", "snr_db", "SNR {:.1f} dB"),
        ("griffin_lim", "Griffin-Lim", "sc", "SC {:.4f}"),
        ("mel_inversion", "mel inversion", "sc", "SC {:.4f}"),
    ):
        row = result[key]
        table.add_row(
            label, unit.format(row["kara"][metric]), unit.format(row["librosa"][metric]),
            f"{row['kara']['seconds']:.3f} s", f"{row['librosa']['seconds']:.3f} s",
            f"{row['speedup']:.2f}x", "[green]met[/]" if row["passed"] else "[red]missed[/]",
        )
    Console().print(table)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--seconds", type=float, default=60.0, help="length of the signal")
    parser.add_argument("--n-iter", type=int, default=32, help="Griffin-Lim iterations")
    parser.add_argument("--repeats", type=int, default=3, help="runs per measurement")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    result = measure(args.seconds, args.n_iter, args.repeats)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print_table(result)
    print(f"{'PASS' if result['passed'] else 'FAIL'}; wrote {args.out}")
    return 0 if result["passed"] else 1


if __name__ == "__main__":
    sys.exit(main())
