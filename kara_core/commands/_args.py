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


DEFAULT_CONFIG = "kara.yaml"
"""The config every command reads when none is named: ``./kara.yaml``."""


def add_config_argument(parser: argparse.ArgumentParser, *, several: bool = False) -> None:
    """The optional config path (``./kara.yaml`` when left out), spelled the same on every
    command; ``several`` takes any number of them."""
    if several:
        parser.add_argument("config", nargs="*", default=[DEFAULT_CONFIG], metavar="CONFIG",
                            help=f"path(s) to kara.yaml (default: ./{DEFAULT_CONFIG})")
        return
    parser.add_argument("config", nargs="?", default=DEFAULT_CONFIG,
                        help=f"path to kara.yaml (default: ./{DEFAULT_CONFIG})")


def config_path(text: str) -> str:
    """``text``, or a one-line error when it is the default and there is none here: the user
    named no file, so the error says where Kara looked and how to name one."""
    from pathlib import Path

    from kara_core.errors import ConfigError

    if text == DEFAULT_CONFIG and not Path(text).exists():
        raise ConfigError(
            f"no {DEFAULT_CONFIG} in {Path.cwd().name or '.'}/ (the default config): run "
            f"kara in the folder holding it, or name it: kara COMMAND path/to/{DEFAULT_CONFIG}"
        )
    return text
