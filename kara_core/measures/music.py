"""Is generated audio music-like? Measured on the audio, against real music of the same songs.

A loss says how well a model predicts; it cannot say whether what the model *generates*
sounds like music. These measures look at the generated audio itself (after the inverse
transform), in log-mel frames, and divide each by the same measure on real excerpts of equal
length from the held-out songs (the :class:`Yardstick`), so 1 means "like the real music"
whatever the transform, model or collection. DESIGN.md section 6 defines them:

- ``fd_ratio``: Fréchet distance of the clip's log-mel frames and their deltas to the
  held-out songs, over the median of the same for real excerpts (lower is better; 1 is as
  close as real music of equal length).
- ``spread``: per-band standard deviation over time, over real excerpts' (a smear or a
  frozen frame is far below 1).
- ``loop``: mean distance of each frame to its nearest frame at least :data:`LOOP_LAG_S`
  earlier, over real excerpts' (an exact loop or a frozen frame is far below 1).
- ``diversity``: distance between two seeds' clips, over two real excerpts' distance.
- ``level_db``: RMS level relative to the held-out music; ``silent``: the silent fraction.
- ``own_song``: does the clip still sound like the song its prompt came from
  (:mod:`kara_core.measures.own_song`).

Typical failures and how they show: smear (spread low), frozen frame (spread and loop near
0), exact loop (loop near 0), sustained drone or stationary noise (spread low, fd_ratio
high), silence (level far below 0, silent near 1).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from kara_core.measures.roundtrip import (
    frechet_distance_from_stats,
    log_mel_frames,
    silent_fraction,
)

N_MELS = 64
"""Bands of the log-mel frames every measure is computed on."""
LOOP_LAG_S = 0.25
"""A frame is compared with frames at least this long before it (nearer ones are the same
note, not a repetition)."""
REAL_EXCERPTS = 8
"""Real excerpts the yardstick draws from the held-out songs."""
FLOOR_DB = -80.0
"""Log-mel values are floored here (dBFS) when no music sets the floor (:func:`mel_frames`
without ``floor``): a silent passage must not dominate distances."""
DYNAMIC_RANGE_DB = 60.0
"""A yardstick floors every log-mel value at this many dB below the held-out music's
loudest band. Below that, band levels are inaudible beside the music, yet with a fixed
-80 dBFS floor they dominated ``spread``: band-limited songs' empty top bands flicker
between -80 and -40 dB, and on 21 real songs the held-out music *itself* scored a median
spread of 0.64 (worst 0.48) against its own yardstick; with the floor 60 dB under the
music's peak it scores 1.03 (worst 0.77), loop 1.01 and fd_ratio 0.93."""

TARGETS: Mapping[str, tuple[float, float]] = {
    "spread": (0.8, 1.2),
    "loop": (0.7, math.inf),
    "fd_ratio": (0.0, 0.8),
}
"""The medians a good variant reaches over several prompts (DESIGN.md section 6)."""
COLLAPSE = {"spread": 0.5, "loop": 0.3}
"""Below these a clip has collapsed: one line says so in the run."""
NO_CLIP_COLLAPSING = {"spread": 0.6, "loop": 0.5, "level_db": 12.0}
"""What every clip must reach for a variant to meet the targets."""


def mel_frames(wave: np.ndarray, rate: int, floor: float = FLOOR_DB) -> np.ndarray:
    """Log-mel frames ``[T, N_MELS]`` in dB, floored at ``floor`` (float64)."""
    frames = log_mel_frames(np.asarray(wave, np.float32), rate, N_MELS)
    return np.maximum(frames, floor)


def with_deltas(frames: np.ndarray) -> np.ndarray:
    """Frames with their first differences beside them: the Fréchet distances compare how
    the music moves, not only which bands sound."""
    if frames.shape[0] < 2:
        return np.concatenate([frames, np.zeros_like(frames)], axis=1)
    deltas = np.diff(frames, axis=0)
    return np.concatenate([frames[1:], deltas], axis=1)


