"""The transform contract: a mono waveform -> frames a model learns from, and back."""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from kara_core.components.base import NoOptions


@dataclass(frozen=True)
class RoundTripTolerance:
    """What a transform promises about ``inverse(forward(x))`` on music-like signals.

    A lossless transform declares ``min_snr_db``; a lossy one (phase dropped, mel
    compression) declares ``max_spectral_convergence`` instead, since waveform SNR is
    meaningless once phase is re-estimated.
    """

    min_snr_db: float | None = None
    max_spectral_convergence: float | None = None


class Transform(ABC):
    """Turns a mono waveform into frames a model learns from, and back.

    Implementations are deterministic and float32 in and out, and
    ``inverse(forward(x), len(x))`` returns exactly ``len(x)`` samples.
    """

    name: ClassVar[str]
    Options: ClassVar[type[Any]] = NoOptions
    default: ClassVar[bool] = False
    """Offered as the transform of a kara.yaml that names none; a plugin sets it on at most
    one transform, and two installed defaults make the user choose (``transform.type``)."""
    cache_version: ClassVar[int | str | None] = None
    """Part of the feature-cache key, beside the plugin's distribution and version: bump it
    when ``forward`` gives other frames without a new release of the plugin (an editable
    install), and Kara featurizes again (and retrains the models trained on the old
    frames) instead of reusing what the old code made."""

    def __init__(self, options: Any = None, sample_rate: int = 22050) -> None:
        self.options = options if options is not None else self.Options()
        self.sample_rate = int(sample_rate)

    @property
    @abstractmethod
    def frame_dim(self) -> int:
        """Number of features per frame (``D``)."""

    @property
    @abstractmethod
    def hop(self) -> int:
        """Samples of audio advanced per frame."""

    @property
    def context(self) -> int | None:
        """Samples of audio on each side of a block that ``forward`` needs, so that a long
        song can be featurized block by block in bounded memory; ``None`` (the default):
        ``forward`` needs the whole song at once.

        Declaring ``context = C`` promises two things. Frame ``t`` depends only on the
        samples ``t*hop - C`` to ``(t+1)*hop + C`` (samples outside the song counting as
        the zeros ``forward`` pads with), and frames are aligned to ``hop`` from the song's
        first sample, so ``forward(wave[a*hop:])`` starts with the frame ``a`` of
        ``forward(wave)``. Kara then calls ``forward`` on pieces ``wave[a*hop - C' :
        b*hop + C']`` (``C'`` is ``C`` rounded up to whole hops, the piece clipped to the
        song), drops the first ``C'/hop`` frames (unless the piece starts the song) and
        keeps ``b - a`` of them (all the rest for the piece that ends the song): the frames
        must equal those of the whole song, up to float32 rounding (a matrix product may
        sum in another order), which ``check_transform`` verifies. The built-in raw, fft
        and stft give identical bits; mel differs by at most one unit in the last place.
        A centred STFT of ``n_fft`` samples has ``C = n_fft // 2``; frames cut end to end
        have ``C = 0``."""
        return None

    @property
    def lossless(self) -> bool:
        """Whether the inverse reconstructs the waveform up to float32 rounding."""
        return self.tolerance.min_snr_db is not None

    @property
    @abstractmethod
    def tolerance(self) -> RoundTripTolerance:
        """The round-trip quality this transform promises; checked by the test kit."""

    @abstractmethod
    def forward(self, wave: np.ndarray) -> np.ndarray:
        """Frames of ``wave`` (float32 ``[n]``): float32 ``[T, frame_dim]``."""

    @abstractmethod
    def inverse(self, frames: np.ndarray, length: int) -> np.ndarray:
        """A waveform of exactly ``length`` samples (float32) from ``frames``."""

    def describe(self) -> str:
        """A short human description for tables (type and key options)."""
        return self.name
