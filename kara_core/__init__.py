"""Kara: neural audio generation experiments built from plugins.

The core knows hook specs and contracts, never a concrete plugin: decoders, transforms
and models all arrive through the ``kara`` entry-point group.
"""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("kara")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0.0.0+unknown"

__all__ = ["__version__"]
