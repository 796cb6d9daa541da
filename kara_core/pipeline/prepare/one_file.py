"""Prepare one source file: check it, sniff it, decode it, verify the decode, write the WAV.

This runs in the worker processes of ``kara prepare``. It never raises for a problem with
the file itself: every such problem becomes a skipped :class:`FileOutcome` with a one-line
reason. Only failures to write (disk full, no permission on ``wav_dir``) are raised, since
they would fail every other file too.

Decoder chain: the configured decoder, then the fallback (``decoder.fallback`` in
kara.yaml) when the first raises :class:`DecodeError` or returns a short decode. WAV, AIFF,
FLAC and Ogg data named ``.mp3`` is read with libsndfile directly, whatever the decoder.

When the primary failed for a reason that is not the file's (the tool is missing, hung or
crashed: a :class:`ToolMissingError`, a read error, or a :class:`DecodeError` whose
``transient`` attribute is true), the outcome says so (``retry_primary``): the next run
decodes the file with the primary again, so a dataset never stays a mix of two decoders
because of one bad moment.
"""

from __future__ import annotations

import contextlib
import os
import stat
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kara_core.audio import sndread
from kara_core.audio.mp3info import MpegInfo, scan
from kara_core.components import Audio, AudioStream, Decoder
from kara_core.errors import DecodeError, KaraError, ToolMissingError
from kara_core.pipeline.prepare.convert import Converted, convert
from kara_core.pipeline.prepare.sniff import CONTAINERS, Sniffed, sniff
from kara_core.storage.atomic import atomic_path, sha256_of

SHORT_TOLERANCE_S = 0.5
SHORT_TOLERANCE_FRACTION = 0.02
"""A decode is *short* when it misses more than max(0.5 s, 2 %) of what the frames hold:
encoder delay and padding are far below that, a decoder that stopped at damage far above."""
TRANSIENT_KINDS = frozenset({"broken-link", "unreadable", "not-a-file", "missing", "error",
                             "decoder-missing"})
"""Skip reasons that may change without the file changing: rechecked on every run."""


class ShortDecode(DecodeError):
    """The decoder returned much less audio than the file's frames hold."""


@dataclass(frozen=True)
class DecoderSpec:
    """A decoder as the workers rebuild it: class, options, and its resolved version."""

    cls: type[Decoder]
    options: Any
    name: str
    version: str

    def build(self) -> Decoder:
        """A fresh instance."""
        return self.cls(self.options)


@dataclass(frozen=True)
class Job:
    """One source to prepare."""

    source: str  # relative to mp3_dir, posix style
    path: Path  # absolute path of the source
    wav: Path  # absolute path of the WAV to write
    rate: int
    channels: int
    decoders: tuple[DecoderSpec, ...]
    known_sha256: str | None = None  # the manifest's hash of the wav's current source
    known_duration_s: float | None = None  # and the duration it recorded (for the bar)
    damage_decoders: tuple[str, ...] = ()  # suggested for a damaged file none could decode


@dataclass
class FileOutcome:
    """What happened to one source; becomes its manifest entry and ``--json`` record."""

    source: str
    status: str = "skipped"  # decoded | cached | skipped
    kind: str | None = None  # skip category, e.g. "empty", "short-decode"
    reason: str | None = None
    warnings: list[str] = field(default_factory=list)
    flags: list[str] = field(default_factory=list)
    duration_s: float | None = None
    size: int | None = None
    mtime_ns: int | None = None
    sha256: str | None = None
    decoder: str | None = None
    decoder_version: str | None = None
    format: str | None = None
    input_rate: int | None = None
    input_channels: int | None = None
    encoder_delay: int | None = None
    encoder_padding: int | None = None
    retry_primary: bool = False  # a fallback decoded it because the primary tool failed
    wav_bytes: int | None = None  # size of the WAV written, checked when it is reused
    wav_sha256: str | None = None  # its SHA-256, checked when its size or mtime changed
    wav_mtime_ns: int | None = None
    ctime_ns: int | None = None  # of the source: a file replaced in place changes it
    inode: int | None = None

    def skip(self, kind: str, reason: str) -> FileOutcome:
        """Mark as skipped and return self."""
        self.status, self.kind, self.reason = "skipped", kind, reason
        return self


