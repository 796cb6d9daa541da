"""Does the clip have a beat? Pulse clarity, relative to the held-out songs.

Pulse clarity of a window is the highest normalised autocorrelation of its onset-strength
envelope (the positive change of the log-mel bands from frame to frame, summed over the
bands) at lags of :data:`MIN_LAG_S` to :data:`MAX_LAG_S`: a beat repeats its onsets at one
period, so the envelope correlates with itself shifted by that period. Measured on
:data:`WINDOW_S` windows. Real songs score about 0.3-0.9 per window, pink noise and a
stationary smear about 0.1 (issue 21's measurements). ``pulse`` is the clip's median
window over the held-out songs' median window: 1 = as rhythmic as the music.

A loop or a frozen frame repeats as well, and scores a strong pulse: the pulse of a clip
counts towards the targets only when its ``loop`` is at least :data:`MIN_LOOP`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np

from kara_core.components.measure import Clip, HeldOutMusic, Measure
from kara_core.measures.music import FLOOR_DB, analysis_hop, mel_frames, ratio

WINDOW_S = 10.0
"""Pulse clarity is measured on windows of this many seconds (a shorter clip: one window)."""
MIN_LAG_S = 0.25
"""The shortest beat period looked for (240 bpm)."""
MAX_LAG_S = 2.0
"""The longest beat period looked for (30 bpm, or a bar of a fast tempo)."""
MIN_LOOP = 0.7
"""Below this ``loop`` a clip repeats itself, and its pulse does not count."""
REAL_WINDOWS = 120
"""At most this many windows of the held-out songs make the real median."""


def onset_envelope(wave: np.ndarray, rate: int) -> np.ndarray:
    """The onset strength per analysis frame (:func:`~kara_core.measures.music.mel_frames`
    hop): the rise of each log-mel band from the frame before, summed over the bands."""
    frames = mel_frames(np.asarray(wave, np.float32), rate, FLOOR_DB)
    if frames.shape[0] < 2:
        return np.zeros(0)
    return np.maximum(np.diff(frames, axis=0), 0.0).sum(axis=1)


def clarity(envelope: np.ndarray, frame_rate: float) -> float:
    """The highest normalised autocorrelation of ``envelope`` (one window) at lags of
    :data:`MIN_LAG_S`-:data:`MAX_LAG_S` (at most half the window); NaN when the window is
    too short for the shortest lag twice, 0 for a flat envelope."""
    count = envelope.shape[0]
    low = max(1, round(MIN_LAG_S * frame_rate))
    high = min(round(MAX_LAG_S * frame_rate), count // 2)
    if high < low:
        return float("nan")
    centred = envelope - envelope.mean()
    energy = float(np.dot(centred, centred))
    if energy <= 1e-12:
        return 0.0
    best = max(float(np.dot(centred[:-lag], centred[lag:])) for lag in range(low, high + 1))
    return max(0.0, best / energy)


def window_clarities(wave: np.ndarray, rate: int, window_s: float = WINDOW_S) -> list[float]:
    """Pulse clarity of each whole ``window_s`` window of ``wave`` (the whole wave when it
    is shorter), NaN windows left out."""
    envelope = onset_envelope(wave, rate)
    frame_rate = rate / analysis_hop(rate)
    size = max(1, round(window_s * frame_rate))
    starts = range(0, max(1, envelope.shape[0] - size + 1), size)
    values = [clarity(envelope[start : start + size], frame_rate) for start in starts]
    return [v for v in values if math.isfinite(v)]


def real_pulse(songs: Sequence[np.ndarray], rate: int, limit: int = REAL_WINDOWS) -> float:
    """The median pulse clarity of the songs' :data:`WINDOW_S` windows (at most ``limit``
    of them, taken from every song in turn); NaN without a window."""
    per_song = [window_clarities(song, rate) for song in songs if len(song)]
    found: list[float] = []
    for turn in range(max((len(v) for v in per_song), default=0)):
        found.extend(v[turn] for v in per_song if turn < len(v))
        if len(found) >= limit:
            break
    return float(np.median(found)) if found else float("nan")


class Pulse(Measure):
    """Pulse clarity of the clip over the held-out songs' (see the module)."""

    name = "pulse"
    description = ("pulse clarity (highest autocorrelation of the onset envelope at 0.25-2 s "
                   f"lags, {WINDOW_S:g} s windows), the clip's median over the held-out songs' "
                   f"median; counts only where loop >= {MIN_LOOP:g}")
    direction = "higher"
    target = (0.8, math.inf)
    header = "pulse"
    order = 50

    def compute(self, clip: Clip, music: HeldOutMusic) -> float:
        values = window_clarities(clip.wave, clip.rate)
        if not values:
            return float("nan")
        real = music.memo("pulse_real", lambda: real_pulse(music.waves, music.rate))
        return ratio(float(np.median(values)), real)

    def counts(self, values: Mapping[str, float]) -> bool:
        """Only where the clip does not loop (a loop has a strong pulse too)."""
        loop = values.get("loop", math.nan)
        return not math.isfinite(loop) or loop >= MIN_LOOP
