"""Audio helpers plugins may use: mp3 frame scanning, block reading, wav I/O, mel filters,
framing, STFT/ISTFT and phase reconstruction (Griffin-Lim).

Public API (like :mod:`kara_core` itself): decoders and transforms of any plugin may import
from here; everything else under ``kara_core`` is internal and may move. The built-in
transforms (``kara_transforms``) are written with exactly these functions:

* framing: :func:`cut_frames`, :func:`join_frames`, :func:`frame_count`,
  :func:`overlap_add`, :func:`as_frames` (a model's frames checked and made finite);
* spectra: :func:`stft`, :func:`istft`, :func:`istft_blocks`, :func:`hann`,
  :func:`magnitude`, :func:`log_features`, :func:`from_log_features`,
  :func:`max_magnitude` (librosa's conventions: centred frames, periodic Hann window);
* phase from magnitudes: :func:`griffin_lim` (phase-gradient start, fast Griffin-Lim),
  :func:`pghi_phase`;
* reading any container libsndfile knows: :func:`open_blocks` (block by block, with
  errors that say where a damaged file stopped), :func:`quiet_stderr`;
* mel: :func:`mel_filterbank`, :func:`hz_to_mel`, :func:`mel_to_hz`;
* wav: :func:`read_mono`, :class:`MonoReader`, :func:`write_wav`, :class:`Pcm16Writer`
  (streaming), :func:`resample`,
  :func:`to_mono`.
"""

from kara_core.audio.mel import hz_to_mel, mel_filterbank, mel_to_hz
from kara_core.audio.phase import griffin_lim, pghi_phase
from kara_core.audio.sndread import open_blocks, quiet_stderr
from kara_core.audio.spectrum import (
    WORKERS as FFT_WORKERS,
)
from kara_core.audio.spectrum import (
    as_frames,
    cut_frames,
    frame_count,
    from_log_features,
    hann,
    istft,
    istft_blocks,
    join_frames,
    log_features,
    magnitude,
    max_magnitude,
    overlap_add,
    stft,
)
from kara_core.audio.wav import MonoReader, Pcm16Writer, read_mono, resample, to_mono, write_wav

__all__ = [
    "FFT_WORKERS", "MonoReader", "Pcm16Writer", "as_frames", "cut_frames", "frame_count",
    "from_log_features", "griffin_lim", "hann", "hz_to_mel", "istft", "istft_blocks",
    "join_frames", "log_features", "magnitude", "max_magnitude", "mel_filterbank", "mel_to_hz",
    "open_blocks", "overlap_add", "pghi_phase", "quiet_stderr", "read_mono", "resample", "stft",
    "to_mono", "write_wav",
]
