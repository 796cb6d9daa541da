"""The contract checked where Kara calls a plugin: a broken promise is one line naming the
component, its plugin and the promise, never a traceback from deep inside the pipeline.

:class:`CheckedTransform` wraps every transform Kara builds (``VariantConfig.build_transform``
is the one place). The checks are cheap (dtype, shape, length) next to the transform's own
work, so they run on every call: a plugin that misbehaves only on some songs is caught on
those songs.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from kara_core.components.transform import RoundTripTolerance, Transform
from kara_core.errors import KaraError


class ContractError(KaraError):
    """A component broke a promise of its contract; the message names it and its plugin."""


class CheckedTransform(Transform):
    """``inner`` with its contract checked at every call: ``forward`` returns float32
    ``[T, frame_dim]``, ``inverse`` exactly ``length`` float32 samples."""

    def __init__(self, inner: Transform, plugin: str) -> None:
        self.inner = inner
        self.plugin = plugin
        self.name = inner.name  # type: ignore[misc]
        self.Options = inner.Options  # type: ignore[misc]
        self.options = inner.options
        self.sample_rate = inner.sample_rate

    def _broken(self, promise: str) -> ContractError:
        return ContractError(
            f"transform {self.name!r} (plugin {self.plugin!r}) broke its contract: {promise}"
        )

    @property
    def frame_dim(self) -> int:
        return int(self.inner.frame_dim)

    @property
    def hop(self) -> int:
        return int(self.inner.hop)

    @property
    def tolerance(self) -> RoundTripTolerance:
        return self.inner.tolerance

    @property
    def lossless(self) -> bool:
        return self.inner.lossless

    @property
    def context(self) -> int | None:
        context = self.inner.context
        if context is None:
            return None
        if isinstance(context, bool) or not isinstance(context, int | np.integer) or context < 0:
            raise self._broken(f"context is {context!r}, not None or a whole number of "
                               "samples >= 0")
        return int(context)

    def describe(self) -> str:
        return str(self.inner.describe())

    def forward(self, wave: np.ndarray) -> np.ndarray:
        frames = self.inner.forward(wave)
        if not isinstance(frames, np.ndarray):
            raise self._broken(f"forward returned {type(frames).__name__}, not a numpy array")
        if frames.dtype != np.float32:
            raise self._broken(f"forward returned {frames.dtype} frames, not float32")
        if frames.ndim != 2 or frames.shape[1] != self.frame_dim:
            raise self._broken(f"forward returned frames of shape {frames.shape}, not "
                               f"[T, {self.frame_dim}] (frame_dim)")
        return frames

    def inverse(self, frames: np.ndarray, length: int) -> np.ndarray:
        wave = self.inner.inverse(frames, length)
        if not isinstance(wave, np.ndarray):
            raise self._broken(f"inverse returned {type(wave).__name__}, not a numpy array")
        if wave.dtype != np.float32:
            raise self._broken(f"inverse returned {wave.dtype} samples, not float32")
        if wave.shape != (int(length),):
            raise self._broken(f"inverse returned {wave.shape[0] if wave.ndim == 1 else wave.shape}"
                               f" samples for a length of {int(length)}")
        return wave

    def __getattr__(self, name: str) -> Any:  # anything else a caller may read of the inner
        if name == "inner":  # not set yet (unpickling): never recurse
            raise AttributeError(name)
        return getattr(self.inner, name)
