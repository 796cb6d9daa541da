"""A long song's frames computed block by block, identical to the whole song's.

A transform that declares :attr:`~kara_core.components.Transform.context` ``C`` is called on
pieces of the song instead of the whole of it: block ``k`` owns the frames ``k*F`` to
``(k+1)*F - 1`` (``F`` frames of ``hop`` samples, the last block all the frames left), and
its piece is the block's samples plus ``C'`` (``C`` rounded up to whole hops) on each side,
clipped to the song. Of the piece's frames the first ``C'/hop`` are dropped (they saw the
piece's edge, not the song) unless the piece starts the song, and ``F`` are kept, or all
the rest for the last block (whose piece ends where the song ends, so it pads the song's
end the way a whole-song ``forward`` does). Every piece starts on a multiple of ``hop``, so
its frames fall on the song's frame grid. Memory is one piece and its frames, whatever the
song's length.

The same plan serves featurize (:mod:`kara_core.pipeline.featurize.cache`) and the test kit
(:func:`kara_core.testing.check_transform`), which checks that a transform's declared
context gives the whole song's frames exactly.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from kara_core.errors import KaraError

if TYPE_CHECKING:
    from kara_core.components import Transform

BLOCK_SECONDS = 60.0
"""Audio per block: a minute of stft frames is about 10 MB and the transform's temporaries a
few times that, large enough that the per-call overhead of ``forward`` is nothing."""


@dataclass(frozen=True)
class Block:
    """One block of a song: the piece read, and which of its frames are the block's.

    :ivar first_frame: the song's index of the block's first frame.
    :ivar read_start: first sample of the piece given to ``forward``.
    :ivar read_stop: one past the piece's last sample.
    :ivar skip: frames of ``forward(piece)`` before the block's first frame.
    :ivar keep: frames the block keeps; ``None`` for the last block (all the rest).
    """

    first_frame: int
    read_start: int
    read_stop: int
    skip: int
    keep: int | None


def block_frames_for(transform: Transform, sample_rate: int, seconds: float | None = None
                     ) -> int:
    """Frames per block: about ``seconds`` (default :data:`BLOCK_SECONDS`) of audio, at
    least one."""
    seconds = BLOCK_SECONDS if seconds is None else seconds
    return max(1, round(seconds * sample_rate / max(1, int(transform.hop))))


def plan(n_samples: int, hop: int, context: int, block_frames: int) -> list[Block]:
    """The blocks of a song of ``n_samples`` (at least one), in order."""
    hop, block_frames = int(hop), max(1, int(block_frames))
    pad = -(-max(0, int(context)) // hop) * hop
    step = block_frames * hop
    count = max(1, -(-int(n_samples) // step))
    blocks = []
    for k in range(count):
        start = k * step
        read_start = max(0, start - pad)
        last = k == count - 1
        read_stop = int(n_samples) if last else min(int(n_samples), start + step + pad)
        blocks.append(Block(k * block_frames, read_start, read_stop,
                            (start - read_start) // hop, None if last else block_frames))
    return blocks


def block_frames(
    transform: Transform, block: Block, read: Callable[[int, int], np.ndarray]
) -> np.ndarray:
    """The frames of ``block`` (float32 ``[frames, D]``), from ``forward`` of its piece,
    read by ``read(start, stop)``; a :class:`KaraError` when the transform gives too few
    frames for what its ``context`` and ``hop`` promise."""
    frames = np.asarray(transform.forward(read(block.read_start, block.read_stop)))
    if frames.ndim != 2 or frames.shape[0] == 0:
        raise KaraError(f"{transform.describe()} returned frames of shape {frames.shape}; "
                        f"expected [T, {transform.frame_dim}]")
    stop = frames.shape[0] if block.keep is None else block.skip + block.keep
    if frames.shape[0] < stop or stop <= block.skip:
        raise KaraError(
            f"{transform.describe()} gave frames of shape {frames.shape} for samples "
            f"{block.read_start}-{block.read_stop}; with hop {transform.hop} and context "
            f"{transform.context} frames {block.skip} to {stop - 1} were expected"
        )
    return frames[block.skip : stop]


def forward_in_blocks(
    transform: Transform, wave: np.ndarray, block_frames_count: int
) -> np.ndarray:
    """``forward(wave)`` computed block by block, as featurize does for a long song (the
    test kit compares it with the whole-song frames). ``transform.context`` must be set."""
    context = transform.context
    if context is None:
        raise ValueError(f"{transform.describe()} declares no context")
    blocks = plan(wave.shape[0], transform.hop, context, block_frames_count)
    parts = [block_frames(transform, b, lambda a, z: wave[a:z]) for b in blocks]
    return np.concatenate(parts, axis=0)