def frame_stats(features: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean and covariance of ``features`` ``[T, F]``, the Gaussian a Fréchet distance reads."""
    mean = features.mean(axis=0)
    cov = np.cov(features, rowvar=False) if features.shape[0] > 1 else (
        np.zeros((features.shape[1], features.shape[1])))
    return mean, np.atleast_2d(cov)


def _rms_db(wave: np.ndarray) -> float:
    rms = float(np.sqrt(np.mean(np.square(np.asarray(wave, np.float64))))) if len(wave) else 0.0
    return 20.0 * math.log10(max(rms, 1e-10))


def _loop_distance(frames: np.ndarray, lag: int) -> float:
    """Mean over frames of the distance to the nearest frame at least ``lag`` earlier."""
    count = frames.shape[0]
    if count <= lag:
        return float("nan")
    norms = np.einsum("ij,ij->i", frames, frames)
    nearest = np.empty(count - lag)
    for first in range(lag, count, 512):  # blocks keep memory flat on long clips
        rows = frames[first : first + 512]
        squared = norms[first : first + 512, None] + norms[None, :] - 2.0 * rows @ frames.T
        allowed = np.arange(count)[None, :] <= (np.arange(first, first + len(rows))[:, None] - lag)
        squared = np.where(allowed, squared, np.inf)
        nearest[first - lag : first - lag + len(rows)] = squared.min(axis=1)
    return float(np.sqrt(np.maximum(nearest, 0.0)).mean())


def _pair_distance(a: np.ndarray, b: np.ndarray) -> float:
    """Mean distance between aligned frames of two clips (the shorter length)."""
    length = min(a.shape[0], b.shape[0])
    if length == 0:
        return float("nan")
    return float(np.linalg.norm(a[:length] - b[:length], axis=1).mean())


@dataclass(frozen=True)
class Yardstick:
    """What real music of the held-out songs scores, for clips of ``seconds``.

    Built once per evaluation by :func:`yardstick`; every generated clip is divided by it.
    """

    rate: int
    seconds: float
    mean: np.ndarray
    cov: np.ndarray
    fd: float
    band_std: np.ndarray
    loop: float
    pair_distance: float
    level_db: float
    excerpts: int
    excerpt_seconds: float = math.nan
    """The real excerpts' median length: ``seconds``, unless the songs are shorter than
    twice that (see :func:`real_excerpts`)."""
    floor_db: float = FLOOR_DB
    """Every log-mel value measured against this yardstick is floored here: the music's
    loudest band minus :data:`DYNAMIC_RANGE_DB`."""

    @property
    def lag(self) -> int:
        """:data:`LOOP_LAG_S` in log-mel frames."""
        hop = analysis_hop(self.rate)
        return max(1, round(LOOP_LAG_S * self.rate / hop))


def analysis_hop(rate: int) -> int:
    """The hop of :func:`mel_frames` at ``rate``: about 46 ms windows, a quarter overlap."""
    n_fft = int(2 ** max(8, round(math.log2(max(rate, 1) * 0.0464))))
    return n_fft // 4


def real_excerpts(
    songs: Sequence[np.ndarray], rate: int, seconds: float, count: int = REAL_EXCERPTS,
    seed: int = 0,
) -> list[np.ndarray]:
    """``count`` excerpts of ``seconds`` from ``songs`` (mono waves), spread over the songs
    in turn at seeded random offsets. An excerpt is at most half its song: an excerpt that
    is the whole song is the reference itself (a Fréchet distance of 0 and two identical
    excerpts), which would turn every ratio into a division by almost nothing."""
    usable = [np.asarray(s, np.float32) for s in songs if len(s) > 0]
    if not usable:
        raise ValueError("no held-out audio to measure against")
    rng = np.random.default_rng(seed)
    length = max(1, round(seconds * rate))
    found = []
    for number in range(count):
        song = usable[number % len(usable)]
        size = min(length, max(1, len(song) // 2))
        start = int(rng.integers(0, max(1, len(song) - size + 1)))
        found.append(song[start : start + size])
    return found


def yardstick(
    songs: Sequence[np.ndarray], rate: int, seconds: float, count: int = REAL_EXCERPTS,
    seed: int = 0,
) -> Yardstick:
    """The yardstick for clips of ``seconds`` from held-out ``songs`` (mono waves at
    ``rate``): reference statistics of all their frames, and the median measures of
    ``count`` real excerpts of equal length."""
    raw = [mel_frames(s, rate, -math.inf) for s in songs if len(s) > 0]
    if not raw:
        raise ValueError("no held-out audio to measure against")
    floor = max(FLOOR_DB, max(float(f.max(initial=FLOOR_DB)) for f in raw) - DYNAMIC_RANGE_DB)
    whole = [np.maximum(f, floor) for f in raw]
    mean, cov = frame_stats(np.concatenate([with_deltas(f) for f in whole]))
    excerpts = real_excerpts(songs, rate, seconds, count, seed)
    clips = [mel_frames(x, rate, floor) for x in excerpts]
    fds = [frechet_distance_from_stats(*frame_stats(with_deltas(f)), mean, cov) for f in clips]
    hop = analysis_hop(rate)
    lag = max(1, round(LOOP_LAG_S * rate / hop))
    loops = [v for v in (_loop_distance(f, lag) for f in clips) if math.isfinite(v)]
    pairs = [_pair_distance(clips[i], clips[i + 1]) for i in range(0, len(clips) - 1, 2)]
    level = _rms_db(np.concatenate([np.asarray(s, np.float32) for s in songs]))
    return Yardstick(
        rate=int(rate), seconds=float(seconds), mean=mean, cov=cov,
        fd=float(np.median(fds)), band_std=np.median([f.std(axis=0) for f in clips], axis=0),
        loop=float(np.median(loops)) if loops else float("nan"),
        pair_distance=float(np.median(pairs)) if pairs else float("nan"),
        level_db=level, excerpts=len(clips),
        excerpt_seconds=float(np.median([len(x) for x in excerpts])) / rate, floor_db=floor,
    )


def ratio(value: float, reference: float) -> float:
    """``value / reference``, NaN where either is missing or the reference is not positive."""
    if not math.isfinite(value) or not math.isfinite(reference) or reference <= 0:
        return float("nan")
    return value / reference


def measure_clip(wave: np.ndarray, yard: Yardstick) -> dict[str, float]:
    """``fd_ratio``, ``spread``, ``loop``, ``level_db`` and ``silent`` of one generated clip
    (mono float32 at ``yard.rate``), each relative to real music as the module says."""
    frames = mel_frames(wave, yard.rate, yard.floor_db)
    fd = frechet_distance_from_stats(*frame_stats(with_deltas(frames)), yard.mean, yard.cov)
    spread = float(frames.std(axis=0).mean()) if frames.shape[0] > 1 else 0.0
    return {
        "fd_ratio": ratio(fd, yard.fd),
        "spread": ratio(spread, float(yard.band_std.mean())),
        "loop": ratio(_loop_distance(frames, yard.lag), yard.loop),
        "level_db": _rms_db(wave) - yard.level_db,
        "silent": silent_fraction(np.asarray(wave, np.float32), yard.rate),
    }


def diversity(wave_a: np.ndarray, wave_b: np.ndarray, yard: Yardstick) -> float:
    """How different two generations (two seeds, one prompt) are, over how different two
    real excerpts are: near 0 means the seed changes nothing."""
    a = mel_frames(wave_a, yard.rate, yard.floor_db)
    b = mel_frames(wave_b, yard.rate, yard.floor_db)
    return ratio(_pair_distance(a, b), yard.pair_distance)


def collapse(measures: Mapping[str, float]) -> str | None:
    """A one-line diagnosis when a clip collapsed (``None`` when it did not)."""
    spread, loop = measures.get("spread", math.nan), measures.get("loop", math.nan)
    low_spread = math.isfinite(spread) and spread < COLLAPSE["spread"]
    low_loop = math.isfinite(loop) and loop < COLLAPSE["loop"]
    if low_spread and low_loop:
        return f"frozen: the audio stops changing (spread {spread:.2f}, loop {loop:.2f})"
    if low_spread:
        return f"smear: far less variation than the music (spread {spread:.2f})"
    if low_loop:
        return f"loop: frames repeat earlier ones almost exactly (loop {loop:.2f})"
    return None


def _outside(value: float, low: float, high: float) -> float:
    """How far ``value`` lies outside ``[low, high]`` (0 inside)."""
    return max(0.0, low - value, value - high)


SCORE_LEVEL_DB = 12.0
"""Level differences up to this many dB cost nothing in :func:`generation_score`."""


def generation_score(measures: Mapping[str, float]) -> float:
    """One number for "how well does this clip generate", lower is better, 0 when the clip
    meets every target; what the training monitor keeps the best checkpoint by.

    The sum of each measure's distance to its target range, in natural-log units (so that
    being twice too far costs the same whatever the measure)::

        score = dist(ln spread, [ln 0.8, ln 1.2])        # smear, or erratic jumps
              + max(0, ln 0.7 - ln loop)                 # exact loops, frozen frames
              + max(0, ln fd_ratio - ln 0.8)             # unlike the music's sound
              + max(0, |level_db| - 12) / 12             # far too quiet or too loud

    A missing or non-finite measure (a silent clip has no loop distance) scores ``inf``.
    Examples: real music about 0-0.2; a smear (spread 0.22, loop 0.15, fd_ratio 2.2) 3.8.
    """
    spread = float(measures.get("spread", math.nan))
    loop = float(measures.get("loop", math.nan))
    fd_ratio = float(measures.get("fd_ratio", math.nan))
    level = float(measures.get("level_db", 0.0))
    if not all(math.isfinite(v) for v in (spread, loop, fd_ratio, level)):
        return math.inf
    if spread <= 0 or loop <= 0:
        return math.inf
    spread_low, spread_high = TARGETS["spread"]
    score = _outside(math.log(spread), math.log(spread_low), math.log(spread_high))
    score += max(0.0, math.log(TARGETS["loop"][0]) - math.log(loop))
    score += max(0.0, math.log(max(fd_ratio, 1e-12)) - math.log(TARGETS["fd_ratio"][1]))
    score += max(0.0, abs(level) - SCORE_LEVEL_DB) / SCORE_LEVEL_DB
    return float(score)


def clips_score(clips: Sequence[Mapping[str, float]]) -> float:
    """One number for several clips, lower is better, 0 exactly when :func:`misses` finds
    nothing: what the training judge keeps the best epoch by.

    :func:`generation_score` of the clips' medians (the targets are on medians), plus the
    mean over clips of how far each falls below :data:`NO_CLIP_COLLAPSING`, in the same
    natural-log units (a level beyond 12 dB: ``(|level| - 12) / 12``). So an epoch is judged
    as the run's evaluation judges a variant: a clip that smears a little outside the range
    moves the medians only as much as it moves the evaluation's, while one clip collapsing
    costs the epoch what a collapse costs, whatever the other prompts did. ``inf`` when a
    measure is missing or not finite."""
    if not clips:
        return math.inf
    score = generation_score(summarize(clips)["median"])
    below = sum(sum(_below_floors(clip).values()) for clip in clips)
    return float(score + below / len(clips))


def _below_floors(clip: Mapping[str, float]) -> dict[str, float]:
    """How far one clip falls below :data:`NO_CLIP_COLLAPSING`, per measure: natural-log
    units for spread and loop, ``(|level| - 12) / 12`` for the level; 0 when it reaches
    the floor, ``inf`` when the measure is missing, not finite or (spread, loop) not
    positive. The one definition :func:`misses` and :func:`clips_score` both read."""
    found = {}
    for key in ("spread", "loop"):
        value = float(clip.get(key, math.nan))
        floor = NO_CLIP_COLLAPSING[key]
        found[key] = (max(0.0, math.log(floor) - math.log(value))
                      if math.isfinite(value) and value > 0 else math.inf)
    level, limit = float(clip.get("level_db", math.nan)), NO_CLIP_COLLAPSING["level_db"]
    found["level_db"] = max(0.0, abs(level) - limit) / limit if math.isfinite(level) else math.inf
    return found


WORST_IS_HIGHEST = {"fd_ratio", "silent", "own_song"}


def summarize(clips: Sequence[Mapping[str, float]]) -> dict[str, dict[str, float]]:
    """``{"median": {...}, "worst": {...}}`` over several clips' measures. The worst is the
    highest fd_ratio, silent fraction or own_song, the level furthest from the music, and
    the lowest of the others (spread, loop, diversity fall when a clip collapses)."""
    keys = sorted({k for clip in clips for k in clip})
    median: dict[str, float] = {}
    worst: dict[str, float] = {}
    for key in keys:
        values = [float(c[key]) for c in clips if key in c and math.isfinite(float(c[key]))]
        if not values:
            median[key] = worst[key] = float("nan")
            continue
        median[key] = float(np.median(values))
        if key in WORST_IS_HIGHEST:
            worst[key] = max(values)
        elif key == "level_db":
            worst[key] = max(values, key=abs)
        else:
            worst[key] = min(values)
    return {"median": median, "worst": worst}


def misses(clips: Sequence[Mapping[str, float]]) -> list[str]:
    """What keeps these clips from the targets (empty when they meet them): the medians of
    :data:`TARGETS` and no clip below :data:`NO_CLIP_COLLAPSING`."""
    if not clips:
        return ["no clips"]
    summary = summarize(clips)["median"]
    found = []
    for key, (low, high) in TARGETS.items():
        value = summary.get(key, math.nan)
        if not (math.isfinite(value) and low <= value <= high):
            found.append(f"median {key} {value:.2f} outside {low:g}-{high:g}")
    for number, clip in enumerate(clips):
        below = _below_floors(clip)
        for key in ("spread", "loop"):
            if below[key] > 0:
                value = float(clip.get(key, math.nan))
                found.append(f"clip {number + 1}: {key} {value:.2f} < {NO_CLIP_COLLAPSING[key]}")
        if below["level_db"] > 0:
            level = float(clip.get("level_db", math.nan))
            found.append(f"clip {number + 1}: level {level:+.1f} dB from the music")
    return found
