"""``kara prepare``: a messy collection is decoded correctly, bad files never stop the
batch, reruns are incremental, and the mp3 folder is never touched."""

from __future__ import annotations

import json
import os
import shutil
import signal as signal_module
import subprocess
import sys
import time
import tracemalloc
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import soundfile as sf
from kara_soundfile.decoder import SoundfileDecoder

from kara_core.components import Decoder
from kara_core.config import VariantConfig, load_config
from kara_core.errors import ConfigError, KaraError
from kara_core.hookspecs import hookimpl
from kara_core.pipeline.parts import distinct_datasets, prepare_dataset, run_prepare
from kara_core.pipeline.prepare import NamedDecoder, PrepareReport
from kara_core.pipeline.prepare.one_file import Job, prepare_file
from kara_core.plugins import get_plugin_manager
from tests.support.audio import (
    corrupt_middle,
    id3v2,
    lame_mp3,
    layer2_stream,
    long_cbr_mp3,
    need_lame,
    sf_mp3,
    signal,
    snapshot,
    tone,
    truncate,
)
from tests.support.cli import REPO, run_kara, write_yaml


def config_text(decoder: str = "lame", fallback: str | None = None, rate: int = 22050,
                channels: int = 1, mp3: str = "mp3", wav: str = "wav") -> str:
    fb = f", fallback: {fallback}" if fallback else ""
    return (
        "name: t\n"
        f"dataset: {{mp3_dir: {mp3}, wav_dir: {wav}, sample_rate: {rate}, channels: {channels}}}\n"
        f"decoder: {{type: {decoder}{fb}}}\n"
        "transform: {type: raw}\nmodel: {type: persistence}\n"
    )


def variant(folder: Path, plugins: Any = None, **kwargs: Any) -> VariantConfig:
    path = write_yaml(folder, config_text(**kwargs))
    registry = (plugins or get_plugin_manager()).registry
    return load_config(path, registry).base


def by_source(report: PrepareReport) -> dict[str, dict[str, Any]]:
    return {f["source"]: f for f in report.files}


def wav_info(path: str | Path) -> tuple[int, int, float]:
    info = sf.info(str(path))
    return info.samplerate, info.channels, info.frames / info.samplerate


def dominant_hz(path: str | Path) -> float:
    x, rate = sf.read(str(path), dtype="float32", always_2d=True)
    x = x[:, 0]
    spectrum = np.abs(np.fft.rfft(x * np.hanning(len(x))))
    return float(np.argmax(spectrum) * rate / len(x))


# --------------------------------------------------------------------------- the collection

GOOD = {  # name -> (seconds, rate, channels, lame options or "libsndfile")
    "good/cbr 128k 44.1k stereo.mp3": (3.0, 44100, 2, ("-b", "128")),
    "good/vbr 32k mono.mp3": (3.0, 32000, 1, ("-V", "2")),
    "good/abr 48k.mp3": (3.0, 48000, 2, ("--abr", "96")),
    "good/vbr 22.05k mono.mp3": (3.0, 22050, 1, ("-V", "6")),
    "good/no lame tag.mp3": (3.0, 44100, 2, ("-b", "96", "-t")),
    "good/other encoder.mp3": (3.0, 44100, 1, "libsndfile"),
    "Ünïcödé dir/Café del Mar – näive song.mp3": (2.5, 44100, 2, ("-V", "4")),
    "LOUD UPPER.MP3": (2.5, 22050, 1, ("-b", "64")),
}


