"""Decoded blocks -> the prepared WAV: mix to the configured channels, resample with soxr
(high quality, see :data:`RESAMPLE_QUALITY`), write 16-bit PCM, and measure what was
written.

Everything streams block by block (the decoder's blocks, 64 k frames by default): a
20-minute song costs a few megabytes of memory, never a float64 copy of the whole song.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from kara_core.audio.wav import Pcm16Writer
from kara_core.components import AudioStream
from kara_core.errors import DecodeError

SILENT_PEAK = 10 ** (-60 / 20)
"""A song whose loudest sample is below -60 dBFS is flagged ``silent`` and not trained on."""
SHORT_SECONDS = 2.0
"""A song shorter than this is flagged ``short``: kept, but likely shorter than one
training window (``input_frames + output_frames`` frames), which prepare cannot know."""
WAV_SUBTYPE = "PCM_16"
"""What ``lame --decode`` writes and every tool reads; the sources are 16-bit at best."""
RESAMPLE_QUALITY = "HQ"
"""soxr's high-quality preset (20-bit precision). Against VHQ (28-bit) it differs only in
the last 5 % below the new Nyquist frequency, where both filters roll off (about -77 dBFS
on music, 10.5-11 kHz at 22.05 kHz); below that the two agree to -150 dBFS, and HQ's
passband error (-136 dB) and aliasing (-142 dB) are far under the 16-bit floor (-98 dB)
of the WAV it feeds. It is about 15 % cheaper (see benchmarks/bench_prepare.py)."""


@dataclass
class Converted:
    """What one conversion read and wrote.

    :ivar input_frames: decoded samples per channel at the source rate.
    :ivar output_frames: samples per channel written at the configured rate.
    :ivar peak: largest absolute sample written (after clipping to 1.0).
    :ivar clipped: samples that exceeded full scale after resampling and were clipped.
    """

    input_rate: int
    input_channels: int
    input_frames: int = 0
    output_frames: int = 0
    rate: int = 0
    peak: float = 0.0
    clipped: int = 0

    @property
    def input_seconds(self) -> float:
        """Decoded duration at the source rate."""
        return self.input_frames / float(self.input_rate)

    @property
    def duration_s(self) -> float:
        """Duration of the written WAV."""
        return self.output_frames / float(self.rate)

    @property
    def flags(self) -> tuple[str, ...]:
        """``silent`` and/or ``short``, as defined by :data:`SILENT_PEAK`, :data:`SHORT_SECONDS`."""
        flags = []
        if self.peak < SILENT_PEAK:
            flags.append("silent")
        if self.duration_s < SHORT_SECONDS:
            flags.append("short")
        return tuple(flags)


def mix(block: np.ndarray, channels: int) -> tuple[np.ndarray, float]:
    """``block`` ``[m, c]`` as ``(mixed, gain)``: ``mixed * gain`` is ``[m, channels]``,
    averaged down to mono, a mono source doubled to stereo, more than two channels folded
    (even ones left, odd right).

    The gain is left to the caller: resampling is linear, so :func:`convert` applies it
    with the 16-bit scaling of the (smaller) resampled block and saves a pass.
    """
    have = block.shape[1]
    if have == channels:
        return block, 1.0
    if channels == 1:
        if have == 2:  # the common case: one strided add, no mean over axis 1
            return np.add(block[:, 0], block[:, 1])[:, None], 0.5
        return block.mean(axis=1, keepdims=True, dtype=np.float32), 1.0
    if have == 1:
        return np.repeat(block, 2, axis=1), 1.0
    left = block[:, 0::2].mean(axis=1, dtype=np.float32)
    right = block[:, 1::2].mean(axis=1, dtype=np.float32)
    return np.stack([left, right], axis=1), 1.0


def _decoder_blocks(audio: AudioStream) -> Iterator[np.ndarray]:
    """The decoder's blocks, its read errors made :class:`DecodeError`: an ``OSError``
    here would otherwise look like a failure to write the WAV, which stops the batch."""
    try:
        yield from audio.blocks
    except OSError as exc:
        raise DecodeError(f"read error while decoding ({exc.strerror or exc})") from exc


PCM_SCALE = 32768.0
"""16-bit full scale as the decoders use it: they deliver ``int16 / 32768`` (lame's
frontend, libsndfile, mpg123), so multiplying by the same 32768 gives back the decoder's
16-bit samples exactly, and a wav of a song kept at its own rate and channel count is byte
for byte ``lame --decode``'s output (tests/test_lame_in_process.py)."""


def to_pcm16(block: np.ndarray, gain: float, result: Converted) -> np.ndarray:
    """``block * gain`` as rounded 16-bit samples, clipped to -32768..32767 as decoders
    clip; records its peak (of 1.0 = 32768) and clipped samples in ``result``.

    :class:`DecodeError` on NaN or infinite samples, which would otherwise become garbage.
    """
    scaled = np.multiply(block, np.float32(PCM_SCALE * gain), dtype=np.float32)
    np.rint(scaled, out=scaled)
    high, low = float(scaled.max()), float(scaled.min())
    if not (np.isfinite(high) and np.isfinite(low)):
        raise DecodeError("the decoder produced NaN or infinite samples")
    if high > 32767.0 or low < -32768.0:
        result.clipped += int(np.count_nonzero((scaled > 32767.0) | (scaled < -32768.0)))
        np.clip(scaled, -32768.0, 32767.0, out=scaled)
    result.peak = max(result.peak, min(1.0, max(high, -low) / PCM_SCALE))
    return scaled.astype("<i2")


def convert(audio: AudioStream, dest: Path, rate: int, channels: int) -> Converted:
    """Write ``audio`` to ``dest`` (a temporary path: the caller makes it atomic).

    Per block: mix to ``channels`` (before resampling, so soxr filters only the channels
    that are kept), resample, then scale, round and clip to 16 bits in one place, with the
    mix's own gain folded into that scaling. Raises :class:`DecodeError` when the stream
    is malformed or holds no samples.
    """
    import soxr

    if audio.rate <= 0 or audio.channels <= 0:
        raise DecodeError(f"the decoder reported {audio.rate} Hz, {audio.channels} channel(s)")
    result = Converted(input_rate=int(audio.rate), input_channels=int(audio.channels),
                       rate=int(rate))
    resampler = None
    if audio.rate != rate:
        resampler = soxr.ResampleStream(
            audio.rate, rate, channels, dtype="float32", quality=RESAMPLE_QUALITY
        )
    out = Pcm16Writer(dest, rate, channels)
    gain = 1.0
    try:

        def write(block: np.ndarray) -> None:
            if len(block):
                out.write(to_pcm16(block, gain, result))
                result.output_frames += len(block)

        for block in _decoder_blocks(audio):
            if block.ndim != 2 or block.shape[1] != audio.channels:
                raise DecodeError(
                    f"the decoder gave a block of shape {block.shape}, "
                    f"expected [n, {audio.channels}]"
                )
            result.input_frames += len(block)
            mixed, gain = mix(block.astype(np.float32, copy=False), channels)
            if resampler is not None:
                mixed = resampler.resample_chunk(np.ascontiguousarray(mixed))
            write(mixed)
        if resampler is not None:
            write(resampler.resample_chunk(np.zeros((0, channels), np.float32), last=True))
    finally:
        out.close()
    if result.input_frames == 0:
        raise DecodeError("the decoder produced no samples")
    return result
