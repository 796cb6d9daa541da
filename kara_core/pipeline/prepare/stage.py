"""Prepare: every mp3 under ``mp3_dir`` -> ``<wav_dir>/<relative path>.wav`` plus a manifest.

* Sources: ``*.mp3`` under ``mp3_dir`` at any depth, the extension matched without regard
  to case; symbolic links are followed (a broken one is reported); a folder named like an
  mp3 is not a file. Nothing under ``mp3_dir`` is ever written.
* Each source is decoded with the configured decoder (falling back to
  ``decoder.fallback``), mixed to ``channels``, resampled to ``sample_rate`` with soxr HQ
  and written as 16-bit PCM, atomically (see :mod:`kara_core.pipeline.prepare.one_file`).
* Incremental: :mod:`kara_core.pipeline.prepare.manifest` records what each WAV came from; an
  unchanged source is not decoded again, a changed one (or a changed decoder, rate or
  channel count) is, and the WAV of a deleted source is removed.
* Parallel: a process pool over the cores; a rich progress bar on stderr (files, seconds
  of audio, ETA); one line per skipped file or warning; a summary at the end.

The stage's entry point is :func:`prepare` (through the package's front door); it returns
a :class:`PrepareReport` whose :attr:`PrepareReport.songs` featurize reads.
"""

from __future__ import annotations

import os
import stat
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

from kara_core.errors import KaraError, ToolMissingError
from kara_core.pipeline.prepare import manifest
from kara_core.pipeline.prepare.jobs import default_workers, largest_first, started_jobs
from kara_core.pipeline.prepare.one_file import TRANSIENT_KINDS, DecoderSpec, FileOutcome, Job
from kara_core.pipeline.prepare.outcome import PreparedSong, PrepareReport
from kara_core.pipeline.prepare.plan import (
    NamedDecoder,
    PrepareSettings,
    check_layout,
    check_owner,
    check_shared,
    distinct_datasets,
    find_sources,
    prepare_identity,
    wav_name,
)

__all__ = [
    "NamedDecoder", "PrepareReport", "PrepareSettings", "PreparedSong", "distinct_datasets",
    "find_sources", "no_usable_message", "prepare", "prepare_identity", "resolve_decoders",
    "run_prepare", "wav_name",
]

SAVE_EVERY_S = 10.0  # the manifest is saved this often during a long run


# --------------------------------------------------------------------------- planning


def resolve_decoders(
    decoders: Sequence[NamedDecoder], warn: Callable[[str], None]
) -> tuple[DecoderSpec, ...]:
    """The decoder chain: primary then fallback, each checked once.

    A primary whose tool is missing is replaced by the fallback, with a warning; without a
    fallback its :class:`ToolMissingError` (naming the install command) is raised.
    """
    specs: list[DecoderSpec] = []
    missing: ToolMissingError | None = None
    for named in decoders:
        decoder = named.decoder
        try:
            decoder.check()
            version = str(decoder.version())
        except ToolMissingError as exc:
            missing = missing or exc
            continue
        if any(s.name == named.name for s in specs):
            continue
        specs.append(DecoderSpec(type(decoder), decoder.options, named.name, version))
    if not specs:
        assert missing is not None
        raise missing
    if missing is not None and specs[0].name != decoders[0].name:
        warn(f"{missing}; decoding with the fallback decoder {specs[0].name!r}")
    return tuple(specs)


