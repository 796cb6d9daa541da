"""Commands given hostile input: each is one line and exit code 2, never a traceback
(issue 13, items 10, 12 and 14). Everything runs in-process; nothing needs TensorFlow."""

from __future__ import annotations

import errno
import json
import os
import stat
from pathlib import Path

import numpy as np
import pytest

from kara_core.errors import KaraError
from kara_core.storage import atomic
from tests.support.audio import lame_mp3, need_lame, signal
from tests.support.cli import write_yaml

CONFIG = """\
name: t
dataset: {mp3_dir: music, sample_rate: 8000}
decoder: {type: soundfile}
transform: {type: raw}
model: {type: persistence}
"""


def one_error_line(result) -> str:
    assert result.returncode == 2, (result.stdout, result.stderr)
    assert "Traceback" not in result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    return lines[0]


# --------------------------------------------------------------------------- compare


def write_record(folder: Path, metrics: object) -> Path:
    run = folder / "runs" / "t" / "base"
    run.mkdir(parents=True)
    (run / "metrics.json").write_text(metrics if isinstance(metrics, str)
                                      else json.dumps(metrics))
    return run


@pytest.mark.parametrize("metrics", [
    '{"variant": "base", "val_loss": ' + "9" * 400 + "}",
    '{"variant": "base", "evaluation": ' + "[" * 5000 + "]" * 5000 + "}",
    '{"variant": "base", "evaluation": ' + "[" * 50 + "1" + "]" * 50 + "}",
])
def test_compare_on_a_record_kara_did_not_write_is_one_line(kara, tmp_path, metrics):
    run = write_record(tmp_path, metrics)
    for form in ((), ("--csv",), ("--json",)):
        line = one_error_line(kara("compare", str(run), *form))
        assert "metrics.json" in line and "not a record Kara wrote" in line
        line = one_error_line(kara("compare", str(run.parent), *form))
        assert "metrics.json" in line


# --------------------------------------------------------------------------- audit, generate


@pytest.mark.parametrize("seconds", ["1e308", "1e7"])
def test_audit_seconds_out_of_range_is_a_usage_error(kara, tmp_path, seconds):
    config = write_yaml(tmp_path, CONFIG)
    result = kara("audit", str(config), "--seconds", seconds)
    assert result.returncode == 2 and "at most 1000000 seconds" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize("kind", ["folder", "fifo", "device"])
def test_generate_prompt_that_is_not_a_file_says_what_it_is(kara, tmp_path, kind):
    config = write_yaml(tmp_path, CONFIG)
    if kind == "folder":
        prompt = tmp_path / "prompts"
        prompt.mkdir()
        expected = "is a folder"
    elif kind == "fifo":
        prompt = tmp_path / "pipe.wav"
        os.mkfifo(prompt)
        expected = "not a regular file"
    else:
        prompt = Path("/dev/zero")
        expected = "not a regular file"
    line = one_error_line(kara("generate", str(config), "--prompt", str(prompt)))
    assert expected in line and "not found" not in line


def test_generate_out_into_the_music_folder_is_refused(kara, tmp_path):
    config = write_yaml(tmp_path, CONFIG)
    (tmp_path / "music").mkdir()
    line = one_error_line(kara("generate", str(config), "--out",
                               str(tmp_path / "music" / "new.mp3")))
    assert "inside dataset.mp3_dir" in line
    assert not (tmp_path / "music" / "new.mp3").exists()


def test_audit_write_audio_into_the_music_folder_is_refused(kara, tmp_path):
    config = write_yaml(tmp_path, CONFIG)
    (tmp_path / "music").mkdir()
    line = one_error_line(kara("audit", str(config), "--write-audio",
                               str(tmp_path / "music" / "audio")))
    assert "inside dataset.mp3_dir" in line
    assert not (tmp_path / "music" / "audio").exists()


def test_a_prompt_wav_with_nan_samples_is_blamed_on_the_file(tmp_path):
    import soundfile as sf

    from kara_core.audio.wav import read_mono

    wave = np.zeros(800, np.float32)
    wave[10] = np.inf
    sf.write(tmp_path / "prompt.wav", wave, 8000, subtype="FLOAT")
    with pytest.raises(KaraError, match=r"prompt\.wav: 1 of its samples are NaN or infinite"):
        read_mono(tmp_path / "prompt.wav", 8000, resample_to_rate=True)


def test_generate_out_removes_what_a_killed_out_left(tmp_path):
    from kara_core.commands.generate import _check_out
    from kara_core.config import load_config
    from kara_core.plugins import get_plugin_manager

    variant = load_config(write_yaml(tmp_path, CONFIG), get_plugin_manager().registry).base
    out = tmp_path / "mine" / "song.wav"
    out.parent.mkdir()
    left = out.parent / f"{atomic.TEMP_MARK}song.wav.abc123.wav"
    left.write_bytes(b"half")
    other = out.parent / f"{atomic.TEMP_MARK}other.wav.x.wav"
    other.write_bytes(b"someone else's")
    users = out.parent / "notes.txt"
    users.write_text("mine")
    _check_out(out, variant)
    assert not left.exists() and other.exists() and users.exists()


