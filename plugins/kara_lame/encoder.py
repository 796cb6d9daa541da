"""mp3 encoding with ``lame`` (VBR quality 2): how ``generate.mp3: true`` gets its file."""

from __future__ import annotations

import subprocess
import tempfile
from pathlib import Path

import numpy as np

from kara_core import KaraError, atomic
from kara_core.audio import write_wav

VBR_QUALITY = "2"
"""lame's ``-V 2``: transparent for most music at about 190 kbit/s."""


def encode_mp3(exe: str, path: Path, wave: np.ndarray, rate: int) -> None:
    """``wave`` (float32 mono) as an mp3 at ``path``, written atomically."""
    with tempfile.TemporaryDirectory(prefix="kara-mp3-") as tmp:
        source = Path(tmp) / "in.wav"
        write_wav(source, wave, rate)

        def writer(dest: Path) -> None:
            result = subprocess.run(
                [exe, "--quiet", "-V", VBR_QUALITY, str(source), str(dest)],
                capture_output=True, check=False,
            )
            if result.returncode != 0:
                detail = result.stderr.decode("utf-8", "replace").strip().splitlines()
                raise KaraError(
                    f"{path}: lame failed to encode (exit {result.returncode})"
                    + (f": {detail[-1]}" if detail else "")
                )

        atomic.write_with(path, writer, suffix=".mp3")
