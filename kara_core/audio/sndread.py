"""Read an open ``soundfile.SoundFile`` block by block without corrupting mp3 audio.

``SoundFile.read(n)`` asks for the position first (``tell()``, i.e. ``sf_seek(0,
SEEK_CUR)``). On an mp3, libsndfile passes that seek to mpg123, which drops its bit
reservoir: every block after the first starts with a burst of decoding errors
("part2_3_length too large") and wrong samples. Reading the whole file in one call avoids
the seek but not the memory. :func:`blocks` therefore calls libsndfile's
``sf_readf_float`` directly, and falls back to ``SoundFile.read`` only when this soundfile
build does not expose its C handle.

:func:`open_blocks` is Kara's one libsndfile container reader (WAV, FLAC, Ogg, AIFF, and
mp3 through mpg123): the ``soundfile`` decoder plugin streams with it, and ``kara
prepare`` reads with it a file named ``.mp3`` that is really another container.
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from kara_core.errors import DecodeError


@contextlib.contextmanager
def quiet_stderr() -> Iterator[None]:
    """Point file descriptor 2 at the null device while C code would print to it (mpg123
    prints its notes, "Illegal Audio-MPEG-Header ...", straight to the process's stderr)."""
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


def error_text(exc: BaseException) -> str:
    """libsndfile's complaint in a few words: the last line of its message, and "does not
    recognise its format" instead of its misleading "not a regular file (possibly a
    pipe?)"."""
    text = str(exc).strip().splitlines()
    message = text[-1] if text else type(exc).__name__
    if "not a regular file" in message:
        return "libsndfile does not recognise its format"
    return message.rstrip(".")[:200]


@contextlib.contextmanager
def open_blocks(
    path: Path | str, block_frames: int = 1 << 16
) -> Iterator[tuple[int, int, Iterator[np.ndarray]]]:
    """``(rate, channels, blocks)`` of ``path`` read by libsndfile, the blocks float32
    ``[m, channels]`` as they are decoded (memory stays bounded), mpg123's notes kept off
    the terminal.

    :class:`DecodeError` when libsndfile cannot open the file, when it fails part way
    (saying at which second: the file is damaged there; the good blocks come first), and
    when it finds no audio frames at all. A decoder that silently stops just ends early:
    ``kara prepare`` compares the decoded length with the frames in the file.
    """
    import soundfile as sf

    try:
        with quiet_stderr():
            # bytes: soundfile encodes str names strictly (fails on non-UTF-8 names)
            handle = sf.SoundFile(os.fsencode(path))
    except (sf.LibsndfileError, RuntimeError, OSError, TypeError) as exc:
        raise DecodeError(f"libsndfile cannot read it: {error_text(exc)}") from exc
    with handle:
        yield int(handle.samplerate), int(handle.channels), _decoded(handle, block_frames)


def _decoded(handle: Any, block_frames: int) -> Iterator[np.ndarray]:
    """:func:`blocks`, a failure part way made a :class:`DecodeError` saying where."""
    rate = float(handle.samplerate)
    done = 0
    reader = blocks(handle, block_frames)
    while True:
        try:
            with quiet_stderr():
                block = next(reader, None)
        except ReadFailed as exc:
            raise DecodeError(
                f"libsndfile stopped at {exc.frames / rate:.1f} s ({error_text(exc)}); "
                "the file is damaged there"
            ) from exc
        if block is None:
            break
        done += len(block)
        yield block
    if done == 0:
        raise DecodeError("libsndfile found no audio frames in it")


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
