"""``check_decoder``: the contract every decoder passes, built-in or third-party.

Run it in your plugin's tests::

    from kara_core.testing import check_decoder

    def test_my_decoder():
        check_decoder(MyDecoder, some_option=1)

It builds the decoder the way Kara does (options validated like kara.yaml's), then checks
that ``check()`` passes on this machine, that ``version()`` is a non-empty string, that a
generated reference mp3 (mono 22.05 kHz, and stereo 44.1 kHz with a different tone in each
channel) decodes to float32 ``[n, channels]`` of the right rate, duration, channel order
and pitch, that ``stream()`` gives the same audio block by block, and that garbage (random
bytes, text, an empty file, a missing file) raises :class:`DecodeError` and nothing else.
The reference is written by libsndfile's bundled LAME library, so the kit needs no
``lame`` program. Each failure is an ``AssertionError`` saying what was expected.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from kara_core.components import Audio, Decoder
from kara_core.errors import DecodeError, ToolMissingError
from kara_core.options import OptionError, build

REFERENCES = (  # (file name, rate, tone per channel in Hz)
    ("mono-22050.mp3", 22050, (440.0,)),
    ("stereo-44100.mp3", 44100, (440.0, 1000.0)),
)
REFERENCE_SECONDS = 2.0
DURATION_TOLERANCE_S = 0.1
"""Decoders differ by the encoder delay they trim (under 0.06 s at 22.05 kHz)."""


def write_reference_mp3(path: Path, rate: int, tones: tuple[float, ...],
                        seconds: float = REFERENCE_SECONDS) -> np.ndarray:
    """Write a tone-per-channel mp3 with libsndfile; return the float32 signal encoded."""
    import soundfile as sf

    t = np.arange(round(seconds * rate)) / rate
    envelope = np.minimum(1.0, np.minimum(t, seconds - t) / 0.05)
    signal = np.stack([0.5 * envelope * np.sin(2 * np.pi * f * t) for f in tones], axis=1)
    if not sf.check_format("MP3", "MPEG_LAYER_III"):
        raise AssertionError(
            f"libsndfile {sf.__libsndfile_version__} cannot write mp3, so the decoder kit "
            "cannot make its reference file: pip install -U soundfile"
        )
    sf.write(path, signal.astype(np.float32), rate, format="MP3", subtype="MPEG_LAYER_III")
    return signal.astype(np.float32)


def _dominant_hz(channel: np.ndarray, rate: int) -> float:
    spectrum = np.abs(np.fft.rfft(channel * np.hanning(len(channel))))
    return float(np.argmax(spectrum) * rate / len(channel))


def _check_audio(where: str, audio: Any, rate: int, tones: tuple[float, ...]) -> None:
    assert isinstance(audio, Audio), f"{where}: decode() returned {type(audio).__name__}, " \
        "expected kara_core.components.Audio"
    samples = audio.samples
    assert isinstance(samples, np.ndarray) and samples.dtype == np.float32, (
        f"{where}: samples must be a float32 numpy array, got "
        f"{getattr(samples, 'dtype', type(samples))}"
    )
    assert samples.ndim == 2 and samples.shape[1] == len(tones), (
        f"{where}: samples must have shape [n, {len(tones)}], got {samples.shape}"
    )
    assert audio.rate == rate, f"{where}: rate {audio.rate}, expected the file's {rate} Hz"
    duration = samples.shape[0] / rate
    assert abs(duration - REFERENCE_SECONDS) <= DURATION_TOLERANCE_S, (
        f"{where}: decoded {duration:.3f} s, expected {REFERENCE_SECONDS} s "
        f"± {DURATION_TOLERANCE_S} s"
    )
    assert np.isfinite(samples).all(), f"{where}: samples hold NaN or infinity"
    peak = float(np.abs(samples).max())
    assert 0.2 < peak <= 1.0, f"{where}: peak {peak:.3f}, expected about 0.5 (full scale = 1.0)"
    for channel, tone in enumerate(tones):
        found = _dominant_hz(samples[:, channel], rate)
        assert abs(found - tone) < 5.0, (
            f"{where}: channel {channel} sounds at {found:.0f} Hz, expected {tone:.0f} Hz "
            "(channel order or pitch is wrong)"
        )


def _check_stream(where: str, decoder: Decoder, path: Path, whole: Audio) -> None:
    with decoder.stream(path, block_frames=4096) as audio:
        assert audio.rate == whole.rate and audio.channels == whole.samples.shape[1], (
            f"{where}: stream() says {audio.rate} Hz x {audio.channels}, decode() gave "
            f"{whole.rate} Hz x {whole.samples.shape[1]}"
        )
        blocks = list(audio.blocks)
    for block in blocks:
        assert block.dtype == np.float32 and block.ndim == 2, (
            f"{where}: stream() blocks must be float32 [m, channels], got {block.dtype} "
            f"{block.shape}"
        )
    joined = np.concatenate(blocks) if blocks else np.zeros((0, audio.channels), np.float32)
    assert joined.shape == whole.samples.shape, (
        f"{where}: stream() gave {joined.shape}, decode() gave {whole.samples.shape}"
    )
    assert np.allclose(joined, whole.samples, atol=1e-4), (
        f"{where}: stream() and decode() give different samples"
    )


def _check_garbage(name: str, decoder: Decoder, folder: Path) -> None:
    rng = np.random.default_rng(0)
    cases = {
        "random bytes": rng.integers(0, 256, 64 * 1024, dtype=np.uint8).tobytes(),
        "a text file": b"This is not audio, just some text named like an mp3.\n" * 40,
        "an empty file": b"",
    }
    paths: dict[str, Path] = {}
    for label, data in cases.items():
        path = folder / f"garbage-{len(paths)}.mp3"
        path.write_bytes(data)
        paths[label] = path
    paths["a missing file"] = folder / "does-not-exist.mp3"
    for label, path in paths.items():
        try:
            audio = decoder.decode(path)
        except DecodeError:
            continue
        except Exception as exc:
            raise AssertionError(
                f"{name}: decoding {label} raised {type(exc).__name__} ({exc}); it must raise "
                "kara_core.errors.DecodeError so the batch goes on"
            ) from exc
        raise AssertionError(
            f"{name}: decoding {label} returned {getattr(audio, 'samples', np.empty(0)).shape}"
            " samples instead of raising DecodeError"
        )


def check_decoder(cls: type[Decoder], **options: Any) -> None:
    """Assert that ``cls`` (built with ``options``) honours the decoder contract."""
    name = getattr(cls, "name", None)
    assert isinstance(name, str) and name, f"{cls.__name__}: 'name' must be a non-empty string"
    try:
        opts = build(cls.Options, options, f"{name}.options")
    except OptionError as exc:
        raise AssertionError(f"{name}: options rejected: {exc}") from exc
    decoder = cls(opts)
    try:
        decoder.check()
    except ToolMissingError as exc:
        raise AssertionError(f"{name}: check() says it cannot run here: {exc}") from exc
    version = decoder.version()
    assert isinstance(version, str) and version.strip(), (
        f"{name}: version() must be a non-empty string, got {version!r}"
    )
    with tempfile.TemporaryDirectory(prefix="kara-check-decoder-") as tmp:
        folder = Path(tmp)
        for file_name, rate, tones in REFERENCES:
            path = folder / file_name
            write_reference_mp3(path, rate, tones)
            where = f"{name} on {file_name}"
            try:
                audio = decoder.decode(path)
            except DecodeError as exc:
                raise AssertionError(f"{where}: could not decode the reference: {exc}") from exc
            _check_audio(where, audio, rate, tones)
            _check_stream(where, decoder, path, audio)
        _check_garbage(name, decoder, folder)
