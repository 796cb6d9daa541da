"""Read an open ``soundfile.SoundFile`` block by block without corrupting mp3 audio.

``SoundFile.read(n)`` asks for the position first (``tell()``, i.e. ``sf_seek(0,
SEEK_CUR)``). On an mp3, libsndfile passes that seek to mpg123, which drops its bit
reservoir: every block after the first starts with a burst of decoding errors
("part2_3_length too large") and wrong samples. Reading the whole file in one call avoids
the seek but not the memory. :func:`blocks` therefore calls libsndfile's
``sf_readf_float`` directly, and falls back to ``SoundFile.read`` only when this soundfile
build does not expose its C handle.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np


class ReadFailed(Exception):
    """libsndfile reported an error after ``frames`` frames were read."""

    def __init__(self, frames: int, message: str) -> None:
        super().__init__(message)
        self.frames = frames
        self.message = message


def blocks(handle: Any, block_frames: int = 1 << 16) -> Iterator[np.ndarray]:
    """Float32 ``[m, channels]`` blocks of ``handle`` from its current position.

    A libsndfile error part way raises :class:`ReadFailed` (after the good blocks). A
    decoder that silently stops simply ends early; callers compare lengths themselves.
    """
    import soundfile as sf

    lib = getattr(sf, "_snd", None)
    ffi = getattr(sf, "_ffi", None)
    pointer = getattr(handle, "_file", None)
    channels = int(handle.channels)
    done = 0
    if lib is None or ffi is None or pointer is None:  # pragma: no cover - other builds
        yield from _fallback_blocks(handle, block_frames)
        return
    while True:
        buffer = np.empty((block_frames, channels), dtype=np.float32)
        count = int(lib.sf_readf_float(pointer, ffi.cast("float *", buffer.ctypes.data),
                                       block_frames))
        if count > 0:
            done += count
            yield buffer[:count]
        if count < block_frames:
            _raise_if_failed(lib, ffi, pointer, done)
            return


def _raise_if_failed(lib: Any, ffi: Any, pointer: Any, done: int) -> None:
    """A short read is the end of the file unless libsndfile recorded an error."""
    if int(lib.sf_error(pointer)):
        message = ffi.string(lib.sf_strerror(pointer)).decode("utf-8", "replace")
        raise ReadFailed(done, message)


def _fallback_blocks(handle: Any, block_frames: int) -> Iterator[np.ndarray]:
    """Through the public API: correct for WAV/FLAC, may glitch on mp3 (see above)."""
    import soundfile as sf

    done = 0
    while True:
        try:
            block = handle.read(block_frames, dtype="float32", always_2d=True)
        except (sf.LibsndfileError, RuntimeError) as exc:
            raise ReadFailed(done, str(exc)) from exc
        if len(block) == 0:
            return
        done += len(block)
        yield block
