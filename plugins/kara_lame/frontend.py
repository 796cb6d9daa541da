"""``lame --decode`` of lame 3.100, ported call for call onto :mod:`kara_lame.hip`.

lame's frontend (``frontend/get_audio.c`` and ``lame_main.c``) decides what its WAV holds:
it finds the first frame (skipping ID3v2 tags and an Album ID header) byte by byte, feeds
libmp3lame's decoder 4 bytes, then 100-byte pieces until a header is parsed, then 1024-byte
pieces; it drops ``encoder delay + 528 + 1`` samples at the start and ``padding - 529`` at
the end when the Xing/LAME tag gives them (529 at the start and nothing at the end without
one; 241 for Layer I/II), and it stops where the channel count or rate changes. This module
repeats exactly those reads and calls, so its samples are those lame writes, byte for byte,
damaged files included; tests/test_lame_in_process.py compares the two.

A hang is impossible here: every call hands the decoder at most 1024 new bytes and gets at
most one frame back, so the calls are bounded by the file's size; the deadline of the lame
program (:data:`kara_lame.decoder.BASE_TIMEOUT_S`) is still checked between reads.
"""

from __future__ import annotations

import ctypes
import os
import time
from collections.abc import Iterator
from typing import BinaryIO

import numpy as np

from kara_core import DecodeError
from kara_lame.hip import CALL_LOCK, Hip, Mp3Data

FILE_NAMES = (".mp3", ".mp2", ".mp1", ".mpg")
"""lame reads a file as MPEG audio by these name endings (any case), else as WAV/AIFF."""
READ_BYTES = 1024  # lame_decode_fromfile's fread
INIT_READ_BYTES = 100  # lame_decode_initfile's fread until a header is parsed
SYNC_READ_BYTES = 1 << 16  # lame reads byte by byte while it looks for the first frame
FRAME_SAMPLES = 1152
LAYER3_DELAY = 528 + 1
LAYER12_DELAY = 240 + 1
MAX_SKIP_END = 4095  # the LAME tag's 12-bit padding
ABL2 = (0, 7, 7, 7, 0, 7, 0, 0, 0, 0, 0, 8, 8, 8, 8, 8)
ANY, LAYER3, LAYER2, LAYER1 = "mp123", "mp3", "mp2", "mp1"
LAYERS = {0x02: LAYER3, 0x04: LAYER2, 0x06: LAYER1}
SCALE = np.float32(1.0 / 32768.0)


class InitFailed(Exception):
    """lame could not read the headers: it says ``Can't init infile`` and exits 255."""


class Deadline(Exception):
    """The decode ran past the time lame itself would have been given."""


class LameFailed(DecodeError):
    """lame itself failed (hung, or was killed by a signal), not the file: ``transient``
    tells ``kara prepare`` to try lame again on this file on its next run. Raised by the
    program's decoder and the in-process one alike (both import it from here)."""

    transient = True


def _syncsafe(four: bytes) -> int:
    """An ID3v2 size: four bytes of 7 bits (lenOfId3v2Tag)."""
    size = 0
    for byte in four:
        size = (size << 7) + (byte & 0x7F)
    return size


def reads_as_mpeg(name: str) -> bool:
    """Whether lame takes the file for MPEG audio by its name (else another reader)."""
    return name[-4:].lower() in FILE_NAMES


def needs_the_program(handle: BinaryIO) -> bool:
    """Whether the first 4 KiB after ID3v2 hold a Xing/Info tag without a frame count.

    libmp3lame then reads the frame count from uninitialised memory (``check_vbr_header``
    in 3.100), so its trimming may differ between two processes: such a file is decoded by
    the lame program itself. lame writes the count in every tag it makes.
    """
    handle.seek(0)
    head = handle.read(10)
    start = 0
    while head[:3] == b"ID3" and len(head) == 10:
        start += 10 + _syncsafe(head[6:10])
        handle.seek(start)
        head = handle.read(10)
    handle.seek(start)
    data = handle.read(4096)
    handle.seek(0)
    for tag in (b"Xing", b"Info"):
        at = data.find(tag)
        while at != -1:
            flags = data[at + 4 : at + 8]
            if len(flags) < 4 or not flags[3] & 1:
                return True
            at = data.find(tag, at + 1)
    return False