@pytest.fixture(scope="module")
def collection(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, PrepareReport, dict]:
    """A messy collection, prepared once with the default decoder chain (lame, soundfile)."""
    need_lame()
    root = tmp_path_factory.mktemp("collection")
    mp3 = root / "mp3"
    for i, (name, (seconds, rate, channels, how)) in enumerate(GOOD.items()):
        x = signal(seconds, rate, channels, seed=i)
        if how == "libsndfile":
            sf_mp3(mp3 / name, x, rate)
        else:
            lame_mp3(mp3 / name, x, rate, *how)
    cover = mp3 / "good/cover art and tags.mp3"
    plain = lame_mp3(root / "plain.mp3", signal(2.0, 44100, 2, seed=9), 44100, "-V", "3")
    cover.write_bytes(id3v2("Cover", 200_000) + plain.read_bytes() + b"TAG" + bytes(125))
    os.mkdir(bytes(mp3) + b"/latin1")
    with open(bytes(mp3) + b"/latin1/caf\xe9 old rip.mp3", "wb") as handle:  # not UTF-8
        handle.write(plain.read_bytes())
    bad = mp3 / "bad"
    bad.mkdir()
    (bad / "empty.mp3").write_bytes(b"")
    (bad / "notes.mp3").write_text("track list:\n1. intro\n2. outro\n")
    (bad / "download.mp3").write_text("<!DOCTYPE html><html><body>Not found</body></html>")
    (bad / "tag only.mp3").write_bytes(id3v2("no audio"))
    (bad / "broken link.mp3").symlink_to(root / "gone.mp3")
    (bad / "readme.txt").write_text("not an mp3 by name: ignored")
    (mp3 / "folder.mp3").mkdir()  # a directory named like an mp3
    sf.write(bad / "wav named.mp3", tone(2.0, 44100, 1000.0, 2), 44100, format="WAV")
    song = lame_mp3(root / "song.mp3", signal(8.0, 44100, 2, seed=3), 44100, "-b", "128")
    truncate(song, mp3 / "truncated.mp3")
    corrupt_middle(song, mp3 / "corrupted middle.mp3")
    (mp3 / "layer2.mp3").write_bytes(layer2_stream(200))
    lame_mp3(mp3 / "silent.mp3", np.zeros((44100 * 3, 1), np.float32), 44100, "-b", "64")
    lame_mp3(mp3 / "short.mp3", signal(1.0), 22050, "-b", "64")
    lame_mp3(mp3 / "clash/a.mp3", signal(1.0), 22050)
    lame_mp3(mp3 / "clash/a.MP3", signal(1.0), 22050)
    before = snapshot(mp3)
    report = run_prepare(variant(root, fallback="soundfile"), workers=2, show_progress=False)
    return root, report, before


def test_every_common_kind_decodes_to_the_right_duration(collection) -> None:
    _root, report, _ = collection
    files = by_source(report)
    for name, (seconds, _rate, _ch, how) in GOOD.items():
        entry = files[name]
        assert entry["status"] == "decoded", entry
        assert entry["warnings"] == [], entry
        rate, channels, duration = wav_info(entry["wav"])
        assert (rate, channels) == (22050, 1)
        # gapless (LAME tag): exact; without a tag the encoder delay stays in (< 0.1 s)
        slack = 0.1 if how in ("libsndfile",) or "-t" in how else 0.002
        assert abs(duration - seconds) < slack, (name, duration)
        assert entry["wav"].endswith(name[: -len(".mp3")] + ".wav")
    cover = files["good/cover art and tags.mp3"]
    assert cover["status"] == "decoded" and abs(cover["duration_s"] - 2.0) < 0.002
    latin = [f for f in files if f.startswith("latin1/")]
    assert len(latin) == 1 and files[latin[0]]["status"] == "decoded"


def test_bad_files_get_one_line_reasons(collection) -> None:
    _root, report, _ = collection
    files = by_source(report)
    expected = {
        "bad/empty.mp3": "empty file",
        "bad/notes.mp3": "a text file",
        "bad/download.mp3": "HTML page",
        "bad/tag only.mp3": "ID3 tag with no audio",
        "bad/broken link.mp3": "broken symbolic link",
        "folder.mp3": "a folder named like an mp3",  # listed, not ignored (issue 22)
    }
    for source, words in expected.items():
        entry = files[source]
        assert entry["status"] == "skipped" and words in entry["reason"], entry
        assert "\n" not in entry["reason"] and entry["wav"] is None
    assert "bad/readme.txt" not in files
    clash = [files["clash/a.MP3"], files["clash/a.mp3"]]
    assert sorted(e["status"] for e in clash) == ["decoded", "skipped"]
    assert "taken by" in next(e["reason"] for e in clash if e["status"] == "skipped")
    summary = report.summary
    assert summary["skipped"] == 7
    assert summary["skipped_by_reason"] == {
        "broken-link": 1, "empty": 1, "html": 1, "id3-only": 1, "name-clash": 1,
        "not-a-file": 1, "text": 1,
    }
    assert summary["decoded"] + summary["cached"] + summary["skipped"] == len(report.files)