def _reuse(entry: dict[str, Any] | None, key: str, path: Path, wav_dir: Path,
           warn: Callable[[str], None]) -> str:
    """``cached``, ``cached-skip``, ``hash`` (reuse if the content hash matches) or ``no``.

    A WAV is reused only when it is still what prepare wrote (:func:`wav_problem`; one
    warning line when it is not), and a file the fallback decoded because the primary
    decoder failed (``retry_primary``) is decoded again. A source whose size and mtime
    match but whose inode or ctime changed (replaced in place, its mtime copied) is checked
    against its recorded SHA-256.
    """
    if not entry or entry.get("key") != key:
        return "no"
    try:
        st = os.stat(path)
    except OSError:
        return "no"
    wav = entry.get("wav")
    wav_ok = entry.get("status") == "decoded" and bool(wav)
    if wav_ok:
        problem = wav_problem(entry, wav_dir / str(wav))
        if problem is not None and problem != "missing":
            warn(f"{wav_dir / str(wav)}: {problem} since prepare wrote it; decoding "
                 f"{entry.get('source')} again")
        wav_ok = problem is None
    if wav_ok and entry.get("retry_primary"):
        return "no"
    same = entry.get("size") == st.st_size and entry.get("mtime_ns") == st.st_mtime_ns
    moved = any(
        entry.get(name) is not None and entry.get(name) != value
        for name, value in (("ctime_ns", st.st_ctime_ns), ("inode", st.st_ino))
    )
    if same and wav_ok and not moved:
        return "cached"
    if same and not moved and entry.get("status") == "skipped" and \
            entry.get("kind") not in TRANSIENT_KINDS:
        return "cached-skip"
    return "hash" if wav_ok else "no"


def wav_problem(entry: dict[str, Any], wav: Path) -> str | None:
    """``None`` when ``wav`` is still the file prepare wrote: its recorded size and, when
    its mtime changed, its recorded SHA-256 (a manifest of an older Kara records neither:
    the file only has to exist); else what is wrong."""
    try:
        st = os.stat(wav)
    except OSError:
        return "missing"
    if not stat.S_ISREG(st.st_mode):
        return "not a file"
    size = entry.get("wav_bytes")
    if size is None:
        return None
    if st.st_size != size:
        return f"{st.st_size} bytes instead of {size}"
    if entry.get("wav_mtime_ns") == st.st_mtime_ns:
        return None
    from kara_core.storage.atomic import sha256_of

    try:
        same = sha256_of(wav) == entry.get("wav_sha256")
    except OSError as exc:
        return f"unreadable ({exc.strerror or exc})"
    if not same:
        return "content changed"
    entry["wav_mtime_ns"] = st.st_mtime_ns  # touched, not changed
    return None


# --------------------------------------------------------------------------- running


def prepare(
    settings: PrepareSettings, decoders: Sequence[NamedDecoder], *, workers: int | None = None,
    show_progress: bool = True,
) -> PrepareReport:
    """Prepare the dataset with the first of ``decoders`` that works (the primary, then the
    fallback): the prepare stage's entry point. :class:`KaraError` when no song is usable
    (none found, all skipped, or all silent), before touching any WAV when none is found."""
    from kara_core.pipeline.prepare.plan import check_collection

    check_collection([settings.mp3_dir])
    report = run_prepare(settings, decoders, workers=workers, show_progress=show_progress)
    if not report.summary["usable"]:
        raise KaraError(no_usable_message(settings, report))
    return report


def no_usable_message(settings: PrepareSettings, report: PrepareReport) -> str:
    """One line: how many files, and why none is usable."""
    mp3_dir = settings.mp3_dir
    total = len(report.files)
    if total == 0:
        return (f"{mp3_dir}: no .mp3 files found; put your music there (subfolders are "
                "fine) and rerun")
    from kara_core.pipeline.prepare.view import reason_counts

    return f"{mp3_dir}: none of the {total} mp3 file(s) is usable: {reason_counts(report)}"


def run_prepare(
    settings: PrepareSettings, decoders: Sequence[NamedDecoder], *, workers: int | None = None,
    show_progress: bool = True,
) -> PrepareReport:
    """Prepare the dataset and return the report; never raises because files are bad.

    Holds the lock of ``wav_dir`` (:func:`kara_core.storage.locks.folder_lock`) meanwhile, so two
    Kara processes never write one dataset's WAVs and manifest at the same time.
    """
    from kara_core.storage.locks import folder_lock

    ds = settings
    check_layout(ds.mp3_dir, ds.wav_dir)
    for folder in (ds.mp3_dir, ds.wav_dir):
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise KaraError(f"{folder}: cannot create the folder ({exc.strerror or exc})") from exc
    with folder_lock(ds.wav_dir, "kara prepare"):
        return _prepare_locked(settings, decoders, workers, show_progress)


