"""Small songs and configs for the featurize / train / distribute tests.

Songs are synthetic music (kara_core.testkit's music-like signal) at 8 kHz, written as
wavs the way prepare would, so these tests need neither mp3s nor a decoder. The model is
tiny (1 x LSTM(8), 8 -> 4 frames) on ``raw`` frames of 64 samples: an epoch takes well
under a second.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import soundfile as sf

from kara_core.config import VariantConfig, load_config
from kara_core.pipeline.prepare.stage import PreparedSong
from kara_core.plugins import get_plugin_manager
from kara_core.testkit.transforms import music_like_signal

RATE = 8000

CONFIG = """\
name: t
runs_dir: runs
dataset: {{mp3_dir: mp3, wav_dir: wav, cache_dir: cache, sample_rate: {rate},
           val_fraction: {val_fraction}}}
decoder: {{type: soundfile}}
transform: {{type: raw, options: {{frame_size: 64}}}}
model: {{type: lstm_seq2seq, options: {model}}}
train: {train}
"""
MODEL = "{layers: 1, units: 8, input_frames: 8, output_frames: 4}"
TRAIN = "{epochs: 2, batch_size: 32, seed: 0, distribute: none, patience: 0}"


def write_songs(
    folder: Path, count: int = 3, seconds: float = 3.0, silent: int = 0,
) -> list[PreparedSong]:
    """``count`` music-like wavs (plus ``silent`` silent ones, flagged) in ``folder/wav``;
    existing files are kept as they are."""
    wav_dir = folder / "wav"
    wav_dir.mkdir(parents=True, exist_ok=True)
    songs = []
    for number in range(count + silent):
        wave = (music_like_signal(seconds, RATE, seed=number) if number < count
                else np.zeros(int(seconds * RATE), np.float32))
        path = wav_dir / f"song{number}.wav"
        if not path.exists():  # rewriting changes the bytes (libsndfile's PEAK timestamp)
            sf.write(path, wave, RATE, subtype="FLOAT")
        flags = ("silent",) if number >= count else ()
        songs.append(PreparedSong(f"song{number}.mp3", path, seconds, flags))
    return songs


def write_config(
    folder: Path, *, model: str = MODEL, train: str = TRAIN, val_fraction: float = 0.34,
) -> Path:
    """A kara.yaml for the tiny model in ``folder``."""
    path = folder / "kara.yaml"
    path.write_text(CONFIG.format(rate=RATE, model=model, train=train,
                                  val_fraction=val_fraction), encoding="utf-8")
    return path


def variant_of(config: Path, name: str = "base") -> VariantConfig:
    """The resolved variant ``name`` of ``config``."""
    return load_config(config, get_plugin_manager().registry).variant(name)
