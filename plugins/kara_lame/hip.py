"""libmp3lame's own mp3 decoder (``hip_decode``), loaded with ctypes: the code that
``lame --decode`` runs, called inside Kara.

Used only when it is provably the same decoder as the ``lame`` program the user named
(:func:`library_for`): the program on PATH is a native executable (not a wrapper script)
that loads libmp3lame as a shared library, Kara loads that same library (the name the
program records, resolved by the same dynamic loader), and the library's version is the one
``lame --version`` prints. Anything else (a static build, a wrapper script, an odd version)
goes through the ``lame`` program itself.

The hip calls are serialised by :data:`CALL_LOCK`: libmp3lame's ``hip_decode1_headersB``
decodes through a static scratch buffer, so two threads decoding at once would mix their
samples. Kara's prepare workers are processes and never wait on it.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import os
import re
import threading
from dataclasses import dataclass

MAX_PROGRAM_BYTES = 64 << 20
"""A lame program larger than this is not read to find its libraries (lame is ~100 KB)."""
ELF_MAGIC = b"\x7fELF"
MACHO_MAGICS = (b"\xcf\xfa\xed\xfe", b"\xce\xfa\xed\xfe", b"\xca\xfe\xba\xbe",
                b"\xfe\xed\xfa\xcf", b"\xfe\xed\xfa\xce")
ELF_NEEDED = re.compile(rb"\x00(libmp3lame\.so(?:\.[0-9]+)*)\x00")
MACHO_DYLIB = re.compile(rb"\x00([^\x00]*libmp3lame[^\x00/]*\.dylib)\x00")
CALL_LOCK = threading.Lock()


class Mp3Data(ctypes.Structure):
    """lame.h's ``mp3data_struct``: what the decoder learnt from the headers."""

    _fields_ = [
        ("header_parsed", ctypes.c_int),
        ("stereo", ctypes.c_int),
        ("samplerate", ctypes.c_int),
        ("bitrate", ctypes.c_int),
        ("mode", ctypes.c_int),
        ("mode_ext", ctypes.c_int),
        ("framesize", ctypes.c_int),
        ("nsamp", ctypes.c_ulong),
        ("totalframes", ctypes.c_int),
        ("framenum", ctypes.c_int),
    ]


@dataclass(frozen=True)
class Hip:
    """The hip functions of one loaded libmp3lame, with their C signatures declared."""

    library: ctypes.CDLL
    path: str
    version: str

    def init(self) -> int:
        """A new decoder handle (``hip_decode_init``) with libmp3lame's messages to stderr
        turned off, as ``lame --quiet`` does; 0 when it could not be allocated."""
        with CALL_LOCK:  # InitMP3 rewrites the shared decode tables
            handle = int(self.library.hip_decode_init() or 0)
            if handle:
                for setter in (self.library.hip_set_msgf, self.library.hip_set_errorf,
                               self.library.hip_set_debugf):
                    setter(handle, None)
        return handle

    def exit(self, handle: int) -> None:
        """Free a decoder handle (``hip_decode_exit``)."""
        with CALL_LOCK:
            self.library.hip_decode_exit(handle)


def _declare(library: ctypes.CDLL) -> None:
    """The prototypes Kara calls (AttributeError when the library lacks one)."""
    void_p, c_int = ctypes.c_void_p, ctypes.c_int
    library.get_lame_version.restype = ctypes.c_char_p
    library.get_lame_version.argtypes = []
    library.hip_decode_init.restype = void_p
    library.hip_decode_init.argtypes = []
    library.hip_decode_exit.restype = c_int
    library.hip_decode_exit.argtypes = [void_p]
    for name in ("hip_set_msgf", "hip_set_errorf", "hip_set_debugf"):
        getattr(library, name).restype = None
        getattr(library, name).argtypes = [void_p, void_p]
    library.hip_decode1_headersB.restype = c_int
    library.hip_decode1_headersB.argtypes = [
        void_p, void_p, ctypes.c_size_t, void_p, void_p, ctypes.POINTER(Mp3Data),
        ctypes.POINTER(c_int), ctypes.POINTER(c_int),
    ]


def _program_library(program: bytes) -> str | None:
    """The libmp3lame a native lame executable loads, as it names it; None for a script,
    a static build or anything else."""
    if program.startswith(ELF_MAGIC):
        found = ELF_NEEDED.search(program)
    elif program.startswith(MACHO_MAGICS):
        found = MACHO_DYLIB.search(program)
    else:
        return None
    return found.group(1).decode("utf-8", "replace") if found else None


def _load(name: str) -> Hip | None:
    """libmp3lame by the name a program records: a soname (the dynamic loader's search,
    as for the program) or, on macOS, a path; ``@rpath`` names are looked up with
    :func:`ctypes.util.find_library`. None when it is absent or lacks the hip API."""
    if name.startswith("@"):
        found = ctypes.util.find_library("mp3lame")
        if found is None:
            return None
        name = found
    try:
        library = ctypes.CDLL(name)
        _declare(library)
        version = library.get_lame_version()
    except (OSError, AttributeError):
        return None
    if not version:
        return None
    return Hip(library, name, version.decode("ascii", "replace"))


def _program_version_number(version_line: str) -> str | None:
    """``3.100`` from ``LAME 64bits version 3.100``."""
    words = version_line.split()
    if "version" not in words or words.index("version") + 1 >= len(words):
        return None
    return words[words.index("version") + 1]


@functools.lru_cache(maxsize=8)
def _library_for(program: str, _identity: tuple[int, int, int], version_line: str) -> Hip | None:
    try:
        with open(program, "rb") as handle:
            content = handle.read(MAX_PROGRAM_BYTES)
    except OSError:
        return None
    name = _program_library(content)
    if name is None:
        return None
    hip = _load(name)
    if hip is None or hip.version != _program_version_number(version_line):
        return None
    return hip


def library_for(program: str, version_line: str) -> Hip | None:
    """libmp3lame's decoder when it is the one the ``lame`` at ``program`` runs, whose
    ``--version`` said ``version_line``; None otherwise (the program is then used).

    Cached per program file (path, inode, size and mtime): a replaced lame is looked at
    again, an unchanged one costs one ``stat``.
    """
    real = os.path.realpath(program)
    try:
        st = os.stat(real)
    except OSError:
        return None
    return _library_for(real, (st.st_ino, st.st_size, st.st_mtime_ns), version_line)