def test_the_mp3_folder_is_never_changed(collection) -> None:
    root, _report, before = collection
    assert snapshot(root / "mp3") == before


def test_wav_named_mp3_is_read_as_wav(collection) -> None:
    entry = by_source(collection[1])["bad/wav named.mp3"]
    assert entry["status"] == "decoded"
    assert any("WAV data" in w for w in entry["warnings"])
    assert abs(entry["duration_s"] - 2.0) < 1e-3  # not a few hundred samples of noise
    assert abs(dominant_hz(entry["wav"]) - 1000.0) < 3.0


def test_truncated_file_decodes_what_is_there_with_a_warning(collection) -> None:
    entry = by_source(collection[1])["truncated.mp3"]
    assert entry["status"] == "decoded"
    assert any(w.startswith("truncated: its header promises 8.0 s") for w in entry["warnings"])
    assert 3.8 < entry["duration_s"] < 4.2


def test_corrupted_frames_are_decoded_around_by_lame_with_a_warning(collection) -> None:
    entry = by_source(collection[1])["corrupted middle.mp3"]
    assert entry["status"] == "decoded" and entry["decoder"] == "lame"
    assert any(w.startswith("damaged:") for w in entry["warnings"])
    assert 7.0 < entry["duration_s"] < 8.0  # the whole song less the damaged frames


def test_layer2_is_decoded(collection) -> None:
    root, report, _ = collection
    entry = by_source(report)["layer2.mp3"]
    assert entry["status"] == "decoded" and entry["flags"] == []
    assert abs(entry["duration_s"] - 4.8) < 0.02
    manifest = json.loads((root / "wav" / "manifest.json").read_text())
    record = next(f for f in manifest["files"] if f["source"] == "layer2.mp3")
    assert record["format"] == "MPEG-1 Layer II" and record["input_rate"] == 48000


def test_silent_and_short_are_flagged(collection) -> None:
    report = collection[1]
    files = by_source(report)
    assert files["silent.mp3"]["flags"] == ["silent"]
    assert files["short.mp3"]["flags"] == ["short"]
    trainable = {s.source for s in report.trainable}
    assert "silent.mp3" not in trainable and "short.mp3" in trainable
    songs = [s.source for s in report.songs]
    assert songs == sorted(songs) and "silent.mp3" in songs
    assert all(s.wav.is_absolute() and s.wav.is_file() for s in report.songs)


def test_manifest_records_each_source(collection) -> None:
    root, _report, _ = collection
    manifest = json.loads((root / "wav" / "manifest.json").read_text())
    record = next(f for f in manifest["files"] if f["source"] == "good/vbr 32k mono.mp3")
    for key in ("size", "mtime_ns", "sha256", "decoder", "decoder_version", "input_rate",
                "input_channels", "duration_s", "status", "reason", "warnings"):
        assert key in record
    assert record["decoder"] == "lame" and record["decoder_version"].startswith("LAME")
    assert (record["input_rate"], record["input_channels"]) == (32000, 1)
    assert record["encoder_delay"] == 576
    untagged = next(f for f in manifest["files"] if f["source"] == "good/no lame tag.mp3")
    assert untagged["encoder_delay"] is None  # the delay is kept in (docs/guide.md: encoder delay)


# --------------------------------------------------------------------------- incremental


