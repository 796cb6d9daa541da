"""Argument types shared by the sub-commands: numbers checked where argparse reads them,
so a bad value is argparse's one-line usage error, never a traceback."""

from __future__ import annotations

import argparse
import math


def positive_int(text: str) -> int:
    """A whole number of at least 1."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected at least 1, got {value}")
    return value


MAX_SECONDS = 1_000_000.0
"""Longer than any song (11 days): beyond it sample counts stop being numbers."""


def positive_seconds(text: str) -> float:
    """A finite number of seconds above 0, at most :data:`MAX_SECONDS`."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number of seconds, got {text!r}") from None
    if not math.isfinite(value) or value <= 0:
        raise argparse.ArgumentTypeError(f"expected a positive number of seconds, got {text}")
    if value > MAX_SECONDS:
        raise argparse.ArgumentTypeError(
            f"expected at most {MAX_SECONDS:.0f} seconds, got {text}"
        )
    return value


def add_variant_option(parser: argparse.ArgumentParser, *, single: bool = False) -> None:
    """``--variant NAME``, spelled the same on every command: one name for commands that
    work on one variant (default ``base``), else one or more (repeatable; default all)."""
    if single:
        parser.add_argument("--variant", default="base", metavar="NAME",
                            help="which variant ('base' is the top-level experiment; default)")
        return
    parser.add_argument(
        "--variant", "--only", dest="variant", nargs="+", action="extend", metavar="NAME",
        help="only these variants ('base' is the top-level experiment); repeatable; "
        "default: all",
    )
