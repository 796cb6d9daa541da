"""Kara: neural audio generation experiments built from plugins.

This module is the public API for plugin authors: a decoder, transform or model plugin
imports what it needs from here, from :mod:`kara_core.audio` (DSP and audio I/O helpers)
and from :mod:`kara_core.testing` (the test kit), and from nowhere else in ``kara_core``.
Everything else is internal and may move between releases; these names will not.

The core knows hook specs and contracts, never a concrete plugin: decoders, transforms
and models all arrive through the ``kara`` entry-point group.
"""

from importlib.metadata import PackageNotFoundError, version

from kara_core.components import (
    Audio,
    AudioStream,
    Decoder,
    FitResult,
    FitSettings,
    Model,
    NoOptions,
    RoundTripTolerance,
    TrainingMonitor,
    Transform,
    WindowSource,
    read_all,
)
from kara_core.errors import ConfigError, DecodeError, KaraError, PluginError, ToolMissingError
from kara_core.hookspecs import Register, hookimpl
from kara_core.storage import atomic

try:
    __version__ = version("kara")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0.0.0+unknown"

__all__ = [
    "Audio",
    "AudioStream",
    "ConfigError",
    "DecodeError",
    "Decoder",
    "FitResult",
    "FitSettings",
    "KaraError",
    "Model",
    "NoOptions",
    "PluginError",
    "Register",
    "RoundTripTolerance",
    "ToolMissingError",
    "TrainingMonitor",
    "Transform",
    "WindowSource",
    "__version__",
    "atomic",
    "hookimpl",
    "read_all",
]
