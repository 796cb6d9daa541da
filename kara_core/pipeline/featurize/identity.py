"""What a model was trained on, kept beside the features, so a mismatch can be explained.

A model's record holds only :meth:`FeatureSet.identity` (a hash of the training songs'
frames, their ranges and the normalisation). Featurize also writes
``<cache_dir>/<transform key>/identity-<hash>.json``: every song of the split with its
cache file (named by the WAV's content hash), its range and the decoder that made its
WAV. :func:`explain_change` compares that record with the current features and says, in
one line, what changed since: songs decoded again by another decoder, changed, added or
removed, a different split, another transform or another version of its plugin
(:func:`component_change`, from the ``key.json`` of each cache folder).
"""

from __future__ import annotations

import contextlib
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kara_core.storage import atomic

if TYPE_CHECKING:
    from kara_core.pipeline.featurize.features import FeatureSet

PREFIX = "identity-"
SHOWN = 3  # names listed per kind of change
KEY_FILE = "key.json"
"""In each transform's cache folder: what its key hashes (transform, options, rate, and
the plugin's distribution, version and ``cache_version``)."""


def component_change(kind: str, old: Any, new: Any) -> str:
    """``the transform's plugin changed (kara 0.1.0 -> 0.2.0)``, ``... cache_version
    changed (1 -> 2)``: how the component of two records of
    :meth:`~kara_core.config.ComponentConfig.identity` differs (``kind``: transform,
    model)."""
    old = old if isinstance(old, dict) else {}
    new = new if isinstance(new, dict) else {}
    what = f"the {kind}'s"
    if not old:
        return (f"{what} plugin was not recorded (now {new.get('distribution')} "
                f"{new.get('version')})")
    parts = []
    was = (old.get("distribution"), old.get("version"))
    now = (new.get("distribution"), new.get("version"))
    if was != now:
        shown = (f"{now[0]} {was[1]} -> {now[1]}" if was[0] == now[0]
                 else f"{was[0]} {was[1]} -> {now[0]} {now[1]}")
        parts.append(f"{what} plugin changed ({shown})")
    if old.get("cache_version") != new.get("cache_version"):
        parts.append(f"{what} cache_version changed ({old.get('cache_version')} -> "
                     f"{new.get('cache_version')})")
    if not parts and old.get("plugin") != new.get("plugin"):
        parts.append(f"{what} plugin changed ({old.get('plugin')} -> {new.get('plugin')})")
    return " and ".join(parts) or f"{what} plugin record changed"


def read_key(directory: Path) -> dict[str, Any] | None:
    """The ``key.json`` of a transform's cache folder, or ``None`` (absent, unreadable)."""
    try:
        data = json.loads((directory / KEY_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError, RecursionError):
        return None
    return data if isinstance(data, dict) else None


def key_change(old_key: Any, features: FeatureSet) -> str | None:
    """How the transform's plugin changed between the cache folder ``old_key`` and the
    current one, when that is all that changed (the same transform, options and rate)."""
    old = read_key(features.directory.parent / str(old_key))
    new = read_key(features.directory)
    if old is None or new is None:
        return None
    same = {k: v for k, v in old.items() if k != "component"} == {
        k: v for k, v in new.items() if k != "component"}
    if not same or old.get("component") == new.get("component"):
        return None
    return component_change("transform", old.get("component"), new.get("component"))


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
        plugin = key_change(old.get("key"), features)
        parts.append(plugin if plugin is not None else
                     f"the transform or its options changed ({old.get('key')} -> "
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



SOURCE_FILE = "source.json"
"""In each transform's cache folder: a hash of the transform's source files when the
frames were cached (:func:`check_source`)."""


def check_source(directory: Path, component: Any, warn: Any) -> None:
    """Warn once (through ``warn``) when the transform's source files changed since the
    frames in ``directory`` were cached while its plugin's version and ``cache_version``
    stayed the same (the folder's key holds both): an editable plugin edited without a
    ``cache_version`` bump, whose old frames would be reused unseen."""
    from kara_core.report.versions import source_changed

    if source_changed(directory / SOURCE_FILE, component.cls):
        warn(f"transform {component.type!r} of plugin {component.plugin!r} "
             f"({component.distribution} {component.version}): its source changed since "
             f"its frames in {directory.name} were cached, but its version and cache_version "
             "did not: the cached frames (and models trained on them) are the old code's; "
             "bump the transform's cache_version to featurize again")
