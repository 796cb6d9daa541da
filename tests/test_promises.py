"""Promises docs/guide.md and docs/reliability.md make (once the README's) that no other test
checked (issue 13, item 15).

Each test here fails when its promise breaks: resume ends where an uninterrupted run ends,
Ctrl-C in prepare keeps the manifest, a waiting process names the lock's holder, early
stopping stops, prepare never deletes outside wav_dir, WAV's siblings named ``.mp3`` are
read for what they are, a full disk is one line at the command line, and
``distribute: auto`` without ``TF_CONFIG`` trains on one device.
"""

from __future__ import annotations

import errno
import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from kara_core.config import VariantConfig, load_config
from kara_core.plugins import get_plugin_manager
from kara_core.storage import atomic
from tests.support.audio import lame_mp3, need_lame, sf_mp3, tone
from tests.support.audio import signal as music
from tests.support.cli import REPO, interruptible, write_yaml
from tests.support.training import variant_of, write_config, write_songs


def train_in(folder: Path, **kwargs):
    """Train the tiny variant of ``folder/kara.yaml`` in this process; its metrics."""
    from kara_core.pipeline.parts import featurize, train_variant

    songs = write_songs(folder)
    variant = variant_of(folder / "kara.yaml")
    return train_variant(variant, featurize(variant, songs, show_progress=False),
                         show_progress=False, **kwargs)


# --------------------------------------------------------------------------- resume

RESUME_TRAIN = ("{epochs: 3, batch_size: 32, seed: 0, distribute: none, patience: 0, "
                "judge_seconds: 1}")
KILLED_TRAINING = """
import sys
from pathlib import Path
from tests.test_promises import train_in
train_in(Path(sys.argv[1]))
"""


def test_a_resumed_run_ends_with_the_same_epochs_and_val_loss_as_an_uninterrupted_one(
    tmp_path,
):
    """docs/guide.md: "it resumes from the last checkpoint and ends with the same epochs and the
    same val loss as an uninterrupted run"."""
    whole, killed = tmp_path / "whole", tmp_path / "killed"
    for folder in (whole, killed):
        folder.mkdir()
        write_config(folder, train=RESUME_TRAIN)
    env = {**os.environ, "PYTHONPATH": str(REPO), "TF_CPP_MIN_LOG_LEVEL": "3",
           "KARA_FAULT_KILL_AT": "write:checkpoint.json:2"}  # while saving epoch 2
    result = subprocess.run([sys.executable, "-c", KILLED_TRAINING, str(killed)], cwd=REPO,
                            env=env, capture_output=True, text=True, timeout=300, check=False)
    assert result.returncode == -signal.SIGKILL, result.stderr[-3000:]
    latest = killed / "runs" / "t" / "base" / "checkpoints" / "latest.json"
    assert json.loads(latest.read_text())["epoch"] == 1

    reference = train_in(whole)
    resumed = train_in(killed)
    assert reference["resumed_from_epoch"] is None and resumed["resumed_from_epoch"] == 1
    assert resumed["epochs_completed"] == reference["epochs_completed"] == 3
    assert resumed["history"] == reference["history"]  # every epoch's loss and val_loss
    assert resumed["val_loss"] == reference["val_loss"]
    assert resumed["training"]["best_epoch"] == reference["training"]["best_epoch"]
    assert resumed["training"]["judge"]["per_epoch"] == reference["training"]["judge"][
        "per_epoch"]


# --------------------------------------------------------------------------- Ctrl-C in prepare

PREPARE_CONFIG = """\
name: p
dataset: {mp3_dir: mp3, wav_dir: wav, sample_rate: 8000}
decoder: {type: lame}
transform: {type: raw}
model: {type: persistence}
"""


def slow_lame(folder: Path, seconds: float) -> Path:
    """A folder whose ``lame`` is the real one started ``seconds`` late."""
    real = need_lame()
    bin_dir = folder / "bin"
    bin_dir.mkdir()
    script = bin_dir / "lame"
    script.write_text("#!/bin/sh\n"
                      f'if [ "$1" = "--version" ]; then exec "{real}" "$@"; fi\n'
                      f'sleep {seconds}\nexec "{real}" "$@"\n')
    script.chmod(0o755)
    return bin_dir


