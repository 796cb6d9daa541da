"""Shared rich consoles: results on stdout, messages and progress on stderr."""

from __future__ import annotations

import json
import sys
from typing import Any

from rich.console import Console

out = Console(highlight=False, soft_wrap=True)
err = Console(stderr=True, highlight=False, soft_wrap=True)


def print_error(message: str) -> None:
    """One red line on stderr: what users see for every problem they can fix."""
    err.print(f"[bold red]error:[/] {_escape(message)}")


def print_warning(message: str) -> None:
    """One yellow line on stderr."""
    err.print(f"[yellow]warning:[/] {_escape(message)}")


def print_note(message: str) -> None:
    """One plain line on stderr, for progress notes that are not results."""
    err.print(_escape(message))


def print_json(data: Any) -> None:
    """Machine-readable output on stdout, nothing else mixed in."""
    sys.stdout.write(json.dumps(data, indent=2, default=str) + "\n")
    sys.stdout.flush()


def _escape(text: str) -> str:
    from rich.markup import escape

    return escape(text)
