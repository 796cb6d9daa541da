"""The one wav reader and the one wav writer of Kara (and of plugins that want them).

:func:`write_wav` writes a whole wave at once, atomically; :class:`Pcm16Writer` streams a
long one block by block (``kara prepare``). Reading gives mono float32 (channels averaged:
transforms take one channel). A prepared wav must already be at the experiment's rate (a
mismatch means ``kara prepare`` must run again); a user's own file (``kara generate
--prompt``) may be resampled instead. Whole files are written atomically: a killed run
never leaves half a wav behind.
"""

from __future__ import annotations

import struct
from pathlib import Path
from typing import Literal

import numpy as np

from kara_core.errors import DecodeError, KaraError
from kara_core.storage import atomic

WavSubtype = Literal["PCM_16", "FLOAT"]


def to_mono(samples: np.ndarray) -> np.ndarray:
    """float32 ``[n]`` from ``[n]`` or ``[n, channels]`` (channels averaged)."""
    samples = np.asarray(samples, dtype=np.float32)
    if samples.ndim == 2:
        samples = samples.mean(axis=1, dtype=np.float32)
    return np.ascontiguousarray(samples.reshape(-1), dtype=np.float32)


def resample(wave: np.ndarray, rate: int, target: int) -> np.ndarray:
    """``wave`` at ``target`` Hz (soxr, high quality); unchanged when the rates agree."""
    if int(rate) == int(target):
        return np.asarray(wave, dtype=np.float32)
    import soxr

    return np.asarray(soxr.resample(wave, int(rate), int(target), quality="HQ"), np.float32)


def read_mono(path: Path | str, rate: int, *, resample_to_rate: bool = False) -> np.ndarray:
    """The audio of ``path`` (wav or any libsndfile format) as float32 mono at ``rate``.

    :param resample_to_rate: resample a file at another rate; otherwise another rate is a
        :class:`KaraError` saying to rerun ``kara prepare`` (a prepared wav is never
        resampled silently).
    """
    import os

    import soundfile as sf

    try:
        # bytes: soundfile encodes a str name strictly, and a name with non-UTF-8 bytes
        # (held as surrogates) would fail
        samples, file_rate = sf.read(os.fsencode(path), dtype="float32", always_2d=True)
    except (OSError, RuntimeError, sf.LibsndfileError, TypeError) as exc:
        raise KaraError(f"{path}: cannot read audio ({exc})") from None
    if int(file_rate) != int(rate) and not resample_to_rate:
        raise KaraError(
            f"{path}: sample rate {file_rate} Hz, expected {rate} Hz; rerun kara prepare"
        )
    mono = to_mono(samples)
    if not np.isfinite(mono).all():
        bad = int(np.count_nonzero(~np.isfinite(mono)))
        raise KaraError(f"{path}: {bad} of its samples are NaN or infinite; not audio Kara "
                        "can use")
    return resample(mono, int(file_rate), int(rate))


