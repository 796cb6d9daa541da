"""``<wav_dir>/manifest.json``: what each prepared WAV came from, so reruns redo only what
changed.

One entry per source (relative path, size, mtime, SHA-256, decoder and its version, input
rate and channels, output duration, status, reason, warnings, flags, the WAV's relative
path) plus the *settings key*: a hash of the sample rate, channel count and decoders with
their versions. A source is reused when its size and mtime (or, after a ``touch``, its
hash) and the settings key are unchanged, and its WAV is still there.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from kara_core.options import to_plain
from kara_core.pipeline.prepare.one_file import DecoderSpec
from kara_core.storage import atomic

MANIFEST_NAME = "manifest.json"
FORMAT = "kara-prepare-manifest"
VERSION = 1
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


def load(wav_dir: Path) -> tuple[dict[str, dict[str, Any]], str | None]:
    """Entries by source, and a one-line note when an existing manifest was unusable."""
    path = wav_dir / MANIFEST_NAME
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}, None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        return {}, f"{path}: unreadable ({exc}); every file is decoded again"
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        return {}, f"{path}: not a Kara manifest; every file is decoded again"
    files = data.get("files")
    if not isinstance(files, list):
        return {}, f"{path}: no file list; every file is decoded again"
    entries = {}
    for entry in files:
        if isinstance(entry, dict) and isinstance(entry.get("source"), str):
            entries[entry["source"]] = entry
    return entries, None


def save(wav_dir: Path, values: dict[str, Any], entries: Iterable[dict[str, Any]]) -> None:
    """Write the manifest atomically, entries sorted by source."""
    ordered = sorted(entries, key=lambda e: str(e["source"]))
    atomic.write_json(
        wav_dir / MANIFEST_NAME,
        {"format": FORMAT, "key": settings_key(values), "settings": values, "files": ordered},
    )
