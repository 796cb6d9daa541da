"""``lame --decode`` of one file inside Kara: :mod:`kara_lame.frontend` over the loaded
library, with the lame program's outcomes (its errors, its deadline) in its words, so a
skipped file reads the same whichever way lame ran."""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

import numpy as np

from kara_core import AudioStream, DecodeError
from kara_lame.frontend import (
    Deadline,
    InitFailed,
    LameFailed,
    LameFrontend,
    needs_the_program,
    reads_as_mpeg,
)
from kara_lame.hip import Hip


def in_process_stream(
    hip: Hip, path: Path, timeout: float, block_frames: int
) -> contextlib.AbstractContextManager[AudioStream] | None:
    """The decode of ``path`` (absolute) as a stream, or None when only the lame program
    decodes it the way lame does (a name lame does not read as MPEG, a Xing tag without a
    frame count: see :func:`kara_lame.frontend.needs_the_program`)."""
    if not reads_as_mpeg(path.name):
        return None
    try:
        handle = open(path, "rb")  # noqa: SIM115 - closed by the stream, or below
    except OSError as exc:
        raise DecodeError(f"cannot read it ({exc.strerror or exc})") from exc
    try:
        if needs_the_program(handle):
            handle.close()
            return None
    except OSError as exc:
        handle.close()
        raise DecodeError(f"cannot read it ({exc.strerror or exc})") from exc
    return _stream(hip, handle, path, timeout, block_frames)


@contextlib.contextmanager
def _stream(hip: Hip, handle: BinaryIO, path: Path, timeout: float,
            block_frames: int) -> Iterator[AudioStream]:
    with handle:
        front = LameFrontend(hip, handle, time.monotonic() + timeout, block_frames)
        try:
            try:
                front.open()
            except InitFailed:
                # what the program prints (--quiet keeps only this line) before exit 255
                shown = os.fsencode(str(path)).decode("utf-8", "replace")
                detail = f"Can't init infile '{shown}'"[:200]
                raise DecodeError(f"lame failed (exit 255): {detail}") from None
            yield AudioStream(front.rate, front.channels, _blocks(front, timeout))
        finally:
            front.close()  # a later call on the freed decoder only returns -1: the end


def _blocks(front: LameFrontend, timeout: float) -> Iterator[np.ndarray]:
    """The frontend's blocks, then the program's checks: audio was written at all, and
    within the time the program would have had."""
    frames = 0
    try:
        for block in front.blocks():
            frames += len(block)
            yield block
    except Deadline:
        raise LameFailed(f"lame did not finish within {timeout:.0f} s and was stopped") from None
    if frames == 0:
        raise DecodeError("lame exited 0 but wrote no audio")
