"""Shared rich consoles: results on stdout, messages and progress on stderr.

``out`` and ``err`` are made on first use (a module ``__getattr__``), not at import:
importing rich costs some 25 ms, which ``kara prepare`` would otherwise spend before its
decoders start instead of while they run.
"""

from __future__ import annotations

import json
import os
import sys
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rich.console import Console

    out: Console
    err: Console

_CONSOLES: dict[str, Any] = {}

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
        _CONSOLES[name] = console
    return console


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


def _escape(text: str) -> str:
    from rich.markup import escape

    return escape(text)