@pytest.mark.parametrize("workers", ["1", "2"])
def test_ctrl_c_in_prepare_saves_the_manifest_of_what_was_decoded(tmp_path, workers):
    """docs/reliability.md: "Ctrl-C stops with exit code 130 and a message naming the command that
    continues ... prepare saves its manifest before it exits"."""
    songs = 8
    for number in range(songs):
        lame_mp3(tmp_path / "mp3" / f"song{number}.mp3", music(1.0, 8000, seed=number), 8000,
                 "-b", "32")
    config = write_yaml(tmp_path, PREPARE_CONFIG)
    env = {**os.environ, "PATH": f"{slow_lame(tmp_path, 1.5)}{os.pathsep}{os.environ['PATH']}"}
    wav_dir = tmp_path / "wav"
    # Ctrl-C in a terminal reaches the whole foreground process group, workers included
    proc = subprocess.Popen([sys.executable, "-m", "kara_core", "prepare", str(config),
                             "--workers", workers], cwd=tmp_path, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True, preexec_fn=interruptible)
    try:
        # two wavs: the first song's outcome is in (the in-flight song may be lost, but
        # never half-recorded)
        deadline = time.monotonic() + 120
        while len(list(wav_dir.glob("song*.wav"))) < 2 and time.monotonic() < deadline:
            time.sleep(0.02)
        assert len(list(wav_dir.glob("song*.wav"))) >= 2, "prepare wrote no wavs"
        os.killpg(proc.pid, signal.SIGINT)
        _out, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    assert proc.returncode == 130, err[-3000:]
    assert "Traceback" not in err
    assert f"run 'kara prepare {config} --workers {workers}' to continue" in err, err
    saved = json.loads((wav_dir / "manifest.json").read_text())
    done = {e["source"] for e in saved["files"] if e["status"] == "decoded"}
    on_disk = {p.stem + ".mp3" for p in wav_dir.glob("song*.wav")}
    assert done and done == on_disk, (done, on_disk)
    assert len(done) < songs, "prepare finished before Ctrl-C: the test proves nothing"
    assert not list(tmp_path.rglob(f"{atomic.TEMP_MARK}*"))

    from kara_core.pipeline.parts import run_prepare

    report = run_prepare(load_config(config, get_plugin_manager().registry).base,
                         workers=1, show_progress=False)
    statuses = {f["source"]: f["status"] for f in report.files}
    assert {s for s, status in statuses.items() if status == "cached"} == done
    assert {s for s, status in statuses.items() if status == "decoded"} == (
        {f"song{n}.mp3" for n in range(songs)} - done)


def test_songs_decoded_while_ctrl_c_stops_prepare_are_kept_not_deleted(tmp_path, monkeypatch):
    """Ctrl-C arriving as the first song is recorded: the song another worker was decoding
    finishes while the pool shuts down; its wav is recorded in the manifest, not deleted
    as a wav nobody owns (it was, before: finished work lost)."""
    from kara_core.pipeline.parts import run_prepare
    from kara_core.pipeline.prepare import view

    for number in range(4):
        sf_mp3(tmp_path / "mp3" / f"song{number}.mp3", music(1.0, 8000, seed=number), 8000)

    def interrupted(self, job, outcome):
        raise KeyboardInterrupt

    monkeypatch.setattr(view.PrepareView, "file_done", interrupted)
    with pytest.raises(KeyboardInterrupt):
        run_prepare(prepare_variant(tmp_path), workers=2, show_progress=False)
    wav_dir = tmp_path / "wav"
    saved = json.loads((wav_dir / "manifest.json").read_text())
    done = {e["source"] for e in saved["files"] if e["status"] == "decoded"}
    assert done == {p.stem + ".mp3" for p in wav_dir.glob("*.wav")}
    assert len(done) >= 2, done  # the one recorded, and what the other worker finished


# --------------------------------------------------------------------------- locks

HOLDER = """
import sys, time
from pathlib import Path
from kara_core.storage.locks import folder_lock
with folder_lock(Path(sys.argv[1]), "kara prepare (the other one)"):
    print("locked", flush=True)
    time.sleep(60)
"""


def test_a_second_prepare_waits_saying_which_pid_and_command_hold_the_lock(tmp_path, kara):
    """docs/reliability.md: "a lock ... makes the second wait with a message naming the
    holder's pid and command"; the first one's end lets it go on."""
    sf_mp3(tmp_path / "mp3" / "a.mp3", music(1.0, 8000), 8000)
    config = write_yaml(tmp_path, PREPARE_CONFIG.replace("type: lame", "type: soundfile"))
    (tmp_path / "wav").mkdir()
    holder = subprocess.Popen([sys.executable, "-c", HOLDER, str(tmp_path / "wav")],
                              stdout=subprocess.PIPE, text=True, cwd=REPO)
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "locked"
        release = threading.Timer(1.0, holder.terminate)
        release.start()
        started = time.monotonic()
        result = kara("prepare", str(config))
        release.join()
    finally:
        holder.kill()
        holder.wait()
    assert result.returncode == 0, result.stderr
    assert time.monotonic() - started >= 0.9
    waiting = [line for line in result.stderr.splitlines() if line.startswith("waiting:")]
    assert waiting == [f"waiting: {tmp_path / 'wav'} is in use by pid {holder.pid} "
                       "(kara prepare (the other one)) ..."], result.stderr
    assert (tmp_path / "wav" / "a.wav").is_file()


