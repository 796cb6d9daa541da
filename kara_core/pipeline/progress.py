"""Rich progress bars on stderr for the featurize and train stages (off with --json)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
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


@contextlib.contextmanager
def progress(show: bool, *extra_columns: Any) -> Iterator[Any]:
    """A ``rich.progress.Progress`` on stderr, or a silent stand-in when ``show`` is false.

    :param extra_columns: more columns after the bar (e.g. a loss read from task fields).
    """
    if not show:
        yield _Silent()
        return
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    from kara_core.console import err

    columns = (
        TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
        *extra_columns, TimeElapsedColumn(), TimeRemainingColumn(),
    )
    with Progress(*columns, console=err, transient=False) as bar:
        yield bar
