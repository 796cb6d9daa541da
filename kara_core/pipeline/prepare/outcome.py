"""What a prepare run produced: the songs ready for featurize and the per-file records."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class PreparedSong:
    """A decoded song ready for featurize."""

    source: str  # path relative to mp3_dir, posix style
    wav: Path  # absolute path of the decoded wav
    duration_s: float
    flags: tuple[str, ...]  # e.g. ("silent",) or ("short",); "silent" songs must not be trained on
    decoder: str | None = None  # which decoder made the wav (recorded with the features)


@dataclass
class PrepareReport:
    """The outcome of one prepare run.

    :ivar files: one ``--json`` record per source: source, status (decoded, cached,
        skipped), reason, warnings, wav, duration_s, flags.
    :ivar summary: counts: decoded, cached, skipped, skipped_by_reason, usable, ...
    :ivar songs: every decoded or cached song, sorted by source (silent ones included,
        flagged: use :attr:`trainable`).
    """

    files: list[dict[str, Any]] = field(default_factory=list)
    summary: dict[str, Any] = field(default_factory=dict)
    songs: list[PreparedSong] = field(default_factory=list)

    @property
    def trainable(self) -> list[PreparedSong]:
        """Songs a model may learn from: everything but the ``silent`` ones."""
        return [song for song in self.songs if "silent" not in song.flags]

    def to_json(self) -> dict[str, Any]:
        """What ``kara prepare --json`` prints."""
        return {"files": self.files, "summary": self.summary}
