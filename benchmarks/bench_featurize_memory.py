"""Featurize's memory on one long song: a 2-hour song against a 10-minute one.

Issue 13: featurizing one 2-hour song used to peak at 7.5 GB, because the whole song, its
frames and the transform's temporaries were in memory at once. Featurize now reads the wav
and writes the ``.npy`` in blocks of about a minute (for transforms that declare
``context``), so its memory should not grow with the song.

Two synthetic songs (the test kit's music-like signal, 30 s pieces of eight seeds played
one after the other at changing levels) are written as 16-bit mono wavs under ``--work``
(outside the repository), then each is featurized by ``featurize`` (the stage: cache entry,
checksum, statistics, record) in its own process, which samples its own memory every 10 ms.
Two figures per run:

* peak anonymous RSS (``RssAnon``): what the process allocated;
* ``VmHWM``: the peak resident set, which also counts pages of files the process mapped.

Target: both peaks of the long song within ``TARGET`` (2x) of the short song's: memory is
flat in the length of a song. A missed target is said and the exit code is 1. Results:
``benchmarks/results/featurize_memory.json``.

Measured 2026-12-01 (x86_64, 2 cores; 2-hour song against 10 minutes, peak anonymous RSS):
before blocks, mel 6094 MB against 540 MB (11.3x) and stft 6706 MB against 586 MB (11.5x);
with blocks, mel 113 MB and stft 135 MB for both lengths (1.00x), fft 129 against 116 MB,
raw 117 against 101 MB (37 MB of it is the interpreter and numpy).

    nice -n 19 .venv/bin/python benchmarks/bench_featurize_memory.py [--transform mel]
        [--long-minutes 120] [--short-minutes 10] [--work /tmp/kara-featurize-memory]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
from memory_peak import PeakSampler, status_kb

REPO = Path(__file__).resolve().parent.parent
RESULTS = REPO / "benchmarks" / "results" / "featurize_memory.json"
RATE = 22050
TARGET = 2.0
PIECE_SECONDS = 30.0
TRANSFORMS: dict[str, dict[str, Any]] = {
    "mel": {"type": "mel", "options": {"n_mels": 128}},
    "stft": {"type": "stft", "options": {"n_fft": 1024, "hop": 256}},
    "fft": {"type": "fft", "options": {"frame_size": 1024}},
    "raw": {"type": "raw", "options": {"frame_size": 1024}},
}


def write_song(path: Path, minutes: float) -> None:
    """A ``minutes``-long 16-bit mono wav of music-like pieces, written piece by piece."""
    import soundfile as sf

    from kara_core.testing import music_like_signal

    if path.is_file() and sf.info(str(path)).frames == round(minutes * 60 * RATE):
        return
    pieces = [music_like_signal(PIECE_SECONDS, RATE, seed=seed) for seed in range(8)]
    total = round(minutes * 60 * RATE)
    path.parent.mkdir(parents=True, exist_ok=True)
    with sf.SoundFile(str(path), "w", RATE, 1, subtype="PCM_16", format="WAV") as out:
        written, number = 0, 0
        while written < total:
            piece = pieces[number % len(pieces)] * np.float32(0.6 + 0.4 * ((number * 7) % 5) / 4)
            piece = piece[: total - written]
            out.write(piece)
            written += piece.shape[0]
            number += 1


class _Song:
    """What featurize needs of a prepared song."""

    def __init__(self, wav: Path) -> None:
        self.source = wav.name
        self.wav = wav
        self.flags: tuple[str, ...] = ()


def child(config: Path) -> dict[str, Any]:
    """Featurize the one song of ``config`` in this process, sampling its memory."""
    from kara_core.commands._session import load_experiment
    from kara_core.pipeline.parts import featurize

    _plugins, experiment = load_experiment(config)
    variant = experiment.base
    song = _Song(next(Path(variant.dataset.wav_dir).glob("*.wav")))
    before = {"anon_mb": status_kb("RssAnon") / 1024, "rss_mb": status_kb("VmRSS") / 1024}
    with PeakSampler() as peak:
        start = time.perf_counter()
        features = featurize(variant, [song], reload=True, show_progress=False)
        seconds = time.perf_counter() - start
    song_features = features.train[0]
    return {
        "featurize_s": round(seconds, 2),
        "audio_s": round(song_features.n_samples / RATE, 1),
        "frames": int(features.train[0].stop + features.val[0].n_frames),
        "npy_bytes": song_features.npy.stat().st_size,
        "transform": features.transform.describe(),
        "after_imports": before,
        "peak_anon_mb": round(peak.anon_mb, 1),
        "peak_rss_mb": round(status_kb("VmHWM") / 1024, 1),
    }


def run_case(work: Path, transform: str, minutes: float) -> dict[str, Any]:
    """Featurize a ``minutes``-long song in a fresh process; its figures."""
    import yaml

    folder = work / f"{minutes:g}min"
    write_song(folder / "wav" / f"song-{minutes:g}min.wav", minutes)
    config = folder / f"kara-{transform}.yaml"
    config.write_text(yaml.safe_dump({
        "name": "featurize-memory",
        "dataset": {"mp3_dir": str(folder / "mp3"), "wav_dir": str(folder / "wav"),
                    "cache_dir": str(folder / "cache"), "sample_rate": RATE},
        "transform": TRANSFORMS[transform],
        "runs_dir": str(folder / "runs"),
    }), encoding="utf-8")
    (folder / "mp3").mkdir(exist_ok=True)
    done = subprocess.run(
        [sys.executable, __file__, "--child", str(config)],
        capture_output=True, text=True, check=False, cwd=REPO,
    )
    if done.returncode != 0:
        raise SystemExit(f"featurize of {minutes:g} min failed:\n{done.stderr[-3000:]}")
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    shutil.rmtree(folder / "cache", ignore_errors=True)  # a 2-hour stft cache is 1.3 GB
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--transform", action="append", choices=sorted(TRANSFORMS),
                        help="transform(s) to measure (default: mel, the kara.yaml base)")
    parser.add_argument("--long-minutes", type=float, default=120.0)
    parser.add_argument("--short-minutes", type=float, default=10.0)
    parser.add_argument("--work", type=Path, default=Path("/tmp/kara-featurize-memory"))
    parser.add_argument("--keep", action="store_true", help="keep the synthetic wavs")
    parser.add_argument("--child", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--results", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    if args.child is not None:
        print(json.dumps(child(args.child)))
        return 0
    rows: dict[str, Any] = {}
    missed = []
    for transform in args.transform or ["mel"]:
        short = run_case(args.work, transform, args.short_minutes)
        long = run_case(args.work, transform, args.long_minutes)
        anon = long["peak_anon_mb"] / max(short["peak_anon_mb"], 1e-9)
        rss = long["peak_rss_mb"] / max(short["peak_rss_mb"], 1e-9)
        rows[transform] = {"short": short, "long": long, "anon_ratio": round(anon, 2),
                           "rss_ratio": round(rss, 2)}
        for case, label in ((short, f"{args.short_minutes:g} min"),
                            (long, f"{args.long_minutes:g} min")):
            print(f"{transform:<5} {label:>8}: {case['featurize_s']:7.1f} s, peak anon "
                  f"{case['peak_anon_mb']:7.0f} MB, peak RSS (VmHWM) {case['peak_rss_mb']:7.0f}"
                  f" MB, after imports {case['after_imports']['rss_mb']:.0f} MB")
        print(f"{transform:<5} long/short: anon {anon:.2f}x, RSS {rss:.2f}x (target <= "
              f"{TARGET:g}x)")
        if max(anon, rss) > TARGET:
            missed.append(f"{transform}: peak memory of {args.long_minutes:g} min is "
                          f"{max(anon, rss):.2f}x that of {args.short_minutes:g} min")
    if not args.keep:
        shutil.rmtree(args.work, ignore_errors=True)
    args.results.parent.mkdir(parents=True, exist_ok=True)
    args.results.write_text(json.dumps({
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, {platform.python_version()}",
        "date": time.strftime("%Y-%m-%d"), "target": TARGET, "transforms": rows,
        "missed": missed,
    }, indent=2) + "\n", encoding="utf-8")
    for line in missed:
        print(f"MISSED: {line}")
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())
