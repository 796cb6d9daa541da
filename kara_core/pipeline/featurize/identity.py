"""What a model was trained on, kept beside the features, so a mismatch can be explained.

A model's record holds only :meth:`FeatureSet.identity` (a hash of the training songs'
frames, their ranges and the normalisation). Featurize also writes
``<cache_dir>/<transform key>/identity-<hash>.json``: every song of the split with its
cache file (named by the WAV's content hash), its range and the decoder that made its
WAV. :func:`explain_change` compares that record with the current features and says, in
one line, what changed since: songs decoded again by another decoder, changed, added or
removed, a different split, another transform.
"""

from __future__ import annotations

import contextlib
import json
from pathlib import Path
from typing import Any

from kara_core.storage import atomic

FeatureSet = Any  # kara_core.pipeline.featurize.stage.FeatureSet (which imports this module)

PREFIX = "identity-"
SHOWN = 3  # names listed per kind of change


def record_path(directory: Path, identity: str) -> Path:
    """Where the record of ``identity`` lives in a transform's cache folder."""
    return directory / f"{PREFIX}{identity}.json"


def describe(features: FeatureSet) -> dict[str, Any]:
    """The record of ``features``: every song of the split and the cache key."""
    songs = []
    for part, group in (("train", features.train), ("val", features.val)):
        for song in group:
            songs.append({
                "source": song.source, "part": part, "npy": song.npy.name,
                "start": song.start, "stop": song.stop, "decoder": song.decoder,
            })
    return {"identity": features.identity(), "key": features.key, "songs": songs}


def write_record(features: FeatureSet) -> None:
    """Write the record of ``features`` unless it is already there (a write failure only
    costs the explanation, never the run)."""
    from kara_core.errors import KaraError

    path = record_path(features.directory, features.identity())
    if path.is_file():
        return
    with contextlib.suppress(KaraError):
        atomic.write_json(path, describe(features))


def _find(features: FeatureSet, identity: str) -> dict[str, Any] | None:
    """The record of ``identity`` in any transform's folder of the cache."""
    name = record_path(Path("."), identity).name
    candidates = [features.directory / name, *features.directory.parent.glob(f"*/{name}")]
    for path in candidates:
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError, RecursionError):
            continue
        if isinstance(data, dict) and isinstance(data.get("songs"), list):
            return data
    return None


def _names(sources: list[str]) -> str:
    shown = ", ".join(Path(s).name for s in sources[:SHOWN])
    return shown + (f" and {len(sources) - SHOWN} more" if len(sources) > SHOWN else "")


def explain_change(features: FeatureSet, identity: Any) -> str:
    """One line: what differs between the data of ``identity`` (a model's record) and
    ``features``, e.g. ``2 song(s) were decoded again with lame instead of soundfile
    (a.mp3, b.mp3)``."""
    old = _find(features, str(identity))
    if old is None:
        return ("the songs, their split or their features differ from those it was trained "
                "on (no record of those is left)")
    parts: list[str] = []
    if old.get("key") != features.key:
        parts.append(f"the transform or its options changed ({old.get('key')} -> "
                     f"{features.key})")
    before = {str(s.get("source")): s for s in old["songs"] if isinstance(s, dict)}
    now = describe(features)["songs"]
    after = {str(s["source"]): s for s in now}
    added = sorted(set(after) - set(before))
    removed = sorted(set(before) - set(after))
    redecoded: dict[tuple[str, str], list[str]] = {}
    changed, moved, cut = [], [], []
    for source in sorted(set(before) & set(after)):
        was, isnow = before[source], after[source]
        if was.get("npy") != isnow["npy"]:
            if was.get("decoder") and isnow["decoder"] and was["decoder"] != isnow["decoder"]:
                redecoded.setdefault((str(was["decoder"]), str(isnow["decoder"])), []).append(
                    source)
            else:
                changed.append(source)
        elif was.get("part") != isnow["part"]:
            moved.append(source)
        elif (was.get("start"), was.get("stop")) != (isnow["start"], isnow["stop"]):
            cut.append(source)
    for (was_decoder, decoder), sources in sorted(redecoded.items()):
        parts.append(f"{len(sources)} song(s) were decoded again with {decoder} instead of "
                     f"{was_decoder} ({_names(sources)})")
    if changed:
        parts.append(f"{len(changed)} song(s) changed ({_names(changed)})")
    if added:
        parts.append(f"{len(added)} song(s) were added ({_names(added)})")
    if removed:
        parts.append(f"{len(removed)} song(s) are gone ({_names(removed)})")
    if moved:
        parts.append(f"the split changed ({_names(moved)} moved between training and "
                     "validation)")
    if cut:
        parts.append(f"the held-out part of {_names(cut)} changed")
    return "; ".join(parts) or "the normalisation statistics changed"
