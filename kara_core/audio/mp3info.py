"""MPEG audio frame headers: what a file's own headers say about its length.

Decoders lie by omission: libsndfile (and mpg123) stop at damaged frames and return half a
song without an error, and ``lame --decode`` turns random bytes into a few hundred samples
of noise with exit code 0. Kara therefore reads the frame headers itself, in pure Python
and without decoding anything:

* :func:`probe` finds the first real frame (three consecutive valid headers, after any
  ID3v2 tags), reads the Xing/Info or VBRI header (frame count, byte count) and the LAME
  tag (encoder delay and padding), and estimates the duration from them, or from the
  bitrate for a constant-bitrate file without such a header.
* :func:`scan` walks every frame, resynchronising over damaged stretches, to count the
  frames really present: the duration a good decoder must reach.

Both read a few kilobytes (probe) or the file once (scan); memory stays small.
"""

from __future__ import annotations

import errno
import mmap
import os
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

VERSIONS = {0: "MPEG-2.5", 2: "MPEG-2", 3: "MPEG-1"}
LAYERS = {1: 3, 2: 2, 3: 1}  # header bits -> layer number
RATES = {3: (44100, 48000, 32000), 2: (22050, 24000, 16000), 0: (11025, 12000, 8000)}
BITRATES = {  # kbps, index 1..14, by (MPEG-1?, layer)
    (True, 1): (32, 64, 96, 128, 160, 192, 224, 256, 288, 320, 352, 384, 416, 448),
    (True, 2): (32, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320, 384),
    (True, 3): (32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320),
    (False, 1): (32, 48, 56, 64, 80, 96, 112, 128, 144, 160, 176, 192, 224, 256),
    (False, 2): (8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160),
    (False, 3): (8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160),
}
SEARCH_LIMIT = 1 << 20  # how far past the tags to look for the first frame
CONFIRM = 3  # consecutive valid headers that make a frame real


@dataclass(frozen=True)
class Header:
    """One decoded 4-byte frame header."""

    version: int  # header bits: 3 = MPEG-1, 2 = MPEG-2, 0 = MPEG-2.5
    layer: int  # 1, 2 or 3
    rate: int
    channels: int
    bitrate_kbps: int
    length: int  # bytes, padding included
    samples: int  # samples per channel in this frame

    @property
    def kind(self) -> str:
        """``MPEG-1 Layer III`` and the like."""
        return f"{VERSIONS[self.version]} Layer {'I' * self.layer}"


