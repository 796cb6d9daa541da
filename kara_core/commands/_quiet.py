"""Import TensorFlow without its start-up chatter on the user's terminal.

TensorFlow 2.x writes oneDNN and absl notices straight to file descriptor 2 while its
shared libraries load, before ``TF_CPP_MIN_LOG_LEVEL`` can apply. Commands that train or
generate call :func:`import_tensorflow` once, after the config is validated; later
``import tensorflow`` statements reuse the loaded module. ``--debug`` keeps the notices.
"""

from __future__ import annotations

import os
import sys

from kara_core.console import native_stderr_muted


def import_tensorflow(debug: bool = False) -> None:
    """Load TensorFlow now, with file descriptor 2 muted unless ``debug``."""
    if "tensorflow" in sys.modules:
        return
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    if debug:
        import tensorflow
        return
    with native_stderr_muted():
        import tensorflow  # noqa: F401
