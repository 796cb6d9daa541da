"""Training checkpoints: one folder per saved epoch, switched in atomically.

Layout under ``<run_dir>/checkpoints/``::

    epoch-00007/          the model's save_state() plus checkpoint.json (epoch, history,
                          early-stopping counters, architecture signature, data identity)
    latest.json           {"dir": "epoch-00007", ...}: where a resumed run starts
    best.json             {"dir": "epoch-00005", ...}: the best so far (the epoch that
                          generates best, see monitor.py; else the lowest val_loss)

A checkpoint is written into a temporary folder, renamed to ``epoch-NNNNN`` and only then
named by ``latest.json`` (an atomic file replace), so a ``kill -9`` at any moment leaves
the previous checkpoint intact. Each folder records its files' sizes and SHA-256
(``contents.json``) and is verified before it is used: a damaged latest checkpoint falls
back to the previous one (kept for that), a damaged ``best.json`` to the best epoch the
latest checkpoint records. Other folders are removed.
"""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kara_core.storage import atomic, owned

if TYPE_CHECKING:
    from kara_core.components import Model

STATE_FILE = "checkpoint.json"
CONTENTS_FILE = "contents.json"
LATEST = "latest.json"
BEST = "best.json"


def contents_of(folder: Path) -> dict[str, dict[str, Any]]:
    """Size and SHA-256 of every file under ``folder`` (what a checkpoint or an exported
    model consists of), by path relative to it."""
    found: dict[str, dict[str, Any]] = {}
    for path in sorted(folder.rglob("*")):
        if path.is_file() and path.name not in (CONTENTS_FILE, STATE_FILE, MODEL_RECORD):
            found[path.relative_to(folder).as_posix()] = {
                "bytes": path.stat().st_size, "sha256": atomic.sha256_of(path),
            }
    return found


def damage(folder: Path, recorded: Any) -> str | None:
    """What is wrong with the files of ``folder`` against ``recorded`` (from
    :func:`contents_of`), or ``None`` when every file is as written. Folders written
    before files were recorded (``recorded`` is None) are trusted."""
    if recorded is None:
        return None
    if not isinstance(recorded, dict):
        return f"{folder / CONTENTS_FILE}: unreadable"
    for name, expected in recorded.items():
        path = folder / str(name)
        try:
            size = path.stat().st_size
        except OSError:
            return f"{path}: missing"
        if not isinstance(expected, dict) or size != expected.get("bytes"):
            wanted = expected.get("bytes") if isinstance(expected, dict) else "?"
            return f"{path}: {size} bytes instead of {wanted}"
        try:
            if atomic.sha256_of(path) != expected.get("sha256"):
                return f"{path}: its content changed since it was written"
        except OSError as exc:
            return f"{path}: unreadable ({exc.strerror or exc})"
    return None


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, ValueError, RecursionError):
        return _UNREADABLE