def test_reruns_are_incremental(tmp_path: Path) -> None:
    mp3 = tmp_path / "mp3"
    for i in range(3):
        sf_mp3(mp3 / f"sub/song {i}.mp3", signal(1.5 + i, 44100, 2, seed=i), 44100)
    v = variant(tmp_path, decoder="soundfile")
    first = run_prepare(v, workers=1, show_progress=False)
    assert first.summary["decoded"] == 3
    wav = Path(by_source(first)["sub/song 1.mp3"]["wav"])
    stamp = wav.stat().st_mtime_ns
    (tmp_path / "wav" / ".kara-tmp-left-by-a-kill.wav").write_bytes(b"x")

    again = run_prepare(v, workers=1, show_progress=False)
    assert (again.summary["decoded"], again.summary["cached"]) == (0, 3)
    assert wav.stat().st_mtime_ns == stamp
    assert not (tmp_path / "wav" / ".kara-tmp-left-by-a-kill.wav").exists()

    os.utime(mp3 / "sub/song 1.mp3", ns=(time.time_ns(), time.time_ns()))  # touched only
    touched = run_prepare(v, workers=1, show_progress=False)
    assert (touched.summary["decoded"], touched.summary["cached"]) == (0, 3)
    assert wav.stat().st_mtime_ns == stamp

    sf_mp3(mp3 / "sub/song 1.mp3", signal(4.0, 44100, 2, seed=7), 44100)  # changed
    (mp3 / "sub/song 2.mp3").unlink()  # deleted
    changed = run_prepare(v, workers=1, show_progress=False)
    files = by_source(changed)
    assert files["sub/song 1.mp3"]["status"] == "decoded"
    assert abs(files["sub/song 1.mp3"]["duration_s"] - 4.0) < 0.1
    assert files["sub/song 0.mp3"]["status"] == "cached"
    assert "sub/song 2.mp3" not in files and changed.summary["removed"] == 1
    assert not (tmp_path / "wav" / "sub" / "song 2.wav").exists()

    rerated = run_prepare(variant(tmp_path, decoder="soundfile", rate=16000), workers=1,
                          show_progress=False)
    assert rerated.summary["decoded"] == 2
    assert wav_info(by_source(rerated)["sub/song 0.mp3"]["wav"])[0] == 16000

    stereo = run_prepare(variant(tmp_path, decoder="soundfile", rate=16000, channels=2),
                         workers=1, show_progress=False)
    assert stereo.summary["decoded"] == 2
    assert wav_info(by_source(stereo)["sub/song 0.mp3"]["wav"])[1] == 2

    (tmp_path / "wav" / "manifest.json").write_text("{ not json")
    recovered = run_prepare(variant(tmp_path, decoder="soundfile", rate=16000, channels=2),
                            workers=1, show_progress=False)
    assert recovered.summary["decoded"] == 2


def test_a_changed_decoder_decodes_again(tmp_path: Path) -> None:
    need_lame()
    sf_mp3(tmp_path / "mp3" / "a.mp3", signal(1.0), 22050)
    assert run_prepare(variant(tmp_path, decoder="soundfile"), show_progress=False) \
        .summary["decoded"] == 1
    report = run_prepare(variant(tmp_path, decoder="lame"), show_progress=False)
    assert report.summary["decoded"] == 1 and report.files[0]["decoder"] == "lame"


def test_a_file_that_becomes_bad_loses_its_wav(tmp_path: Path) -> None:
    sf_mp3(tmp_path / "mp3" / "a.mp3", signal(1.0), 22050)
    sf_mp3(tmp_path / "mp3" / "b.mp3", signal(1.0, seed=2), 22050)
    v = variant(tmp_path, decoder="soundfile")
    run_prepare(v, show_progress=False)
    (tmp_path / "mp3" / "a.mp3").write_bytes(b"")
    report = run_prepare(v, show_progress=False)
    assert by_source(report)["a.mp3"]["status"] == "skipped"
    assert not (tmp_path / "wav" / "a.wav").exists() and (tmp_path / "wav" / "b.wav").exists()


# --------------------------------------------------------------------------- decoders


