"""The ``soundfile`` decoder: libsndfile (mp3 since 1.1), no external program."""

from __future__ import annotations

from kara_core import Decoder, Register, hookimpl


@hookimpl
def kara_register_decoders(register: Register[Decoder]) -> None:
    """Register the soundfile decoder."""
    from kara_soundfile.decoder import SoundfileDecoder

    register(SoundfileDecoder)
