"""The lame decoder in process (libmp3lame's hip decoder through ctypes): the same samples
as ``lame --decode``, used only when it is the lame program's own library, and the same
outcomes as the program on bad files."""

from __future__ import annotations

import multiprocessing
import os
import shutil
import stat
import subprocess
import threading
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
import pytest
from kara_lame.decoder import LameDecoder, LameFailed, LameOptions, lame_executable, lame_version
from kara_lame.frontend import needs_the_program
from kara_lame.hip import library_for

from kara_core.config import load_config
from kara_core.errors import DecodeError
from kara_core.options import OptionError, build
from kara_core.pipeline.parts import run_prepare
from kara_core.plugins import get_plugin_manager
from kara_core.testing import check_decoder
from tests.support.audio import (
    corrupt_middle,
    id3v2,
    lame_mp3,
    layer2_stream,
    need_lame,
    signal,
    truncate,
)
from tests.support.cli import write_yaml

# name -> (seconds, rate, channels, lame options)
ENCODINGS = {
    "cbr-44k-stereo": (2.0, 44100, 2, ("-b", "128")),
    "vbr-44k-stereo": (2.0, 44100, 2, ("-V", "2")),
    "abr-48k-stereo": (1.5, 48000, 2, ("--abr", "160")),
    "vbr-32k-mono": (1.5, 32000, 1, ("-V", "5")),
    "cbr-22k-mono": (2.0, 22050, 1, ("-b", "64")),
    "vbr-8k-mono": (1.5, 8000, 1, ("-V", "6")),  # MPEG-2.5
    "no-tag": (2.0, 44100, 2, ("-b", "96", "-t")),
    "no-reservoir": (1.0, 44100, 1, ("-b", "112", "--nores")),
}


def in_process() -> LameDecoder:
    """A lame decoder that runs in process, in this process too (skips when this machine's
    lame cannot: no shared libmp3lame, or another version)."""
    need_lame()
    decoder = LameDecoder(LameOptions(in_process="always"))
    if decoder.in_process_here(lame_executable()) is None:
        pytest.skip("the lame program here does not load a libmp3lame of its own version")
    return decoder


def lame_decode(path: Path) -> tuple[int, np.ndarray]:
    """``(rate, int16 [n, channels])`` as ``lame --decode`` writes them."""
    out = subprocess.run([need_lame(), "--decode", "--quiet", str(path), "-"],
                         capture_output=True, check=True).stdout
    assert out[:4] == b"RIFF"
    at = 12
    while out[at : at + 4] != b"data":
        if out[at : at + 4] == b"fmt ":
            channels = int.from_bytes(out[at + 10 : at + 12], "little")
            rate = int.from_bytes(out[at + 12 : at + 16], "little")
        at += 8 + int.from_bytes(out[at + 4 : at + 8], "little")
    samples = np.frombuffer(out[at + 8 :], dtype="<i2")
    return rate, samples.reshape(-1, channels)


def assert_same_as_lame(decoder: LameDecoder, path: Path) -> None:
    """The decoder's samples are lame's, sample for sample, at lame's length."""
    with open(path, "rb") as handle:
        assert not needs_the_program(handle), "this file would not be decoded in process"
    audio = decoder.decode(path)
    rate, expected = lame_decode(path)
    assert audio.rate == rate
    got = np.rint(audio.samples * 32768.0).astype(np.int16)
    assert got.shape == expected.shape
    np.testing.assert_array_equal(got, expected)


@pytest.fixture(scope="module")
def songs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    need_lame()
    root = tmp_path_factory.mktemp("songs")
    made = {}
    for number, (name, (seconds, rate, channels, how)) in enumerate(ENCODINGS.items()):
        made[name] = lame_mp3(root / f"{name}.mp3", signal(seconds, rate, channels, seed=number),
                              rate, *how)
    return made


# --------------------------------------------------------------------------- identity


@pytest.mark.parametrize("name", list(ENCODINGS))
def test_samples_are_lame_decodes_byte_for_byte(songs: dict[str, Path], name: str) -> None:
    assert_same_as_lame(in_process(), songs[name])


