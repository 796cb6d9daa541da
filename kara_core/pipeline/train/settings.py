"""What the train stage needs besides the features, the model and its baselines."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kara_core.config import TrainConfig


@dataclass(frozen=True)
class TrainSettings:
    """What the train stage needs besides the features, the model and its baselines.

    :ivar name: the variant's name, in messages and lock descriptions.
    :ivar run_dir: the run folder: checkpoints, ``model/``, ``history.json``, metrics.
    :ivar sample_rate: the songs' rate (seconds of music from frame counts).
    :ivar train: ``train:`` of kara.yaml.
    :ivar model_type: the model's registered name (``model.type``), for the record.
    :ivar model_options: the model's options (recorded; ``loss`` named in the metrics).
    :ivar model_identity: the model's plugin, distribution, version and
        ``cache_version`` (:meth:`~kara_core.config.ComponentConfig.identity`): a model
        made by another version of its plugin is never reused.
    """

    name: str
    run_dir: Path
    sample_rate: int
    train: TrainConfig = field(default_factory=TrainConfig)
    model_type: str = "model"
    model_options: Any = None
    model_identity: Mapping[str, Any] = field(default_factory=dict)
