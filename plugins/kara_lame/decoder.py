"""Decode mp3 files with the ``lame`` program."""

from __future__ import annotations

import functools
import shutil
import subprocess
import tempfile
from pathlib import Path

from kara_core.components import Audio, Decoder
from kara_core.errors import DecodeError, ToolMissingError

INSTALL_HINT = (
    "lame is not installed: run 'make setup', or install it yourself with "
    "'sudo apt-get install lame' (Debian/Ubuntu) or 'brew install lame' (macOS)"
)


@functools.lru_cache(maxsize=1)
def lame_version() -> str:
    """The first line of ``lame --version``, e.g. ``LAME 64bits version 3.100``."""
    exe = shutil.which("lame")
    if exe is None:
        raise ToolMissingError(INSTALL_HINT)
    result = subprocess.run([exe, "--version"], capture_output=True, text=True, check=False)
    first = (result.stdout or result.stderr).strip().splitlines()
    return first[0].strip() if first else "lame (unknown version)"


class LameDecoder(Decoder):
    """``lame --decode`` into a temporary WAV, then read with soundfile."""

    name = "lame"

    def check(self) -> None:
        lame_version()

    def version(self) -> str:
        return lame_version()

    def decode(self, path: Path) -> Audio:
        import numpy as np
        import soundfile as sf

        exe = shutil.which("lame")
        if exe is None:
            raise ToolMissingError(INSTALL_HINT)
        with tempfile.TemporaryDirectory(prefix="kara-lame-") as tmp:
            out = Path(tmp) / "decoded.wav"
            result = subprocess.run(
                [exe, "--decode", "--quiet", str(path), str(out)],
                capture_output=True, check=False,
            )
            if result.returncode != 0:
                detail = result.stderr.decode("utf-8", "replace").strip().splitlines()
                raise DecodeError(
                    f"lame failed (exit {result.returncode})"
                    + (f": {detail[-1]}" if detail else "")
                )
            if not out.exists() or out.stat().st_size <= 44:
                raise DecodeError("lame produced no audio")
            samples, rate = sf.read(out, dtype="float32", always_2d=True)
        if samples.shape[0] == 0:
            raise DecodeError("lame produced no audio")
        return Audio(samples=np.ascontiguousarray(samples), rate=int(rate))
