"""Featurize: a trustworthy frame cache, a split by song, statistics from training songs."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest
import soundfile as sf

from kara_core.errors import KaraError
from kara_core.pipeline.parts import featurize
from tests.support.training import RATE, variant_of, write_config, write_songs


@pytest.fixture
def setup(tmp_path):
    songs = write_songs(tmp_path, count=4, seconds=1.0)
    return tmp_path, songs, variant_of(write_config(tmp_path))


def stamps(features):
    return {s.npy.name: s.npy.stat().st_mtime_ns for s in [*features.train, *features.val]}


def test_frames_are_cached_and_reused_until_reload(setup):
    _folder, songs, variant = setup
    first = featurize(variant, songs, show_progress=False)
    before = stamps(first)
    assert len(before) == 4
    assert first.directory.parent == variant.dataset.cache_dir
    again = featurize(variant, songs, show_progress=False)
    assert stamps(again) == before
    reloaded = featurize(variant, songs, reload=True, show_progress=False)
    assert all(stamp > before[name] for name, stamp in stamps(reloaded).items())


@pytest.mark.parametrize("damage", ["truncate", "garbage", "no_sidecar", "wrong_shape"])
def test_a_damaged_cache_file_is_rebuilt_not_trusted(setup, damage):
    _folder, songs, variant = setup
    song = featurize(variant, songs, show_progress=False).train[0]
    good = np.load(song.npy).copy()
    sidecar = song.npy.with_suffix(".json")
    if damage == "truncate":
        song.npy.write_bytes(song.npy.read_bytes()[:-100])
    elif damage == "garbage":
        song.npy.write_bytes(b"\x00" * song.npy.stat().st_size)
    elif damage == "no_sidecar":
        song.npy.write_bytes(song.npy.read_bytes()[:200])
        sidecar.unlink()
    else:
        meta = json.loads(sidecar.read_text())
        meta["shape"][0] += 1
        sidecar.write_text(json.dumps(meta))
    again = featurize(variant, songs, show_progress=False)
    rebuilt = next(s for s in [*again.train, *again.val] if s.npy == song.npy)
    assert np.array_equal(np.load(rebuilt.npy), good)
    assert json.loads(sidecar.read_text())["shape"] == list(good.shape)


def test_the_key_follows_transform_options_and_wav_content(setup):
    _folder, songs, variant = setup
    first = featurize(variant, songs, show_progress=False)
    other = dataclasses.replace(variant, transform=dataclasses.replace(
        variant.transform, options=variant.transform.cls.Options(frame_size=32)))
    assert featurize(other, songs, show_progress=False).directory != first.directory
    names = {s.source: s.npy.name for s in [*first.train, *first.val]}
    sf.write(songs[0].wav, np.zeros(RATE, np.float32) + 0.1, RATE, subtype="FLOAT")
    changed = featurize(variant, songs, show_progress=False)
    renamed = {s.source: s.npy.name for s in [*changed.train, *changed.val]}
    assert renamed[songs[0].source] != names[songs[0].source]
    assert renamed[songs[1].source] == names[songs[1].source]


def test_split_is_by_song_and_fixed_by_the_seed(setup):
    _folder, songs, variant = setup
    first = featurize(variant, songs, show_progress=False)
    assert len(first.val) == 1 and len(first.train) == 3  # round(4 * 0.34)
    assert {s.source for s in first.val}.isdisjoint({s.source for s in first.train})
    assert all(s.start == 0 and s.stop > 0 for s in [*first.train, *first.val])
    again = featurize(variant, list(reversed(songs)), show_progress=False)
    assert [s.source for s in again.val] == [s.source for s in first.val]
    held = set()
    for seed in range(6):
        seeded = dataclasses.replace(variant, train=dataclasses.replace(variant.train, seed=seed))
        held.add(featurize(seeded, songs, show_progress=False).val[0].source)
    assert len(held) > 1, "the seed never changes which song is held out"


def test_two_songs_keep_one_for_validation_even_with_a_tiny_fraction(tmp_path):
    songs = write_songs(tmp_path, count=2, seconds=1.0)
    variant = variant_of(write_config(tmp_path, val_fraction=0.01))
    features = featurize(variant, songs, show_progress=False)
    assert (len(features.train), len(features.val)) == (1, 1)


def test_a_single_song_holds_out_its_tail_and_says_so(tmp_path):
    songs = write_songs(tmp_path, count=1, seconds=2.0)
    features = featurize(variant_of(write_config(tmp_path)), songs, show_progress=False)
    (train,), (val,) = features.train, features.val
    assert train.source == val.source and train.start == 0
    assert train.stop == val.start and val.stop == np.load(val.npy).shape[0]
    assert 0.25 < val.n_frames / val.stop < 0.45
    assert features.split_note and "held out" in features.split_note
    assert "song0.mp3" in features.split_note


def test_statistics_come_from_training_songs_only(setup):
    _folder, songs, variant = setup
    features = featurize(variant, songs, show_progress=False)
    train = np.concatenate([s.raw_frames() for s in features.train]).astype(np.float64)
    assert np.allclose(features.mean, train.mean(axis=0), atol=1e-6)
    assert np.array_equal(features.low, train.min(axis=0).astype(np.float32))
    assert np.array_equal(features.high, train.max(axis=0).astype(np.float32))
    again = featurize(variant, songs, show_progress=False)  # from the cached statistics
    assert np.array_equal(again.low, features.low) and np.array_equal(again.high, features.high)
    normalised = np.concatenate([s.frames() for s in features.train])
    assert abs(normalised.mean()) < 1e-4
    assert 0.9 < normalised.std() < 1.1
    song = features.val[0]
    assert np.allclose(features.denormalise(song.frames()), song.raw_frames(), atol=1e-5)
    assert np.allclose(features.normalise(song.raw_frames()), song.frames(), atol=1e-6)
    assert song.n_samples == RATE


def test_silent_songs_are_left_out_and_all_silent_is_an_error(tmp_path):
    songs = write_songs(tmp_path, count=2, seconds=1.0, silent=1)
    variant = variant_of(write_config(tmp_path))
    features = featurize(variant, songs, show_progress=False)
    used = {s.source for s in [*features.train, *features.val]}
    assert used == {"song0.mp3", "song1.mp3"}
    with pytest.raises(KaraError, match="no usable songs"):
        featurize(variant, [s for s in songs if s.flags], show_progress=False)


def test_an_unreadable_wav_is_reported_and_the_others_go_on(setup, capsys):
    _folder, songs, variant = setup
    songs[2].wav.write_bytes(b"not a wav at all")
    features = featurize(variant, songs, show_progress=False)
    assert len(features.train) + len(features.val) == 3
    assert "song2.mp3" in capsys.readouterr().err
    assert any("song2.mp3" in line for line in features.skipped)


# --------------------------------------------------------------------------- plugin upgrades

FRAMER_PLUGIN = """
from kara_core import hookimpl
from kara_transforms.raw import RawTransform


