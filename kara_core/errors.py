"""The exceptions users see as one red line.

Everything a user can fix (a bad config, a missing tool, an unreadable file) is a
:class:`KaraError`; the CLI prints ``str(error)`` and exits with code 2. Anything else is a
bug and keeps its traceback.
"""

from __future__ import annotations


class KaraError(Exception):
    """A problem the user can fix; its message is the single line they will read."""


class ConfigError(KaraError):
    """kara.yaml is invalid. The message names the file and the YAML path."""


class PluginError(KaraError):
    """A plugin could not be loaded or registered something invalid."""


class DecodeError(KaraError):
    """One source file could not be decoded; the batch goes on without it."""


class ToolMissingError(KaraError):
    """An external program (such as ``lame``) is not installed; the message says how to get it."""


def one_line(exc: BaseException) -> str:
    """What a user reads of ``exc``: a :class:`KaraError`'s own message; anything else (a
    bug) prefixed with its type, so a report names it. Always one line."""
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text if isinstance(exc, KaraError) else f"{type(exc).__name__}: {text}"
