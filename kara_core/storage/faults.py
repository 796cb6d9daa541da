"""Named fault points, so the fault suite can kill Kara at exact moments.

``KARA_FAULT_KILL_AT=<point>[:<n>]`` makes the process SIGKILL itself the ``n``-th time
(default 1st) it reaches ``fault_point(<point>)``. Every atomic write passes two points
between writing its temporary file and renaming it: ``atomic.before_rename`` and
``write:<file name>`` (``write:manifest.json``, ``write:generated.wav``, ...). Unset
(always, for users) it costs one environment lookup. docs/reliability.md lists
what the fault suite kills where.
"""

from __future__ import annotations

import os
import signal

_ENV = "KARA_FAULT_KILL_AT"
_hits: dict[str, int] = {}


def fault_point(name: str) -> None:
    """Die here, abruptly, if the fault suite asked for it."""
    wanted = os.environ.get(_ENV)
    if not wanted:
        return
    point, _, count = wanted.rpartition(":")
    if not count.isdigit():  # no count given: the whole value names the point
        point, count = wanted, "1"
    if point != name:
        return
    _hits[name] = _hits.get(name, 0) + 1
    if _hits[name] >= int(count):
        os.kill(os.getpid(), signal.SIGKILL)
