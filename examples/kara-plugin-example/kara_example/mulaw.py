"""``mulaw``: mu-law companded waveform frames, with the exact inverse expansion."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from kara_core import RoundTripTolerance, Transform


@dataclass(frozen=True)
class MuLawOptions:
    """Options of the ``mulaw`` transform."""

    frame_size: int = field(default=512, metadata={"min": 1, "max": 65536})
    mu: float = field(default=255.0, metadata={"min": 1.0, "max": 65535.0})


class MuLawTransform(Transform):
    """Frames of ``sign(x) * log1p(mu |x|) / log1p(mu)``: loud and quiet parts get similar
    feature ranges. Continuous (not quantised), so the inverse is exact up to float32."""

    name = "mulaw"
    Options = MuLawOptions
    options: MuLawOptions

    @property
    def frame_dim(self) -> int:
        return self.options.frame_size

    @property
    def hop(self) -> int:
        return self.options.frame_size

    @property
    def tolerance(self) -> RoundTripTolerance:
        return RoundTripTolerance(min_snr_db=60.0)

    def describe(self) -> str:
        return f"mulaw {self.options.frame_size} mu={self.options.mu:g}"

    def forward(self, wave: np.ndarray) -> np.ndarray:
        wave = np.clip(np.asarray(wave, dtype=np.float32).reshape(-1), -1.0, 1.0)
        mu = np.float32(self.options.mu)
        companded = np.sign(wave) * np.log1p(mu * np.abs(wave)) / np.log1p(mu)
        size = self.options.frame_size
        n_frames = max(1, -(-wave.shape[0] // size))
        padded = np.zeros(n_frames * size, dtype=np.float32)
        padded[: wave.shape[0]] = companded
        return padded.reshape(n_frames, size)

    def inverse(self, frames: np.ndarray, length: int) -> np.ndarray:
        flat = np.asarray(frames, dtype=np.float32).reshape(-1)[: int(length)]
        mu = np.float32(self.options.mu)
        expanded = np.sign(flat) * np.expm1(np.abs(flat) * np.log1p(mu)) / mu
        out = np.zeros(int(length), dtype=np.float32)
        out[: expanded.shape[0]] = np.clip(expanded, -1.0, 1.0)
        return out
