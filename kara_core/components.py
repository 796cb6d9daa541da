"""The contracts every decoder, transform and model implements.

A component is a class with a ``name`` (the key used by ``type:`` in kara.yaml) and an
``Options`` dataclass whose typed fields are the keys accepted under ``options:``. The
config loader validates user options against that dataclass, so a plugin never parses
YAML itself. Components are built by the core with an ``Options`` instance plus what the
experiment knows (sample rate, frame size), never by plugins.
"""

from __future__ import annotations

import contextlib
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

    A window is ``input_frames`` frames followed by the ``output_frames`` frames to predict,
    cut from one song (never across songs), in normalised feature space. The concrete class
    is :class:`kara_core.windows.WindowSet`; models only rely on this shape.
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
        """Numpy batches ``(inputs [B, Tin, D], targets [B, Tout, D])``; the last may be short."""
        ...

    def mean_frame(self) -> np.ndarray:
        """The mean frame ``[D]`` over every frame of the songs the windows come from."""
        ...

    def dataset(
        self, batch_size: int, *, shuffle: bool = False, seed: int = 0, repeat: bool = False,
        shard: tuple[int, int] = (1, 0), skip_batches: int = 0,
    ) -> Any:
        """A ``tf.data.Dataset`` of ``(inputs, targets)`` float32 batches, read lazily from
        the memory-mapped cache and prefetched.

        :param repeat: an endless stream of full batches; pass ``p`` is shuffled with
            ``(seed, p)``, so the order depends only on the seed, never on a resume.
        :param shard: ``(count, index)``: keep every ``count``-th window from ``index``
            (one shard per worker in multi-worker training).
        :param skip_batches: batches to skip first (a resumed run continues the stream).
        """
        ...


@dataclass(frozen=True)
class FitSettings:
    """How long and how to train, from ``train:`` in kara.yaml plus the command line.

    :ivar epochs: the epoch count training ends with (resumed runs included).
    :ivar initial_epoch: epochs already done (restored from ``resume_from``).
    :ivar steps_per_epoch: batches per epoch; ``None`` means one pass over the windows.
    :ivar strategy: a ``tf.distribute.Strategy`` to build and train under, or ``None``.
    :ivar resume_from: a folder written by :meth:`Model.save_state` to restore first.
    :ivar run_dir: the variant's run folder (models may write logs there).
    """

    epochs: int = 20
    batch_size: int = 64
    learning_rate: float = 1e-3
    seed: int = 0
    patience: int = 5
    initial_epoch: int = 0
    run_dir: Path | None = None
    distribute: str = "auto"
    steps_per_epoch: int | None = None
    strategy: Any = None
    resume_from: Path | None = None


@dataclass
class FitResult:
    """What training produced: per-epoch history and how far it got."""

    history: dict[str, list[float]] = field(default_factory=dict)
    epochs_completed: int = 0
    stopped_early: bool = False


class TrainingMonitor:
    """Framework-neutral hooks a model's ``fit`` calls; the core implements them.

    Kara's monitor draws progress, scores the model on the validation windows (closed loop,
    through :meth:`Model.predict`), writes checkpoints and TensorBoard logs, and decides on
    early stopping. A model adapts these calls to its framework (a Keras callback, a
    training loop) and stops after the current batch once ``stop_requested`` is true.
    Epochs are numbered from 0; ``on_epoch_end(e, ...)`` means ``e + 1`` epochs are done.
    """

    stop_requested: bool = False

    def on_train_begin(self, model: Model, steps_per_epoch: int) -> None:
        """Training starts (after any state was restored)."""

    def on_epoch_begin(self, epoch: int) -> None:
        """Epoch ``epoch`` starts."""

    def on_batch_end(self, step: int, loss: float) -> None:
        """Batch ``step`` of the current epoch ended with running mean training ``loss``."""

    def on_epoch_end(self, epoch: int, logs: dict[str, float]) -> None:
        """Epoch ``epoch`` ended; ``logs`` holds ``loss`` and may be extended in place."""

    def on_train_end(self) -> None:
        """Training ended, normally or not."""


class Model(ABC):
    """Predicts the next ``output_frames`` frames from ``input_frames`` frames.

    Frames are in normalised feature space (zero mean, unit variance per feature on the
    training songs). Baselines implement the same contract, so they are named in kara.yaml
    and scored exactly as learned models are. Heavy frameworks are imported inside methods.
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
        callbacks: Sequence[TrainingMonitor] = (),
    ) -> FitResult:
        """Learn from ``train`` from epoch ``settings.initial_epoch`` to ``settings.epochs``,
        calling every monitor in ``callbacks``; restore ``settings.resume_from`` first."""

    @abstractmethod
    def predict(self, inputs: np.ndarray) -> np.ndarray:
        """``[B, input_frames, D]`` -> ``[B, output_frames, D]``, closed loop: the model is
        fed its own predictions, never the targets. This is what Kara scores."""

    @abstractmethod
    def generate(
        self, prompt: np.ndarray, n_frames: int, temperature: float = 0.0, seed: int = 0
    ) -> np.ndarray:
        """Continue ``prompt`` (``[T, D]``) autoregressively by ``n_frames`` frames.

        ``temperature`` is the standard deviation of Gaussian noise (normalised units) added
        to each frame before it is fed back; ``seed`` makes that noise repeatable.
        """

    @abstractmethod
    def save(self, directory: Path) -> None:
        """Write everything needed by :meth:`load` into ``directory`` (atomically)."""

    @abstractmethod
    def load(self, directory: Path) -> None:
        """Restore state written by :meth:`save`."""

    def save_state(self, directory: Path) -> None:
        """Write the full training state (weights and optimiser) for resuming."""
        self.save(directory)

    def load_state(self, directory: Path) -> None:
        """Restore what :meth:`save_state` wrote."""
        self.load(directory)

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
