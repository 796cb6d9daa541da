"""Decode mp3 files with the ``lame`` program, as the original project did.

``lame --decode`` runs in a subprocess and writes a 16-bit WAV into a private temporary
folder; Kara then reads that WAV block by block, so memory stays bounded on long songs.
Two of lame's habits are guarded against:

* it exits 0 after turning random bytes into a few hundred samples of noise, so the input
  must first show real MPEG frame headers (:func:`kara_core.pipeline.mp3info.probe`);
* exit code 0 is not success: the output must exist and hold samples.

With a LAME/Info header lame trims the encoder delay and padding (gapless); without one it
only skips the decoder delay, so the start keeps up to about a thousand samples of
encoder delay (see README, "Encoder delay").
"""

from __future__ import annotations

import contextlib
import functools
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kara_core.components import Audio, AudioStream, Decoder
from kara_core.errors import DecodeError, ToolMissingError

if TYPE_CHECKING:
    import numpy as np

INSTALL_HINT = (
    "lame is not installed: run 'make setup', or install it with "
    "'sudo apt-get install lame' (Debian/Ubuntu) or 'brew install lame' (macOS), "
    "or use the built-in decoder without it: 'decoder: {type: soundfile}' in kara.yaml"
)
BASE_TIMEOUT_S = 120.0
BYTES_PER_TIMEOUT_S = 50_000  # lame decodes MBs per second; this only catches a hang


def lame_executable() -> str:
    """The path of ``lame``; :class:`ToolMissingError` with the install command if absent."""
    exe = shutil.which("lame")
    if exe is None:
        raise ToolMissingError(INSTALL_HINT)
    return exe


@functools.lru_cache(maxsize=4)
def _version_of(exe: str) -> str:
    try:
        result = subprocess.run(
            [exe, "--version"], capture_output=True, text=True, check=False, timeout=30
        )
    except (OSError, subprocess.SubprocessError) as exc:
        raise ToolMissingError(f"{exe} does not run ({exc}); {INSTALL_HINT}") from exc
    lines = (result.stdout or result.stderr).strip().splitlines()
    if result.returncode != 0 or not lines:
        raise ToolMissingError(f"{exe} --version failed (exit {result.returncode}); "
                               f"{INSTALL_HINT}")
    first = lines[0].strip()
    # "LAME 64bits version 3.100 (http://lame.sf.net)" -> drop the URL
    return first.split(" (")[0] or first


def lame_version() -> str:
    """The first line of ``lame --version`` without its URL, e.g.
    ``LAME 64bits version 3.100``."""
    return _version_of(lame_executable())


def _last_line(data: bytes) -> str:
    lines = [line.strip() for line in data.decode("utf-8", "replace").splitlines()]
    lines = [line for line in lines if line]
    return lines[-1][:200] if lines else ""


class LameDecoder(Decoder):
    """``lame --decode`` into a temporary WAV, read back with soundfile."""

    name = "lame"

    def check(self) -> None:
        """Raise :class:`ToolMissingError` with the install command when lame is missing."""
        lame_version()

    def version(self) -> str:
        """``LAME 64bits version 3.100``: part of every cache key."""
        return lame_version()

    def decode(self, path: Path) -> Audio:
        """The whole file as float32 ``[n, channels]`` (use :meth:`stream` for long files)."""
        import numpy as np

        with self.stream(path) as audio:
            blocks = list(audio.blocks)
            samples = np.concatenate(blocks) if blocks else np.zeros((0, audio.channels))
            return Audio(samples.astype(np.float32, copy=False), audio.rate,
                         tuple(audio.warnings))

    @contextlib.contextmanager
    def stream(self, path: Path, block_frames: int = 1 << 16) -> Iterator[AudioStream]:
        """Run lame, then yield its output block by block; the temp WAV goes at exit."""
        import soundfile as sf

        from kara_core.pipeline.mp3info import probe

        exe = lame_executable()
        path = Path(path).absolute()  # a name starting with '-' must not look like an option
        try:
            info = probe(path)
            size = path.stat().st_size
        except OSError as exc:
            raise DecodeError(f"cannot read it ({exc.strerror or exc})") from exc
        if info is None:
            raise DecodeError("no MPEG audio frames in it; lame would only decode noise")
        with tempfile.TemporaryDirectory(prefix="kara-lame-") as tmp:
            out = Path(tmp) / "decoded.wav"
            timeout = BASE_TIMEOUT_S + size / BYTES_PER_TIMEOUT_S
            try:
                result = subprocess.run(
                    [exe, "--decode", "--quiet", str(path), str(out)],
                    capture_output=True, check=False, timeout=timeout,
                    stdin=subprocess.DEVNULL,
                )
            except subprocess.TimeoutExpired as exc:
                raise DecodeError(f"lame did not finish within {timeout:.0f} s") from exc
            except OSError as exc:
                raise ToolMissingError(f"{exe} does not run ({exc}); {INSTALL_HINT}") from exc
            if result.returncode != 0:
                detail = _last_line(result.stderr)
                raise DecodeError(
                    f"lame failed (exit {result.returncode})" + (f": {detail}" if detail else "")
                )
            if not out.is_file() or out.stat().st_size <= 44:
                raise DecodeError("lame exited 0 but wrote no audio")
            try:
                handle = sf.SoundFile(out)
            except (sf.LibsndfileError, RuntimeError) as exc:
                raise DecodeError(f"lame wrote an unreadable WAV ({exc})") from exc
            with handle:
                if handle.frames == 0:
                    raise DecodeError("lame exited 0 but wrote no audio")
                if handle.subtype != "PCM_16":  # lame always writes 16-bit; be sure
                    raise DecodeError(f"lame wrote {handle.subtype} audio, expected PCM_16")
                warnings: list[str] = []
                yield AudioStream(
                    rate=int(handle.samplerate),
                    channels=int(handle.channels),
                    blocks=_blocks(handle, block_frames),
                    warnings=warnings,
                )


def _blocks(handle: Any, block_frames: int) -> Iterator[np.ndarray]:
    """Float32 ``[m, channels]`` blocks of lame's WAV (an open ``soundfile.SoundFile``)."""
    from kara_core.pipeline.sndread import ReadFailed, pcm16_blocks

    try:
        yield from pcm16_blocks(handle, block_frames)
    except ReadFailed as exc:
        raise DecodeError(f"cannot read lame's output ({exc.message})") from exc