class Framer(RawTransform):
    name = "framer"


@hookimpl
def kara_register_transforms(register):
    register(Framer)
"""


def upgrade(site, name: str, old: str, new: str) -> None:
    """``pip install -U`` of a fake distribution, in place."""
    import importlib

    info = site / f"{name}-{old}.dist-info"
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: {new}\n")
    info.rename(site / f"{name}-{new}.dist-info")
    importlib.invalidate_caches()


@pytest.fixture
def framer(tmp_path, monkeypatch):
    """A third-party transform plugin ``framerplug`` 0.1 installed on ``tmp_path/site``,
    and a config that featurizes with it."""
    import sys

    from tests.support.cli import fake_distribution

    site = tmp_path / "site"
    fake_distribution(site, "framerplug", FRAMER_PLUGIN)
    monkeypatch.syspath_prepend(str(site))
    monkeypatch.delitem(sys.modules, "framerplug", raising=False)
    config = write_config(tmp_path)
    config.write_text(config.read_text().replace("type: raw", "type: framer"))
    yield site, config, write_songs(tmp_path, count=3, seconds=1.0)
    sys.modules.pop("framerplug", None)


def test_a_transform_plugin_upgraded_in_place_is_featurized_again(framer, capsys):
    site, config, songs = framer
    variant = variant_of(config)
    assert (variant.transform.distribution, variant.transform.version) == ("framerplug", "0.1")
    first = featurize(variant, songs, show_progress=True)
    again = featurize(variant_of(config), songs, show_progress=True)
    assert again.key == first.key and stamps(again) == stamps(first)
    assert "featurizing again" not in capsys.readouterr().err
    upgrade(site, "framerplug", "0.1", "0.2")
    upgraded = featurize(variant_of(config), songs, show_progress=True)
    err = capsys.readouterr().err
    assert ("framer: the transform's plugin changed (framerplug 0.1 -> 0.2): featurizing "
            "again") in err, err
    assert upgraded.key != first.key and upgraded.directory != first.directory
    assert all(s.npy.parent == upgraded.directory for s in [*upgraded.train, *upgraded.val])
    key = json.loads((upgraded.directory / "key.json").read_text())
    assert key["component"] == {"plugin": "framerplug", "distribution": "framerplug",
                                "version": "0.2", "cache_version": None}
    # a model trained on the old frames is told why its data changed
    from kara_core.pipeline.featurize.identity import explain_change

    assert explain_change(upgraded, first.identity()).startswith(
        "the transform's plugin changed (framerplug 0.1 -> 0.2)")


def test_a_transform_s_own_cache_version_changes_its_key(framer, capsys, monkeypatch):
    _site, config, songs = framer
    variant = variant_of(config)
    first = featurize(variant, songs, show_progress=True)
    capsys.readouterr()
    monkeypatch.setattr(variant.transform.cls, "cache_version", 2)
    bumped = featurize(variant_of(config), songs, show_progress=True)
    assert bumped.key != first.key
    assert ("framer: the transform's cache_version changed (None -> 2): featurizing again"
            in capsys.readouterr().err)


def test_the_registry_records_each_component_s_distribution_and_version():
    from importlib.metadata import version

    from kara_core.plugins import get_plugin_manager

    entry = get_plugin_manager().registry.get("transforms", "raw")
    assert (entry.plugin, entry.distribution, entry.version) == (
        "kara_transforms", "kara", version("kara"))


def test_an_edited_plugin_without_a_cache_version_bump_is_warned_about_once(framer, capsys):
    site, config, songs = framer
    first = featurize(variant_of(config), songs, show_progress=True)
    source = site / "framerplug" / "__init__.py"
    source.write_text(source.read_text() + "\n# edited: forward changed in place\n")
    again = featurize(variant_of(config), songs, show_progress=True)
    err = " ".join(capsys.readouterr().err.split())
    assert again.key == first.key  # same version, same cache_version: the same folder ...
    assert ("transform 'framer' of plugin 'framerplug' (framerplug 0.1): its source changed "
            "since its frames in") in err, err  # ... but the user is told
    assert "bump the transform's cache_version" in err
    featurize(variant_of(config), songs, show_progress=True)
    assert "source changed" not in capsys.readouterr().err  # once per change