_UNREADABLE = object()


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
    """The checkpoints of one run folder.

    Every checkpoint records its files' sizes and SHA-256 (``contents.json``) and is
    verified before use: a damaged latest checkpoint falls back to the previous one, an
    unreadable ``best.json`` to the best epoch the latest checkpoint records, each with one
    warning line.
    """

    def __init__(self, root: Path) -> None:
        self.root = root
        self._told: set[str] = set()

    def _warn(self, message: str) -> None:
        if message not in self._told:
            self._told.add(message)
            from kara_core.console import print_warning

            print_warning(message)

    def _load(self, folder: Path) -> tuple[Checkpoint | None, str | None]:
        """The verified checkpoint in ``folder``, or ``(None, what is wrong)``."""
        state = _read_json(folder / STATE_FILE)
        if state is None:
            return None, f"{folder / STATE_FILE}: missing"
        if not isinstance(state, dict):
            return None, f"{folder / STATE_FILE}: unreadable"
        contents = _read_json(folder / CONTENTS_FILE)
        problem = damage(folder, None if contents is None else
                         (contents if isinstance(contents, dict) else "unreadable"))
        if problem is not None:
            return None, problem
        return Checkpoint(folder, state), None

    def _pointer(self, pointer: str) -> str | None:
        """The folder name a pointer file names (not verified), or None."""
        data = _read_json(self.root / pointer)
        if isinstance(data, dict) and isinstance(data.get("dir"), str) and \
                data["dir"].startswith("epoch-") and "/" not in data["dir"]:
            return str(data["dir"])
        return None

    def _read(self, pointer: str) -> Checkpoint | None:
        name = self._pointer(pointer)
        if name is None:
            return None
        found, _problem = self._load(self.root / name)
        return found

    def recorded_state(self) -> dict[str, Any] | None:
        """The state ``latest.json``'s checkpoint records, read but not verified (for run
        records; training verifies before it uses a checkpoint), or ``None``."""
        name = self._pointer(LATEST)
        state = _read_json(self.root / name / STATE_FILE) if name is not None else None
        return state if isinstance(state, dict) else None

    def latest(self) -> Checkpoint | None:
        """The newest intact checkpoint: the one ``latest.json`` names, else (damaged or
        unnamed) the highest intact epoch folder, saying so."""
        name = self._pointer(LATEST)
        problem = None
        if name is not None:
            found, problem = self._load(self.root / name)
            if found is not None:
                return found
        elif (self.root / LATEST).exists():
            problem = f"{self.root / LATEST}: unreadable"
        for folder in sorted(self.root.glob("epoch-*"), reverse=True):
            if folder.name == name:
                continue
            found, _other = self._load(folder)
            if found is not None:
                if problem is not None:
                    self._warn(f"{problem}; using the checkpoint of epoch {found.epoch}")
                return found
        if problem is not None:
            self._warn(f"{problem}; no intact checkpoint is left: training starts over")
        return None

    def best(self) -> Checkpoint | None:
        """The checkpoint kept as the best; when ``best.json`` is unreadable or names a
        damaged folder, the best epoch recorded by the latest checkpoint (else the latest)."""
        found = self._read(BEST)
        if found is not None:
            return found
        latest = self.latest()
        if not (self.root / BEST).exists() or latest is None:
            return latest
        epoch = int(latest.state.get("best_epoch") or 0)
        if epoch:
            recovered, _problem = self._load(self.root / f"epoch-{epoch:05d}")
            if recovered is not None:
                self._warn(f"{self.root / BEST}: unreadable or names a damaged checkpoint; "
                           f"the best epoch ({epoch}) is taken from the latest checkpoint")
                return recovered
        self._warn(f"{self.root / BEST}: unreadable and the best epoch's checkpoint is not "
                   f"intact; using the latest (epoch {latest.epoch})")
        return latest

    def save(self, model: Model, state: dict[str, Any], *, is_best: bool) -> Checkpoint:
        """Write ``model.save_state()`` and ``state`` as epoch ``state["epoch"]``."""
        self.root.mkdir(parents=True, exist_ok=True)
        name = f"epoch-{int(state['epoch']):05d}"
        tmp = self.root / f"{atomic.TEMP_MARK}{name}-{os.getpid()}"
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir()
        try:
            model.save_state(tmp)
            atomic.write_json(tmp / CONTENTS_FILE, contents_of(tmp))
            atomic.write_json(tmp / STATE_FILE, state)
            final = self.root / name
            shutil.rmtree(final, ignore_errors=True)
            os.rename(tmp, final)
            owned.record_tree(final)
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

    def _kept(self) -> set[str]:
        """Epoch folders to keep: the latest, the one before it (the fall-back should the
        latest be damaged), and the best (from ``best.json``, else from the latest's
        record)."""
        folders = sorted(f.name for f in self.root.glob("epoch-*") if f.is_dir())
        latest = self._pointer(LATEST) or (folders[-1] if folders else None)
        keep = {latest} if latest else set()
        earlier = [f for f in folders if latest is None or f < latest]
        if earlier:
            keep.add(earlier[-1])
        best = self._pointer(BEST)
        if best is None and latest is not None:
            state = _read_json(self.root / latest / STATE_FILE)
            epoch = state.get("best_epoch") if isinstance(state, dict) else None
            best = f"epoch-{int(epoch):05d}" if isinstance(epoch, int) and epoch else None
            if best is None:  # nothing tells which is best: keep every folder
                keep.update(folders)
        if best is not None:
            keep.add(best)
        return {k for k in keep if k}

    def prune(self) -> None:
        """Remove epoch folders no longer needed (see :meth:`_kept`), and temporaries of
        killed runs."""
        keep = self._kept()
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
    ``record`` (signature, data identity, epochs) goes to ``kara-model.json`` inside, with
    the size and SHA-256 of every file :meth:`Model.save` wrote (``files``)."""
    destination.parent.mkdir(parents=True, exist_ok=True)
    tmp = destination.parent / f"{atomic.TEMP_MARK}{destination.name}-{os.getpid()}"
    old = destination.parent / f"{atomic.TEMP_MARK}{destination.name}-old-{os.getpid()}"
    for folder in (tmp, old):
        shutil.rmtree(folder, ignore_errors=True)
    tmp.mkdir()
    try:
        model.save(tmp)
        atomic.write_json(tmp / MODEL_RECORD, {**record, "files": contents_of(tmp)})
        if destination.exists():
            os.rename(destination, old)
        os.rename(tmp, destination)
        owned.record_tree(destination)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
        shutil.rmtree(old, ignore_errors=True)


MODEL_RECORD = "kara-model.json"


_told_damaged: set[str] = set()  # exported models whose damage this process has reported


def model_damage(directory: Path) -> str | None:
    """What is wrong with the files of the exported model in ``directory`` (``None`` when
    it is intact, or absent)."""
    data = _read_json(directory / MODEL_RECORD)
    if data is _UNREADABLE:
        return f"{directory / MODEL_RECORD}: unreadable"
    if not isinstance(data, dict):
        return None
    return damage(directory, data.get("files"))


def read_model_record(directory: Path) -> dict[str, Any] | None:
    """The record written by :func:`export_model`, or ``None`` when absent, unreadable, or
    when a file of the model is not what was written (one warning line, once per process:
    training exports it again from the checkpoints; :func:`model_damage` says what)."""
    data = _read_json(directory / MODEL_RECORD)
    if not isinstance(data, dict):
        return None
    problem = damage(directory, data.get("files"))
    if problem is not None:
        if problem not in _told_damaged:
            _told_damaged.add(problem)
            from kara_core.console import print_warning

            print_warning(f"{problem}; the exported model is not used ('kara train' exports "
                          "it again from the checkpoints)")
        return None
    return data
