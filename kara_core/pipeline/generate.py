"""Generation: a prompt from a held-out song, continued by the model, turned back into audio.

The prompt is the first ``generate.prompt_seconds`` of a song the model never trained on
(wav -> ``transform.forward`` -> the feature set's normalisation). The model continues it
for ``generate.seconds`` of frames with its own compiled step (``Model.generate``); the
frames are de-normalised and inverted by the transform. Audio is peak-normalised only when
it would clip, and the record says so: a quiet or broken model must stay audible as such.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from kara_core.audio.wav import read_mono, resample, to_mono, write_wav
from kara_core.errors import DecodeError, KaraError, ToolMissingError

if TYPE_CHECKING:
    from collections.abc import Sequence

    from kara_core.components import Decoder, Model, Transform
    from kara_core.config import VariantConfig

PEAK_TARGET = 0.99
"""Where clipping audio is scaled to; untouched when its peak is at most 1.0."""
MAX_ROUNDTRIP_SECONDS = 60.0
"""The round trip is measured on at most this much of the held-out song."""


@dataclass(frozen=True)
class PromptAudio:
    """Where the generation starts.

    :ivar wave: float32 mono audio at the experiment's sample rate: the whole held-out
        excerpt (or the user's file); the prompt is its first ``prompt_seconds``.
    :ivar source: the file it came from, for the record.
    :ivar held_out: False when no held-out song exists and a training song was used.
    :ivar offset: where ``wave`` starts, in seconds from the start of the song's held-out
        part (0 for the first prompt of a song; later prompts of one song start later).
    """

    wave: np.ndarray
    source: str
    held_out: bool
    offset: float = 0.0


@dataclass
class Generation:
    """One generated excerpt and what it cost."""

    prompt_wave: np.ndarray
    prompt_frames: np.ndarray
    frames: np.ndarray
    wave: np.ndarray
    model_seconds: float
    inverse_seconds: float
    peak: float
    peak_normalised: bool
    seconds: float
    clipped_fraction: float = 0.0

    @property
    def compute_seconds(self) -> float:
        """Time spent in the model and the inverse transform."""
        return self.model_seconds + self.inverse_seconds

    @property
    def rtf(self) -> float:
        """Real-time factor as :func:`kara_core.measures.roundtrip.real_time_factor` defines:
        seconds per second of audio; below 1 is faster than real time."""
        return self.compute_seconds / self.seconds if self.seconds > 0 else 0.0

    @property
    def x_realtime(self) -> float:
        """Seconds of audio per second of compute (the inverse of :attr:`rtf`)."""
        spent = self.compute_seconds
        return float("inf") if spent <= 0 else self.seconds / spent


# --------------------------------------------------------------------------- audio input


def load_prompt_file(path: Path, variant: VariantConfig) -> np.ndarray:
    """The user's ``--prompt`` file as float32 mono at the experiment's rate: only its
    first ``max(generate.prompt_seconds, MAX_ROUNDTRIP_SECONDS)`` seconds, all that is used
    (a two-hour file costs no more than a minute of it).

    mp3 is streamed through the configured decoder (then its fallback) and the decoder is
    stopped once enough blocks arrived; anything else is read through soundfile up to that
    many frames. Errors name the file.
    """
    path = Path(path)
    if not path.is_file():
        raise KaraError(f"{path}: --prompt file not found")
    rate = variant.dataset.sample_rate
    seconds = max(variant.generate.prompt_seconds, MAX_ROUNDTRIP_SECONDS)
    if path.suffix.lower() != ".mp3":
        wave = _read_start(path, seconds, rate)
        if wave.shape[0] == 0:
            raise KaraError(f"{path}: contains no audio")
        return wave
    reasons = []
    for decoder in variant.build_decoders():
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


def song_excerpt(
    song: Any, hop: int, rate: int, seconds: float | None = None, offset: float = 0.0,
) -> np.ndarray:
    """The held-out part of a cached song as audio: samples ``start*hop`` to ``stop*hop``
    of its wav (frames ``start:stop`` of its cache), from ``offset`` seconds into that part
    on, at most ``seconds`` long."""
    wave = read_mono(Path(song.wav), rate)
    first = max(0, int(song.start) * int(hop))
    last = min(wave.shape[0], int(song.stop) * int(hop))
    if last <= first:
        last = wave.shape[0]
    first = min(first + max(0, round(offset * rate)), max(first, last - 1))
    if seconds is not None:
        last = min(last, first + max(1, round(seconds * rate)))
    return np.ascontiguousarray(wave[first:last])


def heldout_songs(features: Any) -> tuple[list[Any], bool]:
    """The validation songs, or (with none held out) the training songs and ``False``."""
    if features.val:
        return list(features.val), True
    if features.train:
        return list(features.train), False
    raise KaraError("no songs in the feature set: nothing to prompt the model with")


def heldout_prompt(features: Any, transform: Transform, variant: VariantConfig) -> PromptAudio:
    """The first held-out song's excerpt, long enough for the prompt and the round trip."""
    songs, held_out = heldout_songs(features)
    song = songs[0]
    gen = variant.generate
    seconds = min(MAX_ROUNDTRIP_SECONDS, gen.prompt_seconds + gen.seconds)
    wave = song_excerpt(song, transform.hop, variant.dataset.sample_rate, seconds)
    return PromptAudio(wave=wave, source=str(song.source), held_out=held_out)


def heldout_waves(
    features: Any, transform: Transform, rate: int, max_seconds: float = 600.0,
) -> tuple[list[np.ndarray], bool]:
    """``(each held-out song's audio, held out?)``, at most ``max_seconds`` in all: real
    music to measure generated audio against (the training songs when none is held out)."""
    named, held_out = heldout_named_waves(features, transform, rate, max_seconds)
    return [wave for _source, wave in named], held_out


def heldout_named_waves(
    features: Any, transform: Transform, rate: int, max_seconds: float = 600.0,
) -> tuple[list[tuple[str, np.ndarray]], bool]:
    """:func:`heldout_waves` with each song's source, as :class:`PromptAudio` names it."""
    songs, held_out = heldout_songs(features)
    named: list[tuple[str, np.ndarray]] = []
    remaining = max_seconds
    for song in songs:
        if remaining <= 0:
            break
        part = song_excerpt(song, transform.hop, rate, remaining)
        if part.size:
            named.append((str(song.source), part))
        remaining -= part.shape[0] / rate
    return named, held_out


def heldout_reference(
    features: Any, transform: Transform, rate: int, max_seconds: float = 120.0
) -> np.ndarray:
    """Held-out audio to compare generated audio with: the validation songs, up to
    ``max_seconds`` in total (the training songs when nothing is held out)."""
    parts, _held_out = heldout_waves(features, transform, rate, max_seconds)
    return np.concatenate(parts) if parts else np.zeros(0, np.float32)


def training_excerpt(
    features: Any, transform: Transform, rate: int, offset_s: float, seconds: float
) -> np.ndarray | None:
    """``seconds`` of the first training song from ``offset_s`` on: real music from the
    same collection, to score the way generated audio is scored (``None`` when there is
    no training song apart from the held-out one)."""
    if not features.val or not features.train:
        return None
    song = features.train[0]
    wave = song_excerpt(song, transform.hop, rate, offset_s + seconds)
    start = min(round(offset_s * rate), max(0, wave.shape[0] - round(seconds * rate)))
    return np.ascontiguousarray(wave[start:])


# --------------------------------------------------------------------------- generation


def frames_for(seconds: float, rate: int, hop: int) -> int:
    """How many frames cover ``seconds`` of audio (at least one)."""
    return max(1, math.ceil(seconds * rate / hop))


def prompt_frames(
    wave: np.ndarray, prompt_seconds: float, transform: Transform, features: Any, rate: int
) -> tuple[np.ndarray, np.ndarray]:
    """``(prompt audio, normalised prompt frames)``: the first ``prompt_seconds`` of
    ``wave`` (at least one frame's worth, so the model always has a starting point)."""
    n = max(round(prompt_seconds * rate), transform.hop, 1)
    audio = np.ascontiguousarray(wave[:n], dtype=np.float32)
    frames = transform.forward(audio)
    return audio, np.asarray(features.normalise(frames), dtype=np.float32)


def generate_audio(
    model: Model, transform: Transform, features: Any, prompt_wave: np.ndarray, *,
    rate: int, prompt_seconds: float, seconds: float, temperature: float = 0.0, seed: int = 0,
) -> Generation:
    """Continue the prompt for ``seconds`` and return the audio with its timings.

    Raises :class:`KaraError` when the model produces non-finite frames (a diverged
    training): writing NaNs as a wav would only hide the problem.
    """
    audio, prompt = prompt_frames(prompt_wave, prompt_seconds, transform, features, rate)
    n_frames = frames_for(seconds, rate, transform.hop)
    start = time.perf_counter()
    frames = np.asarray(
        model.generate(prompt, n_frames, temperature=temperature, seed=seed), dtype=np.float32
    )
    model_seconds = time.perf_counter() - start
    if frames.shape != (n_frames, transform.frame_dim):
        raise KaraError(
            f"model {model.name!r} generated frames of shape {frames.shape}, "
            f"expected {(n_frames, transform.frame_dim)}"
        )
    if not np.isfinite(frames).all():
        raise KaraError(
            f"model {model.name!r} generated non-finite frames (NaN or inf): training "
            "diverged; retrain with --rebuild or a lower learning rate"
        )
    length = round(seconds * rate)
    start = time.perf_counter()
    denormalised, clipped = clip_to_training_range(features.denormalise(frames), features)
    wave = np.asarray(transform.inverse(denormalised, length), np.float32)
    inverse_seconds = time.perf_counter() - start
    if not np.isfinite(wave).all():
        raise KaraError(
            f"transform {transform.name!r} turned the generated frames into non-finite audio"
        )
    wave, peak, normalised = guard_peak(wave)
    return Generation(
        prompt_wave=audio, prompt_frames=prompt, frames=frames, wave=wave,
        model_seconds=model_seconds, inverse_seconds=inverse_seconds, peak=peak,
        peak_normalised=normalised, seconds=length / rate, clipped_fraction=clipped,
    )


def clip_to_training_range(frames: np.ndarray, features: Any) -> tuple[np.ndarray, float]:
    """``(frames limited per feature to the training songs' range, fraction changed)``.

    A model fed its own output with ``temperature`` noise can drift to feature values no
    training song has (for log magnitudes, gains of thousands); inverted, that is a burst
    of noise that peak normalisation then hides. Keeping each feature within what the
    training songs contain (``features.low``/``high``, measured with the normalisation
    statistics) bounds the damage, and the fraction is recorded so it is seen.
    """
    low, high = getattr(features, "low", None), getattr(features, "high", None)
    if low is None or high is None:
        return frames, 0.0
    clipped = np.clip(frames, low, high).astype(np.float32, copy=False)
    changed = float(np.mean(clipped != frames)) if frames.size else 0.0
    return clipped, changed


def guard_peak(wave: np.ndarray) -> tuple[np.ndarray, float, bool]:
    """``(audio, peak before, scaled?)``: scaled to a peak of 0.99 only when it clips."""
    peak = float(np.max(np.abs(wave))) if wave.size else 0.0
    if peak <= 1.0:
        return wave, peak, False
    return (wave * np.float32(PEAK_TARGET / peak)).astype(np.float32), peak, True


# --------------------------------------------------------------------------- writing


def write_audio(
    path: Path, wave: np.ndarray, rate: int, encoders: Sequence[Decoder] = ()
) -> None:
    """``path`` as a wav, or in another format (``.mp3``) through the first of ``encoders``
    (the variant's decoders) that encodes it; :class:`KaraError` when none does."""
    suffix = Path(path).suffix.lower()
    if suffix == ".wav":
        write_wav(path, wave, rate)
        return
    for decoder in encoders:
        if decoder.encodes == suffix:
            decoder.check()
            decoder.encode(Path(path), wave, rate)
            return
    names = ", ".join(d.name for d in encoders) or "none"
    raise KaraError(f"{path}: no decoder of this variant ({names}) writes "
                    f"{suffix or 'files without a suffix'}; write a .wav, or configure a "
                    "decoder that encodes it (see 'kara plugins')")


def generation_record(
    generation: Generation, prompt: PromptAudio, variant: VariantConfig, files: list[str]
) -> dict[str, Any]:
    """The ``generation`` section of ``metrics.json``."""
    gen = variant.generate
    return {
        "seconds": round(generation.seconds, 4),
        "frames": int(generation.frames.shape[0]),
        "prompt_seconds": round(generation.prompt_wave.shape[0] / variant.dataset.sample_rate, 4),
        "prompt_frames": int(generation.prompt_frames.shape[0]),
        "prompt_source": prompt.source,
        "prompt_held_out": prompt.held_out,
        "temperature": gen.temperature,
        "seed": gen.seed,
        "model_seconds": round(generation.model_seconds, 4),
        "inverse_seconds": round(generation.inverse_seconds, 4),
        "rtf": round(generation.rtf, 5),
        "x_realtime": round(generation.x_realtime, 2),
        "peak": round(generation.peak, 4),
        "peak_normalised": generation.peak_normalised,
        "clipped_fraction": round(generation.clipped_fraction, 5),
        "files": files,
    }
