"""Which files and folders a prepare run works on: sources, WAV names, datasets.

Kept apart from :mod:`kara_core.pipeline.prepare.stage` so the rules are easy to find: what
counts as a source, where its WAV goes, and when two variants may share a ``wav_dir``.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from pathlib import Path, PurePosixPath
from typing import Any

from kara_core.config import VariantConfig
from kara_core.errors import ConfigError, KaraError
from kara_core.pipeline.prepare.manifest import MANIFEST_NAME, Loaded


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


def check_owner(loaded: Loaded, mp3_dir: Path, wav_dir: Path,
                 warn: Callable[[str], None]) -> None:
    """:class:`KaraError` when ``wav_dir`` holds the WAVs of another music folder: two
    configs sharing it would delete each other's WAVs as "deleted mp3s"."""
    if loaded.mp3_dir is None or not loaded.entries:
        return
    mine = mp3_dir.resolve()
    theirs = Path(loaded.mp3_dir)
    if theirs == mine:
        return
    if not theirs.exists():  # the music was moved, and kara.yaml follows it
        warn(f"{wav_dir} was prepared from {theirs}, which no longer exists; "
             f"it now belongs to {mine}")
        return
    raise KaraError(
        f"{wav_dir} holds the WAVs of {theirs}, not of {mine}: give this config its own "
        f"dataset.wav_dir (or delete {wav_dir / MANIFEST_NAME} if {theirs} is "
        "no longer used)"
    )


def check_shared(loaded: Loaded, owner: str, rate: int, channels: int,
                  wav_dir: Path, warn: Callable[[str], None]) -> None:
    """:class:`KaraError` when ``wav_dir`` holds WAVs of another rate or channel count that
    another experiment (another config) prepared and still has: the two would decode every
    song again over each other's WAVs at each prepare. The same experiment with a changed
    rate decodes again, saying why."""
    raw: dict[str, Any] = loaded.raw if isinstance(loaded.raw, dict) else {}
    found = raw.get("settings")
    settings: dict[str, Any] = found if isinstance(found, dict) else {}
    theirs = (settings.get("sample_rate"), settings.get("channels"))
    if not loaded.entries or None in theirs or theirs == (rate, channels):
        return
    what = f"{theirs[0]} Hz {theirs[1]}-channel"
    other = raw.get("experiment")
    if isinstance(other, str) and other != owner and Path(other).is_dir():
        raise KaraError(
            f"{wav_dir} holds the {what} WAVs of experiment {other}, and this config asks "
            f"{rate} Hz {channels}-channel: give one of them its own dataset.wav_dir "
            f"(e.g. {wav_dir}-{rate}), or each prepare decodes every song again over the "
            "other's"
        )
    warn(f"{wav_dir} holds {what} WAVs; dataset asks {rate} Hz {channels}-channel: "
         "decoding every song again")
