"""The versions record of a run: what produced these numbers and this audio.

Written as ``versions.json`` beside ``metrics.json`` so a result can be reproduced or
explained months later. Package versions come from :mod:`importlib.metadata`, never from
importing the package: recording TensorFlow's version must not cost TensorFlow's start-up.
"""

from __future__ import annotations

import platform
import sys
from collections.abc import Mapping
from importlib.metadata import PackageNotFoundError, entry_points, version
from typing import Any

from kara_core import __version__

# The first name installed wins: tensorflow-cpu on Linux, tensorflow elsewhere.
PACKAGE_ALIASES: dict[str, tuple[str, ...]] = {
    "numpy": ("numpy",),
    "tensorflow": ("tensorflow", "tensorflow-cpu", "tensorflow-macos", "tf-nightly"),
    "keras": ("keras",),
    "scipy": ("scipy",),
    "soundfile": ("soundfile",),
    "soxr": ("soxr",),
}


def package_version(*names: str) -> str | None:
    """The installed version of the first of ``names`` that is installed, else ``None``."""
    for name in names:
        try:
            return version(name)
        except PackageNotFoundError:
            continue
    return None


def plugin_versions(infos: Mapping[str, Any] | None = None) -> dict[str, dict[str, str]]:
    """``{plugin: {"distribution", "version"}}`` for every plugin in the ``kara`` group.

    :param infos: the loaded plugins' ``PluginInfo`` objects (``Plugins.infos``); without
        them the entry points are read directly, which includes disabled plugins.
    """
    if infos is not None:
        return {
            name: {"distribution": info.distribution, "version": info.version}
            for name, info in sorted(infos.items())
        }
    found: dict[str, dict[str, str]] = {}
    for ep in sorted(entry_points(group="kara"), key=lambda e: e.name):
        dist = ep.dist
        found[ep.name] = {
            "distribution": dist.metadata["Name"] if dist is not None else "(unknown)",
            "version": dist.version if dist is not None else "(unknown)",
        }
    return found


def collect_versions(
    infos: Mapping[str, Any] | None = None, decoder_version: str | None = None
) -> dict[str, Any]:
    """Everything that can change a result: kara, Python, libraries, the decoder, plugins.

    :param infos: ``Plugins.infos`` of the session, for the plugin list.
    :param decoder_version: the configured decoder's own ``version()`` string.
    """
    record: dict[str, Any] = {
        "kara": __version__,
        "python": platform.python_version(),
        "python_implementation": platform.python_implementation(),
        "platform": platform.platform(),
        "executable": sys.executable,
    }
    for key, names in PACKAGE_ALIASES.items():
        record[key] = package_version(*names)
    if decoder_version is not None:
        record["decoder"] = decoder_version
    record["plugins"] = plugin_versions(infos)
    return record


def source_digest(cls: type) -> str:
    """sha256 over the source files of the modules that define ``cls`` and the classes it
    inherits from outside ``kara_core``: what an editable plugin's edit changes."""
    import contextlib
    import hashlib
    import inspect
    from pathlib import Path

    digest = hashlib.sha256()
    files = set()
    for klass in cls.__mro__:
        if klass.__module__.split(".")[0] in ("kara_core", "builtins", "abc"):
            continue
        with contextlib.suppress(TypeError, OSError):
            files.add(inspect.getsourcefile(klass) or "")
    for file in sorted(f for f in files if f):
        with contextlib.suppress(OSError):
            digest.update(Path(file).read_bytes())
    return digest.hexdigest()


def source_changed(record: Any, cls: type) -> bool:
    """Whether ``cls``'s source (:func:`source_digest`) differs from the hash in the JSON
    file ``record`` (a :class:`~pathlib.Path`); records the current hash either way, so a
    change is reported once. ``False`` when nothing was recorded yet."""
    import contextlib
    import json

    from kara_core.errors import KaraError
    from kara_core.storage import atomic

    now = source_digest(cls)
    try:
        old = json.loads(record.read_text(encoding="utf-8")).get("sha256")
    except (OSError, ValueError, AttributeError, RecursionError):
        old = None
    if old != now:
        with contextlib.suppress(KaraError, OSError):
            atomic.write_json(record, {"sha256": now})
    return old is not None and old != now

