"""The ``lame`` decoder: ``lame --decode`` in a subprocess, as the original project did."""

from __future__ import annotations

from kara_core import Decoder, Register, hookimpl


@hookimpl
def kara_register_decoders(register: Register[Decoder]) -> None:
    """Register the lame decoder."""
    from kara_lame.decoder import LameDecoder

    register(LameDecoder)
