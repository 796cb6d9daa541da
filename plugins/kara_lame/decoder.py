"""Decode mp3 files with the ``lame`` program, as the original project did.

``lame --decode FILE -`` runs in a subprocess and writes a 16-bit WAV stream into a pipe,
which Kara reads block by block while lame is still decoding: memory stays bounded on long
songs, and no temporary WAV (10 MB per minute of CD audio) is written to disk and read
back. (A temporary file was measured slower: the fsync that makes each prepared WAV
atomic also flushed lame's temporary output to disk.)

Two of lame's habits are guarded against:

* it exits 0 after turning random bytes into a few hundred samples of noise, so the input
  must first show real MPEG frame headers (:func:`kara_core.audio.mp3info.probe`);
* exit code 0 is not success, and success is not exit code 0 alone: the stream must hold a
  valid 16-bit PCM WAV header and samples, and lame must exit 0 once it has ended.

With a LAME/Info header lame trims the encoder delay and padding (gapless); without one it
only skips the decoder delay, so the start keeps up to about a thousand samples of
encoder delay (see docs/guide.md, "Encoder delay").

In process (``options: {in_process: auto}``, the default): when the ``lame`` on PATH is the
native program of the libmp3lame Kara can load, at the same version (:mod:`kara_lame.hip`),
its decoder is called inside ``kara prepare``'s worker processes instead
(:mod:`kara_lame.frontend` repeats lame's reads and trimming), which gives the same samples
without a process and a pipe per file. The decoder, its version and the cache keys stay
``lame``'s. Kara's own process keeps running the program (``--workers 1``, a single file,
other commands): a crash of the library on a malicious file can then end a worker, never
Kara; prepare decodes the files that worker held again, each in a process of its own, and
skips only the one whose process dies again.
"""

from __future__ import annotations

import contextlib
import functools
import io
import os
import shutil
import signal
import struct
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, TYPE_CHECKING, Literal, cast

import numpy as np

from kara_core import Audio, AudioStream, DecodeError, Decoder, ToolMissingError, read_all
from kara_lame.frontend import LameFailed

try:
    import fcntl
except ImportError:  # Windows
    fcntl = None  # type: ignore[assignment]

if TYPE_CHECKING:
    import numpy as np

    from kara_lame.hip import Hip

INSTALL_HINT = (
    "lame is not installed: run 'make setup', or install it with "
    "'sudo apt-get install lame' (Debian/Ubuntu) or 'brew install lame' (macOS), "
    "or use the built-in decoder without it: 'decoder: {type: soundfile}' in kara.yaml"
)
PIPE_BYTES = 1 << 20
PIPE_WAIT_S = 0.004  # lame fills a 1 MiB pipe in about 10 ms
BASE_TIMEOUT_S = 120.0
BYTES_PER_TIMEOUT_S = 50_000  # lame decodes MBs per second; this only catches a hang
VERSION_TIMEOUT_S = 30.0


def lame_executable() -> str:
    """The path of ``lame``; :class:`ToolMissingError` with the install command if absent."""
    exe = shutil.which("lame")
    if exe is None:
        raise ToolMissingError(INSTALL_HINT)
    return exe


