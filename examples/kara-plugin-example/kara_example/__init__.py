"""An example Kara plugin: registers the ``mulaw`` transform."""

from __future__ import annotations

from kara_core import Register, Transform, hookimpl


@hookimpl
def kara_register_transforms(register: Register[Transform]) -> None:
    """Register the mu-law transform."""
    from kara_example.mulaw import MuLawTransform

    register(MuLawTransform)