# --------------------------------------------------------------------------- early stopping

FROZEN = ("{{epochs: 6, batch_size: 32, seed: 0, distribute: none, patience: {patience}, "
          "learning_rate: 0.0, judge_seconds: 1}}")


def test_early_stopping_ends_training_after_patience_epochs_without_a_new_best(tmp_path):
    """docs/guide.md: "Early stopping counts epochs without a new best". With a learning rate of
    0 no epoch after the first is better, so patience 2 stops after epoch 3 of 6; a rerun
    keeps the stopped run, and patience 0 never stops."""
    stopping = tmp_path / "stopping"
    stopping.mkdir()
    write_config(stopping, train=FROZEN.format(patience=2))
    metrics = train_in(stopping)
    assert metrics["training"]["stopped_early"] is True
    assert metrics["epochs_completed"] == 3 and len(metrics["history"]["val_loss"]) == 3
    assert metrics["training"]["best_epoch"] == 1
    assert len(set(metrics["history"]["val_loss"])) == 1  # nothing learned: no new best
    again = train_in(stopping)
    assert again["training"]["reused"] and again["epochs_completed"] == 3

    patient = tmp_path / "patient"
    patient.mkdir()
    write_config(patient, train=FROZEN.format(patience=0))
    metrics = train_in(patient)
    assert metrics["training"]["stopped_early"] is False and metrics["epochs_completed"] == 6


# --------------------------------------------------------------------------- prepare deletes

def prepare_variant(folder: Path, decoder: str = "soundfile") -> VariantConfig:
    text = PREPARE_CONFIG.replace("type: lame", f"type: {decoder}")
    return load_config(write_yaml(folder, text), get_plugin_manager().registry).base


def test_prepare_never_deletes_outside_wav_dir_whatever_the_manifest_says(tmp_path):
    """docs/reliability.md: "prepare never deletes outside wav_dir". A manifest naming wavs
    outside it (a parent path, an absolute path, a link out of it) for songs that are gone: only the
    wav_dir's own stale wav goes."""
    from kara_core.pipeline.parts import run_prepare

    for name in ("a", "b"):
        sf_mp3(tmp_path / "mp3" / f"{name}.mp3", music(1.0, 8000), 8000)
    variant = prepare_variant(tmp_path)
    run_prepare(variant, workers=1, show_progress=False)
    wav_dir = tmp_path / "wav"
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    victims = {path: path.name.encode() for path in (
        tmp_path / "victim.wav", outside / "absolute.wav", outside / "linked.wav",
        outside / "pending.wav", tmp_path / "mp3" / "music.wav")}
    for path, data in victims.items():
        path.write_bytes(data)
    (wav_dir / "link").symlink_to(outside, target_is_directory=True)
    document = json.loads((wav_dir / "manifest.json").read_text())
    model = next(e for e in document["files"] if e["source"] == "a.mp3")
    for number, wav in enumerate(["../victim.wav", str(outside / "absolute.wav"),
                                  "link/linked.wav", "../mp3/music.wav"]):
        document["files"].append({**model, "source": f"gone{number}.mp3", "wav": wav})
    document["pending"] = ["../elsewhere/pending.wav", "link/pending.wav"]
    (wav_dir / "manifest.json").write_text(json.dumps(document))
    (tmp_path / "mp3" / "b.mp3").unlink()  # its wav is stale: that one is removed

    report = run_prepare(variant, workers=1, show_progress=False)
    assert report.summary["removed"] == 1
    assert not (wav_dir / "b.wav").exists() and (wav_dir / "a.wav").is_file()
    for path, data in victims.items():
        assert path.is_file() and path.read_bytes() == data, f"{path} was deleted"


# --------------------------------------------------------------------------- other containers

@pytest.mark.parametrize(("fmt", "subtype", "name"), [
    ("FLAC", "PCM_16", "FLAC"), ("OGG", "VORBIS", "Ogg"), ("AIFF", "PCM_16", "AIFF"),
])
def test_flac_ogg_and_aiff_named_mp3_are_read_for_what_they_are(tmp_path, fmt, subtype, name):
    """docs/guide.md: "read for what they are, with a warning: WAV, FLAC, Ogg and AIFF data named
    .mp3" -- whatever the decoder (lame would make noise of them)."""
    from kara_core.pipeline.parts import run_prepare

    need_lame()
    (tmp_path / "mp3").mkdir()
    sf.write(tmp_path / "mp3" / "x.mp3", tone(2.0, 44100, 1000.0, 2), 44100, format=fmt,
             subtype=subtype)
    report = run_prepare(prepare_variant(tmp_path, decoder="lame"), workers=1,
                         show_progress=False)
    entry = report.files[0]
    assert entry["status"] == "decoded", entry
    assert entry["warnings"][0] == f"holds {name} data, not mp3; read it as {name}"
    assert abs(entry["duration_s"] - 2.0) < 0.01
    wave, rate = sf.read(tmp_path / "wav" / "x.wav", dtype="float32")
    assert rate == 8000 and abs(len(wave) - 16000) <= 80
    spectrum = np.abs(np.fft.rfft(wave * np.hanning(len(wave))))
    assert abs(np.argmax(spectrum) * rate / len(wave) - 1000.0) < 3.0


