"""Training checkpoints: one folder per saved epoch, switched in atomically.

Layout under ``<run_dir>/checkpoints/``::

    epoch-00007/          the model's save_state() plus checkpoint.json (epoch, history,
                          early-stopping counters, architecture signature, data identity)
    latest.json           {"dir": "epoch-00007", ...}: where a resumed run starts
    best.json             {"dir": "epoch-00005", ...}: the lowest val_loss so far

A checkpoint is written into a temporary folder, renamed to ``epoch-NNNNN`` and only then
named by ``latest.json`` (an atomic file replace), so a ``kill -9`` at any moment leaves
the previous checkpoint intact. Folders named by neither pointer are removed.
"""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kara_core.storage import atomic

if TYPE_CHECKING:
    from kara_core.components import Model

STATE_FILE = "checkpoint.json"
LATEST = "latest.json"
BEST = "best.json"


@dataclass(frozen=True)
class Checkpoint:
    """A saved epoch: its folder and the training state recorded with it."""

    directory: Path
    state: dict[str, Any]

    @property
    def epoch(self) -> int:
        """Epochs completed when it was written."""
        return int(self.state.get("epoch", 0))


class CheckpointStore:
    """The checkpoints of one run folder."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def _read(self, pointer: str) -> Checkpoint | None:
        try:
            data = json.loads((self.root / pointer).read_text(encoding="utf-8"))
            folder = self.root / str(data["dir"])
            state = json.loads((folder / STATE_FILE).read_text(encoding="utf-8"))
        except (OSError, ValueError, KeyError, TypeError):
            return None
        return Checkpoint(folder, state) if isinstance(state, dict) else None

    def latest(self) -> Checkpoint | None:
        """The newest complete checkpoint (the pointer, else the highest epoch folder)."""
        found = self._read(LATEST)
        if found is not None:
            return found
        best: Checkpoint | None = None
        for folder in sorted(self.root.glob("epoch-*")):
            try:
                state = json.loads((folder / STATE_FILE).read_text(encoding="utf-8"))
            except (OSError, ValueError):
                continue
            if isinstance(state, dict) and (best is None or state.get("epoch", 0) > best.epoch):
                best = Checkpoint(folder, state)
        return best

    def best(self) -> Checkpoint | None:
        """The checkpoint with the lowest validation loss (else the latest)."""
        return self._read(BEST) or self.latest()

    def save(self, model: Model, state: dict[str, Any], *, is_best: bool) -> Checkpoint:
        """Write ``model.save_state()`` and ``state`` as epoch ``state["epoch"]``."""
        self.root.mkdir(parents=True, exist_ok=True)
        name = f"epoch-{int(state['epoch']):05d}"
        tmp = self.root / f"{atomic.TEMP_MARK}{name}-{os.getpid()}"
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir()
        try:
            model.save_state(tmp)
            atomic.write_json(tmp / STATE_FILE, state)
            final = self.root / name
            shutil.rmtree(final, ignore_errors=True)
            os.rename(tmp, final)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        pointer = {"dir": name, "epoch": state["epoch"], "val_loss": state.get("val_loss")}
        if is_best:
            atomic.write_json(self.root / BEST, pointer)
        atomic.write_json(self.root / LATEST, pointer)
        self.prune()
        return Checkpoint(final, state)

    def mark(self, checkpoint: Checkpoint, **fields: Any) -> Checkpoint:
        """Add ``fields`` to a checkpoint's recorded state (e.g. ``finished=True``)."""
        state = {**checkpoint.state, **fields}
        atomic.write_json(checkpoint.directory / STATE_FILE, state)
        return Checkpoint(checkpoint.directory, state)

    def prune(self) -> None:
        """Remove epoch folders named by neither pointer, and temporaries of killed runs."""
        keep = set()
        for pointer in (LATEST, BEST):
            found = self._read(pointer)
            if found is not None:
                keep.add(found.directory.name)
        for folder in self.root.iterdir() if self.root.is_dir() else ():
            stale = folder.name.startswith(atomic.TEMP_MARK) and folder.is_dir()
            if stale or (folder.name.startswith("epoch-") and folder.name not in keep):
                if stale and folder.name.endswith(f"-{os.getpid()}"):
                    continue
                shutil.rmtree(folder, ignore_errors=True)

    def clear(self) -> None:
        """Forget every checkpoint (``--rebuild``, or a changed architecture)."""
        for pointer in (LATEST, BEST):
            (self.root / pointer).unlink(missing_ok=True)
        if self.root.is_dir():
            for folder in self.root.iterdir():
                if folder.is_dir() and (
                    folder.name.startswith("epoch-") or folder.name.startswith(atomic.TEMP_MARK)
                ):
                    shutil.rmtree(folder, ignore_errors=True)
        atomic.clean_stale_temps(self.root)


def export_model(model: Model, destination: Path, record: dict[str, Any]) -> None:
    """Save ``model`` to ``destination`` through a temporary folder swapped in at the end;
    ``record`` (signature, data identity, epochs) goes to ``kara-model.json`` inside."""
    destination.parent.mkdir(parents=True, exist_ok=True)
    tmp = destination.parent / f"{atomic.TEMP_MARK}{destination.name}-{os.getpid()}"
    old = destination.parent / f"{atomic.TEMP_MARK}{destination.name}-old-{os.getpid()}"
    for folder in (tmp, old):
        shutil.rmtree(folder, ignore_errors=True)
    tmp.mkdir()
    try:
        model.save(tmp)
        atomic.write_json(tmp / MODEL_RECORD, record)
        if destination.exists():
            os.rename(destination, old)
        os.rename(tmp, destination)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
        shutil.rmtree(old, ignore_errors=True)


MODEL_RECORD = "kara-model.json"


def read_model_record(directory: Path) -> dict[str, Any] | None:
    """The record written by :func:`export_model`, or ``None`` when absent or unreadable."""
    try:
        data = json.loads((directory / MODEL_RECORD).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None
