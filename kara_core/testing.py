"""The plugin author's test kit: run these on your component in your own test suite.

>>> from kara_core.testing import check_transform
>>> check_transform(MyTransform, n_bins=64)   # raises AssertionError with a clear message

Each check builds the component the way Kara does and asserts the contract every
built-in passes (see docs/plugins.md, "Testing your plugin").
"""

from __future__ import annotations

from kara_core.testkit.decoders import check_decoder
from kara_core.testkit.models import check_model
from kara_core.testkit.transforms import check_transform, music_like_signal

__all__: list[str] = ["check_decoder", "check_model", "check_transform", "music_like_signal"]
