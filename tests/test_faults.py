"""Kill Kara anywhere, rerun, get the same result: nothing half-written is ever trusted.

Each test kills a real ``kara`` process with SIGKILL at a chosen moment — through the fault
points every atomic write passes (``KARA_FAULT_KILL_AT=write:<file>[:n]``), or by watching
its output folders and killing its whole process group — then reruns the command and
compares with an uninterrupted run. ``make test-long`` runs the ``slow`` variants, which kill
at many more moments.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from kara_core.storage.atomic import TEMP_MARK
from tests.support.audio import lame_mp3, need_lame
from tests.support.audio import signal as music
from tests.support.cli import interruptible, run_kara, write_yaml

RATE = 8000
CONFIG = f"""\
name: faults
dataset: {{mp3_dir: mp3, sample_rate: {RATE}, val_fraction: 0.34}}
decoder: {{type: lame}}
transform: {{type: raw, options: {{frame_size: 64}}}}
model: {{type: lstm_seq2seq, options: {{layers: 1, units: 8, input_frames: 8, output_frames: 4}}}}
train: {{epochs: 3, batch_size: 32, seed: 0, distribute: none, patience: 0}}
generate: {{seconds: 1.0, prompt_seconds: 0.5}}
"""


def make_dataset(folder: Path, songs: int = 3, seconds: float = 3.0) -> Path:
    need_lame()
    for number in range(songs):
        lame_mp3(folder / "mp3" / f"song {number}.mp3", music(seconds, RATE, seed=number),
                 RATE, "-b", "32")
    return write_yaml(folder, CONFIG)


@pytest.fixture(scope="module")
def reference(tmp_path_factory) -> Path:
    """An uninterrupted ``kara prepare`` to compare with."""
    folder = tmp_path_factory.mktemp("reference")
    config = make_dataset(folder)
    result = run_kara("prepare", str(config))
    assert result.returncode == 0, result.stderr
    return folder


def wav_contents(folder: Path) -> dict[str, np.ndarray]:
    return {
        path.relative_to(folder / "dataset" / "wav").as_posix(): sf.read(path, dtype="int16")[0]
        for path in sorted((folder / "dataset" / "wav").rglob("*.wav"))
    }


def manifest_sources(folder: Path) -> dict[str, tuple]:
    data = json.loads((folder / "dataset" / "wav" / "manifest.json").read_text())
    entries = data["files"] if isinstance(data, dict) and "files" in data else data
    if isinstance(entries, dict):
        entries = list(entries.values())
    return {e["source"]: (e["status"], e.get("sha256"), e.get("wav")) for e in entries}


def temp_files(folder: Path) -> list[str]:
    return [str(p) for p in folder.rglob(f"{TEMP_MARK}*")]


def assert_same_as_reference(folder: Path, reference: Path) -> None:
    ours, theirs = wav_contents(folder), wav_contents(reference)
    assert sorted(ours) == sorted(theirs)
    for name in ours:
        assert np.array_equal(ours[name], theirs[name]), f"{name} differs after the rerun"
    assert manifest_sources(folder) == manifest_sources(reference)
    assert temp_files(folder) == []


def kill_when(args: list[str], cwd: Path, ready, timeout: float = 300) -> int:
    """Start ``kara ARGS`` in its own process group; SIGKILL the group once ``ready()``."""
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
    proc = subprocess.Popen([sys.executable, "-m", "kara_core", *args], cwd=cwd, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    deadline = time.monotonic() + timeout
    try:
        while proc.poll() is None and time.monotonic() < deadline:
            if ready():
                os.killpg(proc.pid, signal.SIGKILL)
                break
            time.sleep(0.02)
        return proc.wait(timeout=60)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)


def test_prepare_killed_while_saving_the_manifest_reruns_to_the_same_wavs(tmp_path, reference):
    config = make_dataset(tmp_path)
    killed = run_kara("prepare", str(config), env={"KARA_FAULT_KILL_AT": "write:manifest.json"})
    assert killed.returncode == -signal.SIGKILL
    again = run_kara("prepare", str(config), "--json")
    assert again.returncode == 0, again.stderr
    assert_same_as_reference(tmp_path, reference)


def test_prepare_killed_before_a_wav_is_renamed_never_leaves_half_a_wav(tmp_path, reference):
    config = make_dataset(tmp_path)
    killed = run_kara("prepare", str(config), "--workers", "1",
                      env={"KARA_FAULT_KILL_AT": "write:song 1.wav"})
    assert killed.returncode != 0
    wav_dir = tmp_path / "dataset" / "wav"
    assert not (wav_dir / "song 1.wav").exists()
    again = run_kara("prepare", str(config), "--json")
    assert again.returncode == 0, again.stderr
    statuses = {f["source"]: f["status"] for f in json.loads(again.stdout)["files"]}
    assert statuses["song 1.mp3"] == "decoded"
    assert_same_as_reference(tmp_path, reference)


def test_training_killed_while_writing_a_checkpoint_resumes_to_the_full_epochs(tmp_path):
    config = make_dataset(tmp_path)
    killed = run_kara("train", str(config), env={"KARA_FAULT_KILL_AT": "write:checkpoint.json:2"})
    assert killed.returncode == -signal.SIGKILL
    resumed = run_kara("train", str(config), "--json")
    assert resumed.returncode == 0, resumed.stderr
    metrics = json.loads(resumed.stdout)["variants"][0]["metrics"]
    assert metrics["epochs_completed"] == 3
    assert metrics["resumed_from_epoch"] >= 1
    assert temp_files(tmp_path / "runs") == []


def test_training_killed_mid_epoch_resumes_and_finishes(tmp_path):
    config = make_dataset(tmp_path)
    checkpoints = tmp_path / "runs" / "faults" / "base" / "checkpoints"
    code = kill_when(["train", str(config)], tmp_path,
                     lambda: (checkpoints / "latest.json").exists())
    assert code == -signal.SIGKILL
    resumed = run_kara("train", str(config), "--json")
    assert resumed.returncode == 0, resumed.stderr
    metrics = json.loads(resumed.stdout)["variants"][0]["metrics"]
    assert metrics["epochs_completed"] == 3
    assert metrics["resumed_from_epoch"] >= 1


def test_run_killed_while_writing_generated_audio_completes_on_rerun(tmp_path):
    config = make_dataset(tmp_path)
    killed = run_kara("run", str(config), env={"KARA_FAULT_KILL_AT": "write:generated.wav"})
    assert killed.returncode == -signal.SIGKILL
    run_dir = tmp_path / "runs" / "faults" / "base"
    assert not (run_dir / "generated.wav").exists()
    again = run_kara("run", str(config), "--json")
    assert again.returncode == 0, again.stderr
    wave, rate = sf.read(run_dir / "generated.wav", dtype="float32")
    assert rate == RATE and len(wave) == RATE
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert metrics["epochs_completed"] == 3
    assert temp_files(tmp_path) == []


def test_ctrl_c_in_training_saves_a_checkpoint_and_says_how_to_resume(tmp_path):
    config = make_dataset(tmp_path)
    (tmp_path / "kara.yaml").write_text(
        config.read_text().replace("epochs: 3", "epochs: 200"), encoding="utf-8"
    )
    checkpoints = tmp_path / "runs" / "faults" / "base" / "checkpoints"
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
    proc = subprocess.Popen([sys.executable, "-m", "kara_core", "train", str(config)],
                            cwd=tmp_path, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, preexec_fn=interruptible)
    deadline = time.monotonic() + 300
    while not (checkpoints / "latest.json").exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    proc.send_signal(signal.SIGINT)
    _out, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err[-2000:]
    assert "Traceback" not in err
    assert "kara train" in err  # says how to resume
    pointer = json.loads((checkpoints / "latest.json").read_text())
    assert (checkpoints / pointer["dir"]).is_dir()


@pytest.mark.slow
@pytest.mark.parametrize("point", ["write:manifest.json:2", "write:song 0.wav", "write:song 2.wav"])
def test_long_prepare_kills(tmp_path, reference, point):
    config = make_dataset(tmp_path)
    killed = run_kara("prepare", str(config), "--workers", "1", env={"KARA_FAULT_KILL_AT": point})
    assert killed.returncode == -signal.SIGKILL, f"the fault {point} never fired"
    assert run_kara("prepare", str(config)).returncode == 0
    assert_same_as_reference(tmp_path, reference)


@pytest.mark.slow
@pytest.mark.parametrize("nth", [1, 2, 3, 5, 8])
def test_long_run_kills_at_every_kind_of_write(tmp_path, nth):
    config = make_dataset(tmp_path)
    killed = run_kara("run", str(config),
                      env={"KARA_FAULT_KILL_AT": f"atomic.before_rename:{nth}"})
    # the process that reached its nth write died: kara itself, or a decoding worker (whose
    # file is then decoded again in a process of its own, and skipped if that one dies too)
    assert killed.returncode == -signal.SIGKILL or "decoding process died" in killed.stderr, (
        f"atomic write {nth} was never reached: {killed.stderr[-2000:]}")
    again = run_kara("run", str(config), "--json")
    assert again.returncode == 0, again.stderr
    run_dir = tmp_path / "runs" / "faults" / "base"
    assert json.loads((run_dir / "metrics.json").read_text())["epochs_completed"] == 3
    assert (run_dir / "generated.wav").is_file()
    assert temp_files(tmp_path) == []


# --------------------------------------------------------------------------- issue 22


def test_a_rebuild_killed_never_leaves_an_ok_record_of_a_deleted_model(tmp_path):
    from kara_core.report import records

    config = make_dataset(tmp_path)
    run_dir = tmp_path / "runs" / "faults" / "base"
    assert run_kara("train", str(config)).returncode == 0
    records.update_metrics(run_dir, {"status": "ok"})  # as a finished kara run leaves it
    killed = run_kara("train", str(config), "--rebuild",
                      env={"KARA_FAULT_KILL_AT": "write:checkpoint.json"})
    assert killed.returncode == -signal.SIGKILL
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert metrics["status"] == "training" and "epochs_completed" not in metrics
    assert not (run_dir / "model").exists()
    again = run_kara("train", str(config), "--json")
    assert again.returncode == 0, again.stderr
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert metrics["status"] == "trained" and metrics["epochs_completed"] == 3


def test_clean_and_prepare_never_delete_what_a_running_run_reads(tmp_path):
    """A ``kara run`` trains while another config's ``kara clean --yes`` runs on the shared
    cache_dir and a ``kara prepare`` follows a deleted mp3: neither deletes what the run
    reads, both say so, the run finishes, and once it has, both remove what they left."""
    config = make_dataset(tmp_path)
    config.write_text(config.read_text().replace("epochs: 3", "epochs: 12"), encoding="utf-8")
    other = write_yaml(tmp_path, CONFIG.replace("name: faults", "name: other")
                       .replace("frame_size: 64", "frame_size: 32"), "other.yaml")
    checkpoints = tmp_path / "runs" / "faults" / "base" / "checkpoints"
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
    proc = subprocess.Popen([sys.executable, "-m", "kara_core", "run", str(config)],
                            cwd=tmp_path, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 300
    while not (checkpoints / "latest.json").exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    try:
        cache = next((tmp_path / "dataset" / "cache").glob("raw-*"))
        cleaned = run_kara("clean", str(other), "--yes")
        (tmp_path / "mp3" / "song 2.mp3").unlink()
        prepared = run_kara("prepare", str(config))
    finally:
        _out, err = proc.communicate(timeout=600)
    assert proc.returncode == 0, err[-3000:]
    assert proc.returncode == 0 and "Traceback" not in err
    assert f"{cache}: in use by a running kara process that reads it; left" in cleaned.stderr
    assert prepared.returncode == 0, prepared.stderr
    assert "1 WAV(s) of removed mp3s are left in place" in prepared.stderr
    wav = tmp_path / "dataset" / "wav" / "song 2.wav"
    assert wav.exists()
    # the run is over: what was left is removed now
    assert run_kara("prepare", str(config)).returncode == 0 and not wav.exists()
    assert run_kara("clean", str(other), "--yes").returncode == 0 and not cache.exists()


def test_a_failed_rebuild_never_puts_back_the_deleted_models_record(tmp_path):
    """``kara run`` keeps a copy of the last successful record to put back when the variant
    fails; a rebuild deletes that model, so its copy goes too."""
    from kara_core.report import records

    records.update_metrics(tmp_path, {"status": "ok", "val_loss": 0.5})
    records.keep_last_success(tmp_path)
    assert (tmp_path / records.LAST_SUCCESS_FILE).is_file()
    records.forget_model(tmp_path)
    assert records.restore_last_success(tmp_path, "rebuild failed") is None
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert metrics["status"] == "training" and "val_loss" not in metrics
