"""The model contract: frames in, the next frames out; trained, scored, saved, generating."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Protocol

import numpy as np

from kara_core.components.base import NoOptions


class WindowSource(Protocol):
    """Training or validation windows, as the core streams them to a model.

    A window is ``input_frames`` frames followed by the ``output_frames`` frames to predict,
    cut from one song (never across songs), in normalised feature space. The concrete class
    is :class:`kara_core.pipeline.train.windows.WindowSet`; models only rely on this shape.
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

    def crop_length(self, crop_frames: int) -> int:
        """The crop length :meth:`crops` uses: ``crop_frames``, or the longest song when
        every song is shorter (0 without frames)."""
        ...

    def crop_batch(self, number: int, batch_size: int, crop_frames: int,
                   seed: int = 0) -> np.ndarray:
        """Batch ``number`` of the random-crop stream: normalised ``[B, crop, D]`` frames,
        each a crop of one song (songs weighted by length, start uniform); a function of
        ``(seed, number)`` alone. ``crop`` is ``crop_frames`` or the longest song if shorter.
        """
        ...

    def crop_pair_batch(self, number: int, batch_size: int, crop_frames: int,
                        pair_frames: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
        """``(crops, pairs)``: :meth:`crop_batch`'s crops and, for each, ``min(pair_frames,
        crop)`` frames of the same song at a random other place (not overlapping the crop
        where the song is long enough): for models conditioned on the song as a whole."""
        ...

    def chain_batch(self, number: int, batch_size: int, crop_frames: int, chain_crops: int,
                    seed: int = 0, pair_frames: int = 0) -> dict[str, np.ndarray]:
        """Batch ``number`` of a stream in which every ``chain_crops`` consecutive batches
        continue each other row by row through one song: ``{"crops", "first", "pairs"
        (with pair_frames)}``; for models that carry their state across batches."""
        ...

    def crops(
        self, batch_size: int, crop_frames: int, *, seed: int = 0,
        shard: tuple[int, int] = (1, 0), skip_batches: int = 0, pair_frames: int = 0,
        chain_crops: int = 0,
    ) -> Any:
        """An endless ``tf.data.Dataset`` of :meth:`crop_batch` batches ``n = skip_batches,
        skip_batches + 1, ...`` (with ``shard=(count, index)``: batch numbers
        ``n * count + index``), read lazily from the memory-mapped cache: for models that
        train on random crops for a number of steps (``train.steps``). With
        ``pair_frames``, elements are :meth:`crop_pair_batch`'s ``(crops, pairs)``; with
        ``chain_crops`` > 1, :meth:`chain_batch`'s dicts."""
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
    default: ClassVar[bool] = False
    """Offered as the model of a kara.yaml that names none; a plugin sets it on at most
    one model, and two installed defaults make the user choose (``model.type``)."""
    baseline: ClassVar[bool] = False
    """A naive model every learned model is scored against (``train.baselines``). Its
    ``Options`` take ``input_frames`` and ``output_frames``, so it is built for the same
    windows as the model beside it."""
    skill_reference: ClassVar[bool] = False
    """On a baseline: the one the metrics' ``skill`` (``1 - val_loss / its val_loss``) is
    measured against (``kara_baselines``' persistence); every other baseline ``b`` gets
    ``skill_vs_<b>``. The core names no baseline: this is how it knows."""
    cache_version: ClassVar[int | str | None] = None
    """Part of a trained model's identity, beside the plugin's distribution and version:
    bump it when the same weights would now mean something else (an editable install), and
    Kara retrains instead of reusing a model the old code trained."""

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

    @property
    def stochastic(self) -> bool:
        """True when :meth:`generate` samples from a predicted distribution (at a positive
        temperature two seeds give two different continuations); False for a model whose
        output is one prediction (plus, at most, noise added to it)."""
        return False

    def heldout_score(self, train: WindowSource, val: WindowSource) -> dict[str, Any] | None:
        """Is the model learning? Its held-out loss against a naive baseline *of its own
        kind*, or ``None`` to be scored as a regression (closed-loop MSE of :meth:`predict`
        against the persistence and mean baselines, as Kara does for every model).

        A model whose output is a distribution returns ``{"measure": name, "model": its
        loss on ``val``, "baseline": the baseline's, "gain": baseline - model, ...}``
        (lower losses are better; positive ``gain`` means it learned something), e.g. a
        density's negative log-likelihood in bits per frame against one Gaussian fitted to
        the ``train`` frames, or a softmax's cross-entropy against the classes' unigram
        frequencies (then also ``"skill": 1 - model / baseline``).
        """
        return None

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

        For a regression model ``temperature`` is the standard deviation of Gaussian noise
        (normalised units) added to each frame before it is fed back. A :attr:`stochastic`
        model samples each frame from its predicted distribution, ``temperature`` scaling
        that distribution's spread, and 0 meaning its most likely frame. Either way
        ``seed`` makes the result repeatable.
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
