"""An example Kara plugin: registers the ``mulaw`` transform."""

from __future__ import annotations

from kara_core.components import Transform
from kara_core.hookspecs import Register, hookimpl


@hookimpl
def kara_register_transforms(register: Register[Transform]) -> None:
    """Register the mu-law transform."""
    from kara_example.mulaw import MuLawTransform

    register(MuLawTransform)
