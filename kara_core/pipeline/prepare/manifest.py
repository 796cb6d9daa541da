"""``<wav_dir>/manifest.json``: what each prepared WAV came from, so reruns redo only what
changed.

One entry per source (relative path, size, mtime, SHA-256, decoder and its version, input
rate and channels, output duration, status, reason, warnings, flags, the WAV's relative
path, size and SHA-256) plus the *settings key*: a hash of the sample rate, channel count
and decoders with their versions, and the music folder the WAVs belong to (``mp3_dir``:
one wav_dir serves one mp3_dir). A source is reused when its size and mtime (or, after a
``touch``, its hash) and the settings key are unchanged, and its WAV is still the file
prepare wrote. While a run decodes, ``pending`` lists the WAVs it is writing, so a run
killed before its first save leaves no orphan behind.
"""

from __future__ import annotations

import copy
import hashlib
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kara_core.options import to_plain
from kara_core.pipeline.prepare.one_file import DecoderSpec
from kara_core.storage import atomic

MANIFEST_NAME = "manifest.json"
FORMAT = "kara-prepare-manifest"
VERSION = 2
"""Bump when the WAVs Kara writes change for the same inputs; every file is then redone."""


def settings(rate: int, channels: int, decoders: Sequence[DecoderSpec]) -> dict[str, Any]:
    """Everything besides the source itself that decides the bytes of a prepared WAV."""
    from kara_core.pipeline.prepare.convert import RESAMPLE_QUALITY, WAV_SUBTYPE

    return {
        "version": VERSION,
        "sample_rate": rate,
        "channels": channels,
        "resampler": f"soxr {RESAMPLE_QUALITY}",
        "wav": WAV_SUBTYPE,
        "decoders": [
            {"type": d.name, "options": to_plain(d.options), "version": d.version}
            for d in decoders
        ],
    }


def settings_key(values: dict[str, Any]) -> str:
    """A short hash of :func:`settings`."""
    text = json.dumps(values, sort_keys=True, default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


@dataclass
class Loaded:
    """What an existing manifest holds.

    :ivar entries: by source.
    :ivar note: one line when an existing manifest was unusable.
    :ivar mp3_dir: the music folder these WAVs were made from (``None`` in manifests of
        older Kara versions).
    :ivar pending: WAVs a run had started on and not finished (the run was killed): any
        of them no entry owns is an orphan to remove.
    :ivar raw: the manifest as read, to tell whether anything changed.
    """

    entries: dict[str, dict[str, Any]] = field(default_factory=dict)
    note: str | None = None
    mp3_dir: str | None = None
    pending: list[str] = field(default_factory=list)
    raw: Any = None


def load(wav_dir: Path) -> Loaded:
    """The manifest of ``wav_dir`` (empty when there is none or it is unusable)."""
    path = wav_dir / MANIFEST_NAME
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return Loaded()
    except (OSError, UnicodeDecodeError, ValueError, RecursionError) as exc:
        return Loaded(note=f"{path}: unreadable ({exc}); every file is decoded again")
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        return Loaded(note=f"{path}: not a Kara manifest; every file is decoded again")
    files = data.get("files")
    if not isinstance(files, list):
        return Loaded(note=f"{path}: no file list; every file is decoded again")
    entries = {}
    for entry in files:
        if isinstance(entry, dict) and isinstance(entry.get("source"), str):
            entries[entry["source"]] = entry
    mp3_dir = data.get("mp3_dir")
    pending = data.get("pending")
    return Loaded(
        entries, None, mp3_dir if isinstance(mp3_dir, str) else None,
        [str(p) for p in pending] if isinstance(pending, list) else [],
        copy.deepcopy(data),  # the entries are updated in place; this stays as read
    )


def document(values: dict[str, Any], entries: Iterable[dict[str, Any]], mp3_dir: Path,
             pending: Sequence[str] = (), experiment: str | None = None) -> dict[str, Any]:
    """The manifest's content: entries sorted by source; ``experiment`` names the
    experiment folder (``<runs_dir>/<name>``) of the config that prepared them."""
    ordered = sorted(entries, key=lambda e: str(e["source"]))
    data: dict[str, Any] = {
        "format": FORMAT, "key": settings_key(values), "mp3_dir": str(mp3_dir.resolve()),
        "settings": values, "files": ordered,
    }
    if experiment is not None:
        data["experiment"] = experiment
    if pending:
        data["pending"] = sorted(pending)
    return data


def save(wav_dir: Path, data: dict[str, Any]) -> None:
    """Write the manifest (see :func:`document`) atomically."""
    atomic.write_json(wav_dir / MANIFEST_NAME, data)


def same(data: dict[str, Any], raw: Any) -> bool:
    """Whether ``data`` is what the manifest already holds (nothing to write)."""
    return json.loads(json.dumps(data, default=str)) == raw
