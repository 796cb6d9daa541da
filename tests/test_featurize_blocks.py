"""Featurize in blocks (issue 13) and the float16 cache (issue 14).

A long song is featurized block by block in bounded memory; the frames must be the whole
song's: bit for bit for raw, fft and stft, to float32 rounding for mel (its filterbank is a
matrix product whose summation order BLAS picks by the rows' position). Blocks are forced
small here so a few seconds of audio make many of them.
"""

from __future__ import annotations

import dataclasses
import io
import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import soundfile as sf
from kara_transforms.fft import FftTransform
from kara_transforms.mel import MelTransform
from kara_transforms.raw import RawTransform
from kara_transforms.stft import StftTransform

from kara_core.components import RoundTripTolerance, Transform
from kara_core.errors import ConfigError, KaraError
from kara_core.options import build
from kara_core.pipeline.featurize import blocks, cache
from kara_core.pipeline.parts import featurize, transform_key
from kara_core.testing import check_transform, music_like_signal
from tests.support.training import RATE, variant_of, write_config, write_songs

BUILT_INS: list[tuple[type[Transform], dict[str, Any], bool]] = [
    # (transform, options, bit-identical)
    (RawTransform, {"frame_size": 333}, True),
    (FftTransform, {}, True),
    (FftTransform, {"layout": "magnitude"}, True),
    (StftTransform, {}, True),
    (StftTransform, {"features": "complex"}, True),
    (StftTransform, {"n_fft": 2048, "hop": 300}, True),  # context not a multiple of hop
    (MelTransform, {}, False),
    (MelTransform, {"n_fft": 512, "hop": 128, "n_mels": 40}, False),
]


def make(cls: type[Transform], options: dict[str, Any], rate: int = 22050) -> Transform:
    return cls(build(cls.Options, options, "options"), sample_rate=rate)


def same_frames(got: np.ndarray, want: np.ndarray, exact: bool) -> None:
    assert got.shape == want.shape and got.dtype == want.dtype == np.float32
    if exact:
        assert np.array_equal(got, want)
    else:  # float32 rounding: about one unit in the last place of the largest value
        scale = float(np.max(np.abs(want)))
        assert np.max(np.abs(got - want)) <= 1e-6 * scale


@pytest.fixture(scope="module")
def wav(tmp_path_factory) -> tuple[Path, np.ndarray]:
    """4 s of music as a 16-bit wav at 22050 Hz, and the samples read back."""
    path = tmp_path_factory.mktemp("song") / "song.wav"
    sf.write(path, music_like_signal(4.0, 22050), 22050, subtype="PCM_16")
    return path, sf.read(path, dtype="float32")[0]


@pytest.mark.parametrize(("cls", "options", "exact"), BUILT_INS,
                         ids=[f"{c.name}-{o}" for c, o, _ in BUILT_INS])
@pytest.mark.parametrize("block_frames", [1, 7, 64])
def test_block_wise_featurize_equals_the_whole_song(tmp_path, wav, cls, options, exact,
                                                   block_frames) -> None:
    path, samples = wav
    transform = make(cls, options)
    npy, n_frames, n_samples = cache.cached_frames(
        transform, path, tmp_path, "0" * 64, 22050, block_frames=block_frames)
    whole = transform.forward(samples)
    assert (n_frames, n_samples) == (whole.shape[0], samples.shape[0])
    same_frames(np.load(npy), whole, exact)


@pytest.mark.parametrize(("cls", "options", "exact"), BUILT_INS,
                         ids=[f"{c.name}-{o}" for c, o, _ in BUILT_INS])
def test_a_song_ending_on_a_block_edge_keeps_its_last_frames(cls, options, exact) -> None:
    """The samples fill the blocks exactly: a centred STFT still has its frame on the
    song's last sample, cut frames have none beyond it."""
    transform = make(cls, options)
    wave = music_like_signal(2.0, 22050)[: 5 * 6 * transform.hop]
    same_frames(blocks.forward_in_blocks(transform, wave, 6), transform.forward(wave), exact)


def test_blocks_tile_the_frames_and_read_bounded_pieces() -> None:
    hop, context, per_block = 256, 1024 // 2, 50
    for n in (1, 255, 256, 12800, 12801, 100_000):
        plan = blocks.plan(n, hop, context, per_block)
        assert [b.first_frame for b in plan] == [k * per_block for k in range(len(plan))]
        assert all(b.keep == per_block for b in plan[:-1]) and plan[-1].keep is None
        assert plan[0].read_start == 0 and plan[-1].read_stop == n
        for block in plan:
            assert block.read_start % hop == 0  # pieces start on the song's frame grid
            assert block.read_stop - block.read_start <= per_block * hop + 2 * context
            assert block.skip * hop == block.first_frame * hop - block.read_start


