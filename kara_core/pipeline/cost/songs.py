"""The songs of a dataset before anything is decoded: the manifest where prepared, else
the mp3 frame headers."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from kara_core.pipeline.prepare import PrepareSettings

WAV_HEADER = 44


@dataclass
class Song:
    """One source file as the estimate sees it.

    :ivar samples: samples per channel at the dataset's rate (``None``: unknown length).
    :ivar prepared: its wav is there and up to date (the manifest says so).
    :ivar usable: trained on (not skipped, not silent, length known).
    """

    source: str
    samples: int | None
    prepared: bool = False
    usable: bool = True
    wav: Path | None = None


@dataclass
class Survey:
    """The songs of one dataset (mp3_dir, wav_dir, rate, channels)."""

    rate: int
    channels: int
    songs: list[Song] = field(default_factory=list)
    from_manifest: int = 0
    from_headers: int = 0
    unreadable: list[str] = field(default_factory=list)
    skipped: int = 0
    silent: int = 0

    @property
    def usable(self) -> list[Song]:
        """Songs featurize and training will use, sorted by source as featurize sorts."""
        return sorted((s for s in self.songs if s.usable and s.samples),
                      key=lambda s: s.source)

    def seconds(self, songs: list[Song] | None = None) -> float:
        """Audio seconds of ``songs`` (default: every song of known length)."""
        chosen = self.songs if songs is None else songs
        return sum(s.samples or 0 for s in chosen) / self.rate

    def wav_bytes(self, songs: list[Song] | None = None) -> int:
        """Bytes of the wavs of ``songs`` (default: all)."""
        chosen = self.songs if songs is None else songs
        return sum(WAV_HEADER + (s.samples or 0) * self.channels * 2 for s in chosen
                   if s.samples is not None)

    def source_line(self) -> str:
        """Where the lengths came from: ``manifest``, ``mp3 headers`` or both."""
        parts = []
        if self.from_manifest:
            parts.append(f"{self.from_manifest} from the manifest")
        if self.from_headers:
            parts.append(f"{self.from_headers} from mp3 headers")
        return ", ".join(parts) or "no songs"


def survey(ds: PrepareSettings) -> Survey:
    """The songs of a dataset, from the manifest where prepared, else mp3 headers."""
    from kara_core.audio.mp3info import probe
    from kara_core.pipeline.prepare import find_sources, load_manifest

    found = Survey(ds.sample_rate, ds.channels)
    if not ds.mp3_dir.is_dir():
        return found
    loaded = load_manifest(ds.wav_dir)
    settings = (loaded.raw or {}).get("settings") if isinstance(loaded.raw, dict) else None
    same = (isinstance(settings, dict) and settings.get("sample_rate") == ds.sample_rate
            and settings.get("channels") == ds.channels
            and loaded.mp3_dir in (None, str(ds.mp3_dir.resolve())))
    for source, path in find_sources(ds.mp3_dir):
        if path.is_dir():  # a folder named like an mp3: prepare lists it as skipped
            found.skipped += 1
            continue
        entry = loaded.entries.get(source) if same else None
        try:
            st = path.stat()
        except OSError:
            found.unreadable.append(source)
            continue
        if entry and entry.get("size") == st.st_size and entry.get("mtime_ns") == st.st_mtime_ns:
            if entry.get("status") == "skipped":
                found.skipped += 1
                continue
            wav = ds.wav_dir / str(entry.get("wav"))
            samples = _wav_samples(entry, ds.channels, ds.sample_rate)
            if samples is not None and wav.is_file():
                silent = "silent" in (entry.get("flags") or [])
                found.silent += silent
                found.songs.append(Song(source, samples, True, not silent, wav))
                found.from_manifest += 1
                continue
        try:
            info = probe(path)
        except OSError:
            info = None
        if info is None:  # no MPEG frames: prepare will read it for what it is, or skip it
            found.unreadable.append(source)
            found.songs.append(Song(source, None, usable=False))
            continue
        at_source = info.samples_for(info.estimated_frames)
        found.songs.append(Song(source, round(at_source * ds.sample_rate / info.first.rate)))
        found.from_headers += 1
    return found


def _wav_samples(entry: dict[str, Any], channels: int, rate: int) -> int | None:
    size = entry.get("wav_bytes")
    if isinstance(size, int) and size >= WAV_HEADER:
        return (size - WAV_HEADER) // (2 * channels)
    duration = entry.get("duration_s")
    return None if not isinstance(duration, int | float) else round(duration * rate)
