"""Which files and folders a prepare run works on: sources, WAV names, datasets.

Kept apart from :mod:`kara_core.pipeline.prepare.stage` so the rules are easy to find: what
counts as a source, where its WAV goes, and when two variants may share a ``wav_dir``.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path, PurePosixPath
from typing import Any

from kara_core.config import VariantConfig
from kara_core.errors import ConfigError


def prepare_identity(variant: VariantConfig) -> tuple[Any, ...]:
    """What decides a dataset's WAVs: folders, rate, channels and decoders."""
    from kara_core.options import to_plain

    ds, dec, fb = variant.dataset, variant.decoder, variant.decoder_fallback
    return (
        str(ds.mp3_dir), str(ds.wav_dir), ds.sample_rate, ds.channels, dec.type,
        repr(to_plain(dec.options)), fb.type if fb is not None else None,
    )


def distinct_datasets(variants: Sequence[VariantConfig]) -> list[VariantConfig]:
    """One variant per distinct (dataset, decoder), in order; :class:`ConfigError` when
    two of them would write different WAVs into the same ``wav_dir``."""
    chosen: dict[tuple[Any, ...], VariantConfig] = {}
    by_wav_dir: dict[str, VariantConfig] = {}
    for variant in variants:
        identity = prepare_identity(variant)
        if identity in chosen:
            continue
        other = by_wav_dir.get(identity[1])
        if other is not None:
            raise ConfigError(
                f"variants {other.name!r} and {variant.name!r} prepare {identity[1]} with "
                "different dataset or decoder settings; give one its own dataset.wav_dir"
            )
        chosen[identity] = variant
        by_wav_dir[identity[1]] = variant
    return list(chosen.values())


def find_sources(mp3_dir: Path) -> list[tuple[str, Path]]:
    """``(relative posix path, absolute path)`` of every ``*.mp3`` (any case), sorted.

    Symbolic links to folders are followed once (a loop is not walked twice); broken
    links, unreadable entries and folders named like an mp3 (``x.mp3/``) are returned too,
    so they are reported as skipped, not ignored.
    """
    found: list[tuple[str, Path]] = []
    seen: set[tuple[int, int]] = set()
    for folder, dirs, files in os.walk(mp3_dir, followlinks=True):
        try:
            st = os.stat(folder)
        except OSError:
            dirs[:] = []
            continue
        if (st.st_dev, st.st_ino) in seen:
            dirs[:] = []
            continue
        seen.add((st.st_dev, st.st_ino))
        dirs.sort()
        for name in dirs:  # listed, to be reported as skipped (and still walked)
            if name.lower().endswith(".mp3") and len(name) > 4:
                path = Path(folder) / name
                found.append((path.relative_to(mp3_dir).as_posix(), path.absolute()))
        for name in files:
            if name.lower().endswith(".mp3") and len(name) > 4:
                path = Path(folder) / name
                found.append((path.relative_to(mp3_dir).as_posix(), path.absolute()))
    return sorted(found)


def wav_name(source: str) -> str:
    """``a/b/Song.MP3`` -> ``a/b/Song.wav``."""
    return str(PurePosixPath(source).with_suffix(".wav"))


def check_layout(mp3_dir: Path, wav_dir: Path) -> None:
    """:class:`ConfigError` when one folder is inside the other (Kara never writes into
    the mp3 folder, and must not take its own WAVs for sources)."""
    a, b = mp3_dir.resolve(), wav_dir.resolve()
    if a == b or b.is_relative_to(a) or a.is_relative_to(b):
        raise ConfigError(
            f"dataset.wav_dir ({wav_dir}) and dataset.mp3_dir ({mp3_dir}) must not contain "
            "each other: Kara never writes into the mp3 folder"
        )
