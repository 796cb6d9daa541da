"""The resolved configuration: frozen dataclasses, one :class:`VariantConfig` per variant.

What :mod:`kara_core.config.load` builds from kara.yaml; every stage reads these and
nothing else.
"""

from __future__ import annotations

import builtins
import dataclasses
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from kara_core.components import Decoder, Model, Transform
from kara_core.errors import ConfigError
from kara_core.options import to_plain


@dataclass(frozen=True)
class DatasetConfig:
    """Where the songs are and what audio the pipeline works on."""

    mp3_dir: Path = Path("dataset/mp3")
    wav_dir: Path = Path("dataset/wav")
    cache_dir: Path = Path("dataset/cache")
    sample_rate: int = field(default=22050, metadata={"min": 4000, "max": 192000})
    channels: int = field(default=1, metadata={"min": 1, "max": 2})
    val_fraction: float = field(default=0.2, metadata={"min": 0.0, "max": 0.9})
    cache_dtype: Literal["float32", "float16"] = "float32"
    """How cached frames are stored: ``float16`` halves the cache on disk (and the pages
    training reads), rounding each value to 11 significant bits (about -74 dB): log
    features lose nothing audible, a lossless transform's round trip drops to about 80 dB
    SNR. Frames are converted to float32 when read, before normalisation; a value beyond
    float16's range (65504) leaves the song out, saying so. Part of the cache key: both
    caches live side by side, and a variant may set its own to compare them."""


MIN_STEPS = 100
"""``train.steps_per_minute`` never cuts training below this many steps."""
STEPS_PER_EVALUATION = 250
"""With ``train.steps``, the steps between two evaluations (an "epoch": val_loss, the
judge's generation, a checkpoint) unless ``train.steps_per_epoch`` says otherwise."""


@dataclass(frozen=True)
class TrainConfig:
    """How to train; model-specific knobs live under ``model.options``."""

    epochs: int = field(default=20, metadata={"min": 1, "max": 100000})
    batch_size: int = field(default=64, metadata={"min": 1, "max": 65536})
    learning_rate: float = field(default=1e-3, metadata={"min": 0.0, "max": 10.0})
    seed: int = field(default=0, metadata={"min": 0, "max": 2**31 - 1})
    distribute: Literal["auto", "none", "mirrored", "multi_worker"] = "auto"
    patience: int = field(default=5, metadata={"min": 0, "max": 100000})
    stride: int | None = field(default=None, metadata={"min": 1, "max": 1_000_000})
    steps_per_epoch: int | None = field(default=None, metadata={"min": 1, "max": 10_000_000})
    baselines: tuple[str, ...] | None = None
    steps: int | None = field(default=None, metadata={"min": 1, "max": 100_000_000})
    """Total optimiser steps, for models trained on random crops (``lstm_lm``) rather than
    passes over every window. When set it decides the length of training: epochs become
    evaluation intervals of ``steps_per_epoch`` steps (default :data:`STEPS_PER_EVALUATION`)
    and ``epochs`` is ``ceil(steps / steps_per_epoch)``, whatever ``epochs`` says."""
    steps_per_minute: float | None = field(default=None, metadata={"min": 0.01, "max": 1e6})
    """With ``steps``: at most this many steps per minute of training music (at least
    :data:`MIN_STEPS`), so the same kara.yaml trains the demo's minute of songs in a minute
    and a real collection for the whole ``steps`` budget (:meth:`for_music`)."""
    judge_seconds: float = field(default=6.0, metadata={"min": 0.0, "max": 60.0})
    """Seconds generated from a held-out prompt after every epoch and measured on the audio
    (:mod:`kara_core.measures.music`): the checkpoint kept is the one that generates best.
    0 turns this off (the lowest val_loss is kept then)."""
    val_windows: int = field(default=2048, metadata={"min": 0, "max": 100_000_000})
    """How many held-out windows validation scores (a fixed sample drawn with ``seed``), so
    its cost does not grow with the collection; 0 scores every one. On real music a skill
    figure moves by about 0.013 (standard deviation) between samples of this size
    (docs/scale.md, ``benchmarks/bench_val_sample.py``)."""
    judge_prompts: int = field(default=3, metadata={"min": 1, "max": 16})
    """How many held-out prompts the judge continues after every epoch (different songs
    while there are enough), scored together as the evaluation judges a variant
    (:func:`kara_core.measures.music.clips_score`). One clip is a noisy judge: the same
    checkpoint can meet every target on one song and smear on the next."""

    def for_music(self, minutes: float) -> TrainConfig:
        """These settings for ``minutes`` of training music: ``steps`` lowered to
        ``steps_per_minute * minutes`` (at least :data:`MIN_STEPS`) when that is fewer."""
        if self.steps is None or self.steps_per_minute is None:
            return self
        steps = min(self.steps, max(MIN_STEPS, math.ceil(self.steps_per_minute * minutes)))
        if steps == self.steps:
            return self
        interval = self.steps_per_epoch or STEPS_PER_EVALUATION
        per_epoch = math.ceil(steps / math.ceil(steps / interval))  # divides steps evenly
        return dataclasses.replace(self, steps=steps, steps_per_epoch=per_epoch)

    def __post_init__(self) -> None:
        if self.steps is not None:
            # intervals of at most STEPS_PER_EVALUATION that divide the steps evenly, so
            # training runs exactly ``steps`` (300 -> 2 x 150, not 2 x 250)
            per_epoch = self.steps_per_epoch or math.ceil(
                self.steps / math.ceil(self.steps / STEPS_PER_EVALUATION))
            object.__setattr__(self, "steps_per_epoch", per_epoch)
            object.__setattr__(self, "epochs", max(1, math.ceil(self.steps / per_epoch)))


