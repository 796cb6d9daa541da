"""Audio fixtures made at test time: mp3s of every common kind and every kind of bad file.

Nothing binary is committed: signals are synthesised, encoded with the ``lame`` program (or
libsndfile's bundled LAME library when a test must not need the program), and damaged by
byte surgery that mirrors what happens to real collections.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from kara_core.testing import music_like_signal

LAME = shutil.which("lame")


def need_lame() -> str:
    """The lame path, or skip the test saying why."""
    if LAME is None:
        pytest.skip("the lame program is not installed (apt-get install lame / brew install lame)")
    return LAME


def signal(seconds: float = 3.0, rate: int = 22050, channels: int = 1, seed: int = 0,
           level: float = 0.5) -> np.ndarray:
    """Music-like float32 ``[n, channels]``, a different melody in each channel."""
    columns = [music_like_signal(seconds, rate, seed + c) for c in range(channels)]
    out = np.stack(columns, axis=1).astype(np.float32)
    return out * np.float32(level / max(float(np.abs(out).max()), 1e-9))


def tone(seconds: float, rate: int, hz: float, channels: int = 1,
         level: float = 0.5) -> np.ndarray:
    """A sine of ``hz`` in every channel, float32 ``[n, channels]``."""
    t = np.arange(round(seconds * rate)) / rate
    wave = (level * np.sin(2 * np.pi * hz * t)).astype(np.float32)
    return np.repeat(wave[:, None], channels, axis=1)


def lame_mp3(dest: Path, samples: np.ndarray, rate: int, *args: str) -> Path:
    """Encode with the lame program (default options: -V 4); skips without lame."""
    exe = need_lame()
    dest.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        wav = Path(tmp) / "in.wav"
        sf.write(wav, samples, rate, subtype="PCM_16")
        subprocess.run([exe, "--quiet", *(args or ("-V", "4")), str(wav), str(dest)], check=True)
    return dest


def sf_mp3(dest: Path, samples: np.ndarray, rate: int) -> Path:
    """Encode with libsndfile (no lame program needed): another encoder's mp3."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    sf.write(dest, samples, rate, format="MP3", subtype="MPEG_LAYER_III")
    return dest


def id3v2(text: str = "Kara test", picture_bytes: int = 0) -> bytes:
    """An ID3v2.3 tag with a title and, optionally, a picture frame of that many bytes."""
    frames = b""
    title = b"\x00" + text.encode("latin-1")
    frames += b"TIT2" + len(title).to_bytes(4, "big") + b"\x00\x00" + title
    if picture_bytes:
        body = b"\x00image/jpeg\x00\x03cover\x00" + bytes(picture_bytes)
        frames += b"APIC" + len(body).to_bytes(4, "big") + b"\x00\x00" + body
    size = len(frames)
    syncsafe = bytes([(size >> 21) & 127, (size >> 14) & 127, (size >> 7) & 127, size & 127])
    return b"ID3\x03\x00\x00" + syncsafe + frames


def layer2_stream(frames: int = 200, code: int = 14) -> bytes:
    """An MPEG-1 Layer II stream (48 kHz, 128 kbps, mono), written bit by bit.

    No Layer II encoder is needed: only subband 2 carries samples (allocation 15 levels,
    one scalefactor), so each 384-byte frame holds a steady tone; a decoder turns 200
    frames into 4.8 s of non-silent audio.
    """
    header = bytes([0xFF, 0xFD, 0x84, 0xC0])  # MPEG-1 L2, no CRC, 128 kbps, 48 kHz, mono
    bits: list[int] = []

    def put(value: int, width: int) -> None:
        bits.extend((value >> i) & 1 for i in range(width - 1, -1, -1))

    for band, width in enumerate([4] * 11 + [3] * 12 + [2] * 4):  # allocation table B.2a
        put(3 if band == 2 else 0, width)
    put(2, 2)  # scfsi: one scalefactor for all three parts
    put(6, 6)  # scalefactor index
    for _ in range(12 * 3):
        put(code, 4)
    bits.extend([0] * (-len(bits) % 8))
    body = bytes(int("".join(map(str, bits[i : i + 8])), 2) for i in range(0, len(bits), 8))
    frame = header + body
    return (frame + bytes(384 - len(frame))) * frames


def truncate(src: Path, dest: Path, fraction: float = 0.5) -> Path:
    """The first ``fraction`` of ``src``'s bytes: a download that stopped."""
    data = src.read_bytes()
    dest.parent.mkdir(parents=True, exist_ok=True)
    dest.write_bytes(data[: int(len(data) * fraction)])
    return dest


def corrupt_middle(src: Path, dest: Path, nbytes: int = 6000, seed: int = 0) -> Path:
    """``src`` with ``nbytes`` of random bytes written over its middle: a bad sector."""
    data = bytearray(src.read_bytes())
    middle = len(data) // 2
    rng = np.random.default_rng(seed)
    data[middle : middle + nbytes] = rng.integers(0, 256, nbytes, dtype=np.uint8).tobytes()
    dest.parent.mkdir(parents=True, exist_ok=True)
    dest.write_bytes(bytes(data))
    return dest


def long_cbr_mp3(dest: Path, minutes: float, rate: int = 44100, channels: int = 2) -> Path:
    """A ``minutes`` long CBR mp3, made fast: 10 s encoded without the bit reservoir and
    without a tag, then its frames repeated (each frame stands alone)."""
    exe = need_lame()
    with tempfile.TemporaryDirectory() as tmp:
        piece = Path(tmp) / "piece.mp3"
        lame_mp3(piece, signal(10.0, rate, channels), rate, "-b", "128", "--nores", "-t")
        data = piece.read_bytes()
    assert exe
    repeats = max(1, round(minutes * 6))
    with open(dest, "wb") as out:
        for _ in range(repeats):
            out.write(data)
    return dest


def snapshot(folder: Path) -> dict[str, tuple[int, int, bytes]]:
    """(size, mtime_ns, first bytes) of every entry under ``folder``, links not followed."""
    state = {}
    for root, dirs, files in os.walk(folder):
        for name in dirs + files:
            path = Path(root) / name
            st = path.lstat()
            head = b""
            if path.is_file() and not path.is_symlink() and os.access(path, os.R_OK):
                head = path.read_bytes()[:64]
            state[str(path.relative_to(folder))] = (st.st_size, st.st_mtime_ns, head)
    return state
