"""Refuse, with the fix, a Python too old for Kara before a venv is built on it."""

import sys

if sys.version_info < (3, 10):  # noqa: UP036 - runs on whatever python3 is found
    sys.exit(
        f"Kara needs Python 3.10 or newer; found {sys.version.split()[0]} at {sys.executable}. "
        "Install python3.11 (apt-get install python3.11 / brew install python@3.11) "
        "or run: make PYTHON=/path/to/python3.11 ..."
    )
