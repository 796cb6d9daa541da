"""kara.yaml -> frozen dataclasses, one :class:`VariantConfig` per variant.

The base experiment is the variant named ``base``; each entry of ``variants:`` deep-merges
over it. Relative paths resolve against the YAML file's folder. Every error is one line
naming the file and the YAML path, e.g.
``kara.yaml: variants.mel.transform.options.n_mels: expected int, got 'many'``.

The dataclasses live in :mod:`kara_core.config.schema`, reading and resolving in
:mod:`kara_core.config.load`; every name is importable from here.
"""

from __future__ import annotations

from kara_core.config.load import (
    BASE_VARIANT,
    COMPONENT_KEYS,
    TOP_LEVEL_KEYS,
    VARIANT_NAME,
    check_outputs,
    deep_merge,
    load_config,
)
from kara_core.config.schema import (
    STEPS_PER_EVALUATION,
    ComponentConfig,
    DatasetConfig,
    ExperimentConfig,
    GenerateConfig,
    TrainConfig,
    VariantConfig,
)

__all__ = [
    "BASE_VARIANT",
    "COMPONENT_KEYS",
    "STEPS_PER_EVALUATION",
    "TOP_LEVEL_KEYS",
    "VARIANT_NAME",
    "ComponentConfig",
    "DatasetConfig",
    "ExperimentConfig",
    "GenerateConfig",
    "TrainConfig",
    "VariantConfig",
    "check_outputs",
    "deep_merge",
    "load_config",
]