@dataclass(frozen=True)
class GenerateConfig:
    """What to generate after training."""

    seconds: float = field(default=30.0, metadata={"min": 0.1, "max": 3600.0})
    prompt_seconds: float = field(default=2.0, metadata={"min": 0.0, "max": 3600.0})
    prompts: int = field(default=6, metadata={"min": 1, "max": 100})
    """Prompts generated from (different held-out songs where there are enough), each
    measured; the table shows the median and the worst."""
    temperature: float | Literal["auto"] = field(default="auto",
                                                  metadata={"min": 0.0, "max": 10.0})
    """How hot the model samples (0: its most likely frames). ``auto`` (the default): the
    temperature the training judge calibrated for the kept model on held-out prompts,
    among 0.5, 0.7, 0.85 and 1.0 (:mod:`kara_core.pipeline.train.judge`)."""
    seed: int = field(default=0, metadata={"min": 0, "max": 2**31 - 1})
    mp3: bool = False


@dataclass(frozen=True)
class ComponentConfig:
    """A resolved component: its registered type, validated options and owning plugin,
    with the distribution that installed the plugin and its version."""

    kind: str
    type: str
    options: Any
    plugin: str
    cls: builtins.type = field(repr=False, compare=False)
    distribution: str = "(unknown)"
    version: str = "(unknown)"

    def identity(self) -> dict[str, Any]:
        """What made the component, for cache keys and model records: the plugin, its
        distribution and version, and the component's own ``cache_version`` (a class
        attribute a plugin bumps when its output changes without a new release)."""
        cache_version = getattr(self.cls, "cache_version", None)
        return {
            "plugin": self.plugin, "distribution": self.distribution,
            "version": self.version,
            "cache_version": cache_version if isinstance(cache_version, int | str) else None,
        }


@dataclass(frozen=True)
class VariantConfig:
    """One fully resolved experiment: what ``kara run`` trains and evaluates."""

    name: str
    experiment: str
    runs_dir: Path
    dataset: DatasetConfig
    decoder: ComponentConfig
    decoder_fallback: ComponentConfig | None
    transform: ComponentConfig
    model: ComponentConfig
    train: TrainConfig
    generate: GenerateConfig
    raw: Mapping[str, Any] = field(repr=False, compare=False)
    baselines: tuple[ComponentConfig, ...] = ()
    damage_decoders: tuple[str, ...] = ()
    """Installed decoders that decode around damaged frames
    (:attr:`~kara_core.components.Decoder.decodes_damaged`), from the registry: what
    ``kara prepare`` suggests as ``decoder.fallback`` for a damaged file."""

    @property
    def run_dir(self) -> Path:
        """``<runs_dir>/<name>/<variant>``."""
        return self.runs_dir / self.experiment / self.name

    # Each component is built here and nowhere else: options plus what the experiment knows.

    def build_decoders(self) -> list[Decoder]:
        """The decoder chain: the primary, then the fallback when one is configured."""
        chain = [self.decoder] + ([self.decoder_fallback] if self.decoder_fallback else [])
        return [component.cls(component.options) for component in chain]

    def build_transform(self) -> Transform:
        """The transform, for the dataset's sample rate, its contract checked at every call
        (:class:`~kara_core.components.boundary.CheckedTransform`)."""
        from kara_core.components.boundary import CheckedTransform

        transform: Transform = self.transform.cls(
            self.transform.options, sample_rate=self.dataset.sample_rate
        )
        return CheckedTransform(transform, self.transform.plugin)

    def build_model(self, frame_dim: int = 1) -> Model:
        """The model for frames of ``frame_dim`` features (no framework graph built yet)."""
        model: Model = self.model.cls(self.model.options, frame_dim=frame_dim,
                                      seed=self.train.seed)
        return model

    def resolved(self, relative_to: Path | None = None) -> dict[str, Any]:
        """The whole variant as plain data, for ``config.resolved.yaml`` and ``kara check``;
        paths relative to ``relative_to`` (a run folder) when given."""
        import os

        def component(c: ComponentConfig | None) -> Any:
            if c is None:
                return None
            return {"type": c.type, "plugin": c.plugin, "distribution": c.distribution,
                    "version": c.version, "options": to_plain(c.options)}

        def path(value: Path) -> str:
            return str(value) if relative_to is None else os.path.relpath(value, relative_to)

        dataset = to_plain(self.dataset)
        for key in ("mp3_dir", "wav_dir", "cache_dir"):
            dataset[key] = path(getattr(self.dataset, key))
        return {
            "name": self.experiment,
            "variant": self.name,
            "runs_dir": path(self.runs_dir),
            "dataset": dataset,
            "decoder": {**component(self.decoder), "fallback": component(self.decoder_fallback)},
            "transform": component(self.transform),
            "model": component(self.model),
            "train": {**to_plain(self.train), "baselines": [c.type for c in self.baselines]},
            "generate": to_plain(self.generate),
        }


@dataclass(frozen=True)
class ExperimentConfig:
    """A loaded kara.yaml: the base variant first, then the others in file order."""

    path: Path
    name: str
    variants: tuple[VariantConfig, ...]

    @property
    def base(self) -> VariantConfig:
        """The variant named ``base``."""
        return self.variants[0]

    def variant(self, name: str) -> VariantConfig:
        """The variant called ``name``; :class:`ConfigError` lists the valid names."""
        for variant in self.variants:
            if variant.name == name:
                return variant
        names = ", ".join(v.name for v in self.variants)
        raise ConfigError(f"{self.path}: no variant named {name!r}; variants: {names}")

    def select(self, names: list[str] | None) -> list[VariantConfig]:
        """The named variants (all when ``names`` is empty)."""
        if not names:
            return list(self.variants)
        return [self.variant(n) for n in names]