def _prepare_locked(
    settings: PrepareSettings, decoders: Sequence[NamedDecoder], workers: int | None,
    show_progress: bool,
) -> PrepareReport:
    from kara_core.pipeline.prepare.view import PrepareView
    from kara_core.storage import atomic

    ds = settings
    mp3_dir, wav_dir = ds.mp3_dir, ds.wav_dir
    view = PrepareView(show_progress)
    specs = resolve_decoders(decoders, view.warn)
    values = manifest.settings(ds.sample_rate, ds.channels, specs)
    key = manifest.settings_key(values)
    loaded = manifest.load(wav_dir)
    if loaded.note:
        view.warn(loaded.note)
    check_owner(loaded, mp3_dir, wav_dir, view.warn)
    owner = str(ds.experiment_dir.absolute()) if ds.experiment_dir is not None else None
    check_shared(loaded, owner, ds.sample_rate, ds.channels, wav_dir, view.warn)
    old = loaded.entries
    atomic.clean_stale_temps(wav_dir)

    entries: dict[str, dict[str, Any]] = {}
    report_status: dict[str, str] = {}
    jobs: list[Job] = []
    owners: dict[str, str] = {}
    for source, path in find_sources(mp3_dir):
        wav_rel = wav_name(source)
        if wav_rel in owners:
            outcome = FileOutcome(source).skip(
                "name-clash", f"its WAV name {wav_rel} is taken by {owners[wav_rel]}; rename one"
            )
            entries[source] = _entry(outcome, key, None)
            report_status[source] = "skipped"
            continue
        owners[wav_rel] = source
        entry = old.get(source)
        reuse = _reuse(entry, key, path, wav_dir, view.warn)
        if reuse in ("cached", "cached-skip") and entry is not None:
            entries[source] = entry
            report_status[source] = "cached" if reuse == "cached" else "skipped"
            continue
        known = entry if reuse == "hash" and entry is not None else {}
        jobs.append(Job(source, path, wav_dir / wav_rel, ds.sample_rate, ds.channels, specs,
                        known_sha256=known.get("sha256"),
                        known_duration_s=known.get("duration_s"),
                        damage_decoders=ds.damage_decoders))

    for job in jobs:  # until a job is done (or if the run is interrupted) its old entry,
        if job.source in old:  # and so its WAV, stays in the manifest
            entries[job.source] = old[job.source]
    owned = {str(e.get("wav")) for e in old.values() if e.get("wav")}
    pending = sorted({*loaded.pending, *(wav_name(j.source) for j in jobs)} - owned)
    if pending:  # a run killed before its first save must not leave unnamed WAVs behind
        manifest.save(wav_dir, manifest.document(values, entries.values(), mp3_dir, pending,
                                                 owner))
    last_save = time.monotonic()

    def record(job: Job, outcome: FileOutcome) -> None:
        if outcome.status == "cached" and job.source in old:
            entry = dict(old[job.source])
            entry.update(size=outcome.size, mtime_ns=outcome.mtime_ns,
                         ctime_ns=outcome.ctime_ns, inode=outcome.inode)
        else:
            entry = _entry(outcome, key, wav_name(job.source))
        entries[job.source] = entry
        report_status[job.source] = outcome.status

    def on_done(job: Job, outcome: FileOutcome) -> None:
        nonlocal last_save
        record(job, outcome)
        view.file_done(job, outcome)
        if time.monotonic() - last_save > SAVE_EVERY_S:
            manifest.save(wav_dir, manifest.document(values, entries.values(), mp3_dir,
                                                     pending, owner))
            last_save = time.monotonic()

    n_workers = workers if workers is not None else default_workers()
    late: list[tuple[Job, FileOutcome]] = []  # finished while Ctrl-C stopped this loop
    try:
        # the decoders start first; rich and the bar are set up while they run
        with started_jobs(largest_first(jobs), n_workers, late) as finished, \
                view.running(jobs):
            for source, status in report_status.items():
                if status == "skipped":
                    view.skipped_again(source, entries[source])
            for job, outcome in finished:
                on_done(job, outcome)
    finally:
        for job, outcome in late:
            record(job, outcome)
        # a worker that died mid-write (its pool broken by another's crash) left a temp
        atomic.clean_stale_temps(wav_dir)
        candidates = [str(e.get("wav")) for e in old.values() if e.get("wav")] + pending
        removed, deferred = _remove_stale(candidates, entries, wav_dir, view.warn)
        document = manifest.document(values, entries.values(), mp3_dir, deferred, owner)
        if removed or deferred or not manifest.same(document, loaded.raw):
            manifest.save(wav_dir, document)  # nothing changed: nothing written
    report = _report(entries, report_status, wav_dir, removed, specs[0].name)
    view.summary(settings, report)
    return report


