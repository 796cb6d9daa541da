"""Decode with libsndfile through the ``soundfile`` package: no external program needed.

libsndfile reads mp3 since 1.1 (through mpg123, bundled in the soundfile wheels), as well
as WAV, FLAC, Ogg and AIFF. It reads block by block, so memory stays bounded.

Two habits of libsndfile matter here:

* at damaged frames it stops: depending on the version it returns the first part of the
  song with no error, or fails on the next read. A failure part way raises
  :class:`DecodeError` saying where it stopped; a silent stop is caught by ``kara prepare``,
  which compares the decoded length with the frames in the file.
* mpg123 prints its notes ("Illegal Audio-MPEG-Header ...") straight to the process's
  stderr; they are kept out of the user's terminal while libsndfile runs.

Both are handled by :func:`kara_core.audio.open_blocks`, the core's libsndfile reader,
which ``kara prepare`` also reads other containers named ``.mp3`` with.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

from kara_core import Audio, AudioStream, Decoder, ToolMissingError, read_all
from kara_core.audio import open_blocks

MIN_LIBSNDFILE = (1, 1)
INSTALL_HINT = "upgrade it with 'pip install -U soundfile' (its wheels bundle libsndfile 1.2)"


class SoundfileDecoder(Decoder):
    """libsndfile reads mp3 (since 1.1), WAV, FLAC, Ogg and AIFF in-process."""

    name = "soundfile"
    x_real_time_per_core = 1236.5  # written by benchmarks/bench_scale.py --save-figures

    def check(self) -> None:
        """Raise :class:`ToolMissingError` when this libsndfile cannot read mp3."""
        import soundfile as sf

        version = sf.__libsndfile_version__
        parts = tuple(int(p) for p in version.split(".")[:2] if p.isdigit())
        if parts < MIN_LIBSNDFILE or "MP3" not in sf.available_formats():
            raise ToolMissingError(
                f"libsndfile {version} cannot read mp3 (it needs 1.1 or newer); {INSTALL_HINT}"
            )

    def version(self) -> str:
        """``libsndfile 1.2.2 soundfile 0.13.1``: part of every cache key."""
        import soundfile as sf

        return f"libsndfile {sf.__libsndfile_version__} soundfile {sf.__version__}"

    def decode(self, path: Path) -> Audio:
        """The whole file as float32 ``[n, channels]`` (use :meth:`stream` for long files)."""
        return read_all(self.stream(path))

    @contextlib.contextmanager
    def stream(self, path: Path, block_frames: int = 1 << 16) -> Iterator[AudioStream]:
        """Open ``path`` with libsndfile and yield its blocks as they are decoded
        (:func:`kara_core.audio.open_blocks`, the core's libsndfile reader)."""
        with open_blocks(path, block_frames) as (rate, channels, blocks):
            yield AudioStream(rate=rate, channels=channels, blocks=blocks)