# --------------------------------------------------------------------------- disk full

def full_disk_for(monkeypatch, name: str) -> None:
    """Every atomic write of a file called ``name`` fails as on a full disk."""
    real = atomic._fsync_file

    def fsync(path: Path) -> None:
        if Path(path).name.startswith(f"{atomic.TEMP_MARK}{name}."):
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        real(path)

    monkeypatch.setattr(atomic, "_fsync_file", fsync)


@pytest.mark.parametrize("name", ["manifest.json", "new.wav"])
def test_a_full_disk_is_one_line_at_the_command_line_and_keeps_what_was_written(
    tmp_path, kara, monkeypatch, name,
):
    """docs/reliability.md: "Disk full ...: one line naming the path and the cause, no
    corrupt file, and what was written before is kept"; a wav that cannot be written is an
    error of the stage, not a song left out."""
    sf_mp3(tmp_path / "mp3" / "old.mp3", music(1.0, 8000), 8000)
    config = write_yaml(tmp_path, PREPARE_CONFIG.replace("type: lame", "type: soundfile"))
    assert kara("prepare", str(config)).returncode == 0
    wav_dir = tmp_path / "wav"
    before = {p.name: p.read_bytes() for p in wav_dir.iterdir()}
    sf_mp3(tmp_path / "mp3" / "new.mp3", music(1.0, 8000, seed=5), 8000)
    full_disk_for(monkeypatch, name)
    result = kara("prepare", str(config), "--workers", "1")
    assert result.returncode == 2, result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    errors = [line for line in lines if line.startswith("error:")]
    assert errors == [f"error: {wav_dir / name}: cannot write (No space left on device)"], lines
    assert "Traceback" not in result.stderr
    after = {p.name: p.read_bytes() for p in wav_dir.iterdir()}
    assert after["manifest.json"] == before["manifest.json"] or name == "new.wav"
    assert after["old.wav"] == before["old.wav"]
    assert not list(tmp_path.rglob(f"{atomic.TEMP_MARK}*"))
    if name == "new.wav":  # the song was not recorded as skipped: the next run decodes it
        saved = json.loads(after["manifest.json"])
        assert "new.mp3" not in {e["source"] for e in saved["files"]}
    monkeypatch.undo()
    assert kara("prepare", str(config)).returncode == 0
    assert (wav_dir / "new.wav").is_file()


# --------------------------------------------------------------------------- distribute: auto

def test_distribute_auto_without_tf_config_trains_on_one_device(tmp_path, monkeypatch):
    """docs/guide.md: "auto picks multi-worker when TF_CONFIG names several tasks, mirrored with
    several GPUs, else none"."""
    import tensorflow as tf

    from kara_core.pipeline.train import distribute

    monkeypatch.delenv("TF_CONFIG", raising=False)
    gpus = {"count": 0}
    real = tf.config.list_physical_devices

    def devices(kind=None):
        if kind == "GPU":
            return [f"/physical_device:GPU:{n}" for n in range(gpus["count"])]
        return real(kind)

    monkeypatch.setattr(tf.config, "list_physical_devices", devices)
    for count, expected in ((0, "none"), (1, "none"), (2, "mirrored")):
        gpus["count"] = count
        assert distribute.resolve("auto") == expected, count
    gpus["count"] = 0
    one_task = {"cluster": {"worker": ["localhost:1"]}, "task": {"type": "worker", "index": 0}}
    monkeypatch.setenv("TF_CONFIG", json.dumps(one_task))
    assert distribute.resolve("auto") == "none"  # one task is no cluster
    monkeypatch.delenv("TF_CONFIG")
    assert distribute.placement("auto").strategy is None

    write_config(tmp_path, train="{epochs: 1, batch_size: 32, seed: 0, distribute: auto, "
                                 "steps_per_epoch: 2, judge_seconds: 0}")
    metrics = train_in(tmp_path)
    assert metrics["training"]["distribute"] == "one device"
    assert metrics["epochs_completed"] == 1
