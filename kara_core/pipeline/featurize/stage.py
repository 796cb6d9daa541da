"""Featurize: prepared wavs -> transform frames, one cached ``.npy`` per song, then the split.

Frames are cached un-normalised under ``<cache_dir>/<transform>-<key>/``, where ``key``
hashes the transform type, its options, the sample rate, and the distribution and version
of the plugin that provides the transform with its ``cache_version`` (recorded in the
folder's ``key.json``), and each file name carries a hash of the wav's content: a changed
song, transform or plugin never reuses stale frames (the run says why it featurizes
again), and a new song only costs its own transform. Each ``.npy`` is written atomically
and followed by a sidecar ``.json`` (shape, dtype, byte size); a file whose sidecar is
missing or does not match is rebuilt, never trusted. Songs are then split by song
(deterministic from ``train.seed``) and per-feature statistics are fitted on the training
part only; frames are normalised when they are read (:meth:`SongFeatures.frames`, and
batch by batch in :mod:`kara_core.pipeline.train.windows`), so the cache stays valid
whatever the split.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from kara_core.errors import KaraError
from kara_core.pipeline.featurize.features import FeatureSet, SongFeatures
from kara_core.pipeline.featurize.stats import statistics
from kara_core.storage import atomic
from kara_core.storage.atomic import WriteError

if TYPE_CHECKING:
    from kara_core.components import Transform
    from kara_core.config import ComponentConfig

CACHE_VERSION = 1
"""Bump when the layout of cached frames changes; old caches are then ignored."""
SINGLE_SONG_VAL = 0.2
"""Share of a lone song's tail held out when ``val_fraction`` is 0."""
HASH_MEMO = "wav-hashes.json"


class SongLike(Protocol):
    """What featurize needs of a prepared song (``pipeline.prepare.stage.PreparedSong``)."""

    source: str
    wav: Path
    flags: tuple[str, ...]


@dataclass(frozen=True)
class FeaturizeSettings:
    """What featurize needs besides the songs and the built transform.

    :ivar transform: the transform's configured type, options and plugin (what the cache
        key hashes; the transform itself is passed built).
    :ivar cache_dir: the folder holding one cache folder per transform key.
    :ivar sample_rate: the prepared songs' rate (part of the cache key).
    :ivar cache_dtype: how frames are stored (``dataset.cache_dtype``).
    :ivar val_fraction: share of the songs held out for validation (``dataset.val_fraction``).
    :ivar seed: decides which songs are held out (``train.seed``).
    :ivar window_frames: one window of the model (:attr:`Model.input_frames` plus
        :attr:`Model.output_frames`): a lone song's held-out tail leaves room for one window
        on each side when the song is long enough.
    :ivar music_dir: the music folder, named when no song is usable.
    """

    transform: ComponentConfig
    cache_dir: Path
    sample_rate: int
    cache_dtype: str = "float32"
    val_fraction: float = 0.2
    seed: int = 0
    window_frames: int = 0
    music_dir: Path = Path(".")

    @property
    def directory(self) -> Path:
        """This transform's cache folder, ``<cache_dir>/<transform key>``."""
        return self.cache_dir / transform_key(self)


def key_identity(settings: FeaturizeSettings) -> dict[str, Any]:
    """What the cache key of these frames hashes (``key.json`` in the folder)."""
    from kara_core.options import to_plain

    identity: dict[str, Any] = json.loads(json.dumps({
        "version": CACHE_VERSION,
        "type": settings.transform.type,
        "options": to_plain(settings.transform.options),
        "sample_rate": settings.sample_rate,
        "component": settings.transform.identity(),
    }, sort_keys=True, default=str))
    if settings.cache_dtype != "float32":  # float32 caches keep their old keys
        identity["dtype"] = settings.cache_dtype
    return identity


def transform_key(settings: FeaturizeSettings) -> str:
    """``<type>-<hash>``: the cache folder of this transform, its options, the sample rate
    and the plugin (distribution, version, ``cache_version``) that provides it."""
    identity = key_identity(settings)
    digest = hashlib.sha256(json.dumps(identity, sort_keys=True).encode())
    return f"{settings.transform.type}-{digest.hexdigest()[:16]}"


def _record_key(settings: FeaturizeSettings, directory: Path, show_progress: bool) -> None:
    """Write ``key.json`` in a new cache folder and, when an older folder holds the same
    transform with the same options from another version of its plugin, say in one line
    why the songs are featurized again."""
    from kara_core.pipeline.featurize.identity import KEY_FILE, component_change, read_key

    if (directory / KEY_FILE).is_file():
        return
    identity = key_identity(settings)
    bare = {k: v for k, v in identity.items() if k != "component"}
    older = []
    for folder in directory.parent.glob(f"{settings.transform.type}-*"):
        record = read_key(folder) if folder != directory else None
        if record is not None and {k: v for k, v in record.items() if k != "component"} == bare:
            with contextlib.suppress(OSError):
                older.append(((folder / KEY_FILE).stat().st_mtime_ns, record))
    if older and show_progress:
        from kara_core.console import print_note

        _when, record = max(older, key=lambda found: found[0])
        change = component_change("transform", record.get("component"), identity["component"])
        print_note(f"{settings.transform.type}: {change}: featurizing again")
    atomic.write_json(directory / KEY_FILE, identity)


@dataclass
class _Cached:
    song: SongLike
    npy: Path
    n_frames: int
    n_samples: int


