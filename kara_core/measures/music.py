"""Is generated audio music-like? The yardstick, and the measures read off log-mel frames.

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
  earlier, over real excerpts' (an exact loop or a frozen frame is far below 1; a clip
  whose frames never come back the way music's do is far above).
- ``diversity``: distance between two seeds' clips of one prompt, over two real
  excerpts' distance.
- ``level_db``: RMS level relative to the held-out music; ``silent``: the silent fraction.

Pulse, prompt sensitivity and own song have their own modules. Each measure is a
:class:`~kara_core.components.Measure` registered like any plugin's.

Typical failures and how they show: smear (spread low), frozen frame (spread and loop near
0), exact loop (loop near 0), sustained drone or stationary noise (spread low, fd_ratio
high), silence (level far below 0, silent near 1).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from kara_core.audio.spectral import (
    frechet_distance_from_stats,
    log_mel_frames,
    silent_fraction,
)
from kara_core.components.measure import Clip, HeldOutMusic, Measure

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

COLLAPSE = {"spread": 0.5, "loop": 0.3}
"""Below these a clip has collapsed: one line says so in the run."""
LEVEL_DB = 12.0
"""A clip's level may differ from the music's by this many dB (every clip, and the median)."""


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


def loop_distance(frames: np.ndarray, lag: int) -> float:
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


def pair_distance(a: np.ndarray, b: np.ndarray) -> float:
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
    loops = [v for v in (loop_distance(f, lag) for f in clips) if math.isfinite(v)]
    pairs = [pair_distance(clips[i], clips[i + 1]) for i in range(0, len(clips) - 1, 2)]
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




# --------------------------------------------------------------------------- shared work


_FRAMES: dict[tuple[int, int, int, float], tuple[np.ndarray, np.ndarray]] = {}
"""Recent clips' log-mel frames (the wave is kept beside them, so its ``id`` stays its
own): fd_ratio, spread and loop read the same frames of one clip."""


def clip_frames(wave: np.ndarray, rate: int, floor: float) -> np.ndarray:
    """:func:`mel_frames` of ``wave``, computed once for the measures that share them."""
    key = (id(wave), int(wave.shape[0]), int(rate), float(floor))
    found = _FRAMES.get(key)
    if found is not None and found[0] is wave:
        return found[1]
    frames = mel_frames(wave, rate, floor)
    if len(_FRAMES) >= 16:
        _FRAMES.pop(next(iter(_FRAMES)))
    _FRAMES[key] = (wave, frames)
    return frames


def yardstick_for(music: HeldOutMusic, seconds: float) -> Yardstick:
    """The yardstick of ``music`` for clips of ``seconds``, built once per length."""
    key = ("yardstick", round(float(seconds), 3))
    return music.memo(key, lambda: yardstick(music.waves, music.rate, seconds))


def rms_db(wave: np.ndarray) -> float:
    """RMS level of ``wave`` in dBFS (-200 for silence)."""
    return _rms_db(wave)


# --------------------------------------------------------------------------- the measures


class FdRatio(Measure):
    """Fréchet distance to the held-out songs over real excerpts' (see the module)."""

    name = "fd_ratio"
    description = ("Fréchet distance of the clip's log-mel frames and deltas to the held-out "
                   "songs, over real excerpts' (1 = as close as real music)")
    direction = "lower"
    target = (0.0, 0.8)
    header = "fd_ratio"
    order = 10
    required = True

    def compute(self, clip: Clip, music: HeldOutMusic) -> float:
        yard = yardstick_for(music, clip.seconds)
        frames = clip_frames(clip.wave, clip.rate, yard.floor_db)
        fd = frechet_distance_from_stats(*frame_stats(with_deltas(frames)), yard.mean, yard.cov)
        return ratio(fd, yard.fd)


class Spread(Measure):
    """Per-band variation over time over real excerpts' (see the module)."""

    name = "spread"
    description = ("per-band standard deviation over time over real excerpts' (a smear or "
                   "a frozen frame is far below 1)")
    direction = "range"
    target = (0.8, 1.2)
    every_clip = (0.6, math.inf)
    header = "spread"
    order = 20
    required = True

    def compute(self, clip: Clip, music: HeldOutMusic) -> float:
        yard = yardstick_for(music, clip.seconds)
        frames = clip_frames(clip.wave, clip.rate, yard.floor_db)
        spread = float(frames.std(axis=0).mean()) if frames.shape[0] > 1 else 0.0
        return ratio(spread, float(yard.band_std.mean()))


class Loop(Measure):
    """How far each frame is from its nearest earlier frame, over real excerpts'."""

    name = "loop"
    description = (f"mean distance of each frame to its nearest frame at least {LOOP_LAG_S:g} "
                   "s earlier over real excerpts' (an exact loop is near 0; frames that never "
                   "come back the way music's do are far above 1)")
    direction = "range"
    target = (0.7, 1.3)
    every_clip = (0.5, math.inf)
    header = "loop"
    order = 30
    required = True

    def compute(self, clip: Clip, music: HeldOutMusic) -> float:
        yard = yardstick_for(music, clip.seconds)
        frames = clip_frames(clip.wave, clip.rate, yard.floor_db)
        return ratio(loop_distance(frames, yard.lag), yard.loop)


class Diversity(Measure):
    """Two seeds on one prompt: how different, over how different two real excerpts are."""

    name = "diversity"
    description = ("distance between two seeds' continuations of ONE prompt over two real "
                   "excerpts' distance (near 0: the seed changes nothing)")
    direction = "higher"
    header = "diver-\nsity"
    order = 40
    scored = False

    def compute(self, clip: Clip, music: HeldOutMusic) -> float:
        if clip.other_seed is None:
            return float("nan")
        yard = yardstick_for(music, clip.seconds)
        a = clip_frames(clip.wave, clip.rate, yard.floor_db)
        b = clip_frames(clip.other_seed.wave, clip.rate, yard.floor_db)
        return ratio(pair_distance(a, b), yard.pair_distance)


class Level(Measure):
    """RMS level against the held-out music's, in dB."""

    name = "level_db"
    description = "RMS level relative to the held-out music, in dB"
    direction = "range"
    target = (-LEVEL_DB, LEVEL_DB)
    every_clip = (-LEVEL_DB, LEVEL_DB)
    header = "level dB"
    fmt = "+.1f"
    order = 60
    required = True

    def compute(self, clip: Clip, music: HeldOutMusic) -> float:
        yard = yardstick_for(music, clip.seconds)
        return _rms_db(clip.wave) - yard.level_db

    def distance(self, value: float, bounds: tuple[float, float]) -> float:
        """dB beyond the bounds, in units of :data:`LEVEL_DB` (24 dB too quiet costs 1)."""
        if not math.isfinite(value):
            return math.inf
        low, high = bounds
        return max(0.0, low - value, value - high) / LEVEL_DB


class Silent(Measure):
    """The share of silent 50 ms frames."""

    name = "silent"
    description = "share of the clip's 50 ms frames below -60 dBFS"
    direction = "lower"
    header = "silent"
    order = 90
    scored = False

    def compute(self, clip: Clip, music: HeldOutMusic) -> float:
        return silent_fraction(np.asarray(clip.wave, np.float32), clip.rate)
