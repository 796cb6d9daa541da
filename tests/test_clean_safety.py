"""``kara clean --yes`` deletes only what Kara wrote and can prove it wrote (issue 22, 1-3).

A fake home folder full of look-alikes (a user's project with ``checkpoints/``, a paper
with ``metrics.json`` and ``config.resolved.yaml``, a cache-named folder of notes), symbolic
links into the user's files and the user's own files inside Kara's folders: after
``kara clean --yes`` every byte of the user's is still there, and only Kara's files are gone.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from kara_core.storage import atomic, owned
from tests.support.cli import write_yaml

CONFIG = """\
name: demo
dataset: {{mp3_dir: {home}/music, wav_dir: {home}/kara/wav, cache_dir: {home}/kara/cache}}
runs_dir: {home}/kara/runs
decoder: {{type: soundfile}}
transform: {{type: raw, options: {{frame_size: 64}}}}
model: {{type: persistence}}
"""


def kara_wrote(folder: Path, kind: str, files: dict[str, bytes]) -> Path:
    """A folder as Kara leaves it: claimed, then written through atomic writes."""
    folder.mkdir(parents=True, exist_ok=True)
    owned.claim(folder, kind, f"kara test {kind}")
    for name, data in files.items():
        atomic.write_bytes(folder / name, data)
    return folder


def user_files(root: Path) -> dict[str, bytes | str]:
    """Every file and link under ``root`` (links by target), for a before/after compare."""
    found: dict[str, bytes | str] = {}
    for top, dirs, files in os.walk(root):
        for name in files + [d for d in dirs if os.path.islink(os.path.join(top, d))]:
            path = Path(top) / name
            key = str(path.relative_to(root))
            found[key] = ("-> " + os.readlink(path)) if path.is_symlink() else path.read_bytes()
    return found


@pytest.fixture
def home(tmp_path, monkeypatch):
    home = tmp_path / "home"
    monkeypatch.setenv("HOME", str(home))
    # the user's own things, outside Kara's folders
    (home / "code" / "ml-project" / "src").mkdir(parents=True)
    (home / "code" / "ml-project" / "src" / "train.py").write_text("print('mine')\n")
    (home / "code" / "ml-project" / "checkpoints").mkdir()
    (home / "code" / "ml-project" / "checkpoints" / "model.pt").write_bytes(b"weights")
    (home / "photos").mkdir()
    (home / "photos" / "cat.jpg").write_bytes(b"\xff\xd8cat")
    (home / "precious.txt").write_text("do not lose\n")
    (home / "music").mkdir()
    kara = home / "kara"
    # look-alikes inside Kara's folders that Kara did not write
    (kara / "runs" / "work" / "paper").mkdir(parents=True)
    (kara / "runs" / "work" / "paper" / "metrics.json").write_text('{"accuracy": 0.9}')
    (kara / "runs" / "work" / "paper" / "config.resolved.yaml").write_text("lr: 1\n")
    (kara / "runs" / "code" / "ml-project" / "checkpoints").mkdir(parents=True)
    (kara / "runs" / "code" / "ml-project" / "checkpoints" / "model.pt").write_bytes(b"w")
    (kara / "cache" / "mel-0123456789abcdef").mkdir(parents=True)
    (kara / "cache" / "mel-0123456789abcdef" / "notes.txt").write_text("my notes\n")
    # symbolic links to the user's folders, named like Kara's
    os.symlink(home / "photos", kara / "cache" / "stft-aaaaaaaaaaaaaaaa")
    os.symlink(home / "code" / "ml-project", kara / "runs" / "demo-linked")
    (kara / "runs" / "demo").mkdir()
    os.symlink(home / "code", kara / "runs" / "demo" / "linked")
    return home


def test_clean_yes_in_a_home_full_of_look_alikes_deletes_only_what_kara_wrote(home, kara):
    runs, cache = home / "kara" / "runs", home / "kara" / "cache"
    # what Kara wrote: an old run, with a user's note inside and a file the user replaced
    old_run = kara_wrote(runs / "demo" / "old", "run", {
        "metrics.json": b'{"status": "ok"}', "generated.wav": b"RIFF" + b"\0" * 100,
        "checkpoints/epoch-00001/weights.bin": b"\1" * 50,
        "replaced.txt": b"kara wrote this", "linked.txt": b"kara wrote this too",
    })
    (old_run / "mynotes.txt").write_text("my notes about this run\n")
    (old_run / "replaced.txt").write_text("the user wrote over it, longer than before\n")
    (old_run / "linked.txt").unlink()
    os.symlink(home / "precious.txt", old_run / "linked.txt")
    old_cache = kara_wrote(cache / "stft-fedcba9876543210", "cache", {
        "song-0123456789abcdef.npy": b"\0" * 256, "key.json": b"{}"})
    gone_run = kara_wrote(runs / "demo" / "fft", "run", {"metrics.json": b"{}",
                                                         "report.html": b"<html>"})
    (home / "project").mkdir()
    config = write_yaml(home / "project", CONFIG.format(home=home))
    before = user_files(home)

    result = kara("clean", str(config), "--yes")

    after = user_files(home)
    kara_files = {k for k in before if k.startswith(("kara/runs/demo/old/", "kara/runs/demo/fft/",
                                                     "kara/cache/stft-fedcba"))}
    mine = {k: v for k, v in before.items() if k not in kara_files}
    for name in ("mynotes.txt", "replaced.txt", "linked.txt"):
        mine[f"kara/runs/demo/old/{name}"] = before[f"kara/runs/demo/old/{name}"]
    assert {k: after.get(k) for k in mine} == mine, "a file Kara did not write was changed"
    assert not gone_run.exists() and not old_cache.exists()
    assert not (old_run / "metrics.json").exists() and not (old_run / "checkpoints").exists()
    assert not (old_run / "generated.wav").exists()
    assert sorted(os.listdir(home / "photos")) == ["cat.jpg"], "a lock was written through a link"
    assert result.returncode == 1, result.stderr
    assert "Traceback" not in result.stderr
    assert f"{old_run}: removed what Kara wrote; left 3 file(s)" in result.stderr
    for look_alike in (runs / "work" / "paper", runs / "code" / "ml-project",
                       cache / "mel-0123456789abcdef"):
        assert f"{look_alike}: looks like a Kara" in result.stderr


def test_old_run_folders_without_a_record_are_listed_unproven_and_kept(tmp_path, kara):
    config = write_yaml(tmp_path, CONFIG.format(home=tmp_path))
    old = tmp_path / "kara" / "runs" / "demo" / "fft"
    old.mkdir(parents=True)
    (old / "metrics.json").write_text('{"status": "ok"}')
    listed = kara("clean", str(config), "--json")
    assert json.loads(listed.stdout)["unproven"] == [
        {"kind": "run", "path": str(old), "bytes": 16}]
    assert json.loads(listed.stdout)["unused"] == []
    removed = kara("clean", str(config), "--yes")
    assert removed.returncode == 0 and (old / "metrics.json").exists()
    assert "carries no record of what Kara wrote" in removed.stderr
    assert "delete it yourself" in removed.stderr


def test_clean_skips_a_cache_a_running_command_reads(tmp_path, kara):
    import subprocess
    import sys

    config = write_yaml(tmp_path, CONFIG.format(home=tmp_path))
    read = kara_wrote(tmp_path / "kara" / "cache" / "mel-0123456789abcdef", "cache",
                      {"song.npy": b"\0" * 64})
    reader = subprocess.Popen(
        [sys.executable, "-c",
         "import sys, time; from pathlib import Path\n"
         "from kara_core.storage.locks import in_use\n"
         "with in_use(Path(sys.argv[1])):\n"
         "    print('reading', flush=True); time.sleep(60)\n", str(read)],
        stdout=subprocess.PIPE, text=True,
    )
    try:
        assert reader.stdout is not None and reader.stdout.readline().strip() == "reading"
        result = kara("clean", str(config), "--yes")
    finally:
        reader.kill()
        reader.wait()
    assert result.returncode == 1
    assert f"{read}: in use by a running kara process that reads it; left" in result.stderr
    assert (read / "song.npy").exists()
    assert kara("clean", str(config), "--yes").returncode == 0
    assert not read.exists()


def test_a_torn_journal_line_leaves_its_file(tmp_path):
    from kara_core.pipeline.housekeeping import Unused, remove

    folder = kara_wrote(tmp_path / "runs" / "demo" / "old", "run", {"a.txt": b"a", "b.txt": b"b"})
    journal = folder / owned.JOURNAL
    journal.write_bytes(journal.read_bytes()[:-5])  # killed mid-line: b.txt is not proven
    done = remove(Unused("run", folder, 2))
    assert not (folder / "a.txt").exists()
    assert (folder / "b.txt").read_bytes() == b"b" and done.left == [folder / "b.txt"]


def test_a_cache_dir_that_is_itself_a_link_is_cleaned_inside(tmp_path, kara):
    """The folder the config names may be a link (to another disk): it is followed, the
    links inside it are not."""
    disk = tmp_path / "other-disk" / "cache"
    old = kara_wrote(disk / "stft-fedcba9876543210", "cache", {"a.npy": b"\0" * 10})
    (tmp_path / "kara").mkdir()
    os.symlink(disk, tmp_path / "kara" / "cache")
    config = write_yaml(tmp_path, CONFIG.format(home=tmp_path))
    (tmp_path / "music").mkdir()
    result = kara("clean", str(config), "--yes")
    assert result.returncode == 0, result.stderr
    assert not old.exists() and disk.is_dir()


def test_clean_removes_a_real_feature_cache_whole(tmp_path, kara):
    """Every file featurize writes (frames, sidecars, key, statistics, record) is recorded
    as Kara's: a cache no config uses any more goes entirely."""
    from kara_core.pipeline.parts import featurize
    from tests.support.training import variant_of, write_config, write_songs

    songs = write_songs(tmp_path, count=3, seconds=1.0)
    features = featurize(variant_of(write_config(tmp_path)), songs, show_progress=False)
    other = tmp_path / "other.yaml"
    other.write_text(write_config(tmp_path).read_text().replace("frame_size: 64",
                                                                 "frame_size: 32"))
    assert len(list(features.directory.glob("*.npy"))) == 3
    result = kara("clean", str(other), "--yes")
    assert result.returncode == 0, result.stderr
    assert "left" not in result.stderr and not features.directory.exists()
