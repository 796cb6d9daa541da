"""Windows: cut within songs, normalised on the way, streamed in a seed-fixed order."""

from __future__ import annotations

import numpy as np
import pytest

from kara_core.pipeline.train.windows import WindowSet, default_stride


def songs(*lengths: int, dim: int = 3) -> list[np.ndarray]:
    """Songs whose frame ``t`` of song ``s`` is ``[1000 s + t, ...]`` (traceable)."""
    return [
        (1000.0 * s + np.arange(n, dtype=np.float32))[:, None].repeat(dim, axis=1)
        for s, n in enumerate(lengths)
    ]


def test_windows_stay_inside_one_song_at_the_stride():
    ws = WindowSet(songs(20, 11, 5), input_frames=4, output_frames=3, stride=2)
    # song 0: starts 0..13 step 2 -> 7; song 1: 0..4 step 2 -> 3; song 2 is too short
    assert len(ws) == 10
    assert ws.short_songs() == 1
    inputs, targets = ws.load(ws.index)
    assert inputs.shape == (10, 4, 3) and targets.shape == (10, 3, 3)
    whole = np.concatenate([inputs, targets], axis=1)[:, :, 0]
    song = (whole // 1000).astype(int)
    assert (song == song[:, :1]).all(), "a window crosses two songs"
    assert np.array_equal(np.diff(whole, axis=1), np.ones((10, 6)))
    assert list(whole[:7, 0] % 1000) == [0, 2, 4, 6, 8, 10, 12]


def test_frames_are_normalised_with_the_given_statistics():
    data = songs(10)
    mean, std = np.array([1.0, 2.0, 3.0], np.float32), np.array([2.0, 4.0, 8.0], np.float32)
    ws = WindowSet(data, 2, 2, 1, mean=mean, std=std)
    inputs, targets = ws.load(ws.index[:1])
    expected = (data[0][:4] - mean) / std
    assert np.allclose(np.concatenate([inputs[0], targets[0]]), expected)
    assert np.allclose(ws.mean_frame(), (data[0].mean(axis=0) - mean) / std)


def test_batches_cover_every_window_once_and_shuffle_by_seed():
    ws = WindowSet(songs(30, 25), 3, 2, 1)
    def starts(seed):
        return np.concatenate([x[:, 0, 0] for x, _ in ws.batches(7, shuffle=True, seed=seed)])
    first = starts(0)
    assert sorted(first) == sorted(np.concatenate([x[:, 0, 0] for x, _ in ws.batches(7)]))
    assert len(first) == len(ws)
    assert np.array_equal(first, starts(0))
    assert not np.array_equal(first, starts(1))


def test_default_stride_grows_with_the_window():
    assert default_stride(40, 10) == 4
    assert default_stride(40, 40) == 6
    assert default_stride(8, 4) == 1


def test_dataset_stream_depends_only_on_the_seed_so_a_resume_continues_it():
    ws = WindowSet(songs(40, 30), 3, 2, 1)
    stream = [x.numpy()[:, 0, 0] for x, _ in ws.dataset(8, shuffle=True, seed=3,
                                                           repeat=True).take(12)]
    resumed = [x.numpy()[:, 0, 0] for x, _ in ws.dataset(
        8, shuffle=True, seed=3, repeat=True, skip_batches=5).take(7)]
    assert all(np.array_equal(a, b) for a, b in zip(stream[5:], resumed, strict=True))
    assert all(len(batch) == 8 for batch in stream), "an endless stream has full batches"
    other = [x.numpy()[:, 0, 0] for x, _ in ws.dataset(8, shuffle=True, seed=4,
                                                          repeat=True).take(12)]
    assert not all(np.array_equal(a, b) for a, b in zip(stream, other, strict=True))


def test_dataset_shards_split_the_windows_between_workers():
    ws = WindowSet(songs(40), 3, 2, 1)
    seen = []
    for index in range(2):
        ds = ws.dataset(100, shard=(2, index))
        seen.append({float(v) for x, _ in ds for v in x.numpy()[:, 0, 0]})
    assert not seen[0] & seen[1]
    assert len(seen[0] | seen[1]) == len(ws)


def test_frame_sizes_must_agree():
    with pytest.raises(ValueError, match="different frame sizes"):
        WindowSet([np.zeros((10, 3), np.float32), np.zeros((10, 4), np.float32)], 2, 2, 1)


def test_crop_pairs_come_from_the_same_song_elsewhere_and_repeat_with_the_seed(tmp_path):
    # memory-mapped songs, as the cache gives them
    maps = []
    for number, song in enumerate(songs(400, 120, 9)):
        np.save(tmp_path / f"{number}.npy", song)
        maps.append(np.load(tmp_path / f"{number}.npy", mmap_mode="r"))
    ws = WindowSet(maps, 4, 3, 1)
    crops, pairs = ws.crop_pair_batch(5, 64, 30, 40, seed=2)
    assert np.array_equal(crops, ws.crop_batch(5, 64, 30, seed=2)), "pairs changed the crops"
    assert pairs.shape == (64, 30, 3), "a pair is never longer than its crop"
    crop_song, pair_song = crops[:, 0, 0] // 1000, pairs[:, 0, 0] // 1000
    assert np.array_equal(crop_song, pair_song), "a pair from another song"
    assert np.array_equal(np.diff(pairs[:, :, 0], axis=1), np.ones((64, 29))), "not contiguous"
    crop_at, pair_at = crops[:, 0, 0] % 1000, pairs[:, 0, 0] % 1000
    long_enough = crop_song == 0  # 400 frames: room for both; song 1 (120) too
    apart = (pair_at + 30 <= crop_at) | (pair_at >= crop_at + 30)
    assert apart.all(), "a pair overlaps its crop in a song long enough for both"
    assert len(set(pair_at[long_enough].tolist())) > 10, "pairs do not move around the song"
    again = ws.crop_pair_batch(5, 64, 30, 40, seed=2)
    assert np.array_equal(again[1], pairs)
    assert not np.array_equal(ws.crop_pair_batch(6, 64, 30, 40, seed=2)[1], pairs)


def test_a_short_song_pairs_with_an_overlapping_crop_and_the_stream_carries_pairs():
    ws = WindowSet(songs(50), 4, 3, 1)
    _crops, pairs = ws.crop_pair_batch(0, 16, 40, 20, seed=0)
    assert pairs.shape == (16, 20, 3)
    assert (pairs[:, -1, 0] < 50).all(), "a pair ran past the end of its song"
    stream = [(c.numpy(), p.numpy()) for c, p in ws.crops(16, 40, seed=0, pair_frames=20,
                                                          skip_batches=1).take(1)]
    expected = ws.crop_pair_batch(1, 16, 40, 20, seed=0)
    assert np.array_equal(stream[0][0], expected[0])
    assert np.array_equal(stream[0][1], expected[1])


def test_chains_continue_each_song_crop_after_crop_and_restart_at_a_chain_boundary():
    ws = WindowSet(songs(400, 300), 4, 3, 1)
    batches = [ws.chain_batch(n, 8, 20, 3, seed=1, pair_frames=10) for n in range(4)]
    assert [bool(b["first"]) for b in batches] == [True, False, False, True]
    first, second, third = (b["crops"][:, :, 0] for b in batches[:3])
    # the last frame of one crop is the first of the next, in the same song, row by row
    assert np.array_equal(second[:, 0], first[:, -1])
    assert np.array_equal(third[:, 0], second[:, -1])
    assert np.array_equal(np.diff(second, axis=1), np.ones((8, 19)))
    assert not np.array_equal(batches[3]["crops"][:, 0, 0], third[:, -1]), "a chain ran on"
    pairs = batches[1]["pairs"][:, :, 0]
    assert np.array_equal(pairs[:, 0] // 1000, second[:, 0] // 1000), "pair of another song"
    again = ws.chain_batch(1, 8, 20, 3, seed=1, pair_frames=10)
    assert np.array_equal(again["crops"], batches[1]["crops"])
    stream = next(iter(ws.crops(8, 20, seed=1, chain_crops=3, skip_batches=1)))
    assert np.array_equal(stream["crops"].numpy(), batches[1]["crops"])
    assert not bool(stream["first"].numpy())
    with pytest.raises(ValueError, match="one input pipeline"):
        ws.crops(8, 20, chain_crops=3, shard=(2, 0))