def test_id3v2_tags_in_front_are_skipped_as_lame_does(songs: dict[str, Path],
                                                      tmp_path: Path) -> None:
    tagged = tmp_path / "tagged.mp3"
    body = songs["vbr-44k-stereo"].read_bytes()
    tagged.write_bytes(id3v2("Cover", picture_bytes=70_000) + id3v2("Second") + body)
    assert_same_as_lame(in_process(), tagged)


@pytest.mark.parametrize("damage", ["corrupt", "truncated", "garbage-in-front", "spliced"])
def test_damaged_files_decode_as_lame_decodes_them(songs: dict[str, Path], tmp_path: Path,
                                                   damage: str) -> None:
    """lame resyncs, stops or skips in its own way on damage: the same way here."""
    good = songs["cbr-44k-stereo"]
    bad = tmp_path / f"{damage}.mp3"
    if damage == "corrupt":
        corrupt_middle(good, bad, nbytes=3000)
    elif damage == "truncated":
        truncate(songs["vbr-44k-stereo"], bad, 0.6)
    elif damage == "garbage-in-front":
        noise = np.random.default_rng(3).integers(0, 256, 2000, dtype=np.uint8).tobytes()
        bad.write_bytes(noise + good.read_bytes())
    else:  # two songs of different channel counts glued: lame stops at the change
        half = good.read_bytes()
        bad.write_bytes(half[: len(half) // 2] + songs["cbr-22k-mono"].read_bytes())
    assert_same_as_lame(in_process(), bad)


def test_layer2_is_decoded_as_lame_decodes_it(tmp_path: Path) -> None:
    path = tmp_path / "l2.mp3"
    path.write_bytes(layer2_stream(100))
    assert_same_as_lame(in_process(), path)


def test_stream_blocks_concatenate_to_the_whole_decode(songs: dict[str, Path]) -> None:
    decoder = in_process()
    whole = decoder.decode(songs["vbr-44k-stereo"]).samples
    with decoder.stream(songs["vbr-44k-stereo"], block_frames=3000) as audio:
        blocks = list(audio.blocks)
    assert all(len(b) >= 3000 for b in blocks[:-1])
    np.testing.assert_array_equal(np.concatenate(blocks), whole)


def test_two_threads_decoding_at_once_get_their_own_samples(songs: dict[str, Path]) -> None:
    """libmp3lame decodes through a static buffer: the calls are serialised."""
    decoder = in_process()
    names = ["cbr-44k-stereo", "vbr-32k-mono"]
    alone = {name: decoder.decode(songs[name]).samples for name in names}
    together: dict[str, np.ndarray] = {}

    def run(name: str) -> None:
        together[name] = decoder.decode(songs[name]).samples

    threads = [threading.Thread(target=run, args=(name,)) for name in names * 2]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    for name in names:
        np.testing.assert_array_equal(together[name], alone[name])


def test_the_decoder_kit_passes_in_process() -> None:
    in_process()
    check_decoder(LameDecoder, in_process="always")


# --------------------------------------------------------------------------- which path


def fake_lame(folder: Path, body: str) -> Path:
    """A ``lame`` shell script first on PATH."""
    folder.mkdir(parents=True, exist_ok=True)
    script = folder / "lame"
    script.write_text("#!/bin/sh\n" + body)
    script.chmod(script.stat().st_mode | stat.S_IEXEC)
    return script


def _in_process_in_a_worker(option: str) -> bool:
    exe = lame_executable()
    return LameDecoder(LameOptions(in_process=option)).in_process_here(exe) is not None


def test_the_real_lame_runs_in_process_in_workers_only_and_never_turns_it_off() -> None:
    """``auto``: in prepare's worker processes; Kara's own process runs the program, so a
    library crash can only end a worker."""
    in_process()
    exe = lame_executable()
    assert LameDecoder(LameOptions(in_process="auto")).in_process_here(exe) is None
    assert LameDecoder(LameOptions(in_process="always")).in_process_here(exe) is not None
    assert LameDecoder(LameOptions(in_process="never")).in_process_here(exe) is None
    context = multiprocessing.get_context("fork")
    with ProcessPoolExecutor(1, mp_context=context) as pool:
        assert pool.submit(_in_process_in_a_worker, "auto").result()
        assert not pool.submit(_in_process_in_a_worker, "never").result()


def test_prepare_in_workers_writes_the_wavs_the_program_writes(songs: dict[str, Path],
                                                              tmp_path: Path) -> None:
    in_process()
    (tmp_path / "mp3").mkdir()
    for name in ("vbr-44k-stereo", "vbr-32k-mono", "no-tag"):
        shutil.copy(songs[name], tmp_path / "mp3")
    wavs = {}
    for option in ("auto", "never"):
        text = ("name: t\n"
                f"dataset: {{mp3_dir: mp3, wav_dir: wav-{option}, sample_rate: 22050}}\n"
                f"decoder: {{type: lame, options: {{in_process: {option}}}}}\n"
                "transform: {type: raw}\nmodel: {type: persistence}\n")
        variant = load_config(write_yaml(tmp_path, text, f"{option}.yaml"),
                              get_plugin_manager().registry).base
        report = run_prepare(variant, workers=2, show_progress=False)
        assert {f["status"] for f in report.files} == {"decoded"}
        wavs[option] = {p.name: p.read_bytes() for p in (tmp_path / f"wav-{option}").glob("*.wav")}
    assert len(wavs["auto"]) == 3 and wavs["auto"] == wavs["never"]


def test_a_wrapper_script_reporting_the_real_version_runs_the_program(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Its version is right, but it is not the program that loads the library."""
    real = need_lame()
    fake_lame(tmp_path / "bin", f'exec "{real}" "$@"\n')
    monkeypatch.setenv("PATH", f"{tmp_path / 'bin'}{os.pathsep}{os.environ['PATH']}")
    assert lame_version().endswith(subprocess.run(
        [real, "--version"], capture_output=True, text=True, check=True
    ).stdout.split(" (")[0].split()[-1])
    assert LameDecoder(LameOptions(in_process="always")).library(lame_executable()) is None


def test_a_native_lame_of_another_version_runs_the_program(tmp_path: Path) -> None:
    real = need_lame()
    assert library_for(real, "LAME 64bits version 3.99.5") is None
    assert library_for(real, "LAME fake version 0") is None
    copy = tmp_path / "lame"
    shutil.copy(real, copy)  # the same binary elsewhere: still its library
    expected = library_for(real, lame_version())
    assert (library_for(str(copy), lame_version()) is None) == (expected is None)


def test_a_fake_lame_keeps_its_behaviour(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                         songs: dict[str, Path]) -> None:
    fake_lame(tmp_path / "bin", "[ \"$1\" = --version ] && echo 'LAME fake version 0'\nexit 0\n")
    monkeypatch.setenv("PATH", str(tmp_path / "bin"))
    with pytest.raises(DecodeError, match="exited 0 but wrote no audio"):
        LameDecoder().decode(songs["cbr-22k-mono"])


def test_a_xing_tag_without_a_frame_count_goes_to_the_program(songs: dict[str, Path],
                                                              tmp_path: Path) -> None:
    """libmp3lame reads such a count from uninitialised memory: only the program's own
    decode is lame's."""
    data = bytearray(songs["vbr-44k-stereo"].read_bytes())
    at = data.find(b"Xing")
    at = at if at != -1 else data.find(b"Info")
    data[at + 7] &= 0xFE  # clear the frames flag
    odd = tmp_path / "odd.mp3"
    odd.write_bytes(bytes(data))
    with open(odd, "rb") as handle:
        assert needs_the_program(handle)
    audio = in_process().decode(odd)
    np.testing.assert_array_equal(np.rint(audio.samples * 32768.0).astype(np.int16),
                                  lame_decode(odd)[1])


def test_the_option_is_validated_in_one_line() -> None:
    assert build(LameOptions, {"in_process": "never"}, "decoder.options").in_process == "never"
    with pytest.raises(OptionError) as info:
        build(LameOptions, {"in_process": "sometimes"}, "decoder.options")
    assert "decoder.options.in_process" in str(info.value) and "\n" not in str(info.value)


# --------------------------------------------------------------------------- bad files


@pytest.mark.parametrize("in_process_option", ["always", "never"])
def test_bad_files_fail_with_the_programs_words(tmp_path: Path, songs: dict[str, Path],
                                               in_process_option: str) -> None:
    in_process()
    decoder = LameDecoder(LameOptions(in_process=in_process_option))
    assert (decoder.in_process_here(lame_executable()) is None) == (in_process_option == "never")
    junk = tmp_path / "junk.mp3"
    junk.write_bytes(np.random.default_rng(1).integers(0, 256, 65536, dtype=np.uint8).tobytes())
    with pytest.raises(DecodeError, match="no MPEG audio frames"):
        decoder.decode(junk)
    # an Album ID header whose length runs past the end: lame cannot read the headers
    odd = tmp_path / "album id.mp3"
    odd.write_bytes(b"AiD\x01\xff\xff" + songs["cbr-22k-mono"].read_bytes()[:20000])
    with pytest.raises(DecodeError) as info:
        decoder.decode(odd)
    assert str(info.value) == f"lame failed (exit 255): Can't init infile '{odd}'"


def test_a_decode_past_its_deadline_is_a_transient_lame_failure(
    songs: dict[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    decoder = in_process()
    monkeypatch.setattr("kara_lame.decoder.BASE_TIMEOUT_S", -1.0)
    monkeypatch.setattr("kara_lame.decoder.BYTES_PER_TIMEOUT_S", 10**12)
    with pytest.raises(LameFailed, match="did not finish within") as info:
        decoder.decode(songs["cbr-44k-stereo"])
    assert info.value.transient


def test_a_stream_left_early_frees_its_decoder(songs: dict[str, Path]) -> None:
    decoder = in_process()
    with decoder.stream(songs["vbr-44k-stereo"], block_frames=2000) as audio:
        blocks = iter(audio.blocks)
        first = next(blocks)
    assert len(first) >= 2000
    assert list(blocks) == []  # the freed decoder only says "end", it never crashes


@pytest.mark.parametrize("option", ["auto", "never"])
def test_a_prepared_wav_at_the_songs_rate_is_lame_decodes_output_byte_for_byte(
        songs: dict[str, Path], tmp_path: Path, option: str) -> None:
    """Issue 22, 9: samples are scaled by 32768 as the decoders scale them, so a song kept
    at its rate and channel count gives exactly the samples (and the PCM header) of
    ``lame --decode``; loud songs included, whose peaks decoders clip at -32768..32767."""
    need_lame()
    (tmp_path / "mp3").mkdir()
    loud = tmp_path / "mp3" / "loud.mp3"
    wave = np.clip(signal(2.0, 44100, 2, seed=7) * 40.0, -1.0, 1.0)  # square-ish, clipped
    lame_mp3(loud, wave, 44100, "-b", "192")
    shutil.copy(songs["cbr-44k-stereo"], tmp_path / "mp3")
    text = ("name: t\n"
            "dataset: {mp3_dir: mp3, wav_dir: wav, sample_rate: 44100, channels: 2}\n"
            f"decoder: {{type: lame, options: {{in_process: {option}}}}}\n"
            "transform: {type: raw}\nmodel: {type: persistence}\n")
    variant = load_config(write_yaml(tmp_path, text), get_plugin_manager().registry).base
    report = run_prepare(variant, workers=1, show_progress=False)
    assert {f["status"] for f in report.files} == {"decoded"}
    for mp3 in sorted((tmp_path / "mp3").iterdir()):
        program = subprocess.run([need_lame(), "--decode", "--quiet", str(mp3), "-"],
                                 capture_output=True, check=True).stdout
        ours = (tmp_path / "wav" / mp3.with_suffix(".wav").name).read_bytes()
        rate, expected = lame_decode(mp3)
        assert rate == 44100
        got = np.frombuffer(ours[44:], dtype="<i2").reshape(-1, 2)
        np.testing.assert_array_equal(got, expected)
        assert ours[44:] == program[-len(ours[44:]):], mp3.name
