"""Audio helpers plugins may use: mp3 frame scanning, block reading, wav I/O, mel filters.

Public API (like :mod:`kara_core` itself): decoders and transforms of any plugin may import
from here; everything else under ``kara_core`` is internal and may move.
"""

from kara_core.audio.mel import hz_to_mel, mel_filterbank, mel_to_hz
from kara_core.audio.wav import MonoReader, read_mono, resample, to_mono, write_wav

__all__ = [
    "MonoReader", "hz_to_mel", "mel_filterbank", "mel_to_hz", "read_mono", "resample", "to_mono",
    "write_wav",
]
