"""``kara prepare`` against a flaky machine and a hostile user: a decoder that hangs, wavs
damaged after they were written, two configs sharing one wav_dir, files swapped in place.

Each test here failed before the fix it guards (issue 13)."""

from __future__ import annotations

import contextlib
import json
import os
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import soundfile as sf

from kara_core.config import VariantConfig, load_config
from kara_core.errors import DecodeError, KaraError
from kara_core.pipeline.parts import run_prepare
from kara_core.plugins import get_plugin_manager
from tests.support.audio import lame_mp3, need_lame, sf_mp3, signal
from tests.support.cli import write_yaml


def config(folder: Path, decoder: str = "lame", fallback: str | None = "soundfile",
           mp3: str = "mp3", wav: str = "wav", name: str = "kara.yaml") -> VariantConfig:
    fb = f", fallback: {fallback}" if fallback else ""
    text = (
        "name: t\n"
        f"dataset: {{mp3_dir: {mp3}, wav_dir: {wav}, sample_rate: 22050}}\n"
        f"decoder: {{type: {decoder}{fb}}}\n"
        "transform: {type: raw}\nmodel: {type: persistence}\n"
    )
    return load_config(write_yaml(folder, text, name), get_plugin_manager().registry).base


def manifest(wav_dir: Path) -> dict[str, dict[str, Any]]:
    data = json.loads((wav_dir / "manifest.json").read_text())
    return {entry["source"]: entry for entry in data["files"]}


def statuses(report: Any) -> dict[str, str]:
    return {f["source"]: f["status"] for f in report.files}


# --------------------------------------------------------------------------- a hanging lame


@pytest.fixture
def flaky_lame(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, Path]:
    """A ``lame`` first on PATH that is the real one, except while ``hang`` exists: then it
    is a wrapper script whose child (not exec'd) sleeps with lame's stdout open."""
    real = need_lame()
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    hang, pidfile = tmp_path / "hang", tmp_path / "child.pid"
    script = bin_dir / "lame"
    script.write_text(
        "#!/bin/sh\n"
        f'if [ "$1" = "--version" ]; then exec "{real}" "$@"; fi\n'
        f'if [ -e "{hang}" ]; then sleep 300 & echo $! > "{pidfile}"; wait; exit 1; fi\n'
        f'exec "{real}" "$@"\n'
    )
    script.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setattr("kara_lame.decoder.BASE_TIMEOUT_S", 1.0)
    monkeypatch.setattr("kara_lame.decoder.BYTES_PER_TIMEOUT_S", 10**12)
    yield {"hang": hang, "pidfile": pidfile}
    if pidfile.exists():  # never leave a sleeper behind, whatever the outcome
        with contextlib.suppress(ProcessLookupError, ValueError):
            os.kill(int(pidfile.read_text()), 9)


