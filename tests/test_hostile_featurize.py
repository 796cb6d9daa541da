"""Featurize against a flaky machine and a hostile collection: a full disk under the cache,
cache files rewritten behind Kara's back, non-UTF-8 song names, and a model trained on
other songs than the current ones (issue 13)."""

from __future__ import annotations

import errno
import json
import os
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from kara_core.errors import KaraError
from kara_core.pipeline.parts import featurize
from kara_core.pipeline.prepare.outcome import PreparedSong
from tests.support.training import RATE, variant_of, write_config, write_songs


@pytest.fixture
def setup(tmp_path: Path):
    songs = write_songs(tmp_path, count=4, seconds=1.0)
    return tmp_path, songs, variant_of(write_config(tmp_path))


def every_song(features):
    return [*features.train, *features.val]


def test_a_cache_that_cannot_be_written_fails_the_stage(setup, monkeypatch) -> None:
    """Disk full under cache_dir: an error of the stage, not three 'left out' songs."""
    from kara_core.pipeline.featurize import cache

    _folder, songs, variant = setup
    real_write = cache.write_npy

    def full(file, *args, **kwargs):
        if "song2" in str(file) or "song3" in str(file):
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_write(file, *args, **kwargs)

    monkeypatch.setattr(cache, "write_npy", full)
    with pytest.raises(KaraError, match=r"cannot write \(No space left on device\)") as info:
        featurize(variant, songs, show_progress=False)
    assert "song" in str(info.value) and "\n" not in str(info.value)


@pytest.mark.parametrize("fill", [np.nan, 0.0])
def test_a_same_size_cache_file_rewritten_with_nan_or_zeros_is_rebuilt(setup, fill, capsys):
    _folder, songs, variant = setup
    song = every_song(featurize(variant, songs, show_progress=False))[0]
    good = np.load(song.npy).copy()
    size = song.npy.stat().st_size
    np.save(song.npy, np.full_like(good, fill))  # same shape, same size, same header
    assert song.npy.stat().st_size == size
    capsys.readouterr()
    again = featurize(variant, songs, show_progress=False)
    rebuilt = next(s for s in every_song(again) if s.npy == song.npy)
    assert np.array_equal(np.load(rebuilt.npy), good)
    assert "content changed since it was written; rebuilt" in capsys.readouterr().err


@pytest.mark.parametrize("dtype", ["float32", "float16"])
def test_a_nan_written_with_the_mtime_kept_is_rebuilt(tmp_path, dtype, capsys) -> None:
    """Issue 22, 4: a changed byte whose file keeps its size and mtime is not trusted."""
    songs = write_songs(tmp_path, count=4, seconds=1.0)
    config = write_config(tmp_path)
    config.write_text(config.read_text().replace("sample_rate:", f"cache_dtype: {dtype}, "
                                                 "sample_rate:"))
    variant = variant_of(config)
    song = every_song(featurize(variant, songs, show_progress=False))[0]
    good = song.npy.read_bytes()
    st = song.npy.stat()
    with open(song.npy, "r+b") as handle:  # one value of the last frame becomes NaN
        handle.seek(st.st_size - (2 if dtype == "float16" else 4))
        handle.write(np.array([np.nan], dtype).tobytes())
    os.utime(song.npy, ns=(st.st_atime_ns, st.st_mtime_ns))
    capsys.readouterr()
    again = featurize(variant, songs, show_progress=False)
    assert song.npy.read_bytes() == good
    assert np.isfinite(again.mean).all()
    err = capsys.readouterr().err
    assert f"{song.npy}: its content changed since it was written; rebuilt" in err
    assert len(err.strip().splitlines()) == 1, err


def test_a_touched_cache_file_is_checked_not_rebuilt(setup) -> None:
    _folder, songs, variant = setup
    song = every_song(featurize(variant, songs, show_progress=False))[0]
    stamp = song.npy.stat().st_mtime_ns
    os.utime(song.npy, ns=(stamp + 10**9, stamp + 10**9))
    featurize(variant, songs, show_progress=False)
    assert song.npy.stat().st_mtime_ns == stamp + 10**9  # same content: reused


