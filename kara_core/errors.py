"""The exceptions users see as one red line.

Everything a user can fix (a bad config, a missing tool, an unreadable file) is a
:class:`KaraError`; the CLI prints ``str(error)`` and exits with code 2. Anything else is a
bug and keeps its traceback.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any


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


def plugin_fault(exc: BaseException, components: Iterable[Any]) -> str | None:
    """One line for an exception raised inside a plugin's code, else ``None``.

    ``components`` are the components that may have raised it (each with ``kind``, ``cls``,
    ``plugin``, ``distribution``, ``version`` and ``type`` or ``name``: a resolved
    component config or a registry entry). The innermost frame of the traceback that lies
    in the package of one of their classes (or of a class they inherit from, outside
    ``kara_core``) names the component, its plugin with version, and the file and line:
    ``transform 'logfreq' of plugin 'thirdparty' (thirdparty 0.1) raised AttributeError:
    ... at thirdparty/logfreq.py:42; run with --debug for the traceback``.
    """
    import traceback

    roots: list[tuple[Path, Path, Any]] = []  # (package folder or module file, its parent, c)
    for component in components:
        for cls in getattr(getattr(component, "cls", None), "__mro__", ()):
            root = _package_root(cls)
            if root is not None:
                roots.append((root, root.parent, component))
    if not roots:
        return None
    frames = traceback.extract_tb(exc.__traceback__)
    for frame in reversed(frames):
        try:
            file = Path(frame.filename).resolve()
        except (OSError, ValueError):
            continue
        for root, parent, component in roots:
            if file == root or root in file.parents:
                kind = str(getattr(component, "kind", "component")).removesuffix("s")
                name = getattr(component, "type", None) or getattr(component, "name", "?")
                where = file.relative_to(parent).as_posix()
                return (f"{kind} {name!r} of plugin {component.plugin!r} "
                        f"({component.distribution} {component.version}) raised "
                        f"{one_line(exc)} at {where}:{frame.lineno}; "
                        "run with --debug for the traceback")
    return None


def _package_root(cls: type) -> Path | None:
    """The folder of the top-level package that defines ``cls`` (or its module's file);
    ``None`` for Kara's own classes and built-in types."""
    import sys

    top = cls.__module__.split(".")[0]
    if top in ("kara_core", "builtins", "abc", "typing"):
        return None
    module = sys.modules.get(top)
    file = getattr(module, "__file__", None)
    if not file:
        return None
    path = Path(file).resolve()
    return path.parent if path.name == "__init__.py" else path