@lru_cache(maxsize=1)
def _table() -> dict[int, Header]:
    """Every valid ``(byte1 << 8 | byte2)`` after the 0xFF sync byte -> header fields
    (channels assumed 2; the caller reads the mode from byte 3)."""
    table: dict[int, Header] = {}
    for b1 in range(0xE0, 0x100):
        version, layer_bits = (b1 >> 3) & 3, (b1 >> 1) & 3
        if version == 1 or layer_bits == 0:
            continue
        layer = LAYERS[layer_bits]
        mpeg1 = version == 3
        for b2 in range(256):
            index, rate_index, padding = b2 >> 4, (b2 >> 2) & 3, (b2 >> 1) & 1
            if index in (0, 15) or rate_index == 3:
                continue  # free format or invalid
            rate = RATES[version][rate_index]
            kbps = BITRATES[(mpeg1, layer)][index - 1]
            if layer == 1:
                length, samples = (12 * kbps * 1000 // rate + padding) * 4, 384
            elif layer == 2 or mpeg1:
                length, samples = 144 * kbps * 1000 // rate + padding, 1152
            else:
                length, samples = 72 * kbps * 1000 // rate + padding, 576
            table[b1 << 8 | b2] = Header(version, layer, rate, 2, kbps, length, samples)
    return table


def parse_header(buf: bytes | mmap.mmap, pos: int) -> Header | None:
    """The frame header at ``pos``, or None when those 4 bytes are not a valid one."""
    if pos + 4 > len(buf) or buf[pos] != 0xFF:
        return None
    header = _table().get(buf[pos + 1] << 8 | buf[pos + 2])
    if header is None or buf[pos + 3] & 3 == 2:  # reserved emphasis
        return None
    if buf[pos + 3] >> 6 == 3:
        return Header(header.version, header.layer, header.rate, 1, header.bitrate_kbps,
                      header.length, header.samples)
    return header


def _same_stream(a: Header, b: Header) -> bool:
    return a.version == b.version and a.layer == b.layer and a.rate == b.rate


def _confirmed(buf: bytes | mmap.mmap, pos: int, end: int) -> Header | None:
    """The header at ``pos`` if it is followed by ``CONFIRM - 1`` matching ones (or by the
    end of the audio: a file of one or two frames)."""
    first = parse_header(buf, pos)
    if first is None:
        return None
    at, current = pos, first
    for _ in range(CONFIRM - 1):
        at += current.length
        if at >= end - 3:
            return first if at <= end else None
        following = parse_header(buf, at)
        if following is None or not _same_stream(first, following):
            return None
        current = following
    return first


def find_frame(buf: bytes | mmap.mmap, start: int, end: int) -> tuple[int, Header] | None:
    """The first confirmed frame at or after ``start`` (before ``end``)."""
    pos = start
    while True:
        pos = buf.find(b"\xff", pos, end)
        if pos < 0:
            return None
        header = _confirmed(buf, pos, end)
        if header is not None:
            return pos, header
        pos += 1


def _id3v2_size(head: bytes) -> int | None:
    """Bytes taken by an ID3v2 tag that starts ``head``, or None if there is none."""
    if len(head) < 10 or head[:3] != b"ID3" or any(b & 0x80 for b in head[6:10]):
        return None
    size = (head[6] << 21) | (head[7] << 14) | (head[8] << 7) | head[9]
    return 10 + size + (10 if head[5] & 0x10 else 0)


def _tail_tags(tail: bytes, size: int) -> int:
    """Where the audio ends: before an ID3v1 tag and an APEv2 tag at the end of the file."""
    end = size
    if len(tail) >= 128 and tail[-128:-125] == b"TAG":
        end -= 128
        tail = tail[:-128]
    if len(tail) >= 32 and tail[-32:-24] == b"APETAGEX":
        footer = tail[-32:]
        tag_size = int.from_bytes(footer[12:16], "little")
        has_header = bool(int.from_bytes(footer[20:24], "little") & 0x80000000)
        end -= tag_size + (32 if has_header else 0)
    return max(end, 0)


@dataclass(frozen=True)
class MpegInfo:
    """What the headers of an MPEG audio file say, before anything is decoded.

    :ivar header_frames: audio frames announced by a Xing/Info or VBRI header, if any.
    :ivar encoder_delay: samples of encoder delay from the LAME tag (None: no tag, so
        decoders leave the delay in; see docs/guide.md, "Encoder delay").
    """

    first: Header
    audio_start: int  # offset of the first frame (after ID3v2 tags)
    audio_end: int  # offset after the last audio byte (before ID3v1/APE tags)
    id3_bytes: int
    info_frame: bool  # the first frame is a Xing/Info/VBRI header, not audio
    header_frames: int | None = None
    header_bytes: int | None = None
    encoder: str | None = None
    encoder_delay: int | None = None
    encoder_padding: int | None = None

    @property
    def kind(self) -> str:
        """``MPEG-1 Layer III`` and the like."""
        return self.first.kind

    @property
    def estimated_frames(self) -> int:
        """Audio frames the headers announce; for plain CBR, the bytes over a frame size."""
        if self.header_frames:
            return self.header_frames
        first_audio = self.audio_start + (self.first.length if self.info_frame else 0)
        mean_length = self.first.bitrate_kbps * 1000 * self.first.samples / 8 / self.first.rate
        return max(1, round((self.audio_end - first_audio) / mean_length))

    def samples_for(self, frames: int) -> int:
        """Samples per channel that ``frames`` audio frames decode to, gapless-trimmed when
        the LAME tag gives the encoder delay and padding."""
        total = frames * self.first.samples
        if self.encoder_delay is not None and self.encoder_padding is not None:
            total -= self.encoder_delay + self.encoder_padding
        return max(total, 0)

    @property
    def estimated_duration_s(self) -> float:
        """Duration implied by the headers (or the bitrate), in seconds."""
        return self.samples_for(self.estimated_frames) / self.first.rate

    @property
    def header_overstates(self) -> bool:
        """True when the Xing/VBRI byte count says the file should be longer: truncated."""
        if not self.header_bytes:
            return False
        return self.audio_end - self.audio_start < self.header_bytes * 0.98


def _read_info_frame(frame: bytes, header: Header) -> dict[str, object]:
    """Fields of a Xing/Info or VBRI header inside ``frame`` (empty if there is none)."""
    mono = header.channels == 1
    # side information size decides where the Xing/Info header sits
    offset = 4 + ((17 if mono else 32) if header.version == 3 else (9 if mono else 17))
    tag = frame[offset : offset + 4]
    if tag in (b"Xing", b"Info"):
        flags = int.from_bytes(frame[offset + 4 : offset + 8], "big")
        pos = offset + 8
        found: dict[str, object] = {}
        if flags & 1:
            found["frames"] = int.from_bytes(frame[pos : pos + 4], "big")
            pos += 4
        if flags & 2:
            found["bytes"] = int.from_bytes(frame[pos : pos + 4], "big")
            pos += 4
        if flags & 4:
            pos += 100
        if flags & 8:
            pos += 4
        encoder = frame[pos : pos + 9]
        if encoder[:4] in (b"LAME", b"Lavf", b"Lavc", b"L3.9", b"GOGO") and len(frame) > pos + 24:
            found["encoder"] = encoder.decode("ascii", "replace").strip("\x00 ")
            b0, b1, b2 = frame[pos + 21 : pos + 24]
            found["delay"] = (b0 << 4) | (b1 >> 4)
            found["padding"] = ((b1 & 0x0F) << 8) | b2
        return found
    if frame[36:40] == b"VBRI":
        return {
            "bytes": int.from_bytes(frame[46:50], "big"),
            "frames": int.from_bytes(frame[50:54], "big"),
            "encoder": "VBRI",
        }
    return {}


def probe(path: Path | str) -> MpegInfo | None:
    """Header facts of the MPEG audio file at ``path``; None when it holds no MPEG frames.

    Raises :class:`OSError` when the file cannot be read.
    """
    with open(path, "rb") as handle:
        size = os.fstat(handle.fileno()).st_size
        start = 0
        while True:  # one or more ID3v2 tags (cover art can make them megabytes long)
            handle.seek(start)
            tag = _id3v2_size(handle.read(10))
            if tag is None:
                break
            start += tag
        id3_bytes = start
        handle.seek(max(size - 4096, 0))
        end = _tail_tags(handle.read(4096), size)
        if start >= end:
            return None
        handle.seek(start)
        buf = handle.read(min(end - start, SEARCH_LIMIT + 4 * 4608))
    found = find_frame(buf, 0, min(len(buf), end - start))
    if found is None:
        return None
    pos, first = found
    info = _read_info_frame(bytes(buf[pos : pos + first.length]), first)
    frames = info.get("frames")
    count = frames if isinstance(frames, int) and frames > 0 else None
    nbytes = info.get("bytes")
    return MpegInfo(
        first=first,
        audio_start=start + pos,
        audio_end=end,
        id3_bytes=id3_bytes,
        info_frame=bool(info),
        header_frames=count,
        header_bytes=nbytes if isinstance(nbytes, int) and nbytes > 0 else None,
        encoder=str(info["encoder"]) if "encoder" in info else None,
        encoder_delay=info.get("delay") if isinstance(info.get("delay"), int) else None,  # type: ignore[arg-type]
        encoder_padding=info.get("padding") if isinstance(info.get("padding"), int) else None,  # type: ignore[arg-type]
    )


@dataclass
class Scan:
    """The frames really present, counted one by one.

    :ivar gaps: ``(seconds into the audio, bytes skipped)`` for each damaged stretch.
    :ivar partial_tail: the last frame is cut short (a truncated file).
    """

    frames: int = 0
    gaps: list[tuple[float, int]] = field(default_factory=list)
    partial_tail: bool = False

    @property
    def damaged_bytes(self) -> int:
        """Bytes skipped while resynchronising."""
        return sum(n for _, n in self.gaps)


def scan(path: Path | str, info: MpegInfo) -> Scan:
    """Walk every frame from ``info.audio_start`` to ``info.audio_end``."""
    result = Scan()
    with open(path, "rb") as handle:
        length = info.audio_end
        if length <= info.audio_start:
            return result
        size = os.fstat(handle.fileno()).st_size
        if size < length:  # mapping past the end would fail (or SIGBUS on access)
            raise OSError(errno.ESTALE, f"the file shrank to {size} bytes while it was read "
                          f"(it had {length}); try again once it is complete")
        try:
            mapped = mmap.mmap(handle.fileno(), length, access=mmap.ACCESS_READ)
        except ValueError as exc:  # it shrank between the check and the mapping
            raise OSError(errno.ESTALE, f"the file changed while it was read ({exc})") from None
        with mapped as buf:
            pos = info.audio_start + (info.first.length if info.info_frame else 0)
            table = _table()
            end = info.audio_end
            while pos < end:
                header = None
                if pos + 4 <= end and buf[pos] == 0xFF:
                    header = table.get(buf[pos + 1] << 8 | buf[pos + 2])
                if header is not None and _same_stream(header, info.first):
                    if pos + header.length > end:
                        result.partial_tail = True
                        break
                    result.frames += 1
                    pos += header.length
                    continue
                found = find_frame(buf, pos + 1, end)
                seconds = result.frames * info.first.samples / info.first.rate
                if found is None:
                    if end - pos > 4:  # trailing junk, not just a stray byte
                        result.gaps.append((seconds, end - pos))
                    break
                result.gaps.append((seconds, found[0] - pos))
                pos = found[0]
    return result