class SilentStop(SoundfileDecoder):
    """Like mpg123 and older libsndfile: at damage it stops, returns what it has, no error."""

    name = "silentstop"

    def stream(self, path: Path, block_frames: int = 1 << 16):
        import contextlib

        from kara_core.errors import DecodeError

        @contextlib.contextmanager
        def quiet_stop():
            with super(SilentStop, self).stream(path, block_frames) as audio:
                inner = audio.blocks

                def blocks():
                    try:
                        yield from inner
                    except DecodeError:
                        return

                audio.blocks = blocks()
                yield audio

        return quiet_stop()


class SilentStopPlugin:
    @hookimpl
    def kara_register_decoders(self, register) -> None:
        register(SilentStop)


@pytest.fixture(scope="module")
def damaged(tmp_path_factory: pytest.TempPathFactory) -> Path:
    need_lame()
    root = tmp_path_factory.mktemp("damaged")
    song = lame_mp3(root / "song.mp3", signal(8.0, 44100, 2), 44100, "-b", "128")
    corrupt_middle(song, root / "mp3" / "damaged.mp3")
    return root


@pytest.mark.parametrize("decoder", ["soundfile", "silentstop"])
def test_half_a_song_is_never_kept_silently(damaged: Path, tmp_path: Path, decoder: str) -> None:
    shutil.copytree(damaged / "mp3", tmp_path / "mp3")
    plugins = get_plugin_manager(extra_plugins=(("silentstop", SilentStopPlugin()),))
    report = run_prepare(variant(tmp_path, plugins, decoder=decoder), show_progress=False)
    entry = report.files[0]
    assert entry["status"] == "skipped", entry
    assert "stopped at" in entry["reason"] and "fallback: lame" in entry["reason"]
    assert not list((tmp_path / "wav").glob("*.wav"))
    with pytest.raises(KaraError, match=r"none of the 1 mp3 file\(s\) is usable"):
        prepare_dataset(variant(tmp_path, plugins, decoder=decoder), show_progress=False)


def test_the_fallback_decodes_what_the_first_decoder_cut_short(damaged: Path,
                                                               tmp_path: Path) -> None:
    shutil.copytree(damaged / "mp3", tmp_path / "mp3")
    plugins = get_plugin_manager(extra_plugins=(("silentstop", SilentStopPlugin()),))
    v = variant(tmp_path, plugins, decoder="silentstop", fallback="lame")
    entry = run_prepare(v, show_progress=False).files[0]
    assert entry["status"] == "decoded" and entry["decoder"] == "lame"
    assert "silentstop stopped at" in entry["warnings"][0]
    assert "decoded with the fallback lame" in entry["warnings"][0]
    assert entry["duration_s"] > 7.0