class MonoReader:
    """A wav (or any libsndfile format) read piece by piece as float32 mono, so a long song
    never has to be in memory at once; the file must be at ``rate`` (a prepared wav).

    Use it as a context manager::

        with MonoReader(path, 22050) as reader:
            piece = reader.read(start, stop)   # float32 [stop - start]
    """

    def __init__(self, path: Path | str, rate: int) -> None:
        import os

        import soundfile as sf

        self.path = path
        try:  # bytes: a name with non-UTF-8 bytes (held as surrogates), as read_mono
            self._file = sf.SoundFile(os.fsencode(path))
        except (OSError, RuntimeError, sf.LibsndfileError, TypeError) as exc:
            raise KaraError(f"{path}: cannot read audio ({exc})") from None
        if int(self._file.samplerate) != int(rate):
            self._file.close()
            raise KaraError(f"{path}: sample rate {self._file.samplerate} Hz, expected "
                            f"{rate} Hz; rerun kara prepare")
        self.length = int(self._file.frames)
        """Samples of the file (its header's count)."""

    def read(self, start: int, stop: int) -> np.ndarray:
        """Samples ``start`` to ``stop`` (clipped to the file) as float32 mono; a
        :class:`KaraError` when the file cannot be read there or holds NaN or infinities."""
        import soundfile as sf

        start, stop = max(0, int(start)), min(self.length, int(stop))
        if stop <= start:
            return np.zeros(0, np.float32)
        try:
            self._file.seek(start)
            samples = self._file.read(stop - start, dtype="float32", always_2d=True)
        except (OSError, RuntimeError, sf.LibsndfileError, TypeError) as exc:
            raise KaraError(f"{self.path}: cannot read audio ({exc})") from None
        if samples.shape[0] != stop - start:
            raise KaraError(f"{self.path}: the file ends after {start + samples.shape[0]} "
                            f"samples, its header says {self.length}")
        mono = to_mono(samples)
        if not np.isfinite(mono).all():
            bad = int(np.count_nonzero(~np.isfinite(mono)))
            raise KaraError(f"{self.path}: {bad} of its samples are NaN or infinite; not audio "
                            "Kara can use")
        return mono

    def close(self) -> None:
        """Close the file."""
        self._file.close()

    def __enter__(self) -> MonoReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def write_wav(
    path: Path | str, wave: np.ndarray, rate: int, subtype: WavSubtype = "PCM_16"
) -> None:
    """``wave`` as a wav, written atomically: 16-bit PCM for listening (float audio is
    clipped to [-1, 1]), or 32-bit float to keep it exactly as computed."""
    import soundfile as sf

    def writer(tmp: Path) -> None:
        try:
            sf.write(tmp, np.asarray(wave, np.float32), int(rate), subtype=subtype,
                     format="WAV")
        except (sf.LibsndfileError, RuntimeError) as exc:  # "System error." on a full disk
            import errno
            import os

            cause = getattr(exc, "error_string", None) or str(exc) or type(exc).__name__
            code = errno.ENOSPC if _disk_full(tmp) else errno.EIO
            raise OSError(code, f"{os.strerror(code)}; libsndfile: {cause}") from exc

    atomic.write_with(Path(path), writer, suffix=".wav")


class Pcm16Writer:
    """The streaming wav writer: canonical 16-bit PCM, block by block, so a long song is
    never in memory at once (``kara prepare`` writes every WAV with it).

    Four times cheaper per sample than libsndfile's writer, which matters because
    ``kara prepare`` must stay within 15 % of bare ``lame --decode``. The header is written
    with zero sizes and patched on :meth:`close`; files over 4 GiB are refused
    (:class:`~kara_core.errors.DecodeError`). It writes ``path`` itself: make it atomic by
    giving a temporary path and renaming it (:func:`kara_core.storage.atomic.write_with`).
    """

    def __init__(self, path: Path, rate: int, channels: int) -> None:
        self.handle = open(path, "wb")  # noqa: SIM115 - closed by close()
        self.rate, self.channels = rate, channels
        self.frames = 0
        self.handle.write(self._header(0))

    def _header(self, data_bytes: int) -> bytes:
        block_align = 2 * self.channels
        return b"".join((
            b"RIFF", struct.pack("<I", 36 + data_bytes), b"WAVE",
            b"fmt ", struct.pack("<IHHIIHH", 16, 1, self.channels, self.rate,
                                 self.rate * block_align, block_align, 16),
            b"data", struct.pack("<I", data_bytes),
        ))

    def write(self, samples: np.ndarray) -> None:
        """Append int16 ``[m, channels]`` samples (scaled by the caller: prepare's
        ``to_pcm16`` rounds and clips float audio to them)."""
        self.handle.write(np.ascontiguousarray(samples, dtype="<i2").data)
        self.frames += len(samples)

    def close(self) -> None:
        """Patch the sizes into the header and close the file."""
        data_bytes = self.frames * 2 * self.channels
        try:
            if data_bytes + 36 >= 2**32:
                raise DecodeError("the decoded song is longer than a WAV file can hold (4 GiB)")
            self.handle.seek(0)
            self.handle.write(self._header(data_bytes))
        finally:
            self.handle.close()


def _disk_full(path: Path) -> bool:
    """Whether the file system of ``path`` has no room left (what libsndfile's "System
    error." usually means)."""
    import os

    try:
        st = os.statvfs(Path(path).parent)
    except OSError:
        return False
    return st.f_bavail * st.f_frsize < 1 << 20
