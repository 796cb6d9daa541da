"""Checkpoints and exported models that were damaged after Kara wrote them: verified
before use, fallen back from, said in one line (issue 13). No TensorFlow: a stand-in
model writes the files a real one would."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from kara_core.pipeline.train.checkpoints import (
    CheckpointStore,
    export_model,
    read_model_record,
)


class FakeModel:
    """Writes ``state.npz`` / ``weights.weights.h5`` holding the epoch it was saved at."""

    def __init__(self) -> None:
        self.epoch = 0
        self.loaded: str | None = None

    def save_state(self, folder: Path) -> None:
        (folder / "state.npz").write_bytes(bytes([self.epoch]) * 4096)

    def load_state(self, folder: Path) -> None:
        self.loaded = folder.name

    def save(self, folder: Path) -> None:
        (folder / "weights.weights.h5").write_bytes(b"w" * 8192)


def train(store: CheckpointStore, epochs: int, best: int) -> FakeModel:
    model = FakeModel()
    for epoch in range(1, epochs + 1):
        model.epoch = epoch
        state = {"epoch": epoch, "best_epoch": min(epoch, best), "val_loss": 1.0 / epoch}
        store.save(model, state, is_best=epoch <= best)  # type: ignore[arg-type]
    return model


def folders(store: CheckpointStore) -> list[str]:
    return sorted(p.name for p in store.root.glob("epoch-*"))


def test_a_truncated_latest_checkpoint_falls_back_to_the_previous_one(tmp_path, capsys):
    store = CheckpointStore(tmp_path / "checkpoints")
    train(store, epochs=4, best=4)
    assert folders(store) == ["epoch-00003", "epoch-00004"]  # the previous one is kept
    state = store.root / "epoch-00004" / "state.npz"
    state.write_bytes(state.read_bytes()[:100])
    capsys.readouterr()
    latest = CheckpointStore(store.root).latest()
    assert latest is not None and latest.epoch == 3
    err = capsys.readouterr().err
    assert "state.npz: 100 bytes instead of 4096; using the checkpoint of epoch 3" in err
    assert len(err.strip().splitlines()) == 1


def test_a_checkpoint_rewritten_in_place_is_not_trusted(tmp_path):
    store = CheckpointStore(tmp_path / "checkpoints")
    train(store, epochs=2, best=2)
    (store.root / "epoch-00002" / "state.npz").write_bytes(b"\0" * 4096)  # same size
    latest = CheckpointStore(store.root).latest()
    assert latest is not None and latest.epoch == 1


def test_no_intact_checkpoint_means_starting_over(tmp_path, capsys):
    store = CheckpointStore(tmp_path / "checkpoints")
    train(store, epochs=1, best=1)
    (store.root / "epoch-00001" / "state.npz").unlink()
    assert CheckpointStore(store.root).latest() is None
    assert "training starts over" in capsys.readouterr().err


def test_a_corrupt_best_json_keeps_the_best_epoch(tmp_path, capsys):
    store = CheckpointStore(tmp_path / "checkpoints")
    train(store, epochs=3, best=1)
    assert folders(store) == ["epoch-00001", "epoch-00002", "epoch-00003"]
    (store.root / "best.json").write_text('{"dir": "epoch-0')  # truncated
    store = CheckpointStore(store.root)
    model = train_more(store)
    assert "epoch-00001" in folders(store), "the best epoch was pruned"
    best = store.best()
    assert best is not None and best.epoch == 1
    assert "the best epoch (1) is taken from the latest checkpoint" in capsys.readouterr().err
    assert model.epoch == 4


def train_more(store: CheckpointStore) -> FakeModel:
    model = FakeModel()
    model.epoch = 4
    store.save(model, {"epoch": 4, "best_epoch": 1, "val_loss": 2.0},  # type: ignore[arg-type]
               is_best=False)
    return model


def test_a_truncated_exported_model_is_not_used(tmp_path, capsys):
    model_dir = tmp_path / "model"
    export_model(FakeModel(), model_dir, {"data": "x", "epoch": 3})  # type: ignore[arg-type]
    record = read_model_record(model_dir)
    assert record is not None and record["files"]["weights.weights.h5"]["bytes"] == 8192
    weights = model_dir / "weights.weights.h5"
    weights.write_bytes(weights.read_bytes()[:10])
    capsys.readouterr()
    assert read_model_record(model_dir) is None
    err = capsys.readouterr().err
    assert "weights.weights.h5: 10 bytes instead of 8192" in err and "kara train" in err


def test_records_of_older_kara_versions_are_still_read(tmp_path: Path) -> None:
    model_dir = tmp_path / "model"
    model_dir.mkdir()
    (model_dir / "kara-model.json").write_text(json.dumps({"data": "x"}))
    assert read_model_record(model_dir) == {"data": "x"}
    store = CheckpointStore(tmp_path / "checkpoints")
    folder = store.root / "epoch-00001"
    folder.mkdir(parents=True)
    (folder / "checkpoint.json").write_text(json.dumps({"epoch": 1}))
    found: Any = store.latest()
    assert found is not None and found.epoch == 1


@pytest.mark.parametrize("name", ["latest.json", "best.json"])
def test_pointers_with_paths_outside_the_store_are_ignored(tmp_path: Path, name: str) -> None:
    store = CheckpointStore(tmp_path / "checkpoints")
    train(store, epochs=2, best=2)
    (store.root / name).write_text(json.dumps({"dir": "../../elsewhere"}))
    latest = CheckpointStore(store.root).latest()
    assert latest is not None and latest.epoch == 2


def test_a_damaged_exported_model_is_said_once_and_named_as_damaged(tmp_path, capsys):
    """Issue 22, 10: ``kara generate`` read the record twice (two warnings), then said the
    variant was not trained."""
    from kara_core.errors import KaraError
    from kara_core.pipeline.parts import train_settings
    from kara_core.pipeline.train import load_trained
    from tests.support.training import variant_of, write_config

    variant = variant_of(write_config(tmp_path))
    model_dir = variant.run_dir / "model"
    export_model(FakeModel(), model_dir, {"data": "x", "epoch": 3})  # type: ignore[arg-type]
    weights = model_dir / "weights.weights.h5"
    weights.write_bytes(weights.read_bytes()[:10])
    capsys.readouterr()
    assert read_model_record(model_dir) is None
    with pytest.raises(KaraError) as info:
        load_trained(FakeModel(), None, train_settings(variant))  # type: ignore[arg-type]
    assert "exported model is damaged" in str(info.value) and "kara train" in str(info.value)
    assert "not trained yet" not in str(info.value)
    assert capsys.readouterr().err.count("10 bytes instead of 8192") == 1