def test_missing_lame_uses_the_fallback(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    sf_mp3(tmp_path / "mp3" / "a.mp3", signal(1.0), 22050)
    v = variant(tmp_path, decoder="lame", fallback="soundfile")
    monkeypatch.setenv("PATH", str(tmp_path / "empty-bin"))
    report = run_prepare(v, show_progress=False)
    assert report.files[0]["decoder"] == "soundfile"
    assert "decoding with the fallback decoder 'soundfile'" in capsys.readouterr().err


def test_encoder_delay_is_trimmed_exactly_with_a_lame_tag(tmp_path: Path) -> None:
    need_lame()
    x = signal(2.0, 22050, 1)
    lame_mp3(tmp_path / "mp3" / "tagged.mp3", x, 22050, "-b", "64")
    for decoder in ("lame", "soundfile"):
        report = run_prepare(variant(tmp_path, decoder=decoder, wav=f"wav-{decoder}"),
                             show_progress=False)
        y, _ = sf.read(report.files[0]["wav"], dtype="float32")
        assert len(y) == len(x), decoder  # same rate: no resampling, sample-exact length
        lag = np.argmax(np.correlate(y[:4000], x[:4000, 0], "full")) - 3999
        assert lag == 0, decoder


def test_resampling_keeps_pitch_and_length(tmp_path: Path) -> None:
    sf.write(tmp_path / "t.wav", tone(3.0, 48000, 1234.0, 2), 48000)
    sf_mp3(tmp_path / "mp3" / "t.mp3", tone(3.0, 48000, 1234.0, 2), 48000)
    report = run_prepare(variant(tmp_path, decoder="soundfile", rate=16000),
                         show_progress=False)
    path = report.files[0]["wav"]
    assert wav_info(path)[:2] == (16000, 1)
    assert abs(wav_info(path)[2] - 3.0) < 0.002
    assert abs(dominant_hz(path) - 1234.0) < 1.0


def test_long_file_streams_in_bounded_memory(tmp_path: Path) -> None:
    """20 minutes of 44.1 kHz stereo is 423 MB as float32; prepare must stream it."""
    source = long_cbr_mp3(tmp_path / "long.mp3", minutes=20)
    specs = _specs("lame")
    job = Job("long.mp3", source, tmp_path / "wav" / "long.wav", 22050, 1, specs)
    tracemalloc.start()
    try:
        outcome = prepare_file(job)
        _current, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert outcome.status == "decoded", outcome
    assert abs((outcome.duration_s or 0) - 1200.0) < 5.0  # + encoder delay of 120 pieces
    assert peak < 32 * 2**20, f"peak {peak / 2**20:.0f} MiB of Python/numpy memory"
    print(f"peak traced memory {peak / 2**20:.1f} MiB for 20 min of 44.1 kHz stereo")


def _specs(name: str) -> tuple:
    from kara_core.pipeline.prepare.stage import resolve_decoders

    plugins = get_plugin_manager()
    entry = plugins.registry.get("decoders", name)
    options = entry.cls.Options()  # type: ignore[attr-defined]
    return resolve_decoders([NamedDecoder(name, entry.cls(options))], lambda _m: None)


def test_unreadable_file_is_skipped(tmp_path: Path) -> None:
    """Root reads any file, so the check runs as 'nobody' through setpriv when we are root."""
    if os.geteuid() == 0 and not shutil.which("setpriv"):
        pytest.skip("running as root, which reads any file, and setpriv is not there to "
                    "run the check as 'nobody'")
    base = Path(os.environ.get("TMPDIR", "/tmp")) / f"kara-unreadable-{os.getpid()}"
    root = base if os.geteuid() == 0 else tmp_path
    try:
        (root / "mp3").mkdir(parents=True)
        sf_mp3(root / "mp3" / "ok.mp3", signal(1.0), 22050)
        secret = sf_mp3(root / "mp3" / "secret.mp3", signal(1.0), 22050)
        secret.chmod(0)
        write_yaml(root, config_text(decoder="soundfile"))
        (root / "wav").mkdir()
        prefix: list[str] = []
        if os.geteuid() == 0:
            for path in (root, root / "mp3", root / "wav", root / "mp3" / "ok.mp3",
                         root / "kara.yaml"):
                path.chmod(0o777 if path.is_dir() else 0o644)
            prefix = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"]
        import subprocess
        import sys

        env = dict(os.environ, HOME=str(root), COLUMNS="200")
        if prefix:  # 'nobody' must be able to run Kara at all, or the check means nothing
            probe = subprocess.run(
                [*prefix, sys.executable, "-c", "import kara_core.cli, numpy, soundfile"],
                cwd=root, env=env, capture_output=True, text=True, timeout=120, check=False,
            )
            if probe.returncode != 0:
                pytest.skip("user 'nobody' cannot read this checkout or its venv (a private "
                            f"folder such as mktemp's?): {probe.stderr.strip()[-200:]}")
        result = subprocess.run(
            [*prefix, sys.executable, "-m", "kara_core", "prepare", str(root / "kara.yaml"),
             "--json"],
            cwd=REPO, env=env, capture_output=True, text=True, timeout=120, check=False,
        )
        if result.returncode != 0 and "Permission denied" in result.stderr and prefix:
            pytest.skip(f"nobody cannot run the venv here: {result.stderr.strip()[-200:]}")
        assert result.returncode == 0, result.stderr
        files = {f["source"]: f for f in json.loads(result.stdout)["files"]}
        assert files["ok.mp3"]["status"] == "decoded"
        assert files["secret.mp3"]["status"] == "skipped"
        assert "Permission denied" in files["secret.mp3"]["reason"]
    finally:
        if root == base:
            shutil.rmtree(base, ignore_errors=True)


# --------------------------------------------------------------------------- layout and CLI


def test_a_missing_or_empty_dataset_is_one_error_and_changes_nothing(tmp_path: Path) -> None:
    path = write_yaml(tmp_path, config_text(decoder="soundfile"))
    result = run_kara("prepare", str(path))
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error:") and "no such folder" in lines[0]
    assert not (tmp_path / "wav").exists()
    (tmp_path / "mp3").mkdir()
    result = run_kara("prepare", str(path))
    lines = result.stderr.strip().splitlines()
    assert result.returncode == 2 and len(lines) == 1 and "no .mp3 files found" in lines[0]


def test_cli_json_strict_and_exit_codes(tmp_path: Path) -> None:
    sf_mp3(tmp_path / "mp3" / "good.mp3", signal(1.0), 22050)
    (tmp_path / "mp3" / "empty.mp3").write_bytes(b"")
    path = write_yaml(tmp_path, config_text(decoder="soundfile"))
    result = run_kara("prepare", str(path), "--json", "--workers", "2")
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert set(data) == {"files", "summary"}
    assert {"decoded", "cached", "skipped"} <= set(data["summary"])
    for record in data["files"]:
        assert {"source", "status", "reason", "warnings", "wav", "duration_s"} <= set(record)
    assert [f["status"] for f in data["files"]] == ["skipped", "decoded"]
    assert "decoding" in result.stderr  # progress went to stderr, not stdout

    strict = run_kara("prepare", str(path), "--strict")
    assert strict.returncode == 2
    assert strict.stderr.strip().splitlines()[-1].endswith("1 file(s) skipped (--strict)")

    (tmp_path / "mp3" / "good.mp3").write_bytes(b"not audio any more")
    none = run_kara("prepare", str(path))
    assert none.returncode == 2
    last = none.stderr.strip().splitlines()[-1]
    assert "none of the 2 mp3 file(s) is usable: 1 empty, 1 text" in last


def test_missing_lame_is_one_line_with_the_install_command(tmp_path: Path) -> None:
    sf_mp3(tmp_path / "mp3" / "a.mp3", signal(1.0), 22050)
    path = write_yaml(tmp_path, config_text(decoder="lame"))
    empty_bin = tmp_path / "bin"
    empty_bin.mkdir()
    result = run_kara("prepare", str(path), env={"PATH": str(empty_bin)})
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "apt-get install lame" in lines[0], result.stderr


def test_wav_dir_inside_mp3_dir_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="must not contain each other"):
        run_prepare(variant(tmp_path, decoder="soundfile", wav="mp3/wav"), show_progress=False)


