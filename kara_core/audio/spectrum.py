"""Framing, STFT and ISTFT in float32 with numpy and scipy.fft: the core every Kara
transform shares. Public (re-exported by :mod:`kara_core.audio`): the built-in transforms
use it, and a plugin's transform may too.

Conventions (the same as librosa's defaults, so results can be compared directly):
periodic Hann window of ``n_fft`` samples, frames centred on multiples of ``hop`` with
``n_fft // 2`` zeros padded at both ends, so a wave of ``n`` samples has
``n // hop + 1`` frames. Spectrograms are time-major, ``[frames, n_fft // 2 + 1]``,
matching the ``[T, D]`` frames a model reads.

The inverse is the least-squares (weighted overlap-add) ISTFT of Griffin and Lim: windowed
inverse FFTs are added and divided by the summed squared window, which reconstructs the
input exactly whenever the windows overlap enough to cover every sample (``hop <= n_fft // 2``
for Hann).
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable

import numpy as np

WORKERS = max(1, min(4, os.cpu_count() or 1))
"""Threads scipy.fft may use for one batch of frames."""
CHUNK_FRAMES = 256
"""Frames inverted per block in :func:`istft`: small enough to stay in the CPU cache."""


def frame_count(length: int, hop: int) -> int:
    """Frames of a centred STFT of ``length`` samples: ``length // hop + 1``."""
    return max(0, int(length)) // int(hop) + 1


