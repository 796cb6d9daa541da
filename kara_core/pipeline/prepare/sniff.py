"""What a file named ``.mp3`` really holds, judged from its bytes, never from its name.

Real collections hold WAVs renamed to .mp3, half-downloaded HTML pages, ID3 tags with no
audio behind them, AAC files from a phone. Decoders either fail on these with a useless
message or, worse, succeed: ``lame --decode`` makes a few hundred samples of noise from a
WAV header. :func:`sniff` classifies a file first, so each case gets the right treatment
and a one-line reason a user understands.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from kara_core.audio.mp3info import MpegInfo, parse_header, probe

SNIFF_BYTES = 4096

# kinds that libsndfile reads directly: Kara decodes them with soundfile, whatever the
# configured mp3 decoder, and warns that the name is wrong
CONTAINERS = {"wav": "WAV", "aiff": "AIFF", "flac": "FLAC", "ogg": "Ogg"}


@dataclass(frozen=True)
class Sniffed:
    """The verdict on one file.

    :ivar kind: ``mpeg``, one of :data:`CONTAINERS`, or a reason to skip: ``empty``,
        ``id3-only``, ``mp4``, ``text``, ``html``, ``too-short`` (a frame header or two,
        then no frame), ``unknown``.
    :ivar mpeg: header facts when ``kind`` is ``mpeg``.
    :ivar detail: a short phrase for messages (``starts with 'PK\\x03\\x04'``).
    """

    kind: str
    mpeg: MpegInfo | None = None
    detail: str = ""

    @property
    def readable_container(self) -> bool:
        """A non-MPEG format that libsndfile decodes (WAV, AIFF, FLAC, Ogg)."""
        return self.kind in CONTAINERS

    def skip_reason(self) -> str | None:
        """The one-line reason to skip, or None when the file should be decoded."""
        reasons = {
            "empty": "empty file (0 bytes)",
            "id3-only": "an ID3 tag with no audio frames after it",
            "mp4": "an MP4/AAC file, not an mp3; convert it (e.g. ffmpeg -i in.m4a out.mp3)",
            "text": f"a text file, not audio ({self.detail})",
            "html": "an HTML page, not audio (a failed download?)",
            "unknown": f"not MPEG audio: no frame headers found ({self.detail})",
            "too-short": f"too short or damaged to decode: {self.detail}",
        }
        return reasons.get(self.kind)


def _container_kind(head: bytes) -> str | None:
    if head[:4] in (b"RIFF", b"RF64", b"BW64") and head[8:12] == b"WAVE":
        return "wav"
    if head[:4] == b"FORM" and head[8:12] in (b"AIFF", b"AIFC"):
        return "aiff"
    if head[:4] == b"fLaC":
        return "flac"
    if head[:4] == b"OggS":
        return "ogg"
    if head[4:8] == b"ftyp":
        return "mp4"
    return None


def _looks_like_text(head: bytes) -> str | None:
    """``text`` or ``html`` when ``head`` is mostly printable UTF-8, else None."""
    sample = head[:1024]
    try:
        text = sample.decode("utf-8")
    except UnicodeDecodeError as exc:
        if exc.start < len(sample) - 4:  # a character cut at the end is fine
            return None
        text = sample[: exc.start].decode("utf-8")
    if not text:
        return None
    printable = sum(ch.isprintable() or ch in "\r\n\t" for ch in text)
    if printable < 0.95 * len(text):
        return None
    lowered = text.lstrip().lower()
    if lowered.startswith(("<!doctype html", "<html", "<?xml")) or "<html" in lowered[:200]:
        return "html"
    return "text"


def describe_bytes(head: bytes) -> str:
    """``starts with 'abc\\x00'``: the first bytes, for an error message."""
    return f"starts with {head[:8]!r}"[:60]


def sniff(path: Path | str) -> Sniffed:
    """Classify ``path`` by content. Raises :class:`OSError` when it cannot be read."""
    with open(path, "rb") as handle:
        head = handle.read(SNIFF_BYTES)
    if not head:
        return Sniffed("empty")
    container = _container_kind(head)
    if container is not None:
        return Sniffed(container)
    info = probe(path)
    if info is not None and info.audio_end - info.audio_start <= info.first.length:
        seconds = info.first.samples / info.first.rate
        return Sniffed("too-short", detail=f"only 1 MPEG frame ({seconds * 1000:.0f} ms), "
                       "which decoders do not decode")
    if info is not None:
        return Sniffed("mpeg", mpeg=info)
    if head[:3] == b"ID3":
        return Sniffed("id3-only")
    text = _looks_like_text(head)
    if text is not None:
        preview = head[:24].decode("utf-8", "replace").split("\n")[0].strip()
        return Sniffed(text, detail=f"starts with {preview!r}")
    frames, end = _lone_frames(head)
    if frames:
        return Sniffed("too-short", detail=(
            f"only {frames} MPEG frame{'s' if frames > 1 else ''}, then "
            + ("a frame cut short" if parse_header(head, end) is not None
               else f"{len(head) - end} bytes that are not one")))
    return Sniffed("unknown", detail=describe_bytes(head))


def _lone_frames(head: bytes) -> tuple[int, int]:
    """``(frames, end of the last)``: the valid frame headers that follow each other from
    the start of the audio (after one ID3v2 tag), when too few for
    :func:`~kara_core.audio.mp3info.probe` to call it MPEG: a file of one frame followed by
    junk, or cut inside its second frame."""
    at = 0
    if head[:3] == b"ID3" and len(head) >= 10:
        at = 10 + (head[6] << 21 | head[7] << 14 | head[8] << 7 | head[9])
    count = 0
    while (header := parse_header(head, at)) is not None and at + header.length <= len(head):
        count += 1
        at += header.length
    return count, at
