"""The built-in decoders, the decoder test kit, and the header reader they rely on."""

from __future__ import annotations

import stat
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from kara_lame.decoder import LameDecoder, lame_version
from kara_soundfile.decoder import SoundfileDecoder

from kara_core.audio import mp3info
from kara_core.errors import DecodeError, ToolMissingError
from kara_core.pipeline.prepare.sniff import sniff
from kara_core.testing import check_decoder
from tests.support.audio import (
    corrupt_middle,
    id3v2,
    lame_mp3,
    layer2_stream,
    need_lame,
    sf_mp3,
    signal,
    truncate,
)


def test_check_decoder_passes_on_lame() -> None:
    need_lame()
    check_decoder(LameDecoder)


def test_check_decoder_passes_on_soundfile() -> None:
    check_decoder(SoundfileDecoder)


def test_check_decoder_catches_a_decoder_that_decodes_garbage(tmp_path: Path) -> None:
    class Gullible(SoundfileDecoder):
        name = "gullible"

        def decode(self, path: Path):
            try:
                return super().decode(path)
            except DecodeError:
                from kara_core.components import Audio

                return Audio(np.zeros((300, 1), np.float32), 22050)

    with pytest.raises(AssertionError, match="instead of raising DecodeError"):
        check_decoder(Gullible)


def test_lame_version_is_the_program_version() -> None:
    need_lame()
    assert lame_version().startswith("LAME") and "version" in lame_version()
    assert LameDecoder().version() == lame_version()