def featurize(
    songs: Sequence[SongLike], transform: Transform, settings: FeaturizeSettings, *,
    reload: bool = False, show_progress: bool = True,
) -> FeatureSet:
    """Frames of every usable song (cached), split by song, with training statistics:
    the featurize stage's entry point.

    Songs flagged ``silent`` are left out; a song whose wav cannot be read or transformed
    is reported in one line and left out. Raises :class:`KaraError` when no song is left.

    :param reload: recompute every song's frames even when a valid cache exists.
    """
    from kara_core.console import print_warning
    from kara_core.pipeline.featurize.cache import cached_frames
    from kara_core.pipeline.featurize.identity import check_source
    from kara_core.pipeline.progress import progress, song_task
    from kara_core.storage.locks import folder_lock

    key = transform_key(settings)
    directory = settings.cache_dir / key
    usable = sorted((s for s in songs if "silent" not in s.flags), key=lambda s: str(s.source))
    skipped = [f"{s.source}: silent, not trained on" for s in songs if "silent" in s.flags]
    if not usable:
        raise KaraError(
            f"{settings.music_dir}: no usable songs to train on "
            f"({len(skipped)} of {len(songs)} are silent)"
        )
    cached: list[_Cached] = []
    with folder_lock(directory, "kara featurize"), progress(show_progress) as bar:
        from kara_core.storage import owned

        owned.claim(directory, "cache", f"kara featurize {settings.transform.type}")
        atomic.clean_stale_temps(directory)
        _record_key(settings, directory, show_progress)
        check_source(directory, settings.transform, print_warning)
        memo = _HashMemo(settings.cache_dir / HASH_MEMO)
        lengths = [_wav_seconds(Path(s.wav)) for s in usable]
        task = song_task(bar, f"featurize {settings.transform.type}", lengths)
        for song, seconds in zip(usable, lengths, strict=True):
            try:
                npy, n_frames, n_samples = cached_frames(
                    transform, song.wav, directory, memo.sha256(Path(song.wav)),
                    settings.sample_rate, reload=reload, dtype=settings.cache_dtype,
                )
            except WriteError:
                raise  # Kara's own cache cannot be written: the stage fails, not the song
            except KaraError as exc:
                print_warning(f"{song.source}: left out: {exc}")
                skipped.append(f"{song.source}: {exc}")
            else:
                cached.append(_Cached(song, npy, n_frames, n_samples))
            task.advance(seconds)
        memo.save()
        if not cached:
            raise KaraError(
                f"{settings.music_dir}: none of the {len(usable)} songs could be "
                f"featurized with {transform.describe()}"
            )
        # the statistics and the record are written into the cache too: under the lock, or
        # another process entering it would clean their temporary files away mid-write
        return _split(settings, transform, key, directory, cached, skipped)


def _wav_seconds(wav: Path) -> float:
    """A song's length from its wav header (the progress bar's weight), 0 if unreadable."""
    import soundfile

    try:
        return float(soundfile.info(os.fsencode(wav)).duration)
    except (OSError, RuntimeError, ValueError):
        return 0.0


def _split(
    settings: FeaturizeSettings, transform: Transform, key: str, directory: Path,
    cached: list[_Cached], skipped: list[str],
) -> FeatureSet:
    def whole(item: _Cached) -> SongFeatures:
        return SongFeatures(
            str(item.song.source), Path(item.song.wav), item.npy, 0, item.n_frames,
            item.n_samples, decoder=getattr(item.song, "decoder", None),
        )

    note = None
    if len(cached) == 1:
        item = cached[0]
        fraction = settings.val_fraction or SINGLE_SONG_VAL
        held = max(1, round(item.n_frames * fraction))
        window = settings.window_frames
        if item.n_frames >= 2 * window:  # room for a window on each side: make sure of it
            held = min(max(held, window), item.n_frames - window)
        held = min(held, item.n_frames - 1)
        cut = item.n_frames - held
        first, last = whole(item), whole(item)
        first.stop, last.start = cut, cut
        train, val = [first], [last]
        note = (
            f"one song ({item.song.source}): its last {held / item.n_frames:.0%} "
            f"({held} frames) is held out for validation"
        )
    else:
        n_val = min(len(cached) - 1, max(1, round(len(cached) * settings.val_fraction)))
        order = np.random.default_rng(settings.seed).permutation(len(cached))
        held_out = set(order[:n_val].tolist())
        train = [whole(c) for i, c in enumerate(cached) if i not in held_out]
        val = [whole(c) for i, c in enumerate(cached) if i in held_out]
    mean, std, low, high = statistics(
        [(s.npy, s.start, s.stop) for s in train], directory)
    for song in (*train, *val):
        song.mean, song.std = mean, std
    from kara_core.pipeline.featurize.identity import write_record

    features = FeatureSet(transform, key, directory, mean, std, train, val, note, skipped, low,
                          high)
    write_record(features)  # so a model trained on other data can be told what changed
    return features


class _HashMemo:
    """sha256 of wavs, remembered by (size, mtime) so unchanged wavs are not re-read."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.changed = False
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            self.entries: dict[str, list[Any]] = data if isinstance(data, dict) else {}
        except (OSError, ValueError):
            self.entries = {}

    def sha256(self, wav: Path) -> str:
        try:
            stat = wav.stat()
        except OSError as exc:
            raise KaraError(f"{wav}: cannot read ({exc.strerror or exc})") from None
        stamp = [stat.st_size, stat.st_mtime_ns]
        entry = self.entries.get(str(wav))
        if isinstance(entry, list) and len(entry) == 3 and entry[:2] == stamp:
            return str(entry[2])
        digest = hashlib.sha256()
        try:
            with open(wav, "rb") as handle:
                for block in iter(lambda: handle.read(1 << 20), b""):
                    digest.update(block)
        except OSError as exc:
            raise KaraError(f"{wav}: cannot read ({exc.strerror or exc})") from None
        self.entries[str(wav)] = [*stamp, digest.hexdigest()]
        self.changed = True
        return digest.hexdigest()

    def save(self) -> None:
        if self.changed:
            atomic.write_json(self.path, self.entries)
