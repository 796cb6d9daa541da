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
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kara_core import Audio, AudioStream, DecodeError, Decoder, ToolMissingError, read_all

if TYPE_CHECKING:
    import numpy as np

MIN_LIBSNDFILE = (1, 1)
INSTALL_HINT = "upgrade it with 'pip install -U soundfile' (its wheels bundle libsndfile 1.2)"


@contextlib.contextmanager
def quiet_stderr() -> Iterator[None]:
    """Point file descriptor 2 at the null device while C code would print to it."""
    if sys.stderr is not None:
        with contextlib.suppress(OSError, ValueError):  # a closed stderr has nothing to flush
            sys.stderr.flush()
    try:
        saved = os.dup(2)
    except OSError:  # no stderr at all: nothing to silence
        yield
        return
    null = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(null, 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(null)


def _message(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    message = text[-1] if text else type(exc).__name__
    # libsndfile says "File does not exist or is not a regular file (possibly a pipe?)"
    # for any file it cannot recognise; that misleads more than it helps
    if "not a regular file" in message:
        return "libsndfile does not recognise its format"
    return message.rstrip(".")[:200]


class SoundfileDecoder(Decoder):
    """libsndfile reads mp3 (since 1.1), WAV, FLAC, Ogg and AIFF in-process."""

    name = "soundfile"

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
        """Open ``path`` with libsndfile and yield its blocks as they are decoded."""
        import soundfile as sf

        try:
            with quiet_stderr():
                # bytes: soundfile encodes str names strictly (fails on non-UTF-8 names)
                handle = sf.SoundFile(os.fsencode(path))
        except (sf.LibsndfileError, RuntimeError, OSError, TypeError) as exc:
            raise DecodeError(f"libsndfile cannot read it: {_message(exc)}") from exc
        with handle:
            yield AudioStream(
                rate=int(handle.samplerate),
                channels=int(handle.channels),
                blocks=_blocks(handle, block_frames),
            )


def _blocks(handle: Any, block_frames: int) -> Iterator[np.ndarray]:
    """Float32 blocks; a failure part way becomes a :class:`DecodeError` saying where."""
    from kara_core.audio.sndread import ReadFailed, blocks

    rate = float(handle.samplerate)
    done = 0
    reader = blocks(handle, block_frames)
    while True:
        try:
            with quiet_stderr():
                block = next(reader, None)
        except ReadFailed as exc:
            raise DecodeError(
                f"libsndfile stopped at {exc.frames / rate:.1f} s ({_message(exc)}); "
                "the file is damaged there"
            ) from exc
        if block is None:
            break
        done += len(block)
        yield block
    if done == 0:
        raise DecodeError("libsndfile found no audio frames in it")
