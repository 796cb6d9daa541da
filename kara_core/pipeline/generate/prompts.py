"""Where generation starts: the user's ``--prompt`` file, or places in held-out songs.

One good clip proves nothing, so a run continues several prompts: from different held-out
songs while there are enough, then again from the same songs at later offsets
(:func:`prompt_offsets`). Each prompt is continued with its own seed
(:func:`prompt_seed`); ``diversity`` and ``prompt_sensitivity`` add clips with chosen
seeds (:mod:`kara_core.pipeline.generate.clips`).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from kara_core.audio.wav import resample, to_mono
from kara_core.errors import DecodeError, KaraError, ToolMissingError

if TYPE_CHECKING:
    from kara_core.components import Decoder, SongExcerpt

MAX_ROUNDTRIP_SECONDS = 60.0
"""A prompt file is read up to this long (the round trip is measured on at most this)."""


def load_prompt_file(path: Path, rate: int, prompt_seconds: float,
                     decoders: Sequence[Decoder]) -> np.ndarray:
    """The user's ``--prompt`` file (mp3, wav or anything soundfile reads, at any sample
    rate and channel count) as float32 mono at ``rate``: only its first
    ``max(prompt_seconds, MAX_ROUNDTRIP_SECONDS)`` seconds, all that is used (a two-hour
    file costs no more than a minute of it).

    mp3 is streamed through ``decoders`` in turn (the variant's decoder, then its
    fallback), each stopped once enough blocks arrived; anything else is read through
    soundfile up to that many frames. Errors name the file.
    """
    path = Path(path)
    if not path.is_file():
        raise KaraError(f"{path}: --prompt file not found")
    seconds = max(prompt_seconds, MAX_ROUNDTRIP_SECONDS)
    if path.suffix.lower() != ".mp3":
        wave = _read_start(path, seconds, rate)
        if wave.shape[0] == 0:
            raise KaraError(f"{path}: contains no audio")
        return wave
    reasons = []
    for decoder in decoders:
        try:
            decoder.check()
            samples, source_rate = _stream_start(decoder, path, seconds)
        except (DecodeError, ToolMissingError) as exc:
            reasons.append(f"{decoder.name}: {exc}")
            continue
        return resample(to_mono(samples), source_rate, rate)
    raise KaraError(f"{path}: cannot decode the prompt ({'; '.join(reasons)})")


def _stream_start(decoder: Decoder, path: Path, seconds: float) -> tuple[np.ndarray, int]:
    """``(samples [n, channels], rate)``: the first ``seconds`` of ``path`` as ``decoder``
    streams it; the stream is closed (the decoder stopped) as soon as they arrived."""
    with decoder.stream(path) as audio:
        wanted = max(1, math.ceil(seconds * audio.rate))
        blocks, count = [], 0
        for block in audio.blocks:
            blocks.append(np.asarray(block, np.float32))
            count += blocks[-1].shape[0]
            if count >= wanted:
                break
        channels = max(1, int(audio.channels))
        samples = (np.concatenate(blocks)[:wanted] if blocks
                   else np.zeros((0, channels), np.float32))
        return samples, int(audio.rate)


def _read_start(path: Path, seconds: float, rate: int) -> np.ndarray:
    """The first ``seconds`` of a file soundfile reads (wav, flac, ogg ...), float32 mono
    at ``rate``; :class:`KaraError` naming the file when it cannot be read or holds
    non-finite samples."""
    import os

    import soundfile as sf

    try:
        # bytes: soundfile encodes a str name strictly (a non-UTF-8 name would fail)
        with sf.SoundFile(os.fsencode(path)) as handle:
            frames = max(1, math.ceil(seconds * handle.samplerate))
            samples = handle.read(frames, dtype="float32", always_2d=True)
            file_rate = int(handle.samplerate)
    except (OSError, RuntimeError, sf.LibsndfileError, TypeError, ValueError) as exc:
        raise KaraError(f"{path}: cannot read audio ({exc})") from None
    mono = to_mono(samples)
    if not np.isfinite(mono).all():
        bad = int(np.count_nonzero(~np.isfinite(mono)))
        raise KaraError(f"{path}: {bad} of its samples are NaN or infinite; not audio Kara "
                        "can use")
    return resample(mono, file_rate, rate)


def prompt_seed(seed: int, number: int) -> int:
    """The seed of prompt ``number``: ``generate.seed + number``. One seed for every prompt
    would drive a model whose state forgets its prompt to the same clip six times over."""
    return int(seed) + int(number)


def clip_file(number: int) -> str:
    """``generated.wav`` for the first clip (``number`` 0), then ``generated-2.wav`` ..."""
    return "generated.wav" if number == 0 else f"generated-{number + 1}.wav"


def prompt_offsets(
    lengths: Sequence[float], count: int, prompt_seconds: float,
) -> list[tuple[int, float]]:
    """``(song index, offset in seconds)`` of ``count`` prompts over songs ``lengths``
    seconds long: songs 0, 1, ... in turn, so every prompt has its own song while there are
    enough; a song used ``r`` times gets its prompts at offsets ``0, 1/r, 2/r ...`` of the
    part that leaves room for the prompt (the same place only for a song no longer than
    the prompt)."""
    if not lengths or count < 1:
        return []
    songs = len(lengths)
    uses = [count // songs + (1 if i < count % songs else 0) for i in range(songs)]
    found = []
    for number in range(count):
        index, turn = number % songs, number // songs
        room = max(0.0, float(lengths[index]) - prompt_seconds)
        found.append((index, round(turn * room / max(1, uses[index]), 3)))
    return found


def describe_prompt(prompt: SongExcerpt) -> str:
    """``song.mp3`` or ``song.mp3 at 12.5 s``: where a prompt starts, for one-line notes."""
    name = Path(prompt.source).name
    return f"{name} at {prompt.offset:.1f} s" if prompt.offset else name


def note_short_prompt(name: str, wave: np.ndarray, rate: int, prompt_seconds: float,
                      context_frames: int, hop: int, note: Callable[[str], None]) -> None:
    """One line when the user's prompt is shorter than what the model reads before each
    frame (its context) or than ``generate.prompt_seconds``: the model then starts from
    less than it was trained to see."""
    have = wave.shape[0] / rate
    context = context_frames * hop / rate
    if context_frames > 1 and have < context:
        note(f"{name}: the prompt is {have:.2f} s, shorter than the model's context of "
             f"{context:.2f} s ({context_frames} frames); it continues from what there is")
    elif have < prompt_seconds:
        note(f"{name}: the prompt is {have:.2f} s, shorter than generate.prompt_seconds "
             f"({prompt_seconds:g} s); all of it is used")
