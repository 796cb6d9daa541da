"""Kara's built-in transforms: raw, fft, stft and mel."""

from __future__ import annotations

from kara_core import Register, Transform, hookimpl


@hookimpl
def kara_register_transforms(register: Register[Transform]) -> None:
    """Register the built-in transforms."""
    from kara_transforms.fft import FftTransform
    from kara_transforms.mel import MelTransform
    from kara_transforms.raw import RawTransform
    from kara_transforms.stft import StftTransform

    register(RawTransform)
    register(FftTransform)
    register(StftTransform)
    register(MelTransform)
