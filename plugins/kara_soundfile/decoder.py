"""Decode with libsndfile through the ``soundfile`` package."""

from __future__ import annotations

from pathlib import Path

from kara_core.components import Audio, Decoder
from kara_core.errors import DecodeError


class SoundfileDecoder(Decoder):
    """libsndfile reads mp3 (since 1.1), WAV, FLAC and Ogg in-process."""

    name = "soundfile"

    def version(self) -> str:
        import soundfile as sf

        return f"libsndfile {sf.__libsndfile_version__} soundfile {sf.__version__}"

    def decode(self, path: Path) -> Audio:
        import numpy as np
        import soundfile as sf

        try:
            samples, rate = sf.read(path, dtype="float32", always_2d=True)
        except (sf.LibsndfileError, RuntimeError) as exc:
            raise DecodeError(f"libsndfile cannot read it: {exc}") from exc
        if samples.shape[0] == 0:
            raise DecodeError("no audio frames")
        return Audio(samples=np.ascontiguousarray(samples), rate=int(rate))
