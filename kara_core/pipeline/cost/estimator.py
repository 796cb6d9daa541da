"""Every variant's cost, with shared work counted once: a dataset several variants share is
prepared once, a transform several variants share is featurized once."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kara_core.components import Model, Transform
from kara_core.config import GenerateConfig, TrainConfig
from kara_core.pipeline.cost.disk import disk_warnings
from kara_core.pipeline.cost.songs import WAV_HEADER, Song, Survey, survey
from kara_core.pipeline.cost.speed import TransformSpeed, transform_speed
from kara_core.pipeline.cost.training import split, training_time
from kara_core.pipeline.featurize import FeaturizeSettings
from kara_core.pipeline.prepare import NamedDecoder, PrepareSettings

NPY_HEADER = 128
DTYPE_BYTES = {"float32": 4, "float16": 2}
"""Bytes per cached feature, by ``dataset.cache_dtype``."""
SIDECAR_BYTES = 600  # the JSON record beside each cached .npy, about


@dataclass(frozen=True)
class CostInputs:
    """One variant's parts, as the stages they estimate take them.

    :ivar name: the variant's name (the row's key).
    :ivar prepare: where prepare reads and writes, at what rate and channels.
    :ivar decoders: the built decoder chain, primary first.
    :ivar featurize: the transform's cache settings and the song split.
    :ivar transform: the built transform (timed on synthetic audio).
    :ivar build_model: builds the model for frames of a given size (nothing trained);
        a model that cannot be built makes the training time unknown, not the estimate fail.
    :ivar model_type: the model's registered name, in the "unknown" line.
    :ivar train: ``train:`` of kara.yaml.
    :ivar runs_dir: where the variant's run folder goes (its disk is checked too).
    :ivar generate: ``generate:`` of kara.yaml (what the run folder's audio takes).
    """

    name: str
    prepare: PrepareSettings
    decoders: Sequence[NamedDecoder]
    featurize: FeaturizeSettings
    transform: Transform
    build_model: Callable[[int], Model]
    model_type: str
    train: TrainConfig
    runs_dir: Path
    generate: GenerateConfig


def decoder_speed(decoders: Sequence[NamedDecoder]) -> tuple[str, float | None]:
    """The decoder prepare will use (the fallback when the primary's tool is missing) and
    its measured speed per core (:attr:`Decoder.x_real_time_per_core`, the plugin's own
    figure), ``None`` when never measured."""
    from kara_core.errors import KaraError

    chosen = decoders[0]
    for named in decoders:
        try:
            named.decoder.check()
        except KaraError:
            continue
        chosen = named
        break
    speed = getattr(chosen.decoder, "x_real_time_per_core", None)
    return chosen.name, float(speed) if isinstance(speed, int | float) and speed > 0 else None


def _cached(cache_dir: Path, directory: Path, songs: list[Song]) -> set[str]:
    """Sources whose frames are already in the cache folder (featurize's hash memo knows
    the wav's hash, and the entry named by it exists)."""
    from kara_core.pipeline.featurize import HASH_MEMO, entry_paths

    try:
        memo = json.loads((cache_dir / HASH_MEMO).read_text(encoding="utf-8"))
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
    from kara_core.pipeline.prepare import default_workers

    return max(1, min(default_workers(), files))


def variant_cost(parts: CostInputs, songs: Survey, speed: TransformSpeed,
                 transform_name: str) -> dict[str, Any]:
    """One variant's row: songs, hours, bytes and seconds (``None``: unknown)."""
    usable = songs.usable
    to_prepare = [s for s in songs.songs if not s.prepared]
    decoder, per_core = decoder_speed(parts.decoders)
    prepare_s = 0.0 if not to_prepare else None
    if per_core and to_prepare:
        prepare_s = songs.seconds(to_prepare) / (per_core * _workers(len(to_prepare)))
    transform = parts.transform
    directory = parts.featurize.directory
    cached = _cached(parts.featurize.cache_dir, directory, usable)
    frames = {s.source: speed.count(s.samples or 0) for s in usable}
    dtype = parts.featurize.cache_dtype
    itemsize = DTYPE_BYTES[dtype]
    npy = {k: NPY_HEADER + n * transform.frame_dim * itemsize for k, n in frames.items()}
    per_song = {k: n + SIDECAR_BYTES for k, n in npy.items()}
    new = [s for s in usable if s.source not in cached]
    train, val, train_seconds = split(parts.featurize, usable, speed.count)
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
        row["train"] = training_time(parts.build_model(transform.frame_dim), parts.model_type,
                                     parts.train, parts.featurize.sample_rate, transform.hop,
                                     train, val, transform_name)
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


def run_folder_bytes(generate: GenerateConfig, sample_rate: int) -> int:
    """What one variant's run folder holds: 16-bit wavs of every generated clip
    (``generate:``'s prompts and seconds), the prompt and its round trip, at
    ``sample_rate``, plus :data:`RUN_FOLDER_FLOOR`."""
    clips = generate.prompts * generate.seconds + 2 * generate.prompt_seconds
    return int(clips * sample_rate * 2) + RUN_FOLDER_FLOOR


def estimate(variants: Sequence[CostInputs]) -> dict[str, Any]:
    """``{"variants": {name: row}, "total": {...}, "warnings": [...]}`` for ``variants``:
    the cost package's entry point."""
    from kara_core.pipeline.prepare import prepare_identity

    surveys: dict[str, Survey] = {}
    speeds: dict[str, TransformSpeed] = {}
    rows: dict[str, dict[str, Any]] = {}
    prepared: dict[str, dict[str, Any]] = {}
    featurized: dict[str, dict[str, Any]] = {}
    for variant in variants:
        dataset = repr(prepare_identity(variant.prepare, variant.decoders))
        if dataset not in surveys:
            surveys[dataset] = survey(variant.prepare)
        key = str(variant.featurize.directory)
        transform = variant.transform
        if key not in speeds:
            try:
                speeds[key] = transform_speed(transform, variant.featurize.sample_rate)
            except Exception as exc:  # a transform that fails on synthetic audio
                rows[variant.name] = {"error": f"{transform.describe()} failed on a test "
                                               f"signal: {type(exc).__name__}: {exc}"}
                continue
        row = variant_cost(variant, surveys[dataset], speeds[key], transform.describe())
        rows[variant.name] = row
        prepared.setdefault(dataset, {"folder": variant.prepare.wav_dir, **row})
        featurized.setdefault(key, {"folder": variant.featurize.cache_dir, **row})
    needs = [(r["folder"], r["wav_bytes_to_write"], "wavs") for r in prepared.values()]
    needs += [(r["folder"], r["cache"]["bytes_to_write"],
               f"cache {r['cache']['transform'].split(',')[0]}")
              for r in featurized.values()]
    runs: dict[Path, int] = {}
    for variant in variants:
        runs[variant.runs_dir] = runs.get(variant.runs_dir, 0) + run_folder_bytes(
            variant.generate, variant.prepare.sample_rate)
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


__all__ = ["RUN_FOLDER_FLOOR", "WAV_HEADER", "CostInputs", "estimate", "run_folder_bytes",
           "variant_cost"]
