"""Kara: neural audio generation experiments built from plugins.

This module is the public API for plugin authors: a decoder, transform, model or measure plugin
imports what it needs from here, from :mod:`kara_core.audio` (DSP and audio I/O helpers)
and from :mod:`kara_core.testing` (the test kit), and from nowhere else in ``kara_core``.
Everything else is internal and may move between releases; these names will not.

The core knows hook specs and contracts, never a concrete plugin: decoders, transforms
and models all arrive through the ``kara`` entry-point group; measures too (Kara's own are
registered through the same hook, as plugin ``kara``).
"""

from typing import TYPE_CHECKING, Any

from kara_core.errors import ConfigError, DecodeError, KaraError, PluginError, ToolMissingError

if TYPE_CHECKING:
    from kara_core.components import (
        Audio,
        AudioStream,
        Clip,
        Decoder,
        FitResult,
        FitSettings,
        HeldOutMusic,
        Measure,
        Model,
        NoOptions,
        RoundTripTolerance,
        SongExcerpt,
        TrainingMonitor,
        Transform,
        WindowSource,
        read_all,
    )
    from kara_core.hookspecs import Register, hookimpl
    from kara_core.storage import atomic

    __version__: str

# The contracts import numpy and the hook specs pluggy: they are loaded on first use, so
# ``import kara_core`` (every ``kara`` command, every worker) stays a few milliseconds and
# a command can still set numpy's environment (prepare turns BLAS threads off) before it.
_LAZY = {
    **dict.fromkeys(("Audio", "AudioStream", "Clip", "Decoder", "FitResult", "FitSettings",
                     "HeldOutMusic", "Measure", "Model", "NoOptions", "RoundTripTolerance",
                     "SongExcerpt", "TrainingMonitor", "Transform", "WindowSource", "read_all"),
                    "kara_core.components"),
    "Register": "kara_core.hookspecs",
    "hookimpl": "kara_core.hookspecs",
}


def __getattr__(name: str) -> Any:
    """The public names above, imported when first asked for (PEP 562)."""
    import importlib

    if name == "__version__":
        from importlib.metadata import PackageNotFoundError, version

        try:
            value: Any = version("kara")
        except PackageNotFoundError:  # running from a source tree that was never installed
            value = "0.0.0+unknown"
    elif name == "atomic":
        value = importlib.import_module("kara_core.storage.atomic")
    elif name in _LAZY:
        value = getattr(importlib.import_module(_LAZY[name]), name)
    else:
        raise AttributeError(f"module 'kara_core' has no attribute {name!r}")
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})


__all__ = [
    "Audio",
    "AudioStream",
    "Clip",
    "ConfigError",
    "DecodeError",
    "Decoder",
    "FitResult",
    "FitSettings",
    "HeldOutMusic",
    "KaraError",
    "Measure",
    "Model",
    "NoOptions",
    "PluginError",
    "Register",
    "RoundTripTolerance",
    "SongExcerpt",
    "ToolMissingError",
    "TrainingMonitor",
    "Transform",
    "WindowSource",
    "__version__",
    "atomic",
    "hookimpl",
    "read_all",
]
