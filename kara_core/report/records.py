"""Run records: ``metrics.json`` and friends under ``<runs_dir>/<name>/<variant>/``.

Stages add their figures to one ``metrics.json`` by merging a flat mapping into it, so
``kara train`` and ``kara generate`` can run separately and ``kara compare`` reads a
single file per variant. Every write is atomic. A ``metrics.json`` that cannot be read
(truncated, not JSON, nested beyond reason) is never silently replaced by a record
without the figures it held: the next write moves it aside to ``metrics.json.damaged``
and says so in one line.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from kara_core.storage import atomic

METRICS_FILE = "metrics.json"
DAMAGED_SUFFIX = ".damaged"


def read_metrics_checked(run_dir: Path) -> tuple[dict[str, Any], str | None]:
    """``(metrics, problem)``: the metrics recorded so far (empty when none), and what is
    wrong with an existing ``metrics.json`` that cannot be read (``None`` when it is fine
    or absent)."""
    path = run_dir / METRICS_FILE
    try:
        text = path.read_text(encoding="utf-8")
    except (FileNotFoundError, NotADirectoryError):  # no record (yet): nothing is wrong
        return {}, None
    except (OSError, ValueError) as exc:  # a folder, no permission, not UTF-8
        return {}, f"cannot be read ({_reason(exc)})"
    try:
        data = json.loads(text)
    except RecursionError:
        return {}, "nested too deeply"
    except ValueError as exc:
        return {}, f"not valid JSON ({_reason(exc)}; truncated?)"
    if not isinstance(data, dict):
        return {}, f"holds a {type(data).__name__}, not a record"
    return data, None


def _reason(exc: BaseException) -> str:
    return str(getattr(exc, "strerror", None) or exc).splitlines()[0][:120]


def read_metrics(run_dir: Path) -> dict[str, Any]:
    """The metrics recorded so far (empty when none, or when the file is unreadable)."""
    return read_metrics_checked(run_dir)[0]


def update_metrics(run_dir: Path, values: dict[str, Any]) -> dict[str, Any]:
    """Merge ``values`` into ``metrics.json`` (top-level keys replace) and return the result.

    An existing ``metrics.json`` that cannot be read is first moved aside to
    ``metrics.json.damaged`` (one warning line), so the figures it may still hold (the
    training results) are never overwritten unseen.
    """
    merged, problem = read_metrics_checked(run_dir)
    if problem is not None:
        _move_aside(run_dir / METRICS_FILE, problem)
    merged.update(values)
    atomic.write_json(run_dir / METRICS_FILE, merged)
    return merged


LAST_SUCCESS_FILE = "metrics.last-ok.json"
"""A copy of the last successful ``metrics.json``, made as a variant starts and put back
when the run fails (:func:`restore_last_success`)."""


def keep_last_success(run_dir: Path) -> None:
    """Copy a successful ``metrics.json`` aside before a run starts rewriting it."""
    metrics = read_metrics(run_dir)
    if metrics.get("status") == "ok":
        atomic.write_json(run_dir / LAST_SUCCESS_FILE, metrics)


def restore_last_success(run_dir: Path, error: str) -> dict[str, Any] | None:
    """After a failed run, put the last successful record back with the failure beside it
    (``last_failure``: the message and when) and return it; ``None`` when the variant never
    succeeded or the run folder cannot be written (the caller records the failure)."""
    import time

    try:
        earlier = json.loads((run_dir / LAST_SUCCESS_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError, RecursionError):
        return None
    if not isinstance(earlier, dict) or earlier.get("status") != "ok":
        return None
    earlier["last_failure"] = {"error": error, "at": time.strftime("%Y-%m-%d %H:%M:%S")}
    try:
        atomic.write_json(run_dir / METRICS_FILE, earlier)
    except (OSError, ValueError):
        return None
    return earlier


def _move_aside(path: Path, problem: str) -> None:
    from kara_core.console import print_warning

    damaged = path.with_name(path.name + DAMAGED_SUFFIX)
    try:
        os.replace(path, damaged)
    except OSError as exc:
        print_warning(f"{path}: {problem}, and it cannot be moved aside ({_reason(exc)}); "
                      "it is replaced by a record without its figures")
        return
    print_warning(f"{path}: {problem}; moved to {damaged.name}, and a new record is started "
                  "('kara train' records the training results again)")


def training_history(run_dir: Path, metrics: dict[str, Any]) -> dict[str, list[float]]:
    """Per-epoch losses recorded by training: ``metrics["history"]`` or ``history.json``."""
    history = metrics.get("history")
    if not isinstance(history, dict):
        try:
            history = json.loads((run_dir / "history.json").read_text(encoding="utf-8"))
        except (FileNotFoundError, json.JSONDecodeError, UnicodeDecodeError):
            return {}
    if not isinstance(history, dict):
        return {}
    return {
        str(k): [float(x) for x in v] for k, v in history.items()
        if isinstance(v, list) and v and all(isinstance(x, int | float) for x in v)
    }


def remove_stale_clips(run_dir: Path, count: int) -> None:
    """Remove ``generated-N.wav`` left by an earlier run with more prompts than this one."""
    import re

    for path in run_dir.glob("generated-*.wav"):
        match = re.fullmatch(r"generated-(\d+)\.wav", path.name)
        if match and int(match.group(1)) > count:
            path.unlink(missing_ok=True)


MODEL_FIGURES = (
    "train_loss", "val_loss", "baselines", "skill", "skill_vs_mean", "heldout",
    "epochs_completed", "resumed_from_epoch", "history", "training", "roundtrip",
    "generation", "evaluation", "music",
)
"""What a record says about the trained model and the audio it made."""


def forget_model(run_dir: Path) -> None:
    """Before the model a record describes is deleted (``--rebuild``, a changed
    architecture): drop the figures that describe it and mark the record ``training``, so
    a rebuild that fails or is interrupted never leaves an ``ok`` record of a model that
    is gone. Nothing is written when there is no record. The copy of the last successful
    record (:func:`keep_last_success`) goes too: a failed rebuild must not put back the
    figures of the deleted model."""
    (run_dir / LAST_SUCCESS_FILE).unlink(missing_ok=True)
    merged, problem = read_metrics_checked(run_dir)
    if problem is not None or not merged:
        return
    kept = {k: v for k, v in merged.items() if k not in MODEL_FIGURES}
    kept.update(status="training", error=None)
    atomic.write_json(run_dir / METRICS_FILE, kept)
