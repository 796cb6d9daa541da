"""``persistence`` repeats the last input frame; ``mean`` predicts the training mean frame.

They implement the full Model contract, so they can be named in kara.yaml and are scored
on exactly the windows a learned model is scored on.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from kara_core import FitResult, FitSettings, Model, WindowSource, atomic


@dataclass(frozen=True)
class BaselineOptions:
    """Window sizes, so a baseline is scored on the same windows as the model it is beside."""

    input_frames: int = field(default=40, metadata={"min": 1, "max": 100000})
    output_frames: int = field(default=40, metadata={"min": 1, "max": 100000})


class PersistenceModel(Model):
    """Predicts that nothing changes: the last input frame, repeated."""

    name = "persistence"
    Options = BaselineOptions
    baseline = True
    skill_reference = True  # "skill" is against repeating the last frame

    @property
    def trainable(self) -> bool:
        return False

    def fit(
        self, train: WindowSource, val: WindowSource, settings: FitSettings,
        callbacks: Sequence[Any] = (),
    ) -> FitResult:
        return FitResult(epochs_completed=0)

    def predict(self, inputs: np.ndarray) -> np.ndarray:
        inputs = np.asarray(inputs, dtype=np.float32)
        last = inputs[:, -1:, :]
        return np.repeat(last, self.output_frames, axis=1)

    def generate(
        self, prompt: np.ndarray, n_frames: int, temperature: float = 0.0, seed: int = 0
    ) -> np.ndarray:
        prompt = np.asarray(prompt, dtype=np.float32)
        last = prompt[-1:] if len(prompt) else np.zeros((1, self.frame_dim), np.float32)
        frames = np.repeat(last, n_frames, axis=0)
        if temperature > 0:
            rng = np.random.default_rng(seed)
            frames = frames + temperature * rng.standard_normal(frames.shape).astype(np.float32)
        return frames.astype(np.float32)

    def save(self, directory: Path) -> None:
        atomic.write_json(directory / "baseline.json", {"model": self.name})

    def load(self, directory: Path) -> None:
        return None


class MeanModel(PersistenceModel):
    """Predicts the mean frame of the training songs, whatever the input."""

    name = "mean"
    skill_reference = False  # "skill_vs_mean", not "skill"

    def __init__(self, options: Any = None, frame_dim: int = 1, seed: int = 0) -> None:
        super().__init__(options, frame_dim, seed)
        self.mean = np.zeros(self.frame_dim, dtype=np.float32)

    def fit(
        self, train: WindowSource, val: WindowSource, settings: FitSettings,
        callbacks: Sequence[Any] = (),
    ) -> FitResult:
        self.mean = np.asarray(train.mean_frame(), dtype=np.float32).reshape(self.frame_dim)
        return FitResult(epochs_completed=0)

    def predict(self, inputs: np.ndarray) -> np.ndarray:
        batch = np.asarray(inputs).shape[0]
        return np.broadcast_to(self.mean, (batch, self.output_frames, self.frame_dim)).copy()

    def generate(
        self, prompt: np.ndarray, n_frames: int, temperature: float = 0.0, seed: int = 0
    ) -> np.ndarray:
        frames = np.broadcast_to(self.mean, (n_frames, self.frame_dim)).astype(np.float32)
        if temperature > 0:
            rng = np.random.default_rng(seed)
            frames = frames + temperature * rng.standard_normal(frames.shape).astype(np.float32)
        return frames

    def save(self, directory: Path) -> None:
        atomic.write_json(
            directory / "baseline.json", {"model": self.name, "mean": self.mean.tolist()}
        )

    def load(self, directory: Path) -> None:
        data = json.loads((directory / "baseline.json").read_text())
        self.mean = np.asarray(data["mean"], dtype=np.float32)
