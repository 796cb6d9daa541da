"""``kara check`` (and every command) on where Kara's output folders lie (issue 22, 1 and 8):
a home folder or ``/`` is refused before anything is written, a folder holding files Kara
did not write is warned about, and the disk holding ``runs_dir`` is checked too."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.support.audio import sf_mp3, signal
from tests.support.cli import write_yaml

CONFIG = """\
name: t
runs_dir: {runs}
dataset: {{mp3_dir: {mp3}, wav_dir: {wav}, cache_dir: {cache}, sample_rate: 16000}}
decoder: {{type: soundfile}}
transform: {{type: raw, options: {{frame_size: 256}}}}
model: {{type: persistence}}
"""


def config(folder: Path, runs: str = "runs", wav: str = "wav", cache: str = "cache",
           mp3: str = "mp3") -> Path:
    (folder / mp3).mkdir(exist_ok=True)
    return write_yaml(folder, CONFIG.format(runs=runs, wav=wav, cache=cache, mp3=mp3))


@pytest.mark.parametrize("key", ["runs", "wav", "cache"])
@pytest.mark.parametrize("where", ["home", "root", "above home"])
def test_a_home_folder_or_root_is_refused_before_anything_is_written(
        tmp_path, kara, monkeypatch, key, where):
    home = tmp_path / "users" / "me"
    home.mkdir(parents=True)
    monkeypatch.setenv("HOME", str(home))
    project = home / "project"
    project.mkdir()
    folder = {"home": str(home), "root": "/", "above home": str(home.parent)}[where]
    path = config(project, mp3=str(tmp_path / "music"), **{key: folder})
    before = sorted(p for p in tmp_path.rglob("*"))
    for command in ("check", "clean"):
        result = kara(command, str(path))
        assert result.returncode == 2, result.stderr
        named = {"runs": "runs_dir", "wav": "dataset.wav_dir", "cache": "dataset.cache_dir"}
        assert named[key] in result.stderr and "a folder for Kara alone" in result.stderr
        assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert sorted(p for p in tmp_path.rglob("*")) == before


def test_check_warns_about_folders_holding_files_kara_did_not_write(tmp_path, kara):
    sf_mp3(tmp_path / "mp3" / "song.mp3", signal(1.0, 16000), 16000)
    path = config(tmp_path)
    (tmp_path / "runs" / "code" / "ml-project").mkdir(parents=True)
    (tmp_path / "runs" / "todo.txt").write_text("mine")
    (tmp_path / "cache").mkdir()
    (tmp_path / "cache" / "notes.txt").write_text("mine")
    (tmp_path / "wav").mkdir()
    (tmp_path / "wav" / "holiday.wav").write_bytes(b"RIFF")
    result = kara("check", str(path))
    assert result.returncode == 0, result.stderr
    for key, names in (("runs_dir", "code/ml-project, todo.txt"),
                       ("dataset.cache_dir", "notes.txt"), ("dataset.wav_dir", "holiday.wav")):
        lines = [line for line in result.stderr.splitlines() if f" {key}: " in line]
        assert len(lines) == 1, result.stderr
        assert f"({names})" in lines[0] and "Kara did not write" in lines[0]


def test_check_is_quiet_about_folders_only_kara_wrote(tmp_path, kara):
    sf_mp3(tmp_path / "mp3" / "song.mp3", signal(1.0, 16000), 16000)
    path = config(tmp_path)
    assert kara("prepare", str(path)).returncode in (0, 2)
    result = kara("check", str(path))
    assert result.returncode == 0, result.stderr
    assert "Kara did not write" not in result.stderr, result.stderr


def test_check_warns_when_the_runs_disk_has_no_room(tmp_path, kara, monkeypatch):
    sf_mp3(tmp_path / "mp3" / "song.mp3", signal(1.0, 16000), 16000)
    path = config(tmp_path)
    (tmp_path / "runs").mkdir()
    real = shutil.disk_usage

    def runs_full(where):
        usage = real(where)
        return usage._replace(free=100_000) if Path(where).name == "runs" else usage

    monkeypatch.setattr(shutil, "disk_usage", runs_full)
    result = kara("check", str(path))
    assert result.returncode == 0, result.stderr
    warning = [line for line in result.stderr.splitlines() if "not enough disk" in line]
    assert len(warning) == 1 and "runs" in warning[0] and "100.0 kB free" in warning[0], (
        result.stderr)
