"""Every variant's cost, with shared work counted once: a dataset several variants share is
prepared once, a transform several variants share is featurized once."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kara_core.pipeline.cost.disk import disk_warnings
from kara_core.pipeline.cost.songs import WAV_HEADER, Song, Survey, survey
from kara_core.pipeline.cost.speed import TransformSpeed, transform_speed
from kara_core.pipeline.cost.training import split, training_time

if TYPE_CHECKING:
    from kara_core.config import VariantConfig

NPY_HEADER = 128
DTYPE_BYTES = {"float32": 4, "float16": 2}
"""Bytes per cached feature, by ``dataset.cache_dtype``."""
SIDECAR_BYTES = 600  # the JSON record beside each cached .npy, about


def decoder_speed(variant: VariantConfig) -> tuple[str, float | None]:
    """The decoder prepare will use (the fallback when the primary's tool is missing) and
    its measured speed per core, ``None`` when never measured."""
    from kara_core.errors import KaraError
    from kara_core.pipeline.cost import figures

    chain = [variant.decoder] + ([variant.decoder_fallback] if variant.decoder_fallback else [])
    name = variant.decoder.type
    for component, decoder in zip(chain, variant.build_decoders(), strict=True):
        try:
            decoder.check()
        except KaraError:
            continue
        name = component.type
        break
    return name, figures.DECODE_X_REAL_TIME_PER_CORE.get(name)


def _cached(variant: VariantConfig, directory: Path, songs: list[Song]) -> set[str]:
    """Sources whose frames are already in the cache folder (featurize's hash memo knows
    the wav's hash, and the entry named by it exists)."""
    from kara_core.pipeline.featurize.cache import entry_paths
    from kara_core.pipeline.featurize.stage import HASH_MEMO

    try:
        memo = json.loads((variant.dataset.cache_dir / HASH_MEMO).read_text(encoding="utf-8"))
    except (OSError, ValueError, RecursionError):
        return set()
    if not isinstance(memo, dict) or not directory.is_dir():
        return set()
    found = set()
    for song in songs:
        entry = memo.get(str(song.wav)) if song.prepared and song.wav else None
        if not (isinstance(entry, list) and len(entry) == 3):
            continue
        try:
            st = Path(str(song.wav)).stat()
        except OSError:
            continue
        if entry[:2] == [st.st_size, st.st_mtime_ns] and \
                entry_paths(directory, Path(str(song.wav)), str(entry[2]))[0].is_file():
            found.add(song.source)
    return found


def _workers(files: int) -> int:
    from kara_core.pipeline.prepare.jobs import default_workers

    return max(1, min(default_workers(), files))


def variant_cost(variant: VariantConfig, songs: Survey, speed: TransformSpeed,
                 transform_name: str) -> dict[str, Any]:
    """One variant's row: songs, hours, bytes and seconds (``None``: unknown)."""
    from kara_core.pipeline.featurize.stage import transform_key

    usable = songs.usable
    to_prepare = [s for s in songs.songs if not s.prepared]
    decoder, per_core = decoder_speed(variant)
    prepare_s = 0.0 if not to_prepare else None
    if per_core and to_prepare:
        prepare_s = songs.seconds(to_prepare) / (per_core * _workers(len(to_prepare)))
    transform = variant.build_transform()
    directory = variant.dataset.cache_dir / transform_key(variant)
    cached = _cached(variant, directory, usable)
    frames = {s.source: speed.count(s.samples or 0) for s in usable}
    dtype = variant.dataset.cache_dtype
    itemsize = DTYPE_BYTES[dtype]
    npy = {k: NPY_HEADER + n * transform.frame_dim * itemsize for k, n in frames.items()}
    per_song = {k: n + SIDECAR_BYTES for k, n in npy.items()}
    new = [s for s in usable if s.source not in cached]
    train, val, train_seconds = split(variant, usable, speed.count)
    hours = songs.seconds() / 3600
    row: dict[str, Any] = {
        "songs": len(songs.songs), "hours": round(hours, 3),
        "audio_s": round(songs.seconds(), 2), "train_audio_s": round(train_seconds, 2),
        "lengths_from": songs.source_line(), "unknown_length": len(songs.unreadable),
        "skipped": songs.skipped, "silent": songs.silent,
        "train_songs": len(train), "val_songs": len(val),
        "train_hours": round(train_seconds / 3600, 3),
        "wav_bytes": songs.wav_bytes(),
        "wav_bytes_to_write": songs.wav_bytes(to_prepare),
        "cache": {
            "folder": str(directory), "transform": transform_name,
            "frame_dim": transform.frame_dim, "hop": transform.hop, "dtype": dtype,
            "frames": sum(frames.values()), "npy_bytes": sum(npy.values()),
            "bytes": sum(per_song.values()),
            "bytes_to_write": sum(per_song[s.source] for s in new),
            "bytes_per_hour": round(sum(per_song.values()) / hours) if hours else None,
            "frame_count_exact": speed.exact,
        },
        "prepare": {"seconds": prepare_s, "songs": len(to_prepare), "decoder": decoder,
                    "x_real_time_per_core": per_core, "workers": _workers(len(to_prepare))},
        "featurize": _featurize_time(songs.seconds(new), speed,
                                     sum(per_song[s.source] for s in new), len(new)),
    }
    try:
        row["train"] = training_time(variant, transform.frame_dim, transform.hop, train, val,
                                     transform_name)
    except Exception as exc:  # a plugin model that cannot be built here: say so, go on
        row["train"] = {"seconds": None, "how": f"unknown: {type(exc).__name__}: {exc}"}
    return row


def _featurize_time(seconds: float, speed: TransformSpeed, nbytes: int, count: int
                    ) -> dict[str, Any]:
    """Computing (timed just now) plus the files (the benchmark's seconds per song and per
    GB written)."""
    from kara_core.pipeline.cost import figures

    compute = seconds / speed.x_real_time
    per_song, per_gb = figures.FEATURIZE_SONG_S, figures.FEATURIZE_WRITE_S_PER_GB
    files = None if per_gb is None or per_song is None else (
        nbytes / 1e9 * per_gb + count * per_song)
    return {"seconds": compute + (files or 0.0), "compute_s": compute, "files_s": files,
            "songs": count, "x_real_time": round(speed.x_real_time),
            "how": "transform timed now" + (" (writing files not counted: never measured)"
                                           if files is None else
                                           f"; files {per_song:.3f} s per song + {per_gb:.1f} s "
                                           "per GB")}


RUN_FOLDER_FLOOR = 8_000_000
"""Bytes a run folder needs besides its audio: plots, pages, records, and the checkpoints
and exported model of a small model (three kept epochs and the export of the default
LSTM are about 6 MB)."""


def run_folder_bytes(variant: VariantConfig) -> int:
    """What one variant's run folder holds: 16-bit wavs of every generated clip, the
    prompt and its round trip, plus :data:`RUN_FOLDER_FLOOR`."""
    gen = variant.generate
    clips = gen.prompts * gen.seconds + 2 * gen.prompt_seconds
    return int(clips * variant.dataset.sample_rate * 2) + RUN_FOLDER_FLOOR


def estimate(variants: Sequence[VariantConfig]) -> dict[str, Any]:
    """``{"variants": {name: row}, "total": {...}, "warnings": [...]}`` for ``variants``."""
    from kara_core.pipeline.featurize.stage import transform_key
    from kara_core.pipeline.prepare.plan import prepare_identity

    surveys: dict[str, Survey] = {}
    speeds: dict[str, TransformSpeed] = {}
    rows: dict[str, dict[str, Any]] = {}
    prepared: dict[str, dict[str, Any]] = {}
    featurized: dict[str, dict[str, Any]] = {}
    for variant in variants:
        dataset = repr(prepare_identity(variant))
        if dataset not in surveys:
            surveys[dataset] = survey(variant)
        key = f"{variant.dataset.cache_dir}/{transform_key(variant)}"
        transform = variant.build_transform()
        if key not in speeds:
            try:
                speeds[key] = transform_speed(transform, variant.dataset.sample_rate)
            except Exception as exc:  # a transform that fails on synthetic audio
                rows[variant.name] = {"error": f"{transform.describe()} failed on a test "
                                               f"signal: {type(exc).__name__}: {exc}"}
                continue
        row = variant_cost(variant, surveys[dataset], speeds[key], transform.describe())
        rows[variant.name] = row
        prepared.setdefault(dataset, {"folder": variant.dataset.wav_dir, **row})
        featurized.setdefault(key, {"folder": variant.dataset.cache_dir, **row})
    needs = [(r["folder"], r["wav_bytes_to_write"], "wavs") for r in prepared.values()]
    needs += [(r["folder"], r["cache"]["bytes_to_write"],
               f"cache {r['cache']['transform'].split(',')[0]}")
              for r in featurized.values()]
    runs: dict[Path, int] = {}
    for variant in variants:
        runs[variant.runs_dir] = runs.get(variant.runs_dir, 0) + run_folder_bytes(variant)
    needs += [(folder, nbytes, "runs") for folder, nbytes in runs.items()]
    times = {
        "prepare": _sum(r["prepare"]["seconds"] for r in prepared.values()),
        "featurize": _sum(r["featurize"]["seconds"] for r in featurized.values()),
        "train": _sum(r.get("train", {}).get("seconds") for r in rows.values()
                      if "error" not in r),
    }
    total = {
        "seconds": times, "wav_bytes": sum(r["wav_bytes"] for r in prepared.values()),
        "cache_bytes": sum(r["cache"]["bytes"] for r in featurized.values()),
        "bytes_to_write": sum(n for _, n, _ in needs),
    }
    return {"variants": rows, "total": total, "warnings": disk_warnings(needs)}


def _sum(values: Any) -> float | None:
    """The sum, or ``None`` when any part is unknown."""
    total = 0.0
    for value in values:
        if value is None:
            return None
        total += float(value)
    return total


__all__ = ["WAV_HEADER", "estimate", "variant_cost"]