@functools.lru_cache(maxsize=4)
def _version_of(exe: str) -> str:
    try:
        proc = subprocess.Popen(
            [exe, "--version"], stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
            stderr=subprocess.PIPE, start_new_session=True,
        )
    except (OSError, subprocess.SubprocessError) as exc:
        raise ToolMissingError(f"{exe} does not run ({exc}); {INSTALL_HINT}") from exc
    try:
        stdout, stderr = proc.communicate(timeout=VERSION_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(OSError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()
        raise ToolMissingError(f"{exe} --version did not answer within "
                               f"{VERSION_TIMEOUT_S:.0f} s; {INSTALL_HINT}") from None
    # bytes, not text: a build that prints non-UTF-8 bytes must not crash prepare
    output = (stdout or stderr or b"").decode("utf-8", "replace")
    lines = output.strip().splitlines()
    if proc.returncode != 0 or not lines:
        raise ToolMissingError(f"{exe} --version failed (exit {proc.returncode}); "
                               f"{INSTALL_HINT}")
    first = "".join(c if c.isprintable() else "?" for c in lines[0].strip())[:200]
    # "LAME 64bits version 3.100 (http://lame.sf.net)" -> drop the URL
    return first.split(" (")[0] or first


def lame_version() -> str:
    """The first line of ``lame --version`` without its URL, e.g.
    ``LAME 64bits version 3.100``."""
    return _version_of(lame_executable())


def _last_line(handle: IO[bytes]) -> str:
    handle.seek(0)
    lines = [line.strip() for line in handle.read().decode("utf-8", "replace").splitlines()]
    lines = [line for line in lines if line]
    return lines[-1][:200] if lines else ""


def _read_exactly(pipe: IO[bytes], n: int) -> bytes:
    data = b""
    while len(data) < n:
        chunk = pipe.read(n - len(data))
        if not chunk:
            break
        data += chunk
    return data


def _wav_header(pipe: IO[bytes]) -> tuple[int, int] | None:
    """``(rate, channels)`` from the WAV header at the start of ``pipe``, which is left
    at the first sample; None when the stream ends first. :class:`DecodeError` when it is
    not 16-bit PCM."""
    riff = _read_exactly(pipe, 12)
    if len(riff) < 12:
        return None
    if riff[:4] != b"RIFF" or riff[8:12] != b"WAVE":
        raise DecodeError(f"lame wrote something that is not a WAV stream ({riff[:4]!r})")
    fmt: tuple[int, int, int, int] | None = None
    while True:
        chunk = _read_exactly(pipe, 8)
        if len(chunk) < 8:
            return None
        tag, size = chunk[:4], struct.unpack("<I", chunk[4:])[0]
        if tag == b"data":
            break
        body = _read_exactly(pipe, size + (size & 1))
        if tag == b"fmt " and len(body) >= 16:
            code, channels, rate, _rate_bytes, _align, bits = struct.unpack("<HHIIHH", body[:16])
            fmt = (code, channels, rate, bits)
    if fmt is None or fmt[0] != 1 or fmt[3] != 16 or fmt[1] < 1 or fmt[2] < 1:
        raise DecodeError(f"lame wrote a WAV stream that is not 16-bit PCM ({fmt})")
    return fmt[2], fmt[1]


@dataclass(frozen=True)
class LameOptions:
    """Options of the ``lame`` decoder.

    :ivar in_process: ``auto`` decodes with lame's own decoder library inside Kara's
        decoding worker processes when it is provably the one the ``lame`` program runs
        (same samples, no process per file); ``always`` does so in any process, Kara's own
        included; ``never`` always starts the program.
    """

    in_process: Literal["auto", "always", "never"] = "auto"


class LameDecoder(Decoder):
    """``lame --decode``: libmp3lame's decoder in process when it is the program's own,
    else the program into a pipe, read as 16-bit PCM."""

    name = "lame"
    default = True
    decodes_damaged = True  # lame resynchronises at the next good frame
    x_real_time_per_core = 753.1  # written by benchmarks/bench_scale.py --save-figures
    Options = LameOptions
    options: LameOptions

    def check(self) -> None:
        """Raise :class:`ToolMissingError` with the install command when lame is missing.

        Also decides, once, whether lame's library can decode in process: ``kara prepare``
        checks before it forks its workers, which then inherit the answer."""
        lame_version()
        self.library(lame_executable())

    def library(self, exe: str) -> Hip | None:
        """libmp3lame's decoder when it is the program ``exe``'s own, else None (the
        answer, cached per program, is the same in every process)."""
        if self.options.in_process == "never":
            return None
        from kara_lame.hip import library_for

        return library_for(exe, lame_version())

    def in_process_here(self, exe: str) -> Hip | None:
        """:meth:`library`, when this process may run it: a worker process for ``auto``."""
        import multiprocessing

        if self.options.in_process == "auto" and multiprocessing.parent_process() is None:
            return None
        return self.library(exe)

    def version(self) -> str:
        """``LAME 64bits version 3.100``: part of every cache key."""
        return lame_version()

    def decode(self, path: Path) -> Audio:
        """The whole file as float32 ``[n, channels]`` (use :meth:`stream` for long files)."""
        return read_all(self.stream(path))

    @property
    def encodes(self) -> str | None:
        """lame writes mp3 too (``generate.mp3: true``)."""
        return ".mp3"

    def encode(self, path: Path, wave: np.ndarray, rate: int) -> None:
        """``wave`` as an mp3 through ``lame -V 2``, written atomically."""
        from kara_lame.encoder import encode_mp3

        encode_mp3(lame_executable(), Path(path), wave, rate)

    @contextlib.contextmanager
    def stream(self, path: Path, block_frames: int = 1 << 16) -> Iterator[AudioStream]:
        """Start lame; yield its samples as they come. Raises :class:`DecodeError` when lame
        fails, hangs, or ends without audio (also while the blocks are read)."""
        from kara_core.audio.mp3info import probe

        exe = lame_executable()
        path = Path(path).absolute()  # a name starting with '-' must not look like an option
        try:
            info = probe(path)
            size = path.stat().st_size
        except OSError as exc:
            raise DecodeError(f"cannot read it ({exc.strerror or exc})") from exc
        if info is None:
            raise DecodeError("no MPEG audio frames in it; lame would only decode noise")
        timeout = BASE_TIMEOUT_S + size / BYTES_PER_TIMEOUT_S
        hip = self.in_process_here(exe)
        if hip is not None:
            from kara_lame.in_process import in_process_stream

            in_process = in_process_stream(hip, path, timeout, block_frames)
            if in_process is not None:
                with in_process as audio:
                    yield audio
                return
        with tempfile.TemporaryFile() as errors:
            try:
                # its own process group: a timeout kills lame and anything it started (a
                # wrapper script's child would otherwise hold the pipe open forever)
                proc = subprocess.Popen(
                    [exe, "--decode", "--quiet", str(path), "-"],
                    stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=errors,
                    bufsize=0, start_new_session=True,
                )
            except OSError as exc:
                raise ToolMissingError(f"{exe} does not run ({exc}); {INSTALL_HINT}") from exc
            _widen_pipe(proc.stdout)
            run = _Run(proc, errors, timeout)
            try:
                assert proc.stdout is not None
                header = _wav_header(proc.stdout)
                if header is None:
                    run.finish(0)
                    raise DecodeError("lame exited 0 but wrote no audio")
                rate, channels = header
                yield AudioStream(rate, channels, run.blocks(channels, block_frames))
            finally:
                run.stop()


def _widen_pipe(pipe: IO[bytes] | None) -> None:
    """Ask Linux for a 1 MiB pipe buffer: lame then blocks (and switches) less often."""
    set_size = getattr(fcntl, "F_SETPIPE_SZ", None) if fcntl is not None else None
    if pipe is None or set_size is None:
        return
    with contextlib.suppress(OSError):  # refused above /proc/sys/fs/pipe-max-size: keep 64 KiB
        fcntl.fcntl(pipe.fileno(), set_size, PIPE_BYTES)


class _Run:
    """One lame process: its output as blocks, its exit checked, a watchdog on hangs."""

    def __init__(self, proc: subprocess.Popen[bytes], errors: IO[bytes], timeout: float) -> None:
        self.proc, self.errors, self.timeout = proc, errors, timeout
        self.timed_out = False
        self.watchdog = threading.Timer(timeout, self._kill)
        self.watchdog.daemon = True
        self.watchdog.start()

    def _kill(self) -> None:
        self.timed_out = True
        self._kill_group()

    def _kill_group(self) -> None:
        """SIGKILL lame's whole process group (it leads its own session)."""
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass  # already gone (its group with it)
        except OSError:
            self.proc.kill()

    def finish(self, frames: int) -> None:
        """Wait for lame; raise :class:`DecodeError` unless it exited 0 after ``frames``."""
        code = self.proc.wait()
        if self.timed_out:
            raise LameFailed(f"lame did not finish within {self.timeout:.0f} s and was stopped")
        if code < 0:
            name = _signal_name(-code)
            raise LameFailed(f"lame was killed by {name}")
        if code != 0:
            detail = _last_line(self.errors)
            raise DecodeError(f"lame failed (exit {code})" + (f": {detail}" if detail else ""))
        if frames == 0:
            raise DecodeError("lame exited 0 but wrote no audio")

    def blocks(self, channels: int, block_frames: int) -> Iterator[np.ndarray]:
        """Float32 ``[m, channels]`` blocks from the pipe, then the exit check."""
        import numpy as np

        pipe = cast(io.FileIO, self.proc.stdout)
        frame_bytes = 2 * channels
        buffer = bytearray(block_frames * frame_bytes)
        view = memoryview(buffer)
        scale = np.float32(1.0 / 32768.0)
        frames = 0
        while True:
            filled = 0
            while filled < len(buffer):
                count = pipe.readinto(view[filled:])
                if not count:
                    break
                filled += count
                # let lame fill the pipe: fewer wake-ups, less CPU; once lame has exited
                # the rest is already in the pipe, and a sleep would only add latency
                if filled < len(buffer) and self.proc.poll() is None:
                    time.sleep(PIPE_WAIT_S)
            usable = filled - filled % frame_bytes
            if usable:
                samples = np.frombuffer(buffer, dtype="<i2", count=usable // 2)
                block = np.multiply(samples.reshape(-1, channels), scale, dtype=np.float32)
                frames += len(block)
                yield block
            if filled < len(buffer):
                break
        self.finish(frames)

    def stop(self) -> None:
        """End the process and its group whatever happened (the consumer may have stopped
        early), so no child of lame outlives the decode."""
        self.watchdog.cancel()
        self._kill_group()
        if self.proc.stdout is not None:
            self.proc.stdout.close()
        self.proc.wait()


def _signal_name(number: int) -> str:
    try:
        return signal.Signals(number).name
    except ValueError:
        return f"signal {number}"
