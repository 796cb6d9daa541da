"""Import TensorFlow without its start-up chatter on the user's terminal.

TensorFlow 2.x writes oneDNN and absl notices straight to file descriptor 2 while its
shared libraries load, before ``TF_CPP_MIN_LOG_LEVEL`` can apply. Commands that train or
generate call :func:`import_tensorflow` once, after the config is validated; later
``import tensorflow`` statements reuse the loaded module. ``--debug`` shows tracebacks, not
TensorFlow's notices (they come before ``TF_CPP_MIN_LOG_LEVEL`` applies): it keeps them only
with ``TF_CPP_MIN_LOG_LEVEL=0``, the user asking for TensorFlow's own logging.
"""

from __future__ import annotations

import os
import sys

from kara_core.console import native_stderr_muted


def import_tensorflow(debug: bool = False) -> None:
    """Load TensorFlow now, with file descriptor 2 muted unless ``debug`` and the user
    asked for TensorFlow's own logging (``TF_CPP_MIN_LOG_LEVEL=0``)."""
    if "tensorflow" in sys.modules:
        return
    asked = os.environ.get("TF_CPP_MIN_LOG_LEVEL", "").strip() == "0"
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    if debug and asked:
        import tensorflow
        return
    with native_stderr_muted():
        import tensorflow  # noqa: F401
