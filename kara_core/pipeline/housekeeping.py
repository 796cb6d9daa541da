"""``kara clean``: the feature caches and run folders that no given config uses any more.

Caches are keyed by a transform's type, options and rate, and run folders by experiment
and variant, so editing kara.yaml leaves the old ones behind (a 10-hour collection's STFT
cache is several GB). Only folders Kara made are candidates: caches named
``<transform>-<16 hex digits>`` and run folders holding a Kara run record. A folder another
Kara process holds (a training, a featurize) is left alone and named.
"""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from kara_core.config import ExperimentConfig
from kara_core.pipeline.parts import transform_key
from kara_core.storage.locks import held_unless_busy

CACHE_NAME = re.compile(r"[A-Za-z0-9_.-]+-[0-9a-f]{16}")
RUN_RECORDS = ("metrics.json", "config.resolved.yaml", "checkpoints")


@dataclass(frozen=True)
class Unused:
    """A folder no given config uses: what it is, where, and how many bytes it holds."""

    kind: str  # "cache" or "run"
    path: Path
    bytes: int


def folder_bytes(folder: Path) -> int:
    """Bytes of every file under ``folder`` (files that vanish meanwhile count 0)."""
    total = 0
    for root, _dirs, files in os.walk(folder):
        for name in files:
            try:
                total += os.lstat(os.path.join(root, name)).st_size
            except OSError:
                continue
    return total


def _is_run(folder: Path) -> bool:
    return any((folder / name).exists() for name in RUN_RECORDS)


def unused_outputs(experiments: Sequence[ExperimentConfig]) -> list[Unused]:
    """Caches and run folders under the given configs' ``cache_dir`` and ``runs_dir`` that
    none of their variants uses, largest first."""
    caches_used: dict[Path, set[str]] = {}
    runs_used: dict[Path, set[Path]] = {}
    for experiment in experiments:
        for variant in experiment.variants:
            cache_dir = variant.dataset.cache_dir.resolve()
            caches_used.setdefault(cache_dir, set()).add(transform_key(variant))
            runs_used.setdefault(variant.runs_dir.resolve(), set()).add(
                variant.run_dir.resolve())
    found: list[Unused] = []
    for cache_dir, keys in caches_used.items():
        if cache_dir.is_dir():
            for entry in sorted(cache_dir.iterdir()):
                if entry.is_dir() and CACHE_NAME.fullmatch(entry.name) and entry.name not in keys:
                    found.append(Unused("cache", entry, folder_bytes(entry)))
    for runs_dir, used in runs_used.items():
        if not runs_dir.is_dir():
            continue
        for experiment_dir in sorted(p for p in runs_dir.iterdir() if p.is_dir()):
            for run in sorted(p for p in experiment_dir.iterdir() if p.is_dir()):
                if run.resolve() not in used and _is_run(run):
                    found.append(Unused("run", run, folder_bytes(run)))
    return sorted(found, key=lambda u: u.bytes, reverse=True)


def remove(unused: Unused) -> str | None:
    """Delete ``unused`` unless another Kara process holds it; returns that holder, if any."""
    with held_unless_busy(unused.path) as holder:
        if holder is not None:
            return holder
        shutil.rmtree(unused.path)
    return None

