"""The contracts every decoder, transform and model implements.

A component is a class with a ``name`` (the key used by ``type:`` in kara.yaml) and an
``Options`` dataclass whose typed fields are the keys accepted under ``options:``. The
config loader validates user options against that dataclass, so a plugin never parses
YAML itself. Components are built by the core with an ``Options`` instance plus what the
experiment knows (sample rate, frame size), never by plugins.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Protocol

import numpy as np


@dataclass(frozen=True)
class NoOptions:
    """Options of a component that takes none: any key under ``options:`` is an error."""


# --------------------------------------------------------------------------- decoders


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


class Decoder(ABC):
    """Turns one compressed file into :class:`Audio`.

    ``decode`` raises :class:`kara_core.errors.DecodeError` with a one-line reason for a file
    it cannot read; the batch goes on with the other files.
    """

    name: ClassVar[str]
    Options: ClassVar[type[Any]] = NoOptions

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


# --------------------------------------------------------------------------- transforms


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


# --------------------------------------------------------------------------- models


class WindowSource(Protocol):
    """Training or validation windows, as the core streams them to a model.

    The concrete class lives in :mod:`kara_core.windows`; models only rely on this shape.
    """

    input_frames: int
    output_frames: int
    frame_dim: int

    def __len__(self) -> int:
        """Number of windows."""
        ...

    def batches(
        self, batch_size: int, shuffle: bool = False, seed: int = 0
    ) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """Numpy batches ``(inputs [B, Tin, D], targets [B, Tout, D])``."""
        ...


@dataclass(frozen=True)
class FitSettings:
    """How long and how to train, from ``train:`` in kara.yaml plus the command line."""

    epochs: int = 20
    batch_size: int = 64
    learning_rate: float = 1e-3
    seed: int = 0
    patience: int = 5
    initial_epoch: int = 0
    run_dir: Path | None = None
    distribute: str = "auto"


@dataclass
class FitResult:
    """What training produced: per-epoch history and how far it got."""

    history: dict[str, list[float]] = field(default_factory=dict)
    epochs_completed: int = 0
    stopped_early: bool = False


class Model(ABC):
    """Predicts the next ``output_frames`` frames from ``input_frames`` frames.

    Frames are in normalised feature space (zero mean, unit variance per feature on the
    training songs). Baselines implement the same contract, so they are named in kara.yaml
    and scored exactly as learned models are.
    """

    name: ClassVar[str]
    Options: ClassVar[type[Any]] = NoOptions

    def __init__(self, options: Any = None, frame_dim: int = 1, seed: int = 0) -> None:
        self.options = options if options is not None else self.Options()
        self.frame_dim = int(frame_dim)
        self.seed = int(seed)

    @property
    def input_frames(self) -> int:
        """Frames of context the model reads."""
        return int(getattr(self.options, "input_frames", 40))

    @property
    def output_frames(self) -> int:
        """Frames the model predicts per window."""
        return int(getattr(self.options, "output_frames", 40))

    @property
    def trainable(self) -> bool:
        """False for models whose ``fit`` only gathers statistics (baselines)."""
        return True

    @abstractmethod
    def fit(
        self,
        train: WindowSource,
        val: WindowSource,
        settings: FitSettings,
        callbacks: Sequence[Any] = (),
    ) -> FitResult:
        """Learn from ``train``; report on ``val`` each epoch."""

    @abstractmethod
    def predict(self, inputs: np.ndarray) -> np.ndarray:
        """``[B, input_frames, D]`` -> ``[B, output_frames, D]`` without seeing the targets."""

    @abstractmethod
    def generate(
        self, prompt: np.ndarray, n_frames: int, temperature: float = 0.0, seed: int = 0
    ) -> np.ndarray:
        """Continue ``prompt`` (``[T, D]``) autoregressively by ``n_frames`` frames."""

    @abstractmethod
    def save(self, directory: Path) -> None:
        """Write everything needed by :meth:`load` into ``directory`` (atomically)."""

    @abstractmethod
    def load(self, directory: Path) -> None:
        """Restore state written by :meth:`save`."""

    def signature(self) -> dict[str, Any]:
        """The architecture's identity: saved weights load only when it is unchanged."""
        options = self.options
        fields = getattr(options, "__dataclass_fields__", {})
        return {
            "model": self.name,
            "frame_dim": self.frame_dim,
            **{key: getattr(options, key) for key in fields},
        }


COMPONENT_KINDS: tuple[str, ...] = ("decoders", "transforms", "models")
BASE_CLASSES: dict[str, type] = {"decoders": Decoder, "transforms": Transform, "models": Model}
