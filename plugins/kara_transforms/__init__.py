"""Kara's built-in transforms: raw, fft, stft and mel."""

from __future__ import annotations

from kara_core.hookspecs import Register, hookimpl
from kara_core.components import Transform


@hookimpl
def kara_register_transforms(register: Register[Transform]) -> None:
    """Register the built-in transforms."""
    from kara_transforms.raw import RawTransform

    register(RawTransform)
