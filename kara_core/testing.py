"""The plugin author's test kit: run these on your component in your own test suite.

>>> from kara_core.testing import check_transform
>>> check_transform(MyTransform, n_bins=64)   # raises AssertionError with a clear message

Each check builds the component the way Kara does and asserts the contract every
built-in passes (see docs/plugins.md, "Testing your plugin").
"""

from __future__ import annotations

from typing import Any

from kara_core.plugins import get_plugin_manager
from kara_core.registry import Registry
from kara_core.testkit.decoders import check_decoder
from kara_core.testkit.measures import check_measure, kit_music
from kara_core.testkit.models import check_model
from kara_core.testkit.transforms import check_transform, music_like_signal


def registry_with(name: str, plugin: Any) -> Registry:
    """The registry Kara would build with ``plugin`` (a module or object with hook
    implementations) installed as ``name``, without packaging it. It replaces an installed
    plugin of the same name, so a plugin's tests see the code under test. Use
    ``registry.get("transforms", "my_name")`` to find what it registered, and its owner.

    A plugin Kara would leave out (a misspelled hook: ``unknown hook
    'kara_register_transfroms' (did you mean 'kara_register_transforms'?)``) raises
    :class:`~kara_core.errors.PluginError` with that line, as ``kara plugins`` shows it."""
    from kara_core.errors import PluginError

    plugins = get_plugin_manager(extra_plugins=((name, plugin),))
    if name in plugins.broken:
        raise PluginError(f"plugin {name!r} {plugins.broken[name]}; Kara would leave it out")
    return plugins.registry


__all__: list[str] = [
    "check_decoder", "check_measure", "check_model", "check_transform", "kit_music",
    "music_like_signal", "registry_with",
]
