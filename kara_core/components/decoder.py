"""The decoder contract: one compressed file -> :class:`Audio`, whole or streamed in blocks."""

from __future__ import annotations

import contextlib
from abc import ABC, abstractmethod
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from kara_core.components.base import NoOptions


@dataclass(frozen=True)
class Audio:
    """Decoded audio.

    :ivar samples: float32 array of shape ``[n, channels]`` in [-1, 1].
    :ivar rate: sample rate in Hz.
    :ivar warnings: one-line notes the user should read (truncated stream, short decode).
    """

    samples: np.ndarray
    rate: int
    warnings: tuple[str, ...] = ()

    @property
    def duration_s(self) -> float:
        """Length in seconds."""
        return float(self.samples.shape[0]) / float(self.rate)


@dataclass
class AudioStream:
    """Decoded audio delivered block by block, so a long song never sits in memory whole.

    :ivar rate: sample rate in Hz.
    :ivar channels: channels of every block.
    :ivar blocks: float32 arrays ``[m, channels]`` in order; iterate once. Iterating may
        raise :class:`kara_core.errors.DecodeError` when the decoder fails part way.
    :ivar warnings: one-line notes; a decoder may append to it while the blocks are read.
    """

    rate: int
    channels: int
    blocks: Iterator[np.ndarray]
    warnings: list[str] = field(default_factory=list)


def read_all(stream: contextlib.AbstractContextManager[AudioStream]) -> Audio:
    """The whole of a decoder's stream as one :class:`Audio` (for short files and tests;
    ``kara prepare`` reads the blocks as they come)."""
    with stream as audio:
        blocks = list(audio.blocks)
        samples = (np.concatenate(blocks) if blocks
                   else np.zeros((0, audio.channels), dtype=np.float32))
        return Audio(samples.astype(np.float32, copy=False), audio.rate, tuple(audio.warnings))


class Decoder(ABC):
    """Turns one compressed file into :class:`Audio`.

    ``decode`` raises :class:`kara_core.errors.DecodeError` with a one-line reason for a file
    it cannot read; the batch goes on with the other files.
    """

    name: ClassVar[str]
    Options: ClassVar[type[Any]] = NoOptions
    default: ClassVar[bool] = False
    """Offered as the decoder of a kara.yaml that names none; a plugin sets it on at most
    one decoder, and two installed defaults make the user choose (``decoder.type``)."""
    decodes_damaged: ClassVar[bool] = False
    """Decodes around damaged mp3 frames (resynchronises and goes on) rather than stopping
    there: when another decoder gives up on a damaged file, ``kara prepare`` suggests this
    one as ``decoder.fallback``."""
    x_real_time_per_core: ClassVar[float | None] = None
    """Seconds of audio ``kara prepare`` turns into WAVs with this decoder per second of
    wall time, per worker process, as ``benchmarks/bench_scale.py --save-figures`` measured
    it (the machine is named in ``kara_core.pipeline.cost.figures.MEASURED_ON``): ``kara
    check`` estimates prepare's time from it. ``None``: never measured, the estimate says
    "unknown"."""

    def __init__(self, options: Any = None) -> None:
        self.options = options if options is not None else self.Options()

    def check(self) -> None:
        """Raise :class:`kara_core.errors.ToolMissingError` (with the install command) when
        the decoder cannot work on this machine. Called once before a batch."""
        return None

    @abstractmethod
    def version(self) -> str:
        """A string that changes whenever decoded output may change; part of cache keys."""

    @abstractmethod
    def decode(self, path: Path) -> Audio:
        """Decode ``path`` at its native rate and channel count."""

    @property
    def encodes(self) -> str | None:
        """The file suffix (``".mp3"``) this decoder can also write with :meth:`encode`, or
        ``None``. Kara encodes generated audio (``generate.mp3``) with the first decoder of
        the variant that encodes ``.mp3``."""
        return None

    def encode(self, path: Path, wave: np.ndarray, rate: int) -> None:
        """Write ``wave`` (float32 mono in [-1, 1] at ``rate`` Hz) to ``path`` in the
        format of :attr:`encodes`, atomically. Optional: only for decoders that encode."""
        raise NotImplementedError(f"decoder {self.name!r} does not encode audio")

    def stream(
        self, path: Path, block_frames: int = 1 << 16
    ) -> contextlib.AbstractContextManager[AudioStream]:
        """``with decoder.stream(path) as audio:`` the decoded audio in blocks.

        ``kara prepare`` decodes through this, so memory stays bounded on long songs. The
        default calls :meth:`decode` and slices its result; decoders that can stream (both
        built-ins do) override it. Raises :class:`kara_core.errors.DecodeError` as
        ``decode`` does.
        """
        audio = self.decode(path)
        samples = audio.samples
        blocks = (samples[i : i + block_frames] for i in range(0, len(samples), block_frames))
        return contextlib.nullcontext(
            AudioStream(audio.rate, samples.shape[1], blocks, list(audio.warnings))
        )
