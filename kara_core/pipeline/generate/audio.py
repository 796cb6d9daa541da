"""One prompt continued by the model and turned back into audio.

The prompt's audio goes through ``transform.forward`` and the feature set's normalisation;
the model continues it for ``seconds`` of frames with its own compiled step
(``Model.generate``); the frames are de-normalised, limited to the training songs' range
and inverted by the transform. Audio that would clip has its peaks limited (the music
around them keeps its level), and the record says so: a quiet or broken model must stay
audible as such.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

import numpy as np

from kara_core.audio.wav import write_wav
from kara_core.errors import KaraError

if TYPE_CHECKING:
    from collections.abc import Sequence

    from kara_core.components import Decoder, Model, Transform

PEAK_TARGET = 0.99
"""The ceiling clipping audio is limited to; untouched when its peak is at most 1.0."""
LIMITER_SECONDS = 0.005
"""How far ahead the peak limiter starts lowering the gain before a peak, and how long it
takes to let go after it: short enough to leave the music around a click at its level,
long enough not to distort the waveform of the click itself into a buzz."""


class FrameScale(Protocol):
    """How frames are normalised for the model (the feature set does this): ``normalise``
    and ``denormalise``, and optionally ``low``/``high``, the training songs' range."""

    def normalise(self, frames: np.ndarray) -> np.ndarray: ...

    def denormalise(self, frames: np.ndarray) -> np.ndarray: ...


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
    peak_limited: bool
    seconds: float
    clipped_fraction: float = 0.0

    @property
    def compute_seconds(self) -> float:
        """Time spent in the model and the inverse transform."""
        return self.model_seconds + self.inverse_seconds

    @property
    def rtf(self) -> float:
        """Real-time factor as :func:`kara_core.audio.spectral.real_time_factor` defines:
        seconds per second of audio; below 1 is faster than real time."""
        return self.compute_seconds / self.seconds if self.seconds > 0 else 0.0

    @property
    def x_realtime(self) -> float:
        """Seconds of audio per second of compute (the inverse of :attr:`rtf`)."""
        spent = self.compute_seconds
        return float("inf") if spent <= 0 else self.seconds / spent


# --------------------------------------------------------------------------- generation


def frames_for(seconds: float, rate: int, hop: int) -> int:
    """How many frames cover ``seconds`` of audio (at least one)."""
    return max(1, math.ceil(seconds * rate / hop))


def prompt_frames(
    wave: np.ndarray, prompt_seconds: float, transform: Transform, scale: FrameScale, rate: int
) -> tuple[np.ndarray, np.ndarray]:
    """``(prompt audio, normalised prompt frames)``: the first ``prompt_seconds`` of
    ``wave`` (at least one frame's worth, so the model always has a starting point)."""
    n = max(round(prompt_seconds * rate), transform.hop, 1)
    audio = np.ascontiguousarray(wave[:n], dtype=np.float32)
    frames = transform.forward(audio)
    return audio, np.asarray(scale.normalise(frames), dtype=np.float32)


def generate_audio(
    model: Model, transform: Transform, scale: FrameScale, prompt_wave: np.ndarray, *,
    rate: int, prompt_seconds: float, seconds: float, temperature: float = 0.0, seed: int = 0,
) -> Generation:
    """Continue the prompt for ``seconds`` and return the audio with its timings.

    Raises :class:`KaraError` when the model produces non-finite frames (a diverged
    training): writing NaNs as a wav would only hide the problem.
    """
    audio, prompt = prompt_frames(prompt_wave, prompt_seconds, transform, scale, rate)
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
    denormalised, clipped = clip_to_training_range(scale.denormalise(frames), scale)
    wave = np.asarray(transform.inverse(denormalised, length), np.float32)
    inverse_seconds = time.perf_counter() - start
    if not np.isfinite(wave).all():
        raise KaraError(
            f"transform {transform.name!r} turned the generated frames into non-finite audio"
        )
    wave, peak, limited = limit_peaks(wave, rate)
    return Generation(
        prompt_wave=audio, prompt_frames=prompt, frames=frames, wave=wave,
        model_seconds=model_seconds, inverse_seconds=inverse_seconds, peak=peak,
        peak_limited=limited, seconds=length / rate, clipped_fraction=clipped,
    )


def clip_to_training_range(frames: np.ndarray, scale: FrameScale) -> tuple[np.ndarray, float]:
    """``(frames limited per feature to the training songs' range, fraction changed)``.

    A model fed its own output with ``temperature`` noise can drift to feature values no
    training song has (for log magnitudes, gains of thousands); inverted, that is a burst
    of noise that peak limiting then hides. Keeping each feature within what the
    training songs contain (``scale.low``/``high``, measured with the normalisation
    statistics) bounds the damage, and the fraction is recorded so it is seen.
    """
    low, high = getattr(scale, "low", None), getattr(scale, "high", None)
    if low is None or high is None:
        return frames, 0.0
    clipped = np.clip(frames, low, high).astype(np.float32, copy=False)
    changed = float(np.mean(clipped != frames)) if frames.size else 0.0
    return clipped, changed


def limit_peaks(wave: np.ndarray, rate: int) -> tuple[np.ndarray, float, bool]:
    """``(audio, peak before, limited?)``: audio that clips brought under
    :data:`PEAK_TARGET` by a look-ahead peak limiter; untouched when its peak is at most 1.0.

    Why a limiter and not scaling the whole clip: generated audio's peaks are sharper than
    music's (an attack in every band at once inverts to a click), and scaling the clip by
    its one loudest click left the music around it quieter than the prompt it continues
    (8 dB on the development music: a drop a listener hears at the seam, and that every
    level-dependent measure read as a different sound). The limiter lowers the gain only
    around each peak (:data:`LIMITER_SECONDS` ahead and behind), as mastering does."""
    from scipy.ndimage import minimum_filter1d, uniform_filter1d

    peak = float(np.max(np.abs(wave))) if wave.size else 0.0
    if peak <= 1.0:
        return wave, peak, False
    width = 2 * max(1, round(rate * LIMITER_SECONDS)) + 1
    needed = np.minimum(1.0, PEAK_TARGET / np.maximum(np.abs(wave.astype(np.float64)), 1e-12))
    # every gain averaged into a sample's is the least needed within reach of it, so no
    # sample is left above the ceiling but by rounding (the clip is a guard against that)
    gain = uniform_filter1d(minimum_filter1d(needed, width), width)
    return np.clip(wave * gain, -PEAK_TARGET, PEAK_TARGET).astype(np.float32), peak, True


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
