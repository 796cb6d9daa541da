"""From one :class:`~kara_core.config.VariantConfig` to each stage's narrow inputs.

The experiment driver's helpers (with :mod:`kara_core.pipeline.experiment`): the only
place below the commands where a whole variant is read. Each stage package takes the
parts it uses (built components and its own settings dataclass) through its front door;
these functions build them from a variant (:mod:`~kara_core.pipeline.parts.build`), and
:func:`generate_and_evaluate` (:mod:`~kara_core.pipeline.parts.generation`) drives the
generate and evaluate stages of a trained variant. The commands that run one stage alone
(``kara prepare``, ``kara train``, ``kara generate``, ``kara audit``, ``kara check``) call
them. ``tests/test_architecture.py`` keeps ``VariantConfig`` out of every other pipeline
module.
"""

from kara_core.pipeline.parts.build import (
    DatasetCache,
    audit_subjects,
    build_baselines,
    build_judge,
    components_of,
    cost_inputs,
    decoders_of,
    distinct_datasets,
    featurize,
    featurize_settings,
    held_out_music,
    judge_settings,
    load_trained_model,
    model_options,
    prepare_dataset,
    prepare_identity,
    prepare_settings,
    run_estimates,
    run_prepare,
    train_settings,
    train_variant,
    transform_key,
    window_frames,
)
from kara_core.pipeline.parts.generation import (
    generate_and_evaluate,
    resolve_generate_temperature,
)

__all__ = [
    "DatasetCache", "audit_subjects", "build_baselines", "build_judge", "components_of",
    "cost_inputs",
    "decoders_of", "distinct_datasets", "featurize", "featurize_settings",
    "generate_and_evaluate", "held_out_music", "judge_settings", "load_trained_model",
    "model_options", "prepare_dataset", "prepare_identity", "prepare_settings",
    "resolve_generate_temperature", "run_estimates", "run_prepare", "train_settings",
    "train_variant", "transform_key", "window_frames",
]