class _ContainerReader(Decoder):
    """libsndfile on a WAV/AIFF/FLAC/Ogg file that was named .mp3 (core-only, no plugin):
    the core's libsndfile reader (:func:`kara_core.audio.sndread.open_blocks`), which the
    ``soundfile`` decoder plugin streams with too."""

    name = "soundfile (by content)"

    def version(self) -> str:
        import soundfile as sf

        return f"libsndfile {sf.__libsndfile_version__}"

    def decode(self, path: Path) -> Audio:
        import numpy as np

        with self.stream(path) as audio:
            blocks = list(audio.blocks)
        samples = np.concatenate(blocks) if blocks else np.zeros((0, audio.channels), np.float32)
        return Audio(samples, audio.rate)

    @contextlib.contextmanager
    def stream(self, path: Path, block_frames: int = 1 << 16) -> Iterator[AudioStream]:
        with sndread.open_blocks(path, block_frames) as (rate, channels, blocks):
            yield AudioStream(rate, channels, blocks)


def _completeness(info: MpegInfo, path: Path, conv: Converted, decoder: str) -> list[str]:
    """Warnings about damage and truncation; :class:`ShortDecode` when the decoder stopped
    well before the end of the frames that are there.

    When the decoded length matches what the headers promise (within three frames: the
    encoder delay that decoders trim differently), nothing is wrong and the frames are not
    walked; otherwise :func:`scan` counts the frames really there and tells damage,
    truncation and a decoder that stopped early apart.
    """
    rate = info.first.rate
    promised_samples = info.samples_for(info.estimated_frames)
    if abs(conv.input_frames - promised_samples) <= 3 * info.first.samples and \
            not info.header_overstates:
        return []
    frames = scan(path, info)
    present = info.samples_for(frames.frames)
    tolerance = max(SHORT_TOLERANCE_S * rate, SHORT_TOLERANCE_FRACTION * present)
    if conv.input_frames < present - tolerance:
        where = f" (damaged data at {frames.gaps[0][0]:.1f} s)" if frames.gaps else ""
        raise ShortDecode(
            f"{decoder} stopped at {conv.input_frames / rate:.1f} s of the "
            f"{present / rate:.1f} s its frames hold{where}"
        )
    warnings = []
    if frames.gaps:
        at = ", ".join(f"{t:.1f} s" for t, _ in frames.gaps[:3])
        text = f"damaged: {frames.damaged_bytes} bytes of invalid data at {at} were skipped"
        if info.header_frames and info.header_frames > frames.frames:
            lost = (info.header_frames - frames.frames) * info.first.samples / rate
            text += f" (about {lost:.1f} s of audio lost)"
        warnings.append(text)
    announced = info.header_frames
    cut = frames.partial_tail or info.header_overstates
    if announced and frames.frames < announced * 0.98 and not frames.gaps:
        cut = True
    if cut:
        promised = info.estimated_duration_s
        warnings.append(
            f"truncated: its header promises {promised:.1f} s, the file holds "
            f"{present / rate:.1f} s; decoded what is there"
        )
    return warnings


def transient(exc: BaseException) -> bool:
    """Whether a decoder's failure is the tool's (missing, hung, crashed), not the file's."""
    if isinstance(exc, ShortDecode):
        return False
    return isinstance(exc, ToolMissingError | OSError) or bool(getattr(exc, "transient", False))


def record_wav(out: FileOutcome, wav: Path) -> None:
    """Size, mtime and SHA-256 of the WAV just written, for the manifest."""
    st = os.stat(wav)
    out.wav_bytes, out.wav_mtime_ns = st.st_size, st.st_mtime_ns
    out.wav_sha256 = sha256_of(wav)


def _decode(job: Job, decoder: Decoder, sniffed: Sniffed) -> tuple[Converted, list[str]]:
    """Decode with one decoder and commit the WAV only if the result is complete."""
    with decoder.stream(job.path) as audio, atomic_path(job.wav, suffix=".wav") as tmp:
        conv = convert(audio, tmp, job.rate, job.channels)
        warnings = list(audio.warnings)
        if sniffed.mpeg is not None:
            warnings += _completeness(sniffed.mpeg, job.path, conv, decoder.name)
    return conv, warnings