def test_lame_missing_says_how_to_install(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(ToolMissingError, match="apt-get install lame") as info:
        LameDecoder().check()
    assert "\n" not in str(info.value)


def test_lame_on_random_bytes_is_an_error_not_noise(tmp_path: Path) -> None:
    need_lame()
    junk = tmp_path / "junk.mp3"
    junk.write_bytes(np.random.default_rng(1).integers(0, 256, 65536, dtype=np.uint8).tobytes())
    with pytest.raises(DecodeError, match="no MPEG audio frames"):
        LameDecoder().decode(junk)


def test_lame_exit_code_zero_without_output_is_a_failure(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """A lame that 'succeeds' but writes nothing (a broken build, a full /tmp)."""
    need_lame()
    song = sf_mp3(tmp_path / "song.mp3", signal(1.0), 22050)
    fake = tmp_path / "bin" / "lame"
    fake.parent.mkdir()
    fake.write_text("#!/bin/sh\n[ \"$1\" = --version ] && echo 'LAME fake version 0' \nexit 0\n")
    fake.chmod(fake.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv("PATH", str(fake.parent))
    with pytest.raises(DecodeError, match="exited 0 but wrote no audio"):
        LameDecoder().decode(song)


def test_lame_refuses_a_wav_header_in_one_line(tmp_path: Path) -> None:
    """lame --decode makes a few hundred samples of noise from some non-mp3 input."""
    need_lame()
    wav_named_mp3 = tmp_path / "a.mp3"
    sf.write(wav_named_mp3, signal(0.5), 22050, format="WAV")
    with pytest.raises(DecodeError) as info:
        LameDecoder().decode(wav_named_mp3)
    assert "\n" not in str(info.value)


def test_soundfile_streaming_equals_one_shot_decode(tmp_path: Path) -> None:
    """libsndfile's mp3 decoder loses its bit reservoir when soundfile seeks between
    blocks; Kara's block reader must give exactly the one-shot result."""
    song = sf_mp3(tmp_path / "song.mp3", signal(3.0, 44100, 2), 44100)
    whole, _rate = sf.read(song, dtype="float32", always_2d=True)
    with SoundfileDecoder().stream(song, block_frames=1000) as audio:
        blocks = np.concatenate(list(audio.blocks))
    assert blocks.shape == whole.shape
    np.testing.assert_array_equal(blocks, whole)


def test_soundfile_says_where_it_stopped_when_libsndfile_fails_part_way(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    """libsndfile reporting an error after two blocks: a DecodeError naming where."""
    from kara_core.audio import sndread

    song = sf_mp3(tmp_path / "song.mp3", signal(1.0), 22050)

    def two_blocks_then_fail(handle, block_frames=1 << 16):
        yield np.zeros((22050, 1), np.float32)
        yield np.zeros((22050, 1), np.float32)
        raise sndread.ReadFailed(44100, "Unspecified internal error")

    monkeypatch.setattr(sndread, "blocks", two_blocks_then_fail)
    with pytest.raises(DecodeError) as info:
        SoundfileDecoder().decode(song)
    assert str(info.value) == ("libsndfile stopped at 2.0 s (Unspecified internal error); "
                               "the file is damaged there")


# what libsndfile 1.2 does with each damage: fail at the block before it, or stop silently
DAMAGE = [(0, "fails"), (1, "stops"), (2, "fails"), (3, "stops")]


@pytest.mark.parametrize(("seed", "outcome"), DAMAGE)
def test_soundfile_never_returns_a_damaged_song_whole(tmp_path: Path, seed: int,
                                                      outcome: str) -> None:
    """Damage 4 s into an 8 s song: libsndfile either raises saying where it stopped, or
    returns the audio before the damage, never the whole song (``kara prepare`` compares
    that length with the frames in the file: test_prepare's half-a-song tests). Which of
    the two is pinned for libsndfile 1.2, the one the soundfile wheels bundle."""
    need_lame()
    good = lame_mp3(tmp_path / "good.mp3", signal(8.0), 22050, "-b", "64")
    bad = corrupt_middle(good, tmp_path / "bad.mp3", seed=seed)
    info = mp3info.probe(bad)
    assert info is not None
    damage_s = mp3info.scan(bad, info).gaps[0][0]
    assert 3.5 < damage_s < 4.5
    exact = sf.__libsndfile_version__.startswith("1.2.")
    try:
        audio = SoundfileDecoder().decode(bad)
    except DecodeError as exc:
        assert outcome == "fails" or not exact, f"libsndfile 1.2 stops silently here: {exc}"
        message = str(exc)
        assert message.startswith("libsndfile stopped at ") and "damaged there" in message
        stopped = float(message.split("stopped at ")[1].split(" s")[0])
        assert stopped <= damage_s
    else:
        assert outcome == "stops" or not exact, "libsndfile 1.2 raises here"
        assert audio.duration_s < damage_s + 0.1, audio.duration_s


# --------------------------------------------------------------------------- headers


def test_probe_reads_xing_and_lame_tag(tmp_path: Path) -> None:
    need_lame()
    x = signal(4.0, 44100, 2)
    song = lame_mp3(tmp_path / "v.mp3", x, 44100, "-V", "2")
    info = mp3info.probe(song)
    assert info is not None
    assert info.kind == "MPEG-1 Layer III" and info.first.rate == 44100
    assert info.encoder and info.encoder.startswith("LAME")
    assert info.encoder_delay == 576
    assert info.samples_for(info.estimated_frames) == len(x)  # gapless: exact length
    assert mp3info.scan(song, info).frames == info.header_frames


def test_probe_skips_large_id3_with_cover_art(tmp_path: Path) -> None:
    need_lame()
    plain = lame_mp3(tmp_path / "p.mp3", signal(2.0), 22050, "-b", "64")
    tagged = tmp_path / "tagged.mp3"
    tagged.write_bytes(id3v2("Cover", picture_bytes=300_000) + plain.read_bytes())
    info = mp3info.probe(tagged)
    assert info is not None and info.id3_bytes > 300_000
    assert abs(info.estimated_duration_s - 2.0) < 0.01


def test_scan_finds_truncation_and_damage(tmp_path: Path) -> None:
    need_lame()
    good = lame_mp3(tmp_path / "good.mp3", signal(8.0), 22050, "-b", "64")
    info = mp3info.probe(good)
    assert info is not None and info.header_frames
    cut = mp3info.probe(truncate(good, tmp_path / "cut.mp3"))
    assert cut is not None and cut.header_overstates
    cut_scan = mp3info.scan(tmp_path / "cut.mp3", cut)
    assert abs(cut_scan.frames - info.header_frames / 2) <= 2
    bad_path = corrupt_middle(good, tmp_path / "bad.mp3")
    bad = mp3info.probe(bad_path)
    assert bad is not None
    damage = mp3info.scan(bad_path, bad)
    assert len(damage.gaps) == 1 and 3.0 < damage.gaps[0][0] < 5.0
    assert damage.frames < info.header_frames


def test_probe_layer2(tmp_path: Path) -> None:
    path = tmp_path / "l2.mp3"
    path.write_bytes(layer2_stream(200))
    info = mp3info.probe(path)
    assert info is not None and info.kind == "MPEG-1 Layer II"
    assert info.first.rate == 48000 and info.first.channels == 1
    assert abs(info.estimated_duration_s - 4.8) < 1e-6


@pytest.mark.parametrize(
    ("content", "kind"),
    [
        (b"", "empty"),
        (b"just some words, not audio at all\n" * 10, "text"),
        (b"<!DOCTYPE html><html><body>404</body></html>", "html"),
        (id3v2("nothing after me"), "id3-only"),
        (b"\x00\x00\x00\x20ftypM4A " + bytes(200), "mp4"),
        (bytes(range(256)) * 4, "unknown"),
    ],
)
def test_sniff_names_what_is_not_an_mp3(tmp_path: Path, content: bytes, kind: str) -> None:
    path = tmp_path / "x.mp3"
    path.write_bytes(content)
    verdict = sniff(path)
    assert verdict.kind == kind
    reason = verdict.skip_reason()
    assert reason and "\n" not in reason


def test_sniff_recognises_wav_flac_named_mp3(tmp_path: Path) -> None:
    for fmt, kind in (("WAV", "wav"), ("FLAC", "flac")):
        path = tmp_path / f"{kind}.mp3"
        sf.write(path, signal(0.5), 22050, format=fmt)
        verdict = sniff(path)
        assert verdict.kind == kind and verdict.readable_container


def test_probe_of_unreadable_path_raises_oserror(tmp_path: Path) -> None:
    with pytest.raises(OSError):
        mp3info.probe(tmp_path / "missing.mp3")


def test_the_core_container_reader_streams_what_libsndfile_reads(tmp_path: Path) -> None:
    """``kara_core.audio.open_blocks`` (used by prepare for a FLAC or WAV named .mp3, and by
    the soundfile plugin): the same samples as reading the whole file, block by block, and
    a one-line DecodeError for a file it cannot read."""
    from kara_core.audio import open_blocks

    flac = tmp_path / "song.flac"
    sf.write(flac, signal(1.0), 22050, format="FLAC")
    whole, _rate = sf.read(flac, dtype="float32", always_2d=True)
    with open_blocks(flac, block_frames=1000) as (rate, channels, blocks):
        parts = list(blocks)
    assert (rate, channels) == (22050, 1) and max(len(p) for p in parts) == 1000
    np.testing.assert_array_equal(np.concatenate(parts), whole)
    text = tmp_path / "notes.mp3"
    text.write_text("not audio at all\n" * 20)
    with pytest.raises(DecodeError) as info, open_blocks(text):
        pass
    assert str(info.value) == "libsndfile cannot read it: libsndfile does not recognise its format"