def test_nan_statistics_are_recomputed(setup) -> None:
    _folder, songs, variant = setup
    first = featurize(variant, songs, show_progress=False)
    stats = next(first.directory.glob("stats-*.json"))
    data = json.loads(stats.read_text())
    data["mean"][0] = float("nan")
    stats.write_text(json.dumps(data))
    again = featurize(variant, songs, show_progress=False)
    assert np.isfinite(again.mean).all()
    assert np.array_equal(again.mean, first.mean)


def test_a_wav_with_nan_samples_is_left_out_saying_so(setup, capsys) -> None:
    _folder, songs, variant = setup
    wave = np.zeros(RATE, np.float32)
    wave[100] = np.nan
    sf.write(songs[3].wav, wave, RATE, subtype="FLOAT")
    features = featurize(variant, songs, show_progress=False)
    assert songs[3].source not in {s.source for s in every_song(features)}
    assert "NaN or infinite" in capsys.readouterr().err


def test_a_song_with_a_non_utf8_name_is_featurized(tmp_path: Path, capsys) -> None:
    songs = write_songs(tmp_path, count=3, seconds=1.0)
    odd = Path(os.fsdecode(bytes(tmp_path / "wav") + b"/caf\xe9 \x1b[2J.wav"))
    songs[0].wav.rename(odd)
    songs[0] = PreparedSong(os.fsdecode(b"caf\xe9 \x1b[2J.mp3"), odd, 1.0, ())
    variant = variant_of(write_config(tmp_path))
    features = featurize(variant, songs, show_progress=False)
    assert len(every_song(features)) == 3
    err = capsys.readouterr().err
    assert "left out" not in err and "\x1b" not in err


# --------------------------------------------------------------------------- what changed


def test_a_model_trained_on_other_songs_is_told_what_changed(tmp_path: Path) -> None:
    from kara_core.pipeline.featurize.identity import explain_change

    songs = write_songs(tmp_path, count=4, seconds=1.0)
    songs = [PreparedSong(s.source, s.wav, s.duration_s, s.flags, "soundfile") for s in songs]
    variant = variant_of(write_config(tmp_path))
    before = featurize(variant, songs, show_progress=False)
    trained_on = before.identity()
    redecoded = before.train[0]
    sf.write(redecoded.wav, np.sin(np.arange(RATE) / 7).astype(np.float32) * 0.3, RATE,
             subtype="FLOAT")
    songs = [PreparedSong(s.source, s.wav, s.duration_s, s.flags,
                          "lame" if s.source == redecoded.source else "soundfile")
             for s in songs]
    after = featurize(variant, songs, show_progress=False)
    assert after.identity() != trained_on
    text = explain_change(after, trained_on)
    assert f"1 song(s) were decoded again with lame instead of soundfile ({redecoded.source})" \
        in text, text
    gone = [s for s in songs if s.source != redecoded.source]
    text = explain_change(featurize(variant, gone, show_progress=False), trained_on)
    assert "1 song(s) are gone" in text and redecoded.source in text


def test_generate_names_what_changed_and_the_command_that_retrains(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from kara_core.commands.generate import _check_trained_on
    from kara_core.storage import atomic

    songs = write_songs(tmp_path, count=4, seconds=1.0)
    variant = variant_of(write_config(tmp_path))
    before = featurize(variant, songs, show_progress=False)
    atomic.write_json(variant.run_dir / "model" / "kara-model.json",
                      {"data": before.identity(), "signature": {}})
    _check_trained_on(variant, before, "kara.yaml")  # the same data: nothing to say
    sf.write(songs[1].wav, np.full(RATE, 0.2, np.float32), RATE, subtype="FLOAT")
    after = featurize(variant, songs, show_progress=False)
    with pytest.raises(KaraError) as info:
        _check_trained_on(variant, after, "kara.yaml")
    message = str(info.value)
    assert "song1.mp3" in message and "changed" in message
    assert "'kara train kara.yaml --variant base'" in message