class LameFrontend:
    """One file as ``lame --decode --quiet FILE -`` reads it: :meth:`open`, then :meth:`blocks`.

    :ivar rate: sample rate of the WAV lame writes.
    :ivar channels: its channel count (1 or 2).
    """

    def __init__(self, hip: Hip, handle: BinaryIO, deadline: float,
                 block_frames: int = 1 << 16) -> None:
        self.hip, self.handle, self.deadline = hip, handle, deadline
        self.block_frames = max(block_frames, FRAME_SAMPLES)
        self.decoder = 0
        self.decode1 = hip.library.hip_decode1_headersB
        self.mp3data = Mp3Data()
        self.mp3data_ref = ctypes.byref(self.mp3data)
        self.enc_delay, self.enc_padding = ctypes.c_int(0), ctypes.c_int(0)
        self.unused = ctypes.c_int(0)  # hip_decode1_headers' own delay and padding
        self.unused_ref = ctypes.byref(self.unused)
        self.input_format = ANY
        self.id3_size = 0
        self.rate = self.channels = 0
        self.skip_start = self.skip_end = 0
        self.read_buffer = ctypes.create_string_buffer(READ_BYTES)
        self.read_address = ctypes.addressof(self.read_buffer)
        capacity = self.block_frames + MAX_SKIP_END + 4 * FRAME_SAMPLES
        self.left = np.zeros(capacity, dtype=np.int16)
        self.right = np.zeros(capacity, dtype=np.int16)
        self.left_address = self.left.ctypes.data
        self.right_address = self.right.ctypes.data

    # ------------------------------------------------------------------ the hip calls

    def _decode_bytes(self, data: bytes) -> int:
        """One ``hip_decode1_headersB`` call of lame_decode_initfile: these bytes, and the
        encoder delay and padding it may find (its samples are not kept, as lame's)."""
        buffer = ctypes.create_string_buffer(data, len(data))
        with CALL_LOCK:
            return int(self.decode1(self.decoder, ctypes.addressof(buffer), len(data),
                                    self.left_address, self.right_address, self.mp3data_ref,
                                    ctypes.byref(self.enc_delay),
                                    ctypes.byref(self.enc_padding)))

    def close(self) -> None:
        """Free the decoder (``hip_decode_exit``)."""
        if self.decoder:
            self.hip.exit(self.decoder)
            self.decoder = 0

    # ------------------------------------------------------------------ lame_decode_initfile

    def _read(self, count: int) -> bytes:
        data = self.handle.read(count)
        if len(data) != count:
            raise InitFailed
        return data

    def _fskip(self, offset: int) -> None:
        """fseek(SEEK_CUR) on a file: anywhere at or after its start, else nowhere."""
        target = self.handle.tell() + offset
        if target >= 0:
            self.handle.seek(target)

    def _is_syncword(self, p: bytes) -> bool:
        """is_syncword_mp123, with its side effect: the first Layer seen is the only one
        accepted afterwards (set before the rest of the header is checked)."""
        if p[0] != 0xFF or (p[1] & 0xE0) != 0xE0 or (p[1] & 0x18) == 0x08:
            return False
        layer = LAYERS.get(p[1] & 0x06)
        if layer is None or self.input_format not in (layer, ANY):
            return False
        self.input_format = layer
        if (p[2] & 0xF0) == 0xF0 or (p[2] & 0x0C) == 0x0C:
            return False
        if (p[1] & 0x18) == 0x18 and (p[1] & 0x06) == 0x04 and \
                ABL2[p[2] >> 4] & (1 << (p[3] >> 6)):
            return False
        return (p[3] & 3) != 2

    def _sync(self, window: bytes) -> bytes:
        """The 4 bytes of the first syncword from ``window`` on, the file left after them
        (lame shifts a 4-byte window one fread(1) at a time; this reads 64 KiB pieces)."""
        data, at = window, 0
        while True:
            at = data.find(b"\xff", at)
            while at != -1 and at + 4 <= len(data):
                if self._is_syncword(data[at : at + 4]):
                    self.handle.seek(at + 4 - len(data), os.SEEK_CUR)
                    return data[at : at + 4]
                at = data.find(b"\xff", at + 1)
            more = self.handle.read(SYNC_READ_BYTES)
            if not more:
                raise InitFailed
            data = data[-3:] + more
            at = 0

    def _initfile(self) -> bool:
        """One lame_decode_initfile; whether the first header is free format."""
        ctypes.memset(ctypes.addressof(self.mp3data), 0, ctypes.sizeof(self.mp3data))
        self.close()
        self.decoder = self.hip.init()
        if not self.decoder:
            raise InitFailed
        buf = self._read(4)
        while buf[:3] == b"ID3":
            tag = buf + self._read(6)
            size = _syncsafe(tag[6:10])
            if self.id3_size < 1:  # lame reads the first tag whole (fread), skips the rest
                self.id3_size = 10 + size
                if os.fstat(self.handle.fileno()).st_size - self.handle.tell() < size:
                    raise InitFailed
            self._fskip(size)
            buf = self._read(4)
        if buf == b"AiD\x01":
            aid = self._read(2)
            self._fskip(aid[0] + 256 * aid[1] - 6)
            buf = self._read(4)
        buf = self._sync(buf)
        freeformat = (buf[2] & 0xF0) == 0
        if self._decode_bytes(buf) == -1:
            raise InitFailed
        while not self.mp3data.header_parsed:
            if self._decode_bytes(self._read(INIT_READ_BYTES)) == -1:
                raise InitFailed
        return freeformat

    def open(self) -> None:
        """init_infile for an mp3: headers, rate, channels and the samples to skip."""
        while True:
            freeformat = self._initfile()
            if freeformat or self.mp3data.bitrate != 0:
                break
            # "fail to sync...": lame starts again from where it is
        self.channels, self.rate = self.mp3data.stereo, self.mp3data.samplerate
        if self.channels not in (1, 2) or self.rate < 1:
            raise InitFailed
        delay, padding = self.enc_delay.value, self.enc_padding.value
        if self.input_format == LAYER3:
            if delay > -1 or padding > -1:
                self.skip_start = delay + LAYER3_DELAY if delay > -1 else 0
                self.skip_end = padding - LAYER3_DELAY if padding > -1 else 0
            else:  # lame_get_encoder_delay() is 0 before lame_init_params
                self.skip_start = LAYER3_DELAY
        else:
            self.skip_start = LAYER12_DELAY
        self.skip_start, self.skip_end = max(self.skip_start, 0), max(self.skip_end, 0)

    # ------------------------------------------------------------------ decoding

    def _read_samples(self, at: int) -> int:
        """read_samples_mp3 over lame_decode_fromfile: the samples of the next frame,
        written from position ``at``; 0 at the end (or after a decoder error), -1 when the
        channels or rate changed. One flat loop: it runs once per frame."""
        decode, decoder, info = self.decode1, self.decoder, self.mp3data_ref
        data, unused = self.read_address, self.unused_ref
        left, right = self.left_address + 2 * at, self.right_address + 2 * at
        with CALL_LOCK:  # first what the decoder still holds
            count = decode(decoder, data, 0, left, right, info, unused, unused)
        while count == 0:  # then 1024 bytes at a time until a frame comes out
            if time.monotonic() > self.deadline:
                raise Deadline
            read = self.handle.readinto(self.read_buffer)  # type: ignore[attr-defined]
            with CALL_LOCK:
                count = decode(decoder, data, read, left, right, info, unused, unused)
            if not read and count == 0:
                count = -1  # the end of the file and nothing left
        if count < 0:
            return 0
        if self.mp3data.stereo != self.channels or self.mp3data.samplerate != self.rate:
            return -1
        return int(count)

    def blocks(self) -> Iterator[np.ndarray]:
        """Float32 ``[m, channels]`` blocks of what lame writes (lame_decoder_loop over
        get_audio16 and its PcmBuffer): the buffer holds the block given out so far
        (``head`` samples), then the ``used`` samples lame holds back, then the frame
        being decoded."""
        head = used = 0
        skip_start, skip_end = self.skip_start, self.skip_end
        read_samples = self._read_samples
        while self.decoder:  # closed (the stream was left early): nothing more
            while True:  # get_audio16: read until a sample can be given out
                end = head + used
                read = read_samples(end)
                if read < 0:
                    ready = used - skip_end
                elif skip_start >= read:
                    skip_start -= read
                    ready = used - skip_end
                else:
                    if skip_start:
                        keep = slice(end + skip_start, end + read)
                        self.left[end : end + read - skip_start] = self.left[keep]
                        self.right[end : end + read - skip_start] = self.right[keep]
                    used += read - skip_start
                    skip_start = 0
                    ready = used - skip_end
                if not (ready <= 0 and read > 0):
                    break
            if read < 0:
                break
            taken = min(ready, FRAME_SAMPLES)
            if taken <= 0:
                break
            head += taken
            used -= taken
            if head >= self.block_frames:
                yield self._block(head)
                self.left[:used] = self.left[head : head + used]
                self.right[:used] = self.right[head : head + used]
                head = 0
        if head and self.decoder:
            yield self._block(head)

    def _block(self, count: int) -> np.ndarray:
        """The first ``count`` buffered samples as float32 ``[count, channels]``, scaled as
        the lame program's 16-bit output is read (x / 32768)."""
        block = np.empty((count, self.channels), dtype=np.float32)
        np.multiply(self.left[:count], SCALE, out=block[:, 0])
        if self.channels == 2:
            np.multiply(self.right[:count], SCALE, out=block[:, 1])
        return block
