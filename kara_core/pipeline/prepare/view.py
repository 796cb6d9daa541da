"""What ``kara prepare`` shows on stderr: a progress bar (files, seconds of audio, ETA), one
line per skipped file, warning or flag, and a summary. Results stay off stdout.

rich is imported on first output, not with this module: ``kara prepare`` starts its
decoders first and draws the bar while they run (see :mod:`kara_core.pipeline.prepare.stage`).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any

from kara_core.pipeline.progress import audio_text

if TYPE_CHECKING:
    from kara_core.pipeline.prepare.one_file import FileOutcome, Job
    from kara_core.pipeline.prepare.outcome import PrepareReport
    from kara_core.pipeline.prepare.plan import PrepareSettings

KIND_LABELS = {
    "empty": "empty", "id3-only": "ID3 tag only", "text": "text", "html": "HTML page",
    "unknown": "not audio", "mp4": "MP4/AAC", "broken-link": "broken link",
    "unreadable": "unreadable", "not-a-file": "not a file", "decode-failed": "decode failed",
    "short-decode": "short decode", "name-clash": "name clash", "error": "error",
    "missing": "vanished",
}


def reason_counts(report: PrepareReport) -> str:
    """``2 empty, 1 not audio, 3 silent``: why files are not usable."""
    parts = [
        f"{n} {KIND_LABELS.get(kind, kind)}"
        for kind, n in report.summary.get("skipped_by_reason", {}).items()
    ]
    if report.summary.get("silent"):
        parts.append(f"{report.summary['silent']} silent")
    return ", ".join(parts) or "none"


def _print(markup: str) -> None:
    from kara_core.console import err

    err.print(markup)


def escape(text: str) -> str:
    """``text`` with rich markup and control characters escaped (file names reach the
    terminal as text, never as commands)."""
    from rich.markup import escape as rich_escape

    from kara_core.console import safe_text

    return rich_escape(safe_text(text))


class PrepareView:
    """Progress and messages of one prepare run (messages always, bar and summary only
    when ``show_progress``)."""

    def __init__(self, show_progress: bool) -> None:
        self.show_progress = show_progress
        self.progress: Any = None
        self.task: Any = None
        self.files = 0
        self.seconds = 0.0

    def warn(self, message: str) -> None:
        """A one-line warning about the whole run."""
        _print(f"[yellow]warning:[/] {escape(message)}")

    def _line(self, label: str, source: str, text: str) -> None:
        _print(f"[yellow]{label}[/] {escape(source)}: {escape(text)}")

    @contextlib.contextmanager
    def running(self, jobs: Sequence[Job]) -> Iterator[None]:
        """Show the bar while the block runs (when there is work and progress is on)."""
        if not self.show_progress or not jobs:
            yield
            return
        from rich.progress import (
            BarColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
            TimeRemainingColumn,
        )

        from kara_core.console import err

        total = 0
        for job in jobs:
            with contextlib.suppress(OSError):  # a broken link weighs what an empty file does
                total += job.path.stat().st_size
            total += 1
        with Progress(
            TextColumn("decoding"), BarColumn(),
            TextColumn("{task.fields[files]}/{task.fields[n]} files"),
            TextColumn("{task.fields[audio]} of audio"),
            TextColumn("ETA"), TimeRemainingColumn(), TextColumn("elapsed"),
            TimeElapsedColumn(),
            console=err, transient=False,
        ) as progress:
            self.progress = progress
            self.task = progress.add_task("decoding", total=total, files=0, n=len(jobs),
                                          audio="0.0 s")
            try:
                yield
            finally:
                self.progress = None

    def file_done(self, job: Job, outcome: FileOutcome) -> None:
        """Advance the bar and print what the user must know about this file."""
        self.files += 1
        if outcome.status in ("decoded", "cached") and outcome.duration_s:
            self.seconds += outcome.duration_s
        if self.progress is not None:
            self.progress.update(
                self.task, advance=(outcome.size or 0) + 1, files=self.files,
                audio=audio_text(self.seconds),
            )
        if outcome.status == "skipped":
            self._line("skipped", job.source, outcome.reason or "?")
            return
        for warning in outcome.warnings:
            self._line("warning", job.source, warning)
        if "silent" in outcome.flags:
            self._line("silent", job.source, "peak below -60 dBFS; kept, but not trained on")
        if "short" in outcome.flags:
            self._line("short", job.source,
                       f"only {outcome.duration_s or 0:.1f} s; kept, but it may be shorter "
                       "than one training window")

    def skipped_again(self, source: str, entry: dict[str, Any]) -> None:
        """A file skipped on an earlier run and unchanged since."""
        self._line("skipped", source, str(entry.get("reason") or "?"))

    def summary(self, ds: PrepareSettings, report: PrepareReport) -> None:
        """One line: decoded, cached, skipped by reason, usable songs and their duration."""
        if not self.show_progress:
            return
        s = report.summary
        skipped = f"{s['skipped']} skipped"
        if s["skipped"]:
            skipped += " (" + ", ".join(
                f"{n} {KIND_LABELS.get(k, k)}" for k, n in s["skipped_by_reason"].items()
            ) + ")"
        line = (
            f"prepared {ds.mp3_dir} -> {ds.wav_dir} with {s['decoder']}: "
            f"{s['decoded']} decoded, {s['cached']} cached, {skipped}; "
            f"{s['usable']} usable song(s), {audio_text(s['seconds'])} of audio"
        )
        if s["silent"]:
            line += f"; {s['silent']} silent"
        if s["with_warnings"]:
            line += f"; {s['with_warnings']} with warnings"
        if s["removed"]:
            line += f"; removed {s['removed']} WAV(s) of deleted mp3s"
        colour = "green" if s["usable"] else "red"
        _print(f"[{colour}]{escape(line)}[/]")
