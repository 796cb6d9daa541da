"""The builders of each stage's parts from one :class:`~kara_core.config.VariantConfig`:
prepare's settings and decoders, featurize's settings, train's settings, baselines and
judge, the inputs of ``kara audit`` and ``kara check``'s estimate, and the
:class:`DatasetCache` the variants of one command share (see :mod:`kara_core.pipeline.parts`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from kara_core.storage.locks import hold_in_use

if TYPE_CHECKING:
    from kara_core.components import HeldOutMusic, Model, Transform
    from kara_core.config import VariantConfig
    from kara_core.pipeline.audit import AuditSubject
    from kara_core.pipeline.cost import CostInputs
    from kara_core.pipeline.featurize import FeatureSet, FeaturizeSettings, SongLike
    from kara_core.pipeline.prepare import NamedDecoder, PrepareReport, PrepareSettings
    from kara_core.pipeline.train import JudgeSettings, TrainSettings


# --------------------------------------------------------------------------- prepare


def prepare_settings(variant: VariantConfig) -> PrepareSettings:
    """``dataset:``'s folders, rate and channels, and the experiment folder that owns them."""
    from kara_core.pipeline.prepare import PrepareSettings

    ds = variant.dataset
    return PrepareSettings(ds.mp3_dir, ds.wav_dir, ds.sample_rate, ds.channels,
                           variant.damage_decoders,
                           experiment_dir=variant.runs_dir / variant.experiment)


def decoders_of(variant: VariantConfig) -> list[NamedDecoder]:
    """The decoder chain, built: the primary, then the fallback when one is configured."""
    from kara_core.pipeline.prepare import NamedDecoder

    chain = [variant.decoder] + ([variant.decoder_fallback] if variant.decoder_fallback else [])
    return [NamedDecoder(component.type, decoder)
            for component, decoder in zip(chain, variant.build_decoders(), strict=True)]


def distinct_datasets(variants: Sequence[VariantConfig]) -> list[VariantConfig]:
    """One variant per distinct (dataset, decoder), in order; :class:`ConfigError` when
    two of them would write different WAVs into the same ``wav_dir``."""
    from kara_core.pipeline.prepare import distinct_datasets as distinct

    chosen = distinct([(v.name, prepare_settings(v), decoders_of(v)) for v in variants])
    return [variants[i] for i in chosen]


def run_prepare(
    variant: VariantConfig, *, workers: int | None = None, show_progress: bool = True
) -> PrepareReport:
    """Prepare ``variant``'s dataset; never raises because files are bad."""
    from kara_core.pipeline import prepare

    return prepare.run_prepare(prepare_settings(variant), decoders_of(variant), workers=workers,
                               show_progress=show_progress)


def prepare_dataset(
    variant: VariantConfig, *, workers: int | None = None, show_progress: bool = True
) -> PrepareReport:
    """Prepare ``variant``'s dataset; :class:`KaraError` when no song is usable."""
    from kara_core.pipeline.prepare import prepare

    return prepare(prepare_settings(variant), decoders_of(variant), workers=workers,
                   show_progress=show_progress)


def prepare_identity(variant: VariantConfig) -> tuple[Any, ...]:
    """What decides ``variant``'s WAVs (datasets with equal identities are prepared once)."""
    from kara_core.pipeline.prepare import prepare_identity as identity

    return identity(prepare_settings(variant), decoders_of(variant))


# --------------------------------------------------------------------------- featurize


def window_frames(model: Model) -> int:
    """One window of ``model``: :attr:`Model.input_frames` plus :attr:`Model.output_frames`."""
    return int(model.input_frames) + int(model.output_frames)


def featurize_settings(
    variant: VariantConfig, model: Model | None = None, *, window: int | None = None
) -> FeaturizeSettings:
    """The featurize stage's settings. The window (how much of a lone song stays on each
    side of its split) is ``window`` when given, else from ``model``'s contract, else from
    a model built from the variant (reading its sizes builds no graph)."""
    from kara_core.pipeline.featurize import FeaturizeSettings

    if window is None:
        window = window_frames(model if model is not None else variant.build_model())
    ds = variant.dataset
    return FeaturizeSettings(
        transform=variant.transform, cache_dir=ds.cache_dir, sample_rate=ds.sample_rate,
        cache_dtype=ds.cache_dtype, val_fraction=ds.val_fraction, seed=variant.train.seed,
        window_frames=window,
        music_dir=ds.mp3_dir,
    )


def transform_key(variant: VariantConfig) -> str:
    """The name of ``variant``'s feature cache folder under ``dataset.cache_dir``."""
    from kara_core.pipeline.featurize import transform_key as key

    return key(featurize_settings(variant, window=0))  # the key does not hash the window