def test_variants_sharing_a_wav_dir_must_agree(tmp_path: Path) -> None:
    text = config_text(decoder="soundfile") + (
        "variants:\n  same: {transform: {type: raw}}\n"
        "  slow: {dataset: {sample_rate: 16000}}\n"
    )
    registry = get_plugin_manager().registry
    experiment = load_config(write_yaml(tmp_path, text), registry)
    with pytest.raises(ConfigError, match=r"give one its own dataset\.wav_dir"):
        distinct_datasets(experiment.variants)
    ok = text.replace("slow: {dataset: {sample_rate: 16000}}",
                      "slow: {dataset: {sample_rate: 16000, wav_dir: wav16}}")
    experiment = load_config(write_yaml(tmp_path, ok), registry)
    assert [v.name for v in distinct_datasets(experiment.variants)] == ["base", "slow"]


def test_a_plugin_decoder_without_stream_still_works(tmp_path: Path) -> None:
    """Third-party decoders may implement only decode(); the default stream() wraps it."""

    class OnlyDecode(Decoder):
        name = "onlydecode"

        def version(self) -> str:
            return "1"

        def decode(self, path: Path):
            return SoundfileDecoder().decode(path)

    class Plugin:
        @hookimpl
        def kara_register_decoders(self, register) -> None:
            register(OnlyDecode)

    sf_mp3(tmp_path / "mp3" / "a.mp3", signal(1.0, 44100), 44100)
    plugins = get_plugin_manager(extra_plugins=(("onlydecode", Plugin()),))
    report = run_prepare(variant(tmp_path, plugins, decoder="onlydecode"), workers=1,
                         show_progress=False)
    assert report.files[0]["status"] == "decoded"
    assert abs(report.files[0]["duration_s"] - 1.0) < 0.1