def alive(pid: int) -> bool:
    """Running (a zombie waiting for init to reap it counts as dead)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, IndexError):
        return False
    return state not in ("Z", "X")


def test_decode_timeout_kills_the_wrapper_and_its_child(tmp_path: Path, flaky_lame) -> None:
    from kara_lame.decoder import LameDecoder

    song = lame_mp3(tmp_path / "song.mp3", signal(1.0, 22050), 22050, "-b", "64")
    flaky_lame["hang"].touch()
    outcome: dict[str, Any] = {}

    def decode() -> None:
        try:
            LameDecoder().decode(song)
        except DecodeError as exc:
            outcome["error"] = exc

    started = time.monotonic()
    worker = threading.Thread(target=decode, daemon=True)
    worker.start()
    worker.join(20)
    assert not worker.is_alive(), "lame's child kept the pipe open: the decode hung"
    assert time.monotonic() - started < 15
    assert "did not finish within 1 s" in str(outcome["error"])
    assert getattr(outcome["error"], "transient", False)
    child = int(flaky_lame["pidfile"].read_text())
    deadline = time.monotonic() + 5
    while alive(child) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not alive(child), "the wrapper's child outlived the timeout"


def test_files_the_fallback_decoded_are_retried_with_lame_once_it_works(
    tmp_path: Path, flaky_lame
) -> None:
    for number in range(2):
        lame_mp3(tmp_path / "mp3" / f"song{number}.mp3", signal(1.0, 22050, seed=number),
                 22050, "-b", "64")
    v = config(tmp_path)
    flaky_lame["hang"].touch()
    first = run_prepare(v, workers=1, show_progress=False)
    assert set(statuses(first).values()) == {"decoded"}
    warnings = [w for f in first.files for w in f["warnings"]]
    assert len(warnings) == 2 and all("tried again on the next run" in w for w in warnings)
    assert {e["decoder"] for e in manifest(v.dataset.wav_dir).values()} == {"soundfile"}

    flaky_lame["hang"].unlink()  # lame works again
    second = run_prepare(v, workers=1, show_progress=False)
    assert set(statuses(second).values()) == {"decoded"}, statuses(second)
    entries = manifest(v.dataset.wav_dir)
    assert {e["decoder"] for e in entries.values()} == {"lame"}
    assert not any(e["retry_primary"] for e in entries.values())
    third = run_prepare(v, workers=1, show_progress=False)
    assert set(statuses(third).values()) == {"cached"}


def test_a_file_lame_cannot_decode_is_not_retried_every_run(tmp_path: Path) -> None:
    """A deterministic failure (not the tool's) stays with the fallback: no decode per run."""
    need_lame()
    sf_mp3(tmp_path / "mp3" / "a.mp3", signal(1.0, 22050), 22050)
    v = config(tmp_path)
    run_prepare(v, workers=1, show_progress=False)
    entry = manifest(v.dataset.wav_dir)["a.mp3"]
    entry["decoder"] = "soundfile"  # as if lame had failed on the file itself
    data = json.loads((v.dataset.wav_dir / "manifest.json").read_text())
    data["files"] = [entry]
    (v.dataset.wav_dir / "manifest.json").write_text(json.dumps(data))
    assert statuses(run_prepare(v, workers=1, show_progress=False)) == {"a.mp3": "cached"}


# --------------------------------------------------------------------------- wavs Kara wrote


def test_a_truncated_wav_is_decoded_again_with_a_warning(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    sf_mp3(tmp_path / "mp3" / "a.mp3", signal(3.0, 22050), 22050)
    v = config(tmp_path, decoder="soundfile", fallback=None)
    run_prepare(v, workers=1, show_progress=False)
    wav = v.dataset.wav_dir / "a.wav"
    whole = wav.read_bytes()
    with open(wav, "r+b") as handle:
        handle.truncate(len(whole) // 3)
    capsys.readouterr()
    report = run_prepare(v, workers=1, show_progress=False)
    assert statuses(report) == {"a.mp3": "decoded"}
    assert wav.read_bytes() == whole
    err = capsys.readouterr().err
    assert "a.wav" in err and "since prepare wrote it" in err


def test_a_wav_changed_in_place_keeping_its_size_is_decoded_again(tmp_path: Path) -> None:
    sf_mp3(tmp_path / "mp3" / "a.mp3", signal(3.0, 22050), 22050)
    v = config(tmp_path, decoder="soundfile", fallback=None)
    run_prepare(v, workers=1, show_progress=False)
    wav = v.dataset.wav_dir / "a.wav"
    whole = wav.read_bytes()
    wav.write_bytes(whole[:44] + bytes(len(whole) - 44))  # same size, silence
    assert statuses(run_prepare(v, workers=1, show_progress=False)) == {"a.mp3": "decoded"}
    assert wav.read_bytes() == whole
    os.utime(wav)  # touched only: the hash says it is intact
    assert statuses(run_prepare(v, workers=1, show_progress=False)) == {"a.mp3": "cached"}


def test_an_mp3_replaced_by_another_song_of_the_same_size_and_mtime(tmp_path: Path) -> None:
    mp3 = tmp_path / "mp3"
    lame_mp3(mp3 / "a.mp3", signal(2.0, 22050, seed=1), 22050, "-b", "64")  # CBR: equal sizes
    lame_mp3(tmp_path / "other.mp3", signal(2.0, 22050, seed=2), 22050, "-b", "64")
    v = config(tmp_path, decoder="soundfile", fallback=None)
    run_prepare(v, workers=1, show_progress=False)
    before = (v.dataset.wav_dir / "a.wav").read_bytes()
    st = os.stat(mp3 / "a.mp3")
    assert st.st_size == os.stat(tmp_path / "other.mp3").st_size
    os.replace(tmp_path / "other.mp3", mp3 / "a.mp3")
    os.utime(mp3 / "a.mp3", ns=(st.st_atime_ns, st.st_mtime_ns))
    assert statuses(run_prepare(v, workers=1, show_progress=False)) == {"a.mp3": "decoded"}
    assert (v.dataset.wav_dir / "a.wav").read_bytes() != before


# --------------------------------------------------------------------------- one mp3_dir


def test_a_wav_dir_belongs_to_one_mp3_dir(tmp_path: Path) -> None:
    sf_mp3(tmp_path / "one" / "a.mp3", signal(1.0, 22050), 22050)
    sf_mp3(tmp_path / "two" / "b.mp3", signal(1.0, 22050), 22050)
    first = config(tmp_path, decoder="soundfile", fallback=None, mp3="one", name="one.yaml")
    second = config(tmp_path, decoder="soundfile", fallback=None, mp3="two", name="two.yaml")
    run_prepare(first, workers=1, show_progress=False)
    data = json.loads((tmp_path / "wav" / "manifest.json").read_text())
    assert data["mp3_dir"] == str((tmp_path / "one").resolve())
    with pytest.raises(KaraError, match=r"holds the WAVs of .*one.*dataset\.wav_dir") as info:
        run_prepare(second, workers=1, show_progress=False)
    assert "\n" not in str(info.value)
    assert (tmp_path / "wav" / "a.wav").is_file()  # nothing of the first was deleted
    assert statuses(run_prepare(first, workers=1, show_progress=False)) == {"a.mp3": "cached"}


def test_orphan_wavs_of_a_killed_first_run_are_removed(tmp_path: Path) -> None:
    """A prepare killed before its first manifest save left wavs no manifest named."""
    sf_mp3(tmp_path / "mp3" / "a.mp3", signal(1.0, 22050), 22050)
    sf_mp3(tmp_path / "mp3" / "gone.mp3", signal(1.0, 22050, seed=3), 22050)
    v = config(tmp_path, decoder="soundfile", fallback=None)
    run_prepare(v, workers=1, show_progress=False)
    wav_dir = v.dataset.wav_dir
    data = json.loads((wav_dir / "manifest.json").read_text())
    # as the killed run left it: the pending list is saved, no entry is finished
    data["files"] = []
    data["pending"] = ["a.wav", "gone.wav"]
    (wav_dir / "manifest.json").write_text(json.dumps(data))
    (tmp_path / "mp3" / "gone.mp3").unlink()
    report = run_prepare(v, workers=1, show_progress=False)
    assert report.summary["removed"] == 1
    assert sorted(p.name for p in wav_dir.glob("*.wav")) == ["a.wav"]


def test_the_pending_list_is_saved_before_decoding(tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    from kara_core.pipeline.prepare import one_file

    sf_mp3(tmp_path / "mp3" / "a.mp3", signal(1.0, 22050), 22050)
    v = config(tmp_path, decoder="soundfile", fallback=None)
    seen: list[Any] = []
    real = one_file.prepare_file

    def spy(job: Any) -> Any:
        seen.append(json.loads((v.dataset.wav_dir / "manifest.json").read_text()))
        return real(job)

    monkeypatch.setattr(one_file, "prepare_file", spy)
    run_prepare(v, workers=1, show_progress=False)
    assert seen and seen[0]["pending"] == ["a.wav"]
    assert "pending" not in json.loads((v.dataset.wav_dir / "manifest.json").read_text())


# --------------------------------------------------------------------------- read-only dataset


def test_a_prepared_dataset_on_a_read_only_folder_is_usable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import errno

    sf_mp3(tmp_path / "mp3" / "a.mp3", signal(1.0, 22050), 22050)
    v = config(tmp_path, decoder="soundfile", fallback=None)
    run_prepare(v, workers=1, show_progress=False)
    before = {p.name: p.stat().st_mtime_ns for p in v.dataset.wav_dir.iterdir()}
    import builtins

    real_open = builtins.open

    def read_only(file: Any, mode: str = "r", *args: Any, **kwargs: Any) -> Any:
        if any(m in mode for m in "wax+") and str(file).startswith(str(v.dataset.wav_dir)):
            raise OSError(errno.EROFS, "Read-only file system", str(file))
        return real_open(file, mode, *args, **kwargs)

    real_os_open = os.open

    def read_only_os(file: Any, flags: int, *args: Any, **kwargs: Any) -> Any:
        writes = flags & (os.O_WRONLY | os.O_RDWR | os.O_CREAT)
        if writes and str(file).startswith(str(v.dataset.wav_dir)):
            raise OSError(errno.EROFS, "Read-only file system", str(file))
        return real_os_open(file, flags, *args, **kwargs)

    monkeypatch.setattr(builtins, "open", read_only)
    monkeypatch.setattr(os, "open", read_only_os)
    report = run_prepare(v, workers=1, show_progress=False)
    monkeypatch.undo()
    assert statuses(report) == {"a.mp3": "cached"}
    assert {p.name: p.stat().st_mtime_ns for p in v.dataset.wav_dir.iterdir()} == before


# --------------------------------------------------------------------------- names


def test_control_characters_in_file_names_are_printed_escaped(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    mp3 = tmp_path / "mp3"
    mp3.mkdir()
    (mp3 / "evil\x1b[2Jname.mp3").write_bytes(b"")  # skipped: empty
    with open(bytes(mp3) + b"/caf\xe9\x07.mp3", "wb") as handle:
        handle.write(b"")
    sf_mp3(mp3 / "good.mp3", signal(1.0, 22050), 22050)
    v = config(tmp_path, decoder="soundfile", fallback=None)
    capsys.readouterr()
    run_prepare(v, workers=1, show_progress=True)
    err = capsys.readouterr().err
    assert "\x1b" not in err and "\x07" not in err
    assert "\\x1b[2J" in err and "\\xe9" in err


def test_a_wav_written_by_prepare_matches_its_manifest(tmp_path: Path) -> None:
    import hashlib

    sf_mp3(tmp_path / "mp3" / "a.mp3", signal(1.0, 22050), 22050)
    v = config(tmp_path, decoder="soundfile", fallback=None)
    run_prepare(v, workers=1, show_progress=False)
    entry = manifest(v.dataset.wav_dir)["a.mp3"]
    data = (v.dataset.wav_dir / "a.wav").read_bytes()
    assert entry["wav_bytes"] == len(data)
    assert entry["wav_sha256"] == hashlib.sha256(data).hexdigest()
    x, rate = sf.read(v.dataset.wav_dir / "a.wav")
    assert rate == 22050 and np.isfinite(x).all()


# --------------------------------------------------------------------------- issue 22, 7


def rated(folder: Path, name: str, rate: int) -> VariantConfig:
    text = (f"name: {name}\ndataset: {{mp3_dir: mp3, wav_dir: wav, sample_rate: {rate}}}\n"
            "decoder: {type: soundfile}\ntransform: {type: raw}\nmodel: {type: persistence}\n")
    return load_config(write_yaml(folder, text, f"{name}.yaml"),
                       get_plugin_manager().registry).base


def test_two_configs_with_other_rates_never_share_a_wav_dir_silently(tmp_path: Path) -> None:
    sf_mp3(tmp_path / "mp3" / "a.mp3", signal(1.0), 22050)
    first = rated(tmp_path, "first", 22050)
    assert run_prepare(first, workers=1, show_progress=False).summary["decoded"] == 1
    first.run_dir.mkdir(parents=True)  # the first experiment has run: it still uses them
    before = (tmp_path / "wav" / "a.wav").read_bytes()
    with pytest.raises(KaraError) as info:
        run_prepare(rated(tmp_path, "second", 16000), workers=1, show_progress=False)
    message = str(info.value)
    assert "22050 Hz 1-channel WAVs of experiment" in message and "first" in message
    assert "own dataset.wav_dir" in message and "\n" not in message
    assert (tmp_path / "wav" / "a.wav").read_bytes() == before


def test_one_config_whose_rate_changed_decodes_again_saying_why(tmp_path: Path, capsys) -> None:
    sf_mp3(tmp_path / "mp3" / "a.mp3", signal(1.0), 22050)
    variant = rated(tmp_path, "one", 22050)
    run_prepare(variant, workers=1, show_progress=True)
    variant.run_dir.mkdir(parents=True)
    capsys.readouterr()
    again = run_prepare(rated(tmp_path, "one", 16000), workers=1, show_progress=True)
    assert again.summary["decoded"] == 1
    assert "holds 22050 Hz 1-channel WAVs; dataset asks 16000 Hz 1-channel: decoding every " \
        "song again" in capsys.readouterr().err


def test_a_folder_named_like_an_mp3_is_listed_as_skipped(tmp_path: Path) -> None:
    """Issue 22, 10: ``x.mp3/`` is said to be skipped, and the songs inside it are prepared."""
    sf_mp3(tmp_path / "mp3" / "album.mp3" / "song.mp3", signal(1.0), 22050)
    report = run_prepare(config(tmp_path, decoder="soundfile", fallback=None), workers=1,
                         show_progress=False)
    files = {f["source"]: f for f in report.files}
    assert files["album.mp3"]["status"] == "skipped"
    assert "a folder named like an mp3, not a file" in files["album.mp3"]["reason"]
    assert files["album.mp3/song.mp3"]["status"] == "decoded"


def test_a_one_frame_mp3_is_said_to_be_too_short_not_headerless(tmp_path: Path) -> None:
    """Issue 22, 10: it was "no frame headers found (starts with b'\\xff\\xf3...')"."""
    from kara_core.audio.mp3info import parse_header

    need_lame()
    whole = lame_mp3(tmp_path / "whole.mp3", signal(1.0), 22050, "-t", "-b", "32").read_bytes()
    first = parse_header(whole, 0)
    assert first is not None
    (tmp_path / "mp3").mkdir()
    (tmp_path / "mp3" / "one.mp3").write_bytes(whole[: first.length])
    (tmp_path / "mp3" / "one then junk.mp3").write_bytes(whole[: first.length] + b"\0" * 10)
    (tmp_path / "mp3" / "cut.mp3").write_bytes(whole[: first.length + 40])
    report = run_prepare(config(tmp_path), workers=1, show_progress=False)
    reasons = {f["source"]: f["reason"] for f in report.files}
    assert reasons == {
        "one.mp3": "too short or damaged to decode: only 1 MPEG frame (26 ms), which "
                   "decoders do not decode",
        "one then junk.mp3": "too short or damaged to decode: only 1 MPEG frame, then 10 "
                             "bytes that are not one",
        "cut.mp3": "too short or damaged to decode: only 1 MPEG frame, then a frame cut short",
    }