def prepare_file(job: Job) -> FileOutcome:
    """Prepare ``job.source``; see the module docstring."""
    out = FileOutcome(source=job.source)
    try:
        st = os.stat(job.path)
    except FileNotFoundError:
        if os.path.islink(job.path):
            target = os.readlink(job.path)
            return out.skip("broken-link", f"broken symbolic link (to {target})")
        return out.skip("missing", "disappeared while preparing")
    except OSError as exc:
        return out.skip("unreadable", f"cannot read it ({exc.strerror or exc})")
    if stat.S_ISDIR(st.st_mode):
        return out.skip("not-a-file", "a folder named like an mp3, not a file (the mp3s "
                        "inside it are prepared)")
    if not stat.S_ISREG(st.st_mode):
        return out.skip("not-a-file", "not a regular file (a pipe, socket or device)")
    out.size, out.mtime_ns = st.st_size, st.st_mtime_ns
    out.ctime_ns, out.inode = st.st_ctime_ns, st.st_ino
    try:
        out.sha256 = sha256_of(job.path)
        sniffed = sniff(job.path)
    except OSError as exc:
        return out.skip("unreadable", f"cannot read it ({exc.strerror or exc})")
    if out.sha256 == job.known_sha256 and job.wav.is_file():
        out.status = "cached"  # touched, not changed: the manifest keeps the rest
        out.duration_s = float(job.known_duration_s or 0.0)
        return out
    reason = sniffed.skip_reason()
    if reason is not None:
        return out.skip(sniffed.kind, reason)

    chain: tuple[Decoder, ...]
    if sniffed.readable_container:
        chain = (_ContainerReader(),)
        out.format = f"{CONTAINERS[sniffed.kind]} (named .mp3)"
    else:
        chain = tuple(spec.build() for spec in job.decoders)
        info = sniffed.mpeg
        if info is not None:
            out.format = info.kind
            out.encoder_delay, out.encoder_padding = info.encoder_delay, info.encoder_padding
    versions = {spec.name: spec.version for spec in job.decoders}
    failures: list[str] = []
    short = False
    retry = False
    for number, decoder in enumerate(chain):
        try:
            conv, warnings = _decode(job, decoder, sniffed)
        except ShortDecode as exc:
            failures.append(str(exc))
            short = True
            continue
        except ToolMissingError as exc:
            failures.append(str(exc))
            retry = retry or number == 0
            continue
        except DecodeError as exc:
            failures.append(f"{decoder.name}: {exc}")
            retry = retry or (number == 0 and transient(exc))
            continue
        except OSError as exc:  # a decoder that lets a read error escape
            failures.append(f"{decoder.name}: cannot read it ({exc.strerror or exc})")
            retry = retry or number == 0
            continue
        out.status, out.kind, out.reason = "decoded", None, None
        if sniffed.readable_container:
            name = CONTAINERS[sniffed.kind]
            warnings.insert(0, f"holds {name} data, not mp3; read it as {name}")
        if failures:
            again = f"; {chain[0].name} is tried again on the next run" if retry else ""
            warnings.insert(
                0, f"{failures[-1]}; decoded with the fallback {decoder.name}{again}"
            )
            out.retry_primary = retry
        if conv.clipped:
            warnings.append(f"{conv.clipped} samples clipped after resampling")
        out.warnings = warnings
        out.flags = list(conv.flags)
        out.duration_s = round(conv.duration_s, 6)
        out.decoder = decoder.name
        out.decoder_version = versions.get(decoder.name) or decoder.version()
        out.input_rate, out.input_channels = conv.input_rate, conv.input_channels
        record_wav(out, job.wav)
        return out
    kind = "short-decode" if short else "decode-failed"
    message = "; ".join(failures)
    suggest = [name for name in job.damage_decoders if name not in versions]
    if sniffed.mpeg is not None and suggest and _damaged(job.path, sniffed.mpeg):
        message += (f"; {suggest[0]} decodes around damaged frames: add 'fallback: "
                    f"{suggest[0]}' under decoder")
    return out.skip(kind, message)


def _damaged(path: Path, info: MpegInfo) -> bool:
    """Whether the frame walk finds invalid data between frames."""
    try:
        return bool(scan(path, info).gaps)
    except OSError:
        return False


def prepare_file_safely(job: Job) -> FileOutcome:
    """:func:`prepare_file`, turning an unexpected error into a skip (unless KARA_DEBUG).

    Write failures (:class:`KaraError` from :mod:`kara_core.storage.atomic`) are raised: they
    would fail every file.
    """
    try:
        return prepare_file(job)
    except KaraError:
        raise
    except Exception as exc:
        from kara_core.console import debugging

        if debugging():
            raise
        return FileOutcome(source=job.source).skip(
            "error",
            f"unexpected {type(exc).__name__}: {exc} (a bug in Kara or a plugin; "
            "rerun with --debug for the traceback)",
        )
