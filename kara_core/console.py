"""Shared rich consoles: results on stdout, messages and progress on stderr.

``out`` and ``err`` are made on first use (a module ``__getattr__``), not at import:
importing rich costs some 25 ms, which ``kara prepare`` would otherwise spend before its
decoders start instead of while they run.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rich.console import Console

    out: Console
    err: Console

_CONSOLES: dict[str, Any] = {}

PIPED_WIDTH = 200
"""Width of tables written to a pipe or file, where no terminal says how wide to be."""

DEBUG_ENV = "KARA_DEBUG"
"""The one debug channel: set by ``kara --debug`` (or by the user), inherited by every worker
process, read through :func:`debugging`."""


def set_debug(on: bool) -> None:
    """Turn debugging on or off for this process and the workers it starts."""
    if on:
        os.environ[DEBUG_ENV] = "1"
    else:
        os.environ.pop(DEBUG_ENV, None)


def debugging() -> bool:
    """Whether bugs keep their tracebacks (``--debug``) instead of becoming one line."""
    return os.environ.get(DEBUG_ENV, "") not in ("", "0")


def __getattr__(name: str) -> Any:
    """``out`` (stdout) and ``err`` (stderr), created once."""
    if name not in ("out", "err"):
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    console = _CONSOLES.get(name)
    if console is None:
        from rich.console import Console

        console = Console(stderr=name == "err", highlight=False, soft_wrap=True)
        if not console.is_terminal and not os.environ.get("COLUMNS"):
            # piped (`kara plugins | cat`, a log file): rich would cut tables at 80 columns
            console.width = PIPED_WIDTH
        _CONSOLES[name] = console
    return console


@contextlib.contextmanager
def native_stderr_muted() -> Iterator[None]:
    """Mute file descriptor 2 for the block, unless debugging: TensorFlow's C++ core writes
    notices there (oneDNN, absl) that ``TF_CPP_MIN_LOG_LEVEL`` cannot silence and that
    mean nothing to a user. Python's own ``sys.stderr`` is flushed first, so no message of
    Kara's is lost."""
    if debugging():
        yield
        return
    from kara_core.audio.sndread import quiet_stderr

    with quiet_stderr():
        yield


def print_error(message: str) -> None:
    """One red line on stderr: what users see for every problem they can fix."""
    __getattr__("err").print(f"[bold red]error:[/] {_escape(message)}")


def print_warning(message: str) -> None:
    """One yellow line on stderr."""
    __getattr__("err").print(f"[yellow]warning:[/] {_escape(message)}")


def print_note(message: str) -> None:
    """One plain line on stderr, for progress notes that are not results."""
    __getattr__("err").print(_escape(message))


def print_json(data: Any) -> None:
    """Machine-readable output on stdout, nothing else mixed in."""
    sys.stdout.write(json.dumps(data, indent=2, default=str) + "\n")
    sys.stdout.flush()


def safe_text(text: str) -> str:
    """``text`` fit for a terminal and for any encoding: control characters (an ``ESC[2J``
    in a file name would clear the screen, a newline would split the one line) and the
    surrogates that stand for a file name's non-UTF-8 bytes are shown as escapes
    (``\\x1b``, ``\\xe9``); everything printable is left alone."""
    if text.isprintable():
        return text
    parts = []
    for char in text:
        code = ord(char)
        if char.isprintable() or char == " ":
            parts.append(char)
        elif 0xDC80 <= code <= 0xDCFF:  # os.fsdecode's stand-in for byte code - 0xDC00
            parts.append(f"\\x{code - 0xDC00:02x}")
        elif code < 0x100:
            parts.append(f"\\x{code:02x}")
        elif code < 0x10000:
            parts.append(f"\\u{code:04x}")
        else:
            parts.append(f"\\U{code:08x}")
    return "".join(parts)


def _escape(text: str) -> str:
    """Rich markup characters and control characters escaped (see :func:`safe_text`)."""
    from rich.markup import escape

    return escape(safe_text(text))


def human_bytes(count: float) -> str:
    """``1.6 GB``: decimal units (powers of 1000), as disks are sold; one formatting for
    every command that shows a size (``kara check``, ``kara clean``)."""
    for unit in ("B", "kB", "MB", "GB", "TB"):
        if abs(count) < 1000 or unit == "TB":
            return f"{count:.0f} {unit}" if unit == "B" else f"{count:.1f} {unit}"
        count /= 1000.0
    return f"{count:.1f} TB"
