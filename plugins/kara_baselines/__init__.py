"""Naive baselines that every learned model is scored against: persistence and mean."""

from __future__ import annotations

from kara_core import Model, Register, hookimpl


@hookimpl
def kara_register_models(register: Register[Model]) -> None:
    """Register the baseline models."""
    from kara_baselines.models import MeanModel, PersistenceModel

    register(PersistenceModel)
    register(MeanModel)
