"""Rich progress bars on stderr for the long stages (off with --json).

A stage that works song by song shows songs and hours of audio and an ETA weighted by
audio, not by song count (one 20-minute song is not one 2-minute song): it makes its task
with :func:`song_task` and calls :meth:`SongTask.advance` after each song. A task whose
work goes on after it (the epochs after this one) sets the field ``after`` to the units of
work still queued behind it, and the ETA covers them too.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any


class _Silent:
    """The progress interface, doing nothing (``show_progress=False``)."""

    def add_task(self, description: str, total: float | None = None, **fields: Any) -> int:
        return 0

    def advance(self, task: int, advance: float = 1) -> None:
        return None

    def update(self, task: int, **fields: Any) -> None:
        return None

    def reset(self, task: int, **fields: Any) -> None:
        return None

    def remove_task(self, task: int) -> None:
        return None


def audio_text(seconds: float) -> str:
    """``45.0 s``, ``12.5 min``, ``3.2 h`` of audio."""
    if seconds < 120:
        return f"{seconds:.1f} s"
    if seconds < 7200:
        return f"{seconds / 60:.1f} min"
    return f"{seconds / 3600:.1f} h"


@dataclass
class SongTask:
    """A task counted in seconds of audio that shows songs and hours done."""

    bar: Any
    task: Any
    songs: int
    seconds: float
    songs_done: int = 0
    seconds_done: float = 0.0

    def advance(self, seconds: float) -> None:
        """One more song of ``seconds`` done."""
        self.songs_done += 1
        self.seconds_done += max(0.0, seconds)
        self.bar.update(
            self.task, completed=min(self.seconds_done, self.seconds),
            songs_done=self.songs_done,
            audio=f"{audio_text(self.seconds_done)} of {audio_text(self.seconds)}",
        )


def song_task(bar: Any, description: str, seconds: Sequence[float]) -> SongTask:
    """A task over songs of these lengths (estimates are fine: a wav's size, an mp3's
    headers); its bar and ETA follow the audio done."""
    total = float(sum(max(0.0, s) for s in seconds))
    task = bar.add_task(description, total=max(total, 1e-9), songs=len(seconds), songs_done=0,
                        audio=f"0 s of {audio_text(total)}")
    return SongTask(bar, task, len(seconds), total)


def _columns(extra: Sequence[Any]) -> tuple[Any, ...]:
    from rich.progress import BarColumn, ProgressColumn, TextColumn, TimeElapsedColumn
    from rich.text import Text

    class Count(ProgressColumn):
        """``12/355 songs, 1.2 h of 10.0 h`` for a song task, else ``completed/total``."""

        def render(self, task: Any) -> Text:
            if "songs" in task.fields:
                return Text(f"{task.fields['songs_done']}/{task.fields['songs']} songs, "
                            f"{task.fields.get('audio', '')}", style="progress.download")
            total = "?" if task.total is None else f"{task.total:.0f}"
            return Text(f"{task.completed:.0f}/{total}", style="progress.download")

    class Remaining(ProgressColumn):
        """``ETA 0:12:34``, counting the ``after`` field's queued work at the same speed."""

        max_refresh = 0.5

        def render(self, task: Any) -> Text:
            speed = task.finished_speed or task.speed
            if task.total is None or not speed:
                return Text("ETA -:--:--", style="progress.remaining")
            left = max(0.0, task.total - task.completed) + float(task.fields.get("after", 0))
            seconds = int(left / speed)
            hours, rest = divmod(seconds, 3600)
            return Text(f"ETA {hours}:{rest // 60:02d}:{rest % 60:02d}",
                        style="progress.remaining")

    return (TextColumn("{task.description}"), BarColumn(), Count(), *extra,
            TimeElapsedColumn(), Remaining())


@contextlib.contextmanager
def progress(show: bool, *extra_columns: Any) -> Iterator[Any]:
    """A ``rich.progress.Progress`` on stderr, or a silent stand-in when ``show`` is false.

    :param extra_columns: more columns after the counts (e.g. a loss read from task fields).
    """
    if not show:
        yield _Silent()
        return
    from rich.progress import Progress

    from kara_core.console import err

    with Progress(*_columns(extra_columns), console=err, transient=False) as bar:
        yield bar


class RunClock:
    """The overall ETA of ``kara run`` across its variants: ``kara check``'s estimate of
    each variant (``None`` where it has none), corrected by how long the finished variants
    took against their own estimates (a loaded machine, generation, which the estimate
    leaves out)."""

    def __init__(self, estimates: dict[str, float | None]) -> None:
        import time

        self.estimates = estimates
        self.finished: dict[str, float] = {}
        self._clock = time.monotonic
        self._started: float | None = None

    def start(self) -> None:
        """A variant starts now."""
        self._started = self._clock()

    def finish(self, name: str) -> None:
        """Variant ``name`` ended (done or failed)."""
        if self._started is not None:
            self.finished[name] = self._clock() - self._started
        self._started = None

    def line(self, remaining: Sequence[str]) -> str | None:
        """``about 12 min left for 3 variant(s) (kara check's estimate x 1.4, what the
        finished ones took)``; ``None`` when no remaining variant has an estimate."""
        estimates = [self.estimates.get(name) for name in remaining]
        if all(e is None for e in estimates):
            return None
        known = [(self.finished[n], e) for n, e in self.estimates.items()
                 if n in self.finished and e]
        factor = (sum(took for took, _e in known) / sum(e for _t, e in known)) if known else 1.0
        left = sum(float(e or 0.0) for e in estimates) * factor
        how = (f"kara check's estimate x {factor:.2g}, what the finished ones took" if known
               else "kara check's estimate, for a machine the run has to itself")
        unknown = sum(e is None for e in estimates)
        if unknown:
            how += f"; {unknown} variant(s) without an estimate not counted"
        return f"about {_minutes(left)} left for {len(remaining)} variant(s) ({how})"


def _minutes(seconds: float) -> str:
    if seconds < 90:
        return f"{max(1, round(seconds))} s"
    if seconds < 5400:
        return f"{round(seconds / 60)} min"
    return f"{seconds / 3600:.1f} h"