def test_a_second_prepare_of_the_same_wav_dir_waits_for_the_first(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import subprocess
    import sys

    sf_mp3(tmp_path / "mp3" / "a.mp3", signal(1.0), 22050)
    v = variant(tmp_path, decoder="soundfile")
    monkeypatch.setenv("KARA_LOCK_TIMEOUT", "0.3")
    holder = subprocess.Popen(
        [sys.executable, "-c",
         "import sys, time; from pathlib import Path\n"
         "from kara_core.storage.locks import folder_lock\n"
         "with folder_lock(Path(sys.argv[1]), 'kara prepare (another)'):\n"
         "    print('locked', flush=True); time.sleep(60)\n", str(tmp_path / "wav")],
        stdout=subprocess.PIPE, text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "locked"
        with pytest.raises(KaraError, match="kara prepare"):
            run_prepare(v, show_progress=False)
    finally:
        holder.kill()
        holder.wait()
    assert run_prepare(v, show_progress=False).summary["decoded"] == 1


class Crashing(SoundfileDecoder):
    """A decoder whose process dies (as a segfault in a C decoder would) on one file."""

    name = "crashing"

    def stream(self, path: Path, block_frames: int = 1 << 16):
        if "crash" in Path(path).name:
            os.kill(os.getpid(), signal_module.SIGKILL)
        return super().stream(path, block_frames)


class CrashingPlugin:
    @hookimpl
    def kara_register_decoders(self, register) -> None:
        register(Crashing)


def test_a_decoder_crashing_on_one_file_costs_only_that_file(tmp_path: Path) -> None:
    for seed, name in enumerate(("a", "b", "crash", "c", "d")):
        sf_mp3(tmp_path / "mp3" / f"{name}.mp3", signal(1.0, seed=seed), 22050)
    plugins = get_plugin_manager(extra_plugins=(("crashing", CrashingPlugin()),))
    report = run_prepare(variant(tmp_path, plugins, decoder="crashing"), workers=2,
                         show_progress=False)
    status = {f["source"]: f["status"] for f in report.files}
    assert status == {"a.mp3": "decoded", "b.mp3": "decoded", "crash.mp3": "skipped",
                      "c.mp3": "decoded", "d.mp3": "decoded"}
    assert "decoding process died" in by_source(report)["crash.mp3"]["reason"]
    assert sorted(p.name for p in (tmp_path / "wav").glob("*.wav")) == [
        "a.wav", "b.wav", "c.wav", "d.wav"]


def test_prepare_runs_numpy_with_one_blas_thread(tmp_path):
    """prepare never multiplies matrices, and an idle OpenBLAS thread spins for some 0.1 s
    of CPU after numpy is imported, CPU the decoders need: prepare turns the threads off
    (a user's own OPENBLAS_NUM_THREADS still wins)."""
    sf_mp3(tmp_path / "mp3" / "a.mp3", signal(2.0, 44100, 2), 44100)
    config = write_yaml(tmp_path, config_text("soundfile"))
    code = (
        "import sys, json\n"
        "from kara_core.cli import main\n"
        f"code = main(['prepare', {str(config)!r}, '--workers', '1'])\n"
        "from threadpoolctl import threadpool_info\n"
        "blas = [p['num_threads'] for p in threadpool_info() if p['internal_api'] == 'openblas']\n"
        "print(json.dumps({'code': code, 'blas': blas}))\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENBLAS", "OMP_"))}
    result = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True,
                            text=True, timeout=120, check=False, env=env)
    answer = json.loads(result.stdout.strip().splitlines()[-1])
    assert answer["code"] == 0, result.stderr
    assert answer["blas"] == [1]
