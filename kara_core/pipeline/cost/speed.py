"""How many frames a transform makes of a song, and how fast featurize runs it here."""

from __future__ import annotations

import hashlib
import io
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from kara_core.components import Transform

TIMING_SECONDS = 10.0  # synthetic audio the transform is timed on
REPEATS = 5  # the best of these is kept


@dataclass
class TransformSpeed:
    """How many frames a transform makes and how fast featurize runs it here."""

    count: Callable[[int], int]
    exact: bool  # the frame count formula fitted every probe length
    x_real_time: float  # featurize speed (audio seconds per wall second), I/O included


def _synthetic(seconds: float, rate: int) -> np.ndarray:
    """A few seconds of tones and noise: what a transform is timed on."""
    t = np.arange(round(seconds * rate), dtype=np.float64) / rate
    rng = np.random.default_rng(0)
    wave = sum(0.2 * np.sin(2 * np.pi * f * t * (1 + 0.01 * np.sin(t))) for f in
               (110.0, 220.0, 330.0, 523.0)) + 0.05 * rng.standard_normal(t.shape[0])
    return np.asarray(wave, np.float32)


def frame_counter(transform: Transform) -> tuple[Callable[[int], int], bool]:
    """``count(samples) -> frames``, fitted on the transform's output for a few lengths:
    ``n // hop + c`` (centred STFTs) or ``ceil(n / hop) + c`` (cut frames)."""
    hop = max(1, int(transform.hop))
    base = max(16, 4096 // hop) * hop
    lengths = [base, base + 1, base + hop - 1, base + hop // 2 + hop]
    counts = [int(np.asarray(transform.forward(np.zeros(n, np.float32))).shape[0])
              for n in lengths]
    for offset in (0, 1, -1, 2, -2):
        for rule in ((lambda n, c=offset: n // hop + c),
                     (lambda n, c=offset: -(-n // hop) + c)):
            if all(rule(n) == got for n, got in zip(lengths, counts, strict=True)):
                return rule, True
    return (lambda n: max(1, round(n / hop))), False


def transform_speed(transform: Transform, rate: int) -> TransformSpeed:
    """Frame count rule and featurize speed, timed on :data:`TIMING_SECONDS` of audio.

    Per song featurize reads the wav, hashes it, runs the transform, writes and hashes the
    ``.npy`` and reads the frames once more for the statistics; each of these is done here
    on the synthetic song, in memory (the best of five, each the smaller of its wall and
    CPU time), so the speed includes them: the speed of a machine featurize has to itself;
    what only the disk costs (fsync, per-file bookkeeping) comes from the benchmark's
    figures (:mod:`kara_core.pipeline.cost.figures`).
    """
    count, exact = frame_counter(transform)
    wave = _synthetic(TIMING_SECONDS, rate)
    pcm = (wave * 32767).astype(np.int16).tobytes()
    best = math.inf
    for _ in range(REPEATS):
        wall, cpu = time.perf_counter(), time.process_time()
        hashlib.sha256(pcm).hexdigest()
        audio = np.frombuffer(pcm, np.int16).astype(np.float32) / 32768.0
        frames = np.ascontiguousarray(transform.forward(audio), np.float32)
        buffer = io.BytesIO()
        np.save(buffer, frames, allow_pickle=False)
        hashlib.sha256(buffer.getbuffer()).hexdigest()
        for first in range(0, frames.shape[0], 4096):
            chunk = np.asarray(frames[first : first + 4096], np.float64)
            chunk.sum(axis=0), np.square(chunk).sum(axis=0), chunk.min(axis=0)
        # wall time counts other programs' use of the CPU, CPU time counts every thread of
        # a multi-threaded BLAS: the smaller of the two is the time on an idle machine
        best = min(best, time.perf_counter() - wall, time.process_time() - cpu)
        if best > 1.0:  # a slow transform: one timing is enough
            break
    return TransformSpeed(count, exact, TIMING_SECONDS / max(best, 1e-6))
