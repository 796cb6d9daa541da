"""Running prepare jobs: a process pool over the cores, started before anything else.

``kara prepare`` is judged against bare ``lame --decode`` under ``xargs -P``
(benchmarks/bench_prepare.py), so the decoders start as soon as the jobs are known: the
pool is forked (numpy and soxr already imported) and every job submitted before the
progress bar and its rich import are set up, and the largest files go first so the batch
does not end waiting on one long song.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator, Sequence
from typing import Any

from kara_core.pipeline.prepare.one_file import FileOutcome, Job, prepare_file_safely


def default_workers() -> int:
    """The cores this process may use."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # macOS, Windows
        return max(1, os.cpu_count() or 1)


def _mp_context() -> Any:
    """``fork`` on Linux: the workers start in a millisecond with numpy and soxr already
    imported, where forkserver or spawn would import them again in every worker (about
    0.1 s of CPU each). Unsafe only once TensorFlow's threads exist, so a process that
    has imported it (``kara run``) uses forkserver or spawn."""
    import multiprocessing as mp
    import sys

    if sys.platform.startswith("linux") and "tensorflow" not in sys.modules:
        return mp.get_context("fork")
    methods = mp.get_all_start_methods()
    return mp.get_context("forkserver" if "forkserver" in methods else "spawn")


def _warm_up() -> None:
    """Import what every job needs before the workers fork, so each does not pay for it.

    soundfile is left out: only the soundfile decoder and WAV/FLAC data named .mp3 need it,
    and a worker imports it then.
    """
    import soxr  # noqa: F401

    from kara_core.audio.mp3info import parse_header

    parse_header(b"\xff\xfb\x90\x00", 0)  # builds the header table once


def _ignore_interrupts() -> None:
    """Workers leave Ctrl-C to the main process, which stops the pool and saves the
    manifest; a worker's own KeyboardInterrupt would only print tracebacks."""
    import signal

    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)  # a worker told to stop just stops


def isolated(jobs: Sequence[Job], workers: int) -> Iterator[tuple[Job, FileOutcome]]:
    """``(job, outcome)`` of every job, each run in a process of its own (``workers`` at a
    time): a job whose process dies is skipped saying so, and the others are not lost."""
    from concurrent.futures import ThreadPoolExecutor, as_completed

    with ThreadPoolExecutor(max_workers=max(1, workers)) as threads:
        futures = {threads.submit(_alone, job): job for job in jobs}
        for future in as_completed(futures):
            yield futures[future], future.result()


def _alone(job: Job) -> FileOutcome:
    """``prepare_file_safely(job)`` in a fresh one-worker pool."""
    from concurrent.futures import ProcessPoolExecutor
    from concurrent.futures.process import BrokenProcessPool

    with ProcessPoolExecutor(max_workers=1, mp_context=_mp_context(),
                             initializer=_ignore_interrupts) as pool:
        try:
            return pool.submit(prepare_file_safely, job).result()
        except BrokenProcessPool:
            return FileOutcome(job.source).skip(
                "error", "its decoding process died (the decoder crashed on it, or memory "
                "ran out)")


def largest_first(jobs: Sequence[Job]) -> list[Job]:
    """``jobs`` by decreasing source size: a long song started last would keep one core
    busy while the others wait for it at the end of the batch."""

    def size(job: Job) -> int:
        try:
            return os.stat(job.path).st_size
        except OSError:
            return 0

    return sorted(jobs, key=size, reverse=True)


@contextlib.contextmanager
def started_jobs(
    jobs: Sequence[Job], workers: int, late: list[tuple[Job, FileOutcome]] | None = None,
) -> Iterator[Iterator[tuple[Job, FileOutcome]]]:
    """Start :func:`prepare_file_safely` on every job, ``workers`` at a time, and yield the
    ``(job, outcome)`` pairs as they finish.

    The pool is started and every job submitted on entry, so the decoders are busy while
    the caller draws its progress bar. With one worker (or one job) the jobs run in this
    process, one by one as the pairs are consumed. A worker that dies (a decoder crashing)
    costs only its own file: the jobs the broken pool held are run again one process each
    (:func:`isolated`). Leaving the block early cancels the
    jobs not started and waits for the running ones; the pairs of those that finished but
    were not yielded (Ctrl-C stopped the caller) are appended to ``late``, so their WAVs
    are recorded instead of removed as unnamed.
    """
    if workers <= 1 or len(jobs) <= 1:
        yield ((job, prepare_file_safely(job)) for job in jobs)
        return
    from concurrent.futures import ProcessPoolExecutor, as_completed
    from concurrent.futures.process import BrokenProcessPool

    _warm_up()
    futures: dict[Any, Job] = {}
    yielded: set[Any] = set()
    pool = ProcessPoolExecutor(max_workers=min(workers, len(jobs)), mp_context=_mp_context(),
                               initializer=_ignore_interrupts)
    try:
        futures = {pool.submit(prepare_file_safely, job): job for job in jobs}

        def finished() -> Iterator[tuple[Job, FileOutcome]]:
            try:
                for future in as_completed(futures):
                    outcome = future.result()
                    yielded.add(future)
                    yield futures[future], outcome
            except BrokenProcessPool:
                # a worker died (a decoder crashed, or the kernel killed it): the pool fails
                # every job it still held, so each of those is decoded again in a process
                # of its own, and only the one that dies again is skipped
                left = [job for future, job in futures.items() if future not in yielded]
                yield from isolated(left, workers)

        yield finished()
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
        if late is not None:
            late.extend((job, future.result()) for future, job in futures.items()
                        if future not in yielded and future.done() and not future.cancelled()
                        and future.exception() is None)