# --------------------------------------------------------------------------- lame, mp3 frames


def test_a_lame_version_with_non_utf8_bytes_is_read(tmp_path, monkeypatch):
    from kara_lame.decoder import lame_version

    fake = tmp_path / "bin" / "lame"
    fake.parent.mkdir()
    fake.write_bytes(b"#!/bin/sh\nprintf 'LAME \\377\\376 version 3.100 (http://x)\\n'\n")
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", f"{fake.parent}{os.pathsep}{os.environ['PATH']}")
    version = lame_version()
    assert version.startswith("LAME ") and version.endswith("version 3.100")


def test_an_mp3_cut_while_it_is_read_is_an_oserror_not_a_bug(tmp_path):
    from kara_core.audio.mp3info import probe, scan

    need_lame()
    song = lame_mp3(tmp_path / "song.mp3", signal(3.0, 22050), 22050, "-b", "64")
    info = probe(song)
    assert info is not None
    with open(song, "r+b") as handle:
        handle.truncate(song.stat().st_size // 2)
    with pytest.raises(OSError, match="shrank"):
        scan(song, info)


# --------------------------------------------------------------------------- writing


def test_atomic_writes_respect_the_umask(tmp_path):
    old = os.umask(0o022)
    try:
        mask = atomic._read_umask()
        assert mask == 0o022
        atomic.write_text(tmp_path / "a.txt", "x")
        from kara_core.audio.wav import write_wav

        write_wav(tmp_path / "a.wav", np.zeros(100, np.float32), 8000)
    finally:
        os.umask(old)
    expected = 0o666 & ~atomic._read_umask()
    for name in ("a.txt", "a.wav"):
        assert stat.S_IMODE((tmp_path / name).stat().st_mode) == expected
    assert expected == 0o644 or old != 0o022


def test_a_full_disk_while_writing_a_wav_names_the_file_and_the_cause(tmp_path, monkeypatch):
    import soundfile as sf

    from kara_core.audio import wav

    def full(*_args, **_kwargs):
        raise sf.LibsndfileError(0, prefix="System error.")

    monkeypatch.setattr(sf, "write", full)
    monkeypatch.setattr(wav, "_disk_full", lambda _path: True)
    with pytest.raises(atomic.WriteError) as info:
        wav.write_wav(tmp_path / "generated.wav", np.zeros(10, np.float32), 8000)
    message = str(info.value)
    assert message.startswith(f"{tmp_path / 'generated.wav'}: cannot write (")
    assert os.strerror(errno.ENOSPC) in message
    assert not list(tmp_path.iterdir())


def test_a_write_failure_is_a_write_error_that_is_a_kara_error(tmp_path):
    (tmp_path / "file").write_text("x")
    with pytest.raises(atomic.WriteError) as info:
        atomic.write_text(tmp_path / "file" / "below.txt", "x")
    assert isinstance(info.value, KaraError) and "cannot write" in str(info.value)


def test_text_with_a_non_utf8_name_is_written(tmp_path):
    name = os.fsdecode(b"caf\xe9")
    atomic.write_text(tmp_path / "page.html", f"<p>{name}</p>")
    assert (tmp_path / "page.html").read_bytes() == b"<p>caf\\udce9</p>"


def test_a_runs_dir_that_is_a_file_still_records_the_failure_in_one_line(tmp_path, capsys):
    import dataclasses

    from kara_core.config import load_config
    from kara_core.pipeline.experiment import _record_failure
    from kara_core.plugins import get_plugin_manager

    variant = load_config(write_yaml(tmp_path, CONFIG), get_plugin_manager().registry).base
    (tmp_path / "runs-file").write_text("not a folder")
    variant = dataclasses.replace(variant, runs_dir=tmp_path / "runs-file")
    metrics = _record_failure(variant, "cannot write the run folder")
    assert metrics == {"variant": "base", "status": "failed",
                       "error": "cannot write the run folder"}
    assert "moved" not in capsys.readouterr().err  # nothing there to move aside


@pytest.mark.parametrize(("level", "chatter"), [(None, False), ("2", False), ("0", True)])
def test_debug_keeps_tensorflows_start_up_notices_quiet(level, chatter):
    """``--debug`` brings back tracebacks, not TensorFlow's C++ notices (only
    ``TF_CPP_MIN_LOG_LEVEL=0`` asks for those)."""
    import os
    import subprocess
    import sys

    env = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
    if level is not None:
        env["TF_CPP_MIN_LOG_LEVEL"] = level
    code = "from kara_core.commands._quiet import import_tensorflow; import_tensorflow(debug=True)"
    result = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                            text=True, timeout=300, check=False)
    assert result.returncode == 0, result.stderr
    assert ("oneDNN" in result.stderr or "absl" in result.stderr) is chatter, result.stderr
