"""The measure contract: one number about a generated clip, measured against held-out music.

A loss says how well a model predicts, not whether what it generates sounds like music.
Measures look at the generated audio itself. Each is a class with a ``name`` (its key in
``metrics.json`` and in ``kara compare --json``), a ``description`` of what it measures,
a ``direction`` (is higher better, lower better, or is there a range to be in), an
optional ``target`` for the median over a variant's clips, and
``compute(clip, music) -> float``. Kara registers its own measures through the
``kara_register_measures`` hook like any plugin's, and the comparison table, the listening
page, the training judge, the collapse lines and ``--json`` read them all from the
registry: a plugin's measure becomes a row of the table without any change to Kara.

A measure is computed on every clip a variant generated, and on the *real* continuation
of every prompt (what the held-out song really does after it): the second is printed
beside the first, so each number can be read against what real music scores.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections.abc import Callable, Hashable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal, TypeVar

import numpy as np

from kara_core.components.base import NoOptions

Direction = Literal["higher", "lower", "range"]
"""``higher``/``lower``: which way is better; ``range``: best inside :attr:`Measure.target`."""

T = TypeVar("T")
LOG_FLOOR = 1e-3
"""Values below this count as this in :meth:`Measure.distance` (0 would be infinitely far)."""


@dataclass(frozen=True)
class SongExcerpt:
    """A stretch of one song's audio: a held-out song, or where a prompt starts.

    :ivar wave: float32 mono audio at the experiment's sample rate.
    :ivar source: the song (file) it came from.
    :ivar held_out: False when no song is held out and a training song stands in.
    :ivar offset: where ``wave`` starts, in seconds from the start of the song's held-out
        part.
    """

    wave: np.ndarray
    source: str
    held_out: bool = True
    offset: float = 0.0


@dataclass(frozen=True)
class Clip:
    """One generated (or real) clip, as a measure sees it.

    :ivar wave: float32 mono audio at ``rate``: only what was generated, not the prompt.
    :ivar rate: its sample rate.
    :ivar source: the song its prompt came from.
    :ivar seed: the seed it was sampled with.
    :ivar other_seed: the same prompt continued with another seed (``diversity``), when
        one was made for this clip.
    :ivar other_song: a prompt from another song (the clip's partner) continued with the
        *same* seed (``prompt_sensitivity``), when one was made for this clip (every clip
        whose prompts include another song has one in a run).
    """

    wave: np.ndarray
    rate: int
    source: str = ""
    seed: int = 0
    other_seed: Clip | None = None
    other_song: Clip | None = None

    @property
    def seconds(self) -> float:
        """Its length in seconds."""
        return self.wave.shape[0] / self.rate if self.rate > 0 else 0.0

    def last(self, seconds: float) -> Clip:
        """Its last ``seconds`` (itself when it is not longer), its siblings' likewise."""
        if self.seconds <= seconds:
            return self
        size = max(1, round(seconds * self.rate))
        return Clip(
            wave=np.ascontiguousarray(self.wave[-size:]), rate=self.rate, source=self.source,
            seed=self.seed,
            other_seed=self.other_seed.last(seconds) if self.other_seed else None,
            other_song=self.other_song.last(seconds) if self.other_song else None,
        )


@dataclass
class HeldOutMusic:
    """The held-out songs' audio, read once per variant, and what is derived from them.

    Generation takes its prompts from it, the evaluation and the training judge measure
    against it. Anything a measure derives from the songs (a yardstick for clips of a
    given length, each song's frame statistics) is kept with :meth:`memo`, so it is
    computed once however many clips, measures or epochs ask for it.

    :ivar rate: the sample rate of every wave.
    :ivar songs: each held-out song's held-out part (the training songs when none is held
        out: then ``held_out`` is False).
    :ivar prompts: where generation starts: excerpts of ``songs``, different songs first.
    :ivar frames: the first song's normalised feature frames (for the drift curve), when
        known.
    """

    rate: int
    songs: Sequence[SongExcerpt]
    prompts: Sequence[SongExcerpt] = ()
    frames: np.ndarray | None = None
    _memo: dict[Hashable, Any] = field(default_factory=dict, repr=False)

    @property
    def held_out(self) -> bool:
        """False when no song is held out and training songs stand in."""
        return all(song.held_out for song in self.songs)

    @property
    def names(self) -> tuple[str, ...]:
        """Each song's source, as clips name the song of their prompt."""
        return tuple(song.source for song in self.songs)

    @property
    def waves(self) -> list[np.ndarray]:
        """Each song's audio."""
        return [song.wave for song in self.songs]

    def song(self, source: str) -> SongExcerpt | None:
        """The held-out song ``source`` (``None`` when it is not one of them)."""
        for song in self.songs:
            if song.source == source:
                return song
        return None

    def memo(self, key: Hashable, make: Callable[[], T]) -> T:
        """``make()``, computed on the first call with ``key`` and remembered after."""
        if key not in self._memo:
            self._memo[key] = make()
        found: T = self._memo[key]
        return found


class Measure(ABC):
    """One number about a generated clip. Subclass it, set the class attributes, implement
    :meth:`compute`, and register the class through ``kara_register_measures``.

    ``compute`` returns NaN when the clip cannot be measured (too short, no sibling clip
    for a pairwise measure, a silent clip for a ratio): the table shows it as missing.
    """

    name: ClassVar[str]
    """The key in metrics.json, ``--json`` and the CSV."""
    description: ClassVar[str] = ""
    """What it measures, one sentence (the report and ``kara plugins`` show it)."""
    direction: ClassVar[Direction] = "range"
    target: ClassVar[tuple[float, float] | None] = None
    """``(low, high)`` the median over a variant's clips should fall in (``math.inf`` for
    no upper bound); ``None``: shown, not a target."""
    every_clip: ClassVar[tuple[float, float] | None] = None
    """``(low, high)`` every single clip must reach, or the variant misses its targets
    (a collapsed clip is not hidden by a good median)."""
    header: ClassVar[str] = ""
    """The table's column header (``name`` when empty); ``\\n`` breaks it."""
    fmt: ClassVar[str] = ".2f"
    """How its values are printed (``format(value, fmt)``)."""
    order: ClassVar[int] = 100
    """Where its column goes among the measures (lower first; Kara's use 10-90)."""
    scored: ClassVar[bool] = True
    """Whether the training judge's score (and the temperature it calibrates) counts its
    distance to ``target``."""
    required: ClassVar[bool] = False
    """A clip without a finite value of a required measure scores as the worst possible
    (a silent clip has no loop distance); other measures are skipped where missing."""
    Options: ClassVar[type[Any]] = NoOptions

    def __init__(self, options: Any = None) -> None:
        self.options = options if options is not None else self.Options()

    @abstractmethod
    def compute(self, clip: Clip, music: HeldOutMusic) -> float:
        """The measure of ``clip`` (its ``wave`` at ``clip.rate``) against ``music``."""

    def counts(self, values: Mapping[str, float]) -> bool:
        """Whether this clip's value counts towards the targets, given all its measures
        (``pulse`` does not count for a clip that loops: a loop has a strong pulse too);
        one that does not count is taken as the worst value."""
        return True

    def distance(self, value: float, bounds: tuple[float, float]) -> float:
        """How far ``value`` lies outside ``bounds``, 0 inside: in natural-log units by
        default (twice too far costs the same whatever the measure; values below
        :data:`LOG_FLOOR` count as that); ``inf`` for a missing or infinite value."""
        low, high = bounds
        if not math.isfinite(value):
            return math.inf
        value = max(value, LOG_FLOOR)
        below = math.log(low) - math.log(value) if low > 0 else 0.0
        above = math.log(value) - math.log(high) if math.isfinite(high) and high > 0 else 0.0
        return max(0.0, below, above)

    def worst(self, values: Sequence[float]) -> float:
        """The worst of several clips' finite values: the lowest when higher is better,
        the highest when lower is better, the furthest outside (or from the middle of)
        the target for a range."""
        if self.direction == "higher":
            return min(values)
        if self.direction == "lower":
            return max(values)
        bounds = self.target or self.every_clip
        if bounds is None:
            return max(values, key=abs)
        low, high = bounds
        middle = (low + high) / 2 if math.isfinite(high) else low
        return max(values, key=lambda v: (self.distance(v, bounds), abs(v - middle)))

    @classmethod
    def column_header(cls) -> str:
        """``header``, or ``name`` when no header is set."""
        return cls.header or cls.name

    @classmethod
    def target_text(cls) -> str:
        """``0.8-1.2``, ``≥ 0.5``, ``≤ 0.8`` or ``''``: the target as the table's note says it."""
        if cls.target is None:
            return ""
        low, high = cls.target
        if not math.isfinite(high):
            return f"≥ {low:g}"
        if low <= 0 and cls.direction == "lower":
            return f"≤ {high:g}"
        return f"{low:g}-{high:g}"