def _entry(outcome: FileOutcome, key: str, wav_rel: str | None) -> dict[str, Any]:
    entry = asdict(outcome)
    entry["wav"] = wav_rel if outcome.status in ("decoded", "cached") else None
    entry["key"] = key
    if entry["status"] == "cached":
        entry["status"] = "decoded"
    return entry


def _remove_stale(candidates: list[str], entries: dict[str, dict[str, Any]],
                  wav_dir: Path, warn: Callable[[str], None]) -> tuple[int, list[str]]:
    """Delete the WAVs named in ``candidates`` (the old manifest's, and those a killed run
    had pending) that no current entry owns; prune empty folders. Returns how many were
    removed and those left for the next prepare because a running Kara process reads
    ``wav_dir`` (:func:`kara_core.storage.locks.in_use`: a training generates from them)."""
    from kara_core.storage.locks import USE_NAME, exclusive_now

    keep = {str(e.get("wav")) for e in entries.values() if e.get("wav")}
    stale = [wav for wav in dict.fromkeys(candidates) if wav and wav not in keep]
    if not stale:
        return 0, []
    with exclusive_now(wav_dir, USE_NAME, through_link=True) as holder:
        if holder is not None:
            warn(f"{wav_dir}: {len(stale)} WAV(s) of removed mp3s are left in place: in use "
                 f"by {holder}; the next prepare removes them")
            return 0, stale
        return _remove_wavs(stale, wav_dir), []


def _remove_wavs(stale: list[str], wav_dir: Path) -> int:
    removed = 0
    root = wav_dir.resolve()
    for wav in stale:
        path = (wav_dir / wav).resolve()
        if not path.is_relative_to(root) or path.suffix.lower() != ".wav":
            continue  # never delete outside wav_dir, whatever the manifest says
        try:
            path.unlink()
            removed += 1
        except FileNotFoundError:
            continue
        parent = path.parent
        while parent != root and parent.is_relative_to(root) and not any(parent.iterdir()):
            parent.rmdir()
            parent = parent.parent
    return removed


def _report(entries: dict[str, dict[str, Any]], status: dict[str, str], wav_dir: Path,
            removed: int, decoder: str) -> PrepareReport:
    report = PrepareReport()
    by_reason: dict[str, int] = {}
    counts = {"decoded": 0, "cached": 0, "skipped": 0}
    for source in sorted(status):
        entry = entries[source]
        state = status[source]
        counts[state] += 1
        wav = wav_dir / str(entry["wav"]) if entry.get("wav") else None
        flags = tuple(entry.get("flags") or ())
        if state == "skipped":
            kind = str(entry.get("kind") or "other")
            by_reason[kind] = by_reason.get(kind, 0) + 1
        elif wav is not None:
            report.songs.append(PreparedSong(source, wav.absolute(),
                                             float(entry.get("duration_s") or 0.0), flags,
                                             entry.get("decoder")))
        report.files.append({
            "source": source,
            "status": state,
            "reason": entry.get("reason"),
            "warnings": list(entry.get("warnings") or []),
            "wav": str(wav.absolute()) if wav is not None and state != "skipped" else None,
            "duration_s": entry.get("duration_s") if state != "skipped" else None,
            "flags": list(flags),
            "decoder": entry.get("decoder"),
        })
    trainable = report.trainable
    report.summary = {
        **counts,
        "skipped_by_reason": dict(sorted(by_reason.items())),
        "usable": len(trainable),
        "silent": sum("silent" in s.flags for s in report.songs),
        "short": sum("short" in s.flags for s in report.songs),
        "with_warnings": sum(bool(f["warnings"]) for f in report.files),
        "seconds": round(sum(s.duration_s for s in trainable), 3),
        "removed": removed,
        "decoder": decoder,
        "wav_dir": str(wav_dir),
    }
    return report