def featurize(
    variant: VariantConfig, songs: Sequence[SongLike], *, reload: bool = False,
    show_progress: bool = True, transform: Transform | None = None,
    model: Model | None = None,
) -> FeatureSet:
    """``variant``'s :class:`FeatureSet` of ``songs``, with its transform (built here when
    not given) and the window of its model."""
    from kara_core.pipeline.featurize import featurize as stage

    built = transform if transform is not None else variant.build_transform()
    return stage(songs, built, featurize_settings(variant, model), reload=reload,
                 show_progress=show_progress)


# --------------------------------------------------------------------------- train


def train_settings(variant: VariantConfig) -> TrainSettings:
    """The train stage's settings: the run folder, ``train:`` and the model's record."""
    from kara_core.pipeline.train import TrainSettings

    return TrainSettings(
        name=variant.name, run_dir=variant.run_dir, sample_rate=variant.dataset.sample_rate,
        train=variant.train, model_type=variant.model.type,
        model_options=variant.model.options, model_identity=variant.model.identity(),
    )


def build_baselines(variant: VariantConfig, model: Model) -> dict[str, Model]:
    """``variant``'s baselines (``train.baselines``, by default every installed one),
    built for ``model``'s windows and frames; the train stage fits them."""
    found: dict[str, Model] = {}
    for component in variant.baselines:
        cls: Any = component.cls
        baseline: Model = cls(
            cls.Options(input_frames=model.input_frames, output_frames=model.output_frames),
            frame_dim=model.frame_dim,
        )
        found[component.type] = baseline
    return found


def train_variant(
    variant: VariantConfig, features: FeatureSet, *, rebuild: bool = False,
    epochs: int | None = None, show_progress: bool = True, model: Model | None = None,
    music: HeldOutMusic | None = None,
) -> dict[str, Any]:
    """Train ``variant``'s model (built here when not given) on ``features`` with its
    baselines and judge (on ``music``, the held-out music, when given); the metrics of
    ``--json``."""
    from kara_core.pipeline.train import train

    model = model if model is not None else variant.build_model(features.frame_dim)
    return train(
        features, model, train_settings(variant), baselines=build_baselines(variant, model),
        judge=build_judge(variant, features, music), rebuild=rebuild, epochs=epochs,
        show_progress=show_progress,
    )


def load_trained_model(variant: VariantConfig, features: FeatureSet) -> Model:
    """``variant``'s trained model (best epoch) from its run folder, checked against
    ``features``; :class:`KaraError` saying how to retrain when it does not fit."""
    from kara_core.pipeline.train import load_trained

    return load_trained(variant.build_model(features.frame_dim), features,
                        train_settings(variant))


class DatasetCache:
    """Prepared songs and feature sets shared between the variants of one command: each
    dataset is prepared once, and ``--reload`` rebuilds each transform's cache once, however
    many variants share it. The wav folder and each cache folder used are held in use
    (:func:`~kara_core.storage.locks.hold_in_use`) until the command ends, so neither a
    concurrent ``kara prepare`` nor ``kara clean`` removes what it reads."""

    def __init__(self) -> None:
        self.prepared: dict[str, Any] = {}
        self.reloaded: set[str] = set()

    def songs(
        self, variant: VariantConfig, show_progress: bool,
        decoders: Sequence[NamedDecoder] | None = None,
    ) -> list[Any]:
        """Prepared songs (decoded wavs) of ``variant``'s dataset; decoded once per dataset
        (with ``decoders`` when they are built already)."""
        from kara_core.pipeline.prepare import prepare, prepare_identity

        settings = prepare_settings(variant)
        chain = list(decoders) if decoders is not None else decoders_of(variant)
        key = repr(prepare_identity(settings, chain))
        if key not in self.prepared:
            self.prepared[key] = prepare(settings, chain, show_progress=show_progress)
            hold_in_use(settings.wav_dir)  # no prepare removes what this command reads
        return list(self.prepared[key].songs)

    def features(
        self, variant: VariantConfig, reload: bool, show_progress: bool, *,
        transform: Transform | None = None, model: Model | None = None,
        decoders: Sequence[NamedDecoder] | None = None,
    ) -> FeatureSet:
        """The variant's :class:`FeatureSet` (cached on disk by the featurize stage), made
        with the parts given (built from the variant when not)."""
        songs = self.songs(variant, show_progress, decoders)
        folder = variant.dataset.cache_dir / transform_key(variant)
        cache_key = str(folder)
        reload = reload and cache_key not in self.reloaded
        self.reloaded.add(cache_key)
        hold_in_use(folder)  # nor does kara clean remove it
        return featurize(variant, songs, reload=reload, show_progress=show_progress,
                               transform=transform, model=model)


