"""``raw``: the waveform cut into non-overlapping frames; exact inverse."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from kara_core import RoundTripTolerance, Transform, audio


@dataclass(frozen=True)
class RawOptions:
    """Options of the ``raw`` transform."""

    frame_size: int = field(default=1024, metadata={"min": 1, "max": 1 << 20})


class RawTransform(Transform):
    """Samples as features: frame ``t`` is ``wave[t*frame_size:(t+1)*frame_size]``.

    The last frame is zero-padded; ``inverse`` trims back to the requested length, so the
    round trip is bit-exact.
    """

    name = "raw"
    Options = RawOptions
    options: RawOptions

    @property
    def frame_dim(self) -> int:
        return self.options.frame_size

    @property
    def hop(self) -> int:
        return self.options.frame_size

    @property
    def context(self) -> int:
        """Frames are cut end to end: a frame needs no sample outside itself."""
        return 0

    @property
    def tolerance(self) -> RoundTripTolerance:
        return RoundTripTolerance(min_snr_db=120.0)

    def describe(self) -> str:
        return f"raw {self.options.frame_size}"

    def forward(self, wave: np.ndarray) -> np.ndarray:
        return audio.cut_frames(wave, self.options.frame_size)

    def inverse(self, frames: np.ndarray, length: int) -> np.ndarray:
        # A model that blew up (NaN, inf) gives silence there rather than a broken file.
        flat = np.asarray(frames, dtype=np.float32)
        return audio.join_frames(np.nan_to_num(flat, nan=0.0, posinf=0.0, neginf=0.0), length)
