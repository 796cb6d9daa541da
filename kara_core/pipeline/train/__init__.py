"""Stage 3, train: windows or crops from the cache -> a model, checkpointed and scored.

The stage's front door: other stages and the commands import from here, never from the
modules inside. :func:`train` takes the :class:`~kara_core.pipeline.featurize.FeatureSet`,
the built model, its baselines, the judge (:func:`make_judge`, :class:`JudgeSettings`;
:func:`temperature_for` resolves ``generate.temperature: auto`` with it) and
:class:`TrainSettings`; :func:`load_trained`
loads the kept model of a run folder into a freshly built one.
"""

from kara_core.pipeline.train.checkpoints import CheckpointStore, read_model_record
from kara_core.pipeline.train.judge import (
    JudgeSettings,
    judged_clips,
    make_judge,
    temperature_for,
)
from kara_core.pipeline.train.runner import MODEL_DIR
from kara_core.pipeline.train.settings import TrainSettings
from kara_core.pipeline.train.stage import (
    heldout_text,
    load_trained,
    summary_line,
    train,
)
from kara_core.pipeline.train.windows import WindowSet, default_stride

__all__ = [
    "MODEL_DIR",
    "CheckpointStore",
    "JudgeSettings",
    "TrainSettings",
    "WindowSet",
    "default_stride",
    "heldout_text",
    "judged_clips",
    "load_trained",
    "make_judge",
    "read_model_record",
    "summary_line",
    "temperature_for",
    "train",
]