# --------------------------------------------------------------------------- generate, evaluate


def held_out_music(
    variant: VariantConfig, features: FeatureSet, *, seconds: float | None = None
) -> HeldOutMusic:
    """``variant``'s held-out music (prompts and the real music the clips are measured
    against), read once: the judge, generation and the evaluation share it. ``seconds``
    overrides ``generate.seconds`` (the length of the real continuations)."""
    from kara_core.pipeline.evaluate import PromptPlan
    from kara_core.pipeline.evaluate import held_out_music as read

    length = variant.generate.seconds if seconds is None else seconds
    return read(features, features.transform.hop, variant.dataset.sample_rate,
                PromptPlan(variant.generate.prompts, variant.generate.prompt_seconds, length))


def judge_settings(variant: VariantConfig) -> JudgeSettings:
    """How the training judge (and the temperature calibration) generates: ``train.judge_*``
    and ``generate:``."""
    from kara_core.pipeline.train import JudgeSettings

    return JudgeSettings.of(variant.train, variant.generate, variant.dataset.sample_rate)


def build_judge(
    variant: VariantConfig, features: FeatureSet,
    music: HeldOutMusic | Callable[[], HeldOutMusic] | None = None,
) -> Any:
    """``variant``'s training judge on ``music`` (read on the judge's first call when not
    given) with the registered measures; ``None`` when ``train.judge_seconds`` is 0."""
    from kara_core.pipeline.train import make_judge
    from kara_core.plugins import registered_measures

    shared = music if music is not None else (lambda: held_out_music(variant, features))
    return make_judge(judge_settings(variant), shared, features.transform, features,
                      registered_measures())


def model_options(variant: VariantConfig) -> dict[str, Any]:
    """The model's options as plain data: the table names those that tell rows apart."""
    from kara_core.options import to_plain

    options = to_plain(variant.model.options)
    return options if isinstance(options, dict) else {}


# --------------------------------------------------------------------------- audit, cost


def audit_subjects(variants: Sequence[VariantConfig]) -> list[AuditSubject]:
    """Each variant as ``kara audit`` takes it; a transform that cannot be built becomes
    its row's error."""
    from kara_core.errors import KaraError
    from kara_core.pipeline.audit import AuditSubject

    subjects = []
    for variant in variants:
        transform: Transform | None = None
        error = None
        try:
            transform = variant.build_transform()
        except KaraError as exc:
            error = str(exc)
        subjects.append(AuditSubject(
            name=variant.name, prepare=prepare_settings(variant), decoders=decoders_of(variant),
            transform_type=variant.transform.type, transform_options=variant.transform.options,
            transform=transform, error=error, run_dir=variant.run_dir,
        ))
    return subjects


def cost_inputs(variants: Sequence[VariantConfig]) -> list[CostInputs]:
    """Each variant as ``kara check``'s estimate takes it."""
    from kara_core.pipeline.cost import CostInputs

    return [
        CostInputs(
            name=variant.name, prepare=prepare_settings(variant), decoders=decoders_of(variant),
            # the estimate splits a lone song without the window (and builds the model only
            # where a model that cannot be built is a note, not a failure)
            featurize=featurize_settings(variant, window=0),
            transform=variant.build_transform(),
            build_model=variant.build_model, model_type=variant.model.type,
            train=variant.train, runs_dir=variant.runs_dir, generate=variant.generate,
        )
        for variant in variants
    ]


def run_estimates(variants: Sequence[VariantConfig]) -> dict[str, float | None]:
    """``kara check``'s estimate of each variant's seconds (prepare, featurize, train);
    empty when it cannot be made (the run goes on without an overall ETA)."""
    from kara_core.pipeline.cost import estimate

    try:
        rows = estimate(cost_inputs(variants))["variants"]
    except Exception:  # an estimate must never stop the run
        return {}
    found: dict[str, float | None] = {}
    for name, row in rows.items():
        parts = [(row.get(k) or {}).get("seconds") for k in ("prepare", "featurize", "train")]
        numbers = [float(p) for p in parts if isinstance(p, int | float)]
        found[name] = None if "error" in row or len(numbers) < 3 else sum(numbers)
    return found


def components_of(variant: VariantConfig) -> list[Any]:
    """Every component a variant builds (transform, model, decoders, baselines): where an
    exception raised in plugin code may come from."""
    found = [variant.transform, variant.model, variant.decoder, variant.decoder_fallback,
             *variant.baselines]
    return [c for c in found if c is not None]
