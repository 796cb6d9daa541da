"""Which files and folders a prepare run works on: sources, WAV names, datasets.

Kept apart from :mod:`kara_core.pipeline.prepare.stage` so the rules are easy to find: what
counts as a source, where its WAV goes, and when two variants may share a ``wav_dir``.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from kara_core.components import Decoder
from kara_core.errors import ConfigError, KaraError
from kara_core.pipeline.prepare.manifest import MANIFEST_NAME, Loaded


@dataclass(frozen=True)
class PrepareSettings:
    """What prepare decodes, from where to where: ``dataset:``'s folders, rate and channels.

    :ivar mp3_dir: the music (never written).
    :ivar wav_dir: where the WAVs and the manifest go.
    :ivar sample_rate: the rate every WAV is resampled to.
    :ivar channels: 1 (mixed to mono) or 2.
    :ivar damage_decoders: installed decoders that decode around damaged frames: suggested
        as ``decoder.fallback`` when a damaged file cannot be decoded.
    :ivar experiment_dir: the experiment folder (``<runs_dir>/<name>``) of the config that
        prepares, recorded in the manifest: another experiment asking another rate or
        channel count of the same ``wav_dir`` is refused while this folder exists
        (:func:`check_shared`). ``None``: no experiment, nothing recorded.
    """

    mp3_dir: Path
    wav_dir: Path
    sample_rate: int
    channels: int
    damage_decoders: tuple[str, ...] = ()
    experiment_dir: Path | None = None


@dataclass(frozen=True)
class NamedDecoder:
    """A built decoder under the name it is registered as (``decoder.type``): prepare
    records the name in the manifest and rebuilds the decoder in its worker processes from
    its class and options."""

    name: str
    decoder: Decoder


def prepare_identity(
    settings: PrepareSettings, decoders: Sequence[NamedDecoder]
) -> tuple[Any, ...]:
    """What decides a dataset's WAVs: folders, rate, channels and decoders (the primary's
    options, the fallback's name)."""
    from kara_core.options import to_plain

    primary = decoders[0]
    fallback = decoders[1].name if len(decoders) > 1 else None
    return (
        str(settings.mp3_dir), str(settings.wav_dir), settings.sample_rate, settings.channels,
        primary.name, repr(to_plain(primary.decoder.options)), fallback,
    )


def distinct_datasets(
    datasets: Sequence[tuple[str, PrepareSettings, Sequence[NamedDecoder]]],
) -> list[int]:
    """The positions in ``datasets`` (``(variant name, settings, decoders)``) of the first
    of each distinct dataset, in order; :class:`ConfigError` when two of them would write
    different WAVs into the same ``wav_dir``."""
    chosen: dict[tuple[Any, ...], int] = {}
    by_wav_dir: dict[str, str] = {}
    for position, (name, settings, decoders) in enumerate(datasets):
        identity = prepare_identity(settings, decoders)
        if identity in chosen:
            continue
        other = by_wav_dir.get(identity[1])
        if other is not None:
            raise ConfigError(
                f"variants {other!r} and {name!r} prepare {identity[1]} with "
                "different dataset or decoder settings; give one its own dataset.wav_dir"
            )
        chosen[identity] = position
        by_wav_dir[identity[1]] = name
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


def collection_problem(mp3_dir: Path) -> str | None:
    """One line when the music folder is missing or holds no mp3, else ``None``."""
    if not mp3_dir.is_dir():
        what = "not a folder" if mp3_dir.exists() else "no such folder"
        return (f"{mp3_dir}: {what}; point dataset.mp3_dir at a folder of mp3 files and "
                "rerun (nothing was changed)")
    if not find_sources(mp3_dir):
        return (f"{mp3_dir}: no .mp3 files found; put your music there (subfolders are "
                "fine) and rerun (nothing was changed)")
    return None


def check_collection(mp3_dirs: Sequence[Path]) -> dict[Path, str]:
    """Checked before any work, so an empty collection never reaches prepare (which would
    remove the WAVs of songs no longer there) nor a variant's records: one
    :class:`~kara_core.errors.KaraError` line when no folder of ``mp3_dirs`` holds music,
    else the problem of each folder that holds none (its variants fail on their own)."""
    from kara_core.errors import KaraError

    problems = {d: p for d in dict.fromkeys(mp3_dirs) if (p := collection_problem(d))}
    if mp3_dirs and len(problems) == len(set(mp3_dirs)):
        raise KaraError(next(iter(problems.values())))
    return problems


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


def check_shared(loaded: Loaded, owner: str | None, rate: int, channels: int,
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
