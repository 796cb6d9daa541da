"""The plugin author's test kit: run these on your component in your own test suite.

>>> from kara_core.testing import check_transform
>>> check_transform(MyTransform, n_bins=64)   # raises AssertionError with a clear message

Each check builds the component the way Kara does and asserts the contract every
built-in passes (see docs/plugins.md, "Testing your plugin").
"""

from __future__ import annotations

__all__: list[str] = []
