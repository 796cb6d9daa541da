"""Stage 2, featurize: prepared WAVs -> normalised transform frames in a memory-mapped cache.

The stage's front door: other stages and the commands import from here, never from the
modules inside. :func:`featurize` takes the prepared songs, the built transform and
:class:`FeaturizeSettings`, and returns a :class:`FeatureSet`.
"""

from kara_core.pipeline.featurize.blocks import forward_in_blocks
from kara_core.pipeline.featurize.cache import entry_paths
from kara_core.pipeline.featurize.features import FeatureSet, SongFeatures
from kara_core.pipeline.featurize.identity import component_change, explain_change
from kara_core.pipeline.featurize.stage import (
    HASH_MEMO,
    FeaturizeSettings,
    SongLike,
    featurize,
    key_identity,
    transform_key,
)
from kara_core.pipeline.featurize.stats import STD_FLOOR

__all__ = [
    "HASH_MEMO",
    "STD_FLOOR",
    "FeatureSet",
    "FeaturizeSettings",
    "SongFeatures",
    "SongLike",
    "component_change",
    "entry_paths",
    "explain_change",
    "featurize",
    "forward_in_blocks",
    "key_identity",
    "transform_key",
]