def cut_frames(wave: np.ndarray, size: int) -> np.ndarray:
    """Non-overlapping float32 frames ``[T, size]`` of ``wave``; the last is zero-padded and
    there is always at least one."""
    wave = np.asarray(wave, dtype=np.float32).reshape(-1)
    n_frames = max(1, -(-wave.shape[0] // size))
    padded = np.zeros(n_frames * size, dtype=np.float32)
    padded[: wave.shape[0]] = wave
    return padded.reshape(n_frames, size)


def join_frames(frames: np.ndarray, length: int) -> np.ndarray:
    """The inverse of :func:`cut_frames`: frames end to end, cut or zero-padded to exactly
    ``length`` float32 samples."""
    flat = np.asarray(frames).reshape(-1)
    out = np.zeros(max(0, int(length)), dtype=np.float32)
    n = min(flat.shape[0], out.shape[0])
    out[:n] = flat[:n]
    return out


@functools.lru_cache(maxsize=32)
def hann(n_fft: int) -> np.ndarray:
    """The periodic Hann window of ``n_fft`` samples (float32), as used for spectral analysis."""
    k = np.arange(n_fft, dtype=np.float64)
    window = 0.5 - 0.5 * np.cos(2.0 * np.pi * k / n_fft)
    window = window.astype(np.float32)
    window.setflags(write=False)
    return window


def stft(wave: np.ndarray, n_fft: int, hop: int) -> np.ndarray:
    """The centred Hann STFT of a mono wave: complex64 ``[frame_count(n, hop), n_fft//2+1]``."""
    import scipy.fft

    wave = np.asarray(wave, dtype=np.float32).reshape(-1)
    pad = n_fft // 2
    n_frames = frame_count(wave.shape[0], hop)
    padded = np.zeros((n_frames - 1) * hop + n_fft, dtype=np.float32)
    take = min(wave.shape[0], padded.shape[0] - pad)
    padded[pad : pad + take] = wave[:take]
    frames = np.lib.stride_tricks.as_strided(
        padded, shape=(n_frames, n_fft), strides=(hop * 4, 4), writeable=False
    )
    windowed = frames * hann(n_fft)
    return scipy.fft.rfft(windowed, axis=-1, workers=WORKERS).astype(np.complex64, copy=False)


@functools.lru_cache(maxsize=16)
def _inverse_window_sum(n_fft: int, hop: int, n_frames: int) -> np.ndarray:
    """``1 / sum of squared windows`` over the padded output (0 where nothing overlaps)."""
    squares = (hann(n_fft) ** 2).astype(np.float32)
    total = overlap_add(np.broadcast_to(squares, (n_frames, n_fft)), hop)
    tiny = np.finfo(np.float32).tiny
    inverse = np.zeros_like(total)
    np.divide(1.0, total, out=inverse, where=total > tiny * 1e6)
    inverse.setflags(write=False)
    return inverse


def overlap_add(frames: np.ndarray, hop: int) -> np.ndarray:
    """Sum ``frames`` ([T, L]) placed ``hop`` samples apart: ``(T - 1) * hop + L`` samples.

    Frames are cut into ``ceil(L / hop)`` blocks of ``hop`` samples, so the sum is a handful
    of vectorised additions instead of a loop over frames.
    """
    n_frames, size = frames.shape
    blocks = -(-size // hop)
    if blocks * hop != size:
        grown = np.zeros((n_frames, blocks * hop), dtype=frames.dtype)
        grown[:, :size] = frames
        frames = grown
    parts = frames.reshape(n_frames, blocks, hop)
    out = np.zeros((n_frames + blocks - 1, hop), dtype=frames.dtype)
    for j in range(blocks):
        out[j : j + n_frames] += parts[:, j]
    return out.reshape(-1)[: (n_frames - 1) * hop + size]


def istft(
    spec: np.ndarray, n_fft: int, hop: int, length: int, precise: bool = False
) -> np.ndarray:
    """The least-squares inverse of :func:`stft`: exactly ``length`` float32 samples.

    Samples beyond what the frames cover are zeros, so any ``length`` is accepted (a model
    may generate more or fewer frames than a wave of ``length`` samples would have).
    ``precise`` runs the inverse FFT in float64 (about 141 dB SNR on music, not 139): worth
    it for a lossless transform's inverse, not inside Griffin-Lim's iterations.
    """
    spec = np.asarray(spec)
    return istft_blocks(lambda a, b: spec[a:b], spec.shape[0], n_fft, hop, length, precise)


def istft_blocks(
    blocks: Callable[[int, int], np.ndarray],
    n_frames: int,
    n_fft: int,
    hop: int,
    length: int,
    precise: bool = False,
) -> np.ndarray:
    """:func:`istft` of a spectrum handed over in blocks: ``blocks(a, b)`` returns frames
    ``a`` to ``b`` as complex ``[b - a, n_fft // 2 + 1]``.

    Working block by block keeps the data in the CPU cache and lets a caller build each
    block from its own layout (e.g. real and imaginary feature columns) without a full copy.
    """
    import scipy.fft

    length = int(length)
    out = np.zeros(max(0, length), dtype=np.float32)
    if n_frames == 0 or length <= 0:
        return out
    frames = np.empty((n_frames, n_fft), dtype=np.float32)
    window = hann(n_fft)
    for first in range(0, n_frames, CHUNK_FRAMES):
        block = blocks(first, min(n_frames, first + CHUNK_FRAMES))
        if precise:
            block = block.astype(np.complex128, copy=False)
        part = scipy.fft.irfft(block, n=n_fft, axis=-1, workers=WORKERS)
        part *= window
        frames[first : first + CHUNK_FRAMES] = part
    summed = overlap_add(frames, hop)
    summed *= _inverse_window_sum(n_fft, hop, n_frames)
    pad = n_fft // 2
    valid = summed[pad : pad + length]
    out[: valid.shape[0]] = valid
    return out


def magnitude(spec: np.ndarray) -> np.ndarray:
    """``|spec|`` as float32."""
    return np.abs(spec).astype(np.float32, copy=False)


def log_features(magnitudes: np.ndarray, eps: float) -> np.ndarray:
    """``log(magnitudes + eps)`` as float32: silence gives ``log(eps)``, never ``-inf``."""
    return np.log(np.asarray(magnitudes, dtype=np.float32) + np.float32(eps))


def from_log_features(features: np.ndarray, eps: float, ceiling: float) -> np.ndarray:
    """Magnitudes from :func:`log_features`, clipped to ``[0, ceiling]``.

    The clip keeps a model's wild prediction (``log = 80``) from overflowing float32 into
    ``inf``; ``ceiling`` is far above any magnitude real audio in [-1, 1] can produce.
    """
    logs = np.clip(np.asarray(features, dtype=np.float32), None, np.float32(np.log(ceiling)))
    mags = np.exp(logs) - np.float32(eps)
    np.nan_to_num(mags, copy=False, nan=0.0)
    return np.clip(mags, 0.0, None).astype(np.float32, copy=False)


def max_magnitude(n_fft: int) -> float:
    """The largest STFT magnitude a wave in [-1, 1] can have: the window's sum."""
    return float(np.sum(hann(n_fft), dtype=np.float64))


def as_frames(frames: np.ndarray, frame_dim: int, finite: bool = False) -> np.ndarray:
    """``frames`` as float32 ``[T, frame_dim]``; ``ValueError`` naming the shape otherwise.

    ``finite`` replaces NaN and infinities by 0: a model that blew up gives silence there
    rather than a file full of NaN.
    """
    frames = np.asarray(frames, dtype=np.float32)
    if frames.ndim != 2 or frames.shape[1] != frame_dim:
        raise ValueError(f"expected frames of shape [T, {frame_dim}], got {frames.shape}")
    if finite and not np.isfinite(frames).all():
        frames = np.nan_to_num(frames, nan=0.0, posinf=0.0, neginf=0.0)
    return frames