def test_featurize_reads_a_long_song_a_block_at_a_time(tmp_path, wav, monkeypatch) -> None:
    """Neither the wav nor the transform ever sees more than a block and its context."""
    path, samples = wav
    transform = make(StftTransform, {})
    pieces: list[int] = []
    real_read = cache.MonoReader.read

    def read(self, start: int, stop: int) -> np.ndarray:
        pieces.append(stop - start)
        return real_read(self, start, stop)

    monkeypatch.setattr(cache.MonoReader, "read", read)
    cache.cached_frames(transform, path, tmp_path, "1" * 64, 22050, block_frames=20)
    assert len(pieces) == -(-samples.shape[0] // (20 * 256))
    assert max(pieces) <= 20 * 256 + 2 * 512


def test_a_transform_without_context_is_given_the_whole_song(tmp_path, wav) -> None:
    path, samples = wav
    seen: list[int] = []

    class Whole(StftTransform):
        @property
        def context(self) -> None:
            return None

        def forward(self, wave: np.ndarray) -> np.ndarray:
            seen.append(wave.shape[0])
            return super().forward(wave)

    transform = Whole(build(Whole.Options, {}, "options"))
    npy, _, _ = cache.cached_frames(transform, path, tmp_path, "2" * 64, 22050, block_frames=3)
    assert seen == [samples.shape[0]]
    buffer = io.BytesIO()
    np.save(buffer, transform.forward(samples))
    assert npy.read_bytes() == buffer.getvalue()  # byte for byte what np.save writes


def test_the_stage_gives_the_same_frames_and_statistics_in_blocks(tmp_path, monkeypatch):
    songs = write_songs(tmp_path, count=3, seconds=2.0)
    config = write_config(tmp_path)
    config.write_text(config.read_text().replace(
        "{type: raw, options: {frame_size: 64}}", "{type: stft, options: {n_fft: 256, hop: 64}}"))
    whole = featurize(variant_of(config), songs, show_progress=False)
    monkeypatch.setattr(blocks, "BLOCK_SECONDS", 0.05)  # 6 frames a block
    small = featurize(variant_of(config), songs, reload=True, show_progress=False)
    for a, b in zip([*whole.train, *whole.val], [*small.train, *small.val], strict=True):
        assert np.array_equal(np.load(a.npy), np.load(b.npy))
    assert np.array_equal(whole.mean, small.mean) and np.array_equal(whole.std, small.std)


def test_statistics_chunks_read_the_frames_exactly(tmp_path) -> None:
    frames = np.random.default_rng(0).standard_normal((1000, 7)).astype(np.float16)
    np.save(tmp_path / "f.npy", frames)
    parts = list(cache.read_chunks(tmp_path / "f.npy", 3, 998, rows=100))
    assert [p.shape[0] for p in parts] == [100] * 9 + [95]
    assert np.array_equal(np.concatenate(parts), frames[3:998])


# ------------------------------------------------------------------------- the kit


class TooLittleContext(StftTransform):
    """Declares the context of cut frames, but reads ``n_fft // 2`` around each frame."""

    @property
    def context(self) -> int:
        return 0


class SongLevel(RawTransform):
    """Scales every frame by the whole song's peak: no context is enough (its inverse
    does not undo the scale, so it promises only a loose spectral convergence)."""

    @property
    def tolerance(self) -> RoundTripTolerance:
        return RoundTripTolerance(max_spectral_convergence=2.0)

    def forward(self, wave: np.ndarray) -> np.ndarray:
        peak = float(np.max(np.abs(wave), initial=0.0)) or 1.0
        return (super().forward(wave) / peak).astype(np.float32)


class NegativeContext(RawTransform):
    @property
    def context(self) -> int:
        return -1


@pytest.mark.parametrize(("cls", "message"), [
    (TooLittleContext, "needs more context than it declares"),
    (SongLevel, "differ from the whole signal's"),
    (NegativeContext, "context must be None or an int >= 0"),
])
def test_the_kit_catches_a_wrong_context(cls: type[Transform], message: str) -> None:
    with pytest.raises(AssertionError, match=message):
        check_transform(cls)


# --------------------------------------------------------------------- float16 cache


@pytest.fixture
def half(tmp_path):
    """Three songs and a config with a float16 variant beside the float32 base."""
    songs = write_songs(tmp_path, count=3, seconds=1.0)
    config = write_config(tmp_path)
    config.write_text(config.read_text() + "variants:\n  half: {dataset: {cache_dtype: float16}}\n")
    return songs, config


def test_a_float16_variant_has_its_own_cache_beside_float32(half) -> None:
    songs, config = half
    full, halved = variant_of(config), variant_of(config, "half")
    assert (full.dataset.cache_dtype, halved.dataset.cache_dtype) == ("float32", "float16")
    assert transform_key(full) != transform_key(halved)
    a = featurize(full, songs, show_progress=False)
    b = featurize(halved, songs, show_progress=False)
    for x, y in zip([*a.train, *a.val], [*b.train, *b.val], strict=True):
        stored = np.load(y.npy)
        assert stored.dtype == np.float16 and y.npy.stat().st_size < x.npy.stat().st_size
        assert np.array_equal(stored, np.load(x.npy).astype(np.float16))
        assert y.frames().dtype == np.float32  # read back as float32, then normalised
    assert np.allclose(a.mean, b.mean, atol=1e-3) and np.allclose(a.std, b.std, rtol=1e-2)
    assert featurize(full, songs, show_progress=False).key == a.key  # both still valid


def test_a_cache_of_the_other_dtype_is_not_trusted(half, capsys) -> None:
    songs, config = half
    halved = variant_of(config, "half")
    song = featurize(halved, songs, show_progress=False).train[0]
    sidecar = song.npy.with_suffix(".json")
    meta, problem = cache.check(song.npy, sidecar, 64, "float32")
    assert meta is None and "expected float32" in str(problem)
    # a consistent float32 entry (frames and record) under the float16 cache's name
    np.save(song.npy, np.load(song.npy).astype(np.float32))
    record = json.loads(sidecar.read_text())
    record.update(dtype="float32", bytes=song.npy.stat().st_size,
                  mtime_ns=song.npy.stat().st_mtime_ns)
    sidecar.write_text(json.dumps(record))
    again = featurize(halved, songs, show_progress=False)
    assert np.load(again.train[0].npy).dtype == np.float16
    assert "expected float16; rebuilt" in capsys.readouterr().err


def test_values_beyond_float16_leave_the_song_out_naming_it(tmp_path, wav) -> None:
    path, _ = wav

    class Loud(RawTransform):
        def forward(self, wave: np.ndarray) -> np.ndarray:
            return (super().forward(wave) * 1e6).astype(np.float32)

    transform = Loud(build(Loud.Options, {}, "options"))
    with pytest.raises(KaraError, match=r"song\.wav, beyond float16's range \(65504\); set "
                                        r"dataset.cache_dtype: float32") as info:
        cache.cached_frames(transform, path, tmp_path, "3" * 64, 22050, dtype="float16")
    assert "\n" not in str(info.value) and not list(tmp_path.glob("*.npy"))
    cache.cached_frames(transform, path, tmp_path, "3" * 64, 22050)  # float32 holds them


def test_the_cache_dtype_is_validated_like_any_key(tmp_path) -> None:
    config = write_config(tmp_path)
    config.write_text(config.read_text().replace("val_fraction", "cache_dtype: float64, "
                                                                 "val_fraction"))
    with pytest.raises(ConfigError, match=r"dataset\.cache_dtype"):
        variant_of(config)


def test_float16_training_windows_are_float32(half) -> None:
    from kara_core.pipeline.train.windows import WindowSet

    songs, config = half
    features = featurize(variant_of(config, "half"), songs, show_progress=False)
    song = features.train[0]
    assert song.raw_frames().dtype == np.float16
    windows = WindowSet([song.raw_frames()], 8, 4, 4, features.mean, features.std)
    inputs, targets = windows.load(windows.index[:3])
    assert inputs.dtype == targets.dtype == np.float32
    assert np.allclose(inputs[0], song.frames()[:8], atol=1e-6)


def test_rates_other_than_the_experiment_s_are_refused(tmp_path) -> None:
    path = tmp_path / "song.wav"
    sf.write(path, music_like_signal(0.5, RATE), RATE)
    transform = make(RawTransform, {})
    with pytest.raises(KaraError, match="rerun kara prepare"):
        cache.cached_frames(transform, path, tmp_path, "4" * 64, RATE * 2)
    assert dataclasses.is_dataclass(transform.options)


def test_a_context_that_is_not_a_sample_count_is_a_broken_contract() -> None:
    from kara_core.components.boundary import CheckedTransform, ContractError

    checked = CheckedTransform(make(NegativeContext, {}), "someplugin")
    with pytest.raises(ContractError, match=r"'someplugin'.*context is -1"):
        _ = checked.context
    assert CheckedTransform(make(StftTransform, {}), "kara").context == 512
