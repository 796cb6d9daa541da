"""The contracts every decoder, transform, model and measure implements.

A component is a class with a ``name`` (the key used by ``type:`` in kara.yaml) and an
``Options`` dataclass whose typed fields are the keys accepted under ``options:``. The
config loader validates user options against that dataclass, so a plugin never parses
YAML itself. Components are built by the core with an ``Options`` instance plus what the
experiment knows (sample rate, frame size), never by plugins.
"""

from __future__ import annotations

from kara_core.components.base import NoOptions
from kara_core.components.decoder import Audio, AudioStream, Decoder, read_all
from kara_core.components.measure import Clip, HeldOutMusic, Measure, SongExcerpt
from kara_core.components.model import (
    FitResult,
    FitSettings,
    Model,
    TrainingMonitor,
    WindowSource,
)
from kara_core.components.transform import RoundTripTolerance, Transform

COMPONENT_KINDS: tuple[str, ...] = ("decoders", "transforms", "models", "measures")
BASE_CLASSES: dict[str, type] = {"decoders": Decoder, "transforms": Transform, "models": Model,
                                 "measures": Measure}

__all__ = [
    "BASE_CLASSES", "COMPONENT_KINDS", "Audio", "AudioStream", "Clip", "Decoder", "FitResult",
    "FitSettings", "HeldOutMusic", "Measure", "Model", "NoOptions", "RoundTripTolerance",
    "SongExcerpt", "TrainingMonitor", "Transform", "WindowSource", "read_all",
]
